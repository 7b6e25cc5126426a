//! The ε-prediction training losses (SPEC §3, Losses): per-sample terms `[B]` that the caller
//! averages over the batch.
//!
//! The variational bound `L_vlb` of the `hybrid*` kinds depends on the diffusion process and is
//! computed there; [`noise_prediction_loss`] returns everything else, and
//! [`LossKind::needs_vlb`] says when the caller must add `L_vlb` to [`LossTerms::loss`].
//!
//! | kind             | [`LossTerms::loss`] (+ `L_vlb` by the caller)     |
//! |------------------|---------------------------------------------------|
//! | `l1`             | mean \|ε̂ − ε\|                                    |
//! | `l2`             | mean (ε̂ − ε)²                                     |
//! | `hybrid`         | mean (ε̂ − ε)²  (+ `L_vlb`)                        |
//! | `ssim`           | 1 − SSIM(ε̂, ε)                                    |
//! | `ms_ssim`        | 1 − MS-SSIM(ε̂, ε)                                 |
//! | `l2_tv`          | mean (ε̂ − ε)² + 20 · TV(ε̂)                        |
//! | `hybrid_ssim`    | mean (ε̂ − ε)² + 1 − SSIM(ε̂, ε)  (+ `L_vlb`)       |
//! | `hybrid_ms_ssim` | mean (ε̂ − ε)² + 1 − MS-SSIM(ε̂, ε)  (+ `L_vlb`)    |
//!
//! Means run over `C, H, W` of each sample. SSIM and MS-SSIM follow pytorch-msssim with data
//! range 1 ([`ssim`](mod@ssim)); TV is [`tv::total_variation`].

pub mod ssim;
pub mod tv;

use std::fmt;
use std::str::FromStr;

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::{DtunetError, Result};

pub use ssim::{MsSsim, ms_ssim, ms_ssim_scales, ssim};
pub use tv::total_variation;

/// Weight of the total-variation term of `l2_tv`.
pub const TV_WEIGHT: f64 = 20.0;

/// The training objective on the predicted noise ε̂.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// Mean absolute error.
    L1,
    /// Mean squared error (the paper's default, Table 6).
    #[default]
    L2,
    /// Mean squared error + `L_vlb`.
    Hybrid,
    /// `1 − SSIM(ε̂, ε)`.
    Ssim,
    /// `1 − MS-SSIM(ε̂, ε)`.
    MsSsim,
    /// Mean squared error + [`TV_WEIGHT`] · TV(ε̂).
    L2Tv,
    /// Mean squared error + `L_vlb` + `1 − SSIM(ε̂, ε)`.
    HybridSsim,
    /// Mean squared error + `L_vlb` + `1 − MS-SSIM(ε̂, ε)`.
    HybridMsSsim,
}

impl LossKind {
    /// Every kind, in the order of the help text.
    pub const ALL: [LossKind; 8] = [
        LossKind::L1,
        LossKind::L2,
        LossKind::Hybrid,
        LossKind::Ssim,
        LossKind::MsSsim,
        LossKind::L2Tv,
        LossKind::HybridSsim,
        LossKind::HybridMsSsim,
    ];

    /// The kind's name in configs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            LossKind::L1 => "l1",
            LossKind::L2 => "l2",
            LossKind::Hybrid => "hybrid",
            LossKind::Ssim => "ssim",
            LossKind::MsSsim => "ms_ssim",
            LossKind::L2Tv => "l2_tv",
            LossKind::HybridSsim => "hybrid_ssim",
            LossKind::HybridMsSsim => "hybrid_ms_ssim",
        }
    }

    /// True for the `hybrid*` kinds, whose loss includes `L_vlb` (added by the caller).
    pub fn needs_vlb(self) -> bool {
        matches!(
            self,
            LossKind::Hybrid | LossKind::HybridSsim | LossKind::HybridMsSsim
        )
    }

    /// The names of the terms [`LossTerms::terms`] yields for this kind, in its order.
    pub fn term_names(self) -> &'static [&'static str] {
        match self {
            LossKind::L1 => &["l1"],
            LossKind::L2 | LossKind::Hybrid => &["mse"],
            LossKind::Ssim => &["ssim"],
            LossKind::MsSsim => &["ms_ssim"],
            LossKind::L2Tv => &["mse", "tv"],
            LossKind::HybridSsim => &["mse", "ssim"],
            LossKind::HybridMsSsim => &["mse", "ms_ssim"],
        }
    }

    fn uses_mse(self) -> bool {
        matches!(
            self,
            LossKind::L2
                | LossKind::Hybrid
                | LossKind::L2Tv
                | LossKind::HybridSsim
                | LossKind::HybridMsSsim
        )
    }
}

impl fmt::Display for LossKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for LossKind {
    type Err = DtunetError;

    fn from_str(text: &str) -> Result<Self> {
        LossKind::ALL
            .into_iter()
            .find(|kind| kind.name() == text)
            .ok_or_else(|| DtunetError::InvalidParameter {
                name: "loss",
                found: format!("{text:?}"),
                expected: format!("one of {}", LossKind::ALL.map(LossKind::name).join(", ")),
            })
    }
}

/// The per-sample terms of one loss evaluation; each tensor is `[B]`. A term the kind does not
/// use is `None`.
#[derive(Debug, Clone)]
pub struct LossTerms {
    /// Mean over `C, H, W` of `(ε̂ − ε)²`.
    pub mse: Option<Tensor<1>>,
    /// Mean over `C, H, W` of `|ε̂ − ε|`.
    pub l1: Option<Tensor<1>>,
    /// `1 − SSIM(ε̂, ε)`.
    pub ssim: Option<Tensor<1>>,
    /// `1 − MS-SSIM(ε̂, ε)`.
    pub ms_ssim: Option<Tensor<1>>,
    /// Scales the MS-SSIM used (fewer than 5 for images whose smaller side is ≤ 160 px; worth a
    /// log line).
    pub ms_ssim_scales: Option<usize>,
    /// TV(ε̂), unweighted (the loss adds [`TV_WEIGHT`] times it).
    pub tv: Option<Tensor<1>>,
    /// The weighted sum of the terms above, without `L_vlb`.
    pub loss: Tensor<1>,
}

impl LossTerms {
    /// The terms present, by their log names (`mse`, `l1`, `ssim`, `ms_ssim`, `tv`), without
    /// the total.
    pub fn terms(&self) -> impl Iterator<Item = (&'static str, &Tensor<1>)> {
        [
            ("mse", &self.mse),
            ("l1", &self.l1),
            ("ssim", &self.ssim),
            ("ms_ssim", &self.ms_ssim),
            ("tv", &self.tv),
        ]
        .into_iter()
        .filter_map(|(name, term)| term.as_ref().map(|term| (name, term)))
    }
}

/// The `kind` loss of a noise prediction, per sample, without `L_vlb` (see the module table).
///
/// # Shapes
/// `eps_hat`, `eps`: `[B, C, H, W]` → every term `[B]`.
///
/// # Panics
/// If `eps_hat` and `eps` differ in shape.
pub fn noise_prediction_loss(kind: LossKind, eps_hat: Tensor<4>, eps: Tensor<4>) -> LossTerms {
    assert_eq!(
        eps_hat.dims(),
        eps.dims(),
        "the prediction and the noise must have the same shape [B, C, H, W]"
    );
    let mse = kind
        .uses_mse()
        .then(|| mean_flat((eps_hat.clone() - eps.clone()).powi_scalar(2)));
    let l1 = (kind == LossKind::L1).then(|| mean_flat((eps_hat.clone() - eps.clone()).abs()));
    let ssim = matches!(kind, LossKind::Ssim | LossKind::HybridSsim).then(|| {
        ssim::ssim(eps_hat.clone(), eps.clone())
            .neg()
            .add_scalar(1.0)
    });
    let multi = matches!(kind, LossKind::MsSsim | LossKind::HybridMsSsim)
        .then(|| ms_ssim(eps_hat.clone(), eps.clone()));
    let ms_ssim_scales = multi.as_ref().map(|multi| multi.n_scales);
    let ms_ssim = multi.map(|multi| multi.value.neg().add_scalar(1.0));
    let tv = (kind == LossKind::L2Tv).then(|| total_variation(eps_hat));

    let weighted = [
        mse.clone(),
        l1.clone(),
        ssim.clone(),
        ms_ssim.clone(),
        tv.clone().map(|tv| tv.mul_scalar(TV_WEIGHT)),
    ];
    let loss = weighted
        .into_iter()
        .flatten()
        .reduce(|sum, term| sum + term)
        .expect("every kind has at least one term");
    LossTerms {
        mse,
        l1,
        ssim,
        ms_ssim,
        ms_ssim_scales,
        tv,
        loss,
    }
}

/// The mean over every dimension but the batch.
///
/// # Shapes
/// `x`: `[B, C, H, W]` → `[B]`.
pub fn mean_flat(x: Tensor<4>) -> Tensor<1> {
    let [batch, channels, height, width] = x.dims();
    x.reshape([batch, channels * height * width])
        .mean_dim(1) // [B, 1]
        .reshape([batch])
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, TensorData};

    use super::*;

    fn values(tensor: &Tensor<1>) -> Vec<f32> {
        tensor.to_data().try_to_vec::<f32>().expect("f32")
    }

    #[test]
    fn names_round_trip_through_from_str_and_serde() {
        for kind in LossKind::ALL {
            assert_eq!(kind.name().parse::<LossKind>().expect("known"), kind);
            assert_eq!(kind.to_string(), kind.name());
            let json = serde_json::to_string(&kind).expect("serialise");
            assert_eq!(json, format!("\"{}\"", kind.name()));
            assert_eq!(
                serde_json::from_str::<LossKind>(&json).expect("deserialise"),
                kind
            );
        }
        assert_eq!(LossKind::default(), LossKind::L2);
    }

    #[test]
    fn unknown_name_lists_the_valid_ones() {
        let error = "msssim".parse::<LossKind>().expect_err("unknown");
        let message = error.to_string();
        assert!(error.is_usage_error());
        assert!(message.contains("\"msssim\""), "{message}");
        assert!(
            message.contains(
                "one of l1, l2, hybrid, ssim, ms_ssim, l2_tv, hybrid_ssim, hybrid_ms_ssim"
            ),
            "{message}"
        );
    }

    #[test]
    fn only_hybrid_kinds_need_the_vlb() {
        let hybrid: Vec<_> = LossKind::ALL
            .into_iter()
            .filter(|kind| kind.needs_vlb())
            .collect();
        assert_eq!(
            hybrid,
            [
                LossKind::Hybrid,
                LossKind::HybridSsim,
                LossKind::HybridMsSsim
            ]
        );
    }

    /// `[2, 1, 1, 2]`: sample 0 differs by (1, −3), sample 1 by (0.5, 0.5).
    fn hand_pair() -> (Tensor<4>, Tensor<4>) {
        let device = Device::flex();
        let eps_hat = Tensor::from_data(
            TensorData::new(vec![1.0f32, -1.0, 0.5, 2.5], [2, 1, 1, 2]),
            &device,
        );
        let eps = Tensor::from_data(
            TensorData::new(vec![0.0f32, 2.0, 0.0, 2.0], [2, 1, 1, 2]),
            &device,
        );
        (eps_hat, eps)
    }

    #[test]
    fn l1_and_l2_by_hand() {
        let (eps_hat, eps) = hand_pair();
        let l1 = noise_prediction_loss(LossKind::L1, eps_hat.clone(), eps.clone());
        assert_eq!(values(&l1.loss), [2.0, 0.5]);
        assert_eq!(values(l1.l1.as_ref().expect("l1")), [2.0, 0.5]);
        assert!(l1.mse.is_none() && l1.tv.is_none());

        let l2 = noise_prediction_loss(LossKind::L2, eps_hat.clone(), eps.clone());
        assert_eq!(values(&l2.loss), [5.0, 0.25]);
        let hybrid = noise_prediction_loss(LossKind::Hybrid, eps_hat, eps);
        assert_eq!(values(&hybrid.loss), [5.0, 0.25]);
        assert_eq!(
            hybrid.terms().map(|(name, _)| name).collect::<Vec<_>>(),
            ["mse"]
        );
    }

    #[test]
    fn l2_tv_adds_twenty_times_the_prediction_tv() {
        let (eps_hat, eps) = hand_pair();
        // TV(ε̂): sample 0 |−1 − 1| / 2 = 1, sample 1 |2.5 − 0.5| / 2 = 1.
        let terms = noise_prediction_loss(LossKind::L2Tv, eps_hat, eps);
        assert_eq!(values(terms.tv.as_ref().expect("tv")), [1.0, 1.0]);
        assert_eq!(values(&terms.loss), [25.0, 20.25]);
    }

    #[test]
    fn hybrid_ms_ssim_reports_its_scales() {
        let device = Device::flex();
        let shape = [2, 1, 24, 40];
        // A smooth pattern, and the same pattern with a faster ripple added.
        let pattern = |ripple: f32| {
            let data: Vec<f32> = (0..2 * 24 * 40)
                .map(|i| (i as f32 * 0.1).sin() + ripple * (i as f32 * 0.9).cos())
                .collect();
            Tensor::<4>::from_data(TensorData::new(data, shape), &device)
        };
        let terms = noise_prediction_loss(LossKind::HybridMsSsim, pattern(0.5), pattern(0.0));
        assert_eq!(terms.ms_ssim_scales, Some(2));
        let mse = values(terms.mse.as_ref().expect("mse"));
        let ms_ssim = values(terms.ms_ssim.as_ref().expect("ms_ssim"));
        for ((total, mse), ms_ssim) in values(&terms.loss).iter().zip(mse).zip(ms_ssim) {
            assert!((total - (mse + ms_ssim)).abs() < 1e-6);
            assert!(ms_ssim > 0.0 && ms_ssim < 1.0, "{ms_ssim}");
        }
    }
}

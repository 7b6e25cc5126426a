//! The variational bound in guided-diffusion form (SPEC §3: the `L_vlb` of the `hybrid` losses,
//! the total VLB and the prior KL of evaluation). Results are per sample, in bits per dimension
//! unless a name says nats.

use std::f64::consts::{LN_2, PI};

use burn::tensor::activation::sigmoid;
use burn::tensor::{Bool, Int, Tensor, TensorData};

use crate::diffusion::gaussian::{GaussianDiffusion, PMeanVariance};
use crate::diffusion::noise_fn::NoiseSampler;
use crate::error::Result;
use crate::models::NoisePredictor;

/// Half the width of one 8-bit intensity bin on the `[-1, 1]` scale.
const HALF_BIN: f64 = 1.0 / 255.0;

/// `KL(N(mean1, e^logvar1) ‖ N(mean2, e^logvar2))` elementwise, in nats; shapes broadcast.
///
/// When the two variances are close, `−1 + Δ + e^{−Δ}` cancels in `f32`;
/// [`GaussianDiffusion::vb_terms_bpd`] therefore takes that part from an `f64` table.
pub fn normal_kl<const D: usize>(
    mean1: Tensor<D>,
    logvar1: Tensor<D>,
    mean2: Tensor<D>,
    logvar2: Tensor<D>,
) -> Tensor<D> {
    let variance_part = logvar2.clone() - logvar1.clone() + (logvar1 - logvar2.clone()).exp();
    let mean_part = (mean1 - mean2).powi_scalar(2) * logvar2.neg().exp();
    (variance_part + mean_part - 1.0) * 0.5
}

/// A fast approximation of the standard normal CDF, `½(1 + tanh(√(2/π)(x + 0.044715x³)))`.
///
/// Computed as the equal `sigmoid(2√(2/π)(x + 0.044715x³))`, which keeps its relative
/// precision in the lower tail (`1 + tanh` cancels there in `f32`).
pub fn approx_standard_normal_cdf<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let inner = (x.clone() + x.powi_scalar(3) * 0.044715) * (2.0 * (2.0 / PI).sqrt());
    sigmoid(inner)
}

/// `log p(x)` of a Gaussian discretised to the 256 bins of an 8-bit image on `[-1, 1]` (nats):
/// the mass of `[x − 1/255, x + 1/255]`, with the edge bins open to ±∞ (`x < −0.999`,
/// `x > 0.999`); probabilities are floored at `1e-12`.
///
/// Equal to guided-diffusion's formula; the bin mass is taken on the lower side of the mean
/// (the Gaussian is symmetric, and so is the CDF approximation) and the upper edge bin as
/// `Φ(−z)` rather than `1 − Φ(z)`, so no difference of two CDF values near 1 loses the
/// mass of a far bin in `f32`.
///
/// # Shapes
/// - `x`, `means`: `[B, C, H, W]`; `log_scales` (log standard deviations) broadcasts to them
/// - returns `[B, C, H, W]`
pub fn discretized_gaussian_log_likelihood(
    x: Tensor<4>,
    means: Tensor<4>,
    log_scales: Tensor<4>,
) -> Tensor<4> {
    let centered = x.clone() - means;
    let inv_stdv = log_scales.neg().exp();
    let log_cdf_plus = approx_standard_normal_cdf((centered.clone() + HALF_BIN) * inv_stdv.clone())
        .clamp_min(1e-12)
        .log();
    let log_one_minus_cdf_min =
        approx_standard_normal_cdf((centered.clone().neg() + HALF_BIN) * inv_stdv.clone())
            .clamp_min(1e-12)
            .log();
    let lower_side = centered.abs().neg();
    let cdf_delta = approx_standard_normal_cdf((lower_side.clone() + HALF_BIN) * inv_stdv.clone())
        - approx_standard_normal_cdf((lower_side - HALF_BIN) * inv_stdv);
    cdf_delta
        .clamp_min(1e-12)
        .log()
        .mask_where(x.clone().lower_elem(-0.999), log_cdf_plus)
        .mask_where(x.greater_elem(0.999), log_one_minus_cdf_min)
}

/// The mean over every dimension but the batch: `[B, C, H, W]` → `[B]`.
pub fn mean_flat(x: Tensor<4>) -> Tensor<1> {
    let [batch, ..] = x.dims();
    x.mean_dims(&[1, 2, 3]).reshape([batch])
}

/// The bound's terms over a whole chain for each sample ([`GaussianDiffusion::calc_bpd_loop`]).
#[derive(Debug, Clone)]
pub struct BpdTerms {
    /// The total bound `Σ_t vb[·, t] + prior_bpd`, bits/dim, `[B]`.
    pub total_bpd: Tensor<1>,
    /// `KL(q(x_{T−1} | x_0) ‖ N(0, I))`, bits/dim, `[B]`.
    pub prior_bpd: Tensor<1>,
    /// The term of step `t` in column `t` (decoder NLL at `t = 0`), bits/dim, `[B, T]`.
    pub vb: Tensor<2>,
    /// Mean squared error of the clipped `x̂_0` against `x_0` per step, `[B, T]`.
    pub xstart_mse: Tensor<2>,
    /// Mean squared error of the `ε` implied by the clipped `x̂_0` against the drawn noise per
    /// step, `[B, T]`.
    pub mse: Tensor<2>,
}

impl GaussianDiffusion {
    /// The bound's term of step `t` per sample, bits/dim: at `t > 0`
    /// `KL(q(x_{t−1} | x_t, x_0) ‖ p(x_{t−1} | x_t))`, at `t = 0` the decoder's
    /// `−log p(x_0 | x_1)` ([`discretized_gaussian_log_likelihood`]). The variance is fixed, so
    /// the gradient flows through the mean (through `prediction.pred_xstart`; nothing is
    /// detached).
    ///
    /// The KL's mean part uses `μ̃ − μ = coef1_t·(x_0 − x̂_0)` (both means share
    /// `coef2_t·x_t`), its variance part a per-step `f64` table, so small terms at large `t`
    /// keep their precision in `f32`.
    ///
    /// # Shapes
    /// - `x_start`: `[B, C, H, W]`; `t`: `B` timesteps; `prediction` from
    ///   [`GaussianDiffusion::p_mean_variance`] or
    ///   [`GaussianDiffusion::p_mean_variance_from_eps`] at `x_t = q_sample(x_start, t, ·)`
    /// - returns `[B]`
    ///
    /// # Panics
    /// If a timestep is not in `0..T`.
    pub fn vb_terms_bpd(
        &self,
        x_start: Tensor<4>,
        t: &[usize],
        prediction: &PMeanVariance,
    ) -> Tensor<1> {
        let mean_gap = (x_start.clone() - prediction.pred_xstart.clone())
            * self.extract(&self.posterior_mean_coef1, t);
        let kl = mean_gap.powi_scalar(2) * (prediction.log_variance.clone().neg().exp() * 0.5)
            + self.extract(&self.kl_variance_term, t);
        let kl_bpd = mean_flat(kl) / LN_2;
        let decoder_nll = discretized_gaussian_log_likelihood(
            x_start,
            prediction.mean.clone(),
            prediction.log_variance.clone() * 0.5,
        )
        .neg();
        let decoder_bpd = mean_flat(decoder_nll) / LN_2;
        let first: Vec<bool> = t.iter().map(|&step| step == 0).collect();
        let first = Tensor::<1, Bool>::from_data(TensorData::new(first, [t.len()]), self.device());
        kl_bpd.mask_where(first, decoder_bpd)
    }

    /// `KL(q(x_{T−1} | x_0) ‖ N(0, I))` per sample, bits/dim; the variance part is computed in
    /// `f64` (it is ~`ᾱ²` and cancels in `f32`).
    ///
    /// # Shapes
    /// - `x_start`: `[B, C, H, W]`; returns `[B]`
    pub fn prior_bpd(&self, x_start: Tensor<4>) -> Tensor<1> {
        let alpha_bar = self.schedule().alphas_cumprod[self.n_steps() - 1];
        let log_variance = (1.0 - alpha_bar).ln();
        let variance_part = 0.5 * (-1.0 - log_variance + log_variance.exp());
        (mean_flat(x_start.powi_scalar(2)) * (0.5 * alpha_bar) + variance_part) / LN_2
    }

    /// The full bound of `x_start` under `model` (guided-diffusion's `calc_bpd_loop`): for
    /// every step `t` (from `T − 1` down to 0) noise drawn from `noise` at `t`,
    /// `x_t = q_sample(x_start, t, noise)`, the term [`GaussianDiffusion::vb_terms_bpd`] with
    /// clipped `x̂_0`, and the `x̂_0` and `ε` errors; plus the prior. Runs the network `T`
    /// times; the results are detached. The bound is a likelihood only for Gaussian noise.
    ///
    /// # Shapes
    /// - `x_start`: `[B, C, H, W]` in `[-1, 1]`; `y`: `[B]` or `None`
    ///
    /// # Errors
    /// The noise sampler's errors.
    pub fn calc_bpd_loop<M: NoisePredictor + ?Sized>(
        &self,
        model: &M,
        x_start: Tensor<4>,
        y: Option<Tensor<1, Int>>,
        noise: &mut NoiseSampler,
    ) -> Result<BpdTerms> {
        let dims = x_start.dims();
        let x_start = x_start.detach();
        let mut vb = Vec::with_capacity(self.n_steps());
        let mut xstart_mse = Vec::with_capacity(self.n_steps());
        let mut mse = Vec::with_capacity(self.n_steps());
        for step in (0..self.n_steps()).rev() {
            let t = vec![step; dims[0]];
            let eps = noise.sample(dims, &t)?;
            let x_t = self.q_sample(x_start.clone(), &t, eps.clone());
            let out = self.p_mean_variance(model, x_t.clone(), &t, y.clone());
            vb.push(self.vb_terms_bpd(x_start.clone(), &t, &out).detach());
            let xstart_error = out.pred_xstart.clone() - x_start.clone();
            xstart_mse.push(mean_flat(xstart_error.powi_scalar(2)).detach());
            let implied_eps = self.predict_eps_from_xstart(x_t, &t, out.pred_xstart);
            mse.push(mean_flat((implied_eps - eps).powi_scalar(2)).detach());
        }
        let by_step = |mut columns: Vec<Tensor<1>>| {
            columns.reverse();
            Tensor::<1>::stack::<2>(columns, 1) // [B, T]
        };
        let (vb, xstart_mse, mse) = (by_step(vb), by_step(xstart_mse), by_step(mse));
        let prior_bpd = self.prior_bpd(x_start);
        let total_bpd = vb.clone().sum_dim(1).reshape([dims[0]]) + prior_bpd.clone();
        Ok(BpdTerms {
            total_bpd,
            prior_bpd,
            vb,
            xstart_mse,
            mse,
        })
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;
    use dtunet_noise::{NoiseConfig, NoiseKind};

    use super::*;
    use crate::diffusion::schedule::{BetaSchedule, DiffusionSchedule};

    /// Predicts `ε̂ = 0.5·x_t`.
    struct HalfModel;

    impl NoisePredictor for HalfModel {
        fn predict_noise(
            &self,
            x_t: Tensor<4>,
            _: Tensor<1>,
            _: Option<Tensor<1, Int>>,
        ) -> Tensor<4> {
            x_t * 0.5
        }
    }

    fn ramp(dims: [usize; 4], phase: f32, device: &Device) -> Tensor<4> {
        let n: usize = dims.iter().product();
        let values: Vec<f32> = (0..n)
            .map(|i| (i as f32 * 0.37 + phase).sin() * 0.95)
            .collect();
        Tensor::from_data(TensorData::new(values, dims), device)
    }

    fn values<const D: usize>(x: Tensor<D>) -> Vec<f32> {
        x.try_into_vec_as::<f32>().expect("readable")
    }

    #[test]
    fn kl_of_equal_gaussians_is_zero_and_grows_with_the_mean_gap() {
        let device = Device::flex();
        let mean = ramp([1, 1, 2, 3], 0.0, &device);
        let logvar = ramp([1, 1, 2, 3], 1.0, &device);
        let same = normal_kl(mean.clone(), logvar.clone(), mean.clone(), logvar.clone());
        assert!(values(same).iter().all(|v| v.abs() < 1e-6));
        let shifted = normal_kl(mean.clone() + 1.0, logvar.clone(), mean, logvar.clone());
        let expected = values((logvar.neg().exp()) * 0.5);
        for (kl, e) in values(shifted).iter().zip(expected) {
            assert!((kl - e).abs() < 1e-5, "{kl} vs {e}");
        }
    }

    #[test]
    fn discretized_likelihood_sums_to_one_over_the_bins() {
        let device = Device::flex();
        // The 256 bin centres of an 8-bit image on [-1, 1], one Gaussian for all.
        let centres: Vec<f32> = (0..256).map(|k| (k as f32 * 2.0 / 255.0) - 1.0).collect();
        let x = Tensor::<4>::from_data(TensorData::new(centres, [1, 1, 16, 16]), &device);
        let means = Tensor::<4>::zeros([1, 1, 16, 16], &device) + 0.2;
        let log_scales = Tensor::<4>::zeros([1, 1, 1, 1], &device) + (0.3f64).ln();
        let log_p = discretized_gaussian_log_likelihood(x, means, log_scales);
        let total: f32 = values(log_p.exp()).iter().sum();
        assert!((total - 1.0).abs() < 1e-3, "Σ p = {total}");
    }

    #[test]
    fn bpd_loop_sums_its_terms_and_the_prior() {
        let schedule = DiffusionSchedule::new(BetaSchedule::Cosine, 20).expect("valid");
        let diffusion = GaussianDiffusion::new(schedule, &Device::flex());
        let config = NoiseConfig {
            kind: NoiseKind::Gauss,
            ..NoiseConfig::default()
        };
        let mut noise = NoiseSampler::new(config, 2, &Device::flex()).expect("valid");
        let x_start = ramp([2, 1, 4, 6], 0.3, &Device::flex());
        let terms = diffusion
            .calc_bpd_loop(&HalfModel, x_start, None, &mut noise)
            .expect("valid");
        assert_eq!(terms.vb.dims(), [2, 20]);
        assert_eq!(terms.xstart_mse.dims(), [2, 20]);
        assert_eq!(terms.mse.dims(), [2, 20]);
        let vb = values(terms.vb);
        let prior = values(terms.prior_bpd);
        let total = values(terms.total_bpd);
        for b in 0..2 {
            let row = &vb[b * 20..(b + 1) * 20];
            assert!(row.iter().all(|v| v.is_finite() && *v >= -1e-6), "{row:?}");
            let sum: f32 = row.iter().sum::<f32>() + prior[b];
            assert!(
                (total[b] - sum).abs() < 1e-4 * sum.abs().max(1.0),
                "{total:?}"
            );
        }
        assert!(values(terms.xstart_mse).iter().all(|v| v.is_finite()));
    }

    #[test]
    fn the_bound_trains_the_mean_through_eps() {
        let device = Device::flex().autodiff();
        let schedule = DiffusionSchedule::new(BetaSchedule::Cosine, 1000).expect("valid");
        let diffusion = GaussianDiffusion::new(schedule.clone(), &device);
        let dims = [2, 1, 3, 5];
        let x_start = ramp(dims, 0.0, &device);
        let noise = ramp(dims, 2.0, &device);
        let t = [0, 250];
        let x_t = diffusion.q_sample(x_start.clone(), &t, noise.clone());
        // A half-trained network: the true noise plus an error.
        let eps = (noise + ramp(dims, 1.3, &device) * 0.3).require_grad();
        let prediction = diffusion.p_mean_variance_from_eps(x_t, &t, eps.clone(), false);
        let pred_xstart = values(prediction.pred_xstart.clone().inner());
        let loss = diffusion
            .vb_terms_bpd(x_start.clone(), &t, &prediction)
            .mean();
        let grads = loss.backward();
        let grad = values(eps.grad(&grads).expect("ε̂ receives a gradient"));
        // t = 0: the decoder NLL's gradient.
        assert!(
            grad[..15].iter().all(|g| g.is_finite() && *g != 0.0),
            "{:?}",
            &grad[..15]
        );
        // t = 250: ∂/∂ε̂ of mean_b(½·coef1²·(x_0 − x̂_0)²/β_t)/ln 2 over the batch of 2, with
        // x̂_0 = a·x_t − b·ε̂.
        let x0 = values(x_start.inner());
        let n = 15.0;
        let (coef1, b, variance) = (
            schedule.posterior_mean_coef1[250],
            schedule.sqrt_recipm1_alphas_cumprod[250],
            schedule.model_log_variance[250].exp(),
        );
        for i in 15..30 {
            let expected =
                coef1 * coef1 * f64::from(x0[i] - pred_xstart[i]) * b / variance / (n * LN_2 * 2.0);
            let found = f64::from(grad[i]);
            assert!(
                (found - expected).abs() <= 1e-4 * expected.abs() + 1e-9,
                "{i}: {found} vs {expected}"
            );
        }
    }
}

//! Beta schedules and the derived coefficients of the forward process, the posterior
//! `q(x_{t-1} | x_t, x_0)` and the fixed model variance, in `f64` (guided-diffusion's
//! `GaussianDiffusion.__init__`).

use std::fmt;
use std::str::FromStr;

use dtunet_noise::stats::linspace;

use crate::error::{DtunetError, Result};

/// How `β_t` grows over the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BetaSchedule {
    /// Nichol & Dhariwal: `ᾱ(s) = cos²((s/T + 0.008)/1.008 · π/2)`,
    /// `β_t = min(1 − ᾱ(t+1)/ᾱ(t), 0.999)` (the paper's default, Table 6).
    Cosine,
    /// `β` linear from `1e-4·1000/T` to `0.02·1000/T` (Ho et al., scaled to `T`).
    Linear,
}

impl BetaSchedule {
    /// The schedule's name in configs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            BetaSchedule::Cosine => "cosine",
            BetaSchedule::Linear => "linear",
        }
    }

    /// `β_0 … β_{T-1}` for a chain of `steps` steps.
    fn betas(self, steps: usize) -> Vec<f64> {
        match self {
            BetaSchedule::Cosine => {
                let alpha_bar = |s: f64| {
                    ((s + 0.008) / 1.008 * std::f64::consts::FRAC_PI_2)
                        .cos()
                        .powi(2)
                };
                (0..steps)
                    .map(|i| {
                        let (t1, t2) = (i as f64 / steps as f64, (i + 1) as f64 / steps as f64);
                        (1.0 - alpha_bar(t2) / alpha_bar(t1)).min(0.999)
                    })
                    .collect()
            }
            BetaSchedule::Linear => {
                let scale = 1000.0 / steps as f64;
                linspace(scale * 1e-4, scale * 0.02, steps)
            }
        }
    }
}

impl fmt::Display for BetaSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BetaSchedule {
    type Err = DtunetError;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "cosine" | "cos" => Ok(BetaSchedule::Cosine),
            "linear" => Ok(BetaSchedule::Linear),
            _ => Err(DtunetError::InvalidParameter {
                name: "beta schedule",
                found: format!("{text:?}"),
                expected: "cosine or linear".into(),
            }),
        }
    }
}

/// Every per-step coefficient of a `T`-step chain; each vector has `T` entries indexed by `t`.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffusionSchedule {
    /// The schedule these coefficients come from.
    pub kind: BetaSchedule,
    /// `β_t`.
    pub betas: Vec<f64>,
    /// `ᾱ_t = Π_{s≤t} (1 − β_s)`, strictly decreasing.
    pub alphas_cumprod: Vec<f64>,
    /// `ᾱ_{t−1}`, with `ᾱ_{−1} = 1`.
    pub alphas_cumprod_prev: Vec<f64>,
    /// `√ᾱ_t` (scales `x_start` in `q_sample`).
    pub sqrt_alphas_cumprod: Vec<f64>,
    /// `√(1 − ᾱ_t)` (scales the noise in `q_sample`).
    pub sqrt_one_minus_alphas_cumprod: Vec<f64>,
    /// `√(1/ᾱ_t)` (x̂₀ from ε̂).
    pub sqrt_recip_alphas_cumprod: Vec<f64>,
    /// `√(1/ᾱ_t − 1)` (x̂₀ from ε̂).
    pub sqrt_recipm1_alphas_cumprod: Vec<f64>,
    /// Posterior variance `β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t)`; 0 at `t = 0`.
    pub posterior_variance: Vec<f64>,
    /// `log` of the posterior variance with the `t = 0` entry replaced by `t = 1`'s.
    pub posterior_log_variance_clipped: Vec<f64>,
    /// Posterior mean coefficient of `x_start`: `β_t √ᾱ_{t−1} / (1 − ᾱ_t)`.
    pub posterior_mean_coef1: Vec<f64>,
    /// Posterior mean coefficient of `x_t`: `(1 − ᾱ_{t−1}) √α_t / (1 − ᾱ_t)`.
    pub posterior_mean_coef2: Vec<f64>,
    /// The fixed model log-variance `log([posterior_variance[1], β_1, …, β_{T−1}])` (SPEC §3).
    pub model_log_variance: Vec<f64>,
}

impl DiffusionSchedule {
    /// The coefficients of a `steps`-step chain (`steps ≥ 2`; the paper uses 1000).
    pub fn new(kind: BetaSchedule, steps: usize) -> Result<Self> {
        if steps < 2 {
            return Err(DtunetError::InvalidParameter {
                name: "diffusion steps",
                found: steps.to_string(),
                expected: "at least 2 (the paper uses 1000)".into(),
            });
        }
        let betas = kind.betas(steps);
        if let Some((t, beta)) = betas
            .iter()
            .enumerate()
            .find(|(_, b)| !(**b > 0.0 && **b < 1.0))
        {
            return Err(DtunetError::InvalidParameter {
                name: "diffusion steps",
                found: format!("{steps} ({kind} gives β_{t} = {beta})"),
                expected: "a chain whose betas lie in (0, 1); use more steps".into(),
            });
        }
        let mut alphas_cumprod = Vec::with_capacity(steps);
        let mut running = 1.0;
        for beta in &betas {
            running *= 1.0 - beta;
            alphas_cumprod.push(running);
        }
        let alphas_cumprod_prev: Vec<f64> = std::iter::once(1.0)
            .chain(alphas_cumprod[..steps - 1].iter().copied())
            .collect();
        let map = |f: &dyn Fn(usize) -> f64| (0..steps).map(f).collect::<Vec<f64>>();
        let posterior_variance =
            map(&|t| betas[t] * (1.0 - alphas_cumprod_prev[t]) / (1.0 - alphas_cumprod[t]));
        let posterior_log_variance_clipped =
            map(&|t| posterior_variance[if t == 0 { 1 } else { t }].ln());
        let model_log_variance = map(&|t| {
            if t == 0 {
                posterior_variance[1]
            } else {
                betas[t]
            }
            .ln()
        });
        Ok(Self {
            kind,
            sqrt_alphas_cumprod: map(&|t| alphas_cumprod[t].sqrt()),
            sqrt_one_minus_alphas_cumprod: map(&|t| (1.0 - alphas_cumprod[t]).sqrt()),
            sqrt_recip_alphas_cumprod: map(&|t| (1.0 / alphas_cumprod[t]).sqrt()),
            sqrt_recipm1_alphas_cumprod: map(&|t| (1.0 / alphas_cumprod[t] - 1.0).sqrt()),
            posterior_mean_coef1: map(&|t| {
                betas[t] * alphas_cumprod_prev[t].sqrt() / (1.0 - alphas_cumprod[t])
            }),
            posterior_mean_coef2: map(&|t| {
                (1.0 - alphas_cumprod_prev[t]) * (1.0 - betas[t]).sqrt() / (1.0 - alphas_cumprod[t])
            }),
            posterior_variance,
            posterior_log_variance_clipped,
            model_log_variance,
            betas,
            alphas_cumprod,
            alphas_cumprod_prev,
        })
    }

    /// Number of steps `T`.
    pub fn len(&self) -> usize {
        self.betas.len()
    }

    /// Always false: a schedule has at least two steps.
    pub fn is_empty(&self) -> bool {
        self.betas.is_empty()
    }

    /// Checks that `t_lambda` (the partial-diffusion depth used at detection: noise to step
    /// `t_λ`, then `t_λ + 1` reverse steps) is a step of the chain, `0..T`.
    pub fn check_t_lambda(&self, t_lambda: usize) -> Result<()> {
        if t_lambda >= self.len() {
            return Err(DtunetError::InvalidParameter {
                name: "--t-lambda",
                found: t_lambda.to_string(),
                expected: format!(
                    "a step of the {}-step chain, 0..={}",
                    self.len(),
                    self.len() - 1
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alphas_cumprod_decreases_and_cosine_is_not_all_zero() {
        for kind in [BetaSchedule::Cosine, BetaSchedule::Linear] {
            let schedule = DiffusionSchedule::new(kind, 1000).expect("valid");
            assert!(
                schedule.alphas_cumprod.windows(2).all(|w| w[1] < w[0]),
                "{kind}"
            );
            assert!(
                schedule.betas.iter().all(|&b| b > 0.0 && b <= 0.999),
                "{kind}"
            );
            assert!(
                schedule.alphas_cumprod[0] > 0.99 && schedule.alphas_cumprod[999] < 1e-4,
                "{kind}"
            );
        }
    }

    #[test]
    fn q_sample_coefficients_recover_x_start_from_the_true_noise() {
        let schedule = DiffusionSchedule::new(BetaSchedule::Cosine, 1000).expect("valid");
        let (x_start, eps) = (0.37, -1.25);
        for t in [0, 1, 250, 999] {
            let x_t = schedule.sqrt_alphas_cumprod[t] * x_start
                + schedule.sqrt_one_minus_alphas_cumprod[t] * eps;
            let recovered = schedule.sqrt_recip_alphas_cumprod[t] * x_t
                - schedule.sqrt_recipm1_alphas_cumprod[t] * eps;
            assert!((recovered - x_start).abs() < 1e-9, "t {t}: {recovered}");
        }
    }

    #[test]
    fn rejects_degenerate_chains_and_bad_names() {
        assert!(DiffusionSchedule::new(BetaSchedule::Cosine, 1).is_err());
        let error = DiffusionSchedule::new(BetaSchedule::Linear, 10).expect_err("β > 1");
        assert!(error.to_string().contains("use more steps"), "{error}");
        assert!("sigmoid".parse::<BetaSchedule>().is_err());
        let schedule = DiffusionSchedule::new(BetaSchedule::Linear, 1000).expect("valid");
        assert!(schedule.check_t_lambda(999).is_ok());
        let error = schedule.check_t_lambda(1000).expect_err("too deep");
        assert_eq!(
            error.to_string(),
            "--t-lambda = 1000 is invalid: expected a step of the 1000-step chain, 0..=999"
        );
    }
}

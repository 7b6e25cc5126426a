//! The Gaussian diffusion process on Burn tensors (guided-diffusion's `GaussianDiffusion` with
//! ε-prediction and the fixed-large variance, SPEC §3): the forward sample, the posterior
//! `q(x_{t−1} | x_t, x_0)`, the model's `p(x_{t−1} | x_t)`, one reverse step and the partial
//! forward-then-reverse chain used at detection.
//!
//! Timesteps are per sample, `t: &[usize]` of length `B`, each in `0..T`; `t = 0` is one
//! noising step. Per-timestep coefficients are uploaded once as `[T]` tables and gathered to
//! `[B, 1, 1, 1]`, which broadcasts over `C, H, W`.

use burn::tensor::{Device, Int, Tensor, TensorData};

use super::guidance::{Conditioning, Guidance};
use crate::diffusion::noise_fn::NoiseSampler;
use crate::diffusion::schedule::DiffusionSchedule;
use crate::diffusion::timesteps::timestep_tensor;
use crate::error::Result;
use crate::models::NoisePredictor;

/// The posterior `q(x_{t−1} | x_t, x_0)`.
#[derive(Debug, Clone)]
pub struct Posterior {
    /// Mean `coef1_t·x_0 + coef2_t·x_t`, `[B, C, H, W]`.
    pub mean: Tensor<4>,
    /// Variance `β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t)`, `[B, 1, 1, 1]`.
    pub variance: Tensor<4>,
    /// Log-variance, `t = 0` clipped to `t = 1`'s value, `[B, 1, 1, 1]`.
    pub log_variance_clipped: Tensor<4>,
}

/// The model's reverse distribution `p(x_{t−1} | x_t)` and the predictions behind it.
#[derive(Debug, Clone)]
pub struct PMeanVariance {
    /// Mean: the posterior mean with `x̂_0` in place of `x_0`, `[B, C, H, W]`.
    pub mean: Tensor<4>,
    /// Fixed-large variance `[posterior_variance_1, β_1, …, β_{T−1}][t]`, `[B, 1, 1, 1]`.
    pub variance: Tensor<4>,
    /// Its log, `[B, 1, 1, 1]`.
    pub log_variance: Tensor<4>,
    /// `x̂_0` from `ε̂` (clipped to `[-1, 1]` when asked), `[B, C, H, W]`.
    pub pred_xstart: Tensor<4>,
    /// The network's `ε̂`, `[B, C, H, W]`.
    pub eps: Tensor<4>,
}

/// A diffusion schedule's coefficients on a device and the process built on them.
#[derive(Debug, Clone)]
pub struct GaussianDiffusion {
    schedule: DiffusionSchedule,
    device: Device,
    pub(super) sqrt_alphas_cumprod: Tensor<1>,
    pub(super) sqrt_one_minus_alphas_cumprod: Tensor<1>,
    sqrt_recip_alphas_cumprod: Tensor<1>,
    sqrt_recipm1_alphas_cumprod: Tensor<1>,
    posterior_variance: Tensor<1>,
    posterior_log_variance_clipped: Tensor<1>,
    pub(super) posterior_mean_coef1: Tensor<1>,
    posterior_mean_coef2: Tensor<1>,
    model_variance: Tensor<1>,
    model_log_variance: Tensor<1>,
    /// `½(−1 + log σ²_p − log σ̃² + σ̃²/σ²_p)` per step, nats: the variance part of
    /// `KL(q(x_{t−1} | x_t, x_0) ‖ p(x_{t−1} | x_t))`, exact in `f64` (in `f32` it cancels).
    pub(super) kl_variance_term: Tensor<1>,
}

impl GaussianDiffusion {
    /// Uploads the coefficients of `schedule` to `device` (`f32`, once).
    pub fn new(schedule: DiffusionSchedule, device: &Device) -> Self {
        let table = |values: &[f64]| {
            let values: Vec<f32> = values.iter().map(|&v| v as f32).collect();
            let len = values.len();
            Tensor::<1>::from_data(TensorData::new(values, [len]), device)
        };
        let model_variance: Vec<f64> = schedule
            .model_log_variance
            .iter()
            .map(|v| v.exp())
            .collect();
        let kl_variance_term: Vec<f64> = schedule
            .posterior_log_variance_clipped
            .iter()
            .zip(&schedule.model_log_variance)
            .map(|(&posterior, &model)| {
                0.5 * (-1.0 + model - posterior + (posterior - model).exp())
            })
            .collect();
        Self {
            sqrt_alphas_cumprod: table(&schedule.sqrt_alphas_cumprod),
            sqrt_one_minus_alphas_cumprod: table(&schedule.sqrt_one_minus_alphas_cumprod),
            sqrt_recip_alphas_cumprod: table(&schedule.sqrt_recip_alphas_cumprod),
            sqrt_recipm1_alphas_cumprod: table(&schedule.sqrt_recipm1_alphas_cumprod),
            posterior_variance: table(&schedule.posterior_variance),
            posterior_log_variance_clipped: table(&schedule.posterior_log_variance_clipped),
            posterior_mean_coef1: table(&schedule.posterior_mean_coef1),
            posterior_mean_coef2: table(&schedule.posterior_mean_coef2),
            model_variance: table(&model_variance),
            model_log_variance: table(&schedule.model_log_variance),
            kl_variance_term: table(&kl_variance_term),
            schedule,
            device: device.clone(),
        }
    }

    /// The host (`f64`) schedule.
    pub fn schedule(&self) -> &DiffusionSchedule {
        &self.schedule
    }

    /// The number of steps `T`.
    pub fn n_steps(&self) -> usize {
        self.schedule.len()
    }

    /// The device the coefficients live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// `table[t[b]]` for each sample, shaped `[B, 1, 1, 1]`.
    ///
    /// # Panics
    /// If a timestep is not in `0..T`.
    pub(super) fn extract(&self, table: &Tensor<1>, t: &[usize]) -> Tensor<4> {
        let n_steps = self.n_steps();
        assert!(
            t.iter().all(|&step| step < n_steps),
            "timesteps {t:?} must lie in 0..{n_steps}"
        );
        let indices: Vec<i64> = t.iter().map(|&step| step as i64).collect();
        let indices =
            Tensor::<1, Int>::from_data(TensorData::new(indices, [t.len()]), &self.device);
        table.clone().select(0, indices).reshape([t.len(), 1, 1, 1])
    }

    /// The forward sample `x_t = √ᾱ_t·x_start + √(1 − ᾱ_t)·noise`.
    ///
    /// # Shapes
    /// - `x_start`, `noise`: `[B, C, H, W]`; `t`: `B` timesteps
    /// - returns `[B, C, H, W]`
    ///
    /// # Panics
    /// If a timestep is not in `0..T`.
    pub fn q_sample(&self, x_start: Tensor<4>, t: &[usize], noise: Tensor<4>) -> Tensor<4> {
        x_start * self.extract(&self.sqrt_alphas_cumprod, t)
            + noise * self.extract(&self.sqrt_one_minus_alphas_cumprod, t)
    }

    /// The posterior `q(x_{t−1} | x_t, x_0 = x_start)`.
    ///
    /// # Shapes
    /// - `x_start`, `x_t`: `[B, C, H, W]`; `t`: `B` timesteps
    ///
    /// # Panics
    /// If a timestep is not in `0..T`.
    pub fn q_posterior_mean_variance(
        &self,
        x_start: Tensor<4>,
        x_t: Tensor<4>,
        t: &[usize],
    ) -> Posterior {
        Posterior {
            mean: self.posterior_mean(x_start, x_t, t),
            variance: self.extract(&self.posterior_variance, t),
            log_variance_clipped: self.extract(&self.posterior_log_variance_clipped, t),
        }
    }

    fn posterior_mean(&self, x_start: Tensor<4>, x_t: Tensor<4>, t: &[usize]) -> Tensor<4> {
        x_start * self.extract(&self.posterior_mean_coef1, t)
            + x_t * self.extract(&self.posterior_mean_coef2, t)
    }

    /// `x̂_0 = √(1/ᾱ_t)·x_t − √(1/ᾱ_t − 1)·ε̂` (not clipped).
    ///
    /// # Shapes
    /// - `x_t`, `eps`: `[B, C, H, W]`; `t`: `B` timesteps; returns `[B, C, H, W]`
    ///
    /// # Panics
    /// If a timestep is not in `0..T`.
    pub fn predict_xstart_from_eps(
        &self,
        x_t: Tensor<4>,
        t: &[usize],
        eps: Tensor<4>,
    ) -> Tensor<4> {
        x_t * self.extract(&self.sqrt_recip_alphas_cumprod, t)
            - eps * self.extract(&self.sqrt_recipm1_alphas_cumprod, t)
    }

    /// The noise that `x̂_0` implies: `ε = (√(1/ᾱ_t)·x_t − x̂_0) / √(1/ᾱ_t − 1)`.
    ///
    /// # Shapes
    /// - `x_t`, `pred_xstart`: `[B, C, H, W]`; `t`: `B` timesteps; returns `[B, C, H, W]`
    ///
    /// # Panics
    /// If a timestep is not in `0..T`.
    pub fn predict_eps_from_xstart(
        &self,
        x_t: Tensor<4>,
        t: &[usize],
        pred_xstart: Tensor<4>,
    ) -> Tensor<4> {
        (x_t * self.extract(&self.sqrt_recip_alphas_cumprod, t) - pred_xstart)
            / self.extract(&self.sqrt_recipm1_alphas_cumprod, t)
    }

    /// `p(x_{t−1} | x_t)` from the network's `ε̂`; `clip_denoised` clips `x̂_0` to `[-1, 1]`
    /// (sampling and evaluation clip; the training bound does not, so the gradient reaches every
    /// pixel).
    ///
    /// # Shapes
    /// - `x_t`, `eps`: `[B, C, H, W]`; `t`: `B` timesteps
    ///
    /// # Panics
    /// If a timestep is not in `0..T`.
    pub fn p_mean_variance_from_eps(
        &self,
        x_t: Tensor<4>,
        t: &[usize],
        eps: Tensor<4>,
        clip_denoised: bool,
    ) -> PMeanVariance {
        let pred_xstart = self.predict_xstart_from_eps(x_t.clone(), t, eps.clone());
        let pred_xstart = if clip_denoised {
            pred_xstart.clamp(-1.0, 1.0)
        } else {
            pred_xstart
        };
        PMeanVariance {
            mean: self.posterior_mean(pred_xstart.clone(), x_t, t),
            variance: self.extract(&self.model_variance, t),
            log_variance: self.extract(&self.model_log_variance, t),
            pred_xstart,
            eps,
        }
    }

    /// `p(x_{t−1} | x_t)`: runs `model` on `(x_t, t, y)` and clips `x̂_0` to `[-1, 1]`.
    ///
    /// # Shapes
    /// - `x_t`: `[B, C, H, W]`; `t`: `B` timesteps; `y`: `[B]` class labels or `None`
    ///
    /// # Panics
    /// If a timestep is not in `0..T`.
    pub fn p_mean_variance<M: NoisePredictor + ?Sized>(
        &self,
        model: &M,
        x_t: Tensor<4>,
        t: &[usize],
        y: Option<Tensor<1, Int>>,
    ) -> PMeanVariance {
        let eps = model.predict_noise(x_t.clone(), timestep_tensor(t, &self.device), y);
        self.p_mean_variance_from_eps(x_t, t, eps, true)
    }

    /// One reverse step `x_{t−1} = mean + [t ≠ 0]·exp(½·log σ²)·noise`; with `guidance`, the
    /// mean is first shifted by `σ²_t · s·∇ log p(y | x_t, t)` (guided-diffusion's
    /// `condition_mean`).
    ///
    /// # Shapes
    /// - `x_t`, `noise`: `[B, C, H, W]`; `t`: `B` timesteps; `y`: `[B]` or `None`
    /// - returns `x_{t−1}`, `[B, C, H, W]`
    ///
    /// # Panics
    /// If a timestep is not in `0..T`.
    pub fn p_sample<M: NoisePredictor + ?Sized>(
        &self,
        model: &M,
        x_t: Tensor<4>,
        t: &[usize],
        y: Option<Tensor<1, Int>>,
        noise: Tensor<4>,
        guidance: Option<&dyn Guidance>,
    ) -> Tensor<4> {
        let out = self.p_mean_variance(model, x_t.clone(), t, y);
        let mean = match guidance {
            Some(guidance) => out.mean + out.variance * guidance.gradient(x_t, t),
            None => out.mean,
        };
        let nonzero: Vec<f32> = t
            .iter()
            .map(|&step| if step == 0 { 0.0 } else { 1.0 })
            .collect();
        let nonzero =
            Tensor::<4>::from_data(TensorData::new(nonzero, [t.len(), 1, 1, 1]), &self.device);
        mean + noise * (out.log_variance * 0.5).exp() * nonzero
    }

    /// Partial diffusion (SPEC §5): `x_{t_λ} = q_sample(x_start, t_λ)` with noise drawn at
    /// `t_λ`, then the reverse chain `t_λ, t_λ − 1, …, 0` (`t_λ + 1` steps), each step's noise
    /// drawn from `noise` at that step; `conditioning` gives the class labels and the guidance
    /// that steers each step's mean. Every
    /// intermediate `x` is detached, so memory does not grow with the chain on an autodiff
    /// device.
    ///
    /// # Shapes
    /// - `x_start`: `[B, C, H, W]` in `[-1, 1]`; `conditioning.labels`: `[B]` or `None`
    /// - returns the reconstruction `x_0`, `[B, C, H, W]`
    ///
    /// # Errors
    /// [`crate::DtunetError::InvalidParameter`] when `t_lambda` is not a step of the chain (`0..T`);
    /// the noise sampler's errors.
    pub fn reconstruct<M: NoisePredictor + ?Sized>(
        &self,
        model: &M,
        x_start: Tensor<4>,
        t_lambda: usize,
        conditioning: &Conditioning,
        noise: &mut NoiseSampler,
    ) -> Result<Tensor<4>> {
        self.schedule.check_t_lambda(t_lambda)?;
        let dims = x_start.dims();
        let t = vec![t_lambda; dims[0]];
        let eps = noise.sample(dims, &t)?;
        let mut x = self.q_sample(x_start, &t, eps).detach();
        for step in (0..=t_lambda).rev() {
            let t = vec![step; dims[0]];
            let z = noise.sample(dims, &t)?;
            x = self
                .p_sample(
                    model,
                    x,
                    &t,
                    conditioning.labels.clone(),
                    z,
                    conditioning.guidance,
                )
                .detach();
        }
        Ok(x)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use dtunet_noise::{NoiseConfig, NoiseKind};

    use super::*;
    use crate::diffusion::schedule::BetaSchedule;

    /// Predicts `ε̂ = 0.1·x_t` and records the timesteps it was asked about.
    struct RecordingModel {
        calls: RefCell<Vec<Vec<f32>>>,
    }

    impl NoisePredictor for RecordingModel {
        fn predict_noise(
            &self,
            x_t: Tensor<4>,
            t: Tensor<1>,
            _: Option<Tensor<1, Int>>,
        ) -> Tensor<4> {
            self.calls
                .borrow_mut()
                .push(t.try_into_vec_as::<f32>().expect("readable"));
            x_t * 0.1
        }
    }

    fn diffusion(steps: usize) -> GaussianDiffusion {
        let schedule = DiffusionSchedule::new(BetaSchedule::Cosine, steps).expect("valid");
        GaussianDiffusion::new(schedule, &Device::flex())
    }

    fn gauss(seed: u64) -> NoiseSampler {
        let config = NoiseConfig {
            kind: NoiseKind::Gauss,
            ..NoiseConfig::default()
        };
        NoiseSampler::new(config, seed, &Device::flex()).expect("valid")
    }

    fn ramp(dims: [usize; 4]) -> Tensor<4> {
        let n: usize = dims.iter().product();
        let values: Vec<f32> = (0..n).map(|i| (i as f32 * 0.1).sin() * 0.9).collect();
        Tensor::from_data(TensorData::new(values, dims), &Device::flex())
    }

    fn values(x: Tensor<4>) -> Vec<f32> {
        x.try_into_vec_as::<f32>().expect("readable")
    }

    #[test]
    fn reconstruct_runs_t_lambda_plus_one_reverse_steps_from_t_lambda_down() {
        let diffusion = diffusion(100);
        let model = RecordingModel {
            calls: RefCell::new(Vec::new()),
        };
        let x = ramp([2, 1, 5, 7]);
        let out = diffusion
            .reconstruct(&model, x, 12, &Conditioning::none(), &mut gauss(1))
            .expect("valid");
        assert_eq!(out.dims(), [2, 1, 5, 7]);
        let calls = model.calls.into_inner();
        assert_eq!(calls.len(), 13);
        let expected: Vec<Vec<f32>> = (0..=12).rev().map(|t| vec![t as f32; 2]).collect();
        assert_eq!(calls, expected);
    }

    #[test]
    fn reconstruct_is_deterministic_per_seed() {
        let diffusion = diffusion(50);
        let model = RecordingModel {
            calls: RefCell::new(Vec::new()),
        };
        let run = |seed| {
            values(
                diffusion
                    .reconstruct(
                        &model,
                        ramp([1, 2, 4, 6]),
                        20,
                        &Conditioning::none(),
                        &mut gauss(seed),
                    )
                    .expect("valid"),
            )
        };
        let first = run(3);
        assert_eq!(first, run(3));
        assert_ne!(first, run(4));
        assert!(first.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn reconstruct_rejects_a_t_lambda_beyond_the_chain() {
        let diffusion = diffusion(50);
        let model = RecordingModel {
            calls: RefCell::new(Vec::new()),
        };
        let error = diffusion
            .reconstruct(
                &model,
                ramp([1, 1, 4, 4]),
                50,
                &Conditioning::none(),
                &mut gauss(0),
            )
            .expect_err("t_lambda = T");
        assert_eq!(
            error.to_string(),
            "--t-lambda = 50 is invalid: expected a step of the 50-step chain, 0..=49"
        );
    }

    #[test]
    fn x_start_is_recovered_from_the_true_noise() {
        let diffusion = diffusion(1000);
        let x_start = ramp([2, 1, 5, 7]);
        let eps = ramp([2, 1, 5, 7]).flip([3]) * 1.7;
        for t in [[0, 1], [250, 600]] {
            let x_t = diffusion.q_sample(x_start.clone(), &t, eps.clone());
            let recovered = diffusion.predict_xstart_from_eps(x_t.clone(), &t, eps.clone());
            assert!(
                recovered.all_close(x_start.clone(), Some(1e-4), Some(1e-4)),
                "t {t:?}"
            );
            let eps_back = diffusion.predict_eps_from_xstart(x_t, &t, x_start.clone());
            assert!(
                eps_back.all_close(eps.clone(), Some(1e-3), Some(1e-3)),
                "t {t:?}"
            );
        }
    }

    #[test]
    fn the_last_reverse_step_adds_no_noise() {
        let diffusion = diffusion(100);
        let model = RecordingModel {
            calls: RefCell::new(Vec::new()),
        };
        let x_t = ramp([2, 1, 3, 4]);
        let mean = diffusion
            .p_mean_variance(&model, x_t.clone(), &[0, 0], None)
            .mean;
        let step = diffusion.p_sample(&model, x_t, &[0, 0], None, ramp([2, 1, 3, 4]) + 5.0, None);
        assert_eq!(values(step), values(mean));
    }

    #[test]
    #[should_panic(expected = "must lie in 0..100")]
    fn timesteps_beyond_the_chain_panic() {
        let diffusion = diffusion(100);
        diffusion.q_sample(ramp([1, 1, 2, 2]), &[100], ramp([1, 1, 2, 2]));
    }
}

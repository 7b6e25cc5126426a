//! Denoising diffusion (SPEC §3). `t = 0` is the first noising step; a schedule of `T` steps
//! covers `t ∈ 0..T`.
//!
//! Host math (schedules) is `f64` on the CPU, checked against the guided-diffusion formulas
//! (`tests/fixtures/diffusion/gen_diffusion.py`); [`GaussianDiffusion`] uploads it once and
//! runs the process on Burn tensors (`tests/fixtures/diffusion/gen_reverse.py`). The process
//! receives the network ([`NoisePredictor`](crate::models::NoisePredictor)) and the noise
//! ([`NoiseSampler`]); it owns neither.

pub mod gaussian;
pub mod guidance;
pub mod noise_fn;
pub mod schedule;
pub mod strided;
pub mod timesteps;
pub mod vlb;

pub use gaussian::{GaussianDiffusion, PMeanVariance, Posterior};
pub use guidance::{ClassifierGuidance, Conditioning, Guidance};
pub use noise_fn::NoiseSampler;
pub use schedule::{BetaSchedule, DiffusionSchedule};
pub use strided::strided_timesteps;
pub use timesteps::{DEFAULT_SAMPLE_DISTANCE, TimestepRange, TimestepSampler, timestep_tensor};
pub use vlb::{
    BpdTerms, approx_standard_normal_cdf, discretized_gaussian_log_likelihood, mean_flat, normal_kl,
};

//! Denoising diffusion (SPEC §3). `t = 0` is the first noising step; a schedule of `T` steps
//! covers `t ∈ 0..T`.
//!
//! Host math (schedules) is `f64` on the CPU, checked against the guided-diffusion formulas
//! (`tests/fixtures/diffusion/gen_diffusion.py`).

pub mod schedule;

pub use schedule::{BetaSchedule, DiffusionSchedule};

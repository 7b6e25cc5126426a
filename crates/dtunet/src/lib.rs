//! dtunet: self-supervised anomaly segmentation with diffusion models (DTU-Net backbone,
//! Tsimplex noise). This crate holds the pipelines; the pure numeric parts live in
//! [`noise`] (`dtunet-noise`) and [`metrics`] (`dtunet-metrics`).

pub mod backend;
pub mod data;
pub mod detection;
pub mod diffusion;
pub mod error;
pub mod evaluate;
pub mod experiment;
pub mod io;
pub mod losses;
pub mod models;
pub mod noise_study;
pub mod report;
pub mod training;

pub use dtunet_metrics as metrics;
pub use dtunet_noise as noise;
pub use error::{DtunetError, Result};

//! dtunet: self-supervised anomaly segmentation with diffusion models.

pub use dtunet_metrics as metrics;
pub use dtunet_noise as noise;

//! Noise for diffusion-based anomaly segmentation (SPEC §2): OpenSimplex bit-compatible with
//! the Python `opensimplex` 0.4.5.1 package, the Tsimplex family built on it (`tsimplex`,
//! `tsg`, `kts`, `simplex3d`, `patch4dsimplex`, `multisimplex`), value noise (`value`) and
//! Gaussian noise, plus the statistics of paper §8.
//!
//! Pure Rust (rayon for parallelism); no tensor library. Fields are `f64`, laid out NCHW.
//!
//! ```
//! use dtunet_noise::{BatchShape, NoiseConfig, NoiseSource};
//! let mut source = NoiseSource::new(NoiseConfig::default(), 42).unwrap();
//! let eps = source.sample(BatchShape::new(2, 1, 32, 48), &[10, 250]).unwrap();
//! assert_eq!(eps.data.len(), 2 * 32 * 48);
//! ```

pub mod error;
pub mod fractal;
pub mod kinds;
pub mod opensimplex;
pub mod shape;
pub mod stats;
pub mod value;

pub use error::NoiseError;
pub use fractal::FractalParams;
pub use kinds::{
    NoiseConfig, NoiseKind, NoiseSource, kts_patch_frequency, multisimplex_patch_frequency,
};
pub use opensimplex::OpenSimplex;
pub use shape::{BatchShape, NoiseField};
pub use stats::{Histogram, Moments};

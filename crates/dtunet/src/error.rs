//! The library's error type: every variant names the file or value involved.

use std::path::PathBuf;

use thiserror::Error;

use crate::report::PlotError;
use dtunet_noise::NoiseError;

/// Errors of the dtunet library.
#[derive(Debug, Error)]
pub enum DtunetError {
    /// Invalid noise parameters or shapes.
    #[error(transparent)]
    Noise(#[from] NoiseError),
    /// A parameter of a pipeline (not of the noise itself) out of range.
    #[error("{name} = {found} is invalid: expected {expected}")]
    InvalidParameter {
        /// The parameter as the user sees it.
        name: &'static str,
        /// The offending value.
        found: String,
        /// What would have been accepted.
        expected: String,
    },
    /// Reading or writing a file failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done (`write`, `create folder`, …).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Encoding an image failed.
    #[error("cannot write image {path}: {source}")]
    Image {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: image::ImageError,
    },
    /// Drawing a plot failed.
    #[error(transparent)]
    Plot(#[from] PlotError),
}

impl DtunetError {
    /// True for errors caused by what the user asked for (bad parameters), as opposed to a
    /// failure while doing it; the CLI exits with 2 for these.
    pub fn is_usage_error(&self) -> bool {
        matches!(
            self,
            DtunetError::Noise(_) | DtunetError::InvalidParameter { .. }
        )
    }
}

/// The library's result type.
pub type Result<T, E = DtunetError> = std::result::Result<T, E>;

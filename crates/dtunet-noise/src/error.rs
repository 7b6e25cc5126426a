//! The noise crate's error type.

use thiserror::Error;

/// A noise parameter or request that cannot be honoured; the message names the value and the
/// accepted range.
#[derive(Debug, Error, PartialEq)]
pub enum NoiseError {
    /// A parameter outside its valid range.
    #[error("{name} = {found} is invalid: expected {expected}")]
    InvalidParameter {
        /// The parameter's name as the user sees it (`octaves`, `persistence`, …).
        name: &'static str,
        /// The offending value, formatted.
        found: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// A batch shape with a zero dimension or that does not fit the noise kind.
    #[error("shape {found} is invalid: {reason}")]
    InvalidShape {
        /// The shape as `BxCxHxW`.
        found: String,
        /// Why it is rejected.
        reason: String,
    },
    /// The number of timesteps does not match the batch size.
    #[error("{found} timesteps given for a batch of {batch}: give one per sample (or one for all)")]
    TimestepCount {
        /// Timesteps given.
        found: usize,
        /// Batch size.
        batch: usize,
    },
}

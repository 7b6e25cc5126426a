//! The metrics crate's error type.

use thiserror::Error;

/// Input that a metric cannot be computed from; the message names the input, says what was
/// expected and what was found, and how to fix it.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum MetricsError {
    /// Two inputs that must pair up value by value have different lengths.
    #[error("{what} has {found} values but {against} has {expected}: give exactly one per pixel")]
    LengthMismatch {
        /// The input whose length is wrong (`labels`, `mask`, …).
        what: &'static str,
        /// Its length.
        found: usize,
        /// The input it must match (`scores`, `map`, …).
        against: &'static str,
        /// That input's length.
        expected: usize,
    },
    /// An input with no values, from which no metric is defined.
    #[error("{what} is empty: give at least one value")]
    Empty {
        /// The empty input.
        what: &'static str,
    },
    /// A NaN or infinite value in an input.
    #[error("{what}[{index}] = {value} is not finite: remove NaN and infinite values first")]
    NotFinite {
        /// The input holding the value.
        what: &'static str,
        /// Position of the first non-finite value.
        index: usize,
        /// The value itself.
        value: f64,
    },
    /// A value outside the range the metric was configured for; values are never clamped.
    #[error("{what}[{index}] = {value} lies outside [{low}, {high}]: {fix}")]
    OutOfRange {
        /// The input holding the value.
        what: &'static str,
        /// Position of the first offending value.
        index: usize,
        /// The value itself.
        value: f64,
        /// Lowest accepted value.
        low: f64,
        /// Highest accepted value.
        high: f64,
        /// How to make the input acceptable.
        fix: &'static str,
    },
    /// A map or image whose length does not match its declared shape, or a shape with a zero
    /// dimension.
    #[error("{what} has {found} values but its shape {shape} needs {expected}")]
    ShapeMismatch {
        /// The input (`map`, `mask`, `image`).
        what: &'static str,
        /// The declared shape, `HxW` or `CxHxW`.
        shape: String,
        /// Values the shape needs.
        expected: usize,
        /// Values given.
        found: usize,
    },
    /// An image smaller than the SSIM window in a spatial dimension.
    #[error(
        "image {height}x{width} is smaller than the {window}x{window} ssim window: \
         ssim needs at least {window} rows and {window} columns"
    )]
    ImageTooSmall {
        /// Rows of the image.
        height: usize,
        /// Columns of the image.
        width: usize,
        /// Side of the square window.
        window: usize,
    },
    /// A parameter outside its valid range.
    #[error("{name} = {found} is invalid: expected {expected}")]
    InvalidParameter {
        /// The parameter's name as the user sees it (`percentile`, `n_bins`, …).
        name: &'static str,
        /// The offending value, formatted.
        found: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// A threshold rule that needs the whole image set was asked for one image.
    #[error(
        "the best-dice threshold is chosen over a set of images, not per image: \
         use threshold::best_dice_threshold with all maps and masks"
    )]
    NeedsImageSet,
}

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, MetricsError>;

//! The `[B, C, H, W]` batch shape and the NCHW field that noise generators fill.

use std::fmt;
use std::str::FromStr;

use crate::error::NoiseError;

/// A batch shape `[batch, channels, height, width]` (NCHW).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchShape {
    /// Number of samples `B`.
    pub batch: usize,
    /// Channels per sample `C`.
    pub channels: usize,
    /// Rows per image `H`, in pixels.
    pub height: usize,
    /// Columns per image `W`, in pixels.
    pub width: usize,
}

impl BatchShape {
    /// A shape; all dimensions must be at least 1 (checked by [`BatchShape::validate`]).
    pub fn new(batch: usize, channels: usize, height: usize, width: usize) -> Self {
        Self {
            batch,
            channels,
            height,
            width,
        }
    }

    /// Total number of values `B·C·H·W`.
    pub fn len(&self) -> usize {
        self.batch * self.channels * self.height * self.width
    }

    /// True when any dimension is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Values per sample `C·H·W`.
    pub fn sample_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Rejects a shape with a zero dimension.
    pub fn validate(&self) -> Result<(), NoiseError> {
        if self.is_empty() {
            return Err(NoiseError::InvalidShape {
                found: self.to_string(),
                reason: "every dimension must be at least 1".into(),
            });
        }
        Ok(())
    }
}

impl fmt::Display for BatchShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}x{}x{}x{}",
            self.batch, self.channels, self.height, self.width
        )
    }
}

impl FromStr for BatchShape {
    type Err = NoiseError;

    /// Parses `BxCxHxW`, e.g. `32x1x224x224`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let malformed = |reason: &str| NoiseError::InvalidShape {
            found: format!("{text:?}"),
            reason: format!("{reason}; expected BxCxHxW with positive integers, e.g. 8x1x64x64"),
        };
        let dims: Vec<&str> = text.trim().split(['x', 'X']).collect();
        if dims.len() != 4 {
            return Err(malformed(&format!("{} dimensions", dims.len())));
        }
        let mut parsed = [0usize; 4];
        for (slot, dim) in parsed.iter_mut().zip(&dims) {
            *slot = dim
                .trim()
                .parse()
                .map_err(|_| malformed(&format!("{dim:?} is not an integer")))?;
        }
        let shape = Self::new(parsed[0], parsed[1], parsed[2], parsed[3]);
        if shape.is_empty() {
            return Err(malformed("a dimension is zero"));
        }
        Ok(shape)
    }
}

/// A noise batch: `shape` and its values in NCHW order.
#[derive(Debug, Clone, PartialEq)]
pub struct NoiseField {
    /// The batch shape.
    pub shape: BatchShape,
    /// `B·C·H·W` values, NCHW (`((b·C + c)·H + y)·W + x`).
    pub data: Vec<f64>,
}

impl NoiseField {
    /// A zero-filled field.
    pub fn zeros(shape: BatchShape) -> Self {
        Self {
            shape,
            data: vec![0.0; shape.len()],
        }
    }

    /// The values of sample `b` (`C·H·W`, CHW order).
    pub fn sample(&self, b: usize) -> &[f64] {
        let n = self.shape.sample_len();
        &self.data[b * n..(b + 1) * n]
    }

    /// Scales every sample to zero mean and unit (population) variance over its `C·H·W`
    /// values; a constant sample is only centred.
    pub fn standardize_per_sample(&mut self) {
        let n = self.shape.sample_len();
        for sample in self.data.chunks_mut(n) {
            let moments = crate::stats::Moments::of(sample);
            let scale = if moments.std > 0.0 {
                1.0 / moments.std
            } else {
                1.0
            };
            for v in sample.iter_mut() {
                *v = (*v - moments.mean) * scale;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_non_square_shapes() {
        let shape: BatchShape = "2x3x40x56".parse().expect("valid");
        assert_eq!(shape, BatchShape::new(2, 3, 40, 56));
        assert_eq!(shape.to_string(), "2x3x40x56");
        assert_eq!(shape.len(), 2 * 3 * 40 * 56);
    }

    #[test]
    fn rejects_malformed_shapes() {
        for text in ["", "8x1x64", "8x1x64x0", "8x1x-4x4", "axbxcxd", "1x1x2x2x2"] {
            assert!(text.parse::<BatchShape>().is_err(), "{text:?} accepted");
        }
    }
}

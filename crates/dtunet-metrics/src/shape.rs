//! Shapes of the 2-D maps and CHW images the metrics read (row-major, `index = row·width + col`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{MetricsError, Result};

/// The size of one 2-D map or mask stored row-major: pixel `(row, col)` is at
/// `row * width + col`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapShape {
    /// Rows, in pixels.
    pub height: usize,
    /// Columns, in pixels.
    pub width: usize,
}

impl MapShape {
    /// A `height × width` shape; checked against data by [`MapShape::check`].
    pub fn new(height: usize, width: usize) -> Self {
        Self { height, width }
    }

    /// Number of pixels `height · width`.
    pub fn len(&self) -> usize {
        self.height * self.width
    }

    /// True when a dimension is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fails when a dimension is zero or `found_len` differs from `height · width`.
    pub fn check(&self, what: &'static str, found_len: usize) -> Result<()> {
        check_len(what, self, self.len(), found_len)
    }
}

impl fmt::Display for MapShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.height, self.width)
    }
}

/// The size of one image stored channel-major (CHW): value `(channel, row, col)` is at
/// `(channel * height + row) * width + col`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageShape {
    /// Channels `C` (1 for grey, 3 for RGB).
    pub channels: usize,
    /// Rows, in pixels.
    pub height: usize,
    /// Columns, in pixels.
    pub width: usize,
}

impl ImageShape {
    /// A `channels × height × width` shape; checked against data by [`ImageShape::check`].
    pub fn new(channels: usize, height: usize, width: usize) -> Self {
        Self {
            channels,
            height,
            width,
        }
    }

    /// Number of values `channels · height · width`.
    pub fn len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// True when a dimension is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shape of one channel.
    pub fn plane(&self) -> MapShape {
        MapShape::new(self.height, self.width)
    }

    /// Fails when a dimension is zero or `found_len` differs from `channels · height · width`.
    pub fn check(&self, what: &'static str, found_len: usize) -> Result<()> {
        check_len(what, self, self.len(), found_len)
    }
}

impl fmt::Display for ImageShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}x{}", self.channels, self.height, self.width)
    }
}

/// Shared check of both shapes: a non-empty shape holding exactly `found_len` values.
fn check_len(
    what: &'static str,
    shape: &dyn fmt::Display,
    expected: usize,
    found_len: usize,
) -> Result<()> {
    if expected == 0 || found_len != expected {
        return Err(MetricsError::ShapeMismatch {
            what,
            shape: shape.to_string(),
            expected,
            found: found_len,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_shape_rejects_wrong_length_and_zero_dims() {
        let shape = MapShape::new(5, 7);
        assert!(shape.check("map", 35).is_ok());
        let err = shape.check("map", 36).unwrap_err();
        assert_eq!(
            err.to_string(),
            "map has 36 values but its shape 5x7 needs 35"
        );
        assert!(MapShape::new(0, 7).check("map", 0).is_err());
    }

    #[test]
    fn image_shape_plane_and_length() {
        let shape = ImageShape::new(3, 5, 7);
        assert_eq!(shape.len(), 105);
        assert_eq!(shape.plane(), MapShape::new(5, 7));
        assert!(shape.check("image", 105).is_ok());
        assert!(shape.check("image", 35).is_err());
    }
}

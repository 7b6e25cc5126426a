//! The transform every loader applies: resize to `img_size` (bilinear for images, nearest for
//! masks), convert to 1 or 3 channels, scale to [-1, 1] as `f32` in CHW order.
//!
//! Conversions, whatever the file holds:
//! * gray → RGB replicates the gray plane into the three channels;
//! * RGB → gray takes the Rec. 709 luma `0.2126 R + 0.7152 G + 0.0722 B` (the `image` crate's);
//! * an alpha channel is dropped (not composited over a background);
//! * palette PNGs are expanded to RGB by the decoder;
//! * 16-bit images keep their precision (`value / 65535`), 8-bit ones are `value / 255`;
//!   the bilinear resize runs on these integers (SIMD, `fast_image_resize`) and rounds to the
//!   same bit depth, as PIL does;
//! * the result is `2 · value − 1`, so black is −1 and full white is 1.
//!
//! Images and masks are resampled on the same pixel-centre grid (a destination pixel `x`
//! samples around source `(x + 0.5) · source_width / width − 0.5`), so a mask stays aligned
//! with its image for any pair of sizes, square or not.

use std::fmt;
use std::str::FromStr;

use fast_image_resize as resize;
use image::{DynamicImage, ImageBuffer, Luma};
use serde::Serialize;

use crate::error::{DtunetError, Result};

/// A 2-D size in pixels. Written `HEIGHTxWIDTH` (e.g. `256x320`), the order of CHW tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ImageSize {
    /// Rows.
    pub height: u32,
    /// Columns.
    pub width: u32,
}

impl ImageSize {
    /// A `height × width` size.
    pub fn new(height: u32, width: u32) -> Self {
        Self { height, width }
    }

    /// The size of a decoded image.
    pub fn of(image: &DynamicImage) -> Self {
        Self::new(image.height(), image.width())
    }

    /// `height · width`.
    pub fn pixels(self) -> usize {
        self.height as usize * self.width as usize
    }
}

impl fmt::Display for ImageSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.height, self.width)
    }
}

impl FromStr for ImageSize {
    type Err = DtunetError;

    /// Parses `N` (a square `N × N`) or `HEIGHTxWIDTH`; both sides at least 1.
    fn from_str(text: &str) -> Result<Self> {
        let invalid = || DtunetError::InvalidParameter {
            name: "image size",
            found: text.to_string(),
            expected: "a side in pixels (224) or HEIGHTxWIDTH (224x256), each at least 1".into(),
        };
        let side = |part: &str| part.trim().parse::<u32>().ok().filter(|&n| n > 0);
        let (height, width) = match text.split_once(['x', 'X']) {
            Some((height, width)) => (side(height), side(width)),
            None => (side(text), side(text)),
        };
        match (height, width) {
            (Some(height), Some(width)) => Ok(Self::new(height, width)),
            _ => Err(invalid()),
        }
    }
}

/// Channels of the tensors a loader produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channels {
    /// One channel (RGB files are converted to luma).
    Gray,
    /// Three channels (gray files are replicated).
    Rgb,
}

impl Channels {
    /// 1 or 3.
    pub fn count(self) -> usize {
        match self {
            Channels::Gray => 1,
            Channels::Rgb => 3,
        }
    }

    /// The variant with `count` channels (1 or 3).
    pub fn from_count(count: usize) -> Result<Self> {
        match count {
            1 => Ok(Channels::Gray),
            3 => Ok(Channels::Rgb),
            _ => Err(DtunetError::InvalidParameter {
                name: "channels",
                found: count.to_string(),
                expected: "1 (gray) or 3 (RGB)".into(),
            }),
        }
    }
}

/// Target size and channels; turns decoded images, intensity planes and masks into tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transform {
    /// Output size of images and masks.
    pub size: ImageSize,
    /// Output channels of images.
    pub channels: Channels,
}

impl Transform {
    /// A decoded image as `[channels, size.height, size.width]` values in [-1, 1] (see the
    /// module documentation for the colour conversions).
    pub fn image(&self, image: &DynamicImage) -> Vec<f32> {
        let color = self.channels == Channels::Rgb && image.color().has_color();
        let deep = image.color().bytes_per_pixel() > image.color().channel_count();
        // The resize input: 8- or 16-bit gray or RGB, converted only when the file is not one.
        let converted;
        let source = match (color, deep, image) {
            (false, false, DynamicImage::ImageLuma8(_))
            | (false, true, DynamicImage::ImageLuma16(_))
            | (true, false, DynamicImage::ImageRgb8(_))
            | (true, true, DynamicImage::ImageRgb16(_)) => image,
            (false, false, _) => {
                converted = DynamicImage::ImageLuma8(image.to_luma8());
                &converted
            }
            (false, true, _) => {
                converted = DynamicImage::ImageLuma16(image.to_luma16());
                &converted
            }
            (true, false, _) => {
                converted = DynamicImage::ImageRgb8(image.to_rgb8());
                &converted
            }
            (true, true, _) => {
                converted = DynamicImage::ImageRgb16(image.to_rgb16());
                &converted
            }
        };
        let resized = self.resize_bilinear(source);
        let pixels = self.size.pixels();
        // One allocation of the final size: large short-lived buffers are costly to fault in.
        let mut planar = vec![0.0; self.channels.count() * pixels];
        let bytes = resized.buffer();
        match (deep, color) {
            (false, false) => to_planar::<1, 1>(bytes, &mut planar[..pixels], decode_u8),
            (false, true) => to_planar::<1, 3>(bytes, &mut planar, decode_u8),
            (true, false) => to_planar::<2, 1>(bytes, &mut planar[..pixels], decode_u16),
            (true, true) => to_planar::<2, 3>(bytes, &mut planar, decode_u16),
        }
        if self.channels == Channels::Rgb && !color {
            // gray → RGB
            planar.copy_within(..pixels, pixels);
            planar.copy_within(..pixels, 2 * pixels);
        }
        planar
    }

    /// A gray intensity plane (`[size.height, size.width]` row-major, values in [0, 1], clipped)
    /// as `[channels, self.size.height, self.size.width]` values in [-1, 1]. The plane is
    /// quantised to 16 bits (steps of 1/65535) and resized as a 16-bit image.
    ///
    /// # Panics
    /// If `plane.len()` differs from `size.pixels()`.
    pub fn plane(&self, plane: &[f32], size: ImageSize) -> Vec<f32> {
        let levels = plane
            .iter()
            .map(|&v| (v.clamp(0.0, 1.0) * 65535.0).round() as u16)
            .collect();
        let image = ImageBuffer::<Luma<u16>, _>::from_raw(size.width, size.height, levels)
            .expect("plane length must equal height · width");
        self.image(&DynamicImage::ImageLuma16(image))
    }

    /// A binary mask (`[size.height, size.width]`, 1 = anomalous) resized by nearest neighbour
    /// to `[self.size.height, self.size.width]`.
    ///
    /// # Panics
    /// If `mask.len()` differs from `size.pixels()`.
    pub fn mask(&self, mask: &[u8], size: ImageSize) -> Vec<u8> {
        assert_eq!(
            mask.len(),
            size.pixels(),
            "mask length must equal height · width"
        );
        let rows: Vec<usize> = (0..self.size.height)
            .map(|y| nearest_source(y, self.size.height, size.height))
            .collect();
        let columns: Vec<usize> = (0..self.size.width)
            .map(|x| nearest_source(x, self.size.width, size.width))
            .collect();
        let mut resized = Vec::with_capacity(self.size.pixels());
        for &row in &rows {
            let source_row = &mask[row * size.width as usize..][..size.width as usize];
            resized.extend(columns.iter().map(|&column| source_row[column]));
        }
        resized
    }

    /// Bilinear resize of an 8/16-bit gray or RGB image to `self.size`: a triangle filter,
    /// widened when shrinking so every source pixel contributes (as PIL's `BILINEAR`).
    fn resize_bilinear(&self, image: &DynamicImage) -> resize::images::Image<'static> {
        let pixel_type = resize::IntoImageView::pixel_type(image)
            .expect("resize input is an 8/16-bit gray or RGB image");
        let mut resized = resize::images::Image::new(self.size.width, self.size.height, pixel_type);
        let options = resize::ResizeOptions::new()
            .resize_alg(resize::ResizeAlg::Convolution(resize::FilterType::Bilinear));
        resize::Resizer::new()
            .resize(image, &mut resized, &options)
            .expect("source and target share the pixel type");
        resized
    }
}

/// A binary mask (`[height, width]`, 1 = anomalous) from a decoded mask image. A pixel is
/// anomalous when its gray value is non-zero, so 0/1, 0/255 and 16-bit label images all work;
/// for `lossy` (JPEG) files the cut is half scale (≥ 128 of 255), since compression smears
/// near-black values around the edges.
pub fn binary_mask(mask: &DynamicImage, lossy: bool) -> Vec<u8> {
    let cut: u16 = if lossy { 128 * 257 } else { 1 };
    mask.to_luma16()
        .as_raw()
        .iter()
        .map(|&v| u8::from(v >= cut))
        .collect()
}

/// Interleaved `[H, W, CHANNELS]` samples of `SAMPLE_BYTES` bytes each → planar `[CHANNELS, H, W]`
/// values, each sample mapped by `decode`.
fn to_planar<const SAMPLE_BYTES: usize, const CHANNELS: usize>(
    bytes: &[u8],
    planar: &mut [f32],
    decode: impl Fn(&[u8]) -> f32,
) {
    let pixels = planar.len() / CHANNELS;
    for (index, pixel) in bytes.chunks_exact(SAMPLE_BYTES * CHANNELS).enumerate() {
        for (channel, sample) in pixel.chunks_exact(SAMPLE_BYTES).enumerate() {
            planar[channel * pixels + index] = decode(sample);
        }
    }
}

/// An 8-bit sample → [-1, 1].
fn decode_u8(sample: &[u8]) -> f32 {
    f32::from(sample[0]) * (2.0 / 255.0) - 1.0
}

/// A native-endian 16-bit sample → [-1, 1].
fn decode_u16(sample: &[u8]) -> f32 {
    f32::from(u16::from_ne_bytes([sample[0], sample[1]])) * (2.0 / 65535.0) - 1.0
}

/// The source index whose pixel contains the centre of destination pixel `index`:
/// `⌊(index + ½) · source_len / len⌋`, exact in integers.
fn nearest_source(index: u32, len: u32, source_len: u32) -> usize {
    let source = (2 * u64::from(index) + 1) * u64::from(source_len) / (2 * u64::from(len));
    source.min(u64::from(source_len) - 1) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, RgbImage};

    fn transform(height: u32, width: u32, channels: Channels) -> Transform {
        Transform {
            size: ImageSize::new(height, width),
            channels,
        }
    }

    #[test]
    fn sizes_parse_square_and_height_by_width() {
        assert_eq!(
            "224".parse::<ImageSize>().expect("n"),
            ImageSize::new(224, 224)
        );
        assert_eq!(
            "32x48".parse::<ImageSize>().expect("hxw"),
            ImageSize::new(32, 48)
        );
        assert_eq!(ImageSize::new(32, 48).to_string(), "32x48");
        for bad in ["0", "x", "12x", "-3", "1.5", "3x0"] {
            let error = bad.parse::<ImageSize>().expect_err(bad);
            assert!(error.to_string().contains("HEIGHTxWIDTH"), "{error}");
        }
        assert!(Channels::from_count(2).is_err());
        assert_eq!(Channels::from_count(3).expect("rgb").count(), 3);
    }

    #[test]
    fn gray_and_rgb_convert_as_documented() {
        let gray = DynamicImage::ImageLuma8(GrayImage::from_pixel(5, 7, Luma([255])));
        let rgb_out = transform(7, 5, Channels::Rgb).image(&gray);
        assert_eq!(rgb_out.len(), 3 * 35);
        assert!(rgb_out.iter().all(|&v| v == 1.0), "gray replicated");

        let red = DynamicImage::ImageRgb8(RgbImage::from_pixel(5, 7, image::Rgb([255, 0, 0])));
        let gray_out = transform(7, 5, Channels::Gray).image(&red);
        let expected = 2.0 * 0.2126 - 1.0;
        assert!(
            gray_out.iter().all(|&v| (v - expected).abs() < 1e-2),
            "{}",
            gray_out[0]
        );

        let planar = transform(7, 5, Channels::Rgb).image(&red);
        assert!(planar[..35].iter().all(|&v| v == 1.0), "R plane first");
        assert!(planar[35..].iter().all(|&v| v == -1.0), "G and B planes");
    }

    #[test]
    fn sixteen_bit_keeps_precision() {
        let image = DynamicImage::ImageLuma16(ImageBuffer::from_pixel(3, 2, Luma([32768u16])));
        let out = transform(2, 3, Channels::Gray).image(&image);
        assert!(
            out.iter()
                .all(|&v| (v - (2.0 * 32768.0 / 65535.0 - 1.0)).abs() < 1e-6)
        );
    }

    #[test]
    fn nearest_mask_keeps_a_square_where_the_image_puts_it() {
        // 56 rows × 40 columns → 48 × 32, a bright square at rows 14..42, columns 10..30.
        let from = ImageSize::new(56, 40);
        let inside = |x: u32, y: u32| (10..30).contains(&x) && (14..42).contains(&y);
        let image = GrayImage::from_fn(40, 56, |x, y| Luma([if inside(x, y) { 255 } else { 0 }]));
        let mask: Vec<u8> = image.as_raw().iter().map(|&v| u8::from(v > 0)).collect();
        let t = transform(48, 32, Channels::Gray);
        let pixels = t.image(&DynamicImage::ImageLuma8(image));
        let small_mask = t.mask(&mask, from);
        assert_eq!((pixels.len(), small_mask.len()), (48 * 32, 48 * 32));
        assert!(small_mask.iter().all(|&v| v <= 1));
        let centroid = |weights: &mut dyn Iterator<Item = f64>| {
            let (mut sum, mut sx, mut sy) = (0.0, 0.0, 0.0);
            for (index, weight) in weights.enumerate() {
                sum += weight;
                sx += weight * (index % 32) as f64;
                sy += weight * (index / 32) as f64;
            }
            (sx / sum, sy / sum)
        };
        let (mx, my) = centroid(&mut small_mask.iter().map(|&v| f64::from(v)));
        let (ix, iy) = centroid(&mut pixels.iter().map(|&v| f64::from(v + 1.0) / 2.0));
        assert!(
            (mx - ix).abs() < 0.5 && (my - iy).abs() < 0.5,
            "{mx},{my} vs {ix},{iy}"
        );
        // interior and exterior agree pixel by pixel away from the blurred edge
        for (index, &m) in small_mask.iter().enumerate() {
            if pixels[index] > 0.9 {
                assert_eq!(m, 1, "pixel {index}");
            }
            if pixels[index] < -0.9 {
                assert_eq!(m, 0, "pixel {index}");
            }
        }
    }

    #[test]
    fn masks_binarise_labels_and_jpeg_noise() {
        let labels =
            DynamicImage::ImageLuma8(GrayImage::from_raw(4, 1, vec![0, 1, 3, 255]).expect("4"));
        assert_eq!(binary_mask(&labels, false), vec![0, 1, 1, 1]);
        assert_eq!(binary_mask(&labels, true), vec![0, 0, 0, 1]);
    }

    #[test]
    fn plane_scales_unit_interval() {
        let out =
            transform(2, 2, Channels::Rgb).plane(&[0.0, 0.5, 1.0, 0.25], ImageSize::new(2, 2));
        let expected = [-1.0, 0.0, 1.0, -0.5].repeat(3);
        assert!(
            out.iter().zip(&expected).all(|(a, b)| (a - b).abs() < 1e-4),
            "{out:?}"
        );
    }
}

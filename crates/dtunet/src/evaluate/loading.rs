//! Reading one pair: the image and its reconstruction (8- or 16-bit PNG or JPEG, grey or RGB,
//! scaled to `[-1, 1]`, CHW, with their integer samples kept for exact error maps), or its
//! `.npy` anomaly map, and its mask (binarised `> 0`), with every size checked against the
//! image.

use std::path::Path;

use crate::io::read_npy_floats;
use dtunet_metrics::{ErrorMapKind, ImageShape, MapShape};
use image::DynamicImage;

use super::pairing::{MapSource, Pair};
use super::scoring::pair_error_map;
use crate::error::{DtunetError, Result};

/// One test image with everything needed to score it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Shape of `image` and `reconstruction`; grey images are promoted to RGB when the other
    /// image of the pair is RGB.
    pub shape: ImageShape,
    /// The input in `[-1, 1]`, `[channels · height · width]` (CHW).
    pub image: Vec<f32>,
    /// The reconstruction in `[-1, 1]`, same layout; `None` when maps were given.
    pub reconstruction: Option<Vec<f32>>,
    /// The anomaly map, `[height · width]` row-major: the reconstruction error of the chosen
    /// kind averaged over channels ([`pair_error_map`]), or the given map.
    pub map: Vec<f32>,
    /// The ground truth, `[height · width]`, `true` = anomalous; all `false` without a mask.
    pub mask: Vec<bool>,
    /// The integer samples of `image` and `reconstruction` when both files hold 8- or 16-bit
    /// samples (the error maps are then exact); `None` for given maps.
    pub integer_samples: Option<IntegerSamples>,
}

/// The integer samples of an image and its reconstruction at one full scale, same layout as
/// [`Sample::image`], so that equal sample differences give bit-identical errors
/// ([`super::scoring::integer_error_map`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegerSamples {
    /// The largest sample value: 255 when both files are 8-bit, else 65535 (8-bit samples are
    /// multiplied by 257, which keeps `v / 255` exactly).
    pub full_scale: u16,
    /// The input's samples, `[channels · height · width]`.
    pub image: Vec<u16>,
    /// The reconstruction's samples, same layout.
    pub reconstruction: Vec<u16>,
}

/// A decoded image: its values in `[-1, 1]` and, for 8- and 16-bit files, its samples.
struct DecodedImage {
    shape: ImageShape,
    /// `[channels · height · width]` in `[-1, 1]`.
    values: Vec<f32>,
    /// `(samples, full scale)`, same layout; `None` for float images.
    samples: Option<(Vec<u16>, u16)>,
}

/// Loads `pair`: the image, the reconstruction (error map of `kind`) or the given map, and the
/// mask.
///
/// # Errors
/// An unreadable or corrupt file, a map of the wrong shape or type or with a non-finite
/// value, or a size that differs from the image's.
pub fn load_sample(pair: &Pair, source: &MapSource, kind: ErrorMapKind) -> Result<Sample> {
    let decoded = read_decoded(&pair.image)?;
    let (mut shape, mut image) = (decoded.shape, decoded.values);
    let plane = shape.plane();
    let (reconstruction, map, integer_samples) = match source {
        MapSource::Reconstructions(_) => {
            let recon = read_decoded(&pair.partner)?;
            check_size(
                "reconstruction",
                &pair.partner,
                recon.shape.plane(),
                pair,
                plane,
            )?;
            let channels = shape.channels.max(recon.shape.channels);
            let integer_samples = match (decoded.samples, recon.samples) {
                (Some(image_samples), Some(recon_samples)) => Some(integer_samples(
                    (image_samples, shape),
                    (recon_samples, recon.shape),
                    channels,
                )),
                _ => None,
            };
            image = with_channels(image, shape, channels);
            let reconstruction = with_channels(recon.values, recon.shape, channels);
            shape.channels = channels;
            let map = pair_error_map(
                &image,
                &reconstruction,
                integer_samples.as_ref(),
                shape,
                kind,
            )
            .map_err(|source| DtunetError::Metric {
                path: pair.partner.clone(),
                source,
            })?;
            (Some(reconstruction), map, integer_samples)
        }
        MapSource::Maps(_) => {
            let (map_shape, map) = read_map(&pair.partner)?;
            check_size("anomaly map", &pair.partner, map_shape, pair, plane)?;
            (None, map, None)
        }
    };
    let mask = match &pair.mask {
        Some(path) => {
            let (mask_shape, mask) = read_mask(path)?;
            check_size("mask", path, mask_shape, pair, plane)?;
            mask
        }
        None => vec![false; plane.len()],
    };
    Ok(Sample {
        shape,
        image,
        reconstruction,
        map,
        mask,
        integer_samples,
    })
}

/// The samples of an image and its reconstruction at their common full scale, each with
/// `channels` channels.
fn integer_samples(
    (image, image_shape): ((Vec<u16>, u16), ImageShape),
    (reconstruction, recon_shape): ((Vec<u16>, u16), ImageShape),
    channels: usize,
) -> IntegerSamples {
    let full_scale = image.1.max(reconstruction.1);
    let at_full_scale = |(samples, scale): (Vec<u16>, u16), shape| {
        // 65535 / 255 = 257: an 8-bit sample v becomes 257·v, the same fraction of full scale.
        let factor = full_scale / scale;
        let samples = if factor == 1 {
            samples
        } else {
            samples.into_iter().map(|sample| sample * factor).collect()
        };
        with_channels(samples, shape, channels)
    };
    IntegerSamples {
        full_scale,
        image: at_full_scale(image, image_shape),
        reconstruction: at_full_scale(reconstruction, recon_shape),
    }
}

/// Decodes an image file of any supported format, whatever its extension says.
fn decode(path: &Path) -> Result<DynamicImage> {
    let io_error = |source| DtunetError::Io {
        action: "open",
        path: path.to_path_buf(),
        source,
    };
    image::ImageReader::open(path)
        .map_err(io_error)?
        .with_guessed_format()
        .map_err(io_error)?
        .decode()
        .map_err(|source| DtunetError::ImageRead {
            path: path.to_path_buf(),
            source,
        })
}

/// Reads an 8- or 16-bit grey or RGB image (alpha dropped) as CHW values in `[-1, 1]`.
///
/// # Shapes
/// Returns `[channels · height · width]` with `channels` 1 (grey) or 3 (colour).
pub fn read_image(path: &Path) -> Result<(ImageShape, Vec<f32>)> {
    let decoded = read_decoded(path)?;
    Ok((decoded.shape, decoded.values))
}

/// [`read_image`], keeping the integer samples of 8- and 16-bit files.
fn read_decoded(path: &Path) -> Result<DecodedImage> {
    let decoded = decode(path)?;
    let (height, width) = (decoded.height() as usize, decoded.width() as usize);
    let scale = |unit: f32| unit * 2.0 - 1.0;
    let channels = if decoded.color().has_color() { 3 } else { 1 };
    let values = if channels == 3 {
        let rgb: Vec<f32> = decoded.to_rgb32f().into_raw();
        to_chw(&rgb, channels).into_iter().map(scale).collect()
    } else {
        decoded
            .to_luma32f()
            .into_raw()
            .into_iter()
            .map(scale)
            .collect()
    };
    // The samples as decoded (grey stays grey: `has_color` is false exactly for the Luma types).
    let widen = |samples: Vec<u8>| samples.into_iter().map(u16::from).collect();
    let eight_bit = u16::from(u8::MAX);
    let samples = match &decoded {
        DynamicImage::ImageLuma8(_) | DynamicImage::ImageLumaA8(_) => {
            Some((widen(decoded.to_luma8().into_raw()), eight_bit))
        }
        DynamicImage::ImageRgb8(_) | DynamicImage::ImageRgba8(_) => Some((
            widen(to_chw(&decoded.to_rgb8().into_raw(), channels)),
            eight_bit,
        )),
        DynamicImage::ImageLuma16(_) | DynamicImage::ImageLumaA16(_) => {
            Some((decoded.to_luma16().into_raw(), u16::MAX))
        }
        DynamicImage::ImageRgb16(_) | DynamicImage::ImageRgba16(_) => {
            Some((to_chw(&decoded.to_rgb16().into_raw(), channels), u16::MAX))
        }
        _ => None,
    };
    Ok(DecodedImage {
        shape: ImageShape::new(channels, height, width),
        values,
        samples,
    })
}

/// Interleaved samples (`[H · W · channels]`, HWC) as planes (`[channels · H · W]`, CHW).
fn to_chw<T: Copy>(interleaved: &[T], channels: usize) -> Vec<T> {
    (0..channels)
        .flat_map(|channel| interleaved[channel..].iter().step_by(channels).copied())
        .collect()
}

/// Reads a mask image: a pixel is anomalous when any colour channel is above 0.
///
/// # Shapes
/// Returns `[height · width]` row-major.
pub fn read_mask(path: &Path) -> Result<(MapShape, Vec<bool>)> {
    let decoded = decode(path)?;
    let shape = MapShape::new(decoded.height() as usize, decoded.width() as usize);
    let mask = if decoded.color().has_color() {
        decoded
            .to_rgb16()
            .pixels()
            .map(|pixel| pixel.0.iter().any(|&value| value > 0))
            .collect()
    } else {
        decoded
            .to_luma16()
            .into_raw()
            .into_iter()
            .map(|value| value > 0)
            .collect()
    };
    Ok((shape, mask))
}

/// Reads a float32 or float64 `.npy` anomaly map of shape `[H, W]` or `[1, H, W]` (C or
/// Fortran order) with finite values.
///
/// # Shapes
/// Returns `[height · width]` row-major.
pub fn read_map(path: &Path) -> Result<(MapShape, Vec<f32>)> {
    let bad = |expected, found: String| DtunetError::BadMap {
        path: path.to_path_buf(),
        expected,
        found,
    };
    let array = read_npy_floats(path).map_err(|error| match error {
        DtunetError::BadArray {
            path,
            expected,
            found,
        } => DtunetError::BadMap {
            path,
            expected,
            found,
        },
        other => other,
    })?;
    let shape = match *array.shape.as_slice() {
        [height, width] | [1, height, width] if height > 0 && width > 0 => {
            MapShape::new(height, width)
        }
        ref other => return Err(bad("shape [H, W] or [1, H, W]", format!("{other:?}"))),
    };
    let mut values = array.values;
    if values.len() != shape.len() {
        return Err(bad(
            "one value per element of its shape",
            format!("{} values for {shape}", values.len()),
        ));
    }
    if array.fortran_order {
        values = transpose_from_column_major(&values, shape);
    }
    if let Some(index) = values.iter().position(|value| !value.is_finite()) {
        return Err(bad(
            "finite values (as float32)",
            format!(
                "{} at row {}, column {}",
                values[index],
                index / shape.width,
                index % shape.width
            ),
        ));
    }
    Ok((shape, values))
}

/// Row-major copy of a column-major `[height, width]` array.
fn transpose_from_column_major(values: &[f32], shape: MapShape) -> Vec<f32> {
    let mut row_major = Vec::with_capacity(values.len());
    for row in 0..shape.height {
        for col in 0..shape.width {
            row_major.push(values[col * shape.height + row]);
        }
    }
    row_major
}

/// Fails unless `found` equals the image's plane `expected`.
fn check_size(
    what: &'static str,
    path: &Path,
    found: MapShape,
    pair: &Pair,
    expected: MapShape,
) -> Result<()> {
    if found == expected {
        return Ok(());
    }
    Err(DtunetError::SizeMismatch {
        what,
        path: path.to_path_buf(),
        found: found.to_string(),
        expected: expected.to_string(),
        image: pair.image.clone(),
    })
}

/// `values` with `channels` channels: a grey image is repeated into each channel, an image
/// that already has them is returned as is.
///
/// # Shapes
/// `values`: `[shape.channels · H · W]`; returns `[channels · H · W]`.
fn with_channels<T: Copy>(values: Vec<T>, shape: ImageShape, channels: usize) -> Vec<T> {
    if shape.channels == channels {
        return values;
    }
    values.repeat(channels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_grey16(path: &Path, height: u32, width: u32, value: impl Fn(u32, u32) -> u16) {
        image::ImageBuffer::from_fn(width, height, |col, row| image::Luma([value(row, col)]))
            .save(path)
            .expect("png");
    }

    #[test]
    fn sixteen_bit_grey_scales_to_minus_one_one_non_square() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("x.png");
        write_grey16(
            &path,
            20,
            28,
            |row, col| if row == 3 && col == 27 { 65535 } else { 0 },
        );
        let (shape, values) = read_image(&path).expect("read");
        assert_eq!(shape, ImageShape::new(1, 20, 28));
        assert_eq!(values[3 * 28 + 27], 1.0);
        assert_eq!(values[0], -1.0);
    }

    #[test]
    fn rgb_becomes_chw_and_masks_binarise_any_channel() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("x.png");
        image::RgbImage::from_fn(28, 20, |col, row| {
            image::Rgb([255, 0, if row == 1 && col == 2 { 1 } else { 0 }])
        })
        .save(&path)
        .expect("png");
        let (shape, values) = read_image(&path).expect("read");
        assert_eq!(shape, ImageShape::new(3, 20, 28));
        let plane = 20 * 28;
        assert_eq!(values[0], 1.0);
        assert_eq!(values[plane], -1.0);
        assert!(values[2 * plane + 28 + 2] > -1.0);
        let (mask_shape, mask) = read_mask(&path).expect("mask");
        assert_eq!(mask_shape, MapShape::new(20, 28));
        assert!(mask.iter().all(|&anomalous| anomalous), "red is > 0");
    }

    #[test]
    fn npy_maps_of_both_orders_and_bad_maps() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("m.npy");
        let data: Vec<f64> = (0..6).map(f64::from).collect();
        crate::io::write_npy_f64(&path, &[1, 2, 3], &data).expect("npy");
        let (shape, map) = read_map(&path).expect("map");
        assert_eq!(shape, MapShape::new(2, 3));
        assert_eq!(map, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(
            transpose_from_column_major(&[0.0, 3.0, 1.0, 4.0, 2.0, 5.0], shape),
            map
        );

        crate::io::write_npy_f64(&path, &[2, 1, 3], &data).expect("npy");
        let message = read_map(&path).expect_err("3-d").to_string();
        assert!(
            message.contains("expected shape [H, W] or [1, H, W], found [2, 1, 3]"),
            "{message}"
        );

        crate::io::write_npy_f64(&path, &[2, 2], &[0.0, f64::NAN, 1.0, 2.0]).expect("npy");
        let message = read_map(&path).expect_err("nan").to_string();
        assert!(
            message.contains("found NaN at row 0, column 1"),
            "{message}"
        );

        std::fs::write(&path, b"not numpy").expect("write");
        let message = read_map(&path).expect_err("garbage").to_string();
        assert!(
            message.starts_with(&format!("anomaly map {}", path.display())),
            "{message}"
        );
    }

    #[test]
    fn grey_image_meets_rgb_reconstruction() {
        let dir = tempfile::tempdir().expect("temp dir");
        let image = dir.path().join("x.png");
        let recon = dir.path().join("r.png");
        let mask = dir.path().join("m.png");
        write_grey16(&image, 20, 28, |_, _| 0);
        image::RgbImage::from_pixel(28, 20, image::Rgb([0, 0, 255]))
            .save(&recon)
            .expect("png");
        image::GrayImage::new(28, 20).save(&mask).expect("png");
        let pair = Pair {
            stem: "x".into(),
            image,
            partner: recon,
            mask: Some(mask),
        };
        let source = MapSource::Reconstructions(dir.path().to_path_buf());
        let sample = load_sample(&pair, &source, ErrorMapKind::Square).expect("loads");
        assert_eq!(sample.shape, ImageShape::new(3, 20, 28));
        // Only the blue channel differs, by 2: (0 + 0 + 4) / 3, exactly (the 8-bit 255 is
        // 65535 at the 16-bit image's scale).
        let samples = sample.integer_samples.expect("integer files");
        assert_eq!(samples.full_scale, u16::MAX);
        assert_eq!(samples.reconstruction[2 * 20 * 28], u16::MAX);
        assert!(
            sample
                .map
                .iter()
                .all(|&error| error == (4.0f64 / 3.0) as f32)
        );
    }

    #[test]
    fn size_mismatch_names_both_sizes_and_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let image = dir.path().join("x.png");
        let mask = dir.path().join("x_mask.png");
        write_grey16(&image, 20, 28, |_, _| 0);
        image::GrayImage::new(20, 28).save(&mask).expect("png");
        let pair = Pair {
            stem: "x".into(),
            image: image.clone(),
            partner: image.clone(),
            mask: Some(mask.clone()),
        };
        let source = MapSource::Reconstructions(dir.path().to_path_buf());
        let message = load_sample(&pair, &source, ErrorMapKind::Absolute)
            .expect_err("mismatch")
            .to_string();
        assert_eq!(
            message,
            format!(
                "mask 28x20 does not match image 20x28 (height x width): {} (image {})",
                mask.display(),
                image.display()
            )
        );
    }
}

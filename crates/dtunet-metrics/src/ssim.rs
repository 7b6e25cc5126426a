//! Reconstruction quality (SPEC §6): SSIM and PSNR of images in `[0, 1]`.
//!
//! SSIM follows `skimage.metrics.structural_similarity(im1, im2, data_range=1,
//! gaussian_weights=True, sigma=1.5, use_sample_covariance=False, channel_axis=0)` on `float64`
//! images: local statistics from an 11-tap Gaussian (σ = 1.5, truncated at 3.5σ) applied
//! separably with SciPy's `reflect` border, `K1 = 0.01`, `K2 = 0.03`, the SSIM map averaged
//! after cropping the 5-pixel border, and the mean over channels. Map images in `[-1, 1]` to
//! `[0, 1]` with `(x + 1) / 2` first.

use crate::error::{MetricsError, Result};
use crate::input::{check_finite, check_not_empty, check_same_len};
use crate::shape::{ImageShape, MapShape};

/// Standard deviation of the Gaussian window, in pixels.
pub const SSIM_SIGMA_PX: f64 = 1.5;

/// Half-width of the Gaussian window: `⌊3.5 · σ + 0.5⌋ = 5` pixels.
const WINDOW_RADIUS_PX: usize = 5;

/// Side of the Gaussian window, `2 · radius + 1 = 11` pixels; images must be at least this
/// large in both spatial dimensions.
pub const SSIM_WINDOW_PX: usize = 2 * WINDOW_RADIUS_PX + 1;

/// Mean structural similarity of two images in `[0, 1]`, averaged over channels; 1 for
/// identical images, symmetric in its arguments.
///
/// # Shapes
/// `first` and `second`: `[channels · height · width]` (CHW), `height, width >= 11`.
///
/// # Errors
/// Lengths that do not match `shape`, a non-finite value, or an image smaller than the
/// 11×11 window.
pub fn ssim(first: &[f32], second: &[f32], shape: ImageShape) -> Result<f64> {
    check_pair(first, second, shape)?;
    let plane = shape.plane();
    let kernel = gaussian_kernel();
    let channel_sum: f64 = first
        .chunks_exact(plane.len())
        .zip(second.chunks_exact(plane.len()))
        .map(|(first_plane, second_plane)| {
            let map = plane_ssim_map(first_plane, second_plane, plane, &kernel);
            cropped_mean(&map, plane)
        })
        .sum();
    Ok(channel_sum / shape.channels as f64)
}

/// The local SSIM of two images in `[0, 1]` at every pixel, averaged over channels: the full
/// map of `skimage.metrics.structural_similarity(..., full=True)` (same window and constants
/// as [`ssim`], border pixels included, computed with the reflected border), in `[-1, 1]`.
/// `1 − map` is the SSIM anomaly map.
///
/// # Shapes
/// `first` and `second`: `[channels · height · width]` (CHW), `height, width >= 11`; returns
/// `[height · width]`.
///
/// # Errors
/// As [`ssim`].
pub fn ssim_map(first: &[f32], second: &[f32], shape: ImageShape) -> Result<Vec<f32>> {
    check_pair(first, second, shape)?;
    let plane = shape.plane();
    let kernel = gaussian_kernel();
    let mut sum = vec![0.0f64; plane.len()];
    for (first_plane, second_plane) in first
        .chunks_exact(plane.len())
        .zip(second.chunks_exact(plane.len()))
    {
        let map = plane_ssim_map(first_plane, second_plane, plane, &kernel);
        sum.iter_mut()
            .zip(map)
            .for_each(|(total, value)| *total += value);
    }
    let channels = shape.channels as f64;
    Ok(sum
        .into_iter()
        .map(|total| (total / channels) as f32)
        .collect())
}

/// Checks two images of `shape` for [`ssim`] and [`ssim_map`].
fn check_pair(first: &[f32], second: &[f32], shape: ImageShape) -> Result<()> {
    shape.check("first image", first.len())?;
    shape.check("second image", second.len())?;
    check_finite("first image", first)?;
    check_finite("second image", second)?;
    if shape.height < SSIM_WINDOW_PX || shape.width < SSIM_WINDOW_PX {
        return Err(MetricsError::ImageTooSmall {
            height: shape.height,
            width: shape.width,
            window: SSIM_WINDOW_PX,
        });
    }
    Ok(())
}

/// Peak signal-to-noise ratio `10 · log10(1 / MSE)` in dB of two images in `[0, 1]`;
/// `+∞` for identical images.
///
/// # Shapes
/// `first` and `second`: `[n]`, same layout (any shape).
///
/// # Errors
/// Empty input, different lengths, or a non-finite value.
pub fn psnr(first: &[f32], second: &[f32]) -> Result<f64> {
    check_not_empty("first image", first.len())?;
    check_same_len("second image", second.len(), "first image", first.len())?;
    check_finite("first image", first)?;
    check_finite("second image", second)?;
    let squared_error: f64 = first
        .iter()
        .zip(second)
        .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
        .sum();
    let mse = squared_error / first.len() as f64;
    Ok(10.0 * (1.0 / mse).log10())
}

/// The local SSIM of one channel at every pixel.
fn plane_ssim_map(first: &[f32], second: &[f32], shape: MapShape, kernel: &[f64]) -> Vec<f64> {
    const C1: f64 = 0.01 * 0.01;
    const C2: f64 = 0.03 * 0.03;
    let x: Vec<f64> = first.iter().map(|&v| f64::from(v)).collect();
    let y: Vec<f64> = second.iter().map(|&v| f64::from(v)).collect();
    let products =
        |a: &[f64], b: &[f64]| -> Vec<f64> { a.iter().zip(b).map(|(p, q)| p * q).collect() };
    let mean_x = gaussian_filter(&x, shape, kernel);
    let mean_y = gaussian_filter(&y, shape, kernel);
    let mean_xx = gaussian_filter(&products(&x, &x), shape, kernel);
    let mean_yy = gaussian_filter(&products(&y, &y), shape, kernel);
    let mean_xy = gaussian_filter(&products(&x, &y), shape, kernel);

    (0..shape.len())
        .map(|i| {
            let (ux, uy) = (mean_x[i], mean_y[i]);
            let variance_x = mean_xx[i] - ux * ux;
            let variance_y = mean_yy[i] - uy * uy;
            let covariance = mean_xy[i] - ux * uy;
            let numerator = (2.0 * ux * uy + C1) * (2.0 * covariance + C2);
            let denominator = (ux * ux + uy * uy + C1) * (variance_x + variance_y + C2);
            numerator / denominator
        })
        .collect()
}

/// The mean of a one-channel SSIM map after cropping the window radius at every border, as
/// scikit-image averages it.
fn cropped_mean(map: &[f64], shape: MapShape) -> f64 {
    let mut sum = 0.0;
    for row in WINDOW_RADIUS_PX..shape.height - WINDOW_RADIUS_PX {
        for col in WINDOW_RADIUS_PX..shape.width - WINDOW_RADIUS_PX {
            sum += map[row * shape.width + col];
        }
    }
    let n_kept = (shape.height - 2 * WINDOW_RADIUS_PX) * (shape.width - 2 * WINDOW_RADIUS_PX);
    sum / n_kept as f64
}

/// SciPy's normalised Gaussian taps `exp(−x² / 2σ²)` for `x = −radius..=radius`.
///
/// # Shapes
/// `[2 · radius + 1]`.
fn gaussian_kernel() -> Vec<f64> {
    let radius = WINDOW_RADIUS_PX as i32;
    let taps: Vec<f64> = (-radius..=radius)
        .map(|x| (-0.5 / (SSIM_SIGMA_PX * SSIM_SIGMA_PX) * f64::from(x * x)).exp())
        .collect();
    let total: f64 = taps.iter().sum();
    taps.iter().map(|tap| tap / total).collect()
}

/// `scipy.ndimage.gaussian_filter(mode='reflect')` with the given symmetric taps: along rows
/// (axis 0) first, then along columns; each output sums the centre tap, then the mirrored
/// pairs from the outermost in, as SciPy's `correlate1d` does.
///
/// # Shapes
/// `values` and the result: `[shape.height · shape.width]`; both dimensions must be at least
/// the kernel radius.
fn gaussian_filter(values: &[f64], shape: MapShape, kernel: &[f64]) -> Vec<f64> {
    let (height, width) = (shape.height, shape.width);
    let radius = kernel.len() / 2;
    let row_at = |row: usize| &values[row * width..(row + 1) * width];

    // Along axis 0: whole rows at a time.
    let mut vertical: Vec<f64> = values.iter().map(|v| v * kernel[radius]).collect();
    for row in 0..height {
        let out = &mut vertical[row * width..(row + 1) * width];
        for offset in (1..=radius).rev() {
            let before = row_at(reflect(row as isize - offset as isize, height));
            let after = row_at(reflect(row as isize + offset as isize, height));
            let tap = kernel[radius - offset];
            for ((out, b), a) in out.iter_mut().zip(before).zip(after) {
                *out += (b + a) * tap;
            }
        }
    }

    // Along axis 1: one reflected-padded row at a time.
    let mut filtered = vec![0.0; values.len()];
    let mut padded = vec![0.0; width + 2 * radius];
    for row in 0..height {
        let line = &vertical[row * width..(row + 1) * width];
        for (i, value) in padded.iter_mut().enumerate() {
            *value = line[reflect(i as isize - radius as isize, width)];
        }
        let out = &mut filtered[row * width..(row + 1) * width];
        for (col, out) in out.iter_mut().enumerate() {
            let centre = col + radius;
            let mut sum = padded[centre] * kernel[radius];
            for offset in (1..=radius).rev() {
                sum +=
                    (padded[centre - offset] + padded[centre + offset]) * kernel[radius - offset];
            }
            *out = sum;
        }
    }
    filtered
}

/// The index read for position `index` of a line of `len` values under the half-sample
/// symmetric border `(d c b a | a b c d | d c b a)`; `index` must lie within `len` of the line.
fn reflect(index: isize, len: usize) -> usize {
    let len = len as isize;
    let reflected = if index < 0 {
        -index - 1
    } else if index >= len {
        2 * len - index - 1
    } else {
        index
    };
    reflected as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(shape: ImageShape, phase: f64) -> Vec<f32> {
        (0..shape.len())
            .map(|i| {
                (0.5 + 0.4 * ((i as f64) * 0.13 + phase).sin() * ((i / 7) as f64 * 0.05).cos())
                    as f32
            })
            .collect()
    }

    #[test]
    fn kernel_matches_scipy_taps() {
        let kernel = gaussian_kernel();
        assert_eq!(kernel.len(), 11);
        assert!((kernel.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        // scipy.ndimage._filters._gaussian_kernel1d(1.5, 0, 5)[5]
        assert!((kernel[5] - 0.266_011_724_861_794_36).abs() < 1e-12);
    }

    #[test]
    fn filter_preserves_constants_and_reflects_borders() {
        let shape = MapShape::new(6, 9);
        let filtered = gaussian_filter(&[0.25; 54], shape, &gaussian_kernel());
        assert!(filtered.iter().all(|v| (v - 0.25).abs() < 1e-15));
    }

    #[test]
    fn identical_images_score_one_and_ssim_is_symmetric() {
        for shape in [
            ImageShape::new(1, 11, 11),
            ImageShape::new(3, 12, 17),
            ImageShape::new(1, 40, 56),
        ] {
            let first = pattern(shape, 0.0);
            let second = pattern(shape, 0.7);
            assert!((ssim(&first, &first, shape).unwrap() - 1.0).abs() < 1e-12);
            let forward = ssim(&first, &second, shape).unwrap();
            let backward = ssim(&second, &first, shape).unwrap();
            assert!((forward - backward).abs() < 1e-12);
            assert!(forward < 1.0 && forward > -1.0);
        }
    }

    #[test]
    fn psnr_of_a_uniform_offset() {
        let first = [0.5f32; 35];
        let second = [0.6f32; 35];
        // MSE 0.01 → 20 dB.
        assert!((psnr(&first, &second).unwrap() - 20.0).abs() < 1e-5);
        assert_eq!(psnr(&first, &first).unwrap(), f64::INFINITY);
    }

    #[test]
    fn rejects_small_or_mismatched_images() {
        let small = ImageShape::new(1, 5, 7);
        let err = ssim(&[0.0; 35], &[0.0; 35], small).unwrap_err();
        assert_eq!(
            err.to_string(),
            "image 5x7 is smaller than the 11x11 ssim window: ssim needs at least 11 rows and 11 columns"
        );
        let shape = ImageShape::new(1, 11, 12);
        assert!(ssim(&[0.0; 132], &[0.0; 131], shape).is_err());
        assert!(ssim(&[f32::NAN; 132], &[0.0; 132], shape).is_err());
        assert!(psnr(&[0.0; 3], &[0.0; 2]).is_err());
        assert!(psnr(&[], &[]).is_err());
    }
}

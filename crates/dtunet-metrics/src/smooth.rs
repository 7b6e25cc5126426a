//! Gaussian smoothing of anomaly maps, as `scipy.ndimage.gaussian_filter(map, sigma)` with its
//! defaults (mode `reflect`, kernel radius `⌊4σ + 0.5⌋`): a map of isolated noisy pixels
//! becomes one of coherent regions, which ranks region-shaped anomalies higher.

use crate::error::{MetricsError, Result};
use crate::shape::MapShape;

/// Kernel radius in multiples of σ (SciPy's `truncate`).
const TRUNCATE: f64 = 4.0;

/// The map smoothed by a Gaussian of standard deviation `sigma` pixels, separably along the
/// rows' axis then the columns' (each pass accumulated in `f64`, stored as `f32`, as SciPy on
/// a float32 array); borders reflect (`d c b a | a b c d | d c b a`). `sigma` 0 returns the
/// map unchanged.
///
/// # Errors
/// A map whose length is not `shape`'s, or `sigma` negative or not finite.
pub fn gaussian_smooth(map: &[f32], shape: MapShape, sigma: f64) -> Result<Vec<f32>> {
    shape.check("map", map.len())?;
    if !(sigma >= 0.0 && sigma.is_finite()) {
        return Err(MetricsError::InvalidParameter {
            name: "smoothing sigma",
            found: sigma.to_string(),
            expected: "a finite number of pixels ≥ 0",
        });
    }
    if sigma == 0.0 {
        return Ok(map.to_vec());
    }
    let kernel = gaussian_kernel(sigma);
    let (height, width) = (shape.height, shape.width);
    let mut columns_done = vec![0.0_f32; map.len()];
    for row in 0..height {
        for col in 0..width {
            columns_done[row * width + col] = correlate(&kernel, |offset| {
                map[reflect(row as isize + offset, height) * width + col]
            });
        }
    }
    let mut smoothed = vec![0.0_f32; map.len()];
    for row in 0..height {
        let line = &columns_done[row * width..(row + 1) * width];
        for col in 0..width {
            smoothed[row * width + col] = correlate(&kernel, |offset| {
                line[reflect(col as isize + offset, width)]
            });
        }
    }
    Ok(smoothed)
}

/// Normalised weights `exp(-x² / 2σ²)` for `x` in `-r..=r`, `r = ⌊4σ + 0.5⌋`.
fn gaussian_kernel(sigma: f64) -> Vec<f64> {
    let radius = (TRUNCATE * sigma + 0.5) as isize;
    let weights: Vec<f64> = (-radius..=radius)
        .map(|x| (-0.5 / (sigma * sigma) * (x * x) as f64).exp())
        .collect();
    let total: f64 = weights.iter().sum();
    weights.into_iter().map(|weight| weight / total).collect()
}

/// `Σ_k w_k · value(k − r)` in `f64`, stored as `f32`.
fn correlate(kernel: &[f64], value: impl Fn(isize) -> f32) -> f32 {
    let radius = (kernel.len() / 2) as isize;
    kernel
        .iter()
        .enumerate()
        .map(|(index, weight)| weight * f64::from(value(index as isize - radius)))
        .sum::<f64>() as f32
}

/// The index `position` maps to on a line of `len` samples mirrored at its edges (the edge
/// sample repeated), for any offset however far outside.
fn reflect(position: isize, len: usize) -> usize {
    let period = 2 * len as isize;
    let folded = position.rem_euclid(period);
    if folded < len as isize {
        folded as usize
    } else {
        (period - 1 - folded) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflection_repeats_the_edge_sample() {
        let mapped: Vec<usize> = (-5..8).map(|p| reflect(p, 3)).collect();
        assert_eq!(mapped, vec![1, 2, 2, 1, 0, 0, 1, 2, 2, 1, 0, 0, 1]);
    }

    #[test]
    fn smoothing_keeps_constants_and_the_mean_of_a_spike() {
        let shape = MapShape::new(5, 7);
        let flat = vec![0.25_f32; 35];
        let smoothed = gaussian_smooth(&flat, shape, 1.5).expect("smooths");
        assert!(smoothed.iter().all(|v| (v - 0.25).abs() < 1e-7));
        let mut spike = vec![0.0_f32; 35];
        spike[2 * 7 + 3] = 1.0;
        let smoothed = gaussian_smooth(&spike, shape, 0.8).expect("smooths");
        assert!(smoothed[2 * 7 + 3] < 0.5 && smoothed[2 * 7 + 2] > 0.05);
        assert_eq!(
            gaussian_smooth(&spike, shape, 0.0).expect("identity"),
            spike
        );
        assert!(gaussian_smooth(&spike, shape, -1.0).is_err());
        assert!(gaussian_smooth(&spike[1..], shape, 1.0).is_err());
    }
}

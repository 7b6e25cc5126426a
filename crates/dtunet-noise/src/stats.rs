//! Statistics of generated noise (SPEC §2.6; paper §8.1): moments with the paper's Pearson
//! kurtosis (normal = 3) and fixed-range histograms binned exactly like `numpy.histogram`.

use crate::error::NoiseError;

/// Moments of a sample, with the conventions of `scipy.stats` defaults (`bias=True`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moments {
    /// Number of values.
    pub count: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Population standard deviation `sqrt(m2)`.
    pub std: f64,
    /// Skewness `m3 / m2^1.5` (`scipy.stats.skew`, biased); 0 for a constant sample.
    pub skewness: f64,
    /// Pearson kurtosis `m4 / m2²` (normal = 3; `scipy.stats.kurtosis(fisher=False)`); for a
    /// constant sample `NaN`, as SciPy returns.
    pub kurtosis: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl Moments {
    /// Two-pass central moments of `values`.
    ///
    /// # Panics
    /// If `values` is empty (callers validate shapes first).
    pub fn of(values: &[f64]) -> Self {
        assert!(!values.is_empty(), "moments of an empty sample");
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let (mut m2, mut m3, mut m4) = (0.0, 0.0, 0.0);
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        for &v in values {
            let d = v - mean;
            let d2 = d * d;
            m2 += d2;
            m3 += d2 * d;
            m4 += d2 * d2;
            min = min.min(v);
            max = max.max(v);
        }
        let (m2, m3, m4) = (m2 / n, m3 / n, m4 / n);
        let skewness = if m2 > 0.0 { m3 / m2.powf(1.5) } else { 0.0 };
        let kurtosis = if m2 > 0.0 { m4 / (m2 * m2) } else { f64::NAN };
        Self {
            count: values.len(),
            mean,
            std: m2.sqrt(),
            skewness,
            kurtosis,
            min,
            max,
        }
    }
}

/// A histogram with `n` equal-width bins over `[low, high]`, the last bin closed.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// `n + 1` bin edges, `linspace(low, high, n + 1)`.
    pub edges: Vec<f64>,
    /// Values per bin.
    pub counts: Vec<u64>,
}

impl Histogram {
    /// Bins `values` like `numpy.histogram(values, bins=n_bins, range=(low, high))`: values
    /// outside the range are ignored, a value on an inner edge goes to the bin on its right.
    pub fn new(values: &[f64], n_bins: usize, low: f64, high: f64) -> Result<Self, NoiseError> {
        if n_bins == 0 {
            return Err(NoiseError::InvalidParameter {
                name: "bins",
                found: "0".into(),
                expected: "at least 1 bin",
            });
        }
        if !(low.is_finite() && high.is_finite() && low < high) {
            return Err(NoiseError::InvalidParameter {
                name: "histogram range",
                found: format!("[{low}, {high}]"),
                expected: "finite bounds with low < high",
            });
        }
        let edges = linspace(low, high, n_bins + 1);
        let mut counts = vec![0u64; n_bins];
        let norm = n_bins as f64 / (high - low);
        for &v in values {
            if !(v >= low && v <= high) {
                continue;
            }
            let mut index = (((v - low) * norm) as usize).min(n_bins - 1);
            if v < edges[index] {
                index -= 1;
            } else if index + 1 < n_bins && v >= edges[index + 1] {
                index += 1;
            }
            counts[index] += 1;
        }
        Ok(Self { edges, counts })
    }

    /// Probability densities per bin (`numpy.histogram(..., density=True)`): counts divided by
    /// the total count and the bin width, so the histogram integrates to 1.
    pub fn densities(&self) -> Vec<f64> {
        let total: u64 = self.counts.iter().sum();
        self.counts
            .iter()
            .zip(self.edges.windows(2))
            .map(|(&count, edge)| {
                if total == 0 {
                    0.0
                } else {
                    count as f64 / total as f64 / (edge[1] - edge[0])
                }
            })
            .collect()
    }
}

/// `numpy.linspace(start, stop, n)`: `i·step + start`, the last value exactly `stop` (for
/// `n = 1` just `start`, for `n = 0` nothing).
pub fn linspace(start: f64, stop: f64, n: usize) -> Vec<f64> {
    if n <= 1 {
        return vec![start; n];
    }
    let step = (stop - start) / (n - 1) as f64;
    let mut values: Vec<f64> = (0..n).map(|i| i as f64 * step + start).collect();
    values[n - 1] = stop;
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_of_a_symmetric_sample() {
        let m = Moments::of(&[-2.0, -1.0, 0.0, 1.0, 2.0]);
        assert_eq!(m.mean, 0.0);
        assert!((m.std - 2.0f64.sqrt()).abs() < 1e-15);
        assert_eq!(m.skewness, 0.0);
        // m4 = (16+1+0+1+16)/5 = 6.8, m2 = 2 → 1.7
        assert!((m.kurtosis - 1.7).abs() < 1e-15);
    }

    #[test]
    fn histogram_closes_the_last_bin_and_ignores_out_of_range() {
        let h = Histogram::new(&[0.0, 0.5, 1.0, 1.5, 2.0, 2.5], 2, 0.0, 2.0).expect("valid");
        assert_eq!(h.counts, vec![2, 3]);
        let density: f64 = h.densities().iter().map(|d| d * 1.0).sum();
        assert!((density - 1.0).abs() < 1e-15);
    }

    #[test]
    fn histogram_rejects_bad_ranges() {
        assert!(Histogram::new(&[1.0], 0, 0.0, 1.0).is_err());
        assert!(Histogram::new(&[1.0], 4, 1.0, 1.0).is_err());
        assert!(Histogram::new(&[1.0], 4, f64::NAN, 1.0).is_err());
    }
}

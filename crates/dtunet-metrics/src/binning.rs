//! Equal-width bins over a known score range, with NumPy's `histogram` bin assignment.
//!
//! Used by the bounded pooled accumulators ([`crate::PooledRanking`],
//! [`crate::AuproAccumulator`]) and by Otsu's threshold, which must bin exactly as
//! `numpy.histogram` does to pick the same threshold as scikit-image.

use serde::{Deserialize, Serialize};

use crate::error::{MetricsError, Result};

/// `n_bins` equal-width bins over `[low, high]`; bin `i` holds `edge(i) <= score < edge(i+1)`,
/// the last bin also holds `high`.
///
/// Edges are computed as `numpy.linspace(low, high, n_bins + 1)` does
/// (`low + i·(high − low)/n_bins`, last edge exactly `high`), and a score is assigned to the bin
/// whose edges bracket it, so a score is in bin `i` or above exactly when `score >= edge(i)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoreBins {
    low: f64,
    high: f64,
    n_bins: usize,
}

impl ScoreBins {
    /// The default resolution of the bounded accumulators: 2^16 bins (1 MiB of counts).
    pub const DEFAULT_N_BINS: usize = 1 << 16;

    /// Bins over `[low, high]`.
    ///
    /// # Errors
    /// Non-finite bounds, `low >= high`, `n_bins == 0`, or a range too narrow to give
    /// `n_bins` distinct edges in `f64`.
    pub fn new(low: f64, high: f64, n_bins: usize) -> Result<Self> {
        if !(low.is_finite() && high.is_finite() && low < high) {
            return Err(MetricsError::InvalidParameter {
                name: "score range",
                found: format!("[{low}, {high}]"),
                expected: "finite bounds with low < high (e.g. [0, 4] for a square-error map)",
            });
        }
        if n_bins == 0 {
            return Err(MetricsError::InvalidParameter {
                name: "n_bins",
                found: n_bins.to_string(),
                expected: "at least 1 bin",
            });
        }
        let bins = Self { low, high, n_bins };
        if (0..n_bins).any(|bin| bins.edge(bin) >= bins.edge(bin + 1)) {
            return Err(MetricsError::InvalidParameter {
                name: "n_bins",
                found: n_bins.to_string(),
                expected: "few enough bins for the score range to give distinct f64 edges",
            });
        }
        Ok(bins)
    }

    /// Lowest score accepted.
    pub fn low(&self) -> f64 {
        self.low
    }

    /// Highest score accepted.
    pub fn high(&self) -> f64 {
        self.high
    }

    /// Number of bins.
    pub fn n_bins(&self) -> usize {
        self.n_bins
    }

    /// Width of one bin, `(high − low) / n_bins`, in score units.
    pub fn width(&self) -> f64 {
        (self.high - self.low) / self.n_bins as f64
    }

    /// Edge `i` for `i` in `0..=n_bins`: the lower edge of bin `i`, or `high` for `i = n_bins`.
    ///
    /// # Panics
    /// When `i > n_bins`.
    pub fn edge(&self, i: usize) -> f64 {
        assert!(i <= self.n_bins, "edge {i} of {} bins", self.n_bins);
        if i == self.n_bins {
            return self.high;
        }
        i as f64 * self.width() + self.low
    }

    /// Centre of bin `i`, `(edge(i) + edge(i+1)) / 2`.
    pub fn centre(&self, i: usize) -> f64 {
        (self.edge(i) + self.edge(i + 1)) / 2.0
    }

    /// The bin holding `score`, or `None` outside `[low, high]` (or NaN).
    pub fn bin_of(&self, score: f64) -> Option<usize> {
        if !(score >= self.low && score <= self.high) {
            return None;
        }
        let scaled = (score - self.low) / (self.high - self.low) * self.n_bins as f64;
        // `scaled` is in [0, n_bins] here, so the cast cannot wrap.
        let mut bin = (scaled as usize).min(self.n_bins - 1);
        // The division may land one bin off near an edge; the edges decide.
        if score < self.edge(bin) {
            bin -= 1;
        } else if bin + 1 < self.n_bins && score >= self.edge(bin + 1) {
            bin += 1;
        }
        Some(bin)
    }

    /// Fails at the first score outside `[low, high]`.
    pub(crate) fn check_range(&self, what: &'static str, scores: &[f32]) -> Result<()> {
        match scores
            .iter()
            .position(|&score| self.bin_of(f64::from(score)).is_none())
        {
            Some(index) => Err(MetricsError::OutOfRange {
                what,
                index,
                value: f64::from(scores[index]),
                low: self.low,
                high: self.high,
                fix: "widen the histogram range to cover every score, or use exact mode",
            }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_follow_linspace_and_close_the_last_bin() {
        let bins = ScoreBins::new(0.0, 4.0, 8).unwrap();
        assert_eq!(bins.edge(0), 0.0);
        assert_eq!(bins.edge(3), 1.5);
        assert_eq!(bins.edge(8), 4.0);
        assert_eq!(bins.centre(0), 0.25);
        assert_eq!(bins.bin_of(0.0), Some(0));
        assert_eq!(bins.bin_of(0.5), Some(1));
        assert_eq!(bins.bin_of(0.4999), Some(0));
        assert_eq!(bins.bin_of(4.0), Some(7));
        assert_eq!(bins.bin_of(4.0001), None);
        assert_eq!(bins.bin_of(-0.0001), None);
        assert_eq!(bins.bin_of(f64::NAN), None);
    }

    #[test]
    fn bin_membership_agrees_with_edges_at_awkward_values() {
        let bins = ScoreBins::new(-0.3, 0.7, 1000).unwrap();
        for i in 0..1000 {
            let edge = bins.edge(i);
            assert_eq!(bins.bin_of(edge), Some(i), "edge {i}");
            if i > 0 {
                assert_eq!(bins.bin_of(edge.next_down()), Some(i - 1), "below edge {i}");
            }
        }
    }

    #[test]
    fn rejects_bad_ranges() {
        assert!(ScoreBins::new(1.0, 1.0, 4).is_err());
        assert!(ScoreBins::new(2.0, 1.0, 4).is_err());
        assert!(ScoreBins::new(0.0, f64::INFINITY, 4).is_err());
        assert!(ScoreBins::new(0.0, 1.0, 0).is_err());
        assert!(ScoreBins::new(1.0, 1.0 + 4.0 * f64::EPSILON, 1 << 16).is_err());
    }

    #[test]
    fn range_check_names_the_offending_score() {
        let bins = ScoreBins::new(0.0, 2.0, 16).unwrap();
        let err = bins.check_range("scores", &[0.5, 2.5]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("scores[1] = 2.5 lies outside [0, 2]")
        );
    }
}

//! The score histogram of the report: the map values of healthy and of anomalous pixels over
//! the set's score range, as densities, so that a threshold can be drawn across both.

use crate::report::HistogramSeries;

/// Bins of the score histogram.
pub const SCORE_HISTOGRAM_BINS: usize = 64;

/// Pixel counts per score bin over `[low, high]`, for healthy and anomalous pixels apart.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreHistogram {
    low: f64,
    high: f64,
    healthy: Vec<u64>,
    anomalous: Vec<u64>,
}

impl ScoreHistogram {
    /// Empty counts over `[low, high]` (a flat range is widened to one unit).
    pub fn new(low: f64, high: f64) -> Self {
        let high = if high > low { high } else { low + 1.0 };
        Self {
            low,
            high,
            healthy: vec![0; SCORE_HISTOGRAM_BINS],
            anomalous: vec![0; SCORE_HISTOGRAM_BINS],
        }
    }

    /// Counts every pixel of `map` by its `mask` class; values outside the range go to the
    /// end bins.
    ///
    /// # Shapes
    /// `map` and `mask`: `[height · width]`.
    pub fn add(&mut self, map: &[f32], mask: &[bool]) {
        let width = (self.high - self.low) / SCORE_HISTOGRAM_BINS as f64;
        for (&score, &anomalous) in map.iter().zip(mask) {
            let bin = ((f64::from(score) - self.low) / width).floor();
            let bin = (bin.max(0.0) as usize).min(SCORE_HISTOGRAM_BINS - 1);
            if anomalous {
                self.anomalous[bin] += 1;
            } else {
                self.healthy[bin] += 1;
            }
        }
    }

    /// Adds the counts of `other` (over the same range).
    pub fn merge(&mut self, other: &Self) {
        for (total, count) in self.healthy.iter_mut().zip(&other.healthy) {
            *total += count;
        }
        for (total, count) in self.anomalous.iter_mut().zip(&other.anomalous) {
            *total += count;
        }
    }

    /// The healthy and anomalous histograms as densities (each integrating to 1), leaving out
    /// a class without pixels.
    pub fn series(&self) -> Vec<HistogramSeries> {
        let width = (self.high - self.low) / SCORE_HISTOGRAM_BINS as f64;
        let edges: Vec<f64> = (0..=SCORE_HISTOGRAM_BINS)
            .map(|edge| self.low + edge as f64 * width)
            .collect();
        [
            ("healthy pixels", &self.healthy),
            ("anomalous pixels", &self.anomalous),
        ]
        .into_iter()
        .filter_map(|(label, counts)| {
            let total: u64 = counts.iter().sum();
            (total > 0).then(|| HistogramSeries {
                label: label.to_string(),
                bin_edges: edges.clone(),
                densities: counts
                    .iter()
                    .map(|&count| count as f64 / (total as f64 * width))
                    .collect(),
            })
        })
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_counted_apart_and_integrate_to_one() {
        let mut histogram = ScoreHistogram::new(0.0, 4.0);
        histogram.add(
            &[0.0, 0.01, 3.99, 4.0, 9.0],
            &[false, false, true, true, true],
        );
        let mut other = ScoreHistogram::new(0.0, 4.0);
        other.add(&[-1.0], &[false]);
        histogram.merge(&other);
        assert_eq!(histogram.healthy[0], 3, "below the range: first bin");
        assert_eq!(histogram.anomalous[SCORE_HISTOGRAM_BINS - 1], 3);
        let series = histogram.series();
        assert_eq!(series.len(), 2);
        for one in &series {
            let width = one.bin_edges[1] - one.bin_edges[0];
            let area: f64 = one.densities.iter().map(|d| d * width).sum();
            assert!((area - 1.0).abs() < 1e-12, "{}", one.label);
        }
        let healthy_only = {
            let mut h = ScoreHistogram::new(1.0, 1.0);
            h.add(&[1.0], &[false]);
            h.series()
        };
        assert_eq!(healthy_only.len(), 1);
        assert_eq!(healthy_only[0].label, "healthy pixels");
    }
}

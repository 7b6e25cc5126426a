//! [`PooledRanking`]: pixel AUROC, average precision and F1-max over every pixel of a data set,
//! fed one image at a time, in bounded memory.
//!
//! Exact mode keeps each score as an `f32` in one of two lists (4 bytes per pixel; 1,000 maps
//! of 256×256 take 262 MB) and sorts each once. Histogram mode keeps two `u64` counts per bin
//! (2^16 bins: 1 MiB whatever the number of pixels); its metrics are the exact metrics of the
//! scores rounded down to their bin's lower edge, and [`RankingSummary::auroc_error_bound`]
//! reports how far that can move the AUROC:
//!
//! `|AUROC_hist − AUROC| ≤ Σ_b P_b·N_b / (2·P·N)`
//!
//! where `P_b`, `N_b` count positives and negatives in bin `b` (only pairs sharing a bin lose
//! their order, and each such pair is scored ½ instead of 0 or 1). With 2^16 bins over the
//! map's value range this is typically below 1e-4.

use serde::{Deserialize, Serialize};

use crate::binning::ScoreBins;
use crate::error::Result;
use crate::input::{check_finite, check_not_empty, check_same_len};
use crate::roc::{
    RankingSummary, RankingSweep, RocCurve, ThresholdStep, roc_curve_from_steps, sort_descending,
    sweep_sorted_descending,
};

/// How a pooled accumulator stores scores.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum PoolingMode {
    /// Keep every score; exact metrics; 4 bytes per pixel (AUPRO: 8).
    Exact,
    /// Count scores in fixed bins over a known range; bounded memory; scores outside the range
    /// are rejected.
    Histogram(ScoreBins),
    /// Exact while at most `max_exact_pixels` pixels are held, then folded into the histogram
    /// once and kept there. Every score must lie in the bins' range from the start.
    ExactUpTo {
        /// Largest number of pixels kept exactly.
        max_exact_pixels: usize,
        /// The histogram used beyond that.
        bins: ScoreBins,
    },
}

impl PoolingMode {
    /// The histogram bins this mode may use, if any.
    pub(crate) fn bins(&self) -> Option<ScoreBins> {
        match *self {
            Self::Exact => None,
            Self::Histogram(bins) | Self::ExactUpTo { bins, .. } => Some(bins),
        }
    }

    /// True when a store holding `n_pixels` exactly must switch to the histogram.
    pub(crate) fn exceeds_exact_limit(&self, n_pixels: usize) -> bool {
        matches!(*self, Self::ExactUpTo { max_exact_pixels, .. } if n_pixels > max_exact_pixels)
    }
}

/// Pooled pixel ranking over many maps: add each image's `(map, mask)`, then read the metrics.
///
/// ```
/// use dtunet_metrics::{PooledRanking, PoolingMode, ScoreBins};
/// let bins = ScoreBins::new(0.0, 4.0, ScoreBins::DEFAULT_N_BINS).unwrap();
/// let mut pooled = PooledRanking::new(PoolingMode::Histogram(bins));
/// pooled.add(&[0.1, 3.0, 0.2, 0.0], &[false, true, false, false]).unwrap();
/// pooled.add(&[0.5, 0.4, 2.0, 0.3], &[false, false, true, true]).unwrap();
/// let summary = pooled.summary().unwrap();
/// assert!((summary.auroc - 13.0 / 15.0).abs() <= summary.auroc_error_bound + 1e-12);
/// ```
#[derive(Debug, Clone)]
pub struct PooledRanking {
    mode: PoolingMode,
    store: RankingStore,
    n_images: usize,
}

/// The scores seen so far.
#[derive(Debug, Clone)]
enum RankingStore {
    Exact {
        positives: Vec<f32>,
        negatives: Vec<f32>,
        sorted: bool,
    },
    Histogram {
        bins: ScoreBins,
        positives: Vec<u64>,
        negatives: Vec<u64>,
    },
}

impl RankingStore {
    fn empty_histogram(bins: ScoreBins) -> Self {
        Self::Histogram {
            bins,
            positives: vec![0; bins.n_bins()],
            negatives: vec![0; bins.n_bins()],
        }
    }
}

impl PooledRanking {
    /// An empty accumulator storing scores as `mode` says.
    pub fn new(mode: PoolingMode) -> Self {
        let store = match mode {
            PoolingMode::Histogram(bins) => RankingStore::empty_histogram(bins),
            PoolingMode::Exact | PoolingMode::ExactUpTo { .. } => RankingStore::Exact {
                positives: Vec::new(),
                negatives: Vec::new(),
                sorted: true,
            },
        };
        Self {
            mode,
            store,
            n_images: 0,
        }
    }

    /// Adds one image's scores and labels (`true` = anomalous). On error nothing is added.
    ///
    /// # Shapes
    /// `scores` and `labels`: `[n_pixels]`, e.g. a `height × width` map and its mask.
    ///
    /// # Errors
    /// Empty input, different lengths, a non-finite score, or (with bins) a score outside the
    /// bins' range.
    pub fn add(&mut self, scores: &[f32], labels: &[bool]) -> Result<()> {
        check_not_empty("scores", scores.len())?;
        check_same_len("labels", labels.len(), "scores", scores.len())?;
        check_finite("scores", scores)?;
        if let Some(bins) = self.mode.bins() {
            bins.check_range("scores", scores)?;
        }
        match &mut self.store {
            RankingStore::Exact {
                positives,
                negatives,
                sorted,
            } => {
                for (&score, &is_positive) in scores.iter().zip(labels) {
                    if is_positive {
                        positives.push(score)
                    } else {
                        negatives.push(score)
                    }
                }
                *sorted = false;
            }
            RankingStore::Histogram {
                bins,
                positives,
                negatives,
            } => {
                add_to_histogram(bins, positives, negatives, scores, labels);
            }
        }
        self.n_images += 1;
        if self.is_exact() && self.mode.exceeds_exact_limit(self.n_pixels() as usize) {
            self.fold_into_histogram();
        }
        Ok(())
    }

    /// Number of images added.
    pub fn n_images(&self) -> usize {
        self.n_images
    }

    /// Number of pixels added.
    pub fn n_pixels(&self) -> u64 {
        let (positives, negatives) = self.class_counts();
        positives + negatives
    }

    /// True while the metrics are exact (no histogram in use).
    pub fn is_exact(&self) -> bool {
        matches!(self.store, RankingStore::Exact { .. })
    }

    /// `(positives, negatives)` added so far.
    pub fn class_counts(&self) -> (u64, u64) {
        match &self.store {
            RankingStore::Exact {
                positives,
                negatives,
                ..
            } => (positives.len() as u64, negatives.len() as u64),
            RankingStore::Histogram {
                positives,
                negatives,
                ..
            } => (positives.iter().sum(), negatives.iter().sum()),
        }
    }

    /// AUROC, average precision and F1-max over all pixels added; `None` until both classes
    /// have been seen. Sorts the exact store once (hence `&mut`).
    pub fn summary(&mut self) -> Option<RankingSummary> {
        let (n_positives, n_negatives) = self.class_counts();
        let mut sweep = RankingSweep::new(n_positives, n_negatives);
        self.for_each_step(|step| sweep.step(step));
        sweep.finish(!self.is_exact())
    }

    /// The pooled ROC curve: one point per distinct score (exact) or per non-empty bin
    /// (histogram, at most `n_bins + 1` points); `None` until both classes have been seen.
    pub fn roc_curve(&mut self) -> Option<RocCurve> {
        let (n_positives, n_negatives) = self.class_counts();
        let mut steps = Vec::new();
        self.for_each_step(|step| steps.push(step));
        roc_curve_from_steps(n_positives, n_negatives, steps)
    }

    /// Visits each distinct threshold from the highest down.
    fn for_each_step(&mut self, mut visit: impl FnMut(ThresholdStep)) {
        match &mut self.store {
            RankingStore::Exact {
                positives,
                negatives,
                sorted,
            } => {
                if !*sorted {
                    sort_descending(positives);
                    sort_descending(negatives);
                    *sorted = true;
                }
                sweep_sorted_descending(
                    positives,
                    |&score| score,
                    negatives,
                    |score, run, n| {
                        visit(ThresholdStep {
                            threshold: f64::from(score),
                            positives: run.len() as u64,
                            negatives: n,
                        });
                    },
                );
            }
            RankingStore::Histogram {
                bins,
                positives,
                negatives,
            } => {
                for bin in (0..bins.n_bins()).rev() {
                    if positives[bin] + negatives[bin] > 0 {
                        visit(ThresholdStep {
                            threshold: bins.edge(bin),
                            positives: positives[bin],
                            negatives: negatives[bin],
                        });
                    }
                }
            }
        }
    }

    /// Moves the exact store into the histogram of an `ExactUpTo` mode.
    fn fold_into_histogram(&mut self) {
        let Some(bins) = self.mode.bins() else { return };
        let exact = std::mem::replace(&mut self.store, RankingStore::empty_histogram(bins));
        if let (
            RankingStore::Exact {
                positives: exact_positives,
                negatives: exact_negatives,
                ..
            },
            RankingStore::Histogram {
                bins,
                positives,
                negatives,
            },
        ) = (exact, &mut self.store)
        {
            let labels = vec![true; exact_positives.len()];
            add_to_histogram(bins, positives, negatives, &exact_positives, &labels);
            let labels = vec![false; exact_negatives.len()];
            add_to_histogram(bins, positives, negatives, &exact_negatives, &labels);
        }
    }
}

/// Counts each score in its bin, split by label; scores must already be range-checked.
fn add_to_histogram(
    bins: &ScoreBins,
    positives: &mut [u64],
    negatives: &mut [u64],
    scores: &[f32],
    labels: &[bool],
) {
    for (&score, &is_positive) in scores.iter().zip(labels) {
        let Some(bin) = bins.bin_of(f64::from(score)) else {
            continue;
        };
        if is_positive {
            positives[bin] += 1;
        } else {
            negatives[bin] += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roc::ranking_summary;

    /// A 40×56 map with a smooth score field and a blob-shaped mask, varied per image.
    fn synthetic_image(image: usize) -> (Vec<f32>, Vec<bool>) {
        let (height, width) = (40, 56);
        let mut map = Vec::with_capacity(height * width);
        let mut mask = Vec::with_capacity(height * width);
        for row in 0..height {
            for col in 0..width {
                let i = (row * width + col + 31 * image) as f64;
                let blob = (row as f64 - 20.0).powi(2) / 60.0
                    + (col as f64 - 10.0 - 3.0 * image as f64).powi(2) / 90.0;
                mask.push(blob < 1.0);
                let score = 0.5 + 0.3 * (i * 0.1).sin() + if blob < 1.5 { 0.8 } else { 0.0 };
                map.push(score as f32);
            }
        }
        (map, mask)
    }

    #[test]
    fn pooled_exact_equals_one_big_ranking() {
        let mut pooled = PooledRanking::new(PoolingMode::Exact);
        let (mut all_scores, mut all_labels) = (Vec::new(), Vec::new());
        for image in 0..5 {
            let (map, mask) = synthetic_image(image);
            pooled.add(&map, &mask).unwrap();
            all_scores.extend_from_slice(&map);
            all_labels.extend_from_slice(&mask);
        }
        let pooled = pooled.summary().unwrap();
        let single = ranking_summary(&all_scores, &all_labels).unwrap().unwrap();
        assert_eq!(pooled, single);
        assert_eq!(pooled.auroc_error_bound, 0.0);
    }

    #[test]
    fn histogram_stays_within_its_bound() {
        let bins = ScoreBins::new(0.0, 2.0, 1 << 12).unwrap();
        let mut exact = PooledRanking::new(PoolingMode::Exact);
        let mut binned = PooledRanking::new(PoolingMode::Histogram(bins));
        for image in 0..5 {
            let (map, mask) = synthetic_image(image);
            exact.add(&map, &mask).unwrap();
            binned.add(&map, &mask).unwrap();
        }
        let exact = exact.summary().unwrap();
        let binned = binned.summary().unwrap();
        assert!(binned.auroc_error_bound > 0.0 && binned.auroc_error_bound < 1e-3);
        assert!((binned.auroc - exact.auroc).abs() <= binned.auroc_error_bound + 1e-12);
        assert!((binned.average_precision - exact.average_precision).abs() < 1e-2);
        assert_eq!(binned.n_positives, exact.n_positives);
    }

    #[test]
    fn histogram_equals_exact_on_scores_at_bin_edges() {
        // Scores that are bin edges lose nothing to binning.
        let bins = ScoreBins::new(0.0, 1.0, 16).unwrap();
        let scores: Vec<f32> = (0..64)
            .map(|i| ((i * 7) % 17) as f32 / 16.0)
            .filter(|&s| s < 1.0)
            .collect();
        let labels: Vec<bool> = (0..scores.len()).map(|i| i % 3 == 0).collect();
        let mut binned = PooledRanking::new(PoolingMode::Histogram(bins));
        binned.add(&scores, &labels).unwrap();
        let binned = binned.summary().unwrap();
        let exact = ranking_summary(&scores, &labels).unwrap().unwrap();
        assert!((binned.auroc - exact.auroc).abs() < 1e-15);
        assert!((binned.average_precision - exact.average_precision).abs() < 1e-15);
        assert_eq!(binned.f1_max, exact.f1_max);
    }

    #[test]
    fn exact_up_to_switches_once_past_the_limit() {
        let bins = ScoreBins::new(0.0, 2.0, ScoreBins::DEFAULT_N_BINS).unwrap();
        let mode = PoolingMode::ExactUpTo {
            max_exact_pixels: 2 * 40 * 56,
            bins,
        };
        let mut adaptive = PooledRanking::new(mode);
        let mut binned = PooledRanking::new(PoolingMode::Histogram(bins));
        for image in 0..4 {
            let (map, mask) = synthetic_image(image);
            adaptive.add(&map, &mask).unwrap();
            binned.add(&map, &mask).unwrap();
            assert_eq!(adaptive.is_exact(), image < 2);
        }
        assert_eq!(adaptive.n_images(), 4);
        assert_eq!(adaptive.n_pixels(), 4 * 40 * 56);
        assert_eq!(adaptive.summary(), binned.summary());
    }

    #[test]
    fn one_class_so_far_gives_none_then_both_give_a_value() {
        let mut pooled = PooledRanking::new(PoolingMode::Exact);
        pooled.add(&[0.1, 0.2], &[false, false]).unwrap();
        assert_eq!(pooled.summary(), None);
        assert_eq!(pooled.roc_curve(), None);
        pooled.add(&[0.3], &[true]).unwrap();
        assert_eq!(pooled.summary().map(|s| s.auroc), Some(1.0));
    }

    #[test]
    fn rejected_image_leaves_the_accumulator_unchanged() {
        let bins = ScoreBins::new(0.0, 1.0, 8).unwrap();
        let mut pooled = PooledRanking::new(PoolingMode::Histogram(bins));
        pooled.add(&[0.1, 0.9], &[false, true]).unwrap();
        assert!(pooled.add(&[0.5, 1.5], &[false, true]).is_err());
        assert!(pooled.add(&[0.5, f32::NAN], &[false, true]).is_err());
        assert!(pooled.add(&[0.5], &[false, true]).is_err());
        assert_eq!(pooled.n_images(), 1);
        assert_eq!(pooled.class_counts(), (1, 1));
    }

    #[test]
    fn histogram_roc_curve_is_bounded_by_bins() {
        let bins = ScoreBins::new(0.0, 2.0, 64).unwrap();
        let mut pooled = PooledRanking::new(PoolingMode::Histogram(bins));
        for image in 0..3 {
            let (map, mask) = synthetic_image(image);
            pooled.add(&map, &mask).unwrap();
        }
        let curve = pooled.roc_curve().unwrap();
        assert!(curve.thresholds.len() <= 65);
        assert_eq!(curve.false_positive_rates.last(), Some(&1.0));
        assert_eq!(curve.true_positive_rates.last(), Some(&1.0));
    }
}

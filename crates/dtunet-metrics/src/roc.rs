//! Ranking metrics of a continuous anomaly score against binary labels (SPEC §6): AUROC, average
//! precision, the best F1 over thresholds and the ROC curve, for one image's pixels, for image
//! scores, and (through [`PooledRanking`]) for all pixels of a data set.
//!
//! Ties are exact: all scores equal to a threshold enter together, so AUROC is the trapezoid
//! over distinct thresholds and equals `sklearn.metrics.roc_auc_score`; average precision is
//! `sklearn.metrics.average_precision_score` (`Σ (R_k − R_{k−1}) · P_k`). A threshold `t` marks
//! a pixel anomalous when `score >= t`. With a single class present the metrics are undefined
//! and the functions return `None`, never `0.0`.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::input::{check_finite, check_not_empty};
use crate::pooled::{PooledRanking, PoolingMode};

/// The best F1 (pixel Dice) over all thresholds, and the highest threshold reaching it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct F1Max {
    /// `max_t 2·TP(t) / (2·TP(t) + FP(t) + FN(t))`, in `[0, 1]`.
    pub f1: f64,
    /// The threshold reaching it: anomalous when `score >= threshold` (score units).
    pub threshold: f64,
}

/// AUROC, average precision and F1-max of one ranking, with its class counts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RankingSummary {
    /// Area under the ROC curve, in `[0, 1]`; 0.5 is chance.
    pub auroc: f64,
    /// Average precision (area under the precision-recall step curve), in `[0, 1]`.
    pub average_precision: f64,
    /// The best F1 over thresholds.
    pub f1_max: F1Max,
    /// Number of positive (anomalous) samples.
    pub n_positives: u64,
    /// Number of negative (normal) samples.
    pub n_negatives: u64,
    /// Largest possible `|auroc − exact auroc|`: 0 for exact rankings; for a histogram, the
    /// share of (positive, negative) pairs whose order a shared bin hides, halved.
    pub auroc_error_bound: f64,
}

/// ROC curve points from the highest threshold down: `(0, 0)` at threshold `+∞`, then one
/// point per distinct threshold, ending at `(1, 1)`; the layout of `sklearn.metrics.roc_curve`
/// with `drop_intermediate=False`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RocCurve {
    /// `FP(t) / N` per point, non-decreasing.
    pub false_positive_rates: Vec<f64>,
    /// `TP(t) / P` per point, non-decreasing.
    pub true_positive_rates: Vec<f64>,
    /// The thresholds, decreasing; anomalous when `score >= threshold`.
    pub thresholds: Vec<f64>,
}

/// All samples sharing one distinct threshold, in a sweep from the highest score down.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ThresholdStep {
    /// The score (exact mode) or bin lower edge (histogram mode).
    pub(crate) threshold: f64,
    /// Positives at this threshold.
    pub(crate) positives: u64,
    /// Negatives at this threshold.
    pub(crate) negatives: u64,
}

/// Walks the distinct scores of two lists sorted in descending order, highest first, handing
/// `visit` each score with the run of `positives` and the number of `negatives` equal to it.
///
/// `positives` may carry data beside the score (AUPRO's region index); `score_of` reads it.
pub(crate) fn sweep_sorted_descending<P>(
    positives: &[P],
    score_of: impl Fn(&P) -> f32,
    negatives: &[f32],
    mut visit: impl FnMut(f32, &[P], u64),
) {
    let (mut next_positive, mut next_negative) = (0, 0);
    loop {
        let threshold = match (positives.get(next_positive), negatives.get(next_negative)) {
            (Some(positive), Some(&negative)) => score_of(positive).max(negative),
            (Some(positive), None) => score_of(positive),
            (None, Some(&negative)) => negative,
            (None, None) => return,
        };
        // `==` (not the sort order) decides ties, so -0.0 and +0.0 share a threshold.
        let group_start = next_positive;
        while positives
            .get(next_positive)
            .is_some_and(|p| score_of(p) == threshold)
        {
            next_positive += 1;
        }
        let negatives_start = next_negative;
        while negatives
            .get(next_negative)
            .is_some_and(|&n| n == threshold)
        {
            next_negative += 1;
        }
        visit(
            threshold,
            &positives[group_start..next_positive],
            (next_negative - negatives_start) as u64,
        );
    }
}

/// Sorts scores in descending order (`-0.0` next to `+0.0`).
pub(crate) fn sort_descending(scores: &mut [f32]) {
    scores.sort_unstable_by(|a, b| b.total_cmp(a));
}

/// Folds threshold steps (highest first) into AUROC, average precision and F1-max.
pub(crate) struct RankingSweep {
    n_positives: u64,
    n_negatives: u64,
    true_positives: u64,
    false_positives: u64,
    /// `2 · P · N · AUROC` so far, kept in integers so the area is exact.
    twice_area: u128,
    /// `P · AP` so far.
    recall_weighted_precision: f64,
    /// `Σ positives · negatives` over steps: the pairs a step's tie scores as one half.
    tied_pairs: u128,
    best: Option<F1Max>,
}

impl RankingSweep {
    /// A sweep over `n_positives` positives and `n_negatives` negatives in all.
    pub(crate) fn new(n_positives: u64, n_negatives: u64) -> Self {
        Self {
            n_positives,
            n_negatives,
            true_positives: 0,
            false_positives: 0,
            twice_area: 0,
            recall_weighted_precision: 0.0,
            tied_pairs: 0,
            best: None,
        }
    }

    /// Lowers the threshold to `step.threshold`.
    pub(crate) fn step(&mut self, step: ThresholdStep) {
        let previous_true_positives = self.true_positives;
        self.true_positives += step.positives;
        self.false_positives += step.negatives;
        self.twice_area +=
            u128::from(step.negatives) * u128::from(previous_true_positives + self.true_positives);
        self.tied_pairs += u128::from(step.positives) * u128::from(step.negatives);
        let precision =
            self.true_positives as f64 / (self.true_positives + self.false_positives) as f64;
        self.recall_weighted_precision += step.positives as f64 * precision;
        let f1 = (2 * self.true_positives) as f64
            / (self.true_positives + self.false_positives + self.n_positives) as f64;
        if self.best.is_none_or(|best| f1 > best.f1) {
            self.best = Some(F1Max {
                f1,
                threshold: step.threshold,
            });
        }
    }

    /// The metrics, or `None` when one class is absent. `binned` says whether steps were
    /// histogram bins (whose ties hide order) or exact scores.
    pub(crate) fn finish(self, binned: bool) -> Option<RankingSummary> {
        if self.n_positives == 0 || self.n_negatives == 0 {
            return None;
        }
        let pairs = u128::from(self.n_positives) * u128::from(self.n_negatives);
        let auroc_error_bound = if binned {
            self.tied_pairs as f64 / (2.0 * pairs as f64)
        } else {
            0.0
        };
        Some(RankingSummary {
            auroc: self.twice_area as f64 / (2.0 * pairs as f64),
            average_precision: self.recall_weighted_precision / self.n_positives as f64,
            f1_max: self.best?,
            n_positives: self.n_positives,
            n_negatives: self.n_negatives,
            auroc_error_bound,
        })
    }
}

/// Collects ROC points from threshold steps (highest first).
pub(crate) fn roc_curve_from_steps(
    n_positives: u64,
    n_negatives: u64,
    steps: impl IntoIterator<Item = ThresholdStep>,
) -> Option<RocCurve> {
    if n_positives == 0 || n_negatives == 0 {
        return None;
    }
    let mut curve = RocCurve {
        false_positive_rates: vec![0.0],
        true_positive_rates: vec![0.0],
        thresholds: vec![f64::INFINITY],
    };
    let (mut true_positives, mut false_positives) = (0u64, 0u64);
    for step in steps {
        true_positives += step.positives;
        false_positives += step.negatives;
        curve
            .false_positive_rates
            .push(false_positives as f64 / n_negatives as f64);
        curve
            .true_positive_rates
            .push(true_positives as f64 / n_positives as f64);
        curve.thresholds.push(step.threshold);
    }
    Some(curve)
}

/// AUROC, average precision and F1-max of `scores` against `labels` (`true` = anomalous),
/// exact, from one sort; `None` when all labels are equal.
///
/// # Shapes
/// `scores` and `labels`: `[n]` (pixels of a map, or one score per image).
///
/// # Errors
/// Empty input, different lengths, or a non-finite score.
pub fn ranking_summary(scores: &[f32], labels: &[bool]) -> Result<Option<RankingSummary>> {
    let mut ranking = PooledRanking::new(PoolingMode::Exact);
    ranking.add(scores, labels)?;
    Ok(ranking.summary())
}

/// Exact AUROC of `scores` against `labels`, equal to `sklearn.metrics.roc_auc_score`; `None`
/// when all labels are equal.
///
/// # Shapes
/// `scores` and `labels`: `[n]`.
///
/// # Errors
/// Empty input, different lengths, or a non-finite score.
pub fn auroc(scores: &[f32], labels: &[bool]) -> Result<Option<f64>> {
    Ok(ranking_summary(scores, labels)?.map(|summary| summary.auroc))
}

/// Average precision, equal to `sklearn.metrics.average_precision_score`; `None` when all
/// labels are equal.
///
/// # Shapes
/// `scores` and `labels`: `[n]`.
///
/// # Errors
/// Empty input, different lengths, or a non-finite score.
pub fn average_precision(scores: &[f32], labels: &[bool]) -> Result<Option<f64>> {
    Ok(ranking_summary(scores, labels)?.map(|summary| summary.average_precision))
}

/// The best F1 over all thresholds and the highest threshold reaching it; `None` when all
/// labels are equal.
///
/// # Shapes
/// `scores` and `labels`: `[n]`.
///
/// # Errors
/// Empty input, different lengths, or a non-finite score.
pub fn f1_max(scores: &[f32], labels: &[bool]) -> Result<Option<F1Max>> {
    Ok(ranking_summary(scores, labels)?.map(|summary| summary.f1_max))
}

/// The ROC curve at every distinct threshold; `None` when all labels are equal.
///
/// # Shapes
/// `scores` and `labels`: `[n]`; the curve has one point per distinct score, plus `(0, 0)`.
///
/// # Errors
/// Empty input, different lengths, or a non-finite score.
pub fn roc_curve(scores: &[f32], labels: &[bool]) -> Result<Option<RocCurve>> {
    let mut ranking = PooledRanking::new(PoolingMode::Exact);
    ranking.add(scores, labels)?;
    Ok(ranking.roc_curve())
}

/// An image's anomaly score: the maximum of its anomaly map.
///
/// # Shapes
/// `map`: `[height · width]`.
///
/// # Errors
/// An empty map or a non-finite value.
pub fn image_score(map: &[f32]) -> Result<f32> {
    check_not_empty("map", map.len())?;
    check_finite("map", map)?;
    Ok(map.iter().copied().fold(f32::NEG_INFINITY, f32::max))
}

/// Image-level AUROC with each image scored by the maximum of its map; `None` when all images
/// are normal or all anomalous.
///
/// # Shapes
/// `maps`: one `[height · width]` map per image (sizes may differ); `anomalous`: `[n_images]`.
///
/// # Errors
/// No images, an empty map, a non-finite value, or as many labels as maps not given.
pub fn image_auroc(maps: &[&[f32]], anomalous: &[bool]) -> Result<Option<f64>> {
    let scores = maps
        .iter()
        .map(|map| image_score(map))
        .collect::<Result<Vec<_>>>()?;
    auroc(&scores, anomalous)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random stream in `[0, 1)` (SplitMix64).
    fn uniform_stream(seed: u64, n: usize) -> Vec<f64> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                (z ^ (z >> 31)) as f64 / 2f64.powi(64)
            })
            .collect()
    }

    /// AUROC by counting pairs: P(score⁺ > score⁻) + ½ P(score⁺ = score⁻).
    fn pairwise_auroc(scores: &[f32], labels: &[bool]) -> f64 {
        let (mut wins, mut pairs) = (0.0, 0.0);
        for (&positive, _) in scores.iter().zip(labels).filter(|(_, l)| **l) {
            for (&negative, _) in scores.iter().zip(labels).filter(|(_, l)| !**l) {
                pairs += 1.0;
                wins += if positive > negative {
                    1.0
                } else if positive == negative {
                    0.5
                } else {
                    0.0
                };
            }
        }
        wins / pairs
    }

    #[test]
    fn perfect_reversed_and_tied_rankings() {
        let labels = [false, false, true, true];
        assert_eq!(auroc(&[0.1, 0.2, 0.3, 0.4], &labels).unwrap(), Some(1.0));
        assert_eq!(auroc(&[0.4, 0.3, 0.2, 0.1], &labels).unwrap(), Some(0.0));
        assert_eq!(auroc(&[0.5; 4], &labels).unwrap(), Some(0.5));
        assert_eq!(average_precision(&[0.5; 4], &labels).unwrap(), Some(0.5));
    }

    #[test]
    fn single_class_is_none_not_zero() {
        assert_eq!(auroc(&[0.1, 0.9], &[false, false]).unwrap(), None);
        assert_eq!(auroc(&[0.1, 0.9], &[true, true]).unwrap(), None);
        assert_eq!(f1_max(&[0.1, 0.9], &[true, true]).unwrap(), None);
        assert_eq!(roc_curve(&[0.1, 0.9], &[false, false]).unwrap(), None);
    }

    #[test]
    fn matches_pair_counting_with_ties() {
        let uniform = uniform_stream(7, 300);
        let scores: Vec<f32> = uniform.iter().map(|u| (u * 12.0).floor() as f32).collect();
        let labels: Vec<bool> = uniform_stream(8, 300)
            .iter()
            .zip(&uniform)
            .map(|(v, u)| v + u > 1.0)
            .collect();
        let exact = auroc(&scores, &labels).unwrap().unwrap();
        assert!((exact - pairwise_auroc(&scores, &labels)).abs() < 1e-12);
    }

    #[test]
    fn signed_zeros_share_a_threshold() {
        let labels = [true, false];
        assert_eq!(auroc(&[-0.0, 0.0], &labels).unwrap(), Some(0.5));
        assert_eq!(auroc(&[0.0, -0.0], &labels).unwrap(), Some(0.5));
    }

    #[test]
    fn invariant_under_monotone_rescaling() {
        for seed in 0..20 {
            let uniform = uniform_stream(seed, 200);
            let scores: Vec<f32> = uniform
                .iter()
                .map(|u| (u * 50.0).floor() as f32 / 50.0)
                .collect();
            let labels: Vec<bool> = uniform_stream(seed + 100, 200)
                .iter()
                .zip(&uniform)
                .map(|(v, u)| 0.6 * u + 0.4 * v > 0.55)
                .collect();
            let reference = ranking_summary(&scores, &labels).unwrap().unwrap();
            // Strictly increasing maps keep the order and the ties.
            for rescale in [
                |s: f32| 3.0 * s + 1.0,
                |s: f32| s.exp(),
                |s: f32| s * s * s - 7.0,
            ] {
                let rescaled: Vec<f32> = scores.iter().map(|&s| rescale(s)).collect();
                let summary = ranking_summary(&rescaled, &labels).unwrap().unwrap();
                assert!((summary.auroc - reference.auroc).abs() < 1e-12);
                assert!((summary.average_precision - reference.average_precision).abs() < 1e-12);
                assert!((summary.f1_max.f1 - reference.f1_max.f1).abs() < 1e-12);
            }
            // Reversing the order reflects the AUROC.
            let negated: Vec<f32> = scores.iter().map(|&s| -s).collect();
            let reflected = auroc(&negated, &labels).unwrap().unwrap();
            assert!((reflected - (1.0 - reference.auroc)).abs() < 1e-12);
        }
    }

    #[test]
    fn f1_max_picks_the_highest_best_threshold() {
        let scores = [0.9, 0.8, 0.7, 0.6, 0.5];
        let labels = [true, false, true, false, false];
        let best = f1_max(&scores, &labels).unwrap().unwrap();
        // t = 0.9: 2/3; t = 0.7: 2·2/(2·2+1) = 0.8.
        assert!((best.f1 - 0.8).abs() < 1e-12);
        assert_eq!(best.threshold, 0.7f32 as f64);
    }

    #[test]
    fn roc_curve_points() {
        let curve = roc_curve(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true])
            .unwrap()
            .unwrap();
        assert_eq!(curve.false_positive_rates, vec![0.0, 0.0, 0.5, 0.5, 1.0]);
        assert_eq!(curve.true_positive_rates, vec![0.0, 0.5, 0.5, 1.0, 1.0]);
        assert_eq!(curve.thresholds[0], f64::INFINITY);
        assert_eq!(curve.thresholds[1], 0.8f32 as f64);
    }

    #[test]
    fn image_auroc_scores_by_the_maximum() {
        let normal: [f32; 4] = [0.1, 0.2, 0.0, 0.3];
        let anomalous: [f32; 4] = [0.0, 0.9, 0.1, 0.1];
        assert_eq!(image_score(&anomalous).unwrap(), 0.9);
        let auc = image_auroc(&[&normal, &anomalous], &[false, true]).unwrap();
        assert_eq!(auc, Some(1.0));
    }

    #[test]
    fn rejects_bad_input() {
        assert!(auroc(&[], &[]).is_err());
        assert!(auroc(&[0.1], &[true, false]).is_err());
        assert!(auroc(&[0.1, f32::NAN], &[true, false]).is_err());
        assert!(image_score(&[]).is_err());
        assert!(image_auroc(&[&[0.1]], &[true, false]).is_err());
    }
}

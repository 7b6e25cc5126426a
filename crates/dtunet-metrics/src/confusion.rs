//! Pixel confusion counts of a binary prediction against a ground-truth mask, and the overlap
//! scores built from them (SPEC §6): Dice, IoU, precision, recall and false-positive rate.
//!
//! Conventions: both masks empty gives Dice = IoU = 1; any other empty denominator gives 0, as
//! scikit-learn's default `zero_division` does for precision and recall.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::input::{check_not_empty, check_same_len};

/// Pixel counts of a predicted mask against the ground truth.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionCounts {
    /// Predicted anomalous and truly anomalous.
    pub true_positives: u64,
    /// Predicted anomalous but normal.
    pub false_positives: u64,
    /// Predicted normal and truly normal.
    pub true_negatives: u64,
    /// Predicted normal but anomalous.
    pub false_negatives: u64,
}

impl ConfusionCounts {
    /// Counts `predicted` against `truth`, pixel by pixel (`true` = anomalous).
    ///
    /// # Shapes
    /// `predicted` and `truth`: `[n_pixels]`, any layout as long as both share it.
    ///
    /// # Errors
    /// Empty inputs or different lengths.
    pub fn from_masks(predicted: &[bool], truth: &[bool]) -> Result<Self> {
        check_not_empty("truth", truth.len())?;
        check_same_len("predicted", predicted.len(), "truth", truth.len())?;
        let mut counts = Self::default();
        for (&is_predicted, &is_anomalous) in predicted.iter().zip(truth) {
            match (is_predicted, is_anomalous) {
                (true, true) => counts.true_positives += 1,
                (true, false) => counts.false_positives += 1,
                (false, false) => counts.true_negatives += 1,
                (false, true) => counts.false_negatives += 1,
            }
        }
        Ok(counts)
    }

    /// Dice `2TP / (2TP + FP + FN)`; 1 when both masks are empty.
    pub fn dice(&self) -> f64 {
        let denominator = 2 * self.true_positives + self.false_positives + self.false_negatives;
        if denominator == 0 {
            return 1.0;
        }
        (2 * self.true_positives) as f64 / denominator as f64
    }

    /// Intersection over union `TP / (TP + FP + FN)`; 1 when both masks are empty.
    pub fn iou(&self) -> f64 {
        let denominator = self.true_positives + self.false_positives + self.false_negatives;
        if denominator == 0 {
            return 1.0;
        }
        self.true_positives as f64 / denominator as f64
    }

    /// Precision `TP / (TP + FP)`; 0 when nothing is predicted.
    pub fn precision(&self) -> f64 {
        ratio_or_zero(
            self.true_positives,
            self.true_positives + self.false_positives,
        )
    }

    /// Recall (sensitivity) `TP / (TP + FN)`; 0 when the ground truth is empty.
    pub fn recall(&self) -> f64 {
        ratio_or_zero(
            self.true_positives,
            self.true_positives + self.false_negatives,
        )
    }

    /// False-positive rate `FP / (FP + TN)`; 0 when there are no normal pixels.
    pub fn false_positive_rate(&self) -> f64 {
        ratio_or_zero(
            self.false_positives,
            self.false_positives + self.true_negatives,
        )
    }

    /// All five overlap scores at once.
    pub fn scores(&self) -> OverlapScores {
        OverlapScores {
            dice: self.dice(),
            iou: self.iou(),
            precision: self.precision(),
            recall: self.recall(),
            false_positive_rate: self.false_positive_rate(),
        }
    }
}

impl std::ops::Add for ConfusionCounts {
    type Output = Self;

    /// Pools the counts of two images.
    fn add(self, other: Self) -> Self {
        Self {
            true_positives: self.true_positives + other.true_positives,
            false_positives: self.false_positives + other.false_positives,
            true_negatives: self.true_negatives + other.true_negatives,
            false_negatives: self.false_negatives + other.false_negatives,
        }
    }
}

/// The overlap scores of one predicted mask, each in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OverlapScores {
    /// `2TP / (2TP + FP + FN)`.
    pub dice: f64,
    /// `TP / (TP + FP + FN)`.
    pub iou: f64,
    /// `TP / (TP + FP)`.
    pub precision: f64,
    /// `TP / (TP + FN)`.
    pub recall: f64,
    /// `FP / (FP + TN)`.
    pub false_positive_rate: f64,
}

/// The overlap scores of `predicted` against `truth` (`true` = anomalous).
///
/// # Shapes
/// `predicted` and `truth`: `[n_pixels]`.
///
/// # Errors
/// Empty inputs or different lengths.
pub fn overlap_scores(predicted: &[bool], truth: &[bool]) -> Result<OverlapScores> {
    Ok(ConfusionCounts::from_masks(predicted, truth)?.scores())
}

/// `numerator / denominator`, or 0 when the denominator is 0.
fn ratio_or_zero(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 {
        return 0.0;
    }
    numerator as f64 / denominator as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textbook_definitions() {
        //                 tp     fp     fn     tn     tn
        let predicted = [true, true, false, false, false];
        let truth = [true, false, true, false, false];
        let counts = ConfusionCounts::from_masks(&predicted, &truth).unwrap();
        assert_eq!(
            counts,
            ConfusionCounts {
                true_positives: 1,
                false_positives: 1,
                true_negatives: 2,
                false_negatives: 1
            }
        );
        let scores = counts.scores();
        assert_eq!(scores.dice, 0.5);
        assert_eq!(scores.iou, 1.0 / 3.0);
        assert_eq!(scores.precision, 0.5);
        assert_eq!(scores.recall, 0.5);
        assert_eq!(scores.false_positive_rate, 1.0 / 3.0);
    }

    #[test]
    fn precision_and_recall_are_not_swapped() {
        // 1 TP, 3 FP, 0 FN: precision is low, recall perfect.
        let scores =
            overlap_scores(&[true, true, true, true], &[true, false, false, false]).unwrap();
        assert_eq!(scores.precision, 0.25);
        assert_eq!(scores.recall, 1.0);
    }

    #[test]
    fn both_empty_is_a_perfect_overlap() {
        let scores = overlap_scores(&[false; 6], &[false; 6]).unwrap();
        assert_eq!((scores.dice, scores.iou), (1.0, 1.0));
        assert_eq!(
            (scores.precision, scores.recall, scores.false_positive_rate),
            (0.0, 0.0, 0.0)
        );
    }

    #[test]
    fn empty_denominators_give_zero() {
        let all_anomalous = overlap_scores(&[true; 4], &[true; 4]).unwrap();
        assert_eq!(all_anomalous.false_positive_rate, 0.0);
        let missed = overlap_scores(&[false; 4], &[true, false, false, false]).unwrap();
        assert_eq!(
            (missed.dice, missed.precision, missed.recall),
            (0.0, 0.0, 0.0)
        );
    }

    #[test]
    fn counts_pool_by_addition() {
        let first = ConfusionCounts::from_masks(&[true, false], &[true, true]).unwrap();
        let second = ConfusionCounts::from_masks(&[true, false], &[false, false]).unwrap();
        let pooled =
            ConfusionCounts::from_masks(&[true, false, true, false], &[true, true, false, false])
                .unwrap();
        assert_eq!(first + second, pooled);
    }

    #[test]
    fn dice_and_iou_stay_in_unit_interval() {
        // Every pair of 4-pixel masks.
        for predicted_bits in 0u8..16 {
            for truth_bits in 0u8..16 {
                let predicted: Vec<bool> = (0..4).map(|i| predicted_bits >> i & 1 == 1).collect();
                let truth: Vec<bool> = (0..4).map(|i| truth_bits >> i & 1 == 1).collect();
                let scores = overlap_scores(&predicted, &truth).unwrap();
                for value in [scores.dice, scores.iou, scores.precision, scores.recall] {
                    assert!((0.0..=1.0).contains(&value));
                }
                // Dice = 2·IoU / (1 + IoU).
                let from_iou = 2.0 * scores.iou / (1.0 + scores.iou);
                assert!((scores.dice - from_iou).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn rejects_bad_input() {
        assert!(overlap_scores(&[], &[]).is_err());
        assert!(overlap_scores(&[true], &[true, false]).is_err());
    }
}

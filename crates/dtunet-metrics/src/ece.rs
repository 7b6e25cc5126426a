//! Expected calibration error of an anomaly map read as a per-pixel anomaly confidence
//! (SPEC §6).
//!
//! The error map is scaled to a confidence in `[0, 1]` by its largest possible value for images
//! in `[-1, 1]` (2 for the absolute error, 4 for the square error). Pixels fall into 10
//! equal-width bins on `[0, 1]`: bin `i = min(⌊10 · confidence⌋, 9)`, so the last bin is
//! closed. In each bin the "accuracy" is the fraction of ground-truth anomalous pixels and the
//! confidence is the mean confidence; `ECE = Σ_i |B_i| / N · |accuracy_i − confidence_i|`.
//! Unlike the reference code, the continuous map is used (not the binarised one) and values
//! equal to 1 are kept.

use serde::{Deserialize, Serialize};

use crate::error::{MetricsError, Result};
use crate::input::{check_finite, check_not_empty, check_same_len};

/// Number of equal-width confidence bins.
pub const N_CALIBRATION_BINS: usize = 10;

/// Which reconstruction error an anomaly map holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorMapKind {
    /// `|x − x̂|`, at most 2 for images in `[-1, 1]`.
    Absolute,
    /// `(x − x̂)²`, at most 4 for images in `[-1, 1]`.
    Square,
    /// `1 − local SSIM` of the images mapped to `[0, 1]` ([`crate::ssim_map`]), in `[0, 2]`.
    Ssim,
    /// `1 − cosine similarity` of a network's feature maps of the image and of its
    /// reconstruction, upsampled to the image, in `[0, 2]`; computed where the network is.
    Feature,
}

impl ErrorMapKind {
    /// The largest value the error can take for images in `[-1, 1]`.
    pub fn max_value(self) -> f64 {
        match self {
            Self::Absolute | Self::Ssim | Self::Feature => 2.0,
            Self::Square => 4.0,
        }
    }
}

/// Per-bin pixel counts and confidence sums; add images one at a time for a pooled ECE, or
/// use [`expected_calibration_error`] for one image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBins {
    kind: ErrorMapKind,
    /// Pixels per bin.
    pixels: [u64; N_CALIBRATION_BINS],
    /// Ground-truth anomalous pixels per bin.
    anomalous: [u64; N_CALIBRATION_BINS],
    /// Sum of confidences per bin.
    confidence_sums: [f64; N_CALIBRATION_BINS],
}

impl CalibrationBins {
    /// Empty bins for maps of `kind`.
    pub fn new(kind: ErrorMapKind) -> Self {
        Self {
            kind,
            pixels: [0; N_CALIBRATION_BINS],
            anomalous: [0; N_CALIBRATION_BINS],
            confidence_sums: [0.0; N_CALIBRATION_BINS],
        }
    }

    /// Adds one error map and its mask (`true` = anomalous). On error nothing is added.
    ///
    /// # Shapes
    /// `map` and `mask`: `[height · width]`, same layout.
    ///
    /// # Errors
    /// Empty input, different lengths, a non-finite value, or an error outside
    /// `[0, kind.max_value()]` (never clamped).
    pub fn add(&mut self, map: &[f32], mask: &[bool]) -> Result<()> {
        check_not_empty("map", map.len())?;
        check_same_len("mask", mask.len(), "map", map.len())?;
        check_finite("map", map)?;
        let max_value = self.kind.max_value();
        if let Some(index) = map
            .iter()
            .position(|&error| !(0.0..=max_value).contains(&f64::from(error)))
        {
            return Err(MetricsError::OutOfRange {
                what: "map",
                index,
                value: f64::from(map[index]),
                low: 0.0,
                high: max_value,
                fix: "compute the error on images in [-1, 1], or pick the matching error kind",
            });
        }
        for (&error, &is_anomalous) in map.iter().zip(mask) {
            let confidence = f64::from(error) / max_value;
            let bin =
                ((confidence * N_CALIBRATION_BINS as f64) as usize).min(N_CALIBRATION_BINS - 1);
            self.pixels[bin] += 1;
            self.anomalous[bin] += u64::from(is_anomalous);
            self.confidence_sums[bin] += confidence;
        }
        Ok(())
    }

    /// The error-map kind these bins were built for.
    pub fn kind(&self) -> ErrorMapKind {
        self.kind
    }

    /// Pixels in each bin.
    pub fn pixels(&self) -> &[u64; N_CALIBRATION_BINS] {
        &self.pixels
    }

    /// Fraction of anomalous pixels per bin (the reliability diagram's "accuracy"); `None`
    /// for an empty bin.
    pub fn accuracies(&self) -> [Option<f64>; N_CALIBRATION_BINS] {
        std::array::from_fn(|bin| {
            (self.pixels[bin] > 0).then(|| self.anomalous[bin] as f64 / self.pixels[bin] as f64)
        })
    }

    /// Mean confidence per bin; `None` for an empty bin.
    pub fn confidences(&self) -> [Option<f64>; N_CALIBRATION_BINS] {
        std::array::from_fn(|bin| {
            (self.pixels[bin] > 0).then(|| self.confidence_sums[bin] / self.pixels[bin] as f64)
        })
    }

    /// `Σ_i |B_i| / N · |accuracy_i − confidence_i|`, in `[0, 1]`; `None` before any pixel.
    pub fn ece(&self) -> Option<f64> {
        let n_pixels: u64 = self.pixels.iter().sum();
        if n_pixels == 0 {
            return None;
        }
        let weighted_gap: f64 = (0..N_CALIBRATION_BINS)
            .filter(|&bin| self.pixels[bin] > 0)
            .map(|bin| (self.anomalous[bin] as f64 - self.confidence_sums[bin]).abs())
            .sum();
        Some(weighted_gap / n_pixels as f64)
    }
}

/// ECE of one error map against its ground-truth mask.
///
/// # Shapes
/// `map` and `mask`: `[height · width]`, same layout.
///
/// # Errors
/// Empty input, different lengths, a non-finite value, or an error outside
/// `[0, kind.max_value()]`.
pub fn expected_calibration_error(map: &[f32], mask: &[bool], kind: ErrorMapKind) -> Result<f64> {
    let mut bins = CalibrationBins::new(kind);
    bins.add(map, mask)?;
    // `add` succeeded on a non-empty map, so the bins hold pixels.
    Ok(bins.ece().unwrap_or(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfectly_calibrated_bins_give_zero() {
        // Confidence 0.05 with no anomalies would be off by 0.05; use confidence 0 and 1.
        let map = [0.0f32, 0.0, 4.0, 4.0];
        let mask = [false, false, true, true];
        assert_eq!(
            expected_calibration_error(&map, &mask, ErrorMapKind::Square).unwrap(),
            0.0
        );
    }

    #[test]
    fn hand_computed_value() {
        // Absolute error: confidences 0.25, 0.25, 0.95, 1.0 → bins 2, 2, 9, 9.
        let map = [0.5f32, 0.5, 1.9, 2.0];
        let mask = [true, false, true, false];
        // Bin 2: acc 0.5, conf 0.25 → 2/4·0.25; bin 9: acc 0.5, conf 0.975 → 2/4·0.475.
        let ece = expected_calibration_error(&map, &mask, ErrorMapKind::Absolute).unwrap();
        assert!((ece - 0.3625).abs() < 1e-6, "{ece}");
    }

    #[test]
    fn one_is_kept_in_the_last_bin() {
        let mut bins = CalibrationBins::new(ErrorMapKind::Absolute);
        bins.add(&[2.0, 1.9], &[true, true]).unwrap();
        assert_eq!(bins.pixels()[9], 2);
        assert_eq!(bins.accuracies()[9], Some(1.0));
        assert_eq!(bins.accuracies()[0], None);
        assert!((bins.confidences()[9].unwrap() - 0.975).abs() < 1e-7);
    }

    #[test]
    fn pooling_weights_by_pixels() {
        let mut pooled = CalibrationBins::new(ErrorMapKind::Square);
        pooled.add(&[0.0, 4.0], &[true, true]).unwrap();
        pooled
            .add(&[2.0, 2.0, 2.0], &[false, false, false])
            .unwrap();
        // Bin 0: conf 0, acc 1 (1 px); bin 5: conf 0.5, acc 0 (3 px); bin 9: 0 gap.
        assert!((pooled.ece().unwrap() - (1.0 + 1.5) / 5.0).abs() < 1e-12);
        assert_eq!(CalibrationBins::new(ErrorMapKind::Square).ece(), None);
    }

    #[test]
    fn rejects_errors_beyond_the_kind_range() {
        let err = expected_calibration_error(&[0.5, 2.5], &[false, true], ErrorMapKind::Absolute)
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("map[1] = 2.5 lies outside [0, 2]")
        );
        assert!(expected_calibration_error(&[-0.1], &[false], ErrorMapKind::Square).is_err());
        assert!(expected_calibration_error(&[], &[], ErrorMapKind::Square).is_err());
        assert!(expected_calibration_error(&[0.1], &[false, true], ErrorMapKind::Square).is_err());
    }
}

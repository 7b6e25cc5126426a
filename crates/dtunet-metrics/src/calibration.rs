//! Thresholds calibrated on healthy images: the pixel threshold that flags at most a chosen
//! fraction of the healthy pixels, and the image threshold on the image score (the map's
//! maximum) that lets at most a chosen fraction of the healthy images through. Applied to test
//! maps, a pixel is anomalous when its score exceeds the pixel threshold — or, with
//! [`PixelRule::OtsuFloor`], the larger of that threshold and Otsu's threshold of the map — and
//! an image whose score is at or below the image threshold gets an empty mask.

use serde::{Deserialize, Serialize};

use crate::error::{MetricsError, Result};
use crate::input::{check_finite, check_finite_parameter, check_not_empty};
use crate::roc::image_score;
use crate::threshold::otsu_threshold;

/// The smallest score `t` of `scores` such that at most `⌊fpr · n⌋` of the `n` scores exceed
/// it: the `(n − ⌊fpr · n⌋)`-th smallest score, equal to
/// `numpy.quantile(scores, 1 − fpr, method="inverted_cdf")` whenever `fpr · n` is not an
/// integer. `fpr = 0` gives the maximum (nothing of `scores` is flagged).
///
/// # Shapes
/// `scores`: `[n]`, any order.
///
/// # Errors
/// Empty `scores`, a non-finite score, or `fpr` outside `[0, 1)`.
pub fn threshold_at_fpr(scores: &[f32], fpr: f64) -> Result<f64> {
    check_rate("false-positive rate", fpr)?;
    check_not_empty("scores", scores.len())?;
    check_finite("scores", scores)?;
    let n = scores.len();
    // The guard keeps 0.01 · 300 = 3 from rounding down to 2.
    let allowed_above = ((fpr * n as f64) + 1e-9).floor() as usize;
    let rank = n - allowed_above.min(n - 1) - 1;
    let mut values = scores.to_vec();
    let (_, value, _) = values.select_nth_unstable_by(rank, f32::total_cmp);
    Ok(f64::from(*value))
}

/// Rejects a rate outside `[0, 1)`.
fn check_rate(name: &'static str, rate: f64) -> Result<()> {
    check_finite_parameter(name, rate)?;
    if (0.0..1.0).contains(&rate) {
        Ok(())
    } else {
        Err(MetricsError::InvalidParameter {
            name,
            found: rate.to_string(),
            expected: "a rate in [0, 1)",
        })
    }
}

/// How the calibrated pixel threshold binarises a test map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PixelRule {
    /// `score > pixel` on every map.
    #[default]
    Calibrated,
    /// `score > max(pixel, Otsu's threshold of the map)`: where a map holds a clear anomaly,
    /// Otsu's threshold lies above the calibrated one and segments it as Otsu would; on a
    /// healthy map Otsu's threshold falls inside the noise and the calibrated one holds the
    /// false-positive rate.
    OtsuFloor,
}

impl PixelRule {
    /// The rule's name in records and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Calibrated => "calibrated",
            Self::OtsuFloor => "otsu_floor",
        }
    }
}

/// The thresholds fitted on a set of healthy maps, with what they were fitted on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CalibratedThresholds {
    /// Pixel threshold: anomalous when `score > pixel`.
    pub pixel: f64,
    /// The fraction of healthy pixels it may flag.
    pub pixel_fpr: f64,
    /// Image threshold on the image score (map maximum): an image scoring at or below it gets
    /// an empty mask; `None`: every image is binarised.
    pub image: Option<f64>,
    /// The fraction of healthy images the image threshold may let through.
    pub image_fpr: Option<f64>,
    /// Healthy maps fitted on.
    pub n_images: usize,
    /// Healthy pixels fitted on.
    pub n_pixels: usize,
    /// How the pixel threshold is applied (records written before the rule existed used
    /// [`PixelRule::Calibrated`]).
    #[serde(default)]
    pub pixel_rule: PixelRule,
}

impl CalibratedThresholds {
    /// Fits both thresholds on `maps`, all of healthy images: the pixel threshold over their
    /// pooled pixels at `pixel_fpr`, the image threshold over their scores at `image_fpr`
    /// (`None`: no image threshold); test maps are binarised by `pixel_rule`.
    ///
    /// # Shapes
    /// `maps[i]`: `[height_i · width_i]`.
    ///
    /// # Errors
    /// No maps, an empty map, a non-finite score, or a rate outside `[0, 1)`.
    pub fn fit(
        maps: &[&[f32]],
        pixel_fpr: f64,
        image_fpr: Option<f64>,
        pixel_rule: PixelRule,
    ) -> Result<Self> {
        check_not_empty("maps", maps.len())?;
        let pixels: Vec<f32> = maps.iter().flat_map(|map| map.iter().copied()).collect();
        let pixel = threshold_at_fpr(&pixels, pixel_fpr)?;
        let image = match image_fpr {
            Some(rate) => {
                let scores = maps
                    .iter()
                    .map(|map| image_score(map))
                    .collect::<Result<Vec<f32>>>()?;
                Some(threshold_at_fpr(&scores, rate)?)
            }
            None => None,
        };
        Ok(Self {
            pixel,
            pixel_fpr,
            image,
            image_fpr,
            n_images: maps.len(),
            n_pixels: pixels.len(),
            pixel_rule,
        })
    }

    /// The pixel threshold applied to `map`: the calibrated one, or with
    /// [`PixelRule::OtsuFloor`] the larger of it and Otsu's threshold of `map`.
    ///
    /// # Shapes
    /// `map`: `[height · width]`.
    ///
    /// # Errors
    /// An empty map or a non-finite score.
    pub fn pixel_threshold_for(&self, map: &[f32]) -> Result<f64> {
        match self.pixel_rule {
            PixelRule::Calibrated => Ok(self.pixel),
            PixelRule::OtsuFloor => Ok(otsu_threshold(map)?.max(self.pixel)),
        }
    }

    /// The predicted mask of a map: empty when its score is at or below the image threshold,
    /// else `score >` [`CalibratedThresholds::pixel_threshold_for`] the map.
    ///
    /// # Shapes
    /// `map` and the result: `[height · width]`.
    ///
    /// # Errors
    /// An empty map or a non-finite score.
    pub fn binarize(&self, map: &[f32]) -> Result<Vec<bool>> {
        Ok(self.threshold_and_mask(map)?.1)
    }

    /// [`CalibratedThresholds::pixel_threshold_for`] the map and its
    /// [`CalibratedThresholds::binarize`] mask at once (Otsu runs once per map).
    ///
    /// # Shapes
    /// `map` and the mask: `[height · width]`.
    ///
    /// # Errors
    /// An empty map or a non-finite score.
    pub fn threshold_and_mask(&self, map: &[f32]) -> Result<(f64, Vec<bool>)> {
        let pixel_threshold = self.pixel_threshold_for(map)?;
        if let Some(image_threshold) = self.image
            && f64::from(image_score(map)?) <= image_threshold
        {
            return Ok((pixel_threshold, vec![false; map.len()]));
        }
        Ok((
            pixel_threshold,
            crate::threshold::binarize(map, pixel_threshold),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_the_given_fraction_is_flagged() {
        let scores: Vec<f32> = (0..1000)
            .map(|i| ((i * 7919) % 1000) as f32 / 10.0)
            .collect();
        for fpr in [0.0, 0.001, 0.01, 0.0125, 0.05, 0.5] {
            let threshold = threshold_at_fpr(&scores, fpr).expect("threshold");
            let flagged = scores.iter().filter(|&&s| f64::from(s) > threshold).count();
            assert_eq!(flagged, (fpr * 1000.0 + 1e-9).floor() as usize, "fpr {fpr}");
        }
        assert_eq!(threshold_at_fpr(&scores, 0.0).expect("max"), 99.9f32 as f64);
    }

    #[test]
    fn ties_never_flag_more_than_allowed() {
        let scores = [1.0f32, 2.0, 2.0, 2.0, 2.0, 3.0];
        // One score may be above: the 5th smallest (2.0) flags only the 3.0.
        assert_eq!(threshold_at_fpr(&scores, 0.2).expect("t"), 2.0);
        // Two may be above, but flagging two would split the tie: still only the 3.0.
        assert_eq!(threshold_at_fpr(&scores, 0.34).expect("t"), 2.0);
    }

    #[test]
    fn bad_rates_and_scores_are_refused() {
        assert!(threshold_at_fpr(&[1.0], 1.0).is_err());
        assert!(threshold_at_fpr(&[1.0], -0.1).is_err());
        assert!(threshold_at_fpr(&[1.0], f64::NAN).is_err());
        assert!(threshold_at_fpr(&[], 0.1).is_err());
        assert!(threshold_at_fpr(&[f32::NAN], 0.1).is_err());
    }

    #[test]
    fn the_image_threshold_empties_quiet_maps() {
        let quiet = [0.1f32, 0.2, 0.3, 0.2];
        let loud = [0.1f32, 0.9, 0.3, 0.2];
        let healthy: Vec<&[f32]> = vec![&quiet, &quiet, &[0.1, 0.1, 0.4, 0.1]];
        let fitted = CalibratedThresholds::fit(&healthy, 0.0, Some(0.0), PixelRule::Calibrated)
            .expect("fit");
        assert_eq!(fitted.pixel, 0.4f32 as f64);
        assert_eq!(fitted.image, Some(0.4f32 as f64));
        assert_eq!((fitted.n_images, fitted.n_pixels), (3, 12));
        assert_eq!(fitted.binarize(&quiet).expect("mask"), [false; 4]);
        assert_eq!(
            fitted.binarize(&loud).expect("mask"),
            [false, true, false, false]
        );
        let without_gate = CalibratedThresholds {
            image: None,
            pixel: 0.15,
            ..fitted
        };
        assert_eq!(
            without_gate.binarize(&quiet).expect("mask"),
            [false, true, true, true]
        );
    }

    #[test]
    fn the_otsu_floor_takes_the_higher_of_otsu_and_the_calibrated_threshold() {
        // A clear anomaly: Otsu splits the 1.9s from the rest, above the calibrated 0.15.
        let anomalous = [0.1f32, 0.2, 0.2, 1.9, 1.9, 0.1];
        // A healthy map: Otsu lands inside its noise, below the calibrated 0.15.
        let healthy = [0.02f32, 0.04, 0.06, 0.08, 0.1, 0.04];
        let calibrated = CalibratedThresholds {
            pixel: 0.15,
            pixel_fpr: 0.01,
            image: None,
            image_fpr: None,
            n_images: 1,
            n_pixels: 6,
            pixel_rule: PixelRule::Calibrated,
        };
        let floored = CalibratedThresholds {
            pixel_rule: PixelRule::OtsuFloor,
            ..calibrated
        };
        let otsu = otsu_threshold(&anomalous).expect("otsu");
        assert!(otsu > 0.2, "{otsu}");
        assert_eq!(floored.pixel_threshold_for(&anomalous).expect("t"), otsu);
        assert_eq!(
            floored.threshold_and_mask(&anomalous).expect("both"),
            (otsu, floored.binarize(&anomalous).expect("mask"))
        );
        assert_eq!(calibrated.pixel_threshold_for(&anomalous).expect("t"), 0.15);
        assert_eq!(
            floored.binarize(&anomalous).expect("mask"),
            [false, false, false, true, true, false]
        );
        assert_eq!(
            calibrated.binarize(&anomalous).expect("mask"),
            [false, true, true, true, true, false]
        );
        assert!(otsu_threshold(&healthy).expect("otsu") < 0.15);
        assert_eq!(floored.pixel_threshold_for(&healthy).expect("t"), 0.15);
        assert_eq!(floored.binarize(&healthy).expect("mask"), [false; 6]);
        let old_record = r#"{"pixel":0.15,"pixel_fpr":0.01,"image":null,"image_fpr":null,"n_images":1,"n_pixels":6}"#;
        let read: CalibratedThresholds = serde_json::from_str(old_record).expect("old record");
        assert_eq!(read, calibrated);
    }
}

//! Binarisation of anomaly maps (SPEC §5): Otsu's threshold (the default, as in the reference),
//! a fixed value, a percentile of the map, or the best-Dice threshold over a set of images
//! (reported as Dice*). A pixel is anomalous when `score > threshold`, as with
//! `image > skimage.filters.threshold_otsu(image)`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::binning::ScoreBins;
use crate::error::{MetricsError, Result};
use crate::input::{check_finite, check_finite_parameter, check_not_empty, check_same_len};
use crate::pooled::{PooledRanking, PoolingMode};

/// Number of histogram bins of Otsu's method (scikit-image's default).
pub const OTSU_N_BINS: usize = 256;

/// How to pick the binarisation threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Threshold {
    /// Otsu's threshold of each image's map ([`otsu_threshold`]).
    Otsu,
    /// The same given value for every image, in score units.
    Fixed(f64),
    /// This percentile (in `[0, 100]`) of each image's map ([`percentile`]).
    Percentile(f64),
    /// One threshold for the whole set, maximising the pooled Dice ([`best_dice_threshold`]).
    BestDice,
}

impl Threshold {
    /// Rejects a non-finite fixed value or a percentile outside `[0, 100]`.
    ///
    /// # Errors
    /// As above.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Self::Fixed(value) => check_finite_parameter("fixed threshold", value),
            Self::Percentile(percent) => check_percent(percent),
            Self::Otsu | Self::BestDice => Ok(()),
        }
    }

    /// The threshold for one image's map.
    ///
    /// # Shapes
    /// `map`: `[height · width]`.
    ///
    /// # Errors
    /// An invalid rule, an empty map, a non-finite value, or [`Threshold::BestDice`], which
    /// needs the whole set ([`best_dice_threshold`]).
    pub fn for_image(&self, map: &[f32]) -> Result<ChosenThreshold> {
        self.validate()?;
        let (value, source) = match *self {
            Self::Otsu => (otsu_threshold(map)?, ThresholdSource::ThisImage),
            Self::Fixed(value) => (value, ThresholdSource::Given),
            Self::Percentile(percent) => (percentile(map, percent)?, ThresholdSource::ThisImage),
            Self::BestDice => return Err(MetricsError::NeedsImageSet),
        };
        Ok(ChosenThreshold {
            rule: *self,
            value,
            source,
        })
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Otsu => write!(f, "otsu"),
            Self::Fixed(value) => write!(f, "fixed {value}"),
            Self::Percentile(percent) => write!(f, "percentile {percent}"),
            Self::BestDice => write!(f, "best-dice"),
        }
    }
}

/// Where a threshold value came from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum ThresholdSource {
    /// Given by the user.
    Given,
    /// Computed from the map it binarises.
    ThisImage,
    /// Chosen once over a set of images.
    ImageSet {
        /// Images in the set.
        n_images: usize,
        /// The pooled Dice the threshold reaches on the set (Dice*).
        pooled_dice: f64,
    },
}

/// A threshold value with the rule and the data that produced it, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChosenThreshold {
    /// The rule used.
    pub rule: Threshold,
    /// The value, in score units: anomalous when `score > value`.
    pub value: f64,
    /// Where the value came from.
    pub source: ThresholdSource,
}

impl ChosenThreshold {
    /// The predicted mask of `map`: `score > value`.
    ///
    /// # Shapes
    /// `map` and the result: `[height · width]`.
    pub fn binarize(&self, map: &[f32]) -> Vec<bool> {
        binarize(map, self.value)
    }
}

/// The predicted mask `score > threshold`.
///
/// # Shapes
/// `map` and the result: `[n]`, same layout.
pub fn binarize(map: &[f32], threshold: f64) -> Vec<bool> {
    map.iter()
        .map(|&score| f64::from(score) > threshold)
        .collect()
}

/// Otsu's threshold of a map, equal to `skimage.filters.threshold_otsu(map.astype(float64))`
/// (256 bins over the map's range, NumPy's bin assignment, scikit-image's `float32` class
/// weights): the centre of the bin maximising the between-class variance, first among equals.
/// A constant map returns its value.
///
/// # Shapes
/// `map`: `[n]`.
///
/// # Errors
/// An empty map, a non-finite value, or a range too narrow for 256 distinct bin edges.
pub fn otsu_threshold(map: &[f32]) -> Result<f64> {
    check_not_empty("map", map.len())?;
    check_finite("map", map)?;
    let (low, high) = map
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), &v| {
            (low.min(f64::from(v)), high.max(f64::from(v)))
        });
    if low == high {
        return Ok(f64::from(map[0]));
    }
    let bins = ScoreBins::new(low, high, OTSU_N_BINS)?;
    let mut counts = vec![0u64; OTSU_N_BINS];
    for &score in map {
        if let Some(bin) = bins.bin_of(f64::from(score)) {
            counts[bin] += 1;
        }
    }
    let centres: Vec<f64> = (0..OTSU_N_BINS).map(|bin| bins.centre(bin)).collect();
    // scikit-image converts the counts to float32 and cumulates them there.
    let counts: Vec<f32> = counts.iter().map(|&count| count as f32).collect();
    let weight_below: Vec<f32> = cumulative(counts.iter().copied(), 0.0f32, |sum, c| sum + c);
    let mut weight_above: Vec<f32> =
        cumulative(counts.iter().rev().copied(), 0.0f32, |sum, c| sum + c);
    weight_above.reverse();
    let moments = || {
        counts
            .iter()
            .zip(&centres)
            .map(|(&count, &centre)| f64::from(count) * centre)
    };
    let moment_below: Vec<f64> = cumulative(moments(), 0.0, |sum, m| sum + m);
    let mut moment_above: Vec<f64> = cumulative(moments().rev(), 0.0, |sum, m| sum + m);
    moment_above.reverse();

    let mut best = (0, f64::NEG_INFINITY);
    for bin in 0..OTSU_N_BINS - 1 {
        let mean_below = moment_below[bin] / f64::from(weight_below[bin]);
        let mean_above = moment_above[bin + 1] / f64::from(weight_above[bin + 1]);
        // float32 · float32 in NumPy, then promoted.
        let weight_product = f64::from(weight_below[bin] * weight_above[bin + 1]);
        let variance = weight_product * (mean_below - mean_above).powi(2);
        if variance > best.1 {
            best = (bin, variance);
        }
    }
    Ok(centres[best.0])
}

/// Running totals of `values` from `start`.
fn cumulative<T: Copy>(
    values: impl Iterator<Item = T>,
    start: T,
    add: impl Fn(T, T) -> T,
) -> Vec<T> {
    values
        .scan(start, |sum, value| {
            *sum = add(*sum, value);
            Some(*sum)
        })
        .collect()
}

/// The `percent`-th percentile of a map with linear interpolation between order statistics,
/// equal to `numpy.percentile(map.astype(float64), percent)` (method `linear`).
///
/// # Shapes
/// `map`: `[n]`.
///
/// # Errors
/// An empty map, a non-finite value, or `percent` outside `[0, 100]`.
pub fn percentile(map: &[f32], percent: f64) -> Result<f64> {
    check_percent(percent)?;
    check_not_empty("map", map.len())?;
    check_finite("map", map)?;
    let mut sorted: Vec<f64> = map.iter().map(|&v| f64::from(v)).collect();
    sorted.sort_unstable_by(f64::total_cmp);
    let last = sorted.len() - 1;
    let virtual_index = last as f64 * (percent / 100.0);
    if virtual_index >= last as f64 {
        return Ok(sorted[last]);
    }
    let below = virtual_index.floor() as usize;
    let fraction = virtual_index - below as f64;
    let (a, b) = (sorted[below], sorted[below + 1]);
    // NumPy's `_lerp`: interpolate from the nearer end.
    let difference = b - a;
    Ok(if fraction >= 0.5 {
        b - difference * (1.0 - fraction)
    } else {
        a + difference * fraction
    })
}

/// The threshold maximising the pooled Dice (pixel F1 over all images) of `maps` against
/// `masks`, searched exactly over every distinct score; `None` when the masks have no
/// anomalous pixel or no normal pixel.
///
/// # Shapes
/// `maps[i]` and `masks[i]`: `[height_i · width_i]`, same layout per image.
///
/// # Errors
/// No images, different numbers of maps and masks, an empty map, mismatched lengths, or a
/// non-finite score.
pub fn best_dice_threshold(maps: &[&[f32]], masks: &[&[bool]]) -> Result<Option<ChosenThreshold>> {
    check_not_empty("maps", maps.len())?;
    check_same_len("masks", masks.len(), "maps", maps.len())?;
    let mut pooled = PooledRanking::new(PoolingMode::Exact);
    for (map, mask) in maps.iter().zip(masks) {
        pooled.add(map, mask)?;
    }
    Ok(best_dice_from_pooled(&mut pooled))
}

/// The best-Dice threshold of an already filled [`PooledRanking`] (exact: every distinct score
/// is a candidate; histogram: every bin edge); `None` with a single class.
pub fn best_dice_from_pooled(pooled: &mut PooledRanking) -> Option<ChosenThreshold> {
    let best = pooled.summary()?.f1_max;
    // F1-max flags `score >= t`; the largest f64 below `t` flags the same pixels with `>`.
    Some(ChosenThreshold {
        rule: Threshold::BestDice,
        value: best.threshold.next_down(),
        source: ThresholdSource::ImageSet {
            n_images: pooled.n_images(),
            pooled_dice: best.f1,
        },
    })
}

/// Rejects a percentile outside `[0, 100]`.
fn check_percent(percent: f64) -> Result<()> {
    if !(0.0..=100.0).contains(&percent) {
        return Err(MetricsError::InvalidParameter {
            name: "percentile",
            found: percent.to_string(),
            expected: "a percentile in [0, 100], e.g. 95",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::confusion::ConfusionCounts;

    #[test]
    fn otsu_splits_two_clusters() {
        let map: Vec<f32> = (0..100)
            .map(|i| if i < 70 { 0.1 + 0.001 * i as f32 } else { 0.9 })
            .collect();
        let threshold = otsu_threshold(&map).unwrap();
        assert!(threshold > 0.17 && threshold < 0.9);
        let mask = binarize(&map, threshold);
        assert_eq!(mask.iter().filter(|&&m| m).count(), 30);
    }

    #[test]
    fn otsu_of_a_constant_map_is_its_value() {
        assert_eq!(otsu_threshold(&[0.25; 12]).unwrap(), 0.25);
        assert!(otsu_threshold(&[]).is_err());
        assert!(otsu_threshold(&[0.1, f32::NAN]).is_err());
    }

    #[test]
    fn percentile_interpolates_like_numpy() {
        let map = [4.0f32, 1.0, 3.0, 2.0];
        assert_eq!(percentile(&map, 0.0).unwrap(), 1.0);
        assert_eq!(percentile(&map, 100.0).unwrap(), 4.0);
        assert_eq!(percentile(&map, 50.0).unwrap(), 2.5);
        assert!((percentile(&map, 90.0).unwrap() - 3.7).abs() < 1e-12);
        assert!(percentile(&map, 101.0).is_err());
        assert!(percentile(&map, f64::NAN).is_err());
    }

    #[test]
    fn rules_record_their_source() {
        let map = [0.0f32, 0.5, 1.0];
        let fixed = Threshold::Fixed(0.4).for_image(&map).unwrap();
        assert_eq!(fixed.source, ThresholdSource::Given);
        assert_eq!(fixed.binarize(&map), vec![false, true, true]);
        let otsu = Threshold::Otsu.for_image(&map).unwrap();
        assert_eq!(
            (otsu.rule, otsu.source),
            (Threshold::Otsu, ThresholdSource::ThisImage)
        );
        assert_eq!(
            Threshold::BestDice.for_image(&map),
            Err(MetricsError::NeedsImageSet)
        );
        assert!(Threshold::Fixed(f64::NAN).for_image(&map).is_err());
        assert!(Threshold::Percentile(-1.0).validate().is_err());
        assert_eq!(Threshold::Percentile(99.0).to_string(), "percentile 99");
    }

    #[test]
    fn best_dice_threshold_reaches_the_pooled_optimum() {
        let first: [f32; 6] = [0.9, 0.8, 0.2, 0.1, 0.8, 0.3];
        let second: [f32; 4] = [0.7, 0.2, 0.8, 0.0];
        let first_mask = [true, true, false, false, false, false];
        let second_mask = [true, false, false, false];
        let chosen = best_dice_threshold(&[&first, &second], &[&first_mask, &second_mask])
            .unwrap()
            .unwrap();
        let ThresholdSource::ImageSet {
            n_images,
            pooled_dice,
        } = chosen.source
        else {
            panic!("best dice must come from the set");
        };
        assert_eq!(n_images, 2);
        let pooled = ConfusionCounts::from_masks(&chosen.binarize(&first), &first_mask).unwrap()
            + ConfusionCounts::from_masks(&chosen.binarize(&second), &second_mask).unwrap();
        assert!((pooled.dice() - pooled_dice).abs() < 1e-12);
        // No other cut does better.
        for cut in [0.0f64, 0.1, 0.2, 0.3, 0.7, 0.8, 0.9] {
            let counts = ConfusionCounts::from_masks(&binarize(&first, cut), &first_mask).unwrap()
                + ConfusionCounts::from_masks(&binarize(&second, cut), &second_mask).unwrap();
            assert!(counts.dice() <= pooled_dice + 1e-12);
        }
    }

    #[test]
    fn best_dice_needs_both_classes() {
        assert_eq!(
            best_dice_threshold(&[&[0.1, 0.2]], &[&[false, false]]).unwrap(),
            None
        );
        assert!(best_dice_threshold(&[], &[]).is_err());
        assert!(best_dice_threshold(&[&[0.1]], &[]).is_err());
    }
}

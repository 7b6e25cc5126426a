//! Per-image scores (SPEC §6), in two steps: [`score_sample`] computes what does not depend on
//! the binarisation threshold (pixel AUROC, ECE, SSIM, PSNR, the image score), and
//! [`binarize_sample`] applies the threshold and computes Dice, IoU, precision, recall and FPR.

use std::path::Path;

use dtunet_metrics::{
    CalibratedThresholds, ChosenThreshold, ConfusionCounts, ErrorMapKind, ImageShape, MetricsError,
    OverlapScores, SSIM_WINDOW_PX, Threshold, auroc, expected_calibration_error, gaussian_smooth,
    image_score, largest_component, psnr, ssim, ssim_map,
};

use super::loading::{IntegerSamples, Sample};
use crate::error::{DtunetError, Result};

/// The reconstruction error map averaged over channels for images in `[-1, 1]`: `|x − x̂|`
/// ([`ErrorMapKind::Absolute`], in `[0, 2]`), `(x − x̂)²` ([`ErrorMapKind::Square`], in
/// `[0, 4]`) or `1 − local SSIM` of the images mapped to `[0, 1]` ([`ErrorMapKind::Ssim`], in
/// `[0, 2]`; the local SSIM is the channel mean of [`dtunet_metrics::ssim_map`]).
///
/// # Shapes
/// `image` and `reconstruction`: `[shape.channels · H · W]` (CHW); returns `[H · W]`.
///
/// # Errors
/// [`ErrorMapKind::Ssim`] on an image smaller than the 11×11 window or with a non-finite
/// value; [`ErrorMapKind::Feature`], which needs the network (`dtunet detect --map feature`
/// writes such maps, scored from `maps/`).
///
/// # Panics
/// When a length differs from `shape` (the loader guarantees it).
pub fn error_map(
    image: &[f32],
    reconstruction: &[f32],
    shape: ImageShape,
    kind: ErrorMapKind,
) -> std::result::Result<Vec<f32>, MetricsError> {
    assert!(
        image.len() == shape.len() && reconstruction.len() == shape.len(),
        "error_map: image {} and reconstruction {} values for shape {shape}",
        image.len(),
        reconstruction.len()
    );
    if kind == ErrorMapKind::Feature {
        return Err(MetricsError::InvalidParameter {
            name: "map",
            found: "feature".into(),
            expected: "se, ae or ssim from images and reconstructions; a feature map needs the \
                       network: make it with dtunet detect --map feature and score its maps/",
        });
    }
    if kind == ErrorMapKind::Ssim {
        let similarity = ssim_map(&to_unit_range(image), &to_unit_range(reconstruction), shape)?;
        return Ok(similarity.into_iter().map(|value| 1.0 - value).collect());
    }
    let plane = shape.plane().len();
    let mut map = vec![0.0f32; plane];
    for (image_plane, recon_plane) in image
        .chunks_exact(plane)
        .zip(reconstruction.chunks_exact(plane))
    {
        for ((error, &x), &x_hat) in map.iter_mut().zip(image_plane).zip(recon_plane) {
            let difference = x - x_hat;
            *error += match kind {
                ErrorMapKind::Square => difference * difference,
                ErrorMapKind::Absolute | ErrorMapKind::Ssim | ErrorMapKind::Feature => {
                    difference.abs()
                }
            };
        }
    }
    let channels = shape.channels as f32;
    map.iter_mut().for_each(|error| *error /= channels);
    Ok(map)
}

/// [`error_map`] (absolute or square) of integer samples of full scale `full_scale` (the values `v / full_scale`
/// mapped to `[-1, 1]`), exactly: each pixel's sum over channels of `|d|` or `d²` of the integer
/// differences `d` is scaled once (`ae = Σ|d| · 2 / (full_scale · C)`,
/// `se = Σd² · 4 / (full_scale² · C)`, one correctly rounded f64 division, then f32), so
/// pixels with equal differences get bit-identical values and the rankings see exact ties.
///
/// # Shapes
/// `image` and `reconstruction`: `[shape.channels · H · W]` (CHW); returns `[H · W]`.
///
/// # Panics
/// When a length differs from `shape` (the loader guarantees it), or for
/// [`ErrorMapKind::Ssim`], which is not a per-pixel difference.
pub fn integer_error_map(
    image: &[u16],
    reconstruction: &[u16],
    full_scale: u16,
    shape: ImageShape,
    kind: ErrorMapKind,
) -> Vec<f32> {
    assert!(
        image.len() == shape.len() && reconstruction.len() == shape.len(),
        "integer_error_map: image {} and reconstruction {} values for shape {shape}",
        image.len(),
        reconstruction.len()
    );
    let plane = shape.plane().len();
    let mut sums = vec![0u64; plane];
    for (image_plane, recon_plane) in image
        .chunks_exact(plane)
        .zip(reconstruction.chunks_exact(plane))
    {
        for ((sum, &x), &x_hat) in sums.iter_mut().zip(image_plane).zip(recon_plane) {
            let difference = u64::from(x.abs_diff(x_hat));
            *sum += match kind {
                ErrorMapKind::Absolute => difference,
                ErrorMapKind::Square => difference * difference,
                ErrorMapKind::Ssim | ErrorMapKind::Feature => {
                    unreachable!("integer_error_map: {kind:?} is not a difference")
                }
            };
        }
    }
    // Numerator and denominator are exact in f64 (below 2^53), so is their quotient up to one
    // rounding.
    let full_scale = f64::from(full_scale);
    let (range, unit) = match kind {
        ErrorMapKind::Square => (4.0, full_scale * full_scale),
        ErrorMapKind::Absolute | ErrorMapKind::Ssim | ErrorMapKind::Feature => (2.0, full_scale),
    };
    let denominator = unit * shape.channels as f64;
    sums.into_iter()
        .map(|sum| (sum as f64 * range / denominator) as f32)
        .collect()
}

/// The reconstruction error map of `kind`: exact from the integer samples when the pair has
/// them and the kind is a difference ([`integer_error_map`]), else from the values in
/// `[-1, 1]` ([`error_map`]).
///
/// # Shapes
/// `image` and `reconstruction`: `[shape.channels · H · W]` (CHW); returns `[H · W]`.
///
/// # Errors
/// As [`error_map`].
pub fn pair_error_map(
    image: &[f32],
    reconstruction: &[f32],
    integer_samples: Option<&IntegerSamples>,
    shape: ImageShape,
    kind: ErrorMapKind,
) -> std::result::Result<Vec<f32>, MetricsError> {
    match (integer_samples, kind) {
        (Some(samples), ErrorMapKind::Absolute | ErrorMapKind::Square) => Ok(integer_error_map(
            &samples.image,
            &samples.reconstruction,
            samples.full_scale,
            shape,
            kind,
        )),
        _ => error_map(image, reconstruction, shape, kind),
    }
}

/// The threshold-free scores of one image; absent values are `None`, never 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImageScores {
    /// The mask has at least one anomalous pixel.
    pub anomalous: bool,
    /// Pixel AUROC of the map; `None` when the mask is all one class.
    pub auroc: Option<f64>,
    /// ECE of the absolute-error map (confidence `ae / 2`); `None` without a reconstruction
    /// unless the given map is an absolute error with values in `[0, 2]`.
    pub ece_ae: Option<f64>,
    /// ECE of the square-error map (confidence `se / 4`); `None` without a reconstruction
    /// unless the given map is a square error with values in `[0, 4]`.
    pub ece_se: Option<f64>,
    /// SSIM of reconstruction vs input on `[0, 1]`; `None` without a reconstruction or for
    /// images smaller than the 11×11 window.
    pub ssim: Option<f64>,
    /// PSNR in dB of reconstruction vs input on `[0, 1]`; `+∞` when identical, `None`
    /// without a reconstruction.
    pub psnr: Option<f64>,
    /// The image's anomaly score: the maximum of its map.
    pub max_score: f32,
    /// The minimum of its map (for the heat-map scale).
    pub min_score: f32,
}

/// Scores one image whose map is of `kind` (for reconstructions, the ECE of the absolute and
/// the square error are both computed, a map of another kind than `kind` from the images,
/// smoothed by the σ `smooth_sigma` the scored map was).
///
/// # Errors
/// A metric rejecting the data (a non-finite value); the error names `path`.
pub fn score_sample(
    sample: &Sample,
    kind: ErrorMapKind,
    smooth_sigma: f64,
    path: &Path,
) -> Result<ImageScores> {
    let metric = |source: MetricsError| DtunetError::Metric {
        path: path.to_path_buf(),
        source,
    };
    let ece_of = |map: &[f32], map_kind: ErrorMapKind| -> Result<Option<f64>> {
        let in_range = map
            .iter()
            .all(|&error| (0.0..=map_kind.max_value()).contains(&f64::from(error)));
        if !in_range {
            return Ok(None);
        }
        expected_calibration_error(map, &sample.mask, map_kind)
            .map(Some)
            .map_err(metric)
    };
    let (mut ece_ae, mut ece_se, mut ssim_value, mut psnr_value) = (None, None, None, None);
    match &sample.reconstruction {
        Some(reconstruction) => {
            // The scored map when it is of that kind, else that kind's map smoothed alike.
            let map_of = |error_kind: ErrorMapKind| -> Result<std::borrow::Cow<'_, [f32]>> {
                if error_kind == kind {
                    return Ok(std::borrow::Cow::Borrowed(sample.map.as_slice()));
                }
                let map = pair_error_map(
                    &sample.image,
                    reconstruction,
                    sample.integer_samples.as_ref(),
                    sample.shape,
                    error_kind,
                )
                .and_then(|map| gaussian_smooth(&map, sample.shape.plane(), smooth_sigma))
                .map_err(metric)?;
                Ok(std::borrow::Cow::Owned(map))
            };
            ece_ae = ece_of(&map_of(ErrorMapKind::Absolute)?, ErrorMapKind::Absolute)?;
            ece_se = ece_of(&map_of(ErrorMapKind::Square)?, ErrorMapKind::Square)?;
            let image = to_unit_range(&sample.image);
            let reconstruction = to_unit_range(reconstruction);
            if sample.shape.height >= SSIM_WINDOW_PX && sample.shape.width >= SSIM_WINDOW_PX {
                ssim_value = Some(ssim(&image, &reconstruction, sample.shape).map_err(metric)?);
            }
            psnr_value = Some(psnr(&image, &reconstruction).map_err(metric)?);
        }
        None => match kind {
            ErrorMapKind::Absolute => ece_ae = ece_of(&sample.map, kind)?,
            ErrorMapKind::Square => ece_se = ece_of(&sample.map, kind)?,
            ErrorMapKind::Ssim | ErrorMapKind::Feature => {}
        },
    }
    Ok(ImageScores {
        anomalous: sample.mask.iter().any(|&anomalous| anomalous),
        auroc: auroc(&sample.map, &sample.mask).map_err(metric)?,
        ece_ae,
        ece_se,
        ssim: ssim_value,
        psnr: psnr_value,
        max_score: image_score(&sample.map).map_err(metric)?,
        min_score: sample.map.iter().copied().fold(f32::INFINITY, f32::min),
    })
}

/// `(x + 1) / 2`: values in `[-1, 1]` mapped to `[0, 1]`.
fn to_unit_range(values: &[f32]) -> Vec<f32> {
    values.iter().map(|&value| (value + 1.0) / 2.0).collect()
}

/// One image binarised: the threshold used, the predicted mask and its overlap with the truth.
#[derive(Debug, Clone, PartialEq)]
pub struct Binarized {
    /// The threshold value (anomalous when `score > threshold`), in score units.
    pub threshold: f64,
    /// The predicted mask, `[height · width]`.
    pub predicted: Vec<bool>,
    /// Dice, IoU, precision, recall and FPR against the ground truth.
    pub overlap: OverlapScores,
}

/// How the maps of a set are binarised.
#[derive(Debug, Clone, PartialEq)]
pub enum Binarization {
    /// A rule applied to each image's own map (Otsu, fixed, percentile).
    PerImage(Threshold),
    /// One threshold chosen over the set (best Dice).
    Pooled(ChosenThreshold),
    /// Thresholds fitted on healthy images ([`Calibration`]).
    Calibrated(Calibration),
}

/// Pixel and image thresholds fitted on healthy images, and which images they were.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Calibration {
    /// The thresholds.
    pub thresholds: CalibratedThresholds,
    /// The healthy images, for the report (e.g. `24 training images held out from training`).
    pub images: String,
}

/// Binarises the map of `sample` as `binarization` says, optionally keeping only the largest
/// connected component.
///
/// # Errors
/// A rule that needs the set ([`Threshold::BestDice`] as [`Binarization::PerImage`]), or a
/// metric rejecting the map; the error names `path`.
pub fn binarize_sample(
    sample: &Sample,
    binarization: &Binarization,
    keep_largest_component: bool,
    path: &Path,
) -> Result<Binarized> {
    let metric = |source: MetricsError| DtunetError::Metric {
        path: path.to_path_buf(),
        source,
    };
    let (threshold, mut predicted) = match binarization {
        Binarization::PerImage(rule) => {
            let chosen = rule.for_image(&sample.map).map_err(metric)?;
            (chosen.value, chosen.binarize(&sample.map))
        }
        Binarization::Pooled(chosen) => (chosen.value, chosen.binarize(&sample.map)),
        Binarization::Calibrated(calibration) => calibration
            .thresholds
            .threshold_and_mask(&sample.map)
            .map_err(metric)?,
    };
    if keep_largest_component {
        predicted = largest_component(&predicted, sample.shape.plane()).map_err(metric)?;
    }
    let overlap = ConfusionCounts::from_masks(&predicted, &sample.mask)
        .map_err(metric)?
        .scores();
    Ok(Binarized {
        threshold,
        predicted,
        overlap,
    })
}

/// Parses a threshold rule: `otsu`, `fixed:V`, `percentile:P` (P in `[0, 100]`) or `best`
/// (the best pooled Dice over the set; also `best-dice`).
///
/// # Errors
/// Anything else, a value that is not a finite number, or a percentile outside `[0, 100]`
/// ([`DtunetError::InvalidParameter`], a usage error).
pub fn parse_threshold(text: &str) -> Result<Threshold> {
    let invalid = || DtunetError::InvalidParameter {
        name: "--threshold",
        found: text.to_string(),
        expected: "otsu, fixed:V (a finite map value), percentile:P (P in 0..=100) or best".into(),
    };
    let number = |value: &str| value.trim().parse::<f64>().map_err(|_| invalid());
    let rule = match text.trim().split_once(':') {
        None if text.trim().eq_ignore_ascii_case("otsu") => Threshold::Otsu,
        None if ["best", "best-dice"]
            .iter()
            .any(|name| text.trim().eq_ignore_ascii_case(name)) =>
        {
            Threshold::BestDice
        }
        Some((name, value)) if name.eq_ignore_ascii_case("fixed") => {
            Threshold::Fixed(number(value)?)
        }
        Some((name, value)) if name.eq_ignore_ascii_case("percentile") => {
            Threshold::Percentile(number(value)?)
        }
        _ => return Err(invalid()),
    };
    rule.validate().map_err(|_| invalid())?;
    Ok(rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 20×28 grey sample whose reconstruction differs from the image by `delta` on a 4×5
    /// square at rows 6..10, columns 10..15, which is also the mask.
    fn square_sample(delta: f32) -> Sample {
        let shape = ImageShape::new(1, 20, 28);
        let in_square = |index: usize| {
            let (row, col) = (index / 28, index % 28);
            (6..10).contains(&row) && (10..15).contains(&col)
        };
        let image: Vec<f32> = (0..shape.len())
            .map(|i| ((i as f32) * 0.1).sin() * 0.5)
            .collect();
        let reconstruction: Vec<f32> = image
            .iter()
            .enumerate()
            .map(|(i, &x)| if in_square(i) { x + delta } else { x })
            .collect();
        let map = error_map(&image, &reconstruction, shape, ErrorMapKind::Square).expect("map");
        Sample {
            shape,
            image,
            reconstruction: Some(reconstruction),
            map,
            mask: (0..shape.len()).map(in_square).collect(),
            integer_samples: None,
        }
    }

    #[test]
    fn error_maps_average_over_channels() {
        let shape = ImageShape::new(3, 1, 2);
        let image = [0.0, 1.0, 0.5, 0.5, -1.0, -1.0];
        let reconstruction = [1.0, 1.0, 0.5, -0.5, -1.0, 1.0];
        assert_eq!(
            error_map(&image, &reconstruction, shape, ErrorMapKind::Absolute).expect("ae"),
            vec![1.0 / 3.0, 1.0]
        );
        assert_eq!(
            error_map(&image, &reconstruction, shape, ErrorMapKind::Square).expect("se"),
            vec![1.0 / 3.0, 5.0 / 3.0]
        );
        let too_small = error_map(&image, &reconstruction, shape, ErrorMapKind::Ssim);
        assert!(too_small.is_err(), "an SSIM map needs 11×11 px");
    }

    #[test]
    fn the_ssim_map_is_one_minus_the_local_ssim_and_peaks_on_the_change() {
        let shape = ImageShape::new(1, 16, 16);
        let image: Vec<f32> = (0..256)
            .map(|i| ((i * 37) % 17) as f32 / 8.5 - 1.0)
            .collect();
        let mut reconstruction = image.clone();
        reconstruction[8 * 16 + 8] = -reconstruction[8 * 16 + 8] + 0.3;
        let map = error_map(&image, &reconstruction, shape, ErrorMapKind::Ssim).expect("ssim");
        let unit = |values: &[f32]| values.iter().map(|v| (v + 1.0) / 2.0).collect::<Vec<_>>();
        let local = ssim_map(&unit(&image), &unit(&reconstruction), shape).expect("local");
        assert!(
            map.iter()
                .zip(&local)
                .all(|(m, l)| (m - (1.0 - l)).abs() < 1e-7)
        );
        let peak = map
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i);
        assert_eq!(peak, Some(8 * 16 + 8));
        assert!(map[0].abs() < 1e-6, "far from the change the images agree");
    }

    #[test]
    fn integer_error_maps_are_exact_and_equal_fractions_tie_across_scales() {
        // RGB 8-bit, 1×2: pixel 0 differs by 255 and 3, pixel 1 by 3 on one channel.
        let shape = ImageShape::new(3, 1, 2);
        let image = [0, 255, 10, 10, 100, 200];
        let reconstruction = [255, 255, 13, 7, 100, 200];
        let ae = integer_error_map(&image, &reconstruction, 255, shape, ErrorMapKind::Absolute);
        let se = integer_error_map(&image, &reconstruction, 255, shape, ErrorMapKind::Square);
        assert_eq!(ae, vec![(516.0f64 / 765.0) as f32, (6.0f64 / 765.0) as f32]);
        assert_eq!(
            se,
            vec![
                (260_136.0f64 / 195_075.0) as f32,
                (36.0f64 / 195_075.0) as f32
            ]
        );
        // The same error, 2/255, as one 8-bit grey step and as 257 16-bit steps, at other
        // levels: bit-identical to pixel 1 above.
        let grey = ImageShape::new(1, 1, 3);
        let grey8 = integer_error_map(
            &[0, 128, 254],
            &[1, 127, 255],
            255,
            grey,
            ErrorMapKind::Absolute,
        );
        let grey16 = integer_error_map(
            &[0, 40_000, 65_278],
            &[257, 39_743, 65_535],
            u16::MAX,
            grey,
            ErrorMapKind::Absolute,
        );
        for value in grey8.iter().chain(&grey16) {
            assert_eq!(value.to_bits(), ae[1].to_bits());
        }
        // Full-scale errors hit the range ends exactly (ECE's confidence ae / 2, se / 4).
        let full = integer_error_map(
            &[0, 65_535],
            &[65_535, 0],
            u16::MAX,
            ImageShape::new(1, 1, 2),
            ErrorMapKind::Square,
        );
        assert_eq!(full, vec![4.0, 4.0]);
    }

    #[test]
    fn a_known_square_gives_dice_one_and_auroc_one() {
        let sample = square_sample(0.4);
        let path = Path::new("square.png");
        let scores = score_sample(&sample, ErrorMapKind::Square, 0.0, path).expect("scores");
        assert!(scores.anomalous);
        assert_eq!(scores.auroc, Some(1.0));
        assert!((scores.max_score - 0.16).abs() < 1e-6);
        assert_eq!(scores.min_score, 0.0);
        assert!(scores.ssim.is_some_and(|s| s < 1.0));
        let binarized = binarize_sample(
            &sample,
            &Binarization::PerImage(Threshold::Fixed(0.0)),
            false,
            path,
        )
        .expect("binarised");
        assert_eq!(binarized.overlap.dice, 1.0);
        assert_eq!(binarized.overlap.false_positive_rate, 0.0);
        assert_eq!(binarized.threshold, 0.0);
    }

    #[test]
    fn hand_computed_dice_and_auroc() {
        // 1×4 map [0.1, 0.4, 0.35, 0.8], mask [0, 0, 1, 1]. AUROC counts the
        // (positive, negative) pairs in order: 0.35 > 0.1, 0.35 < 0.4, 0.8 > 0.1, 0.8 > 0.4
        // → 3/4. Threshold 0.3 predicts [0, 1, 1, 1]: TP 2, FP 1, FN 0, TN 1 → Dice 4/5,
        // IoU 2/3, precision 2/3, recall 1, FPR 1/2.
        let sample = Sample {
            shape: ImageShape::new(1, 1, 4),
            image: vec![0.0; 4],
            reconstruction: None,
            map: vec![0.1, 0.4, 0.35, 0.8],
            mask: vec![false, false, true, true],
            integer_samples: None,
        };
        let path = Path::new("hand.npy");
        let scores = score_sample(&sample, ErrorMapKind::Absolute, 0.0, path).expect("scores");
        assert_eq!(scores.auroc, Some(0.75));
        assert_eq!(
            (scores.ssim, scores.psnr, scores.ece_se),
            (None, None, None)
        );
        // ECE of the ae map, confidences [0.05, 0.2, 0.175, 0.4] in bins 0, 2, 1, 4, one
        // pixel each: (|0 − 0.05| + |0 − 0.2| + |1 − 0.175| + |1 − 0.4|) / 4.
        let expected_ece = (0.05 + 0.2 + 0.825 + 0.6) / 4.0;
        assert!((scores.ece_ae.expect("in range") - expected_ece).abs() < 1e-7);
        let binarized = binarize_sample(
            &sample,
            &Binarization::PerImage(Threshold::Fixed(0.3)),
            false,
            path,
        )
        .expect("binarised");
        let overlap = binarized.overlap;
        assert_eq!(binarized.predicted, vec![false, true, true, true]);
        assert!((overlap.dice - 0.8).abs() < 1e-12);
        assert!((overlap.iou - 2.0 / 3.0).abs() < 1e-12);
        assert!((overlap.precision - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!((overlap.recall, overlap.false_positive_rate), (1.0, 0.5));
    }

    #[test]
    fn maps_out_of_the_error_range_have_no_ece_and_single_class_no_auroc() {
        let sample = Sample {
            shape: ImageShape::new(1, 1, 3),
            image: vec![0.0; 3],
            reconstruction: None,
            map: vec![-1.0, 7.0, 2.0],
            mask: vec![false; 3],
            integer_samples: None,
        };
        let scores =
            score_sample(&sample, ErrorMapKind::Square, 0.0, Path::new("m.npy")).expect("ok");
        assert_eq!(
            (scores.ece_se, scores.auroc, scores.anomalous),
            (None, None, false)
        );
        assert_eq!((scores.min_score, scores.max_score), (-1.0, 7.0));
    }

    #[test]
    fn largest_component_drops_the_small_blob() {
        let mut sample = square_sample(0.4);
        sample.map[0] = 1.0; // a lone false positive in the corner
        let path = Path::new("blob.png");
        let plain = binarize_sample(
            &sample,
            &Binarization::PerImage(Threshold::Fixed(0.0)),
            false,
            path,
        )
        .expect("plain");
        let largest = binarize_sample(
            &sample,
            &Binarization::PerImage(Threshold::Fixed(0.0)),
            true,
            path,
        )
        .expect("largest");
        assert!(plain.overlap.dice < 1.0);
        assert_eq!(largest.overlap.dice, 1.0);
    }

    #[test]
    fn parses_threshold_specs() {
        assert_eq!(parse_threshold("otsu").expect("otsu"), Threshold::Otsu);
        assert_eq!(
            parse_threshold("fixed:0.25").expect("fixed"),
            Threshold::Fixed(0.25)
        );
        assert_eq!(
            parse_threshold("percentile:99.5").expect("percentile"),
            Threshold::Percentile(99.5)
        );
        assert_eq!(parse_threshold("best").expect("best"), Threshold::BestDice);
        for bad in [
            "",
            "fixed",
            "fixed:x",
            "fixed:inf",
            "percentile:101",
            "mean",
        ] {
            let error = parse_threshold(bad).expect_err(bad);
            assert!(error.is_usage_error());
            assert!(error.to_string().contains("otsu, fixed:V"), "{error}");
        }
    }
}

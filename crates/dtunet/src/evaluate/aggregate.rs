//! The set-level summary (SPEC §6): per-image metrics as mean ± population std over images,
//! pooled metrics over all pixels, the threshold and the counts behind them. Serialised as
//! `summary.json`.

use std::path::{Path, PathBuf};

use dtunet_metrics::{
    ErrorMapKind, MeanStd, OverlapScores, PixelRule, RankingSummary, ScoreBins, Threshold,
    ThresholdSource,
};
use serde::Serialize;

use super::classes::ClassSummary;
use super::scoring::{Binarization, ImageScores};
use crate::error::{DtunetError, Result};

/// Everything known about one image once both passes are done; one row of `metrics.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageRow {
    /// The file stem shared by the pair.
    pub stem: String,
    /// The input image.
    pub image: PathBuf,
    /// No mask was found (allowed by the user): the image counts as all-normal.
    pub mask_missing: bool,
    /// Rows of the image, in pixels.
    pub height: usize,
    /// Columns of the image, in pixels.
    pub width: usize,
    /// Threshold-free scores.
    pub scores: ImageScores,
    /// The threshold applied (anomalous when `score > threshold`), in score units.
    pub threshold: f64,
    /// Overlap of the predicted mask with the ground truth.
    pub overlap: OverlapScores,
}

/// Metrics pooled over all pixels (or images) of the set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PooledScores {
    /// Pooled pixel AUROC, AP and F1-max; `None` when the set's pixels are one class.
    pub ranking: Option<RankingSummary>,
    /// AUPRO up to FPR 0.3; `None` without an anomalous region or a normal pixel.
    pub aupro: Option<f64>,
    /// Image AUROC with the maximum of each map as score; `None` when all images are normal
    /// or all anomalous.
    pub image_auroc: Option<f64>,
    /// The pixel rankings stayed exact (else they were folded into `bins`).
    pub exact: bool,
    /// Pixels pooled.
    pub n_pixels: u64,
    /// The histogram used above the exact-pixel budget.
    pub bins: ScoreBins,
    /// The exact-pixel budget.
    pub max_exact_pixels: usize,
}

/// How the set was evaluated: the inputs and options behind the numbers.
#[derive(Debug, Clone)]
pub struct EvalSetting<'a> {
    /// The images folder.
    pub images: &'a Path,
    /// The reconstructions folder, when maps were computed from reconstructions.
    pub reconstructions: Option<&'a Path>,
    /// The maps folder, when maps were given.
    pub maps: Option<&'a Path>,
    /// The masks folder.
    pub masks: &'a Path,
    /// The kind of error map.
    pub map_kind: ErrorMapKind,
    /// How the maps were binarised.
    pub binarization: &'a Binarization,
    /// Only the largest connected component of each prediction was kept.
    pub largest_component: bool,
    /// σ in pixels of the Gaussian smoothing of the maps (0: none).
    pub smooth_sigma: f64,
}

/// The contents of `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Per-image Dice, mean ± std, over all images: a healthy image (empty mask) scores 1 when
    /// nothing is predicted, else 0.
    pub dice: MeanStd,
    /// Per-image Dice over the images whose mask has an anomalous pixel only (its `count`
    /// says how many); `None` when there is none.
    pub dice_anomalous: Option<MeanStd>,
    /// Per-image IoU.
    pub iou: MeanStd,
    /// Per-image precision `TP / (TP + FP)`.
    pub precision: MeanStd,
    /// Per-image recall `TP / (TP + FN)`.
    pub recall: MeanStd,
    /// Per-image false-positive rate `FP / (FP + TN)`.
    pub fpr: MeanStd,
    /// The fraction of the pixels of the healthy images (empty mask) that are flagged, pooled;
    /// `None` without a healthy image.
    pub healthy_pixels_flagged: Option<f64>,
    /// Healthy images with at least one flagged pixel.
    pub n_healthy_images_flagged: usize,
    /// Per-image pixel AUROC over the images whose mask has both classes.
    pub auroc: Option<MeanStd>,
    /// Pixel AUROC pooled over all pixels.
    pub auroc_pooled: Option<f64>,
    /// Average precision pooled over all pixels.
    pub ap_pooled: Option<f64>,
    /// AUPRO (MVTec, FPR ≤ 0.3).
    pub aupro: Option<f64>,
    /// The best pooled pixel F1 (Dice) over thresholds.
    pub f1_max: Option<f64>,
    /// Image AUROC, score = maximum of the map.
    pub image_auroc: Option<f64>,
    /// Per-image ECE of the absolute-error map.
    pub ece_ae: Option<MeanStd>,
    /// Per-image ECE of the square-error map.
    pub ece_se: Option<MeanStd>,
    /// Per-image SSIM of reconstruction vs input.
    pub ssim: Option<MeanStd>,
    /// Per-image PSNR in dB over the images whose reconstruction is not identical.
    pub psnr: Option<MeanStd>,
    /// The binarisation threshold.
    pub threshold: ThresholdSummary,
    /// `se` or `ae`.
    pub map: &'static str,
    /// `reconstructions` or `maps`.
    pub map_source: &'static str,
    /// Only the largest connected component of each prediction was kept.
    pub largest_component: bool,
    /// σ in pixels of the Gaussian smoothing of the maps before scoring (0: none).
    pub smooth_sigma: f64,
    /// Images evaluated.
    pub n_images: usize,
    /// Images whose mask has an anomalous pixel.
    pub n_anomalous_images: usize,
    /// Images without a mask, counted as all-normal.
    pub n_missing_masks: usize,
    /// Images left out of the per-image AUROC (mask all one class).
    pub n_auroc_skipped: usize,
    /// Images left out of the ECE of the map's own kind (given maps outside the error range).
    pub n_ece_skipped: usize,
    /// Images left out of SSIM (smaller than the 11×11 window).
    pub n_ssim_skipped: usize,
    /// Images left out of PSNR because the reconstruction equals the input (PSNR = ∞).
    pub n_psnr_identical: usize,
    /// How the pooled pixel metrics were accumulated.
    pub pooling: PoolingSummary,
    /// The input folders.
    pub inputs: InputsSummary,
    /// The metrics of each class with anomalous images (MVTec defect types), when the classes
    /// of the images are known; absent from the JSON otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub per_class: Vec<ClassSummary>,
}

/// The binarisation threshold in `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThresholdSummary {
    /// `otsu`, `fixed`, `percentile`, `best` or `calibrated`.
    pub rule: &'static str,
    /// The fixed value, the percentile, or the calibrated pixel false-positive rate; `None`
    /// for the others.
    pub parameter: Option<f64>,
    /// `given`, `per_image`, `pooled` or `healthy_images`.
    pub source: &'static str,
    /// The one value used for all images; `None` when chosen per image.
    pub value: Option<f64>,
    /// Mean ± std of the per-image values, when chosen per image.
    pub per_image: Option<MeanStd>,
    /// Images the pooled threshold was chosen over.
    pub n_images: Option<usize>,
    /// The pooled Dice the pooled threshold reaches on the set (Dice*).
    pub pooled_dice: Option<f64>,
    /// Calibrated: the image threshold on the image score (map maximum); images at or below
    /// it get an empty mask.
    pub image_threshold: Option<f64>,
    /// Calibrated: the fraction of healthy images the image threshold may let through.
    pub image_fpr: Option<f64>,
    /// Calibrated: the healthy images the thresholds were fitted on.
    pub calibration_images: Option<String>,
    /// Calibrated: `calibrated` (the threshold alone) or `otsu_floor` (per image the larger of
    /// it and Otsu's threshold; `per_image` then holds the values used).
    pub pixel_rule: Option<&'static str>,
}

impl ThresholdSummary {
    /// One line for people, e.g. `otsu, per image (mean ± std 0.0123 ± 0.0045)`.
    pub fn describe(&self) -> String {
        if let (Some(value), Some(rate)) = (self.value, self.parameter)
            && self.rule == "calibrated"
        {
            let gate = match (self.image_threshold, self.image_fpr) {
                (Some(threshold), Some(image_rate)) => format!(
                    "; images scoring ≤ {threshold:.6} (image FPR {:.1} %) get an empty mask",
                    image_rate * 100.0
                ),
                _ => String::new(),
            };
            let floor = match (self.pixel_rule, self.per_image) {
                (Some("otsu_floor"), Some(per_image)) => format!(
                    ", floored under Otsu's threshold per image (mean ± std {per_image:.6})"
                ),
                _ => String::new(),
            };
            return format!(
                "calibrated: {value:.6} (pixel FPR {:.2} %) on {}{floor}{gate}",
                rate * 100.0,
                self.calibration_images
                    .as_deref()
                    .unwrap_or("healthy images")
            );
        }
        let rule = match (self.rule, self.parameter) {
            ("fixed", Some(value)) => format!("fixed {value}"),
            ("percentile", Some(percent)) => format!("percentile {percent}"),
            ("best", _) => "best Dice over the set".to_string(),
            (rule, _) => rule.to_string(),
        };
        match (self.source, self.value, self.per_image) {
            ("pooled", Some(value), _) => format!(
                "{rule}: {value:.6}, pooled over {} images (pooled Dice {:.4})",
                self.n_images.unwrap_or_default(),
                self.pooled_dice.unwrap_or_default()
            ),
            (_, _, Some(per_image)) => {
                format!("{rule}, per image (mean ± std {per_image:.6})")
            }
            (source, Some(value), _) => format!("{rule} ({source}): {value}"),
            (source, None, None) => format!("{rule} ({source})"),
        }
    }
}

/// How the pooled pixel metrics were accumulated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PoolingSummary {
    /// `exact` (every pixel kept) or `histogram` (above the pixel budget).
    pub mode: &'static str,
    /// Pixels pooled.
    pub n_pixels: u64,
    /// The exact-pixel budget.
    pub max_exact_pixels: usize,
    /// Histogram bins, when folded.
    pub n_bins: Option<usize>,
    /// Histogram score range `[low, high]`, when folded.
    pub score_range: Option<[f64; 2]>,
    /// Largest possible error of `auroc_pooled` (0 when exact).
    pub auroc_error_bound: Option<f64>,
}

/// The input folders in `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputsSummary {
    /// `--images`.
    pub images: String,
    /// `--recon`, if given.
    pub reconstructions: Option<String>,
    /// `--maps`, if given.
    pub maps: Option<String>,
    /// `--masks`.
    pub masks: String,
}

/// Summarises the rows and pooled scores of a set.
///
/// # Errors
/// No rows, or a non-finite per-image value (a bug upstream, reported against the images
/// folder).
pub fn summarize(
    rows: &[ImageRow],
    pooled: &PooledScores,
    setting: &EvalSetting<'_>,
) -> Result<Summary> {
    let metric = |source| DtunetError::Metric {
        path: setting.images.to_path_buf(),
        source,
    };
    let all = |value: fn(&ImageRow) -> f64| -> Result<MeanStd> {
        MeanStd::from_values(&rows.iter().map(value).collect::<Vec<_>>()).map_err(metric)
    };
    let present = |value: fn(&ImageRow) -> Option<f64>| -> Result<Option<MeanStd>> {
        Ok(
            MeanStd::from_present(&rows.iter().map(value).collect::<Vec<_>>())
                .map_err(metric)?
                .summary,
        )
    };
    let count = |test: fn(&ImageRow) -> bool| rows.iter().filter(|row| test(row)).count();
    // The ECE of the map's own kind; SSIM and feature maps have none, so nothing is skipped.
    let own_ece = match setting.map_kind {
        ErrorMapKind::Absolute => |row: &ImageRow| row.scores.ece_ae,
        ErrorMapKind::Square => |row: &ImageRow| row.scores.ece_se,
        ErrorMapKind::Ssim | ErrorMapKind::Feature => |_: &ImageRow| Some(0.0),
    };
    let ranking = pooled.ranking;
    Ok(Summary {
        dice: all(|row| row.overlap.dice)?,
        dice_anomalous: present(|row| row.scores.anomalous.then_some(row.overlap.dice))?,
        iou: all(|row| row.overlap.iou)?,
        precision: all(|row| row.overlap.precision)?,
        recall: all(|row| row.overlap.recall)?,
        fpr: all(|row| row.overlap.false_positive_rate)?,
        healthy_pixels_flagged: healthy_pixels_flagged(rows),
        n_healthy_images_flagged: count(|row| {
            !row.scores.anomalous && row.overlap.false_positive_rate > 0.0
        }),
        auroc: present(|row| row.scores.auroc)?,
        auroc_pooled: ranking.map(|r| r.auroc),
        ap_pooled: ranking.map(|r| r.average_precision),
        aupro: pooled.aupro,
        f1_max: ranking.map(|r| r.f1_max.f1),
        image_auroc: pooled.image_auroc,
        ece_ae: present(|row| row.scores.ece_ae)?,
        ece_se: present(|row| row.scores.ece_se)?,
        ssim: present(|row| row.scores.ssim)?,
        psnr: present(|row| row.scores.psnr.filter(|psnr| psnr.is_finite()))?,
        threshold: threshold_summary(setting.binarization, rows, metric)?,
        map: map_name(setting.map_kind),
        map_source: if setting.maps.is_some() {
            "maps"
        } else {
            "reconstructions"
        },
        largest_component: setting.largest_component,
        smooth_sigma: setting.smooth_sigma,
        n_images: rows.len(),
        n_anomalous_images: count(|row| row.scores.anomalous),
        n_missing_masks: count(|row| row.mask_missing),
        n_auroc_skipped: count(|row| row.scores.auroc.is_none()),
        n_ece_skipped: rows.iter().filter(|row| own_ece(row).is_none()).count(),
        n_ssim_skipped: if setting.reconstructions.is_some() {
            count(|row| row.scores.ssim.is_none())
        } else {
            0
        },
        n_psnr_identical: count(|row| row.scores.psnr == Some(f64::INFINITY)),
        pooling: PoolingSummary {
            mode: if pooled.exact { "exact" } else { "histogram" },
            n_pixels: pooled.n_pixels,
            max_exact_pixels: pooled.max_exact_pixels,
            n_bins: (!pooled.exact).then(|| pooled.bins.n_bins()),
            score_range: (!pooled.exact).then(|| [pooled.bins.low(), pooled.bins.high()]),
            auroc_error_bound: ranking.map(|r| r.auroc_error_bound),
        },
        inputs: InputsSummary {
            images: setting.images.display().to_string(),
            reconstructions: setting.reconstructions.map(|p| p.display().to_string()),
            maps: setting.maps.map(|p| p.display().to_string()),
            masks: setting.masks.display().to_string(),
        },
        per_class: Vec::new(),
    })
}

/// `se` or `ae`, as on the command line.
pub fn map_name(kind: ErrorMapKind) -> &'static str {
    match kind {
        ErrorMapKind::Absolute => "ae",
        ErrorMapKind::Square => "se",
        ErrorMapKind::Ssim => "ssim",
        ErrorMapKind::Feature => "feature",
    }
}

/// The pooled fraction of flagged pixels over the healthy images (empty mask).
fn healthy_pixels_flagged(rows: &[ImageRow]) -> Option<f64> {
    let (flagged, pixels) = rows.iter().filter(|row| !row.scores.anomalous).fold(
        (0.0, 0usize),
        |(flagged, pixels), row| {
            let n = row.height * row.width;
            (
                flagged + row.overlap.false_positive_rate * n as f64,
                pixels + n,
            )
        },
    );
    (pixels > 0).then(|| flagged / pixels as f64)
}

/// The threshold part of the summary.
fn threshold_summary(
    binarization: &Binarization,
    rows: &[ImageRow],
    metric: impl Fn(dtunet_metrics::MetricsError) -> DtunetError,
) -> Result<ThresholdSummary> {
    let rule = match binarization {
        Binarization::PerImage(rule) => *rule,
        Binarization::Pooled(chosen) => chosen.rule,
        Binarization::Calibrated(_) => Threshold::Fixed(0.0),
    };
    let (name, parameter) = match rule {
        Threshold::Otsu => ("otsu", None),
        Threshold::Fixed(value) => ("fixed", Some(value)),
        Threshold::Percentile(percent) => ("percentile", Some(percent)),
        Threshold::BestDice => ("best", None),
    };
    let mut summary = ThresholdSummary {
        rule: name,
        parameter,
        source: "per_image",
        value: None,
        per_image: None,
        n_images: None,
        pooled_dice: None,
        image_threshold: None,
        image_fpr: None,
        calibration_images: None,
        pixel_rule: None,
    };
    match binarization {
        Binarization::Pooled(chosen) => {
            summary.source = "pooled";
            summary.value = Some(chosen.value);
            if let ThresholdSource::ImageSet {
                n_images,
                pooled_dice,
            } = chosen.source
            {
                summary.n_images = Some(n_images);
                summary.pooled_dice = Some(pooled_dice);
            }
        }
        Binarization::Calibrated(calibration) => {
            let thresholds = &calibration.thresholds;
            summary.rule = "calibrated";
            summary.parameter = Some(thresholds.pixel_fpr);
            summary.source = "healthy_images";
            summary.value = Some(thresholds.pixel);
            summary.n_images = Some(thresholds.n_images);
            summary.image_threshold = thresholds.image;
            summary.image_fpr = thresholds.image_fpr;
            summary.calibration_images = Some(calibration.images.clone());
            summary.pixel_rule = Some(thresholds.pixel_rule.name());
            if thresholds.pixel_rule == PixelRule::OtsuFloor {
                let values: Vec<f64> = rows.iter().map(|row| row.threshold).collect();
                summary.per_image = Some(MeanStd::from_values(&values).map_err(metric)?);
            }
        }
        Binarization::PerImage(Threshold::Fixed(value)) => {
            summary.source = "given";
            summary.value = Some(*value);
        }
        Binarization::PerImage(_) => {
            let values: Vec<f64> = rows.iter().map(|row| row.threshold).collect();
            summary.per_image = Some(MeanStd::from_values(&values).map_err(metric)?);
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use dtunet_metrics::{CalibratedThresholds, ChosenThreshold};

    use super::*;
    use crate::evaluate::scoring::Calibration;

    fn row(dice: f64, auroc: Option<f64>, psnr: Option<f64>, threshold: f64) -> ImageRow {
        ImageRow {
            stem: "x".into(),
            image: PathBuf::from("x.png"),
            mask_missing: false,
            height: 20,
            width: 28,
            scores: ImageScores {
                anomalous: auroc.is_some(),
                auroc,
                ece_ae: Some(0.1),
                ece_se: Some(0.2),
                ssim: Some(0.9),
                psnr,
                max_score: 1.0,
                min_score: 0.0,
            },
            threshold,
            overlap: OverlapScores {
                dice,
                iou: dice,
                precision: 1.0,
                recall: dice,
                false_positive_rate: 0.0,
            },
        }
    }

    fn pooled() -> PooledScores {
        PooledScores {
            ranking: None,
            aupro: None,
            image_auroc: Some(1.0),
            exact: true,
            n_pixels: 1680,
            bins: ScoreBins::new(0.0, 4.0, 16).expect("bins"),
            max_exact_pixels: 100,
        }
    }

    #[test]
    fn skips_absent_values_and_counts_them() {
        let rows = [
            row(0.5, Some(0.75), Some(f64::INFINITY), 0.1),
            row(1.0, None, Some(30.0), 0.3),
        ];
        let setting = EvalSetting {
            images: Path::new("images"),
            reconstructions: Some(Path::new("recon")),
            maps: None,
            masks: Path::new("masks"),
            map_kind: ErrorMapKind::Square,
            binarization: &Binarization::PerImage(Threshold::Otsu),
            largest_component: false,
            smooth_sigma: 0.0,
        };
        let summary = summarize(&rows, &pooled(), &setting).expect("summary");
        assert_eq!((summary.dice.mean, summary.dice.std), (0.75, 0.25));
        assert_eq!(summary.auroc.map(|a| (a.mean, a.count)), Some((0.75, 1)));
        assert_eq!(summary.n_auroc_skipped, 1);
        assert_eq!(summary.psnr.map(|p| p.mean), Some(30.0));
        assert_eq!(summary.n_psnr_identical, 1);
        assert_eq!(summary.threshold.source, "per_image");
        assert_eq!(summary.threshold.per_image.map(|t| t.mean), Some(0.2));
        assert_eq!(summary.auroc_pooled, None);
        let json = serde_json::to_value(&summary).expect("json");
        assert_eq!(json["dice"]["mean"], 0.75);
        assert!(json["auroc_pooled"].is_null());
        assert_eq!(json["map"], "se");
    }

    #[test]
    fn dice_over_anomalous_images_leaves_healthy_ones_out() {
        // Anomalous: Dice 0.25 and 0.75; healthy: 1 (nothing predicted) twice, and 0 (a
        // false positive).
        let rows = [
            row(0.25, Some(0.9), None, 0.1),
            row(1.0, None, None, 0.1),
            row(0.75, Some(0.8), None, 0.1),
            row(1.0, None, None, 0.1),
            row(0.0, None, None, 0.1),
        ];
        let setting = EvalSetting {
            images: Path::new("images"),
            reconstructions: Some(Path::new("recon")),
            maps: None,
            masks: Path::new("masks"),
            map_kind: ErrorMapKind::Square,
            binarization: &Binarization::PerImage(Threshold::Otsu),
            largest_component: false,
            smooth_sigma: 0.0,
        };
        let summary = summarize(&rows, &pooled(), &setting).expect("summary");
        // All five: mean 0.6, variance (0.35² + 0.4² + 0.15² + 0.4² + 0.6²) / 5 = 0.165.
        assert_eq!(summary.dice.count, 5);
        assert!((summary.dice.mean - 0.6).abs() < 1e-15);
        assert!((summary.dice.std - 0.165f64.sqrt()).abs() < 1e-15);
        assert_eq!(
            summary.dice_anomalous,
            Some(MeanStd {
                mean: 0.5,
                std: 0.25,
                count: 2
            })
        );
        assert_eq!(summary.n_anomalous_images, 2);
        let json = serde_json::to_value(&summary).expect("json");
        assert_eq!(
            json["dice_anomalous"],
            serde_json::json!({"mean": 0.5, "std": 0.25, "count": 2})
        );
        let lines = crate::report::metric_lines(&summary);
        assert_eq!(lines[0].0, "Dice");
        assert_eq!(
            lines[1],
            (
                "Dice (anomalous images)",
                "0.5000 ± 0.2500 (n = 2)".to_string()
            )
        );

        let healthy = [row(1.0, None, None, 0.1), row(0.0, None, None, 0.1)];
        let summary = summarize(&healthy, &pooled(), &setting).expect("summary");
        assert_eq!(summary.dice_anomalous, None, "absent, not 0");
        let json = serde_json::to_value(&summary).expect("json");
        assert!(json["dice_anomalous"].is_null());
        assert_eq!(
            crate::report::metric_lines(&summary)[1].1,
            "n/a (no anomalous image)"
        );
    }

    #[test]
    fn pooled_threshold_says_where_it_came_from() {
        let rows = [row(0.5, Some(0.75), None, 0.2)];
        let setting = EvalSetting {
            images: Path::new("images"),
            reconstructions: None,
            maps: Some(Path::new("maps")),
            masks: Path::new("masks"),
            map_kind: ErrorMapKind::Absolute,
            binarization: &Binarization::Pooled(ChosenThreshold {
                rule: Threshold::BestDice,
                value: 0.2,
                source: ThresholdSource::ImageSet {
                    n_images: 1,
                    pooled_dice: 0.5,
                },
            }),
            largest_component: true,
            smooth_sigma: 0.0,
        };
        let summary = summarize(&rows, &pooled(), &setting).expect("summary");
        assert_eq!(summary.threshold.source, "pooled");
        assert_eq!(summary.threshold.n_images, Some(1));
        assert_eq!(
            summary.threshold.describe(),
            "best Dice over the set: 0.200000, pooled over 1 images (pooled Dice 0.5000)"
        );
        assert_eq!((summary.map, summary.map_source), ("ae", "maps"));
        assert_eq!(summary.n_ssim_skipped, 0, "no ssim is expected from maps");
    }

    #[test]
    fn calibrated_thresholds_and_flagged_healthy_pixels_are_reported() {
        // Healthy rows: 20×28 pixels each, flagging 10 % and 0 % of them; one anomalous row.
        let mut flagged = row(0.0, None, None, 0.3);
        flagged.overlap.false_positive_rate = 0.1;
        let rows = [
            flagged,
            row(1.0, None, None, 0.3),
            row(0.5, Some(0.8), None, 0.3),
        ];
        let calibration = Binarization::Calibrated(Calibration {
            thresholds: CalibratedThresholds {
                pixel: 0.3,
                pixel_fpr: 0.01,
                image: Some(0.7),
                image_fpr: Some(0.05),
                n_images: 6,
                n_pixels: 6 * 560,
                pixel_rule: PixelRule::Calibrated,
            },
            images: "6 of 24 training images of data, held out from training".into(),
        });
        let setting = EvalSetting {
            images: Path::new("images"),
            reconstructions: Some(Path::new("recon")),
            maps: None,
            masks: Path::new("masks"),
            map_kind: ErrorMapKind::Square,
            binarization: &calibration,
            largest_component: false,
            smooth_sigma: 0.0,
        };
        let summary = summarize(&rows, &pooled(), &setting).expect("summary");
        assert_eq!(summary.healthy_pixels_flagged, Some(0.05));
        assert_eq!(summary.n_healthy_images_flagged, 1);
        let threshold = &summary.threshold;
        assert_eq!(
            (threshold.rule, threshold.source),
            ("calibrated", "healthy_images")
        );
        assert_eq!((threshold.value, threshold.n_images), (Some(0.3), Some(6)));
        assert_eq!(threshold.image_threshold, Some(0.7));
        assert_eq!(
            threshold.describe(),
            "calibrated: 0.300000 (pixel FPR 1.00 %) on 6 of 24 training images of data, held \
             out from training; images scoring ≤ 0.700000 (image FPR 5.0 %) get an empty mask"
        );
        let json = serde_json::to_value(&summary).expect("json");
        assert_eq!(json["threshold"]["image_fpr"], 0.05);
        assert_eq!(json["healthy_pixels_flagged"], 0.05);
        assert_eq!(json["threshold"]["pixel_rule"], "calibrated");

        let Binarization::Calibrated(mut floored) = calibration.clone() else {
            unreachable!("built as calibrated above")
        };
        floored.thresholds.pixel_rule = PixelRule::OtsuFloor;
        let floored = Binarization::Calibrated(floored);
        let summary = summarize(
            &rows,
            &pooled(),
            &EvalSetting {
                binarization: &floored,
                ..setting
            },
        )
        .expect("summary");
        assert_eq!(summary.threshold.pixel_rule, Some("otsu_floor"));
        assert!(summary.threshold.per_image.is_some(), "the values used");
        let described = summary.threshold.describe();
        assert!(
            described.contains("floored under Otsu's threshold per image"),
            "{described}"
        );

        let anomalous_only = [row(0.5, Some(0.8), None, 0.3)];
        let summary = summarize(&anomalous_only, &pooled(), &setting).expect("summary");
        assert_eq!(summary.healthy_pixels_flagged, None, "absent, not 0");
    }
}

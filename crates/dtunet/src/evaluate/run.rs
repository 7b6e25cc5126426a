//! The evaluation pipeline, streaming over images in parallel chunks so memory stays bounded:
//!
//! 1. pair the files by stem and check the output folder (created only once scoring succeeded);
//! 2. (given maps only) read every map once for the set's score range;
//! 3. score: per-image threshold-free metrics, and every map added to the pooled accumulators
//!    (exact up to a pixel budget, then a histogram);
//! 4. choose the threshold over the set if asked (best Dice), and the heat-map scale;
//! 5. binarise: per-image overlap metrics and the panel, reading each pair again;
//! 6. write the tables, the ROC curve and the HTML report.

use std::path::{Path, PathBuf};

use dtunet_metrics::{
    AuproAccumulator, ErrorMapKind, MVTEC_FPR_LIMIT, MapShape, MetricsError, PooledRanking,
    PoolingMode, RocCurve, ScoreBins, Threshold, auroc, best_dice_from_pooled, gaussian_smooth,
    roc_curve,
};
use rayon::prelude::*;

use super::aggregate::{EvalSetting, ImageRow, PooledScores, Summary, summarize};
use super::classes::{ClassOfStem, ClassPooled, ClassPools, ClassedImage, class_summaries};
use super::histogram::ScoreHistogram;
use super::loading::{Sample, load_sample, read_map};
use super::pairing::{MapSource, Pair, PairingInputs, find_pairs};
use super::scoring::{Binarization, Calibration, ImageScores, binarize_sample, score_sample};
use crate::error::{DtunetError, Result};
use crate::report::{
    HeatScale, HtmlReport, LinePlotOptions, PanelImages, ReportFiles, Series, VerticalMarker,
    histogram_plot, line_plot, write_metrics_csv, write_panel, write_per_class_csv,
    write_report_html, write_summary_json, write_summary_md,
};

/// Pixels kept exactly in the pooled rankings by default (2^24, about 200 MiB with AUPRO);
/// above it they fold into a 2^16-bin histogram.
pub const DEFAULT_MAX_EXACT_PIXELS: usize = 1 << 24;

/// Most points drawn on the ROC plot (the curve is thinned evenly above it).
const ROC_PLOT_POINTS: usize = 2000;

/// Images per worker thread in one parallel chunk.
const IMAGES_PER_THREAD: usize = 4;

/// Everything `evaluate` needs.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalConfig {
    /// Folder of input images.
    pub images: PathBuf,
    /// Reconstructions or anomaly maps.
    pub source: MapSource,
    /// Folder of ground-truth masks.
    pub masks: PathBuf,
    /// Square or absolute reconstruction error (for given maps: which one they hold).
    pub map_kind: ErrorMapKind,
    /// How to binarise the maps (unless `calibration` is given).
    pub threshold: Threshold,
    /// Pixel and image thresholds fitted on healthy images; when given they binarise the maps
    /// instead of `threshold`.
    pub calibration: Option<Calibration>,
    /// Keep only the largest 8-connected component of each predicted mask.
    pub largest_component: bool,
    /// σ in pixels of a Gaussian smoothing of every map before scoring (0: none); the ECE of
    /// the other error kind is taken on its map smoothed alike.
    pub smooth_sigma: f64,
    /// Treat an image without a mask as all-normal instead of failing.
    pub allow_missing_masks: bool,
    /// Output folder (created if missing).
    pub out: PathBuf,
    /// Write into an existing, non-empty output folder (replacing files of the same name).
    pub overwrite: bool,
    /// Pixels kept exactly in the pooled rankings before folding into a histogram (≥ 1).
    pub max_exact_pixels: usize,
    /// The class of each image by stem, for the metrics per class (`per_class.csv`); empty:
    /// none.
    pub classes: ClassOfStem,
}

impl EvalConfig {
    /// Rejects an invalid threshold rule or a zero pixel budget.
    ///
    /// # Errors
    /// As above ([`DtunetError::InvalidParameter`]).
    pub fn validate(&self) -> Result<()> {
        if self.threshold.validate().is_err() {
            return Err(DtunetError::InvalidParameter {
                name: "--threshold",
                found: self.threshold.to_string(),
                expected: "a finite fixed value or a percentile in 0..=100".into(),
            });
        }
        if !(self.smooth_sigma >= 0.0 && self.smooth_sigma.is_finite()) {
            return Err(DtunetError::InvalidParameter {
                name: "--smooth",
                found: self.smooth_sigma.to_string(),
                expected: "a smoothing σ ≥ 0 pixels (0: none)".into(),
            });
        }
        if self.max_exact_pixels == 0 {
            return Err(DtunetError::InvalidParameter {
                name: "--max-exact-pixels",
                found: "0".into(),
                expected: "at least 1 pixel".into(),
            });
        }
        Ok(())
    }
}

/// A stage of the pipeline, for progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalStage {
    /// Reading given maps for their score range.
    ScanMaps,
    /// Per-image and pooled scores.
    Score,
    /// Binarisation, overlap scores and panels.
    Render,
}

impl std::fmt::Display for EvalStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::ScanMaps => "scanning maps",
            Self::Score => "scoring",
            Self::Render => "binarising + panels",
        })
    }
}

/// Progress reported by [`evaluate`] (from worker threads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalProgress {
    /// A stage starts over `n_images` images.
    Stage {
        /// The stage.
        stage: EvalStage,
        /// Images it will go through.
        n_images: usize,
    },
    /// One more image of the current stage is done.
    ImageDone,
}

/// What [`evaluate`] produced.
#[derive(Debug, Clone)]
pub struct EvalOutputs {
    /// The set's summary (as in `summary.json`).
    pub summary: Summary,
    /// The files written.
    pub files: ReportFiles,
    /// `roc.png` was written (the pooled ROC is defined).
    pub has_roc: bool,
}

/// The pair's sample with its map smoothed as `config` asks.
fn load_scored(pair: &Pair, config: &EvalConfig) -> Result<Sample> {
    let mut sample = load_sample(pair, &config.source, config.map_kind)?;
    sample.map = gaussian_smooth(&sample.map, sample.shape.plane(), config.smooth_sigma).map_err(
        |source| DtunetError::Metric {
            path: pair.partner.clone(),
            source,
        },
    )?;
    Ok(sample)
}

/// Evaluates a set of images against their reconstructions or maps and masks, and writes the
/// report into `config.out`.
///
/// # Errors
/// Invalid options, missing or empty folders, unpaired files, unreadable or mismatched files,
/// a non-empty output folder without `overwrite`, `best` on a set with a single pixel class,
/// or a failure writing the outputs.
pub fn evaluate(
    config: &EvalConfig,
    progress: &(dyn Fn(EvalProgress) + Sync),
) -> Result<EvalOutputs> {
    config.validate()?;
    let pairs = find_pairs(&PairingInputs {
        images: &config.images,
        source: &config.source,
        masks: &config.masks,
        allow_missing_masks: config.allow_missing_masks,
    })?;
    check_classes_name_images(config, &pairs)?;
    let files = ReportFiles::in_folder(&config.out);
    check_output_folder(&files.folder, config.overwrite)?;

    let bins = score_bins(config, &pairs, progress)?;
    let scored = score_all(config, &pairs, bins, progress)?;
    let pooled = pool(config, scored, bins)?;
    create_output_folders(&files)?;
    let (rows, histogram) = binarize_all(config, &pairs, &pooled, &files, progress)?;
    let per_class = class_summaries(
        pooled.classes.clone(),
        &rows,
        &config.classes,
        &files.folder,
    )?;
    let (reconstructions, maps) = match &config.source {
        MapSource::Reconstructions(folder) => (Some(folder.as_path()), None),
        MapSource::Maps(folder) => (None, Some(folder.as_path())),
    };
    let mut summary = summarize(
        &rows,
        &pooled.scores,
        &EvalSetting {
            images: &config.images,
            reconstructions,
            maps,
            masks: &config.masks,
            map_kind: config.map_kind,
            binarization: &pooled.binarization,
            largest_component: config.largest_component,
            smooth_sigma: config.smooth_sigma,
        },
    )?;
    summary.per_class = per_class;
    let has_roc = write_report(&files, &summary, &rows, &pooled, &histogram)?;
    Ok(EvalOutputs {
        summary,
        files,
        has_roc,
    })
}

/// Refuses classes of which no stem names an image of the set: a classes file of another set.
fn check_classes_name_images(config: &EvalConfig, pairs: &[Pair]) -> Result<()> {
    let classes = &config.classes;
    if classes.is_empty() || pairs.iter().any(|pair| classes.contains_key(&pair.stem)) {
        return Ok(());
    }
    Err(DtunetError::InvalidParameter {
        name: "--classes",
        found: format!(
            "{} stems, none of them among the {} images of {}",
            classes.len(),
            pairs.len(),
            config.images.display()
        ),
        expected: "the classes of this set's images, by file stem (its detect folder's \
                   classes.json)"
            .into(),
    })
}

/// Refuses an output path that is not a folder, or an existing non-empty folder unless
/// `overwrite` (files are then replaced by name, never deleted). Creates nothing, so bad input
/// found later leaves no folder behind.
fn check_output_folder(folder: &Path, overwrite: bool) -> Result<()> {
    let output_error = |problem| DtunetError::OutputFolder {
        path: folder.to_path_buf(),
        problem,
    };
    match std::fs::metadata(folder) {
        Ok(metadata) if !metadata.is_dir() => Err(output_error(
            "exists and is not a folder; give a folder for --out",
        )),
        Ok(_) => {
            let mut entries = std::fs::read_dir(folder).map_err(|source| DtunetError::Io {
                action: "list",
                path: folder.to_path_buf(),
                source,
            })?;
            if entries.next().is_some() && !overwrite {
                return Err(output_error(
                    "exists and is not empty; pass --overwrite to write into it \
                     (files of the same name are replaced, others are kept) or pick a new folder",
                ));
            }
            Ok(())
        }
        Err(_) => Ok(()),
    }
}

/// Creates the output folder and its panels folder.
fn create_output_folders(files: &ReportFiles) -> Result<()> {
    for path in [&files.folder, &files.panels] {
        std::fs::create_dir_all(path).map_err(|source| DtunetError::Io {
            action: "create folder",
            path: path.clone(),
            source,
        })?;
    }
    Ok(())
}

/// The histogram the pooled rankings fold into: `[0, max error]` for reconstruction errors,
/// the set's score range for given maps (read once here).
fn score_bins(
    config: &EvalConfig,
    pairs: &[Pair],
    progress: &(dyn Fn(EvalProgress) + Sync),
) -> Result<ScoreBins> {
    let (low, high) = match &config.source {
        MapSource::Reconstructions(_) => (0.0, config.map_kind.max_value()),
        MapSource::Maps(_) => {
            progress(EvalProgress::Stage {
                stage: EvalStage::ScanMaps,
                n_images: pairs.len(),
            });
            let (low, high) = pairs
                .par_iter()
                .map(|pair| -> Result<(f32, f32)> {
                    let (_, map) = read_map(&pair.partner)?;
                    progress(EvalProgress::ImageDone);
                    Ok(map
                        .iter()
                        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                            (lo.min(v), hi.max(v))
                        }))
                })
                .try_reduce(
                    || (f32::INFINITY, f32::NEG_INFINITY),
                    |a, b| Ok((a.0.min(b.0), a.1.max(b.1))),
                )?;
            let (low, high) = (f64::from(low), f64::from(high));
            (low, if high > low { high } else { low + 1.0 })
        }
    };
    ScoreBins::new(low, high, ScoreBins::DEFAULT_N_BINS).map_err(|source| DtunetError::Metric {
        path: config.source.folder().to_path_buf(),
        source,
    })
}

/// The result of the scoring pass.
struct Scored {
    /// Per-image scores, in pair order.
    scores: Vec<ImageScores>,
    /// All pixels of all maps.
    ranking: PooledRanking,
    /// All regions of all masks.
    aupro: AuproAccumulator,
    /// The pooled metrics of each class (empty without classes).
    classes: Vec<ClassPooled>,
}

/// Scores every pair in parallel chunks and pools their pixels.
fn score_all(
    config: &EvalConfig,
    pairs: &[Pair],
    bins: ScoreBins,
    progress: &(dyn Fn(EvalProgress) + Sync),
) -> Result<Scored> {
    progress(EvalProgress::Stage {
        stage: EvalStage::Score,
        n_images: pairs.len(),
    });
    let mode = PoolingMode::ExactUpTo {
        max_exact_pixels: config.max_exact_pixels,
        bins,
    };
    let mut ranking = PooledRanking::new(mode);
    let mut aupro =
        AuproAccumulator::new(mode, MVTEC_FPR_LIMIT).map_err(|source| DtunetError::Metric {
            path: config.images.clone(),
            source,
        })?;
    let mut classes = ClassPools::new(&config.classes, mode, MVTEC_FPR_LIMIT, &config.images)?;
    let mut scores = Vec::with_capacity(pairs.len());
    for chunk in pairs.chunks(chunk_len()) {
        let scored: Vec<(ImageScores, Vec<f32>, Vec<bool>, MapShape)> = chunk
            .par_iter()
            .map(|pair| {
                let sample = load_scored(pair, config)?;
                let image_scores =
                    score_sample(&sample, config.map_kind, config.smooth_sigma, &pair.partner)?;
                progress(EvalProgress::ImageDone);
                Ok((image_scores, sample.map, sample.mask, sample.shape.plane()))
            })
            .collect::<Result<_>>()?;
        for (pair, (image_scores, map, mask, shape)) in chunk.iter().zip(scored) {
            let metric = |source: MetricsError| DtunetError::Metric {
                path: pair.partner.clone(),
                source,
            };
            ranking.add(&map, &mask).map_err(metric)?;
            aupro.add(&map, &mask, shape).map_err(metric)?;
            classes
                .add(&ClassedImage {
                    stem: &pair.stem,
                    map: &map,
                    mask: &mask,
                    shape,
                    max_score: image_scores.max_score,
                    anomalous: image_scores.anomalous,
                })
                .map_err(metric)?;
            scores.push(image_scores);
        }
    }
    Ok(Scored {
        scores,
        ranking,
        aupro,
        classes: classes.finish().map_err(|source| DtunetError::Metric {
            path: config.images.clone(),
            source,
        })?,
    })
}

/// The set-level results of the scoring pass.
struct Pooled {
    /// Per-image scores, in pair order.
    images: Vec<ImageScores>,
    /// Pooled pixel and image metrics.
    scores: PooledScores,
    /// How the maps are binarised: the threshold chosen over the set for
    /// [`Threshold::BestDice`], the calibration when given, else the rule per image.
    binarization: Binarization,
    /// The pooled ROC curve thinned for plotting; `None` with a single class.
    roc_points: Option<Vec<(f64, f64)>>,
    /// The heat-map scale of the panels: the set's smallest and largest map values.
    heat: HeatScale,
    /// The threshold-free metrics of each class.
    classes: Vec<ClassPooled>,
}

/// Reads the pooled metrics, the set-level threshold and the heat-map scale out of the
/// scoring pass, releasing the pooled pixels.
fn pool(config: &EvalConfig, scored: Scored, bins: ScoreBins) -> Result<Pooled> {
    let Scored {
        scores: images,
        mut ranking,
        mut aupro,
        classes,
    } = scored;
    let binarization = match (&config.calibration, config.threshold) {
        (Some(calibration), _) => Binarization::Calibrated(calibration.clone()),
        (None, Threshold::BestDice) => Binarization::Pooled(
            best_dice_from_pooled(&mut ranking).ok_or(DtunetError::ThresholdUndefined {
                rule: "best".into(),
                problem: "the masks hold a single class over the whole set, so no Dice \
                          threshold can be chosen; use otsu, fixed:V or percentile:P",
            })?,
        ),
        (None, rule) => Binarization::PerImage(rule),
    };
    let max_scores: Vec<f32> = images.iter().map(|s| s.max_score).collect();
    let anomalous: Vec<bool> = images.iter().map(|s| s.anomalous).collect();
    let scores = PooledScores {
        ranking: ranking.summary(),
        aupro: aupro.aupro(),
        image_auroc: auroc(&max_scores, &anomalous).map_err(|source| DtunetError::Metric {
            path: config.images.clone(),
            source,
        })?,
        exact: ranking.is_exact(),
        n_pixels: ranking.n_pixels(),
        bins,
        max_exact_pixels: config.max_exact_pixels,
    };
    let roc_points = ranking.roc_curve().map(|curve| thin_curve(&curve));
    let heat = HeatScale {
        low: images
            .iter()
            .map(|s| s.min_score)
            .fold(f32::INFINITY, f32::min),
        high: images
            .iter()
            .map(|s| s.max_score)
            .fold(f32::NEG_INFINITY, f32::max),
    };
    Ok(Pooled {
        images,
        scores,
        binarization,
        roc_points,
        heat,
        classes,
    })
}

/// Binarises every pair in parallel chunks, writing its panel; returns the rows and the score
/// histogram of all pixels.
fn binarize_all(
    config: &EvalConfig,
    pairs: &[Pair],
    pooled: &Pooled,
    files: &ReportFiles,
    progress: &(dyn Fn(EvalProgress) + Sync),
) -> Result<(Vec<ImageRow>, ScoreHistogram)> {
    let heat = pooled.heat;
    let mut histogram = ScoreHistogram::new(f64::from(heat.low), f64::from(heat.high));
    progress(EvalProgress::Stage {
        stage: EvalStage::Render,
        n_images: pairs.len(),
    });
    let mut rows = Vec::with_capacity(pairs.len());
    for (chunk, chunk_scores) in pairs
        .chunks(chunk_len())
        .zip(pooled.images.chunks(chunk_len()))
    {
        let chunk_rows: Vec<(ImageRow, ScoreHistogram)> = chunk
            .par_iter()
            .zip(chunk_scores)
            .map(|(pair, &image_scores)| {
                let sample = load_scored(pair, config)?;
                let binarized = binarize_sample(
                    &sample,
                    &pooled.binarization,
                    config.largest_component,
                    &pair.partner,
                )?;
                write_panel(
                    &files.panel(&pair.stem),
                    &PanelImages {
                        shape: sample.shape,
                        image: &sample.image,
                        reconstruction: sample.reconstruction.as_deref(),
                        map: &sample.map,
                        heat: pooled.heat,
                        predicted: &binarized.predicted,
                        truth: &sample.mask,
                    },
                )?;
                progress(EvalProgress::ImageDone);
                let mut image_histogram =
                    ScoreHistogram::new(f64::from(heat.low), f64::from(heat.high));
                image_histogram.add(&sample.map, &sample.mask);
                let row = ImageRow {
                    stem: pair.stem.clone(),
                    image: pair.image.clone(),
                    mask_missing: pair.mask.is_none(),
                    height: sample.shape.height,
                    width: sample.shape.width,
                    scores: image_scores,
                    threshold: binarized.threshold,
                    overlap: binarized.overlap,
                };
                Ok((row, image_histogram))
            })
            .collect::<Result<_>>()?;
        for (row, image_histogram) in chunk_rows {
            histogram.merge(&image_histogram);
            rows.push(row);
        }
    }
    Ok((rows, histogram))
}

/// Images per parallel chunk: a few per worker thread.
fn chunk_len() -> usize {
    rayon::current_num_threads().max(1) * IMAGES_PER_THREAD
}

/// The ROC curve thinned evenly to at most [`ROC_PLOT_POINTS`] `(fpr, tpr)` points, the ends
/// kept.
fn thin_curve(curve: &RocCurve) -> Vec<(f64, f64)> {
    let points = || {
        curve
            .false_positive_rates
            .iter()
            .copied()
            .zip(curve.true_positive_rates.iter().copied())
    };
    let stride = curve
        .false_positive_rates
        .len()
        .div_ceil(ROC_PLOT_POINTS)
        .max(1);
    let mut thinned: Vec<(f64, f64)> = points().step_by(stride).collect();
    if let Some(last) = points().next_back()
        && thinned.last() != Some(&last)
    {
        thinned.push(last);
    }
    thinned
}

/// Writes the tables, the pixel and image ROC plots (when defined), the score histogram with
/// the threshold, and the HTML page; returns whether the pixel ROC plot was drawn.
fn write_report(
    files: &ReportFiles,
    summary: &Summary,
    rows: &[ImageRow],
    pooled: &Pooled,
    histogram: &ScoreHistogram,
) -> Result<bool> {
    write_metrics_csv(&files.metrics_csv, rows)?;
    if !summary.per_class.is_empty() {
        write_per_class_csv(&files.per_class_csv, &summary.per_class)?;
    }
    write_summary_json(&files.summary_json, summary)?;
    write_summary_md(&files.summary_md, summary)?;
    let has_roc = match (&pooled.roc_points, summary.auroc_pooled) {
        (Some(points), Some(auroc)) => {
            roc_plot(&files.roc_png, "Pooled pixel ROC", auroc, points.clone())?;
            true
        }
        _ => false,
    };
    let has_image_roc = match summary.image_auroc {
        Some(auroc) => {
            let scores: Vec<f32> = pooled.images.iter().map(|s| s.max_score).collect();
            let anomalous: Vec<bool> = pooled.images.iter().map(|s| s.anomalous).collect();
            let curve = roc_curve(&scores, &anomalous).map_err(|source| DtunetError::Metric {
                path: files.folder.clone(),
                source,
            })?;
            match curve {
                Some(curve) => {
                    let title = "Image ROC (score: map maximum)";
                    roc_plot(&files.image_roc_png, title, auroc, thin_curve(&curve))?;
                    true
                }
                None => false,
            }
        }
        None => false,
    };
    let threshold = &summary.threshold;
    let marker = match (threshold.value, threshold.per_image) {
        (Some(value), _) => Some(VerticalMarker {
            label: format!("{} threshold {value:.4}", threshold.rule),
            x: value,
        }),
        (None, Some(per_image)) => Some(VerticalMarker {
            label: format!(
                "{} threshold, mean over images {:.4}",
                threshold.rule, per_image.mean
            ),
            x: per_image.mean,
        }),
        (None, None) => None,
    };
    histogram_plot(
        &files.scores_png,
        "Pixel scores",
        &format!("map value ({})", summary.map),
        &histogram.series(),
        marker.as_slice(),
    )?;
    write_report_html(
        files,
        &HtmlReport {
            summary,
            rows,
            heat: pooled.heat,
            with_reconstruction: summary.map_source == "reconstructions",
            has_roc,
            has_image_roc,
        },
    )?;
    Ok(has_roc)
}

/// Draws one ROC curve labelled with its AUROC.
fn roc_plot(path: &Path, title: &str, auroc: f64, points: Vec<(f64, f64)>) -> Result<()> {
    line_plot(
        path,
        title,
        "false-positive rate",
        "true-positive rate",
        &[Series {
            label: format!("AUROC {auroc:.4}"),
            points,
        }],
        &LinePlotOptions::roc(),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::evaluate::pairing::PairingInputs;

    #[test]
    fn thinning_keeps_both_ends_and_bounds_the_points() {
        let n = 5 * ROC_PLOT_POINTS + 3;
        let curve = RocCurve {
            false_positive_rates: (0..n).map(|i| i as f64 / (n - 1) as f64).collect(),
            true_positive_rates: (0..n).map(|i| (i as f64 / (n - 1) as f64).sqrt()).collect(),
            thresholds: (0..n).map(|i| -(i as f64)).collect(),
        };
        let thinned = thin_curve(&curve);
        assert!(thinned.len() <= ROC_PLOT_POINTS + 1);
        assert_eq!(thinned.first(), Some(&(0.0, 0.0)));
        assert_eq!(thinned.last(), Some(&(1.0, 1.0)));
        let short = RocCurve {
            false_positive_rates: vec![0.0, 1.0],
            true_positive_rates: vec![0.0, 1.0],
            thresholds: vec![f64::INFINITY, 0.0],
        };
        assert_eq!(thin_curve(&short), vec![(0.0, 0.0), (1.0, 1.0)]);
    }

    #[test]
    fn a_non_empty_output_folder_is_refused_without_overwrite() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert!(
            check_output_folder(dir.path(), false).is_ok(),
            "empty is fine"
        );
        std::fs::write(dir.path().join("mine.txt"), "x").expect("write");
        let error = check_output_folder(dir.path(), false).expect_err("refused");
        assert!(error.is_usage_error());
        assert!(error.to_string().contains("--overwrite"), "{error}");
        assert!(check_output_folder(dir.path(), true).is_ok());
        let file = dir.path().join("mine.txt");
        assert!(
            check_output_folder(&file, true).is_err(),
            "a file is no folder"
        );
    }

    /// How one image of the tie set is stored.
    #[derive(Debug, Clone, Copy)]
    enum Storage {
        /// 8-bit grey image and reconstruction.
        Grey8,
        /// 16-bit grey image and reconstruction, at levels off the 8-bit grid.
        Grey16,
        /// 8-bit grey image against a 16-bit RGB reconstruction (promoted, channel repeated).
        Grey8VsRgb16,
    }

    /// The exact error of one kind of an [`ExactPixel`].
    type ErrorKey = fn(&ExactPixel) -> u128;

    /// One pixel of the tie set: its exact errors as integers in one unit for the whole set
    /// (`ae · 65535 · 3 / 2`, `se · 65535² · 3 / 4`), and its label.
    #[derive(Debug, Clone, Copy)]
    struct ExactPixel {
        ae_key: u128,
        se_key: u128,
        anomalous: bool,
    }

    const TIE_HEIGHT: u32 = 5;
    const TIE_WIDTH: u32 = 7;

    /// The folders `images`, `recon` and `masks` under `root` holding [`write_tie_set`]'s set,
    /// and its exact errors.
    fn tie_set(root: &Path) -> ([PathBuf; 3], BTreeMap<String, Vec<ExactPixel>>) {
        let [images, recon, masks] = ["images", "recon", "masks"].map(|name| {
            let folder = root.join(name);
            std::fs::create_dir(&folder).expect("mkdir");
            folder
        });
        let exact = write_tie_set(&images, &recon, &masks);
        ([images, recon, masks], exact)
    }

    /// Writes a set where many pixels share an integer difference (0..=3 grey steps of
    /// 8 bits, or the same in 16-bit units) at different grey levels, so that an error computed
    /// in f32 from `[-1, 1]` values rounds differently per level; every tie group holds both
    /// classes. Returns the pixels' exact errors by stem.
    fn write_tie_set(
        images: &Path,
        recon: &Path,
        masks: &Path,
    ) -> BTreeMap<String, Vec<ExactPixel>> {
        let storages = [
            Storage::Grey8,
            Storage::Grey16,
            Storage::Grey8VsRgb16,
            Storage::Grey8,
            Storage::Grey16,
            Storage::Grey8VsRgb16,
        ];
        let mut exact = BTreeMap::new();
        for (n, storage) in storages.into_iter().enumerate() {
            let stem = format!("tie{n}");
            let n = n as u32;
            let pixel = |col: u32, row: u32| {
                let i = row * TIE_WIDTH + col;
                let level = 20 + (i * 37 + n * 53) % 200;
                let steps = (i + n) % 4;
                let sign: i64 = if (i * 3 + n).is_multiple_of(2) { 1 } else { -1 };
                let anomalous = match steps {
                    0 => i.is_multiple_of(9),
                    1 => i.is_multiple_of(4),
                    2 => i.is_multiple_of(2),
                    _ => !i.is_multiple_of(3),
                };
                (i, level, sign * i64::from(steps), anomalous)
            };
            let (width, height) = (TIE_WIDTH, TIE_HEIGHT);
            let png = |folder: &Path| folder.join(format!("{stem}.png"));
            match storage {
                Storage::Grey8 => {
                    image::GrayImage::from_fn(width, height, |c, r| {
                        image::Luma([pixel(c, r).1 as u8])
                    })
                    .save(png(images))
                    .expect("png");
                    image::GrayImage::from_fn(width, height, |c, r| {
                        let (_, level, difference, _) = pixel(c, r);
                        image::Luma([(i64::from(level) + difference) as u8])
                    })
                    .save(png(recon))
                    .expect("png");
                }
                Storage::Grey16 => {
                    let level16 = |i: u32, level: u32| level * 257 + (i * 101) % 200;
                    image::ImageBuffer::from_fn(width, height, |c, r| {
                        let (i, level, _, _) = pixel(c, r);
                        image::Luma([level16(i, level) as u16])
                    })
                    .save(png(images))
                    .expect("png");
                    image::ImageBuffer::from_fn(width, height, |c, r| {
                        let (i, level, difference, _) = pixel(c, r);
                        image::Luma([(i64::from(level16(i, level)) + 257 * difference) as u16])
                    })
                    .save(png(recon))
                    .expect("png");
                }
                Storage::Grey8VsRgb16 => {
                    image::GrayImage::from_fn(width, height, |c, r| {
                        image::Luma([pixel(c, r).1 as u8])
                    })
                    .save(png(images))
                    .expect("png");
                    image::ImageBuffer::from_fn(width, height, |c, r| {
                        let (_, level, difference, _) = pixel(c, r);
                        let value = ((i64::from(level) + difference) * 257) as u16;
                        image::Rgb([value; 3])
                    })
                    .save(png(recon))
                    .expect("png");
                }
            }
            image::GrayImage::from_fn(width, height, |c, r| {
                image::Luma([if pixel(c, r).3 { 255 } else { 0 }])
            })
            .save(masks.join(format!("{stem}_mask.png")))
            .expect("png");
            // Every storage holds `difference` 8-bit steps, i.e. 257 · difference in 16-bit
            // units, on each of its channels: ae · 65535 · 3 / 2 = 3 · 257 · |difference|.
            let pixels = (0..height)
                .flat_map(|row| (0..width).map(move |col| (col, row)))
                .map(|(col, row)| {
                    let (_, _, difference, anomalous) = pixel(col, row);
                    let steps = u128::from(difference.unsigned_abs()) * 257;
                    ExactPixel {
                        ae_key: 3 * steps,
                        se_key: 3 * steps * steps,
                        anomalous,
                    }
                })
                .collect();
            exact.insert(stem, pixels);
        }
        exact
    }

    /// AUROC as the share of (positive, negative) pairs in order, ties counting one half, and
    /// AP as `Σ (R_k − R_{k−1}) · P_k` over the distinct scores from the highest down.
    fn exact_reference(pixels: &[(u128, bool)]) -> (f64, f64) {
        let positives: Vec<u128> = pixels.iter().filter(|p| p.1).map(|p| p.0).collect();
        let negatives: Vec<u128> = pixels.iter().filter(|p| !p.1).map(|p| p.0).collect();
        let mut twice_ordered_pairs = 0u64;
        for &positive in &positives {
            for &negative in &negatives {
                twice_ordered_pairs += match positive.cmp(&negative) {
                    std::cmp::Ordering::Greater => 2,
                    std::cmp::Ordering::Equal => 1,
                    std::cmp::Ordering::Less => 0,
                };
            }
        }
        let n_pairs = (positives.len() * negatives.len()) as u64;
        let auroc = twice_ordered_pairs as f64 / (2 * n_pairs) as f64;
        let mut thresholds: Vec<u128> = pixels.iter().map(|p| p.0).collect();
        thresholds.sort_unstable_by(|a, b| b.cmp(a));
        thresholds.dedup();
        let (mut ap, mut previous_recall) = (0.0, 0.0);
        for threshold in thresholds {
            let true_positives = positives.iter().filter(|&&s| s >= threshold).count() as f64;
            let predicted = pixels.iter().filter(|p| p.0 >= threshold).count() as f64;
            let recall = true_positives / positives.len() as f64;
            ap += (recall - previous_recall) * true_positives / predicted;
            previous_recall = recall;
        }
        (auroc, ap)
    }

    #[test]
    fn equal_integer_differences_give_bit_identical_map_values() {
        let dir = tempfile::tempdir().expect("temp dir");
        let ([images, recon, masks], exact) = tie_set(dir.path());
        let source = MapSource::Reconstructions(recon.clone());
        let pairs = find_pairs(&PairingInputs {
            images: &images,
            source: &source,
            masks: &masks,
            allow_missing_masks: false,
        })
        .expect("pairs");
        assert_eq!(pairs.len(), exact.len());
        // 3 steps: ae 6/255, se 36/255².
        let kinds: [(ErrorMapKind, ErrorKey, f32); 2] = [
            (
                ErrorMapKind::Absolute,
                |p| p.ae_key,
                (6.0f64 / 255.0) as f32,
            ),
            (
                ErrorMapKind::Square,
                |p| p.se_key,
                (36.0f64 / 65025.0) as f32,
            ),
        ];
        for (kind, key_of, expected) in kinds {
            // exact error → the map value every pixel with it got, as bits
            let mut values: BTreeMap<u128, u32> = BTreeMap::new();
            for pair in &pairs {
                let sample = load_sample(pair, &source, kind).expect("loads");
                for (value, pixel) in sample.map.iter().zip(&exact[&pair.stem]) {
                    let key = key_of(pixel);
                    let first = *values.entry(key).or_insert(value.to_bits());
                    assert_eq!(
                        value.to_bits(),
                        first,
                        "{kind:?} {}: {value} vs {} for the same error",
                        pair.stem,
                        f32::from_bits(first)
                    );
                }
            }
            assert_eq!(values.len(), 4, "differences of 0..=3 steps");
            assert_eq!(values.values().max().copied(), Some(expected.to_bits()));
        }
    }

    /// Maps of a 6×6 anomalous block at 0.5 among zeros with isolated spikes of 0.9 in the
    /// normal area: raw, every spike outranks the whole block; smoothed, the block wins.
    fn write_spiky_set(root: &Path) -> [PathBuf; 3] {
        let [images, maps, masks] = ["images", "maps", "masks"].map(|name| {
            let folder = root.join(name);
            std::fs::create_dir(&folder).expect("mkdir");
            folder
        });
        let side = 24_usize;
        for n in 0..3_usize {
            let stem = format!("spiky{n}");
            let inside = |row: usize, col: usize| (8..14).contains(&row) && (9..15).contains(&col);
            let map: Vec<f32> = (0..side * side)
                .map(|i| {
                    let (row, col) = (i / side, i % side);
                    if inside(row, col) {
                        0.5
                    } else if (i * 7 + n * 3) % 23 == 0 {
                        0.9
                    } else {
                        0.0
                    }
                })
                .collect();
            crate::io::write_npy(&maps.join(format!("{stem}.npy")), &[24, 24], &map).expect("npy");
            image::GrayImage::from_pixel(24, 24, image::Luma([128]))
                .save(images.join(format!("{stem}.png")))
                .expect("png");
            image::GrayImage::from_fn(24, 24, |col, row| {
                image::Luma([if inside(row as usize, col as usize) {
                    255
                } else {
                    0
                }])
            })
            .save(masks.join(format!("{stem}.png")))
            .expect("png");
        }
        [images, maps, masks]
    }

    #[test]
    fn smoothing_the_maps_changes_the_scores_and_is_reported() {
        let dir = tempfile::tempdir().expect("temp dir");
        let [images, maps, masks] = write_spiky_set(dir.path());
        let summary_at = |sigma: f64| {
            let config = EvalConfig {
                images: images.clone(),
                source: MapSource::Maps(maps.clone()),
                masks: masks.clone(),
                map_kind: ErrorMapKind::Square,
                threshold: Threshold::Otsu,
                calibration: None,
                smooth_sigma: sigma,
                largest_component: false,
                allow_missing_masks: false,
                out: dir.path().join(format!("out_{sigma}")),
                overwrite: false,
                max_exact_pixels: DEFAULT_MAX_EXACT_PIXELS,
                classes: ClassOfStem::new(),
            };
            evaluate(&config, &|_| {}).expect("evaluates").summary
        };
        let (raw, smoothed) = (summary_at(0.0), summary_at(1.5));
        let (raw_auroc, smoothed_auroc) = (
            raw.auroc_pooled.expect("two classes"),
            smoothed.auroc_pooled.expect("two classes"),
        );
        assert!(raw_auroc < 0.97, "raw {raw_auroc}");
        assert!(
            smoothed_auroc > 0.99,
            "smoothed {smoothed_auroc} (raw {raw_auroc})"
        );
        assert!(smoothed.ap_pooled > raw.ap_pooled, "{smoothed:?}");
        assert_eq!((raw.smooth_sigma, smoothed.smooth_sigma), (0.0, 1.5));
        let markdown =
            std::fs::read_to_string(dir.path().join("out_1.5/summary.md")).expect("summary.md");
        assert!(
            markdown.contains("Gaussian-smoothed (σ 1.5 px)"),
            "{markdown}"
        );
        let bad = EvalConfig {
            images,
            source: MapSource::Maps(maps),
            masks,
            map_kind: ErrorMapKind::Square,
            threshold: Threshold::Otsu,
            calibration: None,
            smooth_sigma: -1.0,
            largest_component: false,
            allow_missing_masks: false,
            out: dir.path().join("bad"),
            overwrite: false,
            max_exact_pixels: DEFAULT_MAX_EXACT_PIXELS,
            classes: ClassOfStem::new(),
        };
        let text = evaluate(&bad, &|_| {}).expect_err("negative σ").to_string();
        assert!(text.starts_with("--smooth = -1"), "{text}");
    }

    #[test]
    fn pooled_ranking_of_integer_pairs_equals_an_exact_reference() {
        let dir = tempfile::tempdir().expect("temp dir");
        let ([images, recon, masks], exact) = tie_set(dir.path());
        let kinds: [(ErrorMapKind, ErrorKey); 2] = [
            (ErrorMapKind::Absolute, |p| p.ae_key),
            (ErrorMapKind::Square, |p| p.se_key),
        ];
        for (kind, key_of) in kinds {
            let config = EvalConfig {
                images: images.clone(),
                source: MapSource::Reconstructions(recon.clone()),
                masks: masks.clone(),
                map_kind: kind,
                threshold: Threshold::Otsu,
                calibration: None,
                smooth_sigma: 0.0,
                largest_component: false,
                allow_missing_masks: false,
                out: dir
                    .path()
                    .join(format!("out_{}", crate::evaluate::map_name(kind))),
                overwrite: false,
                max_exact_pixels: DEFAULT_MAX_EXACT_PIXELS,
                classes: ClassOfStem::new(),
            };
            let summary = evaluate(&config, &|_| {}).expect("evaluates").summary;
            let pixels: Vec<(u128, bool)> = exact
                .values()
                .flatten()
                .map(|pixel| (key_of(pixel), pixel.anomalous))
                .collect();
            let (auroc, ap) = exact_reference(&pixels);
            eprintln!(
                "{kind:?}: pooled AUROC {:?} vs exact {auroc}, AP {:?} vs exact {ap}",
                summary.auroc_pooled, summary.ap_pooled
            );
            assert_eq!(summary.auroc_pooled, Some(auroc), "{kind:?}");
            let found_ap = summary.ap_pooled.expect("two classes");
            assert!(
                (found_ap - ap).abs() < 1e-12,
                "{kind:?}: AP {found_ap} vs {ap}"
            );
            assert_eq!(summary.pooling.mode, "exact");
        }
    }
}

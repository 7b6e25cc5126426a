//! `dtunet eval`: score reconstructions or anomaly maps against ground-truth masks and write
//! the report (CSV, JSON, Markdown, panels, ROC curve, HTML).

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{ArgGroup, Args, ValueEnum};
use dtunet::DtunetError;
use dtunet::detection::merge_shards;
use dtunet::evaluate::{
    ClassOfStem, DEFAULT_MAX_EXACT_PIXELS, EvalConfig, EvalProgress, MapSource, evaluate,
    parse_threshold, read_class_json,
};
use dtunet::metrics::{ErrorMapKind, Threshold};
use dtunet::report::metric_lines;

use crate::UsageError;
use crate::progress::bar;

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["recon", "maps", "merge"])))]
pub struct EvalArgs {
    /// Folder of test images (PNG or JPEG, 8- or 16-bit, grey or RGB; scaled to [-1, 1]).
    #[arg(long, required_unless_present = "merge")]
    images: Option<PathBuf>,
    /// Folder of reconstructions, paired with the images by file stem (x.png ↔ x.png).
    #[arg(long)]
    recon: Option<PathBuf>,
    /// Folder of anomaly maps instead of reconstructions: x.npy, float32/64, shape [H,W] or
    /// [1,H,W].
    #[arg(long)]
    maps: Option<PathBuf>,
    /// Folder of ground-truth masks, x_mask.png or x.png (anomalous where > 0).
    #[arg(long, required_unless_present = "merge")]
    masks: Option<PathBuf>,
    /// The --out folders of every shard of one `dtunet detect --shard k/n` run: joins them
    /// into --out and writes the report of the unsharded run (the scoring settings come from
    /// the shards).
    #[arg(long, num_args = 1.., conflicts_with_all = [
        "images", "masks", "map", "threshold", "largest_cc", "smooth", "allow_missing_masks",
        "max_exact_pixels", "classes",
    ])]
    merge: Vec<PathBuf>,
    /// Anomaly map: square (se) or absolute (ae) error averaged over channels, or 1 − local
    /// SSIM (ssim); with --maps, the kind the maps hold (used for ECE; also feature).
    #[arg(long, value_enum, default_value_t = MapKind::Se)]
    map: MapKind,
    /// Binarisation: otsu (per image), fixed:V, percentile:P (per image, P in 0..=100) or
    /// best (the best pooled Dice over the set).
    #[arg(long, default_value = "otsu", value_parser = parse_threshold_arg)]
    threshold: Threshold,
    /// Keep only the largest connected component of each predicted mask.
    #[arg(long)]
    largest_cc: bool,
    /// Smooth every map with a Gaussian of this σ in pixels before scoring (0: none).
    #[arg(long, default_value_t = 0.0)]
    smooth: f64,
    /// Treat images without a mask as all-normal instead of failing.
    #[arg(long)]
    allow_missing_masks: bool,
    /// JSON object of image stem → class (`classes.json` of a detect folder, e.g.
    /// {"crack_003": "crack"}): adds the metrics per class (per_class.csv, a table in the
    /// report), each class's images pooled with every healthy image.
    #[arg(long)]
    classes: Option<PathBuf>,
    /// Output folder (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Write into an existing non-empty --out (files of the same name are replaced, others
    /// kept).
    #[arg(long)]
    overwrite: bool,
    /// Pixels kept exactly for the pooled AUROC/AP/F1-max/AUPRO; above it they fold into a
    /// 65,536-bin histogram (bounded memory, AUROC error bound reported).
    #[arg(long, default_value_t = DEFAULT_MAX_EXACT_PIXELS)]
    max_exact_pixels: usize,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MapKind {
    /// Square error (x − x̂)².
    Se,
    /// Absolute error |x − x̂|.
    Ae,
    /// 1 − local SSIM (11 px Gaussian window, σ 1.5) of input and reconstruction, channel
    /// mean; images of at least 11×11 px.
    Ssim,
    /// detect only: 1 − cosine similarity of the denoiser's mid-level features of input and
    /// reconstruction (at t = 0), upsampled bilinearly; eval scores such maps with --maps.
    Feature,
}

pub fn parse_threshold_arg(text: &str) -> Result<Threshold, String> {
    parse_threshold(text).map_err(|error| match error {
        DtunetError::InvalidParameter { expected, .. } => format!("expected {expected}"),
        other => other.to_string(),
    })
}

pub fn run(args: EvalArgs) -> Result<()> {
    if !args.merge.is_empty() {
        return merge(&args);
    }
    let source = match (args.recon, args.maps) {
        (Some(recon), _) => MapSource::Reconstructions(recon),
        (None, Some(maps)) => MapSource::Maps(maps),
        (None, None) => bail!(UsageError("give --recon DIR or --maps DIR".into())),
    };
    let (Some(images), Some(masks)) = (args.images, args.masks) else {
        bail!(UsageError("give --images DIR and --masks DIR".into()));
    };
    let config = EvalConfig {
        images,
        source,
        masks,
        map_kind: args.map.kind(),
        threshold: args.threshold,
        calibration: None,
        largest_component: args.largest_cc,
        smooth_sigma: args.smooth,
        allow_missing_masks: args.allow_missing_masks,
        out: args.out,
        overwrite: args.overwrite,
        max_exact_pixels: args.max_exact_pixels,
        classes: match &args.classes {
            Some(path) => read_class_json(path)?,
            None => ClassOfStem::new(),
        },
    };
    let progress = bar(0, "images");
    let outputs = evaluate(&config, &|event| show_eval_progress(&progress, event))?;
    progress.finish_and_clear();
    print_summary(&outputs);
    Ok(())
}

/// Joins the shard folders of `--merge` into `--out` and prints the report's table.
fn merge(args: &EvalArgs) -> Result<()> {
    let progress = bar(0, "images");
    let outputs = merge_shards(&args.merge, &args.out, args.overwrite, &|event| {
        show_eval_progress(&progress, event)
    })?;
    progress.finish_and_clear();
    println!(
        "merged {} shards: {} test images, {:.1} s of reconstruction in all",
        outputs.shards, outputs.images, outputs.reconstruction_seconds
    );
    print_summary(&outputs.eval);
    Ok(())
}

impl MapKind {
    /// The metrics crate's map kind.
    pub fn kind(self) -> ErrorMapKind {
        match self {
            MapKind::Se => ErrorMapKind::Square,
            MapKind::Ae => ErrorMapKind::Absolute,
            MapKind::Ssim => ErrorMapKind::Ssim,
            MapKind::Feature => ErrorMapKind::Feature,
        }
    }
}

/// Moves `progress` along an evaluation.
pub fn show_eval_progress(progress: &indicatif::ProgressBar, event: EvalProgress) {
    match event {
        EvalProgress::Stage { stage, n_images } => {
            progress.reset();
            progress.set_length(n_images as u64);
            progress.set_message(stage.to_string());
        }
        EvalProgress::ImageDone => progress.inc(1),
    }
}

/// Prints the metric table of an evaluation and where its report is.
pub fn print_summary(outputs: &dtunet::evaluate::EvalOutputs) {
    let summary = &outputs.summary;
    println!(
        "{} images ({} anomalous), {} map, threshold {}",
        summary.n_images,
        summary.n_anomalous_images,
        summary.map,
        summary.threshold.describe()
    );
    for (label, value) in metric_lines(summary) {
        println!("{label:>40}  {value}");
    }
    eprintln!("wrote {}", outputs.files.report_html.display());
}

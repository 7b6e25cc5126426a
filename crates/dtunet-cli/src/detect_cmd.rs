//! `dtunet detect`: anomaly maps, masks, metrics and the report for a dataset's test split
//! with a trained model.

use std::path::PathBuf;

use anyhow::Result;
use burn::tensor::Device;
use clap::Args;
use dtunet::backend::BackendKind;
use dtunet::data::{Dataset, Split};
use dtunet::detection::{
    CalibrationSettings, DEFAULT_PIXEL_FPR, DetectConfig, DetectOutputs, DetectProgress,
    GuidanceSource, Shard, ShardManifest, TrainedModel, calibrate, check_output_folder, detect,
    detect_shard, held_out_training_images, load_trained,
};
use dtunet::evaluate::{Calibration, DEFAULT_MAX_EXACT_PIXELS};
use dtunet::metrics::{PixelRule, Threshold};
use indicatif::ProgressBar;

use crate::dataset_args::DatasetArgs;
use crate::eval_cmd::{MapKind, parse_threshold_arg, print_summary, show_eval_progress};
use crate::progress::bar;
use crate::train_cmd::parse;

#[derive(Debug, Args)]
pub struct DetectArgs {
    /// A training run folder (--out of dtunet train) or one of its checkpoints/step-* folders.
    #[arg(long)]
    pub checkpoint: PathBuf,
    #[command(flatten)]
    pub dataset: DatasetArgs,
    /// Output folder: inputs/, reconstructions/, masks/, maps/ (.npy) and the report.
    #[arg(long)]
    pub out: PathBuf,
    /// Partial-diffusion depth t_λ (a step of the chain, 0..T); several, comma-separated
    /// (100,250,400), average the maps of a reconstruction from each depth. Default: the
    /// model's preset recipe (config.toml [detection]), else 250. So are --samples, --steps,
    /// --smooth and --calibrate.
    #[arg(long, value_delimiter = ',')]
    pub t_lambda: Option<Vec<usize>>,
    /// Independent reconstructions averaged per image (batched together) [default: the
    /// model's recipe, else 1].
    #[arg(long)]
    pub samples: Option<usize>,
    /// Strided (DDIM-style) reverse chain with this many network evaluations instead of t_λ+1
    /// [default: the model's recipe, else the full chain].
    #[arg(long, conflicts_with = "full_chain")]
    pub steps: Option<usize>,
    /// The full reverse chain of t_λ+1 evaluations even where the model's recipe strides it.
    #[arg(long)]
    pub full_chain: bool,
    /// Test images per batch.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// Anomaly map: square (se) or absolute (ae) error averaged over channels, 1 − local SSIM
    /// (ssim), or the distance of the denoiser's own features of input and reconstruction
    /// (feature).
    #[arg(long, value_enum, default_value_t = MapKind::Se)]
    pub map: MapKind,
    /// Binarisation: otsu, fixed:V, percentile:P or best (best pooled Dice) [default: otsu,
    /// or calibrated thresholds where the model's recipe calibrates]; given, it replaces the
    /// recipe's calibration.
    #[arg(long, value_parser = parse_threshold_arg)]
    pub threshold: Option<Threshold>,
    #[command(flatten)]
    pub calibration: CalibrationArgs,
    /// Keep only the largest connected component of each predicted mask.
    #[arg(long)]
    pub largest_cc: bool,
    /// Smooth every map with a Gaussian of this σ in pixels before scoring (0: none; maps/
    /// keeps the raw maps) [default: the model's recipe, else 0].
    #[arg(long)]
    pub smooth: Option<f64>,
    /// Zero the maps outside the dataset's foreground (non-zero brain of BraTS slices).
    #[arg(long)]
    pub foreground: bool,
    /// Treat test images without a mask as all-normal.
    #[arg(long)]
    pub allow_missing_masks: bool,
    /// Image-level guidance: the --out folder of dtunet train-classifier; each reverse mean
    /// moves by s·Σ·∇ log p(healthy | x_t, t).
    #[arg(long)]
    pub classifier: Option<PathBuf>,
    /// The guidance scale s (needs --classifier).
    #[arg(long, requires = "classifier", default_value_t = 1.0)]
    pub guidance_scale: f64,
    /// Seed of the detection noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write into a non-empty --out.
    #[arg(long)]
    pub overwrite: bool,
    /// Compute backend: flex (CPU), or cuda / wgpu / tch when built with that feature.
    #[arg(long, default_value = "flex", value_parser = parse::<BackendKind>)]
    pub backend: BackendKind,
    /// GPU index for cuda / tch.
    #[arg(long)]
    pub device_index: Option<usize>,
    /// Reconstruct only the k-th of n parts of the test images (whole batches, round robin;
    /// e.g. 2/4 on the second of four machines) into --out with a shard.json and no report;
    /// `dtunet eval --merge` joins the n folders into the report of an unsharded run.
    #[arg(long, value_parser = parse::<Shard>)]
    pub shard: Option<Shard>,
}

/// Thresholds fitted on healthy images.
#[derive(Debug, Args)]
pub struct CalibrationArgs {
    /// Binarise with thresholds fitted on healthy images instead of --threshold: the training
    /// images the model was trained without (train --calibration-holdout), or --calibration
    /// [default: on where the model's recipe calibrates and no --threshold is given].
    #[arg(long, conflicts_with = "threshold")]
    pub calibrate: bool,
    /// Calibrate on the healthy train split of this dataset folder (same layout and options as
    /// --data) instead of the held-out training images; implies --calibrate.
    #[arg(long, conflicts_with = "threshold")]
    pub calibration: Option<PathBuf>,
    /// Calibration: the fraction of healthy pixels the pixel threshold may flag.
    #[arg(long, default_value_t = DEFAULT_PIXEL_FPR)]
    pub pixel_fpr: f64,
    /// Calibration: also an image threshold, letting this fraction of the healthy images'
    /// scores (map maxima) through; images at or below it get an empty mask. Off by default:
    /// it helps where the image AUROC is high.
    #[arg(long)]
    pub image_fpr: Option<f64>,
    /// Calibration: how the pixel threshold binarises a map — otsu-floor (the larger of it and
    /// Otsu's threshold of the map: Otsu's segmentation of a clear anomaly, the calibrated rate
    /// on healthy maps) or threshold (the calibrated threshold alone).
    #[arg(long, value_enum, default_value_t = PixelRuleArg::OtsuFloor)]
    pub pixel_rule: PixelRuleArg,
}

/// `--pixel-rule` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PixelRuleArg {
    /// The larger of the calibrated threshold and Otsu's threshold of the map.
    OtsuFloor,
    /// The calibrated threshold alone.
    Threshold,
}

impl From<PixelRuleArg> for PixelRule {
    fn from(rule: PixelRuleArg) -> Self {
        match rule {
            PixelRuleArg::OtsuFloor => PixelRule::OtsuFloor,
            PixelRuleArg::Threshold => PixelRule::Calibrated,
        }
    }
}

impl CalibrationArgs {
    /// No calibration: the maps are binarised by --threshold.
    pub fn off() -> Self {
        Self {
            calibrate: false,
            calibration: None,
            pixel_fpr: DEFAULT_PIXEL_FPR,
            image_fpr: None,
            pixel_rule: PixelRuleArg::OtsuFloor,
        }
    }
}

/// What detection runs with once the arguments are read and the thresholds calibrated.
struct Prepared {
    device: Device,
    trained: TrainedModel,
    dataset: Box<dyn Dataset>,
    config: DetectConfig,
    progress: ProgressBar,
}

impl Prepared {
    /// Forwards detection progress to the bar.
    fn show(&self, event: DetectProgress) {
        match event {
            DetectProgress::Started(total) => {
                self.progress.set_length(total as u64);
                self.progress.set_message("reconstructing");
            }
            DetectProgress::Reconstructed(count) => self.progress.inc(count as u64),
            DetectProgress::Eval(step) => show_eval_progress(&self.progress, step),
        }
    }
}

/// Runs detection as the arguments say and returns its outputs (used by `demo` too).
pub fn run_detection(args: &DetectArgs) -> Result<DetectOutputs> {
    let prepared = prepare(args)?;
    let outputs = detect(
        &prepared.trained,
        prepared.dataset.as_ref(),
        &prepared.config,
        &prepared.device,
        &|event| prepared.show(event),
    )?;
    prepared.progress.finish_and_clear();
    Ok(outputs)
}

/// Reconstructs the test batches of `shard` into a shard folder.
fn run_shard(args: &DetectArgs, shard: Shard) -> Result<ShardManifest> {
    let prepared = prepare(args)?;
    let manifest = detect_shard(
        &prepared.trained,
        prepared.dataset.as_ref(),
        &prepared.config,
        shard,
        &prepared.device,
        &|event| prepared.show(event),
    )?;
    prepared.progress.finish_and_clear();
    Ok(manifest)
}

/// The chain, sampling, smoothing and threshold settings of a detection: each flag given,
/// else the model's recipe, else `detect`'s default.
struct ChosenSettings {
    t_lambdas: Vec<usize>,
    samples: usize,
    strided_steps: Option<usize>,
    smooth_sigma: f64,
    threshold: Threshold,
    /// Calibrate on the model's held-out training images.
    calibrate: bool,
    /// The recipe calibrates but the model held no training images out for it.
    recipe_calibration_skipped: bool,
}

impl ChosenSettings {
    fn of(args: &DetectArgs, trained: &TrainedModel) -> Self {
        let recipe = &trained.config.detection;
        let nothing_held_out = trained.config.calibration_holdout == 0.0;
        let recipe_calibrates = recipe.calibrate && !nothing_held_out;
        Self {
            t_lambdas: args
                .t_lambda
                .clone()
                .or_else(|| recipe.t_lambdas.clone())
                .unwrap_or_else(|| vec![DEFAULT_T_LAMBDA]),
            samples: args.samples.or(recipe.samples).unwrap_or(1),
            strided_steps: match (args.steps, args.full_chain) {
                (Some(steps), _) => Some(steps),
                (None, true) => None,
                (None, false) => recipe.strided_steps,
            },
            smooth_sigma: args.smooth.or(recipe.smooth_sigma).unwrap_or(0.0),
            threshold: args.threshold.unwrap_or(Threshold::Otsu),
            calibrate: args.calibration.calibrate
                || (args.threshold.is_none() && recipe_calibrates),
            recipe_calibration_skipped: recipe.calibrate && nothing_held_out,
        }
    }
}

/// The partial-diffusion depth without a flag or a recipe.
const DEFAULT_T_LAMBDA: usize = 250;

/// Loads the model and the dataset, builds the configuration and calibrates it when asked.
fn prepare(args: &DetectArgs) -> Result<Prepared> {
    let device = args.backend.device(args.device_index)?;
    let trained = load_trained(&args.checkpoint, &device)?;
    let model = &trained.config.model;
    let dataset = args.dataset.open(model.img_size, model.channels)?;
    let chosen = ChosenSettings::of(args, &trained);
    let recipe = &trained.config.detection;
    if !recipe.is_empty() {
        eprintln!(
            "the model's detection recipe (config.toml [detection]: {}) fills the flags not \
             given",
            recipe.describe()
        );
        if chosen.recipe_calibration_skipped {
            eprintln!(
                "the recipe's calibration is skipped: the model was trained on all its images \
                 (calibration_holdout 0); give --calibration DIR to calibrate on other healthy images"
            );
        }
    }
    let mut config = DetectConfig {
        t_lambdas: chosen.t_lambdas.clone(),
        samples: chosen.samples,
        strided_steps: chosen.strided_steps,
        batch_size: args.batch_size,
        map_kind: args.map.kind(),
        threshold: chosen.threshold,
        calibration: None,
        largest_component: args.largest_cc,
        smooth_sigma: chosen.smooth_sigma,
        foreground: args.foreground,
        allow_missing_masks: args.allow_missing_masks,
        seed: args.seed,
        out: args.out.clone(),
        overwrite: args.overwrite,
        max_exact_pixels: DEFAULT_MAX_EXACT_PIXELS,
        guidance: args.classifier.as_ref().map(|classifier| GuidanceSource {
            classifier: classifier.clone(),
            scale: args.guidance_scale,
        }),
    };
    let progress = bar(0, "images");
    check_output_folder(&args.out, args.overwrite)?;
    config.calibration = calibration(
        args,
        chosen.calibrate,
        &trained,
        dataset.as_ref(),
        &config,
        &device,
        &progress,
    )?;
    Ok(Prepared {
        device,
        trained,
        dataset,
        config,
        progress,
    })
}

/// The thresholds fitted on healthy images when `--calibration` or `on_held_out`
/// (`--calibrate` or the model's recipe) asks.
fn calibration(
    args: &DetectArgs,
    on_held_out: bool,
    trained: &TrainedModel,
    dataset: &dyn Dataset,
    config: &DetectConfig,
    device: &Device,
    progress: &ProgressBar,
) -> Result<Option<Calibration>> {
    let format = &args.dataset.format;
    let args = &args.calibration;
    let (images, description) = match &args.calibration {
        Some(folder) => {
            let model = &trained.config.model;
            let healthy = format.open(folder, model.img_size, model.channels)?;
            let images = (0..healthy.len(Split::Train))
                .map(|index| healthy.get(Split::Train, index))
                .collect::<dtunet::Result<Vec<_>>>()?;
            let description = format!("{} training images of {}", images.len(), folder.display());
            (images, description)
        }
        None if on_held_out => held_out_training_images(dataset, trained)?,
        None => return Ok(None),
    };
    progress.set_length(images.len() as u64);
    progress.set_message("calibrating");
    let settings = CalibrationSettings {
        pixel_fpr: args.pixel_fpr,
        image_fpr: args.image_fpr,
        pixel_rule: args.pixel_rule.into(),
    };
    let fitted = calibrate(
        trained,
        &images,
        description,
        settings,
        config,
        device,
        &|count| progress.inc(count as u64),
    )?;
    progress.reset();
    Ok(Some(fitted))
}

pub fn run(args: DetectArgs) -> Result<()> {
    if let Some(shard) = args.shard {
        let manifest = run_shard(&args, shard)?;
        println!(
            "shard {shard}: reconstructed {} of {} test images in {:.1} s into {}; once every \
             shard is done, `dtunet eval --merge SHARD_FOLDER... --out DIR` writes the report",
            manifest.images.len(),
            manifest.settings.test_images,
            manifest.reconstruction_seconds,
            args.out.display()
        );
        return Ok(());
    }
    let outputs = run_detection(&args)?;
    println!(
        "reconstructed {} images in {:.1} s ({:.3} s/image)",
        outputs.images,
        outputs.reconstruction_seconds,
        outputs.reconstruction_seconds / outputs.images as f64
    );
    print_summary(&outputs.eval);
    Ok(())
}

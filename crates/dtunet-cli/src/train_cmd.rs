//! `dtunet train`: train a noise-prediction network on the healthy images of a dataset.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use dtunet::backend::BackendKind;
use dtunet::losses::LossKind;
use dtunet::models::{Architecture, PatchEmbedKind, StageFeedForward};
use dtunet::training::data_parallel::GradientReduction;
use dtunet::training::{
    Augmentation, Preset, Start, StepRecord, TrainConfig, TrainObserver, TrainingImages, train_on,
};
use indicatif::ProgressBar;

use crate::UsageError;
use crate::dataset_args::DatasetArgs;
use crate::progress::bar;

/// Every flag overrides the preset and the `--config` file.
#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub dataset: DatasetArgs,
    /// Run folder: config.toml, train.log, loss.csv, loss.png, samples/, checkpoints/ and the
    /// final EMA weights model.safetensors.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue the run in --out from its newest checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Starting values: paper (Table 6: 224 px, D 384, depth 6), demo (a small CPU model,
    /// 32 px), slices (the demo's model trained 8,000 steps for grey slices with small or faint
    /// lesions) or texture (the demo's model at 64 px, patch 8, noise period 4 px, flips; with
    /// --img-size, a patch of at least 8 px giving at most 16 × 16 tokens: 16 px at 256 px);
    /// slices and texture hold 10 % of the images out for `detect --calibrate`.
    #[arg(long, default_value = "paper", value_parser = parse::<Preset>)]
    pub preset: Preset,
    /// TOML file overriding the preset (keys as in a run's config.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub overrides: TrainOverrides,
    /// Compute backend: flex (CPU), or cuda / wgpu / tch when built with that feature.
    #[arg(long, default_value = "flex", value_parser = parse::<BackendKind>)]
    pub backend: BackendKind,
    /// GPU index for cuda / tch.
    #[arg(long)]
    pub device_index: Option<usize>,
    /// Data-parallel training on these devices (comma-separated GPU indices, e.g. 0,1,2,3):
    /// each takes an equal shard of every batch and the gradients are averaged on the first.
    /// On flex (and wgpu, which has one adapter) the indices only count replicas, run on
    /// threads of the same device. --batch-size must be a multiple of their number.
    #[arg(long, value_delimiter = ',', conflicts_with = "device_index")]
    pub devices: Vec<usize>,
    /// With --devices on cuda: average the gradients with Burn's collective all-reduce (NCCL)
    /// instead of on the first device. Not yet run on several GPUs.
    #[arg(long, requires = "devices")]
    pub all_reduce: bool,
}

/// Per-value overrides of the training configuration (paper Table 6 names).
#[derive(Debug, Default, Args)]
pub struct TrainOverrides {
    /// Backbone: dtunet, uvit or unet.
    #[arg(long, value_parser = parse::<Architecture>)]
    pub arch: Option<Architecture>,
    /// Image side in pixels (images are resized to it).
    #[arg(long)]
    pub img_size: Option<usize>,
    /// Image channels, 1 or 3.
    #[arg(long)]
    pub channels: Option<usize>,
    /// Patch side in pixels.
    #[arg(long)]
    pub patch_size: Option<usize>,
    /// Token width D.
    #[arg(long)]
    pub embed_dim: Option<usize>,
    /// Transformer blocks (even).
    #[arg(long)]
    pub depth: Option<usize>,
    /// Attention heads.
    #[arg(long)]
    pub heads: Option<usize>,
    /// Feed-forward width as a multiple of D.
    #[arg(long)]
    pub mlp_ratio: Option<f64>,
    /// Feed-forward per stage: mlp, daff, ddaff, or in,mid,out (e.g. daff,mlp,ddaff).
    #[arg(long, value_parser = parse::<StageFeedForward>)]
    pub ff: Option<StageFeedForward>,
    /// Patch embedding: pe (one conv, stride p) or spe (the reference's convolutional
    /// ConvPatchEmbed; patch 2, 4 or 16).
    #[arg(long, value_parser = parse::<PatchEmbedKind>)]
    pub patch_embed: Option<PatchEmbedKind>,
    /// LayerNorm epsilon of the blocks and the final norm (the authors' scripts: 1e-5).
    #[arg(long)]
    pub norm_eps: Option<f64>,
    /// The conv-BN-GELU-conv refinement head instead of one 3×3 conv (true or false).
    #[arg(long)]
    pub refine_head: Option<bool>,
    /// Classes of the label token (0: unconditional, 2: healthy/anomalous).
    #[arg(long)]
    pub num_classes: Option<usize>,
    /// Images per step.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Optimiser steps.
    #[arg(long, conflicts_with = "epochs")]
    pub steps: Option<usize>,
    /// Passes over the training images (sets --steps).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// AdamW learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// AdamW weight decay.
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// EMA rate of the detection weights.
    #[arg(long)]
    pub ema_rate: Option<f64>,
    /// Noise: tsimplex, tsg, kts, gauss, simplex3d, patch4dsimplex, multisimplex or value.
    #[arg(long)]
    pub noise: Option<String>,
    /// Simplex octaves.
    #[arg(long)]
    pub octaves: Option<u32>,
    /// Simplex persistence.
    #[arg(long)]
    pub persistence: Option<f64>,
    /// Simplex base period in pixels.
    #[arg(long)]
    pub frequency: Option<f64>,
    /// Patch side in pixels of kts, patch4dsimplex and multisimplex.
    #[arg(long)]
    pub kts_patch: Option<usize>,
    /// KTs spread in patches.
    #[arg(long)]
    pub kts_sigma: Option<f64>,
    /// Beta schedule: cosine or linear.
    #[arg(long)]
    pub schedule: Option<String>,
    /// Diffusion steps T.
    #[arg(long)]
    pub diffusion_steps: Option<usize>,
    /// Loss: l1, l2, hybrid, ssim, ms_ssim, l2_tv, hybrid_ssim, hybrid_ms_ssim.
    #[arg(long, value_parser = parse::<LossKind>)]
    pub loss: Option<LossKind>,
    /// Training timesteps in [0, min(D, T)); 0 for [0, T).
    #[arg(long)]
    pub sample_distance: Option<usize>,
    /// Steps between checkpoints.
    #[arg(long)]
    pub checkpoint_every: Option<usize>,
    /// Checkpoints kept.
    #[arg(long)]
    pub keep_checkpoints: Option<usize>,
    /// Steps between sample reconstructions (0: only at the end).
    #[arg(long)]
    pub sample_every: Option<usize>,
    /// Seed of weights, shuffle, timesteps and noise.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Fraction of the training images kept out of training (spread evenly over the split),
    /// on which `detect --calibrate` fits its thresholds.
    #[arg(long)]
    pub calibration_holdout: Option<f64>,
    /// Symmetries each training image is moved by at random: none, hflip (left–right mirror:
    /// brain slices), flips (both mirrors: most textures) or dihedral (mirrors and quarter
    /// turns: isotropic textures).
    #[arg(long, value_parser = parse::<Augmentation>)]
    pub augment: Option<Augmentation>,
}

impl TrainOverrides {
    /// Applies the flags that were given to `config`.
    pub fn apply(&self, config: &mut TrainConfig) {
        fn set<T: Clone>(target: &mut T, value: &Option<T>) {
            if let Some(value) = value {
                *target = value.clone();
            }
        }
        let model = &mut config.model;
        set(&mut model.arch, &self.arch);
        set(&mut model.img_size, &self.img_size);
        set(&mut model.channels, &self.channels);
        set(&mut model.patch_size, &self.patch_size);
        set(&mut model.embed_dim, &self.embed_dim);
        set(&mut model.depth, &self.depth);
        set(&mut model.heads, &self.heads);
        set(&mut model.mlp_ratio, &self.mlp_ratio);
        set(&mut model.ff, &self.ff);
        set(&mut model.patch_embed, &self.patch_embed);
        set(&mut model.norm_eps, &self.norm_eps);
        set(&mut model.refine_head, &self.refine_head);
        set(&mut model.num_classes, &self.num_classes);
        set(&mut config.batch_size, &self.batch_size);
        set(&mut config.steps, &self.steps);
        set(&mut config.lr, &self.lr);
        set(&mut config.weight_decay, &self.weight_decay);
        set(&mut config.ema_rate, &self.ema_rate);
        set(&mut config.noise.kind, &self.noise);
        set(&mut config.noise.octaves, &self.octaves);
        set(&mut config.noise.persistence, &self.persistence);
        set(&mut config.noise.frequency, &self.frequency);
        set(&mut config.noise.kts_patch, &self.kts_patch);
        set(&mut config.noise.kts_sigma, &self.kts_sigma);
        set(&mut config.diffusion.schedule, &self.schedule);
        set(&mut config.diffusion.steps, &self.diffusion_steps);
        set(&mut config.loss, &self.loss);
        set(&mut config.sample_distance, &self.sample_distance);
        set(&mut config.checkpoint_every, &self.checkpoint_every);
        set(&mut config.keep_checkpoints, &self.keep_checkpoints);
        set(&mut config.sample_every, &self.sample_every);
        set(&mut config.seed, &self.seed);
        set(&mut config.calibration_holdout, &self.calibration_holdout);
        set(&mut config.augment, &self.augment);
    }
}

/// Parses a flag value with the library's `FromStr` (its error names the accepted values).
pub fn parse<T>(text: &str) -> Result<T, String>
where
    T: std::str::FromStr<Err = dtunet::DtunetError>,
{
    text.parse().map_err(|e: dtunet::DtunetError| match e {
        dtunet::DtunetError::InvalidParameter { expected, .. } => format!("expected {expected}"),
        other => other.to_string(),
    })
}

/// The configuration the arguments describe: preset, then `--config`, then flags.
pub fn resolve_config(args: &TrainArgs) -> Result<TrainConfig> {
    configured(args.preset, args.config.as_deref(), &args.overrides)
}

/// `preset` (at `--img-size` when given: [`TrainConfig::preset_at_size`]), overridden by the
/// TOML file `config`, then by the flags; validated.
pub fn configured(
    preset: Preset,
    config: Option<&std::path::Path>,
    overrides: &TrainOverrides,
) -> Result<TrainConfig> {
    let mut resolved = match overrides.img_size {
        Some(size) => TrainConfig::preset_at_size(preset, size),
        None => TrainConfig::preset(preset),
    };
    if let Some(path) = config {
        resolved = TrainConfig::from_toml_file(path, &resolved)?;
    }
    overrides.apply(&mut resolved);
    resolved.validate()?;
    Ok(resolved)
}

/// Draws the progress bar: step, loss, it/s, ETA.
pub struct BarObserver {
    bar: Option<ProgressBar>,
}

impl BarObserver {
    /// An observer that creates its bar when training starts.
    pub fn new() -> Self {
        Self { bar: None }
    }
}

impl TrainObserver for BarObserver {
    fn started(&mut self, start_step: usize, total_steps: usize) {
        let progress = bar(total_steps as u64, "steps");
        progress.set_position(start_step as u64);
        progress.set_message("training");
        progress.reset_eta();
        self.bar = Some(progress);
    }

    fn step(&mut self, record: &StepRecord) {
        if let Some(progress) = &self.bar {
            progress.set_position(record.step as u64);
            progress.set_message(format!("loss {:.4}", record.loss));
        }
    }

    fn message(&mut self, text: &str) {
        match &self.bar {
            // A hidden bar (stderr not a terminal) drops what `println` gives it.
            Some(progress) if !progress.is_hidden() => progress.println(text),
            _ => eprintln!("{text}"),
        }
    }
}

impl Drop for BarObserver {
    fn drop(&mut self) {
        if let Some(progress) = &self.bar {
            progress.finish_and_clear();
        }
    }
}

pub fn run(args: TrainArgs) -> Result<()> {
    let mut config = resolve_config(&args)?;
    let devices = match args.devices.as_slice() {
        [] => vec![args.backend.device(args.device_index)?],
        indices => indices
            .iter()
            .map(|&index| args.backend.device(Some(index)))
            .collect::<dtunet::Result<_>>()?,
    };
    let dataset = args
        .dataset
        .open(config.model.img_size, config.model.channels)?;
    eprintln!("loading training images from {}", dataset.root().display());
    let images = TrainingImages::load(dataset.as_ref(), config.calibration_holdout)
        .context("cannot load the training images")?;
    if let Some(epochs) = args.overrides.epochs {
        config.steps = (epochs * images.len()).div_ceil(config.batch_size).max(1);
    }
    let start = if args.resume {
        Start::Resume
    } else {
        Start::Fresh
    };
    let mut observer = BarObserver::new();
    let reduction = if args.all_reduce {
        if args.backend != BackendKind::Cuda {
            bail!(UsageError(format!(
                "--all-reduce needs --backend cuda (NCCL); {} has no collective operations: \
                 leave it out to average the gradients on the first device",
                args.backend
            )));
        }
        GradientReduction::AllReduce
    } else {
        GradientReduction::OnFirstDevice
    };
    let outcome = train_on(
        &config,
        &images,
        &args.out,
        start,
        &devices,
        reduction,
        &mut observer,
    )?;
    drop(observer);
    println!(
        "trained {} steps in {:.1} s (last loss {:.5}, mean of the last 10 % {:.5})",
        outcome.steps, outcome.seconds, outcome.final_loss, outcome.tail_loss
    );
    println!("EMA weights: {}", outcome.model_path.display());
    println!("log: {}", args.out.join("loss.csv").display());
    Ok(())
}

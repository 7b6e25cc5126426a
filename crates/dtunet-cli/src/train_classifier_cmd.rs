//! `dtunet train-classifier`: the noisy-image classifier that guides detection towards the
//! healthy class.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use dtunet::backend::BackendKind;
use dtunet::training::{Preset, TrainingImages, train_classifier};

use crate::dataset_args::DatasetArgs;
use crate::train_cmd::{BarObserver, TrainOverrides, configured, parse};

/// The encoder, noise, schedule and timestep settings must be the denoiser's: start from its
/// run's config.toml (`--config RUN/config.toml`) or give the same flags.
#[derive(Debug, Args)]
pub struct TrainClassifierArgs {
    /// A labelled dataset: healthy training images plus test images whose masks (or class
    /// folders) say healthy or anomalous. Not the set detection is evaluated on.
    #[command(flatten)]
    pub dataset: DatasetArgs,
    /// Output folder: classifier.safetensors, config.toml, loss.csv (loss, batch accuracy),
    /// loss.png, train.log.
    #[arg(long)]
    pub out: PathBuf,
    /// Starting values: paper (Table 6) or demo (the demo's small CPU model).
    #[arg(long, default_value = "paper", value_parser = parse::<Preset>)]
    pub preset: Preset,
    /// TOML file overriding the preset, typically the denoiser run's config.toml.
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
}

pub fn run(args: TrainClassifierArgs) -> Result<()> {
    let mut config = configured(args.preset, args.config.as_deref(), &args.overrides)?;
    let device = args.backend.device(args.device_index)?;
    let dataset = args
        .dataset
        .open(config.model.img_size, config.model.channels)?;
    eprintln!("loading labelled images from {}", dataset.root().display());
    let images = TrainingImages::load_labelled(dataset.as_ref())
        .context("cannot load the labelled images")?;
    if let Some(epochs) = args.overrides.epochs {
        config.steps = (epochs * images.len()).div_ceil(config.batch_size).max(1);
    }
    let mut observer = BarObserver::new();
    let outcome = train_classifier(&config, &images, &args.out, &device, &mut observer)?;
    drop(observer);
    let accuracies: Vec<String> = outcome
        .accuracy_by_t
        .iter()
        .map(|(t, accuracy)| format!("t={t} {:.1} %", 100.0 * accuracy))
        .collect();
    println!(
        "trained the classifier {} steps in {:.1} s (loss {:.4}); accuracy {}",
        outcome.steps,
        outcome.seconds,
        outcome.tail_loss,
        accuracies.join(", ")
    );
    println!(
        "classifier: {} (use it with dtunet detect --classifier {})",
        outcome.path.display(),
        args.out.display()
    );
    Ok(())
}

//! `dtunet synth {brain, texture}`: write a built-in synthetic dataset in the MVTec AD layout.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use dtunet::data::Split;
use dtunet::data::synth::{Class, Lesions, Material, SynthConfig, SynthKind, write_dataset};

use crate::UsageError;
use crate::progress::bar;
use crate::train_cmd::parse;

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// What to generate: brain-MRI-like phantoms with tumours, or textured surfaces with
    /// scratches, holes, stains and foreign patches.
    #[arg(value_enum)]
    kind: KindArg,
    /// Output folder: missing or empty (see --overwrite).
    #[arg(long)]
    out: PathBuf,
    /// Healthy training images (train/good).
    #[arg(long, default_value_t = 200)]
    n_train: usize,
    /// Test images, healthy and anomalous.
    #[arg(long, default_value_t = 60)]
    n_test: usize,
    /// Image side in pixels (16..=4096), for square images.
    #[arg(long, default_value_t = 128)]
    size: usize,
    /// Image height in pixels, for non-square images (default: --size).
    #[arg(long)]
    height: Option<usize>,
    /// Image width in pixels, for non-square images (default: --size).
    #[arg(long)]
    width: Option<usize>,
    /// Run seed; every image's seed derives from it (same seed, byte-identical files).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Fraction of the test images that are healthy (test/good), rounded to whole images.
    #[arg(long, default_value_t = 0.25, allow_hyphen_values = true)]
    healthy_fraction: f64,
    /// Brain lesions: mixed (subtle to strong, small to large) or clear (large and visible,
    /// like BraTS FLAIR tumours).
    #[arg(long, default_value = "mixed", value_parser = parse::<Lesions>)]
    lesions: Lesions,
    /// Surface of a texture dataset [default: leather].
    #[arg(long, value_enum)]
    material: Option<MaterialArg>,
    /// Replace the dataset in a non-empty --out (removes its train/, test/, ground_truth/,
    /// README.md and dataset.json; other files stay).
    #[arg(long)]
    overwrite: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum KindArg {
    Brain,
    Texture,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum MaterialArg {
    Leather,
    Fabric,
    Wood,
}

pub fn run(args: SynthArgs) -> Result<()> {
    let kind = match args.kind {
        KindArg::Brain => SynthKind::Brain,
        KindArg::Texture => SynthKind::Texture,
    };
    if kind == SynthKind::Brain && args.material.is_some() {
        bail!(UsageError(
            "--material applies to texture datasets only (drop it, or use `synth texture`)".into()
        ));
    }
    if kind == SynthKind::Texture && args.lesions != Lesions::Mixed {
        bail!(UsageError(
            "--lesions applies to brain datasets only (drop it, or use `synth brain`)".into()
        ));
    }
    let config = SynthConfig {
        kind,
        material: match args.material.unwrap_or(MaterialArg::Leather) {
            MaterialArg::Leather => Material::Leather,
            MaterialArg::Fabric => Material::Fabric,
            MaterialArg::Wood => Material::Wood,
        },
        n_train: args.n_train,
        n_test: args.n_test,
        height: args.height.unwrap_or(args.size),
        width: args.width.unwrap_or(args.size),
        seed: args.seed,
        healthy_fraction: args.healthy_fraction,
        lesions: args.lesions,
    };
    config.validate()?;
    let started = Instant::now();
    let progress = bar((config.n_train + config.n_test) as u64, "images");
    let card = write_dataset(&config, &args.out, args.overwrite, &|| progress.inc(1))
        .with_context(|| format!("cannot write the synthetic {} dataset", config.kind))?;
    progress.finish_and_clear();
    let test_classes = card
        .splits
        .get(&Split::Test)
        .map(|classes| {
            let counts: Vec<String> = classes
                .iter()
                .map(|(class, stats)| format!("{} {class}", stats.images))
                .collect();
            counts.join(", ")
        })
        .unwrap_or_else(|| "none".into());
    println!(
        "wrote {} images of {}x{} ({} train; test: {test_classes}) to {} in {:.1} s",
        card.images.len(),
        card.height,
        card.width,
        card.count(Split::Train, Class::Good),
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

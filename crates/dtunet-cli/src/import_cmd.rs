//! `dtunet import-weights`: bring a PyTorch state_dict of the reference model into a dtunet
//! model file.

use std::path::PathBuf;

use anyhow::Result;
use burn::tensor::Device;
use clap::Args;
use dtunet::models::weights::{describe, import_weights, save_model};
use dtunet::training::{Preset, TrainConfig};

use crate::train_cmd::{TrainOverrides, parse};

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The PyTorch weights: a .safetensors state_dict, or a .pt / .pth / .ckpt pickle.
    #[arg(long)]
    weights: PathBuf,
    /// For pickles holding more than the state_dict: the key it sits under (e.g. state_dict).
    #[arg(long)]
    top_level_key: Option<String>,
    /// The model's configuration starts from this preset (paper: Table 6).
    #[arg(long, default_value = "paper", value_parser = parse::<Preset>)]
    preset: Preset,
    /// TOML file with the model's settings (as in a run's config.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    overrides: TrainOverrides,
    /// The dtunet model file to write (safetensors with the configuration embedded).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: ImportArgs) -> Result<()> {
    let mut config = TrainConfig::preset(args.preset);
    if let Some(path) = &args.config {
        config = TrainConfig::from_toml_file(path, &config)?;
    }
    args.overrides.apply(&mut config);
    config.model.validate()?;
    let device = Device::flex();
    let (model, report) = import_weights(
        &config.model,
        &args.weights,
        args.top_level_key.as_deref(),
        &device,
    )?;
    save_model(&model, &config.model, &args.out)?;
    println!(
        "imported {} tensors into {}",
        report.applied,
        describe(&config.model)
    );
    if !report.ignored.is_empty() {
        println!(
            "ignored {} BatchNorm counters (num_batches_tracked)",
            report.ignored.len()
        );
    }
    println!("wrote {}", args.out.display());
    Ok(())
}

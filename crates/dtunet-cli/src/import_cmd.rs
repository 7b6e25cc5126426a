//! `dtunet import-weights`: bring a PyTorch state_dict of the reference model into a dtunet
//! model folder (`model.safetensors` + `config.toml`, as a finished training run writes them),
//! so `dtunet detect --checkpoint <folder>` uses it directly.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use burn::tensor::Device;
use clap::Args;
use dtunet::DtunetError;
use dtunet::io::write_atomically;
use dtunet::models::weights::{describe, import_weights, save_model};
use dtunet::training::{FINAL_MODEL_FILE, Preset};

use crate::train_cmd::{TrainOverrides, configured, parse};

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
    /// The folder to write: model.safetensors (the weights, configuration embedded) and
    /// config.toml (model, noise and diffusion settings detection uses).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: ImportArgs) -> Result<()> {
    let config = configured(args.preset, args.config.as_deref(), &args.overrides)?;
    let device = Device::flex();
    let (model, report) = import_weights(
        &config.model,
        &args.weights,
        args.top_level_key.as_deref(),
        &device,
    )?;
    let model_path = args.out.join(FINAL_MODEL_FILE);
    if model_path.exists() {
        return Err(DtunetError::OutputFolder {
            path: args.out.clone(),
            problem: "already holds a model.safetensors: choose another --out",
        }
        .into());
    }
    std::fs::create_dir_all(&args.out).map_err(|source| DtunetError::Io {
        action: "create",
        path: args.out.clone(),
        source,
    })?;
    write_atomically(&args.out.join("config.toml"), |file| {
        file.write_all(config.to_toml().as_bytes())
    })?;
    save_model(&model, &config.model, &model_path)?;
    println!(
        "imported {} tensors into {}",
        report.applied,
        describe(&config.model)
    );
    let unused = report.ignored_parameters();
    let counters = report.ignored.len() - unused.len();
    if counters > 0 {
        println!("ignored {counters} BatchNorm counters (num_batches_tracked)");
    }
    if !unused.is_empty() {
        println!(
            "ignored {} (defined by the reference class, never used in its forward pass)",
            unused.join(", ")
        );
    }
    println!(
        "wrote {} (use it with dtunet detect --checkpoint {})",
        model_path.display(),
        args.out.display()
    );
    Ok(())
}

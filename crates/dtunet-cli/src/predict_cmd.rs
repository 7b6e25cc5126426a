//! `dtunet predict`: the network's raw output ε̂ for a batch from a `.npy` file, to compare an
//! imported model with the PyTorch class that trained it.

use std::path::{Path, PathBuf};

use anyhow::Result;
use burn::tensor::Device;
use clap::Args;
use dtunet::DtunetError;
use dtunet::backend::BackendKind;
use dtunet::detection::load_trained;
use dtunet::io::{read_npy_f32, write_npy};
use dtunet::models::predict::{HostBatch, predict_noise};
use dtunet::models::weights::load_model;
use dtunet::models::{Denoiser, ModelConfig};

use crate::train_cmd::parse;

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// A model: a run folder, a checkpoints/step-N folder, a folder written by
    /// import-weights, or a model .safetensors file.
    #[arg(long)]
    checkpoint: PathBuf,
    /// The noisy images x_t: a [B, C, H, W] float32 or float64 .npy (C order).
    #[arg(long)]
    input: PathBuf,
    /// Timesteps: one for every sample, or one per sample (comma-separated).
    #[arg(long, value_delimiter = ',', required = true, num_args = 1..)]
    t: Vec<f64>,
    /// Class labels of class-conditional models: one for every sample, or one per sample
    /// (default: 0, healthy).
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    label: Vec<i64>,
    /// Where to write ε̂: a [B, C, H, W] float32 .npy.
    #[arg(long)]
    out: PathBuf,
    /// Compute backend: flex (CPU), or cuda / wgpu / tch when built with that feature.
    #[arg(long, default_value = "flex", value_parser = parse::<BackendKind>)]
    backend: BackendKind,
    /// GPU index for cuda / tch.
    #[arg(long)]
    device_index: Option<usize>,
}

pub fn run(args: PredictArgs) -> Result<()> {
    let device = args.backend.device(args.device_index)?;
    let (model, config) = load(&args.checkpoint, &device)?;
    let (shape, values) = read_npy_f32(&args.input)?;
    let x_t = HostBatch::new(&shape, values)?;
    let batch = x_t.shape[0];
    let timesteps = per_sample(&args.t, batch);
    let labels = (!args.label.is_empty()).then(|| per_sample(&args.label, batch));
    let eps = predict_noise(
        &model,
        &config,
        &x_t,
        &timesteps,
        labels.as_deref(),
        &device,
    )?;
    let out_shape = eps.shape.map(|side| side as u64);
    write_npy(&args.out, &out_shape, &eps.values)?;
    println!(
        "wrote eps {:?} of {} to {}",
        eps.shape,
        dtunet::models::weights::describe(&config),
        args.out.display()
    );
    Ok(())
}

/// The network and its configuration from a model file or any folder that holds one.
fn load(path: &Path, device: &Device) -> Result<(Denoiser, ModelConfig)> {
    if path.is_file() {
        return Ok(load_model(path, device)?);
    }
    if !path.exists() {
        return Err(DtunetError::Weights {
            path: path.to_path_buf(),
            problem: "no such file or folder".into(),
        }
        .into());
    }
    let trained = load_trained(path, device)?;
    Ok((trained.model, trained.config.model))
}

/// One value repeated for every sample, or the per-sample list as given (its length is
/// checked against the batch by the library).
fn per_sample<T: Copy>(values: &[T], batch: usize) -> Vec<T> {
    match values {
        [one] => vec![*one; batch],
        many => many.to_vec(),
    }
}

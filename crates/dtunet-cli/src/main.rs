//! The `dtunet` command-line tool: clap arguments → validated configs → library calls.

mod bench_cmd;
mod data_cmd;
mod dataset_args;
mod demo_cmd;
mod detect_cmd;
mod eval_cmd;
mod experiment_cmd;
mod heap;
mod import_cmd;
mod import_config_cmd;
mod noise_cmd;
mod predict_cmd;
mod progress;
mod synth_cmd;
mod train_classifier_cmd;
mod train_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Self-supervised anomaly segmentation with diffusion models (DTU-Net, Tsimplex noise).
#[derive(Debug, Parser)]
#[command(name = "dtunet", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The whole method on built-in synthetic brain images: generate, train a small DTU-Net
    /// with Tsimplex noise, detect, print the metrics and the report path.
    Demo(demo_cmd::DemoArgs),
    /// Tsimplex and other diffusion noises: evaluate, generate, study, benchmark.
    Noise(noise_cmd::NoiseArgs),
    /// Datasets on disk: inspect a folder (counts, sizes, masks, problems), benchmark loading.
    Data(data_cmd::DataArgs),
    /// Score reconstructions or anomaly maps against masks: CSV, JSON, Markdown, panels,
    /// ROC curve and an HTML report.
    Eval(eval_cmd::EvalArgs),
    /// Write a built-in synthetic dataset (brain phantoms with tumours, or textured surfaces
    /// with defects) in the MVTec AD layout, with exact masks and a dataset card.
    Synth(synth_cmd::SynthArgs),
    /// Train DTU-Net / U-ViT / UNet on the healthy images of a dataset: checkpoints, resume,
    /// loss log and curve, sample reconstructions, final EMA weights.
    Train(Box<train_cmd::TrainArgs>),
    /// Train the noisy-image classifier of image-level guidance (healthy vs anomalous) on a
    /// labelled dataset, with the denoiser's noise and schedule (for detect --classifier).
    TrainClassifier(Box<train_classifier_cmd::TrainClassifierArgs>),
    /// Load a PyTorch state_dict (.pt/.pth/.safetensors) of the reference model into a dtunet
    /// model folder for detect, reporting missing and unexpected keys by name.
    ImportWeights(Box<import_cmd::ImportArgs>),
    /// Translate one of the authors' JSON run configurations (test_args/argsN.json) into a
    /// dtunet TOML configuration, naming every key it cannot carry.
    ImportConfig(Box<import_config_cmd::ImportConfigArgs>),
    /// The network's raw output ε̂ for a [B, C, H, W] .npy batch at given timesteps (and
    /// labels), as a .npy: compare an imported model with the PyTorch class.
    Predict(Box<predict_cmd::PredictArgs>),
    /// Benchmarks: time a training step (network, noise, full step) and the noise's share.
    Bench(bench_cmd::BenchArgs),
    /// The paper's studies (loss ablation, noise against depth, averaging, backbones) and your
    /// own: a grid of train/detect cells run unattended and resumable, reported as tables in
    /// the paper's layout beside its published values.
    Experiment(experiment_cmd::ExperimentArgs),
    /// Detect anomalies in a dataset's test split with a trained model: reconstructions, maps,
    /// masks, metrics, panels, ROC and the HTML report.
    Detect(Box<detect_cmd::DetectArgs>),
}

/// A failure caused by what the user asked for (exit code 2), as opposed to one that happened
/// while doing it (exit code 1).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Exit code for an error chain: 2 for usage errors (bad parameters), 1 otherwise.
fn exit_code_for(error: &anyhow::Error) -> u8 {
    let usage = error.chain().any(|cause| {
        cause.is::<UsageError>()
            || cause
                .downcast_ref::<dtunet::DtunetError>()
                .is_some_and(|e| e.is_usage_error())
            || cause.is::<dtunet::noise::NoiseError>()
    });
    if usage { 2 } else { 1 }
}

fn main() -> ExitCode {
    heap::keep_freed_tensor_memory();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo_cmd::run(args),
        Command::Detect(args) => detect_cmd::run(*args),
        Command::Noise(args) => noise_cmd::run(args),
        Command::Data(args) => data_cmd::run(args),
        Command::Eval(args) => eval_cmd::run(args),
        Command::Synth(args) => synth_cmd::run(args),
        Command::Train(args) => train_cmd::run(*args),
        Command::TrainClassifier(args) => train_classifier_cmd::run(*args),
        Command::ImportWeights(args) => import_cmd::run(*args),
        Command::Predict(args) => predict_cmd::run(*args),
        Command::ImportConfig(args) => import_config_cmd::run(*args),
        Command::Bench(args) => bench_cmd::run(args),
        Command::Experiment(args) => experiment_cmd::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(exit_code_for(&error))
        }
    }
}

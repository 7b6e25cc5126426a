//! `dtunet bench train`: the time of one training step (forward, backward, AdamW step) of the
//! network as `dtunet train` runs it, and the share of a step spent drawing the diffusion noise.
//!
//! Three timings, interleaved within every repeat so a drifting machine affects them alike:
//! the network step alone on a fixed noise tensor, the noise batch alone
//! ([`NoiseSampler::sample`] for `[B, C, H, W]` with one timestep per sample), the full step
//! with its noise drawn inline (noise, then the step), and the step as `dtunet train` runs it,
//! its noise drawn on a host thread during the step before (the wait for it timed apart). The
//! device is synchronised before each clock stops, so lazy backends are timed honestly. The
//! peer is `benches/peers/train_step.py` (PyTorch).
//!
//! `dtunet bench ops` ([`ops`]) times the operations fused on CPU backends against the other
//! forms of a backend.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};
use clap::{Args, Subcommand};
use dtunet::backend::BackendKind;
use dtunet::diffusion::{
    BetaSchedule, DiffusionSchedule, GaussianDiffusion, NoiseSampler, TimestepRange,
    TimestepSampler, timestep_tensor,
};
use dtunet::losses::{LossKind, noise_prediction_loss};
use dtunet::models::{Architecture, Denoiser, ModelConfig, NoisePredictor, StageFeedForward};
use dtunet::noise::{NoiseConfig, NoiseKind};
use dtunet::training::prefetch::{PREFETCH_DEPTH, Prefetcher};
use serde_json::json;

use crate::UsageError;
use crate::train_cmd::parse;

mod ops;

/// Diffusion steps `T` of the benchmarked process (paper Table 6).
const DIFFUSION_STEPS: usize = 1000;
/// AdamW learning rate of the step (the training default).
const LEARNING_RATE: f64 = 1e-4;

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Time one training step (forward, backward, AdamW) and the noise generation it needs:
    /// min / median / max ms of the network step, the noise batch and the full step.
    Train(TrainBenchArgs),
    /// Time the operations dtunet fuses on CPU backends (attention's softmax, DAFF's depthwise
    /// 3×3) against the other forms of this backend, forward and forward + backward.
    Ops(ops::OpsBenchArgs),
}

#[derive(Debug, Args)]
struct TrainBenchArgs {
    /// Backbone: dtunet, uvit or unet.
    #[arg(long, default_value = "dtunet", value_parser = parse::<Architecture>)]
    arch: Architecture,
    /// Image side in pixels.
    #[arg(long, default_value_t = 224)]
    img_size: usize,
    /// Patch side in pixels.
    #[arg(long, default_value_t = 16)]
    patch_size: usize,
    /// Token width D.
    #[arg(long, default_value_t = 384)]
    embed_dim: usize,
    /// Transformer blocks (even).
    #[arg(long, default_value_t = 6)]
    depth: usize,
    /// Attention heads.
    #[arg(long, default_value_t = 6)]
    heads: usize,
    /// Feed-forward per stage: mlp, daff, or in,mid,out (e.g. daff,mlp,daff).
    #[arg(long, default_value = "mlp", value_parser = parse::<StageFeedForward>)]
    ff: StageFeedForward,
    /// Image channels, 1 or 3.
    #[arg(long, default_value_t = 1)]
    channels: usize,
    /// Images per step.
    #[arg(long, default_value_t = 4)]
    batch_size: usize,
    /// Noise of the step: tsimplex (octaves 6, persistence 0.9, frequency 64), gauss, tsg,
    /// kts, simplex3d, patch4dsimplex, multisimplex or value.
    #[arg(long, default_value = "tsimplex", value_parser = parse_noise_kind)]
    noise: NoiseKind,
    /// Untimed steps first.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Timed steps.
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    #[command(flatten)]
    target: BenchTarget,
}

/// Where a benchmark runs and how it reports: the flags every `bench` subcommand shares.
#[derive(Debug, Args)]
struct BenchTarget {
    /// Compute backend: flex (CPU), or cuda / wgpu / tch when built with that feature.
    #[arg(long, default_value = "flex", value_parser = parse::<BackendKind>)]
    backend: BackendKind,
    /// GPU index for cuda / tch.
    #[arg(long)]
    device_index: Option<usize>,
    /// Worker threads of the CPU backend and the noise (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
}

impl BenchTarget {
    /// Starts the global rayon pool with `--threads` workers (default: all cores), gives the
    /// backend's own CPU threads the same number and returns the device. The global pool, as
    /// `dtunet train` uses: the noise-drawing thread's rayon work lands there too, so both
    /// compete for the same workers as in training.
    fn start(&self) -> Result<Device> {
        let mut pool = rayon::ThreadPoolBuilder::new();
        if let Some(threads) = self.threads {
            if threads == 0 {
                bail!(UsageError("--threads must be at least 1".into()));
            }
            pool = pool.num_threads(threads);
        }
        pool.build_global().context("cannot start worker threads")?;
        self.backend.limit_cpu_threads(rayon::current_num_threads());
        Ok(self.backend.device(self.device_index)?)
    }
}

fn parse_noise_kind(text: &str) -> Result<NoiseKind, String> {
    text.parse()
        .map_err(|e: dtunet::noise::NoiseError| e.to_string())
}

pub fn run(args: BenchArgs) -> Result<()> {
    match args.command {
        BenchCommand::Train(args) => bench_train(&args),
        BenchCommand::Ops(args) => ops::bench_ops(&args),
    }
}

/// Minimum, median and maximum of one timed quantity.
#[derive(Debug, Clone, Copy)]
struct Summary {
    min_ms: f64,
    median_ms: f64,
    max_ms: f64,
}

impl Summary {
    /// # Panics
    /// When `times_ms` is empty (`--repeats` is checked to be at least 1).
    fn of(times_ms: &[f64]) -> Self {
        assert!(!times_ms.is_empty(), "at least one timed repeat");
        let mut sorted = times_ms.to_vec();
        sorted.sort_by(f64::total_cmp);
        let middle = sorted.len() / 2;
        let median_ms = if sorted.len() % 2 == 1 {
            sorted[middle]
        } else {
            0.5 * (sorted[middle - 1] + sorted[middle])
        };
        Self {
            min_ms: sorted[0],
            median_ms,
            max_ms: sorted[sorted.len() - 1],
        }
    }

    fn to_json(self, times_ms: &[f64]) -> serde_json::Value {
        json!({
            "min_ms": self.min_ms,
            "median_ms": self.median_ms,
            "max_ms": self.max_ms,
            "runs_ms": times_ms,
        })
    }
}

/// What one training step needs besides the model: the optimiser, the process, the data.
struct Step {
    optimizer: ModuleOptimizer,
    diffusion: GaussianDiffusion,
    timesteps: TimestepSampler,
    x_start: Tensor<4>,
    device: Device,
}

impl Step {
    /// One step as `dtunet::training::train` takes it (L2 loss, AdamW), on the noise `eps`
    /// `[B, C, H, W]` drawn for the timesteps `t`; returns the updated model once the device
    /// has finished it.
    fn run(&mut self, model: Denoiser, t: &[usize], eps: Tensor<4>) -> Result<Denoiser> {
        let x_t = self
            .diffusion
            .q_sample(self.x_start.clone(), t, eps.clone());
        let eps_hat = model.predict_noise(x_t, timestep_tensor(t, &self.device), None);
        let loss = noise_prediction_loss(LossKind::L2, eps_hat, eps)
            .loss
            .mean();
        let loss_value = loss.clone().into_scalar::<f32>();
        if !loss_value.is_finite() {
            bail!("the loss is {loss_value}: the benchmarked step diverged");
        }
        let gradients = GradientsParams::from_grads(loss.backward(), &model);
        let model = self.optimizer.step(LEARNING_RATE, model, gradients);
        sync(&self.device)?;
        Ok(model)
    }
}

/// One step as `dtunet train` takes it: its noise drawn on a host thread while the steps
/// before it run, and the thread drawing the noise of a later step meanwhile. Runs two steps
/// from an endless stream of draws (timesteps seeded by `seed`) and times the second, which
/// starts with the pipeline full, from the moment it asks for its noise; returns the model,
/// how long that step waited for its noise and the whole step.
fn prefetched_step(
    step: &mut Step,
    model: Denoiser,
    noise: &mut NoiseSampler,
    dims: [usize; 4],
    seed: u64,
) -> Result<(Denoiser, Duration, Duration)> {
    let mut timesteps = TimestepSampler::new(TimestepRange::default(), DIFFUSION_STEPS, seed)?;
    let device = step.device.clone();
    std::thread::scope(|scope| {
        let mut prepared = Prefetcher::spawn(scope, 0..usize::MAX, PREFETCH_DEPTH, |_| {
            let t = timesteps.sample(dims[0]);
            let eps = noise.sample_data(dims, &t);
            (t, eps)
        });
        let mut next = || {
            prepared
                .next()
                .context("the noise-drawing thread stopped early")
        };
        let ((t, eps), _) = next()?;
        let model = step.run(model, &t, Tensor::from_data(eps?, &device))?;
        let start = Instant::now();
        let ((t, eps), waited) = next()?;
        let model = step.run(model, &t, Tensor::from_data(eps?, &device))?;
        Ok((model, waited, start.elapsed()))
    })
}

fn sync(device: &Device) -> Result<()> {
    device
        .sync()
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("the device failed while running the step")
}

/// Refuses a benchmark without timed repeats or without images.
fn check_counts(repeats: usize, batch_size: usize) -> Result<()> {
    if repeats == 0 {
        bail!(UsageError("--repeats must be at least 1".into()));
    }
    if batch_size == 0 {
        bail!(UsageError("--batch-size must be at least 1".into()));
    }
    Ok(())
}

fn bench_train(args: &TrainBenchArgs) -> Result<()> {
    check_counts(args.repeats, args.batch_size)?;
    let model_config = ModelConfig {
        arch: args.arch,
        img_size: args.img_size,
        channels: args.channels,
        patch_size: args.patch_size,
        embed_dim: args.embed_dim,
        depth: args.depth,
        heads: args.heads,
        ff: args.ff,
        ..ModelConfig::default()
    };
    model_config.validate()?;
    let noise_config = NoiseConfig {
        kind: args.noise,
        total_steps: DIFFUSION_STEPS as u32,
        ..NoiseConfig::default()
    };
    noise_config.validate()?;
    let device = args.target.start()?;
    run_benchmark(args, &model_config, noise_config, &device)
}

fn run_benchmark(
    args: &TrainBenchArgs,
    model_config: &ModelConfig,
    noise_config: NoiseConfig,
    device: &Device,
) -> Result<()> {
    let train_device = device.clone().autodiff();
    let mut model = Denoiser::seeded_on_host(model_config, 0, &train_device)?;
    let params = model.num_params();
    let dims = [args.batch_size, args.channels, args.img_size, args.img_size];
    let values: Vec<f32> = (0..dims.iter().product::<usize>())
        .map(|i| (i as f32 * 0.1).sin())
        .collect();
    let mut step = Step {
        optimizer: AdamWConfig::new()
            .with_beta_1(0.9)
            .with_beta_2(0.999)
            .with_epsilon(1e-8)
            .with_weight_decay(0.0)
            .init(),
        diffusion: GaussianDiffusion::new(
            DiffusionSchedule::new(BetaSchedule::Cosine, DIFFUSION_STEPS)?,
            &train_device,
        ),
        timesteps: TimestepSampler::new(TimestepRange::default(), DIFFUSION_STEPS, 0)?,
        x_start: Tensor::from_data(TensorData::new(values, dims), &train_device),
        device: train_device.clone(),
    };
    let mut noise = NoiseSampler::new(noise_config, 0, &train_device)?;
    let fixed_t = step.timesteps.sample(args.batch_size);
    let fixed_eps = noise.sample(dims, &fixed_t)?;

    let mut network_ms = Vec::with_capacity(args.repeats);
    let mut noise_ms = Vec::with_capacity(args.repeats);
    let mut full_ms = Vec::with_capacity(args.repeats);
    let mut wait_ms = Vec::with_capacity(args.repeats);
    let mut prefetched_ms = Vec::with_capacity(args.repeats);
    for repeat in 0..args.warmup + args.repeats {
        let timed = repeat >= args.warmup;

        let start = Instant::now();
        model = step.run(model, &fixed_t, fixed_eps.clone())?;
        let network = start.elapsed();

        let t = step.timesteps.sample(args.batch_size);
        let start = Instant::now();
        let eps = noise.sample(dims, &t)?;
        sync(&train_device)?;
        let noise_only = start.elapsed();
        drop(eps);

        let t = step.timesteps.sample(args.batch_size);
        let start = Instant::now();
        let eps = noise.sample(dims, &t)?;
        model = step.run(model, &t, eps)?;
        let full = start.elapsed();

        let (next_model, waited, prefetched) =
            prefetched_step(&mut step, model, &mut noise, dims, repeat as u64)?;
        model = next_model;

        if timed {
            network_ms.push(network.as_secs_f64() * 1e3);
            noise_ms.push(noise_only.as_secs_f64() * 1e3);
            full_ms.push(full.as_secs_f64() * 1e3);
            wait_ms.push(waited.as_secs_f64() * 1e3);
            prefetched_ms.push(prefetched.as_secs_f64() * 1e3);
        }
    }
    let network = Summary::of(&network_ms);
    let noise_only = Summary::of(&noise_ms);
    let full = Summary::of(&full_ms);
    let wait = Summary::of(&wait_ms);
    let prefetched = Summary::of(&prefetched_ms);
    let noise_share = noise_only.median_ms / full.median_ms;
    let prefetched_noise_share = wait.median_ms / prefetched.median_ms;
    let threads = rayon::current_num_threads();

    if args.target.json {
        let report = json!({
            "bench": "train",
            "backend": args.target.backend.name(),
            "threads": threads,
            "model": {
                "arch": model_config.arch.name(),
                "img_size": model_config.img_size,
                "patch_size": model_config.patch_size,
                "embed_dim": model_config.embed_dim,
                "depth": model_config.depth,
                "heads": model_config.heads,
                "ff": model_config.ff.to_string(),
                "channels": model_config.channels,
                "params": params,
            },
            "batch_size": args.batch_size,
            "noise": noise_config.kind.name(),
            "warmup": args.warmup,
            "repeats": args.repeats,
            "network_step": network.to_json(&network_ms),
            "noise_generation": noise_only.to_json(&noise_ms),
            "full_step": full.to_json(&full_ms),
            "noise_wait": wait.to_json(&wait_ms),
            "prefetched_step": prefetched.to_json(&prefetched_ms),
            "noise_share": noise_share,
            "prefetched_noise_share": prefetched_noise_share,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "{} {}x{} px, {} channel(s), patch {}, D {}, depth {}, heads {}, ff {} ({params} \
         parameters); batch {}; noise {}; {} on {threads} thread(s); {} timed step(s) after {} \
         warm-up",
        model_config.arch,
        model_config.img_size,
        model_config.img_size,
        model_config.channels,
        model_config.patch_size,
        model_config.embed_dim,
        model_config.depth,
        model_config.heads,
        model_config.ff,
        args.batch_size,
        noise_config.kind,
        args.target.backend,
        args.repeats,
        args.warmup,
    );
    println!(
        "{:<18} {:>10} {:>10} {:>10}",
        "ms per step", "min", "median", "max"
    );
    for (name, summary) in [
        ("network step", network),
        ("noise generation", noise_only),
        ("full step", full),
        ("noise wait", wait),
        ("prefetched step", prefetched),
    ] {
        println!(
            "{name:<18} {:>10.1} {:>10.1} {:>10.1}",
            summary.min_ms, summary.median_ms, summary.max_ms
        );
    }
    println!(
        "noise share {noise_share:.3} inline (noise median / full-step median), \
         {prefetched_noise_share:.3} prefetched (wait median / prefetched-step median)"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Summary;

    #[test]
    fn summary_takes_the_middle_of_odd_and_even_runs() {
        let odd = Summary::of(&[3.0, 1.0, 2.0]);
        assert_eq!((odd.min_ms, odd.median_ms, odd.max_ms), (1.0, 2.0, 3.0));
        let even = Summary::of(&[4.0, 1.0, 2.0, 3.0]);
        assert_eq!((even.min_ms, even.median_ms, even.max_ms), (1.0, 2.5, 4.0));
    }
}

//! `dtunet demo`: the whole method on the built-in synthetic brain set — generate the data,
//! train a small DTU-Net with Tsimplex noise on the CPU, detect, print the metrics.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use dtunet::backend::BackendKind;
use dtunet::data::synth::{Lesions, Material, SynthConfig, SynthKind, write_dataset};
use dtunet::metrics::Threshold;
use dtunet::training::{Preset, Start, TrainConfig, TrainingImages, train};

use crate::UsageError;
use crate::dataset_args::{DatasetArgs, DatasetFormat};
use crate::detect_cmd::{CalibrationArgs, DetectArgs, run_detection};
use crate::eval_cmd::{MapKind, print_summary};
use crate::progress::bar;
use crate::train_cmd::{BarObserver, parse};

/// Reconstructions averaged per test image, and the network evaluations of each: 16 strided
/// chains of 50 steps beat 4 full chains of 251 on both lesion sets, in less time
/// (BENCHMARKS.md, "Longer training, more and shorter chains, smoothing").
const DEMO_SAMPLES: usize = 16;
const DEMO_CHAIN_STEPS: usize = 50;

/// Healthy training slices of the clear-lesion demo, and of the mixed-lesion one: small, faint
/// lesions need a model that knows healthy tissue better, and 960 slices instead of 240 lift
/// Dice over the tumour images from 0.36 to 0.40 at the same training time (BENCHMARKS.md,
/// "Augmentation, more healthy images and Otsu-floored calibration").
const DEMO_TRAIN_IMAGES: usize = 240;
const MIXED_DEMO_TRAIN_IMAGES: usize = 960;

/// Smoothing of the demo's maps: σ 1 px lifts the pooled AUROC on both lesion sets (clear
/// 0.962 → 0.992, mixed 0.896 → 0.956) and Dice on the clear lesions (BENCHMARKS.md); on the
/// mixed lesions, many a few pixels across, σ 0.7 px keeps most of that AUROC and lifts Dice
/// where σ 1 lowers it.
const DEMO_SMOOTH_SIGMA: f64 = 1.0;
const MIXED_DEMO_SMOOTH_SIGMA: f64 = 0.7;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Everything goes here: data/, run/ (training), detect/ (maps, report), summary.json.
    #[arg(long, default_value = "dtunet-demo")]
    out: PathBuf,
    /// A smoke run (tiny data, a few dozen steps): checks the pipeline, not the method.
    #[arg(long)]
    quick: bool,
    /// The diffusion noise: tsimplex (the paper's), gauss (the DDPM baseline), tsg, kts.
    #[arg(long, default_value = "tsimplex")]
    noise: String,
    /// Healthy training slices generated [default: 240; 960 with --lesions mixed; 32 with
    /// --quick].
    #[arg(long)]
    n_train: Option<usize>,
    /// Training steps [default: 2,000; 8,000 (the slices preset) with --lesions mixed].
    #[arg(long)]
    steps: Option<usize>,
    /// Partial-diffusion depth at detection.
    #[arg(long)]
    t_lambda: Option<usize>,
    /// Independent reconstructions averaged per test image [default: 16; 1 with --quick].
    #[arg(long)]
    samples: Option<usize>,
    /// Network evaluations of each reconstruction: a strided (DDIM-style) chain from t_λ
    /// [default: 50; the full chain with --quick].
    #[arg(long, conflicts_with = "full_chain")]
    chain_steps: Option<usize>,
    /// Reconstruct with the full t_λ + 1 step DDPM chain instead of the strided one.
    #[arg(long)]
    full_chain: bool,
    /// σ in pixels of the Gaussian smoothing of the maps before scoring (0: none) [default: 1;
    /// 0.7 with --lesions mixed].
    #[arg(long)]
    smooth: Option<f64>,
    /// Brain lesions of the synthetic set: clear (large, visible, BraTS-like) or mixed (subtle
    /// to strong, many a few pixels across at the demo's 32 px; trained with the slices
    /// preset).
    #[arg(long, default_value = "clear", value_parser = parse::<Lesions>)]
    lesions: Lesions,
    /// Seed of the data, the weights and the noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Replace the results of an earlier demo in --out.
    #[arg(long)]
    overwrite: bool,
    /// Compute backend of training and detection: flex (CPU), or cuda / wgpu / tch when built
    /// with that feature.
    #[arg(long, default_value = "flex", value_parser = parse::<BackendKind>)]
    backend: BackendKind,
}

pub fn run(args: DemoArgs) -> Result<()> {
    let started = Instant::now();
    if args.out.join("run").exists() && !args.overwrite {
        return Err(UsageError(format!(
            "{} already holds a demo run: pass --overwrite to replace it, or choose another --out",
            args.out.display()
        ))
        .into());
    }
    // Small and faint lesions need the longer run of the slices preset (BENCHMARKS.md).
    let preset = match args.lesions {
        Lesions::Clear => Preset::Demo,
        Lesions::Mixed => Preset::Slices,
    };
    let mut config = TrainConfig::preset(preset);
    config.noise.kind = args.noise.clone();
    config.seed = args.seed;
    let (default_train, n_test) = match (args.quick, args.lesions) {
        (true, _) => (32, 8),
        (false, Lesions::Clear) => (DEMO_TRAIN_IMAGES, 40),
        (false, Lesions::Mixed) => (MIXED_DEMO_TRAIN_IMAGES, 40),
    };
    let n_train = args.n_train.unwrap_or(default_train);
    if args.quick {
        config.steps = 20;
        config.checkpoint_every = 10;
        config.sample_every = 0;
    }
    if let Some(steps) = args.steps {
        config.steps = steps;
    }
    let smooth = args.smooth.unwrap_or(match args.lesions {
        Lesions::Clear => DEMO_SMOOTH_SIGMA,
        Lesions::Mixed => MIXED_DEMO_SMOOTH_SIGMA,
    });
    let t_lambda = args.t_lambda.unwrap_or(if args.quick { 20 } else { 250 });
    let samples = args
        .samples
        .unwrap_or(if args.quick { 1 } else { DEMO_SAMPLES });
    let chain_steps = match (args.chain_steps, args.full_chain || args.quick) {
        (Some(steps), _) => Some(steps),
        (None, true) => None,
        (None, false) => Some(DEMO_CHAIN_STEPS),
    };
    config.validate()?;
    let device = args.backend.device(None)?;

    let data = args.out.join("data");
    let synth = SynthConfig {
        kind: SynthKind::Brain,
        material: Material::Leather,
        n_train,
        n_test,
        height: config.model.img_size,
        width: config.model.img_size,
        seed: args.seed,
        healthy_fraction: 0.25,
        lesions: args.lesions,
    };
    synth.validate()?;
    eprintln!(
        "1/3 generating {n_train} + {n_test} synthetic brain images in {}",
        data.display()
    );
    let progress = bar((n_train + n_test) as u64, "images");
    write_dataset(&synth, &data, true, &|| progress.inc(1))
        .context("cannot write the synthetic brain set")?;
    progress.finish_and_clear();

    let run_folder = args.out.join("run");
    if run_folder.exists() {
        std::fs::remove_dir_all(&run_folder)
            .with_context(|| format!("cannot replace {}", run_folder.display()))?;
    }
    let dataset = DatasetArgs {
        data: data.clone(),
        format: DatasetFormat::mvtec(),
    };
    eprintln!(
        "2/3 training DTU-Net ({} px, D {}, depth {}) with {} noise for {} steps on {}",
        config.model.img_size,
        config.model.embed_dim,
        config.model.depth,
        config.noise.kind,
        config.steps,
        args.backend
    );
    let opened = dataset.open(config.model.img_size, config.model.channels)?;
    let images = TrainingImages::load(opened.as_ref(), config.calibration_holdout)?;
    let mut observer = BarObserver::new();
    let outcome = train(
        &config,
        &images,
        &run_folder,
        Start::Fresh,
        &device,
        &mut observer,
    )?;
    drop(observer);
    let training_seconds = outcome.seconds;

    let chain = match chain_steps {
        Some(steps) => format!("strided chains of {steps} steps"),
        None => format!("full chains of {} steps", t_lambda + 1),
    };
    eprintln!(
        "3/3 detecting anomalies on {n_test} test images (t_λ = {t_lambda}, {samples} averaged \
         reconstructions each, {chain})"
    );
    let detect_out = args.out.join("detect");
    let outputs = run_detection(&DetectArgs {
        checkpoint: run_folder.clone(),
        dataset,
        out: detect_out.clone(),
        t_lambda: Some(vec![t_lambda]),
        samples: Some(samples),
        steps: chain_steps,
        full_chain: chain_steps.is_none(),
        batch_size: 8,
        map: MapKind::Se,
        threshold: Some(Threshold::Otsu),
        calibration: CalibrationArgs::off(),
        largest_cc: false,
        smooth: Some(smooth),
        foreground: false,
        allow_missing_masks: false,
        classifier: None,
        guidance_scale: 1.0,
        seed: args.seed,
        overwrite: true,
        backend: args.backend,
        device_index: None,
        shard: None,
    })?;
    let summary_path = args.out.join("summary.json");
    std::fs::copy(&outputs.eval.files.summary_json, &summary_path)
        .with_context(|| format!("cannot write {}", summary_path.display()))?;

    print_summary(&outputs.eval);
    println!(
        "demo finished in {:.0} s (training {:.0} s, detection {:.0} s); summary: {}; report: {}",
        started.elapsed().as_secs_f64(),
        training_seconds,
        outputs.reconstruction_seconds,
        summary_path.display(),
        outputs.eval.files.report_html.display()
    );
    Ok(())
}

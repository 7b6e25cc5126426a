//! The GPU code path against the Flex CPU backend, on tiny models: built only with the `wgpu`
//! or `cuda` feature (`cuda` preferred when both), and run on any machine through a Vulkan
//! driver (Mesa's lavapipe on CPU-only machines: `tools/wgpu-check.sh`).
//!
//! Tolerances: weights, noise and batches are moved, not computed, so they must be equal bit
//! for bit; computed values may differ by the order of f32 reductions, so forward passes agree
//! to 1e-4 of the output's largest magnitude, gradients to 1e-3 of the largest gradient,
//! losses to 1e-4 relative, and a short detection's pooled AUROC to 1e-3.
#![cfg(any(feature = "wgpu", feature = "cuda"))]

mod common;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use dtunet::backend::BackendKind;
use dtunet::data::Dataset;
use dtunet::data::synth::{Lesions, SynthConfig, SynthKind};
use dtunet::detection::{DetectConfig, DetectOutputs, detect, load_trained};
use dtunet::diffusion::{NoiseSampler, timestep_tensor};
use dtunet::evaluate::DEFAULT_MAX_EXACT_PIXELS;
use dtunet::losses::{LossKind, noise_prediction_loss};
use dtunet::metrics::{ErrorMapKind, Threshold};
use dtunet::models::weights::model_bytes;
use dtunet::models::{
    Architecture, Denoiser, FeedForwardKind, ModelConfig, NoisePredictor, StageFeedForward,
};
use dtunet::noise::{NoiseConfig, NoiseKind};
use dtunet::training::data_parallel::GradientReduction;
use dtunet::training::{Start, StepRecord, TrainConfig, TrainObserver, TrainingImages, train_on};

/// Side of the test images in pixels.
const SIDE_PX: usize = 16;

/// The GPU device of this build.
fn gpu() -> Device {
    let kind = if cfg!(feature = "cuda") {
        BackendKind::Cuda
    } else {
        BackendKind::Wgpu
    };
    kind.device(None).expect("a GPU backend is compiled in")
}

/// Serialises the tests that draw initial weights from the process-wide host generator.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn transformer(arch: Architecture, ff: FeedForwardKind) -> ModelConfig {
    ModelConfig {
        arch,
        img_size: SIDE_PX,
        channels: 1,
        patch_size: 4,
        embed_dim: 32,
        depth: 2,
        heads: 2,
        mlp_ratio: 2.0,
        ff: StageFeedForward::uniform(ff),
        ..ModelConfig::default()
    }
}

fn unet() -> ModelConfig {
    ModelConfig {
        arch: Architecture::Unet,
        img_size: SIDE_PX,
        channels: 1,
        unet_channels: 32,
        unet_res_blocks: 1,
        unet_attention_resolutions: vec![8],
        unet_heads: 2,
        unet_channel_mult: vec![1, 1],
        ..ModelConfig::default()
    }
}

/// Every backbone and feed-forward the GPU path must run, by name.
fn backbones() -> Vec<(&'static str, ModelConfig)> {
    vec![
        (
            "dtunet-mlp",
            transformer(Architecture::Dtunet, FeedForwardKind::Mlp),
        ),
        (
            "dtunet-daff",
            transformer(Architecture::Dtunet, FeedForwardKind::Daff),
        ),
        (
            "uvit",
            transformer(Architecture::Uvit, FeedForwardKind::Mlp),
        ),
        ("unet", unet()),
    ]
}

/// `n` values of a fixed smooth pattern in `[-1, 1]`.
fn pattern(n: usize, phase: f32) -> Vec<f32> {
    (0..n).map(|i| (i as f32 * 0.37 + phase).sin()).collect()
}

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().try_to_vec::<f32>().expect("f32 data")
}

/// Asserts `max |found − expected| ≤ relative · max |expected|`, naming `what`.
fn assert_close(what: &str, found: &[f32], expected: &[f32], relative: f32) {
    assert_eq!(found.len(), expected.len(), "{what}: lengths");
    let scale = expected.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    let worst = found
        .iter()
        .zip(expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(
        worst <= relative * scale,
        "{what}: worst difference {worst:e} above {relative:e} of the scale {scale:e}"
    );
}

/// Every tensor of a model's safetensors bytes, by name, as `f32` values.
fn weights(model: &Denoiser, config: &ModelConfig) -> Vec<(String, Vec<f32>)> {
    common::f32_tensors(&model_bytes(model, config).expect("model bytes"))
}

#[test]
fn initial_weights_are_drawn_on_the_host_and_equal_on_every_backend() {
    let _guard = serial();
    for (name, config) in backbones() {
        let on_flex =
            Denoiser::seeded_on_host(&config, 7, &Device::flex().autodiff()).expect("valid config");
        let on_gpu = Denoiser::seeded_on_host(&config, 7, &gpu().autodiff()).expect("valid");
        let (flex, gpu) = (weights(&on_flex, &config), weights(&on_gpu, &config));
        assert_eq!(flex.len(), gpu.len(), "{name}: tensor count");
        let differing: Vec<String> = flex
            .iter()
            .zip(&gpu)
            .filter(|((_, a), (_, b))| a != b)
            .map(|((key, a), (_, b))| {
                let worst = a
                    .iter()
                    .zip(b)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0f32, f32::max);
                format!("{key} (worst {worst:e})")
            })
            .collect();
        assert!(differing.is_empty(), "{name}: {}", differing.join(", "));
    }
}

#[test]
fn forward_passes_match_flex() {
    let _guard = serial();
    let dims = [2, 1, SIDE_PX, SIDE_PX];
    let x = TensorData::new(pattern(2 * SIDE_PX * SIDE_PX, 0.3), dims);
    for (name, config) in backbones() {
        let model = Denoiser::seeded_on_host(&config, 5, &Device::flex()).expect("valid");
        let run = |device: &Device| {
            let model = model.clone().to_device(device);
            let t = timestep_tensor(&[10, 700], device);
            values(model.predict_noise(Tensor::from_data(x.clone(), device), t, None))
        };
        assert_close(name, &run(&gpu()), &run(&Device::flex()), 1e-4);
    }
}

/// The loss and every parameter's gradient of one L2 step, in the model's parameter order.
fn loss_and_gradients(model: &Denoiser, device: &Device) -> (f32, Vec<f32>) {
    struct Collect<'a> {
        gradients: &'a GradientsParams,
        values: Vec<f32>,
    }
    impl ModuleVisitor for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(gradient) = self.gradients.get::<D>(param.id) {
                self.values.extend(values(gradient));
            }
        }
    }
    let dims = [2, 1, SIDE_PX, SIDE_PX];
    let n = 2 * SIDE_PX * SIDE_PX;
    let model = model.clone().fork(device);
    let t = [3, 450];
    let noise = Tensor::<4>::from_data(TensorData::new(pattern(n, 1.1), dims), device);
    let x_t = Tensor::<4>::from_data(TensorData::new(pattern(n, 0.2), dims), device);
    let eps_hat = model.predict_noise(x_t, timestep_tensor(&t, device), None);
    let loss = noise_prediction_loss(LossKind::L2, eps_hat, noise)
        .loss
        .mean();
    let loss_value = loss.clone().into_scalar::<f32>();
    let gradients = GradientsParams::from_grads(loss.backward(), &model);
    let mut collect = Collect {
        gradients: &gradients,
        values: Vec::new(),
    };
    model.visit(&mut collect);
    (loss_value, collect.values)
}

#[test]
fn a_training_steps_loss_and_gradients_match_flex() {
    let _guard = serial();
    for (name, config) in backbones() {
        let model =
            Denoiser::seeded_on_host(&config, 9, &Device::flex().autodiff()).expect("valid");
        let (flex_loss, flex_gradients) = loss_and_gradients(&model, &Device::flex().autodiff());
        let (gpu_loss, gpu_gradients) = loss_and_gradients(&model, &gpu().autodiff());
        assert!(
            (gpu_loss - flex_loss).abs() <= 1e-4 * flex_loss.abs(),
            "{name}: loss {gpu_loss} on the GPU, {flex_loss} on flex"
        );
        assert!(!flex_gradients.is_empty(), "{name}: gradients");
        assert_close(name, &gpu_gradients, &flex_gradients, 1e-3);
    }
}

#[test]
fn noise_batches_equal_the_hosts() {
    for kind in [NoiseKind::Gauss, NoiseKind::Tsimplex] {
        let config = NoiseConfig {
            kind,
            total_steps: 1000,
            ..NoiseConfig::default()
        };
        let draw = |device: &Device| {
            let mut sampler = NoiseSampler::new(config, 4, device).expect("valid");
            values(
                sampler
                    .sample([3, 1, SIDE_PX, SIDE_PX], &[1, 500, 999])
                    .expect("noise"),
            )
        };
        assert_eq!(draw(&gpu()), draw(&Device::flex()), "{kind}");
    }
}

/// A labelled 16 px synthetic brain set in `folder/data`, opened grey at 16 px.
fn brains(folder: &Path) -> Box<dyn Dataset> {
    let config = SynthConfig {
        kind: SynthKind::Brain,
        n_train: 16,
        n_test: 4,
        height: SIDE_PX,
        width: SIDE_PX,
        seed: 3,
        lesions: Lesions::Clear,
        ..SynthConfig::default()
    };
    common::synthetic_set(&config, &folder.join("data"))
}

#[derive(Default)]
struct Losses(Vec<f64>);

impl TrainObserver for Losses {
    fn started(&mut self, _start_step: usize, _total_steps: usize) {}
    fn step(&mut self, record: &StepRecord) {
        self.0.push(record.loss);
    }
    fn message(&mut self, _text: &str) {}
}

fn tiny_training(steps: usize) -> TrainConfig {
    TrainConfig {
        checkpoint_every: steps,
        keep_checkpoints: 1,
        ..common::short_run(
            transformer(Architecture::Dtunet, FeedForwardKind::Mlp),
            "tsimplex",
            steps,
        )
    }
}

fn detect_on(run: &Path, dataset: &dyn Dataset, out: &Path, device: &Device) -> DetectOutputs {
    let trained = load_trained(run, device).expect("trained model");
    let config = DetectConfig {
        t_lambdas: vec![20],
        samples: 1,
        strided_steps: None,
        batch_size: 4,
        map_kind: ErrorMapKind::Square,
        threshold: Threshold::Otsu,
        calibration: None,
        largest_component: false,
        smooth_sigma: 0.0,
        foreground: false,
        allow_missing_masks: false,
        seed: 0,
        out: out.to_path_buf(),
        overwrite: false,
        max_exact_pixels: DEFAULT_MAX_EXACT_PIXELS,
        guidance: None,
    };
    detect(&trained, dataset, &config, device, &|_| ()).expect("detection")
}

#[test]
fn the_same_seed_trains_the_same_first_losses_and_detects_alike() {
    let _guard = serial();
    let folder = tempfile::tempdir().expect("temp dir");
    let dataset = brains(folder.path());
    let images = TrainingImages::load(dataset.as_ref(), 0.0).expect("load");
    let config = tiny_training(3);
    let mut losses = Vec::new();
    // Flex, the GPU, and two replicas on the GPU each taking half of every batch.
    for (name, devices) in [
        ("flex", vec![Device::flex()]),
        ("gpu", vec![gpu()]),
        ("gpu-pair", vec![gpu(), gpu()]),
    ] {
        let mut observer = Losses::default();
        train_on(
            &config,
            &images,
            &folder.path().join(name),
            Start::Fresh,
            &devices,
            GradientReduction::OnFirstDevice,
            &mut observer,
        )
        .expect("training");
        losses.push((name, observer.0));
    }
    let (_, flex_losses) = &losses[0];
    for (name, gpu_losses) in &losses[1..] {
        for (step, (gpu, flex)) in gpu_losses.iter().zip(flex_losses).enumerate() {
            assert!(
                (gpu - flex).abs() <= 1e-4 * flex.abs(),
                "step {}: loss {gpu} on {name}, {flex} on flex",
                step + 1
            );
        }
    }
    // One model (flex's), detected on both backends with the same host-drawn noise.
    let run = folder.path().join("flex");
    let on_flex = detect_on(
        &run,
        dataset.as_ref(),
        &folder.path().join("d-flex"),
        &Device::flex(),
    );
    let on_gpu = detect_on(&run, dataset.as_ref(), &folder.path().join("d-gpu"), &gpu());
    let (flex_auroc, gpu_auroc) = (
        on_flex.eval.summary.auroc_pooled.expect("pooled AUROC"),
        on_gpu.eval.summary.auroc_pooled.expect("pooled AUROC"),
    );
    assert!(
        (flex_auroc - gpu_auroc).abs() <= 1e-3,
        "pooled AUROC {gpu_auroc} on the GPU, {flex_auroc} on flex"
    );
}

//! Training on tiny models (16 px images, 4 px patches, about 10k parameters): a network
//! overfits one batch, an interrupted run resumes exactly, a diverging run stops at the step
//! that went non-finite and names its last good checkpoint.
//!
//! The Burn CPU backend draws initial weights from one process-wide generator, so the tests
//! that build networks take [`serial`] first: two of them interleaving their draws would make
//! "the same seed gives the same run" false for reasons that have nothing to do with training.

mod common;

use std::fs;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use dtunet::DtunetError;
use dtunet::data::synth::{Lesions, SynthConfig, SynthKind};
use dtunet::diffusion::{BetaSchedule, DiffusionSchedule, GaussianDiffusion, timestep_tensor};
use dtunet::losses::{LossKind, noise_prediction_loss};
use dtunet::models::classifier::load_classifier;
use dtunet::models::{Denoiser, FeedForwardKind, ModelConfig, NoisePredictor, StageFeedForward};
use dtunet::training::checkpoint::{CheckpointState, list_checkpoints, load_checkpoint};
use dtunet::training::data_parallel::{GradientReduction, average_gradients};
use dtunet::training::{
    Augmentation, Start, StepRecord, TrainConfig, TrainObserver, TrainingImages, train,
    train_classifier, train_on,
};

/// Side of the test images in pixels.
const SIDE_PX: usize = 16;

/// Steps of the classifier test, and the clean-image accuracy it must reach.
const CLASSIFIER_STEPS: usize = 200;
const CLASSIFIER_MIN_ACCURACY: f64 = 0.8;

/// Serialises the tests that draw initial weights (see the module docs).
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A DTU-Net of about 10k parameters for 16 px grey images.
fn tiny_model() -> ModelConfig {
    ModelConfig {
        img_size: SIDE_PX,
        channels: 1,
        patch_size: 4,
        embed_dim: 16,
        depth: 2,
        heads: 2,
        mlp_ratio: 2.0,
        ff: StageFeedForward::uniform(FeedForwardKind::Mlp),
        ..ModelConfig::default()
    }
}

/// A short run of the tiny model on Gaussian noise over a 100-step cosine chain.
fn tiny_config(steps: usize) -> TrainConfig {
    common::short_run(tiny_model(), "gauss", steps)
}

/// `n` healthy synthetic brain slices of 16×16, grey, loaded as a training split.
fn brain_images(folder: &Path, n: usize) -> TrainingImages {
    let config = SynthConfig {
        kind: SynthKind::Brain,
        n_train: n,
        n_test: 2,
        height: SIDE_PX,
        width: SIDE_PX,
        seed: 3,
        ..SynthConfig::default()
    };
    let dataset = common::synthetic_set(&config, &folder.join("data"));
    TrainingImages::load(dataset.as_ref(), 0.0).expect("load")
}

/// A labelled 16 px synthetic brain set with clear lesions: `n_train` healthy training images and `n_test` test
/// images of which `healthy_fraction` are healthy, in `<folder>/labelled`.
fn labelled_brains(
    folder: &Path,
    n_train: usize,
    n_test: usize,
    healthy_fraction: f64,
) -> dtunet::Result<TrainingImages> {
    let config = SynthConfig {
        kind: SynthKind::Brain,
        n_train,
        n_test,
        height: SIDE_PX,
        width: SIDE_PX,
        seed: 17,
        healthy_fraction,
        lesions: Lesions::Clear,
        ..SynthConfig::default()
    };
    let dataset = common::synthetic_set(&config, &folder.join("labelled"));
    TrainingImages::load_labelled(dataset.as_ref())
}

/// Records what the trainer reports.
#[derive(Default)]
struct Recorder {
    started: Vec<(usize, usize)>,
    losses: Vec<(usize, f64)>,
    messages: Vec<String>,
}

impl TrainObserver for Recorder {
    fn started(&mut self, start_step: usize, total_steps: usize) {
        self.started.push((start_step, total_steps));
    }

    fn step(&mut self, record: &StepRecord) {
        self.losses.push((record.step, record.loss));
    }

    fn message(&mut self, text: &str) {
        self.messages.push(text.to_string());
    }
}

/// The rows of `loss.csv` without the wall-clock column: `step,loss,<terms>,lr`.
fn loss_rows(run: &Path) -> Vec<String> {
    let text = fs::read_to_string(run.join("loss.csv")).expect("loss.csv");
    text.lines()
        .map(|line| match line.rsplit_once(',') {
            Some((kept, _seconds)) => kept.to_string(),
            None => line.to_string(),
        })
        .collect()
}

/// Every tensor of a safetensors file, by name, as `f32` values.
fn tensors(path: &Path) -> Vec<(String, Vec<f32>)> {
    common::f32_tensors(&fs::read(path).expect("weights file"))
}

/// Asserts that two weight files hold the same tensors, bit for bit, naming those that differ.
fn assert_same_weights(left: &Path, right: &Path) -> usize {
    let (left_tensors, right_tensors) = (tensors(left), tensors(right));
    let names = |t: &[(String, Vec<f32>)]| t.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&left_tensors), names(&right_tensors));
    let differing: Vec<String> = left_tensors
        .iter()
        .zip(&right_tensors)
        .filter(|((_, a), (_, b))| a.iter().zip(b).any(|(x, y)| x.to_bits() != y.to_bits()))
        .map(|((name, a), (_, b))| {
            let largest = a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max);
            format!("{name} (max |d| {largest:e})")
        })
        .collect();
    assert!(
        differing.is_empty(),
        "{} and {} differ in {differing:?}",
        left.display(),
        right.display()
    );
    left_tensors.len()
}

/// Asserts that every checkpoint folder of `run` is complete and that its `state.json` parses.
fn assert_complete_checkpoints(run: &Path) -> Vec<usize> {
    let checkpoints = list_checkpoints(run).expect("list");
    for (step, folder) in &checkpoints {
        for file in [
            "model.bpk",
            "optimizer.bpk",
            "ema.safetensors",
            "state.json",
        ] {
            let path = folder.join(file);
            assert!(
                path.metadata().map(|m| m.len() > 0).unwrap_or(false),
                "{} is missing or empty",
                path.display()
            );
        }
        let text = fs::read(folder.join("state.json")).expect("state.json");
        let state: CheckpointState = serde_json::from_slice(&text).expect("state parses");
        assert_eq!(state.step, *step, "{}", folder.display());
    }
    checkpoints.into_iter().map(|(step, _)| step).collect()
}

/// The fixed-batch overfit of the tiny DTU-Net: returns the loss of every step.
fn overfit_losses(n_steps: usize, lr: f64) -> Vec<f64> {
    let device = Device::flex().autodiff();
    device.seed(5);
    let model_config = tiny_model();
    let mut model = Denoiser::new(&model_config, &device).expect("valid model");
    let folder = tempfile::tempdir().expect("temp dir");
    let images = brain_images(folder.path(), 4);
    let (x_start, _) = images.batch(&[0, 1, 2, 3], &device);
    let schedule = DiffusionSchedule::new(BetaSchedule::Cosine, 100).expect("schedule");
    let diffusion = GaussianDiffusion::new(schedule, &device);
    let t = [3, 25, 50, 75];
    let dims = x_start.dims();
    let count: usize = dims.iter().product();
    // A fixed noise draw from a formula, so the target never moves.
    let noise: Vec<f32> = (0..count)
        .map(|i| ((i as f32 * 0.37).sin() + (i as f32 * 0.113).cos()) * 0.7)
        .collect();
    let noise = Tensor::<4>::from_data(TensorData::new(noise, dims), &device);
    let x_t = diffusion.q_sample(x_start, &t, noise.clone());
    let t_input = timestep_tensor(&t, &device);
    let mut optimizer = AdamWConfig::new().with_weight_decay(0.0).init();
    let mut losses = Vec::with_capacity(n_steps);
    for _ in 0..n_steps {
        let eps_hat = model.predict_noise(x_t.clone(), t_input.clone(), None);
        let loss = noise_prediction_loss(LossKind::L2, eps_hat, noise.clone())
            .loss
            .mean();
        losses.push(f64::from(loss.clone().into_scalar::<f32>()));
        let gradients = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(lr, model, gradients);
    }
    losses
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

#[test]
fn a_tiny_dtunet_overfits_one_batch() {
    let _guard = serial();
    let clock = Instant::now();
    // Fixed images, timesteps and noise: the target never moves. Measured ratios at these
    // settings: 101x to 216x over weight seeds 0..6 (169x for seed 5).
    let losses = overfit_losses(300, 3e-3);
    let first = mean(&losses[..5]);
    let last = mean(&losses[losses.len() - 5..]);
    eprintln!(
        "overfit: mean loss of the first 5 steps {first:.5}, of the last 5 {last:.6}, \
         ratio {:.1} ({:.2} s)",
        first / last,
        clock.elapsed().as_secs_f64()
    );
    assert!(losses.iter().all(|v| v.is_finite()), "{losses:?}");
    assert!(
        first >= 10.0 * last,
        "loss fell only from {first} to {last}"
    );
}

/// Trains `config` for `n_steps` in one go and, in a second run folder, for half of them and
/// then resumed to `n_steps`; the two runs must agree exactly.
fn assert_resume_is_exact(config: &TrainConfig, n_steps: usize, label: &str) {
    let clock = Instant::now();
    let folder = tempfile::tempdir().expect("temp dir");
    let images = brain_images(folder.path(), 6);
    let device = Device::flex();
    let with_steps = |steps: usize| TrainConfig {
        steps,
        ..config.clone()
    };

    let whole = folder.path().join("whole");
    let mut recorder = Recorder::default();
    let outcome = train(
        &with_steps(n_steps),
        &images,
        &whole,
        Start::Fresh,
        &device,
        &mut recorder,
    )
    .expect("uninterrupted run");
    assert_eq!(outcome.steps, n_steps);
    assert_eq!(recorder.started, vec![(0, n_steps)]);

    let split = folder.path().join("split");
    let first_half = train(
        &with_steps(n_steps / 2),
        &images,
        &split,
        Start::Fresh,
        &device,
        &mut Recorder::default(),
    )
    .expect("first half");
    assert_eq!(first_half.steps, n_steps / 2);
    let expected: Vec<usize> = (1..=n_steps / 2 / config.checkpoint_every)
        .map(|k| k * config.checkpoint_every)
        .collect();
    assert_eq!(assert_complete_checkpoints(&split), expected);
    let mut resumed = Recorder::default();
    let outcome = train(
        &with_steps(n_steps),
        &images,
        &split,
        Start::Resume,
        &device,
        &mut resumed,
    )
    .expect("resumed run");
    assert_eq!(resumed.started, vec![(n_steps / 2, n_steps)]);
    let newest = format!("step-{:08}", n_steps / 2);
    assert!(
        resumed.messages.iter().any(|m| m.contains(&newest)),
        "{:?}",
        resumed.messages
    );
    assert_eq!(
        resumed.losses.first().map(|(step, _)| *step),
        Some(n_steps / 2 + 1)
    );
    assert!(outcome.final_loss.is_finite() && outcome.tail_loss.is_finite());

    let (whole_rows, split_rows) = (loss_rows(&whole), loss_rows(&split));
    assert_eq!(
        whole_rows.len(),
        n_steps + 1,
        "a header and one row per step"
    );
    assert_eq!(
        whole_rows, split_rows,
        "{label}: loss.csv of the resumed run differs"
    );
    let tensor_count = assert_same_weights(
        &whole.join("model.safetensors"),
        &split.join("model.safetensors"),
    );
    let last = format!("checkpoints/step-{n_steps:08}/ema.safetensors");
    assert_same_weights(&whole.join(&last), &split.join(&last));
    eprintln!(
        "{label}: {n_steps} loss rows and {} EMA tensors bit-identical after resuming at step {} \
         ({:.2} s)",
        tensor_count,
        n_steps / 2,
        clock.elapsed().as_secs_f64()
    );
}

#[test]
fn a_resumed_run_equals_an_uninterrupted_one() {
    let _guard = serial();
    assert_resume_is_exact(&tiny_config(8), 8, "mlp");
}

#[test]
fn an_augmented_run_resumes_exactly_and_trains_on_other_images_than_a_plain_one() {
    let _guard = serial();
    let augmented = TrainConfig {
        augment: Augmentation::Dihedral,
        ..tiny_config(8)
    };
    assert_resume_is_exact(&augmented, 8, "dihedral");

    let folder = tempfile::tempdir().expect("temp dir");
    let images = brain_images(folder.path(), 6);
    let run = |config: &TrainConfig, name: &str| {
        let out = folder.path().join(name);
        train(
            config,
            &images,
            &out,
            Start::Fresh,
            &Device::flex(),
            &mut Recorder::default(),
        )
        .expect(name);
        loss_rows(&out)
    };
    let plain = run(&tiny_config(8), "plain");
    let moved = run(&augmented, "augmented");
    let differing = plain.iter().zip(&moved).filter(|(a, b)| a != b).count();
    assert!(
        differing >= 4,
        "augmentation changed only {differing} of 8 losses"
    );
}

#[test]
fn a_resumed_daff_run_with_batchnorm_statistics_equals_an_uninterrupted_one() {
    let _guard = serial();
    let config = TrainConfig {
        model: ModelConfig {
            ff: StageFeedForward::uniform(FeedForwardKind::Daff),
            ..tiny_model()
        },
        checkpoint_every: 3,
        ..tiny_config(6)
    };
    assert_resume_is_exact(&config, 6, "daff");
}

#[test]
fn every_parameter_of_a_fresh_network_receives_a_gradient() {
    let _guard = serial();
    let device = Device::flex().autodiff();
    let model = Denoiser::new(&tiny_model(), &device).expect("valid model");
    let x_t = Tensor::<4>::from_data(
        TensorData::new(
            (0..2 * SIDE_PX * SIDE_PX)
                .map(|i| (i as f32 * 0.1).sin())
                .collect::<Vec<_>>(),
            [2, 1, SIDE_PX, SIDE_PX],
        ),
        &device,
    );
    let eps_hat = model.predict_noise(x_t.clone(), timestep_tensor(&[1, 7], &device), None);
    let loss = (eps_hat - x_t).powi_scalar(2).mean();
    let gradients = GradientsParams::from_grads(loss.backward(), &model);
    let mut check = MissingGradients {
        gradients: &gradients,
        seen: 0,
        missing: Vec::new(),
    };
    model.visit(&mut check);
    assert!(check.seen > 40, "{} parameters", check.seen);
    assert!(
        check.missing.is_empty(),
        "{} of {} parameters get no gradient and never train (shapes {:?})",
        check.missing.len(),
        check.seen,
        check.missing
    );
}

/// Collects the shapes of the parameters that have no gradient.
struct MissingGradients<'a> {
    gradients: &'a GradientsParams,
    seen: usize,
    missing: Vec<Vec<usize>>,
}

impl ModuleVisitor for MissingGradients<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.seen += 1;
        if self.gradients.get::<D>(param.id).is_none() {
            self.missing.push(param.val().dims().to_vec());
        }
    }
}

#[test]
fn training_fresh_into_a_run_with_checkpoints_is_refused() {
    let _guard = serial();
    let folder = tempfile::tempdir().expect("temp dir");
    let images = brain_images(folder.path(), 4);
    let run = folder.path().join("run");
    let config = tiny_config(2);
    train(
        &config,
        &images,
        &run,
        Start::Fresh,
        &Device::flex(),
        &mut Recorder::default(),
    )
    .expect("first run");
    let before = loss_rows(&run);
    let error = train(
        &config,
        &images,
        &run,
        Start::Fresh,
        &Device::flex(),
        &mut Recorder::default(),
    )
    .expect_err("a second fresh run");
    assert!(error.is_usage_error(), "{error}");
    assert!(error.to_string().contains("--resume"), "{error}");
    assert_eq!(loss_rows(&run), before, "the refused run touched loss.csv");
}

#[test]
fn a_diverging_run_stops_naming_the_step_and_the_last_good_checkpoint() {
    let _guard = serial();
    let folder = tempfile::tempdir().expect("temp dir");
    let images = brain_images(folder.path(), 4);
    let run = folder.path().join("run");
    // Decoupled weight decay with lr·wd = 100 multiplies every weight by about -99 per step:
    // the activations overflow within a few steps whatever the data and seed.
    let config = TrainConfig {
        lr: 0.1,
        weight_decay: 1e3,
        checkpoint_every: 2,
        keep_checkpoints: 2,
        ..tiny_config(60)
    };
    let mut recorder = Recorder::default();
    let error = train(
        &config,
        &images,
        &run,
        Start::Fresh,
        &Device::flex(),
        &mut recorder,
    )
    .expect_err("the loss diverges");
    let text = error.to_string();
    eprintln!("divergence: {text}");
    let DtunetError::NonFiniteLoss {
        step, checkpoint, ..
    } = &error
    else {
        panic!("expected a non-finite loss, got {text}");
    };
    assert!(text.contains(&format!("at step {step}")), "{text}");
    assert!(text.contains("--resume") && text.contains("--lr"), "{text}");

    let steps = assert_complete_checkpoints(&run);
    assert!(
        !steps.is_empty(),
        "diverged at step {step}, before any checkpoint"
    );
    assert!(steps.iter().all(|&s| s < *step), "{steps:?} vs {step}");
    let newest = list_checkpoints(&run)
        .expect("list")
        .last()
        .map(|(_, p)| p.clone());
    assert_eq!(checkpoint, &newest, "{text}");
    let path = newest.expect("a checkpoint");
    assert!(text.contains(&path.display().to_string()), "{text}");
    // "Good" means usable: every weight of every kept checkpoint is finite.
    for (_, folder) in list_checkpoints(&run).expect("list") {
        let restored = load_checkpoint(
            &folder,
            &Device::flex().autodiff(),
            AdamWConfig::new().init(),
        )
        .expect("a complete checkpoint loads");
        for (label, model) in [("model", &restored.model), ("ema", &restored.ema)] {
            let mut finite = NonFinite::default();
            model.visit(&mut finite);
            assert_eq!(
                finite.count,
                0,
                "{label} of {} is not finite",
                folder.display()
            );
        }
    }

    let logged: Vec<usize> = recorder.losses.iter().map(|(s, _)| *s).collect();
    assert_eq!(logged, (1..*step).collect::<Vec<_>>());
    assert!(recorder.losses.iter().all(|(_, v)| v.is_finite()));
    assert!(
        recorder
            .messages
            .iter()
            .any(|m| m.contains(&format!("at step {step}"))),
        "{:?}",
        recorder.messages
    );
    let log = fs::read_to_string(run.join("train.log")).expect("train.log");
    assert!(log.contains(&format!("at step {step}")), "{log}");
    assert_eq!(
        loss_rows(&run).len(),
        *step,
        "loss.csv: a header and the good steps"
    );
}

/// Counts the NaN and infinite values of a network's tensors.
#[derive(Default)]
struct NonFinite {
    count: usize,
}

impl ModuleVisitor for NonFinite {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let values: Vec<f32> = param.val().into_data().try_to_vec().expect("f32 weights");
        self.count += values.iter().filter(|v| !v.is_finite()).count();
    }
}

#[test]
fn a_tiny_classifier_tells_anomalous_from_healthy_brains() {
    let _guard = serial();
    let folder = tempfile::tempdir().expect("temp dir");
    let images = labelled_brains(folder.path(), 16, 32, 0.25).expect("labelled set");
    assert_eq!(images.class_counts(), (16 + 8, 24));
    // Timesteps below 20 of the 100-step chain: the classifier learns where the lesions
    // still show.
    let config = TrainConfig {
        batch_size: 8,
        lr: 3e-3,
        sample_distance: 20,
        ..tiny_config(CLASSIFIER_STEPS)
    };
    let out = folder.path().join("classifier");
    let mut recorder = Recorder::default();
    let clock = Instant::now();
    let outcome = train_classifier(&config, &images, &out, &Device::flex(), &mut recorder)
        .expect("classifier trains");
    let losses: Vec<f64> = recorder.losses.iter().map(|(_, loss)| *loss).collect();
    let first = mean(&losses[..20]);
    let last = mean(&losses[losses.len() - 20..]);
    eprintln!(
        "classifier: loss {first:.4} -> {last:.4}, accuracy by t {:?} ({:.1} s)",
        outcome.accuracy_by_t,
        clock.elapsed().as_secs_f64()
    );
    assert!(last < 0.7 * first, "loss fell only from {first} to {last}");
    let (t0, clean_accuracy) = outcome.accuracy_by_t[0];
    assert_eq!(t0, 0);
    assert!(
        clean_accuracy >= CLASSIFIER_MIN_ACCURACY,
        "{:?}",
        outcome.accuracy_by_t
    );
    for file in [
        "classifier.safetensors",
        "config.toml",
        "loss.csv",
        "loss.png",
        "train.log",
    ] {
        assert!(out.join(file).is_file(), "{file}");
    }
    let (_, loaded) = load_classifier(&outcome.path, &Device::flex()).expect("loads");
    assert_eq!(loaded.encoder.embed_dim, tiny_model().embed_dim);
    let again = train_classifier(
        &config,
        &images,
        &out,
        &Device::flex(),
        &mut Recorder::default(),
    )
    .expect_err("the folder holds a classifier");
    assert!(
        again.to_string().contains("classifier.safetensors"),
        "{again}"
    );
}

#[test]
fn a_labelled_set_needs_both_classes() {
    let folder = tempfile::tempdir().expect("temp dir");
    let error = labelled_brains(folder.path(), 4, 4, 1.0).expect_err("only healthy images");
    let text = error.to_string();
    assert!(text.contains("8 healthy and 0 anomalous"), "{text}");
}

#[test]
fn two_replicas_of_half_batches_train_like_one_replica_of_the_whole_batch() {
    let _serial = serial();
    let folder = tempfile::tempdir().expect("temp dir");
    let images = brain_images(folder.path(), 8);
    let config = tiny_config(4);
    let run = |name: &str, devices: &[Device]| {
        let out = folder.path().join(name);
        let mut recorder = Recorder::default();
        train_on(
            &config,
            &images,
            &out,
            Start::Fresh,
            devices,
            GradientReduction::OnFirstDevice,
            &mut recorder,
        )
        .expect("train");
        (out, recorder.losses)
    };
    let (single, single_losses) = run("single", &[Device::flex()]);
    let (pair, pair_losses) = run("pair", &[Device::flex(), Device::flex()]);
    assert_eq!(single_losses.len(), 4);
    for ((step, one), (_, two)) in single_losses.iter().zip(&pair_losses) {
        assert!(
            (one - two).abs() <= 1e-5 * one.abs(),
            "step {step}: loss {one} on one replica, {two} as the mean of two"
        );
    }
    let (one, two) = (
        tensors(&single.join("model.safetensors")),
        tensors(&pair.join("model.safetensors")),
    );
    for ((name, a), (_, b)) in one.iter().zip(&two) {
        let scale = a.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-3);
        let worst = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(worst <= 1e-4 * scale, "{name}: {worst:e} of {scale:e}");
    }
}

#[test]
fn data_parallel_training_refuses_daff_and_an_indivisible_batch() {
    let _serial = serial();
    let folder = tempfile::tempdir().expect("temp dir");
    let images = brain_images(folder.path(), 8);
    let mut daff = tiny_config(2);
    daff.model.ff = StageFeedForward::uniform(FeedForwardKind::Daff);
    let flex = [Device::flex(), Device::flex(), Device::flex()];
    let refused = |config: &TrainConfig, devices: &[Device]| {
        train_on(
            config,
            &images,
            &folder.path().join("refused"),
            Start::Fresh,
            devices,
            GradientReduction::OnFirstDevice,
            &mut Recorder::default(),
        )
        .expect_err("refused")
        .to_string()
    };
    let text = refused(&daff, &flex[..2]);
    assert!(
        text.contains("--devices") && text.contains("DAFF"),
        "{text}"
    );
    let text = refused(&tiny_config(2), &flex);
    assert!(text.contains("divides --batch-size 4"), "{text}");
    assert!(!folder.path().join("refused").exists(), "nothing written");
}

/// Every parameter's gradient of `model`, in visiting order.
fn gradient_values(model: &Denoiser, gradients: &GradientsParams) -> Vec<Vec<f32>> {
    struct Collect<'a> {
        gradients: &'a GradientsParams,
        values: Vec<Vec<f32>>,
    }
    impl ModuleVisitor for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let gradient = self.gradients.get::<D>(param.id).expect("a gradient");
            self.values
                .push(gradient.into_data().try_to_vec::<f32>().expect("f32"));
        }
    }
    let mut collect = Collect {
        gradients,
        values: Vec::new(),
    };
    model.visit(&mut collect);
    collect.values
}

#[test]
fn the_average_of_half_batch_gradients_is_the_whole_batch_gradient() {
    let _guard = serial();
    let device = Device::flex().autodiff();
    let model = Denoiser::seeded_on_host(&tiny_model(), 5, &device).expect("valid model");
    let pixels = SIDE_PX * SIDE_PX;
    let gradients = |first: usize, count: usize| {
        let values = |phase: f32| {
            (first * pixels..(first + count) * pixels)
                .map(|i| (i as f32 * 0.1 + phase).sin())
                .collect::<Vec<_>>()
        };
        let shape = [count, 1, SIDE_PX, SIDE_PX];
        let replica = model.clone().fork(&device);
        let x_t = Tensor::<4>::from_data(TensorData::new(values(0.0), shape), &device);
        let eps = Tensor::<4>::from_data(TensorData::new(values(1.3), shape), &device);
        let t: Vec<usize> = [1, 7, 30, 60][first..first + count].to_vec();
        let eps_hat = replica.predict_noise(x_t, timestep_tensor(&t, &device), None);
        let loss = noise_prediction_loss(LossKind::L2, eps_hat, eps)
            .loss
            .mean();
        GradientsParams::from_grads(loss.backward(), &replica)
    };
    let whole = gradient_values(&model, &gradients(0, 4));
    let averaged = average_gradients(&model, vec![gradients(0, 2), gradients(2, 2)]);
    let averaged = gradient_values(&model, &averaged);
    assert_eq!(whole.len(), averaged.len());
    for (index, (a, b)) in whole.iter().zip(&averaged).enumerate() {
        let scale = a.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
        let worst = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(
            worst <= 1e-5 * scale,
            "parameter {index}: {worst:e} of {scale:e}"
        );
    }
}

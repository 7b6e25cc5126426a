//! Training the noisy-image classifier of image-level guidance (SPEC §4.3): `(x_t, t) →
//! healthy | anomalous` on labelled images noised with the denoiser's noise and schedule, by
//! cross-entropy with AdamW, on class-balanced batches.
//!
//! The output folder holds `classifier.safetensors` (weights, configuration in the metadata),
//! `config.toml` (the noise and diffusion settings it was trained with, which detection checks
//! against the denoiser's), `loss.csv` (step, loss, batch accuracy, lr, seconds), `loss.png`
//! and `train.log`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor};

use super::batches::{Purpose, TrainingImages, derive_seed};
use super::config::TrainConfig;
use super::log::{LossLog, StepRecord};
use super::step::step_draws;
use super::trainer::{TrainObserver, adamw};
use crate::diffusion::{DiffusionSchedule, GaussianDiffusion, NoiseSampler, timestep_tensor};
use crate::error::{DtunetError, Result};
use crate::io::write_atomically;
use crate::models::classifier::save_classifier;
use crate::models::{ClassifierConfig, ModelConfig, NoisyClassifier};

/// File of the trained classifier in its folder.
pub const CLASSIFIER_FILE: &str = "classifier.safetensors";

/// What a classifier run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassifierOutcome {
    /// Steps trained.
    pub steps: usize,
    /// Mean cross-entropy over the last 10 % of the steps (nats).
    pub tail_loss: f64,
    /// Accuracy over every labelled image at each `(t, accuracy)` of [`accuracy_timesteps`].
    pub accuracy_by_t: Vec<(usize, f64)>,
    /// The classifier file.
    pub path: PathBuf,
    /// Training seconds.
    pub seconds: f64,
}

/// The classifier of `model`'s encoder: the same shape without a label token, two classes.
pub fn classifier_config(model: &ModelConfig) -> ClassifierConfig {
    ClassifierConfig {
        encoder: ModelConfig {
            num_classes: 0,
            ..model.clone()
        },
        classes: 2,
    }
}

/// The timesteps the final accuracy is reported at: 0, T/10 and T/4 of a `T`-step chain.
pub fn accuracy_timesteps(diffusion_steps: usize) -> [usize; 3] {
    [0, diffusion_steps / 10, diffusion_steps / 4]
}

/// Trains the classifier of `config.model`'s encoder on `images` (labelled, both classes)
/// into `out`, with `config`'s noise, schedule, timestep range, batch size, steps, learning
/// rate, weight decay and seed.
///
/// # Errors
/// Invalid settings, images of another size, an `out` folder that already holds a classifier,
/// a non-finite loss, and I/O failures, each naming the value or path.
pub fn train_classifier(
    config: &TrainConfig,
    images: &TrainingImages,
    out: &Path,
    device: &Device,
    observer: &mut dyn TrainObserver,
) -> Result<ClassifierOutcome> {
    config.validate()?;
    let classifier_config = classifier_config(&config.model);
    classifier_config.validate()?;
    let [channels, height, width] = images.image_shape();
    config.model.check_input(channels, height, width)?;
    let path = out.join(CLASSIFIER_FILE);
    if path.exists() {
        return Err(DtunetError::OutputFolder {
            path: out.to_path_buf(),
            problem: "already holds a classifier.safetensors: choose another --out",
        });
    }
    fs::create_dir_all(out).map_err(|source| DtunetError::Io {
        action: "create folder",
        path: out.to_path_buf(),
        source,
    })?;
    write_atomically(&out.join("config.toml"), |file| {
        file.write_all(config.to_toml().as_bytes())
    })?;
    let train_device = device.clone().autodiff();
    train_device.seed(config.seed);
    let mut classifier = NoisyClassifier::new(&classifier_config, &train_device)?;
    let mut optimizer = adamw(config).init();
    let schedule =
        DiffusionSchedule::new(config.diffusion.beta_schedule()?, config.diffusion.steps)?;
    let diffusion = GaussianDiffusion::new(schedule, &train_device);
    let noise_config = config.noise.to_noise_config(config.diffusion.steps)?;
    let mut loss_log = LossLog::open(out, &["accuracy"], 0)?;
    let (healthy, anomalous) = images.class_counts();
    let mut text_log = format!(
        "training a {}-class classifier on {} ({healthy} healthy, {anomalous} anomalous \
         images), {} steps\n",
        classifier_config.classes,
        crate::models::weights::describe(&classifier_config.encoder),
        config.steps
    );
    observer.message(text_log.trim_end());
    observer.started(0, config.steps);

    let started = Instant::now();
    let dims = [config.batch_size, channels, height, width];
    for step in 0..config.steps {
        let indices = images.balanced_batch_indices(config.seed, step, config.batch_size);
        let (x_start, labels) = images.batch(&indices, &train_device);
        let (t, noise) = step_draws(config, noise_config, step, dims, &train_device)?;
        let x_t = diffusion.q_sample(x_start, &t, noise);
        let logits = classifier.forward(x_t, timestep_tensor(&t, &train_device));
        let accuracy = batch_accuracy(logits.clone(), labels.clone());
        let loss = cross_entropy(logits, labels);
        let loss_value = f64::from(loss.clone().into_scalar::<f32>());
        if !loss_value.is_finite() {
            return Err(DtunetError::NonFiniteLoss {
                step: step + 1,
                value: loss_value,
                checkpoint: None,
            });
        }
        let gradients = GradientsParams::from_grads(loss.backward(), &classifier);
        classifier = optimizer.step(config.lr, classifier, gradients);
        let record = StepRecord {
            step: step + 1,
            loss: loss_value,
            terms: vec![accuracy],
            lr: config.lr,
            seconds: started.elapsed().as_secs_f64(),
        };
        observer.step(&record);
        loss_log.push(record)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    loss_log.sync()?;
    loss_log.plot(&out.join("loss.png"))?;
    let classifier = classifier.valid();
    save_classifier(&classifier, &classifier_config, &path)?;

    let evaluation = GaussianDiffusion::new(diffusion.schedule().clone(), device);
    let accuracy_by_t = accuracy_timesteps(config.diffusion.steps)
        .into_iter()
        .map(|t| {
            let accuracy = accuracy_at(&classifier, images, &evaluation, config, t)?;
            Ok((t, accuracy))
        })
        .collect::<Result<Vec<_>>>()?;
    let rows = loss_log.rows();
    let tail = &rows[rows.len().saturating_sub((rows.len() / 10).max(1))..];
    let tail_loss = tail.iter().map(|row| row.loss).sum::<f64>() / tail.len().max(1) as f64;
    let accuracies: Vec<String> = accuracy_by_t
        .iter()
        .map(|(t, accuracy)| format!("t={t}: {:.1} %", 100.0 * accuracy))
        .collect();
    let summary = format!(
        "finished {} steps in {seconds:.1} s, loss {tail_loss:.4}; accuracy over the labelled \
         images {}; classifier in {}\n",
        config.steps,
        accuracies.join(", "),
        path.display()
    );
    observer.message(summary.trim_end());
    text_log.push_str(&summary);
    write_atomically(&out.join("train.log"), |file| {
        file.write_all(text_log.as_bytes())
    })?;
    Ok(ClassifierOutcome {
        steps: config.steps,
        tail_loss,
        accuracy_by_t,
        path,
        seconds,
    })
}

/// Mean cross-entropy of `logits` `[B, K]` against class `labels` `[B]` (nats).
fn cross_entropy(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let batch = labels.dims()[0];
    log_softmax(logits, 1)
        .gather(1, labels.reshape([batch, 1]))
        .mean()
        .neg()
}

/// Fraction of the rows of `logits` whose largest entry is the label.
fn batch_accuracy(logits: Tensor<2>, labels: Tensor<1, Int>) -> f64 {
    let batch = labels.dims()[0];
    let predicted = logits.detach().argmax(1).reshape([batch]);
    let correct = predicted.equal(labels).int().sum().into_scalar::<i64>();
    correct as f64 / batch as f64
}

/// Accuracy of `classifier` over every image of `images` noised to timestep `t` (noise from
/// the run's seed), in batches of the training batch size, on `diffusion`'s device.
fn accuracy_at(
    classifier: &NoisyClassifier,
    images: &TrainingImages,
    diffusion: &GaussianDiffusion,
    config: &TrainConfig,
    t: usize,
) -> Result<f64> {
    let device = diffusion.device();
    let noise_config = config.noise.to_noise_config(config.diffusion.steps)?;
    let mut noise = NoiseSampler::new(
        noise_config,
        derive_seed(config.seed, Purpose::Samples, t as u64),
        device,
    )?;
    let indices: Vec<usize> = (0..images.len()).collect();
    let mut correct = 0.0;
    for chunk in indices.chunks(config.batch_size) {
        let (x_start, labels) = images.batch(chunk, device);
        let steps = vec![t; chunk.len()];
        let x_t = diffusion.q_sample(
            x_start.clone(),
            &steps,
            noise.sample(x_start.dims(), &steps)?,
        );
        let logits = classifier.forward(x_t, timestep_tensor(&steps, device));
        correct += batch_accuracy(logits, labels) * chunk.len() as f64;
    }
    Ok(correct / images.len() as f64)
}

//! The training loop (SPEC §8): AdamW on the noise-prediction loss, EMA weights, atomic
//! checkpoints, exact resume, a CSV log, a loss curve and sample reconstructions.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::distributed::{DistributedConfig, DistributedContext, ReduceOperation};
use burn::tensor::{Device, Int, Tensor};

use super::batches::{Purpose, TrainingImages, derive_seed};
use super::checkpoint::{CheckpointState, list_checkpoints, load_checkpoint, save_checkpoint};
use super::config::TrainConfig;
use super::data_parallel::{GradientReduction, Replicas, check_data_parallel};
use super::ema::Ema;
use super::log::{LossLog, StepRecord};
use super::prefetch::{PREFETCH_DEPTH, Prefetcher};
use super::samples::write_reconstructions;
use super::step::{StepGradients, StepInputs};
use crate::diffusion::{Conditioning, DiffusionSchedule, GaussianDiffusion, NoiseSampler};
use crate::error::{DtunetError, Result};
use crate::io::{TimedLog, write_atomically};
use crate::models::Denoiser;
use crate::models::weights::save_model;

/// File of the final EMA weights in a run folder (what `dtunet detect` reads).
pub const FINAL_MODEL_FILE: &str = "model.safetensors";

/// Receives progress while training runs (the CLI draws a progress bar from it).
pub trait TrainObserver {
    /// Training starts at `start_step` (0, or the resumed step) of `total_steps`.
    fn started(&mut self, start_step: usize, total_steps: usize);
    /// A step finished.
    fn step(&mut self, record: &StepRecord);
    /// Something worth a line: a checkpoint, a resume, a note about the loss.
    fn message(&mut self, text: &str);
}

/// What a finished run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOutcome {
    /// Steps completed (the configured total).
    pub steps: usize,
    /// Loss of the last step (NaN when the run has no logged step).
    pub final_loss: f64,
    /// Mean loss over the last 10 % of the run's steps (all sessions; at least one step).
    pub tail_loss: f64,
    /// The EMA weights for detection.
    pub model_path: PathBuf,
    /// Training seconds over all sessions.
    pub seconds: f64,
}

/// Where training starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// From freshly initialised weights; the run folder must not hold checkpoints.
    Fresh,
    /// From the newest checkpoint of the run folder (fresh when there is none).
    Resume,
}

/// Trains `config` on `images` into the run folder `run`, on `device` (autodiff is added).
pub fn train(
    config: &TrainConfig,
    images: &TrainingImages,
    run: &Path,
    start: Start,
    device: &Device,
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome> {
    train_on(
        config,
        images,
        run,
        start,
        std::slice::from_ref(device),
        GradientReduction::OnFirstDevice,
        observer,
    )
}

/// [`train`] data-parallel over `devices` (autodiff is added): each device computes the loss
/// and gradients of an equal shard of every batch, the gradients are averaged on the first
/// device, which holds the model, the optimiser, the EMA and writes the checkpoints (see
/// [`super::data_parallel`]). One device is plain [`train`]; the batch size must be a
/// multiple of the device count. `reduction` says how the gradients are averaged.
///
/// # Errors
/// As [`train`], and no device, a device count that does not divide the batch, or DAFF on
/// several devices.
pub fn train_on(
    config: &TrainConfig,
    images: &TrainingImages,
    run: &Path,
    start: Start,
    devices: &[Device],
    reduction: GradientReduction,
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome> {
    config.validate()?;
    let Some(device) = devices.first() else {
        return Err(DtunetError::InvalidParameter {
            name: "--devices",
            found: "none".into(),
            expected: "at least one device".into(),
        });
    };
    check_data_parallel(config, devices.len())?;
    if !config.batch_size.is_multiple_of(devices.len()) {
        return Err(DtunetError::InvalidParameter {
            name: "--devices",
            found: format!("{} devices", devices.len()),
            expected: format!(
                "a number of devices that divides --batch-size {}",
                config.batch_size
            ),
        });
    }
    let [channels, height, width] = images.image_shape();
    config.model.check_input(channels, height, width)?;
    if height != config.model.img_size || width != config.model.img_size {
        return Err(DtunetError::InvalidParameter {
            name: "img_size",
            found: format!("{} (the data are {height}x{width})", config.model.img_size),
            expected: "the size the data loader produces".into(),
        });
    }
    fs::create_dir_all(run).map_err(|source| DtunetError::Io {
        action: "create folder",
        path: run.to_path_buf(),
        source,
    })?;
    let mut text_log = TimedLog::open(&run.join("train.log"))?;
    let train_device = device.clone().autodiff();
    let optimizer = adamw(config).init();

    let existing = list_checkpoints(run)?;
    let (mut model, mut ema, mut optimizer, start_step, mut seconds_before) =
        match (start, existing.last()) {
            (Start::Resume, Some((_, path))) => {
                let restored = load_checkpoint(path, &train_device, optimizer)?;
                check_resumable(&restored.state.config, config, path)?;
                let message = format!(
                    "resuming from {} (step {})",
                    path.display(),
                    restored.state.step
                );
                observer.message(&message);
                text_log.line(&message)?;
                (
                    restored.model,
                    Ema::from_saved(restored.ema, config.ema_rate),
                    restored.optimizer,
                    restored.state.step,
                    restored.state.seconds,
                )
            }
            (Start::Fresh, Some(_)) => {
                return Err(DtunetError::OutputFolder {
                    path: run.to_path_buf(),
                    problem: "already holds training checkpoints: pass --resume to continue that \
                              run, or choose another --out",
                });
            }
            _ => {
                let model = Denoiser::seeded_on_host(&config.model, config.seed, &train_device)?;
                let ema = Ema::new(&model, config.ema_rate);
                (model, ema, optimizer, 0, 0.0)
            }
        };
    write_atomically(&run.join("config.toml"), |file| {
        file.write_all(config.to_toml().as_bytes())
    })?;

    let schedule =
        DiffusionSchedule::new(config.diffusion.beta_schedule()?, config.diffusion.steps)?;
    let replica_devices: Vec<(Device, GaussianDiffusion)> = devices
        .iter()
        .map(|device| {
            let device = device.clone().autodiff();
            let diffusion = GaussianDiffusion::new(schedule.clone(), &device);
            (device, diffusion)
        })
        .collect();
    let replicas = Replicas {
        devices: &replica_devices,
        reduction,
        peers: devices,
    };
    // The collective's communication server lives as long as the run.
    let _collective = (reduction == GradientReduction::AllReduce && devices.len() > 1).then(|| {
        DistributedContext::init(
            devices.to_vec(),
            DistributedConfig {
                all_reduce_op: ReduceOperation::Mean,
            },
        )
    });
    let noise_config = config.noise.to_noise_config(config.diffusion.steps)?;
    let term_names = term_names(config);
    let mut loss_log = LossLog::open(run, &term_names, start_step)?;
    observer.started(start_step, config.steps);
    text_log.line(&format!(
        "training {} ({} parameters) on {} images, steps {}..{}",
        config.model.arch,
        model.num_params(),
        images.len(),
        start_step,
        config.steps
    ))?;

    let session = Instant::now();
    let mut last_checkpoint = existing.last().map(|(_, path)| path.clone());
    let dims = [config.batch_size, channels, height, width];
    let mut waited_for_inputs = Duration::ZERO;
    std::thread::scope(|scope| -> Result<()> {
        let draw = |step| StepInputs::draw(config, noise_config, images, step, dims, device);
        let mut prepared = Prefetcher::spawn(scope, start_step..config.steps, PREFETCH_DEPTH, draw);
        for step in start_step..config.steps {
            let (inputs, waited) =
                prepared
                    .next()
                    .ok_or_else(|| DtunetError::InvalidParameter {
                        name: "training inputs",
                        found: format!("none for step {}", step + 1),
                        expected: "the inputs the preparing thread draws for every step".into(),
                    })?;
            waited_for_inputs += waited;
            let StepGradients {
                loss: loss_value,
                terms,
                gradients,
            } = replicas.step(&model, config, inputs?)?;
            let gradients = match usable_gradients(&model, gradients, loss_value, step + 1) {
                Ok(gradients) => gradients,
                Err((what, value)) => {
                    let message = format!(
                        "{what}, the last good checkpoint is {}",
                        describe_checkpoint(last_checkpoint.as_deref())
                    );
                    observer.message(&message);
                    text_log.line(&message)?;
                    return Err(DtunetError::NonFiniteLoss {
                        step: step + 1,
                        value,
                        checkpoint: last_checkpoint,
                    });
                }
            };
            model = optimizer.step(config.lr, model, gradients);
            // Also synchronises the BatchNorm running statistics that checkpoints save.
            ema.update(&model);

            let record = StepRecord {
                step: step + 1,
                loss: loss_value,
                terms,
                lr: config.lr,
                seconds: seconds_before + session.elapsed().as_secs_f64(),
            };
            observer.step(&record);
            loss_log.push(record)?;

            let done = step + 1;
            if done % config.checkpoint_every == 0 || done == config.steps {
                loss_log.sync()?;
                let state = CheckpointState {
                    step: done,
                    config: config.clone(),
                    seconds: seconds_before + session.elapsed().as_secs_f64(),
                };
                let path = save_checkpoint(
                    run,
                    &state,
                    &model,
                    ema.model(),
                    &optimizer,
                    config.keep_checkpoints,
                )?;
                text_log.line(&format!(
                    "step {done}: loss {loss_value:.5}, checkpoint {}",
                    path.display()
                ))?;
                last_checkpoint = Some(path);
            }
            if config.sample_every > 0 && done % config.sample_every == 0 && done != config.steps {
                write_samples(
                    config,
                    images,
                    run,
                    done,
                    ema.model(),
                    &noise_config,
                    device,
                )?;
            }
        }
        Ok(())
    })?;
    seconds_before += session.elapsed().as_secs_f64();

    let model_path = run.join(FINAL_MODEL_FILE);
    save_model(ema.model(), &config.model, &model_path)?;
    write_samples(
        config,
        images,
        run,
        config.steps,
        ema.model(),
        &noise_config,
        device,
    )?;
    loss_log.plot(&run.join("loss.png"))?;
    // From the log, not this session's steps: a resumed run that was already complete has
    // none of its own.
    let rows = loss_log.rows();
    let tail = &rows[rows.len().saturating_sub((rows.len() / 10).max(1))..];
    let tail_loss = tail.iter().map(|row| row.loss).sum::<f64>() / tail.len() as f64;
    let final_loss = rows.last().map_or(f64::NAN, |row| row.loss);
    text_log.line(&format!(
        "finished {} steps in {seconds_before:.1} s; EMA weights in {}; this session's steps \
         waited {:.2} s for their prepared inputs",
        config.steps,
        model_path.display(),
        waited_for_inputs.as_secs_f64()
    ))?;
    Ok(TrainOutcome {
        steps: config.steps,
        final_loss,
        tail_loss,
        model_path,
        seconds: seconds_before,
    })
}

/// AdamW with PyTorch's settings (β 0.9/0.999, ε 1e-8; Burn's defaults differ) and the run's
/// weight decay.
pub(crate) fn adamw(config: &TrainConfig) -> AdamWConfig {
    AdamWConfig::new()
        .with_beta_1(0.9)
        .with_beta_2(0.999)
        .with_epsilon(1e-8)
        .with_weight_decay(config.weight_decay as f32)
}

/// The gradients of step `step` (1-based) when they may be applied; otherwise what is wrong
/// and the loss value to report: a non-finite loss, or a finite loss whose
/// backward pass overflowed — applying those would poison the weights, the EMA and every
/// checkpoint written after it.
fn usable_gradients(
    model: &Denoiser,
    gradients: GradientsParams,
    loss: f64,
    step: usize,
) -> std::result::Result<GradientsParams, (String, f64)> {
    if !loss.is_finite() {
        return Err((format!("loss is {loss} at step {step}; stopped"), loss));
    }
    match non_finite_gradients(model, &gradients) {
        0 => Ok(gradients),
        bad => Err((
            format!(
                "{bad} gradient values are not finite at step {step} (loss {loss:e}); stopped \
                 before applying them"
            ),
            f64::NAN,
        )),
    }
}

/// The newest checkpoint for a log line.
fn describe_checkpoint(path: Option<&Path>) -> String {
    path.map_or("none (no checkpoint written yet)".into(), |p| {
        p.display().to_string()
    })
}

/// Counts the gradient values of `model`'s parameters that are NaN or infinite (one host
/// read for the whole model).
fn non_finite_gradients(model: &Denoiser, gradients: &GradientsParams) -> i64 {
    struct Count<'a> {
        gradients: &'a GradientsParams,
        total: Option<Tensor<1, Int>>,
    }
    impl ModuleVisitor for Count<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let Some(gradient) = self.gradients.get::<D>(param.id) else {
                return;
            };
            let bad = gradient.is_finite().bool_not().int().sum();
            self.total = Some(match self.total.take() {
                Some(total) => total + bad,
                None => bad,
            });
        }
    }
    let mut count = Count {
        gradients,
        total: None,
    };
    model.visit(&mut count);
    count.total.map_or(0, |total| total.into_scalar::<i64>())
}

/// The CSV columns after `loss`: the loss kind's terms, then `vlb` for hybrid kinds.
fn term_names(config: &TrainConfig) -> Vec<&'static str> {
    let mut names = config.loss.term_names().to_vec();
    if config.loss.needs_vlb() {
        names.push("vlb");
    }
    names
}

/// A run may continue with more steps or another checkpoint cadence, but not with a different
/// model, noise, loss or data order; the refusal names every setting that differs.
fn check_resumable(saved: &TrainConfig, requested: &TrainConfig, path: &Path) -> Result<()> {
    let comparable = |c: &TrainConfig| TrainConfig {
        steps: 0,
        checkpoint_every: 1,
        keep_checkpoints: 1,
        sample_every: 0,
        ..c.clone()
    };
    if comparable(saved) == comparable(requested) {
        return Ok(());
    }
    let differences = config_differences(&comparable(saved), &comparable(requested));
    Err(DtunetError::InvalidParameter {
        name: "--resume",
        found: path.display().to_string(),
        expected: format!(
            "a checkpoint trained with the same model, noise, loss, optimiser and seed \
             settings (only --steps, --checkpoint-every and sample cadence may change); \
             it differs in {} (give the saved values as flags)",
            differences.join(", ")
        ),
    })
}

/// `key: saved → requested` for every setting (`model.norm_eps`, `lr`, …) that differs.
fn config_differences(saved: &TrainConfig, requested: &TrainConfig) -> Vec<String> {
    fn walk(
        prefix: &str,
        saved: &serde_json::Value,
        requested: &serde_json::Value,
        out: &mut Vec<String>,
    ) {
        match (saved, requested) {
            (serde_json::Value::Object(saved), serde_json::Value::Object(requested)) => {
                for (key, value) in saved {
                    let name = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(&name, value, &requested[key.as_str()], out);
                }
            }
            (saved, requested) if saved != requested => {
                out.push(format!("{prefix}: saved {saved}, asked {requested}"));
            }
            _ => {}
        }
    }
    let as_json = |config: &TrainConfig| serde_json::to_value(config).unwrap_or_default();
    let mut differences = Vec::new();
    walk("", &as_json(saved), &as_json(requested), &mut differences);
    differences
}

fn write_samples(
    config: &TrainConfig,
    images: &TrainingImages,
    run: &Path,
    step: usize,
    ema: &Denoiser,
    noise_config: &dtunet_noise::NoiseConfig,
    device: &Device,
) -> Result<()> {
    let count = images.len().min(4);
    let indices: Vec<usize> = (0..count).collect();
    let (x_start, labels) = images.batch(&indices, device);
    let schedule =
        DiffusionSchedule::new(config.diffusion.beta_schedule()?, config.diffusion.steps)?;
    let diffusion = GaussianDiffusion::new(schedule, device);
    let mut noise = NoiseSampler::new(
        *noise_config,
        derive_seed(config.seed, Purpose::Samples, step as u64),
        device,
    )?;
    let t_lambda = (config.diffusion.steps / 4).max(1) - 1;
    let y = (config.model.num_classes > 0).then(|| labels.zeros_like());
    let reconstruction = diffusion.reconstruct(
        ema,
        x_start.clone(),
        t_lambda,
        &Conditioning {
            labels: y,
            guidance: None,
        },
        &mut noise,
    )?;
    let path = run.join("samples").join(format!("step-{step:08}.png"));
    write_reconstructions(&path, x_start, reconstruction)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diffusion::timestep_tensor;
    use crate::models::{ModelConfig, NoisePredictor};

    #[test]
    fn a_refused_resume_names_the_settings_that_differ() {
        let requested = TrainConfig::default();
        let saved = TrainConfig {
            model: ModelConfig {
                norm_eps: 1e-6,
                ..ModelConfig::default()
            },
            lr: 1e-3,
            steps: 7,
            ..TrainConfig::default()
        };
        let text = check_resumable(&saved, &requested, Path::new("run/checkpoints/step-7"))
            .expect_err("another model")
            .to_string();
        assert!(
            text.contains("model.norm_eps: saved 1e-6, asked 0.00001"),
            "{text}"
        );
        assert!(text.contains("lr: saved 0.001, asked 0.0001"), "{text}");
        assert!(!text.contains("steps:"), "steps may change: {text}");
        let more_steps = TrainConfig {
            steps: 9,
            ..saved.clone()
        };
        check_resumable(&saved, &more_steps, Path::new("run")).expect("only the step count");
    }

    #[test]
    fn non_finite_gradients_are_counted() {
        let device = Device::flex().autodiff();
        let config = ModelConfig {
            img_size: 8,
            patch_size: 4,
            embed_dim: 8,
            depth: 2,
            heads: 2,
            ..ModelConfig::default()
        };
        let model = Denoiser::new(&config, &device).expect("valid");
        let eps_hat = || {
            let x_t = Tensor::<4>::ones([2, 1, 8, 8], &device);
            model.predict_noise(x_t, timestep_tensor(&[3, 9], &device), None)
        };
        let finite = eps_hat().powi_scalar(2).mean().backward();
        let finite = GradientsParams::from_grads(finite, &model);
        assert_eq!(non_finite_gradients(&model, &finite), 0);
        let overflowing = eps_hat().mul_scalar(f32::INFINITY).sum().backward();
        let overflowing = GradientsParams::from_grads(overflowing, &model);
        assert!(non_finite_gradients(&model, &overflowing) > 0);
    }
}

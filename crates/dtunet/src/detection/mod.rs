//! Anomaly detection (SPEC §5): partial diffusion of each test image to `t_λ` with the
//! training noise, the reverse chain with the EMA weights (full, or strided DDIM-style), `n`
//! reconstructions averaged, and the reconstruction error as the anomaly map (or 1 − local
//! SSIM, or the distance of the denoiser's own features; averaged over several depths when
//! given); then the same evaluation and report as `dtunet eval`, binarised by a rule or by
//! thresholds calibrated on healthy images ([`calibrate()`]).
//!
//! Output folder: `inputs/`, `reconstructions/` (16-bit PNG), `masks/`, `maps/` (raw `.npy`
//! maps, float64), and the report files of [`crate::evaluate`] (`metrics.csv`,
//! `summary.json`, `summary.md`, `roc.png`, `roc_image.png`, `scores.png`, `panels/`,
//! `report.html`).

mod calibrate;
mod shard;
mod source;

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Int, Tensor, TensorData};
use dtunet_metrics::{ErrorMapKind, ImageShape, Threshold};
use rayon::prelude::*;

pub use calibrate::{CalibrationSettings, DEFAULT_PIXEL_FPR, calibrate, held_out_training_images};
pub use shard::{
    DETECT_RECORD_FILE, DetectRecord, MergeOutputs, RunSettings, SHARD_MANIFEST_FILE,
    ScoringSettings, Shard, ShardManifest, merge_shards,
};
pub use source::{TrainedModel, load_trained};

use crate::data::{Dataset, Sample, Split};
use crate::diffusion::{
    ClassifierGuidance, Conditioning, DiffusionSchedule, GaussianDiffusion, Guidance, NoiseSampler,
};
use crate::error::{DtunetError, Result};
use crate::evaluate::scoring::{Calibration, error_map};
use crate::evaluate::{CLASSES_FILE, EvalOutputs, EvalProgress, evaluate, write_class_json};
use crate::io::{tensor_values, write_npy_f64, write_png_gray, write_png16_chw};
use crate::models::classifier::load_classifier;
use crate::training::batches::{Purpose, derive_seed};
use crate::training::{CLASSIFIER_FILE, TrainConfig};

/// How to detect.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectConfig {
    /// Partial-diffusion depths `t_λ` (steps of the chain, `0..T`; at least one): the map is
    /// the mean of the maps at every depth; the reconstruction written is the first depth's.
    pub t_lambdas: Vec<usize>,
    /// Independent reconstructions averaged per image (run as one batch).
    pub samples: usize,
    /// Network evaluations of a strided (DDIM, η = 0) chain; `None` runs all `t_λ + 1` steps.
    pub strided_steps: Option<usize>,
    /// Test images per batch.
    pub batch_size: usize,
    /// The map: square (se) or absolute (ae) error averaged over channels, 1 − local SSIM, or
    /// the distance of the denoiser's features.
    pub map_kind: ErrorMapKind,
    /// Binarisation of the maps (unless `calibration` is given).
    pub threshold: Threshold,
    /// Thresholds fitted on healthy images ([`calibrate()`]); they replace `threshold`.
    pub calibration: Option<Calibration>,
    /// Keep only the largest connected component of each predicted mask.
    pub largest_component: bool,
    /// σ in pixels of the Gaussian smoothing of the maps before scoring (0: none; the
    /// `maps/` written stay unsmoothed).
    pub smooth_sigma: f64,
    /// Zero the maps outside the dataset's foreground (e.g. the brain); evaluation then uses
    /// the maps instead of the reconstructions.
    pub foreground: bool,
    /// Treat test images without a mask as all-normal.
    pub allow_missing_masks: bool,
    /// Seed of the detection noise.
    pub seed: u64,
    /// Output folder.
    pub out: PathBuf,
    /// Write into an existing non-empty output folder.
    pub overwrite: bool,
    /// Pixels kept exactly in the pooled metrics (see `dtunet eval`).
    pub max_exact_pixels: usize,
    /// Image-level guidance towards the healthy class by a trained noisy-image classifier.
    pub guidance: Option<GuidanceSource>,
}

/// Where guidance comes from and how strongly it steers.
#[derive(Debug, Clone, PartialEq)]
pub struct GuidanceSource {
    /// A `dtunet train-classifier` output folder (`classifier.safetensors` + `config.toml`).
    pub classifier: PathBuf,
    /// The scale `s` of `s·Σ·∇ log p(healthy | x_t, t)`.
    pub scale: f64,
}

/// Progress reports of [`detect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectProgress {
    /// Reconstruction starts over this many test images.
    Started(usize),
    /// This many more images are reconstructed.
    Reconstructed(usize),
    /// A step of the evaluation.
    Eval(EvalProgress),
}

/// What [`detect`] produced.
#[derive(Debug, Clone)]
pub struct DetectOutputs {
    /// The evaluation report (summary, files).
    pub eval: EvalOutputs,
    /// Test images processed.
    pub images: usize,
    /// Seconds spent reconstructing.
    pub reconstruction_seconds: f64,
}

/// Runs detection with `trained` over the test split of `dataset` (already opened at the
/// model's size and channels) and writes the outputs, the report and the settings record
/// [`DETECT_RECORD_FILE`] to `config.out`.
pub fn detect(
    trained: &TrainedModel,
    dataset: &dyn Dataset,
    config: &DetectConfig,
    device: &Device,
    progress: &(dyn Fn(DetectProgress) + Sync),
) -> Result<DetectOutputs> {
    let schedule = checked_schedule(trained, dataset, config)?;
    let count = dataset.len(Split::Test);
    let reconstructed =
        reconstruct_test_images(trained, dataset, config, schedule, None, device, progress)?;
    let settings = RunSettings::of(trained, dataset, config);
    write_class_json(&config.out.join(CLASSES_FILE), &settings.scoring.classes)?;
    let eval = evaluate(&settings.scoring.eval_config(&config.out), &|step| {
        progress(DetectProgress::Eval(step))
    })?;
    DetectRecord {
        settings,
        reconstruction_seconds: reconstructed.seconds,
        shards: 1,
    }
    .write(&config.out)?;
    Ok(DetectOutputs {
        eval,
        images: count,
        reconstruction_seconds: reconstructed.seconds,
    })
}

/// [`detect`] for the test batches of `shard` only (batch `i` belongs to shard `i mod n + 1`):
/// writes their images, reconstructions, masks and maps and the manifest
/// [`SHARD_MANIFEST_FILE`] to `config.out`, without a report; [`merge_shards`] joins the
/// shards of a run into the report [`detect`] writes.
///
/// # Errors
/// As [`detect`].
pub fn detect_shard(
    trained: &TrainedModel,
    dataset: &dyn Dataset,
    config: &DetectConfig,
    shard: Shard,
    device: &Device,
    progress: &(dyn Fn(DetectProgress) + Sync),
) -> Result<ShardManifest> {
    let schedule = checked_schedule(trained, dataset, config)?;
    let reconstructed = reconstruct_test_images(
        trained,
        dataset,
        config,
        schedule,
        Some(shard),
        device,
        progress,
    )?;
    let manifest = ShardManifest {
        shard,
        settings: RunSettings::of(trained, dataset, config),
        images: reconstructed.stems,
        reconstruction_seconds: reconstructed.seconds,
    };
    manifest.write(&config.out)?;
    Ok(manifest)
}

/// What [`reconstruct_test_images`] wrote.
struct Reconstructed {
    /// File stems of the images, in test-split order.
    stems: Vec<String>,
    /// Seconds spent.
    seconds: f64,
}

/// Reconstructs the test images of `dataset` (those of `shard`'s batches when given) and
/// writes their inputs, reconstructions, masks and raw maps under `config.out`.
fn reconstruct_test_images(
    trained: &TrainedModel,
    dataset: &dyn Dataset,
    config: &DetectConfig,
    schedule: DiffusionSchedule,
    shard: Option<Shard>,
    device: &Device,
    progress: &(dyn Fn(DetectProgress) + Sync),
) -> Result<Reconstructed> {
    let count = dataset.len(Split::Test);
    let guidance = load_guidance(config, trained, device)?;
    check_output_folder(&config.out, config.overwrite)?;
    let diffusion = GaussianDiffusion::new(schedule, device);
    let folders = OutputFolders::create(&config.out)?;

    let indices: Vec<usize> = (0..count).collect();
    let batches: Vec<(usize, &[usize])> = indices
        .chunks(config.batch_size)
        .enumerate()
        .filter(|&(batch, _)| shard.is_none_or(|shard| shard.holds_batch(batch)))
        .collect();
    progress(DetectProgress::Started(
        batches.iter().map(|(_, chunk)| chunk.len()).sum(),
    ));
    let started = Instant::now();
    let mut stems = Vec::new();
    for (batch, chunk) in batches {
        let samples: Vec<Sample> = chunk
            .par_iter()
            .map(|&index| dataset.get(Split::Test, index))
            .collect::<Result<_>>()?;
        let (reconstructions, maps) = reconstruct_and_map(
            trained,
            &diffusion,
            &samples,
            config,
            derive_seed(config.seed, Purpose::Samples, batch as u64),
            guidance.as_ref().map(|g| g as &dyn Guidance),
            device,
        )?;
        let image_len = samples[0].image.len();
        let written: Vec<String> = samples
            .par_iter()
            .zip(reconstructions.par_chunks(image_len))
            .zip(&maps)
            .map(|((sample, reconstruction), map)| folders.write(sample, reconstruction, map))
            .collect::<Result<_>>()?;
        stems.extend(written);
        progress(DetectProgress::Reconstructed(samples.len()));
    }
    Ok(Reconstructed {
        stems,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The model's diffusion schedule, once the depths, sample count, batch size and test split
/// are checked usable.
fn checked_schedule(
    trained: &TrainedModel,
    dataset: &dyn Dataset,
    config: &DetectConfig,
) -> Result<DiffusionSchedule> {
    let train = &trained.config;
    let schedule = DiffusionSchedule::new(train.diffusion.beta_schedule()?, train.diffusion.steps)?;
    check_depths(&schedule, &config.t_lambdas)?;
    for (name, value) in [
        ("--samples", config.samples),
        ("--batch-size", config.batch_size),
    ] {
        if value == 0 {
            return Err(DtunetError::InvalidParameter {
                name,
                found: "0".into(),
                expected: "at least 1".into(),
            });
        }
    }
    if dataset.len(Split::Test) == 0 {
        return Err(DtunetError::EmptyInputFolder {
            folder: dataset.root().to_path_buf(),
            expected: "test images",
        });
    }
    Ok(schedule)
}

/// Refuses an empty list of depths or a depth beyond the chain.
fn check_depths(schedule: &DiffusionSchedule, t_lambdas: &[usize]) -> Result<()> {
    if t_lambdas.is_empty() {
        return Err(DtunetError::InvalidParameter {
            name: "--t-lambda",
            found: "no depth".into(),
            expected: "one or more depths, e.g. 250 or 100,250,400".into(),
        });
    }
    t_lambdas
        .iter()
        .try_for_each(|&t_lambda| schedule.check_t_lambda(t_lambda))
}

/// The reconstructions of `samples` at the first depth of `config.t_lambdas`
/// (`[B·C·H·W]`) and each sample's anomaly map (`[H · W]`, [`sample_map`]) averaged over all
/// its depths. The first depth's noise is drawn from `seed`, each further depth's from a seed
/// derived from it.
fn reconstruct_and_map(
    trained: &TrainedModel,
    diffusion: &GaussianDiffusion,
    samples: &[Sample],
    config: &DetectConfig,
    seed: u64,
    guidance: Option<&dyn Guidance>,
    device: &Device,
) -> Result<(Vec<f32>, Vec<Vec<f32>>)> {
    let image_len = samples[0].image.len();
    let mut first_reconstructions = None;
    let mut maps: Vec<Vec<f32>> = Vec::new();
    for (depth_index, &t_lambda) in config.t_lambdas.iter().enumerate() {
        let depth_seed = match depth_index {
            0 => seed,
            index => derive_seed(seed, Purpose::Samples, index as u64),
        };
        let reconstructions = reconstruct_chunk(
            trained, diffusion, samples, config, t_lambda, depth_seed, guidance, device,
        )?;
        let depth_maps = if config.map_kind == ErrorMapKind::Feature {
            feature_maps(trained, samples, &reconstructions, device)?
                .into_iter()
                .zip(samples)
                .map(|(map, sample)| within_foreground(map, sample, config))
                .collect()
        } else {
            samples
                .par_iter()
                .zip(reconstructions.par_chunks(image_len))
                .map(|(sample, reconstruction)| sample_map(sample, reconstruction, config))
                .collect::<Result<Vec<_>>>()?
        };
        if maps.is_empty() {
            maps = depth_maps;
        } else {
            for (total, depth_map) in maps.iter_mut().zip(depth_maps) {
                total.iter_mut().zip(depth_map).for_each(|(t, v)| *t += v);
            }
        }
        first_reconstructions.get_or_insert(reconstructions);
    }
    let depths = config.t_lambdas.len() as f32;
    if depths > 1.0 {
        maps.iter_mut()
            .for_each(|map| map.iter_mut().for_each(|value| *value /= depths));
    }
    Ok((first_reconstructions.unwrap_or_default(), maps))
}

/// The averaged reconstructions of `samples` (`[B·C·H·W]`, CHW per image) from depth
/// `t_lambda`, their noise drawn from `seed` (one noise instance per averaged run: the `n`
/// runs of a batch are independent).
#[allow(clippy::too_many_arguments)]
fn reconstruct_chunk(
    trained: &TrainedModel,
    diffusion: &GaussianDiffusion,
    samples: &[Sample],
    config: &DetectConfig,
    t_lambda: usize,
    seed: u64,
    guidance: Option<&dyn Guidance>,
    device: &Device,
) -> Result<Vec<f32>> {
    let train = &trained.config;
    let first = &samples[0];
    train.model.check_input(
        first.channels.count(),
        first.size.height as usize,
        first.size.width as usize,
    )?;
    let noise_config = train.noise.to_noise_config(train.diffusion.steps)?;
    let mut noise =
        NoiseSampler::new(noise_config, seed, device)?.with_independent_groups(config.samples)?;
    reconstruct_batch(
        trained, diffusion, samples, config, t_lambda, &mut noise, guidance, device,
    )
}

/// The averaged reconstructions of `samples` (`[B·C·H·W]`, CHW per image) from depth
/// `t_lambda`: the `n` runs of every image go through the chain together as one batch of
/// `n·B`.
#[allow(clippy::too_many_arguments)]
fn reconstruct_batch(
    trained: &TrainedModel,
    diffusion: &GaussianDiffusion,
    samples: &[Sample],
    config: &DetectConfig,
    t_lambda: usize,
    noise: &mut NoiseSampler,
    guidance: Option<&dyn Guidance>,
    device: &Device,
) -> Result<Vec<f32>> {
    let batch = samples.len();
    let n = config.samples;
    let first = &samples[0];
    let (channels, height, width) = (
        first.channels.count(),
        first.size.height as usize,
        first.size.width as usize,
    );
    let mut pixels = Vec::with_capacity(n * batch * channels * height * width);
    for _ in 0..n {
        for sample in samples {
            pixels.extend_from_slice(&sample.image);
        }
    }
    let x_start = Tensor::<4>::from_data(
        TensorData::new(pixels, [n * batch, channels, height, width]),
        device,
    );
    let conditioning = Conditioning {
        labels: (trained.config.model.num_classes > 0)
            .then(|| Tensor::<1, Int>::zeros([n * batch], device)),
        guidance,
    };
    let reconstruction = match config.strided_steps {
        Some(k) => diffusion.reconstruct_strided(
            &trained.model,
            x_start,
            t_lambda,
            k,
            &conditioning,
            noise,
        )?,
        None => diffusion.reconstruct(&trained.model, x_start, t_lambda, &conditioning, noise)?,
    };
    let averaged = reconstruction
        .reshape([n, batch, channels, height, width])
        .mean_dim(0)
        .reshape([batch, channels, height, width]);
    tensor_values(averaged)
}

/// The guidance of `config`, if any: its classifier steers `trained`'s chain towards class 0
/// (healthy), checked to be trained on the same images, noise and schedule.
fn load_guidance(
    config: &DetectConfig,
    trained: &TrainedModel,
    device: &Device,
) -> Result<Option<ClassifierGuidance>> {
    let Some(source) = &config.guidance else {
        return Ok(None);
    };
    let folder = &source.classifier;
    let path = folder.join(CLASSIFIER_FILE);
    if !path.is_file() {
        return Err(DtunetError::Weights {
            path: folder.clone(),
            problem: format!(
                "holds no {CLASSIFIER_FILE}: give the --out folder of dtunet train-classifier"
            ),
        });
    }
    let settings =
        TrainConfig::from_toml_file(&folder.join("config.toml"), &TrainConfig::default())?;
    let (classifier, classifier_config) = load_classifier(&path, &device.clone().autodiff())?;
    let model = &trained.config.model;
    let mismatch = if classifier_config.encoder.channels != model.channels {
        Some(format!(
            "takes {} channels, the model {}",
            classifier_config.encoder.channels, model.channels
        ))
    } else if classifier_config.encoder.img_size != model.img_size {
        Some(format!(
            "was trained on {} px images, the model on {} px",
            classifier_config.encoder.img_size, model.img_size
        ))
    } else if settings.diffusion != trained.config.diffusion
        || settings.noise != trained.config.noise
    {
        Some(format!(
            "was trained with noise {} on a {} chain of {} steps, the model with noise {} on a {} \
             chain of {} steps",
            settings.noise.kind,
            settings.diffusion.schedule,
            settings.diffusion.steps,
            trained.config.noise.kind,
            trained.config.diffusion.schedule,
            trained.config.diffusion.steps
        ))
    } else {
        None
    };
    if let Some(problem) = mismatch {
        return Err(DtunetError::InvalidParameter {
            name: "--classifier",
            found: format!("{} ({problem})", folder.display()),
            expected: "a classifier trained for this model's images, noise and schedule".into(),
        });
    }
    ClassifierGuidance::new(classifier, &classifier_config, source.scale, 0).map(Some)
}

/// Refuses an output path that is a file, or a non-empty folder without `overwrite` (what
/// [`detect`] checks first; callers doing work before it, e.g. [`calibrate()`], check early).
///
/// # Errors
/// As above ([`DtunetError::OutputFolder`]).
pub fn check_output_folder(folder: &Path, overwrite: bool) -> Result<()> {
    let problem = match std::fs::read_dir(folder) {
        Ok(entries) => {
            if overwrite || entries.count() == 0 {
                return Ok(());
            }
            "is not empty; pass --overwrite to replace its results, or choose another --out"
        }
        Err(_) if folder.exists() => "exists and is not a folder; give a folder for --out",
        Err(_) => return Ok(()),
    };
    Err(DtunetError::OutputFolder {
        path: folder.to_path_buf(),
        problem,
    })
}

/// The per-image output folders.
struct OutputFolders {
    inputs: PathBuf,
    reconstructions: PathBuf,
    masks: PathBuf,
    maps: PathBuf,
}

impl OutputFolders {
    const INPUTS: &str = "inputs";
    const RECONSTRUCTIONS: &str = "reconstructions";
    const MASKS: &str = "masks";
    const MAPS: &str = "maps";

    fn create(out: &Path) -> Result<Self> {
        let folders = Self {
            inputs: out.join(Self::INPUTS),
            reconstructions: out.join(Self::RECONSTRUCTIONS),
            masks: out.join(Self::MASKS),
            maps: out.join(Self::MAPS),
        };
        for folder in [
            &folders.inputs,
            &folders.reconstructions,
            &folders.masks,
            &folders.maps,
        ] {
            std::fs::create_dir_all(folder).map_err(|source| DtunetError::Io {
                action: "create folder",
                path: folder.clone(),
                source,
            })?;
        }
        Ok(folders)
    }

    /// Writes the input, reconstruction, mask and raw map of one image under a stem made of
    /// its dataset id (`test/tumor/003.png` → `tumor_003`) and returns the stem.
    fn write(&self, sample: &Sample, reconstruction: &[f32], map: &[f32]) -> Result<String> {
        let stem = output_stem(&sample.info.id);
        let channels = sample.channels.count();
        let (height, width) = (sample.size.height, sample.size.width);
        write_png16_chw(
            &self.inputs.join(format!("{stem}.png")),
            channels,
            height,
            width,
            &sample.image,
        )?;
        write_png16_chw(
            &self.reconstructions.join(format!("{stem}.png")),
            channels,
            height,
            width,
            reconstruction,
        )?;
        if let Some(mask) = &sample.mask {
            let pixels = mask.iter().map(|&m| if m > 0 { 255 } else { 0 }).collect();
            write_png_gray(
                &self.masks.join(format!("{stem}.png")),
                width,
                height,
                pixels,
            )?;
        }
        let map: Vec<f64> = map.iter().copied().map(f64::from).collect();
        write_npy_f64(
            &self.maps.join(format!("{stem}.npy")),
            &[u64::from(height), u64::from(width)],
            &map,
        )?;
        Ok(stem)
    }

    /// Copies the files of image `stem` from the detection folder `from` (a shard) into these
    /// folders; the mask only where the shard has one.
    fn copy_image_from(&self, from: &Path, stem: &str) -> Result<()> {
        let png = format!("{stem}.png");
        let files = [
            (Self::INPUTS, &self.inputs, png.clone(), true),
            (
                Self::RECONSTRUCTIONS,
                &self.reconstructions,
                png.clone(),
                true,
            ),
            (Self::MAPS, &self.maps, format!("{stem}.npy"), true),
            (Self::MASKS, &self.masks, png, false),
        ];
        for (name, to, file, required) in files {
            let source = from.join(name).join(&file);
            if !required && !source.exists() {
                continue;
            }
            std::fs::copy(&source, to.join(&file)).map_err(|error| DtunetError::Shard {
                path: source.clone(),
                problem: format!("cannot copy it into the merged folder: {error}"),
            })?;
        }
        Ok(())
    }
}

/// The raw anomaly map of `sample` (`[H · W]`): the error of `config.map_kind` against its
/// reconstruction, zero outside the foreground when `config.foreground` asks.
fn sample_map(sample: &Sample, reconstruction: &[f32], config: &DetectConfig) -> Result<Vec<f32>> {
    let shape = ImageShape::new(
        sample.channels.count(),
        sample.size.height as usize,
        sample.size.width as usize,
    );
    let map =
        error_map(&sample.image, reconstruction, shape, config.map_kind).map_err(|source| {
            DtunetError::Metric {
                path: sample.info.source.clone(),
                source,
            }
        })?;
    Ok(within_foreground(map, sample, config))
}

/// `map` zeroed outside the sample's foreground when `config.foreground` asks.
fn within_foreground(mut map: Vec<f32>, sample: &Sample, config: &DetectConfig) -> Vec<f32> {
    if config.foreground
        && let Some(foreground) = &sample.foreground
    {
        for (value, &inside) in map.iter_mut().zip(foreground) {
            if inside == 0 {
                *value = 0.0;
            }
        }
    }
    map
}

/// The feature-space maps of `samples` (`[H · W]` each): `1 − cosine similarity` of the
/// denoiser's mid-level features ([`crate::models::Denoiser::mid_features`]) of each input and
/// of its reconstruction, both at t = 0, upsampled bilinearly to the image. No other network
/// is involved.
///
/// # Shapes
/// `reconstructions`: `[B · C · H · W]`, in the order of `samples`.
fn feature_maps(
    trained: &TrainedModel,
    samples: &[Sample],
    reconstructions: &[f32],
    device: &Device,
) -> Result<Vec<Vec<f32>>> {
    let n = samples.len();
    let first = &samples[0];
    let (channels, height, width) = (
        first.channels.count(),
        first.size.height as usize,
        first.size.width as usize,
    );
    let mut pixels = Vec::with_capacity(2 * reconstructions.len());
    for sample in samples {
        pixels.extend_from_slice(&sample.image);
    }
    pixels.extend_from_slice(reconstructions);
    let both = Tensor::<4>::from_data(
        TensorData::new(pixels, [2 * n, channels, height, width]),
        device,
    );
    let features = trained
        .model
        .mid_features(both, Tensor::<1>::zeros([2 * n], device), None);
    let inputs = features.clone().narrow(0, 0, n);
    let rebuilt = features.narrow(0, n, n);
    let dot = (inputs.clone() * rebuilt.clone()).sum_dim(1);
    let norms = (inputs.powi_scalar(2).sum_dim(1) * rebuilt.powi_scalar(2).sum_dim(1)).sqrt();
    let distance = (dot / norms.add_scalar(FEATURE_NORM_EPS))
        .neg()
        .add_scalar(1.0);
    let upsampled = interpolate(
        distance,
        InterpolateOptions::new(InterpolateMode::Bilinear).with_output_size([height, width]),
    );
    Ok(tensor_values(upsampled)?
        .chunks_exact(height * width)
        .map(<[f32]>::to_vec)
        .collect())
}

/// Added to the product of the feature norms so that an all-zero feature vector gives
/// distance 1 instead of a division by zero.
const FEATURE_NORM_EPS: f32 = 1e-12;

/// A file stem from a dataset id: the path below the split folder with `/` → `_` and the
/// extension dropped (`test/tumor/003.png` → `tumor_003`, `case1/z080` → `case1_z080`).
fn output_stem(id: &str) -> String {
    let without_extension = match id.rsplit_once('.') {
        Some((stem, extension)) if !extension.contains('/') => stem,
        _ => id,
    };
    let trimmed = without_extension
        .strip_prefix("test/")
        .unwrap_or(without_extension);
    trimmed.replace(['/', '\\'], "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_flatten_the_dataset_id() {
        assert_eq!(output_stem("test/tumor/003.png"), "tumor_003");
        assert_eq!(output_stem("test/good/000.png"), "good_000");
        assert_eq!(output_stem("case1/z080"), "case1_z080");
        assert_eq!(output_stem("yes/Y1.jpg"), "yes_Y1");
    }
}

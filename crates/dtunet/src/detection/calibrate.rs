//! Thresholds calibrated on healthy images (`detect --calibrate`): the healthy images are
//! reconstructed exactly as the test images will be (same t_λ, averaging, map, foreground and
//! smoothing), and the pixel threshold is set at a false-positive rate of their pooled pixels,
//! the image threshold at a false-positive rate of their image scores (map maxima).
//!
//! The maps here are taken from the reconstructions in `f32`, the test maps from the 16-bit
//! files `detect` writes: the two differ by at most one 16-bit level of the error.

use burn::tensor::Device;
use dtunet_metrics::{CalibratedThresholds, MapShape, PixelRule, gaussian_smooth};
use rayon::prelude::*;

use super::{DetectConfig, TrainedModel, check_depths, load_guidance, reconstruct_and_map};
use crate::data::{Dataset, Sample, Split};
use crate::diffusion::{DiffusionSchedule, GaussianDiffusion, Guidance};
use crate::error::{DtunetError, Result};
use crate::evaluate::scoring::Calibration;
use crate::training::batches::{Purpose, derive_seed, held_out_indices};

/// The default fraction of healthy pixels a calibrated pixel threshold may flag: half of the
/// 1 % a user wants at most, because new healthy images flag up to 1.4 times the rate of the
/// held-out training images the threshold is fitted on. Floored under Otsu (the default rule),
/// 0.5 % kept the healthy test pixels flagged at 0.1–0.7 % on four sets where 1 % flagged
/// 0.3–1.3 %, with Dice over the anomalous images within 0.007 of Otsu's (BENCHMARKS.md,
/// "Augmentation, more healthy images and Otsu-floored calibration").
pub const DEFAULT_PIXEL_FPR: f64 = 0.005;

/// The false-positive rates the thresholds are fitted at, and how the pixel threshold is
/// applied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibrationSettings {
    /// Fraction of the healthy pixels the pixel threshold may flag, in `[0, 1)`.
    pub pixel_fpr: f64,
    /// Fraction of the healthy images whose score may exceed the image threshold, in
    /// `[0, 1)`; `None`: no image threshold, every image is binarised.
    pub image_fpr: Option<f64>,
    /// The calibrated threshold alone, or floored under Otsu's threshold of each map.
    pub pixel_rule: PixelRule,
}

/// The training images `trained` was not trained on (its `calibration_holdout`), with a
/// description for the report.
///
/// # Errors
/// A model trained on every training image (hold-out 0), or an unreadable image.
pub fn held_out_training_images(
    dataset: &dyn Dataset,
    trained: &TrainedModel,
) -> Result<(Vec<Sample>, String)> {
    let fraction = trained.config.calibration_holdout;
    let count = dataset.len(Split::Train);
    let indices = held_out_indices(count, fraction)?;
    if indices.is_empty() {
        return Err(DtunetError::InvalidParameter {
            name: "--calibrate",
            found: "a model trained on every training image (calibration_holdout = 0)".into(),
            expected: "a model trained with --calibration-holdout F (e.g. 0.1), or healthy \
                       images to calibrate on given with --calibration DIR"
                .into(),
        });
    }
    let samples = indices
        .par_iter()
        .map(|&index| dataset.get(Split::Train, index))
        .collect::<Result<Vec<_>>>()?;
    let description = format!(
        "{} of {count} training images of {}, held out from training",
        samples.len(),
        dataset.root().display()
    );
    Ok((samples, description))
}

/// Fits the pixel and image thresholds on `images` (all healthy), reconstructed and mapped as
/// `config` says for the test images; `progress` is told how many more are reconstructed.
///
/// # Errors
/// No images, invalid rates, images the model cannot take, or a failure of the chain.
pub fn calibrate(
    trained: &TrainedModel,
    images: &[Sample],
    description: String,
    settings: CalibrationSettings,
    config: &DetectConfig,
    device: &Device,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Calibration> {
    if images.is_empty() {
        return Err(DtunetError::InvalidParameter {
            name: "--calibration",
            found: description,
            expected: "at least one healthy image".into(),
        });
    }
    for (name, rate) in [
        ("--pixel-fpr", Some(settings.pixel_fpr)),
        ("--image-fpr", settings.image_fpr),
    ] {
        if let Some(rate) = rate
            && !(0.0..1.0).contains(&rate)
        {
            return Err(DtunetError::InvalidParameter {
                name,
                found: rate.to_string(),
                expected: "a false-positive rate in [0, 1)".into(),
            });
        }
    }
    let train = &trained.config;
    let schedule = DiffusionSchedule::new(train.diffusion.beta_schedule()?, train.diffusion.steps)?;
    check_depths(&schedule, &config.t_lambdas)?;
    let diffusion = GaussianDiffusion::new(schedule, device);
    let guidance = load_guidance(config, trained, device)?;
    let mut maps = Vec::with_capacity(images.len());
    for (chunk_index, chunk) in images.chunks(config.batch_size.max(1)).enumerate() {
        let (_, raw_maps) = reconstruct_and_map(
            trained,
            &diffusion,
            chunk,
            config,
            derive_seed(config.seed, Purpose::Calibration, chunk_index as u64),
            guidance.as_ref().map(|g| g as &dyn Guidance),
            device,
        )?;
        let chunk_maps = chunk
            .par_iter()
            .zip(&raw_maps)
            .map(|(sample, map)| {
                let shape = MapShape::new(sample.size.height as usize, sample.size.width as usize);
                gaussian_smooth(map, shape, config.smooth_sigma).map_err(|source| {
                    DtunetError::Metric {
                        path: sample.info.source.clone(),
                        source,
                    }
                })
            })
            .collect::<Result<Vec<_>>>()?;
        maps.extend(chunk_maps);
        progress(chunk.len());
    }
    let views: Vec<&[f32]> = maps.iter().map(Vec::as_slice).collect();
    let thresholds = CalibratedThresholds::fit(
        &views,
        settings.pixel_fpr,
        settings.image_fpr,
        settings.pixel_rule,
    )
    .map_err(|source| DtunetError::Metric {
        path: images[0].info.source.clone(),
        source,
    })?;
    Ok(Calibration {
        thresholds,
        images: description,
    })
}

//! Training configuration (paper Table 6 defaults), read from TOML and overridden by flags.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::augment::Augmentation;
use super::recipe::DetectionRecipe;
use crate::diffusion::{BetaSchedule, TimestepRange};
use crate::error::{DtunetError, Result};
use crate::losses::LossKind;
use crate::models::{FeedForwardKind, ModelConfig, StageFeedForward};
use dtunet_noise::{FractalParams, NoiseConfig, NoiseKind};

/// The noise of the forward and reverse processes, as written in configs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NoiseSettings {
    /// `tsimplex`, `tsg`, `kts`, `gauss`, `simplex3d`, `patch4dsimplex`, `multisimplex` or
    /// `value`.
    pub kind: String,
    /// Simplex octaves.
    pub octaves: u32,
    /// Amplitude ratio between octaves.
    pub persistence: f64,
    /// Base period of octave 0 in pixels.
    pub frequency: f64,
    /// Patch side in pixels of `kts`, `patch4dsimplex` and `multisimplex`.
    pub kts_patch: usize,
    /// KTs spread over the patch grid, in patches.
    pub kts_sigma: f64,
    /// Scale each noise sample to zero mean, unit variance.
    pub standardize: bool,
}

impl Default for NoiseSettings {
    fn default() -> Self {
        let reference = NoiseConfig::default();
        Self {
            kind: reference.kind.name().into(),
            octaves: reference.fractal.octaves,
            persistence: reference.fractal.persistence,
            frequency: reference.fractal.frequency,
            kts_patch: reference.kts_patch_px,
            kts_sigma: reference.kts_sigma,
            standardize: reference.standardize,
        }
    }
}

impl NoiseSettings {
    /// The noise crate's configuration for a diffusion of `total_steps` steps.
    pub fn to_noise_config(&self, total_steps: usize) -> Result<NoiseConfig> {
        let config = NoiseConfig {
            kind: self.kind.parse::<NoiseKind>()?,
            fractal: FractalParams {
                octaves: self.octaves,
                persistence: self.persistence,
                frequency: self.frequency,
            },
            kts_patch_px: self.kts_patch,
            kts_sigma: self.kts_sigma,
            total_steps: u32::try_from(total_steps).unwrap_or(u32::MAX),
            standardize: self.standardize,
        };
        config.validate()?;
        Ok(config)
    }
}

/// The diffusion process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiffusionSettings {
    /// `cosine` or `linear`.
    pub schedule: String,
    /// Number of steps `T`.
    pub steps: usize,
}

impl Default for DiffusionSettings {
    fn default() -> Self {
        Self {
            schedule: "cosine".into(),
            steps: 1000,
        }
    }
}

impl DiffusionSettings {
    /// The beta schedule named in the config.
    pub fn beta_schedule(&self) -> Result<BetaSchedule> {
        match self.schedule.as_str() {
            "cosine" => Ok(BetaSchedule::Cosine),
            "linear" => Ok(BetaSchedule::Linear),
            other => Err(DtunetError::InvalidParameter {
                name: "diffusion.schedule",
                found: format!("{other:?}"),
                expected: "cosine or linear".into(),
            }),
        }
    }
}

/// Everything a training run needs besides the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// The network.
    pub model: ModelConfig,
    /// The diffusion noise.
    pub noise: NoiseSettings,
    /// The diffusion process.
    pub diffusion: DiffusionSettings,
    /// Training loss.
    pub loss: LossKind,
    /// Images per step.
    pub batch_size: usize,
    /// Optimiser steps.
    pub steps: usize,
    /// AdamW learning rate.
    pub lr: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// EMA rate of the detection weights.
    pub ema_rate: f64,
    /// Training timesteps are drawn from `[0, min(sample_distance, T))`; 0 means `[0, T)`.
    pub sample_distance: usize,
    /// Steps between checkpoints.
    pub checkpoint_every: usize,
    /// Checkpoints kept (oldest deleted first).
    pub keep_checkpoints: usize,
    /// Steps between sample reconstructions (0: only at the end).
    pub sample_every: usize,
    /// Seed of the shuffle, timesteps, noise and initial weights.
    pub seed: u64,
    /// Fraction of the training images kept out of training, on which `detect --calibrate`
    /// fits its thresholds (0: train on all).
    pub calibration_holdout: f64,
    /// Symmetries each training image is moved by at random (none, hflip, flips, dihedral).
    pub augment: Augmentation,
    /// The detection settings this configuration was measured with; `detect` uses them where
    /// its flags are not given (`[detection]`, absent when empty).
    #[serde(skip_serializing_if = "DetectionRecipe::is_empty")]
    pub detection: DetectionRecipe,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            model: ModelConfig::default(),
            noise: NoiseSettings::default(),
            diffusion: DiffusionSettings::default(),
            loss: LossKind::L2,
            batch_size: 32,
            steps: 100_000,
            lr: 1e-4,
            weight_decay: 0.0,
            ema_rate: 0.9999,
            sample_distance: 800,
            checkpoint_every: 1000,
            keep_checkpoints: 3,
            sample_every: 5000,
            seed: 0,
            calibration_holdout: 0.0,
            augment: Augmentation::None,
            detection: DetectionRecipe::default(),
        }
    }
}

/// Training steps of [`Preset::Slices`]: on the mixed-lesion synthetic brains, 2,000 steps
/// (the demo's) reach pooled AUROC 0.85, 8,000 steps 0.90 and 12,000 0.90 (BENCHMARKS.md).
const SLICES_STEPS: usize = 8000;

/// Base noise period in pixels of [`Preset::Texture`] (octaves at 4, 2, 1 and ½ px): the noise
/// has to wipe out what a defect draws at the scale of the texture's own detail. On the brick
/// photograph, with the texture recipe, AUPRO rises 0.66 / 0.71 / 0.77 / 0.79 for periods
/// 32 / 16 / 8 / 4 px at t_λ 250, and the synthetic textures gain too (BENCHMARKS.md).
const TEXTURE_NOISE_PERIOD_PX: f64 = 4.0;

/// Tokens per side [`Preset::Texture`] keeps at most when it is asked for larger images
/// ([`TrainConfig::preset_at_size`]): synthetic leather at 128 px (patch 8) and at 256 px
/// (patch 16) reaches AUPRO 0.972 / 0.975 in 6.7 / 9.8 min of training on 2 cores, where
/// patch 8 at 256 px (32 × 32 tokens) takes 2.9 s a step, ≈ 1.6 h (BENCHMARKS.md).
const TEXTURE_MAX_TOKENS_PER_SIDE: usize = 16;

/// Smallest patch size of [`Preset::Texture`] (its 64 px model's).
const TEXTURE_MIN_PATCH_PX: usize = 8;

/// How [`Preset::Slices`] models are detected: 16 strided 50-step chains at t_λ 250, maps
/// smoothed by σ 0.7 px, thresholds calibrated (on the mixed brains pooled AUROC 0.965, Dice
/// over the tumour images 0.417 with 0.7 % of the healthy pixels flagged; BENCHMARKS.md).
fn slices_detection() -> DetectionRecipe {
    DetectionRecipe {
        t_lambdas: Some(vec![250]),
        samples: Some(16),
        strided_steps: Some(50),
        smooth_sigma: Some(0.7),
        calibrate: true,
    }
}

/// How [`Preset::Texture`] models are detected: 16 strided 50-step chains at t_λ 150 (the
/// fine noise wants a shallower depth than 250: +0.02 AUPRO on the brick), maps smoothed by
/// σ 2 px, thresholds calibrated.
fn texture_detection() -> DetectionRecipe {
    DetectionRecipe {
        t_lambdas: Some(vec![150]),
        smooth_sigma: Some(2.0),
        ..slices_detection()
    }
}

/// Named starting points for `--preset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// The paper's Table 6 model and schedule (224 px, D 384, depth 6).
    Paper,
    /// A small model that trains on two CPU cores in minutes (the demo's; grey 32 px slices).
    Demo,
    /// The demo's model trained four times longer on left–right mirrored slices, for grey
    /// medical slices with small or faint lesions (32 px; set the size and patch for others),
    /// with 10 % of the training images held out to calibrate detection thresholds; measured
    /// in BENCHMARKS.md.
    Slices,
    /// The demo's model for 64 px textures, colour or grey (MVTec-style categories): patch 8
    /// (64 tokens), noise period 4 px, images mirrored at random both ways, and 10 % of the
    /// training images held out to calibrate detection thresholds (`detect --calibrate`);
    /// measured in BENCHMARKS.md.
    Texture,
}

impl std::str::FromStr for Preset {
    type Err = DtunetError;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "paper" => Ok(Self::Paper),
            "demo" => Ok(Self::Demo),
            "slices" => Ok(Self::Slices),
            "texture" => Ok(Self::Texture),
            other => Err(DtunetError::InvalidParameter {
                name: "preset",
                found: format!("{other:?}"),
                expected: "paper, demo, slices or texture".into(),
            }),
        }
    }
}

impl TrainConfig {
    /// The configuration of a preset.
    pub fn preset(preset: Preset) -> Self {
        match preset {
            Preset::Paper => Self::default(),
            Preset::Demo => Self {
                model: ModelConfig {
                    img_size: 32,
                    patch_size: 4,
                    embed_dim: 64,
                    depth: 4,
                    heads: 4,
                    mlp_ratio: 2.0,
                    ff: StageFeedForward::uniform(FeedForwardKind::Mlp),
                    ..ModelConfig::default()
                },
                noise: NoiseSettings {
                    octaves: 4,
                    frequency: 16.0,
                    ..NoiseSettings::default()
                },
                batch_size: 16,
                steps: 2000,
                lr: 1e-3,
                ema_rate: 0.995,
                checkpoint_every: 250,
                sample_every: 500,
                ..Self::default()
            },
            Preset::Slices => {
                let demo = Self::preset(Preset::Demo);
                Self {
                    steps: SLICES_STEPS,
                    sample_every: 2000,
                    calibration_holdout: 0.1,
                    augment: Augmentation::Hflip,
                    detection: slices_detection(),
                    ..demo
                }
            }
            Preset::Texture => {
                let demo = Self::preset(Preset::Demo);
                Self {
                    model: ModelConfig {
                        img_size: 64,
                        patch_size: 8,
                        ..demo.model
                    },
                    noise: NoiseSettings {
                        frequency: TEXTURE_NOISE_PERIOD_PX,
                        ..demo.noise
                    },
                    calibration_holdout: 0.1,
                    augment: Augmentation::Flips,
                    detection: texture_detection(),
                    ..demo
                }
            }
        }
    }

    /// The configuration of `preset` for images of `img_size` px: the preset with that image
    /// size, and for [`Preset::Texture`] the smallest patch size of at least 8 px that divides
    /// the image into at most 16 × 16 tokens (8 px up to 128 px, 16 px at 256 px), so that
    /// training time grows with the image only as far as the token grid does. The other presets
    /// keep their patch size.
    pub fn preset_at_size(preset: Preset, img_size: usize) -> Self {
        let mut config = Self::preset(preset);
        config.model.img_size = img_size;
        if preset == Preset::Texture {
            let least = img_size
                .div_ceil(TEXTURE_MAX_TOKENS_PER_SIDE)
                .max(TEXTURE_MIN_PATCH_PX);
            if let Some(patch) = (least..=img_size).find(|patch| img_size.is_multiple_of(*patch)) {
                config.model.patch_size = patch;
            }
        }
        config
    }

    /// Reads a TOML file over `base`: keys the file sets replace `base`'s values (tables merge
    /// key by key), the rest keep them.
    pub fn from_toml_file(path: &Path, base: &TrainConfig) -> Result<Self> {
        let config_error = |problem: String| DtunetError::Config {
            path: path.to_path_buf(),
            problem,
        };
        let text = std::fs::read_to_string(path).map_err(|source| DtunetError::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        })?;
        let overrides: toml::Table =
            toml::from_str(&text).map_err(|e| config_error(e.to_string()))?;
        base.with_overrides(overrides).map_err(config_error)
    }

    /// This configuration with the keys of `overrides` replaced (tables merge key by key);
    /// the error names the key or value that does not fit.
    pub fn with_overrides(&self, overrides: toml::Table) -> std::result::Result<Self, String> {
        let mut merged: toml::Table = toml::from_str(&self.to_toml()).map_err(|e| e.to_string())?;
        merge_tables(&mut merged, overrides);
        merged
            .try_into()
            .map_err(|e: toml::de::Error| e.message().trim().to_string())
    }

    /// The configuration as TOML (what `config.toml` of a run holds).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }

    /// Checks every value, naming the offending one.
    pub fn validate(&self) -> Result<()> {
        self.model.validate()?;
        self.noise.to_noise_config(self.diffusion.steps)?;
        self.diffusion.beta_schedule()?;
        let positive = |name: &'static str, value: usize| {
            if value == 0 {
                Err(DtunetError::InvalidParameter {
                    name,
                    found: "0".into(),
                    expected: "at least 1".into(),
                })
            } else {
                Ok(())
            }
        };
        positive("batch_size", self.batch_size)?;
        positive("steps", self.steps)?;
        positive("checkpoint_every", self.checkpoint_every)?;
        positive("keep_checkpoints", self.keep_checkpoints)?;
        positive("diffusion.steps", self.diffusion.steps)?;
        super::batches::held_out_indices(0, self.calibration_holdout)?;
        self.detection.validate(self.diffusion.steps)?;
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(DtunetError::InvalidParameter {
                name: "lr",
                found: self.lr.to_string(),
                expected: "a positive number".into(),
            });
        }
        if !(0.0..1.0).contains(&self.ema_rate) {
            return Err(DtunetError::InvalidParameter {
                name: "ema_rate",
                found: self.ema_rate.to_string(),
                expected: "a number in [0, 1)".into(),
            });
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err(DtunetError::InvalidParameter {
                name: "weight_decay",
                found: self.weight_decay.to_string(),
                expected: "a non-negative number".into(),
            });
        }
        let noise = self.noise.to_noise_config(self.diffusion.steps)?;
        if noise.kind.is_patch_local() && !self.model.img_size.is_multiple_of(noise.kts_patch_px) {
            return Err(DtunetError::InvalidParameter {
                name: "noise.kts_patch",
                found: noise.kts_patch_px.to_string(),
                expected: format!("a divisor of img_size {}", self.model.img_size),
            });
        }
        Ok(())
    }

    /// Which steps training draws from (`sample_distance` 0 means the whole chain).
    pub fn timestep_range(&self) -> TimestepRange {
        match self.sample_distance {
            0 => TimestepRange::Full,
            distance => TimestepRange::SampleDistance(distance),
        }
    }
}

fn merge_tables(base: &mut toml::Table, overrides: toml::Table) {
    for (key, value) in overrides {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(over)) => {
                merge_tables(inner, over)
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate_and_round_trip_through_toml() {
        for preset in [Preset::Paper, Preset::Demo, Preset::Slices, Preset::Texture] {
            let config = TrainConfig::preset(preset);
            config.validate().expect("presets are valid");
            let back: TrainConfig = toml::from_str(&config.to_toml()).expect("parse");
            assert_eq!(back, config);
        }
        assert_eq!(TrainConfig::default().timestep_range().end(1000), 800);
    }

    #[test]
    fn the_texture_preset_is_the_demo_at_64_px_with_a_calibration_hold_out() {
        let texture = TrainConfig::preset("texture".parse().expect("a preset"));
        let demo = TrainConfig::preset(Preset::Demo);
        assert_eq!((texture.model.img_size, texture.model.patch_size), (64, 8));
        assert_eq!(texture.noise.frequency, 4.0);
        assert_eq!(texture.augment, Augmentation::Flips);
        assert_eq!(texture.detection.t_lambdas, Some(vec![150]));
        assert_eq!(texture.detection.smooth_sigma, Some(2.0));
        assert!(texture.detection.calibrate);
        assert!(demo.detection.is_empty(), "the demo sets its own detection");
        assert_eq!(texture.calibration_holdout, 0.1);
        assert_eq!(texture.model.embed_dim, demo.model.embed_dim);
        assert_eq!((texture.steps, texture.lr), (demo.steps, demo.lr));
        let error = "textures"
            .parse::<Preset>()
            .expect_err("unknown")
            .to_string();
        assert!(error.contains("paper, demo, slices or texture"), "{error}");
    }

    #[test]
    fn the_texture_preset_keeps_at_most_16_tokens_a_side_at_larger_sizes() {
        let patch = |preset, size| TrainConfig::preset_at_size(preset, size).model.patch_size;
        let sizes = [
            (64, 8),
            (128, 8),
            (224, 14),
            (256, 16),
            (512, 32),
            (200, 20),
        ];
        for (size, expected) in sizes {
            let config = TrainConfig::preset_at_size(Preset::Texture, size);
            assert_eq!(
                (config.model.img_size, patch(Preset::Texture, size)),
                (size, expected)
            );
            config.validate().expect("a valid configuration");
        }
        assert_eq!(
            TrainConfig::preset_at_size(Preset::Texture, 64),
            TrainConfig::preset(Preset::Texture)
        );
        assert_eq!(
            patch(Preset::Demo, 256),
            4,
            "other presets keep their patch"
        );
        assert_eq!(
            patch(Preset::Paper, 256),
            TrainConfig::default().model.patch_size
        );
    }

    #[test]
    fn the_slices_preset_is_the_demo_trained_longer_with_a_calibration_hold_out() {
        let slices = TrainConfig::preset("slices".parse().expect("a preset"));
        let demo = TrainConfig::preset(Preset::Demo);
        assert_eq!(slices.model, demo.model);
        assert_eq!(slices.noise, demo.noise);
        assert_eq!((slices.steps, demo.steps), (4 * demo.steps, 2000));
        assert_eq!(slices.calibration_holdout, 0.1);
        assert_eq!((slices.lr, slices.ema_rate), (demo.lr, demo.ema_rate));
        assert_eq!(
            (slices.augment, demo.augment),
            (Augmentation::Hflip, Augmentation::None)
        );
    }

    #[test]
    fn partial_toml_keeps_defaults_and_unknown_keys_are_errors() {
        let config: TrainConfig =
            toml::from_str("steps = 10\n[model]\nembed_dim = 96\n").expect("parse");
        assert_eq!(config.steps, 10);
        assert_eq!(config.model.embed_dim, 96);
        assert_eq!(config.model.depth, 6);
        assert!(toml::from_str::<TrainConfig>("stpes = 10\n").is_err());
    }

    #[test]
    fn a_config_file_overrides_the_preset_key_by_key() {
        let folder = tempfile::tempdir().expect("temp dir");
        let path = folder.path().join("run.toml");
        std::fs::write(&path, "steps = 7\n[model]\ndepth = 2\n").expect("write");
        let base = TrainConfig::preset(Preset::Demo);
        let config = TrainConfig::from_toml_file(&path, &base).expect("read");
        assert_eq!(config.steps, 7);
        assert_eq!(config.model.depth, 2);
        assert_eq!(config.model.embed_dim, base.model.embed_dim);
        std::fs::write(&path, "[model]\ndepht = 2\n").expect("write");
        let text = TrainConfig::from_toml_file(&path, &base)
            .expect_err("typo")
            .to_string();
        assert!(
            text.contains("run.toml") && text.contains("depht"),
            "{text}"
        );
    }

    #[test]
    fn bad_values_are_named() {
        let config = TrainConfig {
            lr: -1.0,
            ..TrainConfig::preset(Preset::Demo)
        };
        let text = config.validate().expect_err("negative lr").to_string();
        assert!(text.starts_with("lr = -1"), "{text}");
        let config = TrainConfig {
            noise: NoiseSettings {
                kind: "pink".into(),
                ..NoiseSettings::default()
            },
            ..TrainConfig::preset(Preset::Demo)
        };
        assert!(
            config
                .validate()
                .expect_err("unknown kind")
                .to_string()
                .contains("pink")
        );
        for kind in ["kts", "patch4dsimplex", "multisimplex"] {
            let config = TrainConfig {
                noise: NoiseSettings {
                    kind: kind.into(),
                    kts_patch: 7,
                    ..NoiseSettings::default()
                },
                ..TrainConfig::preset(Preset::Demo)
            };
            let text = config
                .validate()
                .expect_err("7 does not divide")
                .to_string();
            assert!(text.starts_with("noise.kts_patch = 7"), "{kind}: {text}");
        }
    }
}

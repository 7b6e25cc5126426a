//! Studies: the paper's experiments as grids over named axes (loss, noise, backbone, t_λ,
//! averaging, map, threshold, seed), run unattended, resumable, shardable across machines,
//! and reported as tables in the paper's layout beside its published values.
//!
//! - [`study`]: the definition (TOML; four built in, named after the paper's tables and
//!   figures).
//! - [`plan`]: the cells, which of them share a trained model and which share
//!   reconstructions, the shard a cell belongs to, the plan's identity on disk.
//! - [`runner`]: the loop that trains, detects and records each cell through a [`CellWork`].
//! - [`tables`] and [`report`]: `results.csv`, `table.{md,csv,tex}`, plots and `report.html`.

pub mod axis;
pub mod metrics;
pub mod plan;
pub mod report;
pub mod runner;
pub mod study;
pub mod tables;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use axis::Axis;
pub use metrics::{CellRecord, CellStatus, Metric, MetricValue};
pub use plan::{Cell, Plan, Shard, Training};
pub use report::{StudyResults, write_outputs};
pub use runner::{CellScores, CellWork, RunOptions, StudyObserver, TrainedModelInfo, run_study};
pub use study::{BUILT_IN_STUDIES, Study};

use crate::detection::DetectConfig;
use crate::error::{DtunetError, Result};
use crate::evaluate::{DEFAULT_MAX_EXACT_PIXELS, parse_threshold};
use crate::metrics::ErrorMapKind;
use crate::training::TrainConfig;

/// How a cell detects: the settings of `dtunet detect` a study can fix or vary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectSettings {
    /// Partial-diffusion depth t_λ.
    pub t_lambda: usize,
    /// Reconstructions averaged per test image.
    pub samples: usize,
    /// Strided reverse chain with this many network evaluations (none: every step).
    pub strided_steps: Option<usize>,
    /// Test images per batch.
    pub batch_size: usize,
    /// `se` or `ae`.
    pub map: String,
    /// `otsu`, `fixed:V`, `percentile:P` or `best`.
    pub threshold: String,
    /// Keep only the largest connected component of each predicted mask.
    pub largest_cc: bool,
    /// σ in pixels of the Gaussian smoothing of the maps before scoring (0: none).
    pub smooth: f64,
    /// Zero the maps outside the dataset's foreground.
    pub foreground: bool,
    /// Treat test images without a mask as all-normal.
    pub allow_missing_masks: bool,
    /// Seed of the detection noise (a `seed` axis sets it with the training seed).
    pub seed: u64,
}

impl Default for DetectSettings {
    fn default() -> Self {
        Self {
            t_lambda: 250,
            samples: 1,
            strided_steps: None,
            batch_size: 8,
            map: "se".into(),
            threshold: "otsu".into(),
            largest_cc: false,
            smooth: 0.0,
            foreground: false,
            allow_missing_masks: false,
            seed: 0,
        }
    }
}

impl DetectSettings {
    /// The defaults with the keys of a `[detect]` table replaced.
    pub fn from_table(table: &toml::Table) -> std::result::Result<Self, String> {
        table
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| e.message().trim().to_string())
    }

    /// Checks the settings against the model they detect with, naming the offending value.
    pub fn validate(&self, train: &TrainConfig) -> Result<()> {
        if self.t_lambda >= train.diffusion.steps {
            return Err(DtunetError::InvalidParameter {
                name: "t_lambda",
                found: self.t_lambda.to_string(),
                expected: format!("a step of the {}-step chain", train.diffusion.steps),
            });
        }
        for (name, value) in [("samples", self.samples), ("batch_size", self.batch_size)] {
            if value == 0 {
                return Err(DtunetError::InvalidParameter {
                    name,
                    found: "0".into(),
                    expected: "at least 1".into(),
                });
            }
        }
        self.map_kind()?;
        parse_threshold(&self.threshold)?;
        if !(self.smooth >= 0.0 && self.smooth.is_finite()) {
            return Err(DtunetError::InvalidParameter {
                name: "smooth",
                found: self.smooth.to_string(),
                expected: "a smoothing σ ≥ 0 pixels".into(),
            });
        }
        Ok(())
    }

    /// The error map kind.
    pub fn map_kind(&self) -> Result<ErrorMapKind> {
        match self.map.as_str() {
            "se" => Ok(ErrorMapKind::Square),
            "ae" => Ok(ErrorMapKind::Absolute),
            "ssim" => Ok(ErrorMapKind::Ssim),
            other => Err(DtunetError::InvalidParameter {
                name: "map",
                found: format!("{other:?}"),
                expected: "se, ae or ssim".into(),
            }),
        }
    }

    /// The detection configuration writing into `out` (replacing an interrupted attempt).
    pub fn to_config(&self, out: PathBuf) -> Result<DetectConfig> {
        Ok(DetectConfig {
            t_lambdas: vec![self.t_lambda],
            samples: self.samples,
            strided_steps: self.strided_steps,
            batch_size: self.batch_size,
            map_kind: self.map_kind()?,
            threshold: parse_threshold(&self.threshold)?,
            calibration: None,
            largest_component: self.largest_cc,
            smooth_sigma: self.smooth,
            foreground: self.foreground,
            allow_missing_masks: self.allow_missing_masks,
            seed: self.seed,
            out,
            overwrite: true,
            max_exact_pixels: DEFAULT_MAX_EXACT_PIXELS,
            guidance: None,
        })
    }

    /// The settings that change reconstructions (map, threshold and mask post-processing
    /// only change their scoring; with `foreground` the scored maps are written at detection,
    /// so the map kind stays).
    fn reconstruction_part(&self) -> Self {
        Self {
            map: if self.foreground {
                self.map.clone()
            } else {
                String::new()
            },
            threshold: String::new(),
            largest_cc: false,
            smooth: 0.0,
            allow_missing_masks: false,
            ..self.clone()
        }
    }
}

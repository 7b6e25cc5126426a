//! Detection across machines: `detect --shard k/n` reconstructs a deterministic k-th of the
//! test images into a shard folder with a manifest, and [`merge_shards`] joins the folders of
//! all `n` shards and scores them into the report an unsharded run writes.
//!
//! Test images are reconstructed in batches whose noise is seeded by the batch's index, so a
//! shard takes whole batches (batch `i` belongs to shard `i mod n + 1`) and every image gets
//! the noise it gets in an unsharded run: the merged files are byte-identical to it.

use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{DetectConfig, OutputFolders, TrainedModel, check_output_folder, output_stem};
use crate::data::{Dataset, Split};
use crate::error::{DtunetError, Result};
use crate::evaluate::{
    CLASSES_FILE, Calibration, ClassOfStem, EvalConfig, EvalOutputs, EvalProgress, MapSource,
    evaluate, write_class_json,
};
use crate::io::write_atomically;
use dtunet_metrics::{ErrorMapKind, Threshold};

/// The manifest a shard folder holds.
pub const SHARD_MANIFEST_FILE: &str = "shard.json";

/// The settings record of a detection folder (unsharded or merged): [`DetectRecord`].
pub const DETECT_RECORD_FILE: &str = "detect.json";

/// Part `index` (1-based) of `count` of a detection run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// `k`, in `1..=count`.
    pub index: usize,
    /// `n`, at least 1.
    pub count: usize,
}

impl Shard {
    /// The shard `index` of `count`.
    ///
    /// # Errors
    /// `count` 0 or `index` outside `1..=count`.
    pub fn new(index: usize, count: usize) -> Result<Self> {
        if count == 0 || index == 0 || index > count {
            return Err(DtunetError::InvalidParameter {
                name: "--shard",
                found: format!("{index}/{count}"),
                expected: "k/n with 1 ≤ k ≤ n, e.g. 1/4".into(),
            });
        }
        Ok(Self { index, count })
    }

    /// Whether test batch `batch` (0-based) belongs to this shard.
    pub fn holds_batch(self, batch: usize) -> bool {
        batch % self.count == self.index - 1
    }
}

impl FromStr for Shard {
    type Err = DtunetError;

    fn from_str(text: &str) -> Result<Self> {
        let parsed = text
            .split_once('/')
            .and_then(|(k, n)| Some((k.trim().parse().ok()?, n.trim().parse().ok()?)));
        match parsed {
            Some((index, count)) => Self::new(index, count),
            None => Err(DtunetError::InvalidParameter {
                name: "--shard",
                found: format!("{text:?}"),
                expected: "k/n with 1 ≤ k ≤ n, e.g. 1/4".into(),
            }),
        }
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// How maps become the report: everything [`evaluate`] needs besides the folders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoringSettings {
    /// The map kind.
    pub map_kind: ErrorMapKind,
    /// The binarisation rule (unless `calibration`).
    pub threshold: Threshold,
    /// Thresholds fitted on healthy images.
    pub calibration: Option<Calibration>,
    /// Keep only the largest connected component of each mask.
    pub largest_component: bool,
    /// σ of the map smoothing in pixels.
    pub smooth_sigma: f64,
    /// Test images without a mask count as all-normal.
    pub allow_missing_masks: bool,
    /// Scored from `maps/` (else from `reconstructions/`).
    pub from_maps: bool,
    /// Pixels kept exactly in the pooled metrics.
    pub max_exact_pixels: usize,
    /// The class (defect folder) of every test image of the run, by output stem.
    #[serde(default)]
    pub classes: ClassOfStem,
}

impl ScoringSettings {
    /// The scoring of `config` over the test split of `dataset`: maps that are not one
    /// reconstruction's error (foreground, several depths, feature maps) are scored from
    /// `maps/`; every test image's class is kept for the metrics per class.
    pub fn of(config: &DetectConfig, dataset: &dyn Dataset) -> Self {
        Self {
            map_kind: config.map_kind,
            threshold: config.threshold,
            calibration: config.calibration.clone(),
            largest_component: config.largest_component,
            smooth_sigma: config.smooth_sigma,
            allow_missing_masks: config.allow_missing_masks,
            from_maps: config.foreground
                || config.t_lambdas.len() > 1
                || config.map_kind == ErrorMapKind::Feature,
            max_exact_pixels: config.max_exact_pixels,
            classes: test_classes(dataset),
        }
    }

    /// The evaluation of the detection folder `out` with these settings.
    pub(super) fn eval_config(&self, out: &Path) -> EvalConfig {
        let source = if self.from_maps {
            MapSource::Maps(out.join(OutputFolders::MAPS))
        } else {
            MapSource::Reconstructions(out.join(OutputFolders::RECONSTRUCTIONS))
        };
        EvalConfig {
            images: out.join(OutputFolders::INPUTS),
            source,
            masks: out.join(OutputFolders::MASKS),
            map_kind: self.map_kind,
            threshold: self.threshold,
            calibration: self.calibration.clone(),
            largest_component: self.largest_component,
            smooth_sigma: self.smooth_sigma,
            allow_missing_masks: self.allow_missing_masks,
            out: out.to_path_buf(),
            overwrite: true,
            max_exact_pixels: self.max_exact_pixels,
            classes: self.classes.clone(),
        }
    }
}

/// The class of every test image of `dataset`, by the stem detection writes it under.
fn test_classes(dataset: &dyn Dataset) -> ClassOfStem {
    (0..dataset.len(Split::Test))
        .filter_map(|index| dataset.info(Split::Test, index))
        .map(|info| (output_stem(&info.id), info.class.clone()))
        .collect()
}

/// Everything that decides a detection's files besides the shard: equal in all shards of one
/// run, which [`merge_shards`] checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    /// The weights file of the model.
    pub weights: PathBuf,
    /// The model's training configuration (TOML).
    pub model: String,
    /// The dataset folder.
    pub dataset: PathBuf,
    /// Test images of the whole run.
    pub test_images: usize,
    /// Depths `t_λ`.
    pub t_lambdas: Vec<usize>,
    /// Reconstructions averaged per image.
    pub samples: usize,
    /// Network evaluations of a strided chain.
    pub strided_steps: Option<usize>,
    /// Test images per batch (the unit a shard takes).
    pub batch_size: usize,
    /// Seed of the detection noise.
    pub seed: u64,
    /// The guidance classifier folder and scale.
    pub guidance: Option<(PathBuf, f64)>,
    /// How the maps are scored.
    pub scoring: ScoringSettings,
}

impl RunSettings {
    /// The settings of detecting the test split of `dataset` with `trained` as `config` says.
    pub(super) fn of(trained: &TrainedModel, dataset: &dyn Dataset, config: &DetectConfig) -> Self {
        Self {
            weights: trained.weights.clone(),
            model: trained.config.to_toml(),
            dataset: dataset.root().to_path_buf(),
            test_images: dataset.len(Split::Test),
            t_lambdas: config.t_lambdas.clone(),
            samples: config.samples,
            strided_steps: config.strided_steps,
            batch_size: config.batch_size,
            seed: config.seed,
            guidance: config
                .guidance
                .as_ref()
                .map(|guidance| (guidance.classifier.clone(), guidance.scale)),
            scoring: ScoringSettings::of(config, dataset),
        }
    }
}

/// `detect.json`: how a detection folder's reconstructions and report were made, so that its
/// numbers can be reproduced (written by `detect` and by the merge of its shards).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectRecord {
    /// The run's settings.
    pub settings: RunSettings,
    /// Seconds spent reconstructing (summed over the shards of a merged run).
    pub reconstruction_seconds: f64,
    /// Shards the run was split into (1: unsharded).
    pub shards: usize,
}

impl DetectRecord {
    /// Writes the record into the detection folder `out` (atomically).
    pub(super) fn write(&self, out: &Path) -> Result<()> {
        let path = out.join(DETECT_RECORD_FILE);
        let text = serde_json::to_string_pretty(self).map_err(|error| DtunetError::Shard {
            path: path.clone(),
            problem: format!("cannot encode the detection record: {error}"),
        })?;
        write_atomically(&path, |file| {
            std::io::Write::write_all(file, text.as_bytes())
        })
    }
}

/// `shard.json`: which shard a folder holds and the images it wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardManifest {
    /// The shard.
    pub shard: Shard,
    /// The run's settings.
    pub settings: RunSettings,
    /// File stems of the images written (`tumor_003`).
    pub images: Vec<String>,
    /// Seconds spent reconstructing.
    pub reconstruction_seconds: f64,
}

impl ShardManifest {
    /// Writes the manifest into the shard folder `out` (atomically).
    pub(super) fn write(&self, out: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(|error| DtunetError::Shard {
            path: out.to_path_buf(),
            problem: format!("cannot encode the manifest: {error}"),
        })?;
        write_atomically(&out.join(SHARD_MANIFEST_FILE), |file| {
            std::io::Write::write_all(file, text.as_bytes())
        })
    }

    /// Reads the manifest of the shard folder `folder`.
    ///
    /// # Errors
    /// [`DtunetError::Shard`] when the folder has none or it does not parse.
    pub fn read(folder: &Path) -> Result<Self> {
        let path = folder.join(SHARD_MANIFEST_FILE);
        let text = fs::read_to_string(&path).map_err(|error| DtunetError::Shard {
            path: path.clone(),
            problem: format!(
                "cannot read it ({error}); expected the folder of a `dtunet detect --shard k/n` run"
            ),
        })?;
        serde_json::from_str(&text).map_err(|error| DtunetError::Shard {
            path,
            problem: format!("not a shard manifest of this version of dtunet: {error}"),
        })
    }
}

/// What [`merge_shards`] produced.
#[derive(Debug, Clone)]
pub struct MergeOutputs {
    /// The report of the merged folder.
    pub eval: EvalOutputs,
    /// Test images merged.
    pub images: usize,
    /// Shards merged.
    pub shards: usize,
    /// Reconstruction seconds summed over the shards.
    pub reconstruction_seconds: f64,
}

/// Joins the shard folders of one `detect --shard k/n` run (every `k` of `1..=n` once) into
/// `out` and scores it exactly as an unsharded run with the same settings.
///
/// # Errors
/// [`DtunetError::Shard`] for a folder without a manifest, settings that differ between
/// shards, a shard given twice or missing, or an image in two shards;
/// [`DtunetError::OutputFolder`] for a non-empty `out` without `overwrite`; whatever
/// [`evaluate`] reports.
pub fn merge_shards(
    shards: &[PathBuf],
    out: &Path,
    overwrite: bool,
    progress: &(dyn Fn(EvalProgress) + Sync),
) -> Result<MergeOutputs> {
    let manifests = checked_manifests(shards)?;
    let (first_folder, first) = &manifests[0];
    let settings = &first.settings;
    let images: usize = manifests.iter().map(|(_, m)| m.images.len()).sum();
    if images != settings.test_images {
        return Err(DtunetError::Shard {
            path: first_folder.clone(),
            problem: format!(
                "the shards hold {images} images but the run has {} test images",
                settings.test_images
            ),
        });
    }
    if shards.iter().any(|shard| same_folder(shard, out)) {
        return Err(DtunetError::OutputFolder {
            path: out.to_path_buf(),
            problem: "is one of the shard folders; give a new folder for the merged result",
        });
    }
    check_output_folder(out, overwrite)?;
    let folders = OutputFolders::create(out)?;
    let mut merged = HashSet::new();
    for (folder, manifest) in &manifests {
        for stem in &manifest.images {
            if !merged.insert(stem.as_str()) {
                return Err(DtunetError::Shard {
                    path: folder.clone(),
                    problem: format!("image {stem} is in another shard too"),
                });
            }
            folders.copy_image_from(folder, stem)?;
        }
    }
    write_class_json(&out.join(CLASSES_FILE), &settings.scoring.classes)?;
    let eval = evaluate(&settings.scoring.eval_config(out), progress)?;
    let reconstruction_seconds = manifests
        .iter()
        .map(|(_, m)| m.reconstruction_seconds)
        .sum();
    DetectRecord {
        settings: settings.clone(),
        reconstruction_seconds,
        shards: manifests.len(),
    }
    .write(out)?;
    Ok(MergeOutputs {
        eval,
        images,
        shards: manifests.len(),
        reconstruction_seconds,
    })
}

/// The manifests of `shards`, in shard order, once checked to form one complete run.
fn checked_manifests(shards: &[PathBuf]) -> Result<Vec<(PathBuf, ShardManifest)>> {
    let Some(first_folder) = shards.first() else {
        return Err(DtunetError::InvalidParameter {
            name: "--merge",
            found: "no folder".into(),
            expected: "the folders of every shard of one `detect --shard k/n` run".into(),
        });
    };
    let mut manifests: Vec<(PathBuf, ShardManifest)> = shards
        .iter()
        .map(|folder| Ok((folder.clone(), ShardManifest::read(folder)?)))
        .collect::<Result<_>>()?;
    let first = manifests[0].1.clone();
    for (folder, manifest) in &manifests[1..] {
        if manifest.shard.count != first.shard.count {
            return Err(DtunetError::Shard {
                path: folder.clone(),
                problem: format!(
                    "is shard {} but {} is shard {}: shards of different splits",
                    manifest.shard,
                    first_folder.display(),
                    first.shard
                ),
            });
        }
        if manifest.settings != first.settings {
            return Err(DtunetError::Shard {
                path: folder.clone(),
                problem: format!(
                    "was detected with other settings than {} ({}); merge shards of one run",
                    first_folder.display(),
                    differing_settings(&first.settings, &manifest.settings).join(", ")
                ),
            });
        }
    }
    manifests.sort_by_key(|(_, manifest)| manifest.shard.index);
    for pair in manifests.windows(2) {
        if pair[0].1.shard.index == pair[1].1.shard.index {
            return Err(DtunetError::Shard {
                path: pair[1].0.clone(),
                problem: format!(
                    "is shard {}, as is {}: each shard once",
                    pair[1].1.shard,
                    pair[0].0.display()
                ),
            });
        }
    }
    let present: Vec<usize> = manifests.iter().map(|(_, m)| m.shard.index).collect();
    if let Some(missing) = (1..=first.shard.count).find(|k| !present.contains(k)) {
        return Err(DtunetError::Shard {
            path: first_folder.clone(),
            problem: format!(
                "shard {missing}/{} is missing: give the folders of all {} shards",
                first.shard.count, first.shard.count
            ),
        });
    }
    Ok(manifests)
}

/// The names of the settings (`samples`, `scoring`, …) in which `a` and `b` differ.
fn differing_settings(a: &RunSettings, b: &RunSettings) -> Vec<String> {
    let (a, b) = (serde_json::to_value(a), serde_json::to_value(b));
    match (a, b) {
        (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) => a
            .iter()
            .filter(|(key, value)| b.get(key.as_str()) != Some(value))
            .map(|(key, _)| key.clone())
            .collect(),
        _ => vec!["their encoding".into()],
    }
}

/// Whether two paths name the same existing folder.
fn same_folder(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_split_the_batches_round_robin() {
        let shard: Shard = "2/3".parse().expect("valid");
        assert_eq!(shard, Shard::new(2, 3).expect("valid"));
        assert_eq!(shard.to_string(), "2/3");
        let held: Vec<usize> = (0..8).filter(|&b| shard.holds_batch(b)).collect();
        assert_eq!(held, [1, 4, 7]);
        for bad in ["0/3", "4/3", "1/0", "1", "a/b", ""] {
            let error = bad.parse::<Shard>().expect_err(bad).to_string();
            assert!(error.contains("k/n"), "{bad}: {error}");
        }
    }
}

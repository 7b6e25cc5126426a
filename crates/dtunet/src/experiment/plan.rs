//! A study's cells: the grid (plus included cells) over the base settings, which cells share a
//! trained model and which share reconstructions, the shard of each cell, and the plan's
//! identity on disk (`plan.json`), so a folder is only ever resumed with the same plan.

use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::DetectSettings;
use super::axis::Axis;
use super::study::Study;
use crate::error::{DtunetError, Result};
use crate::io::write_atomically;
use crate::training::TrainConfig;

/// File of a study folder that identifies its plan.
pub const PLAN_FILE: &str = "plan.json";

/// One point of the grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Folder name, from the values of the axes that vary (`loss-l1`, `arch-unet_noise-gauss`).
    pub id: String,
    /// The value of every axis of the study.
    pub values: Vec<(Axis, String)>,
    /// The training configuration.
    pub train: TrainConfig,
    /// The detection settings.
    pub detect: DetectSettings,
    /// Index of its model in [`Plan::trainings`].
    pub training: usize,
    /// The cell whose reconstructions this cell scores (it differs only in map or threshold);
    /// `None`: it reconstructs itself.
    pub reconstructions_from: Option<usize>,
}

impl Cell {
    /// The cell's value of `axis`.
    pub fn value(&self, axis: Axis) -> Option<&str> {
        self.values
            .iter()
            .find(|(known, _)| *known == axis)
            .map(|(_, value)| value.as_str())
    }
}

/// One model to train, shared by every cell listed.
#[derive(Debug, Clone, PartialEq)]
pub struct Training {
    /// Folder name under `models/`.
    pub id: String,
    /// Its configuration.
    pub config: TrainConfig,
    /// Indices of the cells that use it, in plan order.
    pub cells: Vec<usize>,
}

/// A deterministic part of a plan for one machine: `k/n` takes every n-th model (with all
/// cells that use it), starting with the k-th.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1-based index.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl Shard {
    /// The whole plan.
    pub const ALL: Shard = Shard { index: 1, count: 1 };

    /// Whether training `training` (its index in the plan) belongs to this shard.
    pub fn holds(&self, training: usize) -> bool {
        training % self.count == self.index - 1
    }
}

impl FromStr for Shard {
    type Err = DtunetError;

    fn from_str(text: &str) -> Result<Self> {
        let invalid = || DtunetError::InvalidParameter {
            name: "--shard",
            found: text.to_string(),
            expected: "k/n with 1 ≤ k ≤ n (e.g. 2/4)".into(),
        };
        let (index, count) = text.split_once('/').ok_or_else(invalid)?;
        let index: usize = index.trim().parse().map_err(|_| invalid())?;
        let count: usize = count.trim().parse().map_err(|_| invalid())?;
        if index == 0 || index > count {
            return Err(invalid());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// A study laid out as cells over its base settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The study.
    pub study: Study,
    /// The cells: the grid (first axis outermost), then the included cells.
    pub cells: Vec<Cell>,
    /// The models, in order of first use.
    pub trainings: Vec<Training>,
    /// What data the cells train and detect on (part of the plan's identity).
    pub data: String,
}

impl Plan {
    /// Lays `study` out over `base_train` and `base_detect`; every cell's settings are checked
    /// here, before anything runs. `data` describes the dataset.
    pub fn new(
        study: &Study,
        base_train: &TrainConfig,
        base_detect: &DetectSettings,
        data: &str,
    ) -> Result<Self> {
        let mut points = grid(&study.axes);
        for include in &study.includes {
            let point: Vec<(Axis, String)> = study
                .axes
                .iter()
                .map(|(axis, values)| {
                    let value = include
                        .iter()
                        .find(|(known, _)| known == axis)
                        .map_or_else(|| values[0].clone(), |(_, value)| value.clone());
                    (*axis, value)
                })
                .collect();
            if points.contains(&point) {
                return Err(DtunetError::Study {
                    study: study.origin.clone(),
                    problem: format!("included cell {} is already in the grid", describe(&point)),
                });
            }
            points.push(point);
        }
        let varying = |axis: Axis| {
            points.iter().any(|point| {
                point.iter().find(|(a, _)| *a == axis) != points[0].iter().find(|(a, _)| *a == axis)
            })
        };
        let varying: Vec<Axis> = study
            .axes
            .iter()
            .map(|(axis, _)| *axis)
            .filter(|axis| varying(*axis))
            .collect();

        let mut cells: Vec<Cell> = Vec::with_capacity(points.len());
        let mut trainings: Vec<Training> = Vec::new();
        for point in points {
            let mut train = base_train.clone();
            let mut detect = base_detect.clone();
            for (axis, value) in &point {
                axis.apply(value, &mut train, &mut detect);
            }
            let id = folder_name(&point, &varying, |_| true, "cell");
            train
                .validate()
                .and_then(|()| detect.validate(&train))
                .map_err(|error| DtunetError::Study {
                    study: study.origin.clone(),
                    problem: format!("cell {} cannot be built: {error}", describe(&point)),
                })?;
            if cells.iter().any(|cell| cell.id == id) {
                return Err(DtunetError::Study {
                    study: study.origin.clone(),
                    problem: format!("two cells are both named {id}: give distinct values"),
                });
            }
            let training = match trainings.iter().position(|t| t.config == train) {
                Some(index) => index,
                None => {
                    trainings.push(Training {
                        id: folder_name(&point, &varying, Axis::trains, "model"),
                        config: train.clone(),
                        cells: Vec::new(),
                    });
                    trainings.len() - 1
                }
            };
            let reconstructions_from = trainings[training].cells.iter().copied().find(|&other| {
                let other: &Cell = &cells[other];
                other.reconstructions_from.is_none()
                    && other.detect.reconstruction_part() == detect.reconstruction_part()
            });
            trainings[training].cells.push(cells.len());
            cells.push(Cell {
                id,
                values: point,
                train,
                detect,
                training,
                reconstructions_from,
            });
        }
        Ok(Plan {
            study: study.clone(),
            cells,
            trainings,
            data: data.to_string(),
        })
    }

    /// The cell's row in the study table: the values of the row axes joined by `,`.
    pub fn row_key(&self, cell: &Cell) -> String {
        key_of(&cell.values, &self.study.table.rows)
    }

    /// What `plan.json` holds: the study, the data and every cell's full settings.
    pub fn record(&self) -> PlanRecord {
        PlanRecord {
            study: self.study.name.clone(),
            data: self.data.clone(),
            cells: self
                .cells
                .iter()
                .map(|cell| PlannedCell {
                    id: cell.id.clone(),
                    values: cell.values.clone(),
                    model: self.trainings[cell.training].id.clone(),
                    train: cell.train.to_toml(),
                    detect: cell.detect.clone(),
                })
                .collect(),
        }
    }

    /// Lines for the study log: which cells share each model, and which score another cell's
    /// reconstructions.
    pub fn sharing_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for training in &self.trainings {
            let names: Vec<&str> = training
                .cells
                .iter()
                .map(|&index| self.cells[index].id.as_str())
                .collect();
            lines.push(format!(
                "model {} ({} steps) serves {} cell(s): {}",
                training.id,
                training.config.steps,
                names.len(),
                names.join(", ")
            ));
        }
        for cell in &self.cells {
            if let Some(source) = cell.reconstructions_from {
                lines.push(format!(
                    "cell {} scores the reconstructions of cell {}",
                    cell.id, self.cells[source].id
                ));
            }
        }
        lines
    }

    /// Writes `plan.json` into `folder`, or checks that the one there is this plan.
    ///
    /// # Errors
    /// The folder holds another study or the same study with other settings (the first
    /// difference is named), or the file cannot be read or written.
    pub fn claim_folder(&self, folder: &Path) -> Result<()> {
        let path = folder.join(PLAN_FILE);
        let record = self.record();
        if path.exists() {
            let existing = PlanRecord::read(&path)?;
            if let Some(difference) = existing.difference(&record) {
                return Err(DtunetError::Study {
                    study: format!("folder {}", folder.display()),
                    problem: format!(
                        "holds a different study run ({difference}): choose another --out, or \
                         pass --overwrite to replace it"
                    ),
                });
            }
            return Ok(());
        }
        let text = serde_json::to_string_pretty(&record).unwrap_or_default();
        write_atomically(&path, |out| std::io::Write::write_all(out, text.as_bytes()))
    }
}

/// `plan.json`: a study folder's identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanRecord {
    /// The study's name.
    pub study: String,
    /// The data.
    pub data: String,
    /// Every cell.
    pub cells: Vec<PlannedCell>,
}

/// One cell in `plan.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedCell {
    /// Its id.
    pub id: String,
    /// The value of every axis of the study.
    pub values: Vec<(Axis, String)>,
    /// Its model's id.
    pub model: String,
    /// Its training configuration as TOML.
    pub train: String,
    /// Its detection settings.
    pub detect: DetectSettings,
}

impl PlanRecord {
    /// Reads `plan.json`.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| DtunetError::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|error| DtunetError::Study {
            study: path.display().to_string(),
            problem: format!("not a study plan: {error}"),
        })
    }

    /// The first way `other` differs from this plan, if any.
    pub fn difference(&self, other: &PlanRecord) -> Option<String> {
        if self.study != other.study {
            return Some(format!("study {}, not {}", self.study, other.study));
        }
        if self.data != other.data {
            return Some(format!("data {}, not {}", self.data, other.data));
        }
        let ids = |plan: &PlanRecord| plan.cells.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
        if ids(self) != ids(other) {
            return Some(format!(
                "cells {}, not {}",
                ids(self).join(", "),
                ids(other).join(", ")
            ));
        }
        for (held, asked) in self.cells.iter().zip(&other.cells) {
            if held.train != asked.train {
                let line = held
                    .train
                    .lines()
                    .zip(asked.train.lines())
                    .find(|(a, b)| a != b)
                    .map_or_else(String::new, |(a, b)| format!(": {a:?} there, {b:?} now"));
                return Some(format!("cell {} trains differently{line}", held.id));
            }
            if held.detect != asked.detect {
                return Some(format!(
                    "cell {} detects differently: {:?} there, {:?} now",
                    held.id, held.detect, asked.detect
                ));
            }
        }
        None
    }
}

/// Every combination of the axes' values, the first axis outermost.
fn grid(axes: &[(Axis, Vec<String>)]) -> Vec<Vec<(Axis, String)>> {
    axes.iter()
        .fold(vec![Vec::new()], |points, (axis, values)| {
            points
                .iter()
                .flat_map(|point| {
                    values.iter().map(move |value| {
                        let mut extended = point.clone();
                        extended.push((*axis, value.clone()));
                        extended
                    })
                })
                .collect()
        })
}

/// `axis-value` for each varying axis `keep` accepts, joined by `_`; `fallback` when none.
fn folder_name(
    point: &[(Axis, String)],
    varying: &[Axis],
    keep: impl Fn(Axis) -> bool,
    fallback: &str,
) -> String {
    let parts: Vec<String> = point
        .iter()
        .filter(|(axis, _)| varying.contains(axis) && keep(*axis))
        .map(|(axis, value)| {
            let value: String = value
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '.' {
                        c
                    } else {
                        '-'
                    }
                })
                .collect();
            format!("{}-{value}", axis.name())
        })
        .collect();
    if parts.is_empty() {
        fallback.to_string()
    } else {
        parts.join("_")
    }
}

/// The values of `axes` in `point`, joined by `,`.
pub fn key_of(point: &[(Axis, String)], axes: &[Axis]) -> String {
    axes.iter()
        .filter_map(|axis| point.iter().find(|(known, _)| known == axis))
        .map(|(_, value)| value.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// `loss=l1, seed=0`.
fn describe(point: &[(Axis, String)]) -> String {
    point
        .iter()
        .map(|(axis, value)| format!("{axis}={value}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::training::Preset;

    fn plan_of(text: &str) -> Result<Plan> {
        let study = Study::parse(text, "s.toml")?;
        let base = study.base_train(Preset::Demo)?;
        Plan::new(&study, &base, &study.detect, "synthetic")
    }

    const CURVES: &str = r#"
name = "curves"
title = "t"
[axes]
noise = ["gauss", "tsimplex"]
t_lambda = [50, 100]
map = ["se", "ae"]
[table]
rows = ["noise", "map"]
columns = "t_lambda"
metrics = ["ssim"]
"#;

    #[test]
    fn cells_share_models_and_reconstructions() {
        let plan = plan_of(CURVES).expect("accepted");
        assert_eq!(plan.cells.len(), 8);
        assert_eq!(plan.trainings.len(), 2);
        assert_eq!(plan.trainings[0].id, "noise-gauss");
        assert_eq!(plan.cells[0].id, "noise-gauss_t_lambda-50_map-se");
        assert_eq!(plan.cells[1].reconstructions_from, Some(0));
        assert_eq!(plan.cells[2].reconstructions_from, None);
        assert_eq!(plan.cells[3].reconstructions_from, Some(2));
        assert_eq!(plan.trainings[1].cells, vec![4, 5, 6, 7]);
        assert_eq!(plan.row_key(&plan.cells[5]), "tsimplex,ae");
        let lines = plan.sharing_lines();
        assert!(lines[0].contains("serves 4 cell(s)"), "{lines:?}");
        assert!(
            lines
                .iter()
                .any(|l| l.contains("scores the reconstructions"))
        );
    }

    #[test]
    fn smoothing_cells_score_shared_reconstructions() {
        let text = CURVES
            .replace("map = [\"se\", \"ae\"]", "smooth = [0, 1.5]")
            .replace(
                "rows = [\"noise\", \"map\"]",
                "rows = [\"noise\", \"smooth\"]",
            );
        let plan = plan_of(&text).expect("plans");
        assert_eq!(plan.cells[1].id, "noise-gauss_t_lambda-50_smooth-1.5");
        assert_eq!(plan.cells[1].reconstructions_from, Some(0));
        assert_eq!(plan.cells[1].detect.smooth, 1.5);
    }

    #[test]
    fn every_built_in_study_plans_at_both_presets() {
        for (name, text) in crate::experiment::BUILT_IN_STUDIES {
            let study = Study::parse(text, name).expect("parses");
            for preset in [Preset::Demo, Preset::Paper] {
                let base = study.base_train(preset).expect("base");
                let plan = Plan::new(&study, &base, &study.detect, "synthetic")
                    .unwrap_or_else(|e| panic!("{name} at {preset:?}: {e}"));
                let expected = match name {
                    "table5-losses" => (8, 8),
                    "fig13-noise-steps" => (20, 5),
                    "fig7-averaging" => (10, 1),
                    _ => (7, 7),
                };
                assert_eq!((plan.cells.len(), plan.trainings.len()), expected, "{name}");
            }
        }
    }

    #[test]
    fn shards_split_by_model_and_cover_the_plan_once() {
        let plan = plan_of(CURVES).expect("accepted");
        let shards: Vec<Shard> = ["1/2", "2/2"]
            .iter()
            .map(|s| s.parse().expect("accepted"))
            .collect();
        let held: Vec<usize> = (0..plan.trainings.len())
            .map(|t| shards.iter().filter(|s| s.holds(t)).count())
            .collect();
        assert_eq!(held, vec![1, 1]);
        assert!(shards[0].holds(0) && shards[1].holds(1));
        for bad in ["0/2", "3/2", "2", "a/b"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_cell_that_cannot_be_built_is_named_before_anything_runs() {
        let text = CURVES.replace("t_lambda = [50, 100]", "t_lambda = [50, 5000]");
        let error = plan_of(&text).expect_err("refused").to_string();
        assert!(
            error.contains("t_lambda=5000") && error.contains("1000-step"),
            "{error}"
        );
        let text = r#"
name = "daff"
title = "t"
[axes]
noise = ["kts"]
[train]
noise = { kts_patch = 5 }
[table]
rows = ["noise"]
metrics = ["dice"]
"#;
        let error = plan_of(text).expect_err("refused").to_string();
        assert!(
            error.contains("noise=kts") && error.contains("kts_patch = 5"),
            "{error}"
        );
    }

    #[test]
    fn a_folder_is_only_resumed_with_the_same_plan() {
        let folder = tempfile::tempdir().expect("accepted");
        let plan = plan_of(CURVES).expect("accepted");
        plan.claim_folder(folder.path()).expect("accepted");
        plan.claim_folder(folder.path()).expect("accepted");
        let mut other = plan.clone();
        other.cells[3].train.steps += 1;
        let error = other
            .claim_folder(folder.path())
            .expect_err("refused")
            .to_string();
        assert!(
            error.contains("noise-gauss_t_lambda-100_map-ae trains differently")
                && error.contains("steps"),
            "{error}"
        );
        let smaller = plan_of(&CURVES.replace("map = [\"se\", \"ae\"]", "")).expect_err("refused");
        assert!(smaller.to_string().contains("map"), "{smaller}");
    }
}

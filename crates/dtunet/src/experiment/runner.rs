//! The study loop: for each model of the shard, train it (or resume its training) once, then
//! detect and score each of its cells, recording every finished or failed cell at once, so a
//! study killed at any moment loses at most the running cell's work since its last
//! checkpoint.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::metrics::{CellRecord, CellStatus, ClassMetrics, Metric, MetricValue};
use super::plan::{Cell, Plan, Shard, Training};
use super::report::{StudyResults, write_outputs};
use crate::error::{DtunetError, Result};
use crate::evaluate::Summary;
use crate::io::{TimedLog, write_atomically};

/// Folder of a study folder that holds one folder per cell.
pub const CELLS_FOLDER: &str = "cells";
/// Folder of a study folder that holds one training run per model.
pub const MODELS_FOLDER: &str = "models";
/// A cell's record, in its folder.
pub const RESULT_FILE: &str = "result.json";
/// Marks a finished training, in the model's folder.
pub const TRAINED_FILE: &str = "trained.json";
/// The study's log.
pub const LOG_FILE: &str = "study.log";
/// The study definition, copied into the study folder.
pub const STUDY_FILE: &str = "study.toml";
/// A cell's detection outputs, in its folder.
pub const DETECT_FOLDER: &str = "detect";

/// A finished training (`models/<id>/trained.json`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainedModelInfo {
    /// Training seconds over all sessions.
    pub seconds: f64,
    /// Mean loss over the last 10 % of the steps.
    pub tail_loss: f64,
}

/// What a detection or a re-scoring measured.
#[derive(Debug, Clone, PartialEq)]
pub struct CellScores {
    /// Metric name → value.
    pub metrics: BTreeMap<String, MetricValue>,
    /// The metrics of each class of the test set (empty when it has none).
    pub per_class: ClassMetrics,
    /// Seconds spent.
    pub seconds: f64,
}

impl CellScores {
    /// Every metric of a detection's `summary`, as a whole and per class, with the `seconds`
    /// it took.
    pub fn of(summary: &Summary, seconds: f64) -> Self {
        Self {
            metrics: Metric::all_of(summary),
            per_class: Metric::per_class_of(summary),
            seconds,
        }
    }
}

/// The work behind the cells (the CLI trains and detects with Burn; tests use a stand-in).
pub trait CellWork {
    /// Trains `training` into `folder`, continuing from its newest checkpoint when it has one.
    fn train(&mut self, training: &Training, folder: &Path) -> Result<TrainedModelInfo>;
    /// Detects on the test split with the model trained in `model` and scores into `out`.
    fn detect(&mut self, cell: &Cell, model: &Path, out: &Path) -> Result<CellScores>;
    /// Scores the reconstructions a detection wrote into `source` with the cell's map and
    /// threshold, into `out`.
    fn rescore(&mut self, cell: &Cell, source: &Path, out: &Path) -> Result<CellScores>;
}

/// What the cell is doing, for progress displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Training (or resuming) its model.
    Training,
    /// Reconstructing and scoring.
    Detecting,
    /// Scoring another cell's reconstructions.
    Rescoring,
}

/// Receives the study's progress.
pub trait StudyObserver {
    /// The session starts: `pending` cells to run, `finished` already recorded (this shard).
    fn started(&mut self, pending: usize, finished: usize);
    /// A cell enters a phase.
    fn phase(&mut self, cell: &Cell, phase: Phase);
    /// A cell was recorded.
    fn cell_finished(&mut self, record: &CellRecord);
    /// A line worth showing.
    fn message(&mut self, text: &str);
}

/// How to run a study.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOptions {
    /// The part of the plan this machine runs.
    pub shard: Shard,
    /// Run cells recorded as failed again (else they stay recorded as failed).
    pub retry_failed: bool,
}

/// What a session did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSummary {
    /// Cells of the shard recorded before this session.
    pub finished_before: usize,
    /// Cells this session recorded as done.
    pub done: usize,
    /// Cells this session recorded as failed.
    pub failed: usize,
    /// Cells left to other shards.
    pub other_shards: usize,
}

/// Runs the cells of `options.shard` of `plan` in `folder` that are not yet recorded, then
/// writes the study's outputs (tables, plots, report) for every recorded cell.
///
/// # Errors
/// The folder holds another plan, or a file of the study folder cannot be written; a failing
/// cell does not stop the study (it is recorded as failed with its reason).
pub fn run_study(
    plan: &Plan,
    folder: &Path,
    options: RunOptions,
    work: &mut dyn CellWork,
    observer: &mut dyn StudyObserver,
) -> Result<RunSummary> {
    create_folder(folder)?;
    plan.claim_folder(folder)?;
    let study_file = folder.join(STUDY_FILE);
    if !study_file.exists() {
        write_atomically(&study_file, |out| out.write_all(plan.study.text.as_bytes()))?;
    }
    let mut log = TimedLog::open(&folder.join(LOG_FILE))?;
    log.line(&format!(
        "session starts: study {}, shard {}, {} cells, {} models (unix time {})",
        plan.study.name,
        options.shard,
        plan.cells.len(),
        plan.trainings.len(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs())
    ))?;
    for line in plan.sharing_lines() {
        log.line(&line)?;
    }

    let mut records: BTreeMap<usize, CellRecord> = BTreeMap::new();
    for (index, cell) in plan.cells.iter().enumerate() {
        if let Some(record) = read_record(folder, cell, &mut log)? {
            records.insert(index, record);
        }
    }
    let in_shard: Vec<usize> = (0..plan.trainings.len())
        .filter(|&training| options.shard.holds(training))
        .collect();
    let shard_cells: Vec<usize> = in_shard
        .iter()
        .flat_map(|&training| plan.trainings[training].cells.iter().copied())
        .collect();
    let is_pending = |index: &usize, records: &BTreeMap<usize, CellRecord>| match records.get(index)
    {
        None => true,
        Some(record) => record.status == CellStatus::Failed && options.retry_failed,
    };
    let pending_count = shard_cells
        .iter()
        .filter(|index| is_pending(index, &records))
        .count();
    let mut summary = RunSummary {
        finished_before: shard_cells.len() - pending_count,
        done: 0,
        failed: 0,
        other_shards: plan.cells.len() - shard_cells.len(),
    };
    observer.started(pending_count, summary.finished_before);
    log.line(&format!(
        "{pending_count} cell(s) to run, {} already recorded, {} in other shards",
        summary.finished_before, summary.other_shards
    ))?;

    let mut outputs_current = false;
    for &training_index in &in_shard {
        let training = &plan.trainings[training_index];
        let pending: Vec<usize> = training
            .cells
            .iter()
            .copied()
            .filter(|index| is_pending(index, &records))
            .collect();
        let Some(&first) = pending.first() else {
            continue;
        };
        let model_folder = folder.join(MODELS_FOLDER).join(&training.id);
        observer.phase(&plan.cells[first], Phase::Training);
        let trained = ensure_trained(training, &model_folder, work, &mut log);
        for index in pending {
            let cell = &plan.cells[index];
            let cell_folder = folder.join(CELLS_FOLDER).join(&cell.id);
            let out = cell_folder.join(DETECT_FOLDER);
            let source = cell
                .reconstructions_from
                .filter(|source| {
                    records
                        .get(source)
                        .is_some_and(|r| r.status == CellStatus::Done)
                })
                .map(|source| &plan.cells[source]);
            let outcome = match (&trained, source) {
                (Err(reason), _) => Err(format!("training model {} failed: {reason}", training.id)),
                (Ok(_), Some(source)) => {
                    observer.phase(cell, Phase::Rescoring);
                    let source_out = folder
                        .join(CELLS_FOLDER)
                        .join(&source.id)
                        .join(DETECT_FOLDER);
                    guarded(|| work.rescore(cell, &source_out, &out))
                }
                (Ok(_), None) => {
                    observer.phase(cell, Phase::Detecting);
                    guarded(|| work.detect(cell, &model_folder, &out))
                }
            };
            let trained_info = trained.as_ref().ok();
            let record = CellRecord {
                cell: cell.id.clone(),
                values: cell
                    .values
                    .iter()
                    .map(|(axis, value)| (axis.name().to_string(), value.clone()))
                    .collect(),
                status: if outcome.is_ok() {
                    CellStatus::Done
                } else {
                    CellStatus::Failed
                },
                reason: outcome.as_ref().err().cloned(),
                model: training.id.clone(),
                reconstructions_from: source.map(|source| source.id.clone()),
                metrics: outcome
                    .as_ref()
                    .map(|scores| scores.metrics.clone())
                    .unwrap_or_default(),
                per_class: outcome
                    .as_ref()
                    .map(|scores| scores.per_class.clone())
                    .unwrap_or_default(),
                train_seconds: trained_info.map(|info| info.seconds),
                tail_loss: trained_info.map(|info| info.tail_loss),
                detect_seconds: outcome.as_ref().ok().map(|scores| scores.seconds),
                report: outcome
                    .as_ref()
                    .ok()
                    .map(|_| format!("{CELLS_FOLDER}/{}/{DETECT_FOLDER}/report.html", cell.id)),
            };
            create_folder(&cell_folder)?;
            let text = serde_json::to_string_pretty(&record).unwrap_or_default();
            write_atomically(&cell_folder.join(RESULT_FILE), |file| {
                file.write_all(text.as_bytes())
            })?;
            match &record.reason {
                None => {
                    summary.done += 1;
                    log.line(&format!("cell {} done", cell.id))?;
                }
                Some(reason) => {
                    summary.failed += 1;
                    log.line(&format!("cell {} failed: {reason}", cell.id))?;
                    observer.message(&format!("cell {} failed: {reason}", cell.id));
                }
            }
            observer.cell_finished(&record);
            records.insert(index, record);
        }
        // After every model, so a long study's tables show what is done so far.
        write_outputs(&StudyResults::load(&[folder.to_path_buf()])?, folder)?;
        outputs_current = true;
    }
    if !outputs_current {
        write_outputs(&StudyResults::load(&[folder.to_path_buf()])?, folder)?;
    }
    log.line(&format!(
        "session ends: {} done, {} failed",
        summary.done, summary.failed
    ))?;
    Ok(summary)
}

/// The model's `trained.json`, training it first when it is missing; the error text when the
/// training fails.
fn ensure_trained(
    training: &Training,
    model_folder: &Path,
    work: &mut dyn CellWork,
    log: &mut TimedLog,
) -> std::result::Result<TrainedModelInfo, String> {
    let marker = model_folder.join(TRAINED_FILE);
    if let Ok(text) = fs::read_to_string(&marker)
        && let Ok(info) = serde_json::from_str::<TrainedModelInfo>(&text)
    {
        return Ok(info);
    }
    let _ = log.line(&format!("training model {}", training.id));
    create_folder(model_folder).map_err(|e| chain(&e))?;
    let info = guarded(|| work.train(training, model_folder))?;
    let text = serde_json::to_string_pretty(&info).unwrap_or_default();
    write_atomically(&marker, |file| file.write_all(text.as_bytes())).map_err(|e| chain(&e))?;
    let _ = log.line(&format!(
        "model {} trained ({:.0} s, tail loss {:.5})",
        training.id, info.seconds, info.tail_loss
    ));
    Ok(info)
}

/// Runs `job`, turning its error, or a panic, into the reason recorded for the cell.
fn guarded<T>(job: impl FnOnce() -> Result<T>) -> std::result::Result<T, String> {
    match catch_unwind(AssertUnwindSafe(job)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(chain(&error)),
        Err(panic) => Err(format!(
            "internal error: {}",
            panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("a panic")
        )),
    }
}

/// The error and its causes, `: `-separated.
fn chain(error: &DtunetError) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// The cell's record, when it has a readable one.
fn read_record(folder: &Path, cell: &Cell, log: &mut TimedLog) -> Result<Option<CellRecord>> {
    let path = folder.join(CELLS_FOLDER).join(&cell.id).join(RESULT_FILE);
    let Ok(text) = fs::read_to_string(&path) else {
        return Ok(None);
    };
    match serde_json::from_str::<CellRecord>(&text) {
        Ok(record) if record.cell == cell.id => Ok(Some(record)),
        _ => {
            log.line(&format!(
                "{} is not a record of cell {}: the cell runs again",
                path.display(),
                cell.id
            ))?;
            Ok(None)
        }
    }
}

fn create_folder(folder: &Path) -> Result<()> {
    fs::create_dir_all(folder).map_err(|source| DtunetError::Io {
        action: "create folder",
        path: folder.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::study::Study;
    use crate::training::Preset;

    const STUDY: &str = r#"
name = "fake"
title = "two losses, two maps"
[axes]
loss = ["l1", "l2"]
map = ["se", "ae"]
[table]
rows = ["loss", "map"]
metrics = ["dice"]
"#;

    #[derive(Default)]
    struct FakeWork {
        trained: Vec<String>,
        detected: Vec<String>,
        rescored: Vec<String>,
        failing_training: Option<&'static str>,
        panicking_detection: Option<&'static str>,
    }

    fn scores(cell: &Cell) -> CellScores {
        let dice = match (
            cell.value(super::super::Axis::Loss),
            cell.value(super::super::Axis::Map),
        ) {
            (Some("l1"), Some("se")) => 0.3,
            (Some("l1"), _) => 0.31,
            (_, Some("se")) => 0.6,
            _ => 0.61,
        };
        let aupro = |value: f64| [("aupro".to_string(), MetricValue::single(value))].into();
        CellScores {
            metrics: [("dice".to_string(), MetricValue::spread(dice, 0.1, 10))].into(),
            per_class: [
                ("crack".to_string(), aupro(dice + 0.2)),
                ("stain".to_string(), aupro(dice - 0.2)),
            ]
            .into(),
            seconds: 0.5,
        }
    }

    impl CellWork for FakeWork {
        fn train(&mut self, training: &Training, _folder: &Path) -> Result<TrainedModelInfo> {
            if self.failing_training == Some(training.id.as_str()) {
                return Err(DtunetError::InvalidParameter {
                    name: "loss",
                    found: "NaN at step 3".into(),
                    expected: "a finite loss".into(),
                });
            }
            self.trained.push(training.id.clone());
            Ok(TrainedModelInfo {
                seconds: 1.0,
                tail_loss: 0.25,
            })
        }

        fn detect(&mut self, cell: &Cell, _model: &Path, _out: &Path) -> Result<CellScores> {
            if self.panicking_detection == Some(cell.id.as_str()) {
                panic!("boom");
            }
            self.detected.push(cell.id.clone());
            Ok(scores(cell))
        }

        fn rescore(&mut self, cell: &Cell, _source: &Path, _out: &Path) -> Result<CellScores> {
            self.rescored.push(cell.id.clone());
            Ok(scores(cell))
        }
    }

    struct Quiet;

    impl StudyObserver for Quiet {
        fn started(&mut self, _pending: usize, _finished: usize) {}
        fn phase(&mut self, _cell: &Cell, _phase: Phase) {}
        fn cell_finished(&mut self, _record: &CellRecord) {}
        fn message(&mut self, _text: &str) {}
    }

    fn plan() -> Plan {
        let study = Study::parse(STUDY, "fake.toml").expect("study");
        let base = study.base_train(Preset::Demo).expect("base");
        Plan::new(&study, &base, &study.detect, "synthetic").expect("plan")
    }

    fn run(folder: &Path, work: &mut FakeWork, options: RunOptions) -> RunSummary {
        run_study(&plan(), folder, options, work, &mut Quiet).expect("study runs")
    }

    const WHOLE: RunOptions = RunOptions {
        shard: Shard::ALL,
        retry_failed: false,
    };

    fn csv_rows(folder: &Path) -> Vec<String> {
        let text = fs::read_to_string(folder.join("results.csv")).expect("results.csv");
        text.lines().skip(1).map(str::to_string).collect()
    }

    #[test]
    fn each_model_trains_once_and_a_second_session_skips_recorded_cells() {
        let folder = tempfile::tempdir().expect("temp dir");
        let mut work = FakeWork::default();
        let summary = run(folder.path(), &mut work, WHOLE);
        assert_eq!(work.trained, vec!["loss-l1", "loss-l2"]);
        assert_eq!(work.detected, vec!["loss-l1_map-se", "loss-l2_map-se"]);
        assert_eq!(work.rescored, vec!["loss-l1_map-ae", "loss-l2_map-ae"]);
        assert_eq!((summary.done, summary.failed), (4, 0));
        let rows = csv_rows(folder.path());
        assert_eq!(rows.len(), 4);
        assert!(rows.iter().all(|row| row.contains(",done,")), "{rows:?}");
        let table = fs::read_to_string(folder.path().join("table.md")).expect("table.md");
        assert!(
            table.contains("| l2 + ae | **0.6100 ± 0.1000** |"),
            "{table}"
        );
        let per_class = fs::read_to_string(folder.path().join("per_class.csv")).expect("csv");
        assert!(
            per_class.contains("\nloss-l2_map-ae,crack,,,0.81,,,\n")
                && per_class.contains("\nloss-l2_map-ae,stain,,,0.41,,,\n"),
            "{per_class}"
        );
        let record: CellRecord = serde_json::from_str(
            &fs::read_to_string(
                folder
                    .path()
                    .join(CELLS_FOLDER)
                    .join("loss-l1_map-se")
                    .join(RESULT_FILE),
            )
            .expect("result.json"),
        )
        .expect("a record");
        let stain = record.class_metric("stain", super::super::Metric::Aupro);
        assert!((stain.expect("recorded").mean - 0.1).abs() < 1e-12);
        let log = fs::read_to_string(folder.path().join(LOG_FILE)).expect("log");
        assert!(
            log.contains("model loss-l1 (2000 steps) serves 2 cell(s)"),
            "{log}"
        );

        let mut again = FakeWork::default();
        let summary = run(folder.path(), &mut again, WHOLE);
        assert!(again.trained.is_empty() && again.detected.is_empty());
        assert_eq!((summary.finished_before, summary.done), (4, 0));
        assert_eq!(csv_rows(folder.path()).len(), 4);
    }

    #[test]
    fn a_failing_training_is_recorded_with_its_reason_and_the_study_goes_on() {
        let folder = tempfile::tempdir().expect("temp dir");
        let mut work = FakeWork {
            failing_training: Some("loss-l1"),
            ..FakeWork::default()
        };
        let summary = run(folder.path(), &mut work, WHOLE);
        assert_eq!((summary.done, summary.failed), (2, 2));
        let rows = csv_rows(folder.path());
        assert!(
            rows[0].starts_with("loss-l1_map-se,failed,")
                && rows[0].contains("training model loss-l1 failed: loss = NaN at step 3"),
            "{rows:?}"
        );
        let table = fs::read_to_string(folder.path().join("table.md")).expect("table.md");
        assert!(table.contains("| l1 + se | failed |"), "{table}");

        let mut kept = FakeWork::default();
        run(folder.path(), &mut kept, WHOLE);
        assert!(kept.trained.is_empty(), "failed cells stay recorded");
        let mut retried = FakeWork::default();
        let retry = RunOptions {
            retry_failed: true,
            ..WHOLE
        };
        let summary = run(folder.path(), &mut retried, retry);
        assert_eq!(retried.trained, vec!["loss-l1"]);
        assert_eq!((summary.done, summary.failed), (2, 0));
    }

    #[test]
    fn a_panicking_detection_fails_its_cell_only() {
        let folder = tempfile::tempdir().expect("temp dir");
        let mut work = FakeWork {
            panicking_detection: Some("loss-l2_map-se"),
            ..FakeWork::default()
        };
        let summary = run(folder.path(), &mut work, WHOLE);
        assert_eq!((summary.done, summary.failed), (3, 1));
        assert!(work.detected.contains(&"loss-l2_map-ae".to_string()));
        let record: CellRecord = serde_json::from_str(
            &fs::read_to_string(folder.path().join("cells/loss-l2_map-se/result.json"))
                .expect("record"),
        )
        .expect("json");
        assert_eq!(record.reason.as_deref(), Some("internal error: boom"));
    }

    #[test]
    fn shards_run_disjoint_models_and_merge_into_one_report() {
        let (first, second) = (
            tempfile::tempdir().expect("a"),
            tempfile::tempdir().expect("b"),
        );
        let shard = |text: &str| RunOptions {
            shard: text.parse().expect("shard"),
            retry_failed: false,
        };
        let (mut a, mut b) = (FakeWork::default(), FakeWork::default());
        let summary = run(first.path(), &mut a, shard("1/2"));
        run(second.path(), &mut b, shard("2/2"));
        assert_eq!(
            (a.trained, b.trained),
            (vec!["loss-l1".into()], vec!["loss-l2".into()])
        );
        assert_eq!(summary.other_shards, 2);
        let merged =
            StudyResults::load(&[first.path().into(), second.path().into()]).expect("same plan");
        assert_eq!(merged.counts(), (4, 0));
        let merged_out = tempfile::tempdir().expect("out");
        write_outputs(&merged, merged_out.path()).expect("outputs");
        let rows = csv_rows(merged_out.path());
        assert_eq!(rows.len(), 4);
        assert!(rows.iter().all(|row| row.contains(",done,")), "{rows:?}");

        let other = tempfile::tempdir().expect("other");
        let study = Study::parse(
            &STUDY.replace("\"l2\"", "\"l3\"").replace("l3", "ssim"),
            "o",
        )
        .expect("study");
        let base = study.base_train(Preset::Demo).expect("base");
        let plan = Plan::new(&study, &base, &study.detect, "synthetic").expect("plan");
        run_study(
            &plan,
            other.path(),
            WHOLE,
            &mut FakeWork::default(),
            &mut Quiet,
        )
        .expect("runs");
        let error = StudyResults::load(&[first.path().into(), other.path().into()])
            .expect_err("another plan")
            .to_string();
        assert!(
            error.contains("holds another plan") && error.contains("ssim"),
            "{error}"
        );
    }
}

//! `dtunet experiment` as a user runs it: a micro-study (two losses, a tiny model on the
//! embedded synthetic brain set at 16 px) killed with SIGKILL in the middle of its first
//! training, resumed to the end with every cell recorded once; a second machine's shard merged
//! by `report`; a changed setting, a wrong study file and a foreign folder refused by name
//! before anything trains; the built-in studies listed and shown.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use predicates::prelude::*;

/// The binary under test.
const DTUNET: &str = env!("CARGO_BIN_EXE_dtunet");

fn dtunet() -> Command {
    Command::new(DTUNET)
}

/// Two cells (L1 and L2) sharing everything else: a model of a few thousand parameters on
/// 16 px images, Gaussian noise over a 100-step chain, detection from t_λ = 10.
const MICRO_STUDY: &str = r#"
name = "micro"
title = "Micro-study: two losses"
description = "The CI check of dtunet experiment."

[axes]
loss = ["l1", "l2"]

[train]
steps = 120
checkpoint_every = 5
keep_checkpoints = 2
sample_every = 0
batch_size = 4
sample_distance = 0
model = { img_size = 16, patch_size = 4, embed_dim = 16, depth = 2, heads = 2 }
noise = { kind = "gauss" }
diffusion = { steps = 100 }

[detect]
t_lambda = 10
samples = 1
batch_size = 20

[table]
rows = ["loss"]
metrics = ["dice", "auroc_pooled", "ece_se"]

[labels]
l1 = "L1"
l2 = "L2"

[paper]
source = "paper (BrainMRI)"

[[paper.rows]]
label = "L1"
row = "l1"
values = { dice = "0.3861 ± 0.2267", ece_se = 0.07057 }
"#;

fn write_study(folder: &Path) -> PathBuf {
    let path = folder.join("micro.toml");
    fs::write(&path, MICRO_STUDY).expect("study file");
    path
}

fn run_args(study: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "experiment".to_string(),
        "run".into(),
        study.display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn data_rows(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .expect("csv written")
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect()
}

fn has_checkpoint(model: &Path) -> bool {
    fs::read_dir(model.join("checkpoints")).is_ok_and(|entries| {
        entries
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .any(|name| name.starts_with("step-"))
    })
}

#[test]
fn a_study_killed_mid_training_resumes_and_records_every_cell_once() {
    let folder = tempfile::tempdir().expect("temp dir");
    let study = write_study(folder.path());
    let out = folder.path().join("study");
    let args = run_args(&study, &out, &[]);

    let mut child = Process::new(DTUNET)
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dtunet experiment run");
    let first_model = out.join("models/loss-l1");
    let clock = Instant::now();
    while !has_checkpoint(&first_model) {
        if let Some(status) = child.try_wait().expect("poll") {
            panic!("the study ended ({status}) before its first checkpoint");
        }
        assert!(
            clock.elapsed() < Duration::from_secs(300),
            "no checkpoint after five minutes"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(
        child.try_wait().expect("poll").is_none(),
        "the study finished before it could be killed"
    );
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    assert!(
        !first_model.join("trained.json").exists(),
        "killed mid-training"
    );
    assert!(!out.join("cells/loss-l1/result.json").exists());

    let output = Process::new(DTUNET)
        .args(&args)
        .output()
        .expect("run dtunet");
    let stderr = stderr_of(&output);
    assert!(output.status.success(), "{stderr}");
    let train_log = fs::read_to_string(first_model.join("train.log")).expect("train.log");
    assert!(train_log.contains("resuming from"), "{train_log}");

    let rows = data_rows(&out.join("results.csv"));
    assert_eq!(rows.len(), 2, "{rows:?}");
    for cell in ["loss-l1", "loss-l2"] {
        let matching: Vec<&String> = rows
            .iter()
            .filter(|row| row.starts_with(&format!("{cell},")))
            .collect();
        assert_eq!(matching.len(), 1, "{cell}: {rows:?}");
        assert!(matching[0].contains(",done,"), "{}", matching[0]);
    }
    let table = fs::read_to_string(out.join("table.md")).expect("table.md");
    assert_eq!(
        table.matches("| L1 |").count(),
        2,
        "ours and the paper's: {table}"
    );
    assert_eq!(table.matches("| L2 |").count(), 1, "{table}");
    assert!(table.contains("| *paper (BrainMRI)* |"), "{table}");
    assert!(table.contains("0.3861 ± 0.2267"), "{table}");
    for file in [
        "table.csv",
        "table.tex",
        "report.html",
        "cells/loss-l2/detect/report.html",
    ] {
        assert!(out.join(file).is_file(), "{file}");
    }
    let report = fs::read_to_string(out.join("report.html")).expect("report");
    assert!(
        report.contains("cells/loss-l1/detect/report.html"),
        "links each cell"
    );
    // The test set's one class (tumor), per cell, equal to the cell's pooled metrics.
    let per_class = data_rows(&out.join("per_class.csv"));
    assert_eq!(per_class.len(), 2, "{per_class:?}");
    for (row, cell) in per_class.iter().zip(["loss-l1", "loss-l2"]) {
        let pooled: serde_json::Value = serde_json::from_str(
            &fs::read_to_string(out.join("cells").join(cell).join("detect/summary.json"))
                .expect("summary.json"),
        )
        .expect("json");
        let auroc = pooled["auroc_pooled"].as_f64().expect("pooled AUROC");
        assert!(
            row.starts_with(&format!("{cell},tumor,{auroc},")),
            "{row} vs {auroc}"
        );
    }
    assert!(report.contains("<h2>Per class</h2>"), "per-class section");
    let log = fs::read_to_string(out.join("study.log")).expect("study.log");
    assert_eq!(log.matches("session starts").count(), 2, "{log}");

    // A third session has nothing left to do.
    let output = Process::new(DTUNET)
        .args(&args)
        .output()
        .expect("run dtunet");
    let stderr = stderr_of(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("resuming: 2 cell(s) already recorded, 0 to run"),
        "{stderr}"
    );
    assert_eq!(data_rows(&out.join("results.csv")).len(), 2);

    // Another setting into the same folder is refused by name before anything trains.
    dtunet()
        .args(run_args(&study, &out, &["--steps", "7"]))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cell loss-l1 trains differently"))
        .stderr(predicate::str::contains("steps = 7"));
}

#[test]
fn shards_of_a_study_merge_into_one_report() {
    let folder = tempfile::tempdir().expect("temp dir");
    let study = write_study(folder.path());
    let (first, second) = (folder.path().join("a"), folder.path().join("b"));
    for (out, shard) in [(&first, "1/2"), (&second, "2/2")] {
        dtunet()
            .args(run_args(&study, out, &["--shard", shard, "--steps", "10"]))
            .assert()
            .success()
            .stdout(predicate::str::contains("1 in other shards"));
    }
    assert!(first.join("models/loss-l1").is_dir() && !first.join("models/loss-l2").exists());
    let merged = folder.path().join("merged");
    dtunet()
        .args(["experiment", "report"])
        .arg(&first)
        .arg(&second)
        .arg("--out")
        .arg(&merged)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "2 cells done, 0 failed, 0 not run",
        ));
    let rows = data_rows(&merged.join("results.csv"));
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|row| row.contains(",done,")), "{rows:?}");
}

#[test]
fn a_rescored_cell_keeps_the_classes_of_the_detection_it_scores() {
    let folder = tempfile::tempdir().expect("temp dir");
    let study = folder.path().join("maps.toml");
    let text = MICRO_STUDY
        .replace("loss = [\"l1\", \"l2\"]", "map = [\"se\", \"ae\"]")
        .replace("rows = [\"loss\"]", "rows = [\"map\"]");
    let text = &text[..text.find("[labels]").expect("labels")];
    fs::write(&study, text).expect("study file");
    let out = folder.path().join("study");
    dtunet()
        .args(run_args(&study, &out, &["--steps", "10"]))
        .assert()
        .success();
    let rescored: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(out.join("cells/map-ae/result.json")).expect("result.json"),
    )
    .expect("json");
    assert_eq!(rescored["reconstructions_from"], "map-se");
    let aupro = rescored["per_class"]["tumor"]["aupro"]["mean"].as_f64();
    assert_eq!(aupro, rescored["metrics"]["aupro"]["mean"].as_f64());
    let per_class = data_rows(&out.join("per_class.csv"));
    assert_eq!(per_class.len(), 2, "{per_class:?}");
    assert!(per_class[1].starts_with("map-ae,tumor,"), "{per_class:?}");
}

#[test]
fn bad_studies_are_refused_by_line_before_anything_runs() {
    let folder = tempfile::tempdir().expect("temp dir");
    let study = folder.path().join("bad.toml");
    fs::write(
        &study,
        MICRO_STUDY.replace("loss = [\"l1\", \"l2\"]", "loss = [\"l1\", \"l9\"]"),
    )
    .expect("write");
    let out = folder.path().join("study");
    dtunet()
        .args(run_args(&study, &out, &[]))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad.toml, line 7"))
        .stderr(predicate::str::contains("l9"));
    assert!(!out.exists(), "nothing written");

    fs::write(
        &study,
        MICRO_STUDY.replace("t_lambda = 10", "t_lambda = 100"),
    )
    .expect("write");
    dtunet()
        .args(run_args(&study, &out, &[]))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cell loss=l1 cannot be built"))
        .stderr(predicate::str::contains("t_lambda = 100"));

    fs::write(
        &study,
        MICRO_STUDY.replace("patch_size = 4", "patch_size = 5"),
    )
    .expect("write");
    dtunet()
        .args(run_args(&study, &out, &[]))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("patch_size = 5"));

    fs::create_dir_all(&out).expect("folder");
    fs::write(out.join("notes.txt"), "mine").expect("write");
    dtunet()
        .args(run_args(&write_study(folder.path()), &out, &[]))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("holds files but no study"));
    dtunet()
        .args(run_args(&write_study(folder.path()), &out, &["--resume"]))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("holds no study to resume"));
}

#[test]
fn a_dry_run_prints_the_plan_and_writes_nothing() {
    let folder = tempfile::tempdir().expect("temp dir");
    let out = folder.path().join("study");
    dtunet()
        .args([
            "experiment",
            "run",
            "fig13-noise-steps",
            "--dry-run",
            "--shard",
            "2/3",
        ])
        .arg("--out")
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "study fig13-noise-steps: 20 cells, 5 models",
        ))
        .stdout(predicate::str::contains(
            "model noise-tsimplex (2000 steps) serves 4 cell(s): noise-tsimplex_t_lambda-50,",
        ))
        .stdout(predicate::str::contains(
            "shard 2/3 trains noise-simplex3d, noise-kts",
        ));
    assert!(!out.exists());
}

#[test]
fn the_built_in_studies_are_listed_and_shown() {
    dtunet()
        .args(["experiment", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("table5-losses"))
        .stdout(predicate::str::contains("fig13-noise-steps"))
        .stdout(predicate::str::contains("fig7-averaging"))
        .stdout(predicate::str::contains("fig10-backbones"));
    dtunet()
        .args(["experiment", "show", "table5-losses"])
        .assert()
        .success()
        .stdout(predicate::str::contains("loss = [\"l1\", \"l2\", \"ssim\""))
        .stdout(predicate::str::contains("0.3861 ± 0.2267"));
    dtunet()
        .args(["experiment", "show", "table9"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("fig10-backbones"));
}

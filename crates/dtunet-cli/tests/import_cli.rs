//! `dtunet import-weights` run as a user of the paper's code would: a `torch.save` checkpoint
//! (`tests/fixtures/models/dtunet_daff_c3_label.checkpoint.pt`, written by `gen_pickle.py`)
//! becomes a model folder that `dtunet detect` uses; a configuration that does not fit the
//! file is refused naming the keys.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

fn dtunet() -> Command {
    Command::cargo_bin("dtunet").expect("binary built")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn pickle() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/models/dtunet_daff_c3_label.checkpoint.pt")
}

/// The model flags of the fixture case (cases.json): 16 px RGB, patch 4, D 32, depth 4,
/// 4 heads, DAFF-MLP-DAFF, two classes; `depth` varies.
fn model_flags(depth: &str) -> Vec<&str> {
    vec![
        "--arch",
        "dtunet",
        "--img-size",
        "16",
        "--channels",
        "3",
        "--patch-size",
        "4",
        "--embed-dim",
        "32",
        "--depth",
        depth,
        "--heads",
        "4",
        "--mlp-ratio",
        "2",
        "--ff",
        "daff,mlp,daff",
        "--num-classes",
        "2",
        "--diffusion-steps",
        "100",
    ]
}

#[test]
fn a_pytorch_checkpoint_imports_into_a_folder_detect_uses() {
    let folder = tempfile::tempdir().expect("temp dir");
    let imported = folder.path().join("imported");
    dtunet()
        .args(["import-weights", "--weights", path(&pickle())])
        .args(["--top-level-key", "ema"])
        .args(model_flags("4"))
        .args(["--out", path(&imported)])
        .assert()
        .success()
        .stdout(predicate::str::contains("ignored 12 BatchNorm counters"))
        .stdout(predicate::str::contains("--checkpoint"));
    let config = fs::read_to_string(imported.join("config.toml")).expect("config.toml");
    assert!(config.contains("num_classes = 2"), "{config}");
    assert!(imported.join("model.safetensors").is_file());

    // Importing again into the same folder would replace a model: refused.
    dtunet()
        .args(["import-weights", "--weights", path(&pickle())])
        .args(["--top-level-key", "ema"])
        .args(model_flags("4"))
        .args(["--out", path(&imported)])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "already holds a model.safetensors",
        ));

    let data = folder.path().join("data");
    dtunet()
        .args(["synth", "texture", "--size", "16", "--n-train", "2"])
        .args(["--n-test", "4", "--out", path(&data)])
        .assert()
        .success();
    let detected = folder.path().join("detect");
    dtunet()
        .args([
            "detect",
            "--checkpoint",
            path(&imported),
            "--data",
            path(&data),
        ])
        .args(["--layout", "mvtec", "--out", path(&detected)])
        .args(["--t-lambda", "10", "--steps", "2"])
        .assert()
        .success()
        .stdout(predicate::str::contains("reconstructed 4 images"));
    assert!(detected.join("summary.json").is_file());
}

#[test]
fn a_configuration_that_does_not_fit_the_checkpoint_names_the_keys() {
    let folder = tempfile::tempdir().expect("temp dir");
    let out = folder.path().join("imported");
    dtunet()
        .args(["import-weights", "--weights", path(&pickle())])
        .args(["--top-level-key", "ema"])
        .args(model_flags("2"))
        .args(["--out", path(&out)])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unexpected"))
        .stderr(predicate::str::contains("in_blocks.1."));
    assert!(!out.exists(), "a refused import wrote {}", out.display());
}

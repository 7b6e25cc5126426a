//! The `dtunet data` commands, run as a user would.

use std::path::Path;

use assert_cmd::Command;
use image::{GrayImage, Luma};
use predicates::prelude::*;

fn dtunet() -> Command {
    Command::cargo_bin("dtunet").expect("binary built")
}

fn write_gray(path: &Path, height: u32, width: u32, f: impl Fn(u32, u32) -> u8) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    GrayImage::from_fn(width, height, |x, y| Luma([f(x, y)]))
        .save(path)
        .expect("write png");
}

/// A `folder` dataset: 3 train images, 2 test images with masks (one covering a quarter), an
/// unpaired mask, a test image whose mask has the wrong size, a non-image file.
fn small_dataset(root: &Path) {
    for i in 0..3 {
        write_gray(&root.join(format!("train/{i}.png")), 40, 56, |x, _| x as u8);
    }
    let quarter = |x: u32, y: u32| if x < 28 && y < 20 { 255 } else { 0 };
    write_gray(&root.join("test/a.png"), 40, 56, quarter);
    write_gray(&root.join("masks/a_mask.png"), 40, 56, quarter);
    write_gray(&root.join("test/b.png"), 40, 56, |_, _| 0);
    write_gray(&root.join("masks/b.png"), 40, 56, |_, _| 0);
    write_gray(&root.join("test/c.png"), 40, 56, |_, _| 0);
    write_gray(&root.join("masks/c.png"), 56, 40, |_, _| 0);
    write_gray(&root.join("masks/orphan.png"), 40, 56, |_, _| 0);
    std::fs::write(root.join("train/notes.txt"), "not an image").expect("write");
}

#[test]
fn inspect_prints_counts_sizes_coverage_and_problems() {
    let dir = tempfile::tempdir().expect("temp dir");
    small_dataset(dir.path());
    let data = dir.path().to_str().expect("utf8 path");
    dtunet()
        .args([
            "data",
            "inspect",
            "--data",
            data,
            "--layout",
            "folder",
            "--img-size",
            "20x28",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("train  healthy"))
        .stdout(predicate::str::contains("40x56"))
        .stdout(predicate::str::contains(
            "mean 0.1250  min 0.0000  max 0.2500",
        ))
        .stdout(predicate::str::contains("unpaired mask"))
        .stdout(predicate::str::contains("orphan.png"))
        .stdout(predicate::str::contains("size mismatch"))
        .stdout(predicate::str::contains(
            "mask 56x40 does not match image 40x56",
        ))
        .stdout(predicate::str::contains("notes.txt"));
}

#[test]
fn inspect_json_is_machine_readable() {
    let dir = tempfile::tempdir().expect("temp dir");
    small_dataset(dir.path());
    let output = dtunet()
        .args([
            "data",
            "inspect",
            "--layout",
            "folder",
            "--json",
            "--img-size",
            "16",
            "--data",
        ])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(report["layout"], "folder");
    assert_eq!(report["size"]["height"], 16);
    assert_eq!(report["channels"], 3);
    let classes = report["classes"].as_array().expect("classes");
    assert_eq!(classes.len(), 2);
    assert_eq!(
        (classes[0]["split"].as_str(), classes[0]["images"].as_u64()),
        (Some("train"), Some(3))
    );
    assert_eq!(
        (
            classes[1]["images"].as_u64(),
            classes[1]["with_mask"].as_u64()
        ),
        (Some(3), Some(2))
    );
    assert_eq!(report["mask_coverage"]["images"], 2);
    let kinds: Vec<&str> = report["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .filter_map(|issue| issue["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["skipped", "unpaired_mask", "size_mismatch"]);
}

#[test]
fn unknown_layout_and_missing_folder_exit_2_with_the_fix() {
    let dir = tempfile::tempdir().expect("temp dir");
    dtunet()
        .args(["data", "inspect", "--layout", "kaggle", "--data"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "expected one of folder, mvtec, brainmri, brats",
        ));
    let missing = dir.path().join("nowhere");
    dtunet()
        .args(["data", "inspect", "--layout", "folder", "--data"])
        .arg(&missing)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nowhere: no such folder"));
    dtunet()
        .args(["data", "inspect", "--layout", "mvtec", "--data"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no --category given"));
    dtunet()
        .args([
            "data",
            "inspect",
            "--layout",
            "folder",
            "--channels",
            "2",
            "--data",
        ])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("1 (gray) or 3 (RGB)"));
}

#[test]
fn bench_streams_the_train_split() {
    let dir = tempfile::tempdir().expect("temp dir");
    small_dataset(dir.path());
    dtunet()
        .args([
            "data",
            "bench",
            "--layout",
            "folder",
            "--img-size",
            "32",
            "--threads",
            "2",
            "--data",
        ])
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("streamed 3 train images"))
        .stdout(predicate::str::contains("images/s on 2 threads"));
}

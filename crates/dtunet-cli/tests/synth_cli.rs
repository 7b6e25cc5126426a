//! The `dtunet synth` command, run as a user would, on tiny non-square datasets.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

fn dtunet() -> Command {
    Command::cargo_bin("dtunet").expect("binary built")
}

/// `dtunet synth KIND` with 4 train + 4 test images of 32x48 into `out`, plus `extra` args.
fn synth(kind: &str, out: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    let out = out.to_str().expect("utf-8 path");
    let mut args = vec![
        "synth",
        kind,
        "--out",
        out,
        "--n-train",
        "4",
        "--n-test",
        "4",
        "--height",
        "32",
        "--width",
        "48",
        "--seed",
        "5",
    ];
    args.extend_from_slice(extra);
    dtunet().args(args).assert()
}

/// Every file below `root`, relative and sorted, with its bytes.
fn tree(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in fs::read_dir(&folder).expect("list") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                folders.push(path);
            } else {
                let bytes = fs::read(&path).expect("read");
                found.push((
                    path.strip_prefix(root).expect("inside").to_path_buf(),
                    bytes,
                ));
            }
        }
    }
    found.sort();
    found
}

fn names(root: &Path) -> Vec<String> {
    tree(root)
        .into_iter()
        .map(|(path, _)| path.display().to_string())
        .collect()
}

#[test]
fn brain_layout_sizes_masks_and_card() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("brain");
    synth("brain", &out, &[])
        .success()
        .stdout(predicate::str::contains("wrote 8 images of 32x48"));
    assert_eq!(
        names(&out),
        [
            "README.md",
            "dataset.json",
            "ground_truth/tumor/000_mask.png",
            "ground_truth/tumor/001_mask.png",
            "ground_truth/tumor/002_mask.png",
            "test/good/000.png",
            "test/tumor/000.png",
            "test/tumor/001.png",
            "test/tumor/002.png",
            "train/good/000.png",
            "train/good/001.png",
            "train/good/002.png",
            "train/good/003.png",
        ]
    );
    for (path, _) in tree(&out) {
        if path.extension().is_some_and(|e| e == "png") {
            let image = image::open(out.join(&path)).expect("decodes");
            assert_eq!(
                (image.width(), image.height()),
                (48, 32),
                "{}",
                path.display()
            );
            assert_eq!(image.color(), image::ColorType::L8, "{}", path.display());
        }
    }
    for n in 0..3 {
        let mask = image::open(out.join(format!("ground_truth/tumor/{n:03}_mask.png")))
            .expect("mask decodes")
            .into_luma8();
        assert!(mask.pixels().all(|p| p.0[0] == 0 || p.0[0] == 255));
        assert!(mask.pixels().any(|p| p.0[0] == 255), "mask {n} empty");
    }
    let card: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("dataset.json")).expect("card")).expect("json");
    assert_eq!(card["kind"], "brain");
    assert_eq!(card["seed"], 5);
    assert_eq!(
        (card["height"].as_u64(), card["width"].as_u64()),
        (Some(32), Some(48))
    );
    assert_eq!(card["splits"]["train"]["good"]["images"], 4);
    assert_eq!(card["splits"]["test"]["good"]["images"], 1);
    assert_eq!(card["splits"]["test"]["tumor"]["images"], 3);
    let coverage = card["splits"]["test"]["tumor"]["coverage_mean"]
        .as_f64()
        .expect("number");
    assert!(coverage > 0.0 && coverage < 0.3, "{coverage}");
    let readme = fs::read_to_string(out.join("README.md")).expect("readme");
    assert!(readme.contains("dtunet synth brain --n-train 4 --n-test 4 --height 32 --width 48"));

    // The same command elsewhere writes the same bytes.
    let again = dir.path().join("again");
    synth("brain", &again, &[]).success();
    assert!(tree(&out) == tree(&again), "not deterministic");
}

#[test]
fn texture_images_are_rgb_with_one_folder_per_defect() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("fabric");
    synth("texture", &out, &["--material", "fabric"]).success();
    let image = image::open(out.join("test/scratch/000.png")).expect("decodes");
    assert_eq!(image.color(), image::ColorType::Rgb8);
    assert_eq!((image.width(), image.height()), (48, 32));
    for defect in ["scratch", "hole", "stain"] {
        let mask = image::open(out.join(format!("ground_truth/{defect}/000_mask.png")))
            .expect("mask decodes");
        assert_eq!((mask.width(), mask.height()), (48, 32));
    }
    let card: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("dataset.json")).expect("card")).expect("json");
    assert_eq!(card["material"], "fabric");
    assert_eq!(card["channels"], 3);
    assert_eq!(card["images"].as_array().map(Vec::len), Some(8));
}

#[test]
fn refuses_a_non_empty_folder_without_overwrite() {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::write(dir.path().join("keep.txt"), "mine").expect("write");
    synth("brain", dir.path(), &[]).code(2).stderr(
        predicate::str::contains("exists and is not empty")
            .and(predicate::str::contains("--overwrite")),
    );
    assert_eq!(names(dir.path()), ["keep.txt"], "nothing written");
    synth("brain", dir.path(), &["--overwrite"]).success();
    assert!(dir.path().join("keep.txt").exists(), "other files kept");
    assert!(dir.path().join("dataset.json").exists());
}

#[test]
fn bad_parameters_exit_2_with_one_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("x");
    let out = out.to_str().expect("utf-8 path");
    for (args, message) in [
        (
            vec!["--size", "8"],
            "--height (or --size) = 8 is invalid: expected an image side of 16..=4096 pixels",
        ),
        (vec!["--width", "5000"], "--width (or --size) = 5000"),
        (
            vec!["--n-train", "0", "--n-test", "0"],
            "expected at least one image in train or test",
        ),
        (
            vec!["--healthy-fraction", "1.5"],
            "--healthy-fraction = 1.5",
        ),
    ] {
        let output = dtunet()
            .args(["synth", "brain", "--out", out])
            .args(&args)
            .output()
            .expect("runs");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(output.stderr).expect("utf-8");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
    assert!(
        !Path::new(out).exists(),
        "nothing created for bad parameters"
    );
    dtunet()
        .args(["synth", "marble", "--out", out])
        .assert()
        .code(2);
}

#[test]
fn clear_lesions_are_recorded_in_the_card_and_refused_for_textures() {
    let folder = tempfile::tempdir().expect("temp dir");
    let out = folder.path().join("clear");
    synth(
        "brain",
        &out,
        &["--lesions", "clear", "--healthy-fraction", "0"],
    )
    .success();
    let readme = fs::read_to_string(out.join("README.md")).expect("card");
    assert!(readme.contains("| lesions | clear |"), "{readme}");
    assert!(readme.contains("--lesions clear"), "{readme}");
    let card = fs::read_to_string(out.join("dataset.json")).expect("dataset.json");
    assert!(card.contains("\"lesions\": \"clear\""), "{card}");

    synth("brain", &folder.path().join("bad"), &["--lesions", "huge"])
        .code(2)
        .stderr(predicate::str::contains("huge"))
        .stderr(predicate::str::contains("mixed or clear"));
    synth(
        "texture",
        &folder.path().join("texture"),
        &["--lesions", "clear"],
    )
    .code(2)
    .stderr(predicate::str::contains("brain datasets only"));
}

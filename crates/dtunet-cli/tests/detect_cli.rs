//! `dtunet demo --quick` and `dtunet detect`, run as a user would: the whole pipeline on a tiny
//! synthetic set, its outputs, and the errors for bad input.

use std::fs;
use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

fn dtunet() -> Command {
    Command::cargo_bin("dtunet").expect("binary built")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Runs the quick demo into `out` and returns its summary.
fn quick_demo(out: &Path) -> Value {
    dtunet()
        .args(["demo", "--quick", "--out", path(out)])
        .assert()
        .success()
        .stdout(predicate::str::contains("AUROC (pooled pixels)"))
        .stdout(predicate::str::contains("report.html"));
    summary_of(out)
}

#[test]
fn the_demo_takes_its_chains_and_trains_mixed_lesions_with_the_slices_preset() {
    let folder = tempfile::tempdir().expect("temp dir");
    let out = folder.path().join("demo");
    dtunet()
        .args([
            "demo",
            "--quick",
            "--chain-steps",
            "3",
            "--samples",
            "2",
            "--smooth",
            "0",
            "--n-train",
            "12",
        ])
        .args(["--lesions", "mixed", "--out", path(&out)])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "2 averaged reconstructions each, strided chains of 3 steps",
        ));
    let generated = fs::read_dir(out.join("data/train/good")).expect("train/good");
    assert_eq!(generated.count(), 12);
    // Mixed lesions train with the slices preset: images held out for calibration, mirrored.
    let config = fs::read_to_string(out.join("run/config.toml")).expect("config.toml");
    assert!(config.contains("calibration_holdout = 0.1"), "{config}");
    assert!(config.contains("augment = \"hflip\""), "{config}");
    let record = record_of(&out.join("detect"));
    assert_eq!(record["settings"]["strided_steps"], 3, "{record}");
    assert_eq!(record["settings"]["samples"], 2, "{record}");
    assert_eq!(summary_of(&out)["smooth_sigma"], 0.0);
    dtunet()
        .args(["demo", "--quick", "--chain-steps", "3", "--full-chain"])
        .args(["--out", path(&folder.path().join("both"))])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--full-chain"));
}

#[test]
#[cfg(not(feature = "cuda"))]
fn the_demo_refuses_a_backend_this_build_lacks_before_writing_anything() {
    let folder = tempfile::tempdir().expect("temp dir");
    let out = folder.path().join("demo");
    dtunet()
        .args(["demo", "--quick", "--backend", "cuda", "--out", path(&out)])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "a backend this binary was built with",
        ));
    assert!(
        !out.join("data").exists(),
        "no data written before the refusal"
    );
}

#[test]
fn the_quick_demo_trains_detects_and_reports() {
    let folder = tempfile::tempdir().expect("temp dir");
    let out = folder.path().join("demo");
    let summary = quick_demo(&out);
    assert_eq!(summary["n_images"], 8, "{summary}");
    let auroc = summary["auroc_pooled"].as_f64().expect("pooled AUROC");
    assert!((0.0..=1.0).contains(&auroc), "{auroc}");

    let run = out.join("run");
    for file in [
        "config.toml",
        "loss.csv",
        "loss.png",
        "model.safetensors",
        "train.log",
    ] {
        assert!(run.join(file).is_file(), "run/{file}");
    }
    let rows = fs::read_to_string(run.join("loss.csv"))
        .expect("loss.csv")
        .lines()
        .count();
    assert_eq!(rows, 21, "header + one row per step");
    let detect = out.join("detect");
    for file in ["report.html", "metrics.csv", "summary.md", "roc.png"] {
        assert!(detect.join(file).is_file(), "detect/{file}");
    }
    let maps: Vec<_> = fs::read_dir(detect.join("maps")).expect("maps").collect();
    assert_eq!(maps.len(), 8);
    assert!(detect.join("reconstructions/tumor_000.png").is_file());
    assert!(detect.join("panels").is_dir());
    // Every test image's class is kept; with one defect kind its metrics are the set's.
    let classes: Value = serde_json::from_str(
        &fs::read_to_string(detect.join("classes.json")).expect("classes.json"),
    )
    .expect("json");
    assert_eq!(classes.as_object().expect("object").len(), 8, "{classes}");
    assert_eq!(classes["tumor_000"], "tumor", "{classes}");
    let per_class = summary["per_class"].as_array().expect("per_class");
    assert_eq!(per_class.len(), 1, "{per_class:?}");
    assert_eq!(per_class[0]["class"], "tumor");
    assert_eq!(per_class[0]["auroc_pooled"], summary["auroc_pooled"]);
    assert_eq!(per_class[0]["aupro"], summary["aupro"]);
    assert_eq!(per_class[0]["image_auroc"], summary["image_auroc"]);
    assert!(detect.join("per_class.csv").is_file());
    let record = record_of(&detect);
    assert_eq!(
        record["settings"]["t_lambdas"],
        serde_json::json!([20]),
        "{record}"
    );
    assert_eq!(record["settings"]["samples"], 1, "{record}");
    assert!(record["settings"]["strided_steps"].is_null(), "{record}");
    assert_eq!(summary["smooth_sigma"], 1.0, "{summary}");

    // A second demo into the same folder needs --overwrite (exit 2), then works with it.
    dtunet()
        .args(["demo", "--quick", "--out", path(&out)])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--overwrite"));

    // Detect again with a strided chain and two averaged samples, into a new folder.
    let strided = folder.path().join("strided");
    dtunet()
        .args([
            "detect",
            "--checkpoint",
            path(&run),
            "--data",
            path(&out.join("data")),
            "--layout",
            "mvtec",
            "--out",
            path(&strided),
            "--t-lambda",
            "20",
            "--steps",
            "5",
            "--samples",
            "2",
            "--threshold",
            "best",
            "--smooth",
            "1",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("reconstructed 8 images"));
    let strided_summary = summary_of(&strided);
    assert_eq!(strided_summary["smooth_sigma"], 1.0, "{strided_summary}");
    let record = record_of(&strided);
    assert_eq!(record["settings"]["strided_steps"], 5, "{record}");
    assert_eq!(record["settings"]["samples"], 2, "{record}");
    assert_eq!(record["shards"], 1, "{record}");
    let markdown = fs::read_to_string(strided.join("summary.md")).expect("summary.md");
    assert!(
        markdown.contains("Gaussian-smoothed (σ 1 px)"),
        "{markdown}"
    );

    // Another detection of the demo's model into `name`, with `extra` flags; asserts that
    // it writes the demo's reconstruction (same depth first, same seed) and another map.
    let detect_again = |name: &str, extra: &[&str]| -> Value {
        let again = folder.path().join(name);
        dtunet()
            .args([
                "detect",
                "--checkpoint",
                path(&run),
                "--data",
                path(&out.join("data")),
            ])
            .args(["--layout", "mvtec", "--out", path(&again)])
            .args(extra)
            .assert()
            .success();
        let file = |folder: &Path, name: &str| fs::read(folder.join(name)).expect(name);
        assert_eq!(
            file(&again, "reconstructions/tumor_000.png"),
            file(&detect, "reconstructions/tumor_000.png")
        );
        assert_ne!(
            file(&again, "maps/tumor_000.npy"),
            file(&detect, "maps/tumor_000.npy")
        );
        summary_of(&again)
    };

    // Two depths: the map is averaged with the second depth's, so it is scored from maps/.
    let depths_summary = detect_again("depths", &["--t-lambda", "20,10"]);
    assert_eq!(depths_summary["map_source"], "maps", "{depths_summary}");

    // The feature-space map: the denoiser's own mid-level features of input and
    // reconstruction, scored from maps/.
    let features_summary = detect_again("features", &["--t-lambda", "20", "--map", "feature"]);
    assert_eq!(features_summary["map"], "feature", "{features_summary}");
    assert_eq!(features_summary["map_source"], "maps");
    assert!(features_summary["auroc_pooled"].as_f64().is_some());
    // eval cannot make one from reconstructions and says where it comes from.
    dtunet()
        .args(["eval", "--images", path(&detect.join("inputs"))])
        .args(["--recon", path(&detect.join("reconstructions"))])
        .args(["--masks", path(&detect.join("masks")), "--map", "feature"])
        .args(["--out", path(&folder.path().join("no-features"))])
        .assert()
        .failure()
        .stderr(predicate::str::contains("detect --map feature"));

    // Two shards of three-image batches (shard 1: batches 0 and 2, five images; shard 2:
    // batch 1, three), merged, give the unsharded run's files and report.
    let detect_into = |name: &str, extra: &[&str]| {
        let into = folder.path().join(name);
        dtunet()
            .args(["detect", "--checkpoint", path(&run)])
            .args(["--data", path(&out.join("data")), "--layout", "mvtec"])
            .args([
                "--out",
                path(&into),
                "--t-lambda",
                "20",
                "--batch-size",
                "3",
            ])
            .args(extra)
            .assert()
            .success();
        into
    };
    let whole = detect_into("whole", &[]);
    let shard_one = detect_into("shard1", &["--shard", "1/2"]);
    let shard_two = detect_into("shard2", &["--shard", "2/2"]);
    let count = |folder: &Path| fs::read_dir(folder.join("maps")).expect("maps").count();
    assert_eq!((count(&shard_one), count(&shard_two)), (5, 3));
    assert!(
        !shard_one.join("report.html").exists(),
        "a shard has no report"
    );
    let merged = folder.path().join("merged");
    let merge = |shards: &[&Path], into: &Path| {
        let mut command = dtunet();
        command.args(["eval", "--out", path(into), "--merge"]);
        command.args(shards.iter().map(|shard| path(shard)));
        command.assert()
    };
    merge(&[&shard_two, &shard_one], &merged)
        .success()
        .stdout(predicate::str::contains("merged 2 shards: 8 test images"));
    let file = |folder: &Path, name: &str| fs::read(folder.join(name)).expect(name);
    // Every row and value equal, the image paths aside.
    let rows = |folder: &Path| {
        String::from_utf8(file(folder, "metrics.csv"))
            .expect("utf-8")
            .replace(path(folder), "OUT")
    };
    assert_eq!(rows(&merged), rows(&whole));
    assert_eq!(
        file(&merged, "maps/good_000.npy"),
        file(&whole, "maps/good_000.npy")
    );
    let (merged_summary, whole_summary) = (summary_of(&merged), summary_of(&whole));
    let (merged_record, whole_record) = (record_of(&merged), record_of(&whole));
    assert_eq!(merged_record["settings"], whole_record["settings"]);
    assert_eq!(
        (
            merged_record["shards"].as_u64(),
            whole_record["shards"].as_u64()
        ),
        (Some(2), Some(1))
    );
    for key in ["auroc_pooled", "aupro", "dice", "threshold", "n_images"] {
        assert_eq!(merged_summary[key], whole_summary[key], "{key}");
    }
    // A shard missing, a shard twice, shards of different runs: refused by name.
    merge(&[&shard_one], &folder.path().join("half"))
        .code(2)
        .stderr(predicate::str::contains("shard 2/2 is missing"));
    merge(&[&shard_one, &shard_one], &folder.path().join("twice"))
        .code(2)
        .stderr(predicate::str::contains("each shard once"));
    let other = detect_into("other", &["--shard", "2/2", "--seed", "5"]);
    merge(&[&shard_one, &other], &folder.path().join("mixed"))
        .code(2)
        .stderr(predicate::str::contains("other settings").and(predicate::str::contains("seed")));
    merge(&[&whole], &folder.path().join("unsharded"))
        .code(2)
        .stderr(predicate::str::contains("shard.json"));

    // Bad input: t_λ beyond the chain, a missing checkpoint, a non-empty --out.
    let data = out.join("data");
    let base = ["detect", "--data", path(&data), "--layout", "mvtec"];
    dtunet()
        .args(base)
        .args([
            "--checkpoint",
            path(&run),
            "--out",
            path(&folder.path().join("deep")),
        ])
        .args(["--t-lambda", "1000"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--t-lambda = 1000"));
    assert!(!folder.path().join("deep").exists(), "no partial outputs");
    dtunet()
        .args(base)
        .args([
            "--checkpoint",
            path(&folder.path().join("nope")),
            "--out",
            path(&folder.path().join("x")),
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("nope"));
    dtunet()
        .args(base)
        .args(["--checkpoint", path(&run), "--out", path(&strided)])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not empty"));
}

#[test]
fn a_trained_classifier_guides_detection() {
    let folder = tempfile::tempdir().expect("temp dir");
    let out = folder.path().join("demo");
    quick_demo(&out);
    let run = out.join("run");
    let config = run.join("config.toml");

    // A labelled set that is not the demo's test set: another seed.
    let labelled = folder.path().join("labelled");
    dtunet()
        .args([
            "synth",
            "brain",
            "--size",
            "32",
            "--n-train",
            "8",
            "--n-test",
            "16",
        ])
        .args(["--seed", "5", "--out", path(&labelled)])
        .assert()
        .success();
    let classifier = folder.path().join("classifier");
    dtunet()
        .args([
            "train-classifier",
            "--data",
            path(&labelled),
            "--layout",
            "mvtec",
        ])
        .args([
            "--config",
            path(&config),
            "--steps",
            "6",
            "--batch-size",
            "4",
        ])
        .args(["--out", path(&classifier)])
        .assert()
        .success()
        .stdout(predicate::str::contains("accuracy t=0"))
        .stdout(predicate::str::contains("--classifier"));
    for file in [
        "classifier.safetensors",
        "config.toml",
        "loss.csv",
        "train.log",
    ] {
        assert!(classifier.join(file).is_file(), "classifier/{file}");
    }
    let header = fs::read_to_string(classifier.join("loss.csv")).expect("loss.csv");
    assert!(
        header.starts_with("step,loss,accuracy,lr,seconds"),
        "{header}"
    );

    let data = out.join("data");
    let detect = |extra: &[&str], target: &Path| {
        let mut command = dtunet();
        command
            .args(["detect", "--checkpoint", path(&run), "--data", path(&data)])
            .args(["--layout", "mvtec", "--out", path(target)])
            .args(["--t-lambda", "10", "--steps", "3"])
            .args(extra);
        command.assert()
    };
    let guided = folder.path().join("guided");
    detect(
        &["--classifier", path(&classifier), "--guidance-scale", "5"],
        &guided,
    )
    .success()
    .stdout(predicate::str::contains("reconstructed 8 images"));
    let unguided = folder.path().join("unguided");
    detect(&[], &unguided).success();
    let reconstruction = "reconstructions/tumor_000.png";
    assert_ne!(
        fs::read(guided.join(reconstruction)).expect("guided"),
        fs::read(unguided.join(reconstruction)).expect("unguided"),
        "guidance changed nothing"
    );

    // Two averaged runs are independent: their average is not the single run.
    let averaged = folder.path().join("averaged");
    detect(&["--samples", "2"], &averaged).success();
    assert_ne!(
        fs::read(averaged.join(reconstruction)).expect("averaged"),
        fs::read(unguided.join(reconstruction)).expect("unguided"),
        "the two runs of --samples 2 drew the same noise"
    );

    // A scale without a classifier, and a classifier of another chain, are refused.
    detect(
        &["--guidance-scale", "5"],
        &folder.path().join("no-classifier"),
    )
    .code(2)
    .stderr(predicate::str::contains("--classifier"));
    let other_chain = folder.path().join("other-chain");
    dtunet()
        .args([
            "train-classifier",
            "--data",
            path(&labelled),
            "--layout",
            "mvtec",
        ])
        .args([
            "--config",
            path(&config),
            "--steps",
            "2",
            "--diffusion-steps",
            "50",
        ])
        .args(["--out", path(&other_chain)])
        .assert()
        .success();
    let refused = folder.path().join("refused");
    detect(&["--classifier", path(&other_chain)], &refused)
        .code(2)
        .stderr(predicate::str::contains("50 steps"));
    assert!(!refused.exists(), "no partial outputs");
}

#[test]
fn a_dataset_without_test_images_is_refused_before_any_output() {
    let folder = tempfile::tempdir().expect("temp dir");
    let out = folder.path().join("demo");
    // The demo's data and detection flags: mixed lesions, two averaged runs.
    dtunet()
        .args(["demo", "--quick", "--lesions", "mixed", "--samples", "2"])
        .args(["--out", path(&out)])
        .assert()
        .success()
        .stderr(predicate::str::contains("2 averaged reconstructions"));
    let card = fs::read_to_string(out.join("data").join("README.md")).expect("card");
    assert!(card.contains("| lesions | mixed |"), "{card}");
    let healthy_only = folder.path().join("healthy-only");
    dtunet()
        .args([
            "synth",
            "brain",
            "--size",
            "32",
            "--n-train",
            "4",
            "--n-test",
            "0",
        ])
        .args(["--out", path(&healthy_only)])
        .assert()
        .success();
    let target = folder.path().join("detect");
    let refused = || {
        dtunet()
            .args(["detect", "--checkpoint", path(&out.join("run"))])
            .args(["--data", path(&healthy_only), "--layout", "mvtec"])
            .args(["--out", path(&target)])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(path(&healthy_only.join("test"))))
    };
    // No test folder, then a test folder without images.
    refused().stderr(predicate::str::contains("no such folder"));
    fs::create_dir_all(healthy_only.join("test").join("good")).expect("empty test folder");
    refused().stderr(predicate::str::contains("no test images"));
    assert!(!target.exists(), "no partial outputs");
}

/// Reads `<folder>/summary.json`.
fn summary_of(folder: &Path) -> Value {
    let text = fs::read_to_string(folder.join("summary.json")).expect("summary.json");
    serde_json::from_str(&text).expect("valid json")
}

/// The settings record `detect.json` of a detection folder.
fn record_of(folder: &Path) -> Value {
    let text = fs::read_to_string(folder.join("detect.json")).expect("detect.json");
    serde_json::from_str(&text).expect("detect.json is JSON")
}

#[test]
fn calibrated_thresholds_come_from_held_out_or_given_healthy_images() {
    let folder = tempfile::tempdir().expect("temp dir");
    let data = folder.path().join("data");
    dtunet()
        .args(["synth", "brain", "--size", "16", "--n-train", "24"])
        .args(["--n-test", "8", "--out", path(&data)])
        .assert()
        .success();
    let train = |out: &Path, extra: &[&str]| {
        dtunet()
            .args(["train", "--data", path(&data), "--layout", "mvtec"])
            .args(["--preset", "demo", "--img-size", "16", "--patch-size", "4"])
            .args(["--embed-dim", "16", "--depth", "2", "--heads", "2"])
            .args([
                "--batch-size",
                "4",
                "--steps",
                "4",
                "--diffusion-steps",
                "50",
            ])
            .args([
                "--noise",
                "gauss",
                "--sample-every",
                "0",
                "--out",
                path(out),
            ])
            .args(extra)
            .assert()
            .success();
    };
    let detect = |run: &Path, out: &Path, extra: &[&str]| {
        dtunet()
            .args(["detect", "--checkpoint", path(run), "--data", path(&data)])
            .args(["--layout", "mvtec", "--t-lambda", "10", "--out", path(out)])
            .args(extra)
            .assert()
    };

    // Trained on all images: --calibrate has nothing held out and says what to do.
    let all = folder.path().join("all");
    train(&all, &[]);
    detect(&all, &folder.path().join("refused"), &["--calibrate"])
        .code(2)
        .stderr(predicate::str::contains("--calibration-holdout"));
    assert!(
        !folder.path().join("refused").exists(),
        "no partial outputs"
    );

    // Held out: a quarter of the 24 training images, 6, never seen in training.
    let held = folder.path().join("held");
    train(&held, &["--calibration-holdout", "0.25"]);
    let log = fs::read_to_string(held.join("train.log")).expect("train.log");
    assert!(log.contains("on 18 images"), "{log}");
    let calibrated = folder.path().join("calibrated");
    detect(&held, &calibrated, &["--calibrate"]).success();
    let summary = summary_of(&calibrated);
    let threshold = &summary["threshold"];
    assert_eq!(threshold["rule"], "calibrated", "{threshold}");
    assert_eq!(threshold["source"], "healthy_images");
    assert_eq!(threshold["n_images"], 6);
    assert_eq!(threshold["parameter"], 0.005);
    assert_eq!(threshold["pixel_rule"], "otsu_floor", "the default");
    assert!(
        threshold["image_threshold"].is_null(),
        "off by default: {threshold}"
    );
    let images = threshold["calibration_images"].as_str().expect("described");
    assert!(images.contains("held out from training"), "{images}");
    assert!(summary["healthy_pixels_flagged"].as_f64().is_some());
    let markdown = fs::read_to_string(calibrated.join("summary.md")).expect("summary.md");
    assert!(markdown.contains("calibrated"), "{markdown}");

    // A given healthy folder and a pixel rate that flags most healthy pixels: the threshold
    // alone flags far more than any per-image rule would; floored under Otsu (the default),
    // Otsu's threshold takes over wherever it is higher.
    let loose = folder.path().join("loose");
    let loose_args = [
        "--calibration",
        path(&data),
        "--pixel-fpr",
        "0.9",
        "--pixel-rule",
        "threshold",
    ];
    detect(&all, &loose, &loose_args).success();
    let summary = summary_of(&loose);
    assert_eq!(summary["threshold"]["n_images"], 24);
    assert_eq!(summary["threshold"]["pixel_rule"], "calibrated");
    assert!(summary["threshold"]["image_threshold"].is_null());
    let flagged = summary["healthy_pixels_flagged"].as_f64().expect("flagged");
    assert!(
        flagged > 0.6,
        "pixel FPR 0.9 flags most healthy pixels: {flagged}"
    );
    let floored = folder.path().join("floored");
    detect(&all, &floored, &loose_args[..4]).success();
    let floored_summary = summary_of(&floored);
    assert_eq!(floored_summary["threshold"]["pixel_rule"], "otsu_floor");
    let floored_flagged = floored_summary["healthy_pixels_flagged"]
        .as_f64()
        .expect("flagged");
    assert!(
        floored_flagged < flagged,
        "Otsu's threshold floors the loose one: {floored_flagged} vs {flagged}"
    );

    // The image threshold at rate 0 passes no calibration image: healthy test images scoring
    // no higher than every calibration image get empty masks, so fewer are flagged.
    let gated = folder.path().join("gated");
    let gated_args = [&loose_args[..], &["--image-fpr", "0"]].concat();
    detect(&all, &gated, &gated_args).success();
    let gated_summary = summary_of(&gated);
    assert_eq!(gated_summary["threshold"]["image_fpr"], 0.0);
    assert!(
        gated_summary["threshold"]["image_threshold"]
            .as_f64()
            .is_some()
    );
    assert!(
        gated_summary["n_healthy_images_flagged"].as_u64()
            < summary["n_healthy_images_flagged"].as_u64(),
        "{gated_summary}"
    );

    // Rates outside [0, 1) and --threshold beside calibration are usage errors.
    detect(
        &all,
        &folder.path().join("x"),
        &["--calibration", path(&data), "--pixel-fpr", "1"],
    )
    .code(2)
    .stderr(predicate::str::contains("--pixel-fpr"));
    detect(
        &all,
        &folder.path().join("y"),
        &["--calibrate", "--threshold", "otsu"],
    )
    .code(2)
    .stderr(predicate::str::contains("--threshold"));
}

#[test]
fn a_texture_preset_model_is_detected_with_its_recipe_unless_flags_say_otherwise() {
    let folder = tempfile::tempdir().expect("temp dir");
    let data = folder.path().join("data");
    dtunet()
        .args(["synth", "texture", "--size", "16", "--n-train", "20"])
        .args(["--n-test", "4", "--out", path(&data)])
        .assert()
        .success();
    let run = folder.path().join("run");
    dtunet()
        .args(["train", "--data", path(&data), "--layout", "mvtec"])
        .args([
            "--preset",
            "texture",
            "--img-size",
            "16",
            "--patch-size",
            "4",
        ])
        .args(["--embed-dim", "16", "--depth", "2", "--heads", "2"])
        .args(["--batch-size", "4", "--steps", "2", "--sample-every", "0"])
        .args(["--out", path(&run)])
        .assert()
        .success();
    let config = fs::read_to_string(run.join("config.toml")).expect("config.toml");
    assert!(config.contains("[detection]"), "{config}");

    let detect = |out: &Path, extra: &[&str]| {
        dtunet()
            .args(["detect", "--checkpoint", path(&run), "--data", path(&data)])
            .args(["--layout", "mvtec", "--out", path(out)])
            .args(extra)
            .assert()
            .success()
    };
    let recipe = folder.path().join("recipe");
    detect(&recipe, &[]).stderr(predicate::str::contains(
        "t_λ 150, 16 samples, strided chains of 50 steps, σ 2 px, calibrated thresholds",
    ));
    let settings = &record_of(&recipe)["settings"];
    assert_eq!(
        settings["t_lambdas"],
        serde_json::json!([150]),
        "{settings}"
    );
    assert_eq!(settings["samples"], 16, "{settings}");
    assert_eq!(settings["strided_steps"], 50, "{settings}");
    let summary = summary_of(&recipe);
    assert_eq!(summary["smooth_sigma"], 2.0);
    assert_eq!(summary["threshold"]["rule"], "calibrated", "{summary}");
    assert_eq!(summary["threshold"]["n_images"], 2, "10 % of 20 held out");

    // Flags win over the recipe; --threshold replaces its calibration.
    let flagged = folder.path().join("flags");
    let flags = [
        "--t-lambda",
        "20",
        "--samples",
        "2",
        "--full-chain",
        "--smooth",
        "0",
        "--threshold",
        "otsu",
    ];
    detect(&flagged, &flags);
    let settings = &record_of(&flagged)["settings"];
    assert_eq!(settings["t_lambdas"], serde_json::json!([20]), "{settings}");
    assert_eq!(settings["samples"], 2, "{settings}");
    assert!(settings["strided_steps"].is_null(), "{settings}");
    let summary = summary_of(&flagged);
    assert_eq!(summary["smooth_sigma"], 0.0);
    assert_eq!(summary["threshold"]["rule"], "otsu", "{summary}");

    // A model trained on all its images has none to calibrate on: the recipe says so and
    // falls back to Otsu, keeping the rest of the recipe.
    let whole = folder.path().join("whole");
    let config = fs::read_to_string(run.join("config.toml")).expect("config.toml");
    fs::create_dir_all(&whole).expect("folder");
    fs::copy(
        run.join("model.safetensors"),
        whole.join("model.safetensors"),
    )
    .expect("weights");
    let config = config.replace("calibration_holdout = 0.1", "calibration_holdout = 0.0");
    fs::write(whole.join("config.toml"), config).expect("config.toml");
    let skipped = folder.path().join("skipped");
    dtunet()
        .args([
            "detect",
            "--checkpoint",
            path(&whole),
            "--data",
            path(&data),
        ])
        .args(["--layout", "mvtec", "--out", path(&skipped)])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "the recipe's calibration is skipped",
        ));
    let summary = summary_of(&skipped);
    assert_eq!(summary["threshold"]["rule"], "otsu", "{summary}");
    assert_eq!(summary["smooth_sigma"], 2.0);
}

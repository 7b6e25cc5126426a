//! The authors' model through the CLI, as a user checks it: their JSON configuration →
//! `dtunet import-config`, their state_dict → `dtunet import-weights`, `dtunet predict` → the
//! output their `UDHVT` class gave (tests/fixtures/models/gen_reference.py), within 1e-4.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

fn dtunet() -> Command {
    Command::cargo_bin("dtunet").expect("binary built")
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/models")
        .join(name)
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn read_npy(path: &Path) -> (Vec<u64>, Vec<f32>) {
    let bytes = fs::read(path).expect("npy written");
    let npy = npyz::NpyFile::new(&bytes[..]).expect("npy");
    let shape = npy.shape().to_vec();
    (shape, npy.into_vec::<f32>().expect("float32"))
}

/// The largest |Δ| between `predict`'s output and the class's for fixture `case`.
fn predict_difference(model: &Path, case: &str, extra: &[&str], out: &Path) -> f32 {
    let eps = out.join(format!("{case}.eps.npy"));
    dtunet()
        .args(["predict", "--checkpoint", path(model), "--input"])
        .arg(fixture(&format!("ref_{case}.x.npy")))
        .args(["--t", "3,742", "--out", path(&eps)])
        .args(extra)
        .assert()
        .success()
        .stdout(predicate::str::contains("wrote eps [2,"));
    let (shape, found) = read_npy(&eps);
    let (expected_shape, expected) = read_npy(&fixture(&format!("ref_{case}.eps.npy")));
    assert_eq!(shape, expected_shape);
    found
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

/// A run configuration in the authors' JSON format, with their key names.
const ARGS_JSON: &str = r#"{
    "img_size": [16, 16], "Batch_Size": 1, "EPOCHS": 3000, "T": 1000, "base_channels": 128,
    "beta_schedule": "cosine", "channel_mults": "", "loss-type": "l2", "loss_weight": "none",
    "train_start": true, "lr": 1e-4, "random_slice": false, "sample_distance": 800,
    "weight_decay": 0.0, "save_imgs": true, "save_vids": false, "num_heads": 4, "dropout": 0,
    "attention_resolutions": "32,16,8", "num_head_channels": -1, "noise_fn": "4dsimplex",
    "dataset": "brainMRI", "channels": 1, "cls_cond": null, "octave": 6, "frequency": 64,
    "persistence": 0.9, "patch_size": 4, "model_name": "UDHVT", "mlp_ratio": 2,
    "embed_dim": 32, "depth": 6, "refinement": false, "mlps": ["MLP", "MLP", "MLP"]
}"#;

#[test]
fn their_configuration_and_weights_predict_what_their_class_does() {
    let folder = tempfile::tempdir().expect("temp dir");
    let args = folder.path().join("args7.json");
    fs::write(&args, ARGS_JSON).expect("written");
    let config = folder.path().join("args7.toml");
    dtunet()
        .args(["import-config", path(&args), "--out", path(&config)])
        .assert()
        .success()
        .stdout(predicate::str::contains("not carried: EPOCHS = 3000"))
        .stdout(predicate::str::contains("not carried: depth = 6"))
        .stdout(predicate::str::contains("depth 12"));
    let toml = fs::read_to_string(&config).expect("toml");
    assert!(toml.contains("kind = \"tsimplex\""), "{toml}");
    let model = folder.path().join("model");
    dtunet()
        .args([
            "import-weights",
            "--config",
            path(&config),
            "--out",
            path(&model),
        ])
        .arg("--weights")
        .arg(fixture("ref_mlp_c1.weights.safetensors"))
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "ignored cls_token (defined by the reference class",
        ));
    let difference = predict_difference(&model, "mlp_c1", &[], folder.path());
    assert!(difference < 1e-4, "max |Δ| = {difference:e}");
    let data = folder.path().join("data");
    dtunet()
        .args([
            "synth",
            "brain",
            "--size",
            "16",
            "--n-train",
            "4",
            "--n-test",
            "2",
            "--out",
        ])
        .arg(&data)
        .assert()
        .success();
    let run = folder.path().join("run");
    dtunet()
        .args([
            "train",
            "--config",
            path(&config),
            "--data",
            path(&data),
            "--layout",
            "mvtec",
        ])
        .args([
            "--steps",
            "2",
            "--batch-size",
            "2",
            "--sample-every",
            "0",
            "--out",
            path(&run),
        ])
        .assert()
        .success();
    let trained = fs::read_to_string(run.join("config.toml")).expect("run config");
    for setting in [
        "depth = 12",
        "norm_eps = 0.00001",
        "kind = \"tsimplex\"",
        "persistence = 0.9",
    ] {
        assert!(trained.contains(setting), "{setting} in {trained}");
    }
    dtunet()
        .args(["import-config", path(&args), "--out", path(&config)])
        .assert()
        .failure()
        .code(2)
        .stderr(predicate::str::contains("already exists"));
}

/// The model flags shared by the fixtures of gen_reference.py (depth 4, D 32, 4 heads).
const SMALL_MODEL: &str =
    "--arch dtunet --embed-dim 32 --depth 4 --heads 4 --mlp-ratio 2 --norm-eps 1e-5";

/// The flags of the fixture case with the SPE patch-2 embedding and a label token.
const SPE2_CASE: &str = "--img-size 8 --patch-size 2 --channels 1 --patch-embed spe \
                         --refine-head true --num-classes 2";

/// `dtunet import-weights` of the fixture `weights` with `flags` into `out`.
fn import_weights(weights: &str, flags: &str, out: &Path) {
    dtunet()
        .args(["import-weights", "--out", path(out), "--weights"])
        .arg(fixture(weights))
        .args(SMALL_MODEL.split_whitespace())
        .args(flags.split_whitespace())
        .assert()
        .success();
}

#[test]
fn every_option_goes_through_import_weights_and_predict() {
    let folder = tempfile::tempdir().expect("temp dir");
    let cases = [
        (
            "daff_mlp_ddaff_c3",
            "ref_daff_mlp_ddaff_c3.checkpoint.pt",
            "--img-size 16 --patch-size 4 --channels 3 --ff daff,mlp,ddaff --top-level-key ema",
            &[][..],
        ),
        (
            "spe2_c1_cls",
            "ref_spe2_c1_cls.weights.safetensors",
            SPE2_CASE,
            &["--label", "0,1"],
        ),
        (
            "spe16_c3_ddaff_refine",
            "ref_spe16_c3_ddaff_refine.weights.safetensors",
            "--img-size 32 --patch-size 16 --channels 3 --patch-embed spe --refine-head true \
             --ff daff,mlp,ddaff",
            &[],
        ),
    ];
    for (case, weights, flags, predict_flags) in cases {
        let model = folder.path().join(case);
        import_weights(weights, flags, &model);
        let difference = predict_difference(&model, case, predict_flags, folder.path());
        assert!(difference < 1e-4, "{case}: max |Δ| = {difference:e}");
    }
}

#[test]
fn predict_names_the_bad_input() {
    let folder = tempfile::tempdir().expect("temp dir");
    let model = folder.path().join("model");
    import_weights("ref_spe2_c1_cls.weights.safetensors", SPE2_CASE, &model);
    let run = |input: &Path, extra: &[&str]| {
        let mut command = dtunet();
        command
            .args([
                "predict",
                "--checkpoint",
                path(&model),
                "--input",
                path(input),
            ])
            .args(["--out", path(&folder.path().join("eps.npy"))])
            .args(extra);
        command.assert()
    };
    let x = fixture("ref_spe2_c1_cls.x.npy");
    run(&x, &["--t", "1,2,3"])
        .failure()
        .code(2)
        .stderr(predicate::str::contains("--t = 3 values is invalid"));
    run(&x, &["--t", "5", "--label", "0,2"])
        .failure()
        .code(2)
        .stderr(predicate::str::contains("a class in 0..2"));
    let not_npy = folder.path().join("x.npy");
    fs::write(&not_npy, b"not an array").expect("written");
    run(&not_npy, &["--t", "5"])
        .failure()
        .code(2)
        .stderr(predicate::str::contains("x.npy").and(predicate::str::contains("numpy.save")));
    run(&fixture("ref_daff_mlp_ddaff_c3.x.npy"), &["--t", "5"])
        .failure()
        .code(2)
        .stderr(predicate::str::contains("channels = 3 is invalid"));
}

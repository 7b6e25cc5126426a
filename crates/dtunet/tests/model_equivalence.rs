//! DTU-Net and U-ViT forward passes equal the PyTorch rendering of SPEC §4.1
//! (`tests/fixtures/models/gen_models.py`) and the authors' own `UDHVT` class
//! (`tests/fixtures/models/gen_reference.py`), loading their state_dicts through the import
//! path.

use std::path::PathBuf;

use burn::tensor::{Device, Int, Tensor, TensorData};
use dtunet::io::read_npy_f32;
use dtunet::models::predict::{HostBatch, predict_noise};
use dtunet::models::weights::{import_weights, load_model, save_model};
use dtunet::models::{Architecture, ModelConfig, NoisePredictor, StageFeedForward};
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/models")
}

fn manifest() -> Value {
    let text = std::fs::read_to_string(fixtures().join("cases.json")).expect("cases.json");
    serde_json::from_str(&text).expect("valid json")
}

fn model_config(case: &Value) -> ModelConfig {
    let c = &case["config"];
    let number = |key: &str| c[key].as_u64().expect("integer") as usize;
    let ff: Vec<&str> = c["ff"]
        .as_array()
        .expect("ff list")
        .iter()
        .map(|v| v.as_str().expect("kind"))
        .collect();
    ModelConfig {
        arch: c["arch"]
            .as_str()
            .expect("arch")
            .parse::<Architecture>()
            .expect("known arch"),
        img_size: number("img_size"),
        channels: number("channels"),
        patch_size: number("patch_size"),
        embed_dim: number("embed_dim"),
        depth: number("depth"),
        heads: number("heads"),
        mlp_ratio: c["mlp_ratio"].as_f64().expect("ratio"),
        ff: ff.join(",").parse::<StageFeedForward>().expect("ff"),
        num_classes: number("num_classes"),
        // gen_models.py renders the blocks with the class default eps, 1e-6.
        norm_eps: 1e-6,
        ..ModelConfig::default()
    }
}

struct Io {
    bytes: Vec<u8>,
}

impl Io {
    fn read(name: &str) -> Self {
        let path = fixtures().join(format!("{name}.io.safetensors"));
        Self {
            bytes: std::fs::read(path).expect("io fixture"),
        }
    }

    fn floats(&self, key: &str) -> (Vec<f32>, Vec<usize>) {
        let tensors = SafeTensors::deserialize(&self.bytes).expect("safetensors");
        let view = tensors.tensor(key).expect("tensor present");
        assert_eq!(view.dtype(), Dtype::F32);
        let values = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        (values, view.shape().to_vec())
    }

    fn labels(&self) -> Option<Vec<i64>> {
        let tensors = SafeTensors::deserialize(&self.bytes).expect("safetensors");
        let view = tensors.tensor("y").ok()?;
        Some(
            view.data()
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect(),
        )
    }
}

fn max_abs_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn run_case(case: &Value, model: &impl NoisePredictor, device: &Device) -> f32 {
    let name = case["name"].as_str().expect("name");
    let io = Io::read(name);
    let (timesteps, _) = io.floats("t");
    let mut worst = 0.0f32;
    for size in case["sizes"].as_array().expect("sizes") {
        let (h, w) = (size[0].as_u64().expect("h"), size[1].as_u64().expect("w"));
        let (x, x_shape) = io.floats(&format!("x_{h}x{w}"));
        let (expected, _) = io.floats(&format!("eps_{h}x{w}"));
        let x = Tensor::<4>::from_data(TensorData::new(x, x_shape), device);
        let t = Tensor::<1>::from_floats(timesteps.as_slice(), device);
        let y = io
            .labels()
            .map(|y| Tensor::<1, Int>::from_data(TensorData::new(y, [2]), device));
        let eps: Vec<f32> = model
            .predict_noise(x, t, y)
            .into_data()
            .try_to_vec()
            .expect("f32 output");
        let difference = max_abs_difference(&eps, &expected);
        assert!(
            difference < 1e-4,
            "{name} at {h}x{w}: max |Δ| = {difference:e}"
        );
        worst = worst.max(difference);
    }
    worst
}

#[test]
fn forward_passes_match_pytorch_within_1e_4() {
    let device = Device::flex();
    let manifest = manifest();
    let cases = manifest["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 6, "every fixture case is checked");
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let config = model_config(case);
        let weights = fixtures().join(format!("{name}.weights.safetensors"));
        let (model, report) = import_weights(&config, &weights, None, &device).expect("import");
        assert!(report.applied > 20, "{name}: {report:?}");
        let worst = run_case(case, &model, &device);
        eprintln!("{name}: max |Δ| = {worst:e}");
    }
}

#[test]
fn our_files_round_trip_with_pytorch_keys() {
    let device = Device::flex();
    let manifest = manifest();
    let case = &manifest["cases"][3];
    let config = model_config(case);
    let name = case["name"].as_str().expect("name");
    let weights = fixtures().join(format!("{name}.weights.safetensors"));
    let (model, _) = import_weights(&config, &weights, None, &device).expect("import");
    let folder = tempfile::tempdir().expect("temp dir");
    let path = folder.path().join("model.safetensors");
    save_model(&model, &config, &path).expect("save");

    let ours = std::fs::read(&path).expect("saved file");
    let reference = std::fs::read(&weights).expect("fixture");
    let our_keys = SafeTensors::deserialize(&ours)
        .expect("valid")
        .names()
        .len();
    let mut pytorch_keys: Vec<String> = SafeTensors::deserialize(&reference)
        .expect("valid")
        .names()
        .into_iter()
        .filter(|k| !k.ends_with("num_batches_tracked"))
        .map(str::to_string)
        .collect();
    let mut saved: Vec<String> = SafeTensors::deserialize(&ours)
        .expect("valid")
        .names()
        .into_iter()
        .map(str::to_string)
        .collect();
    saved.sort();
    pytorch_keys.sort();
    assert_eq!(
        saved, pytorch_keys,
        "saved keys are the PyTorch state_dict keys"
    );
    assert_eq!(our_keys, pytorch_keys.len());

    let (reloaded, reloaded_config) = load_model(&path, &device).expect("load");
    assert_eq!(reloaded_config, config);
    run_case(case, &reloaded, &device);
}

#[test]
fn mismatched_weights_name_the_keys() {
    let device = Device::flex();
    let manifest = manifest();
    let case = &manifest["cases"][0];
    let mut config = model_config(case);
    config.num_classes = 2;
    let weights = fixtures().join("dtunet_mlp_c1.weights.safetensors");
    let error = import_weights(&config, &weights, None, &device).expect_err("no label_emb in file");
    let text = error.to_string();
    assert!(text.contains("label_emb.weight"), "{text}");
    assert!(text.contains("1 missing"), "{text}");

    let bad_depth = ModelConfig {
        depth: 2,
        ..model_config(case)
    };
    let text = import_weights(&bad_depth, &weights, None, &device)
        .expect_err("extra blocks in the file")
        .to_string();
    assert!(
        text.contains("unexpected") && text.contains("in_blocks.1."),
        "{text}"
    );

    let missing = fixtures().join("no-such.safetensors");
    let text = import_weights(&config, &missing, None, &device)
        .expect_err("missing file")
        .to_string();
    assert!(
        text.contains("no-such.safetensors") && text.contains("no such file"),
        "{text}"
    );
}

#[test]
fn a_pytorch_pickle_checkpoint_imports_under_its_top_level_key() {
    let device = Device::flex();
    let manifest = manifest();
    let case = &manifest["cases"][3];
    let name = case["name"].as_str().expect("name");
    assert_eq!(
        name, "dtunet_daff_c3_label",
        "gen_pickle.py writes this case"
    );
    let config = model_config(case);
    let pickle = fixtures().join(format!("{name}.checkpoint.pt"));
    let (model, report) =
        import_weights(&config, &pickle, Some("ema"), &device).expect("the pickle imports");
    // Four DAFF blocks (two in, two out) with three BatchNorms each.
    let batch_norms = 4 * 3;
    assert_eq!(
        report.ignored.len(),
        batch_norms,
        "num_batches_tracked of the DAFF stages: {report:?}"
    );
    assert!(report.applied > 100, "{report:?}");
    let worst = run_case(case, &model, &device);
    eprintln!("{name} from torch.save pickle: max |Δ| = {worst:e}");

    let text = import_weights(&config, &pickle, Some("model_state_dict"), &device)
        .expect_err("no such key in the checkpoint")
        .to_string();
    assert!(
        text.contains("model_state_dict") && text.contains(&pickle.display().to_string()),
        "{text}"
    );
}

// The authors' own `UDHVT` class (tests/fixtures/models/gen_reference.py): random-weight
// state_dicts of every option their configurations use — MLP, DAFF, DDAFF, the convolutional
// patch embedding (SPE), the refinement head, a label token, 1 and 3 channels — imported
// through `import_weights` give the class's forward pass within 1e-4.

fn reference_cases() -> Vec<Value> {
    let text = std::fs::read_to_string(fixtures().join("reference_cases.json")).expect("manifest");
    let manifest: Value = serde_json::from_str(&text).expect("json");
    manifest["cases"].as_array().expect("cases").clone()
}

/// The case's configuration, through serde as a config file would give it.
fn reference_config(case: &Value) -> ModelConfig {
    serde_json::from_value(case["config"].clone()).expect("a dtunet model configuration")
}

/// The worst |Δ| of the imported model's ε̂ against the class's for `case`, loading `file`.
fn worst_difference(case: &Value, file: &str, top_level_key: Option<&str>) -> (f32, Vec<String>) {
    let name = case["name"].as_str().expect("name");
    let device = Device::flex();
    let config = reference_config(case);
    let (model, report) = import_weights(&config, &fixtures().join(file), top_level_key, &device)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let (shape, x) = read_npy_f32(&fixtures().join(format!("ref_{name}.x.npy"))).expect("x");
    let (_, expected) = read_npy_f32(&fixtures().join(format!("ref_{name}.eps.npy"))).expect("eps");
    let t: Vec<f64> = serde_json::from_value(case["t"].clone()).expect("t");
    let labels: Option<Vec<i64>> = serde_json::from_value(case["labels"].clone()).expect("y");
    let x = HostBatch::new(&shape, x).expect("4-D");
    let eps = predict_noise(&model, &config, &x, &t, labels.as_deref(), &device).expect("runs");
    (max_abs_difference(&eps.values, &expected), report.ignored)
}

#[test]
fn every_reference_option_imports_and_matches_the_class() {
    let cases = reference_cases();
    assert_eq!(cases.len(), 8);
    for case in &cases {
        let name = case["name"].as_str().expect("name");
        let (difference, ignored) =
            worst_difference(case, &format!("ref_{name}.weights.safetensors"), None);
        eprintln!("{name}: max |Δ| = {difference:e}");
        assert!(difference < 1e-4, "{name}: max |Δ| = {difference:e}");
        assert!(
            ignored.iter().any(|key| key == "cls_token"),
            "{name}: {ignored:?}"
        );
        let distilled = name == "mlp_c3_cls";
        assert_eq!(
            ignored.iter().any(|key| key == "dist_token"),
            distilled,
            "{name}"
        );
    }
}

#[test]
fn the_training_scripts_pickle_imports_from_its_ema_entry() {
    let case = reference_cases()
        .into_iter()
        .find(|case| case["name"] == "daff_mlp_ddaff_c3")
        .expect("case");
    let (difference, _) =
        worst_difference(&case, "ref_daff_mlp_ddaff_c3.checkpoint.pt", Some("ema"));
    assert!(difference < 1e-4, "max |Δ| = {difference:e}");
}

#[test]
fn options_that_change_the_network_are_not_interchangeable() {
    let device = Device::flex();
    let case = reference_cases()
        .into_iter()
        .find(|case| case["name"] == "ddaff_c1")
        .expect("case");
    let as_daff = ModelConfig {
        ff: "daff".parse().expect("valid"),
        ..reference_config(&case)
    };
    let text = import_weights(
        &as_daff,
        &fixtures().join("ref_ddaff_c1.weights.safetensors"),
        None,
        &device,
    )
    .expect_err("DDAFF weights do not fit DAFF")
    .to_string();
    assert!(text.contains("deconv") || text.contains("conv1"), "{text}");
}

#[test]
fn unknown_tensors_are_still_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("extra.safetensors");
    let source = std::fs::read(fixtures().join("ref_mlp_c1.weights.safetensors")).expect("read");
    let tensors = safetensors::SafeTensors::deserialize(&source).expect("safetensors");
    let mut views: Vec<(String, safetensors::tensor::TensorView)> =
        tensors.tensors().into_iter().collect();
    let extra = [0u8; 16];
    views.push((
        "head.weight".into(),
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![4], &extra)
            .expect("view"),
    ));
    safetensors::serialize_to_file(views, None, &path).expect("write");
    let case = reference_cases().into_iter().next().expect("case");
    let text = import_weights(&reference_config(&case), &path, None, &Device::flex())
        .expect_err("an unexpected tensor")
        .to_string();
    assert!(text.contains("head.weight"), "{text}");
    assert!(
        !text.contains("cls_token"),
        "cls_token is ignored, not refused: {text}"
    );
}

#[test]
fn models_with_every_option_round_trip_through_our_files() {
    let device = Device::flex();
    let dir = tempfile::tempdir().expect("tempdir");
    for case in reference_cases() {
        let name = case["name"].as_str().expect("name");
        let config = reference_config(&case);
        let (model, _) = import_weights(
            &config,
            &fixtures().join(format!("ref_{name}.weights.safetensors")),
            None,
            &device,
        )
        .expect("imports");
        let path = dir.path().join(format!("{name}.safetensors"));
        save_model(&model, &config, &path).expect("saved");
        let (reloaded, reloaded_config) = load_model(&path, &device).expect("loads");
        assert_eq!(reloaded_config, config, "{name}");
        let (shape, x) = read_npy_f32(&fixtures().join(format!("ref_{name}.x.npy"))).expect("x");
        let x = HostBatch::new(&shape, x).expect("4-D");
        let labels = (config.num_classes > 0).then_some(&[0i64, 1][..]);
        let before = predict_noise(&model, &config, &x, &[5.0, 9.0], labels, &device).expect("ok");
        let after =
            predict_noise(&reloaded, &config, &x, &[5.0, 9.0], labels, &device).expect("ok");
        assert_eq!(before, after, "{name}");
    }
}

#[test]
fn configurations_saved_without_norm_eps_keep_the_class_default() {
    let mut json: Value = serde_json::to_value(ModelConfig::default()).expect("json");
    json.as_object_mut().expect("object").remove("norm_eps");
    let legacy: ModelConfig = serde_json::from_value(json).expect("older configuration");
    assert_eq!(legacy.norm_eps, 1e-6);
    assert_eq!(ModelConfig::default().norm_eps, 1e-5);
}

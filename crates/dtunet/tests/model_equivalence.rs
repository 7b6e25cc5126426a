//! DTU-Net and U-ViT forward passes equal the PyTorch rendering of SPEC §4.1
//! (`tests/fixtures/models/gen_models.py`), loading its state_dicts through the import path.

use std::path::PathBuf;

use burn::tensor::{Device, Int, Tensor, TensorData};
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

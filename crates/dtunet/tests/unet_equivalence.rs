//! The UNet baseline against its PyTorch rendering (`tests/fixtures/unet/gen_unet.py`, a
//! transcription of guided-diffusion's `UNetModel`): the float16 state_dict loads key for key
//! through `import_weights` (every parameter set, nothing left over), the forward pass agrees
//! within the fixture tolerance (1e-4) on square and non-square inputs, and our saved files
//! carry the PyTorch keys and shapes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::store::ModuleSnapshot;
use burn::tensor::{Device, Int, Tensor, TensorData};
use dtunet::models::config::{Architecture, ModelConfig};
use dtunet::models::weights::{import_weights, model_bytes};
use dtunet::models::{Denoiser, NoisePredictor};
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/unet")
}

fn read_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A little-endian f32 tensor from a safetensors file, with its shape.
fn read_f32(file: &SafeTensors<'_>, name: &str) -> (Vec<f32>, Vec<usize>) {
    let view = file.tensor(name).expect("tensor in the io fixture");
    assert_eq!(view.dtype(), Dtype::F32, "{name}");
    let values = view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    (values, view.shape().to_vec())
}

fn read_labels(file: &SafeTensors<'_>, device: &Device) -> Tensor<1, Int> {
    let view = file.tensor("y").expect("labels in the io fixture");
    assert_eq!(view.dtype(), Dtype::I64);
    let labels: Vec<i64> = view
        .data()
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
        .collect();
    let n = labels.len();
    Tensor::from_data(TensorData::new(labels, [n]), device)
}

struct Case {
    name: String,
    config: ModelConfig,
    sizes: Vec<[usize; 2]>,
    tolerance: f32,
}

fn as_usize(value: &Value) -> usize {
    value.as_u64().expect("non-negative integer") as usize
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(fixture_dir().join("cases.json")).expect("cases.json");
    let manifest: Value = serde_json::from_str(&text).expect("valid JSON");
    let tolerance = manifest["tolerance"].as_f64().expect("tolerance") as f32;
    let list = manifest["cases"].as_array().expect("cases");
    list.iter()
        .map(|case| {
            let cfg = &case["config"];
            let usizes = |key: &str| -> Vec<usize> {
                cfg[key]
                    .as_array()
                    .expect(key)
                    .iter()
                    .map(as_usize)
                    .collect()
            };
            let config = ModelConfig {
                arch: Architecture::Unet,
                img_size: as_usize(&cfg["img_size"]),
                channels: as_usize(&cfg["channels"]),
                num_classes: as_usize(&cfg["num_classes"]),
                unet_channels: as_usize(&cfg["unet_channels"]),
                unet_res_blocks: as_usize(&cfg["unet_res_blocks"]),
                unet_attention_resolutions: usizes("unet_attention_resolutions"),
                unet_heads: as_usize(&cfg["unet_heads"]),
                unet_channel_mult: usizes("channel_mult"),
                ..ModelConfig::default()
            };
            config.validate().expect("fixture config is valid");
            let sizes = case["sizes"]
                .as_array()
                .expect("sizes")
                .iter()
                .map(|hw| [as_usize(&hw[0]), as_usize(&hw[1])])
                .collect();
            Case {
                name: case["name"].as_str().expect("name").to_string(),
                config,
                sizes,
                tolerance,
            }
        })
        .collect()
}

/// The fixture's network with its PyTorch weights (stored as float16, cast to float32).
fn load_unet(case: &Case, device: &Device) -> Denoiser {
    let path = fixture_dir().join(format!("{}.weights.safetensors", case.name));
    let (unet, report) =
        import_weights(&case.config, &path, None, device).expect("the state_dict loads");
    let parameter_tensors = unet.collect(None, None, true).len();
    assert_eq!(report.applied, parameter_tensors, "{}", case.name);
    unet
}

#[test]
fn forward_matches_pytorch_guided_diffusion_unet() {
    let device = Device::flex();
    for case in cases() {
        let unet = load_unet(&case, &device);
        let io_bytes = read_bytes(&fixture_dir().join(format!("{}.io.safetensors", case.name)));
        let io = SafeTensors::deserialize(&io_bytes).expect("io fixture");
        let (t, _) = read_f32(&io, "t");
        for [height, width] in &case.sizes {
            let (x, x_shape) = read_f32(&io, &format!("x_{height}x{width}"));
            let (eps, eps_shape) = read_f32(&io, &format!("eps_{height}x{width}"));
            assert_eq!(x_shape, eps_shape);
            let x_t = Tensor::<4>::from_data(TensorData::new(x, x_shape.clone()), &device);
            let t = Tensor::<1>::from_floats(t.as_slice(), &device);
            let y = (case.config.num_classes > 0).then(|| read_labels(&io, &device));
            let predicted = unet.predict_noise(x_t, t, y);
            assert_eq!(
                predicted.dims().to_vec(),
                eps_shape,
                "{} {height}x{width}",
                case.name
            );
            let predicted: Vec<f32> = predicted.into_data().try_to_vec().expect("f32 output");
            let max_error = predicted
                .iter()
                .zip(&eps)
                .map(|(got, want)| (got - want).abs())
                .fold(0.0f32, f32::max);
            eprintln!(
                "{} {height}x{width}: max |ε̂ − ε_torch| = {max_error:.3e}",
                case.name
            );
            assert!(
                max_error <= case.tolerance,
                "{} {height}x{width}: max abs error {max_error} exceeds {}",
                case.name,
                case.tolerance
            );
        }
    }
}

#[test]
fn saving_gives_back_the_pytorch_keys_and_shapes() {
    let device = Device::flex();
    for case in cases() {
        let unet = load_unet(&case, &device);
        let saved_bytes = model_bytes(&unet, &case.config).expect("save");
        let saved = SafeTensors::deserialize(&saved_bytes).expect("saved safetensors");
        let fixture_bytes =
            read_bytes(&fixture_dir().join(format!("{}.weights.safetensors", case.name)));
        let fixture = SafeTensors::deserialize(&fixture_bytes).expect("weights fixture");
        let shapes = |file: &SafeTensors<'_>| -> BTreeMap<String, Vec<usize>> {
            file.tensors()
                .into_iter()
                .filter(|(name, _)| !name.ends_with("num_batches_tracked"))
                .map(|(name, view)| (name, view.shape().to_vec()))
                .collect()
        };
        assert_eq!(shapes(&saved), shapes(&fixture), "{}", case.name);
    }
}

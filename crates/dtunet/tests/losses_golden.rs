//! SSIM, MS-SSIM and TV loss terms and their input gradients against pytorch-msssim 1.0.0,
//! evaluated in float64 (`tests/fixtures/losses/gen_losses.py`).

use std::path::PathBuf;

use burn::tensor::{Device, Tensor, TensorData};
use dtunet::losses::{ms_ssim, ssim, total_variation};
use safetensors::SafeTensors;
use serde_json::Value;

const TOLERANCE: f64 = 1e-4;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/losses")
        .join(name)
}

fn read_f32(tensors: &SafeTensors<'_>, key: &str) -> (Vec<f32>, Vec<usize>) {
    let view = tensors.tensor(key).expect(key);
    assert_eq!(view.dtype(), safetensors::Dtype::F32, "{key}");
    let values = view
        .data()
        .chunks_exact(4)
        .map(|bytes| f32::from_le_bytes(bytes.try_into().expect("4 bytes")))
        .collect();
    (values, view.shape().to_vec())
}

fn to_vec(tensor: Tensor<4>) -> Vec<f32> {
    tensor.into_data().try_into_vec::<f32>().expect("f32")
}

/// Largest absolute difference; also asserts it is within [`TOLERANCE`].
fn compare(what: &str, ours: &[f32], golden: &[f64]) -> f64 {
    assert_eq!(ours.len(), golden.len(), "{what}: length");
    let max_error = ours
        .iter()
        .zip(golden)
        .map(|(ours, golden)| (f64::from(*ours) - golden).abs())
        .fold(0.0, f64::max);
    assert!(
        max_error <= TOLERANCE,
        "{what}: max |error| {max_error:e} exceeds {TOLERANCE:e}"
    );
    max_error
}

/// Gradients are small (≈1e-3 for the large image), so they are also held to a relative
/// bound: the max error within 1e-3 of the largest gradient magnitude.
fn compare_gradient(what: &str, ours: &[f32], golden: &[f32]) -> (f64, f64) {
    let golden: Vec<f64> = golden.iter().map(|g| f64::from(*g)).collect();
    let max_error = compare(what, ours, &golden);
    let scale = golden.iter().fold(0.0, |max: f64, g| max.max(g.abs()));
    let relative = max_error / scale.max(f64::MIN_POSITIVE);
    assert!(
        relative <= 1e-3,
        "{what}: max |error| {max_error:e} is {relative:e} of the largest gradient {scale:e}"
    );
    (max_error, relative)
}

fn per_sample(case: &Value, key: &str) -> Vec<f64> {
    case[key]
        .as_array()
        .expect(key)
        .iter()
        .map(|value| value.as_f64().expect("number"))
        .collect()
}

#[test]
fn ssim_ms_ssim_and_tv_match_pytorch_msssim_with_gradients() {
    let golden: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("losses_golden.json")).expect("fixture json"),
    )
    .expect("json");
    let bytes = std::fs::read(fixture("losses_golden.safetensors")).expect("fixture tensors");
    let tensors = SafeTensors::deserialize(&bytes).expect("safetensors");
    let device = Device::flex().autodiff();

    let (mut value_error, mut gradient_error, mut gradient_relative) = (0.0f64, 0.0f64, 0.0f64);
    let cases = golden["cases"].as_array().expect("cases");
    assert!(cases.len() >= 5);
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let (x, shape) = read_f32(&tensors, &format!("{name}.x"));
        let (y, _) = read_f32(&tensors, &format!("{name}.y"));
        let shape: [usize; 4] = shape.try_into().expect("4-D");
        let input = |values: &[f32]| {
            Tensor::<4>::from_data(TensorData::new(values.to_vec(), shape), &device)
        };

        // SSIM: value and d Σ(1 − SSIM) / dx.
        let x_leaf = input(&x).require_grad();
        let value = ssim(x_leaf.clone(), input(&y));
        let ours: Vec<f32> = value
            .clone()
            .into_data()
            .try_into_vec::<f32>()
            .expect("f32");
        value_error = value_error.max(compare(
            &format!("{name} ssim"),
            &ours,
            &per_sample(case, "ssim"),
        ));
        let grads = value.neg().add_scalar(1.0).sum().backward();
        let (golden_grad, _) = read_f32(&tensors, &format!("{name}.grad_ssim"));
        let ours = to_vec(x_leaf.grad(&grads).expect("gradient"));
        let (error, relative) =
            compare_gradient(&format!("{name} ssim gradient"), &ours, &golden_grad);
        gradient_error = gradient_error.max(error);
        gradient_relative = gradient_relative.max(relative);

        // MS-SSIM: scale count, value and d Σ(1 − MS-SSIM) / dx.
        let x_leaf = input(&x).require_grad();
        let multi = ms_ssim(x_leaf.clone(), input(&y));
        assert_eq!(
            multi.n_scales as u64,
            case["ms_ssim_scales"].as_u64().expect("scales"),
            "{name}"
        );
        let ours: Vec<f32> = multi
            .value
            .clone()
            .into_data()
            .try_into_vec::<f32>()
            .expect("f32");
        value_error = value_error.max(compare(
            &format!("{name} ms_ssim"),
            &ours,
            &per_sample(case, "ms_ssim"),
        ));
        let grads = multi.value.neg().add_scalar(1.0).sum().backward();
        let (golden_grad, _) = read_f32(&tensors, &format!("{name}.grad_ms_ssim"));
        let ours = to_vec(x_leaf.grad(&grads).expect("gradient"));
        let (error, relative) =
            compare_gradient(&format!("{name} ms_ssim gradient"), &ours, &golden_grad);
        gradient_error = gradient_error.max(error);
        gradient_relative = gradient_relative.max(relative);

        // TV: value and, for the small cases, d ΣTV / dx.
        let x_leaf = input(&x).require_grad();
        let tv = total_variation(x_leaf.clone());
        let ours: Vec<f32> = tv.clone().into_data().try_into_vec::<f32>().expect("f32");
        value_error = value_error.max(compare(
            &format!("{name} tv"),
            &ours,
            &per_sample(case, "tv"),
        ));
        if case["has_grad_tv"].as_bool().expect("has_grad_tv") {
            let grads = tv.sum().backward();
            let (golden_grad, _) = read_f32(&tensors, &format!("{name}.grad_tv"));
            let ours = to_vec(x_leaf.grad(&grads).expect("gradient"));
            let (error, _) = compare_gradient(&format!("{name} tv gradient"), &ours, &golden_grad);
            gradient_error = gradient_error.max(error);
        }
    }
    eprintln!(
        "max |error| vs {} / pytorch-msssim {}: values {value_error:e}, gradients {gradient_error:e} \
         ({gradient_relative:e} of the largest SSIM/MS-SSIM gradient)",
        golden["torch"].as_str().unwrap_or("?"),
        golden["pytorch_msssim"].as_str().unwrap_or("?"),
    );
}

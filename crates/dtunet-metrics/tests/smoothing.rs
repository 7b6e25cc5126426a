//! `gaussian_smooth` against `scipy.ndimage.gaussian_filter` (SciPy 1.17.1) on the cases of
//! `tests/fixtures/smoothing/gen_smoothing.py`: non-square maps, σ from 0.7 to 4, a kernel
//! wider than the image (reflected more than once).

use dtunet_metrics::{MapShape, gaussian_smooth};
use serde_json::Value;

#[test]
fn smoothing_equals_scipy_gaussian_filter() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/smoothing/smoothing_golden.json"
    ))
    .expect("fixture present");
    let golden: Value = serde_json::from_str(&text).expect("json");
    let cases = golden["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 5);
    for case in cases {
        let floats = |key: &str| -> Vec<f32> {
            case[key]
                .as_array()
                .expect("array")
                .iter()
                .map(|v| v.as_f64().expect("number") as f32)
                .collect()
        };
        let count = |key: &str| case[key].as_u64().expect("size") as usize;
        let shape = MapShape::new(count("height"), count("width"));
        let sigma = case["sigma"].as_f64().expect("sigma");
        let found = gaussian_smooth(&floats("map"), shape, sigma).expect("smooths");
        let worst = found
            .iter()
            .zip(floats("smoothed"))
            .map(|(a, b)| (a - b).abs())
            .fold(0.0_f32, f32::max);
        assert!(worst <= 2e-6, "{}: worst |Δ| {worst}", case["name"]);
    }
}

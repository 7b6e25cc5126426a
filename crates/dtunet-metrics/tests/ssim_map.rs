//! `ssim_map` against the full map of `skimage.metrics.structural_similarity(full=True)`
//! (scikit-image 0.26.0) on the cases of `tests/fixtures/ssim_map/gen_ssim_map.py`: a grey
//! non-square image with a bright patch, an RGB image (channel mean), the smallest size.

use dtunet_metrics::{ImageShape, ssim, ssim_map};
use serde_json::Value;

#[test]
fn the_local_ssim_map_equals_scikit_image_full_map() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/ssim_map/ssim_map_golden.json"
    ))
    .expect("fixture present");
    let golden: Value = serde_json::from_str(&text).expect("json");
    let cases = golden["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 3);
    for case in cases {
        let values = |key: &str| -> Vec<f64> {
            case[key]
                .as_array()
                .expect("array")
                .iter()
                .map(|v| v.as_f64().expect("number"))
                .collect()
        };
        let count = |key: &str| case[key].as_u64().expect("size") as usize;
        let shape = ImageShape::new(count("channels"), count("height"), count("width"));
        let first: Vec<f32> = values("first").iter().map(|&v| v as f32).collect();
        let second: Vec<f32> = values("second").iter().map(|&v| v as f32).collect();
        let found = ssim_map(&first, &second, shape).expect("map");
        let expected = values("map");
        assert_eq!(found.len(), expected.len());
        let worst = found
            .iter()
            .zip(&expected)
            .map(|(&a, b)| (f64::from(a) - b).abs())
            .fold(0.0, f64::max);
        assert!(worst <= 1e-6, "{}: worst |Δ| {worst}", case["name"]);
        let identical = ssim_map(&first, &first, shape).expect("map");
        assert!(identical.iter().all(|&v| (v - 1.0).abs() < 1e-6));
        assert!(ssim(&first, &second, shape).expect("ssim") < 1.0);
    }
}

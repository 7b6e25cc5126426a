//! `threshold_at_fpr` against `numpy.quantile(scores, 1 − fpr, method="inverted_cdf")`
//! (NumPy 2.4.6) on the cases of `tests/fixtures/calibration/gen_calibration.py`: uniform,
//! heavy-tailed and heavily tied scores, rates from 0.05 % to 31 %.

use dtunet_metrics::threshold_at_fpr;
use serde_json::Value;

#[test]
fn calibrated_thresholds_equal_numpy_inverted_cdf_quantiles() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/calibration/calibration_golden.json"
    ))
    .expect("fixture present");
    let golden: Value = serde_json::from_str(&text).expect("json");
    let cases = golden["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 4);
    let numbers = |value: &Value| -> Vec<f64> {
        value
            .as_array()
            .expect("array")
            .iter()
            .map(|v| v.as_f64().expect("number"))
            .collect()
    };
    for case in cases {
        let scores: Vec<f32> = numbers(&case["scores"]).iter().map(|&v| v as f32).collect();
        let expected_above = numbers(&case["above"]);
        for ((rate, expected), above) in numbers(&case["rates"])
            .into_iter()
            .zip(numbers(&case["thresholds"]))
            .zip(expected_above)
        {
            let found = threshold_at_fpr(&scores, rate).expect("threshold");
            assert_eq!(found, expected, "{} at rate {rate}", case["name"]);
            let flagged = scores.iter().filter(|&&s| f64::from(s) > found).count();
            assert_eq!(flagged as f64, above, "{} at rate {rate}", case["name"]);
            assert!(flagged as f64 <= rate * scores.len() as f64);
        }
    }
}

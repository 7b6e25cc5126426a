//! Diffusion schedules against the guided-diffusion formulas in float64
//! (`tests/fixtures/diffusion/gen_diffusion.py`).

use std::path::PathBuf;

use dtunet::diffusion::{BetaSchedule, DiffusionSchedule};
use serde_json::Value;

#[test]
fn every_coefficient_equals_guided_diffusion() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/diffusion/schedule_golden.json");
    let golden: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("json");
    let mut checked = 0;
    for entry in golden["schedules"].as_array().expect("schedules") {
        let kind: BetaSchedule = entry["name"]
            .as_str()
            .expect("name")
            .parse()
            .expect("known");
        let steps = entry["steps"].as_u64().expect("steps") as usize;
        let schedule = DiffusionSchedule::new(kind, steps).expect("valid");
        let indices: Vec<usize> = entry["indices"]
            .as_array()
            .expect("indices")
            .iter()
            .map(|i| i.as_u64().expect("index") as usize)
            .collect();
        let ours: [(&str, &Vec<f64>); 12] = [
            ("betas", &schedule.betas),
            ("alphas_cumprod", &schedule.alphas_cumprod),
            ("alphas_cumprod_prev", &schedule.alphas_cumprod_prev),
            ("sqrt_alphas_cumprod", &schedule.sqrt_alphas_cumprod),
            (
                "sqrt_one_minus_alphas_cumprod",
                &schedule.sqrt_one_minus_alphas_cumprod,
            ),
            (
                "sqrt_recip_alphas_cumprod",
                &schedule.sqrt_recip_alphas_cumprod,
            ),
            (
                "sqrt_recipm1_alphas_cumprod",
                &schedule.sqrt_recipm1_alphas_cumprod,
            ),
            ("posterior_variance", &schedule.posterior_variance),
            (
                "posterior_log_variance_clipped",
                &schedule.posterior_log_variance_clipped,
            ),
            ("posterior_mean_coef1", &schedule.posterior_mean_coef1),
            ("posterior_mean_coef2", &schedule.posterior_mean_coef2),
            (
                "model_log_variance_fixed_large",
                &schedule.model_log_variance,
            ),
        ];
        for (key, values) in ours {
            assert_eq!(values.len(), steps);
            let expected = entry[key].as_array().unwrap_or_else(|| panic!("{key}"));
            for (&t, reference) in indices.iter().zip(expected) {
                let reference = reference.as_f64().expect("number");
                let error = (values[t] - reference).abs() / reference.abs().max(1e-300);
                assert!(
                    error < 1e-12,
                    "{kind} T={steps} {key}[{t}]: ours {}, reference {reference}",
                    values[t]
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 1812, "every golden value checked");
}

//! OpenSimplex against golden values of the Python package `opensimplex` 0.4.5.1
//! (`tests/fixtures/opensimplex/gen_opensimplex.py`).

use std::path::PathBuf;

use dtunet_noise::OpenSimplex;
use serde_json::Value;

fn golden() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/opensimplex/opensimplex_golden.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("valid fixture JSON")
}

fn as_f64s(point: &Value) -> Vec<f64> {
    point
        .as_array()
        .expect("point array")
        .iter()
        .map(|v| v.as_f64().expect("number"))
        .collect()
}

#[test]
fn permutation_equals_package_for_every_seed() {
    let golden = golden();
    let seeds = golden["seeds"].as_array().expect("seeds");
    assert_eq!(seeds.len(), 16);
    for entry in seeds {
        let seed: i64 = entry["seed"]
            .as_str()
            .expect("seed string")
            .parse()
            .expect("i64 seed");
        let expected: Vec<u8> = entry["perm"]
            .as_array()
            .expect("perm")
            .iter()
            .map(|v| v.as_u64().expect("byte") as u8)
            .collect();
        assert_eq!(
            OpenSimplex::new(seed).permutation().as_slice(),
            expected.as_slice(),
            "seed {seed}"
        );
    }
}

#[test]
fn noise2_noise3_noise4_equal_package_within_1e_9() {
    let golden = golden();
    let mut checked = 0;
    let mut worst: f64 = 0.0;
    for entry in golden["seeds"].as_array().expect("seeds") {
        let seed: i64 = entry["seed"]
            .as_str()
            .expect("seed string")
            .parse()
            .expect("i64 seed");
        let noise = OpenSimplex::new(seed);
        for (key, dims) in [("points2", 2), ("points3", 3), ("points4", 4)] {
            for point in entry[key].as_array().expect("points") {
                let p = as_f64s(point);
                assert_eq!(p.len(), dims + 1);
                let ours = match dims {
                    2 => noise.noise2(p[0], p[1]),
                    3 => noise.noise3(p[0], p[1], p[2]),
                    _ => noise.noise4(p[0], p[1], p[2], p[3]),
                };
                let error = (ours - p[dims]).abs();
                worst = worst.max(error);
                assert!(
                    error <= 1e-9,
                    "seed {seed} noise{dims}{:?}: ours {ours}, package {}",
                    &p[..dims],
                    p[dims]
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 16 * 3 * 68);
    eprintln!("{checked} values checked, worst |Δ| = {worst:e}");
}

#[test]
fn noise4_row_helper_equals_pointwise_noise4() {
    let noise = OpenSimplex::new(-7);
    let xs: Vec<f64> = (0..57).map(|i| i as f64 / 6.5).collect();
    let mut row = vec![0.25; xs.len()];
    noise.add_noise4_row(&mut row, &xs, 1.75, 0.5, 3.0, 0.9);
    for (value, &x) in row.iter().zip(&xs) {
        let pointwise = 0.25 + 0.9 * noise.noise4(x, 1.75, 0.5, 3.0);
        assert!(
            (value - pointwise).abs() <= 1e-14,
            "x {x}: {value} vs {pointwise}"
        );
    }
}

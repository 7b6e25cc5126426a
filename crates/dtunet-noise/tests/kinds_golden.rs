//! Tsimplex, KTs, simplex3d, patch4dsimplex, multisimplex and value fields and noise statistics
//! against golden values built from the Python reference (`tests/fixtures/noise/gen_noise.py`).

use std::path::{Path, PathBuf};

use dtunet_noise::{BatchShape, FractalParams, Histogram, Moments, NoiseConfig, NoiseKind};
use serde_json::Value;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/noise")
}

fn read_npy(path: &Path) -> (Vec<u64>, Vec<f64>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let npy = npyz::NpyFile::new(&bytes[..]).expect("npy header");
    let shape = npy.shape().to_vec();
    (shape, npy.into_vec::<f64>().expect("float64 data"))
}

fn manifest() -> Value {
    let text = std::fs::read_to_string(fixture_dir().join("manifest.json")).expect("manifest");
    serde_json::from_str(&text).expect("manifest JSON")
}

fn number(case: &Value, key: &str) -> f64 {
    case[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing"))
}

#[test]
fn fields_equal_reference_formula_within_1e_9() {
    let manifest = manifest();
    let cases = manifest["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 14);
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let dims: Vec<usize> = case["shape"]
            .as_array()
            .expect("shape")
            .iter()
            .map(|d| d.as_u64().expect("dim") as usize)
            .collect();
        let shape = BatchShape::new(dims[0], dims[1], dims[2], dims[3]);
        let timesteps: Vec<u32> = case["timesteps"]
            .as_array()
            .expect("timesteps")
            .iter()
            .map(|t| t.as_u64().expect("t") as u32)
            .collect();
        let kind: NoiseKind = case["kind"]
            .as_str()
            .expect("kind")
            .parse()
            .expect("known kind");
        let config = NoiseConfig {
            kind,
            fractal: FractalParams {
                octaves: number(case, "octaves") as u32,
                persistence: number(case, "persistence"),
                frequency: number(case, "frequency"),
            },
            kts_patch_px: case["patch"].as_u64().unwrap_or(16) as usize,
            kts_sigma: case["sigma"].as_f64().unwrap_or(4.0),
            ..NoiseConfig::default()
        };
        // One seed per case, as `--raw-seed` passes it: the OpenSimplex seed, and its 64-bit
        // two's complement for the value-noise lattices.
        let seed: i64 = case["seed"].as_str().expect("seed").parse().expect("i64");
        let ours = config
            .generate(shape, &timesteps, seed, seed as u64)
            .expect("valid case");
        let (npy_shape, expected) = read_npy(&fixture_dir().join(format!("{name}.npy")));
        assert_eq!(
            npy_shape,
            dims.iter().map(|&d| d as u64).collect::<Vec<_>>(),
            "{name}"
        );
        assert_eq!(ours.data.len(), expected.len(), "{name}");
        let mut worst: f64 = 0.0;
        for (i, (a, b)) in ours.data.iter().zip(&expected).enumerate() {
            worst = worst.max((a - b).abs());
            assert!(
                (a - b).abs() <= 1e-9,
                "{name}[{i}]: ours {a}, reference {b}"
            );
        }
        assert!(
            expected.iter().any(|v| v.abs() > 1e-3),
            "{name}: fixture is not all zeros"
        );
        eprintln!("{name}: {} values, worst |Δ| {worst:e}", expected.len());
    }
}

/// Patch `(i, j)` of plane `plane` (`b·C + c`) of an NCHW field, row-major `P×P`.
fn patch_values(data: &[f64], dims: [usize; 3], plane: usize, i: usize, j: usize) -> Vec<f64> {
    let [height, width, p] = dims;
    let plane = &data[plane * height * width..][..height * width];
    (0..p * p)
        .map(|q| plane[(i * p + q / p) * width + j * p + q % p])
        .collect()
}

#[test]
fn patch_fixtures_tell_the_frequency_rules_apart() {
    // Same seed, shape (1x2x32x48, P = 16), t and octaves: only the per-patch period differs.
    let (_, tiled) = read_npy(&fixture_dir().join("patch4dsimplex_nonsquare.npy"));
    let (_, radial) = read_npy(&fixture_dir().join("multisimplex_nonsquare.npy"));
    let dims = [32, 48, 16];
    for plane in 0..2 {
        let first = patch_values(&tiled, dims, plane, 0, 0);
        for (i, j) in [(0, 1), (0, 2), (1, 0), (1, 2)] {
            assert_eq!(
                patch_values(&tiled, dims, plane, i, j),
                first,
                "one shared field"
            );
        }
        // 2x3 patches: the middle column (d = 0.5) and the corners (d = sqrt(1.25)) differ.
        assert_ne!(
            patch_values(&radial, dims, plane, 0, 1),
            patch_values(&radial, dims, plane, 0, 0)
        );
    }
    let gap = tiled
        .iter()
        .zip(&radial)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(gap > 0.05, "multisimplex fixture indistinguishable: {gap}");
}

#[test]
fn statistics_equal_scipy_and_numpy() {
    let manifest = manifest();
    for (label, expected) in manifest["stats"].as_object().expect("stats") {
        let (_, values) = read_npy(&fixture_dir().join(format!("stats_{label}.npy")));
        let moments = Moments::of(&values);
        for (ours, key) in [
            (moments.mean, "mean"),
            (moments.std, "std"),
            (moments.skewness, "skewness"),
            (moments.kurtosis, "kurtosis_pearson"),
            (moments.min, "min"),
            (moments.max, "max"),
        ] {
            let reference = number(expected, key);
            assert!(
                (ours - reference).abs() <= 1e-9 * reference.abs().max(1.0),
                "{label} {key}: {ours} vs {reference}"
            );
        }
        let histogram = Histogram::new(&values, 50, -1.0, 1.0).expect("valid histogram");
        let counts: Vec<u64> = expected["hist_counts"]
            .as_array()
            .expect("counts")
            .iter()
            .map(|c| c.as_u64().expect("count"))
            .collect();
        assert_eq!(histogram.counts, counts, "{label} counts");
        for (ours, reference) in histogram
            .edges
            .iter()
            .zip(expected["hist_edges"].as_array().expect("edges"))
        {
            assert!((ours - reference.as_f64().expect("edge")).abs() < 1e-15);
        }
        for (ours, reference) in histogram
            .densities()
            .iter()
            .zip(expected["hist_density"].as_array().expect("density"))
        {
            assert!(
                (ours - reference.as_f64().expect("density")).abs() < 1e-12,
                "{label} density"
            );
        }
    }
}

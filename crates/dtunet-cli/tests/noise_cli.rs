//! The `dtunet noise` commands, run as a user would.

use assert_cmd::Command;
use predicates::prelude::*;

fn dtunet() -> Command {
    Command::cargo_bin("dtunet").expect("binary built")
}

/// A float64 `.npy` (shape, values).
fn read_npy(path: &std::path::Path) -> (Vec<u64>, Vec<f64>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file = npyz::NpyFile::new(&bytes[..]).expect("npy");
    let shape = file.shape().to_vec();
    (shape, file.into_vec::<f64>().expect("f64"))
}

/// A golden field written by `tests/fixtures/noise/gen_noise.py` from the Python package.
fn noise_fixture(name: &str) -> (Vec<u64>, Vec<f64>) {
    read_npy(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/noise")
            .join(format!("{name}.npy")),
    )
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn eval_prints_package_values_with_17_digits() {
    // opensimplex 0.4.5.1: OpenSimplex(3).noise2/3/4 at 0.5 (the package's docstrings).
    for (dims, input, expected) in [
        ("2", "0.5 0.5\n", -0.43906247097569345),
        ("3", "0.5\t0.5 0.5", 0.39504955501618155),
        ("4", "0.5 0.5\n0.5 0.5\n", 0.04520359600370195),
    ] {
        let output = dtunet()
            .args(["noise", "eval", "--dims", dims, "--seed", "3"])
            .write_stdin(input)
            .output()
            .expect("runs");
        assert!(output.status.success());
        let text = String::from_utf8(output.stdout).expect("utf8");
        let value: f64 = text.trim().parse().expect("one number");
        assert_eq!(value, expected, "dims {dims}");
        assert_eq!(
            text.trim()
                .trim_start_matches('-')
                .replace("0.", "")
                .trim_start_matches('0')
                .len(),
            17
        );
    }
}

#[test]
fn eval_accepts_extreme_seeds_and_many_tuples() {
    let output = dtunet()
        .args([
            "noise",
            "eval",
            "--dims",
            "2",
            "--seed",
            "-9223372036854775808",
        ])
        .write_stdin("0.5 0.5 1 2\n-3 4\n")
        .output()
        .expect("runs");
    assert!(output.status.success());
    let lines: Vec<f64> = String::from_utf8(output.stdout)
        .expect("utf8")
        .lines()
        .map(|l| l.parse().expect("number"))
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0], 0.0539030216903872, "package value for i64::MIN");
}

#[test]
fn eval_rejects_malformed_input() {
    dtunet()
        .args(["noise", "eval", "--dims", "2", "--seed", "1"])
        .write_stdin("1 2 x\n")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("line 1: \"x\" is not a number"));
    dtunet()
        .args(["noise", "eval", "--dims", "3", "--seed", "1"])
        .write_stdin("1 2 3 4\n")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("1 of 3 coordinates left over"));
    dtunet()
        .args(["noise", "eval", "--dims", "5", "--seed", "1"])
        .write_stdin("")
        .assert()
        .code(2);
}

#[test]
fn generate_writes_npy_equal_to_library_and_png() {
    let dir = tempfile::tempdir().expect("temp dir");
    let npy = dir.path().join("eps.npy");
    dtunet()
        .args([
            "noise",
            "generate",
            "--kind",
            "tsimplex",
            "--shape",
            "2x3x20x28",
            "--t",
            "5,500",
            "--seed",
            "7",
            "--raw-seed",
        ])
        .arg("--out")
        .arg(&npy)
        .assert()
        .success()
        .stderr(predicate::str::contains("tsimplex 2x3x20x28"));
    let bytes = std::fs::read(&npy).expect("npy written");
    let file = npyz::NpyFile::new(&bytes[..]).expect("npy");
    assert_eq!(file.shape(), &[2, 3, 20, 28]);
    let values = file.into_vec::<f64>().expect("f64");
    let expected = dtunet::noise::NoiseConfig::default()
        .generate(
            dtunet::noise::BatchShape::new(2, 3, 20, 28),
            &[5, 500],
            7,
            7,
        )
        .expect("valid");
    assert_eq!(values, expected.data);

    let png = dir.path().join("grid.png");
    dtunet()
        .args([
            "noise",
            "generate",
            "--kind",
            "kts",
            "--kts-patch",
            "8",
            "--shape",
            "2x1x16x24",
            "--t",
            "9",
        ])
        .arg("--out")
        .arg(&png)
        .assert()
        .success();
    let image = image::open(&png).expect("png decodes");
    assert_eq!((image.width(), image.height()), (24, 2 * 16 + 2));
}

#[test]
fn generate_rejects_bad_parameters_with_one_line_and_exit_2() {
    let cases: [(&[&str], &str); 10] = [
        (&["--octaves", "0"], "octaves = 0 is invalid"),
        (&["--persistence", "-1"], "persistence = -1 is invalid"),
        (&["--persistence", "0"], "persistence = 0 is invalid"),
        (&["--frequency", "0"], "frequency = 0 is invalid"),
        (&["--kind", "perlin"], "noise kind = \"perlin\" is invalid"),
        (
            &["--kind", "kts", "--shape", "1x1x40x32"],
            "divisible by the KTs patch size 16",
        ),
        (
            &["--kind", "multisimplex", "--shape", "1x1x32x40"],
            "divisible by the KTs patch size 16 (multisimplex cuts",
        ),
        (
            &["--kind", "patch4dsimplex", "--kts-patch", "0"],
            "kts patch size = 0 is invalid",
        ),
        (&["--shape", "1x1x8"], "expected BxCxHxW"),
        (&["--shape", ""], "expected BxCxHxW"),
    ];
    for (extra, message) in cases {
        let mut command = dtunet();
        command.args([
            "noise",
            "generate",
            "--t",
            "3",
            "--out",
            "/tmp/never-written.npy",
        ]);
        if !extra.contains(&"--shape") {
            command.args(["--shape", "1x1x32x32"]);
        }
        command
            .args(extra)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(message));
    }
}

#[test]
fn generate_takes_any_raw_seed_as_the_package_does_and_refuses_negative_stream_seeds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let generate = |args: &[&str], name: &str| -> Vec<f64> {
        let out = dir.path().join(name);
        dtunet()
            .args(["noise", "generate"])
            .args(args)
            .arg("--out")
            .arg(&out)
            .assert()
            .success();
        read_npy(&out).1
    };
    // OpenSimplex(-31) through the package (fixture tsimplex_seed_minus31), both flag forms.
    let tsimplex = [
        "--kind",
        "tsimplex",
        "--shape",
        "2x1x6x9",
        "--t",
        "40,333",
        "--octaves",
        "4",
        "--persistence",
        "0.8",
        "--frequency",
        "16",
        "--raw-seed",
    ];
    let (shape, expected) = noise_fixture("tsimplex_seed_minus31");
    assert_eq!(shape, [2, 1, 6, 9]);
    let joined = generate(&[&tsimplex[..], &["--seed=-31"]].concat(), "joined.npy");
    let spaced = generate(&[&tsimplex[..], &["--seed", "-31"]].concat(), "spaced.npy");
    assert_eq!(joined, spaced);
    assert!(max_abs_diff(&joined, &expected) <= 1e-9);
    // The package takes its seed modulo 2^64: 2^64 - 31 is the same instance.
    let wrapped = generate(
        &[&tsimplex[..], &["--seed", "18446744073709551585"]].concat(),
        "wrapped.npy",
    );
    assert_eq!(wrapped, joined);

    // Value noise: the lattices come from -31 as a 64-bit pattern (fixture value_nonsquare).
    let value = generate(
        &[
            "--kind",
            "value",
            "--shape",
            "1x2x32x48",
            "--t",
            "0",
            "--octaves",
            "6",
            "--persistence",
            "0.5",
            "--frequency",
            "8",
            "--seed=-31",
            "--raw-seed",
        ],
        "value.npy",
    );
    assert!(max_abs_diff(&value, &noise_fixture("value_nonsquare").1) <= 1e-12);

    // Without --raw-seed the seed starts the noise stream: a negative one is refused by name.
    for seed in [&["--seed=-31"][..], &["--seed", "-31"]] {
        dtunet()
            .args(["noise", "generate", "--shape", "1x1x8x8", "--t", "1"])
            .args(seed)
            .args(["--out", "/tmp/never-written.npy"])
            .assert()
            .code(2)
            .stderr(
                predicate::str::contains("--seed -31 is negative")
                    .and(predicate::str::contains("add --raw-seed")),
            );
    }
    dtunet()
        .args(["noise", "generate", "--shape", "1x1x8x8", "--t", "1"])
        .args(["--seed", "18446744073709551616", "--raw-seed"])
        .args(["--out", "/tmp/never-written.npy"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "is not an integer in -9223372036854775808..=18446744073709551615",
        ));
}

#[test]
fn generate_writes_the_new_kinds() {
    let dir = tempfile::tempdir().expect("temp dir");
    for kind in ["patch4dsimplex", "multisimplex", "value"] {
        let out = dir.path().join(format!("{kind}.npy"));
        dtunet()
            .args(["noise", "generate", "--kind", kind, "--shape", "2x3x16x24"])
            .args(["--t", "4,800", "--kts-patch", "8", "--seed", "5"])
            .arg("--out")
            .arg(&out)
            .assert()
            .success()
            .stderr(predicate::str::contains(format!("{kind} 2x3x16x24")));
        let (shape, values) = read_npy(&out);
        assert_eq!(shape, [2, 3, 16, 24]);
        assert!(values.iter().all(|v| v.is_finite()) && values.iter().any(|&v| v != 0.0));
    }
}

#[test]
fn stats_writes_csv_and_plots_for_a_sweep() {
    let dir = tempfile::tempdir().expect("temp dir");
    dtunet()
        .args([
            "noise",
            "stats",
            "--sweep",
            "persistence",
            "--values",
            "0.5,0.9",
            "--shape",
            "1x1x32x40",
            "--bins",
            "20",
        ])
        .arg("--out")
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("kurtosis"));
    let stats = std::fs::read_to_string(dir.path().join("stats.csv")).expect("stats.csv");
    let rows: Vec<Vec<f64>> = stats
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|v| v.parse().expect("number")).collect())
        .collect();
    assert_eq!(rows.len(), 2);
    assert!(
        rows[1][3] > rows[0][3],
        "std grows with persistence: {stats}"
    );
    for png in ["histograms.png", "kurtosis.png"] {
        image::open(dir.path().join(png)).expect("plot decodes");
    }
    dtunet()
        .args(["noise", "stats", "--sweep", "lacunarity", "--out"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "one of persistence, octaves, frequency, t",
        ));
}

#[test]
fn every_command_has_help() {
    for command in [
        &["noise"][..],
        &["noise", "eval"],
        &["noise", "generate"],
        &["noise", "stats"],
        &["noise", "bench"],
    ] {
        dtunet()
            .args(command)
            .arg("--help")
            .assert()
            .success()
            .stdout(predicate::str::contains("Usage"));
    }
}

#[test]
fn generate_honours_standardize_tsg_steps_and_kts_sigma() {
    let dir = tempfile::tempdir().expect("temp dir");
    let read = |name: &str| -> Vec<f64> {
        let bytes = std::fs::read(dir.path().join(name)).expect("npy written");
        npyz::NpyFile::new(&bytes[..])
            .expect("npy")
            .into_vec::<f64>()
            .expect("f64")
    };
    let run = |extra: &[&str], name: &str| {
        dtunet()
            .args([
                "noise",
                "generate",
                "--shape",
                "1x1x16x16",
                "--t",
                "50",
                "--seed",
                "3",
                "--raw-seed",
            ])
            .args(extra)
            .arg("--out")
            .arg(dir.path().join(name))
            .assert()
            .success();
    };
    run(&["--standardize"], "std.npy");
    let values = read("std.npy");
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
    assert!(
        mean.abs() < 1e-12 && (var - 1.0).abs() < 1e-12,
        "mean {mean} var {var}"
    );

    // Tsg at t = T is pure Gaussian noise; at t = 50 of T = 100 an even blend.
    run(&["--kind", "tsg", "--total-steps", "50"], "tsg_end.npy");
    run(&["--kind", "gauss"], "gauss.npy");
    assert_eq!(read("tsg_end.npy"), read("gauss.npy"));
    run(&["--kind", "tsg", "--total-steps", "100"], "tsg_half.npy");
    run(&["--kind", "tsimplex"], "ts.npy");
    for ((blend, g), s) in read("tsg_half.npy")
        .iter()
        .zip(read("gauss.npy"))
        .zip(read("ts.npy"))
    {
        assert!((blend - 0.5 * (g + s)).abs() < 1e-12);
    }

    run(
        &["--kind", "kts", "--kts-patch", "8", "--kts-sigma", "1"],
        "kts1.npy",
    );
    run(
        &["--kind", "kts", "--kts-patch", "8", "--kts-sigma", "3"],
        "kts3.npy",
    );
    assert_ne!(
        read("kts1.npy"),
        read("kts3.npy"),
        "sigma changes the per-patch frequency"
    );
}

#[test]
fn bench_reports_a_median_for_the_requested_threads() {
    dtunet()
        .args([
            "noise",
            "bench",
            "--shape",
            "2x1x16x16",
            "--repeats",
            "2",
            "--threads",
            "1",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("batch 2:").and(predicate::str::contains("threads=1")));
    dtunet()
        .args(["noise", "bench", "--repeats", "0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--repeats must be at least 1"));
}

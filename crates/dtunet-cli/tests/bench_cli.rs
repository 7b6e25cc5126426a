//! `dtunet bench train`, run as a user would on a tiny model. Timings are never asserted.

use assert_cmd::Command;
use predicates::prelude::*;

fn dtunet() -> Command {
    Command::cargo_bin("dtunet").expect("binary built")
}

const TINY: [&str; 20] = [
    "bench",
    "train",
    "--img-size",
    "16",
    "--patch-size",
    "4",
    "--embed-dim",
    "16",
    "--depth",
    "2",
    "--heads",
    "2",
    "--batch-size",
    "2",
    "--repeats",
    "1",
    "--warmup",
    "0",
    "--threads",
    "2",
];

#[test]
fn prints_the_five_rows_and_the_noise_share_inline_and_prefetched() {
    let output = dtunet().args(TINY).assert().success();
    let text = String::from_utf8_lossy(&output.get_output().stdout).into_owned();
    for row in [
        "network step",
        "noise generation",
        "full step",
        "noise wait",
        "prefetched step",
    ] {
        let line = text
            .lines()
            .find(|line| line.starts_with(row))
            .unwrap_or_else(|| panic!("no {row:?} row in\n{text}"));
        let numbers: Vec<f64> = line[row.len()..]
            .split_whitespace()
            .map(|v| v.parse().expect("a number of ms"))
            .collect();
        assert_eq!(numbers.len(), 3, "min, median, max in {line:?}");
        assert!(
            numbers[0] <= numbers[1] && numbers[1] <= numbers[2],
            "{line:?}"
        );
    }
    let line = text
        .lines()
        .find_map(|line| line.strip_prefix("noise share "))
        .unwrap_or_else(|| panic!("no noise share in\n{text}"));
    let inline: f64 = line
        .split_whitespace()
        .next()
        .expect("inline")
        .parse()
        .expect("a share");
    let prefetched: f64 = line
        .split(", ")
        .nth(1)
        .and_then(|part| part.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no prefetched share in {line:?}"));
    for share in [inline, prefetched] {
        assert!((0.0..=1.0).contains(&share), "{line}");
    }
}

#[test]
fn json_has_the_five_rows_and_both_shares_in_0_1_for_daff_and_gauss() {
    let output = dtunet()
        .args(TINY)
        .args([
            "--ff", "daff", "--noise", "gauss", "--arch", "uvit", "--json",
        ])
        .assert()
        .success();
    let report: serde_json::Value =
        serde_json::from_slice(&output.get_output().stdout).expect("stdout is JSON");
    for row in [
        "network_step",
        "noise_generation",
        "full_step",
        "noise_wait",
        "prefetched_step",
    ] {
        let runs = report[row]["runs_ms"].as_array().expect("runs_ms");
        assert_eq!(runs.len(), 1, "{row}");
        for key in ["min_ms", "median_ms", "max_ms"] {
            assert!(report[row][key].as_f64().is_some(), "{row}.{key}");
        }
    }
    for key in ["noise_share", "prefetched_noise_share"] {
        let share = report[key].as_f64().expect(key);
        assert!((0.0..=1.0).contains(&share), "{key} {share}");
    }
    assert_eq!(report["noise"], "gauss");
    assert_eq!(report["model"]["arch"], "uvit");
    assert_eq!(report["threads"], 2);
}

#[test]
fn bad_values_are_usage_errors() {
    dtunet()
        .args(["bench", "train", "--img-size", "16", "--patch-size", "4"])
        .args(["--embed-dim", "16", "--heads", "3"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("a divisor of embed_dim 16"));
    dtunet()
        .args(["bench", "train", "--repeats", "0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--repeats must be at least 1"));
    dtunet()
        .args(["bench", "train", "--noise", "pink"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("pink"));
}

#[test]
fn ops_times_three_forms_of_each_operation_and_they_agree_on_flex() {
    let output = dtunet()
        .args(["bench", "ops", "--img-size", "16", "--patch-size", "4"])
        .args(["--embed-dim", "16", "--heads", "2", "--batch-size", "2"])
        .args([
            "--repeats",
            "2",
            "--warmup",
            "0",
            "--threads",
            "2",
            "--json",
        ])
        .assert()
        .success();
    let report: serde_json::Value =
        serde_json::from_slice(&output.get_output().stdout).expect("stdout is JSON");
    let results = report["results"].as_array().expect("results");
    let forms: Vec<(&str, &str)> = results
        .iter()
        .map(|row| {
            (
                row["operation"].as_str().expect("operation"),
                row["form"].as_str().expect("form"),
            )
        })
        .collect();
    assert_eq!(
        forms,
        [
            ("attention", "dtunet"),
            ("attention", "burn attention op"),
            ("attention", "matmul, burn softmax, matmul"),
            ("depthwise 3x3", "dtunet"),
            ("depthwise 3x3", "nine shifted multiply-adds"),
            ("depthwise 3x3", "burn conv2d, groups = C"),
        ]
    );
    // 16 px / patch 4: 16 grid tokens + the time token, heads of 8; DAFF's hidden width 64.
    assert_eq!(results[0]["shape"], "q, k, v [B 2, h 2, N 17, d 8]");
    assert_eq!(results[3]["shape"], "map [B 2, 4, 4, C 64] (channels last)");
    for row in results {
        let difference = row["max_difference"].as_f64().expect("max_difference");
        assert!(difference < 1e-5, "{row}");
        for timing in ["forward", "forward_backward"] {
            assert_eq!(row[timing]["runs_ms"].as_array().expect("runs").len(), 2);
        }
    }
    assert_eq!(report["backend"], "flex");
}

#[test]
#[cfg(not(feature = "cuda"))]
fn ops_refuses_a_backend_this_build_lacks() {
    dtunet()
        .args([
            "bench",
            "ops",
            "--backend",
            "cuda",
            "--img-size",
            "16",
            "--patch-size",
            "4",
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "a backend this binary was built with",
        ));
}

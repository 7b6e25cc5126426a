//! `dtunet train` run as a user would, on a tiny synthetic brain dataset (16 px, a model of
//! about ten thousand parameters): killed with SIGKILL and resumed, refused over an existing run,
//! stopped by a diverging loss, and bad flags rejected with a message naming the value.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use predicates::prelude::*;

/// The binary under test.
const DTUNET: &str = env!("CARGO_BIN_EXE_dtunet");

fn dtunet() -> Command {
    Command::new(DTUNET)
}

/// `dtunet synth brain` with 24 training images of 16×16 into `<folder>/data`.
fn synth_data(folder: &Path) -> PathBuf {
    let data = folder.join("data");
    dtunet()
        .args([
            "synth",
            "brain",
            "--size",
            "16",
            "--n-train",
            "24",
            "--n-test",
            "8",
        ])
        .arg("--out")
        .arg(&data)
        .assert()
        .success();
    data
}

/// `train` arguments for a tiny model on `data` into `out`: the demo preset shrunk to 16 px,
/// Gaussian noise over a 100-step chain, no intermediate samples. `extra` comes last and
/// replaces the defaults of the flags it names.
fn train_args(data: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let defaults = [
        ("--layout", "mvtec"),
        ("--preset", "demo"),
        ("--img-size", "16"),
        ("--patch-size", "4"),
        ("--embed-dim", "16"),
        ("--depth", "2"),
        ("--heads", "2"),
        ("--batch-size", "4"),
        ("--diffusion-steps", "100"),
        ("--noise", "gauss"),
        ("--sample-every", "0"),
    ];
    let named = |flag: &str| extra.iter().any(|arg| arg.split('=').next() == Some(flag));
    let mut args = vec![
        "train".to_string(),
        "--data".into(),
        data.display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ];
    for (flag, value) in defaults {
        if !named(flag) {
            args.push(flag.into());
            args.push(value.into());
        }
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// The complete checkpoints (`step-*` folders) of a run, oldest first.
fn checkpoint_folders(run: &Path) -> Vec<(usize, PathBuf)> {
    let Ok(entries) = fs::read_dir(run.join("checkpoints")) else {
        return Vec::new();
    };
    let mut found: Vec<(usize, PathBuf)> = entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let step = name.strip_prefix("step-")?.parse().ok()?;
            Some((step, entry.path()))
        })
        .collect();
    found.sort();
    found
}

/// Asserts that every `step-*` folder holds the four checkpoint files and a `state.json` for
/// its step; returns the steps.
fn assert_complete_checkpoints(run: &Path) -> Vec<usize> {
    let checkpoints = checkpoint_folders(run);
    for (step, folder) in &checkpoints {
        for file in [
            "model.bpk",
            "optimizer.bpk",
            "ema.safetensors",
            "state.json",
        ] {
            let size = fs::metadata(folder.join(file))
                .map(|m| m.len())
                .unwrap_or(0);
            assert!(size > 0, "{} lacks {file}", folder.display());
        }
        let text = fs::read(folder.join("state.json")).expect("state.json");
        let state: serde_json::Value = serde_json::from_slice(&text).expect("state.json parses");
        assert_eq!(
            state["step"].as_u64(),
            Some(*step as u64),
            "{}",
            folder.display()
        );
    }
    checkpoints.into_iter().map(|(step, _)| step).collect()
}

/// The step column of `loss.csv`.
fn logged_steps(run: &Path) -> Vec<usize> {
    let text = fs::read_to_string(run.join("loss.csv")).expect("loss.csv");
    let mut lines = text.lines();
    assert!(
        lines.next().is_some_and(|h| h.starts_with("step,loss,")),
        "{text}"
    );
    lines
        .map(|line| {
            line.split(',')
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("bad row {line:?}"))
        })
        .collect()
}

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_run_killed_with_sigkill_resumes_to_the_configured_steps() {
    let folder = tempfile::tempdir().expect("temp dir");
    let data = synth_data(folder.path());
    let run = folder.path().join("run");
    let n_steps = 200;
    let steps = n_steps.to_string();
    let args = train_args(
        &data,
        &run,
        &[
            "--steps",
            &steps,
            "--checkpoint-every",
            "10",
            "--keep-checkpoints",
            "2",
        ],
    );

    let mut child = Process::new(DTUNET)
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dtunet train");
    let clock = Instant::now();
    while checkpoint_folders(&run).is_empty() {
        if let Some(status) = child.try_wait().expect("poll") {
            panic!("training ended ({status}) before its first checkpoint");
        }
        assert!(
            clock.elapsed() < Duration::from_secs(120),
            "no checkpoint after two minutes"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    // Then a little later, at a moment that varies from run to run (mid-step, mid-checkpoint):
    // every outcome must resume.
    let jitter_ms = u64::from(clock.elapsed().subsec_nanos() % 150);
    std::thread::sleep(Duration::from_millis(jitter_ms));
    assert!(
        child.try_wait().expect("poll").is_none(),
        "training of {n_steps} steps finished before it could be killed"
    );
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");

    let kept = assert_complete_checkpoints(&run);
    assert!(!kept.is_empty() && kept.len() <= 3, "{kept:?}");
    let newest = *kept.last().expect("a checkpoint");
    assert!(newest < n_steps, "killed at step {newest}");
    // An unfinished checkpoint of a later step, as a crash inside the writer leaves it: resuming
    // must not take it for a checkpoint.
    let partial = run.join("checkpoints").join(".partial-step-00000199");
    fs::create_dir_all(&partial).expect("partial folder");
    fs::write(partial.join("state.json"), "{\"step\": 11").expect("partial state");

    // A fresh start over the killed run is refused, and leaves it intact.
    let output = Process::new(DTUNET)
        .args(&args)
        .output()
        .expect("run dtunet");
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--resume"), "{stderr}");
    assert!(stderr.contains(&run.display().to_string()), "{stderr}");
    assert_eq!(assert_complete_checkpoints(&run), kept);

    let mut resume = args.clone();
    resume.push("--resume".into());
    let output = Process::new(DTUNET)
        .args(&resume)
        .output()
        .expect("run dtunet");
    let stderr = stderr_of(&output);
    assert!(output.status.success(), "{stderr}");
    let resumed_from = format!("step-{newest:08}");
    assert!(
        stderr.contains("resuming from") && stderr.contains(&resumed_from),
        "{stderr}"
    );
    assert_eq!(logged_steps(&run), (1..=n_steps).collect::<Vec<_>>());
    let leftovers: Vec<String> = fs::read_dir(run.join("checkpoints"))
        .expect("checkpoints")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(
        assert_complete_checkpoints(&run),
        vec![n_steps - 10, n_steps]
    );
    assert!(run.join("model.safetensors").is_file());
    assert!(run.join("loss.png").is_file());
    let log = fs::read_to_string(run.join("train.log")).expect("train.log");
    assert!(log.contains(&format!("finished {n_steps} steps")), "{log}");
    eprintln!(
        "killed {jitter_ms} ms after the first checkpoint, resumed from step {newest} to \
         {n_steps} ({:.1} s in all)",
        clock.elapsed().as_secs_f64()
    );
}

#[test]
fn a_diverging_run_exits_naming_the_step_and_the_last_good_checkpoint() {
    let folder = tempfile::tempdir().expect("temp dir");
    let data = synth_data(folder.path());
    let run = folder.path().join("run");
    // Decoupled weight decay with lr·wd = 100 multiplies every weight by about -99 per step:
    // the activations overflow within a few steps whatever the data and seed.
    let output = Process::new(DTUNET)
        .args(train_args(
            &data,
            &run,
            &[
                "--steps",
                "60",
                "--lr",
                "0.1",
                "--weight-decay",
                "1e3",
                "--checkpoint-every",
                "2",
            ],
        ))
        .output()
        .expect("run dtunet");
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line in {stderr}"));
    assert!(
        line.contains("training loss is") && line.contains("at step"),
        "{line}"
    );
    let kept = assert_complete_checkpoints(&run);
    let newest = checkpoint_folders(&run)
        .pop()
        .unwrap_or_else(|| panic!("no checkpoint kept: {line}"));
    assert!(line.contains(&newest.1.display().to_string()), "{line}");
    assert!(line.contains("--resume") && line.contains("--lr"), "{line}");
    let step: usize = line
        .split("at step ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no step in {line}"));
    assert!(kept.iter().all(|&s| s < step), "{kept:?} vs {step}");
    assert_eq!(logged_steps(&run), (1..step).collect::<Vec<_>>());
    assert!(!run.join("model.safetensors").exists());
}

#[test]
fn a_short_daff_run_writes_the_run_folder() {
    let folder = tempfile::tempdir().expect("temp dir");
    let data = synth_data(folder.path());
    let run = folder.path().join("run");
    dtunet()
        .args(train_args(
            &data,
            &run,
            &[
                "--ff",
                "daff",
                "--steps",
                "4",
                "--checkpoint-every",
                "2",
                "--augment",
                "flips",
            ],
        ))
        .assert()
        .success()
        .stdout(predicate::str::contains("trained 4 steps"));
    for file in [
        "config.toml",
        "train.log",
        "loss.csv",
        "loss.png",
        "model.safetensors",
    ] {
        assert!(run.join(file).is_file(), "{file} missing");
    }
    assert_eq!(logged_steps(&run), vec![1, 2, 3, 4]);
    assert_eq!(assert_complete_checkpoints(&run), vec![2, 4]);
    let config = fs::read_to_string(run.join("config.toml")).expect("config.toml");
    assert!(config.contains("daff"), "{config}");
    assert!(config.contains("augment = \"flips\""), "{config}");
}

#[test]
fn two_devices_train_like_one_and_refuse_a_batch_they_do_not_divide() {
    let folder = tempfile::tempdir().expect("temp dir");
    let data = synth_data(folder.path());
    let losses = |run: &Path| -> Vec<f64> {
        fs::read_to_string(run.join("loss.csv"))
            .expect("loss.csv")
            .lines()
            .skip(1)
            .map(|line| {
                line.split(',')
                    .nth(1)
                    .expect("loss")
                    .parse()
                    .expect("a loss")
            })
            .collect()
    };
    let (one, two) = (folder.path().join("one"), folder.path().join("two"));
    dtunet()
        .args(train_args(&data, &one, &["--steps", "3"]))
        .assert()
        .success();
    dtunet()
        .args(train_args(
            &data,
            &two,
            &["--steps", "3", "--devices", "0,1"],
        ))
        .assert()
        .success();
    let (one, two) = (losses(&one), losses(&two));
    assert_eq!(one.len(), 3);
    for (a, b) in one.iter().zip(&two) {
        assert!((a - b).abs() <= 1e-5 * a.abs(), "{one:?} vs {two:?}");
    }
    dtunet()
        .args(train_args(
            &data,
            &folder.path().join("three"),
            &["--steps", "3", "--devices", "0,1,2"],
        ))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("divides --batch-size 4"));
    dtunet()
        .args(train_args(
            &data,
            &folder.path().join("collective"),
            &["--steps", "3", "--devices", "0,1", "--all-reduce"],
        ))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--all-reduce needs --backend cuda",
        ));
}

#[test]
fn the_texture_preset_trains_at_64_px_holding_out_calibration_images() {
    let folder = tempfile::tempdir().expect("temp dir");
    let data = synth_data(folder.path());
    let run = folder.path().join("run");
    dtunet()
        .args(["train", "--layout", "mvtec", "--preset", "texture"])
        .args(["--steps", "2", "--sample-every", "0", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&run)
        .assert()
        .success()
        .stdout(predicate::str::contains("trained 2 steps"));
    let config = fs::read_to_string(run.join("config.toml")).expect("config.toml");
    for line in [
        "img_size = 64",
        "patch_size = 8",
        "frequency = 4.0",
        "calibration_holdout = 0.1",
        "augment = \"flips\"",
    ] {
        assert!(
            config.lines().any(|l| l.trim() == line),
            "{line} in\n{config}"
        );
    }
    // Larger images keep at most 16 × 16 tokens unless --patch-size says otherwise.
    for (flags, patch) in [
        (&[][..], "patch_size = 16"),
        (&["--patch-size", "32"], "patch_size = 32"),
    ] {
        let large = folder.path().join(format!("large{}", flags.len()));
        let cheap = "--steps 1 --sample-every 0 --noise gauss --embed-dim 16 --heads 2";
        dtunet()
            .args(["train", "--layout", "mvtec", "--preset", "texture"])
            .args(["--img-size", "256"])
            .args(cheap.split(' '))
            .args(flags)
            .arg("--data")
            .arg(&data)
            .arg("--out")
            .arg(&large)
            .assert()
            .success();
        let config = fs::read_to_string(large.join("config.toml")).expect("config.toml");
        for line in ["img_size = 256", patch] {
            assert!(
                config.lines().any(|l| l.trim() == line),
                "{line} in\n{config}"
            );
        }
    }
}

#[test]
fn bad_flag_values_exit_2_naming_the_value() {
    let folder = tempfile::tempdir().expect("temp dir");
    let data = synth_data(folder.path());
    let run = folder.path().join("run");
    let cases: [(&[&str], &[&str]); 6] = [
        (
            &["--heads", "5", "--embed-dim", "32"],
            &["heads", "5", "32"],
        ),
        (&["--patch-size", "5"], &["patch_size", "5", "16"]),
        (&["--loss", "foo"], &["foo", "--loss"]),
        (&["--augment", "mirror"], &["mirror", "--augment", "hflip"]),
        (&["--lr=-1"], &["lr", "-1"]),
        (&["--depth", "3"], &["depth", "3"]),
    ];
    for (flags, named) in cases {
        let output = Process::new(DTUNET)
            .args(train_args(&data, &run, flags))
            .output()
            .expect("run dtunet");
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(2), "{flags:?}: {stderr}");
        let first = stderr.lines().next().unwrap_or_default();
        assert!(first.starts_with("error: "), "{flags:?}: {stderr}");
        for word in named {
            assert!(first.contains(word), "{flags:?}: {word:?} not in {first:?}");
        }
    }
    assert!(!run.exists(), "a rejected run created its folder");

    let missing = folder.path().join("no-such-dataset");
    let output = Process::new(DTUNET)
        .args(train_args(&missing, &run, &["--steps", "2"]))
        .output()
        .expect("run dtunet");
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

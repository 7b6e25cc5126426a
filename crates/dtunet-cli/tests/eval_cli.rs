//! `dtunet eval`, run as a user would, on small image sets written into temporary folders
//! (20×28, non-square; 8- and 16-bit, grey and RGB, PNG and JPEG).

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use npyz::WriterBuilder;
use predicates::prelude::*;
use serde_json::Value;

const HEIGHT: u32 = 20;
const WIDTH: u32 = 28;

fn dtunet() -> Command {
    Command::cargo_bin("dtunet").expect("binary built")
}

/// A smooth background in `[0, 1]` from a formula, different per image.
fn background(image: u32, row: u32, col: u32) -> f64 {
    0.5 + 0.3 * (f64::from(row * WIDTH + col + 7 * image) * 0.1).sin()
}

/// True inside the anomalous 4×5 square of an anomalous image (rows 6..10, cols 10+i..15+i).
fn in_square(image: u32, row: u32, col: u32) -> bool {
    (6..10).contains(&row) && (10 + image..15 + image).contains(&col)
}

struct Set {
    _root: tempfile::TempDir,
    images: PathBuf,
    recon: PathBuf,
    masks: PathBuf,
    out: PathBuf,
}

fn new_set() -> Set {
    let root = tempfile::tempdir().expect("temp dir");
    let [images, recon, masks] = ["images", "recon", "masks"].map(|name| {
        let folder = root.path().join(name);
        std::fs::create_dir(&folder).expect("mkdir");
        folder
    });
    let out = root.path().join("out");
    Set {
        _root: root,
        images,
        recon,
        masks,
        out,
    }
}

fn grey8(path: &Path, value: impl Fn(u32, u32) -> f64) {
    image::GrayImage::from_fn(WIDTH, HEIGHT, |col, row| {
        image::Luma([(value(row, col) * 255.0).round() as u8])
    })
    .save(path)
    .expect("png");
}

fn rgb16(path: &Path, value: impl Fn(u32, u32) -> f64) {
    image::ImageBuffer::from_fn(WIDTH, HEIGHT, |col, row| {
        let v = value(row, col);
        image::Rgb([v, 1.0 - v, 0.5].map(|c| (c * 65535.0).round() as u16))
    })
    .save(path)
    .expect("png");
}

fn mask8(path: &Path, anomalous: impl Fn(u32, u32) -> bool) {
    image::GrayImage::from_fn(WIDTH, HEIGHT, |col, row| {
        image::Luma([if anomalous(row, col) { 255 } else { 0 }])
    })
    .save(path)
    .expect("png");
}

/// Images 0 and 1 anomalous (the reconstruction misses the square by 0.4), image 2 normal
/// (perfect reconstruction); 8-bit grey, masks named `x_mask.png`.
fn grey_set_with_square() -> Set {
    let set = new_set();
    for image in 0..3u32 {
        let name = format!("img{image}.png");
        let anomalous = image < 2;
        grey8(&set.images.join(&name), |row, col| {
            background(image, row, col)
        });
        grey8(&set.recon.join(&name), |row, col| {
            let x = background(image, row, col);
            if anomalous && in_square(image, row, col) {
                x - 0.4
            } else {
                x
            }
        });
        mask8(
            &set.masks.join(format!("img{image}_mask.png")),
            |row, col| anomalous && in_square(image, row, col),
        );
    }
    set
}

fn eval_args(set: &Set) -> Vec<String> {
    [
        "eval",
        "--images",
        &set.images.display().to_string(),
        "--recon",
        &set.recon.display().to_string(),
        "--masks",
        &set.masks.display().to_string(),
        "--out",
        &set.out.display().to_string(),
    ]
    .map(String::from)
    .to_vec()
}

fn summary(out: &Path) -> Value {
    let text = std::fs::read_to_string(out.join("summary.json")).expect("summary.json");
    serde_json::from_str(&text).expect("json")
}

/// `metrics.csv` as (header, rows of fields).
fn metrics_csv(out: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(out.join("metrics.csv")).expect("metrics.csv");
    let mut lines = text
        .lines()
        .map(|line| line.split(',').map(String::from).collect());
    let header = lines.next().expect("header");
    (header, lines.collect())
}

fn column(header: &[String], name: &str) -> usize {
    header.iter().position(|h| h == name).expect(name)
}

#[test]
fn perfect_reconstruction_except_a_square_gives_dice_one() {
    let set = grey_set_with_square();
    let mut args = eval_args(&set);
    args.extend(["--threshold", "fixed:0"].map(String::from));
    dtunet().args(&args).assert().success().stdout(
        predicate::str::contains("Dice")
            .and(predicate::str::contains("1.0000 ± 0.0000"))
            .and(predicate::str::contains(
                "Dice (anomalous images)  1.0000 ± 0.0000 (n = 2)",
            )),
    );

    let json = summary(&set.out);
    assert_eq!(json["dice"]["mean"], 1.0);
    assert_eq!(json["dice"]["std"], 0.0);
    // The healthy image (Dice 1: nothing predicted) is left out of this one.
    assert_eq!(
        json["dice_anomalous"],
        serde_json::json!({"mean": 1.0, "std": 0.0, "count": 2})
    );
    assert_eq!(json["iou"]["mean"], 1.0);
    assert_eq!(json["fpr"]["mean"], 0.0);
    assert_eq!(json["auroc"]["mean"], 1.0);
    assert_eq!(json["auroc"]["count"], 2);
    assert_eq!(json["n_auroc_skipped"], 1);
    assert_eq!(json["auroc_pooled"], 1.0);
    assert_eq!(json["ap_pooled"], 1.0);
    assert_eq!(json["f1_max"], 1.0);
    assert_eq!(json["aupro"], 1.0);
    assert_eq!(json["image_auroc"], 1.0);
    assert_eq!(json["n_images"], 3);
    assert_eq!(json["n_anomalous_images"], 2);
    assert_eq!(json["n_psnr_identical"], 1);
    assert_eq!(json["map"], "se");
    assert_eq!(json["threshold"]["rule"], "fixed");
    assert_eq!(json["threshold"]["source"], "given");
    assert_eq!(json["threshold"]["value"], 0.0);
    assert_eq!(json["pooling"]["mode"], "exact");
    for key in ["ece_ae", "ece_se", "ssim", "psnr"] {
        assert!(json[key]["mean"].is_number(), "{key}: {}", json[key]);
    }
    assert!(json["ssim"]["mean"].as_f64().expect("ssim") < 1.0);

    let (header, rows) = metrics_csv(&set.out);
    assert_eq!(rows.len(), 3);
    let (stem, dice, auroc, psnr) = (
        column(&header, "stem"),
        column(&header, "dice"),
        column(&header, "auroc"),
        column(&header, "psnr"),
    );
    assert_eq!(rows[0][stem], "img0");
    assert!(rows.iter().all(|row| row[dice] == "1"));
    assert_eq!(rows[0][auroc], "1");
    assert_eq!(rows[2][auroc], "", "single-class mask: absent, not 0");
    assert_eq!(rows[2][psnr], "inf");

    for file in [
        "summary.md",
        "roc.png",
        "roc_image.png",
        "scores.png",
        "report.html",
        "panels/img0.png",
        "panels/img2.png",
    ] {
        assert!(set.out.join(file).is_file(), "{file}");
    }
    let panel = image::open(set.out.join("panels/img1.png")).expect("panel");
    assert_eq!((panel.width(), panel.height()), (6 * WIDTH + 5 * 4, HEIGHT));
    let html = std::fs::read_to_string(set.out.join("report.html")).expect("html");
    assert!(html.contains("src=\"panels/img1.png\"") && html.contains("src=\"roc.png\""));
    assert!(html.contains("src=\"roc_image.png\"") && html.contains("src=\"scores.png\""));
    let markdown = std::fs::read_to_string(set.out.join("summary.md")).expect("md");
    assert!(
        markdown.contains(
            "| Dice | 1.0000 ± 0.0000 |\n| Dice (anomalous images) | 1.0000 ± 0.0000 (n = 2) |"
        ),
        "{markdown}"
    );
    assert!(html.contains("<th>Dice (anomalous images)</th><td>1.0000 ± 0.0000 (n = 2)</td>"));
}

#[test]
fn sixteen_bit_rgb_with_same_stem_masks_and_best_threshold() {
    let set = new_set();
    for image in 0..2u32 {
        let name = format!("case {image}.png");
        rgb16(&set.images.join(&name), |row, col| {
            background(image, row, col)
        });
        rgb16(&set.recon.join(&name), |row, col| {
            let x = background(image, row, col);
            if in_square(image, row, col) {
                x * 0.5
            } else {
                x
            }
        });
        mask8(&set.masks.join(&name), |row, col| {
            in_square(image, row, col)
        });
    }
    let mut args = eval_args(&set);
    args.extend(["--threshold", "best", "--map", "ae", "--largest-cc"].map(String::from));
    dtunet().args(&args).assert().success();
    let json = summary(&set.out);
    assert_eq!(json["map"], "ae");
    assert_eq!(json["largest_component"], true);
    assert_eq!(json["threshold"]["rule"], "best");
    assert_eq!(json["threshold"]["source"], "pooled");
    assert_eq!(json["threshold"]["n_images"], 2);
    assert_eq!(json["threshold"]["pooled_dice"], 1.0);
    assert_eq!(json["dice"]["mean"], 1.0);
    assert!(json["image_auroc"].is_null(), "all images anomalous");
    assert!(set.out.join("panels/case 1.png").is_file());
    let html = std::fs::read_to_string(set.out.join("report.html")).expect("html");
    assert!(
        html.contains("panels/case%201.png"),
        "url-encoded panel path"
    );
}

#[test]
fn jpeg_images_with_grey_masks_and_otsu() {
    let set = new_set();
    for image in 0..2u32 {
        let x = |row, col| background(image, row, col);
        let rgb = image::RgbImage::from_fn(WIDTH, HEIGHT, |col, row| {
            image::Rgb([(x(row, col) * 255.0) as u8, 128, 64])
        });
        rgb.save(set.images.join(format!("j{image}.jpg")))
            .expect("jpeg");
        rgb.save(set.recon.join(format!("j{image}.jpeg")))
            .expect("jpeg");
        mask8(&set.masks.join(format!("j{image}_mask.png")), |row, col| {
            in_square(image, row, col)
        });
    }
    dtunet().args(eval_args(&set)).assert().success();
    let json = summary(&set.out);
    assert_eq!(json["n_images"], 2);
    assert_eq!(json["threshold"]["source"], "per_image");
    assert!(json["threshold"]["per_image"]["mean"].is_number());
    assert_eq!(json["ssim"]["mean"], 1.0, "identical jpeg files");
}

#[test]
fn maps_instead_of_reconstructions() {
    let set = new_set();
    for image in 0..2u32 {
        grey8(&set.images.join(format!("m{image}.png")), |row, col| {
            background(image, row, col)
        });
        mask8(&set.masks.join(format!("m{image}.png")), |row, col| {
            in_square(image, row, col)
        });
        let map: Vec<f64> = (0..HEIGHT * WIDTH)
            .map(|i| {
                if in_square(image, i / WIDTH, i % WIDTH) {
                    0.9
                } else {
                    0.1
                }
            })
            .collect();
        let shape: &[u64] = if image == 0 {
            &[HEIGHT as u64, WIDTH as u64]
        } else {
            &[1, HEIGHT as u64, WIDTH as u64]
        };
        let mut bytes = Vec::new();
        let mut writer = npyz::WriteOptions::<f64>::new()
            .default_dtype()
            .shape(shape)
            .writer(&mut bytes)
            .begin_nd()
            .expect("npy");
        writer.extend(map).expect("values");
        writer.finish().expect("finish");
        std::fs::write(set.recon.join(format!("m{image}.npy")), bytes).expect("write");
    }
    let args = eval_args(&set)
        .into_iter()
        .map(|arg| {
            if arg == "--recon" {
                "--maps".to_string()
            } else {
                arg
            }
        })
        .chain(["--threshold", "fixed:0.5"].map(String::from))
        .collect::<Vec<_>>();
    dtunet().args(&args).assert().success();
    let json = summary(&set.out);
    assert_eq!(json["map_source"], "maps");
    assert_eq!(json["dice"]["mean"], 1.0);
    assert!(
        json["ssim"].is_null() && json["psnr"].is_null(),
        "absent, not 0"
    );
    assert!(json["ece_ae"].is_null());
    assert!(json["ece_se"]["mean"].is_number());
    let panel = image::open(set.out.join("panels/m0.png")).expect("panel");
    assert_eq!(panel.width(), 5 * WIDTH + 4 * 4, "no reconstruction tile");
}

#[test]
fn missing_folders_and_bad_flags_are_usage_errors() {
    let set = grey_set_with_square();
    let mut args = eval_args(&set);
    args[2] = set.images.join("nope").display().to_string();
    dtunet().args(&args).assert().code(2).stderr(
        predicate::str::contains("--images").and(predicate::str::contains("no such folder")),
    );

    let mut args = eval_args(&set);
    args.extend(["--threshold", "percentile:120"].map(String::from));
    dtunet()
        .args(&args)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("percentile:P"));

    let mut args = eval_args(&set);
    args.extend(["--maps", &set.recon.display().to_string()].map(String::from));
    dtunet().args(&args).assert().code(2);

    let empty = set.images.join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let mut args = eval_args(&set);
    args[2] = empty.display().to_string();
    dtunet()
        .args(&args)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no images (.png, .jpg, .jpeg) in"));
}

#[test]
fn an_image_without_a_mask_is_named_unless_allowed() {
    let set = grey_set_with_square();
    std::fs::remove_file(set.masks.join("img1_mask.png")).expect("rm");
    dtunet().args(eval_args(&set)).assert().code(1).stderr(
        predicate::str::contains("no mask for image")
            .and(predicate::str::contains("img1.png"))
            .and(predicate::str::contains("--allow-missing-masks")),
    );
    assert!(!set.out.exists(), "nothing written on bad input");
    let mut args = eval_args(&set);
    args.push("--allow-missing-masks".into());
    dtunet().args(&args).assert().success();
    let json = summary(&set.out);
    assert_eq!(json["n_missing_masks"], 1);
    assert_eq!(json["n_anomalous_images"], 1);
}

#[test]
fn size_mismatch_and_corrupt_files_fail_naming_the_file() {
    let set = grey_set_with_square();
    let mask = set.masks.join("img0_mask.png");
    image::GrayImage::new(WIDTH + 2, HEIGHT)
        .save(&mask)
        .expect("png");
    dtunet().args(eval_args(&set)).assert().code(1).stderr(
        predicate::str::contains("mask 20x30 does not match image 20x28")
            .and(predicate::str::contains("img0_mask.png")),
    );

    assert!(!set.out.exists(), "nothing written on bad input");

    mask8(&mask, |_, _| false);
    let corrupt = set.recon.join("img2.png");
    std::fs::write(&corrupt, b"\x89PNG\r\n\x1a\n truncated").expect("write");
    dtunet()
        .args(eval_args(&set))
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "cannot read image {}",
            corrupt.display()
        )));
}

#[test]
fn a_non_empty_output_folder_needs_overwrite_and_keeps_other_files() {
    let set = grey_set_with_square();
    std::fs::create_dir(&set.out).expect("mkdir");
    let notes = set.out.join("notes.txt");
    std::fs::write(&notes, "mine").expect("write");
    dtunet()
        .args(eval_args(&set))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not empty").and(predicate::str::contains("--overwrite")));
    let mut args = eval_args(&set);
    args.push("--overwrite".into());
    dtunet().args(&args).assert().success();
    assert_eq!(std::fs::read_to_string(&notes).expect("kept"), "mine");
    assert!(set.out.join("summary.json").is_file());
}

#[test]
fn best_threshold_on_an_all_normal_set_fails_clearly() {
    let set = grey_set_with_square();
    for image in 0..2 {
        mask8(&set.masks.join(format!("img{image}_mask.png")), |_, _| {
            false
        });
    }
    let mut args = eval_args(&set);
    args.extend(["--threshold", "best"].map(String::from));
    dtunet().args(&args).assert().code(1).stderr(
        predicate::str::contains("--threshold best").and(predicate::str::contains("single class")),
    );
}

/// Writes the benchmark set of BENCHMARKS.md: `DTUNET_EVAL_BENCH_PAIRS` (default 1,000) pairs
/// of 256×256 8-bit grey images with their reconstructions (the input plus mild noise, and a
/// missed blob on every other image) and masks, into `$DTUNET_EVAL_BENCH_DIR/{images,recon,masks}`.
///
/// `DTUNET_EVAL_BENCH_DIR=/tmp/eval-bench cargo test --release -p dtunet-cli --test eval_cli
/// -- --ignored write_benchmark_set`
#[test]
#[ignore = "writes the benchmark data set; run on demand"]
fn write_benchmark_set() {
    let Some(root) = std::env::var_os("DTUNET_EVAL_BENCH_DIR").map(PathBuf::from) else {
        panic!("set DTUNET_EVAL_BENCH_DIR to the folder to fill");
    };
    let n_pairs: u32 = std::env::var("DTUNET_EVAL_BENCH_PAIRS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let side = 256u32;
    let folders = ["images", "recon", "masks"].map(|name| root.join(name));
    for folder in &folders {
        std::fs::create_dir_all(folder).expect("mkdir");
    }
    let noise = |seed: u32, index: u32| {
        // A small integer hash in [-1, 1].
        let mut z = seed.wrapping_mul(0x9e37_79b9) ^ index.wrapping_mul(0x85eb_ca6b);
        z ^= z >> 15;
        z = z.wrapping_mul(0x2c1b_3c6d);
        z ^= z >> 12;
        f64::from(z % 2001) / 1000.0 - 1.0
    };
    for image in 0..n_pairs {
        let anomalous = image % 2 == 0;
        let (centre_row, centre_col) = (
            f64::from(40 + (image * 37) % 170),
            f64::from(40 + (image * 61) % 170),
        );
        let radius = 8.0 + f64::from(image % 25);
        let in_blob = |row: u32, col: u32| {
            anomalous
                && (f64::from(row) - centre_row).powi(2) + (f64::from(col) - centre_col).powi(2)
                    < radius * radius
        };
        let x = |row: u32, col: u32| {
            let (r, c) = (f64::from(row), f64::from(col));
            let texture = 0.5 + 0.25 * (r * 0.07 + f64::from(image)).sin() * (c * 0.05).cos();
            let lesion = if in_blob(row, col) { 0.3 } else { 0.0 };
            (texture + lesion).clamp(0.0, 1.0)
        };
        let name = format!("{image:04}.png");
        let grey = |value: &dyn Fn(u32, u32) -> f64| {
            image::GrayImage::from_fn(side, side, |col, row| {
                image::Luma([(value(row, col) * 255.0).round() as u8])
            })
        };
        grey(&x).save(folders[0].join(&name)).expect("image");
        grey(&|row, col| {
            let healthy = x(row, col) - if in_blob(row, col) { 0.3 } else { 0.0 };
            (healthy + 0.02 * noise(image, row * side + col)).clamp(0.0, 1.0)
        })
        .save(folders[1].join(&name))
        .expect("reconstruction");
        image::GrayImage::from_fn(side, side, |col, row| {
            image::Luma([if in_blob(row, col) { 255 } else { 0 }])
        })
        .save(folders[2].join(format!("{image:04}_mask.png")))
        .expect("mask");
    }
}

#[test]
fn smoothing_flag_reaches_the_scores_and_the_summary() {
    let set = grey_set_with_square();
    dtunet().args(eval_args(&set)).assert().success();
    let raw = summary(&set.out);
    let mut smoothed_args = eval_args(&set);
    let smoothed_out = set.out.with_file_name("smoothed");
    let last = smoothed_args.len() - 1;
    smoothed_args[last] = smoothed_out.display().to_string();
    smoothed_args.extend(["--smooth".into(), "2".into()]);
    dtunet().args(&smoothed_args).assert().success();
    let smoothed = summary(&smoothed_out);
    assert_eq!(raw["smooth_sigma"], 0.0);
    assert_eq!(smoothed["smooth_sigma"], 2.0);
    let auroc = |summary: &Value| summary["auroc_pooled"].as_f64().expect("defined");
    assert!(
        auroc(&smoothed) < auroc(&raw),
        "a sharp square blurs: {} vs {}",
        auroc(&smoothed),
        auroc(&raw)
    );
    smoothed_args.extend(["--smooth".into(), "-1".into(), "--overwrite".into()]);
    dtunet()
        .args(&smoothed_args)
        .assert()
        .failure()
        .stderr(predicate::str::contains("-1"));
}

#[test]
fn ssim_map_scores_the_local_dissimilarity() {
    let set = grey_set_with_square();
    let mut args = eval_args(&set);
    args.extend(["--map".into(), "ssim".into()]);
    dtunet().args(&args).assert().success();
    let json = summary(&set.out);
    assert_eq!(json["map"], "ssim");
    let auroc = json["auroc_pooled"].as_f64().expect("defined");
    // The square's pixels are the least similar; the window spreads the drop to its
    // neighbours, so the ranking is good but not the square error's perfect 1.
    assert!((0.8..1.0).contains(&auroc), "{auroc}");
    assert_eq!(
        json["n_ece_skipped"], 0,
        "an SSIM map has no ECE of its own kind"
    );
    assert!(json["ece_ae"]["mean"].is_number() && json["ece_se"]["mean"].is_number());
    let maps = std::fs::read_to_string(set.out.join("metrics.csv")).expect("csv");
    assert_eq!(maps.lines().count(), 4);
}

#[test]
fn classes_split_the_metrics_per_defect_kind() {
    let set = grey_set_with_square();
    // img1's reconstruction is right on its square and wrong on a band elsewhere: a defect kind
    // the maps miss, beside img0's kind that they find.
    grey8(&set.recon.join("img1.png"), |row, col| {
        let x = background(1, row, col);
        if row >= 15 { x - 0.4 } else { x }
    });
    let classes = set.out.with_file_name("classes.json");
    std::fs::write(
        &classes,
        r#"{"img0": "crack", "img1": "stain", "img2": "good"}"#,
    )
    .expect("classes.json");
    let mut args = eval_args(&set);
    args.extend(["--classes".into(), classes.display().to_string()]);
    dtunet().args(&args).assert().success();

    let json = summary(&set.out);
    let per_class = json["per_class"].as_array().expect("per_class");
    let names: Vec<&str> = per_class
        .iter()
        .map(|class| class["class"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["crack", "stain"], "good has no anomalous image");
    let (crack, stain) = (&per_class[0], &per_class[1]);
    assert_eq!(crack["auroc_pooled"], 1.0, "{crack}");
    assert_eq!(crack["aupro"], 1.0, "{crack}");
    assert_eq!(crack["image_auroc"], 1.0, "{crack}");
    assert_eq!(crack["n_healthy_reference"], 1, "{crack}");
    let stain_auroc = stain["auroc_pooled"].as_f64().expect("stain AUROC");
    assert!(stain_auroc < 0.5, "the band outscores the square: {stain}");
    let stain_aupro = stain["aupro"].as_f64().expect("stain AUPRO");
    assert!(
        stain_aupro < 0.1,
        "its square scores 0, tied with healthy pixels: {stain}"
    );
    let pooled = json["auroc_pooled"].as_f64().expect("pooled");
    assert!(stain_auroc < pooled && pooled < 1.0, "{pooled}");

    let csv = std::fs::read_to_string(set.out.join("per_class.csv")).expect("per_class.csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(
        lines[0].starts_with("class,n_images,n_anomalous_images,n_healthy_reference,auroc_pooled")
    );
    assert!(lines[1].starts_with("crack,1,1,1,1,1,1,1,"), "{csv}");
    let markdown = std::fs::read_to_string(set.out.join("summary.md")).expect("md");
    assert!(markdown.contains("## Per class"), "{markdown}");
    assert!(
        markdown.contains("| crack | 1 (1) | 1 | 1.0000 |"),
        "{markdown}"
    );
    let html = std::fs::read_to_string(set.out.join("report.html")).expect("html");
    assert!(html.contains("<h2>Per class</h2>") && html.contains("<td>stain</td>"));

    // Without --classes there is no breakdown.
    let plain = set.out.with_file_name("plain");
    let mut plain_args = eval_args(&set);
    let last = plain_args.len() - 1;
    plain_args[last] = plain.display().to_string();
    dtunet().args(&plain_args).assert().success();
    assert!(summary(&plain).get("per_class").is_none());
    assert!(!plain.join("per_class.csv").exists());
}

#[test]
fn a_classes_file_of_another_set_or_not_json_is_refused_naming_it() {
    let set = grey_set_with_square();
    let classes = set.out.with_file_name("classes.json");
    std::fs::write(&classes, r#"{"other_000": "crack"}"#).expect("classes.json");
    let mut args = eval_args(&set);
    args.extend(["--classes".into(), classes.display().to_string()]);
    dtunet().args(&args).assert().failure().stderr(
        predicate::str::contains("--classes").and(predicate::str::contains("none of them")),
    );
    std::fs::write(&classes, "crack_000,crack\n").expect("not json");
    dtunet().args(&args).assert().failure().stderr(
        predicate::str::contains(classes.display().to_string())
            .and(predicate::str::contains("stem → class")),
    );
    assert!(!set.out.exists(), "nothing written");
}

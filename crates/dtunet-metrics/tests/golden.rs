//! Every metric against the goldens of `tests/fixtures/metrics/gen_metrics.py` (scikit-learn,
//! scikit-image, SciPy, NumPy and the MVTec AD evaluation code).

use dtunet_metrics::{
    AuproAccumulator, Components, ConfusionCounts, ErrorMapKind, ImageShape, MapShape, MeanStd,
    PooledRanking, PoolingMode, ScoreBins, ThresholdSource, best_dice_threshold,
    expected_calibration_error, image_auroc, largest_component, otsu_threshold, overlap_scores,
    percentile, psnr, ranking_summary, roc_curve, ssim,
};
use serde_json::Value;

/// Tolerance on every golden value.
const GOLDEN_TOLERANCE: f64 = 1e-6;
/// Tolerance on SSIM.
const SSIM_TOLERANCE: f64 = 1e-4;

fn golden() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/metrics/metrics_golden.json"
    );
    let text =
        std::fs::read_to_string(path).expect("golden file is committed beside its generator");
    serde_json::from_str(&text).expect("golden file is valid JSON")
}

fn cases<'a>(golden: &'a Value, topic: &str) -> &'a [Value] {
    golden[topic]
        .as_array()
        .map(Vec::as_slice)
        .expect("topic is a list of cases")
}

fn name(case: &Value) -> &str {
    case["name"].as_str().unwrap_or("unnamed")
}

fn number(value: &Value) -> f64 {
    value.as_f64().expect("a number")
}

fn optional_number(value: &Value) -> Option<f64> {
    value.as_f64()
}

fn size(value: &Value) -> usize {
    value.as_u64().expect("a size") as usize
}

/// Float32 inputs, stored as the shortest decimal that casts back to them.
fn f32s(value: &Value) -> Vec<f32> {
    value
        .as_array()
        .expect("a list of numbers")
        .iter()
        .map(|v| number(v) as f32)
        .collect()
}

fn f64s(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .expect("a list of numbers")
        .iter()
        .map(number)
        .collect()
}

fn bools(value: &Value) -> Vec<bool> {
    value
        .as_array()
        .expect("a list of 0/1")
        .iter()
        .map(|v| v.as_u64() == Some(1))
        .collect()
}

fn maps_and_masks(case: &Value) -> (Vec<Vec<f32>>, Vec<Vec<bool>>) {
    let maps = case["maps"]
        .as_array()
        .expect("maps")
        .iter()
        .map(f32s)
        .collect();
    let masks = case["masks"]
        .as_array()
        .expect("masks")
        .iter()
        .map(bools)
        .collect();
    (maps, masks)
}

fn assert_close(actual: f64, expected: f64, tolerance: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= tolerance,
        "{what}: {actual} differs from the golden {expected} by {:e}",
        (actual - expected).abs()
    );
}

fn assert_optional_close(actual: Option<f64>, expected: Option<f64>, what: &str) {
    match (actual, expected) {
        (Some(actual), Some(expected)) => assert_close(actual, expected, GOLDEN_TOLERANCE, what),
        (None, None) => {}
        _ => panic!("{what}: {actual:?} but the golden is {expected:?}"),
    }
}

#[test]
fn ranking_matches_scikit_learn() {
    let golden = golden();
    for case in cases(&golden, "ranking") {
        let (scores, labels) = (f32s(&case["scores"]), bools(&case["labels"]));
        let summary = ranking_summary(&scores, &labels).unwrap();
        let what = |metric: &str| format!("{} {metric}", name(case));
        assert_optional_close(
            summary.map(|s| s.auroc),
            optional_number(&case["auroc"]),
            &what("auroc"),
        );
        assert_optional_close(
            summary.map(|s| s.average_precision),
            optional_number(&case["average_precision"]),
            &what("average precision"),
        );
        assert_optional_close(
            summary.map(|s| s.f1_max.f1),
            optional_number(&case["f1_max"]),
            &what("f1"),
        );
        assert_optional_close(
            summary.map(|s| s.f1_max.threshold),
            optional_number(&case["f1_threshold"]),
            &what("f1 threshold"),
        );
        if let Some(expected) = case.get("roc") {
            let curve = roc_curve(&scores, &labels).unwrap().unwrap();
            assert_eq!(
                curve.false_positive_rates.len(),
                expected["fpr"].as_array().unwrap().len()
            );
            for (actual, expected) in curve
                .false_positive_rates
                .iter()
                .zip(f64s(&expected["fpr"]))
            {
                assert_close(*actual, expected, 1e-12, &what("roc fpr"));
            }
            for (actual, expected) in curve.true_positive_rates.iter().zip(f64s(&expected["tpr"])) {
                assert_close(*actual, expected, 1e-12, &what("roc tpr"));
            }
            let thresholds = expected["thresholds"].as_array().unwrap();
            for (actual, expected) in curve.thresholds.iter().zip(thresholds) {
                assert_eq!(
                    *actual,
                    expected.as_f64().unwrap_or(f64::INFINITY),
                    "{}",
                    what("roc threshold")
                );
            }
        }
    }
}

#[test]
fn histogram_ranking_stays_within_its_error_bound() {
    let golden = golden();
    for case in cases(&golden, "ranking") {
        let (scores, labels) = (f32s(&case["scores"]), bools(&case["labels"]));
        let Some(expected) = optional_number(&case["auroc"]) else {
            continue;
        };
        let low = scores.iter().copied().fold(f32::INFINITY, f32::min);
        let high = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let Ok(bins) = ScoreBins::new(f64::from(low), f64::from(high), 1 << 10) else {
            continue;
        };
        let mut pooled = PooledRanking::new(PoolingMode::Histogram(bins));
        pooled.add(&scores, &labels).unwrap();
        let summary = pooled.summary().unwrap();
        assert!(
            (summary.auroc - expected).abs() <= summary.auroc_error_bound + 1e-12,
            "{}: histogram auroc {} vs {expected}, bound {}",
            name(case),
            summary.auroc,
            summary.auroc_error_bound
        );
    }
}

#[test]
fn pooled_metrics_match_the_references() {
    let golden = golden();
    for case in cases(&golden, "pooled") {
        let shape = MapShape::new(size(&case["height"]), size(&case["width"]));
        let (maps, masks) = maps_and_masks(case);
        let what = |metric: &str| format!("{} {metric}", name(case));

        let mut pooled = PooledRanking::new(PoolingMode::Exact);
        for (map, mask) in maps.iter().zip(&masks) {
            pooled.add(map, mask).unwrap();
        }
        let summary = pooled.summary().unwrap();
        let pixel = &case["pixel"];
        assert_close(
            summary.auroc,
            number(&pixel["auroc"]),
            GOLDEN_TOLERANCE,
            &what("pixel auroc"),
        );
        assert_close(
            summary.average_precision,
            number(&pixel["average_precision"]),
            GOLDEN_TOLERANCE,
            &what("pixel ap"),
        );
        assert_close(
            summary.f1_max.f1,
            number(&pixel["f1_max"]),
            GOLDEN_TOLERANCE,
            &what("pixel f1"),
        );

        let map_refs: Vec<&[f32]> = maps.iter().map(Vec::as_slice).collect();
        let mask_refs: Vec<&[bool]> = masks.iter().map(Vec::as_slice).collect();
        let anomalous: Vec<bool> = masks.iter().map(|mask| mask.contains(&true)).collect();
        let image = image_auroc(&map_refs, &anomalous).unwrap();
        assert_optional_close(
            image,
            optional_number(&case["image_auroc"]),
            &what("image auroc"),
        );

        for (limit, expected) in case["aupro"].as_object().unwrap() {
            let limit: f64 = limit.parse().unwrap();
            let actual = dtunet_metrics::aupro(&map_refs, &mask_refs, shape, limit).unwrap();
            assert_optional_close(actual, expected.as_f64(), &what(&format!("aupro@{limit}")));
        }

        // Best Dice: the chosen `>` threshold reproduces the brute-force pooled optimum.
        let chosen = best_dice_threshold(&map_refs, &mask_refs).unwrap().unwrap();
        let ThresholdSource::ImageSet {
            n_images,
            pooled_dice,
        } = chosen.source
        else {
            panic!("best dice comes from the set");
        };
        assert_eq!(n_images, maps.len());
        assert_close(
            pooled_dice,
            number(&case["best_dice"]),
            GOLDEN_TOLERANCE,
            &what("dice*"),
        );
        let counts =
            maps.iter()
                .zip(&masks)
                .fold(ConfusionCounts::default(), |sum, (map, mask)| {
                    sum + ConfusionCounts::from_masks(&chosen.binarize(map), mask).unwrap()
                });
        assert_close(counts.dice(), pooled_dice, 1e-12, &what("dice* reproduced"));
    }
}

#[test]
fn bounded_pooling_is_close_to_exact() {
    let golden = golden();
    let bins = ScoreBins::new(-1.0, 2.0, ScoreBins::DEFAULT_N_BINS).unwrap();
    for case in cases(&golden, "pooled") {
        let shape = MapShape::new(size(&case["height"]), size(&case["width"]));
        let (maps, masks) = maps_and_masks(case);
        let mut ranking = PooledRanking::new(PoolingMode::Histogram(bins));
        let mut aupro = AuproAccumulator::new(PoolingMode::Histogram(bins), 0.3).unwrap();
        for (map, mask) in maps.iter().zip(&masks) {
            ranking.add(map, mask).unwrap();
            aupro.add(map, mask, shape).unwrap();
        }
        let summary = ranking.summary().unwrap();
        let expected = number(&case["pixel"]["auroc"]);
        assert!((summary.auroc - expected).abs() <= summary.auroc_error_bound + 1e-12);
        // Exactly tied scores share a bin too, so the bound is only tight without ties.
        if !name(case).contains("ties") {
            assert!(summary.auroc_error_bound < 1e-3, "{}", name(case));
        }
        assert_close(
            aupro.aupro().unwrap(),
            number(&case["aupro"]["0.3"]),
            1e-3,
            name(case),
        );
    }
}

#[test]
fn aupro_matches_the_mvtec_code() {
    let golden = golden();
    for case in cases(&golden, "aupro") {
        let shape = MapShape::new(size(&case["height"]), size(&case["width"]));
        let (maps, masks) = maps_and_masks(case);
        let map_refs: Vec<&[f32]> = maps.iter().map(Vec::as_slice).collect();
        let mask_refs: Vec<&[bool]> = masks.iter().map(Vec::as_slice).collect();
        for (limit, expected) in case["aupro"].as_object().unwrap() {
            let limit: f64 = limit.parse().unwrap();
            let actual = dtunet_metrics::aupro(&map_refs, &mask_refs, shape, limit).unwrap();
            assert_optional_close(
                actual,
                expected.as_f64(),
                &format!("{} aupro@{limit}", name(case)),
            );
        }
    }
}

#[test]
fn components_match_scipy_label() {
    let golden = golden();
    for case in cases(&golden, "components") {
        let shape = MapShape::new(size(&case["height"]), size(&case["width"]));
        let mask = bools(&case["mask"]);
        let components = Components::label(&mask, shape).unwrap();
        assert_eq!(
            components.n_components(),
            size(&case["n_components"]),
            "{}",
            name(case)
        );
        let expected: Vec<u32> = case["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(components.labels(), expected.as_slice(), "{}", name(case));
        assert_eq!(
            largest_component(&mask, shape).unwrap(),
            bools(&case["largest"]),
            "{}",
            name(case)
        );
    }
}

#[test]
fn confusion_matches_scikit_learn() {
    let golden = golden();
    for case in cases(&golden, "confusion") {
        let scores = overlap_scores(&bools(&case["predicted"]), &bools(&case["truth"])).unwrap();
        for (actual, key) in [
            (scores.dice, "dice"),
            (scores.iou, "iou"),
            (scores.precision, "precision"),
            (scores.recall, "recall"),
            (scores.false_positive_rate, "false_positive_rate"),
        ] {
            assert_close(
                actual,
                number(&case[key]),
                1e-12,
                &format!("{} {key}", name(case)),
            );
        }
    }
}

#[test]
fn ece_matches_the_definition() {
    let golden = golden();
    for case in cases(&golden, "ece") {
        let mask = bools(&case["mask"]);
        for (kind, map_key, value_key) in [
            (ErrorMapKind::Absolute, "absolute", "ece_absolute"),
            (ErrorMapKind::Square, "square", "ece_square"),
        ] {
            let ece = expected_calibration_error(&f32s(&case[map_key]), &mask, kind).unwrap();
            assert_close(
                ece,
                number(&case[value_key]),
                GOLDEN_TOLERANCE,
                &format!("{} {map_key}", name(case)),
            );
        }
    }
}

#[test]
fn ssim_and_psnr_match_scikit_image() {
    let golden = golden();
    for case in cases(&golden, "ssim") {
        let shape = ImageShape::new(
            size(&case["channels"]),
            size(&case["height"]),
            size(&case["width"]),
        );
        let (first, second) = (f32s(&case["first"]), f32s(&case["second"]));
        let value = ssim(&first, &second, shape).unwrap();
        assert_close(
            value,
            number(&case["ssim"]),
            SSIM_TOLERANCE,
            &format!("{} ssim", name(case)),
        );
        let value = psnr(&first, &second).unwrap();
        assert_close(
            value,
            number(&case["psnr"]),
            GOLDEN_TOLERANCE,
            &format!("{} psnr", name(case)),
        );
    }
}

#[test]
fn thresholds_match_scikit_image_and_numpy() {
    let golden = golden();
    for case in cases(&golden, "threshold") {
        let map = f32s(&case["map"]);
        let otsu = otsu_threshold(&map).unwrap();
        assert_close(
            otsu,
            number(&case["otsu"]),
            GOLDEN_TOLERANCE,
            &format!("{} otsu", name(case)),
        );
        for pair in case["percentiles"].as_array().unwrap() {
            let (percent, expected) = (number(&pair[0]), number(&pair[1]));
            let actual = percentile(&map, percent).unwrap();
            assert_close(
                actual,
                expected,
                GOLDEN_TOLERANCE,
                &format!("{} p{percent}", name(case)),
            );
        }
    }
}

#[test]
fn aggregate_matches_numpy() {
    let golden = golden();
    for case in golden["aggregate"].as_array().unwrap() {
        let summary = MeanStd::from_values(
            &f32s(&case["values"])
                .iter()
                .map(|&v| f64::from(v))
                .collect::<Vec<_>>(),
        )
        .unwrap();
        assert_close(summary.mean, number(&case["mean"]), 1e-12, "mean");
        assert_close(summary.std, number(&case["std"]), 1e-12, "std");
        assert_eq!(summary.to_string(), case["formatted"].as_str().unwrap());
    }
}

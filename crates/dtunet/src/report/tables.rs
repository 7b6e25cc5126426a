//! The tables of an evaluation: `metrics.csv` (one row per image), `per_class.csv` (one row
//! per class, when the classes are known), `summary.json` and `summary.md` (the paper's
//! `0.3861 ± 0.2267` style).

use std::io::Write;
use std::path::Path;

use dtunet_metrics::MeanStd;

use crate::error::Result;
use crate::evaluate::{ClassSummary, ImageRow, Summary};
use crate::io::write_atomically;

/// Columns of `metrics.csv`, in order.
pub const METRICS_CSV_COLUMNS: [&str; 18] = [
    "stem",
    "image",
    "height",
    "width",
    "anomalous",
    "mask_missing",
    "threshold",
    "dice",
    "iou",
    "precision",
    "recall",
    "fpr",
    "auroc",
    "ece_ae",
    "ece_se",
    "ssim",
    "psnr",
    "max_score",
];

/// Writes one row per image. Numbers use Rust's shortest round-trip form; absent values (an
/// AUROC with a single-class mask, SSIM without a reconstruction) are empty fields, never 0;
/// the PSNR of an identical reconstruction is `inf`.
pub fn write_metrics_csv(path: &Path, rows: &[ImageRow]) -> Result<()> {
    write_atomically(path, |out| {
        writeln!(out, "{}", METRICS_CSV_COLUMNS.join(","))?;
        for row in rows {
            let scores = &row.scores;
            let overlap = &row.overlap;
            let fields = [
                csv_text(&row.stem),
                csv_text(&row.image.display().to_string()),
                row.height.to_string(),
                row.width.to_string(),
                u8::from(scores.anomalous).to_string(),
                u8::from(row.mask_missing).to_string(),
                row.threshold.to_string(),
                overlap.dice.to_string(),
                overlap.iou.to_string(),
                overlap.precision.to_string(),
                overlap.recall.to_string(),
                overlap.false_positive_rate.to_string(),
                optional(scores.auroc),
                optional(scores.ece_ae),
                optional(scores.ece_se),
                optional(scores.ssim),
                optional(scores.psnr),
                scores.max_score.to_string(),
            ];
            writeln!(out, "{}", fields.join(","))?;
        }
        Ok(())
    })
}

/// Columns of `per_class.csv`, in order.
pub const PER_CLASS_CSV_COLUMNS: [&str; 10] = [
    "class",
    "n_images",
    "n_anomalous_images",
    "n_healthy_reference",
    "auroc_pooled",
    "ap_pooled",
    "aupro",
    "image_auroc",
    "dice_anomalous_mean",
    "dice_anomalous_std",
];

/// Writes one row per class (absent values are empty fields).
pub fn write_per_class_csv(path: &Path, classes: &[ClassSummary]) -> Result<()> {
    write_atomically(path, |out| {
        writeln!(out, "{}", PER_CLASS_CSV_COLUMNS.join(","))?;
        for class in classes {
            let pooled = &class.pooled;
            let fields = [
                csv_text(&pooled.class),
                pooled.n_images.to_string(),
                pooled.n_anomalous_images.to_string(),
                pooled.n_healthy_reference.to_string(),
                optional(pooled.auroc_pooled),
                optional(pooled.ap_pooled),
                optional(pooled.aupro),
                optional(pooled.image_auroc),
                optional(class.dice_anomalous.map(|dice| dice.mean)),
                optional(class.dice_anomalous.map(|dice| dice.std)),
            ];
            writeln!(out, "{}", fields.join(","))?;
        }
        Ok(())
    })
}

/// The per-class table for people: a header and one row of cells per class (pooled metrics
/// with 4 decimals, Dice as `mean ± std`, absent values as `n/a`).
pub fn class_table(classes: &[ClassSummary]) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let header = vec![
        "class",
        "images (anomalous)",
        "healthy pooled in",
        "AUROC (pooled pixels)",
        "AP",
        "AUPRO",
        "image AUROC",
        "Dice (anomalous)",
    ];
    let number =
        |value: Option<f64>| value.map_or_else(|| "n/a".to_string(), |v| format!("{v:.4}"));
    let rows = classes
        .iter()
        .map(|class| {
            let pooled = &class.pooled;
            vec![
                pooled.class.clone(),
                format!("{} ({})", pooled.n_images, pooled.n_anomalous_images),
                pooled.n_healthy_reference.to_string(),
                number(pooled.auroc_pooled),
                number(pooled.ap_pooled),
                number(pooled.aupro),
                number(pooled.image_auroc),
                class
                    .dice_anomalous
                    .map_or_else(|| "n/a".to_string(), |dice| dice.to_string()),
            ]
        })
        .collect();
    (header, rows)
}

/// Writes `summary.json` (pretty-printed; absent metrics are `null`).
pub fn write_summary_json(path: &Path, summary: &Summary) -> Result<()> {
    write_atomically(path, |out| {
        serde_json::to_writer_pretty(&mut *out, summary)?;
        writeln!(out)
    })
}

/// Writes `summary.md`: the settings, then one table row per metric.
pub fn write_summary_md(path: &Path, summary: &Summary) -> Result<()> {
    write_atomically(path, |out| {
        writeln!(out, "# dtunet eval\n")?;
        for (label, value) in setting_lines(summary) {
            writeln!(out, "- {label}: {value}")?;
        }
        writeln!(out, "\n| metric | value |\n| --- | --- |")?;
        for (label, value) in metric_lines(summary) {
            writeln!(out, "| {label} | {value} |")?;
        }
        if !summary.per_class.is_empty() {
            let (header, rows) = class_table(&summary.per_class);
            writeln!(
                out,
                "\n## Per class (its images with every healthy image)\n\n| {} |\n|{}",
                header.join(" | "),
                " --- |".repeat(header.len())
            )?;
            for row in rows {
                writeln!(out, "| {} |", row.join(" | "))?;
            }
        }
        Ok(())
    })
}

/// `(label, value)` per metric, in the paper's style: per-image metrics as `mean ± std`
/// (4 decimals), pooled metrics as one number, absent ones as `n/a` with the reason.
pub fn metric_lines(summary: &Summary) -> Vec<(&'static str, String)> {
    let per_image = |value: Option<MeanStd>, why_absent: &str| match value {
        Some(value) => value.to_string(),
        None => format!("n/a ({why_absent})"),
    };
    let pooled = |value: Option<f64>, why_absent: &str| match value {
        Some(value) => format!("{value:.4}"),
        None => format!("n/a ({why_absent})"),
    };
    let single_class = "one class only";
    let no_reconstruction = "no reconstructions";
    let ece_absent = |own: bool| {
        if summary.map_source == "maps" && !own {
            "maps are of the other kind"
        } else {
            "maps outside the error range"
        }
    };
    let auroc_label = if summary.n_auroc_skipped > 0 {
        "AUROC (per image, single-class skipped)"
    } else {
        "AUROC (per image)"
    };
    vec![
        ("Dice", summary.dice.to_string()),
        (
            "Dice (anomalous images)",
            match summary.dice_anomalous {
                Some(value) => format!("{value} (n = {})", value.count),
                None => "n/a (no anomalous image)".to_string(),
            },
        ),
        ("IoU", summary.iou.to_string()),
        ("Precision", summary.precision.to_string()),
        ("Recall", summary.recall.to_string()),
        ("FPR", summary.fpr.to_string()),
        (
            "Healthy images: pixels flagged",
            match summary.healthy_pixels_flagged {
                Some(fraction) => format!(
                    "{:.3} % ({} of {} images with any)",
                    fraction * 100.0,
                    summary.n_healthy_images_flagged,
                    summary.n_images - summary.n_anomalous_images
                ),
                None => "n/a (no healthy image)".to_string(),
            },
        ),
        (auroc_label, per_image(summary.auroc, single_class)),
        (
            "AUROC (pooled pixels)",
            pooled(summary.auroc_pooled, single_class),
        ),
        (
            "AP (pooled pixels)",
            pooled(summary.ap_pooled, single_class),
        ),
        (
            "AUPRO (FPR ≤ 0.3)",
            pooled(summary.aupro, "no anomalous region"),
        ),
        (
            "F1-max (pooled pixels)",
            pooled(summary.f1_max, single_class),
        ),
        (
            "Image AUROC (max of map)",
            pooled(summary.image_auroc, "one image class only"),
        ),
        (
            "ECE (ae)",
            per_image(summary.ece_ae, ece_absent(summary.map == "ae")),
        ),
        (
            "ECE (se)",
            per_image(summary.ece_se, ece_absent(summary.map == "se")),
        ),
        ("SSIM", per_image(summary.ssim, no_reconstruction)),
        ("PSNR (dB)", per_image(summary.psnr, no_reconstruction)),
    ]
}

/// `(label, value)` describing how the set was evaluated.
pub fn setting_lines(summary: &Summary) -> Vec<(&'static str, String)> {
    let pooling = &summary.pooling;
    let pooling_text = match (pooling.mode, pooling.n_bins, pooling.auroc_error_bound) {
        ("histogram", Some(n_bins), Some(bound)) => format!(
            "histogram of {n_bins} bins ({} pixels > budget {}; pooled AUROC within ±{bound:.1e})",
            pooling.n_pixels, pooling.max_exact_pixels
        ),
        (mode, _, _) => format!("{mode} ({} pixels)", pooling.n_pixels),
    };
    vec![
        (
            "images",
            format!(
                "{} ({} anomalous, {} without mask)",
                summary.n_images, summary.n_anomalous_images, summary.n_missing_masks
            ),
        ),
        (
            "anomaly map",
            if summary.smooth_sigma > 0.0 {
                format!(
                    "{} from {}, Gaussian-smoothed (σ {} px)",
                    summary.map, summary.map_source, summary.smooth_sigma
                )
            } else {
                format!("{} from {}", summary.map, summary.map_source)
            },
        ),
        ("threshold", summary.threshold.describe()),
        (
            "largest connected component",
            if summary.largest_component {
                "kept only"
            } else {
                "off"
            }
            .to_string(),
        ),
        (
            "skipped",
            format!(
                "AUROC {} (single-class mask), ECE {}, SSIM {} (smaller than 11×11), \
                 PSNR {} (identical reconstruction)",
                summary.n_auroc_skipped,
                summary.n_ece_skipped,
                summary.n_ssim_skipped,
                summary.n_psnr_identical
            ),
        ),
        ("pooling", pooling_text),
    ]
}

/// An optional number as a CSV field: empty when absent.
fn optional(value: Option<f64>) -> String {
    value.map(|value| value.to_string()).unwrap_or_default()
}

/// A CSV text field, quoted when it holds a comma, a quote or a line break.
pub(crate) fn csv_text(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_text_quotes_only_when_needed() {
        assert_eq!(csv_text("003"), "003");
        assert_eq!(csv_text("a,b"), "\"a,b\"");
        assert_eq!(csv_text("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(optional(None), "");
        assert_eq!(optional(Some(f64::INFINITY)), "inf");
    }
}

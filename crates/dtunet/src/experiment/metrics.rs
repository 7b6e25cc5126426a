//! The metrics a study reports, taken from a detection's [`Summary`], and the record of one
//! finished (or failed) cell (`cells/<id>/result.json`).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::evaluate::{ClassSummary, Summary};
use dtunet_metrics::MeanStd;

/// A metric of a cell, as tables and plots name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// Per-image Dice over all images.
    Dice,
    /// Per-image Dice over the images with an anomaly.
    DiceAnomalous,
    /// Per-image IoU.
    Iou,
    /// Per-image precision.
    Precision,
    /// Per-image recall.
    Recall,
    /// Per-image false-positive rate.
    Fpr,
    /// Per-image pixel AUROC (the paper's "AUC" of Tables 5 and 8).
    Auroc,
    /// Pixel AUROC pooled over the set (the paper's Figure 10).
    AurocPooled,
    /// Average precision pooled over the set.
    Ap,
    /// AUPRO up to FPR 0.3.
    Aupro,
    /// Best pooled pixel F1.
    F1Max,
    /// Image AUROC (maximum of the map as score).
    ImageAuroc,
    /// Per-image ECE of the absolute-error map.
    EceAe,
    /// Per-image ECE of the square-error map.
    EceSe,
    /// Per-image SSIM of the reconstruction against the input.
    Ssim,
    /// Per-image PSNR in dB.
    Psnr,
}

impl Metric {
    /// Every metric, in the column order of `results.csv`.
    pub const ALL: [Metric; 16] = [
        Metric::Dice,
        Metric::DiceAnomalous,
        Metric::Iou,
        Metric::Precision,
        Metric::Recall,
        Metric::Fpr,
        Metric::Auroc,
        Metric::AurocPooled,
        Metric::Ap,
        Metric::Aupro,
        Metric::F1Max,
        Metric::ImageAuroc,
        Metric::EceAe,
        Metric::EceSe,
        Metric::Ssim,
        Metric::Psnr,
    ];

    /// The name in study files, `result.json` and `results.csv`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Dice => "dice",
            Metric::DiceAnomalous => "dice_anomalous",
            Metric::Iou => "iou",
            Metric::Precision => "precision",
            Metric::Recall => "recall",
            Metric::Fpr => "fpr",
            Metric::Auroc => "auroc",
            Metric::AurocPooled => "auroc_pooled",
            Metric::Ap => "ap",
            Metric::Aupro => "aupro",
            Metric::F1Max => "f1_max",
            Metric::ImageAuroc => "image_auroc",
            Metric::EceAe => "ece_ae",
            Metric::EceSe => "ece_se",
            Metric::Ssim => "ssim",
            Metric::Psnr => "psnr",
        }
    }

    /// The column heading in tables (the paper's where it has one).
    pub fn label(self) -> &'static str {
        match self {
            Metric::Dice => "Dice",
            Metric::DiceAnomalous => "Dice (anomalous)",
            Metric::Iou => "IOU",
            Metric::Precision => "Precision",
            Metric::Recall => "Recall",
            Metric::Fpr => "FPR",
            Metric::Auroc => "AUC",
            Metric::AurocPooled => "pixel AUC",
            Metric::Ap => "AP",
            Metric::Aupro => "AUPRO",
            Metric::F1Max => "F1-max",
            Metric::ImageAuroc => "image AUC",
            Metric::EceAe => "ECE(ae)",
            Metric::EceSe => "ECE(se)",
            Metric::Ssim => "SSIM",
            Metric::Psnr => "PSNR (dB)",
        }
    }

    /// Whether a larger value is better (the best one is printed in bold).
    pub fn higher_is_better(self) -> bool {
        !matches!(self, Metric::Fpr | Metric::EceAe | Metric::EceSe)
    }

    /// Decimals printed.
    pub fn decimals(self) -> usize {
        match self {
            Metric::Psnr => 2,
            _ => 4,
        }
    }

    /// The metric's value in a detection summary (`None` where the set does not define it).
    pub fn of(self, summary: &Summary) -> Option<MetricValue> {
        let spread = |value: &MeanStd| MetricValue::spread(value.mean, value.std, value.count);
        let spread_of = |value: Option<MeanStd>| value.as_ref().map(spread);
        match self {
            Metric::Dice => Some(spread(&summary.dice)),
            Metric::DiceAnomalous => spread_of(summary.dice_anomalous),
            Metric::Iou => Some(spread(&summary.iou)),
            Metric::Precision => Some(spread(&summary.precision)),
            Metric::Recall => Some(spread(&summary.recall)),
            Metric::Fpr => Some(spread(&summary.fpr)),
            Metric::Auroc => spread_of(summary.auroc),
            Metric::AurocPooled => summary.auroc_pooled.map(MetricValue::single),
            Metric::Ap => summary.ap_pooled.map(MetricValue::single),
            Metric::Aupro => summary.aupro.map(MetricValue::single),
            Metric::F1Max => summary.f1_max.map(MetricValue::single),
            Metric::ImageAuroc => summary.image_auroc.map(MetricValue::single),
            Metric::EceAe => spread_of(summary.ece_ae),
            Metric::EceSe => spread_of(summary.ece_se),
            Metric::Ssim => spread_of(summary.ssim),
            Metric::Psnr => spread_of(summary.psnr),
        }
    }

    /// Every metric the summary defines, by name.
    pub fn all_of(summary: &Summary) -> BTreeMap<String, MetricValue> {
        Metric::ALL
            .into_iter()
            .filter_map(|metric| Some((metric.name().to_string(), metric.of(summary)?)))
            .collect()
    }

    /// The metrics a class of the set is scored on ([`ClassSummary`]), in the column order
    /// of a study's `per_class.csv`.
    pub const PER_CLASS: [Metric; 5] = [
        Metric::AurocPooled,
        Metric::Ap,
        Metric::Aupro,
        Metric::ImageAuroc,
        Metric::DiceAnomalous,
    ];

    /// The metric's value for one class (`None` for a metric not in [`Metric::PER_CLASS`] or
    /// that the class does not define).
    pub fn of_class(self, class: &ClassSummary) -> Option<MetricValue> {
        let pooled = &class.pooled;
        match self {
            Metric::AurocPooled => pooled.auroc_pooled.map(MetricValue::single),
            Metric::Ap => pooled.ap_pooled.map(MetricValue::single),
            Metric::Aupro => pooled.aupro.map(MetricValue::single),
            Metric::ImageAuroc => pooled.image_auroc.map(MetricValue::single),
            Metric::DiceAnomalous => class
                .dice_anomalous
                .as_ref()
                .map(|dice| MetricValue::spread(dice.mean, dice.std, dice.count)),
            _ => None,
        }
    }

    /// Class → metric name → value, for every class of the summary (empty when the detection
    /// had no classes).
    pub fn per_class_of(summary: &Summary) -> ClassMetrics {
        summary
            .per_class
            .iter()
            .map(|class| {
                let metrics = Metric::PER_CLASS
                    .into_iter()
                    .filter_map(|metric| Some((metric.name().to_string(), metric.of_class(class)?)))
                    .collect();
                (class.pooled.class.clone(), metrics)
            })
            .collect()
    }
}

/// A cell's metrics per class of the test set (MVTec: the defect type): class → metric name →
/// value.
pub type ClassMetrics = BTreeMap<String, BTreeMap<String, MetricValue>>;

impl FromStr for Metric {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Metric::ALL
            .into_iter()
            .find(|metric| metric.name() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = Metric::ALL.iter().map(|metric| metric.name()).collect();
                format!(
                    "unknown metric {text:?}: expected one of {}",
                    names.join(", ")
                )
            })
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A metric's value: a set-level number, or a mean with its spread.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MetricValue {
    /// The value, or the mean.
    pub mean: f64,
    /// Population standard deviation, when the value is a mean.
    pub std: Option<f64>,
    /// How many values the mean is over (images, or seeds in a table).
    pub count: Option<usize>,
}

impl MetricValue {
    /// A set-level number.
    pub fn single(value: f64) -> Self {
        Self {
            mean: value,
            std: None,
            count: None,
        }
    }

    /// A mean with its population standard deviation over `count` values.
    pub fn spread(mean: f64, std: f64, count: usize) -> Self {
        Self {
            mean,
            std: Some(std),
            count: Some(count),
        }
    }

    /// Mean and population std of `values` (at least one).
    pub fn over(values: &[f64]) -> Self {
        let n = values.len().max(1) as f64;
        let mean = values.iter().sum::<f64>() / n;
        let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        Self::spread(mean, variance.sqrt(), values.len())
    }

    /// `0.3861 ± 0.2267` with `decimals` decimals (the std only when there is one).
    pub fn text(&self, decimals: usize) -> String {
        match self.std {
            Some(std) => format!("{:.decimals$} ± {std:.decimals$}", self.mean),
            None => format!("{:.decimals$}", self.mean),
        }
    }
}

impl FromStr for MetricValue {
    type Err = String;

    /// Parses `0.794`, `0.3861 ± 0.2267` or `0.3861 +- 0.2267`.
    fn from_str(text: &str) -> Result<Self, String> {
        let number = |part: &str| {
            part.trim()
                .parse::<f64>()
                .ok()
                .filter(|value| value.is_finite())
                .ok_or_else(|| format!("{text:?} is not a number or \"mean ± std\""))
        };
        match text.split_once('±').or_else(|| text.split_once("+-")) {
            Some((mean, std)) => Ok(Self {
                mean: number(mean)?,
                std: Some(number(std)?),
                count: None,
            }),
            None => Ok(Self::single(number(text)?)),
        }
    }
}

/// Whether a cell finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CellStatus {
    /// Trained (or shared a model), detected, scored.
    Done,
    /// Stopped by an error (recorded with its reason); the study went on.
    Failed,
}

/// One cell's outcome: `cells/<id>/result.json`, one row of `results.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellRecord {
    /// The cell's id (its folder name).
    pub cell: String,
    /// Axis name → value of the cell.
    pub values: BTreeMap<String, String>,
    /// Done or failed.
    pub status: CellStatus,
    /// Why it failed.
    pub reason: Option<String>,
    /// The id of the trained model the cell used (cells with one id share it).
    pub model: String,
    /// The cell whose reconstructions were scored, when not the cell's own.
    pub reconstructions_from: Option<String>,
    /// Metric name → value.
    pub metrics: BTreeMap<String, MetricValue>,
    /// The metrics of each class of the test set (absent when the detection had none).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub per_class: ClassMetrics,
    /// Training seconds of the model (all sessions).
    pub train_seconds: Option<f64>,
    /// Mean training loss over the last 10 % of the steps.
    pub tail_loss: Option<f64>,
    /// Reconstruction and scoring seconds of the cell.
    pub detect_seconds: Option<f64>,
    /// The cell's detection report, relative to the study folder.
    pub report: Option<String>,
}

impl CellRecord {
    /// The value of `metric`, when the cell finished and the metric is defined.
    pub fn metric(&self, metric: Metric) -> Option<MetricValue> {
        match self.status {
            CellStatus::Done => self.metrics.get(metric.name()).copied(),
            CellStatus::Failed => None,
        }
    }

    /// The value of `metric` for `class`, when the cell finished and the class defines it.
    pub fn class_metric(&self, class: &str, metric: Metric) -> Option<MetricValue> {
        match self.status {
            CellStatus::Done => self.per_class.get(class)?.get(metric.name()).copied(),
            CellStatus::Failed => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_values_parse_and_print_as_the_paper() {
        let value: MetricValue = "0.3861 ± 0.2267".parse().expect("accepted");
        assert_eq!((value.mean, value.std), (0.3861, Some(0.2267)));
        assert_eq!(value.text(4), "0.3861 ± 0.2267");
        let value: MetricValue = "0.794".parse().expect("accepted");
        assert_eq!((value.mean, value.std), (0.794, None));
        assert_eq!(value.text(3), "0.794");
        assert!(
            "n/a"
                .parse::<MetricValue>()
                .expect_err("refused")
                .contains("n/a")
        );
        assert!("1 ± x".parse::<MetricValue>().is_err());
    }

    #[test]
    fn spread_over_seeds_is_the_population_std() {
        let value = MetricValue::over(&[0.5, 0.7]);
        assert!((value.mean - 0.6).abs() < 1e-12);
        assert!((value.std.expect("accepted") - 0.1).abs() < 1e-12);
        assert_eq!(value.count, Some(2));
        assert_eq!("ece_se".parse::<Metric>().expect("accepted"), Metric::EceSe);
        assert!(
            "dcie"
                .parse::<Metric>()
                .expect_err("refused")
                .contains("dice")
        );
        assert!(!Metric::EceAe.higher_is_better() && Metric::Dice.higher_is_better());
    }
}

//! The dataset card: how a synthetic dataset was made and what it holds, as `dataset.json`
//! (machine-readable) and `README.md` (for people).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::config::{Class, Lesions, Material, SynthConfig, SynthKind};
use super::{PlannedImage, SynthSample};
use crate::data::Split;

/// One written image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageRecord {
    /// `train` or `test`.
    pub split: Split,
    /// The class folder.
    pub class: Class,
    /// Path of the image relative to the dataset folder (`/`-separated).
    pub image: String,
    /// Path of the mask relative to the dataset folder (anomalies only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mask: Option<String>,
    /// Fraction of the image's pixels inside the mask.
    pub coverage: f64,
    /// Mean absolute change the anomaly made inside its mask, in [0, 1] intensity units.
    pub mean_abs_change: f64,
    /// What the anomaly is (anomalies only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl ImageRecord {
    /// The record of `sample`, written as `item` with file numbers of `digits` digits.
    pub fn new(item: &PlannedImage, sample: &SynthSample, digits: usize) -> Self {
        let stem = format!("{:0digits$}", item.class_index);
        let image = format!("{}/{}/{stem}.png", item.split.name(), item.class.name());
        let mask = (item.split == Split::Test && item.class.is_anomaly())
            .then(|| format!("ground_truth/{}/{stem}_mask.png", item.class.name()));
        Self {
            split: item.split,
            class: item.class,
            image,
            mask,
            coverage: round6(sample.coverage()),
            mean_abs_change: round6(sample.mean_abs_change),
            detail: sample.detail.clone(),
        }
    }
}

/// Per-class summary of one split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassStats {
    /// Images.
    pub images: usize,
    /// Mask coverage (fraction of pixels): mean, min, median, max over the images.
    pub coverage_mean: f64,
    /// Smallest coverage.
    pub coverage_min: f64,
    /// Median coverage.
    pub coverage_median: f64,
    /// Largest coverage.
    pub coverage_max: f64,
    /// Mean over the images of [`ImageRecord::mean_abs_change`].
    pub mean_abs_change: f64,
}

/// Everything about a written synthetic dataset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetCard {
    /// The command that made it, e.g. `dtunet synth brain`.
    pub generator: String,
    /// Version of the dtunet library that wrote it.
    pub dtunet_version: &'static str,
    /// The folder layout (`mvtec-ad`).
    pub layout: &'static str,
    /// Brain or texture.
    pub kind: SynthKind,
    /// The surface of a texture dataset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub material: Option<Material>,
    /// Run seed.
    pub seed: u64,
    /// Image height, pixels.
    pub height: usize,
    /// Image width, pixels.
    pub width: usize,
    /// Channels (1 gray, 3 RGB).
    pub channels: usize,
    /// Requested healthy fraction of the test split.
    pub healthy_fraction: f64,
    /// Size and visibility of the brain lesions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lesions: Option<Lesions>,
    /// Split → class → summary.
    pub splits: BTreeMap<Split, BTreeMap<Class, ClassStats>>,
    /// Every image, in generation order.
    pub images: Vec<ImageRecord>,
}

impl DatasetCard {
    /// The card of a dataset made from `config` holding `images`.
    pub fn new(config: &SynthConfig, images: Vec<ImageRecord>) -> Self {
        let mut grouped: BTreeMap<Split, BTreeMap<Class, Vec<&ImageRecord>>> = BTreeMap::new();
        for record in &images {
            grouped
                .entry(record.split)
                .or_default()
                .entry(record.class)
                .or_default()
                .push(record);
        }
        let splits = grouped
            .into_iter()
            .map(|(split, classes)| {
                let classes = classes
                    .into_iter()
                    .map(|(class, records)| (class, ClassStats::of(&records)))
                    .collect();
                (split, classes)
            })
            .collect();
        Self {
            generator: format!("dtunet synth {}", config.kind),
            dtunet_version: env!("CARGO_PKG_VERSION"),
            layout: "mvtec-ad",
            kind: config.kind,
            material: (config.kind == SynthKind::Texture).then_some(config.material),
            seed: config.seed,
            height: config.height,
            width: config.width,
            channels: config.kind.channels(),
            healthy_fraction: config.healthy_fraction,
            lesions: (config.kind == SynthKind::Brain).then_some(config.lesions),
            splits,
            images,
        }
    }

    /// Images in `split` of `class`.
    pub fn count(&self, split: Split, class: Class) -> usize {
        self.splits
            .get(&split)
            .and_then(|classes| classes.get(&class))
            .map_or(0, |stats| stats.images)
    }

    /// The command line that regenerates the dataset (without `--out`).
    pub fn command(&self) -> String {
        let n_train = self.count_split(Split::Train);
        let n_test = self.count_split(Split::Test);
        let mut command = format!(
            "{} --n-train {n_train} --n-test {n_test} --height {} --width {} --seed {} --healthy-fraction {}",
            self.generator, self.height, self.width, self.seed, self.healthy_fraction
        );
        if let Some(material) = self.material {
            let _ = write!(command, " --material {material}");
        }
        if let Some(lesions) = self.lesions.filter(|&l| l != Lesions::Mixed) {
            let _ = write!(command, " --lesions {lesions}");
        }
        command
    }

    fn count_split(&self, split: Split) -> usize {
        self.splits.get(&split).map_or(0, |classes| {
            classes.values().map(|stats| stats.images).sum()
        })
    }

    /// The card for people: `README.md`.
    pub fn to_markdown(&self) -> String {
        let mut text = String::new();
        let title = match self.material {
            Some(material) => format!("{} {}", self.kind, material),
            None => self.kind.to_string(),
        };
        let _ = writeln!(text, "# Synthetic {title} dataset\n");
        let _ = writeln!(
            text,
            "Made by `{}` of dtunet {}. Deterministic: the same command writes byte-identical \
             files.\n\n```\n{} --out DIR\n```\n",
            self.generator,
            self.dtunet_version,
            self.command()
        );
        let _ = writeln!(text, "## How it was made\n\n{}\n", self.method());
        let _ = writeln!(
            text,
            "## Parameters\n\n| parameter | value |\n|---|---|\n| kind | {} |",
            self.kind
        );
        if let Some(material) = self.material {
            let _ = writeln!(text, "| material | {material} |");
        }
        if let Some(lesions) = self.lesions {
            let _ = writeln!(text, "| lesions | {lesions} |");
        }
        let _ = writeln!(
            text,
            "| image size (height x width) | {} x {} |\n| channels | {} |\n| seed | {} |\n\
             | healthy fraction of test | {} |\n",
            self.height, self.width, self.channels, self.seed, self.healthy_fraction
        );
        let _ = writeln!(
            text,
            "## Contents\n\nMask coverage is the fraction of an image's pixels inside its mask; \
             change is the mean absolute intensity change inside the mask (0..1), a measure of \
             how visible the anomalies are.\n\n\
             | split | class | images | coverage mean | min | median | max | change |\n\
             |---|---|---:|---:|---:|---:|---:|---:|"
        );
        for (split, classes) in &self.splits {
            for (class, stats) in classes {
                let _ = writeln!(
                    text,
                    "| {} | {} | {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.3} |",
                    split.name(),
                    class,
                    stats.images,
                    stats.coverage_mean,
                    stats.coverage_min,
                    stats.coverage_median,
                    stats.coverage_max,
                    stats.mean_abs_change
                );
            }
        }
        let _ = writeln!(
            text,
            "\n## Layout (MVTec AD)\n\n```\ntrain/good/000.png …\ntest/good/000.png …\n\
             test/<class>/000.png …\nground_truth/<class>/000_mask.png …   8-bit, 0 or 255, \
             same size as the image\ndataset.json                          these facts, and \
             one record per image\n```"
        );
        text
    }

    fn method(&self) -> &'static str {
        match self.kind {
            SynthKind::Brain => {
                "Grayscale axial brain-MRI-like phantoms (T1-weighted look). Each subject draws \
                 its head size, aspect, rotation and position, cortex thickness, ventricle size \
                 and tissue intensities: a bright scalp ring over a dark skull, a folded grey \
                 matter cortex with sulci over white matter, deep grey nuclei, butterfly-shaped \
                 lateral ventricles and the interhemispheric fissure, textured by fractal \
                 gradient noise; then a smooth multiplicative bias field and Rician noise. \
                 Tumour images add one lesion: an irregular blob (noise-perturbed radius) of \
                 log-uniform size, brighter or darker than white matter by a log-uniform \
                 contrast (subtle to strong), solid, heterogeneous or with a necrotic core in a \
                 bright rim. Its mask is exactly the lesion clipped to the brain; nothing \
                 outside the mask changes."
            }
            SynthKind::Texture => {
                "Procedural RGB surfaces: leather (Worley cells with dark creases), twill fabric \
                 (two thread colours, fibres, slubs) or wood (distorted growth rings, fibres, \
                 pores). The run seed fixes the dataset's colour, scale and orientation; each \
                 image has its own noise, offset and small jitter, plus mild sensor noise. \
                 Defects: scratch (a thin lighter or darker Bézier curve), hole (a dark disc \
                 with a frayed raised rim), stain (a soft tinted blob with a drying ring) and \
                 patch (a pasted piece of another material or colour). Masks are exact; nothing \
                 outside a mask changes."
            }
        }
    }
}

impl ClassStats {
    fn of(records: &[&ImageRecord]) -> Self {
        let mut coverages: Vec<f64> = records.iter().map(|r| r.coverage).collect();
        coverages.sort_by(f64::total_cmp);
        let n = coverages.len();
        let median = if n % 2 == 1 {
            coverages[n / 2]
        } else {
            (coverages[n / 2 - 1] + coverages[n / 2]) / 2.0
        };
        Self {
            images: n,
            coverage_mean: round6(coverages.iter().sum::<f64>() / n as f64),
            coverage_min: coverages[0],
            coverage_median: round6(median),
            coverage_max: coverages[n - 1],
            mean_abs_change: round6(
                records.iter().map(|r| r.mean_abs_change).sum::<f64>() / n as f64,
            ),
        }
    }
}

/// `value` rounded to 6 decimals (keeps the JSON readable).
fn round6(value: f64) -> f64 {
    (value * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(split: Split, class: Class, coverage: f64) -> ImageRecord {
        ImageRecord {
            split,
            class,
            image: String::new(),
            mask: None,
            coverage,
            mean_abs_change: coverage * 10.0,
            detail: None,
        }
    }

    #[test]
    fn summarises_per_split_and_class() {
        let config = SynthConfig::default();
        let card = DatasetCard::new(
            &config,
            vec![
                record(Split::Train, Class::Good, 0.0),
                record(Split::Test, Class::Good, 0.0),
                record(Split::Test, Class::Tumor, 0.01),
                record(Split::Test, Class::Tumor, 0.03),
            ],
        );
        assert_eq!(card.count(Split::Train, Class::Good), 1);
        assert_eq!(card.count(Split::Test, Class::Tumor), 2);
        assert_eq!(card.count(Split::Test, Class::Hole), 0);
        let tumour = &card.splits[&Split::Test][&Class::Tumor];
        assert_eq!(tumour.coverage_median, 0.02);
        assert_eq!(tumour.coverage_max, 0.03);
        assert!(card.command().contains("--n-train 1 --n-test 3"));
        assert!(card.to_markdown().contains("| test | tumor | 2 |"));
        let json = serde_json::to_value(&card).expect("serialises");
        assert_eq!(json["splits"]["test"]["tumor"]["images"], 2);
        assert!(json.get("material").is_none(), "brain has no material");
    }
}

//! `dtunet data inspect`: reads every sample of a dataset once and summarises what it found —
//! counts per split and class, the stored image sizes, mask coverage, and the problems (files
//! that cannot be read, masks of the wrong size, plus those found while indexing).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use rayon::prelude::*;
use serde::Serialize;

use super::layout::{Dataset, Issue, IssueKind, Layout, Split};
use super::transform::{ImageSize, Transform};
use crate::error::DtunetError;

/// Problems of one kind listed in the human-readable report before "… and N more".
const LISTED_PER_KIND: usize = 20;

/// The summary of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InspectReport {
    /// The `--layout` name.
    pub layout: String,
    /// The folder samples were read from.
    pub root: PathBuf,
    /// The size samples were resized to (masks are measured at this size).
    pub size: ImageSize,
    /// Channels samples were converted to.
    pub channels: usize,
    /// Counts per split and class, train first, classes in name order.
    pub classes: Vec<ClassCount>,
    /// Stored image sizes and colour types, most common first.
    pub image_sizes: Vec<SizeCount>,
    /// Fraction of anomalous pixels over the test images with a mask; `None` when none has.
    pub mask_coverage: Option<Coverage>,
    /// Everything that was skipped or failed, indexing problems first.
    pub issues: Vec<Issue>,
}

/// Samples of one class in one split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClassCount {
    /// The split.
    pub split: Split,
    /// The class (folder name or kind).
    pub class: String,
    /// Samples indexed.
    pub images: usize,
    /// Samples decoded without error.
    pub read: usize,
    /// Decoded samples with a mask.
    pub with_mask: usize,
    /// Decoded samples known to be anomalous.
    pub anomalous: usize,
}

/// How many decoded samples had a stored size and colour type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SizeCount {
    /// Stored size (`height x width`).
    pub size: ImageSize,
    /// Stored colour type (`l8`, `rgb8`, `l16`, …).
    pub color: String,
    /// Samples.
    pub count: usize,
}

/// Fraction of anomalous pixels per test image with a mask.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Coverage {
    /// Test images with a mask.
    pub images: usize,
    /// Mean fraction.
    pub mean: f64,
    /// Smallest fraction.
    pub min: f64,
    /// Largest fraction.
    pub max: f64,
}

/// What reading one sample gave.
enum Outcome {
    Read {
        size: ImageSize,
        color: String,
        mask_fraction: Option<f64>,
        anomalous: bool,
    },
    Failed(Issue),
}

/// Reads every sample of `dataset` (opened as `layout` with `transform`), in parallel, and
/// summarises it; `on_sample` is called once per sample read, for progress. Problems never stop
/// the inspection: they are listed.
pub fn inspect(
    dataset: &dyn Dataset,
    layout: Layout,
    transform: Transform,
    on_sample: &(dyn Fn() + Sync),
) -> InspectReport {
    let mut counts: BTreeMap<(Split, String), ClassCount> = BTreeMap::new();
    let mut sizes: BTreeMap<(ImageSize, String), usize> = BTreeMap::new();
    let mut fractions = Vec::new();
    let mut issues = dataset.issues().to_vec();
    for split in Split::ALL {
        let outcomes: Vec<(usize, Outcome)> = (0..dataset.len(split))
            .into_par_iter()
            .map(|index| {
                let outcome = match dataset.get(split, index) {
                    Ok(sample) => Outcome::Read {
                        size: sample.original_size,
                        color: sample.original_color.clone(),
                        mask_fraction: sample.mask.as_ref().map(|mask| {
                            mask.iter().filter(|&&v| v != 0).count() as f64
                                / mask.len().max(1) as f64
                        }),
                        anomalous: sample.is_anomalous() == Some(true),
                    },
                    Err(error) => Outcome::Failed(failure_issue(&error, dataset, split, index)),
                };
                on_sample();
                (index, outcome)
            })
            .collect();
        for (index, outcome) in outcomes {
            let Some(info) = dataset.info(split, index) else {
                continue;
            };
            let count = counts
                .entry((split, info.class.clone()))
                .or_insert_with(|| ClassCount {
                    split,
                    class: info.class.clone(),
                    images: 0,
                    read: 0,
                    with_mask: 0,
                    anomalous: 0,
                });
            count.images += 1;
            match outcome {
                Outcome::Read {
                    size: stored,
                    color,
                    mask_fraction,
                    anomalous,
                } => {
                    count.read += 1;
                    count.anomalous += usize::from(anomalous);
                    *sizes.entry((stored, color)).or_default() += 1;
                    if let Some(fraction) = mask_fraction {
                        count.with_mask += 1;
                        if split == Split::Test {
                            fractions.push(fraction);
                        }
                    }
                }
                Outcome::Failed(issue) => issues.push(issue),
            }
        }
    }
    let mut image_sizes: Vec<SizeCount> = sizes
        .into_iter()
        .map(|((size, color), count)| SizeCount { size, color, count })
        .collect();
    image_sizes.sort_by_key(|size| std::cmp::Reverse(size.count));
    InspectReport {
        layout: layout.name().into(),
        root: dataset.root().to_path_buf(),
        size: transform.size,
        channels: transform.channels.count(),
        classes: counts.into_values().collect(),
        image_sizes,
        mask_coverage: coverage(&fractions),
        issues,
    }
}

/// The issue for a sample that failed to load: a size mismatch or an unreadable file.
fn failure_issue(error: &DtunetError, dataset: &dyn Dataset, split: Split, index: usize) -> Issue {
    let (kind, path) = match error {
        DtunetError::SizeMismatch { path, .. } => (IssueKind::SizeMismatch, path.clone()),
        DtunetError::ImageRead { path, .. }
        | DtunetError::NiftiRead { path, .. }
        | DtunetError::VolumeShape { path, .. }
        | DtunetError::Io { path, .. } => (IssueKind::Unreadable, path.clone()),
        _ => (
            IssueKind::Unreadable,
            dataset
                .info(split, index)
                .map(|info| info.source.clone())
                .unwrap_or_default(),
        ),
    };
    Issue {
        kind,
        path,
        detail: error_chain(error),
    }
}

/// An error and its causes, `: `-separated.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// Mean, min and max of `fractions`; `None` when empty.
fn coverage(fractions: &[f64]) -> Option<Coverage> {
    if fractions.is_empty() {
        return None;
    }
    Some(Coverage {
        images: fractions.len(),
        mean: fractions.iter().sum::<f64>() / fractions.len() as f64,
        min: fractions.iter().copied().fold(f64::INFINITY, f64::min),
        max: fractions.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    })
}

impl fmt::Display for InspectReport {
    /// The human-readable report: a table per section.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "dataset {} (layout {}, read at {} with {} channel{})",
            self.root.display(),
            self.layout,
            self.size,
            self.channels,
            if self.channels == 1 { "" } else { "s" }
        )?;
        let class_width = self
            .classes
            .iter()
            .map(|c| c.class.len())
            .chain([5])
            .max()
            .unwrap_or(5);
        writeln!(
            f,
            "\n{:<5}  {:<class_width$}  {:>7}  {:>7}  {:>7}  {:>9}",
            "split", "class", "images", "read", "masks", "anomalous"
        )?;
        let mut total = (0, 0, 0, 0);
        for c in &self.classes {
            writeln!(
                f,
                "{:<5}  {:<class_width$}  {:>7}  {:>7}  {:>7}  {:>9}",
                c.split.name(),
                c.class,
                c.images,
                c.read,
                c.with_mask,
                c.anomalous
            )?;
            total = (
                total.0 + c.images,
                total.1 + c.read,
                total.2 + c.with_mask,
                total.3 + c.anomalous,
            );
        }
        writeln!(
            f,
            "{:<5}  {:<class_width$}  {:>7}  {:>7}  {:>7}  {:>9}",
            "total", "", total.0, total.1, total.2, total.3
        )?;

        writeln!(f, "\nimage sizes as stored (height x width)")?;
        for s in &self.image_sizes {
            writeln!(
                f,
                "  {:>11}  {:<6}  {:>7}",
                s.size.to_string(),
                s.color,
                s.count
            )?;
        }
        if self.image_sizes.is_empty() {
            writeln!(f, "  none read")?;
        }

        match &self.mask_coverage {
            Some(c) => writeln!(
                f,
                "\nmask coverage (anomalous pixel fraction over {} test images with masks, at {})\n  mean {:.4}  min {:.4}  max {:.4}",
                c.images, self.size, c.mean, c.min, c.max
            )?,
            None => writeln!(f, "\nmask coverage: no test image has a mask")?,
        }

        if self.issues.is_empty() {
            return writeln!(f, "\nno problems found");
        }
        writeln!(f, "\nproblems ({})", self.issues.len())?;
        let mut kinds: Vec<IssueKind> = self.issues.iter().map(|i| i.kind).collect();
        kinds.sort();
        kinds.dedup();
        for kind in kinds {
            let of_kind: Vec<&Issue> = self.issues.iter().filter(|i| i.kind == kind).collect();
            for issue in of_kind.iter().take(LISTED_PER_KIND) {
                writeln!(
                    f,
                    "  {:<15}  {}: {}",
                    kind.label(),
                    issue.path.display(),
                    issue.detail
                )?;
            }
            if of_kind.len() > LISTED_PER_KIND {
                writeln!(
                    f,
                    "  {:<15}  … and {} more (all are in --json)",
                    kind.label(),
                    of_kind.len() - LISTED_PER_KIND
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::folder;
    use crate::data::test_support::{Rect, write_gray, write_pair};
    use crate::data::transform::Channels;

    #[test]
    fn counts_sizes_coverage_and_problems() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        write_gray(&root.join("train/0.png"), 56, 40, |_, _| 9);
        write_gray(&root.join("train/1.png"), 56, 40, |_, _| 9);
        std::fs::write(root.join("train/2.png"), b"not a png").expect("write");
        let quarter = Rect {
            top: 0,
            left: 0,
            height: 28,
            width: 20,
        };
        write_pair(
            &root.join("test/a.png"),
            &root.join("masks/a.png"),
            56,
            40,
            quarter,
        );
        write_gray(&root.join("test/b.png"), 56, 40, |_, _| 0);
        write_gray(&root.join("masks/b.png"), 56, 40, |_, _| 0);
        write_gray(&root.join("test/c.png"), 56, 40, |_, _| 0);
        write_gray(&root.join("masks/c.png"), 40, 40, |_, _| 0);
        let transform = Transform {
            size: ImageSize::new(28, 20),
            channels: Channels::Gray,
        };
        let set = folder::open(root, transform).expect("opens");
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let report = inspect(&set, Layout::Folder, transform, &|| {
            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        });
        assert_eq!(calls.into_inner(), 6);
        assert_eq!(report.classes.len(), 2);
        let train = &report.classes[0];
        assert_eq!((train.images, train.read, train.with_mask), (3, 2, 0));
        let test = &report.classes[1];
        assert_eq!(
            (test.images, test.read, test.with_mask, test.anomalous),
            (3, 2, 2, 1)
        );
        assert_eq!(report.image_sizes.len(), 1);
        assert_eq!(
            (report.image_sizes[0].size, report.image_sizes[0].count),
            (ImageSize::new(56, 40), 4)
        );
        let coverage = report.mask_coverage.expect("coverage");
        assert_eq!(
            (coverage.images, coverage.min, coverage.max, coverage.mean),
            (2, 0.0, 0.25, 0.125)
        );
        let kinds: Vec<_> = report.issues.iter().map(|i| i.kind).collect();
        assert_eq!(kinds, [IssueKind::Unreadable, IssueKind::SizeMismatch]);
        assert!(report.issues[1].path.ends_with("masks/c.png"));

        let text = report.to_string();
        assert!(text.contains("train  healthy"), "{text}");
        assert!(
            text.contains("mean 0.1250  min 0.0000  max 0.2500"),
            "{text}"
        );
        assert!(text.contains("size mismatch"), "{text}");
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["classes"][1]["with_mask"], 2);
        assert_eq!(json["issues"][0]["kind"], "unreadable");
        assert_eq!(json["image_sizes"][0]["size"]["height"], 56);
    }
}

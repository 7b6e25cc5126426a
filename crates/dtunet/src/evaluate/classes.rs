//! Metrics per class of test image (the MVTec AD defect type: `crack`, `scratch`, …), the way
//! MVTec results are read per defect: each class's anomalous images pooled with every healthy
//! image of the set (the healthy pixels set the false-positive rates of every class alike).
//! A set whose hardest defect hides behind easy ones shows it here, not in the pooled numbers.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use dtunet_metrics::{
    AuproAccumulator, MapShape, MeanStd, MetricsError, PooledRanking, PoolingMode, auroc,
};
use serde::Serialize;

use super::aggregate::ImageRow;
use crate::error::{DtunetError, Result};
use crate::io::write_atomically;

/// The class of each test image, by the file stem it has in the evaluated folders (detection
/// names `test/crack/003.png` `crack_003`, class `crack`). Empty: no breakdown.
pub type ClassOfStem = BTreeMap<String, String>;

/// The file in a detection folder that holds its [`ClassOfStem`] as a JSON object
/// `{"crack_003": "crack", …}`, for `eval --classes`.
pub const CLASSES_FILE: &str = "classes.json";

/// Writes `classes` as a JSON object (atomically).
///
/// # Errors
/// The file cannot be written.
pub fn write_class_json(path: &Path, classes: &ClassOfStem) -> Result<()> {
    write_atomically(path, |out| {
        serde_json::to_writer_pretty(&mut *out, classes)?;
        writeln!(out)
    })
}

/// Reads a JSON object of stem → class written by [`write_class_json`] (or by hand).
///
/// # Errors
/// [`DtunetError::ClassesFile`] naming the file when it cannot be read, is not such an
/// object, or is empty.
pub fn read_class_json(path: &Path) -> Result<ClassOfStem> {
    let invalid = |problem: String| DtunetError::ClassesFile {
        path: path.to_path_buf(),
        problem,
    };
    let text = std::fs::read_to_string(path)
        .map_err(|error| invalid(format!("cannot read the classes file: {error}")))?;
    let classes: ClassOfStem = serde_json::from_str(&text).map_err(|error| {
        invalid(format!(
            "expected a JSON object of image stem → class, e.g. {{\"crack_003\": \"crack\"}}: \
             {error}"
        ))
    })?;
    if classes.is_empty() {
        return Err(invalid(
            "holds no image; expected at least one stem → class".into(),
        ));
    }
    Ok(classes)
}

/// The pooled accumulators of one class.
struct ClassPool {
    ranking: PooledRanking,
    aupro: AuproAccumulator,
    /// Image scores (map maximum) of the class's images and of every healthy image.
    image_scores: Vec<f32>,
    /// Whether each of `image_scores` belongs to an anomalous image.
    image_anomalous: Vec<bool>,
    /// Images of the class.
    n_images: usize,
    /// Healthy images pooled in (the class's own and every other class's).
    n_healthy: usize,
}

/// Per-class accumulators fed image by image during the scoring pass.
pub struct ClassPools<'a> {
    class_of: &'a ClassOfStem,
    pools: BTreeMap<&'a str, ClassPool>,
}

/// What one image brings to the per-class metrics.
pub struct ClassedImage<'a> {
    /// Its stem (looked up in the [`ClassOfStem`]).
    pub stem: &'a str,
    /// Its map, `[H · W]`.
    pub map: &'a [f32],
    /// Its mask, `[H · W]`, true = anomalous.
    pub mask: &'a [bool],
    /// Plane of `map` and `mask`.
    pub shape: MapShape,
    /// Its image score (map maximum).
    pub max_score: f32,
    /// The mask has an anomalous pixel.
    pub anomalous: bool,
}

impl<'a> ClassPools<'a> {
    /// One pool per class of `class_of`, each storing pixels as `mode` says.
    ///
    /// # Errors
    /// An invalid AUPRO limit (reported against `folder`).
    pub fn new(
        class_of: &'a ClassOfStem,
        mode: PoolingMode,
        fpr_limit: f64,
        folder: &Path,
    ) -> Result<Self> {
        let mut pools = BTreeMap::new();
        for class in class_of.values() {
            if pools.contains_key(class.as_str()) {
                continue;
            }
            let aupro =
                AuproAccumulator::new(mode, fpr_limit).map_err(|source| DtunetError::Metric {
                    path: folder.to_path_buf(),
                    source,
                })?;
            pools.insert(
                class.as_str(),
                ClassPool {
                    ranking: PooledRanking::new(mode),
                    aupro,
                    image_scores: Vec::new(),
                    image_anomalous: Vec::new(),
                    n_images: 0,
                    n_healthy: 0,
                },
            );
        }
        Ok(Self { class_of, pools })
    }

    /// Adds one image: an anomalous image to its class's pool, a healthy one to every pool.
    /// An image whose stem has no class counts only as a healthy reference.
    ///
    /// # Errors
    /// Map and mask of different lengths or a non-finite score.
    pub fn add(&mut self, image: &ClassedImage<'_>) -> std::result::Result<(), MetricsError> {
        let own = self.class_of.get(image.stem).map(String::as_str);
        if let Some(pool) = own.and_then(|class| self.pools.get_mut(class)) {
            pool.n_images += 1;
        }
        for (&class, pool) in &mut self.pools {
            if image.anomalous && Some(class) != own {
                continue;
            }
            pool.ranking.add(image.map, image.mask)?;
            pool.aupro.add(image.map, image.mask, image.shape)?;
            pool.image_scores.push(image.max_score);
            pool.image_anomalous.push(image.anomalous);
            if !image.anomalous {
                pool.n_healthy += 1;
            }
        }
        Ok(())
    }

    /// The pooled metrics of every class with an anomalous image, by class name.
    ///
    /// # Errors
    /// A non-finite image score.
    pub fn finish(self) -> std::result::Result<Vec<ClassPooled>, MetricsError> {
        let mut classes = Vec::new();
        for (class, mut pool) in self.pools {
            let n_anomalous_images = pool.image_anomalous.iter().filter(|&&a| a).count();
            if n_anomalous_images == 0 {
                continue;
            }
            let ranking = pool.ranking.summary();
            classes.push(ClassPooled {
                class: class.to_string(),
                n_images: pool.n_images,
                n_anomalous_images,
                n_healthy_reference: pool.n_healthy,
                auroc_pooled: ranking.map(|r| r.auroc),
                ap_pooled: ranking.map(|r| r.average_precision),
                aupro: pool.aupro.aupro(),
                image_auroc: auroc(&pool.image_scores, &pool.image_anomalous)?,
            });
        }
        Ok(classes)
    }
}

/// The threshold-free pooled metrics of one class: its images with every healthy image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassPooled {
    /// The class name (the MVTec defect folder).
    pub class: String,
    /// Images of the class.
    pub n_images: usize,
    /// Images of the class whose mask has an anomalous pixel.
    pub n_anomalous_images: usize,
    /// Healthy images of the whole set pooled with them.
    pub n_healthy_reference: usize,
    /// Pooled pixel AUROC over the class's and the healthy images.
    pub auroc_pooled: Option<f64>,
    /// Pooled average precision over the same pixels.
    pub ap_pooled: Option<f64>,
    /// AUPRO (FPR ≤ 0.3) over the same images.
    pub aupro: Option<f64>,
    /// Image AUROC (map maximum) of the class's images against the healthy ones.
    pub image_auroc: Option<f64>,
}

/// One class in `summary.json` (`per_class`, the fields of both parts side by side) and
/// `per_class.csv`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassSummary {
    /// The threshold-free metrics.
    #[serde(flatten)]
    pub pooled: ClassPooled,
    /// Per-image Dice over the class's anomalous images, at the set's threshold.
    pub dice_anomalous: Option<MeanStd>,
}

/// Joins the pooled metrics of each class with the Dice of its anomalous rows.
///
/// # Errors
/// A non-finite Dice (reported against `folder`).
pub fn class_summaries(
    pooled: Vec<ClassPooled>,
    rows: &[ImageRow],
    class_of: &ClassOfStem,
    folder: &Path,
) -> Result<Vec<ClassSummary>> {
    pooled
        .into_iter()
        .map(|class| {
            let dice: Vec<Option<f64>> = rows
                .iter()
                .filter(|row| class_of.get(&row.stem) == Some(&class.class))
                .map(|row| row.scores.anomalous.then_some(row.overlap.dice))
                .collect();
            let dice_anomalous = MeanStd::from_present(&dice)
                .map_err(|source| DtunetError::Metric {
                    path: folder.to_path_buf(),
                    source,
                })?
                .summary;
            Ok(ClassSummary {
                pooled: class,
                dice_anomalous,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dtunet_metrics::ranking_summary;

    fn stems(pairs: &[(&str, &str)]) -> ClassOfStem {
        pairs
            .iter()
            .map(|(stem, class)| (stem.to_string(), class.to_string()))
            .collect()
    }

    /// 2×2 images: (stem, map, mask).
    fn images() -> Vec<(&'static str, [f32; 4], [bool; 4])> {
        vec![
            ("good_0", [0.1, 0.2, 0.0, 0.3], [false; 4]),
            ("good_1", [0.2, 0.1, 0.4, 0.0], [false; 4]),
            ("crack_0", [0.9, 0.1, 0.2, 0.0], [true, false, false, false]),
            ("crack_1", [0.1, 0.8, 0.0, 0.2], [false, true, false, false]),
            (
                "stain_0",
                [0.15, 0.0, 0.1, 0.05],
                [true, true, false, false],
            ),
        ]
    }

    fn pooled(class_of: &ClassOfStem) -> Vec<ClassPooled> {
        let mut pools =
            ClassPools::new(class_of, PoolingMode::Exact, 0.3, Path::new("set")).expect("pools");
        let shape = MapShape::new(2, 2);
        for (stem, map, mask) in images() {
            pools
                .add(&ClassedImage {
                    stem,
                    map: &map,
                    mask: &mask,
                    shape,
                    max_score: map.iter().copied().fold(f32::MIN, f32::max),
                    anomalous: mask.iter().any(|&m| m),
                })
                .expect("adds");
        }
        pools.finish().expect("finishes")
    }

    #[test]
    fn each_class_pools_its_own_images_with_every_healthy_image() {
        let class_of = stems(&[
            ("good_0", "good"),
            ("good_1", "good"),
            ("crack_0", "crack"),
            ("crack_1", "crack"),
            ("stain_0", "stain"),
        ]);
        let classes = pooled(&class_of);
        let names: Vec<&str> = classes.iter().map(|c| c.class.as_str()).collect();
        assert_eq!(names, ["crack", "stain"], "good has no anomalous image");

        let pixels = |wanted: &[&str]| {
            let (mut scores, mut labels) = (Vec::new(), Vec::new());
            for (stem, map, mask) in images() {
                if wanted.contains(&stem) {
                    scores.extend(map);
                    labels.extend(mask);
                }
            }
            ranking_summary(&scores, &labels)
                .expect("valid")
                .expect("two classes")
        };
        let crack = pixels(&["good_0", "good_1", "crack_0", "crack_1"]);
        let stain = pixels(&["good_0", "good_1", "stain_0"]);
        assert_eq!(classes[0].auroc_pooled, Some(crack.auroc));
        assert_eq!(classes[1].auroc_pooled, Some(stain.auroc));
        assert_eq!(classes[1].ap_pooled, Some(stain.average_precision));
        assert!(
            crack.auroc > 0.9 && stain.auroc < 0.8,
            "the two classes differ"
        );
        assert_eq!((classes[0].n_images, classes[0].n_anomalous_images), (2, 2));
        assert_eq!(classes[0].n_healthy_reference, 2);
        // crack maxima 0.9 and 0.8 beat both healthy maxima (0.3, 0.4); stain's 0.15 beats none.
        assert_eq!(classes[0].image_auroc, Some(1.0));
        assert_eq!(classes[1].image_auroc, Some(0.0));
        assert!(classes[0].aupro.expect("regions") > classes[1].aupro.expect("regions"));
    }

    #[test]
    fn no_classes_give_no_breakdown() {
        assert!(pooled(&ClassOfStem::new()).is_empty());
    }
}

//! The built-in synthetic datasets (SPEC §7): brain-MRI-like phantoms with tumour-like lesions
//! and textured industrial surfaces with defects, with exact masks, written in the MVTec AD
//! layout with a dataset card.
//!
//! Everything derives from [`SynthConfig::seed`]: image `i` of a split draws from a ChaCha8
//! stream keyed by `(seed, split, i)`, so images can be generated in any order, in parallel,
//! and the same config always gives byte-identical files.
//!
//! ```
//! use dtunet::data::synth::{Generator, SynthConfig, SynthKind};
//! let config = SynthConfig { kind: SynthKind::Brain, n_train: 1, n_test: 2, height: 32,
//!     width: 48, ..SynthConfig::default() };
//! let generator = Generator::new(config).unwrap();
//! let plan = generator.plan();
//! let sample = generator.generate(&plan[2]);
//! assert_eq!((sample.height, sample.width, sample.channels), (32, 48, 1));
//! assert_eq!(sample.mask.iter().any(|&m| m == 255), sample.class.is_anomaly());
//! ```

mod brain;
mod canvas;
mod card;
mod config;
mod defects;
mod gradient;
mod lesions;
mod texture;
mod write;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::data::Split;
use crate::error::Result;
use brain::Brain;
use canvas::{Canvas, Frame};
use lesions::Tumour;
use texture::{Style, Surface};

pub use card::{ClassStats, DatasetCard, ImageRecord};
pub use config::{
    Class, Lesions, MAX_IMAGES_PER_SPLIT, MAX_SIDE_PX, MIN_SIDE_PX, Material, SynthConfig,
    SynthKind,
};
pub use write::write_dataset;

/// Standard deviation of the sensor noise added to texture images.
const TEXTURE_SENSOR_SIGMA: f64 = 0.008;

/// The split's key in per-image seeds (0 is the dataset's shared look).
fn seed_tag(split: Split) -> u64 {
    match split {
        Split::Train => 1,
        Split::Test => 2,
    }
}

impl Class {
    /// True for every class but `good`.
    pub fn is_anomaly(self) -> bool {
        self != Class::Good
    }
}

/// One image of the plan: where it goes and which seed it draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedImage {
    /// Train or test.
    pub split: Split,
    /// Its class (always `good` in train).
    pub class: Class,
    /// Position in the split (`0..n_train` or `0..n_test`): keys the image's seed.
    pub split_index: usize,
    /// Position in its class folder: the file number (`003.png`).
    pub class_index: usize,
}

/// A generated image with its mask.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthSample {
    /// The image's class.
    pub class: Class,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// 1 (gray) or 3 (RGB).
    pub channels: usize,
    /// `height · width · channels` bytes, row-major, channels interleaved.
    pub pixels: Vec<u8>,
    /// `height · width` bytes, 255 on the anomaly and 0 elsewhere (all 0 for `good`).
    pub mask: Vec<u8>,
    /// Mean absolute change the anomaly made inside its mask, in [0, 1] intensity units,
    /// before acquisition noise (0 for `good`): how visible it is.
    pub mean_abs_change: f64,
    /// A one-line description of the anomaly (`None` for `good`).
    pub detail: Option<String>,
}

impl SynthSample {
    /// Fraction of the image's pixels inside the mask.
    pub fn coverage(&self) -> f64 {
        self.mask.iter().filter(|&&m| m != 0).count() as f64 / self.mask.len() as f64
    }
}

/// Generates the images of one [`SynthConfig`].
#[derive(Debug, Clone)]
pub struct Generator {
    config: SynthConfig,
    frame: Frame,
    /// The texture look shared by every image (drawn from the run seed; unused for brain).
    style: Style,
}

impl Generator {
    /// A generator for `config`; fails if the config is invalid.
    pub fn new(config: SynthConfig) -> Result<Self> {
        config.validate()?;
        let frame = Frame::new(config.height, config.width);
        let mut style_rng = image_rng(config.seed, 0, 0);
        let style = Style::sample(config.material, &mut style_rng, frame);
        Ok(Self {
            config,
            frame,
            style,
        })
    }

    /// The config it generates.
    pub fn config(&self) -> &SynthConfig {
        &self.config
    }

    /// Every image of the dataset: the training images, then the test split's healthy images,
    /// then its anomalies with classes taken in turn.
    pub fn plan(&self) -> Vec<PlannedImage> {
        let config = &self.config;
        let n_good = config.n_test_good();
        let defects = config.kind.defect_classes();
        let mut per_class = vec![0usize; defects.len()];
        let mut plan: Vec<PlannedImage> = (0..config.n_train)
            .map(|i| PlannedImage {
                split: Split::Train,
                class: Class::Good,
                split_index: i,
                class_index: i,
            })
            .collect();
        for i in 0..config.n_test {
            let (class, class_index) = if i < n_good {
                (Class::Good, i)
            } else {
                let slot = (i - n_good) % defects.len();
                per_class[slot] += 1;
                (defects[slot], per_class[slot] - 1)
            };
            plan.push(PlannedImage {
                split: Split::Test,
                class,
                split_index: i,
                class_index,
            });
        }
        plan
    }

    /// Generates one planned image; the result depends only on the config and `item`.
    ///
    /// # Panics
    /// If `item.class` is not `good` or one of the config kind's defect classes.
    pub fn generate(&self, item: &PlannedImage) -> SynthSample {
        let mut rng = image_rng(
            self.config.seed,
            seed_tag(item.split),
            item.split_index as u64,
        );
        let frame = self.frame;
        let (image, mask, mean_abs_change, detail) = match self.config.kind {
            SynthKind::Brain => self.brain(item.class, &mut rng),
            SynthKind::Texture => self.texture(item.class, &mut rng),
        };
        SynthSample {
            class: item.class,
            height: frame.height,
            width: frame.width,
            channels: image.channels,
            pixels: image.to_bytes(),
            mask: mask.iter().map(|&m| if m { 255 } else { 0 }).collect(),
            mean_abs_change,
            detail,
        }
    }

    fn brain(
        &self,
        class: Class,
        rng: &mut ChaCha8Rng,
    ) -> (Canvas, Vec<bool>, f64, Option<String>) {
        let frame = self.frame;
        let brain = Brain::sample(rng);
        let slice = brain.render(frame);
        let mut image = slice.tissue.clone();
        let (mask, detail) = match class {
            Class::Good => (vec![false; frame.len()], None),
            Class::Tumor => {
                let tumour = Tumour::sample(rng, &slice, frame, self.config.lesions);
                (
                    tumour.paint(&mut image, &slice, frame),
                    Some(tumour.describe(frame)),
                )
            }
            other => panic!("{other} is not a brain class"),
        };
        let change = image.mean_abs_change(&slice.tissue, &mask);
        brain.acquire(&mut image, frame, rng);
        (image, mask, change, detail)
    }

    fn texture(
        &self,
        class: Class,
        rng: &mut ChaCha8Rng,
    ) -> (Canvas, Vec<bool>, f64, Option<String>) {
        let frame = self.frame;
        let clean = Surface::sample(&self.style, rng, frame).render(frame);
        let mut image = clean.clone();
        let (mask, detail) = match class {
            Class::Good => (vec![false; frame.len()], None),
            defect => {
                let painted = defects::paint(defect, &mut image, &self.style, frame, rng);
                (painted.mask, Some(painted.detail))
            }
        };
        let change = image.mean_abs_change(&clean, &mask);
        let sensor = Normal::new(0.0, TEXTURE_SENSOR_SIGMA).expect("a positive constant sigma");
        for value in &mut image.data {
            *value += sensor.sample(rng);
        }
        (image, mask, change, detail)
    }
}

/// The random stream of image `index` of split `tag` (0 = the dataset's shared look) under the
/// run `seed`: ChaCha8 keyed by all three, so every image has its own independent stream.
fn image_rng(seed: u64, tag: u64, index: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&tag.to_le_bytes());
    key[16..24].copy_from_slice(&index.to_le_bytes());
    key[24..].copy_from_slice(b"dtunet-s");
    ChaCha8Rng::from_seed(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(kind: SynthKind, height: usize, width: usize, seed: u64) -> SynthConfig {
        SynthConfig {
            kind,
            material: Material::Fabric,
            n_train: 3,
            n_test: 8,
            height,
            width,
            seed,
            healthy_fraction: 0.25,
            ..SynthConfig::default()
        }
    }

    fn all_samples(config: SynthConfig) -> Vec<SynthSample> {
        let generator = Generator::new(config).expect("valid");
        generator
            .plan()
            .iter()
            .map(|item| generator.generate(item))
            .collect()
    }

    #[test]
    fn plan_counts_and_numbers_classes() {
        let generator = Generator::new(config(SynthKind::Texture, 16, 16, 0)).expect("valid");
        let plan = generator.plan();
        assert_eq!(plan.len(), 11);
        let test: Vec<(Class, usize)> = plan
            .iter()
            .filter(|p| p.split == Split::Test)
            .map(|p| (p.class, p.class_index))
            .collect();
        assert_eq!(
            test,
            [
                (Class::Good, 0),
                (Class::Good, 1),
                (Class::Scratch, 0),
                (Class::Hole, 0),
                (Class::Stain, 0),
                (Class::Patch, 0),
                (Class::Scratch, 1),
                (Class::Hole, 1),
            ]
        );
    }

    #[test]
    fn same_seed_same_pixels_other_seed_other_pixels() {
        for kind in SynthKind::ALL {
            let first = all_samples(config(kind, 24, 40, 7));
            let again = all_samples(config(kind, 24, 40, 7));
            let other = all_samples(config(kind, 24, 40, 8));
            assert_eq!(first, again, "{kind}");
            for (a, b) in first.iter().zip(&other) {
                assert_ne!(a.pixels, b.pixels, "{kind}");
            }
            // Images within one dataset differ too.
            assert_ne!(first[0].pixels, first[1].pixels, "{kind}");
        }
    }

    #[test]
    fn masks_are_non_empty_exactly_for_anomalies() {
        for kind in SynthKind::ALL {
            for sample in all_samples(config(kind, 32, 48, 1)) {
                assert_eq!(sample.pixels.len(), 32 * 48 * kind.channels());
                assert_eq!(sample.mask.len(), 32 * 48);
                assert!(sample.mask.iter().all(|&m| m == 0 || m == 255));
                assert_eq!(sample.coverage() > 0.0, sample.class.is_anomaly(), "{kind}");
                assert_eq!(sample.detail.is_some(), sample.class.is_anomaly());
            }
        }
    }

    #[test]
    fn lesion_coverage_and_visibility_are_sane() {
        let config = SynthConfig {
            n_train: 0,
            n_test: 40,
            healthy_fraction: 0.0,
            height: 64,
            width: 64,
            ..SynthConfig::default()
        };
        let samples = all_samples(config);
        let coverages: Vec<f64> = samples.iter().map(SynthSample::coverage).collect();
        let (min, max) = coverages
            .iter()
            .fold((1.0f64, 0.0f64), |(lo, hi), &c| (lo.min(c), hi.max(c)));
        assert!(min > 0.0 && max < 0.2, "coverage {min}..{max}");
        let mean = coverages.iter().sum::<f64>() / coverages.len() as f64;
        assert!((0.003..0.06).contains(&mean), "mean coverage {mean}");
        let changes: Vec<f64> = samples.iter().map(|s| s.mean_abs_change).collect();
        assert!(
            changes.iter().any(|&c| c < 0.06),
            "no subtle lesion: {changes:?}"
        );
        assert!(
            changes.iter().any(|&c| c > 0.15),
            "no strong lesion: {changes:?}"
        );
    }

    #[test]
    fn clear_lesions_are_larger_and_stronger_than_mixed_ones() {
        let stats = |lesions: Lesions| {
            let samples = all_samples(SynthConfig {
                n_train: 0,
                n_test: 30,
                healthy_fraction: 0.0,
                height: 32,
                width: 32,
                lesions,
                ..SynthConfig::default()
            });
            let n = samples.len() as f64;
            let coverage = samples.iter().map(SynthSample::coverage).sum::<f64>() / n;
            let weakest = samples
                .iter()
                .map(|s| s.mean_abs_change)
                .fold(f64::INFINITY, f64::min);
            (coverage, weakest)
        };
        let (mixed_coverage, mixed_weakest) = stats(Lesions::Mixed);
        let (clear_coverage, clear_weakest) = stats(Lesions::Clear);
        assert!(
            clear_coverage > 2.0 * mixed_coverage,
            "coverage: clear {clear_coverage}, mixed {mixed_coverage}"
        );
        assert!(
            clear_weakest > 2.0 * mixed_weakest,
            "weakest change: clear {clear_weakest}, mixed {mixed_weakest}"
        );
    }

    #[test]
    fn brain_masks_lie_inside_the_head() {
        // The corners are background in every phantom; lesions never reach them.
        for sample in all_samples(config(SynthKind::Brain, 40, 32, 3)) {
            for corner in [0, 31, 39 * 32, 40 * 32 - 1] {
                assert_eq!(sample.mask[corner], 0);
                assert!(
                    sample.pixels[corner] < 40,
                    "corner {}",
                    sample.pixels[corner]
                );
            }
        }
    }
}

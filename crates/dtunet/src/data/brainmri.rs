//! The `brainmri` layout (Kaggle "Brain MRI"):
//!
//! ```text
//! <root>/no/      healthy images (class `no`), required, at least one
//! <root>/yes/     tumour images (class `yes`), required, at least one
//! <root>/masks/   optional
//! ```
//!
//! Masks accepted, first match wins: `<stem>_mask.<ext>` beside the image (in `no/` or `yes/`;
//! such files are masks, never images), then `masks/<stem>.<ext>` or `masks/<stem>_mask.<ext>`
//! (stems should then be unique across `no/` and `yes/`). A healthy image without a mask gets
//! an all-zero mask; a tumour image without one loads with `mask: None` and is reported.
//!
//! Split: the `no/` images, in name order, are shuffled by a ChaCha8 generator seeded with
//! [`BrainMriOptions::seed`]; the first `round(test_fraction · n)` are held out for testing,
//! the rest are the training set. Every `yes/` image is a test image. The same files, seed and
//! fraction give the same split on every machine.

use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::files::{MaskIndex, is_mask_name, require_images};
use super::image_set::{ImageEntry, ImageSet, MaskSource};
use super::layout::{Issue, IssueKind};
use super::transform::Transform;
use crate::error::{DtunetError, Result};

/// What the layout wants, for error messages.
const EXPECTED: &str = "the brainmri layout: no/ (healthy images), yes/ (tumour images), masks beside them \
                        as <stem>_mask.png or in masks/";

/// How the healthy images are split between training and testing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BrainMriOptions {
    /// Fraction of the `no/` images held out for testing, in `[0, 1)`.
    pub test_fraction: f64,
    /// Seed of the shuffle that picks them.
    pub seed: u64,
}

impl Default for BrainMriOptions {
    /// 20 % held out, seed 0.
    fn default() -> Self {
        Self {
            test_fraction: 0.2,
            seed: 0,
        }
    }
}

impl BrainMriOptions {
    /// Rejects a fraction outside `[0, 1)`.
    pub fn validate(&self) -> Result<()> {
        if (0.0..1.0).contains(&self.test_fraction) {
            Ok(())
        } else {
            Err(DtunetError::InvalidParameter {
                name: "--test-fraction",
                found: self.test_fraction.to_string(),
                expected: "a fraction in [0, 1) of the healthy images to hold out".into(),
            })
        }
    }
}

/// Indexes the `brainmri` layout under `root`.
pub fn open(root: &Path, options: &BrainMriOptions, transform: Transform) -> Result<ImageSet> {
    options.validate()?;
    let mut issues = Vec::new();
    let (no_folder, yes_folder) = (root.join("no"), root.join("yes"));
    let not_masks = |paths: Vec<PathBuf>| -> Vec<PathBuf> {
        paths.into_iter().filter(|p| !is_mask_name(p)).collect()
    };
    let healthy = not_masks(require_images(
        &no_folder,
        &format!("no/ in {EXPECTED}"),
        &mut issues,
    )?);
    let tumour = not_masks(require_images(
        &yes_folder,
        &format!("yes/ in {EXPECTED}"),
        &mut issues,
    )?);
    for (images, folder) in [(&healthy, &no_folder), (&tumour, &yes_folder)] {
        if images.is_empty() {
            return Err(DtunetError::Dataset {
                path: folder.clone(),
                found: "only masks, no images".into(),
                expected: format!("images in {EXPECTED}"),
            });
        }
    }

    let mut beside_no = MaskIndex::default();
    beside_no.add_folder(&no_folder, true, &mut issues)?;
    let mut beside_yes = MaskIndex::default();
    beside_yes.add_folder(&yes_folder, true, &mut issues)?;
    let mut shared = MaskIndex::default();
    if root.join("masks").is_dir() {
        shared.add_folder(&root.join("masks"), false, &mut issues)?;
    }
    let mut mask_of =
        |beside: &mut MaskIndex, image: &Path| beside.claim(image).or_else(|| shared.claim(image));

    let held_out = held_out_count(healthy.len(), options.test_fraction);
    if held_out == healthy.len() {
        return Err(DtunetError::InvalidParameter {
            name: "--test-fraction",
            found: options.test_fraction.to_string(),
            expected: format!(
                "a fraction that leaves training images: it holds out all {} images of {}",
                healthy.len(),
                no_folder.display()
            ),
        });
    }
    let mut order: Vec<usize> = (0..healthy.len()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(options.seed));
    let (test_order, train_order) = order.split_at_mut(held_out);
    train_order.sort_unstable();
    test_order.sort_unstable();

    let train = train_order
        .iter()
        .map(|&i| ImageEntry::new(root, &healthy[i], "no", Some(false), MaskSource::Unknown))
        .collect();
    let mut test = Vec::with_capacity(held_out + tumour.len());
    for &i in test_order.iter() {
        let mask = mask_of(&mut beside_no, &healthy[i]).map_or(MaskSource::Empty, MaskSource::File);
        test.push(ImageEntry::new(root, &healthy[i], "no", Some(false), mask));
    }
    let mut without_mask = Vec::new();
    for path in &tumour {
        let mask = match mask_of(&mut beside_yes, path) {
            Some(mask) => MaskSource::File(mask),
            None => {
                without_mask.push(path.clone());
                MaskSource::Unknown
            }
        };
        test.push(ImageEntry::new(root, path, "yes", Some(true), mask));
    }
    report_missing_masks(&yes_folder, tumour.len(), without_mask, &mut issues);
    beside_no.report_unpaired(&mut issues);
    beside_yes.report_unpaired(&mut issues);
    shared.report_unpaired(&mut issues);
    Ok(ImageSet::new(root, transform, train, test, issues))
}

/// `round(fraction · n)`.
fn held_out_count(n: usize, fraction: f64) -> usize {
    ((n as f64) * fraction).round() as usize
}

/// One issue when no tumour image has a mask (a classification-only copy of the data set),
/// else one per image without.
fn report_missing_masks(
    yes_folder: &Path,
    n_tumour: usize,
    without_mask: Vec<PathBuf>,
    issues: &mut Vec<Issue>,
) {
    if without_mask.len() == n_tumour {
        issues.push(Issue {
            kind: IssueKind::MissingMask,
            detail: format!(
                "none of the {n_tumour} tumour images has a mask (<stem>_mask.png beside it or in masks/): \
                 they load without masks"
            ),
            path: yes_folder.to_path_buf(),
        });
        return;
    }
    issues.extend(without_mask.into_iter().map(|path| Issue {
        kind: IssueKind::MissingMask,
        detail: "no <stem>_mask image beside it or in masks/".into(),
        path,
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::layout::{Dataset, Split};
    use crate::data::test_support::{
        Rect, assert_mask_on_bright_pixels, write_gray, write_gray16, write_pair, write_palette,
    };
    use crate::data::transform::{Channels, ImageSize};

    fn transform() -> Transform {
        Transform {
            size: ImageSize::new(32, 48),
            channels: Channels::Gray,
        }
    }

    const RECT: Rect = Rect {
        top: 8,
        left: 16,
        height: 16,
        width: 20,
    };

    /// 10 healthy (8-bit and 16-bit), 3 tumour: two masks beside, one in masks/ (palette PNG).
    fn sample_set(root: &Path) {
        for i in 0..5 {
            write_gray(&root.join(format!("no/n{i}.png")), 40, 56, |x, y| {
                (x + y) as u8
            });
            write_gray16(&root.join(format!("no/m{i}.png")), 40, 56, |x, _| {
                x as u16 * 1000
            });
        }
        for i in 0..2 {
            write_pair(
                &root.join(format!("yes/y{i}.png")),
                &root.join(format!("yes/y{i}_mask.png")),
                40,
                56,
                RECT,
            );
        }
        write_gray(&root.join("yes/y2.jpg"), 40, 56, |x, y| {
            if RECT.contains(x, y) { 255 } else { 0 }
        });
        write_palette(&root.join("masks/y2.png"), 40, 56, |x, y| {
            u8::from(RECT.contains(x, y))
        });
    }

    #[test]
    fn round_trips_with_a_deterministic_split() {
        let dir = tempfile::tempdir().expect("temp dir");
        sample_set(dir.path());
        let options = BrainMriOptions {
            test_fraction: 0.3,
            seed: 7,
        };
        let set = open(dir.path(), &options, transform()).expect("opens");
        assert_eq!((set.len(Split::Train), set.len(Split::Test)), (7, 3 + 3));
        let ids = |set: &ImageSet, split| -> Vec<String> {
            (0..set.len(split))
                .map(|i| set.info(split, i).expect("info").id.clone())
                .collect()
        };
        let again = open(dir.path(), &options, transform()).expect("opens again");
        assert_eq!(
            ids(&set, Split::Test),
            ids(&again, Split::Test),
            "same seed, same split"
        );
        let other = open(
            dir.path(),
            &BrainMriOptions { seed: 8, ..options },
            transform(),
        )
        .expect("opens");
        assert_ne!(
            ids(&set, Split::Test)[..3],
            ids(&other, Split::Test)[..3],
            "seed matters"
        );
        assert!(set.issues().is_empty(), "{:?}", set.issues());

        for i in 0..set.len(Split::Train) {
            let sample = set.get(Split::Train, i).expect("train");
            assert_eq!(sample.info.class, "no");
            assert_eq!(sample.image.len(), 32 * 48);
            assert!(sample.image.iter().all(|v| (-1.0..=1.0).contains(v)));
        }
        let held_out = set.get(Split::Test, 0).expect("held-out healthy");
        assert_eq!(
            (held_out.mask.clone(), held_out.is_anomalous()),
            (Some(vec![0; 32 * 48]), Some(false))
        );
        for i in 3..6 {
            let sample = set.get(Split::Test, i).expect("tumour");
            assert_eq!(sample.info.class, "yes");
            assert_mask_on_bright_pixels(&sample.image, sample.mask.as_deref().expect("mask"));
        }
    }

    #[test]
    fn sixteen_bit_images_span_the_range() {
        let dir = tempfile::tempdir().expect("temp dir");
        sample_set(dir.path());
        let options = BrainMriOptions {
            test_fraction: 0.0,
            seed: 0,
        };
        let set = open(dir.path(), &options, transform()).expect("opens");
        let sixteen = (0..set.len(Split::Train))
            .map(|i| set.get(Split::Train, i).expect("train"))
            .find(|s| s.original_color == "l16")
            .expect("a 16-bit sample");
        let max = sixteen.image.iter().copied().fold(f32::MIN, f32::max);
        assert!(
            (max - (2.0 * 55_000.0 / 65_535.0 - 1.0)).abs() < 0.05,
            "{max}"
        );
    }

    #[test]
    fn bad_fraction_and_missing_masks_are_reported() {
        let dir = tempfile::tempdir().expect("temp dir");
        write_gray(&dir.path().join("no/a.png"), 4, 4, |_, _| 0);
        write_gray(&dir.path().join("yes/b.png"), 4, 4, |_, _| 0);
        for fraction in [1.0, -0.1, f64::NAN] {
            let options = BrainMriOptions {
                test_fraction: fraction,
                seed: 0,
            };
            let error = open(dir.path(), &options, transform()).expect_err("bad fraction");
            assert!(error.to_string().contains("--test-fraction"), "{error}");
        }
        let message = open(
            dir.path(),
            &BrainMriOptions {
                test_fraction: 0.6,
                seed: 0,
            },
            transform(),
        )
        .expect_err("nothing left to train")
        .to_string();
        assert!(message.contains("holds out all 1 images"), "{message}");

        let set = open(dir.path(), &BrainMriOptions::default(), transform()).expect("opens");
        assert_eq!(set.issues().len(), 1);
        assert!(
            set.issues()[0]
                .detail
                .contains("none of the 1 tumour images has a mask")
        );

        std::fs::remove_file(dir.path().join("yes/b.png")).expect("rm");
        let message = open(dir.path(), &BrainMriOptions::default(), transform())
            .expect_err("no tumour images")
            .to_string();
        assert!(message.contains("yes: no images"), "{message}");
    }
}

//! The `mvtec` layout (MVTec AD), any category:
//!
//! ```text
//! <root>/<category>/train/good/                         healthy images (class `good`)
//! <root>/<category>/test/<defect>/                      test images, class = folder name
//! <root>/<category>/ground_truth/<defect>/<stem>_mask.png  masks (<stem>.png also accepted)
//! ```
//!
//! The category is chosen with `--category C`; when `<root>` itself holds `train/`, it is the
//! category folder and no category is needed. Test images in `test/good` are healthy and get
//! all-zero masks; every other test folder is a defect, whose images take their mask from
//! `ground_truth/<defect>/` (a missing one is reported and the image loads without a mask).

use std::path::{Path, PathBuf};

use super::files::{MaskIndex, image_files, list, require_folder, require_images, stem};
use super::image_set::{ImageEntry, ImageSet, MaskSource};
use super::layout::{Issue, IssueKind};
use super::transform::Transform;
use crate::error::{DtunetError, Result};

/// The test folder of healthy images.
const GOOD: &str = "good";

/// What the layout wants, for error messages.
const EXPECTED: &str = "the mvtec layout: <category>/train/good/, <category>/test/<defect>/, \
                        <category>/ground_truth/<defect>/<stem>_mask.png";

/// Indexes the MVTec category `category` under `root` (or `root` itself when it holds `train/`).
pub fn open(root: &Path, category: Option<&str>, transform: Transform) -> Result<ImageSet> {
    let folder = category_folder(root, category)?;
    let mut issues = Vec::new();
    let train_images = require_images(
        &folder.join("train").join(GOOD),
        &format!("train/good/ with healthy images in {EXPECTED}"),
        &mut issues,
    )?;
    let train = train_images
        .iter()
        .map(|path| ImageEntry::new(&folder, path, GOOD, Some(false), MaskSource::Unknown))
        .collect();

    let test_folder = folder.join("test");
    let expected_test = format!("test/<defect>/ folders with images in {EXPECTED}");
    require_folder(&test_folder, &expected_test)?;
    let listing = list(&test_folder)?;
    for path in listing.files {
        issues.push(Issue {
            kind: IssueKind::Skipped,
            detail: "a file directly in test/ (images belong in test/<defect>/)".into(),
            path,
        });
    }
    let ground_truth = folder.join("ground_truth");
    let mut test = Vec::new();
    let mut defects = Vec::new();
    for defect_folder in &listing.folders {
        let defect = stem(defect_folder);
        let images = image_files(defect_folder, &mut issues)?;
        if defect == GOOD {
            test.extend(
                images.iter().map(|path| {
                    ImageEntry::new(&folder, path, GOOD, Some(false), MaskSource::Empty)
                }),
            );
        } else {
            test.extend(defect_entries(
                &folder,
                &ground_truth.join(&defect),
                &defect,
                &images,
                &mut issues,
            )?);
        }
        defects.push(defect);
    }
    if test.is_empty() {
        return Err(DtunetError::Dataset {
            path: test_folder,
            found: "no test images".into(),
            expected: expected_test,
        });
    }
    report_orphan_mask_folders(&ground_truth, &defects, &mut issues)?;
    Ok(ImageSet::new(&folder, transform, train, test, issues))
}

/// The category folder: `root` when it holds `train/`, else `root/category`.
fn category_folder(root: &Path, category: Option<&str>) -> Result<PathBuf> {
    if root.join("train").is_dir() {
        return Ok(root.to_path_buf());
    }
    let available: Vec<String> = list(root)?
        .folders
        .iter()
        .filter(|folder| folder.join("train").is_dir())
        .map(|folder| stem(folder))
        .collect();
    let choices = if available.is_empty() {
        format!("no category folder here; expected {EXPECTED}")
    } else {
        format!("one of: {}", available.join(", "))
    };
    match category {
        Some(category) if root.join(category).join("train").is_dir() => Ok(root.join(category)),
        Some(category) => Err(DtunetError::Dataset {
            path: root.join(category),
            found: "no such MVTec category (no train/ folder)".into(),
            expected: format!("--category {choices}"),
        }),
        None => Err(DtunetError::Dataset {
            path: root.to_path_buf(),
            found: "no train/ folder and no --category given".into(),
            expected: format!("--category {choices}"),
        }),
    }
}

/// Entries of one defect folder's images, with their masks from `mask_folder`.
fn defect_entries(
    folder: &Path,
    mask_folder: &Path,
    defect: &str,
    images: &[PathBuf],
    issues: &mut Vec<Issue>,
) -> Result<Vec<ImageEntry>> {
    let mut masks = MaskIndex::default();
    let have_masks = mask_folder.is_dir();
    if have_masks {
        masks.add_folder(mask_folder, false, issues)?;
    } else if !images.is_empty() {
        issues.push(Issue {
            kind: IssueKind::MissingMask,
            detail: format!(
                "no mask folder: the {} {defect} images load without masks",
                images.len()
            ),
            path: mask_folder.to_path_buf(),
        });
    }
    let mut entries = Vec::with_capacity(images.len());
    for path in images {
        let mask = match masks.claim(path) {
            Some(mask) => MaskSource::File(mask),
            None => {
                if have_masks {
                    issues.push(Issue {
                        kind: IssueKind::MissingMask,
                        detail: format!("no {}_mask.png in {}", stem(path), mask_folder.display()),
                        path: path.clone(),
                    });
                }
                MaskSource::Unknown
            }
        };
        entries.push(ImageEntry::new(folder, path, defect, Some(true), mask));
    }
    masks.report_unpaired(issues);
    Ok(entries)
}

/// Reports the masks of `ground_truth/<name>` folders that have no `test/<name>`.
fn report_orphan_mask_folders(
    ground_truth: &Path,
    defects: &[String],
    issues: &mut Vec<Issue>,
) -> Result<()> {
    if !ground_truth.is_dir() {
        return Ok(());
    }
    for mask_folder in list(ground_truth)?.folders {
        if !defects.contains(&stem(&mask_folder)) {
            let mut masks = MaskIndex::default();
            masks.add_folder(&mask_folder, false, issues)?;
            masks.report_unpaired(issues);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::layout::{Dataset, Split};
    use crate::data::test_support::{
        Rect, assert_mask_on_bright_pixels, write_gray, write_pair, write_rgb,
    };
    use crate::data::transform::{Channels, ImageSize};

    fn transform(channels: Channels) -> Transform {
        Transform {
            size: ImageSize::new(48, 32),
            channels,
        }
    }

    /// `<root>/bottle`: 2 train, 2 test/good (RGB), 2 test/crack with masks, 1 orphan mask.
    fn sample_category(root: &Path) -> PathBuf {
        let bottle = root.join("bottle");
        for name in [
            "train/good/000.png",
            "train/good/001.png",
            "test/good/000.png",
            "test/good/001.png",
        ] {
            write_rgb(&bottle.join(name), 56, 40, |x, y| [x as u8, y as u8, 7]);
        }
        let rect = Rect {
            top: 20,
            left: 4,
            height: 12,
            width: 30,
        };
        for i in 0..2 {
            write_pair(
                &bottle.join(format!("test/crack/00{i}.png")),
                &bottle.join(format!("ground_truth/crack/00{i}_mask.png")),
                56,
                40,
                rect,
            );
        }
        write_gray(
            &bottle.join("ground_truth/crack/009_mask.png"),
            56,
            40,
            |_, _| 0,
        );
        bottle
    }

    #[test]
    fn round_trips_a_category_by_name_or_directly() {
        let dir = tempfile::tempdir().expect("temp dir");
        let bottle = sample_category(dir.path());
        write_gray(&dir.path().join("cable/train/good/0.png"), 4, 4, |_, _| 0);
        for set in [
            open(dir.path(), Some("bottle"), transform(Channels::Rgb)).expect("by name"),
            open(&bottle, None, transform(Channels::Rgb)).expect("directly"),
        ] {
            assert_eq!((set.len(Split::Train), set.len(Split::Test)), (2, 4));
            assert_eq!(set.root(), bottle.as_path());
            let classes: Vec<_> = (0..4)
                .map(|i| set.info(Split::Test, i).expect("info").class.clone())
                .collect();
            assert_eq!(classes, ["crack", "crack", "good", "good"]);
            let good = set.get(Split::Test, 2).expect("good");
            assert_eq!(good.image.len(), 3 * 48 * 32);
            assert_eq!(
                good.mask,
                Some(vec![0; 48 * 32]),
                "good test images get empty masks"
            );
            assert_eq!(good.original_color, "rgb8");
            let crack = set.get(Split::Test, 0).expect("crack");
            assert_eq!(crack.is_anomalous(), Some(true));
            let plane = &crack.image[..48 * 32];
            assert_mask_on_bright_pixels(plane, crack.mask.as_deref().expect("mask"));
            let unpaired: Vec<_> = set
                .issues()
                .iter()
                .filter(|i| i.kind == IssueKind::UnpairedMask)
                .collect();
            assert_eq!(unpaired.len(), 1);
            assert!(unpaired[0].path.ends_with("009_mask.png"));
        }
    }

    #[test]
    fn unknown_or_missing_category_lists_the_available_ones() {
        let dir = tempfile::tempdir().expect("temp dir");
        sample_category(dir.path());
        write_gray(&dir.path().join("cable/train/good/0.png"), 4, 4, |_, _| 0);
        let message = open(dir.path(), Some("carpet"), transform(Channels::Gray))
            .expect_err("no carpet")
            .to_string();
        assert!(
            message.contains("carpet: no such MVTec category"),
            "{message}"
        );
        assert!(message.contains("one of: bottle, cable"), "{message}");
        let message = open(dir.path(), None, transform(Channels::Gray))
            .expect_err("no category")
            .to_string();
        assert!(message.contains("no --category given"), "{message}");
    }

    #[test]
    fn partial_category_says_what_is_missing() {
        let dir = tempfile::tempdir().expect("temp dir");
        write_gray(&dir.path().join("train/good/0.png"), 4, 4, |_, _| 0);
        let message = open(dir.path(), None, transform(Channels::Gray))
            .expect_err("no test/")
            .to_string();
        assert!(
            message.contains("test: no such folder; expected test/<defect>/"),
            "{message}"
        );
        std::fs::create_dir_all(dir.path().join("test/crack")).expect("mkdir");
        let message = open(dir.path(), None, transform(Channels::Gray))
            .expect_err("empty test/")
            .to_string();
        assert!(message.contains("test: no test images"), "{message}");

        write_gray(&dir.path().join("test/crack/0.png"), 4, 4, |_, _| 0);
        let set = open(dir.path(), None, transform(Channels::Gray)).expect("opens without masks");
        assert_eq!(set.issues()[0].kind, IssueKind::MissingMask);
        assert_eq!(set.get(Split::Test, 0).expect("loads").mask, None);
    }
}

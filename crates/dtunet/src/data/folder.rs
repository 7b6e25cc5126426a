//! The `folder` layout: plain folders of images.
//!
//! ```text
//! <root>/train/   healthy images (class `healthy`), required, at least one
//! <root>/test/    test images (class `test`), required, at least one
//! <root>/masks/   optional; the mask of test/x.<ext> is masks/x.<ext'> or masks/x_mask.<ext'>
//! ```
//!
//! Whether a test image is anomalous is read from its mask (any non-zero pixel). A test image
//! without a mask loads with `mask: None` and is reported as a missing mask; a mask without a
//! test image is reported as unpaired.

use std::path::Path;

use super::files::{MaskIndex, require_images};
use super::image_set::{ImageEntry, ImageSet, MaskSource};
use super::layout::{Issue, IssueKind};
use super::transform::Transform;
use crate::error::Result;

/// What the layout wants, for error messages.
const EXPECTED: &str =
    "the folder layout: train/ (healthy images), test/ (test images), optional masks/";

/// Indexes the `folder` layout under `root`.
pub fn open(root: &Path, transform: Transform) -> Result<ImageSet> {
    let mut issues = Vec::new();
    let train_images = require_images(
        &root.join("train"),
        &format!("train/ in {EXPECTED}"),
        &mut issues,
    )?;
    let test_images = require_images(
        &root.join("test"),
        &format!("test/ in {EXPECTED}"),
        &mut issues,
    )?;

    let masks_folder = root.join("masks");
    let mut masks = MaskIndex::default();
    let have_masks = masks_folder.is_dir();
    if have_masks {
        masks.add_folder(&masks_folder, false, &mut issues)?;
    } else {
        issues.push(Issue {
            kind: IssueKind::MissingMask,
            detail: "no masks/ folder: test images load without masks".into(),
            path: masks_folder,
        });
    }

    let train = train_images
        .iter()
        .map(|path| ImageEntry::new(root, path, "healthy", Some(false), MaskSource::Unknown))
        .collect();
    let mut test = Vec::with_capacity(test_images.len());
    for path in &test_images {
        let mask = match masks.claim(path) {
            Some(mask) => MaskSource::File(mask),
            None => {
                if have_masks {
                    issues.push(Issue {
                        kind: IssueKind::MissingMask,
                        detail: "no mask of the same stem in masks/".into(),
                        path: path.clone(),
                    });
                }
                MaskSource::Unknown
            }
        };
        test.push(ImageEntry::new(root, path, "test", None, mask));
    }
    masks.report_unpaired(&mut issues);
    Ok(ImageSet::new(root, transform, train, test, issues))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::layout::{Dataset, Split};
    use crate::data::test_support::{Rect, assert_mask_on_bright_pixels, write_gray, write_pair};
    use crate::data::transform::{Channels, ImageSize};

    const SQUARE: Rect = Rect {
        top: 14,
        left: 10,
        height: 28,
        width: 20,
    };

    fn transform() -> Transform {
        Transform {
            size: ImageSize::new(48, 32),
            channels: Channels::Gray,
        }
    }

    /// train: 3 healthy; test: `a` with mask `a.png`, `b` with `b_mask.png`, `c` without.
    fn sample_set(root: &Path) {
        for i in 0..3 {
            write_gray(&root.join(format!("train/{i}.png")), 56, 40, |x, _| x as u8);
        }
        write_pair(
            &root.join("test/a.png"),
            &root.join("masks/a.png"),
            56,
            40,
            SQUARE,
        );
        write_pair(
            &root.join("test/b.png"),
            &root.join("masks/b_mask.png"),
            56,
            40,
            SQUARE,
        );
        write_gray(&root.join("test/c.png"), 56, 40, |_, _| 0);
    }

    #[test]
    fn round_trips_counts_shapes_and_aligned_masks() {
        let dir = tempfile::tempdir().expect("temp dir");
        sample_set(dir.path());
        std::fs::write(dir.path().join("test/.hidden.png"), b"x").expect("write");
        std::fs::write(dir.path().join("masks/orphan_mask.png"), b"x").expect("write");
        let set = open(dir.path(), transform()).expect("opens");
        assert_eq!((set.len(Split::Train), set.len(Split::Test)), (3, 3));

        let train = set.get(Split::Train, 1).expect("train sample");
        assert_eq!(
            (train.image.len(), train.mask.clone(), train.is_anomalous()),
            (48 * 32, None, Some(false))
        );
        assert!(train.image.iter().all(|v| (-1.0..=1.0).contains(v)));
        assert_eq!(train.original_size, ImageSize::new(56, 40));

        for index in 0..2 {
            let sample = set.get(Split::Test, index).expect("test sample");
            let mask = sample.mask.as_deref().expect("paired mask");
            assert_eq!(mask.len(), 48 * 32);
            assert_mask_on_bright_pixels(&sample.image, mask);
            assert_eq!(sample.is_anomalous(), Some(true));
        }
        let unmasked = set.get(Split::Test, 2).expect("c");
        assert_eq!(
            (unmasked.mask.clone(), unmasked.is_anomalous()),
            (None, None)
        );

        let kinds: Vec<_> = set.issues().iter().map(|i| i.kind).collect();
        assert_eq!(
            kinds,
            [IssueKind::MissingMask, IssueKind::UnpairedMask],
            "{:?}",
            set.issues()
        );
        assert!(set.get(Split::Test, 3).is_err(), "past the end");
    }

    #[test]
    fn missing_or_empty_folders_say_what_and_where() {
        let dir = tempfile::tempdir().expect("temp dir");
        let error = open(dir.path(), transform()).expect_err("no train/");
        let message = error.to_string();
        assert!(
            message.contains("train: no such folder; expected train/ in the folder layout"),
            "{message}"
        );
        assert!(error.is_usage_error());

        std::fs::create_dir(dir.path().join("train")).expect("mkdir");
        std::fs::write(dir.path().join("train/readme.txt"), b"x").expect("write");
        let message = open(dir.path(), transform())
            .expect_err("empty")
            .to_string();
        assert!(
            message.contains("train: no images (.png, .jpg, .jpeg)"),
            "{message}"
        );

        write_gray(&dir.path().join("train/0.png"), 4, 4, |_, _| 0);
        let message = open(dir.path(), transform())
            .expect_err("no test/")
            .to_string();
        assert!(message.contains("test: no such folder"), "{message}");
    }

    #[test]
    fn mask_of_another_size_names_both_sizes_and_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        write_gray(&dir.path().join("train/0.png"), 8, 8, |_, _| 0);
        write_gray(&dir.path().join("test/x.png"), 56, 40, |_, _| 0);
        write_gray(&dir.path().join("masks/x.png"), 40, 56, |_, _| 0);
        let set = open(dir.path(), transform()).expect("opens");
        let message = set.get(Split::Test, 0).expect_err("mismatch").to_string();
        assert!(
            message.contains("mask 40x56 does not match image 56x40"),
            "{message}"
        );
        assert!(message.contains("masks/x.png"), "{message}");
    }

    #[test]
    fn truncated_image_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        write_gray(&dir.path().join("train/0.png"), 8, 8, |_, _| 0);
        write_gray(&dir.path().join("test/x.png"), 8, 8, |_, _| 0);
        let bytes = std::fs::read(dir.path().join("train/0.png")).expect("read");
        std::fs::write(dir.path().join("train/1.png"), &bytes[..bytes.len() / 2]).expect("write");
        let set = open(dir.path(), transform()).expect("opens");
        let message = set.get(Split::Train, 1).expect_err("truncated").to_string();
        assert!(
            message.contains("cannot read image") && message.contains("1.png"),
            "{message}"
        );
    }
}

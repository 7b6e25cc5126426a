//! Folder listing, image decoding and mask pairing shared by the image layouts.
//!
//! Listings are sorted by file name, so indices are the same on every machine. Dot-files are
//! skipped silently; other files that are not images (by extension: `.png`, `.jpg`, `.jpeg`, any
//! case) and sub-folders where images were expected are skipped and reported as
//! [`IssueKind::Skipped`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageFormat, ImageReader};

use super::layout::{Issue, IssueKind};
use crate::error::{DtunetError, Result};

/// Extensions of the image files the loaders read (PNG: 8/16-bit, gray/RGB/palette, with or
/// without alpha; JPEG).
pub(crate) const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// The suffix that marks a mask's stem (`003_mask.png` is the mask of `003`).
const MASK_SUFFIX: &str = "_mask";

/// Files and folders directly inside a folder, sorted, dot-files left out.
pub(crate) struct Listing {
    /// Plain files.
    pub files: Vec<PathBuf>,
    /// Sub-folders.
    pub folders: Vec<PathBuf>,
}

/// Lists `folder`.
pub(crate) fn list(folder: &Path) -> Result<Listing> {
    let io_error = |source| DtunetError::Io {
        action: "list folder",
        path: folder.to_path_buf(),
        source,
    };
    let mut listing = Listing {
        files: Vec::new(),
        folders: Vec::new(),
    };
    for entry in std::fs::read_dir(folder).map_err(io_error)? {
        let path = entry.map_err(io_error)?.path();
        if path
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with('.'))
        {
            continue;
        }
        if path.is_dir() {
            listing.folders.push(path);
        } else {
            listing.files.push(path);
        }
    }
    listing.files.sort();
    listing.folders.sort();
    Ok(listing)
}

/// The image files directly inside `folder`; other files and sub-folders are reported in
/// `issues`.
pub(crate) fn image_files(folder: &Path, issues: &mut Vec<Issue>) -> Result<Vec<PathBuf>> {
    let listing = list(folder)?;
    for path in listing.folders {
        issues.push(Issue {
            kind: IssueKind::Skipped,
            detail: "a sub-folder where only image files are read".into(),
            path,
        });
    }
    let (images, others): (Vec<_>, Vec<_>) = listing.files.into_iter().partition(|p| is_image(p));
    for path in others {
        issues.push(Issue {
            kind: IssueKind::Skipped,
            detail: format!("not an image (expected .{})", IMAGE_EXTENSIONS.join(", .")),
            path,
        });
    }
    Ok(images)
}

/// The image files of `folder`, which the layout requires to exist and hold at least one;
/// otherwise a [`DtunetError::Dataset`] saying what is missing, where, and `expected` (what
/// the layout wants there).
pub(crate) fn require_images(
    folder: &Path,
    expected: &str,
    issues: &mut Vec<Issue>,
) -> Result<Vec<PathBuf>> {
    require_folder(folder, expected)?;
    let images = image_files(folder, issues)?;
    if images.is_empty() {
        return Err(DtunetError::Dataset {
            path: folder.to_path_buf(),
            found: format!("no images (.{})", IMAGE_EXTENSIONS.join(", .")),
            expected: expected.to_string(),
        });
    }
    Ok(images)
}

/// Fails unless `folder` is a folder, saying `expected` (what the layout wants there).
pub(crate) fn require_folder(folder: &Path, expected: &str) -> Result<()> {
    if folder.is_dir() {
        return Ok(());
    }
    Err(DtunetError::Dataset {
        path: folder.to_path_buf(),
        found: if folder.exists() {
            "not a folder"
        } else {
            "no such folder"
        }
        .into(),
        expected: expected.to_string(),
    })
}

/// Whether `path` has an image extension.
pub(crate) fn is_image(path: &Path) -> bool {
    path.extension().is_some_and(|extension| {
        let extension = extension.to_string_lossy().to_ascii_lowercase();
        IMAGE_EXTENSIONS.contains(&extension.as_str())
    })
}

/// The file name without its extension.
pub(crate) fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Whether `path`'s stem ends in `_mask`.
pub(crate) fn is_mask_name(path: &Path) -> bool {
    stem(path).ends_with(MASK_SUFFIX)
}

/// `path` relative to `root`, with `/` separators, for sample identifiers.
pub(crate) fn relative_id(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Decodes an image file (format from its content, not its name). Also returns the format,
/// so that masks stored as JPEG can be thresholded for compression noise.
pub(crate) fn read_image(path: &Path) -> Result<(DynamicImage, Option<ImageFormat>)> {
    let read_error = |source| DtunetError::ImageRead {
        path: path.to_path_buf(),
        source,
    };
    let reader = ImageReader::open(path)
        .and_then(ImageReader::with_guessed_format)
        .map_err(|source| DtunetError::Io {
            action: "open image",
            path: path.to_path_buf(),
            source,
        })?;
    let format = reader.format();
    let image = reader.decode().map_err(read_error)?;
    Ok((image, format))
}

/// Mask files keyed by the stem of the image they belong to (`x.png` and `x_mask.png` are both
/// the mask of `x`); remembers which were claimed, to report the unpaired rest.
#[derive(Default)]
pub(crate) struct MaskIndex {
    by_stem: BTreeMap<String, PathBuf>,
    claimed: BTreeSet<String>,
}

impl MaskIndex {
    /// Adds the image files of `folder` as masks; with `only_marked`, only files whose stem
    /// ends in `_mask` (for masks that sit beside their images). A second mask for a stem is
    /// reported as [`IssueKind::DuplicateMask`] and not used.
    pub(crate) fn add_folder(
        &mut self,
        folder: &Path,
        only_marked: bool,
        issues: &mut Vec<Issue>,
    ) -> Result<()> {
        for path in image_files(folder, issues)? {
            if only_marked && !is_mask_name(&path) {
                continue;
            }
            let name = stem(&path);
            let key = name.strip_suffix(MASK_SUFFIX).unwrap_or(&name).to_string();
            if let Some(first) = self.by_stem.get(&key) {
                issues.push(Issue {
                    kind: IssueKind::DuplicateMask,
                    detail: format!("a second mask for stem {key:?}; using {}", first.display()),
                    path,
                });
            } else {
                self.by_stem.insert(key, path);
            }
        }
        Ok(())
    }

    /// The mask of the image `image`, if any; marks it as claimed.
    pub(crate) fn claim(&mut self, image: &Path) -> Option<PathBuf> {
        let key = stem(image);
        let found = self.by_stem.get(&key).cloned();
        if found.is_some() {
            self.claimed.insert(key);
        }
        found
    }

    /// Reports every mask no image claimed as [`IssueKind::UnpairedMask`].
    pub(crate) fn report_unpaired(self, issues: &mut Vec<Issue>) {
        for (key, path) in self.by_stem {
            if !self.claimed.contains(&key) {
                issues.push(Issue {
                    kind: IssueKind::UnpairedMask,
                    detail: format!("no image with stem {key:?}"),
                    path,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_skips_dot_files_and_reports_others() {
        let dir = tempfile::tempdir().expect("temp dir");
        for name in ["b.PNG", "a.jpg", ".DS_Store", "notes.txt"] {
            std::fs::write(dir.path().join(name), b"x").expect("write");
        }
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        let mut issues = Vec::new();
        let images = image_files(dir.path(), &mut issues).expect("listed");
        let names: Vec<_> = images.iter().map(|p| stem(p)).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(issues.len(), 2, "{issues:?}");
        assert!(issues.iter().all(|i| i.kind == IssueKind::Skipped));
    }

    #[test]
    fn masks_pair_by_stem_with_or_without_suffix() {
        let dir = tempfile::tempdir().expect("temp dir");
        for name in ["x.png", "y_mask.png", "y.png", "z_mask.png"] {
            std::fs::write(dir.path().join(name), b"x").expect("write");
        }
        let (mut index, mut issues) = (MaskIndex::default(), Vec::new());
        index
            .add_folder(dir.path(), false, &mut issues)
            .expect("listed");
        assert_eq!(issues.len(), 1, "y twice: {issues:?}");
        assert_eq!(issues[0].kind, IssueKind::DuplicateMask);
        assert!(index.claim(Path::new("/t/x.jpg")).is_some());
        assert_eq!(
            index.claim(Path::new("/t/y.png")),
            Some(dir.path().join("y.png"))
        );
        assert!(index.claim(Path::new("/t/w.png")).is_none());
        index.report_unpaired(&mut issues);
        assert_eq!(
            issues.last().map(|i| i.path.clone()),
            Some(dir.path().join("z_mask.png"))
        );
    }

    #[test]
    fn palette_and_sixteen_bit_pngs_and_jpegs_decode() {
        use crate::data::test_support::{write_gray, write_gray16, write_palette};
        let dir = tempfile::tempdir().expect("temp dir");
        write_palette(&dir.path().join("p.png"), 3, 5, |x, _| (x % 3) as u8);
        write_gray16(&dir.path().join("d.png"), 3, 5, |x, _| x as u16 * 300);
        write_gray(&dir.path().join("j.jpg"), 3, 5, |_, _| 200);
        let (palette, _) = read_image(&dir.path().join("p.png")).expect("palette");
        assert_eq!((palette.width(), palette.height()), (5, 3));
        assert_eq!(
            palette.to_rgb8().get_pixel(2, 0).0,
            [255, 0, 0],
            "palette expanded"
        );
        let (deep, _) = read_image(&dir.path().join("d.png")).expect("16-bit");
        assert_eq!(deep.color(), image::ColorType::L16);
        let (_, format) = read_image(&dir.path().join("j.jpg")).expect("jpeg");
        assert_eq!(format, Some(ImageFormat::Jpeg));
    }

    #[test]
    fn unreadable_image_names_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("broken.png");
        std::fs::write(&path, b"\x89PNG\r\n\x1a\ntruncated").expect("write");
        let error = read_image(&path).expect_err("truncated");
        assert!(error.to_string().contains("broken.png"), "{error}");
    }
}

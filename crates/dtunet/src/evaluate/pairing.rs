//! Pairing by stem: each image `x.png` in the images folder meets its reconstruction `x.png`
//! (or `x.jpg`, `x.jpeg`) or its anomaly map `x.npy`, and its mask `x_mask.png` (or, when
//! the masks live in another folder, `x.png`).
//!
//! When the images and the masks share a folder, files ending in `_mask` are masks, not images.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{DtunetError, Result};

/// Extensions read as images (case-insensitive).
pub const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// Extension of anomaly-map files.
pub const MAP_EXTENSION: &str = "npy";

/// Suffix of a mask's stem: `x_mask.png` is the mask of `x.png`.
pub const MASK_SUFFIX: &str = "_mask";

/// Where each image's anomaly map comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapSource {
    /// A folder of reconstructions (images, paired by stem); the map is the reconstruction
    /// error.
    Reconstructions(PathBuf),
    /// A folder of float anomaly maps (`.npy`, shape `[H, W]` or `[1, H, W]`), paired by stem.
    Maps(PathBuf),
}

impl MapSource {
    /// The folder.
    pub fn folder(&self) -> &Path {
        match self {
            Self::Reconstructions(folder) | Self::Maps(folder) => folder,
        }
    }

    /// The command-line option naming the folder.
    pub fn flag(&self) -> &'static str {
        match self {
            Self::Reconstructions(_) => "--recon",
            Self::Maps(_) => "--maps",
        }
    }

    /// What one partner file is, for messages.
    pub fn partner_name(&self) -> &'static str {
        match self {
            Self::Reconstructions(_) => "reconstruction",
            Self::Maps(_) => "anomaly map",
        }
    }
}

/// The files of one test image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// The shared file stem, e.g. `003` for `003.png`.
    pub stem: String,
    /// The input image.
    pub image: PathBuf,
    /// Its reconstruction or anomaly map, as the [`MapSource`] says.
    pub partner: PathBuf,
    /// Its ground-truth mask; `None` only when missing masks are allowed (all-normal).
    pub mask: Option<PathBuf>,
}

/// The folders to pair.
#[derive(Debug, Clone)]
pub struct PairingInputs<'a> {
    /// Folder of input images.
    pub images: &'a Path,
    /// Reconstructions or maps.
    pub source: &'a MapSource,
    /// Folder of masks.
    pub masks: &'a Path,
    /// Treat an image without a mask as all-normal instead of failing.
    pub allow_missing_masks: bool,
}

/// Pairs every image of `inputs.images` with its partner and mask, sorted by stem.
///
/// # Errors
/// A missing folder or a path that is not a folder (usage errors), no images, two files with
/// the same stem where one is needed, an image without a partner, or an image without a mask
/// (unless allowed).
pub fn find_pairs(inputs: &PairingInputs<'_>) -> Result<Vec<Pair>> {
    check_folder("--images", inputs.images)?;
    check_folder(inputs.source.flag(), inputs.source.folder())?;
    check_folder("--masks", inputs.masks)?;
    let masks_beside_images = same_folder(inputs.images, inputs.masks);

    let mut images = list_by_stem(inputs.images, &IMAGE_EXTENSIONS)?;
    if masks_beside_images {
        images.retain(|stem, _| !stem.ends_with(MASK_SUFFIX));
    }
    if images.is_empty() {
        return Err(DtunetError::EmptyInputFolder {
            folder: inputs.images.to_path_buf(),
            expected: "images (.png, .jpg, .jpeg)",
        });
    }
    let partner_extensions: &[&str] = match inputs.source {
        MapSource::Reconstructions(_) => &IMAGE_EXTENSIONS,
        MapSource::Maps(_) => &[MAP_EXTENSION],
    };
    let partners = list_by_stem(inputs.source.folder(), partner_extensions)?;
    let masks = list_by_stem(inputs.masks, &IMAGE_EXTENSIONS)?;

    let mut pairs = Vec::with_capacity(images.len());
    let (mut missing_partners, mut missing_masks) = (Vec::new(), Vec::new());
    for stem in images.keys() {
        let Some(image) = lookup(&images, stem)? else {
            continue;
        };
        let partner = lookup(&partners, stem)?;
        let mask_stem = format!("{stem}{MASK_SUFFIX}");
        let mask = match lookup(&masks, &mask_stem)? {
            Some(mask) => Some(mask),
            None if !masks_beside_images => lookup(&masks, stem)?,
            None => None,
        };
        match partner {
            Some(partner) => {
                if mask.is_none() {
                    missing_masks.push(image.clone());
                }
                pairs.push(Pair {
                    stem: stem.clone(),
                    image,
                    partner,
                    mask,
                });
            }
            None => missing_partners.push((stem.clone(), image)),
        }
    }
    if let Some((stem, image)) = missing_partners.first() {
        let expected = partner_extensions
            .iter()
            .map(|extension| format!("{stem}.{extension}"))
            .collect::<Vec<_>>()
            .join(" or ");
        return Err(DtunetError::MissingPartner {
            what: inputs.source.partner_name(),
            image: image.clone(),
            expected,
            folder: inputs.source.folder().to_path_buf(),
            n_others: missing_partners.len() - 1,
            fix: "",
        });
    }
    if !inputs.allow_missing_masks
        && let Some(image) = missing_masks.first()
    {
        let stem = stem_of(image).unwrap_or_default();
        let expected = if masks_beside_images {
            format!("{stem}{MASK_SUFFIX}.png (or .jpg, .jpeg)")
        } else {
            format!("{stem}{MASK_SUFFIX}.png or {stem}.png (or .jpg, .jpeg)")
        };
        return Err(DtunetError::MissingPartner {
            what: "mask",
            image: image.clone(),
            expected,
            folder: inputs.masks.to_path_buf(),
            n_others: missing_masks.len() - 1,
            fix: "; pass --allow-missing-masks to treat images without a mask as all-normal",
        });
    }
    Ok(pairs)
}

/// Fails unless `path` is an existing folder.
fn check_folder(flag: &'static str, path: &Path) -> Result<()> {
    let problem = match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_dir() => return Ok(()),
        Ok(_) => "not a folder",
        Err(_) => "no such folder",
    };
    Err(DtunetError::InputFolder {
        flag,
        path: path.to_path_buf(),
        problem,
    })
}

/// True when both paths name the same folder.
fn same_folder(first: &Path, second: &Path) -> bool {
    match (first.canonicalize(), second.canonicalize()) {
        (Ok(first), Ok(second)) => first == second,
        _ => first == second,
    }
}

/// The files of `folder` with one of `extensions` (case-insensitive), grouped by stem.
fn list_by_stem(folder: &Path, extensions: &[&str]) -> Result<BTreeMap<String, Vec<PathBuf>>> {
    let io_error = |source| DtunetError::Io {
        action: "list",
        path: folder.to_path_buf(),
        source,
    };
    let mut by_stem: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for entry in std::fs::read_dir(folder).map_err(io_error)? {
        let path = entry.map_err(io_error)?.path();
        let matches_extension = path
            .extension()
            .and_then(|extension| extension.to_str())
            .is_some_and(|extension| {
                extensions
                    .iter()
                    .any(|wanted| extension.eq_ignore_ascii_case(wanted))
            });
        if !matches_extension || !path.is_file() {
            continue;
        }
        if let Some(stem) = stem_of(&path) {
            by_stem.entry(stem).or_default().push(path);
        }
    }
    for files in by_stem.values_mut() {
        files.sort();
    }
    Ok(by_stem)
}

/// The file stem as text (lossy for names that are not UTF-8).
fn stem_of(path: &Path) -> Option<String> {
    path.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
}

/// The one file of `stem` in `by_stem`, `None` without one; two or more are ambiguous.
fn lookup(by_stem: &BTreeMap<String, Vec<PathBuf>>, stem: &str) -> Result<Option<PathBuf>> {
    match by_stem.get(stem).map(Vec::as_slice) {
        None | Some([]) => Ok(None),
        Some([one]) => Ok(Some(one.clone())),
        Some([first, second, ..]) => Err(DtunetError::AmbiguousStem {
            stem: stem.to_string(),
            first: first.clone(),
            second: second.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(folder: &Path, name: &str) {
        std::fs::write(folder.join(name), b"").expect("write");
    }

    fn folders() -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
        let root = tempfile::tempdir().expect("temp dir");
        let [images, recon, masks] = ["images", "recon", "masks"].map(|name| {
            let folder = root.path().join(name);
            std::fs::create_dir(&folder).expect("mkdir");
            folder
        });
        (root, images, recon, masks)
    }

    #[test]
    fn pairs_by_stem_with_both_mask_names() {
        let (_root, images, recon, masks) = folders();
        for name in ["b.png", "a.JPG", "notes.txt"] {
            touch(&images, name);
        }
        touch(&recon, "a.png");
        touch(&recon, "b.jpeg");
        touch(&masks, "a_mask.png");
        touch(&masks, "b.png");
        let source = MapSource::Reconstructions(recon.clone());
        let pairs = find_pairs(&PairingInputs {
            images: &images,
            source: &source,
            masks: &masks,
            allow_missing_masks: false,
        })
        .expect("paired");
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs[0].stem, "a");
        assert_eq!(
            pairs[0].mask.as_deref(),
            Some(masks.join("a_mask.png").as_path())
        );
        assert_eq!(pairs[1].partner, recon.join("b.jpeg"));
        assert_eq!(
            pairs[1].mask.as_deref(),
            Some(masks.join("b.png").as_path())
        );
    }

    #[test]
    fn masks_beside_images_are_not_images() {
        let (_root, images, maps, _) = folders();
        touch(&images, "x.png");
        touch(&images, "x_mask.png");
        touch(&maps, "x.npy");
        let source = MapSource::Maps(maps);
        let pairs = find_pairs(&PairingInputs {
            images: &images,
            source: &source,
            masks: &images,
            allow_missing_masks: false,
        })
        .expect("paired");
        assert_eq!(pairs.len(), 1);
        assert_eq!(pairs[0].mask, Some(images.join("x_mask.png")));
    }

    #[test]
    fn missing_mask_names_the_image_unless_allowed() {
        let (_root, images, recon, masks) = folders();
        for name in ["a.png", "b.png", "c.png"] {
            touch(&images, name);
            touch(&recon, name);
        }
        touch(&masks, "a.png");
        let source = MapSource::Reconstructions(recon);
        let mut inputs = PairingInputs {
            images: &images,
            source: &source,
            masks: &masks,
            allow_missing_masks: false,
        };
        let message = find_pairs(&inputs).expect_err("missing").to_string();
        assert!(message.contains("no mask for image"), "{message}");
        assert!(message.contains("b.png"), "{message}");
        assert!(message.contains("1 more images lack one"), "{message}");
        assert!(message.contains("--allow-missing-masks"), "{message}");
        inputs.allow_missing_masks = true;
        let pairs = find_pairs(&inputs).expect("allowed");
        assert_eq!(pairs.iter().filter(|p| p.mask.is_none()).count(), 2);
    }

    #[test]
    fn bad_folders_are_usage_errors() {
        let (root, images, recon, masks) = folders();
        let missing = root.path().join("nope");
        let source = MapSource::Reconstructions(recon);
        let error = find_pairs(&PairingInputs {
            images: &missing,
            source: &source,
            masks: &masks,
            allow_missing_masks: false,
        })
        .expect_err("missing folder");
        assert!(error.is_usage_error());
        assert!(error.to_string().starts_with("--images "), "{error}");
        let error = find_pairs(&PairingInputs {
            images: &images,
            source: &source,
            masks: &masks,
            allow_missing_masks: false,
        })
        .expect_err("empty");
        assert!(error.is_usage_error());
        assert!(error.to_string().contains("no images"), "{error}");
    }

    #[test]
    fn two_files_with_one_stem_are_ambiguous() {
        let (_root, images, recon, masks) = folders();
        touch(&images, "a.png");
        touch(&recon, "a.png");
        touch(&recon, "a.jpg");
        touch(&masks, "a.png");
        let source = MapSource::Reconstructions(recon);
        let error = find_pairs(&PairingInputs {
            images: &images,
            source: &source,
            masks: &masks,
            allow_missing_masks: false,
        })
        .expect_err("ambiguous");
        assert!(
            error.to_string().contains("both match the stem \"a\""),
            "{error}"
        );
    }
}

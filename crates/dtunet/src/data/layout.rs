//! The [`Dataset`] trait every loader implements, the [`Sample`] it yields, and the
//! [`Layout`] names (`--layout`) that open one.
//!
//! A dataset is opened once: the folder is listed (and, for BraTS, the segmentations are read)
//! to build an index of the train and test samples; no image is decoded then. Samples are
//! decoded on demand by [`Dataset::get`], which takes `&self` and may be called from many
//! threads at once. Image layouts keep no pixels between calls; BraTS keeps a small LRU of
//! volumes ([`BratsOptions::cache_volumes`]). So a dataset of any size streams in bounded
//! memory.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Serialize;

use super::brainmri::BrainMriOptions;
use super::brats::BratsOptions;
use super::transform::{Channels, ImageSize, Transform};
use super::{brainmri, brats, folder, mvtec};
use crate::error::{DtunetError, Result};

/// Which part of a dataset: healthy training images or test images (with masks, where known).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Healthy images only.
    Train,
    /// Healthy and anomalous images.
    Test,
}

impl Split {
    /// Both splits, train first.
    pub const ALL: [Split; 2] = [Split::Train, Split::Test];

    /// `train` or `test`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

/// What the index knows about a sample before it is decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleInfo {
    /// A readable identifier: the path below the dataset root (`test/crack/003.png`), or
    /// `<case>/z<slice>` for volume slices.
    pub id: String,
    /// The class folder or kind (`good`, `crack`, `no`, `yes`, `healthy`, `tumour`, …).
    pub class: String,
    /// Whether the sample is anomalous, when the layout says so without its mask.
    pub anomalous: Option<bool>,
    /// The file the pixels come from.
    pub source: PathBuf,
}

/// One decoded sample, ready for a network.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// What the index knew about it.
    pub info: SampleInfo,
    /// Pixels `[channels, size.height, size.width]` (CHW, row-major), values in [-1, 1].
    pub image: Vec<f32>,
    /// Channels of `image`.
    pub channels: Channels,
    /// Size of `image`, `mask` and `foreground` (the loader's `img_size`).
    pub size: ImageSize,
    /// Ground truth `[size.height, size.width]`, 1 = anomalous, 0 = normal. `None` in the train
    /// split and for test images whose mask is unknown; all zeros for known-healthy test images.
    pub mask: Option<Vec<u8>>,
    /// Region where anomalies can occur (`[size.height, size.width]`, 1 = inside), e.g. the
    /// non-zero brain voxels of a BraTS slice; `None` when the layout has no such notion.
    pub foreground: Option<Vec<u8>>,
    /// The size stored in the file (the slice size for volumes).
    pub original_size: ImageSize,
    /// The stored colour type (`l8`, `rgb8`, `l16`, `rgba8`, …; `volume` for NIfTI slices).
    pub original_color: String,
}

impl Sample {
    /// Whether the sample is anomalous: the index's answer, else whether its mask has any
    /// anomalous pixel; `None` when neither is known.
    pub fn is_anomalous(&self) -> Option<bool> {
        self.info
            .anomalous
            .or_else(|| self.mask.as_ref().map(|mask| mask.contains(&1)))
    }
}

/// A problem found in a dataset that does not stop it from loading (the file is skipped or
/// loads without a mask). `dtunet data inspect` lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    /// What kind of problem.
    pub kind: IssueKind,
    /// The file or folder concerned.
    pub path: PathBuf,
    /// What was expected and what was found.
    pub detail: String,
}

/// Kinds of [`Issue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueKind {
    /// A file that is not an image (by extension) or a folder where images were expected.
    Skipped,
    /// A mask with no image of the same stem.
    UnpairedMask,
    /// A test image whose mask was expected but not found.
    MissingMask,
    /// Two masks for the same stem; the first (in name order) is used.
    DuplicateMask,
    /// A volume case without the chosen modality or its segmentation; skipped.
    IncompleteCase,
    /// A file that cannot be decoded (found when samples are read).
    Unreadable,
    /// A mask whose size differs from its image's (found when samples are read).
    SizeMismatch,
}

impl IssueKind {
    /// A short human label (`unpaired mask`).
    pub fn label(self) -> &'static str {
        match self {
            IssueKind::Skipped => "skipped",
            IssueKind::UnpairedMask => "unpaired mask",
            IssueKind::MissingMask => "missing mask",
            IssueKind::DuplicateMask => "duplicate mask",
            IssueKind::IncompleteCase => "incomplete case",
            IssueKind::Unreadable => "unreadable",
            IssueKind::SizeMismatch => "size mismatch",
        }
    }
}

/// A dataset opened from disk: an index of samples per split, decoded on demand.
pub trait Dataset: Send + Sync {
    /// The folder the samples are read from (for MVTec, the category folder).
    fn root(&self) -> &Path;

    /// Number of samples in `split`.
    fn len(&self, split: Split) -> usize;

    /// What the index knows about sample `index` of `split`, without decoding it; `None` past
    /// the end.
    fn info(&self, split: Split, index: usize) -> Option<&SampleInfo>;

    /// Decodes sample `index` of `split` (`0..len(split)`): its image, mask and foreground at
    /// the configured size and channels. Errors name the file that failed.
    fn get(&self, split: Split, index: usize) -> Result<Sample>;

    /// Problems found while indexing (skipped files, unpaired masks, incomplete cases).
    fn issues(&self) -> &[Issue];
}

/// The error for an index past the end of a split.
pub(crate) fn index_error(split: Split, index: usize, len: usize) -> DtunetError {
    DtunetError::InvalidParameter {
        name: "sample index",
        found: format!("{index} in the {} split", split.name()),
        expected: format!("0..{len}"),
    }
}

/// The supported on-disk layouts, selected by `--layout NAME`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// `train/` healthy images, `test/` images, `masks/` paired by stem.
    Folder,
    /// MVTec AD: `<category>/{train/good, test/<defect>, ground_truth/<defect>}`.
    Mvtec,
    /// Kaggle "Brain MRI": `no/` healthy, `yes/` tumour, masks alongside.
    BrainMri,
    /// BraTS 2021 NIfTI volumes, one folder per case.
    Brats,
}

impl Layout {
    /// Every layout, in the order they are listed to users.
    pub const ALL: [Layout; 4] = [
        Layout::Folder,
        Layout::Mvtec,
        Layout::BrainMri,
        Layout::Brats,
    ];

    /// The `--layout` name.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Folder => "folder",
            Layout::Mvtec => "mvtec",
            Layout::BrainMri => "brainmri",
            Layout::Brats => "brats",
        }
    }

    /// The channels the layout's data naturally has: 1 for the MRI layouts, 3 otherwise.
    pub fn default_channels(self) -> Channels {
        match self {
            Layout::BrainMri | Layout::Brats => Channels::Gray,
            Layout::Folder | Layout::Mvtec => Channels::Rgb,
        }
    }

    /// Opens the dataset under `root` with this layout (the options a layout does not use are
    /// ignored). Fails when `root` lacks what the layout needs, saying what and where.
    pub fn open(self, root: &Path, options: &DataOptions) -> Result<Box<dyn Dataset>> {
        options.validate()?;
        if !root.is_dir() {
            return Err(DtunetError::Dataset {
                path: root.to_path_buf(),
                found: if root.exists() {
                    "not a folder"
                } else {
                    "no such folder"
                }
                .into(),
                expected: format!("a dataset folder in the {} layout", self.name()),
            });
        }
        Ok(match self {
            Layout::Folder => Box::new(folder::open(root, options.transform)?),
            Layout::Mvtec => Box::new(mvtec::open(
                root,
                options.category.as_deref(),
                options.transform,
            )?),
            Layout::BrainMri => {
                Box::new(brainmri::open(root, &options.brainmri, options.transform)?)
            }
            Layout::Brats => Box::new(brats::open(root, &options.brats, options.transform)?),
        })
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Layout {
    type Err = DtunetError;

    fn from_str(name: &str) -> Result<Self> {
        Layout::ALL
            .into_iter()
            .find(|layout| layout.name() == name)
            .ok_or_else(|| DtunetError::InvalidParameter {
                name: "layout",
                found: name.to_string(),
                expected: format!("one of {}", Layout::ALL.map(Layout::name).join(", ")),
            })
    }
}

/// How to open a dataset: the transform, plus each layout's own options.
#[derive(Debug, Clone, PartialEq)]
pub struct DataOptions {
    /// Output size and channels of every sample.
    pub transform: Transform,
    /// MVTec category (`bottle`, …); not needed when the root is the category folder.
    pub category: Option<String>,
    /// Brain MRI hold-out split.
    pub brainmri: BrainMriOptions,
    /// BraTS modality, slices and cache.
    pub brats: BratsOptions,
}

impl DataOptions {
    /// Defaults for `layout` at `size`: its natural channels, a 20 % healthy hold-out with seed
    /// 0, FLAIR, every slice.
    pub fn new(layout: Layout, size: ImageSize) -> Self {
        Self {
            transform: Transform {
                size,
                channels: layout.default_channels(),
            },
            category: None,
            brainmri: BrainMriOptions::default(),
            brats: BratsOptions::default(),
        }
    }

    /// Rejects out-of-range options.
    pub fn validate(&self) -> Result<()> {
        self.brainmri.validate()?;
        self.brats.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_parse_by_name_and_list_the_valid_ones() {
        for layout in Layout::ALL {
            assert_eq!(layout.name().parse::<Layout>().expect("known"), layout);
        }
        let error = "kaggle".parse::<Layout>().expect_err("unknown");
        assert_eq!(
            error.to_string(),
            "layout = kaggle is invalid: expected one of folder, mvtec, brainmri, brats"
        );
        assert!(error.is_usage_error());
    }

    #[test]
    fn missing_root_is_a_usage_error_naming_it() {
        let options = DataOptions::new(Layout::Folder, ImageSize::new(8, 8));
        let error = Layout::Folder
            .open(Path::new("/nonexistent-dtunet-data"), &options)
            .err()
            .expect("missing");
        assert!(error.is_usage_error());
        let message = error.to_string();
        assert!(
            message.contains("/nonexistent-dtunet-data: no such folder"),
            "{message}"
        );
    }
}

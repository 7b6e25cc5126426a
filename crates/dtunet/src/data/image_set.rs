//! [`ImageSet`]: the [`Dataset`] behind the image layouts (folder, MVTec, Brain MRI). Each
//! layout module only builds the index; decoding, mask checks and the transform live here.

use std::path::{Path, PathBuf};

use image::ImageFormat;

use super::files::{read_image, relative_id};
use super::layout::{Dataset, Issue, Sample, SampleInfo, Split, index_error};
use super::transform::{ImageSize, Transform, binary_mask};
use crate::error::{DtunetError, Result};

/// Where a sample's mask comes from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum MaskSource {
    /// No mask (train images; test images whose mask is missing).
    Unknown,
    /// Known healthy: an all-zero mask.
    Empty,
    /// A mask file of the same size as the image.
    File(PathBuf),
}

/// One indexed image.
#[derive(Debug, Clone)]
pub(crate) struct ImageEntry {
    pub info: SampleInfo,
    pub mask: MaskSource,
}

impl ImageEntry {
    /// The entry of image `path` under `root`.
    pub(crate) fn new(
        root: &Path,
        path: &Path,
        class: &str,
        anomalous: Option<bool>,
        mask: MaskSource,
    ) -> Self {
        Self {
            info: SampleInfo {
                id: relative_id(root, path),
                class: class.to_string(),
                anomalous,
                source: path.to_path_buf(),
            },
            mask,
        }
    }
}

/// An indexed set of image files, decoded one at a time on [`Dataset::get`] (nothing cached).
#[derive(Debug)]
pub struct ImageSet {
    root: PathBuf,
    transform: Transform,
    train: Vec<ImageEntry>,
    test: Vec<ImageEntry>,
    issues: Vec<Issue>,
}

impl ImageSet {
    /// An index built by a layout module.
    pub(crate) fn new(
        root: &Path,
        transform: Transform,
        train: Vec<ImageEntry>,
        test: Vec<ImageEntry>,
        issues: Vec<Issue>,
    ) -> Self {
        Self {
            root: root.to_path_buf(),
            transform,
            train,
            test,
            issues,
        }
    }

    fn entries(&self, split: Split) -> &[ImageEntry] {
        match split {
            Split::Train => &self.train,
            Split::Test => &self.test,
        }
    }

    fn load(&self, entry: &ImageEntry) -> Result<Sample> {
        let source = &entry.info.source;
        let (image, _) = read_image(source)?;
        let original_size = ImageSize::of(&image);
        let mask = match &entry.mask {
            MaskSource::Unknown => None,
            MaskSource::Empty => Some(vec![0; self.transform.size.pixels()]),
            MaskSource::File(path) => {
                let (mask, format) = read_image(path)?;
                let mask_size = ImageSize::of(&mask);
                if mask_size != original_size {
                    return Err(DtunetError::SizeMismatch {
                        what: "mask",
                        path: path.clone(),
                        found: mask_size.to_string(),
                        expected: original_size.to_string(),
                        image: source.clone(),
                    });
                }
                let binary = binary_mask(&mask, format == Some(ImageFormat::Jpeg));
                Some(self.transform.mask(&binary, original_size))
            }
        };
        Ok(Sample {
            info: entry.info.clone(),
            image: self.transform.image(&image),
            channels: self.transform.channels,
            size: self.transform.size,
            mask,
            foreground: None,
            original_size,
            original_color: format!("{:?}", image.color()).to_lowercase(),
        })
    }
}

impl Dataset for ImageSet {
    fn root(&self) -> &Path {
        &self.root
    }

    fn len(&self, split: Split) -> usize {
        self.entries(split).len()
    }

    fn info(&self, split: Split, index: usize) -> Option<&SampleInfo> {
        self.entries(split).get(index).map(|entry| &entry.info)
    }

    fn get(&self, split: Split, index: usize) -> Result<Sample> {
        let entries = self.entries(split);
        let entry = entries
            .get(index)
            .ok_or_else(|| index_error(split, index, entries.len()))?;
        self.load(entry)
    }

    fn issues(&self) -> &[Issue] {
        &self.issues
    }
}

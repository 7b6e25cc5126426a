//! Dataset flags shared by the commands that read a dataset for a model (`train`, `detect`):
//! where it is and how to read it; the size and channels come from the model.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use dtunet::data::brats::{Modality, SliceRange};
use dtunet::data::{Channels, DataOptions, Dataset, ImageSize, Layout, Split};

/// Where a dataset is and how to read it.
#[derive(Debug, Clone, Args)]
pub struct DatasetArgs {
    /// The dataset folder.
    #[arg(long)]
    pub data: PathBuf,
    #[command(flatten)]
    pub format: DatasetFormat,
}

/// How to read a dataset folder.
#[derive(Debug, Clone, Args)]
pub struct DatasetFormat {
    /// Its layout: folder (train/, test/, masks/), mvtec, brainmri (no/, yes/) or brats.
    #[arg(long, value_parser = parse_layout, default_value = "mvtec")]
    pub layout: Layout,
    /// MVTec category (a folder of --data); not needed when --data is the category folder.
    #[arg(long)]
    pub category: Option<String>,
    /// brainmri: fraction of the no/ images held out for testing, in [0, 1).
    #[arg(long, default_value_t = 0.2)]
    pub test_fraction: f64,
    /// brainmri: seed of the shuffle that picks the held-out images.
    #[arg(long, default_value_t = 0)]
    pub holdout_seed: u64,
    /// brats: MRI sequence, one of t1, t1ce, t2, flair.
    #[arg(long, default_value = "flair", value_parser = parse_modality)]
    pub modality: Modality,
    /// brats: axial slices START..END (END excluded) [default: all].
    #[arg(long, value_parser = parse_slices)]
    pub slices: Option<SliceRange>,
}

impl DatasetArgs {
    /// Opens the dataset with samples of `side × side` pixels and `channels` channels.
    pub fn open(&self, side: usize, channels: usize) -> Result<Box<dyn Dataset>> {
        self.format.open(&self.data, side, channels)
    }
}

impl DatasetFormat {
    /// The MVTec AD layout with the default options: how the built-in synthetic sets are
    /// written.
    pub fn mvtec() -> Self {
        Self {
            layout: Layout::Mvtec,
            category: None,
            test_fraction: 0.2,
            holdout_seed: 0,
            modality: Modality::Flair,
            slices: None,
        }
    }

    /// Opens the dataset in `data` with samples of `side × side` pixels and `channels`
    /// channels.
    pub fn open(&self, data: &Path, side: usize, channels: usize) -> Result<Box<dyn Dataset>> {
        let side = u32::try_from(side).context("image size too large")?;
        let mut options = DataOptions::new(
            self.layout,
            ImageSize {
                height: side,
                width: side,
            },
        );
        options.transform.channels = Channels::from_count(channels)?;
        options.category.clone_from(&self.category);
        options.brainmri.test_fraction = self.test_fraction;
        options.brainmri.seed = self.holdout_seed;
        options.brats.modality = self.modality;
        options.brats.slices = self.slices;
        self.layout.open(data, &options).with_context(|| {
            format!(
                "cannot open {} as a {} dataset",
                data.display(),
                self.layout
            )
        })
    }
}

/// Parses `--layout`.
pub fn parse_layout(text: &str) -> Result<Layout, String> {
    text.parse().map_err(|e: dtunet::DtunetError| e.to_string())
}

/// Parses `--img-size` of the data commands (`N` or `HxW`).
pub fn parse_size(text: &str) -> Result<ImageSize, String> {
    text.parse().map_err(|e: dtunet::DtunetError| e.to_string())
}

/// Parses `--modality`.
pub fn parse_modality(text: &str) -> Result<Modality, String> {
    text.parse().map_err(|e: dtunet::DtunetError| e.to_string())
}

/// Parses `--slices`.
pub fn parse_slices(text: &str) -> Result<SliceRange, String> {
    text.parse().map_err(|e: dtunet::DtunetError| e.to_string())
}

/// Parses `--split`.
pub fn parse_split(text: &str) -> Result<Split, String> {
    Split::ALL
        .into_iter()
        .find(|split| split.name() == text)
        .ok_or_else(|| format!("unknown split {text:?}: expected train or test"))
}

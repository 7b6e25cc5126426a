//! Datasets: the loaders of SPEC §7 and the built-in synthetic generator.

pub mod brainmri;
pub mod brats;
mod files;
pub mod folder;
mod image_set;
pub mod inspect;
pub mod layout;
pub mod mvtec;
pub mod synth;
#[cfg(test)]
mod test_support;
pub mod transform;
mod volume;

pub use image_set::ImageSet;
pub use layout::{DataOptions, Dataset, Issue, IssueKind, Layout, Sample, SampleInfo, Split};
pub use transform::{Channels, ImageSize, Transform};

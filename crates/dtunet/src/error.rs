//! The library's error type: every variant names the file or value involved.

use std::path::PathBuf;

use thiserror::Error;

use crate::report::PlotError;
use dtunet_noise::NoiseError;

/// Errors of the dtunet library.
#[derive(Debug, Error)]
pub enum DtunetError {
    /// Invalid noise parameters or shapes.
    #[error(transparent)]
    Noise(#[from] NoiseError),
    /// A parameter of a pipeline (not of the noise itself) out of range.
    #[error("{name} = {found} is invalid: expected {expected}")]
    InvalidParameter {
        /// The parameter as the user sees it.
        name: &'static str,
        /// The offending value.
        found: String,
        /// What would have been accepted.
        expected: String,
    },
    /// Reading or writing a file failed.
    #[error("cannot {action} {path}")]
    Io {
        /// What was being done (`write`, `create folder`, …).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Encoding an image failed.
    #[error("cannot write image {path}")]
    Image {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: image::ImageError,
    },
    /// Drawing a plot failed.
    #[error(transparent)]
    Plot(#[from] PlotError),
    /// An input folder named on the command line is missing or is not a folder.
    #[error("{flag} {path}: {problem}")]
    InputFolder {
        /// The option that named it (`--images`, `--masks`, …).
        flag: &'static str,
        /// The folder.
        path: PathBuf,
        /// What is wrong (`no such folder`, `not a folder`).
        problem: &'static str,
    },
    /// An input folder holds nothing to evaluate.
    #[error("no {expected} in {folder}: give the folder that holds them")]
    EmptyInputFolder {
        /// The folder.
        folder: PathBuf,
        /// The files looked for (`images (.png, .jpg, .jpeg)`).
        expected: &'static str,
    },
    /// Two files in one folder pair with the same image.
    #[error("{first} and {second} both match the stem {stem:?}: keep one file per stem")]
    AmbiguousStem {
        /// The stem.
        stem: String,
        /// One file.
        first: PathBuf,
        /// The other file.
        second: PathBuf,
    },
    /// An image without its reconstruction, map or mask.
    #[error(
        "no {what} for image {image}: expected {expected} in {folder}{others}{fix}",
        others = if *n_others > 0 { format!(" ({n_others} more images lack one)") } else { String::new() }
    )]
    MissingPartner {
        /// What is missing (`reconstruction`, `anomaly map`, `mask`).
        what: &'static str,
        /// The image.
        image: PathBuf,
        /// The file names looked for.
        expected: String,
        /// The folder searched.
        folder: PathBuf,
        /// How many other images lack one too.
        n_others: usize,
        /// How to proceed anyway, if there is a way (starts with `; `).
        fix: &'static str,
    },
    /// An image file that cannot be decoded.
    #[error("cannot read image {path}: expected an 8- or 16-bit PNG or JPEG")]
    ImageRead {
        /// The file.
        path: PathBuf,
        /// The decoder's complaint.
        #[source]
        source: image::ImageError,
    },
    /// An input `.npy` array with the wrong content.
    #[error("array {path}: expected {expected}, found {found}")]
    BadArray {
        /// The file.
        path: PathBuf,
        /// What was expected.
        expected: &'static str,
        /// What the file holds.
        found: String,
    },
    /// An anomaly-map `.npy` file with the wrong content.
    #[error("anomaly map {path}: expected {expected}, found {found}")]
    BadMap {
        /// The file.
        path: PathBuf,
        /// What was expected.
        expected: &'static str,
        /// What the file holds.
        found: String,
    },
    /// A classes file (`eval --classes`) that cannot be read or does not hold stem → class.
    #[error("classes file {path}: {problem}")]
    ClassesFile {
        /// The file.
        path: PathBuf,
        /// What is wrong and what was expected.
        problem: String,
    },
    /// A reconstruction, map or mask whose size differs from its image's.
    #[error(
        "{what} {found} does not match image {expected} (height x width): {path} (image {image})"
    )]
    SizeMismatch {
        /// The mismatched input (`mask`, `reconstruction`, `anomaly map`).
        what: &'static str,
        /// Its file.
        path: PathBuf,
        /// Its size, `HxW`.
        found: String,
        /// The image's size, `HxW`.
        expected: String,
        /// The image.
        image: PathBuf,
    },
    /// A metric rejected the data of one file (a NaN, an out-of-range value).
    #[error("cannot score {path}")]
    Metric {
        /// The file (or folder, for set-level metrics).
        path: PathBuf,
        /// The metric's complaint.
        #[source]
        source: dtunet_metrics::MetricsError,
    },
    /// A threshold rule that cannot be applied to this set.
    #[error("--threshold {rule}: {problem}")]
    ThresholdUndefined {
        /// The rule.
        rule: String,
        /// Why, and what to do instead.
        problem: &'static str,
    },
    /// A study definition (built-in or file) or a study folder that cannot be used.
    #[error("study {study}: {problem}")]
    Study {
        /// The study's name or file, with the line when one is at fault (`f.toml, line 4`).
        study: String,
        /// What is wrong and what was expected.
        problem: String,
    },
    /// An output folder that exists and holds files, without `--overwrite`.
    #[error("{path}: {problem}")]
    OutputFolder {
        /// The folder.
        path: PathBuf,
        /// What is wrong and the fix.
        problem: &'static str,
    },
    /// A shard folder of `detect --shard` that cannot be merged (no manifest, settings that
    /// differ from the other shards, a shard missing or given twice).
    #[error("{path}: {problem}")]
    Shard {
        /// The shard folder (or its manifest).
        path: PathBuf,
        /// What is wrong and what was expected.
        problem: String,
    },
    /// A dataset folder that lacks what its layout needs (a folder, images, a usable case).
    #[error("{path}: {found}; expected {expected}")]
    Dataset {
        /// The folder (or file) concerned.
        path: PathBuf,
        /// What is there instead (`no such folder`, `no images (.png, .jpg, .jpeg)`).
        found: String,
        /// What the layout wants there.
        expected: String,
    },
    /// A NIfTI volume that cannot be read.
    #[error("cannot read NIfTI volume {path}: expected a NIfTI-1 .nii or .nii.gz file")]
    NiftiRead {
        /// The file.
        path: PathBuf,
        /// The reader's complaint.
        #[source]
        source: nifti::NiftiError,
    },
    /// A NIfTI volume of the wrong shape.
    #[error("NIfTI volume {path}: expected {expected}, found {found}")]
    VolumeShape {
        /// The file.
        path: PathBuf,
        /// The shape wanted.
        expected: String,
        /// The shape it has.
        found: String,
    },
    /// A configuration file that does not parse or has unknown keys.
    #[error("config {path}: {problem}")]
    Config {
        /// The file.
        path: PathBuf,
        /// The parser's message (names the key and line).
        problem: String,
    },
    /// Training produced a NaN or infinite loss.
    #[error(
        "training loss is {value} at step {step}; training stopped. {}",
        checkpoint.as_ref().map_or("No checkpoint was written yet.".to_string(),
            |p| format!("The last good checkpoint is {} (resume with --resume, perhaps with a lower --lr).", p.display()))
    )]
    NonFiniteLoss {
        /// The step (1-based) whose loss was not finite.
        step: usize,
        /// The loss value.
        value: f64,
        /// The newest complete checkpoint.
        checkpoint: Option<PathBuf>,
    },
    /// A weights or checkpoint file that cannot be read or written.
    #[error("weights file {path}: {problem}")]
    Weights {
        /// The file.
        path: PathBuf,
        /// What went wrong, with the underlying cause.
        problem: String,
    },
    /// A weights file whose tensors do not match the model built from the configuration.
    #[error(
        "weights file {path} does not match the {arch} model: {} missing ({}), {} unexpected ({}), {} wrong shape ({})",
        missing.len(), preview(missing), unexpected.len(), preview(unexpected), mismatched.len(), preview(mismatched)
    )]
    WeightsMismatch {
        /// The file.
        path: PathBuf,
        /// The architecture and size the model was built with.
        arch: String,
        /// Model parameters the file lacks.
        missing: Vec<String>,
        /// File tensors no parameter takes.
        unexpected: Vec<String>,
        /// Tensors whose shape differs (`key: file [..] vs model [..]`).
        mismatched: Vec<String>,
    },
}

impl DtunetError {
    /// True for errors caused by what the user asked for (bad parameters), as opposed to a
    /// failure while doing it; the CLI exits with 2 for these.
    pub fn is_usage_error(&self) -> bool {
        matches!(
            self,
            DtunetError::Noise(_)
                | DtunetError::InvalidParameter { .. }
                | DtunetError::InputFolder { .. }
                | DtunetError::EmptyInputFolder { .. }
                | DtunetError::OutputFolder { .. }
                | DtunetError::Shard { .. }
                | DtunetError::Dataset { .. }
                | DtunetError::WeightsMismatch { .. }
                | DtunetError::Config { .. }
                | DtunetError::Study { .. }
                | DtunetError::BadArray { .. }
        )
    }
}

/// The first few names of a list, for one-line messages.
fn preview(names: &[String]) -> String {
    const SHOWN: usize = 6;
    let mut text = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        text.push_str(", …");
    }
    if text.is_empty() { "none".into() } else { text }
}

/// The library's result type.
pub type Result<T, E = DtunetError> = std::result::Result<T, E>;

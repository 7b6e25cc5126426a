//! `dtunet eval`: score anomaly maps of a test set against ground-truth masks (SPEC §5–6).
//!
//! Each image `x.png` pairs by stem with its reconstruction `x.png` (the map is the square or
//! absolute error averaged over channels, images in `[-1, 1]`; exact from the integer samples
//! of 8- and 16-bit files, so equal differences tie) or its `.npy` map, and its mask
//! `x_mask.png` or `x.png` ([`pairing`]). Per image: Dice, IoU, precision, recall and FPR of
//! the binarised map, pixel AUROC, ECE of the ae and se maps, SSIM and PSNR ([`scoring`]);
//! over the set: mean ± std of those, pooled pixel AUROC / AP / F1-max, AUPRO and image AUROC
//! ([`aggregate`]), and the same per class of image when the classes are known ([`classes`]).
//! [`evaluate`] streams the images in parallel chunks ([`run`]) and writes the
//! report (`metrics.csv`, `summary.json`, `summary.md`, panels, `roc.png`, `report.html`).

pub mod aggregate;
pub mod classes;
pub mod histogram;
pub mod loading;
pub mod pairing;
pub mod run;
pub mod scoring;

pub use aggregate::{ImageRow, PooledScores, Summary, ThresholdSummary, map_name};
pub use classes::{CLASSES_FILE, ClassOfStem, ClassSummary, read_class_json, write_class_json};
pub use loading::{IntegerSamples, Sample, load_sample};
pub use pairing::{MapSource, Pair, find_pairs};
pub use run::{
    DEFAULT_MAX_EXACT_PIXELS, EvalConfig, EvalOutputs, EvalProgress, EvalStage, evaluate,
};
pub use scoring::{Binarization, Calibration, ImageScores, parse_threshold};

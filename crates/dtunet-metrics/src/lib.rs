//! Metrics of anomaly maps for diffusion-based anomaly segmentation (SPEC §6), in pure Rust
//! with no tensor library.
//!
//! Data layout, used everywhere:
//! * an anomaly map is `&[f32]` of `height · width` scores, row-major (`row · width + col`);
//! * a mask is `&[bool]` of the same length, `true` = anomalous;
//! * an image is `&[f32]` of `channels · height · width` values (CHW) in `[0, 1]`;
//! * shapes travel as [`MapShape`] / [`ImageShape`] where the metric needs the 2-D layout
//!   (components, AUPRO, SSIM); other metrics only need equal lengths.
//!
//! Metrics are `f64`. Per-image values are summarised as mean ± population std
//! ([`MeanStd`]). Metrics undefined for the input (AUROC with one class, AUPRO without an
//! anomalous region) are `None`, never `0.0`. Bad input (length mismatch, empty input, NaN,
//! out-of-range parameters) is a [`MetricsError`].
//!
//! | Module | Contents | Reference |
//! |---|---|---|
//! | [`confusion`] | Dice, IoU, precision, recall, FPR | textbook; empty → Dice = IoU = 1 |
//! | [`roc`], [`pooled`] | AUROC, AP, F1-max, ROC curve; pooled exact or histogram | scikit-learn 1.9.1 |
//! | [`aupro`](mod@aupro) | AUPRO up to FPR 0.3 | MVTec AD evaluation code |
//! | [`ece`] | expected calibration error, 10 bins | SPEC §6 |
//! | [`ssim`](mod@ssim) | SSIM, PSNR | scikit-image 0.26.0 |
//! | [`threshold`] | Otsu, fixed, percentile, best Dice | scikit-image 0.26.0, NumPy 2.4.6 |
//! | [`calibration`] | thresholds at a false-positive rate of healthy maps | NumPy 2.4.6 `quantile(method="inverted_cdf")` |
//! | [`smooth`] | Gaussian smoothing of maps | SciPy 1.17.1 `ndimage.gaussian_filter` |
//! | [`components`] | 8-connected labelling, largest component | SciPy 1.17.1 `ndimage.label` |
//! | [`aggregate`] | mean ± std | NumPy `std(ddof=0)` |
//!
//! ```
//! use dtunet_metrics::{overlap_scores, auroc, Threshold};
//! let map = [0.1f32, 0.9, 0.8, 0.2];
//! let mask = [false, true, true, false];
//! let chosen = Threshold::Otsu.for_image(&map).unwrap();
//! let scores = overlap_scores(&chosen.binarize(&map), &mask).unwrap();
//! assert_eq!(scores.dice, 1.0);
//! assert_eq!(auroc(&map, &mask).unwrap(), Some(1.0));
//! ```

pub mod aggregate;
pub mod aupro;
pub mod binning;
pub mod calibration;
pub mod components;
pub mod confusion;
pub mod ece;
pub mod error;
mod input;
pub mod pooled;
pub mod roc;
pub mod shape;
pub mod smooth;
pub mod ssim;
pub mod threshold;

pub use aggregate::{MeanStd, SkippingMeanStd};
pub use aupro::{AuproAccumulator, MVTEC_FPR_LIMIT, aupro};
pub use binning::ScoreBins;
pub use calibration::{CalibratedThresholds, PixelRule, threshold_at_fpr};
pub use components::{Components, largest_component};
pub use confusion::{ConfusionCounts, OverlapScores, overlap_scores};
pub use ece::{CalibrationBins, ErrorMapKind, N_CALIBRATION_BINS, expected_calibration_error};
pub use error::{MetricsError, Result};
pub use pooled::{PooledRanking, PoolingMode};
pub use roc::{
    F1Max, RankingSummary, RocCurve, auroc, average_precision, f1_max, image_auroc, image_score,
    ranking_summary, roc_curve,
};
pub use shape::{ImageShape, MapShape};
pub use smooth::gaussian_smooth;
pub use ssim::{SSIM_SIGMA_PX, SSIM_WINDOW_PX, psnr, ssim, ssim_map};
pub use threshold::{
    ChosenThreshold, OTSU_N_BINS, Threshold, ThresholdSource, best_dice_from_pooled,
    best_dice_threshold, binarize, otsu_threshold, percentile,
};

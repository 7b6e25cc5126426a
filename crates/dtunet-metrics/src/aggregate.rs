//! Summaries over images (SPEC §6): mean ± population standard deviation, printed in the
//! paper's style `0.3861 ± 0.2267`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::input::{check_finite, check_not_empty};

/// Mean and population standard deviation (`ddof = 0`, as `numpy.std`) of per-image values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanStd {
    /// Arithmetic mean.
    pub mean: f64,
    /// `sqrt(Σ (x − mean)² / n)`.
    pub std: f64,
    /// Number of values `n`.
    pub count: usize,
}

impl MeanStd {
    /// Mean and population std of `values`.
    ///
    /// # Shapes
    /// `values`: `[n_images]`.
    ///
    /// # Errors
    /// No values, or a NaN or infinite value.
    pub fn from_values(values: &[f64]) -> Result<Self> {
        check_not_empty("values", values.len())?;
        check_finite("values", values)?;
        let count = values.len();
        let mean = values.iter().sum::<f64>() / count as f64;
        let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / count as f64;
        Ok(Self {
            mean,
            std: variance.sqrt(),
            count,
        })
    }

    /// Mean and std of the values that are present, skipping `None` (e.g. the pixel AUROC of
    /// an image whose mask is all one class) and counting the skipped ones.
    ///
    /// # Shapes
    /// `values`: `[n_images]`.
    ///
    /// # Errors
    /// No values at all, or a NaN or infinite value.
    pub fn from_present(values: &[Option<f64>]) -> Result<SkippingMeanStd> {
        check_not_empty("values", values.len())?;
        let present: Vec<f64> = values.iter().flatten().copied().collect();
        let summary = if present.is_empty() {
            None
        } else {
            Some(Self::from_values(&present)?)
        };
        Ok(SkippingMeanStd {
            summary,
            n_skipped: values.len() - present.len(),
        })
    }

    /// `mean ± std` with `decimals` digits after the point, e.g. `0.3861 ± 0.2267`.
    pub fn format(&self, decimals: usize) -> String {
        format!("{:.decimals$} ± {:.decimals$}", self.mean, self.std)
    }
}

impl fmt::Display for MeanStd {
    /// `mean ± std`, 4 decimals unless a precision is given (`{:.2}`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.format(f.precision().unwrap_or(4)))
    }
}

/// A [`MeanStd`] over the values present, and how many were absent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SkippingMeanStd {
    /// The summary, or `None` when every value was absent.
    pub summary: Option<MeanStd>,
    /// Values skipped because they were absent.
    pub n_skipped: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn population_std_and_paper_format() {
        let summary = MeanStd::from_values(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert_eq!((summary.mean, summary.std, summary.count), (5.0, 2.0, 8));
        let summary = MeanStd {
            mean: 0.386_06,
            std: 0.226_74,
            count: 3,
        };
        assert_eq!(summary.to_string(), "0.3861 ± 0.2267");
        assert_eq!(format!("{summary:.2}"), "0.39 ± 0.23");
        assert_eq!(summary.format(1), "0.4 ± 0.2");
    }

    #[test]
    fn single_value_has_zero_std() {
        let summary = MeanStd::from_values(&[0.7]).unwrap();
        assert_eq!((summary.mean, summary.std), (0.7, 0.0));
    }

    #[test]
    fn skips_and_counts_absent_values() {
        let skipping = MeanStd::from_present(&[Some(1.0), None, Some(3.0), None]).unwrap();
        assert_eq!(skipping.n_skipped, 2);
        assert_eq!(skipping.summary.map(|s| (s.mean, s.std)), Some((2.0, 1.0)));
        let all_absent = MeanStd::from_present(&[None, None]).unwrap();
        assert_eq!((all_absent.summary, all_absent.n_skipped), (None, 2));
    }

    #[test]
    fn rejects_empty_and_non_finite() {
        assert!(MeanStd::from_values(&[]).is_err());
        assert!(MeanStd::from_values(&[1.0, f64::NAN]).is_err());
        assert!(MeanStd::from_values(&[f64::INFINITY]).is_err());
        assert!(MeanStd::from_present(&[]).is_err());
    }
}

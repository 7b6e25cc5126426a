//! The detection settings a training preset was measured with, kept in the run's
//! `config.toml` (`[detection]`) so that `dtunet detect` on the model uses them wherever its
//! own flags are not given: a model trained with `--preset texture` is detected the way its
//! figures in BENCHMARKS.md were obtained, without the user retyping the recipe.

use serde::{Deserialize, Serialize};

use crate::error::{DtunetError, Result};

/// Detection settings carried by a training configuration; `None` / `false` leave `detect`'s
/// own default.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectionRecipe {
    /// Partial-diffusion depths t_λ (maps averaged over several).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub t_lambdas: Option<Vec<usize>>,
    /// Reconstructions averaged per image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub samples: Option<usize>,
    /// Network evaluations of a strided (DDIM-style) reverse chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strided_steps: Option<usize>,
    /// σ in pixels of the Gaussian smoothing of the maps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smooth_sigma: Option<f64>,
    /// Binarise with thresholds calibrated on the held-out training images.
    pub calibrate: bool,
}

impl DetectionRecipe {
    /// No setting: `detect` keeps all its defaults.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Rejects depths at or past `diffusion_steps`, zero samples or chain steps, and a
    /// negative or non-finite σ.
    ///
    /// # Errors
    /// [`DtunetError::InvalidParameter`] naming the `detection.*` key.
    pub fn validate(&self, diffusion_steps: usize) -> Result<()> {
        let invalid = |name: &'static str, found: String, expected: String| {
            Err(DtunetError::InvalidParameter {
                name,
                found,
                expected,
            })
        };
        if let Some(depths) = &self.t_lambdas
            && (depths.is_empty() || depths.iter().any(|&t| t >= diffusion_steps))
        {
            return invalid(
                "detection.t_lambdas",
                format!("{depths:?}"),
                format!("one or more depths in 0..{diffusion_steps}"),
            );
        }
        for (name, value) in [
            ("detection.samples", self.samples),
            ("detection.strided_steps", self.strided_steps),
        ] {
            if value == Some(0) {
                return invalid(name, "0".into(), "at least 1".into());
            }
        }
        if let Some(sigma) = self.smooth_sigma
            && !(sigma >= 0.0 && sigma.is_finite())
        {
            return invalid(
                "detection.smooth_sigma",
                sigma.to_string(),
                "a smoothing σ ≥ 0 pixels".into(),
            );
        }
        Ok(())
    }

    /// One line for people, e.g. `t_λ 150, 16 samples, strided chains of 50 steps, σ 2 px,
    /// calibrated thresholds`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(depths) = &self.t_lambdas {
            let depths: Vec<String> = depths.iter().map(usize::to_string).collect();
            parts.push(format!("t_λ {}", depths.join(",")));
        }
        if let Some(samples) = self.samples {
            parts.push(format!("{samples} samples"));
        }
        if let Some(steps) = self.strided_steps {
            parts.push(format!("strided chains of {steps} steps"));
        }
        if let Some(sigma) = self.smooth_sigma {
            parts.push(format!("σ {sigma} px"));
        }
        if self.calibrate {
            parts.push("calibrated thresholds".into());
        }
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texture_like() -> DetectionRecipe {
        DetectionRecipe {
            t_lambdas: Some(vec![150]),
            samples: Some(16),
            strided_steps: Some(50),
            smooth_sigma: Some(2.0),
            calibrate: true,
        }
    }

    #[test]
    fn a_recipe_describes_itself_and_an_empty_one_is_empty() {
        assert!(DetectionRecipe::default().is_empty());
        let recipe = texture_like();
        assert!(!recipe.is_empty());
        assert_eq!(
            recipe.describe(),
            "t_λ 150, 16 samples, strided chains of 50 steps, σ 2 px, calibrated thresholds"
        );
        recipe.validate(1000).expect("valid");
    }

    #[test]
    fn bad_values_are_refused_naming_the_key() {
        let deep = DetectionRecipe {
            t_lambdas: Some(vec![150, 1000]),
            ..texture_like()
        };
        let error = deep.validate(1000).expect_err("past the chain").to_string();
        assert!(
            error.contains("detection.t_lambdas") && error.contains("0..1000"),
            "{error}"
        );
        let none = DetectionRecipe {
            samples: Some(0),
            ..texture_like()
        };
        let error = none.validate(1000).expect_err("no sample").to_string();
        assert!(error.contains("detection.samples"), "{error}");
        let blurred = DetectionRecipe {
            smooth_sigma: Some(f64::NAN),
            ..texture_like()
        };
        let error = blurred.validate(1000).expect_err("NaN σ").to_string();
        assert!(error.contains("detection.smooth_sigma"), "{error}");
    }
}

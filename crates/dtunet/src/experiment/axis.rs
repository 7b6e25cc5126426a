//! The axes a study varies: each names one setting of training or detection, parses and
//! normalises its values, and applies a value to the configurations of a cell.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::DetectSettings;
use crate::evaluate::parse_threshold;
use crate::losses::LossKind;
use crate::models::{Architecture, StageFeedForward};
use crate::training::TrainConfig;
use dtunet_noise::NoiseKind;

/// A setting a study varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Axis {
    /// The backbone: `dtunet`, `uvit`, `unet`.
    Arch,
    /// DTU-Net's feed-forward per stage: `mlp`, `daff`, `ddaff` or `in,mid,out`.
    Ff,
    /// The training loss (`l1`, `l2`, `ssim`, …).
    Loss,
    /// The diffusion noise (`gauss`, `simplex3d`, `tsimplex`, `tsg`, `kts`, …).
    Noise,
    /// Simplex octaves.
    Octaves,
    /// Simplex persistence.
    Persistence,
    /// Simplex base period in pixels.
    Frequency,
    /// Patch side in pixels of the patch-local noises.
    KtsPatch,
    /// Seed of the weights, the training draws and the detection noise.
    Seed,
    /// Partial-diffusion depth at detection.
    TLambda,
    /// Reconstructions averaged per test image.
    Samples,
    /// Error map: `se` or `ae`.
    Map,
    /// Binarisation: `otsu`, `fixed:V`, `percentile:P`, `best`.
    Threshold,
    /// σ in pixels of the Gaussian smoothing of the maps (0: none).
    Smooth,
}

impl Axis {
    /// Every axis, in the order cell names list them (training before detection).
    pub const ALL: [Axis; 14] = [
        Axis::Arch,
        Axis::Ff,
        Axis::Loss,
        Axis::Noise,
        Axis::Octaves,
        Axis::Persistence,
        Axis::Frequency,
        Axis::KtsPatch,
        Axis::Seed,
        Axis::TLambda,
        Axis::Samples,
        Axis::Map,
        Axis::Threshold,
        Axis::Smooth,
    ];

    /// The axis name in study files.
    pub fn name(self) -> &'static str {
        match self {
            Axis::Arch => "arch",
            Axis::Ff => "ff",
            Axis::Loss => "loss",
            Axis::Noise => "noise",
            Axis::Octaves => "octaves",
            Axis::Persistence => "persistence",
            Axis::Frequency => "frequency",
            Axis::KtsPatch => "kts_patch",
            Axis::Seed => "seed",
            Axis::TLambda => "t_lambda",
            Axis::Samples => "samples",
            Axis::Map => "map",
            Axis::Threshold => "threshold",
            Axis::Smooth => "smooth",
        }
    }

    /// How the axis is written in tables and plots.
    pub fn label(self) -> &'static str {
        match self {
            Axis::TLambda => "t_λ",
            other => other.name(),
        }
    }

    /// Whether a value of the axis changes the trained model (else only detection).
    pub fn trains(self) -> bool {
        matches!(
            self,
            Axis::Arch
                | Axis::Ff
                | Axis::Loss
                | Axis::Noise
                | Axis::Octaves
                | Axis::Persistence
                | Axis::Frequency
                | Axis::KtsPatch
                | Axis::Seed
        )
    }

    /// Whether a value of the axis changes the reconstructions (else only their scoring:
    /// cells that differ in `map`, `threshold` or `smooth` alone share one set of
    /// reconstructions).
    pub fn reconstructs(self) -> bool {
        !matches!(self, Axis::Map | Axis::Threshold | Axis::Smooth)
    }

    /// Whether the axis' values are numbers (sorted and plotted as such).
    pub fn numeric(self) -> bool {
        matches!(
            self,
            Axis::Octaves
                | Axis::Persistence
                | Axis::Frequency
                | Axis::KtsPatch
                | Axis::Seed
                | Axis::TLambda
                | Axis::Samples
                | Axis::Smooth
        )
    }

    /// The value's canonical text, or what was expected.
    pub fn normalise(self, value: &toml::Value) -> Result<String, String> {
        let text = match value {
            toml::Value::String(text) => text.trim().to_string(),
            toml::Value::Integer(number) => number.to_string(),
            toml::Value::Float(number) => number.to_string(),
            other => {
                return Err(format!(
                    "a {} is not a value: give a string or a number",
                    other.type_str()
                ));
            }
        };
        let expected = |what: &str| format!("{text:?} is not {what}");
        match self {
            Axis::Arch => text
                .parse::<Architecture>()
                .map(|arch| arch.name().to_string())
                .map_err(|_| expected("one of dtunet, uvit, unet")),
            Axis::Ff => text
                .parse::<StageFeedForward>()
                .map(|ff| ff.to_string())
                .map_err(|_| expected("mlp, daff, ddaff or three of them as in,mid,out")),
            Axis::Loss => text
                .parse::<LossKind>()
                .map(|loss| loss.name().to_string())
                .map_err(|_| {
                    let names: Vec<&str> = LossKind::ALL.iter().map(|kind| kind.name()).collect();
                    expected(&format!("one of {}", names.join(", ")))
                }),
            Axis::Noise => text
                .parse::<NoiseKind>()
                .map(|kind| kind.name().to_string())
                .map_err(|_| {
                    let names: Vec<&str> = NoiseKind::ALL.iter().map(|kind| kind.name()).collect();
                    expected(&format!("one of {}", names.join(", ")))
                }),
            Axis::Octaves | Axis::KtsPatch | Axis::TLambda | Axis::Samples => {
                match text.parse::<usize>() {
                    Ok(number) if number >= 1 || self == Axis::TLambda => Ok(number.to_string()),
                    _ => Err(expected("a positive integer")),
                }
            }
            Axis::Seed => text
                .parse::<u64>()
                .map(|seed| seed.to_string())
                .map_err(|_| expected("a non-negative integer")),
            Axis::Persistence | Axis::Frequency => match text.parse::<f64>() {
                Ok(number) if number > 0.0 && number.is_finite() => Ok(number.to_string()),
                _ => Err(expected("a positive number")),
            },
            Axis::Smooth => match text.parse::<f64>() {
                Ok(number) if number >= 0.0 && number.is_finite() => Ok(number.to_string()),
                _ => Err(expected("a smoothing σ ≥ 0 pixels")),
            },
            Axis::Map => match text.as_str() {
                "se" | "ae" => Ok(text),
                _ => Err(expected("se or ae")),
            },
            Axis::Threshold => parse_threshold(&text)
                .map(|_| text.clone())
                .map_err(|_| expected("otsu, fixed:V, percentile:P or best")),
        }
    }

    /// The axis' value in a cell's configurations (what [`Axis::apply`] set, or the base).
    pub fn value_in(self, train: &TrainConfig, detect: &DetectSettings) -> String {
        match self {
            Axis::Arch => train.model.arch.name().to_string(),
            Axis::Ff => train.model.ff.to_string(),
            Axis::Loss => train.loss.name().to_string(),
            Axis::Noise => train.noise.kind.clone(),
            Axis::Octaves => train.noise.octaves.to_string(),
            Axis::Persistence => train.noise.persistence.to_string(),
            Axis::Frequency => train.noise.frequency.to_string(),
            Axis::KtsPatch => train.noise.kts_patch.to_string(),
            Axis::Seed => train.seed.to_string(),
            Axis::TLambda => detect.t_lambda.to_string(),
            Axis::Samples => detect.samples.to_string(),
            Axis::Map => detect.map.clone(),
            Axis::Threshold => detect.threshold.clone(),
            Axis::Smooth => detect.smooth.to_string(),
        }
    }

    /// Sets `value` (canonical text from [`Axis::normalise`]) in the cell's configurations.
    pub fn apply(self, value: &str, train: &mut TrainConfig, detect: &mut DetectSettings) {
        let number = || value.parse::<f64>().unwrap_or(f64::NAN);
        let count = || value.parse::<usize>().unwrap_or(0);
        match self {
            Axis::Arch => {
                if let Ok(arch) = value.parse() {
                    train.model.arch = arch;
                }
            }
            Axis::Ff => {
                if let Ok(ff) = value.parse() {
                    train.model.ff = ff;
                }
            }
            Axis::Loss => {
                if let Ok(loss) = value.parse() {
                    train.loss = loss;
                }
            }
            Axis::Noise => train.noise.kind = value.to_string(),
            Axis::Octaves => train.noise.octaves = u32::try_from(count()).unwrap_or(u32::MAX),
            Axis::Persistence => train.noise.persistence = number(),
            Axis::Frequency => train.noise.frequency = number(),
            Axis::KtsPatch => train.noise.kts_patch = count(),
            Axis::Seed => {
                let seed = value.parse().unwrap_or_default();
                train.seed = seed;
                detect.seed = seed;
            }
            Axis::TLambda => detect.t_lambda = count(),
            Axis::Samples => detect.samples = count(),
            Axis::Map => detect.map = value.to_string(),
            Axis::Threshold => detect.threshold = value.to_string(),
            Axis::Smooth => detect.smooth = number(),
        }
    }
}

impl FromStr for Axis {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Axis::ALL
            .into_iter()
            .find(|axis| axis.name() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = Axis::ALL.iter().map(|axis| axis.name()).collect();
                format!(
                    "unknown axis {text:?}: expected one of {}",
                    names.join(", ")
                )
            })
    }
}

impl fmt::Display for Axis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_normalised_or_refused_by_name() {
        let text = |s: &str| toml::Value::String(s.into());
        assert_eq!(Axis::Loss.normalise(&text("MS_SSIM")).ok(), None);
        assert_eq!(
            Axis::Loss.normalise(&text("ms_ssim")).expect("accepted"),
            "ms_ssim"
        );
        assert_eq!(
            Axis::TLambda
                .normalise(&toml::Value::Integer(250))
                .expect("accepted"),
            "250"
        );
        assert_eq!(
            Axis::Ff
                .normalise(&text("daff,daff,daff"))
                .expect("accepted"),
            "daff"
        );
        assert_eq!(
            Axis::Persistence
                .normalise(&toml::Value::Float(0.8))
                .expect("accepted"),
            "0.8"
        );
        let refused = Axis::Noise.normalise(&text("pink")).expect_err("refused");
        assert!(refused.contains("pink"), "{refused}");
        assert!(Axis::Samples.normalise(&toml::Value::Integer(0)).is_err());
        assert!(Axis::Map.normalise(&toml::Value::Boolean(true)).is_err());
        assert_eq!("t_lambda".parse::<Axis>().expect("accepted"), Axis::TLambda);
        assert!(
            "lr".parse::<Axis>()
                .expect_err("refused")
                .contains("t_lambda")
        );
    }

    #[test]
    fn values_land_in_the_configurations() {
        let mut train = TrainConfig::default();
        let mut detect = DetectSettings::default();
        Axis::Loss.apply("hybrid", &mut train, &mut detect);
        Axis::Noise.apply("gauss", &mut train, &mut detect);
        Axis::Arch.apply("unet", &mut train, &mut detect);
        Axis::Seed.apply("7", &mut train, &mut detect);
        Axis::TLambda.apply("100", &mut train, &mut detect);
        Axis::Threshold.apply("fixed:0.1", &mut train, &mut detect);
        assert_eq!(train.loss, LossKind::Hybrid);
        assert_eq!(train.noise.kind, "gauss");
        assert_eq!(train.model.arch, Architecture::Unet);
        assert_eq!((train.seed, detect.seed), (7, 7));
        assert_eq!(detect.t_lambda, 100);
        assert_eq!(detect.threshold, "fixed:0.1");
        Axis::Smooth.apply("2", &mut train, &mut detect);
        assert_eq!(detect.smooth, 2.0);
        Axis::Ff.apply("daff,mlp,daff", &mut train, &mut detect);
        Axis::Persistence.apply("0.8", &mut train, &mut detect);
        for (axis, value) in [
            (Axis::Loss, "hybrid"),
            (Axis::Arch, "unet"),
            (Axis::Ff, "daff,mlp,daff"),
            (Axis::Persistence, "0.8"),
            (Axis::Seed, "7"),
            (Axis::TLambda, "100"),
        ] {
            assert_eq!(axis.value_in(&train, &detect), value, "{axis}");
        }
    }
}

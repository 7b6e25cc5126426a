//! What a synthetic dataset is made of: its kind, material, size, counts and seed.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::error::{DtunetError, Result};

/// Smallest accepted image side in pixels.
pub const MIN_SIDE_PX: usize = 16;
/// Largest accepted image side in pixels.
pub const MAX_SIDE_PX: usize = 4096;
/// Largest accepted number of images per split.
pub const MAX_IMAGES_PER_SPLIT: usize = 1_000_000;

/// The family of images a synthetic dataset holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SynthKind {
    /// Grayscale brain-MRI-like axial phantoms; test anomalies are tumour-like lesions.
    Brain,
    /// RGB industrial surfaces (leather, fabric, wood); test anomalies are scratches, holes,
    /// stains and foreign patches.
    Texture,
}

impl SynthKind {
    /// Every kind, in the order the CLI lists them.
    pub const ALL: [SynthKind; 2] = [SynthKind::Brain, SynthKind::Texture];

    /// The kind's name on the command line and in dataset cards.
    pub fn name(self) -> &'static str {
        match self {
            SynthKind::Brain => "brain",
            SynthKind::Texture => "texture",
        }
    }

    /// Colour channels of the images (1 for brain, 3 for texture).
    pub fn channels(self) -> usize {
        match self {
            SynthKind::Brain => 1,
            SynthKind::Texture => 3,
        }
    }

    /// The anomaly classes of the kind's test split (each has a `test/<class>` folder).
    pub fn defect_classes(self) -> &'static [Class] {
        match self {
            SynthKind::Brain => &[Class::Tumor],
            SynthKind::Texture => &[Class::Scratch, Class::Hole, Class::Stain, Class::Patch],
        }
    }
}

impl fmt::Display for SynthKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SynthKind {
    type Err = DtunetError;

    fn from_str(text: &str) -> Result<Self> {
        SynthKind::ALL
            .into_iter()
            .find(|kind| kind.name() == text)
            .ok_or_else(|| DtunetError::InvalidParameter {
                name: "synthetic dataset kind",
                found: format!("{text:?}"),
                expected: "brain or texture".into(),
            })
    }
}

/// The surface a texture dataset shows (one material per dataset, as in MVTec AD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Material {
    /// Pebbled hide: cells separated by dark creases.
    Leather,
    /// Twill-woven threads of two colours.
    Fabric,
    /// Planed wood with growth rings, fibres and pores.
    Wood,
}

impl Material {
    /// Every material.
    pub const ALL: [Material; 3] = [Material::Leather, Material::Fabric, Material::Wood];

    /// The material's name on the command line and in dataset cards.
    pub fn name(self) -> &'static str {
        match self {
            Material::Leather => "leather",
            Material::Fabric => "fabric",
            Material::Wood => "wood",
        }
    }
}

impl fmt::Display for Material {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Material {
    type Err = DtunetError;

    fn from_str(text: &str) -> Result<Self> {
        Material::ALL
            .into_iter()
            .find(|material| material.name() == text)
            .ok_or_else(|| DtunetError::InvalidParameter {
                name: "material",
                found: format!("{text:?}"),
                expected: "leather, fabric or wood".into(),
            })
    }
}

/// The class of one image: `good` (healthy) or an anomaly type. Names the image's folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// Healthy: no anomaly, empty mask.
    Good,
    /// A tumour-like brain lesion.
    Tumor,
    /// A thin curved line on a surface.
    Scratch,
    /// A dark disc with a frayed rim.
    Hole,
    /// A soft blob of a different colour.
    Stain,
    /// A pasted piece of a different texture.
    Patch,
}

impl Class {
    /// The folder name (`good`, `tumor`, `scratch`, …).
    pub fn name(self) -> &'static str {
        match self {
            Class::Good => "good",
            Class::Tumor => "tumor",
            Class::Scratch => "scratch",
            Class::Hole => "hole",
            Class::Stain => "stain",
            Class::Patch => "patch",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How large and how visible the brain lesions are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Lesions {
    /// Subtle to strong: radius 4–30 % of the head, contrast 0.03–0.3 (log-uniform), so many
    /// are a few pixels across at small sizes and hard to see.
    #[default]
    Mixed,
    /// Large, clearly visible lesions like BraTS FLAIR tumours: radius 18–35 % of the head,
    /// contrast 0.15–0.45.
    Clear,
}

impl Lesions {
    /// `(smallest, largest)` lesion radius as a fraction of the head radius.
    pub fn radius_range(self) -> (f64, f64) {
        match self {
            Lesions::Mixed => (0.04, 0.30),
            Lesions::Clear => (0.18, 0.35),
        }
    }

    /// `(smallest, largest)` intensity offset from white matter (images in 0..1).
    pub fn contrast_range(self) -> (f64, f64) {
        match self {
            Lesions::Mixed => (0.03, 0.3),
            Lesions::Clear => (0.15, 0.45),
        }
    }

    /// The name on the command line and in the card.
    pub fn name(self) -> &'static str {
        match self {
            Lesions::Mixed => "mixed",
            Lesions::Clear => "clear",
        }
    }
}

impl std::str::FromStr for Lesions {
    type Err = DtunetError;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "mixed" => Ok(Lesions::Mixed),
            "clear" => Ok(Lesions::Clear),
            other => Err(DtunetError::InvalidParameter {
                name: "--lesions",
                found: other.to_string(),
                expected: "mixed or clear".into(),
            }),
        }
    }
}

impl fmt::Display for Lesions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything that defines a synthetic dataset; two equal configs give byte-identical files.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SynthConfig {
    /// Brain phantoms or textured surfaces.
    pub kind: SynthKind,
    /// The surface of a texture dataset (ignored for brain).
    pub material: Material,
    /// Healthy training images (`train/good`).
    pub n_train: usize,
    /// Test images, healthy and anomalous together.
    pub n_test: usize,
    /// Image height in pixels (16..=4096).
    pub height: usize,
    /// Image width in pixels (16..=4096).
    pub width: usize,
    /// Seed of the run; every image's seed derives from it and the image's split and index.
    pub seed: u64,
    /// Fraction of the test split that is healthy (`test/good`), rounded to whole images.
    pub healthy_fraction: f64,
    /// Size and visibility of the brain lesions (ignored for textures).
    pub lesions: Lesions,
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            kind: SynthKind::Brain,
            material: Material::Leather,
            n_train: 200,
            n_test: 60,
            height: 128,
            width: 128,
            seed: 0,
            healthy_fraction: 0.25,
            lesions: Lesions::Mixed,
        }
    }
}

impl SynthConfig {
    /// Rejects sides outside 16..=4096, no images at all, more than a million images per split
    /// and a healthy fraction outside [0, 1].
    pub fn validate(&self) -> Result<()> {
        for (name, side) in [
            ("--height (or --size)", self.height),
            ("--width (or --size)", self.width),
        ] {
            if !(MIN_SIDE_PX..=MAX_SIDE_PX).contains(&side) {
                return Err(DtunetError::InvalidParameter {
                    name,
                    found: side.to_string(),
                    expected: format!("an image side of {MIN_SIDE_PX}..={MAX_SIDE_PX} pixels"),
                });
            }
        }
        if self.n_train == 0 && self.n_test == 0 {
            return Err(DtunetError::InvalidParameter {
                name: "--n-train + --n-test",
                found: "0".into(),
                expected: "at least one image in train or test".into(),
            });
        }
        for (name, n) in [("--n-train", self.n_train), ("--n-test", self.n_test)] {
            if n > MAX_IMAGES_PER_SPLIT {
                return Err(DtunetError::InvalidParameter {
                    name,
                    found: n.to_string(),
                    expected: format!("at most {MAX_IMAGES_PER_SPLIT} images"),
                });
            }
        }
        if !(0.0..=1.0).contains(&self.healthy_fraction) {
            return Err(DtunetError::InvalidParameter {
                name: "--healthy-fraction",
                found: self.healthy_fraction.to_string(),
                expected: "a fraction in [0, 1]".into(),
            });
        }
        Ok(())
    }

    /// Healthy test images: `round(n_test · healthy_fraction)`.
    pub fn n_test_good(&self) -> usize {
        (self.n_test as f64 * self.healthy_fraction).round() as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        SynthConfig::default().validate().expect("valid defaults");
    }

    #[test]
    fn rejects_bad_parameters_naming_them() {
        let cases = [
            (
                SynthConfig {
                    height: 15,
                    ..SynthConfig::default()
                },
                "--height (or --size) = 15",
            ),
            (
                SynthConfig {
                    width: 4097,
                    ..SynthConfig::default()
                },
                "--width (or --size) = 4097",
            ),
            (
                SynthConfig {
                    n_train: 0,
                    n_test: 0,
                    ..SynthConfig::default()
                },
                "at least one image",
            ),
            (
                SynthConfig {
                    healthy_fraction: f64::NAN,
                    ..SynthConfig::default()
                },
                "--healthy-fraction = NaN",
            ),
        ];
        for (config, expected) in cases {
            let error = config.validate().expect_err("invalid");
            assert!(error.is_usage_error());
            assert!(error.to_string().contains(expected), "{error}");
        }
    }

    #[test]
    fn names_round_trip() {
        for kind in SynthKind::ALL {
            assert_eq!(kind.name().parse::<SynthKind>().expect("parses"), kind);
        }
        for material in Material::ALL {
            assert_eq!(
                material.name().parse::<Material>().expect("parses"),
                material
            );
        }
        assert!("marble".parse::<Material>().is_err());
    }

    #[test]
    fn healthy_count_rounds() {
        let config = SynthConfig {
            n_test: 60,
            healthy_fraction: 0.25,
            ..SynthConfig::default()
        };
        assert_eq!(config.n_test_good(), 15);
    }
}

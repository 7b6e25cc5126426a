//! Training-time augmentation: each image of a batch mirrored (or turned) at random, the
//! choice drawn from `(seed, step)` so that a resumed run sees the batches of an unbroken one.
//!
//! More healthy images is what lifts detection on small, faint lesions most after training
//! length; a symmetry of the data gives more of them for free (BENCHMARKS.md, "Augmentation,
//! more healthy images and Otsu-floored calibration"). Choose one the data has: brain slices
//! mirror left–right, most textures mirror both ways, isotropic ones also turn by quarter
//! turns — a brick wall does not (its courses would stand upright).

use burn::tensor::TensorData;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{DtunetError, Result};

/// Which symmetries of the image plane training draws from, each with equal probability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Augmentation {
    /// Images as they are.
    #[default]
    None,
    /// Left–right mirror with probability ½ (brain slices: the hemispheres mirror each other).
    Hflip,
    /// Left–right and up–down mirrors, each with probability ½ (4 symmetries).
    Flips,
    /// The 8 symmetries of the square: mirrors and quarter turns (isotropic textures).
    Dihedral,
}

impl Augmentation {
    /// The kind's name in configs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Hflip => "hflip",
            Self::Flips => "flips",
            Self::Dihedral => "dihedral",
        }
    }

    /// How many symmetries it draws from; [`symmetry`] codes `0..count`.
    fn count(self) -> usize {
        match self {
            Self::None => 1,
            Self::Hflip => 2,
            Self::Flips => 4,
            Self::Dihedral => 8,
        }
    }

    /// `images` (`[B, C, H, W]` `f32`) with each image moved by a symmetry drawn from `seed`
    /// (one draw per image, in batch order); unchanged for [`Augmentation::None`].
    ///
    /// # Errors
    /// Images that are not `f32` `[B, C, H, W]`, or quarter turns of images that are not square.
    pub fn apply(self, images: TensorData, seed: u64) -> Result<TensorData> {
        if self == Self::None {
            return Ok(images);
        }
        let shape = images.shape().to_vec();
        let &[batch, channels, height, width] = shape.as_slice() else {
            return Err(DtunetError::InvalidParameter {
                name: "augmented batch",
                found: format!("shape {shape:?}"),
                expected: "[B, C, H, W] images".into(),
            });
        };
        if self == Self::Dihedral && height != width {
            return Err(DtunetError::InvalidParameter {
                name: "augment",
                found: format!("dihedral on {height}×{width} images"),
                expected: "square images for quarter turns (or hflip / flips)".into(),
            });
        }
        let pixels = images
            .as_slice::<f32>()
            .map_err(|e| DtunetError::InvalidParameter {
                name: "augmented batch",
                found: format!("{e:?}"),
                expected: "f32 images".into(),
            })?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let size = channels * height * width;
        let mut moved = Vec::with_capacity(pixels.len());
        for image in pixels.chunks_exact(size) {
            let code = rng.random_range(0..self.count());
            moved.extend(symmetry(image, [channels, height, width], code));
        }
        Ok(TensorData::new(moved, [batch, channels, height, width]))
    }
}

/// `image` (`[C, H, W]`) moved by symmetry `code`: bit 0 mirrors left–right, bit 1 up–down,
/// bit 2 transposes first (with the mirrors, the quarter turns; square images only).
fn symmetry(image: &[f32], [channels, height, width]: [usize; 3], code: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(image.len());
    for c in 0..channels {
        let plane = &image[c * height * width..(c + 1) * height * width];
        for y in 0..height {
            for x in 0..width {
                let (mut sy, mut sx) = if code & 4 != 0 { (x, y) } else { (y, x) };
                if code & 1 != 0 {
                    sx = width - 1 - sx;
                }
                if code & 2 != 0 {
                    sy = height - 1 - sy;
                }
                out.push(plane[sy * width + sx]);
            }
        }
    }
    out
}

impl std::str::FromStr for Augmentation {
    type Err = DtunetError;

    fn from_str(text: &str) -> Result<Self> {
        [Self::None, Self::Hflip, Self::Flips, Self::Dihedral]
            .into_iter()
            .find(|kind| kind.name() == text)
            .ok_or_else(|| DtunetError::InvalidParameter {
                name: "augment",
                found: format!("{text:?}"),
                expected: "none, hflip, flips or dihedral".into(),
            })
    }
}

impl std::fmt::Display for Augmentation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// `batch` grey images `[batch, 1, height, width]` holding 0, 1, 2, … in order.
    fn ramp(batch: usize, height: usize, width: usize) -> TensorData {
        let pixels: Vec<f32> = (0..batch * height * width).map(|v| v as f32).collect();
        TensorData::new(pixels, [batch, 1, height, width])
    }

    #[test]
    fn each_symmetry_moves_the_pixels_where_it_should() {
        let image: Vec<f32> = (0..6).map(|v| v as f32).collect(); // rows [0 1 2] [3 4 5]
        assert_eq!(symmetry(&image, [1, 2, 3], 0), image);
        assert_eq!(symmetry(&image, [1, 2, 3], 1), [2., 1., 0., 5., 4., 3.]);
        assert_eq!(symmetry(&image, [1, 2, 3], 2), [3., 4., 5., 0., 1., 2.]);
        assert_eq!(symmetry(&image, [1, 2, 3], 3), [5., 4., 3., 2., 1., 0.]);
        let square: Vec<f32> = (0..4).map(|v| v as f32).collect(); // rows [0 1] [2 3]
        assert_eq!(symmetry(&square, [1, 2, 2], 4), [0., 2., 1., 3.]); // the transpose
        assert_eq!(symmetry(&square, [1, 2, 2], 5), [1., 3., 0., 2.]); // a quarter turn
    }

    #[test]
    fn every_symmetry_is_drawn_and_none_leaves_the_batch_alone() {
        let batch = ramp(64, 3, 3);
        assert_eq!(
            Augmentation::None.apply(batch.clone(), 7).expect("ok"),
            batch
        );
        for (kind, expected) in [
            (Augmentation::Hflip, 2),
            (Augmentation::Flips, 4),
            (Augmentation::Dihedral, 8),
        ] {
            let moved = kind.apply(batch.clone(), 7).expect("ok");
            let pixels = moved.as_slice::<f32>().expect("ok");
            let originals = batch.as_slice::<f32>().expect("ok");
            let distinct: BTreeSet<Vec<u32>> = pixels
                .chunks_exact(9)
                .zip(originals.chunks_exact(9))
                .map(|(image, original)| {
                    let first = original[0];
                    image.iter().map(|v| (v - first) as u32).collect()
                })
                .collect();
            assert_eq!(distinct.len(), expected, "{kind}");
        }
    }

    #[test]
    fn the_same_seed_draws_the_same_symmetries() {
        let batch = ramp(16, 4, 4);
        let first = Augmentation::Dihedral.apply(batch.clone(), 3).expect("ok");
        assert_eq!(
            Augmentation::Dihedral.apply(batch.clone(), 3).expect("ok"),
            first
        );
        assert_ne!(Augmentation::Dihedral.apply(batch, 4).expect("ok"), first);
    }

    #[test]
    fn quarter_turns_of_oblong_images_and_unknown_names_are_refused() {
        let error = Augmentation::Dihedral
            .apply(ramp(1, 2, 3), 0)
            .expect_err("refused");
        assert!(error.to_string().contains("2×3"), "{error}");
        let error = "mirror".parse::<Augmentation>().expect_err("refused");
        assert!(error.to_string().contains("hflip"), "{error}");
        assert_eq!(
            "flips".parse::<Augmentation>().expect("ok"),
            Augmentation::Flips
        );
    }
}

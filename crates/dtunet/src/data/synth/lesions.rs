//! Tumour-like brain lesions: irregular blobs (noise-perturbed radius) of varied size, brighter
//! or darker than white matter by a contrast from subtle to strong, solid, heterogeneous or
//! with a necrotic core inside an enhancing rim. The mask is exactly the blob clipped to the
//! brain, and the image changes only inside it.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::brain::Slice;
use super::canvas::{Blob, Canvas, Frame, fbm, lerp, log_uniform, smoothstep};
use super::config::Lesions;
use super::gradient::GradientNoise;

/// Smallest lesion radius, pixels (keeps tiny images' masks non-empty and visible).
const MIN_RADIUS_PX: f64 = 1.5;
/// How much of the tissue structure under a lesion is replaced by a flat white-matter level.
const FLATTEN: f64 = 0.5;
/// Lesion centres lie where the normalised brain radius is below this.
const MAX_CENTRE_RHO: f64 = 0.8;

/// The inner structure of a lesion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Texture {
    /// Nearly uniform.
    Solid,
    /// Strongly mottled.
    Heterogeneous,
    /// A dark necrotic core inside a bright rim (always brighter at the rim).
    Necrotic,
}

impl Texture {
    fn name(self) -> &'static str {
        match self {
            Texture::Solid => "solid",
            Texture::Heterogeneous => "heterogeneous",
            Texture::Necrotic => "necrotic",
        }
    }
}

/// One lesion.
#[derive(Debug, Clone)]
pub(crate) struct Tumour {
    noise: GradientNoise,
    shape: Blob,
    /// Signed intensity offset from white matter (positive = brighter).
    contrast: f64,
    texture: Texture,
}

impl Tumour {
    /// Draws a lesion centred on a random brain pixel of `slice`.
    ///
    /// # Panics
    /// If the slice has no tissue pixel with normalised brain radius below 0.8 (the phantom
    /// always has; images are at least 16 pixels on a side).
    pub fn sample(rng: &mut ChaCha8Rng, slice: &Slice, frame: Frame, lesions: Lesions) -> Self {
        let candidates: Vec<usize> = (0..frame.len())
            .filter(|&index| {
                slice.brain_rho[index] < MAX_CENTRE_RHO
                    && slice.tissue.data[index] > slice.tissue_floor
            })
            .collect();
        assert!(!candidates.is_empty(), "the phantom has brain pixels");
        let centre = frame.unit(candidates[rng.random_range(0..candidates.len())]);
        let (smallest, largest) = lesions.radius_range();
        let radius = log_uniform(rng, smallest, largest).max(MIN_RADIUS_PX * frame.pixel_size());
        let (weakest, strongest) = lesions.contrast_range();
        let magnitude = log_uniform(rng, weakest, strongest);
        let texture = match rng.random_range(0..3) {
            0 => Texture::Solid,
            1 => Texture::Heterogeneous,
            _ => Texture::Necrotic,
        };
        // Necrotic lesions always show a bright rim; the others are brighter or darker.
        let sign = if texture == Texture::Necrotic || rng.random_bool(0.6) {
            1.0
        } else {
            -1.0
        };
        Self {
            noise: GradientNoise::new(rng.random()),
            shape: Blob {
                centre,
                radius,
                aspect: rng.random_range(0.6..1.0),
                angle: rng.random_range(0.0..std::f64::consts::PI),
                roughness: rng.random_range(0.1..0.4),
                noise_offset: 0.0,
            },
            contrast: sign * magnitude,
            texture,
        }
    }

    /// A one-line description for the dataset card.
    pub fn describe(&self, frame: Frame) -> String {
        format!(
            "{} {} lesion, contrast {:+.3}, radius {:.1} px",
            if self.contrast > 0.0 {
                "bright"
            } else {
                "dark"
            },
            self.texture.name(),
            self.contrast,
            self.shape.radius * frame.px_per_unit
        )
    }

    /// Paints the lesion into `image` (a copy of `slice.tissue`) and returns its mask: the
    /// pixels inside both the lesion and the brain. Nothing outside the mask changes.
    pub fn paint(&self, image: &mut Canvas, slice: &Slice, frame: Frame) -> Vec<bool> {
        let mut mask = vec![false; frame.len()];
        for index in frame.pixels_near(self.shape.centre, self.shape.reach()) {
            if slice.brain_rho[index] >= 1.0 {
                continue;
            }
            let (x, y) = frame.unit(index);
            let rho = self.shape.rho(&self.noise, x, y);
            if rho >= 1.0 {
                continue;
            }
            mask[index] = true;
            // Soft inner edge: full strength from 85 % of the radius inwards. The lesion
            // displaces tissue: the structure beneath is partly flattened to white matter.
            let alpha = smoothstep(1.0, 0.85, rho);
            let flattened = lerp(image.data[index], slice.white_level, FLATTEN * alpha);
            image.data[index] = flattened + alpha * self.offset_at(x, y, rho);
        }
        mask
    }

    /// Intensity added at `(x, y)` with normalised radius `rho`.
    fn offset_at(&self, x: f64, y: f64, rho: f64) -> f64 {
        let scale = 3.0 / self.shape.radius.max(0.05);
        let mottle = fbm(&self.noise, x * scale + 11.0, y * scale, 3);
        let c = self.contrast;
        match self.texture {
            Texture::Solid => c * (1.0 + 0.2 * mottle),
            Texture::Heterogeneous => c * (1.0 + 0.9 * mottle),
            Texture::Necrotic => {
                let core = smoothstep(0.65, 0.45, rho + 0.15 * mottle);
                c * (lerp(1.0, -1.5, core) + 0.3 * mottle)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::brain::Brain;
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn mask_is_inside_the_brain_and_only_it_changes() {
        let frame = Frame::new(48, 40);
        for seed in 0..20 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let slice = Brain::sample(&mut rng).render(frame);
            let tumour = Tumour::sample(&mut rng, &slice, frame, Lesions::Mixed);
            let mut image = slice.tissue.clone();
            let mask = tumour.paint(&mut image, &slice, frame);
            assert!(mask.iter().any(|&m| m), "seed {seed}: empty mask");
            for (index, &inside) in mask.iter().enumerate() {
                if inside {
                    assert!(slice.brain_rho[index] < 1.0);
                } else {
                    assert_eq!(image.data[index], slice.tissue.data[index]);
                }
            }
        }
    }
}

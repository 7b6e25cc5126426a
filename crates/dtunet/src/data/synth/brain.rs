//! Brain-MRI-like axial phantoms (T1-weighted look): dark background, bright scalp ring over a
//! dark skull, a folded grey-matter cortex over brighter white matter, deep grey nuclei,
//! butterfly-shaped lateral ventricles, the interhemispheric fissure, tissue texture, a smooth
//! bias field and Rician acquisition noise. Every subject differs in head size, aspect,
//! rotation, position, cortex, ventricle size and intensities.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::canvas::{Canvas, Frame, fbm, length, lerp, smoothstep, unrotate};
use super::gradient::GradientNoise;

/// Radius of the noise-space circle read around the brain: larger gives more, narrower gyri.
const SULCUS_CIRCLE_RADIUS: f64 = 5.5;

/// Tissue intensities of one subject, in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq)]
struct Levels {
    scalp: f64,
    bone: f64,
    csf: f64,
    grey: f64,
    white: f64,
    deep_grey: f64,
}

/// One subject's anatomy and acquisition (all lengths in units, see [`Frame`]).
#[derive(Debug, Clone)]
pub(crate) struct Brain {
    noise: GradientNoise,
    centre: (f64, f64),
    /// Rotation of the head's anterior–posterior axis from vertical, radians.
    angle: f64,
    /// Head semi-axis across (left–right).
    head_half_width: f64,
    /// Head semi-axis along (anterior–posterior).
    head_half_length: f64,
    /// Brain semi-axes as a fraction of the head's.
    brain_ratio: f64,
    /// Cortex thickness, brain radii.
    cortex_thickness: f64,
    /// Typical sulcus depth, brain radii.
    sulcus_depth: f64,
    /// Lateral-ventricle width scale (enlarged ventricles > 1).
    ventricle_width: f64,
    /// Lateral-ventricle length scale.
    ventricle_length: f64,
    levels: Levels,
    /// Relative amplitude of the tissue texture.
    texture: f64,
    /// Bias-field gradient `(x, y)` per unit and smooth amplitude.
    bias: (f64, f64, f64),
    /// Standard deviation of the acquisition noise.
    noise_sigma: f64,
}

/// A rendered healthy slice before acquisition: the noiseless tissue image and, per pixel, the
/// normalised brain radius (below 1 inside the brain).
#[derive(Debug, Clone)]
pub(crate) struct Slice {
    /// Tissue intensities, one channel.
    pub tissue: Canvas,
    /// Normalised brain radius per pixel (`f64::INFINITY` outside the head).
    pub brain_rho: Vec<f64>,
    /// Intensity halfway between CSF and grey matter: brain pixels above it are tissue.
    pub tissue_floor: f64,
    /// White-matter intensity (before texture).
    pub white_level: f64,
}

impl Brain {
    /// Draws a subject.
    pub fn sample(rng: &mut ChaCha8Rng) -> Self {
        let mut jitter = |base: f64, spread: f64| base + rng.random_range(-spread..spread);
        let levels = Levels {
            scalp: jitter(0.80, 0.05),
            bone: jitter(0.10, 0.03),
            csf: jitter(0.11, 0.03),
            grey: jitter(0.43, 0.03),
            white: jitter(0.64, 0.03),
            deep_grey: jitter(0.52, 0.03),
        };
        Self {
            noise: GradientNoise::new(rng.random()),
            centre: (rng.random_range(-0.04..0.04), rng.random_range(-0.04..0.04)),
            angle: rng.random_range(-0.15..0.15),
            head_half_width: rng.random_range(0.64..0.76),
            head_half_length: rng.random_range(0.82..0.92),
            brain_ratio: rng.random_range(0.84..0.88),
            cortex_thickness: rng.random_range(0.035..0.05),
            sulcus_depth: rng.random_range(0.2..0.32),
            ventricle_width: rng.random_range(0.7..1.5),
            ventricle_length: rng.random_range(0.85..1.1),
            levels,
            texture: rng.random_range(0.04..0.07),
            bias: (
                rng.random_range(-0.08..0.08),
                rng.random_range(-0.08..0.08),
                rng.random_range(0.04..0.10),
            ),
            noise_sigma: rng.random_range(0.010..0.028),
        }
    }

    /// The healthy slice in `frame`.
    pub fn render(&self, frame: Frame) -> Slice {
        let mut tissue = Canvas::new(frame.height, frame.width, 1);
        let mut brain_rho = vec![f64::INFINITY; frame.len()];
        for (index, rho) in brain_rho.iter_mut().enumerate() {
            let (value, brain) = self.tissue_at(frame, frame.unit(index));
            tissue.data[index] = value;
            *rho = brain;
        }
        Slice {
            tissue,
            brain_rho,
            tissue_floor: (self.levels.csf + self.levels.grey) / 2.0,
            white_level: self.levels.white,
        }
    }

    /// Intensity and normalised brain radius at unit point `(x, y)`.
    fn tissue_at(&self, frame: Frame, (x, y): (f64, f64)) -> (f64, f64) {
        let (across, along) = unrotate((x - self.centre.0, y - self.centre.1), self.angle);
        let head_rho = length(across / self.head_half_width, along / self.head_half_length);
        // Half a pixel in normalised-radius terms: the width of anti-aliased edges.
        let edge = 0.5 * frame.pixel_size() / self.head_half_width;
        if head_rho > 1.0 + edge {
            return (0.0, f64::INFINITY);
        }
        let levels = &self.levels;
        // Layers from the outside in (fractions of the head radius), each a little uneven:
        // skin, subcutaneous fat, outer table, diploë, inner table, CSF.
        let uneven = 0.012 * fbm(&self.noise, across * 4.0 - 20.0, along * 4.0, 2);
        let layers = [
            (1.0, levels.scalp * 0.7),
            (0.975 + uneven, levels.scalp),
            (0.935 + uneven, levels.bone),
            (0.92 + uneven, levels.scalp * 0.65),
            (0.9 + uneven, levels.bone),
            (0.885 + uneven, levels.csf),
        ];
        let mut value = 0.0;
        for (outer, level) in layers {
            value = lerp(
                value,
                level,
                smoothstep(outer + edge, outer - edge, head_rho),
            );
        }
        // The brain surface wiggles a little at a few cycles per unit.
        let wiggle = fbm(&self.noise, across * 7.0 + 31.0, along * 7.0, 2);
        let brain_rho = head_rho / self.brain_ratio + 0.012 * wiggle;
        let brain_edge = edge / self.brain_ratio;
        let inside = smoothstep(1.0 + brain_edge, 1.0 - brain_edge, brain_rho);
        if inside > 0.0 {
            let parenchyma = self.parenchyma_at(across, along, brain_rho, brain_edge);
            value = lerp(value, parenchyma, inside);
        }
        (value, brain_rho)
    }

    /// Brain tissue at head-frame point `(across, along)` with normalised radius `brain_rho`
    /// (`edge`: half a pixel in the same terms).
    fn parenchyma_at(&self, across: f64, along: f64, brain_rho: f64, edge: f64) -> f64 {
        let levels = &self.levels;
        let noise = &self.noise;
        let depth = 1.0 - brain_rho;
        // Normalised brain coordinates: p across, q along (anterior up), both in [-1, 1].
        let p = across / (self.head_half_width * self.brain_ratio);
        let q = along / (self.head_half_length * self.brain_ratio);
        let value = self.cortex(p, q, depth, edge);
        // Interhemispheric fissure, front and back.
        let wander = 0.02 * fbm(noise, q * 3.0, 90.0, 2);
        let fissure_half_width = 0.008 + edge;
        let fissure = smoothstep(
            fissure_half_width + edge,
            fissure_half_width - edge,
            (p - wander).abs(),
        ) * smoothstep(0.55, 0.7, q.abs());
        let mut value = lerp(value, levels.csf, 0.9 * fissure);
        // Deep grey nuclei (thalamus, basal ganglia) beside the ventricles.
        for side in [-1.0, 1.0] {
            let nucleus = length((p - side * 0.3) / 0.14, (q - 0.1) / 0.22);
            value = lerp(value, levels.deep_grey, 0.7 * smoothstep(1.0, 0.7, nucleus));
        }
        value = lerp(value, levels.csf, self.ventricles(p, q, edge));
        value * (1.0 + self.texture * fbm(noise, across * 14.0 + 200.0, along * 14.0, 3))
    }

    /// Cortex: a grey-matter ribbon along the surface and down both banks of every sulcus, over
    /// white matter. Sulci are the zero lines of noise read on a cylinder (angle around the
    /// brain, depth), fast along the angle and slow along the depth, so they run inwards; the
    /// distance to the nearest one is `|f| / |∇f|`.
    fn cortex(&self, p: f64, q: f64, depth: f64, edge: f64) -> f64 {
        let levels = &self.levels;
        let radius = length(p, q).max(1e-9);
        let (cos, sin) = (p / radius, q / radius);
        let sulcus_depth =
            self.sulcus_depth * (1.0 + 0.5 * self.noise.noise2(cos * 2.0 - 40.0, sin * 2.0));
        let thickness = self.cortex_thickness;
        let near_surface = smoothstep(thickness + edge, thickness - edge, depth);
        if depth > sulcus_depth + thickness + edge {
            return lerp(levels.white, levels.grey, near_surface);
        }
        let field = |p: f64, q: f64| {
            let radius = length(p, q).max(1e-9);
            let (cos, sin) = (p / radius, q / radius);
            // The angle is warped by slower noise so sulci bend and branch.
            let warp = 0.12 * self.noise.noise3(cos * 2.0, sin * 2.0 - 70.0, depth * 6.0);
            let (warp_sin, warp_cos) = warp.sin_cos();
            let (cos, sin) = (
                cos * warp_cos - sin * warp_sin,
                sin * warp_cos + cos * warp_sin,
            );
            self.noise.noise3(
                cos * SULCUS_CIRCLE_RADIUS + 100.0,
                sin * SULCUS_CIRCLE_RADIUS,
                depth * 2.5,
            )
        };
        let step = 1e-3;
        let value = field(p, q);
        // The slope across the sulci; depth changes slowly along them and is held fixed.
        let slope = length(
            (field(p + step, q) - value) / step,
            (field(p, q + step) - value) / step,
        )
        .max(1e-9);
        let sulcus_distance = value.abs() / slope;
        let lining = smoothstep(thickness + edge, thickness - edge, sulcus_distance)
            * smoothstep(sulcus_depth + thickness, sulcus_depth, depth);
        let grey = near_surface.max(lining);
        let csf_half_width = 0.003 + 0.5 * edge;
        let csf = smoothstep(
            csf_half_width + edge,
            csf_half_width - edge,
            sulcus_distance,
        ) * smoothstep(sulcus_depth, 0.7 * sulcus_depth, depth);
        lerp(
            lerp(levels.white, levels.grey, grey),
            levels.csf,
            0.85 * csf,
        )
    }

    /// Weight of lateral-ventricle CSF at normalised brain point `(p, q)`: two curved horns
    /// beside a thin septum, wide and rounded in front, narrowing and flaring out behind.
    fn ventricles(&self, p: f64, q: f64, edge: f64) -> f64 {
        let half_length = 0.4 * self.ventricle_length;
        let s = (q + 0.08) / half_length;
        if s.abs() >= 1.0 {
            return 0.0;
        }
        let half_width =
            0.1 * self.ventricle_width * (1.0 - s * s).sqrt() * (1.0 - 0.25 * (s + 1.0));
        let flare = 0.1 * (-s).max(0.0).powi(2) + 0.2 * s.max(0.0).powi(2);
        let wobble = 0.006 * self.noise.noise2(p * 12.0 + 500.0, q * 12.0);
        let mut weight: f64 = 0.0;
        for side in [-1.0, 1.0] {
            let centreline = side * (0.012 + half_width + flare);
            let distance = (p - centreline).abs() + wobble;
            weight = weight.max(smoothstep(half_width + edge, half_width - edge, distance));
        }
        weight
    }

    /// Applies the scanner: a smooth multiplicative bias field, then Rician noise (the
    /// magnitude of a complex signal with Gaussian noise in both parts).
    pub fn acquire(&self, image: &mut Canvas, frame: Frame, rng: &mut ChaCha8Rng) {
        let (gx, gy, amplitude) = self.bias;
        for (index, value) in image.data.iter_mut().enumerate() {
            let (x, y) = frame.unit(index);
            let bias =
                1.0 + gx * x + gy * y + amplitude * fbm(&self.noise, x * 0.8 - 300.0, y * 0.8, 2);
            let real = *value * bias + self.noise_sigma * rng.sample::<f64, _>(StandardNormal);
            let imaginary = self.noise_sigma * rng.sample::<f64, _>(StandardNormal);
            *value = length(real, imaginary);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn slice_has_background_scalp_and_brain() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let frame = Frame::new(64, 80);
        let brain = Brain::sample(&mut rng);
        let slice = brain.render(frame);
        // Corners are background, the centre row crosses the brain.
        assert_eq!(slice.tissue.data[0], 0.0);
        assert!(slice.brain_rho[0].is_infinite());
        let inside = slice.brain_rho.iter().filter(|&&rho| rho < 1.0).count();
        let fraction = inside as f64 / frame.len() as f64;
        assert!((0.2..0.6).contains(&fraction), "brain covers {fraction}");
        let max = slice.tissue.data.iter().cloned().fold(0.0, f64::max);
        assert!(max > 0.6 && max < 1.0, "{max}");
    }
}

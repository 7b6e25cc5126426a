//! Drawing primitives shared by the generators: a floating-point canvas, the pixel ↔ unit
//! coordinate frame, fractal gradient-noise fields, lattice hashes and noise-perturbed blobs.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::gradient::GradientNoise;

/// An image of `height × width × channels` values (interleaved, row-major), nominally in
/// [0, 1]; values outside are clipped when quantised to bytes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Canvas {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Values per pixel (1 gray, 3 RGB).
    pub channels: usize,
    /// `height · width · channels` values.
    pub data: Vec<f64>,
}

impl Canvas {
    /// A canvas of `height × width × channels` zeros.
    pub fn new(height: usize, width: usize, channels: usize) -> Self {
        Self {
            height,
            width,
            channels,
            data: vec![0.0; height * width * channels],
        }
    }

    /// The values of pixel `index` (`row · width + col`).
    pub fn pixel(&self, index: usize) -> &[f64] {
        &self.data[index * self.channels..(index + 1) * self.channels]
    }

    /// The values of pixel `index` (`row · width + col`), writable.
    pub fn pixel_mut(&mut self, index: usize) -> &mut [f64] {
        &mut self.data[index * self.channels..(index + 1) * self.channels]
    }

    /// 8-bit values: `round(clamp(v, 0, 1) · 255)`, same layout.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.data
            .iter()
            .map(|&v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
            .collect()
    }

    /// Mean absolute per-value difference from `other` over the pixels where `mask` is set
    /// (0 when the mask is empty).
    pub fn mean_abs_change(&self, other: &Canvas, mask: &[bool]) -> f64 {
        let mut total = 0.0;
        let mut count = 0usize;
        for (index, _) in mask.iter().enumerate().filter(|(_, inside)| **inside) {
            for (a, b) in self.pixel(index).iter().zip(other.pixel(index)) {
                total += (a.clamp(0.0, 1.0) - b.clamp(0.0, 1.0)).abs();
                count += 1;
            }
        }
        if count == 0 {
            0.0
        } else {
            total / count as f64
        }
    }
}

/// Maps pixel centres to *unit* coordinates: origin at the image centre, `x` to the right,
/// `y` down, one unit = half the shorter side. Shapes keep their proportions on non-square
/// images and look alike at every resolution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Frame {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Pixels per unit (half the shorter side).
    pub px_per_unit: f64,
}

impl Frame {
    /// The frame of a `height × width` image.
    pub fn new(height: usize, width: usize) -> Self {
        Self {
            height,
            width,
            px_per_unit: height.min(width) as f64 / 2.0,
        }
    }

    /// Pixels in the image.
    pub fn len(&self) -> usize {
        self.height * self.width
    }

    /// The unit coordinates `(x, y)` of the centre of pixel `index` (`row · width + col`).
    pub fn unit(&self, index: usize) -> (f64, f64) {
        let (row, col) = (index / self.width, index % self.width);
        (
            (col as f64 + 0.5 - self.width as f64 / 2.0) / self.px_per_unit,
            (row as f64 + 0.5 - self.height as f64 / 2.0) / self.px_per_unit,
        )
    }

    /// Half the image extent in units, `(x, y)`: the image spans `[-x, x] × [-y, y]`.
    pub fn half_extent(&self) -> (f64, f64) {
        (
            self.width as f64 / 2.0 / self.px_per_unit,
            self.height as f64 / 2.0 / self.px_per_unit,
        )
    }

    /// One pixel's side in units.
    pub fn pixel_size(&self) -> f64 {
        1.0 / self.px_per_unit
    }

    /// Indices of the pixels whose centres lie in the square of half-side `reach` around
    /// `(x, y)` (unit coordinates), clipped to the image.
    pub fn pixels_near(&self, (x, y): (f64, f64), reach: f64) -> impl Iterator<Item = usize> {
        let to_col = |u: f64| u * self.px_per_unit + self.width as f64 / 2.0 - 0.5;
        let to_row = |v: f64| v * self.px_per_unit + self.height as f64 / 2.0 - 0.5;
        let clip = |t: f64, n: usize| t.clamp(0.0, n as f64 - 1.0) as usize;
        let (col0, col1) = (
            clip(to_col(x - reach).floor(), self.width),
            clip(to_col(x + reach).ceil(), self.width),
        );
        let (row0, row1) = (
            clip(to_row(y - reach).floor(), self.height),
            clip(to_row(y + reach).ceil(), self.height),
        );
        let width = self.width;
        (row0..=row1).flat_map(move |row| (col0..=col1).map(move |col| row * width + col))
    }
}

/// Hermite step from 0 at `edge0` to 1 at `edge1` (either order), clamped outside.
pub(crate) fn smoothstep(edge0: f64, edge1: f64, x: f64) -> f64 {
    let t = ((x - edge0) / (edge1 - edge0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// `√(x² + y²)`, without `hypot`'s (slow) care for overflow: coordinates here are small.
pub(crate) fn length(x: f64, y: f64) -> f64 {
    (x * x + y * y).sqrt()
}

/// `a + (b − a) · t`.
pub(crate) fn lerp(a: f64, b: f64, t: f64) -> f64 {
    a + (b - a) * t
}

/// Fractal sum of `octaves` 2-D gradient-noise octaves (lacunarity 2, gain ½) at `(x, y)`,
/// divided by the sum of amplitudes: roughly in [-1, 1], features about one unit of `(x, y)`
/// wide.
pub(crate) fn fbm(noise: &GradientNoise, x: f64, y: f64, octaves: u32) -> f64 {
    let (mut total, mut amplitude, mut norm, mut scale) = (0.0, 1.0, 0.0, 1.0);
    for octave in 0..octaves {
        // Shift every octave so their lattices do not line up at the origin.
        let shift = 17.31 * f64::from(octave);
        total += amplitude * noise.noise2(x * scale + shift, y * scale - shift);
        norm += amplitude;
        amplitude *= 0.5;
        scale *= 2.0;
    }
    total / norm
}

/// SplitMix64 finaliser: a well-mixed 64-bit hash of `x`.
pub(crate) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Two independent values, uniform in [0, 1), for the lattice cell `(i, j)` under `seed`.
pub(crate) fn lattice_pair(seed: u64, i: i64, j: i64) -> (f64, f64) {
    let key = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (j as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    let h = splitmix64(seed ^ key);
    let scale = 1.0 / (1u64 << 32) as f64;
    ((h >> 32) as f64 * scale, (h & 0xFFFF_FFFF) as f64 * scale)
}

/// A value drawn log-uniformly from `[low, high)` (small values as likely as large ones
/// relative to their size).
pub(crate) fn log_uniform(rng: &mut ChaCha8Rng, low: f64, high: f64) -> f64 {
    rng.random_range(low.ln()..high.ln()).exp()
}

/// `(x, y)` rotated by `-angle` (into the frame of a shape rotated by `angle`).
pub(crate) fn unrotate((x, y): (f64, f64), angle: f64) -> (f64, f64) {
    let (sin, cos) = angle.sin_cos();
    (x * cos + y * sin, -x * sin + y * cos)
}

/// An ellipse whose boundary radius is perturbed by noise along the angle: the shape of
/// lesions, holes, stains and patches. Coordinates in units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Blob {
    /// Centre `(x, y)`.
    pub centre: (f64, f64),
    /// Mean radius along the major axis.
    pub radius: f64,
    /// Minor / major axis ratio in (0, 1].
    pub aspect: f64,
    /// Rotation of the major axis, radians.
    pub angle: f64,
    /// Relative amplitude of the boundary perturbation (0 = a clean ellipse).
    pub roughness: f64,
    /// Where the boundary noise is read (decorrelates blobs sharing one noise instance).
    pub noise_offset: f64,
}

impl Blob {
    /// Largest distance from the centre any boundary point can have.
    pub fn reach(&self) -> f64 {
        self.radius * (1.0 + self.roughness)
    }

    /// Normalised radius of `(x, y)`: below 1 inside the blob, 1 on its boundary, growing
    /// outwards.
    pub fn rho(&self, noise: &GradientNoise, x: f64, y: f64) -> f64 {
        let (u, v) = unrotate((x - self.centre.0, y - self.centre.1), self.angle);
        let v = v / self.aspect;
        let r = length(u, v);
        if r == 0.0 {
            return 0.0;
        }
        // Noise read on a circle of radius 1.5 in noise space: periodic in the angle.
        let (ct, st) = (u / r, v / r);
        let wobble = fbm(
            noise,
            1.5 * ct + self.noise_offset,
            1.5 * st - self.noise_offset,
            3,
        );
        r / (self.radius * (1.0 + self.roughness * wobble))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_centres_the_origin_on_non_square_images() {
        let frame = Frame::new(4, 6);
        assert_eq!(frame.px_per_unit, 2.0);
        assert_eq!(frame.unit(0), (-1.25, -0.75));
        assert_eq!(frame.unit(4 * 6 - 1), (1.25, 0.75));
        assert_eq!(frame.half_extent(), (1.5, 1.0));
    }

    #[test]
    fn pixels_near_clips_to_the_image() {
        let frame = Frame::new(5, 7);
        let all: Vec<usize> = frame.pixels_near((0.0, 0.0), 100.0).collect();
        assert_eq!(all, (0..35).collect::<Vec<_>>());
        let one: Vec<usize> = frame.pixels_near(frame.unit(17), 0.01).collect();
        assert!(one.contains(&17) && one.len() <= 9, "{one:?}");
    }

    #[test]
    fn smoothstep_goes_either_way() {
        assert_eq!(smoothstep(0.0, 1.0, -1.0), 0.0);
        assert_eq!(smoothstep(0.0, 1.0, 0.5), 0.5);
        assert_eq!(smoothstep(1.0, 0.0, 0.0), 1.0);
    }

    #[test]
    fn blob_rho_is_one_on_a_clean_boundary() {
        let noise = GradientNoise::new(1);
        let blob = Blob {
            centre: (0.5, -0.25),
            radius: 0.2,
            aspect: 0.5,
            angle: 0.0,
            roughness: 0.0,
            noise_offset: 0.0,
        };
        assert!((blob.rho(&noise, 0.7, -0.25) - 1.0).abs() < 1e-12);
        assert!((blob.rho(&noise, 0.5, -0.15) - 1.0).abs() < 1e-12);
        assert_eq!(blob.rho(&noise, 0.5, -0.25), 0.0);
    }

    #[test]
    fn lattice_hash_is_uniform_and_deterministic() {
        let values: Vec<f64> = (0..1000)
            .flat_map(|i| {
                let (a, b) = lattice_pair(7, i, -i);
                [a, b]
            })
            .collect();
        assert!(values.iter().all(|v| (0.0..1.0).contains(v)));
        let mean = values.iter().sum::<f64>() / 2000.0;
        assert!((mean - 0.5).abs() < 0.05, "{mean}");
        assert_eq!(lattice_pair(7, 3, 4), lattice_pair(7, 3, 4));
        assert_ne!(lattice_pair(7, 3, 4), lattice_pair(8, 3, 4));
        assert_ne!(lattice_pair(7, 3, 4), lattice_pair(7, 4, 3));
    }
}

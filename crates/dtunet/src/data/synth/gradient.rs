//! Seeded gradient noise (Perlin's 2002 "improved noise") in 2-D and 3-D for the generators.
//!
//! The project's OpenSimplex (`dtunet-noise`) is bit-compatible with the Python package, which
//! makes it cost about 80 ns a sample; a phantom needs some twenty samples per pixel, so the
//! generators use this classic lattice noise (a few ns a sample) instead. Its values are
//! continuous, zero on lattice points and within about [-1, 1].

use super::canvas::splitmix64;

/// A seeded Perlin gradient-noise instance (a shuffled permutation of `0..256`, doubled).
#[derive(Clone)]
pub(crate) struct GradientNoise {
    perm: [u8; 512],
}

impl std::fmt::Debug for GradientNoise {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GradientNoise").finish_non_exhaustive()
    }
}

/// Perlin's fade curve `6t⁵ − 15t⁴ + 10t³`.
#[inline(always)]
fn fade(t: f64) -> f64 {
    t * t * t * (t * (t * 6.0 - 15.0) + 10.0)
}

#[inline(always)]
fn lerp(a: f64, b: f64, t: f64) -> f64 {
    a + t * (b - a)
}

/// Integer lattice cell (wrapped to 0..256) and the offset inside it. Floors without a libm
/// call (`f64::floor` is one on baseline x86-64); exact for the finite coordinates used here.
#[inline(always)]
fn split(v: f64) -> (usize, f64) {
    let truncated = v as i64;
    let floor = truncated - i64::from((truncated as f64) > v);
    ((floor & 255) as usize, v - floor as f64)
}

/// Dot product of the point offset with one of eight 2-D gradients.
#[inline(always)]
fn grad2(hash: u8, x: f64, y: f64) -> f64 {
    match hash & 7 {
        0 => x + y,
        1 => -x + y,
        2 => x - y,
        3 => -x - y,
        4 => x,
        5 => -x,
        6 => y,
        _ => -y,
    }
}

/// Dot product of the point offset with one of the twelve cube-edge gradients (Perlin 2002).
#[inline(always)]
fn grad3(hash: u8, x: f64, y: f64, z: f64) -> f64 {
    let h = hash & 15;
    let u = if h < 8 { x } else { y };
    let v = if h < 4 {
        y
    } else if h == 12 || h == 14 {
        x
    } else {
        z
    };
    (if h & 1 == 0 { u } else { -u }) + (if h & 2 == 0 { v } else { -v })
}

impl GradientNoise {
    /// The instance for `seed` (a Fisher–Yates shuffle driven by SplitMix64).
    pub fn new(seed: u64) -> Self {
        let mut table: [u8; 256] = std::array::from_fn(|i| i as u8);
        let mut state = seed;
        for i in (1..256usize).rev() {
            state = splitmix64(state);
            table.swap(i, (state % (i as u64 + 1)) as usize);
        }
        Self {
            perm: std::array::from_fn(|i| table[i & 255]),
        }
    }

    #[inline(always)]
    fn hash(&self, partial: usize, next: usize) -> usize {
        usize::from(self.perm[partial]) + next
    }

    /// Noise at `(x, y)`, in about [-1, 1]; features about one unit wide.
    pub fn noise2(&self, x: f64, y: f64) -> f64 {
        let ((xi, xf), (yi, yf)) = (split(x), split(y));
        let (u, v) = (fade(xf), fade(yf));
        let a = self.hash(xi, yi);
        let b = self.hash(xi + 1, yi);
        let p = &self.perm;
        let bottom = lerp(grad2(p[a], xf, yf), grad2(p[b], xf - 1.0, yf), u);
        let top = lerp(
            grad2(p[a + 1], xf, yf - 1.0),
            grad2(p[b + 1], xf - 1.0, yf - 1.0),
            u,
        );
        lerp(bottom, top, v)
    }

    /// Noise at `(x, y, z)`, in about [-1, 1]; features about one unit wide.
    pub fn noise3(&self, x: f64, y: f64, z: f64) -> f64 {
        let ((xi, xf), (yi, yf), (zi, zf)) = (split(x), split(y), split(z));
        let (u, v, w) = (fade(xf), fade(yf), fade(zf));
        let a = self.hash(xi, yi);
        let b = self.hash(xi + 1, yi);
        let (aa, ab) = (self.hash(a, zi), self.hash(a + 1, zi));
        let (ba, bb) = (self.hash(b, zi), self.hash(b + 1, zi));
        let p = &self.perm;
        let near = lerp(
            lerp(grad3(p[aa], xf, yf, zf), grad3(p[ba], xf - 1.0, yf, zf), u),
            lerp(
                grad3(p[ab], xf, yf - 1.0, zf),
                grad3(p[bb], xf - 1.0, yf - 1.0, zf),
                u,
            ),
            v,
        );
        let far = lerp(
            lerp(
                grad3(p[aa + 1], xf, yf, zf - 1.0),
                grad3(p[ba + 1], xf - 1.0, yf, zf - 1.0),
                u,
            ),
            lerp(
                grad3(p[ab + 1], xf, yf - 1.0, zf - 1.0),
                grad3(p[bb + 1], xf - 1.0, yf - 1.0, zf - 1.0),
                u,
            ),
            v,
        );
        lerp(near, far, w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_on_the_lattice_bounded_and_seeded() {
        let noise = GradientNoise::new(9);
        assert_eq!(noise.noise2(3.0, -7.0), 0.0);
        assert_eq!(noise.noise3(3.0, -7.0, 1.0), 0.0);
        let samples: Vec<(f64, f64)> = (0..20_000)
            .map(|i| {
                let t = i as f64 * 0.0731;
                (
                    noise.noise2(t, t * 0.37 - 5.0),
                    noise.noise3(t * 0.61, -t, t * 0.23),
                )
            })
            .collect();
        for (two, three) in &samples {
            assert!(two.abs() <= 1.0 && three.abs() <= 1.1);
        }
        let spread = samples.iter().map(|(a, _)| a * a).sum::<f64>() / samples.len() as f64;
        assert!(spread.sqrt() > 0.1, "flat noise: rms {}", spread.sqrt());
        let other = GradientNoise::new(10);
        assert_ne!(noise.noise2(0.5, 0.25), other.noise2(0.5, 0.25));
        assert_eq!(
            noise.noise2(0.5, 0.25),
            GradientNoise::new(9).noise2(0.5, 0.25)
        );
    }

    #[test]
    fn continuous_across_cell_edges() {
        let noise = GradientNoise::new(1);
        for edge in [-1.0, 0.0, 1.0, 255.0, 256.0] {
            let (below, above) = (
                noise.noise2(edge - 1e-9, 0.3),
                noise.noise2(edge + 1e-9, 0.3),
            );
            assert!((below - above).abs() < 1e-6, "{edge}");
            let (below, above) = (
                noise.noise3(0.3, edge - 1e-9, 0.7),
                noise.noise3(0.3, edge + 1e-9, 0.7),
            );
            assert!((below - above).abs() < 1e-6, "{edge}");
        }
    }
}

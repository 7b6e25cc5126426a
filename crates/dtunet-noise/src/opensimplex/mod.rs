//! OpenSimplex noise (Kurt Spencer, 2014) exactly as the Python package `opensimplex` 0.4.5.1
//! computes it: the same seeding, permutation tables, gradients and operation order, so values
//! agree with `opensimplex.noise2/noise3/noise4` to the last few ulps for every `i64` seed.
//!
//! The evaluation kernels live in [`kernels`](self) (generated from the package's source by
//! `tools/port_opensimplex.py`); this module owns the seeded tables they read.

pub mod constants;
mod ext_vertices4;
#[allow(clippy::all, unused_assignments)]
mod kernels;
mod row4;

use constants::{GRADIENTS2, GRADIENTS3, GRADIENTS4};

/// Multiplier of the 64-bit linear congruential generator the package seeds with.
const LCG_MULTIPLIER: i64 = 6364136223846793005;
/// Increment of the 64-bit linear congruential generator the package seeds with.
const LCG_INCREMENT: i64 = 1442695040888963407;

/// One seeded OpenSimplex noise instance (2-D, 3-D and 4-D share the permutation).
///
/// Cheap to build (a 256-step shuffle) and `Sync`: one instance may be evaluated from many
/// threads at once.
#[derive(Clone)]
pub struct OpenSimplex {
    seed: i64,
    /// The seeded permutation of `0..256`.
    perm: [u8; 256],
    /// 2-D gradient reached through `perm[j]`: `GRADIENTS2[perm[j] & 0x0E ..][..2]`.
    grad2_at: [[f64; 2]; 256],
    /// 3-D gradient reached through `perm[j]`: `GRADIENTS3[perm_grad_index3[j] ..][..3]`.
    grad3_at: [[f64; 3]; 256],
    /// 4-D gradient reached through `perm[j]`: `GRADIENTS4[perm[j] & 0xFC ..][..4]`.
    grad4_at: [[f64; 4]; 256],
    /// The same 4-D gradients as bytes `gx | gy << 8 | gz << 16 | gw << 24` (components are
    /// ±1 or ±3), read four lanes at a time by the row evaluator.
    grad4_packed: [u32; 256],
}

impl std::fmt::Debug for OpenSimplex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenSimplex")
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

/// `floor(v)` as an integer, without a libm call: equal to `v.floor() as i64` for every `f64`
/// (saturating at the `i64` bounds, 0 for NaN), as numba's `math.floor` for the package's range.
#[inline(always)]
fn floor_to_i64(v: f64) -> i64 {
    let truncated = v as i64;
    truncated.saturating_sub(i64::from(truncated as f64 > v))
}

/// One step of the package's 64-bit LCG (`_overflow(seed * A + C)`, wrapping like `c_int64`).
fn lcg_step(state: i64) -> i64 {
    state
        .wrapping_mul(LCG_MULTIPLIER)
        .wrapping_add(LCG_INCREMENT)
}

impl OpenSimplex {
    /// Builds the tables for `seed` exactly as `opensimplex.OpenSimplex(seed)` does.
    ///
    /// The shuffle index is `(state + 31) mod (i + 1)` computed on unbounded integers with a
    /// non-negative (Python, floored) result — `state + 31` is *not* wrapped, which matters for
    /// states within 31 of `i64::MAX`.
    pub fn new(seed: i64) -> Self {
        let mut source: [u8; 256] = std::array::from_fn(|i| i as u8);
        let mut perm = [0u8; 256];
        let mut perm_grad_index3 = [0u8; 256];
        let mut state = lcg_step(lcg_step(lcg_step(seed)));
        for i in (0..256usize).rev() {
            state = lcg_step(state);
            let r = (i128::from(state) + 31).rem_euclid(i as i128 + 1) as usize;
            perm[i] = source[r];
            perm_grad_index3[i] = (perm[i] % 24) * 3;
            source[r] = source[i];
        }
        let grad2_at = std::array::from_fn(|j| {
            let index = usize::from(perm[j] & 0x0E);
            std::array::from_fn(|k| f64::from(GRADIENTS2[index + k]))
        });
        let grad3_at = std::array::from_fn(|j| {
            let index = usize::from(perm_grad_index3[j]);
            std::array::from_fn(|k| f64::from(GRADIENTS3[index + k]))
        });
        let grad4_at = std::array::from_fn(|j| {
            let index = usize::from(perm[j] & 0xFC);
            std::array::from_fn(|k| f64::from(GRADIENTS4[index + k]))
        });
        let grad4_packed = std::array::from_fn(|j| {
            let index = usize::from(perm[j] & 0xFC);
            u32::from_le_bytes(std::array::from_fn(|k| GRADIENTS4[index + k] as u8))
        });
        Self {
            seed,
            perm,
            grad2_at,
            grad3_at,
            grad4_at,
            grad4_packed,
        }
    }

    /// The seed this instance was built from.
    pub fn seed(&self) -> i64 {
        self.seed
    }

    /// The seeded permutation of `0..256` (the package's `perm` array).
    pub fn permutation(&self) -> &[u8; 256] {
        &self.perm
    }

    /// Adds `amplitude · noise4(xs[i], y, z, w)` to `values[i]` for a row of points that share
    /// `y`, `z` and `w` (one octave of a Tsimplex image row).
    ///
    /// Every point runs the package's own vertex selection: a vertex-major shortcut (sum every
    /// lattice kernel that reaches the row) is *not* equivalent, because the package's 4-D
    /// selection omits kernels that are still positive (differences up to 4e-4 were
    /// measured). On x86-64 CPUs with AVX2 and FMA the row goes through a branch-free four-lane
    /// evaluator of that selection (agreeing with [`OpenSimplex::noise4`] to a few ulps);
    /// elsewhere, and for coordinates beyond 1e9 or non-finite ones, through `noise4` itself.
    ///
    /// # Panics
    /// If `values` and `xs` differ in length.
    pub fn add_noise4_row(
        &self,
        values: &mut [f64],
        xs: &[f64],
        y: f64,
        z: f64,
        w: f64,
        amplitude: f64,
    ) {
        assert_eq!(values.len(), xs.len(), "one x coordinate per value");
        if self.try_add_noise4_row_in_lanes(values, xs, y, z, w, amplitude) {
            return;
        }
        for (value, &x) in values.iter_mut().zip(xs) {
            *value += amplitude * self.noise4(x, y, z, w);
        }
    }

    /// `perm[(perm[a & 0xFF] + b) & 0xFF]`, the package's chained lattice hash step, done on
    /// bytes (wrapping `u8` addition is addition modulo 256).
    #[inline(always)]
    fn hash_step(&self, partial: u8, next: i64) -> u8 {
        self.perm[usize::from(partial.wrapping_add(next as u8))]
    }

    #[inline(always)]
    fn extrapolate2(&self, xsb: i64, ysb: i64, dx: f64, dy: f64) -> f64 {
        let j = self.perm[usize::from(xsb as u8)].wrapping_add(ysb as u8);
        let [gx, gy] = self.grad2_at[usize::from(j)];
        gx * dx + gy * dy
    }

    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn extrapolate3(&self, xsb: i64, ysb: i64, zsb: i64, dx: f64, dy: f64, dz: f64) -> f64 {
        let j = self
            .hash_step(self.perm[usize::from(xsb as u8)], ysb)
            .wrapping_add(zsb as u8);
        let [gx, gy, gz] = self.grad3_at[usize::from(j)];
        gx * dx + gy * dy + gz * dz
    }

    /// The package's lattice hash of stretched-lattice vertex `[xsb, ysb, zsb, wsb]`,
    /// `perm[perm[perm[xsb] + ysb] + zsb] + wsb` on bytes: the index of its gradient in
    /// `grad4_at` and `grad4_packed`.
    #[inline(always)]
    fn gradient_index4(&self, [xsb, ysb, zsb, wsb]: [i64; 4]) -> u8 {
        let xy = self.hash_step(self.perm[usize::from(xsb as u8)], ysb);
        self.hash_step(xy, zsb).wrapping_add(wsb as u8)
    }

    /// The gradient of stretched-lattice vertex `[xsb, ysb, zsb, wsb]`.
    #[inline(always)]
    fn gradient4(&self, vertex: [i64; 4]) -> [f64; 4] {
        self.grad4_at[usize::from(self.gradient_index4(vertex))]
    }

    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn extrapolate4(
        &self,
        xsb: i64,
        ysb: i64,
        zsb: i64,
        wsb: i64,
        dx: f64,
        dy: f64,
        dz: f64,
        dw: f64,
    ) -> f64 {
        let [gx, gy, gz, gw] = self.gradient4([xsb, ysb, zsb, wsb]);
        gx * dx + gy * dy + gz * dz + gw * dw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_to_i64_equals_floor_cast() {
        for v in [
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.0,
            -1.0,
            2.999,
            -2.999,
            1e15 + 0.5,
            -1e15 - 0.5,
            1e300,
            -1e300,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            9.3e18,
            -9.3e18,
        ] {
            assert_eq!(floor_to_i64(v), v.floor() as i64, "{v}");
        }
    }

    #[test]
    fn permutation_is_a_permutation_for_extreme_seeds() {
        for seed in [0, 3, -1, i64::MIN, i64::MAX] {
            let mut seen = [false; 256];
            for &p in OpenSimplex::new(seed).permutation() {
                seen[usize::from(p)] = true;
            }
            assert!(seen.iter().all(|&s| s), "seed {seed}");
        }
    }

    /// The docstring values of the package's API (`api.py`, default seed 3).
    #[test]
    fn matches_package_docstrings_for_default_seed() {
        let noise = OpenSimplex::new(3);
        assert!((noise.noise2(0.5, 0.5) - -0.43906247097569345).abs() < 1e-15);
        assert!((noise.noise3(0.5, 0.5, 0.5) - 0.39504955501618155).abs() < 1e-15);
        assert!((noise.noise4(0.5, 0.5, 0.5, 0.5) - 0.04520359600370195).abs() < 1e-15);
    }
}

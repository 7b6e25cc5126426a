//! Rows of 4-D OpenSimplex evaluated four points at a time, without data-dependent branches.
//!
//! Every point runs the package's own selection (region, closest-vertex tournament, three extra
//! vertices), but as lane-wise compares and selects instead of `if` chains, and the extra
//! vertices come from a table of the package's selection cases ([`super::ext_vertices4`]). A
//! point of the inner region sums the same 13 kernels as the scalar `noise4`, a point of a
//! corner pentachoron the same 8; only the summation order differs, so values agree with the
//! package to a few ulps (fused multiply-adds included).
//!
//! Along an image row only `x` varies, so four points in the same super-cell share the `y, z, w`
//! parts of every vertex displacement: each kernel reduces to `attn = base − dx²` and
//! `g·d = gx·dx + rest` with per-vertex constants, computed once per super-cell for its 16
//! hypercube vertices and reused by the following blocks of the row (the coarse octaves of a
//! Tsimplex field put 25–50 points in a cell). Blocks spanning several cells gather gradients
//! per lane.
//!
//! Written with AVX2 and FMA intrinsics (x86-64 only) and chosen at run time where the CPU has
//! both; elsewhere rows use the scalar kernel.
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]

use super::OpenSimplex;
use super::ext_vertices4::{ExtraVertices, extra_vertices};

/// Selection keys: `region << 10 | flag_a << 9 | flag_b << 8 | a_po << 4 | b_po`, the outcome of
/// the package's tournament (see [`selection_case`]).
const KEYS: usize = 4 << 10;

/// Coordinates beyond this magnitude go to the scalar kernel: stretched coordinates stay under
/// 1.6e9, so lattice indices fit the lanes' `i32` conversion, and non-finite input keeps the
/// scalar kernel's handling.
const LANE_COORDINATE_LIMIT: f64 = 1e9;

/// One selection key's extra vertices, compacted for the lookup table.
#[derive(Clone, Copy)]
struct ExtraEntry {
    /// Added to the origin displacement `[dx0, dy0, dz0, dw0]`, per extra vertex.
    displacement: [[f64; 4]; 3],
    /// Lattice offsets from the super-cell origin, per extra vertex.
    lattice: [[i8; 4]; 3],
}

/// The package's selection case and closest-vertex codes `(case, c1, c2)` for a key.
///
/// Regions: 0 `in_sum ≤ 1`, 1 `in_sum ≥ 3` (flag a: the corner vertex is one of the two
/// closest; flag b: b scores above a), 2 and 3 the first and second dispentachoron (flags: a
/// and b are on the bigger side).
const fn selection_case(key: usize) -> (usize, i64, i64) {
    let (region, flag_a, flag_b) = (key >> 10, (key >> 9) & 1 == 1, (key >> 8) & 1 == 1);
    let (a, b) = (((key >> 4) & 15) as i64, (key & 15) as i64);
    match (region, flag_a, flag_b) {
        (0, true, _) => (0, if flag_b { b } else { a }, 0),
        (0, false, _) => (1, a | b, 0),
        (1, true, _) => (2, if flag_b { b } else { a }, 0),
        (1, false, _) => (3, a & b, 0),
        (2, true, true) => (4, a | b, a & b),
        (_, true, true) => (7, a & b, a | b),
        (_, false, false) => (3 * region - 1, a, b),
        (_, true, false) => (3 * region, a, b),
        (_, false, true) => (3 * region, b, a),
    }
}

const fn compact(vertices: ExtraVertices) -> ExtraEntry {
    let mut lattice = [[0i8; 4]; 3];
    let mut e = 0;
    while e < 3 {
        let mut axis = 0;
        while axis < 4 {
            lattice[e][axis] = vertices.lattice[e][axis] as i8;
            axis += 1;
        }
        e += 1;
    }
    ExtraEntry {
        displacement: vertices.displacement,
        lattice,
    }
}

/// `EXTRA[key]`: the package's extra vertices for every selection key.
static EXTRA: [ExtraEntry; KEYS] = {
    let mut table = [ExtraEntry {
        displacement: [[0.0; 4]; 3],
        lattice: [[0; 4]; 3],
    }; KEYS];
    let mut key = 0;
    while key < KEYS {
        let (case, c1, c2) = selection_case(key);
        table[key] = compact(extra_vertices(case, c1, c2));
        key += 1;
    }
    table
};

impl OpenSimplex {
    /// Adds `amplitude · noise4(xs[i], y, z, w)` to `values[i]` with the AVX2 lane evaluator
    /// when the CPU has AVX2 and FMA and every coordinate is within [`LANE_COORDINATE_LIMIT`]; returns
    /// `false`, changing nothing, when the caller must use the scalar kernel.
    pub(super) fn try_add_noise4_row_in_lanes(
        &self,
        values: &mut [f64],
        xs: &[f64],
        y: f64,
        z: f64,
        w: f64,
        amplitude: f64,
    ) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            let in_range = |v: f64| v.abs() < LANE_COORDINATE_LIMIT;
            let coordinates_fit =
                in_range(y) && in_range(z) && in_range(w) && xs.iter().all(|&x| in_range(x));
            if coordinates_fit
                && std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                // SAFETY: the CPU was just checked for AVX2 and FMA, the function's only requirement.
                #[allow(unsafe_code)]
                unsafe {
                    avx2::add_noise4_row(self, values, xs, y, z, w, amplitude)
                };
                return true;
            }
        }
        let _ = (values, xs, y, z, w, amplitude);
        false
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2;

#[cfg(all(test, target_arch = "x86_64"))]
#[allow(unsafe_code)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Whether this CPU runs the lane evaluator; the lane tests skip, saying so, where not.
    fn cpu_runs_lanes() -> bool {
        let lanes = std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma");
        if !lanes {
            eprintln!("no AVX2 and FMA: rows use the scalar kernel");
        }
        lanes
    }

    /// Every selection case of the package, in both orientations, at random points of many
    /// seeds: the lane evaluator sums the same kernels as the scalar port.
    #[test]
    fn lanes_equal_the_scalar_kernel_in_every_selection_case() {
        if !cpu_runs_lanes() {
            return;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut cases_seen = [0usize; 10];
        let mut worst: f64 = 0.0;
        for seed in [0, -7, 3, i64::MIN, i64::MAX] {
            let noise = OpenSimplex::new(seed);
            for _ in 0..20_000 {
                let scale = [0.01, 1.0, 50.0, 1e4][rng.random_range(0..4)];
                let mut coordinate = || rng.random_range(-scale..scale);
                let (y, z, w) = (coordinate(), coordinate(), coordinate());
                let x: [f64; 4] = std::array::from_fn(|_| coordinate());
                let mut values = [0.0; 4];
                // SAFETY: AVX2 and FMA were checked above.
                unsafe { avx2::add_noise4_row(&noise, &mut values, &x, y, z, w, 1.0) };
                // SAFETY: AVX2 and FMA were checked above.
                let keys = unsafe { avx2::keys_of(x, y, z, w) };
                for l in 0..4 {
                    let scalar = noise.noise4(x[l], y, z, w);
                    worst = worst.max((values[l] - scalar).abs());
                    assert!(
                        (values[l] - scalar).abs() <= 1e-14,
                        "seed {seed} point {:?}: {} vs {scalar}",
                        (x[l], y, z, w),
                        values[l]
                    );
                    cases_seen[selection_case(keys[l]).0] += 1;
                }
            }
        }
        assert!(
            cases_seen.iter().all(|&n| n > 100),
            "cases seen {cases_seen:?}"
        );
        eprintln!("worst |Δ| {worst:e}, cases seen {cases_seen:?}");
    }

    /// Image rows at the periods of the default octave sum (64 … 2 pixels), where most blocks
    /// of the coarse octaves share a super-cell and the fine ones do not: both kernel paths
    /// against the scalar port, negative and large coordinates included.
    #[test]
    fn image_rows_equal_the_scalar_kernel_at_every_octave_period() {
        if !cpu_runs_lanes() {
            return;
        }
        let mut worst: f64 = 0.0;
        let (mut blocks, mut shared_blocks) = ([0usize; 6], [0usize; 6]);
        for seed in [0, -7, i64::MAX] {
            let noise = OpenSimplex::new(seed);
            for (octave, period) in [64.0, 32.0, 16.0, 8.0, 4.0, 2.0].into_iter().enumerate() {
                for (row, shift) in [(0.0, 0.0), (37.0, -500.0), (223.0, 12_345.0)] {
                    let xs: Vec<f64> = (0..224).map(|i| (shift + f64::from(i)) / period).collect();
                    let (y, z, w) = ((row + shift) / period, 2.0 / period, 911.0 / period);
                    for block in xs.chunks_exact(4) {
                        let x = [block[0], block[1], block[2], block[3]];
                        blocks[octave] += 1;
                        // SAFETY: AVX2 and FMA were checked above.
                        shared_blocks[octave] +=
                            usize::from(unsafe { avx2::share_a_cell(x, y, z, w) });
                    }
                    let mut values = vec![0.0; xs.len()];
                    noise.add_noise4_row(&mut values, &xs, y, z, w, 1.0);
                    for (value, &x) in values.iter().zip(&xs) {
                        let scalar = noise.noise4(x, y, z, w);
                        worst = worst.max((value - scalar).abs());
                        assert!(
                            (value - scalar).abs() <= 1e-14,
                            "seed {seed} period {period} point {:?}: {value} vs {scalar}",
                            (x, y, z, w)
                        );
                    }
                }
            }
        }
        // Both paths ran: most blocks of the coarsest octave share a cell, none of the finest.
        assert!(
            shared_blocks[0] * 4 > blocks[0] * 3,
            "{shared_blocks:?} of {blocks:?}"
        );
        assert_eq!(shared_blocks[5], 0, "{shared_blocks:?} of {blocks:?}");
        eprintln!("worst |Δ| {worst:e}, blocks sharing a cell {shared_blocks:?} of {blocks:?}");
    }

    #[test]
    fn rows_out_of_lane_range_use_the_scalar_kernel() {
        let noise = OpenSimplex::new(11);
        let xs = [0.5, 1.5e9, f64::NAN, -3.25, 7.0];
        let mut row = [0.0; 5];
        noise.add_noise4_row(&mut row, &xs, 0.25, 1.5, 2.0, 1.0);
        for (value, &x) in row.iter().zip(&xs) {
            let scalar = noise.noise4(x, 0.25, 1.5, 2.0);
            assert!(
                value.to_bits() == scalar.to_bits(),
                "x {x}: {value} vs {scalar}"
            );
        }
    }
}

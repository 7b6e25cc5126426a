//! Rows of 4-D OpenSimplex evaluated four points at a time, without data-dependent branches.
//!
//! Every point runs the package's own selection (region, closest-vertex tournament, three extra
//! vertices), but as lane-wise compares and selects instead of `if` chains, and the extra
//! vertices come from a table of the package's selection cases ([`super::ext_vertices4`]). A
//! point of the inner region sums the same 13 kernels as the scalar `noise4`, a point of a
//! corner pentachoron the same 8; only the summation order differs, so values agree with the
//! package to a few ulps (fused multiply-adds included). Written with AVX2 and FMA intrinsics
//! (x86-64 only) and chosen at run time where the CPU has both; elsewhere rows use the scalar
//! kernel.
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

/// The lane evaluator in AVX2 and FMA intrinsics. Every function carries both target features, so
/// they inline into each other and are only reachable through the run-time check above.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{EXTRA, OpenSimplex};
    use crate::opensimplex::constants::{NORM_CONSTANT4, SQUISH_CONSTANT4, STRETCH_CONSTANT4};
    use std::arch::x86_64::*;

    /// Four `f64` lanes, one point each.
    type V = __m256d;

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn splat(v: f64) -> V {
        _mm256_set1_pd(v)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn add(a: V, b: V) -> V {
        _mm256_add_pd(a, b)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn sub(a: V, b: V) -> V {
        _mm256_sub_pd(a, b)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn mul(a: V, b: V) -> V {
        _mm256_mul_pd(a, b)
    }

    /// All-ones lanes where `a > b` (ordered, so NaN compares false).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn gt(a: V, b: V) -> V {
        _mm256_cmp_pd::<_CMP_GT_OQ>(a, b)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn ge(a: V, b: V) -> V {
        _mm256_cmp_pd::<_CMP_GE_OQ>(a, b)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn le(a: V, b: V) -> V {
        _mm256_cmp_pd::<_CMP_LE_OQ>(a, b)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn and(a: V, b: V) -> V {
        _mm256_and_pd(a, b)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn or(a: V, b: V) -> V {
        _mm256_or_pd(a, b)
    }

    /// `!mask & v`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn and_not(mask: V, v: V) -> V {
        _mm256_andnot_pd(mask, v)
    }

    /// `if mask { yes } else { no }` per lane.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn select(mask: V, yes: V, no: V) -> V {
        _mm256_blendv_pd(no, yes, mask)
    }

    /// `if mask { yes } else { no }` per lane, for constants.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn choose(mask: V, yes: f64, no: f64) -> V {
        select(mask, splat(yes), splat(no))
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn lanes(v: V) -> [f64; 4] {
        let (low, high) = (_mm256_castpd256_pd128(v), _mm256_extractf128_pd::<1>(v));
        [
            _mm_cvtsd_f64(low),
            _mm_cvtsd_f64(_mm_unpackhi_pd(low, low)),
            _mm_cvtsd_f64(high),
            _mm_cvtsd_f64(_mm_unpackhi_pd(high, high)),
        ]
    }

    /// Four rows `[a, b, c, d]` (one per lane) into four columns (one per axis).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn transpose(rows: [V; 4]) -> [V; 4] {
        let t0 = _mm256_unpacklo_pd(rows[0], rows[1]);
        let t1 = _mm256_unpackhi_pd(rows[0], rows[1]);
        let t2 = _mm256_unpacklo_pd(rows[2], rows[3]);
        let t3 = _mm256_unpackhi_pd(rows[2], rows[3]);
        [
            _mm256_permute2f128_pd::<0x20>(t0, t2),
            _mm256_permute2f128_pd::<0x20>(t1, t3),
            _mm256_permute2f128_pd::<0x31>(t0, t2),
            _mm256_permute2f128_pd::<0x31>(t1, t3),
        ]
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn row(values: [f64; 4]) -> V {
        _mm256_set_pd(values[3], values[2], values[1], values[0])
    }

    /// Position of four points in the stretched lattice, computed with the package's
    /// operations (so the selection sees bit-identical inputs).
    struct Cell {
        /// Super-cell origin per lane, `[x, y, z, w]` (exact: coordinates are bounded).
        origin: [[i32; 4]; 4],
        /// Coordinates inside the super-cell per axis (`xins` …).
        inside: [V; 4],
        in_sum: V,
        /// Displacement from the origin vertex per axis (`dx0` …).
        d0: [V; 4],
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn locate(x: V, y: f64, z: f64, w: f64) -> Cell {
        let coordinates = [x, splat(y), splat(z), splat(w)];
        let total = add(add(add(x, coordinates[1]), coordinates[2]), coordinates[3]);
        let stretch = mul(total, splat(STRETCH_CONSTANT4));
        let stretched = coordinates.map(|c| add(c, stretch));
        let floors =
            stretched.map(|s| _mm256_round_pd::<{ _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC }>(s));
        let squish = mul(
            add(add(add(floors[0], floors[1]), floors[2]), floors[3]),
            splat(SQUISH_CONSTANT4),
        );
        let inside: [V; 4] = std::array::from_fn(|a| sub(stretched[a], floors[a]));
        let integer = floors.map(|f| _mm256_cvttpd_epi32(f));
        let lane = |v: __m128i| {
            [
                _mm_extract_epi32::<0>(v),
                _mm_extract_epi32::<1>(v),
                _mm_extract_epi32::<2>(v),
                _mm_extract_epi32::<3>(v),
            ]
        };
        let per_axis = integer.map(lane);
        Cell {
            origin: std::array::from_fn(|l| std::array::from_fn(|a| per_axis[a][l])),
            in_sum: add(add(add(inside[0], inside[1]), inside[2]), inside[3]),
            d0: std::array::from_fn(|a| sub(coordinates[a], add(floors[a], squish))),
            inside,
        }
    }

    /// The two closest vertices of the package's tournament, with scores oriented so that
    /// larger is closer (the `in_sum ≥ 3` and second-dispentachoron regions compare with `<`;
    /// their scores enter negated, which is exact). Codes and side flags are `f64` lanes.
    struct Closest {
        a: V,
        a_po: V,
        a_bigger_side: V,
        b: V,
        b_po: V,
        b_bigger_side: V,
    }

    impl Closest {
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn new(a: V, a_po: V, b: V, b_po: V) -> Self {
            Self {
                a,
                a_po,
                a_bigger_side: splat(1.0),
                b,
                b_po,
                b_bigger_side: splat(1.0),
            }
        }

        /// `if a ≥ b && p > b { b = p } else if a < b && p > a { a = p }`: `p` (code `po`)
        /// replaces the lower-scored of the two when it scores higher; a tie replaces b.
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn challenge(&mut self, p: V, po: V, bigger_side: f64) {
            let a_not_below_b = ge(self.a, self.b);
            let replace_b = and(a_not_below_b, gt(p, self.b));
            let replace_a = and_not(a_not_below_b, gt(p, self.a));
            let side = splat(bigger_side);
            self.b = select(replace_b, p, self.b);
            self.b_po = select(replace_b, po, self.b_po);
            self.b_bigger_side = select(replace_b, side, self.b_bigger_side);
            self.a = select(replace_a, p, self.a);
            self.a_po = select(replace_a, po, self.a_po);
            self.a_bigger_side = select(replace_a, side, self.a_bigger_side);
        }
    }

    /// Regions of a point, as lane masks, tested in the package's order.
    #[derive(Clone, Copy)]
    struct Regions {
        /// `in_sum ≤ 1`: pentachoron at (0,0,0,0).
        corner_zero: V,
        /// `in_sum ≥ 3`: pentachoron at (1,1,1,1).
        corner_one: V,
        /// Either corner pentachoron.
        corner: V,
        /// `in_sum ≤ 2` (the first dispentachoron or the zero corner).
        lower_half: V,
    }

    impl Regions {
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn of(cell: &Cell) -> Self {
            let corner_zero = le(cell.in_sum, splat(1.0));
            let corner_one = and_not(corner_zero, ge(cell.in_sum, splat(3.0)));
            Self {
                corner_zero,
                corner_one,
                corner: or(corner_zero, corner_one),
                lower_half: le(cell.in_sum, splat(2.0)),
            }
        }
    }

    /// The package's tournament for every lane (corner pentachoron or dispentachoron,
    /// whichever holds the point), as keys into [`EXTRA`].
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn selection_keys(cell: &Cell, regions: &Regions) -> [usize; 4] {
        let [xins, yins, zins, wins] = cell.inside;
        let Regions {
            corner_zero,
            corner_one,
            corner,
            lower_half,
        } = *regions;

        // Corner pentachoron: the two closest of its four non-corner vertices.
        let sign = choose(corner_one, -1.0, 1.0);
        let po = |zero: f64, one: f64| choose(corner_one, one, zero);
        let mut pentachoron = Closest::new(
            mul(sign, xins),
            po(1.0, 14.0),
            mul(sign, yins),
            po(2.0, 13.0),
        );
        pentachoron.challenge(mul(sign, zins), po(4.0, 11.0), 1.0);
        pentachoron.challenge(mul(sign, wins), po(8.0, 7.0), 1.0);
        let uins = mul(sign, sub(choose(corner_one, 4.0, 1.0), cell.in_sum));
        let corner_closest = or(gt(uins, pentachoron.a), gt(uins, pentachoron.b));
        let b_above_a = gt(pentachoron.b, pentachoron.a);

        // Dispentachoron: pairs of two-ones vertices, then the single vertices.
        let sign = choose(lower_half, 1.0, -1.0);
        let po = |first: f64, second: f64| choose(lower_half, first, second);
        let sum = |p: V, q: V| mul(sign, add(p, q));
        let pick = |p: V, q: V, po_p: V, po_q: V| {
            let p_wins = gt(p, q);
            (select(p_wins, p, q), select(p_wins, po_p, po_q))
        };
        let (a, a_po) = pick(
            sum(xins, yins),
            sum(zins, wins),
            po(3.0, 12.0),
            po(12.0, 3.0),
        );
        let (b, b_po) = pick(
            sum(xins, zins),
            sum(yins, wins),
            po(5.0, 10.0),
            po(10.0, 5.0),
        );
        let mut dispentachoron = Closest::new(a, a_po, b, b_po);
        let (third, third_po) = pick(sum(xins, wins), sum(yins, zins), po(9.0, 6.0), po(6.0, 9.0));
        dispentachoron.challenge(third, third_po, 1.0);
        let base = choose(lower_half, 2.0, 3.0);
        let single_po = [po(1.0, 14.0), po(2.0, 13.0), po(4.0, 11.0), po(8.0, 7.0)];
        for (inside, po) in cell.inside.into_iter().zip(single_po) {
            let p = mul(sign, add(sub(base, cell.in_sum), inside));
            dispentachoron.challenge(p, po, 0.0);
        }

        let one = splat(1.0);
        let region = select(
            corner_zero,
            splat(0.0),
            select(corner_one, one, choose(lower_half, 2.0, 3.0)),
        );
        let flag_a = select(
            corner,
            and(corner_closest, one),
            dispentachoron.a_bigger_side,
        );
        let flag_b = select(corner, and(b_above_a, one), dispentachoron.b_bigger_side);
        let a_po = select(corner, pentachoron.a_po, dispentachoron.a_po);
        let b_po = select(corner, pentachoron.b_po, dispentachoron.b_po);
        let key = add(
            add(mul(region, splat(1024.0)), mul(flag_a, splat(512.0))),
            add(mul(flag_b, splat(256.0)), add(mul(a_po, splat(16.0)), b_po)),
        );
        let key = _mm256_cvttpd_epi32(key);
        [
            _mm_extract_epi32::<0>(key) as usize,
            _mm_extract_epi32::<1>(key) as usize,
            _mm_extract_epi32::<2>(key) as usize,
            _mm_extract_epi32::<3>(key) as usize,
        ]
    }

    /// `[x, y, z, w]` lattice offsets of the six vertices with two coordinates 1, summed by
    /// inner-region points.
    const TWO_ONES: [[i32; 4]; 6] = [
        [1, 1, 0, 0],
        [1, 0, 1, 0],
        [1, 0, 0, 1],
        [0, 1, 1, 0],
        [0, 1, 0, 1],
        [0, 0, 1, 1],
    ];

    /// Displacement of lattice offset `o` from the origin: `-(o + Σo · SQUISH)` per axis.
    const fn displacement_of(o: [i32; 4]) -> [f64; 4] {
        let squish = (o[0] + o[1] + o[2] + o[3]) as f64 * SQUISH_CONSTANT4;
        [
            -(o[0] as f64 + squish),
            -(o[1] as f64 + squish),
            -(o[2] as f64 + squish),
            -(o[3] as f64 + squish),
        ]
    }

    /// `UNITS[axis]`: the unit vertex along `axis`; `THREE_ONES[axis]` is its complement.
    const UNITS: [[i32; 4]; 4] = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]];
    const THREE_ONES: [[i32; 4]; 4] = [[0, 1, 1, 1], [1, 0, 1, 1], [1, 1, 0, 1], [1, 1, 1, 0]];

    /// [`displacement_of`] for each of `offsets`, evaluated at compile time.
    const fn displacements<const N: usize>(offsets: [[i32; 4]; N]) -> [[f64; 4]; N] {
        let mut out = [[0.0; 4]; N];
        let mut i = 0;
        while i < N {
            out[i] = displacement_of(offsets[i]);
            i += 1;
        }
        out
    }

    const TWO_ONES_DISPLACEMENT: [[f64; 4]; 6] = displacements(TWO_ONES);
    const UNITS_DISPLACEMENT: [[f64; 4]; 4] = displacements(UNITS);
    const THREE_ONES_DISPLACEMENT: [[f64; 4]; 4] = displacements(THREE_ONES);
    const ALL_ONES_DISPLACEMENT: [f64; 4] = displacement_of([1; 4]);

    /// `noise4(x[l], y, z, w)` for each lane `l`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn noise4(noise: &OpenSimplex, x: V, y: f64, z: f64, w: f64) -> V {
        let cell = locate(x, y, z, w);
        let regions = Regions::of(&cell);
        let Regions {
            corner_zero,
            corner,
            lower_half,
            ..
        } = regions;
        let inner = and_not(corner, all_lanes());
        let mut value = splat(0.0);

        let cube = cell.origin.map(|origin| hypercube_gradients(noise, origin));
        let bits = |o: [i32; 4]| (o[0] | o[1] << 1 | o[2] << 2 | o[3] << 3) as usize;
        // The six vertices with two ones (inner points only).
        for (offset, displacement) in TWO_ONES.into_iter().zip(TWO_ONES_DISPLACEMENT) {
            let gradients = cube.map(|lane| lane[bits(offset)]);
            add_vertex(
                noise,
                &mut value,
                &cell,
                gradients,
                displacement.map(|d| splat(d)),
                inner,
            );
        }
        // The four unit vertices (`in_sum ≤ 2`) or the four three-ones vertices (above).
        let lower_lanes = lanes(lower_half).map(|m| m.to_bits() != 0);
        for axis in 0..4 {
            let (unit, three) = (bits(UNITS[axis]), bits(THREE_ONES[axis]));
            let gradients: [u8; 4] =
                std::array::from_fn(|l| cube[l][if lower_lanes[l] { unit } else { three }]);
            let (unit_d, three_d) = (UNITS_DISPLACEMENT[axis], THREE_ONES_DISPLACEMENT[axis]);
            let displacement: [V; 4] =
                std::array::from_fn(|a| choose(lower_half, unit_d[a], three_d[a]));
            add_vertex(
                noise,
                &mut value,
                &cell,
                gradients,
                displacement,
                all_lanes(),
            );
        }
        // The corner vertex, (0,0,0,0) or (1,1,1,1) (corner points only).
        {
            let zero_lanes = lanes(corner_zero).map(|m| m.to_bits() != 0);
            let gradients: [u8; 4] =
                std::array::from_fn(|l| cube[l][if zero_lanes[l] { 0 } else { 15 }]);
            let displacement: [V; 4] =
                std::array::from_fn(|a| choose(corner_zero, 0.0, ALL_ONES_DISPLACEMENT[a]));
            add_vertex(noise, &mut value, &cell, gradients, displacement, corner);
        }

        // The three extra vertices of the package's selection.
        let keys = selection_keys(&cell, &regions);
        let entries = keys.map(|key| &EXTRA[key]);
        for e in 0..3 {
            let gradients: [u8; 4] = std::array::from_fn(|l| {
                let offset = entries[l].lattice[e];
                noise.gradient_index4(std::array::from_fn(|a| {
                    i64::from(cell.origin[l][a]) + i64::from(offset[a])
                }))
            });
            let displacement = transpose(entries.map(|entry| row(entry.displacement[e])));
            add_vertex(
                noise,
                &mut value,
                &cell,
                gradients,
                displacement,
                all_lanes(),
            );
        }
        _mm256_div_pd(value, splat(NORM_CONSTANT4))
    }

    /// A mask with every lane set.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn all_lanes() -> V {
        _mm256_castsi256_pd(_mm256_set1_epi64x(-1))
    }

    /// `OpenSimplex::gradient_index4` of the 16 vertices `origin + o`, `o ∈ {0,1}⁴`, indexed by
    /// `o_x | o_y << 1 | o_z << 2 | o_w << 3`, sharing the hash prefixes (14 table reads
    /// instead of 48).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn hypercube_gradients(noise: &OpenSimplex, origin: [i32; 4]) -> [u8; 16] {
        let [x, y, z, w] = origin.map(|c| c as u8);
        let perm = &noise.perm;
        let px = [perm[usize::from(x)], perm[usize::from(x.wrapping_add(1))]];
        let pxy: [u8; 4] = std::array::from_fn(|i| {
            perm[usize::from(px[i & 1].wrapping_add(y).wrapping_add((i >> 1) as u8))]
        });
        let pxyz: [u8; 8] = std::array::from_fn(|i| {
            perm[usize::from(pxy[i & 3].wrapping_add(z).wrapping_add((i >> 2) as u8))]
        });
        std::array::from_fn(|i| pxyz[i & 7].wrapping_add(w).wrapping_add((i >> 3) as u8))
    }

    /// Four packed gradients (one per lane, bytes `gx gy gz gw`) as four axis vectors.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn unpack_gradients(packed: [u32; 4]) -> [V; 4] {
        let packed = _mm_set_epi32(
            packed[3] as i32,
            packed[2] as i32,
            packed[1] as i32,
            packed[0] as i32,
        );
        [
            _mm256_cvtepi32_pd(_mm_srai_epi32::<24>(_mm_slli_epi32::<24>(packed))),
            _mm256_cvtepi32_pd(_mm_srai_epi32::<24>(_mm_slli_epi32::<16>(packed))),
            _mm256_cvtepi32_pd(_mm_srai_epi32::<24>(_mm_slli_epi32::<8>(packed))),
            _mm256_cvtepi32_pd(_mm_srai_epi32::<24>(packed)),
        ]
    }

    /// Adds the kernel of the vertex with gradient index `gradients[l]` and displacement
    /// `d0 + displacement` to the lanes where `active`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn add_vertex(
        noise: &OpenSimplex,
        value: &mut V,
        cell: &Cell,
        gradients: [u8; 4],
        displacement: [V; 4],
        active: V,
    ) {
        let d: [V; 4] = std::array::from_fn(|a| add(cell.d0[a], displacement[a]));
        let attn = _mm256_fnmadd_pd(
            d[3],
            d[3],
            _mm256_fnmadd_pd(
                d[2],
                d[2],
                _mm256_fnmadd_pd(d[1], d[1], _mm256_fnmadd_pd(d[0], d[0], splat(2.0))),
            ),
        );
        let [gx, gy, gz, gw] =
            unpack_gradients(gradients.map(|j| noise.grad4_packed[usize::from(j)]));
        let extrapolated = _mm256_fmadd_pd(
            gw,
            d[3],
            _mm256_fmadd_pd(gz, d[2], _mm256_fmadd_pd(gy, d[1], mul(gx, d[0]))),
        );
        let attn2 = mul(attn, attn);
        let kernel = mul(mul(attn2, attn2), extrapolated);
        let contributes = and(gt(attn, splat(0.0)), active);
        *value = add(*value, and(contributes, kernel));
    }

    /// [`OpenSimplex::add_noise4_row`] four points at a time; the last `len % 4` points use
    /// the scalar kernel.
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn add_noise4_row(
        noise: &OpenSimplex,
        values: &mut [f64],
        xs: &[f64],
        y: f64,
        z: f64,
        w: f64,
        amplitude: f64,
    ) {
        let mut value_chunks = values.chunks_exact_mut(4);
        let mut x_chunks = xs.chunks_exact(4);
        for (value, x) in (&mut value_chunks).zip(&mut x_chunks) {
            let noise_values = lanes(noise4(noise, row([x[0], x[1], x[2], x[3]]), y, z, w));
            for (v, n) in value.iter_mut().zip(noise_values) {
                *v += amplitude * n;
            }
        }
        for (value, &x) in value_chunks
            .into_remainder()
            .iter_mut()
            .zip(x_chunks.remainder())
        {
            *value += amplitude * noise.noise4(x, y, z, w);
        }
    }

    /// The selection keys of four points, for tests.
    #[cfg(test)]
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn keys_of(x: [f64; 4], y: f64, z: f64, w: f64) -> [usize; 4] {
        let cell = locate(row(x), y, z, w);
        selection_keys(&cell, &Regions::of(&cell))
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
#[allow(unsafe_code)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Every selection case of the package, in both orientations, at random points of many
    /// seeds: the lane evaluator sums the same kernels as the scalar port.
    #[test]
    fn lanes_equal_the_scalar_kernel_in_every_selection_case() {
        if !(std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma"))
        {
            eprintln!("no AVX2 and FMA: rows use the scalar kernel");
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

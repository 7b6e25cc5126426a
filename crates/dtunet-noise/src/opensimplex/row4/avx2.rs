//! The lane evaluator in AVX2 and FMA intrinsics. Every function carries both target features, so
//! they inline into each other and are only reachable through the run-time check of
//! [`OpenSimplex::try_add_noise4_row_in_lanes`](super::OpenSimplex).

use super::{EXTRA, KEYS, OpenSimplex};
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

/// `[x, y, z, w]` lattice offsets of the 16 hypercube vertices, indexed by
/// `o_x | o_y << 1 | o_z << 2 | o_w << 3` (the order of [`hypercube_gradients`]).
const fn hypercube_offsets() -> [[i32; 4]; 16] {
    let mut offsets = [[0; 4]; 16];
    let mut bits = 0;
    while bits < 16 {
        let b = bits as i32;
        offsets[bits] = [b & 1, (b >> 1) & 1, (b >> 2) & 1, (b >> 3) & 1];
        bits += 1;
    }
    offsets
}

const HYPERCUBE_DISPLACEMENT: [[f64; 4]; 16] = displacements(hypercube_offsets());

/// Index of hypercube vertex `o` in [`hypercube_gradients`] order.
const fn bits(o: [i32; 4]) -> usize {
    (o[0] | o[1] << 1 | o[2] << 2 | o[3] << 3) as usize
}

/// [`bits`] of the [`TWO_ONES`] vertices.
const TWO_ONES_BITS: [usize; 6] = {
    let mut out = [0; 6];
    let mut i = 0;
    while i < 6 {
        out[i] = bits(TWO_ONES[i]);
        i += 1;
    }
    out
};

/// Per lane, `0` where `lower_half` and `15` above it: the hypercube index of a vertex of
/// the lower half XOR this gives its mirror (unit vertex ↔ three-ones vertex along the same
/// axis, the zero corner ↔ the ones corner), the vertex the upper half sums instead.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn mirror_of(lower_half: V) -> [usize; 4] {
    let lower = _mm256_movemask_pd(lower_half);
    std::array::from_fn(|l| if lower >> l & 1 == 1 { 0 } else { 15 })
}

/// `noise4(x[l], y, z, w)` for each lane `l`. Blocks whose four points share their
/// super-cell take [`shared_cell_kernels`] (with the cell's vertices kept in `shared` for
/// the next block); the others [`lane_kernels`].
#[inline]
#[target_feature(enable = "avx2,fma")]
fn noise4(noise: &OpenSimplex, shared: &mut SharedCell, x: V, y: f64, z: f64, w: f64) -> V {
    let cell = locate(x, y, z, w);
    let regions = Regions::of(&cell);
    let value = if cell.origin[1..].iter().all(|o| *o == cell.origin[0]) {
        let keys = selection_keys(&cell, &regions);
        shared_cell_kernels(noise, shared, &cell, &regions, keys)
    } else {
        // The lattice hashes go first: their chained reads then overlap the selection
        // (≈ 7 % faster than after it).
        let cube = cell.origin.map(|origin| hypercube_gradients(noise, origin));
        let keys = selection_keys(&cell, &regions);
        lane_kernels(noise, &cell, &regions, cube, keys)
    };
    _mm256_div_pd(value, splat(NORM_CONSTANT4))
}

/// The kernel sum of four points in different super-cells: every vertex's gradient and
/// displacement are gathered per lane.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn lane_kernels(
    noise: &OpenSimplex,
    cell: &Cell,
    regions: &Regions,
    cube: [[u8; 16]; 4],
    keys: [usize; 4],
) -> V {
    let Regions {
        corner_zero,
        corner,
        lower_half,
        ..
    } = *regions;
    let inner = and_not(corner, all_lanes());
    let mut value = splat(0.0);

    // The six vertices with two ones (inner points only).
    for (bits, displacement) in TWO_ONES_BITS.into_iter().zip(TWO_ONES_DISPLACEMENT) {
        let gradients = cube.map(|lane| lane[bits]);
        add_vertex(
            noise,
            &mut value,
            cell,
            gradients,
            displacement.map(|d| splat(d)),
            inner,
        );
    }
    // The four unit vertices (`in_sum ≤ 2`) or the four three-ones vertices (above).
    let mirror = mirror_of(lower_half);
    for axis in 0..4 {
        let gradients: [u8; 4] = std::array::from_fn(|l| cube[l][(mirror[l] ^ 1 << axis) & 15]);
        let (unit_d, three_d) = (UNITS_DISPLACEMENT[axis], THREE_ONES_DISPLACEMENT[axis]);
        let displacement: [V; 4] =
            std::array::from_fn(|a| choose(lower_half, unit_d[a], three_d[a]));
        add_vertex(
            noise,
            &mut value,
            cell,
            gradients,
            displacement,
            all_lanes(),
        );
    }
    // The corner vertex, (0,0,0,0) or (1,1,1,1) (corner points only; the zero corner is in
    // the lower half, the ones corner above it).
    {
        let gradients: [u8; 4] = std::array::from_fn(|l| cube[l][mirror[l] & 15]);
        let displacement: [V; 4] =
            std::array::from_fn(|a| choose(corner_zero, 0.0, ALL_ONES_DISPLACEMENT[a]));
        add_vertex(noise, &mut value, cell, gradients, displacement, corner);
    }
    add_lane_extra_vertices(noise, &mut value, cell, keys);
    value
}

/// Adds the kernels of the three extra vertices of each lane's selection key.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn add_lane_extra_vertices(noise: &OpenSimplex, value: &mut V, cell: &Cell, keys: [usize; 4]) {
    // Keys are below `KEYS` by construction; the remainder only spares the bounds checks.
    let entries = keys.map(|key| &EXTRA[key % KEYS]);
    for e in 0..3 {
        let gradients: [u8; 4] = std::array::from_fn(|l| {
            let offset = entries[l].lattice[e];
            noise.gradient_index4(std::array::from_fn(|a| {
                i64::from(cell.origin[l][a]) + i64::from(offset[a])
            }))
        });
        let displacement = transpose(entries.map(|entry| row(entry.displacement[e])));
        add_vertex(noise, value, cell, gradients, displacement, all_lanes());
    }
}

/// The `y, z, w` displacements from the origin of a cell whose lanes share it (equal in every
/// lane).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn shared_d0_yzw(cell: &Cell) -> [f64; 3] {
    [1, 2, 3].map(|a| _mm256_cvtsd_f64(cell.d0[a]))
}

/// A vertex's kernel for points that share their super-cell, so share `y, z, w`
/// displacements: with `dx = dx0 + offset_x`, `attn = base − dx²` and the extrapolation
/// `gx·dx + rest`.
#[derive(Clone, Copy)]
struct AlongRow {
    offset_x: f64,
    /// `2 − dy² − dz² − dw²`.
    base: f64,
    gx: f64,
    /// `gy·dy + gz·dz + gw·dw`.
    rest: f64,
}

impl AlongRow {
    /// The vertex at `displacement` from the origin with `gradient`, for points whose origin
    /// displacement has `y, z, w` components `d0_yzw`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn new(displacement: [f64; 4], gradient: [f64; 4], d0_yzw: [f64; 3]) -> Self {
        let [dy, dz, dw] = std::array::from_fn(|a| d0_yzw[a] + displacement[a + 1]);
        Self {
            offset_x: displacement[0],
            base: 2.0 - dy * dy - dz * dz - dw * dw,
            gx: gradient[0],
            rest: gradient[1] * dy + gradient[2] * dz + gradient[3] * dw,
        }
    }
}

/// [`HYPERCUBE_DISPLACEMENT`] by axis, four vertices per group: `[axis][group]`.
const HYPERCUBE_DISPLACEMENT_BY_AXIS: [[[f64; 4]; 4]; 4] = {
    let mut by_axis = [[[0.0; 4]; 4]; 4];
    let mut vertex = 0;
    while vertex < 16 {
        let mut axis = 0;
        while axis < 4 {
            by_axis[axis][vertex / 4][vertex % 4] = HYPERCUBE_DISPLACEMENT[vertex][axis];
            axis += 1;
        }
        vertex += 1;
    }
    by_axis
};

/// The 16 hypercube vertices of the super-cell last seen by a row, as the `base`, `gx` and
/// `rest` terms of their [`AlongRow`] kernels (in [`hypercube_gradients`] order).
struct SharedCell {
    origin: Option<[i32; 4]>,
    base: [f64; 16],
    gx: [f64; 16],
    rest: [f64; 16],
}

impl SharedCell {
    fn empty() -> Self {
        Self {
            origin: None,
            base: [0.0; 16],
            gx: [0.0; 16],
            rest: [0.0; 16],
        }
    }

    /// Makes the vertices those of the super-cell shared by the lanes of `cell` unless they
    /// already are, four vertices at a time.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn hold(&mut self, noise: &OpenSimplex, cell: &Cell) {
        let origin = cell.origin[0];
        if self.origin == Some(origin) {
            return;
        }
        let d0_yzw = shared_d0_yzw(cell);
        let gradients = hypercube_gradients(noise, origin);
        for group in 0..4 {
            let [gx, gy, gz, gw] = transpose(std::array::from_fn(|k| {
                row(noise.grad4_at[usize::from(gradients[4 * group + k])])
            }));
            let [dy, dz, dw] = std::array::from_fn(|a| {
                add(
                    splat(d0_yzw[a]),
                    row(HYPERCUBE_DISPLACEMENT_BY_AXIS[a + 1][group]),
                )
            });
            let base = _mm256_fnmadd_pd(
                dw,
                dw,
                _mm256_fnmadd_pd(dz, dz, _mm256_fnmadd_pd(dy, dy, splat(2.0))),
            );
            let rest = _mm256_fmadd_pd(gw, dw, _mm256_fmadd_pd(gz, dz, mul(gy, dy)));
            let at = 4 * group..4 * group + 4;
            self.base[at.clone()].copy_from_slice(&lanes(base));
            self.gx[at.clone()].copy_from_slice(&lanes(gx));
            self.rest[at].copy_from_slice(&lanes(rest));
        }
        self.origin = Some(origin);
    }

    /// Hypercube vertex `i` of the held super-cell.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn vertex(&self, i: usize) -> AlongRow {
        AlongRow {
            offset_x: HYPERCUBE_DISPLACEMENT[i][0],
            base: self.base[i],
            gx: self.gx[i],
            rest: self.rest[i],
        }
    }
}

/// Lane-wise `if mask { yes } else { no }` of two vertices' kernels.
#[derive(Clone, Copy)]
struct AlongRowLanes {
    offset_x: V,
    base: V,
    gx: V,
    rest: V,
}

impl AlongRowLanes {
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn splat(v: AlongRow) -> Self {
        Self {
            offset_x: splat(v.offset_x),
            base: splat(v.base),
            gx: splat(v.gx),
            rest: splat(v.rest),
        }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn choose(mask: V, yes: AlongRow, no: AlongRow) -> Self {
        Self {
            offset_x: choose(mask, yes.offset_x, no.offset_x),
            base: choose(mask, yes.base, no.base),
            gx: choose(mask, yes.gx, no.gx),
            rest: choose(mask, yes.rest, no.rest),
        }
    }
}

/// Adds `vertex`'s kernel at `dx0` to the lanes where `active`.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn add_along_row(value: &mut V, dx0: V, vertex: AlongRowLanes, active: V) {
    let dx = add(dx0, vertex.offset_x);
    let attn = _mm256_fnmadd_pd(dx, dx, vertex.base);
    let extrapolated = _mm256_fmadd_pd(vertex.gx, dx, vertex.rest);
    let attn2 = mul(attn, attn);
    let kernel = mul(mul(attn2, attn2), extrapolated);
    let contributes = and(gt(attn, splat(0.0)), active);
    *value = add(*value, and(contributes, kernel));
}

/// The kernel sum of four points in one super-cell: the `y, z, w` displacements are the
/// same in every lane, so each vertex is a broadcast [`AlongRow`] (the hypercube's kept in
/// `shared`), and when the four selection keys agree the extra vertices are too.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn shared_cell_kernels(
    noise: &OpenSimplex,
    shared: &mut SharedCell,
    cell: &Cell,
    regions: &Regions,
    keys: [usize; 4],
) -> V {
    let Regions {
        corner_zero,
        corner,
        lower_half,
        ..
    } = *regions;
    let origin = cell.origin[0];
    shared.hold(noise, cell);
    let d0_yzw = shared_d0_yzw(cell);
    let vertex = |i: usize| shared.vertex(i);
    let dx0 = cell.d0[0];
    let mut value = splat(0.0);

    let inner = and_not(corner, all_lanes());
    for bits in TWO_ONES_BITS {
        let vertex = AlongRowLanes::splat(vertex(bits));
        add_along_row(&mut value, dx0, vertex, inner);
    }
    for axis in 0..4 {
        let (unit, three) = (vertex(1 << axis), vertex(15 ^ 1 << axis));
        let lanes = AlongRowLanes::choose(lower_half, unit, three);
        add_along_row(&mut value, dx0, lanes, all_lanes());
    }
    let lanes = AlongRowLanes::choose(corner_zero, vertex(0), vertex(15));
    add_along_row(&mut value, dx0, lanes, corner);

    if keys[1..].iter().all(|&key| key == keys[0]) {
        let entry = &EXTRA[keys[0] % KEYS];
        for (offset, displacement) in entry.lattice.iter().zip(entry.displacement) {
            let gradient = noise.gradient4(std::array::from_fn(|a| {
                i64::from(origin[a]) + i64::from(offset[a])
            }));
            let extra = AlongRow::new(displacement, gradient, d0_yzw);
            add_along_row(&mut value, dx0, AlongRowLanes::splat(extra), all_lanes());
        }
    } else {
        add_lane_extra_vertices(noise, &mut value, cell, keys);
    }
    value
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
    let [gx, gy, gz, gw] = unpack_gradients(gradients.map(|j| noise.grad4_packed[usize::from(j)]));
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
    let mut shared = SharedCell::empty();
    let mut value_chunks = values.chunks_exact_mut(4);
    let mut x_chunks = xs.chunks_exact(4);
    for (value, x) in (&mut value_chunks).zip(&mut x_chunks) {
        let x = row([x[0], x[1], x[2], x[3]]);
        let noise_values = lanes(noise4(noise, &mut shared, x, y, z, w));
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

/// Whether four points share their super-cell (take [`shared_cell_kernels`]), for tests.
#[cfg(test)]
#[target_feature(enable = "avx2,fma")]
pub(super) fn share_a_cell(x: [f64; 4], y: f64, z: f64, w: f64) -> bool {
    let origin = locate(row(x), y, z, w).origin;
    origin[1..].iter().all(|o| *o == origin[0])
}

/// The selection keys of four points, for tests.
#[cfg(test)]
#[target_feature(enable = "avx2,fma")]
pub(super) fn keys_of(x: [f64; 4], y: f64, z: f64, w: f64) -> [usize; 4] {
    let cell = locate(row(x), y, z, w);
    selection_keys(&cell, &Regions::of(&cell))
}

//! Multi-octave value noise, the `value` kind (the authors' `generate_value_noise`, built on
//! `utils/value_noise.py`), with lattices drawn from a documented SplitMix64 sequence so the
//! Python fixture script reproduces them exactly.
//!
//! For sample `b`, channel `c`, octave `k` (`O` octaves, persistence `p`, period `F`):
//!
//! ```text
//! value[b,c,y,x] = Σ_k p^k · v_k(x, y)
//! v_k = (1−fx)(1−fy)·g[y0,x0] + fx(1−fy)·g[y0,x1] + (1−fx)fy·g[y1,x0] + fx·fy·g[y1,x1]
//! x0 = ⌊x/F⌋ mod W, x1 = (x0+1) mod W, fx = x/F − ⌊x/F⌋    (y0, y1, fy alike, mod H)
//! g[r, q] = u(seed, (((b·C + c)·O + k)·H + r)·W + q)        (a fresh H×W lattice per octave)
//! u(seed, n) = (splitmix64(seed, n) >> 11) · 2^−53           (uniform on [0, 1))
//! ```
//!
//! The products and the sum are evaluated in exactly that order (as NumPy does for the
//! reference expression), and `p^k` by repeated multiplication, so the fixture is matched bit
//! for bit. The period is the same for every octave (the reference's `frequency /= 2` is
//! commented out), so the octaves differ only in their lattices.

use crate::fractal::FractalParams;
use crate::kinds::for_each_row;
use crate::shape::NoiseField;

/// The SplitMix64 increment `γ = 0x9E3779B97F4A7C15` (2^64 / φ, rounded to odd).
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// Output `n` (0-based) of the SplitMix64 generator started in state `seed` (Steele, Lea and
/// Flood 2014; the seeding generator of `xoshiro`): the state after `n + 1` steps,
/// `s = seed + (n+1)·γ` (wrapping), through the mix
/// `z = (s ^ s>>30)·0xBF58476D1CE4E5B9; z = (z ^ z>>27)·0x94D049BB133111EB; z ^ z>>31`.
///
/// Random access by `n`, so lattices fill in parallel without depending on the thread count.
pub fn splitmix64(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(n.wrapping_add(1).wrapping_mul(GOLDEN_GAMMA));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `splitmix64(seed, n)` as a uniform `f64` on `[0, 1)`: its top 53 bits times `2^−53`.
pub fn uniform_value(seed: u64, n: u64) -> f64 {
    (splitmix64(seed, n) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// The lattice taps of one axis of `len` pixels at period `period_px`: for pixel `i`, the
/// cells `(⌊i/F⌋ mod len, (⌊i/F⌋ + 1) mod len)` and the fraction `i/F − ⌊i/F⌋`.
fn axis_taps(len: usize, period_px: f64) -> Vec<(usize, usize, f64)> {
    (0..len)
        .map(|i| {
            let coordinate = i as f64 / period_px;
            // Coordinates are non-negative, so truncation is the floor (the reference's
            // `astype(int)`); absurdly small periods saturate instead of overflowing.
            let whole = coordinate as u64;
            let low = (whole % len as u64) as usize;
            (low, (low + 1) % len, coordinate - whole as f64)
        })
        .collect()
}

/// Fills `field` with value noise (module docs), the lattices drawn from `seed`.
pub(crate) fn fill_value(field: &mut NoiseField, seed: u64, params: &FractalParams) {
    let shape = field.shape;
    let (height, width) = (shape.height, shape.width);
    let columns = axis_taps(width, params.frequency);
    let rows = axis_taps(height, params.frequency);
    let amplitudes: Vec<f64> = params.octave_terms().iter().map(|&(a, _)| a).collect();
    let octaves = amplitudes.len();
    for_each_row(field, |index, values| {
        let (y0, y1, fy) = rows[index.row];
        let plane = index.sample * shape.channels + index.channel;
        for (k, &amplitude) in amplitudes.iter().enumerate() {
            let lattice = ((plane * octaves + k) * height) as u64;
            let row0 = (lattice + y0 as u64) * width as u64;
            let row1 = (lattice + y1 as u64) * width as u64;
            for (value, &(x0, x1, fx)) in values.iter_mut().zip(&columns) {
                let g = |row: u64, column: usize| uniform_value(seed, row + column as u64);
                let interpolated = (1.0 - fx) * (1.0 - fy) * g(row0, x0)
                    + fx * (1.0 - fy) * g(row0, x1)
                    + (1.0 - fx) * fy * g(row1, x0)
                    + fx * fy * g(row1, x1);
                *value += amplitude * interpolated;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::BatchShape;

    #[test]
    fn splitmix64_matches_the_published_sequence() {
        // The reference C code (Vigna, splitmix64.c) seeded with 1234567 prints these.
        assert_eq!(splitmix64(1_234_567, 0), 6_457_827_717_110_365_317);
        assert_eq!(splitmix64(1_234_567, 1), 3_203_168_211_198_807_973);
        assert_eq!(splitmix64(1_234_567, 3), 4_593_380_528_125_082_431);
        assert_eq!(splitmix64(1_234_567, 4), 16_408_922_859_458_223_821);
        assert_eq!(splitmix64(0, 0), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn uniform_values_lie_in_the_unit_interval() {
        let values: Vec<f64> = (0..10_000).map(|n| uniform_value(42, n)).collect();
        assert!(values.iter().all(|&v| (0.0..1.0).contains(&v)));
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        assert!((mean - 0.5).abs() < 0.01, "{mean}");
    }

    #[test]
    fn taps_wrap_the_integer_part_and_keep_the_fraction() {
        let taps = axis_taps(4, 0.75);
        // i/F = 0, 1.33.., 2.66.., 4 -> cells 0, 1, 2, 0 (4 mod 4) and their right neighbours.
        assert_eq!(taps[0], (0, 1, 0.0));
        assert_eq!((taps[1].0, taps[1].1), (1, 2));
        assert_eq!((taps[2].0, taps[2].1), (2, 3));
        assert_eq!((taps[3].0, taps[3].1), (0, 1));
        assert!((taps[1].2 - 1.0 / 3.0).abs() < 1e-15);
        assert_eq!(axis_taps(3, 1.0)[2], (2, 0, 0.0), "right neighbour wraps");
    }

    #[test]
    fn period_one_returns_the_lattices_summed_with_amplitudes() {
        // At F = 1 every pixel sits on a lattice point: value = Σ_k p^k g_k[y, x].
        let shape = BatchShape::new(2, 3, 5, 7);
        let params = FractalParams {
            octaves: 3,
            persistence: 0.5,
            frequency: 1.0,
        };
        let mut field = NoiseField::zeros(shape);
        fill_value(&mut field, 99, &params);
        for (flat, &v) in field.data.iter().enumerate() {
            let (plane, pixel) = (flat / 35, flat % 35);
            let expected: f64 = (0..3)
                .map(|k| {
                    0.5f64.powi(k)
                        * uniform_value(99, ((plane * 3 + k as usize) * 35 + pixel) as u64)
                })
                .sum();
            assert!((v - expected).abs() < 1e-15, "{flat}");
        }
    }
}

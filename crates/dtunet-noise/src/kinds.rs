//! The diffusion noise kinds of SPEC §2.2–2.5 (`tsimplex`, `tsg`, `kts`, `gauss`,
//! `simplex3d`) and three more from the authors' code (`patch4dsimplex`, `multisimplex`,
//! `value`), generated for a `[B, C, H, W]` batch with one timestep per sample, in parallel
//! over rows.

use std::fmt;
use std::str::FromStr;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

use crate::error::NoiseError;
use crate::fractal::{FractalParams, OctaveGrid};
use crate::opensimplex::OpenSimplex;
use crate::shape::{BatchShape, NoiseField};
use crate::value::fill_value;

/// Which noise drives the forward and reverse diffusion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoiseKind {
    /// `N(0, I)`, the DDPM baseline.
    Gauss,
    /// Time-indexed 4-D OpenSimplex octave sum (the paper's default).
    Tsimplex,
    /// `α·Tsimplex + (1−α)·N(0, I)` with `α = 1 − t/T` (paper Eq. 6).
    Tsg,
    /// Komal-Tsimplex: per-patch base period from a Gaussian over the patch grid (paper Eq. 7).
    Kts,
    /// The AnoDDPM 3-D simplex octave sum `noise3(x, y, t)`, one seed per channel.
    Simplex3d,
    /// Patch-tiled Tsimplex (the authors' `generate_simplex_4noise_patch`): the image is cut
    /// into `P×P` patches and every patch gets the Tsimplex octave sum with patch-local
    /// coordinates `0..P`,
    ///
    /// `value[b,c,y,x] = Σ_k p^k · noise4(x'/F_k, y'/F_k, c/F_k, t[b]/F_k)`,
    /// `x' = x mod P`, `y' = y mod P`, `F_k = F / 2^k`,
    ///
    /// i.e. KTs with `F_ij = F` for every patch, so all patches of an image share one field.
    /// One noise instance per call, as every kind. Two departures from the authors' literal
    /// code: it reads the timestep of sample 0 for every image (its patch loop reuses the
    /// sample loop's variable `i`, which also sends every image's field to slot 0), where we
    /// use each sample's own `t[b]`; and it calls
    /// `rand_4d_fixed_T_octaves(shape=…)`, a keyword that function does not take
    /// (its parameter is `ashape`), so it cannot run at their HEAD.
    Patch4dsimplex,
    /// Multi-frequency patch Tsimplex (the authors' `generate_simplex_multi_freq`): patch-local
    /// Tsimplex as KTs, but patch `(i, j)` (0-based, row `i` of `n = H/P`, column `j` of
    /// `m = W/P`) gets the base period
    ///
    /// `F_ij = F · 2^(−d)`, `d = sqrt((i − (n−1)/2)² + (j − (m−1)/2)²)`, floored at 1e-3,
    ///
    /// so the centre is smoothest and the period halves per patch of distance (see
    /// [`multisimplex_patch_frequency`]). The authors' literal code puts the channel-window
    /// index (always 0) where the row belongs and the row where the column belongs; we use
    /// the evident radial form above. (It shares `patch4dsimplex`'s sample-0 timestep and
    /// `shape=` call, so it cannot run at their HEAD either.)
    Multisimplex,
    /// Multi-octave value noise (the authors' `generate_value_noise`, from
    /// `utils/value_noise.py`): per sample and channel, `O` octaves each with a new uniform
    /// `[0, 1)` lattice `g_k` of size `H×W`, bilinearly interpolated at `(x/F, y/F)`:
    ///
    /// `value[b,c,y,x] = Σ_k p^k · bilerp(g_k, x/F, y/F)`, the same `F` for every octave
    ///
    /// (the frequency is *not* halved between octaves, as in their code), with the integer
    /// part of each coordinate wrapped modulo `W` (or `H`). Not zero-mean (values lie in
    /// `[0, Σ p^k)`) and independent of `t`. The lattices come from SplitMix64, see
    /// [`crate::value`]. Their code starts the amplitude at 1 once for all channels, so
    /// channel `c` is scaled by a further `p^(c·O)`; we restart it at 1 for every channel.
    Value,
}

impl NoiseKind {
    /// Every kind, in the order the CLI lists them.
    pub const ALL: [NoiseKind; 8] = [
        NoiseKind::Gauss,
        NoiseKind::Tsimplex,
        NoiseKind::Tsg,
        NoiseKind::Kts,
        NoiseKind::Simplex3d,
        NoiseKind::Patch4dsimplex,
        NoiseKind::Multisimplex,
        NoiseKind::Value,
    ];

    /// The kind's name on the command line and in configs.
    pub fn name(self) -> &'static str {
        match self {
            NoiseKind::Gauss => "gauss",
            NoiseKind::Tsimplex => "tsimplex",
            NoiseKind::Tsg => "tsg",
            NoiseKind::Kts => "kts",
            NoiseKind::Simplex3d => "simplex3d",
            NoiseKind::Patch4dsimplex => "patch4dsimplex",
            NoiseKind::Multisimplex => "multisimplex",
            NoiseKind::Value => "value",
        }
    }

    /// Whether the kind cuts the image into `P×P` patches (`P` = [`NoiseConfig::kts_patch_px`],
    /// which must divide the height and width).
    pub fn is_patch_local(self) -> bool {
        matches!(
            self,
            NoiseKind::Kts | NoiseKind::Patch4dsimplex | NoiseKind::Multisimplex
        )
    }
}

impl fmt::Display for NoiseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for NoiseKind {
    type Err = NoiseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        NoiseKind::ALL
            .into_iter()
            .find(|kind| kind.name() == text)
            .ok_or_else(|| NoiseError::InvalidParameter {
                name: "noise kind",
                found: format!("{text:?}"),
                expected: "one of gauss, tsimplex, tsg, kts, simplex3d, patch4dsimplex, \
                           multisimplex, value",
            })
    }
}

/// Everything that defines a noise source (paper Table 6 defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoiseConfig {
    /// The noise kind.
    pub kind: NoiseKind,
    /// Octaves, persistence and base period of the simplex kinds.
    pub fractal: FractalParams,
    /// Patch side `P` in pixels of the patch kinds (`kts`, `patch4dsimplex`,
    /// `multisimplex`); must divide height and width.
    pub kts_patch_px: usize,
    /// KTs spread `σ` of the Gaussian over the patch grid, in patches.
    pub kts_sigma: f64,
    /// Total diffusion steps `T` of the Tsg blend `α = 1 − t/T`.
    pub total_steps: u32,
    /// Scale every sample to zero mean and unit variance (off in the reference).
    pub standardize: bool,
}

impl Default for NoiseConfig {
    fn default() -> Self {
        Self {
            kind: NoiseKind::Tsimplex,
            fractal: FractalParams::default(),
            kts_patch_px: 16,
            kts_sigma: 4.0,
            total_steps: 1000,
            standardize: false,
        }
    }
}

impl NoiseConfig {
    /// Checks the parameters the kind uses (octaves, persistence, frequency, patch side, KTs σ,
    /// Tsg total steps).
    pub fn validate(&self) -> Result<(), NoiseError> {
        if self.kind != NoiseKind::Gauss {
            self.fractal.validate()?;
        }
        if self.kind.is_patch_local() && self.kts_patch_px == 0 {
            return Err(NoiseError::InvalidParameter {
                name: "kts patch size",
                found: "0".into(),
                expected: "a patch side of at least 1 pixel",
            });
        }
        if self.kind == NoiseKind::Kts && !(self.kts_sigma.is_finite() && self.kts_sigma > 0.0) {
            return Err(NoiseError::InvalidParameter {
                name: "kts sigma",
                found: self.kts_sigma.to_string(),
                expected: "a finite number > 0",
            });
        }
        if self.kind == NoiseKind::Tsg && self.total_steps == 0 {
            return Err(NoiseError::InvalidParameter {
                name: "total steps",
                found: "0".into(),
                expected: "at least 1 diffusion step",
            });
        }
        Ok(())
    }

    /// Checks that `shape` and `timesteps` fit this configuration.
    pub fn validate_request(&self, shape: BatchShape, timesteps: &[u32]) -> Result<(), NoiseError> {
        self.validate()?;
        shape.validate()?;
        if timesteps.len() != shape.batch && timesteps.len() != 1 {
            return Err(NoiseError::TimestepCount {
                found: timesteps.len(),
                batch: shape.batch,
            });
        }
        if self.kind.is_patch_local()
            && (!shape.height.is_multiple_of(self.kts_patch_px)
                || !shape.width.is_multiple_of(self.kts_patch_px))
        {
            return Err(NoiseError::InvalidShape {
                found: shape.to_string(),
                reason: format!(
                    "height {} and width {} must both be divisible by the KTs patch size {} \
                     ({} cuts the image into {}x{} patches)",
                    shape.height,
                    shape.width,
                    self.kts_patch_px,
                    self.kind,
                    self.kts_patch_px,
                    self.kts_patch_px
                ),
            });
        }
        if self.kind == NoiseKind::Tsg
            && let Some(&t) = timesteps.iter().find(|&&t| t > self.total_steps)
        {
            return Err(NoiseError::InvalidParameter {
                name: "timestep",
                found: t.to_string(),
                expected: "a timestep in 0..=total steps for tsg",
            });
        }
        Ok(())
    }

    /// Generates one batch from explicit seeds: `simplex_seed` seeds the OpenSimplex instance
    /// (channel `c` of `simplex3d` uses `simplex_seed + c`), `gauss_seed` the Gaussian stream
    /// (`gauss`, `tsg`) and the SplitMix64 lattices of `value`.
    ///
    /// `timesteps` holds one diffusion step per sample, or a single step for all samples.
    pub fn generate(
        &self,
        shape: BatchShape,
        timesteps: &[u32],
        simplex_seed: i64,
        gauss_seed: u64,
    ) -> Result<NoiseField, NoiseError> {
        self.validate_request(shape, timesteps)?;
        let t_of = |b: usize| f64::from(timesteps[if timesteps.len() == 1 { 0 } else { b }]);
        let mut field = NoiseField::zeros(shape);
        match self.kind {
            NoiseKind::Gauss => fill_gauss(&mut field, gauss_seed),
            NoiseKind::Tsimplex => fill_tsimplex(
                &mut field,
                &OpenSimplex::new(simplex_seed),
                &self.fractal,
                t_of,
            ),
            NoiseKind::Tsg => {
                fill_tsimplex(
                    &mut field,
                    &OpenSimplex::new(simplex_seed),
                    &self.fractal,
                    t_of,
                );
                let mut gauss = NoiseField::zeros(shape);
                fill_gauss(&mut gauss, gauss_seed);
                let total = f64::from(self.total_steps);
                let n = shape.sample_len();
                for (b, (sample, gauss)) in field
                    .data
                    .chunks_mut(n)
                    .zip(gauss.data.chunks(n))
                    .enumerate()
                {
                    let alpha = 1.0 - t_of(b) / total;
                    for (value, g) in sample.iter_mut().zip(gauss) {
                        *value = alpha * *value + (1.0 - alpha) * g;
                    }
                }
            }
            NoiseKind::Kts | NoiseKind::Patch4dsimplex | NoiseKind::Multisimplex => {
                let (kind, frequency, sigma) = (self.kind, self.fractal.frequency, self.kts_sigma);
                let patch_frequency = |i: usize, j: usize, n: usize, m: usize| match kind {
                    NoiseKind::Kts => kts_patch_frequency(i + 1, j + 1, n, m, frequency, sigma),
                    NoiseKind::Multisimplex => multisimplex_patch_frequency(i, j, n, m, frequency),
                    _ => frequency,
                };
                fill_patch_local(
                    &mut field,
                    &OpenSimplex::new(simplex_seed),
                    &self.fractal,
                    self.kts_patch_px,
                    patch_frequency,
                    t_of,
                );
            }
            NoiseKind::Simplex3d => fill_simplex3d(&mut field, simplex_seed, &self.fractal, t_of),
            NoiseKind::Value => fill_value(&mut field, gauss_seed, &self.fractal),
        }
        if self.standardize {
            field.standardize_per_sample();
        }
        Ok(field)
    }
}

/// Position of one image row inside an NCHW batch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowIndex {
    pub sample: usize,
    pub channel: usize,
    pub row: usize,
}

/// Runs `fill_row(index, row_values)` for every image row of `field`, in parallel.
pub(crate) fn for_each_row(field: &mut NoiseField, fill_row: impl Fn(RowIndex, &mut [f64]) + Sync) {
    let BatchShape {
        channels,
        height,
        width,
        ..
    } = field.shape;
    field
        .data
        .par_chunks_mut(width)
        .enumerate()
        .for_each(|(flat_row, values)| {
            let index = RowIndex {
                sample: flat_row / (channels * height),
                channel: (flat_row / height) % channels,
                row: flat_row % height,
            };
            fill_row(index, values);
        });
}

/// Tsimplex (SPEC §2.2): `Σ_k p^k · noise4(x/F_k, y/F_k, c/F_k, t/F_k)`.
fn fill_tsimplex(
    field: &mut NoiseField,
    noise: &OpenSimplex,
    params: &FractalParams,
    t_of: impl Fn(usize) -> f64 + Sync,
) {
    let grid = OctaveGrid::new(params, field.shape.height, field.shape.width);
    for_each_row(field, |index, values| {
        let t = t_of(index.sample);
        for (k, &(amplitude, period)) in grid.terms.iter().enumerate() {
            let y = grid.rows[k][index.row];
            let z = index.channel as f64 / period;
            let w = t / period;
            noise.add_noise4_row(values, &grid.columns[k], y, z, w, amplitude);
        }
    });
}

/// The AnoDDPM 3-D octave sum `Σ_k p^k · noise3(x/F_k, y/F_k, t/F_k)`, channel `c` seeded
/// with `simplex_seed + c` (wrapping) so channels are independent.
fn fill_simplex3d(
    field: &mut NoiseField,
    simplex_seed: i64,
    params: &FractalParams,
    t_of: impl Fn(usize) -> f64 + Sync,
) {
    let grid = OctaveGrid::new(params, field.shape.height, field.shape.width);
    let per_channel: Vec<OpenSimplex> = (0..field.shape.channels)
        .map(|c| OpenSimplex::new(simplex_seed.wrapping_add(c as i64)))
        .collect();
    for_each_row(field, |index, values| {
        let noise = &per_channel[index.channel];
        let t = t_of(index.sample);
        for (k, &(amplitude, period)) in grid.terms.iter().enumerate() {
            let y = grid.rows[k][index.row];
            let w = t / period;
            for (value, &x) in values.iter_mut().zip(&grid.columns[k]) {
                *value += amplitude * noise.noise3(x, y, w);
            }
        }
    });
}

/// The KTs base period of patch `(i, j)` (1-based, `n × m` patches):
/// `δ·exp(−((i−(n+1)/2)² + (j−(m+1)/2)²) / (2σ²))`, floored at 1e-3 (SPEC §2.4).
pub fn kts_patch_frequency(i: usize, j: usize, n: usize, m: usize, delta: f64, sigma: f64) -> f64 {
    let di = i as f64 - (n as f64 + 1.0) / 2.0;
    let dj = j as f64 - (m as f64 + 1.0) / 2.0;
    let frequency = delta * (-(di * di + dj * dj) / (2.0 * sigma * sigma)).exp();
    frequency.max(1e-3)
}

/// The `multisimplex` base period of patch `(i, j)` (0-based, `n × m` patches):
/// `F·2^(−d)`, `d = sqrt((i−(n−1)/2)² + (j−(m−1)/2)²)`, floored at 1e-3 like KTs.
pub fn multisimplex_patch_frequency(i: usize, j: usize, n: usize, m: usize, frequency: f64) -> f64 {
    let di = i as f64 - (n as f64 - 1.0) / 2.0;
    let dj = j as f64 - (m as f64 - 1.0) / 2.0;
    let distance = (di * di + dj * dj).sqrt();
    (frequency * 2f64.powf(-distance)).max(1e-3)
}

/// Tsimplex with patch-local coordinates `0..P` and a per-patch base period
/// `patch_frequency(i, j, n, m)` (KTs, SPEC §2.4, and the other patch kinds). Patch row `i`
/// (0-based) runs down the image (`n = H/P`), patch column `j` across (`m = W/P`).
fn fill_patch_local(
    field: &mut NoiseField,
    noise: &OpenSimplex,
    params: &FractalParams,
    patch_px: usize,
    patch_frequency: impl Fn(usize, usize, usize, usize) -> f64,
    t_of: impl Fn(usize) -> f64 + Sync,
) {
    let (n, m) = (field.shape.height / patch_px, field.shape.width / patch_px);
    let patch_grids: Vec<OctaveGrid> = (0..n * m)
        .map(|p| {
            let frequency = patch_frequency(p / m, p % m, n, m);
            OctaveGrid::new(
                &FractalParams {
                    frequency,
                    ..*params
                },
                patch_px,
                patch_px,
            )
        })
        .collect();
    for_each_row(field, |index, values| {
        let t = t_of(index.sample);
        let (patch_row, local_y) = (index.row / patch_px, index.row % patch_px);
        for (patch_col, patch_values) in values.chunks_mut(patch_px).enumerate() {
            let grid = &patch_grids[patch_row * m + patch_col];
            for (k, &(amplitude, period)) in grid.terms.iter().enumerate() {
                let y = grid.rows[k][local_y];
                let z = index.channel as f64 / period;
                let w = t / period;
                noise.add_noise4_row(patch_values, &grid.columns[k], y, z, w, amplitude);
            }
        }
    });
}

/// Standard normal values; plane `(b, c)` draws from ChaCha8 stream `b·C + c` of
/// `gauss_seed`, so the result does not depend on the thread count.
fn fill_gauss(field: &mut NoiseField, gauss_seed: u64) {
    let plane_len = field.shape.height * field.shape.width;
    field
        .data
        .par_chunks_mut(plane_len)
        .enumerate()
        .for_each(|(plane, values)| {
            let mut rng = ChaCha8Rng::seed_from_u64(gauss_seed);
            rng.set_stream(plane as u64);
            for value in values {
                *value = rng.sample(StandardNormal);
            }
        });
}

/// A seeded stream of noise batches: each call draws fresh OpenSimplex and Gaussian seeds from
/// one ChaCha8 generator, so a run is reproducible from its seed.
#[derive(Debug, Clone)]
pub struct NoiseSource {
    config: NoiseConfig,
    rng: ChaCha8Rng,
}

impl NoiseSource {
    /// A source for `config`, seeded with `seed`; fails on invalid parameters.
    pub fn new(config: NoiseConfig, seed: u64) -> Result<Self, NoiseError> {
        config.validate()?;
        Ok(Self {
            config,
            rng: ChaCha8Rng::seed_from_u64(seed),
        })
    }

    /// The configuration this source draws from.
    pub fn config(&self) -> &NoiseConfig {
        &self.config
    }

    /// Draws the next batch: `[B, C, H, W]` noise with timestep `timesteps[b]` for sample `b`.
    pub fn sample(
        &mut self,
        shape: BatchShape,
        timesteps: &[u32],
    ) -> Result<NoiseField, NoiseError> {
        self.config.validate_request(shape, timesteps)?;
        let simplex_seed: i64 = self.rng.random();
        let gauss_seed: u64 = self.rng.random();
        self.config
            .generate(shape, timesteps, simplex_seed, gauss_seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Moments;

    fn config(kind: NoiseKind) -> NoiseConfig {
        NoiseConfig {
            kind,
            ..NoiseConfig::default()
        }
    }

    #[test]
    fn every_kind_is_deterministic_per_seed_and_differs_across_seeds() {
        let shape = BatchShape::new(2, 2, 16, 32);
        for kind in NoiseKind::ALL {
            let mut a = NoiseSource::new(config(kind), 9).expect("valid");
            let mut b = NoiseSource::new(config(kind), 9).expect("valid");
            let mut c = NoiseSource::new(config(kind), 10).expect("valid");
            let first = a.sample(shape, &[5, 900]).expect("sample");
            assert_eq!(first, b.sample(shape, &[5, 900]).expect("sample"), "{kind}");
            assert_ne!(first, c.sample(shape, &[5, 900]).expect("sample"), "{kind}");
            assert_ne!(
                first,
                a.sample(shape, &[5, 900]).expect("sample"),
                "{kind}: fresh seed per call"
            );
            assert!(first.data.iter().all(|v| v.is_finite()));
        }
    }

    #[test]
    fn tsimplex_depends_on_each_samples_timestep() {
        let shape = BatchShape::new(3, 1, 8, 8);
        let field = config(NoiseKind::Tsimplex)
            .generate(shape, &[100, 100, 101], 1, 0)
            .expect("valid");
        assert_eq!(field.sample(0), field.sample(1));
        assert_ne!(field.sample(1), field.sample(2));
        let broadcast = config(NoiseKind::Tsimplex)
            .generate(shape, &[100], 1, 0)
            .expect("valid");
        assert_eq!(broadcast.sample(2), field.sample(0));
    }

    #[test]
    fn tsg_blends_tsimplex_and_gauss_by_alpha() {
        let shape = BatchShape::new(3, 1, 6, 10);
        let t = [0, 500, 1000];
        let tsg = config(NoiseKind::Tsg)
            .generate(shape, &t, 4, 77)
            .expect("valid");
        let ts = config(NoiseKind::Tsimplex)
            .generate(shape, &t, 4, 77)
            .expect("valid");
        let gauss = config(NoiseKind::Gauss)
            .generate(shape, &t, 4, 77)
            .expect("valid");
        for (b, &t_b) in t.iter().enumerate() {
            let alpha = 1.0 - f64::from(t_b) / 1000.0;
            for ((v, s), g) in tsg.sample(b).iter().zip(ts.sample(b)).zip(gauss.sample(b)) {
                assert!((v - (alpha * s + (1.0 - alpha) * g)).abs() < 1e-15);
            }
        }
    }

    #[test]
    fn gauss_is_standard_normal() {
        let field = config(NoiseKind::Gauss)
            .generate(BatchShape::new(4, 1, 128, 96), &[0], 0, 3)
            .expect("valid");
        let m = Moments::of(&field.data);
        assert!(m.mean.abs() < 0.01, "{m:?}");
        assert!((m.std - 1.0).abs() < 0.01, "{m:?}");
        assert!((m.kurtosis - 3.0).abs() < 0.05, "{m:?}");
    }

    #[test]
    fn standardize_gives_zero_mean_unit_variance_per_sample() {
        let cfg = NoiseConfig {
            standardize: true,
            ..config(NoiseKind::Tsimplex)
        };
        let field = cfg
            .generate(BatchShape::new(2, 3, 20, 28), &[3, 600], -8, 0)
            .expect("valid");
        for b in 0..2 {
            let m = Moments::of(field.sample(b));
            assert!(m.mean.abs() < 1e-12 && (m.std - 1.0).abs() < 1e-12, "{m:?}");
        }
    }

    #[test]
    fn kts_uses_per_patch_frequency_from_a_gaussian() {
        // 4x6 patches: the centre is between patches; the corner is far out.
        let centre = kts_patch_frequency(2, 3, 4, 6, 64.0, 4.0);
        let corner = kts_patch_frequency(1, 1, 4, 6, 64.0, 4.0);
        assert!((centre - 64.0 * (-(0.25 + 0.25) / 32.0f64).exp()).abs() < 1e-12);
        assert!(corner < centre);
        assert_eq!(
            kts_patch_frequency(1, 1, 100, 100, 64.0, 1.0),
            1e-3,
            "floored"
        );
    }

    /// Patch `(i, j)` of channel `c`, sample `b` of `field`, row-major `P×P`.
    fn patch(field: &NoiseField, b: usize, c: usize, i: usize, j: usize, p: usize) -> Vec<f64> {
        let BatchShape {
            channels,
            height,
            width,
            ..
        } = field.shape;
        let plane = &field.data[(b * channels + c) * height * width..][..height * width];
        (0..p * p)
            .map(|q| plane[(i * p + q / p) * width + j * p + q % p])
            .collect()
    }

    #[test]
    fn patch4dsimplex_tiles_one_patch_local_tsimplex_field_per_sample() {
        let shape = BatchShape::new(2, 3, 16, 24);
        let cfg = NoiseConfig {
            kts_patch_px: 8,
            ..config(NoiseKind::Patch4dsimplex)
        };
        let field = cfg.generate(shape, &[40, 700], 13, 0).expect("valid");
        for b in 0..2 {
            // Patch-local Tsimplex on an 8x8 image at sample b's own timestep.
            let single = config(NoiseKind::Tsimplex)
                .generate(BatchShape::new(1, 3, 8, 8), &[[40, 700][b]], 13, 0)
                .expect("valid");
            for c in 0..3 {
                for (i, j) in [(0, 0), (0, 2), (1, 1)] {
                    assert_eq!(
                        patch(&field, b, c, i, j, 8),
                        single.sample(0)[c * 64..][..64]
                    );
                }
            }
        }
        assert_ne!(
            field.sample(0),
            field.sample(1),
            "each sample reads its own t"
        );
    }

    #[test]
    fn multisimplex_halves_the_period_per_patch_of_distance_from_the_centre() {
        // 3x5 patches: the centre patch (1, 2) keeps F; (0, 0) is sqrt(1 + 4) patches out.
        assert_eq!(multisimplex_patch_frequency(1, 2, 3, 5, 64.0), 64.0);
        let corner = multisimplex_patch_frequency(0, 0, 3, 5, 64.0);
        assert!((corner - 64.0 * 2f64.powf(-(5f64).sqrt())).abs() < 1e-12);
        // Row and column play their own parts on a non-square grid (2x3 patches).
        let side = multisimplex_patch_frequency(0, 1, 2, 3, 32.0);
        let end = multisimplex_patch_frequency(0, 0, 2, 3, 32.0);
        assert!((side - 32.0 * 2f64.powf(-0.5)).abs() < 1e-12);
        assert!((end - 32.0 * 2f64.powf(-(1.25f64).sqrt())).abs() < 1e-12);
        assert_eq!(
            multisimplex_patch_frequency(0, 0, 40, 40, 64.0),
            1e-3,
            "floored"
        );

        let cfg = NoiseConfig {
            kts_patch_px: 8,
            ..config(NoiseKind::Multisimplex)
        };
        let field = cfg
            .generate(BatchShape::new(1, 2, 16, 24), &[9], -4, 0)
            .expect("valid");
        for (i, j) in [(0, 0), (1, 1), (1, 2)] {
            let tsimplex = NoiseConfig {
                fractal: FractalParams {
                    frequency: multisimplex_patch_frequency(i, j, 2, 3, 64.0),
                    ..FractalParams::default()
                },
                ..config(NoiseKind::Tsimplex)
            };
            let single = tsimplex
                .generate(BatchShape::new(1, 2, 8, 8), &[9], -4, 0)
                .expect("valid");
            for c in 0..2 {
                assert_eq!(patch(&field, 0, c, i, j, 8), single.data[c * 64..][..64]);
            }
        }
    }

    #[test]
    fn value_noise_is_positive_ignores_t_and_treats_channels_alike() {
        let cfg = NoiseConfig {
            fractal: FractalParams {
                octaves: 4,
                persistence: 0.5,
                frequency: 8.0,
            },
            ..config(NoiseKind::Value)
        };
        let shape = BatchShape::new(2, 3, 64, 96);
        let field = cfg.generate(shape, &[0, 999], 0, 17).expect("valid");
        let bound = 1.0 + 0.5 + 0.25 + 0.125;
        assert!(field.data.iter().all(|&v| (0.0..bound).contains(&v)));
        assert_eq!(
            field,
            cfg.generate(shape, &[5], 123, 17).expect("valid"),
            "depends on the lattice seed only"
        );
        assert_ne!(field, cfg.generate(shape, &[5], 0, 18).expect("valid"));
        assert_ne!(field.sample(0), field.sample(1), "a new lattice per sample");
        // Each channel restarts the amplitude at 1: all have mean ≈ Σ p^k / 2.
        for c in 0..3 {
            let m = Moments::of(&field.data[c * 64 * 96..][..64 * 96]);
            assert!((m.mean - bound / 2.0).abs() < 0.1, "channel {c}: {m:?}");
        }
    }

    #[test]
    fn rejects_invalid_parameters_with_named_values() {
        let bad = |cfg: NoiseConfig, shape: BatchShape, t: &[u32]| {
            cfg.generate(shape, t, 0, 0)
                .expect_err("must fail")
                .to_string()
        };
        let shape = BatchShape::new(1, 1, 32, 32);
        let mut cfg = config(NoiseKind::Tsimplex);
        cfg.fractal.octaves = 0;
        assert!(bad(cfg, shape, &[1]).contains("octaves = 0"));
        cfg = config(NoiseKind::Tsimplex);
        cfg.fractal.persistence = -0.5;
        assert!(bad(cfg, shape, &[1]).contains("persistence = -0.5"));
        cfg.fractal.persistence = 0.9;
        cfg.fractal.frequency = 0.0;
        assert!(bad(cfg, shape, &[1]).contains("frequency = 0"));
        let kts = config(NoiseKind::Kts);
        assert!(
            bad(kts, BatchShape::new(1, 1, 40, 32), &[1])
                .contains("divisible by the KTs patch size 16")
        );
        assert!(bad(config(NoiseKind::Tsg), shape, &[1001]).contains("timestep = 1001"));
        assert!(
            bad(
                config(NoiseKind::Gauss),
                BatchShape::new(2, 1, 4, 4),
                &[1, 2, 3]
            )
            .contains("3 timesteps given for a batch of 2")
        );
        assert!(
            bad(config(NoiseKind::Gauss), BatchShape::new(0, 1, 4, 4), &[1]).contains("at least 1")
        );
        for kind in [NoiseKind::Patch4dsimplex, NoiseKind::Multisimplex] {
            let message = bad(config(kind), BatchShape::new(1, 1, 32, 40), &[1]);
            assert!(
                message.contains(&format!(
                    "width 40 must both be divisible by the KTs patch size 16 ({kind} cuts"
                )),
                "{message}"
            );
            let zero = NoiseConfig {
                kts_patch_px: 0,
                ..config(kind)
            };
            assert!(bad(zero, shape, &[1]).contains("kts patch size = 0"));
        }
        let message = "perlin"
            .parse::<NoiseKind>()
            .expect_err("unknown")
            .to_string();
        for kind in NoiseKind::ALL {
            assert!(message.contains(kind.name()), "{message} lacks {kind}");
            assert_eq!(kind.name().parse::<NoiseKind>(), Ok(kind));
        }
    }
}

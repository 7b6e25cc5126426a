//! Octave sums ("fractal noise") of OpenSimplex, laid out for fast evaluation over pixel grids.

use crate::error::NoiseError;

/// Parameters of a fractal octave sum (paper Table 6: octaves 6, persistence 0.9, frequency 64).
///
/// `frequency` is the reference code's name for a *period in pixels*: octave `k` samples the
/// noise at `coordinate / (frequency / 2^k)`, so a larger value gives a smoother field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FractalParams {
    /// Number of octaves `O` (≥ 1).
    pub octaves: u32,
    /// Amplitude ratio `p` between consecutive octaves (> 0).
    pub persistence: f64,
    /// Base period `F` in pixels of octave 0 (> 0).
    pub frequency: f64,
}

impl Default for FractalParams {
    fn default() -> Self {
        Self {
            octaves: 6,
            persistence: 0.9,
            frequency: 64.0,
        }
    }
}

impl FractalParams {
    /// Rejects `octaves = 0`, non-positive or non-finite persistence and frequency.
    pub fn validate(&self) -> Result<(), NoiseError> {
        if self.octaves == 0 || self.octaves > 32 {
            return Err(NoiseError::InvalidParameter {
                name: "octaves",
                found: self.octaves.to_string(),
                expected: "an integer in 1..=32",
            });
        }
        if !(self.persistence.is_finite() && self.persistence > 0.0) {
            return Err(NoiseError::InvalidParameter {
                name: "persistence",
                found: self.persistence.to_string(),
                expected: "a finite number > 0",
            });
        }
        if !(self.frequency.is_finite() && self.frequency > 0.0) {
            return Err(NoiseError::InvalidParameter {
                name: "frequency",
                found: self.frequency.to_string(),
                expected: "a finite period in pixels > 0",
            });
        }
        Ok(())
    }

    /// The octaves as `(amplitude p^k, period F / 2^k)` pairs, in summation order.
    ///
    /// The amplitude is accumulated by repeated multiplication and the period by repeated
    /// halving, as the reference loop does.
    pub fn octave_terms(&self) -> Vec<(f64, f64)> {
        let mut terms = Vec::with_capacity(self.octaves as usize);
        let (mut amplitude, mut period) = (1.0, self.frequency);
        for _ in 0..self.octaves {
            terms.push((amplitude, period));
            amplitude *= self.persistence;
            period /= 2.0;
        }
        terms
    }
}

/// Per-octave scaled coordinates of a `height × width` grid: `index / period_k`, precomputed
/// once per call so the inner loop only evaluates noise.
#[derive(Debug, Clone)]
pub(crate) struct OctaveGrid {
    /// `(amplitude, period)` per octave.
    pub terms: Vec<(f64, f64)>,
    /// `columns[k][x] = x / period_k`, `x` in `0..width`.
    pub columns: Vec<Vec<f64>>,
    /// `rows[k][y] = y / period_k`, `y` in `0..height`.
    pub rows: Vec<Vec<f64>>,
}

impl OctaveGrid {
    pub fn new(params: &FractalParams, height: usize, width: usize) -> Self {
        let terms = params.octave_terms();
        let scaled = |n: usize| -> Vec<Vec<f64>> {
            terms
                .iter()
                .map(|&(_, period)| (0..n).map(|i| i as f64 / period).collect())
                .collect()
        };
        Self {
            columns: scaled(width),
            rows: scaled(height),
            terms,
        }
    }
}

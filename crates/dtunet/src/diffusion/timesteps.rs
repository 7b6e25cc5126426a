//! Training timesteps (SPEC §3): one `t` per sample, uniform over the first `sample_distance`
//! steps of the chain or over all of it, from a seeded ChaCha8 stream; and the network's
//! timestep input.

use burn::tensor::{Device, Tensor, TensorData};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{DtunetError, Result};

/// The default `sample_distance`: training sees `t ∈ [0, 800)` (the reference's `train_start`).
pub const DEFAULT_SAMPLE_DISTANCE: usize = 800;

/// Which steps of a `T`-step chain training draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestepRange {
    /// Uniform in `[0, min(sample_distance, T))`; `sample_distance ≥ 1`.
    SampleDistance(usize),
    /// Uniform in `[0, T)`.
    Full,
}

impl Default for TimestepRange {
    fn default() -> Self {
        TimestepRange::SampleDistance(DEFAULT_SAMPLE_DISTANCE)
    }
}

impl TimestepRange {
    /// The exclusive upper bound of the drawn steps for a chain of `n_steps` steps.
    pub fn end(self, n_steps: usize) -> usize {
        match self {
            TimestepRange::SampleDistance(distance) => distance.min(n_steps),
            TimestepRange::Full => n_steps,
        }
    }
}

/// A seeded stream of per-sample training timesteps.
#[derive(Debug, Clone)]
pub struct TimestepSampler {
    end: usize,
    rng: ChaCha8Rng,
}

impl TimestepSampler {
    /// Timesteps of `range` over a chain of `n_steps` steps, seeded with `seed`.
    ///
    /// # Errors
    /// [`DtunetError::InvalidParameter`] for `sample_distance = 0` or an empty chain.
    pub fn new(range: TimestepRange, n_steps: usize, seed: u64) -> Result<Self> {
        if range == TimestepRange::SampleDistance(0) {
            return Err(DtunetError::InvalidParameter {
                name: "--sample-distance",
                found: "0".into(),
                expected: format!(
                    "at least 1 step (default {DEFAULT_SAMPLE_DISTANCE}; the chain has {n_steps})"
                ),
            });
        }
        if n_steps == 0 {
            return Err(DtunetError::InvalidParameter {
                name: "diffusion steps",
                found: "0".into(),
                expected: "at least 1 step to draw timesteps from".into(),
            });
        }
        Ok(Self {
            end: range.end(n_steps),
            rng: ChaCha8Rng::seed_from_u64(seed),
        })
    }

    /// The exclusive upper bound of the drawn timesteps.
    pub fn end(&self) -> usize {
        self.end
    }

    /// Draws `batch` timesteps, each uniform in `[0, end)`.
    pub fn sample(&mut self, batch: usize) -> Vec<usize> {
        (0..batch)
            .map(|_| self.rng.random_range(0..self.end))
            .collect()
    }
}

/// The network's timestep input: `t` as integer-valued floats, shape `[B]`.
pub fn timestep_tensor(t: &[usize], device: &Device) -> Tensor<1> {
    let values: Vec<f32> = t.iter().map(|&step| step as f32).collect();
    Tensor::from_data(TensorData::new(values, [t.len()]), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_distance_caps_the_range_and_full_covers_the_chain() {
        let mut capped =
            TimestepSampler::new(TimestepRange::default(), 1000, 7).expect("valid range");
        assert_eq!(capped.end(), 800);
        let drawn = capped.sample(20_000);
        assert!(drawn.iter().all(|&t| t < 800));
        assert_eq!(
            drawn.iter().max(),
            Some(&799),
            "the last allowed step is drawn"
        );
        assert_eq!(drawn.iter().min(), Some(&0));

        let mut full = TimestepSampler::new(TimestepRange::Full, 1000, 7).expect("valid range");
        let drawn = full.sample(20_000);
        assert_eq!(drawn.iter().max(), Some(&999));
        let mean = drawn.iter().sum::<usize>() as f64 / drawn.len() as f64;
        assert!((mean - 499.5).abs() < 8.0, "uniform mean {mean}");

        let short =
            TimestepSampler::new(TimestepRange::SampleDistance(800), 50, 0).expect("valid range");
        assert_eq!(short.end(), 50, "min(sample_distance, T)");
    }

    #[test]
    fn deterministic_per_seed() {
        let draw = |seed| {
            TimestepSampler::new(TimestepRange::Full, 1000, seed)
                .expect("valid range")
                .sample(64)
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
    }

    #[test]
    fn rejects_an_empty_range() {
        let error = TimestepSampler::new(TimestepRange::SampleDistance(0), 1000, 0)
            .expect_err("empty range");
        assert!(
            error.to_string().contains("--sample-distance = 0"),
            "{error}"
        );
        assert!(TimestepSampler::new(TimestepRange::Full, 0, 0).is_err());
    }

    #[test]
    fn timestep_tensor_holds_integer_valued_floats() {
        let t = timestep_tensor(&[0, 250, 999], &Device::flex());
        assert_eq!(t.dims(), [3]);
        let values = t.try_into_vec_as::<f32>().expect("readable");
        assert_eq!(values, vec![0.0, 250.0, 999.0]);
    }
}

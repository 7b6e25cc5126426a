//! The bridge from the pure noise crate to Burn: the diffusion's `noise_fn(x, t)` (SPEC §2,
//! §3) as `f32` tensors on a device, for any [`NoiseKind`](dtunet_noise::NoiseKind), Gaussian
//! included.

use burn::tensor::{Device, Tensor, TensorData};
use dtunet_noise::{BatchShape, NoiseConfig, NoiseSource};

use crate::error::{DtunetError, Result};

/// A seeded stream of noise batches on one device: every call draws fresh noise (the
/// [`NoiseSource`] derives new OpenSimplex and Gaussian seeds from one ChaCha8 stream), so a
/// run is reproducible from its seed.
///
/// One call is one noise instance (SPEC §2.2): Tsimplex values depend only on `(x, y, c, t)`,
/// so samples of a batch at the same timestep get the same field, as in the reference. For
/// runs that must be independent (detection's `n` averaged reconstructions, batched
/// together), [`NoiseSampler::with_independent_groups`] draws each group of the batch from
/// its own instance.
#[derive(Debug, Clone)]
pub struct NoiseSampler {
    source: NoiseSource,
    device: Device,
    groups: usize,
}

impl NoiseSampler {
    /// A sampler of `config` noise seeded with `seed`, producing tensors on `device`.
    ///
    /// # Errors
    /// [`DtunetError::Noise`] when `config` is invalid (octaves 0, persistence ≤ 0, …).
    pub fn new(config: NoiseConfig, seed: u64, device: &Device) -> Result<Self> {
        Ok(Self {
            source: NoiseSource::new(config, seed)?,
            device: device.clone(),
            groups: 1,
        })
    }

    /// Splits every batch into `groups` equal consecutive parts, each drawn as its own noise
    /// instance (its own seeds), so the parts are independent runs.
    ///
    /// # Errors
    /// [`DtunetError::InvalidParameter`] for 0 groups.
    pub fn with_independent_groups(mut self, groups: usize) -> Result<Self> {
        if groups == 0 {
            return Err(DtunetError::InvalidParameter {
                name: "noise groups",
                found: "0".into(),
                expected: "at least 1".into(),
            });
        }
        self.groups = groups;
        Ok(self)
    }

    /// The configuration this sampler draws from.
    pub fn config(&self) -> &NoiseConfig {
        self.source.config()
    }

    /// The values of a batch drawn as `self.groups` independent instances.
    fn sample_groups(&mut self, dims: [usize; 4], timesteps: &[u32]) -> Result<Vec<f32>> {
        let [batch, channels, height, width] = dims;
        let timesteps = match timesteps {
            [single] => vec![*single; batch],
            many => many.to_vec(),
        };
        if batch == 0 || !batch.is_multiple_of(self.groups) || timesteps.len() != batch {
            return Err(DtunetError::InvalidParameter {
                name: "noise batch",
                found: format!("{batch} samples with {} timesteps", timesteps.len()),
                expected: format!(
                    "one timestep per sample and a multiple of the {} independent groups",
                    self.groups
                ),
            });
        }
        let mut values = Vec::with_capacity(batch * channels * height * width);
        for part in timesteps.chunks(batch / self.groups) {
            let field = self
                .source
                .sample(BatchShape::new(part.len(), channels, height, width), part)?;
            values.extend(field.data.iter().map(|&v| v as f32));
        }
        Ok(values)
    }

    /// The next noise batch, with timestep `t[b]` for sample `b` (time-indexed kinds depend on
    /// it; `gauss` ignores it).
    ///
    /// # Shapes
    /// - `dims`: `[B, C, H, W]`, the shape of the noise to draw (usually `x.dims()`)
    /// - `t`: `B` timesteps, or one for the whole batch
    /// - returns `[B, C, H, W]`, `f32`
    ///
    /// # Errors
    /// [`DtunetError::Noise`] for a zero dimension, a timestep count other than `B` or 1, or a
    /// shape the kind cannot fill (KTs patches); [`DtunetError::InvalidParameter`] for a
    /// timestep beyond `u32`.
    pub fn sample(&mut self, dims: [usize; 4], t: &[usize]) -> Result<Tensor<4>> {
        Ok(Tensor::from_data(self.sample_data(dims, t)?, &self.device))
    }

    /// The next noise batch as [`NoiseSampler::sample`] draws it, left on the host (`[B, C, H,
    /// W]` `f32` data): what a host thread prepares for a later step.
    ///
    /// # Errors
    /// As [`NoiseSampler::sample`].
    pub fn sample_data(&mut self, dims: [usize; 4], t: &[usize]) -> Result<TensorData> {
        let timesteps = t
            .iter()
            .map(|&step| {
                u32::try_from(step).map_err(|_| DtunetError::InvalidParameter {
                    name: "noise timestep",
                    found: step.to_string(),
                    expected: format!("a diffusion step up to {}", u32::MAX),
                })
            })
            .collect::<Result<Vec<u32>>>()?;
        let [batch, channels, height, width] = dims;
        let values: Vec<f32> = if self.groups == 1 {
            let field = self
                .source
                .sample(BatchShape::new(batch, channels, height, width), &timesteps)?;
            field.data.iter().map(|&v| v as f32).collect()
        } else {
            self.sample_groups(dims, &timesteps)?
        };
        Ok(TensorData::new(values, dims))
    }
}

#[cfg(test)]
mod tests {
    use dtunet_noise::NoiseKind;

    use super::*;

    fn config(kind: NoiseKind) -> NoiseConfig {
        NoiseConfig {
            kind,
            ..NoiseConfig::default()
        }
    }

    #[test]
    fn equals_the_noise_crate_field_in_f32_for_every_kind() {
        let dims = [2, 3, 16, 32];
        for kind in NoiseKind::ALL {
            let mut sampler = NoiseSampler::new(config(kind), 11, &Device::flex()).expect("valid");
            let tensor = sampler.sample(dims, &[4, 700]).expect("sample");
            assert_eq!(tensor.dims(), dims, "{kind}");
            let field = NoiseSource::new(config(kind), 11)
                .expect("valid")
                .sample(BatchShape::new(2, 3, 16, 32), &[4, 700])
                .expect("sample");
            let expected: Vec<f32> = field.data.iter().map(|&v| v as f32).collect();
            assert_eq!(
                tensor.try_into_vec_as::<f32>().expect("readable"),
                expected,
                "{kind}"
            );
        }
    }

    #[test]
    fn independent_groups_get_their_own_tsimplex_fields() {
        let values = |sampler: &mut NoiseSampler| {
            sampler
                .sample([4, 1, 8, 8], &[250])
                .expect("sample")
                .try_into_vec_as::<f32>()
                .expect("readable")
        };
        let plain = values(
            &mut NoiseSampler::new(config(NoiseKind::Tsimplex), 3, &Device::flex()).expect("ok"),
        );
        let image = |v: &[f32], b: usize| v[b * 64..(b + 1) * 64].to_vec();
        // One instance: every sample at the same timestep has the same field.
        assert_eq!(image(&plain, 0), image(&plain, 3));
        let mut grouped = NoiseSampler::new(config(NoiseKind::Tsimplex), 3, &Device::flex())
            .expect("ok")
            .with_independent_groups(2)
            .expect("2 groups");
        let grouped = values(&mut grouped);
        // Within a group the field is shared; across groups it is not.
        assert_eq!(image(&grouped, 0), image(&grouped, 1));
        assert_eq!(image(&grouped, 2), image(&grouped, 3));
        assert_ne!(image(&grouped, 0), image(&grouped, 2));
        // The first group is the first instance of the stream, as an ungrouped call of 2.
        let first = NoiseSampler::new(config(NoiseKind::Tsimplex), 3, &Device::flex())
            .expect("ok")
            .sample([2, 1, 8, 8], &[250, 250])
            .expect("sample")
            .try_into_vec_as::<f32>()
            .expect("readable");
        assert_eq!(grouped[..128], first[..]);
        let mut odd = NoiseSampler::new(config(NoiseKind::Tsimplex), 3, &Device::flex())
            .expect("ok")
            .with_independent_groups(2)
            .expect("2 groups");
        assert!(odd.sample([3, 1, 8, 8], &[1]).is_err());
    }

    #[test]
    fn deterministic_per_seed_and_fresh_per_call() {
        let draw = |seed, calls: usize| {
            let mut sampler =
                NoiseSampler::new(config(NoiseKind::Gauss), seed, &Device::flex()).expect("valid");
            let mut last = Vec::new();
            for _ in 0..calls {
                last = sampler
                    .sample([1, 1, 5, 7], &[3])
                    .expect("sample")
                    .try_into_vec_as::<f32>()
                    .expect("readable");
            }
            last
        };
        assert_eq!(draw(5, 1), draw(5, 1));
        assert_ne!(draw(5, 1), draw(6, 1));
        assert_ne!(draw(5, 1), draw(5, 2));
    }

    #[test]
    fn rejects_a_wrong_timestep_count_and_bad_configs() {
        let mut sampler =
            NoiseSampler::new(config(NoiseKind::Tsimplex), 0, &Device::flex()).expect("valid");
        let error = sampler
            .sample([2, 1, 8, 8], &[1, 2, 3])
            .expect_err("3 timesteps for 2 samples");
        assert!(
            error
                .to_string()
                .contains("3 timesteps given for a batch of 2"),
            "{error}"
        );
        let mut bad = config(NoiseKind::Tsimplex);
        bad.fractal.octaves = 0;
        assert!(NoiseSampler::new(bad, 0, &Device::flex()).is_err());
    }
}

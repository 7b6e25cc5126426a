//! One training step's pieces: its inputs drawn on the host from `(seed, step)`, and the loss
//! and gradients of a network on (a shard of) them.

use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};

use super::batches::{Purpose, TrainingImages, derive_seed};
use super::config::TrainConfig;
use crate::diffusion::{GaussianDiffusion, NoiseSampler, TimestepSampler, timestep_tensor};
use crate::error::{DtunetError, Result};
use crate::losses::noise_prediction_loss;
use crate::models::{Denoiser, NoisePredictor};

/// A training step's inputs, drawn on the host from `(seed, step)` alone.
#[derive(Debug, Clone)]
pub(crate) struct StepInputs {
    /// `[B, C, H, W]` training images.
    images: TensorData,
    /// `[B]` class labels.
    labels: TensorData,
    /// `B` timesteps.
    t: Vec<usize>,
    /// `[B, C, H, W]` noise for `t`.
    noise: TensorData,
}

impl StepInputs {
    /// The inputs of training step `step` (what the prefetching thread prepares).
    pub(crate) fn draw(
        config: &TrainConfig,
        noise_config: dtunet_noise::NoiseConfig,
        images: &TrainingImages,
        step: usize,
        dims: [usize; 4],
        device: &Device,
    ) -> Result<Self> {
        let indices = images.batch_indices(config.seed, step, config.batch_size);
        let (images, labels) = images.batch_data(&indices);
        let images = config.augment.apply(
            images,
            derive_seed(config.seed, Purpose::Augment, step as u64),
        )?;
        let (t, noise) = step_draw_data(config, noise_config, step, dims, device)?;
        Ok(Self {
            images,
            labels,
            t,
            noise,
        })
    }

    /// The batch cut into `parts` consecutive shards of equal size, in order.
    ///
    /// # Errors
    /// A batch that `parts` does not divide.
    pub(crate) fn split(self, parts: usize) -> Result<Vec<Self>> {
        let batch = self.t.len();
        if parts == 0 || !batch.is_multiple_of(parts) {
            return Err(DtunetError::InvalidParameter {
                name: "--devices",
                found: format!("{parts} devices for a batch of {batch}"),
                expected: "a number of devices that divides --batch-size".into(),
            });
        }
        let size = batch / parts;
        let images = shards::<f32>(&self.images, parts)?;
        let labels = shards::<i64>(&self.labels, parts)?;
        let noise = shards::<f32>(&self.noise, parts)?;
        Ok(images
            .into_iter()
            .zip(labels)
            .zip(noise)
            .zip(self.t.chunks(size))
            .map(|(((images, labels), noise), t)| Self {
                images,
                labels,
                t: t.to_vec(),
                noise,
            })
            .collect())
    }
}

/// `data` cut along its first dimension into `parts` equal consecutive pieces.
fn shards<E: burn::tensor::Element>(data: &TensorData, parts: usize) -> Result<Vec<TensorData>> {
    let values = data
        .as_slice::<E>()
        .map_err(|error| DtunetError::InvalidParameter {
            name: "training batch",
            found: format!("{error:?}"),
            expected: "host data of the drawn element type".into(),
        })?;
    let mut shape: Vec<usize> = data.shape().to_vec();
    shape[0] /= parts;
    let len = values.len() / parts;
    Ok(values
        .chunks(len)
        .map(|piece| TensorData::new(piece.to_vec(), shape.clone()))
        .collect())
}

/// The timesteps (`dims[0]` of them, from the run's range) and the noise `[B, C, H, W]` of
/// training step `step` on `device`; both depend only on `(seed, step)`, which makes resuming
/// exact.
pub(crate) fn step_draws(
    config: &TrainConfig,
    noise_config: dtunet_noise::NoiseConfig,
    step: usize,
    dims: [usize; 4],
    device: &Device,
) -> Result<(Vec<usize>, Tensor<4>)> {
    let (t, noise) = step_draw_data(config, noise_config, step, dims, device)?;
    Ok((t, Tensor::from_data(noise, device)))
}

/// [`step_draws`] with the noise left on the host.
fn step_draw_data(
    config: &TrainConfig,
    noise_config: dtunet_noise::NoiseConfig,
    step: usize,
    dims: [usize; 4],
    device: &Device,
) -> Result<(Vec<usize>, TensorData)> {
    let mut timesteps = TimestepSampler::new(
        config.timestep_range(),
        config.diffusion.steps,
        derive_seed(config.seed, Purpose::Timesteps, step as u64),
    )?;
    let t = timesteps.sample(dims[0]);
    let mut noise = NoiseSampler::new(
        noise_config,
        derive_seed(config.seed, Purpose::Noise, step as u64),
        device,
    )?;
    let noise = noise.sample_data(dims, &t)?;
    Ok((t, noise))
}

/// What a network computed on a batch (or shard): the mean loss, the mean of each loss term
/// and the gradients of the mean loss (not finite when the loss is not: the caller checks).
pub(crate) struct StepGradients {
    /// Mean loss over the samples.
    pub loss: f64,
    /// Mean of each loss term (the loss kind's terms, then `vlb` for hybrid kinds).
    pub terms: Vec<f64>,
    /// Gradients of the mean loss.
    pub gradients: GradientsParams,
}

/// The loss of `model` on `inputs` (moved to `device`, where the model lives) and its
/// gradients.
pub(crate) fn step_gradients(
    model: &Denoiser,
    diffusion: &GaussianDiffusion,
    config: &TrainConfig,
    inputs: StepInputs,
    device: &Device,
) -> StepGradients {
    let StepInputs {
        images,
        labels,
        t,
        noise,
    } = inputs;
    let x_start = Tensor::<4>::from_data(images, device);
    let noise = Tensor::<4>::from_data(noise, device);
    let y = (config.model.num_classes > 0).then(|| Tensor::from_data(labels, device));
    let x_t = diffusion.q_sample(x_start.clone(), &t, noise.clone());
    let eps_hat = model.predict_noise(x_t.clone(), timestep_tensor(&t, device), y);
    let terms = noise_prediction_loss(config.loss, eps_hat.clone(), noise);
    let mut per_sample = terms.loss.clone();
    let mut term_values: Vec<Tensor<1>> = terms.terms().map(|(_, v)| v.clone()).collect();
    if config.loss.needs_vlb() {
        let prediction = diffusion.p_mean_variance_from_eps(x_t, &t, eps_hat, false);
        let vb = diffusion.vb_terms_bpd(x_start, &t, &prediction);
        per_sample = per_sample + vb.clone();
        term_values.push(vb);
    }
    let loss = per_sample.mean();
    let loss_value = f64::from(loss.clone().into_scalar::<f32>());
    let terms = term_values
        .into_iter()
        .map(|v| f64::from(v.mean().into_scalar::<f32>()))
        .collect();
    // Even for a non-finite loss: replicas joined by a collective all-reduce must all take part.
    let gradients = GradientsParams::from_grads(loss.backward(), model);
    StepGradients {
        loss: loss_value,
        terms,
        gradients,
    }
}

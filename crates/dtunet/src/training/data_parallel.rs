//! Data-parallel training steps: every batch cut into equal shards, one replica of the network
//! per device computing its shard's loss and gradients on its own thread, the gradients averaged
//! onto the first device, where the one optimiser step, the EMA and the checkpoints happen.
//!
//! With equal shards the mean of the shards' mean losses is the batch's mean loss, so the
//! averaged gradients are the batch's gradients (up to the order of f32 sums): N replicas of
//! batch b/N take the step one replica of batch b takes. The average goes through the first
//! device (each replica's gradients are moved there); the backends' collective all-reduce
//! (`burn::tensor::distributed`, NCCL on CUDA) is not used yet, as Flex has none to test it on.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};

use super::config::TrainConfig;
use super::step::{StepGradients, StepInputs, step_gradients};
use crate::diffusion::GaussianDiffusion;
use crate::error::{DtunetError, Result};
use crate::models::{Architecture, Denoiser};

/// The devices a run trains on (autodiff devices; the first holds the model, the optimiser and
/// the EMA) and each one's diffusion process.
pub(crate) struct Replicas<'a> {
    /// `(device, its diffusion)`, at least one.
    pub devices: &'a [(Device, GaussianDiffusion)],
}

impl Replicas<'_> {
    /// The loss, terms and gradients of `model` on `inputs`: on the first device alone, or
    /// averaged over one shard per device.
    ///
    /// # Errors
    /// A batch the device count does not divide.
    pub(crate) fn step(
        &self,
        model: &Denoiser,
        config: &TrainConfig,
        inputs: StepInputs,
    ) -> Result<StepGradients> {
        if let [(device, diffusion)] = self.devices {
            return Ok(step_gradients(model, diffusion, config, inputs, device));
        }
        let shards = inputs.split(self.devices.len())?;
        let results: Vec<StepGradients> = std::thread::scope(|scope| {
            let workers: Vec<_> = self
                .devices
                .iter()
                .zip(shards)
                .map(|((device, diffusion), shard)| {
                    let replica = model.clone().fork(device);
                    scope.spawn(move || step_gradients(&replica, diffusion, config, shard, device))
                })
                .collect();
            workers
                .into_iter()
                .map(|worker| worker.join().expect("a replica's thread panicked"))
                .collect()
        });
        Ok(combine(model, results))
    }
}

/// The mean loss, terms and gradients of equal shards (gradients `None` when any shard's loss
/// is not finite).
fn combine(model: &Denoiser, results: Vec<StepGradients>) -> StepGradients {
    let count = results.len() as f64;
    let loss = results.iter().map(|r| r.loss).sum::<f64>() / count;
    let terms = (0..results[0].terms.len())
        .map(|i| results.iter().map(|r| r.terms[i]).sum::<f64>() / count)
        .collect();
    let gradients: Option<Vec<GradientsParams>> =
        results.into_iter().map(|r| r.gradients).collect();
    StepGradients {
        loss,
        terms,
        gradients: gradients.map(|all| average_gradients(model, all)),
    }
}

/// The mean over `replicas` of each parameter's gradient of `model`, on the device of the
/// first replica's gradient.
pub fn average_gradients(model: &Denoiser, replicas: Vec<GradientsParams>) -> GradientsParams {
    struct Average {
        replicas: Vec<GradientsParams>,
        mean: GradientsParams,
    }
    impl ModuleVisitor for Average {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let count = self.replicas.len();
            let mut sum: Option<Tensor<D>> = None;
            for gradients in &mut self.replicas {
                let Some(gradient) = gradients.remove::<D>(param.id) else {
                    continue;
                };
                sum = Some(match sum {
                    Some(sum) => {
                        let gradient = gradient.to_device(&sum.device());
                        sum + gradient
                    }
                    None => gradient,
                });
            }
            if let Some(sum) = sum {
                self.mean.register(param.id, sum.div_scalar(count as f64));
            }
        }
    }
    let mut average = Average {
        replicas,
        mean: GradientsParams::new(),
    };
    model.visit(&mut average);
    average.mean
}

/// Refuses data-parallel training of networks with BatchNorm (DAFF): each replica would
/// normalise with its shard's statistics and keep running statistics the model never sees.
///
/// # Errors
/// As above, naming the feed-forward setting.
pub(crate) fn check_data_parallel(config: &TrainConfig, devices: usize) -> Result<()> {
    let transformer = config.model.arch != Architecture::Unet;
    if devices > 1 && transformer && config.model.ff.uses_daff() {
        return Err(DtunetError::InvalidParameter {
            name: "--devices",
            found: format!("{devices} devices with ff {}", config.model.ff),
            expected: "one device for DAFF (its BatchNorm statistics are per device; \
                       data-parallel training runs MLP feed-forwards and the UNet)"
                .into(),
        });
    }
    Ok(())
}

//! Data-parallel training steps: every batch cut into equal shards, one replica of the network
//! per device computing its shard's loss and gradients on its own thread, the gradients averaged
//! onto the first device, where the one optimiser step, the EMA and the checkpoints happen.
//!
//! With equal shards the mean of the shards' mean losses is the batch's mean loss, so the
//! averaged gradients are the batch's gradients (up to the order of f32 sums): N replicas of
//! batch b/N take the step one replica of batch b takes. The average goes through the first
//! device ([`GradientReduction::OnFirstDevice`], any backend, tested on Flex replicas) or
//! through Burn's collective all-reduce ([`GradientReduction::AllReduce`]: NCCL on CUDA; Flex
//! has no collective operations, so that path is type-checked only).

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::distributed::{ReduceOperation, all_reduce};
use burn::tensor::{Device, Tensor};

use super::config::TrainConfig;
use super::step::{StepGradients, StepInputs, step_gradients};
use crate::diffusion::GaussianDiffusion;
use crate::error::{DtunetError, Result};
use crate::models::{Architecture, Denoiser};

/// How the replicas' gradients are averaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GradientReduction {
    /// Every replica's gradients are moved to the first device and averaged there: any
    /// backend.
    #[default]
    OnFirstDevice,
    /// Burn's collective all-reduce (mean) between the devices, each replica's thread taking
    /// part (`burn::tensor::distributed`; NCCL on CUDA): needs a backend with collective
    /// operations, i.e. cuda. Type-checked; not yet run on several GPUs.
    AllReduce,
}

/// The devices a run trains on (autodiff devices; the first holds the model, the optimiser and
/// the EMA), each one's diffusion process, and how their gradients meet.
pub(crate) struct Replicas<'a> {
    /// `(device, its diffusion)`, at least one.
    pub devices: &'a [(Device, GaussianDiffusion)],
    /// How the gradients are averaged.
    pub reduction: GradientReduction,
    /// The devices as given (without autodiff), the members of the all-reduce.
    pub peers: &'a [Device],
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
        let (reduction, peers) = (self.reduction, self.peers);
        let results: Vec<StepGradients> = std::thread::scope(|scope| {
            let workers: Vec<_> = self
                .devices
                .iter()
                .zip(shards)
                .map(|((device, diffusion), shard)| {
                    let replica = model.clone().fork(device);
                    scope.spawn(move || {
                        let mut result = step_gradients(&replica, diffusion, config, shard, device);
                        if reduction == GradientReduction::AllReduce {
                            result.gradients = all_reduce_mean(&replica, result.gradients, peers);
                        }
                        result
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|worker| worker.join().expect("a replica's thread panicked"))
                .collect()
        });
        Ok(combine(model, results, reduction))
    }
}

/// The mean loss, terms and gradients of equal shards: the gradients averaged here, or already
/// averaged by the all-reduce (the first replica's, on the first device).
fn combine(
    model: &Denoiser,
    results: Vec<StepGradients>,
    reduction: GradientReduction,
) -> StepGradients {
    let count = results.len() as f64;
    let loss = results.iter().map(|r| r.loss).sum::<f64>() / count;
    let terms = (0..results[0].terms.len())
        .map(|i| results.iter().map(|r| r.terms[i]).sum::<f64>() / count)
        .collect();
    let mut all: Vec<GradientsParams> = results.into_iter().map(|r| r.gradients).collect();
    let gradients = match reduction {
        GradientReduction::OnFirstDevice => average_gradients(model, all),
        GradientReduction::AllReduce => all.swap_remove(0),
    };
    StepGradients {
        loss,
        terms,
        gradients,
    }
}

/// Every parameter gradient of `replica` replaced by its mean over `peers` (a collective:
/// every peer's thread calls this with its own replica, in the same parameter order).
fn all_reduce_mean(
    replica: &Denoiser,
    gradients: GradientsParams,
    peers: &[Device],
) -> GradientsParams {
    struct Reduce<'a> {
        gradients: GradientsParams,
        peers: &'a [Device],
    }
    impl ModuleVisitor for Reduce<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(gradient) = self.gradients.remove::<D>(param.id) {
                let mean = all_reduce(gradient, ReduceOperation::Mean, self.peers.to_vec());
                self.gradients.register(param.id, mean.resolve());
            }
        }
    }
    let mut reduce = Reduce { gradients, peers };
    replica.visit(&mut reduce);
    reduce.gradients
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

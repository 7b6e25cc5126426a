//! Exponential moving average of the weights (SPEC §8), the weights detection uses.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::Tensor;

use crate::models::Denoiser;

/// `ema ← rate·ema + (1 − rate)·θ` after every optimiser step, on every float tensor of the
/// model (parameters and BatchNorm running statistics), kept off the autodiff graph.
#[derive(Debug)]
pub struct Ema {
    model: Denoiser,
    rate: f64,
}

impl Ema {
    /// Starts the average at the current weights of `model`.
    pub fn new(model: &Denoiser, rate: f64) -> Self {
        Self {
            model: model.valid(),
            rate,
        }
    }

    /// Resumes an average saved earlier.
    pub fn from_saved(model: Denoiser, rate: f64) -> Self {
        Self { model, rate }
    }

    /// Moves the average towards the current weights of `model`.
    ///
    /// Also brings `model`'s BatchNorm running statistics up to date: Burn keeps the last
    /// update of a running statistic pending until something synchronises it, and visitors
    /// (this average, checkpoint writers) would otherwise read the value one step behind —
    /// and a run resumed from such a checkpoint would continue from that stale value.
    pub fn update(&mut self, model: &Denoiser) {
        // `valid()` synchronises the running statistics shared with `model`.
        let current = model.valid();
        let mut gather = GatherTensors::default();
        current.visit(&mut gather);
        let mut blend = Blend {
            current: gather.tensors.into_iter(),
            rate: self.rate,
        };
        let averaged = self.model.clone().map(&mut blend);
        self.model = averaged;
    }

    /// The averaged network (no autodiff).
    pub fn model(&self) -> &Denoiser {
        &self.model
    }
}

#[derive(Default)]
struct GatherTensors {
    tensors: Vec<Tensor<1>>,
}

impl ModuleVisitor for GatherTensors {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val().inner();
        let count = value.shape().num_elements();
        self.tensors.push(value.reshape([count]));
    }
}

struct Blend<I> {
    current: I,
    rate: f64,
}

impl<I: Iterator<Item = Tensor<1>>> ModuleMapper for Blend<I> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(current) = self.current.next() else {
            return param;
        };
        let rate = self.rate;
        param.map(|average| {
            let shape = average.shape();
            average.mul_scalar(rate) + current.reshape(shape).mul_scalar(1.0 - rate)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::ModelConfig;
    use burn::tensor::Device;

    fn tiny() -> ModelConfig {
        ModelConfig {
            img_size: 8,
            patch_size: 4,
            embed_dim: 8,
            depth: 2,
            heads: 2,
            ..ModelConfig::default()
        }
    }

    fn first_weight(model: &Denoiser) -> Vec<f32> {
        let mut gather = GatherTensors::default();
        model.visit(&mut gather);
        gather.tensors[0]
            .clone()
            .into_data()
            .try_to_vec()
            .expect("f32")
    }

    #[test]
    fn the_average_moves_by_one_minus_rate() {
        let device = Device::flex();
        let start = Denoiser::new(&tiny(), &device).expect("valid");
        let mut ema = Ema::new(&start, 0.75);
        let target = Denoiser::new(&tiny(), &device).expect("valid");
        ema.update(&target);
        let (a, b, m) = (
            first_weight(&start),
            first_weight(&target),
            first_weight(ema.model()),
        );
        for ((a, b), m) in a.iter().zip(&b).zip(&m) {
            assert!((m - (0.75 * a + 0.25 * b)).abs() < 1e-6);
        }
    }
}

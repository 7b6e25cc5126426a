//! Batch normalisation with batch statistics and its backward, fused (dtunet patch).
//!
//! Burn's default `batch_norm_train` and `batch_norm_train_backward` swap the batch and
//! channel axes and copy the tensor to reduce over each channel, then run about ten
//! element-wise passes. Here the tensor is read in place as `[N, C, S]` (`S` the product of
//! the trailing axes, 1 for a `[rows, channels]` matrix): two reading passes give the
//! statistics, one pass writes the output; the backward is one reading pass and one writing
//! pass. Per-channel sums are accumulated in f64 over fixed groups of `N` and added in group
//! order, so the result does not depend on the number of threads.

use alloc::vec;
use alloc::vec::Vec;
use burn_backend::ops::{BatchNormTrain, BatchNormTrainBackward, FloatTensorOps};
use burn_backend::{DType, Element, FloatDType, TensorMetadata};
use burn_std::{Bytes, Shape};
use num_traits::Float;

use crate::{Flex, FlexTensor, Layout};

/// Elements per task of a channel sweep.
const TASK_ELEMENTS: usize = 16 * 1024;

/// A contiguous `[N, C, ...]` tensor seen as `[outer, channels, inner]`.
#[derive(Clone, Copy, Debug)]
struct ChannelView {
    outer: usize,
    channels: usize,
    inner: usize,
}

impl ChannelView {
    fn of(shape: &Shape) -> Self {
        let channels = shape[1];
        Self {
            outer: shape[0],
            channels,
            inner: shape.num_elements() / (shape[0] * channels).max(1),
        }
    }

    /// Elements of one `outer` index.
    fn slab(&self) -> usize {
        self.channels * self.inner
    }

    /// Values averaged per channel.
    fn count(&self) -> f64 {
        (self.outer * self.inner) as f64
    }

    /// `outer` indices per task: a fixed grouping, so sums do not depend on the thread count.
    fn outer_per_task(&self) -> usize {
        (TASK_ELEMENTS / self.slab().max(1)).max(1)
    }

    fn tasks(&self) -> usize {
        self.outer.div_ceil(self.outer_per_task())
    }

    fn parallel(&self) -> bool {
        #[cfg(feature = "rayon")]
        {
            self.outer * self.slab() >= super::PARALLEL_THRESHOLD
                && rayon::current_num_threads() > 1
        }
        #[cfg(not(feature = "rayon"))]
        {
            false
        }
    }

    /// Per channel, the two sums of `term(channel, flat index)` over all `outer` and `inner`
    /// positions.
    fn sums<F>(&self, term: F) -> (Vec<f64>, Vec<f64>)
    where
        F: Fn(usize, usize) -> (f64, f64) + Sync,
    {
        let task = |task: usize| {
            let mut first = vec![0.0f64; self.channels];
            let mut second = vec![0.0f64; self.channels];
            let start = task * self.outer_per_task();
            let end = (start + self.outer_per_task()).min(self.outer);
            for n in start..end {
                for c in 0..self.channels {
                    let base = (n * self.channels + c) * self.inner;
                    for index in base..base + self.inner {
                        let (a, b) = term(c, index);
                        first[c] += a;
                        second[c] += b;
                    }
                }
            }
            (first, second)
        };
        let partials: Vec<(Vec<f64>, Vec<f64>)> = if self.parallel() {
            #[cfg(feature = "rayon")]
            {
                use rayon::prelude::*;
                (0..self.tasks()).into_par_iter().map(task).collect()
            }
            #[cfg(not(feature = "rayon"))]
            {
                unreachable!()
            }
        } else {
            (0..self.tasks()).map(task).collect()
        };
        let mut first = vec![0.0f64; self.channels];
        let mut second = vec![0.0f64; self.channels];
        for (a, b) in partials {
            for c in 0..self.channels {
                first[c] += a[c];
                second[c] += b[c];
            }
        }
        (first, second)
    }

    /// A new `[N, C, ...]` buffer with `value(channel, flat index)` at every position.
    fn map<T, F>(&self, value: F) -> Vec<T>
    where
        T: Float + Send,
        F: Fn(usize, usize) -> T + Sync,
    {
        let slab = self.slab();
        let mut output = vec![T::zero(); self.outer * slab];
        let fill = |task: usize, chunk: &mut [T]| {
            let first_outer = task * self.outer_per_task();
            for (local, slab_out) in chunk.chunks_mut(slab).enumerate() {
                let slab_start = (first_outer + local) * slab;
                for c in 0..self.channels {
                    let row = c * self.inner;
                    for (s, out) in slab_out[row..row + self.inner].iter_mut().enumerate() {
                        *out = value(c, slab_start + row + s);
                    }
                }
            }
        };
        let task_len = self.outer_per_task() * slab;
        if self.parallel() {
            #[cfg(feature = "rayon")]
            {
                use rayon::prelude::*;
                output
                    .par_chunks_mut(task_len)
                    .enumerate()
                    .for_each(|(task, chunk)| fill(task, chunk));
            }
        } else {
            output
                .chunks_mut(task_len.max(1))
                .enumerate()
                .for_each(|(task, chunk)| fill(task, chunk));
        }
        output
    }
}

/// The values of a tensor made contiguous.
fn values<T: Element + bytemuck::Pod>(tensor: &FlexTensor) -> &[T] {
    let (start, end) = tensor
        .layout()
        .contiguous_offsets()
        .expect("batch norm: tensor made contiguous");
    &tensor.storage::<T>()[start..end]
}

fn tensor_of<T: Element + bytemuck::Pod>(data: Vec<T>, shape: Shape) -> FlexTensor {
    FlexTensor::new(Bytes::from_elems(data), Layout::contiguous(shape), T::dtype())
}

fn to_f64<T: Float>(value: T) -> f64 {
    value.to_f64().expect("float converts to f64")
}

fn from_f64<T: Float>(value: f64) -> T {
    T::from(value).expect("f64 converts to float")
}

/// `[C]` tensor of `values` in `T`.
fn channel_tensor<T: Element + bytemuck::Pod + Float>(values: &[f64]) -> FlexTensor {
    let channels = values.len();
    tensor_of(
        values.iter().map(|&v| from_f64::<T>(v)).collect(),
        Shape::new([channels]),
    )
}

fn channel_values<T: Element + bytemuck::Pod + Float>(tensor: FlexTensor) -> Vec<f64> {
    values::<T>(&tensor.to_contiguous())
        .iter()
        .map(|&v| to_f64(v))
        .collect()
}

/// Batch normalisation of `x: [N, C, ...]` with its own per-channel mean and biased
/// variance, returned with them (`[C]` each).
pub(crate) fn batch_norm_train(
    x: FlexTensor,
    gamma: FlexTensor,
    beta: FlexTensor,
    epsilon: f64,
) -> BatchNormTrain<Flex> {
    match x.dtype() {
        DType::F32 => train::<f32>(x, gamma, beta, epsilon),
        DType::F64 => train::<f64>(x, gamma, beta, epsilon),
        dtype => {
            let result = train::<f32>(
                to_f32(x),
                to_f32(gamma),
                to_f32(beta),
                epsilon,
            );
            BatchNormTrain::new(
                cast(result.output, dtype),
                cast(result.mean, dtype),
                cast(result.variance, dtype),
            )
        }
    }
}

/// Gradients of [`batch_norm_train`] with respect to `x`, `gamma` and `beta`.
pub(crate) fn batch_norm_train_backward(
    x: FlexTensor,
    gamma: FlexTensor,
    mean: FlexTensor,
    variance: FlexTensor,
    epsilon: f64,
    output_grad: FlexTensor,
) -> BatchNormTrainBackward<Flex> {
    match x.dtype() {
        DType::F32 => train_backward::<f32>(x, gamma, mean, variance, epsilon, output_grad),
        DType::F64 => train_backward::<f64>(x, gamma, mean, variance, epsilon, output_grad),
        dtype => {
            let result = train_backward::<f32>(
                to_f32(x),
                to_f32(gamma),
                to_f32(mean),
                to_f32(variance),
                epsilon,
                to_f32(output_grad),
            );
            BatchNormTrainBackward::new(
                cast(result.x_grad, dtype),
                cast(result.gamma_grad, dtype),
                cast(result.beta_grad, dtype),
            )
        }
    }
}

fn to_f32(tensor: FlexTensor) -> FlexTensor {
    Flex::float_cast(tensor, FloatDType::F32)
}

fn cast(tensor: FlexTensor, dtype: DType) -> FlexTensor {
    Flex::float_cast(tensor, FloatDType::from(dtype))
}

fn train<T>(x: FlexTensor, gamma: FlexTensor, beta: FlexTensor, epsilon: f64) -> BatchNormTrain<Flex>
where
    T: Float + Element + bytemuck::Pod + Send + Sync,
{
    let x = x.to_contiguous();
    let shape = x.layout().shape().clone();
    let view = ChannelView::of(&shape);
    let xs = values::<T>(&x);
    let gamma = channel_values::<T>(gamma);
    let beta = channel_values::<T>(beta);

    let (sums, _) = view.sums(|_, i| (to_f64(xs[i]), 0.0));
    let mean: Vec<f64> = sums.iter().map(|s| s / view.count()).collect();
    let (squares, _) = view.sums(|c, i| {
        let centred = to_f64(xs[i]) - mean[c];
        (centred * centred, 0.0)
    });
    let variance: Vec<f64> = squares.iter().map(|s| s / view.count()).collect();

    let mean_t: Vec<T> = mean.iter().map(|&m| from_f64(m)).collect();
    let scale: Vec<T> = (0..view.channels)
        .map(|c| from_f64(gamma[c] / (variance[c] + epsilon).sqrt()))
        .collect();
    let shift: Vec<T> = beta.iter().map(|&b| from_f64(b)).collect();
    let output = view.map(|c, i| (xs[i] - mean_t[c]) * scale[c] + shift[c]);

    BatchNormTrain::new(
        tensor_of(output, shape),
        channel_tensor::<T>(&mean),
        channel_tensor::<T>(&variance),
    )
}

fn train_backward<T>(
    x: FlexTensor,
    gamma: FlexTensor,
    mean: FlexTensor,
    variance: FlexTensor,
    epsilon: f64,
    output_grad: FlexTensor,
) -> BatchNormTrainBackward<Flex>
where
    T: Float + Element + bytemuck::Pod + Send + Sync,
{
    let x = x.to_contiguous();
    let grad = output_grad.to_contiguous();
    let shape = x.layout().shape().clone();
    assert_eq!(
        grad.shape(),
        shape,
        "batch norm backward: output gradient shape must equal the input shape"
    );
    let view = ChannelView::of(&shape);
    let xs = values::<T>(&x);
    let gs = values::<T>(&grad);
    let gamma = channel_values::<T>(gamma);
    let mean = channel_values::<T>(mean);
    let inv_std: Vec<f64> = channel_values::<T>(variance)
        .iter()
        .map(|v| 1.0 / (v + epsilon).sqrt())
        .collect();

    let (grad_sums, centred_grad_sums) = view.sums(|c, i| {
        let g = to_f64(gs[i]);
        (g, g * (to_f64(xs[i]) - mean[c]))
    });
    let gamma_grad: Vec<f64> = (0..view.channels)
        .map(|c| centred_grad_sums[c] * inv_std[c])
        .collect();

    // x_grad = γ·σ⁻¹·(g − mean(g) − x̂·mean(g·x̂)) with x̂ = (x − μ)·σ⁻¹.
    let mut grad_scale = Vec::with_capacity(view.channels);
    let mut grad_offset = Vec::with_capacity(view.channels);
    let mut centred_scale = Vec::with_capacity(view.channels);
    for c in 0..view.channels {
        let scale = gamma[c] * inv_std[c];
        grad_scale.push(from_f64::<T>(scale));
        grad_offset.push(from_f64::<T>(scale * grad_sums[c] / view.count()));
        centred_scale.push(from_f64::<T>(
            scale * inv_std[c] * gamma_grad[c] / view.count(),
        ));
    }
    let mean_t: Vec<T> = mean.iter().map(|&m| from_f64(m)).collect();
    let x_grad = view.map(|c, i| {
        gs[i] * grad_scale[c] - grad_offset[c] - (xs[i] - mean_t[c]) * centred_scale[c]
    });

    BatchNormTrainBackward::new(
        tensor_of(x_grad, shape),
        channel_tensor::<T>(&gamma_grad),
        channel_tensor::<T>(&grad_sums),
    )
}

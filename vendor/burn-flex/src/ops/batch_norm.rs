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

/// Most `[rows, C]` rows one task adds up in the element type before the task's sums join the
/// f64 totals (bounds the rounding of an f32 running sum).
const ROWS_PER_TASK: usize = 64;

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
        (TASK_ELEMENTS / self.slab().max(1)).clamp(1, ROWS_PER_TASK)
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

    /// `f(task)` for every task, in task order, on the rayon pool when the tensor is large.
    fn per_task<R: Send, F: Fn(usize) -> R + Sync + Send>(&self, f: F) -> Vec<R> {
        if self.parallel() {
            #[cfg(feature = "rayon")]
            {
                use rayon::prelude::*;
                return (0..self.tasks()).into_par_iter().map(f).collect();
            }
        }
        (0..self.tasks()).map(f).collect()
    }

    /// Two per-channel sums over all `outer` and `inner` positions. For `inner == 1` (a
    /// `[rows, C]` matrix) `row(n, first, second)` adds row `n`'s terms to running sums in the
    /// element type, channel-parallel so it vectorises; otherwise `plane(n, c)` returns the
    /// f64 sums of the contiguous plane `(n, c)`.
    fn sums<T, Row, Plane>(&self, row: Row, plane: Plane) -> (Vec<f64>, Vec<f64>)
    where
        T: Float + Send,
        Row: Fn(usize, &mut [T], &mut [T]) + Sync + Send,
        Plane: Fn(usize, usize) -> (f64, f64) + Sync + Send,
    {
        let partials = self.per_task(|task| {
            let start = task * self.outer_per_task();
            let end = (start + self.outer_per_task()).min(self.outer);
            let mut first = vec![0.0f64; self.channels];
            let mut second = vec![0.0f64; self.channels];
            if self.inner == 1 {
                let mut row_first = vec![T::zero(); self.channels];
                let mut row_second = vec![T::zero(); self.channels];
                for n in start..end {
                    row(n, &mut row_first, &mut row_second);
                }
                for c in 0..self.channels {
                    first[c] = to_f64(row_first[c]);
                    second[c] = to_f64(row_second[c]);
                }
            } else {
                for n in start..end {
                    for c in 0..self.channels {
                        let (a, b) = plane(n, c);
                        first[c] += a;
                        second[c] += b;
                    }
                }
            }
            (first, second)
        });
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

    /// A new `[N, C, ...]` buffer written slab by slab: `fill(n, c, out)` writes the `inner`
    /// values of channel `c` of slab `n` — for `inner == 1` it is called once per slab with
    /// `c = 0` and the whole `[C]` row.
    fn map<T, F>(&self, fill: F) -> Vec<T>
    where
        T: Float + Send,
        F: Fn(usize, usize, &mut [T]) + Sync + Send,
    {
        let slab = self.slab();
        let mut output = vec![T::zero(); self.outer * slab];
        let task_len = (self.outer_per_task() * slab).max(1);
        let fill_task = |task: usize, chunk: &mut [T]| {
            let first = task * self.outer_per_task();
            for (local, slab_out) in chunk.chunks_mut(slab.max(1)).enumerate() {
                if self.inner == 1 {
                    fill(first + local, 0, slab_out);
                } else {
                    for (c, plane) in slab_out.chunks_mut(self.inner).enumerate() {
                        fill(first + local, c, plane);
                    }
                }
            }
        };
        if self.parallel() {
            #[cfg(feature = "rayon")]
            {
                use rayon::prelude::*;
                output
                    .par_chunks_mut(task_len)
                    .enumerate()
                    .for_each(|(task, chunk)| fill_task(task, chunk));
                return output;
            }
        }
        output
            .chunks_mut(task_len)
            .enumerate()
            .for_each(|(task, chunk)| fill_task(task, chunk));
        output
    }

    /// The `[C]` row `n` (`inner == 1`) or the plane `(n, c)` of `values`.
    fn run<'a, T>(&self, values: &'a [T], n: usize, c: usize) -> &'a [T] {
        let start = (n * self.channels + c) * self.inner;
        let len = if self.inner == 1 {
            self.channels
        } else {
            self.inner
        };
        &values[start..start + len]
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
    FlexTensor::new(
        Bytes::from_elems(data),
        Layout::contiguous(shape),
        T::dtype(),
    )
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
            let result = train::<f32>(to_f32(x), to_f32(gamma), to_f32(beta), epsilon);
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

fn train<T>(
    x: FlexTensor,
    gamma: FlexTensor,
    beta: FlexTensor,
    epsilon: f64,
) -> BatchNormTrain<Flex>
where
    T: Float + Element + bytemuck::Pod + Send + Sync,
{
    let x = x.to_contiguous();
    let shape = x.layout().shape().clone();
    let view = ChannelView::of(&shape);
    let xs = values::<T>(&x);
    let gamma = channel_values::<T>(gamma);
    let beta = channel_values::<T>(beta);

    let (sums, _) = view.sums::<T, _, _>(
        |n, sum, _| {
            for (s, &x) in sum.iter_mut().zip(view.run(xs, n, 0)) {
                *s = *s + x;
            }
        },
        |n, c| (view.run(xs, n, c).iter().map(|&x| to_f64(x)).sum(), 0.0),
    );
    let mean: Vec<f64> = sums.iter().map(|s| s / view.count()).collect();
    let mean_t: Vec<T> = mean.iter().map(|&m| from_f64(m)).collect();
    let (squares, _) = view.sums::<T, _, _>(
        |n, sum, _| {
            for ((s, &x), &m) in sum.iter_mut().zip(view.run(xs, n, 0)).zip(&mean_t) {
                *s = *s + (x - m) * (x - m);
            }
        },
        |n, c| {
            let squares = view
                .run(xs, n, c)
                .iter()
                .map(|&x| (to_f64(x) - mean[c]).powi(2));
            (squares.sum(), 0.0)
        },
    );
    let variance: Vec<f64> = squares.iter().map(|s| s / view.count()).collect();

    let scale: Vec<T> = (0..view.channels)
        .map(|c| from_f64(gamma[c] / (variance[c] + epsilon).sqrt()))
        .collect();
    let shift: Vec<T> = beta.iter().map(|&b| from_f64(b)).collect();
    let output = view.map(|n, c, out: &mut [T]| {
        if view.inner == 1 {
            let params = mean_t.iter().zip(&scale).zip(&shift);
            for ((o, &x), ((&m, &s), &b)) in out.iter_mut().zip(view.run(xs, n, 0)).zip(params) {
                *o = (x - m) * s + b;
            }
        } else {
            let (m, s, b) = (mean_t[c], scale[c], shift[c]);
            for (o, &x) in out.iter_mut().zip(view.run(xs, n, c)) {
                *o = (x - m) * s + b;
            }
        }
    });

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

    let mean_t: Vec<T> = mean.iter().map(|&m| from_f64(m)).collect();
    let (grad_sums, centred_grad_sums) = view.sums::<T, _, _>(
        |n, grad_sum, centred_sum| {
            let rows = view
                .run(gs, n, 0)
                .iter()
                .zip(view.run(xs, n, 0))
                .zip(&mean_t);
            for ((a, b), ((&g, &x), &m)) in
                grad_sum.iter_mut().zip(centred_sum.iter_mut()).zip(rows)
            {
                *a = *a + g;
                *b = *b + g * (x - m);
            }
        },
        |n, c| {
            let pairs = view.run(gs, n, c).iter().zip(view.run(xs, n, c));
            pairs.fold((0.0, 0.0), |(a, b), (&g, &x)| {
                let g = to_f64(g);
                (a + g, b + g * (to_f64(x) - mean[c]))
            })
        },
    );
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
    let x_grad = view.map(|n, c, out: &mut [T]| {
        let (g_run, x_run) = (view.run(gs, n, c), view.run(xs, n, c));
        if view.inner == 1 {
            let params = grad_scale
                .iter()
                .zip(&grad_offset)
                .zip(&centred_scale)
                .zip(&mean_t);
            for ((o, (&g, &x)), (((&a, &d), &k), &m)) in
                out.iter_mut().zip(g_run.iter().zip(x_run)).zip(params)
            {
                *o = g * a - d - (x - m) * k;
            }
        } else {
            let (a, d, k, m) = (grad_scale[c], grad_offset[c], centred_scale[c], mean_t[c]);
            for (o, (&g, &x)) in out.iter_mut().zip(g_run.iter().zip(x_run)) {
                *o = g * a - d - (x - m) * k;
            }
        }
    });

    BatchNormTrainBackward::new(
        tensor_of(x_grad, shape),
        channel_tensor::<T>(&gamma_grad),
        channel_tensor::<T>(&grad_sums),
    )
}

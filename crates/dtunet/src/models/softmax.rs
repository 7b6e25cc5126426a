//! Softmax over the last axis as one operation with a handwritten backward on the Flex CPU
//! backend (plain or autodiff).
//!
//! `y = softmax(x)` row by row; the backward is `∂x = y ⊙ (∂y − Σ_row ∂y ⊙ y)`, one reading and
//! one writing pass. Burn's `softmax` is composed from a row max, a subtraction, `exp`, a row sum
//! and a division, so autodiff differentiates it through those five operations and their
//! broadcasts; in attention, on `[B, h, N, N]` scores, that was most of the element-wise work of
//! a training step. On other backends [`softmax_last_axis`] is Burn's `softmax`.

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::ActivationOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::tensor::Tensor;
use burn::tensor::activation::softmax;
use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::flex_ops::{contiguous_f32, f32_values, flex_tensor, runs_on_flex};

/// Softmax over the last axis as a backend operation.
#[backend_extension(Flex, Autodiff)]
pub trait SoftmaxBackend: Backend {
    /// `scores: [..., L]` → row-wise softmax `[..., L]`.
    fn softmax_last_axis(scores: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// Softmax over the last axis of `scores: [..., L]` (each row sums to 1).
pub fn softmax_last_axis<const D: usize>(scores: Tensor<D>) -> Tensor<D> {
    if runs_on_flex(&scores.device()) {
        Tensor::from_dispatch(<Dispatch as SoftmaxBackend>::softmax_last_axis(
            scores.into_dispatch(),
        ))
    } else {
        softmax(scores, D - 1)
    }
}

fn flex_forward(scores: FlexTensor) -> FlexTensor {
    let last_axis = scores.layout().shape().num_dims() - 1;
    <Flex as ActivationOps<Flex>>::softmax(scores, last_axis)
}

impl SoftmaxBackend for Flex {
    fn softmax_last_axis(scores: FloatTensor<Self>) -> FloatTensor<Self> {
        flex_forward(scores)
    }
}

/// Rows per rayon task of the backward.
const ROWS_PER_TASK: usize = 64;

/// `∂x = y ⊙ (∂y − Σ_row ∂y ⊙ y)` for rows of `row_len` values of the softmax output `y` and
/// its gradient `∂y`.
fn input_grad(output: &[f32], output_grad: &[f32], row_len: usize) -> Vec<f32> {
    let mut grad = vec![0.0; output.len()];
    if output.is_empty() {
        return grad;
    }
    let chunk = ROWS_PER_TASK * row_len;
    grad.par_chunks_mut(chunk)
        .zip(output.par_chunks(chunk).zip(output_grad.par_chunks(chunk)))
        .for_each(|(grad, (output, output_grad))| {
            let rows = grad
                .chunks_mut(row_len)
                .zip(output.chunks(row_len).zip(output_grad.chunks(row_len)));
            for (grad, (output, output_grad)) in rows {
                let centre = dot(output, output_grad);
                for (grad, (&y, &dy)) in grad.iter_mut().zip(output.iter().zip(output_grad)) {
                    *grad = y * (dy - centre);
                }
            }
        });
    grad
}

/// `Σ a·b` in eight running sums, so LLVM keeps the loop in SIMD registers.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 8;
    let mut sums = [0.0f32; LANES];
    let whole = a.len() / LANES * LANES;
    for (a, b) in a[..whole]
        .chunks_exact(LANES)
        .zip(b[..whole].chunks_exact(LANES))
    {
        for lane in 0..LANES {
            sums[lane] += a[lane] * b[lane];
        }
    }
    let tail: f32 = a[whole..].iter().zip(&b[whole..]).map(|(a, b)| a * b).sum();
    sums.iter().sum::<f32>() + tail
}

/// The backward of the fused softmax.
#[derive(Debug)]
struct SoftmaxBackward;

impl Backward<Flex, 1> for SoftmaxBackward {
    /// The forward's output.
    type State = FlexTensor;

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [node_scores] = ops.parents;
        let output_grad = grads.consume::<Flex>(&ops.node);
        let Some(node) = node_scores else {
            return;
        };
        let output = ops.state;
        let dtype = output.dtype();
        let shape = output.layout().shape().clone();
        let row_len = shape[shape.num_dims() - 1];
        let [output, output_grad] = [output, output_grad].map(contiguous_f32);
        let grad = input_grad(f32_values(&output), f32_values(&output_grad), row_len);
        grads.register::<Flex>(node.id, flex_tensor(grad, &shape, dtype));
    }
}

impl<C: CheckpointStrategy> SoftmaxBackend for Autodiff<Flex, C> {
    fn softmax_last_axis(scores: FloatTensor<Self>) -> FloatTensor<Self> {
        match SoftmaxBackward
            .prepare::<C>([scores.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let output = flex_forward(scores.into_primitive());
                prep.finish(output.clone(), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(flex_forward(scores.into_primitive())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::flex_ops::testing::{assert_close, values, wave};
    use super::*;
    use burn::tensor::Device;

    /// Softmax values and gradients agree to float rounding of row sums.
    const TOLERANCE: [f32; 2] = [1e-6, 1e-5];

    /// Softmax output and the gradient of `Σ output · upstream` with respect to the scores.
    fn run(fused: bool, shape: [usize; 4], spread: f32, device: &Device) -> (Vec<f32>, Vec<f32>) {
        let scores = wave(shape, 1.0, spread, device).require_grad();
        let upstream = wave(shape, 2.0, 1.0, device);
        let output = if fused {
            softmax_last_axis(scores.clone())
        } else {
            softmax(scores.clone(), 3)
        };
        let grads = (output.clone() * upstream).sum().backward();
        let grad = scores.grad(&grads).expect("scores gradient");
        (values(output), values(grad))
    }

    #[test]
    fn fused_softmax_and_its_gradient_equal_the_composed_one() {
        let device = Device::flex().autodiff();
        for (shape, spread) in [
            ([2, 3, 5, 7], 1.0),
            ([1, 1, 1, 1], 1.0),
            ([2, 2, 9, 203], 8.0),
            ([1, 2, 3, 16], 60.0),
        ] {
            let (output, grad) = run(true, shape, spread, &device);
            let (composed_output, composed_grad) = run(false, shape, spread, &device);
            assert_close(&output, &composed_output, TOLERANCE, "output");
            assert_close(&grad, &composed_grad, TOLERANCE, "scores gradient");
            for row in output.chunks(shape[3]) {
                let total: f32 = row.iter().sum();
                assert!((total - 1.0).abs() < 1e-5, "row sums to {total}");
            }
        }
    }

    #[test]
    fn input_grad_is_y_times_centred_output_grad() {
        // One row by hand: y = (0.2, 0.3, 0.5), ∂y = (1, 2, 4): Σ ∂y·y = 2.8.
        let grad = input_grad(&[0.2, 0.3, 0.5], &[1.0, 2.0, 4.0], 3);
        let expected = [0.2 * (1.0 - 2.8), 0.3 * (2.0 - 2.8), 0.5 * (4.0 - 2.8)];
        assert_close(&grad, &expected, TOLERANCE, "by hand");
        // Rows longer than the running-sum width, and many rows across tasks.
        let row_len = 19;
        let rows = 3 * ROWS_PER_TASK + 5;
        let output: Vec<f32> = (0..rows * row_len).map(|k| (k % 7) as f32 * 0.1).collect();
        let output_grad: Vec<f32> = (0..rows * row_len).map(|k| (k % 5) as f32 - 2.0).collect();
        let grad = input_grad(&output, &output_grad, row_len);
        for (row, (y, dy)) in output
            .chunks(row_len)
            .zip(output_grad.chunks(row_len))
            .enumerate()
        {
            let centre: f64 = y.iter().zip(dy).map(|(&y, &dy)| y as f64 * dy as f64).sum();
            for k in 0..row_len {
                let want = y[k] as f64 * (dy[k] as f64 - centre);
                let got = grad[row * row_len + k] as f64;
                assert!(
                    (got - want).abs() < 1e-5,
                    "row {row} [{k}]: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn fused_softmax_without_autodiff_equals_its_definition() {
        let shape = [2, 3, 4, 5];
        let scores = wave(shape, 1.0, 3.0, &Device::flex());
        let inputs = values(scores.clone());
        let fused = values(softmax_last_axis(scores));
        for (row, found) in inputs.chunks(shape[3]).zip(fused.chunks(shape[3])) {
            let total: f64 = row.iter().map(|&x| (x as f64).exp()).sum();
            for (&x, &y) in row.iter().zip(found) {
                let want = (x as f64).exp() / total;
                assert!(
                    (y as f64 - want).abs() < 1e-6,
                    "softmax {y}, definition {want}"
                );
            }
        }
    }
}

//! The depthwise 3×3 convolution of DAFF (SPEC §4.1) on channels-last maps.
//!
//! `out[b, y, x, c] = bias[c] + Σ_{i,j ∈ 0..3} taps[3i + j, c] · in[b, y + i − 1, x + j − 1, c]`
//! with zero padding: stride 1, same size. It is one backend-extension operation on the Flex CPU
//! backend (plain or autodiff: our kernels and a handwritten backward, so a training step pays
//! one pass forward and two backward) and on LibTorch (`--features tch`: LibTorch's grouped
//! convolution and its backward, see `libtorch`). On the other backends (cuda, wgpu) it is
//! Burn's grouped `conv2d`, one group per channel, on the map permuted to NCHW: on an H200
//! through wgpu that took 2.9 ms forward and backward at the paper's size where the composed
//! form ([`depthwise_conv3x3_composed`], nine shifted copies of the zero-padded map) took 15.3
//! (BENCHMARKS.md, `dtunet bench ops`). (On LibTorch Burn's grouped `conv2d` made a training
//! step 3–5× slower: burn-tch keeps Burn's default weight gradient, one convolution per group.)

// burn-tch is deprecated upstream and the `tch` feature opts into it; `backend_extension`
// names `LibTorch` in every impl it generates, so the allowance covers this module.
#![cfg_attr(feature = "tch", allow(deprecated))]

mod kernels;
#[cfg(feature = "tch")]
mod libtorch;

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor};
use burn_flex::FlexTensor;

use super::flex_ops::{contiguous_f32, f32_values, flex_tensor, runs_on_flex};

/// Taps of the 3×3 kernel.
const TAPS: usize = 9;

/// The fused depthwise 3×3 convolution as a backend operation.
#[backend_extension(Flex, LibTorch: cfg(feature = "tch"), Autodiff)]
pub trait DepthwiseConvBackend: Backend {
    /// `input: [B, H, W, C]`, `taps: [9, C]` (row-major 3×3 positions), `bias: [C]` →
    /// `[B, H, W, C]`.
    fn depthwise_conv3x3(
        input: FloatTensor<Self>,
        taps: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// The depthwise 3×3 convolution of `map: [B, H, W, C]` with `taps: [9, C]` and `bias: [C]`.
pub fn depthwise_conv3x3(map: Tensor<4>, taps: Tensor<2>, bias: Tensor<1>) -> Tensor<4> {
    if has_fused_operation(&map.device()) {
        Tensor::from_dispatch(<Dispatch as DepthwiseConvBackend>::depthwise_conv3x3(
            map.into_dispatch(),
            taps.into_dispatch(),
            bias.into_dispatch(),
        ))
    } else {
        depthwise_conv3x3_grouped(map, taps, bias)
    }
}

/// [`depthwise_conv3x3`] as Burn's grouped `conv2d` (one group per channel) on the map
/// permuted to `[B, C, H, W]` and back.
pub fn depthwise_conv3x3_grouped(map: Tensor<4>, taps: Tensor<2>, bias: Tensor<1>) -> Tensor<4> {
    let channels = map.dims()[3];
    let weight = taps.swap_dims(0, 1).reshape([channels, 1, 3, 3]);
    let options = ConvOptions::new([1, 1], [1, 1], [1, 1], channels);
    conv2d(map.permute([0, 3, 1, 2]), weight, Some(bias), options).permute([0, 2, 3, 1])
}

/// Whether `device`'s backend implements [`DepthwiseConvBackend`]: Flex, and LibTorch in a
/// `tch` build.
fn has_fused_operation(device: &Device) -> bool {
    #[cfg(feature = "tch")]
    if libtorch::runs_on_libtorch(device) {
        return true;
    }
    runs_on_flex(device)
}

/// [`depthwise_conv3x3`] from tensor operations: the sum of nine shifted copies of the
/// zero-padded map, each scaled by its tap.
pub fn depthwise_conv3x3_composed(map: Tensor<4>, taps: Tensor<2>, bias: Tensor<1>) -> Tensor<4> {
    let [batch, height, width, channels] = map.dims();
    let device = map.device();
    let zero_row = Tensor::<4>::zeros([batch, 1, width, channels], &device);
    let map = Tensor::cat(vec![zero_row.clone(), map, zero_row], 1);
    let zero_column = Tensor::<4>::zeros([batch, height + 2, 1, channels], &device);
    let padded = Tensor::cat(vec![zero_column.clone(), map, zero_column], 2);
    let mut output = bias.reshape([1, 1, 1, channels]);
    for i in 0..3 {
        for j in 0..3 {
            let tap = taps
                .clone()
                .narrow(0, i * 3 + j, 1)
                .reshape([1, 1, 1, channels]);
            let shifted = padded.clone().narrow(1, i, height).narrow(2, j, width);
            output = output + shifted * tap;
        }
    }
    output
}

fn map_shape(input: &FlexTensor) -> kernels::MapShape {
    let dims = input.layout().shape();
    assert_eq!(
        dims.num_dims(),
        4,
        "depthwise 3×3: input must be [B, H, W, C]"
    );
    kernels::MapShape {
        batch: dims[0],
        height: dims[1],
        width: dims[2],
        channels: dims[3],
    }
}

fn flex_forward(input: FlexTensor, taps: FlexTensor, bias: FlexTensor) -> FlexTensor {
    let shape = map_shape(&input);
    let dtype = input.dtype();
    let [input, taps, bias] = [input, taps, bias].map(contiguous_f32);
    let output = kernels::forward(
        f32_values(&input),
        shape,
        f32_values(&taps),
        f32_values(&bias),
    );
    flex_tensor(output, &shape.dims(), dtype)
}

impl DepthwiseConvBackend for Flex {
    fn depthwise_conv3x3(
        input: FloatTensor<Self>,
        taps: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        flex_forward(input, taps, bias)
    }
}

/// The training half of a backend's fused convolution: a forward that keeps what the backward
/// needs, and the backward. [`Autodiff`] over such a backend runs the operation with it.
trait DepthwiseConvTraining: DepthwiseConvBackend {
    /// What the forward keeps for the backward.
    type Saved: Clone + Send + std::fmt::Debug + 'static;

    /// The output `[B, H, W, C]` of [`DepthwiseConvBackend::depthwise_conv3x3`] and what its
    /// backward needs.
    fn forward_saving(
        input: FloatTensor<Self>,
        taps: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, Self::Saved);

    /// The input `[B, H, W, C]`, taps `[9, C]` and bias `[C]` gradients for the output
    /// gradient `[B, H, W, C]`, each computed only where `wanted`.
    fn gradients(
        saved: Self::Saved,
        output_grad: FloatTensor<Self>,
        wanted: [bool; 3],
    ) -> [Option<FloatTensor<Self>>; 3];
}

impl DepthwiseConvTraining for Flex {
    /// The forward's input map and taps.
    type Saved = (FlexTensor, FlexTensor);

    fn forward_saving(
        input: FlexTensor,
        taps: FlexTensor,
        bias: FlexTensor,
    ) -> (FlexTensor, Self::Saved) {
        let output = flex_forward(input.clone(), taps.clone(), bias);
        (output, (input, taps))
    }

    fn gradients(
        (input, taps): Self::Saved,
        output_grad: FlexTensor,
        [want_input, want_taps, want_bias]: [bool; 3],
    ) -> [Option<FlexTensor>; 3] {
        let shape = map_shape(&input);
        let dtype = input.dtype();
        let output_grad = contiguous_f32(output_grad);
        let output_grad = f32_values(&output_grad);
        let input_grad = want_input.then(|| {
            let taps = contiguous_f32(taps);
            let input_grad = kernels::input_grad(output_grad, shape, f32_values(&taps));
            flex_tensor(input_grad, &shape.dims(), dtype)
        });
        let (taps_grad, bias_grad) = if want_taps || want_bias {
            let input = contiguous_f32(input);
            let (taps_grad, bias_grad) =
                kernels::parameter_grads(f32_values(&input), output_grad, shape);
            (
                want_taps.then(|| flex_tensor(taps_grad, &[TAPS, shape.channels], dtype)),
                want_bias.then(|| flex_tensor(bias_grad, &[shape.channels], dtype)),
            )
        } else {
            (None, None)
        };
        [input_grad, taps_grad, bias_grad]
    }
}

/// The backward of the fused convolution: input, tap and bias gradients.
#[derive(Debug)]
struct DepthwiseConv3x3Backward;

impl<B: DepthwiseConvTraining> Backward<B, 3> for DepthwiseConv3x3Backward {
    type State = B::Saved;

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let output_grad = grads.consume::<B>(&ops.node);
        let wanted = ops.parents.each_ref().map(Option::is_some);
        let gradients = B::gradients(ops.state, output_grad, wanted);
        for (node, gradient) in ops.parents.into_iter().zip(gradients) {
            if let (Some(node), Some(gradient)) = (node, gradient) {
                grads.register::<B>(node.id, gradient);
            }
        }
    }
}

impl<B: DepthwiseConvTraining, C: CheckpointStrategy> DepthwiseConvBackend for Autodiff<B, C> {
    fn depthwise_conv3x3(
        input: FloatTensor<Self>,
        taps: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        match DepthwiseConv3x3Backward
            .prepare::<C>([input.node(), taps.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (output, saved) = B::forward_saving(
                    input.into_primitive(),
                    taps.into_primitive(),
                    bias.into_primitive(),
                );
                prep.finish(saved, output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::depthwise_conv3x3(
                input.into_primitive(),
                taps.into_primitive(),
                bias.into_primitive(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::flex_ops::testing::{assert_close, values, wave};
    use super::*;

    /// Depthwise results agree to float rounding of nine-term sums.
    const TOLERANCE: [f32; 2] = [2e-5, 2e-5];

    fn tensor<const D: usize>(shape: [usize; D], seed: f32, device: &Device) -> Tensor<D> {
        wave(shape, seed, 1.0, device)
    }

    /// One way of computing the convolution: `(map, taps, bias) → output`.
    type Form = fn(Tensor<4>, Tensor<2>, Tensor<1>) -> Tensor<4>;

    /// The forward output of `form` and, of `Σ output · upstream`, the input gradient (when
    /// `map_is_tracked`; empty otherwise) and the tap and bias gradients.
    fn run(form: Form, shape: [usize; 4], map_is_tracked: bool, device: &Device) -> [Vec<f32>; 4] {
        let channels = shape[3];
        let map = tensor(shape, 1.0, device);
        let map = if map_is_tracked {
            map.require_grad()
        } else {
            map
        };
        let taps = tensor([TAPS, channels], 2.0, device).require_grad();
        let bias = tensor([channels], 3.0, device).require_grad();
        let upstream = tensor(shape, 4.0, device);
        let output = form(map.clone(), taps.clone(), bias.clone());
        let grads = (output.clone() * upstream).sum().backward();
        [
            values(output),
            map.grad(&grads).map(values).unwrap_or_default(),
            values(taps.grad(&grads).expect("taps gradient")),
            values(bias.grad(&grads).expect("bias gradient")),
        ]
    }

    /// `form` on `device` (with autodiff), its output and gradients, against the composed form
    /// on the same device.
    fn assert_equals_composed(form: Form, device: &Device) {
        let names = ["output", "input gradient", "taps gradient", "bias gradient"];
        for (shape, map_is_tracked) in [
            ([2, 5, 7, 12], true),
            ([1, 1, 1, 3], true),
            ([3, 4, 2, 33], true),
            ([2, 3, 4, 5], false),
        ] {
            let found = run(form, shape, map_is_tracked, device);
            let composed = run(depthwise_conv3x3_composed, shape, map_is_tracked, device);
            assert_eq!(
                found[1].is_empty(),
                !map_is_tracked,
                "input gradient only when tracked"
            );
            for ((found, composed), name) in found.iter().zip(composed).zip(names) {
                assert_close(found, &composed, TOLERANCE, name);
            }
        }
    }

    /// The fused forward on `device` (without autodiff) against the composed form.
    fn assert_fused_forward_equals_composed(device: &Device) {
        assert!(has_fused_operation(device));
        let shape = [2, 3, 4, 5];
        let map = tensor(shape, 1.0, device);
        let taps = tensor([TAPS, 5], 2.0, device);
        let bias = tensor([5], 3.0, device);
        let fused = values(depthwise_conv3x3(map.clone(), taps.clone(), bias.clone()));
        let composed = values(depthwise_conv3x3_composed(map, taps, bias));
        assert_close(&fused, &composed, TOLERANCE, "output");
    }

    #[test]
    fn flex_convolution_and_its_gradients_equal_the_composed_one() {
        assert!(has_fused_operation(&Device::flex()));
        assert_equals_composed(depthwise_conv3x3, &Device::flex().autodiff());
        assert_fused_forward_equals_composed(&Device::flex());
    }

    /// The form of the GPU backends, run here on Flex (Burn's grouped `conv2d` and its
    /// autodiff backward); tests/gpu_backend.rs checks DAFF on wgpu/cuda against Flex.
    #[test]
    fn grouped_convolution_and_its_gradients_equal_the_composed_one() {
        assert_equals_composed(depthwise_conv3x3_grouped, &Device::flex().autodiff());
    }

    /// `cargo test --release -p dtunet --features tch depthwise`, built as tools/build-tch.sh
    /// builds (torch 2.9.0); CI builds no LibTorch.
    #[cfg(feature = "tch")]
    #[test]
    fn libtorch_convolution_and_its_gradients_equal_the_composed_one() {
        assert!(has_fused_operation(&Device::libtorch()));
        assert_equals_composed(depthwise_conv3x3, &Device::libtorch().autodiff());
        assert_fused_forward_equals_composed(&Device::libtorch());
    }
}

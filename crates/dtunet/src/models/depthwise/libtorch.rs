//! The depthwise 3×3 convolution on LibTorch (`--features tch`): one LibTorch grouped
//! convolution forward and, under autodiff, LibTorch's own convolution backward, reached through
//! LibTorch's autograd on a graph of this one operation. Burn's grouped `conv2d` on burn-tch
//! differentiates the weight one group at a time, and the composed form costs nine shifted
//! copies each way; this is the operation PyTorch runs for `nn.Conv2d(C, C, 3, groups=C)`.
//!
//! The channels-last map `[B, H, W, C]` is handed to LibTorch as the `[B, C, H, W]` view with
//! channels-last strides (no copy); LibTorch keeps that memory format, so the output and the
//! input gradient come back as contiguous `[B, H, W, C]` once the view is undone.

use burn::backend::tensor::FloatTensor;
use burn::backend::{DispatchDevice, LibTorch};
use burn::tensor::Device;
use burn_tch::TchTensor;

use super::{DepthwiseConvBackend, DepthwiseConvTraining};

/// Whether `device` is a LibTorch device (CPU or CUDA), with or without autodiff.
pub(super) fn runs_on_libtorch(device: &Device) -> bool {
    matches!(
        device.clone().inner().as_dispatch(),
        DispatchDevice::LibTorch(_)
    )
}

/// `[B, H, W, C]` → the `[B, C, H, W]` view of the same memory.
fn channels_first(map: &tch::Tensor) -> tch::Tensor {
    map.permute([0, 3, 1, 2])
}

/// `[B, C, H, W]` (channels-last strides) → the `[B, H, W, C]` view of the same memory.
fn channels_last(map: &tch::Tensor) -> tch::Tensor {
    map.permute([0, 2, 3, 1])
}

/// `map: [B, C, H, W]`, `taps: [9, C]`, `bias: [C]` → `[B, C, H, W]`: LibTorch's grouped
/// convolution with one group per channel, zero padding 1, stride 1.
fn convolve(map: &tch::Tensor, taps: &tch::Tensor, bias: &tch::Tensor) -> tch::Tensor {
    let channels = taps.size()[1];
    let weight = taps.transpose(0, 1).reshape([channels, 1, 3, 3]);
    map.conv2d(&weight, Some(bias), [1, 1], [1, 1], [1, 1], channels)
}

/// The forward without a graph: `[B, H, W, C]` → `[B, H, W, C]`.
fn forward(input: &TchTensor, taps: &TchTensor, bias: &TchTensor) -> TchTensor {
    let output =
        tch::no_grad(|| convolve(&channels_first(&input.tensor), &taps.tensor, &bias.tensor));
    TchTensor::new(channels_last(&output))
}

impl DepthwiseConvBackend for LibTorch {
    fn depthwise_conv3x3(
        input: FloatTensor<Self>,
        taps: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        forward(&input, &taps, &bias)
    }
}

/// What the backward needs: LibTorch's graph of the forward.
#[derive(Clone, Debug)]
pub(super) struct ConvolutionGraph {
    /// The `[B, C, H, W]` output, attached to LibTorch's autograd graph.
    output: TchTensor,
    /// The graph's leaves, views of the forward's inputs: map `[B, C, H, W]`, taps `[9, C]`,
    /// bias `[C]`. Each shares its input's storage record, so Burn does not overwrite an
    /// input in place while the graph still reads it.
    leaves: [TchTensor; 3],
}

impl DepthwiseConvTraining for LibTorch {
    type Saved = ConvolutionGraph;

    fn forward_saving(
        input: TchTensor,
        taps: TchTensor,
        bias: TchTensor,
    ) -> (TchTensor, ConvolutionGraph) {
        let leaves = [
            (channels_first(&input.tensor), input.storage),
            (taps.tensor.shallow_clone(), taps.storage),
            (bias.tensor.shallow_clone(), bias.storage),
        ]
        .map(|(tensor, storage)| {
            TchTensor::from_existing(tensor.detach().set_requires_grad(true), storage)
        });
        let output =
            tch::with_grad(|| convolve(&leaves[0].tensor, &leaves[1].tensor, &leaves[2].tensor));
        let output = TchTensor::new(output);
        let result = TchTensor::from_existing(
            channels_last(&output.tensor.detach()),
            output.storage.clone(),
        );
        (result, ConvolutionGraph { output, leaves })
    }

    fn gradients(
        ConvolutionGraph { output, leaves }: ConvolutionGraph,
        output_grad: TchTensor,
        wanted: [bool; 3],
    ) -> [Option<TchTensor>; 3] {
        let wanted_leaves: Vec<&tch::Tensor> = leaves
            .iter()
            .zip(wanted)
            .filter(|(_, want)| *want)
            .map(|(leaf, _)| &leaf.tensor)
            .collect();
        if wanted_leaves.is_empty() {
            return [None, None, None];
        }
        // ∂/∂output of Σ output ⊙ upstream is upstream exactly, so LibTorch's autograd
        // back-propagates the upstream gradient through the convolution.
        let mut gradients = tch::with_grad(|| {
            let upstream = channels_first(&output_grad.tensor);
            let objective = (&output.tensor * &upstream).sum(None);
            tch::Tensor::run_backward(&[objective], &wanted_leaves, false, false)
        })
        .into_iter();
        let [want_map, want_taps, want_bias] = wanted;
        [
            want_map.then(|| channels_last(&gradients.next().expect("map gradient"))),
            want_taps.then(|| gradients.next().expect("taps gradient")),
            want_bias.then(|| gradients.next().expect("bias gradient")),
        ]
        .map(|gradient| gradient.map(TchTensor::new))
    }
}

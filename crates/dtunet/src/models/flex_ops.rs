//! Shared plumbing of the operations this crate fuses on the Flex CPU backend (backend
//! extensions with handwritten backwards: DAFF's depthwise convolution, attention's softmax).

use burn::backend::Flex;
use burn::backend::ops::FloatTensorOps;
use burn::tensor::{DType, Device, FloatDType};
use burn_flex::{FlexTensor, Layout};

/// Whether `device` is the Flex CPU backend, with or without autodiff.
pub(super) fn runs_on_flex(device: &Device) -> bool {
    device.clone().inner() == Device::flex()
}

/// Whether `device` is the Flex CPU backend with autodiff (a training step).
pub(super) fn trains_on_flex(device: &Device) -> bool {
    device.is_autodiff() && runs_on_flex(device)
}

/// `tensor` as contiguous f32: cast and copied only when it is not so already.
pub(super) fn contiguous_f32(tensor: FlexTensor) -> FlexTensor {
    match tensor.dtype() {
        DType::F32 => tensor,
        _ => Flex::float_cast(tensor, FloatDType::F32),
    }
    .to_contiguous()
}

/// The values of a tensor made by [`contiguous_f32`], borrowed from its storage.
pub(super) fn f32_values(tensor: &FlexTensor) -> &[f32] {
    let (start, end) = tensor
        .layout()
        .contiguous_offsets()
        .expect("a contiguous tensor has contiguous offsets");
    &tensor.storage::<f32>()[start..end]
}

/// A Flex tensor of `shape` holding `values`, cast to `dtype`.
pub(super) fn flex_tensor(values: Vec<f32>, shape: &[usize], dtype: DType) -> FlexTensor {
    let tensor = FlexTensor::new(
        burn::tensor::Bytes::from_elems(values),
        Layout::contiguous(shape.into()),
        DType::F32,
    );
    match dtype {
        DType::F32 => tensor,
        other => Flex::float_cast(tensor, FloatDType::from(other)),
    }
}

/// Inputs and comparisons shared by the tests of the fused operations.
#[cfg(test)]
pub(super) mod testing {
    use burn::tensor::{Device, Tensor, TensorData};

    /// A deterministic `shape` tensor: `spread · sin(0.731 (k + seed)) + 0.1 seed` at flat
    /// index `k`.
    pub fn wave<const D: usize>(
        shape: [usize; D],
        seed: f32,
        spread: f32,
        device: &Device,
    ) -> Tensor<D> {
        let n = shape.iter().product();
        let values: Vec<f32> = (0..n)
            .map(|k| spread * ((k as f32 + seed) * 0.731).sin() + 0.1 * seed)
            .collect();
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    /// The f32 values of `tensor`, row-major.
    pub fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
        tensor.into_data().try_to_vec::<f32>().expect("f32")
    }

    /// Asserts `|got − want| ≤ absolute + relative · |want|` element by element.
    pub fn assert_close(got: &[f32], want: &[f32], [absolute, relative]: [f32; 2], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (k, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= absolute + relative * w.abs(),
                "{what}[{k}]: {g}, expected {w}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flex_devices_are_recognised_with_and_without_autodiff() {
        assert!(runs_on_flex(&Device::flex()));
        assert!(runs_on_flex(&Device::flex().autodiff()));
        assert!(!trains_on_flex(&Device::flex()));
        assert!(trains_on_flex(&Device::flex().autodiff()));
    }
}

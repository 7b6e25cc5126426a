//! Anisotropic total variation of a batch, per sample (the `l2_tv` loss term, SPEC §3).

use burn::tensor::Tensor;

/// `(Σ|∂x| + Σ|∂y|) / (C·H·W)` per sample, with forward differences along the width (`∂x`)
/// and the height (`∂y`); a side of one pixel contributes nothing.
///
/// # Shapes
/// `x`: `[B, C, H, W]` → `[B]`.
pub fn total_variation(x: Tensor<4>) -> Tensor<1> {
    let [batch, channels, height, width] = x.dims();
    let mut total: Tensor<1> = Tensor::zeros([batch], (&x.device(), x.dtype()));
    for (dim, side) in [(3, width), (2, height)] {
        if side < 2 {
            continue;
        }
        let forward = x.clone().narrow(dim, 1, side - 1) - x.clone().narrow(dim, 0, side - 1);
        let [_, _, diff_height, diff_width] = forward.dims(); // one side shorter by one
        let per_sample = forward
            .abs()
            .reshape([batch, channels * diff_height * diff_width])
            .sum_dim(1) // [B, 1]
            .reshape([batch]);
        total = total + per_sample;
    }
    total.div_scalar((channels * height * width) as f64)
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, TensorData};

    use super::*;

    #[test]
    fn hand_computed_two_by_three() {
        // One sample, one channel, 2×3:  [[0, 1, 3], [2, 2, 0]]
        //   |∂x|: 1 + 2 + 0 + 2 = 5,  |∂y|: 2 + 1 + 3 = 6  →  11 / 6.
        // Second sample: a constant image → 0.
        let device = Device::flex();
        let x = Tensor::<4>::from_data(
            TensorData::new(
                vec![
                    0.0f32, 1.0, 3.0, 2.0, 2.0, 0.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0,
                ],
                [2, 1, 2, 3],
            ),
            &device,
        );
        let tv: Vec<f32> = total_variation(x)
            .into_data()
            .try_into_vec::<f32>()
            .expect("f32");
        assert!((tv[0] - 11.0 / 6.0).abs() < 1e-6, "{}", tv[0]);
        assert_eq!(tv[1], 0.0);
    }

    #[test]
    fn a_single_row_has_only_horizontal_variation() {
        let device = Device::flex();
        let x = Tensor::<4>::from_data(
            TensorData::new(vec![0.0f32, 2.0, -1.0, 1.0, 1.0, 1.0], [1, 2, 1, 3]),
            &device,
        );
        let tv: Vec<f32> = total_variation(x)
            .into_data()
            .try_into_vec::<f32>()
            .expect("f32");
        // (2 + 3 + 0 + 0) / (2·1·3)
        assert!((tv[0] - 5.0 / 6.0).abs() < 1e-6, "{}", tv[0]);
    }
}

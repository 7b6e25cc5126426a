//! One forward pass of a network over a batch held on the host (`dtunet predict`): how a user
//! checks an imported model against the PyTorch class, output for output.

use burn::tensor::{Device, Int, Tensor, TensorData};

use super::{Denoiser, ModelConfig, NoisePredictor};
use crate::error::{DtunetError, Result};
use crate::io::tensor_values;

/// A `[B, C, H, W]` batch of `f32` values in C order.
#[derive(Debug, Clone, PartialEq)]
pub struct HostBatch {
    /// `[B, C, H, W]`.
    pub shape: [usize; 4],
    /// `B·C·H·W` values, row-major.
    pub values: Vec<f32>,
}

impl HostBatch {
    /// A batch from an array of any rank, refusing anything but `[B, C, H, W]`.
    pub fn new(shape: &[usize], values: Vec<f32>) -> Result<Self> {
        let shape: [usize; 4] = shape
            .try_into()
            .map_err(|_| DtunetError::InvalidParameter {
                name: "input shape",
                found: format!("{shape:?}"),
                expected: "[B, C, H, W]".into(),
            })?;
        if shape.contains(&0) || shape.iter().product::<usize>() != values.len() {
            return Err(DtunetError::InvalidParameter {
                name: "input shape",
                found: format!("{shape:?} with {} values", values.len()),
                expected: "positive sides with one value each".into(),
            });
        }
        Ok(Self { shape, values })
    }
}

/// ε̂ of `model` (built from `config`) for the noisy images `x_t` at `timesteps` (one per
/// sample, in `0..T`, fractional allowed as in the reference's embedding) with class `labels`
/// (one per sample; class-conditional models only, `None` meaning class 0, healthy).
///
/// # Shapes
/// `x_t` `[B, C, H, W]` → `[B, C, H, W]`.
///
/// # Errors
/// An input the network cannot take (channels, sides not divisible by the patch, a
/// non-square grid with DAFF), a count of timesteps or labels other than `B`, labels for an
/// unconditional model or outside `0..num_classes`.
pub fn predict_noise(
    model: &Denoiser,
    config: &ModelConfig,
    x_t: &HostBatch,
    timesteps: &[f64],
    labels: Option<&[i64]>,
    device: &Device,
) -> Result<HostBatch> {
    let [batch, channels, height, width] = x_t.shape;
    config.check_input(channels, height, width)?;
    let per_sample = |name: &'static str, found: usize| DtunetError::InvalidParameter {
        name,
        found: format!("{found} values"),
        expected: format!("one per sample of the batch ({batch})"),
    };
    if timesteps.len() != batch {
        return Err(per_sample("--t", timesteps.len()));
    }
    if let Some(labels) = labels {
        if labels.len() != batch {
            return Err(per_sample("--label", labels.len()));
        }
        if config.num_classes == 0 {
            return Err(DtunetError::InvalidParameter {
                name: "--label",
                found: format!("{labels:?}"),
                expected: "no labels: the model is unconditional (num_classes 0)".into(),
            });
        }
        if let Some(bad) = labels
            .iter()
            .find(|&&label| label < 0 || label >= config.num_classes as i64)
        {
            return Err(DtunetError::InvalidParameter {
                name: "--label",
                found: bad.to_string(),
                expected: format!("a class in 0..{}", config.num_classes),
            });
        }
    }
    let x_t_tensor = Tensor::<4>::from_data(TensorData::new(x_t.values.clone(), x_t.shape), device);
    let t: Vec<f32> = timesteps.iter().map(|&step| step as f32).collect();
    let t = Tensor::<1>::from_data(TensorData::new(t, [batch]), device);
    let y = labels.map(|labels| {
        Tensor::<1, Int>::from_data(TensorData::new(labels.to_vec(), [batch]), device)
    });
    let eps = model.predict_noise(x_t_tensor, t, y);
    Ok(HostBatch {
        shape: x_t.shape,
        values: tensor_values(eps)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> ModelConfig {
        ModelConfig {
            img_size: 8,
            patch_size: 4,
            embed_dim: 16,
            depth: 2,
            heads: 2,
            num_classes: 2,
            ..ModelConfig::default()
        }
    }

    #[test]
    fn predicts_one_output_per_input_value_and_checks_counts() {
        let device = Device::flex();
        let config = tiny();
        let model = Denoiser::new(&config, &device).expect("valid");
        let x_t = HostBatch::new(
            &[2, 1, 8, 8],
            (0..128).map(|i| (i as f32 * 0.1).sin()).collect(),
        )
        .expect("4-D");
        let eps = predict_noise(&model, &config, &x_t, &[3.0, 700.0], Some(&[0, 1]), &device)
            .expect("runs");
        assert_eq!(eps.shape, [2, 1, 8, 8]);
        assert!(eps.values.iter().all(|v| v.is_finite()));
        let healthy =
            predict_noise(&model, &config, &x_t, &[3.0, 700.0], None, &device).expect("runs");
        let labelled_healthy =
            predict_noise(&model, &config, &x_t, &[3.0, 700.0], Some(&[0, 0]), &device)
                .expect("runs");
        assert_eq!(healthy, labelled_healthy, "no labels means class 0");
        assert_ne!(healthy, eps, "the label token changes the output");
        let text = predict_noise(&model, &config, &x_t, &[3.0], None, &device)
            .expect_err("one t for two samples")
            .to_string();
        assert!(text.contains("--t") && text.contains("(2)"), "{text}");
        assert!(predict_noise(&model, &config, &x_t, &[1.0, 2.0], Some(&[0, 2]), &device).is_err());
        assert!(HostBatch::new(&[2, 64], vec![0.0; 128]).is_err());
    }
}

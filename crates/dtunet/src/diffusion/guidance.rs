//! Image-level (classifier) guidance (SPEC §4.3): the reverse chain is steered towards a class
//! by the gradient of a noisy-image classifier's log-probability, as in guided-diffusion's
//! `condition_mean` (ancestral steps: `μ += Σ_t · s·∇ log p(y | x_t, t)`) and
//! `condition_score` (strided deterministic steps: `ε̂ −= √(1 − ᾱ_t) · s·∇ log p(y | x_t, t)`).

use burn::module::Module;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor};

use super::timesteps::timestep_tensor;
use crate::error::{DtunetError, Result};
use crate::models::{ClassifierConfig, NoisyClassifier};

/// What steers a reverse chain besides the network's prediction.
#[derive(Clone, Default)]
pub struct Conditioning<'a> {
    /// Class labels `[B]` for class-conditional networks (`None`: unconditional networks, or
    /// class 0 for conditional ones).
    pub labels: Option<Tensor<1, Int>>,
    /// Image-level guidance applied at every step.
    pub guidance: Option<&'a dyn Guidance>,
}

impl Conditioning<'_> {
    /// No labels, no guidance.
    pub fn none() -> Self {
        Self::default()
    }
}

/// A scaled gradient of a class's log-probability with respect to the noisy image.
pub trait Guidance {
    /// `s · ∇_{x_t} log p(y | x_t, t)` for every image of `x_t` `[B,C,H,W]` at its timestep
    /// `t` (`B` steps); `[B,C,H,W]`, without autodiff, on `x_t`'s device.
    fn gradient(&self, x_t: Tensor<4>, t: &[usize]) -> Tensor<4>;
}

/// Guidance by a [`NoisyClassifier`] towards one class (0, healthy, for detection).
#[derive(Debug)]
pub struct ClassifierGuidance {
    classifier: NoisyClassifier,
    scale: f64,
    class: usize,
}

impl ClassifierGuidance {
    /// Guidance of `scale` towards `class` by `classifier`, which must live on an autodiff
    /// device (its parameters are frozen here: only the image gets a gradient).
    ///
    /// # Errors
    /// [`DtunetError::InvalidParameter`] for a negative or non-finite scale or a class the
    /// classifier does not have.
    pub fn new(
        classifier: NoisyClassifier,
        config: &ClassifierConfig,
        scale: f64,
        class: usize,
    ) -> Result<Self> {
        if !scale.is_finite() || scale < 0.0 {
            return Err(DtunetError::InvalidParameter {
                name: "--guidance-scale",
                found: scale.to_string(),
                expected: "a finite number ≥ 0".into(),
            });
        }
        if class >= config.classes {
            return Err(DtunetError::InvalidParameter {
                name: "guidance class",
                found: class.to_string(),
                expected: format!("a class of the classifier (0..{})", config.classes),
            });
        }
        Ok(Self {
            classifier: classifier.no_grad(),
            scale,
            class,
        })
    }

    /// `log p(class | x_t, t)` per image, `[B]` (no autodiff).
    pub fn log_probability(&self, x_t: Tensor<4>, t: &[usize]) -> Tensor<1> {
        let x = x_t.autodiff();
        let times = timestep_tensor(t, &x.device());
        self.selected_log_probability(x, times).without_autodiff()
    }

    fn selected_log_probability(&self, x: Tensor<4>, times: Tensor<1>) -> Tensor<1> {
        let batch = x.dims()[0];
        let logits = self.classifier.forward(x, times);
        log_softmax(logits, 1)
            .narrow(1, self.class, 1)
            .reshape([batch])
    }
}

impl Guidance for ClassifierGuidance {
    fn gradient(&self, x_t: Tensor<4>, t: &[usize]) -> Tensor<4> {
        let x = x_t.autodiff().require_grad();
        let times = timestep_tensor(t, &x.device());
        // Images are independent, so the gradient of the sum is each image's own gradient.
        let gradients = self
            .selected_log_probability(x.clone(), times)
            .sum()
            .backward();
        let gradient = x
            .grad(&gradients)
            .expect("the image was marked to require a gradient");
        gradient * self.scale
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, TensorData};

    use super::*;
    use crate::models::ModelConfig;

    /// A two-class classifier of 8 px grey images, patch 4, D 8, depth 2.
    fn tiny_config() -> ClassifierConfig {
        ClassifierConfig {
            encoder: ModelConfig {
                img_size: 8,
                patch_size: 4,
                embed_dim: 8,
                depth: 2,
                heads: 2,
                ..ModelConfig::default()
            },
            classes: 2,
        }
    }

    fn tiny_guidance(scale: f64) -> ClassifierGuidance {
        let config = tiny_config();
        let device = Device::flex().autodiff();
        device.seed(7);
        let classifier = NoisyClassifier::new(&config, &device).expect("valid");
        ClassifierGuidance::new(classifier, &config, scale, 0).expect("valid guidance")
    }

    fn image(values: Vec<f32>) -> Tensor<4> {
        Tensor::from_data(TensorData::new(values, [2, 1, 8, 8]), &Device::flex())
    }

    #[test]
    fn the_gradient_equals_central_differences_of_the_log_probability() {
        let guidance = tiny_guidance(2.5);
        let t = [40, 7];
        let base: Vec<f32> = (0..128).map(|i| (i as f32 * 0.37).sin() * 0.8).collect();
        let gradient: Vec<f32> = guidance
            .gradient(image(base.clone()), &t)
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32");
        assert!(gradient.iter().any(|g| g.abs() > 1e-4), "{gradient:?}");
        let h = 1e-2f32;
        for pixel in [0usize, 9, 37, 63, 64 + 5, 127] {
            let shifted = |delta: f32| {
                let mut values = base.clone();
                values[pixel] += delta;
                let log_p: Vec<f32> = guidance
                    .log_probability(image(values), &t)
                    .into_data()
                    .try_to_vec::<f32>()
                    .expect("f32");
                f64::from(log_p[pixel / 64])
            };
            let numeric = 2.5 * (shifted(h) - shifted(-h)) / (2.0 * f64::from(h));
            let analytic = f64::from(gradient[pixel]);
            assert!(
                (numeric - analytic).abs() <= 2e-3 + 0.02 * analytic.abs(),
                "pixel {pixel}: autodiff {analytic:e}, central difference {numeric:e}"
            );
        }
    }

    /// Predicts `ε̂ = 0.1·x_t`.
    struct ScaledInput;

    impl crate::models::NoisePredictor for ScaledInput {
        fn predict_noise(
            &self,
            x_t: Tensor<4>,
            _: Tensor<1>,
            _: Option<Tensor<1, burn::tensor::Int>>,
        ) -> Tensor<4> {
            x_t * 0.1
        }
    }

    #[test]
    fn guided_chains_raise_the_healthy_log_probability_and_scale_zero_changes_nothing() {
        use dtunet_noise::{NoiseConfig, NoiseKind};

        use crate::diffusion::{BetaSchedule, DiffusionSchedule, GaussianDiffusion, NoiseSampler};

        let device = Device::flex();
        let diffusion = GaussianDiffusion::new(
            DiffusionSchedule::new(BetaSchedule::Linear, 100).expect("T"),
            &device,
        );
        let gauss = || {
            let config = NoiseConfig {
                kind: NoiseKind::Gauss,
                ..NoiseConfig::default()
            };
            NoiseSampler::new(config, 3, &device).expect("valid")
        };
        let x = image((0..128).map(|i| (i as f32 * 0.21).cos() * 0.6).collect());
        let run = |guidance: Option<&dyn Guidance>, strided: bool| -> Tensor<4> {
            let steer = Conditioning {
                labels: None,
                guidance,
            };
            if strided {
                diffusion
                    .reconstruct_strided(&ScaledInput, x.clone(), 30, 6, &steer, &mut gauss())
                    .expect("chain")
            } else {
                diffusion
                    .reconstruct(&ScaledInput, x.clone(), 30, &steer, &mut gauss())
                    .expect("chain")
            }
        };
        let zero = tiny_guidance(0.0);
        let strong = tiny_guidance(200.0);
        for strided in [false, true] {
            let plain = run(None, strided);
            let unscaled = run(Some(&zero), strided);
            let guided = run(Some(&strong), strided);
            let values = |x: Tensor<4>| x.into_data().try_to_vec::<f32>().expect("f32");
            assert_eq!(values(plain.clone()), values(unscaled), "strided {strided}");
            let log_p = |x: Tensor<4>| -> f32 {
                strong
                    .log_probability(x, &[0, 0])
                    .into_data()
                    .try_to_vec::<f32>()
                    .expect("f32")
                    .iter()
                    .sum()
            };
            let (before, after) = (log_p(plain), log_p(guided));
            assert!(
                after > before + 0.01,
                "strided {strided}: log p(healthy) {before} unguided, {after} guided"
            );
        }
    }

    #[test]
    fn bad_scales_and_classes_are_refused() {
        let config = tiny_config();
        let device = Device::flex().autodiff();
        let make = || NoisyClassifier::new(&config, &device).expect("valid");
        let text = ClassifierGuidance::new(make(), &config, -1.0, 0)
            .expect_err("negative")
            .to_string();
        assert!(
            text.contains("--guidance-scale") && text.contains("-1"),
            "{text}"
        );
        assert!(ClassifierGuidance::new(make(), &config, f64::NAN, 0).is_err());
        assert!(ClassifierGuidance::new(make(), &config, 1.0, 2).is_err());
    }
}

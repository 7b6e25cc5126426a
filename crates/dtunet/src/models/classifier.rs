//! The noisy-image classifier of image-level guidance (SPEC §4.3): the DTU-Net encoder half
//! (patch embedding, time token, positional table, in blocks and mid block) and a pooled
//! linear head, trained on `(x_t, t) → label` so that detection can follow
//! `∇_x log p(healthy | x_t, t)`.

use std::io::Write;
use std::path::Path;

use burn::module::{Module, Param};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::embedding::{PatchEmbedding, TimeEmbed, position_table};
use super::feed_forward::TokenLayout;
use super::init::{trunc_normal, trunc_normal_linear};
use super::transformer::Block;
use super::weights::{check_complete, describe, fill_from_state_dict, module_bytes, read_metadata};
use super::{Architecture, ModelConfig};
use crate::error::{DtunetError, Result};
use crate::io::write_atomically;

/// Metadata key of the JSON classifier configuration in classifier files.
pub const CLASSIFIER_METADATA_KEY: &str = "dtunet.classifier_config";

/// The classifier's shape: an encoder of a transformer backbone and the number of classes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierConfig {
    /// The encoder: `img_size`, `channels`, `patch_size`, `embed_dim`, `heads`, `mlp_ratio`,
    /// `ff` (in, mid stages) and `arch` (DTU-Net's HI attention or U-ViT's plain attention);
    /// `depth / 2` in blocks and one mid block. Its `num_classes` must be 0: the classifier has
    /// no label token.
    pub encoder: ModelConfig,
    /// Classes of the head (2: healthy 0, anomalous 1).
    pub classes: usize,
}

impl ClassifierConfig {
    /// Checks the encoder (as a network configuration) and the class count.
    ///
    /// # Errors
    /// [`DtunetError::InvalidParameter`] naming the value: a UNet encoder, a label token,
    /// fewer than two classes, or any invalid encoder setting.
    pub fn validate(&self) -> Result<()> {
        if self.encoder.arch == Architecture::Unet {
            return Err(DtunetError::InvalidParameter {
                name: "arch",
                found: "unet".into(),
                expected: "dtunet or uvit (the classifier is a transformer encoder)".into(),
            });
        }
        if self.encoder.num_classes != 0 {
            return Err(DtunetError::InvalidParameter {
                name: "num_classes",
                found: self.encoder.num_classes.to_string(),
                expected: "0 for the classifier's encoder (it has no label token)".into(),
            });
        }
        if self.classes < 2 {
            return Err(DtunetError::InvalidParameter {
                name: "classes",
                found: self.classes.to_string(),
                expected: "at least 2".into(),
            });
        }
        self.encoder.validate()
    }
}

/// `(x_t [B,C,H,W], t [B]) → logits [B, classes]`. Parameter names follow the denoiser's
/// PyTorch keys (`patch_embed`, `time_embed.0/.2`, `pos_embed`, `in_blocks.N`, `mid_block`,
/// `norm`) plus `head`.
#[derive(Module, Debug)]
pub struct NoisyClassifier {
    /// Patch embedding, as the denoiser's.
    pub patch_embed: PatchEmbedding,
    /// Time-token MLP.
    pub time_embed: TimeEmbed,
    /// Learned positional embedding `[1, 1 + g², D]` at the trained grid `g`.
    pub pos_embed: Param<Tensor<3>>,
    /// The depth/2 in blocks.
    pub in_blocks: Vec<Block>,
    /// The mid block.
    pub mid_block: Block,
    /// LayerNorm before pooling.
    pub norm: LayerNorm,
    /// Linear(D, classes) on the mean of the patch tokens.
    pub head: Linear,
    patch_size: usize,
    trained_grid: usize,
}

impl NoisyClassifier {
    /// A randomly initialised classifier for `config`.
    ///
    /// # Errors
    /// Those of [`ClassifierConfig::validate`].
    pub fn new(config: &ClassifierConfig, device: &Device) -> Result<Self> {
        config.validate()?;
        let encoder = &config.encoder;
        let dim = encoder.embed_dim;
        let [ff_in, ff_mid, _] = encoder.stage_feed_forward();
        let grid = encoder.grid_side();
        Ok(Self {
            patch_embed: PatchEmbedding::new(encoder, device),
            time_embed: TimeEmbed::new(dim, device),
            pos_embed: trunc_normal().init([1, 1 + grid * grid, dim], device),
            in_blocks: (0..encoder.depth / 2)
                .map(|_| Block::new(encoder, ff_in, false, device))
                .collect(),
            mid_block: Block::new(encoder, ff_mid, false, device),
            norm: LayerNormConfig::new(dim)
                .with_epsilon(encoder.norm_eps)
                .init(device),
            head: trunc_normal_linear(LinearConfig::new(dim, config.classes), device),
            patch_size: encoder.patch_size,
            trained_grid: grid,
        })
    }

    /// Class logits `[B, classes]` for `x_t` `[B,C,H,W]` (H, W multiples of the patch size) at
    /// timesteps `t` `[B]`.
    pub fn forward(&self, x_t: Tensor<4>, t: Tensor<1>) -> Tensor<2> {
        let [batch, _, height, width] = x_t.dims();
        let layout = TokenLayout {
            extras: 1,
            grid_h: height / self.patch_size,
            grid_w: width / self.patch_size,
        };
        let patches = self.patch_embed.forward(x_t);
        let time_token = self.time_embed.forward(t).unsqueeze_dim(1);
        let positions = position_table(
            self.pos_embed.val(),
            1,
            self.trained_grid,
            layout.grid_h,
            layout.grid_w,
        );
        let mut tokens = Tensor::cat(vec![time_token, patches], 1) + positions;
        for block in &self.in_blocks {
            tokens = block.forward(tokens, None, layout);
        }
        tokens = self.mid_block.forward(tokens, None, layout);
        let tokens = self.norm.forward(tokens);
        let dim = tokens.dims()[2];
        let pooled = tokens
            .narrow(1, 1, layout.grid_h * layout.grid_w)
            .mean_dim(1)
            .reshape([batch, dim]);
        self.head.forward(pooled)
    }
}

/// Writes `classifier` with its `config` to `path` (safetensors, PyTorch keys), atomically.
pub fn save_classifier(
    classifier: &NoisyClassifier,
    config: &ClassifierConfig,
    path: &Path,
) -> Result<()> {
    let weights_error = |problem: String| DtunetError::Weights {
        path: path.to_path_buf(),
        problem,
    };
    let json = serde_json::to_string(config).map_err(|e| weights_error(e.to_string()))?;
    let bytes = module_bytes(
        classifier,
        config.encoder.arch,
        CLASSIFIER_METADATA_KEY,
        json,
    )
    .map_err(weights_error)?;
    write_atomically(path, |file| file.write_all(&bytes))
}

/// Reads a classifier written by [`save_classifier`] onto `device`.
///
/// # Errors
/// A missing or unreadable file, a file that is not a classifier (a denoiser, say), or
/// weights that do not fit the stored configuration (keys named).
pub fn load_classifier(
    path: &Path,
    device: &Device,
) -> Result<(NoisyClassifier, ClassifierConfig)> {
    let json = read_metadata(path, CLASSIFIER_METADATA_KEY, "dtunet classifier")?;
    let config: ClassifierConfig =
        serde_json::from_str(&json).map_err(|e| DtunetError::Weights {
            path: path.to_path_buf(),
            problem: format!("unreadable classifier configuration ({e})"),
        })?;
    let mut classifier = NoisyClassifier::new(&config, device)?;
    let result = fill_from_state_dict(&mut classifier, config.encoder.arch, path, None)?;
    check_complete(
        result,
        format!(
            "classifier of {} classes on {}",
            config.classes,
            describe(&config.encoder)
        ),
        path,
    )?;
    Ok((classifier, config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> ClassifierConfig {
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

    #[test]
    fn logits_have_one_row_per_image_at_any_grid() {
        let device = Device::flex();
        let classifier = NoisyClassifier::new(&tiny(), &device).expect("valid");
        let t = Tensor::<1>::from_floats([3.0, 90.0, 0.0], &device);
        let logits = classifier.forward(Tensor::ones([3, 1, 8, 8], &device), t.clone());
        assert_eq!(logits.dims(), [3, 2]);
        let wider = classifier.forward(Tensor::ones([3, 1, 8, 12], &device), t);
        assert_eq!(wider.dims(), [3, 2]);
    }

    #[test]
    fn invalid_configurations_name_the_value() {
        let with_label = ClassifierConfig {
            encoder: ModelConfig {
                num_classes: 2,
                ..tiny().encoder
            },
            ..tiny()
        };
        let text = with_label.validate().expect_err("label token").to_string();
        assert!(text.contains("num_classes") && text.contains('2'), "{text}");
        let one_class = ClassifierConfig {
            classes: 1,
            ..tiny()
        };
        let text = one_class.validate().expect_err("one class").to_string();
        assert!(
            text.contains("classes") && text.contains("at least 2"),
            "{text}"
        );
        let unet = ClassifierConfig {
            encoder: ModelConfig {
                arch: Architecture::Unet,
                ..tiny().encoder
            },
            ..tiny()
        };
        assert!(unet.validate().is_err());
    }

    #[test]
    fn saved_classifiers_load_with_the_same_logits() {
        let device = Device::flex();
        let config = tiny();
        let classifier = NoisyClassifier::new(&config, &device).expect("valid");
        let folder = tempfile::tempdir().expect("temp dir");
        let path = folder.path().join("classifier.safetensors");
        save_classifier(&classifier, &config, &path).expect("save");
        let (loaded, loaded_config) = load_classifier(&path, &device).expect("load");
        assert_eq!(loaded_config, config);
        let x = Tensor::<4>::from_floats([[[[0.5f32; 8]; 8]]], &device);
        let t = Tensor::<1>::from_floats([17.0], &device);
        let before: Vec<f32> = classifier
            .forward(x.clone(), t.clone())
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32");
        let after: Vec<f32> = loaded
            .forward(x, t)
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32");
        assert_eq!(before, after);
    }
}

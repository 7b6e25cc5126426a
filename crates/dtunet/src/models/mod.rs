//! Noise-prediction networks (SPEC §4): DTU-Net, U-ViT and the convolutional UNet baseline.
//!
//! Every network maps `(x_t [B,C,H,W], t [B], y [B]?)` to ε̂ `[B,C,H,W]`. Parameter paths
//! follow the paper's PyTorch state_dict keys (see [`weights`]).

mod attention;
pub mod classifier;
pub mod config;
mod depthwise;
mod embedding;
mod feed_forward;
mod flex_ops;
mod init;
pub mod predict;
mod softmax;
mod transformer;
pub mod unet;
pub mod weights;

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};

pub use attention::Attention;
pub use classifier::{ClassifierConfig, NoisyClassifier};
pub use config::{
    Architecture, FeedForwardKind, ModelConfig, PatchEmbedKind, REFERENCE_NORM_EPS,
    StageFeedForward,
};
pub use embedding::{
    Affine, ConvBnStage, ConvPatchEmbed, PatchEmbed, PatchEmbedding, TimeEmbed, timestep_embedding,
};
pub use feed_forward::{Daff, Ddaff, FeedForward, Mlp, TokenLayout};
pub use transformer::{Block, FinalLayer, RefinementHead, TransformerUNet};
pub use unet::UNet;

/// The operations a training step runs fused where the backend allows it, and their composed
/// forms, for benchmarks and backend checks (`dtunet bench ops`).
pub mod ops {
    pub use super::attention::scaled_dot_product;
    pub use super::depthwise::{
        depthwise_conv3x3, depthwise_conv3x3_composed, depthwise_conv3x3_grouped,
    };
}

use crate::error::Result;

/// A network that predicts the noise ε added to `x_0` to make `x_t`.
pub trait NoisePredictor {
    /// ε̂ for `x_t` `[B,C,H,W]` at timesteps `t` `[B]` (integer-valued floats, `0..T`), with the
    /// class labels `y` `[B]` for class-conditional models (`None` otherwise; conditional
    /// models then use class 0, healthy).
    fn predict_noise(&self, x_t: Tensor<4>, t: Tensor<1>, y: Option<Tensor<1, Int>>) -> Tensor<4>;
}

/// Any of the backbones, chosen by [`ModelConfig::arch`].
#[allow(
    clippy::large_enum_variant,
    reason = "one value per network, built once; a box would not make the module smaller"
)]
#[derive(Module, Debug)]
pub enum Denoiser {
    /// DTU-Net or U-ViT.
    Transformer(TransformerUNet),
    /// The convolutional UNet baseline.
    Unet(UNet),
}

impl Denoiser {
    /// A randomly initialised network; fails with a message naming the bad value when the
    /// configuration is invalid.
    pub fn new(config: &ModelConfig, device: &Device) -> Result<Self> {
        config.validate()?;
        Ok(match config.arch {
            Architecture::Dtunet | Architecture::Uvit => {
                Self::Transformer(TransformerUNet::new(config, device))
            }
            Architecture::Unet => Self::Unet(UNet::new(config, device)),
        })
    }

    /// A randomly initialised network whose weights are drawn from `seed` on the host (the
    /// Flex CPU backend) and then moved to `device` (an autodiff device: the network is ready
    /// to train there): one seed gives the same initial model on every backend, where each
    /// backend's own generator draws other values.
    ///
    /// # Errors
    /// As [`Denoiser::new`].
    pub fn seeded_on_host(config: &ModelConfig, seed: u64, device: &Device) -> Result<Self> {
        let host = Device::flex().autodiff();
        host.seed(seed);
        let model = Self::new(config, &host)?;
        // Parameters initialise lazily, and a moved uninitialised one would draw on `device`.
        model.visit(&mut Materialize);
        Ok(model.fork(device))
    }
}

/// Visits every parameter so that it is initialised where it was created.
struct Materialize;

impl burn::module::ModuleVisitor for Materialize {
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
        drop(param.val());
    }
}

impl Denoiser {
    /// The network's mid-level feature map of `x_t` `[B, F, h, w]`: the mid block's patch
    /// tokens (DTU-Net, U-ViT; `h = H/p`) or the UNet's middle block output.
    pub fn mid_features(
        &self,
        x_t: Tensor<4>,
        t: Tensor<1>,
        y: Option<Tensor<1, Int>>,
    ) -> Tensor<4> {
        match self {
            Self::Transformer(net) => net.mid_features(x_t, t, y),
            Self::Unet(net) => net.mid_features(x_t, t, y),
        }
    }
}

impl NoisePredictor for Denoiser {
    fn predict_noise(&self, x_t: Tensor<4>, t: Tensor<1>, y: Option<Tensor<1, Int>>) -> Tensor<4> {
        match self {
            Self::Transformer(net) => net.forward(x_t, t, y),
            Self::Unet(net) => net.forward(x_t, t, y),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mid_features_are_a_coarse_feature_map_of_every_backbone() {
        let device = Device::flex();
        let transformer = ModelConfig {
            img_size: 16,
            patch_size: 4,
            embed_dim: 16,
            depth: 2,
            heads: 2,
            ..ModelConfig::default()
        };
        let unet = ModelConfig {
            arch: Architecture::Unet,
            img_size: 16,
            unet_channels: 32,
            unet_res_blocks: 1,
            unet_attention_resolutions: vec![],
            ..ModelConfig::default()
        };
        let x = Tensor::<1>::from_floats(
            (0..2 * 16 * 24)
                .map(|i| (i as f32 * 0.37).sin())
                .collect::<Vec<_>>()
                .as_slice(),
            &device,
        )
        .reshape([2, 1, 16, 24]);
        let t = Tensor::<1>::zeros([2], &device);
        let features = Denoiser::new(&transformer, &device)
            .expect("valid")
            .mid_features(x.clone(), t.clone(), None);
        assert_eq!(features.dims(), [2, 16, 4, 6], "D × (H/p) × (W/p)");
        let net = Denoiser::new(&unet, &device).expect("valid");
        let features = net.mid_features(x.clone(), t.clone(), None);
        let [batch, channels, height, width] = features.dims();
        assert_eq!(
            (batch, channels),
            (2, 32 * unet.unet_channel_multipliers()[1])
        );
        let factor = 1 << (unet.unet_channel_multipliers().len() - 1);
        assert_eq!((height, width), (16 / factor, 24 / factor));
        let other = x.clone().flip([3]);
        let differs = net.mid_features(other, t, None) - features;
        assert!(
            differs.abs().max().into_scalar::<f32>() > 0.0,
            "input-dependent"
        );
    }
}

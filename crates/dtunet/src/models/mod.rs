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
}

impl NoisePredictor for Denoiser {
    fn predict_noise(&self, x_t: Tensor<4>, t: Tensor<1>, y: Option<Tensor<1, Int>>) -> Tensor<4> {
        match self {
            Self::Transformer(net) => net.forward(x_t, t, y),
            Self::Unet(net) => net.forward(x_t, t, y),
        }
    }
}

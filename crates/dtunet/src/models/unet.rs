//! The convolutional UNet baseline (SPEC §4.2): openai guided-diffusion's `UNetModel` as AnoDDPM
//! uses it — ε prediction (`learn_sigma = False`), no scale-shift norm, dropout 0, convolutional
//! resampling, legacy (per-head q/k/v) attention order.
//!
//! Layout, for channel multipliers `m` and `r` residual blocks per level (`ds` is the current
//! downsampling factor; a level gets attention when `img_size / ds` is one of
//! `unet_attention_resolutions`):
//!
//! * `time_embed`: sinusoidal embedding of width `ch` → Linear(ch, 4ch) → SiLU → Linear(4ch, 4ch),
//!   plus `label_emb` Embedding(num_classes, 4ch) for class-conditional models;
//! * `input_blocks`: a 3×3 conv `C → m₀·ch`, then per level `r` × \[ResBlock (+ attention)\] and,
//!   between levels, a stride-2 3×3 conv;
//! * `middle_block`: ResBlock, attention, ResBlock;
//! * `output_blocks`: per level (deepest first) `r + 1` × \[ResBlock over the concatenation with
//!   the matching input-block output (+ attention)\], the last one of each level but the top
//!   ending with nearest ×2 upsampling and a 3×3 conv;
//! * `out`: GroupNorm, SiLU, 3×3 conv back to `C` channels.
//!
//! Each block of `input_blocks`, `middle_block` and `output_blocks` is a list of [`UNetLayer`]s,
//! guided-diffusion's `TimestepEmbedSequential`, so the module paths are the PyTorch state_dict
//! keys up to the numeric indices of the `nn.Sequential`s inside a block, which
//! [`KEY_RENAMES`] renames.

use burn::module::Module;
use burn::nn::conv::{Conv1d, Conv1dConfig, Conv2d, Conv2dConfig};
use burn::nn::{
    Embedding, EmbeddingConfig, GroupNorm, GroupNormConfig, Initializer, Linear, LinearConfig,
    PaddingConfig2d,
};
use burn::tensor::activation::silu;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Int, Tensor};

use super::NoisePredictor;
use super::attention::scaled_dot_product;
use super::config::ModelConfig;
use super::embedding::timestep_embedding;
use super::weights::{KeyPart, KeyRename};

/// Groups of every GroupNorm (guided-diffusion's `normalization`).
pub const NORM_GROUPS: usize = 32;

/// Epsilon of every GroupNorm.
const NORM_EPS: f64 = 1e-5;

/// guided-diffusion key part ↔ our path part. Only the numeric indices of the `nn.Sequential`s
/// need names; the block indices (`input_blocks.4.1.qkv`) are the same on both sides once enum
/// variant names are skipped.
pub const KEY_RENAMES: [KeyRename; 9] = [
    (KeyPart::Prefix, "time_embed.0.", "time_embed.fc1."),
    (KeyPart::Prefix, "time_embed.2.", "time_embed.fc2."),
    (KeyPart::Inner, ".in_layers.0.", ".in_layers_norm."),
    (KeyPart::Inner, ".in_layers.2.", ".in_layers_conv."),
    (KeyPart::Inner, ".emb_layers.1.", ".emb_layers_linear."),
    (KeyPart::Inner, ".out_layers.0.", ".out_layers_norm."),
    (KeyPart::Inner, ".out_layers.3.", ".out_layers_conv."),
    (KeyPart::Prefix, "out.0.", "out_norm."),
    (KeyPart::Prefix, "out.2.", "out_conv."),
];

fn group_norm(channels: usize, device: &Device) -> GroupNorm {
    GroupNormConfig::new(NORM_GROUPS, channels)
        .with_epsilon(NORM_EPS)
        .init(device)
}

/// A 3×3 convolution with padding 1 and stride `stride`, zero-initialised on request
/// (guided-diffusion's `zero_module`).
fn conv3x3(
    channels_in: usize,
    channels_out: usize,
    stride: usize,
    zero: bool,
    device: &Device,
) -> Conv2d {
    let config = Conv2dConfig::new([channels_in, channels_out], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1));
    let config = if zero {
        config.with_initializer(Initializer::Zeros)
    } else {
        config
    };
    config.init(device)
}

/// guided-diffusion's `time_embed`: Linear(ch, 4ch) → SiLU → Linear(4ch, 4ch) over the
/// sinusoidal timestep embedding of width `ch` (PyTorch keys `time_embed.0`, `time_embed.2`).
#[derive(Module, Debug)]
pub struct UNetTimeEmbed {
    /// Linear(ch, 4ch).
    pub fc1: Linear,
    /// Linear(4ch, 4ch).
    pub fc2: Linear,
}

impl UNetTimeEmbed {
    fn new(model_channels: usize, device: &Device) -> Self {
        let emb_channels = 4 * model_channels;
        Self {
            fc1: LinearConfig::new(model_channels, emb_channels).init(device),
            fc2: LinearConfig::new(emb_channels, emb_channels).init(device),
        }
    }

    /// Timesteps `[B]` → embeddings `[B, 4ch]`.
    pub fn forward(&self, t: Tensor<1>) -> Tensor<2> {
        let [model_channels, _] = self.fc1.weight.dims();
        let embedding = timestep_embedding(t, model_channels); // [B, ch]
        self.fc2.forward(silu(self.fc1.forward(embedding)))
    }
}

/// A residual block conditioned on the time (and label) embedding, without scale-shift norm:
/// `h = conv(SiLU(GN(x))) + Linear(SiLU(emb))`, `skip(x) + conv(SiLU(GN(h)))`.
#[derive(Module, Debug)]
pub struct ResBlock {
    /// GroupNorm over the input channels (`in_layers.0`).
    pub in_layers_norm: GroupNorm,
    /// 3×3 conv, input → output channels (`in_layers.2`).
    pub in_layers_conv: Conv2d,
    /// Projection of the embedding to the output channels (`emb_layers.1`).
    pub emb_layers_linear: Linear,
    /// GroupNorm over the output channels (`out_layers.0`).
    pub out_layers_norm: GroupNorm,
    /// Zero-initialised 3×3 conv (`out_layers.3`, after a dropout of 0).
    pub out_layers_conv: Conv2d,
    /// 1×1 conv when the channel count changes; identity otherwise.
    pub skip_connection: Option<Conv2d>,
}

impl ResBlock {
    /// A block from `channels_in` to `channels_out` channels with embeddings of `emb_channels`.
    pub fn new(
        channels_in: usize,
        emb_channels: usize,
        channels_out: usize,
        device: &Device,
    ) -> Self {
        Self {
            in_layers_norm: group_norm(channels_in, device),
            in_layers_conv: conv3x3(channels_in, channels_out, 1, false, device),
            emb_layers_linear: LinearConfig::new(emb_channels, channels_out).init(device),
            out_layers_norm: group_norm(channels_out, device),
            out_layers_conv: conv3x3(channels_out, channels_out, 1, true, device),
            skip_connection: (channels_in != channels_out)
                .then(|| Conv2dConfig::new([channels_in, channels_out], [1, 1]).init(device)),
        }
    }

    /// # Shapes
    /// - `x`: `[B, C_in, H, W]`, `emb`: `[B, E]`
    /// - output: `[B, C_out, H, W]`
    pub fn forward(&self, x: Tensor<4>, emb: Tensor<2>) -> Tensor<4> {
        let h = self
            .in_layers_conv
            .forward(silu(self.in_layers_norm.forward(x.clone())));
        let emb_out = self.emb_layers_linear.forward(silu(emb)); // [B, C_out]
        let h = h + emb_out.unsqueeze_dims::<4>(&[2, 3]); // broadcast over [B, C_out, H, W]
        let h = self
            .out_layers_conv
            .forward(silu(self.out_layers_norm.forward(h)));
        let skip = match &self.skip_connection {
            Some(conv) => conv.forward(x),
            None => x,
        };
        skip + h
    }
}

/// Spatial self-attention over all `H·W` positions (guided-diffusion's `AttentionBlock` with
/// `QKVAttentionLegacy`): GroupNorm, `qkv` 1×1 conv to `3C` channels laid out per head as
/// `[q | k | v]` blocks of `C/heads` channels, softmax attention with scale `(C/heads)^-½`,
/// zero-initialised `proj_out` 1×1 conv, residual.
#[derive(Module, Debug)]
pub struct AttentionBlock {
    /// GroupNorm over the channels.
    pub norm: GroupNorm,
    /// Conv1d(C, 3C, 1).
    pub qkv: Conv1d,
    /// Zero-initialised Conv1d(C, C, 1).
    pub proj_out: Conv1d,
    heads: usize,
}

impl AttentionBlock {
    /// Attention over `channels` channels with `heads` heads.
    ///
    /// # Panics
    /// If `heads` does not divide `channels`.
    pub fn new(channels: usize, heads: usize, device: &Device) -> Self {
        assert!(
            heads > 0 && channels.is_multiple_of(heads),
            "attention heads {heads} must divide the channels {channels}"
        );
        Self {
            norm: group_norm(channels, device),
            qkv: Conv1dConfig::new(channels, 3 * channels, 1).init(device),
            proj_out: Conv1dConfig::new(channels, channels, 1)
                .with_initializer(Initializer::Zeros)
                .init(device),
            heads,
        }
    }

    /// # Shapes
    /// - `x`: `[B, C, H, W]`
    /// - output: `[B, C, H, W]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [batch, channels, height, width] = x.dims();
        let (heads, head_dim, length) = (self.heads, channels / self.heads, height * width);
        let x = x.reshape([batch, channels, length]); // [B, C, T]
        let qkv = self
            .qkv
            .forward(self.norm.forward(x.clone())) // [B, 3C, T]
            .reshape([batch, heads, 3, head_dim, length]);
        let part = |i: usize| {
            qkv.clone()
                .narrow(2, i, 1)
                .reshape([batch, heads, head_dim, length])
                .swap_dims(2, 3) // [B, heads, T, C/heads]
        };
        let context = scaled_dot_product(part(0), part(1), part(2)); // [B, heads, T, C/heads]
        let context = context.swap_dims(2, 3).reshape([batch, channels, length]); // [B, C, T]
        let out = x + self.proj_out.forward(context);
        out.reshape([batch, channels, height, width])
    }
}

/// Halves the resolution with a stride-2 3×3 conv (`op`).
#[derive(Module, Debug)]
pub struct Downsample {
    /// Conv(C, C, 3, stride 2, padding 1).
    pub op: Conv2d,
}

impl Downsample {
    /// A downsampler over `channels` channels.
    pub fn new(channels: usize, device: &Device) -> Self {
        Self {
            op: conv3x3(channels, channels, 2, false, device),
        }
    }

    /// # Shapes
    /// - `x`: `[B, C, H, W]`
    /// - output: `[B, C, ⌈H/2⌉, ⌈W/2⌉]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.op.forward(x)
    }
}

/// Doubles the resolution (nearest neighbour) and applies a 3×3 conv (`conv`).
#[derive(Module, Debug)]
pub struct Upsample {
    /// Conv(C, C, 3, padding 1).
    pub conv: Conv2d,
}

impl Upsample {
    /// An upsampler over `channels` channels.
    pub fn new(channels: usize, device: &Device) -> Self {
        Self {
            conv: conv3x3(channels, channels, 1, false, device),
        }
    }

    /// # Shapes
    /// - `x`: `[B, C, H, W]`
    /// - output: `[B, C, 2H, 2W]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, _, height, width] = x.dims();
        let upsampled = interpolate(
            x,
            InterpolateOptions::new(InterpolateMode::Nearest)
                .with_output_size([2 * height, 2 * width]),
        ); // [B, C, 2H, 2W]
        self.conv.forward(upsampled)
    }
}

/// One layer of a UNet block (an element of guided-diffusion's `TimestepEmbedSequential`).
/// Variant names do not appear in the PyTorch keys; load with `skip_enum_variants(true)`.
#[allow(
    clippy::large_enum_variant,
    reason = "a few dozen layers per network, and Burn modules cannot be boxed"
)]
#[derive(Module, Debug)]
pub enum UNetLayer {
    /// The input 3×3 conv.
    Conv(Conv2d),
    /// A residual block (the only layer that reads the embedding).
    Res(ResBlock),
    /// Spatial self-attention.
    Attention(AttentionBlock),
    /// Stride-2 downsampling.
    Down(Downsample),
    /// Nearest ×2 upsampling and conv.
    Up(Upsample),
}

impl UNetLayer {
    /// `x` `[B, C, H, W]` with the embedding `emb` `[B, 4ch]` → the layer's output.
    pub fn forward(&self, x: Tensor<4>, emb: &Tensor<2>) -> Tensor<4> {
        match self {
            Self::Conv(conv) => conv.forward(x),
            Self::Res(block) => block.forward(x, emb.clone()),
            Self::Attention(block) => block.forward(x),
            Self::Down(block) => block.forward(x),
            Self::Up(block) => block.forward(x),
        }
    }
}

fn forward_block(layers: &[UNetLayer], x: Tensor<4>, emb: &Tensor<2>) -> Tensor<4> {
    layers.iter().fold(x, |h, layer| layer.forward(h, emb))
}

/// The guided-diffusion / AnoDDPM UNet noise predictor. Module paths are the PyTorch
/// state_dict keys after [`KEY_RENAMES`] (and with enum variant names skipped).
#[derive(Module, Debug)]
pub struct UNet {
    /// Timestep MLP.
    pub time_embed: UNetTimeEmbed,
    /// Label embedding added to the time embedding (class-conditional models).
    pub label_emb: Option<Embedding>,
    /// The input conv, the residual/attention blocks and the downsamplers.
    pub input_blocks: Vec<Vec<UNetLayer>>,
    /// ResBlock, attention, ResBlock at the lowest resolution.
    pub middle_block: Vec<UNetLayer>,
    /// Residual/attention blocks over the skip concatenations, and the upsamplers.
    pub output_blocks: Vec<Vec<UNetLayer>>,
    /// Final GroupNorm (`out.0`).
    pub out_norm: GroupNorm,
    /// Final zero-initialised 3×3 conv back to the image channels (`out.2`).
    pub out_conv: Conv2d,
    downsample_factor: usize,
}

impl UNet {
    /// A randomly initialised UNet for a validated `config`: base channels, residual blocks,
    /// attention resolutions, heads, classes and [`ModelConfig::unet_channel_multipliers`].
    /// Initialisation is PyTorch's default, with the last conv of every residual block, every
    /// attention output projection and the final conv zeroed (so a fresh network predicts 0).
    ///
    /// # Panics
    /// If the configuration was not validated (a zero multiplier, heads not dividing the
    /// channels).
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let multipliers = config.unet_channel_multipliers();
        let multipliers = multipliers.as_slice();
        let model_channels = config.unet_channels;
        let emb_channels = 4 * model_channels;
        let res_blocks = config.unet_res_blocks;
        let heads = config.unet_heads;
        // guided-diffusion: attention where the downsampling factor is image_size // res.
        let attention_ds: Vec<usize> = config
            .unet_attention_resolutions
            .iter()
            .filter(|&&res| res > 0)
            .map(|&res| config.img_size / res)
            .collect();
        let with_attention = |mut layers: Vec<UNetLayer>, ch: usize, ds: usize| {
            if attention_ds.contains(&ds) {
                layers.push(UNetLayer::Attention(AttentionBlock::new(ch, heads, device)));
            }
            layers
        };

        let mut ch = multipliers[0] * model_channels;
        let mut input_blocks = vec![vec![UNetLayer::Conv(conv3x3(
            config.channels,
            ch,
            1,
            false,
            device,
        ))]];
        let mut input_block_channels = vec![ch];
        let mut ds = 1;
        for (level, &mult) in multipliers.iter().enumerate() {
            for _ in 0..res_blocks {
                let channels_out = mult * model_channels;
                let res = ResBlock::new(ch, emb_channels, channels_out, device);
                ch = channels_out;
                input_blocks.push(with_attention(vec![UNetLayer::Res(res)], ch, ds));
                input_block_channels.push(ch);
            }
            if level + 1 != multipliers.len() {
                input_blocks.push(vec![UNetLayer::Down(Downsample::new(ch, device))]);
                input_block_channels.push(ch);
                ds *= 2;
            }
        }
        let downsample_factor = ds;

        let middle_block = vec![
            UNetLayer::Res(ResBlock::new(ch, emb_channels, ch, device)),
            UNetLayer::Attention(AttentionBlock::new(ch, heads, device)),
            UNetLayer::Res(ResBlock::new(ch, emb_channels, ch, device)),
        ];

        // Output blocks, deepest level first, each consuming one input block's output.
        let plan = multipliers
            .iter()
            .enumerate()
            .rev()
            .flat_map(|(level, &mult)| (0..=res_blocks).map(move |i| (level, mult, i)));
        let mut output_blocks = Vec::with_capacity(input_block_channels.len());
        for ((level, mult, i), skip_channels) in plan.zip(input_block_channels.into_iter().rev()) {
            let channels_out = mult * model_channels;
            let res = ResBlock::new(ch + skip_channels, emb_channels, channels_out, device);
            ch = channels_out;
            let mut layers = with_attention(vec![UNetLayer::Res(res)], ch, ds);
            if level > 0 && i == res_blocks {
                layers.push(UNetLayer::Up(Upsample::new(ch, device)));
                ds /= 2;
            }
            output_blocks.push(layers);
        }

        Self {
            time_embed: UNetTimeEmbed::new(model_channels, device),
            label_emb: (config.num_classes > 0)
                .then(|| EmbeddingConfig::new(config.num_classes, emb_channels).init(device)),
            input_blocks,
            middle_block,
            output_blocks,
            out_norm: group_norm(ch, device),
            out_conv: conv3x3(ch, config.channels, 1, true, device),
            downsample_factor,
        }
    }

    /// ε̂ for `x_t` at timesteps `t` (integer-valued floats) with labels `y` (read only by
    /// class-conditional models, which use class 0 — healthy — when `y` is `None`).
    ///
    /// # Shapes
    /// - `x_t`: `[B, C, H, W]`, H and W multiples of `2^(levels − 1)` (any aspect ratio)
    /// - `t`: `[B]`, `y`: `[B]`
    /// - output: `[B, C, H, W]`
    ///
    /// # Panics
    /// If H or W is not a multiple of `2^(levels − 1)` (check inputs with
    /// [`ModelConfig::check_input`]).
    pub fn forward(&self, x_t: Tensor<4>, t: Tensor<1>, y: Option<Tensor<1, Int>>) -> Tensor<4> {
        let (mut h, skips, emb) = self.encode(x_t, t, y);
        for (block, skip) in self.output_blocks.iter().zip(skips.into_iter().rev()) {
            let joined = Tensor::cat(vec![h, skip], 1); // [B, C_h + C_skip, H', W']
            h = forward_block(block, joined, &emb);
        }
        self.out_conv.forward(silu(self.out_norm.forward(h)))
    }

    /// The middle block's output `[B, C_mid, H/f, W/f]` (f the downsampling factor), the
    /// network's most abstract view of `x_t`, for the same inputs as [`Self::forward`].
    pub fn mid_features(
        &self,
        x_t: Tensor<4>,
        t: Tensor<1>,
        y: Option<Tensor<1, Int>>,
    ) -> Tensor<4> {
        self.encode(x_t, t, y).0
    }

    /// The middle block's output, the input blocks' outputs for the skips, and the embedding.
    fn encode(
        &self,
        x_t: Tensor<4>,
        t: Tensor<1>,
        y: Option<Tensor<1, Int>>,
    ) -> (Tensor<4>, Vec<Tensor<4>>, Tensor<2>) {
        let [batch, _, height, width] = x_t.dims();
        let factor = self.downsample_factor;
        assert!(
            height.is_multiple_of(factor) && width.is_multiple_of(factor),
            "UNet input {height}x{width} must have sides divisible by {factor}"
        );
        let mut emb = self.time_embed.forward(t); // [B, 4ch]
        if let Some(label_emb) = &self.label_emb {
            let labels = y.unwrap_or_else(|| Tensor::zeros([batch], &x_t.device()));
            let [_, emb_channels] = emb.dims();
            let label = label_emb
                .forward(labels.unsqueeze_dim(1)) // [B, 1, 4ch]
                .reshape([batch, emb_channels]);
            emb = emb + label;
        }
        let mut skips = Vec::with_capacity(self.input_blocks.len());
        let mut h = x_t;
        for block in &self.input_blocks {
            h = forward_block(block, h, &emb);
            skips.push(h.clone());
        }
        h = forward_block(&self.middle_block, h, &emb);
        (h, skips, emb)
    }
}

impl NoisePredictor for UNet {
    fn predict_noise(&self, x_t: Tensor<4>, t: Tensor<1>, y: Option<Tensor<1, Int>>) -> Tensor<4> {
        self.forward(x_t, t, y)
    }
}

#[cfg(test)]
mod tests {
    use super::super::flex_ops::testing::{assert_close, values, wave};
    use super::*;
    use crate::models::config::Architecture;

    fn tiny(img_size: usize, channels: usize, num_classes: usize) -> ModelConfig {
        ModelConfig {
            arch: Architecture::Unet,
            img_size,
            channels,
            num_classes,
            unet_channels: 32,
            unet_res_blocks: 1,
            unet_attention_resolutions: vec![8],
            unet_heads: 2,
            ..ModelConfig::default()
        }
    }

    #[test]
    fn parameter_count_matches_guided_diffusion() {
        // Counted on the PyTorch rendering in tests/fixtures/unet/gen_unet.py (multipliers
        // [1, 2], one residual block per level, attention at ds 2).
        let device = Device::flex();
        let plain = tiny(16, 1, 0);
        plain.validate().expect("valid config");
        let unet = UNet::new(&plain, &device);
        assert_eq!(unet.num_params(), 701_345);
        assert_eq!((unet.input_blocks.len(), unet.output_blocks.len()), (4, 4));
        assert_eq!(UNet::new(&tiny(16, 3, 2), &device).num_params(), 702_755);
    }

    #[test]
    fn fresh_network_predicts_zero_on_a_non_square_input() {
        let device = Device::flex();
        let config = tiny(32, 1, 0);
        config.validate().expect("valid config");
        config.check_input(1, 32, 48).expect("sides divisible by 8");
        let unet = UNet::new(&config, &device);
        let x_t = Tensor::<1>::from_floats(
            (0..32 * 48)
                .map(|i| (i as f32 * 0.1).sin())
                .collect::<Vec<_>>()
                .as_slice(),
            &device,
        )
        .reshape([1, 1, 32, 48]);
        let t = Tensor::<1>::from_floats([17.0], &device);
        let eps = unet.predict_noise(x_t, t, None);
        assert_eq!(eps.dims(), [1, 1, 32, 48]);
        // The final conv is zero-initialised, as in guided-diffusion.
        let max = eps.abs().max().into_scalar::<f32>();
        assert_eq!(max, 0.0);
    }

    #[test]
    fn attention_block_trains_with_the_values_it_infers() {
        // A training step on Flex runs attention through the fused softmax; inference runs
        // Burn's attention kernel. `proj_out` is re-initialised non-zero so attention reaches
        // the output.
        let device = Device::flex().autodiff();
        let mut block = AttentionBlock::new(32, 2, &device);
        block.proj_out = Conv1dConfig::new(32, 32, 1).init(&device);
        let x = wave([2, 32, 4, 6], 1.0, 1.5, &device).require_grad();
        let trained = block.forward(x.clone());
        let grads = trained.clone().sum().backward();
        let qkv_grad = values(block.qkv.weight.grad(&grads).expect("qkv weight gradient"));
        assert!(qkv_grad.iter().all(|g| g.is_finite()));
        assert!(qkv_grad.iter().any(|&g| g != 0.0));
        let inferred = block.valid().forward(x.without_autodiff());
        assert_close(&values(trained), &values(inferred), [1e-5, 1e-5], "output");
    }

    #[test]
    fn conditional_network_runs_with_and_without_labels() {
        let device = Device::flex();
        let unet = UNet::new(&tiny(16, 3, 2), &device);
        let x_t = Tensor::<4>::ones([2, 3, 8, 24], &device);
        let t = Tensor::<1>::from_floats([0.0, 999.0], &device);
        let y = Tensor::<1, Int>::from_ints([1, 0], &device);
        assert_eq!(
            unet.forward(x_t.clone(), t.clone(), Some(y)).dims(),
            [2, 3, 8, 24]
        );
        assert_eq!(unet.forward(x_t, t, None).dims(), [2, 3, 8, 24]);
    }

    #[test]
    #[should_panic(expected = "divisible by 2")]
    fn odd_sides_are_refused() {
        let device = Device::flex();
        let unet = UNet::new(&tiny(16, 1, 0), &device);
        unet.forward(
            Tensor::zeros([1, 1, 16, 15], &device),
            Tensor::zeros([1], &device),
            None,
        );
    }
}

//! Token embeddings shared by the transformer backbones: patches, timesteps, positions.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Initializer, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::{gelu, silu};
use burn::tensor::{Device, Tensor, TensorData};

use super::config::{ModelConfig, PatchEmbedKind};
use super::init::trunc_normal_linear;

/// Sinusoidal embedding of timesteps `t` `[B]` → `[B, dim]`: cosines of `t·f_k` then sines,
/// `f_k = 10000^(-k/half)`, zero-padded when `dim` is odd (as guided-diffusion / U-ViT).
pub fn timestep_embedding(t: Tensor<1>, dim: usize) -> Tensor<2> {
    let half = dim / 2;
    let device = t.device();
    let frequencies: Vec<f32> = (0..half)
        .map(|k| (-(10_000f32.ln()) * k as f32 / half as f32).exp())
        .collect();
    let frequencies = Tensor::<1>::from_floats(frequencies.as_slice(), &device).unsqueeze_dim(0);
    let arguments = t.unsqueeze_dim::<2>(1) * frequencies;
    let embedding = Tensor::cat(vec![arguments.clone().cos(), arguments.sin()], 1);
    if dim % 2 == 1 {
        let [batch, _] = embedding.dims();
        Tensor::cat(vec![embedding, Tensor::zeros([batch, 1], &device)], 1)
    } else {
        embedding
    }
}

/// Non-overlapping `p×p` patches → tokens: `[B,C,H,W]` → `[B, (H/p)(W/p), D]` (row-major grid).
#[derive(Module, Debug)]
pub struct PatchEmbed {
    /// Convolution with kernel and stride `p`.
    pub proj: Conv2d,
}

impl PatchEmbed {
    /// A patch embedding of `channels` → `embed_dim` with patch side `patch_size`.
    pub fn new(channels: usize, embed_dim: usize, patch_size: usize, device: &Device) -> Self {
        let proj = Conv2dConfig::new([channels, embed_dim], [patch_size, patch_size])
            .with_stride([patch_size, patch_size])
            .init(device);
        Self { proj }
    }

    /// `[B,C,H,W]` → `[B, L, D]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<3> {
        self.proj.forward(images).flatten::<3>(2, 3).swap_dims(1, 2)
    }
}

/// Per-channel affine map `x·alpha + beta` of a `[B, C, H, W]` map (the reference's `Affine`).
#[derive(Module, Debug)]
pub struct Affine {
    /// Scale `[1, C, 1, 1]`, initially 1.
    pub alpha: Param<Tensor<4>>,
    /// Shift `[1, C, 1, 1]`, initially 0.
    pub beta: Param<Tensor<4>>,
}

impl Affine {
    fn new(channels: usize, device: &Device) -> Self {
        Self {
            alpha: Initializer::Ones.init([1, channels, 1, 1], device),
            beta: Initializer::Zeros.init([1, channels, 1, 1], device),
        }
    }

    fn forward(&self, map: Tensor<4>) -> Tensor<4> {
        map * self.alpha.val() + self.beta.val()
    }
}

/// A stride-2 3×3 convolution without bias followed by BatchNorm (the reference's `conv3x3`;
/// PyTorch keys `.0` and `.1`).
#[derive(Module, Debug)]
pub struct ConvBnStage {
    /// 3×3 convolution, stride 2, padding 1, no bias.
    pub conv: Conv2d,
    /// BatchNorm over its output channels (running statistics at inference).
    pub norm: BatchNorm,
}

/// The convolutional patch embedding (SPE, the reference's `ConvPatchEmbed`):
/// `[B,C,H,W]` → affine → `log2 p` stride-2 conv-BN stages (GELU between them; patch 2 also
/// after its one stage) → affine → tokens `[B, (H/p)(W/p), D]`.
#[derive(Module, Debug)]
pub struct ConvPatchEmbed {
    /// Affine map of the input channels.
    pub pre_affine: Affine,
    /// The conv-BN stages (PyTorch keys `proj.0`, `proj.2`, … around the GELUs).
    pub proj: Vec<ConvBnStage>,
    /// Affine map of the token channels.
    pub post_affine: Affine,
    trailing_gelu: bool,
}

impl ConvPatchEmbed {
    /// The embedding of `channels` → `embed_dim` for patch side 2, 4 or 16 (validated by
    /// [`ModelConfig::validate`]): widths D/8, D/4, D/2, D for patch 16, D/2, D for patch 4.
    pub fn new(channels: usize, embed_dim: usize, patch_size: usize, device: &Device) -> Self {
        let divisors: &[usize] = match patch_size {
            16 => &[8, 4, 2, 1],
            4 => &[2, 1],
            _ => &[1],
        };
        let mut width_in = channels;
        let proj = divisors
            .iter()
            .map(|divisor| {
                let width_out = embed_dim / divisor;
                let stage = ConvBnStage {
                    conv: Conv2dConfig::new([width_in, width_out], [3, 3])
                        .with_stride([2, 2])
                        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                        .with_bias(false)
                        .init(device),
                    norm: BatchNormConfig::new(width_out).init(device),
                };
                width_in = width_out;
                stage
            })
            .collect();
        Self {
            pre_affine: Affine::new(channels, device),
            proj,
            post_affine: Affine::new(embed_dim, device),
            trailing_gelu: patch_size == 2,
        }
    }

    /// `[B,C,H,W]` → `[B, L, D]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<3> {
        let mut map = self.pre_affine.forward(images);
        let last = self.proj.len() - 1;
        for (index, stage) in self.proj.iter().enumerate() {
            map = stage.norm.forward(stage.conv.forward(map)); // [B, C', H/2, W/2]
            if index < last || self.trailing_gelu {
                map = gelu(map);
            }
        }
        self.post_affine
            .forward(map)
            .flatten::<3>(2, 3)
            .swap_dims(1, 2)
    }
}

/// The patch embedding of a transformer backbone, by [`ModelConfig::patch_embed`].
#[derive(Module, Debug)]
pub enum PatchEmbedding {
    /// One convolution with kernel and stride `p`.
    Pe(PatchEmbed),
    /// The convolutional embedding (SPE).
    Spe(ConvPatchEmbed),
}

impl PatchEmbedding {
    /// The embedding `config` asks for.
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let (channels, dim, patch) = (config.channels, config.embed_dim, config.patch_size);
        match config.patch_embed {
            PatchEmbedKind::Pe => Self::Pe(PatchEmbed::new(channels, dim, patch, device)),
            PatchEmbedKind::Spe => Self::Spe(ConvPatchEmbed::new(channels, dim, patch, device)),
        }
    }

    /// `[B,C,H,W]` → `[B, (H/p)(W/p), D]` (row-major grid).
    pub fn forward(&self, images: Tensor<4>) -> Tensor<3> {
        match self {
            Self::Pe(embed) => embed.forward(images),
            Self::Spe(embed) => embed.forward(images),
        }
    }
}

/// The time-token MLP: Linear(D, 4D) → SiLU → Linear(4D, D) over the sinusoidal embedding
/// (PyTorch keys `time_embed.0` and `time_embed.2`).
#[derive(Module, Debug)]
pub struct TimeEmbed {
    /// Linear(D, 4D).
    pub fc1: Linear,
    /// Linear(4D, D).
    pub fc2: Linear,
}

impl TimeEmbed {
    /// A time MLP of width `embed_dim`.
    pub fn new(embed_dim: usize, device: &Device) -> Self {
        Self {
            fc1: trunc_normal_linear(LinearConfig::new(embed_dim, 4 * embed_dim), device),
            fc2: trunc_normal_linear(LinearConfig::new(4 * embed_dim, embed_dim), device),
        }
    }

    /// Timesteps `[B]` → time tokens `[B, D]`.
    pub fn forward(&self, t: Tensor<1>) -> Tensor<2> {
        let [embed_dim, _] = self.fc1.weight.dims();
        let embedding = timestep_embedding(t, embed_dim);
        self.fc2.forward(silu(self.fc1.forward(embedding)))
    }
}

/// The positional table `[1, extras + g·g, D]` for a `grid_h × grid_w` token grid: the trained
/// `g × g` table as is, otherwise its grid part resized bicubically exactly as PyTorch's
/// `F.interpolate(mode="bicubic", align_corners=False)` (Keys kernel with a = −0.75,
/// half-pixel centres, edge-clamped taps), extra-token rows kept. The resize is two small
/// matrix products, so gradients reach the trained table.
pub fn position_table(
    table: Tensor<3>,
    extras: usize,
    trained_grid: usize,
    grid_h: usize,
    grid_w: usize,
) -> Tensor<3> {
    if grid_h == trained_grid && grid_w == trained_grid {
        return table;
    }
    let [_, _, embed_dim] = table.dims();
    let device = table.device();
    let extra_rows = table.clone().narrow(1, 0, extras);
    let grid = table
        .narrow(1, extras, trained_grid * trained_grid)
        .reshape([trained_grid, trained_grid * embed_dim]);
    let rows = Tensor::<2>::from_data(
        TensorData::new(bicubic_matrix(trained_grid, grid_h), [grid_h, trained_grid]),
        &device,
    );
    let columns = Tensor::<2>::from_data(
        TensorData::new(bicubic_matrix(trained_grid, grid_w), [grid_w, trained_grid]),
        &device,
    );
    let resized_rows = rows
        .matmul(grid)
        .reshape([grid_h, trained_grid, embed_dim])
        .swap_dims(0, 1)
        .reshape([trained_grid, grid_h * embed_dim]);
    let resized = columns
        .matmul(resized_rows)
        .reshape([grid_w, grid_h, embed_dim])
        .swap_dims(0, 1)
        .reshape([1, grid_h * grid_w, embed_dim]);
    Tensor::cat(vec![extra_rows, resized], 1)
}

/// The `[output, input]` row-major weights of PyTorch's 1-D bicubic resize (align_corners
/// false): output `o` samples input position `(o + ½)·input/output − ½` with the four Keys taps.
fn bicubic_matrix(input: usize, output: usize) -> Vec<f32> {
    const A: f64 = -0.75;
    let near = |x: f64| ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    let far = |x: f64| ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
    let scale = input as f64 / output as f64;
    let mut weights = vec![0f32; output * input];
    for o in 0..output {
        let source = (o as f64 + 0.5) * scale - 0.5;
        let base = source.floor();
        let t = source - base;
        let taps = [far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)];
        for (k, weight) in taps.into_iter().enumerate() {
            let index = (base as i64 - 1 + k as i64).clamp(0, input as i64 - 1) as usize;
            weights[o * input + index] += weight as f32;
        }
    }
    weights
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestep_embedding_is_cos_then_sin() {
        let device = Device::flex();
        let t = Tensor::<1>::from_floats([0.0, 3.0], &device);
        let embedding: Vec<f32> = timestep_embedding(t, 4)
            .into_data()
            .try_to_vec()
            .expect("f32");
        // half = 2: frequencies 1 and 10000^(-1/2) = 0.01.
        let expected = [
            1.0,
            1.0,
            0.0,
            0.0,
            3f32.cos(),
            0.03f32.cos(),
            3f32.sin(),
            0.03f32.sin(),
        ];
        for (got, want) in embedding.iter().zip(expected) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
    }

    #[test]
    fn bicubic_weights_sum_to_one_and_keep_the_identity() {
        let same = bicubic_matrix(4, 4);
        for (i, w) in same.iter().enumerate() {
            let expected = if i % 5 == 0 { 1.0 } else { 0.0 };
            assert!((w - expected).abs() < 1e-6);
        }
        for row in bicubic_matrix(4, 7).chunks(4) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
    }

    #[test]
    fn convolutional_patch_embedding_has_one_stage_per_halving() {
        let device = Device::flex();
        for (patch, stages) in [(2, 1), (4, 2), (16, 4)] {
            let embed = ConvPatchEmbed::new(3, 16, patch, &device);
            assert_eq!(embed.proj.len(), stages);
            let tokens = embed.forward(Tensor::zeros([2, 3, 2 * patch, 3 * patch], &device));
            assert_eq!(tokens.dims(), [2, 6, 16]);
        }
    }

    #[test]
    fn patch_embedding_orders_tokens_row_major() {
        let device = Device::flex();
        let patch = PatchEmbed::new(1, 2, 2, &device);
        let tokens = patch.forward(Tensor::zeros([3, 1, 4, 6], &device));
        assert_eq!(tokens.dims(), [3, 6, 2]);
    }
}

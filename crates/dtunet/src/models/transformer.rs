//! The DTU-Net and U-ViT backbones (SPEC §4.1, §4.2): a ViT with long skips between the in
//! and out blocks, time (and label) tokens, and a convolutional output layer.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear,
    LinearConfig, PaddingConfig2d,
};
use burn::tensor::activation::gelu;
use burn::tensor::{Device, Int, Tensor};

use super::NoisePredictor;
use super::attention::Attention;
use super::config::{Architecture, FeedForwardKind, ModelConfig};
use super::embedding::{PatchEmbedding, TimeEmbed, position_table};
use super::feed_forward::{FeedForward, TokenLayout};
use super::init::{trunc_normal, trunc_normal_linear};

/// One pre-norm transformer block: `x += Attn(LN(x)); x += FF(LN(x))`, out blocks first fusing
/// their skip with `Linear(2D → D)(concat(x, skip))`.
#[derive(Module, Debug)]
pub struct Block {
    /// LayerNorm before attention.
    pub norm1: LayerNorm,
    /// Self-attention (HI attention in DTU-Net).
    pub attn: Attention,
    /// LayerNorm before the feed-forward layer.
    pub norm2: LayerNorm,
    /// Feed-forward layer (`mlp` in PyTorch keys, whichever kind).
    pub mlp: FeedForward,
    /// Long-skip fusion Linear(2D, D) (out blocks only).
    pub skip_linear: Option<Linear>,
}

impl Block {
    pub(crate) fn new(
        config: &ModelConfig,
        kind: FeedForwardKind,
        with_skip: bool,
        device: &Device,
    ) -> Self {
        let dim = config.embed_dim;
        let norm = || {
            LayerNormConfig::new(dim)
                .with_epsilon(config.norm_eps)
                .init(device)
        };
        let head_interaction = config.arch == Architecture::Dtunet;
        Self {
            norm1: norm(),
            attn: Attention::new(dim, config.heads, head_interaction, device),
            norm2: norm(),
            mlp: FeedForward::new(kind, dim, config.hidden_dim(), device),
            skip_linear: with_skip
                .then(|| trunc_normal_linear(LinearConfig::new(2 * dim, dim), device)),
        }
    }

    /// `[B, N, D]` (and the matching in-block output for out blocks) → `[B, N, D]`.
    pub fn forward(
        &self,
        tokens: Tensor<3>,
        skip: Option<Tensor<3>>,
        layout: TokenLayout,
    ) -> Tensor<3> {
        let tokens = match (&self.skip_linear, skip) {
            (Some(fuse), Some(skip)) => fuse.forward(Tensor::cat(vec![tokens, skip], 2)),
            _ => tokens,
        };
        let tokens = tokens.clone() + self.attn.forward(self.norm1.forward(tokens));
        tokens.clone() + self.mlp.forward(self.norm2.forward(tokens), layout)
    }
}

/// The conv-BN-GELU-conv refinement head (PyTorch keys `final_layer.0/.1/.3`).
#[derive(Module, Debug)]
pub struct RefinementHead {
    /// First 3×3 conv C → C.
    pub conv1: Conv2d,
    /// BatchNorm(C).
    pub norm: BatchNorm,
    /// Second 3×3 conv C → C.
    pub conv2: Conv2d,
}

/// The last layer on the un-patchified image.
#[allow(
    clippy::large_enum_variant,
    reason = "one value per network, built once; a box would not make the module smaller"
)]
#[derive(Module, Debug)]
pub enum FinalLayer {
    /// One 3×3 conv C → C.
    Conv(Conv2d),
    /// Conv-BN-GELU-conv.
    Refine(RefinementHead),
}

impl FinalLayer {
    fn new(channels: usize, refine: bool, device: &Device) -> Self {
        let conv = || {
            Conv2dConfig::new([channels, channels], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        if refine {
            Self::Refine(RefinementHead {
                conv1: conv(),
                norm: BatchNormConfig::new(channels).init(device),
                conv2: conv(),
            })
        } else {
            Self::Conv(conv())
        }
    }

    fn forward(&self, image: Tensor<4>) -> Tensor<4> {
        match self {
            Self::Conv(conv) => conv.forward(image),
            Self::Refine(head) => head
                .conv2
                .forward(gelu(head.norm.forward(head.conv1.forward(image)))),
        }
    }
}

/// DTU-Net or U-ViT, by `config.arch`. Field names are the paper's PyTorch state_dict keys.
#[derive(Module, Debug)]
pub struct TransformerUNet {
    /// Patch embedding (one conv, or the convolutional SPE stages).
    pub patch_embed: PatchEmbedding,
    /// Time-token MLP.
    pub time_embed: TimeEmbed,
    /// Label-token embedding (class-conditional models).
    pub label_emb: Option<Embedding>,
    /// Learned positional embedding `[1, extras + g², D]` at the trained grid `g`.
    pub pos_embed: Param<Tensor<3>>,
    /// The depth/2 in blocks.
    pub in_blocks: Vec<Block>,
    /// The mid block.
    pub mid_block: Block,
    /// The depth/2 out blocks (with skip fusion).
    pub out_blocks: Vec<Block>,
    /// Final LayerNorm.
    pub norm: LayerNorm,
    /// Linear(D, p²·C) from tokens to patches.
    pub decoder_pred: Linear,
    /// Convolution on the un-patchified image.
    pub final_layer: FinalLayer,
    patch_size: usize,
    trained_grid: usize,
    extras: usize,
    channels: usize,
}

impl TransformerUNet {
    /// A randomly initialised network for a validated `config` (DTU-Net or U-ViT).
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let dim = config.embed_dim;
        let [ff_in, ff_mid, ff_out] = config.stage_feed_forward();
        let half = config.depth / 2;
        let grid = config.grid_side();
        let extras = config.extra_tokens();
        Self {
            patch_embed: PatchEmbedding::new(config, device),
            time_embed: TimeEmbed::new(dim, device),
            label_emb: (config.num_classes > 0)
                .then(|| EmbeddingConfig::new(config.num_classes, dim).init(device)),
            pos_embed: trunc_normal().init([1, extras + grid * grid, dim], device),
            in_blocks: (0..half)
                .map(|_| Block::new(config, ff_in, false, device))
                .collect(),
            mid_block: Block::new(config, ff_mid, false, device),
            out_blocks: (0..half)
                .map(|_| Block::new(config, ff_out, true, device))
                .collect(),
            norm: LayerNormConfig::new(dim)
                .with_epsilon(config.norm_eps)
                .init(device),
            decoder_pred: trunc_normal_linear(
                LinearConfig::new(dim, config.patch_size * config.patch_size * config.channels),
                device,
            ),
            final_layer: FinalLayer::new(config.channels, config.refine_head, device),
            patch_size: config.patch_size,
            trained_grid: grid,
            extras,
            channels: config.channels,
        }
    }

    /// ε̂ `[B,C,H,W]` for `x_t` `[B,C,H,W]` (H, W multiples of the patch size), timesteps `t`
    /// `[B]` and labels `y` `[B]` (used only by class-conditional models).
    pub fn forward(&self, x_t: Tensor<4>, t: Tensor<1>, y: Option<Tensor<1, Int>>) -> Tensor<4> {
        let [batch, channels, height, width] = x_t.dims();
        let p = self.patch_size;
        let (mut tokens, mut skips, layout) = self.encode(x_t, t, y);
        for block in &self.out_blocks {
            tokens = block.forward(tokens, skips.pop(), layout);
        }
        let patches = self.decoder_pred.forward(self.norm.forward(tokens));
        let patches = patches.narrow(1, self.extras, layout.grid_h * layout.grid_w);
        let image = patches
            .reshape([batch, layout.grid_h, layout.grid_w, p, p, channels])
            .permute([0, 5, 1, 3, 2, 4])
            .reshape([batch, channels, height, width]);
        debug_assert_eq!(channels, self.channels);
        self.final_layer.forward(image)
    }

    /// The mid block's patch tokens as a feature map `[B, D, H/p, W/p]` (the network's most
    /// abstract view of `x_t`), for the same inputs as [`Self::forward`].
    pub fn mid_features(
        &self,
        x_t: Tensor<4>,
        t: Tensor<1>,
        y: Option<Tensor<1, Int>>,
    ) -> Tensor<4> {
        let batch = x_t.dims()[0];
        let (tokens, _, layout) = self.encode(x_t, t, y);
        let dim = tokens.dims()[2];
        tokens
            .narrow(1, self.extras, layout.grid_h * layout.grid_w)
            .reshape([batch, layout.grid_h, layout.grid_w, dim])
            .permute([0, 3, 1, 2])
    }

    /// The tokens `[B, extras + tokens, D]` after the in blocks and the mid block, the in
    /// blocks' outputs for the skips, and the token layout.
    fn encode(
        &self,
        x_t: Tensor<4>,
        t: Tensor<1>,
        y: Option<Tensor<1, Int>>,
    ) -> (Tensor<3>, Vec<Tensor<3>>, TokenLayout) {
        let [batch, _, height, width] = x_t.dims();
        let p = self.patch_size;
        let layout = TokenLayout {
            extras: self.extras,
            grid_h: height / p,
            grid_w: width / p,
        };
        let patches = self.patch_embed.forward(x_t);
        let time_token = self.time_embed.forward(t).unsqueeze_dim(1);
        let mut leading = vec![time_token];
        if let Some(label_emb) = &self.label_emb {
            let labels = y.unwrap_or_else(|| Tensor::zeros([batch], &patches.device()));
            leading.insert(0, label_emb.forward(labels.unsqueeze_dim(1)));
        }
        leading.push(patches);
        let positions = position_table(
            self.pos_embed.val(),
            self.extras,
            self.trained_grid,
            layout.grid_h,
            layout.grid_w,
        );
        let mut tokens = Tensor::cat(leading, 1) + positions;
        let mut skips = Vec::with_capacity(self.in_blocks.len());
        for block in &self.in_blocks {
            tokens = block.forward(tokens, None, layout);
            skips.push(tokens.clone());
        }
        tokens = self.mid_block.forward(tokens, None, layout);
        (tokens, skips, layout)
    }
}

impl NoisePredictor for TransformerUNet {
    fn predict_noise(&self, x_t: Tensor<4>, t: Tensor<1>, y: Option<Tensor<1, Int>>) -> Tensor<4> {
        self.forward(x_t, t, y)
    }
}

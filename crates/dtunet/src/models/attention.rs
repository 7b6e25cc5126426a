//! Multi-head self-attention, plain (U-ViT) or with head interaction (DTU-Net, SPEC §4.1).

use burn::module::{Module, Param};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::gelu;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Tensor};

use super::init::{trunc_normal, trunc_normal_linear};

/// Self-attention over `[B, N, D]` tokens; with the head-interaction parts present it first
/// appends one summary token per head (HI attention).
///
/// HI attention: split the tokens into `h` heads `[B,h,N,D/h]`, average over tokens →
/// `[B,h,D/h]`, `ht_proj` Linear(D/h→D) → `[B,h,h,D/h]`, `ht_norm` LayerNorm(D/h, eps 1e-5),
/// GELU, flatten → `[B,h,D]`, add `pos_embed` `[1,h,D]`; attend over the `N+h` tokens; drop the
/// head tokens and add their mean to the first token.
#[derive(Module, Debug)]
pub struct Attention {
    /// Linear(D, 3D) without bias.
    pub qkv: Linear,
    /// Output projection Linear(D, D).
    pub proj: Linear,
    /// Head-token projection Linear(D/h, D) (HI attention only).
    pub ht_proj: Option<Linear>,
    /// Head-token LayerNorm(D/h) (HI attention only).
    pub ht_norm: Option<LayerNorm>,
    /// Head-token positional embedding `[1, h, D]` (HI attention only).
    pub pos_embed: Option<Param<Tensor<3>>>,
    heads: usize,
}

impl Attention {
    /// Attention of width `dim` with `heads` heads; `head_interaction` selects HI attention.
    pub fn new(dim: usize, heads: usize, head_interaction: bool, device: &Device) -> Self {
        let head_dim = dim / heads;
        let (ht_proj, ht_norm, pos_embed) = if head_interaction {
            (
                Some(trunc_normal_linear(
                    LinearConfig::new(head_dim, dim),
                    device,
                )),
                Some(
                    LayerNormConfig::new(head_dim)
                        .with_epsilon(1e-5)
                        .init(device),
                ),
                Some(trunc_normal().init([1, heads, dim], device)),
            )
        } else {
            (None, None, None)
        };
        Self {
            qkv: trunc_normal_linear(LinearConfig::new(dim, 3 * dim).with_bias(false), device),
            proj: trunc_normal_linear(LinearConfig::new(dim, dim), device),
            ht_proj,
            ht_norm,
            pos_embed,
            heads,
        }
    }

    /// `[B, N, D]` → `[B, N, D]`.
    pub fn forward(&self, tokens: Tensor<3>) -> Tensor<3> {
        match (&self.ht_proj, &self.ht_norm, &self.pos_embed) {
            (Some(ht_proj), Some(ht_norm), Some(pos_embed)) => {
                self.forward_head_interaction(tokens, ht_proj, ht_norm, pos_embed)
            }
            _ => self.attend(tokens),
        }
    }

    fn forward_head_interaction(
        &self,
        tokens: Tensor<3>,
        ht_proj: &Linear,
        ht_norm: &LayerNorm,
        pos_embed: &Param<Tensor<3>>,
    ) -> Tensor<3> {
        let [batch, n, dim] = tokens.dims();
        let (h, head_dim) = (self.heads, dim / self.heads);
        let head_tokens = tokens
            .clone()
            .reshape([batch, n, h, head_dim])
            .mean_dim(1)
            .reshape([batch, h, head_dim]);
        let head_tokens = ht_proj
            .forward(head_tokens)
            .reshape([batch, h, h, head_dim]);
        let head_tokens = gelu(ht_norm.forward(head_tokens)).reshape([batch, h, dim]);
        let head_tokens = head_tokens + pos_embed.val();
        let attended = self.attend(Tensor::cat(vec![tokens, head_tokens], 1));
        let first = attended.clone().narrow(1, 0, 1);
        let rest = attended.clone().narrow(1, 1, n - 1);
        let head_mean = attended.narrow(1, n, h).mean_dim(1);
        Tensor::cat(vec![first + head_mean, rest], 1)
    }

    /// Standard multi-head self-attention with scale `(D/h)^-½`.
    fn attend(&self, tokens: Tensor<3>) -> Tensor<3> {
        let [batch, n, dim] = tokens.dims();
        let (h, head_dim) = (self.heads, dim / self.heads);
        let qkv = self
            .qkv
            .forward(tokens)
            .reshape([batch, n, 3, h, head_dim])
            .permute([2, 0, 3, 1, 4]);
        let part = |i: usize| qkv.clone().narrow(0, i, 1).reshape([batch, h, n, head_dim]);
        let context = attention(
            part(0),
            part(1),
            part(2),
            None,
            None,
            AttentionModuleOptions::default(),
        );
        let merged = context.swap_dims(1, 2).reshape([batch, n, dim]);
        self.proj.forward(merged)
    }
}

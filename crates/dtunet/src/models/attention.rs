//! Multi-head self-attention, plain (U-ViT) or with head interaction (DTU-Net, SPEC §4.1).

use burn::module::{Module, Param};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::gelu;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Tensor};

use super::flex_ops::trains_on_flex;
use super::init::{trunc_normal, trunc_normal_linear};
use super::softmax::softmax_last_axis;

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
        let context = scaled_dot_product(part(0), part(1), part(2));
        let merged = context.swap_dims(1, 2).reshape([batch, n, dim]);
        self.proj.forward(merged)
    }
}

/// `softmax(q·kᵀ / √d) · v` over heads `[B, h, N, d]`. A training step on Flex composes it from
/// two matrix products around the fused softmax (whose backward is one pass); elsewhere it is
/// Burn's attention operation (on Flex without autodiff, its fused CPU kernel).
pub fn scaled_dot_product(query: Tensor<4>, key: Tensor<4>, value: Tensor<4>) -> Tensor<4> {
    if trains_on_flex(&query.device()) {
        let head_dim = query.dims()[3];
        let scores = (query * (head_dim as f64).powf(-0.5)).matmul(key.swap_dims(2, 3));
        softmax_last_axis(scores).matmul(value)
    } else {
        attention(
            query,
            key,
            value,
            None,
            None,
            AttentionModuleOptions::default(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::flex_ops::testing::{assert_close, values, wave};
    use super::*;

    fn heads(shape: [usize; 4], seed: f32, device: &Device) -> Tensor<4> {
        wave(shape, seed, 2.0, device)
    }

    #[test]
    fn training_attention_on_flex_equals_burns_attention_and_its_gradients() {
        let device = Device::flex().autodiff();
        let shape = [2, 3, 11, 8];
        let run = |fused: bool| {
            let [q, k, v] = [1.0, 2.0, 3.0].map(|seed| heads(shape, seed, &device).require_grad());
            let context = if fused {
                scaled_dot_product(q.clone(), k.clone(), v.clone())
            } else {
                attention(
                    q.clone(),
                    k.clone(),
                    v.clone(),
                    None,
                    None,
                    AttentionModuleOptions::default(),
                )
            };
            let grads = (context.clone() * heads(shape, 4.0, &device))
                .sum()
                .backward();
            let grad = |x: &Tensor<4>| values(x.grad(&grads).expect("gradient"));
            [values(context), grad(&q), grad(&k), grad(&v)]
        };
        let names = [
            "context",
            "query gradient",
            "key gradient",
            "value gradient",
        ];
        for ((fused, reference), name) in run(true).iter().zip(run(false)).zip(names) {
            assert_close(fused, &reference, [1e-5, 1e-5], name);
        }
    }
}

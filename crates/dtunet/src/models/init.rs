//! Parameter initialisation of the transformer backbones (SPEC §4.1): linear weights
//! normal with std 0.02 (PyTorch's `trunc_normal_(std=.02)` truncates at ±2, i.e. ±100 σ, so
//! the truncation never bites), zero biases; norms weight 1, bias 0 (Burn's defaults).

use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::Device;

/// The standard deviation of every transformer weight and positional table.
pub const INIT_STD: f64 = 0.02;

/// The initialiser of transformer weights and positional tables.
pub fn trunc_normal() -> Initializer {
    Initializer::Normal {
        mean: 0.0,
        std: INIT_STD,
    }
}

/// A linear layer with std-0.02 weights and a zero bias.
pub fn trunc_normal_linear(config: LinearConfig, device: &Device) -> Linear {
    let mut linear = config.with_initializer(trunc_normal()).init(device);
    if let Some(bias) = linear.bias.take() {
        // `zeros_like` returns a tensor that does not track gradients; keep the bias trainable
        // (on an autodiff device) as the initialiser made it.
        linear.bias = Some(bias.map(|b| {
            let require_grad = b.is_require_grad();
            b.zeros_like().set_require_grad(require_grad)
        }));
    }
    linear
}

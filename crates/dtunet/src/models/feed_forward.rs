//! The per-stage feed-forward layers of the transformer blocks: MLP and DAFF (SPEC §4.1).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::gelu;
use burn::tensor::{Device, Tensor};

use super::config::FeedForwardKind;
use super::depthwise::depthwise_conv3x3;
use super::init::trunc_normal_linear;

/// The token layout a feed-forward layer sees: `extras` leading tokens (time, label), then a
/// row-major `grid_h × grid_w` patch grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLayout {
    /// Leading non-grid tokens.
    pub extras: usize,
    /// Patch-grid rows.
    pub grid_h: usize,
    /// Patch-grid columns.
    pub grid_w: usize,
}

/// Linear(D, rD) → GELU → Linear(rD, D) on every token.
#[derive(Module, Debug)]
pub struct Mlp {
    /// Linear(D, rD).
    pub fc1: Linear,
    /// Linear(rD, D).
    pub fc2: Linear,
}

impl Mlp {
    /// An MLP of width `dim` and hidden width `hidden`.
    pub fn new(dim: usize, hidden: usize, device: &Device) -> Self {
        Self {
            fc1: trunc_normal_linear(LinearConfig::new(dim, hidden), device),
            fc2: trunc_normal_linear(LinearConfig::new(hidden, dim), device),
        }
    }

    /// `[B, N, D]` → `[B, N, D]`.
    pub fn forward(&self, tokens: Tensor<3>) -> Tensor<3> {
        self.fc2.forward(gelu(self.fc1.forward(tokens)))
    }
}

/// DAFF: the grid tokens as a `[B, D, h, w]` map go through 1×1 conv D→rD + BN + GELU, a
/// residual depthwise 3×3 conv + BN + GELU, and 1×1 conv rD→D + BN; the map's global average
/// through Linear(D, D/4) → GELU → Linear(D/4, D) multiplies every extra token.
///
/// BatchNorm uses batch statistics on an autodiff (training) device and the running
/// statistics otherwise.
#[derive(Module, Debug)]
pub struct Daff {
    /// 1×1 conv D → rD.
    pub conv1: Conv2d,
    /// Depthwise 3×3 conv rD → rD.
    pub conv2: Conv2d,
    /// 1×1 conv rD → D.
    pub conv3: Conv2d,
    /// BatchNorm after `conv1`.
    pub bn1: BatchNorm,
    /// BatchNorm after `conv2`.
    pub bn2: BatchNorm,
    /// BatchNorm after `conv3`.
    pub bn3: BatchNorm,
    /// Gate squeeze Linear(D, D/4).
    pub compress: Linear,
    /// Gate excitation Linear(D/4, D).
    pub excitation: Linear,
}

impl Daff {
    /// A DAFF of width `dim` and hidden width `hidden`.
    pub fn new(dim: usize, hidden: usize, device: &Device) -> Self {
        Self {
            conv1: Conv2dConfig::new([dim, hidden], [1, 1]).init(device),
            conv2: Conv2dConfig::new([hidden, hidden], [3, 3])
                .with_groups(hidden)
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device),
            conv3: Conv2dConfig::new([hidden, dim], [1, 1]).init(device),
            bn1: BatchNormConfig::new(hidden).init(device),
            bn2: BatchNormConfig::new(hidden).init(device),
            bn3: BatchNormConfig::new(dim).init(device),
            compress: trunc_normal_linear(LinearConfig::new(dim, dim / 4), device),
            excitation: trunc_normal_linear(LinearConfig::new(dim / 4, dim), device),
        }
    }

    /// `[B, N, D]` → `[B, N, D]` with `N = extras + grid_h·grid_w`.
    ///
    /// Computed on the token (channels-last) layout, the same function as the reference's
    /// NCHW convolutions: the 1×1 convolutions are matmuls over `[B·h·w, C]`, BatchNorm
    /// normalises each channel over those `B·h·w` rows, and the depthwise 3×3 convolution works
    /// on the channels-last map (see `depthwise`), so no pass converts between layouts.
    pub fn forward(&self, tokens: Tensor<3>, layout: TokenLayout) -> Tensor<3> {
        let [batch, _, dim] = tokens.dims();
        let TokenLayout {
            extras,
            grid_h,
            grid_w,
        } = layout;
        let cells = grid_h * grid_w;
        let extra = tokens.clone().narrow(1, 0, extras);
        let rows = tokens
            .narrow(1, extras, cells)
            .reshape([batch * cells, dim]);
        let hidden = gelu(self.bn1.forward(pointwise(&self.conv1, rows)));
        let spatial = depthwise_rows(&self.conv2, hidden.clone(), [batch, grid_h, grid_w]);
        let hidden = hidden + gelu(self.bn2.forward(spatial));
        let grid = self
            .bn3
            .forward(pointwise(&self.conv3, hidden))
            .reshape([batch, cells, dim]);
        let gate = grid.clone().mean_dim(1);
        let gate = self.excitation.forward(gelu(self.compress.forward(gate)));
        Tensor::cat(vec![extra * gate, grid], 1)
    }
}

/// A 1×1 convolution `C_in → C_out` applied to channels-last rows: `[M, C_in]` → `[M, C_out]`.
fn pointwise(conv: &Conv2d, rows: Tensor<2>) -> Tensor<2> {
    let [channels_out, channels_in, _, _] = conv.weight.dims();
    let weight = conv.weight.val().reshape([channels_out, channels_in]);
    let output = rows.matmul(weight.transpose());
    match &conv.bias {
        Some(bias) => output + bias.val().unsqueeze_dim(0),
        None => output,
    }
}

/// The depthwise 3×3 convolution (zero padding 1, stride 1) of channels-last rows
/// `[B·h·w, C]` holding `[B, h, w]` maps, returned as `[B·h·w, C]`.
fn depthwise_rows(conv: &Conv2d, rows: Tensor<2>, [batch, height, width]: [usize; 3]) -> Tensor<2> {
    let [channels, _, kernel_h, kernel_w] = conv.weight.dims();
    let device = rows.device();
    let taps = conv
        .weight
        .val()
        .reshape([channels, kernel_h * kernel_w])
        .transpose();
    let bias = match &conv.bias {
        Some(bias) => bias.val(),
        None => Tensor::zeros([channels], &device),
    };
    let map = rows.reshape([batch, height, width, channels]);
    depthwise_conv3x3(map, taps, bias).reshape([batch * height * width, channels])
}

/// The feed-forward layer of a block.
#[derive(Module, Debug)]
pub enum FeedForward {
    /// Token-wise MLP.
    Mlp(Mlp),
    /// Depthwise-convolution feed-forward.
    Daff(Daff),
}

impl FeedForward {
    /// A feed-forward layer of `kind`.
    pub fn new(kind: FeedForwardKind, dim: usize, hidden: usize, device: &Device) -> Self {
        match kind {
            FeedForwardKind::Mlp => Self::Mlp(Mlp::new(dim, hidden, device)),
            FeedForwardKind::Daff => Self::Daff(Daff::new(dim, hidden, device)),
        }
    }

    /// `[B, N, D]` → `[B, N, D]`.
    pub fn forward(&self, tokens: Tensor<3>, layout: TokenLayout) -> Tensor<3> {
        match self {
            Self::Mlp(mlp) => mlp.forward(tokens),
            Self::Daff(daff) => daff.forward(tokens, layout),
        }
    }
}

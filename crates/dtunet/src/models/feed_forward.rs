//! The per-stage feed-forward layers of the transformer blocks: MLP, DAFF and the
//! reference's transposed-convolution DAFF (SPEC §4.1).

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
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

impl TokenLayout {
    /// `[B, N, D]` → the extra tokens `[B, extras, D]` and the grid tokens `[B, h·w, D]`.
    fn split(self, tokens: Tensor<3>) -> (Tensor<3>, Tensor<3>) {
        let cells = self.grid_h * self.grid_w;
        let extra = tokens.clone().narrow(1, 0, self.extras);
        (extra, tokens.narrow(1, self.extras, cells))
    }
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
        let (extra, grid) = layout.split(tokens);
        let rows = grid.reshape([batch * layout.grid_h * layout.grid_w, dim]);
        let stages = ConvStages {
            expand: ChannelStage::of_conv(&self.conv1, &self.bn1),
            depthwise: (self.conv2.weight.val(), &self.conv2.bias, &self.bn2),
            project: ChannelStage::of_conv(&self.conv3, &self.bn3),
            compress: &self.compress,
            excitation: &self.excitation,
        };
        stages.forward(extra, rows, [batch, layout.grid_h, layout.grid_w])
    }
}

/// DDAFF, the reference's `DeconvDAFF`: DAFF's three stages as transposed convolutions —
/// 1×1 D→rD + BN + GELU, a residual depthwise 3×3 + BN + GELU, 1×1 rD→D + BN — and the same
/// gate of the extra tokens. Its input map is the grid tokens' memory `[B, h·w, D]` *viewed*
/// as `[B, D, h, w]` (the reference's `view`, not a transpose); its output tokens are the map
/// flattened properly. Checkpoints of the authors trained it this way, so we do the same.
#[derive(Module, Debug)]
pub struct Ddaff {
    /// 1×1 transposed conv D → rD (weight `[D, rD, 1, 1]`).
    pub deconv3: ConvTranspose2d,
    /// Depthwise 3×3 transposed conv rD → rD (weight `[rD, 1, 3, 3]`).
    pub deconv2: ConvTranspose2d,
    /// 1×1 transposed conv rD → D (weight `[rD, D, 1, 1]`).
    pub deconv1: ConvTranspose2d,
    /// BatchNorm after `deconv3`.
    pub bn3: BatchNorm,
    /// BatchNorm after `deconv2`.
    pub bn2: BatchNorm,
    /// BatchNorm after `deconv1`.
    pub bn1: BatchNorm,
    /// Gate squeeze Linear(D, D/4).
    pub compress: Linear,
    /// Gate excitation Linear(D/4, D).
    pub excitation: Linear,
}

impl Ddaff {
    /// A DDAFF of width `dim` and hidden width `hidden`.
    pub fn new(dim: usize, hidden: usize, device: &Device) -> Self {
        Self {
            deconv3: ConvTranspose2dConfig::new([dim, hidden], [1, 1]).init(device),
            deconv2: ConvTranspose2dConfig::new([hidden, hidden], [3, 3])
                .with_groups(hidden)
                .with_padding([1, 1])
                .init(device),
            deconv1: ConvTranspose2dConfig::new([hidden, dim], [1, 1]).init(device),
            bn3: BatchNormConfig::new(hidden).init(device),
            bn2: BatchNormConfig::new(hidden).init(device),
            bn1: BatchNormConfig::new(dim).init(device),
            compress: trunc_normal_linear(LinearConfig::new(dim, dim / 4), device),
            excitation: trunc_normal_linear(LinearConfig::new(dim / 4, dim), device),
        }
    }

    /// `[B, N, D]` → `[B, N, D]` with `N = extras + grid_h·grid_w`, on channels-last rows as
    /// [`Daff::forward`]: a 1×1 transposed convolution is a matmul with the weight as stored,
    /// and a stride-1 3×3 transposed convolution with padding 1 is the convolution with the
    /// kernel flipped in both directions.
    pub fn forward(&self, tokens: Tensor<3>, layout: TokenLayout) -> Tensor<3> {
        let [batch, _, dim] = tokens.dims();
        let (grid_h, grid_w) = (layout.grid_h, layout.grid_w);
        let (extra, grid) = layout.split(tokens);
        let rows = grid
            .reshape([batch, dim, grid_h, grid_w]) // the reference's view of [B, h·w, D]
            .permute([0, 2, 3, 1])
            .reshape([batch * grid_h * grid_w, dim]);
        let stages = ConvStages {
            expand: ChannelStage::of_deconv(&self.deconv3, &self.bn3),
            depthwise: (
                self.deconv2.weight.val().flip([2, 3]),
                &self.deconv2.bias,
                &self.bn2,
            ),
            project: ChannelStage::of_deconv(&self.deconv1, &self.bn1),
            compress: &self.compress,
            excitation: &self.excitation,
        };
        stages.forward(extra, rows, [batch, grid_h, grid_w])
    }
}

/// A 1×1 (transposed) convolution on channels-last rows, `x·W + b`, then its BatchNorm.
struct ChannelStage<'a> {
    /// `[C_in, C_out]`.
    matrix: Tensor<2>,
    bias: &'a Option<Param<Tensor<1>>>,
    norm: &'a BatchNorm,
}

impl<'a> ChannelStage<'a> {
    /// A 1×1 convolution (weight `[C_out, C_in, 1, 1]`).
    fn of_conv(conv: &'a Conv2d, norm: &'a BatchNorm) -> Self {
        let [channels_out, channels_in, _, _] = conv.weight.dims();
        let matrix = conv
            .weight
            .val()
            .reshape([channels_out, channels_in])
            .transpose();
        Self {
            matrix,
            bias: &conv.bias,
            norm,
        }
    }

    /// A 1×1 transposed convolution (weight `[C_in, C_out, 1, 1]`).
    fn of_deconv(deconv: &'a ConvTranspose2d, norm: &'a BatchNorm) -> Self {
        let [channels_in, channels_out, _, _] = deconv.weight.dims();
        Self {
            matrix: deconv.weight.val().reshape([channels_in, channels_out]),
            bias: &deconv.bias,
            norm,
        }
    }

    /// `[M, C_in]` → `[M, C_out]`.
    fn forward(self, rows: Tensor<2>) -> Tensor<2> {
        self.norm
            .forward(add_bias(rows.matmul(self.matrix), self.bias))
    }
}

/// The stages DAFF and DDAFF share, on channels-last rows `[B·h·w, D]`: expand + GELU, a
/// residual depthwise 3×3 (kernel `[rD, 1, 3, 3]`, bias, BatchNorm) + GELU, project; then the
/// grid's mean through Linear(D, D/4) → GELU → Linear(D/4, D) multiplies every extra token.
struct ConvStages<'a> {
    expand: ChannelStage<'a>,
    depthwise: (Tensor<4>, &'a Option<Param<Tensor<1>>>, &'a BatchNorm),
    project: ChannelStage<'a>,
    compress: &'a Linear,
    excitation: &'a Linear,
}

impl ConvStages<'_> {
    /// Extra tokens `[B, e, D]` and grid rows `[B·h·w, D]` → `[B, e + h·w, D]`.
    fn forward(self, extra: Tensor<3>, rows: Tensor<2>, grid: [usize; 3]) -> Tensor<3> {
        let [batch, height, width] = grid;
        let (kernel, bias, norm) = self.depthwise;
        let hidden = gelu(self.expand.forward(rows));
        let spatial = depthwise_rows(kernel, bias, hidden.clone(), grid);
        let hidden = hidden + gelu(norm.forward(spatial));
        let projected = self.project.forward(hidden);
        let dim = projected.dims()[1];
        let grid = projected.reshape([batch, height * width, dim]);
        let gate = grid.clone().mean_dim(1);
        let gate = self.excitation.forward(gelu(self.compress.forward(gate)));
        Tensor::cat(vec![extra * gate, grid], 1)
    }
}

fn add_bias(rows: Tensor<2>, bias: &Option<Param<Tensor<1>>>) -> Tensor<2> {
    match bias {
        Some(bias) => rows + bias.val().unsqueeze_dim(0),
        None => rows,
    }
}

/// The depthwise 3×3 convolution (zero padding 1, stride 1) with `kernel` `[C, 1, 3, 3]` of
/// channels-last rows `[B·h·w, C]` holding `[B, h, w]` maps, returned as `[B·h·w, C]`.
fn depthwise_rows(
    kernel: Tensor<4>,
    bias: &Option<Param<Tensor<1>>>,
    rows: Tensor<2>,
    [batch, height, width]: [usize; 3],
) -> Tensor<2> {
    let [channels, _, kernel_h, kernel_w] = kernel.dims();
    let taps = kernel.reshape([channels, kernel_h * kernel_w]).transpose();
    let bias = match bias {
        Some(bias) => bias.val(),
        None => Tensor::zeros([channels], &rows.device()),
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
    /// The transposed-convolution DAFF of the reference.
    Ddaff(Ddaff),
}

impl FeedForward {
    /// A feed-forward layer of `kind`.
    pub fn new(kind: FeedForwardKind, dim: usize, hidden: usize, device: &Device) -> Self {
        match kind {
            FeedForwardKind::Mlp => Self::Mlp(Mlp::new(dim, hidden, device)),
            FeedForwardKind::Daff => Self::Daff(Daff::new(dim, hidden, device)),
            FeedForwardKind::Ddaff => Self::Ddaff(Ddaff::new(dim, hidden, device)),
        }
    }

    /// `[B, N, D]` → `[B, N, D]`.
    pub fn forward(&self, tokens: Tensor<3>, layout: TokenLayout) -> Tensor<3> {
        match self {
            Self::Mlp(mlp) => mlp.forward(tokens),
            Self::Daff(daff) => daff.forward(tokens, layout),
            Self::Ddaff(ddaff) => ddaff.forward(tokens, layout),
        }
    }
}

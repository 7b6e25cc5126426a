//! Network configuration (paper Table 6) and its validation.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{DtunetError, Result};

/// Which backbone predicts the noise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// DTU-Net: U-ViT skeleton with head-interaction attention and per-stage feed-forward.
    Dtunet,
    /// U-ViT: the same skeleton with plain multi-head self-attention and MLPs.
    Uvit,
    /// The convolutional AnoDDPM / guided-diffusion UNet baseline.
    Unet,
}

impl Architecture {
    /// The name used on the command line and in configs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Dtunet => "dtunet",
            Self::Uvit => "uvit",
            Self::Unet => "unet",
        }
    }
}

impl FromStr for Architecture {
    type Err = DtunetError;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "dtunet" => Ok(Self::Dtunet),
            "uvit" => Ok(Self::Uvit),
            "unet" => Ok(Self::Unet),
            other => Err(invalid("arch", other, "one of dtunet, uvit, unet")),
        }
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The feed-forward layer of one stage (in, mid or out blocks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedForwardKind {
    /// Linear D→rD, GELU, Linear rD→D.
    Mlp,
    /// Depthwise-convolution feed-forward over the token grid, gating the extra tokens.
    Daff,
    /// The reference's `DeconvDAFF` (config name `DDAFF`): DAFF built from transposed
    /// convolutions, fed the grid tokens' memory read as a `[B, D, h, w]` map.
    Ddaff,
}

impl FeedForwardKind {
    /// The name used on the command line and in configs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mlp => "mlp",
            Self::Daff => "daff",
            Self::Ddaff => "ddaff",
        }
    }
}

impl FromStr for FeedForwardKind {
    type Err = DtunetError;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "mlp" => Ok(Self::Mlp),
            "daff" => Ok(Self::Daff),
            "ddaff" => Ok(Self::Ddaff),
            other => Err(invalid("ff", other, "mlp, daff or ddaff")),
        }
    }
}

/// The feed-forward kind of each stage: `[in, mid, out]`.
///
/// Parsed from `mlp`, `daff` (all stages) or `in,mid,out` such as `daff,mlp,daff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageFeedForward(pub [FeedForwardKind; 3]);

impl StageFeedForward {
    /// The same kind in every stage.
    pub fn uniform(kind: FeedForwardKind) -> Self {
        Self([kind; 3])
    }

    /// Whether any stage uses DAFF or DDAFF (both need a square token grid).
    pub fn uses_daff(&self) -> bool {
        self.0
            .iter()
            .any(|kind| matches!(kind, FeedForwardKind::Daff | FeedForwardKind::Ddaff))
    }
}

impl FromStr for StageFeedForward {
    type Err = DtunetError;

    fn from_str(text: &str) -> Result<Self> {
        let parts: Vec<&str> = text.split(',').map(str::trim).collect();
        match parts.as_slice() {
            [one] => Ok(Self::uniform(one.parse()?)),
            [a, b, c] => Ok(Self([a.parse()?, b.parse()?, c.parse()?])),
            _ => Err(invalid(
                "ff",
                text,
                "mlp, daff, ddaff, or three comma-separated kinds for the in,mid,out stages",
            )),
        }
    }
}

impl fmt::Display for StageFeedForward {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c] = self.0;
        if a == b && b == c {
            f.write_str(a.name())
        } else {
            write!(f, "{},{},{}", a.name(), b.name(), c.name())
        }
    }
}

/// How image patches become tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PatchEmbedKind {
    /// One convolution with kernel and stride `p` (the reference's `PatchEmbed`, `PE`).
    Pe,
    /// The reference's convolutional embedding (`ConvPatchEmbed`, `PE_type="SPE"`): an affine
    /// map per input channel, stride-2 3×3 convolutions with BatchNorm and GELU between them
    /// (patch 16: four, patch 4: two, patch 2: one followed by GELU), an affine map per token
    /// channel.
    Spe,
}

impl PatchEmbedKind {
    /// The name used on the command line and in configs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pe => "pe",
            Self::Spe => "spe",
        }
    }
}

impl FromStr for PatchEmbedKind {
    type Err = DtunetError;

    fn from_str(text: &str) -> Result<Self> {
        match text.to_ascii_lowercase().as_str() {
            "pe" => Ok(Self::Pe),
            "spe" => Ok(Self::Spe),
            _ => Err(invalid("patch_embed", text, "pe or spe")),
        }
    }
}

impl fmt::Display for PatchEmbedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// LayerNorm epsilon of the blocks and the final norm as the authors trained them: their
/// scripts pass `norm_layer=nn.LayerNorm` (eps 1e-5).
pub const REFERENCE_NORM_EPS: f64 = 1e-5;

/// The epsilon of models saved before `norm_eps` was part of the configuration (the class
/// default, `partial(nn.LayerNorm, eps=1e-6)`): a stored configuration without the key was
/// built and trained with it.
fn legacy_norm_eps() -> f64 {
    1e-6
}

/// Everything that fixes a network's shape. Defaults are the paper's Table 6 DTU-Net.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// Backbone.
    pub arch: Architecture,
    /// Trained image side in pixels (images are `img_size × img_size`).
    pub img_size: usize,
    /// Image channels (1 or 3).
    pub channels: usize,
    /// Patch side in pixels (transformers).
    pub patch_size: usize,
    /// Token width D (transformers).
    pub embed_dim: usize,
    /// Number of transformer blocks: depth/2 in, 1 mid, depth/2 out.
    pub depth: usize,
    /// Attention heads (D must be divisible by it).
    pub heads: usize,
    /// Feed-forward hidden width as a multiple of D.
    pub mlp_ratio: f64,
    /// Feed-forward kind per stage (DTU-Net only; U-ViT always uses MLPs).
    pub ff: StageFeedForward,
    /// Patch embedding (DTU-Net only; `spe` needs patch 2, 4 or 16).
    pub patch_embed: PatchEmbedKind,
    /// LayerNorm epsilon of the blocks and the final norm (the head-token norm of HI
    /// attention is always 1e-5). Stored configurations without it load with 1e-6.
    #[serde(default = "legacy_norm_eps")]
    pub norm_eps: f64,
    /// Number of classes for the label token (0: unconditional).
    pub num_classes: usize,
    /// Replace the final 3×3 convolution by the conv-BN-GELU-conv refinement head.
    pub refine_head: bool,
    /// UNet base channels.
    pub unet_channels: usize,
    /// UNet residual blocks per resolution.
    pub unet_res_blocks: usize,
    /// UNet feature-map sides (in pixels) that get self-attention.
    pub unet_attention_resolutions: Vec<usize>,
    /// UNet attention heads.
    pub unet_heads: usize,
    /// UNet channel multiplier per level; empty: guided-diffusion's choice for `img_size`.
    pub unet_channel_mult: Vec<usize>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            arch: Architecture::Dtunet,
            img_size: 224,
            channels: 1,
            patch_size: 16,
            embed_dim: 384,
            depth: 6,
            heads: 6,
            mlp_ratio: 4.0,
            ff: StageFeedForward::uniform(FeedForwardKind::Mlp),
            patch_embed: PatchEmbedKind::Pe,
            norm_eps: REFERENCE_NORM_EPS,
            num_classes: 0,
            refine_head: false,
            unet_channels: 128,
            unet_res_blocks: 2,
            unet_attention_resolutions: vec![32, 16, 8],
            unet_heads: 4,
            unet_channel_mult: Vec::new(),
        }
    }
}

impl ModelConfig {
    /// Checks every constraint of the architecture, naming the offending value.
    pub fn validate(&self) -> Result<()> {
        if self.channels != 1 && self.channels != 3 {
            return Err(invalid("channels", self.channels, "1 or 3"));
        }
        if self.img_size == 0 {
            return Err(invalid(
                "img_size",
                self.img_size,
                "a positive number of pixels",
            ));
        }
        if self.num_classes == 1 {
            return Err(invalid(
                "num_classes",
                self.num_classes,
                "0 (unconditional) or at least 2",
            ));
        }
        match self.arch {
            Architecture::Dtunet | Architecture::Uvit => self.validate_transformer(),
            Architecture::Unet => self.validate_unet(),
        }
    }

    fn validate_transformer(&self) -> Result<()> {
        if self.patch_size == 0 || !self.img_size.is_multiple_of(self.patch_size) {
            return Err(invalid(
                "patch_size",
                self.patch_size,
                format!("a divisor of img_size {}", self.img_size),
            ));
        }
        if self.heads == 0 || !self.embed_dim.is_multiple_of(self.heads) {
            return Err(invalid(
                "heads",
                self.heads,
                format!("a divisor of embed_dim {}", self.embed_dim),
            ));
        }
        if self.embed_dim < 4 || !self.embed_dim.is_multiple_of(2) {
            return Err(invalid("embed_dim", self.embed_dim, "an even number ≥ 4"));
        }
        if self.depth == 0 || !self.depth.is_multiple_of(2) {
            return Err(invalid(
                "depth",
                self.depth,
                "a positive even number (depth/2 in blocks, 1 mid, depth/2 out)",
            ));
        }
        if !(self.mlp_ratio > 0.0 && self.mlp_ratio.is_finite()) {
            return Err(invalid("mlp_ratio", self.mlp_ratio, "a positive number"));
        }
        if !(self.norm_eps > 0.0 && self.norm_eps < 1.0) {
            return Err(invalid("norm_eps", self.norm_eps, "a number in (0, 1)"));
        }
        if self.patch_embed == PatchEmbedKind::Spe {
            if self.arch != Architecture::Dtunet {
                return Err(invalid(
                    "patch_embed",
                    "spe",
                    "pe for U-ViT (the convolutional embedding is DTU-Net's)",
                ));
            }
            if ![2, 4, 16].contains(&self.patch_size) {
                return Err(invalid(
                    "patch_size",
                    self.patch_size,
                    "2, 4 or 16 with the convolutional patch embedding (spe)",
                ));
            }
            let divisor = self.patch_size / 2;
            if !self.embed_dim.is_multiple_of(divisor) {
                return Err(invalid(
                    "embed_dim",
                    self.embed_dim,
                    format!(
                        "a multiple of {divisor}: the convolutional patch embedding widens \
                         the channels to D/{divisor} first"
                    ),
                ));
            }
        }
        if self.hidden_dim() == 0 {
            return Err(invalid(
                "mlp_ratio",
                self.mlp_ratio,
                "large enough for a hidden width ≥ 1",
            ));
        }
        Ok(())
    }

    fn validate_unet(&self) -> Result<()> {
        if self.unet_channel_mult.contains(&0) {
            return Err(invalid(
                "unet_channel_mult",
                format!("{:?}", self.unet_channel_mult),
                "positive multipliers, one per level",
            ));
        }
        let levels = self.unet_channel_multipliers().len();
        let factor = 1usize << (levels - 1);
        if !self.img_size.is_multiple_of(factor) {
            return Err(invalid(
                "img_size",
                self.img_size,
                format!("a multiple of {factor} for a {levels}-level UNet"),
            ));
        }
        if self.unet_channels == 0 || !self.unet_channels.is_multiple_of(32) {
            return Err(invalid(
                "unet_channels",
                self.unet_channels,
                "a positive multiple of 32 (GroupNorm(32))",
            ));
        }
        if self.unet_heads == 0 || !self.unet_channels.is_multiple_of(self.unet_heads) {
            return Err(invalid(
                "unet_heads",
                self.unet_heads,
                format!("a divisor of unet_channels {}", self.unet_channels),
            ));
        }
        if let Some(&bad) = self
            .unet_attention_resolutions
            .iter()
            .find(|&&res| res == 0 || res > self.img_size)
        {
            return Err(invalid(
                "unet_attention_resolutions",
                bad,
                format!("feature-map sides in 1..={}", self.img_size),
            ));
        }
        Ok(())
    }

    /// Feed-forward hidden width `⌊D · mlp_ratio⌋`.
    pub fn hidden_dim(&self) -> usize {
        (self.embed_dim as f64 * self.mlp_ratio) as usize
    }

    /// Tokens prepended to the patch tokens: the time token, plus the label token.
    pub fn extra_tokens(&self) -> usize {
        if self.num_classes > 0 { 2 } else { 1 }
    }

    /// Patch-grid side at the trained size.
    pub fn grid_side(&self) -> usize {
        self.img_size / self.patch_size
    }

    /// The feed-forward kind of each stage, U-ViT forcing MLPs.
    pub fn stage_feed_forward(&self) -> [FeedForwardKind; 3] {
        match self.arch {
            Architecture::Uvit => [FeedForwardKind::Mlp; 3],
            _ => self.ff.0,
        }
    }

    /// The UNet channel multipliers: `unet_channel_mult` when set, else guided-diffusion's
    /// for the image size.
    pub fn unet_channel_multipliers(&self) -> Vec<usize> {
        if !self.unet_channel_mult.is_empty() {
            return self.unet_channel_mult.clone();
        }
        match self.img_size {
            s if s >= 512 => vec![1, 1, 2, 2, 4, 4],
            s if s >= 256 => vec![1, 1, 2, 2, 4, 4],
            s if s >= 128 => vec![1, 1, 2, 3, 4],
            s if s >= 64 => vec![1, 2, 3, 4],
            s if s >= 32 => vec![1, 2, 2, 2],
            _ => vec![1, 2],
        }
    }

    /// Checks that an input of `height × width` pixels and `channels` channels can go
    /// through this network.
    pub fn check_input(&self, channels: usize, height: usize, width: usize) -> Result<()> {
        if channels != self.channels {
            return Err(invalid(
                "channels",
                channels,
                format!("{} (the model's channels)", self.channels),
            ));
        }
        match self.arch {
            Architecture::Unet => {
                let factor = 1usize << (self.unet_channel_multipliers().len() - 1);
                if !height.is_multiple_of(factor) || !width.is_multiple_of(factor) {
                    return Err(invalid(
                        "image size",
                        format!("{height}x{width}"),
                        format!("sides divisible by {factor} for this UNet"),
                    ));
                }
            }
            _ => {
                let p = self.patch_size;
                if !height.is_multiple_of(p)
                    || !width.is_multiple_of(p)
                    || height == 0
                    || width == 0
                {
                    return Err(invalid(
                        "image size",
                        format!("{height}x{width}"),
                        format!("sides divisible by the patch size {p}"),
                    ));
                }
                if StageFeedForward(self.stage_feed_forward()).uses_daff() && height != width {
                    return Err(invalid(
                        "image size",
                        format!("{height}x{width}"),
                        "a square image: DAFF reshapes the tokens to a square grid \
                         (use --ff mlp for non-square images)",
                    ));
                }
            }
        }
        Ok(())
    }
}

fn invalid(
    name: &'static str,
    found: impl fmt::Display,
    expected: impl Into<String>,
) -> DtunetError {
    DtunetError::InvalidParameter {
        name,
        found: found.to_string(),
        expected: expected.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> ModelConfig {
        ModelConfig {
            img_size: 16,
            patch_size: 4,
            embed_dim: 32,
            depth: 2,
            heads: 4,
            ..ModelConfig::default()
        }
    }

    #[test]
    fn table6_defaults_validate() {
        ModelConfig::default()
            .validate()
            .expect("paper defaults are valid");
        assert_eq!(ModelConfig::default().grid_side(), 14);
    }

    #[test]
    fn errors_name_the_value_and_the_constraint() {
        let bad_heads = ModelConfig { heads: 5, ..tiny() };
        let text = bad_heads
            .validate()
            .expect_err("5 does not divide 32")
            .to_string();
        assert_eq!(
            text,
            "heads = 5 is invalid: expected a divisor of embed_dim 32"
        );
        let bad_patch = ModelConfig {
            patch_size: 5,
            ..tiny()
        };
        let text = bad_patch
            .validate()
            .expect_err("5 does not divide 16")
            .to_string();
        assert!(
            text.contains("patch_size = 5") && text.contains("img_size 16"),
            "{text}"
        );
        let odd_depth = ModelConfig { depth: 3, ..tiny() };
        assert!(odd_depth.validate().is_err());
    }

    #[test]
    fn daff_refuses_non_square_inputs_and_mlp_accepts_them() {
        let daff = ModelConfig {
            ff: "daff".parse().expect("valid"),
            ..tiny()
        };
        let text = daff
            .check_input(1, 16, 24)
            .expect_err("non-square")
            .to_string();
        assert!(text.contains("DAFF") && text.contains("16x24"), "{text}");
        tiny().check_input(1, 16, 24).expect("mlp handles any grid");
        assert!(tiny().check_input(1, 16, 18).is_err());
        assert!(tiny().check_input(3, 16, 16).is_err());
    }

    #[test]
    fn stage_feed_forward_parses_one_or_three_kinds() {
        let mixed: StageFeedForward = "daff,mlp,daff".parse().expect("valid");
        assert_eq!(mixed.to_string(), "daff,mlp,daff");
        assert!(mixed.uses_daff());
        assert_eq!(
            "mlp"
                .parse::<StageFeedForward>()
                .expect("valid")
                .to_string(),
            "mlp"
        );
        assert!("mlp,daff".parse::<StageFeedForward>().is_err());
        assert!("conv".parse::<StageFeedForward>().is_err());
    }

    #[test]
    fn toml_like_round_trip_through_serde() {
        let config = ModelConfig {
            ff: "daff,mlp,daff".parse().expect("valid"),
            num_classes: 2,
            ..tiny()
        };
        let json = serde_json::to_string(&config).expect("serialise");
        let back: ModelConfig = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, config);
    }
}

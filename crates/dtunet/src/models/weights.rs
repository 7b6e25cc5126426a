//! Weights interchange: our model files are safetensors holding the paper's PyTorch
//! state_dict (same keys, PyTorch layouts) plus the model configuration as metadata, so they
//! load in the reference code and its checkpoints load here (`.safetensors` or `.pt`).

use std::io::Write;
use std::path::Path;

use burn::module::Module;
use burn::store::{
    ApplyResult, BurnToPyTorchAdapter, ChainAdapter, FloatCastAdapter, ModuleAdapter,
    ModuleSnapshot, PyTorchToBurnAdapter, PytorchStore, SafetensorsStore,
};
use burn::tensor::{DType, Device};

use super::{Architecture, Denoiser, ModelConfig, unet};
use crate::error::{DtunetError, Result};
use crate::io::write_atomically;

/// Metadata key of the JSON model configuration in our safetensors files.
pub const CONFIG_METADATA_KEY: &str = "dtunet.model_config";

/// Where a renamed key part may occur.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPart {
    /// At the start of the key.
    Prefix,
    /// Anywhere inside the key, dots on both sides.
    Inner,
}

/// One renamed key part: `(where, PyTorch text, our text)`. PyTorch names `nn.Sequential`
/// members by index; our modules name them.
pub type KeyRename = (KeyPart, &'static str, &'static str);

/// The renames of the transformer backbones (DTU-Net, U-ViT). The convolutional patch
/// embedding's `nn.Sequential` holds GELUs at the odd indices, so its conv-BN stages sit at
/// 0, 2, 4, 6, each itself a `Sequential(conv, norm)`.
const TRANSFORMER_KEY_RENAMES: [KeyRename; 13] = [
    (KeyPart::Prefix, "time_embed.0.", "time_embed.fc1."),
    (KeyPart::Prefix, "time_embed.2.", "time_embed.fc2."),
    (KeyPart::Prefix, "final_layer.0.", "final_layer.conv1."),
    (KeyPart::Prefix, "final_layer.1.", "final_layer.norm."),
    (KeyPart::Prefix, "final_layer.3.", "final_layer.conv2."),
    (
        KeyPart::Prefix,
        "patch_embed.proj.0.0.",
        "patch_embed.proj.0.conv.",
    ),
    (
        KeyPart::Prefix,
        "patch_embed.proj.0.1.",
        "patch_embed.proj.0.norm.",
    ),
    (
        KeyPart::Prefix,
        "patch_embed.proj.2.0.",
        "patch_embed.proj.1.conv.",
    ),
    (
        KeyPart::Prefix,
        "patch_embed.proj.2.1.",
        "patch_embed.proj.1.norm.",
    ),
    (
        KeyPart::Prefix,
        "patch_embed.proj.4.0.",
        "patch_embed.proj.2.conv.",
    ),
    (
        KeyPart::Prefix,
        "patch_embed.proj.4.1.",
        "patch_embed.proj.2.norm.",
    ),
    (
        KeyPart::Prefix,
        "patch_embed.proj.6.0.",
        "patch_embed.proj.3.conv.",
    ),
    (
        KeyPart::Prefix,
        "patch_embed.proj.6.1.",
        "patch_embed.proj.3.norm.",
    ),
];

fn key_renames(arch: Architecture) -> &'static [KeyRename] {
    match arch {
        Architecture::Dtunet | Architecture::Uvit => &TRANSFORMER_KEY_RENAMES,
        Architecture::Unet => &unet::KEY_RENAMES,
    }
}

fn key_pattern(part: KeyPart, text: &str) -> String {
    let escaped = text.replace('.', r"\.");
    match part {
        KeyPart::Prefix => format!("^{escaped}"),
        KeyPart::Inner => escaped,
    }
}

/// `(regex, replacement)` pairs turning PyTorch keys into our module paths.
fn pytorch_to_ours(arch: Architecture) -> impl Iterator<Item = (String, String)> {
    key_renames(arch)
        .iter()
        .map(|&(part, pytorch, ours)| (key_pattern(part, pytorch), ours.to_string()))
}

/// `(regex, replacement)` pairs turning our module paths into PyTorch keys.
fn ours_to_pytorch(arch: Architecture) -> impl Iterator<Item = (String, String)> {
    key_renames(arch)
        .iter()
        .map(|&(part, pytorch, ours)| (key_pattern(part, ours), pytorch.to_string()))
}

/// PyTorch → Burn layouts and names, then any float16/bfloat16 tensor widened to float32.
fn from_pytorch_adapter() -> ChainAdapter {
    PyTorchToBurnAdapter.chain(FloatCastAdapter::to(DType::F32))
}

/// Parameters the reference class owns but never uses in its forward pass: the ViT class
/// token and the DeiT distillation token (`UDHVT.cls_token`, `UDHVT.dist_token`).
const UNUSED_REFERENCE_PARAMETERS: [&str; 2] = ["cls_token", "dist_token"];

/// File tensors that carry no information for inference or training here: BatchNorm
/// `num_batches_tracked` counters and the reference's unused parameters.
fn is_ignored(key: &str) -> bool {
    key.ends_with("num_batches_tracked") || UNUSED_REFERENCE_PARAMETERS.contains(&key)
}

/// The outcome of loading a state_dict into a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Parameters set from the file.
    pub applied: usize,
    /// File tensors skipped on purpose (BatchNorm `num_batches_tracked`, the reference's
    /// unused `cls_token` / `dist_token`).
    pub ignored: Vec<String>,
}

impl ImportReport {
    /// The ignored tensors that are parameters of the reference class (not BatchNorm
    /// counters), for the user to see.
    pub fn ignored_parameters(&self) -> Vec<&str> {
        self.ignored
            .iter()
            .map(String::as_str)
            .filter(|key| UNUSED_REFERENCE_PARAMETERS.contains(key))
            .collect()
    }
}

/// Writes `model` with its `config` to `path` (safetensors, PyTorch keys and layouts),
/// atomically: a crash leaves either the old file or the new one.
pub fn save_model(model: &Denoiser, config: &ModelConfig, path: &Path) -> Result<()> {
    let bytes = model_bytes(model, config).map_err(|problem| DtunetError::Weights {
        path: path.to_path_buf(),
        problem,
    })?;
    write_atomically(path, |file| file.write_all(&bytes))
}

/// The safetensors bytes [`save_model`] writes.
pub fn model_bytes(model: &Denoiser, config: &ModelConfig) -> std::result::Result<Vec<u8>, String> {
    let config_json = serde_json::to_string(config).map_err(|e| e.to_string())?;
    module_bytes(model, config.arch, CONFIG_METADATA_KEY, config_json)
}

/// Safetensors bytes of any of our modules under the PyTorch keys of `arch`, with `json` in
/// the metadata under `metadata_key`.
pub(crate) fn module_bytes<M: Module>(
    module: &M,
    arch: Architecture,
    metadata_key: &str,
    json: String,
) -> std::result::Result<Vec<u8>, String> {
    let mut store = SafetensorsStore::from_bytes(None)
        .with_to_adapter(BurnToPyTorchAdapter)
        .skip_enum_variants(true)
        .metadata(metadata_key, json);
    for (from, to) in ours_to_pytorch(arch) {
        store = store.with_key_remapping(from, to);
    }
    module.save_into(&mut store).map_err(|e| e.to_string())?;
    store.get_bytes().map_err(|e| e.to_string())
}

/// Reads a model written by [`save_model`]: the configuration from the file's metadata, then
/// the weights, on `device`.
pub fn load_model(path: &Path, device: &Device) -> Result<(Denoiser, ModelConfig)> {
    let config = read_config(path)?;
    let (model, _) = import_weights(&config, path, None, device)?;
    Ok((model, config))
}

/// The model configuration stored in one of our safetensors files.
pub fn read_config(path: &Path) -> Result<ModelConfig> {
    let json = read_metadata(path, CONFIG_METADATA_KEY, "dtunet model")?;
    let config: ModelConfig = serde_json::from_str(&json).map_err(|e| DtunetError::Weights {
        path: path.to_path_buf(),
        problem: format!("unreadable model configuration ({e})"),
    })?;
    config.validate()?;
    Ok(config)
}

/// The JSON our safetensors file at `path` stores under `metadata_key`; `kind` names the file
/// for messages.
pub(crate) fn read_metadata(path: &Path, metadata_key: &str, kind: &str) -> Result<String> {
    let weights_error = |problem: String| DtunetError::Weights {
        path: path.to_path_buf(),
        problem,
    };
    let bytes = std::fs::read(path).map_err(|source| DtunetError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })?;
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| weights_error(format!("not a safetensors file ({e})")))?;
    header
        .metadata()
        .as_ref()
        .and_then(|map| map.get(metadata_key))
        .cloned()
        .ok_or_else(|| {
            weights_error(format!(
                "no `{metadata_key}` metadata: not a {kind} file (use `dtunet import-weights` \
                 with the model flags for a PyTorch state_dict)"
            ))
        })
}

/// Builds the network of `config` and fills it from a PyTorch state_dict at `path`
/// (`.safetensors`, or `.pt`/`.pth` pickles, optionally nested under `top_level_key`, e.g.
/// `state_dict`). Every parameter must be present with its shape and every tensor of the file
/// used, except BatchNorm `num_batches_tracked` and the reference's unused `cls_token` /
/// `dist_token`; otherwise the error lists the missing,
/// unexpected and mis-shaped keys by name.
pub fn import_weights(
    config: &ModelConfig,
    path: &Path,
    top_level_key: Option<&str>,
    device: &Device,
) -> Result<(Denoiser, ImportReport)> {
    let mut model = Denoiser::new(config, device)?;
    let result = fill_from_state_dict(&mut model, config.arch, path, top_level_key)?;
    let report = check_complete(result, describe(config), path)?;
    Ok((model, report))
}

/// Sets the parameters of `module` from the PyTorch state_dict at `path` (keys of `arch`).
pub(crate) fn fill_from_state_dict<M: Module>(
    module: &mut M,
    arch: Architecture,
    path: &Path,
    top_level_key: Option<&str>,
) -> Result<ApplyResult> {
    if !path.is_file() {
        return Err(DtunetError::Weights {
            path: path.to_path_buf(),
            problem: "no such file".into(),
        });
    }
    let is_pickle = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("pt" | "pth" | "bin" | "ckpt")
    );
    let result = if is_pickle {
        let mut store = PytorchStore::from_file(path)
            .allow_partial(true)
            .validate(false)
            .skip_enum_variants(true);
        if let Some(key) = top_level_key {
            store = store.with_top_level_key(key);
        }
        for (from, to) in pytorch_to_ours(arch) {
            store = store.with_key_remapping(from, to);
        }
        module.load_from(&mut store).map_err(|e| e.to_string())
    } else {
        let mut store = SafetensorsStore::from_file(path)
            .with_from_adapter(from_pytorch_adapter())
            .allow_partial(true)
            .validate(false)
            .skip_enum_variants(true);
        for (from, to) in pytorch_to_ours(arch) {
            store = store.with_key_remapping(from, to);
        }
        module.load_from(&mut store).map_err(|e| e.to_string())
    };
    result.map_err(|problem| DtunetError::Weights {
        path: path.to_path_buf(),
        problem,
    })
}

/// The shape-defining settings of `config`, for messages.
pub fn describe(config: &ModelConfig) -> String {
    match config.arch {
        Architecture::Unet => format!(
            "unet (img {}, channels {}, base {}, mult {:?}, res blocks {}, attention at {:?}, heads {}, classes {})",
            config.img_size,
            config.channels,
            config.unet_channels,
            config.unet_channel_multipliers(),
            config.unet_res_blocks,
            config.unet_attention_resolutions,
            config.unet_heads,
            config.num_classes
        ),
        arch => format!(
            "{arch} (img {}, channels {}, patch {} {}, D {}, depth {}, heads {}, ff {}, classes {}, \
             norm eps {:e}, refinement {})",
            config.img_size,
            config.channels,
            config.patch_size,
            config.patch_embed,
            config.embed_dim,
            config.depth,
            config.heads,
            config.ff,
            config.num_classes,
            config.norm_eps,
            config.refine_head
        ),
    }
}

/// The report of a load that used every file tensor and set every parameter; otherwise the
/// mismatch error naming the keys, with `arch` describing the network.
pub(crate) fn check_complete(
    result: ApplyResult,
    arch: String,
    path: &Path,
) -> Result<ImportReport> {
    let (ignored, unexpected): (Vec<String>, Vec<String>) =
        result.unused.into_iter().partition(|key| is_ignored(key));
    let missing: Vec<String> = result.missing.into_iter().map(|(key, _)| key).collect();
    let mismatched: Vec<String> = result.errors.iter().map(ToString::to_string).collect();
    if missing.is_empty() && unexpected.is_empty() && mismatched.is_empty() {
        return Ok(ImportReport {
            applied: result.applied.len(),
            ignored,
        });
    }
    Err(DtunetError::WeightsMismatch {
        path: path.to_path_buf(),
        arch,
        missing,
        unexpected,
        mismatched,
    })
}

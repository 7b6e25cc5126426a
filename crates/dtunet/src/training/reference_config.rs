//! The authors' JSON run configurations (`test_args/*.json` in their repository) as a
//! [`TrainConfig`]: what their `scripts/diffusion_training.py` builds from each key, every key
//! that cannot be carried named with the reason.

use std::path::Path;

use serde_json::{Map, Value};

use super::config::TrainConfig;
use crate::error::{DtunetError, Result};
use crate::losses::LossKind;
use crate::models::{
    Architecture, FeedForwardKind, PatchEmbedKind, REFERENCE_NORM_EPS, StageFeedForward,
};

/// Their training script builds `UDHVT` and `UViT` with 12 blocks, whatever `depth` says.
const REFERENCE_DEPTH: usize = 12;

/// Keys that only steer their scripts' bookkeeping, with why they have no counterpart here.
const BOOKKEEPING_KEYS: [(&str, &str); 9] = [
    (
        "dataset",
        "the data is given to dtunet train with --data and --layout",
    ),
    (
        "dir",
        "the data is given to dtunet train with --data and --layout",
    ),
    (
        "random_slice",
        "slice sampling of their loader; dtunet's BraTS loader keeps every slice",
    ),
    (
        "save_imgs",
        "dtunet train writes samples every sample_every steps",
    ),
    ("save_vids", "dtunet writes no videos"),
    (
        "val_anno",
        "validation during training is not part of dtunet train",
    ),
    ("arg_num", "the name of their output folder"),
    ("train_save", "the name of their output folder"),
    (
        "dis",
        "their discriminator loss switch, not part of the method in the paper",
    ),
];

/// Keys their script reads for the transformer backbones only.
const TRANSFORMER_KEYS: [&str; 9] = [
    "patch_size",
    "embed_dim",
    "depth",
    "mlp_ratio",
    "refinement",
    "mlps",
    "patch_emb",
    "cls_cond",
    "sigma",
];

/// One key of the JSON file that did not become a setting as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyNote {
    /// The JSON key.
    pub key: String,
    /// Its value as written in the file.
    pub value: String,
    /// Why it is not carried, or what was done instead.
    pub reason: String,
}

/// The translation of one configuration file.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedConfig {
    /// The dtunet configuration their script would train.
    pub config: TrainConfig,
    /// Keys not carried (or carried with a change), in key order.
    pub notes: Vec<KeyNote>,
}

/// Translates the JSON text of one of the authors' run configurations (`source` names the
/// file in messages). The result is validated.
///
/// # Errors
/// [`DtunetError::Config`] naming the key and value when their script would build something
/// dtunet has no counterpart for (`DiT`, `CUViT`, `DHUNet`, 4 channels, a VIC loss, …) or
/// could not build it at all (a UDHVT without `mlps` or `cls_cond`, no `model_name`).
pub fn import_reference_config(text: &str, source: &Path) -> Result<ImportedConfig> {
    let refuse = |problem: String| DtunetError::Config {
        path: source.to_path_buf(),
        problem,
    };
    let json: Value = serde_json::from_str(text).map_err(|e| refuse(format!("not JSON ({e})")))?;
    let args = json
        .as_object()
        .ok_or_else(|| refuse("expected a JSON object of run arguments".into()))?;
    let mut reader = Reader {
        args,
        notes: Vec::new(),
        used: Vec::new(),
    };
    let config = reader.translate().map_err(refuse)?;
    for (key, value) in args {
        if reader.used.contains(&key.as_str()) {
            continue;
        }
        let reason = BOOKKEEPING_KEYS
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, reason)| *reason)
            .or_else(|| {
                TRANSFORMER_KEYS
                    .contains(&key.as_str())
                    .then_some("a transformer setting: their UNetModel does not use it")
            })
            .unwrap_or("not a setting dtunet knows");
        reader.note(key, value, reason);
    }
    let mut notes = reader.notes;
    notes.sort_by(|a, b| a.key.cmp(&b.key));
    config.validate().map_err(|e| DtunetError::Config {
        path: source.to_path_buf(),
        problem: e.to_string(),
    })?;
    Ok(ImportedConfig { config, notes })
}

/// Reads keys of the JSON object, remembering which were read and what was not carried.
struct Reader<'a> {
    args: &'a Map<String, Value>,
    notes: Vec<KeyNote>,
    used: Vec<&'a str>,
}

type Translation<T> = std::result::Result<T, String>;

impl<'a> Reader<'a> {
    fn get(&mut self, key: &'a str) -> Option<&'a Value> {
        let value = self.args.get(key)?;
        self.used.push(key);
        Some(value)
    }

    fn note(&mut self, key: &str, value: &Value, reason: impl Into<String>) {
        self.notes.push(KeyNote {
            key: key.into(),
            value: value.to_string(),
            reason: reason.into(),
        });
    }

    fn number(&mut self, key: &'a str) -> Translation<Option<f64>> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(number)) => Ok(number.as_f64()),
            Some(Value::String(text)) if text.is_empty() => Ok(None),
            Some(other) => Err(format!("{key} = {other}: expected a number")),
        }
    }

    fn count(&mut self, key: &'a str) -> Translation<Option<usize>> {
        match self.number(key)? {
            Some(value) if value >= 0.0 && value.fract() == 0.0 => Ok(Some(value as usize)),
            Some(value) => Err(format!("{key} = {value}: expected a whole number")),
            None => Ok(None),
        }
    }

    fn required_count(&mut self, key: &'a str, what: &str) -> Translation<usize> {
        self.count(key)?
            .ok_or_else(|| format!("{key} is missing: their script needs it for {what}"))
    }

    fn text(&mut self, key: &'a str) -> Option<&'a str> {
        self.get(key).and_then(Value::as_str)
    }

    fn translate(&mut self) -> Translation<TrainConfig> {
        let mut config = TrainConfig::default();
        self.training(&mut config)?;
        self.model(&mut config)?;
        self.noise(&mut config)?;
        Ok(config)
    }

    fn training(&mut self, config: &mut TrainConfig) -> Translation<()> {
        if let Some(batch) = self.count("Batch_Size")? {
            config.batch_size = batch;
        }
        if let Some(steps) = self.count("T")? {
            config.diffusion.steps = steps;
        }
        if let Some(schedule) = self.text("beta_schedule") {
            config.diffusion.schedule = schedule.to_string();
        }
        if let Some(lr) = self.number("lr")? {
            config.lr = lr;
        }
        if let Some(decay) = self.number("weight_decay")? {
            config.weight_decay = decay;
        }
        if let Some(loss) = self.text("loss-type") {
            config.loss = match loss {
                "l2+" => LossKind::L2Tv,
                other => other.parse::<LossKind>().map_err(|_| {
                    format!("loss-type = {other:?}: dtunet has no such loss (l1, l2, l2+, hybrid, ssim, ms_ssim, hybrid_ms_ssim)")
                })?,
            };
        }
        if let Some(weight) = self.get("loss_weight")
            && weight.as_str() != Some("none")
        {
            self.note(
                "loss_weight",
                weight,
                "timestep-weighted losses are not implemented: every timestep weighs 1",
            );
        }
        let distance = self.count("sample_distance")?;
        let train_start = self.get("train_start").map(|v| v.as_bool() == Some(true));
        match (train_start, distance) {
            (Some(false), _) => config.sample_distance = 0,
            (_, Some(distance)) => config.sample_distance = distance,
            _ => {}
        }
        if let Some(epochs) = self.get("EPOCHS") {
            self.note(
                "EPOCHS",
                epochs,
                format!(
                    "dtunet counts optimiser steps: give `dtunet train --epochs {epochs}` \
                     (steps = epochs × images / batch)"
                ),
            );
        }
        Ok(())
    }

    fn model(&mut self, config: &mut TrainConfig) -> Translation<()> {
        let model = &mut config.model;
        model.norm_eps = REFERENCE_NORM_EPS;
        match self.get("img_size") {
            Some(Value::Array(sides)) => {
                let sides: Vec<u64> = sides.iter().filter_map(Value::as_u64).collect();
                match sides.as_slice() {
                    [height, width] if height == width => model.img_size = *height as usize,
                    _ => return Err(format!("img_size = {sides:?}: expected a square [S, S]")),
                }
            }
            Some(Value::Number(side)) => {
                model.img_size = side.as_u64().ok_or("img_size: expected pixels")? as usize;
            }
            _ => return Err("img_size is missing".into()),
        }
        model.channels = match self.count("channels")? {
            Some(channels @ (1 | 3)) => channels,
            Some(other) => return Err(format!("channels = {other}: dtunet models take 1 or 3")),
            None => 1,
        };
        let name = self.text("model_name").unwrap_or_default().to_string();
        match name.as_str() {
            "UDHVT" => self.udhvt(config),
            "UViT" => self.uvit(config),
            "UNetModel" => self.unet(config),
            "DiT" | "CUViT" | "DHUNet" => Err(format!(
                "model_name = {name:?}: dtunet has no {name}; it builds UDHVT (DTU-Net), UViT \
                 and UNetModel"
            )),
            "" => {
                self.notes.push(KeyNote {
                    key: "model_name".into(),
                    value: "(missing)".into(),
                    reason: "an AnoDDPM-era configuration: AnoDDPM's training script builds \
                             its UNetModel, so it is imported as the UNet"
                        .into(),
                });
                self.unet(config)
            }
            other => Err(format!(
                "model_name = {other:?}: expected UDHVT, UViT or UNetModel"
            )),
        }
    }

    fn udhvt(&mut self, config: &mut TrainConfig) -> Translation<()> {
        let model = &mut config.model;
        model.arch = Architecture::Dtunet;
        model.patch_size = self.required_count("patch_size", "the patch embedding")?;
        model.embed_dim = self.required_count("embed_dim", "the token width")?;
        model.heads = self.required_count("num_heads", "the attention heads")?;
        if let Some(ratio) = self.number("mlp_ratio")? {
            model.mlp_ratio = ratio;
        }
        self.fixed_depth(config)?;
        let model = &mut config.model;
        model.refine_head = self
            .get("refinement")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        model.ff = match self.get("mlps") {
            Some(Value::Array(stages)) => {
                let kinds: Vec<String> = stages
                    .iter()
                    .map(|stage| stage.as_str().unwrap_or_default().to_ascii_lowercase())
                    .collect();
                kinds
                    .join(",")
                    .parse::<StageFeedForward>()
                    .map_err(|_| format!("mlps = {kinds:?}: expected three of MLP, DAFF, DDAFF"))?
            }
            _ => {
                return Err(
                    "mlps is missing: their script reads mlps[0..3] for the stages of UDHVT and \
                     stops without it (add e.g. \"mlps\": [\"DAFF\", \"DAFF\", \"DAFF\"], the \
                     default of their DHVT_Block)"
                        .into(),
                );
            }
        };
        model.patch_embed = match self.text("patch_emb") {
            Some("SPE") => PatchEmbedKind::Spe,
            _ => PatchEmbedKind::Pe,
        };
        self.classes(config)
    }

    fn uvit(&mut self, config: &mut TrainConfig) -> Translation<()> {
        let model = &mut config.model;
        model.arch = Architecture::Uvit;
        model.patch_size = 16;
        model.mlp_ratio = 4.0;
        model.ff = StageFeedForward::uniform(FeedForwardKind::Mlp);
        model.embed_dim = self.required_count("embed_dim", "the token width")?;
        model.heads = self.required_count("num_heads", "the attention heads")?;
        if let Some(patch) = self.get("patch_size") {
            self.note(
                "patch_size",
                patch,
                "their script builds UViT with patch 16 whatever it says",
            );
        }
        if let Some(ratio) = self.get("mlp_ratio") {
            self.note(
                "mlp_ratio",
                ratio,
                "their script builds UViT with mlp_ratio 4",
            );
        }
        self.fixed_depth(config)?;
        self.notes.push(KeyNote {
            key: "model_name".into(),
            value: "\"UViT\"".into(),
            reason: "their script builds UViT without the time-embedding MLP \
                     (mlp_time_embed=False); dtunet's U-ViT has it, so their UViT weights do \
                     not import (the configuration does)"
                .into(),
        });
        self.classes(config)
    }

    fn unet(&mut self, config: &mut TrainConfig) -> Translation<()> {
        let model = &mut config.model;
        model.arch = Architecture::Unet;
        if let Some(base) = self.count("base_channels")? {
            model.unet_channels = base;
        }
        if let Some(heads) = self.count("num_heads")? {
            model.unet_heads = heads;
        }
        if let Some(resolutions) = self.text("attention_resolutions") {
            model.unet_attention_resolutions = resolutions
                .split(',')
                .map(|side| side.trim().parse::<usize>())
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| format!("attention_resolutions = {resolutions:?}: expected sides"))?;
        }
        if let Some(mults) = self.get("channel_mults")
            && mults.as_str() != Some("")
        {
            self.note("channel_mults", mults, "dtunet's UNet takes its multipliers from the image size (set model.unet_channel_mult to override)");
        }
        if let Some(head_channels) = self.get("num_head_channels")
            && head_channels.as_i64() != Some(-1)
        {
            self.note(
                "num_head_channels",
                head_channels,
                "dtunet's UNet sets heads by count (num_heads), not by channels per head",
            );
        }
        if let Some(dropout) = self.get("dropout")
            && dropout.as_f64() != Some(0.0)
        {
            self.note("dropout", dropout, "dtunet trains without dropout");
        }
        self.notes.push(KeyNote {
            key: "model_name".into(),
            value: "\"UNetModel\"".into(),
            reason: "their UNetModel (src/models/UNet.py) and dtunet's guided-diffusion UNet \
                     differ in parameter names: the configuration imports, their weights do not"
                .into(),
        });
        Ok(())
    }

    /// Their script builds 12 blocks; a different `depth` in the file is named.
    fn fixed_depth(&mut self, config: &mut TrainConfig) -> Translation<()> {
        config.model.depth = REFERENCE_DEPTH;
        if let Some(depth) = self.get("depth")
            && depth.as_u64() != Some(REFERENCE_DEPTH as u64)
        {
            self.note(
                "depth",
                depth,
                "their scripts/diffusion_training.py builds 12 blocks whatever depth says: depth 12",
            );
        }
        Ok(())
    }

    /// `cls_cond`: null (unconditional) or the class count; their script passes it to the
    /// class as `num_classes` and stops when the key is missing.
    fn classes(&mut self, config: &mut TrainConfig) -> Translation<()> {
        config.model.num_classes = match self.get("cls_cond") {
            Some(Value::Null) => 0,
            Some(Value::Number(classes)) => classes.as_u64().unwrap_or_default() as usize,
            Some(other) => return Err(format!("cls_cond = {other}: expected null or 2")),
            None => {
                return Err(
                    "cls_cond is missing: their script passes it as num_classes and \
                            the class stops on the empty default (use null for unconditional)"
                        .into(),
                );
            }
        };
        for key in [
            "base_channels",
            "attention_resolutions",
            "num_head_channels",
            "channel_mults",
            "dropout",
        ] {
            if let Some(value) = self.get(key)
                && !matches!(value, Value::String(text) if text.is_empty())
                && value.as_f64() != Some(0.0)
                && value.as_i64() != Some(-1)
            {
                let value = value.clone();
                self.note(
                    key,
                    &value,
                    "a UNet setting: the transformer backbones do not use it",
                );
            }
        }
        Ok(())
    }

    fn noise(&mut self, config: &mut TrainConfig) -> Translation<()> {
        let (name, subtype) = match self.get("noise_fn") {
            Some(Value::String(name)) => (name.clone(), None),
            Some(Value::Array(parts)) => (
                parts
                    .first()
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                parts.get(1).cloned(),
            ),
            Some(other) => return Err(format!("noise_fn = {other}: expected a name")),
            None => (String::new(), None),
        };
        if let Some(subtype) = subtype {
            self.note(
                "noise_fn",
                &subtype,
                "the subtype is passed to their 4-D noise and never read",
            );
        }
        let noise = &mut config.noise;
        let (kind, fractal) = match name.as_str() {
            "gauss" => ("gauss", false),
            "4dsimplex" => ("tsimplex", true),
            "mixedsimplex" => ("tsg", true),
            "komalsimplex" => ("kts", true),
            "patch4dsimplex" => ("patch4dsimplex", true),
            "multisimplex" => ("multisimplex", true),
            "value" => ("value", true),
            "simplex" | "" => {
                // Their generate_simplex_noise is called without the octave settings: it
                // always uses its own defaults.
                noise.kind = "simplex3d".into();
                noise.octaves = 6;
                noise.persistence = 0.8;
                noise.frequency = 64.0;
                for key in ["octave", "persistence", "frequency"] {
                    if let Some(value) = self.get(key) {
                        let value = value.clone();
                        self.note(key, &value, "their 3-D simplex noise ignores it and uses octaves 6, persistence 0.8, frequency 64");
                    }
                }
                return Ok(());
            }
            other => {
                return Err(format!(
                    "noise_fn = {other:?}: expected gauss, simplex, 4dsimplex, mixedsimplex, \
                     komalsimplex, patch4dsimplex, multisimplex or value"
                ));
            }
        };
        noise.kind = kind.into();
        if fractal {
            let missing = |key: &str| format!("{key} is missing: their {name} noise needs it");
            let octaves = self.count("octave")?.ok_or_else(|| missing("octave"))?;
            let persistence = self
                .number("persistence")?
                .ok_or_else(|| missing("persistence"))?;
            let frequency = self
                .number("frequency")?
                .ok_or_else(|| missing("frequency"))?;
            let noise = &mut config.noise;
            noise.octaves = u32::try_from(octaves).map_err(|_| "octave: too large".to_string())?;
            noise.persistence = persistence;
            noise.frequency = frequency;
        }
        if matches!(kind, "kts" | "patch4dsimplex" | "multisimplex") {
            // Their diffusion cuts the noise into patches of the model's patch size.
            config.noise.kts_patch = config.model.patch_size;
        }
        if kind == "kts" {
            config.noise.kts_sigma = self.number("sigma")?.unwrap_or(4.0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn import(text: &str) -> Result<ImportedConfig> {
        import_reference_config(text, Path::new("args.json"))
    }

    const UDHVT_ARGS: &str = r#"{
        "img_size": [256, 256], "Batch_Size": 8, "EPOCHS": 3000, "T": 1000,
        "base_channels": 128, "beta_schedule": "cosine", "channel_mults": "",
        "loss-type": "l2+", "loss_weight": "none", "train_start": true, "lr": 1e-4,
        "random_slice": false, "sample_distance": 800, "weight_decay": 0.0,
        "save_imgs": true, "save_vids": false, "num_heads": 12, "dropout": 0,
        "attention_resolutions": "32,16,8", "num_head_channels": -1,
        "noise_fn": "komalsimplex", "dataset": "brainMRI", "channels": 3, "cls_cond": 2,
        "octave": 6, "frequency": 64, "persistence": 0.9, "sigma": 2,
        "patch_size": 16, "model_name": "UDHVT", "mlp_ratio": 4, "embed_dim": 768,
        "depth": 6, "refinement": true, "mlps": ["DAFF", "MLP", "DDAFF"], "patch_emb": "SPE"
    }"#;

    #[test]
    fn a_udhvt_run_becomes_what_their_script_builds() {
        let imported = import(UDHVT_ARGS).expect("imports");
        let config = &imported.config;
        let model = &config.model;
        assert_eq!(model.arch, Architecture::Dtunet);
        assert_eq!(
            (model.img_size, model.channels, model.patch_size),
            (256, 3, 16)
        );
        assert_eq!((model.embed_dim, model.heads, model.depth), (768, 12, 12));
        assert_eq!(model.ff.to_string(), "daff,mlp,ddaff");
        assert_eq!(model.patch_embed, PatchEmbedKind::Spe);
        assert!(model.refine_head);
        assert_eq!((model.num_classes, model.norm_eps), (2, 1e-5));
        assert_eq!(config.loss, LossKind::L2Tv);
        assert_eq!((config.batch_size, config.sample_distance), (8, 800));
        assert_eq!(config.noise.kind, "kts");
        assert_eq!((config.noise.kts_patch, config.noise.kts_sigma), (16, 2.0));
        assert_eq!((config.noise.octaves, config.noise.persistence), (6, 0.9));
        let noted: Vec<&str> = imported.notes.iter().map(|n| n.key.as_str()).collect();
        assert_eq!(
            noted,
            [
                "EPOCHS",
                "attention_resolutions",
                "base_channels",
                "dataset",
                "depth",
                "random_slice",
                "save_imgs",
                "save_vids"
            ]
        );
        let epochs = &imported.notes[0];
        assert!(epochs.reason.contains("--epochs 3000"), "{}", epochs.reason);
    }

    #[test]
    fn models_and_settings_dtunet_lacks_are_refused_by_name() {
        for (from, to, expected) in [
            (r#""UDHVT""#, r#""DiT""#, "model_name = \"DiT\""),
            (r#""channels": 3"#, r#""channels": 4"#, "channels = 4"),
            (r#""l2+""#, r#""VIC""#, "loss-type = \"VIC\""),
            (r#""komalsimplex""#, r#""random""#, "noise_fn = \"random\""),
            (
                r#", "mlps": ["DAFF", "MLP", "DDAFF"]"#,
                "",
                "mlps is missing",
            ),
            (r#""cls_cond": 2,"#, "", "cls_cond is missing"),
            (r#"[256, 256]"#, "[256, 128]", "img_size = [256, 128]"),
        ] {
            assert!(UDHVT_ARGS.contains(from), "{from}");
            let text = import(&UDHVT_ARGS.replacen(from, to, 1))
                .expect_err(expected)
                .to_string();
            assert!(
                text.contains(expected) && text.contains("args.json"),
                "{text}"
            );
        }
    }

    #[test]
    fn simplex_noise_takes_their_fixed_octaves_and_unet_its_own_keys() {
        let args = UDHVT_ARGS
            .replacen(r#""komalsimplex""#, r#""simplex""#, 1)
            .replacen(r#""UDHVT""#, r#""UNetModel""#, 1)
            .replacen(r#""channels": 3"#, r#""channels": 1"#, 1)
            .replacen(r#""num_heads": 12"#, r#""num_heads": 4"#, 1);
        let imported = import(&args).expect("imports");
        let config = &imported.config;
        assert_eq!(config.model.arch, Architecture::Unet);
        assert_eq!(config.model.unet_attention_resolutions, [32, 16, 8]);
        assert_eq!(
            (config.model.unet_channels, config.model.unet_heads),
            (128, 4)
        );
        assert_eq!(config.noise.kind, "simplex3d");
        assert_eq!((config.noise.octaves, config.noise.persistence), (6, 0.8));
        assert!(imported.notes.iter().any(|n| n.key == "persistence"));
        let anoddpm = import(&args.replacen(r#""model_name": "UNetModel","#, "", 1))
            .expect("an AnoDDPM-era configuration");
        assert_eq!(anoddpm.config.model.arch, Architecture::Unet);
        assert!(anoddpm.notes.iter().any(|n| n.key == "model_name"));
        let listed = import(&UDHVT_ARGS.replacen(r#""komalsimplex""#, r#"["4dsimplex", "d"]"#, 1))
            .expect("a list names the noise first");
        assert_eq!(listed.config.noise.kind, "tsimplex");
    }
}

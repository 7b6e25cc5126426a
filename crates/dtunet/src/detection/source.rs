//! Where detection gets its network and the noise/diffusion it was trained with: a training
//! run folder (final EMA weights `model.safetensors` + `config.toml`) or one of its checkpoint
//! folders (`ema.safetensors` + `state.json`).

use std::path::{Path, PathBuf};

use burn::tensor::Device;

use crate::error::{DtunetError, Result};
use crate::models::Denoiser;
use crate::models::weights::load_model;
use crate::training::checkpoint::CheckpointState;
use crate::training::{FINAL_MODEL_FILE, TrainConfig};

/// A trained network with its training configuration.
#[derive(Debug)]
pub struct TrainedModel {
    /// The EMA weights (no autodiff).
    pub model: Denoiser,
    /// The run's configuration (model, noise, diffusion).
    pub config: TrainConfig,
    /// The weights file read.
    pub weights: PathBuf,
}

/// Loads the EMA weights and configuration of a run folder or checkpoint folder on `device`.
pub fn load_trained(path: &Path, device: &Device) -> Result<TrainedModel> {
    let missing = |problem: String| DtunetError::Weights {
        path: path.to_path_buf(),
        problem,
    };
    if !path.is_dir() {
        return Err(missing(
            "no such folder: give a training run folder (--out of dtunet train) or one of its \
             checkpoints/step-* folders"
                .into(),
        ));
    }
    let (weights, config) = if path.join(FINAL_MODEL_FILE).is_file() {
        let config =
            TrainConfig::from_toml_file(&path.join("config.toml"), &TrainConfig::default())?;
        (path.join(FINAL_MODEL_FILE), config)
    } else if path.join("ema.safetensors").is_file() {
        let state_path = path.join("state.json");
        let text = std::fs::read(&state_path).map_err(|source| DtunetError::Io {
            action: "read",
            path: state_path.clone(),
            source,
        })?;
        let state: CheckpointState =
            serde_json::from_slice(&text).map_err(|e| DtunetError::Weights {
                path: state_path,
                problem: format!("unreadable checkpoint state ({e})"),
            })?;
        (path.join("ema.safetensors"), state.config)
    } else {
        return Err(missing(format!(
            "holds neither {FINAL_MODEL_FILE} (a finished run) nor ema.safetensors (a checkpoint)"
        )));
    };
    let (model, model_config) = load_model(&weights, device)?;
    let mut config = config;
    // The weights' own configuration is authoritative for the LayerNorm epsilon: a
    // config.toml written before `norm_eps` existed does not say, and its model was built
    // with the epsilon its weights file records.
    config.model.norm_eps = model_config.norm_eps;
    if model_config != config.model {
        return Err(DtunetError::Weights {
            path: weights,
            problem: "its model configuration differs from the run's config.toml".into(),
        });
    }
    Ok(TrainedModel {
        model,
        config,
        weights,
    })
}

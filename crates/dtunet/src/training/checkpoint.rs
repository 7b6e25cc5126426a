//! Training checkpoints: one folder per saved step under `<run>/checkpoints/`, written to a
//! hidden temporary folder, synced, then renamed into place, and renamed out of place again
//! before an old one is deleted — a crash at any moment leaves only complete `step-*` folders
//! (the hidden leftovers are removed by the next save).
//!
//! A checkpoint holds `model.bpk` (training weights with their parameter ids, burnpack),
//! `optimizer.bpk` (AdamW moments keyed by those ids), `ema.safetensors` (the detection weights,
//! PyTorch keys) and `state.json` (step and configuration). Every random draw of a step is
//! derived from `(seed, step)`, so the step number is the whole RNG state.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use burn::optim::ModuleOptimizer;
use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::tensor::{Bytes, Device};
use serde::{Deserialize, Serialize};

use super::config::TrainConfig;
use crate::error::{DtunetError, Result};
use crate::models::Denoiser;
use crate::models::weights::{load_model, model_bytes};

/// Folder of the checkpoints inside a run folder.
pub const CHECKPOINT_FOLDER: &str = "checkpoints";

/// What `state.json` records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Optimiser steps completed.
    pub step: usize,
    /// The run's configuration.
    pub config: TrainConfig,
    /// Training seconds spent up to this step (over all sessions).
    pub seconds: f64,
}

/// The trainable state restored from a checkpoint.
pub struct Restored {
    /// Where it was read from.
    pub path: PathBuf,
    /// Step and configuration.
    pub state: CheckpointState,
    /// Training weights (on the training device).
    pub model: Denoiser,
    /// The EMA weights (no autodiff).
    pub ema: Denoiser,
    /// The optimiser with its moments.
    pub optimizer: ModuleOptimizer,
}

/// The folder of the checkpoint of `step`.
pub fn checkpoint_path(run: &Path, step: usize) -> PathBuf {
    run.join(CHECKPOINT_FOLDER).join(format!("step-{step:08}"))
}

/// Complete checkpoints of a run, oldest first, with their steps.
pub fn list_checkpoints(run: &Path) -> Result<Vec<(usize, PathBuf)>> {
    let folder = run.join(CHECKPOINT_FOLDER);
    if !folder.is_dir() {
        return Ok(Vec::new());
    }
    let entries = fs::read_dir(&folder).map_err(|source| DtunetError::Io {
        action: "list",
        path: folder.clone(),
        source,
    })?;
    let mut found: Vec<(usize, PathBuf)> = entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let step = name.strip_prefix("step-")?.parse().ok()?;
            Some((step, entry.path()))
        })
        .collect();
    found.sort();
    Ok(found)
}

/// Saves a checkpoint of `step` and deletes the oldest ones beyond `keep`.
pub fn save_checkpoint(
    run: &Path,
    state: &CheckpointState,
    model: &Denoiser,
    ema: &Denoiser,
    optimizer: &ModuleOptimizer,
    keep: usize,
) -> Result<PathBuf> {
    let final_path = checkpoint_path(run, state.step);
    let parent = run.join(CHECKPOINT_FOLDER);
    create_folder(&parent)?;
    remove_leftovers(&parent)?;
    let partial = parent.join(format!("{PARTIAL_PREFIX}step-{:08}", state.step));
    create_folder(&partial)?;
    let weights_error = |path: &Path, problem: String| DtunetError::Weights {
        path: path.to_path_buf(),
        problem,
    };

    let model_path = partial.join("model.bpk");
    let mut store = BurnpackStore::from_bytes(None);
    model
        .save_into(&mut store)
        .map_err(|e| weights_error(&model_path, e.to_string()))?;
    let bytes = store
        .get_bytes()
        .map_err(|e| weights_error(&model_path, e.to_string()))?;
    write_synced(&model_path, &bytes)?;

    let optimizer_path = partial.join("optimizer.bpk");
    let bytes = optimizer
        .into_bytes()
        .map_err(|e| weights_error(&optimizer_path, e.to_string()))?;
    write_synced(&optimizer_path, &bytes)?;

    let ema_path = partial.join("ema.safetensors");
    let bytes = model_bytes(ema, &state.config.model)
        .map_err(|problem| weights_error(&ema_path, problem))?;
    write_synced(&ema_path, &bytes)?;

    let state_path = partial.join("state.json");
    let json = serde_json::to_vec_pretty(state).map_err(|e| DtunetError::Weights {
        path: state_path.clone(),
        problem: e.to_string(),
    })?;
    write_synced(&state_path, &json)?;

    if final_path.exists() {
        remove_checkpoint(&final_path)?;
    }
    fs::rename(&partial, &final_path).map_err(|source| io_error("rename", &partial, source))?;
    sync_folder(&parent)?;

    let existing = list_checkpoints(run)?;
    let excess = existing.len().saturating_sub(keep);
    for (_, old) in existing.into_iter().take(excess) {
        remove_checkpoint(&old)?;
    }
    Ok(final_path)
}

/// Name prefix of a checkpoint folder being written.
const PARTIAL_PREFIX: &str = ".partial-";
/// Name prefix of a checkpoint folder being deleted.
const DELETING_PREFIX: &str = ".deleting-";

/// Deletes a checkpoint folder so that a crash at any moment leaves it either complete or
/// gone: it is renamed out of the `step-*` names first, then removed.
fn remove_checkpoint(folder: &Path) -> Result<()> {
    let (Some(parent), Some(name)) = (folder.parent(), folder.file_name()) else {
        return Ok(());
    };
    let doomed = parent.join(format!("{DELETING_PREFIX}{}", name.to_string_lossy()));
    if doomed.exists() {
        fs::remove_dir_all(&doomed).map_err(|source| io_error("remove", &doomed, source))?;
    }
    fs::rename(folder, &doomed).map_err(|source| io_error("rename", folder, source))?;
    fs::remove_dir_all(&doomed).map_err(|source| io_error("remove", &doomed, source))
}

/// Removes the hidden folders a crash left behind: checkpoints half written or half deleted.
fn remove_leftovers(parent: &Path) -> Result<()> {
    let entries = fs::read_dir(parent).map_err(|source| io_error("list", parent, source))?;
    for entry in entries.filter_map(|entry| entry.ok()) {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(PARTIAL_PREFIX) || name.starts_with(DELETING_PREFIX) {
            let path = entry.path();
            fs::remove_dir_all(&path).map_err(|source| io_error("remove", &path, source))?;
        }
    }
    Ok(())
}

/// Reads the checkpoint at `path` into fresh modules on `device` (the training device; the
/// EMA goes to its plain counterpart). `optimizer` is the freshly configured optimiser whose
/// moments are replaced.
pub fn load_checkpoint(
    path: &Path,
    device: &Device,
    optimizer: ModuleOptimizer,
) -> Result<Restored> {
    let weights_error = |file: &Path, problem: String| DtunetError::Weights {
        path: file.to_path_buf(),
        problem,
    };
    let state_path = path.join("state.json");
    let text = fs::read(&state_path).map_err(|source| io_error("read", &state_path, source))?;
    let state: CheckpointState = serde_json::from_slice(&text)
        .map_err(|e| weights_error(&state_path, format!("unreadable checkpoint state ({e})")))?;
    state.config.validate()?;

    let model_path = path.join("model.bpk");
    let mut model = Denoiser::new(&state.config.model, device)?;
    let mut store = BurnpackStore::from_file(&model_path);
    let applied = model
        .load_from(&mut store)
        .map_err(|e| weights_error(&model_path, e.to_string()))?;
    if !applied.missing.is_empty() || !applied.errors.is_empty() {
        return Err(weights_error(
            &model_path,
            format!(
                "incomplete checkpoint: {} missing tensors, {} errors",
                applied.missing.len(),
                applied.errors.len()
            ),
        ));
    }

    let optimizer_path = path.join("optimizer.bpk");
    let bytes =
        fs::read(&optimizer_path).map_err(|source| io_error("read", &optimizer_path, source))?;
    let optimizer = optimizer
        .from_bytes(Bytes::from_bytes_vec(bytes))
        .map_err(|e| weights_error(&optimizer_path, e.to_string()))?;

    let plain = device.clone().without_autodiff();
    let (ema, _) = load_model(&path.join("ema.safetensors"), &plain)?;
    Ok(Restored {
        path: path.to_path_buf(),
        state,
        model,
        ema,
        optimizer,
    })
}

fn create_folder(path: &Path) -> Result<()> {
    fs::create_dir_all(path).map_err(|source| io_error("create folder", path, source))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = fs::File::create(path).map_err(|source| io_error("create", path, source))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|source| io_error("write", path, source))
}

fn sync_folder(path: &Path) -> Result<()> {
    fs::File::open(path)
        .and_then(|folder| folder.sync_all())
        .map_err(|source| io_error("sync", path, source))
}

fn io_error(action: &'static str, path: &Path, source: std::io::Error) -> DtunetError {
    DtunetError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

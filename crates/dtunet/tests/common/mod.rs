//! Helpers shared by the library's integration tests.

use std::path::Path;

use dtunet::data::synth::{SynthConfig, write_dataset};
use dtunet::data::{Channels, DataOptions, Dataset, ImageSize, Layout};
use dtunet::losses::LossKind;
use dtunet::models::ModelConfig;
use dtunet::training::{
    Augmentation, DetectionRecipe, DiffusionSettings, NoiseSettings, TrainConfig,
};
use safetensors::SafeTensors;

/// A short L2 run of `model` on `noise` over a 100-step cosine chain: batch 4, lr 3e-3, EMA
/// 0.9, seed 11, a checkpoint every 2 steps (10 kept), no samples, no augmentation, no detection
/// recipe.
pub fn short_run(model: ModelConfig, noise: &str, steps: usize) -> TrainConfig {
    TrainConfig {
        model,
        noise: NoiseSettings {
            kind: noise.into(),
            ..NoiseSettings::default()
        },
        diffusion: DiffusionSettings {
            schedule: "cosine".into(),
            steps: 100,
        },
        loss: LossKind::L2,
        batch_size: 4,
        steps,
        lr: 3e-3,
        weight_decay: 0.0,
        ema_rate: 0.9,
        sample_distance: 0,
        checkpoint_every: 2,
        keep_checkpoints: 10,
        sample_every: 0,
        seed: 11,
        calibration_holdout: 0.0,
        augment: Augmentation::None,
        detection: DetectionRecipe::default(),
    }
}

/// Writes the synthetic set of `config` (square images of `config.height` px) to `root`,
/// replacing what is there, and opens it grey in the MVTec layout at that size.
pub fn synthetic_set(config: &SynthConfig, root: &Path) -> Box<dyn Dataset> {
    write_dataset(config, root, true, &|| ()).expect("synthetic dataset");
    let side = config.height as u32;
    let mut options = DataOptions::new(
        Layout::Mvtec,
        ImageSize {
            height: side,
            width: side,
        },
    );
    options.transform.channels = Channels::Gray;
    Layout::Mvtec.open(root, &options).expect("open")
}

/// Every tensor of the safetensors file `bytes` (f32 data), as `(name, values)` sorted by name.
pub fn f32_tensors(bytes: &[u8]) -> Vec<(String, Vec<f32>)> {
    let file = SafeTensors::deserialize(bytes).expect("safetensors");
    let mut found: Vec<(String, Vec<f32>)> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let values = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (name, values)
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

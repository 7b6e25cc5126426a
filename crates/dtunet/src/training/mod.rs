//! Training (SPEC §8): configuration, batches, EMA, checkpoints, logs and the loop.

pub mod augment;
pub mod batches;
pub mod checkpoint;
pub mod classifier;
pub mod config;
pub mod data_parallel;
pub mod ema;
pub mod log;
pub mod prefetch;
pub mod recipe;
pub mod reference_config;
mod samples;
mod step;
pub mod trainer;

pub use augment::Augmentation;
pub use batches::TrainingImages;
pub use classifier::{CLASSIFIER_FILE, ClassifierOutcome, train_classifier};
pub use config::{DiffusionSettings, NoiseSettings, Preset, TrainConfig};
pub use log::StepRecord;
pub use recipe::DetectionRecipe;
pub use trainer::{FINAL_MODEL_FILE, Start, TrainObserver, TrainOutcome, train, train_on};

//! Training batches: the healthy training split, held in memory, shuffled per epoch from the
//! run seed so that a step's batch depends only on `(seed, step)`.

use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::data::{Dataset, Sample, Split};
use crate::error::{DtunetError, Result};

/// Stream tags that keep the random draws of different purposes independent.
#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    /// The epoch shuffle.
    Shuffle = 1,
    /// Training timesteps.
    Timesteps = 2,
    /// Diffusion noise.
    Noise = 3,
    /// Sample reconstructions.
    Samples = 4,
    /// Reconstructions of the healthy images that calibrate detection thresholds.
    Calibration = 5,
    /// The symmetries of training-time augmentation.
    Augment = 6,
}

/// A 64-bit seed for `purpose` at `index` (epoch or step) of a run seeded with `seed`
/// (SplitMix64 finaliser over the three).
pub fn derive_seed(seed: u64, purpose: Purpose, index: u64) -> u64 {
    let mut z = seed
        ^ (purpose as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The training-split indices of `count` images that a hold-out `fraction` keeps out of
/// training for calibrating detection thresholds: `round(fraction · count)` (at least one when
/// `fraction > 0`) spread evenly over the split, ascending.
///
/// # Errors
/// A fraction outside `[0, 0.5]`, or one that leaves no image to train on.
pub fn held_out_indices(count: usize, fraction: f64) -> Result<Vec<usize>> {
    if !(0.0..=0.5).contains(&fraction) {
        return Err(DtunetError::InvalidParameter {
            name: "calibration_holdout",
            found: fraction.to_string(),
            expected: "a fraction of the training images in [0, 0.5]".into(),
        });
    }
    if fraction == 0.0 || count == 0 {
        return Ok(Vec::new());
    }
    let held_out = ((fraction * count as f64).round() as usize).max(1);
    if held_out >= count {
        return Err(DtunetError::InvalidParameter {
            name: "calibration_holdout",
            found: format!("{fraction} of {count} training images"),
            expected: "a fraction that leaves images to train on".into(),
        });
    }
    Ok((0..held_out)
        .map(|i| (2 * i + 1) * count / (2 * held_out))
        .collect())
}

/// The decoded training images and their class labels.
#[derive(Debug, Clone)]
pub struct TrainingImages {
    pixels: Vec<f32>,
    labels: Vec<i64>,
    shape: [usize; 3],
}

impl TrainingImages {
    /// Decodes the training split of `dataset` (in parallel) but for the `holdout` fraction
    /// kept for calibration ([`held_out_indices`]); `channels` and `size` must be what the
    /// model expects. A sample's label is 1 when the dataset knows it is anomalous, else 0
    /// (healthy).
    pub fn load(dataset: &dyn Dataset, holdout: f64) -> Result<Self> {
        let count = dataset.len(Split::Train);
        let held_out = held_out_indices(count, holdout)?;
        if count == held_out.len() {
            return Err(DtunetError::EmptyInputFolder {
                expected: "training images",
                folder: dataset.root().to_path_buf(),
            });
        }
        let samples: Vec<_> = (0..count)
            .into_par_iter()
            .filter(|index| held_out.binary_search(index).is_err())
            .map(|index| dataset.get(Split::Train, index))
            .collect::<Result<_>>()?;
        let labels = samples
            .iter()
            .map(|sample| i64::from(sample.is_anomalous().unwrap_or(false)))
            .collect();
        Ok(Self::from_samples(&samples, labels))
    }

    /// Holds the pixels of `samples` (all of one shape) with their `labels`.
    fn from_samples(samples: &[Sample], labels: Vec<i64>) -> Self {
        let first = &samples[0];
        let shape = [
            first.channels.count(),
            first.size.height as usize,
            first.size.width as usize,
        ];
        let mut pixels = Vec::with_capacity(samples.len() * shape.iter().product::<usize>());
        for sample in samples {
            pixels.extend_from_slice(&sample.image);
        }
        Self {
            pixels,
            labels,
            shape,
        }
    }

    /// Decodes every image of both splits of `dataset` with its label (1 anomalous, 0 healthy),
    /// for the guidance classifier: a labelled set, not the one detection is evaluated on.
    ///
    /// # Errors
    /// A test image whose class the dataset cannot tell (no mask, no class folder), or a set
    /// without both classes.
    pub fn load_labelled(dataset: &dyn Dataset) -> Result<Self> {
        let keys: Vec<(Split, usize)> = Split::ALL
            .iter()
            .flat_map(|&split| (0..dataset.len(split)).map(move |index| (split, index)))
            .collect();
        if keys.is_empty() {
            return Err(DtunetError::EmptyInputFolder {
                expected: "labelled images",
                folder: dataset.root().to_path_buf(),
            });
        }
        let labelled: Vec<(Sample, i64)> = keys
            .into_par_iter()
            .map(|(split, index)| {
                let sample = dataset.get(split, index)?;
                // The train split is healthy by definition; test images must say what they are.
                let label = match (split, sample.is_anomalous()) {
                    (Split::Train, _) => 0,
                    (Split::Test, Some(anomalous)) => i64::from(anomalous),
                    (Split::Test, None) => {
                        return Err(DtunetError::Dataset {
                            path: sample.info.source.clone(),
                            found: "a test image without a mask or class".into(),
                            expected: "labelled images (healthy or anomalous) for the \
                                       classifier"
                                .into(),
                        });
                    }
                };
                Ok((sample, label))
            })
            .collect::<Result<_>>()?;
        let (samples, labels): (Vec<Sample>, Vec<i64>) = labelled.into_iter().unzip();
        let images = Self::from_samples(&samples, labels);
        let (healthy, anomalous) = images.class_counts();
        if anomalous == 0 || healthy == 0 {
            return Err(DtunetError::Dataset {
                path: dataset.root().to_path_buf(),
                found: format!("{healthy} healthy and {anomalous} anomalous images"),
                expected: "both healthy and anomalous images for the classifier".into(),
            });
        }
        Ok(images)
    }

    /// Images of each label, `(healthy, anomalous)`.
    pub fn class_counts(&self) -> (usize, usize) {
        let anomalous = self.labels.iter().filter(|&&label| label == 1).count();
        (self.len() - anomalous, anomalous)
    }

    /// A class-balanced batch for `step`: even slots healthy, odd slots anomalous, each drawn
    /// uniformly (with replacement) from its class; depends only on `(seed, step)`.
    pub fn balanced_batch_indices(&self, seed: u64, step: usize, batch_size: usize) -> Vec<usize> {
        let by_class: [Vec<usize>; 2] = [0, 1].map(|class| {
            (0..self.len())
                .filter(|&index| self.labels[index] == class)
                .collect()
        });
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(seed, Purpose::Shuffle, step as u64));
        (0..batch_size)
            .map(|slot| {
                let members = &by_class[slot % 2];
                members[rng.random_range(0..members.len())]
            })
            .collect()
    }

    /// Images held.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether no image is held.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// `[C, H, W]` of every image.
    pub fn image_shape(&self) -> [usize; 3] {
        self.shape
    }

    /// The dataset indices of the batch of `step`: the run walks through one seeded
    /// permutation per epoch, `batch_size` images per step, crossing epoch boundaries.
    pub fn batch_indices(&self, seed: u64, step: usize, batch_size: usize) -> Vec<usize> {
        let n = self.len();
        let mut epoch_cached = usize::MAX;
        let mut order: Vec<usize> = Vec::new();
        (0..batch_size)
            .map(|i| {
                let position = step * batch_size + i;
                let epoch = position / n;
                if epoch != epoch_cached {
                    order = (0..n).collect();
                    let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(
                        seed,
                        Purpose::Shuffle,
                        epoch as u64,
                    ));
                    order.shuffle(&mut rng);
                    epoch_cached = epoch;
                }
                order[position % n]
            })
            .collect()
    }

    /// Images `[B, C, H, W]` and labels `[B]` of `indices` on `device`.
    pub fn batch(&self, indices: &[usize], device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
        let (images, labels) = self.batch_data(indices);
        (
            Tensor::from_data(images, device),
            Tensor::from_data(labels, device),
        )
    }

    /// The batch of [`TrainingImages::batch`] left on the host: images `[B, C, H, W]` `f32`
    /// and labels `[B]` `i64`.
    pub fn batch_data(&self, indices: &[usize]) -> (TensorData, TensorData) {
        let [c, h, w] = self.shape;
        let size = c * h * w;
        let mut pixels = Vec::with_capacity(indices.len() * size);
        for &index in indices {
            pixels.extend_from_slice(&self.pixels[index * size..(index + 1) * size]);
        }
        let labels: Vec<i64> = indices.iter().map(|&i| self.labels[i]).collect();
        (
            TensorData::new(pixels, [indices.len(), c, h, w]),
            TensorData::new(labels, [indices.len()]),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(n: usize) -> TrainingImages {
        TrainingImages {
            pixels: (0..n * 4).map(|v| v as f32).collect(),
            labels: vec![0; n],
            shape: [1, 2, 2],
        }
    }

    #[test]
    fn every_image_is_seen_once_per_epoch_and_batches_are_reproducible() {
        let set = images(10);
        let mut seen: Vec<usize> = (0..5)
            .flat_map(|step| set.batch_indices(7, step, 2))
            .collect();
        seen.sort();
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
        assert_eq!(set.batch_indices(7, 3, 4), set.batch_indices(7, 3, 4));
        assert_ne!(set.batch_indices(7, 0, 10), set.batch_indices(8, 0, 10));
    }

    #[test]
    fn batches_hold_the_right_pixels() {
        let set = images(3);
        let (batch, labels) = set.batch(&[2, 0], &Device::flex());
        assert_eq!(batch.dims(), [2, 1, 2, 2]);
        let values: Vec<f32> = batch.into_data().try_to_vec().expect("f32");
        assert_eq!(values, vec![8.0, 9.0, 10.0, 11.0, 0.0, 1.0, 2.0, 3.0]);
        assert_eq!(labels.dims(), [2]);
    }

    #[test]
    fn derived_seeds_differ_by_purpose_and_index() {
        let a = derive_seed(1, Purpose::Noise, 5);
        assert_ne!(a, derive_seed(1, Purpose::Noise, 6));
        assert_ne!(a, derive_seed(1, Purpose::Timesteps, 5));
        assert_ne!(a, derive_seed(2, Purpose::Noise, 5));
    }

    #[test]
    fn held_out_images_are_spread_evenly_and_bounded() {
        assert_eq!(
            held_out_indices(24, 0.25).expect("6"),
            [2, 6, 10, 14, 18, 22]
        );
        assert_eq!(held_out_indices(240, 0.1).expect("24").len(), 24);
        assert_eq!(held_out_indices(5, 0.01).expect("at least one"), [2]);
        assert!(held_out_indices(24, 0.0).expect("none").is_empty());
        for bad in [-0.1, 0.51, f64::NAN] {
            assert!(held_out_indices(24, bad).is_err(), "{bad}");
        }
        assert!(
            held_out_indices(1, 0.5).is_err(),
            "nothing left to train on"
        );
    }
}

//! NIfTI-1 volumes for the BraTS loader: reading (`.nii`, `.nii.gz`, either byte order, any
//! numeric voxel type, `scl_slope`/`scl_inter` applied), percentile intensity normalisation, and
//! a small LRU cache of decoded volumes.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use nifti::{IntoNdArray, NiftiObject, ReaderOptions};

use crate::error::{DtunetError, Result};

/// A 3-D volume, voxel `(x, y, z)` at `x + nx · (y + ny · z)` (the file's order).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Volume {
    /// `[nx, ny, nz]`.
    pub dims: [usize; 3],
    /// Voxel values after the header's scaling.
    pub voxels: Vec<f32>,
}

impl Volume {
    /// Voxels per axial slice, `nx · ny`.
    pub fn slice_len(&self) -> usize {
        self.dims[0] * self.dims[1]
    }
}

/// Reads a 3-D NIfTI-1 volume (a 4-D one with a single time point is accepted).
pub(crate) fn read_volume(path: &Path) -> Result<Volume> {
    let nifti_error = |source| DtunetError::NiftiRead {
        path: path.to_path_buf(),
        source,
    };
    let array = ReaderOptions::new()
        .read_file(path)
        .map_err(nifti_error)?
        .into_volume()
        .into_ndarray::<f32>()
        .map_err(nifti_error)?;
    let shape = array.shape().to_vec();
    let dims = match shape[..] {
        [nx, ny, nz] => [nx, ny, nz],
        [nx, ny, nz, ref rest @ ..] if rest.iter().all(|&n| n == 1) => [nx, ny, nz],
        _ => {
            return Err(DtunetError::VolumeShape {
                path: path.to_path_buf(),
                expected: "a 3-D volume (x, y, z)".into(),
                found: format!("dimensions {shape:?}"),
            });
        }
    };
    // `into_ndarray` lays the file's voxels out in Fortran order: the raw vector is file order.
    let (voxels, _) = array.into_raw_vec_and_offset();
    Ok(Volume { dims, voxels })
}

/// Whether a voxel belongs to the foreground (brain): finite and non-zero.
pub(crate) fn is_foreground(value: f32) -> bool {
    value.is_finite() && value != 0.0
}

/// The 1st and 99th percentiles of the foreground voxels (linear interpolation between order
/// statistics, as numpy's default); `None` when there is no foreground.
pub(crate) fn foreground_percentiles(voxels: &[f32]) -> Option<(f32, f32)> {
    let mut values: Vec<f32> = voxels
        .iter()
        .copied()
        .filter(|&v| is_foreground(v))
        .collect();
    if values.is_empty() {
        return None;
    }
    Some((quantile(&mut values, 0.01), quantile(&mut values, 0.99)))
}

/// Maps foreground voxels linearly from `[low, high]` to `[0, 1]` (clipped) and background voxels
/// to 0; when `high ≤ low` (a constant volume) the foreground maps to 1.
pub(crate) fn normalise(voxels: &[f32], (low, high): (f32, f32)) -> Vec<f32> {
    let span = high - low;
    voxels
        .iter()
        .map(|&v| match (is_foreground(v), span > 0.0) {
            (false, _) => 0.0,
            (true, true) => ((v - low) / span).clamp(0.0, 1.0),
            (true, false) => 1.0,
        })
        .collect()
}

/// The `q` quantile (`0 ≤ q ≤ 1`) of non-empty `values`, reordering them.
fn quantile(values: &mut [f32], q: f64) -> f32 {
    let position = q * (values.len() - 1) as f64;
    let below = position.floor() as usize;
    let fraction = (position - below as f64) as f32;
    let (_, &mut low, above) = values.select_nth_unstable_by(below, f32::total_cmp);
    if fraction == 0.0 || above.is_empty() {
        return low;
    }
    let high = above.iter().copied().fold(f32::INFINITY, f32::min);
    low + (high - low) * fraction
}

/// The `capacity` most recently used values, keyed by index; shared between threads.
#[derive(Debug)]
pub(crate) struct LruCache<T> {
    capacity: usize,
    recent: Mutex<VecDeque<(usize, Arc<T>)>>,
}

impl<T> LruCache<T> {
    /// An empty cache of `capacity ≥ 1` entries.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            recent: Mutex::new(VecDeque::with_capacity(capacity)),
        }
    }

    /// The value of `key`, from the cache or from `load` (called without the lock held, so two
    /// threads may load the same key at once; one result is kept).
    pub fn get_or_load(&self, key: usize, load: impl FnOnce() -> Result<T>) -> Result<Arc<T>> {
        {
            let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(position) = recent.iter().position(|(k, _)| *k == key) {
                let entry = recent.remove(position).expect("position is in range");
                let value = Arc::clone(&entry.1);
                recent.push_front(entry);
                return Ok(value);
            }
        }
        let value = Arc::new(load()?);
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if !recent.iter().any(|(k, _)| *k == key) {
            recent.push_front((key, Arc::clone(&value)));
            recent.truncate(self.capacity);
        }
        Ok(value)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// Voxel types the test writer supports.
    #[derive(Debug, Clone, Copy)]
    pub(crate) enum VoxelType {
        U8,
        I16,
        F32,
    }

    /// Writes a NIfTI-1 single file (`.nii`, or gzipped when the name ends in `.gz`) by hand:
    /// the 348-byte header, 4 bytes of extension flag, then the voxels in `big_endian` or
    /// little-endian order.
    pub(crate) fn write_nifti(
        path: &Path,
        dims: [usize; 3],
        voxels: &[f32],
        kind: VoxelType,
        big_endian: bool,
    ) {
        assert_eq!(voxels.len(), dims.iter().product::<usize>());
        let mut bytes = vec![0u8; 352];
        let mut put = |offset: usize, field: &[u8]| {
            let mut field = field.to_vec();
            if big_endian {
                field.reverse();
            }
            bytes[offset..offset + field.len()].copy_from_slice(&field);
        };
        let (code, bits): (i16, i16) = match kind {
            VoxelType::U8 => (2, 8),
            VoxelType::I16 => (4, 16),
            VoxelType::F32 => (16, 32),
        };
        put(0, &348i32.to_le_bytes());
        put(40, &3i16.to_le_bytes());
        for (axis, &n) in dims.iter().enumerate() {
            put(42 + 2 * axis, &(n as i16).to_le_bytes());
        }
        put(70, &code.to_le_bytes());
        put(72, &bits.to_le_bytes());
        for axis in 0..4 {
            put(76 + 4 * axis, &1f32.to_le_bytes());
        }
        put(108, &352f32.to_le_bytes());
        put(112, &1f32.to_le_bytes());
        bytes[344..348].copy_from_slice(b"n+1\0");
        for &v in voxels {
            let mut field = match kind {
                VoxelType::U8 => vec![v as u8],
                VoxelType::I16 => (v as i16).to_le_bytes().to_vec(),
                VoxelType::F32 => v.to_le_bytes().to_vec(),
            };
            if big_endian {
                field.reverse();
            }
            bytes.extend(field);
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create folder");
        }
        let file = std::fs::File::create(path).expect("create nifti");
        if path.to_string_lossy().ends_with(".gz") {
            let mut encoder = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
            encoder.write_all(&bytes).expect("write gz");
            encoder.finish().expect("finish gz");
        } else {
            let mut file = file;
            file.write_all(&bytes).expect("write nii");
        }
    }

    #[test]
    fn volumes_read_in_both_byte_orders_and_compressions() {
        let dir = tempfile::tempdir().expect("temp dir");
        let dims = [3, 4, 2];
        let voxels: Vec<f32> = (0..24).map(|i| (i * 7 % 11) as f32).collect();
        for (name, kind, big_endian) in [
            ("le.nii", VoxelType::F32, false),
            ("be.nii", VoxelType::F32, true),
            ("le16.nii.gz", VoxelType::I16, false),
            ("be16.nii.gz", VoxelType::I16, true),
            ("be8.nii.gz", VoxelType::U8, true),
        ] {
            let path = dir.path().join(name);
            write_nifti(&path, dims, &voxels, kind, big_endian);
            let volume = read_volume(&path).expect(name);
            assert_eq!(
                volume,
                Volume {
                    dims,
                    voxels: voxels.clone()
                },
                "{name}"
            );
        }
    }

    #[test]
    fn broken_volumes_name_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("case_flair.nii.gz");
        std::fs::write(&path, b"not gzip at all").expect("write");
        let message = read_volume(&path).expect_err("garbage").to_string();
        assert!(
            message.contains("cannot read NIfTI volume") && message.contains("case_flair.nii.gz"),
            "{message}"
        );

        let path = dir.path().join("short.nii");
        write_nifti(&path, [2, 2, 2], &[1.0; 8], VoxelType::F32, false);
        let bytes = std::fs::read(&path).expect("read");
        std::fs::write(&path, &bytes[..bytes.len() - 5]).expect("truncate");
        assert!(read_volume(&path).is_err(), "truncated data");
    }

    #[test]
    fn percentiles_follow_numpy_linear_interpolation() {
        // numpy.percentile(arange(1, 101), [1, 99]) = [1.99, 99.01]; zeros are background.
        let mut voxels: Vec<f32> = (1..=100).map(|v| v as f32).collect();
        voxels.extend([0.0; 50]);
        let (low, high) = foreground_percentiles(&voxels).expect("foreground");
        assert!(
            (low - 1.99).abs() < 1e-4 && (high - 99.01).abs() < 1e-4,
            "{low} {high}"
        );
        let normalised = normalise(&voxels, (low, high));
        assert_eq!(
            (normalised[0], normalised[99], normalised[120]),
            (0.0, 1.0, 0.0)
        );
        assert!((normalised[49] - (50.0 - 1.99) / (99.01 - 1.99)).abs() < 1e-6);
        assert_eq!(foreground_percentiles(&[0.0; 4]), None);
        assert_eq!(
            normalise(&[0.0, 5.0], (5.0, 5.0)),
            [0.0, 1.0],
            "constant volume"
        );
    }

    #[test]
    fn cache_keeps_the_most_recent_entries() {
        let cache = LruCache::new(2);
        let loads = std::sync::atomic::AtomicUsize::new(0);
        let get = |key: usize| {
            *cache
                .get_or_load(key, || {
                    loads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    Ok(key * 10)
                })
                .expect("loads")
        };
        assert_eq!(
            [get(1), get(2), get(1), get(3), get(1)],
            [10, 20, 10, 30, 10]
        );
        assert_eq!(
            loads.load(std::sync::atomic::Ordering::Relaxed),
            3,
            "1 stayed cached"
        );
        get(2);
        assert_eq!(
            loads.load(std::sync::atomic::Ordering::Relaxed),
            4,
            "2 was evicted"
        );
        let failed = cache.get_or_load(9, || {
            Err(DtunetError::InvalidParameter {
                name: "x",
                found: String::new(),
                expected: String::new(),
            })
        });
        assert!(failed.is_err());
    }
}

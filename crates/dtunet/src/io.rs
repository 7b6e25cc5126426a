//! Output files written atomically (temporary file in the same folder, fsync, rename), so an
//! interrupted run never leaves a truncated result behind.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use npyz::WriterBuilder;

use crate::error::{DtunetError, Result};

/// Creates `path` with the bytes `write` produces: written to a temporary file beside it,
/// flushed to disk, then renamed over `path`.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<&mut File>) -> std::io::Result<()>,
) -> Result<()> {
    let io_error = |action, source| DtunetError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut temporary = tempfile::Builder::new()
        .prefix(".dtunet-partial-")
        .tempfile_in(folder)
        .map_err(|e| io_error("create a temporary file for", e))?;
    {
        let mut buffered = BufWriter::new(temporary.as_file_mut());
        write(&mut buffered).map_err(|e| io_error("write", e))?;
        buffered.flush().map_err(|e| io_error("write", e))?;
    }
    make_world_readable(temporary.as_file()).map_err(|e| io_error("set permissions of", e))?;
    temporary
        .as_file()
        .sync_all()
        .map_err(|e| io_error("sync", e))?;
    temporary
        .persist(path)
        .map_err(|e| io_error("rename into place", e.error))?;
    Ok(())
}

/// A text log appended across sessions, each line stamped with the seconds since this
/// session opened it (`train.log`, `study.log`).
pub struct TimedLog {
    path: PathBuf,
    file: File,
    started: Instant,
}

impl TimedLog {
    /// Opens `path` for appending, creating it if missing.
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| DtunetError::Io {
                action: "open",
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            started: Instant::now(),
        })
    }

    /// Appends `[   12.3 s] text`.
    pub fn line(&mut self, text: &str) -> Result<()> {
        writeln!(
            self.file,
            "[{:>9.1} s] {text}",
            self.started.elapsed().as_secs_f64()
        )
        .map_err(|source| DtunetError::Io {
            action: "write",
            path: self.path.clone(),
            source,
        })
    }
}

/// Gives a result file the usual `rw-r--r--` permissions (temporary files start owner-only).
#[cfg(unix)]
fn make_world_readable(file: &File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
}

/// Result files keep the platform's default permissions off Unix.
#[cfg(not(unix))]
fn make_world_readable(_file: &File) -> std::io::Result<()> {
    Ok(())
}

/// Writes `data` as a little-endian float64 `.npy` array of `shape` (C order), readable by
/// `numpy.load`.
///
/// # Panics
/// If the product of `shape` differs from `data.len()`.
pub fn write_npy_f64(path: &Path, shape: &[u64], data: &[f64]) -> Result<()> {
    write_npy(path, shape, data)
}

/// Writes `data` as a little-endian `.npy` array of `shape` (C order) with the element type's
/// own dtype (`<f4` for `f32`, `<f8` for `f64`), atomically.
///
/// # Panics
/// If the product of `shape` differs from `data.len()`.
pub fn write_npy<T: npyz::AutoSerialize + Copy>(
    path: &Path,
    shape: &[u64],
    data: &[T],
) -> Result<()> {
    assert_eq!(
        shape.iter().product::<u64>() as usize,
        data.len(),
        "npy shape and data disagree"
    );
    write_atomically(path, |out| {
        let mut writer = npyz::WriteOptions::new()
            .default_dtype()
            .shape(shape)
            .writer(out)
            .begin_nd()?;
        writer.extend(data.iter().copied())?;
        writer.finish()
    })
}

/// The values of a float `.npy` file as `f32`, in the file's element order.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyFloats {
    /// The array's shape.
    pub shape: Vec<usize>,
    /// The values, in the file's order (see `fortran_order`).
    pub values: Vec<f32>,
    /// Whether the values are column-major.
    pub fortran_order: bool,
}

/// Reads a float32 or float64 `.npy` file (float64 narrowed to `f32`).
///
/// # Errors
/// [`DtunetError::BadArray`] naming the file, what was expected and what was found (not an
/// npy file, another dtype, unreadable data).
pub fn read_npy_floats(path: &Path) -> Result<NpyFloats> {
    let bad = |expected: &'static str, found: String| DtunetError::BadArray {
        path: path.to_path_buf(),
        expected,
        found,
    };
    let bytes = std::fs::read(path).map_err(|source| DtunetError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })?;
    let npy = npyz::NpyFile::new(&bytes[..])
        .map_err(|error| bad("a .npy file (numpy.save)", error.to_string()))?;
    let fortran_order = npy.order() == npyz::Order::Fortran;
    let shape: Vec<usize> = npy.shape().iter().map(|&side| side as usize).collect();
    let width_in_bytes = match npy.dtype() {
        npyz::DType::Plain(type_str) if type_str.type_char() == npyz::TypeChar::Float => {
            type_str.num_bytes()
        }
        _ => None,
    };
    let read_error = |error: std::io::Error| bad("readable float data", error.to_string());
    let values: Vec<f32> = match width_in_bytes {
        Some(4) => npy.into_vec::<f32>().map_err(read_error)?,
        Some(8) => npy
            .into_vec::<f64>()
            .map_err(read_error)?
            .into_iter()
            .map(|value| value as f32)
            .collect(),
        _ => {
            return Err(bad(
                "dtype float32 or float64",
                npy.dtype().descr().trim().to_string(),
            ));
        }
    };
    Ok(NpyFloats {
        shape,
        values,
        fortran_order,
    })
}

/// Reads a C-order float32 or float64 `.npy` array of finite values as `f32` with its shape.
///
/// # Errors
/// Those of [`read_npy_floats`], Fortran order and non-finite values.
pub fn read_npy_f32(path: &Path) -> Result<(Vec<usize>, Vec<f32>)> {
    let bad = |expected: &'static str, found: String| DtunetError::BadArray {
        path: path.to_path_buf(),
        expected,
        found,
    };
    let array = read_npy_floats(path)?;
    if array.fortran_order {
        return Err(bad(
            "C order (numpy.ascontiguousarray)",
            "Fortran order".into(),
        ));
    }
    if let Some(index) = array.values.iter().position(|value| !value.is_finite()) {
        return Err(bad(
            "finite values (as float32)",
            format!("{} at flat index {index}", array.values[index]),
        ));
    }
    Ok((array.shape, array.values))
}

/// Writes an 8-bit grayscale PNG of `width × height` pixels (row-major).
pub fn write_png_gray(path: &Path, width: u32, height: u32, pixels: Vec<u8>) -> Result<()> {
    let image = image::GrayImage::from_raw(width, height, pixels)
        .ok_or_else(|| buffer_mismatch(width, height, "one byte per pixel"))?;
    write_png(path, image.into())
}

/// Writes a 16-bit PNG of a `[channels, height, width]` image with values in `[-1, 1]`
/// (clamped; `v ↦ round((v + 1)/2 · 65535)`), grey for one channel, RGB for three — the
/// precision `dtunet eval` reads back to within 1.6e-5.
pub fn write_png16_chw(
    path: &Path,
    channels: usize,
    height: u32,
    width: u32,
    chw: &[f32],
) -> Result<()> {
    let plane = (height * width) as usize;
    let to_u16 = |v: f32| ((v.clamp(-1.0, 1.0) + 1.0) * 0.5 * 65535.0).round() as u16;
    let image: image::DynamicImage = if channels == 3 {
        let mut interleaved = Vec::with_capacity(3 * plane);
        for index in 0..plane {
            for channel in 0..3 {
                interleaved.push(to_u16(chw[channel * plane + index]));
            }
        }
        image::ImageBuffer::<image::Rgb<u16>, _>::from_raw(width, height, interleaved)
            .ok_or_else(|| buffer_mismatch(width, height, "three values per pixel"))?
            .into()
    } else {
        let grey: Vec<u16> = chw[..plane].iter().map(|&v| to_u16(v)).collect();
        image::ImageBuffer::<image::Luma<u16>, _>::from_raw(width, height, grey)
            .ok_or_else(|| buffer_mismatch(width, height, "one value per pixel"))?
            .into()
    };
    write_png(path, image)
}

/// Writes an 8-bit RGB PNG of `width × height` pixels (row-major, `r, g, b` interleaved).
pub fn write_png_rgb(path: &Path, width: u32, height: u32, pixels: Vec<u8>) -> Result<()> {
    let image = image::RgbImage::from_raw(width, height, pixels)
        .ok_or_else(|| buffer_mismatch(width, height, "three bytes per pixel"))?;
    write_png(path, image.into())
}

fn buffer_mismatch(width: u32, height: u32, expected: &str) -> DtunetError {
    DtunetError::InvalidParameter {
        name: "image buffer",
        found: format!("{width}x{height}"),
        expected: expected.into(),
    }
}

fn write_png(path: &Path, image: image::DynamicImage) -> Result<()> {
    let mut encoded = Vec::new();
    image
        .write_to(
            &mut std::io::Cursor::new(&mut encoded),
            image::ImageFormat::Png,
        )
        .map_err(|source| DtunetError::Image {
            path: path.to_path_buf(),
            source,
        })?;
    write_atomically(path, |out| out.write_all(&encoded))
}

/// The values of a float tensor, row-major, as `f32` (whatever its storage precision).
pub fn tensor_values<const D: usize>(tensor: burn::tensor::Tensor<D>) -> Result<Vec<f32>> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| DtunetError::InvalidParameter {
            name: "tensor data",
            found: format!("{e:?}"),
            expected: "float values".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_round_trips_through_npyz() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("field.npy");
        let data: Vec<f64> = (0..24).map(|i| (i as f64 * 0.1).sin()).collect();
        write_npy_f64(&path, &[2, 1, 3, 4], &data).expect("written");
        let bytes = std::fs::read(&path).expect("readable");
        let npy = npyz::NpyFile::new(&bytes[..]).expect("npy");
        assert_eq!(npy.shape(), &[2, 1, 3, 4]);
        assert_eq!(npy.into_vec::<f64>().expect("f64"), data);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o644, "results are readable by others");
        }
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).expect("list").collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn png_writers_round_trip_gray_and_rgb() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (gray, rgb) = (dir.path().join("g.png"), dir.path().join("c.png"));
        let pixels: Vec<u8> = (0..5 * 7 * 3).map(|i| (i * 7 % 256) as u8).collect();
        write_png_gray(&gray, 7, 5, pixels[..35].to_vec()).expect("gray");
        write_png_rgb(&rgb, 7, 5, pixels.clone()).expect("rgb");
        let read_gray = image::open(&gray).expect("decodes").into_luma8();
        assert_eq!(read_gray.dimensions(), (7, 5));
        assert_eq!(read_gray.into_raw(), pixels[..35]);
        assert_eq!(
            image::open(&rgb).expect("decodes").into_rgb8().into_raw(),
            pixels
        );
        let error = write_png_rgb(&rgb, 7, 5, pixels[..35].to_vec()).expect_err("short");
        assert!(
            error.to_string().contains("three bytes per pixel"),
            "{error}"
        );
    }

    #[test]
    fn write_into_missing_folder_names_the_path() {
        let error =
            write_npy_f64(Path::new("/nonexistent-dtunet/x.npy"), &[1], &[0.0]).expect_err("fails");
        assert!(error.to_string().contains("/nonexistent-dtunet"), "{error}");
    }
}

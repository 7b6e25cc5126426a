//! Sample reconstructions written during training: one row per image, columns input |
//! reconstruction | |difference|, grey or colour as the data.

use std::path::Path;

use burn::tensor::Tensor;

use crate::error::{DtunetError, Result};
use crate::io::{tensor_values, write_png_gray, write_png_rgb};

/// Writes the panel of `inputs` and their `reconstructions` (`[B, C, H, W]` in `[-1, 1]`,
/// C = 1 or 3) to `path`, creating its folder.
pub fn write_reconstructions(
    path: &Path,
    inputs: Tensor<4>,
    reconstructions: Tensor<4>,
) -> Result<()> {
    let [batch, channels, height, width] = inputs.dims();
    let difference = (inputs.clone() - reconstructions.clone())
        .abs()
        .sub_scalar(1.0);
    let columns = [inputs, reconstructions, difference];
    let planes: Vec<Vec<f32>> = columns
        .into_iter()
        .map(tensor_values)
        .collect::<Result<_>>()?;
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder).map_err(|source| DtunetError::Io {
            action: "create folder",
            path: folder.to_path_buf(),
            source,
        })?;
    }
    let panel_width = 3 * width;
    let panel_height = batch * height;
    let to_byte = |v: f32| (((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round()) as u8;
    let mut pixels = vec![0u8; panel_width * panel_height * channels];
    for (column, plane) in planes.iter().enumerate() {
        for b in 0..batch {
            for y in 0..height {
                for x in 0..width {
                    let row = b * height + y;
                    let col = column * width + x;
                    for c in 0..channels {
                        let value = plane[((b * channels + c) * height + y) * width + x];
                        pixels[(row * panel_width + col) * channels + c] = to_byte(value);
                    }
                }
            }
        }
    }
    let (w, h) = (panel_width as u32, panel_height as u32);
    if channels == 3 {
        write_png_rgb(path, w, h, pixels)
    } else {
        write_png_gray(path, w, h, pixels)
    }
}

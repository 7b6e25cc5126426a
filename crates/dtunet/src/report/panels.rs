//! Figure panels, one PNG per image (the paper's Figure 8): input | reconstruction | anomaly
//! heat map | predicted mask | ground truth, side by side at the image's own size. The heat
//! map uses one scale for the whole set, so colours compare across images.

use std::path::Path;

use dtunet_metrics::ImageShape;

use crate::error::{DtunetError, Result};
use crate::io::write_png_rgb;

/// White gap between two tiles, in pixels.
pub const PANEL_GAP_PX: usize = 4;

/// The inferno colormap (matplotlib) sampled at 9 evenly spaced points, as sRGB.
pub const INFERNO_STOPS: [[u8; 3]; 9] = [
    [0, 0, 4],
    [31, 12, 72],
    [85, 15, 109],
    [136, 34, 106],
    [186, 54, 85],
    [227, 89, 51],
    [249, 140, 10],
    [249, 201, 50],
    [252, 255, 164],
];

/// The colour of `unit` in `[0, 1]` (values outside are taken at the ends) on the inferno
/// colormap, interpolated linearly between [`INFERNO_STOPS`].
pub fn inferno(unit: f32) -> [u8; 3] {
    let last = INFERNO_STOPS.len() - 1;
    let position = unit.clamp(0.0, 1.0) * last as f32;
    let below = (position.floor() as usize).min(last - 1);
    let fraction = position - below as f32;
    let (low, high) = (INFERNO_STOPS[below], INFERNO_STOPS[below + 1]);
    std::array::from_fn(|channel| {
        let value =
            f32::from(low[channel]) * (1.0 - fraction) + f32::from(high[channel]) * fraction;
        value.round() as u8
    })
}

/// The score range the heat maps of a set are drawn over: `low` is black, `high` is white-yellow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeatScale {
    /// The score drawn at the bottom of the colormap (the set's smallest map value).
    pub low: f32,
    /// The score drawn at the top (the set's largest map value).
    pub high: f32,
}

impl HeatScale {
    /// `score` mapped to `[0, 1]` on this scale; 0 everywhere when `high <= low`.
    pub fn unit(&self, score: f32) -> f32 {
        if self.high > self.low {
            ((score - self.low) / (self.high - self.low)).clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

/// What one panel shows.
#[derive(Debug, Clone, Copy)]
pub struct PanelImages<'a> {
    /// Shape of `image` and `reconstruction` (1 or 3 channels).
    pub shape: ImageShape,
    /// The input in `[-1, 1]`, `[channels · height · width]` (CHW).
    pub image: &'a [f32],
    /// The reconstruction, same layout; `None` leaves its tile out.
    pub reconstruction: Option<&'a [f32]>,
    /// The anomaly map, `[height · width]`.
    pub map: &'a [f32],
    /// The set-wide heat-map scale.
    pub heat: HeatScale,
    /// The predicted mask, `[height · width]`.
    pub predicted: &'a [bool],
    /// The ground-truth mask, `[height · width]`.
    pub truth: &'a [bool],
}

/// One tile of a panel.
enum Tile<'a> {
    /// An image in `[-1, 1]`, CHW, drawn grey or RGB.
    Picture(&'a [f32]),
    /// An anomaly map drawn with [`inferno`] on the set's [`HeatScale`].
    Heat(&'a [f32]),
    /// The input (first channel, grey) under the heat map, which covers it in proportion to
    /// its level ([`OVERLAY_OPACITY`] at the top of the scale).
    Overlay(&'a [f32], &'a [f32]),
    /// A mask drawn white on black.
    Mask(&'a [bool]),
}

/// How much the heat map covers the input in the overlay tile at the top of the heat scale.
pub const OVERLAY_OPACITY: f32 = 0.7;

/// `unit` in `[0, 1]` (clamped) as a byte, rounded to nearest.
fn to_byte(unit: f32) -> u8 {
    (unit.clamp(0.0, 1.0) * 255.0 + 0.5) as u8
}

/// Titles of the tiles, left to right.
pub fn panel_titles(with_reconstruction: bool) -> Vec<&'static str> {
    let mut titles = vec![
        "input",
        "reconstruction",
        "anomaly map",
        "overlay",
        "predicted",
        "ground truth",
    ];
    if !with_reconstruction {
        titles.remove(1);
    }
    titles
}

/// Draws the tiles of `images` side by side and writes them as an RGB PNG.
///
/// # Panics
/// When a slice's length does not match `images.shape` (the caller built them together).
pub fn write_panel(path: &Path, images: &PanelImages<'_>) -> Result<()> {
    let shape = images.shape;
    let plane = shape.plane().len();
    assert!(
        images.image.len() == shape.len()
            && images.reconstruction.is_none_or(|r| r.len() == shape.len())
            && images.map.len() == plane
            && images.predicted.len() == plane
            && images.truth.len() == plane,
        "panel inputs do not match shape {shape}"
    );
    let mut tiles = vec![Tile::Picture(images.image)];
    tiles.extend(images.reconstruction.map(Tile::Picture));
    tiles.extend([
        Tile::Heat(images.map),
        Tile::Overlay(images.image, images.map),
        Tile::Mask(images.predicted),
        Tile::Mask(images.truth),
    ]);
    let heat_colours: [[u8; 3]; 256] = std::array::from_fn(|level| inferno(level as f32 / 255.0));
    let colour = |tile: &Tile<'_>, index: usize| -> [u8; 3] {
        match *tile {
            Tile::Picture(chw) => std::array::from_fn(|channel| {
                let channel = channel.min(shape.channels - 1);
                to_byte((chw[channel * plane + index] + 1.0) / 2.0)
            }),
            Tile::Heat(map) => heat_colours[usize::from(to_byte(images.heat.unit(map[index])))],
            Tile::Overlay(chw, map) => {
                let level = images.heat.unit(map[index]);
                let heat = heat_colours[usize::from(to_byte(level))];
                let grey = (chw[index] + 1.0) / 2.0;
                let opacity = OVERLAY_OPACITY * level.clamp(0.0, 1.0);
                std::array::from_fn(|channel| {
                    to_byte((1.0 - opacity) * grey + opacity * f32::from(heat[channel]) / 255.0)
                })
            }
            Tile::Mask(mask) => [if mask[index] { 255 } else { 0 }; 3],
        }
    };

    let (height, width) = (shape.height, shape.width);
    let panel_width = tiles.len() * width + (tiles.len() - 1) * PANEL_GAP_PX;
    let mut pixels = vec![255u8; 3 * panel_width * height];
    for (tile_index, tile) in tiles.iter().enumerate() {
        let left = tile_index * (width + PANEL_GAP_PX);
        for row in 0..height {
            for col in 0..width {
                let start = 3 * (row * panel_width + left + col);
                pixels[start..start + 3].copy_from_slice(&colour(tile, row * width + col));
            }
        }
    }
    let too_large = || DtunetError::InvalidParameter {
        name: "panel size",
        found: format!("{panel_width}x{height}"),
        expected: "at most 4294967295 pixels per side".into(),
    };
    let width_px = u32::try_from(panel_width).map_err(|_| too_large())?;
    let height_px = u32::try_from(height).map_err(|_| too_large())?;
    write_png_rgb(path, width_px, height_px, pixels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inferno_ends_and_middle() {
        assert_eq!(inferno(0.0), [0, 0, 4]);
        assert_eq!(inferno(1.0), [252, 255, 164]);
        assert_eq!(inferno(0.5), [186, 54, 85]);
        assert_eq!(inferno(-3.0), inferno(0.0));
    }

    #[test]
    fn heat_scale_is_set_wide_and_safe_when_flat() {
        let scale = HeatScale {
            low: 0.0,
            high: 4.0,
        };
        assert_eq!(scale.unit(1.0), 0.25);
        assert_eq!(
            HeatScale {
                low: 1.0,
                high: 1.0
            }
            .unit(1.0),
            0.0
        );
    }

    #[test]
    fn panel_places_tiles_side_by_side_non_square() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("p.png");
        let shape = ImageShape::new(1, 20, 28);
        let image = vec![1.0f32; shape.len()];
        let map: Vec<f32> = (0..560).map(|i| if i == 0 { 2.0 } else { 0.0 }).collect();
        let truth: Vec<bool> = (0..560).map(|i| i == 0).collect();
        write_panel(
            &path,
            &PanelImages {
                shape,
                image: &image,
                reconstruction: Some(&image),
                map: &map,
                heat: HeatScale {
                    low: 0.0,
                    high: 4.0,
                },
                predicted: &truth,
                truth: &truth,
            },
        )
        .expect("written");
        let panel = image::open(&path).expect("png").to_rgb8();
        assert_eq!((panel.width(), panel.height()), (6 * 28 + 5 * 4, 20));
        assert_eq!(panel.get_pixel(0, 0).0, [255; 3], "input is white");
        assert_eq!(panel.get_pixel(28, 0).0, [255; 3], "gap is white");
        assert_eq!(
            panel.get_pixel(64, 0).0,
            inferno(128.0 / 255.0),
            "map 2 of 4"
        );
        assert_eq!(panel.get_pixel(65, 0).0, inferno(0.0));
        // Overlay: white input under half the heat scale's colour at 0.35 opacity, and the
        // plain input where the map is 0.
        let heat = inferno(128.0 / 255.0);
        let opacity = OVERLAY_OPACITY * 0.5;
        let expected: [u8; 3] = std::array::from_fn(|c| {
            to_byte((1.0 - opacity) + opacity * f32::from(heat[c]) / 255.0)
        });
        assert_eq!(panel.get_pixel(3 * 32, 0).0, expected, "overlay");
        assert_eq!(
            panel.get_pixel(3 * 32 + 1, 0).0,
            [255; 3],
            "input shows through"
        );
        assert_eq!(panel.get_pixel(5 * 32 + 1, 0).0, [0; 3], "truth off");
        assert_eq!(panel.get_pixel(5 * 32, 0).0, [255; 3], "truth on");
        assert_eq!(panel_titles(false).len(), 5);
    }
}

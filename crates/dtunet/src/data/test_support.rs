//! Writers of small image files for the loader tests: 8-bit gray, 16-bit gray, RGB, palette PNGs
//! and JPEGs, drawn from a function of the pixel position.

use std::path::Path;

use image::{GrayImage, ImageBuffer, Luma, Rgb, RgbImage};

/// A rectangle in pixels: rows `top..top + height`, columns `left..left + width`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rect {
    pub top: u32,
    pub left: u32,
    pub height: u32,
    pub width: u32,
}

impl Rect {
    pub(crate) fn contains(&self, x: u32, y: u32) -> bool {
        (self.left..self.left + self.width).contains(&x)
            && (self.top..self.top + self.height).contains(&y)
    }
}

fn create_parent(path: &Path) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create folder");
    }
}

/// An 8-bit gray PNG (or JPEG, by extension) of `height × width`, value `f(x, y)`.
pub(crate) fn write_gray(path: &Path, height: u32, width: u32, f: impl Fn(u32, u32) -> u8) {
    create_parent(path);
    GrayImage::from_fn(width, height, |x, y| Luma([f(x, y)]))
        .save(path)
        .expect("write gray image");
}

/// A 16-bit gray PNG.
pub(crate) fn write_gray16(path: &Path, height: u32, width: u32, f: impl Fn(u32, u32) -> u16) {
    create_parent(path);
    ImageBuffer::<Luma<u16>, Vec<u16>>::from_fn(width, height, |x, y| Luma([f(x, y)]))
        .save(path)
        .expect("write 16-bit image");
}

/// An 8-bit RGB PNG (or JPEG, by extension).
pub(crate) fn write_rgb(path: &Path, height: u32, width: u32, f: impl Fn(u32, u32) -> [u8; 3]) {
    create_parent(path);
    RgbImage::from_fn(width, height, |x, y| Rgb(f(x, y)))
        .save(path)
        .expect("write rgb image");
}

/// An 8-bit palette PNG with the palette black, white, red; `f` gives the palette index.
pub(crate) fn write_palette(path: &Path, height: u32, width: u32, f: impl Fn(u32, u32) -> u8) {
    create_parent(path);
    let file = std::fs::File::create(path).expect("create png");
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width, height);
    encoder.set_color(png::ColorType::Indexed);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_palette(vec![0, 0, 0, 255, 255, 255, 255, 0, 0]);
    let mut writer = encoder.write_header().expect("png header");
    let data: Vec<u8> = (0..height)
        .flat_map(|y| (0..width).map(move |x| (x, y)))
        .map(|(x, y)| f(x, y))
        .collect();
    writer.write_image_data(&data).expect("png data");
}

/// A gray image, black with `rect` white, and its binary mask (255 inside `rect`).
pub(crate) fn write_pair(image: &Path, mask: &Path, height: u32, width: u32, rect: Rect) {
    let inside = move |x, y| if rect.contains(x, y) { 255 } else { 0 };
    write_gray(image, height, width, inside);
    write_gray(mask, height, width, inside);
}

/// Asserts that a sample's mask covers the bright pixels of its (gray) image: every clearly
/// bright pixel is in the mask, every clearly dark one outside, and the mask is not empty.
pub(crate) fn assert_mask_on_bright_pixels(image: &[f32], mask: &[u8]) {
    assert_eq!(image.len() % mask.len(), 0, "image planes of mask size");
    assert!(mask.contains(&1), "mask not empty");
    for (index, &m) in mask.iter().enumerate() {
        if image[index] > 0.9 {
            assert_eq!(m, 1, "bright pixel {index} outside the mask");
        }
        if image[index] < -0.9 {
            assert_eq!(m, 0, "dark pixel {index} inside the mask");
        }
    }
}

//! Procedural industrial surfaces in RGB: pebbled leather (Worley cells with dark creases),
//! twill fabric (two thread colours, fibres, slubs) and planed wood (distorted growth rings,
//! fibres, pores). A [`Style`] fixes a dataset's look; each image is a [`Surface`] of that
//! style with its own noise, offset and small jitter.

use std::f64::consts::PI;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::canvas::{Canvas, Frame, fbm, lattice_pair, length, lerp, smoothstep, unrotate};
use super::config::Material;
use super::gradient::GradientNoise;

/// An RGB colour, components in [0, 1].
pub(crate) type Rgb = [f64; 3];

/// Leather colours: brown, tan, black, grey, oxblood.
const LEATHER: [Rgb; 5] = [
    [0.45, 0.28, 0.16],
    [0.68, 0.50, 0.32],
    [0.17, 0.16, 0.16],
    [0.52, 0.50, 0.48],
    [0.44, 0.13, 0.13],
];
/// Fabric (warp, weft) colours: denim, grey wool, khaki, red.
const FABRIC: [(Rgb, Rgb); 4] = [
    ([0.16, 0.24, 0.44], [0.80, 0.79, 0.74]),
    ([0.42, 0.42, 0.45], [0.58, 0.58, 0.58]),
    ([0.55, 0.48, 0.33], [0.66, 0.60, 0.45]),
    ([0.62, 0.13, 0.13], [0.46, 0.10, 0.11]),
];
/// Wood (earlywood, latewood) colours: oak, walnut, pine.
const WOOD: [(Rgb, Rgb); 3] = [
    ([0.80, 0.62, 0.42], [0.54, 0.35, 0.20]),
    ([0.52, 0.36, 0.24], [0.30, 0.18, 0.10]),
    ([0.90, 0.76, 0.55], [0.70, 0.49, 0.29]),
];

/// The look shared by every image of a texture dataset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Style {
    /// The material.
    pub material: Material,
    /// Palette entry of the material.
    palette: usize,
    /// Feature size in units: leather cell, thread period, ring spacing.
    scale: f64,
    /// Orientation of grain or weave, radians.
    angle: f64,
}

impl Style {
    /// Draws the look of a `material` dataset rendered in `frame`.
    pub fn sample(material: Material, rng: &mut ChaCha8Rng, frame: Frame) -> Self {
        let palette = rng.random_range(0..palette_len(material));
        let (low, high) = match material {
            Material::Leather => (0.05, 0.075),
            Material::Fabric => (0.035, 0.05),
            Material::Wood => (0.09, 0.16),
        };
        Self {
            material,
            palette,
            scale: rng
                .random_range::<f64, _>(low..high)
                .max(min_feature_px(material) * frame.pixel_size()),
            angle: rng.random_range(-0.1..0.1),
        }
    }

    /// A clearly different look for a foreign patch: another material, or the same material in
    /// another colour, at another scale and turned by a quarter.
    pub fn foreign(&self, rng: &mut ChaCha8Rng, frame: Frame) -> Self {
        if rng.random_bool(0.5) {
            let others: Vec<Material> = Material::ALL
                .into_iter()
                .filter(|&m| m != self.material)
                .collect();
            return Style::sample(others[rng.random_range(0..others.len())], rng, frame);
        }
        let n = palette_len(self.material);
        let scale = if rng.random_bool(0.5) { 0.6 } else { 1.7 };
        Self {
            material: self.material,
            palette: (self.palette + rng.random_range(1..n)) % n,
            scale: (self.scale * scale).max(min_feature_px(self.material) * frame.pixel_size()),
            angle: self.angle + PI / 2.0,
        }
    }
}

fn palette_len(material: Material) -> usize {
    match material {
        Material::Leather => LEATHER.len(),
        Material::Fabric => FABRIC.len(),
        Material::Wood => WOOD.len(),
    }
}

/// Smallest feature size in pixels, against aliasing on small images.
fn min_feature_px(material: Material) -> f64 {
    match material {
        Material::Leather => 4.0,
        Material::Fabric => 3.0,
        Material::Wood => 6.0,
    }
}

/// One image's surface: a style plus its own noise, position and jitter.
#[derive(Debug, Clone)]
pub(crate) struct Surface {
    style: Style,
    noise: GradientNoise,
    cell_seed: u64,
    offset: (f64, f64),
    angle: f64,
    brightness: f64,
    /// Cycles per unit of the finest detail (about one per three pixels).
    fine: f64,
}

impl Surface {
    /// Draws an image of `style` in `frame`.
    pub fn sample(style: &Style, rng: &mut ChaCha8Rng, frame: Frame) -> Self {
        Self {
            style: *style,
            noise: GradientNoise::new(rng.random()),
            cell_seed: rng.random(),
            offset: (
                rng.random_range(-100.0..100.0),
                rng.random_range(-100.0..100.0),
            ),
            angle: style.angle + rng.random_range(-0.04..0.04),
            brightness: rng.random_range(0.96..1.04),
            fine: frame.px_per_unit / 3.0,
        }
    }

    /// The surface over the whole frame.
    pub fn render(&self, frame: Frame) -> Canvas {
        let mut canvas = Canvas::new(frame.height, frame.width, 3);
        for index in 0..frame.len() {
            let colour = self.colour_at(frame.unit(index));
            canvas.pixel_mut(index).copy_from_slice(&colour);
        }
        canvas
    }

    /// The colour at unit point `(x, y)`.
    pub fn colour_at(&self, (x, y): (f64, f64)) -> Rgb {
        let (along, across) = unrotate((x, y), self.angle);
        let local = (along + self.offset.0, across + self.offset.1);
        let colour = match self.style.material {
            Material::Leather => self.leather(local),
            Material::Fabric => self.fabric(local),
            Material::Wood => self.wood(local),
        };
        colour.map(|c| c * self.brightness)
    }

    fn leather(&self, (x, y): (f64, f64)) -> Rgb {
        // Warped lattice coordinates make the cells irregular.
        let warp = 0.35;
        let (u, v) = (
            x / self.style.scale + warp * self.noise.noise2(x * 3.0 + 7.0, y * 3.0),
            y / self.style.scale + warp * self.noise.noise2(x * 3.0, y * 3.0 - 7.0),
        );
        let cell = worley(self.cell_seed, u, v);
        let crease_depth = 0.7 + 0.3 * self.noise.noise2(x * 4.0 - 30.0, y * 4.0);
        let crease = 1.0 - crease_depth * smoothstep(0.3, 0.0, cell.f2 - cell.f1);
        // Each pebble is a dome lit from the upper left.
        let lit = -(cell.dx + cell.dy) * std::f64::consts::FRAC_1_SQRT_2;
        let dome = 1.0 - (cell.f1 * cell.f1).min(1.0);
        let large = fbm(&self.noise, x * 1.5, y * 1.5, 3);
        let grain = self.noise.noise2(x * self.fine, y * self.fine);
        let shade = (0.62 + 0.16 * dome + 0.22 * lit.clamp(-0.6, 0.6)) * (0.55 + 0.45 * crease)
            + 0.08 * large
            + 0.03 * grain;
        LEATHER[self.style.palette].map(|c| c * (shade + 0.25))
    }

    fn fabric(&self, (x, y): (f64, f64)) -> Rgb {
        let (warp, weft) = FABRIC[self.style.palette];
        let (u, v) = (x / self.style.scale, y / self.style.scale);
        let (i, j) = (u.floor(), v.floor());
        let (fu, fv) = (u - i, v - j);
        let profile = |t: f64| (PI * t).sin().max(0.0).sqrt();
        // 2/1 twill: the warp floats over two wefts of every three, stepping one per row.
        let warp_on_top = ((i - j) as i64).rem_euclid(3) != 0;
        let (base, height, slub, fibre) = if warp_on_top {
            (
                warp,
                profile(fu) * (0.8 + 0.2 * profile(fv)),
                lattice_pair(self.cell_seed, i as i64, 0).0,
                self.noise
                    .noise2(x * self.fine, y * self.fine * 0.15 + 40.0),
            )
        } else {
            (
                weft,
                profile(fv) * (0.8 + 0.2 * profile(fu)),
                lattice_pair(self.cell_seed, 0, j as i64).0,
                self.noise
                    .noise2(x * self.fine * 0.15 - 40.0, y * self.fine),
            )
        };
        let large = fbm(&self.noise, x * 2.0, y * 2.0, 2);
        let shade =
            (0.5 + 0.5 * height) * (1.0 + 0.12 * (slub - 0.5) + 0.07 * fibre + 0.05 * large);
        base.map(|c| c * shade)
    }

    fn wood(&self, (x, y): (f64, f64)) -> Rgb {
        let (early, late) = WOOD[self.style.palette];
        let distortion = fbm(&self.noise, x * 0.6, y * 1.2, 3);
        let ring =
            (y / self.style.scale + 1.2 * distortion + 0.1 * x / self.style.scale).rem_euclid(1.0);
        let latewood = 0.85 * ring.powf(2.5);
        let fibre = self
            .noise
            .noise2(x * self.fine * 0.05 + 60.0, y * self.fine);
        let pore = smoothstep(
            0.45,
            0.7,
            self.noise
                .noise2(x * self.fine * 0.3, y * self.fine * 1.5 - 60.0),
        );
        let shade = (1.0 + 0.06 * fibre) * (1.0 - 0.18 * pore);
        [0, 1, 2].map(|k| lerp(early[k], late[k], latewood) * shade)
    }
}

/// Worley (cellular) noise at a point: distances to the nearest and second-nearest feature
/// point and the offset from the nearest one, in lattice units.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Cell {
    f1: f64,
    f2: f64,
    dx: f64,
    dy: f64,
}

/// Worley noise at `(u, v)` over a jittered unit lattice with one feature point per cell,
/// placed by `seed`.
fn worley(seed: u64, u: f64, v: f64) -> Cell {
    let (ci, cj) = (u.floor() as i64, v.floor() as i64);
    let mut cell = Cell {
        f1: f64::INFINITY,
        f2: f64::INFINITY,
        dx: 0.0,
        dy: 0.0,
    };
    for di in -1..=1 {
        for dj in -1..=1 {
            let (i, j) = (ci + di, cj + dj);
            let (jitter_x, jitter_y) = lattice_pair(seed, i, j);
            let (px, py) = (
                i as f64 + 0.15 + 0.7 * jitter_x,
                j as f64 + 0.15 + 0.7 * jitter_y,
            );
            let (dx, dy) = (u - px, v - py);
            let distance = length(dx, dy);
            if distance < cell.f1 {
                cell = Cell {
                    f1: distance,
                    f2: cell.f1,
                    dx,
                    dy,
                };
            } else if distance < cell.f2 {
                cell.f2 = distance;
            }
        }
    }
    cell
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn every_material_renders_in_range_and_varies() {
        let frame = Frame::new(40, 56);
        for material in Material::ALL {
            let mut rng = ChaCha8Rng::seed_from_u64(5);
            let style = Style::sample(material, &mut rng, frame);
            let canvas = Surface::sample(&style, &mut rng, frame).render(frame);
            assert_eq!(canvas.data.len(), 40 * 56 * 3);
            assert!(
                canvas.data.iter().all(|v| (0.0..=1.0).contains(v)),
                "{material}"
            );
            let mean = canvas.data.iter().sum::<f64>() / canvas.data.len() as f64;
            let spread = canvas.data.iter().map(|v| (v - mean).abs()).sum::<f64>()
                / canvas.data.len() as f64;
            assert!(spread > 0.01, "{material}: flat surface");
        }
    }

    #[test]
    fn foreign_style_differs() {
        let frame = Frame::new(64, 64);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let style = Style::sample(Material::Wood, &mut rng, frame);
        for _ in 0..10 {
            assert_ne!(style.foreign(&mut rng, frame), style);
        }
    }

    #[test]
    fn worley_orders_its_distances() {
        for k in 0..100 {
            let cell = worley(3, k as f64 * 0.37, k as f64 * -0.21);
            assert!(cell.f1 <= cell.f2 && cell.f1 < 1.5);
            assert!((cell.dx.hypot(cell.dy) - cell.f1).abs() < 1e-12);
        }
    }
}

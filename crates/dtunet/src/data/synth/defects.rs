//! Surface defects painted onto a rendered texture: scratches (thin curved lines, lighter or
//! darker), holes (dark discs with a frayed raised rim), stains (soft tinted blobs with a drying
//! ring) and foreign patches (a pasted piece of a different texture). Each returns its exact
//! mask; the image changes only inside it.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::canvas::{Blob, Canvas, Frame, fbm, length, lerp, log_uniform, smoothstep};
use super::config::Class;
use super::gradient::GradientNoise;
use super::texture::{Rgb, Style, Surface};

/// Points of the polyline that approximates a scratch's Bézier curve.
const SCRATCH_POINTS: usize = 33;

/// A painted defect: its mask (one flag per pixel) and a one-line description.
pub(crate) struct Painted {
    /// Pixels of the defect.
    pub mask: Vec<bool>,
    /// What was painted, for the dataset card.
    pub detail: String,
}

/// Paints one defect of `class` onto `image` (a render of `surface`, whose dataset look is
/// `style`).
///
/// # Panics
/// If `class` is not a texture defect (`scratch`, `hole`, `stain`, `patch`).
pub(crate) fn paint(
    class: Class,
    image: &mut Canvas,
    style: &Style,
    frame: Frame,
    rng: &mut ChaCha8Rng,
) -> Painted {
    let noise = GradientNoise::new(rng.random());
    match class {
        Class::Scratch => scratch(image, frame, rng),
        Class::Hole => hole(image, frame, rng, &noise),
        Class::Stain => stain(image, frame, rng, &noise),
        Class::Patch => patch(image, style, frame, rng, &noise),
        Class::Good | Class::Tumor => panic!("{class} is not a texture defect"),
    }
}

/// A uniformly drawn point of the central `fraction` of the image, in units.
fn point_inside(frame: Frame, rng: &mut ChaCha8Rng, fraction: f64) -> (f64, f64) {
    let (x, y) = frame.half_extent();
    (
        rng.random_range(-fraction * x..fraction * x),
        rng.random_range(-fraction * y..fraction * y),
    )
}

fn scratch(image: &mut Canvas, frame: Frame, rng: &mut ChaCha8Rng) -> Painted {
    let start = point_inside(frame, rng, 0.8);
    let length = rng.random_range(0.4..1.1);
    let heading = rng.random_range(0.0..std::f64::consts::TAU);
    let bend = rng.random_range(-0.25..0.25) * length;
    let (dx, dy) = (heading.cos(), heading.sin());
    let end = (start.0 + length * dx, start.1 + length * dy);
    let control = (
        (start.0 + end.0) / 2.0 - bend * dy,
        (start.1 + end.1) / 2.0 + bend * dx,
    );
    let points: Vec<(f64, f64)> = (0..SCRATCH_POINTS)
        .map(|k| {
            let t = k as f64 / (SCRATCH_POINTS - 1) as f64;
            let (a, b, c) = ((1.0 - t) * (1.0 - t), 2.0 * t * (1.0 - t), t * t);
            (
                a * start.0 + b * control.0 + c * end.0,
                a * start.1 + b * control.1 + c * end.1,
            )
        })
        .collect();
    let half_width_px = rng.random_range(0.75..2.0);
    let half_width = half_width_px * frame.pixel_size();
    let light = rng.random_bool(0.6);
    let strength = rng.random_range(0.55..0.95);
    let middle = points[SCRATCH_POINTS / 2];
    let reach = points
        .iter()
        .map(|p| (p.0 - middle.0).abs().max((p.1 - middle.1).abs()))
        .fold(0.0, f64::max)
        + half_width;
    let mut mask = vec![false; frame.len()];
    for index in frame.pixels_near(middle, reach) {
        let point = frame.unit(index);
        let distance = points
            .windows(2)
            .map(|segment| segment_distance(point, segment[0], segment[1]))
            .fold(f64::INFINITY, f64::min);
        if distance >= half_width {
            continue;
        }
        mask[index] = true;
        let alpha = strength * (1.0 - 0.5 * (distance / half_width).powi(2));
        for value in image.pixel_mut(index) {
            let target = if light {
                0.35 * *value + 0.6
            } else {
                0.3 * *value
            };
            *value = lerp(*value, target, alpha);
        }
    }
    Painted {
        mask,
        detail: format!(
            "{} scratch, {:.0} px long, {:.1} px wide",
            if light { "light" } else { "dark" },
            length * frame.px_per_unit,
            2.0 * half_width_px
        ),
    }
}

/// Distance from `p` to the segment `a`–`b`.
fn segment_distance(p: (f64, f64), a: (f64, f64), b: (f64, f64)) -> f64 {
    let (abx, aby) = (b.0 - a.0, b.1 - a.1);
    let length_sq = abx * abx + aby * aby;
    let t = if length_sq > 0.0 {
        (((p.0 - a.0) * abx + (p.1 - a.1) * aby) / length_sq).clamp(0.0, 1.0)
    } else {
        0.0
    };
    length(p.0 - a.0 - t * abx, p.1 - a.1 - t * aby)
}

/// Outer edge of a hole's rim, in hole radii.
const RIM_OUTER: f64 = 1.45;

fn hole(image: &mut Canvas, frame: Frame, rng: &mut ChaCha8Rng, noise: &GradientNoise) -> Painted {
    let radius = log_uniform(rng, 0.035, 0.09).max(2.0 * frame.pixel_size());
    let shape = Blob {
        centre: point_inside(frame, rng, 0.75),
        radius,
        aspect: rng.random_range(0.75..1.0),
        angle: rng.random_range(0.0..std::f64::consts::PI),
        roughness: rng.random_range(0.08..0.2),
        noise_offset: 0.0,
    };
    let depth_tint: Rgb = [0.06, 0.05, 0.05];
    let mut mask = vec![false; frame.len()];
    for index in frame.pixels_near(shape.centre, shape.reach() * RIM_OUTER) {
        let (x, y) = frame.unit(index);
        let rho = shape.rho(noise, x, y);
        if rho >= RIM_OUTER {
            continue;
        }
        mask[index] = true;
        let fray = fbm(noise, x / radius * 2.0 + 5.0, y / radius * 2.0, 2);
        for (k, value) in image.pixel_mut(index).iter_mut().enumerate() {
            *value = if rho < 1.0 {
                // Darker towards the middle, a little light caught on the far wall.
                depth_tint[k] + 0.12 * *value * rho * rho
            } else {
                let t = (rho - 1.0) / (RIM_OUTER - 1.0);
                let raised = (*value * 1.35 + 0.05) * (1.0 + 0.15 * fray);
                lerp(raised, *value, smoothstep(0.0, 1.0, t))
            };
        }
    }
    Painted {
        mask,
        detail: format!("hole, radius {:.1} px", radius * frame.px_per_unit),
    }
}

/// Stain tints: oil (darkening), wine, rust, bleach (lightening, handled apart).
const STAIN_TINTS: [(&str, Rgb); 3] = [
    ("oil", [0.42, 0.40, 0.36]),
    ("wine", [0.72, 0.32, 0.40]),
    ("rust", [0.95, 0.62, 0.35]),
];

fn stain(image: &mut Canvas, frame: Frame, rng: &mut ChaCha8Rng, noise: &GradientNoise) -> Painted {
    let shape = Blob {
        centre: point_inside(frame, rng, 0.7),
        radius: rng
            .random_range(0.08f64..0.24)
            .max(2.0 * frame.pixel_size()),
        aspect: rng.random_range(0.6..1.0),
        angle: rng.random_range(0.0..std::f64::consts::PI),
        roughness: rng.random_range(0.2..0.45),
        noise_offset: 0.0,
    };
    let tint = rng.random_range(0..STAIN_TINTS.len() + 1);
    let strength = rng.random_range(0.35..0.8);
    let mut mask = vec![false; frame.len()];
    for index in frame.pixels_near(shape.centre, shape.reach()) {
        let (x, y) = frame.unit(index);
        let rho = shape.rho(noise, x, y);
        if rho >= 1.0 {
            continue;
        }
        mask[index] = true;
        let mottle = fbm(
            noise,
            x / shape.radius * 2.5,
            y / shape.radius * 2.5 + 9.0,
            2,
        );
        let ring = smoothstep(0.75, 0.92, rho) * smoothstep(1.0, 0.93, rho);
        let alpha = (strength * smoothstep(1.0, 0.8, rho) * (0.85 + 0.15 * mottle)
            + 0.3 * strength * ring)
            .min(1.0);
        for (k, value) in image.pixel_mut(index).iter_mut().enumerate() {
            let target = match STAIN_TINTS.get(tint) {
                Some((_, colour)) => *value * colour[k],
                None => 0.5 * *value + 0.5,
            };
            *value = lerp(*value, target, alpha);
        }
    }
    Painted {
        mask,
        detail: format!(
            "{} stain, radius {:.1} px, strength {strength:.2}",
            STAIN_TINTS.get(tint).map_or("bleach", |(name, _)| name),
            shape.radius * frame.px_per_unit
        ),
    }
}

fn patch(
    image: &mut Canvas,
    style: &Style,
    frame: Frame,
    rng: &mut ChaCha8Rng,
    noise: &GradientNoise,
) -> Painted {
    let foreign_style = style.foreign(rng, frame);
    let foreign = Surface::sample(&foreign_style, rng, frame);
    let shape = Blob {
        centre: point_inside(frame, rng, 0.7),
        radius: rng.random_range(0.1f64..0.25).max(2.0 * frame.pixel_size()),
        aspect: rng.random_range(0.5..1.0),
        angle: rng.random_range(0.0..std::f64::consts::PI),
        roughness: rng.random_range(0.05..0.2),
        noise_offset: 0.0,
    };
    let mut mask = vec![false; frame.len()];
    for index in frame.pixels_near(shape.centre, shape.reach()) {
        let point = frame.unit(index);
        if shape.rho(noise, point.0, point.1) >= 1.0 {
            continue;
        }
        mask[index] = true;
        image
            .pixel_mut(index)
            .copy_from_slice(&foreign.colour_at(point));
    }
    Painted {
        mask,
        detail: format!(
            "{} patch, radius {:.1} px",
            foreign_style.material,
            shape.radius * frame.px_per_unit
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synth::config::Material;
    use rand::SeedableRng;

    #[test]
    fn defects_change_only_their_non_empty_masks() {
        let frame = Frame::new(32, 48);
        for class in [Class::Scratch, Class::Hole, Class::Stain, Class::Patch] {
            for seed in 0..8 {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                let style = Style::sample(Material::ALL[seed as usize % 3], &mut rng, frame);
                let clean = Surface::sample(&style, &mut rng, frame).render(frame);
                let mut image = clean.clone();
                let painted = paint(class, &mut image, &style, frame, &mut rng);
                assert!(
                    painted.mask.iter().any(|&m| m),
                    "{class} seed {seed}: empty mask"
                );
                for index in 0..frame.len() {
                    if !painted.mask[index] {
                        assert_eq!(image.pixel(index), clean.pixel(index), "{class}");
                    }
                }
                let change = image.mean_abs_change(&clean, &painted.mask);
                assert!(change > 0.01, "{class} seed {seed}: invisible ({change})");
            }
        }
    }

    #[test]
    fn segment_distance_handles_ends_and_degenerate_segments() {
        assert_eq!(segment_distance((0.0, 1.0), (-1.0, 0.0), (1.0, 0.0)), 1.0);
        assert_eq!(segment_distance((3.0, 0.0), (-1.0, 0.0), (1.0, 0.0)), 2.0);
        assert_eq!(segment_distance((0.0, 2.0), (0.0, 0.0), (0.0, 0.0)), 2.0);
    }
}

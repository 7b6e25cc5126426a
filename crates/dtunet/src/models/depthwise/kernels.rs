//! Channels-last depthwise 3×3 kernels on f32 slices: every pixel is a contiguous run of `C`
//! channels, so each tap is one vectorisable multiply-add over that run. Work is split by
//! image row on the rayon pool; the parameter gradients add per-row partial sums in row order,
//! so results do not depend on the thread count.

use rayon::prelude::*;

use super::TAPS;

/// `[B, H, W, C]` of a channels-last map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct MapShape {
    pub batch: usize,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
}

impl MapShape {
    pub fn dims(&self) -> [usize; 4] {
        [self.batch, self.height, self.width, self.channels]
    }

    fn row_len(&self) -> usize {
        self.width * self.channels
    }

    fn len(&self) -> usize {
        self.batch * self.height * self.row_len()
    }

    /// The in-image neighbours of `(y, x)` in image `b` at offsets `(i − 1, j − 1)`:
    /// `(tap index, element offset of the neighbour's channel run)`.
    fn neighbours(
        &self,
        b: usize,
        y: usize,
        x: usize,
    ) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..3).flat_map(move |i| {
            (0..3).filter_map(move |j| {
                let (ny, nx) = ((y + i).checked_sub(1)?, (x + j).checked_sub(1)?);
                (ny < self.height && nx < self.width).then(|| {
                    let pixel = (b * self.height + ny) * self.width + nx;
                    (i * 3 + j, pixel * self.channels)
                })
            })
        })
    }
}

/// `out += a · b`, element by element.
#[inline]
fn multiply_add(out: &mut [f32], a: &[f32], b: &[f32]) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o += x * y;
    }
}

/// The convolution of `input: [B, H, W, C]` with `taps: [9, C]` plus `bias: [C]`.
pub(super) fn forward(input: &[f32], shape: MapShape, taps: &[f32], bias: &[f32]) -> Vec<f32> {
    let channels = shape.channels;
    assert_eq!(input.len(), shape.len(), "depthwise 3×3: input length");
    assert_eq!(taps.len(), TAPS * channels, "depthwise 3×3: taps length");
    assert_eq!(bias.len(), channels, "depthwise 3×3: bias length");
    let mut output = vec![0.0f32; shape.len()];
    if shape.len() == 0 {
        return output;
    }
    output
        .par_chunks_mut(shape.row_len())
        .enumerate()
        .for_each(|(row, out_row)| {
            let (b, y) = (row / shape.height, row % shape.height);
            for (x, out) in out_row.chunks_exact_mut(channels).enumerate() {
                out.copy_from_slice(bias);
                for (tap, offset) in shape.neighbours(b, y, x) {
                    multiply_add(
                        out,
                        &input[offset..offset + channels],
                        &taps[tap * channels..(tap + 1) * channels],
                    );
                }
            }
        });
    output
}

/// The input gradient for `output_grad: [B, H, W, C]`: the same convolution with the kernel
/// rotated by 180° and no bias.
pub(super) fn input_grad(output_grad: &[f32], shape: MapShape, taps: &[f32]) -> Vec<f32> {
    let channels = shape.channels;
    let rotated: Vec<f32> = (0..TAPS)
        .rev()
        .flat_map(|tap| taps[tap * channels..(tap + 1) * channels].iter().copied())
        .collect();
    forward(output_grad, shape, &rotated, &vec![0.0; channels])
}

/// The tap gradient `[9, C]` and bias gradient `[C]` for `input` and `output_grad`, both
/// `[B, H, W, C]`.
pub(super) fn parameter_grads(
    input: &[f32],
    output_grad: &[f32],
    shape: MapShape,
) -> (Vec<f32>, Vec<f32>) {
    let channels = shape.channels;
    assert_eq!(input.len(), shape.len(), "depthwise 3×3: input length");
    assert_eq!(
        output_grad.len(),
        shape.len(),
        "depthwise 3×3: gradient length"
    );
    let rows = shape.batch * shape.height;
    // Per image row: 9 tap sums then the bias sum, each a run of C channels.
    let partials: Vec<Vec<f32>> = (0..rows)
        .into_par_iter()
        .map(|row| {
            let (b, y) = (row / shape.height, row % shape.height);
            let mut sums = vec![0.0f32; (TAPS + 1) * channels];
            for x in 0..shape.width {
                let at = ((b * shape.height + y) * shape.width + x) * channels;
                let grad = &output_grad[at..at + channels];
                for (tap, offset) in shape.neighbours(b, y, x) {
                    multiply_add(
                        &mut sums[tap * channels..(tap + 1) * channels],
                        grad,
                        &input[offset..offset + channels],
                    );
                }
                for (sum, &g) in sums[TAPS * channels..].iter_mut().zip(grad) {
                    *sum += g;
                }
            }
            sums
        })
        .collect();
    let mut totals = vec![0.0f32; (TAPS + 1) * channels];
    for partial in &partials {
        for (total, &value) in totals.iter_mut().zip(partial) {
            *total += value;
        }
    }
    let bias_grad = totals.split_off(TAPS * channels);
    (totals, bias_grad)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHAPE: MapShape = MapShape {
        batch: 2,
        height: 3,
        width: 4,
        channels: 2,
    };

    fn at(b: usize, y: usize, x: usize, c: usize) -> usize {
        ((b * SHAPE.height + y) * SHAPE.width + x) * SHAPE.channels + c
    }

    fn ramp(len: usize, scale: f32) -> Vec<f32> {
        (0..len).map(|k| (k as f32 * scale).sin()).collect()
    }

    /// The convolution written from its definition, with explicit zero padding.
    fn reference(input: &[f32], taps: &[f32], bias: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0; SHAPE.len()];
        for b in 0..SHAPE.batch {
            for y in 0..SHAPE.height {
                for x in 0..SHAPE.width {
                    for c in 0..SHAPE.channels {
                        let mut sum = bias[c];
                        for i in 0..3 {
                            for j in 0..3 {
                                let (ny, nx) =
                                    (y as isize + i as isize - 1, x as isize + j as isize - 1);
                                if (0..SHAPE.height as isize).contains(&ny)
                                    && (0..SHAPE.width as isize).contains(&nx)
                                {
                                    sum += taps[(i * 3 + j) * SHAPE.channels + c]
                                        * input[at(b, ny as usize, nx as usize, c)];
                                }
                            }
                        }
                        out[at(b, y, x, c)] = sum;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn forward_matches_the_definition() {
        let input = ramp(SHAPE.len(), 0.37);
        let taps = ramp(TAPS * SHAPE.channels, 1.3);
        let bias = vec![0.5, -0.25];
        let got = forward(&input, SHAPE, &taps, &bias);
        for (g, w) in got.iter().zip(reference(&input, &taps, &bias)) {
            assert!((g - w).abs() < 1e-6, "{g} vs {w}");
        }
    }

    #[test]
    fn gradients_match_finite_differences_of_a_linear_map() {
        // The convolution is linear, so ⟨grad, ∂out/∂θ⟩ is exact under unit perturbations.
        let input = ramp(SHAPE.len(), 0.37);
        let taps = ramp(TAPS * SHAPE.channels, 1.3);
        let bias = vec![0.5, -0.25];
        let grad = ramp(SHAPE.len(), 0.71);
        let objective = |input: &[f32], taps: &[f32], bias: &[f32]| -> f64 {
            reference(input, taps, bias)
                .iter()
                .zip(&grad)
                .map(|(o, g)| f64::from(*o) * f64::from(*g))
                .sum()
        };
        let base = objective(&input, &taps, &bias);
        let input_grad = input_grad(&grad, SHAPE, &taps);
        for k in 0..input.len() {
            let mut moved = input.clone();
            moved[k] += 1.0;
            let change = objective(&moved, &taps, &bias) - base;
            assert!(
                (change - f64::from(input_grad[k])).abs() < 1e-4,
                "input {k}"
            );
        }
        let (taps_grad, bias_grad) = parameter_grads(&input, &grad, SHAPE);
        for k in 0..taps.len() {
            let mut moved = taps.clone();
            moved[k] += 1.0;
            let change = objective(&input, &moved, &bias) - base;
            assert!((change - f64::from(taps_grad[k])).abs() < 1e-4, "tap {k}");
        }
        for c in 0..SHAPE.channels {
            let mut moved = bias.clone();
            moved[c] += 1.0;
            let change = objective(&input, &taps, &moved) - base;
            assert!((change - f64::from(bias_grad[c])).abs() < 1e-4, "bias {c}");
        }
    }
}

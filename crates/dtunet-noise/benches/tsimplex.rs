//! Tsimplex generation speed for the paper's training batch (`32×1×224×224`, 6 octaves,
//! persistence 0.9, frequency 64) and a 3-channel batch (`8×3×224×224`), plus one noise4
//! evaluation. The Python peer is `benches/peers/tsimplex_reference.py`.

use criterion::{Criterion, criterion_group, criterion_main};
use dtunet_noise::{BatchShape, NoiseConfig, OpenSimplex};
use std::hint::black_box;

fn timesteps(batch: usize) -> Vec<u32> {
    (0..batch as u32).map(|b| (b * 37 + 11) % 1000).collect()
}

fn tsimplex_batches(c: &mut Criterion) {
    let config = NoiseConfig::default();
    let mut group = c.benchmark_group("tsimplex");
    group.sample_size(10);
    for shape in [
        BatchShape::new(32, 1, 224, 224),
        BatchShape::new(8, 3, 224, 224),
    ] {
        let t = timesteps(shape.batch);
        group.bench_function(shape.to_string(), |bench| {
            bench.iter(|| {
                config
                    .generate(black_box(shape), &t, 1234, 5678)
                    .expect("valid request")
            })
        });
    }
    group.finish();
}

fn noise4_point(c: &mut Criterion) {
    let noise = OpenSimplex::new(42);
    let xs: Vec<f64> = (0..224).map(|x| x as f64 / 64.0).collect();
    let mut row = vec![0.0; xs.len()];
    c.bench_function("noise4 row of 224", |bench| {
        bench.iter(|| noise.add_noise4_row(&mut row, black_box(&xs), 1.3, 0.0, 2.7, 0.9))
    });
}

/// One 224×224 image of the paper's six octaves (periods 64 … 2), point by point through the
/// scalar `noise4` against the row evaluator `add_noise4_row` (AVX2 lanes where available).
fn noise4_image_octaves(c: &mut Criterion) {
    let noise = OpenSimplex::new(42);
    let periods = [64.0, 32.0, 16.0, 8.0, 4.0, 2.0];
    let columns: Vec<Vec<f64>> = periods
        .iter()
        .map(|p| (0..224).map(|x| x as f64 / p).collect())
        .collect();
    let mut image = vec![0.0; 224 * 224];
    let mut group = c.benchmark_group("noise4 image, 6 octaves");
    group.sample_size(10);
    group.bench_function("scalar noise4", |bench| {
        bench.iter(|| {
            for (xs, p) in columns.iter().zip(periods) {
                for (r, row) in image.chunks_exact_mut(224).enumerate() {
                    for (value, &x) in row.iter_mut().zip(xs) {
                        *value += 0.9 * noise.noise4(x, r as f64 / p, 0.0, 417.0 / p);
                    }
                }
            }
        })
    });
    group.bench_function("add_noise4_row", |bench| {
        bench.iter(|| {
            for (xs, p) in columns.iter().zip(periods) {
                for (r, row) in image.chunks_exact_mut(224).enumerate() {
                    noise.add_noise4_row(row, black_box(xs), r as f64 / p, 0.0, 417.0 / p, 0.9);
                }
            }
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    tsimplex_batches,
    noise4_point,
    noise4_image_octaves
);
criterion_main!(benches);

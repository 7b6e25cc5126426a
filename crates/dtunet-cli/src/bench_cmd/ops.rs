//! `dtunet bench ops`: the two operations dtunet fuses on the CPU backends — attention's
//! softmax and DAFF's depthwise 3×3 convolution — timed against the other forms each backend
//! offers, at the shapes of a model configuration.
//!
//! For each operation, the form a training step uses on this backend (`dtunet`) and its
//! alternatives compute the same function (the largest difference from the first is printed);
//! each is timed forward alone (detection) and forward + backward (training), the variants
//! interleaved within every repeat so a drifting machine affects them alike. A network step
//! runs attention once per transformer block (`depth + 1`) and the depthwise convolution once
//! per DAFF block, so per-call times against `bench train`'s network step give each
//! operation's share of a step: the measured argument for fusing it on a backend or not.

use std::time::Instant;

use anyhow::Result;
use burn::tensor::activation::softmax;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Tensor, TensorData};
use clap::Args;
use dtunet::models::ModelConfig;
use dtunet::models::ops::{
    depthwise_conv3x3, depthwise_conv3x3_composed, depthwise_conv3x3_grouped, scaled_dot_product,
};
use serde_json::json;

use super::{BenchTarget, Summary, check_counts, sync};

#[derive(Debug, Args)]
pub struct OpsBenchArgs {
    /// Image side in pixels.
    #[arg(long, default_value_t = 224)]
    img_size: usize,
    /// Patch side in pixels.
    #[arg(long, default_value_t = 16)]
    patch_size: usize,
    /// Token width D.
    #[arg(long, default_value_t = 384)]
    embed_dim: usize,
    /// Attention heads.
    #[arg(long, default_value_t = 6)]
    heads: usize,
    /// Images per step.
    #[arg(long, default_value_t = 4)]
    batch_size: usize,
    /// Untimed calls first.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Timed calls.
    #[arg(long, default_value_t = 10)]
    repeats: usize,
    #[command(flatten)]
    target: BenchTarget,
}

/// One way of computing an operation from its three `[.., .., .., ..]` inputs.
struct Variant {
    name: &'static str,
    run: fn([Tensor<4>; 3]) -> Tensor<4>,
}

/// An operation at one shape: its inputs and the forms it is timed in, the first being the one
/// a training step on the benchmarked backend uses.
struct Operation {
    name: &'static str,
    shape: String,
    inputs: [TensorData; 3],
    variants: [Variant; 3],
}

/// `softmax(q·kᵀ/√d)·v` of `[B, h, N, d]` heads.
fn attention_operation(config: &ModelConfig, batch: usize) -> Operation {
    let tokens = config.extra_tokens() + config.grid_side().pow(2);
    let head_dim = config.embed_dim / config.heads;
    let dims = [batch, config.heads, tokens, head_dim];
    Operation {
        name: "attention",
        shape: format!(
            "q, k, v [B {batch}, h {}, N {tokens}, d {head_dim}]",
            config.heads
        ),
        inputs: [wave(dims, 0.0), wave(dims, 1.0), wave(dims, 2.0)],
        variants: [
            Variant {
                name: "dtunet",
                run: |[q, k, v]| scaled_dot_product(q, k, v),
            },
            Variant {
                name: "burn attention op",
                run: |[q, k, v]| attention(q, k, v, None, None, AttentionModuleOptions::default()),
            },
            Variant {
                name: "matmul, burn softmax, matmul",
                run: |[q, k, v]| {
                    let head_dim = q.dims()[3] as f64;
                    let scores = (q * head_dim.powf(-0.5)).matmul(k.swap_dims(2, 3));
                    softmax(scores, 3).matmul(v)
                },
            },
        ],
    }
}

/// DAFF's depthwise 3×3 convolution of the `[B, h, w, rD]` token map (taps `[9, rD]` and bias
/// `[rD]` carried as `[1, 1, 9, rD]` and `[1, 1, 1, rD]`).
fn depthwise_operation(config: &ModelConfig, batch: usize) -> Operation {
    let side = config.grid_side();
    let channels = config.hidden_dim();
    Operation {
        name: "depthwise 3x3",
        shape: format!("map [B {batch}, {side}, {side}, C {channels}] (channels last)"),
        inputs: [
            wave([batch, side, side, channels], 0.0),
            wave([1, 1, 9, channels], 1.0),
            wave([1, 1, 1, channels], 2.0),
        ],
        variants: [
            Variant {
                name: "dtunet",
                run: |inputs| call_depthwise(depthwise_conv3x3, inputs),
            },
            Variant {
                name: "nine shifted multiply-adds",
                run: |inputs| call_depthwise(depthwise_conv3x3_composed, inputs),
            },
            Variant {
                name: "burn conv2d, groups = C",
                run: |inputs| call_depthwise(depthwise_conv3x3_grouped, inputs),
            },
        ],
    }
}

/// Calls a depthwise form `(map [B, h, w, C], taps [9, C], bias [C])` on its inputs, the taps
/// and bias unpacked from their rank-4 carriers.
fn call_depthwise(
    form: fn(Tensor<4>, Tensor<2>, Tensor<1>) -> Tensor<4>,
    [map, taps, bias]: [Tensor<4>; 3],
) -> Tensor<4> {
    let channels = map.dims()[3];
    form(map, taps.reshape([9, channels]), bias.reshape([channels]))
}

/// Deterministic values in [-0.5, 0.5] of shape `dims`, `phase` telling inputs apart.
fn wave<const D: usize>(dims: [usize; D], phase: f32) -> TensorData {
    let len = dims.iter().product::<usize>();
    let values: Vec<f32> = (0..len)
        .map(|i| 0.5 * (i as f32 * 0.37 + phase).sin())
        .collect();
    TensorData::new(values, dims)
}

/// The timings of one variant.
struct Timings {
    forward_ms: Vec<f64>,
    forward_backward_ms: Vec<f64>,
    max_difference: f32,
}

fn time_operation(
    operation: &Operation,
    args: &OpsBenchArgs,
    device: &Device,
) -> Result<Vec<Timings>> {
    let train_device = device.clone().autodiff();
    let plain = operation
        .inputs
        .clone()
        .map(|data| Tensor::<4>::from_data(data, device));
    let tracked = operation
        .inputs
        .clone()
        .map(|data| Tensor::<4>::from_data(data, &train_device).require_grad());
    let outputs: Vec<TensorData> = operation
        .variants
        .iter()
        .map(|variant| (variant.run)(plain.clone()).into_data())
        .collect();
    let mut timings = Vec::with_capacity(outputs.len());
    for output in &outputs {
        timings.push(Timings {
            forward_ms: Vec::with_capacity(args.repeats),
            forward_backward_ms: Vec::with_capacity(args.repeats),
            max_difference: largest_difference(output, &outputs[0])?,
        });
    }
    for repeat in 0..args.warmup + args.repeats {
        for (variant, timing) in operation.variants.iter().zip(&mut timings) {
            // Outputs and gradients live until the device has finished them, so a lazy
            // backend cannot skip the work.
            let start = Instant::now();
            let output = (variant.run)(plain.clone());
            sync(device)?;
            let forward = start.elapsed();
            drop(output);

            let start = Instant::now();
            let gradients = (variant.run)(tracked.clone()).sum().backward();
            sync(&train_device)?;
            let forward_backward = start.elapsed();
            drop(gradients);

            if repeat >= args.warmup {
                timing.forward_ms.push(forward.as_secs_f64() * 1e3);
                timing
                    .forward_backward_ms
                    .push(forward_backward.as_secs_f64() * 1e3);
            }
        }
    }
    Ok(timings)
}

fn largest_difference(found: &TensorData, expected: &TensorData) -> Result<f32> {
    let found = found
        .try_to_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let expected = expected
        .try_to_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(found
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max))
}

pub fn bench_ops(args: &OpsBenchArgs) -> Result<()> {
    check_counts(args.repeats, args.batch_size)?;
    let config = ModelConfig {
        img_size: args.img_size,
        patch_size: args.patch_size,
        embed_dim: args.embed_dim,
        heads: args.heads,
        ..ModelConfig::default()
    };
    config.validate()?;
    let device = args.target.start()?;
    let threads = rayon::current_num_threads();
    let mut report = Vec::new();
    if !args.target.json {
        println!(
            "{} on {threads} thread(s); {} timed call(s) after {} warm-up; ms per call",
            args.target.backend, args.repeats, args.warmup
        );
    }
    for operation in [
        attention_operation(&config, args.batch_size),
        depthwise_operation(&config, args.batch_size),
    ] {
        let timings = time_operation(&operation, args, &device)?;
        if !args.target.json {
            println!("{}: {}", operation.name, operation.shape);
            println!(
                "  {:<30} {:>10} {:>14} {:>12}",
                "form", "forward", "fwd+backward", "max |diff|"
            );
        }
        for (variant, timing) in operation.variants.iter().zip(&timings) {
            let forward = Summary::of(&timing.forward_ms);
            let both = Summary::of(&timing.forward_backward_ms);
            if args.target.json {
                report.push(json!({
                    "operation": operation.name,
                    "shape": operation.shape,
                    "form": variant.name,
                    "forward": forward.to_json(&timing.forward_ms),
                    "forward_backward": both.to_json(&timing.forward_backward_ms),
                    "max_difference": timing.max_difference,
                }));
            } else {
                println!(
                    "  {:<30} {:>10.3} {:>14.3} {:>12.2e}",
                    variant.name, forward.median_ms, both.median_ms, timing.max_difference
                );
            }
        }
    }
    if args.target.json {
        let report = json!({
            "bench": "ops",
            "backend": args.target.backend.name(),
            "threads": threads,
            "batch_size": args.batch_size,
            "warmup": args.warmup,
            "repeats": args.repeats,
            "results": report,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}

//! `dtunet noise {eval, generate, stats, bench}`.

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use dtunet::noise::{BatchShape, FractalParams, NoiseConfig, NoiseKind, NoiseSource, OpenSimplex};
use dtunet::noise_study::{
    SweepParameter, SweepSpec, default_sweep, write_noise_grid_png, write_sweep,
};

use crate::UsageError;
use crate::progress::bar;

#[derive(Debug, Args)]
pub struct NoiseArgs {
    #[command(subcommand)]
    command: NoiseCommand,
}

#[derive(Debug, Subcommand)]
enum NoiseCommand {
    /// Evaluate OpenSimplex at coordinate tuples read from stdin (one value per line, 17
    /// significant digits); equal to the Python package `opensimplex` 0.4.5.1.
    Eval(EvalArgs),
    /// Generate a [B, C, H, W] noise batch and write it as .npy (float64) or a .png grid.
    Generate(GenerateArgs),
    /// Study the noise distribution over a parameter sweep (paper Figures 9, 11, 12): CSV
    /// tables and PNG plots.
    Stats(StatsArgs),
    /// Time batch generation (median of repeats), for comparison with the Python reference.
    Bench(BenchArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Dims {
    #[value(name = "2")]
    Two,
    #[value(name = "3")]
    Three,
    #[value(name = "4")]
    Four,
}

#[derive(Debug, Args)]
struct EvalArgs {
    /// Dimensionality of the noise (coordinates per tuple).
    #[arg(long, value_enum)]
    dims: Dims,
    /// OpenSimplex seed (any 64-bit signed integer), as `opensimplex.seed(S)`.
    #[arg(long, allow_hyphen_values = true)]
    seed: i64,
}

/// Noise parameters shared by `generate`, `stats` and `bench` (paper Table 6 defaults).
#[derive(Debug, Args)]
struct NoiseParams {
    /// Noise kind: gauss, tsimplex, tsg, kts, simplex3d, patch4dsimplex (one patch-local
    /// Tsimplex field tiled over P×P patches), multisimplex (patch-local, period F·2^-d by
    /// distance d in patches from the centre) or value (multi-octave value noise, the same
    /// period every octave).
    #[arg(long, default_value = "tsimplex", value_parser = parse_kind)]
    kind: NoiseKind,
    /// Octaves of the fractal sum (≥ 1).
    #[arg(long, default_value_t = 6)]
    octaves: u32,
    /// Amplitude ratio between octaves (> 0).
    #[arg(long, default_value_t = 0.9, allow_hyphen_values = true)]
    persistence: f64,
    /// Base period in pixels of octave 0 (the reference's "frequency"; > 0, larger = smoother).
    #[arg(long, default_value_t = 64.0, allow_hyphen_values = true)]
    frequency: f64,
    /// Patch side P in pixels of kts, patch4dsimplex and multisimplex (must divide height and
    /// width).
    #[arg(long, default_value_t = 16)]
    kts_patch: usize,
    /// KTs spread σ of the per-patch frequency Gaussian, in patches.
    #[arg(long, default_value_t = 4.0, allow_hyphen_values = true)]
    kts_sigma: f64,
    /// Total diffusion steps T of the Tsg blend α = 1 − t/T.
    #[arg(long, default_value_t = 1000)]
    total_steps: u32,
    /// Scale every sample to zero mean and unit variance.
    #[arg(long)]
    standardize: bool,
}

impl NoiseParams {
    fn config(&self) -> Result<NoiseConfig> {
        let config = NoiseConfig {
            kind: self.kind,
            fractal: FractalParams {
                octaves: self.octaves,
                persistence: self.persistence,
                frequency: self.frequency,
            },
            kts_patch_px: self.kts_patch,
            kts_sigma: self.kts_sigma,
            total_steps: self.total_steps,
            standardize: self.standardize,
        };
        config.validate()?;
        Ok(config)
    }
}

#[derive(Debug, Args)]
struct GenerateArgs {
    #[command(flatten)]
    params: NoiseParams,
    /// Batch shape BxCxHxW, e.g. 8x1x64x64.
    #[arg(long, value_parser = parse_shape)]
    shape: BatchShape,
    /// Timestep per sample, comma separated (one value applies to all samples).
    #[arg(long = "t", value_delimiter = ',', required = true)]
    timesteps: Vec<u32>,
    /// Seed. Without --raw-seed: the seed of the run's noise stream, 0..=2^64-1 (the
    /// OpenSimplex and Gaussian seeds are drawn from it); negative values are refused. With
    /// --raw-seed: any integer in -2^63..=2^64-1.
    #[arg(long, default_value = "0", allow_hyphen_values = true, value_parser = parse_seed)]
    seed: i128,
    /// Use --seed directly as `opensimplex.OpenSimplex(seed)` (values above 2^63-1 wrap modulo
    /// 2^64, as the package does), and its 64-bit two's complement as the seed of the Gaussian
    /// stream and the value-noise lattices, to compare with the Python reference.
    #[arg(long)]
    raw_seed: bool,
    /// Output file: .npy (float64, shape [B,C,H,W]) or .png (grid: samples down, channels across).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, Args)]
struct StatsArgs {
    #[command(flatten)]
    params: NoiseParams,
    /// The parameter to sweep.
    #[arg(long, value_parser = parse_sweep)]
    sweep: SweepParameter,
    /// Settings to sweep, comma separated (frequency takes μ with F = 2^μ); default: the
    /// paper's (persistence 0.5..1.0, octaves 1..10, μ 0..7, t 0..100 step 10).
    #[arg(long, value_delimiter = ',')]
    values: Option<Vec<f64>>,
    /// Batch generated per setting.
    #[arg(long, default_value = "4x1x128x128", value_parser = parse_shape)]
    shape: BatchShape,
    /// Timestep of every sample when t is not swept.
    #[arg(long = "t", default_value_t = 50)]
    timestep: u32,
    /// Histogram bins.
    #[arg(long, default_value_t = 100)]
    bins: usize,
    /// Seed (the same for every setting, so only the swept parameter changes).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder (created if missing).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, Args)]
struct BenchArgs {
    #[command(flatten)]
    params: NoiseParams,
    /// Batch shape BxCxHxW.
    #[arg(long, default_value = "32x1x224x224", value_parser = parse_shape)]
    shape: BatchShape,
    /// Timed batches after one warm-up batch.
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

fn parse_kind(text: &str) -> Result<NoiseKind, String> {
    text.parse()
        .map_err(|e: dtunet::noise::NoiseError| e.to_string())
}

/// A `--seed` integer in `-2^63..=2^64-1`; whether a negative one is allowed depends on
/// `--raw-seed`, checked by [`noise_seeds`].
fn parse_seed(text: &str) -> Result<i128, String> {
    text.trim()
        .parse::<i128>()
        .ok()
        .filter(|seed| (i128::from(i64::MIN)..=i128::from(u64::MAX)).contains(seed))
        .ok_or_else(|| format!("{text:?} is not an integer in {}..={}", i64::MIN, u64::MAX))
}

/// How `generate` seeds the batch.
#[derive(Debug, Clone, Copy, PartialEq)]
enum NoiseSeeds {
    /// `--raw-seed`: the OpenSimplex seed and the Gaussian / value-noise seed.
    Raw { simplex_seed: i64, gauss_seed: u64 },
    /// The seed of a [`NoiseSource`] stream.
    Stream(u64),
}

/// Resolves `--seed` and `--raw-seed`. A raw seed is taken modulo 2^64 (its 64-bit two's
/// complement), exactly as `opensimplex.OpenSimplex(seed)` reduces its seed; a stream seed
/// must be non-negative.
fn noise_seeds(seed: i128, raw_seed: bool) -> Result<NoiseSeeds> {
    if raw_seed {
        let bits = seed as u64;
        return Ok(NoiseSeeds::Raw {
            simplex_seed: bits as i64,
            gauss_seed: bits,
        });
    }
    match u64::try_from(seed) {
        Ok(seed) => Ok(NoiseSeeds::Stream(seed)),
        Err(_) => bail!(UsageError(format!(
            "--seed {seed} is negative: without --raw-seed the seed starts the run's noise \
             stream and must be in 0..={}; add --raw-seed to use {seed} as the OpenSimplex seed",
            u64::MAX
        ))),
    }
}

fn parse_shape(text: &str) -> Result<BatchShape, String> {
    text.parse()
        .map_err(|e: dtunet::noise::NoiseError| e.to_string())
}

fn parse_sweep(text: &str) -> Result<SweepParameter, String> {
    text.parse().map_err(|e: dtunet::DtunetError| e.to_string())
}

pub fn run(args: NoiseArgs) -> Result<()> {
    match args.command {
        NoiseCommand::Eval(args) => eval(args),
        NoiseCommand::Generate(args) => generate(args),
        NoiseCommand::Stats(args) => stats(args),
        NoiseCommand::Bench(args) => bench(args),
    }
}

fn eval(args: EvalArgs) -> Result<()> {
    let noise = OpenSimplex::new(args.seed);
    let dims = match args.dims {
        Dims::Two => 2,
        Dims::Three => 3,
        Dims::Four => 4,
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut tuple = Vec::with_capacity(dims);
    for (line_index, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.context("cannot read stdin")?;
        for token in line.split_whitespace() {
            let value: f64 = token.parse().map_err(|_| {
                UsageError(format!(
                    "line {}: {token:?} is not a number",
                    line_index + 1
                ))
            })?;
            if !value.is_finite() {
                bail!(UsageError(format!(
                    "line {}: {token} is not a finite coordinate",
                    line_index + 1
                )));
            }
            tuple.push(value);
            if tuple.len() == dims {
                let value = match dims {
                    2 => noise.noise2(tuple[0], tuple[1]),
                    3 => noise.noise3(tuple[0], tuple[1], tuple[2]),
                    _ => noise.noise4(tuple[0], tuple[1], tuple[2], tuple[3]),
                };
                writeln!(out, "{}", format_17_significant(value))?;
                tuple.clear();
            }
        }
    }
    if !tuple.is_empty() {
        bail!(UsageError(format!(
            "input ended inside a tuple: {} of {dims} coordinates left over",
            tuple.len()
        )));
    }
    out.flush()?;
    Ok(())
}

/// `value` with 17 significant digits in the style of C's `%.17g`, so it round-trips exactly.
fn format_17_significant(value: f64) -> String {
    if value == 0.0 || !value.is_finite() {
        return format!("{value}");
    }
    let scientific = format!("{value:.16e}");
    let exponent: i32 = scientific
        .rsplit('e')
        .next()
        .and_then(|e| e.parse().ok())
        .unwrap_or(0);
    if (-5..17).contains(&exponent) {
        let decimals = (16 - exponent) as usize;
        let fixed = format!("{value:.decimals$}");
        if fixed.contains('.') {
            fixed
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string()
        } else {
            fixed
        }
    } else {
        scientific
    }
}

fn generate(args: GenerateArgs) -> Result<()> {
    let config = args.params.config()?;
    config.validate_request(args.shape, &args.timesteps)?;
    let format = args
        .out
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if format != "npy" && format != "png" {
        bail!(UsageError(format!(
            "--out {}: unknown format; use a .npy or .png file name",
            args.out.display()
        )));
    }
    let field = match noise_seeds(args.seed, args.raw_seed)? {
        NoiseSeeds::Raw {
            simplex_seed,
            gauss_seed,
        } => config.generate(args.shape, &args.timesteps, simplex_seed, gauss_seed)?,
        NoiseSeeds::Stream(seed) => {
            NoiseSource::new(config, seed)?.sample(args.shape, &args.timesteps)?
        }
    };
    if format == "npy" {
        let shape = [
            args.shape.batch,
            args.shape.channels,
            args.shape.height,
            args.shape.width,
        ];
        dtunet::io::write_npy_f64(&args.out, &shape.map(|d| d as u64), &field.data)?;
    } else {
        write_noise_grid_png(&args.out, &field)?;
    }
    let moments = dtunet::noise::Moments::of(&field.data);
    eprintln!(
        "wrote {} ({} {}, mean {:.4}, std {:.4}, kurtosis {:.4})",
        args.out.display(),
        config.kind,
        args.shape,
        moments.mean,
        moments.std,
        moments.kurtosis
    );
    Ok(())
}

fn stats(args: StatsArgs) -> Result<()> {
    let base = args.params.config()?;
    let spec = SweepSpec {
        values: args.values.unwrap_or_else(|| args.sweep.default_values()),
        base,
        shape: args.shape,
        timestep: args.timestep,
        bins: args.bins,
        seed: args.seed,
        ..default_sweep(args.sweep)
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create output folder {}", args.out.display()))?;
    let progress = bar(spec.values.len() as u64, "settings");
    progress.set_message(format!("{} sweep", spec.parameter));
    let points = spec.run(|| progress.inc(1))?;
    progress.finish();
    let files = write_sweep(&args.out, &spec, &points)?;
    println!(
        "{:>12} {:>10} {:>10} {:>10} {:>10}",
        spec.parameter.name(),
        "mean",
        "std",
        "skewness",
        "kurtosis"
    );
    for p in &points {
        let m = &p.moments;
        println!(
            "{:>12} {:>10.4} {:>10.4} {:>10.4} {:>10.4}",
            p.value, m.mean, m.std, m.skewness, m.kurtosis
        );
    }
    eprintln!(
        "wrote {}, {}, {}, {}",
        files.stats_csv.display(),
        files.histograms_csv.display(),
        files.histograms_png.display(),
        files.kurtosis_png.display()
    );
    Ok(())
}

fn bench(args: BenchArgs) -> Result<()> {
    let config = args.params.config()?;
    if args.repeats == 0 {
        bail!(UsageError("--repeats must be at least 1".into()));
    }
    let pool = rayon_pool(args.threads)?;
    let timesteps: Vec<u32> = (0..args.shape.batch as u32)
        .map(|b| (b * 37 + 11) % 1000)
        .collect();
    let mut source = NoiseSource::new(config, 0)?;
    let mut times_ms = Vec::with_capacity(args.repeats);
    for repeat in 0..=args.repeats {
        let start = Instant::now();
        pool.install(|| source.sample(args.shape, &timesteps))?;
        let elapsed_ms = start.elapsed().as_secs_f64() * 1e3;
        if repeat > 0 {
            println!("batch {repeat}: {elapsed_ms:.1} ms");
            times_ms.push(elapsed_ms);
        }
    }
    times_ms.sort_by(f64::total_cmp);
    let median = if times_ms.len() % 2 == 1 {
        times_ms[times_ms.len() / 2]
    } else {
        0.5 * (times_ms[times_ms.len() / 2 - 1] + times_ms[times_ms.len() / 2])
    };
    println!(
        "median_ms={median:.2} min_ms={:.2} max_ms={:.2} threads={}",
        times_ms[0],
        times_ms[times_ms.len() - 1],
        pool.current_num_threads()
    );
    Ok(())
}

fn rayon_pool(threads: Option<usize>) -> Result<rayon::ThreadPool> {
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(threads) = threads {
        if threads == 0 {
            bail!(UsageError("--threads must be at least 1".into()));
        }
        builder = builder.num_threads(threads);
    }
    builder.build().context("cannot start worker threads")
}

#[cfg(test)]
mod tests {
    use super::{NoiseSeeds, format_17_significant, noise_seeds, parse_seed};

    #[test]
    fn raw_seeds_wrap_modulo_2_64_and_stream_seeds_must_not_be_negative() {
        let raw = |seed| noise_seeds(seed, true).expect("any raw seed");
        assert_eq!(
            raw(-31),
            NoiseSeeds::Raw {
                simplex_seed: -31,
                gauss_seed: u64::MAX - 30
            }
        );
        assert_eq!(raw(1 << 63), raw(i128::from(i64::MIN)));
        assert_eq!(raw(i128::from(u64::MAX)), raw(-1));
        assert_eq!(
            noise_seeds(i128::from(u64::MAX), false).expect("valid"),
            NoiseSeeds::Stream(u64::MAX)
        );
        let refused = noise_seeds(-31, false).expect_err("negative stream seed");
        assert!(
            refused.to_string().contains("--seed -31 is negative"),
            "{refused}"
        );
        assert_eq!(parse_seed("-31"), Ok(-31));
        assert!(parse_seed("18446744073709551616").is_err());
        assert!(parse_seed("-9223372036854775809").is_err());
        assert!(parse_seed("1.5").is_err());
    }

    #[test]
    fn seventeen_significant_digits_round_trip() {
        for value in [
            -0.43906247097569345,
            0.04520359600370195,
            1.5e-7,
            -2.0,
            0.1,
            123456.789,
            1e20,
        ] {
            let text = format_17_significant(value);
            assert_eq!(text.parse::<f64>().expect("parses"), value, "{text}");
        }
        assert_eq!(
            format_17_significant(-0.43906247097569345),
            "-0.43906247097569345"
        );
        assert_eq!(format_17_significant(-2.0), "-2");
    }
}

//! `dtunet data {inspect, bench}`: look at a dataset folder through the loaders.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use dtunet::data::brats::{Modality, SliceRange};
use dtunet::data::inspect::inspect;
use dtunet::data::{Channels, DataOptions, Dataset, ImageSize, Layout, Split};
use rayon::prelude::*;

use crate::dataset_args::{parse_layout, parse_modality, parse_size, parse_slices, parse_split};
use crate::progress::bar;

#[derive(Debug, Args)]
pub struct DataArgs {
    #[command(subcommand)]
    command: DataCommand,
}

#[derive(Debug, Subcommand)]
enum DataCommand {
    /// Summarise a dataset folder: counts per split and class, stored image sizes, mask
    /// coverage, and problems (unpaired masks, unreadable files, size mismatches) with their
    /// paths. Run it first on a new folder.
    Inspect(InspectArgs),
    /// Stream a split through the loader on all cores and print images/s.
    Bench(BenchArgs),
}

/// Where a dataset is and how to read it.
#[derive(Debug, Args)]
struct SourceArgs {
    /// The dataset folder.
    #[arg(long)]
    data: PathBuf,
    /// Its layout: folder (train/, test/, masks/), mvtec, brainmri (no/, yes/) or brats.
    #[arg(long, value_parser = parse_layout)]
    layout: Layout,
    /// MVTec category (a folder of --data); not needed when --data is the category folder.
    #[arg(long)]
    category: Option<String>,
    /// Size samples are resized to: N (square) or HEIGHTxWIDTH.
    #[arg(long, default_value = "224", value_parser = parse_size)]
    img_size: ImageSize,
    /// Channels, 1 or 3 [default: 1 for brainmri and brats, 3 otherwise].
    #[arg(long)]
    channels: Option<usize>,
    /// brainmri: fraction of the no/ images held out for testing, in [0, 1).
    #[arg(long, default_value_t = 0.2)]
    test_fraction: f64,
    /// brainmri: seed of the shuffle that picks the held-out images.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// brats: MRI sequence, one of t1, t1ce, t2, flair.
    #[arg(long, default_value = "flair", value_parser = parse_modality)]
    modality: Modality,
    /// brats: axial slices START..END (END excluded) [default: all].
    #[arg(long, value_parser = parse_slices)]
    slices: Option<SliceRange>,
    /// brats: decoded cases kept in memory (about 54 MB each for 240x240x155).
    #[arg(long, default_value_t = 4)]
    cache_volumes: usize,
}

impl SourceArgs {
    /// The loader options these arguments describe.
    fn options(&self) -> Result<DataOptions> {
        let mut options = DataOptions::new(self.layout, self.img_size);
        if let Some(channels) = self.channels {
            options.transform.channels = Channels::from_count(channels)?;
        }
        options.category.clone_from(&self.category);
        options.brainmri.test_fraction = self.test_fraction;
        options.brainmri.seed = self.seed;
        options.brats.modality = self.modality;
        options.brats.slices = self.slices;
        options.brats.cache_volumes = self.cache_volumes;
        Ok(options)
    }

    /// Opens the dataset.
    fn open(&self) -> Result<(Box<dyn Dataset>, DataOptions)> {
        let options = self.options()?;
        let dataset = self.layout.open(&self.data, &options).with_context(|| {
            format!(
                "cannot open {} as a {} dataset",
                self.data.display(),
                self.layout
            )
        })?;
        Ok((dataset, options))
    }
}

#[derive(Debug, Args)]
struct InspectArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Print the report as JSON (on stdout) instead of tables.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct BenchArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// The split to stream.
    #[arg(long, default_value = "train", value_parser = parse_split)]
    split: Split,
    /// Stream at most this many samples.
    #[arg(long)]
    limit: Option<usize>,
    /// Worker threads [default: one per core].
    #[arg(long)]
    threads: Option<usize>,
}

pub fn run(args: DataArgs) -> Result<()> {
    match args.command {
        DataCommand::Inspect(args) => run_inspect(args),
        DataCommand::Bench(args) => run_bench(args),
    }
}

fn run_inspect(args: InspectArgs) -> Result<()> {
    let (dataset, options) = args.source.open()?;
    let total = Split::ALL
        .iter()
        .map(|&split| dataset.len(split))
        .sum::<usize>();
    let progress = bar(total as u64, "images");
    progress.set_message("reading");
    let report = inspect(
        dataset.as_ref(),
        args.source.layout,
        options.transform,
        &|| progress.inc(1),
    );
    progress.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    Ok(())
}

fn run_bench(args: BenchArgs) -> Result<()> {
    let (dataset, options) = args.source.open()?;
    let count = args.limit.map_or(dataset.len(args.split), |limit| {
        limit.min(dataset.len(args.split))
    });
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(threads) = args.threads {
        pool = pool.num_threads(threads);
    }
    let pool = pool.build().context("cannot start the worker threads")?;
    let progress = bar(count as u64, "images");
    let start = Instant::now();
    // One sample per worker at a time: memory stays bounded whatever the dataset size.
    let values = pool.install(|| {
        (0..count)
            .into_par_iter()
            .try_fold(
                || 0usize,
                |values, index| -> dtunet::Result<usize> {
                    let sample = dataset.get(args.split, index)?;
                    progress.inc(1);
                    Ok(values + sample.image.len())
                },
            )
            .try_reduce(|| 0, |a, b| Ok(a + b))
    })?;
    let seconds = start.elapsed().as_secs_f64();
    progress.finish_and_clear();
    let expected = count * options.transform.size.pixels() * options.transform.channels.count();
    anyhow::ensure!(
        values == expected,
        "streamed {values} values, expected {expected}"
    );
    println!(
        "streamed {count} {} images of {} ({} layout) to {} with {} channel(s) in {seconds:.2} s: \
         {:.0} images/s on {} threads",
        args.split.name(),
        dataset.root().display(),
        args.source.layout,
        options.transform.size,
        options.transform.channels.count(),
        count as f64 / seconds.max(f64::EPSILON),
        pool.current_num_threads(),
    );
    Ok(())
}

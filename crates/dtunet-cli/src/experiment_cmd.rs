//! `dtunet experiment`: the paper's studies (and the user's own) as one command — `run` a grid
//! of cells unattended and resumable, `show` / `list` the built-in studies, `report` merged
//! shard folders.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use dtunet::backend::BackendKind;
use dtunet::data::synth::{Lesions, Material, SynthConfig, SynthKind, write_dataset};
use dtunet::data::{Dataset, Split};
use dtunet::detection::{DetectProgress, detect, load_trained};
use dtunet::evaluate::{
    CLASSES_FILE, ClassOfStem, DEFAULT_MAX_EXACT_PIXELS, EvalConfig, MapSource, evaluate,
    parse_threshold, read_class_json,
};
use dtunet::experiment::plan::PLAN_FILE;
use dtunet::experiment::report::StudyResults;
use dtunet::experiment::runner::{Phase, RunSummary};
use dtunet::experiment::{
    BUILT_IN_STUDIES, Cell, CellRecord, CellScores, CellStatus, CellWork, DetectSettings, Metric,
    Plan, RunOptions, Shard, Study, StudyObserver, TrainedModelInfo, Training, run_study,
    write_outputs,
};
use dtunet::training::{Preset, Start, StepRecord, TrainObserver, TrainingImages, train};
use indicatif::{MultiProgress, ProgressBar};

use crate::UsageError;
use crate::dataset_args::DatasetFormat;
use crate::eval_cmd::show_eval_progress;
use crate::progress::bar;
use crate::train_cmd::{TrainOverrides, parse};

/// Training images of the embedded synthetic brain set.
const EMBEDDED_TRAIN_IMAGES: usize = 240;
/// Test images of the embedded synthetic brain set.
const EMBEDDED_TEST_IMAGES: usize = 40;

#[derive(Debug, Args)]
pub struct ExperimentArgs {
    #[command(subcommand)]
    command: ExperimentCommand,
}

#[derive(Debug, Subcommand)]
enum ExperimentCommand {
    /// Run a study: train each distinct model once, detect and score every cell, write
    /// results.csv, table.{md,csv,tex}, plots and report.html. Re-running into the same --out
    /// resumes (finished cells are skipped, an interrupted training continues from its last
    /// checkpoint).
    Run(Box<RunArgs>),
    /// Print a built-in study's TOML (copy it, edit it, run the file).
    Show {
        /// The study's name (dtunet experiment list).
        name: String,
    },
    /// Name the built-in studies.
    List,
    /// Merge study folders (e.g. the shards of one study run on several machines) into one
    /// results.csv, table, plots and report.
    Report {
        /// Study folders written by dtunet experiment run with the same study and settings.
        #[arg(required = true)]
        folders: Vec<PathBuf>,
        /// Where the merged outputs go [default: the first folder].
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// A built-in study (table5-losses, fig13-noise-steps, fig7-averaging, fig10-backbones) or
    /// a study TOML file.
    study: String,
    /// Dataset folder [default: the embedded synthetic brain set, generated into --out/data].
    #[arg(long)]
    data: Option<PathBuf>,
    #[command(flatten)]
    format: DatasetFormat,
    /// The study folder: plan.json, models/, cells/, results.csv, tables, plots, report.html.
    #[arg(long)]
    out: PathBuf,
    /// Base settings every cell starts from: demo (a small CPU model), texture (demo at 64 px)
    /// or paper (Table 6).
    #[arg(long, default_value = "demo", value_parser = parse::<Preset>)]
    preset: Preset,
    /// A TOML training configuration over the preset and the study's own settings.
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    overrides: TrainOverrides,
    /// Partial-diffusion depth t_λ at detection [default: the study's].
    #[arg(long)]
    t_lambda: Option<usize>,
    /// Reconstructions averaged per test image [default: the study's].
    #[arg(long)]
    samples: Option<usize>,
    /// Strided reverse chain with this many network evaluations at detection.
    #[arg(long)]
    detect_steps: Option<usize>,
    /// Test images per detection batch [default: the study's].
    #[arg(long)]
    detect_batch_size: Option<usize>,
    /// Error map se or ae [default: the study's].
    #[arg(long)]
    map: Option<String>,
    /// Binarisation otsu, fixed:V, percentile:P or best [default: the study's].
    #[arg(long)]
    threshold: Option<String>,
    /// Smooth every map with a Gaussian of this σ in pixels before scoring [default: the
    /// study's, else 0].
    #[arg(long)]
    smooth: Option<f64>,
    /// Zero the maps outside the dataset's foreground.
    #[arg(long)]
    foreground: bool,
    /// Treat test images without a mask as all-normal.
    #[arg(long)]
    allow_missing_masks: bool,
    /// Run the k-th of n deterministic parts of the cells (whole models with their cells),
    /// e.g. 2/4 for the second machine of four; merge with dtunet experiment report.
    #[arg(long, default_value = "1/1", value_parser = parse::<Shard>)]
    shard: Shard,
    /// Continue the study in --out (it must hold one); re-running without --resume continues
    /// too when --out holds the same study.
    #[arg(long)]
    resume: bool,
    /// Print the cells, the models they share and the shard's part, then stop.
    #[arg(long)]
    dry_run: bool,
    /// Run the cells recorded as failed again.
    #[arg(long)]
    retry_failed: bool,
    /// Replace a study already in --out.
    #[arg(long, conflicts_with = "resume")]
    overwrite: bool,
    /// Compute backend: flex (CPU), or cuda / wgpu / tch when built with that feature.
    #[arg(long, default_value = "flex", value_parser = parse::<BackendKind>)]
    backend: BackendKind,
    /// GPU index for cuda / tch.
    #[arg(long)]
    device_index: Option<usize>,
}

pub fn run(args: ExperimentArgs) -> Result<()> {
    match args.command {
        ExperimentCommand::Run(args) => run_command(*args),
        ExperimentCommand::Show { name } => {
            let (_, text) = BUILT_IN_STUDIES
                .iter()
                .find(|(known, _)| *known == name)
                .ok_or_else(|| UsageError(format!("no built-in study {name:?}: {}", names())))?;
            print!("{text}");
            Ok(())
        }
        ExperimentCommand::List => {
            for (name, text) in BUILT_IN_STUDIES {
                let study = Study::parse(text, name)?;
                println!("{name:<20} {}", study.title);
            }
            Ok(())
        }
        ExperimentCommand::Report { folders, out } => {
            let results = StudyResults::load(&folders)?;
            let out = out.unwrap_or_else(|| folders[0].clone());
            let outputs = write_outputs(&results, &out)?;
            let (done, failed) = results.counts();
            print!("{}", outputs.table_text);
            println!(
                "{} folder(s) merged: {done} cells done, {failed} failed, {} not run",
                folders.len(),
                results.cells.len() - done - failed
            );
            println!(
                "results: {}; report: {}",
                outputs.results_csv.display(),
                outputs.report_html.display()
            );
            Ok(())
        }
    }
}

fn names() -> String {
    let names: Vec<&str> = BUILT_IN_STUDIES.iter().map(|(name, _)| *name).collect();
    format!("the built-in studies are {}", names.join(", "))
}

/// Entries a study run writes into its folder (what --overwrite removes).
const STUDY_ENTRIES: [&str; 11] = [
    PLAN_FILE,
    "study.toml",
    "study.log",
    "cells",
    "models",
    "data",
    "results.csv",
    "table.md",
    "table.csv",
    "table.tex",
    "report.html",
];

fn run_command(args: RunArgs) -> Result<()> {
    let started = Instant::now();
    let study = Study::load(&args.study)?;
    let mut base_train = study.base_train(args.preset)?;
    if let Some(path) = &args.config {
        base_train = dtunet::training::TrainConfig::from_toml_file(path, &base_train)?;
    }
    args.overrides.apply(&mut base_train);
    let mut base_detect = study.detect.clone();
    apply_detect_flags(&args, &mut base_detect)?;
    if args.overrides.seed.is_some() {
        base_detect.seed = base_train.seed;
    }
    let side = base_train.model.img_size;
    let channels = base_train.model.channels;

    prepare_folder(&args)?;
    let (data_folder, data_description) = match &args.data {
        Some(folder) => (
            folder.clone(),
            format!(
                "{} ({} layout{})",
                folder
                    .canonicalize()
                    .unwrap_or_else(|_| folder.clone())
                    .display(),
                args.format.layout,
                args.format
                    .category
                    .as_ref()
                    .map_or_else(String::new, |category| format!(", category {category}"))
            ),
        ),
        None => (
            args.out.join("data"),
            format!(
                "the embedded synthetic brain set ({EMBEDDED_TRAIN_IMAGES} train + \
                 {EMBEDDED_TEST_IMAGES} test images, {side} px, seed 0)"
            ),
        ),
    };
    if let Some(epochs) = args.overrides.epochs {
        let count = if args.data.is_some() {
            args.format
                .open(&data_folder, side, channels)?
                .len(Split::Train)
        } else {
            EMBEDDED_TRAIN_IMAGES
        };
        base_train.steps = (epochs * count).div_ceil(base_train.batch_size).max(1);
    }
    let plan = Plan::new(&study, &base_train, &base_detect, &data_description)?;
    if args.dry_run {
        print_plan(&plan, args.shard);
        return Ok(());
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    plan.claim_folder(&args.out)?;
    if args.data.is_none() {
        write_embedded_set(&data_folder, side, channels)?;
    }
    let dataset = args.format.open(&data_folder, side, channels)?;

    eprintln!(
        "study {}: {} cells, {} models to train, shard {} — {}",
        study.name,
        plan.cells.len(),
        plan.trainings.len(),
        args.shard,
        args.out.display()
    );
    let multi = MultiProgress::new();
    let overall = multi.add(bar(0, "cells"));
    let device = args.backend.device(args.device_index)?;
    let mut work = BurnWork {
        dataset,
        images: None,
        device,
        multi: multi.clone(),
    };
    let mut observer = StudyBar {
        overall: overall.clone(),
        multi: multi.clone(),
    };
    let summary = run_study(
        &plan,
        &args.out,
        RunOptions {
            shard: args.shard,
            retry_failed: args.retry_failed,
        },
        &mut work,
        &mut observer,
    )?;
    overall.finish_and_clear();
    report_session(&args.out, &summary, started)
}

/// `--dry-run`: the cells, the models and which of them this shard runs.
fn print_plan(plan: &Plan, shard: Shard) {
    println!(
        "study {}: {} cells, {} models, on {}",
        plan.study.name,
        plan.cells.len(),
        plan.trainings.len(),
        plan.data
    );
    for line in plan.sharing_lines() {
        println!("{line}");
    }
    let held: Vec<&str> = plan
        .trainings
        .iter()
        .enumerate()
        .filter(|(index, _)| shard.holds(*index))
        .map(|(_, training)| training.id.as_str())
        .collect();
    println!("shard {shard} trains {}", held.join(", "));
}

/// The detection flags over the study's `[detect]`.
fn apply_detect_flags(args: &RunArgs, detect: &mut DetectSettings) -> Result<()> {
    if let Some(t_lambda) = args.t_lambda {
        detect.t_lambda = t_lambda;
    }
    if let Some(samples) = args.samples {
        detect.samples = samples;
    }
    if args.detect_steps.is_some() {
        detect.strided_steps = args.detect_steps;
    }
    if let Some(batch_size) = args.detect_batch_size {
        detect.batch_size = batch_size;
    }
    if let Some(map) = &args.map {
        detect.map.clone_from(map);
        detect.map_kind()?;
    }
    if let Some(threshold) = &args.threshold {
        parse_threshold(threshold)?;
        detect.threshold.clone_from(threshold);
    }
    if let Some(smooth) = args.smooth {
        detect.smooth = smooth;
    }
    detect.foreground |= args.foreground;
    detect.allow_missing_masks |= args.allow_missing_masks;
    Ok(())
}

/// Checks --out: empty, or holding a study (resumed, or replaced with --overwrite).
fn prepare_folder(args: &RunArgs) -> Result<()> {
    let out = &args.out;
    let holds_plan = out.join(PLAN_FILE).is_file();
    if args.resume && !holds_plan {
        return Err(UsageError(format!(
            "--resume: {} holds no study to resume (no {PLAN_FILE})",
            out.display()
        ))
        .into());
    }
    if args.overwrite {
        for entry in STUDY_ENTRIES {
            let path = out.join(entry);
            if args.data.is_none() || entry != "data" {
                if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else if path.exists() {
                    std::fs::remove_file(&path)
                } else {
                    Ok(())
                }
                .with_context(|| format!("cannot replace {}", path.display()))?;
            }
        }
        return Ok(());
    }
    let non_empty = std::fs::read_dir(out).is_ok_and(|mut entries| entries.next().is_some());
    if non_empty && !holds_plan {
        return Err(UsageError(format!(
            "{} holds files but no study ({PLAN_FILE}): choose an empty or new --out",
            out.display()
        ))
        .into());
    }
    Ok(())
}

/// Generates the embedded synthetic brain set into `folder` unless it is already complete.
fn write_embedded_set(folder: &Path, side: usize, channels: usize) -> Result<()> {
    if folder.join("dataset.json").is_file() {
        return Ok(());
    }
    if channels != 1 {
        return Err(UsageError(format!(
            "the embedded brain set is grey (1 channel), the model has {channels}: give --data"
        ))
        .into());
    }
    let synth = SynthConfig {
        kind: SynthKind::Brain,
        material: Material::Leather,
        n_train: EMBEDDED_TRAIN_IMAGES,
        n_test: EMBEDDED_TEST_IMAGES,
        height: side,
        width: side,
        seed: 0,
        healthy_fraction: 0.25,
        lesions: Lesions::Clear,
    };
    synth.validate()?;
    eprintln!(
        "generating the embedded synthetic brain set ({side} px) in {}",
        folder.display()
    );
    let progress = bar(
        (EMBEDDED_TRAIN_IMAGES + EMBEDDED_TEST_IMAGES) as u64,
        "images",
    );
    write_dataset(&synth, folder, true, &|| progress.inc(1))
        .context("cannot write the synthetic brain set")?;
    progress.finish_and_clear();
    Ok(())
}

/// Prints the table and the session's counts; an error when cells failed.
fn report_session(out: &Path, summary: &RunSummary, started: Instant) -> Result<()> {
    let results = StudyResults::load(&[out.to_path_buf()])?;
    let table = std::fs::read_to_string(out.join("table.md")).unwrap_or_default();
    print!("{table}");
    println!(
        "this session: {} cells done, {} failed, in {:.0} s; {} recorded before; {} in other \
         shards",
        summary.done,
        summary.failed,
        started.elapsed().as_secs_f64(),
        summary.finished_before,
        summary.other_shards
    );
    println!(
        "results: {}; report: {}",
        out.join("results.csv").display(),
        out.join("report.html").display()
    );
    let failed: Vec<&str> = results
        .records
        .values()
        .filter(|located| located.record.status == CellStatus::Failed)
        .map(|located| located.record.cell.as_str())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "{} cell(s) failed: {} (reasons in results.csv; --retry-failed runs them again)",
            failed.len(),
            failed.join(", ")
        )
    }
}

/// Trains and detects with Burn on the chosen backend.
struct BurnWork {
    dataset: Box<dyn Dataset>,
    /// The training images last loaded, with the hold-out fraction they were loaded for.
    images: Option<(f64, TrainingImages)>,
    device: burn::tensor::Device,
    multi: MultiProgress,
}

impl CellWork for BurnWork {
    fn train(&mut self, training: &Training, folder: &Path) -> dtunet::Result<TrainedModelInfo> {
        let holdout = training.config.calibration_holdout;
        let images = match self.images.take() {
            Some((loaded_for, images)) if loaded_for == holdout => images,
            _ => TrainingImages::load(self.dataset.as_ref(), holdout)?,
        };
        let mut observer = StepBar {
            bar: self.multi.add(bar(training.config.steps as u64, "steps")),
            multi: self.multi.clone(),
        };
        observer
            .bar
            .set_message(format!("training {}", training.id));
        let outcome = train(
            &training.config,
            &images,
            folder,
            Start::Resume,
            &self.device,
            &mut observer,
        );
        observer.bar.finish_and_clear();
        self.multi.remove(&observer.bar);
        self.images = Some((holdout, images));
        let outcome = outcome?;
        Ok(TrainedModelInfo {
            seconds: outcome.seconds,
            tail_loss: outcome.tail_loss,
        })
    }

    fn detect(&mut self, cell: &Cell, model: &Path, out: &Path) -> dtunet::Result<CellScores> {
        let trained = load_trained(model, &self.device)?;
        let config = cell.detect.to_config(out.to_path_buf())?;
        let progress = self.multi.add(bar(0, "images"));
        progress.set_message(format!("detecting {}", cell.id));
        let outputs = detect(
            &trained,
            self.dataset.as_ref(),
            &config,
            &self.device,
            &|event| match event {
                DetectProgress::Started(total) => progress.set_length(total as u64),
                DetectProgress::Reconstructed(count) => progress.inc(count as u64),
                DetectProgress::Eval(step) => show_eval_progress(&progress, step),
            },
        );
        progress.finish_and_clear();
        self.multi.remove(&progress);
        let outputs = outputs?;
        Ok(CellScores::of(
            &outputs.eval.summary,
            outputs.reconstruction_seconds,
        ))
    }

    fn rescore(&mut self, cell: &Cell, source: &Path, out: &Path) -> dtunet::Result<CellScores> {
        let started = Instant::now();
        let detect = &cell.detect;
        let classes_file = source.join(CLASSES_FILE);
        let classes = if classes_file.is_file() {
            read_class_json(&classes_file)?
        } else {
            ClassOfStem::new()
        };
        let maps = if detect.foreground {
            MapSource::Maps(source.join("maps"))
        } else {
            MapSource::Reconstructions(source.join("reconstructions"))
        };
        let eval = evaluate(
            &EvalConfig {
                images: source.join("inputs"),
                source: maps,
                masks: source.join("masks"),
                map_kind: detect.map_kind()?,
                threshold: parse_threshold(&detect.threshold)?,
                calibration: None,
                largest_component: detect.largest_cc,
                smooth_sigma: detect.smooth,
                allow_missing_masks: detect.allow_missing_masks,
                out: out.to_path_buf(),
                overwrite: true,
                max_exact_pixels: DEFAULT_MAX_EXACT_PIXELS,
                classes,
            },
            &|_| {},
        )?;
        Ok(CellScores::of(
            &eval.summary,
            started.elapsed().as_secs_f64(),
        ))
    }
}

/// A training's step bar under the study's bar.
struct StepBar {
    bar: ProgressBar,
    multi: MultiProgress,
}

impl TrainObserver for StepBar {
    fn started(&mut self, start_step: usize, total_steps: usize) {
        self.bar.set_length(total_steps as u64);
        self.bar.set_position(start_step as u64);
        self.bar.reset_eta();
    }

    fn step(&mut self, record: &StepRecord) {
        self.bar.set_position(record.step as u64);
    }

    fn message(&mut self, text: &str) {
        say(&self.multi, text);
    }
}

/// The study's overall bar: cells done of the shard, with rate and ETA.
struct StudyBar {
    overall: ProgressBar,
    multi: MultiProgress,
}

impl StudyObserver for StudyBar {
    fn started(&mut self, pending: usize, finished: usize) {
        self.overall.set_length((pending + finished) as u64);
        self.overall.set_position(finished as u64);
        self.overall.reset_eta();
        if finished > 0 {
            say(
                &self.multi,
                &format!("resuming: {finished} cell(s) already recorded, {pending} to run"),
            );
        }
    }

    fn phase(&mut self, cell: &Cell, phase: Phase) {
        let doing = match phase {
            Phase::Training => "training the model of",
            Phase::Detecting => "detecting",
            Phase::Rescoring => "scoring",
        };
        self.overall.set_message(format!("{doing} {}", cell.id));
    }

    fn cell_finished(&mut self, record: &CellRecord) {
        self.overall.inc(1);
        if record.status == CellStatus::Done {
            let auc = record
                .metric(Metric::AurocPooled)
                .map_or_else(|| "–".into(), |value| format!("{:.4}", value.mean));
            say(
                &self.multi,
                &format!("cell {} done (pixel AUC {auc})", record.cell),
            );
        }
    }

    fn message(&mut self, text: &str) {
        say(&self.multi, text);
    }
}

/// A line above the bars, or on stderr when they are hidden.
fn say(multi: &MultiProgress, text: &str) {
    if multi.is_hidden() {
        eprintln!("{text}");
    } else {
        let _ = multi.println(text);
    }
}

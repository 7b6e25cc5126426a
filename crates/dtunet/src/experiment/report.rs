//! A study's outputs from its recorded cells — one folder, or the folders of several shards
//! merged: `results.csv` (one row per cell), `per_class.csv` (one row per cell and class of the
//! test set, when it has classes), `table.md`, `table.csv`, `table.tex`, one plot per metric
//! (`plot-<metric>.png`) and `report.html`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::axis::Axis;
use super::metrics::{CellRecord, CellStatus, Metric, MetricValue};
use super::plan::{PLAN_FILE, PlanRecord, PlannedCell, key_of};
use super::runner::{CELLS_FOLDER, LOG_FILE, RESULT_FILE, STUDY_FILE};
use super::study::{PlotKind, Study};
use super::tables::{Table, build_table, render_csv, render_html, render_latex, render_markdown};
use crate::error::{DtunetError, Result};
use crate::io::write_atomically;
use crate::report::{BarSeries, LinePlotOptions, Series, bar_plot, csv_text, escape, line_plot};
use crate::training::TrainConfig;

/// A cell's record and the study folder it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct LocatedRecord {
    /// The record.
    pub record: CellRecord,
    /// The study (or shard) folder holding it.
    pub folder: PathBuf,
}

/// Everything recorded for one study, from one or more folders of the same plan.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyResults {
    /// The study.
    pub study: Study,
    /// The data the cells ran on.
    pub data: String,
    /// Every planned cell, in plan order.
    pub cells: Vec<PlannedCell>,
    /// Cell id → its record (a finished record wins over a failed one of another shard).
    pub records: BTreeMap<String, LocatedRecord>,
    /// The folders read.
    pub folders: Vec<PathBuf>,
}

impl StudyResults {
    /// Reads the plan and records of each study folder; all must hold the same plan.
    ///
    /// # Errors
    /// A folder without `plan.json` or `study.toml`, or holding another plan (the first
    /// difference is named).
    pub fn load(folders: &[PathBuf]) -> Result<Self> {
        let mut merged: Option<StudyResults> = None;
        for folder in folders {
            let plan_path = folder.join(PLAN_FILE);
            if !plan_path.is_file() {
                return Err(DtunetError::Study {
                    study: format!("folder {}", folder.display()),
                    problem: format!(
                        "no {PLAN_FILE}: not a folder written by dtunet experiment run"
                    ),
                });
            }
            let plan = PlanRecord::read(&plan_path)?;
            let study_path = folder.join(STUDY_FILE);
            let text = std::fs::read_to_string(&study_path).map_err(|source| DtunetError::Io {
                action: "read",
                path: study_path.clone(),
                source,
            })?;
            let study = Study::parse(&text, &study_path.display().to_string())?;
            let results = merged.get_or_insert_with(|| StudyResults {
                study,
                data: plan.data.clone(),
                cells: plan.cells.clone(),
                records: BTreeMap::new(),
                folders: Vec::new(),
            });
            let reference = PlanRecord {
                study: results.study.name.clone(),
                data: results.data.clone(),
                cells: results.cells.clone(),
            };
            if let Some(difference) = reference.difference(&plan) {
                return Err(DtunetError::Study {
                    study: format!("folder {}", folder.display()),
                    problem: format!(
                        "holds another plan than {} ({difference}): merge only shards of one \
                         study run",
                        results.folders[0].display()
                    ),
                });
            }
            for cell in &plan.cells {
                let path = folder.join(CELLS_FOLDER).join(&cell.id).join(RESULT_FILE);
                let Ok(text) = std::fs::read_to_string(&path) else {
                    continue;
                };
                let Ok(record) = serde_json::from_str::<CellRecord>(&text) else {
                    continue;
                };
                let replaces = results.records.get(&cell.id).is_none_or(|held| {
                    held.record.status == CellStatus::Failed && record.status == CellStatus::Done
                });
                if replaces {
                    results.records.insert(
                        cell.id.clone(),
                        LocatedRecord {
                            record,
                            folder: folder.clone(),
                        },
                    );
                }
            }
            results.folders.push(folder.clone());
        }
        merged.ok_or_else(|| DtunetError::Study {
            study: "report".into(),
            problem: "no study folder given".into(),
        })
    }

    /// The label of a table row: the study's `[labels]` entry, else the values joined by ` + `.
    pub fn row_label(&self, key: &str) -> String {
        self.study
            .labels
            .get(key)
            .cloned()
            .unwrap_or_else(|| key.replace(',', " + "))
    }

    /// Cells recorded as done and as failed.
    pub fn counts(&self) -> (usize, usize) {
        let failed = self
            .records
            .values()
            .filter(|located| located.record.status == CellStatus::Failed)
            .count();
        (self.records.len() - failed, failed)
    }
}

/// The files [`write_outputs`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyOutputs {
    /// `results.csv`.
    pub results_csv: PathBuf,
    /// `per_class.csv`, when a finished cell has metrics per class.
    pub per_class_csv: Option<PathBuf>,
    /// `table.md` (also printed by the CLI).
    pub table_md: PathBuf,
    /// The table in Markdown.
    pub table_text: String,
    /// The plots.
    pub plots: Vec<PathBuf>,
    /// `report.html`.
    pub report_html: PathBuf,
}

/// Writes `results.csv`, the tables, the plots and `report.html` of `results` into `out`.
pub fn write_outputs(results: &StudyResults, out: &Path) -> Result<StudyOutputs> {
    std::fs::create_dir_all(out).map_err(|source| DtunetError::Io {
        action: "create folder",
        path: out.to_path_buf(),
        source,
    })?;
    let write = |name: &str, text: &str| -> Result<PathBuf> {
        let path = out.join(name);
        write_atomically(&path, |file| file.write_all(text.as_bytes()))?;
        Ok(path)
    };
    let results_csv = write("results.csv", &results_csv(results))?;
    let per_class_csv = match per_class_csv(results) {
        Some(text) => Some(write(PER_CLASS_CSV, &text)?),
        None => None,
    };
    let table = build_table(results);
    let table_text = render_markdown(&table);
    let table_md = write("table.md", &table_text)?;
    write("table.csv", &render_csv(&table))?;
    write("table.tex", &render_latex(&table))?;
    let plots = write_plots(results, &table, out)?;
    let report_html = write("report.html", &render_report(results, &table, &plots, out))?;
    Ok(StudyOutputs {
        results_csv,
        per_class_csv,
        table_md,
        table_text,
        plots,
        report_html,
    })
}

/// One row per planned cell: status, its configuration (every axis' value, steps and image
/// size, whether the study varies them or not), every metric (mean and std) and times.
fn results_csv(results: &StudyResults) -> String {
    let mut text = String::from("cell,status,reason,model,reconstructions_from");
    for axis in Axis::ALL {
        let _ = write!(text, ",{axis}");
    }
    text.push_str(",steps,img_size");
    for metric in Metric::ALL {
        let _ = write!(text, ",{0}_mean,{0}_std", metric.name());
    }
    text.push_str(",train_seconds,tail_loss,detect_seconds,report\n");
    let number = |value: Option<f64>| value.map(|v| v.to_string()).unwrap_or_default();
    for cell in &results.cells {
        let record = results.records.get(&cell.id);
        let status = match record.map(|located| located.record.status) {
            Some(CellStatus::Done) => "done",
            Some(CellStatus::Failed) => "failed",
            None => "pending",
        };
        let reason = record
            .and_then(|located| located.record.reason.clone())
            .unwrap_or_default();
        let from = record
            .and_then(|located| located.record.reconstructions_from.clone())
            .unwrap_or_default();
        let _ = write!(
            text,
            "{},{status},{},{},{}",
            csv_text(&cell.id),
            csv_text(&reason),
            csv_text(&cell.model),
            csv_text(&from)
        );
        let train = TrainConfig::default()
            .with_overrides(toml::from_str::<toml::Table>(&cell.train).unwrap_or_default());
        match train {
            Ok(train) => {
                for axis in Axis::ALL {
                    let value = axis.value_in(&train, &cell.detect);
                    let _ = write!(text, ",{}", csv_text(&value));
                }
                let _ = write!(text, ",{},{}", train.steps, train.model.img_size);
            }
            Err(_) => text.push_str(&",".repeat(Axis::ALL.len() + 2)),
        }
        for metric in Metric::ALL {
            let value = record.and_then(|located| located.record.metric(metric));
            let _ = write!(
                text,
                ",{},{}",
                number(value.map(|v| v.mean)),
                number(value.and_then(|v| v.std))
            );
        }
        let report = record
            .and_then(|located| {
                let path = located.record.report.as_ref()?;
                Some(located.folder.join(path).display().to_string())
            })
            .unwrap_or_default();
        let _ = writeln!(
            text,
            ",{},{},{},{}",
            number(record.and_then(|l| l.record.train_seconds)),
            number(record.and_then(|l| l.record.tail_loss)),
            number(record.and_then(|l| l.record.detect_seconds)),
            csv_text(&report)
        );
    }
    text
}

/// The study's metrics per class of the test set.
const PER_CLASS_CSV: &str = "per_class.csv";

/// The classes of the test set over every finished cell, in name order.
fn classes_of(results: &StudyResults) -> Vec<&str> {
    let classes: BTreeSet<&str> = results
        .records
        .values()
        .filter(|located| located.record.status == CellStatus::Done)
        .flat_map(|located| located.record.per_class.keys().map(String::as_str))
        .collect();
    classes.into_iter().collect()
}

/// One row per finished cell and class of its test set, in plan order: the metrics of
/// [`Metric::PER_CLASS`] (mean, and std where it is a mean); `None` when no cell has classes.
fn per_class_csv(results: &StudyResults) -> Option<String> {
    if classes_of(results).is_empty() {
        return None;
    }
    let mut text = String::from("cell,class");
    for metric in Metric::PER_CLASS {
        match metric {
            Metric::DiceAnomalous => {
                let _ = write!(text, ",{0}_mean,{0}_std", metric.name());
            }
            _ => {
                let _ = write!(text, ",{}", metric.name());
            }
        }
    }
    text.push('\n');
    let number = |value: Option<f64>| value.map(|v| v.to_string()).unwrap_or_default();
    for cell in &results.cells {
        let Some(located) = results.records.get(&cell.id) else {
            continue;
        };
        for class in located.record.per_class.keys() {
            let _ = write!(text, "{},{}", csv_text(&cell.id), csv_text(class));
            for metric in Metric::PER_CLASS {
                let value = located.record.class_metric(class, metric);
                let _ = write!(text, ",{}", number(value.map(|v| v.mean)));
                if metric == Metric::DiceAnomalous {
                    let _ = write!(text, ",{}", number(value.and_then(|v| v.std)));
                }
            }
            text.push('\n');
        }
    }
    Some(text)
}

/// The "Per class" section of `report.html`: AUPRO and pixel AUROC of each finished cell (rows)
/// for each class of the test set (columns); empty when no cell has classes.
fn render_per_class(results: &StudyResults) -> String {
    let classes = classes_of(results);
    if classes.is_empty() {
        return String::new();
    }
    let mut section = String::from(
        "<h2>Per class</h2>\n<p>Each class's anomalous images pooled with every healthy image \
         of the set: AUPRO / pixel AUC (all metrics in \
         <a href=\"per_class.csv\">per_class.csv</a>).</p>\n<table>\n<thead><tr><th>cell</th>",
    );
    for class in &classes {
        let _ = write!(section, "<th>{}</th>", escape(class));
    }
    section.push_str("</tr></thead>\n<tbody>\n");
    for cell in &results.cells {
        let Some(located) = results.records.get(&cell.id) else {
            continue;
        };
        if located.record.per_class.is_empty() {
            continue;
        }
        let _ = write!(section, "<tr><td>{}</td>", escape(&cell.id));
        for class in &classes {
            let value = |metric: Metric| {
                located
                    .record
                    .class_metric(class, metric)
                    .map_or_else(|| "–".to_string(), |value| format!("{:.4}", value.mean))
            };
            let _ = write!(
                section,
                "<td>{} / {}</td>",
                value(Metric::Aupro),
                value(Metric::AurocPooled)
            );
        }
        section.push_str("</tr>\n");
    }
    section.push_str("</tbody>\n</table>\n");
    section
}

/// The mean of `metric` over the finished cells among `cells` (seeds averaged).
fn mean_over<'a>(
    results: &StudyResults,
    cells: impl Iterator<Item = &'a PlannedCell>,
    metric: Metric,
) -> Option<f64> {
    let values: Vec<f64> = cells
        .filter_map(|cell| results.records.get(&cell.id)?.record.metric(metric))
        .map(|value| value.mean)
        .collect();
    (!values.is_empty()).then(|| MetricValue::over(&values).mean)
}

/// Line plots (metric against x, one curve per series) or bar plots (ours beside the paper).
fn write_plots(results: &StudyResults, table: &Table, out: &Path) -> Result<Vec<PathBuf>> {
    let Some(plot) = &results.study.plot else {
        return Ok(Vec::new());
    };
    let mut written = Vec::new();
    for &metric in &plot.metrics {
        let path = out.join(format!("plot-{}.png", metric.name()));
        let title = format!("{} — {}", metric.label(), results.study.name);
        match (plot.kind, plot.x) {
            (PlotKind::Line, Some(x_axis)) => {
                let mut keys: Vec<String> = Vec::new();
                for cell in &results.cells {
                    let key = key_of(&cell.values, &plot.series);
                    if !keys.contains(&key) {
                        keys.push(key);
                    }
                }
                let mut series = Vec::new();
                for key in keys {
                    let in_series: Vec<&PlannedCell> = results
                        .cells
                        .iter()
                        .filter(|cell| key_of(&cell.values, &plot.series) == key)
                        .collect();
                    let mut xs: Vec<f64> = in_series
                        .iter()
                        .filter_map(|cell| key_of(&cell.values, &[x_axis]).parse().ok())
                        .collect();
                    xs.sort_by(f64::total_cmp);
                    xs.dedup();
                    let points: Vec<(f64, f64)> = xs
                        .into_iter()
                        .filter_map(|x| {
                            let at_x = in_series.iter().copied().filter(|cell| {
                                key_of(&cell.values, &[x_axis]).parse::<f64>().ok() == Some(x)
                            });
                            Some((x, mean_over(results, at_x, metric)?))
                        })
                        .collect();
                    if !points.is_empty() {
                        let label = if plot.series.is_empty() {
                            String::new()
                        } else {
                            series_label(&plot.series, &key)
                        };
                        series.push(Series { label, points });
                    }
                }
                if series.is_empty() {
                    continue;
                }
                for row in results.study.paper.iter().flat_map(|paper| &paper.rows) {
                    let mut points: Vec<(f64, f64)> = row
                        .values
                        .iter()
                        .filter(|((m, _), _)| *m == metric)
                        .filter_map(|((_, at), value)| {
                            Some((at.as_ref()?.parse().ok()?, value.mean))
                        })
                        .collect();
                    points.sort_by(|a, b| a.0.total_cmp(&b.0));
                    if !points.is_empty() && results.study.table.columns == Some(x_axis) {
                        let source = results
                            .study
                            .paper
                            .as_ref()
                            .map_or("", |p| p.source.as_str());
                        series.push(Series {
                            label: format!("{} ({source})", row.label),
                            points,
                        });
                    }
                }
                line_plot(
                    &path,
                    &title,
                    x_axis.label(),
                    metric.label(),
                    &series,
                    &LinePlotOptions::default(),
                )?;
            }
            _ => {
                let categories: Vec<String> =
                    table.rows.iter().map(|row| row.label.clone()).collect();
                let ours: Vec<Option<f64>> = table
                    .rows
                    .iter()
                    .map(|row| {
                        let in_row = results.cells.iter().filter(|cell| {
                            key_of(&cell.values, &results.study.table.rows) == row.key
                        });
                        mean_over(results, in_row, metric)
                    })
                    .collect();
                if ours.iter().all(Option::is_none) {
                    continue;
                }
                let mut series = vec![BarSeries {
                    label: "dtunet".into(),
                    values: ours,
                }];
                if let Some(paper) = &results.study.paper {
                    let published: Vec<Option<f64>> = table
                        .rows
                        .iter()
                        .map(|row| {
                            paper
                                .rows
                                .iter()
                                .find(|p| p.row.as_deref() == Some(row.key.as_str()))
                                .and_then(|p| p.values.get(&(metric, None)))
                                .map(|value| value.mean)
                        })
                        .collect();
                    if published.iter().any(Option::is_some) {
                        series.push(BarSeries {
                            label: paper.source.clone(),
                            values: published,
                        });
                    }
                }
                bar_plot(&path, &title, metric.label(), &categories, &series)?;
            }
        }
        written.push(path);
    }
    Ok(written)
}

/// `noise=gauss` or `arch=unet, noise=gauss`.
fn series_label(axes: &[Axis], key: &str) -> String {
    axes.iter()
        .zip(key.split(','))
        .map(|(axis, value)| format!("{}={value}", axis.label()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `report.html`: the table, the plots, every cell with its status and a link to its report.
fn render_report(results: &StudyResults, table: &Table, plots: &[PathBuf], out: &Path) -> String {
    let study = &results.study;
    let (done, failed) = results.counts();
    let mut page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{title}</title>\n<style>\nbody {{ font-family: sans-serif; margin: 2em; }}\n\
         table {{ border-collapse: collapse; margin: 1em 0; }}\n\
         th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}\n\
         td:first-child, th:first-child {{ text-align: left; }}\n\
         tr.paper td {{ color: #555; font-style: italic; }}\n\
         .failed {{ color: #b00; }}\n</style>\n</head>\n<body>\n<h1>{title}</h1>\n",
        title = escape(&study.title)
    );
    let _ = writeln!(page, "<p>{}</p>", escape(&study.description));
    let _ = writeln!(
        page,
        "<p>Study <code>{}</code> on {}: {} cells, {done} done, {failed} failed, {} not run \
         (from {} folder(s)).</p>",
        escape(&study.name),
        escape(&results.data),
        results.cells.len(),
        results.cells.len() - done - failed,
        results.folders.len()
    );
    page.push_str("<h2>Table</h2>\n");
    page.push_str(&render_html(table));
    if !plots.is_empty() {
        page.push_str("<h2>Plots</h2>\n");
        for plot in plots {
            let name = plot
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let _ = writeln!(
                page,
                "<img src=\"{0}\" alt=\"{0}\" width=\"720\">",
                escape(&name)
            );
        }
    }
    page.push_str(
        "<h2>Cells</h2>\n<table>\n<thead><tr><th>cell</th><th>status</th><th>model</th>\
         <th>pixel AUC</th><th>Dice</th><th>report</th></tr></thead>\n<tbody>\n",
    );
    for cell in &results.cells {
        let record = results.records.get(&cell.id);
        let status = match record {
            Some(located) => match &located.record.reason {
                None => "done".to_string(),
                Some(reason) => format!("<span class=\"failed\">failed: {}</span>", escape(reason)),
            },
            None => "not run".to_string(),
        };
        let metric = |metric: Metric| {
            record
                .and_then(|located| located.record.metric(metric))
                .map_or_else(String::new, |value| format!("{:.4}", value.mean))
        };
        let link = record
            .and_then(|located| {
                let report = located.record.report.as_ref()?;
                let href = if located.folder == out {
                    report.clone()
                } else {
                    located.folder.join(report).display().to_string()
                };
                Some(format!("<a href=\"{}\">report</a>", escape(&href)))
            })
            .unwrap_or_default();
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{status}</td><td>{}</td><td>{}</td><td>{}</td><td>{link}</td></tr>",
            escape(&cell.id),
            escape(&cell.model),
            metric(Metric::AurocPooled),
            metric(Metric::Dice)
        );
    }
    page.push_str("</tbody>\n</table>\n");
    page.push_str(&render_per_class(results));
    let _ = writeln!(
        page,
        "<p>Files: <a href=\"results.csv\">results.csv</a>, <a href=\"table.md\">table.md</a>, \
         <a href=\"table.csv\">table.csv</a>, <a href=\"table.tex\">table.tex</a>, \
         <a href=\"{LOG_FILE}\">{LOG_FILE}</a>.</p>\n</body>\n</html>"
    );
    page
}

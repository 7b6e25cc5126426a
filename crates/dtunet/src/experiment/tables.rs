//! The study table in the paper's layout: one row per value of the study's main axes, mean ±
//! std per metric (across seeds when there are several, else over images as the paper), the
//! best value in bold, and the paper's published rows below ours. Rendered as Markdown, CSV,
//! LaTeX and HTML.

use std::fmt::Write as _;

use super::metrics::{CellStatus, Metric, MetricValue};
use super::plan::key_of;
use super::report::StudyResults;
use crate::report::{csv_text, escape};

/// One column: a metric, at one value of the column axis when the table has one.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// The metric.
    pub metric: Metric,
    /// The column axis' value.
    pub at: Option<String>,
    /// The heading (`Dice`, `SSIM t_λ=100`).
    pub heading: String,
    /// A name for CSV headers (`dice`, `ssim@100`).
    pub key: String,
}

/// One entry of the table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Entry {
    /// A value; `seeds` > 1 when it is the mean ± std across seeds.
    Value {
        /// The value.
        value: MetricValue,
        /// Seeds aggregated.
        seeds: usize,
        /// The best of its column among our rows.
        best: bool,
    },
    /// Every cell behind the entry failed.
    Failed,
    /// Not run yet (or run on another shard not merged).
    Missing,
}

/// One row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// As printed.
    pub label: String,
    /// The row key (`unet,gauss`).
    pub key: String,
    /// One entry per column.
    pub entries: Vec<Entry>,
}

/// A study table.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// The study title.
    pub title: String,
    /// Heading of the label column.
    pub row_heading: String,
    /// The columns.
    pub columns: Vec<Column>,
    /// Our rows.
    pub rows: Vec<Row>,
    /// The published values' source (`paper (BrainMRI)`) and rows.
    pub paper: Option<(String, Vec<Row>)>,
    /// Remarks printed under the table.
    pub notes: Vec<String>,
}

/// Builds the table of `results`.
pub fn build_table(results: &StudyResults) -> Table {
    let study = &results.study;
    let spec = &study.table;
    let column_values: Vec<Option<String>> = match spec.columns {
        Some(axis) => {
            let mut values: Vec<String> = Vec::new();
            for cell in &results.cells {
                if let Some((_, value)) = cell.values.iter().find(|(a, _)| *a == axis)
                    && !values.contains(value)
                {
                    values.push(value.clone());
                }
            }
            if axis.numeric() {
                values.sort_by(|a, b| {
                    let number = |text: &str| text.parse::<f64>().unwrap_or(f64::NAN);
                    number(a).total_cmp(&number(b))
                });
            }
            values.into_iter().map(Some).collect()
        }
        None => vec![None],
    };
    let mut columns = Vec::new();
    for &metric in &spec.metrics {
        for at in &column_values {
            let (heading, key) = match (at, spec.columns) {
                (Some(value), Some(axis)) => (
                    format!("{} {}={value}", metric.label(), axis.label()),
                    format!("{}@{value}", metric.name()),
                ),
                _ => (metric.label().to_string(), metric.name().to_string()),
            };
            columns.push(Column {
                metric,
                at: at.clone(),
                heading,
                key,
            });
        }
    }

    let mut keys: Vec<String> = Vec::new();
    for cell in &results.cells {
        let key = key_of(&cell.values, &spec.rows);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let mut rows: Vec<Row> = keys
        .iter()
        .map(|key| Row {
            label: results.row_label(key),
            key: key.clone(),
            entries: columns
                .iter()
                .map(|column| entry(results, key, column))
                .collect(),
        })
        .collect();
    mark_best(&mut rows, &columns);

    let paper = study.paper.as_ref().map(|paper| {
        let rows = paper
            .rows
            .iter()
            .map(|row| Row {
                label: row.label.clone(),
                key: row.row.clone().unwrap_or_default(),
                entries: columns
                    .iter()
                    .map(
                        |column| match row.values.get(&(column.metric, column.at.clone())) {
                            Some(value) => Entry::Value {
                                value: *value,
                                seeds: 1,
                                best: false,
                            },
                            None => Entry::Missing,
                        },
                    )
                    .collect(),
            })
            .collect();
        (paper.source.clone(), rows)
    });
    let mut notes = Vec::new();
    let seeds = study
        .values(super::Axis::Seed)
        .map_or(1, |values| values.len());
    notes.push(if seeds > 1 {
        format!("mean ± std across {seeds} seeds of each cell's mean over images")
    } else {
        "mean ± std over the test images (one seed), as the paper; pooled metrics have no std"
            .to_string()
    });
    if let Some(note) = study.paper.as_ref().and_then(|paper| paper.note.clone()) {
        notes.push(note);
    }
    Table {
        title: study.title.clone(),
        row_heading: spec
            .rows
            .iter()
            .map(|axis| axis.label())
            .collect::<Vec<_>>()
            .join(" / "),
        columns,
        rows,
        paper,
        notes,
    }
}

/// The entry of row `key` in `column`: its cells over seeds.
fn entry(results: &StudyResults, key: &str, column: &Column) -> Entry {
    let study = &results.study;
    let matching = results.cells.iter().filter(|cell| {
        key_of(&cell.values, &study.table.rows) == key
            && match (&column.at, study.table.columns) {
                (Some(value), Some(axis)) => {
                    cell.values.iter().any(|(a, v)| *a == axis && v == value)
                }
                _ => true,
            }
    });
    let mut values = Vec::new();
    let mut failed = false;
    for cell in matching {
        match results.records.get(&cell.id) {
            Some(located) if located.record.status == CellStatus::Failed => failed = true,
            Some(located) => {
                if let Some(value) = located.record.metric(column.metric) {
                    values.push(value);
                }
            }
            None => {}
        }
    }
    match values.as_slice() {
        [] if failed => Entry::Failed,
        [] => Entry::Missing,
        [one] => Entry::Value {
            value: *one,
            seeds: 1,
            best: false,
        },
        many => Entry::Value {
            value: MetricValue::over(&many.iter().map(|v| v.mean).collect::<Vec<_>>()),
            seeds: many.len(),
            best: false,
        },
    }
}

fn mark_best(rows: &mut [Row], columns: &[Column]) {
    for (index, column) in columns.iter().enumerate() {
        let means = rows.iter().filter_map(|row| match row.entries[index] {
            Entry::Value { value, .. } => Some(value.mean),
            _ => None,
        });
        let best = if column.metric.higher_is_better() {
            means.fold(f64::NEG_INFINITY, f64::max)
        } else {
            means.fold(f64::INFINITY, f64::min)
        };
        for row in rows.iter_mut() {
            if let Entry::Value {
                value, best: flag, ..
            } = &mut row.entries[index]
            {
                *flag = value.mean == best;
            }
        }
    }
}

impl Entry {
    fn text(&self, metric: Metric) -> String {
        match self {
            Entry::Value { value, .. } => value.text(metric.decimals()),
            Entry::Failed => "failed".into(),
            Entry::Missing => "–".into(),
        }
    }

    fn is_best(&self) -> bool {
        matches!(self, Entry::Value { best: true, .. })
    }
}

/// The table as Markdown: our rows, then the paper's under a labelled separator row.
pub fn render_markdown(table: &Table) -> String {
    let mut text = format!("### {}\n\n", table.title);
    let _ = write!(text, "| {} |", table.row_heading);
    for column in &table.columns {
        let _ = write!(text, " {} |", column.heading);
    }
    text.push_str("\n|---|");
    text.push_str(&"---:|".repeat(table.columns.len()));
    text.push('\n');
    let write_rows = |text: &mut String, rows: &[Row]| {
        for row in rows {
            let _ = write!(text, "| {} |", row.label);
            for (entry, column) in row.entries.iter().zip(&table.columns) {
                let value = entry.text(column.metric);
                if entry.is_best() {
                    let _ = write!(text, " **{value}** |");
                } else {
                    let _ = write!(text, " {value} |");
                }
            }
            text.push('\n');
        }
    };
    write_rows(&mut text, &table.rows);
    if let Some((source, rows)) = &table.paper {
        let _ = write!(text, "| *{source}* |");
        text.push_str(&" |".repeat(table.columns.len()));
        text.push('\n');
        write_rows(&mut text, rows);
    }
    text.push('\n');
    for note in &table.notes {
        let _ = writeln!(text, "{note}.  ");
    }
    text
}

/// The table as CSV: `row,source`, then `<column>_mean,<column>_std` per column.
pub fn render_csv(table: &Table) -> String {
    let mut text = String::from("row,source");
    for column in &table.columns {
        let _ = write!(text, ",{0}_mean,{0}_std", column.key);
    }
    text.push_str(",seeds\n");
    let mut write_rows = |source: &str, rows: &[Row]| {
        for row in rows {
            let _ = write!(text, "{},{}", csv_text(&row.label), csv_text(source));
            let mut seeds = 0;
            for entry in &row.entries {
                match entry {
                    Entry::Value {
                        value, seeds: n, ..
                    } => {
                        seeds = seeds.max(*n);
                        let std = value.std.map(|s| s.to_string()).unwrap_or_default();
                        let _ = write!(text, ",{},{std}", value.mean);
                    }
                    Entry::Failed | Entry::Missing => text.push_str(",,"),
                }
            }
            let _ = writeln!(text, ",{seeds}");
        }
    };
    write_rows("dtunet", &table.rows);
    if let Some((source, rows)) = &table.paper {
        write_rows(source, rows);
    }
    text
}

/// The table as a LaTeX `tabular` (booktabs), best values in `\textbf`.
pub fn render_latex(table: &Table) -> String {
    let mut text = format!(
        "% {}\n\\begin{{tabular}}{{l{}}}\n\\toprule\n{}",
        table.title,
        "c".repeat(table.columns.len()),
        latex_text(&table.row_heading)
    );
    for column in &table.columns {
        let _ = write!(text, " & {}", latex_text(&column.heading));
    }
    text.push_str(" \\\\\n\\midrule\n");
    let write_rows = |text: &mut String, rows: &[Row]| {
        for row in rows {
            text.push_str(&latex_text(&row.label));
            for (entry, column) in row.entries.iter().zip(&table.columns) {
                let value = entry.text(column.metric).replace('±', "$\\pm$");
                let value = value.replace('–', "--");
                if entry.is_best() {
                    let _ = write!(text, " & \\textbf{{{value}}}");
                } else {
                    let _ = write!(text, " & {value}");
                }
            }
            text.push_str(" \\\\\n");
        }
    };
    write_rows(&mut text, &table.rows);
    if let Some((source, rows)) = &table.paper {
        let _ = writeln!(
            text,
            "\\midrule\n\\multicolumn{{{}}}{{l}}{{\\emph{{{}}}}} \\\\",
            table.columns.len() + 1,
            latex_text(source)
        );
        write_rows(&mut text, rows);
    }
    text.push_str("\\bottomrule\n\\end{tabular}\n");
    text
}

/// The table as an HTML `<table>` (for `report.html`).
pub fn render_html(table: &Table) -> String {
    let mut text = String::from("<table class=\"study\">\n<thead><tr>");
    let _ = write!(text, "<th>{}</th>", escape(&table.row_heading));
    for column in &table.columns {
        let _ = write!(text, "<th>{}</th>", escape(&column.heading));
    }
    text.push_str("</tr></thead>\n<tbody>\n");
    let write_rows = |text: &mut String, rows: &[Row], class: &str| {
        for row in rows {
            let _ = write!(
                text,
                "<tr class=\"{class}\"><td>{}</td>",
                escape(&row.label)
            );
            for (entry, column) in row.entries.iter().zip(&table.columns) {
                let value = escape(&entry.text(column.metric));
                if entry.is_best() {
                    let _ = write!(text, "<td><b>{value}</b></td>");
                } else {
                    let _ = write!(text, "<td>{value}</td>");
                }
            }
            text.push_str("</tr>\n");
        }
    };
    write_rows(&mut text, &table.rows, "ours");
    if let Some((source, rows)) = &table.paper {
        let _ = writeln!(
            text,
            "<tr><th colspan=\"{}\"><i>{}</i></th></tr>",
            table.columns.len() + 1,
            escape(source)
        );
        write_rows(&mut text, rows, "paper");
    }
    text.push_str("</tbody>\n</table>\n");
    for note in &table.notes {
        let _ = writeln!(text, "<p class=\"note\">{}.</p>", escape(note));
    }
    text
}

/// Text with LaTeX's special characters escaped.
fn latex_text(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '_' | '&' | '%' | '#' | '$' | '{' | '}' => {
                escaped.push('\\');
                escaped.push(character);
            }
            'λ' => escaped.push_str("$\\lambda$"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        let column = |metric: Metric| Column {
            metric,
            at: None,
            heading: metric.label().to_string(),
            key: metric.name().to_string(),
        };
        let value = |mean: f64, std: Option<f64>, best: bool| Entry::Value {
            value: MetricValue {
                mean,
                std,
                count: None,
            },
            seeds: 1,
            best,
        };
        Table {
            title: "Loss functions".into(),
            row_heading: "loss".into(),
            columns: vec![column(Metric::Dice), column(Metric::EceSe)],
            rows: vec![
                Row {
                    label: "L2+L_vlb".into(),
                    key: "hybrid".into(),
                    entries: vec![value(0.5, Some(0.25), true), Entry::Failed],
                },
                Row {
                    label: "L1, robust".into(),
                    key: "l1".into(),
                    entries: vec![value(0.25, Some(0.125), false), Entry::Missing],
                },
            ],
            paper: Some((
                "paper (BrainMRI)".into(),
                vec![Row {
                    label: "L1".into(),
                    key: "l1".into(),
                    entries: vec![Entry::Missing, value(0.07057, None, false)],
                }],
            )),
            notes: vec!["one seed".into()],
        }
    }

    #[test]
    fn latex_escapes_labels_and_bolds_the_best() {
        let text = render_latex(&table());
        assert!(text.contains("\\begin{tabular}{lcc}"), "{text}");
        assert!(
            text.contains("L2+L\\_vlb & \\textbf{0.5000 $\\pm$ 0.2500} & failed \\\\"),
            "{text}"
        );
        assert!(
            text.contains("\\multicolumn{3}{l}{\\emph{paper (BrainMRI)}}"),
            "{text}"
        );
        assert!(text.contains("L1 & -- & 0.0706 \\\\"), "{text}");
    }

    #[test]
    fn csv_keeps_numbers_apart_and_quotes_labels() {
        let text = render_csv(&table());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "row,source,dice_mean,dice_std,ece_se_mean,ece_se_std,seeds"
        );
        assert_eq!(lines[1], "L2+L_vlb,dtunet,0.5,0.25,,,1");
        assert_eq!(lines[2], "\"L1, robust\",dtunet,0.25,0.125,,,1");
        assert_eq!(lines[3], "L1,paper (BrainMRI),,,0.07057,,1");
        let markdown = render_markdown(&table());
        assert!(
            markdown.contains("| L2+L_vlb | **0.5000 ± 0.2500** | failed |"),
            "{markdown}"
        );
        assert!(
            markdown.contains("| *paper (BrainMRI)* | | |"),
            "{markdown}"
        );
    }
}

//! Study definitions: a grid over named axes, the base settings it starts from, the table and
//! plots it reports and the paper's published values. Read from TOML (the built-in studies are
//! TOML files compiled into the binary, printed by `dtunet experiment show`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::DetectSettings;
use super::axis::Axis;
use super::metrics::{Metric, MetricValue};
use crate::error::{DtunetError, Result};
use crate::training::{Preset, TrainConfig};

/// The studies shipped with dtunet: name and TOML text.
pub const BUILT_IN_STUDIES: [(&str, &str); 4] = [
    (
        "table5-losses",
        include_str!("../../studies/table5-losses.toml"),
    ),
    (
        "fig13-noise-steps",
        include_str!("../../studies/fig13-noise-steps.toml"),
    ),
    (
        "fig7-averaging",
        include_str!("../../studies/fig7-averaging.toml"),
    ),
    (
        "fig10-backbones",
        include_str!("../../studies/fig10-backbones.toml"),
    ),
];

/// How a study's table is laid out.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSpec {
    /// Axes whose values make the rows (one row per combination, in cell order).
    pub rows: Vec<Axis>,
    /// An axis whose values repeat each metric's column (e.g. `t_lambda` of Figure 13).
    pub columns: Option<Axis>,
    /// The metrics shown.
    pub metrics: Vec<Metric>,
}

/// Line plots (metric against a numeric axis, one curve per series) or bar plots (one bar
/// per table row, beside the paper's value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlotKind {
    /// Metric against `x`.
    Line,
    /// One bar per row.
    Bar,
}

/// The plots of a study: one PNG per metric.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotSpec {
    /// Line or bar.
    pub kind: PlotKind,
    /// The x axis of a line plot.
    pub x: Option<Axis>,
    /// One curve per combination of these axes' values (line plots).
    pub series: Vec<Axis>,
    /// One plot per metric.
    pub metrics: Vec<Metric>,
}

/// One row of published values.
#[derive(Debug, Clone, PartialEq)]
pub struct PaperRow {
    /// As the paper names the row.
    pub label: String,
    /// The row key of ours it corresponds to (values of the row axes joined by `,`), if any.
    pub row: Option<String>,
    /// (metric, value of the table's column axis when the table has one) → published value.
    pub values: BTreeMap<(Metric, Option<String>), MetricValue>,
}

/// The paper's values for a study.
#[derive(Debug, Clone, PartialEq)]
pub struct PaperValues {
    /// Where they come from, e.g. `paper (BrainMRI)`.
    pub source: String,
    /// A remark printed under the table.
    pub note: Option<String>,
    /// The rows.
    pub rows: Vec<PaperRow>,
}

/// A validated study.
#[derive(Debug, Clone, PartialEq)]
pub struct Study {
    /// Short name (`table5-losses`).
    pub name: String,
    /// One-line title.
    pub title: String,
    /// What the study shows and how to read it.
    pub description: String,
    /// Where the definition was read (a built-in name or a file), for messages.
    pub origin: String,
    /// The definition's TOML text (copied into the study folder).
    pub text: String,
    /// The grid: every axis with its values, in [`Axis::ALL`] order.
    pub axes: Vec<(Axis, Vec<String>)>,
    /// Cells added to the grid (axis → value; unnamed axes take their first value).
    pub includes: Vec<Vec<(Axis, String)>>,
    /// Training settings over the preset (`[train]`), as TOML.
    pub train: toml::Table,
    /// Training settings over the preset with `--preset demo` only (`[train_demo]`).
    pub train_demo: toml::Table,
    /// Detection settings (`[detect]`).
    pub detect: DetectSettings,
    /// The table.
    pub table: TableSpec,
    /// The plots.
    pub plot: Option<PlotSpec>,
    /// Row key → row label (`unet,gauss` → `DDPM`).
    pub labels: BTreeMap<String, String>,
    /// The paper's values.
    pub paper: Option<PaperValues>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StudyFile {
    name: String,
    title: String,
    #[serde(default)]
    description: String,
    axes: BTreeMap<Spanned<String>, Spanned<Vec<Spanned<toml::Value>>>>,
    #[serde(default)]
    include: Vec<BTreeMap<Spanned<String>, Spanned<toml::Value>>>,
    #[serde(default)]
    train: toml::Table,
    #[serde(default)]
    train_demo: toml::Table,
    #[serde(default)]
    detect: Option<Spanned<toml::Table>>,
    table: TableFile,
    plot: Option<PlotFile>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    paper: Option<PaperFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    rows: Vec<Spanned<String>>,
    columns: Option<Spanned<String>>,
    metrics: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlotFile {
    kind: Spanned<String>,
    x: Option<Spanned<String>>,
    #[serde(default)]
    series: Vec<Spanned<String>>,
    metrics: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PaperFile {
    source: String,
    note: Option<String>,
    rows: Vec<PaperRowFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PaperRowFile {
    label: String,
    row: Option<String>,
    values: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
}

/// Builds errors that name the study and the line at fault.
struct Located<'a> {
    origin: &'a str,
    text: &'a str,
}

impl Located<'_> {
    fn at(&self, span: std::ops::Range<usize>, problem: impl Into<String>) -> DtunetError {
        let line = self.text[..span.start.min(self.text.len())]
            .matches('\n')
            .count()
            + 1;
        DtunetError::Study {
            study: format!("{}, line {line}", self.origin),
            problem: problem.into(),
        }
    }

    fn whole(&self, problem: impl Into<String>) -> DtunetError {
        DtunetError::Study {
            study: self.origin.to_string(),
            problem: problem.into(),
        }
    }

    fn axis(&self, name: &Spanned<String>) -> Result<Axis> {
        name.get_ref()
            .parse()
            .map_err(|problem: String| self.at(name.span(), problem))
    }

    fn metric(&self, name: &Spanned<String>) -> Result<Metric> {
        name.get_ref()
            .parse()
            .map_err(|problem: String| self.at(name.span(), problem))
    }
}

impl Study {
    /// The built-in study `name`, or the study file at `name`.
    pub fn load(name_or_path: &str) -> Result<Self> {
        if let Some((name, text)) = BUILT_IN_STUDIES
            .iter()
            .find(|(name, _)| *name == name_or_path)
        {
            return Self::parse(text, name);
        }
        let path = Path::new(name_or_path);
        if path.is_file() {
            let text = std::fs::read_to_string(path).map_err(|source| DtunetError::Io {
                action: "read",
                path: path.to_path_buf(),
                source,
            })?;
            return Self::parse(&text, &path.display().to_string());
        }
        let names: Vec<&str> = BUILT_IN_STUDIES.iter().map(|(name, _)| *name).collect();
        Err(DtunetError::Study {
            study: name_or_path.to_string(),
            problem: format!(
                "neither a built-in study ({}) nor a study file",
                names.join(", ")
            ),
        })
    }

    /// Parses and checks a study definition; `origin` names it in messages.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let located = Located { origin, text };
        let file: StudyFile = toml::from_str(text).map_err(|error| match error.span() {
            Some(span) => located.at(span, error.message().to_string()),
            None => located.whole(error.message().to_string()),
        })?;

        let mut axes = Vec::new();
        for (name, values) in &file.axes {
            let axis = located.axis(name)?;
            if values.get_ref().is_empty() {
                return Err(located.at(values.span(), format!("axis {axis} has no values")));
            }
            let mut normalised: Vec<String> = Vec::new();
            for value in values.get_ref() {
                let text = axis
                    .normalise(value.get_ref())
                    .map_err(|expected| located.at(value.span(), format!("{axis}: {expected}")))?;
                if normalised.contains(&text) {
                    return Err(located.at(value.span(), format!("{axis}: {text} twice")));
                }
                normalised.push(text);
            }
            axes.push((axis, normalised));
        }
        axes.sort_by_key(|(axis, _)| *axis);

        let mut includes = Vec::new();
        for include in &file.include {
            let mut cell = Vec::new();
            for (name, value) in include {
                let axis = located.axis(name)?;
                if !axes.iter().any(|(known, _)| *known == axis) {
                    return Err(located.at(
                        name.span(),
                        format!("an included cell sets {axis}, which is not an axis of [axes]"),
                    ));
                }
                let text = axis
                    .normalise(value.get_ref())
                    .map_err(|expected| located.at(value.span(), format!("{axis}: {expected}")))?;
                cell.push((axis, text));
            }
            cell.sort();
            includes.push(cell);
        }

        let detect = match &file.detect {
            Some(table) => DetectSettings::from_table(table.get_ref())
                .map_err(|problem| located.at(table.span(), format!("[detect]: {problem}")))?,
            None => DetectSettings::default(),
        };

        let table = Self::table_spec(&located, &file.table, &axes)?;
        let plot = match &file.plot {
            Some(plot) => Some(Self::plot_spec(&located, plot, &axes)?),
            None => None,
        };
        let paper = match &file.paper {
            Some(paper) => Some(Self::paper_values(&located, paper, table.columns)?),
            None => None,
        };
        let study = Study {
            name: file.name,
            title: file.title,
            description: file.description.trim().to_string(),
            origin: origin.to_string(),
            text: text.to_string(),
            axes,
            includes,
            train: file.train,
            train_demo: file.train_demo,
            detect,
            table,
            plot,
            labels: file.labels,
            paper,
        };
        study.base_train(Preset::Demo)?;
        study.base_train(Preset::Paper)?;
        Ok(study)
    }

    fn table_spec(
        located: &Located<'_>,
        table: &TableFile,
        axes: &[(Axis, Vec<String>)],
    ) -> Result<TableSpec> {
        let known = |name: &Spanned<String>| -> Result<Axis> {
            let axis = located.axis(name)?;
            if axes.iter().any(|(known, _)| *known == axis) {
                Ok(axis)
            } else {
                Err(located.at(
                    name.span(),
                    format!("{axis} is not an axis of this study's [axes]"),
                ))
            }
        };
        let rows = table.rows.iter().map(known).collect::<Result<Vec<_>>>()?;
        let columns = table.columns.as_ref().map(known).transpose()?;
        let metrics = table
            .metrics
            .iter()
            .map(|name| located.metric(name))
            .collect::<Result<Vec<_>>>()?;
        if metrics.is_empty() {
            return Err(located.whole("[table] metrics is empty"));
        }
        for (axis, values) in axes {
            let shown = rows.contains(axis) || columns == Some(*axis);
            if values.len() > 1 && !shown && *axis != Axis::Seed {
                return Err(located.whole(format!(
                    "axis {axis} has {} values but is neither in [table] rows nor its columns \
                     (only seeds are averaged)",
                    values.len()
                )));
            }
        }
        Ok(TableSpec {
            rows,
            columns,
            metrics,
        })
    }

    fn plot_spec(
        located: &Located<'_>,
        plot: &PlotFile,
        axes: &[(Axis, Vec<String>)],
    ) -> Result<PlotSpec> {
        let kind = match plot.kind.get_ref().as_str() {
            "line" => PlotKind::Line,
            "bar" => PlotKind::Bar,
            other => {
                return Err(located.at(
                    plot.kind.span(),
                    format!("plot kind {other:?}: expected line or bar"),
                ));
            }
        };
        let x = plot.x.as_ref().map(|x| located.axis(x)).transpose()?;
        let series = plot
            .series
            .iter()
            .map(|name| located.axis(name))
            .collect::<Result<Vec<_>>>()?;
        let metrics = plot
            .metrics
            .iter()
            .map(|name| located.metric(name))
            .collect::<Result<Vec<_>>>()?;
        if kind == PlotKind::Line {
            match (x, &plot.x) {
                (Some(axis), Some(name)) if !axis.numeric() => {
                    return Err(located.at(
                        name.span(),
                        format!("a line plot needs a numeric x axis, not {axis}"),
                    ));
                }
                (None, _) => return Err(located.whole("a line plot needs [plot] x")),
                _ => {}
            }
        }
        for axis in x.iter().chain(&series) {
            if !axes.iter().any(|(known, _)| known == axis) {
                return Err(located.whole(format!(
                    "[plot] names {axis}, which is not an axis of [axes]"
                )));
            }
        }
        Ok(PlotSpec {
            kind,
            x,
            series,
            metrics,
        })
    }

    /// The published rows; a value's key is a metric, or `metric@v` for the column of the
    /// table's column axis at value `v` (`ssim@50`).
    fn paper_values(
        located: &Located<'_>,
        paper: &PaperFile,
        columns: Option<Axis>,
    ) -> Result<PaperValues> {
        let mut rows = Vec::new();
        for row in &paper.rows {
            let mut values = BTreeMap::new();
            for (name, value) in &row.values {
                let (metric_name, at) = match name.get_ref().split_once('@') {
                    Some((metric, at)) => (metric, Some(at)),
                    None => (name.get_ref().as_str(), None),
                };
                let metric: Metric = metric_name
                    .parse()
                    .map_err(|problem: String| located.at(name.span(), problem))?;
                let at = match (at, columns) {
                    (None, _) => None,
                    (Some(at), Some(axis)) => Some(
                        axis.normalise(&toml::Value::String(at.to_string()))
                            .map_err(|problem| located.at(name.span(), problem))?,
                    ),
                    (Some(_), None) => {
                        return Err(
                            located.at(name.span(), "metric@value needs a [table] columns axis")
                        );
                    }
                };
                let parsed = match value.get_ref() {
                    toml::Value::Float(number) => Ok(MetricValue::single(*number)),
                    toml::Value::String(text) => text.parse(),
                    other => Err(format!("{} is not a number", other.type_str())),
                }
                .map_err(|problem| located.at(value.span(), problem))?;
                values.insert((metric, at), parsed);
            }
            rows.push(PaperRow {
                label: row.label.clone(),
                row: row.row.clone(),
                values,
            });
        }
        Ok(PaperValues {
            source: paper.source.clone(),
            note: paper.note.clone(),
            rows,
        })
    }

    /// The training configuration every cell starts from: `preset`, then the study's
    /// `[train]`, then (with the CPU-sized presets, demo and texture) `[train_demo]`.
    pub fn base_train(&self, preset: Preset) -> Result<TrainConfig> {
        let mut config = TrainConfig::preset(preset);
        let mut layers = vec![("[train]", &self.train)];
        if preset != Preset::Paper {
            layers.push(("[train_demo]", &self.train_demo));
        }
        for (section, table) in layers {
            config =
                config
                    .with_overrides(table.clone())
                    .map_err(|problem| DtunetError::Study {
                        study: self.origin.clone(),
                        problem: format!("{section}: {problem}"),
                    })?;
        }
        Ok(config)
    }

    /// The values of `axis`, or `None` when the study does not vary it.
    pub fn values(&self, axis: Axis) -> Option<&[String]> {
        self.axes
            .iter()
            .find(|(known, _)| *known == axis)
            .map(|(_, values)| values.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"
name = "small"
title = "two losses"

[axes]
loss = ["l1", "l2"]
seed = [0, 1]

[detect]
t_lambda = 5

[table]
rows = ["loss"]
metrics = ["dice", "ece_se"]
"#;

    #[test]
    fn every_built_in_study_parses() {
        for (name, text) in BUILT_IN_STUDIES {
            let study = Study::parse(text, name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(study.name, name);
            assert!(!study.description.is_empty(), "{name}");
        }
        let table5 = Study::load("table5-losses").expect("accepted");
        assert_eq!(table5.values(Axis::Loss).expect("accepted").len(), 8);
        let paper = table5.paper.expect("accepted");
        let l1 = &paper.rows[0];
        assert_eq!(l1.values[&(Metric::Dice, None)].text(4), "0.3861 ± 0.2267");
        let fig13 = Study::load("fig13-noise-steps")
            .expect("built in")
            .paper
            .expect("paper");
        let gauss = fig13
            .rows
            .iter()
            .find(|row| row.label == "gauss")
            .expect("row");
        assert_eq!(
            gauss.values[&(Metric::Ssim, Some("248".into()))].mean,
            0.5423
        );
    }

    #[test]
    fn a_small_study_reads_its_sections() {
        let study = Study::parse(SMALL, "small.toml").expect("accepted");
        assert_eq!(
            study.axes,
            vec![
                (Axis::Loss, vec!["l1".to_string(), "l2".to_string()]),
                (Axis::Seed, vec!["0".to_string(), "1".to_string()])
            ]
        );
        assert_eq!(study.detect.t_lambda, 5);
        assert_eq!(study.table.metrics, vec![Metric::Dice, Metric::EceSe]);
    }

    #[test]
    fn mistakes_name_the_line_and_the_value() {
        let error = |text: String| {
            Study::parse(&text, "s.toml")
                .expect_err("refused")
                .to_string()
        };
        let text = error(SMALL.replace("\"l2\"]", "\"l3\"]"));
        assert!(
            text.contains("s.toml, line 6") && text.contains("l3"),
            "{text}"
        );
        let text = error(SMALL.replace("seed = [0, 1]", "lr = [0.1]"));
        assert!(
            text.contains("line 7") && text.contains("unknown axis \"lr\""),
            "{text}"
        );
        let text = error(SMALL.replace("t_lambda = 5", "t_lamda = 5"));
        assert!(
            text.contains("line 9") && text.contains("t_lamda"),
            "{text}"
        );
        let text = error(SMALL.replace("rows = [\"loss\"]", "rows = []"));
        assert!(text.contains("loss has 2 values"), "{text}");
        let text = error(SMALL.replace("\"ece_se\"", "\"ece\""));
        assert!(
            text.contains("line 14") && text.contains("unknown metric"),
            "{text}"
        );
        let text = error(format!("{SMALL}\n[train]\nstpes = 3\n"));
        assert!(text.contains("[train]") && text.contains("stpes"), "{text}");
        let missing = Study::load("table9-nothing")
            .expect_err("refused")
            .to_string();
        assert!(missing.contains("table5-losses"), "{missing}");
    }
}

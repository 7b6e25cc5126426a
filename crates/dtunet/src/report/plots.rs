//! PNG line plots and overlaid histograms, drawn with plotters' bitmap backend and the embedded
//! font, so text renders on machines without system fonts.
//!
//! [`line_plot`] serves kurtosis-vs-parameter curves, loss curves and, with
//! [`LinePlotOptions::roc`], ROC curves; [`histogram_plot`] overlays the noise histograms of
//! several settings (the paper's Figure 9).

use std::error::Error as StdError;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::font;

/// Width of every plot, in pixels.
pub const PLOT_WIDTH_PX: u32 = 900;
/// Height of every plot, in pixels.
pub const PLOT_HEIGHT_PX: u32 = 600;

/// One labelled curve of a [`line_plot`].
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text; an empty label leaves the curve out of the legend.
    pub label: String,
    /// `(x, y)` points joined in the given order; at least one, all finite.
    pub points: Vec<(f64, f64)>,
}

/// One labelled histogram of a [`histogram_plot`].
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSeries {
    /// Legend text; an empty label leaves the histogram out of the legend.
    pub label: String,
    /// `n + 1` finite, strictly increasing bin edges.
    pub bin_edges: Vec<f64>,
    /// `n >= 1` finite, non-negative densities, one per bin.
    pub densities: Vec<f64>,
}

/// A labelled vertical line across a [`histogram_plot`], e.g. a threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct VerticalMarker {
    /// Legend text.
    pub label: String,
    /// Where it crosses the x-axis; finite.
    pub x: f64,
}

/// The corner of the plotting area that holds the legend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LegendCorner {
    /// Top left.
    UpperLeft,
    /// Top right.
    #[default]
    UpperRight,
    /// Bottom left.
    LowerLeft,
    /// Bottom right.
    LowerRight,
}

/// Axes and decorations of a [`line_plot`]; the default fits both axes to the data.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LinePlotOptions {
    /// Fixed x-axis range `(min, max)`; `None` fits the data.
    pub x_range: Option<(f64, f64)>,
    /// Fixed y-axis range `(min, max)`; `None` fits the data with a 5 % margin.
    pub y_range: Option<(f64, f64)>,
    /// Draws the dashed grey line `y = x` (the chance line of a ROC curve).
    pub diagonal: bool,
    /// Where the legend goes.
    pub legend: LegendCorner,
}

impl LinePlotOptions {
    /// ROC axes: both on `[0, 1]`, the chance diagonal, the legend bottom right (away from the
    /// curves).
    pub fn roc() -> Self {
        Self {
            x_range: Some((0.0, 1.0)),
            y_range: Some((0.0, 1.0)),
            diagonal: true,
            legend: LegendCorner::LowerRight,
        }
    }
}

/// What is wrong with the data handed to a plot function.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InputProblem {
    /// The list of series (or histograms) is empty.
    #[error("nothing to plot: no series given (pass at least one)")]
    NoSeries,
    /// A line series has no points.
    #[error("series \"{label}\" has no points (pass at least one point or leave the series out)")]
    EmptySeries {
        /// The series' label.
        label: String,
    },
    /// A line series holds a NaN or infinite coordinate.
    #[error("series \"{label}\" point {index} is ({x}, {y}); expected finite coordinates")]
    NonFinitePoint {
        /// The series' label.
        label: String,
        /// Index of the offending point.
        index: usize,
        /// Its x coordinate.
        x: f64,
        /// Its y coordinate.
        y: f64,
    },
    /// A histogram has no bins.
    #[error("histogram \"{label}\" has no bins (pass at least one density)")]
    EmptyHistogram {
        /// The histogram's label.
        label: String,
    },
    /// A histogram's edge count is not its density count plus one.
    #[error(
        "histogram \"{label}\" has {edges} bin edges for {densities} densities; \
         expected {} edges (one more than densities)",
        densities + 1
    )]
    EdgeCount {
        /// The histogram's label.
        label: String,
        /// Number of bin edges found.
        edges: usize,
        /// Number of densities found.
        densities: usize,
    },
    /// A bin edge is not finite or not above the previous edge.
    #[error(
        "histogram \"{label}\" bin edge {index} is {value}; \
         expected finite, strictly increasing edges"
    )]
    BadEdge {
        /// The histogram's label.
        label: String,
        /// Index of the offending edge.
        index: usize,
        /// Its value.
        value: f64,
    },
    /// A density is negative or not finite.
    #[error("histogram \"{label}\" density {index} is {value}; expected a finite value >= 0")]
    BadDensity {
        /// The histogram's label.
        label: String,
        /// Index of the offending bin.
        index: usize,
        /// Its density.
        value: f64,
    },
    /// A bar series does not have one value per category.
    #[error("bar series \"{label}\" has {values} values for {categories} categories")]
    BarCount {
        /// The series' label.
        label: String,
        /// Values given.
        values: usize,
        /// Categories given.
        categories: usize,
    },
    /// A fixed axis range is not finite or not increasing.
    #[error("{axis} range ({min}, {max}) is invalid; expected finite min < max")]
    BadRange {
        /// `"x"` or `"y"`.
        axis: &'static str,
        /// The lower bound given.
        min: f64,
        /// The upper bound given.
        max: f64,
    },
}

/// Why a plot could not be written; every variant names the output file.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The data cannot be plotted; nothing was written.
    #[error("cannot plot {}: invalid input", path.display())]
    Input {
        /// The requested output file.
        path: PathBuf,
        /// What is wrong with the input.
        #[source]
        problem: InputProblem,
    },
    /// The font compiled into the binary did not load (a broken build asset, not bad input).
    #[error("cannot plot {}: the embedded font failed to load (rebuild dtunet)", path.display())]
    Font {
        /// The requested output file.
        path: PathBuf,
    },
    /// plotters failed while drawing.
    #[error("cannot draw plot {}", path.display())]
    Draw {
        /// The requested output file.
        path: PathBuf,
        /// The drawing error.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// Encoding or writing the PNG failed.
    #[error("cannot write plot {} (does its folder exist and is it writable?)", path.display())]
    Write {
        /// The requested output file.
        path: PathBuf,
        /// The encoder's or file system's error.
        #[source]
        source: image::ImageError,
    },
}

/// Draws `series` as coloured lines with a legend and writes a PNG of
/// [`PLOT_WIDTH_PX`]×[`PLOT_HEIGHT_PX`] to `path`.
///
/// Axes fit the data unless `options` fixes them; a flat series or a single point gets a
/// symmetric margin, and a series of one point is drawn as a dot. Pass
/// [`LinePlotOptions::roc`] for ROC curves.
///
/// # Errors
///
/// [`PlotError::Input`] for an empty series list, an empty series, a non-finite coordinate or
/// an invalid fixed range (nothing is written); [`PlotError::Write`] if the file cannot be
/// written.
pub fn line_plot(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    options: &LinePlotOptions,
) -> Result<(), PlotError> {
    let input = |problem| PlotError::Input {
        path: path.to_path_buf(),
        problem,
    };
    validate_series(series).map_err(input)?;
    let points = || series.iter().flat_map(|s| s.points.iter());
    let x_range = match options.x_range {
        Some(range) => checked_range("x", range).map_err(input)?,
        None => fitted_range(points().map(|p| p.0), 0.0),
    };
    let y_range = match options.y_range {
        Some(range) => checked_range("y", range).map_err(input)?,
        None => fitted_range(points().map(|p| p.1), 0.05),
    };
    render_png(path, |root| {
        let mut chart = cartesian_chart(root, title, x_label, y_label, x_range, y_range)?;
        if options.diagonal {
            let (from, to) = (x_range.0.max(y_range.0), x_range.1.min(y_range.1));
            if from < to {
                let style = DIAGONAL_GREY.stroke_width(2);
                chart.draw_series(DashedLineSeries::new(
                    [(from, from), (to, to)],
                    10,
                    8,
                    style,
                ))?;
            }
        }
        for (index, s) in series.iter().enumerate() {
            let color = palette_color(index);
            let dot_px = if s.points.len() == 1 { 5 } else { 0 };
            let line = LineSeries::new(s.points.iter().copied(), color.stroke_width(2).filled());
            let drawn = chart.draw_series(line.point_size(dot_px))?;
            if !s.label.is_empty() {
                drawn.label(s.label.as_str()).legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + LEGEND_KEY_PX, y)], color.stroke_width(3))
                });
            }
        }
        let any_label = series.iter().any(|s| !s.label.is_empty());
        draw_legend(&mut chart, options.legend, any_label)
    })
}

/// One set of bars of a [`bar_plot`]: a value per category, `None` where it has no bar.
#[derive(Debug, Clone, PartialEq)]
pub struct BarSeries {
    /// Legend text.
    pub label: String,
    /// One value per category.
    pub values: Vec<Option<f64>>,
}

/// Draws grouped bars, one group per category (labelled under the x axis) and one colour per
/// series, with a legend, and writes a PNG of [`PLOT_WIDTH_PX`]×[`PLOT_HEIGHT_PX`] to `path`.
/// The y axis starts at 0 (or below the smallest negative value).
///
/// # Errors
///
/// [`PlotError::Input`] for no categories or series, a series without one value per category,
/// a series without any bar or a non-finite value (nothing is written); [`PlotError::Write`]
/// if the file cannot be written.
pub fn bar_plot(
    path: &Path,
    title: &str,
    y_label: &str,
    categories: &[String],
    series: &[BarSeries],
) -> Result<(), PlotError> {
    let input = |problem| PlotError::Input {
        path: path.to_path_buf(),
        problem,
    };
    if categories.is_empty() || series.is_empty() {
        return Err(input(InputProblem::NoSeries));
    }
    for s in series {
        if s.values.len() != categories.len() {
            return Err(input(InputProblem::BarCount {
                label: s.label.clone(),
                values: s.values.len(),
                categories: categories.len(),
            }));
        }
        if s.values.iter().all(Option::is_none) {
            return Err(input(InputProblem::EmptySeries {
                label: s.label.clone(),
            }));
        }
        let bad = s
            .values
            .iter()
            .enumerate()
            .find_map(|(index, value)| value.filter(|v| !v.is_finite()).map(|v| (index, v)));
        if let Some((index, y)) = bad {
            return Err(input(InputProblem::NonFinitePoint {
                label: s.label.clone(),
                index,
                x: index as f64,
                y,
            }));
        }
    }
    let values = || {
        series
            .iter()
            .flat_map(|s| s.values.iter().flatten().copied())
    };
    let (low, high) = fitted_range(values().chain([0.0]), 0.08);
    let below_zero = values().any(|value| value < 0.0);
    let y_range = (if below_zero { low } else { 0.0 }, high);
    let count = categories.len();
    render_png(path, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (font::FAMILY, 26))
            .margin(20)
            .x_label_area_size(60)
            .y_label_area_size(80)
            .build_cartesian_2d(-0.5..count as f64 - 0.5, y_range.0..y_range.1)?;
        let label_of = |x: &f64| {
            let index = x.round();
            if (x - index).abs() < 1e-6 && index >= 0.0 && (index as usize) < count {
                categories[index as usize].clone()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(count + 1)
            .x_label_formatter(&label_of)
            .y_desc(y_label)
            .axis_desc_style((font::FAMILY, 18))
            .label_style((font::FAMILY, 13))
            .bold_line_style(BLACK.mix(0.12))
            .light_line_style(BLACK.mix(0.04))
            .draw()?;
        let width = 0.8 / series.len() as f64;
        for (index, s) in series.iter().enumerate() {
            let color = palette_color(index);
            let bars = s.values.iter().enumerate().filter_map(|(category, value)| {
                let left = category as f64 - 0.4 + index as f64 * width;
                value.map(|v| {
                    Rectangle::new([(left, 0.0), (left + width * 0.92, v)], color.filled())
                })
            });
            chart
                .draw_series(bars)?
                .label(s.label.as_str())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + LEGEND_KEY_PX, y + 6)], color.filled())
                });
        }
        draw_legend(&mut chart, LegendCorner::UpperRight, true)
    })
}

/// Overlays `histograms` as semi-transparent bars with a solid step outline each, and the
/// `markers` as vertical black lines, with a legend, and writes a PNG of
/// [`PLOT_WIDTH_PX`]×[`PLOT_HEIGHT_PX`] to `path`; the y-axis is the density.
///
/// # Errors
///
/// [`PlotError::Input`] for an empty list, a histogram without bins, an edge count other than
/// densities + 1, non-finite or non-increasing edges, negative or non-finite densities, or a
/// non-finite marker (nothing is written); [`PlotError::Write`] if the file cannot be written.
pub fn histogram_plot(
    path: &Path,
    title: &str,
    x_label: &str,
    histograms: &[HistogramSeries],
    markers: &[VerticalMarker],
) -> Result<(), PlotError> {
    let input_error = |problem| PlotError::Input {
        path: path.to_path_buf(),
        problem,
    };
    validate_histograms(histograms).map_err(input_error)?;
    if let Some(marker) = markers.iter().find(|marker| !marker.x.is_finite()) {
        return Err(input_error(InputProblem::NonFinitePoint {
            label: marker.label.clone(),
            index: 0,
            x: marker.x,
            y: 0.0,
        }));
    }
    let x_range = fitted_range(
        histograms
            .iter()
            .flat_map(|h| h.bin_edges.iter().copied())
            .chain(markers.iter().map(|marker| marker.x)),
        0.0,
    );
    let max_density = histograms
        .iter()
        .flat_map(|h| h.densities.iter().copied())
        .fold(0.0, f64::max);
    let y_range = (
        0.0,
        if max_density > 0.0 {
            max_density * 1.05
        } else {
            1.0
        },
    );
    render_png(path, |root| {
        let mut chart = cartesian_chart(root, title, x_label, "density", x_range, y_range)?;
        for (index, h) in histograms.iter().enumerate() {
            let color = palette_color(index);
            let bars = h
                .bin_edges
                .windows(2)
                .zip(&h.densities)
                .map(|(edges, &density)| {
                    Rectangle::new(
                        [(edges[0], 0.0), (edges[1], density)],
                        color.mix(0.2).filled(),
                    )
                });
            chart.draw_series(bars)?;
            let drawn =
                chart.draw_series(LineSeries::new(step_outline(h), color.stroke_width(2)))?;
            if !h.label.is_empty() {
                drawn.label(h.label.as_str()).legend(move |(x, y)| {
                    Rectangle::new(
                        [(x, y - 6), (x + LEGEND_KEY_PX, y + 6)],
                        color.mix(0.5).filled(),
                    )
                });
            }
        }
        for marker in markers {
            chart
                .draw_series(LineSeries::new(
                    [(marker.x, y_range.0), (marker.x, y_range.1)],
                    BLACK.stroke_width(2),
                ))?
                .label(marker.label.as_str())
                .legend(|(x, y)| PathElement::new([(x, y), (x + LEGEND_KEY_PX, y)], BLACK));
        }
        let any_label = !markers.is_empty() || histograms.iter().any(|h| !h.label.is_empty());
        draw_legend(&mut chart, LegendCorner::UpperRight, any_label)
    })
}

/// Any error plotters raises while drawing, boxed to keep plotters out of the public API.
type DrawError = Box<dyn StdError + Send + Sync>;

/// The chart type both plot kinds draw on.
type Chart<'a, 'b> =
    ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Width of a legend key (line or box) in pixels.
const LEGEND_KEY_PX: i32 = 24;

/// Colour of the ROC chance diagonal.
const DIAGONAL_GREY: RGBColor = RGBColor(150, 150, 150);

/// matplotlib's `tab10` colours, cycled over series.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The colour of the `index`-th series.
fn palette_color(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
}

/// Checks that there is something to draw and every coordinate is finite.
fn validate_series(series: &[Series]) -> Result<(), InputProblem> {
    if series.is_empty() {
        return Err(InputProblem::NoSeries);
    }
    for s in series {
        if s.points.is_empty() {
            return Err(InputProblem::EmptySeries {
                label: s.label.clone(),
            });
        }
        let bad = s
            .points
            .iter()
            .enumerate()
            .find(|(_, (x, y))| !x.is_finite() || !y.is_finite());
        if let Some((index, &(x, y))) = bad {
            return Err(InputProblem::NonFinitePoint {
                label: s.label.clone(),
                index,
                x,
                y,
            });
        }
    }
    Ok(())
}

/// Checks bin counts, edge order and density values of every histogram.
fn validate_histograms(histograms: &[HistogramSeries]) -> Result<(), InputProblem> {
    if histograms.is_empty() {
        return Err(InputProblem::NoSeries);
    }
    for h in histograms {
        let label = || h.label.clone();
        let (edges, densities) = (h.bin_edges.len(), h.densities.len());
        if densities == 0 {
            return Err(InputProblem::EmptyHistogram { label: label() });
        }
        if edges != densities + 1 {
            return Err(InputProblem::EdgeCount {
                label: label(),
                edges,
                densities,
            });
        }
        for (index, &value) in h.bin_edges.iter().enumerate() {
            let increasing = index == 0 || value > h.bin_edges[index - 1];
            if !value.is_finite() || !increasing {
                return Err(InputProblem::BadEdge {
                    label: label(),
                    index,
                    value,
                });
            }
        }
        if let Some((index, &value)) = h
            .densities
            .iter()
            .enumerate()
            .find(|(_, d)| !d.is_finite() || **d < 0.0)
        {
            return Err(InputProblem::BadDensity {
                label: label(),
                index,
                value,
            });
        }
    }
    Ok(())
}

/// Returns `range` if it is finite and increasing.
fn checked_range(axis: &'static str, (min, max): (f64, f64)) -> Result<(f64, f64), InputProblem> {
    if min.is_finite() && max.is_finite() && min < max {
        Ok((min, max))
    } else {
        Err(InputProblem::BadRange { axis, min, max })
    }
}

/// The span of `values` widened by `margin` of it on each side; a zero span (a flat series or
/// a single point) is widened to ±10 % of the value, or ±1 around zero.
///
/// `values` must be non-empty and finite (checked by the callers' validation).
fn fitted_range(values: impl Iterator<Item = f64>, margin: f64) -> (f64, f64) {
    let (min, max) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let span = max - min;
    if span > 0.0 {
        (min - span * margin, max + span * margin)
    } else {
        let half = if min == 0.0 { 1.0 } else { min.abs() * 0.1 };
        (min - half, max + half)
    }
}

/// The closed outline of a histogram: up and down each bin, from and back to zero.
fn step_outline(h: &HistogramSeries) -> Vec<(f64, f64)> {
    let mut outline = Vec::with_capacity(2 * h.densities.len() + 2);
    outline.push((h.bin_edges[0], 0.0));
    for (edges, &density) in h.bin_edges.windows(2).zip(&h.densities) {
        outline.push((edges[0], density));
        outline.push((edges[1], density));
    }
    outline.push((h.bin_edges[h.bin_edges.len() - 1], 0.0));
    outline
}

/// Lays out the title, axes, grid and axis labels shared by both plot kinds.
fn cartesian_chart<'a, 'b>(
    root: &'a DrawingArea<BitMapBackend<'b>, Shift>,
    title: &str,
    x_label: &str,
    y_label: &str,
    (x_min, x_max): (f64, f64),
    (y_min, y_max): (f64, f64),
) -> Result<Chart<'a, 'b>, DrawError> {
    let mut chart = ChartBuilder::on(root)
        .caption(title, (font::FAMILY, 26))
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(80)
        .build_cartesian_2d(x_min..x_max, y_min..y_max)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .axis_desc_style((font::FAMILY, 18))
        .label_style((font::FAMILY, 14))
        .bold_line_style(BLACK.mix(0.12))
        .light_line_style(BLACK.mix(0.04))
        .draw()?;
    Ok(chart)
}

/// Draws the legend of the labelled series in `corner`, if any series is labelled.
fn draw_legend<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    corner: LegendCorner,
    any_label: bool,
) -> Result<(), DrawError> {
    if !any_label {
        return Ok(());
    }
    let position = match corner {
        LegendCorner::UpperLeft => SeriesLabelPosition::UpperLeft,
        LegendCorner::UpperRight => SeriesLabelPosition::UpperRight,
        LegendCorner::LowerLeft => SeriesLabelPosition::LowerLeft,
        LegendCorner::LowerRight => SeriesLabelPosition::LowerRight,
    };
    chart
        .configure_series_labels()
        .position(position)
        .margin(14)
        .label_font((font::FAMILY, 16))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .draw()?;
    Ok(())
}

/// Registers the font, draws on a white RGB canvas with `draw` and writes it to `path` as PNG.
fn render_png(
    path: &Path,
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), DrawError>,
) -> Result<(), PlotError> {
    if !font::ensure_registered() {
        return Err(PlotError::Font {
            path: path.to_path_buf(),
        });
    }
    let mut rgb = vec![0_u8; PLOT_WIDTH_PX as usize * PLOT_HEIGHT_PX as usize * 3];
    draw_on_canvas(&mut rgb, draw).map_err(|source| PlotError::Draw {
        path: path.to_path_buf(),
        source,
    })?;
    image::save_buffer_with_format(
        path,
        &rgb,
        PLOT_WIDTH_PX,
        PLOT_HEIGHT_PX,
        image::ExtendedColorType::Rgb8,
        image::ImageFormat::Png,
    )
    .map_err(|source| PlotError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Runs `draw` on a white canvas backed by the RGB buffer `rgb`.
fn draw_on_canvas(
    rgb: &mut [u8],
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), DrawError>,
) -> Result<(), DrawError> {
    let root = BitMapBackend::with_buffer(rgb, (PLOT_WIDTH_PX, PLOT_HEIGHT_PX)).into_drawing_area();
    root.fill(&WHITE)?;
    draw(&root)?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh temp dir for one test's plots.
    fn out_dir() -> tempfile::TempDir {
        tempfile::tempdir().expect("create temp dir")
    }

    /// Copies `path` into `$DTUNET_KEEP_PLOTS`, if set, so the images can be inspected by eye.
    fn keep(path: &Path) {
        if let Some(dir) = std::env::var_os("DTUNET_KEEP_PLOTS") {
            let name = path.file_name().expect("plot file name");
            std::fs::copy(path, Path::new(&dir).join(name)).expect("copy plot");
        }
    }

    /// Decodes the PNG at `path`, checks its size and returns (dark, coloured) pixel counts.
    fn decode_and_count(path: &Path) -> (usize, usize) {
        keep(path);
        let img = image::open(path).expect("decode png").to_rgb8();
        assert_eq!(img.dimensions(), (PLOT_WIDTH_PX, PLOT_HEIGHT_PX));
        let dark = img.pixels().filter(|p| p.0.iter().all(|&c| c < 80)).count();
        let coloured = img
            .pixels()
            .filter(|p| {
                let [r, g, b] = p.0;
                r.max(g).max(b) - r.min(g).min(b) > 100
            })
            .count();
        (dark, coloured)
    }

    fn curve(label: &str, n: usize, f: impl Fn(f64) -> f64) -> Series {
        let points = (0..n).map(|i| i as f64 * 0.1).map(|x| (x, f(x))).collect();
        Series {
            label: label.to_string(),
            points,
        }
    }

    /// Bins of a smooth bump over `[-3, 3]`, width `scale`; non-uniform bin count (23).
    fn bump(label: &str, scale: f64) -> HistogramSeries {
        let n_bins = 23;
        let bin_edges: Vec<f64> = (0..=n_bins)
            .map(|i| -3.0 + 6.0 * i as f64 / n_bins as f64)
            .collect();
        let densities = bin_edges
            .windows(2)
            .map(|e| {
                let mid = 0.5 * (e[0] + e[1]) / scale;
                (-0.5 * mid * mid).exp() / (scale * (2.0 * std::f64::consts::PI).sqrt())
            })
            .collect();
        HistogramSeries {
            label: label.to_string(),
            bin_edges,
            densities,
        }
    }

    #[test]
    fn line_plot_writes_a_non_blank_png() {
        let dir = out_dir();
        let path = dir.path().join("line_kurtosis.png");
        let series = [
            curve("octaves 1", 40, |x| 3.0 + (x * 1.3).sin()),
            curve("octaves 4", 40, |x| 2.0 + 0.5 * x),
            curve("octaves 8", 40, |x| 1.0 + 0.1 * x * x),
        ];
        line_plot(
            &path,
            "Kurtosis vs persistence",
            "persistence",
            "kurtosis",
            &series,
            &LinePlotOptions::default(),
        )
        .expect("plot");
        let (dark, coloured) = decode_and_count(&path);
        assert!(
            dark > 2_000,
            "expected axes and text, found {dark} dark pixels"
        );
        assert!(
            coloured > 1_000,
            "expected coloured lines, found {coloured} coloured pixels"
        );
    }

    #[test]
    fn roc_plot_has_unit_axes_and_diagonal() {
        let dir = out_dir();
        let path = dir.path().join("roc.png");
        let roc = |label: &str, power: f64| Series {
            label: label.to_string(),
            points: (0..=50)
                .map(|i| i as f64 / 50.0)
                .map(|fpr| (fpr, fpr.powf(power)))
                .collect(),
        };
        let series = [
            roc("tsimplex (AUROC 0.91)", 0.1),
            roc("gauss (AUROC 0.75)", 0.33),
        ];
        line_plot(
            &path,
            "ROC",
            "false-positive rate",
            "true-positive rate",
            &series,
            &LinePlotOptions::roc(),
        )
        .expect("plot");
        let (dark, coloured) = decode_and_count(&path);
        assert!(
            dark > 2_000 && coloured > 1_000,
            "blank-looking plot: {dark} dark, {coloured} coloured"
        );
        let img = image::open(&path).expect("decode").to_rgb8();
        let grey = img
            .pixels()
            .filter(|p| p.0 == [DIAGONAL_GREY.0, DIAGONAL_GREY.1, DIAGONAL_GREY.2])
            .count();
        assert!(
            grey > 200,
            "expected the grey diagonal, found {grey} grey pixels"
        );
    }

    #[test]
    fn flat_series_and_single_point_plot() {
        let dir = out_dir();
        let path = dir.path().join("flat_and_point.png");
        let series = [
            Series {
                label: "flat".into(),
                points: vec![(0.0, 2.5), (1.0, 2.5), (2.0, 2.5)],
            },
            Series {
                label: "single".into(),
                points: vec![(1.0, 2.5)],
            },
        ];
        line_plot(
            &path,
            "Flat",
            "step",
            "loss",
            &series,
            &LinePlotOptions::default(),
        )
        .expect("plot");
        let (_, coloured) = decode_and_count(&path);
        assert!(
            coloured > 300,
            "expected the flat line and the dot, found {coloured} coloured pixels"
        );

        let zero = dir.path().join("single_zero.png");
        let only = [Series {
            label: String::new(),
            points: vec![(0.0, 0.0)],
        }];
        line_plot(
            &zero,
            "One point",
            "x",
            "y",
            &only,
            &LinePlotOptions::default(),
        )
        .expect("plot");
        decode_and_count(&zero);
    }

    #[test]
    fn loss_curves_with_small_values_and_unicode_labels() {
        let dir = out_dir();
        let path = dir.path().join("loss.png");
        let series = [
            curve("train (β linear)", 200, |x| 2e-3 * (-x / 4.0).exp() + 1e-4),
            curve("validation (β cosine)", 200, |x| {
                2.5e-3 * (-x / 5.0).exp() + 2e-4
            }),
        ];
        line_plot(
            &path,
            "Loss — ε-prediction",
            "step × 1000",
            "mean squared error of ε",
            &series,
            &LinePlotOptions::default(),
        )
        .expect("plot");
        let (dark, coloured) = decode_and_count(&path);
        assert!(
            dark > 2_000 && coloured > 1_000,
            "blank-looking plot: {dark} dark, {coloured} coloured"
        );
    }

    #[test]
    fn title_text_is_rendered() {
        let dir = out_dir();
        let series = [curve("a", 10, |x| x)];
        let render = |name: &str, title: &str| {
            let path = dir.path().join(name);
            line_plot(&path, title, "x", "y", &series, &LinePlotOptions::default()).expect("plot");
            image::open(&path).expect("decode").to_rgb8()
        };
        let (short, long) = (
            render("t1.png", "A"),
            render("t2.png", "A much longer title"),
        );
        let title_rows = |img: &image::RgbImage| {
            (0..50)
                .flat_map(|y| (0..PLOT_WIDTH_PX).map(move |x| (x, y)))
                .filter(|&(x, y)| img.get_pixel(x, y).0[0] < 128)
                .count()
        };
        assert!(
            title_rows(&long) > title_rows(&short) + 100,
            "title glyphs were not drawn"
        );
    }

    #[test]
    fn histogram_plot_writes_a_non_blank_png() {
        let dir = out_dir();
        let path = dir.path().join("histograms.png");
        let histograms = [
            bump("persistence 0.3", 0.6),
            bump("persistence 0.5", 0.9),
            bump("persistence 0.8", 1.3),
        ];
        histogram_plot(&path, "Noise histograms", "noise value", &histograms, &[]).expect("plot");
        let (dark, coloured) = decode_and_count(&path);
        assert!(
            dark > 2_000 && coloured > 3_000,
            "blank-looking plot: {dark} dark, {coloured} coloured"
        );
    }

    #[test]
    fn bad_line_input_is_an_error_naming_the_path() {
        let dir = out_dir();
        let path = dir.path().join("bad.png");
        let plot = |series: &[Series], options: &LinePlotOptions| {
            line_plot(&path, "t", "x", "y", series, options)
        };
        let ok = [curve("ok", 3, |x| x)];
        let nan = [Series {
            label: "nan".into(),
            points: vec![(0.0, 1.0), (1.0, f64::NAN)],
        }];
        let empty = [Series {
            label: "empty".into(),
            points: vec![],
        }];
        let swapped = LinePlotOptions {
            x_range: Some((1.0, 0.0)),
            ..LinePlotOptions::default()
        };
        let cases = [
            (
                plot(&[], &LinePlotOptions::default()),
                InputProblem::NoSeries,
            ),
            (
                plot(&empty, &LinePlotOptions::default()),
                InputProblem::EmptySeries {
                    label: "empty".into(),
                },
            ),
            (
                plot(&ok, &swapped),
                InputProblem::BadRange {
                    axis: "x",
                    min: 1.0,
                    max: 0.0,
                },
            ),
        ];
        for (result, expected) in cases {
            match result {
                Err(PlotError::Input { path: p, problem }) => {
                    assert_eq!(p, path);
                    assert_eq!(problem, expected);
                }
                other => panic!("expected {expected:?}, got {other:?}"),
            }
        }
        let err = plot(&nan, &LinePlotOptions::default()).expect_err("NaN must be rejected");
        assert!(matches!(
            &err,
            PlotError::Input {
                problem: InputProblem::NonFinitePoint { index: 1, .. },
                ..
            }
        ));
        assert!(
            err.to_string().contains("bad.png"),
            "message lacks the path: {err}"
        );
        assert!(!path.exists(), "nothing may be written for bad input");
    }

    #[test]
    fn bad_histogram_input_is_an_error() {
        let dir = out_dir();
        let path = dir.path().join("bad_hist.png");
        let hist = |edges: Vec<f64>, densities: Vec<f64>| {
            let h = [HistogramSeries {
                label: "h".into(),
                bin_edges: edges,
                densities,
            }];
            match histogram_plot(&path, "t", "x", &h, &[]) {
                Err(PlotError::Input { problem, .. }) => problem,
                other => panic!("expected an input error, got {other:?}"),
            }
        };
        let label = || "h".to_string();
        assert_eq!(
            hist(vec![0.0, 1.0], vec![0.5, 0.5]),
            InputProblem::EdgeCount {
                label: label(),
                edges: 2,
                densities: 2
            }
        );
        assert_eq!(
            hist(vec![0.0], vec![]),
            InputProblem::EmptyHistogram { label: label() }
        );
        assert_eq!(
            hist(vec![0.0, 1.0, 1.0], vec![0.5, 0.5]),
            InputProblem::BadEdge {
                label: label(),
                index: 2,
                value: 1.0
            }
        );
        assert_eq!(
            hist(vec![0.0, 1.0], vec![-0.1]),
            InputProblem::BadDensity {
                label: label(),
                index: 0,
                value: -0.1
            }
        );
        assert!(matches!(
            hist(vec![f64::NAN, 1.0], vec![0.1]),
            InputProblem::BadEdge { index: 0, .. }
        ));
        assert!(matches!(
            histogram_plot(&path, "t", "x", &[], &[]),
            Err(PlotError::Input {
                problem: InputProblem::NoSeries,
                ..
            })
        ));
        assert!(!path.exists());
    }

    #[test]
    fn unwritable_path_is_a_write_error() {
        let dir = out_dir();
        let path = dir.path().join("missing_folder").join("plot.png");
        let err = line_plot(
            &path,
            "t",
            "x",
            "y",
            &[curve("a", 3, |x| x)],
            &LinePlotOptions::default(),
        )
        .expect_err("folder does not exist");
        assert!(matches!(&err, PlotError::Write { path: p, .. } if *p == path));
        assert!(
            err.to_string().contains("missing_folder"),
            "message lacks the path: {err}"
        );
    }
}

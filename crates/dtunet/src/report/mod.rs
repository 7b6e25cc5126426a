//! Reports written beside a run's outputs: for now PNG plots (line plots, ROC curves,
//! overlaid histograms) that render text with an embedded font.

mod font;
mod plots;

pub use plots::{
    HistogramSeries, InputProblem, LegendCorner, LinePlotOptions, PLOT_HEIGHT_PX, PLOT_WIDTH_PX,
    PlotError, Series, histogram_plot, line_plot,
};

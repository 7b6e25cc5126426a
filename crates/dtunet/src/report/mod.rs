//! Reports written beside a run's outputs: PNG plots (line plots, ROC curves, overlaid
//! histograms) that render text with an embedded font, and the evaluation report (tables,
//! figure panels, HTML page).

mod font;
mod html;
mod panels;
mod plots;
mod tables;

pub(crate) use html::escape;
pub use html::{HtmlReport, ReportFiles, write_report_html};
pub use panels::{
    HeatScale, INFERNO_STOPS, PANEL_GAP_PX, PanelImages, inferno, panel_titles, write_panel,
};
pub(crate) use tables::csv_text;
pub use tables::{
    METRICS_CSV_COLUMNS, PER_CLASS_CSV_COLUMNS, class_table, metric_lines, setting_lines,
    write_metrics_csv, write_per_class_csv, write_summary_json, write_summary_md,
};

pub use plots::{
    BarSeries, HistogramSeries, InputProblem, LegendCorner, LinePlotOptions, PLOT_HEIGHT_PX,
    PLOT_WIDTH_PX, PlotError, Series, VerticalMarker, bar_plot, histogram_plot, line_plot,
};

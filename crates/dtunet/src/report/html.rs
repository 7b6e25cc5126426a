//! `report.html`: one self-contained page (inline CSS, no scripts, no network) showing the
//! settings, the summary table, the ROC curve and every image's scores and panel. Images are
//! referenced by relative path, so the page opens from disk inside the output folder.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::panels::{HeatScale, INFERNO_STOPS, PANEL_GAP_PX, panel_titles};
use super::tables::{class_table, metric_lines, setting_lines};
use crate::error::Result;
use crate::evaluate::{ImageRow, Summary};
use crate::io::write_atomically;

/// The files of an evaluation report inside its output folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFiles {
    /// The output folder.
    pub folder: PathBuf,
    /// `metrics.csv`.
    pub metrics_csv: PathBuf,
    /// `per_class.csv` (written when the classes of the images are known).
    pub per_class_csv: PathBuf,
    /// `summary.json`.
    pub summary_json: PathBuf,
    /// `summary.md`.
    pub summary_md: PathBuf,
    /// `roc.png`, the pooled pixel ROC curve.
    pub roc_png: PathBuf,
    /// `roc_image.png`, the image-level ROC curve (score: map maximum).
    pub image_roc_png: PathBuf,
    /// `scores.png`, the histograms of healthy and anomalous pixel scores with the threshold.
    pub scores_png: PathBuf,
    /// `report.html`.
    pub report_html: PathBuf,
    /// `panels/`, one `<stem>.png` per image.
    pub panels: PathBuf,
}

impl ReportFiles {
    /// The report's file names inside `folder`.
    pub fn in_folder(folder: &Path) -> Self {
        Self {
            folder: folder.to_path_buf(),
            metrics_csv: folder.join("metrics.csv"),
            per_class_csv: folder.join("per_class.csv"),
            summary_json: folder.join("summary.json"),
            summary_md: folder.join("summary.md"),
            roc_png: folder.join("roc.png"),
            image_roc_png: folder.join("roc_image.png"),
            scores_png: folder.join("scores.png"),
            report_html: folder.join("report.html"),
            panels: folder.join(PANELS_FOLDER),
        }
    }

    /// The panel of the image with `stem`.
    pub fn panel(&self, stem: &str) -> PathBuf {
        self.panels.join(format!("{stem}.png"))
    }
}

/// Name of the panels folder inside the output folder.
const PANELS_FOLDER: &str = "panels";

/// Narrow panels are scaled up (pixelated) to about this width on the page, in CSS pixels.
const PANEL_DISPLAY_WIDTH_PX: usize = 900;

/// What the page shows.
#[derive(Debug, Clone, Copy)]
pub struct HtmlReport<'a> {
    /// The set's summary.
    pub summary: &'a Summary,
    /// One row per image, in panel order.
    pub rows: &'a [ImageRow],
    /// The heat-map scale shared by all panels.
    pub heat: HeatScale,
    /// The panels have a reconstruction tile.
    pub with_reconstruction: bool,
    /// `roc.png` was drawn (the pooled ROC exists).
    pub has_roc: bool,
    /// `roc_image.png` was drawn (both healthy and anomalous images).
    pub has_image_roc: bool,
}

/// Writes `report.html` into the folder of `files`.
pub fn write_report_html(files: &ReportFiles, report: &HtmlReport<'_>) -> Result<()> {
    let page = render(report);
    write_atomically(&files.report_html, |out| out.write_all(page.as_bytes()))
}

/// The whole page as text.
fn render(report: &HtmlReport<'_>) -> String {
    let summary = report.summary;
    let mut page = String::with_capacity(4096 + 1024 * report.rows.len());
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>dtunet eval: {} images</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>dtunet eval</h1>\n",
        summary.n_images
    );
    page.push_str("<h2>Setting</h2>\n<table class=\"kv\">\n");
    for (label, value) in setting_lines(summary) {
        let _ = writeln!(
            page,
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(label),
            escape(&value)
        );
    }
    page.push_str("</table>\n<h2>Metrics</h2>\n<table class=\"kv\">\n");
    for (label, value) in metric_lines(summary) {
        let _ = writeln!(
            page,
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(label),
            escape(&value)
        );
    }
    page.push_str(
        "</table>\n<p class=\"note\">Per-image metrics: mean ± population std over images. \
         Files: <a href=\"metrics.csv\">metrics.csv</a>, <a href=\"summary.json\">summary.json</a>, \
         <a href=\"summary.md\">summary.md</a>.</p>\n",
    );
    render_class_table(&mut page, summary);
    page.push_str("<h2>ROC curves</h2>\n");
    if report.has_roc {
        page.push_str("<img class=\"roc\" src=\"roc.png\" alt=\"pooled pixel ROC curve\">\n");
    } else {
        page.push_str(
            "<p>Pixel ROC not defined: the masks hold a single class over the whole set.</p>\n",
        );
    }
    if report.has_image_roc {
        page.push_str("<img class=\"roc\" src=\"roc_image.png\" alt=\"image-level ROC curve\">\n");
    } else {
        page.push_str(
            "<p>Image ROC not defined: the images are all healthy or all anomalous.</p>\n",
        );
    }
    let _ = writeln!(
        page,
        "<h2>Pixel scores and threshold</h2>\n<img class=\"roc\" src=\"scores.png\" \
         alt=\"histograms of healthy and anomalous pixel scores\">\n<p class=\"note\">Threshold: {}</p>",
        escape(&summary.threshold.describe())
    );
    render_image_table(&mut page, report.rows);
    render_panels(&mut page, report);
    page.push_str("</body>\n</html>\n");
    page
}

/// The per-class table, when the classes are known.
fn render_class_table(page: &mut String, summary: &Summary) {
    if summary.per_class.is_empty() {
        return;
    }
    let (header, rows) = class_table(&summary.per_class);
    page.push_str("<h2>Per class</h2>\n<table class=\"rows\">\n<tr>");
    for title in header {
        let _ = write!(page, "<th>{}</th>", escape(title));
    }
    page.push_str("</tr>\n");
    for row in rows {
        page.push_str("<tr>");
        for cell in row {
            let _ = write!(page, "<td>{}</td>", escape(&cell));
        }
        page.push_str("</tr>\n");
    }
    page.push_str(
        "</table>\n<p class=\"note\">Each class: its images pooled with every healthy image of \
         the set; <a href=\"per_class.csv\">per_class.csv</a>.</p>\n",
    );
}

/// The per-image table, each stem linking to its panel.
fn render_image_table(page: &mut String, rows: &[ImageRow]) {
    page.push_str(
        "<h2>Images</h2>\n<table class=\"rows\">\n<tr><th>image</th><th>anomalous</th>\
         <th>threshold</th><th>Dice</th><th>IoU</th><th>precision</th><th>recall</th>\
         <th>FPR</th><th>AUROC</th><th>ECE ae</th><th>ECE se</th><th>SSIM</th>\
         <th>PSNR</th></tr>\n",
    );
    for (index, row) in rows.iter().enumerate() {
        let overlap = &row.overlap;
        let scores = &row.scores;
        let anomalous = match (scores.anomalous, row.mask_missing) {
            (_, true) => "no mask",
            (true, false) => "yes",
            (false, false) => "no",
        };
        let _ = write!(
            page,
            "<tr><td><a href=\"#image-{index}\">{}</a></td><td>{anomalous}</td><td>{:.4}</td>",
            escape(&row.stem),
            row.threshold
        );
        for value in [
            Some(overlap.dice),
            Some(overlap.iou),
            Some(overlap.precision),
            Some(overlap.recall),
            Some(overlap.false_positive_rate),
            scores.auroc,
            scores.ece_ae,
            scores.ece_se,
            scores.ssim,
            scores.psnr,
        ] {
            match value {
                Some(value) if value.is_finite() => {
                    let _ = write!(page, "<td>{value:.4}</td>");
                }
                Some(_) => page.push_str("<td>∞</td>"),
                None => page.push_str("<td class=\"absent\">—</td>"),
            }
        }
        page.push_str("</tr>\n");
    }
    page.push_str("</table>\n");
}

/// The panels with their column titles and the heat-map scale.
fn render_panels(page: &mut String, report: &HtmlReport<'_>) {
    let titles = panel_titles(report.with_reconstruction);
    let gradient = INFERNO_STOPS
        .iter()
        .map(|[r, g, b]| format!("rgb({r},{g},{b})"))
        .collect::<Vec<_>>()
        .join(",");
    let _ = write!(
        page,
        "<h2>Panels</h2>\n<p>Heat map ({} map) on one scale for the whole set: \
         <span class=\"scale\">{:.4}</span><span class=\"bar\" style=\"background:linear-gradient(to right,{gradient})\"></span>\
         <span class=\"scale\">{:.4}</span></p>\n",
        report.summary.map, report.heat.low, report.heat.high
    );
    for (index, row) in report.rows.iter().enumerate() {
        let n_tiles = titles.len();
        let natural_width = n_tiles * row.width + (n_tiles - 1) * PANEL_GAP_PX;
        let display_width = natural_width * PANEL_DISPLAY_WIDTH_PX.div_ceil(natural_width).max(1);
        let _ = write!(
            page,
            "<figure id=\"image-{index}\" style=\"max-width:{display_width}px\">\n\
             <figcaption><b>{}</b> — Dice {:.4}, threshold {:.4}</figcaption>\n\
             <div class=\"titles\" style=\"grid-template-columns:repeat({n_tiles},1fr)\">",
            escape(&row.stem),
            row.overlap.dice,
            row.threshold
        );
        for title in &titles {
            let _ = write!(page, "<span>{title}</span>");
        }
        let _ = write!(
            page,
            "</div>\n<img src=\"{PANELS_FOLDER}/{}.png\" width=\"{natural_width}\" height=\"{}\" \
             loading=\"lazy\" alt=\"{}\">\n</figure>\n",
            url_component(&row.stem),
            row.height,
            escape(&row.stem)
        );
    }
}

/// Text safe inside HTML elements and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// A path component percent-encoded for a relative URL (all but unreserved characters).
fn url_component(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

/// The page's style sheet.
const STYLE: &str = "body{font-family:sans-serif;margin:2em;max-width:1200px;color:#222}\
table{border-collapse:collapse;margin:0.5em 0}\
th,td{border:1px solid #ccc;padding:0.25em 0.6em;text-align:left}\
table.rows td{text-align:right;font-variant-numeric:tabular-nums}\
table.rows td:first-child{text-align:left}\
td.absent{color:#999}\
.note{color:#555;font-size:0.9em}\
img.roc{width:600px;max-width:100%}\
figure{margin:1.5em 0}\
figure img{width:100%;height:auto;image-rendering:pixelated}\
.titles{display:grid;text-align:center;font-size:0.85em;color:#444}\
.bar{display:inline-block;width:240px;height:1em;vertical-align:middle;margin:0 0.5em}\
.scale{font-variant-numeric:tabular-nums}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text_and_urls() {
        assert_eq!(escape("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
        assert_eq!(url_component("x y#1.ü"), "x%20y%231.%C3%BC");
        let files = ReportFiles::in_folder(Path::new("out"));
        assert_eq!(files.panel("003"), Path::new("out/panels/003.png"));
    }
}

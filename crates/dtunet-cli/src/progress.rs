//! Progress bars with rate and ETA, hidden when stderr is not a terminal.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `total` steps of `unit` (e.g. "settings", "images").
pub fn bar(total: u64, unit: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    let template = format!("{{msg}} [{{bar:30}}] {{pos}}/{{len}} {unit} {{per_sec}} ETA {{eta}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

//! The font embedded into the binary, so plots render text on machines without system fonts.
//!
//! DejaVu Sans 2.37 (Debian `fonts-dejavu-core`), licence in `assets/fonts/LICENSE-DejaVu.txt`.

use std::sync::OnceLock;

use plotters::style::{FontStyle, register_font};

/// The font family name every plot asks for; the embedded font is registered under it.
pub(crate) const FAMILY: &str = "sans-serif";

/// DejaVu Sans, regular weight.
static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Registers the embedded font with plotters once per process.
///
/// Returns `false` if the embedded bytes are not a valid font (a broken asset, not user input).
pub(crate) fn ensure_registered() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS).is_ok())
}

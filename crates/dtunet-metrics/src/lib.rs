//! Segmentation metrics (filled by the metrics issue).

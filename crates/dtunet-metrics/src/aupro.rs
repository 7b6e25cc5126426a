//! AUPRO: the area under the per-region-overlap curve up to a false-positive-rate limit,
//! normalised by that limit, as defined by the MVTec AD evaluation code
//! (`generic_util.trapezoid` and `pro_curve_util.compute_pro`).
//!
//! Regions are the 8-connected components of each ground-truth mask. At a threshold `t`
//! (anomalous when `score >= t`) the PRO is the mean over all regions of all images of the
//! fraction of the region's pixels flagged, and the FPR is the fraction of normal pixels (over
//! all images) flagged. The curve runs from `(0, 0)` through one point per distinct score to
//! `(1, 1)`; it is integrated with the trapezoid rule up to the limit, the last segment cut at
//! the limit by linear interpolation, and divided by the limit.
//!
//! The MVTec code stores FPRs as `float32`; this implementation keeps `f64` throughout, so
//! results differ from it by about 1e-7.

use crate::binning::ScoreBins;
use crate::components::Components;
use crate::error::{MetricsError, Result};
use crate::input::check_finite;
use crate::pooled::PoolingMode;
use crate::roc::{sort_descending, sweep_sorted_descending};
use crate::shape::MapShape;

/// The FPR limit of the MVTec AD benchmark, 0.3.
pub const MVTEC_FPR_LIMIT: f64 = 0.3;

/// Pooled AUPRO over many images, fed one `(map, mask)` at a time.
///
/// Exact mode keeps 4 bytes per normal pixel and 8 per anomalous pixel. Histogram mode keeps a
/// count and a sum per bin; its AUPRO is the exact AUPRO of scores rounded down to their bin's
/// lower edge, which differs from the exact value by at most `Σ_b ΔFPR_b · ΔPRO_b / (2 ·
/// limit)` over the bins below the limit (each bin replaces a monotone stretch of the curve by
/// its chord).
#[derive(Debug, Clone)]
pub struct AuproAccumulator {
    mode: PoolingMode,
    fpr_limit: f64,
    store: ProStore,
    n_regions: u64,
    n_images: usize,
}

/// The pixels seen so far.
#[derive(Debug, Clone)]
enum ProStore {
    Exact {
        /// `(score, region)` per anomalous pixel; `region` indexes `inverse_region_sizes`.
        anomalous: Vec<(f32, u32)>,
        /// Score per normal pixel.
        normal: Vec<f32>,
        /// `1 / size` of each region of every image so far.
        inverse_region_sizes: Vec<f64>,
        sorted: bool,
    },
    Histogram {
        bins: ScoreBins,
        /// Normal pixels per bin.
        normal_counts: Vec<u64>,
        /// `Σ 1 / region size` over the anomalous pixels of each bin.
        overlap_sums: Vec<f64>,
    },
}

impl ProStore {
    fn empty_histogram(bins: ScoreBins) -> Self {
        Self::Histogram {
            bins,
            normal_counts: vec![0; bins.n_bins()],
            overlap_sums: vec![0.0; bins.n_bins()],
        }
    }
}

impl AuproAccumulator {
    /// An empty accumulator integrating up to `fpr_limit` ([`MVTEC_FPR_LIMIT`] for the
    /// benchmark).
    ///
    /// # Errors
    /// `fpr_limit` outside `(0, 1]`.
    pub fn new(mode: PoolingMode, fpr_limit: f64) -> Result<Self> {
        if !(fpr_limit > 0.0 && fpr_limit <= 1.0) {
            return Err(MetricsError::InvalidParameter {
                name: "fpr_limit",
                found: fpr_limit.to_string(),
                expected: "a false-positive rate in (0, 1], e.g. 0.3",
            });
        }
        let store = match mode {
            PoolingMode::Histogram(bins) => ProStore::empty_histogram(bins),
            PoolingMode::Exact | PoolingMode::ExactUpTo { .. } => ProStore::Exact {
                anomalous: Vec::new(),
                normal: Vec::new(),
                inverse_region_sizes: Vec::new(),
                sorted: true,
            },
        };
        Ok(Self {
            mode,
            fpr_limit,
            store,
            n_regions: 0,
            n_images: 0,
        })
    }

    /// Adds one image. On error nothing is added.
    ///
    /// # Shapes
    /// `map` and `mask`: `[shape.height · shape.width]`, row-major; `true` = anomalous.
    ///
    /// # Errors
    /// Lengths that do not match `shape`, a non-finite score, or (with bins) a score outside
    /// the bins' range.
    pub fn add(&mut self, map: &[f32], mask: &[bool], shape: MapShape) -> Result<()> {
        shape.check("map", map.len())?;
        check_finite("map", map)?;
        if let Some(bins) = self.mode.bins() {
            bins.check_range("map", map)?;
        }
        let components = Components::label(mask, shape)?;
        match &mut self.store {
            ProStore::Exact {
                anomalous,
                normal,
                inverse_region_sizes,
                sorted,
            } => {
                let first_region = inverse_region_sizes.len() as u32;
                inverse_region_sizes
                    .extend(components.sizes().iter().map(|&size| 1.0 / size as f64));
                for (&score, &label) in map.iter().zip(components.labels()) {
                    match label {
                        0 => normal.push(score),
                        region => anomalous.push((score, first_region + region - 1)),
                    }
                }
                *sorted = false;
            }
            ProStore::Histogram {
                bins,
                normal_counts,
                overlap_sums,
            } => {
                let inverse_sizes: Vec<f64> = components
                    .sizes()
                    .iter()
                    .map(|&size| 1.0 / size as f64)
                    .collect();
                for (&score, &label) in map.iter().zip(components.labels()) {
                    let Some(bin) = bins.bin_of(f64::from(score)) else {
                        continue;
                    };
                    match label {
                        0 => normal_counts[bin] += 1,
                        region => overlap_sums[bin] += inverse_sizes[region as usize - 1],
                    }
                }
            }
        }
        self.n_regions += components.n_components() as u64;
        self.n_images += 1;
        if let Some(n_exact_pixels) = self.n_exact_pixels()
            && self.mode.exceeds_exact_limit(n_exact_pixels)
        {
            self.fold_into_histogram();
        }
        Ok(())
    }

    /// Number of images added.
    pub fn n_images(&self) -> usize {
        self.n_images
    }

    /// Number of ground-truth regions over all images added.
    pub fn n_regions(&self) -> u64 {
        self.n_regions
    }

    /// AUPRO up to the FPR limit, in `[0, 1]`; `None` until at least one anomalous region and
    /// one normal pixel have been seen. Sorts the exact store once (hence `&mut`).
    pub fn aupro(&mut self) -> Option<f64> {
        let n_normal = self.n_normal();
        if self.n_regions == 0 || n_normal == 0 {
            return None;
        }
        let (n_normal, n_regions) = (n_normal as f64, self.n_regions as f64);
        let mut integral = TrapezoidToLimit::new(self.fpr_limit);
        let (mut false_positives, mut overlap_sum) = (0u64, 0.0f64);
        let mut visit = |normal_in_step: u64, overlap_in_step: f64| {
            false_positives += normal_in_step;
            overlap_sum += overlap_in_step;
            let fpr = (false_positives as f64 / n_normal).min(1.0);
            let pro = (overlap_sum / n_regions).min(1.0);
            integral.push(fpr, pro);
        };
        match &mut self.store {
            ProStore::Exact {
                anomalous,
                normal,
                inverse_region_sizes,
                sorted,
            } => {
                if !*sorted {
                    anomalous.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
                    sort_descending(normal);
                    *sorted = true;
                }
                sweep_sorted_descending(
                    anomalous,
                    |&(score, _)| score,
                    normal,
                    |_, run, n| {
                        let overlap = run
                            .iter()
                            .map(|&(_, region)| inverse_region_sizes[region as usize])
                            .sum();
                        visit(n, overlap);
                    },
                );
            }
            ProStore::Histogram {
                normal_counts,
                overlap_sums,
                ..
            } => {
                for bin in (0..normal_counts.len()).rev() {
                    if normal_counts[bin] > 0 || overlap_sums[bin] > 0.0 {
                        visit(normal_counts[bin], overlap_sums[bin]);
                    }
                }
            }
        }
        integral.push(1.0, 1.0);
        Some(integral.area / self.fpr_limit)
    }

    /// Normal pixels added.
    fn n_normal(&self) -> u64 {
        match &self.store {
            ProStore::Exact { normal, .. } => normal.len() as u64,
            ProStore::Histogram { normal_counts, .. } => normal_counts.iter().sum(),
        }
    }

    /// Pixels held exactly, or `None` once binned.
    fn n_exact_pixels(&self) -> Option<usize> {
        match &self.store {
            ProStore::Exact {
                anomalous, normal, ..
            } => Some(anomalous.len() + normal.len()),
            ProStore::Histogram { .. } => None,
        }
    }

    /// Moves the exact store into the histogram of an `ExactUpTo` mode.
    fn fold_into_histogram(&mut self) {
        let Some(bins) = self.mode.bins() else { return };
        let exact = std::mem::replace(&mut self.store, ProStore::empty_histogram(bins));
        if let (
            ProStore::Exact {
                anomalous,
                normal,
                inverse_region_sizes,
                ..
            },
            ProStore::Histogram {
                bins,
                normal_counts,
                overlap_sums,
            },
        ) = (exact, &mut self.store)
        {
            for score in normal {
                if let Some(bin) = bins.bin_of(f64::from(score)) {
                    normal_counts[bin] += 1;
                }
            }
            for (score, region) in anomalous {
                if let Some(bin) = bins.bin_of(f64::from(score)) {
                    overlap_sums[bin] += inverse_region_sizes[region as usize];
                }
            }
        }
    }
}

/// Pooled AUPRO of `maps` against `masks`, exact; `None` when no mask has an anomalous pixel
/// or no pixel is normal.
///
/// # Shapes
/// `maps[i]` and `masks[i]`: `[shape.height · shape.width]`, row-major, for every image `i`.
///
/// # Errors
/// No images, different numbers of maps and masks, lengths that do not match `shape`, a
/// non-finite score, or `fpr_limit` outside `(0, 1]`.
pub fn aupro(
    maps: &[&[f32]],
    masks: &[&[bool]],
    shape: MapShape,
    fpr_limit: f64,
) -> Result<Option<f64>> {
    crate::input::check_not_empty("maps", maps.len())?;
    crate::input::check_same_len("masks", masks.len(), "maps", maps.len())?;
    let mut accumulator = AuproAccumulator::new(PoolingMode::Exact, fpr_limit)?;
    for (map, mask) in maps.iter().zip(masks) {
        accumulator.add(map, mask, shape)?;
    }
    Ok(accumulator.aupro())
}

/// The trapezoid rule over points with non-decreasing `x`, up to `x = limit`, the last segment
/// cut at the limit by linear interpolation (MVTec's `trapezoid(x, y, x_max)`).
struct TrapezoidToLimit {
    limit: f64,
    area: f64,
    previous: (f64, f64),
    reached_limit: bool,
}

impl TrapezoidToLimit {
    /// Starts at `(0, 0)`.
    fn new(limit: f64) -> Self {
        Self {
            limit,
            area: 0.0,
            previous: (0.0, 0.0),
            reached_limit: false,
        }
    }

    /// Extends the curve to `(x, y)`.
    fn push(&mut self, x: f64, y: f64) {
        if self.reached_limit {
            return;
        }
        let (previous_x, previous_y) = self.previous;
        if x <= self.limit {
            self.area += 0.5 * (y + previous_y) * (x - previous_x);
            self.previous = (x, y);
            return;
        }
        if previous_x < self.limit {
            let y_at_limit =
                previous_y + (y - previous_y) * (self.limit - previous_x) / (x - previous_x);
            self.area += 0.5 * (y_at_limit + previous_y) * (self.limit - previous_x);
        }
        self.reached_limit = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trapezoid_interpolates_the_end_point() {
        let mut integral = TrapezoidToLimit::new(0.3);
        for (x, y) in [(0.1, 0.5), (0.2, 0.5), (0.5, 0.8), (1.0, 1.0)] {
            integral.push(x, y);
        }
        // 0.025 + 0.05 + the cut segment from 0.2 to 0.3 (y 0.5 → 0.6): 0.055.
        assert!((integral.area - 0.13).abs() < 1e-15);
    }

    #[test]
    fn trapezoid_stops_at_a_point_on_the_limit() {
        let mut integral = TrapezoidToLimit::new(0.5);
        for (x, y) in [(0.5, 1.0), (0.5, 1.0), (1.0, 0.0)] {
            integral.push(x, y);
        }
        assert!((integral.area - 0.25).abs() < 1e-15);
    }

    #[test]
    fn perfect_map_scores_one_and_inverted_map_scores_zero() {
        let shape = MapShape::new(5, 7);
        let mask: Vec<bool> = (0..35).map(|i| i % 7 < 2 && i / 7 < 3).collect();
        let perfect: Vec<f32> = mask.iter().map(|&m| if m { 1.0 } else { 0.0 }).collect();
        let inverted: Vec<f32> = perfect.iter().map(|&s| 1.0 - s).collect();
        let at_limit = aupro(&[&perfect], &[&mask], shape, MVTEC_FPR_LIMIT)
            .unwrap()
            .unwrap();
        assert!((at_limit - 1.0).abs() < 1e-15);
        assert_eq!(
            aupro(&[&inverted], &[&mask], shape, MVTEC_FPR_LIMIT).unwrap(),
            Some(0.0)
        );
    }

    #[test]
    fn small_regions_weigh_as_much_as_large_ones() {
        // Two regions: 1 pixel (found first) and 9 pixels (found last, after every normal
        // pixel). PRO = 1/2 over the whole FPR range up to 1.
        let shape = MapShape::new(5, 7);
        let mut mask = vec![false; 35];
        mask[0] = true;
        for row in 2..5 {
            for col in 4..7 {
                mask[row * 7 + col] = true;
            }
        }
        let map: Vec<f32> = mask
            .iter()
            .enumerate()
            .map(|(i, &m)| match (i, m) {
                (0, _) => 2.0,
                (_, true) => -1.0,
                _ => 0.5,
            })
            .collect();
        let value = aupro(&[&map], &[&mask], shape, MVTEC_FPR_LIMIT)
            .unwrap()
            .unwrap();
        assert!((value - 0.5).abs() < 1e-15);
    }

    #[test]
    fn needs_a_region_and_a_normal_pixel() {
        let shape = MapShape::new(2, 2);
        let map = [0.1f32, 0.2, 0.3, 0.4];
        assert_eq!(aupro(&[&map], &[&[false; 4]], shape, 0.3).unwrap(), None);
        assert_eq!(aupro(&[&map], &[&[true; 4]], shape, 0.3).unwrap(), None);
    }

    #[test]
    fn histogram_mode_is_close_to_exact() {
        let shape = MapShape::new(40, 56);
        let bins = ScoreBins::new(-1.0, 2.0, ScoreBins::DEFAULT_N_BINS).unwrap();
        let mut exact = AuproAccumulator::new(PoolingMode::Exact, 0.3).unwrap();
        let mut binned = AuproAccumulator::new(PoolingMode::Histogram(bins), 0.3).unwrap();
        let mut adaptive = AuproAccumulator::new(
            PoolingMode::ExactUpTo {
                max_exact_pixels: shape.len(),
                bins,
            },
            0.3,
        )
        .unwrap();
        for image in 0..3 {
            let mask: Vec<bool> = (0..shape.len())
                .map(|i| {
                    let (row, col) = (i / 56, i % 56);
                    (row + image) % 13 < 4 && (col * (image + 1)) % 17 < 5
                })
                .collect();
            let map: Vec<f32> = (0..shape.len())
                .map(|i| (0.5 * (i as f64 * 0.37).sin() + if mask[i] { 0.6 } else { 0.0 }) as f32)
                .collect();
            exact.add(&map, &mask, shape).unwrap();
            binned.add(&map, &mask, shape).unwrap();
            adaptive.add(&map, &mask, shape).unwrap();
        }
        let exact = exact.aupro().unwrap();
        assert!((binned.aupro().unwrap() - exact).abs() < 1e-3);
        assert_eq!(adaptive.aupro(), binned.aupro());
        assert!(binned.n_regions() > 3 && binned.n_images() == 3);
    }

    #[test]
    fn rejects_bad_input() {
        let shape = MapShape::new(2, 3);
        assert!(AuproAccumulator::new(PoolingMode::Exact, 0.0).is_err());
        assert!(AuproAccumulator::new(PoolingMode::Exact, 1.5).is_err());
        assert!(aupro(&[], &[], shape, 0.3).is_err());
        assert!(aupro(&[&[0.0; 6]], &[&[false; 5]], shape, 0.3).is_err());
        assert!(aupro(&[&[0.0; 5]], &[&[false; 6]], shape, 0.3).is_err());
        assert!(aupro(&[&[f32::NAN; 6]], &[&[false; 6]], shape, 0.3).is_err());
    }
}

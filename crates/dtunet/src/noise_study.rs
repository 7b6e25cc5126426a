//! Noise analysis of the paper's §8 (Figures 9, 11, 12): how persistence, octaves, frequency
//! and the timestep shape the distribution of Tsimplex noise, as CSV tables and PNG plots.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use dtunet_noise::{
    BatchShape, Histogram, Moments, NoiseConfig, NoiseField, NoiseKind, NoiseSource,
};

use crate::error::{DtunetError, Result};
use crate::io::{write_atomically, write_png_gray};
use crate::report::{HistogramSeries, LinePlotOptions, Series, histogram_plot, line_plot};

/// The noise parameter a study varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepParameter {
    /// Amplitude ratio between octaves (Figure 9a / 11a).
    Persistence,
    /// Number of octaves (Figure 9b / 11b).
    Octaves,
    /// Base period `F = 2^μ`; the swept value is `μ` (Figure 9c / 11c).
    Frequency,
    /// The diffusion timestep `t` (Figure 11d).
    Timestep,
}

impl SweepParameter {
    /// Name on the command line and in CSV headers.
    pub fn name(self) -> &'static str {
        match self {
            SweepParameter::Persistence => "persistence",
            SweepParameter::Octaves => "octaves",
            SweepParameter::Frequency => "frequency",
            SweepParameter::Timestep => "t",
        }
    }

    /// The paper's settings for this study.
    pub fn default_values(self) -> Vec<f64> {
        match self {
            SweepParameter::Persistence => vec![0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
            SweepParameter::Octaves => (1..=10).map(f64::from).collect(),
            SweepParameter::Frequency => (0..=7).map(f64::from).collect(),
            SweepParameter::Timestep => (0..=10).map(|i| f64::from(i * 10)).collect(),
        }
    }

    /// Human-readable label of one setting (`μ=3 (F=8)` for frequency).
    pub fn label(self, value: f64) -> String {
        match self {
            SweepParameter::Frequency => format!("μ={value} (F={})", 2f64.powf(value)),
            _ => format!("{}={value}", self.name()),
        }
    }
}

impl fmt::Display for SweepParameter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SweepParameter {
    type Err = DtunetError;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "persistence" => Ok(SweepParameter::Persistence),
            "octaves" => Ok(SweepParameter::Octaves),
            "frequency" => Ok(SweepParameter::Frequency),
            "t" => Ok(SweepParameter::Timestep),
            _ => Err(DtunetError::InvalidParameter {
                name: "sweep",
                found: format!("{text:?}"),
                expected: "one of persistence, octaves, frequency, t".into(),
            }),
        }
    }
}

/// A noise study: one parameter swept over `values`, everything else from `base`.
#[derive(Debug, Clone)]
pub struct SweepSpec {
    /// The varied parameter.
    pub parameter: SweepParameter,
    /// The settings, in plotting order.
    pub values: Vec<f64>,
    /// The other noise parameters.
    pub base: NoiseConfig,
    /// The batch generated per setting.
    pub shape: BatchShape,
    /// Timestep of every sample when the timestep is not the swept parameter.
    pub timestep: u32,
    /// Histogram bins over the common range of all settings.
    pub bins: usize,
    /// Seed of the noise source; every setting uses the same seed so only the parameter varies.
    pub seed: u64,
}

/// Statistics of one setting.
#[derive(Debug, Clone)]
pub struct SweepPoint {
    /// The setting's value.
    pub value: f64,
    /// Moments of all generated values.
    pub moments: Moments,
    /// Histogram over the study's common range.
    pub histogram: Histogram,
}

impl SweepSpec {
    /// The noise configuration and timestep of one setting; validates it.
    fn setting(&self, value: f64) -> Result<(NoiseConfig, u32)> {
        let mut config = self.base;
        let mut timestep = self.timestep;
        let integer = |name: &'static str| -> Result<u32> {
            if value >= 0.0 && value.fract() == 0.0 && value <= f64::from(u32::MAX) {
                Ok(value as u32)
            } else {
                Err(DtunetError::InvalidParameter {
                    name,
                    found: value.to_string(),
                    expected: "a non-negative integer".into(),
                })
            }
        };
        match self.parameter {
            SweepParameter::Persistence => config.fractal.persistence = value,
            SweepParameter::Octaves => config.fractal.octaves = integer("octaves")?,
            SweepParameter::Frequency => config.fractal.frequency = 2f64.powf(value),
            SweepParameter::Timestep => timestep = integer("t")?,
        }
        config.validate_request(self.shape, &[timestep])?;
        Ok((config, timestep))
    }

    /// Generates every setting's batch and its statistics; `progress` is called once per
    /// setting. Fails before generating anything if a setting is invalid.
    pub fn run(&self, mut progress: impl FnMut()) -> Result<Vec<SweepPoint>> {
        if self.values.is_empty() {
            return Err(DtunetError::InvalidParameter {
                name: "sweep values",
                found: "[]".into(),
                expected: "at least one setting".into(),
            });
        }
        if self.bins == 0 {
            return Err(DtunetError::InvalidParameter {
                name: "bins",
                found: "0".into(),
                expected: "at least 1".into(),
            });
        }
        let settings: Vec<(NoiseConfig, u32)> = self
            .values
            .iter()
            .map(|&value| self.setting(value))
            .collect::<Result<_>>()?;
        let mut fields = Vec::with_capacity(settings.len());
        for (config, timestep) in settings {
            let mut source = NoiseSource::new(config, self.seed)?;
            fields.push(source.sample(self.shape, &[timestep])?);
            progress();
        }
        let reach = fields
            .iter()
            .flat_map(|field| field.data.iter())
            .fold(0.0f64, |acc, v| acc.max(v.abs()))
            .max(f64::MIN_POSITIVE);
        fields
            .iter()
            .zip(&self.values)
            .map(|(field, &value)| {
                Ok(SweepPoint {
                    value,
                    moments: Moments::of(&field.data),
                    histogram: Histogram::new(&field.data, self.bins, -reach, reach)?,
                })
            })
            .collect()
    }
}

/// Paths of a study's outputs.
#[derive(Debug, Clone)]
pub struct SweepFiles {
    /// One row per setting: moments.
    pub stats_csv: PathBuf,
    /// One row per setting and bin: density.
    pub histograms_csv: PathBuf,
    /// Overlaid histograms.
    pub histograms_png: PathBuf,
    /// Kurtosis (and skewness) against the setting.
    pub kurtosis_png: PathBuf,
}

/// Writes `stats.csv`, `histograms.csv`, `histograms.png` and `kurtosis.png` into `out_dir`.
pub fn write_sweep(out_dir: &Path, spec: &SweepSpec, points: &[SweepPoint]) -> Result<SweepFiles> {
    let files = SweepFiles {
        stats_csv: out_dir.join("stats.csv"),
        histograms_csv: out_dir.join("histograms.csv"),
        histograms_png: out_dir.join("histograms.png"),
        kurtosis_png: out_dir.join("kurtosis.png"),
    };
    let name = spec.parameter.name();
    write_atomically(&files.stats_csv, |out| {
        writeln!(out, "{name},count,mean,std,skewness,kurtosis,min,max")?;
        for p in points {
            let m = &p.moments;
            writeln!(
                out,
                "{},{},{:e},{:e},{:e},{:e},{:e},{:e}",
                p.value, m.count, m.mean, m.std, m.skewness, m.kurtosis, m.min, m.max
            )?;
        }
        Ok(())
    })?;
    write_atomically(&files.histograms_csv, |out| {
        writeln!(out, "{name},bin_low,bin_high,count,density")?;
        for p in points {
            let densities = p.histogram.densities();
            for ((edge, count), density) in p
                .histogram
                .edges
                .windows(2)
                .zip(&p.histogram.counts)
                .zip(densities)
            {
                writeln!(
                    out,
                    "{},{:e},{:e},{count},{density:e}",
                    p.value, edge[0], edge[1]
                )?;
            }
        }
        Ok(())
    })?;
    let histograms: Vec<HistogramSeries> = points
        .iter()
        .map(|p| HistogramSeries {
            label: spec.parameter.label(p.value),
            bin_edges: p.histogram.edges.clone(),
            densities: p.histogram.densities(),
        })
        .collect();
    let title = format!("{} noise histogram by {name}", spec.base.kind);
    histogram_plot(
        &files.histograms_png,
        &title,
        "noise value",
        &histograms,
        &[],
    )?;
    let curve = |label: &str, value: fn(&Moments) -> f64| Series {
        label: label.into(),
        points: points
            .iter()
            .map(|p| (p.value, value(&p.moments)))
            .filter(|(_, y)| y.is_finite())
            .collect(),
    };
    let mut series = vec![
        curve("kurtosis (Pearson)", |m| m.kurtosis),
        curve("skewness", |m| m.skewness),
    ];
    let (first, last) = (points[0].value, points[points.len() - 1].value);
    series.push(Series {
        label: "normal kurtosis = 3".into(),
        points: vec![(first, 3.0), (last, 3.0)],
    });
    series.retain(|s| !s.points.is_empty());
    let x_label = match spec.parameter {
        SweepParameter::Frequency => "μ (frequency F = 2^μ)".to_string(),
        parameter => parameter.name().to_string(),
    };
    line_plot(
        &files.kurtosis_png,
        &format!("{} kurtosis and skewness by {name}", spec.base.kind),
        &x_label,
        "moment",
        &series,
        &LinePlotOptions::default(),
    )?;
    Ok(files)
}

/// Renders a batch as a grid (samples down, channels across, 2-pixel gaps) of 8-bit gray
/// tiles, scaled from the field's minimum (black) to maximum (white), and writes it as PNG.
pub fn write_noise_grid_png(path: &Path, field: &NoiseField) -> Result<()> {
    const GAP_PX: usize = 2;
    let BatchShape {
        batch,
        channels,
        height,
        width,
    } = field.shape;
    let grid_width = channels * width + (channels - 1) * GAP_PX;
    let grid_height = batch * height + (batch - 1) * GAP_PX;
    let (low, high) = field
        .data
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let scale = if high > low {
        255.0 / (high - low)
    } else {
        0.0
    };
    let mut pixels = vec![255u8; grid_width * grid_height];
    for b in 0..batch {
        for c in 0..channels {
            let plane = &field.data[(b * channels + c) * height * width..][..height * width];
            for y in 0..height {
                let row_start = (b * (height + GAP_PX) + y) * grid_width + c * (width + GAP_PX);
                for (pixel, &v) in pixels[row_start..row_start + width]
                    .iter_mut()
                    .zip(&plane[y * width..][..width])
                {
                    *pixel = ((v - low) * scale).round().clamp(0.0, 255.0) as u8;
                }
            }
        }
    }
    write_png_gray(path, grid_width as u32, grid_height as u32, pixels)
}

/// The default study setup: Table 6 noise, `4×1×128×128` batches at `t = 50`, 100 bins.
pub fn default_sweep(parameter: SweepParameter) -> SweepSpec {
    SweepSpec {
        parameter,
        values: parameter.default_values(),
        base: NoiseConfig {
            kind: NoiseKind::Tsimplex,
            ..NoiseConfig::default()
        },
        shape: BatchShape::new(4, 1, 128, 128),
        timestep: 50,
        bins: 100,
        seed: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persistence_widens_the_distribution() {
        let spec = SweepSpec {
            values: vec![0.5, 0.9],
            shape: BatchShape::new(1, 1, 48, 40),
            ..default_sweep(SweepParameter::Persistence)
        };
        let mut calls = 0;
        let points = spec.run(|| calls += 1).expect("valid sweep");
        assert_eq!(calls, 2);
        assert!(
            points[1].moments.std > points[0].moments.std,
            "paper §6: persistence expands the range"
        );
        assert_eq!(points[0].histogram.counts.iter().sum::<u64>(), 48 * 40);
    }

    #[test]
    fn writes_tables_and_plots() {
        let dir = tempfile::tempdir().expect("temp dir");
        let spec = SweepSpec {
            values: vec![0.0, 50.0, 100.0],
            shape: BatchShape::new(1, 1, 16, 24),
            bins: 10,
            ..default_sweep(SweepParameter::Timestep)
        };
        let points = spec.run(|| {}).expect("valid sweep");
        let files = write_sweep(dir.path(), &spec, &points).expect("written");
        let stats = std::fs::read_to_string(&files.stats_csv).expect("stats");
        assert_eq!(stats.lines().count(), 4);
        assert!(stats.starts_with("t,count,mean,std,skewness,kurtosis,min,max\n0,384,"));
        let histograms = std::fs::read_to_string(&files.histograms_csv).expect("histograms");
        assert_eq!(histograms.lines().count(), 1 + 3 * 10);
        for png in [&files.histograms_png, &files.kurtosis_png] {
            assert!(image::open(png).expect("decodes").width() > 100);
        }
    }

    #[test]
    fn rejects_invalid_settings_before_generating() {
        let spec = SweepSpec {
            values: vec![3.0, 0.0],
            ..default_sweep(SweepParameter::Octaves)
        };
        let error = spec
            .run(|| panic!("nothing generated"))
            .expect_err("octaves 0");
        assert!(error.to_string().contains("octaves = 0"), "{error}");
        let fractional = SweepSpec {
            values: vec![2.5],
            ..default_sweep(SweepParameter::Octaves)
        };
        assert!(fractional.run(|| {}).is_err());
    }

    #[test]
    fn grid_png_has_one_tile_per_sample_and_channel() {
        let dir = tempfile::tempdir().expect("temp dir");
        let field = NoiseConfig::default()
            .generate(BatchShape::new(2, 3, 10, 14), &[1, 2], 5, 0)
            .expect("valid");
        let path = dir.path().join("grid.png");
        write_noise_grid_png(&path, &field).expect("written");
        let image = image::open(&path).expect("decodes").to_luma8();
        assert_eq!(
            (image.width(), image.height()),
            (3 * 14 + 2 * 2, 2 * 10 + 2)
        );
        let values: Vec<u8> = image.pixels().map(|p| p.0[0]).collect();
        assert!(values.contains(&0) && values.iter().filter(|&&v| v == 255).count() > 2 * 10 * 2);
    }
}

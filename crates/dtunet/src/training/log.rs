//! The training log: `loss.csv` (one row per step) and the `loss.png` curve.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{DtunetError, Result};
use crate::io::write_atomically;
use crate::report::{LinePlotOptions, Series, line_plot};

/// One logged step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    /// Step number (1-based: the step just completed).
    pub step: usize,
    /// Batch loss.
    pub loss: f64,
    /// The loss terms, in the order of the CSV header.
    pub terms: Vec<f64>,
    /// Learning rate.
    pub lr: f64,
    /// Training seconds since the start of the run (over all sessions).
    pub seconds: f64,
}

/// Appends step records to `loss.csv`, keeping the rows in memory for the curve.
#[derive(Debug)]
pub struct LossLog {
    path: PathBuf,
    rows: Vec<StepRecord>,
    file: fs::File,
}

impl LossLog {
    /// Opens `<run>/loss.csv` for a run with loss terms `term_names`, keeping the rows of an
    /// earlier session up to `resume_step` (rows past it belong to steps being redone).
    pub fn open(run: &Path, term_names: &[&str], resume_step: usize) -> Result<Self> {
        let path = run.join("loss.csv");
        let rows = if resume_step > 0 && path.is_file() {
            read_rows(&path, term_names.len())?
                .into_iter()
                .filter(|row| row.step <= resume_step)
                .collect()
        } else {
            Vec::new()
        };
        let io = |action, source| DtunetError::Io {
            action,
            path: path.clone(),
            source,
        };
        let mut text = format!("step,loss,{},lr,seconds\n", term_names.join(","));
        for row in &rows {
            text.push_str(&format_row(row));
        }
        // Rewritten atomically: a crash here must not lose the rows of the earlier session.
        write_atomically(&path, |file| file.write_all(text.as_bytes()))?;
        let file = fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| io("open", e))?;
        Ok(Self { path, rows, file })
    }

    /// Appends one step.
    pub fn push(&mut self, record: StepRecord) -> Result<()> {
        self.file
            .write_all(format_row(&record).as_bytes())
            .map_err(|source| DtunetError::Io {
                action: "write",
                path: self.path.clone(),
                source,
            })?;
        self.rows.push(record);
        Ok(())
    }

    /// Rows logged so far (including those of earlier sessions).
    pub fn rows(&self) -> &[StepRecord] {
        &self.rows
    }

    /// Flushes the CSV to disk.
    pub fn sync(&mut self) -> Result<()> {
        self.file.sync_data().map_err(|source| DtunetError::Io {
            action: "sync",
            path: self.path.clone(),
            source,
        })
    }

    /// Draws the loss per step and its moving average to `path`.
    pub fn plot(&self, path: &Path) -> Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let raw: Vec<(f64, f64)> = self.rows.iter().map(|r| (r.step as f64, r.loss)).collect();
        let window = (self.rows.len() / 50).max(1);
        let smoothed: Vec<(f64, f64)> = raw
            .windows(window)
            .map(|w| {
                (
                    w[w.len() - 1].0,
                    w.iter().map(|p| p.1).sum::<f64>() / w.len() as f64,
                )
            })
            .collect();
        let mut series = vec![Series {
            label: "loss".into(),
            points: raw,
        }];
        if window > 1 {
            series.push(Series {
                label: format!("mean of {window} steps"),
                points: smoothed,
            });
        }
        line_plot(
            path,
            "Training loss",
            "step",
            "loss",
            &series,
            &LinePlotOptions::default(),
        )?;
        Ok(())
    }
}

fn format_row(row: &StepRecord) -> String {
    let terms: Vec<String> = row.terms.iter().map(|v| format!("{v:.6e}")).collect();
    format!(
        "{},{:.6e},{},{:e},{:.3}\n",
        row.step,
        row.loss,
        terms.join(","),
        row.lr,
        row.seconds
    )
}

fn read_rows(path: &Path, term_count: usize) -> Result<Vec<StepRecord>> {
    let text = fs::read_to_string(path).map_err(|source| DtunetError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })?;
    let rows = text
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<f64> = line
                .split(',')
                .map(|f| f.parse().ok())
                .collect::<Option<_>>()?;
            (fields.len() == term_count + 4).then(|| StepRecord {
                step: fields[0] as usize,
                loss: fields[1],
                terms: fields[2..2 + term_count].to_vec(),
                lr: fields[2 + term_count],
                seconds: fields[3 + term_count],
            })
        })
        .collect();
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(step: usize) -> StepRecord {
        StepRecord {
            step,
            loss: 1.0 / step as f64,
            terms: vec![0.5 / step as f64],
            lr: 1e-4,
            seconds: step as f64,
        }
    }

    #[test]
    fn resuming_drops_rows_past_the_checkpoint() {
        let folder = tempfile::tempdir().expect("temp dir");
        let mut log = LossLog::open(folder.path(), &["mse"], 0).expect("open");
        for step in 1..=5 {
            log.push(record(step)).expect("push");
        }
        drop(log);
        let log = LossLog::open(folder.path(), &["mse"], 3).expect("reopen");
        assert_eq!(
            log.rows().iter().map(|r| r.step).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        let text = fs::read_to_string(folder.path().join("loss.csv")).expect("csv");
        assert!(
            text.starts_with("step,loss,mse,lr,seconds\n1,1.000000e0,5.000000e-1,1e-4,1.000\n"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 4);
    }
}

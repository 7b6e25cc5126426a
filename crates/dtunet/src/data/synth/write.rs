//! Writing a synthetic dataset to disk in the MVTec AD layout, images in parallel.

use std::fs;
use std::io::Write as _;
use std::path::Path;

use rayon::prelude::*;

use super::Generator;
use super::card::{DatasetCard, ImageRecord};
use super::config::SynthConfig;
use crate::data::Split;
use crate::error::{DtunetError, Result};
use crate::io::{write_atomically, write_png_gray, write_png_rgb};

/// Entries of a dataset folder this module writes (and removes again with `overwrite`).
const GENERATED: [&str; 5] = ["train", "test", "ground_truth", "README.md", "dataset.json"];

/// Generates the dataset of `config` into `out`, calling `on_image` once per written image
/// (from worker threads), and returns its card (also written as `dataset.json` and
/// `README.md`, last, so their presence marks a complete dataset).
///
/// `out` may be missing or empty. If it holds anything, it is refused unless `overwrite`;
/// then the entries a previous run wrote (`train/`, `test/`, `ground_truth/`, `README.md`,
/// `dataset.json`) are removed first and anything else is left alone. Every file is written
/// atomically.
pub fn write_dataset(
    config: &SynthConfig,
    out: &Path,
    overwrite: bool,
    on_image: &(dyn Fn() + Sync),
) -> Result<DatasetCard> {
    let generator = Generator::new(*config)?;
    prepare_output(out, overwrite)?;
    let plan = generator.plan();
    let largest_class = plan
        .iter()
        .map(|item| item.class_index + 1)
        .max()
        .unwrap_or(1);
    let digits = largest_class.saturating_sub(1).to_string().len().max(3);
    for item in &plan {
        let folder = out.join(item.split.name()).join(item.class.name());
        create_folder(&folder)?;
        if item.split == Split::Test && item.class.is_anomaly() {
            create_folder(&out.join("ground_truth").join(item.class.name()))?;
        }
    }
    let records = plan
        .par_iter()
        .map(|item| {
            let sample = generator.generate(item);
            let record = ImageRecord::new(item, &sample, digits);
            let (height, width) = (sample.height as u32, sample.width as u32);
            let image_path = out.join(&record.image);
            if sample.channels == 1 {
                write_png_gray(&image_path, width, height, sample.pixels)?;
            } else {
                write_png_rgb(&image_path, width, height, sample.pixels)?;
            }
            if let Some(mask) = &record.mask {
                write_png_gray(&out.join(mask), width, height, sample.mask)?;
            }
            on_image();
            Ok(record)
        })
        .collect::<Result<Vec<_>>>()?;
    let card = DatasetCard::new(config, records);
    let json_path = out.join("dataset.json");
    write_atomically(&json_path, |file| {
        serde_json::to_writer_pretty(&mut *file, &card).map_err(std::io::Error::other)?;
        file.write_all(b"\n")
    })?;
    let markdown = card.to_markdown();
    write_atomically(&out.join("README.md"), |file| {
        file.write_all(markdown.as_bytes())
    })?;
    Ok(card)
}

/// Makes `out` an empty-enough folder: creates it if missing, refuses a file or a non-empty
/// folder unless `overwrite`, then removes what an earlier run generated.
fn prepare_output(out: &Path, overwrite: bool) -> Result<()> {
    if out.is_file() {
        return Err(DtunetError::OutputFolder {
            path: out.to_path_buf(),
            problem: "is a file: give a folder for the dataset",
        });
    }
    if !out.exists() {
        return create_folder(out);
    }
    let mut entries = fs::read_dir(out).map_err(|source| DtunetError::Io {
        action: "list the folder",
        path: out.to_path_buf(),
        source,
    })?;
    if entries.next().is_none() {
        return Ok(());
    }
    if !overwrite {
        return Err(DtunetError::OutputFolder {
            path: out.to_path_buf(),
            problem: "exists and is not empty: pass --overwrite to replace the dataset in it, \
                      or choose another folder",
        });
    }
    for name in GENERATED {
        let path = out.join(name);
        let removed = if path.is_dir() {
            fs::remove_dir_all(&path)
        } else if path.exists() {
            fs::remove_file(&path)
        } else {
            Ok(())
        };
        removed.map_err(|source| DtunetError::Io {
            action: "remove the earlier dataset's",
            path,
            source,
        })?;
    }
    Ok(())
}

fn create_folder(path: &Path) -> Result<()> {
    fs::create_dir_all(path).map_err(|source| DtunetError::Io {
        action: "create folder",
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synth::{Class, Material, SynthKind};

    fn tiny(kind: SynthKind) -> SynthConfig {
        SynthConfig {
            kind,
            material: Material::Wood,
            n_train: 2,
            n_test: 5,
            height: 20,
            width: 28,
            seed: 11,
            healthy_fraction: 0.2,
            ..SynthConfig::default()
        }
    }

    fn files(root: &Path) -> Vec<(String, Vec<u8>)> {
        let mut found = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(folder) = stack.pop() {
            for entry in fs::read_dir(&folder).expect("list") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let name = path
                        .strip_prefix(root)
                        .expect("inside")
                        .display()
                        .to_string();
                    found.push((name, fs::read(&path).expect("read")));
                }
            }
        }
        found.sort();
        found
    }

    #[test]
    fn writes_byte_identical_datasets_and_refuses_to_clobber() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (first, second) = (dir.path().join("a"), dir.path().join("b"));
        let config = tiny(SynthKind::Texture);
        let card = write_dataset(&config, &first, false, &|| {}).expect("written");
        write_dataset(&config, &second, false, &|| {}).expect("written");
        assert_eq!(files(&first), files(&second));
        assert_eq!(card.count(Split::Test, Class::Good), 1);
        assert_eq!(files(&first).len(), 2 + 5 + 4 + 2);
        let refused = write_dataset(&config, &first, false, &|| {}).expect_err("refused");
        assert!(refused.is_usage_error());
        assert!(refused.to_string().contains("--overwrite"), "{refused}");
        // Overwriting with fewer images leaves no stale files behind, and keeps other files.
        fs::write(first.join("notes.txt"), "mine").expect("write");
        let smaller = SynthConfig {
            n_train: 1,
            n_test: 0,
            ..tiny(SynthKind::Brain)
        };
        write_dataset(&smaller, &first, true, &|| {}).expect("overwritten");
        let names: Vec<String> = files(&first).into_iter().map(|(name, _)| name).collect();
        assert_eq!(
            names,
            [
                "README.md",
                "dataset.json",
                "notes.txt",
                "train/good/000.png"
            ]
        );
    }

    #[test]
    fn refuses_a_file_as_output() {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        let error =
            write_dataset(&tiny(SynthKind::Brain), file.path(), true, &|| {}).expect_err("refused");
        assert!(error.to_string().contains("is a file"), "{error}");
    }
}

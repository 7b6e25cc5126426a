//! The `brats` layout (BraTS 2021 NIfTI volumes):
//!
//! ```text
//! <root>/<case>/<case>_t1.nii.gz, _t1ce, _t2, _flair   one volume per modality
//! <root>/<case>/<case>_seg.nii.gz                       labels (0 = background)
//! ```
//!
//! `.nii` and `.nii.gz`, little- or big-endian, any numeric voxel type. Files are found by their
//! suffix (`…_flair.nii.gz`); a root that itself holds the files is a single case. A case
//! without the chosen modality or a segmentation is skipped and reported.
//!
//! Samples are the axial slices (third voxel axis, `z`) of the chosen modality within the slice
//! range. A slice is a `ny × nx` image: rows are the second voxel axis, columns the first, no
//! flips. Per volume, the 1st and 99th percentiles of the foreground (finite non-zero) voxels
//! map to −1 and 1 (clipped); background voxels are −1. Each sample carries the foreground mask
//! (non-zero voxels). Slices without any tumour label are training samples (class `healthy`);
//! slices with one are test samples (class `tumour`) whose mask is `seg > 0`.
//!
//! Opening reads every segmentation once (in parallel) to sort the slices. Samples decode whole
//! cases into a small LRU cache ([`BratsOptions::cache_volumes`] cases, each about
//! `6 · nx · ny · slices` bytes, ≈ 54 MB for a full 240 × 240 × 155 case), so reading the slices
//! of one case after another is fast and memory stays bounded; random access across many cases
//! re-reads volumes.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rayon::prelude::*;

use super::files::{list, stem};
use super::layout::{Dataset, Issue, IssueKind, Sample, SampleInfo, Split, index_error};
use super::transform::{ImageSize, Transform};
use super::volume::{LruCache, foreground_percentiles, is_foreground, normalise, read_volume};
use crate::error::{DtunetError, Result};

/// What the layout wants, for error messages.
const EXPECTED: &str =
    "the brats layout: <case>/<case>_{t1,t1ce,t2,flair,seg}.nii[.gz] per case folder";

/// An MRI sequence of the BraTS volumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Modality {
    /// Native T1-weighted.
    T1,
    /// Contrast-enhanced T1.
    T1ce,
    /// T2-weighted.
    T2,
    /// T2 fluid-attenuated inversion recovery.
    Flair,
}

impl Modality {
    /// Every modality.
    pub const ALL: [Modality; 4] = [Modality::T1, Modality::T1ce, Modality::T2, Modality::Flair];

    /// The file-name suffix and `--modality` name (`t1ce`).
    pub fn name(self) -> &'static str {
        match self {
            Modality::T1 => "t1",
            Modality::T1ce => "t1ce",
            Modality::T2 => "t2",
            Modality::Flair => "flair",
        }
    }
}

impl fmt::Display for Modality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Modality {
    type Err = DtunetError;

    fn from_str(name: &str) -> Result<Self> {
        Modality::ALL
            .into_iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| DtunetError::InvalidParameter {
                name: "modality",
                found: name.to_string(),
                expected: "one of t1, t1ce, t2, flair".into(),
            })
    }
}

/// Axial slices `start..end` (`z` indices, end excluded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SliceRange {
    /// First slice.
    pub start: usize,
    /// One past the last slice.
    pub end: usize,
}

impl fmt::Display for SliceRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

impl FromStr for SliceRange {
    type Err = DtunetError;

    /// Parses `START..END` with `START < END`.
    fn from_str(text: &str) -> Result<Self> {
        let parsed = text
            .split_once("..")
            .and_then(|(start, end)| Some((start.trim().parse().ok()?, end.trim().parse().ok()?)));
        match parsed {
            Some((start, end)) if start < end => Ok(Self { start, end }),
            _ => Err(DtunetError::InvalidParameter {
                name: "slice range",
                found: text.to_string(),
                expected:
                    "START..END with START < END (axial slice indices, END excluded), e.g. 60..100"
                        .into(),
            }),
        }
    }
}

/// BraTS options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BratsOptions {
    /// The sequence to load.
    pub modality: Modality,
    /// Axial slices to use; every slice of each case when `None`. Must lie within every
    /// case's depth.
    pub slices: Option<SliceRange>,
    /// Decoded cases kept in memory (≥ 1); at least the number of threads reading at once.
    pub cache_volumes: usize,
}

impl Default for BratsOptions {
    /// FLAIR, every slice, 4 cached cases.
    fn default() -> Self {
        Self {
            modality: Modality::Flair,
            slices: None,
            cache_volumes: 4,
        }
    }
}

impl BratsOptions {
    /// Rejects an empty cache.
    pub fn validate(&self) -> Result<()> {
        if self.cache_volumes == 0 {
            return Err(DtunetError::InvalidParameter {
                name: "cache volumes",
                found: "0".into(),
                expected: "at least 1 case".into(),
            });
        }
        Ok(())
    }
}

/// One indexed case.
#[derive(Debug)]
struct Case {
    /// The chosen modality's volume.
    image: PathBuf,
    /// The segmentation.
    seg: PathBuf,
    /// `[nx, ny, nz]` of the segmentation.
    dims: [usize; 3],
    /// The slices indexed.
    slices: SliceRange,
}

/// One indexed slice.
#[derive(Debug)]
struct SliceEntry {
    case: usize,
    z: usize,
    info: SampleInfo,
}

/// A case's slices within the range, decoded and normalised.
#[derive(Debug)]
struct CaseSlices {
    /// Intensities in [0, 1], `[slices, ny, nx]`.
    image: Vec<f32>,
    /// 1 where the modality is non-zero.
    foreground: Vec<u8>,
    /// 1 where the segmentation is non-zero.
    seg: Vec<u8>,
}

/// BraTS volumes as a [`Dataset`] of axial slices.
#[derive(Debug)]
pub struct BratsSet {
    root: PathBuf,
    transform: Transform,
    cases: Vec<Case>,
    train: Vec<SliceEntry>,
    test: Vec<SliceEntry>,
    issues: Vec<Issue>,
    cache: LruCache<CaseSlices>,
}

/// Indexes the BraTS cases under `root`, reading each segmentation once.
pub fn open(root: &Path, options: &BratsOptions, transform: Transform) -> Result<BratsSet> {
    options.validate()?;
    let mut issues = Vec::new();
    let found = find_cases(root, options.modality, &mut issues)?;
    let labels: Vec<Result<SliceLabels>> = found
        .par_iter()
        .map(|case| SliceLabels::read(&case.seg))
        .collect();

    let (mut cases, mut train, mut test) = (Vec::new(), Vec::new(), Vec::new());
    for (found, labels) in found.into_iter().zip(labels) {
        let labels = match labels {
            Ok(labels) => labels,
            Err(error) => {
                issues.push(Issue {
                    kind: IssueKind::Unreadable,
                    detail: format!("{error}; case skipped"),
                    path: found.seg,
                });
                continue;
            }
        };
        let depth = labels.dims[2];
        let slices = options.slices.unwrap_or(SliceRange {
            start: 0,
            end: depth,
        });
        if slices.end > depth {
            return Err(DtunetError::InvalidParameter {
                name: "slice range",
                found: slices.to_string(),
                expected: format!(
                    "slices within 0..{depth}: {} has {depth} axial slices",
                    found.seg.display()
                ),
            });
        }
        for z in slices.start..slices.end {
            let tumour = labels.tumour[z];
            let (split, class) = if tumour {
                (&mut test, "tumour")
            } else {
                (&mut train, "healthy")
            };
            split.push(SliceEntry {
                case: cases.len(),
                z,
                info: SampleInfo {
                    id: format!("{}/z{z:03}", found.name),
                    class: class.into(),
                    anomalous: Some(tumour),
                    source: found.image.clone(),
                },
            });
        }
        cases.push(Case {
            image: found.image,
            seg: found.seg,
            dims: labels.dims,
            slices,
        });
    }
    if cases.is_empty() {
        return Err(DtunetError::Dataset {
            path: root.to_path_buf(),
            found: match issues.first() {
                Some(issue) => format!(
                    "no usable case (first problem: {}: {})",
                    issue.path.display(),
                    issue.detail
                ),
                None => "no case folders".into(),
            },
            expected: EXPECTED.into(),
        });
    }
    Ok(BratsSet {
        root: root.to_path_buf(),
        transform,
        cases,
        train,
        test,
        issues,
        cache: LruCache::new(options.cache_volumes),
    })
}

/// A case folder holding the chosen modality and a segmentation.
#[derive(Debug)]
struct FoundCase {
    /// Folder name.
    name: String,
    /// The chosen modality's volume.
    image: PathBuf,
    /// The segmentation.
    seg: PathBuf,
}

/// What the index needs from a segmentation.
#[derive(Debug)]
struct SliceLabels {
    /// `[nx, ny, nz]`.
    dims: [usize; 3],
    /// Per axial slice, whether it holds a non-zero label.
    tumour: Vec<bool>,
}

impl SliceLabels {
    fn read(seg: &Path) -> Result<Self> {
        let volume = read_volume(seg)?;
        let tumour = volume
            .voxels
            .chunks_exact(volume.slice_len().max(1))
            .map(|slice| slice.iter().any(|&v| v != 0.0))
            .collect();
        Ok(Self {
            dims: volume.dims,
            tumour,
        })
    }
}

/// Every complete case; incomplete ones are reported in `issues`.
fn find_cases(root: &Path, modality: Modality, issues: &mut Vec<Issue>) -> Result<Vec<FoundCase>> {
    let listing = list(root)?;
    let folders = if find_volume(&listing.files, "seg").is_some() {
        vec![root.to_path_buf()]
    } else {
        listing.folders
    };
    let mut cases = Vec::new();
    for folder in folders {
        let files = list(&folder)?.files;
        match (
            find_volume(&files, modality.name()),
            find_volume(&files, "seg"),
        ) {
            (Some(image), Some(seg)) => cases.push(FoundCase {
                name: stem(&folder),
                image,
                seg,
            }),
            (image, seg) => {
                let missing: Vec<String> =
                    [(image.is_none(), modality.name()), (seg.is_none(), "seg")]
                        .into_iter()
                        .filter(|&(missing, _)| missing)
                        .map(|(_, suffix)| format!("*_{suffix}.nii[.gz]"))
                        .collect();
                issues.push(Issue {
                    kind: IssueKind::IncompleteCase,
                    detail: format!("no {}; case skipped", missing.join(" and ")),
                    path: folder,
                });
            }
        }
    }
    Ok(cases)
}

/// The file among `files` whose name ends in `_<suffix>.nii` or `_<suffix>.nii.gz`.
fn find_volume(files: &[PathBuf], suffix: &str) -> Option<PathBuf> {
    let endings = [format!("_{suffix}.nii"), format!("_{suffix}.nii.gz")];
    files
        .iter()
        .find(|path| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_ascii_lowercase())
                .unwrap_or_default();
            endings.iter().any(|ending| name.ends_with(ending.as_str()))
        })
        .cloned()
}

impl BratsSet {
    fn entries(&self, split: Split) -> &[SliceEntry] {
        match split {
            Split::Train => &self.train,
            Split::Test => &self.test,
        }
    }

    /// Reads and normalises one case's volume and segmentation, keeping the range's slices.
    fn load_case(&self, case: &Case) -> Result<CaseSlices> {
        let image = read_volume(&case.image)?;
        if image.dims != case.dims {
            return Err(DtunetError::VolumeShape {
                path: case.image.clone(),
                expected: format!("the shape of {}, {:?}", case.seg.display(), case.dims),
                found: format!("{:?}", image.dims),
            });
        }
        let seg = read_volume(&case.seg)?;
        let range = case.slices.start * image.slice_len()..case.slices.end * image.slice_len();
        let percentiles = foreground_percentiles(&image.voxels).unwrap_or((0.0, 0.0));
        let kept = &image.voxels[range.clone()];
        Ok(CaseSlices {
            image: normalise(kept, percentiles),
            foreground: kept.iter().map(|&v| u8::from(is_foreground(v))).collect(),
            seg: seg.voxels[range]
                .iter()
                .map(|&v| u8::from(v != 0.0))
                .collect(),
        })
    }
}

impl Dataset for BratsSet {
    fn root(&self) -> &Path {
        &self.root
    }

    fn len(&self, split: Split) -> usize {
        self.entries(split).len()
    }

    fn info(&self, split: Split, index: usize) -> Option<&SampleInfo> {
        self.entries(split).get(index).map(|entry| &entry.info)
    }

    fn get(&self, split: Split, index: usize) -> Result<Sample> {
        let entries = self.entries(split);
        let entry = entries
            .get(index)
            .ok_or_else(|| index_error(split, index, entries.len()))?;
        let case = &self.cases[entry.case];
        let slices = self
            .cache
            .get_or_load(entry.case, || self.load_case(case))?;
        let plane = ImageSize::new(case.dims[1] as u32, case.dims[0] as u32);
        let span = plane.pixels() * (entry.z - case.slices.start)
            ..plane.pixels() * (entry.z - case.slices.start + 1);
        let mask = match split {
            Split::Train => None,
            Split::Test => Some(self.transform.mask(&slices.seg[span.clone()], plane)),
        };
        Ok(Sample {
            info: entry.info.clone(),
            image: self.transform.plane(&slices.image[span.clone()], plane),
            channels: self.transform.channels,
            size: self.transform.size,
            mask,
            foreground: Some(self.transform.mask(&slices.foreground[span], plane)),
            original_size: plane,
            original_color: "volume".into(),
        })
    }

    fn issues(&self) -> &[Issue] {
        &self.issues
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::transform::Channels;
    use crate::data::volume::tests::{VoxelType, write_nifti};

    const DIMS: [usize; 3] = [12, 10, 6];

    /// A brain ellipse of intensity 10 + x (x = column) in every slice, a tumour box of intensity
    /// 200 labelled 2 in slices 2 and 3.
    fn phantom() -> (Vec<f32>, Vec<f32>) {
        let (mut image, mut seg) = (Vec::new(), Vec::new());
        for z in 0..DIMS[2] {
            for y in 0..DIMS[1] {
                for x in 0..DIMS[0] {
                    let (dx, dy) = (x as f32 - 5.5, y as f32 - 4.5);
                    let brain = dx * dx / 30.0 + dy * dy / 20.0 <= 1.0;
                    let tumour = (2..4).contains(&z) && (6..9).contains(&x) && (3..6).contains(&y);
                    image.push(if tumour {
                        200.0
                    } else if brain {
                        10.0 + x as f32
                    } else {
                        0.0
                    });
                    seg.push(if tumour { 2.0 } else { 0.0 });
                }
            }
        }
        (image, seg)
    }

    /// Case `a`: little-endian float32 `.nii.gz`; case `b`: big-endian int16 `.nii`, same
    /// content; case `c`: no segmentation.
    fn sample_set(root: &Path) {
        let (image, seg) = phantom();
        write_nifti(
            &root.join("a/a_flair.nii.gz"),
            DIMS,
            &image,
            VoxelType::F32,
            false,
        );
        write_nifti(
            &root.join("a/a_t1.nii.gz"),
            DIMS,
            &vec![3.0; image.len()],
            VoxelType::F32,
            false,
        );
        write_nifti(
            &root.join("a/a_seg.nii.gz"),
            DIMS,
            &seg,
            VoxelType::U8,
            false,
        );
        write_nifti(
            &root.join("b/b_flair.nii"),
            DIMS,
            &image,
            VoxelType::I16,
            true,
        );
        write_nifti(&root.join("b/b_seg.nii"), DIMS, &seg, VoxelType::I16, true);
        write_nifti(
            &root.join("c/c_flair.nii"),
            DIMS,
            &image,
            VoxelType::F32,
            false,
        );
    }

    fn transform() -> Transform {
        Transform {
            size: ImageSize::new(20, 24),
            channels: Channels::Gray,
        }
    }

    #[test]
    fn round_trips_slices_masks_and_foreground() {
        let dir = tempfile::tempdir().expect("temp dir");
        sample_set(dir.path());
        let set = open(dir.path(), &BratsOptions::default(), transform()).expect("opens");
        assert_eq!((set.len(Split::Train), set.len(Split::Test)), (8, 4));
        assert_eq!(set.info(Split::Test, 0).expect("info").id, "a/z002");
        assert_eq!(set.issues().len(), 1, "{:?}", set.issues());
        assert_eq!(set.issues()[0].kind, IssueKind::IncompleteCase);
        assert!(set.issues()[0].detail.contains("*_seg.nii[.gz]"));

        let little = set.get(Split::Test, 0).expect("a z2");
        let big = set.get(Split::Test, 2).expect("b z2");
        assert_eq!(little.image, big.image, "byte orders and types agree");
        assert_eq!(
            (little.original_size, little.image.len()),
            (ImageSize::new(10, 12), 20 * 24)
        );
        assert!(little.image.iter().all(|v| (-1.0..=1.0).contains(v)));
        let mask = little.mask.as_deref().expect("test mask");
        crate::data::test_support::assert_mask_on_bright_pixels(&little.image, mask);
        let foreground = little.foreground.as_deref().expect("foreground");
        assert!(
            mask.iter().zip(foreground).all(|(&m, &f)| m <= f),
            "tumour lies in the brain"
        );

        // at the stored size (no resampling) the values are exact
        let native = Transform {
            size: ImageSize::new(10, 12),
            channels: Channels::Gray,
        };
        let exact = open(dir.path(), &BratsOptions::default(), native).expect("opens");
        let sample = exact.get(Split::Test, 0).expect("a z2");
        let (image, _) = phantom();
        let voxels = &image[2 * 120..3 * 120];
        for (index, (&value, &inside)) in sample
            .image
            .iter()
            .zip(sample.foreground.as_deref().expect("fg"))
            .enumerate()
        {
            assert_eq!(
                inside,
                u8::from(voxels[index] != 0.0),
                "foreground is the non-zero voxels"
            );
            if inside == 0 {
                assert_eq!(value, -1.0, "background is -1");
            }
        }
        assert_eq!(
            sample.image.iter().copied().fold(f32::MIN, f32::max),
            1.0,
            "tumour above p99"
        );

        let healthy = set.get(Split::Train, 0).expect("a z0");
        assert_eq!(
            (healthy.mask.as_ref(), healthy.is_anomalous()),
            (None, Some(false))
        );
        assert!(healthy.foreground.as_deref().expect("fg").contains(&1));
    }

    #[test]
    fn modality_and_slice_range_select_the_data() {
        let dir = tempfile::tempdir().expect("temp dir");
        sample_set(dir.path());
        let options = BratsOptions {
            modality: Modality::T1,
            slices: Some("1..3".parse().expect("range")),
            cache_volumes: 1,
        };
        let set = open(dir.path(), &options, transform()).expect("opens");
        assert_eq!(
            (set.len(Split::Train), set.len(Split::Test)),
            (1, 1),
            "only case a has t1"
        );
        assert_eq!(set.issues().len(), 2);
        let constant = set.get(Split::Train, 0).expect("t1 z1");
        assert!(
            constant.image.iter().all(|&v| v == 1.0),
            "constant volume maps to 1"
        );

        let too_deep = BratsOptions {
            slices: Some(SliceRange { start: 2, end: 7 }),
            ..BratsOptions::default()
        };
        let message = open(dir.path(), &too_deep, transform())
            .expect_err("too deep")
            .to_string();
        assert!(
            message.contains("2..7") && message.contains("has 6 axial slices"),
            "{message}"
        );
        assert!("5..5".parse::<SliceRange>().is_err());
        assert!("flair2".parse::<Modality>().is_err());
    }

    #[test]
    fn empty_or_mismatched_data_is_reported() {
        let dir = tempfile::tempdir().expect("temp dir");
        let message = open(dir.path(), &BratsOptions::default(), transform())
            .expect_err("empty")
            .to_string();
        assert!(
            message.contains("no case folders; expected the brats layout"),
            "{message}"
        );

        let (image, seg) = phantom();
        write_nifti(
            &dir.path().join("s_seg.nii"),
            DIMS,
            &seg,
            VoxelType::U8,
            false,
        );
        write_nifti(
            &dir.path().join("s_flair.nii"),
            [6, 10, 12],
            &image,
            VoxelType::F32,
            false,
        );
        let set = open(dir.path(), &BratsOptions::default(), transform())
            .expect("single case at the root");
        let message = set
            .get(Split::Train, 0)
            .expect_err("shape mismatch")
            .to_string();
        assert!(
            message.contains("s_flair.nii") && message.contains("[12, 10, 6]"),
            "{message}"
        );
    }
}

//! 8-connected components of a binary mask (`scipy.ndimage.label` with a 3×3 structure of
//! ones) and the "keep the largest component" post-processing of SPEC §5.

use crate::error::Result;
use crate::shape::MapShape;

/// The 8-connected components of a mask, numbered from 1 in the raster order of each
/// component's first pixel (the numbering of `scipy.ndimage.label`); 0 is background.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Components {
    labels: Vec<u32>,
    sizes: Vec<usize>,
}

impl Components {
    /// Labels the `true` pixels of `mask`.
    ///
    /// # Shapes
    /// `mask`: `[shape.height · shape.width]`, row-major.
    ///
    /// # Errors
    /// A mask whose length does not match `shape`.
    pub fn label(mask: &[bool], shape: MapShape) -> Result<Self> {
        shape.check("mask", mask.len())?;
        let (height, width) = (shape.height, shape.width);
        let mut labels = vec![0u32; mask.len()];
        let mut sizes = Vec::new();
        let mut stack = Vec::new();
        for start in 0..mask.len() {
            if !mask[start] || labels[start] != 0 {
                continue;
            }
            sizes.push(0);
            let label = sizes.len() as u32;
            labels[start] = label;
            stack.push(start);
            while let Some(pixel) = stack.pop() {
                sizes[label as usize - 1] += 1;
                let (row, col) = (pixel / width, pixel % width);
                for neighbour_row in row.saturating_sub(1)..=(row + 1).min(height - 1) {
                    for neighbour_col in col.saturating_sub(1)..=(col + 1).min(width - 1) {
                        let neighbour = neighbour_row * width + neighbour_col;
                        if mask[neighbour] && labels[neighbour] == 0 {
                            labels[neighbour] = label;
                            stack.push(neighbour);
                        }
                    }
                }
            }
        }
        Ok(Self { labels, sizes })
    }

    /// Label per pixel: 0 for background, `1..=n_components` otherwise.
    ///
    /// # Shapes
    /// `[height · width]`, row-major, like the mask.
    pub fn labels(&self) -> &[u32] {
        &self.labels
    }

    /// Number of components.
    pub fn n_components(&self) -> usize {
        self.sizes.len()
    }

    /// Pixel count of each component: `sizes()[k - 1]` is the size of label `k`.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// The label of the largest component (the first in raster order among equals), or `None`
    /// for an empty mask.
    pub fn largest(&self) -> Option<u32> {
        let mut largest: Option<(usize, usize)> = None;
        for (index, &size) in self.sizes.iter().enumerate() {
            if largest.is_none_or(|(_, best)| size > best) {
                largest = Some((index, size));
            }
        }
        largest.map(|(index, _)| index as u32 + 1)
    }
}

/// The mask with only its largest 8-connected component kept (the first in raster order among
/// equals); an empty mask stays empty.
///
/// # Shapes
/// `mask` and the result: `[shape.height · shape.width]`, row-major.
///
/// # Errors
/// A mask whose length does not match `shape`.
pub fn largest_component(mask: &[bool], shape: MapShape) -> Result<Vec<bool>> {
    let components = Components::label(mask, shape)?;
    let keep = components.largest();
    Ok(components
        .labels
        .iter()
        .map(|&label| Some(label) == keep)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask_from_rows(rows: &[&str]) -> (Vec<bool>, MapShape) {
        let shape = MapShape::new(rows.len(), rows[0].len());
        let mask = rows
            .iter()
            .flat_map(|row| row.chars().map(|c| c == '#'))
            .collect();
        (mask, shape)
    }

    #[test]
    fn diagonal_neighbours_connect() {
        let (mask, shape) = mask_from_rows(&[
            "#......", //
            ".#...##", //
            "..#....", //
            "......#", //
            "#....#.",
        ]);
        let components = Components::label(&mask, shape).unwrap();
        assert_eq!(components.n_components(), 4);
        assert_eq!(components.sizes(), &[3, 2, 2, 1]);
        assert_eq!(components.labels()[shape.width + 5], 2);
        assert_eq!(components.labels()[4 * shape.width], 4);
        assert_eq!(components.largest(), Some(1));
    }

    #[test]
    fn raster_numbering_follows_first_pixel() {
        // The U's arms start before the bar below them; one component, labelled 1.
        let (mask, shape) = mask_from_rows(&["#.#", "#.#", "###", "...", ".#."]);
        let components = Components::label(&mask, shape).unwrap();
        assert_eq!(components.n_components(), 2);
        assert_eq!(components.sizes(), &[7, 1]);
    }

    #[test]
    fn largest_component_keeps_one_blob() {
        let (mask, shape) = mask_from_rows(&["##...", "##...", "....#", "#...#"]);
        let kept = largest_component(&mask, shape).unwrap();
        assert_eq!(
            kept,
            mask_from_rows(&["##...", "##...", ".....", "....."]).0
        );
    }

    #[test]
    fn equal_sizes_keep_the_first_in_raster_order() {
        let (mask, shape) = mask_from_rows(&["##..#", "##..#", "....#", "#...#"]);
        let kept = largest_component(&mask, shape).unwrap();
        assert_eq!(
            kept,
            mask_from_rows(&["##...", "##...", ".....", "....."]).0
        );
    }

    #[test]
    fn empty_and_full_masks() {
        let shape = MapShape::new(5, 7);
        assert_eq!(
            largest_component(&[false; 35], shape).unwrap(),
            vec![false; 35]
        );
        let full = Components::label(&[true; 35], shape).unwrap();
        assert_eq!(full.sizes(), &[35]);
        assert!(Components::label(&[true; 34], shape).is_err());
    }
}

#!/usr/bin/env python3
"""How far a threshold rule is from the best Dice a detection folder's maps allow.

For the anomalous images of a `dtunet detect` folder it prints the mean Dice of Otsu's
threshold per image and the mean of each image's *best* Dice over thresholds (an oracle that
looks at the mask: the ceiling no threshold rule can pass on these maps), on the raw square-
error maps and on maps smoothed by a Gaussian of σ px. If the ceiling is low, better
thresholds cannot help; the maps (the reconstructions) must improve.

Pinned: python 3.11, numpy==2.4.6, scipy==1.17.1, scikit-image==0.26.0, pillow==13.0.0.

    python3 tools/dice_ceiling.py DETECT_FOLDER [--sigma 0 1 2]

Reads `inputs/*.png` and `reconstructions/*.png` (16-bit, one channel) and `masks/*.png`;
images whose mask is empty are healthy and skipped. The map is (input − reconstruction)²,
as `--map se` on one channel.
"""

import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter
from skimage.filters import threshold_otsu


def read(path):
    image = np.asarray(Image.open(path), dtype=np.float64)
    return image / (65535.0 if image.max() > 255 else 255.0)


def dice(predicted, mask):
    total = predicted.sum() + mask.sum()
    return 2.0 * (predicted & mask).sum() / total if total else 1.0


def best_dice(score, mask, candidates=400):
    thresholds = np.unique(score)[::-1][:candidates]
    return max(dice(score >= t, mask) for t in thresholds)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--sigma", type=float, nargs="+", default=[0.0, 1.0, 2.0])
    args = parser.parse_args()
    pairs = []
    for mask_path in sorted((args.folder / "masks").glob("*.png")):
        mask = np.asarray(Image.open(mask_path)) > 0
        if mask.ndim == 3:
            mask = mask[..., 0]
        if not mask.any():
            continue
        stem = mask_path.stem
        error = read(args.folder / "inputs" / f"{stem}.png") - read(
            args.folder / "reconstructions" / f"{stem}.png"
        )
        pairs.append((error**2, mask))
    print(f"{args.folder}: {len(pairs)} anomalous images")
    for sigma in args.sigma:
        otsu, ceiling = [], []
        for square_error, mask in pairs:
            score = gaussian_filter(square_error, sigma) if sigma > 0 else square_error
            otsu.append(dice(score > threshold_otsu(score), mask))
            ceiling.append(best_dice(score, mask))
        print(
            f"  sigma {sigma:g}: Dice with Otsu {np.mean(otsu):.3f}, "
            f"best threshold per image (ceiling) {np.mean(ceiling):.3f}"
        )


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Binarisation rules side by side on the maps of a `dtunet detect` folder.

For each rule it prints the mean Dice over the anomalous images and the share of healthy test
pixels flagged, on the maps the detection scored (`maps/*.npy`, smoothed by the detection's σ).
The calibrated pixel threshold ("floor") is read from `detect.json` (a `--calibrate` run) or
given after a colon. Rules:

* `otsu`: Otsu's threshold per image;
* `floor`: pixels above max(Otsu, floor) — dtunet's `otsu-floor`, the calibrated default;
* `hysteresis`: Otsu components that hold a pixel above the floor;
* `grow1`, `grow2`: the `floor` mask grown by 1 or 2 px (8-connected) inside Otsu's mask;
* `component-mean`: Otsu components whose mean score is above the floor.

Pinned: python 3.11, numpy==2.4.6, scipy==1.17.1, scikit-image==0.26.0, pillow==13.0.0.

    python3 tools/threshold_rules.py DETECT_FOLDER [DETECT_FOLDER:FLOOR ...]
"""

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.ndimage import binary_dilation, gaussian_filter, label
from skimage.filters import apply_hysteresis_threshold, threshold_otsu

EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def dice(predicted, mask):
    total = predicted.sum() + mask.sum()
    return 2.0 * (predicted & mask).sum() / total if total else 1.0


def grown(seed, within, steps):
    mask = seed.copy()
    for _ in range(steps):
        mask = binary_dilation(mask, structure=EIGHT_CONNECTED) & within
    return mask


def rules(score, floor):
    otsu = score > threshold_otsu(score)
    floored = score > max(threshold_otsu(score), floor)
    labels, count = label(otsu, structure=EIGHT_CONNECTED)
    means = np.zeros(count + 1)
    if count:
        means[1:] = [score[labels == index].mean() for index in range(1, count + 1)]
    return {
        "otsu": otsu,
        "floor": floored,
        "hysteresis": apply_hysteresis_threshold(score, threshold_otsu(score), max(threshold_otsu(score), floor)),
        "grow1": grown(floored, otsu, 1),
        "grow2": grown(floored, otsu, 2),
        "component-mean": (means[labels] > floor) & otsu,
    }


def compare(folder, floor):
    settings = json.loads((folder / "detect.json").read_text())["settings"]["scoring"]
    sigma = settings.get("smooth_sigma") or 0.0
    if floor is None:
        calibration = settings.get("calibration")
        if not calibration:
            raise SystemExit(f"{folder}: not a --calibrate detection; give the floor as {folder}:VALUE")
        floor = calibration["thresholds"]["pixel"]
    dice_of, flagged_of = {}, {}
    for path in sorted((folder / "maps").glob("*.npy")):
        score = np.load(path).astype(np.float64)
        score = score.reshape(score.shape[-2:])
        if sigma:
            score = gaussian_filter(score, sigma)
        mask = np.asarray(Image.open(folder / "masks" / f"{path.stem}.png")) > 0
        for name, predicted in rules(score, floor).items():
            if mask.any():
                dice_of.setdefault(name, []).append(dice(predicted, mask))
            else:
                flagged_of.setdefault(name, []).append(predicted.mean())
    print(f"{folder} (floor {floor:.6g}, σ {sigma})")
    for name in dice_of:
        flagged = 100.0 * np.mean(flagged_of.get(name, [0.0]))
        print(f"  {name:15s} Dice (anomalous) {np.mean(dice_of[name]):.4f}   healthy flagged {flagged:.2f} %")


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    for argument in sys.argv[1:]:
        folder, _, floor = argument.partition(":")
        compare(Path(folder), float(floor) if floor else None)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Real photographed textures in the MVTec AD layout, from images shipped inside scikit-image.

Pinned: python 3.11, numpy==2.4.6, scikit-image==0.26.0 (only to read its bundled images)

    pip install numpy==2.4.6 scikit-image==0.26.0
    python3 tools/make_skimage_textures.py --out DIR [--size 64] [--n-train 160] [--seed 0]

Sources: `skimage.data.brick()`, `grass()` and `gravel()`, 512×512 grey photographs under the
Creative Commons CC0 licence (brick and gravel from CC0Textures "Bricks25" and "Gravel04",
grass from DeviantArt "Grass-01" by linolafett; see each function's docstring). Each becomes
one category `DIR/<name>/`:

* `train/good/`: `--n-train` crops of `--size` px at random positions of the top three
  quarters of the photograph;
* `test/good/` and `test/<defect>/`: crops on a grid over the bottom quarter (never seen in
  training), a third of them left healthy and the rest given one defect each, drawn here:
  `scratch` (a thin bright or dark line at a random angle), `stain` (a soft-edged blob that
  darkens or brightens), `patch` (a disc pasted from another place of the texture, rotated);
* `ground_truth/<defect>/<name>_mask.png`: 255 where the defect changed the image.

Deterministic for a given --seed. No file outside DIR is written.
"""

import argparse
import json
import pathlib

import numpy as np
from skimage import data, io

SOURCES = {
    "brick": data.brick,
    "grass": data.grass,
    "gravel": data.gravel,
}
DEFECTS = ("scratch", "stain", "patch")


def scratch(crop, rng):
    size = crop.shape[0]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    angle = rng.uniform(0, np.pi)
    centre = rng.uniform(0.3 * size, 0.7 * size, 2)
    distance = np.abs((xx - centre[1]) * np.sin(angle) - (yy - centre[0]) * np.cos(angle))
    along = (xx - centre[1]) * np.cos(angle) + (yy - centre[0]) * np.sin(angle)
    half_length = rng.uniform(0.2, 0.4) * size
    width = rng.uniform(0.8, 1.8)
    mask = (distance <= width) & (np.abs(along) <= half_length)
    value = 235.0 if rng.random() < 0.5 else 20.0
    out = crop.astype(np.float64)
    out[mask] = 0.3 * out[mask] + 0.7 * value
    return out, mask


def stain(crop, rng):
    size = crop.shape[0]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    centre = rng.uniform(0.25 * size, 0.75 * size, 2)
    radius = rng.uniform(0.08, 0.18) * size
    stretch = rng.uniform(0.6, 1.4)
    r = np.hypot((yy - centre[0]) * stretch, (xx - centre[1]) / stretch) / radius
    weight = np.clip(1.5 - r, 0.0, 1.0)
    factor = rng.choice([0.45, 1.6])
    out = crop.astype(np.float64) * (1.0 + (factor - 1.0) * weight)
    return out, weight > 0.25


def patch(crop, rng, photo):
    size = crop.shape[0]
    radius = int(rng.uniform(0.12, 0.2) * size)
    top, left = rng.integers(0, photo.shape[0] - 2 * radius, 2)
    source = np.rot90(photo[top : top + 2 * radius, left : left + 2 * radius], rng.integers(1, 4))
    cy, cx = rng.integers(radius, size - radius, 2)
    yy, xx = np.mgrid[-radius:radius, -radius:radius]
    disc = np.hypot(yy, xx) < radius
    out = crop.astype(np.float64)
    region = out[cy - radius : cy + radius, cx - radius : cx + radius]
    changed = disc & (np.abs(region - source) > 8)
    region[disc] = source[disc]
    mask = np.zeros((size, size), bool)
    mask[cy - radius : cy + radius, cx - radius : cx + radius] = changed
    return out, mask


def write(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    io.imsave(path, np.clip(np.rint(image), 0, 255).astype(np.uint8), check_contrast=False)


def category(name, photo, out, size, n_train, rng):
    root = out / name
    split_row = photo.shape[0] * 3 // 4
    for index in range(n_train):
        top = rng.integers(0, split_row - size + 1)
        left = rng.integers(0, photo.shape[1] - size + 1)
        write(root / "train" / "good" / f"{index:03d}.png", photo[top : top + size, left : left + size])
    stride = size // 2
    crops = [
        photo[top : top + size, left : left + size]
        for top in range(split_row, photo.shape[0] - size + 1, stride)
        for left in range(0, photo.shape[1] - size + 1, stride)
    ]
    order = rng.permutation(len(crops))
    counts = {"good": 0, **{defect: 0 for defect in DEFECTS}}
    for position, crop_index in enumerate(order):
        crop = crops[crop_index]
        kind = "good" if position % 3 == 0 else DEFECTS[(position // 3 + position) % 3]
        stem = f"{counts[kind]:03d}"
        counts[kind] += 1
        if kind == "good":
            write(root / "test" / "good" / f"{stem}.png", crop)
            continue
        # Redraw until the defect changes something: a pasted patch can match the crop.
        mask = np.zeros(crop.shape, bool)
        while not mask.any():
            if kind == "patch":
                image, mask = patch(crop, rng, photo)
            else:
                image, mask = {"scratch": scratch, "stain": stain}[kind](crop, rng)
        write(root / "test" / kind / f"{stem}.png", image)
        write(root / "ground_truth" / kind / f"{stem}_mask.png", mask.astype(np.uint8) * 255)
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, required=True)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--n-train", type=int, default=160)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    card = {"source": "scikit-image 0.26.0 skimage.data (CC0)", "size": args.size, "categories": {}}
    for name, load in SOURCES.items():
        counts = category(name, load(), args.out, args.size, args.n_train, rng)
        card["categories"][name] = {"train": args.n_train, "test": counts}
        print(f"{name}: {args.n_train} train, test {counts}")
    (args.out / "textures.json").write_text(json.dumps(card, indent=1) + "\n")


if __name__ == "__main__":
    main()

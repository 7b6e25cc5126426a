#!/usr/bin/env python3
"""The best AUPRO a category allows when some of its defect kinds cannot be seen.

Writes oracle anomaly maps for the test images of one MVTec-layout category: on images of a
defect kind that is *seen*, the map is 1 on the ground-truth mask and 0 elsewhere; on healthy
images and on images of a kind named in `--unseen`, it carries no information about the mask.
Every map gets the same uniform noise in [0, 0.5) so that ties are broken at random. Scoring
these maps with `dtunet eval` gives the AUPRO (and pixel AUROC) of a detector that is perfect on
the seen kinds and blind to the unseen ones: the ceiling of any method that cannot tell those
defects from healthy texture (for example a patch of the same stochastic texture pasted in it).

Pinned: python 3.11, numpy==2.4.6, pillow==13.0.0.

    python3 tools/aupro_ceiling.py --category DATA/grass --unseen patch --out ORACLE
    dtunet eval --images ORACLE/images --maps ORACLE/maps --masks ORACLE/masks \\
        --classes ORACLE/classes.json --out ORACLE/eval

Outputs, with stems `<defect>_<file stem>` as `dtunet detect` names them: `images/*.png` (the
test images, for the report's panels), `maps/*.npy` (float32, [H, W]), `masks/*.png` (255 on the defect, all 0 for healthy images) and
`classes.json` (stem → defect kind). Deterministic for a given --seed.
"""

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image


def defect_mask(category, defect, stem, shape):
    if defect == "good":
        return np.zeros(shape, dtype=bool)
    path = category / "ground_truth" / defect / f"{stem}_mask.png"
    if not path.exists():
        raise SystemExit(f"{path}: missing mask for test/{defect}/{stem}.png")
    return np.asarray(Image.open(path)) > 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--category", type=Path, required=True, help="MVTec-layout category folder")
    parser.add_argument("--unseen", nargs="*", default=[], help="defect kinds the oracle is blind to")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    test_images = sorted((args.category / "test").glob("*/*.png"))
    if not test_images:
        raise SystemExit(f"{args.category / 'test'}: no test/<kind>/*.png images")
    kinds = {path.parent.name for path in test_images}
    unknown = set(args.unseen) - kinds
    if unknown:
        raise SystemExit(f"--unseen {sorted(unknown)}: not among the test kinds {sorted(kinds)}")

    rng = np.random.default_rng(args.seed)
    for folder in ("images", "maps", "masks"):
        (args.out / folder).mkdir(parents=True, exist_ok=True)
    classes = {}
    for path in test_images:
        defect = path.parent.name
        image = Image.open(path)
        shape = (image.height, image.width)
        mask = defect_mask(args.category, defect, path.stem, shape)
        score = rng.uniform(0.0, 0.5, shape)
        if defect != "good" and defect not in args.unseen:
            score += mask
        name = f"{defect}_{path.stem}"
        image.save(args.out / "images" / f"{name}.png")
        np.save(args.out / "maps" / f"{name}.npy", score.astype(np.float32))
        Image.fromarray((mask * 255).astype(np.uint8)).save(args.out / "masks" / f"{name}.png")
        classes[name] = defect
    (args.out / "classes.json").write_text(json.dumps(classes, indent=1) + "\n")
    print(f"{len(test_images)} oracle maps in {args.out / 'maps'} (blind to: {args.unseen or 'none'})")


if __name__ == "__main__":
    main()

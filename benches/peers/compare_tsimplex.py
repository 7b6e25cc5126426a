#!/usr/bin/env python3
"""Side-by-side Tsimplex generation: the Python reference vs `dtunet noise bench`, same cores.

Pinned: python 3.11, opensimplex==0.4.5.1, numba==0.68.1, numpy==2.4.6.

    cargo build --release -p dtunet-cli
    python3 benches/peers/compare_tsimplex.py --rounds 3 --repeats 3

For each shape it alternates the two programs (reference, ours, reference, ours, ...), each
timing `--repeats` batches after a warm-up batch inside its own process (so Python start-up and
numba compilation are not counted, nor is Rust start-up), and reports the medians over all
timed batches and their ratio. Both use every core of the machine (numba `prange`, rayon).
"""

import argparse
import pathlib
import re
import statistics
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
BATCH_LINE = re.compile(r"batch \d+: ([0-9.]+) ms")


def batch_times(command):
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return [float(m.group(1)) for m in BATCH_LINE.finditer(output)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shapes", default="32x1x224x224,8x3x224x224")
    parser.add_argument("--binary", default=str(ROOT / "target/release/dtunet"))
    args = parser.parse_args()
    params = ["--octaves", "6", "--persistence", "0.9", "--frequency", "64"]
    print("| batch | Python opensimplex+numba median ms | dtunet median ms | speed-up |")
    print("| --- | ---: | ---: | ---: |")
    for shape in args.shapes.split(","):
        reference, ours = [], []
        for _ in range(args.rounds):
            reference += batch_times([sys.executable, str(ROOT / "benches/peers/tsimplex_reference.py"),
                                      "--shape", shape, "--repeats", str(args.repeats), *params])
            ours += batch_times([args.binary, "noise", "bench", "--shape", shape,
                                 "--repeats", str(args.repeats), *params])
        ref_median, our_median = statistics.median(reference), statistics.median(ours)
        print(f"| {shape} | {ref_median:.0f} | {our_median:.0f} | {ref_median / our_median:.2f}x |",
              flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The Python reference Tsimplex generator, timed: the peer of `dtunet noise bench`.

Pinned: python 3.11, opensimplex==0.4.5.1, numba==0.68.1, numpy==2.4.6.

This is the paper code's way of making a Tsimplex batch: one `OpenSimplex` instance per call,
and for every sample an octave loop over `noise4array` (numba, `parallel=True`) with
coordinates `x/F_k`, `y/F_k`, `c/F_k`, `t/F_k`, `F_k = F / 2^k`, summed with amplitude `p^k`.

    python3 benches/peers/tsimplex_reference.py --shape 32x1x224x224 --repeats 5
prints one line per batch and a final `median_ms=...` line. The first (warm-up) batch, which
includes numba's compilation or cache load, is not counted.
"""

import argparse
import statistics
import time

import numpy as np
import opensimplex


def tsimplex_batch(generator, shape, timesteps, octaves, persistence, frequency):
    batch, channels, height, width = shape
    out = np.empty(shape, dtype=np.float64)
    for b in range(batch):
        noise = np.zeros((1, channels, height, width))
        amplitude, period = 1.0, frequency
        for _ in range(octaves):
            noise += amplitude * generator.noise4array(
                np.arange(width) / period,
                np.arange(height) / period,
                np.arange(channels) / period,
                np.array([timesteps[b]], dtype=np.float64) / period,
            )
            amplitude *= persistence
            period /= 2.0
        out[b] = noise[0]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="32x1x224x224")
    parser.add_argument("--octaves", type=int, default=6)
    parser.add_argument("--persistence", type=float, default=0.9)
    parser.add_argument("--frequency", type=float, default=64.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    shape = tuple(int(d) for d in args.shape.split("x"))
    rng = np.random.default_rng(args.seed)
    times = []
    for repeat in range(args.repeats + 1):
        generator = opensimplex.OpenSimplex(int(rng.integers(-(2**63), 2**63 - 1)))
        timesteps = rng.integers(0, 1000, size=shape[0])
        start = time.perf_counter()
        tsimplex_batch(generator, shape, timesteps, args.octaves, args.persistence, args.frequency)
        elapsed_ms = (time.perf_counter() - start) * 1e3
        if repeat > 0:
            times.append(elapsed_ms)
            print(f"batch {repeat}: {elapsed_ms:.1f} ms", flush=True)
    print(f"median_ms={statistics.median(times):.2f} min_ms={min(times):.2f} max_ms={max(times):.2f}")


if __name__ == "__main__":
    main()

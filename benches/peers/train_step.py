#!/usr/bin/env python3
"""One training step of DTU-Net / U-ViT in PyTorch, timed: the peer of `dtunet bench train`.

Pinned: python 3.11, torch==2.13.0, numpy==2.4.6, opensimplex==0.4.5.1, numba==0.68.1
(safetensors==0.8.0 only because the model module imports it).

    pip install torch==2.13.0 numpy==2.4.6 opensimplex==0.4.5.1 numba==0.68.1 safetensors==0.8.0
    python3 benches/peers/train_step.py --img-size 64 --patch-size 8 --embed-dim 192 \
        --depth 6 --heads 6 --batch-size 8 --ff mlp --threads 2

The network is the PyTorch rendering the Rust forward-pass fixtures are checked against
(`Net` of tests/fixtures/models/gen_models.py, imported, so both benchmarks run the same
architecture). The step is the one `dtunet train` takes: x_t = q_sample(x_0, t, eps) on the
cosine schedule (T = 1000, t uniform in [0, 800)), eps_hat = net(x_t, t), MSE on eps averaged
per sample then over the batch, the loss read back, backward, AdamW (lr 1e-4, betas 0.9/0.999,
eps 1e-8, weight decay 0). BatchNorm (DAFF) runs in training mode, as in ours.

Three timings, interleaved within every repeat like ours: the network step on a fixed noise
tensor, the noise batch alone, and the full step (noise, then the step). `--noise tsimplex`
draws the noise with the paper code's generator (benches/peers/tsimplex_reference.py: a new
`OpenSimplex` per batch, numba `noise4array` per sample and octave; octaves 6, persistence 0.9,
frequency 64) and converts it to float32; `--noise gauss` uses `torch.randn`. Prints
min / median / max ms per row and the noise share (noise median / full-step median), or the
same fields as `dtunet bench train --json` with `--json`. `--device cuda` runs the step on a GPU
(float32, PyTorch's default matmul precision; the noise is drawn on the host and copied), the
peer of `dtunet bench train --backend cuda|wgpu`; `--noise gauss` then needs no opensimplex.
"""

import argparse
import json
import math
import pathlib
import statistics
import sys
import time

import numpy as np
import torch

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "tests/fixtures/models"))

from gen_models import Net  # noqa: E402

DIFFUSION_STEPS = 1000
SAMPLE_DISTANCE = 800
LEARNING_RATE = 1e-4


def cosine_alphas_cumprod(steps):
    """Nichol & Dhariwal's cosine schedule in float64, betas clipped at 0.999."""
    def alpha_bar(s):
        return math.cos((s / steps + 0.008) / 1.008 * math.pi / 2) ** 2
    betas = np.array([min(1 - alpha_bar(i + 1) / alpha_bar(i), 0.999) for i in range(steps)])
    return np.cumprod(1.0 - betas)


class Noise:
    """Noise batches [B, C, H, W] with one timestep per sample, drawn on the host as float32
    tensors and moved to `device`."""

    def __init__(self, kind, shape, seed, device):
        self.kind, self.shape, self.device = kind, shape, device
        if kind == "tsimplex":
            import opensimplex
            from tsimplex_reference import tsimplex_batch
            self.opensimplex = opensimplex
            self.tsimplex_batch = tsimplex_batch
        self.rng = np.random.default_rng(seed)
        self.torch_gen = torch.Generator().manual_seed(seed)

    def sample(self, t):
        if self.kind == "gauss":
            return torch.randn(self.shape, generator=self.torch_gen).to(self.device)
        generator = self.opensimplex.OpenSimplex(int(self.rng.integers(-(2**63), 2**63 - 1)))
        field = self.tsimplex_batch(generator, self.shape, t.cpu().numpy(), 6, 0.9, 64.0)
        return torch.from_numpy(field).float().to(self.device)


def synchronize(device):
    """Waits for the device's queued work, so clocks stop when the work is done."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Step:
    def __init__(self, model, x_start, device):
        self.model = model
        self.device = device
        self.x_start = x_start
        self.optimizer = torch.optim.AdamW(
            model.parameters(), lr=LEARNING_RATE, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0
        )
        alphas_cumprod = cosine_alphas_cumprod(DIFFUSION_STEPS)
        self.sqrt_ac = torch.from_numpy(np.sqrt(alphas_cumprod)).float().to(device)
        self.sqrt_1m_ac = torch.from_numpy(np.sqrt(1.0 - alphas_cumprod)).float().to(device)

    def run(self, t, eps):
        x_t = (self.sqrt_ac[t].view(-1, 1, 1, 1) * self.x_start
               + self.sqrt_1m_ac[t].view(-1, 1, 1, 1) * eps)
        eps_hat = self.model(x_t, t.float())
        loss = ((eps_hat - eps) ** 2).mean(dim=(1, 2, 3)).mean()
        if not math.isfinite(loss.item()):
            raise SystemExit(f"error: the loss is {loss.item()}: the benchmarked step diverged")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        synchronize(self.device)


def summary(times_ms):
    return {
        "min_ms": min(times_ms),
        "median_ms": statistics.median(times_ms),
        "max_ms": max(times_ms),
        "runs_ms": times_ms,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=["dtunet", "uvit"], default="dtunet")
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--patch-size", type=int, default=16)
    parser.add_argument("--embed-dim", type=int, default=384)
    parser.add_argument("--depth", type=int, default=6)
    parser.add_argument("--heads", type=int, default=6)
    parser.add_argument("--ff", default="mlp", help="mlp, daff or in,mid,out")
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--noise", choices=["tsimplex", "gauss"], default="tsimplex")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="default: all cores")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (float32 either way)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    ff = args.ff.split(",")
    if len(ff) == 1:
        ff = ff * 3
    if len(ff) != 3 or any(kind not in ("mlp", "daff") for kind in ff):
        parser.error(f"--ff {args.ff!r}: expected mlp, daff or three of them as in,mid,out")

    if args.threads is not None:
        torch.set_num_threads(args.threads)
        import numba
        numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    threads = torch.get_num_threads()
    torch.manual_seed(0)
    cfg = {
        "arch": args.arch,
        "img_size": args.img_size,
        "patch_size": args.patch_size,
        "channels": args.channels,
        "embed_dim": args.embed_dim,
        "depth": args.depth,
        "heads": args.heads,
        "mlp_ratio": 4.0,
        "ff": ff,
        "num_classes": 0,
    }
    device = torch.device(args.device)
    model = Net(cfg).train().to(device)
    params = sum(p.numel() for p in model.parameters())
    shape = (args.batch_size, args.channels, args.img_size, args.img_size)
    x_start = torch.sin(torch.arange(math.prod(shape), dtype=torch.float32) * 0.1).reshape(shape)
    step = Step(model, x_start.to(device), device)
    noise = Noise(args.noise, shape, seed=0, device=device)
    timesteps = torch.Generator().manual_seed(0)

    def draw_t():
        t = torch.randint(0, SAMPLE_DISTANCE, (args.batch_size,), generator=timesteps)
        return t.to(device)

    fixed_t = draw_t()
    fixed_eps = noise.sample(fixed_t)  # also compiles numba's kernels (or loads its cache)
    network_ms, noise_ms, full_ms = [], [], []
    for repeat in range(args.warmup + args.repeats):
        start = time.perf_counter()
        step.run(fixed_t, fixed_eps)
        network = time.perf_counter() - start

        t = draw_t()
        start = time.perf_counter()
        noise.sample(t)
        synchronize(device)
        noise_only = time.perf_counter() - start

        t = draw_t()
        start = time.perf_counter()
        step.run(t, noise.sample(t))
        full = time.perf_counter() - start

        if repeat >= args.warmup:
            network_ms.append(network * 1e3)
            noise_ms.append(noise_only * 1e3)
            full_ms.append(full * 1e3)

    rows = {
        "network_step": summary(network_ms),
        "noise_generation": summary(noise_ms),
        "full_step": summary(full_ms),
    }
    share = rows["noise_generation"]["median_ms"] / rows["full_step"]["median_ms"]
    if args.json:
        model_fields = {k: cfg[k] for k in
                        ("arch", "img_size", "patch_size", "embed_dim", "depth", "heads")}
        report = {
            "bench": "train",
            "backend": f"torch {torch.__version__} {device}",
            "threads": threads,
            "model": {**model_fields, "ff": args.ff, "channels": args.channels,
                      "params": params},
            "batch_size": args.batch_size,
            "noise": args.noise,
            "warmup": args.warmup,
            "repeats": args.repeats,
            **rows,
            "noise_share": share,
        }
        print(json.dumps(report, indent=2))
        return
    print(f"pytorch {args.arch} {args.img_size}x{args.img_size} px, {args.channels} channel(s), "
          f"patch {args.patch_size}, D {args.embed_dim}, depth {args.depth}, heads {args.heads}, "
          f"ff {args.ff} ({params} parameters); batch {args.batch_size}; noise {args.noise}; "
          f"torch {torch.__version__} on {device}, {threads} thread(s); {args.repeats} timed "
          f"step(s) after "
          f"{args.warmup} warm-up")
    print(f"{'ms per step':<18} {'min':>10} {'median':>10} {'max':>10}")
    for name, key in (("network step", "network_step"), ("noise generation", "noise_generation"),
                      ("full step", "full_step")):
        row = rows[key]
        print(f"{name:<18} {row['min_ms']:>10.1f} {row['median_ms']:>10.1f} {row['max_ms']:>10.1f}")
    print(f"noise share {share:.3f} (noise median / full-step median)")


if __name__ == "__main__":
    main()

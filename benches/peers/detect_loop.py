#!/usr/bin/env python3
"""The PyTorch peer of `dtunet detect`: partial diffusion of one batch to t_lambda and the full
reverse chain (guided-diffusion formulas, cosine schedule, fixed-large variance, x0 clipped),
with the same network as ours (the DTU-Net rendering of tests/fixtures/models/gen_models.py).
Gaussian noise on both sides, so the network and chain are what is compared.

Pinned: python 3.11, torch==2.13.0, numpy==2.4.6.

    python3 benches/peers/detect_loop.py --img-size 64 --patch-size 8 --embed-dim 64 \
        --depth 4 --heads 4 --mlp-ratio 2 --batch-size 8 --t-lambda 250 --threads 2

Prints the median wall time of the reconstruction of one batch over --repeats runs, in the
form `detect batch: median S s (min S, max S)`.
"""

import argparse
import math
import pathlib
import statistics
import sys
import time

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "models"))
from gen_models import Net  # noqa: E402


def cosine_betas(steps):
    alpha_bar = lambda s: math.cos((s / steps + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    return np.array(
        [min(1 - alpha_bar(i + 1) / alpha_bar(i), 0.999) for i in range(steps)], dtype=np.float64
    )


def main():
    parser = argparse.ArgumentParser()
    for name, default in [
        ("img-size", 64), ("patch-size", 8), ("embed-dim", 64), ("depth", 4), ("heads", 4),
        ("batch-size", 8), ("t-lambda", 250), ("threads", 2), ("repeats", 3), ("channels", 1),
    ]:
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--mlp-ratio", type=float, default=2.0)
    parser.add_argument("--ff", default="mlp")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = {
        "arch": "dtunet", "img_size": args.img_size, "patch_size": args.patch_size,
        "channels": args.channels, "embed_dim": args.embed_dim, "depth": args.depth,
        "heads": args.heads, "mlp_ratio": args.mlp_ratio, "ff": [args.ff] * 3, "num_classes": 0,
    }
    model = Net(cfg).eval()

    betas = cosine_betas(1000)
    alphas_cumprod = np.cumprod(1.0 - betas)
    alphas_cumprod_prev = np.append(1.0, alphas_cumprod[:-1])
    posterior_variance = betas * (1.0 - alphas_cumprod_prev) / (1.0 - alphas_cumprod)
    table = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    sqrt_ac = table(np.sqrt(alphas_cumprod))
    sqrt_1mac = table(np.sqrt(1.0 - alphas_cumprod))
    sqrt_recip = table(np.sqrt(1.0 / alphas_cumprod))
    sqrt_recipm1 = table(np.sqrt(1.0 / alphas_cumprod - 1.0))
    coef1 = table(betas * np.sqrt(alphas_cumprod_prev) / (1.0 - alphas_cumprod))
    coef2 = table((1.0 - alphas_cumprod_prev) * np.sqrt(1.0 - betas) / (1.0 - alphas_cumprod))
    log_var = table(np.log(np.append(posterior_variance[1], betas[1:])))

    shape = (args.batch_size, args.channels, args.img_size, args.img_size)
    x0 = torch.rand(shape) * 2 - 1

    def reconstruct():
        t_l = args.t_lambda
        x = sqrt_ac[t_l] * x0 + sqrt_1mac[t_l] * torch.randn(shape)
        with torch.no_grad():
            for step in range(t_l, -1, -1):
                t = torch.full((args.batch_size,), float(step))
                eps = model(x, t)
                x0_hat = (sqrt_recip[step] * x - sqrt_recipm1[step] * eps).clamp(-1, 1)
                mean = coef1[step] * x0_hat + coef2[step] * x
                noise = torch.randn(shape) if step > 0 else torch.zeros(shape)
                x = mean + torch.exp(0.5 * log_var[step]) * noise
        return x

    reconstruct()
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        reconstruct()
        times.append(time.perf_counter() - start)
    print(
        f"detect batch: median {statistics.median(times):.3f} s "
        f"(min {min(times):.3f}, max {max(times):.3f}) torch {torch.__version__}"
    )


if __name__ == "__main__":
    main()

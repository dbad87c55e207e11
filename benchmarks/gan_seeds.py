"""Mode coverage of a GAN on the ring of 8 Gaussians over many seeds: what makes it reliable.

Every configuration trains 2000 steps (one D and one G step each) on the ring (radius 2, std 0.02)
from seeds 0..n-1 and samples 2000 points. A mode is covered when at least 1 % of the samples lie
within 3 std (0.06) of it; "high quality" = the fraction of samples within 3 std of some mode.
The last two rows train the recipe on the 5x5 grid (spacing 2, std 0.05, 25 modes) instead.
One torch thread. Prints a markdown table (recorded in BENCHMARKS.md, section "GAN mode coverage").

    .venv/bin/python benchmarks/gan_seeds.py [--seeds 10] [--only name,name]
"""
import argparse
import time

import numpy as np
import torch

from nnutils import gan

torch.set_num_threads(1)

PLAIN = dict(hidden=128, batch_size=128, betas=(0.9, 0.999))
BASE = dict(hidden=64, batch_size=256, betas=(0.5, 0.999))
CONFIGS = {
    "plain: Adam(1e-3) default betas, width 128, batch 128": PLAIN,
    "plain + betas (0.5, 0.999)": {**PLAIN, "betas": (0.5, 0.999)},
    "base: betas (0.5, 0.999), width 64, batch 256": BASE,
    "base + instance noise 0.1 (annealed)": {**BASE, "noise_std": 0.1},
    "base + spectral norm in D": {**BASE, "spectral_norm": True},
    "base + lr decay to 0": {**BASE, "lr_decay": True},
    "base + EMA of G (0.99)": {**BASE, "ema": 0.99},
    "base + R1 penalty (gamma 0.1)": {**BASE, "r1": 0.1},
    "base + R1 penalty (gamma 0.3)": {**BASE, "r1": 0.3},
    "base + R1 0.1 + EMA 0.99": {**BASE, "r1": 0.1, "ema": 0.99},
    "base + R1 0.1 + EMA 0.99 + lr_D 2e-3": {**BASE, "r1": 0.1, "ema": 0.99, "lr": (1e-3, 2e-3)},
    "recipe: base + R1 0.3 + EMA 0.99": {**BASE, "r1": 0.3, "ema": 0.99},
    "recipe on the 5x5 grid (25 modes)": {**BASE, "r1": 0.3, "ema": 0.99, "target": "grid"},
    "recipe on the 5x5 grid, width 128, 4000 steps": {**BASE, "r1": 0.3, "ema": 0.99, "target": "grid",
                                                       "hidden": 128, "steps": 4000},
}
TARGETS = {"ring": (gan.ring_centers(8, 2.0), 0.02), "grid": (gan.grid_centers(5, 2.0), 0.05)}


def run(cfg, seed):
    cfg = dict(cfg)
    centers, std = TARGETS[cfg.pop("target", "ring")]
    t = time.process_time()
    cfg.setdefault("steps", 2000)
    G, _, _ = gan.train_on_mixture(centers, std, seed=seed, progress=False, **cfg)
    cpu = time.process_time() - t
    S = gan.sample(G, 2000, seed=10_000 + seed)
    return gan.modes_covered(S, centers, 3 * std), gan.high_quality_fraction(S, centers, 3 * std), cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--only", default="", help="comma-separated substrings of config names")
    args = ap.parse_args()
    names = [n for n in CONFIGS if not args.only or any(k in n for k in args.only.split(","))]
    print(f"| configuration | modes covered, seeds 0..{args.seeds - 1} | min | mean | high quality (mean) | CPU s/run |")
    print("|---|---|---|---|---|---|")
    for name in names:
        res = np.array([run(CONFIGS[name], s) for s in range(args.seeds)])
        modes = res[:, 0].astype(int)
        print(f"| {name} | {' '.join(map(str, modes))} | {modes.min()} | {modes.mean():.1f} | "
              f"{res[:, 1].mean():.2f} | {res[:, 2].mean():.1f} |", flush=True)


if __name__ == "__main__":
    main()

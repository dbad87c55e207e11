"""Chapter 8's plain-vs-residual experiment over more seeds (and depth 32) than the chapter can afford.

Usage: .venv/bin/python benchmarks/resnet_seeds.py [--seeds 10] [--depths 8,20,32]
Same data (scikit-learn digits, nnutils.data.load_digits(seed=0), 1x8x8), same networks
(nnutils.resnet.build_net, widths 4/8/16, He init, option A) and same budget as the chapter
(SGD momentum 0.9, lr 0.02, batch 32, 6 epochs, one torch thread). For every (BN, net) it prints the
final-epoch training loss and test accuracy as median [min, max] over the seeds, how many seeds
stayed at chance (test accuracy < 20 %), and the per-seed ratio of plain to residual training loss
at the deepest depth. Prints a markdown table.
"""
import argparse
import time

import numpy as np
import torch

from nnutils import data, resnet

BUDGET = dict(epochs=6, lr=0.02, batch_size=32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--depths", default="8,20,32")
    args = ap.parse_args()
    torch.set_num_threads(1)
    depths = [int(d) for d in args.depths.split(",")]

    (X_tr, y_tr), _, (X_te, y_te) = data.load_digits(seed=0)
    to_images = lambda X: torch.tensor(X, dtype=torch.float32).reshape(-1, 1, 8, 8)
    X_tr, X_te, y_tr, y_te = to_images(X_tr), to_images(X_te), torch.tensor(y_tr), torch.tensor(y_te)

    nets = [(f"plain-{d}", d, "plain") for d in depths] + [(f"residual-{d}", d, "basic") for d in depths[1:]]
    results = {}
    t0 = time.perf_counter()
    for bn in (False, True):
        for name, depth, block in nets:
            for seed in range(args.seeds):
                torch.manual_seed(seed)
                net = resnet.build_net(depth, block, bn=bn)
                h = resnet.train_classifier(net, X_tr, y_tr, X_te, y_te, seed=seed, **BUDGET)
                results[(bn, name, seed)] = (h["train_loss"][-1], h["test_acc"][-1])
    elapsed = time.perf_counter() - t0

    def fmt(v, pct=False):
        f = (lambda x: f"{x:.1%}") if pct else (lambda x: f"{x:.3f}")
        return f"{f(np.median(v))} [{f(v.min())}, {f(v.max())}]"

    print(f"{args.seeds} seeds, budget {BUDGET}, {len(results)} runs in {elapsed:.0f} s\n")
    print("| BN | net | training loss, median [min, max] | test accuracy, median [min, max] | seeds at chance |")
    print("|---|---|---|---|---|")
    for bn in (False, True):
        for name, _, _ in nets:
            loss = np.array([results[(bn, name, s)][0] for s in range(args.seeds)])
            acc = np.array([results[(bn, name, s)][1] for s in range(args.seeds)])
            print(f"| {'yes' if bn else 'no'} | {name} | {fmt(loss)} | {fmt(acc, True)} | "
                  f"{int(np.sum(acc < 0.2))} of {args.seeds} |")
    print()
    for bn in (False, True):
        for d in depths[1:]:
            r = np.array([results[(bn, f"plain-{d}", s)][0] / results[(bn, f"residual-{d}", s)][0]
                          for s in range(args.seeds)])
            shallow = np.array([results[(bn, f"plain-{d}", s)][0] / results[(bn, f"plain-{depths[0]}", s)][0]
                                for s in range(args.seeds)])
            print(f"BN {'yes' if bn else 'no '}, depth {d}: training loss plain/residual median "
                  f"{np.median(r):.1f}x (min {r.min():.1f}x); plain-{d}/plain-{depths[0]} median "
                  f"{np.median(shallow):.1f}x (min {shallow.min():.1f}x)")


if __name__ == "__main__":
    main()

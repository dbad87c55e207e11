"""NumPy conv/pool layers (nnutils.cnn) vs PyTorch CPU, side by side in one process.

Forward + backward of
  conv:     batch 64, 3x32x32 input, 16 filters 3x3, stride 1, pad 1
  max pool: 2x2 stride 2 on the conv output (64, 16, 32, 32)
  avg pool: 2x2 stride 2 on the same
in float32, one thread each: torch.set_num_threads(1) and threadpoolctl limiting NumPy's BLAS
(OpenBLAS) to 1 thread. Each case is timed `--repeats` times (each repeat runs `--number` calls
and keeps the mean), NumPy and PyTorch alternating. The table shows the median times and the
median over repeats of the paired ratio NumPy / PyTorch (each NumPy repeat divided by the PyTorch
repeat right after it, which cancels most of the drift on a shared machine); lower is better, 1.0
means as fast as PyTorch.

Usage: .venv/bin/python benchmarks/bench_conv.py [--repeats 15] [--number 5]
"""
import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits

from nnutils import cnn


def timeit(fn, number):
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def cases(rng):
    x = rng.standard_normal((64, 3, 32, 32)).astype(np.float32)
    w = (0.1 * rng.standard_normal((16, 3, 3, 3))).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    dout = rng.standard_normal((64, 16, 32, 32)).astype(np.float32)
    a = rng.standard_normal((64, 16, 32, 32)).astype(np.float32)
    dpool = rng.standard_normal((64, 16, 16, 16)).astype(np.float32)

    xt, wt, bt = (torch.tensor(v, requires_grad=True) for v in (x, w, b))
    at = torch.tensor(a, requires_grad=True)
    doutt, dpoolt = torch.tensor(dout), torch.tensor(dpool)

    def np_conv():
        out, cache = cnn.conv_forward(x, w, b, stride=1, pad=1)
        return cnn.conv_backward(dout, cache)

    def torch_conv():
        out = F.conv2d(xt, wt, bt, stride=1, padding=1)
        return torch.autograd.grad(out, (xt, wt, bt), doutt)

    def np_maxpool():
        out, cache = cnn.max_pool_forward(a, 2, 2)
        return cnn.max_pool_backward(dpool, cache)

    def torch_maxpool():
        out = F.max_pool2d(at, 2, 2)
        return torch.autograd.grad(out, at, dpoolt)

    def np_avgpool():
        out, cache = cnn.avg_pool_forward(a, 2, 2)
        return cnn.avg_pool_backward(dpool, cache)

    def torch_avgpool():
        out = F.avg_pool2d(at, 2, 2)
        return torch.autograd.grad(out, at, dpoolt)

    return [("conv 3x3 pad 1, 64x3x32x32 -> 16 maps", np_conv, torch_conv),
            ("max pool 2x2, 64x16x32x32", np_maxpool, torch_maxpool),
            ("avg pool 2x2, 64x16x32x32", np_avgpool, torch_avgpool)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--number", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    with threadpool_limits(limits=1, user_api="blas"):
        print(f"numpy {np.__version__}, torch {torch.__version__}, torch threads {torch.get_num_threads()}, "
              f"BLAS threads limited to 1; forward+backward, float32; "
              f"median of {args.repeats} repeats x {args.number} calls\n")
        print(f"{'case':<40} {'numpy ms':>9} {'torch ms':>9} {'ratio':>6}")
        for name, f_np, f_torch in cases(rng):
            f_np(), f_torch()                      # warm up (allocations, one-time dispatch)
            t_np, t_torch = [], []
            for _ in range(args.repeats):
                t_np.append(timeit(f_np, args.number))
                t_torch.append(timeit(f_torch, args.number))
            m_np, m_torch = statistics.median(t_np), statistics.median(t_torch)
            ratio = statistics.median(a / b for a, b in zip(t_np, t_torch))
            print(f"{name:<40} {1e3 * m_np:9.2f} {1e3 * m_torch:9.2f} {ratio:6.2f}")


if __name__ == "__main__":
    main()

"""RNN/LSTM forward+backward: nnutils.lstm (numpy) vs torch.nn.RNN / nn.LSTM on the CPU.

Both run in this one process, one thread each (torch.set_num_threads(1), threadpoolctl limits
numpy's BLAS), same shapes, same dtype, interleaved repeats; the ratio of medians is reported.

    .venv/bin/python benchmarks/bench_rnn.py [--batch 32 --steps 50 --input 64 --hidden 128 --repeats 30]
"""
import argparse
import statistics
import time

import numpy as np
import torch
from threadpoolctl import threadpool_info, threadpool_limits

from nnutils import lstm


def numpy_step(kind, x, h0, Wx, Wh, b, G):
    if kind == "lstm":
        _, cache = lstm.lstm_forward(x, h0, Wx, Wh, b)
        return lstm.lstm_backward(G, cache)
    _, cache = lstm.rnn_forward(x, h0, Wx, Wh, b)
    return lstm.rnn_backward(G, cache)


def torch_step(module, x, h0, G):
    module.zero_grad(set_to_none=True)
    x.grad = None
    state = h0 if isinstance(module, torch.nn.RNN) else (h0, torch.zeros_like(h0))
    out, _ = module(x, state)
    out.backward(G)


def bench(kind, args, dtype):
    torch.manual_seed(0)
    tdtype = {np.float32: torch.float32, np.float64: torch.float64}[dtype]
    cls = torch.nn.LSTM if kind == "lstm" else torch.nn.RNN
    module = cls(args.input, args.hidden, batch_first=True).to(tdtype)
    r = np.random.default_rng(0)
    x = r.normal(size=(args.batch, args.steps, args.input)).astype(dtype)
    G = r.normal(size=(args.batch, args.steps, args.hidden)).astype(dtype)
    h0 = np.zeros((args.batch, args.hidden), dtype)
    Wx, Wh, b = lstm.from_torch(module, dtype)
    xt, Gt, h0t = torch.tensor(x, requires_grad=True), torch.tensor(G), torch.tensor(h0[None])

    # same numbers first, so the two sides do the same work
    torch_step(module, xt, h0t, Gt)
    dx = numpy_step(kind, x, h0, Wx, Wh, b, G)[0]
    tol = 1e-3 if dtype == np.float32 else 1e-9
    assert np.allclose(dx, xt.grad.numpy(), atol=tol, rtol=tol), "numpy and torch disagree"

    t_np, t_torch = [], []
    for _ in range(3):                                         # warm-up
        numpy_step(kind, x, h0, Wx, Wh, b, G)
        torch_step(module, xt, h0t, Gt)
    for _ in range(args.repeats):                              # interleaved
        t0 = time.perf_counter()
        numpy_step(kind, x, h0, Wx, Wh, b, G)
        t1 = time.perf_counter()
        torch_step(module, xt, h0t, Gt)
        t2 = time.perf_counter()
        t_np.append(t1 - t0)
        t_torch.append(t2 - t1)
    m_np, m_torch = statistics.median(t_np), statistics.median(t_torch)
    return m_np, m_torch


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--input", type=int, default=64)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--repeats", type=int, default=30)
    args = p.parse_args()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        blas = [(i["internal_api"], i.get("architecture"), i["num_threads"]) for i in threadpool_info()]
        print(f"numpy {np.__version__} BLAS {blas}; torch {torch.__version__} threads {torch.get_num_threads()}")
        print(f"batch {args.batch}, {args.steps} steps, {args.input} in, {args.hidden} hidden, "
              f"forward+backward, median of {args.repeats}")
        print(f"{'model':<6}{'dtype':<9}{'numpy ms':>10}{'torch ms':>10}{'numpy/torch':>13}")
        for kind in ["rnn", "lstm"]:
            for dtype in [np.float32, np.float64]:
                m_np, m_torch = bench(kind, args, dtype)
                print(f"{kind:<6}{np.dtype(dtype).name:<9}{1e3 * m_np:>10.2f}{1e3 * m_torch:>10.2f}"
                      f"{m_np / m_torch:>12.2f}x")


if __name__ == "__main__":
    main()

"""Independent training runs side by side, one process per core.

Several chapters train small networks that do not depend on each other (three seeds,
three depths, five unit variants). `starmap(fn, calls)` returns
`[fn(*args) for args in calls]`, in order, computed by forked worker processes with one
torch thread each. Every run seeds its own generators, so the results are the loop's,
bit for bit (tests/test_parallel.py); only the wall time shrinks, to about 1/processes.
Forking keeps functions defined in a notebook usable (nothing is re-imported); where
fork is unavailable the loop runs here.
"""
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import torch


def available_cores():
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:                     # not Linux
        return max(1, os.cpu_count() or 1)


def _one_thread():
    torch.set_num_threads(1)


def _warm_up():
    """Pay torch's one-time cost here, before forking: the first optimiser step of a
    process imports machinery that takes about 2 s, which every fresh worker would
    pay."""
    w = torch.zeros(1, requires_grad=True)
    w.sum().backward()
    torch.optim.SGD([w], lr=0.0, momentum=0.9).step()


def starmap(fn, calls, processes=None):
    """[fn(*args) for args in calls], computed in `processes` forked processes.

    calls: an iterable of argument tuples; fn and its results must be picklable (a
    function of a notebook is: the workers are forks). processes: default the available
    cores, at most 2, the machine the book is built on (environment variable
    NNUTILS_PROCESSES overrides); 1 runs the loop in this process. An exception in a run
    is raised here, as the loop would raise it; a worker that dies raises
    BrokenProcessPool.
    """
    calls = [tuple(args) for args in calls]
    if processes is None:
        processes = int(os.environ.get("NNUTILS_PROCESSES", min(2, available_cores())))
    if not isinstance(processes, int) or isinstance(processes, bool) or processes < 1:
        raise ValueError(f"processes must be a positive int, got {processes!r}")
    processes = min(processes, len(calls))
    if processes <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [fn(*args) for args in calls]
    _warm_up()
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork"),
                             initializer=_one_thread) as pool:
        futures = [pool.submit(fn, *args) for args in calls]
        return [f.result() for f in futures]

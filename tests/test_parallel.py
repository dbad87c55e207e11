"""nnutils.parallel: the same results as the loop, in order, errors raised, one thread."""
import os

import pytest
import torch
from concurrent.futures.process import BrokenProcessPool

from nnutils import parallel, resnet


def tiny_run(seed, epochs):
    """A seeded training run as the chapters do it: weights and batch order from `seed`."""
    torch.manual_seed(seed)
    net = resnet.build_net(8, "plain", bn=True)
    g = torch.Generator().manual_seed(100 + seed)
    X = torch.randn(64, 1, 8, 8, generator=g)
    y = torch.randint(0, 10, (64,), generator=g)
    hist = resnet.train_classifier(net, X, y, X, y, epochs=epochs, batch_size=16, seed=seed)
    return hist, [p.detach().clone() for p in net.parameters()]


def test_same_results_as_the_loop_bit_for_bit_and_in_order():
    calls = [(seed, 2) for seed in (3, 0, 2, 1)]
    serial = [tiny_run(*c) for c in calls]
    forked = parallel.starmap(tiny_run, calls, processes=2)
    assert len(forked) == len(serial)
    for (h1, w1), (h2, w2) in zip(serial, forked):
        assert h1 == h2
        assert all(torch.equal(a, b) for a, b in zip(w1, w2))
    # different seeds really gave different runs (the comparison above could not pass vacuously)
    assert serial[0][0]["train_loss"] != serial[1][0]["train_loss"]


def pid_and_threads(_):
    return os.getpid(), torch.get_num_threads()


def no_arguments():
    return 7


def test_calls_without_arguments_and_no_calls():
    assert parallel.starmap(no_arguments, [(), ()], processes=2) == [7, 7]
    assert parallel.starmap(no_arguments, [], processes=2) == []


def test_runs_in_worker_processes_with_one_thread_each():
    out = parallel.starmap(pid_and_threads, [(i,) for i in range(6)], processes=2)
    pids = {pid for pid, _ in out}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    assert all(n == 1 for _, n in out)
    assert parallel.starmap(pid_and_threads, [(0,)], processes=2)[0][0] == os.getpid()
    assert {p for p, _ in parallel.starmap(pid_and_threads, [(0,), (1,)], processes=1)} == {
        os.getpid()}


def fails_on_three(x):
    if x == 3:
        raise ValueError(f"bad input {x}")
    return x * x


def test_an_error_in_a_run_is_raised_here():
    assert parallel.starmap(fails_on_three, [(1,), (2,)]) == [1, 4]
    with pytest.raises(ValueError, match="bad input 3"):
        parallel.starmap(fails_on_three, [(1,), (3,), (2,)], processes=2)


def dies(x):
    if x == 1:
        os._exit(1)
    return x


def test_a_dying_worker_is_reported_not_waited_for():
    with pytest.raises(BrokenProcessPool):
        parallel.starmap(dies, [(0,), (1,), (2,)], processes=2)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_processes_must_be_a_positive_int(bad):
    with pytest.raises(ValueError, match="positive int"):
        parallel.starmap(fails_on_three, [(1,)], processes=bad)


def test_environment_variable_sets_the_default(monkeypatch):
    monkeypatch.setenv("NNUTILS_PROCESSES", "1")
    assert {p for p, _ in parallel.starmap(pid_and_threads, [(0,), (1,)])} == {os.getpid()}
    assert parallel.available_cores() >= 1

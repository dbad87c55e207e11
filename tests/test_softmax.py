"""nnutils.softmax against the notes' numbers, PyTorch and numerical gradients.

softmax, cross_entropy and cross_entropy_grad themselves live in nnutils.functions and are
tested against PyTorch in tests/test_functions.py; here are the chapter's worked numbers.
"""
import warnings
from functools import partial

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nnutils import data, functions as fn, loop, softmax as sm
from nnutils.gradcheck import numerical_gradient, rel_error


def test_yushu_example():
    p = fn.softmax(np.array([0.3, 2.9, 4.0]))
    assert np.allclose(p, [0.01821127, 0.24519181, 0.73659691], atol=5e-9)
    assert np.allclose(sm.softmax_naive(np.array([0.3, 2.9, 4.0])), p)


def test_notes_table():
    s = np.array([3.2, 5.1, -1.7])
    p = fn.softmax(s)
    assert np.allclose(np.round(p, 2), [0.13, 0.87, 0.00])
    L = fn.cross_entropy(s[None], np.array([0]))[0]
    assert round(L, 2) == 2.04 and np.isclose(L, -np.log(p[0]))
    # the famous slide's 0.89 is the base-10 logarithm
    assert round(L / np.log(10), 2) == 0.89


def test_overflow():
    a = np.array([1010.0, 1000.0, 990.0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        naive = sm.softmax_naive(a)
    assert np.isnan(naive).all() and any(issubclass(w.category, RuntimeWarning) for w in caught)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = fn.softmax(a)
    assert np.allclose(p, [9.99954600e-01, 4.53978686e-05, 2.06106005e-09])
    assert np.allclose(p, sm.softmax_naive(a - 1000))


@pytest.mark.parametrize("shape", [(3,), (5, 4), (2, 3, 7)])
def test_softmax_naive_vs_torch_on_small_scores(shape):
    S = np.random.default_rng(sum(shape)).normal(size=shape) * 3
    assert np.allclose(sm.softmax_naive(S), F.softmax(torch.tensor(S), dim=-1).numpy())


@pytest.mark.parametrize("bad, error", [([0, 1, -1], ValueError), ([0, 1, 3], ValueError),
                                        ([0.0, 1.0, 2.0], TypeError)])
def test_linear_softmax_refuses_labels_outside_the_classes(bad, error):
    """numpy would read label -1 as the last class; PyTorch refuses these labels, and so do we."""
    X, y = np.ones((3, 2)), np.array(bad)
    with pytest.raises((IndexError, RuntimeError)):
        F.cross_entropy(torch.ones(3, 3), torch.tensor(y))
    with pytest.raises(error, match="labels"):
        sm.linear_softmax_loss_and_grads([np.ones((3, 2)), np.zeros(3)], X, y)


@pytest.mark.parametrize("reg", [0.0, 0.05])
def test_linear_softmax_loss_and_grads(reg):
    rng = np.random.default_rng(5)
    N, D, C = 10, 6, 4
    X, y = rng.normal(size=(N, D)), rng.integers(0, C, N)
    W, b = rng.normal(size=(C, D)), rng.normal(size=C)
    loss, grads = sm.linear_softmax_loss_and_grads([W, b], X, y, reg=reg)
    assert len(grads) == 2
    dW, db = grads
    Wt, bt = torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)
    ref = F.cross_entropy(torch.tensor(X) @ Wt.T + bt, torch.tensor(y)) + reg * (Wt ** 2).sum()
    ref.backward()
    assert np.isclose(loss, ref.item())
    assert np.allclose(dW, Wt.grad.numpy()) and np.allclose(db, bt.grad.numpy())
    f = lambda: sm.linear_softmax_loss_and_grads([W, b], X, y, reg=reg)[0]
    assert rel_error(dW, numerical_gradient(f, W)) < 1e-7
    assert rel_error(db, numerical_gradient(f, b)) < 1e-7


def test_linear_softmax_plugs_into_fit():
    X, y = data.blobs(n_per_class=20, seed=0)
    params = [np.zeros((3, 2)), np.zeros(3)]
    step = partial(sm.linear_softmax_loss_and_grads, reg=1e-3)
    history = loop.fit(step, params, X, y, config={"lr": 0.5}, epochs=30, batch_size=16,
                       progress=False)
    assert history["loss"][0] == pytest.approx(np.log(3)), "zero weights: ln C"
    assert history["loss"][-1] < 0.5 and step(params, X, y)[0] < 0.5

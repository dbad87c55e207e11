"""nnutils.softmax against the notes' numbers, PyTorch and numerical gradients."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nnutils import softmax as sm
from nnutils.gradcheck import numerical_gradient, rel_error


def test_yushu_example():
    p = sm.softmax(np.array([0.3, 2.9, 4.0]))
    assert np.allclose(p, [0.01821127, 0.24519181, 0.73659691], atol=5e-9)
    assert np.allclose(sm.softmax_naive(np.array([0.3, 2.9, 4.0])), p)


def test_notes_table():
    s = np.array([3.2, 5.1, -1.7])
    p = sm.softmax(s)
    assert np.allclose(np.round(p, 2), [0.13, 0.87, 0.00])
    L = sm.cross_entropy(s[None], np.array([0]))[0]
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
        p = sm.softmax(a)
    assert np.allclose(p, [9.99954600e-01, 4.53978686e-05, 2.06106005e-09])
    assert np.allclose(p, sm.softmax(a - 1000))


@pytest.mark.parametrize("shape", [(3,), (5, 4), (2, 3, 7)])
def test_softmax_vs_torch_and_properties(shape):
    rng = np.random.default_rng(sum(shape))
    S = rng.normal(size=shape) * 10
    P = sm.softmax(S)
    assert np.allclose(P, F.softmax(torch.tensor(S), dim=-1).numpy())
    assert np.allclose(P.sum(axis=-1), 1) and (P >= 0).all()
    assert (np.argmax(P, axis=-1) == np.argmax(S, axis=-1)).all()
    assert np.allclose(sm.softmax(S + 123.0), P), "shift invariance"


@pytest.mark.parametrize("N,C", [(1, 2), (6, 3), (40, 10)])
def test_cross_entropy_vs_torch(N, C):
    rng = np.random.default_rng(N * C)
    S, y = rng.normal(size=(N, C)) * 3, rng.integers(0, C, N)
    ref = F.cross_entropy(torch.tensor(S), torch.tensor(y), reduction="none").numpy()
    assert np.allclose(sm.cross_entropy(S, y), ref)


def test_cross_entropy_extreme_scores_stay_finite():
    S = np.array([[1010.0, 1000.0, 990.0], [0.0, 800.0, -800.0]])
    y = np.array([2, 2])
    L = sm.cross_entropy(S, y)
    ref = F.cross_entropy(torch.tensor(S), torch.tensor(y), reduction="none").numpy()
    assert np.isfinite(L).all() and np.allclose(L, ref) and np.allclose(L, [20.0, 1600.0])


def test_cross_entropy_grad():
    rng = np.random.default_rng(4)
    S, y = rng.normal(size=(7, 5)), rng.integers(0, 5, 7)
    dS = sm.cross_entropy_grad(S, y)
    assert rel_error(dS, numerical_gradient(lambda: sm.cross_entropy(S, y).mean(), S)) < 1e-7
    St = torch.tensor(S, requires_grad=True)
    F.cross_entropy(St, torch.tensor(y)).backward()
    assert np.allclose(dS, St.grad.numpy())
    assert np.allclose(dS.sum(axis=1), 0), "each row of softmax - onehot sums to zero"


@pytest.mark.parametrize("bad, error", [([0, 1, -1], ValueError), ([0, 1, 3], ValueError),
                                        ([0.0, 1.0, 2.0], TypeError)])
def test_cross_entropy_refuses_labels_outside_the_classes(bad, error):
    """numpy would read label -1 as the last class; PyTorch refuses these labels, and so do we."""
    S, y = np.random.default_rng(5).normal(size=(3, 3)), np.array(bad)
    with pytest.raises((IndexError, RuntimeError)):
        F.cross_entropy(torch.tensor(S), torch.tensor(y))
    for fn in (sm.cross_entropy, sm.cross_entropy_grad):
        with pytest.raises(error, match="labels"):
            fn(S, y)
    with pytest.raises(error, match="labels"):
        sm.linear_softmax_loss_and_grad(np.ones((3, 2)), np.zeros(3), np.ones((3, 2)), y, 0.0)


@pytest.mark.parametrize("reg", [0.0, 0.05])
def test_linear_softmax_loss_and_grad(reg):
    rng = np.random.default_rng(5)
    N, D, C = 10, 6, 4
    X, y = rng.normal(size=(N, D)), rng.integers(0, C, N)
    W, b = rng.normal(size=(C, D)), rng.normal(size=C)
    loss, dW, db = sm.linear_softmax_loss_and_grad(W, b, X, y, reg)
    Wt, bt = torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)
    ref = F.cross_entropy(torch.tensor(X) @ Wt.T + bt, torch.tensor(y)) + reg * (Wt ** 2).sum()
    ref.backward()
    assert np.isclose(loss, ref.item())
    assert np.allclose(dW, Wt.grad.numpy()) and np.allclose(db, bt.grad.numpy())
    f = lambda: sm.linear_softmax_loss_and_grad(W, b, X, y, reg)[0]
    assert rel_error(dW, numerical_gradient(f, W)) < 1e-7
    assert rel_error(db, numerical_gradient(f, b)) < 1e-7

"""nnutils.functions (the shared primitives) against PyTorch and numerical gradients."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nnutils import functions as fn
from nnutils.gradcheck import numerical_gradient, rel_error


# ---- activations -----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_and_log_sigmoid_vs_torch_over_the_whole_range(dtype):
    x = np.r_[np.linspace(-800, 800, 161), np.linspace(-40, 40, 801)].astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                   # no overflow warning anywhere
        s, ls = fn.sigmoid(x), fn.log_sigmoid(x)
    t = torch.tensor(x, dtype=torch.float64)
    assert s.dtype == dtype and ls.dtype == dtype
    tol = dict(rtol=1e-5, atol=1e-37) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-300)
    # relative accuracy even where sigmoid is tiny (exp(-40) ~ 4e-18 is not rounded to 0);
    # atol only for subnormals, which torch flushes to 0
    assert np.allclose(s, torch.sigmoid(t).numpy(), **tol)
    assert np.allclose(ls, F.logsigmoid(t).numpy(), **tol)
    assert fn.sigmoid(np.array(0.0)) == 0.5 and 0 <= fn.sigmoid(-710.0) < 1e-300


def test_relu():
    x = np.array([-2.0, 0.0, 3.0])
    assert np.array_equal(fn.relu(x), torch.relu(torch.tensor(x)).numpy())


# ---- labels ----------------------------------------------------------------------------------

@pytest.mark.parametrize("bad, error", [([0, 1, -1], ValueError), ([0, 1, 3], ValueError),
                                        ([0.0, 1.0, 2.0], TypeError), ([True, False], TypeError)])
def test_labels_outside_the_classes_are_refused_like_torch(bad, error):
    """numpy would read label -1 as the last class; PyTorch refuses these labels, and so do we."""
    S, y = np.random.default_rng(5).normal(size=(len(bad), 3)), np.array(bad)
    with pytest.raises((IndexError, RuntimeError)):
        F.cross_entropy(torch.tensor(S), torch.tensor(y))
    for f in (fn.cross_entropy, fn.cross_entropy_grad, lambda S, y: fn.one_hot(y, 3)):
        with pytest.raises(error, match="labels"):
            f(S, y)


def test_one_hot():
    assert np.array_equal(fn.one_hot([2, 0, 1]), np.eye(3)[[2, 0, 1]])
    assert fn.one_hot([1], n_classes=4).tolist() == [[0, 1, 0, 0]]
    assert np.array_equal(fn.one_hot(np.array([3, 1]), 5), F.one_hot(torch.tensor([3, 1]), 5).numpy())
    assert fn.one_hot(np.array([], dtype=int), 3).shape == (0, 3)
    with pytest.raises(ValueError, match="labels must be >= 0"):
        fn.one_hot([0, -1])


# ---- softmax and cross-entropy ----------------------------------------------------------------

@pytest.mark.parametrize("shape", [(3,), (5, 4), (2, 3, 7)])
def test_softmax_vs_torch_and_properties(shape):
    rng = np.random.default_rng(sum(shape))
    S = rng.normal(size=shape) * 10
    P = fn.softmax(S)
    assert np.allclose(P, F.softmax(torch.tensor(S), dim=-1).numpy())
    assert np.allclose(P.sum(axis=-1), 1) and (P >= 0).all()
    assert (np.argmax(P, axis=-1) == np.argmax(S, axis=-1)).all()
    assert np.allclose(fn.softmax(S + 123.0), P), "shift invariance"


def test_softmax_does_not_overflow():
    a = np.array([1010.0, 1000.0, 990.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = fn.softmax(a)
    assert np.allclose(p, [9.99954600e-01, 4.53978686e-05, 2.06106005e-09])


@pytest.mark.parametrize("N,C", [(1, 2), (6, 3), (40, 10)])
def test_cross_entropy_vs_torch(N, C):
    rng = np.random.default_rng(N * C)
    S, y = rng.normal(size=(N, C)) * 3, rng.integers(0, C, N)
    ref = F.cross_entropy(torch.tensor(S), torch.tensor(y), reduction="none").numpy()
    assert np.allclose(fn.cross_entropy(S, y), ref)


def test_cross_entropy_extreme_scores_stay_finite():
    S = np.array([[1010.0, 1000.0, 990.0], [0.0, 800.0, -800.0]])
    y = np.array([2, 2])
    L = fn.cross_entropy(S, y)
    ref = F.cross_entropy(torch.tensor(S), torch.tensor(y), reduction="none").numpy()
    assert np.isfinite(L).all() and np.allclose(L, ref) and np.allclose(L, [20.0, 1600.0])


def test_cross_entropy_grad_vs_numerical_and_autograd():
    rng = np.random.default_rng(4)
    S, y = rng.normal(size=(7, 5)), rng.integers(0, 5, 7)
    dS = fn.cross_entropy_grad(S, y)
    assert rel_error(dS, numerical_gradient(lambda: fn.cross_entropy(S, y).mean(), S)) < 1e-7
    St = torch.tensor(S, requires_grad=True)
    F.cross_entropy(St, torch.tensor(y)).backward()
    assert np.allclose(dS, St.grad.numpy())
    assert np.allclose(dS.sum(axis=1), 0), "each row of softmax - onehot sums to zero"


# ---- mean squared error ------------------------------------------------------------------------

def test_mse_and_grad_vs_torch():
    rng = np.random.default_rng(3)
    p, t = rng.normal(size=(9, 2)), rng.normal(size=(9, 2))
    pt = torch.tensor(p, requires_grad=True)
    ref = F.mse_loss(pt, torch.tensor(t))
    ref.backward()
    assert np.isclose(fn.mse(p, t), ref.item())
    assert np.allclose(fn.mse_grad(p, t), pt.grad.numpy())
    assert fn.mse([1.0, 2.0], [1.0, 4.0]) == 2.0


def test_mse_refuses_shapes_that_would_broadcast():
    with pytest.raises(ValueError, match="one shape"):
        fn.mse(np.zeros((4, 1)), np.zeros(4))          # (4,1) - (4,) would average a 4x4 grid


# ---- parameter counts --------------------------------------------------------------------------

def n_params(module):
    return sum(p.numel() for p in module.parameters())


def test_dense_params_vs_torch():
    net = nn.Sequential(nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 10))
    assert fn.dense_params([784, 16, 16, 10]) == n_params(net) == 13002
    assert fn.dense_params([784, 16, 10]) == 12730
    assert fn.dense_params([3, 10, 10, 10, 1]) == 271
    assert fn.dense_params([5]) == 0


@pytest.mark.parametrize("c_in,c_out,k,groups,bias", [(3, 16, 32, 1, False), (3, 16, 5, 1, True),
                                                      (128, 128, 3, 32, False), (64, 256, 1, 1, False)])
def test_conv_params_vs_torch(c_in, c_out, k, groups, bias):
    conv = nn.Conv2d(c_in, c_out, k, groups=groups, bias=bias)
    assert fn.conv_params(c_in, c_out, k, groups, bias) == n_params(conv)


def test_conv_params_refuses_groups_that_do_not_divide():
    with pytest.raises(ValueError, match="groups"):
        fn.conv_params(6, 4, 3, groups=4)

"""nnutils.losses against the notes' numbers, PyTorch and numerical gradients."""
from functools import partial

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nnutils import data, loop, losses
from nnutils.gradcheck import numerical_gradient, rel_error

# The notes' 3-image example: one ROW per image, scores for (cat, car, frog); labels cat, car, frog.
NOTES_S = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
NOTES_Y = np.array([0, 1, 2])


def test_notes_three_images():
    L = losses.svm_loss(NOTES_S, NOTES_Y)
    assert np.allclose(L, [2.9, 0.0, 12.9])
    assert np.isclose(L.mean(), 15.8 / 3) and round(L.mean(), 2) == 5.27


def test_notes_margin_case():
    # cat 3.2 vs car 3.15: without a margin the near-miss costs nothing, with margin 1 it does.
    s = np.array([[3.2, 3.15, -1.7]])
    assert losses.svm_loss(s, np.array([0]), margin=0.0)[0] == 0.0
    assert np.isclose(losses.svm_loss(s, np.array([0]), margin=1.0)[0], 0.95)


def test_loop_and_vectorised_agree():
    rng = np.random.default_rng(0)
    S, y = rng.normal(size=(20, 5)) * 2, rng.integers(0, 5, 20)
    for margin in [0.0, 1.0, 2.5]:
        loop = [losses.svm_loss_one(S[i], y[i], margin) for i in range(len(S))]
        assert np.allclose(loop, losses.svm_loss(S, y, margin))
    assert np.allclose([losses.svm_loss_one(s, c) for s, c in zip(NOTES_S, NOTES_Y)], [2.9, 0, 12.9])


@pytest.mark.parametrize("N,C,margin", [(1, 2, 1.0), (7, 3, 1.0), (50, 10, 1.0), (13, 4, 0.3)])
def test_svm_loss_vs_torch_multi_margin(N, C, margin):
    # torch divides each example's sum by the number of classes C; we do not.
    rng = np.random.default_rng(N + C)
    S, y = rng.normal(size=(N, C)), rng.integers(0, C, N)
    ref = F.multi_margin_loss(torch.tensor(S), torch.tensor(y), margin=margin, reduction="none").numpy()
    assert np.allclose(losses.svm_loss(S, y, margin), C * ref)


def test_svm_loss_is_not_over_counting_correct_class():
    # Correct class must not contribute its own max(0, margin) = 1.
    assert np.allclose(losses.svm_loss(np.array([[10.0, 0.0, 0.0]]), np.array([0])), 0.0)


@pytest.mark.parametrize("margin", [1.0, 0.5])
def test_svm_grad_vs_numerical_and_autograd(margin):
    rng = np.random.default_rng(1)
    S, y = rng.normal(size=(8, 5)), rng.integers(0, 5, 8)
    dS = losses.svm_loss_grad(S, y, margin)
    num = numerical_gradient(lambda: losses.svm_loss(S, y, margin).mean(), S)
    assert rel_error(dS, num) < 1e-7
    St = torch.tensor(S, requires_grad=True)
    (F.multi_margin_loss(St, torch.tensor(y), margin=margin) * S.shape[1]).backward()
    assert np.allclose(dS, St.grad.numpy())


def test_l2_and_full_loss():
    W = np.array([[1.0, -2.0], [0.5, 0.0]])
    assert losses.l2_penalty(W) == 5.25
    assert np.isclose(losses.full_loss(np.array([2.9, 0.0, 12.9]), W, reg=0.1), 15.8 / 3 + 0.525)
    assert losses.full_loss(np.array([1.0, 3.0]), W, reg=0.0) == 2.0


@pytest.mark.parametrize("reg", [0.0, 0.1])
def test_linear_svm_loss_and_grads(reg):
    rng = np.random.default_rng(2)
    N, D, C = 12, 6, 4
    X, y = rng.normal(size=(N, D)), rng.integers(0, C, N)
    W, b = rng.normal(size=(C, D)) * 0.5, rng.normal(size=C)
    loss, grads = losses.linear_svm_loss_and_grads([W, b], X, y, reg=reg)
    assert len(grads) == 2
    dW, db = grads
    Wt, bt = torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)
    St = torch.tensor(X) @ Wt.T + bt
    ref = C * F.multi_margin_loss(St, torch.tensor(y)) + reg * (Wt ** 2).sum()
    ref.backward()
    assert np.isclose(loss, ref.item())
    assert np.allclose(dW, Wt.grad.numpy()) and np.allclose(db, bt.grad.numpy())
    f = lambda: losses.linear_svm_loss_and_grads([W, b], X, y, reg=reg)[0]
    assert rel_error(dW, numerical_gradient(f, W)) < 1e-7
    assert rel_error(db, numerical_gradient(f, b)) < 1e-7


def test_linear_svm_plugs_into_fit():
    X, y = data.blobs(n_per_class=20, seed=0)
    params = [np.zeros((3, 2)), np.zeros(3)]
    step = partial(losses.linear_svm_loss_and_grads, reg=1e-3)
    history = loop.fit(step, params, X, y, config={"lr": 0.1}, epochs=30, batch_size=16,
                       progress=False)
    assert history["loss"][0] == pytest.approx(2.0), "zero weights: (C - 1) * margin"
    assert history["loss"][-1] < 0.5 and step(params, X, y)[0] < 0.5


def test_polynomial_features():
    X = np.array([[2.0, 3.0], [-1.0, 0.5]])
    P = losses.polynomial_features(X, 2)
    assert np.allclose(P, [[2, 3, 4, 6, 9], [-1, 0.5, 1, -0.5, 0.25]])
    # number of monomials of degree 1..d in D variables is C(D+d, d) - 1
    assert losses.polynomial_features(np.ones((4, 3)), 4).shape == (4, 34)
    assert losses.polynomial_features(np.ones((1, 2)), 10).shape == (1, 65)


@pytest.mark.parametrize("bad, error", [([0, 1, -1], ValueError), ([0, 1, 3], ValueError),
                                        ([0.0, 1.0, 2.0], TypeError)])
def test_svm_loss_refuses_labels_outside_the_classes(bad, error):
    """numpy would read label -1 as the last class; PyTorch refuses these labels, and so do we."""
    y = np.array(bad)
    with pytest.raises(RuntimeError):
        F.multi_margin_loss(torch.tensor(NOTES_S), torch.tensor(y))
    for fn in (losses.svm_loss, losses.svm_loss_grad):
        with pytest.raises(error, match="labels"):
            fn(NOTES_S, y)
    with pytest.raises(error, match="labels"):
        losses.linear_svm_loss_and_grads([np.ones((3, 2)), np.zeros(3)], np.ones((3, 2)), y)
    with pytest.raises(error, match="labels"):
        losses.svm_loss_one(NOTES_S[0], y[2])


def _two_cloud_features(seed=0, n_per_class=15, degree=4):
    X, y = data.blobs(n_per_class=n_per_class, centers=((-1, -1), (1, 1)), std=1.2,
                      seed=seed)
    F_ = losses.polynomial_features(X, degree)
    return (F_ - F_.mean(axis=0)) / F_.std(axis=0), y


@pytest.mark.parametrize("reg", [1e-3, 1e-1, 3.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_fit_svm_two_class_minimises_the_chapter_loss(reg, seed):
    """libsvm's solution, mapped back, is the minimum of the chapter's own loss: the duality
    gap is tiny and no perturbation of W, b does better."""
    X, y = _two_cloud_features(seed)
    W, b, gap = losses.fit_svm_two_class(X, y, reg)
    assert W.shape == (2, X.shape[1]) and b.shape == (2,)
    assert np.allclose(W[0], -W[1]) and b[0] == -b[1] and 0 <= gap < 1e-6
    f = lambda W_, b_: losses.linear_svm_loss_and_grads([W_, b_], X, y, reg=reg)[0]  # noqa: E731
    best = f(W, b)
    rng = np.random.default_rng(seed)
    for scale in [1e-3, 1e-1]:
        for _ in range(20):
            dW, db = scale * rng.normal(size=W.shape), scale * rng.normal(size=b.shape)
            assert f(W + dW, b + db) >= best - 1e-9


def test_fit_svm_two_class_is_the_minimum_of_the_chapter_loss():
    X, y = _two_cloud_features(2, n_per_class=20, degree=3)
    reg = 0.05
    W, b, gap = losses.fit_svm_two_class(X, y, reg)
    f = lambda W_, b_: losses.linear_svm_loss_and_grads([W_, b_], X, y, reg=reg)[0]
    best = f(W, b)
    rng = np.random.default_rng(0)
    for scale in [1e-4, 1e-2, 1.0]:         # no nearby or distant W, b does better
        for _ in range(50):
            dW, db = scale * rng.normal(size=W.shape), scale * rng.normal(size=b.shape)
            assert f(W + dW, b + db) >= best - 1e-12
    params = [np.zeros_like(W), np.zeros_like(b)]   # nor does long gradient descent
    loop.fit(partial(losses.linear_svm_loss_and_grads, reg=reg), params, X, y,
             config={"lr": 0.05}, epochs=3000, batch_size=len(X), progress=False)
    assert best <= f(*params) < best + 1e-2


def test_fit_svm_two_class_refuses_bad_input():
    X, y = _two_cloud_features()
    with pytest.raises(ValueError, match="reg"):
        losses.fit_svm_two_class(X, y, 0.0)
    with pytest.raises(ValueError, match="labels"):
        losses.fit_svm_two_class(X, np.where(y == 0, -1, 1), 0.1)   # -1/+1 labels
    with pytest.raises(ValueError, match="both classes"):
        losses.fit_svm_two_class(X, np.zeros(len(X), dtype=int), 0.1)

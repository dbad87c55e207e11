"""nnutils.loop: the one training loop and plain SGD, against closed forms and torch.optim."""
import numpy as np
import pytest
import torch

from nnutils import loop
from nnutils.gradcheck import rel_error


def _regression(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(100, 3))
    w_true = np.array([1.0, -2.0, 0.5])
    return X, X @ w_true + 0.3


def _mse_and_grads(params, X, y):
    w, b = params
    r = X @ w + b - y
    return float(np.mean(r ** 2)), [2 * X.T @ r / len(y), 2 * r.mean()]


def test_fit_fits_linear_regression_and_counts_iterations():
    X, y = _regression()
    w, b = np.zeros(3), np.zeros(())
    hist = loop.fit(_mse_and_grads, [w, b], X, y, config={"lr": 0.05}, epochs=100, batch_size=32,
                    progress=False)
    assert len(hist["loss"]) == 100 * 4, "ceil(100/32) = 4 iterations per epoch"
    assert len(hist["epoch"]) == 100 and hist["epoch"][0] == {}
    assert hist["loss"][-1] < 1e-6 < hist["loss"][0]
    assert np.allclose(w, [1.0, -2.0, 0.5], atol=1e-3) and np.isclose(b, 0.3, atol=1e-3)


def test_fit_full_batch_is_gradient_descent():
    """batch_size = N: every iteration is one step of w <- w - lr * grad on all the data."""
    X, y = _regression(2)
    w, b = np.zeros(3), np.zeros(())
    loop.fit(_mse_and_grads, [w, b], X, y, config={"lr": 0.1}, epochs=3, batch_size=len(X),
             progress=False)
    w2, b2 = np.zeros(3), 0.0
    for _ in range(3):
        _, (dw, db) = _mse_and_grads([w2, b2], X, y)     # the order of the rows does not matter
        w2, b2 = w2 - 0.1 * dw, b2 - 0.1 * db
    assert np.allclose(w, w2) and np.isclose(b, b2)


def test_fit_seeded_and_in_place():
    X, y = _regression(1)
    runs = []
    for seed in [0, 0, 1]:
        w, b = np.zeros(3), np.zeros(())
        hist = loop.fit(_mse_and_grads, [w, b], X, y, config={"lr": 0.01}, epochs=2, seed=seed,
                        progress=False)
        runs.append((hist["loss"], w))
    assert runs[0][0] == runs[1][0] and runs[0][0] != runs[2][0]
    assert not np.allclose(runs[0][1], 0), "parameters updated in place"


def test_fit_evaluates_after_every_epoch():
    X, y = _regression(3)
    w, b = np.zeros(3), np.zeros(())
    seen = []
    hist = loop.fit(_mse_and_grads, [w, b], X, y, config={"lr": 0.05}, epochs=4,
                    evaluate=lambda P: seen.append(P[0].copy()) or {"w0": float(P[0][0])},
                    progress=False)
    assert [e["w0"] for e in hist["epoch"]] == [s[0] for s in seen] and len(seen) == 4


def test_sgd_update_vs_torch_optim():
    rng = np.random.default_rng(10)
    w = rng.normal(size=(3, 4))
    tw = torch.tensor(w.copy(), requires_grad=True)
    opt = torch.optim.SGD([tw], lr=0.1)
    for step in range(25):
        w = loop.sgd_update(w, np.cos(3 * w + step) + 0.3, {"lr": 0.1})
        tw.grad = torch.cos(3 * tw.detach() + step) + 0.3
        opt.step()
    assert rel_error(w, tw.detach().numpy()) < 1e-12


def test_unknown_config_keys_are_refused_also_through_fit():
    w = np.ones(3)
    with pytest.raises(ValueError, match="unknown config key"):
        loop.sgd_update(w, w, {"learning_rate": 0.5})
    with pytest.raises(ValueError, match="unknown config key"):
        loop.fit(lambda P, Xb, yb: (0.0, [np.ones(3)]), [w], np.ones((4, 1)), np.ones(4),
                 config={"learning_rate": 0.5}, epochs=1, progress=False)
    assert np.array_equal(w, np.ones(3)), "nothing was updated"


def test_fit_refuses_bad_data_and_callbacks():
    w = np.ones(3)
    one = lambda P, Xb, yb: (0.0, [np.ones(3)])           # noqa: E731
    with pytest.raises(ValueError, match="same number of examples"):
        loop.fit(one, [w], np.ones((4, 1)), np.ones(5), progress=False)
    with pytest.raises(ValueError, match="at least one example"):
        loop.fit(one, [w], np.ones((0, 1)), np.ones(0), progress=False)
    with pytest.raises(ValueError, match="2 gradients for 1 parameters"):
        loop.fit(lambda P, Xb, yb: (0.0, [w, w]), [w], np.ones((4, 1)), np.ones(4), progress=False)

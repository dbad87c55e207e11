"""Shared modules: nnutils.data, nnutils.gradcheck, nnutils.train, nnutils.plot."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from nnutils import data, gradcheck, plot, train  # noqa: E402


# ---- data -----------------------------------------------------------------------------------

def test_split_622_disjoint_and_deterministic():
    X = np.arange(100).reshape(50, 2).astype(float)
    y = np.arange(50)
    (Xa, ya), (Xb, yb), (Xc, yc) = data.train_val_test_split(X, y, seed=3)
    assert (len(ya), len(yb), len(yc)) == (30, 10, 10)
    assert sorted(np.r_[ya, yb, yc]) == list(range(50)), "a partition of the data"
    assert np.array_equal(Xa[:, 0], 2 * ya), "rows stay paired with their labels"
    again = data.train_val_test_split(X, y, seed=3)
    other = data.train_val_test_split(X, y, seed=4)
    assert np.array_equal(again[0][1], ya) and not np.array_equal(other[0][1], ya)
    assert not np.array_equal(ya, np.arange(30)), "shuffled"
    with pytest.raises(ValueError):
        data.train_val_test_split(X, y, fractions=(0.6, 0.2, 0.3))


def test_split_zero_fraction_gives_empty_part():
    """A fraction of 0 means no examples: the rounding leftover must not land in that part."""
    X, y = np.arange(10).reshape(5, 2), np.arange(5)
    (_, ya), (_, yb), (_, yc) = data.train_val_test_split(X, y, fractions=(0.5, 0.5, 0.0))
    assert (len(ya), len(yb), len(yc)) == (2, 3, 0), "round(2.5) = 2 twice used to leave 1 for test"
    assert sorted(np.r_[ya, yb]) == list(range(5)), "still a partition of the data"
    sizes = [len(p[1]) for p in data.train_val_test_split(X, y, fractions=(0.5, 0.0, 0.5))]
    assert sizes[1] == 0 and sum(sizes) == 5
    sizes = [len(p[1]) for p in data.train_val_test_split(X, y, fractions=(1.0, 0.0, 0.0))]
    assert sizes == [5, 0, 0]


def test_load_digits():
    (Xt, yt), (Xv, yv), (Xs, ys) = data.load_digits()
    assert (len(Xt), len(Xv), len(Xs)) == (1078, 359, 360)
    assert Xt.shape[1] == 64 and Xt.dtype == np.float64
    assert Xt.min() == 0.0 and Xt.max() == 1.0
    assert set(np.unique(np.r_[yt, yv, ys])) == set(range(10))
    raw = data.load_digits(scale=False)[0][0]
    assert raw.max() == 16.0 and np.allclose(raw / 16, Xt)


def test_toy_sets():
    X, y = data.blobs(n_per_class=20)
    assert X.shape == (60, 2) and np.array_equal(np.bincount(y), [20, 20, 20])
    for k, c in enumerate([(-2, -2), (2, 2), (-2, 2)]):
        assert np.linalg.norm(X[y == k].mean(0) - c) < 0.5
    X, y = data.spiral(n_per_class=30, n_classes=4)
    assert X.shape == (120, 2) and np.array_equal(np.bincount(y), [30] * 4)
    assert np.abs(X).max() <= 1.0 + 1e-12
    X, y = data.xor(n=400, noise=0.05)
    corner = np.round(X).astype(int)
    assert np.array_equal(y, corner[:, 0] ^ corner[:, 1])
    assert np.array_equal(data.xor(seed=5)[0], data.xor(seed=5)[0])


def test_one_hot():
    assert np.array_equal(data.one_hot([2, 0, 1]), np.eye(3)[[2, 0, 1]])
    assert data.one_hot([1], n_classes=4).tolist() == [[0, 1, 0, 0]]


# ---- gradcheck -------------------------------------------------------------------------------

def test_numerical_gradient():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4))
    before = x.copy()
    g = gradcheck.numerical_gradient(lambda: float(np.sum(x ** 3) + x[0, 0] * x[1, 1]), x)
    want = 3 * before ** 2
    want[0, 0] += before[1, 1]
    want[1, 1] += before[0, 0]
    assert np.allclose(g, want, atol=1e-7)
    assert np.array_equal(x, before), "x restored"


def test_numerical_gradient_refuses_integer_arrays():
    """x[i] = old + h on an integer array truncates to x[i] = old: the difference was garbage."""
    x = np.array([1, 2, 3])
    with pytest.raises(TypeError, match="float"):
        gradcheck.numerical_gradient(lambda: float(np.sum(x.astype(float) ** 2)), x)
    assert np.array_equal(x, [1, 2, 3]), "x left as it was"
    xf = x.astype(float)                                     # the fix the message suggests
    assert np.allclose(gradcheck.numerical_gradient(lambda: float(np.sum(xf ** 2)), xf), 2 * xf)


def test_rel_error():
    assert gradcheck.rel_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert np.isclose(gradcheck.rel_error([1.0], [3.0]), 0.5)
    assert gradcheck.rel_error([0.0], [0.0]) == 0.0


def test_rel_error_floor_treats_noise_on_zero_as_small():
    # a zero analytic gradient against 1e-11 of centred-difference noise (eps_machine * |f| / h)
    assert gradcheck.rel_error(np.zeros(3), np.full(3, 1e-11)) == pytest.approx(1e-3)
    # still relative above the floor, so a wrong small gradient still reads as wrong
    assert gradcheck.rel_error([1e-6], [0.0]) == 1.0
    assert np.isclose(gradcheck.rel_error([1e-5], [3e-5]), 0.5)


# ---- train.sgd ---------------------------------------------------------------------------------

def _regression(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(100, 3))
    w_true = np.array([1.0, -2.0, 0.5])
    return X, X @ w_true + 0.3


def _mse_and_grad(w, b, X, y):
    r = X @ w + b - y
    return float(np.mean(r ** 2)), 2 * X.T @ r / len(y), 2 * r.mean()


def test_sgd_fits_linear_regression():
    X, y = _regression()
    w, b = np.zeros(3), np.zeros(())
    hist = train.sgd(_mse_and_grad, [w, b], X, y, lr=0.05, epochs=100, batch_size=32, progress=False)
    assert len(hist) == 100 * 4, "ceil(100/32) = 4 iterations per epoch"
    assert hist[-1] < 1e-6 < hist[0]
    assert np.allclose(w, [1.0, -2.0, 0.5], atol=1e-3) and np.isclose(b, 0.3, atol=1e-3)


def test_sgd_seeded_and_in_place():
    X, y = _regression(1)
    runs = []
    for seed in [0, 0, 1]:
        w, b = np.zeros(3), np.zeros(())
        runs.append((train.sgd(_mse_and_grad, [w, b], X, y, lr=0.01, epochs=2, seed=seed, progress=False), w))
    assert runs[0][0] == runs[1][0] and runs[0][0] != runs[2][0]
    assert not np.allclose(runs[0][1], 0), "parameters updated in place"


# ---- plot --------------------------------------------------------------------------------------

def test_plot_helpers_draw():
    X, y = data.blobs(n_per_class=10)
    fig, ax = plt.subplots()
    plot.decision_boundary(ax, lambda P: (P[:, 0] > 0).astype(int), X, y, resolution=20)
    assert len(ax.collections) >= 2
    plt.close(fig)
    fig = plot.image_grid(np.random.default_rng(0).normal(size=(3, 4, 4)), titles="abc", ncols=2, symmetric=True)
    assert len(fig.axes) == 4 and [a.get_title() for a in fig.axes[:3]] == ["a", "b", "c"]
    plt.close(fig)

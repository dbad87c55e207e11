"""nnutils.data: splits, the digits, the toy sets."""
import numpy as np
import pytest

from nnutils import data


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

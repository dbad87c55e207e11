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


# ---- translated digits -----------------------------------------------------------

def placements(images, digits):
    """Where each image is its digit on a blank canvas, found by brute force over every
    offset (independent of how translated_digits places them).

    images: (N, 1, S, S); digits: (N, 64). Returns a boolean (N, S-7, S-7) array, True
    at the offsets (row, col) of the top-left corner where the image is exactly the
    digit there and 0 everywhere else.
    """
    from numpy.lib.stride_tricks import sliding_window_view

    X = images[:, 0]
    windows = sliding_window_view(X, (8, 8), axis=(1, 2))       # (N, S-7, S-7, 8, 8)
    inside = (windows == digits.reshape(-1, 1, 1, 8, 8)).all(axis=(3, 4))
    # the pixels are >= 0, so "0 outside the window" is "the window holds the whole
    # sum" (exact in float64: every pixel is a multiple of 1/16)
    blank_outside = windows.sum(axis=(3, 4)) == X.sum(axis=(1, 2))[:, None, None]
    return inside & blank_outside


@pytest.mark.parametrize("canvas", [16, 20])
def test_translated_digits_are_the_digits_moved(canvas):
    parts = data.translated_digits(canvas=canvas, seed=2)
    plain = data.load_digits(seed=2)
    assert [len(y) for _, y in parts] == [1078, 359, 360]
    n_offsets = (canvas - 7) ** 2
    counts = np.zeros(n_offsets, int)
    for (X, y), (X8, y8) in zip(parts, plain):
        assert X.shape == (len(y), 1, canvas, canvas) and X.dtype == np.float64
        assert y.shape == (len(y),) and y.dtype == np.int64
        assert np.array_equal(y, y8), "the labels and the split are load_digits's"
        fits = placements(X, X8).reshape(len(X), n_offsets)
        # a digit that is not blank equals no translate of itself: one offset fits
        assert np.array_equal(fits.sum(axis=1), np.ones(len(X))), "its own digit, moved"
        where = fits.argmax(axis=1)
        rows, cols = np.divmod(where, canvas - 7)
        for r in (rows, cols):                      # every split gets the same spread
            assert r.min() == 0 and r.max() == canvas - 8
            assert abs(r.mean() - (canvas - 8) / 2) < 0.5
        counts += np.bincount(where, minlength=n_offsets)
    assert (counts > 0).mean() > 0.95, "the offsets vary over the whole canvas"
    assert counts.max() < 3 * 1797 / n_offsets, "no offset is favoured"


def test_translated_digits_seeded_and_scaled():
    a, b = data.translated_digits(seed=5), data.translated_digits(seed=5)
    for (Xa, ya), (Xb, yb) in zip(a, b):
        assert np.array_equal(Xa, Xb) and np.array_equal(ya, yb), "reproducible"
    c = data.translated_digits(seed=6)
    assert not np.array_equal(a[0][1], c[0][1]), "another seed, another split"
    (X, _), (Xv, _), (Xs, _) = data.translated_digits(seed=5, fractions=(1, 0, 0))
    assert X.shape == (1797, 1, 16, 16) and len(Xv) == len(Xs) == 0
    (X, _), _, _ = data.translated_digits(seed=0)
    assert X.min() == 0.0 and X.max() == 1.0
    raw = data.translated_digits(seed=0, scale=False)[0][0]
    assert raw.max() == 16.0 and np.array_equal(raw / 16, X)


def test_translated_digits_canvas_8_is_load_digits():
    plain = data.load_digits(seed=3)
    for (X, y), (X8, y8) in zip(data.translated_digits(canvas=8, seed=3), plain):
        assert X.shape == (len(X), 1, 8, 8)
        assert np.array_equal(X.reshape(len(X), 64), X8) and np.array_equal(y, y8)


@pytest.mark.parametrize("canvas, error", [
    (7, ValueError), (0, ValueError), (-16, ValueError),
    (16.0, TypeError), ("16", TypeError), (True, TypeError)])
def test_translated_digits_refuses_bad_canvas(canvas, error):
    with pytest.raises(error, match="canvas"):
        data.translated_digits(canvas=canvas)


# ---- two spirals ------------------------------------------------------------------

def test_two_spirals_lie_on_their_archimedean_spirals():
    """Checked in polar form (arctan2), not with the generator's own formula."""
    turns = 2.5
    X, y = data.two_spirals(n_per_class=500, turns=turns, noise=0.0, seed=1)
    assert X.shape == (1000, 2) and y.shape == (1000,)
    assert np.array_equal(y, np.repeat([0, 1], 500))
    r = np.hypot(X[:, 0], X[:, 1])
    assert r.max() <= 1.0 + 1e-12
    phi = np.arctan2(X[:, 1], X[:, 0])
    # on spiral k the angle is 2 pi turns r (+ pi for class 1), up to whole turns
    expected = 2 * np.pi * turns * r + np.pi * y
    wrapped = np.angle(np.exp(1j * (phi - expected)))
    assert np.abs(wrapped).max() < 1e-9
    assert np.allclose(X[500:], -X[:500]), "class 1 is class 0 turned by 180 degrees"
    assert abs(np.mean(r[:500] ** 2) - 0.5) < 0.05, "uniform over the area: r^2 uniform"


def test_two_spirals_noise_seed_and_bad_input():
    clean, _ = data.two_spirals(n_per_class=2000, noise=0.0, seed=3)
    noisy, _ = data.two_spirals(n_per_class=2000, noise=0.1, seed=3)
    assert abs((noisy - clean).std() - 0.1) < 0.005
    assert np.array_equal(data.two_spirals(seed=4)[0], data.two_spirals(seed=4)[0])
    assert not np.array_equal(data.two_spirals(seed=4)[0], data.two_spirals(seed=5)[0])
    for kw, error in [({"n_per_class": 0}, ValueError), ({"n_per_class": 2.0}, TypeError),
                      ({"turns": 0}, ValueError), ({"noise": -1}, ValueError)]:
        with pytest.raises(error, match=next(iter(kw))):
            data.two_spirals(**kw)

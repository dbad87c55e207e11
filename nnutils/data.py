"""Data sets that need no network (shared).

Real data: scikit-learn's bundled handwritten digits (1797 images of 8x8 pixels, 10
classes; UCI ML repository, shipped inside scikit-learn), centred (load_digits) or each
moved to a random place on a larger blank canvas (translated_digits). Toy data:
generated from a seed.
"""
import numpy as np


def train_val_test_split(X, y, fractions=(0.6, 0.2, 0.2), seed=0):
    """Shuffle and split into train/validation/test (default 6:2:2).

    X: (N, ...) array; y: (N,) array.
    Returns ((X_train, y_train), (X_val, y_val), (X_test, y_test)).
    """
    if not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions must sum to 1, got {fractions}")
    n = len(X)
    order = np.random.default_rng(seed).permutation(n)
    n_train = int(round(fractions[0] * n))
    # with no test set the rounding leftover goes to validation, so a fraction of 0
    # gives 0 examples
    n_val = n - n_train if fractions[2] == 0 else int(round(fractions[1] * n))
    parts = np.split(order, [n_train, n_train + n_val])
    return tuple((X[p], y[p]) for p in parts)


def load_digits(seed=0, fractions=(0.6, 0.2, 0.2), scale=True):
    """scikit-learn's 8x8 digits as flat vectors, split 6:2:2.

    Returns ((X_train, y_train), (X_val, y_val), (X_test, y_test)) with X of shape
    (N, 64), pixel values scaled from 0..16 to 0..1 when ``scale`` is true, and y of
    shape (N,) in 0..9.
    """
    from sklearn.datasets import load_digits as _load

    d = _load()
    X = d.data.astype(np.float64)
    if scale:
        X = X / 16.0
    return train_val_test_split(X, d.target.astype(np.int64), fractions, seed)


def blobs(n_per_class=50, centers=((-2, -2), (2, 2), (-2, 2)), std=0.8, seed=0):
    """Gaussian blobs in 2-D: X (n_per_class*K, 2), y (n_per_class*K,) in 0..K-1."""
    rng = np.random.default_rng(seed)
    centers = np.asarray(centers, float)
    X = np.concatenate([c + std * rng.standard_normal((n_per_class, 2))
                        for c in centers])
    y = np.repeat(np.arange(len(centers)), n_per_class)
    return X, y


def spiral(n_per_class=100, n_classes=3, noise=0.2, seed=0):
    """CS231n's spiral: K interleaved arms in 2-D, not linearly separable.

    Returns X (n_per_class*K, 2) and y (n_per_class*K,).
    """
    rng = np.random.default_rng(seed)
    X, y = [], []
    for k in range(n_classes):
        r = np.linspace(0.0, 1.0, n_per_class)
        t = (np.linspace(k * 4, (k + 1) * 4, n_per_class)
             + noise * rng.standard_normal(n_per_class))
        X.append(np.c_[r * np.sin(t), r * np.cos(t)])
        y.append(np.full(n_per_class, k))
    return np.concatenate(X), np.concatenate(y)


def xor(n=200, noise=0.1, seed=0):
    """Noisy XOR in 2-D: X (n, 2) around the unit square's corners, y (n,) in {0, 1}."""
    rng = np.random.default_rng(seed)
    corners = rng.integers(0, 2, size=(n, 2))
    X = corners + noise * rng.standard_normal((n, 2))
    y = corners[:, 0] ^ corners[:, 1]
    return X, y


def two_spirals(n_per_class=200, turns=3.0, noise=0.02, seed=0):
    """Lang & Witbrock's two interleaved spirals in 2-D, a task where depth pays.

    Class 0 is the Archimedean spiral r = t / (2 pi turns), (r cos t, r sin t) for
    angles t in [0, 2 pi turns] (drawn so that the points are uniform along the area,
    t = 2 pi turns sqrt(u) with u uniform); class 1 is class 0 turned by 180 degrees,
    (-x, -y).
    Gaussian noise of std ``noise`` is added to every coordinate; |r| <= 1 before noise.

    Returns X (2 * n_per_class, 2) and y (2 * n_per_class,) in {0, 1}, class 0 first.
    """
    if isinstance(n_per_class, bool) or not isinstance(n_per_class, (int, np.integer)):
        raise TypeError(f"n_per_class must be an int, got {type(n_per_class).__name__}")
    if n_per_class < 1:
        raise ValueError(f"n_per_class must be at least 1, got {n_per_class}")
    if not turns > 0:
        raise ValueError(f"turns must be positive, got {turns}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    t = 2 * np.pi * turns * np.sqrt(rng.uniform(0.0, 1.0, n_per_class))
    r = t / (2 * np.pi * turns)
    arm = np.c_[r * np.cos(t), r * np.sin(t)]
    X = np.concatenate([arm, -arm]) + noise * rng.standard_normal((2 * n_per_class, 2))
    y = np.repeat(np.array([0, 1]), n_per_class)
    return X, y


def translated_digits(canvas=16, seed=0, fractions=(0.6, 0.2, 0.2), scale=True):
    """The 8x8 digits, each pasted at a random place on a blank canvas x canvas image.

    Every one of the 1797 digits keeps its pixels unchanged; its top-left corner lands
    at a row and a column drawn uniformly from 0..canvas-8, and the rest of the canvas
    is 0. The split is load_digits's with the same ``seed`` and ``fractions``: the same
    digits in the same order with the same labels, only moved. The positions come from
    a generator seeded with ``(seed, 1)``: reproducible, and independent of the shuffle.

    canvas: int >= 8, the height and width of the images (8 leaves the digits unmoved).
    Returns ((X_train, y_train), (X_val, y_val), (X_test, y_test)) with X of shape
    (N, 1, canvas, canvas) (NCHW, one channel), pixel values 0..1 when ``scale`` is
    true (else 0..16), and y of shape (N,) in 0..9.
    """
    if isinstance(canvas, bool) or not isinstance(canvas, (int, np.integer)):
        raise TypeError(f"canvas must be an int, got {type(canvas).__name__}")
    if canvas < 8:
        raise ValueError(f"canvas must be at least 8 (digits are 8x8), got {canvas}")
    from sklearn.datasets import load_digits as _load

    d = _load()
    digits = d.data.reshape(-1, 8, 8).astype(np.float64)
    if scale:
        digits = digits / 16.0
    n = len(digits)
    rng = np.random.default_rng((seed, 1))
    rows, cols = rng.integers(0, canvas - 8 + 1, size=(2, n))
    X = np.zeros((n, 1, canvas, canvas))
    for i in range(n):
        X[i, 0, rows[i]:rows[i] + 8, cols[i]:cols[i] + 8] = digits[i]
    return train_val_test_split(X, d.target.astype(np.int64), fractions, seed)

"""The primitives every chapter shares, each defined once (shared).

Activations (sigmoid, log-sigmoid, ReLU), softmax and cross-entropy, the mean squared
error, label checks, and parameter counts. Chapter modules import them from here; no
chapter module imports another chapter's. Conventions: nnutils/README.md.
"""
import numpy as np


# --------------------------------------------------------------------------------------
# Activations, elementwise on arrays of any shape (float32 stays float32)
# --------------------------------------------------------------------------------------
def sigmoid(x):
    """Logistic function 1 / (1 + e^-x), written so that no exp overflows.

    For x < 0 it uses e^x / (1 + e^x): the same number, with an exponent <= 0.
    """
    x = np.asarray(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


def log_sigmoid(x):
    """log sigmoid(x) = -log(1 + e^-x), finite for any x (PyTorch's F.logsigmoid)."""
    x = np.asarray(x)
    return -(np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0.0))


def relu(x):
    """max(0, x) elementwise."""
    return np.maximum(0.0, x)


# --------------------------------------------------------------------------------------
# Class labels
# --------------------------------------------------------------------------------------
def check_labels(y, n_classes=None):
    """Class labels must be integers in 0..C-1: numpy would read -1 as the last class.

    y: array of labels; n_classes: C, or None to check only that labels are >= 0.
    Raises TypeError for non-integer labels and ValueError for labels out of range.
    """
    y = np.asarray(y)
    # 2.0 or True cannot name a class
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"labels must be integers, got dtype {y.dtype}")
    top = np.inf if n_classes is None else n_classes
    if y.size and (y.min() < 0 or y.max() >= top):
        if n_classes is None:
            wanted = "labels must be >= 0"
        else:
            wanted = f"labels must be in 0..{n_classes - 1}"
        raise ValueError(f"{wanted}, got values {y.min()}..{y.max()}")
    return y


def one_hot(y, n_classes=None):
    """Integer labels (N,) -> one-hot matrix (N, C); C defaults to max(y) + 1."""
    y = check_labels(y, n_classes)
    n_classes = (int(y.max()) + 1 if y.size else 0) if n_classes is None else n_classes
    out = np.zeros((len(y), n_classes))
    out[np.arange(len(y)), y] = 1.0
    return out


# --------------------------------------------------------------------------------------
# Softmax and cross-entropy over the last axis of (N, C) scores
# --------------------------------------------------------------------------------------
def softmax(S):
    """Numerically stable softmax along the last axis.

    Subtracting the row maximum changes nothing mathematically (it cancels in the ratio)
    but keeps every exponent <= 0, so exp never overflows.
    S: (..., C) scores. Returns P: (..., C), rows positive and summing to 1.
    """
    Z = S - np.max(S, axis=-1, keepdims=True)
    E = np.exp(Z)
    return E / E.sum(axis=-1, keepdims=True)


def cross_entropy(S, y):
    """Softmax cross-entropy loss per example, L_i = -ln softmax(S_i)[y_i].

    Computed as logsumexp(S_i) - S_i[y_i], which stays finite where -log(softmax) would
    hit log(0). S: (N, C); y: (N,) integers in 0..C-1. Returns L: (N,) in nats.
    """
    check_labels(y, S.shape[1])
    # shifting cancels out, as in softmax
    Z = S - np.max(S, axis=1, keepdims=True)
    return np.log(np.exp(Z).sum(axis=1)) - Z[np.arange(len(S)), y]


def cross_entropy_grad(S, y):
    """Gradient of mean(cross_entropy(S, y)) with respect to S.

    It is (softmax(S) - onehot(y)) / N.
    """
    check_labels(y, S.shape[1])
    dS = softmax(S)
    dS[np.arange(len(S)), y] -= 1.0
    return dS / len(S)


# --------------------------------------------------------------------------------------
# Mean squared error (PyTorch's nn.MSELoss)
# --------------------------------------------------------------------------------------
def mse(pred, target):
    """Mean squared error over all entries: mean((pred - target)**2).

    Any equal shapes.
    """
    pred, target = np.asarray(pred, float), np.asarray(target, float)
    # broadcasting would silently average a grid
    if pred.shape != target.shape:
        raise ValueError("pred and target must have one shape, "
                         f"got {pred.shape} and {target.shape}")
    return float(np.mean((pred - target) ** 2))


def mse_grad(pred, target):
    """Gradient of mse(pred, target) with respect to pred.

    It is 2 (pred - target) / (number of entries).
    """
    diff = np.asarray(pred, float) - np.asarray(target, float)
    return 2.0 * diff / diff.size


# --------------------------------------------------------------------------------------
# Parameter counts (the same numbers as summing p.numel() over a PyTorch module)
# --------------------------------------------------------------------------------------
def dense_params(sizes):
    """Weights plus biases of a fully connected network.

    sizes: the layer sizes [n0, n1, ..., nL].
    """
    return sum(n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))


def conv_params(in_channels, out_channels, k, groups=1, bias=False):
    """Weights of a k x k convolution: out * (in / groups) * k * k (+ out biases).

    The argument order is nn.Conv2d's: conv_params(3, 16, 5) counts nn.Conv2d(3, 16, 5).
    """
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"groups={groups} must divide in_channels={in_channels} "
                         f"and out_channels={out_channels}")
    weights = out_channels * (in_channels // groups) * k * k
    return weights + (out_channels if bias else 0)

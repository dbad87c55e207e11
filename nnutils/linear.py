"""Chapter 1: the linear score function S = X @ W.T + b, and stacking it into layers.

Conventions: nnutils/README.md. Added here: the bias trick puts b in a last column of W
(and a constant 1 at the end of each input); and, before chapter 2 gives a loss to
minimise, a linear classifier is fitted in closed form, by least squares on one-hot
targets.
"""
import numpy as np

from nnutils import functions as fn


def linear_scores(X, W, b):
    """Class scores of a linear classifier for a batch of inputs.

    X: (N, D) inputs, one flattened image per row (a single (D,) vector is allowed).
    W: (C, D) weights, one row (template) per class.
    b: (C,) biases.
    Returns S: (N, C) scores (or (C,) for a single input), S[i, c] = W[c] . X[i] + b[c].
    """
    return X @ W.T + b


def bias_trick(X, W, b):
    """Fold the bias into the weights: a constant 1 after x, b as a last column of W.

    X: (N, D) or (D,); W: (C, D); b: (C,).
    Returns X1: (N, D+1) or (D+1,), W1: (C, D+1) with X1 @ W1.T == X @ W.T + b.
    """
    X1 = np.concatenate([X, np.ones(X.shape[:-1] + (1,))], axis=-1)
    W1 = np.concatenate([W, b[:, None]], axis=1)
    return X1, W1


def identity(z):
    """Output activation for regression: returns z unchanged."""
    return z


def network_forward(X, params, hidden=fn.sigmoid, output=identity):
    """Forward pass of a fully connected network in the house layout.

    X: (N, n0) or (n0,) inputs.
    params: flat list [W1, b1, ..., WL, bL], W_l: (n_l, n_{l-1}) and b_l: (n_l,).
    hidden: activation after every layer but the last; output: the one after the last.
    Returns (A_L, cache) with A_L: (N, n_L) and cache the list of (Z, A) per layer,
    Z = A_prev @ W.T + b the pre-activation and A = f(Z) the activation.
    """
    if len(params) == 0 or len(params) % 2:
        raise ValueError("params must be a flat list [W1, b1, ..., WL, bL], "
                         f"got {len(params)} arrays")
    A, cache = X, []
    n_layers = len(params) // 2
    for l in range(n_layers):
        W, b = params[2 * l], params[2 * l + 1]
        Z = A @ W.T + b
        A = output(Z) if l == n_layers - 1 else hidden(Z)
        cache.append((Z, A))
    return A, cache


def fit_least_squares(X, y, n_classes, reg=1e-3):
    """Fit W, b so that X @ W.T + b regresses one-hot targets (ridge, closed form).

    The simplest way to *train* a linear classifier: no loss chapter needed yet.
    X: (N, D); y: (N,) integer labels; reg: L2 penalty on W (not on b).
    Returns W: (C, D), b: (C,).
    """
    X1 = np.c_[X, np.ones(len(X))]
    T = fn.one_hot(y, n_classes)
    penalty = reg * np.eye(X1.shape[1])
    penalty[-1, -1] = 0.0
    W1 = np.linalg.solve(X1.T @ X1 + penalty, X1.T @ T).T
    return W1[:, :-1], W1[:, -1]


def accuracy(S, y):
    """Fraction of rows whose highest score is the true label. S: (N, C); y: (N,)."""
    return float(np.mean(np.argmax(S, axis=1) == y))

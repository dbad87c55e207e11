"""Chapter 1: the linear score function f(x, W, b) = Wx + b, and stacking it into layers."""
import numpy as np


def linear_scores(X, W, b):
    """Class scores of a linear classifier for a batch of inputs.

    X: (N, D) inputs, one flattened image per row (a single (D,) vector is allowed).
    W: (C, D) weights, one row (template) per class.
    b: (C,) biases.
    Returns S: (N, C) scores (or (C,) for a single input), S[i, c] = W[c] . X[i] + b[c].
    """
    return X @ W.T + b


def bias_trick(X, W, b):
    """Fold the bias into the weights: append a constant 1 to x and b as a last column of W.

    X: (N, D) or (D,); W: (C, D); b: (C,).
    Returns X1: (N, D+1) or (D+1,), W1: (C, D+1) with X1 @ W1.T == X @ W.T + b.
    """
    X1 = np.concatenate([X, np.ones(X.shape[:-1] + (1,))], axis=-1)
    W1 = np.concatenate([W, b[:, None]], axis=1)
    return X1, W1


def sigmoid(z):
    """Logistic function 1 / (1 + exp(-z)), elementwise, any shape."""
    return 1.0 / (1.0 + np.exp(-z))


def identity(z):
    """Output activation for regression: returns z unchanged."""
    return z


def network_forward(X, params, hidden=sigmoid, output=identity):
    """Forward pass of a fully connected network, row-vector convention (as in 鱼书 ch. 3).

    X: (N, n0) or (n0,) inputs.
    params: list of (W, b) pairs, W[l]: (n[l-1], n[l]) and b[l]: (n[l],).
    hidden: activation after every layer but the last; output: activation after the last.
    Returns (Y, cache) with Y: (N, n_L) and cache the list of (A, Z) per layer,
    A = Z_prev @ W + b the pre-activation and Z = h(A) the activation.
    """
    Z, cache = X, []
    for l, (W, b) in enumerate(params):
        A = Z @ W + b
        Z = output(A) if l == len(params) - 1 else hidden(A)
        cache.append((A, Z))
    return Z, cache


def fit_least_squares(X, y, n_classes, reg=1e-3):
    """Fit W, b so that X @ W.T + b regresses one-hot targets (ridge regression, closed form).

    The simplest way to *train* a linear classifier: no loss chapter needed yet.
    X: (N, D); y: (N,) integer labels; reg: L2 penalty on W (not on b).
    Returns W: (C, D), b: (C,).
    """
    X1 = np.c_[X, np.ones(len(X))]
    T = np.eye(n_classes)[y]
    penalty = reg * np.eye(X1.shape[1])
    penalty[-1, -1] = 0.0
    W1 = np.linalg.solve(X1.T @ X1 + penalty, X1.T @ T).T
    return W1[:, :-1], W1[:, -1]


def accuracy(S, y):
    """Fraction of rows whose highest score is the true label. S: (N, C); y: (N,)."""
    return float(np.mean(np.argmax(S, axis=1) == y))

"""Chapter 2: loss functions (multiclass SVM/hinge, MSE) and L2 regularisation."""
from itertools import combinations_with_replacement

import numpy as np


def svm_loss_one(s, y, margin=1.0):
    """Multiclass SVM loss of ONE example, written exactly as the formula (a loop over classes).

    L = sum_{j != y} max(0, s[j] - s[y] + margin)
    s: (C,) scores of one example; y: its correct class. Returns a float.
    """
    loss = 0.0
    for j in range(len(s)):
        if j != y:
            loss += max(0.0, s[j] - s[y] + margin)
    return loss


def check_labels(y, n_classes):
    """Class labels must be integers in 0..C-1: numpy would read -1 as the last class."""
    y = np.asarray(y)
    if not np.issubdtype(y.dtype, np.integer):          # 2.0 or True cannot name a class
        raise TypeError(f"labels must be integers, got dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"labels must be in 0..{n_classes - 1}, got values {y.min()}..{y.max()}")


def svm_loss(S, y, margin=1.0):
    """Multiclass SVM (hinge) loss per example, vectorised over a batch.

    L_i = sum_{j != y_i} max(0, S[i, j] - S[i, y_i] + margin)
    S: (N, C) scores; y: (N,) correct classes.
    Returns L: (N,) per-example losses.
    """
    check_labels(y, S.shape[1])
    n = np.arange(len(S))
    margins = np.maximum(0.0, S - S[n, y][:, None] + margin)
    margins[n, y] = 0.0
    return margins.sum(axis=1)


def svm_loss_grad(S, y, margin=1.0):
    """Gradient of mean(svm_loss(S, y)) with respect to the scores.

    S: (N, C); y: (N,). Returns dS: (N, C): +1/N for every violating wrong class,
    and minus (number of violations)/N for the correct class.
    """
    check_labels(y, S.shape[1])
    n = np.arange(len(S))
    violated = (S - S[n, y][:, None] + margin > 0).astype(float)
    violated[n, y] = 0.0
    violated[n, y] = -violated.sum(axis=1)
    return violated / len(S)


def l2_penalty(W):
    """R(W) = sum of squared weights. W: any shape. Returns a float."""
    return float(np.sum(W * W))


def full_loss(data_losses, W, reg):
    """Full loss = mean data loss + reg * R(W). data_losses: (N,); W: weights; reg: lambda."""
    return float(np.mean(data_losses)) + reg * l2_penalty(W)


def linear_svm_loss_and_grad(W, b, X, y, reg):
    """Full SVM loss of a linear classifier and its gradients.

    W: (C, D); b: (C,); X: (N, D); y: (N,); reg: lambda (the bias is not regularised).
    Returns (loss, dW (C, D), db (C,)).
    """
    S = X @ W.T + b
    loss = full_loss(svm_loss(S, y), W, reg)
    dS = svm_loss_grad(S, y)
    return loss, dS.T @ X + 2 * reg * W, dS.sum(axis=0)


def mse(pred, target):
    """Mean squared error over all entries: mean((pred - target)**2). Any equal shapes."""
    return float(np.mean((np.asarray(pred) - np.asarray(target)) ** 2))


def polynomial_features(X, degree):
    """All monomials of the input features of total degree 1..degree (no constant term).

    X: (N, D). For D = 2 and degree 2 the columns are x0, x1, x0*x0, x0*x1, x1*x1.
    Returns (N, F) with F = number of monomials; a linear model on them has curved boundaries.
    """
    cols = [np.prod(X[:, list(idx)], axis=1)
            for d in range(1, degree + 1)
            for idx in combinations_with_replacement(range(X.shape[1]), d)]
    return np.stack(cols, axis=1)

"""Chapter 3: softmax, cross-entropy, and a softmax (multinomial logistic) classifier."""
import numpy as np

from nnutils.losses import check_labels


def softmax_naive(S):
    """exp(S) / sum(exp(S)) along the last axis, exactly as written: overflows for large S."""
    E = np.exp(S)
    return E / E.sum(axis=-1, keepdims=True)


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
    Z = S - np.max(S, axis=1, keepdims=True)          # shifting cancels out, as in softmax
    return np.log(np.exp(Z).sum(axis=1)) - Z[np.arange(len(S)), y]


def cross_entropy_grad(S, y):
    """Gradient of mean(cross_entropy(S, y)) with respect to S: (softmax(S) - onehot(y)) / N."""
    check_labels(y, S.shape[1])
    dS = softmax(S)
    dS[np.arange(len(S)), y] -= 1.0
    return dS / len(S)


def linear_softmax_loss_and_grad(W, b, X, y, reg):
    """Full softmax loss of a linear classifier and its gradients.

    W: (C, D); b: (C,); X: (N, D); y: (N,); reg: lambda on sum(W**2).
    Returns (loss, dW (C, D), db (C,)).
    """
    S = X @ W.T + b
    loss = float(np.mean(cross_entropy(S, y))) + reg * float(np.sum(W * W))
    dS = cross_entropy_grad(S, y)
    return loss, dS.T @ X + 2 * reg * W, dS.sum(axis=0)

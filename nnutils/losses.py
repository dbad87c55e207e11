"""Chapter 2: the multiclass SVM (hinge) loss, L2 regularisation, polynomial features.

Conventions: nnutils/README.md; the mean squared error is functions.mse. Added here: the
hinge margin Delta (default 1) and the regularisation strength reg (lambda on sum(W**2),
the bias is not penalised); and, for two classes, the exact minimum of that full loss
(fit_svm_two_class), so that the chapter compares minima rather than unfinished runs.
"""
from itertools import combinations_with_replacement

import numpy as np

from nnutils import functions as fn


def svm_loss_one(s, y, margin=1.0):
    """Multiclass SVM loss of ONE example, exactly as the formula (a loop over classes).

    L = sum_{j != y} max(0, s[j] - s[y] + margin)
    s: (C,) scores of one example; y: its correct class, an integer in 0..C-1.
    Returns a float.
    """
    fn.check_labels(y, len(s))          # y = -1 would read s[-1] as the correct score
    loss = 0.0
    for j in range(len(s)):
        if j != y:
            loss += max(0.0, s[j] - s[y] + margin)
    return loss


def svm_loss(S, y, margin=1.0):
    """Multiclass SVM (hinge) loss per example, vectorised over a batch.

    L_i = sum_{j != y_i} max(0, S[i, j] - S[i, y_i] + margin)
    S: (N, C) scores; y: (N,) correct classes.
    Returns L: (N,) per-example losses.
    """
    fn.check_labels(y, S.shape[1])
    n = np.arange(len(S))
    margins = np.maximum(0.0, S - S[n, y][:, None] + margin)
    margins[n, y] = 0.0
    return margins.sum(axis=1)


def svm_loss_grad(S, y, margin=1.0):
    """Gradient of mean(svm_loss(S, y)) with respect to the scores.

    S: (N, C); y: (N,). Returns dS: (N, C): +1/N for every violating wrong class,
    and minus (number of violations)/N for the correct class.
    """
    fn.check_labels(y, S.shape[1])
    n = np.arange(len(S))
    violated = (S - S[n, y][:, None] + margin > 0).astype(float)
    violated[n, y] = 0.0
    violated[n, y] = -violated.sum(axis=1)
    return violated / len(S)


def l2_penalty(W):
    """R(W) = sum of squared weights. W: any shape. Returns a float."""
    return float(np.sum(W * W))


def full_loss(data_losses, W, reg):
    """Full loss = mean data loss + reg * R(W).

    data_losses: (N,); W: weights; reg: lambda. Returns a float.
    """
    return float(np.mean(data_losses)) + reg * l2_penalty(W)


def linear_svm_loss_and_grads(params, X, y, reg=0.0):
    """Full SVM loss of a linear classifier and its gradients (what loop.fit calls).

    params: [W (C, D), b (C,)]; X: (N, D); y: (N,); reg: lambda (b is not regularised).
    Returns (loss, [dW (C, D), db (C,)]).
    """
    W, b = params
    S = X @ W.T + b
    loss = full_loss(svm_loss(S, y), W, reg)
    dS = svm_loss_grad(S, y)
    return loss, [dS.T @ X + 2 * reg * W, dS.sum(axis=0)]


def polynomial_features(X, degree):
    """All monomials of the input features of total degree 1..degree (no constant term).

    X: (N, D). For D = 2 and degree 2 the columns are x0, x1, x0*x0, x0*x1, x1*x1.
    Returns (N, F), F the number of monomials; a linear model on them has curved
    boundaries.
    """
    cols = [np.prod(X[:, list(idx)], axis=1)
            for d in range(1, degree + 1)
            for idx in combinations_with_replacement(range(X.shape[1]), d)]
    return np.stack(cols, axis=1)


def fit_svm_two_class(X, y, reg):
    """The exact minimum of the full SVM loss (linear_svm_loss_and_grads), two classes.

    With classes 0 and 1 an example has one hinge term, max(0, 1 - t (v . x + c)), with
    t = +1 or -1 its class, v = W[1] - W[0] and c = b[1] - b[0]; R(W) >= |v|^2 / 2, with
    equality when W[0] = -W[1]. So the full loss is reg times the binary soft-margin SVM
    |v|^2 / 2 + C sum(hinge), C = 1 / (reg N): a convex quadratic programme, solved here
    by libsvm's SMO (scikit-learn's SVC with a linear kernel).
    X: (N, D); y: (N,) labels in {0, 1}, both present; reg > 0 (at reg = 0 every W that
    meets all margins is a minimum).
    Returns W: (2, D), b: (2,) with W[0] = -W[1], b[0] = -b[1], and gap, the duality gap
    computed from libsvm's dual solution: an upper bound on the full loss of (W, b)
    minus the minimum of the full loss.
    """
    from sklearn.svm import SVC

    fn.check_labels(y, 2)
    if len(np.unique(y)) != 2:
        raise ValueError("fit_svm_two_class needs examples of both classes 0 and 1")
    if not reg > 0:
        raise ValueError(f"reg must be > 0 (at reg = 0 the minimum is not unique), "
                         f"got {reg}")
    t = 2 * np.asarray(y) - 1
    svc = SVC(kernel="linear", C=1.0 / (reg * len(X)), tol=1e-10).fit(X, t)
    v, c = svc.coef_[0], float(svc.intercept_[0])
    W, b = np.stack([-v / 2, v / 2]), np.array([-c / 2, c / 2])
    # dual variables of the support vectors
    alpha = np.abs(svc.dual_coef_[0])
    dual = reg * (alpha.sum() - v @ v / 2)            # reg times the dual objective
    loss = full_loss(svm_loss(X @ W.T + b, y), W, reg)
    return W, b, max(loss - dual, 0.0)

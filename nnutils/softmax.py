"""Chapter 3: the softmax (multinomial logistic) classifier.

Conventions: nnutils/README.md. The stable softmax and the cross-entropy with its
gradient are defined once, in nnutils.functions. Added here: the textbook softmax, which
overflows (it shows why the stable one subtracts the maximum), and a linear classifier's
loss and gradients.
"""
import numpy as np

from nnutils import functions as fn


def softmax_naive(S):
    """exp(S) / sum(exp(S)) along the last axis, exactly as written.

    It overflows for large S.
    """
    E = np.exp(S)
    return E / E.sum(axis=-1, keepdims=True)


def linear_softmax_loss_and_grads(params, X, y, reg=0.0):
    """Full softmax loss of a linear classifier and its gradients (what loop.fit calls).

    params: [W (C, D), b (C,)]; X: (N, D); y: (N,) in 0..C-1; reg: lambda on sum(W**2).
    Returns (loss, [dW (C, D), db (C,)]).
    """
    W, b = params
    S = X @ W.T + b
    loss = float(np.mean(fn.cross_entropy(S, y))) + reg * float(np.sum(W * W))
    dS = fn.cross_entropy_grad(S, y)
    return loss, [dS.T @ X + 2 * reg * W, dS.sum(axis=0)]

"""Chapter 5: training neural networks in practice.

Activation functions and their derivatives, preprocessing, weight initialisation,
(inverted) dropout, a fully connected network of any depth with its backward pass, and
the update rules of momentum and Adam. The sigmoid, ReLU, cross-entropy and MSE come
from nnutils.functions, the training loop and plain SGD from nnutils.loop.
Conventions: nnutils/README.md.
"""
import math

import numpy as np

from nnutils.functions import (cross_entropy, cross_entropy_grad, mse, mse_grad, relu,
                               sigmoid)
from nnutils.loop import check_config


# ---------------------------------------------------------------------------------------------
# Activation functions f(x) and their derivatives f'(x), elementwise on arrays of any shape
# (the sigmoid and ReLU themselves are imported from nnutils.functions)
# ---------------------------------------------------------------------------------------------
def sigmoid_grad(x):
    s = sigmoid(x)
    return s * (1.0 - s)


def tanh(x):
    return np.tanh(x)


def tanh_grad(x):
    return 1.0 - np.tanh(x) ** 2


def relu_grad(x):
    """1 where x > 0, else 0 (the value 0 at the kink x = 0, as PyTorch uses)."""
    return (x > 0).astype(float)


def leaky_relu(x, alpha=0.01):
    """x for x > 0, alpha * x otherwise: a small slope instead of a flat zero."""
    return np.where(x > 0, x, alpha * x)


def leaky_relu_grad(x, alpha=0.01):
    return np.where(x > 0, 1.0, alpha)


def elu(x, alpha=1.0):
    """x for x > 0, alpha * (e^x - 1) otherwise: smooth, and negative outputs down to -alpha."""
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def elu_grad(x, alpha=1.0):
    return np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0)))


def swish(x, beta=1.0):
    """x * sigmoid(beta x) (Ramachandran et al. 2017; with beta = 1 it is PyTorch's SiLU)."""
    return x * sigmoid(beta * x)


def swish_grad(x, beta=1.0):
    s = sigmoid(beta * x)
    return s + beta * x * s * (1.0 - s)


ACTIVATIONS = {
    "sigmoid": (sigmoid, sigmoid_grad),
    "tanh": (tanh, tanh_grad),
    "relu": (relu, relu_grad),
    "leaky_relu": (leaky_relu, leaky_relu_grad),
    "elu": (elu, elu_grad),
    "swish": (swish, swish_grad),
}


def activation_pair(name):
    """(f, f') of the activation ``name``; an unknown name is a ValueError."""
    if name not in ACTIVATIONS:
        known = ", ".join(ACTIVATIONS)
        raise ValueError(f"unknown activation {name!r}; known: {known}")
    return ACTIVATIONS[name]


def maxout_forward(X, W, b):
    """Maxout layer (Goodfellow et al. 2013): the maximum of K affine pieces per output unit.

    X: (N, D); W: (K, M, D); b: (K, M). Returns out (N, M) and cache.
    out[n, m] = max_k (X[n] @ W[k, m] + b[k, m]).
    """
    Z = np.einsum("nd,kmd->knm", X, W) + b[:, None, :]       # (K, N, M)
    k = Z.argmax(axis=0)
    return Z.max(axis=0), (X, W, k)


def maxout_backward(dout, cache):
    """dout (N, M) -> dX (N, D), dW (K, M, D), db (K, M): only the winning piece gets a gradient."""
    X, W, k = cache
    winner = (np.arange(W.shape[0])[:, None, None] == k[None]).astype(float)   # (K, N, M)
    dZ = winner * dout[None]
    return np.einsum("knm,kmd->nd", dZ, W), np.einsum("knm,nd->kmd", dZ, X), dZ.sum(axis=1)


# ---------------------------------------------------------------------------------------------
# Preprocessing: statistics from the training set only, applied to every set
# ---------------------------------------------------------------------------------------------
def preprocess(X_train, *X_others, method="standardize", eps=1e-8):
    """Scale features column by column with statistics of ``X_train`` alone.

    method: "center" (x - mean), "minmax" ((x - min) / (max - min), into [0, 1] on the training
    set), or "standardize" ((x - mean) / std: mean 0, variance 1 on the training set).
    X_train: (N, D); X_others: further (N', D) arrays (validation, test).
    Returns a list [X_train', *X_others'] of scaled copies.
    """
    if method == "center":
        shift, scale = X_train.mean(axis=0), np.ones(X_train.shape[1])
    elif method == "minmax":
        shift = X_train.min(axis=0)
        scale = X_train.max(axis=0) - shift
    elif method == "standardize":
        shift, scale = X_train.mean(axis=0), X_train.std(axis=0)
    else:
        known = "center, minmax, standardize"
        raise ValueError(f"unknown method {method!r}; known: {known}")
    scale = np.where(scale > eps, scale, 1.0)          # constant columns: shift only
    return [(X - shift) / scale for X in (X_train, *X_others)]


# ---------------------------------------------------------------------------------------------
# Initialisation
# ---------------------------------------------------------------------------------------------
def init_weights(n_in, n_out, method="he", rng=None):
    """Random (n_out, n_in) weights from a zero-mean normal distribution with std

    "small": 0.01;
    "lecun": sqrt(1/n_in) (LeCun et al. 1998), which keeps the variance of the signal
        in the forward pass;
    "xavier": sqrt(2/(n_in + n_out)) (Glorot & Bengio 2010), a compromise between that
        forward condition and the backward one, 1/n_out (torch.nn.init.xavier_normal_);
    "he": sqrt(2/n_in) (He et al. 2015), for ReLU, which zeroes half its inputs
        (torch.nn.init.kaiming_normal_).
    """
    stds = {"small": 0.01, "lecun": math.sqrt(1 / n_in),
            "xavier": math.sqrt(2 / (n_in + n_out)), "he": math.sqrt(2 / n_in)}
    if method not in stds:
        raise ValueError(f"unknown init method {method!r}; known: {', '.join(stds)}")
    rng = np.random.default_rng(rng)
    return stds[method] * rng.standard_normal((n_out, n_in))


# ---------------------------------------------------------------------------------------------
# Dropout
# ---------------------------------------------------------------------------------------------
def dropout_forward(X, p, train=True, rng=None):
    """Inverted dropout with drop probability ``p`` (PyTorch's convention for nn.Dropout(p)).

    In training each entry is zeroed with probability p and the survivors are divided by 1 - p,
    so the expected output equals X and nothing changes at test time (train=False: identity).
    X: any shape. Returns (out, mask) with mask = 0 or 1/(1-p) per entry (None at test time).
    """
    if not 0.0 <= p <= 1.0:                  # a probability: outside [0, 1] the mask is meaningless
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if not train or p == 0.0:
        return X, None
    if p == 1.0:                             # everything dropped (1/(1-p) would make 0/0 = NaN)
        mask = np.zeros(X.shape)
        return X * mask, mask
    rng = np.random.default_rng(rng)
    mask = (rng.random(X.shape) >= p) / (1.0 - p)
    return X * mask, mask


def dropout_backward(dout, mask):
    """The gradient flows only through the kept units, scaled like the forward pass."""
    return dout if mask is None else dout * mask


# ---------------------------------------------------------------------------------------------
# A fully connected network of any depth
# ---------------------------------------------------------------------------------------------
def mlp_init(sizes, method="he", seed=0):
    """Parameters [W1, b1, ..., WL, bL] for layer sizes [n0, ..., nL]; biases start at 0."""
    rng = np.random.default_rng(seed)
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        params += [init_weights(n_in, n_out, method, rng), np.zeros(n_out)]
    return params


def mlp_forward(X, params, activation="relu", dropout=0.0, train=False, rng=None):
    """Forward pass: (affine -> activation -> dropout) for every hidden layer, affine at the end.

    X: (N, n0); params: [W1, b1, ...]. Returns the scores (N, nL) of the last layer (no
    activation) and the caches for ``mlp_backward``.
    """
    if not params or len(params) % 2:       # the loop below needs whole (W, b) pairs
        raise ValueError(f"params must be [W1, b1, ..., WL, bL], L >= 1; got {len(params)} arrays")
    f, _ = activation_pair(activation)
    n_layers = len(params) // 2
    caches, A = [], X
    for l in range(n_layers):
        W, b = params[2 * l], params[2 * l + 1]
        Z = A @ W.T + b
        if l == n_layers - 1:
            caches.append((A, W, None, None))
            return Z, caches
        H, mask = dropout_forward(f(Z), dropout, train, rng)
        caches.append((A, W, Z, mask))
        A = H


def mlp_backward(dscores, caches, activation="relu"):
    """Backward pass of ``mlp_forward``: dscores (N, nL) -> grads [dW1, db1, ...] like params."""
    _, f_grad = activation_pair(activation)
    grads, dA = [], dscores
    for A, W, Z, mask in reversed(caches):
        if Z is not None:                                   # hidden layer: dropout, activation
            dA = dropout_backward(dA, mask) * f_grad(Z)
        grads = [dA.T @ A, dA.sum(axis=0)] + grads
        dA = dA @ W
    return grads


def mlp_loss_and_grads(params, X, y, activation="relu", loss="softmax", reg=0.0,
                       dropout=0.0, rng=None):
    """Loss of the network on (X, y) plus reg * (sum of squared weights), and its gradients.

    loss: "softmax" (mean cross-entropy, y: (N,) labels) or "mse" (y: (N, nL) targets).
    dropout > 0 switches the network to training mode, with masks drawn from ``rng``.
    Returns (loss, grads) with grads shaped like params. For loop.fit, bind the options:
    ``lambda P, Xb, yb: mlp_loss_and_grads(P, Xb, yb, "tanh", dropout=0.5, rng=rng)``.
    """
    if loss not in ("softmax", "mse"):      # otherwise a typo would silently train with MSE
        raise ValueError(f"loss must be 'softmax' or 'mse', got {loss!r}")
    scores, caches = mlp_forward(X, params, activation, dropout, train=dropout > 0, rng=rng)
    if loss == "softmax":
        data_loss = float(np.mean(cross_entropy(scores, y)))
        dscores = cross_entropy_grad(scores, y)
    else:
        data_loss, dscores = mse(scores, y), mse_grad(scores, y)
    grads = mlp_backward(dscores, caches, activation)
    weights = params[::2]
    for i, W in enumerate(weights):
        grads[2 * i] = grads[2 * i] + 2.0 * reg * W
    return data_loss + reg * sum(float(np.sum(W * W)) for W in weights), grads


def mlp_predict(params, X, activation="relu"):
    """Predicted class per row: argmax of the scores (no dropout at test time)."""
    return mlp_forward(X, params, activation)[0].argmax(axis=1)


# ---------------------------------------------------------------------------------------------
# Optimisers: update(w, dw, config) -> new w, with the optimiser's state kept in config
# (plain SGD is nnutils.loop.sgd_update)
# ---------------------------------------------------------------------------------------------
def momentum_update(w, dw, config):
    """SGD with momentum (PyTorch's form): v = mu * v + dw; w - lr * v.

    The velocity v averages recent gradients, so steps grow along directions that stay consistent
    and cancel along directions that flip sign.
    """
    check_config(config, ["lr", "momentum", "velocity"])
    v = config.get("velocity", np.zeros_like(w))
    v = config.get("momentum", 0.9) * v + dw
    config["velocity"] = v
    return w - config.get("lr", 1e-2) * v


def adam_update(w, dw, config):
    """Adam (Kingma & Ba 2015): momentum on the gradient (m) and per-weight step sizes from a
    running mean of squared gradients (v), both corrected for their start at zero."""
    check_config(config, ["lr", "beta1", "beta2", "eps", "t", "m", "v"])
    b1, b2 = config.get("beta1", 0.9), config.get("beta2", 0.999)
    t = config.get("t", 0) + 1
    m = b1 * config.get("m", np.zeros_like(w)) + (1 - b1) * dw
    v = b2 * config.get("v", np.zeros_like(w)) + (1 - b2) * dw * dw
    config.update(t=t, m=m, v=v)
    m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
    return w - config.get("lr", 1e-3) * m_hat / (np.sqrt(v_hat) + config.get("eps", 1e-8))


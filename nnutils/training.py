"""Chapter 5: training neural networks in practice.

Activation functions and their derivatives, preprocessing, weight initialisation, (inverted)
dropout, a fully connected network of any depth with its backward pass, the update rules of
SGD, momentum and Adam, and a minibatch training loop with a progress bar.

Layout as in chapter 4 and PyTorch's nn.Linear: a layer's W is (n_out, n_in) and computes
X @ W.T + b on a batch X of shape (N, n_in). Network parameters are one flat list
[W1, b1, W2, b2, ...] so that gradients and optimiser states line up with them one to one.
"""
import math

import numpy as np
from tqdm.auto import tqdm


# ---------------------------------------------------------------------------------------------
# Activation functions f(x) and their derivatives f'(x), elementwise on arrays of any shape
# ---------------------------------------------------------------------------------------------
def sigmoid(x):
    """1 / (1 + e^-x), written so that no exp overflows."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_grad(x):
    s = sigmoid(x)
    return s * (1.0 - s)


def tanh(x):
    return np.tanh(x)


def tanh_grad(x):
    return 1.0 - np.tanh(x) ** 2


def relu(x):
    return np.maximum(0.0, x)


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
        raise ValueError(f"unknown method {method!r}")
    scale = np.where(scale > eps, scale, 1.0)          # constant columns: shift only
    return [(X - shift) / scale for X in (X_train, *X_others)]


# ---------------------------------------------------------------------------------------------
# Initialisation and size
# ---------------------------------------------------------------------------------------------
def init_weights(n_in, n_out, method="he", rng=None):
    """Random (n_out, n_in) weights from a zero-mean normal distribution.

    method: "small" (std 0.01), "xavier" (std sqrt(1/n_in), keeps the variance of tanh/sigmoid
    layers; Glorot & Bengio 2010) or "he" (std sqrt(2/n_in), for ReLU, which zeroes half its
    inputs; He et al. 2015).
    """
    rng = np.random.default_rng(rng)
    std = {"small": 0.01, "xavier": math.sqrt(1.0 / n_in), "he": math.sqrt(2.0 / n_in)}[method]
    return std * rng.standard_normal((n_out, n_in))


def count_parameters(sizes):
    """Weights plus biases of a fully connected network with layer sizes [n0, n1, ..., nL]."""
    return sum(n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))


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
    f, _ = ACTIVATIONS[activation]
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
    _, f_grad = ACTIVATIONS[activation]
    grads, dA = [], dscores
    for A, W, Z, mask in reversed(caches):
        if Z is not None:                                   # hidden layer: dropout, activation
            dA = dropout_backward(dA, mask) * f_grad(Z)
        grads = [dA.T @ A, dA.sum(axis=0)] + grads
        dA = dA @ W
    return grads


def softmax_cross_entropy(scores, y):
    """Mean softmax cross-entropy of integer labels and its gradient.

    scores: (N, C); y: (N,). Returns (loss, dscores (N, C)).
    """
    Z = scores - scores.max(axis=1, keepdims=True)
    log_p = Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))
    n = len(y)
    loss = -float(log_p[np.arange(n), y].mean())
    d = np.exp(log_p)
    d[np.arange(n), y] -= 1.0
    return loss, d / n


def mse_loss(pred, target):
    """Mean squared error mean((pred - target)**2) (PyTorch's nn.MSELoss) and its gradient."""
    diff = pred - target
    return float(np.mean(diff ** 2)), 2.0 * diff / diff.size


def mlp_loss_and_grads(params, X, y, activation="relu", loss="softmax", reg=0.0, dropout=0.0, rng=None):
    """Loss of the network on (X, y) plus reg * (sum of squared weights), and its gradients.

    loss: "softmax" (y: (N,) labels) or "mse" (y: (N, nL) targets). dropout > 0 switches the
    network to training mode. Returns (loss, grads) with grads shaped like params.
    """
    if loss not in ("softmax", "mse"):      # otherwise a typo would silently train with MSE
        raise ValueError(f"loss must be 'softmax' or 'mse', got {loss!r}")
    scores, caches = mlp_forward(X, params, activation, dropout, train=dropout > 0, rng=rng)
    data_loss, dscores = softmax_cross_entropy(scores, y) if loss == "softmax" else mse_loss(scores, y)
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
# ---------------------------------------------------------------------------------------------
def check_config(config, allowed):
    """Refuse keys the rule does not read: {"learning_rate": 0.5} would run at the default lr."""
    unknown = sorted(set(config) - set(allowed))
    if unknown:
        raise ValueError(f"unknown config key(s) {unknown}; allowed: {sorted(allowed)}")


def sgd_update(w, dw, config):
    """Plain gradient descent: w - lr * dw."""
    check_config(config, ["lr"])
    return w - config.get("lr", 1e-2) * dw


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


# ---------------------------------------------------------------------------------------------
# The training loop
# ---------------------------------------------------------------------------------------------
def fit(loss_and_grads, params, X, y, update=adam_update, config=None, epochs=10, batch_size=64,
        seed=0, evaluate=None, progress=True):
    """Minibatch training with a tqdm progress bar.

    loss_and_grads(params, X_batch, y_batch, rng) -> (loss, grads), grads shaped like params.
    params: list of arrays, updated in place. update: one of the update rules above, with its
    hyper-parameters in ``config`` (each parameter array keeps its own copy of the state).
    One epoch shuffles the N examples and makes ceil(N / batch_size) iterations (updates).
    evaluate: optional callable(params) -> dict of numbers, called after every epoch.
    Returns a history dict: "loss" per iteration, "epoch" with one evaluate() dict per epoch.
    """
    rng = np.random.default_rng(seed)
    states = [dict(config or {}) for _ in params]
    history = {"loss": [], "epoch": []}
    bar = tqdm(range(epochs), desc="epochs", disable=not progress)
    for _ in bar:
        order = rng.permutation(len(X))
        for start in range(0, len(X), batch_size):
            idx = order[start:start + batch_size]
            loss, grads = loss_and_grads(params, X[idx], y[idx], rng)
            for p, g, state in zip(params, grads, states):
                p[...] = update(p, g, state)
            history["loss"].append(loss)
        metrics = evaluate(params) if evaluate else {}
        history["epoch"].append(metrics)
        bar.set_postfix(loss=f"{history['loss'][-1]:.3f}", **{k: f"{v:.3f}" for k, v in metrics.items()})
    return history

"""Chapter 5: training neural networks in practice.

Activation functions and their derivatives, preprocessing, weight initialisation,
(inverted) dropout, batch normalisation, a fully connected network of any depth (with or
without batch norm) with its backward pass, and the update rules of momentum and Adam.
The sigmoid, ReLU, cross-entropy and MSE come from nnutils.functions, the training loop
and plain SGD from nnutils.loop.
Conventions: nnutils/README.md.
"""
import math

import numpy as np

from nnutils.functions import (cross_entropy, cross_entropy_grad, mse, mse_grad, relu,
                               sigmoid)
from nnutils.loop import check_config


# --------------------------------------------------------------------------------------
# Activation functions f(x) and their derivatives f'(x), elementwise on arrays of
# any shape (the sigmoid and ReLU themselves are imported from nnutils.functions)
# --------------------------------------------------------------------------------------
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
    """x for x > 0, alpha * (e^x - 1) otherwise.

    Smooth, with negative outputs down to -alpha.
    """
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def elu_grad(x, alpha=1.0):
    return np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0)))


def swish(x, beta=1.0):
    """x * sigmoid(beta x) (Ramachandran et al. 2017).

    With beta = 1 it is PyTorch's SiLU.
    """
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
    """Maxout layer (Goodfellow et al. 2013): the maximum of K affine pieces per output
    unit.

    X: (N, D); W: (K, M, D); b: (K, M). Returns out (N, M) and cache.
    out[n, m] = max_k (X[n] @ W[k, m] + b[k, m]).
    """
    Z = np.einsum("nd,kmd->knm", X, W) + b[:, None, :]       # (K, N, M)
    k = Z.argmax(axis=0)
    return Z.max(axis=0), (X, W, k)


def maxout_backward(dout, cache):
    """dout (N, M) -> dX (N, D), dW (K, M, D), db (K, M).

    Only the winning piece gets a gradient.
    """
    X, W, k = cache
    # (K, N, M)
    winner = (np.arange(W.shape[0])[:, None, None] == k[None]).astype(float)
    dZ = winner * dout[None]
    dX = np.einsum("knm,kmd->nd", dZ, W)
    dW = np.einsum("knm,nd->kmd", dZ, X)
    return dX, dW, dZ.sum(axis=1)


# --------------------------------------------------------------------------------------
# Preprocessing: statistics from the training set only, applied to every set
# --------------------------------------------------------------------------------------
def preprocess(X_train, *X_others, method="standardize", eps=1e-8):
    """Scale features column by column with statistics of ``X_train`` alone.

    method: "center" (x - mean), "minmax" ((x - min) / (max - min), into [0, 1] on the
    training set), or "standardize" ((x - mean) / std: mean 0, variance 1 on the
    training set).
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


# --------------------------------------------------------------------------------------
# Initialisation
# --------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------
# Dropout
# --------------------------------------------------------------------------------------
def dropout_forward(X, p, train=True, rng=None):
    """Inverted dropout with drop probability ``p`` (PyTorch's convention for
    nn.Dropout(p)).

    In training each entry is zeroed with probability p and the survivors are divided by
    1 - p, so the expected output equals X and nothing changes at test time
    (train=False: identity).
    X: any shape. Returns (out, mask) with mask = 0 or 1/(1-p) per entry (None at test
    time).
    """
    # a probability: outside [0, 1] the mask is meaningless
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if not train or p == 0.0:
        return X, None
    # everything dropped (1/(1-p) would make 0/0 = NaN)
    if p == 1.0:
        mask = np.zeros(X.shape)
        return X * mask, mask
    rng = np.random.default_rng(rng)
    mask = (rng.random(X.shape) >= p) / (1.0 - p)
    return X * mask, mask


def dropout_backward(dout, mask):
    """The gradient flows only through the kept units, scaled like the forward pass."""
    return dout if mask is None else dout * mask


# --------------------------------------------------------------------------------------
# Batch normalisation (Ioffe & Szegedy 2015), PyTorch's nn.BatchNorm1d / nn.BatchNorm2d
# --------------------------------------------------------------------------------------
def batchnorm_init(D):
    """gamma (D,) = 1, beta (D,) = 0 and the running pair (mean (D,) = 0, var (D,) = 1),
    as torch.nn.BatchNorm1d(D) starts."""
    return np.ones(D), np.zeros(D), (np.zeros(D), np.ones(D))


def _check_batchnorm(x, gamma, beta, running, train, momentum, eps, what):
    """The checks of batchnorm_forward; ``what`` names a column (feature, channel)."""
    D = x.shape[1]
    if not isinstance(running, (tuple, list)) or len(running) != 2:
        raise TypeError("running must be a pair (running_mean, running_var), "
                        f"got {type(running).__name__}")
    names = ["gamma", "beta", "running_mean", "running_var"]
    for name, a in zip(names, [gamma, beta, *running]):
        if np.shape(a) != (D,):
            raise ValueError(f"{name} must have shape ({D},), one per {what}, "
                             f"got {np.shape(a)}")
    if not 0.0 <= momentum <= 1.0 or not eps > 0:
        raise ValueError(f"need 0 <= momentum <= 1 and eps > 0, got {momentum}, {eps}")
    if train and len(x) < 2:     # one value: variance 0, N - 1 = 0; torch raises too
        raise ValueError(f"training mode needs more than 1 value per {what} for the "
                         f"batch statistics, got {len(x)}")


def batchnorm_forward(x, gamma, beta, running, train=True, momentum=0.1, eps=1e-5):
    """Batch normalisation of x (N, D), feature by feature: out = gamma * x_hat + beta.

    train=True: x_hat = (x - mu) / sqrt(var + eps) with the mean mu (D,) and the biased
    variance var (D,) of this batch, and the running statistics move towards them:
        running_mean <- (1 - momentum) running_mean + momentum mu
        running_var  <- (1 - momentum) running_var  + momentum var * N / (N - 1)
    (the unbiased variance, as torch.nn.BatchNorm1d(D, eps, momentum) does).
    train=False (inference): x_hat = (x - running_mean) / sqrt(running_var + eps), a
    fixed affine map of each example, independent of the rest of the batch.
    gamma, beta: (D,); running: the pair (running_mean (D,), running_var (D,)).
    Pure: nothing is modified in place. The layer has state that is not a parameter, so
    it returns a third value, the new running pair (the one given, at test time):
    (out (N, D), cache, running).
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"x must be (N, D), got shape {x.shape}; "
                         "for (N, C, H, W) images use spatial_batchnorm_forward")
    _check_batchnorm(x, gamma, beta, running, train, momentum, eps, "feature")
    running_mean, running_var = running
    if train:
        N = len(x)
        mu, var = x.mean(axis=0), x.var(axis=0)
        running = ((1 - momentum) * running_mean + momentum * mu,
                   (1 - momentum) * running_var + momentum * var * N / (N - 1))
    else:
        mu, var = running_mean, running_var
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = (x - mu) * inv_std
    return gamma * x_hat + beta, (x_hat, gamma, inv_std, train), running


def batchnorm_backward(dout, cache):
    """dout (N, D) -> dx (N, D), dgamma (D,), dbeta (D,).

    In training mode mu and var depend on every example of the batch; the chain rule
    through them gives the compact form (dx_hat = gamma * dout, means over the batch):
        dx = (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat)) / sqrt(var + eps)
    At test time the statistics are constants and dx = dx_hat / sqrt(running_var + eps).
    """
    x_hat, gamma, inv_std, train = cache
    if np.shape(dout) != x_hat.shape:
        raise ValueError(f"dout must have the output's shape {x_hat.shape}, "
                         f"got {np.shape(dout)}")
    dgamma, dbeta = (dout * x_hat).sum(axis=0), dout.sum(axis=0)
    dx_hat = dout * gamma
    if train:
        dx_hat = dx_hat - dx_hat.mean(axis=0) - x_hat * (dx_hat * x_hat).mean(axis=0)
    return dx_hat * inv_std, dgamma, dbeta


def spatial_batchnorm_forward(x, gamma, beta, running, train=True, momentum=0.1,
                              eps=1e-5):
    """Batch normalisation of images x (N, C, H, W) per channel, like nn.BatchNorm2d.

    The statistics of channel c are taken over all N*H*W positions of that channel: the
    channels become the D features of batchnorm_forward, on (N*H*W, C) rows.
    gamma, beta, running_mean, running_var: (C,).
    Returns (out (N, C, H, W), cache, running).
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 4:
        raise ValueError(f"x must be (N, C, H, W), got shape {x.shape}; "
                         "for (N, D) use batchnorm_forward")
    N, C, H, W = x.shape
    rows = x.transpose(0, 2, 3, 1).reshape(-1, C)
    _check_batchnorm(rows, gamma, beta, running, train, momentum, eps,
                     "channel (N*H*W)")
    out, cache, running = batchnorm_forward(rows, gamma, beta, running, train, momentum,
                                            eps)
    return out.reshape(N, H, W, C).transpose(0, 3, 1, 2), (cache, x.shape), running


def spatial_batchnorm_backward(dout, cache):
    """dout (N, C, H, W) -> dx (N, C, H, W), dgamma (C,), dbeta (C,)."""
    cache, shape = cache
    if np.shape(dout) != shape:
        raise ValueError(f"dout must have the output's shape {shape}, "
                         f"got {np.shape(dout)}")
    N, C, H, W = shape
    rows = dout.transpose(0, 2, 3, 1).reshape(-1, C)
    dx, dgamma, dbeta = batchnorm_backward(rows, cache)
    return dx.reshape(N, H, W, C).transpose(0, 3, 1, 2), dgamma, dbeta


# --------------------------------------------------------------------------------------
# A fully connected network of any depth
# --------------------------------------------------------------------------------------
def mlp_init(sizes, method="he", seed=0):
    """Parameters [W1, b1, ..., WL, bL] for layer sizes [n0, ..., nL].

    Biases start at 0.
    """
    rng = np.random.default_rng(seed)
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        params += [init_weights(n_in, n_out, method, rng), np.zeros(n_out)]
    return params


def mlp_forward(X, params, activation="relu", dropout=0.0, train=False, rng=None):
    """Forward pass: (affine -> activation -> dropout) for every hidden layer, affine at
    the end.

    X: (N, n0); params: [W1, b1, ...]. Returns the scores (N, nL) of the last layer (no
    activation) and the caches for ``mlp_backward``.
    """
    if not params or len(params) % 2:       # the loop below needs whole (W, b) pairs
        raise ValueError("params must be [W1, b1, ..., WL, bL], L >= 1; "
                         f"got {len(params)} arrays")
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
    """Backward pass of ``mlp_forward``.

    dscores (N, nL) -> grads [dW1, db1, ...], shaped like params.
    """
    _, f_grad = activation_pair(activation)
    grads, dA = [], dscores
    for A, W, Z, mask in reversed(caches):
        # hidden layer: dropout, activation
        if Z is not None:
            dA = dropout_backward(dA, mask) * f_grad(Z)
        grads = [dA.T @ A, dA.sum(axis=0)] + grads
        dA = dA @ W
    return grads


def mlp_loss_and_grads(params, X, y, activation="relu", loss="softmax", reg=0.0,
                       dropout=0.0, rng=None):
    """Loss of the network on (X, y) plus reg * (sum of squared weights), and its
    gradients.

    loss: "softmax" (mean cross-entropy, y: (N,) labels) or "mse" (y: (N, nL) targets).
    dropout > 0 switches the network to training mode, with masks drawn from ``rng``.
    Returns (loss, grads) with grads shaped like params. For loop.fit, bind the options:
    ``lambda P, Xb, yb: mlp_loss_and_grads(P, Xb, yb, "tanh", dropout=0.5, rng=rng)``.
    """
    # otherwise a typo would silently train with MSE
    if loss not in ("softmax", "mse"):
        raise ValueError(f"loss must be 'softmax' or 'mse', got {loss!r}")
    scores, caches = mlp_forward(X, params, activation, dropout, train=dropout > 0,
                                 rng=rng)
    if loss == "softmax":
        data_loss = float(np.mean(cross_entropy(scores, y)))
        dscores = cross_entropy_grad(scores, y)
    else:
        data_loss, dscores = mse(scores, y), mse_grad(scores, y)
    grads = mlp_backward(dscores, caches, activation)
    # the same numbers, without the work (tiny nets, many steps)
    if reg == 0:
        return data_loss, grads
    weights = params[::2]
    for i, W in enumerate(weights):
        grads[2 * i] = grads[2 * i] + 2.0 * reg * W
    return data_loss + reg * sum(float(np.sum(W * W)) for W in weights), grads


def mlp_predict(params, X, activation="relu"):
    """Predicted class per row: argmax of the scores (no dropout at test time)."""
    return mlp_forward(X, params, activation)[0].argmax(axis=1)


# --------------------------------------------------------------------------------------
# The same network with batch normalisation in every hidden layer
# --------------------------------------------------------------------------------------
def bn_mlp_init(sizes, method="he", seed=0):
    """Parameters [W1, gamma1, beta1, ..., W_{L-1}, gamma_{L-1}, beta_{L-1}, WL, bL] and
    the running statistics [(mean1, var1), ...], one pair per hidden layer.

    Hidden layers have no bias: batch norm subtracts the batch mean, which cancels it,
    and beta takes its place (ResNets, too, put nn.Conv2d(..., bias=False) before
    nn.BatchNorm2d). The weights W are those of mlp_init(sizes, method, seed).
    """
    rng = np.random.default_rng(seed)
    params, running = [], []
    for n_in, n_out in zip(sizes[:-2], sizes[1:-1]):
        gamma, beta, stats = batchnorm_init(n_out)
        params += [init_weights(n_in, n_out, method, rng), gamma, beta]
        running.append(stats)
    params += [init_weights(sizes[-2], sizes[-1], method, rng), np.zeros(sizes[-1])]
    return params, running


def bn_mlp_forward(X, params, running, activation="relu", train=False, momentum=0.1,
                   eps=1e-5):
    """(affine without bias -> batch norm -> activation) per hidden layer, then affine.

    X: (N, n0); params and running as bn_mlp_init makes them. Returns the scores
    (N, nL), the caches for bn_mlp_backward and the running statistics, a new list:
    updated from this batch in training mode, the given ones at test time (train=False).
    """
    if not isinstance(running, (list, tuple)):
        raise TypeError("running must be a list of pairs, "
                        f"got {type(running).__name__}")
    if len(params) != 3 * len(running) + 2:
        raise ValueError("params must be [W1, gamma1, beta1, ..., WL, bL], with one "
                         f"running pair per hidden layer; got {len(params)} arrays and "
                         f"{len(running)} pairs")
    f, _ = activation_pair(activation)
    A, caches, new_running = X, [], []
    for l, stats in enumerate(running):
        W, gamma, beta = params[3 * l:3 * l + 3]
        Z, bn_cache, stats = batchnorm_forward(A @ W.T, gamma, beta, stats, train,
                                               momentum, eps)
        caches.append((A, W, Z, bn_cache))
        new_running.append(stats)
        A = f(Z)
    W, b = params[-2:]
    caches.append((A, W, None, None))
    return A @ W.T + b, caches, new_running


def bn_mlp_backward(dscores, caches, activation="relu"):
    """Backward pass of bn_mlp_forward: dscores (N, nL) -> grads shaped like params."""
    _, f_grad = activation_pair(activation)
    A, W, _, _ = caches[-1]
    grads, dA = [dscores.T @ A, dscores.sum(axis=0)], dscores @ W
    for A, W, Z, bn_cache in reversed(caches[:-1]):
        dZ, dgamma, dbeta = batchnorm_backward(dA * f_grad(Z), bn_cache)
        grads = [dZ.T @ A, dgamma, dbeta] + grads
        dA = dZ @ W
    return grads


def bn_mlp_loss_and_grads(params, X, y, running, activation="relu"):
    """Mean cross-entropy of the network in training mode on (X, y), and its gradients.

    Returns (loss, grads, running) with the running statistics updated from this batch.
    loop.fit wants (loss, grads): the closure that binds ``running`` keeps the new ones.
    """
    scores, caches, running = bn_mlp_forward(X, params, running, activation, train=True)
    grads = bn_mlp_backward(cross_entropy_grad(scores, y), caches, activation)
    return float(np.mean(cross_entropy(scores, y))), grads, running


def bn_mlp_predict(params, X, running, activation="relu"):
    """Predicted class per row, in inference mode (the running statistics)."""
    return bn_mlp_forward(X, params, running, activation)[0].argmax(axis=1)


# --------------------------------------------------------------------------------------
# Optimisers: update(w, dw, config) -> new w, with the optimiser's state kept in config
# (plain SGD is nnutils.loop.sgd_update)
# --------------------------------------------------------------------------------------
def momentum_update(w, dw, config):
    """SGD with momentum (PyTorch's form): v = mu * v + dw; w - lr * v.

    The velocity v averages recent gradients, so steps grow along directions that stay
    consistent and cancel along directions that flip sign.
    """
    check_config(config, ["lr", "momentum", "velocity"])
    # v starts at 0
    v = config.get("momentum", 0.9) * config.get("velocity", 0.0) + dw
    config["velocity"] = v
    return w - config.get("lr", 1e-2) * v


def adam_update(w, dw, config):
    """Adam (Kingma & Ba 2015): momentum on the gradient (m) and per-weight step sizes
    from a running mean of squared gradients (v), both corrected for their start at
    zero."""
    check_config(config, ["lr", "beta1", "beta2", "eps", "t", "m", "v"])
    b1, b2 = config.get("beta1", 0.9), config.get("beta2", 0.999)
    t = config.get("t", 0) + 1
    m = b1 * config.get("m", 0.0) + (1 - b1) * dw              # m and v start at 0
    v = b2 * config.get("v", 0.0) + (1 - b2) * dw * dw
    config.update(t=t, m=m, v=v)
    m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
    scaled = config.get("lr", 1e-3) * m_hat
    return w - scaled / (np.sqrt(v_hat) + config.get("eps", 1e-8))


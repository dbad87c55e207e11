"""The one training loop of the package (shared): minibatches, an update rule, a
progress bar.

Every chapter that trains numpy parameters from scratch calls ``fit`` with a function of
the one signature

    loss_and_grads(params, X_batch, y_batch) -> (loss, grads)

params: list of arrays; grads: list of arrays shaped like params. Options (a
regularisation strength, dropout and its random generator, ...) are bound beforehand
with functools.partial or a lambda. Update rules have the signature update(w, dw,
config) -> new w and keep their state in ``config``: plain SGD is here, momentum,
RMSProp and Adam are taught in chapter 5.
"""
import numpy as np
from tqdm.auto import tqdm


def check_config(config, allowed):
    """Refuse keys the rule does not read.

    {"learning_rate": 0.5} would otherwise run at the default lr.
    """
    unknown = set(config).difference(allowed)
    if unknown:
        raise ValueError(f"unknown config key(s) {sorted(unknown)}; "
                         f"allowed: {sorted(allowed)}")


def sgd_update(w, dw, config):
    """Plain gradient descent: w - lr * dw (lr defaults to 0.01)."""
    check_config(config, ["lr"])
    return w - config.get("lr", 1e-2) * dw


def fit(loss_and_grads, params, X, y, update=sgd_update, config=None, epochs=10,
        batch_size=64, seed=0, evaluate=None, progress=True):
    """Minibatch training of ``params`` (updated in place) on (X, y).

    X: (N, ...) inputs; y: (N, ...) targets. One epoch shuffles the N examples with a
    generator seeded by ``seed`` and makes ceil(N / batch_size) iterations (updates).
    update: an update rule, with its hyper-parameters in ``config`` (each parameter
    array keeps its own copy of the state). evaluate: optional callable(params) -> dict
    of numbers, called after every epoch. Returns a history dict: "loss", one float per
    iteration, and "epoch", one evaluate() dict per epoch.
    """
    if len(X) != len(y):
        raise ValueError("X and y must hold the same number of examples, "
                         f"got {len(X)} and {len(y)}")
    if len(X) == 0 or batch_size < 1:
        raise ValueError("need at least one example and batch_size >= 1, "
                         f"got {len(X)}, {batch_size}")
    rng = np.random.default_rng(seed)
    states = [dict(config or {}) for _ in params]
    history = {"loss": [], "epoch": []}
    bar = tqdm(range(epochs), desc="epochs", disable=not progress, leave=False)
    for _ in bar:
        order = rng.permutation(len(X))
        for start in range(0, len(X), batch_size):
            idx = order[start:start + batch_size]
            loss, grads = loss_and_grads(params, X[idx], y[idx])
            if len(grads) != len(params):
                raise ValueError(f"loss_and_grads returned {len(grads)} gradients "
                                 f"for {len(params)} parameters")
            for p, g, state in zip(params, grads, states):
                p[...] = update(p, g, state)
            history["loss"].append(float(loss))
        metrics = evaluate(params) if evaluate else {}
        history["epoch"].append(metrics)
        if progress:
            bar.set_postfix(loss=f"{history['loss'][-1]:.3f}",
                            **{k: f"{v:.3f}" for k, v in metrics.items()})
    return history

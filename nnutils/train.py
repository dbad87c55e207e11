"""A minimal, reusable training loop (shared): minibatch SGD with a tqdm progress bar."""
import numpy as np
from tqdm.auto import tqdm


def sgd(loss_and_grad, params, X, y, lr=0.1, epochs=20, batch_size=64, seed=0, progress=True):
    """Minibatch stochastic gradient descent on a list of numpy parameter arrays.

    loss_and_grad: callable(*params, X_batch, y_batch) -> (loss, *grads), grads shaped like params.
    params: list of arrays, updated in place.
    X: (N, ...) inputs; y: (N,) targets. One epoch = ceil(N / batch_size) iterations.
    Returns the list of per-iteration losses.
    """
    rng = np.random.default_rng(seed)
    history = []
    bar = tqdm(range(epochs), desc="epochs", disable=not progress, leave=False)
    for _ in bar:
        order = rng.permutation(len(X))
        for start in range(0, len(X), batch_size):
            idx = order[start:start + batch_size]
            loss, *grads = loss_and_grad(*params, X[idx], y[idx])
            for p, g in zip(params, grads):
                p -= lr * g
            history.append(loss)
        bar.set_postfix(loss=f"{history[-1]:.3f}")
    return history

"""A ch04 submission that passes every visible test but has two slips only hidden tests catch.

Its numerical Jacobian uses a one-sided difference (f(x + h) - f(x)) / h, exact for the visible
linear function M @ x but off by O(h) for the hidden cubic-plus-sine check, which a centred
difference passes. Its network loss is averaged over the batch instead of the notes' sum: the
same on the visible 2-2-2 example (one column), wrong on the hidden batches of 5 and 7.
"""
WRONG = {
    "numerical_jacobian": '''def numerical_jacobian(f, x, h=1e-5):
    f0 = np.array(f(), dtype=float).ravel()
    J = np.zeros((f0.size, x.size))
    for j, i in enumerate(np.ndindex(x.shape)):
        old = x[i]
        x[i] = old + h
        J[:, j] = (np.array(f(), dtype=float).ravel() - f0) / h
        x[i] = old
    return J
''',
    "net_loss_and_grads": '''def net_loss_and_grads(params, X, T):
    N = X.shape[1]
    A, layer_caches = X, []
    for W, b in zip(params[0::2], params[1::2]):
        Z, cache = affine_cols_forward(A, W, b)
        A = sigmoid(Z)
        layer_caches.append((cache, A))
    loss = 0.5 * float(np.sum((A - T) ** 2)) / N
    dA, grads = (A - T) / N, []
    for cache, S in reversed(layer_caches):
        dA, dW, db = affine_cols_backward(dA * S * (1.0 - S), cache)
        grads = [dW, db] + grads
    return loss, grads
''',
}

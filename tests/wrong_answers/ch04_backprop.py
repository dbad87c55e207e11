"""A ch04 submission that passes every visible test but uses a one-sided difference.

Its numerical Jacobian (f(x + h) - f(x)) / h is exact for the visible linear function M @ x but off
by O(h) for the hidden cubic-plus-sine check, which a centred difference passes.
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
}

"""A ch04 submission that passes every visible test but uses a one-sided difference.

Its numerical gradient (f(x + h) - f(x)) / h is off by O(h): close enough for the visible check on
sum(x**2), too inaccurate for the hidden check on a cubic, which a centred difference passes.
"""
WRONG = {
    "numerical_gradient": '''def numerical_gradient(f, x, h=1e-5):
    grad = np.zeros_like(x, dtype=float)
    f0 = f()
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        grad[i] = (f() - f0) / h
        x[i] = old
    return grad
''',
}

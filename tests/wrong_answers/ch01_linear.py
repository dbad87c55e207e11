"""A ch01 submission that passes every visible test but breaks for other depths.

Its column-convention forward pass hard-codes three layers, so the hidden 4-layer and 1-layer
tests fail; the other tasks are correct.
"""
WRONG = {
    "column_forward": '''def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def column_forward(X, params):
    (W1, b1), (W2, b2), (W3, b3) = params[0], params[1], params[-1]
    A1 = sigmoid(W1 @ X + b1[:, None])
    A2 = sigmoid(W2 @ A1 + b2[:, None])
    return W3 @ A2 + b3[:, None]
''',
}

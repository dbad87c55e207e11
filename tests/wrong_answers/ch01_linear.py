"""A ch01 submission that passes every visible test but breaks for deeper networks.

Its forward pass hard-codes three layers, so the hidden 4-layer test fails.
"""
WRONG = {
    "network_forward": '''def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def network_forward(X, params):
    (W1, b1), (W2, b2), (W3, b3) = params[0], params[1], params[-1]
    return sigmoid(sigmoid(X @ W1 + b1) @ W2 + b2) @ W3 + b3
''',
}

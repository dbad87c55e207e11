"""A ch05 submission that passes every visible test but forgets the "inverted" in inverted dropout.

It zeroes the right units but does not divide the survivors by 1 - p, so the expected activation
shrinks in training: the hidden test of the mean (and of the mask values) fails.
"""
WRONG = {
    "dropout": '''def dropout_forward(X, p, train, rng):
    if not train:
        return X, None
    mask = (rng.random(X.shape) >= p).astype(float)
    return X * mask, mask


def dropout_backward(dout, mask):
    return dout if mask is None else dout * mask
''',
}

"""A ch02 submission that passes every visible test but ignores the margin in the gradient.

Its squared_hinge_grad hard-codes the margin 1 (the visible tests use the default), so the hidden
tests with margins 0.5 and 2.5 fail; the other tasks are correct.
"""
WRONG = {
    "squared_hinge_grad": '''def squared_hinge_grad(S, y, margin=1.0):
    rows = np.arange(len(S))
    hinge = np.maximum(0.0, S - S[rows, y][:, None] + 1.0)
    hinge[rows, y] = 0.0
    dS = 2.0 * hinge / len(S)
    dS[rows, y] = -dS.sum(axis=1)
    return dS
''',
}

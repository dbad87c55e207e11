"""A ch02 submission that passes every visible test but ignores the margin in the gradient.

Its svm_loss_grad hard-codes the margin 1 (the visible tests use the default), so the hidden
tests with margins 0.5 and 2.5 fail; the other tasks are correct.
"""
WRONG = {
    "svm_loss_grad": '''def svm_loss_grad(S, y, margin=1.0):
    n = np.arange(len(S))
    violated = (S - S[n, y][:, None] + 1.0 > 0).astype(float)
    violated[n, y] = 0.0
    violated[n, y] = -violated.sum(axis=1)
    return violated / len(S)
''',
}

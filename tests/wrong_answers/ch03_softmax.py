"""A ch03 submission that passes every visible test but takes the log of a softmax.

Its log_softmax shifts by the maximum (so the visible overflow example passes) and then takes
np.log of the probabilities: a probability that underflows to 0 (scores [0, 800, -800]) gives -inf,
which only the hidden tests try. Its gradient task still passes (exp(-inf) is 0).
"""
WRONG = {
    "log_softmax": '''def log_softmax(S):
    E = np.exp(S - np.max(S, axis=-1, keepdims=True))
    return np.log(E / np.sum(E, axis=-1, keepdims=True))
''',
}

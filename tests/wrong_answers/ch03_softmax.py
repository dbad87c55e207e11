"""A ch03 submission that passes every visible test but takes -log of the softmax directly.

Its cross_entropy is right for ordinary scores but gives inf where the correct class's probability
underflows to 0 (scores [0, 800, -800], class 2), which only the hidden tests try.
"""
WRONG = {
    "cross_entropy": '''def cross_entropy(S, y):
    return -np.log(softmax(S)[np.arange(len(S)), y])
''',
}

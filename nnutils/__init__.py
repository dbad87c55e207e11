"""nnutils: the tested code behind the book's chapters.

One module per chapter (``linear``, ``losses``, ``softmax``, ``backprop``, ``training``,
``cnn``, ``receptive_fields``, ``resnet``, ``lstm``, ``word2vec``, ``gan``) and a few
shared ones, one concept each: ``functions`` (sigmoid, softmax, cross-entropy, parameter
counts...), ``loop`` (the one training loop), ``gradcheck``, ``data``, ``plot``,
``diagram`` (the book's diagram style) and ``parallel`` (independent runs side by side,
one process per core).

The house convention, stated once in nnutils/README.md: batch first; a dense layer's W
is (n_out, n_in) like nn.Linear.weight and computes X @ W.T + b; recurrent weights are
PyTorch's weight_ih/weight_hh unchanged, LSTM gates in the order i, f, g, o; Z is a
pre-activation and A = f(Z) an activation; loss_and_grads(params, X, y) -> (loss, grads)
is what ``loop.fit`` calls.
"""

__version__ = "0.2.0"

"""nnutils: the tested code behind the book's chapters.

One module per chapter (``linear``, ``losses``, ``softmax``, ...) plus a few shared ones
(``data``, ``plot``, ``gradcheck``, ``train``). Everything is plain numpy unless a chapter
is about PyTorch itself. Shapes are given in every docstring.
"""

__version__ = "0.1.0"

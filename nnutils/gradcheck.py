"""Numerical gradients and the relative error used to compare them (shared)."""
import numpy as np


def numerical_gradient(f, x, h=1e-5):
    """Centred-difference gradient of a scalar function ``f`` at array ``x``.

    f: callable taking no arguments and returning a float; it must read ``x``,
       which is perturbed in place and restored.
    x: float array of any shape (float64 recommended).
    Returns an array shaped like ``x``: (f(x+h) - f(x-h)) / 2h per entry.
    """
    if not np.issubdtype(x.dtype, np.floating):  # x[i] = old + h would truncate to int
        raise TypeError(
            f"x must be a float array, got {x.dtype}: let f read x.astype(float)")
    grad = np.zeros_like(x, dtype=float)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        fp = f()
        x[i] = old - h
        fm = f()
        x[i] = old
        grad[i] = (fp - fm) / (2 * h)
    return grad


def rel_error(a, b, eps=1e-8):
    """Largest relative error max |a-b| / max(|a|+|b|, eps) between two arrays.

    The floor eps keeps entries that are zero up to numerical noise from dominating:
    a zero gradient against 1e-11 of noise reads 1e-3, not 1 (CS231n uses the same
    floor).
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), eps)))

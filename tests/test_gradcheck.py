"""nnutils.gradcheck: numerical gradients and the relative error."""
import numpy as np
import pytest

from nnutils import gradcheck


# ---- gradcheck -------------------------------------------------------------------------------

def test_numerical_gradient():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4))
    before = x.copy()
    g = gradcheck.numerical_gradient(lambda: float(np.sum(x ** 3) + x[0, 0] * x[1, 1]), x)
    want = 3 * before ** 2
    want[0, 0] += before[1, 1]
    want[1, 1] += before[0, 0]
    assert np.allclose(g, want, atol=1e-7)
    assert np.array_equal(x, before), "x restored"


def test_numerical_gradient_refuses_integer_arrays():
    """x[i] = old + h on an integer array truncates to x[i] = old: the difference was garbage."""
    x = np.array([1, 2, 3])
    with pytest.raises(TypeError, match="float"):
        gradcheck.numerical_gradient(lambda: float(np.sum(x.astype(float) ** 2)), x)
    assert np.array_equal(x, [1, 2, 3]), "x left as it was"
    xf = x.astype(float)                                     # the fix the message suggests
    assert np.allclose(gradcheck.numerical_gradient(lambda: float(np.sum(xf ** 2)), xf), 2 * xf)


def test_rel_error():
    assert gradcheck.rel_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert np.isclose(gradcheck.rel_error([1.0], [3.0]), 0.5)
    assert gradcheck.rel_error([0.0], [0.0]) == 0.0


def test_rel_error_floor_treats_noise_on_zero_as_small():
    # a zero analytic gradient against 1e-11 of centred-difference noise (eps_machine * |f| / h)
    assert gradcheck.rel_error(np.zeros(3), np.full(3, 1e-11)) == pytest.approx(1e-3)
    # still relative above the floor, so a wrong small gradient still reads as wrong
    assert gradcheck.rel_error([1e-6], [0.0]) == 1.0
    assert np.isclose(gradcheck.rel_error([1e-5], [3e-5]), 0.5)

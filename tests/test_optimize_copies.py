"""Copy propagation in the backward pass: a copy of a gradient handed back and forth
(``da_out = da`` ... ``da = da_out``) must not lose the gradient.

Found by the random scalar programs' generator: ``a = a * 1.0; c = a`` made the
generated code return an undefined ``da`` (NameError)."""

from __future__ import annotations

import numpy as np
import pytest
from numeric import numeric_vjp

import astgrad as ag


def scaled_then_aliased(a, b):
    a = a * 1.0
    c = a
    return c


def array_scaled_then_aliased(x):
    x = x * 1.0
    y = x
    return np.sum(y * y)


def plus_zero_then_aliased(a, b):
    a = a + 0.0
    c = a
    return c * b


@pytest.mark.parametrize("mode", ["source", "auto", "tape"])
def test_scalar_copy_keeps_its_gradient(mode):
    grads = ag.grad(scaled_then_aliased, wrt=(0, 1), mode=mode)(0.2, 0.3)
    assert grads == (pytest.approx(1.0), pytest.approx(0.0))
    grads = ag.grad(plus_zero_then_aliased, wrt=(0, 1), mode=mode)(0.2, 0.3)
    assert grads == (pytest.approx(0.3), pytest.approx(0.2))


@pytest.mark.parametrize("mode", ["source", "auto", "tape"])
def test_array_copy_keeps_its_gradient(mode):
    x = np.array([0.5, -1.5, 2.0])
    got = ag.grad(array_scaled_then_aliased, mode=mode)(x)
    np.testing.assert_allclose(got, numeric_vjp(array_scaled_then_aliased, [x], 0, 1.0), rtol=1e-6)

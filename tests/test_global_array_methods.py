"""Array methods called on a module's array (``X.dot(W)`` with ``X`` a global), in source
mode: the method is its NumPy function with the global array as the first argument, as
for a local array. Checked in every mode and forward mode against central finite
differences in float64; a global rebound to something that is not an array regenerates
the gradient, which then names the call it cannot differentiate."""

from __future__ import annotations

import numpy as np
import pytest
from numeric import assert_close, numeric_vjp

import astgrad as ag
from astgrad import TransformError

RNG = np.random.default_rng(3)
X = RNG.standard_normal((4, 3))
OFFSETS = RNG.standard_normal((4, 2))
W0 = RNG.standard_normal((3, 2))


def model(w):
    offsets = OFFSETS.T
    return np.sum(np.tanh(X.dot(w)) ** 2) + np.sum(offsets.dot(X.dot(w))) * 0.1


def method_of_an_expression(w):
    return np.sum(OFFSETS.T.dot(X.dot(w)))


def model_sum_method(w):
    # other methods of a global array, with w in the argument
    return np.sum((X * X.max()).dot(w) * X.sum(axis=1, keepdims=True))


@pytest.mark.parametrize("f", [model, model_sum_method])
def test_global_receiver_in_every_mode(f):
    expected = numeric_vjp(f, [W0], 0, 1.0)
    for mode in ("source", "auto", "tape"):
        got = ag.grad(f, mode=mode)(W0)
        assert_close(got, expected, rtol=1e-6, atol=1e-8, what=f"{f.__name__} {mode}")
    direction = np.cos(np.arange(6.0)).reshape(3, 2)
    for mode in ("source", "tape"):
        _, tangent = ag.jvp(f, (W0,), (direction,), mode=mode)
        assert_close(tangent, np.sum(expected * direction), rtol=1e-6, atol=1e-8)


def test_the_source_reads_the_global():
    text = ag.source(model, W0, mode="source")
    assert "X.dot(w)" in text and "dot_grad_right(" in text
    assert "tape" not in str(ag.explain(model, W0)).splitlines()[0]


def test_a_method_of_an_expression_of_globals_is_refused_by_name():
    """``OFFSETS.T.dot(...)``: the receiver is an expression, which source mode does not
    read as an operand; the error says how to write it (auto mode runs it on the tape)."""
    with pytest.raises(TransformError, match=r"OFFSETS\.T.*a = OFFSETS\.T"):
        ag.grad(method_of_an_expression, mode="source")(W0)
    expected = numeric_vjp(method_of_an_expression, [W0], 0, 1.0)
    assert_close(ag.grad(method_of_an_expression)(W0), expected, rtol=1e-6, atol=1e-8)


def test_rebinding_the_global_regenerates():
    global X
    saved = X
    try:
        gradient = ag.grad(model, mode="source")
        gradient(W0)
        X = RNG.standard_normal((4, 3))  # another array: the generated code reads it
        assert_close(gradient(W0), numeric_vjp(model, [W0], 0, 1.0), rtol=1e-6, atol=1e-8)
        X = [[1.0, 2.0, 3.0]]  # not an array: no method dot to differentiate
        with pytest.raises(TransformError, match=r"X\.dot"):
            gradient(W0)
    finally:
        X = saved

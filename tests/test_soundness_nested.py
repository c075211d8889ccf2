"""Nested differentiation and objects: a gradient of a gradient is a NotImplementedError
that says so and what to do (it gave the first derivative), in every mode and every way
of nesting; an object under ``wrt`` is a TypeError naming the argument (it got 0)."""

from __future__ import annotations

import functools
import sys

import numpy as np
import pytest
from modules import write_module
from numeric import assert_close, numeric_vjp

import astgrad as ag

MODES = ("source", "auto", "tape")
HIGHER_ORDER = r"Higher-order derivatives \(a gradient of a gradient\) are not supported yet"

SOURCE = """
import numpy as np
import astgrad as ag


def f4(x):
    return x ** 4


df4 = ag.grad(f4)
both4 = ag.value_and_grad(f4)


def calls_grad(x):
    return df4(x) * 2.0


def calls_value_and_grad(x):
    value, slope = both4(x)
    return value + slope


def calls_vjp(x):
    y, pullback = ag.vjp(f4, x)
    return pullback(1.0)


def calls_grad_made_inside(x):
    return ag.grad(f4)(x) + x


def calls_a_caller(x):
    return calls_grad(x) + 1.0


def constant_slope(x, w):
    return x * df4(w)


class Layer:
    def __init__(self):
        self.W = np.array([1.0, 2.0, 3.0])


def loss(layer, x):
    return np.sum(layer.W * x)


def loss_of_list(params, x):
    return np.sum(params[0] * x)
"""


@pytest.fixture(scope="module")
def m(tmp_path_factory):
    module = write_module(tmp_path_factory.mktemp("nested"), "soundness_nested_module", SOURCE)
    yield module
    sys.modules.pop("soundness_nested_module", None)


# -- a gradient given to a gradient ---------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_grad_of_grad_raises_instead_of_giving_the_first_derivative(m, mode):
    # x**4 at 2: the second derivative is 48; the first, 32, came back before
    if mode == "tape":  # the tape computes it (tests/test_tape_higher_order.py)
        assert ag.grad(ag.grad(m.f4, mode=mode), mode=mode)(2.0) == 48.0
    else:
        with pytest.raises(NotImplementedError, match=rf"ag.grad was given f4 .*{HIGHER_ORDER}"):
            ag.grad(ag.grad(m.f4, mode=mode), mode=mode)
    with pytest.raises(NotImplementedError, match=HIGHER_ORDER):
        ag.grad(mode=mode)(ag.grad(m.f4))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "outer", [ag.grad, ag.value_and_grad, lambda g, mode: ag.vjp(g, 2.0, mode=mode)]
)
def test_every_pair_of_grad_value_and_grad_vjp(m, mode, outer):
    for inner in (ag.grad(m.f4), ag.value_and_grad(m.f4), functools.partial(ag.grad(m.f4))):
        with pytest.raises(NotImplementedError, match=HIGHER_ORDER):
            outer(inner, mode=mode)


@pytest.mark.parametrize("mode", MODES)
def test_a_pullback_given_to_grad(m, mode):
    _, pullback = ag.vjp(m.f4, 2.0)
    with pytest.raises(NotImplementedError, match=rf"ag.grad was given .*{HIGHER_ORDER}"):
        ag.grad(pullback, mode=mode)


# -- a function that calls a gradient -------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "name",
    [
        "calls_grad",
        "calls_value_and_grad",
        "calls_vjp",
        "calls_grad_made_inside",
        "calls_a_caller",
    ],
)
def test_grad_of_a_function_calling_a_gradient(m, mode, name):
    fun = getattr(m, name)
    with pytest.raises(NotImplementedError, match=HIGHER_ORDER):
        ag.grad(fun, mode=mode)(2.0)
    with pytest.raises(NotImplementedError, match=HIGHER_ORDER):
        ag.value_and_grad(fun, mode=mode)(2.0)
    with pytest.raises(NotImplementedError, match=HIGHER_ORDER):
        ag.vjp(fun, 2.0, mode=mode)[1](1.0)


def test_source_mode_names_the_line_calling_the_gradient(m):
    with pytest.raises(NotImplementedError) as info:
        ag.grad(m.calls_grad, mode="source")(2.0)
    message = str(info.value)
    assert "soundness_nested_module.py" in message and "return df4(x) * 2.0" in message
    assert "df4 is (or makes) a gradient" in message
    assert isinstance(info.value.__cause__, ag.TransformError)


@pytest.mark.parametrize("mode", MODES)
def test_a_gradient_of_a_constant_is_no_nesting(m, mode):
    # df4(w) does not depend on x: the gradient with respect to x is the number df4(w)
    try:
        got = ag.grad(m.constant_slope, mode=mode)(1.5, 2.0)
    except ag.TransformError as exc:
        # source mode may refuse an opaque call for reasons of its own, never higher order
        assert mode == "source" and "Higher-order" not in str(exc), str(exc)
        return
    assert_close(got, 32.0)
    assert_close(got, numeric_vjp(m.constant_slope, [1.5, 2.0], 0, 1.0))


def test_a_gradient_called_on_a_tensor_that_records():
    x = ag.tensor(2.0, requires_grad=True)
    with pytest.raises(NotImplementedError, match=r"t.detach\(\)"):
        ag.grad(lambda v: v**4)(x)
    with ag.no_grad():
        assert float(np.asarray(ag.grad(lambda v: v**4)(x))) == pytest.approx(32.0)
    assert float(np.asarray(ag.grad(lambda v: v**4)(x.detach()))) == pytest.approx(32.0)


def test_a_pullback_given_a_cotangent_that_records(m):
    _, pullback = ag.vjp(m.f4, 2.0)
    with pytest.raises(NotImplementedError, match="the pullback of f4 .*requires grad"):
        pullback(ag.tensor(1.0, requires_grad=True))


# -- objects under wrt ----------------------------------------------------------------------

OBJECTS = (
    r"cannot differentiate with respect to '{where}': it is a Layer object, and objects are "
    r"not differentiable yet. astgrad differentiates floats, float arrays, and tuples, lists "
    r"and dicts of them"
)


@pytest.mark.parametrize("mode", MODES)
def test_an_object_under_wrt_is_a_type_error_naming_it(m, mode):
    layer, x = m.Layer(), np.ones(3)
    message = OBJECTS.format(where="layer")
    with pytest.raises(TypeError, match=message):
        ag.grad(m.loss, mode=mode)(layer, x)
    with pytest.raises(TypeError, match=message):
        ag.value_and_grad(m.loss, wrt="layer", mode=mode)(layer, x)
    with pytest.raises(TypeError, match=message):
        ag.vjp(m.loss, layer, x, mode=mode)
    with pytest.raises(TypeError, match=OBJECTS.format(where=r"params\[1\]")):
        ag.grad(m.loss_of_list, mode=mode)([np.ones(3), layer], x)


@pytest.mark.parametrize("mode", ("auto", "tape"))
def test_an_object_that_is_not_differentiated_is_fine(m, mode):
    layer, x = m.Layer(), np.array([0.5, -1.0, 2.0])
    assert_close(ag.grad(m.loss, wrt="x", mode=mode)(layer, x), layer.W)

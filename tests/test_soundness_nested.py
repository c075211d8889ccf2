"""Nested differentiation and objects: a gradient of a gradient is the second derivative
(it gave the first, once) wherever the inner gradient is an ``ag.grad`` of one parameter,
in every mode and every way of nesting; the nestings astgrad cannot differentiate
(``value_and_grad`` or ``vjp`` inside, a partial) are a NotImplementedError that says so
and what to do; an object under ``wrt`` is a TypeError naming the argument (it got 0)."""

from __future__ import annotations

import functools
import sys

import numpy as np
import pytest
from modules import write_module
from numeric import assert_close, numeric_vjp

import astgrad as ag

MODES = ("source", "auto", "tape")
HIGHER_ORDER = r"This nesting of derivatives is not supported: astgrad differentiates a gradient"

SOURCE = """
import numpy as np
import astgrad as ag


def f4(x):
    return x ** 4


def f4_sum(x):
    return np.sum(x ** 4)


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
def test_grad_of_grad_is_the_second_derivative(m, mode):
    # x**4 at 2: the second derivative is 48; the first, 32, came back once
    assert ag.grad(ag.grad(m.f4, mode=mode), mode=mode)(2.0) == pytest.approx(48.0)
    assert ag.grad(mode=mode)(ag.grad(m.f4))(2.0) == pytest.approx(48.0)


@pytest.mark.parametrize("mode", MODES)
def test_every_pair_of_grad_value_and_grad_vjp(m, mode):
    inner = ag.grad(m.f4)
    assert ag.grad(inner, mode=mode)(2.0) == pytest.approx(48.0)
    value, second = ag.value_and_grad(inner, mode=mode)(2.0)
    assert (value, second) == (pytest.approx(32.0), pytest.approx(48.0))
    value, pullback = ag.vjp(inner, 2.0, mode=mode)
    assert value == pytest.approx(32.0) and pullback(1.0) == pytest.approx(48.0)
    # value_and_grad returns a pair, and a partial hides what it wraps: refused, said why
    for refused in (ag.value_and_grad(m.f4), functools.partial(ag.grad(m.f4))):
        for outer in (ag.grad, ag.value_and_grad):
            with pytest.raises(NotImplementedError, match=HIGHER_ORDER):
                outer(refused, mode=mode)
        with pytest.raises(NotImplementedError, match=HIGHER_ORDER):
            ag.vjp(refused, 2.0, mode=mode)


def test_a_gradient_on_the_tape_differentiated_in_auto_mode_runs_on_the_tape(m):
    """A gradient made with mode="tape" composes on the tape alone: an outer derivative in
    auto mode runs there (what auto does with what it cannot transform); in source mode
    it is refused, saying what to do."""
    inner = ag.grad(m.f4, mode="tape")
    assert ag.grad(inner)(2.0) == pytest.approx(48.0)
    value, pullback = ag.vjp(inner, 2.0)
    assert value == pytest.approx(32.0) and pullback(1.0) == pytest.approx(48.0)
    x = np.array([0.5, -1.0, 2.0])
    hessian = ag.jacobian(ag.grad(m.f4_sum, mode="tape"), mode="reverse")(x)
    assert_close(hessian, np.diag(12.0 * x**2))
    with pytest.raises(NotImplementedError, match=HIGHER_ORDER):
        ag.grad(inner, mode="source")


@pytest.mark.parametrize("mode", MODES)
def test_a_pullback_given_to_grad(m, mode):
    _, pullback = ag.vjp(m.f4, 2.0)
    with pytest.raises(NotImplementedError, match=rf"ag.grad was given .*{HIGHER_ORDER}"):
        ag.grad(pullback, mode=mode)


# -- a function that calls a gradient -------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "name, second",
    [
        ("calls_grad", 96.0),  # d/dx 2 * 4x**3 = 24x**2
        ("calls_a_caller", 96.0),
    ],
)
def test_grad_of_a_function_calling_a_gradient(m, mode, name, second):
    fun = getattr(m, name)
    assert ag.grad(fun, mode=mode)(2.0) == pytest.approx(second)
    assert ag.value_and_grad(fun, mode=mode)(2.0)[1] == pytest.approx(second)
    assert ag.vjp(fun, 2.0, mode=mode)[1](1.0) == pytest.approx(second)
    assert_close(ag.grad(fun, mode=mode)(2.0), numeric_vjp(fun, [2.0], 0, 1.0))


@pytest.mark.parametrize("mode", ("auto", "tape"))
def test_a_gradient_made_inside_on_the_tape(m, mode):
    # ag.grad(f4) made inside the function: the transform cannot resolve it (auto runs
    # the function on the tape), and the tape records the gradient's call as one node
    assert ag.grad(m.calls_grad_made_inside, mode=mode)(2.0) == pytest.approx(49.0)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["calls_value_and_grad", "calls_vjp"])
def test_nesting_without_a_rule_is_refused(m, mode, name):
    fun = getattr(m, name)
    with pytest.raises(NotImplementedError, match=HIGHER_ORDER):
        ag.grad(fun, mode=mode)(2.0)
    with pytest.raises(NotImplementedError, match=HIGHER_ORDER):
        ag.value_and_grad(fun, mode=mode)(2.0)


def test_source_mode_names_the_line_calling_the_gradient(m):
    with pytest.raises(NotImplementedError) as info:
        ag.grad(m.calls_value_and_grad, mode="source")(2.0)
    message = str(info.value)
    assert "soundness_nested_module.py" in message and "both4(x)" in message
    assert "both4 is (or makes) a gradient" in message
    assert isinstance(info.value.__cause__, ag.TransformError)


@pytest.mark.parametrize("mode", MODES)
def test_a_gradient_of_a_constant_is_no_nesting(m, mode):
    # df4(w) does not depend on x: the gradient with respect to x is the number df4(w)
    try:
        got = ag.grad(m.constant_slope, mode=mode)(1.5, 2.0)
    except ag.TransformError as exc:
        # source mode may refuse an opaque call for reasons of its own, never higher order
        assert mode == "source" and "nesting of derivatives" not in str(exc), str(exc)
        return
    assert_close(got, 32.0)
    assert_close(got, numeric_vjp(m.constant_slope, [1.5, 2.0], 0, 1.0))


def test_a_gradient_called_on_a_tensor_that_records(m):
    # The gradient's call is one node of the tape, whose backward is a Hessian-vector
    # product: the tensor's gradient is the second derivative.
    x = ag.tensor(2.0, requires_grad=True)
    slope = m.df4(x)
    assert slope.grad_fn is not None and float(slope.detach().numpy()) == pytest.approx(32.0)
    slope.backward()
    assert float(x.grad.numpy()) == pytest.approx(48.0)
    # value_and_grad's pair has no rule: refused, saying how to use the value alone
    with pytest.raises(NotImplementedError, match=r"t.detach\(\)"):
        m.both4(ag.tensor(2.0, requires_grad=True))
    with ag.no_grad():
        assert float(np.asarray(ag.grad(lambda v: v**4)(x))) == pytest.approx(32.0)
    assert float(np.asarray(ag.grad(lambda v: v**4)(x.detach()))) == pytest.approx(32.0)


def test_a_pullback_given_a_cotangent_that_records(m):
    _, pullback = ag.vjp(m.f4, 2.0)
    with pytest.raises(NotImplementedError, match="the pullback of f4 .*requires grad"):
        pullback(ag.tensor(1.0, requires_grad=True))


# -- objects under wrt ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_an_object_under_wrt_gets_a_gradient_of_its_class(m, mode):
    """(Issue 17: objects were refused here before; now their attributes get gradients.)"""
    layer, x = m.Layer(), np.array([0.5, -1.0, 2.0])
    gradient = ag.grad(m.loss, mode=mode)(layer, x)
    assert type(gradient) is m.Layer and gradient is not layer
    assert_close(gradient.W, x)
    value, gradient = ag.value_and_grad(m.loss, wrt="layer", mode=mode)(layer, x)
    assert_close(gradient.W, x)
    _, pullback = ag.vjp(m.loss, layer, x, mode=mode)
    assert_close(pullback().W, x)
    first, second = ag.grad(m.loss_of_list, mode=mode)([np.ones(3), layer], x)
    assert_close(first, x)
    assert type(second) is m.Layer
    assert_close(second.W, np.zeros(3))


@pytest.mark.parametrize("mode", ("auto", "tape"))
def test_an_object_that_is_not_differentiated_is_fine(m, mode):
    layer, x = m.Layer(), np.array([0.5, -1.0, 2.0])
    assert_close(ag.grad(m.loss, wrt="x", mode=mode)(layer, x), layer.W)

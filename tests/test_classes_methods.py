"""Methods as the functions to differentiate: bound methods (``wrt`` counted after
``self``), functions taken from the class (``self`` a parameter), and ``@ag.grad`` in a
class body, in every mode, against finite differences; ``ag.source``, ``ag.explain`` and
``ag.vjp`` accept them all."""

from __future__ import annotations

import numpy as np
import pytest
from numeric import assert_close, numeric_vjp

import astgrad as ag

MODES = ("source", "auto", "tape")


class Layer:
    def __init__(self, W, b):
        self.W = W
        self.b = b

    def loss(self, x, scale=1.0):
        h = np.tanh(self.W @ x + self.b)
        return scale * np.sum(h * h)

    @ag.grad(wrt="x")
    def loss_grad_x(self, x):
        h = np.tanh(self.W @ x + self.b)
        return np.sum(h * h)

    @ag.value_and_grad(wrt=("x", "scale"), mode="source")
    def both(self, x, scale):
        return scale * np.sum(np.sin(self.W @ x))


def _layer(seed=0):
    rng = np.random.default_rng(seed)
    return Layer(rng.normal(size=(3, 2)), rng.normal(size=3)), rng.normal(size=2)


def _expected_dx(layer, x, scale=1.0):
    return numeric_vjp(lambda x: layer.loss(x, scale), [x], 0, 1.0)


@pytest.mark.parametrize("mode", MODES)
def test_a_bound_method_counts_wrt_after_self(mode):
    layer, x = _layer()
    assert_close(ag.grad(layer.loss, mode=mode)(x), _expected_dx(layer, x))
    dx, dscale = ag.grad(layer.loss, wrt=(0, "scale"), mode=mode)(x, 2.0)
    assert_close(dx, _expected_dx(layer, x, 2.0))
    assert_close(dscale, layer.loss(x))
    assert_close(ag.grad(layer.loss, wrt=-1, mode=mode)(x, 2.0), layer.loss(x))


@pytest.mark.parametrize("mode", MODES)
def test_a_function_taken_from_the_class_counts_self(mode):
    layer, x = _layer(1)
    assert_close(ag.grad(Layer.loss, wrt=1, mode=mode)(layer, x), _expected_dx(layer, x))
    assert_close(ag.grad(Layer.loss, wrt="x", mode=mode)(layer, x), _expected_dx(layer, x))


def test_grad_in_a_class_body_binds_like_a_function():
    layer, x = _layer(2)
    assert_close(layer.loss_grad_x(x), _expected_dx(layer, x))
    assert_close(Layer.loss_grad_x(layer, x), _expected_dx(layer, x))
    value, (dx, dscale) = layer.both(x, 3.0)
    assert_close(value, 3.0 * np.sum(np.sin(layer.W @ x)))
    assert_close(dscale, np.sum(np.sin(layer.W @ x)))
    assert_close(
        dx, numeric_vjp(lambda x: layer.both.__func__.function(layer, x, 3.0), [x], 0, 1.0)
    )
    # Another object binds its own W and b.
    other, _ = _layer(3)
    assert_close(other.loss_grad_x(x), _expected_dx(other, x))


def test_source_and_explain_accept_methods():
    layer, x = _layer()
    text = ag.source(layer.loss)
    assert text.startswith("def loss_grad(self, x, scale=1.0):")
    assert "return mul_2, dx" in text or ", dx\n" in text
    assert ag.source(layer.loss, x) == ag.source(Layer.loss, layer, x, wrt="x")
    assert "def loss_grad_x_grad(self, x):" in ag.source(layer.loss_grad_x)
    for fun in (layer.loss, layer.loss_grad_x, layer.both):
        report = ag.explain(fun)
        assert report.mode == "source", str(report)
    assert ag.explain(layer.loss, x).mode == "source"
    assert ag.explain(Layer.loss, wrt="x").mode == "source"


def test_vjp_of_a_bound_method():
    layer, x = _layer()
    value, pullback = ag.vjp(layer.loss, x)
    assert_close(value, layer.loss(x))
    assert_close(pullback(), _expected_dx(layer, x))


def test_wrt_errors_name_the_method_parameters():
    layer, _ = _layer()
    with pytest.raises(ValueError, match=r"wrt='self' names the object Layer.loss is bound to"):
        ag.grad(layer.loss, wrt="self")
    with pytest.raises(ValueError, match=r"wrt=2 is out of range: Layer.loss has 2 positional"):
        ag.grad(layer.loss, wrt=2)
    report = ag.explain(layer.loss, wrt="self")
    assert report.mode == "error" and "bound to" in report.error


def test_the_bound_gradient_keeps_its_object():
    """As Python's bound method does: rebinding the class's method later changes neither."""
    layer, x = _layer()
    bound = layer.loss
    gradient = ag.grad(layer.loss, mode="source")
    before = gradient(x)
    layer.W = layer.W * 2.0  # the object's attributes are read on every call
    assert_close(gradient(x), _expected_dx(layer, x))
    assert not np.allclose(before, gradient(x))
    assert_close(gradient(x), ag.grad(bound, mode="tape")(x))


class _Scale:
    def __init__(self, w):
        self.w = w

    def __call__(self, x):
        return x * self.w


def _loss_of_model(model, x):
    return np.sum(model(x))


def test_source_without_arguments_says_to_pass_the_object():
    """Without example arguments ag.source cannot know a parameter's class: the error says
    to pass them, and with them the call on the object is generated source."""
    with pytest.raises(ag.TransformError) as caught:
        ag.source(_loss_of_model)
    message = str(caught.value)
    assert "_loss_of_model" in message and "model(x)" in message
    assert "pass example arguments (ag.source(f, model, ...)" in message
    model, x = _Scale(np.array([1.0, 2.0])), np.array([3.0, -1.0])
    source = ag.source(_loss_of_model, model, x)
    assert "Scale_call_forward" in source
    gradient = ag.grad(_loss_of_model, mode="source")(model, x)
    assert_close(gradient.w, x)


class _Accumulator:
    def __init__(self, w):
        self.w = w
        self.total = np.zeros(3)

    def deep(self, v, n):
        if n == 0:
            return v
        self.total = self.total + v * self.w
        return self.deep(v * 0.5, n - 1)


def _calls_a_recursive_method(x):
    accumulator = _Accumulator(x * 2.0)
    r = accumulator.deep(x, 2)
    return np.sum(r * x) + np.sum(accumulator.total)


def test_a_recursive_method_is_refused_in_source_and_right_on_the_tape():
    # (each call of the method was inlined again, without end: the first call hung)
    x = np.array([0.3, -0.5, 0.7])
    with pytest.raises(ag.TransformError, match="_Accumulator.deep calls itself"):
        ag.grad(_calls_a_recursive_method, mode="source")(x)
    assert ag.explain(_calls_a_recursive_method).mode == "tape"
    want = numeric_vjp(_calls_a_recursive_method, [x], 0, 1.0)
    for mode in ("auto", "tape"):
        got = ag.grad(_calls_a_recursive_method, mode=mode)(x)
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9)

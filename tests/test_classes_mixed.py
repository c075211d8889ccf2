"""Objects under ``wrt`` whose gradient comes from generated source and from calls run on
the tape at once (``mode="auto"``, "mixed"): generated code keeps an object's adjoint as a
dict of its fields', a call on the tape returns an object of its class, and the two are
added field by field. They raised ``TypeError: unsupported operand type(s) for +: 'Lin'
and 'dict'`` (a method the transform cannot read, or an instance attribute holding a
function, called next to attribute reads)."""

from __future__ import annotations

import numpy as np
import pytest
from numeric import assert_close, numeric_vjp

import astgrad as ag


class Layer:
    def __init__(self, W, inner=None):
        self.W = W
        self.inner = inner
        self.name = "layer"

    def __call__(self, x):
        return np.tanh(x @ self.W)

    def penalty(self):
        try:  # (not transformed: runs on the tape)
            return np.sum(self.W**2)
        except ValueError:
            return 0.0

    def scale(self):
        return 2.0


def read_and_tape_call(m, x):
    return np.sum(m(x)) + m.penalty()


def only_tape_call(m, x):
    return m.penalty() * np.sum(x)


def nested_object(m, x):
    return np.sum(m(x)) + m.inner.penalty() + np.sum(m.inner.W * 3.0)


def shadowing_attribute(m, x):
    return np.sum(m(x) * m.scale())


def _layer(rng, nested=False):
    inner = Layer(rng.normal(size=(2, 1))) if nested else None
    return Layer(rng.normal(size=(2, 1)), inner)


def _numeric(function, m, x, path):
    """Central differences of function along the array at attribute path of m."""
    owner = m
    for name in path[:-1]:
        owner = getattr(owner, name)
    base = getattr(owner, path[-1])

    def along(value):
        setattr(owner, path[-1], value)
        try:
            return function(m, x)
        finally:
            setattr(owner, path[-1], base)

    return numeric_vjp(along, [base.copy()], 0, 1.0)


@pytest.mark.parametrize("mode", ["auto", "tape"])
@pytest.mark.parametrize(
    "function", [read_and_tape_call, only_tape_call, nested_object, shadowing_attribute]
)
def test_matches_finite_differences(function, mode):
    rng = np.random.default_rng(0)
    m = _layer(rng, nested=function is nested_object)
    if function is shadowing_attribute:
        m.scale = lambda: 10.0  # an instance attribute holding a function shadows the method
    x = rng.normal(size=(3, 2))
    got = ag.grad(function, mode=mode)(m, x)
    assert type(got) is Layer and got.name is None
    assert_close(got.W, _numeric(function, m, x, ["W"]))
    if function is nested_object:
        assert type(got.inner) is Layer
        assert_close(got.inner.W, _numeric(function, m, x, ["inner", "W"]))
    if function is not nested_object:
        assert got.inner is None


def test_second_derivatives_refuse_objects_rather_than_give_zeros():
    """ag.hvp through an object gave zeros (its reverse-over-forward lost the tangent)."""
    rng = np.random.default_rng(1)
    m, x = _layer(rng), rng.normal(size=(3, 2))
    with pytest.raises(TypeError, match="^ag.hvp does not take objects yet, and argument 0"):
        ag.hvp(read_and_tape_call, (m, x), (m, None))
    with pytest.raises(TypeError, match="^ag.hvp does not take objects yet"):
        ag.hessian(lambda layer: np.sum(layer.W**3))(m)

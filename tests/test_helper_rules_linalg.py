"""Second derivatives through the linear-algebra helpers of generated gradient code (issue
16): each function here makes its generated gradient call one of them (``inner_grad_left``
for ``np.inner``, ``solve_adjoint`` for ``np.linalg.solve``...), and its Hessian,
Hessian-vector products and the gradient of a function that calls its gradient are checked
in every mode against central differences of the source-mode gradient, in float64.
"""

from __future__ import annotations

import numpy as np
import pytest

import astgrad as ag

EPS = 1e-6
MODES = ("source", "auto", "tape")


def _bend(y):
    return np.sum(np.sin(y) * y)


# -- products ---------------------------------------------------------------------------------


def through_inner(x):
    m = x.reshape(2, 3)
    return _bend(np.inner(np.sin(m), m))


def through_inner_vector(x):
    return _bend(np.inner(np.cos(x[:3]), x.reshape(2, 3)))


def through_tensordot(x):
    t = x.reshape(2, 3)
    return _bend(np.tensordot(np.tanh(t), t, axes=([0], [0])))


def through_tensordot_all(x):
    t = x.reshape(2, 3)
    return np.sin(np.tensordot(t * t, np.cos(t))) * np.sum(t)


def through_kron(x):
    return _bend(np.kron(x[:2], np.sin(x[2:])))


def through_kron_matrices(x):
    m = x.reshape(2, 3)
    return _bend(np.kron(m[:, :2], np.tanh(m)))


def through_cross(x):
    vectors = x.reshape(2, 3)
    return _bend(np.cross(np.sin(vectors), vectors[::-1]))


def through_cross_axes(x):
    vectors = x.reshape(3, 2)
    return _bend(np.cross(vectors, np.cos(vectors), axisa=0, axisb=0, axisc=0))


#: name -> (function, the size of its one argument)
TABLE = {
    "inner": (through_inner, 6),
    "inner_vector": (through_inner_vector, 6),
    "tensordot": (through_tensordot, 6),
    "tensordot_all": (through_tensordot_all, 6),
    "kron": (through_kron, 5),
    "kron_matrices": (through_kron_matrices, 6),
    "cross": (through_cross, 6),
    "cross_axes": (through_cross_axes, 6),
}

#: the helper each function's generated gradient calls
HELPERS = {
    "inner": "inner_grad_left",
    "inner_vector": "inner_grad_right",
    "tensordot": "tensordot_grad_left",
    "tensordot_all": "tensordot_grad_right",
    "kron": "kron_grad_left",
    "kron_matrices": "kron_grad_right",
    "cross": "cross_grad",
    "cross_axes": "cross_grad",
}


def _point(name):
    function, size = TABLE[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    return function, rng.uniform(-0.9, 0.9, size), rng


def _gradient_differences(function, x):
    """The Hessian by central differences of the source-mode gradient, one column per
    element of x."""
    gradient = ag.grad(function, mode="source")
    columns = []
    for e in np.eye(np.size(x)):
        columns.append((gradient(x + EPS * e) - gradient(x - EPS * e)) / (2 * EPS))
    return np.stack(columns, axis=-1)


@pytest.mark.parametrize("name", sorted(TABLE))
def test_the_generated_gradient_calls_the_helper(name):
    function, x, _ = _point(name)
    assert HELPERS[name] + "(" in ag.source(function, x)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(TABLE))
def test_hessian_matches_differences_of_the_gradient(name, mode):
    function, x, _ = _point(name)
    expected = _gradient_differences(function, x)
    got = ag.hessian(function, mode=mode)(x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(TABLE))
def test_hvp_matches_differences_of_the_gradient(name, mode):
    function, x, rng = _point(name)
    v = rng.standard_normal(np.size(x))
    gradient = ag.grad(function, mode="source")
    expected = (gradient(x + EPS * v) - gradient(x - EPS * v)) / (2 * EPS)
    got = ag.hvp(function, (x,), (v,), mode=mode)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


def _slope(first, direction):
    """``x -> <first(x), direction>``: a function that calls a gradient, whose own gradient
    is the Hessian times ``direction`` (the generated gradient code is transformed again)."""

    def slope(x):
        return np.sum(first(x) * direction)

    return slope


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(TABLE))
def test_grad_of_grad_matches_differences_of_the_gradient(name, mode):
    function, x, rng = _point(name)
    direction = rng.standard_normal(np.size(x))
    expected = _gradient_differences(function, x) @ direction
    got = ag.grad(_slope(ag.grad(function, mode=mode), direction), mode=mode)(x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)

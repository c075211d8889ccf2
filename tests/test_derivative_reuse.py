"""ag.jvp and ag.hvp reach a derivative they found before without their checks and
look-ups (astgrad/forward.py ``_ready``, astgrad/higher.py ``_ready_hvp``): the second
call must give what the first gives, against finite differences, and everything the
checks decide (a rebound global, other kinds of arguments, a gradient, a non-scalar
function, a tangent of another dtype) must still be decided on every call."""

from __future__ import annotations

import numpy as np
import pytest

import astgrad as ag


def _cube(y):
    return y**3


def _square(y):
    return y**2


power_of = _cube  # the generated code calls the derivative of what it is bound to


def scaled_cubes(x, w):
    return np.sum(2.0 * power_of(np.tanh(x * w)))


def _directional(f, args, tangents, eps=1e-6):
    """d/de f(args + e * tangents) by central differences."""
    up = f(*[a + eps * t if t is not None else a for a, t in zip(args, tangents)])
    down = f(*[a - eps * t if t is not None else a for a, t in zip(args, tangents)])
    return (np.asarray(up) - np.asarray(down)) / (2 * eps)


def _hvp_numeric(f, args, position, direction, eps=1e-4):
    """Central differences of the tape's gradient along ``direction``."""

    def gradient_at(step):
        moved = list(args)
        moved[position] = args[position] + step * direction
        return ag.grad(f, wrt=position, mode="tape")(*moved)

    return (gradient_at(eps) - gradient_at(-eps)) / (2 * eps)


@pytest.mark.parametrize("mode", ["source", "auto"])
def test_jvp_again_and_after_a_global_is_rebound(mode):
    global power_of
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal(4), rng.standard_normal(4)
    t = rng.standard_normal(4)
    first = ag.jvp(scaled_cubes, (x, w), (t, None), mode=mode)
    again = ag.jvp(scaled_cubes, (x, w), (t, None), mode=mode)
    assert np.array_equal(first[1], again[1]) and first[0] == again[0]
    np.testing.assert_allclose(again[1], _directional(scaled_cubes, (x, w), (t, None)), rtol=1e-6)
    power_of = _square  # the derivative's guard no longer holds: it must be made again
    try:
        value, tangent = ag.jvp(scaled_cubes, (x, w), (t, None), mode=mode)
        np.testing.assert_allclose(value, scaled_cubes(x, w))
        np.testing.assert_allclose(
            tangent, _directional(scaled_cubes, (x, w), (t, None)), rtol=1e-6
        )
    finally:
        power_of = _cube


def test_jvp_other_arguments_after_a_reused_one():
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal(3), rng.standard_normal(3)
    t, s = rng.standard_normal(3), rng.standard_normal(3)
    ag.jvp(scaled_cubes, (x, w), (t, None), mode="source")
    # Both moving, a matrix, a float32 tangent, a list: each its own derivative or checks.
    _, both = ag.jvp(scaled_cubes, (x, w), (t, s), mode="source")
    np.testing.assert_allclose(both, _directional(scaled_cubes, (x, w), (t, s)), rtol=1e-6)
    X, T = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    _, matrix = ag.jvp(scaled_cubes, (X, w), (T, None), mode="source")
    np.testing.assert_allclose(matrix, _directional(scaled_cubes, (X, w), (T, None)), rtol=1e-6)
    _, narrow = ag.jvp(scaled_cubes, (x, w), (t.astype(np.float32), None), mode="source")
    np.testing.assert_allclose(narrow, _directional(scaled_cubes, (x, w), (t, None)), rtol=1e-5)
    _, listed = ag.jvp(scaled_cubes, [x, w], [t, None], mode="source")
    np.testing.assert_allclose(listed, _directional(scaled_cubes, (x, w), (t, None)), rtol=1e-6)
    with pytest.raises(ValueError, match="has shape"):
        ag.jvp(scaled_cubes, (x, w), (t[:2], None), mode="source")


@pytest.mark.parametrize("mode", ["source", "auto"])
def test_hvp_again_and_after_a_global_is_rebound(mode):
    global power_of
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal(3), rng.standard_normal(3)
    v = rng.standard_normal(3)
    first = ag.hvp(scaled_cubes, (x, w), (v, None), mode=mode)
    again = ag.hvp(scaled_cubes, (x, w), (v, None), mode=mode)
    assert np.array_equal(first, again)
    np.testing.assert_allclose(
        again, _hvp_numeric(scaled_cubes, [x, w], 0, v), rtol=1e-6, atol=1e-9
    )
    power_of = _square
    try:
        product = ag.hvp(scaled_cubes, (x, w), (v, None), mode=mode)
        np.testing.assert_allclose(
            product, _hvp_numeric(scaled_cubes, [x, w], 0, v), rtol=1e-6, atol=1e-9
        )
    finally:
        power_of = _cube


def test_hvp_checks_hold_on_every_call():
    x = np.array([0.5, -1.0])

    def rows(x):
        return x**2

    for _ in range(2):  # the second call finds the derivative made by the first
        with pytest.raises(ValueError, match="needs a scalar function"):
            ag.hvp(rows, (x,), (np.ones(2),), mode="source")
    ag.hvp(scaled_cubes, (x, x), (np.ones(2), None), mode="source")
    with pytest.raises(ValueError, match="every tangent is None"):
        ag.hvp(scaled_cubes, (x, x), (None, None), mode="source")
    with pytest.raises(ValueError, match="mode must be"):
        ag.hvp(scaled_cubes, (x, x), (np.ones(2), None), mode="fast")
    gradient = ag.grad(scaled_cubes)
    with pytest.raises(NotImplementedError, match="third"):
        ag.hvp(gradient, (x, x), (np.ones(2), None))

"""Classes of another module (issue 17): the function differentiated here uses classes
and functions of ``programs_classes``; their methods, constructors and classmethods run
inline as they do for classes of its own module, with the names they read from their
module read through it (live, as they read them): generated source, every mode against
finite differences."""

from __future__ import annotations

import copy

import numpy as np
import programs_classes
import pytest
from numeric import assert_close, numeric_vjp
from programs_classes import Affine, Coefficients, Damped, Normalized, advance

import astgrad as ag

MODES = ("source", "auto", "tape")


def moves(p, dt):
    p.step(dt)
    advance(p, dt)
    p.damp()
    return np.sum(p.x**2) + np.sum(p.v**2)


def builds(W, x):
    layer = Affine.from_weights(W)
    norm = Normalized(W, np.ones(W.shape[0]))
    c = Coefficients(W[0] * 2.0)
    return np.sum(np.tanh(layer(x)) * norm(x)) + np.sum(c.a * c.c)


def _particle():
    return Damped(np.array([1.0, -0.5, 2.0]), np.array([0.3, 0.2, -1.0]))


@pytest.mark.parametrize("mode", MODES)
def test_methods_and_functions_of_another_module(mode):
    p, dt = _particle(), 0.1
    python = copy.deepcopy(p)
    expected_value = moves(python, dt)
    ours = copy.deepcopy(p)
    value, (dp, ddt) = ag.value_and_grad(moves, wrt=(0, 1), mode=mode)(ours, dt)
    assert_close(value, expected_value)
    assert_close(ours.x, python.x) and assert_close(ours.v, python.v)
    for name in ("x", "v"):

        def along(value, name=name):
            fresh = copy.deepcopy(p)
            setattr(fresh, name, value)
            return moves(fresh, dt)

        assert_close(getattr(dp, name), numeric_vjp(along, [getattr(p, name)], 0, 1.0))
    assert_close(ddt, numeric_vjp(lambda t: moves(copy.deepcopy(p), t), [dt], 0, 1.0))


@pytest.mark.parametrize("mode", MODES)
def test_constructors_of_another_module(mode):
    rng = np.random.default_rng(0)
    W, x = rng.normal(size=(2, 3)), rng.normal(size=3)
    expected = numeric_vjp(lambda w: builds(w, x), [W], 0, 1.0)
    assert_close(ag.grad(builds, mode=mode)(W, x), expected)


def test_they_are_generated_source():
    assert ag.explain(moves, _particle(), 0.1, wrt=(0, 1)).mode == "source"
    assert ag.explain(builds, np.ones((2, 3)), np.ones(3)).mode == "source"
    text = ag.source(moves, _particle(), 0.1, wrt=(0, 1))
    assert "programs_classes.DAMPING" in text  # (read through its module, live)
    assert "programs_classes.np.sqrt" in ag.source(builds, np.ones((2, 3)), np.ones(3))


def test_a_global_of_their_module_is_read_live():
    p = _particle()
    gradient = ag.grad(moves, mode="source")
    before = gradient(copy.deepcopy(p), 0.1)
    programs_classes.DAMPING = 0.5
    try:
        got = gradient(copy.deepcopy(p), 0.1)

        def along(v):
            fresh = copy.deepcopy(p)
            fresh.v = v
            return moves(fresh, 0.1)

        assert_close(got.v, numeric_vjp(along, [p.v], 0, 1.0))
        assert not np.allclose(got.v, before.v)
    finally:
        programs_classes.DAMPING = 0.9


def spreads(p):
    p.spread()  # (Damped.spread calls len)
    return np.sum(p.x**2)


def test_a_builtin_the_caller_s_module_shadows_is_not_inlined(monkeypatch):
    """Inlined here, their `len` would be this module's: the call stays a call."""
    p = _particle()
    assert ag.explain(spreads, p).mode == "source"
    monkeypatch.setitem(globals(), "len", lambda s: 1)
    assert ag.explain(spreads, p).mode == "tape"
    got = ag.grad(spreads, mode="auto")(copy.deepcopy(p))
    assert_close(got.x, 2 * p.x / 9.0)  # (their len: 3)
    with pytest.raises(ag.TransformError):
        ag.grad(spreads, mode="source")(copy.deepcopy(p))

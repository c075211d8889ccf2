"""Forward mode (``ag.jvp``) through objects as generated source (issue 17): an object's
tangent is an object of its class whose float attributes hold their tangents (None or
missing: none); attribute reads, method calls, objects made inside and attributes
assigned (a particle's ``step()``, which moves the caller's particle as Python does)
are generated source, checked against the tape and finite differences."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from astgrad.runtime.objects import SharedObjectError
from numeric import assert_close

import astgrad as ag

MODES = ("source", "auto", "tape")


class Layer:
    def __init__(self, W, b):
        self.W = W
        self.b = b
        self.name = "layer"

    def __call__(self, x):
        return np.tanh(self.W @ x + self.b)


class Model:
    def __init__(self, first, second):
        self.first = first
        self.second = second

    def __call__(self, x):
        return self.second(self.first(x))


class Particle:
    def __init__(self, x, v):
        self.x = x
        self.v = v

    def step(self, dt):
        self.v = self.v - dt * self.x
        self.x = self.x + dt * self.v


def model_loss(model, x):
    return np.sum(model(x) ** 2)


def simulate(p, dt):
    for _ in range(4):
        p.step(dt)
    return np.sum(p.x**2) + np.sum(p.v)


def built_inside(W, x):
    layer = Layer(W * 2.0, np.zeros(W.shape[0]))
    layer.b = layer.b + 0.5
    return np.sum(layer(x))


def _model(rng):
    return Model(
        Layer(rng.normal(size=(3, 2)), rng.normal(size=3)),
        Layer(rng.normal(size=(2, 3)), rng.normal(size=2)),
    )


def _along(function, primals, tangents, eps=1e-6):
    """Central differences of ``function`` along the tangents (objects moved attribute by
    attribute)."""

    def moved(sign):
        out = []
        for primal, tangent in zip(primals, tangents):
            primal = copy.deepcopy(primal)
            if tangent is None:
                out.append(primal)
            elif isinstance(tangent, (float, np.ndarray)):
                out.append(primal + sign * eps * tangent)
            else:
                out.append(_moved_object(primal, tangent, sign * eps))
        return function(*out)

    return (moved(1) - moved(-1)) / (2 * eps)


def _moved_object(primal, tangent, step):
    for name, value in vars(tangent).items():
        if isinstance(value, (float, np.ndarray)):
            setattr(primal, name, getattr(primal, name) + step * value)
        elif hasattr(value, "__dict__"):
            setattr(primal, name, _moved_object(getattr(primal, name), value, step))
    return primal


def _cases():
    rng = np.random.default_rng(0)
    model, x = _model(rng), rng.normal(size=2)
    direction = copy.deepcopy(model)
    direction.first = Layer(rng.normal(size=(3, 2)), np.zeros(3))
    direction.second = Layer(rng.normal(size=(2, 3)), rng.normal(size=2))
    yield "model", model_loss, (model, x), (direction, rng.normal(size=2))
    particle = Particle(rng.normal(size=3), rng.normal(size=3))
    yield "particle", simulate, (particle, 0.1), (Particle(rng.normal(size=3), np.zeros(3)), 1.0)
    W = rng.normal(size=(2, 3))
    yield "made inside", built_inside, (W, rng.normal(size=3)), (rng.normal(size=(2, 3)), None)


CASES = list(_cases())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name, function, primals, tangents", CASES, ids=[c[0] for c in CASES])
def test_against_finite_differences(name, function, primals, tangents, mode):
    ours = copy.deepcopy(primals)
    python = copy.deepcopy(primals)
    value, tangent = ag.jvp(function, ours, copy.deepcopy(tangents), mode=mode)
    assert_close(value, function(*python))
    assert_close(tangent, _along(function, primals, tangents), rtol=1e-5, atol=1e-7)
    if name == "particle" and mode != "tape":  # the caller's particle moved, as in Python
        # (ag.jvp on the tape runs the function on a copy of it: left as it was)
        assert_close(ours[0].x, python[0].x)
        assert_close(ours[0].v, python[0].v)


@pytest.mark.parametrize("name, function, primals, tangents", CASES, ids=[c[0] for c in CASES])
def test_generated_source_throughout(name, function, primals, tangents):
    moving = [i for i, t in enumerate(tangents) if t is not None]
    value, tangent = ag.jvp(function, copy.deepcopy(primals), tangents, mode="source")
    assert np.isfinite(tangent)
    text = ag.source(function, *primals, wrt=tuple(moving), forward=True)
    assert "tape_jvp" not in text


def test_an_attribute_without_a_tangent_is_still():
    """In generated code None (or a missing attribute) is a zero tangent."""
    particle = Particle(np.array([1.0, 2.0]), np.array([0.5, -0.5]))
    expected = _along(simulate, (particle, 0.1), (Particle(np.ones(2), np.zeros(2)), None))
    _, got = ag.jvp(simulate, (copy.deepcopy(particle), 0.1), (Particle(np.ones(2), None), None))
    assert_close(got, expected, rtol=1e-5)


def test_the_tangent_object_is_not_changed():
    particle, direction = Particle(np.ones(2), np.ones(2)), Particle(np.ones(2), np.zeros(2))
    ag.jvp(simulate, (particle, 0.1), (direction, None), mode="source")
    assert_close(direction.x, np.ones(2)) and assert_close(direction.v, np.zeros(2))


def test_methods_are_named_after_their_class():
    text = ag.source(model_loss, *CASES[0][2], forward=True)
    assert "def Model_call_jvp(self, x, *, dself" in text
    assert "def Layer_call_jvp(self, x, *, dself" in text


def reads_through_another(p, q, dt):
    p.step(dt)
    return np.sum(q.x)


def test_an_object_reached_twice_goes_to_the_tape():
    p = Particle(np.array([1.0, 2.0]), np.array([0.5, 0.5]))
    direction = Particle(np.ones(2), np.zeros(2))
    expected = _along(reads_through_another, (p, p, 0.1), (direction, None, None))
    with pytest.raises(SharedObjectError):
        ag.jvp(reads_through_another, (p, p, 0.1), (direction, None, None), mode="source")
    q = copy.deepcopy(p)
    _, tangent = ag.jvp(reads_through_another, (q, q, 0.1), (direction, None, None))
    assert_close(tangent, expected, rtol=1e-5)

"""A list of objects given as an argument whose items' attributes the function assigns
(issue 17): ``for p in particles: p.step(dt)``, the particle simulation written the way
scientists write it. Generated code loops over indices and puts each changed item back
into its slot (``ps[index] = p``: the same object, so nothing changes in Python), so a
later read of the list passes its gradient through the change. A check first thing
(``unshared_object(..., items=True)``) finds each item an object of its own reached by
its slot alone; otherwise (``[p, p]``, an item held by another argument, a global or
another item) ``mode="auto"`` runs on the tape and ``mode="source"`` raises
``SharedObjectError``. Every mode against finite differences and Python's final state."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from astgrad.runtime.objects import SharedObjectError
from numeric import assert_close, numeric_vjp

import astgrad as ag

MODES = ("source", "auto", "tape")


class Particle:
    def __init__(self, x, v, m):
        self.x = x
        self.v = v
        self.m = m
        self.tag = "p"

    def step(self, dt, force):
        self.v = self.v + dt * force / self.m
        self.x = self.x + dt * self.v


def simulate(particles, dt):
    for _ in range(3):
        center = sum(p.x for p in particles) / len(particles)
        for p in particles:
            p.step(dt, center - p.x)  # (pulled to the center of all of them)
    return sum(np.sum(p.x**2) + p.m * np.sum(p.v**2) for p in particles)


def damp(particles, w):
    for p in particles:
        p.v = p.v * w  # (assigned directly in the loop)
    total = 0.0
    for p in particles:
        total = total + np.sum(p.v * p.x)
    return total


def leader(particles, dt):
    for p in particles:
        p.x = p.x + dt * (particles[0].x - p.x)  # reads the first, changed by then
    return np.sum(particles[-1].x ** 2) + np.sum(particles[0].x)


def _particles(rng, n=3):
    return [Particle(rng.normal(size=2), rng.normal(size=2), 1.0 + i) for i in range(n)]


def _leaves(particles):
    for i in range(len(particles)):
        for name in ("x", "v", "m"):
            yield i, name


def _reference(function, args, i, name):
    def along(value):
        fresh = copy.deepcopy(list(args))
        setattr(fresh[0][i], name, value)
        return function(*fresh)

    return numeric_vjp(along, [np.array(getattr(args[0][i], name), dtype=float)], 0, 1.0)


CASES = [(simulate, 0.1), (damp, 0.7), (leader, 0.3)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("function, second", CASES, ids=[c[0].__name__ for c in CASES])
def test_against_finite_differences_and_python(function, second, mode):
    args = (_particles(np.random.default_rng(0)), second)
    python = copy.deepcopy(args)
    expected = function(*python)
    ours = copy.deepcopy(args)
    items = list(ours[0])
    value, (gradient, dsecond) = ag.value_and_grad(function, wrt=(0, 1), mode=mode)(*ours)
    assert_close(value, expected)
    assert all(a is b for a, b in zip(ours[0], items))  # the same objects, in their slots
    for got, want in zip(ours[0], python[0]):  # each moved as Python moves it
        for name in ("x", "v"):
            assert type(getattr(got, name)) is np.ndarray
            assert_close(getattr(got, name), getattr(want, name), what=name)
    assert type(gradient) is list and len(gradient) == len(args[0])
    for i, name in _leaves(args[0]):
        assert type(gradient[i]) is Particle and gradient[i].tag is None
        assert_close(getattr(gradient[i], name), _reference(function, args, i, name),
                     rtol=1e-4, atol=1e-6, what=f"[{i}].{name}")  # fmt: skip
    reference = numeric_vjp(lambda t: function(copy.deepcopy(args[0]), t), [second], 0, 1.0)
    assert_close(dsecond, reference, rtol=1e-4, atol=1e-6)
    if mode == "source":
        assert ag.explain(function, *args, wrt=(0, 1)).mode == "source"


@pytest.mark.parametrize("function, second", CASES, ids=[c[0].__name__ for c in CASES])
def test_forward_mode(function, second):
    args = (_particles(np.random.default_rng(1)), second)
    rng = np.random.default_rng(2)
    direction = copy.deepcopy(args[0])
    for p in direction:
        p.x, p.v, p.m = rng.normal(size=2), rng.normal(size=2), rng.normal()
    _, tangent = ag.jvp(function, copy.deepcopy(args), (direction, 0.0), mode="source")
    expected = sum(
        np.sum(_reference(function, args, i, name) * getattr(direction[i], name))
        for i, name in _leaves(args[0])
    )
    assert_close(tangent, expected, rtol=1e-4, atol=1e-6)


def test_each_change_is_put_back_and_the_list_checked_first():
    text = ag.source(damp, _particles(np.random.default_rng(0)), 0.7, wrt=(0, 1))
    lines = [line.strip() for line in text.splitlines()]
    assert lines.index("unshared_object(('particles',), particles, items=True)") < next(
        i for i, line in enumerate(lines) if line.startswith("for ")
    )
    changed = lines.index("p = set_field(p, 'v', p_v * w)")
    assert lines[changed + 1].startswith("particles[index") and lines[changed + 1].endswith("= p")
    assert "saved_item" not in text and "restore_item" not in text  # (the same object)


# -- hostile ------------------------------------------------------------------------------

SHARED = {}


def with_another_argument(particles, q, w):
    for p in particles:
        p.v = p.v * w
    return np.sum(q.v) + np.sum(particles[1].v)  # q may be an item


def reading_a_global(particles, w):
    for p in particles:
        p.v = p.v * w
    return np.sum(SHARED["p"].v) + np.sum(particles[0].v)


def _fresh(kind):
    rng = np.random.default_rng(3)
    a, b = _particles(rng, 2)
    SHARED["p"] = a
    if kind == "twice":
        return damp, ([a, a], 0.7)
    if kind == "argument":
        return with_another_argument, ([a, b], a, 0.7)
    if kind == "global":
        return reading_a_global, ([a, b], 0.7)
    a.group, b.group = [b], [a]  # each item holding the other
    return damp, ([a, b], 0.7)


@pytest.mark.parametrize("kind", ["twice", "argument", "global", "another item"])
def test_an_item_reached_another_way_goes_to_the_tape(kind):
    try:
        function, args = _fresh(kind)
        before = [p.v.copy() for p in args[0]]
        with pytest.raises(SharedObjectError, match="holds the same object"):
            ag.grad(function, wrt=-1, mode="source")(*args)
        assert all(np.array_equal(p.v, v) for p, v in zip(args[0], before))  # nothing ran
        expected = function(*_fresh(kind)[1])
        for mode in ("auto", "tape"):
            value, dw = ag.value_and_grad(function, wrt=-1, mode=mode)(*_fresh(kind)[1])
            assert_close(value, expected)

            def along(w):
                fresh = list(_fresh(kind)[1])
                fresh[-1] = w
                return function(*fresh)

            assert_close(dw, numeric_vjp(along, [0.7], 0, 1.0), rtol=1e-4, atol=1e-6)
    finally:
        SHARED.clear()


def rebinds_the_item(particles, w):
    for p in particles:
        p = Particle(p.x * w, p.v, p.m)
        p.step(0.1, p.x)
    return sum(np.sum(p.x) for p in particles)


def an_item_of_an_attribute(model, w):
    for i in range(len(model.layers)):
        model.layers[i].x = model.layers[i].x * w
    return sum(np.sum(p.x) for p in model.layers)


class Holder:
    def __init__(self, layers):
        self.layers = layers


@pytest.mark.parametrize("mode", MODES)
def test_an_item_of_a_list_an_argument_holds(mode):
    def make():
        return Holder(_particles(np.random.default_rng(4)))

    holder, python = make(), make()
    got = ag.grad(an_item_of_an_attribute, wrt=1, mode=mode)(holder, 0.5)
    an_item_of_an_attribute(python, 0.5)
    for ours, theirs in zip(holder.layers, python.layers):
        assert_close(ours.x, theirs.x)
    reference = numeric_vjp(lambda w: an_item_of_an_attribute(make(), w), [0.5], 0, 1.0)
    assert_close(got, reference, rtol=1e-4)
    if mode == "source":
        assert ag.explain(an_item_of_an_attribute, make(), 0.5, wrt=1).mode == "source"


@pytest.mark.parametrize(
    "function, make",
    [(rebinds_the_item, lambda: _particles(np.random.default_rng(4)))],
    ids=["p rebound in the loop"],
)
def test_what_stays_on_the_tape(function, make):
    with pytest.raises(ag.TransformError):
        ag.grad(function, wrt=1, mode="source")(make(), 0.5)
    got = ag.grad(function, wrt=1, mode="auto")(make(), 0.5)
    assert_close(got, numeric_vjp(lambda w: function(make(), w), [0.5], 0, 1.0), rtol=1e-4)


def tags_each(particles, w):
    for p in particles:
        p.x = p.x * w
        p.seen = p.x * 2.0  # an attribute the function adds
    return sum(np.sum(p.seen) for p in particles)


@pytest.mark.parametrize("mode", MODES)
def test_the_gradient_has_the_form_the_items_had_at_entry(mode):
    particles = _particles(np.random.default_rng(5), 2)
    gradient, dw = ag.grad(tags_each, wrt=(0, 1), mode=mode)(particles, 1.5)
    assert all(type(p.seen) is np.ndarray for p in particles)  # as Python leaves them
    for item in gradient:
        assert set(vars(item)) == {"x", "v", "m", "tag"}  # no gradient for `seen`
        assert_close(item.x, 2.0 * 1.5 * np.ones(2))
        assert_close(item.v, np.zeros(2))
    expected = sum(2.0 * np.sum(p.x) for p in _particles(np.random.default_rng(5), 2))
    assert_close(dw, expected)


def nbody(particles, dt):
    for p in particles:
        force = 0.0
        for q in particles:  # (q is p once: read only, before p changes)
            force = force + (q.x - p.x)
        p.v = p.v + dt * force
        p.x = p.x + dt * p.v
    return sum(np.sum(p.x**2) for p in particles)


def stops_early(particles, w):
    for p in particles:
        p.x = p.x * w
        if np.sum(p.x) > 1.0:
            break
    return np.sum(p.x**2) + np.sum(particles[0].x)  # the loop variable after the loop


def reads_an_alias_after_the_change(particles, dt):
    for p in particles:
        for q in particles:
            p.v = p.v + dt * (q.x - p.x)
            p.x = p.x + dt * q.v  # q may be p, whose v just changed
    return sum(np.sum(p.x**2) for p in particles)


def _spread():
    rng = np.random.default_rng(6)
    return [Particle(np.array([0.4, 0.3]) * (i + 1), rng.normal(size=2), 1.0) for i in range(3)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("function", [nbody, stops_early], ids=["n-body", "break"])
def test_more_loops(function, mode):
    args = (_spread(), 0.9)
    gradient, dsecond = ag.grad(function, wrt=(0, 1), mode=mode)(*copy.deepcopy(args))
    for i, name in _leaves(args[0]):
        assert_close(getattr(gradient[i], name), _reference(function, args, i, name),
                     rtol=1e-4, atol=1e-6, what=f"[{i}].{name}")  # fmt: skip
    reference = numeric_vjp(lambda t: function(copy.deepcopy(args[0]), t), [0.9], 0, 1.0)
    assert_close(dsecond, reference, rtol=1e-4, atol=1e-6)
    if mode == "source":
        assert ag.explain(function, *args, wrt=(0, 1)).mode == "source"


def test_an_alias_read_after_the_change_is_refused():
    args = (_spread(), 0.1)
    with pytest.raises(ag.TransformError, match="`q`, read later, may share its memory"):
        ag.grad(reads_an_alias_after_the_change, wrt=(0, 1), mode="source")(*args)
    got = ag.grad(reads_an_alias_after_the_change, wrt=1, mode="auto")(*copy.deepcopy(args))
    function = reads_an_alias_after_the_change
    reference = numeric_vjp(lambda t: function(copy.deepcopy(args[0]), t), [0.1], 0, 1.0)
    assert_close(got, reference, rtol=1e-4, atol=1e-6)


def test_vjp_of_a_simulation():
    args = (_particles(np.random.default_rng(8)), 0.1)
    value, pullback = ag.vjp(simulate, copy.deepcopy(args[0]), 0.1, wrt=(0, 1))
    assert_close(value, simulate(*copy.deepcopy(args)))
    gradient, ddt = pullback()
    for i, name in _leaves(args[0]):
        assert_close(getattr(gradient[i], name), _reference(simulate, args, i, name),
                     rtol=1e-4, atol=1e-6)  # fmt: skip
    assert_close(ddt, numeric_vjp(lambda t: simulate(copy.deepcopy(args[0]), t), [0.1], 0, 1))


def by_index(particles, dt):
    for _ in range(3):
        for i in range(len(particles)):
            p_x = particles[i].x  # (a local read of the item's attribute: an array)
            particles[i].v = particles[i].v - dt * (p_x - particles[0].x)
            particles[i].x = particles[i].x + dt * particles[i].v
    return sum(np.sum(p.x**2) for p in particles)


@pytest.mark.parametrize("mode", MODES)
def test_items_assigned_by_index(mode):
    args = (_spread(), 0.1)
    ours, python = copy.deepcopy(args[0]), copy.deepcopy(args[0])
    items = list(ours)
    gradient, ddt = ag.grad(by_index, wrt=(0, 1), mode=mode)(ours, 0.1)
    by_index(python, 0.1)
    assert all(a is b for a, b in zip(ours, items))
    for got, want in zip(ours, python):
        assert_close(got.x, want.x) and assert_close(got.v, want.v)
    for i, name in _leaves(args[0]):
        assert_close(getattr(gradient[i], name), _reference(by_index, args, i, name),
                     rtol=1e-4, atol=1e-6)  # fmt: skip
    assert_close(ddt, numeric_vjp(lambda t: by_index(copy.deepcopy(args[0]), t), [0.1], 0, 1))
    if mode == "source":
        assert ag.explain(by_index, *args, wrt=(0, 1)).mode == "source"
        twice = Particle(np.ones(2), np.ones(2), 1.0)
        with pytest.raises(SharedObjectError, match=r"particles\[1\]"):
            ag.grad(by_index, wrt=(0, 1), mode="source")([twice, twice], 0.1)


class Stepper(Particle):
    def walk(self, dt):
        i = 2.0  # (a local named as the caller's index: the call stays a call)
        self.x = self.x + dt * i * self.v


def steps_by_index(particles, dt):
    for _ in range(2):
        for i in range(len(particles)):
            particles[i].step(dt, particles[0].x - particles[i].x)
    return sum(np.sum(p.x**2) + np.sum(p.v) for p in particles)


def walks_by_index(particles, dt):
    for i in range(len(particles)):
        particles[i].walk(dt)
    return sum(np.sum(p.x**2) for p in particles)


@pytest.mark.parametrize("mode", MODES)
def test_methods_called_on_items_by_index(mode):
    args = (_spread(), 0.1)
    ours, python = copy.deepcopy(args[0]), copy.deepcopy(args[0])
    gradient, ddt = ag.grad(steps_by_index, wrt=(0, 1), mode=mode)(ours, 0.1)
    steps_by_index(python, 0.1)
    for got, want in zip(ours, python):
        assert_close(got.x, want.x) and assert_close(got.v, want.v)
    for i, name in _leaves(args[0]):
        assert_close(getattr(gradient[i], name), _reference(steps_by_index, args, i, name),
                     rtol=1e-4, atol=1e-6)  # fmt: skip
    reference = numeric_vjp(lambda t: steps_by_index(copy.deepcopy(args[0]), t), [0.1], 0, 1)
    assert_close(ddt, reference, rtol=1e-5)
    if mode == "source":
        assert ag.explain(steps_by_index, *args, wrt=(0, 1)).mode == "source"


def test_a_method_with_a_local_named_as_the_index_stays_a_call():
    walkers = [Stepper(np.ones(2) * k, np.ones(2), 1.0) for k in (1.0, 2.0)]
    assert ag.explain(walks_by_index, walkers, 0.1, wrt=1).mode == "tape"
    got = ag.grad(walks_by_index, wrt=1, mode="auto")(copy.deepcopy(walkers), 0.1)
    reference = numeric_vjp(lambda t: walks_by_index(copy.deepcopy(walkers), t), [0.1], 0, 1)
    assert_close(got, reference, rtol=1e-5)

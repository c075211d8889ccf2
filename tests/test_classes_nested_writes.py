"""Attributes of an object reached through another assigned by the function (issue 17):
``self.inner.x = v`` in a method of an argument's object. Generated code reads each object
of the chain into a name, assigns the attribute (``set_field``) and puts each object back
where it was read from (the same object: nothing changes in Python), so a later read
through the chain passes its gradient to ``v``. A check first thing
(``unshared_object(..., paths=...)``) finds each object of the chain reached by that chain
alone; otherwise ``mode="auto"`` runs on the tape and ``mode="source"`` raises
``SharedObjectError``. Every mode against finite differences and Python's final state."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from astgrad.runtime.objects import SharedObjectError
from numeric import assert_close, numeric_vjp

import astgrad as ag

MODES = ("source", "auto", "tape")


class Body:
    def __init__(self, x, v):
        self.x = x
        self.v = v


class Spring:
    def __init__(self, body, k):
        self.body = body
        self.k = k
        self.label = "spring"

    def step(self, dt):
        self.body.v = self.body.v - dt * self.k * self.body.x
        self.body.x = self.body.x + dt * self.body.v


class World:
    def __init__(self, spring, gravity):
        self.spring = spring
        self.gravity = gravity

    def tick(self, dt):
        self.spring.step(dt)  # (a method of the object held, assigning its own attributes)
        self.spring.body.v = self.spring.body.v - dt * self.gravity  # (three deep)


def oscillate(s, dt):
    for _ in range(4):
        s.step(dt)
    return np.sum(s.body.x**2) + np.sum(s.body.v)


def fall(w, dt):
    for _ in range(3):
        w.tick(dt)
    return np.sum(w.spring.body.x * w.spring.body.v)


def assigns_directly(s, w):
    before = s.body.x * 1.0  # read before the change: the value at entry
    s.body.x = np.sin(s.body.x) * w
    return np.sum(before * s.body.x) + s.k * np.sum(s.body.x)


def _spring(rng):
    return Spring(Body(rng.normal(size=3), rng.normal(size=3)), 1.5)


def _world(rng):
    return World(_spring(rng), 0.7)


def _leaves(obj, prefix=""):
    """(path, array) of every float attribute under obj, for finite differences."""
    for name, value in vars(obj).items():
        if isinstance(value, (np.ndarray, float)) and not isinstance(value, bool):
            yield prefix + name, value
        elif hasattr(value, "__dict__"):
            yield from _leaves(value, prefix + name + ".")


def _get(obj, path):
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _set(obj, path, value):
    *parents, last = path.split(".")
    for part in parents:
        obj = getattr(obj, part)
    setattr(obj, last, value)


def _reference(function, args, path):
    def along(value):
        fresh = copy.deepcopy(list(args))
        _set(fresh[0], path, value)
        return function(*fresh)

    return numeric_vjp(along, [np.array(_get(args[0], path), dtype=float)], 0, 1.0)


CASES = [
    (oscillate, lambda r: (_spring(r), 0.1)),
    (fall, lambda r: (_world(r), 0.1)),
    (assigns_directly, lambda r: (_spring(r), 1.5)),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("function, make", CASES, ids=[c[0].__name__ for c in CASES])
def test_against_finite_differences_and_python(function, make, mode):
    args = make(np.random.default_rng(0))
    python = copy.deepcopy(args)
    expected = function(*python)
    ours = copy.deepcopy(args)
    value, (gradient, dsecond) = ag.value_and_grad(function, wrt=(0, 1), mode=mode)(*ours)
    assert_close(value, expected)
    for path, item in _leaves(python[0]):  # the caller's objects left as Python leaves them
        got = _get(ours[0], path)
        assert type(got) is type(item)
        assert_close(got, item, what=path)
    assert type(gradient) is type(args[0])
    for path, _ in _leaves(args[0]):
        assert_close(_get(gradient, path), _reference(function, args, path), rtol=1e-4,
                     atol=1e-6, what=path)  # fmt: skip
    if isinstance(gradient, Spring):
        assert type(gradient.body) is Body and gradient.label is None
    reference = numeric_vjp(lambda t: function(*copy.deepcopy([args[0]]), t), [args[1]], 0, 1.0)
    assert_close(dsecond, reference, rtol=1e-4, atol=1e-6)
    if mode == "source":
        assert ag.explain(function, *args, wrt=(0, 1)).mode == "source"


@pytest.mark.parametrize("function, make", CASES, ids=[c[0].__name__ for c in CASES])
def test_forward_mode(function, make):
    args = make(np.random.default_rng(1))
    direction = copy.deepcopy(args[0])
    rng = np.random.default_rng(2)
    for path, item in _leaves(direction):
        _set(direction, path, rng.normal(size=np.shape(item)))
    _, tangent = ag.jvp(function, copy.deepcopy(args), (direction, 0.0), mode="source")
    expected = sum(
        np.sum(_reference(function, args, path) * _get(direction, path))
        for path, _ in _leaves(direction)
    )
    assert_close(tangent, expected, rtol=1e-4, atol=1e-6)


def test_the_chain_is_put_back_and_checked_first():
    text = ag.source(oscillate, _spring(np.random.default_rng(0)), 0.1, wrt=(0, 1))
    lines = [line.strip() for line in text.splitlines()]
    check = lines.index("unshared_object(('s',), s, paths=(('body',),))")
    assert check < lines.index("for _ in range(4):")  # (first thing, before the loop)
    assert "s = set_field(s, 'body', s_body" in text


# -- hostile: the object of the chain reached another way -----------------------------------


def through_another_argument(s, b, dt):
    s.step(dt)
    return np.sum(b.x) + np.sum(s.body.x)  # b may be s.body


SHARED = {}


def through_a_global(s, dt):
    s.step(dt)
    return np.sum(SHARED["b"].x) + np.sum(s.body.x)


class Twin(Spring):
    def __init__(self, body, k):
        super().__init__(body, k)
        self.other = body  # the same body under two attributes


def through_another_attribute(s, dt):
    s.step(dt)
    return np.sum(s.other.x) + np.sum(s.body.x)


def _body():
    return Body(np.array([1.0, -2.0]), np.array([0.5, 0.25]))


HOSTILE = [
    (through_another_argument, lambda b: (Spring(b, 2.0), b, 0.1), "holds the same object"),
    (through_a_global, lambda b: (Spring(b, 2.0), 0.1), "holds the same object"),
    (through_another_attribute, lambda b: (Twin(b, 2.0), 0.1), r"s\.other"),
    (oscillate, lambda b: (Spring(b, 2.0), 0.1), r"s\.body\.me"),
]


@pytest.mark.parametrize(
    "function, arguments, message",
    HOSTILE,
    ids=["another argument", "a global", "another attribute", "reaching itself"],
)
def test_an_object_of_the_chain_reached_another_way_goes_to_the_tape(function, arguments, message):
    def fresh():
        b = _body()
        if message.endswith("me"):
            b.me = b
        SHARED["b"] = b
        return arguments(b)

    try:
        expected = function(*fresh())
        args = fresh()
        with pytest.raises(SharedObjectError, match=message):
            ag.grad(function, wrt=-1, mode="source")(*args)
        assert_close(args[0].body.x, [1.0, -2.0])  # checked before anything ran
        for mode in ("auto", "tape"):
            args = fresh()
            value, ddt = ag.value_and_grad(function, wrt=-1, mode=mode)(*args)
            assert_close(value, expected)

            def along(t):
                fresh_args = list(fresh())
                fresh_args[-1] = t
                return function(*fresh_args)

            assert_close(ddt, numeric_vjp(along, [0.1], 0, 1.0), rtol=1e-4, atol=1e-6)
    finally:
        SHARED.clear()
    # separate objects: generated source
    if function is through_another_argument:
        args = (Spring(_body(), 2.0), _body(), 0.1)
        assert ag.explain(function, *args, wrt=-1).mode == "source"


def a_local_alias(s, dt):
    body = s.body
    s.step(dt)
    return np.sum(body.x)  # the same object, read after it changed


def rebinds_the_chain(s, dt):
    s.body = Body(s.body.x * 2.0, s.body.v)
    s.step(dt)
    return np.sum(s.body.x)


@pytest.mark.parametrize("function", [a_local_alias, rebinds_the_chain])
def test_refused_at_transformation_and_right_on_the_tape(function):
    def fresh():
        return Spring(_body(), 2.0)

    with pytest.raises(ag.TransformError):
        ag.grad(function, wrt=1, mode="source")(fresh(), 0.1)
    assert ag.explain(function, fresh(), 0.1, wrt=1).mode == "tape"
    got = ag.grad(function, wrt=1, mode="auto")(fresh(), 0.1)
    assert_close(got, numeric_vjp(lambda t: function(fresh(), t), [0.1], 0, 1.0), rtol=1e-4)


# -- an item of a list an object holds: model.layers[i].W = ... ------------------------------


class Layer:
    def __init__(self, W):
        self.W = W


class Model:
    def __init__(self, layers, rate):
        self.layers = layers
        self.rate = rate

    def forward(self, x):
        for layer in self.layers:
            x = np.tanh(layer.W @ x)
        return np.sum(x**2)

    def decay(self, x):
        for i in range(len(self.layers)):
            self.layers[i].W = self.layers[i].W * (1.0 - self.rate) + 0.1 * x[0]


def decayed(m, x):
    for _ in range(2):
        m.decay(x)
    return m.forward(x)


def _model(rate=0.1):
    rng = np.random.default_rng(7)
    return Model([Layer(rng.normal(size=(2, 2))), Layer(rng.normal(size=(2, 2)))], rate)


@pytest.mark.parametrize("mode", MODES)
def test_an_item_of_a_list_an_object_holds(mode):
    x = np.array([0.5, -1.0])
    ours, python = _model(), _model()
    items = list(ours.layers)
    value, (gradient, dx) = ag.value_and_grad(decayed, wrt=(0, 1), mode=mode)(ours, x)
    assert_close(value, decayed(python, x))
    assert all(a is b for a, b in zip(ours.layers, items))  # the same layers, decayed
    for got, want in zip(ours.layers, python.layers):
        assert type(got.W) is np.ndarray
        assert_close(got.W, want.W)
    assert type(gradient) is Model and type(gradient.layers) is list
    for i in range(2):

        def along(W, i=i):
            model = _model()
            model.layers[i].W = W
            return decayed(model, x)

        reference = numeric_vjp(along, [_model().layers[i].W], 0, 1.0)
        assert type(gradient.layers[i]) is Layer
        assert_close(gradient.layers[i].W, reference, rtol=1e-5, atol=1e-7)
    rate = numeric_vjp(lambda r: decayed(_model(r), x), [0.1], 0, 1.0)
    assert_close(gradient.rate, rate, rtol=1e-5, atol=1e-7)
    assert_close(dx, numeric_vjp(lambda v: decayed(_model(), v), [x], 0, 1.0), rtol=1e-5)
    if mode == "source":
        assert ag.explain(decayed, _model(), x, wrt=(0, 1)).mode == "source"
        text = ag.source(decayed, _model(), x, wrt=(0, 1))
        assert "paths=(('layers',), ('layers', '[]'))" in text
        assert "saved_item" not in text  # (the put-back saves nothing: the same object)


def decayed_reading(m, other, x):
    m.decay(x)
    return np.sum(other.W) + m.forward(x)


def test_an_item_held_twice_or_by_another_argument_goes_to_the_tape():
    x = np.array([0.5, -1.0])
    twice = Layer(np.eye(2))
    with pytest.raises(SharedObjectError, match=r"m\.layers\[0\]"):
        ag.grad(decayed, wrt=1, mode="source")(Model([twice, twice], 0.1), x)
    model = _model()
    with pytest.raises(SharedObjectError, match="`other` holds the same object"):
        ag.grad(decayed_reading, wrt=2, mode="source")(model, model.layers[1], x)
    for mode in ("auto", "tape"):

        def run(v):
            model = _model()
            return decayed_reading(model, model.layers[1], v)

        model = _model()
        got = ag.grad(decayed_reading, wrt=2, mode=mode)(model, model.layers[1], x)
        assert_close(got, numeric_vjp(run, [x], 0, 1.0), rtol=1e-5, atol=1e-7)


class LoopModel(Model):
    def shrink(self, x):
        for layer in self.layers:  # (a loop over a list the object holds)
            layer.W = layer.W * (1.0 - self.rate) + 0.1 * x[0]


def shrunk(m, x):
    for _ in range(2):
        m.shrink(x)
    total = m.forward(x)
    for layer in m.layers:  # (in the function itself too)
        layer.W = layer.W * 2.0
    return total + m.forward(x)


def _loop_model():
    return LoopModel(_model().layers, 0.1)


@pytest.mark.parametrize("mode", MODES)
def test_a_loop_over_a_list_an_object_holds(mode):
    x = np.array([0.5, -1.0])
    ours, python = _loop_model(), _loop_model()
    items = list(ours.layers)
    value, (gradient, dx) = ag.value_and_grad(shrunk, wrt=(0, 1), mode=mode)(ours, x)
    assert_close(value, shrunk(python, x))
    assert all(a is b for a, b in zip(ours.layers, items))
    for got, want in zip(ours.layers, python.layers):
        assert_close(got.W, want.W)
    for i in range(2):

        def along(W, i=i):
            model = _loop_model()
            model.layers[i].W = W
            return shrunk(model, x)

        reference = numeric_vjp(along, [_loop_model().layers[i].W], 0, 1.0)
        assert_close(gradient.layers[i].W, reference, rtol=1e-5, atol=1e-7)
    rate = numeric_vjp(lambda r: shrunk(LoopModel(_model().layers, r), x), [0.1], 0, 1.0)
    assert_close(gradient.rate, rate, rtol=1e-5, atol=1e-7)
    assert_close(dx, numeric_vjp(lambda v: shrunk(_loop_model(), v), [x], 0, 1.0), rtol=1e-5)
    if mode == "source":
        assert ag.explain(shrunk, _loop_model(), x, wrt=(0, 1)).mode == "source"


def test_a_loop_over_a_list_holding_one_layer_twice_goes_to_the_tape():
    x = np.array([0.5, -1.0])

    def make():
        twice = Layer(np.array([[0.5, 0.1], [-0.2, 0.3]]))
        return LoopModel([twice, twice], 0.1)

    with pytest.raises(SharedObjectError, match=r"m\.layers\[0\]"):
        ag.grad(shrunk, wrt=1, mode="source")(make(), x)
    got = ag.grad(shrunk, wrt=1, mode="auto")(make(), x)
    assert_close(got, numeric_vjp(lambda v: shrunk(make(), v), [x], 0, 1.0), rtol=1e-5)


@pytest.mark.parametrize("function, make", [(decayed, _model), (shrunk, _loop_model)])
def test_forward_mode_through_lists_an_object_holds(function, make):
    x, t = np.array([0.5, -1.0]), np.array([0.3, 0.7])
    rng = np.random.default_rng(9)
    direction = make()
    direction.layers = [Layer(rng.normal(size=(2, 2))) for _ in direction.layers]
    direction.rate = 0.5
    _, tangent = ag.jvp(function, (make(), x), (direction, t), mode="source")
    expected = 0.0
    for i, layer in enumerate(direction.layers):

        def along(W, i=i):
            model = make()
            model.layers[i].W = W
            return function(model, x)

        expected += np.sum(numeric_vjp(along, [make().layers[i].W], 0, 1.0) * layer.W)

    def by_rate(r):
        model = make()
        model.rate = r
        return function(model, x)

    expected += numeric_vjp(by_rate, [0.1], 0, 1.0) * 0.5
    expected += np.sum(numeric_vjp(lambda v: function(make(), v), [x], 0, 1.0) * t)
    assert_close(tangent, expected, rtol=1e-5, atol=1e-7)

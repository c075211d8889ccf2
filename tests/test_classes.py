"""The class-based programs of programs_classes.py in every mode, against float64 central
finite differences: the value, each gradient's structure (an object of the argument's
class at every level, None for attributes that are not floats) and every float leaf;
``ag.explain`` says "source" for the programs that need no tape. Then the hostile cases
of classes: a method rebound between calls, an attribute that shadows a method."""

from __future__ import annotations

import copy
import inspect

import numpy as np
import pytest
from astgrad.runtime.objects import fields, is_namedtuple, is_object
from numeric import assert_close
from programs_classes import PROGRAMS, Linear

import astgrad as ag

MODES = ("source", "auto", "tape")


def _leaves(value, path=()):
    """(path, leaf) for every float and float array in ``value``; a path is a tuple of
    ("attr", name) and ("item", key) steps."""
    if isinstance(value, bool):
        return
    if isinstance(value, float) or (isinstance(value, np.ndarray) and value.dtype.kind == "f"):
        yield path, value
    elif is_namedtuple(value):
        for name, item in zip(type(value)._fields, value):
            yield from _leaves(item, (*path, ("attr", name)))
    elif is_object(value):
        for name, item in fields(value):
            yield from _leaves(item, (*path, ("attr", name)))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _leaves(item, (*path, ("item", i)))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, ("item", key)))


def _get(value, path):
    for kind, key in path:
        value = getattr(value, key) if kind == "attr" else value[key]
    return value


def _set(root, path, new):
    """``root`` (a deep copy) with ``new`` at ``path``; frozen and immutable parts rebuilt."""
    if not path:
        return new
    (kind, key), rest = path[0], path[1:]
    if kind == "attr":
        inner = _set(getattr(root, key), rest, new)
        if is_namedtuple(root):
            return root._replace(**{key: inner})
        object.__setattr__(root, key, inner)
        return root
    inner = _set(root[key], rest, new)
    if isinstance(root, tuple):
        return type(root)(inner if i == key else v for i, v in enumerate(root))
    root[key] = inner
    return root


def _numeric(function, args, position, path, leaf, eps=1e-6):
    def at(value):
        fresh = copy.deepcopy(list(args))
        fresh[position] = _set(fresh[position], path, value)
        return float(function(*fresh))

    if isinstance(leaf, float):
        return (at(leaf + eps) - at(leaf - eps)) / (2 * eps)
    grad = np.zeros_like(leaf)
    for index in np.ndindex(leaf.shape):
        up, down = leaf.copy(), leaf.copy()
        up[index] += eps
        down[index] -= eps
        grad[index] = (at(up) - at(down)) / (2 * eps)
    return grad


def _check_structure(gradient, argument, where):
    assert type(gradient) is type(argument), f"{where}: {type(gradient)} for {type(argument)}"
    if is_namedtuple(argument) or is_object(argument):
        pairs = zip(type(argument)._fields, argument) if is_namedtuple(argument) else None
        pairs = pairs or fields(argument)
        for name, item in pairs:
            got = getattr(gradient, name)
            if (
                isinstance(item, (float, np.ndarray, list, tuple, dict))
                and not isinstance(item, bool)
                or is_object(item)
            ):
                if isinstance(item, np.ndarray) and item.dtype.kind != "f":
                    assert got is None, f"{where}.{name}"
                else:
                    _check_structure(got, item, f"{where}.{name}")
            else:
                assert got is None, f"{where}.{name} is {got!r}, not None"


def _positions(program):
    params = list(inspect.signature(program.function).parameters)
    wrt = program.wrt if isinstance(program.wrt, tuple) else (program.wrt,)
    return [w if isinstance(w, int) else params.index(w) for w in wrt]


def _params():
    for program in PROGRAMS:
        for mode in MODES if program.static else ("auto", "tape"):
            yield pytest.param(program, mode, id=f"{program.name}-{mode}")


def test_the_table_covers_the_issue():
    assert len(PROGRAMS) >= 13


@pytest.mark.parametrize("program, mode", list(_params()))
def test_class_program(program, mode):
    args = program.make_args(np.random.default_rng(0))
    expected_value = program.function(*copy.deepcopy(args))
    value, gradients = ag.value_and_grad(program.function, wrt=program.wrt, mode=mode)(
        *copy.deepcopy(args)
    )
    assert_close(value, expected_value, what="value")
    if not isinstance(program.wrt, tuple):
        gradients = (gradients,)
    for position, gradient in zip(_positions(program), gradients):
        argument = args[position]
        _check_structure(gradient, argument, f"argument {position}")
        for path, leaf in _leaves(argument):
            reference = _numeric(program.function, args, position, path, leaf)
            assert_close(_get(gradient, path), reference, rtol=1e-4, atol=1e-6, what=str(path))


@pytest.mark.parametrize("program", [p for p in PROGRAMS if p.static], ids=lambda p: p.name)
def test_class_programs_need_no_tape(program):
    args = program.make_args(np.random.default_rng(0))
    report = ag.explain(program.function, *args, wrt=program.wrt)
    assert report.mode == "source", str(report)


@pytest.mark.parametrize("program", [p for p in PROGRAMS if not p.static], ids=lambda p: p.name)
def test_what_needs_the_tape_says_so(program):
    args = program.make_args(np.random.default_rng(0))
    report = ag.explain(program.function, *args, wrt=program.wrt)
    assert report.mode in ("tape", "mixed"), str(report)
    with pytest.raises(ag.TransformError):
        ag.grad(program.function, wrt=program.wrt, mode="source")(*args)


# -- hostile ------------------------------------------------------------------------------------


class Swappable:
    def __init__(self, w):
        self.w = w

    def act(self, x):
        return np.sin(self.w * x)


def calls_act(obj, x):
    return np.sum(obj.act(x))


def test_a_method_rebound_between_calls_is_seen():
    """The cached gradient assumed the class's method: rebinding it makes a new one."""
    obj, x = Swappable(np.array([0.5, 1.5])), np.array([1.0, -2.0])
    gradient = ag.grad(calls_act, mode="source")
    assert_close(gradient(obj, x).w, np.cos(obj.w * x) * x)
    original = Swappable.act
    try:
        Swappable.act = lambda self, x: np.exp(self.w * x)
        assert_close(gradient(obj, x).w, np.exp(obj.w * x) * x)
    finally:
        Swappable.act = original
    assert_close(gradient(obj, x).w, np.cos(obj.w * x) * x)


def test_a_method_defined_on_a_subclass_later_is_seen():
    class Child(Swappable):
        pass

    obj, x = Child(np.array([0.5, 1.5])), np.array([1.0, -2.0])
    gradient = ag.grad(calls_act, mode="source")
    assert_close(gradient(obj, x).w, np.cos(obj.w * x) * x)
    Child.act = lambda self, x: self.w * x * 3.0
    assert_close(gradient(obj, x).w, 3.0 * x)


def test_an_attribute_holding_a_function_shadows_the_method():
    obj, x = Swappable(np.array([0.5, 1.5])), np.array([1.0, -2.0])
    gradient = ag.grad(calls_act)
    assert_close(gradient(obj, x).w, np.cos(obj.w * x) * x)
    obj.act = lambda x: x * 2.0  # the object's own attribute: obj.act(x) calls it
    assert_close(gradient(obj, x).w, np.zeros(2))
    assert ag.explain(calls_act, obj, x).mode != "source"


def test_an_object_of_another_class_gets_its_own_gradient():
    class Other:
        def __init__(self, w):
            self.w = w

        def act(self, x):
            return self.w**2 * x

    x = np.array([1.0, -2.0])
    gradient = ag.grad(calls_act, mode="source")
    first = gradient(Swappable(np.array([0.5, 1.5])), x)
    second = gradient(Other(np.array([0.5, 1.5])), x)
    assert type(first) is Swappable and type(second) is Other
    assert_close(second.w, 2 * np.array([0.5, 1.5]) * x)


def test_a_layer_in_a_list_argument_is_source_too():
    def loss(layers, x):
        for layer in layers:
            x = layer(x)
        return np.sum(x**2)

    rng = np.random.default_rng(0)
    layers = [Linear(rng.normal(size=(2, 2)), rng.normal(size=2)) for _ in range(2)]
    gradient = ag.grad(loss, mode="auto")(layers, np.ones(2))
    assert type(gradient) is list and all(type(g) is Linear for g in gradient)


class Base:
    def __init__(self, w):
        self.w = w

    def value(self, x):
        return np.sum(self.w * x)


class Middle(Base):
    pass


class Leaf(Middle):
    def value(self, x):
        return super().value(x) * 2.0


def leaf_value(obj, x):
    return obj.value(x)


def test_super_follows_the_classes_between():
    """super() in Leaf reaches Base.value through Middle; defining Middle.value later makes
    a new gradient that calls it."""
    obj, x = Leaf(np.array([1.0, 2.0])), np.array([3.0, -1.0])
    gradient = ag.grad(leaf_value, mode="source")
    assert ag.explain(leaf_value, obj, x).mode == "source"
    assert_close(gradient(obj, x).w, 2.0 * x)
    Middle.value = lambda self, x: np.sum(self.w**2 * x)
    try:
        assert_close(gradient(obj, x).w, 2.0 * 2 * obj.w * x)
    finally:
        del Middle.value
    assert_close(gradient(obj, x).w, 2.0 * x)


class Holder:
    def __init__(self, w):
        self.w = w * 2.0


def holds(w):
    return np.sum(Holder(w).w ** 2)


def test_an_init_rebound_between_calls_is_seen():
    w = np.array([1.0, -0.5])
    gradient = ag.grad(holds, mode="source")
    assert_close(gradient(w), 8.0 * w)
    original = Holder.__init__

    def thrice(self, w):
        self.w = w * 3.0

    Holder.__init__ = thrice
    try:
        assert_close(gradient(w), 18.0 * w)
    finally:
        Holder.__init__ = original
    assert_close(gradient(w), 8.0 * w)


class Clamped:
    """Its attribute is a property whose setter clips: making it is not assigning it."""

    def __init__(self, w):
        self.w = w

    @property
    def w(self):
        return self._w

    @w.setter
    def w(self, value):
        self._w = np.clip(value, -1.0, 1.0)


def clamps(w):
    return np.sum(Clamped(w).w ** 2)


def writes_what_it_made(w):
    made = Holder(w)
    made.w = made.w * 5.0
    return np.sum(made.w)


@pytest.mark.parametrize(
    "function, expected",
    [
        (clamps, lambda w: 2 * np.clip(w, -1, 1) * (np.abs(w) < 1)),
    ],
)
def test_objects_made_in_ways_generated_code_does_not_follow_go_to_the_tape(function, expected):
    w = np.array([0.5, -3.0])
    assert ag.explain(function, w).mode == "tape"
    for mode in ("auto", "tape"):
        assert_close(ag.grad(function, mode=mode)(w), expected(w))


def test_a_bound_method_calling_its_object_s_methods_is_source():
    """ag.grad(model.loss) differentiates with respect to x; the model (not differentiated)
    still has its class known, so model(x) and its layers' calls are generated source."""
    from numeric import numeric_vjp
    from programs_classes import _mlp

    rng = np.random.default_rng(0)
    model, x, y = _mlp(rng), rng.normal(size=2), rng.normal(size=2)
    assert ag.explain(model.loss).mode == "source"
    assert ag.explain(model.loss, x, y).mode == "source"
    expected = numeric_vjp(lambda v: model.loss(v, y), [x], 0, 1.0)
    for mode in MODES:
        assert_close(ag.grad(model.loss, mode=mode)(x, y), expected)


def test_an_argument_not_differentiated_of_another_class_gets_its_own_gradient():
    class Twice:
        def act(self, x):
            return 2.0 * x

    class Square:
        def act(self, x):
            return x * x

    def f(x, obj):
        return np.sum(obj.act(x))

    x = np.array([1.0, 3.0])
    gradient = ag.grad(f, mode="source")
    assert_close(gradient(x, Twice()), [2.0, 2.0])
    assert_close(gradient(x, Square()), 2 * x)
    assert_close(gradient(x, Twice()), [2.0, 2.0])


SCALE = 2.0


class WithDefault:
    def __init__(self, w, scale=SCALE):
        self.w = w * scale


def uses_a_default(w):
    return np.sum(WithDefault(w).w)


def test_a_constructor_default_keeps_its_value_from_when_the_class_was_made():
    global SCALE
    w = np.array([1.0, 2.0])
    gradient = ag.grad(uses_a_default)
    SCALE = 5.0  # the default is still 2.0, as Python evaluated it
    try:
        assert_close(gradient(w), [2.0, 2.0])
    finally:
        SCALE = 2.0


class Box2:
    def __init__(self, x):
        self.x = x


def aliased_then_written(x0):
    s = Box2(x0)
    t = s
    s.x = s.x * 3.0
    return np.sum(t.x * x0)


def listed_then_written(x0):
    s = Box2(x0)
    items = [s]
    s.x = s.x * 3.0
    return np.sum(items[0].x)


def writes_an_argument(s, x0):
    s.x = x0 * 2.0
    return np.sum(s.x)


def changes_an_attribute_in_place(x0):
    s = Box2(x0 * 1.0)
    s.x += x0
    return np.sum(s.x**2)


@pytest.mark.parametrize(
    "function, make, expected",
    [
        (aliased_then_written, lambda x: (x,), lambda x: 6 * x),
        (listed_then_written, lambda x: (x,), lambda x: np.full_like(x, 3.0)),
        (changes_an_attribute_in_place, lambda x: (x,), lambda x: 8 * x),
    ],
)
def test_attribute_writes_generated_code_cannot_follow_go_to_the_tape(function, make, expected):
    """Another name holding the object, a list holding it, and obj.attr += v (which
    changes the array in place): the tape, never a wrong number. (An argument's object
    written: tests/test_classes_writes.py.)"""
    x = np.array([1.0, 2.0])
    args = make(x)
    assert ag.explain(function, *args, wrt=len(args) - 1).mode == "tape"
    for mode in ("auto", "tape"):
        gradient = ag.grad(function, wrt=len(args) - 1, mode=mode)(*make(x))
        assert_close(gradient, expected(x))
    with pytest.raises(ag.TransformError):
        ag.grad(function, wrt=len(args) - 1, mode="source")(*make(x))


def test_an_argument_s_object_written_is_generated_source():
    x = np.array([1.0, 2.0])
    s = Box2(x.copy())
    assert ag.explain(writes_an_argument, s, x, wrt=1).mode == "source"
    for mode in MODES:
        s = Box2(x.copy())
        assert_close(ag.grad(writes_an_argument, wrt=1, mode=mode)(s, x), np.full_like(x, 2.0))
        assert_close(s.x, 2.0 * x)  # the caller's object, assigned as Python assigns it


def test_an_object_the_function_made_and_wrote_is_generated_source():
    w = np.array([0.5, -3.0])
    assert ag.explain(writes_what_it_made, w).mode == "source"
    assert "made = set_field(made, 'w'," in ag.source(writes_what_it_made, w)
    for mode in MODES:
        assert_close(ag.grad(writes_what_it_made, mode=mode)(w), np.full_like(w, 10.0))


class Counter:
    def __init__(self, start):
        self.total = start

    def add(self, v):
        self.total = self.total + v
        return self

    def scale(self, k):
        self.total = self.total * k


def counts(x):
    c = Counter(x)
    c.scale(3.0)
    return np.sum(c.total**2)


def counts_through_the_returned_self(x):
    c = Counter(x)
    d = c.add(x)
    c.scale(2.0)
    return np.sum(d.total)


def test_a_method_writing_an_object_the_function_made_runs_inline():
    x = np.array([1.0, -2.0])
    assert ag.explain(counts, x).mode == "source"
    for mode in MODES:
        assert_close(ag.grad(counts, mode=mode)(x), 18.0 * x)
    original = Counter.scale
    gradient = ag.grad(counts, mode="source")
    try:
        Counter.scale = lambda self, k: None  # (rebound: the cached gradient is not used)
        assert_close(gradient(x), 2.0 * x)
    finally:
        Counter.scale = original
    assert_close(gradient(x), 18.0 * x)


def test_a_method_handing_its_object_back_is_an_alias():
    x = np.array([1.0, -2.0])
    assert ag.explain(counts_through_the_returned_self, x).mode == "tape"
    for mode in ("auto", "tape"):
        assert_close(ag.grad(counts_through_the_returned_self, mode=mode)(x), np.full(2, 4.0))


class Ring:
    def __init__(self, r):
        self.r = r

    @property
    def area(self):
        return np.pi * self.r**2


def ring_area(c):
    return c.area * 2.0


def test_a_property_rebound_between_calls_is_seen():
    """A property is no callable: its guard is its identity, not its type (was stale)."""
    c = Ring(1.5)
    gradient = ag.grad(ring_area, mode="source")
    assert_close(gradient(c).r, 4 * np.pi * 1.5)
    original = Ring.__dict__["area"]
    Ring.area = property(lambda self: self.r**3)
    try:
        assert_close(gradient(c).r, 2.0 * 3 * 1.5**2)
    finally:
        Ring.area = original
    assert_close(gradient(c).r, 4 * np.pi * 1.5)

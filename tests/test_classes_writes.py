"""Attributes of argument objects assigned by the function (issue 17): ``p.step(dt)`` whose
``step`` does ``self.x = self.x + dt * self.v``. Generated code assigns the caller's
object's attributes as Python does (the object is left in the state Python leaves it),
and the gradient is with respect to the attributes' values at entry, in the form the
object had then. Every mode against finite differences; ``explain`` says "source".
Where another argument or global reaches the object, or another name holds it, generated
code could not follow the gradient: a check at run time sends ``mode="auto"`` to the tape
(``mode="source"`` raises), and a local alias is a ``TransformError``."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
from astgrad.runtime.objects import SharedObjectError
from numeric import assert_close, numeric_vjp

import astgrad as ag

MODES = ("source", "auto", "tape")


class Particle:
    drag = 0.5  # a class attribute: a constant

    def __init__(self, x, v):
        self.x = x
        self.v = v
        self.name = "particle"

    def step(self, dt):
        self.x = self.x + dt * self.v

    def kick(self, force, dt):
        self.v = self.v + dt * force - dt * self.drag * self.v
        self.step(dt)  # (a method calling another that assigns: inlined too)

    def energy(self):
        return 0.5 * np.sum(self.v**2) + np.sum(self.x**2)


def two_steps(p, dt):
    p.step(dt)
    p.step(dt)
    return np.sum(p.x**2)


def kicked(p, force, dt):
    for _ in range(3):
        p.kick(force, dt)
    return p.energy()


def assigns_directly(p, w):
    p.x = p.x * w
    p.v = p.x + p.v
    return np.sum(p.x * p.v)


def reads_before_and_after(p, w):
    before = p.x * 1.0
    p.x = np.sin(p.x) * w
    return np.sum(before * p.x) + np.sum(p.x)


def _particle(rng):
    return Particle(rng.normal(size=3), rng.normal(size=3))


def _attribute_gradient(function, args, position, name):
    """Central differences along the attribute ``name`` of the object at ``position``."""
    base = getattr(args[position], name)

    def along(value):
        fresh = copy.deepcopy(list(args))
        setattr(fresh[position], name, value)
        return function(*fresh)

    return numeric_vjp(along, [np.array(base, dtype=float)], 0, 1.0)


def _argument_gradient(function, args, position):
    def along(value):
        fresh = copy.deepcopy(list(args))
        fresh[position] = value
        return function(*fresh)

    return numeric_vjp(along, [copy.deepcopy(args[position])], 0, 1.0)


class Ball:
    def __init__(self, x, v):
        self.x = x
        self.v = v

    def bounce(self, dt):
        self.x = self.x + dt * self.v
        if self.x[0] < 0.0:
            self.v = -self.v * 0.9
            return 1.0
        return 0.0

    def run(self, dt, n):
        hits = 0.0
        for _ in range(n):
            hits = hits + self.bounce(dt)  # (run assigns nothing itself: bounce does)
        return hits


def bounces(p, dt):
    hits = p.run(dt, 6)
    return np.sum(p.x**2) + hits


CASES = [
    (two_steps, lambda r: (_particle(r), 0.1), (0, 1)),
    (kicked, lambda r: (_particle(r), r.normal(size=3), 0.2), (0, 1, 2)),
    (assigns_directly, lambda r: (_particle(r), r.normal(size=3)), (0, 1)),
    (reads_before_and_after, lambda r: (_particle(r), 1.5), (0, 1)),
    (bounces, lambda r: (Ball(np.array([0.25, 1.0]), np.array([-1.0, 0.5])), 0.1), (0, 1)),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("function, make, wrt", CASES, ids=[c[0].__name__ for c in CASES])
def test_against_finite_differences_and_python(function, make, wrt, mode):
    args = make(np.random.default_rng(0))
    python_args = copy.deepcopy(args)
    expected_value = function(*python_args)
    ours = copy.deepcopy(args)
    value, gradients = ag.value_and_grad(function, wrt=wrt, mode=mode)(*ours)
    assert_close(value, expected_value)
    # The caller's object is left as Python leaves it: attributes rebound, plain arrays.
    assert vars(ours[0]).keys() == vars(python_args[0]).keys()
    for name, item in vars(python_args[0]).items():
        got = getattr(ours[0], name)
        if isinstance(item, np.ndarray):
            assert type(got) is np.ndarray
            assert_close(got, item, what=name)
        else:
            assert got == item
    gradient = gradients[0]
    assert type(gradient) is type(args[0])
    assert set(vars(gradient)) == set(vars(args[0]))
    if isinstance(gradient, Particle):
        assert gradient.name is None and "drag" not in vars(gradient)
    for name in ("x", "v"):
        reference = _attribute_gradient(function, args, 0, name)
        assert_close(getattr(gradient, name), reference, rtol=1e-4, atol=1e-6, what=name)
    for position, got in zip(wrt[1:], gradients[1:]):
        reference = _argument_gradient(function, args, position)
        assert_close(got, reference, rtol=1e-4, atol=1e-6, what=f"argument {position}")


@pytest.mark.parametrize("function, make, wrt", CASES, ids=[c[0].__name__ for c in CASES])
def test_needs_no_tape(function, make, wrt):
    args = make(np.random.default_rng(0))
    report = ag.explain(function, *args, wrt=wrt)
    assert report.mode == "source", str(report)


class Walker(Particle):
    def walk_energy(self, dt):
        self.step(dt)  # (self.step inside a method of self: the same name, inlined)
        self.step(dt)
        return self.energy()


@pytest.mark.parametrize("mode", MODES)
def test_a_method_calling_a_method_that_assigns_self(mode):
    start = Walker(np.array([1.0, 2.0]), np.array([0.5, -1.0]))
    walker = copy.deepcopy(start)
    ddt = ag.grad(walker.walk_energy, mode=mode)(0.1)
    expected = numeric_vjp(lambda t: copy.deepcopy(start).walk_energy(t), [0.1], 0, 1.0)
    assert_close(ddt, expected, rtol=1e-5)
    assert_close(walker.x, start.x + 0.2 * start.v)  # walked, as the method walks it
    gradient = ag.grad(Walker.walk_energy, wrt="self", mode=mode)(copy.deepcopy(start), 0.1)
    for name in ("x", "v"):
        reference = _attribute_gradient(Walker.walk_energy, [start, 0.1], 0, name)
        assert_close(getattr(gradient, name), reference, rtol=1e-5)
    if mode == "source":
        assert ag.explain(walker.walk_energy, 0.1).mode == "source"


class Middle(Particle):
    pass


class Damped(Middle):
    def step(self, dt):
        super().step(dt)  # (Particle.step, found past Middle)
        self.v = self.v * 0.9


def damped_steps(p, dt):
    for _ in range(3):
        p.step(dt)
    return np.sum(p.x**2) + np.sum(p.v)


def damped_made_inside(x):
    d = Damped(x, x * 2.0)
    d.step(0.1)
    return np.sum(d.x * d.v)


@pytest.mark.parametrize("mode", MODES)
def test_a_method_calling_super_runs_inline(mode):
    start = Damped(np.array([1.0, 2.0]), np.array([0.5, -1.0]))
    ours, python = copy.deepcopy(start), copy.deepcopy(start)
    damped_steps(python, 0.1)
    gradient = ag.grad(damped_steps, mode=mode)(ours, 0.1)
    assert_close(ours.x, python.x) and assert_close(ours.v, python.v)
    for name in ("x", "v"):
        reference = _attribute_gradient(damped_steps, [start, 0.1], 0, name)
        assert_close(getattr(gradient, name), reference, rtol=1e-5)
    x = np.array([1.0, -0.5])
    expected = numeric_vjp(damped_made_inside, [x], 0, 1.0)
    assert_close(ag.grad(damped_made_inside, mode=mode)(x), expected, rtol=1e-5)
    if mode == "source":
        assert ag.explain(damped_steps, start, 0.1).mode == "source"
        assert ag.explain(damped_made_inside, x).mode == "source"


def _middle_step(self, dt):
    self.x = self.x * (1.0 + dt)


def test_a_method_defined_later_between_is_what_super_reaches():
    start = Damped(np.array([1.0, 2.0]), np.array([0.5, -1.0]))
    gradient = ag.grad(damped_steps, mode="source")
    before = gradient(copy.deepcopy(start), 0.1)
    Middle.step = _middle_step
    try:
        got = gradient(copy.deepcopy(start), 0.1)
        reference = _attribute_gradient(damped_steps, [start, 0.1], 0, "x")
        assert_close(got.x, reference, rtol=1e-5)
        assert not np.allclose(got.x, before.x)
    finally:
        del Middle.step
    assert_close(gradient(copy.deepcopy(start), 0.1).x, before.x)


def test_the_method_runs_inline_and_the_object_is_checked_first():
    text = ag.source(two_steps, Particle(np.ones(2), np.ones(2)), 0.1, wrt=(0, 1))
    assert text.splitlines()[1].strip() == "unshared_object(('p',), p)"
    assert "p = set_field(p, 'x', " in text
    assert "Particle_step" not in text  # (inlined, not a call of its own derivative)
    assert "\n    None\n" not in text


class Growing:
    scale = 3.0  # a class attribute the function shadows with an instance attribute

    def __init__(self, x):
        self.x = x


def changes_its_form(p, w):
    a = p.scale * w
    p.scale = p.x * 2.0  # new instance attribute
    p.x = np.sum(p.x)  # an array rebound to a number
    return np.sum(p.scale * a) + p.x


@pytest.mark.parametrize("mode", MODES)
def test_the_gradient_has_the_form_the_object_had_at_entry(mode):
    x = np.array([1.0, -2.0, 0.5])
    p = Growing(x.copy())
    gradient, dw = ag.grad(changes_its_form, wrt=(0, 1), mode=mode)(p, 0.1)
    # what Python leaves
    assert isinstance(p.x, float | np.floating) and p.x == pytest.approx(-0.5)
    assert type(p.scale) is np.ndarray and not isinstance(p.scale, ag.Tensor)
    assert_close(p.scale, 2 * x)
    # the gradient: with respect to x as it was, no attribute the object did not have
    assert type(gradient) is Growing and set(vars(gradient)) == {"x"}
    assert_close(gradient.x, 2 * 3.0 * 0.1 + 1.0 + np.zeros(3))
    assert_close(dw, 3.0 * np.sum(2 * x))


def test_vjp_of_a_function_that_assigns_attributes():
    rng = np.random.default_rng(1)
    p, dt = _particle(rng), 0.1
    reference = _attribute_gradient(two_steps, [p, dt], 0, "v")
    value, pullback = ag.vjp(two_steps, copy.deepcopy(p), dt, wrt=(0, 1))
    assert_close(value, two_steps(copy.deepcopy(p), dt))
    gradient, _ = pullback()
    assert type(gradient) is Particle and gradient.name is None
    assert_close(gradient.v, reference, rtol=1e-4)


def writes_an_object_not_differentiated(x, p):
    p.x = p.x + x * 2.0
    return np.sum(p.x**2)


@pytest.mark.parametrize("mode", MODES)
def test_an_object_not_differentiated(mode):
    x = np.array([0.5, -1.0])
    p = Particle(np.array([1.0, 2.0]), np.zeros(2))
    got = ag.grad(writes_an_object_not_differentiated, mode=mode)(x, p)
    assert_close(got, 4 * (np.array([1.0, 2.0]) + 2 * x))
    assert_close(p.x, np.array([1.0, 2.0]) + 2 * x)  # written, as Python writes it
    if mode == "source":
        assert ag.explain(writes_an_object_not_differentiated, x, p).mode == "source"


# -- optimizer-like loops -----------------------------------------------------------------


class Regression:
    def __init__(self, w, b):
        self.w = w
        self.b = b
        self.steps = 0

    def loss(self, x, y):
        return np.mean((x @ self.w + self.b - y) ** 2)

    def sgd_step(self, x, y, rate):
        residual = x @ self.w + self.b - y
        n = len(y)
        self.w = self.w - rate * 2.0 * (x.T @ residual) / n
        self.b = self.b - rate * 2.0 * np.mean(residual)
        self.steps = self.steps + 1


def unrolled_training(model, x, y, rate):
    for _ in range(4):
        model.sgd_step(x, y, rate)
    return model.loss(x, y)


@pytest.mark.parametrize("mode", MODES)
def test_gradient_through_an_optimizer_loop(mode):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=6)
    make = lambda: Regression(rng_w.copy(), 0.3)  # noqa: E731
    rng_w = rng.normal(size=3)
    args = [make(), x, y, 0.05]
    model = make()
    gradient, drate = ag.grad(unrolled_training, wrt=(0, 3), mode=mode)(model, x, y, 0.05)
    assert model.steps == 4  # the caller's model was trained, as Python trains it
    python_model = make()
    unrolled_training(python_model, x, y, 0.05)
    assert_close(model.w, python_model.w)
    assert_close(model.b, python_model.b)
    assert type(gradient) is Regression and gradient.steps is None
    assert_close(gradient.w, _attribute_gradient(unrolled_training, args, 0, "w"), rtol=1e-4)
    assert_close(gradient.b, _attribute_gradient(unrolled_training, args, 0, "b"), rtol=1e-4)
    assert_close(drate, _argument_gradient(unrolled_training, args, 3), rtol=1e-4)
    if mode == "source":
        assert ag.explain(unrolled_training, *args, wrt=(0, 3)).mode == "source"


# -- hostile: the object reached another way --------------------------------------------


def through_another_argument(p, q, w):
    p.x = p.x * w
    return np.sum(q.x)  # q may be p, or hold it


class Holder:
    def __init__(self, inner):
        self.inner = inner


def through_a_holder(p, h, w):
    p.x = p.x * w
    return np.sum(h.inner.x)


def through_a_list(p, h, w):
    p.x = p.x * w
    return np.sum(h.inner[0].x)


SHARED = {}


def through_a_global(p, w):
    p.x = p.x * w
    return np.sum(SHARED["p"].x) + np.sum(p.x)


@pytest.mark.parametrize(
    "function, arguments, expected",
    [
        (through_another_argument, lambda p: (p, p, 2.0), lambda p: 2.0 * np.ones(2)),
        (through_a_holder, lambda p: (p, Holder(p), 2.0), lambda p: 2.0 * np.ones(2)),
        (through_a_list, lambda p: (p, Holder([p]), 2.0), lambda p: 2.0 * np.ones(2)),
        (through_a_global, lambda p: (p, 2.0), lambda p: 4.0 * np.ones(2)),
    ],
    ids=["the same object twice", "an attribute of another", "in a list", "a global"],
)
def test_an_object_reached_another_way_goes_to_the_tape(function, arguments, expected):
    def fresh():
        p = Particle(np.array([1.0, 3.0]), np.zeros(2))
        SHARED["p"] = p
        return p, arguments(p)

    try:
        p, args = fresh()
        assert_close(ag.grad(function, mode="auto")(*args).x, expected(p))
        assert_close(ag.grad(function, mode="tape")(*fresh()[1]).x, expected(p))
        p, args = fresh()
        with pytest.raises(SharedObjectError, match="holds the same object"):
            ag.grad(function, mode="source")(*args)
        assert_close(p.x, [1.0, 3.0])  # checked before anything ran
    finally:
        SHARED.clear()
    # Two distinct objects: generated source.
    p, q = Particle(np.array([1.0, 3.0]), np.zeros(2)), Particle(np.ones(2), np.zeros(2))
    if function is through_another_argument:
        assert_close(ag.grad(function, mode="source")(p, q, 2.0).x, np.zeros(2))


def test_an_object_reaching_itself_is_refused():
    p = Particle(np.array([1.0, 3.0]), np.zeros(2))
    p.me = p
    with pytest.raises(SharedObjectError, match=r"\(p\.me\)"):
        ag.grad(through_another_argument, mode="source")(p, Particle(p.x, p.v), 2.0)


def through_a_local_alias(p, w):
    q = p
    p.x = p.x * w
    return np.sum(q.x)


def through_a_returned_self(p, w):
    q = p.me()
    p.x = p.x * w
    return np.sum(q.x)


class Returning(Particle):
    def me(self):
        return self


@pytest.mark.parametrize("function", [through_a_local_alias, through_a_returned_self])
def test_a_local_alias_is_refused_at_transformation(function):
    p = Returning(np.array([1.0, 3.0]), np.zeros(2))
    assert ag.explain(function, p, 2.0).mode == "tape"
    with pytest.raises(ag.TransformError, match="may share its memory|made inside"):
        ag.grad(function, mode="source")(p, 2.0)
    for mode in ("auto", "tape"):
        p = Returning(np.array([1.0, 3.0]), np.zeros(2))
        assert_close(ag.grad(function, mode=mode)(p, 2.0).x, [2.0, 2.0])
        assert_close(p.x, [2.0, 6.0])


@dataclasses.dataclass(frozen=True)
class Frozen:
    x: np.ndarray


class Clipped:
    def __init__(self, x):
        self.x = x

    @property
    def x(self):
        return self._x

    @x.setter
    def x(self, value):
        self._x = np.clip(value, -1.0, 1.0)


class Logged:
    def __init__(self, x):
        self.x = x

    def __setattr__(self, name, value):
        object.__setattr__(self, name, value * 1.0)


def assigns_x(p, w):
    p.x = p.x * w
    return np.sum(p.x)


@pytest.mark.parametrize("make", [Frozen, Clipped, Logged], ids=["frozen", "setter", "setattr"])
def test_classes_that_do_not_set_attributes_plainly_are_refused(make):
    with pytest.raises(ag.TransformError, match="sets it plainly"):
        ag.grad(assigns_x, mode="source")(make(np.array([0.5, 2.0])), 2.0)
    if make is Frozen:
        with pytest.raises(dataclasses.FrozenInstanceError):
            ag.grad(assigns_x, mode="auto")(make(np.array([0.5, 2.0])), 2.0)
    else:
        p = make(np.array([0.25, 2.0]))
        assert ag.explain(assigns_x, p, 2.0).mode == "tape"
        got = ag.grad(assigns_x, wrt=1, mode="auto")(p, 2.0)
        expected = numeric_vjp(lambda w: assigns_x(make(np.array([0.25, 2.0])), w), [2.0], 0, 1)
        assert_close(got, expected, rtol=1e-4)


def adds_in_place(p, w):
    p.x += w  # NumPy: the caller's array itself changes
    return np.sum(p.x**2)


def test_an_attribute_changed_in_place_is_refused_with_what_to_write():
    x = np.array([1.0, 2.0])
    p = Particle(x, np.zeros(2))
    with pytest.raises(ag.TransformError, match=r"write obj.attr = obj.attr \+ v"):
        ag.grad(adds_in_place, wrt=1, mode="source")(p, np.ones(2))
    assert ag.explain(adds_in_place, p, np.ones(2), wrt=1).mode == "tape"
    assert_close(x, [1.0, 2.0])  # (refused before it ran)

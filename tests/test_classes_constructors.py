"""Objects made inside the function by constructors that do more than assign (issue 17):
``super().__init__(...)`` and ``Base.__init__(self, ...)`` chains, classmethod factories
(``Layer.make(w)`` returning ``cls(...)``) and dataclasses (their generated ``__init__``,
frozen ones too). Their bodies run inline and the object is ``make_object``: generated
source, every mode against finite differences. Constructors that do anything else stay
calls: the tape in ``mode="auto"``, a ``TransformError`` in ``mode="source"``."""

from __future__ import annotations

import collections
import dataclasses
from typing import NamedTuple

import numpy as np
import pytest
from numeric import assert_close, numeric_vjp

import astgrad as ag

MODES = ("source", "auto", "tape")


class Dense:
    scale = 2.0

    def __init__(self, w, shift=0.0):
        self.w = w * self.scale_of()
        self.shift = shift

    def scale_of(self):
        return 1.0

    def __call__(self, x):
        return np.tanh(x * self.w + self.shift)

    @classmethod
    def make(cls, w, shift=1.0):
        return cls(w * cls.scale, shift)


class Plain:
    scale = 2.0

    def __init__(self, w, shift=0.0):
        self.w = w
        self.shift = shift

    def __call__(self, x):
        return np.tanh(x * self.w + self.shift)

    @classmethod
    def make(cls, w, shift=1.0):
        return cls(w * cls.scale, shift)


class Wider(Plain):
    scale = 5.0


class Scaled(Plain):
    def __init__(self, w, k=3.0):
        super().__init__(w * k, shift=0.5)
        self.k = k

    def __call__(self, x):
        return super().__call__(x) * self.k


class Twice(Scaled):
    def __init__(self, w):
        Scaled.__init__(self, w, k=1.5)
        self.extra = self.w + 1.0


@dataclasses.dataclass
class Params:
    w: np.ndarray
    gain: float = 2.0
    label: str = "p"


@dataclasses.dataclass(frozen=True)
class FrozenParams:
    w: np.ndarray
    gain: float


def by_classmethods(w):
    a = Plain.make(w)
    b = Wider.make(w, shift=0.0)
    return np.sum(a(w) + b(w))


def by_super_init(w):
    s = Scaled(w)
    t = Twice(w * 0.5)
    return np.sum(s(w) * t.extra) + t.k * np.sum(t(w))


def by_dataclasses(x):
    p = Params(x)
    q = FrozenParams(x * 2.0, gain=3.0)
    r = Params(np.sin(x), 0.5)
    return np.sum(p.w * p.gain * q.w) + q.gain * np.sum(r.w * r.gain)


class Pair(NamedTuple):
    w: np.ndarray
    bias: float = 0.5

    def score(self, x):
        return np.sum(self.w * x) + self.bias


Coords = collections.namedtuple("Coords", "a b")


def by_namedtuples(x):
    p = Pair(x * 2.0)
    c = Coords(np.sin(x), b=p.bias * 3.0)
    return p.score(x) * c.b + np.sum(c.a * p[0]) + c[1]


FUNCTIONS = [by_classmethods, by_super_init, by_dataclasses, by_namedtuples]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.__name__)
def test_against_finite_differences(function, mode):
    w = np.array([0.3, -0.7, 1.1])
    expected = numeric_vjp(function, [w], 0, 1.0)
    value, gradient = ag.value_and_grad(function, mode=mode)(w)
    assert_close(value, function(w))
    assert_close(gradient, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.__name__)
def test_needs_no_tape(function):
    w = np.array([0.3, -0.7, 1.1])
    report = ag.explain(function, w)
    assert report.mode == "source", str(report)
    assert "make_object(" in ag.source(function, w)


@pytest.mark.parametrize("mode", MODES)
def test_forward_mode_through_them(mode):
    w, t = np.array([0.3, -0.7, 1.1]), np.array([1.0, -2.0, 0.5])
    for function in FUNCTIONS:
        expected = (function(w + 1e-6 * t) - function(w - 1e-6 * t)) / 2e-6
        value, tangent = ag.jvp(function, (w,), (t,), mode=mode)
        assert_close(tangent, expected, rtol=1e-5, what=function.__name__)


def test_the_bodies_run_inline():
    text = ag.source(by_super_init, np.ones(2))
    assert "make_object(Twice, {'w': " in text
    assert "# grad of: super().__init__(w * k, shift=0.5)" in text
    text = ag.source(by_classmethods, np.ones(2))
    assert "Wider.scale" in text and "make_object(Wider" in text


def test_a_class_attribute_read_by_a_classmethod_is_read_live():
    w = np.array([0.3, -0.7])
    gradient = ag.grad(by_classmethods, mode="source")
    before = gradient(w)
    Wider.scale = 7.0
    try:
        assert_close(gradient(w), numeric_vjp(by_classmethods, [w], 0, 1.0))
        assert not np.allclose(gradient(w), before)
    finally:
        Wider.scale = 5.0
    assert_close(gradient(w), before)


def test_a_classmethod_rebound_between_calls_is_seen():
    w = np.array([0.3, -0.7])
    gradient = ag.grad(by_classmethods, mode="source")
    before = gradient(w)
    original = Plain.__dict__["make"]
    Plain.make = classmethod(lambda cls, w, shift=1.0: cls(w * 0.0, shift))
    try:
        assert_close(gradient(w), numeric_vjp(by_classmethods, [w], 0, 1.0))
    finally:
        Plain.make = original
    assert_close(gradient(w), before)


def test_a_base_init_rebound_between_calls_is_seen():
    w = np.array([0.3, -0.7])
    gradient = ag.grad(by_super_init, mode="source")
    before = gradient(w)
    original = Plain.__init__

    def doubled(self, w, shift=0.0):
        self.w = 2.0 * w
        self.shift = shift

    Plain.__init__ = doubled
    try:
        assert_close(gradient(w), numeric_vjp(by_super_init, [w], 0, 1.0), rtol=1e-5)
    finally:
        Plain.__init__ = original
    assert_close(gradient(w), before)


# -- constructors that do more: calls, on the tape -------------------------------------


@dataclasses.dataclass
class Checked:
    w: np.ndarray

    def __post_init__(self):
        self.w = self.w * 2.0


@dataclasses.dataclass
class WithFactory:
    w: np.ndarray
    extra: list = dataclasses.field(default_factory=list)


class CallsAMethod(Plain):
    def __init__(self, w):
        super().__init__(w)
        self.w = self.scale_of() * self.w

    def scale_of(self):
        return 4.0


class WithAnArrayDefault(NamedTuple):
    w: np.ndarray
    scale: np.ndarray = np.ones(2)


class AsksItsBase(Plain):
    def __init__(self, w):
        super().__init__(w)
        self.k = super().__call__(w)  # (super() for another method: a call, on the tape)


def makes_asks_its_base(x):
    return np.sum(AsksItsBase(x).k ** 2)


def makes_checked(x):
    return np.sum(Checked(x).w ** 2)


def makes_with_factory(x):
    return np.sum(WithFactory(x).w ** 2)


def makes_calls_a_method(x):
    return np.sum(CallsAMethod(x).w ** 2)


def makes_with_an_array_default(x):
    return np.sum(WithAnArrayDefault(x).w * WithAnArrayDefault(x).scale)


@dataclasses.dataclass
class WithInitVar:
    w: np.ndarray
    k: dataclasses.InitVar[float] = 2.0

    def __post_init__(self, k):
        self.w = self.w * k


@dataclasses.dataclass
class PostInitCalls:
    w: np.ndarray

    def __post_init__(self):
        self.w = self.doubled()  # (a method of self reading its fields: inline too)

    def doubled(self):
        return self.w * 2.0


class HandsSelfOn:
    def __init__(self, w):
        self.w = w
        self.me = self.itself()  # (the object itself: a call, on the tape)

    def itself(self):
        return self


def makes_handing_self_on(x):
    return np.sum(HandsSelfOn(x).me.w ** 2)


def makes_with_an_initvar(x):
    return np.sum(WithInitVar(x, 3.0).w ** 2)


def makes_post_init_calls(x):
    return np.sum(PostInitCalls(x).w ** 2)


@pytest.mark.parametrize(
    "function",
    [makes_asks_its_base, makes_with_an_initvar, makes_handing_self_on],
    ids=lambda f: f.__name__,
)
def test_other_constructors_stay_calls(function):
    x = np.array([0.3, -0.7])
    assert ag.explain(function, x).mode == "tape"
    expected = numeric_vjp(function, [x], 0, 1.0)
    for mode in ("auto", "tape"):
        assert_close(ag.grad(function, mode=mode)(x), expected)
    with pytest.raises(ag.TransformError):
        ag.grad(function, mode="source")(x)


class Clash(Plain):
    def __init__(self, w):
        plain_w = w * 3.0  # the name the base __init__'s parameter would get inline
        super().__init__(plain_w + 1.0)
        self.z = plain_w


def makes_a_clash(x):
    c = Clash(x)
    return np.sum(c.w * c.z)


def test_a_name_clash_with_the_base_init_is_never_wrong():
    x = np.array([0.3, -0.7])
    expected = numeric_vjp(makes_a_clash, [x], 0, 1.0)
    for mode in ("auto", "tape"):
        assert_close(ag.grad(makes_a_clash, mode=mode)(x), expected)


# -- dataclasses' other fields, __post_init__ and defaults that are objects: inline --------


SCALE = np.array([2.0, 3.0])


@dataclasses.dataclass(kw_only=True)
class KeywordOnly:
    w: np.ndarray
    b: float = 0.5
    s: tuple = (2.0, 3.0)


@dataclasses.dataclass
class Mixed:
    w: np.ndarray
    _: dataclasses.KW_ONLY
    gain: float = 1.5


@dataclasses.dataclass
class Normalized:
    w: np.ndarray
    eps: float = 1e-3

    def __post_init__(self):
        self.w = self.w / (np.sqrt(np.sum(self.w**2)) + self.eps)
        self.size = np.sum(self.w**2)  # (an attribute that is not a field)


ZEROS = np.zeros(2)


class WithDefaults:
    def __init__(self, w, scale=SCALE * 1.0, *, shift=ZEROS):
        self.w = w * scale + shift


def makes_more_dataclasses(x):
    a = Checked(x)  # __post_init__ doubling w
    b = WithFactory(x * 2.0)  # extra from default_factory
    c = KeywordOnly(w=x, b=2.0)
    d = Mixed(x, gain=0.5)
    e = Normalized(x + 1.0)
    f = WithAnArrayDefault(x)  # a NamedTuple whose default is an array
    total = np.sum(a.w**2) + np.sum(b.w) * (len(b.extra) + 1.0)
    total = total + np.sum(c.w * np.array(c.s)) * c.b + d.gain * np.sum(d.w)
    return total + np.sum(e.w * x) + e.size + np.sum(f.w * f.scale)


def makes_with_object_defaults(x):
    return np.sum(WithDefaults(x).w ** 2) + np.sum(WithDefaults(x, shift=x).w)


MORE = [makes_more_dataclasses, makes_with_object_defaults]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("function", MORE, ids=lambda f: f.__name__)
def test_more_constructors_inline(function, mode):
    x = np.array([0.3, -0.7])
    value, gradient = ag.value_and_grad(function, mode=mode)(x)
    assert_close(value, function(x))
    assert_close(gradient, numeric_vjp(function, [x], 0, 1.0), rtol=1e-5, atol=1e-7)
    t = np.array([1.0, -2.0])
    _, tangent = ag.jvp(function, (x,), (t,), mode=mode)
    expected = (function(x + 1e-6 * t) - function(x - 1e-6 * t)) / 2e-6
    assert_close(tangent, expected, rtol=1e-5)
    if mode == "source":
        report = ag.explain(function, x)
        assert report.mode == "source", str(report)


@dataclasses.dataclass
class Counting:
    w: np.ndarray
    log: list = dataclasses.field(default_factory=list)


def makes_counting(x):
    return np.sum(Counting(x).w) + np.sum(Counting(x, []).w)


def test_a_factory_is_called_where_its_argument_is_missing():
    text = ag.source(makes_more_dataclasses, np.ones(2))
    assert "extra_factory()" in text and "make_object(Checked" in text
    text = ag.source(makes_counting, np.ones(2))
    assert text.count("log_factory()") == 1  # (Counting(x, []) does not call it)
    assert_close(ag.grad(makes_counting, mode="source")(np.ones(2)), [2.0, 2.0])
    assert ag.explain(makes_counting, np.ones(2)).mode == "source"


class Gaussian:
    def __init__(self, mean, size):
        self.mean = mean  # (attributes named as an array's: .mean, .size, .T)
        self.size = size
        self.T = size * 2.0


def log_density(g, x):
    return -np.sum((x - g.mean) ** 2) * g.size + g.T


def made_gaussian(m):
    g = Gaussian(m, np.sum(m**2))
    return np.sum(g.mean) * g.size + g.T


@pytest.mark.parametrize("mode", MODES)
def test_attributes_named_as_an_arrays_are_the_objects(mode):
    x, m = np.array([0.3, -0.7]), np.array([1.0, 2.0])
    got = ag.grad(made_gaussian, mode=mode)(m)
    assert_close(got, numeric_vjp(made_gaussian, [m], 0, 1.0), rtol=1e-6)
    gradient = ag.grad(log_density, mode=mode)(Gaussian(m, 1.5), x)
    assert_close(gradient.mean, 2 * (x - m) * 1.5)
    assert_close(gradient.size, -np.sum((x - m) ** 2))
    assert_close(gradient.T, 1.0)
    if mode == "source":
        assert ag.explain(made_gaussian, m).mode == "source"
        assert ag.explain(log_density, Gaussian(m, 1.5), x).mode == "source"


def test_a_default_rebound_between_calls_is_seen():
    x = np.array([0.3, -0.7])
    gradient = ag.grad(makes_with_object_defaults, mode="source")
    before = gradient(x)
    original = WithDefaults.__init__.__defaults__
    WithDefaults.__init__.__defaults__ = (np.array([5.0, 7.0]),)
    try:
        got = gradient(x)
        assert_close(got, numeric_vjp(makes_with_object_defaults, [x], 0, 1.0), rtol=1e-5)
        assert not np.allclose(got, before)
    finally:
        WithDefaults.__init__.__defaults__ = original
    assert_close(gradient(x), before)


# -- __init__ with branches --------------------------------------------------------------


class Branchy:
    def __init__(self, w, b=None, act="tanh"):
        self.w = w
        if b is None:
            self.b = np.zeros(w.shape[0])
        else:
            self.b = b * 2.0
        if act == "tanh":
            self.gain = 1.0
        elif act == "lin":
            self.gain = self.w[0] * 0.5  # (reads an attribute assigned before)
        else:
            self.gain = 3.0


@dataclasses.dataclass
class Clipped:
    w: np.ndarray
    limit: float = 1.0

    def __post_init__(self):
        if np.max(np.abs(self.w)) > self.limit:
            self.w = self.w / np.max(np.abs(self.w)) * self.limit


def makes_branchy(x):
    a = Branchy(x)
    b = Branchy(x, x * 3.0, act="lin")
    c = Clipped(x * 4.0)
    d = Clipped(x * 0.1)
    return np.sum(np.tanh(a.w * x + a.b) * a.gain) + np.sum(b.b * b.gain) + np.sum(c.w * d.w)


class OnOneBranch:
    def __init__(self, w, flag):
        if flag:
            self.w = w  # (the object lacks w when flag is false)


def makes_on_one_branch(x):
    return np.sum(OnOneBranch(x, True).w)


@pytest.mark.parametrize("mode", MODES)
def test_an_init_with_branches_runs_inline(mode):
    x = np.array([0.3, -0.7])
    value, gradient = ag.value_and_grad(makes_branchy, mode=mode)(x)
    assert_close(value, makes_branchy(x))
    assert_close(gradient, numeric_vjp(makes_branchy, [x], 0, 1.0), rtol=1e-5, atol=1e-7)
    t = np.array([1.0, -2.0])
    _, tangent = ag.jvp(makes_branchy, (x,), (t,), mode=mode)
    expected = (makes_branchy(x + 1e-6 * t) - makes_branchy(x - 1e-6 * t)) / 2e-6
    assert_close(tangent, expected, rtol=1e-5)
    if mode == "source":
        assert ag.explain(makes_branchy, x).mode == "source"


def test_an_attribute_assigned_on_one_branch_only_stays_a_call():
    x = np.array([0.3, -0.7])
    assert ag.explain(makes_on_one_branch, x).mode == "tape"
    with pytest.raises(ag.TransformError):
        ag.grad(makes_on_one_branch, mode="source")(x)
    assert_close(ag.grad(makes_on_one_branch, mode="auto")(x), [1.0, 1.0])


# -- __init__ calling a method of self that reads its attributes --------------------------


class Normed:
    def __init__(self, w, k):
        self.w = w
        self.k = k
        self.scale = self.norm(2.0)  # (reads self.w and self.k, assigned before)
        self.w = self.w / self.scale

    def norm(self, p):
        return np.sum(np.abs(self.w) ** p) ** (1.0 / p) * self.k


def makes_normed(x):
    a = Normed(x, 1.5)
    b = CallsAMethod(x * 2.0)  # (self.scale_of(), after super().__init__)
    c = PostInitCalls(x * 3.0)
    return np.sum(a.w * x) + Normed(x * 2.0, 0.5).scale + np.sum(b.w**2) + np.sum(c.w * x)


@pytest.mark.parametrize("mode", MODES)
def test_an_init_calling_a_method_that_reads_self(mode):
    x = np.array([0.3, -0.7])
    value, gradient = ag.value_and_grad(makes_normed, mode=mode)(x)
    assert_close(value, makes_normed(x))
    assert_close(gradient, numeric_vjp(makes_normed, [x], 0, 1.0), rtol=1e-5, atol=1e-7)
    t = np.array([1.0, -2.0])
    _, tangent = ag.jvp(makes_normed, (x,), (t,), mode=mode)
    expected = (makes_normed(x + 1e-6 * t) - makes_normed(x - 1e-6 * t)) / 2e-6
    assert_close(tangent, expected, rtol=1e-5)
    if mode == "source":
        assert ag.explain(makes_normed, x).mode == "source"
        text = ag.source(makes_normed, x).replace("\n", " ")
        assert "Normed_norm_forward(make_object(" in text  # (its derivative, on what self held)

"""Nested gradients whose inner function closes over the outer variable.

``D(x -> x * D(y -> x * y)(1))(4)`` is 8: the inner gradient is ``x``, a function of the
outer variable, and the outer derivative must follow it (``d/dx x * x``). Treating the
inner gradient as a constant gives 4, silently: the classic perturbation confusion. A
gradient on the tape called inside a function run on the tape (or near tensors that
require grad made by hand) looks at its result's graph: when it reaches tensors that
record from outside (closure cells, globals, defaults), its backward pass records
(``create_graph``) and its value and gradients stay functions of them. Generated code
(modes "auto" and "source") met by such a tensor hands the call to the tape.

Each level's variable has its own name (x outer, y inner, z innermost); the functions are
defined in this file, so that their source can be read.
"""

from __future__ import annotations

import gc
import math
import pickle

import numpy as np
import pytest
from astgrad.runtime import fallback
from astgrad.runtime.tensor import MADE_BY_HAND
from numeric import assert_close, numeric_vjp

import astgrad as ag

OUTER_MODES = ("auto", "tape")
INNER_MODES = ("auto", "source", "tape")


# -- the functions ---------------------------------------------------------------------------


def sum_with_lambda(inner_mode):
    def outer(x):
        return x * ag.grad(lambda y: x + y, mode=inner_mode)(1.0)

    return outer


def product_with_lambda(inner_mode):
    def outer(x):
        return x * ag.grad(lambda y: x * y, mode=inner_mode)(1.0)

    return outer


def sum_with_def(inner_mode):
    def outer(x):
        def inner(y):
            return x + y

        return x * ag.grad(inner, mode=inner_mode)(1.0)

    return outer


def product_with_def(inner_mode):
    def outer(x):
        def inner(y):
            return x * y

        return x * ag.grad(inner, mode=inner_mode)(1.0)

    return outer


def product_with_value_and_grad(inner_mode):
    def outer(x):
        # value 4 x, gradient 4 x at y = 2: the sum is 8 x
        value, slope = ag.value_and_grad(lambda y: x * y * y, mode=inner_mode)(2.0)
        return value + slope

    return outer


def value_of_the_outer_variable(inner_mode):
    def outer(x):
        # the inner function's value is x itself, its gradient 0: x * x
        value, slope = ag.value_and_grad(lambda y: x + 0.0 * y, mode=inner_mode)(1.0)
        return value * value + slope

    return outer


def returns_the_outer_variable(inner_mode):
    def outer(x):
        doubled = 2.0 * x
        value, slope = ag.value_and_grad(lambda y: x, mode=inner_mode)(1.0)  # x itself
        twice, zero = ag.value_and_grad(lambda y: doubled, mode=inner_mode)(1.0)
        return value * twice + slope + zero  # 2 x^2

    return outer


def product_with_vjp(inner_mode):
    def outer(x):
        value, pullback = ag.vjp(lambda y: x * y, 1.0, mode=inner_mode)
        return x * pullback(1.0)

    return outer


def value_of_a_vjp(inner_mode):
    def outer(x):
        value, pullback = ag.vjp(lambda y: x * y * y, 2.0, mode=inner_mode)
        return value * pullback(1.0)  # 4 x * 4 x

    return outer


def product_with_vjp_of_a_vector(inner_mode):
    def outer(x):
        value, pullback = ag.vjp(lambda y: np.sin(x * y), np.array([0.5, 1.5]), mode=inner_mode)
        return np.sum(pullback(np.array([1.0, 2.0])) * x)

    return outer


def three_levels(inner_mode, middle_mode):
    def outer(x):
        def middle(y):
            innermost = ag.grad(lambda z: x * y * z, mode=inner_mode)(1.0)  # x y
            return x * y * innermost  # x^2 y^2

        return x * ag.grad(middle, mode=middle_mode)(1.0)  # x * 2 x^2 = 2 x^3

    return outer


def with_a_default(inner_mode):
    def outer(x):
        def inner(y, scale=x):
            return scale * y * y

        return x * ag.grad(inner, mode=inner_mode)(1.0)  # x * 2 x

    return outer


def vector_closure(inner_mode):
    def outer(w):
        slope = ag.grad(lambda v: np.sum(np.sin(w * v) * v), mode=inner_mode)(np.ones(3))
        return np.sum(slope * w)

    return outer


def descent_steps(inner_mode):
    """Three gradient steps on a * (v - 1)^2 from v = 0, as a function of a: the step's
    gradient is a function of ``a`` (closure) and of the point (argument)."""

    def outer(a):
        v = 0.0
        for _ in range(3):
            v = v - 0.1 * ag.grad(lambda u: a * (u - 1.0) ** 2, mode=inner_mode)(v)
        return v

    return outer


def descent_by_hand(a):
    v = 0.0
    for _ in range(3):
        v = v - 0.1 * 2.0 * a * (v - 1.0)
    return v


# -- the classic cases -----------------------------------------------------------------------


@pytest.mark.parametrize("outer_mode", OUTER_MODES)
@pytest.mark.parametrize("inner_mode", INNER_MODES)
@pytest.mark.parametrize("make", [sum_with_lambda, sum_with_def])
def test_sum_inside_gives_one(make, inner_mode, outer_mode):
    # D(x -> x * D(y -> x + y)(1))(1) == 1
    assert ag.grad(make(inner_mode), mode=outer_mode)(1.0) == pytest.approx(1.0)


@pytest.mark.parametrize("outer_mode", OUTER_MODES)
@pytest.mark.parametrize("inner_mode", INNER_MODES)
@pytest.mark.parametrize("make", [product_with_lambda, product_with_def])
def test_product_inside_gives_twice_the_point(make, inner_mode, outer_mode):
    # D(x -> x * D(y -> x * y)(1))(4) == 8, never 4
    got = ag.grad(make(inner_mode), mode=outer_mode)(4.0)
    assert type(got) is float
    assert got == pytest.approx(8.0)


@pytest.mark.parametrize("outer_mode", OUTER_MODES)
@pytest.mark.parametrize("inner_mode", INNER_MODES)
def test_value_and_grad_inside(inner_mode, outer_mode):
    assert ag.grad(product_with_value_and_grad(inner_mode), mode=outer_mode)(3.0) == (
        pytest.approx(8.0)
    )
    # the value alone is the outer variable: it must stay a function of it
    assert ag.grad(value_of_the_outer_variable(inner_mode), mode=outer_mode)(3.0) == (
        pytest.approx(6.0)
    )
    # the value is the outer tensor itself, or one computed from it (4 x at 3)
    assert ag.grad(returns_the_outer_variable(inner_mode), mode=outer_mode)(3.0) == (
        pytest.approx(12.0)
    )


@pytest.mark.parametrize("outer_mode", OUTER_MODES)
@pytest.mark.parametrize("inner_mode", INNER_MODES)
def test_vjp_inside(inner_mode, outer_mode):
    assert ag.grad(product_with_vjp(inner_mode), mode=outer_mode)(4.0) == pytest.approx(8.0)
    # 16 x^2, whose derivative at 0.5 is 16
    assert ag.grad(value_of_a_vjp(inner_mode), mode=outer_mode)(0.5) == pytest.approx(16.0)
    f = product_with_vjp_of_a_vector(inner_mode)
    assert_close(ag.grad(f, mode=outer_mode)(0.7), numeric_vjp(f, [0.7], 0, 1.0), rtol=1e-6)


@pytest.mark.parametrize("outer_mode", OUTER_MODES)
@pytest.mark.parametrize("middle_mode", ("auto", "tape"))
@pytest.mark.parametrize("inner_mode", INNER_MODES)
def test_three_levels_of_closures(inner_mode, middle_mode, outer_mode):
    # 2 x^3, whose derivative at 2 is 24
    outer = three_levels(inner_mode, middle_mode)
    assert ag.grad(outer, mode=outer_mode)(2.0) == pytest.approx(24.0)


def test_a_middle_level_in_source_mode_cannot_be_transformed():
    # (it calls a gradient of a lambda it makes: an honest error, not a wrong number)
    with pytest.raises(ag.TransformError, match="lambda"):
        ag.grad(three_levels("tape", "source"), mode="tape")(2.0)


@pytest.mark.parametrize("inner_mode", INNER_MODES)
def test_a_default_holding_the_outer_variable(inner_mode):
    # 2 x^2, whose derivative at 3 is 12
    assert ag.grad(with_a_default(inner_mode), mode="tape")(3.0) == pytest.approx(12.0)


@pytest.mark.parametrize("inner_mode", INNER_MODES)
def test_arrays_against_differences(inner_mode):
    f = vector_closure(inner_mode)
    w = np.array([0.3, -0.8, 1.2])
    assert_close(ag.grad(f, mode="tape")(w), numeric_vjp(f, [w], 0, 1.0), rtol=1e-6)


@pytest.mark.parametrize("inner_mode", INNER_MODES)
def test_gradient_steps_differentiated_with_respect_to_a_closed_over_rate(inner_mode):
    f = descent_steps(inner_mode)
    assert f(2.0) == pytest.approx(descent_by_hand(2.0))
    expected = numeric_vjp(descent_by_hand, [2.0], 0, 1.0)
    assert ag.grad(f, mode="tape")(2.0) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("inner_mode", INNER_MODES)
def test_second_derivative_through_a_closure(inner_mode):
    # outer(x) = x * d/dy (x y^2) at 1 = 2 x^2: second derivative 4
    def outer(x):
        return x * ag.grad(lambda y: x * y * y, mode=inner_mode)(1.0)

    second = ag.grad(ag.grad(outer, mode="tape"), mode="tape")
    assert second(1.5) == pytest.approx(4.0)


# -- through a global ------------------------------------------------------------------------
#
# (A function run on the tape that rebinds a global with a ``global`` statement writes into
# the tape's view of its globals, not the module: other functions do not see it. So the
# outer variable reaches the inner function here through a global it changes in place.)

SETTINGS = {"scale": 1.0}


def reads_settings(y):
    return SETTINGS["scale"] * y * y


class Holder:
    """An object a function reads through a global: nothing looks inside it beforehand."""

    weight = 1.0


HOLDER = Holder()


def reads_holder(y):
    return HOLDER.weight * y * y


def reads_holder_through_math(y):
    return math.exp(HOLDER.weight) * y  # (generated code: math.exp of a tensor raises)


def reads_holder_into_an_array(v):
    return np.sum(HOLDER.weight * v * v)


def sets_settings(gradient):
    def outer(x):
        SETTINGS["scale"] = x
        try:
            return x * gradient(1.0)  # x * 2 x
        finally:
            SETTINGS["scale"] = 1.0

    return outer


def sets_holder(gradient):
    def outer(x):
        HOLDER.weight = x
        try:
            return x * gradient(1.0)  # x * 2 x
        finally:
            HOLDER.weight = 1.0

    return outer


def sets_holder_vjp(mode, reads=reads_holder):
    def outer(x):
        HOLDER.weight = x
        try:
            _, pullback = ag.vjp(reads, 1.0, mode=mode)
            return x * pullback(1.0)
        finally:
            HOLDER.weight = 1.0

    return outer


def sets_holder_array(gradient):
    def outer(x):
        HOLDER.weight = x
        try:
            return np.sum(x * gradient(np.array([1.0, -2.0])))  # x * 2 x * (1 - 2)
        finally:
            HOLDER.weight = 1.0

    return outer


@pytest.mark.parametrize("inner_mode", INNER_MODES)
@pytest.mark.parametrize(
    ("reads", "sets"), [(reads_settings, sets_settings), (reads_holder, sets_holder)]
)
def test_a_global_set_to_the_outer_variable(reads, sets, inner_mode):
    gradient = ag.grad(reads, mode=inner_mode)
    assert gradient(1.0) == 2.0  # a plan for plain calls is made first
    outer = sets(gradient)
    for _ in range(2):  # (the plan made, and then the one the nested call left)
        assert ag.grad(outer, mode="tape")(3.0) == pytest.approx(12.0)
    assert gradient(1.0) == 2.0


@pytest.mark.parametrize("inner_mode", INNER_MODES)
def test_a_vjp_reading_an_object_that_holds_the_outer_variable(inner_mode):
    assert ag.grad(sets_holder_vjp(inner_mode), mode="tape")(3.0) == pytest.approx(12.0)
    # x e^x, whose derivative is e^x (1 + x)
    outer = sets_holder_vjp(inner_mode, reads_holder_through_math)
    assert ag.grad(outer, mode="tape")(0.5) == pytest.approx(math.exp(0.5) * 1.5)


@pytest.mark.parametrize("inner_mode", INNER_MODES)
def test_generated_code_that_raises_on_an_outer_tensor_hands_the_call_to_the_tape(inner_mode):
    gradient = ag.grad(reads_holder_through_math, mode=inner_mode)
    assert gradient(1.0) == pytest.approx(math.e)

    def outer(x):
        HOLDER.weight = x
        try:
            return x * gradient(1.0)
        finally:
            HOLDER.weight = 1.0

    for _ in range(2):
        assert ag.grad(outer, mode="tape")(0.5) == pytest.approx(math.exp(0.5) * 1.5)


@pytest.mark.parametrize("inner_mode", INNER_MODES)
def test_an_array_gradient_of_a_function_reading_an_outer_tensor(inner_mode):
    gradient = ag.grad(reads_holder_into_an_array, mode=inner_mode)
    assert_close(gradient(np.array([1.0, -2.0])), [2.0, -4.0])
    outer = sets_holder_array(gradient)
    for _ in range(2):  # -2 x^2, whose derivative at 3 is -12
        assert ag.grad(outer, mode="tape")(3.0) == pytest.approx(-12.0)


# -- third order -----------------------------------------------------------------------------


def polynomial(x):
    return x**4 + 2 * x**3 - x


def test_third_derivative_on_the_tape():
    third = ag.grad(ag.grad(ag.grad(polynomial, mode="tape"), mode="tape"), mode="tape")
    assert third(1.5) == pytest.approx(24 * 1.5 + 12)


def test_third_derivative_of_a_closure():
    # outer(x) = x * d/dy (x^2 y^2) at 1 = 2 x^3: third derivative 12
    def outer(x):
        return x * ag.grad(lambda y: x * x * y * y, mode="tape")(1.0)

    third = ag.grad(ag.grad(ag.grad(outer, mode="tape"), mode="tape"), mode="tape")
    assert third(0.7) == pytest.approx(12.0)


# -- tensors that require grad made by hand ----------------------------------------------------


@pytest.mark.parametrize("mode", INNER_MODES)
def test_a_gradient_closing_over_a_tensor_stays_a_function_of_it(mode):
    w = ag.tensor(3.0, requires_grad=True)
    slope = ag.grad(lambda y: w * y * y, mode=mode)(1.0)  # 2 w
    assert isinstance(slope, ag.Tensor) and slope.requires_grad
    assert slope.item() == pytest.approx(6.0)
    slope.backward()
    assert w.grad.item() == pytest.approx(2.0)


def test_a_gradient_that_reads_no_outside_tensor_stays_plain():
    w = ag.tensor(3.0, requires_grad=True)  # (tensors made by hand exist)
    assert w.requires_grad
    for mode in INNER_MODES:
        got = ag.grad(lambda y: y * y * y, mode=mode)(2.0)
        assert type(got) is float and got == 12.0
        value, slope = ag.value_and_grad(polynomial, mode=mode)(np.array(1.0))
        assert type(slope) is np.ndarray


@pytest.mark.parametrize("mode", INNER_MODES)
def test_without_grad_mode_the_outer_graph_is_left_alone(mode):
    x = ag.tensor(2.0, requires_grad=True)
    tripled = x * 3.0  # a node that a careless inner pass would free
    with ag.no_grad():
        slope = ag.grad(lambda y: tripled * y * y, mode=mode)(1.0)
    assert not isinstance(slope, ag.Tensor) or not slope.requires_grad
    assert float(slope) == pytest.approx(12.0)
    tripled.backward()  # still there
    assert x.grad.item() == 3.0


def test_the_outer_graph_is_not_consumed_by_an_inner_gradient():
    x = ag.tensor(2.0, requires_grad=True)
    doubled = x * 2.0
    slope = ag.grad(lambda y: doubled * y, mode="tape")(1.0)  # 2 x, recorded
    (slope * doubled).backward()  # d/dx 4 x^2 = 8 x
    assert x.grad.item() == pytest.approx(16.0)


def test_the_record_of_leaves_made_is_kept_only_while_a_run_lasts():
    kept = ag.tensor(1.0, requires_grad=True)  # (so that even the outermost run looks)
    assert kept.requires_grad
    assert ag.grad(product_with_lambda("tape"), mode="tape")(4.0) == pytest.approx(8.0)
    with pytest.raises(ZeroDivisionError):
        ag.grad(lambda x: x * ag.grad(lambda y: y * (1 // 0), mode="tape")(1.0), mode="tape")(1.0)
    assert ag.grad(lambda x: x * x, mode="tape")(1.0) == 2.0
    assert fallback._made.leaves == []


def test_a_copy_or_an_unpickled_tensor_is_followed_too():
    w = pickle.loads(pickle.dumps(ag.tensor(3.0, requires_grad=True)))
    gc.collect()  # (the original is gone: only the copy requires grad)
    slope = ag.grad(lambda y: w * y * y, mode="tape")(1.0)
    assert isinstance(slope, ag.Tensor)
    slope.backward()
    assert w.grad.item() == pytest.approx(2.0)


def test_plain_calls_do_not_look_once_tensors_made_by_hand_are_gone(monkeypatch):
    looked = []
    walk = fallback.outside_graph
    monkeypatch.setattr(fallback, "outside_graph", lambda *a: looked.append(1) or walk(*a))
    g = ag.grad(lambda y: y * y * y, mode="tape")
    gc.collect()
    # (tensors other tests keep alive, set aside: this test sees only its own)
    others = dict(MADE_BY_HAND)
    MADE_BY_HAND.clear()
    try:
        w = ag.tensor(3.0, requires_grad=True)
        assert g(2.0) == 12.0 and looked  # (w alive: a tensor that records could be read)
        del w
        gc.collect()
        assert not MADE_BY_HAND
        looked.clear()
        for _ in range(3):
            assert g(2.0) == 12.0  # the plan
        assert ag.vjp(lambda y: y * y, 2.0, mode="tape")[1](1.0) == 4.0  # tape_vjp
        assert not looked
    finally:
        MADE_BY_HAND.update((key, ref) for key, ref in others.items() if ref() is not None)

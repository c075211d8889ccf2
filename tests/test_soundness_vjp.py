"""``ag.vjp``'s pullback between the two calls: changing the value or an input in place
before calling the pullback either cannot matter (the user got a copy of what the
backward pass reads) or raises a RuntimeError naming what changed; calling the pullback
never changes what the user got back. In every mode."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from modules import write_module
from numeric import assert_close

import astgrad as ag

MODES = ("source", "auto", "tape")

SOURCE = """
import numpy as np

SCALE = np.array([1.0, 2.0, 3.0])


def expo(x):
    return np.exp(x)


def square(x):
    return x * x


def scaled(x):
    return np.sin(x) * SCALE


def assigns(x):
    y = np.zeros(3)
    y[0] = x[0] * 2.0
    y[1] = x[1] * y[0]
    return y


def factored(a):
    q, r = np.linalg.qr(a)
    return np.linalg.qr(q * 2.0 + r)


def listed(x):
    ys = [x, x * 2.0]
    ys[0] = x * ys[1]
    return ys


def keyed(x):
    out = {"a": x * 2.0}
    out["a"] = out["a"] * x
    return out


def shape_only(x, y):
    return np.zeros_like(x) + y * y


def identity(x):
    return x


def helper(x):
    try:
        return np.exp(x)
    except ValueError:
        return x


def mixed(x):
    return helper(x) * 2.0
"""


@pytest.fixture(scope="module")
def m(tmp_path_factory):
    module = write_module(tmp_path_factory.mktemp("vjp"), "soundness_vjp_module", SOURCE)
    yield module
    sys.modules.pop("soundness_vjp_module", None)


def x3():
    return np.array([0.5, 1.0, 2.0])


def cases(*names):
    """(mode, name) pairs; ``mixed`` calls a function with try/except, so not in source mode."""
    return [(mode, n) for n in names for mode in MODES if not (n == "mixed" and mode == "source")]


@pytest.mark.parametrize(("mode", "name"), cases("expo", "square", "scaled", "identity", "mixed"))
def test_changing_the_value_in_place_cannot_matter(m, mode, name):
    fun = getattr(m, name)
    x = x3()
    expected = ag.vjp(fun, x3(), mode=mode)[1](np.array([1.0, -1.0, 0.5]))
    value, pullback = ag.vjp(fun, x, mode=mode)
    value *= 0.0
    value += 7.0
    assert_close(pullback(np.array([1.0, -1.0, 0.5])), expected, what=f"{name} {mode}")


@pytest.mark.parametrize(("mode", "name"), cases("square", "scaled", "mixed"))
def test_changing_an_input_the_pullback_reads_raises(m, mode, name):
    fun = getattr(m, name)
    x = x3()
    _, pullback = ag.vjp(fun, x, mode=mode)
    x[1] = 10.0
    with pytest.raises(RuntimeError, match=rf"the argument 'x' of {name} was changed in place"):
        pullback(np.ones(3))


@pytest.mark.parametrize("mode", MODES)
def test_changing_a_global_the_pullback_reads_raises(m, mode):
    _, pullback = ag.vjp(m.scaled, x3(), mode=mode)
    m.SCALE[0] = 5.0
    try:
        with pytest.raises(RuntimeError, match="the variable 'SCALE' .* changed in place"):
            pullback(np.ones(3))
    finally:
        m.SCALE[0] = 1.0


@pytest.mark.parametrize("mode", ["source", "auto"])
def test_rebinding_a_global_the_generated_pullback_reads_raises(m, mode):
    _, pullback = ag.vjp(m.scaled, x3(), mode=mode)
    kept = m.SCALE
    m.SCALE = np.array([4.0, 5.0, 6.0])
    try:
        with pytest.raises(RuntimeError, match="the variable 'SCALE' .* was rebound"):
            pullback(np.ones(3))
    finally:
        m.SCALE = kept


def test_rebinding_a_global_cannot_matter_on_the_tape(m):
    x = x3()
    _, pullback = ag.vjp(m.scaled, x, mode="tape")
    kept = m.SCALE
    m.SCALE = np.array([4.0, 5.0, 6.0])
    try:
        assert_close(pullback(np.ones(3)), np.cos(x) * kept)
    finally:
        m.SCALE = kept


def test_an_input_the_backward_pass_does_not_read_may_change(m):
    # source mode knows what it saved: x is read for its shape only here
    x, y = x3(), np.array([1.0, 2.0, 3.0])
    _, pullback = ag.vjp(m.shape_only, x, y, wrt=1, mode="source")
    x[:] = 4.0
    assert_close(pullback(np.ones(3)), 2 * y)


@pytest.mark.parametrize("mode", MODES)
def test_the_pullback_does_not_change_the_value_it_returned(m, mode):
    x = x3()
    value, pullback = ag.vjp(m.assigns, x, mode=mode)
    kept = value.copy()
    gradient = pullback(np.ones(3))
    np.testing.assert_array_equal(value, kept)
    assert_close(gradient, [2 + 2 * x[1], 2 * x[0], 0.0])


@pytest.mark.parametrize("mode", MODES)
def test_the_pullback_does_not_change_a_list_or_dict_it_returned(m, mode):
    x = np.array([0.5, 1.0])
    ys, pullback = ag.vjp(m.listed, x, mode=mode)
    items = list(ys)
    kept = [y.copy() for y in ys]
    gradient = pullback([np.ones(2), np.ones(2)])
    assert all(a is b for a, b in zip(ys, items)) and len(ys) == 2
    for y, k in zip(ys, kept):
        np.testing.assert_array_equal(y, k)
    assert_close(gradient, 4 * x + 2)

    out, pullback = ag.vjp(m.keyed, x, mode=mode)
    out["a"] = "changed by the user"
    assert_close(pullback({"a": np.ones(2)}), 4 * x)


@pytest.mark.parametrize("mode", MODES)
def test_changing_a_returned_list_cannot_matter(m, mode):
    x = np.array([0.5, 1.0])
    ys, pullback = ag.vjp(m.listed, x, mode=mode)
    ys[0] *= 3.0
    ys.append(np.zeros(2))
    ys[1] = np.full(2, 9.0)
    assert_close(pullback([np.ones(2), np.ones(2)]), 4 * x + 2)


@pytest.mark.parametrize("mode", MODES)
def test_a_pullback_kept_for_later_calls_is_checked_each_time(m, mode):
    x = x3()
    _, pullback = ag.vjp(m.square, x, mode=mode)
    assert_close(pullback(np.ones(3), retain_graph=True), 2 * x)
    x[0] = -1.0
    with pytest.raises(RuntimeError, match="the argument 'x' of square was changed in place"):
        pullback(np.ones(3))


@pytest.mark.parametrize("mode", MODES)
def test_zero_dimensional_and_float32_arguments_are_checked_too(m, mode):
    for x in (np.array(1.5), np.array([0.5, 2.0], dtype=np.float32)):
        _, pullback = ag.vjp(m.square, x, mode=mode)
        x[...] = 3.0
        with pytest.raises(RuntimeError, match="the argument 'x' of square was changed"):
            pullback(np.ones(x.shape, dtype=x.dtype))


@pytest.mark.parametrize("mode", MODES)
def test_a_named_tuple_value_stays_one(m, mode):
    a = np.array([[2.0, 1.0], [0.5, 3.0]])
    value, pullback = ag.vjp(m.factored, a, mode=mode)
    if mode != "tape":  # (the tape gives plain tuples of results)
        assert type(value) is type(np.linalg.qr(a)) and value.Q.shape == (2, 2)
    cotangent = (np.ones((2, 2)), np.eye(2))
    expected = ag.vjp(m.factored, a.copy(), mode=mode)[1](cotangent)
    value[0][...] = 0.0
    assert_close(pullback(cotangent), expected)


def appended_in_one_branch(x, flag):
    if flag:
        return np.sum(x * 2.0)
    parts = []
    for i in range(3):
        parts.append(x[i] * x[i])
    return np.sum(np.stack(parts))


@pytest.mark.parametrize("flag", [True, False])
def test_a_list_appended_to_in_a_branch_not_taken(flag):
    # The split backward pass copies the lists it pops from; one made in the other branch
    # is None there (it raised "'NoneType' object is not iterable")
    x = np.array([0.5, 1.0, 2.0])
    _, pullback = ag.vjp(appended_in_one_branch, x, flag, mode="source")
    expected = np.full(3, 2.0) if flag else 2 * x
    np.testing.assert_allclose(pullback(1.0), expected)

"""The tape's plan for cached calls of ``ag.grad(f, mode="tape")``: calls with positional
host arguments of the same types take it, and must give what the general path gives
(``ag.vjp`` on the tape, which never takes a plan): the same values and gradients, of the
same forms, the same errors, and gradients that are the caller's own buffers, never
shared with each other, with an argument, or with what a rule saved. The numbers of the
function's code stay numbers on the tape, on either path: augmented assignment rebinds them.
"""

from __future__ import annotations

import numpy as np
import pytest
from numeric import assert_close

import astgrad as ag


def mlp(W1, b1, W2, b2, x, y):
    h = np.tanh(x @ W1 + b1)
    out = h @ W2 + b2
    return np.mean((out - y) ** 2)


def _mlp_args(dtype=np.float64):
    rng = np.random.default_rng(3)
    shapes = [(4, 5), (5,), (5, 1), (1,), (3, 4), (3, 1)]
    return tuple(rng.standard_normal(s).astype(dtype) for s in shapes)


def _general(function, args, wrt):
    """Value and gradients from the tape's general path."""
    value, pullback = ag.vjp(function, *args, wrt=wrt, mode="tape")
    return value, pullback()


def _same(got, want):
    assert type(got) is type(want)
    if isinstance(want, tuple):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            _same(g, w)
        return
    assert np.shape(got) == np.shape(want)
    assert getattr(got, "dtype", None) == getattr(want, "dtype", None)
    assert_close(np.asarray(got), np.asarray(want), rtol=1e-12)


def _planned(g) -> bool:
    return g._plan is not None


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_repeated_calls_take_the_plan_and_agree_with_the_general_path(dtype):
    args = _mlp_args(dtype)
    wrt = (0, 1, 2, 3)
    g = ag.value_and_grad(mlp, wrt=wrt, mode="tape")
    want = _general(mlp, args, wrt)
    for _ in range(3):
        got = g(*args)
        assert _planned(g)
        _same(got, want)


def test_gradients_are_the_callers_own():
    args = _mlp_args()
    kept = [a.copy() for a in args]
    g = ag.grad(mlp, wrt=(0, 1, 2, 3), mode="tape")
    first = g(*args)
    second = g(*args)
    everything = [*first, *second, *args]
    for i, a in enumerate(everything):
        for b in everything[i + 1 :]:
            assert not np.shares_memory(a, b)
    for grad in first:
        assert grad.flags.writeable and grad.flags.c_contiguous
        grad[...] = 7.0  # the caller may change what it got
    _same(g(*args), second)
    for a, b in zip(args, kept):
        assert np.array_equal(a, b)


def sum_of_two(a, b):
    return np.sum(a + b)


def test_one_gradient_reaching_two_arguments_gives_each_a_buffer():
    a, b = np.ones(3), np.full(3, 2.0)
    g = ag.grad(sum_of_two, wrt=(0, 1), mode="tape")
    for _ in range(2):
        da, db = g(a, b)
        assert not np.shares_memory(da, db)
        assert_close(da, np.ones(3))
        assert_close(db, np.ones(3))


def test_a_rule_that_returns_a_saved_value_does_not_hand_it_out():
    @ag.primitive
    def half_square(x, w):
        return 0.5 * w * w + 0.0 * x

    @ag.vjp_rule(half_square)
    def half_square_vjp(g, ans, x, w):
        return None, w  # (right for g == 1: returns the saved argument itself)

    def f(x, w):
        return np.sum(half_square(x, w))

    try:
        x, w = np.ones(3), np.array([1.0, 2.0, 3.0])
        g = ag.grad(f, wrt=1, mode="tape")
        for _ in range(2):
            dw = g(x, w)
            assert_close(dw, w)
            assert not np.shares_memory(dw, w)
            dw[...] = 0.0
        assert_close(w, [1.0, 2.0, 3.0])
    finally:
        from astgrad.runtime.rules import registry

        registry._RULES.pop(registry._key(half_square), None)


def scaled(x, s, label):
    return np.sum(x * x) * s


def test_floats_and_other_host_arguments():
    g = ag.value_and_grad(scaled, wrt=(0, 1), mode="tape")
    x = np.array([1.0, 2.0])
    want = _general(scaled, (x, 3.0, "name"), (0, 1))
    for _ in range(2):
        value, (dx, ds) = g(x, 3.0, "name")
        assert type(ds) is float
        _same((value, (dx, ds)), want)


def no_dependence(x, y):
    return np.sum(y * y)


def test_an_argument_no_gradient_reaches_gets_zeros():
    g = ag.grad(no_dependence, wrt=(0, 1), mode="tape")
    for _ in range(2):
        dx, dy = g(np.ones(2), np.array([1.0, 3.0]))
        assert_close(dx, [0.0, 0.0])
        assert_close(dy, [2.0, 6.0])


def twice(x):
    return x * 2.0


def pair(x):
    return np.sum(x), np.sum(x * x)


def test_results_of_other_forms_take_the_general_road():
    g = ag.grad(twice, mode="tape")
    for _ in range(2):
        with pytest.raises(ValueError, match="scalar"):
            g(np.ones(2))
    h = ag.grad(pair, mode="tape")
    for _ in range(2):
        with pytest.raises(ValueError, match="scalar"):
            h(np.ones(2))


def test_other_types_keywords_and_dtypes_miss_the_plan():
    g = ag.grad(sum_of_two, wrt=(0, 1), mode="tape")
    a, b = np.ones(2), np.ones(2)
    g(a, b)
    from astgrad import api

    assert g._plan(([1.0, 2.0], b)) is api._MISS
    assert g._plan((a, b, b)) is api._MISS
    assert_close(g(a, b=b)[1], [1.0, 1.0])
    got = g(a.astype(np.float32), b)
    assert got[0].dtype == np.float32
    with pytest.raises(TypeError, match="integer"):
        g(np.arange(2), b)
    assert_close(g(a, b)[0], [1.0, 1.0])


def augmented(a, b):
    c = a * b
    b -= 0.5 * a  # numbers: rebound, as Python rebinds floats; c keeps the old b
    a += c
    a *= b
    return a + c


def test_augmented_assignment_rebinds_numbers_on_the_tape():
    want = ag.grad(augmented, wrt=(0, 1), mode="source")(0.7, 0.3)
    g = ag.grad(augmented, wrt=(0, 1), mode="tape")
    for _ in range(2):
        got = g(0.7, 0.3)
        assert all(type(x) is float for x in got)
        assert_close(np.array(got), np.array(want))
    x = ag.tensor(2.0, requires_grad=True)  # eager tensors keep PyTorch's in-place rules
    with pytest.raises(RuntimeError, match="leaf"):
        x += 1.0

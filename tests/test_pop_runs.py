"""A replayed loop that pops one value per iteration iterates over ``pop_run(stack, n)``
(``transform/pop_runs.py``): in nested loops, in the split form whose pullback may run
twice, and with counts known only at run time."""

from __future__ import annotations

import numpy as np
import pytest
from numeric import numeric_vjp

import astgrad as ag


def recurrence(a):
    for _ in range(100):
        a = a * 0.99 + 0.01 * a * a
    return a


def nested(a, b):
    for i in range(3):
        b = b * 0.9 + 0.1 * a * (1.0 + 0.1 * i)
        for _ in range(4):
            a = a * 0.95 + 0.02 * a * b
    return a * b


def counted(x, n):
    for _ in range(n):
        x = np.tanh(x * 1.1)
    return np.sum(x * x)


def test_the_loop_iterates_over_the_saved_values():
    source = ag.source(recurrence, 0.5)
    assert "for a in pop_run(stack, 100):" in source
    assert "pop()" not in source


@pytest.mark.parametrize("function, args", [(recurrence, (0.5,)), (nested, (0.3, -0.4))])
def test_float_gradients_match_finite_differences(function, args):
    wrt = tuple(range(len(args)))
    got = ag.grad(function, wrt=wrt, mode="source")(*args)
    got = got if isinstance(got, tuple) else (got,)
    for position, value in enumerate(got):
        assert value == pytest.approx(numeric_vjp(function, list(args), position, 1.0), rel=1e-6)


def test_a_count_known_at_run_time():
    x = np.array([0.3, -0.2, 0.5])
    source = ag.source(counted, x, 5)
    # tanh's gradient reads x after the iteration first: the loop binds a name of its own
    # the range's length read again, not saved (n is an int argument: ``ranks``)
    assert "for x_before in pop_run(stack, len(range(n))):" in source
    assert "push(len(range(n)))" not in source
    assert "x = x_before" in source
    got = ag.grad(counted, mode="source")(x, 5)
    np.testing.assert_allclose(got, numeric_vjp(counted, [x, 5], 0, 1.0), rtol=1e-6)
    assert ag.grad(counted, mode="source")(x, 0) == pytest.approx(2 * x)  # no iteration


def test_a_replayed_pullback_finds_its_values_again():
    value, pullback = ag.vjp(recurrence, 0.5, mode="source")
    first = pullback(1.0, retain_graph=True)
    second = pullback(1.0)
    assert first == second == pytest.approx(numeric_vjp(recurrence, [0.5], 0, 1.0), rel=1e-6)

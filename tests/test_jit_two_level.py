"""jit: schemes that keep two time levels (a leapfrog, the wave equation, Verlet with
arrays, a momentum iteration): ``prev, cur = cur, nxt`` each step.

Their backward pass hands a gradient from one name to the other (``dcur = dprev``) and
sets the one left behind to 0, so a gradient is the int 0 where the loop starts and an
array at the end of its body: two types at the loop's top, which Numba refuses. These ran
uncompiled (a thousand times slower than compiled) until ``d = 0`` there became zeros of
the gradient's array (``_Function._plan_zero_arrays``). Each program is compiled, bit for
bit against the uncompiled gradient, and against central finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import astgrad as ag

pytest.importorskip("numba")

from jit_checks import compiled_check  # noqa: E402
from modules import load_benchmark  # noqa: E402

wave = load_benchmark("jit").wave  # (the benchmark's wave equation)


def wave_tuple_swap(u0, v0, c, steps):
    prev = u0.copy()
    cur = v0.copy()
    n = u0.shape[0]
    for _ in range(steps):
        nxt = cur.copy()
        for i in range(1, n - 1):
            nxt[i] = 2.0 * cur[i] - prev[i] + c * (cur[i - 1] - 2.0 * cur[i] + cur[i + 1])
        prev, cur = cur, nxt
    return np.sum(cur * cur) + 0.5 * np.sum(prev)


def verlet(x0, k, steps):
    x_prev = x0.copy()
    x = x0.copy()
    n = x0.shape[0]
    dt = 0.05
    for _ in range(steps):
        x_next = np.empty(n)
        for i in range(n):
            x_next[i] = 2.0 * x[i] - x_prev[i] - dt * dt * k * np.sin(x[i])
        x_prev = x
        x = x_next
    return np.sum(x * x_prev)


def heavy_ball(w0, rate, steps):
    w = w0.copy()
    w_old = w0.copy()
    n = w0.shape[0]
    for _ in range(steps):
        w_new = np.empty(n)
        for i in range(n):
            w_new[i] = w[i] - rate * w[i] ** 3 + 0.5 * (w[i] - w_old[i])
        w_old = w
        w = w_new
    return np.sum(w)


def _line(n: int) -> np.ndarray:
    return np.sin(np.linspace(0.0, 3.0, n)) + 0.1


CASES = [
    pytest.param(wave, (_line(12), 0.1, 6), (0, 1), id="wave"),
    pytest.param(
        wave_tuple_swap,
        (_line(10), _line(10)[::-1].copy(), 0.2, 5),
        (0, 1, 2),
        id="wave, tuple swap",
    ),  # fmt: skip
    pytest.param(verlet, (_line(7), 0.8, 9), (0, 1), id="verlet"),
    pytest.param(heavy_ball, (_line(6) * 0.5, 0.1, 7), (0, 1), id="heavy ball"),
]


@pytest.mark.parametrize(("function", "args", "wrt"), CASES)
def test_two_level_schemes_compile(function, args, wrt):
    compiled_check(function, args, wrt, same_bits=True)


def test_no_steps_through_the_compiled_gradient():
    # Compiled for these argument types with steps, then called without: the gradient
    # that never entered the loop is the zeros written for its 0.
    compiled_check(wave_tuple_swap, (_line(9), _line(9) * 0.5, 0.1, 4), (0, 1, 2), same_bits=True)
    compiled = ag.value_and_grad(wave_tuple_swap, wrt=(0, 1, 2), jit="numba")
    args = (_line(9), _line(9) * 0.5, 0.1, 0)
    value, got = compiled(*args)
    want_value, want = ag.value_and_grad(wave_tuple_swap, wrt=(0, 1, 2))(*args)
    assert value == want_value
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
    np.testing.assert_array_equal(got[0], np.full(9, 0.5))  # d(0.5 * sum(prev))/du0


def test_the_zero_a_loop_starts_from_is_zeros_of_its_array():
    source = compiled_check(wave, (_line(8), 0.1, 3), 0, same_bits=True)
    assert "dprev = jit_zeros_like(prev)" in source
    # (inside the loop the 0 goes straight into a buffer, filled with it: left as it is)
    assert "        dprev = 0\n" in source

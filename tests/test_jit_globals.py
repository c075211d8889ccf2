"""``jit="numba"`` and the user's globals: Numba compiles a global's value into the code
as a constant, so a compiled gradient must not go on using a value the program has
since changed. A global number the code (or a helper it calls) reads is checked on each
call (a closure cell of a plain function it calls too), and the gradient compiled again
when it was rebound; a global array, which could change in place unseen, keeps the
gradient uncompiled, and ``explain`` says why.
Each against the uncompiled gradient and central differences after every change.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("numba")

from modules import write_module  # noqa: E402
from numeric import assert_close, numeric_vjp  # noqa: E402

import astgrad as ag  # noqa: E402

SOURCE = """
import numpy as np

SCALE = 2.0
OFFSET = 1.5
ARR = np.array([1.0, 2.0, 3.0])


def offset_of(v):
    return v * OFFSET


def constant():
    return SCALE * 0.5


def with_scale(x):
    s = 0.0
    for i in range(x.shape[0]):
        s = s + SCALE * x[i] * x[i]
    return s


def through_a_helper(x):
    s = 0.0
    for i in range(x.shape[0]):
        s = s + x[i] * x[i] + offset_of(x[i])
    return s


def through_a_plain_function(x):
    s = 0.0
    for i in range(x.shape[0]):
        s = s + x[i] * x[i] * constant()
    return s


def make_scaled():
    factor = 2.0

    def scaled(v):
        return v * factor

    def set_factor(value):
        nonlocal factor
        factor = value

    return scaled, set_factor


scaled, set_factor = make_scaled()


def through_a_closure(x):
    s = 0.0
    for i in range(x.shape[0]):
        s = s + x[i] * x[i] * scaled(1.0)
    return s


def with_array(x):
    s = 0.0
    for i in range(x.shape[0]):
        s = s + x[i] * x[i] * ARR[i]
    return s
"""


@pytest.fixture
def m(tmp_path):
    module = write_module(tmp_path, "jit_globals_module", SOURCE)
    yield module
    sys.modules.pop("jit_globals_module", None)


def _agrees(function, g, x, what):
    want = ag.grad(function)(x)
    got = g(x)
    assert_close(got, want, rtol=1e-12, atol=1e-12, what=what)
    assert_close(got, numeric_vjp(function, [x], 0, 1.0), rtol=1e-6, what=f"{what}, differences")


@pytest.mark.parametrize(
    "name, global_, values",
    [
        ("with_scale", "SCALE", (3.0, -1.25)),
        ("through_a_helper", "OFFSET", (10.0, 0.5)),
        ("through_a_plain_function", "SCALE", (4.0, 7)),
    ],
)
def test_a_global_number_rebound_is_seen_by_the_compiled_gradient(m, name, global_, values):
    function = getattr(m, name)
    x = np.array([0.5, -1.0, 2.0])
    g = ag.grad(function, jit="numba")
    for attempt in range(3):  # (the first call probes uncompiled; then compiled, twice)
        _agrees(function, g, x, f"call {attempt}")
    assert ag.explain(function, x, jit="numba").compiled
    for value in values:  # (the last an int where a float was: another type, compiled too)
        setattr(m, global_, value)
        for attempt in range(2):
            _agrees(function, g, x, f"{global_} = {value}, call {attempt}")


def test_a_closure_cell_changed_is_seen_by_the_compiled_gradient(m):
    x = np.array([0.5, -1.0, 2.0])
    g = ag.grad(m.through_a_closure, jit="numba")
    for attempt in range(3):
        _agrees(m.through_a_closure, g, x, f"call {attempt}")
    assert ag.explain(m.through_a_closure, x, jit="numba").compiled
    for value in (3.5, -1.0):
        m.set_factor(value)  # (the plain function's cell, which Numba compiled in)
        _agrees(m.through_a_closure, g, x, f"factor = {value}")


def test_a_global_array_keeps_the_gradient_uncompiled(m):
    x = np.array([0.5, -1.0, 2.0])
    report = ag.explain(m.with_array, x, jit="numba")
    assert not report.compiled
    assert "global ARR (a ndarray)" in str(report) and "pass it as an argument" in str(report)
    g = ag.grad(m.with_array, jit="numba")
    _agrees(m.with_array, g, x, "first")
    m.ARR *= 2.0  # (changed in place: compiled in, it would not be seen)
    _agrees(m.with_array, g, x, "ARR changed in place")
    m.ARR = np.array([5.0, -1.0, 0.5])
    _agrees(m.with_array, g, x, "ARR rebound")


IMPORTS_A_HELPER = """
import numpy as np
from astgrad.runtime.rules.shared import unbroadcast  # (the name generated code uses)


def one_sequence(W, h0, n):
    h = h0
    for _ in range(n):
        h = np.tanh(h @ W)
    return np.sum(h * h)
"""


def test_a_helper_of_astgrad_imported_by_the_user_is_compiled(tmp_path):
    # (generated code then reads the user's global, which is the helper itself: it was left
    # to Numba as a plain Python function, and the gradient ran uncompiled)
    module = write_module(tmp_path, "jit_imports_a_helper", IMPORTS_A_HELPER)
    try:
        rng = np.random.default_rng(5)
        args = (rng.normal(size=(4, 4)) * 0.5, rng.normal(size=4), 5)
        explained = ag.explain(module.one_sequence, *args, wrt=0, jit="numba")
        assert explained.compiled, explained.reason
        got = ag.grad(module.one_sequence, wrt=0, jit="numba")(*args)
        want = numeric_vjp(module.one_sequence, list(args), 0, 1.0)
        assert_close(got, want, rtol=1e-6, atol=1e-9, what="jit")
    finally:
        sys.modules.pop("jit_imports_a_helper", None)

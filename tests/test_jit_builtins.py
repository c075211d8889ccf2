"""jit: builtin ``max`` and ``min`` of numbers.

Their gradient puts the cotangent at the first item equal to the result (``chosen``) and
reads the parts back (``adjoint_item``); neither had a compiled version, so any gradient
using them ran uncompiled. Both compile now for lists and tuples of numbers. (Inside a
loop, the list of items is saved for the backward pass, which the compiled stack does
not hold yet: such a gradient still runs uncompiled, saying why.)"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

from jit_checks import compiled_check  # noqa: E402

import astgrad as ag  # noqa: E402


def clipped_product(x):
    m = max(x[0], 0.2)
    n = min(x[1], -0.1, x[2])
    return m * x[1] + n * n


def ties(x):
    # (x[0] and x[1] equal: the first of them takes the cotangent, as uncompiled)
    return max(x[0], x[1], 0.0) * 3.0 + min(x[2], 1.0)


@pytest.mark.parametrize(
    ("function", "x"),
    [
        (clipped_product, np.array([0.5, -0.3, 0.7])),
        (clipped_product, np.array([0.1, 0.4, -0.2])),
    ],
)
def test_builtin_max_and_min_compile(function, x):
    compiled_check(function, (x,), 0, same_bits=True)


def test_a_tie_goes_to_the_first_as_uncompiled():
    # (no finite differences at a tie: max has no derivative there)
    x = np.array([0.25, 0.25, 2.0])
    got = ag.grad(ties, jit="numba")(x)
    np.testing.assert_array_equal(got, ag.grad(ties)(x))
    np.testing.assert_array_equal(got, [3.0, 0.0, 0.0])
    assert ag.explain(ties, x, jit="numba").compiled


def in_a_loop(x):
    s = 0.0
    for i in range(x.shape[0]):
        s = s + max(x[i], 0.2)
    return s


def test_in_a_loop_runs_uncompiled_saying_why():
    x = np.linspace(-1.0, 1.0, 5)
    report = ag.explain(in_a_loop, x, jit="numba")
    assert not report.compiled
    assert "max(x[i], 0.2)" in report.reason, report.reason
    np.testing.assert_array_equal(ag.grad(in_a_loop, jit="numba")(x), ag.grad(in_a_loop)(x))

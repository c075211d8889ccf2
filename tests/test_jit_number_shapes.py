"""jit: a number's saved shape leaves the stack on both sides.

Generated code saves the shape of a value it overwrites (``push(shaped_like(z))``) where
the backward pass needs it for ``unbroadcast``; the rewrite leaves out such a push when
the value is a number (its shape is known when compiling). The pop it pairs with went too
only where a ``z_shape = shaped_like(z)`` statement named it, which an inner loop's sum
(``z = z + X[i, j] * w[j]``, restarted each outer step) does not have: the compiled code
popped values nobody pushed, raised that the saved values were out of step, and every
call ran uncompiled. The pop now goes with the push (as the probe paired them)."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("numba")

from jit_checks import compiled_check  # noqa: E402


def logistic_loss(w, X, y):
    n = X.shape[0]
    total = 0.0
    for i in range(n):
        z = 0.0
        for j in range(X.shape[1]):
            z = z + X[i, j] * w[j]
        p = 1.0 / (1.0 + math.exp(-z))
        total = total - (y[i] * math.log(p) + (1.0 - y[i]) * math.log(1.0 - p))
    return total / n


def row_norms(A, scale):
    total = 0.0
    for i in range(A.shape[0]):
        s = 0.0
        for j in range(A.shape[1]):
            s = s + scale * A[i, j] * A[i, j]
        total = total + math.sqrt(s)
    return total


def _data():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((7, 3))
    y = (rng.random(7) > 0.5).astype(float)
    return X, y


@pytest.mark.parametrize(
    ("function", "args", "wrt"),
    [
        pytest.param(logistic_loss, (np.array([0.2, -0.1, 0.3]), *_data()), 0, id="logistic"),
        pytest.param(row_norms, (_data()[0], 0.7), (0, 1), id="row norms"),
    ],
)
def test_inner_sums_restarted_each_step_compile(function, args, wrt):
    # (compiled, and its calls run compiled: a call that raised would run uncompiled and
    # leave explain saying so, which compiled_check refuses)
    compiled_check(function, args, wrt, same_bits=True)

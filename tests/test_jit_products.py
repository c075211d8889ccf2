"""jit: products spelled ``np.dot`` and ``x.dot`` compile as ``@`` does.

``np.dot``'s gradients (``dot_grad_left``/``dot_grad_right``) had no compiled version, so a
loop computing a product with ``np.dot`` ran uncompiled where the same loop with ``@``
compiled (a logistic model by ``np.dot`` per row: 349 us against 13 us compiled). Vectors
and matrices take ``@``'s products; a number times an array a product."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("numba")

from jit_checks import compiled_check  # noqa: E402


def rows_by_dot(X, w):
    total = 0.0
    for i in range(X.shape[0]):
        total = total + math.tanh(np.dot(X[i], w))
    return total


def rows_by_method(X, w):
    total = 0.0
    for i in range(X.shape[0]):
        total = total + math.tanh(X[i].dot(w))
    return total


def recurrent_by_dot(W, U, xs):
    h = np.zeros(W.shape[0])
    for t in range(xs.shape[0]):
        h = np.tanh(np.dot(W, h) + np.dot(xs[t], U))
    return np.sum(h * h)


def _arrays():
    rng = np.random.default_rng(5)
    return rng.standard_normal((6, 3)), rng.standard_normal(3) * 0.5


CASES = [
    pytest.param(rows_by_dot, _arrays(), (0, 1), id="np.dot of rows"),
    pytest.param(rows_by_method, _arrays(), (0, 1), id="x.dot of rows"),
    pytest.param(
        recurrent_by_dot,
        (np.eye(3) * 0.4 + 0.05, np.ones((2, 3)) * 0.3, np.linspace(-1.0, 1.0, 8).reshape(4, 2)),
        (0, 1),
        id="np.dot recurrence",
    ),
]


@pytest.mark.parametrize(("function", "args", "wrt"), CASES)
def test_products_by_dot_compile(function, args, wrt):
    # (the products may be BLAS's where NumPy's are too, in another order: to rounding)
    compiled_check(function, args, wrt)


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize(
    ("a", "b"),
    [
        (np.ones((2, 3)) * 0.5, np.arange(12.0).reshape(3, 4)),
        (np.arange(3.0), np.arange(12.0).reshape(3, 4)),
        (np.arange(6.0).reshape(2, 3), np.arange(3.0)),
        (np.arange(3.0), np.arange(3.0) + 1.0),
        (2.5, np.arange(3.0)),
        (np.arange(3.0), 2.5),
        (2.5, -1.5),
    ],
    ids=["matrix matrix", "vector matrix", "matrix vector", "vector vector",
         "number array", "array number", "number number"],
)  # fmt: skip
def test_compiled_dot_gradients_are_numpys(side, a, b):
    # (Numba's np.dot takes no number: such gradients are only reached from other code)
    import numba
    from astgrad.runtime import jit_helpers
    from astgrad.runtime.rules import arithmetic

    g = np.ones(np.shape(np.dot(a, b))) * 0.75 if np.ndim(np.dot(a, b)) else 0.75
    compiled = getattr(jit_helpers, f"dot_grad_{side}")
    want = getattr(arithmetic, f"dot_grad_{side}")(g, a, b)
    got = numba.njit(lambda g, a, b: compiled(g, a, b))(g, a, b)
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)
    assert np.shape(got) == np.shape(want)

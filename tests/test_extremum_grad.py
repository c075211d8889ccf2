"""The max/min rule's helper (runtime/rules/reductions.extremum_grad) where every slice has
one extreme element takes no count and no division (issue 18): it must give exactly what
the shared-ties formula gives, ties and NaN included."""

from __future__ import annotations

import numpy as np
import pytest
from astgrad.runtime.rules.reductions import extremum_grad
from numeric import assert_close, numeric_vjp

import astgrad as ag


def _shared_among_ties(g, ans, x, axis=None, keepdims=False):
    """The rule as written before: g divided among the tied extreme elements."""
    full = ans if keepdims or axis is None else np.expand_dims(ans, axis)
    hits = x == full
    count = hits.sum(axis=axis, keepdims=True)
    g = g if keepdims or axis is None else np.expand_dims(g, axis)
    return g * hits / count.astype(np.asarray(ans).dtype)


def _x(tie: bool, nan: bool, dtype=np.float64) -> np.ndarray:
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(dtype)
    if tie:
        x[1, 2] = x[1].max()
        x[3, :] = 1.0
    if nan:
        x[2, 1] = np.nan
    return x


@pytest.mark.parametrize("tie", [False, True])
@pytest.mark.parametrize("nan", [False, True])
@pytest.mark.parametrize("axis, keepdims", [(1, True), (0, False), (None, False), (-1, False)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_same_as_sharing_among_ties(tie, nan, axis, keepdims, dtype) -> None:
    x = _x(tie, nan, dtype)
    with np.errstate(invalid="ignore"):
        ans = np.max(x, axis=axis, keepdims=keepdims)
        g = (np.arange(np.size(ans), dtype=dtype) + 1.0).reshape(np.shape(ans))
        got = extremum_grad(g, ans, x, axis, keepdims)
        want = _shared_among_ties(g, ans, x, axis, keepdims)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def loss(x):
    return np.sum(np.max(x, axis=1) ** 2) + np.min(x)


def test_gradient_of_max_and_min_against_finite_differences() -> None:
    x = _x(False, False)
    for mode in ("source", "tape"):
        assert_close(ag.grad(loss, mode=mode)(x), numeric_vjp(loss, [x], 0, 1.0), what=mode)

"""Writes on the tape whose value shares memory with the array written into.

NumPy copies element by element for some overlapping assignments (``v[::2] = v[:3]``
reads elements it already overwrote), and makes a copy first for others
(``v[1:] = v[:-1]``). The tape records a write as a copy of the value, so it refuses the
first kind, where the two differ, rather than differentiate another function than Python
computes (it did: seed 712 of the hostile generator), and records the second.
"""

from __future__ import annotations

import numpy as np
import pytest
from numeric import assert_close, numeric_vjp

import astgrad as ag


def strided_from_overlap(x):
    v = x * 2.0
    s = v[::2]
    s[...] = v[:3]
    return np.sum(v * v)


def shifted_from_overlap(x):
    v = x * 2.0
    v[1:] = v[:-1]
    return np.sum(v * v * x)


def from_another_array(x):
    v = x * 2.0
    w = x + 1.0
    v[::2] = w[:3]
    return np.sum(v * v)


X = np.array([0.3, -1.2, 0.8, 1.5, -0.4, 0.9])


@pytest.mark.parametrize("mode", ["tape", "auto"])
def test_a_write_numpy_does_element_by_element_is_refused(mode):
    assert not np.allclose(strided_from_overlap(X.copy()), np.sum((X * 2.0) ** 2))
    with pytest.raises(RuntimeError, match="shares memory with the array written into") as info:
        ag.grad(strided_from_overlap, mode=mode)(X.copy())
    assert "b.copy()" in str(info.value)


def test_source_mode_refuses_it_too():
    with pytest.raises(ag.TransformError, match="may share its memory"):
        ag.grad(strided_from_overlap, mode="source")(X.copy())


@pytest.mark.parametrize("f", [shifted_from_overlap, from_another_array])
@pytest.mark.parametrize("mode", ["tape", "auto"])
def test_writes_numpy_does_as_a_copy_are_recorded(f, mode):
    value, grad = ag.value_and_grad(f, mode=mode)(X.copy())
    assert np.isclose(value, f(X.copy()))
    assert_close(grad, numeric_vjp(f, [X.copy()], 0, 1.0), rtol=1e-6)


def test_the_check_leaves_the_arrays_as_they_were():
    from astgrad.runtime.inplace import _order_matters, _store_at

    v = np.arange(6.0)
    before = v.copy()
    assert _order_matters(v[::2], (Ellipsis,), v[:3], _store_at)
    assert not _order_matters(v[1:], (Ellipsis,), v[:-1], _store_at)
    assert not _order_matters(v[::2], (Ellipsis,), np.ones(3), _store_at)
    np.testing.assert_array_equal(v, before)
    f = np.asfortranarray(np.arange(18.0).reshape(3, 6))
    assert _order_matters(f[0, ::2], (Ellipsis,), f[0, :3], _store_at)
    assert not _order_matters(f[:, 1], (Ellipsis,), f[:, 2], _store_at)

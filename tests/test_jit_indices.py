"""``jit="numba"``: reads and writes of a vector at an index vector or a mask, compiled
(``runtime.jit_helpers``: ``zero_at``, ``add_in_place`` and ``scatter_grad`` for index
arrays). Each program runs compiled (its second call: the first one probes, uncompiled)
against the uncompiled gradient and central finite differences, and is checked to have
been compiled.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

from numeric import assert_close, numeric_vjp  # noqa: E402

import astgrad as ag  # noqa: E402


def repeated_and_negative(x):
    # a read at repeated and negative positions: their gradients accumulate
    picked = x[np.array([0, 2, 0, -1, -1, -1])]
    return np.sum(picked * picked * x[1])


def masked_read(x):
    # the elements a mask marks, read and squared
    return np.sum(x[x > 0.1] ** 2) + 0.5 * np.sum(x)


def masked_write(x):
    y = x * 2.0
    y[x < 0.0] = 0.25
    return np.sum(y * y * x)


def listed_write(x):
    y = x * 1.0
    y[np.array([1, -2])] = x[np.array([0, 3])] * x[2]
    return np.sum(y * y)


@pytest.mark.parametrize(
    "function", [repeated_and_negative, masked_read, masked_write, listed_write]
)
def test_index_vectors_and_masks_compile_and_match(function):
    x = np.array([0.7, -0.4, 1.3, 0.2, -0.9, 0.5])
    compiled = ag.value_and_grad(function, jit="numba")
    want_value, want = ag.value_and_grad(function)(x)
    for attempt in range(3):  # (the first call probes uncompiled; then compiled, twice)
        value, got = compiled(x)
        assert_close(value, want_value, rtol=1e-12, atol=1e-12, what=f"value, call {attempt}")
        assert_close(got, want, rtol=1e-10, atol=1e-12, what=f"gradient, call {attempt}")
    assert_close(got, numeric_vjp(function, [x], 0, 1.0), rtol=1e-5, atol=1e-7)
    report = ag.explain(function, x, jit="numba")
    assert report.compiled, str(report)

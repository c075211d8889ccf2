"""Restores into an array that the backward pass reads only for its shape go
(optimize.dead_code with the rule table's shape-only marks, issue 18).

``u[1:-1] = ...`` makes the forward pass save what it overwrites and the backward pass put
it back (``restore_item``), so that ``u`` holds what it held before the write. Where the
backward pass reads ``u`` afterwards only at positions the helpers read for the shape
(``scatter_grad(g, u, index)``, ``unbroadcast(g, u)``), and nothing that may share ``u``'s
memory (a view taken before the write) is read for its values, neither the save nor the
restore is needed.
"""

from __future__ import annotations

import numpy as np
import pytest
from numeric import assert_close, numeric_vjp

import astgrad as ag


def stencil(u, k):
    for _ in range(3):
        laplacian = u[:-2] + u[2:] - 2 * u[1:-1]
        u = u.copy()
        u[1:-1] = u[1:-1] + k * laplacian
    return np.sum(u**2)


def write_into_a_fresh_array(x):
    y = x * 2.0
    y[1:3] = np.sin(x[:2])
    return np.sum(y * x)


def view_read_after_the_write(x):
    y = x * 1.0
    v = y[1:]
    s = np.sum(v * x[1:])
    y[1] = x[0] * 4.0
    return s + np.sum(y * y)


def reshaped_view_read_after_the_write(x):
    y = x * 1.0
    v = y.reshape(2, 3)
    s = np.sum(np.sin(v))
    y[0:2] = x[2:4] ** 2
    return s + np.sum(y)


def _x() -> np.ndarray:
    return np.linspace(0.2, 1.4, 6)


@pytest.mark.parametrize(
    "f, args",
    [(stencil, (_x(), 0.2)), (write_into_a_fresh_array, (_x(),))],
    ids=["stencil", "fresh"],
)
def test_a_restore_only_shapes_read_goes(f, args) -> None:
    source = ag.source(f, *args)
    assert "restore_item" not in source and "saved_item" not in source, source
    for mode in ("source", "tape"):
        grads = ag.grad(f, wrt=tuple(range(len(args))), mode=mode)(*args)
        for index, got in enumerate(grads):
            assert_close(got, numeric_vjp(f, list(args), index, 1.0), what=f"{mode} {index}")


@pytest.mark.parametrize("f", [view_read_after_the_write, reshaped_view_read_after_the_write])
def test_a_restore_a_view_needs_stays(f) -> None:
    x = _x()
    source = ag.source(f, x)
    assert "restore_item" in source, source
    # (the tape refuses these, as PyTorch does: a value saved for backward changed in place)
    got = ag.grad(f, mode="source")(x)
    assert_close(got, numeric_vjp(f, [x], 0, 1.0))

"""Stand-ins of shapes a loop cannot change are not saved per iteration
(transform/loop_shapes.py, run by fuse; issue 18)."""

from __future__ import annotations

import numpy as np
import pytest
from numeric import assert_close, numeric_vjp

import astgrad as ag


def stencil(u, k):
    for _ in range(4):
        laplacian = u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:] - 4 * u[1:-1, 1:-1]
        u = u.copy()
        u[1:-1, 1:-1] = u[1:-1, 1:-1] + k * laplacian
    return np.sum(u**2)


def rows(xs, W):
    total = 0.0
    for t in range(xs.shape[0]):
        z = np.dot(xs[t], W)  # the same shape every step
        total = total + np.sum(np.tanh(z))
    return total


def grows_after_the_first_step(h, W, b):
    # h starts (1, n) and is (3, n) after one step: h @ W changes shape, so its stand-in
    # is saved per step
    for _ in range(3):
        h = np.tanh(h @ W + b)
    return np.sum(h)


def read_before_its_binding(y, x, w):
    s = 0.0
    for _ in range(3):
        z = y * w  # the first step reads the argument y (3,), the others x[:2] (2,)
        s = s + np.sum(z)
        y = x[:2] * 2.0
    return s + np.sum(y * y)


def growing_prefix(x, w):
    s = 0.0
    for i in range(x.shape[0]):
        head = x[: i + 1] * w  # one element longer every step (4d3d036)
        s = s + np.mean(head)
    return s


def parameter_rebound_in_a_loop(x, w):
    # x (2, 3) is read for its shape in the branch (w's gradient through x - w), then
    # rebound in the loop to a number: each iteration binds the same shape, but the
    # first iteration's pop must give back the argument's (2, 3), not the number's ()
    if np.sum(w) > -5.0:
        w = np.tanh(w) * (x - w) * 0.5
    for i in range(2):
        x = np.exp(np.tanh(w[0, 0])) * (0.5 + 0.25 * i)
        if np.sum(x) > 100.0:
            break
    return np.sum(w * w)


def _check(f, args, wrt) -> None:
    for mode in ("source", "tape"):
        grads = ag.grad(f, wrt=wrt, mode=mode)(*args)
        grads = grads if isinstance(grads, tuple) else (grads,)
        for index, got in zip(wrt, grads):
            assert_close(got, numeric_vjp(f, list(args), index, 1.0), what=f"{mode} {index}")


def test_a_stencil_saves_no_shapes() -> None:
    args = (np.random.default_rng(0).random((6, 7)), 0.1)
    source = ag.source(stencil, *args)
    assert "push(shaped_like" not in source, source  # (no shape saved per step)
    _check(stencil, args, (0, 1))


def test_a_product_of_a_row_saves_no_shape() -> None:
    rng = np.random.default_rng(1)
    args = (rng.standard_normal((5, 2, 3)), rng.standard_normal((3, 4)))
    source = ag.source(rows, *args, wrt=(1,))
    assert "push(shaped_like" not in source, source
    _check(rows, args, (1,))


@pytest.mark.parametrize(
    "f, args, wrt",
    [
        (grows_after_the_first_step, ((1, 4), (4, 4), (3, 4)), (0, 1, 2)),
        (read_before_its_binding, ((3,), (4,), (1,)), (0, 1, 2)),
        (growing_prefix, ((5,), (1,)), (0, 1)),
        (parameter_rebound_in_a_loop, ((2, 3), (3,)), (0, 1)),
    ],
    ids=["grows", "read-before-binding", "prefix", "parameter-rebound"],
)
def test_shapes_that_change_are_still_saved(f, args, wrt) -> None:
    rng = np.random.default_rng(2)
    values = tuple(rng.standard_normal(shape) * 0.5 for shape in args)
    assert "push(shaped_like" in ag.source(f, *values, wrt=wrt)
    _check(f, values, wrt)

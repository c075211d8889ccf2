"""In a loop, a value whose gradient needs only its shape has its shape saved, not the
value (``transform/shape_saves.py``). The shapes may change from one iteration to the
next; the gradients must still match finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from numeric import numeric_vjp

import astgrad as ag


def growing(x, w):
    # t is (3, 1) in the first iteration and (3, 3) after: t + w broadcasts only at first
    for _ in range(3):
        t = x * 1.5
        x = np.tanh(t + w)
    return np.sum(x * x)


def rnn(Wx, Wh, b, xs, h0):
    h = h0
    for t in range(xs.shape[0]):
        h = np.tanh(xs[t] @ Wx + h @ Wh + b)
    return np.mean(h**2)


def test_the_shape_is_saved_not_the_value():
    source = ag.source(rnn, wrt=(0, 1, 2))
    assert "push(shape_of(matmul))" in source
    assert "unbroadcast_to(dadd, matmul_shape)" in source
    assert "push(matmul)" not in source


@pytest.mark.parametrize("mode", ["source", "auto", "tape"])
def test_shapes_that_change_between_iterations(mode):
    rng = np.random.default_rng(0)
    x, w = rng.uniform(-1, 1, (3, 1)), rng.uniform(-1, 1, 3)
    got = ag.grad(growing, wrt=(0, 1), mode=mode)(x, w)
    for position, value in enumerate(got):
        expected = numeric_vjp(growing, [x, w], position, 1.0)
        np.testing.assert_allclose(value, expected, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("h0_shape", [(4, 5), (5,), (1, 5)])
def test_rnn_with_a_broadcast_initial_state(h0_shape):
    rng = np.random.default_rng(1)
    args = [
        rng.standard_normal((3, 5)) * 0.5,
        rng.standard_normal((5, 5)) * 0.5,
        rng.standard_normal(5) * 0.1,
        rng.standard_normal((6, 4, 3)),
        rng.standard_normal(h0_shape) * 0.5,
    ]
    got = ag.grad(rnn, wrt=(0, 1, 2, 4), mode="source")(*args)
    for value, position in zip(got, (0, 1, 2, 4)):
        expected = numeric_vjp(rnn, args, position, 1.0)
        assert value.shape == args[position].shape
        np.testing.assert_allclose(value, expected, rtol=1e-6, atol=1e-9)
    # the split form (forward now, backward later) saves the same shapes
    value, pullback = ag.vjp(rnn, *args, wrt=(0, 1, 2, 4), mode="source")
    for part, expected in zip(pullback(1.0), got):
        np.testing.assert_allclose(part, expected, rtol=1e-12)

"""The shapes pass: unbroadcast disappears only where shapes surely match."""

from __future__ import annotations

import numpy as np
from numeric import assert_close, numeric_vjp

import astgrad as ag


def bias_and_scale(x, b):
    y = x + b
    return np.sum(np.tanh(y) * y)


def same_shape_chain(x):
    y = np.sin(x) * x
    return np.sum(y - x)


def recurrence(a):
    for _ in range(10):
        a = a * 0.9 + 0.1 * a * a
    return a


def test_broadcast_operand_keeps_its_unbroadcast():
    text = ag.source(bias_and_scale, wrt=(0, 1))
    assert "db = unbroadcast(dy, b)" in text  # b of shape (4,) meets x of shape (3, 4)
    x, b = np.random.default_rng(0).standard_normal((3, 4)), np.random.default_rng(1).standard_normal(4)
    dx, db = ag.grad(bias_and_scale, wrt=(0, 1))(x, b)
    assert db.shape == (4,)
    assert_close(db, numeric_vjp(bias_and_scale, [x, b], 1, 1.0), what="db")


def test_operands_of_one_shape_need_no_unbroadcast():
    assert "unbroadcast" not in ag.source(same_shape_chain)


def test_float_arguments_make_the_backward_plain_arithmetic():
    grad = ag.grad(recurrence)
    assert_close(grad(0.3), numeric_vjp(recurrence, [0.3], 0, 1.0), what="float")
    assert "unbroadcast" not in ag.source(recurrence)

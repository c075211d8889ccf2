"""In a loop, a value whose gradient needs only its shape has a stand-in of its shape and
dtype saved, not the value (``transform/shape_reads.py``), whichever helper reads it
(``unbroadcast``, ``expand_reduced``, ``reduced_count``, a matmul gradient...). The shapes
may change from one iteration to the next; the gradients must still match finite
differences."""

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
    assert "push(shaped_like(matmul))" in source
    assert "unbroadcast(dadd, matmul_shape)" in source
    assert "push(matmul)" not in source


def mean_in_loop(x):
    total = 0.0
    for k in range(3):
        y = x[: k + 2] * 2.0
        total = total + np.mean(y) + np.sum(y)
    return total


def test_a_reduction_s_operand_is_saved_as_its_shape():
    source = ag.source(mean_in_loop)
    assert "push(shaped_like(y))" in source
    assert "push(y)" not in source
    assert "expand_reduced(" in source and "y_shape" in source
    x = np.random.default_rng(2).uniform(-1, 1, 5)
    got = ag.grad(mean_in_loop, mode="source")(x)
    np.testing.assert_allclose(got, numeric_vjp(mean_in_loop, [x], 0, 1.0), rtol=1e-7)


def matmul_in_loop(W, x):
    total = 0.0
    for k in range(3):
        h = x[: k + 1] * 1.0
        total = total + np.sum(np.dot(h, W[: k + 1]))
    return total


def test_a_matrix_product_s_operand_read_for_its_shape_only():
    # d(h @ W)/dW reads h's values, d/dh reads W's: only where one side is constant is
    # the other read for its shape alone; either way the gradient must hold.
    rng = np.random.default_rng(3)
    W, x = rng.standard_normal((3, 2)), rng.standard_normal(3)
    got = ag.grad(matmul_in_loop, wrt=(0, 1), mode="source")(W, x)
    for position, value in enumerate(got):
        expected = numeric_vjp(matmul_in_loop, [W, x], position, 1.0)
        np.testing.assert_allclose(value, expected, rtol=1e-7, atol=1e-10)


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


def log_softmax_pick(z, labels):
    z = z - np.max(z, axis=1, keepdims=True)
    log_probs = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return -np.mean(log_probs[np.arange(z.shape[0]), labels])


def row_norms(x):
    # the kept-axes cotangent is read by a helper too: its expansion stays
    total = np.sum(x * x, axis=1, keepdims=True)
    return np.sum(np.sqrt(total) * np.sum(x, axis=1, keepdims=True))


def test_a_kept_axes_expansion_that_broadcasting_restores_goes():
    source = ag.source(ag.grad(log_softmax_pick))
    assert "dlog / total * exp" in source and "expand_reduced(dlog" not in source, source
    rng = np.random.default_rng(4)
    z, labels = rng.normal(size=(6, 4)), rng.integers(0, 4, 6)
    for mode in ("source", "tape"):
        got = ag.grad(log_softmax_pick, mode=mode)(z, labels)
        want = numeric_vjp(log_softmax_pick, [z, labels], 0, 1.0)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)
    # float32 in, float32 out, as the tape gives it
    z32 = z.astype(np.float32)
    got32 = ag.grad(log_softmax_pick, mode="source")(z32, labels)
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, ag.grad(log_softmax_pick, mode="tape")(z32, labels),
                               rtol=1e-5)  # fmt: skip


def test_kept_axes_expansions_read_otherwise_stay_right():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(5, 3))
    got = ag.grad(row_norms, mode="source")(x)
    np.testing.assert_allclose(got, numeric_vjp(row_norms, [x], 0, 1.0), rtol=1e-6, atol=1e-9)


def loop_in_a_branch(x, w):
    # v is bound only where the branch is taken; its stand-in is made where the backward
    # pass starts, on either way (random program 4430, with respect to w, crashed on the
    # way that skips the branch: v unbound there)
    if np.sum(x) > 0.0:
        v = w * 1.0
        w = np.tanh(x + v)
        for _ in range(2):
            v = w * np.sin(x) * 0.5
            unused = [np.tanh(v) * 0.5]  # noqa: F841 (v's value is read for nothing else)
        x = x * w
    return np.sum(x * w)


@pytest.mark.parametrize("mode", ["source", "auto", "tape"])
@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["taken", "skipped"])
def test_a_stand_in_of_a_name_only_a_branch_binds(sign, mode):
    x = sign * np.array([0.5, 0.25, 0.75])
    w = np.array([0.3, -0.2, 0.9])
    for wrt in (0, 1):
        got = ag.grad(loop_in_a_branch, wrt=wrt, mode=mode)(x, w)
        want = numeric_vjp(loop_in_a_branch, [x, w], wrt, 1.0)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)

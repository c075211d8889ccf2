"""``matmul_grad_left`` and ``matmul_grad_right`` for one matrix and one vector (issue 18).

``X @ w`` (logistic regression) and ``v @ W`` take one matrix-vector product for the
gradient of the vector, with no broadcast axes to sum; the result must be what the
general form (a batch of matrix products, then ``unbroadcast``) gives, and gradients
through them must match finite differences, batched forms included.
"""

from __future__ import annotations

import numpy as np
import pytest
from astgrad.runtime.rules.arithmetic import matmul_grad_left, matmul_grad_right
from numeric import assert_close, numeric_vjp

import astgrad as ag


def test_matrix_times_vector_gradients_are_the_products() -> None:
    rng = np.random.default_rng(0)
    X, w, g = rng.standard_normal((7, 4)), rng.standard_normal(4), rng.standard_normal(7)
    np.testing.assert_allclose(matmul_grad_right(g, X, w), X.T @ g, rtol=1e-14)
    np.testing.assert_allclose(matmul_grad_left(g, X, w), np.outer(g, w), rtol=1e-14)
    v, W, h = rng.standard_normal(7), rng.standard_normal((7, 3)), rng.standard_normal(3)
    np.testing.assert_allclose(matmul_grad_left(h, v, W), W @ h, rtol=1e-14)
    np.testing.assert_allclose(matmul_grad_right(h, v, W), np.outer(v, h), rtol=1e-14)


def logistic(w, b, X, y):
    margins = y * (X @ w + b)
    return np.mean(np.log1p(np.exp(-margins))) + 1e-3 * np.sum(w * w)


def row_times_matrix(v, W):
    return np.sum(np.tanh(v @ W) ** 2)


def batch_times_vector(X, w):
    return np.sum(np.sin(X @ w))  # X of three dimensions: summed over the batch


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_gradients_match_finite_differences(mode: str) -> None:
    rng = np.random.default_rng(1)
    w, X, y = rng.standard_normal(4), rng.standard_normal((9, 4)), np.sign(rng.standard_normal(9))
    got = ag.grad(logistic, wrt=(0, 1), mode=mode)(w, 0.3, X, y)
    for i in (0, 1):
        want = numeric_vjp(logistic, [w, 0.3, X, y], i, 1.0)
        assert_close(got[i], want, what=f"logistic {i}")
    v, W = rng.standard_normal(5), rng.standard_normal((5, 3))
    got = ag.grad(row_times_matrix, wrt=(0, 1), mode=mode)(v, W)
    for i in (0, 1):
        assert_close(got[i], numeric_vjp(row_times_matrix, [v, W], i, 1.0), what=f"v @ W {i}")
    B = rng.standard_normal((2, 5, 4))
    got = ag.grad(batch_times_vector, wrt=(0, 1), mode=mode)(B, w)
    for i in (0, 1):
        want = numeric_vjp(batch_times_vector, [B, w], i, 1.0)
        assert_close(got[i], want, what=f"batch @ w {i}")

"""unbroadcast's road for a number whose cotangent is a vector (the bias ``b`` of
``X @ w + b`` with ``b`` a Python float): the vector's sum, in its dtype, as the general
road computes it; and a logistic regression with such a bias against central
differences."""

from __future__ import annotations

import numpy as np
import pytest
from astgrad.runtime.rules.shared import unbroadcast
from numeric import assert_close, numeric_vjp

import astgrad as ag


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
@pytest.mark.parametrize("number", [0.5, 3, np.float64(2.0)])
def test_vector_to_number(dtype, number):
    g = (np.arange(7) * 0.3 - 1).astype(dtype)
    got = unbroadcast(g, number)
    assert np.ndim(got) == 0 and np.asarray(got).dtype == dtype
    assert got == g.sum(axis=0)


def test_matrix_to_number_sums_everything():
    g = np.arange(6.0).reshape(2, 3)
    assert unbroadcast(g, 1.5) == 15.0


def logistic(w, b, X, y):
    return np.mean(np.log1p(np.exp(-y * (X @ w + b))))


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_bias_gradient(mode):
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((20, 3)), np.where(rng.random(20) < 0.5, -1.0, 1.0)
    w, b = rng.standard_normal(3), 0.2
    _, (dw, db) = ag.value_and_grad(logistic, wrt=("w", "b"), mode=mode)(w, b, X, y)
    args = [w, b, X, y]
    assert_close(dw, numeric_vjp(logistic, args, 0, 1.0), rtol=1e-6, atol=1e-9)
    assert_close(db, numeric_vjp(logistic, args, 1, 1.0), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.complex128])
def test_matrix_to_column(dtype):
    # a row-wise sum with keepdims sends back (m, n) for its (m, 1) result
    g = (np.arange(12).reshape(4, 3) * 1.5 - 4).astype(dtype)
    got = unbroadcast(g, np.ones((4, 1)))
    assert got.shape == (4, 1) and got.dtype == dtype
    np.testing.assert_allclose(got, g.sum(axis=1, keepdims=True), rtol=1e-6)


def log_softmax_pick(W, x, labels):
    logits = x @ W
    logits = logits - np.max(logits, axis=1, keepdims=True)
    log_probs = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
    return -np.mean(log_probs[np.arange(x.shape[0]), labels])


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_row_sums_gradient(mode):
    rng = np.random.default_rng(5)
    W, x, labels = rng.standard_normal((4, 3)), rng.standard_normal((6, 4)), np.arange(6) % 3
    (dW,) = ag.grad(log_softmax_pick, wrt=("W",), mode=mode)(W, x, labels)
    expected = numeric_vjp(log_softmax_pick, [W, x, labels], 0, 1.0)
    assert_close(dW, expected, rtol=1e-6, atol=1e-9)

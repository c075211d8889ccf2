"""Adjoints whose matrices have the rank of a right-hand side (issue 18).

``cho_solve_factor_grad`` multiplies ``ga + ga^T`` (``ga = -gb x^T``, of the rank of the
right-hand sides) by the Cholesky factor. For a vector, or a few columns, it forms that
product from products of the factor with ``x`` and ``gb`` instead of an n x n matrix
product: the same sums in another order, so the result must equal the full product to
rounding, and the likelihood's gradient must match finite differences.
"""

from __future__ import annotations

import numpy as np
import pytest
from numeric import assert_close, numeric_vjp

import astgrad as ag

scipy_linalg = pytest.importorskip("scipy.linalg")


def _full_product(gb, x, c, lower):
    factor = np.tril(c) if lower else np.triu(c)
    ga = -(np.outer(gb, x) if gb.ndim == 1 else gb @ x.T)
    both = ga + ga.T
    return np.tril(both @ factor) if lower else np.triu(factor @ both)


@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("columns", [None, 2, 8])
def test_cho_solve_factor_grad_is_the_full_product(lower: bool, columns) -> None:
    from astgrad.runtime.rules.scipy_rules import cho_solve_factor_grad

    rng = np.random.default_rng(0)
    n = 12
    a = rng.standard_normal((n, n))
    c, _ = scipy_linalg.cho_factor(a @ a.T + n * np.eye(n), lower=lower)
    shape = n if columns is None else (n, columns)
    gb, x = rng.standard_normal(shape), rng.standard_normal(shape)
    got = cho_solve_factor_grad(gb, x, (c, lower))
    np.testing.assert_allclose(got, _full_product(gb, x, c, lower), rtol=1e-12, atol=1e-12)


def gp_cho(log_params, X, y):
    lengthscale, signal, noise = np.exp(log_params)
    dist2 = np.sum((X[:, None, :] - X[None, :, :]) ** 2, axis=-1)
    K = signal * np.exp(-0.5 * dist2 / lengthscale**2) + noise * np.eye(len(X))
    factor = scipy_linalg.cho_factor(K, lower=True)
    alpha = scipy_linalg.cho_solve(factor, y)
    return 0.5 * y @ alpha + np.sum(np.log(np.diag(factor[0])))


def solve_columns(a, B, upper):
    factor = scipy_linalg.cho_factor(a @ a.T + 3.0 * np.eye(len(a)), lower=not upper)
    return np.sum(np.sin(scipy_linalg.cho_solve(factor, B)))


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_gp_likelihood_gradient_matches_finite_differences(mode: str) -> None:
    rng = np.random.default_rng(1)
    X = rng.standard_normal((15, 2))
    y = np.sin(X[:, 0]) + 0.1 * rng.standard_normal(15)
    params = np.log(np.array([1.1, 0.9, 0.2]))
    got = ag.grad(gp_cho, mode=mode)(params, X, y)
    assert_close(got, numeric_vjp(gp_cho, [params, X, y], 0, 1.0), rtol=1e-6)


@pytest.mark.parametrize("upper", [False, True])
@pytest.mark.parametrize("columns", [1, 6])
def test_cho_solve_with_columns_matches_finite_differences(upper: bool, columns: int) -> None:
    rng = np.random.default_rng(2)
    a, B = rng.standard_normal((6, 6)), rng.standard_normal((6, columns))
    got = ag.grad(solve_columns, wrt=(0, 1))(a, B, upper)
    for i in (0, 1):
        assert_close(got[i], numeric_vjp(solve_columns, [a, B, upper], i, 1.0), rtol=1e-6)


@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_grad_solves_with_the_factor_as_a_general_solve_does(upper: bool) -> None:
    # cholesky_grad solves with its factor as a lower triangle without checking it (the
    # factor is triangular by construction): the same as np.linalg.solve's answer.
    from astgrad.runtime.rules.linalg_helpers import cholesky_grad

    rng = np.random.default_rng(3)
    n = 10
    a = rng.standard_normal((n, n))
    low = np.linalg.cholesky(a @ a.T + n * np.eye(n))
    g = rng.standard_normal((n, n))
    inner = np.tril(low.T @ g)
    inner[np.diag_indices(n)] *= 0.5
    s = np.linalg.solve(low.T, np.linalg.solve(low.T, inner).T).T
    want = np.tril(s + s.T)
    want[np.diag_indices(n)] *= 0.5
    if upper:
        got = cholesky_grad(g.T, low.T, upper=True).T
    else:
        got = cholesky_grad(g, low)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def cholesky_loss(a):
    low = np.linalg.cholesky(a @ a.T + 4.0 * np.eye(len(a)))
    return np.sum(np.sin(low)) + np.sum(np.log(np.diag(low)))


def test_cholesky_gradient_matches_finite_differences() -> None:
    a = np.random.default_rng(4).standard_normal((9, 9))
    assert_close(ag.grad(cholesky_loss)(a), numeric_vjp(cholesky_loss, [a], 0, 1.0), rtol=1e-6)

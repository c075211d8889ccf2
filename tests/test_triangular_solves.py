"""Solves with triangular matrices in the backward pass (issue 18).

``solve_adjoint`` and ``cholesky_grad`` solve with ``L.T`` where ``L`` is a Cholesky factor
(or any triangular matrix): ``solve_transposed`` does that by a triangular solve where the
matrix is triangular, and by ``np.linalg.solve`` otherwise. Both must give what
``np.linalg.solve`` gives, and the gradients through them must match finite differences.
"""

from __future__ import annotations

import numpy as np
import pytest
from astgrad.runtime.rules.linalg_helpers import solve_transposed
from numeric import assert_close, numeric_vjp

import astgrad as ag

N = 12


def _matrices(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    full = rng.standard_normal((N, N)) + N * np.eye(N)
    lower = np.tril(full)
    return {
        "lower": lower,
        "upper": lower.T.copy(),
        "diagonal": np.diag(np.diag(full)),
        "full": full,
        "lower, a view": np.tril(np.asfortranarray(full)).T.T,
    }


@pytest.mark.parametrize("kind", list(_matrices()))
@pytest.mark.parametrize("columns", [None, 3])
def test_solve_transposed_is_solve_of_the_transpose(kind: str, columns) -> None:
    a = _matrices()[kind]
    rng = np.random.default_rng(1)
    b = rng.standard_normal(N if columns is None else (N, columns))
    np.testing.assert_allclose(solve_transposed(a, b), np.linalg.solve(a.T, b), rtol=1e-10)


def test_float32_stays_float32() -> None:
    a = _matrices()["lower"].astype(np.float32)
    b = np.ones(N, dtype=np.float32)
    got = solve_transposed(a, b)
    assert got.dtype == np.linalg.solve(a.T, b).dtype
    np.testing.assert_allclose(got, np.linalg.solve(a.T, b), rtol=1e-5)


def test_a_singular_triangular_matrix_raises_as_numpy_does() -> None:
    a = _matrices()["lower"]
    a[4, 4] = 0.0
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.solve(a.T, np.ones(N))
    with pytest.raises(np.linalg.LinAlgError):
        solve_transposed(a, np.ones(N))


def gp_like(log_scale, X, y):
    dist2 = np.sum((X[:, None, :] - X[None, :, :]) ** 2, axis=-1)
    K = np.exp(-0.5 * dist2 / np.exp(log_scale) ** 2) + 0.1 * np.eye(len(X))
    L = np.linalg.cholesky(K)
    alpha = np.linalg.solve(L.T, np.linalg.solve(L, y))
    return 0.5 * y @ alpha + np.sum(np.log(np.diag(L)))


def triangular_system(A, b):
    T = np.tril(A) + A.shape[0] * np.eye(A.shape[0])
    x = np.linalg.solve(T, b)
    U = np.triu(A) + A.shape[0] * np.eye(A.shape[0])
    return np.sum(np.linalg.solve(U, x) ** 2)


def factor_and_square(A):
    L = np.linalg.cholesky(A @ A.T + np.eye(A.shape[0]))
    return np.sum(np.sin(L))


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_gradients_through_triangular_solves_match_finite_differences(mode: str) -> None:
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((N, 2)), rng.standard_normal(N)
    args = [np.array(0.3), X, y]
    got = ag.grad(gp_like, wrt="log_scale", mode=mode)(*args)
    assert_close(got, numeric_vjp(gp_like, args, 0, 1.0), rtol=1e-5)
    args = [rng.standard_normal((N, N)), rng.standard_normal((N, 2))]
    for index, name in enumerate(("A", "b")):
        got = ag.grad(triangular_system, wrt=name, mode=mode)(*args)
        assert_close(got, numeric_vjp(triangular_system, args, index, 1.0), rtol=1e-5)
    args = [rng.standard_normal((N, N))]
    got = ag.grad(factor_and_square, wrt="A", mode=mode)(*args)
    assert_close(got, numeric_vjp(factor_and_square, args, 0, 1.0), rtol=1e-5)


@pytest.mark.parametrize("kind", ["lower", "upper", "diagonal", "lower, a view"])
def test_a_triangular_matrix_takes_no_general_solve(kind: str, monkeypatch) -> None:
    pytest.importorskip("scipy.linalg")
    a = _matrices()[kind]
    want = np.linalg.solve(a.T, np.ones(N))

    def refused(*args, **kwargs):
        raise AssertionError("np.linalg.solve called for a triangular matrix")

    monkeypatch.setattr(np.linalg, "solve", refused)
    np.testing.assert_allclose(solve_transposed(a, np.ones(N)), want, rtol=1e-10)

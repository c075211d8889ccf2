"""The closed form of a Cholesky factor's gradient (transform/factor.py,
runtime/rules/linalg_helpers.cholesky_factor_grad): Gaussian-process likelihoods and other
uses of one factor, in every mode, against central differences in float64; the helper
against the Cholesky rule on the dense cotangent, for the inputs its closed form takes and
those it hands back to the rule (batches, complex values); and the programs the pass must
leave as they are."""

from __future__ import annotations

import numpy as np
import pytest
from astgrad.runtime.rules.linalg_complex import hermitian_cholesky_grad
from astgrad.runtime.rules.linalg_helpers import (
    cho_factor_grad,
    cholesky_factor_grad,
    cholesky_inverse,
    solve_adjoint,
    solve_grad_a,
)
from astgrad.runtime.rules.rearranging import diag_grad
from numeric import assert_close, numeric_vjp

import astgrad as ag

scipy = pytest.importorskip("scipy")
pytest.importorskip("scipy.linalg")

MODES = ["source", "auto", "tape"]
RNG = np.random.default_rng(18)
N = 12
POINTS = RNG.standard_normal((N, 2))
TARGETS = np.sin(POINTS[:, 0]) + 0.1 * RNG.standard_normal(N)
LOG_PARAMS = np.log(np.array([0.9, 1.3, 0.2]))


def _kernel(log_params, X):
    lengthscale = np.exp(log_params[0])
    signal = np.exp(log_params[1])
    noise = np.exp(log_params[2])
    sq = np.sum(X**2, axis=1)
    dist2 = sq[:, None] + sq[None, :] - 2 * X @ X.T
    return signal * np.exp(-0.5 * dist2 / lengthscale**2) + noise * np.eye(X.shape[0])


def gp_solves(log_params, X, y):
    K = _kernel(log_params, X)
    L = np.linalg.cholesky(K)
    alpha = np.linalg.solve(L.T, np.linalg.solve(L, y))
    return 0.5 * y @ alpha + np.sum(np.log(np.diag(L)))


def gp_half_solve(log_params, X, y):
    # y^T K^-1 y as |L^-1 y|^2: one solve, its cotangent mirrors nothing
    K = _kernel(log_params, X)
    L = np.linalg.cholesky(K)
    v = np.linalg.solve(L, y)
    return 0.5 * v @ v + np.sum(np.log(np.diag(L)))


def gp_weighted_diagonal(log_params, X, y):
    # the diagonal's cotangent is no multiple of 1 / L_ii: the general diagonal part
    K = _kernel(log_params, X)
    L = np.linalg.cholesky(K)
    weights = np.linspace(0.5, 2.0, X.shape[0])
    alpha = np.linalg.solve(L.T, np.linalg.solve(L, y))
    return np.sum(weights * np.log(np.diag(L))) + y @ alpha


def gp_matrix_rhs(log_params, X, y):
    # right-hand sides as columns of a matrix, and the diagonal read twice
    K = _kernel(log_params, X)
    L = np.linalg.cholesky(K)
    B = np.stack([y, np.cos(y)], axis=1)
    A = np.linalg.solve(L.T, np.linalg.solve(L, B))
    d = np.diag(L)
    return np.sum(B * A) + np.sum(np.log(d)) + 0.1 * np.sum(d)


def gp_rhs_active(log_params, X, y):
    # the right-hand side depends on the parameters too
    K = _kernel(log_params, X)
    L = np.linalg.cholesky(K)
    b = y * np.exp(log_params[0])
    alpha = np.linalg.solve(L.T, np.linalg.solve(L, b))
    return b @ alpha + np.sum(np.log(np.diag(L)))


def gp_transposed_alone(log_params, X, y):
    K = _kernel(log_params, X)
    L = np.linalg.cholesky(K)
    x = np.linalg.solve(L.T, y)
    return np.sum(np.sin(x)) + np.sum(np.log(np.diag(L)))


def gp_other_use(log_params, X, y):
    # L read by something else too (a product): the pass leaves the rule as it is
    K = _kernel(log_params, X)
    L = np.linalg.cholesky(K)
    alpha = np.linalg.solve(L.T, np.linalg.solve(L, y))
    return y @ alpha + np.sum(L @ y)


FUSED = [gp_solves, gp_half_solve, gp_weighted_diagonal, gp_matrix_rhs, gp_rhs_active]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "f", [*FUSED, gp_transposed_alone, gp_other_use], ids=lambda f: getattr(f, "__name__", f)
)
def test_gradient_matches_central_differences(f, mode):
    args = [LOG_PARAMS.copy(), POINTS, TARGETS]
    value, (grad,) = ag.value_and_grad(f, wrt=("log_params",), mode=mode)(*args)
    assert_close(value, f(*args), rtol=1e-12, atol=1e-12, what=f"{f.__name__} value")
    expected = numeric_vjp(f, args, 0, 1.0)
    assert_close(grad, expected, rtol=1e-6, atol=1e-8, what=f"{f.__name__} ({mode})")


@pytest.mark.parametrize("f", [*FUSED, gp_transposed_alone], ids=lambda f: f.__name__)
def test_source_uses_the_closed_form(f):
    source = ag.source(f, LOG_PARAMS, POINTS, TARGETS)
    assert "cholesky_factor_grad(L, K" in source
    assert "hermitian_cholesky_grad" not in source
    assert "diag_grad" not in source


def test_source_solves_knowing_the_triangle():
    source = ag.source(gp_solves, LOG_PARAMS, POINTS, TARGETS)
    assert "lower=False)" in source


def test_other_use_keeps_the_rule():
    source = ag.source(gp_other_use, LOG_PARAMS, POINTS, TARGETS)
    assert "hermitian_cholesky_grad(dL, L, K)" in source
    assert "cholesky_factor_grad" not in source


def test_source_matches_the_rule_closely():
    # the closed form against the same function differentiated on the tape (the rule)
    args = (LOG_PARAMS, POINTS, TARGETS)
    for f in FUSED:
        _, (source,) = ag.value_and_grad(f, wrt=("log_params",), mode="source")(*args)
        _, (tape,) = ag.value_and_grad(f, wrt=("log_params",), mode="tape")(*args)
        assert_close(source, tape, rtol=1e-10, atol=1e-12, what=f.__name__)


# -- the helper against the rule on the dense cotangent ----------------------------------------


def _positive(n, batch=(), complex_=False):
    m = RNG.standard_normal(batch + (n, n))
    if complex_:
        m = m + 1j * RNG.standard_normal(batch + (n, n))
    return m @ np.conjugate(np.swapaxes(m, -1, -2)) / n + np.eye(n)


def _dense(low, diagonals, solves, transposed):
    dense = 0
    for v in diagonals:
        dense = dense + diag_grad(v, low)
    for gx, x, b in solves:
        dense = dense + solve_grad_a(solve_adjoint(gx, low, b), x, low, b)
    for gb, x, b in transposed:
        dense = dense + solve_grad_a(gb, x, low.T, b).T
    return dense


def _parts(low, columns=None, mirrored=True, diagonal="log"):
    n = low.shape[-1]
    shape = (n,) if columns is None else (n, columns)
    y = RNG.standard_normal(shape)
    s = np.linalg.solve(low, y)
    alpha = np.linalg.solve(low.T, s)
    g_alpha = RNG.standard_normal(shape)
    gb = np.linalg.solve(low, g_alpha)  # the cotangent of s, through the second solve
    g_s = gb.copy() if mirrored else gb + RNG.standard_normal(shape)
    diagonals = ()
    if diagonal == "log":
        diagonals = (0.7 / np.diagonal(low),)
    elif diagonal == "any":
        diagonals = (RNG.standard_normal(n), RNG.standard_normal(n))
    return diagonals, ((g_s, s, y),), ((gb, alpha, s),)


@pytest.mark.parametrize("columns", [None, 3])
@pytest.mark.parametrize("mirrored", [True, False])
@pytest.mark.parametrize("diagonal", ["log", "any", None])
def test_helper_matches_the_rule(columns, mirrored, diagonal):
    a = _positive(9)
    low = np.linalg.cholesky(a)
    diagonals, solves, transposed = _parts(low, columns, mirrored, diagonal)
    got = cholesky_factor_grad(low, a, diagonals, solves, transposed)
    want = hermitian_cholesky_grad(_dense(low, diagonals, solves, transposed), low, a)
    assert_close(got, want, rtol=1e-10, atol=1e-12)
    assert not np.triu(got, 1).any()  # the gradient of the triangle NumPy reads


def test_helper_parts_alone():
    a = _positive(8)
    low = np.linalg.cholesky(a)
    diagonals, solves, transposed = _parts(low)
    for parts in [(diagonals, (), ()), ((), solves, ()), ((), (), transposed)]:
        got = cholesky_factor_grad(low, a, *parts)
        want = hermitian_cholesky_grad(_dense(low, *parts), low, a)
        assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_helper_hands_complex_values_to_the_rule():
    a = _positive(6, complex_=True)
    low = np.linalg.cholesky(a)
    diagonals = (RNG.standard_normal(6),)
    got = cholesky_factor_grad(low, a, diagonals, (), ())
    want = hermitian_cholesky_grad(diag_grad(diagonals[0], low), low, a)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_helper_hands_batches_to_the_rule():
    a = _positive(5, batch=(3,))
    low = np.linalg.cholesky(a)
    y = RNG.standard_normal((3, 5, 2))
    s = np.linalg.solve(low, y)
    g_s = RNG.standard_normal((3, 5, 2))
    solves = ((g_s, s, y),)
    got = cholesky_factor_grad(low, a, (), solves, ())
    dense = solve_grad_a(solve_adjoint(g_s, low, y), s, low, y)
    np.testing.assert_allclose(got, hermitian_cholesky_grad(dense, low, a), rtol=1e-12)


# -- scipy.linalg.cho_factor and cho_solve -------------------------------------------------------


def gp_cho_lower(log_params, X, y):
    K = _kernel(log_params, X)
    factor = scipy.linalg.cho_factor(K, lower=True)
    alpha = scipy.linalg.cho_solve(factor, y)
    return 0.5 * y @ alpha + np.sum(np.log(np.diag(factor[0])))


def gp_cho_upper(log_params, X, y):
    # cho_factor's default: the factor in the upper triangle, which it reads
    K = _kernel(log_params, X)
    factor = scipy.linalg.cho_factor(K)
    B = np.stack([y, y * y], axis=1)
    A = scipy.linalg.cho_solve(factor, B)
    d = np.diag(factor[0])
    return np.sum(B * A) + 2 * np.sum(np.log(d)) + 0.3 * np.sum(d * d)


def gp_cho_two_solves(log_params, X, y):
    K = _kernel(log_params, X)
    factor = scipy.linalg.cho_factor(K, lower=True)
    alpha = scipy.linalg.cho_solve(factor, y)
    beta = scipy.linalg.cho_solve(factor, np.cos(y) * np.exp(log_params[1]))
    return y @ alpha + np.sum(np.sin(beta))


CHO = [gp_cho_lower, gp_cho_upper, gp_cho_two_solves]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("f", CHO, ids=lambda f: f.__name__)
def test_cho_factor_matches_central_differences(f, mode):
    args = [LOG_PARAMS.copy(), POINTS, TARGETS]
    value, (grad,) = ag.value_and_grad(f, wrt=("log_params",), mode=mode)(*args)
    assert_close(value, f(*args), rtol=1e-12, atol=1e-12, what=f"{f.__name__} value")
    assert_close(grad, numeric_vjp(f, args, 0, 1.0), rtol=1e-6, atol=1e-8, what=f.__name__)


@pytest.mark.parametrize("f", CHO, ids=lambda f: f.__name__)
def test_cho_factor_source_uses_the_closed_form(f):
    source = ag.source(f, LOG_PARAMS, POINTS, TARGETS)
    assert "cho_factor_grad(factor, K" in source
    assert "hermitian_cholesky_grad" not in source


@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("columns", [None, 2])
def test_cho_factor_helper_matches_the_rule(lower, columns):
    from astgrad.runtime.rules.scipy_rules import (
        _factor_triangle,
        _other_triangle,
        cho_solve_factor_grad,
    )

    a = _positive(7)
    factor = scipy.linalg.cho_factor(a, lower=lower)
    shape = (7,) if columns is None else (7, columns)
    x = scipy.linalg.cho_solve(factor, RNG.standard_normal(shape))
    gb = scipy.linalg.cho_solve(factor, RNG.standard_normal(shape))
    v = RNG.standard_normal(7)
    got = cho_factor_grad(factor, a, (v,), ((gb, x),))
    gc = diag_grad(v, factor[0]) + cho_solve_factor_grad(gb, x, factor)
    want = hermitian_cholesky_grad(
        _factor_triangle(gc, lower), _factor_triangle(factor[0], lower), a, not lower
    ) + _other_triangle(gc, lower)
    assert_close(got, want, rtol=1e-10, atol=1e-12)


# -- other spellings of the same solves ----------------------------------------------------------


def gp_triangular(log_params, X, y):
    K = _kernel(log_params, X)
    L = np.linalg.cholesky(K)
    v = scipy.linalg.solve_triangular(L, y, lower=True)
    alpha = scipy.linalg.solve_triangular(L.T, v, lower=False)
    return 0.5 * y @ alpha + np.sum(np.log(np.diag(L)))


def gp_triangular_trans(log_params, X, y):
    # the second solve with L^T spelled trans="T" on L itself
    K = _kernel(log_params, X)
    L = np.linalg.cholesky(K)
    v = scipy.linalg.solve_triangular(L, y, lower=True)
    alpha = scipy.linalg.solve_triangular(L, v, lower=True, trans="T")
    return 0.5 * y @ alpha + np.sum(np.log(np.diag(L)))


def gp_triangular_half(log_params, X, y):
    # |L^-1 y|^2 by one triangular solve, and a solve with L.T read back by trans=1
    K = _kernel(log_params, X)
    L = np.linalg.cholesky(K)
    v = scipy.linalg.solve_triangular(L, y, lower=True)
    w = scipy.linalg.solve_triangular(L.T, y, lower=False, trans=1)
    return v @ v + np.sum(np.tanh(w)) + np.sum(np.log(np.diag(L)))


def gp_cho_solve_factor(log_params, X, y):
    K = _kernel(log_params, X)
    L = np.linalg.cholesky(K)
    alpha = scipy.linalg.cho_solve((L, True), y)
    return 0.5 * y @ alpha + np.sum(np.log(np.diag(L)))


SPELLINGS = [gp_triangular, gp_triangular_trans, gp_triangular_half, gp_cho_solve_factor]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("f", SPELLINGS, ids=lambda f: f.__name__)
def test_spellings_match_central_differences(f, mode):
    args = [LOG_PARAMS.copy(), POINTS, TARGETS]
    value, (grad,) = ag.value_and_grad(f, wrt=("log_params",), mode=mode)(*args)
    assert_close(value, f(*args), rtol=1e-12, atol=1e-12, what=f"{f.__name__} value")
    assert_close(grad, numeric_vjp(f, args, 0, 1.0), rtol=1e-6, atol=1e-8, what=f.__name__)


@pytest.mark.parametrize("f", SPELLINGS, ids=lambda f: f.__name__)
def test_spellings_use_the_closed_form(f):
    source = ag.source(f, LOG_PARAMS, POINTS, TARGETS)
    assert "cholesky_factor_grad(L, K" in source
    assert "hermitian_cholesky_grad" not in source


def test_helper_cho_solves_match_the_rule():
    from astgrad.runtime.rules.scipy_rules import cho_solve_factor_grad

    a = _positive(8)
    low = np.linalg.cholesky(a)
    x = scipy.linalg.cho_solve((low, True), RNG.standard_normal(8))
    gb = scipy.linalg.cho_solve((low, True), RNG.standard_normal(8))
    got = cholesky_factor_grad(low, a, (), (), (), ((gb, x),))
    want = hermitian_cholesky_grad(cho_solve_factor_grad(gb, x, (low, True)), low, a)
    assert_close(got, want, rtol=1e-10, atol=1e-12)


def gp_rebound(log_params, X, y):
    # y bound again between the factor and its solves, and after them: the solves' y is
    # not the one the backward pass holds where the Cholesky gradient is
    K = _kernel(log_params, X)
    L = np.linalg.cholesky(K)
    y = y * np.exp(log_params[0])
    v = np.linalg.solve(L, y)
    w = np.linalg.solve(L.T, y)
    y = y + 1.0
    return y @ w + v @ v + np.sum(np.log(np.diag(L)))


def gp_slogdet(log_params, X, y):
    # the log-determinant by slogdet beside the factor's solves: K^-1 from the factor
    K = _kernel(log_params, X)
    L = np.linalg.cholesky(K)
    alpha = scipy.linalg.cho_solve((L, True), y)
    sign, logdet = np.linalg.slogdet(K)
    return 0.5 * y @ alpha + 0.5 * logdet + np.log(np.linalg.det(K))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("f", [gp_rebound, gp_slogdet], ids=lambda f: f.__name__)
def test_moved_reads_and_inverse(f, mode):
    args = [LOG_PARAMS.copy(), POINTS, TARGETS]
    value, (grad,) = ag.value_and_grad(f, wrt=("log_params",), mode=mode)(*args)
    assert_close(value, f(*args), rtol=1e-12, atol=1e-12, what=f"{f.__name__} value")
    assert_close(grad, numeric_vjp(f, args, 0, 1.0), rtol=1e-6, atol=1e-8, what=f.__name__)


def test_slogdet_inverse_from_the_factor():
    source = ag.source(gp_slogdet, LOG_PARAMS, POINTS, TARGETS)
    assert source.count("cholesky_inverse(K, L)") == 2
    assert "inverse(K)" not in source.replace("cholesky_inverse(K", "")


def test_cholesky_inverse_needs_a_symmetric_matrix():
    a = _positive(6)
    low = np.linalg.cholesky(a)
    np.testing.assert_allclose(cholesky_inverse(a, low), np.linalg.inv(a), rtol=1e-10)
    skewed = a + np.triu(np.ones((6, 6)), 1)  # cholesky reads the lower triangle alone
    np.testing.assert_allclose(
        cholesky_inverse(skewed, np.linalg.cholesky(skewed)), np.linalg.inv(skewed), rtol=1e-12
    )


UNRELATED = 1.5  # a global no function here reads


@pytest.mark.parametrize("f", [gp_solves, gp_cho_lower, gp_slogdet], ids=lambda f: f.__name__)
def test_the_pass_guards_only_what_it_reads(f):
    # the pass looks names up one at a time: every global it read would be checked on
    # every later call (reading the module's globals wholesale guarded all of them)
    from astgrad.transform import pipeline

    derivative = pipeline.derive(f, ("log_params",), mode="source")
    described = str(derivative.guard)
    assert "UNRELATED" not in described and "MODES" not in described, described


def test_helper_mixed_dtypes_go_to_the_rule():
    # a float32 factor with float64 parts: LAPACK would compute in float32, the rules in
    # float64; the helper hands them to the rules
    a = _positive(7)
    low = np.linalg.cholesky(a).astype(np.float32)
    diagonals, solves, transposed = _parts(low.astype(np.float64))
    got = cholesky_factor_grad(low, a.astype(np.float32), diagonals, solves, transposed)
    dense = _dense(low, diagonals, solves, transposed)
    want = hermitian_cholesky_grad(dense, low, a.astype(np.float32))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert got.dtype == want.dtype

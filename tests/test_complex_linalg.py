"""The Hermitian forms of np.linalg.cholesky's and eigvalsh's rules, and the singular values
of complex matrices (np.linalg.svd(..., compute_uv=False), svdvals) and least squares
(np.linalg.lstsq: the solution, residuals and singular values), np.linalg.cond (every p),
np.linalg.qr and eigh (docs/complex.md):
complex matrices, every mode and forward mode, against central differences that move the
real and imaginary parts of every entry apart (entries NumPy does not read included: their
gradient is zero)."""

from __future__ import annotations

import numpy as np
import pytest
from astgrad.runtime.rules.complex import ComplexGradientError
from rule_specs_complex import complex_gradient

import astgrad as ag

try:
    import scipy.linalg as scipy_linalg
except ImportError:  # pragma: no cover - scipy is optional
    scipy_linalg = None

MODES = ["source", "auto", "tape"]
RNG = np.random.default_rng(11)


def _hermitian_positive(n, batch=()):
    m = RNG.standard_normal(batch + (n, n)) + 1j * RNG.standard_normal(batch + (n, n))
    return m @ np.conjugate(np.swapaxes(m, -1, -2)) + n * np.eye(n)


def _noisy(h):
    """``h`` with noise where NumPy does not look (the other triangle, the imaginary part
    of the diagonal): the functions must not see it, nor their gradients."""
    noise = RNG.standard_normal(h.shape) + 1j * RNG.standard_normal(h.shape)
    n = h.shape[-1]
    return h + np.triu(noise, 1) + 1j * np.imag(noise) * np.eye(n)


A3 = _noisy(_hermitian_positive(3))
A_BATCH = _noisy(_hermitian_positive(3, (2,)))
C3 = RNG.standard_normal((3, 3)) + 1j * RNG.standard_normal((3, 3))
W3 = RNG.standard_normal(3)


def cholesky_lower(a):
    return np.real(np.sum(C3 * np.linalg.cholesky(a)))


def cholesky_upper(a):
    u = np.linalg.cholesky(np.conjugate(np.swapaxes(a, -1, -2)), upper=True)
    return np.sum(np.abs(u * C3) ** 2)


def cholesky_batch(a):
    return np.real(np.sum(np.sin(np.linalg.cholesky(a)) * C3))


def eigenvalues_lower(a):
    return np.sum(np.linalg.eigvalsh(a) * W3) + np.sum(np.linalg.eigvalsh(a) ** 2)


def eigenvalues_upper(a):
    upper = np.conjugate(np.swapaxes(a, -1, -2))
    return np.sum(np.exp(np.linalg.eigvalsh(upper, UPLO="U")) * W3)


M34 = RNG.standard_normal((3, 4)) + 1j * RNG.standard_normal((3, 4))
M_BATCH = RNG.standard_normal((2, 4, 3)) + 1j * RNG.standard_normal((2, 4, 3))


def singular_values(a):
    return np.sum(np.linalg.svd(a, compute_uv=False) * W3) + np.linalg.svdvals(a)[0] ** 2


def condition_like(a):
    s = np.linalg.svdvals(a)
    return np.sum(s[..., 0] / s[..., -1])


A52 = RNG.standard_normal((5, 2)) + 1j * RNG.standard_normal((5, 2))
B5 = RNG.standard_normal(5) + 1j * RNG.standard_normal(5)


def least_squares(a):
    x, residuals, _, s = np.linalg.lstsq(a, B5)
    return np.sum(np.abs(x - 1j) ** 2) + 0.3 * np.sum(residuals) + np.sum(s * W3[:2])


def least_squares_in_b(b):
    x, residuals, _, _ = np.linalg.lstsq(A52, b)
    return np.real(np.sum(x * C3[0, :2])) + np.sum(residuals)


def conditions(a):
    return np.linalg.cond(a) + np.linalg.cond(a, "fro") + np.linalg.cond(a, 1)


def eigen_parts(a):
    # (the eigenvalues, |v|^2 and the projector onto the first eigenvector: none reads the
    # phases LAPACK picks for the eigenvectors)
    w, v = np.linalg.eigh(a)
    projector = v[:, :1] @ np.conjugate(v[:, :1]).T
    return np.sum(w * W3) + np.sum(np.abs(v) ** 2 * W3) + np.real(np.sum(projector * C3))


def eigen_parts_upper(a):
    w, v = np.linalg.eigh(np.conjugate(a.T), UPLO="U")
    return np.sum(np.sin(w)) + np.sum(np.abs(v[:, 1]) ** 3)


def qr_parts(a):
    q, r = np.linalg.qr(a)
    return np.real(np.sum(q * C3[:, :2])) + np.sum(np.abs(r) ** 2 * W3[:2])


def qr_of_a_wide_matrix(a):
    q, r = np.linalg.qr(a.T)
    return np.real(np.sum(np.sin(q))) + np.imag(np.sum(r * C3[:2, :3]))


def scipy_cholesky_both(a):
    upper = scipy_linalg.cholesky(np.conjugate(a.T))
    lower = scipy_linalg.cholesky(a, lower=True)
    return np.real(np.sum(upper * C3)) + np.sum(np.abs(lower) ** 2 * W3)


CASES = [
    (qr_parts, RNG.standard_normal((3, 2)) + 1j * RNG.standard_normal((3, 2))),
    (qr_of_a_wide_matrix, RNG.standard_normal((3, 2)) + 1j * RNG.standard_normal((3, 2))),
    (eigen_parts, A3),
    (eigen_parts_upper, A3),
    (conditions, C3),
    (least_squares, A52),
    (least_squares_in_b, B5),
    (singular_values, M34),
    (condition_like, M_BATCH),
    (cholesky_lower, A3),
    (cholesky_upper, A3),
    (cholesky_batch, A_BATCH),
    (eigenvalues_lower, A3),
    (eigenvalues_upper, A3),
    (eigenvalues_lower, A_BATCH),
]


if scipy_linalg is not None:
    CASES.append((scipy_cholesky_both, A3))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("function, a", CASES, ids=lambda v: getattr(v, "__name__", ""))
def test_hermitian_gradients(function, a, mode):
    got = ag.grad(function, mode=mode)(a)
    expected = complex_gradient(lambda v: float(function(v)), a)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("function, a", CASES, ids=lambda v: getattr(v, "__name__", ""))
def test_hermitian_tangents(function, a):
    t = RNG.standard_normal(a.shape) + 1j * RNG.standard_normal(a.shape)
    _, tangent = ag.jvp(function, (a,), (t,))
    eps = 1e-6
    expected = (function(a + eps * t) - function(a - eps * t)) / (2 * eps)
    assert tangent == pytest.approx(expected, rel=1e-6, abs=1e-7)


def test_vjp_with_a_complex_cotangent():
    # a cotangent c of the complex factor stands for Re(sum(c * L))
    _, pullback = ag.vjp(np.linalg.cholesky, A3)
    got = pullback(C3)
    expected = complex_gradient(lambda v: float(np.real(np.sum(C3 * np.linalg.cholesky(v)))), A3)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", MODES)
def test_a_loss_of_singular_vector_phases_is_refused(mode):
    # (each pair u_k, v_k is fixed up to a phase that LAPACK picks: a loss that reads it
    # has no one gradient; test_complex_decompositions.py checks losses that do not)
    def of_vectors(a):
        u, s, vh = np.linalg.svd(a, full_matrices=False)
        return np.sum(np.abs(u) ** 2 * s) + np.real(np.sum(vh))

    with pytest.raises(NotImplementedError, match="phases of the singular vectors"):
        ag.grad(of_vectors, mode=mode)(M34)


def first_entry_of_an_eigenvector(a):
    # (LAPACK makes each eigenvector's first entry real, which fixes its phase: the second
    # entry's phase moves with a)
    return np.imag(np.linalg.eigh(a)[1][1, 0])


def phases_of_upper_eigenvectors(a):
    # (UPLO="U": the last entry is the real one)
    v = np.linalg.eigh(np.conjugate(a.T), UPLO="U")[1]
    return np.real(np.sum(v * C3)) + np.angle(v[0, 1])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("function", [first_entry_of_an_eigenvector, phases_of_upper_eigenvectors])
def test_a_loss_of_eigenvector_phases_in_lapacks_gauge(function, mode):
    got = ag.grad(function, mode=mode)(A3)
    np.testing.assert_allclose(got, complex_gradient(function, A3), rtol=1e-5, atol=1e-6)
    t = RNG.standard_normal(A3.shape) + 1j * RNG.standard_normal(A3.shape)
    _, tangent = ag.jvp(function, (A3,), (t,))
    eps = 1e-6
    assert tangent == pytest.approx((function(A3 + eps * t) - function(A3 - eps * t)) / (2 * eps))


def test_eigenvectors_in_unknown_phases():
    # Where another LAPACK leaves the first entries complex, the phases are not known:
    # losses that do not read them keep their gradient, the others and forward mode are
    # refused. (Simulated: LAPACK's eigenvectors turned by phases of their own.)
    from astgrad.runtime.rules.linalg_complex import (
        hermitian_eigh_grad,
        hermitian_eigh_tangent,
    )

    w, v = np.linalg.eigh(A3)
    turned = v * np.exp(1j * np.array([0.3, -1.2, 2.0]))
    weights = RNG.standard_normal((3, 3))  # (the loss sum(weights * |v|^2): gv = 2 weights conj(v))
    np.testing.assert_allclose(
        hermitian_eigh_grad((W3, 2 * weights * np.conjugate(turned)), (w, turned), A3),
        hermitian_eigh_grad((W3, 2 * weights * np.conjugate(v)), (w, v), A3),
        rtol=1e-10,
        atol=1e-12,
    )
    with pytest.raises(NotImplementedError, match="phases of the eigenvectors"):
        hermitian_eigh_grad((W3, C3), (w, turned), A3)
    with pytest.raises(NotImplementedError, match="forward mode"):
        hermitian_eigh_tangent(C3, (w, turned), A3)


def scipy_holomorphic(a):
    b = C3[:, 0]
    return np.real(
        np.sum(scipy_linalg.expm(0.3 * a) * C3)
        + scipy_linalg.det(a)
        + np.sum(scipy_linalg.solve(a, b) * W3)
        + np.sum(scipy_linalg.inv(a, assume_a="sym", lower=True))
    )


@pytest.mark.skipif(scipy_linalg is None, reason="needs SciPy")
@pytest.mark.parametrize("mode", MODES)
def test_scipy_holomorphic_matrix_functions(mode):
    # expm, det, solve and inv (general or symmetric, not Hermitian, readings) are
    # holomorphic: their real rules hold for complex matrices as they are
    a = C3 + 3 * np.eye(3)
    got = ag.grad(scipy_holomorphic, mode=mode)(a)
    expected = complex_gradient(lambda v: float(scipy_holomorphic(v)), a)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    t = RNG.standard_normal((3, 3)) + 1j * RNG.standard_normal((3, 3))
    _, tangent = ag.jvp(scipy_holomorphic, (a,), (t,))
    eps = 1e-6
    moved = (scipy_holomorphic(a + eps * t) - scipy_holomorphic(a - eps * t)) / (2 * eps)
    assert tangent == pytest.approx(moved, rel=1e-6)


@pytest.mark.skipif(scipy_linalg is None, reason="needs SciPy")
@pytest.mark.parametrize("mode", MODES)
def test_scipy_hermitian_readings_are_refused(mode):
    def hermitian_solve(a):
        return np.real(np.sum(scipy_linalg.solve(a, C3[:, 0], assume_a="her")))

    with pytest.raises(ComplexGradientError, match="scipy.linalg.solve"):
        ag.grad(hermitian_solve, mode=mode)(A3)


def solve_by_lu(a):
    factored = scipy_linalg.lu_factor(a)
    x = scipy_linalg.lu_solve(factored, C3[:, :2])
    y = scipy_linalg.lu_solve(factored, C3[0], trans=1)
    return np.real(np.sum(x * C3[1:, :].T)) + np.sum(np.abs(y) ** 2)


@pytest.mark.skipif(scipy_linalg is None, reason="needs SciPy")
@pytest.mark.parametrize("mode", MODES)
def test_lu_of_a_complex_matrix(mode):
    # (LU is holomorphic: the real rules hold as written, but for trans=2, a^H)
    a = C3 + 2 * np.eye(3)
    got = ag.grad(solve_by_lu, mode=mode)(a)
    expected = complex_gradient(lambda v: float(solve_by_lu(v)), a)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    if mode == "tape":
        t = RNG.standard_normal((3, 3)) + 1j * RNG.standard_normal((3, 3))
        _, tangent = ag.jvp(solve_by_lu, (a,), (t,))
        eps = 1e-6
        moved = (solve_by_lu(a + eps * t) - solve_by_lu(a - eps * t)) / (2 * eps)
        assert tangent == pytest.approx(moved, rel=1e-6)

    def conjugate_transposed(a):
        return np.real(np.sum(scipy_linalg.lu_solve(scipy_linalg.lu_factor(a), C3[0], trans=2)))

    with pytest.raises(ComplexGradientError, match="trans=2"):
        ag.grad(conjugate_transposed, mode=mode)(a)

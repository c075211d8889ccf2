"""Complex values through the decompositions whose rules needed more than the real ones
(docs/complex.md): np.linalg.svd's singular vectors (losses that do not read their
phases), np.linalg.eig of complex matrices and of real ones with complex eigenvalues,
np.corrcoef, scipy.linalg's cho_factor and cho_solve of Hermitian matrices and
solve_sylvester; and the refusals that stay (multivariate_normal, phase-dependent losses,
forward mode through complex singular vectors).

Every check is against central differences that move the real and the imaginary parts
apart (rule_specs_complex), in every mode, in forward mode and through ag.vjp with complex
cotangents.
"""

from __future__ import annotations

import numpy as np
import pytest
from astgrad.runtime.rules.complex import ComplexGradientError
from rule_specs_complex import complex_gradient

import astgrad as ag

try:
    import scipy.linalg as scipy_linalg
    import scipy.stats as scipy_stats
except ImportError:  # pragma: no cover - scipy is optional
    scipy_linalg = scipy_stats = None

needs_scipy = pytest.mark.skipif(scipy_linalg is None, reason="needs SciPy")

MODES = ["source", "auto", "tape"]
RNG = np.random.default_rng(23)


def crandom(*shape):
    return RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)


W = crandom(5, 5)
W_BATCH = crandom(2, 5, 5)


def check_gradient(function, args, mode, wrt=0):
    """``ag.grad(function, wrt=wrt, mode=mode)`` against complex central differences."""
    positions = wrt if isinstance(wrt, tuple) else (wrt,)
    got = ag.grad(function, wrt=wrt, mode=mode)(*args)
    got = got if isinstance(wrt, tuple) else (got,)
    for position, grad in zip(positions, got):

        def at(value, position=position):
            moved = list(args)
            moved[position] = value
            return float(function(*moved))

        expected = complex_gradient(at, args[position])
        assert np.shape(grad) == np.shape(expected)
        np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-6)


def check_tangent(function, args, tangents):
    """``ag.jvp`` against the central difference along the (complex) tangents."""
    _, tangent = ag.jvp(function, tuple(args), tuple(tangents))
    eps = 1e-6
    up = function(*[a + eps * t for a, t in zip(args, tangents)])
    down = function(*[a - eps * t for a, t in zip(args, tangents)])
    assert tangent == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-7)


def check_vjp(function, args, cotangent):
    """``ag.vjp`` with a complex cotangent ``c``: the gradient of ``Re(sum(c * f))``,
    over every result when ``f`` returns several."""

    def contracted(*values):
        out = function(*values)
        parts = out if isinstance(out, tuple) else (out,)
        cs = cotangent if isinstance(out, tuple) else (cotangent,)
        return float(sum(np.real(np.sum(np.asarray(o) * c)) for o, c in zip(parts, cs)))

    _, pullback = ag.vjp(function, *args)
    got = pullback(cotangent)
    got = got if isinstance(got, tuple) else (got,)
    for position, grad in enumerate(got):

        def at(value, position=position):
            moved = list(args)
            moved[position] = value
            return contracted(*moved)

        expected = complex_gradient(at, args[position])
        np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-6)


# -- the singular vectors of a complex matrix -----------------------------------------------
# Losses that turning a pair u_k, v_k by one phase leaves as it is: |u|, |v|, projectors
# u_k v_k^H and u_k u_k^H, and the singular values.


def singular_projectors(a):
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    p = u[..., :, :2] @ vh[..., :2, :]  # u_1 v_1^H + u_2 v_2^H
    rows, cols = np.shape(p)[-2:]
    return (
        np.real(np.sum(p * W[:rows, :cols]))
        + np.sum(np.abs(u) ** 3)
        + np.sum(np.abs(vh[..., 0, :]) ** 4)
        + np.sum(s**2 * np.arange(np.shape(s)[-1]))
    )


def left_projector(a):
    u, s, vh = np.linalg.svd(a)
    first = u[:, :1] @ np.conj(u[:, :1]).T
    return np.real(np.sum(first * W[:3, :3])) + np.sum(s)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", [(3, 3), (4, 3), (3, 5), (2, 4, 3)], ids=str)
def test_singular_vectors_of_complex_matrices(shape, mode):
    check_gradient(singular_projectors, (crandom(*shape),), mode)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", [(3, 3), (3, 5)], ids=str)
def test_singular_vectors_with_full_matrices(shape, mode):
    # (u has no columns beyond the singular values: full_matrices changes nothing, and the
    # rows of vh beyond them are not read)
    check_gradient(left_projector, (crandom(*shape),), mode)


def test_singular_vectors_through_vjp_with_a_complex_cotangent():
    def projector(a):
        u, _, vh = np.linalg.svd(a, full_matrices=False)
        return u[:, :2] @ vh[:2, :]

    check_vjp(projector, (crandom(4, 3),), crandom(4, 3))


def test_singular_vectors_of_a_real_matrix_keep_the_real_rule():
    a = RNG.standard_normal((4, 3))
    got = ag.grad(singular_projectors)(a)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, complex_gradient(singular_projectors, a), rtol=1e-5, atol=1e-6)


def phase_of_a_singular_vector(a):
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    return np.imag(u[0, 0]) + np.real(vh[0, 1])


def beyond_the_singular_values(a):
    u, s, vh = np.linalg.svd(a)
    return np.sum(np.abs(u[:, -1]) ** 2 * np.arange(4))


@pytest.mark.parametrize("mode", MODES)
def test_losses_of_singular_vector_phases_are_refused(mode):
    with pytest.raises(NotImplementedError, match="phases of the singular vectors"):
        ag.grad(phase_of_a_singular_vector, mode=mode)(crandom(3, 3))
    # (the columns of u beyond the singular values: LAPACK picks them in a null space)
    with pytest.raises(NotImplementedError, match="full_matrices=False"):
        ag.grad(beyond_the_singular_values, mode=mode)(crandom(4, 3))


def test_forward_mode_refuses_complex_singular_vectors():
    # (a tangent of the vectors would fix their phases, which LAPACK picks)
    a = crandom(3, 3)
    with pytest.raises(NotImplementedError, match="forward mode"):
        ag.jvp(singular_projectors, (a,), (crandom(3, 3),))
    # ...but the singular values alone have tangents
    check_tangent(lambda a: np.sum(np.linalg.svd(a, compute_uv=False) ** 3), (a,), (W[:3, :3],))


def test_hermitian_singular_values_of_a_complex_matrix_are_refused():
    # (NumPy computes them with eigh and moves the eigenvalues' signs into vh)
    h = crandom(3, 3)
    with pytest.raises(ComplexGradientError, match="np.linalg.svd"):
        ag.grad(lambda a: np.sum(np.linalg.svd(a, hermitian=True)[1]))(h @ np.conj(h.T))


# -- eig: complex eigenvalues and eigenvectors -------------------------------------------------
# LAPACK fixes each eigenvector (length 1, its largest entry real): every loss of them has a
# gradient, the phases included.


def eigen_everything(a):
    w, v = np.linalg.eig(a)
    n = np.shape(w)[-1]
    return (
        np.real(np.sum(v * W[:n, :n]))
        + np.sum(np.abs(w) ** 2 * np.arange(n))
        + np.imag(np.sum(np.linalg.eigvals(a) ** 2 * W[0, :n]))
    )


def eigen_batch(a):
    w, v = np.linalg.eig(a)
    return np.real(np.sum(v * W_BATCH[:, :3, :3])) + np.real(np.sum(np.sin(w)))


REAL_ROTATING = np.array([[0.3, -1.0, 0.2], [1.1, 0.1, 0.0], [0.4, 0.2, 2.0]])
EIG_CASES = [
    pytest.param(eigen_everything, crandom(3, 3), id="complex"),
    pytest.param(eigen_everything, crandom(4, 4), id="complex-4"),
    pytest.param(eigen_everything, REAL_ROTATING, id="real-with-complex-eigenvalues"),
    pytest.param(eigen_batch, crandom(2, 3, 3), id="batch"),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("function, a", EIG_CASES)
def test_eig_of_complex_eigenvalues(function, a, mode):
    check_gradient(function, (a,), mode)


@pytest.mark.parametrize("function, a", EIG_CASES)
def test_eig_tangents(function, a):
    t = RNG.standard_normal(a.shape) + (
        1j * RNG.standard_normal(a.shape) if a.dtype.kind == "c" else 0
    )
    check_tangent(function, (a,), (t,))


def test_eig_through_vjp_with_complex_cotangents():
    # (any cotangent: LAPACK's normalization fixes the vectors' phases)
    check_vjp(np.linalg.eig, (crandom(3, 3),), (crandom(3), crandom(3, 3)))
    check_vjp(np.linalg.eigvals, (REAL_ROTATING,), crandom(3))


def test_eig_of_a_real_matrix_gives_a_real_gradient():
    got = ag.grad(eigen_everything)(REAL_ROTATING)
    assert got.dtype == np.float64


# -- np.corrcoef -------------------------------------------------------------------------------


def correlations(x, y):
    r = np.corrcoef(x, y)
    n = np.shape(r)[0]
    return np.real(np.sum(r * W[:n, :n])) + np.sum(np.abs(r) ** 2)


def correlations_of_columns(x):
    return np.imag(np.sum(np.corrcoef(x, rowvar=False) * W[:3, :3]))


@pytest.mark.parametrize("mode", MODES)
def test_corrcoef_of_complex_values(mode):
    x, y = crandom(2, 6), crandom(6)
    check_gradient(correlations, (x, y), mode, wrt=(0, 1))
    check_gradient(correlations_of_columns, (crandom(6, 3),), mode)
    # (a real y beside a complex x: its gradient is real)
    real_y = RNG.standard_normal(6)
    assert ag.grad(correlations, wrt=1, mode=mode)(x, real_y).dtype == np.float64
    check_gradient(correlations, (x, real_y), mode, wrt=1)


def test_corrcoef_tangent_and_vjp():
    x, y = crandom(2, 6), crandom(6)
    check_tangent(correlations, (x, y), (crandom(2, 6), crandom(6)))
    check_vjp(np.corrcoef, (x, y), crandom(3, 3))


# -- scipy.linalg: cho_factor and cho_solve of Hermitian matrices, solve_sylvester -------------


def hermitian_positive(n):
    m = crandom(n, n)
    h = m @ np.conj(m.T) + n * np.eye(n)
    # (noise where LAPACK does not look: the strict lower triangle, as cho_factor reads the
    # upper one by default, and the imaginary part of the diagonal)
    return h + 1j * np.tril(RNG.standard_normal((n, n)), -1) + 1j * np.diag(RNG.standard_normal(n))


def cholesky_solves(a, b):
    c, lower = scipy_linalg.cho_factor(a)
    x = scipy_linalg.cho_solve((c, lower), b)
    # (the lower factor of the same matrix: cho_factor(a^H, lower=True) reads a's upper
    # triangle, conjugated)
    y = scipy_linalg.cho_solve(scipy_linalg.cho_factor(np.conj(a.T), lower=True), b[:, 0])
    return np.real(np.sum(x * W[:3, :2])) + np.sum(np.abs(y) ** 2) + np.real(np.sum(c * W[:3, :3]))


A_HERMITIAN = hermitian_positive(3) if scipy_linalg is not None else None


@needs_scipy
@pytest.mark.parametrize("mode", MODES)
def test_cho_factor_and_cho_solve_of_a_hermitian_matrix(mode):
    b = crandom(3, 2)
    check_gradient(cholesky_solves, (A_HERMITIAN, b), mode, wrt=(0, 1))


@needs_scipy
def test_cho_factor_and_cho_solve_tangent_and_vjp():
    b = crandom(3, 2)
    check_tangent(cholesky_solves, (A_HERMITIAN, b), (crandom(3, 3), crandom(3, 2)))

    def solved(a, b):
        return scipy_linalg.cho_solve(scipy_linalg.cho_factor(a, lower=True), b)

    check_vjp(solved, (np.conj(A_HERMITIAN.T), b), crandom(3, 2))


def sylvester(a, b, q):
    x = scipy_linalg.solve_sylvester(a, b, q)
    return np.sum(np.abs(x) ** 2) + np.real(np.sum(x * W[:3, :2]))


@needs_scipy
@pytest.mark.parametrize("mode", MODES)
def test_solve_sylvester_of_complex_matrices(mode):
    a, b, q = crandom(3, 3) + 2 * np.eye(3), crandom(2, 2) - 2 * np.eye(2), crandom(3, 2)
    check_gradient(sylvester, (a, b, q), mode, wrt=(0, 1, 2))
    # (real a and b with real eigenvalues, a complex q: SciPy solves it right, and so does
    # the gradient, where a real matrix with complex eigenvalues would be misread by it)
    real_a = np.triu(RNG.standard_normal((3, 3))) + 3 * np.eye(3)
    rotation_b = np.array([[2.0, 1.0], [-1.0, 2.0]])
    check_gradient(sylvester, (real_a, rotation_b + 0j, q), mode, wrt=(0, 2))


@needs_scipy
def test_solve_sylvester_tangent_and_vjp():
    a, b, q = crandom(3, 3) + 2 * np.eye(3), crandom(2, 2) - 2 * np.eye(2), crandom(3, 2)
    check_tangent(sylvester, (a, b, q), (crandom(3, 3), crandom(2, 2), crandom(3, 2)))
    check_vjp(scipy_linalg.solve_sylvester, (a, b, q), crandom(3, 2))


@needs_scipy
def test_solve_sylvester_refuses_what_scipy_solves_wrongly():
    # SciPy's solver misreads the real Schur form of a real matrix with complex
    # eigenvalues when q is complex: its result solves no equation to differentiate
    a = np.array([[1.0, -2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 3.0]])
    b = np.array([[2.0, 1.0], [-1.0, 2.0]])
    with pytest.raises(NotImplementedError, match="does not solve"):
        ag.grad(sylvester, wrt=2)(a, b, crandom(3, 2))


# -- what stays refused ---------------------------------------------------------------------------


@needs_scipy
@pytest.mark.parametrize("mode", MODES)
def test_multivariate_normal_says_why_it_refuses_complex_values(mode):
    def log_density(x):
        return np.sum(scipy_stats.multivariate_normal.logpdf(x, np.zeros(2), np.eye(2)))

    with pytest.warns(np.exceptions.ComplexWarning):  # (SciPy's own cast, in the call)
        with pytest.raises(ComplexGradientError, match="SciPy casts complex values to real"):
            ag.grad(log_density, mode=mode)(crandom(3, 2))


# -- second derivatives ------------------------------------------------------------------------


def real_in_complex_middle(x):
    return np.real(np.sum(np.exp(1j * x) ** 2 * W[:3, :3])) + np.real(
        np.sum(np.linalg.eigvals(x) ** 2 * W[0, :3])
    )


@pytest.mark.parametrize("mode", MODES)
def test_hvp_of_a_real_argument_through_complex_values_is_real(mode):
    # (the generated hvp gave the real part plus an imaginary one that means nothing)
    x, t = REAL_ROTATING, RNG.standard_normal((3, 3))
    got = ag.hvp(real_in_complex_middle, (x,), (t,), mode=mode)
    eps = 1e-5
    moved = [ag.grad(real_in_complex_middle, mode="tape")(x + s * t) for s in (eps, -eps)]
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, (moved[0] - moved[1]) / (2 * eps), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", MODES)
def test_hvp_through_complex_eig_corrcoef_and_scipy(mode):
    def loss(a, b):
        total = eigen_everything(a) + correlations(a[:2], b[:, 0])
        if scipy_linalg is not None:
            total = total + sylvester(a, b[:2, :2] - 2 * np.eye(2), b)
            total = total + cholesky_solves(a @ np.conj(a.T) + np.eye(3), b)
        return total

    a, b = crandom(3, 3) + 2 * np.eye(3), crandom(3, 2)
    ta, tb = crandom(3, 3), crandom(3, 2)
    got = ag.hvp(loss, (a, b), (ta, tb), mode=mode)
    eps = 1e-5
    moved = [ag.grad(loss, wrt=(0, 1), mode="tape")(a + s * ta, b + s * tb) for s in (eps, -eps)]
    for g, up, down in zip(got, moved[0], moved[1]):
        np.testing.assert_allclose(g, (up - down) / (2 * eps), rtol=1e-5, atol=1e-5)


@needs_scipy
@pytest.mark.parametrize("mode", MODES)
def test_hvp_of_a_loss_linear_in_cho_solve(mode):
    # (b's cotangent does not move: the tape's second pass met the factor, a tensor, only
    # inside cho_solve's (c, lower) tuple, and SciPy dropped its gradient)
    def linear_in_x(a, b):
        return np.sum(scipy_linalg.cho_solve(scipy_linalg.cho_factor(a), b) * W[:3, :2].real)

    m = RNG.standard_normal((3, 3))
    a, b = m @ m.T + 3 * np.eye(3), RNG.standard_normal((3, 2))
    ta, tb = RNG.standard_normal((3, 3)), RNG.standard_normal((3, 2))
    got = ag.hvp(linear_in_x, (a, b), (ta, tb), mode=mode)
    eps = 1e-5
    grad = ag.grad(linear_in_x, wrt=(0, 1), mode="source")
    moved = [grad(a + s * ta, b + s * tb) for s in (eps, -eps)]
    for g, up, down in zip(got, moved[0], moved[1]):
        np.testing.assert_allclose(g, (up - down) / (2 * eps), rtol=1e-5, atol=1e-6)


def test_hvp_through_complex_singular_vectors_runs_on_the_tape():
    # (reverse over reverse: no tangent of the vectors; generated hvp, forward first,
    # refuses them as forward mode does)
    a, t = crandom(4, 3), crandom(4, 3)
    got = ag.hvp(singular_projectors, (a,), (t,), mode="tape")
    eps = 1e-5
    moved = [ag.grad(singular_projectors, mode="tape")(a + s * t) for s in (eps, -eps)]
    np.testing.assert_allclose(got, (moved[0] - moved[1]) / (2 * eps), rtol=1e-5, atol=1e-6)
    with pytest.raises(NotImplementedError, match="mode='tape'"):
        ag.hvp(singular_projectors, (a,), (t,), mode="source")


@needs_scipy
@pytest.mark.parametrize("mode", MODES)
def test_sqrtm_of_a_real_matrix_beside_complex_values(mode):
    # (its real root has complex eigenvalues: SciPy's Sylvester solver misread it beside
    # the complex cotangent, and the gradient was wrong; the rule now takes its real part)
    a = np.array([[1.0, -0.8, 0.1], [0.9, 1.2, 0.0], [0.2, 0.1, 2.0]])

    def weighted_root(a):
        return np.real(np.sum(scipy_linalg.sqrtm(a) * W[:3, :3]))

    check_gradient(weighted_root, (a,), mode)

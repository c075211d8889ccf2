"""Second derivatives through the linear-algebra helpers of generated gradient code (issue
16): each function here makes its generated gradient call one of them (``inner_grad_left``
for ``np.inner``, ``solve_adjoint`` for ``np.linalg.solve``...), and its Hessian,
Hessian-vector products and the gradient of a function that calls its gradient are checked
in every mode against central differences of the source-mode gradient, in float64.
"""

from __future__ import annotations

import numpy as np
import pytest
from astgrad.runtime.rules.helper_rules_linalg import (
    cho_dense_c_tangent,
    cho_dense_parts_tangent,
    cho_dense_tangent,
    cho_factor_dense,
    cho_factor_parts_cotangents,
    cho_factor_rule,
    cholesky_grad_factor_cotangent,
    cholesky_grad_factor_tangent,
    einsum_grad_with,
    factor_dense,
    factor_dense_low_tangent,
    factor_parts_cotangents,
    multi_dot_grads_moved,
    solves_dense_tangent,
    transposed_dense_tangent,
)
from astgrad.runtime.rules.linalg_complex import (
    hermitian_eigh_grad,
    hermitian_eigvalsh_grad,
    hermitian_qr_grad,
    singular_values_grad,
)
from astgrad.runtime.rules.linalg_helpers import norm_grad, solve_grad_a
from astgrad.runtime.rules.linalg_more import (
    eig_grad,
    matrix_power_grad,
    polyfit_grad,
    polyval_coefficients_grad,
)

import astgrad as ag

EPS = 1e-6
MODES = ("source", "auto", "tape")


def _bend(y):
    return np.sum(np.sin(y) * y)


# -- products ---------------------------------------------------------------------------------


def through_inner(x):
    m = x.reshape(2, 3)
    return _bend(np.inner(np.sin(m), m))


def through_inner_vector(x):
    return _bend(np.inner(np.cos(x[:3]), x.reshape(2, 3)))


def through_tensordot(x):
    t = x.reshape(2, 3)
    return _bend(np.tensordot(np.tanh(t), t, axes=([0], [0])))


def through_tensordot_all(x):
    t = x.reshape(2, 3)
    return np.sin(np.tensordot(t * t, np.cos(t))) * np.sum(t)


def through_kron(x):
    return _bend(np.kron(x[:2], np.sin(x[2:])))


def through_kron_matrices(x):
    m = x.reshape(2, 3)
    return _bend(np.kron(m[:, :2], np.tanh(m)))


def through_cross(x):
    vectors = x.reshape(2, 3)
    return _bend(np.cross(np.sin(vectors), vectors[::-1]))


def through_cross_axes(x):
    vectors = x.reshape(3, 2)
    return _bend(np.cross(vectors, np.cos(vectors), axisa=0, axisb=0, axisc=0))


# -- solves, inverses, determinants ------------------------------------------------------------


def _matrix(x):
    """A well-conditioned 3 by 3 matrix that moves with x (9 elements)."""
    return x.reshape(3, 3) + 3.0 * np.eye(3)


def _spd(x):
    """A symmetric positive definite 3 by 3 matrix that moves with x (9 elements)."""
    m = x.reshape(3, 3)
    return m @ m.T + np.eye(3)


def through_solve(x):
    a = _matrix(x)
    return _bend(np.linalg.solve(a, np.sin(x[:3])))


def through_solve_matrix(x):
    a = _matrix(x)
    return _bend(np.linalg.solve(np.tanh(a), a[:, :2]))


def through_det(x):
    return np.sin(np.linalg.det(_matrix(x)))


def through_slogdet(x):
    sign, logdet = np.linalg.slogdet(_matrix(x))
    return sign * logdet**2


def through_cholesky_slogdet(x):
    k = _spd(x)
    low = np.linalg.cholesky(k)
    sign, logdet = np.linalg.slogdet(k)
    return logdet**2 + np.sum(np.sin(low))


def through_cholesky(x):
    return _bend(np.linalg.cholesky(_spd(x)))


def through_gp_likelihood(x):
    k = _spd(x)
    y = np.array([0.5, -1.0, 0.3])
    low = np.linalg.cholesky(k)
    alpha = np.linalg.solve(low.T, np.linalg.solve(low, y))
    return 0.5 * y @ alpha + np.sum(np.log(np.diag(low)))


# -- norms -------------------------------------------------------------------------------------


def through_norm(x):
    return np.sin(np.linalg.norm(x)) * np.linalg.norm(x)


def through_norm_rows(x):
    return _bend(np.linalg.norm(x.reshape(2, 3), axis=1))


def through_norm_3(x):
    return np.sin(np.linalg.norm(x, 3))


def through_norm_1_inf(x):
    return np.sin(np.linalg.norm(x, 1) * np.linalg.norm(x, np.inf))


def through_norm_columns_keepdims(x):
    return _bend(np.linalg.norm(x.reshape(2, 3), 2, 0, True))


def through_norm_fro(x):
    return np.cos(np.linalg.norm(x.reshape(2, 3), "fro"))


def through_norm_nuc(x):
    return np.sin(np.linalg.norm(x.reshape(2, 3), "nuc"))


def through_norm_matrix_2(x):
    return np.sin(np.linalg.norm(x.reshape(2, 3), 2) + np.linalg.norm(x.reshape(2, 3), -2))


def through_norm_matrix_1(x):
    m = x.reshape(2, 3)
    return np.sin(np.linalg.norm(m, 1) * np.linalg.norm(m, -np.inf))


# -- pseudo-inverses, tensor systems, polynomials ---------------------------------------------


def through_pinv(x):
    return _bend(np.linalg.pinv(x.reshape(2, 3)))


def through_pinv_hermitian(x):
    return _bend(np.linalg.pinv(_spd(x), hermitian=True))


def through_tensorsolve(x):
    a = (np.eye(6) + 0.1 * np.outer(x, x[::-1])).reshape(6, 2, 3)
    return _bend(np.linalg.tensorsolve(a, np.sin(x)))


def through_polyder(x):
    return _bend(np.polyder(x * x, 2))


def through_polyint(x):
    return _bend(np.polyint(np.sin(x), 2, x[:2] ** 2))


def through_polyint_listed(x):
    # (the constants as a list of the argument's elements: on the tape, tensors)
    return _bend(np.polyint(np.sin(x), 2, [x[0], x[1] ** 2]))


def through_polyadd(x):
    return _bend(np.polyadd(x[:2] * x[2:4], np.cos(x)))


def through_polyval(x):
    return _bend(np.polyval(np.sin(x[:4]), x[3:]))


def through_einsum(x):
    m = x.reshape(2, 3)
    return _bend(np.einsum("ij,kj->ik", np.sin(m), m))


def through_einsum_three(x):
    m = x.reshape(2, 3)
    return np.sin(np.einsum("i,ij,j->", m[:, 0], np.tanh(m), m[0]))


def through_einsum_diagonal(x):
    m = np.outer(x[:3], x[3:])
    return _bend(np.einsum("ii,i->i", np.sin(m), x[:3]))


def through_einsum_interleaved(x):
    m = x.reshape(2, 3)
    return _bend(np.einsum(m, [0, 1], np.cos(m), [2, 1], [0, 2]))


# -- decompositions ---------------------------------------------------------------------------


def through_eigvalsh(x):
    return _bend(np.linalg.eigvalsh(_spd(x)))


def through_eigvalsh_upper(x):
    return _bend(np.linalg.eigvalsh(x.reshape(3, 3), UPLO="U"))


def through_eigh(x):
    w, v = np.linalg.eigh(_spd(x))
    return np.sum(np.sin(w)) + np.sum(v[:, 0] ** 2 * x[:3]) + np.sum(np.abs(v[0]) * w)


def through_qr(x):
    q, r = np.linalg.qr(x.reshape(3, 2))
    return _bend(q) + _bend(r)


def through_qr_wide(x):
    q, r = np.linalg.qr(x.reshape(2, 3))
    return _bend(q * q[0, 0]) + _bend(r)


def through_qr_r(x):
    return _bend(np.linalg.qr(x.reshape(3, 2), mode="r"))


def through_eig(x):
    w, v = np.linalg.eig(_matrix(x) + np.diag([0.0, 2.0, 4.0]))
    return np.sum(np.sin(np.real(w))) + np.sum(np.real(v) ** 2 * x[:3, None])


def through_eigvals_complex(x):
    rotation = np.array([[0.0, -2.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    w = np.linalg.eigvals(rotation + 0.3 * x.reshape(3, 3))
    return np.sum(np.abs(w) ** 2 * np.sin(np.real(w)))


def through_matrix_power(x):
    return _bend(np.linalg.matrix_power(0.5 * x.reshape(3, 3), 3))


def through_matrix_power_negative(x):
    return _bend(np.linalg.matrix_power(_matrix(x), -2))


def through_polyfit(x):
    points = np.linspace(-1.0, 1.0, 6)
    return _bend(np.polyfit(points + 0.1 * x, np.sin(x), 2))


def through_polyfit_weighted(x):
    points = np.linspace(-1.0, 1.0, 6)
    return _bend(np.polyfit(points, np.cos(x), 1, w=1.0 + x * x))


def through_svd(x):
    u, s, vh = np.linalg.svd(x.reshape(3, 2), full_matrices=False)
    return _bend(s) + np.sum((u[:, 0] * vh[0, 0]) ** 3)


def through_svd_values(x):
    return _bend(np.linalg.svd(x.reshape(2, 3), compute_uv=False))


def through_svd_full(x):
    u, s, vh = np.linalg.svd(x.reshape(3, 2))
    return _bend(s) + np.sum(u[:, 2] * u[0, 2] * x[:3])


def through_cond(x):
    return np.sin(np.linalg.cond(_matrix(x)))


def through_cond_fro(x):
    return np.sin(np.linalg.cond(_matrix(x), "fro") + np.linalg.cond(_matrix(x), 1))


def through_lstsq(x):
    a = x.reshape(3, 2)
    solution, residuals, rank, s = np.linalg.lstsq(a, np.array([1.0, -0.5, 0.3]))
    return _bend(solution) + np.sum(residuals) * np.sum(s)


def through_multi_dot(x):
    m = x.reshape(3, 3)
    return _bend(np.linalg.multi_dot([np.sin(m), m, m[:, 0]]))


def through_multi_dot_vectors(x):
    m = x.reshape(3, 3)
    return np.sin(np.linalg.multi_dot([m[0], np.tanh(m), m.T, m[:, 1]]))


#: name -> (function, the size of its one argument)
TABLE = {
    "inner": (through_inner, 6),
    "inner_vector": (through_inner_vector, 6),
    "tensordot": (through_tensordot, 6),
    "tensordot_all": (through_tensordot_all, 6),
    "kron": (through_kron, 5),
    "kron_matrices": (through_kron_matrices, 6),
    "cross": (through_cross, 6),
    "cross_axes": (through_cross_axes, 6),
    "solve": (through_solve, 9),
    "solve_matrix": (through_solve_matrix, 9),
    "det": (through_det, 9),
    "slogdet": (through_slogdet, 9),
    "cholesky_slogdet": (through_cholesky_slogdet, 9),
    "cholesky": (through_cholesky, 9),
    "gp_likelihood": (through_gp_likelihood, 9),
    "einsum": (through_einsum, 6),
    "einsum_three": (through_einsum_three, 6),
    "einsum_diagonal": (through_einsum_diagonal, 6),
    "einsum_interleaved": (through_einsum_interleaved, 6),
    "eigvalsh": (through_eigvalsh, 9),
    "eigvalsh_upper": (through_eigvalsh_upper, 9),
    "eigh": (through_eigh, 9),
    "qr": (through_qr, 6),
    "qr_wide": (through_qr_wide, 6),
    "qr_r": (through_qr_r, 6),
    "eig": (through_eig, 9),
    "eigvals_complex": (through_eigvals_complex, 9),
    "matrix_power": (through_matrix_power, 9),
    "matrix_power_negative": (through_matrix_power_negative, 9),
    "polyfit": (through_polyfit, 6),
    "polyfit_weighted": (through_polyfit_weighted, 6),
    "svd": (through_svd, 6),
    "svd_values": (through_svd_values, 6),
    "svd_full": (through_svd_full, 6),
    "cond": (through_cond, 9),
    "cond_fro": (through_cond_fro, 9),
    "lstsq": (through_lstsq, 6),
    "multi_dot": (through_multi_dot, 9),
    "multi_dot_vectors": (through_multi_dot_vectors, 9),
    "pinv": (through_pinv, 6),
    "pinv_hermitian": (through_pinv_hermitian, 9),
    "tensorsolve": (through_tensorsolve, 6),
    "polyder": (through_polyder, 5),
    "polyint": (through_polyint, 4),
    "polyint_listed": (through_polyint_listed, 4),
    "polyadd": (through_polyadd, 5),
    "polyval": (through_polyval, 6),
    "norm": (through_norm, 6),
    "norm_rows": (through_norm_rows, 6),
    "norm_3": (through_norm_3, 6),
    "norm_1_inf": (through_norm_1_inf, 6),
    "norm_columns_keepdims": (through_norm_columns_keepdims, 6),
    "norm_fro": (through_norm_fro, 6),
    "norm_nuc": (through_norm_nuc, 6),
    "norm_matrix_2": (through_norm_matrix_2, 6),
    "norm_matrix_1": (through_norm_matrix_1, 6),
}

#: the helper each function's generated gradient calls
HELPERS = {
    "inner": "inner_grad_left",
    "inner_vector": "inner_grad_right",
    "tensordot": "tensordot_grad_left",
    "tensordot_all": "tensordot_grad_right",
    "kron": "kron_grad_left",
    "kron_matrices": "kron_grad_right",
    "cross": "cross_grad",
    "cross_axes": "cross_grad",
    "solve": "solve_grad_a",
    "solve_matrix": "solve_adjoint",
    "det": "batched_scalar",
    "slogdet": "inverse",
    "cholesky_slogdet": "cholesky_inverse",
    "cholesky": "hermitian_cholesky_grad",
    "gp_likelihood": "cholesky_factor_grad",
    "einsum": "einsum_grad",
    "einsum_three": "einsum_grad",
    "einsum_diagonal": "einsum_grad",
    "einsum_interleaved": "einsum_grad",
    "eigvalsh": "hermitian_eigvalsh_grad",
    "eigvalsh_upper": "hermitian_eigvalsh_grad",
    "eigh": "hermitian_eigh_grad",
    "qr": "hermitian_qr_grad",
    "qr_wide": "hermitian_qr_grad",
    "qr_r": "hermitian_qr_grad",
    "eig": "eig_grad",
    "eigvals_complex": "eig_grad",
    "matrix_power": "matrix_power_grad",
    "matrix_power_negative": "matrix_power_grad",
    "polyfit": "polyfit_grad",
    "polyfit_weighted": "polyfit_grad",
    "svd": "singular_values_grad",
    "svd_values": "singular_values_grad",
    "svd_full": "singular_values_grad",
    "cond": "cond_grad",
    "cond_fro": "cond_grad",
    "lstsq": "lstsq_grad",
    "multi_dot": "multi_dot_grads",
    "multi_dot_vectors": "multi_dot_grads",
    "pinv": "pinv_to_operand",
    "pinv_hermitian": "pinv_to_operand",
    "tensorsolve": "tensor_system_back",
    "polyder": "poly_scaled_grad",
    "polyint": "polyint_constants_grad",
    "polyint_listed": "polyint_constants_grad",
    "polyadd": "poly_tail_grad",
    "polyval": "polyval_coefficients_grad",
    "norm": "norm_grad",
    "norm_rows": "norm_grad",
    "norm_3": "norm_grad",
    "norm_1_inf": "norm_grad",
    "norm_columns_keepdims": "norm_grad",
    "norm_fro": "norm_grad",
    "norm_nuc": "norm_grad",
    "norm_matrix_2": "norm_grad",
    "norm_matrix_1": "norm_grad",
}


def _point(name):
    function, size = TABLE[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    return function, rng.uniform(-0.9, 0.9, size), rng


def _gradient_differences(function, x):
    """The Hessian by central differences of the source-mode gradient, one column per
    element of x."""
    gradient = ag.grad(function, mode="source")
    columns = []
    for e in np.eye(np.size(x)):
        columns.append((gradient(x + EPS * e) - gradient(x - EPS * e)) / (2 * EPS))
    return np.stack(columns, axis=-1)


@pytest.mark.parametrize("name", sorted(TABLE))
def test_the_generated_gradient_calls_the_helper(name):
    function, x, _ = _point(name)
    assert HELPERS[name] + "(" in ag.source(function, x)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(TABLE))
def test_hessian_matches_differences_of_the_gradient(name, mode):
    function, x, _ = _point(name)
    expected = _gradient_differences(function, x)
    got = ag.hessian(function, mode=mode)(x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(TABLE))
def test_hvp_matches_differences_of_the_gradient(name, mode):
    function, x, rng = _point(name)
    v = rng.standard_normal(np.size(x))
    gradient = ag.grad(function, mode="source")
    expected = (gradient(x + EPS * v) - gradient(x - EPS * v)) / (2 * EPS)
    got = ag.hvp(function, (x,), (v,), mode=mode)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", sorted(TABLE))
def test_the_batched_hessian_where_it_runs(name):
    """ag.hessian's batched forward mode over the generated gradient (one run for every
    direction), where it takes the helpers the gradient calls: equal to differences of
    the gradient. (Where it does not, ag.hessian takes one direction at a time, which the
    tests above check.)"""
    from astgrad import higher

    function, x, _ = _point(name)
    found = higher._batched_hessian(function, (x,), [0], ("x",))
    if found is None:
        pytest.skip("the batched Hessian does not take this gradient's helpers (yet)")
    expected = _gradient_differences(function, x)
    np.testing.assert_allclose(found[0][0], expected, rtol=1e-5, atol=1e-7)


def _slope(first, direction):
    """``x -> <first(x), direction>``: a function that calls a gradient, whose own gradient
    is the Hessian times ``direction`` (the generated gradient code is transformed again)."""

    def slope(x):
        return np.sum(first(x) * direction)

    return slope


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(TABLE))
def test_grad_of_grad_matches_differences_of_the_gradient(name, mode):
    function, x, rng = _point(name)
    direction = rng.standard_normal(np.size(x))
    expected = _gradient_differences(function, x) @ direction
    got = ag.grad(_slope(ag.grad(function, mode=mode), direction), mode=mode)(x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


# -- helpers marked transformable: reverse mode differentiates their source ---------------------


def via_norm_grad_rows_3(x, g):
    return np.sum(np.sin(norm_grad(g, np.linalg.norm(x, 3, 1), x, 3, 1)))


def via_norm_grad_flat(x, g):
    return np.sum(np.sin(norm_grad(g, np.linalg.norm(x), x)))


def via_norm_grad_inf(x, g):
    return np.sum(np.sin(norm_grad(g, np.linalg.norm(x, np.inf, 0, True), x, np.inf, 0, True)))


def via_norm_grad_nuc(x, g):
    return np.sum(np.sin(norm_grad(g, np.linalg.norm(x, "nuc"), x, "nuc")))


def via_norm_grad_matrix_1(x, g):
    return np.sum(np.sin(norm_grad(g, np.linalg.norm(x, 1), x, 1)))


def via_solve_grad_a(x, g):
    return np.sum(np.sin(solve_grad_a(g, x[0], np.eye(3), np.ones(3))))


def via_solve_grad_a_matrices(x, g):
    return np.sum(np.sin(solve_grad_a(g, x, np.eye(2), np.ones((2, 3)))))


def via_polyval_coefficients_grad(x, g):
    return np.sum(np.sin(polyval_coefficients_grad(g, np.ones(3), x)))


def via_einsum_grad_with(x, g):
    # the gradient of "ij,jk->ik"'s second operand, with x in the first's place
    return np.sum(
        np.sin(einsum_grad_with(g, x, 1, 2, "ij,jk->ik", np.ones((2, 3)), np.ones((3, 4))))
    )


def via_cholesky_grad_factor_cotangent(x, g):
    low = np.tril(x) + 2.0 * np.eye(3)
    return np.sum(np.sin(cholesky_grad_factor_cotangent(g, g.T, low)))


def via_cholesky_grad_factor_tangent(x, g):
    low = np.tril(x) + 2.0 * np.eye(3)
    return np.sum(np.sin(cholesky_grad_factor_tangent(g, low, x, True)))


def via_eigvalsh_grad(x, g):
    return np.sum(np.sin(hermitian_eigvalsh_grad(g, x @ x.T, "U")))


def via_eigh_grad(x, g):
    a = x @ x.T
    w, v = np.linalg.eigh(a)
    return np.sum(np.sin(hermitian_eigh_grad((g, x), (w, v), a)))


def via_qr_grad(x, g):
    q, r = np.linalg.qr(x)
    return np.sum(np.sin(hermitian_qr_grad((g, g[:2, :2]), (q, r), x)))


def via_eig_grad(x, g):
    a = x + np.diag([0.0, 2.0, 4.0])
    w, v = np.linalg.eig(a)
    return np.sum(np.sin(eig_grad((g, np.ones((3, 3))), (w, v))))


def via_matrix_power_grad(x, g):
    return np.sum(np.sin(matrix_power_grad(g, x, 3) + matrix_power_grad(g, x + 3 * np.eye(3), -2)))


def via_polyfit_grad(x, g):
    points = np.linspace(-1.0, 1.0, 6)
    fit = np.polyfit(points, x, 2)
    return np.sum(np.sin(polyfit_grad(g, fit, points, x, 2, None, "y")))


def via_singular_values_grad(x, g):
    u, s, vh = np.linalg.svd(x, full_matrices=False)
    return np.sum(np.sin(singular_values_grad((g, g[:2], g[:2, :2]), (u, s, vh), x)))


def via_singular_values_grad_values_only(x, g):
    u, s, vh = np.linalg.svd(x, full_matrices=False)
    return np.sum(np.sin(singular_values_grad((0 * g, g[:2], 0 * g[:2, :2]), (u, s, vh), x)))


def via_multi_dot_grads_moved(x, g):
    arrays = [x[0], np.cos(x), x[:, 1]]
    moved = [x[1], x * x, np.sin(x[:, 2])]
    grads = multi_dot_grads_moved(g, moved, arrays)
    return np.sum(np.sin(grads[0])) + np.sum(grads[1] ** 2) + np.sum(grads[2])


def via_factor_rules(x, g):
    # the helpers of cholesky_factor_grad's vjp: the dense sum and the parts' cotangents
    low = np.tril(x) + 2.0 * np.eye(3)
    parts = ((g,), ((g, x[0], x[1]),), ((x[2], g, x[0]),), ((g, x[1]),))
    dense = factor_dense(low, *parts)
    grads = factor_parts_cotangents(np.sin(dense), low, *parts)
    return (
        np.sum(grads[0] ** 2)
        + np.sum(grads[1][0] * grads[2][0][0])
        + np.sum(grads[3][0][1] * grads[4][0][0])
    )


def via_factor_tangents(x, g):
    # the helpers of cholesky_factor_grad's jvp: D's tangents in the factor and the parts
    low = np.tril(x) + 2.0 * np.eye(3)
    solves, cho = ((g, x[0], x[1]),), ((g, x[1]),)
    moved = factor_dense_low_tangent(np.tril(x * x), low, solves, cho)
    moved = moved + solves_dense_tangent(((x[2], g, x[0]),), low, solves)
    moved = moved + transposed_dense_tangent(((x[2], g),), low, ((g, x[0], x[1]),))
    return np.sum(np.sin(moved + cho_dense_tangent(((x[0], g),), low, cho)))


def _cho_factor_rules(x, g, lower):
    c = np.tril(x) + 2.0 * np.eye(3) + np.triu(x, 1) * 0.5
    parts = ((g,), ((g, x[1]),))
    dense = cho_factor_dense(c, lower, *parts)
    grads = cho_factor_parts_cotangents(np.sin(dense), c, lower, *parts)
    moved = cho_dense_c_tangent(x * x, c, lower, parts[1])
    moved = moved + cho_dense_parts_tangent(((x[0], g),), c, lower, parts[1])
    total = np.sum(grads[0] ** 2) + np.sum(grads[1][0] * grads[2][0][1])
    # (a, read for its dtype only, a constant: where it moves, the caller gets the int 0
    # a callee's unused adjoint starts as, and matmul_grad_left of c @ c.T refuses it, a
    # fault of the transform's, not of these helpers)
    return total + np.sum(np.cos(cho_factor_rule(moved + dense, c, lower, np.eye(3))))


def via_cho_factor_rules(x, g):
    # the helpers of cho_factor_grad's vjp and jvp, for both triangles
    return _cho_factor_rules(x, g, True) + _cho_factor_rules(x, g, False)


TRANSFORMABLE = {
    "cho_factor_rules": (via_cho_factor_rules, (3, 3), (3,)),
    "factor_rules": (via_factor_rules, (3, 3), (3,)),
    "factor_tangents": (via_factor_tangents, (3, 3), (3,)),
    "multi_dot_grads_moved": (via_multi_dot_grads_moved, (3, 3), ()),
    "singular_values_grad": (via_singular_values_grad, (3, 2), (3, 2)),
    "singular_values_grad_values_only": (via_singular_values_grad_values_only, (3, 2), (3, 2)),
    "eig_grad": (via_eig_grad, (3, 3), (3,)),
    "matrix_power_grad": (via_matrix_power_grad, (3, 3), (3, 3)),
    "polyfit_grad": (via_polyfit_grad, (6,), (3,)),
    "qr_grad": (via_qr_grad, (3, 2), (3, 2)),
    "eigvalsh_grad": (via_eigvalsh_grad, (3, 3), (3,)),
    "eigh_grad": (via_eigh_grad, (3, 3), (3,)),
    "einsum_grad_with": (via_einsum_grad_with, (2, 3), (2, 4)),
    "cholesky_grad_factor_cotangent": (via_cholesky_grad_factor_cotangent, (3, 3), (3, 3)),
    "cholesky_grad_factor_tangent": (via_cholesky_grad_factor_tangent, (3, 3), (3, 3)),
    "polyval_coefficients_grad": (via_polyval_coefficients_grad, (4,), (4,)),
    "norm_grad_rows_3": (via_norm_grad_rows_3, (2, 3), (2,)),
    "norm_grad_flat": (via_norm_grad_flat, (2, 3), ()),
    "norm_grad_inf": (via_norm_grad_inf, (2, 3), (1, 3)),
    "norm_grad_nuc": (via_norm_grad_nuc, (2, 3), ()),
    "norm_grad_matrix_1": (via_norm_grad_matrix_1, (2, 3), ()),
    "solve_grad_a": (via_solve_grad_a, (2, 3), (3,)),
    "solve_grad_a_matrices": (via_solve_grad_a_matrices, (2, 3), (2, 3)),
}


@pytest.mark.parametrize("name", sorted(TRANSFORMABLE))
def test_reverse_mode_differentiates_a_transformable_helper(name):
    function, x_shape, g_shape = TRANSFORMABLE[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    x, g = rng.uniform(-1.0, 1.0, x_shape), rng.standard_normal(g_shape)
    got = ag.grad(function, wrt=(0, 1), mode="source")(x, g)
    for k, value in enumerate((x, g)):
        expected = np.zeros(np.shape(value))
        for i in np.ndindex(np.shape(value)):
            step = np.zeros(np.shape(value))
            step[i] = EPS
            moved = [x, g]
            moved[k] = value + step
            up = function(*moved)
            moved[k] = value - step
            expected[i] = (up - function(*moved)) / (2 * EPS)
        np.testing.assert_allclose(got[k], expected, rtol=1e-6, atol=1e-8)


#: transformable helpers whose forward mode (ag.jvp, mode="source") transform/tangents.py
#: refuses (none now: a tangent at an argument a rule reads for its shape or dtype only,
#: or whose gradient the vjp rule declares None, is left out; a raise statement, which
#: ends the computation, is kept as it is)
FORWARD_REFUSED: set[str] = set()


def _forward_cases():
    for name in sorted(TRANSFORMABLE):
        marks = []
        if name in FORWARD_REFUSED:
            marks = [pytest.mark.xfail(raises=ag.TransformError, strict=True)]
        yield pytest.param(name, marks=marks)


@pytest.mark.parametrize("name", list(_forward_cases()))
def test_forward_mode_differentiates_a_transformable_helper(name):
    function, x_shape, g_shape = TRANSFORMABLE[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    x, g = rng.uniform(-1.0, 1.0, x_shape), rng.standard_normal(g_shape)
    dx, dg = rng.standard_normal(x_shape), rng.standard_normal(g_shape)
    _, got = ag.jvp(function, (x, g), (dx, dg), mode="source")
    up, down = function(x + EPS * dx, g + EPS * dg), function(x - EPS * dx, g - EPS * dg)
    np.testing.assert_allclose(got, (up - down) / (2 * EPS), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("upper", [False, True])
def test_the_cholesky_gradients_derivative_is_right_for_complex_factors(upper):
    """hermitian_cholesky_grad's rules for a complex (Hermitian) factor, at a triangular
    one: the vjp's gradients and the forward rule's tangent against differences of
    Re(sum(h * G)) along complex directions (the convention: dL = Re(sum(grad * d)))."""
    from astgrad.runtime.rules import lookup
    from astgrad.runtime.rules.forward import tangent_of
    from astgrad.runtime.rules.linalg_complex import hermitian_cholesky_grad

    rng = np.random.default_rng(11)

    def crandom(*shape):
        return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)

    b = crandom(3, 3)
    a = b @ np.conjugate(b.T) + 3 * np.eye(3)
    low = np.linalg.cholesky(a, upper=upper)
    triangle = np.triu if upper else np.tril
    g, h = crandom(3, 3), crandom(3, 3)
    dg, dlow = crandom(3, 3), triangle(crandom(3, 3))
    rule = lookup(hermitian_cholesky_grad)
    ans = hermitian_cholesky_grad(g, low, a, upper)

    def paired(step):
        moved = hermitian_cholesky_grad(g + step * dg, low + step * dlow, a, upper)
        return np.real(np.sum(h * moved))

    expected = (paired(EPS) - paired(-EPS)) / (2 * EPS)
    grad_g, grad_low, *_ = rule.vjp(h, ans, g, low, a, upper)
    got = np.real(np.sum(grad_g * dg) + np.sum(grad_low * dlow))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)
    tangent = tangent_of(rule, ans, (g, low, a, upper), {}, {0: dg, 1: dlow})
    moved = hermitian_cholesky_grad(g + EPS * dg, low + EPS * dlow, a, upper)
    back = hermitian_cholesky_grad(g - EPS * dg, low - EPS * dlow, a, upper)
    np.testing.assert_allclose(tangent, (moved - back) / (2 * EPS), rtol=1e-6, atol=1e-8)


# -- cholesky_factor_grad: its arguments are nested tuples, which the table's cases do not
# take (they find differentiable arrays one level deep); checked here directly --------------


def _factor_arguments(rng):
    """A call of cholesky_factor_grad as transform/factor.py writes it: the factor, the
    matrix, and each kind of part (a solve with a vector and one with a matrix), each
    solution the solve's (x = solve(L, b), x = solve(L^T, b), x = cho_solve(L, b) with
    gb = cho_solve(L, gx)), which the helper's closed form relies on."""
    m = rng.uniform(-1.0, 1.0, (4, 4))
    a = m @ m.T + 4.0 * np.eye(4)
    low = np.linalg.cholesky(a)

    def solve(matrix, b):
        return np.linalg.solve(matrix, b)

    def solved(b):
        return solve(low.T, solve(low, b))

    b1, b2, b3 = rng.standard_normal(4), rng.standard_normal((4, 2)), rng.standard_normal(4)
    c1, c2 = rng.standard_normal(4), rng.standard_normal((4, 3))
    return (
        low,
        a,
        (rng.standard_normal(4),),
        (
            (rng.standard_normal(4), solve(low, b1), b1),
            (rng.standard_normal((4, 2)), solve(low, b2), b2),
        ),
        ((rng.standard_normal(4), solve(low.T, b3), b3),),
        (
            (solved(rng.standard_normal(4)), solved(c1)),
            (solved(rng.standard_normal((4, 3))), solved(c2)),
        ),
    )


def _generic(low, a, diagonals, solves, transposed_solves, cho_solves):
    """What cholesky_factor_grad computes, as the rules have it: the Cholesky rule of the
    parts' dense sum, a function of every part (the closed form equals it where each
    solution is its solve's, and reads some of them through the others there)."""
    from astgrad.runtime.rules.helper_rules_linalg import factor_dense
    from astgrad.runtime.rules.linalg_complex import hermitian_cholesky_grad

    dense = factor_dense(low, diagonals, solves, transposed_solves, cho_solves)
    return hermitian_cholesky_grad(dense, low, a)


def test_cholesky_factor_grad_is_the_rule_of_its_parts_sum():
    from astgrad.runtime.rules.linalg_helpers import cholesky_factor_grad

    args = _factor_arguments(np.random.default_rng(30))
    np.testing.assert_allclose(cholesky_factor_grad(*args), _generic(*args), rtol=1e-10, atol=1e-12)


def _leaves(value, path=()):
    """(path, array) of every array in nested tuples."""
    if isinstance(value, (tuple, list)):
        for i, item in enumerate(value):
            yield from _leaves(item, (*path, i))
    else:
        yield path, value


def _replaced(value, path, new):
    if not path:
        return new
    items = list(value)
    items[path[0]] = _replaced(items[path[0]], path[1:], new)
    return tuple(items)


def _at(value, path):
    for i in path:
        value = value[i]
    return value


def _factor_paths(args):
    """The differentiable leaves: the factor's lower triangle (its other is zero by
    construction) and every part but the right-hand sides b, which say only whether a
    solve is of a vector or a matrix."""
    paths = [(0,)]
    for k in (2, 3, 4, 5):
        for path, _ in _leaves(args[k], (k,)):
            if k in (3, 4) and path[-1] == 2:
                continue
            paths.append(path)
    return paths


def test_cholesky_factor_grads_vjp_matches_differences():
    from astgrad.runtime.rules import lookup
    from astgrad.runtime.rules.linalg_helpers import cholesky_factor_grad

    rng = np.random.default_rng(31)
    args = _factor_arguments(rng)
    ans = cholesky_factor_grad(*args)
    h = rng.standard_normal(ans.shape)
    grads = lookup(cholesky_factor_grad).vjp(h, ans, *args)
    assert grads[1] is None
    for path in _factor_paths(args):
        value = _at(args, path)
        expected = np.zeros(value.shape)
        for i in np.ndindex(value.shape):
            if path == (0,) and i[1] > i[0]:
                continue
            step = np.zeros(value.shape)
            step[i] = EPS
            up = _generic(*_replaced(args, path, value + step))
            down = _generic(*_replaced(args, path, value - step))
            expected[i] = np.sum((up - down) * h) / (2 * EPS)
        got = _at(grads, path)
        if path == (0,):
            got = np.tril(got)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7, err_msg=str(path))


def test_cholesky_factor_grads_jvp_matches_differences():
    from astgrad.runtime.rules import lookup
    from astgrad.runtime.rules.linalg_helpers import cholesky_factor_grad

    rng = np.random.default_rng(32)
    args = _factor_arguments(rng)
    paths = _factor_paths(args)
    direction = args
    for path, value in _leaves(args):
        d = rng.standard_normal(value.shape) if path in paths else np.zeros_like(value)
        direction = _replaced(direction, path, np.tril(d) if path == (0,) else d)
    ans = cholesky_factor_grad(*args)
    low, a, *parts = args
    dlow, _, *dparts = direction
    names = ("ddiagonals", "dsolves", "dtransposed_solves", "dcho_solves")
    contributions = lookup(cholesky_factor_grad).jvp(
        ans, low, a, *parts, dlow=dlow, **dict(zip(names, dparts))
    )
    got = sum(c for c in contributions if c is not None)

    def shifted(step):
        moved = args
        for path, value in _leaves(args):
            moved = _replaced(moved, path, value + step * _at(direction, path))
        return _generic(*moved)

    expected = (shifted(EPS) - shifted(-EPS)) / (2 * EPS)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


def _cho_factor_arguments(rng, lower):
    """A call of cho_factor_grad as transform/factor.py writes it: cho_factor's (c, lower),
    the matrix, diagonals, and cho_solves (gb, x) with x = cho_solve(factor, b) and
    gb = cho_solve(factor, gx)."""
    import scipy.linalg

    m = rng.uniform(-1.0, 1.0, (4, 4))
    a = m @ m.T + 4.0 * np.eye(4)
    factor = scipy.linalg.cho_factor(a, lower=lower)

    def solved(b):
        return scipy.linalg.cho_solve(factor, b)

    return (
        factor,
        a,
        (rng.standard_normal(4),),
        (
            (solved(rng.standard_normal(4)), solved(rng.standard_normal(4))),
            (solved(rng.standard_normal((4, 2))), solved(rng.standard_normal((4, 2)))),
        ),
    )


def _cho_generic(factor, a, diagonals, cho_solves):
    """What cho_factor_grad computes, as the rules have it (see _generic)."""
    from astgrad.runtime.rules.helper_rules_linalg import cho_factor_dense, cho_factor_rule

    dense = cho_factor_dense(factor[0], factor[1], diagonals, cho_solves)
    return cho_factor_rule(dense, factor[0], factor[1], a)


def _cho_paths(args):
    """The differentiable leaves: cho_factor's c (both triangles: the other holds the
    input's entries, which the result does not read) and every part."""
    return [(0, 0)] + [path for k in (2, 3) for path, _ in _leaves(args[k], (k,))]


@pytest.mark.parametrize("lower", [True, False])
def test_cho_factor_grad_is_the_rule_of_its_parts_sum(lower):
    pytest.importorskip("scipy")
    from astgrad.runtime.rules.linalg_helpers import cho_factor_grad

    args = _cho_factor_arguments(np.random.default_rng(40), lower)
    np.testing.assert_allclose(cho_factor_grad(*args), _cho_generic(*args), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("lower", [True, False])
def test_cho_factor_grads_vjp_matches_differences(lower):
    pytest.importorskip("scipy")
    from astgrad.runtime.rules import lookup
    from astgrad.runtime.rules.linalg_helpers import cho_factor_grad

    rng = np.random.default_rng(41)
    args = _cho_factor_arguments(rng, lower)
    ans = cho_factor_grad(*args)
    h = rng.standard_normal(ans.shape)
    grads = lookup(cho_factor_grad).vjp(h, ans, *args)
    assert grads[1] is None
    for path in _cho_paths(args):
        value = _at(args, path)
        expected = np.zeros(value.shape)
        for i in np.ndindex(value.shape):
            step = np.zeros(value.shape)
            step[i] = EPS
            up = _cho_generic(*_replaced(args, path, value + step))
            down = _cho_generic(*_replaced(args, path, value - step))
            expected[i] = np.sum((up - down) * h) / (2 * EPS)
        got = _at(grads, path)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7, err_msg=str(path))


@pytest.mark.parametrize("lower", [True, False])
def test_cho_factor_grads_jvp_matches_differences(lower):
    pytest.importorskip("scipy")
    from astgrad.runtime.rules import lookup
    from astgrad.runtime.rules.linalg_helpers import cho_factor_grad

    rng = np.random.default_rng(42)
    args = _cho_factor_arguments(rng, lower)
    direction = args
    for path in _cho_paths(args):
        direction = _replaced(direction, path, rng.standard_normal(_at(args, path).shape))
    ans = cho_factor_grad(*args)
    factor, a, diagonals, cho_solves = args
    contributions = lookup(cho_factor_grad).jvp(
        ans,
        factor,
        a,
        diagonals,
        cho_solves,
        dfactor=direction[0],
        ddiagonals=direction[2],
        dcho_solves=direction[3],
    )
    got = sum(c for c in contributions if c is not None)

    def shifted(step):
        moved = args
        for path in _cho_paths(args):
            moved = _replaced(moved, path, _at(args, path) + step * _at(direction, path))
        return _cho_generic(*moved)

    expected = (shifted(EPS) - shifted(-EPS)) / (2 * EPS)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)

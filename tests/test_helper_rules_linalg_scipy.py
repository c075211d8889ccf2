"""Second derivatives through the helpers of SciPy's rules that generated gradient code
calls (issue 16), as tests/test_helper_rules_linalg.py checks NumPy's: each function makes
its generated gradient call one of them; its Hessian, Hessian-vector products and the
gradient of a function calling its gradient are checked in every mode against central
differences of the source-mode gradient."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("scipy")
import scipy.linalg  # noqa: E402
import scipy.stats  # noqa: E402
from astgrad.runtime.rules.scipy_rules import (  # noqa: E402
    block_diag_grad,
    cho_solve_factor_grad,
    dirichlet_grad_alpha,
    dirichlet_grad_x,
    lu_factor_grad,
    lu_solve_factor_grad,
    mvn_entropy_grad,
    mvn_grad,
    read_matrix_grad,
)
from test_helper_rules_linalg import MODES, _bend, _gradient_differences, _slope, _spd  # noqa: E402

import astgrad as ag  # noqa: E402

EPS = 1e-6


def _matrix(x):
    return x.reshape(3, 3) + 3.0 * np.eye(3)


def through_solve_triangular(x):
    low = np.tril(_matrix(x))
    return _bend(scipy.linalg.solve_triangular(low, np.sin(x[:3]), lower=True, trans=1))


def through_solve_assume_pos(x):
    return _bend(scipy.linalg.solve(_spd(x), np.cos(x[:3]), assume_a="pos"))


def through_cho_solve(x):
    factor = scipy.linalg.cho_factor(_spd(x))
    return _bend(scipy.linalg.cho_solve(factor, np.sin(x[:3])))


def through_cho_factor_likelihood(x):
    factor = scipy.linalg.cho_factor(_spd(x))
    y = np.array([0.5, -1.0, 0.3])
    alpha = scipy.linalg.cho_solve(factor, y)
    return 0.5 * y @ alpha + np.sum(np.log(np.diag(factor[0])))


def through_lu_solve(x):
    lu_and_piv = scipy.linalg.lu_factor(_matrix(x))
    return _bend(scipy.linalg.lu_solve(lu_and_piv, np.sin(x[:3])))


def through_lu_factor(x):
    lu, piv = scipy.linalg.lu_factor(_matrix(x))
    return _bend(lu)


def through_block_diag(x):
    return _bend(scipy.linalg.block_diag(np.sin(x[:4]).reshape(2, 2), x[4:]) @ np.ones(4))


def through_dirichlet(x):
    point = np.array([0.2, 0.3, 0.5])
    return np.sin(scipy.stats.dirichlet.logpdf(point, 1.0 + x[:3] ** 2))


def through_dirichlet_x(x):
    point = np.exp(x[:3]) / np.sum(np.exp(x[:3]))
    return np.sin(scipy.stats.dirichlet.logpdf(point, np.array([1.5, 2.0, 3.0])))


def through_mvn(x):
    return np.sin(scipy.stats.multivariate_normal.logpdf(x[:3], np.cos(x[:3]), _spd(x)))


def through_mvn_entropy(x):
    return np.sin(scipy.stats.multivariate_normal.entropy(cov=_spd(x)))


TABLE = {
    "solve_triangular": (through_solve_triangular, 9, "_other_side"),
    "solve_assume_pos": (through_solve_assume_pos, 9, "read_matrix_grad"),
    "cho_solve": (through_cho_solve, 9, "cho_"),
    "cho_factor_likelihood": (through_cho_factor_likelihood, 9, "cho_factor_grad"),
    "lu_solve": (through_lu_solve, 9, "lu_solve_factor_grad"),
    "lu_factor": (through_lu_factor, 9, "lu_factor_grad"),
    "block_diag": (through_block_diag, 6, "block_diag_grad"),
    "dirichlet": (through_dirichlet, 3, "dirichlet_grad_alpha"),
    "dirichlet_x": (through_dirichlet_x, 3, "dirichlet_grad_x"),
    "mvn": (through_mvn, 9, "mvn_grad"),
    "mvn_entropy": (through_mvn_entropy, 9, "mvn_entropy_grad"),
}


def _point(name):
    function, size, _ = TABLE[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    return function, rng.uniform(-0.9, 0.9, size), rng


@pytest.mark.parametrize("name", sorted(TABLE))
def test_the_generated_gradient_calls_the_helper(name):
    function, x, _ = _point(name)
    assert TABLE[name][2] in ag.source(function, x)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(TABLE))
def test_hessian_matches_differences_of_the_gradient(name, mode):
    function, x, _ = _point(name)
    expected = _gradient_differences(function, x)
    got = ag.hessian(function, mode=mode)(x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(TABLE))
def test_grad_of_grad_matches_differences_of_the_gradient(name, mode):
    function, x, rng = _point(name)
    direction = rng.standard_normal(np.size(x))
    expected = _gradient_differences(function, x) @ direction
    got = ag.grad(_slope(ag.grad(function, mode=mode), direction), mode=mode)(x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


# -- the helpers marked transformable: reverse mode differentiates their source ---------------


def via_read_matrix_grad(x, g):
    return np.sum(np.sin(read_matrix_grad(g * x, True, "sym", True)))


def via_cho_solve_factor_grad(x, g):
    c = np.tril(x) + 2.0 * np.eye(3)
    return np.sum(np.sin(cho_solve_factor_grad(g, x[0] * g, (c, True))))


def via_lu_factor_grad(x, g):
    lu, piv = scipy.linalg.lu_factor(x + 3.0 * np.eye(3))
    return np.sum(np.sin(lu_factor_grad(g, lu, piv)))


def via_lu_solve_factor_grad(x, g):
    lu, piv = scipy.linalg.lu_factor(x + 3.0 * np.eye(3))
    return np.sum(np.sin(lu_solve_factor_grad(g[0], x[1], (lu, piv), 0)))


def via_block_diag_grad(x, g):
    return np.sum(np.sin(block_diag_grad(g * x[0, 0], 1, np.ones((2, 2)), x[:2, :])))


def via_dirichlet_grads(x, g):
    point = np.exp(x[0]) / np.sum(np.exp(x[0]))
    alpha = 1.0 + x[1] ** 2
    return np.sum(np.sin(dirichlet_grad_x(g, point, alpha) + dirichlet_grad_alpha(g, point, alpha)))


def via_mvn_grads(x, g):
    cov = x @ x.T + np.eye(3)
    mean = np.sin(x[0])
    moved = mvn_grad(g, x[1], mean, cov, "cov") + mvn_entropy_grad(g, mean, cov)
    return np.sum(np.sin(moved)) + np.sum(mvn_grad(g, x[1], mean, cov, "x") ** 2)


TRANSFORMABLE = {
    "read_matrix_grad": (via_read_matrix_grad, (3, 3), (3, 3)),
    "cho_solve_factor_grad": (via_cho_solve_factor_grad, (3, 3), (3,)),
    "lu_factor_grad": (via_lu_factor_grad, (3, 3), (3, 3)),
    "lu_solve_factor_grad": (via_lu_solve_factor_grad, (3, 3), (3, 3)),
    "block_diag_grad": (via_block_diag_grad, (3, 3), (4, 5)),
    "dirichlet_grads": (via_dirichlet_grads, (2, 3), ()),
    "mvn_grads": (via_mvn_grads, (3, 3), ()),
}


@pytest.mark.parametrize("name", sorted(TRANSFORMABLE))
def test_reverse_mode_differentiates_a_transformable_helper(name):
    function, x_shape, g_shape = TRANSFORMABLE[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    x, g = rng.uniform(-1.0, 1.0, x_shape), rng.uniform(0.5, 1.5, g_shape)
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


#: refused by forward mode's transform, as in test_helper_rules_linalg (none now: a
#: tangent on an argument a rule reads for its dtype only is left out)
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
    x, g = rng.uniform(-1.0, 1.0, x_shape), rng.uniform(0.5, 1.5, g_shape)
    dx, dg = rng.standard_normal(x_shape), rng.standard_normal(g_shape)
    _, got = ag.jvp(function, (x, g), (dx, dg), mode="source")
    up, down = function(x + EPS * dx, g + EPS * dg), function(x - EPS * dx, g - EPS * dg)
    np.testing.assert_allclose(got, (up - down) / (2 * EPS), rtol=1e-6, atol=1e-8)

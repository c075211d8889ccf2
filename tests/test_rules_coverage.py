"""NumPy functions that issue 15 gave rules, in user code: every mode agrees with finite
differences, and what the rules do not handle stops with an error that says so (the rules
themselves are checked one by one in ``rule_specs.SPECS``)."""

from __future__ import annotations

import numpy as np
import pytest
from numeric import assert_close

import astgrad as ag

MODES = ["source", "tape", "auto"]


def _numeric_grad(f, x, eps=1e-6):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        grad[i] = (f(up) - f(down)) / (2 * eps)
    return grad


def statistics(x):
    return (
        np.median(x)
        + np.percentile(x, 30.0)
        + np.nanmax(x)
        + np.quantile(x * x, [0.2, 0.7]).sum()
        + np.ptp(x)
        + np.nanstd(x)
        + np.trapezoid(x * x, dx=0.5)
        + np.interp(0.3, np.array([0.0, 0.5, 1.0]), x[:3])
        + np.convolve(x, np.array([1.0, -2.0, 0.5]), "same").sum()
        + np.cov(x[:2], x[2:]).sum()
    )


@pytest.mark.parametrize("mode", MODES)
def test_statistics_match_finite_differences(mode):
    x = np.array([3.0, 1.0, 2.0, 5.0])
    assert_close(ag.grad(statistics, mode=mode)(x), _numeric_grad(statistics, x), rtol=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_median_shares_the_two_middle_values(mode):
    got = ag.grad(lambda x: np.median(x), mode=mode)(np.array([3.0, 1.0, 2.0, 5.0]))
    np.testing.assert_array_equal(got, [0.5, 0.0, 0.5, 0.0])


def linear_algebra(a):
    w, v = np.linalg.eig(a)
    x, residuals, rank, s = np.linalg.lstsq(a[:, :2], a[:, 2])
    return (
        np.sum(w * w)
        + np.sum(np.abs(v[0]))
        + np.sum(x)
        + np.sum(residuals)
        + np.sum(np.linalg.multi_dot([a, a, a]))
        + np.sum(np.linalg.matrix_power(a, -2))
        + np.linalg.vector_norm(a)
        + np.sum(np.vecdot(a, a))
    )


@pytest.mark.parametrize("mode", MODES)
def test_linear_algebra_matches_finite_differences(mode):
    a = np.array([[2.0, 0.5, 0.1], [0.3, -1.0, 0.4], [0.2, 0.1, 0.5]])
    got = ag.grad(linear_algebra, mode=mode)(a)
    assert_close(got, _numeric_grad(linear_algebra, a), rtol=1e-5)


def least_squares(a, b):
    x, residuals, rank, s = np.linalg.lstsq(a, b)
    return x


def test_lstsq_forward_mode_adds_both_tangents_result_by_result():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 3)), rng.standard_normal(5)
    da, db = rng.standard_normal((5, 3)), rng.standard_normal(5)
    _, tangent = ag.jvp(least_squares, (a, b), (da, db), mode="source")
    eps = 1e-6
    expected = (
        least_squares(a + eps * da, b + eps * db) - least_squares(a - eps * da, b - eps * db)
    ) / (2 * eps)
    assert_close(tangent, expected, rtol=1e-5)


def eigenvalue_sum(a):
    w, v = np.linalg.eig(a)
    return np.real(np.sum(w)) + np.sum(np.imag(w) ** 2) + np.sum(np.abs(v[0] + v[1]) ** 2)


@pytest.mark.parametrize("mode", MODES)
def test_eig_of_a_real_matrix_with_complex_eigenvalues(mode):
    # (a rotation, scaled and moved: its eigenvalues and eigenvectors are complex, and the
    # gradient of a real matrix is real; docs/complex.md)
    a = np.array([[0.3, -1.0, 0.2], [1.1, 0.1, 0.0], [0.4, 0.2, 2.0]])
    got = ag.grad(eigenvalue_sum, mode=mode)(a)
    assert got.dtype == np.float64
    assert_close(got, _numeric_grad(eigenvalue_sum, a), rtol=1e-5)


def weighted_quantile(x):
    return np.quantile(x, 0.5, method="inverted_cdf", weights=np.ones(4))


@pytest.mark.parametrize("mode", MODES)
def test_weighted_quantiles_are_refused(mode):
    with pytest.raises(Exception, match="does not handle the ar"):
        ag.grad(weighted_quantile, mode=mode)(np.arange(4.0))


def average_and_total(a, w):
    average, total = np.average(a, weights=w, returned=True)
    return average + 2 * total


def total_only(a, w):
    return np.average(a, weights=w, returned=True)[1]


@pytest.mark.parametrize("function", [average_and_total, total_only])
def test_average_returned_forward_mode_adds_both_tangents_result_by_result(function):
    a, w = np.array([1.0, 2.0, 3.0]), np.array([0.5, 1.0, 2.0])
    da, dw = np.array([0.1, 0.2, 0.3]), np.array([1.0, -1.0, 0.5])
    _, tangent = ag.jvp(function, (a, w), (da, dw), mode="source")
    eps = 1e-6
    expected = (function(a + eps * da, w + eps * dw) - function(a - eps * da, w - eps * dw)) / (
        2 * eps
    )
    assert_close(tangent, expected, rtol=1e-6)

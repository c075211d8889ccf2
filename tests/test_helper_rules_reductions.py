"""Second derivatives through the helpers of reductions, scans and complex values (issue 16):
user functions whose generated gradient calls ``extremum_grad``, ``prod_grad``,
``cumprod_grad``, ``nanmean_grad``, ``diff_grad``, ``rfft_grad``, ``irfft_grad``,
``fit_shape``, ``angle_grad``, ``imag_grad``... differentiated again (``ag.hessian``,
``ag.hvp``, ``ag.grad`` of a function calling ``ag.grad``) in every mode, against central
differences of the first derivative; values with zeros for the products."""

from __future__ import annotations

import numpy as np
import pytest

import astgrad as ag

MODES = ("source", "tape", "auto")

_NAN = np.array([1.0, np.nan, 0.5, 2.0, np.nan, -1.0])


def through_max(x):
    return np.max(np.sin(x) * x) ** 2 + np.sum(np.min(np.reshape(x, (2, 3)) ** 3, axis=1))


def through_max_initial(x):
    rows = np.reshape(np.cos(x), (2, 3))
    return np.sum(np.max(rows * x[0], axis=1, initial=0.2) ** 2)


def through_spread(x):
    rows = np.reshape(np.sin(x) * x, (2, 3))
    holed = np.where(np.isnan(_NAN), np.nan, x**3)
    return np.sum(np.ptp(rows, axis=1) ** 2) + np.nanmax(holed) ** 2 * np.nanmin(holed)


def through_prod(x):
    return np.prod(x) + np.sum(np.prod(np.reshape(x, (2, 3)) + x[0], axis=0) ** 2)


def through_prod_where(x):
    mask = np.array([[True, False, True], [True, True, False]])
    return np.sum(np.prod(np.reshape(x, (2, 3)), axis=1, where=mask) * x[1])


def through_cumprod(x):
    return np.sum(np.cumprod(x) * np.arange(1.0, 7.0)) + np.sum(np.cumprod(x * x[2]) ** 2)


def through_nanmean(x):
    holed = np.where(np.isnan(_NAN), np.nan, np.sin(x) * x)
    return np.nanmean(holed) ** 2 + np.sum(np.nanmean(np.reshape(holed, (2, 3)), 0) ** 3)


def through_diff(x):
    return np.sum(np.diff(np.sin(x) * x, n=2) ** 2) + np.sum(np.diff(x, prepend=x[0] ** 2) ** 3)


def through_rfft(x):
    return np.sum(np.abs(np.fft.rfft(np.sin(x) * x)) ** 2) + np.sum(np.fft.irfft(x[:4] * x[1]) ** 3)


def through_fft_cut(x):
    return np.sum(np.abs(np.fft.fft(x * x[0], n=4)) ** 2)


def through_angle(x):
    z = x[:3] * x[3:] + 1j * np.sin(x[3:])
    return np.sum(np.angle(z) ** 2) + np.sum(np.imag(z * z) * x[:3])


def through_quantiles(x):
    rows = np.reshape(np.sin(x) * x, (2, 3))
    return np.sum(np.quantile(rows, [0.3, 0.8], axis=1) ** 2) + np.sum(np.median(rows, 0) ** 3)


def through_moving_q(x):
    return np.sum(np.percentile(np.reshape(x[:4], (2, 2)), x[4:] * 30 + 50, axis=1) ** 2)


def through_nanvar(x):
    holed = np.where(np.isnan(_NAN), np.nan, np.sin(x) * x)
    return np.nanvar(holed) ** 2 + np.sum(np.nanstd(np.reshape(holed, (2, 3)), axis=1, ddof=1))


def through_cov(x):
    m = np.reshape(np.sin(x) * x, (2, 3))
    return np.sum(np.cov(m) ** 2) + np.sum(np.cov(m, x[::-1].reshape(2, 3) ** 2, rowvar=False) ** 2)


def through_corrcoef(x):
    m = np.reshape(np.sin(x) + x**2, (2, 3))
    return np.sum(np.corrcoef(m, rowvar=False) ** 2) + np.corrcoef(m)[0, 1] ** 3


def through_gradient(x):
    rows = np.reshape(np.sin(x) * x, (2, 3))
    slopes = np.gradient(rows, 0.5, np.array([0.0, 0.4, 1.0]))
    return np.sum(slopes[0] ** 2 * slopes[1]) + np.sum(np.gradient(x**3, edge_order=2) ** 2)


def through_average(x):
    rows = np.reshape(np.sin(x) * x, (2, 3))
    weights = x[:3] ** 2 + 0.5
    mean, total = np.average(rows, axis=1, weights=weights, returned=True)
    return (
        np.sum(mean**2 * total) + np.average(x * x[0]) ** 2 + np.average(rows, weights=rows**2 + 1)
    )


FUNCTIONS = [
    through_max,
    through_max_initial,
    through_spread,
    through_prod,
    through_prod_where,
    through_cumprod,
    through_nanmean,
    through_diff,
    through_rfft,
    through_fft_cut,
    through_angle,
    through_quantiles,
    through_moving_q,
    through_nanvar,
    through_cov,
    through_corrcoef,
    through_gradient,
    through_average,
]

#: products are exact at zeros: their Hessians at points with one and two zeros
ZERO_POINTS = {
    "one zero": np.array([0.7, 0.0, -1.2, 0.9, 1.1, -0.6]),
    "two zeros": np.array([0.0, 1.3, -0.8, 0.0, 0.6, 1.4]),
}


def _point(seed=3):
    return np.random.default_rng(seed).uniform(-1.3, 1.3, 6)


def _gradient_differences(function, x, direction, mode, eps=1e-6):
    grad = ag.grad(function, mode=mode)
    return (grad(x + eps * direction) - grad(x - eps * direction)) / (2 * eps)


def _numeric_hessian(function, x, mode):
    return np.stack([_gradient_differences(function, x, e, mode) for e in np.eye(x.size)], axis=1)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.__name__)
def test_hessian_hvp_and_grad_of_grad_match_differences(function, mode):
    x = _point()
    direction = np.random.default_rng(8).standard_normal(x.size)
    expected = _numeric_hessian(function, x, mode)
    hessian = ag.hessian(function, mode=mode)(x)
    np.testing.assert_allclose(hessian, expected, rtol=1e-5, atol=1e-6)
    product = ag.hvp(function, (x,), (direction,), mode=mode)
    np.testing.assert_allclose(product, expected @ direction, rtol=1e-5, atol=1e-6)

    def line(t):
        return function(x + t * direction)

    # (grad of grad of the function along a line: the Hessian's quadratic form)
    second = ag.grad(ag.grad(line, mode=mode), mode=mode)(0.0)
    assert second == pytest.approx(direction @ expected @ direction, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("point", sorted(ZERO_POINTS))
@pytest.mark.parametrize(
    "function", [through_prod, through_prod_where, through_cumprod], ids=lambda f: f.__name__
)
def test_products_at_zeros(function, point, mode):
    """The products' gradients are polynomials: their Hessians at values holding zeros
    are finite and equal to differences of the gradient (no division by the values)."""
    x = ZERO_POINTS[point]
    hessian = ag.hessian(function, mode=mode)(x)
    assert np.all(np.isfinite(hessian))
    np.testing.assert_allclose(hessian, _numeric_hessian(function, x, mode), rtol=1e-5, atol=1e-6)


def product(x):
    return np.prod(x)


def test_hessian_of_prod_is_the_products_of_the_others():
    """np.prod's Hessian, exactly: the product of all elements but i and j off the
    diagonal, zero on it; at a zero, only the row and column of that zero survive."""
    x = np.array([2.0, 0.0, 3.0, -1.5])
    expected = np.zeros((4, 4))
    for i in range(4):
        for j in range(4):
            if i != j:
                expected[i, j] = np.prod(np.delete(x, [i, j]))
    for mode in MODES:
        np.testing.assert_allclose(ag.hessian(product, mode=mode)(x), expected, atol=1e-12)


def test_max_at_a_tie_takes_the_branch_where_the_tie_lasts():
    """At a tie, max's gradient is shared among the tied elements (a subgradient), and
    the second derivative is that of the branch where they stay tied: for
    max(x) ** 2 with x = (1, 1, 0), the gradient (1, 1, 0) and the Hessian
    2 w w^T with w = (1/2, 1/2, 0), not a difference quotient across the jump."""
    x = np.array([1.0, 1.0, 0.0])
    w = np.array([0.5, 0.5, 0.0])

    def squared_max(v):
        return np.max(v) ** 2

    for mode in MODES:
        np.testing.assert_allclose(ag.grad(squared_max, mode=mode)(x), [1.0, 1.0, 0.0])
        np.testing.assert_allclose(ag.hessian(squared_max, mode=mode)(x), 2 * np.outer(w, w))
        # along the tie the gradient moves as that Hessian says
        along = np.array([1.0, 1.0, 0.0])
        moved = _gradient_differences(squared_max, x, along, mode)
        np.testing.assert_allclose(moved, 2 * np.outer(w, w) @ along, rtol=1e-6)


#: what keeps the batched Hessian from running over these functions' gradients (issue 16)
UNBATCHED = {
    # (its value is NaN, a column of the reshaped array being all NaN: a batched run
    # whose tangent is not finite gives way to one direction at a time, which cannot
    # tell a NaN it computes from one of the run's own 0 * inf)
    "through_nanmean": "a NaN value's batched tangent is not finite: one direction at a time",
}


@pytest.mark.parametrize(
    "function",
    [
        pytest.param(f, marks=pytest.mark.xfail(strict=True, reason=UNBATCHED[f.__name__]))
        if f.__name__ in UNBATCHED
        else f
        for f in FUNCTIONS
    ],
    ids=lambda f: f.__name__,
)
def test_hessians_through_the_helpers_run_batched(function, monkeypatch):
    """The batched Hessian (one forward pass for all directions), equal to one
    Hessian-vector product per direction and to differences of the gradient."""
    from test_batched_derivatives import _check_hessian

    assert _check_hessian(function, (_point(),), [0], monkeypatch)


def linear_statistics(x):
    return np.sum(np.cov(np.reshape(x, (2, 3))) * 0.5) + np.sum(np.quantile(x**3, [0.3, 0.8]))


# (the reverse pass over the tangent receives the int 0 adjoint of a value the tangent
# reads for its shape alone, cov_tangent's and order_tangent's ans, from a callee: the
# zeros pass drops or guards what is computed from it, Derivative.zero_adjoints)
@pytest.mark.parametrize("mode", ("source", "auto"))
def test_hvp_where_statistics_enter_linearly(mode):
    x = _point()
    direction = np.random.default_rng(8).standard_normal(x.size)
    expected = _numeric_hessian(linear_statistics, x, "tape") @ direction
    got = ag.hvp(linear_statistics, (x,), (direction,), mode=mode)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


_prod_gradient = ag.grad(through_prod)
_quantiles_gradient = ag.grad(through_quantiles)
W = np.array([0.3, -1.2, 0.7, 2.0, -0.4, 1.1])


def prod_gradient_along_w(x):
    return np.sum(_prod_gradient(x) * W)


def quantiles_gradient_along_w(x):
    return np.sum(_quantiles_gradient(x) * W)


@pytest.mark.parametrize("mode", ("source", "auto"))
@pytest.mark.parametrize(
    "outer, inner",
    [(prod_gradient_along_w, through_prod), (quantiles_gradient_along_w, through_quantiles)],
    ids=("prod", "quantiles"),
)
def test_gradient_of_a_function_calling_a_gradient(outer, inner, mode):
    """``ag.grad`` of a function that calls a gradient: the Hessian applied to W."""
    for x in (_point(), ZERO_POINTS["one zero"]):
        expected = _numeric_hessian(inner, x, "source") @ W
        np.testing.assert_allclose(ag.grad(outer, mode=mode)(x), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ("source", "auto"))
@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.__name__)
def test_jacobians_of_the_gradient(function, mode):
    """Reverse mode over the generated gradient (the helpers' vjp rules) and forward mode
    over it, against differences of the gradient."""
    x = _point()
    expected = _numeric_hessian(function, x, mode)
    for how in ("reverse", "forward"):
        jacobian = ag.jacobian(ag.grad(function, mode=mode), mode=how)(x)
        np.testing.assert_allclose(jacobian, expected, rtol=1e-5, atol=1e-6, err_msg=how)


def test_third_derivative_of_a_product():
    """d3/dx3 of prod(x * c) along one axis, through the helpers' own rules again."""
    c = np.array([1.5, -0.5, 2.0])

    def cubic(t):
        return np.prod(t * c)

    for mode in ("auto", "tape"):  # (generated source goes to second order)
        third = ag.grad(ag.grad(ag.grad(cubic, mode=mode), mode=mode), mode=mode)(0.7)
        assert third == pytest.approx(6 * np.prod(c))


@pytest.mark.parametrize("mode", MODES)
def test_complex_values_inside(mode):
    """Complex intermediates of a real function (angle, imag, fft) against differences of
    the gradient, at a second point."""
    x = _point(11)
    for function in (through_angle, through_rfft):
        np.testing.assert_allclose(
            ag.hessian(function, mode=mode)(x),
            _numeric_hessian(function, x, mode),
            rtol=1e-5,
            atol=1e-6,
        )


def _squared_modulus(w):
    # (not np.abs(w) ** 2: abs has no derivative at 0, where a product of a zero lands)
    return np.real(w * np.conj(w))


def complex_products(z):
    return np.real(np.prod(z) * np.conj(z[0])) + np.sum(_squared_modulus(np.cumprod(z)))


def complex_spectrum(z):
    spectrum = np.fft.fft(z * z[1], n=6)
    return np.sum(_squared_modulus(spectrum) * np.arange(6.0)) + np.sum(np.angle(z + 2.0) ** 2)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("function", [complex_products, complex_spectrum], ids=lambda f: f.__name__)
def test_hvp_of_complex_arguments(function, mode):
    """ag.hvp of a real function of a complex argument through products, fft and angle:
    the derivative of the gradient (the convention's) along a complex tangent, by central
    differences; with a zero among the values for the products."""
    rng = np.random.default_rng(5)
    for z in (
        rng.standard_normal(4) + 1j * rng.standard_normal(4),
        np.array([0.5 + 1j, 0.0, -1.0 + 0.2j, 0.7 - 0.4j]),
    ):
        tangent = rng.standard_normal(4) + 1j * rng.standard_normal(4)
        gradient = ag.grad(function, mode=mode)
        eps = 1e-6
        expected = (gradient(z + eps * tangent) - gradient(z - eps * tangent)) / (2 * eps)
        got = ag.hvp(function, (z,), (tangent,), mode=mode)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)

"""More of issue 15 in user code, every mode against float64 finite differences: np.block of
nested lists, np.put_along_axis, scipy.linalg.cholesky, writes into an argument of a
function run on the tape, second order through a result that is a tuple of one, the
forward-mode tangents of primitives with several results (``add_results``), and more of
NumPy (diagflat, resize, compress, extract, choose, nancumsum, nancumprod, logspace,
geomspace, polyadd, polysub, polymul, polyder, polyint). (The rules themselves are checked
one by one in ``rule_specs.SPECS``.)"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numeric import assert_close

import astgrad as ag

try:
    import scipy.linalg as scipy_linalg
    import scipy.stats as scipy_stats
except ImportError:  # pragma: no cover - scipy is optional
    scipy_linalg = scipy_stats = None

MODES = ["source", "tape", "auto"]


def _numeric_grad(f, x, eps=1e-6):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        grad[i] = (f(up) - f(down)) / (2 * eps)
    return grad


A = np.array([[1.0, 2.0], [0.5, -1.0]])
B = np.array([[0.3, 0.2], [-0.4, 1.5]])


# -- np.block --------------------------------------------------------------------------------


def blocks_of_a_matrix(a, b):
    m = np.block([[a, b], [np.ones((2, 2)), a * b]])
    return np.sum(m * m * np.arange(4.0))


def blocks_of_vectors_and_numbers(a, b):
    return np.sum(np.block([a[0], 2.0, b[1, 0], b[0]]) ** 3)


def blocks_three_deep(a, b):
    m = np.block([[[a[:1], b[:1]]], [[b[1:], a[1:]]]])
    return np.sum(np.sin(m) * np.arange(4.0))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "function", [blocks_of_a_matrix, blocks_of_vectors_and_numbers, blocks_three_deep]
)
def test_block_matches_finite_differences(function, mode):
    ga, gb = ag.grad(function, wrt=(0, 1), mode=mode)(A, B)
    assert_close(ga, _numeric_grad(lambda a: function(a, B), A.copy()))
    assert_close(gb, _numeric_grad(lambda b: function(A, b), B.copy()))


@pytest.mark.parametrize("function", [blocks_of_a_matrix, blocks_three_deep])
def test_block_forward_mode_and_second_order(function):
    da = np.array([[0.3, -1.0], [0.5, 2.0]])
    _, tangent = ag.jvp(function, (A, B), (da, np.zeros_like(B)))
    eps = 1e-6
    expected = (function(A + eps * da, B) - function(A - eps * da, B)) / (2 * eps)
    assert_close(tangent, expected, rtol=1e-6)
    for mode in ("source", "tape"):
        h = ag.hvp(lambda a: function(a, B), (A,), (da,), mode=mode)
        gradient = ag.grad(lambda a: function(a, B))
        numeric = (gradient(A + eps * da) - gradient(A - eps * da)) / (2 * eps)
        assert_close(h[1] if isinstance(h, tuple) else h, numeric, rtol=1e-5, what=mode)


# -- np.put_along_axis -----------------------------------------------------------------------

ROWS = np.array([[2], [0], [1]])
M = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]])


def put_into_a_copy(a):
    b = a * 1.0
    np.put_along_axis(b, ROWS, a[:, :1] ** 2, axis=1)
    return np.sum(b * b * np.arange(3.0))


def put_flat_into_zeros(a):
    b = np.zeros((3, 3))
    np.put_along_axis(b, np.array([0, 4, 8]), np.sin(a[0]), axis=None)
    return np.sum(b * a)


def put_into_the_argument(a):
    np.put_along_axis(a, ROWS, 0.5 * a[:, 1:2], axis=-1)
    return np.sum(a**3)


@pytest.mark.parametrize("mode", ["tape", "auto"])
@pytest.mark.parametrize("function", [put_into_a_copy, put_flat_into_zeros, put_into_the_argument])
def test_put_along_axis_on_the_tape(function, mode):
    x = M.copy()
    got = ag.grad(function, mode=mode)(x)
    assert_close(got, _numeric_grad(function, M.copy()))
    np.testing.assert_array_equal(x, M)  # (the caller's array, as source mode leaves it)


def test_put_along_axis_is_refused_in_source_mode_naming_the_line():
    with pytest.raises(ag.TransformError, match=r"(?s)test_coverage_more\.py.*put_along_axis"):
        ag.grad(put_into_a_copy, mode="source")(M.copy())


def put_into_a_plain_array(a):
    b = np.asarray(M).copy()  # (on the tape a tensor too: np.asarray makes one)
    np.put_along_axis(b, ROWS, a[:, :1], axis=1)
    return np.sum(b * a)


def test_put_along_axis_of_values_that_need_a_gradient_into_a_raw_array_raises():
    import astgrad.runtime.fallback as fallback

    put = fallback._put_along_axis_on_tape(np.put_along_axis)
    values = ag.tensor(np.ones((3, 1)), requires_grad=True)
    with pytest.raises(ag.GradientLostError, match="np.put_along_axis"):
        put(M.copy(), ROWS, values, 1)
    plain = M.copy()
    put(plain, ROWS, np.zeros((3, 1)), 1)  # (no gradient to lose: NumPy's own)
    assert plain[0, 2] == 0.0 and plain[1, 0] == 0.0


# -- scipy.linalg.cholesky -------------------------------------------------------------------


def cholesky_upper(a):
    u = scipy_linalg.cholesky(a)
    return np.sum(u * np.arange(9.0).reshape(3, 3)) + np.sum(np.log(np.diag(u)))


def cholesky_lower(a):
    low = scipy_linalg.cholesky(a, lower=True)
    return np.sum(np.tanh(low))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("function", [cholesky_upper, cholesky_lower])
def test_scipy_cholesky_matches_finite_differences(function, mode):
    if scipy_linalg is None:
        pytest.skip("scipy is not installed")
    got = ag.grad(function, mode=mode)(M.copy())
    # (each factor reads one triangle of a: the other gets no gradient, as in the differences)
    assert_close(got, _numeric_grad(function, M.copy()), rtol=1e-5, atol=1e-6)


def test_scipy_cholesky_forward_mode():
    if scipy_linalg is None:
        pytest.skip("scipy is not installed")
    da = np.array([[0.5, 0.1, -0.2], [0.1, 0.3, 0.0], [-0.2, 0.0, 1.0]])
    for function in (cholesky_upper, cholesky_lower):
        _, tangent = ag.jvp(function, (M,), (da,))
        eps = 1e-6
        expected = (function(M + eps * da) - function(M - eps * da)) / (2 * eps)
        assert_close(tangent, expected, rtol=1e-6, what=function.__name__)


# -- writes into an argument of a function run on the tape -----------------------------------


def item_from_another(x):
    x[0] = x[1] ** 2
    return np.sum(x * x)


def saved_then_written(x):
    y = x * x
    x[0] = 3.0 * x[2]
    return np.sum(y) + np.sum(x**3)


def written_several_ways(x):
    x[0] = x[1] ** 2
    x[2] += x[0]
    x *= 2.0
    x.sort()
    np.add.at(x, [0, 0], x[1])
    return np.sum(x * x * np.arange(3.0))


@pytest.mark.parametrize("mode", ["tape", "auto"])
@pytest.mark.parametrize("function", [item_from_another, saved_then_written, written_several_ways])
def test_a_write_into_an_argument_is_differentiated_at_the_value_given(function, mode):
    x0 = np.array([1.0, 2.0, 0.5])
    x = x0.copy()
    value, got = ag.value_and_grad(function, mode=mode)(x)
    assert value == pytest.approx(function(x0.copy()))
    assert_close(got, _numeric_grad(function, x0.copy()))
    # As in generated source (x op= v rebinds x there): the caller's array is as it was.
    np.testing.assert_array_equal(x, x0)
    again = ag.grad(function, mode=mode)(x)  # (a second call: the cached plan of the tape)
    assert_close(again, got)


def test_source_and_tape_agree_on_an_augmented_argument():
    def augmented(x):
        x += x**2
        return np.sum(x * x)

    x0 = np.array([1.0, 2.0, 3.0])
    results = {}
    for mode in MODES:
        x = x0.copy()
        results[mode] = ag.grad(augmented, mode=mode)(x)
        np.testing.assert_array_equal(x, x0)
    assert_close(results["tape"], results["source"])
    assert_close(results["tape"], _numeric_grad(augmented, x0.copy()))


def view_taken_before_the_write(x):
    v = x[1:]
    x[1] = 2.0 * x[0]
    return np.sum(v * v)


def test_a_view_of_an_argument_taken_before_a_write_is_refused_not_wrong():
    with pytest.raises(RuntimeError, match="view of a tensor"):
        ag.grad(view_taken_before_the_write, mode="tape")(np.array([1.0, 2.0, 0.5]))


def written_beside_another(x, w):
    x[0] = 2.0 * x[1]
    return np.sum(x * w)


SHARED = np.array([1.0, 2.0, 0.5])


def written_beside_a_global(x):
    x[0] = 2.0 * x[1]
    return np.sum(x * SHARED)


@pytest.mark.parametrize("mode", ["tape", "auto"])
def test_a_write_into_an_argument_another_name_shares_is_refused(mode):
    # Python would show the write through the other name too; the copy the tape takes
    # would not: refused, as source mode refuses x op= v on a shared argument.
    x = np.array([1.0, 2.0, 0.5])
    with pytest.raises(ValueError, match="another argument shares its memory"):
        ag.grad(written_beside_another, wrt=(0, 1), mode=mode)(x, x)
    with pytest.raises(ValueError, match="another argument shares its memory"):
        ag.grad(written_beside_another, mode=mode)(x, x[:])
    with pytest.raises(ValueError, match="the global SHARED shares its memory"):
        ag.grad(written_beside_a_global, mode=mode)(SHARED)
    np.testing.assert_array_equal(x, [1.0, 2.0, 0.5])
    got = ag.grad(written_beside_another, mode=mode)(x, x.copy())  # (apart: differentiated)
    assert_close(got, _numeric_grad(lambda v: written_beside_another(v, x.copy()), x.copy()))


def test_a_leaf_made_by_hand_still_refuses_an_in_place_change():
    t = ag.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        t[0] = 3.0


# -- second order through a tuple of one result ----------------------------------------------


def returns_a_tuple_of_one(x):
    return (np.sin(x) * x,)


def through_the_tuple(x):
    return np.sum(returns_a_tuple_of_one(x)[0] ** 2)


@pytest.mark.parametrize("mode", ["tape", "auto"])
def test_second_order_through_a_tuple_of_one(mode):
    x = np.array([0.3, 1.2, -0.5])

    def first(v):
        value, pullback = ag.vjp(returns_a_tuple_of_one, v, mode="tape")
        return np.sum(pullback((np.ones(3),)) ** 2)

    got = ag.grad(first, mode="tape")(x)
    assert_close(got, _numeric_grad(first, x.copy()), rtol=1e-5)
    hessian = ag.hessian(through_the_tuple, mode=mode)(x)
    gradient = ag.grad(through_the_tuple)
    eps = 1e-6
    numeric = np.array(
        [(gradient(x + eps * e) - gradient(x - eps * e)) / (2 * eps) for e in np.eye(3)]
    )
    assert_close(hessian, numeric, rtol=1e-5)


def test_tape_second_order_of_a_rule_with_one_of_several_results():
    from astgrad.runtime.rules.results import add_results

    x = ag.tensor([1.0, 2.0], requires_grad=True)
    (total,) = add_results((x * x,), (x**3,))
    (first,) = ag.autograd_grad(total.sum(), [x], create_graph=True)
    (second,) = ag.autograd_grad(first.sum(), [x])
    assert_close(first.data, 2 * x.data + 3 * x.data**2)
    assert_close(second.data, 2 + 6 * x.data)


# -- np.average(..., returned=True) ----------------------------------------------------------


def average_and_total(a, w):
    average, total = np.average(a, weights=w, returned=True)
    return average * total + np.sin(total)


@pytest.mark.parametrize("mode", MODES)
def test_average_returned_first_and_second_order(mode):
    a, w = np.array([1.0, 2.0, 3.0]), np.array([0.5, 1.0, 2.0])
    ga, gw = ag.grad(average_and_total, wrt=(0, 1), mode=mode)(a, w)
    assert_close(ga, _numeric_grad(lambda v: average_and_total(v, w), a.copy()))
    assert_close(gw, _numeric_grad(lambda v: average_and_total(a, v), w.copy()))
    hessian = ag.hessian(average_and_total, wrt=1, mode=mode)(a, w)
    gradient = ag.grad(average_and_total, wrt=1)
    eps = 1e-6
    numeric = np.array(
        [(gradient(a, w + eps * e) - gradient(a, w - eps * e)) / (2 * eps) for e in np.eye(3)]
    )
    assert_close(hessian, numeric, rtol=1e-5)


# -- forward mode: tangents of several results added result by result -----------------------


def least_squares_both(a):
    x, residuals, rank, s = np.linalg.lstsq(a[:, :2], a[:, 2] * a[:, 0])
    return np.sum(x * x) + np.sum(residuals)


def test_forward_code_adds_tuple_tangents_with_add_results():
    text = ag.source(least_squares_both, forward=True)
    assert "add_results(" in text
    a = np.array([[2.0, 0.5, 0.1], [0.3, -1.0, 0.4], [0.2, 0.1, 0.5], [1.0, 0.2, -0.3]])
    da = np.linspace(-1.0, 1.0, 12).reshape(4, 3)
    _, tangent = ag.jvp(least_squares_both, (a,), (da,), mode="source")
    eps = 1e-6
    expected = (least_squares_both(a + eps * da) - least_squares_both(a - eps * da)) / (2 * eps)
    assert_close(tangent, expected, rtol=1e-6)


# -- more of NumPy: diagonals, repeats, selections, scans with NaNs, log spacing, polynomials --


def more_of_numpy(x):
    m = np.diagflat(x[:3]) + np.resize(x, (3, 3))
    total = np.sum(np.compress([True, False, True], m, axis=0) ** 2)
    total = total + np.sum(np.extract(m > 0.0, m) ** 3)
    total = total + np.sum(np.choose(np.array([0, 1, 0]), [x[:3], x[1:] ** 2]))
    total = total + np.sum(np.nancumsum(x) * np.nancumprod(x))
    total = (
        total + np.sum(np.logspace(x[0], x[1], 3)) + np.sum(np.geomspace(1.0 + x[2] ** 2, 2.0, 4))
    )
    total = total + np.sum(np.polymul(x[:2], x[2:]) ** 2) + np.sum(np.polyder(x, 2) ** 2)
    total = total + np.sum(np.polyint(x, 1, x[3]) ** 2)
    return total + np.sum(np.polyadd(x, x[:2]) * np.polysub(x[:3], x))


@pytest.mark.parametrize("mode", MODES)
def test_more_of_numpy_matches_finite_differences(mode):
    x = np.array([0.3, -0.7, 1.1, 0.4])
    got = ag.grad(more_of_numpy, mode=mode)(x)
    assert_close(got, _numeric_grad(more_of_numpy, x.copy()), rtol=1e-5)


def test_more_of_numpy_forward_mode():
    x = np.array([0.3, -0.7, 1.1, 0.4])
    dx = np.array([1.0, -0.5, 0.25, 2.0])
    _, tangent = ag.jvp(more_of_numpy, (x,), (dx,))
    eps = 1e-6
    expected = (more_of_numpy(x + eps * dx) - more_of_numpy(x - eps * dx)) / (2 * eps)
    assert_close(tangent, expected, rtol=1e-6)


def test_nan_scans_send_nothing_to_the_nans():
    def scans(x):
        return np.sum(np.nancumsum(2.0 * x) ** 2 + np.nancumprod(x + 1.0))

    x = np.array([0.5, np.nan, 2.0, -1.0])
    for mode in MODES:
        got = ag.grad(scans, mode=mode)(x)
        assert got[1] == 0.0, mode
        keep = ~np.isnan(x)
        assert_close(got[keep], _numeric_grad(scans, x.copy())[keep], what=mode)


# -- scipy.stats.multivariate_normal.entropy; its cdf has no rule -----------------------------


def gaussian_entropy(c):
    cov = c @ c.T + np.eye(3)
    return scipy_stats.multivariate_normal.entropy(np.zeros(3), cov) * 2.0


def gaussian_cdf(x):
    return scipy_stats.multivariate_normal.cdf(x, np.zeros(3), np.eye(3))


@pytest.mark.parametrize("mode", MODES)
def test_multivariate_normal_entropy_matches_finite_differences(mode):
    if scipy_stats is None:
        pytest.skip("scipy is not installed")
    c = np.array([[1.0, 0.2, -0.3], [0.1, 0.8, 0.4], [-0.2, 0.5, 1.2]])
    got = ag.grad(gaussian_entropy, mode=mode)(c)
    assert_close(got, _numeric_grad(gaussian_entropy, c.copy()))


@pytest.mark.parametrize("mode", MODES)
def test_multivariate_normal_cdf_is_refused_naming_it(mode):
    if scipy_stats is None:
        pytest.skip("scipy is not installed")
    with pytest.raises(Exception, match="multivariate_normal.cdf"):
        ag.grad(gaussian_cdf, mode=mode)(np.array([0.1, 0.2, 0.3]))


# -- scipy.linalg.inv, det, solve (assume_a, lower, transposed) and expm ----------------------


def scipy_linear_algebra(c):
    k = c @ c.T + np.eye(3)
    y = np.array([0.5, -1.0, 2.0])
    alpha = scipy_linalg.solve(k, y, assume_a="pos")
    total = y @ alpha + np.log(scipy_linalg.det(k))
    total = total + np.sum(scipy_linalg.solve(c, y, transposed=True) ** 2)
    total = total + np.sum(scipy_linalg.inv(k, assume_a="sym", lower=True) * c)
    return total + np.sum(scipy_linalg.expm(0.3 * c) * np.arange(9.0).reshape(3, 3))


C = np.array([[1.0, 0.2, -0.3], [0.1, 0.8, 0.4], [-0.2, 0.5, 1.2]])


@pytest.mark.parametrize("mode", MODES)
def test_scipy_linear_algebra_matches_finite_differences(mode):
    if scipy_linalg is None:
        pytest.skip("scipy is not installed")
    got = ag.grad(scipy_linear_algebra, mode=mode)(C.copy())
    assert_close(got, _numeric_grad(scipy_linear_algebra, C.copy()), rtol=1e-5)


def test_scipy_linear_algebra_forward_and_second_order():
    if scipy_linalg is None:
        pytest.skip("scipy is not installed")
    dc = np.array([[0.5, -0.2, 0.1], [0.3, 0.0, -0.4], [0.2, 0.6, -0.1]])
    _, tangent = ag.jvp(scipy_linear_algebra, (C,), (dc,))
    eps = 1e-6
    expected = (scipy_linear_algebra(C + eps * dc) - scipy_linear_algebra(C - eps * dc)) / (2 * eps)
    assert_close(tangent, expected, rtol=1e-6)
    gradient = ag.grad(scipy_linear_algebra)
    numeric = (gradient(C + eps * dc) - gradient(C - eps * dc)) / (2 * eps)
    for mode in ("source", "tape"):
        h = ag.hvp(scipy_linear_algebra, (C,), (dc,), mode=mode)
        assert_close(h[1] if isinstance(h, tuple) else h, numeric, rtol=1e-5, what=mode)


def test_scipy_solve_with_a_structure_it_cannot_differentiate_says_so():
    if scipy_linalg is None:
        pytest.skip("scipy is not installed")

    def banded(c):
        return np.sum(scipy_linalg.solve(c @ c.T + np.eye(3), np.ones(3), assume_a="banded"))

    with pytest.raises(NotImplementedError, match="assume_a='banded'"):
        ag.grad(banded, mode="tape")(C.copy())


# -- np.apply_along_axis and np.piecewise on the tape (the user's functions on parts) --------


def row_norm(v):
    return math.sqrt(np.sum(v * v))  # (math on tensors, as in any function on the tape)


def along_axes(a):
    total = np.sum(np.apply_along_axis(row_norm, 1, a) ** 2)
    return total + np.sum(np.apply_along_axis(lambda v: np.outer(v, v), 0, a) * 0.5)


def pieces(x):
    total = np.sum(np.piecewise(x, [x < 0, x >= 0], [lambda t: -(t**3), np.sin]))
    return total + np.sum(np.piecewise(x, [x < -0.5, x > 0.5], [lambda t: t * t, 2.0, np.exp]))


@pytest.mark.parametrize("mode", ["tape", "auto"])
@pytest.mark.parametrize(
    "function, x",
    [
        (along_axes, np.array([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0]])),
        (pieces, np.array([-1.0, -0.2, 0.3, 0.9, 1.4])),
    ],
)
def test_functions_of_the_users_functions_on_the_tape(function, x, mode):
    value, got = ag.value_and_grad(function, mode=mode)(x.copy())
    assert value == pytest.approx(function(x.copy()))
    assert_close(got, _numeric_grad(function, x.copy()))


def test_functions_of_the_users_functions_are_refused_in_source_mode():
    with pytest.raises(ag.TransformError):
        ag.grad(along_axes, mode="source")(np.ones((2, 3)))


# -- products of NumPy 2 that are not elementwise ufuncs (np.vecdot, np.matvec, np.vecmat) ---


def vector_products_then_broadcast(a):
    # each product's result (a vector) broadcasts back against a matrix: the transform's
    # shape analysis must not take these ufuncs for elementwise ones (it dropped the sum
    # back to the vector's shape: a wrong gradient, or an error)
    total = np.sum((np.vecdot(a, a) + a) ** 2)
    total = total + np.sum((np.matvec(a, a[0]) + a) ** 2)
    return total + np.sum((np.vecmat(a[1], a) * a) ** 2)


@pytest.mark.parametrize("mode", MODES)
def test_vector_products_match_finite_differences(mode):
    a = np.random.default_rng(3).normal(size=(4, 4))
    got = ag.grad(vector_products_then_broadcast, mode=mode)(a)
    assert_close(got, _numeric_grad(vector_products_then_broadcast, a.copy()), rtol=1e-5)


def test_vector_products_forward_mode():
    a = np.random.default_rng(3).normal(size=(4, 4))
    da = np.random.default_rng(4).normal(size=(4, 4))
    _, tangent = ag.jvp(vector_products_then_broadcast, (a,), (da,))
    eps = 1e-6
    up = vector_products_then_broadcast(a + eps * da)
    expected = (up - vector_products_then_broadcast(a - eps * da)) / (2 * eps)
    assert_close(tangent, expected, rtol=1e-6)


# -- x.dot(W) on the tape with x a constant NumPy array ---------------------------------------

X_CONSTANT = np.array([[0.5, -1.0, 2.0], [1.5, 0.3, -0.2]])


def dot_method_of_an_argument(w, x):
    return np.sum(np.tanh(x.dot(w)) ** 2) + np.sum(x.dot(w[:, 0]))


def dot_method_of_a_global(w):
    return np.sum(np.tanh(X_CONSTANT.dot(w)) * X_CONSTANT[:, :2])


@pytest.mark.parametrize("mode", MODES)
def test_dot_method_of_a_constant_array(mode):
    # ndarray.dot converts a tensor by __array__ (NumPy's methods do not dispatch): on the
    # tape the function's constant float arrays are tensors that need no gradient
    w = np.array([[0.2, -0.4], [1.0, 0.3], [-0.5, 0.8]])
    x = X_CONSTANT.copy()
    value, got = ag.value_and_grad(dot_method_of_an_argument, mode=mode)(w, x)
    assert type(value) is not ag.Tensor
    assert value == pytest.approx(dot_method_of_an_argument(w, x))
    expected = _numeric_grad(lambda v: dot_method_of_an_argument(v, x), w.copy())
    assert_close(got, expected, what=mode)
    np.testing.assert_array_equal(x, X_CONSTANT)


@pytest.mark.parametrize("mode", ["tape", "auto"])
def test_dot_method_of_a_constant_global(mode):
    w = np.array([[0.2, -0.4], [1.0, 0.3], [-0.5, 0.8]])
    value, got = ag.value_and_grad(dot_method_of_a_global, mode=mode)(w)
    assert value == pytest.approx(dot_method_of_a_global(w))
    assert_close(got, _numeric_grad(dot_method_of_a_global, w.copy()), what=mode)


# -- np.pad with one constant per side of each axis --------------------------------------------


def framed(x, c):
    # (corners belong to the last axis padded there, as NumPy fills them)
    padded = np.pad(x, ((1, 2), (2, 1)), constant_values=c)
    return np.sum(padded**2 * np.arange(padded.size).reshape(padded.shape))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", [(2, 2), (2,), (2, 1)])
def test_pad_with_constants_per_side(mode, shape):
    x = np.array([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7]])
    c = np.linspace(-1.0, 1.5, math.prod(shape)).reshape(shape)
    got = ag.grad(framed, wrt=(0, 1), mode=mode)(x, c)
    assert_close(got[0], _numeric_grad(lambda v: framed(v, c), x.copy()), what="x")
    assert_close(got[1], _numeric_grad(lambda v: framed(x, v), c.copy()), what="c")


def _linspace_with_step(a):
    xs, step = np.linspace(a, 2.0, 5, retstep=True)
    return np.sum(xs) * step


def _polyfit_full(y):
    x = np.array([0.0, 0.5, 1.0, 1.5, 2.0])
    coefficients, residuals, rank, singular_values, rcond = np.polyfit(x, y, 1, full=True)
    return np.sum(coefficients)


@pytest.mark.parametrize(
    "function, argument, name",
    [
        (_linspace_with_step, 0.5, "np.linspace with retstep=True returned 2 results"),
        (
            _polyfit_full,
            np.array([1.0, 2.0, 2.5, 3.0, 5.0]),
            "np.polyfit with full=True returned 5 results",
        ),
    ],
)
def test_the_tape_names_a_call_asking_for_more_results_than_its_rule_has(function, argument, name):
    """retstep=True or full=True add results the rule was not written for: the tape says so
    by name (it raised NumPy's 'inhomogeneous shape' ValueError), as source mode does."""
    with pytest.raises(NotImplementedError, match=name):
        ag.grad(function, mode="tape")(argument)
    with pytest.raises(NotImplementedError):
        ag.grad(function, mode="source")(argument)

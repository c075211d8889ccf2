"""Arguments that change a function's values, given to rules (the audit of every rule's
parameters against its NumPy function's).

Each rule of the table mirrors its function's parameters. A parameter the rule takes but
does not read, or one it does not take at all, may change the result (``np.ravel``'s
order, ``np.sum``'s initial, ``np.linalg.pinv``'s rcond): the gradient must then follow
it, or the call must be refused with an error naming the argument, never a gradient of
another function. Every case here runs in reverse mode (source, auto, tape) and forward
mode (``ag.jvp``, source and tape) against central finite differences in float64;
refusals are checked by type and message.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.signal
from numeric import assert_close, numeric_vjp
from rule_specs import _helper_groups

import astgrad as ag
from astgrad import TransformError

RNG = np.random.default_rng(11)
X = RNG.standard_normal((3, 4))
XT = np.ascontiguousarray(RNG.standard_normal((4, 3))).T  # laid out in Fortran order
V = RNG.standard_normal(5)
U = RNG.standard_normal(3)
SYM = X[:, :3] @ X[:, :3].T + np.eye(3)
POS = RNG.uniform(0.5, 2.0, (3, 4))
# a 4 x 3 matrix of rank 2 plus a small part: its third singular value is about 1e-3
NEAR_RANK_2 = RNG.standard_normal((4, 2)) @ RNG.standard_normal((2, 3))
NEAR_RANK_2 = NEAR_RANK_2 + 1e-3 * RNG.standard_normal((4, 3))


def _w(y):
    """A weighted sum: every element of ``y`` counts differently, so a gradient that puts
    elements in the wrong places cannot pass."""
    return np.sum(y * np.cos(np.arange(np.size(y)) + 0.5).reshape(np.shape(y)))


def _wc(y):
    return _w(np.real(y)) + 0.7 * _w(np.imag(y))


def differences(f, args, eps=1e-6):
    """d f / d args[0] by central differences, each step taken on a copy of ``args[0]``
    laid out as it is (``numeric_vjp`` copies arrays into C order, and the layout is what
    orders "A" and "K" read)."""
    x = args[0]
    if isinstance(x, float):
        return numeric_vjp(f, list(args), 0, 1.0, eps)
    grad = np.zeros(np.shape(x))
    for index in np.ndindex(*np.shape(x)):
        values = []
        for step in (eps, -eps):
            moved = x.copy(order="K")
            moved[index] += step
            values.append(f(moved, *args[1:]))
        grad[index] = (values[0] - values[1]) / (2 * eps)
    return grad


def check(f, args, modes=("source", "auto", "tape"), forward=("source", "tape")):
    """``f``'s gradient in its first argument, in every mode, and its derivative along a
    direction in forward mode, match central finite differences."""
    expected = differences(f, args)
    for mode in modes:
        got = ag.grad(f, mode=mode)(*args)
        assert_close(got, expected, rtol=1e-6, atol=1e-8, what=f"{f.__name__}, mode {mode}")
    direction = np.cos(1.3 * np.arange(np.size(args[0]))).reshape(np.shape(args[0]))
    for mode in forward:
        tangents = (direction,) + (None,) * (len(args) - 1)
        _, got = ag.jvp(f, args, tangents, mode=mode)
        assert_close(
            got,
            np.sum(expected * direction),
            rtol=1e-6,
            atol=1e-8,
            what=f"{f.__name__}, ag.jvp mode {mode}",
        )


# -- the order of reshapes: every spelling -------------------------------------------------------


def ravel_f(x):
    return _w(np.ravel(x, "F"))


def ravel_order_f(x):
    return _w(np.ravel(x, order="F"))


def ravel_a(x):
    return _w(np.ravel(x, "A"))


def ravel_k(x):
    return _w(np.ravel(x, order="K"))


def reshape_order_f(x):
    return _w(np.reshape(x, (2, 6), order="F"))


def reshape_positional_f(x):
    return _w(np.reshape(x, (6, 2), "F"))


def reshape_a(x):
    return _w(np.reshape(x, (2, 6), order="A"))


def method_ravel_f(x):
    return _w(x.ravel("F"))


def method_ravel_order_a(x):
    return _w(x.ravel(order="A"))


def method_ravel_k(x):
    return _w(x.ravel("K"))


def method_flatten_f(x):
    return _w(x.flatten("F"))


def method_flatten_order_k(x):
    return _w(x.flatten(order="K"))


def method_flatten_a(x):
    return _w(x.flatten("A"))


def method_reshape_sizes_f(x):
    return _w(x.reshape(6, 2, order="F"))


def method_reshape_tuple_a(x):
    return _w(x.reshape((2, 6), order="A"))


def method_reshape_minus_one_f(x):
    return _w(x.reshape(-1, order="F"))


def transposed_inside_a(x):
    return _w(np.sin(x).T.ravel("A")) + _w(np.reshape(x.T, (2, 6), "A"))


def transposed_inside_k(x):
    return _w(np.ravel((x * x).T, "K")) + _w(x.T.flatten("K"))


def transposed_inside_c(x):
    return _w(x.T.ravel()) + _w(x.T.reshape(2, 6))


def reshape_then_ravel_f(x):
    return _w(np.ravel(np.reshape(x, (4, 3), order="F") * POS.T, order="F"))


ORDER_CASES = [
    ravel_f,
    ravel_order_f,
    ravel_a,
    ravel_k,
    reshape_order_f,
    reshape_positional_f,
    reshape_a,
    method_ravel_f,
    method_ravel_order_a,
    method_ravel_k,
    method_flatten_f,
    method_flatten_order_k,
    method_flatten_a,
    method_reshape_sizes_f,
    method_reshape_tuple_a,
    method_reshape_minus_one_f,
    transposed_inside_a,
    transposed_inside_k,
    transposed_inside_c,
    reshape_then_ravel_f,
]


@pytest.mark.parametrize("layout", ["C", "F"])
@pytest.mark.parametrize("f", ORDER_CASES, ids=lambda f: f.__name__)
def test_reshape_orders(f, layout):
    """Each spelling of an order, on an array laid out in C order and one laid out in
    Fortran order (where "A" and "K" read it as "F")."""
    x = X if layout == "C" else XT
    assert x.flags.f_contiguous == (layout == "F")
    check(f, (x,))


def test_the_orders_read_the_layout_not_the_tangent():
    """Forward mode reads "A" from the primal's layout: a C-ordered tangent of a
    Fortran-ordered value moves as the value's elements do."""

    def f(x):
        return np.ravel(x, "A") * np.arange(12.0)

    direction = np.ascontiguousarray(np.cos(np.arange(12.0)).reshape(3, 4))
    for mode in ("source", "tape"):
        _, got = ag.jvp(f, (XT,), (direction,), mode=mode)
        np.testing.assert_allclose(got, np.ravel(direction, "F") * np.arange(12.0))


def ravel_k_of_a_slice(x):
    return _w(np.ravel(x[:, ::-2], "K"))


def ravel_a_in_a_loop(x):
    total = 0.0
    for i in range(2):
        total = total + _w(np.ravel(x.T * (i + 1.0), "A"))
    return total


def ravel_f_in_a_loop(x):
    total = 0.0
    for i in range(3):
        y = np.sin(x * (i + 1.0))
        total = total + _w(np.ravel(y, "F")) + _w(y.reshape(2, 6, order="F") * i)
    return total


@pytest.mark.parametrize("x", [X, XT], ids=["C", "F"])
def test_fortran_order_in_a_loop(x):
    """In a loop the backward pass keeps only each reshaped array's shape: enough for
    "F", which reads no layout."""
    check(ravel_f_in_a_loop, (x,))


def test_orders_refused_where_the_layout_is_not_known():
    """ "K" of an array laid out in neither order, and "A" in a loop (whose backward pass
    keeps only the array's shape): refused, naming the order."""
    for mode in ("source", "tape"):
        with pytest.raises(NotImplementedError, match="order='K'"):
            ag.grad(ravel_k_of_a_slice, mode=mode)(X)
    with pytest.raises(NotImplementedError, match="order='K'"):
        ag.jvp(ravel_k_of_a_slice, (X,), (np.ones_like(X),), mode="source")
    with pytest.raises(NotImplementedError, match="order='A' inside a loop"):
        ag.grad(ravel_a_in_a_loop, mode="source")(X)
    check(ravel_a_in_a_loop, (X,), modes=("tape",))


def test_tensor_methods_take_the_order():
    """``t.reshape(..., order=)`` and ``t.flatten(order)`` on the tape, as NumPy's."""
    t = ag.tensor(XT, requires_grad=True)
    assert np.array_equal(t.reshape(2, 6, order="F").data, XT.reshape(2, 6, order="F"))
    assert np.array_equal(t.flatten("K").data, XT.flatten("K"))
    (t.flatten("F") * np.arange(12.0)).sum().backward()
    np.testing.assert_allclose(t.grad.data, np.arange(12.0).reshape(3, 4, order="F"))


# -- other arguments that change values, handled -------------------------------------------------
# (each found by comparing a rule's parameters with its function's; these were right)


def fft_n_short(x):
    return _wc(np.fft.fft(x, n=3))


def fft_n_long(x):
    return _wc(np.fft.fft(x, 6))


def fft_axis_norm(x):
    return _wc(np.fft.fft(x, axis=0, norm="ortho"))


def rfft_n(x):
    return _wc(np.fft.rfft(x, n=3))


def irfft_n(x):
    return _w(np.fft.irfft(x, n=5))


def fft2_s(x):
    return _wc(np.fft.fft2(x, s=(2, 5)))


def fftn_s(x):
    return _wc(np.fft.fftn(x, s=(4, 3), axes=(0, 1)))


def quantile_keepdims(x):
    return _w(np.quantile(x, [0.2, 0.7], axis=1, keepdims=True))


def quantile_method(x):
    return _w(np.quantile(x, 0.3, axis=1, method="lower"))


def median_keepdims(x):
    return _w(np.median(x, axis=1, keepdims=True))


def nanpercentile_keepdims(x):
    return _w(np.nanpercentile(x, 40, axis=0, keepdims=True))


def vector_norm_keepdims(x):
    return _w(np.linalg.vector_norm(x, ord=3, axis=0, keepdims=True))


def norm_ord_axis(x):
    return np.linalg.norm(x, "nuc") + _w(np.linalg.norm(x, 1, axis=1, keepdims=True))


def partition_kth(x):
    return _w(np.partition(x, 2, axis=1)) + _w(np.partition(x, 1, axis=None))


def convolve_modes(a, v):
    return _w(np.convolve(a, v, mode="same")) + _w(np.convolve(a, v, "valid"))


def correlate_modes(a, v):
    return _w(np.correlate(a, v, "full")) + _w(np.correlate(a, v, mode="same"))


def signal_convolve_modes(a, v):
    same = scipy.signal.convolve(a, v, mode="same")
    return _w(same) + _w(scipy.signal.correlate(a, v, mode="valid", method="direct"))


def meshgrid_sparse(a, v):
    p, q = np.meshgrid(a, v, sparse=True, indexing="ij")
    return _w(p * q)


def linspace_endpoint_axis(a):
    return _w(np.linspace(a, a * a, 4, endpoint=False, axis=1))


def cov_options(x):
    return _w(np.cov(x, ddof=0)) + _w(np.cov(x, rowvar=False, bias=True))


def diff_prepend_append(x):
    return _w(np.diff(x, n=2, axis=0, prepend=x[:1] * 2.0, append=0.5))


def gradient_spacing_edge(x):
    return _w(np.gradient(x, 0.5, axis=1, edge_order=2))


def average_weights_returned(x):
    mean, total = np.average(x, axis=1, weights=x * x, returned=True)
    return _w(mean) + _w(total) + _w(np.average(x, axis=1, keepdims=True))


def take_modes(x):
    return _w(np.take(x, [0, 5, -7, 13], mode="wrap")) + _w(
        np.take(x, [[0, 5], [-7, 13]], axis=1, mode="clip")
    )


def trapezoid_x_dx(x):
    return _w(np.trapezoid(x, x=np.array([0.0, 1.0, 3.0, 3.5]))) + _w(
        np.trapezoid(x, dx=0.5, axis=0)
    )


def cross_axes(x):
    return _w(np.cross(x[:, :3], x[:, 1:], axisa=1, axisb=1, axisc=0))


def eigvalsh_upper(a):
    return _w(np.linalg.eigvalsh(np.triu(a), UPLO="U"))


def pinv_hermitian(a):
    return _w(np.linalg.pinv(a, hermitian=True))


def logsumexp_b_keepdims(x):
    return _w(scipy.special.logsumexp(x, axis=0, b=POS, keepdims=True))


def std_ddof_keepdims(x):
    return _w(np.std(x, axis=0, ddof=1, keepdims=True)) + _w(np.var(x, axis=(0, 1), ddof=2))


def roll_repeat_tile(x):
    return _w(np.roll(x, (1, -2), axis=(0, 1))) + _w(np.repeat(x, [1, 0, 2, 1], axis=1))


def cumulative_include_initial(x):
    return _w(np.cumulative_sum(x, axis=1, include_initial=True)) + _w(
        np.cumulative_prod(x, axis=0, include_initial=True)
    )


def convolve_longer_kernel(a, v):
    # NumPy swaps the operands when v is the longer (correlate conjugates and reverses too)
    return _w(np.convolve(a, v, mode="same")) + _w(np.correlate(a, v, mode="valid"))


def correlate_longer_kernel(v, a):
    return _w(np.correlate(a, v, mode="same")) + _w(np.correlate(a, v, "full"))


def pad_wider_than_the_array(x):
    wrapped = np.pad(x, ((4, 5), (0, 6)), mode="wrap")
    return _w(wrapped) + _w(np.pad(x, ((3, 4), (5, 1)), mode="symmetric"))


def negative_axes(x):
    return (
        _w(np.sum(x, axis=-1))
        + _w(np.var(x, axis=-1, keepdims=True))
        + _w(np.quantile(x, 0.3, axis=-2))
        + _w(np.sort(x, -2))
        + _w(np.cumsum(x, -2))
    )


def sum_where_in_forward(x):
    return _w(np.sum(x, axis=(1, 0), keepdims=True)) + _w(np.cumsum(x, axis=None))


def sum_where(x):
    # (where= reads only the elements the mask holds: the others get no gradient)
    return _w(np.sum(x, axis=0, where=X > 0))


def mean_where(x):
    return _w(np.mean(x, axis=1, keepdims=True, where=X > 0)) + _w(np.mean(x, where=X < 0.5))


def sum_initial(x):
    # (initial adds to every sum: more in tests/test_reduction_options.py)
    return _w(np.sum(x, axis=0, initial=2.0))


def max_where(x):
    return _w(np.max(x, axis=0, where=X > 0, initial=-5.0))


ARGUMENT_CASES = [
    (fft_n_short, (X,)),
    (fft_n_long, (X,)),
    (fft_axis_norm, (X,)),
    (rfft_n, (X,)),
    (irfft_n, (X,)),
    (fft2_s, (X,)),
    (fftn_s, (X,)),
    (quantile_keepdims, (X,)),
    (quantile_method, (X,)),
    (median_keepdims, (X,)),
    (nanpercentile_keepdims, (X,)),
    (vector_norm_keepdims, (X,)),
    (norm_ord_axis, (X,)),
    (partition_kth, (X,)),
    (convolve_modes, (V, U)),
    (correlate_modes, (V, U)),
    (signal_convolve_modes, (V, U)),
    (meshgrid_sparse, (V, U)),
    (linspace_endpoint_axis, (U,)),
    (cov_options, (X,)),
    (diff_prepend_append, (X,)),
    (gradient_spacing_edge, (X,)),
    (average_weights_returned, (X,)),
    (take_modes, (X,)),
    (trapezoid_x_dx, (X,)),
    (cross_axes, (X,)),
    (eigvalsh_upper, (SYM,)),
    (pinv_hermitian, (SYM,)),
    (logsumexp_b_keepdims, (X,)),
    (std_ddof_keepdims, (X,)),
    (roll_repeat_tile, (X,)),
    (cumulative_include_initial, (X,)),
    (sum_where_in_forward, (X,)),
    (sum_where, (X,)),
    (mean_where, (X,)),
    (sum_initial, (X,)),
    (max_where, (X,)),
    (convolve_longer_kernel, (U, V)),
    (correlate_longer_kernel, (V, U)),
    (pad_wider_than_the_array, (X,)),
    (negative_axes, (X,)),
]


@pytest.mark.parametrize("f, args", ARGUMENT_CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_arguments_that_change_values(f, args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        check(f, args, modes=("source", "tape"))


# -- arguments refused ---------------------------------------------------------------------------


def var_correction(x):
    return _w(np.var(x, axis=0, correction=1))


def cov_fweights(x):
    return _w(np.cov(x, fweights=np.array([1, 2, 1, 3])))


def interp_period(x):
    knots = np.array([0.0, 1.0, 2.0])
    return _w(np.interp(np.array([-1.0, 0.5, 9.0]), knots, x[0, :3], period=3.0))


def sqrt_dtype(x):
    return _w(np.sqrt(x * x + 1.0, dtype=np.float32))


def pinv_rcond(a):
    return _w(np.linalg.pinv(a, rcond=0.01))


def pinv_rtol(a):
    return _w(np.linalg.pinv(a, rtol=0.01))


def lstsq_rcond(a, b):
    return _w(np.linalg.lstsq(a, b, rcond=0.01)[0])


def logsumexp_sign(x):
    value, sign = scipy.special.logsumexp(x, axis=1, b=POS - 1.0, return_sign=True)
    return _w(value * sign)


def pad_linear_ramp(x):
    return _w(np.pad(x, 1, mode="linear_ramp", end_values=2.0))


# (function, arguments, what each mode raises: error type and a pattern of its message)
UNHANDLED = (TransformError, TypeError), "correction|fweights|period|dtype"
REFUSED = [
    (var_correction, (X,), UNHANDLED),
    (cov_fweights, (X,), UNHANDLED),
    (interp_period, (X,), UNHANDLED),
    (sqrt_dtype, (X,), UNHANDLED),
    (pinv_rcond, (NEAR_RANK_2,), (NotImplementedError, "rcond")),
    (pinv_rtol, (NEAR_RANK_2,), (NotImplementedError, "rcond")),
    (lstsq_rcond, (NEAR_RANK_2, V[:4]), (NotImplementedError, "rcond")),
    (pad_linear_ramp, (X,), (NotImplementedError, "linear_ramp")),
    (logsumexp_sign, (X,), (NotImplementedError, "return_sign")),
]


@pytest.mark.parametrize("f, args, error", REFUSED, ids=lambda c: getattr(c, "__name__", ""))
def test_arguments_refused(f, args, error):
    """Every mode raises, naming the argument, where the rule cannot follow it; none
    returns a number."""
    kind, pattern = error
    tangents = (np.ones_like(args[0]),) + (None,) * (len(args) - 1)
    for mode in ("source", "auto", "tape"):
        with pytest.raises(kind, match=pattern):
            ag.grad(f, mode=mode)(*args)
        with pytest.raises(kind, match=pattern):
            ag.jvp(f, args, tangents, mode=mode)


def pinv_small_rcond(a):
    return _w(np.linalg.pinv(a, rcond=1e-10))


def lstsq_small_rcond(a, b):
    return _w(np.linalg.lstsq(a, b, rcond=1e-10)[0])


def test_an_rcond_that_cuts_nothing_is_differentiated():
    """The refusals above are for a cut that drops a singular value the matrix has: with
    an rcond below all of them, the gradient is the pseudo-inverse's."""
    check(pinv_small_rcond, (X.T,), modes=("source", "tape"))
    check(lstsq_small_rcond, (X.T, V[:4]), modes=("source", "tape"))


# -- results computed in integers ----------------------------------------------------------------


def sum_in_integers(x):
    return _w(np.sum(x * 10.0, axis=0, dtype=int) + x[0])


def asarray_in_integers(x):
    return _w(np.asarray(x * 10.0, dtype=np.int64) + x)


def cumsum_in_integers(x):
    return _w(np.cumsum(x * 10.0, 1, "int32") + x)


def stack_in_integers(x):
    return _w(np.stack([x * 10.0, POS], dtype=int, casting="unsafe")[0] + x)


def einsum_in_integers(x):
    return _w(np.einsum("ij->j", x * 10.0, dtype=int, casting="unsafe") + x[0])


def sum_in_a_dtype_known_at_run_time(x):
    return _w(np.sum(x, axis=1, dtype=x.dtype))


def sum_in_floats(x):
    return _w(np.sum(x, axis=1, dtype=np.float64)) + _w(np.mean(x, 0, float))


@pytest.mark.parametrize(
    "f",
    [
        sum_in_integers,
        asarray_in_integers,
        cumsum_in_integers,
        stack_in_integers,
        einsum_in_integers,
    ],
    ids=lambda f: f.__name__,
)
def test_results_in_integers_carry_no_gradient(f):
    """``dtype=int`` makes the result integers, which carry no gradient: the tape (and
    auto mode, through it) gives none; generated code, whose rules are written for float
    results, refuses, in reverse and forward mode."""
    check(f, (X,), modes=("auto", "tape"), forward=("auto", "tape"))
    with pytest.raises(TransformError, match="dtype"):
        ag.grad(f, mode="source")(X)
    with pytest.raises(TransformError, match="dtype"):
        ag.jvp(f, (X,), (np.ones_like(X),), mode="source")


def sum_in_the_dtype_of(x, like):
    return _w(np.sum(x * 10.0, axis=1, dtype=like.dtype) + x[:, 0])


def test_float_dtypes_stay_in_source():
    check(sum_in_floats, (X,))
    # a dtype the transform cannot read: through the tape in auto mode; in source mode,
    # generated code that checks the result's dtype at run time (reverse mode; forward
    # source mode refuses it)
    check(sum_in_a_dtype_known_at_run_time, (X,), forward=("auto",))
    with pytest.raises(TransformError, match="dtype"):
        ag.jvp(sum_in_a_dtype_known_at_run_time, (X,), (np.ones_like(X),), mode="source")
    assert "inexact_result(" in ag.source(sum_in_a_dtype_known_at_run_time, X, mode="source")


def test_a_computed_integer_dtype_is_refused_at_run_time():
    """``dtype=like.dtype`` with an integer ``like``: the result is integers, which carry
    no gradient; generated code raises, naming the line, where the rule would give one
    (the tape, in auto mode, gives none)."""
    check(sum_in_the_dtype_of, (X, X), forward=())
    ints = np.arange(4)
    with pytest.raises(TypeError, match=r"test_rule_arguments\.py:\d+: the dtype= computed .* int"):
        ag.grad(sum_in_the_dtype_of, mode="source")(X, ints)
    expected = differences(sum_in_the_dtype_of, (X, ints))
    assert_close(ag.grad(sum_in_the_dtype_of, mode="auto")(X, ints), expected, atol=1e-8)


# -- every rule's parameters, reviewed -----------------------------------------------------------
# A rule's vjp takes its function's parameters. One it takes but never reads is either
# differentiated (its gradient is written from the result) or an option: each option
# unread is listed here with why that is right, so that a new rule that ignores an option
# changing the values fails here until it handles, refuses or justifies it. (Options a
# rule does not take at all are refused by binding: the tape's "does not handle the
# argument(s)", the transform's TransformError; test_arguments_refused checks some.)

#: options no rule needs to read, whatever the function
_LAYOUT_AND_CHECKS = {
    "out": "out= is refused: the tape and the transform both stop at it",
    "dtype": "a float dtype casts only; an integer one is refused (inline.check_result_dtype), "
    "a computed one checked at run time (runtime.dtype_guard)",
    "casting": "decides only whether a cast is allowed",
    "copy": "decides only whether memory is shared",
    "device": "the array's device, not its values",
    "like": "the array type, not its values",
    "subok": "the array subclass, not its values",
    "check_finite": "decides only whether non-finite input raises",
    "overwrite_a": "decides only whether input memory may be reused",
    "overwrite_b": "decides only whether input memory may be reused",
    "overwrite_input": "decides only whether input memory may be reused",
    "kind": "the sorting algorithm: the same order (ties too, for the stable sort the rule uses)",
    "stable": "the same order, as kind",
    "optimize": "the order of contractions, not the result",
}
_SHAPE = "the result's shape says it, and the rule reads that shape"
REVIEWED = {
    ("fft", "n"): _SHAPE + " (cut or padded: fft_n_short, fft_n_long)",
    ("ifft", "n"): _SHAPE,
    ("fft2", "s"): _SHAPE + " (fft2_s)",
    ("ifft2", "s"): _SHAPE,
    ("nan_to_num", "nan"): "what replaces a NaN is a constant: no gradient either way",
    ("nan_to_num", "posinf"): "a constant, as nan",
    ("nan_to_num", "neginf"): "a constant, as nan",
    ("real_if_close", "tol"): "decides only whether the imaginary part goes, as the result shows",
    ("reshape", "shape"): _SHAPE,
    ("squeeze", "axis"): _SHAPE,
    ("expand_dims", "axis"): _SHAPE,
    ("broadcast_to", "shape"): _SHAPE,
    ("copy", "order"): "the memory layout of a copy: the same values",
    ("split", "indices_or_sections"): _SHAPE + " (of each part)",
    ("array_split", "indices_or_sections"): _SHAPE + " (of each part)",
    ("hsplit", "indices_or_sections"): _SHAPE + " (of each part)",
    ("vsplit", "indices_or_sections"): _SHAPE + " (of each part)",
    ("dsplit", "indices_or_sections"): _SHAPE + " (of each part)",
    ("pad", "end_values"): "read only by mode='linear_ramp', which is refused",
    ("pad", "stat_length"): "read only by the statistic modes, which are refused",
    ("quantile", "keepdims"): _SHAPE + " (quantile_keepdims)",
    ("percentile", "keepdims"): _SHAPE,
    ("median", "keepdims"): _SHAPE + " (median_keepdims)",
    ("nanquantile", "keepdims"): _SHAPE,
    ("nanpercentile", "keepdims"): _SHAPE + " (nanpercentile_keepdims)",
    ("nanmedian", "keepdims"): _SHAPE,
    ("unwrap", "discont"): "adds multiples of the period: its gradient is the identity",
    ("unwrap", "axis"): "as discont",
    ("unwrap", "period"): "as discont",
    ("einsum", "order"): "the memory layout of the result: the same values",
    ("svd", "full_matrices"): "the rule works from the results, whose shapes say it",
    ("vector_norm", "keepdims"): _SHAPE + " (vector_norm_keepdims)",
    ("lstsq_parts", "rank"): "an integer result of lstsq, which carries no gradient",
    ("sort", "order"): "field names of structured arrays, which carry no gradient",
    ("partition", "kth"): "the result says where each element went (partition_kth)",
    ("partition", "order"): "as sort's",
    ("array", "order"): "the memory layout: the same values",
    ("array", "ndmin"): _SHAPE,
    ("array", "ndmax"): "how deep nested lists are read: the result's shape says it",
    ("asarray", "order"): "the memory layout: the same values",
    ("meshgrid", "sparse"): _SHAPE + " (meshgrid_sparse)",
    ("grid_tangent", "sparse"): "meshgrid's, as above",
    ("grid_tangent", "x0"): "the tangents of meshgrid's arrays, read through the contributions",
    ("grid_tangent", "x1"): "as x0",
    ("grid_tangent", "x2"): "as x0",
    ("grid_tangent", "x3"): "as x0",
    ("convolve", "mode"): _SHAPE + " (convolve_modes, correlate_modes)",
    ("correlate", "mode"): _SHAPE,
    ("signal_convolve", "mode"): _SHAPE + " (signal_convolve_modes)",
    ("signal_convolve", "method"): "direct or FFT: the same values up to rounding",
    ("signal_correlate", "mode"): _SHAPE,
    ("signal_correlate", "method"): "as signal_convolve's",
    ("multivariate_normal_logpdf", "allow_singular"): "decides only whether a singular "
    "covariance raises",
    ("multivariate_normal_pdf", "allow_singular"): "as logpdf's",
    # helpers of generated gradient code (runtime/rules/helper_rules.py): the argument
    # names the shape (and dtype) the result takes, and the result has it
    ("unbroadcast", "x"): _SHAPE,
    ("expand_reduced", "x"): _SHAPE,
    ("reshape_like", "x"): _SHAPE,
    ("cast_like", "x"): _SHAPE + " (and the dtype: cast_like_vjp reads the result's)",
    ("matmul_grad_left", "x"): _SHAPE,
    ("matmul_grad_right", "y"): _SHAPE,
    ("dot_grad_left", "a"): _SHAPE,
    ("dot_grad_right", "b"): _SHAPE,
    ("cumsum_grad", "a"): _SHAPE,
    ("trace_grad", "a"): _SHAPE,
}

for _group in _helper_groups():
    REVIEWED.update(_group.REVIEWED)


def test_every_option_a_rule_does_not_read_is_reviewed():
    import scipy.linalg  # noqa: F401  (their rules load once SciPy's modules are imported)
    import scipy.special  # noqa: F401
    import scipy.stats  # noqa: F401
    from astgrad.runtime.rules import all_rules

    unreviewed = []
    for rule in all_rules():
        template = rule.template
        if template is None or not rule.vjp.__module__.startswith("astgrad.runtime.rules"):
            continue
        for position, param in enumerate(rule.param_names):
            differentiated = (
                position < len(template.outputs) and template.outputs[position] is not None
            )
            if differentiated or param in template.names_read or param in _LAYOUT_AND_CHECKS:
                continue
            if (rule.name, param) not in REVIEWED:
                unreviewed.append(f"{rule.name}({param}=...)")
    assert not unreviewed, f"options rules take but never read, not reviewed: {unreviewed}"

"""Rules that gave wrong numbers or crashed (soundness issue, item 11).

Each case is checked in all three modes against central finite differences: a number
astgrad returns must be right, and where it cannot be, the error says so clearly.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from numeric import assert_close, numeric_vjp

import astgrad as ag

MODES = ("source", "auto", "tape")
RNG = np.random.default_rng(7)
A = RNG.standard_normal((2, 3))
B = RNG.standard_normal((3, 4))
V = RNG.standard_normal(3)
W = RNG.standard_normal(2)


def check(f, args, wrt=0, modes=MODES):
    """Every gradient of ``f`` in ``wrt`` matches finite differences, in every mode."""
    positions = wrt if isinstance(wrt, tuple) else (wrt,)
    expected = [numeric_vjp(f, list(args), p, 1.0) for p in positions]
    for mode in modes:
        got = ag.grad(f, wrt=wrt, mode=mode)(*args)
        got = got if isinstance(wrt, tuple) else (got,)
        for p, actual, wanted in zip(positions, got, expected):
            assert_close(actual, wanted, what=f"{f.__name__}, argument {p}, mode {mode}")


# -- np.einsum's interleaved form ---------------------------------------------------------


def einsum_interleaved(a, b):
    return np.sum(np.einsum(a, [0, 1], b, [1, 2], [0, 2]) ** 2)


def einsum_interleaved_implicit(a, b):
    # No output sublist: labels that appear once, in increasing order (here [0, 2]).
    return np.sum(np.sin(np.einsum(a, [0, 1], b, [1, 2])))


def einsum_interleaved_three(a, b, v):
    return np.einsum(a, [0, 1], b, [1, 2], v[:2], [0], [2]).sum() ** 2


def einsum_interleaved_ellipsis(a, b):
    return np.sum(np.einsum(a, [Ellipsis, 1], b, [1, 27], [Ellipsis, 27]) ** 2)


def einsum_string(a, b):
    return np.sum(np.einsum("ij,jk->ik", a, b) ** 2)


@pytest.mark.parametrize(
    "f",
    [einsum_interleaved, einsum_interleaved_implicit, einsum_interleaved_ellipsis, einsum_string],
)
def test_einsum_interleaved_form(f):
    check(f, (A, B), wrt=(0, 1))


def test_einsum_interleaved_three_operands():
    check(einsum_interleaved_three, (A, B, V), wrt=(0, 1, 2))


def test_einsum_interleaved_on_tensors():
    a = ag.tensor(A, requires_grad=True)
    b = ag.tensor(B, requires_grad=True)
    np.einsum(a, [0, 1], b, [1, 2]).sum().backward()
    assert_close(a.grad, np.broadcast_to(B.sum(axis=1), A.shape))
    assert_close(b.grad, np.broadcast_to(A.sum(axis=0)[:, None], B.shape))


# -- np.power(x, 0) at x = 0 --------------------------------------------------------------


def power_zero(x):
    return np.sum(np.power(x, 0.0) * x + x**0 * x**2)


def power_zero_number(x):
    return np.power(x, 0.0) * x + x**0.0


def power_variable_exponent(x, n):
    return np.sum(x**n * 3.0)


def float_power_zero(x):
    return np.sum(np.float_power(x, 0.0) * x)


def math_pow_zero(x):
    return math.pow(x, 0.0) * x


def test_power_zero_at_zero():
    # x ** 0 is 1 everywhere, its slope 0 even at 0 (was NaN on the tape and in source
    # with arrays, ZeroDivisionError in source with floats)
    check(power_zero, (np.array([0.0, 1.5, -2.0]),))
    check(float_power_zero, (np.array([0.0, 1.5]),))
    for x in (0.0, 1.5):
        check(power_zero_number, (x,))
        check(math_pow_zero, (x,))


def test_power_with_an_exponent_that_is_zero_at_run_time():
    x = np.array([0.0, 2.0])
    check(power_variable_exponent, (x, 0.0))
    check(power_variable_exponent, (x, 2.0))
    check(power_variable_exponent, (np.array([0.5, 2.0]), 1.5), wrt=(0, 1))


def test_power_gradients_still_read_as_written():
    # The exponent lowered by one folds as before: x ** 2 gives 2 * x, no comparison left.
    text = ag.source(power_zero)
    assert "!=" not in text
    assert "x ** -1" not in text


# -- reductions of a Python float ------------------------------------------------------------


def max_of_float(x):
    return np.max(x) * x + np.amax(x)


def min_of_float(x):
    return np.min(x) * x + np.amin(x)


def var_of_float(x):
    return np.var(x) + x * np.std(x) + x


def mean_and_prod_of_float(x):
    return np.mean(x) * np.prod(x)


def nanmean_of_float(x):
    return np.nanmean(x) * x


def squeeze_of_float(x):
    return np.squeeze(x) * x


def inner_with_floats(x):
    return np.inner(x, 0.7) * x + np.inner(0.3, x)


def tensordot_of_floats(x):
    return np.tensordot(x, x, 0) * 1.0


def cast_of_float(x):
    return np.asarray(x).astype(np.float64) * x


FLOAT_RULES = [
    max_of_float,
    min_of_float,
    var_of_float,
    mean_and_prod_of_float,
    nanmean_of_float,
    squeeze_of_float,
    inner_with_floats,
    tensordot_of_floats,
    cast_of_float,
]


@pytest.mark.parametrize("f", FLOAT_RULES)
def test_rules_given_a_python_float(f):
    check(f, (1.5,))
    for mode in MODES:
        assert type(ag.grad(f, mode=mode)(1.5)) is float


# -- joining one array ----------------------------------------------------------------------


def _weights(shape):
    return np.arange(1.0, 1.0 + np.prod(shape)).reshape(shape)


def vstack_list_of_one(x):
    s = np.vstack([x])
    return np.sum(s**2 * _weights(s.shape))


def hstack_tuple_of_one(x):
    s = np.hstack((x,))
    return np.sum(s**2 * _weights(s.shape))


def column_stack_of_one(x):
    s = np.column_stack([x])
    return np.sum(s**2 * _weights(s.shape))


def vstack_of_an_array(x):
    s = np.vstack(x)  # the rows of x joined: the sequence is the array itself
    return np.sum(s**2 * _weights(s.shape))


def hstack_of_an_array(x):
    s = np.hstack(x)
    return np.sum(s**2 * _weights(s.shape))


def column_stack_of_an_array(x):
    s = np.column_stack(x)
    return np.sum(s**2 * _weights(s.shape))


def dstack_of_an_array(x):
    s = np.dstack(x)
    return np.sum(s**2 * _weights(s.shape))


def stack_of_an_array(x):
    s = np.stack(x, axis=-1)
    return np.sum(s**2 * _weights(s.shape))


def concatenate_of_an_array(x):
    s = np.concatenate(x)
    return np.sum(s**2 * _weights(s.shape))


JOINS = [
    vstack_list_of_one,
    hstack_tuple_of_one,
    column_stack_of_one,
    vstack_of_an_array,
    hstack_of_an_array,
    column_stack_of_an_array,
    dstack_of_an_array,
    stack_of_an_array,
]


@pytest.mark.parametrize("f", JOINS)
@pytest.mark.parametrize("x", [V, A], ids=["1-d", "2-d"])
def test_joining_one_array(f, x):
    check(f, (x,))


def test_concatenating_the_rows_of_an_array():
    check(concatenate_of_an_array, (A,))


def row_stack_of_one(x):
    return np.sum(np.row_stack([x]) ** 2)


@pytest.mark.skipif(not hasattr(np, "row_stack"), reason="np.row_stack left NumPy in 2.3")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_row_stack_runs_on_the_tape():
    # np.row_stack (deprecated) has no rule: source mode says so, auto runs it on the tape
    with pytest.raises(ag.TransformError, match="np.row_stack"):
        ag.grad(row_stack_of_one, mode="source")(V)
    check(row_stack_of_one, (V,), modes=("auto", "tape"))


# -- np.diff with an empty result --------------------------------------------------------------


def diff_of_one(x):
    return np.sum(np.diff(x)) + np.sum(x**2)


def diff_of_high_order(x):
    return np.sum(np.diff(x, n=3)) + np.sum(x**3)


def diff_empty_with_prepend(x, p):
    return np.sum(np.diff(x[:0], prepend=p[:0])) + np.sum(x * p)


def test_diff_with_an_empty_result():
    check(diff_of_one, (np.array([1.5]),))
    check(diff_of_high_order, (np.array([1.5, -2.0]),))
    check(diff_empty_with_prepend, (V, V * 2), wrt=(0, 1))


# -- np.clip with bounds that broadcast the input ---------------------------------------------


def clip_broadcast_lower(x, lo):
    return np.sum(np.clip(x, lo, 0.5) ** 2)


def clip_broadcast_both(x, lo, hi):
    return np.sum(np.clip(x, lo, hi) ** 2 * np.arange(6.0).reshape(2, 3))


def clip_numbers(x):
    return np.sum(np.clip(x, -0.5, None) ** 2)


def test_clip_bounds_that_broadcast_the_input():
    x = np.array([0.1, -0.3, 0.7])
    lo = np.array([[-0.2, 0.1, -1.0], [0.3, -0.5, 0.0]])
    check(clip_broadcast_lower, (x, lo), wrt=(0, 1))
    check(clip_broadcast_both, (x, lo, np.array([[0.6], [0.2]])), wrt=(0, 1, 2))
    check(clip_numbers, (x,))


def test_clip_by_numbers_reads_without_unbroadcast():
    assert "unbroadcast" not in ag.source(clip_numbers)


# -- np.matrix ---------------------------------------------------------------------------------


def sum_of_squares(x):
    return np.sum(x * x)


def product_with(x, m):
    return np.sum(x * m)


with warnings.catch_warnings():
    warnings.simplefilter("ignore", PendingDeprecationWarning)  # (NumPy's advice, exactly)
    MATRIX = np.matrix([[1.0, 2.0], [3.0, 4.0]])


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
@pytest.mark.parametrize("mode", MODES)
def test_matrix_arguments_are_refused(mode):
    # x * x of a matrix is a matrix product: a gradient by ndarray's rules would be wrong
    with pytest.raises(TypeError, match=r"np\.matrix.* Use an ndarray instead: np\.asarray"):
        ag.grad(sum_of_squares, mode=mode)(MATRIX)
    with pytest.raises(TypeError, match=r"is an np\.matrix"):
        ag.grad(product_with, mode=mode)(np.ones((2, 2)), MATRIX)
    # a matrix that is neither differentiated nor returned, nor reaches a rule's helper
    with pytest.raises(TypeError, match=r"argument 1 is an np\.matrix"):
        ag.grad(squares_scaled_by, mode=mode)(np.ones(2), MATRIX)
    with pytest.raises(TypeError, match=r"argument 1 is an np\.matrix"):
        ag.vjp(squares_scaled_by, np.ones(2), MATRIX, mode=mode)


def squares_scaled_by(x, m):
    return np.sum((m * x) ** 2)


def test_matrix_tensors_are_refused():
    assert type(ag.tensor(MATRIX).data) is np.ndarray  # a copy, as np.array makes it
    with pytest.raises(TypeError, match=r"np\.matrix"):
        ag.Tensor(MATRIX)  # wraps without copying
    with pytest.raises(TypeError, match=r"np\.matrix"):
        ag.ones(2, 2, requires_grad=True) * MATRIX
    with pytest.raises(TypeError, match=r"np\.matrix"):
        np.dot(ag.ones(2, 2, requires_grad=True), MATRIX)


# -- a dict built by dict(...) and given to a helper ------------------------------------------


def dict_helper(d):
    return np.sum(d["a"] * d["b"]) + np.sum(np.sin(d["a"]))


def dict_built_by_call(x):
    d = dict(a=x, b=2 * x)
    return dict_helper(d)


def dict_built_by_display(x):
    d = {"a": x, "b": x**2}
    return dict_helper(d)


def test_dict_call_given_to_a_helper():
    # dict(...) runs on the tape (source mode refuses it); the helper, generated, reads
    # the dict's entries and sends their gradients back as a dict (it raised IndexError)
    with pytest.raises(ag.TransformError, match="dict"):
        ag.grad(dict_built_by_call, mode="source")(V)
    check(dict_built_by_call, (V,), modes=("auto", "tape"))
    check(dict_built_by_display, (V,))


# -- np.r_ and np.c_ ---------------------------------------------------------------------------


def r_join(a, b):
    return np.sum(np.r_[a, b] ** 2)


def c_join(a, b):
    return np.sum(np.c_[a, b] ** 2)


@pytest.mark.parametrize("f", [r_join, c_join])
def test_index_tricks_on_the_tape_say_what_to_use(f):
    with pytest.raises(ag.GradientLostError, match=r"np\.r_\[\.\.\.\] or np\.c_\[\.\.\.\]"):
        ag.grad(f, mode="tape")(V, V)

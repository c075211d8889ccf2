"""``initial=`` and ``where=`` of NumPy's reductions (np.sum, np.prod, np.max, np.min,
np.amax, np.amin, their array methods, and ``np.add.reduce``/``np.maximum.reduce``...).

``initial`` adds to a sum, multiplies a product, and takes part in a max or min as one
more element; ``where`` leaves elements out. Each case is checked in every mode (source,
auto, tape) and in forward mode (``ag.jvp``, source and tape) against central finite
differences in float64, second derivatives (``ag.hvp``) against differences of the
gradient; ties and empty masks against the documented sharing. Generated code for a call
that passes neither is what it was before the rules took them (tests/golden holds it).
"""

from __future__ import annotations

import numpy as np
import pytest
from numeric import assert_close

import astgrad as ag

try:
    import scipy.special
except ImportError:  # (SciPy is an optional extra: its part of a test skips without it)
    scipy = None

RNG = np.random.default_rng(5)
X = RNG.standard_normal((3, 4))
POSITIVE = RNG.uniform(0.5, 1.5, (3, 4))
MASK = X > 0
MASK[:, 1] = False  # a column with no element reduced: its result is initial alone
NANS = np.where(RNG.uniform(size=(3, 4)) < 0.25, np.nan, 0.0)


def _w(y):
    """A weighted sum: every element of ``y`` counts differently."""
    return np.sum(y * np.cos(np.arange(np.size(y)) + 0.5).reshape(np.shape(y)))


def differences(f, args, index=0, eps=1e-6):
    x = args[index]
    if isinstance(x, float):
        up = list(args)
        down = list(args)
        up[index], down[index] = x + eps, x - eps
        return (f(*up) - f(*down)) / (2 * eps)
    grad = np.zeros(np.shape(x))
    for i in np.ndindex(*np.shape(x)):
        values = []
        for step in (eps, -eps):
            moved = list(args)
            moved[index] = x.copy()
            moved[index][i] += step
            values.append(f(*moved))
        grad[i] = (values[0] - values[1]) / (2 * eps)
    return grad


def check(f, args, modes=("source", "auto", "tape"), forward=("source", "tape")):
    """``f``'s gradient in its first argument in every mode, and its derivative along a
    direction in forward mode, against central differences."""
    expected = differences(f, args)
    for mode in modes:
        got = ag.grad(f, mode=mode)(*args)
        assert_close(got, expected, rtol=1e-6, atol=1e-8, what=f"{f.__name__}, mode {mode}")
    direction = np.cos(1.3 * np.arange(np.size(args[0]))).reshape(np.shape(args[0]))
    for mode in forward:
        tangents = (direction,) + (None,) * (len(args) - 1)
        _, got = ag.jvp(f, args, tangents, mode=mode)
        want = np.sum(expected * direction)
        assert_close(got, want, rtol=1e-6, atol=1e-8, what=f"{f.__name__}, jvp mode {mode}")


# -- the cases ---------------------------------------------------------------------------------


def sum_initial(x):
    return _w(np.sum(x, axis=0, initial=2.0))


def sum_initial_where_positional(x):
    # np.sum(a, axis, dtype, out, keepdims, initial, where)
    return _w(np.sum(x, 1, None, None, True, 2.0, MASK))


def sum_method_initial(x):
    return _w(x.sum(axis=1, initial=-1.0, where=MASK)) + _w(x.sum(initial=0.5))


def prod_initial(x):
    return _w(np.prod(x, axis=1, initial=1.5))


def prod_initial_where(x):
    return _w(np.prod(x, axis=0, initial=0.7, where=MASK)) + _w(np.prod(x, where=MASK))


def prod_method(x):
    return _w(x.prod(axis=0, keepdims=True, initial=2.0, where=MASK))


def max_where(x):
    return _w(np.max(x, axis=0, where=MASK, initial=-5.0))


def max_initial_wins_some(x):
    # (initial 0.3 is the maximum of some rows, not of others)
    return _w(np.max(x, axis=1, initial=0.3))


def max_initial_positional(x):
    # np.max(a, axis, out, keepdims, initial, where)
    return _w(np.max(x, 0, None, True, -0.2, MASK))


def min_initial_where(x):
    return _w(np.min(x, axis=0, keepdims=True, initial=0.1, where=~MASK))


def amax_amin(x):
    return _w(np.amax(x, initial=3.0)) + _w(np.amin(x, 1, None, False, -0.2))


def method_max_min(x):
    return _w(x.max(axis=1, initial=0.0, where=MASK)) + _w(x.min(initial=-0.4, where=~MASK))


def ufunc_reduce_initial(x):
    # np.add.reduce and np.maximum.reduce reduce axis 0 unless told otherwise
    return _w(np.add.reduce(x, initial=1.0)) + _w(np.maximum.reduce(x, 1, initial=0.2))


def nansum_initial_where(x):
    with_nan = np.where(np.isnan(NANS), NANS, x)
    return _w(np.nansum(with_nan, axis=0, initial=1.5, where=MASK)) + _w(np.nansum(with_nan, 1))


def plain_reductions(x):
    # no initial, no where: as before
    return _w(np.max(x, axis=1)) + _w(np.sum(x, 0)) + _w(np.prod(x, axis=(0, 1)))


CASES = [
    (sum_initial, (X,)),
    (sum_initial_where_positional, (X,)),
    (sum_method_initial, (X,)),
    (prod_initial, (X,)),
    (prod_initial_where, (X,)),
    (prod_method, (X,)),
    (max_where, (X,)),
    (max_initial_wins_some, (X,)),
    (max_initial_positional, (X,)),
    (min_initial_where, (X,)),
    (amax_amin, (X,)),
    (method_max_min, (X,)),
    (nansum_initial_where, (X,)),
    (plain_reductions, (X,)),
]


@pytest.mark.parametrize("f, args", CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_initial_and_where_against_differences(f, args):
    check(f, args)


def test_ufunc_reduce_takes_initial_on_the_tape():
    """``np.add.reduce``/``np.maximum.reduce`` on tensors record through np.sum's and
    np.max's rules, along axis 0 by default as NumPy reduces (the transform refuses them,
    by name)."""
    check(ufunc_reduce_initial, (X,), modes=("auto", "tape"), forward=("tape",))


# -- initial as a differentiated argument ------------------------------------------------------


def sum_of_initial(c, x):
    return _w(np.sum(x, axis=0, initial=c * c))


def prod_of_initial(c, x):
    return _w(np.prod(x, axis=1, initial=np.sin(c), where=MASK))


def max_of_initial(c, x):
    return _w(np.max(x, axis=1, initial=c, where=MASK)) + _w(np.min(x, initial=c - 2.0))


@pytest.mark.parametrize("f", [sum_of_initial, prod_of_initial, max_of_initial])
def test_gradient_with_respect_to_initial(f):
    """``initial`` computed from the argument differentiated: its gradient is the
    cotangents' sum (sum), times the products (prod), or where it is the extremum, the
    array reduced a plain one or differentiated too."""
    c = 0.5  # the maximum of row 0 (of the elements the mask holds), and below the minimum
    expected = differences(f, (c, X))
    assert expected != 0.0
    for mode in ("source", "auto", "tape"):
        got = ag.grad(f, mode=mode)(c, X)
        assert_close(got, expected, rtol=1e-6, atol=1e-8, what=f"{f.__name__} {mode}")
        got = ag.grad(f, wrt=(0, 1), mode=mode)(c, X)[0]
        assert_close(got, expected, rtol=1e-6, atol=1e-8, what=f"{f.__name__} {mode}")
    for mode in ("source", "tape"):
        _, got = ag.jvp(f, (c, X), (1.0, None), mode=mode)
        assert_close(got, expected, rtol=1e-6, atol=1e-8, what=f"{f.__name__} jvp {mode}")


# -- ties and empty masks ----------------------------------------------------------------------

TIED = np.array([[0.5, 0.2, 0.5], [0.1, 0.3, -0.4]])


def max_ties_initial(x, c):
    return np.sum(np.max(x, axis=1, initial=c) * np.array([1.0, 2.0]))


@pytest.mark.parametrize("mode", ["source", "auto", "tape"])
def test_initial_that_wins_gives_the_elements_nothing(mode):
    """max(x, initial=c) where c is larger than every element: x gets no gradient,
    initial all of it; where c ties with elements, the cotangent is shared equally among
    them and initial (as among tied elements)."""
    grad = ag.grad(max_ties_initial, wrt=(0, 1), mode=mode)
    dx, dc = grad(TIED, 0.9)
    np.testing.assert_array_equal(dx, np.zeros_like(TIED))
    assert dc == pytest.approx(3.0)
    dx, dc = grad(TIED, 0.5)  # row 0: two elements and initial tie; row 1: initial wins
    np.testing.assert_allclose(dx, [[1 / 3, 0.0, 1 / 3], [0.0, 0.0, 0.0]])
    assert dc == pytest.approx(1 / 3 + 2.0)
    dx, dc = grad(TIED, -1.0)  # initial below everything: the plain max
    np.testing.assert_allclose(dx, [[0.5, 0.0, 0.5], [0.0, 2.0, 0.0]])
    assert dc == 0.0


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_tangent_at_ties_is_the_mean_of_the_tied(mode):
    """Forward mode shares as reverse mode does: the tangent of a tied maximum is the mean
    of the tied elements' (and initial's) tangents."""
    dx = np.array([[3.0, 7.0, 6.0], [1.0, 1.0, 1.0]])
    _, tangent = ag.jvp(max_ties_initial, (TIED, 0.5), (dx, 0.0), mode=mode)
    assert tangent == pytest.approx((3.0 + 6.0 + 0.0) / 3 + 2.0 * 0.0)
    _, tangent = ag.jvp(max_ties_initial, (TIED, 0.5), (np.zeros_like(TIED), 1.0), mode=mode)
    assert tangent == pytest.approx(1 / 3 + 2.0)


def empty_mask(x):
    nothing = np.zeros(np.shape(x), dtype=bool)
    return (
        np.sum(np.max(x, axis=0, initial=0.25, where=nothing))
        + np.sum(np.prod(x, axis=1, initial=2.0, where=nothing))
        + np.sum(x, where=nothing, initial=1.0)
        + np.sum(x * x)
    )


@pytest.mark.parametrize("mode", ["source", "auto", "tape"])
def test_an_empty_mask_reduces_nothing(mode):
    """A mask that holds nowhere: every result is initial, the elements get no gradient
    from the reductions (only from the sum of squares)."""
    np.testing.assert_allclose(ag.grad(empty_mask, mode=mode)(X), 2 * X)
    _, tangent = ag.jvp(empty_mask, (X,), (np.ones_like(X),), mode="source")
    assert tangent == pytest.approx(np.sum(2 * X))


# -- second derivatives ------------------------------------------------------------------------


def _bend(y):
    return np.sum(np.sin(y) * y)


def hvp_sum_initial(x):
    return _bend(np.sum(x * x, axis=0, initial=0.5, where=MASK))


def hvp_prod_initial(x):
    return _bend(np.prod(x, axis=1, initial=1.5, where=MASK))


def hvp_max_where(x):
    return _bend(np.max(x * x, axis=0, initial=0.1, where=MASK))


def hvp_min_initial(x):
    return _bend(np.min(np.sin(x), axis=1, initial=-0.5))


@pytest.mark.parametrize("f", [hvp_sum_initial, hvp_prod_initial, hvp_max_where, hvp_min_initial])
def test_hvp_against_differences_of_the_gradient(f):
    direction = np.cos(np.arange(12.0)).reshape(3, 4)
    gradient = ag.grad(f, mode="source")
    eps = 1e-5
    expected = (gradient(X + eps * direction) - gradient(X - eps * direction)) / (2 * eps)
    for mode in ("source", "tape"):
        got = ag.hvp(f, (X,), (direction,), mode=mode)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, err_msg=mode)


# -- generated source --------------------------------------------------------------------------


def plain_max(x):
    return np.sum(np.max(x, axis=1, keepdims=True) * x)


def test_source_without_the_options_is_unchanged():
    """A call that passes neither initial nor where reads as before the rules took them:
    no initial, no where, no branch on them, in reverse and forward mode."""
    reverse = ag.source(plain_max, X, mode="source")
    forward = ag.source(plain_max, X, forward=True, mode="source")
    for text in (forward, reverse):
        assert "initial" not in text and "NoValue" not in text and "where" not in text, text
    assert "extremum_grad(" in reverse
    assert "hits = x == np.max(x, axis=1, keepdims=True)" in forward


def test_source_with_initial_reads_it():
    reverse = ag.source(max_initial_wins_some, X, mode="source")
    assert "extremum_grad(" in reverse and "0.3" in reverse
    forward = ag.source(max_initial_wins_some, X, forward=True, mode="source")
    assert "initial=0.3" in forward and "NoValue" not in forward
    # every argument passed by position: the branches on initial are taken all the same
    forward = ag.source(max_initial_positional, X, forward=True, mode="source")
    assert "np.maximum(ties, 1)" in forward and "NoValue" not in forward, forward


def of_an_empty_array(x, c):
    return np.max(x, initial=c) * 3.0 + np.sum(x, initial=c) + np.prod(x, axis=0, initial=c)


@pytest.mark.parametrize("mode", ["source", "auto", "tape"])
def test_an_empty_array_reduces_to_initial(mode):
    """Nothing reduced: each result is initial, whose gradient is 3 + 1 + 1; the array's
    is empty."""
    dx, dc = ag.grad(of_an_empty_array, wrt=(0, 1), mode=mode)(np.zeros(0), 0.5)
    assert dx.shape == (0,) and dc == pytest.approx(5.0)
    _, tangent = ag.jvp(of_an_empty_array, (np.zeros(0), 0.5), (np.zeros(0), 1.0), mode="source")
    assert tangent == pytest.approx(5.0)


def average_of_squares(x):
    return np.average(x * x, axis=0).sum()


def weighted_average(x, w):
    return np.average(x * x, axis=0, weights=w).sum()


def log_sum_exp(x):
    return scipy.special.logsumexp(x)


def test_a_rule_branch_on_none_is_taken_at_the_default():
    """``weights is None`` (np.average) and ``b is None`` (logsumexp) are decided where the
    call leaves them at their default: no branch in the generated code, and np.average
    without weights reads as np.mean does."""
    average = ag.source(average_of_squares, X, mode="source")
    assert "average_grad" not in average and " if " not in average, average
    assert "reduced_count(" in average
    # weights passed as a name, which may hold None: the branch stays, and is right both ways
    weighted = ag.source(weighted_average, X, np.ones(3), mode="source")
    assert "if w is None else average_grad(" in weighted, weighted
    if scipy is None:
        pytest.skip("SciPy is not installed")
    lse = ag.source(log_sum_exp, X, mode="source")
    assert " if " not in lse and "None" not in lse, lse


@pytest.mark.parametrize("mode", ["source", "auto", "tape"])
def test_average_with_and_without_weights_against_differences(mode):
    weights = RNG.uniform(0.5, 1.5, 3)
    assert_close(ag.grad(average_of_squares, mode=mode)(X), differences(average_of_squares, [X]))
    for w in (weights, None):
        got = ag.grad(weighted_average, mode=mode)(X, w)
        assert_close(got, differences(weighted_average, [X, w]))

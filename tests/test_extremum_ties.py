"""The gradient of a two-argument extremum leaves its tie term out where nothing ties
(issue 18).

``np.maximum(x, y)`` sends its cotangent to the argument that won and half of it to each
where they are equal. ``split_ties`` adds that half only where some element ties (relu by
``np.maximum(0, z)`` almost never does): the result must be what the full formula gives,
ties or not, in every mode, compiled with Numba too, and through second derivatives.
"""

from __future__ import annotations

import numpy as np
import pytest
from astgrad.runtime.rules import ties
from numeric import assert_close, numeric_vjp

import astgrad as ag


def _full(g, wins, x, y):
    return g * wins + 0.5 * g * (x == y)


@pytest.mark.parametrize("tied", [False, True])
def test_split_ties_is_the_full_formula(tied: bool) -> None:
    rng = np.random.default_rng(0)
    z = rng.standard_normal((4, 5))
    if tied:
        z[1, 2] = z[3, 0] = 0.0
    g = rng.standard_normal((4, 5))
    got = ties.split_ties(g, z > 0, 0, z)
    np.testing.assert_array_equal(got, _full(g, z > 0, 0, z))
    # numbers, tied and not
    assert ties.split_ties(3.0, 0.0 > 0.0, 0.0, 0.0) == 1.5
    assert ties.split_ties(3.0, 2.0 > 1.0, 2.0, 1.0) == 3.0
    # NaN compares unequal: no tie, no gradient to either side
    assert ties.split_ties(2.0, np.nan > 1.0, np.nan, 1.0) == 0.0


@pytest.mark.parametrize("zero", [0, 0.0, np.float64(0.0), np.float32(0.0)], ids=repr)
def test_relu_s_tie_test_by_counting_is_the_full_formula(zero) -> None:
    """``np.maximum(0, z)``'s ties are found by counting z's nonzero elements: -0.0 ties
    (it equals 0), NaN does not, as the comparison says."""
    g = np.arange(1.0, 7.0)
    for z in (
        np.array([-1.0, 3.0, 0.0, -0.0, np.nan, 2.0]),
        np.array([-1.0, 3.0, -0.0, 5.0, np.nan, 2.0]),  # -0.0 alone
        np.array([-1.0, 3.0, 4.0, 5.0, np.nan, 2.0]),  # no tie, a NaN
    ):
        np.testing.assert_array_equal(
            ties.split_ties(g, z > zero, zero, z), _full(g, z > zero, zero, z)
        )
        np.testing.assert_array_equal(
            ties.split_ties(g, zero > z, z, zero), _full(g, zero > z, z, zero)
        )


def test_split_ties_skips_the_tie_term_when_nothing_ties() -> None:
    # With no tie the result is g * wins itself: an infinite cotangent stays infinite
    # where the full sum made it inf + inf * 0 = nan.
    z = np.array([-1.0, 2.0])
    g = np.array([np.inf, np.inf])
    np.testing.assert_array_equal(ties.split_ties(g, z > 0, 0, z), [np.nan, np.inf])
    assert np.isnan(_full(g, z > 0, 0, z)[1])


def relu_mlp(W, b, x):
    h = np.maximum(0, x @ W + b)
    return np.mean(h**2)


def extrema(x, y):
    return np.sum(
        np.maximum(x, y) * 2.0
        + np.minimum(x, y) ** 2
        + np.fmax(x, 0.3) * x
        + np.sin(np.fmin(0.1, y))
    )


def test_relu_source_calls_split_ties() -> None:
    rng = np.random.default_rng(1)
    W, b, x = rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal((5, 3))
    text = ag.source(relu_mlp, W, b, x, wrt=(0, 1))
    assert "split_ties(dh, add > 0, 0, add)" in text, text
    assert "0.5" not in text


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_extrema_gradients_without_ties_match_finite_differences(mode: str) -> None:
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    got = ag.grad(extrema, wrt=(0, 1), mode=mode)(x, y)
    for i in (0, 1):
        assert_close(got[i], numeric_vjp(extrema, [x, y], i, 1.0), what=f"{mode} arg {i}")


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_extrema_ties_and_nan_are_shared_as_before(mode: str) -> None:
    x = np.array([[1.0, 0.3, 0.1, np.nan], [2.0, -1.0, 0.5, 0.7]])
    y = np.array([[1.0, 0.2, 0.1, 0.4], [np.nan, -1.0, 0.6, 0.1]])
    dx, dy = ag.grad(extrema, wrt=(0, 1), mode=mode)(x, y)
    # by hand with the full tie formula (NumPy's propagation of NaN in max/min: no
    # gradient to the other side; fmax/fmin send it to the number)
    tie = 0.5 * (x == y)
    mx, mn = np.maximum(x, y), np.minimum(x, y)
    want_dx = 2.0 * ((x > y) + tie) + 2 * mn * ((x < y) + tie)
    want_dy = 2.0 * ((y > x) + tie) + 2 * mn * ((y < x) + tie)
    fx = np.fmax(x, 0.3)
    want_dx = want_dx + fx + x * (((x > 0.3) | np.isnan(0.3)) + 0.5 * (x == 0.3))
    want_dy = want_dy + np.cos(np.fmin(0.1, y)) * (((y < 0.1) | False) + 0.5 * (y == 0.1))
    del mx
    np.testing.assert_allclose(dx, want_dx, rtol=1e-12)
    np.testing.assert_allclose(dy, want_dy, rtol=1e-12)


def test_relu_gradient_with_ties_matches_the_half_split() -> None:
    rng = np.random.default_rng(3)
    W, b, x = rng.standard_normal((3, 4)), np.zeros(4), rng.standard_normal((5, 3))
    x[0] = 0.0  # the first row's pre-activations are all exactly 0: ties
    dW, db = ag.grad(relu_mlp, wrt=(0, 1))(W, b, x)
    z = x @ W + b
    dz = 2 * np.maximum(0, z) / z.size * ((z > 0) + 0.5 * (z == 0))
    np.testing.assert_allclose(dW, x.T @ dz, rtol=1e-12)
    np.testing.assert_allclose(db, dz.sum(0), rtol=1e-12)
    assert_close(dW, numeric_vjp(lambda W: relu_mlp(W, b, x), [W], 0, 1.0))


def smooth_max(x):
    return np.sum(np.maximum(x, 0.5) ** 3)


def test_second_derivative_through_split_ties() -> None:
    x = np.array([-1.0, 0.2, 0.9, 2.0])
    v = np.array([1.0, -2.0, 0.5, 3.0])
    hessian_diagonal = 6 * np.maximum(x, 0.5) * (x > 0.5)
    for mode in ("source", "tape"):
        got = ag.hvp(smooth_max, (x,), (v,), mode=mode)
        np.testing.assert_allclose(got, hessian_diagonal * v, rtol=1e-12)

    def gradient_sum(x):
        return np.sum(ag.grad(smooth_max)(x))

    np.testing.assert_allclose(ag.grad(gradient_sum)(x), hessian_diagonal, rtol=1e-12)


def test_relu_compiles_with_numba() -> None:
    pytest.importorskip("numba")
    rng = np.random.default_rng(4)
    W, b, x = rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal((5, 3))
    x[1] = 0.0
    b[2] = 0.0  # ties in row 1, column 2
    compiled = ag.grad(relu_mlp, wrt=(0, 1), jit="numba")
    want = ag.grad(relu_mlp, wrt=(0, 1))(W, b, x)
    for _ in range(2):
        got = compiled(W, b, x)
        for g, w in zip(got, want):
            assert_close(g, w, rtol=1e-12, atol=1e-14)
    assert ag.explain(relu_mlp, W, b, x, wrt=(0, 1), jit="numba").compiled
    b[2] = 0.3
    got, want = compiled(W, b, x + 1.0), ag.grad(relu_mlp, wrt=(0, 1))(W, b, x + 1.0)
    for g, w in zip(got, want):
        assert_close(g, w, rtol=1e-12, atol=1e-14)

"""Shortcuts in the helpers generated gradients call on every step (issue 18) give what
the general path gives: the same values, types and shapes, and the same gradients against
finite differences where a whole program goes through them."""

from __future__ import annotations

import numpy as np
import pytest
from astgrad.runtime.adjoints import add_at, finish_gradient, shaped_like
from astgrad.runtime.rules.arithmetic import (
    dot_grad_left,
    dot_grad_right,
    matmul_grad_left,
    matmul_grad_right,
)
from astgrad.runtime.rules.containers import Parts
from astgrad.runtime.rules.indexing import _distinct_positions, scatter_grad
from astgrad.runtime.rules.rearranging import unstack
from astgrad.runtime.rules.shared import reshape_like
from numeric import numeric_vjp

import astgrad as ag


def test_finish_gradient_gives_a_float_argument_a_float() -> None:
    for raw in (np.float64(2.5), np.float64(-0.0), np.float64(np.nan)):
        got = finish_gradient(raw, 1.0)
        assert type(got) is float
        assert np.array_equal(got, float(raw), equal_nan=True)
        assert np.signbit(got) == np.signbit(raw)
    # other raw gradients of a float still take the general path
    assert finish_gradient(np.ones(3), 1.0) == 3.0
    assert finish_gradient(np.float32(1.5), 1.0) == 1.5
    assert finish_gradient(0, 1.0) == 0.0


@pytest.mark.parametrize(
    "index, distinct",
    [
        ((np.arange(5), np.array([3, 1, 3, 0, 2])), True),
        ((np.array([0, 2, 2]), np.array([1, 1, 1])), False),  # a repeat in the rising one
        ((np.array([-3, -2, -1]), np.array([0, 0, 0])), True),  # all negative: distinct
        ((np.array([-1, 0, 1]), np.array([0, 0, 0])), False),  # -1 may wrap onto 1
        ((np.array([3, 2, 1]), np.array([0, 0, 0])), False),  # falling: not proven
        ((np.arange(1),), True),
    ],
)
def test_distinct_positions(index, distinct) -> None:
    assert _distinct_positions(index) is distinct
    # Either way scatter_grad sums what repeats: compare with np.add.at.
    x = np.zeros((5, 4)) if len(index) == 2 else np.zeros(5)
    g = np.arange(1.0, 1.0 + index[0].size)
    expected = np.zeros_like(x)
    np.add.at(expected, index, g)
    np.testing.assert_array_equal(scatter_grad(g, x, index), expected)


def test_unstack_rows_are_the_general_paths() -> None:
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=(3, 2)) for _ in range(4)]
    g = rng.normal(size=(4, 3, 2))
    got = unstack(g, arrays)
    assert isinstance(got, Parts) and len(got) == 4
    for i, part in enumerate(got):
        assert type(part) is np.ndarray and part.shape == (3, 2)
        np.testing.assert_array_equal(part, g[i])
    # numbers stacked into a vector keep the general path (0-d parts)
    parts = unstack(np.array([1.0, 2.0]), [0.5, 0.25])
    assert [np.ndim(p) for p in parts] == [0, 0]
    # another axis too
    by_columns = unstack(np.moveaxis(g, 0, 1), arrays, 1)
    for i, part in enumerate(by_columns):
        np.testing.assert_array_equal(part, g[i])


def test_add_at_into_a_list_it_owns() -> None:
    rows = [np.ones(2), np.ones(2), np.ones(2)]
    first = add_at(0, rows, 1, np.full(2, 3.0))  # the general path makes the list it owns
    assert [np.ndim(p) for p in first] == [0, 1, 0]
    kept = first[1]
    again = add_at(first, rows, -2, np.full(2, 0.5))  # the shortcut: same list, a new sum
    assert again is first
    np.testing.assert_array_equal(again[1], [3.5, 3.5])
    np.testing.assert_array_equal(kept, [3.0, 3.0])  # the array added to is not changed
    assert add_at(again, rows, 0, np.ones(2))[0].tolist() == [1.0, 1.0]  # onto a zero


@pytest.mark.parametrize(
    "dtypes",
    [(np.float64,) * 3, (np.float32,) * 3, (np.float32, np.float64, np.float64)],
    ids=["float64", "float32", "mixed"],
)
def test_product_gradients_of_two_matrices(dtypes) -> None:
    rng = np.random.default_rng(6)
    g = rng.normal(size=(4, 3)).astype(dtypes[0])
    x = rng.normal(size=(4, 5)).astype(dtypes[1])
    y = rng.normal(size=(5, 3)).astype(dtypes[2])
    for left, right in ((matmul_grad_left, matmul_grad_right), (dot_grad_left, dot_grad_right)):
        for x_read in (x, shaped_like(x)):  # (x is read for its shape only)
            got = left(g, x_read, y)
            assert got.dtype == (g @ y.T).dtype and got.shape == x.shape
            np.testing.assert_allclose(got, g @ y.T, rtol=1e-6)
        for y_read in (y, shaped_like(y)):
            got = right(g, x, y_read)
            assert got.dtype == (x.T @ g).dtype and got.shape == y.shape
            np.testing.assert_allclose(got, x.T @ g, rtol=1e-6)
    # a number times a matrix (np.dot(2.0, y)) keeps the general path: a number's gradient
    assert dot_grad_left(g, 2.0, y[:, :3][:4]) == pytest.approx(np.sum(g * y[:4, :3]))


def states_read_out(W, h0, x):
    states = [h0]
    for t in range(x.shape[0]):
        states.append(np.tanh(x[t] + states[-1] @ W))
    return np.sum(np.stack(states[1:]) ** 2)


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_stacked_list_of_states_gradient(mode) -> None:
    rng = np.random.default_rng(3)
    args = [rng.normal(size=(3, 3)) * 0.5, rng.normal(size=(2, 3)), rng.normal(size=(4, 2, 3))]
    dW, dh0 = ag.grad(states_read_out, wrt=("W", "h0"), mode=mode)(*args)
    np.testing.assert_allclose(dW, numeric_vjp(states_read_out, args, 0, 1.0), rtol=1e-6)
    np.testing.assert_allclose(dh0, numeric_vjp(states_read_out, args, 1, 1.0), rtol=1e-6)


def _scatter_by_zeros(g, x, index):
    """scatter_grad's general path: zeros like ``x`` with ``g`` added at ``index``."""
    out = np.zeros(x.shape, dtype=g.dtype)
    np.add.at(out, index, g)
    return out


@pytest.mark.parametrize(
    "shape, index",
    [
        ((4,), (slice(None), None)),
        ((4,), (None, slice(None))),
        ((4,), None),
        ((2, 3), (slice(None), None, slice(None))),
        ((2, 3), (None, Ellipsis)),
        ((2, 3), (Ellipsis, None)),
        ((), (None,)),
    ],
)
def test_reshape_like_is_the_scatter_of_new_axes(shape, index) -> None:
    # x[:, None] and the like take all of x: the generated gradient reshapes g (reverse's
    # _new_axes_only), which must be what adding g at the index into zeros gives
    rng = np.random.default_rng(6)
    x = rng.normal(size=shape)
    g = rng.normal(size=x[index].shape)
    got = reshape_like(g, x)
    assert type(got) is np.ndarray and got.shape == x.shape and got.dtype == g.dtype
    np.testing.assert_array_equal(got, _scatter_by_zeros(g, x, index))
    np.testing.assert_array_equal(got, scatter_grad(g, x, index))


def pairwise(x):
    d = x[:, None, :] - x[None, :, :]
    return np.sum(d * d * np.cos(d))


@pytest.mark.parametrize("mode", ["source", "auto", "tape"])
def test_gradient_through_new_axes(mode) -> None:
    x = np.random.default_rng(2).normal(size=(5, 3))
    got = ag.grad(pairwise, mode=mode)(x)
    np.testing.assert_allclose(got, numeric_vjp(pairwise, [x], 0, 1.0), rtol=1e-6, atol=1e-8)
    source = ag.source(pairwise, x)
    # (each new axis read at 0: x is a known matrix)
    assert "scatter_grad" not in source and "dx = dx_item_2[0] + dx_item[:, 0]" in source, source


@pytest.mark.parametrize("y", [2.0, np.float64(-3.0), np.float32(0.5), 0.0, np.float64(0.0)])
@pytest.mark.parametrize("x", [1.5, np.float64(2.0), np.array([1.0, -2.0])])
def test_divide_or_zero_of_a_number(x, y) -> None:
    from astgrad.runtime.rules.shared import divide_or_zero

    general = np.where(y == 0, 0, x / np.where(y == 0, 1, y))
    got = divide_or_zero(x, y)
    assert np.shape(got) == np.shape(general)
    np.testing.assert_array_equal(got, general)


@pytest.mark.parametrize("shape", [(4, 5, 3), (2, 3), (6,), (0, 4, 2)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_expand_reduced_along_one_axis_is_the_broadcast(shape, dtype) -> None:
    """One axis of a host array reduced: the view built from strides is what
    np.broadcast_to makes, read-only, for every axis (negative ones too) and for a g
    that is not C-contiguous (which takes the general path)."""
    from astgrad.runtime.rules.shared import expand_reduced

    rng = np.random.default_rng(0)
    x = np.ones(shape, dtype)
    for axis in range(-len(shape), len(shape)):
        reduced = shape[: axis % len(shape)] + shape[axis % len(shape) + 1 :]
        for g in (
            rng.standard_normal(reduced).astype(dtype),
            rng.standard_normal(reduced[::-1]).astype(dtype).T,
        ):
            got = expand_reduced(g, x, axis)
            expected = np.broadcast_to(np.expand_dims(g, axis), shape)
            assert got.shape == shape and got.dtype == g.dtype
            np.testing.assert_array_equal(got, expected)
            assert not got.flags.writeable


def test_unbroadcast_to_a_number_sums_every_axis() -> None:
    from astgrad.runtime.rules.shared import unbroadcast

    g = np.arange(12.0).reshape(3, 4)
    for like in (0.5, np.float64(0.5)):
        got = unbroadcast(g, like)
        assert np.shape(got) == () and got == 66.0
    assert unbroadcast(np.arange(4.0), 1.0) == 6.0


def test_finish_gradient_of_a_list_finishes_each_item() -> None:
    """A list's gradient (a model's layers) takes a shortcut: each item finished as the
    tuple's general path finishes it (zeros where nothing flowed, the item's dtype)."""
    like = [np.ones(2), np.ones((2, 2), np.float32), 1.5]
    grad = [np.arange(2.0), 0, np.float64(3.0)]
    got = finish_gradient(grad, like)
    expected = list(finish_gradient(tuple(grad), tuple(like)))
    assert type(got) is list and len(got) == 3
    for item, want in zip(got, expected):
        assert type(item) is type(want)
        np.testing.assert_array_equal(item, want)
    assert got[1].dtype == np.float32 and type(got[2]) is float


def test_finish_gradient_copies_a_view_it_cannot_hand_back() -> None:
    """An array of the argument's dtype and shape that is not a buffer of its own (a
    zero-stride spread, a transpose) is copied as the general road copies it; a writeable
    Fortran-ordered one is handed back."""
    like = np.ones((3, 4))
    spread = np.broadcast_to(np.float64(2.0), (3, 4))
    got = finish_gradient(spread, like)
    assert got is not spread and got.flags.writeable and got.flags.c_contiguous
    np.testing.assert_array_equal(got, spread)
    fortran = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    assert finish_gradient(fortran, like) is fortran
    strided = np.arange(24.0).reshape(3, 8)[:, ::2]
    got = finish_gradient(strided, like)
    assert got is not strided and got.flags.c_contiguous
    np.testing.assert_array_equal(got, strided)
    got[0, 0] = 99.0  # the copy is the caller's: the array it came from is unchanged
    assert strided[0, 0] == 0.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
@pytest.mark.parametrize("keepdims", [False, True])
def test_norm_grad_of_all_of_x_scaled_by_one_number(dtype, keepdims) -> None:
    """np.linalg.norm(x)'s gradient takes x times one number when it can (no spread view):
    the value, dtype and shape of the general road, for any dtype of x and cotangent."""
    from astgrad.runtime.rules.linalg_helpers import expand_reduced, norm_grad
    from astgrad.runtime.rules.shared import divide_or_zero

    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 4)).astype(dtype)
    ans = np.linalg.norm(x, keepdims=keepdims)
    for g in (1.5, np.float64(1.5), np.float32(1.5), np.ones_like(ans, dtype=np.float32)):
        got = norm_grad(g, ans, x, keepdims=keepdims)
        general = x * expand_reduced(divide_or_zero(g, ans), x, None, keepdims)
        assert got.dtype == general.dtype and got.shape == x.shape
        np.testing.assert_allclose(got, general, rtol=1e-6)
    zero = np.zeros((2, 2), dtype)
    assert not np.any(norm_grad(1.0, np.linalg.norm(zero), zero))  # 0 where the norm is 0
    assert np.allclose(norm_grad(2.0, 5.0, [3.0, 4.0]), [1.2, 1.6])  # a list of numbers


def test_matmul_gradient_of_a_matrix_times_a_vector() -> None:
    rng = np.random.default_rng(8)
    A, v, g = rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=5)
    for a, vec, cot in ((A, v, g), (A.astype(np.float32), v, g), (A, v.astype(np.float32), g)):
        got = matmul_grad_right(cot, a, vec)
        assert got.shape == vec.shape and got.dtype == (cot @ a).dtype
        np.testing.assert_allclose(got, a.T @ cot, rtol=1e-6)


def least_squares_by_norm(x, A, b, lam):
    return 0.5 * np.linalg.norm(A @ x - b) ** 2 + lam * np.sum(x**2)


@pytest.mark.parametrize("mode", ["source", "auto", "tape"])
def test_norm_loss_gradient(mode) -> None:
    rng = np.random.default_rng(9)
    x, A, b = rng.normal(size=4), rng.normal(size=(6, 4)), rng.normal(size=6)
    (got,) = ag.grad(least_squares_by_norm, wrt=(0,), mode=mode)(x, A, b, 0.1)
    expected = numeric_vjp(least_squares_by_norm, [x, A, b, 0.1], 0, 1.0)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)
    # the norm is a number: its sum's cotangent needs no unbroadcast (one step fewer)
    source = ag.source(least_squares_by_norm, x, A, b, 0.1, wrt=(0,))
    assert "unbroadcast(dadd" not in source

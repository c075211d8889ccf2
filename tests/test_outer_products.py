"""Outer products by broadcasting (``u[:, None] * v[None, :]``): their gradients are
matrix products (transform/products.py, from transform/unit_axes.py's facts), checked
against finite differences in every mode, and the generated code holds the products."""

from __future__ import annotations

import numpy as np
import pytest
from numeric import assert_close, numeric_vjp

import astgrad as ag


def column_times_row(u, v, A):
    M = u[:, None] * v[None, :]
    return np.sum((M - A) ** 2)


def column_times_vector(u, v, A):
    return np.sum(np.sin(u[:, None] * v) * A)


def vector_times_column(u, v, A):
    return np.sum(np.sin(v * u[:, None]) * A)


def row_times_column(u, v, A):
    return np.sum(np.cos(v[None, :] * u[:, None]) * A)


def stacked(a, b, C):
    # a stack of outer products, one per row of a and b
    return np.sum(np.tanh(a[:, :, None] * b[:, None, :]) * C)


def stacked_broadcast(a, b, C):
    # one stack of columns against every stack of rows: the gradient for a sums the stacks
    return np.sum(np.tanh(a[:, :, None] * b[:, None, :]) * C)


def one_element(u, v, A):
    return np.sum((u[:, None] * v[None, :] - A) ** 2)


def not_an_outer_product(u, B):
    return np.sum(np.sin(u[:, None] * B))


def by_newaxis(u, v, A):
    return np.sum((u[:, np.newaxis] * v[np.newaxis, :] - A) ** 2)


def by_reshape(u, v, A):
    return np.sum((u.reshape(-1, 1) * np.reshape(v, (1, -1)) - A) ** 2)


def by_expand_dims(u, v, A):
    return np.sum((np.expand_dims(u, -1) * v - A) ** 2)


def by_multiply_outer(u, v, A):
    return np.sum((np.multiply.outer(u, v) - A) ** 2)


def by_shape_plus_one(u, v, A):
    # a shape built from the operand's own: u.shape + (1,)
    return np.sum((u.reshape(u.shape + (1,)) * v - A) ** 2)


def rebound_after_its_row(u, v, A):
    # v is bound again after its row is taken: the row holds the first v, not the second
    v_row = v[None, :]
    v = v * 2.0
    return np.sum((u[:, None] * v_row - A) ** 2) + np.sum(np.sin(v))


def reshaped_local(u, v, A):
    w = u * 2.0
    return np.sum((w.reshape(-1, 1) * v - A) ** 2)


def row_bound_twice(u, v, A):
    v_row = v[None, :]
    if u[0] > 10.0:
        v_row = u[None, :]
    return np.sum((u[:, None] * v_row - A) ** 2)


def changed_in_place_after_its_row(u, v, A):
    # the row is a view of v: a change of v in place changes the row too (astgrad refuses
    # or records it; whatever it does, the gradient is the one of the values used)
    w = v.copy()
    w_row = w[None, :]
    M = u[:, None] * w_row
    w *= 3.0
    return np.sum((M - A) ** 2) + np.sum(w)


def by_ufunc_outers(u, M):
    # other ufuncs' outer, of a vector and a matrix, with an expression as operand
    return np.sum(np.sin(np.subtract.outer(u * 2.0, M))) + np.sum(np.maximum.outer(u, M) ** 2)


PROGRAMS = [
    (by_multiply_outer, [(3,), (4,), (3, 4)]),
    (by_ufunc_outers, [(3,), (2, 2)]),
    (by_shape_plus_one, [(3,), (4,), (3, 4)]),
    (by_newaxis, [(3,), (4,), (3, 4)]),
    (by_reshape, [(3,), (4,), (3, 4)]),
    (by_expand_dims, [(3,), (4,), (3, 4)]),
    (column_times_row, [(3,), (4,), (3, 4)]),
    (column_times_vector, [(3,), (4,), (3, 4)]),
    (vector_times_column, [(3,), (4,), (3, 4)]),
    (row_times_column, [(3,), (4,), (3, 4)]),
    (stacked, [(2, 3), (2, 4), (2, 3, 4)]),
    (stacked_broadcast, [(1, 3), (2, 4), (2, 3, 4)]),
    (one_element, [(1,), (4,), (1, 4)]),
    (not_an_outer_product, [(3,), (3, 4)]),
    (rebound_after_its_row, [(3,), (4,), (3, 4)]),
    (row_bound_twice, [(3,), (4,), (3, 4)]),
    (reshaped_local, [(3,), (4,), (3, 4)]),
    (by_reshape, [(1,), (4,), (3, 4)]),
    (by_expand_dims, [(3,), (1,), (3, 4)]),
]


@pytest.mark.parametrize("mode", ["source", "auto", "tape"])
@pytest.mark.parametrize("program, shapes", PROGRAMS, ids=[p.__name__ for p, _ in PROGRAMS])
def test_outer_products_match_finite_differences(program, shapes, mode) -> None:
    rng = np.random.default_rng(6)
    args = [rng.standard_normal(s) for s in shapes]
    wrt = (0, 1)
    grads = ag.grad(program, wrt=wrt, mode=mode)(*args)
    for index, got in zip(wrt, grads):
        assert_close(got, numeric_vjp(program, args, index, 1.0), what=f"argument {index}")


@pytest.mark.parametrize(
    "program, shapes, expected",
    [
        # vectors the function never changes: the products read them, as a person writes
        (column_times_row, [(3,), (4,), (3, 4)], ["dM.dot(v)\n", "u.dot(dM)\n"]),
        (column_times_vector, [(3,), (4,), (3, 4)], ["du = dmul.dot(v)\n", "dv = u.dot(dmul)\n"]),
        (
            stacked,
            [(2, 3), (2, 4), (2, 3, 4)],
            ["@ b_item.swapaxes(-1, -2)", "a_item.swapaxes(-1, -2) @"],
        ),
        # every spelling of a new axis
        (by_newaxis, [(3,), (4,), (3, 4)], ["du = dmul.dot(v)\n", "dv = u.dot(dmul)\n"]),
        (row_times_column, [(3,), (4,), (3, 4)], ["u.dot(", ".dot(v)\n"]),
        # a view the backward pass cannot read the vector of: the row itself
        (rebound_after_its_row, [(3,), (4,), (3, 4)], ["dmul.dot(v_row.T)"]),
        (row_bound_twice, [(3,), (4,), (3, 4)], ["dmul.dot(v_row.T)"]),
        (by_reshape, [(3,), (4,), (3, 4)], ["du = dmul.dot(v)\n", "dv = u.dot(dmul)\n"]),
        # a shape built from the operand's: normalize's form of a ufunc's outer, and u.shape
        # + (1,)
        (
            by_multiply_outer,
            [(3,), (4,), (3, 4)],
            ["du = douter.dot(v)\n", "dv = u.dot(douter)\n"],
        ),
        (by_shape_plus_one, [(3,), (4,), (3, 4)], ["du = dmul.dot(v)\n", "dv = u.dot(dmul)\n"]),
        (by_expand_dims, [(3,), (4,), (3, 4)], ["du = dmul.dot(v)\n", "dv = u.dot(dmul)\n"]),
        # a reshaped vector that is not a parameter the function leaves alone: the column
        (reshaped_local, [(3,), (4,), (3, 4)], ["reshape.T.dot(dmul)[0]"]),
    ],
)
def test_the_gradients_are_matrix_products(program, shapes, expected) -> None:
    args = [np.ones(s) for s in shapes]
    source = ag.source(program, *args, wrt=(0, 1))
    for text in expected:
        assert text in source, source


@pytest.mark.parametrize("mode", ["source", "auto", "tape"])
def test_a_vector_changed_in_place_after_its_row(mode) -> None:
    rng = np.random.default_rng(7)
    args = [rng.standard_normal(s) for s in [(3,), (4,), (3, 4)]]
    program = changed_in_place_after_its_row
    if mode == "tape":  # (as PyTorch: a value a node saved was changed)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            ag.grad(program, wrt=(0, 1), mode=mode)(*args)
        return
    grads = ag.grad(program, wrt=(0, 1), mode=mode)(*args)
    for index, got in enumerate(grads):
        assert_close(got, numeric_vjp(program, args, index, 1.0), what=f"argument {index}")


def test_a_full_matrix_keeps_the_multiplication() -> None:
    """``u[:, None] * B``: B has no axis known to be of size 1, so it is no outer product."""
    source = ag.source(not_an_outer_product, np.ones(3), np.ones((3, 4)), wrt=(0, 1))
    assert ".dot(" not in source and "@" not in source, source


def test_a_ufunc_s_outer_is_transformed():
    """``np.multiply.outer(u, v)`` (a ufunc's method, which has no rule) is written as the
    ufunc of ``u`` reshaped with an axis of size 1 per axis of ``v``: source mode takes it,
    where it refused it."""
    source = ag.source(by_multiply_outer, np.ones(3), np.ones(4), np.ones((3, 4)), wrt=(0, 1))
    assert "np.reshape(u, np.shape(u) + (1,) * np.ndim(v))" in source, source
    assert ag.explain(by_multiply_outer, np.ones(3), np.ones(4), np.ones((3, 4))).mode == "source"


# -- the gradient of a new axis: the axis read at 0 ----------------------------------------


def new_axis(x, w):
    return np.sum(np.sin(x[:, None] * w))


def leading_axis(x, w):
    return np.sum(np.sin(x[None] * w))


def middle_axis(x, w):
    return np.sum(np.sin(x[:, None, :] * w))


def two_new_axes(x, w):
    return np.sum(np.sin(x[None, :, None] * w))


def with_an_ellipsis(x, w):
    return np.sum(np.sin(x[..., None] * w))


NEW_AXES = [
    (new_axis, (3,), (3, 2), "dx = dx_item[:, 0]"),
    (new_axis, (3, 2), (3, 4, 2), "dx = dx_item[:, 0]"),
    (leading_axis, (3,), (2, 3), "dx = dx_item[0]"),
    (leading_axis, (2, 3), (4, 2, 3), "dx = dx_item[0]"),
    (middle_axis, (3, 2), (3, 4, 2), "dx = dx_item[:, 0]"),
    (two_new_axes, (3,), (2, 3, 4), "dx = dx_item[0, :, 0]"),
    (with_an_ellipsis, (3, 2), (3, 2, 4), "dx = reshape_like(dx_item, x)"),
]


@pytest.mark.parametrize("mode", ["source", "auto", "tape"])
@pytest.mark.parametrize(
    "program, x_shape, w_shape, written",
    NEW_AXES,
    ids=[f"{p.__name__}-{len(x)}d" for p, x, *_ in NEW_AXES],
)
def test_a_new_axis_gives_its_gradient_back(program, x_shape, w_shape, written, mode) -> None:
    """``x[:, None]``'s gradient is ``g[:, 0]`` where ``x`` is a known array (a view, no
    helper call); with ``...`` the ndim decides, and ``reshape_like`` reads it at run time."""
    rng = np.random.default_rng(16)
    args = [rng.normal(size=x_shape), rng.normal(size=w_shape)]
    got = ag.grad(program, wrt=(0, 1), mode=mode)(*args)
    for position, gradient in enumerate(got):
        assert_close(gradient, numeric_vjp(program, args, position, 1.0), what=f"{position}")
    if mode == "source":
        source = ag.source(program, *args, wrt=(0, 1), mode="source")
        assert written in source, source

"""The shapes pass: unbroadcast disappears only where shapes surely match."""

from __future__ import annotations

import numpy as np
import pytest
from numeric import assert_close, numeric_vjp

import astgrad as ag


def bias_and_scale(x, b):
    y = x + b
    return np.sum(np.tanh(y) * y)


def same_shape_chain(x):
    y = np.sin(x) * x
    return np.sum(y - x)


def recurrence(a):
    for _ in range(10):
        a = a * 0.9 + 0.1 * a * a
    return a


def test_broadcast_operand_keeps_its_unbroadcast():
    text = ag.source(bias_and_scale, wrt=(0, 1))
    assert "db = unbroadcast(dy, b)" in text  # b of shape (4,) meets x of shape (3, 4)
    x, b = (
        np.random.default_rng(0).standard_normal((3, 4)),
        np.random.default_rng(1).standard_normal(4),
    )
    dx, db = ag.grad(bias_and_scale, wrt=(0, 1))(x, b)
    assert db.shape == (4,)
    assert_close(db, numeric_vjp(bias_and_scale, [x, b], 1, 1.0), what="db")


def test_operands_of_one_shape_need_no_unbroadcast():
    assert "unbroadcast" not in ag.source(same_shape_chain)


def test_float_arguments_make_the_backward_plain_arithmetic():
    grad = ag.grad(recurrence)
    assert_close(grad(0.3), numeric_vjp(recurrence, [0.3], 0, 1.0), what="float")
    assert "unbroadcast" not in ag.source(recurrence)


def overwritten_in_a_while_loop(x, w):
    k = 0
    while k < 3:
        v = x * w * 0.5  # x (3,) times w (3, 1): v is (3, 3), rebound every iteration
        k += 1
    return np.sum(v * v)


def test_a_rebound_name_with_a_broadcast_shape():
    # The adjoint of the value overwritten in earlier iterations is the zero placeholder:
    # unbroadcast(0 * w, x) must still give x's shape (this once raised "cannot reshape").
    rng = np.random.default_rng(0)
    x, w = rng.uniform(-1, 1, 3), rng.uniform(-1, 1, (3, 1))
    for mode in ("source", "tape"):
        dx, dw = ag.grad(overwritten_in_a_while_loop, wrt=(0, 1), mode=mode)(x, w)
        assert dx.shape == (3,) and dw.shape == (3, 1)
        assert_close(
            dx, numeric_vjp(overwritten_in_a_while_loop, [x, w], 0, 1.0), what=f"dx [{mode}]"
        )
        assert_close(
            dw, numeric_vjp(overwritten_in_a_while_loop, [x, w], 1, 1.0), what=f"dw [{mode}]"
        )


def test_unbroadcast_of_a_cotangent_constant_along_kept_axes():
    from astgrad.runtime.rules.shared import unbroadcast

    # g grew from a scalar along the axis x keeps: constant there, summed where x is 1.
    assert_close(unbroadcast(np.full((3, 1), 2.0), np.zeros(3)), np.full(3, 6.0))
    assert_close(unbroadcast(np.full(3, 2.0), np.zeros((3, 1))), np.full((3, 1), 6.0))
    assert_close(unbroadcast(np.ones((2, 3)), np.zeros(3)), np.full(3, 2.0))


def mean_squared_error(x, y):
    return np.mean((x - y) ** 2)


def sum_times_sum(x):
    s = np.sum(x)
    return s * np.sum(x * x)


def sum_of_product_with_a_broadcast(x, b):
    t = np.sum(x * b)  # x (3, 4), b (4,): the product has x's shape, not b's
    return t * np.sum(b)


def reshaped_then_squared(x):
    y = x.reshape(-1)  # an opaque call, bound once: a class of its own
    z = y * 3.0
    return np.sum(np.sin(z) * y)


def row_in_a_loop(x):
    total = 0.0
    for i in range(x.shape[0]):
        r = x[i] * x[: i + 1].sum(axis=0)  # bound in a loop: no class, unbroadcast stays
        total = total + np.sum(r * r)
    return total


def test_a_full_reduction_s_cotangent_stays_a_number_where_it_broadcasts_anyway():
    text = ag.source(mean_squared_error)
    assert "dpower = dmean / reduced_count(power)" in text
    assert "expand_reduced" not in text
    x, y = np.random.default_rng(0).standard_normal((2, 5, 3))
    assert_close(
        ag.grad(mean_squared_error)(x, y),
        numeric_vjp(mean_squared_error, [x, y], 0, 1.0),
        what="dx",
    )


def test_an_expansion_is_kept_where_nothing_restores_the_shape():
    # dx is returned: it must have x's shape even where one contribution is a number.
    assert "expand_reduced(ds, x)" in ag.source(sum_times_sum)
    # b's shape is not the product's: b * (the product's cotangent) needs the expansion.
    assert "expand_reduced(dt, mul)" in ag.source(sum_of_product_with_a_broadcast, wrt=(0, 1))
    rng = np.random.default_rng(1)
    x, b = rng.standard_normal((3, 4)), rng.standard_normal(4)
    assert_close(ag.grad(sum_times_sum)(x), numeric_vjp(sum_times_sum, [x], 0, 1.0), what="dx")
    for i, g in enumerate(ag.grad(sum_of_product_with_a_broadcast, wrt=(0, 1))(x, b)):
        assert_close(g, numeric_vjp(sum_of_product_with_a_broadcast, [x, b], i, 1.0), what=f"d{i}")


def test_a_value_bound_once_shares_its_class_with_elementwise_results():
    text = ag.source(reshaped_then_squared)
    assert "expand_reduced" not in text and "unbroadcast" not in text
    x = np.random.default_rng(2).standard_normal((2, 3))
    assert_close(
        ag.grad(reshaped_then_squared)(x),
        numeric_vjp(reshaped_then_squared, [x], 0, 1.0),
        what="dx",
    )


def test_a_value_bound_in_a_loop_gets_no_class():
    assert "unbroadcast" in ag.source(row_in_a_loop)
    x = np.random.default_rng(3).standard_normal((3, 2))
    assert_close(ag.grad(row_in_a_loop)(x), numeric_vjp(row_in_a_loop, [x], 0, 1.0), what="dx")


def weighted_by_position(x):
    total = 0.0
    for i in range(x.shape[0]):
        total = total + i * np.sum(np.sin(x[i]))
    return total


def test_a_range_loop_counter_is_a_number():
    # i is an int: i * (a sum) is a number, so nothing about it is unbroadcast or saved
    # beyond the row that is read.
    text = ag.source(weighted_by_position)
    assert "unbroadcast" not in text, text
    assert text.count("push(") == 4, text  # the row, its sine, the counter, the trip count
    x = np.random.default_rng(5).standard_normal((4, 3))
    assert_close(
        ag.grad(weighted_by_position)(x), numeric_vjp(weighted_by_position, [x], 0, 1.0), what="dx"
    )


def sum_of_tanh(x):
    return np.sum(np.tanh(x))


def test_an_expression_of_one_class_restores_the_shape():
    # 1 - tanh * tanh has tanh's shape, which is x's: the sum's cotangent stays a number.
    assert "dx = dtotal * (1 - tanh * tanh)" in ag.source(sum_of_tanh)
    x = np.random.default_rng(6).standard_normal((2, 3))
    assert_close(ag.grad(sum_of_tanh)(x), numeric_vjp(sum_of_tanh, [x], 0, 1.0), what="dx")


def leaky(x):
    y = np.where(x > 0, x, 0.01 * x)
    return np.sum(y * np.cos(y))


def leaky_broadcast(x, b):
    # b (4,) meets x (3, 4): y has x's shape, b's gradient is summed
    y = np.where(x > b, x, b)
    return np.sum(y * np.cos(y))


def test_np_where_and_comparisons_keep_their_operands_shape():
    # x > 0 is a mask of x's shape; np.where of operands of one shape needs no unbroadcast
    x = np.random.default_rng(3).standard_normal((3, 4))
    assert "unbroadcast" not in ag.source(leaky, x)
    assert_close(ag.grad(leaky)(x), numeric_vjp(leaky, [x], 0, 1.0), what="leaky")
    b = np.random.default_rng(4).standard_normal(4)
    text = ag.source(leaky_broadcast, x, b, wrt=(0, 1))
    assert "unbroadcast(" in text and ", b)" in text, text  # (b's is summed)
    dx, db = ag.grad(leaky_broadcast, wrt=(0, 1))(x, b)
    assert_close(dx, numeric_vjp(leaky_broadcast, [x, b], 0, 1.0), what="dx")
    assert_close(db, numeric_vjp(leaky_broadcast, [x, b], 1, 1.0), what="db")


def kernel_width(log_params, d2):
    # the items of a vector unpacked are numbers: no unbroadcast for them, and the
    # numbers that scale the kernel go outside the sum that is the width's gradient
    lengthscale, signal = np.exp(log_params)
    K = signal * np.exp(-0.5 * d2 / lengthscale**2)
    return np.sum(K * K)


def unpacked_rows(M, v):
    # rows of a matrix unpacked are vectors, not numbers
    a, b = M
    return np.sum(np.tanh(a * v + b))


def test_unpacked_items_of_a_vector_are_numbers():
    rng = np.random.default_rng(5)
    args = [np.log(np.array([1.3, 0.7])), rng.random((4, 4))]
    source = ag.source(kernel_width, *args)
    assert "dpower = unbroadcast(dK * exp_2 * div, power) * signal / -power" in source, source
    for mode in ("source", "auto", "tape"):
        got = ag.grad(kernel_width, mode=mode)(*args)
        assert_close(got, numeric_vjp(kernel_width, args, 0, 1.0), what=mode)


def test_unpacked_rows_keep_their_shapes():
    rng = np.random.default_rng(6)
    args = [rng.standard_normal((2, 3)), rng.standard_normal(3)]
    for mode in ("source", "auto", "tape"):
        for index in (0, 1):
            got = ag.grad(unpacked_rows, wrt=index, mode=mode)(*args)
            assert_close(got, numeric_vjp(unpacked_rows, args, index, 1.0), what=mode)


# -- slices with bounds written in the code ----------------------------------------------


def test_slices_share_a_class_exactly_when_their_lengths_agree_for_every_size():
    """The key of a slice's length function: equal keys for [:-2], [2:] and [1:-1]
    (n - 2, and 0 below 2), for [-3:] and [:3] (min(n, 3)); checked against the lengths
    themselves for every pair of bounds in -5..5 and every axis length up to 24."""
    import gast
    from astgrad.transform.shapes import _length_function

    bounds = [None, *range(-5, 6)]

    def key(lower, upper):
        def written(value):
            if value is None:
                return None
            if value < 0:
                return gast.UnaryOp(op=gast.USub(), operand=gast.Constant(-value, None))
            return gast.Constant(value, None)

        return _length_function(gast.Slice(lower=written(lower), upper=written(upper), step=None))

    slices = [(a, b) for a in bounds for b in bounds]
    lengths = {s: tuple(len(range(n)[s[0] : s[1]]) for n in range(25)) for s in slices}
    keys = {s: key(*s) for s in slices}
    for first in slices:
        for second in slices:
            assert (keys[first] == keys[second]) == (lengths[first] == lengths[second]), (
                first,
                second,
            )
    assert keys[(None, -2)] == keys[(2, None)] == keys[(1, -1)]
    assert keys[(-3, None)] == keys[(None, 3)]


def shifted_stencil(u, k):
    for _ in range(3):
        laplacian = u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:] - 4 * u[1:-1, 1:-1]
        u = u.copy()
        u[1:-1, 1:-1] = u[1:-1, 1:-1] + k * np.tanh(laplacian)
    return np.sum(u**2)


def slices_that_broadcast(u, v):
    # u[:1, 1:] is one row: it broadcasts against u[:, 1:] (another length on axis 0);
    # v's slices have v's class, not u's, though the bounds are the same
    rows = u[:, 1:] * u[:1, 1:]
    mixed = u[1:] + v[1:]
    picked = u[1:-1, 0] * u[2:, 2]
    return np.sum(rows**2) + np.sum(mixed**3) + np.sum(picked)


def test_a_stencil_s_shifted_slices_need_no_unbroadcast():
    u = np.random.default_rng(0).random((6, 5))
    source = ag.source(shifted_stencil, u, 0.2)
    # (only the interior write's value keeps one: it may broadcast into the slice)
    assert source.count("unbroadcast(") == 1, source
    assert "u_item_shape" not in source, source


def test_slices_of_other_lengths_or_arrays_keep_their_unbroadcast():
    rng = np.random.default_rng(1)
    u, v = rng.normal(size=(4, 5)), rng.normal(size=(4, 1))
    source = ag.source(slices_that_broadcast, u, v, wrt=(0, 1))
    assert "unbroadcast(dmul * u_item_2" in source or "u_item_2)" in source, source
    _matches_differences(slices_that_broadcast, [u, v], ("source", "auto", "tape"))


def _matches_differences(function, args: list, modes: tuple[str, ...]) -> None:
    """Every argument's gradient in every mode of ``modes`` against central differences."""
    wrt = tuple(range(len(args)))
    for mode in modes:
        grads = ag.grad(function, wrt=wrt, mode=mode)(*args)
        for index, got in enumerate(grads):
            want = numeric_vjp(function, list(args), index, 1.0)
            assert_close(got, want, rtol=1e-6, atol=1e-8, what=f"{mode}, argument {index}")


def test_stencil_gradients_with_slices_of_one_class():
    rng = np.random.default_rng(2)
    for shape in [(6, 5), (3, 3), (2, 4)]:  # (2, 4): empty interiors
        _matches_differences(shifted_stencil, [rng.random(shape), 0.2], ("source", "auto"))


# -- reductions that keep their axes ------------------------------------------------------


def normalized(x, y):
    centred = x - np.mean(x, axis=1, keepdims=True)
    scaled = centred / np.sqrt(np.var(x, axis=1, keepdims=True) + 1e-3)
    shifted = scaled - np.max(scaled, 0, keepdims=True)
    # y's reduction does not broadcast to x's shape: that sum keeps its unbroadcast
    other = scaled * np.sum(y, axis=0, keepdims=True)
    return np.sum(np.exp(shifted)) + np.sum(other**2)


def test_a_reduction_that_keeps_its_axes_broadcasts_to_its_operand_s_shape():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(4, 5)), rng.normal(size=(3, 5))
    source = ag.source(normalized, x, y, wrt=(0, 1))
    # x's own operand of `x - mean`, `centred / sqrt`, `scaled - max` needs none
    assert "unbroadcast(dcentred, x)" not in source and "dx + dcentred" in source, source
    assert "unbroadcast(dshifted, scaled)" not in source, source
    # the product with y's sum, of another class, keeps one for each operand
    assert "unbroadcast(dother" in source, source
    for shapes_ in [((4, 5), (3, 5)), ((1, 5), (2, 5)), ((4, 1), (3, 1))]:
        _matches_differences(normalized, [rng.normal(size=s) for s in shapes_], ("source", "auto"))


def _kept_cases():
    rng = np.random.default_rng(4)
    reductions = [np.max, np.mean, np.sum, np.min, np.std]
    cases = []
    for shape in [(4, 5), (1, 5), (4, 1), (2, 3, 4), (1, 1), (3,)]:
        axes = [None, *range(len(shape)), *([(0, len(shape) - 1)] if len(shape) > 1 else [])]
        for axis in axes:
            cases.append((shape, axis, reductions[int(rng.integers(len(reductions)))]))
    return cases


@pytest.mark.parametrize("shape, axis, reduction", _kept_cases())
def test_operands_with_their_kept_reductions_match_finite_differences(shape, axis, reduction):
    def f(x):
        kept = reduction(x, axis=axis, keepdims=True)
        return np.sum(np.tanh(x - kept) * (x + 2.0 * kept))

    x = np.random.default_rng(5).normal(size=shape)
    want = numeric_vjp(f, [x], 0, 1.0)
    for mode in ("source", "auto"):
        assert_close(ag.grad(f, mode=mode)(x), want, rtol=1e-6, atol=1e-8, what=mode)

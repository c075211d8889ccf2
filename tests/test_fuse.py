"""The backward pass's last rewrites: cheap temporaries recomputed (``remat``), a line's
contributions to one gradient fused into one expression (``fuse``), and that sum
simplified (``algebra``). Gradients are checked against finite differences; the source
is checked where the rewrite is the point."""

from __future__ import annotations

import math
import re

import gast
import numpy as np
import pytest
from astgrad.transform import algebra, emit, pipeline
from numeric import assert_close, numeric_vjp

import astgrad as ag
from astgrad.api import _kind


def _expression(source: str) -> gast.expr:
    return gast.parse(source).body[0].value


def _text(node: gast.expr) -> str:
    return emit.to_source(gast.Expr(value=node)).strip()


@pytest.mark.parametrize(
    "source, expected",
    [
        # the scalar recurrence's three contributions to da
        ("da * (0.01 * a) + da * a * 0.01 + da * 0.99", "da * (0.02 * a + 0.99)"),
        ("g * x + g * y + z", "g * (x + y) + z"),
        ("x + x", "2 * x"),
        ("0.5 * a + a * 0.5", "1.0 * a"),  # the float coefficient stays a float
        ("-g * x + g * x * 3", "2 * g * x"),
        ("g * f(x) + g * f(x)", "2 * g * f(x)"),
        ("g + g * y", "g * (1 + y)"),
        ("g * x", "g * x"),  # one term: nothing to do
        ("f(x) + h(y)", "f(x) + h(y)"),
        ("g + -1 * x * 3", "g - 3 * x"),  # a negative term is subtracted
        # a sum inside a product (a temporary folded in after its line's sum was merged)
        ("r * (d * r + 2 * (d * r))", "r * (3 * d * r)"),
        ("(g * x + g * x) * y", "2 * g * x * y"),
        ("f(x + x) * y", "f(x + x) * y"),  # (not inside a call)
    ],
)
def test_simplify(source, expected):
    assert _text(algebra.simplify(_expression(source))) == expected


@pytest.mark.parametrize(
    "source",
    [
        "da * (0.01 * a) + da * a * 0.01 + da * 0.99",
        "g * x + g * y + z",
        "-g * x + g * x * 3",
        "g + g * y",
        "0.5 * a + a * 0.5 - 3 * a",
        "a * (da * a + 2 * (da * a))",
    ],
)
def test_simplify_keeps_the_value(source):
    rng = np.random.default_rng(0)
    names = {n: rng.uniform(-2, 2, (3, 4)) for n in ("da", "a", "g", "x", "y", "z")}
    before = eval(compile(source, "<before>", "eval"), {}, dict(names))
    after_source = _text(algebra.simplify(_expression(source)))
    after = eval(compile(after_source, "<after>", "eval"), {}, dict(names))
    np.testing.assert_allclose(after, before, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize(
    "source, expected",
    [
        ("-(-a * b / c)", "a * b / c"),
        ("-(-a)", "a"),
        ("-(a * b)", "-(a * b)"),
        ("x + -(-y * 2)", "x + y * 2"),
    ],
)
def test_tidy_cancels_negations(source, expected):
    assert _text(algebra.tidy(_expression(source))) == expected


@pytest.mark.parametrize(
    "source, expected",
    [
        ("-(g / (1 + e) * e)", "-g / (1 + e) * e"),  # logistic regression's dmargins
        ("-(g * x)", "-g * x"),
        ("-(x * g)", "-(x * g)"),  # x may be a bool array, whose - raises: left alone
        ("-(m * g)", "-(m * g)"),
        ("-g", "-g"),  # not a chain
        ("-(g + x)", "-(g + x)"),
    ],
)
def test_tidy_moves_a_negation_onto_a_gradient(source, expected):
    assert _text(algebra.tidy(_expression(source), frozenset({"g"}))) == expected


@pytest.mark.parametrize(
    "source, expected",
    [
        ("-g * e / s", "g * e / -s"),  # the gradient of e / s for a number s
        ("-(a * b / s)", "a * b / -s"),
        ("-(a * b * 2.5)", "a * b * -2.5"),
        ("-a * b * 2", "a * b * -2"),
        ("-(a * b * 0)", "-(a * b * 0)"),  # -0 is 0: the sign of a zero would change
        ("-(s * a)", "-s * a"),  # already onto the number
        ("-a * b / c", "-a * b / c"),  # c may be an array: left
    ],
)
def test_tidy_moves_a_negation_onto_a_number(source, expected):
    assert _text(algebra.tidy(_expression(source), frozenset(), frozenset({"s"}))) == expected


def gaussian(x, s):
    return np.sum(np.exp(-0.5 * x**2 / s**2))


def test_gaussian_width_gradient_flips_the_number():
    x = np.array([0.3, -1.2, 2.0])
    source = ag.source(ag.grad(gaussian, wrt=("x", "s")), x, 0.7)
    assert "/ -power_2" in source and "-ddiv" not in source, source
    dx, ds = ag.grad(gaussian, wrt=("x", "s"), mode="source")(x, 0.7)
    np.testing.assert_allclose(dx, numeric_vjp(gaussian, [x, 0.7], 0, 1.0), rtol=1e-6)
    np.testing.assert_allclose(ds, numeric_vjp(gaussian, [x, 0.7], 1, 1.0), rtol=1e-6)


def test_moved_negation_gives_the_same_bits():
    # A flip of sign is exact and commutes with * and /: the same bits, signed zeros and
    # infinities included, for a number or an array on the left (NaN where NaN was; the
    # sign bit of a NaN means nothing).
    rng = np.random.default_rng(1)
    e = np.concatenate([rng.normal(size=50), [0.0, -0.0, np.inf, -1e-300, 1e300]])
    for g in (0.37, -2.5, 0.0, rng.normal(size=e.size)):
        with np.errstate(invalid="ignore"):
            before = -(g / (1 + e) * e)
            after = -g / (1 + e) * e
        nan = np.isnan(before)
        assert (np.isnan(after) == nan).all()
        assert before[~nan].tobytes() == after[~nan].tobytes()


def logistic_l2(w, b, X, y):
    margins = y * (X @ w + b)
    return np.mean(np.log1p(np.exp(-margins))) + 1e-3 * np.sum(w * w)


def test_logistic_gradient_flips_the_number_not_the_array():
    rng = np.random.default_rng(2)
    args = (rng.normal(size=4), 0.3, rng.normal(size=(9, 4)), rng.choice([-1.0, 1.0], 9))
    source = ag.source(ag.grad(logistic_l2, wrt=("w", "b")))
    assert "= -dlog1p / (1 + exp) * exp" in source, source
    dw, db = ag.grad(logistic_l2, wrt=("w", "b"), mode="source")(*args)
    assert type(db) is float
    np.testing.assert_allclose(dw, numeric_vjp(logistic_l2, list(args), 0, 1.0), rtol=1e-6)
    np.testing.assert_allclose(db, numeric_vjp(logistic_l2, list(args), 1, 1.0), rtol=1e-6)


def recurrence(a):
    for _ in range(100):
        a = a * 0.99 + 0.01 * a * a
    return a


def _float_source(function, *args):
    names = function.__code__.co_varnames[: function.__code__.co_argcount]
    derivative = pipeline.derive(
        function, tuple(names), param_kinds={n: _kind(v) for n, v in zip(names, args)}
    )
    return derivative.source


def test_recurrence_on_floats_is_one_statement_per_iteration():
    source = _float_source(recurrence, 0.5)
    assert "da = da * (0.02 * a + 0.99)" in source
    # 0.01 * a is recomputed, not saved: the forward pass is the user's line again
    assert "a = a * 0.99 + 0.01 * a * a" in source
    assert "mul_2" not in source
    assert ag.grad(recurrence)(0.5) == pytest.approx(
        numeric_vjp(recurrence, [0.5], 0, 1.0), rel=1e-7
    )


def test_arrays_keep_the_temporary_on_the_stack():
    # Recomputing is only cheaper for numbers: on arrays 0.01 * a stays saved.
    source = ag.source(recurrence)
    assert "push(mul_2)" in source


def overwritten_input(a, b):
    for _ in range(3):
        a = a * (0.5 * a) + b
        b = 0.3 * b * a - a * b
    return a * b


def two_lines(a, b):
    for i in range(4):
        c = 0.2 * a * b + a * 0.1
        a = c * 0.9 + 0.05 * c * b * (0.5 + 0.1 * i)
        b = -(-b * 0.7) + 0.1 * a * a
    return a + b


def with_math(a, b):
    t = 0.0
    for _ in range(3):
        t = t + math.tanh(0.5 * a * b) * (0.5 * a)
        a = a - 0.1 * t * a
    return t + a * b


@pytest.mark.parametrize("function", [recurrence, overwritten_input, two_lines, with_math])
def test_float_specialized_gradients_match_finite_differences(function):
    argcount = function.__code__.co_argcount
    args = (0.4, -0.3)[:argcount]
    wrt = tuple(range(argcount))
    grads = ag.grad(function, wrt=wrt, mode="source")(*args)
    grads = grads if isinstance(grads, tuple) else (grads,)
    for position, got in enumerate(grads):
        assert type(got) is float
        expected = numeric_vjp(function, list(args), position, 1.0)
        assert got == pytest.approx(expected, rel=1e-6, abs=1e-9)


def rnn_from_zeros(W, b, xs):
    h = np.zeros(xs.shape[1:2] + W.shape[:1])  # (a shape ``ranks`` does not read)
    for t in range(xs.shape[0]):
        h = np.tanh(np.dot(h, W) + xs[t] + b)
    return np.sum(h * h)


def test_duplicate_contributions_are_computed_once():
    # h's kind is unknown here (np.zeros of a shape built of slices, then np.dot), so the
    # two contributions of h * h are added by add_adjoints, not summed by algebra: the
    # second reuses the first.
    rng = np.random.default_rng(7)
    args = [rng.normal(size=(3, 3)) * 0.5, rng.normal(size=3), rng.normal(size=(4, 2, 3))]
    source = ag.source(ag.grad(rnn_from_zeros, wrt=("W", "b")), *args)
    assert "dh = add_adjoints(dh, dh)" in source, source
    assert source.count("dmul * h") == 1, source
    dW, db = ag.grad(rnn_from_zeros, wrt=("W", "b"), mode="source")(*args)
    np.testing.assert_allclose(dW, numeric_vjp(rnn_from_zeros, args, 0, 1.0), rtol=1e-6)
    np.testing.assert_allclose(db, numeric_vjp(rnn_from_zeros, args, 1, 1.0), rtol=1e-6)


def squared_after_overwrite(s, x):
    a = s * x
    s = s + a
    t = s * s
    return np.sum(t)


def test_contributions_split_by_a_copy_are_added_up():
    # copies folds ``ds_out = ds`` into the second contribution of ``s * s``
    # (``ds = dtotal * s; ds_out = ds + dtotal * s``): fuse adds them up again.
    rng = np.random.default_rng(3)
    args = [rng.normal(size=4), rng.normal(size=4)]
    source = ag.source(ag.grad(squared_after_overwrite, wrt=(0, 1)), *args)
    assert "ds_out = 2 * dtotal * s" in source, source
    ds, dx = ag.grad(squared_after_overwrite, wrt=(0, 1), mode="source")(*args)
    np.testing.assert_allclose(ds, numeric_vjp(squared_after_overwrite, args, 0, 1.0))
    np.testing.assert_allclose(dx, numeric_vjp(squared_after_overwrite, args, 1, 1.0))


def _line_block(source: str) -> list[gast.stmt]:
    """``source``'s statements, as the backward statements of one user line."""
    from astgrad.transform import anno
    from astgrad.transform.origin import Origin

    origin = Origin("user.py", 7, "t = s * s", "f")
    stmts = gast.parse(source).body
    for stmt in stmts:
        anno.set(stmt, anno.Key.ORIGIN, origin)
        if isinstance(stmt.value, gast.BinOp) and "_out" in stmt.targets[0].id:
            anno.set(stmt, anno.Key.ACCUMULATE, True)
    return stmts


@pytest.mark.parametrize(
    "after, keep, merges",
    [
        ("ds = f(y)", set(), True),  # ds bound anew: its old value is read nowhere
        ("y = ds", set(), False),  # read again: both values are needed
        ("ds = ds + 1", set(), False),  # read by its own rebinding
        ("", set(), True),  # the last statement, and ds not read after the block
        ("", {"ds"}, False),  # read after the block
    ],
)
def test_a_split_contribution_merges_only_where_the_first_is_dead(after, keep, merges):
    from astgrad.transform import fuse

    stmts = _line_block(f"ds = g * s\nds_out = ds + g * s\n{after}")
    values = frozenset({"ds", "ds_out", "g", "s", "y"})
    text = emit.to_source(gast.Module(body=fuse.fuse(stmts, keep, "pop", values), type_ignores=[]))
    assert ("ds_out = 2 * g * s" in text) == merges, text
    assert ("ds = g * s" in text) != merges, text


# -- masks of one condition (algebra.combine_wheres) ------------------------------------------

_NUMPY = frozenset({"np"})


@pytest.mark.parametrize(
    "source, expected",
    [
        # leaky relu's two masks
        ("np.where(c, g, 0) + np.where(c, 0, g) * 0.01", "np.where(c, g, 0.01 * g)"),
        ("np.where(c, 0, b) + -np.where(c, a, 0)", "np.where(c, -a, b)"),
        ("np.where(c, a, 0) + np.where(c, b, 0)", "np.where(c, a + b, 0)"),
        ("np.where(c, a, 0) + x + 2 * np.where(c, 0, b)", "np.where(c, a, 2 * b) + x"),
        # not combined: other conditions, a factor that may be inf, a branch that is not 0
        ("np.where(c, a, 0) + np.where(d, 0, b)", None),
        ("np.where(c, a, 0) + np.where(c, 0, b) * s", None),
        ("np.where(c, a, 0) + np.where(c, b, 1)", None),
        ("np.where(c, a, 0) + where(c, 0, b)", None),
    ],
)
def test_masks_of_one_condition_add_up(source, expected):
    expression = _expression(source)
    combined = algebra.combine_wheres(expression, _NUMPY)
    if expected is None:
        assert combined is expression
    else:
        assert _text(combined) == expected


@pytest.mark.parametrize("seed", range(20))
def test_combined_masks_keep_the_value(seed):
    rng = np.random.default_rng(seed)
    c = rng.random((3, 4)) < 0.5
    a, b = rng.standard_normal((3, 4)), rng.standard_normal(4)
    for source in [
        "np.where(c, a, 0) + np.where(c, 0, b) * -0.3 + a",
        "np.where(c, 0, b) * 2 + np.where(c, a, 0)",
    ]:
        combined = _text(algebra.combine_wheres(_expression(source), _NUMPY))
        scope = {"np": np, "c": c, "a": a, "b": b}
        np.testing.assert_allclose(eval(combined, scope), eval(source, scope), rtol=1e-15)


def leaky_relu_loss(W, X):
    z = X @ W
    h = np.where(z > 0, z, 0.01 * z)
    return np.mean(h**2)


def elu_loss(z, alpha):
    h = np.where(z > 0, z, alpha * (np.exp(z) - 1))
    return np.sum(h * h)


def huber(r, d):
    a = np.abs(r)
    return np.sum(np.where(a < d, 0.5 * r**2, d * (a - 0.5 * d)))


@pytest.mark.parametrize("mode", ["source", "auto", "tape"])
@pytest.mark.parametrize("function", [leaky_relu_loss, elu_loss, huber])
def test_where_programs_match_finite_differences(function, mode):
    rng = np.random.default_rng(3)
    if function is leaky_relu_loss:
        args = [rng.standard_normal((4, 5)), rng.standard_normal((6, 4))]
    else:
        args = [rng.standard_normal((5, 3)) * 2, 0.7]
    got = ag.grad(function, mode=mode)(*args)
    np.testing.assert_allclose(got, numeric_vjp(function, args, 0, 1.0), rtol=1e-6, atol=1e-8)


def test_leaky_relu_gradient_is_one_mask():
    rng = np.random.default_rng(4)
    source = ag.source(leaky_relu_loss, rng.standard_normal((4, 5)), rng.standard_normal((6, 4)))
    assert "dz = np.where(cond, dh, 0.01 * dh)" in source
    code = [line for line in source.splitlines() if not line.strip().startswith("#")]
    assert sum("np.where" in line for line in code) == 2  # the forward's and the gradient's


# -- negations outside reductions (algebra.negation_outside) -----------------------------------


@pytest.mark.parametrize(
    "source, expected",
    [
        ("unbroadcast(-dd, x_item)", "-unbroadcast(dd, x_item)"),
        ("a + unbroadcast(-g * b, y)", "a + unbroadcast(-g * b, y)"),  # not a negation
        ("other(-dd, x)", "other(-dd, x)"),
    ],
)
def test_negations_move_outside_unbroadcast(source, expected):
    moved = algebra.negation_outside(_expression(source), frozenset({"unbroadcast"}))
    assert _text(moved) == expected


def pairwise_rbf(x, s, T):
    d = x[:, None, :] - x[None, :, :]
    K = np.exp(-np.sum(d * d, axis=-1) / (2 * s**2))
    return np.sum(K * T)


@pytest.mark.parametrize("mode", ["source", "auto", "tape"])
def test_pairwise_kernel_matches_finite_differences(mode):
    rng = np.random.default_rng(8)
    args = [rng.standard_normal((5, 3)), 0.8, rng.standard_normal((5, 5))]
    dx, ds = ag.grad(pairwise_rbf, wrt=(0, 1), mode=mode)(*args)
    np.testing.assert_allclose(dx, numeric_vjp(pairwise_rbf, args, 0, 1.0), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ds, numeric_vjp(pairwise_rbf, args, 1, 1.0), rtol=1e-6)


def test_pairwise_kernel_negates_what_is_small():
    """``-dd`` of every pair's size is the negated gradient of x's size, and the negation
    of ``ddiv / mul_2`` goes onto the number ``2 * s**2`` (folded past ``unbroadcast``,
    which changes nothing it is given)."""
    rng = np.random.default_rng(8)
    source = ag.source(pairwise_rbf, rng.standard_normal((5, 3)), 0.8, np.ones((5, 5)), wrt=(0, 1))
    assert "dx_item_2 = -unbroadcast(dd, x_item_2)" in source
    assert "expand_reduced(ddiv / -mul_2, mul, -1)" in source


@pytest.mark.parametrize(
    "source, expected",
    [
        ("unbroadcast(g * s * e / t, n)", "unbroadcast(g * e, n) * s / t"),
        ("unbroadcast(g * e / -t, n)", "unbroadcast(g * e, n) / -t"),
        ("unbroadcast(2 * g, n)", "unbroadcast(2 * g, n)"),  # a number first: left alone
        ("unbroadcast(g * s, x)", "unbroadcast(g * s, x)"),  # x no number: not a sum
        ("unbroadcast(g * e, n)", "unbroadcast(g * e, n)"),  # no number to move
    ],
)
def test_numbers_move_outside_a_number_s_sum(source, expected):
    moved = algebra.numbers_outside_sums(
        _expression(source), frozenset({"unbroadcast"}), frozenset({"s", "t", "n"})
    )
    assert _text(moved) == expected


def squared_norm(x, A, b, lam):
    r = A @ x - b
    return 0.5 * np.linalg.norm(r) ** 2 + lam * np.sum(x**2)


def norm_cubed(x):
    n = np.linalg.norm(np.sin(x))
    return n**3 + n


@pytest.mark.parametrize("mode", ["source", "auto", "tape"])
@pytest.mark.parametrize("at_zero", [False, True])
def test_a_norm_scaled_by_itself_cancels(mode, at_zero):
    # ``0.5 * norm(r) ** 2``'s gradient is ``r``: the norm the power rule multiplies by
    # cancels the one norm_grad divides by (also where r is 0, where norm_grad gives 0)
    rng = np.random.default_rng(12)
    x, A = rng.normal(size=3), rng.normal(size=(4, 3))
    b = A @ x if at_zero else rng.normal(size=4)
    args = [x, A, b, 0.3]
    got = ag.grad(squared_norm, wrt=(0, 2), mode=mode)(*args)
    for position, gradient in zip((0, 2), got):
        assert_close(gradient, numeric_vjp(squared_norm, args, position, 1.0), what=f"{position}")
    if mode == "source":
        source = ag.source(squared_norm, *args, wrt=(0, 2), mode="source")
        assert not re.search(r"\bnorm_grad\(", source) and "r * dadd.real" in source, source


@pytest.mark.parametrize("mode", ["source", "auto"])
def test_a_norm_whose_scale_holds_it_among_other_terms(mode):
    # n ** 3 + n sends 3 * n**2 * g + g to n: only a product with n as a factor cancels
    x = np.random.default_rng(13).normal(size=5)
    got = ag.grad(norm_cubed, mode=mode)(x)
    assert_close(got, numeric_vjp(norm_cubed, [x], 0, 1.0))


def test_a_complex_residual_keeps_the_conjugate():
    rng = np.random.default_rng(14)
    x, A = rng.normal(size=3), rng.normal(size=(4, 3))
    b = rng.normal(size=4) + 1j * rng.normal(size=4)
    args = [x, A, b, 0.3]
    got = ag.grad(squared_norm, mode="source")(*args)
    assert_close(got, numeric_vjp(squared_norm, args, 0, 1.0))


@pytest.mark.parametrize("mode", ["source", "auto"])
def test_the_cancelled_norm_differentiates_again(mode):
    # the Hessian of 0.5 |A x - b|^2 + lam |x|^2 is A.T A + 2 lam I
    rng = np.random.default_rng(15)
    x, A, b = rng.normal(size=3), rng.normal(size=(4, 3)), rng.normal(size=4)
    hessian = ag.hessian(squared_norm, mode=mode)(x, A, b, 0.3)
    np.testing.assert_allclose(hessian, A.T @ A + 0.6 * np.eye(3), atol=1e-12)

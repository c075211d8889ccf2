"""Rules for reductions and scans; each takes NumPy's ``axis`` (int or tuple) and
``keepdims`` where NumPy does."""

from __future__ import annotations

import builtins
import operator
from typing import Any

import numpy as np

from ..device import array_module
from .complex import conjugate_if_complex
from .forward import jvp_rule, linear
from .linalg_helpers import norm_grad, norm_slope
from .rearranging import zeros_of
from .registry import nondifferentiable, vjp_rule
from .shared import (
    _dtype,
    _normalize_axes,
    _shape,
    divide_or_zero,
    expand_reduced,
    inverse_axes,
    output_parts,
    place_diagonal,
    reduced_count,
    shape_only,
    transformable,
    unbroadcast,
)
from .variants import tape_variant


def spaced_gradient(
    f: Any,
    s0: Any = None,
    s1: Any = None,
    s2: Any = None,
    s3: Any = None,
    *,
    axis: Any = None,
    edge_order: int = 1,
) -> Any:
    """``np.gradient(f, *spacings, axis=axis, edge_order=edge_order)`` with up to four
    spacings named: the tangent of ``np.gradient`` (it is linear in ``f``), with a rule of
    its own."""
    given = tuple(s for s in (s0, s1, s2, s3) if s is not None)
    return array_module(f).gradient(f, *given, axis=axis, edge_order=edge_order)


# NumPy's "no initial value given" (reductions take it as their default for initial=)
NoValue = np._NoValue


# initial= adds one number to every result (its gradient: the cotangents' sum); where=,
# the mask of the elements reduced, gives the others none.
@vjp_rule(np.sum)
def sum(g, ans, a, axis=None, dtype=None, out=None, keepdims=False, initial=NoValue, where=True):
    return expand_reduced(g, a, axis, keepdims, where), None, None, None, None, np.sum(g), None


# (the tangent is np.sum(da, axis, ...) at a call without initial=, which the tangent of a
# would add; the inliner leaves out what the call does not pass)
@jvp_rule(np.sum)
def sum_jvp(
    ans, a, axis=None, dtype=None, out=None, keepdims=False, initial=NoValue, where=True, *,
    da, dinitial
):  # fmt: skip
    return (
        np.sum(da, axis=axis, dtype=dtype, keepdims=keepdims, where=where),
        None,
        None,
        None,
        None,
        dinitial * np.ones_like(ans),
        None,
    )


@vjp_rule(np.mean)
def mean(g, ans, a, axis=None, dtype=None, out=None, keepdims=False, *, where=True):
    return expand_reduced(g / reduced_count(a, axis, where, keepdims), a, axis, keepdims, where)


# the tangent reduced as the argument is: np.mean(da, axis, ...)
linear(np.mean)


# sum's and mean's variants for a reduction of everything, ``t.sum()`` and ``t.mean()``
# (see variants): the gradient is one number everywhere, of the input's shape. On the host
# it is written into a new array directly, where expand_reduced makes a read-only view of
# it, which costs more on small arrays; anything else takes the rule itself.


def sum_everywhere(g, ans, a):
    if type(a) is np.ndarray and type(g) is np.float64 and a.dtype.kind == "f":
        out = np.empty(a.shape, a.dtype)
        out.fill(g)
        return (out,)
    return (sum(g, ans, a)[0],)


def mean_everywhere(g, ans, a):
    if type(a) is np.ndarray and type(g) is np.float64 and a.dtype.kind == "f":
        out = np.empty(a.shape, a.dtype)
        out.fill(g / a.size)
        return (out,)
    return (mean(g, ans, a),)


tape_variant(sum, {(0,): sum_everywhere})
tape_variant(mean, {(0,): mean_everywhere})


# initial= takes part as one more element, where= leaves out the elements it does not
# hold: the gradient is shared among the tied extreme elements and initial alike (initial
# gets it all where it is the extremum alone). At a call without them, generated code is
# extremum_grad(g, ans, a, axis, keepdims), as before the rule took them.
@vjp_rule(np.max, np.amax, name="max")
def max(g, ans, a, axis=None, out=None, keepdims=False, initial=NoValue, where=True):
    return (
        extremum_grad(g, ans, a, axis, keepdims, initial, where),
        None,
        None,
        None,
        initial_extremum_grad(g, ans, a, axis, keepdims, initial, where),
        None,
    )


# Each result moves with the extreme elements of its slice (and initial, where it is one),
# by their tangents' mean where several tie, as the gradient is shared among them. (The
# branches on initial fold away at a call site: see the inliner's _at_defaults.)
@jvp_rule(np.max, np.amax)
def max_jvp(
    ans, a, axis=None, out=None, keepdims=False, initial=NoValue, where=True, *, da, dinitial
):
    hits = a == np.max(a, axis=axis, keepdims=True, initial=initial, where=where)
    ties = np.sum(hits, axis=axis, keepdims=keepdims, dtype=ans.dtype, where=where) + (
        0 if initial is NoValue else ans == initial
    )
    return (
        np.sum(da * hits, axis=axis, keepdims=keepdims, where=where)
        / (ties if initial is NoValue else np.maximum(ties, 1)),
        None,
        None,
        None,
        dinitial * (ans == initial) / np.maximum(ties, 1),
        None,
    )


@vjp_rule(np.min, np.amin, name="min")
def min(g, ans, a, axis=None, out=None, keepdims=False, initial=NoValue, where=True):
    return (
        extremum_grad(g, ans, a, axis, keepdims, initial, where),
        None,
        None,
        None,
        initial_extremum_grad(g, ans, a, axis, keepdims, initial, where),
        None,
    )


@jvp_rule(np.min, np.amin)
def min_jvp(
    ans, a, axis=None, out=None, keepdims=False, initial=NoValue, where=True, *, da, dinitial
):
    hits = a == np.min(a, axis=axis, keepdims=True, initial=initial, where=where)
    ties = np.sum(hits, axis=axis, keepdims=keepdims, dtype=ans.dtype, where=where) + (
        0 if initial is NoValue else ans == initial
    )
    return (
        np.sum(da * hits, axis=axis, keepdims=keepdims, where=where)
        / (ties if initial is NoValue else np.maximum(ties, 1)),
        None,
        None,
        None,
        dinitial * (ans == initial) / np.maximum(ties, 1),
        None,
    )


# initial= multiplies every result (its gradient: the cotangents times the products of
# the elements alone); where= leaves out the elements it does not hold.
@vjp_rule(np.prod)
def prod(g, ans, a, axis=None, dtype=None, out=None, keepdims=False, initial=NoValue, where=True):
    return (
        prod_grad(g, a, axis, keepdims, initial=initial, where=where),
        None,
        None,
        None,
        None,
        np.sum(g * np.prod(a, axis=axis, keepdims=keepdims, where=where)),
        None,
    )


# each element's tangent times the product of the others (its gradient: exact at zeros)
# and initial, and initial's tangent times the product of the elements
@jvp_rule(np.prod)
def prod_jvp(
    ans, a, axis=None, dtype=None, out=None, keepdims=False, initial=NoValue, where=True, *,
    da, dinitial
):  # fmt: skip
    return (
        np.sum(da * product_of_others(a, axis, where), axis=axis, keepdims=keepdims, where=where)
        * (1 if initial is NoValue else initial),
        None,
        None,
        None,
        None,
        dinitial * np.prod(a, axis=axis, keepdims=keepdims, where=where),
        None,
    )


@vjp_rule(np.var)
def var(g, ans, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    # (complex a: 2 Re(g) conj(a - mean) / (n - ddof), see rules/complex.py)
    moved = expand_reduced(g.real, a, axis, keepdims) * centered(a, axis)
    return conjugate_if_complex(moved * (2 / (reduced_count(a, axis) - ddof)), a)


# count: the elements of each result's slice. (The sum is an array or a NumPy number, so
# that count == ddof gives inf as np.var does, rather than a ZeroDivisionError.)
@jvp_rule(np.var)
def var_jvp(ans, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, da):
    deviation = a - np.mean(a, axis=axis, keepdims=True)
    count = np.size(a) // builtins.max(np.size(ans), 1)
    moved = np.sum(da * np.conjugate(deviation), axis=axis, keepdims=keepdims)
    return np.real(moved) * 2 / (count - ddof)


# Where the values are all equal (std 0), std has no derivative; 0 is the subgradient, and
# the exact derivative of the std of one value, which is always 0.
@vjp_rule(np.std)
def std(g, ans, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    moved = expand_reduced(divide_or_zero(g.real, ans), a, axis, keepdims) * centered(a, axis)
    return conjugate_if_complex(moved / (reduced_count(a, axis) - ddof), a)


# (count as for var; 0 where the std is 0, as for the gradient)
@jvp_rule(np.std)
def std_jvp(ans, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, da):
    deviation = a - np.mean(a, axis=axis, keepdims=True)
    count = np.size(a) // builtins.max(np.size(ans), 1)
    moved = np.real(np.sum(da * np.conjugate(deviation), axis=axis, keepdims=keepdims)) / (
        count - ddof
    )
    return np.where(ans == 0, 0, moved / np.where(ans == 0, 1, ans))


@vjp_rule(np.average, multi_output=True)  # (two results when returned=True)
def average(g, ans, a, axis=None, weights=None, returned=False, *, keepdims=False):
    # Without weights, one result: np.mean's gradient, written out so that the transform
    # inlines it as it does mean's (average_grad takes that case too, in the tape's calls
    # and where weights= is passed a name, which may hold None).
    return (
        expand_reduced(g / reduced_count(a, axis), a, axis, keepdims)
        if weights is None and returned is False
        else average_grad(g, ans, a, axis, weights, returned, keepdims),
        None,
        average_weights_grad(g, ans, a, axis, weights, returned, keepdims),
    )


@jvp_rule(np.average)
def average_jvp(ans, a, axis=None, weights=None, returned=False, *, keepdims=False, da, dweights):
    return (
        average_tangent(da, ans, a, axis, weights, returned, keepdims),
        None,
        average_weights_tangent(dweights, ans, a, axis, weights, returned, keepdims),
    )


# (initial and where as sum's)
@vjp_rule(np.nansum)
def nansum(g, ans, a, axis=None, dtype=None, out=None, keepdims=False, initial=NoValue, where=True):
    return (
        expand_reduced(g, a, axis, keepdims, where) * ~np.isnan(a),
        None,
        None,
        None,
        None,
        np.sum(g),
        None,
    )


# The tangent with NaN where a is NaN, reduced as a is: NaN positions count for nothing.
@jvp_rule(np.nansum)
def nansum_jvp(
    ans, a, axis=None, dtype=None, out=None, keepdims=False, initial=NoValue, where=True, *,
    da, dinitial
):  # fmt: skip
    return (
        np.nansum(
            np.where(np.isnan(a), np.nan, da),
            axis=axis,
            dtype=dtype,
            keepdims=keepdims,
            where=where,
        ),
        None,
        None,
        None,
        None,
        dinitial * np.ones_like(ans),
        None,
    )


@vjp_rule(np.nanmean)
def nanmean(g, ans, a, axis=None, dtype=None, out=None, keepdims=False):
    return nanmean_grad(g, a, axis, keepdims)


@jvp_rule(np.nanmean)
def nanmean_jvp(ans, a, axis=None, dtype=None, out=None, keepdims=False, *, da):
    return np.nanmean(np.where(np.isnan(a), np.nan, da), axis=axis, dtype=dtype, keepdims=keepdims)


@vjp_rule(np.cumsum)
def cumsum(g, ans, a, axis=None, dtype=None, out=None):
    return cumsum_grad(g, a, axis)


linear(np.cumsum)


@vjp_rule(np.cumprod)
def cumprod(g, ans, a, axis=None, dtype=None, out=None):
    return cumprod_grad(g, ans, a, axis)


@jvp_rule(np.cumprod)
def cumprod_jvp(ans, a, axis=None, dtype=None, out=None, *, da):
    return cumprod_tangent(da, ans, a, axis)


@vjp_rule(np.diff)
def diff(g, ans, a, n=1, axis=-1, prepend=None, append=None):
    return (
        diff_grad(g, a, n, axis, prepend, append),
        None,
        None,
        diff_grad(g, a, n, axis, prepend, append, "prepend"),
        diff_grad(g, a, n, axis, prepend, append, "append"),
    )


# diff is linear in a, prepend and append together: each one's tangent, the others' zeros
@jvp_rule(np.diff)
def diff_jvp(ans, a, n=1, axis=-1, prepend=None, append=None, *, da, dprepend, dappend):
    return (
        diff_tangent(da, a, n, axis, prepend, append),
        None,
        None,
        diff_tangent(dprepend, a, n, axis, prepend, append, "prepend"),
        diff_tangent(dappend, a, n, axis, prepend, append, "append"),
    )


# np.gradient is linear in f (the spacings are constants): the gradient is its transpose
# applied to the cotangent of each axis's derivative. It returns one array per axis. The
# rule names four spacings, so that the tape and the transform can bind a call to it.
@vjp_rule(np.gradient, spaced_gradient, multi_output=True, name="gradient")
def gradient(g, ans, f, s0=None, s1=None, s2=None, s3=None, *, axis=None, edge_order=1):
    return gradient_grad(g, ans, f, spacings(s0, s1, s2, s3), axis, edge_order)


@jvp_rule(np.gradient, spaced_gradient)
def gradient_jvp(ans, f, s0=None, s1=None, s2=None, s3=None, *, axis=None, edge_order=1, df):
    return (spaced_gradient(df, s0, s1, s2, s3, axis=axis, edge_order=edge_order),)


@vjp_rule(np.trace)
def trace(g, ans, a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    return trace_grad(g, a, offset, axis1, axis2)


linear(np.trace)


@vjp_rule(np.linalg.norm)
def norm(g, ans, x, ord=None, axis=None, keepdims=False):
    # (complex x: the formulas give the conjugate of the convention's gradient)
    return conjugate_if_complex(norm_grad(g.real, ans, x, ord, axis, keepdims), x)


# Each result depends on its own slice only: its gradient (for a cotangent of one) times
# the tangent, summed over the slice.
@jvp_rule(np.linalg.norm)
def norm_jvp(ans, x, ord=None, axis=None, keepdims=False, *, dx):
    moved = np.sum(dx * np.conjugate(norm_slope(x, ord, axis)), axis=axis, keepdims=keepdims)
    return np.real(moved)


# -- helpers the rules above call (generated code calls them by these names) ----------


def _exclusive_cumprod(x: Any, axis: int, reverse: bool) -> Any:
    xp = array_module(x)
    if reverse:
        x = xp.flip(x, axis)
    ones = xp.ones_like(xp.take(x, [0], axis=axis))
    shifted = xp.concatenate([ones, xp.take(x, range(x.shape[axis] - 1), axis=axis)], axis)
    result = xp.cumprod(shifted, axis=axis)
    return xp.flip(result, axis) if reverse else result


def prod_grad(
    g: Any,
    x: Any,
    axis: Any = None,
    keepdims: bool = False,
    initial: Any = NoValue,
    where: Any = True,
) -> Any:
    """Gradient of ``np.prod(x, axis, keepdims=keepdims, initial=initial, where=where)``:
    the product of all *other* elements (and ``initial``), exact at zeros."""
    xp = array_module(g, x)
    if initial is not NoValue or where is not True:
        # The elements left out count as ones, and get no gradient.
        mask = xp.asarray(where, dtype=bool)
        grad = prod_grad(g, xp.where(mask, x, 1), axis, keepdims) * mask
        return grad if initial is NoValue else grad * initial
    x = xp.asarray(x)
    if x.ndim == 0:
        return g * xp.ones_like(x)
    if x.size == 0:  # (an empty product, initial alone: no element to differentiate)
        return xp.zeros(x.shape, _dtype(g))
    if axis is None:
        flat = x.reshape(-1)
        others = _exclusive_cumprod(flat, 0, False) * _exclusive_cumprod(flat, 0, True)
        return (g * others).reshape(x.shape)
    axes = _normalize_axes(axis, x.ndim)
    if len(axes) > 1:
        # Bring the reduced axes together at the end and treat them as one.
        kept = [a for a in range(x.ndim) if a not in axes]
        moved = xp.transpose(x, kept + list(axes))
        merged = moved.reshape(moved.shape[: len(kept)] + (-1,))
        others = _exclusive_cumprod(merged, -1, False) * _exclusive_cumprod(merged, -1, True)
        others = xp.transpose(others.reshape(moved.shape), inverse_axes(kept + list(axes), x.ndim))
    else:
        (a,) = axes
        others = _exclusive_cumprod(x, a, False) * _exclusive_cumprod(x, a, True)
    return expand_reduced(g, x, axis, keepdims) * others


@transformable
def product_of_others(a: Any, axis: Any = None, where: Any = True) -> Any:
    """For each element of ``a``, the product of the other elements of its slice along
    ``axis`` (the slices ``np.prod(a, axis)`` multiplies, those ``where`` holds): the
    gradient of the product, exact at zeros, as products before and after each element.

    >>> product_of_others(np.array([2.0, 0.0, 5.0]))
    array([ 0., 10.,  0.])
    """
    if where is not True:  # (the elements left out count as ones)
        a = np.where(where, a, 1.0)
    order = _reduced_last(a, axis)  # the reduced axes moved last, then made one
    moved = np.transpose(a, order)
    rows = np.reshape(moved, _reduced_rows_shape(a, axis))
    ones = np.ones_like(rows[..., :1])
    before = np.cumprod(np.concatenate([ones, rows[..., :-1]], axis=-1), axis=-1)
    after = np.flip(
        np.cumprod(np.flip(np.concatenate([rows[..., 1:], ones], axis=-1), -1), axis=-1), -1
    )
    others = np.reshape(before * after, np.shape(moved))
    return np.transpose(others, inverse_axes(order, len(order)))


def _reduced_last(a: Any, axis: Any) -> list[int]:
    """The axes of ``a``, those a reduction over ``axis`` reduces last."""
    ndim = len(_shape(a))
    axes = _normalize_axes(axis, ndim)
    return [d for d in range(ndim) if d not in axes] + list(axes)


def _reduced_rows_shape(a: Any, axis: Any) -> tuple[int, ...]:
    """The shape of ``a`` with the axes reduced over ``axis`` moved last (as
    :func:`_reduced_last` orders them) and merged into one."""
    shape = _shape(a)
    axes = _normalize_axes(axis, len(shape))
    return tuple(n for d, n in enumerate(shape) if d not in axes) + (-1,)


nondifferentiable(_reduced_last, _reduced_rows_shape, inverse_axes)


def extremum_grad(
    g: Any,
    ans: Any,
    x: Any,
    axis: Any = None,
    keepdims: bool = False,
    initial: Any = NoValue,
    where: Any = True,
) -> Any:
    """Gradient of max/min reductions: ``g`` shared equally among the tied extreme
    elements (and ``initial``, which takes part as one more, where it is given), none to
    the elements ``where`` leaves out."""
    if initial is not NoValue or where is not True:
        hits, count = _extremum_ties(ans, x, axis, keepdims, initial, where)
        return expand_reduced(g, x, axis, keepdims) * hits / count
    hits = x == expand_reduced(ans, x, axis, keepdims)
    spread = expand_reduced(g, x, axis, keepdims) * hits
    if _one_hit_each(hits, ans):
        return spread  # (a division by counts of 1 changes nothing)
    count = hits.sum(axis=axis, keepdims=True)
    # (ans's dtype is x's; not x.dtype: x may be a Python float, np.max(1.5), or a list)
    return spread / count.astype(_dtype(ans))


def initial_extremum_grad(
    g: Any,
    ans: Any,
    x: Any,
    axis: Any = None,
    keepdims: bool = False,
    initial: Any = NoValue,
    where: Any = True,
) -> Any:
    """Gradient of max/min reductions with respect to ``initial``: each result's
    cotangent where ``initial`` is its extremum, shared with the elements that tie."""
    _, count = _extremum_ties(ans, x, axis, keepdims, initial, where)
    kept = _kept_dims(ans, x, axis, keepdims)
    return (_kept_dims(g, x, axis, keepdims) * (kept == initial) / count).sum()


def _extremum_ties(
    ans: Any, x: Any, axis: Any, keepdims: bool, initial: Any, where: Any
) -> tuple[Any, Any]:
    """The elements of ``x`` equal to their slice's extremum ``ans`` among those ``where``
    holds, and how many share each extremum, ``initial`` counted where it is one (with the
    reduced axes kept; at least 1, so that a slice whose extremum is ``initial`` alone,
    or NaN, gives its elements none)."""
    xp = array_module(ans, x)
    hits = (x == expand_reduced(ans, x, axis, keepdims)) & xp.asarray(where, dtype=bool)
    count = hits.sum(axis=axis, keepdims=True)
    if initial is not NoValue:
        count = count + (_kept_dims(ans, x, axis, keepdims) == initial)
    return hits, xp.maximum(count, 1).astype(_dtype(ans))


def _kept_dims(value: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    """``value``, a result of a reduction of ``x`` over ``axis``, with the reduced axes
    kept (as keepdims=True gives them)."""
    if keepdims:
        return value
    shape = _shape(x)
    axes = _normalize_axes(axis, len(shape))
    kept = [1 if d in axes else n for d, n in enumerate(shape)]
    return array_module(value).reshape(value, kept)


def _one_hit_each(hits: Any, ans: Any) -> bool:
    """Whether each slice reduced has exactly one extreme element: as many hits as slices,
    and at least one in each (a slice misses only where its extremum is NaN). Two cheap
    counts where the counts per slice took a reduction over the whole array."""
    if type(hits) is not np.ndarray or type(ans) not in (np.ndarray, np.float64, np.float32):
        return False
    if np.count_nonzero(hits) != np.size(ans):
        return False
    return ans.dtype.kind != "f" or not np.isnan(ans).any()


def centered(a: Any, axis: Any = None) -> Any:
    """``a`` minus its mean over ``axis`` (kept for broadcasting): the core of var and std.

    >>> centered(np.array([1.0, 2.0, 6.0]))
    array([-2., -1.,  3.])
    """
    # (the module's mean, not a.mean: a may be a Python float, np.var(1.5))
    return a - array_module(a).mean(a, axis=axis, keepdims=True)


def _reverse_cumsum(x: Any, axis: int) -> Any:
    xp = array_module(x)
    return xp.flip(xp.cumsum(xp.flip(x, axis), axis=axis), axis)


@shape_only(1)
def cumsum_grad(g: Any, a: Any, axis: Any = None) -> Any:
    """Gradient of ``np.cumsum(a, axis)``: the cumulative sum of ``g`` taken backwards.

    >>> cumsum_grad(np.ones(3), np.zeros(3))
    array([3., 2., 1.])
    """
    if axis is None:  # cumsum flattened a
        return _reverse_cumsum(g, 0).reshape(_shape(a))
    return _reverse_cumsum(g, operator.index(axis))


@shape_only(1)
def cumprod_grad(g: Any, ans: Any, a: Any, axis: Any = None) -> Any:
    """Gradient of ``np.cumprod(a, axis)``, exact where ``a`` has zeros. (The products
    are computed again from ``a``, not read from ``ans``: a function of ``g`` and ``a``
    alone, which its own rules differentiate in ``a``, whichever path it takes.)

    >>> cumprod_grad(np.ones(3), np.array([2.0, 0.0, 0.0]), np.array([2.0, 0.0, 5.0]))
    array([ 1., 12.,  0.])
    """
    xp = array_module(g, a)
    a = xp.asarray(a)
    shape = a.shape
    if axis is None or a.ndim == 0:  # cumprod flattened a
        a, axis = a.reshape(-1), 0
    axis = operator.index(axis) % a.ndim
    if bool((xp.abs(a) >= np.finfo(a.dtype).tiny).all()):
        # d ans_i / d a_j = ans_i / a_j for i >= j
        return (_reverse_cumsum(g * xp.cumprod(a, axis=axis), axis) / a).reshape(shape)
    # With zeros (or subnormal values, where g * ans underflows before the division):
    # grad_j = prod(a_k, k < j) * s_j, where s_j = g_j + a_{j+1} s_{j+1} runs back from the
    # last element; no division.
    g_last, a_last = xp.moveaxis(g.reshape(a.shape), axis, -1), xp.moveaxis(a, axis, -1)
    n = a_last.shape[-1]
    before = _exclusive_cumprod(a_last, -1, False)
    sums = [g_last[..., n - 1]]
    for j in range(n - 2, -1, -1):
        sums.append(g_last[..., j] + a_last[..., j + 1] * sums[-1])
    grad = before * xp.stack(sums[::-1], axis=-1)
    return xp.moveaxis(grad, -1, axis).reshape(shape)


@transformable
def cumprod_tangent(d: Any, ans: Any, a: Any, axis: Any = None) -> Any:
    """Tangent of ``np.cumprod(a, axis)`` along ``d``, exact where ``a`` has zeros.

    >>> cumprod_tangent(np.ones(3), np.array([2.0, 0.0, 0.0]), np.array([2.0, 0.0, 5.0]))
    array([ 1.,  2., 10.])
    """
    if axis is None or np.ndim(a) == 0:  # cumprod flattened a
        a, d, axis = np.reshape(a, -1), np.reshape(d, -1), 0
    if _no_zeros(a):
        # d ans_i = sum_{j <= i} ans_i / a_j * d_j
        return ans * np.cumsum(d / a, axis=axis)
    return _cumprod_tangent_stepwise(d, ans, a, axis)


@transformable
def _cumprod_tangent_stepwise(d: Any, ans: Any, a: Any, axis: int) -> Any:
    """:func:`cumprod_tangent` where ``a`` has zeros (or subnormal values): ans_i =
    ans_{i-1} a_i, so its tangent is t_i = t_{i-1} a_i + ans_{i-1} d_i, from t_0 = d_0;
    no division."""
    a_last, d_last = np.moveaxis(a, axis, -1), np.moveaxis(d, axis, -1)
    ans_last = np.moveaxis(ans, axis, -1)
    tangents = [d_last[..., 0]]
    for i in range(1, np.shape(a_last)[-1]):
        tangents.append(tangents[-1] * a_last[..., i] + ans_last[..., i - 1] * d_last[..., i])
    return np.moveaxis(np.stack(tangents, axis=-1), -1, axis)


def _no_zeros(a: Any) -> bool:
    """Whether every element of ``a`` is a normal number (no zero, nor a subnormal one, by
    which dividing a product overflows or loses it)."""
    xp = array_module(a)
    a = xp.asarray(a)
    return bool((xp.abs(a) >= np.finfo(a.dtype).tiny).all())


nondifferentiable(_no_zeros)


def _average_weights(a: Any, weights: Any, axis: Any) -> tuple[Any, Any]:
    """``weights`` as ``np.average`` uses them: broadcast against ``a``. Returns the
    broadcast weights and a function that sums a gradient of that shape back to the
    weights' own shape."""
    xp = array_module(a, weights)
    shape = _shape(weights)
    if shape == a.shape:
        return weights, lambda grad: grad
    # Weights along ``axis``: NumPy orders their axes as the axes are sorted.
    axes = _normalize_axes(axis, a.ndim)
    order = sorted(range(len(axes)), key=lambda i: axes[i])
    lined_up = xp.transpose(weights, order).reshape(
        [n if d in axes else 1 for d, n in enumerate(a.shape)]
    )
    others = tuple(d for d in range(a.ndim) if d not in axes)

    def back(grad: Any) -> Any:
        summed = grad.sum(axis=others) if others else grad
        return xp.transpose(summed, inverse_axes(order, len(order)))

    return lined_up, back


@transformable
def lined_weights(weights: Any, a: Any, axis: Any) -> Any:
    """``weights`` lined up with ``a``'s axes, as ``np.average`` broadcasts them."""
    layout = _weights_layout(a, weights, axis)
    return np.reshape(np.transpose(weights, layout[0]), layout[1])


@transformable
def as_weights_of(weights: Any, a: Any, axis: Any) -> Any:
    """``weights`` as ``np.average(a, axis, weights)`` reads them, in ``a``'s shape where
    ``a``'s array module takes no other (CuPy's takes that shape or one dimension only)."""
    if array_module(a) is np or np.shape(weights) == np.shape(a):
        return weights
    return np.broadcast_to(lined_weights(weights, a, axis), np.shape(a))


def _average_cotangents(g: Any, ans: Any, returned: bool) -> tuple[Any, Any, Any]:
    """(cotangent of the average, of the sum of weights or None, the average)."""
    if not returned:
        return g, None, ans
    g_average, g_total = output_parts(g, ans)
    return g_average, g_total, ans[0]


def average_grad(
    g: Any,
    ans: Any,
    a: Any,
    axis: Any = None,
    weights: Any = None,
    returned: bool = False,
    keepdims: bool = False,
) -> Any:
    """Gradient of ``np.average(a, axis, weights)`` with respect to ``a``."""
    g, _, _ = _average_cotangents(g, ans, returned)
    if weights is None:
        return expand_reduced(g / reduced_count(a, axis), a, axis, keepdims)
    w, _ = _average_weights(a, weights, axis)
    return expand_reduced(g, a, axis, keepdims) * (w / w.sum(axis=axis, keepdims=True))


def average_weights_grad(
    g: Any,
    ans: Any,
    a: Any,
    axis: Any = None,
    weights: Any = None,
    returned: bool = False,
    keepdims: bool = False,
) -> Any:
    """Gradient of ``np.average(a, axis, weights)`` with respect to ``weights``:
    ``(a - average) / sum(weights)``, summed back to the weights' shape."""
    if weights is None:
        return None  # np.average(a) without weights: nothing to differentiate
    g, g_total, _ = _average_cotangents(g, ans, returned)
    # (the average computed again, not read from ans: a function of g, a and the weights,
    # which its rules differentiate in each)
    average = np.average(a, axis, as_weights_of(weights, a, axis), keepdims=keepdims)
    w, back = _average_weights(a, weights, axis)
    deviation = a - expand_reduced(average, a, axis, keepdims)
    grad = expand_reduced(g, a, axis, keepdims) * deviation / w.sum(axis=axis, keepdims=True)
    if g_total is not None:
        grad = grad + expand_reduced(g_total, a, axis, keepdims)
    return back(grad)


@transformable
def average_tangent(
    d: Any,
    ans: Any,
    a: Any,
    axis: Any = None,
    weights: Any = None,
    returned: bool = False,
    keepdims: bool = False,
) -> Any:
    """Tangent of ``np.average(a, axis, weights)`` along ``d``, the tangent of ``a``:
    the average is linear in ``a`` (and the sum of the weights does not depend on it)."""
    if weights is None:
        d_average = np.average(d, axis, keepdims=keepdims)
    else:
        d_average = np.average(d, axis, as_weights_of(weights, d, axis), keepdims=keepdims)
    if returned:
        return d_average, np.zeros_like(ans[1])
    return d_average


@transformable
def average_weights_tangent(
    d: Any,
    ans: Any,
    a: Any,
    axis: Any = None,
    weights: Any = None,
    returned: bool = False,
    keepdims: bool = False,
) -> Any:
    """Tangent of ``np.average(a, axis, weights)`` along ``d``, the tangent of
    ``weights``: ``sum((a - average) * d) / sum(weights)`` (and ``sum(d)`` for the sum of
    the weights, when ``returned``)."""
    if weights is None:
        return None  # np.average(a) without weights: nothing to differentiate
    average = ans[0] if returned else ans
    # The weights lined up with a's axes, as np.average broadcasts them.
    order, shape = _weights_layout(a, weights, axis)
    w = np.reshape(np.transpose(weights, order), shape)
    dw = np.reshape(np.transpose(d, order), shape)
    deviation = a - np.reshape(average, _kept_shape(a, axis))
    # Summed keeping the reduced axes (the weights may lack the others), then shaped as
    # the average.
    kept = np.sum(deviation * dw, axis=axis, keepdims=True) / np.sum(w, axis=axis, keepdims=True)
    d_average = np.reshape(kept, np.shape(average))
    if not returned:
        return d_average
    d_total = np.broadcast_to(np.sum(dw, axis=axis, keepdims=True), np.shape(kept))
    return d_average, np.reshape(d_total, np.shape(average))


def _weights_layout(a: Any, weights: Any, axis: Any) -> tuple[list[int], list[int]]:
    """How ``np.average`` lines ``weights`` up with ``a``: the permutation of the weights'
    axes and the shape to give them then (size 1 on the axes not averaged over)."""
    shape = _shape(weights)
    if tuple(shape) == tuple(a.shape):
        return list(range(len(shape))), list(shape)
    # Weights along ``axis``: NumPy orders their axes as the axes are sorted.
    axes = _normalize_axes(axis, a.ndim)
    order = sorted(range(len(axes)), key=lambda i: axes[i])
    return order, [n if d in axes else 1 for d, n in enumerate(a.shape)]


def _kept_shape(a: Any, axis: Any) -> list[int]:
    """The shape of a reduction of ``a`` over ``axis`` with ``keepdims=True``."""
    axes = _normalize_axes(axis, len(_shape(a)))
    return [1 if d in axes else n for d, n in enumerate(_shape(a))]


nondifferentiable(_weights_layout, _kept_shape)


def nanmean_grad(g: Any, a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Gradient of ``np.nanmean``: ``g`` shared among the elements that are not NaN."""
    xp = array_module(g, a)
    kept = ~xp.isnan(a)
    count = kept.sum(axis=axis, keepdims=True).astype(_dtype(a))
    return expand_reduced(g, a, axis, keepdims) * kept / count


@shape_only(1)
def trace_grad(g: Any, a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    """Gradient of ``np.trace(a, offset, axis1, axis2)``: ``g`` along that diagonal."""
    shape = _shape(a)
    n1, n2 = shape[axis1], shape[axis2]
    # (builtins': this module's max and min are the rules of np.max and np.min)
    shortest = builtins.min(n1, n2 - offset) if offset >= 0 else builtins.min(n1 + offset, n2)
    length = builtins.max(0, shortest)
    g = array_module(g).asarray(g)
    along = array_module(g).broadcast_to(g[..., None], g.shape + (length,))
    return place_diagonal(along, a, offset, axis1, axis2)


@shape_only(1)
def diff_grad(
    g: Any,
    a: Any,
    n: int = 1,
    axis: int = -1,
    prepend: Any = None,
    append: Any = None,
    part: str = "a",
) -> Any:
    """Gradient of ``np.diff(a, n, axis, prepend, append)`` with respect to ``a`` (or to
    ``prepend`` or ``append``, as ``part`` says)."""
    xp = array_module(g)
    if getattr(g, "size", 1) == 0:
        # An empty difference (n at least the length): nothing depends on the input.
        part_value = {"a": a, "prepend": prepend, "append": append}[part]
        return xp.zeros(_shape(part_value), dtype=_dtype(g))
    for _ in range(n):
        # y_i = x_{i+1} - x_i: x_j gets g_{j-1} - g_j (zero beyond the ends).
        g = xp.moveaxis(g, axis, -1)
        zero = xp.zeros_like(g[..., :1])
        g = xp.concatenate([zero, g], -1) - xp.concatenate([g, zero], -1)
        g = xp.moveaxis(g, -1, axis)
    before = 0 if prepend is None else _diff_extra(prepend, axis)
    size = _shape(a)[axis]
    if part == "prepend":
        return unbroadcast(xp.take(g, xp.arange(before), axis=axis), prepend)
    if part == "append":
        after = g.shape[axis] - before - size
        return unbroadcast(
            xp.take(g, xp.arange(before + size, before + size + after), axis=axis), append
        )
    return xp.take(g, xp.arange(before, before + size), axis=axis)


@transformable
def diff_tangent(
    d: Any,
    a: Any,
    n: int = 1,
    axis: int = -1,
    prepend: Any = None,
    append: Any = None,
    part: str = "a",
) -> Any:
    """Tangent of ``np.diff(a, n, axis, prepend, append)`` along ``d``, the tangent of
    ``a`` (or of ``prepend`` or ``append``, as ``part`` says): the difference of ``d`` in
    its place and zeros in the others'.

    >>> diff_tangent(np.array([1.0, 2.0]), np.zeros(3), prepend=np.zeros(2), part="prepend")
    array([ 1., -2.,  0.,  0.])
    """
    moved = d if part == "a" else zeros_of(a, d)
    if prepend is None and append is None:
        return np.diff(moved, n, axis)
    before = d if part == "prepend" else zeros_of(prepend, d)
    after = d if part == "append" else zeros_of(append, d)
    if append is None:
        return np.diff(moved, n, axis, prepend=before)
    if prepend is None:
        return np.diff(moved, n, axis, append=after)
    return np.diff(moved, n, axis, prepend=before, append=after)


def _diff_extra(extra: Any, axis: int) -> int:
    """How many entries ``np.diff``'s prepend or append adds along ``axis``."""
    shape = np.shape(extra)
    return 1 if len(shape) == 0 else shape[axis]


def spacings(*given: Any) -> tuple:
    """The spacings given to ``np.gradient`` (those not None)."""
    return tuple(s for s in given if s is not None)


nondifferentiable(spacings)


@shape_only(2)
def gradient_grad(
    g: Any, ans: Any, f: Any, varargs: Any = (), axis: Any = None, edge_order: int = 1
) -> Any:
    """Gradient of ``np.gradient(f, *varargs, axis=axis, edge_order=edge_order)`` with
    respect to ``f``: along each axis, the transpose of the derivative's matrix (which
    ``np.gradient`` of the identity gives) applied to that axis's cotangent.

    >>> gradient_grad(np.ones(3), np.zeros(3), np.zeros(3))
    array([-1.5,  0. ,  1.5])
    """
    shape = _shape(f)
    axes = _normalize_axes(axis, len(shape))
    if isinstance(ans, (tuple, list)):
        parts = output_parts(g, ans)
    else:
        parts = [g]
    if len(varargs) == 0:
        spacings = [1.0] * len(axes)
    elif len(varargs) == 1:
        spacings = list(varargs) * len(axes)
    else:
        spacings = list(varargs)
    xp = array_module(f)
    grad = None
    for part, ax, h in zip(parts, axes, spacings):
        n = shape[ax]
        # the difference matrix, made where f is (spacings may be arrays there)
        d = np.gradient(xp.eye(n), h, axis=0, edge_order=edge_order)
        d = d.T.astype(_dtype(f), copy=False)
        term = np.moveaxis(np.tensordot(d, np.moveaxis(part, ax, 0), 1), 0, ax)
        grad = term if grad is None else grad + term
    return grad

"""Rules for statistics: order statistics (``median``, ``percentile``, ``quantile`` and
their nan forms), the nan-reductions beyond ``nansum`` and ``nanmean``, ``ptp``, ``cov``
and ``corrcoef``.

An order statistic is a weighted sum of the sorted values of each slice: the quantile's
position among them picks two neighbours and how far it lies between them. Where the
values are distinct, a small move keeps their order, so the statistic moves linearly with
those two values: its gradient is those weights, put back where the values sat
(:func:`order_weights` finds them once, for both directions). Ties have no derivative;
the weights pick one of the tied values, a subgradient.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from ..device import array_module
from .complex import conjugate_if_complex, real_like
from .forward import jvp_rule
from .rearranging import zeros_of
from .reductions import (
    _reduced_last,
    _reduced_rows_shape,
    extremum_grad,
    prod_grad,
    product_of_others,
)
from .registry import nondifferentiable, vjp_rule
from .shared import cast_like, divide_or_zero, expand_reduced, inverse_axes, transformable

# -- order statistics --------------------------------------------------------------------------
# The rules take no ``weights`` (NumPy's weighted quantiles): a call with them stops with
# 'does not handle the argument(s) weights' rather than getting a wrong gradient.


@vjp_rule(np.quantile)
def quantile(
    g, ans, a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False
):
    found = order_weights(a, q, axis, method, 1, False)
    return order_grad(g, moving_weights(found, q), a, q, axis), order_q_grad(
        g, found[1], a, q, axis
    )


@jvp_rule(np.quantile)
def quantile_jvp(
    ans,
    a,
    q,
    axis=None,
    out=None,
    overwrite_input=False,
    method="linear",
    keepdims=False,
    *,
    da,
    dq,
):
    found = order_weights(a, q, axis, method, 1, False)
    return order_tangent(da, moving_weights(found, q), axis, ans), order_q_tangent(
        dq, found[1], a, axis, ans
    )


@vjp_rule(np.percentile)
def percentile(
    g, ans, a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False
):
    found = order_weights(a, q, axis, method, 100, False)
    return order_grad(g, moving_weights(found, q), a, q, axis), order_q_grad(
        g, found[1], a, q, axis
    )


@jvp_rule(np.percentile)
def percentile_jvp(
    ans,
    a,
    q,
    axis=None,
    out=None,
    overwrite_input=False,
    method="linear",
    keepdims=False,
    *,
    da,
    dq,
):
    found = order_weights(a, q, axis, method, 100, False)
    return order_tangent(da, moving_weights(found, q), axis, ans), order_q_tangent(
        dq, found[1], a, axis, ans
    )


@vjp_rule(np.median)
def median(g, ans, a, axis=None, out=None, overwrite_input=False, keepdims=False):
    return order_grad(g, order_weights(a, 0.5, axis, "linear", 1, False)[0], a, 0.5, axis)


@jvp_rule(np.median)
def median_jvp(ans, a, axis=None, out=None, overwrite_input=False, keepdims=False, *, da):
    return order_tangent(da, order_weights(a, 0.5, axis, "linear", 1, False)[0], axis, ans)


# The nan forms order the values that are not NaN (NumPy sorts NaN last): NaN gets no
# weight.


@vjp_rule(np.nanquantile)
def nanquantile(
    g, ans, a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False
):
    found = order_weights(a, q, axis, method, 1, True)
    return order_grad(g, moving_weights(found, q), a, q, axis), order_q_grad(
        g, found[1], a, q, axis
    )


@jvp_rule(np.nanquantile)
def nanquantile_jvp(
    ans,
    a,
    q,
    axis=None,
    out=None,
    overwrite_input=False,
    method="linear",
    keepdims=False,
    *,
    da,
    dq,
):
    found = order_weights(a, q, axis, method, 1, True)
    return order_tangent(da, moving_weights(found, q), axis, ans), order_q_tangent(
        dq, found[1], a, axis, ans
    )


@vjp_rule(np.nanpercentile)
def nanpercentile(
    g, ans, a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False
):
    found = order_weights(a, q, axis, method, 100, True)
    return order_grad(g, moving_weights(found, q), a, q, axis), order_q_grad(
        g, found[1], a, q, axis
    )


@jvp_rule(np.nanpercentile)
def nanpercentile_jvp(
    ans,
    a,
    q,
    axis=None,
    out=None,
    overwrite_input=False,
    method="linear",
    keepdims=False,
    *,
    da,
    dq,
):
    found = order_weights(a, q, axis, method, 100, True)
    return order_tangent(da, moving_weights(found, q), axis, ans), order_q_tangent(
        dq, found[1], a, axis, ans
    )


@vjp_rule(np.nanmedian)
def nanmedian(g, ans, a, axis=None, out=None, overwrite_input=False, keepdims=False):
    return order_grad(g, order_weights(a, 0.5, axis, "linear", 1, True)[0], a, 0.5, axis)


@jvp_rule(np.nanmedian)
def nanmedian_jvp(ans, a, axis=None, out=None, overwrite_input=False, keepdims=False, *, da):
    return order_tangent(da, order_weights(a, 0.5, axis, "linear", 1, True)[0], axis, ans)


# -- nan-reductions ------------------------------------------------------------------------------
# NaN never equals the extreme value, so max's and min's rules share the gradient among the
# extreme values that are not NaN as they are. (No ``initial`` nor ``where``: a call with
# them stops with 'does not handle the argument(s)'.)


@vjp_rule(np.nanmax)
def nanmax(g, ans, a, axis=None, out=None, keepdims=False):
    return extremum_grad(g, ans, a, axis, keepdims)


@jvp_rule(np.nanmax)
def nanmax_jvp(ans, a, axis=None, out=None, keepdims=False, *, da):
    hits = a == np.nanmax(a, axis=axis, keepdims=True)
    ties = np.sum(hits, axis=axis, keepdims=keepdims, dtype=ans.dtype)
    return np.sum(np.where(hits, da, 0), axis=axis, keepdims=keepdims) / ties


@vjp_rule(np.nanmin)
def nanmin(g, ans, a, axis=None, out=None, keepdims=False):
    return extremum_grad(g, ans, a, axis, keepdims)


@jvp_rule(np.nanmin)
def nanmin_jvp(ans, a, axis=None, out=None, keepdims=False, *, da):
    hits = a == np.nanmin(a, axis=axis, keepdims=True)
    ties = np.sum(hits, axis=axis, keepdims=keepdims, dtype=ans.dtype)
    return np.sum(np.where(hits, da, 0), axis=axis, keepdims=keepdims) / ties


# var and std over the values that are not NaN. (No ``where``, ``mean`` nor ``correction``.)
@vjp_rule(np.nanvar)
def nanvar(g, ans, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    # (complex a: conj of the real formula, as for np.var; rules/complex.py)
    moved = nanvar_grad(expand_reduced(g.real, a, axis, keepdims), a, axis, ddof)
    return conjugate_if_complex(moved, a)


@jvp_rule(np.nanvar)
def nanvar_jvp(ans, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, da):
    return nanvar_tangent(da, a, axis, ddof, keepdims)


# Where the values are all equal (std 0), 0 is the subgradient, as for np.std.
@vjp_rule(np.nanstd)
def nanstd(g, ans, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    spread = expand_reduced(divide_or_zero(g.real, 2 * ans), a, axis, keepdims)
    return conjugate_if_complex(nanvar_grad(spread, a, axis, ddof), a)


@jvp_rule(np.nanstd)
def nanstd_jvp(ans, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, da):
    return divide_or_zero(nanvar_tangent(da, a, axis, ddof, keepdims), 2 * ans)


# NaN counts as one: the product of the others, and nothing for NaN itself.
@vjp_rule(np.nanprod)
def nanprod(g, ans, a, axis=None, dtype=None, out=None, keepdims=False):
    return prod_grad(g, np.where(np.isnan(a), 1, a), axis, keepdims) * ~np.isnan(a)


@jvp_rule(np.nanprod)
def nanprod_jvp(ans, a, axis=None, dtype=None, out=None, keepdims=False, *, da):
    others = product_of_others(np.where(np.isnan(a), 1, a), axis)
    return np.sum(np.where(np.isnan(a), 0, da) * others, axis=axis, keepdims=keepdims)


# -- spread and covariance ---------------------------------------------------------------------


# the range: the maximum's gradient minus the minimum's
@vjp_rule(np.ptp)
def ptp(g, ans, a, axis=None, out=None, keepdims=False):
    top = extremum_grad(g, np.max(a, axis=axis, keepdims=keepdims), a, axis, keepdims)
    return top - extremum_grad(g, np.min(a, axis=axis, keepdims=keepdims), a, axis, keepdims)


@jvp_rule(np.ptp)
def ptp_jvp(ans, a, axis=None, out=None, keepdims=False, *, da):
    top = a == np.max(a, axis=axis, keepdims=True)
    bottom = a == np.min(a, axis=axis, keepdims=True)
    up = np.sum(da * top, axis=axis, keepdims=keepdims) / np.sum(top, axis=axis, keepdims=keepdims)
    down = np.sum(da * bottom, axis=axis, keepdims=keepdims)
    return up - down / np.sum(bottom, axis=axis, keepdims=keepdims)


# cov is a product of the centred observations with themselves: the gradient of the
# observations is (G + G^T) Xc / (N - ddof), split back into m and y. (No fweights nor
# aweights: a call with them stops with 'does not handle the argument(s)'.)
@vjp_rule(np.cov)
def cov(g, ans, m, y=None, rowvar=True, bias=False, ddof=None, *, dtype=None):
    return (
        cov_grad(g, m, y, rowvar, bias, ddof, "m"),
        cov_grad(g, m, y, rowvar, bias, ddof, "y"),
    )


@jvp_rule(np.cov)
def cov_jvp(ans, m, y=None, rowvar=True, bias=False, ddof=None, *, dtype=None, dm, dy):
    return (
        cov_tangent(dm, ans, m, y, rowvar, bias, ddof, "m"),
        cov_tangent(dy, ans, m, y, rowvar, bias, ddof, "y"),
    )


@vjp_rule(np.corrcoef)
def corrcoef(g, ans, x, y=None, rowvar=True, *, dtype=None):
    gc = corrcoef_cov_grad(g, x, y, rowvar)
    return cov_grad(gc, x, y, rowvar, False, 1, "m"), cov_grad(gc, x, y, rowvar, False, 1, "y")


@jvp_rule(np.corrcoef)
def corrcoef_jvp(ans, x, y=None, rowvar=True, *, dtype=None, dx, dy):
    return (
        corrcoef_tangent(dx, ans, x, y, rowvar, "m"),
        corrcoef_tangent(dy, ans, x, y, rowvar, "y"),
    )


# -- helpers the rules above call (generated code calls them by these names) ----------------

#: how far along the sorted values each continuous method moves per unit of q, beyond n:
#: its virtual index is n q + alpha + q (1 - alpha - beta) - 1
_INDEX_SLOPE = {
    "linear": -1.0,
    "hazen": 0.0,
    "weibull": 1.0,
    "median_unbiased": 1.0 / 3.0,
    "normal_unbiased": 1.0 / 4.0,
    "interpolated_inverted_cdf": 0.0,
}


def _raw(x: Any) -> Any:
    """The values of ``x``, a tensor on the tape differentiating a rule again, or an array:
    what a helper that reads positions (not derivatives) looks at."""
    # (looked up, not imported: a rule running on tensors reads this module's globals
    # through a mapping that relative imports cannot use)
    tensors = sys.modules.get("astgrad.runtime.tensor")
    return x.data if tensors is not None and isinstance(x, tensors.Tensor) else x


def _rows(a: Any, axis: Any) -> Any:
    """``a`` with the axes a reduction over ``axis`` reduces moved last and made one."""
    return np.reshape(np.transpose(a, _reduced_last(a, axis)), _reduced_rows_shape(a, axis))


to_rows = transformable(_rows)


@transformable
def from_rows(rows: Any, a: Any, axis: Any) -> Any:
    """``rows`` (shaped as :func:`to_rows` shapes ``a``) back in ``a``'s layout."""
    order = _reduced_last(a, axis)
    moved = np.reshape(rows, _moved_shape(a, order))
    return np.transpose(moved, inverse_axes(order, len(order)))


def _moved_shape(a: Any, order: Any) -> tuple:
    shape = np.shape(a)
    return tuple(shape[d] for d in order)


nondifferentiable(_moved_shape)


def order_weights(
    a: Any, q: Any, axis: Any, method: str, scale: float, skip_nan: bool
) -> tuple[Any, Any]:
    """The weights that make a quantile of ``a`` from its values, and their derivative in
    ``q``: two arrays of shape ``q.shape + kept + (n,)``, ``kept`` the shape of the
    reduction's result without ``q``'s axes and ``n`` the values each result orders (as
    :func:`to_rows` lays them out). The quantile is ``sum(weights * rows, -1)``.

    ``scale`` is 100 for percentiles; ``skip_nan`` orders only the values that are not NaN.
    Computed in ``a``'s array module.

    >>> order_weights(np.array([3.0, 1.0, 2.0]), 0.25, None, "linear", 1, False)[0]
    array([0. , 0.5, 0.5])
    """
    a = held(a)
    xp = array_module(a)
    a = xp.asarray(a)
    q = xp.asarray(held(q), dtype=np.float64) / scale
    dtype = a.dtype if a.dtype.kind == "f" else np.dtype(np.float64)
    rows = _rows(a, axis)
    n = rows.shape[-1]
    # each value's place in its slice's order (NaN last, as NumPy sorts)
    rank = xp.argsort(xp.argsort(rows, axis=-1, kind="stable"), axis=-1, kind="stable")
    if skip_nan:
        counts = xp.sum(~xp.isnan(rows), axis=-1)
        sizes = [int(c) for c in xp.unique(counts)]
    else:
        counts = xp.full(rows.shape[:-1], n)
        sizes = [n]
    index = xp.zeros(q.shape + counts.shape)
    slope = xp.zeros(q.shape + counts.shape)
    for count in sizes:
        if count == 0:
            continue  # all NaN: the result is NaN, nothing moves it
        at = counts == count
        # NumPy's own index of the quantile among ``count`` sorted values, found by asking
        # it for the quantile of their positions: lower + fraction for every method.
        found = xp.quantile(xp.arange(count, dtype=np.float64), q, method=method)
        index[..., at] = found[..., None]
        extra = _INDEX_SLOPE.get(method)
        if extra is not None:
            inside = (found > 0) & (found < count - 1) | (method == "linear")
            slope[..., at] = xp.where(inside, (count + extra) / scale, 0.0)[..., None]
    lower = xp.floor(index)
    fraction = (index - lower)[..., None]
    upper = xp.minimum(lower + 1, xp.maximum(counts - 1, 0))[..., None]
    at_lower = rank == lower[..., None]
    at_upper = rank == upper
    weights = (1 - fraction) * at_lower + fraction * at_upper
    slopes = slope[..., None] * (at_upper.astype(np.float64) - at_lower)
    return weights.astype(dtype), slopes.astype(dtype)


nondifferentiable(order_weights)


@transformable
def moving_weights(found: Any, q: Any) -> Any:
    """The weights :func:`order_weights` found, as functions of ``q``: they move with it at
    the rate it found too (the quantile's place among the sorted values is linear in
    ``q``), so that a second derivative through ``q`` sees them move."""
    slopes = found[1]
    listed = listed_as(q, slopes)  # (an array in the slopes' module: CuPy takes no lists)
    shift = listed - held(listed)  # zero, with the derivative 1
    if np.ndim(shift) == 0:
        return found[0] + shift * slopes
    lined = np.reshape(shift, np.shape(shift) + (1,) * (np.ndim(slopes) - np.ndim(shift)))
    return found[0] + lined * slopes


def held(x: Any) -> Any:
    """The values of ``x``, carrying no derivative."""
    return _raw(x)


@transformable
def listed_as(q: Any, like: Any) -> Any:
    """``q``; a list of numbers as an array in ``like``'s array module."""
    if isinstance(q, (list, tuple)):
        return _array_like(q, like)
    return q


def _array_like(values: Any, like: Any) -> Any:
    return array_module(like).asarray(values)


nondifferentiable(held, _array_like)


@transformable
def order_grad(g: Any, weights: Any, a: Any, q: Any, axis: Any) -> Any:
    """The gradient of an order statistic of ``a``: ``g`` spread by ``weights``, summed over
    the quantiles, and put back in ``a``'s layout."""
    spread = np.reshape(g, np.shape(weights)[:-1] + (1,)) * weights
    if np.ndim(q):
        spread = np.sum(spread, axis=tuple(range(np.ndim(q))))
    return from_rows(spread, a, axis)


@transformable
def order_q_grad(g: Any, slopes: Any, a: Any, q: Any, axis: Any) -> Any:
    """The gradient of a quantile in ``q``: how fast each result moves with its ``q``,
    times ``g``, summed over the results of one ``q``."""
    moved = np.sum(slopes * _finite_rows(a, axis), axis=-1) * np.reshape(g, np.shape(slopes)[:-1])
    kept = tuple(range(np.ndim(q), np.ndim(moved)))
    return np.sum(moved, axis=kept) if kept else moved


@transformable
def _finite_rows(a: Any, axis: Any) -> Any:
    """:func:`to_rows` of ``a``, NaN read as 0 (the weights of NaN are 0)."""
    rows = to_rows(a, axis)
    return np.where(np.isnan(rows), 0, rows)


@transformable
def order_tangent(da: Any, weights: Any, axis: Any, ans: Any) -> Any:
    """The tangent of an order statistic along ``da``: ``da``'s values weighted as the
    statistic weights ``a``'s."""
    return np.reshape(np.sum(weights * to_rows(da, axis), axis=-1), np.shape(ans))


@transformable
def order_q_tangent(dq: Any, slopes: Any, a: Any, axis: Any, ans: Any) -> Any:
    """The tangent of a quantile along ``dq``, the tangent of ``q``."""
    moved = np.sum(slopes * _finite_rows(a, axis), axis=-1)
    lined = np.reshape(dq, np.shape(dq) + (1,) * (np.ndim(moved) - np.ndim(dq)))
    return np.reshape(moved * lined, np.shape(ans))


def _counts(a: Any, axis: Any, keepdims: bool, ddof: Any) -> Any:
    """How many values are not NaN in each slice, less ``ddof``, in ``a``'s float dtype."""
    raw = held(a)
    xp = array_module(raw)
    raw = xp.asarray(raw)
    dtype = raw.dtype if raw.dtype.kind == "f" else np.dtype(np.float64)
    return (xp.sum(~xp.isnan(raw), axis=axis, keepdims=keepdims) - ddof).astype(dtype)


nondifferentiable(_counts)


@transformable
def nanvar_grad(spread: Any, a: Any, axis: Any, ddof: Any) -> Any:
    """The gradient of ``np.nanvar`` from its cotangent spread over ``a``'s shape:
    ``2 (a - mean) / (count - ddof)`` where ``a`` is not NaN, 0 where it is."""
    deviation = np.where(np.isnan(a), 0, a - np.nanmean(a, axis=axis, keepdims=True))
    return spread * deviation * (2 / _counts(a, axis, True, ddof))


@transformable
def nanvar_tangent(da: Any, a: Any, axis: Any, ddof: Any, keepdims: bool) -> Any:
    """The tangent of ``np.nanvar(a, axis, ddof=ddof)`` along ``da``."""
    deviation = np.where(np.isnan(a), 0, a - np.nanmean(a, axis=axis, keepdims=True))
    moved = np.sum(np.where(np.isnan(a), 0, da) * np.conjugate(deviation), axis, keepdims=keepdims)
    return np.real(moved) * 2 / _counts(a, axis, keepdims, ddof)  # (Re: complex a)


# -- cov and corrcoef ---------------------------------------------------------------------


def _transposes(x: Any, rowvar: bool) -> bool:
    """Whether np.cov reads ``x``'s variables from its columns (it turns them to rows)."""
    return not rowvar and np.ndim(x) == 2 and np.shape(x)[0] != 1


def _variables(x: Any, y: Any, rowvar: bool) -> int:
    """How many variables np.cov(x, y, rowvar) relates (its result is that square)."""
    count = np.shape(np.atleast_2d(x))[1 if _transposes(x, rowvar) else 0]
    if y is not None:
        count += np.shape(np.atleast_2d(y))[1 if _transposes(y, rowvar) else 0]
    return count


nondifferentiable(_transposes, _variables)


@transformable
def _observations(m: Any, y: Any, rowvar: bool) -> Any:
    """The observations as np.cov arranges them: one variable per row."""
    x = np.atleast_2d(m)
    if _transposes(m, rowvar):
        x = np.transpose(x)
    if y is not None:
        more = np.atleast_2d(y)
        if _transposes(y, rowvar):
            more = np.transpose(more)
        x = np.concatenate([x, more], axis=0)
    return x


def _cov_divisor(x: Any, bias: bool, ddof: Any) -> int:
    """N - ddof for observations ``x`` laid out one variable per row."""
    return np.shape(x)[1] - (ddof if ddof is not None else 0 if bias else 1)


nondifferentiable(_cov_divisor)


@transformable
def cov_grad(g: Any, m: Any, y: Any, rowvar: bool, bias: bool, ddof: Any, part: str) -> Any:
    """The gradient of ``np.cov(m, y, rowvar, bias, ddof)`` with respect to ``m`` (or to
    ``y``, as ``part`` says; None when there is no ``y``)."""
    if part == "y" and y is None:
        return None
    x = _observations(m, y, rowvar)
    centred = x - np.mean(x, axis=1, keepdims=True)
    n = np.shape(x)[0]
    square = np.reshape(g, (n, n))
    # complex x: C = Xc Xc^H / d, whose gradient is conj((conj(G) + G^T) Xc) / d
    summed = conjugate_if_complex(square, x) + np.transpose(square)
    grad = conjugate_if_complex(summed @ centred / _cov_divisor(x, bias, ddof), x)
    first = np.shape(np.atleast_2d(m))[1 if _transposes(m, rowvar) else 0]
    if part == "m":
        piece, value = grad[:first], m
    else:
        piece, value = grad[first:], y
    if _transposes(value, rowvar):
        piece = np.transpose(piece)
    # (np.cov computes in float64 whatever its input; a real value beside a complex one
    # takes the real part, without NumPy's warning about dropping the imaginary one)
    return cast_like(np.reshape(real_like(piece, value), np.shape(value)), value)


@transformable
def cov_tangent(
    d: Any, ans: Any, m: Any, y: Any, rowvar: bool, bias: bool, ddof: Any, part: str
) -> Any:
    """The tangent of ``np.cov(m, y, ...)`` along ``d``, the tangent of ``m`` (or of ``y``,
    as ``part`` says), shaped as ``ans`` (a square matrix when ``ans`` is None)."""
    if part == "y" and y is None:
        return None
    if part == "m":
        moved = _observations(d, None if y is None else zeros_of(y, d), rowvar)
    else:
        moved = _observations(zeros_of(m, d), d, rowvar)
    x = _observations(m, y, rowvar)
    centred = x - np.mean(x, axis=1, keepdims=True)
    turned = moved - np.mean(moved, axis=1, keepdims=True)
    # (conjugate transposes: complex values, whose covariance is Xc Xc^H / d)
    product = turned @ np.conjugate(np.transpose(centred))
    tangent = (product + np.conjugate(np.transpose(product))) / _cov_divisor(x, bias, ddof)
    if ans is None:
        return tangent
    return np.reshape(tangent, np.shape(ans))


@transformable
def corrcoef_cov_grad(g: Any, x: Any, y: Any, rowvar: bool) -> Any:
    """The cotangent of the covariance matrix from that of ``np.corrcoef(x, y, rowvar)``:
    ``r = c / (s s^T)`` with ``s`` the standard deviations, ``sqrt(diag(c))``. (Complex
    values: ``c`` is Hermitian and its diagonal real, so ``s`` moves by the real part of
    what reaches it.)"""
    n = _variables(x, y, rowvar)
    c = np.reshape(np.cov(x, y, rowvar), (n, n))
    s = np.sqrt(np.real(np.diagonal(c)))
    scale = s[:, None] * s[None, :]
    r = c / scale
    square = np.reshape(g, np.shape(r))
    gs = -np.real(np.sum(square * r, axis=1) + np.sum(square * r, axis=0)) / s
    return square / scale + np.diag(gs / (2 * s))


@transformable
def corrcoef_tangent(d: Any, ans: Any, x: Any, y: Any, rowvar: bool, part: str) -> Any:
    """The tangent of ``np.corrcoef(x, y, rowvar)`` along ``d``, the tangent of ``x`` (or
    of ``y``, as ``part`` says), from that of the covariance matrix."""
    if part == "y" and y is None:
        return None
    dc = cov_tangent(d, None, x, y, rowvar, False, 1, part)
    c = np.reshape(np.cov(x, y, rowvar), np.shape(dc))
    s = np.sqrt(np.real(np.diagonal(c)))
    r = c / (s[:, None] * s[None, :])
    ds = np.real(np.diagonal(dc)) / (2 * s)
    turned = dc / (s[:, None] * s[None, :]) - r * (ds / s)[:, None] - r * (ds / s)[None, :]
    return np.reshape(turned, np.shape(ans))

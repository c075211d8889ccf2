"""Rules for numerical calculus on samples: ``trapezoid``, ``ediff1d``, NumPy 2's
``cumulative_sum`` and ``cumulative_prod``, ``nancumsum`` and ``nancumprod``, ``interp``, and
samples spaced in a logarithm (``logspace``, ``geomspace``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..device import array_module
from .forward import jvp_rule, linear
from .rearranging import zeros_of
from .reductions import cumprod_grad, cumprod_tangent, cumsum_grad
from .registry import no_derivative_at, nondifferentiable, vjp_rule
from .selection import linspace_fractions, take_grad
from .shared import cast_like, transformable, unbroadcast
from .statistics import held

# -- integrals and differences ---------------------------------------------------------------


# Linear in y, and in the spacing dx where no sample points x are given; the sample points
# x move the integral by each interval's mean height (trapezoid_points_grad). Forward mode
# has no tangent for x: it would be named dx, which is the spacing's name (refused below).
@vjp_rule(np.trapezoid)
def trapezoid(g, ans, y, x=None, dx=1.0, axis=-1):
    return (
        np.expand_dims(g, axis) * trapezoid_weights(y, x, dx, axis),
        trapezoid_points_grad(g, y, x, axis),
        trapezoid_spacing_grad(g, y, x, dx, axis),
    )


@jvp_rule(np.trapezoid)
def trapezoid_jvp(ans, y, x=None, dx=1.0, axis=-1, *, dy, ddx):
    return np.trapezoid(dy, x, dx, axis), None, trapezoid_spacing_tangent(ddx, y, x, axis)


no_derivative_at(
    np.trapezoid,
    "x",
    why="np.trapezoid(y, x): forward mode has no tangent for the sample points x, which "
    'carry a derivative here; use reverse mode (ag.grad), or mode="tape"',
    forward_only=True,
)


@vjp_rule(np.ediff1d)
def ediff1d(g, ans, ary, to_end=None, to_begin=None):
    return (
        ediff1d_grad(g, ary, to_end, to_begin, "ary"),
        ediff1d_grad(g, ary, to_end, to_begin, "to_end"),
        ediff1d_grad(g, ary, to_end, to_begin, "to_begin"),
    )


@jvp_rule(np.ediff1d)
def ediff1d_jvp(ans, ary, to_end=None, to_begin=None, *, dary, dto_end, dto_begin):
    return (
        ediff1d_tangent(dary, ary, to_end, to_begin, "ary"),
        ediff1d_tangent(dto_end, ary, to_end, to_begin, "to_end"),
        ediff1d_tangent(dto_begin, ary, to_end, to_begin, "to_begin"),
    )


# NumPy 2's scans: cumsum and cumprod with an optional leading initial value (0 or 1),
# which carries no gradient.
@vjp_rule(np.cumulative_sum)
def cumulative_sum(g, ans, x, *, axis=None, dtype=None, out=None, include_initial=False):
    return cumsum_grad(without_initial(g, axis, include_initial), x, scan_axis(axis))


linear(np.cumulative_sum)


@vjp_rule(np.cumulative_prod)
def cumulative_prod(g, ans, x, *, axis=None, dtype=None, out=None, include_initial=False):
    return cumprod_grad(
        without_initial(g, axis, include_initial),
        without_initial(ans, axis, include_initial),
        x,
        scan_axis(axis),
    )


@jvp_rule(np.cumulative_prod)
def cumulative_prod_jvp(ans, x, *, axis=None, dtype=None, out=None, include_initial=False, dx):
    return with_initial(
        cumprod_tangent(dx, without_initial(ans, axis, include_initial), x, scan_axis(axis)),
        axis,
        include_initial,
    )


# nancumsum and nancumprod scan with NaNs read as 0 and 1: a NaN's place gets no gradient.
@vjp_rule(np.nancumsum)
def nancumsum(g, ans, a, axis=None, dtype=None, out=None):
    return cumsum_grad(g, a, axis) * ~np.isnan(a)


@jvp_rule(np.nancumsum)
def nancumsum_jvp(ans, a, axis=None, dtype=None, out=None, *, da):
    return np.nancumsum(np.where(np.isnan(a), 0.0, da), axis=axis)


@vjp_rule(np.nancumprod)
def nancumprod(g, ans, a, axis=None, dtype=None, out=None):
    return cumprod_grad(g, ans, np.where(np.isnan(a), 1.0, a), axis) * ~np.isnan(a)


@jvp_rule(np.nancumprod)
def nancumprod_jvp(ans, a, axis=None, dtype=None, out=None, *, da):
    return cumprod_tangent(np.where(np.isnan(a), 0.0, da), ans, np.where(np.isnan(a), 1.0, a), axis)


# -- sample points spaced evenly in a logarithm ------------------------------------------------
# np.logspace(start, stop) is base ** y with y = np.linspace(start, stop): the samples'
# slopes in start and stop are linspace's times ans * log(base), in base ans * y / base.
# np.geomspace(start, stop) is start * (stop / start) ** t with linspace's fractions t:
# its slope in start is ans * (1 - t) / start, in stop ans * t / stop (same-sign ends).


@vjp_rule(np.logspace)
def logspace(g, ans, start, stop, num=50, endpoint=True, base=10.0, dtype=None, axis=0):
    t = linspace_fractions(ans, num, endpoint, axis, False)
    slope = g * ans * np.log(spread_along(base, axis, ans))
    return (
        cast_like(unbroadcast(np.sum(slope * (1.0 - t), axis=axis), start), start),
        cast_like(unbroadcast(np.sum(slope * t, axis=axis), stop), stop),
        None,
        None,
        logspace_base_grad(g, ans, start, stop, num, endpoint, base, axis),
    )


@jvp_rule(np.logspace)
def logspace_jvp(
    ans, start, stop, num=50, endpoint=True, base=10.0, dtype=None, axis=0, *, dstart, dstop, dbase
):
    t = linspace_fractions(ans, num, endpoint, axis, False)
    slope = ans * np.log(spread_along(base, axis, ans))
    y = np.linspace(start, stop, num, endpoint, axis=axis)
    return (
        spread_along(dstart, axis, ans) * slope * (1.0 - t),
        spread_along(dstop, axis, ans) * slope * t,
        None,
        None,
        spread_along(dbase, axis, ans) * ans * y / spread_along(base, axis, ans),
    )


@vjp_rule(np.geomspace)
def geomspace(g, ans, start, stop, num=50, endpoint=True, dtype=None, axis=0):
    t = linspace_fractions(ans, num, endpoint, axis, False)
    return (
        cast_like(unbroadcast(np.sum(g * ans * (1.0 - t), axis=axis) / start, start), start),
        cast_like(unbroadcast(np.sum(g * ans * t, axis=axis) / stop, stop), stop),
    )


@jvp_rule(np.geomspace)
def geomspace_jvp(ans, start, stop, num=50, endpoint=True, dtype=None, axis=0, *, dstart, dstop):
    t = linspace_fractions(ans, num, endpoint, axis, False)
    return (
        spread_along(dstart / start, axis, ans) * ans * (1.0 - t),
        spread_along(dstop / stop, axis, ans) * ans * t,
    )


# -- interp -----------------------------------------------------------------------------------
# np.interp(x, xp, fp) is piecewise linear: between the knots xp[j] and xp[j + 1] it is
# fp[j] + (fp[j + 1] - fp[j]) t, t = (x - xp[j]) / (xp[j + 1] - xp[j]); left of the
# first knot it is ``left`` (fp[0] by default), right of the last ``right`` (fp[-1]).
# ``interp_knots`` finds which knots each x reads; the rules compute t and the slopes from
# the values, so that they differentiate again. (No ``period``: a call with it stops with
# 'does not handle the argument(s) period'.)


@vjp_rule(np.interp)
def interp(g, ans, x, xp, fp, left=None, right=None):
    knots = interp_knots(x, xp, left, right)
    low_x = np.take(xp, knots[0])
    width = np.take(xp, knots[1]) - low_x
    t = (x - low_x) / width
    slope = (np.take(fp, knots[1]) - np.take(fp, knots[0])) / width
    inside = g * knots[2]
    # (np.interp computes in float64 whatever its input)
    return (
        unbroadcast(cast_like(inside * slope, x), x),
        cast_like(
            take_grad(inside * slope * (t - 1), xp, knots[0])
            - take_grad(inside * slope * t, xp, knots[1]),
            xp,
        ),
        cast_like(
            take_grad(g * np.where(knots[2], 1 - t, knots[3]), fp, knots[0])
            + take_grad(g * np.where(knots[2], t, knots[4]), fp, knots[1]),
            fp,
        ),
        outside_grad(g, left, knots[5]),
        outside_grad(g, right, knots[6]),
    )


@jvp_rule(np.interp)
def interp_jvp(ans, x, xp, fp, left=None, right=None, *, dx, dxp, dfp, dleft, dright):
    knots = interp_knots(x, xp, left, right)
    low_x = np.take(xp, knots[0])
    width = np.take(xp, knots[1]) - low_x
    t = (x - low_x) / width
    slope = (np.take(fp, knots[1]) - np.take(fp, knots[0])) / width
    return (
        dx * slope * knots[2],
        slope * ((t - 1) * np.take(dxp, knots[0]) - t * np.take(dxp, knots[1])) * knots[2],
        np.where(knots[2], 1 - t, knots[3]) * np.take(dfp, knots[0])
        + np.where(knots[2], t, knots[4]) * np.take(dfp, knots[1]),
        outside_tangent(dleft, left, knots[5]),
        outside_tangent(dright, right, knots[6]),
    )


# -- helpers the rules above call (generated code calls them by these names) ----------------


@transformable
def trapezoid_weights(y: Any, x: Any, dx: Any, axis: int) -> Any:
    """How much each sample of ``y`` counts in ``np.trapezoid(y, x, dx, axis)``: half the
    widths of the intervals on either side of it, along ``axis``."""
    widths = _widths(y, x, dx, axis)
    return (_padded(widths, axis, (1, 0)) + _padded(widths, axis, (0, 1))) / 2


@transformable
def _widths(y: Any, x: Any, dx: Any, axis: int) -> Any:
    """The widths of the intervals between samples, lined up with ``y``'s axes."""
    if x is None:
        return dx * _ones_along(y, axis)
    if np.ndim(x) == 1:
        return np.reshape(np.diff(x), _along(y, axis, -1))
    return np.diff(x, axis=axis)


@transformable
def _padded(widths: Any, axis: int, sides: tuple) -> Any:
    """``widths`` with one zero added before or after along ``axis``."""
    return np.pad(widths, _pad_width(np.ndim(widths), axis, sides))


def _along(y: Any, axis: int, extra: int) -> list:
    """A shape of ones but along ``axis``, where it is ``y``'s length plus ``extra``."""
    ndim = np.ndim(y)
    return [np.shape(y)[axis] + extra if d == axis % ndim else 1 for d in range(ndim)]


def _pad_width(ndim: int, axis: int, sides: tuple) -> list:
    return [sides if d == axis % ndim else (0, 0) for d in range(ndim)]


def _ones_along(y: Any, axis: int) -> Any:
    """Ones, one per interval between ``y``'s samples along ``axis``, lined up with ``y``'s
    axes, in its array module and float dtype."""
    dtype = y.dtype if getattr(y, "dtype", np.dtype(np.float64)).kind == "f" else np.float64
    return array_module(y).ones(_along(y, axis, -1), dtype=dtype)


nondifferentiable(_along, _pad_width, _ones_along)


@transformable
def trapezoid_points_grad(g: Any, y: Any, x: Any, axis: int) -> Any:
    """The gradient of ``np.trapezoid(y, x, axis=axis)`` in the sample points ``x``: the
    integral is the sum over intervals of ``(x[i + 1] - x[i])`` times the interval's mean
    height ``m[i] = (y[i] + y[i + 1]) / 2``, so ``x[j]`` gets ``m[j - 1] - m[j]`` (none
    beyond the ends), times the cotangent; summed over ``y``'s other axes for a 1-D ``x``
    (one point per sample), brought to ``x``'s shape where it broadcast."""
    if x is None:
        return None
    last = np.moveaxis(y, axis, -1)
    heights = (last[..., 1:] + last[..., :-1]) / 2 * np.expand_dims(g, -1)
    ends = [(0, 0)] * (np.ndim(heights) - 1)
    full = np.pad(heights, [*ends, (1, 0)]) - np.pad(heights, [*ends, (0, 1)])
    if np.ndim(x) == 1:
        return np.sum(np.reshape(full, (-1, np.shape(full)[-1])), axis=0)
    return unbroadcast(np.moveaxis(full, -1, axis), x)


@transformable
def trapezoid_spacing_grad(g: Any, y: Any, x: Any, dx: Any, axis: int) -> Any:
    """The gradient of ``np.trapezoid(y, dx=dx)`` in the spacing ``dx`` (none when sample
    points ``x`` are given: the spacing is unused)."""
    if x is not None:
        return None
    return unbroadcast(g * np.trapezoid(y, axis=axis), dx)


@transformable
def trapezoid_spacing_tangent(ddx: Any, y: Any, x: Any, axis: int) -> Any:
    """The tangent of ``np.trapezoid(y, dx=dx)`` along ``ddx``, the spacing's tangent."""
    if x is not None:
        return None
    return ddx * np.trapezoid(y, axis=axis)


@transformable
def ediff1d_grad(g: Any, ary: Any, to_end: Any, to_begin: Any, part: str) -> Any:
    """The gradient of ``np.ediff1d(ary, to_end, to_begin)`` with respect to ``part``:
    ``to_begin``'s values come first in the result, then the differences, then
    ``to_end``'s (each flattened)."""
    begin = 0 if to_begin is None else np.size(to_begin)
    differences = max(np.size(ary) - 1, 0)
    if part == "to_begin":
        if to_begin is None:
            return None
        return np.reshape(g[:begin], np.shape(to_begin))
    if part == "to_end":
        if to_end is None:
            return None
        return np.reshape(g[begin + differences :], np.shape(to_end))
    # y_i = x_{i + 1} - x_i: x_j gets g_{j - 1} - g_j (nothing beyond the ends)
    middle = g[begin : begin + differences]
    if np.size(ary) == 0:
        return np.reshape(middle, np.shape(ary))
    return np.reshape(np.pad(middle, (1, 0)) - np.pad(middle, (0, 1)), np.shape(ary))


@transformable
def ediff1d_tangent(d: Any, ary: Any, to_end: Any, to_begin: Any, part: str) -> Any:
    """The tangent of ``np.ediff1d(ary, to_end, to_begin)`` along ``d``, the tangent of
    ``part``: ``ediff1d`` is linear in the three together, so the others count as zeros."""
    if part == "to_end" and to_end is None:
        return None
    if part == "to_begin" and to_begin is None:
        return None
    moved = zeros_of(ary, d)
    if part == "ary":
        moved = d
    end = to_end
    if to_end is not None:
        end = zeros_of(to_end, d)
        if part == "to_end":
            end = d
    begin = to_begin
    if to_begin is not None:
        begin = zeros_of(to_begin, d)
        if part == "to_begin":
            begin = d
    return np.ediff1d(moved, end, begin)


def scan_axis(axis: Any) -> int:
    """The axis a NumPy 2 scan runs along: ``axis=None`` is for one-dimensional input."""
    return 0 if axis is None else axis


nondifferentiable(scan_axis)


@transformable
def without_initial(values: Any, axis: Any, include_initial: bool) -> Any:
    """A scan's result (or its cotangent) without the initial value it starts with."""
    if not include_initial:
        return values
    moved = np.moveaxis(values, scan_axis(axis), 0)
    return np.moveaxis(moved[1:], 0, scan_axis(axis))


@transformable
def with_initial(tangent: Any, axis: Any, include_initial: bool) -> Any:
    """A scan's tangent with a zero in front for the initial value, when it has one."""
    if not include_initial:
        return tangent
    moved = np.moveaxis(tangent, scan_axis(axis), 0)
    return np.moveaxis(np.concatenate([np.zeros_like(moved[:1]), moved]), 0, scan_axis(axis))


def interp_knots(x: Any, xp: Any, left: Any, right: Any) -> tuple:
    """Which knots each ``x`` reads in ``np.interp(x, xp, fp, left, right)``: the indices of
    the knots below and above it, whether it lies within the knots, the weights that
    ``fp[0]`` and ``fp[-1]`` get where it lies beyond them (1 where ``left`` or ``right``
    is not given), and where ``left`` and ``right`` themselves are read."""
    x, knots = held(x), held(xp)
    module = array_module(x, knots)
    x, knots = module.asarray(x), module.asarray(knots)
    n = knots.shape[0]
    low = module.clip(module.searchsorted(knots, x, side="right") - 1, 0, max(n - 2, 0))
    high = module.minimum(low + 1, n - 1)
    below = x < knots[0]
    above = x > knots[-1]
    inside = ~below & ~above
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    first = (below & (left is None)).astype(dtype)
    last = (above & (right is None)).astype(dtype)
    # (beyond the knots, low and high are the first two or the last two)
    return low, high, inside, first, last, below, above


nondifferentiable(interp_knots)


@transformable
def spread_along(value: Any, axis: int, ans: Any) -> Any:
    """``value``, a start, stop or base of np.logspace or np.geomspace (or its tangent), as
    those functions broadcast it against their samples ``ans``: given the dimensions the
    samples have beside their own axis, then that axis."""
    if np.ndim(value) == 0:
        return value
    lined_up = np.reshape(value, (1,) * (np.ndim(ans) - 1 - np.ndim(value)) + np.shape(value))
    return np.expand_dims(lined_up, axis)


@transformable
def logspace_base_grad(
    g: Any, ans: Any, start: Any, stop: Any, num: int, endpoint: bool, base: Any, axis: int
) -> Any:
    """The gradient of np.logspace's ``base``: ``ans * y / base`` for the exponents y."""
    y = np.linspace(start, stop, num, endpoint, axis=axis)
    per_sample = g * ans * y / spread_along(base, axis, ans)
    if np.ndim(base) == 0:
        return cast_like(np.sum(per_sample), base)
    return cast_like(unbroadcast(np.sum(per_sample, axis=axis), base), base)


@transformable
def outside_grad(g: Any, value: Any, where: Any) -> Any:
    """The gradient of ``left`` (or ``right``) of ``np.interp``: ``g`` where it is read."""
    if value is None:
        return None
    return unbroadcast(cast_like(g * where, value), value)


@transformable
def outside_tangent(d: Any, value: Any, where: Any) -> Any:
    """The tangent ``np.interp`` takes from ``left`` (or ``right``) along ``d``."""
    if value is None:
        return None
    return d * where

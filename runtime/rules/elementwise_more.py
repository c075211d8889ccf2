"""Rules for elementwise functions that are piecewise simple or need a helper:
``np.heaviside`` (a step in ``x1``, with a zero derivative off 0; it moves with its value at
zero, ``x2``, where ``x1`` is 0), ``np.copysign`` (the magnitude of ``x1`` with the sign of
``x2``), ``np.ldexp`` (``x1 * 2**x2`` for integer ``x2``), ``np.modf``'s fractional part,
``np.i0`` (whose derivative is I1, which NumPy lacks) and ``np.unwrap`` (whose corrections
are multiples of the period: locally constant)."""

import numpy as np

from ..device import array_module
from .forward import jvp_rule
from .registry import nondifferentiable, vjp_rule
from .shared import output_parts, transformable, unbroadcast
from .statistics import held


@vjp_rule(np.heaviside)
def heaviside(g, ans, x1, x2):
    return unbroadcast(g * 0, x1), unbroadcast(g * (x1 == 0), x2)


@vjp_rule(np.copysign)
def copysign(g, ans, x1, x2):
    same = np.signbit(x1) == np.signbit(ans)
    return unbroadcast(np.where(same, g, -g), x1), unbroadcast(g * 0, x2)


@vjp_rule(np.ldexp)
def ldexp(g, ans, x1, x2):
    # (x1 is real: its gradient is the real part of what a complex computation sends back)
    return unbroadcast(np.ldexp(g.real, x2), x1), None


# the fractional part moves with x, the integral part does not
@vjp_rule(np.modf, multi_output=True)
def modf(g, ans, x):
    return output_parts(g, ans)[0]


@jvp_rule(np.modf)
def modf_jvp(ans, x, *, dx):
    return ((dx, np.zeros_like(dx)),)


@vjp_rule(np.i0)
def i0(g, ans, x):
    return g * bessel_i1(x)


@jvp_rule(np.i0)
def i0_jvp(ans, x, *, dx):
    return dx * bessel_i1(x)


@vjp_rule(np.unwrap)
def unwrap(g, ans, p, discont=None, axis=-1, *, period=2 * np.pi):
    return g


@jvp_rule(np.unwrap)
def unwrap_jvp(ans, p, discont=None, axis=-1, *, period=2 * np.pi, dp):
    return dp


# -- helpers the rules above call (generated code calls them by these names) ----------------


@transformable
def bessel_i1(x):
    """The modified Bessel function I1, ``np.i0``'s derivative: the mean of
    ``exp(x cos t) cos t`` over a period, by the trapezoidal rule, which is exact to
    rounding for such a periodic integrand once the points outnumber ``|x|`` well.

    >>> round(float(bessel_i1(np.array(1.0))), 12)
    0.565159103992
    """
    angles = _period_points(x)
    along = np.expand_dims(x, -1)
    return np.mean(np.exp(along * np.cos(angles)) * np.cos(angles), axis=-1)


def _period_points(x):
    """Points spread evenly over a period, enough for ``x``'s largest magnitude, in its
    array module and float dtype."""
    xp = array_module(x)
    largest = float(xp.max(xp.abs(xp.asarray(held(x))))) if np.size(x) else 0.0
    count = 32 + 2 * int(np.ceil(largest))
    dtype = getattr(x, "dtype", np.dtype(np.float64))
    dtype = dtype if dtype.kind == "f" else np.dtype(np.float64)
    return xp.arange(count, dtype=dtype) * (2 * np.pi / count)


nondifferentiable(_period_points)

"""Rules for elementwise functions that are piecewise simple: ``np.heaviside`` (a step in
``x1``, with a zero derivative off 0; it moves with its value at zero, ``x2``, where
``x1`` is 0), ``np.copysign`` (the magnitude of ``x1``
with the sign of ``x2``), ``np.ldexp`` (``x1 * 2**x2`` for integer ``x2``), ``np.modf``'s
fractional part and ``np.unwrap`` (whose corrections are multiples of the period: locally
constant)."""

import numpy as np

from .forward import jvp_rule
from .registry import vjp_rule
from .shared import output_parts, unbroadcast


@vjp_rule(np.heaviside)
def heaviside(g, ans, x1, x2):
    return unbroadcast(g * 0, x1), unbroadcast(g * (x1 == 0), x2)


@vjp_rule(np.copysign)
def copysign(g, ans, x1, x2):
    same = np.signbit(x1) == np.signbit(ans)
    return unbroadcast(np.where(same, g, -g), x1), unbroadcast(g * 0, x2)


@vjp_rule(np.ldexp)
def ldexp(g, ans, x1, x2):
    return unbroadcast(np.ldexp(g, x2), x1), None


# the fractional part moves with x, the integral part does not
@vjp_rule(np.modf, multi_output=True)
def modf(g, ans, x):
    return output_parts(g, ans)[0]


@jvp_rule(np.modf)
def modf_jvp(ans, x, *, dx):
    return ((dx, np.zeros_like(dx)),)


@vjp_rule(np.unwrap)
def unwrap(g, ans, p, discont=None, axis=-1, *, period=2 * np.pi):
    return g


@jvp_rule(np.unwrap)
def unwrap_jvp(ans, p, discont=None, axis=-1, *, period=2 * np.pi, dp):
    return dp

"""Rules for reductions and scans; each takes NumPy's ``axis`` (int or tuple) and
``keepdims`` where NumPy does."""

import numpy as np

from .helpers import (
    average_grad,
    average_weights_grad,
    centered,
    cumprod_grad,
    cumsum_grad,
    diff_grad,
    divide_or_zero,
    expand_reduced,
    extremum_grad,
    nanmean_grad,
    prod_grad,
    reduced_count,
    trace_grad,
)
from .linalg_helpers import norm_grad
from .registry import vjp_rule


@vjp_rule(np.sum)
def sum(g, ans, a, axis=None, dtype=None, out=None, keepdims=False):
    return expand_reduced(g, a, axis, keepdims)


@vjp_rule(np.mean)
def mean(g, ans, a, axis=None, dtype=None, out=None, keepdims=False):
    return expand_reduced(g / reduced_count(a, axis), a, axis, keepdims)


@vjp_rule(np.max, np.amax, name="max")
def max(g, ans, a, axis=None, out=None, keepdims=False):
    return extremum_grad(g, ans, a, axis, keepdims)


@vjp_rule(np.min, np.amin, name="min")
def min(g, ans, a, axis=None, out=None, keepdims=False):
    return extremum_grad(g, ans, a, axis, keepdims)


@vjp_rule(np.prod)
def prod(g, ans, a, axis=None, dtype=None, out=None, keepdims=False):
    return prod_grad(g, a, axis, keepdims)


@vjp_rule(np.var)
def var(g, ans, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    return (
        expand_reduced(g, a, axis, keepdims)
        * centered(a, axis)
        * (2 / (reduced_count(a, axis) - ddof))
    )


# Where the values are all equal (std 0), std has no derivative; 0 is the subgradient, and
# the exact derivative of the std of one value, which is always 0.
@vjp_rule(np.std)
def std(g, ans, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    return (
        expand_reduced(divide_or_zero(g, ans), a, axis, keepdims)
        * centered(a, axis)
        / (reduced_count(a, axis) - ddof)
    )


@vjp_rule(np.average)
def average(g, ans, a, axis=None, weights=None, returned=False, *, keepdims=False):
    return (
        average_grad(g, ans, a, axis, weights, returned, keepdims),
        None,
        average_weights_grad(g, ans, a, axis, weights, returned, keepdims),
    )


@vjp_rule(np.nansum)
def nansum(g, ans, a, axis=None, dtype=None, out=None, keepdims=False):
    return expand_reduced(g, a, axis, keepdims) * ~np.isnan(a)


@vjp_rule(np.nanmean)
def nanmean(g, ans, a, axis=None, dtype=None, out=None, keepdims=False):
    return nanmean_grad(g, a, axis, keepdims)


@vjp_rule(np.cumsum)
def cumsum(g, ans, a, axis=None, dtype=None, out=None):
    return cumsum_grad(g, a, axis)


@vjp_rule(np.cumprod)
def cumprod(g, ans, a, axis=None, dtype=None, out=None):
    return cumprod_grad(g, ans, a, axis)


@vjp_rule(np.diff)
def diff(g, ans, a, n=1, axis=-1, prepend=None, append=None):
    return (
        diff_grad(g, a, n, axis, prepend, append),
        None,
        None,
        diff_grad(g, a, n, axis, prepend, append, "prepend"),
        diff_grad(g, a, n, axis, prepend, append, "append"),
    )


@vjp_rule(np.trace)
def trace(g, ans, a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    return trace_grad(g, a, offset, axis1, axis2)


@vjp_rule(np.linalg.norm)
def norm(g, ans, x, ord=None, axis=None, keepdims=False):
    return norm_grad(g, ans, x, ord, axis, keepdims)

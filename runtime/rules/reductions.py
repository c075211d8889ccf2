"""Rules for reductions; each takes NumPy's ``axis`` (int or tuple) and ``keepdims``."""

import numpy as np

from .helpers import expand_reduced, extremum_grad, prod_grad, reduced_count
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

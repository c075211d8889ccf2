"""Rules for the helpers generated gradient code calls, so that code can be differentiated
again (issue 16: ``ag.hessian`` is batched forward mode over the generated gradient, and
reverse-mode Jacobians batched forward mode over the pullback).

Each helper here is linear in the cotangent it takes (and the products' gradients in the
other factor too); the arguments it reads for a shape, a dtype or options get no gradient.
The vjp of a linear map is its transpose, written with the helpers themselves where that
is shortest: ``matmul_grad_left(g, x, y)`` is ``d<g, x @ y>/dx``, so pairing it with ``h``
gives ``<g, h @ y>``, whose gradients are ``h @ y`` (in ``g``) and
``matmul_grad_right(g, h, y)`` (in ``y``); the right factor's gradient likewise.
``tests/test_helper_rules.py`` lists which helpers of generated code have rules.
"""

from __future__ import annotations

import numpy as np

from .arithmetic import dot_grad_left, dot_grad_right, matmul_grad_left, matmul_grad_right
from .complex import conjugate_if_complex
from .forward import jvp_rule, linear
from .reductions import centered, cumsum_grad, trace_grad
from .registry import nondifferentiable, vjp_rule
from .selection import sort_grad
from .shared import (
    cast_like,
    expand_reduced,
    inverse_axes,
    reduced_count,
    reshape_like,
    unbroadcast,
)

__all__: list[str] = []

# counts of elements and permutations of axes: integers
nondifferentiable(reduced_count, inverse_axes)


# (the cotangent parameter is named ``cotangent``: ``g`` is the rule's own)
@vjp_rule(unbroadcast)
def unbroadcast_vjp(g, ans, cotangent, x):
    # summing down to x's shape, transposed: spreading back over the cotangent's shape
    return np.broadcast_to(g, np.shape(cotangent)), None


@vjp_rule(expand_reduced)
def expand_reduced_vjp(g, ans, cotangent, x, axis=None, keepdims=False, where=True):
    # spreading over the reduced axes (zero off the mask), transposed: the masked sum
    return np.sum(g * where, axis=axis, keepdims=keepdims), None, None, None, None


@vjp_rule(reshape_like)
def reshape_like_vjp(g, ans, cotangent, x):
    return reshape_like(g, cotangent), None


@vjp_rule(cast_like)
def cast_like_vjp(g, ans, cotangent, x):
    # (a complex cotangent cast to x's real dtype lost its imaginary part: Re's gradient)
    dropped = np.iscomplexobj(cotangent) and not np.iscomplexobj(ans)
    return cast_like(g.real if dropped else g, cotangent), None


@vjp_rule(conjugate_if_complex)
def conjugate_if_complex_vjp(g, ans, value, x):
    return conjugate_if_complex(g, x), None


linear(unbroadcast, expand_reduced, reshape_like, cast_like, conjugate_if_complex)


@vjp_rule(matmul_grad_left)
def matmul_grad_left_vjp(g, ans, cotangent, x, y):
    return np.matmul(g, y), None, matmul_grad_right(cotangent, g, y)


@jvp_rule(matmul_grad_left)
def matmul_grad_left_jvp(ans, cotangent, x, y, *, dcotangent, dy):
    return matmul_grad_left(dcotangent, x, y), None, matmul_grad_left(cotangent, x, dy)


@vjp_rule(matmul_grad_right)
def matmul_grad_right_vjp(g, ans, cotangent, x, y):
    return np.matmul(x, g), matmul_grad_left(cotangent, x, g), None


@jvp_rule(matmul_grad_right)
def matmul_grad_right_jvp(ans, cotangent, x, y, *, dcotangent, dx):
    return matmul_grad_right(dcotangent, x, y), matmul_grad_right(cotangent, dx, y), None


@vjp_rule(dot_grad_left)
def dot_grad_left_vjp(g, ans, cotangent, a, b):
    return np.dot(g, b), None, dot_grad_right(cotangent, g, b)


@jvp_rule(dot_grad_left)
def dot_grad_left_jvp(ans, cotangent, a, b, *, dcotangent, db):
    return dot_grad_left(dcotangent, a, b), None, dot_grad_left(cotangent, a, db)


@vjp_rule(dot_grad_right)
def dot_grad_right_vjp(g, ans, cotangent, a, b):
    return np.dot(a, g), dot_grad_left(cotangent, a, g), None


@jvp_rule(dot_grad_right)
def dot_grad_right_jvp(ans, cotangent, a, b, *, dcotangent, da):
    return dot_grad_right(dcotangent, a, b), dot_grad_right(cotangent, da, b), None


# a minus its mean: an orthogonal projection, its own transpose
@vjp_rule(centered)
def centered_vjp(g, ans, a, axis=None):
    return centered(g, axis), None


# the reversed cumulative sum's transpose: the cumulative sum (flattening, as the
# cotangent was, where axis is None)
@vjp_rule(cumsum_grad)
def cumsum_grad_vjp(g, ans, cotangent, a, axis=None):
    return np.cumsum(g, axis=axis), None, None


# the cotangent placed along a diagonal, transposed: that diagonal's sum
@vjp_rule(trace_grad)
def trace_grad_vjp(g, ans, cotangent, a, offset=0, axis1=0, axis2=1):
    return np.trace(g, offset, axis1, axis2), None, None, None, None


# each sorted position's cotangent sent to the element that landed there, transposed:
# the elements read in sorted order (the order is piecewise constant in a)
@vjp_rule(sort_grad)
def sort_grad_vjp(g, ans, cotangent, a, axis=-1):
    return np.take_along_axis(g, np.argsort(a, axis=axis, kind="stable"), axis), None, None


linear(centered, cumsum_grad, trace_grad, sort_grad)

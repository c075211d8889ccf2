"""Rules for the helpers of generated gradient code from linear algebra (linalg,
linalg_helpers, linalg_more, linalg_complex), so that code can be differentiated again
(issue 16; ``helper_rules`` holds the first ones and says how).

The products' gradients (``inner``, ``tensordot``, ``kron``, ``cross``) are linear in the
cotangent and in the other factor, and read the operand whose gradient they are for its
shape only: pairing ``inner_grad_left(g, a, b)`` with ``h`` (shaped like ``a``) gives
``<g, inner(h, b)>``, whose gradients are ``inner(h, b)`` in ``g`` and
``inner_grad_right(g, h, b)`` in ``b``, as ``matmul_grad_left``'s rule has it. Their
forward rules put each tangent in its argument's place (bilinear maps).
"""

from __future__ import annotations

import numpy as np

from .forward import jvp_rule
from .linalg_helpers import (
    cross_grad,
    inner_grad_left,
    inner_grad_right,
    kron_grad_left,
    kron_grad_right,
    tensordot_grad_left,
    tensordot_grad_right,
)
from .registry import vjp_rule

__all__: list[str] = []


# -- products: linear in the cotangent and in the other factor -----------------------------
# (the cotangent parameter is named ``cotangent``: ``g`` is the rule's own)


@vjp_rule(inner_grad_left)
def inner_grad_left_vjp(g, ans, cotangent, a, b):
    return np.inner(g, b), None, inner_grad_right(cotangent, g, b)


@jvp_rule(inner_grad_left)
def inner_grad_left_jvp(ans, cotangent, a, b, *, dcotangent, db):
    return inner_grad_left(dcotangent, a, b), None, inner_grad_left(cotangent, a, db)


@vjp_rule(inner_grad_right)
def inner_grad_right_vjp(g, ans, cotangent, a, b):
    return np.inner(a, g), inner_grad_left(cotangent, a, g), None


@jvp_rule(inner_grad_right)
def inner_grad_right_jvp(ans, cotangent, a, b, *, dcotangent, da):
    return inner_grad_right(dcotangent, a, b), inner_grad_right(cotangent, da, b), None


@vjp_rule(tensordot_grad_left)
def tensordot_grad_left_vjp(g, ans, cotangent, a, b, axes=2):
    return np.tensordot(g, b, axes), None, tensordot_grad_right(cotangent, g, b, axes), None


@jvp_rule(tensordot_grad_left)
def tensordot_grad_left_jvp(ans, cotangent, a, b, axes=2, *, dcotangent, db):
    return (
        tensordot_grad_left(dcotangent, a, b, axes),
        None,
        tensordot_grad_left(cotangent, a, db, axes),
        None,
    )


@vjp_rule(tensordot_grad_right)
def tensordot_grad_right_vjp(g, ans, cotangent, a, b, axes=2):
    return np.tensordot(a, g, axes), tensordot_grad_left(cotangent, a, g, axes), None, None


@jvp_rule(tensordot_grad_right)
def tensordot_grad_right_jvp(ans, cotangent, a, b, axes=2, *, dcotangent, da):
    return (
        tensordot_grad_right(dcotangent, a, b, axes),
        tensordot_grad_right(cotangent, da, b, axes),
        None,
        None,
    )


@vjp_rule(kron_grad_left)
def kron_grad_left_vjp(g, ans, cotangent, a, b):
    return np.kron(g, b), None, kron_grad_right(cotangent, g, b)


@jvp_rule(kron_grad_left)
def kron_grad_left_jvp(ans, cotangent, a, b, *, dcotangent, db):
    return kron_grad_left(dcotangent, a, b), None, kron_grad_left(cotangent, a, db)


@vjp_rule(kron_grad_right)
def kron_grad_right_vjp(g, ans, cotangent, a, b):
    return np.kron(a, g), kron_grad_left(cotangent, a, g), None


@jvp_rule(kron_grad_right)
def kron_grad_right_jvp(ans, cotangent, a, b, *, dcotangent, da):
    return kron_grad_right(dcotangent, a, b), kron_grad_right(cotangent, da, b), None


# cross_grad(g, other, x, ...) is ``other x g`` for x = a (left False) and ``g x a`` for
# x = b (left True). Paired with h (shaped like x): <h, other x g> = <g, h x other> =
# <other, g x h>, and <h, g x other> = <g, other x h> = <other, h x g>: the cotangent's
# gradient is a cross product with h in x's place, the other factor's is cross_grad with
# h as the other factor (along x's axis) and the roles swapped.
@vjp_rule(cross_grad)
def cross_grad_vjp(g, ans, cotangent, other, x, axisc, axis_other, axisx, axis, left):
    # (other x h is -(h x other): the sign flips where left)
    return (
        np.cross(g, other, axisx, axis_other, axisc, axis) * (1 - 2 * left),
        cross_grad(cotangent, g, other, axisc, axisx, axis_other, axis, not left),
        None,
        None,
        None,
        None,
        None,
        None,
    )


@jvp_rule(cross_grad)
def cross_grad_jvp(
    ans, cotangent, other, x, axisc, axis_other, axisx, axis, left, *, dcotangent, dother
):
    return (
        cross_grad(dcotangent, other, x, axisc, axis_other, axisx, axis, left),
        cross_grad(cotangent, dother, x, axisc, axis_other, axisx, axis, left),
        None,
        None,
        None,
        None,
        None,
        None,
    )

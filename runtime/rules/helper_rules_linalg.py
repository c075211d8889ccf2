"""Rules for the helpers of generated gradient code from linear algebra (linalg,
linalg_helpers, linalg_more, linalg_complex), so that code can be differentiated again
(issue 16; ``helper_rules`` holds the first ones and says how).

The products' gradients (``inner``, ``tensordot``, ``kron``, ``cross``) are linear in the
cotangent and in the other factor, and read the operand whose gradient they are for its
shape only: pairing ``inner_grad_left(g, a, b)`` with ``h`` (shaped like ``a``) gives
``<g, inner(h, b)>``, whose gradients are ``inner(h, b)`` in ``g`` and
``inner_grad_right(g, h, b)`` in ``b``, as ``matmul_grad_left``'s rule has it. Their
forward rules put each tangent in its argument's place (bilinear maps).

The solves' and inverses' helpers are linear in the cotangent and not in the matrix:
``solve_adjoint(g, a, b)`` is ``y = a^-T g``, which moves by ``a^-T (dg - da^T y)``, so
its vjp is ``z = a^-1 h`` in ``g`` and ``-y z^T`` in ``a`` (``solve_grad_a``, which is
transformable). ``cholesky_inverse(a, low)`` is ``a^-1`` read from ``low = cholesky(a)``
where it can: ``low`` is a function of ``a`` in the code that calls it, so the whole
derivative goes through ``a``.
"""

from __future__ import annotations

import numpy as np

from ..adjoints import Parts
from .complex import ComplexGradientError, real_like
from .forward import jvp_rule, linear
from .linalg import pinv_to_operand
from .linalg_complex import _h, hermitian_cholesky_grad, hermitian_cholesky_tangent
from .linalg_helpers import (
    _distinct_nonzero,
    _einsum_layout,
    _no_cotangent,
    batched_scalar,
    cho_factor_grad,
    cholesky_factor_grad,
    cholesky_inverse,
    cross_grad,
    einsum_grad,
    einsum_tangent,
    inner_grad_left,
    inner_grad_right,
    kron_grad_left,
    kron_grad_right,
    mT,
    solve_adjoint,
    solve_grad_a,
    solve_tangent_a,
    tensordot_grad_left,
    tensordot_grad_right,
)
from .linalg_helpers import _tril_half_diagonal as lower_half_diagonal
from .linalg_helpers import inverse as matrix_inverse
from .linalg_more import (
    _size,
    _tensor_axes,
    constants_shape,
    integration_constant_rows,
    multi_dot_grads,
    multi_dot_tangent,
    poly_scaled_grad,
    poly_tail_grad,
    polyint_constants_grad,
    tensor_system_back,
)
from .rearranging import diag_grad
from .registry import nondifferentiable, vjp_rule
from .shared import _normalize_axes, cast_like, output_parts, transformable, unbroadcast

__all__: list[str] = []

# axes normalized to non-negative integers (norm_grad, transformable, reads them), and the
# tests choosing svd_grad's formula (the two agree where both are finite)
nondifferentiable(_normalize_axes, _distinct_nonzero, _no_cotangent)


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


# -- solves and inverses ---------------------------------------------------------------------


@vjp_rule(solve_adjoint)
def solve_adjoint_vjp(g, ans, cotangent, a, b, lower=None):
    # (a solve with a^T's transpose, a: the same helper, with b saying vector or matrix)
    solved = solve_adjoint(g, mT(a), b)
    return unbroadcast(solved, cotangent), solve_grad_a(ans, solved, a, b), None, None


@jvp_rule(solve_adjoint)
def solve_adjoint_jvp(ans, cotangent, a, b, lower=None, *, dcotangent, da):
    return (
        solve_adjoint(dcotangent, a, b, lower),
        solve_tangent_a(mT(da), ans, mT(a), b),
        None,
        None,
    )


@vjp_rule(matrix_inverse)
def inverse_vjp(g, ans, a):
    return -(mT(ans) @ g @ mT(ans))


@jvp_rule(matrix_inverse)
def inverse_jvp(ans, a, *, da):
    return -(ans @ da @ ans)


@vjp_rule(cholesky_inverse)
def cholesky_inverse_vjp(g, ans, a, low):
    return -(mT(ans) @ g @ mT(ans)), None


@jvp_rule(cholesky_inverse)
def cholesky_inverse_jvp(ans, a, low, *, da):
    return -(ans @ da @ ans), None


# x[..., None, None], transposed: the two added axes read back
@vjp_rule(batched_scalar)
def batched_scalar_vjp(g, ans, x):
    return g[..., 0, 0]


linear(batched_scalar)


# -- the Cholesky factor's gradient ----------------------------------------------------------
# hermitian_cholesky_grad(g, low, a) is G = conj(Φ(K + K^H)) with K = L^-H Φ(L^H conj(g))
# L^-1 (Φ: the lower triangle, its diagonal halved), a function of g and of the factor L
# alone (a says only whether the values are complex); for real values G = Φ(K + K^T). It
# is real-linear in g, and its transpose is the tangent of the factorization (pairing
# Re<h, G(g)> = Re<g, T(h)>). In L, with S = Φ(h) + Φ(h)^H (Hermitian), K moves by dK =
# -L^-H dL^H K + L^-H Φ(dL^H conj(g)) L^-1 - K dL L^-1, so Re(sum(h * dG)) = Re tr(S dK),
# whose gradient in L is g Φ(L^-1 S L^-H)^T - conj((K + K^H) S L^-H) (for real values
# -(K + K^T) S L^-T + g Φ(L^-1 S L^-T)^T). The factor is upper triangular for upper=True,
# where G(g, U) is G_lower(g^H, U^H)^H: the same, conjugate-transposed.


@vjp_rule(hermitian_cholesky_grad)
def hermitian_cholesky_grad_vjp(g, ans, cotangent, low, a, upper=False):
    return (
        hermitian_cholesky_tangent(g, low, a, upper),
        cholesky_grad_factor_cotangent(g, cotangent, low, upper),
        None,
        None,
    )


@jvp_rule(hermitian_cholesky_grad)
def hermitian_cholesky_grad_jvp(ans, cotangent, low, a, upper=False, *, dcotangent, dlow):
    return (
        hermitian_cholesky_grad(dcotangent, low, a, upper),
        cholesky_grad_factor_tangent(cotangent, low, dlow, upper),
        None,
        None,
    )


@transformable
def _cholesky_grad_inner(g, low):
    """``K = L^-H Φ(L^H conj(g)) L^-1`` of the Cholesky gradient (upper=False)."""
    left = np.linalg.solve(_h(low), lower_half_diagonal(_h(low) @ np.conjugate(g)))
    return _h(np.linalg.solve(_h(low), _h(left)))


@transformable
def cholesky_grad_factor_cotangent(h, g, low, upper=False):
    """The gradient in the factor ``low`` of ``Re(sum(h * hermitian_cholesky_grad(g, low,
    a)))`` (real or complex values; see above)."""
    if upper:
        h, g, low = _h(h), _h(g), _h(low)
    k = _cholesky_grad_inner(g, low)
    half = lower_half_diagonal(h)
    symmetric = half + _h(half)
    inner = np.linalg.solve(low, _h(np.linalg.solve(low, symmetric)))  # L^-1 S L^-H
    through_inverse = _h(np.linalg.solve(low, _h((k + _h(k)) @ symmetric)))  # (.) L^-H
    grad = g @ mT(lower_half_diagonal(inner)) - np.conjugate(through_inverse)
    if upper:
        return _h(grad)
    return grad


@transformable
def cholesky_grad_factor_tangent(g, low, dlow, upper=False):
    """The tangent of ``hermitian_cholesky_grad(g, low, a)`` as the factor ``low`` moves
    along ``dlow`` (real or complex values; see above)."""
    if upper:
        g, low, dlow = _h(g), _h(low), _h(dlow)
    k = _cholesky_grad_inner(g, low)
    # dK = (L^-H Φ(dL^H conj(g)) - K dL) L^-1 - L^-H dL^H K
    through = np.linalg.solve(_h(low), lower_half_diagonal(_h(dlow) @ np.conjugate(g))) - k @ dlow
    dk = _h(np.linalg.solve(_h(low), _h(through))) - np.linalg.solve(_h(low), _h(dlow) @ k)
    tangent = np.conjugate(lower_half_diagonal(dk + _h(dk)))
    if upper:
        return _h(tangent)
    return tangent


# -- linear maps of the cotangent alone: their transposes ---------------------------------------


# the lower triangle taking the symmetric matrix's both elements (hermitian=True), whose
# transpose reads the symmetric matrix a triangle stands for (pinv_operand's, written out:
# no conjugate, as the map has none, so that a complex cotangent, which pinv_operand
# refuses for a, gets its transpose too)
@vjp_rule(pinv_to_operand)
def pinv_to_operand_vjp(g, ans, grad, hermitian=False):
    return (np.tril(g) + mT(np.tril(g, -1)) if hermitian else g), None


# a's axes reordered and reshaped into tensorsolve's square matrix, undone; transposed:
# done again, to the matrix's shape
@vjp_rule(tensor_system_back)
def tensor_system_back_vjp(g, ans, grad, a, axes):
    return (
        np.reshape(np.transpose(g, _tensor_axes(np.ndim(a), axes)), np.shape(grad)),
        None,
        None,
    )


# The polynomial helpers cast their result to the dtype of the real coefficients whose
# gradient it is (cast_like): given a complex cotangent they give a real result, whose
# cotangent's imaginary part means nothing, so their transposes read only g's real part
# there (real_like), as cast_like's rule does.


# the last coefficients of the cotangent, transposed: placed back at its end
@vjp_rule(poly_tail_grad)
def poly_tail_grad_vjp(g, ans, cotangent, a):
    g = real_like(g, ans)
    return (
        np.concatenate([np.zeros_like(cotangent[: np.size(cotangent) - np.size(g)]), np.ravel(g)]),
        None,
    )


# the first coefficients scaled by constant factors, the others zero: transposed, the same
# scaling, and zeros to the cotangent's length
@vjp_rule(poly_scaled_grad)
def poly_scaled_grad_vjp(g, ans, cotangent, p, factors):
    scaled = np.ravel(real_like(g, ans))[: np.size(factors)] * factors
    return (
        cast_like(
            np.concatenate([scaled, np.zeros_like(cotangent[np.size(factors) :])]), cotangent
        ),
        None,
        None,
    )


# the integration constants' rows times the cotangent (summed for one constant given as
# a number); transposed, the rows' transpose times the constants' cotangent (the rows in
# g's array module, as the helper makes them in its cotangent's)
@vjp_rule(polyint_constants_grad)
def polyint_constants_grad_vjp(g, ans, cotangent, p, m, k):
    g = real_like(g, ans)
    rows = integration_constant_rows(max(np.size(p), 1), m, _size(constants_shape(k)), g)
    spread = np.broadcast_to(np.ravel(g), (np.shape(rows)[0],))
    return cast_like(np.transpose(rows) @ spread, cotangent), None, None, None


linear(pinv_to_operand, tensor_system_back, poly_tail_grad, poly_scaled_grad)
linear(polyint_constants_grad)


# -- einsum: linear in the cotangent and in each operand but the one it is the gradient of ----
# Paired with h (shaped like the operand at ``position``), einsum_grad(g, position, ...) gives
# <g, einsum(... h in that operand's place ...)>: in g, that einsum (einsum_tangent's); in
# another operand, einsum's gradient with h in that place (einsum_grad_with). Its tangent
# puts each tangent in its argument's place likewise.


@transformable
def einsum_grad_with(
    cotangent,
    moved,
    moved_at,
    position,
    subscripts,
    op0=None,
    op1=None,
    op2=None,
    op3=None,
    op4=None,
    op5=None,
    op6=None,
    op7=None,
):
    """``einsum_grad(cotangent, position, subscripts, op0, ...)`` with ``moved`` in the
    place of the argument at ``moved_at``; zeros where that is the argument at
    ``position``, which einsum_grad reads for its shape only; None where ``moved_at`` is
    no operand (subscripts, a sublist, an argument not passed), as for einsum_grad."""
    if _einsum_layout(moved_at, subscripts, op0, op1, op2, op3, op4, op5, op6, op7) is None:
        return None
    if moved_at == position:
        return np.zeros_like(moved)
    # (one call per place, nothing bound again: forward mode then moves only what moves)
    if moved_at == 0:
        return einsum_grad(cotangent, position, moved, op0, op1, op2, op3, op4, op5, op6, op7)
    if moved_at == 1:
        return einsum_grad(
            cotangent, position, subscripts, moved, op1, op2, op3, op4, op5, op6, op7
        )
    if moved_at == 2:
        return einsum_grad(
            cotangent, position, subscripts, op0, moved, op2, op3, op4, op5, op6, op7
        )
    if moved_at == 3:
        return einsum_grad(
            cotangent, position, subscripts, op0, op1, moved, op3, op4, op5, op6, op7
        )
    if moved_at == 4:
        return einsum_grad(
            cotangent, position, subscripts, op0, op1, op2, moved, op4, op5, op6, op7
        )
    if moved_at == 5:
        return einsum_grad(
            cotangent, position, subscripts, op0, op1, op2, op3, moved, op5, op6, op7
        )
    if moved_at == 6:
        return einsum_grad(
            cotangent, position, subscripts, op0, op1, op2, op3, op4, moved, op6, op7
        )
    if moved_at == 7:
        return einsum_grad(
            cotangent, position, subscripts, op0, op1, op2, op3, op4, op5, moved, op7
        )
    return einsum_grad(cotangent, position, subscripts, op0, op1, op2, op3, op4, op5, op6, moved)


@vjp_rule(einsum_grad)
def einsum_grad_vjp(
    g,
    ans,
    cotangent,
    position,
    subscripts,
    op0=None,
    op1=None,
    op2=None,
    op3=None,
    op4=None,
    op5=None,
    op6=None,
    op7=None,
):
    return (
        einsum_tangent(g, position, subscripts, op0, op1, op2, op3, op4, op5, op6, op7),
        None,
        einsum_grad_with(
            cotangent, g, position, 0, subscripts, op0, op1, op2, op3, op4, op5, op6, op7
        ),
        einsum_grad_with(
            cotangent, g, position, 1, subscripts, op0, op1, op2, op3, op4, op5, op6, op7
        ),
        einsum_grad_with(
            cotangent, g, position, 2, subscripts, op0, op1, op2, op3, op4, op5, op6, op7
        ),
        einsum_grad_with(
            cotangent, g, position, 3, subscripts, op0, op1, op2, op3, op4, op5, op6, op7
        ),
        einsum_grad_with(
            cotangent, g, position, 4, subscripts, op0, op1, op2, op3, op4, op5, op6, op7
        ),
        einsum_grad_with(
            cotangent, g, position, 5, subscripts, op0, op1, op2, op3, op4, op5, op6, op7
        ),
        einsum_grad_with(
            cotangent, g, position, 6, subscripts, op0, op1, op2, op3, op4, op5, op6, op7
        ),
        einsum_grad_with(
            cotangent, g, position, 7, subscripts, op0, op1, op2, op3, op4, op5, op6, op7
        ),
        einsum_grad_with(
            cotangent, g, position, 8, subscripts, op0, op1, op2, op3, op4, op5, op6, op7
        ),
    )


@jvp_rule(einsum_grad)
def einsum_grad_jvp(
    ans,
    cotangent,
    position,
    subscripts,
    op0=None,
    op1=None,
    op2=None,
    op3=None,
    op4=None,
    op5=None,
    op6=None,
    op7=None,
    *,
    dcotangent,
    dsubscripts,
    dop0,
    dop1,
    dop2,
    dop3,
    dop4,
    dop5,
    dop6,
    dop7,
):
    return (
        einsum_grad(dcotangent, position, subscripts, op0, op1, op2, op3, op4, op5, op6, op7),
        None,
        einsum_grad_with(
            cotangent, dsubscripts, 0, position, subscripts, op0, op1, op2, op3, op4, op5, op6, op7
        ),
        einsum_grad_with(
            cotangent, dop0, 1, position, subscripts, op0, op1, op2, op3, op4, op5, op6, op7
        ),
        einsum_grad_with(
            cotangent, dop1, 2, position, subscripts, op0, op1, op2, op3, op4, op5, op6, op7
        ),
        einsum_grad_with(
            cotangent, dop2, 3, position, subscripts, op0, op1, op2, op3, op4, op5, op6, op7
        ),
        einsum_grad_with(
            cotangent, dop3, 4, position, subscripts, op0, op1, op2, op3, op4, op5, op6, op7
        ),
        einsum_grad_with(
            cotangent, dop4, 5, position, subscripts, op0, op1, op2, op3, op4, op5, op6, op7
        ),
        einsum_grad_with(
            cotangent, dop5, 6, position, subscripts, op0, op1, op2, op3, op4, op5, op6, op7
        ),
        einsum_grad_with(
            cotangent, dop6, 7, position, subscripts, op0, op1, op2, op3, op4, op5, op6, op7
        ),
        einsum_grad_with(
            cotangent, dop7, 8, position, subscripts, op0, op1, op2, op3, op4, op5, op6, op7
        ),
    )


# -- multi_dot: each array's gradient linear in the cotangent and in the other arrays --------
# Paired with h_j (shaped like array j), multi_dot_grads(g, arrays) gives the sum over j of
# <g, multi_dot(arrays with h_j in place j)>: in g, multi_dot's tangent along the h_j; in
# array i, the sum over j != i of multi_dot's gradient there with h_j in place j. The
# tangent of gradient i along the arrays' tangents d_j is that same sum with d_j for h_j.


def parts_of(items: list) -> Parts:
    """``items``, the gradients of a sequence's arrays, as :class:`Parts` (whose sums add
    part by part): a primitive, so that transformable code may return them."""
    return Parts(items)


@vjp_rule(parts_of, multi_output=True)
def parts_of_vjp(g, ans, items):
    return (Parts(output_parts(g, ans)),)


@jvp_rule(parts_of)
def parts_of_jvp(ans, items, *, ditems):
    return parts_of(ditems)


@transformable
def _multi_dot_grad_moved(cotangent, moved, arrays, i):
    """The sum over j != i of multi_dot's gradient in array i with ``moved[j]`` in place
    of array j."""
    count = len(arrays)
    total = np.zeros_like(moved[i])
    for j in range(count):
        if j != i:
            placed = [moved[k] if k == j else arrays[k] for k in range(count)]
            total = total + multi_dot_grads(cotangent, placed)[i]
    return total


@transformable
def multi_dot_grads_moved(cotangent, moved, arrays):
    """The :func:`_multi_dot_grad_moved` of every array, as Parts."""
    return parts_of(
        [_multi_dot_grad_moved(cotangent, moved, arrays, i) for i in range(len(arrays))]
    )


@vjp_rule(multi_dot_grads, multi_output=True)
def multi_dot_grads_vjp(g, ans, cotangent, arrays):
    return (
        np.reshape(multi_dot_tangent(output_parts(g, ans), arrays), np.shape(cotangent)),
        multi_dot_grads_moved(cotangent, output_parts(g, ans), arrays),
    )


@jvp_rule(multi_dot_grads)
def multi_dot_grads_jvp(ans, cotangent, arrays, *, dcotangent, darrays):
    return multi_dot_grads(dcotangent, arrays), multi_dot_grads_moved(cotangent, darrays, arrays)


# -- the Cholesky factor's gradient gathered by transform/factor.py ----------------------------
# cholesky_factor_grad(L, K, diagonals, solves, transposed_solves, cho_solves) is
# hermitian_cholesky_grad(D, L, K) for the factor's dense cotangent D, the sum of its parts
# (factor_dense): diag(v) for each v; -y x^T, y = L^-T gx, for each solve (gx, x, b) with L;
# -x gb^T for each (gb, x, b) with L^T; tril((ga + ga^T) L), ga = -gb x^T, for each
# cho_solve (gb, x). Its derivative goes through D, linear in each part's cotangents and
# values, and through L, in D and in hermitian_cholesky_grad (whose rules say how). Real
# values (the closed form the helper takes is for them; complex ones are refused).


def _real_factor_only(low):
    """Raises for a complex factor: the closed forms below are written for real values."""
    if np.iscomplexobj(low):
        raise ComplexGradientError(
            "np.linalg.cholesky of a complex matrix, differentiated twice: the derivative "
            "of its gradient is written for real values in astgrad (its first derivative "
            "is right for complex ones)"
        )


nondifferentiable(_real_factor_only)


def _outer_columns(u, v):
    """``u v^T`` of two vectors, or of two matrices summed over their columns."""
    if np.ndim(u) == 1:
        return np.outer(u, v)
    return u @ mT(v)


transformable(_outer_columns)


@transformable
def factor_dense(low, diagonals, solves, transposed_solves, cho_solves):
    """The factor's dense cotangent D: the sum of its parts (see above)."""
    _real_factor_only(low)
    dense = np.zeros_like(low)
    for i in range(len(diagonals)):
        dense = dense + diag_grad(diagonals[i], low)
    for i in range(len(solves)):
        gx, x, b = solves[i][0], solves[i][1], solves[i][2]
        dense = dense + solve_grad_a(solve_adjoint(gx, low, b), x, low, b)
    for i in range(len(transposed_solves)):
        gb, x = transposed_solves[i][0], transposed_solves[i][1]
        dense = dense - _outer_columns(x, gb)
    for i in range(len(cho_solves)):
        gb, x = cho_solves[i][0], cho_solves[i][1]
        both = _outer_columns(gb, x) + _outer_columns(x, gb)
        dense = dense - np.tril(both @ np.tril(low))
    return dense


@transformable
def factor_parts_cotangents(moved, low, diagonals, solves, transposed_solves, cho_solves):
    """For the cotangent ``moved`` of D: (L's through D, the diagonals', the solves', the
    transposed solves', the cho_solves'), each sequence's as Parts."""
    through_low = np.zeros_like(low)
    # (diag(v)'s transpose: the diagonal, for each v)
    grads_diagonals = [np.diagonal(moved) for _ in diagonals]
    grads_solves = []
    for i in range(len(solves)):
        gx, x, b = solves[i][0], solves[i][1], solves[i][2]
        y = solve_adjoint(gx, low, b)
        dy = -(moved @ x)
        dgx = solve_adjoint(dy, mT(low), b)
        through_low = through_low + solve_grad_a(y, dgx, low, b)
        grads_solves.append(parts_of([dgx, -(mT(moved) @ y), np.zeros_like(b)]))
    grads_transposed = []
    for i in range(len(transposed_solves)):
        gb, x, b = transposed_solves[i][0], transposed_solves[i][1], transposed_solves[i][2]
        grads_transposed.append(parts_of([-(mT(moved) @ x), -(moved @ gb), np.zeros_like(b)]))
    grads_cho = []
    for i in range(len(cho_solves)):
        gb, x = cho_solves[i][0], cho_solves[i][1]
        lower_moved = np.tril(moved)
        both = _outer_columns(gb, x) + _outer_columns(x, gb)
        through_low = through_low - np.tril(both @ lower_moved)
        turned = lower_moved @ mT(np.tril(low))
        turned = turned + mT(turned)
        grads_cho.append(parts_of([-(turned @ x), -(turned @ gb)]))
    return (
        through_low,
        parts_of(grads_diagonals),
        parts_of(grads_solves),
        parts_of(grads_transposed),
        parts_of(grads_cho),
    )


@transformable
def factor_dense_low_tangent(dlow, low, solves, cho_solves):
    """The tangent of D as the factor moves along ``dlow`` (its parts held)."""
    total = np.zeros_like(low)
    for i in range(len(solves)):
        gx, x, b = solves[i][0], solves[i][1], solves[i][2]
        y = solve_adjoint(gx, low, b)
        total = total + solve_grad_a(solve_tangent_a(mT(dlow), y, mT(low), b), x, low, b)
    for i in range(len(cho_solves)):
        gb, x = cho_solves[i][0], cho_solves[i][1]
        both = _outer_columns(gb, x) + _outer_columns(x, gb)
        total = total - np.tril(both @ np.tril(dlow))
    return total


@transformable
def solves_dense_tangent(dsolves, low, solves):
    """The tangent of D as the solves' parts move along ``dsolves``."""
    total = np.zeros_like(low)
    for i in range(len(solves)):
        gx, x, b = solves[i][0], solves[i][1], solves[i][2]
        dgx, dx = dsolves[i][0], dsolves[i][1]
        total = total + solve_grad_a(solve_adjoint(dgx, low, b), x, low, b)
        total = total + solve_grad_a(solve_adjoint(gx, low, b), dx, low, b)
    return total


@transformable
def transposed_dense_tangent(dtransposed, low, transposed_solves):
    """The tangent of D as the transposed solves' parts move along ``dtransposed``."""
    total = np.zeros_like(low)
    for i in range(len(transposed_solves)):
        gb, x = transposed_solves[i][0], transposed_solves[i][1]
        dgb, dx = dtransposed[i][0], dtransposed[i][1]
        total = total - _outer_columns(dx, gb) - _outer_columns(x, dgb)
    return total


@transformable
def cho_dense_tangent(dcho, low, cho_solves):
    """The tangent of D as the cho_solves' parts move along ``dcho``."""
    total = np.zeros_like(low)
    for i in range(len(cho_solves)):
        gb, x = cho_solves[i][0], cho_solves[i][1]
        dgb, dx = dcho[i][0], dcho[i][1]
        both = _outer_columns(dgb, x) + _outer_columns(gb, dx)
        total = total - np.tril((both + mT(both)) @ np.tril(low))
    return total


@vjp_rule(cholesky_factor_grad)
def cholesky_factor_grad_vjp(
    g, ans, low, a, diagonals=(), solves=(), transposed_solves=(), cho_solves=()
):
    dense = factor_dense(low, diagonals, solves, transposed_solves, cho_solves)
    parts = factor_parts_cotangents(
        hermitian_cholesky_tangent(g, low, a), low, diagonals, solves, transposed_solves, cho_solves
    )
    return (
        cholesky_grad_factor_cotangent(g, dense, low) + parts[0],
        None,
        parts[1],
        parts[2],
        parts[3],
        parts[4],
    )


@jvp_rule(cholesky_factor_grad)
def cholesky_factor_grad_jvp(
    ans,
    low,
    a,
    diagonals=(),
    solves=(),
    transposed_solves=(),
    cho_solves=(),
    *,
    dlow,
    ddiagonals,
    dsolves,
    dtransposed_solves,
    dcho_solves,
):
    dense = factor_dense(low, diagonals, solves, transposed_solves, cho_solves)
    return (
        cholesky_grad_factor_tangent(dense, low, dlow)
        + hermitian_cholesky_grad(factor_dense_low_tangent(dlow, low, solves, cho_solves), low, a),
        None,
        hermitian_cholesky_grad(factor_dense(low, ddiagonals, (), (), ()), low, a),
        hermitian_cholesky_grad(solves_dense_tangent(dsolves, low, solves), low, a),
        hermitian_cholesky_grad(
            transposed_dense_tangent(dtransposed_solves, low, transposed_solves), low, a
        ),
        hermitian_cholesky_grad(cho_dense_tangent(dcho_solves, low, cho_solves), low, a),
    )


# -- scipy.linalg.cho_factor's gradient gathered by transform/factor.py -------------------------
# cho_factor_grad((c, lower), K, diagonals, cho_solves) is, for the dense cotangent gc of c
# (cho_factor_dense: diag(v) for each v, and cho_solve's factor gradient for each (gb, x):
# -tril((gb x^T + x gb^T) F) with F = tril(c), or -triu(F (...)) with F = triu(c)), the
# Cholesky rule of gc's triangle that holds the factor (upper=True for an upper one) plus
# gc's other strict triangle (the input's own entries, passed through). Its derivative as
# cholesky_factor_grad's; real values.


@transformable
def _held(m, lower):
    """The triangle of cho_factor's ``c`` that holds the factor."""
    if lower:
        return np.tril(m)
    return np.triu(m)


@transformable
def _passed(m, lower):
    """The strict triangle of cho_factor's ``c`` that holds the input's entries."""
    if lower:
        return np.triu(m, 1)
    return np.tril(m, -1)


@transformable
def _cho_products(both, c, lower):
    """The factor's part of cho_solve's factor gradient: tril(both F) or triu(F both)."""
    if lower:
        return np.tril(both @ np.tril(c))
    return np.triu(np.triu(c) @ both)


@transformable
def cho_factor_dense(c, lower, diagonals, cho_solves):
    """The dense cotangent gc of cho_factor's ``c`` (see above)."""
    _real_factor_only(c)
    total = np.zeros_like(c)
    for i in range(len(diagonals)):
        total = total + diag_grad(diagonals[i], c)
    for i in range(len(cho_solves)):
        gb, x = cho_solves[i][0], cho_solves[i][1]
        total = total - _cho_products(_outer_columns(gb, x) + _outer_columns(x, gb), c, lower)
    return total


@transformable
def cho_factor_rule(dense, c, lower, a):
    """The gradient of ``a`` from ``dense``, gc: the Cholesky rule of the factor's triangle,
    and the other strict triangle as it is."""
    return hermitian_cholesky_grad(_held(dense, lower), _held(c, lower), a, not lower) + _passed(
        dense, lower
    )


@transformable
def cho_factor_parts_cotangents(moved, c, lower, diagonals, cho_solves):
    """For the cotangent ``moved`` of gc: (c's through gc, the diagonals', the
    cho_solves'), each sequence's as Parts."""
    held = _held(moved, lower)
    through_c = np.zeros_like(c)
    grads_cho = []
    for i in range(len(cho_solves)):
        gb, x = cho_solves[i][0], cho_solves[i][1]
        both = _outer_columns(gb, x) + _outer_columns(x, gb)
        if lower:
            through_c = through_c - np.tril(both @ held)
            turned = held @ mT(np.tril(c))
        else:
            through_c = through_c - np.triu(held @ both)
            turned = mT(np.triu(c)) @ held
        turned = turned + mT(turned)
        grads_cho.append(parts_of([-(turned @ x), -(turned @ gb)]))
    # (diag(v)'s transpose: the diagonal, for each v)
    grads_diagonals = [np.diagonal(moved) for _ in diagonals]
    return through_c, parts_of(grads_diagonals), parts_of(grads_cho)


@transformable
def cho_dense_c_tangent(dc, c, lower, cho_solves):
    """The tangent of gc as ``c`` moves along ``dc`` (the parts held)."""
    total = np.zeros_like(c)
    for i in range(len(cho_solves)):
        gb, x = cho_solves[i][0], cho_solves[i][1]
        both = _outer_columns(gb, x) + _outer_columns(x, gb)
        total = total - _cho_products(both, dc, lower)
    return total


@transformable
def cho_dense_parts_tangent(dcho, c, lower, cho_solves):
    """The tangent of gc as the cho_solves' parts move along ``dcho``."""
    total = np.zeros_like(c)
    for i in range(len(cho_solves)):
        gb, x = cho_solves[i][0], cho_solves[i][1]
        dgb, dx = dcho[i][0], dcho[i][1]
        both = _outer_columns(dgb, x) + _outer_columns(gb, dx)
        total = total - _cho_products(both + mT(both), c, lower)
    return total


@vjp_rule(cho_factor_grad)
def cho_factor_grad_vjp(g, ans, factor, a, diagonals=(), cho_solves=()):
    c = factor[0]
    lower = factor[1]
    dense = cho_factor_dense(c, lower, diagonals, cho_solves)
    moved = hermitian_cholesky_tangent(g, _held(c, lower), a, not lower)
    parts = cho_factor_parts_cotangents(
        _held(moved, lower) + _passed(g, lower), c, lower, diagonals, cho_solves
    )
    through_rule = cholesky_grad_factor_cotangent(
        g, _held(dense, lower), _held(c, lower), not lower
    )
    return (
        parts_of([_held(through_rule, lower) + parts[0], np.zeros(np.shape(lower))]),
        None,
        parts[1],
        parts[2],
    )


@jvp_rule(cho_factor_grad)
def cho_factor_grad_jvp(
    ans, factor, a, diagonals=(), cho_solves=(), *, dfactor, ddiagonals, dcho_solves
):
    c = factor[0]
    lower = factor[1]
    dense = cho_factor_dense(c, lower, diagonals, cho_solves)
    return (
        cholesky_grad_factor_tangent(
            _held(dense, lower), _held(c, lower), _held(dfactor[0], lower), not lower
        )
        + cho_factor_rule(cho_dense_c_tangent(dfactor[0], c, lower, cho_solves), c, lower, a),
        None,
        cho_factor_rule(cho_factor_dense(c, lower, ddiagonals, ()), c, lower, a),
        cho_factor_rule(cho_dense_parts_tangent(dcho_solves, c, lower, cho_solves), c, lower, a),
    )

"""Rules for products and linear algebra: vdot, inner, outer, tensordot, einsum, kron and
the ``np.linalg`` functions, batched where NumPy batches (``dot`` and ``matmul`` are with
the operators in ``arithmetic``)."""

from typing import Any

import numpy as np

from .complex import conjugate_if_complex, conjugated
from .forward import jvp_rule
from .linalg_complex import (
    hermitian_cholesky_grad,
    hermitian_cholesky_tangent,
    hermitian_eigh_grad,
    hermitian_eigh_tangent,
    hermitian_eigvalsh_grad,
    hermitian_eigvalsh_tangent,
    hermitian_qr_grad,
    hermitian_qr_tangent,
    singular_values_grad,
    singular_values_tangent,
)
from .linalg_helpers import (
    batched_scalar,
    cross_grad,
    einsum_grad,
    einsum_tangent,
    inner_grad_left,
    inner_grad_right,
    inverse,
    kron_grad_left,
    kron_grad_right,
    mT,
    solve_adjoint,
    solve_grad_a,
    solve_tangent_a,
    tensordot_grad_left,
    tensordot_grad_right,
)
from .registry import lookup, vjp_rule
from .shared import output_parts, reshape_like, transformable, unbroadcast

# -- products ------------------------------------------------------------------------------


@vjp_rule(np.vdot)
def vdot(g, ans, a, b):
    # vdot conjugates a: the sum of conj(a) * b
    # (the gradient of a real a is the real part, which conjugating leaves as it is)
    return reshape_like(conjugate_if_complex(g * b, a), a), reshape_like(g * conjugated(a), b)


@jvp_rule(np.vdot)
def vdot_jvp(ans, a, b, *, da, db):
    return np.vdot(da, b), np.vdot(a, db)


@vjp_rule(np.inner)
def inner(g, ans, a, b):
    return inner_grad_left(g, a, b), inner_grad_right(g, a, b)


@jvp_rule(np.inner)
def inner_jvp(ans, a, b, *, da, db):
    return np.inner(da, b), np.inner(a, db)


@vjp_rule(np.outer)
def outer(g, ans, a, b, out=None):
    return reshape_like(g @ np.ravel(b), a), reshape_like(np.ravel(a) @ g, b)


@jvp_rule(np.outer)
def outer_jvp(ans, a, b, out=None, *, da, db):
    return np.outer(da, b), np.outer(a, db)


@vjp_rule(np.tensordot)
def tensordot(g, ans, a, b, axes=2):
    return tensordot_grad_left(g, a, b, axes), tensordot_grad_right(g, a, b, axes)


@jvp_rule(np.tensordot)
def tensordot_jvp(ans, a, b, axes=2, *, da, db):
    return np.tensordot(da, b, axes), np.tensordot(a, db, axes)


@vjp_rule(np.kron)
def kron(g, ans, a, b):
    return kron_grad_left(g, a, b), kron_grad_right(g, a, b)


@jvp_rule(np.kron)
def kron_jvp(ans, a, b, *, da, db):
    return np.kron(da, b), np.kron(a, db)


# g . (a x b) = a . (b x g) = b . (g x a): each gradient is a cross product too, taken
# along the axes the vectors lie on.
@vjp_rule(np.cross)
def cross(g, ans, a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    return (
        cross_grad(g, b, a, axisc, axisb, axisa, axis, False),
        cross_grad(g, a, b, axisc, axisa, axisb, axis, True),
    )


@jvp_rule(np.cross)
def cross_jvp(ans, a, b, axisa=-1, axisb=-1, axisc=-1, axis=None, *, da, db):
    return np.cross(da, b, axisa, axisb, axisc, axis), np.cross(a, db, axisa, axisb, axisc, axis)


# einsum takes its operands as *operands; the rule names eight of them so that both the
# tape and the transform can bind a call's arguments to it. In the interleaved form,
# einsum(a, [0, 1], b, [1, 2]), the first operand comes as ``subscripts``, so every
# argument may have a gradient: einsum_grad says which (None for strings and sublists).
@vjp_rule(np.einsum)
def einsum(
    g,
    ans,
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
    out=None,
    optimize=False,
    dtype=None,
    order="K",
    casting="safe",
):
    return (
        einsum_grad(g, 0, subscripts, op0, op1, op2, op3, op4, op5, op6, op7),
        einsum_grad(g, 1, subscripts, op0, op1, op2, op3, op4, op5, op6, op7),
        einsum_grad(g, 2, subscripts, op0, op1, op2, op3, op4, op5, op6, op7),
        einsum_grad(g, 3, subscripts, op0, op1, op2, op3, op4, op5, op6, op7),
        einsum_grad(g, 4, subscripts, op0, op1, op2, op3, op4, op5, op6, op7),
        einsum_grad(g, 5, subscripts, op0, op1, op2, op3, op4, op5, op6, op7),
        einsum_grad(g, 6, subscripts, op0, op1, op2, op3, op4, op5, op6, op7),
        einsum_grad(g, 7, subscripts, op0, op1, op2, op3, op4, op5, op6, op7),
        einsum_grad(g, 8, subscripts, op0, op1, op2, op3, op4, op5, op6, op7),
    )


def _one_operand(args: list) -> frozenset[int]:
    """A one-operand einsum (a diagonal, a transpose, a sum: possibly a view of its
    operand) is linear in it: its gradient reads the operand's shape alone."""
    if len(args) == 2 and type(args[0]) is str:
        return frozenset({1})
    if len(args) in (2, 3) and all(isinstance(a, (list, tuple)) for a in args[1:]):
        return frozenset({0})  # the interleaved form: einsum(x, [0, 1], [1, 0])
    return frozenset()


lookup(np.einsum).shape_only_when = _one_operand


# The tangent of a product is the sum over its operands of the product with that operand's
# tangent in its place.
@jvp_rule(np.einsum)
def einsum_jvp(
    ans,
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
    out=None,
    optimize=False,
    dtype=None,
    order="K",
    casting="safe",
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
        einsum_tangent(dsubscripts, 0, subscripts, op0, op1, op2, op3, op4, op5, op6, op7),
        einsum_tangent(dop0, 1, subscripts, op0, op1, op2, op3, op4, op5, op6, op7),
        einsum_tangent(dop1, 2, subscripts, op0, op1, op2, op3, op4, op5, op6, op7),
        einsum_tangent(dop2, 3, subscripts, op0, op1, op2, op3, op4, op5, op6, op7),
        einsum_tangent(dop3, 4, subscripts, op0, op1, op2, op3, op4, op5, op6, op7),
        einsum_tangent(dop4, 5, subscripts, op0, op1, op2, op3, op4, op5, op6, op7),
        einsum_tangent(dop5, 6, subscripts, op0, op1, op2, op3, op4, op5, op6, op7),
        einsum_tangent(dop6, 7, subscripts, op0, op1, op2, op3, op4, op5, op6, op7),
        einsum_tangent(dop7, 8, subscripts, op0, op1, op2, op3, op4, op5, op6, op7),
    )


# -- np.linalg -------------------------------------------------------------------------------


@vjp_rule(np.linalg.inv)
def inv(g, ans, a):
    return -(mT(ans) @ g @ mT(ans))


@jvp_rule(np.linalg.inv)
def inv_jvp(ans, a, *, da):
    return -(ans @ da @ ans)


# The pseudo-inverse X of A is differentiable where A's rank does not change (as for a
# matrix of full rank): dX = -X dA X + X X^T dA^T (I - A X) + (I - X A) dA^T X^T X.
# With rcond (or rtol) cutting a singular value the matrix has, X is the pseudo-inverse of
# another matrix than A, and the formula is wrong: refused (pinv_operand). With
# hermitian=True NumPy reads A's lower triangle only (through eigh): the formula holds for
# the symmetric matrix that triangle stands for, and its gradient goes to the triangle.
@vjp_rule(np.linalg.pinv)
def pinv(g, ans, a, rcond=None, hermitian=False, *, rtol=None):
    # (complex a: the formula with conjugate transposes, on conj(g), then conjugated, as
    # for every function of conj(a); rules/complex.py)
    s = pinv_operand(a, ans, hermitian, rcond, rtol)
    xt = conjugated(mT(ans))
    gc = conjugate_if_complex(g, a)
    gt = conjugated(mT(gc))
    moved = -(xt @ gc @ xt) + (gt - s @ ans @ gt) @ ans @ xt + xt @ ans @ (gt - gt @ ans @ s)
    return pinv_to_operand(conjugate_if_complex(moved, a), hermitian)


@jvp_rule(np.linalg.pinv)
def pinv_jvp(ans, a, rcond=None, hermitian=False, *, rtol=None, da):
    s = pinv_operand(a, ans, hermitian, rcond, rtol)
    ds = pinv_operand(da, ans, hermitian)
    dsh = np.conjugate(mT(ds))  # (conjugate transposes: complex a)
    ansh = np.conjugate(mT(ans))
    return (
        -(ans @ ds @ ans) + ans @ ansh @ (dsh - dsh @ s @ ans) + (dsh - ans @ s @ dsh) @ ansh @ ans
    )


@vjp_rule(np.linalg.det)
def det(g, ans, a):
    return batched_scalar(g * ans) * mT(inverse(a))


# d log|det a| = trace(a^-1 da), by a solve
@jvp_rule(np.linalg.det)
def det_jvp(ans, a, *, da):
    return ans * np.trace(np.linalg.solve(a, da), axis1=-2, axis2=-1)


# With t = trace(a^-1 da), the tangent of log det a: logabsdet moves by Re(t) and the sign
# by sign * 1j Im(t), which is sign * (t - Re(t)): zero for a real a, whose sign is
# piecewise constant. The gradient weighs a^-T by the cotangents' matching parts.
@vjp_rule(np.linalg.slogdet, multi_output=True)
def slogdet(g, ans, a):
    turned = output_parts(g, ans)[0] * ans[0]
    weight = np.real(output_parts(g, ans)[1]) + (turned - np.real(turned))
    return batched_scalar(weight) * mT(inverse(a))


@jvp_rule(np.linalg.slogdet)
def slogdet_jvp(ans, a, *, da):
    moved = np.trace(np.linalg.solve(a, da), axis1=-2, axis2=-1)
    return ((ans[0] * (moved - np.real(moved)), np.real(moved)),)


@vjp_rule(np.linalg.solve)
def solve(g, ans, a, b):
    gb = solve_adjoint(g, a, b)
    return solve_grad_a(gb, ans, a, b), unbroadcast(gb, b)


@jvp_rule(np.linalg.solve)
def solve_jvp(ans, a, b, *, da, db):
    return solve_tangent_a(da, ans, a, b), np.linalg.solve(a, db)


@vjp_rule(np.linalg.cholesky)
def cholesky(g, ans, a, *, upper=False):
    return hermitian_cholesky_grad(g, ans, a, upper)


@jvp_rule(np.linalg.cholesky)
def cholesky_jvp(ans, a, *, upper=False, da):
    return hermitian_cholesky_tangent(da, ans, a, upper)


@vjp_rule(np.linalg.qr, multi_output=True)
def qr(g, ans, a, mode="reduced"):
    return hermitian_qr_grad(g, ans, a, mode)


# The decompositions' one contribution is the tuple of their results' tangents, inside an
# explicit tuple.
@jvp_rule(np.linalg.qr)
def qr_jvp(ans, a, mode="reduced", *, da):
    return (hermitian_qr_tangent(da, ans, a, mode),)


@vjp_rule(np.linalg.eigh, multi_output=True)
def eigh(g, ans, a, UPLO="L"):
    return hermitian_eigh_grad(g, ans, a, UPLO)


@jvp_rule(np.linalg.eigh)
def eigh_jvp(ans, a, UPLO="L", *, da):
    return (hermitian_eigh_tangent(da, ans, a, UPLO),)


@vjp_rule(np.linalg.eigvalsh)
def eigvalsh(g, ans, a, UPLO="L"):
    return hermitian_eigvalsh_grad(g, a, UPLO)


@jvp_rule(np.linalg.eigvalsh)
def eigvalsh_jvp(ans, a, UPLO="L", *, da):
    return hermitian_eigvalsh_tangent(da, a, UPLO)


@vjp_rule(np.linalg.svd, multi_output=True)
def svd(g, ans, a, full_matrices=True, compute_uv=True, hermitian=False):
    return singular_values_grad(g, ans, a, compute_uv, hermitian, "np.linalg.svd")


@jvp_rule(np.linalg.svd)
def svd_jvp(ans, a, full_matrices=True, compute_uv=True, hermitian=False, *, da):
    return (
        singular_values_tangent(da, ans, a, full_matrices, compute_uv, hermitian, "np.linalg.svd"),
    )


# -- helpers of np.linalg.pinv's rules -----------------------------------------------------------


@transformable
def pinv_operand(
    a: Any, ans: Any, hermitian: Any = False, rcond: Any = None, rtol: Any = None
) -> Any:
    """The matrix ``ans = np.linalg.pinv(a, rcond, hermitian)`` is the pseudo-inverse of:
    ``a``, or with ``hermitian=True`` the symmetric one its lower triangle stands for
    (NumPy reads no other element). Raises where rcond or rtol cut a singular value that
    it has (``s @ ans @ s`` is not ``s``): the rules' formula holds only where none is."""
    if hermitian:
        if np.iscomplexobj(a):
            raise NotImplementedError(
                "np.linalg.pinv(..., hermitian=True) of a complex matrix has no derivative "
                "in astgrad; call it without hermitian=True"
            )
        s = np.tril(a) + mT(np.tril(a, -1))
    else:
        s = a
    if rcond is not None or rtol is not None:
        if np.linalg.norm(s @ ans @ s - s) > 1e-6 * np.linalg.norm(s):
            raise NotImplementedError(
                "np.linalg.pinv(..., rcond=/rtol=) dropped singular values the matrix has: "
                "the result is then the pseudo-inverse of another matrix, which astgrad "
                "does not differentiate; call it without rcond/rtol, or use np.linalg.svd "
                "and keep the singular values you want"
            )
    return s


def pinv_to_operand(grad: Any, hermitian: Any = False) -> Any:
    """The gradient with respect to the matrix np.linalg.pinv inverts, brought to ``a``:
    with ``hermitian=True``, each element of the lower triangle below the diagonal takes
    both of the symmetric matrix's, and the upper triangle nothing."""
    if hermitian:
        return np.tril(grad) + np.tril(mT(grad), -1)
    return grad

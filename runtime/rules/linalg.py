"""Rules for products and linear algebra: vdot, inner, outer, tensordot, einsum, kron and
the ``np.linalg`` functions, batched where NumPy batches (``dot`` and ``matmul`` are with
the operators in ``arithmetic``)."""

import numpy as np

from .linalg_helpers import (
    batched_scalar,
    cholesky_grad,
    eigh_grad,
    eigvalsh_grad,
    einsum_grad,
    inner_grad_left,
    inner_grad_right,
    inverse,
    kron_grad_left,
    kron_grad_right,
    mT,
    qr_grad,
    singular_values_grad,
    solve_adjoint,
    solve_grad_a,
    tensordot_grad_left,
    tensordot_grad_right,
)
from .registry import vjp_rule
from .shared import output_parts, reshape_like, unbroadcast

# -- products ------------------------------------------------------------------------------


@vjp_rule(np.vdot)
def vdot(g, ans, a, b):
    return reshape_like(g * b, a), reshape_like(g * a, b)


@vjp_rule(np.inner)
def inner(g, ans, a, b):
    return inner_grad_left(g, a, b), inner_grad_right(g, a, b)


@vjp_rule(np.outer)
def outer(g, ans, a, b, out=None):
    return reshape_like(g @ np.ravel(b), a), reshape_like(np.ravel(a) @ g, b)


@vjp_rule(np.tensordot)
def tensordot(g, ans, a, b, axes=2):
    return tensordot_grad_left(g, a, b, axes), tensordot_grad_right(g, a, b, axes)


@vjp_rule(np.kron)
def kron(g, ans, a, b):
    return kron_grad_left(g, a, b), kron_grad_right(g, a, b)


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


# -- np.linalg -------------------------------------------------------------------------------


@vjp_rule(np.linalg.inv)
def inv(g, ans, a):
    return -(mT(ans) @ g @ mT(ans))


@vjp_rule(np.linalg.det)
def det(g, ans, a):
    return batched_scalar(g * ans) * mT(inverse(a))


@vjp_rule(np.linalg.slogdet, multi_output=True)
def slogdet(g, ans, a):
    return batched_scalar(output_parts(g, ans)[1]) * mT(inverse(a))


@vjp_rule(np.linalg.solve)
def solve(g, ans, a, b):
    gb = solve_adjoint(g, a, b)
    return solve_grad_a(gb, ans, a, b), unbroadcast(gb, b)


@vjp_rule(np.linalg.cholesky)
def cholesky(g, ans, a, *, upper=False):
    return cholesky_grad(g, ans, upper)


@vjp_rule(np.linalg.qr, multi_output=True)
def qr(g, ans, a, mode="reduced"):
    return qr_grad(g, ans, a, mode)


@vjp_rule(np.linalg.eigh, multi_output=True)
def eigh(g, ans, a, UPLO="L"):
    return eigh_grad(g, ans, UPLO)


@vjp_rule(np.linalg.eigvalsh)
def eigvalsh(g, ans, a, UPLO="L"):
    return eigvalsh_grad(g, a, UPLO)


@vjp_rule(np.linalg.svd, multi_output=True)
def svd(g, ans, a, full_matrices=True, compute_uv=True, hermitian=False):
    return singular_values_grad(g, ans, a, compute_uv, hermitian)

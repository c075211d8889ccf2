"""More linear algebra: ``np.linalg.eig``, ``eigvals``, ``lstsq``, ``multi_dot``,
``matrix_power``, ``tensorsolve`` and ``tensorinv``; ``np.vander``, ``np.polyval`` and the
polynomial arithmetic (``polyadd``, ``polysub``, ``polymul``, ``polyder``, ``polyint``); and
NumPy 2's array-API spellings (``np.linalg.matmul``, ``vecdot``, ``cross``, ``outer``,
``diagonal``, ``trace``, ``vector_norm``, ``matrix_norm``, ``tensordot``, ``svdvals``,
``matrix_transpose``), which take the rules of the functions they spell again.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy import asarray as _np_asarray
from numpy import polyint as _np_polyint
from numpy import zeros as _np_zeros

from ..adjoints import Parts
from ..device import array_module, device_of
from . import arithmetic, linalg
from .arithmetic import matmul_grad_left, matmul_grad_right
from .complex import conjugate_if_complex, conjugated, refuse_complex
from .forward import jvp_rule, linear
from .linalg_complex import (
    complex_eig_grad,
    complex_eig_tangent,
    singular_values_grad,
    singular_values_tangent,
)
from .linalg_helpers import (
    _inverse_gaps,
    cross_grad,
    mT,
    norm_grad,
    norm_slope,
)
from .rearranging import zeros_of
from .reductions import trace_grad
from .registry import nondifferentiable, vjp_rule
from .shared import (
    _dtype,
    cast_like,
    inverse_axes,
    output_parts,
    place_diagonal,
    transformable,
    unbroadcast,
)
from .statistics import from_rows, to_rows

# -- the array-API spellings -----------------------------------------------------------------
# Those with the parameters of a function that has a rule take its rule as it is.

vjp_rule(np.linalg.matmul, name="linalg_matmul")(arithmetic.matmul)
jvp_rule(np.linalg.matmul)(arithmetic.matmul_jvp)
vjp_rule(np.linalg.outer, name="linalg_outer")(linalg.outer)
jvp_rule(np.linalg.outer)(linalg.outer_jvp)
vjp_rule(np.linalg.tensordot, name="linalg_tensordot")(linalg.tensordot)
jvp_rule(np.linalg.tensordot)(linalg.tensordot_jvp)


@vjp_rule(np.matrix_transpose, np.linalg.matrix_transpose)
def matrix_transpose(g, ans, x):
    return mT(g)


linear(np.matrix_transpose, np.linalg.matrix_transpose)


# the sum over ``axis`` of the product (real vectors: NumPy conjugates x1)
@vjp_rule(np.vecdot, np.linalg.vecdot, name="vecdot")
def vecdot(g, ans, x1, x2, *, axis=-1):
    spread = np.expand_dims(g, axis)
    # vecdot conjugates x1: the sum of conj(x1) * x2
    return (
        unbroadcast(conjugate_if_complex(spread * x2, x1), x1),
        unbroadcast(spread * conjugated(x1), x2),
    )


@jvp_rule(np.vecdot, np.linalg.vecdot)
def vecdot_jvp(ans, x1, x2, *, axis=-1, dx1, dx2):
    return np.vecdot(dx1, x2, axis=axis), np.vecdot(x1, dx2, axis=axis)


# NumPy 2.2's matrix-vector products: matvec(a, v) is a @ v[..., None] without its last
# axis, vecmat(v, a) is conj(v)[..., None, :] @ a without its next to last (whose
# gradient in v is the conjugate of the product's in conj(v); rules/complex.py)
@vjp_rule(np.matvec)
def matvec(g, ans, x1, x2):
    column = np.expand_dims(g, -1)
    return (
        matmul_grad_left(column, x1, np.expand_dims(x2, -1)),
        matmul_grad_right(column, x1, np.expand_dims(x2, -1))[..., 0],
    )


@jvp_rule(np.matvec)
def matvec_jvp(ans, x1, x2, *, dx1, dx2):
    return np.matvec(dx1, x2), np.matvec(x1, dx2)


@vjp_rule(np.vecmat)
def vecmat(g, ans, x1, x2):
    row = np.expand_dims(g, -2)
    left = conjugated(np.expand_dims(x1, -2))
    return (
        conjugate_if_complex(matmul_grad_left(row, left, x2)[..., 0, :], x1),
        matmul_grad_right(row, left, x2),
    )


@jvp_rule(np.vecmat)
def vecmat_jvp(ans, x1, x2, *, dx1, dx2):
    return np.vecmat(dx1, x2), np.vecmat(x1, dx2)


@vjp_rule(np.linalg.cross, name="linalg_cross")
def linalg_cross(g, ans, x1, x2, *, axis=-1):
    return (
        cross_grad(g, x2, x1, axis, axis, axis, None, False),
        cross_grad(g, x1, x2, axis, axis, axis, None, True),
    )


@jvp_rule(np.linalg.cross)
def linalg_cross_jvp(ans, x1, x2, *, axis=-1, dx1, dx2):
    return np.linalg.cross(dx1, x2, axis=axis), np.linalg.cross(x1, dx2, axis=axis)


@vjp_rule(np.linalg.diagonal, name="linalg_diagonal")
def linalg_diagonal(g, ans, x, *, offset=0):
    return place_diagonal(g, x, offset, -2, -1)


@vjp_rule(np.linalg.trace, name="linalg_trace")
def linalg_trace(g, ans, x, *, offset=0, dtype=None):
    return trace_grad(g, x, offset, -2, -1)


linear(np.linalg.diagonal, np.linalg.trace)


# the 2-norm (or ord-norm) of the elements ``axis`` names, taken as one vector
@vjp_rule(np.linalg.vector_norm)
def vector_norm(g, ans, x, *, axis=None, keepdims=False, ord=2):
    rows = to_rows(x, axis)
    slices = np.shape(rows)[:-1]
    moved = norm_grad(np.reshape(g.real, slices), np.reshape(ans, slices), rows, ord, -1)
    return conjugate_if_complex(from_rows(moved, x, axis), x)


@jvp_rule(np.linalg.vector_norm)
def vector_norm_jvp(ans, x, *, axis=None, keepdims=False, ord=2, dx):
    rows = to_rows(x, axis)
    moved = np.sum(to_rows(dx, axis) * np.conjugate(norm_slope(rows, ord, -1)), axis=-1)
    return np.reshape(np.real(moved), np.shape(ans))


@vjp_rule(np.linalg.matrix_norm)
def matrix_norm(g, ans, x, *, keepdims=False, ord="fro"):
    moved = norm_grad(g.real, ans, x, ord, (-2, -1), keepdims)
    return conjugate_if_complex(moved, x)


@jvp_rule(np.linalg.matrix_norm)
def matrix_norm_jvp(ans, x, *, keepdims=False, ord="fro", dx):
    return np.real(
        np.sum(dx * np.conjugate(norm_slope(x, ord, (-2, -1))), axis=(-2, -1), keepdims=keepdims)
    )


@vjp_rule(np.linalg.svdvals)
def svdvals(g, ans, x):
    return singular_values_grad(g, ans, x, False, False, "np.linalg.svdvals")


@jvp_rule(np.linalg.svdvals)
def svdvals_jvp(ans, x, *, dx):
    return singular_values_tangent(dx, ans, x, False, False, False, "np.linalg.svdvals")


# -- eigenvalues of general matrices -----------------------------------------------------------
# Distinct eigenvalues: a = v diag(w) v^-1, the eigenvectors of unit length as NumPy returns
# them (complex ones with their largest entry real: linalg_complex.complex_eig_grad).


@vjp_rule(np.linalg.eig, multi_output=True)
def eig(g, ans, a):
    return eig_grad(g, ans)


@jvp_rule(np.linalg.eig)
def eig_jvp(ans, a, *, da):
    return (eig_tangent(da, ans),)


@vjp_rule(np.linalg.eigvals)
def eigvals(g, ans, a):
    return eig_grad((g, None), np.linalg.eig(a))


@jvp_rule(np.linalg.eigvals)
def eigvals_jvp(ans, a, *, da):
    return eig_tangent(da, np.linalg.eig(a))[0]


# -- least squares -----------------------------------------------------------------------------
# x = pinv(a) b, differentiable where a's rank does not change; the residuals (the squared
# norms of a x - b, given where a has more rows than columns and full rank) and the
# singular values of a have gradients too; the rank has none.


@vjp_rule(np.linalg.lstsq, multi_output=True)
def lstsq(g, ans, a, b, rcond=None):
    kept = lstsq_kept_rank(g, ans, rcond)
    return lstsq_grad(kept, ans, a, b, "a"), lstsq_grad(kept, ans, a, b, "b")


@jvp_rule(np.linalg.lstsq)
def lstsq_jvp(ans, a, b, rcond=None, *, da, db):
    return (
        lstsq_tangent(lstsq_kept_rank(da, ans, rcond), ans, a, b, "a"),
        lstsq_tangent(lstsq_kept_rank(db, ans, rcond), ans, a, b, "b"),
    )


@transformable
def lstsq_kept_rank(t: Any, ans: Any, rcond: Any = None) -> Any:
    """``t`` (a cotangent or a tangent), once ``ans = np.linalg.lstsq(a, b, rcond)`` is
    known to have cut no singular value of ``a`` that matters: the rules solve with the
    whole of ``a``, and the least-squares solution of a matrix cut to a lower rank is
    another function, which astgrad does not differentiate."""
    if rcond is not None:
        singular = ans[3]
        if ans[2] < np.size(singular) and np.max(singular[ans[2] :]) > 1e-6 * singular[0]:
            raise NotImplementedError(
                "np.linalg.lstsq(..., rcond=...) dropped singular values the matrix has: "
                "the solution is then that of another matrix, which astgrad does not "
                "differentiate; call it without rcond (or with one below the singular "
                "values it has)"
            )
    return t


# -- products and powers -----------------------------------------------------------------------


@vjp_rule(np.linalg.multi_dot)
def multi_dot(g, ans, arrays, *, out=None):
    return (multi_dot_grads(g, arrays),)


@jvp_rule(np.linalg.multi_dot)
def multi_dot_jvp(ans, arrays, *, out=None, darrays):
    return (multi_dot_tangent(darrays, arrays),)


@vjp_rule(np.linalg.matrix_power)
def matrix_power(g, ans, a, n):
    return matrix_power_grad(g, a, n), None


@jvp_rule(np.linalg.matrix_power)
def matrix_power_jvp(ans, a, n, *, da):
    return matrix_power_tangent(da, a, n), None


@vjp_rule(np.linalg.tensorinv)
def tensorinv(g, ans, a, ind=2):
    square = tensor_square(ans, np.ndim(ans) - ind)
    return np.reshape(
        -(mT(square) @ tensor_square(g, np.ndim(ans) - ind) @ mT(square)), np.shape(a)
    )


@jvp_rule(np.linalg.tensorinv)
def tensorinv_jvp(ans, a, ind=2, *, da):
    square = tensor_square(ans, np.ndim(ans) - ind)
    return np.reshape(-(square @ tensor_square(da, ind) @ square), np.shape(ans))


@vjp_rule(np.linalg.tensorsolve)
def tensorsolve(g, ans, a, b, axes=None):
    gb = np.linalg.solve(mT(tensor_system(a, b, axes)), np.reshape(g, (-1,)))
    return (
        tensor_system_back(-np.outer(gb, np.reshape(ans, (-1,))), a, axes),
        np.reshape(gb, np.shape(b)),
    )


@jvp_rule(np.linalg.tensorsolve)
def tensorsolve_jvp(ans, a, b, axes=None, *, da, db):
    system = tensor_system(a, b, axes)
    moved = tensor_system(da, b, axes) @ np.reshape(ans, (-1,))
    return (
        np.reshape(-np.linalg.solve(system, moved), np.shape(ans)),
        np.reshape(np.linalg.solve(system, np.reshape(db, (-1,))), np.shape(ans)),
    )


# -- condition numbers and least-squares polynomial fits ---------------------------------------
# cond(x) = s_max / s_min for p None or 2 (s_min / s_max for -2), through the singular
# values (distinct ones: svd's rule); for the other p, norm(x, p) norm(inv(x), p).


@vjp_rule(np.linalg.cond)
def cond(g, ans, x, p=None):
    return cond_grad(g.real, ans, x, p)


@jvp_rule(np.linalg.cond)
def cond_jvp(ans, x, p=None, *, dx):
    return cond_tangent(dx, x, p)


# polyfit(x, y, deg, w=w) is the least-squares solution c of (w V) c = w y, V = vander(x,
# deg + 1): differentiable in x, y and w where w V has full rank (as polyfit warns where it
# has not). full=True and cov are refused.
@vjp_rule(np.polyfit)
def polyfit(g, ans, x, y, deg, rcond=None, full=False, w=None, cov=False):
    checked = polyfit_checked(g, x, deg, rcond, full, w, cov)
    return (
        polyfit_grad(checked, ans, x, y, deg, w, "x"),
        polyfit_grad(checked, ans, x, y, deg, w, "y"),
        None,
        None,
        None,
        polyfit_grad(checked, ans, x, y, deg, w, "w"),
        None,
    )


@jvp_rule(np.polyfit)
def polyfit_jvp(ans, x, y, deg, rcond=None, full=False, w=None, cov=False, *, dx, dy, dw):
    return (
        polyfit_tangent(polyfit_checked(dx, x, deg, rcond, full, w, cov), ans, x, y, deg, w, "x"),
        polyfit_tangent(polyfit_checked(dy, x, deg, rcond, full, w, cov), ans, x, y, deg, w, "y"),
        None,
        None,
        None,
        polyfit_tangent(polyfit_checked(dw, x, deg, rcond, full, w, cov), ans, x, y, deg, w, "w"),
        None,
    )


# -- polynomials -------------------------------------------------------------------------------


@vjp_rule(np.vander)
def vander(g, ans, x, N=None, increasing=False):
    # (np.vander computes in float64 whatever its input)
    return cast_like(np.sum(g * vander_slopes(x, N, increasing), axis=-1), x)


@jvp_rule(np.vander)
def vander_jvp(ans, x, N=None, increasing=False, *, dx):
    return dx[:, None] * vander_slopes(x, N, increasing)


# p[0] x^(n-1) + ... + p[n-1]: linear in p, and in x its slope is the derivative's value
@vjp_rule(np.polyval)
def polyval(g, ans, p, x):
    return polyval_coefficients_grad(g, p, x), unbroadcast(g * np.polyval(derivative(p), x), x)


@jvp_rule(np.polyval)
def polyval_jvp(ans, p, x, *, dp, dx):
    return np.polyval(dp, x), dx * np.polyval(derivative(p), x)


# Polynomials as coefficient arrays, highest power first (NumPy's poly1d objects are not
# differentiated). polyadd and polysub line the shorter up with the longer's end; polymul
# is a convolution, so each factor's gradient correlates g with the other factor.
@vjp_rule(np.polyadd)
def polyadd(g, ans, a1, a2):
    return poly_tail_grad(g, a1), poly_tail_grad(g, a2)


@jvp_rule(np.polyadd)
def polyadd_jvp(ans, a1, a2, *, da1, da2):
    return np.polyadd(da1, zeros_of(a2, da1)), np.polyadd(zeros_of(a1, da2), da2)


@vjp_rule(np.polysub)
def polysub(g, ans, a1, a2):
    return poly_tail_grad(g, a1), -poly_tail_grad(g, a2)


@jvp_rule(np.polysub)
def polysub_jvp(ans, a1, a2, *, da1, da2):
    return np.polysub(da1, zeros_of(a2, da1)), np.polysub(zeros_of(a1, da2), da2)


@vjp_rule(np.polymul)
def polymul(g, ans, a1, a2):
    return (
        # (np.correlate conjugates its second argument; the transpose of a product does not)
        cast_like(
            np.reshape(np.correlate(g, conjugated(np.atleast_1d(a2)), "valid"), np.shape(a1)), a1
        ),
        cast_like(
            np.reshape(np.correlate(g, conjugated(np.atleast_1d(a1)), "valid"), np.shape(a2)), a2
        ),
    )


@jvp_rule(np.polymul)
def polymul_jvp(ans, a1, a2, *, da1, da2):
    return np.polymul(da1, a2), np.polymul(a1, da2)


# The m-th derivative scales each coefficient by a constant and drops the last m; the m-th
# integral divides each by one and appends m integration constants k (one number for all).
@vjp_rule(np.polyder)
def polyder(g, ans, p, m=1):
    return poly_scaled_grad(g, p, np.polyder(np.ones(np.size(p)), m)), None


linear(np.polyder)


@vjp_rule(np.polyint)
def polyint(g, ans, p, m=1, k=None):
    return (
        poly_scaled_grad(g, p, np.polyint(np.ones(np.size(p)), m)[: np.size(p)]),
        None,
        polyint_constants_grad(g, p, m, k),
    )


@jvp_rule(np.polyint)
def polyint_jvp(ans, p, m=1, k=None, *, dp, dk):
    return np.polyint(dp, m), None, np.polyint(zeros_of(p, dk), m, dk)


# -- helpers the rules above call (generated code calls them by these names) ----------------


def poly_tail_grad(g: Any, a: Any) -> Any:
    """The gradient of a polynomial ``a`` that polyadd or polysub lined up with the end of
    their result: the last ``len(a)`` coefficients of ``g``."""
    size = max(np.size(a), 1)
    return cast_like(np.reshape(g[np.size(g) - size :], np.shape(a)), a)


def poly_scaled_grad(g: Any, p: Any, factors: Any) -> Any:
    """The gradient of ``p`` whose first ``len(factors)`` coefficients became ``factors *
    p[:len(factors)]`` in the result (polyder, polyint); the others went nowhere."""
    xp = array_module(g)
    scaled = g[: np.size(factors)] * xp.asarray(factors, dtype=_dtype(g))
    rest = xp.zeros(max(np.size(p), 1) - np.size(factors), dtype=_dtype(g))
    return cast_like(xp.reshape(xp.concatenate([scaled, rest]), np.shape(p)), p)


def polyint_constants_grad(g: Any, p: Any, m: int, k: Any) -> Any:
    """The gradient of np.polyint's integration constants ``k`` (None without them)."""
    if k is None:
        return None
    xp = array_module(g)
    shape = constants_shape(k)
    rows = integration_constant_rows(max(np.size(p), 1), m, _size(shape))
    grads = xp.asarray(rows, dtype=_dtype(g)) @ g
    if _size(shape) == 1:  # one number, the constant of every integration
        return cast_like(np.reshape(np.sum(grads), shape), k)
    return cast_like(np.reshape(grads, shape), k)


def constants_shape(k: Any) -> tuple:
    """The shape of np.polyint's constants ``k``: a list or tuple is a vector (asked of
    itself, since its items may be tensors that record a gradient, which np.shape would
    turn into an array)."""
    if isinstance(k, (list, tuple)):
        return (len(k),)
    return np.shape(k)


nondifferentiable(constants_shape)


def integration_constant_rows(size: int, m: int, count: int, like: Any = None) -> Any:
    """Row i: the coefficients np.polyint(p, m, k) gets from the constant k[i] alone, for
    a polynomial of ``size`` coefficients (host numbers; NumPy by its own names, which a
    rule running on tensors reads as they are); with ``like``, in its array module and
    dtype (a cotangent's, on its device), to multiply it."""
    rows = []
    for i in range(max(m, count)):
        alone = _np_zeros(max(m, count))
        alone[i] = 1.0
        rows.append(_np_polyint(_np_zeros(size), m, alone[:m]))
    rows = _np_asarray(rows).reshape(len(rows), -1)
    if like is None:
        return rows
    return array_module(like).asarray(rows, dtype=_dtype(like))


@transformable
def eig_grad(g: Any, ans: Any) -> Any:
    """The gradient of ``np.linalg.eig``: with ``p = v^-1 da v``, ``dw = diag(p)`` and
    ``dv = v (f * p - diag(v^T v (f * p)))`` (the last term keeps each eigenvector of unit
    length), ``f[i, j] = 1 / (w[j] - w[i])`` off the diagonal; transposed, that is
    ``v^-T (diag(gw) + f * (v^T gv - v^T v diag(v^T gv))) v^T``."""
    w, v = ans[0], ans[1]
    if np.iscomplexobj(w) or np.iscomplexobj(v):
        return complex_eig_grad(g, ans)
    gw, gv = output_parts(g, ans)
    m = mT(v) @ gv
    kept = _identity_like(w) * np.diagonal(m, axis1=-2, axis2=-1)[..., None, :]
    inner = _inverse_gaps(w) * (m - mT(v) @ v @ kept)
    inner = inner + _identity_like(w) * gw[..., None, :]
    return np.linalg.solve(mT(v), inner @ mT(v))


@transformable
def eig_tangent(da: Any, ans: Any) -> Any:
    """The tangents ``(dw, dv)`` of ``w, v = np.linalg.eig(a)`` along ``da`` (see
    :func:`eig_grad`)."""
    w = ans[0]
    v = ans[1]
    if np.iscomplexobj(w) or np.iscomplexobj(v):
        return complex_eig_tangent(da, ans)
    p = np.linalg.solve(v, da @ v)
    turned = _inverse_gaps(w) * p
    moved = v @ turned
    lengths = np.sum(v * moved, axis=-2)
    return np.diagonal(p, axis1=-2, axis2=-1), moved - v * lengths[..., None, :]


@transformable
def lstsq_grad(g: Any, ans: Any, a: Any, b: Any, part: str) -> Any:
    """The gradient of ``np.linalg.lstsq(a, b)`` in ``a`` (or ``b``, as ``part`` says).

    x = pinv(a) b: linear in b, and in a through pinv(a), whose cotangent is ``gx b^T``
    (pinv's rule, with conjugate transposes: complex values, docs/complex.md). The
    residuals ``|a x - b|^2`` move by ``2 Re(conj(a x - b) . (da x - db))`` at the
    solution; the singular values as svd's."""
    parts = output_parts(g, ans)
    x = ans[0]
    inverse = np.linalg.pinv(a)
    gx = np.reshape(parts[0], (np.shape(a)[1], -1))
    columns = np.reshape(b, (np.shape(a)[0], -1))
    residual = a @ np.reshape(x, (np.shape(a)[1], -1)) - columns
    gr = 2 * np.conjugate(residual) * _residual_cotangent(np.real(parts[1]), residual)
    if part == "b":
        return np.reshape(mT(inverse) @ gx - gr, np.shape(b))
    gp = gx @ mT(columns)
    gc, gt = np.conjugate(gp), mT(gp)
    xt = np.conjugate(mT(inverse))
    through_x = -(xt @ gc @ xt) + (gt - a @ inverse @ gt) @ inverse @ xt
    through_x = np.conjugate(through_x + xt @ inverse @ (gt - gt @ inverse @ a))
    through_s = singular_values_grad(parts[3], ans[3], a, False, False, "np.linalg.lstsq")
    return through_x + gr @ mT(np.reshape(x, (np.shape(a)[1], -1))) + through_s


@transformable
def _residual_cotangent(g_residuals: Any, residual: Any) -> Any:
    """The residuals' cotangent lined up with the columns of ``residual`` (zeros where
    NumPy returns no residuals)."""
    if np.size(g_residuals) == 0:
        return np.zeros_like(residual[0])
    return np.reshape(g_residuals, (-1,))


@transformable
def lstsq_tangent(d: Any, ans: Any, a: Any, b: Any, part: str) -> Any:
    """The tangents of ``np.linalg.lstsq(a, b)``'s results along ``d``, the tangent of
    ``a`` (or ``b``, as ``part`` says): x, residuals, rank (none) and singular values."""
    x = ans[0]
    inverse = np.linalg.pinv(a)
    columns = np.reshape(x, (np.shape(a)[1], -1))
    residual = a @ columns - np.reshape(b, (np.shape(a)[0], -1))
    if part == "b":
        dx = inverse @ d
        moved = -np.reshape(d, np.shape(residual))
        ds = np.zeros_like(ans[3])
    else:  # (pinv's tangent, with conjugate transposes: complex values)
        dt, it = np.conjugate(mT(d)), np.conjugate(mT(inverse))
        dp = -(inverse @ d @ inverse) + inverse @ it @ (dt - dt @ a @ inverse)
        dp = dp + (dt - inverse @ a @ dt) @ it @ inverse
        dx = dp @ b
        moved = d @ columns
        ds = singular_values_tangent(d, ans[3], a, False, False, False, "np.linalg.lstsq")
    dr = 2 * np.real(np.sum(np.conjugate(residual) * moved, axis=0))
    if np.size(ans[1]) == 0:
        dr = np.zeros_like(ans[1])
    return lstsq_parts(dx, np.reshape(dr, np.shape(ans[1])), ans[2] * 0, ds)


def lstsq_parts(x: Any, residuals: Any, rank: Any, s: Any) -> Parts:
    """A tangent of ``np.linalg.lstsq``'s four results, as :class:`Parts`: the tangents
    along ``a`` and along ``b`` are added result by result, where plain tuples would be
    joined. A primitive of its own, so that reverse mode differentiates forward code that
    calls it (``ag.hvp``)."""
    return Parts([x, residuals, rank, s])


@vjp_rule(lstsq_parts, multi_output=True)
def lstsq_parts_vjp(g, ans, x, residuals, rank, s):
    return output_parts(g, ans)[0], output_parts(g, ans)[1], None, output_parts(g, ans)[3]


@jvp_rule(lstsq_parts)
def lstsq_parts_jvp(ans, x, residuals, rank, s, *, dx, dresiduals, ds):
    return (
        lstsq_parts(dx, np.zeros_like(residuals), rank * 0, np.zeros_like(s)),
        lstsq_parts(np.zeros_like(x), dresiduals, rank * 0, np.zeros_like(s)),
        None,
        lstsq_parts(np.zeros_like(x), np.zeros_like(residuals), rank * 0, ds),
    )


def multi_dot_grads(g: Any, arrays: Any) -> Any:
    """The gradients of ``np.linalg.multi_dot(arrays)``: each array's is the product of
    those before it, transposed, the cotangent, and those after it, transposed (a vector
    at either end taken as a row or a column)."""
    mats = _as_matrices(arrays)
    count = len(mats)
    square = np.reshape(g, (np.shape(mats[0])[0], np.shape(mats[-1])[1]))
    grads = []
    for i in range(count):
        grad = square
        if i > 0:
            grad = mT(_chain(mats[:i])) @ grad
        if i < count - 1:
            grad = grad @ mT(_chain(mats[i + 1 :]))
        grads.append(np.reshape(grad, np.shape(arrays[i])))
    return Parts(grads)


def _as_matrices(arrays: Any) -> list:
    """multi_dot's arrays as matrices: a vector first is a row, a vector last a column."""
    mats = list(arrays)
    if np.ndim(mats[0]) == 1:
        mats[0] = np.reshape(mats[0], (1, -1))
    if np.ndim(mats[-1]) == 1:
        mats[-1] = np.reshape(mats[-1], (-1, 1))
    return mats


def _chain(mats: Any) -> Any:
    product = mats[0]
    for m in mats[1:]:
        product = product @ m
    return product


@transformable
def multi_dot_tangent(darrays: Any, arrays: Any) -> Any:
    """The tangent of ``np.linalg.multi_dot(arrays)``: the sum over the arrays of the
    product with that array's tangent in its place."""
    total = None
    for i in range(len(arrays)):
        moved = [darrays[k] if k == i else arrays[k] for k in range(len(arrays))]
        if array_module(*moved) is np:
            term = np.linalg.multi_dot(moved)
        else:  # (CuPy has no multi_dot: the same product, left to right)
            term = moved[0]
            for right in moved[1:]:
                term = np.dot(term, right)
        if total is None:
            total = term
        else:
            total = total + term
    return total


@transformable
def matrix_power_grad(g: Any, a: Any, n: int) -> Any:
    """The gradient of ``np.linalg.matrix_power(a, n)``: ``sum_k (b^T)^k g (b^T)^(n-1-k)``
    for ``b = a`` (``n >= 0``), or for ``b = inv(a)`` and ``|n|``, then through the
    inverse."""
    base = a if n >= 0 else np.linalg.inv(a)
    steps = abs(n)
    if steps == 0:
        return np.zeros_like(g, dtype=_float(a))
    powers = [_identity_like(a)]
    for _ in range(steps - 1):
        powers.append(powers[-1] @ mT(base))
    grad = powers[0] @ g @ powers[steps - 1]
    for k in range(1, steps):
        grad = grad + powers[k] @ g @ powers[steps - 1 - k]
    if n >= 0:
        return grad
    return -(mT(base) @ grad @ mT(base))


@transformable
def matrix_power_tangent(da: Any, a: Any, n: int) -> Any:
    """The tangent of ``np.linalg.matrix_power(a, n)`` along ``da``."""
    base = a
    moved = da
    if n < 0:
        base = np.linalg.inv(a)
        moved = -(base @ da @ base)
    steps = abs(n)
    if steps == 0:
        return np.zeros_like(da)
    total = moved @ np.linalg.matrix_power(base, steps - 1)
    for k in range(1, steps):
        after = np.linalg.matrix_power(base, steps - 1 - k)
        total = total + np.linalg.matrix_power(base, k) @ moved @ after
    return total


def _float(a: Any) -> Any:
    dtype = getattr(a, "dtype", None) or np.result_type(a)
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def _exponents(count: int, increasing: bool, like: Any) -> Any:
    """The powers of the columns of a Vandermonde matrix of ``count`` columns, as floats of
    ``like``'s dtype (so that products with them keep it)."""
    xp = array_module(like)
    powers = xp.arange(count) if increasing else xp.arange(count - 1, -1, -1)
    return powers.astype(_float(like))


def _identity_like(w: Any) -> Any:
    """The identity matrix as large as ``w`` is long, in ``w``'s float dtype."""
    return array_module(w).eye(np.shape(w)[-1], dtype=_float(w))


nondifferentiable(_float, _exponents, _identity_like)


@transformable
def tensor_square(t: Any, ind: int) -> Any:
    """``t`` as a matrix: its first ``ind`` axes make the rows, the others the columns."""
    shape = np.shape(t)
    return np.reshape(t, (_size(shape[:ind]), _size(shape[ind:])))


def _size(shape: Any) -> int:
    size = 1
    for n in shape:
        size *= n
    return size


def _tensor_axes(ndim: int, axes: Any) -> list:
    """The order np.linalg.tensorsolve puts ``a``'s axes in: ``axes`` moved last."""
    order = list(range(ndim))
    if axes is not None:
        for k in axes:
            order.remove(k % ndim)
            order.append(k % ndim)
    return order


nondifferentiable(_size, _tensor_axes)


@transformable
def tensor_system(a: Any, b: Any, axes: Any) -> Any:
    """The square matrix ``np.linalg.tensorsolve(a, b, axes)`` solves with."""
    moved = np.transpose(a, _tensor_axes(np.ndim(a), axes))
    return np.reshape(moved, (np.size(b), -1))


def tensor_system_back(grad: Any, a: Any, axes: Any) -> Any:
    """A gradient of :func:`tensor_system`'s matrix as one of ``a``."""
    order = _tensor_axes(np.ndim(a), axes)
    moved_shape = tuple(np.shape(a)[k] for k in order)
    return np.transpose(np.reshape(grad, moved_shape), inverse_axes(order, len(order)))


@transformable
def vander_slopes(x: Any, N: Any, increasing: bool) -> Any:
    """The derivative of each column of ``np.vander(x, N, increasing)``: ``k x^(k-1)``."""
    count = np.shape(x)[0] if N is None else N
    powers = _exponents(count, increasing, x)
    return powers * x[:, None] ** np.maximum(powers - 1, 0)


@transformable
def polyval_coefficients_grad(g: Any, p: Any, x: Any) -> Any:
    """The gradient of ``np.polyval(p, x)`` in ``p``: the powers of ``x`` times ``g``,
    summed over ``x`` (the result has ``x``'s shape)."""
    # (x times ones like g: a number x becomes an array where g is)
    points = np.reshape(x * np.ones_like(g), (-1, 1))
    columns = points ** _exponents(np.shape(p)[0], False, g)
    return np.sum(np.reshape(g, (-1, 1)) * columns, axis=0)


@transformable
def derivative(p: Any) -> Any:
    """The coefficients of the derivative of the polynomial ``p`` (highest power first)."""
    count = np.shape(p)[0]
    if count <= 1:
        return np.zeros_like(p)
    return p[:-1] * _exponents(count, False, p)[:-1]


nondifferentiable(integration_constant_rows)


# -- helpers of np.linalg.cond's and np.polyfit's rules --------------------------------------


def _end_masks(s: Any) -> tuple[Any, Any]:
    """Ones on the first (largest) and on the last of the singular values ``s``, zeros
    elsewhere, in ``s``'s dtype and array module."""
    xp = array_module(s)
    k = np.shape(s)[-1]
    return (xp.arange(k) == 0).astype(s.dtype), (xp.arange(k) == k - 1).astype(s.dtype)


nondifferentiable(_end_masks)


@transformable
def _cond_ends(s: Any, first: Any, last: Any) -> Any:
    """``first`` on the largest singular value's place and ``last`` on the smallest's (added
    where they are one)."""
    top, bottom = _end_masks(s)
    return np.expand_dims(first, -1) * top + np.expand_dims(last, -1) * bottom


@transformable
def cond_grad(g: Any, ans: Any, x: Any, p: Any = None) -> Any:
    """The gradient of ``np.linalg.cond(x, p)`` (complex ``x``: through the singular values'
    and the norms' complex rules; the inverse is holomorphic)."""
    if p in (None, 2, -2):
        s = np.linalg.svd(x, compute_uv=False)
        big, small = s[..., 0], s[..., -1]
        if p == -2:
            gs = _cond_ends(s, -g * small / (big * big), g / big)
        else:
            gs = _cond_ends(s, g / small, -g * big / (small * small))
        return singular_values_grad(gs, s, x, False, False, "np.linalg.cond")
    inverted = np.linalg.inv(x)
    norm_x = np.linalg.norm(x, p, axis=(-2, -1))
    norm_inverse = np.linalg.norm(inverted, p, axis=(-2, -1))
    through_inverse = conjugate_if_complex(
        norm_grad(g * norm_x, norm_inverse, inverted, p, (-2, -1)), inverted
    )
    through_x = conjugate_if_complex(norm_grad(g * norm_inverse, norm_x, x, p, (-2, -1)), x)
    return through_x - mT(inverted) @ through_inverse @ mT(inverted)


@transformable
def cond_tangent(dx: Any, x: Any, p: Any = None) -> Any:
    """The tangent of ``np.linalg.cond(x, p)`` along ``dx``."""
    if p in (None, 2, -2):
        s = np.linalg.svd(x, compute_uv=False)
        ds = singular_values_tangent(dx, s, x, False, False, False, "np.linalg.cond")
        big, small = s[..., 0], s[..., -1]
        if p == -2:
            return ds[..., -1] / big - small * ds[..., 0] / (big * big)
        return ds[..., 0] / small - big * ds[..., -1] / (small * small)
    inverted = np.linalg.inv(x)
    d_inverse = -(inverted @ dx @ inverted)
    norm_x = np.linalg.norm(x, p, axis=(-2, -1))
    norm_inverse = np.linalg.norm(inverted, p, axis=(-2, -1))
    slope_x = np.conjugate(norm_slope(x, p, (-2, -1)))
    slope_inverse = np.conjugate(norm_slope(inverted, p, (-2, -1)))
    moved_x = np.real(np.sum(dx * slope_x, axis=(-2, -1)))
    moved_inverse = np.real(np.sum(d_inverse * slope_inverse, axis=(-2, -1)))
    return moved_x * norm_inverse + norm_x * moved_inverse


def polyfit_checks(x: Any, deg: Any, rcond: Any, full: Any, w: Any, cov: Any) -> None:
    """Refuses what np.polyfit's rules do not differentiate: ``full=True``, ``cov``, and
    a weighted Vandermonde matrix whose rank falls short (polyfit then cuts singular
    values: the fit is another function)."""
    if full or cov is not False:
        raise NotImplementedError(
            "np.polyfit(..., full=True) and np.polyfit(..., cov=...) have no derivative in "
            "astgrad (the coefficients alone have): call it with full=False and cov=False"
        )
    on_host = device_of(x).type == "cpu"
    if w is not None and not on_host:
        raise NotImplementedError(
            "np.polyfit(..., w=...) on a GPU has no derivative in astgrad: CuPy's polyfit "
            "multiplies y by w in place, so the y a gradient would read is no longer the y "
            "that was fitted. Write the weighted fit as a least-squares problem instead: "
            "np.linalg.lstsq(np.vander(x, deg + 1) * w[:, None], y * w)[0]"
        )
    # the checks run where x is (CuPy's arrays do not convert to NumPy's)
    xp = np if on_host else array_module(x)
    lhs = np.vander(xp.asarray(x, dtype=float), int(deg) + 1)
    if w is not None:
        lhs = lhs * xp.asarray(w, dtype=float)[:, None]
    scale = np.sqrt(np.sum(lhs * lhs, axis=0))
    scale[scale == 0] = 1
    singular = np.linalg.svd(lhs / scale, compute_uv=False)
    cut = (len(x) * np.finfo(float).eps) if rcond is None else rcond
    if len(singular) < int(deg) + 1 or singular[-1] <= cut * singular[0]:
        raise NotImplementedError(
            "np.polyfit has a derivative in astgrad where the (weighted) Vandermonde matrix "
            f"has full rank; this fit of degree {deg} to {len(x)} points has not (polyfit "
            "cuts singular values: the fit is another function). Lower the degree"
        )


nondifferentiable(polyfit_checks)


@transformable
def polyfit_checked(t: Any, x: Any, deg: Any, rcond: Any, full: Any, w: Any, cov: Any) -> Any:
    """``t`` (a cotangent or a tangent), once :func:`polyfit_checks` passed (and none of
    ``t``, ``x``, ``w`` is complex: the rules are written for real values)."""
    polyfit_checks(x, deg, rcond, full, w, cov)
    return refuse_complex(refuse_complex(t, x, "np.polyfit"), w, "np.polyfit")


@transformable
def _polyfit_rows(w: Any, like: Any) -> Any:
    """The weights lined up with the rows of ``like`` (one if None)."""
    if w is None:
        return 1.0
    return np.reshape(w, (-1,) + (1,) * (np.ndim(like) - 1))


@transformable
def _polyfit_normal_solve(lhs: Any, rhs: Any) -> Any:
    """``(lhs^T lhs)^-1 rhs``, with lhs's columns scaled to unit length first (as polyfit
    scales them: the powers of x differ by orders of magnitude)."""
    scale = np.sqrt(np.sum(lhs * lhs, axis=0))
    scaled = lhs / scale
    column = np.reshape(scale, (-1,) + (1,) * (np.ndim(rhs) - 1))
    return np.linalg.solve(np.transpose(scaled) @ scaled, rhs / column) / column


@transformable
def _columns_times_rows(u: Any, v: Any) -> Any:
    """``u v^T`` of two vectors, or of two matrices summed over their columns."""
    if np.ndim(u) == 1:
        return np.outer(u, v)
    return u @ np.transpose(v)


@transformable
def polyfit_grad(g: Any, ans: Any, x: Any, y: Any, deg: Any, w: Any, part: str) -> Any:
    """The gradient of ``np.polyfit(x, y, deg, w=w)`` (the coefficients ``ans``) in
    ``part``: with ``A = w V``, ``b = w y``, ``z = (A^T A)^-1 g`` and ``r = b - A ans``,
    ``gA = r z^T - (A z) ans^T`` and ``gb = A z``."""
    if part == "w" and w is None:
        return None
    vander = np.vander(x, deg + 1)
    weights = _polyfit_rows(w, vander)
    lhs = weights * vander
    lined = _polyfit_rows(w, y)
    z = _polyfit_normal_solve(lhs, g)
    gb = lhs @ z
    if part == "y":
        return cast_like(gb * lined, y)
    residual = lined * y - lhs @ ans
    ga = _columns_times_rows(residual, z) - _columns_times_rows(gb, ans)
    if part == "x":
        return cast_like(np.sum(weights * ga * vander_slopes(x, deg + 1, False), axis=-1), x)
    moved = np.sum(ga * vander, axis=-1) + np.reshape(
        np.sum(np.reshape(gb * y, (np.shape(y)[0], -1)), axis=-1), np.shape(w)
    )
    return cast_like(moved, w)


@transformable
def polyfit_tangent(d: Any, ans: Any, x: Any, y: Any, deg: Any, w: Any, part: str) -> Any:
    """The tangent of ``np.polyfit(x, y, deg, w=w)`` along ``d``, the tangent of
    ``part``: ``(A^T A)^-1 (dA^T r + A^T (db - dA ans))``."""
    if part == "w" and w is None:
        return None
    vander = np.vander(x, deg + 1)
    weights = _polyfit_rows(w, vander)
    lhs = weights * vander
    lined = _polyfit_rows(w, y)
    residual = lined * y - lhs @ ans
    if part == "y":
        return _polyfit_normal_solve(lhs, np.transpose(lhs) @ (lined * d))
    if part == "x":
        d_lhs = weights * vander_slopes(x, deg + 1, False) * np.reshape(d, (-1, 1))
        d_rhs = 0.0
    else:
        d_lhs = np.reshape(d, (-1, 1)) * vander
        d_rhs = _polyfit_rows(d, y) * y
    moved = np.transpose(d_lhs) @ residual + np.transpose(lhs) @ (d_rhs - d_lhs @ ans)
    return _polyfit_normal_solve(lhs, moved)

"""Rules for SciPy's functions: ``scipy.special``'s, ``scipy.linalg.solve_triangular``
and the normal distribution's ``scipy.stats.norm.logpdf``, ``pdf``, ``cdf`` and ``logcdf``.

This family is registered only when SciPy imports (``pip install astgrad[scipy]``).
Most of ``scipy.special``'s functions are ufuncs, whose forward rules are derived from
their pointwise vjp rules as NumPy's are; the others have their forward rules written
below them. A derivative that needs another special function calls it through
``special.``, whose own rule makes the rule differentiable again (the second derivative
of ``digamma`` goes through ``polygamma``'s rule, of ``j0`` through ``j1``'s...). Integer
orders (``polygamma``'s ``n``, ``jn``'s, ``yn``'s and ``ive``'s ``v``) have no gradient.
"""

import functools
import math

import numpy as np
import scipy.linalg as linalg
import scipy.special as special
import scipy.stats as stats

from .complex import conjugate_if_complex, real_like, refuse_complex
from .containers import Parts
from .forward import jvp_rule, linear
from .linalg_complex import hermitian_cholesky_grad, hermitian_cholesky_tangent
from .linalg_helpers import (
    batched_scalar,
    inverse,
    mT,
    solve_adjoint,
    solve_grad_a,
    solve_tangent_a,
)
from .registry import lookup, no_derivative_at, nondifferentiable, vjp_rule
from .shared import cast_like, expand_reduced, output_parts, transformable, unbroadcast
from .statistics import held


def _recording(function):
    """``function``, one of SciPy's Python functions that rules call, made a primitive
    (as ``ag.primitive`` does; that one cannot be imported here, while the table loads):
    given tensors, on the tape differentiating a rule again, it records one node with its
    own rule, where SciPy's code would convert the tensors to arrays and lose their
    gradient. The transform finds the rule through it too."""

    @functools.wraps(function)
    def recorded(*args, **kwargs):
        from ..recording import apply
        from ..tensor import Tensor

        values = (*args, *kwargs.values())
        # (cho_solve and lu_solve take the factor inside a tuple)
        inner = [v for a in values if isinstance(a, tuple) for v in a]
        if any(isinstance(a, Tensor) for a in (*values, *inner)):
            return apply(lookup(function), function, args, kwargs)
        return function(*args, **kwargs)

    recorded.__astgrad_primitive__ = function
    return recorded


_polygamma = _recording(special.polygamma)
_logsumexp = _recording(special.logsumexp)

# -- logistic ------------------------------------------------------------------------------


@vjp_rule(special.expit)
def expit(g, ans, x):
    return g * ans * (1 - ans)


@vjp_rule(special.logit)
def logit(g, ans, x):
    return g / (x * (1 - x))


@vjp_rule(special.log_expit)
def log_expit(g, ans, x):
    return g * special.expit(-x)


# -- error functions -------------------------------------------------------------------------


@vjp_rule(special.erf)
def erf(g, ans, x):
    return g * 2 / math.sqrt(math.pi) * np.exp(-x * x)


@vjp_rule(special.erfc)
def erfc(g, ans, x):
    return -g * 2 / math.sqrt(math.pi) * np.exp(-x * x)


@vjp_rule(special.erfinv)
def erfinv(g, ans, x):
    return g * math.sqrt(math.pi) / 2 * np.exp(ans * ans)


@vjp_rule(special.erfcinv)
def erfcinv(g, ans, x):
    return -g * math.sqrt(math.pi) / 2 * np.exp(ans * ans)


# -- gamma and beta ----------------------------------------------------------------------------


@vjp_rule(special.gamma)
def gamma(g, ans, x):
    return g * ans * special.digamma(x)


@vjp_rule(special.gammaln)
def gammaln(g, ans, x):
    return g * special.digamma(x)


@vjp_rule(special.digamma)
def digamma(g, ans, x):
    return cast_like(g * _polygamma(1, x), x)


# (polygamma is a Python function, not a ufunc: no derived forward rule)
@jvp_rule(special.digamma)
def digamma_jvp(ans, x, *, dx):
    return dx * _polygamma(1, x)


@vjp_rule(special.polygamma)
def polygamma(g, ans, n, x):
    return None, unbroadcast(cast_like(g * _polygamma(n + 1, x), x), x)


@jvp_rule(special.polygamma)
def polygamma_jvp(ans, n, x, *, dx):
    return None, dx * _polygamma(n + 1, x)


@vjp_rule(special.beta)
def beta(g, ans, a, b):
    both = special.digamma(a + b)
    return (
        unbroadcast(g * ans * (special.digamma(a) - both), a),
        unbroadcast(g * ans * (special.digamma(b) - both), b),
    )


@vjp_rule(special.betaln)
def betaln(g, ans, a, b):
    both = special.digamma(a + b)
    return (
        unbroadcast(g * (special.digamma(a) - both), a),
        unbroadcast(g * (special.digamma(b) - both), b),
    )


# -- x log y -------------------------------------------------------------------------------------


@vjp_rule(special.xlogy)
def xlogy(g, ans, x, y):
    return unbroadcast(g * np.log(y), x), unbroadcast(g * x / y, y)


@vjp_rule(special.xlog1py)
def xlog1py(g, ans, x, y):
    return unbroadcast(g * np.log1p(y), x), unbroadcast(g * x / (1 + y), y)


# -- Bessel functions ------------------------------------------------------------------------


@vjp_rule(special.i0)
def i0(g, ans, x):
    return g * special.i1(x)


@vjp_rule(special.i1)
def i1(g, ans, x):
    return g * (special.i0(x) - ans / x)


# ive(v, x) = iv(v, x) * exp(-|x|)
@vjp_rule(special.ive)
def ive(g, ans, v, x):
    return None, unbroadcast(
        refuse_complex(g, x, "scipy.special.ive")
        * ((special.ive(v - 1, x) + special.ive(v + 1, x)) / 2 - np.sign(x) * ans),
        x,
    )


# (written out: the vjp rule's check of complex x is no elementwise expression to derive from)
@jvp_rule(special.ive)
def ive_jvp(ans, v, x, *, dx):
    return None, refuse_complex(dx, x, "scipy.special.ive") * (
        (special.ive(v - 1, x) + special.ive(v + 1, x)) / 2 - np.sign(x) * ans
    )


@vjp_rule(special.j0)
def j0(g, ans, x):
    return -g * special.j1(x)


@vjp_rule(special.j1)
def j1(g, ans, x):
    return g * (special.j0(x) - special.jv(2, x)) / 2


@vjp_rule(special.y0)
def y0(g, ans, x):
    return -g * special.y1(x)


@vjp_rule(special.y1)
def y1(g, ans, x):
    return cast_like(g * (special.y0(x) - special.yn(2, x)) / 2, x)


@jvp_rule(special.y1)
def y1_jvp(ans, x, *, dx):
    return dx * (special.y0(x) - special.yn(2, x)) / 2


# special.jn is special.jv: one rule, in x only
@vjp_rule(special.jv)
def jv(g, ans, v, x):
    return None, unbroadcast(cast_like(g * (special.jv(v - 1, x) - special.jv(v + 1, x)) / 2, x), x)


@jvp_rule(special.jv)
def jv_jvp(ans, v, x, *, dx):
    return None, dx * (special.jv(v - 1, x) - special.jv(v + 1, x)) / 2


def _order_refused(name: str) -> str:
    return (
        f"{name}(v, x): astgrad has no derivative in the real order v, and v carries one "
        "here; differentiate in x only (v a constant), or take differences in v"
    )


# (a real order's derivative has no closed form in SciPy's functions: refused, not zero)
no_derivative_at(special.jv, "v", why=_order_refused("scipy.special.jv"))
no_derivative_at(special.ive, "v", why=_order_refused("scipy.special.ive"))


@vjp_rule(special.yn)
def yn(g, ans, n, x):
    return None, unbroadcast(cast_like(g * (special.yn(n - 1, x) - special.yn(n + 1, x)) / 2, x), x)


@jvp_rule(special.yn)
def yn_jvp(ans, n, x, *, dx):
    return None, dx * (special.yn(n - 1, x) - special.yn(n + 1, x)) / 2


# -- logsumexp and softmax -----------------------------------------------------------------
# (return_sign=True, which returns a pair, has no rule.)


@vjp_rule(special.logsumexp)
def logsumexp(g, ans, a, axis=None, b=None, keepdims=False, return_sign=False):
    spread = expand_reduced(without_sign(g, return_sign), a, axis, keepdims) * np.exp(
        a - expand_reduced(ans, a, axis, keepdims)
    )
    return (
        unbroadcast(spread if b is None else spread * b, a),
        None,
        None if b is None else unbroadcast(spread, b),
    )


@jvp_rule(special.logsumexp)
def logsumexp_jvp(ans, a, axis=None, b=None, keepdims=False, return_sign=False, *, da, db):
    weights = np.exp(without_sign(a, return_sign) - _logsumexp(a, axis=axis, b=b, keepdims=True))
    return (
        np.sum(da * weights if b is None else da * weights * b, axis=axis, keepdims=keepdims),
        None,
        None if b is None else np.sum(db * weights, axis=axis, keepdims=keepdims),
    )


@transformable
def without_sign(value, return_sign=False):
    """``value``, once logsumexp is known to return one result: with ``return_sign=True``
    it returns two (the logarithm of the absolute value and the sign), which its rules
    do not differentiate."""
    if return_sign:
        raise NotImplementedError(
            "scipy.special.logsumexp(..., return_sign=True) has no derivative in astgrad; "
            "call it without return_sign (with b of one sign), or compute the sign apart"
        )
    return value


@vjp_rule(special.softmax)
def softmax(g, ans, x, axis=None):
    return ans * (g - np.sum(g * ans, axis=axis, keepdims=True))


@jvp_rule(special.softmax)
def softmax_jvp(ans, x, axis=None, *, dx):
    return ans * (dx - np.sum(dx * ans, axis=axis, keepdims=True))


@vjp_rule(special.log_softmax)
def log_softmax(g, ans, x, axis=None):
    return g - np.exp(ans) * np.sum(g, axis=axis, keepdims=True)


@jvp_rule(special.log_softmax)
def log_softmax_jvp(ans, x, axis=None, *, dx):
    return dx - np.sum(np.exp(ans) * dx, axis=axis, keepdims=True)


# -- scipy.linalg ----------------------------------------------------------------------------
# solve_triangular reads one triangle of ``a`` (without its diagonal when unit_diagonal):
# the gradient of ``a`` lies in it. A 2-D ``a``; ``b`` a vector or a matrix.


@vjp_rule(linalg.solve_triangular)
def solve_triangular(
    g, ans, a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False, check_finite=True
):
    gb = _solve_triangular(a, g, trans=_other_side(trans), lower=lower, unit_diagonal=unit_diagonal)
    return triangular_grad_a(gb, ans, trans, lower, unit_diagonal), gb


@jvp_rule(linalg.solve_triangular)
def solve_triangular_jvp(
    ans,
    a,
    b,
    trans=0,
    lower=False,
    unit_diagonal=False,
    overwrite_b=False,
    check_finite=True,
    *,
    da,
    db,
):
    return (
        triangular_tangent_a(da, ans, a, trans, lower, unit_diagonal),
        _solve_triangular(a, db, trans=trans, lower=lower, unit_diagonal=unit_diagonal),
    )


# -- scipy.stats.norm ---------------------------------------------------------------------
# Methods of the distribution object scipy.stats.norm, keyed by the bound method: each
# access makes a new one, but they compare and hash equal, so the table finds them.
# z = (x - loc) / scale.


@vjp_rule(stats.norm.logpdf, name="norm_logpdf")
def norm_logpdf(g, ans, x, loc=0, scale=1):
    z = (x - loc) / scale
    return (
        unbroadcast(cast_like(-g * z / scale, x), x),
        unbroadcast(cast_like(g * z / scale, loc), loc),
        unbroadcast(cast_like(g * (z * z - 1) / scale, scale), scale),
    )


@jvp_rule(stats.norm.logpdf)
def norm_logpdf_jvp(ans, x, loc=0, scale=1, *, dx, dloc, dscale):
    z = (x - loc) / scale
    return -dx * z / scale, dloc * z / scale, dscale * (z * z - 1) / scale


@vjp_rule(stats.norm.pdf, name="norm_pdf")
def norm_pdf(g, ans, x, loc=0, scale=1):
    z = (x - loc) / scale
    return (
        unbroadcast(cast_like(-g * ans * z / scale, x), x),
        unbroadcast(cast_like(g * ans * z / scale, loc), loc),
        unbroadcast(cast_like(g * ans * (z * z - 1) / scale, scale), scale),
    )


@jvp_rule(stats.norm.pdf)
def norm_pdf_jvp(ans, x, loc=0, scale=1, *, dx, dloc, dscale):
    z = (x - loc) / scale
    return -dx * ans * z / scale, dloc * ans * z / scale, dscale * ans * (z * z - 1) / scale


@vjp_rule(stats.norm.cdf, name="norm_cdf")
def norm_cdf(g, ans, x, loc=0, scale=1):
    density = _norm_pdf(x, loc, scale)
    return (
        unbroadcast(cast_like(g * density, x), x),
        unbroadcast(cast_like(-g * density, loc), loc),
        unbroadcast(cast_like(-g * density * (x - loc) / scale, scale), scale),
    )


@jvp_rule(stats.norm.cdf)
def norm_cdf_jvp(ans, x, loc=0, scale=1, *, dx, dloc, dscale):
    density = _norm_pdf(x, loc, scale)
    return dx * density, -dloc * density, -dscale * density * (x - loc) / scale


@vjp_rule(stats.norm.logcdf, name="norm_logcdf")
def norm_logcdf(g, ans, x, loc=0, scale=1):
    ratio = np.exp(_norm_logpdf(x, loc, scale) - ans)  # pdf / cdf
    return (
        unbroadcast(cast_like(g * ratio, x), x),
        unbroadcast(cast_like(-g * ratio, loc), loc),
        unbroadcast(cast_like(-g * ratio * (x - loc) / scale, scale), scale),
    )


@jvp_rule(stats.norm.logcdf)
def norm_logcdf_jvp(ans, x, loc=0, scale=1, *, dx, dloc, dscale):
    ratio = np.exp(_norm_logpdf(x, loc, scale) - ans)
    return dx * ratio, -dloc * ratio, -dscale * ratio * (x - loc) / scale


# -- helpers ---------------------------------------------------------------------------------

_solve_triangular = _recording(linalg.solve_triangular)
_norm_pdf = _recording(stats.norm.pdf)
_norm_logpdf = _recording(stats.norm.logpdf)


def _transposed(trans):
    """Whether solve_triangular's ``trans`` solves with ``a.T`` (``a.H``: real here)."""
    return trans in (1, 2, "T", "C")


def _other_side(trans):
    """The ``trans`` of the solve with the transpose of ``trans``'s matrix."""
    return 0 if _transposed(trans) else 1


@transformable
def _triangle(m, lower, unit_diagonal):
    """The part of ``m`` that solve_triangular reads."""
    part = np.tril(m) if lower else np.triu(m)
    if unit_diagonal:
        part = np.where(np.eye(m.shape[0], dtype=bool), 0.0, part)
    return part


@transformable
def _outer(u, v):
    """``u v^T``, of two vectors or of two matrices (summed over their columns)."""
    if np.ndim(u) == 1:
        return np.outer(u, v)
    return np.matmul(u, np.transpose(v))


@transformable
def triangular_grad_a(gb, x, trans, lower, unit_diagonal):
    """The gradient of solve_triangular's ``a``: ``-gb x^T`` (``-x gb^T`` when it solved
    with ``a.T``), on the triangle it reads."""
    if _transposed(trans):
        return -_triangle(_outer(x, gb), lower, unit_diagonal)
    return -_triangle(_outer(gb, x), lower, unit_diagonal)


@transformable
def triangular_tangent_a(da, x, a, trans, lower, unit_diagonal):
    """The tangent of ``x = solve_triangular(a, b)`` along ``da``: ``-op(a)^-1 op(da) x``."""
    moved = _triangle(da, lower, unit_diagonal)
    if _transposed(trans):
        moved = np.transpose(moved)
    return _solve_triangular(
        a, -np.matmul(moved, x), trans=trans, lower=lower, unit_diagonal=unit_diagonal
    )


# -- scipy.linalg: Cholesky factors, square roots, Sylvester equations -------------------------
# scipy.linalg.cholesky gives the upper factor unless lower=True (np.linalg.cholesky the
# lower), reading only that triangle of a: np.linalg.cholesky(a, upper=True)'s rules.
@vjp_rule(linalg.cholesky, name="scipy_cholesky")
def scipy_cholesky(g, ans, a, lower=False, overwrite_a=False, check_finite=True):
    return hermitian_cholesky_grad(g, ans, a, not lower)


@jvp_rule(linalg.cholesky)
def scipy_cholesky_jvp(ans, a, lower=False, overwrite_a=False, check_finite=True, *, da):
    return hermitian_cholesky_tangent(da, ans, a, not lower)


# scipy.linalg.inv, det and solve: NumPy's rules on the matrix SciPy reads, which assume_a
# (and lower) can make one triangle of a, symmetrized ('sym', 'her', 'pos'), a triangle
# ('upper triangular', 'lower triangular') or a's diagonal ('diagonal'); only what it
# reads gets a gradient. transposed=True solves with its transpose.
@vjp_rule(linalg.inv, name="scipy_inv")
def scipy_inv(g, ans, a, overwrite_a=False, check_finite=True, *, assume_a=None, lower=False):
    moved = refuse_hermitian(g, a, assume_a, "scipy.linalg.inv")
    return cast_like(read_matrix_grad(-(mT(ans) @ moved @ mT(ans)), lower, assume_a), a)


@jvp_rule(linalg.inv)
def scipy_inv_jvp(ans, a, overwrite_a=False, check_finite=True, *, assume_a=None, lower=False, da):
    moved = refuse_hermitian(da, a, assume_a, "scipy.linalg.inv")
    return -(ans @ read_matrix(moved, lower, assume_a) @ ans)


@vjp_rule(linalg.det, name="scipy_det")
def scipy_det(g, ans, a, overwrite_a=False, check_finite=True):
    return cast_like(batched_scalar(g * ans) * mT(inverse(a)), a)


@jvp_rule(linalg.det)
def scipy_det_jvp(ans, a, overwrite_a=False, check_finite=True, *, da):
    return ans * np.trace(np.linalg.solve(a, da), axis1=-2, axis2=-1)


@vjp_rule(linalg.solve, name="scipy_solve")
def scipy_solve(
    g,
    ans,
    a,
    b,
    lower=False,
    overwrite_a=False,
    overwrite_b=False,
    check_finite=True,
    assume_a=None,
    transposed=False,
):
    matrix = read_matrix(a, lower, assume_a, transposed)
    gb = solve_adjoint(refuse_hermitian(g, a, assume_a, "scipy.linalg.solve"), matrix, b)
    return (
        cast_like(
            read_matrix_grad(solve_grad_a(gb, ans, matrix, b), lower, assume_a, transposed), a
        ),
        cast_like(unbroadcast(gb, b), b),
    )


@jvp_rule(linalg.solve)
def scipy_solve_jvp(
    ans,
    a,
    b,
    lower=False,
    overwrite_a=False,
    overwrite_b=False,
    check_finite=True,
    assume_a=None,
    transposed=False,
    *,
    da,
    db,
):
    matrix = read_matrix(a, lower, assume_a, transposed)
    checked = refuse_hermitian(da, a, assume_a, "scipy.linalg.solve")
    moved = read_matrix(checked, lower, assume_a, transposed)
    return solve_tangent_a(moved, ans, matrix, b), np.linalg.solve(matrix, db)


# expm's derivative along e is the upper right block of expm([[a, e], [0, a]]) (the
# Frechet derivative); its gradient is that derivative at a's transpose along g. Written
# with expm itself, so it differentiates again. (Holomorphic: right for complex a as it is,
# as are inv, det and solve but where they read a Hermitian matrix: refuse_hermitian.)
@vjp_rule(linalg.expm)
def expm(g, ans, A):
    return cast_like(expm_frechet_block(mT(A), g), A)


@jvp_rule(linalg.expm)
def expm_jvp(ans, A, *, dA):
    return expm_frechet_block(A, dA)


# cho_factor returns (c, lower): the factor in one triangle of c, a's own entries in the
# other (LAPACK works on a copy of a), so the gradient of that other triangle passes
# through to a's. The factor's is cholesky's, on the triangle it reads (for a complex a,
# the Hermitian matrix that triangle stands for: linalg_complex).


@vjp_rule(linalg.cho_factor, multi_output=True)
def cho_factor(g, ans, a, lower=False, overwrite_a=False, check_finite=True):
    gc = output_parts(g, ans)[0]
    factor = _factor_triangle(ans[0], lower)
    return (
        hermitian_cholesky_grad(_factor_triangle(gc, lower), factor, a, not lower)
        + _other_triangle(gc, lower),
    )


@jvp_rule(linalg.cho_factor)
def cho_factor_jvp(ans, a, lower=False, overwrite_a=False, check_finite=True, *, da):
    factor = _factor_triangle(ans[0], lower)
    moved = hermitian_cholesky_tangent(da, factor, a, not lower)
    return ((moved + _other_triangle(da, lower), False),)


# cho_solve((c, lower), b) solves a x = b with a = L L^H (or U^H U) from c's factor
# triangle; the other triangle is not read and gets no gradient. (b's gradient is a^-T g:
# conj(a^-1 conj(g)) for a complex, Hermitian, a.)
@vjp_rule(linalg.cho_solve)
def cho_solve(g, ans, c_and_lower, b, overwrite_b=False, check_finite=True):
    c = c_and_lower[0]
    gb = conjugate_if_complex(_cho_solve(c_and_lower, conjugate_if_complex(g, c)), c)
    return Parts([cho_solve_factor_grad(gb, ans, c_and_lower), no_grad_like(c_and_lower[1])]), gb


@jvp_rule(linalg.cho_solve)
def cho_solve_jvp(ans, c_and_lower, b, overwrite_b=False, check_finite=True, *, dc_and_lower, db):
    return (
        _cho_solve(c_and_lower, -(cho_product_tangent(dc_and_lower[0], c_and_lower) @ ans)),
        _cho_solve(c_and_lower, db),
    )


# x = sqrtm(a) solves x x = a: dx x + x dx = da, a Sylvester equation. (Real square roots;
# their cotangent's real part: SciPy's solver misreads a real root with complex
# eigenvalues beside a complex right-hand side.)
@vjp_rule(linalg.sqrtm)
def sqrtm(g, ans, A):
    return _solve_sylvester(real_root(ans).T, ans.T, real_like(g, ans))


@jvp_rule(linalg.sqrtm)
def sqrtm_jvp(ans, A, *, dA):
    return _solve_sylvester(real_root(ans), ans, dA)


# a x + x b = q: da x + a dx + dx b + x db = dq. Holomorphic: right for complex values
# with plain transposes, solved by sylvester_solve (SciPy's own solver is wrong for
# complex data with a real a or b, whose real Schur forms its complex solver misreads).
@vjp_rule(linalg.solve_sylvester)
def solve_sylvester(g, ans, a, b, q):
    # (a real result's cotangent: its real part)
    checked = real_like(sylvester_checked(g, ans, a, b, q), ans)
    gq = sylvester_solve(np.transpose(a), np.transpose(b), checked)
    return -(gq @ np.transpose(ans)), -(np.transpose(ans) @ gq), gq


@jvp_rule(linalg.solve_sylvester)
def solve_sylvester_jvp(ans, a, b, q, *, da, db, dq):
    return (
        sylvester_solve(a, b, -(sylvester_checked(da, ans, a, b, q) @ ans)),
        sylvester_solve(a, b, -(ans @ db)),
        sylvester_solve(a, b, dq),
    )


# lu_factor returns (lu, piv): P a = L U, L unit lower (its strict triangle in lu) and U
# upper (lu's upper triangle), P the row swaps piv, which stay put while a moves a little
# (pivots that tie aside). With F = L^-1 P da U^-1: dL = L tril(F, -1), dU = triu(F) U.
# lu_solve's rule gives lu's gradient in the same packing, so that a gradient through
# lu_solve(lu_factor(a), b) reaches a exactly. Square matrices; holomorphic, so right for
# complex values as written, but for lu_solve's trans=2 (a^H: refused).
@vjp_rule(linalg.lu_factor, multi_output=True)
def lu_factor(g, ans, a, overwrite_a=False, check_finite=True):
    glu = output_parts(g, ans)[0]
    return (cast_like(lu_factor_grad(glu, ans[0], ans[1]), a),)


@jvp_rule(linalg.lu_factor)
def lu_factor_jvp(ans, a, overwrite_a=False, check_finite=True, *, da):
    return ((lu_factor_tangent(da, ans[0], ans[1]), np.zeros_like(ans[1])),)


# lu_solve((lu, piv), b, trans) solves op(a) x = b with a = P^T L U (op: a or a^T)
@vjp_rule(linalg.lu_solve)
def lu_solve(g, ans, lu_and_piv, b, trans=0, overwrite_b=False, check_finite=True):
    checked = lu_unconjugated(g, lu_and_piv, b, trans)
    gb = _lu_solve(lu_and_piv, checked, trans=lu_other_side(trans))
    return Parts(
        [lu_solve_factor_grad(gb, ans, lu_and_piv, trans), no_grad_like(lu_and_piv[1])]
    ), cast_like(gb, b)


@jvp_rule(linalg.lu_solve)
def lu_solve_jvp(
    ans, lu_and_piv, b, trans=0, overwrite_b=False, check_finite=True, *, dlu_and_piv, db
):
    moved = lu_product_tangent(
        lu_unconjugated(dlu_and_piv[0], lu_and_piv, b, trans), lu_and_piv, trans
    )
    return (
        _lu_solve(lu_and_piv, -(moved @ ans), trans=trans),
        _lu_solve(lu_and_piv, lu_unconjugated(db, lu_and_piv, b, trans), trans=trans),
    )


# block_diag(a0, a1, ...) places each input (a vector as a row, a number as 1 x 1) on the
# diagonal: its gradient is its block of the cotangent. The rule names six inputs, so
# that the tape and the transform can bind a call to it (a seventh stops with an error).
@vjp_rule(linalg.block_diag)
def block_diag(g, ans, a0=None, a1=None, a2=None, a3=None, a4=None, a5=None):
    return (
        block_diag_grad(g, 0, a0, a1, a2, a3, a4, a5),
        block_diag_grad(g, 1, a0, a1, a2, a3, a4, a5),
        block_diag_grad(g, 2, a0, a1, a2, a3, a4, a5),
        block_diag_grad(g, 3, a0, a1, a2, a3, a4, a5),
        block_diag_grad(g, 4, a0, a1, a2, a3, a4, a5),
        block_diag_grad(g, 5, a0, a1, a2, a3, a4, a5),
    )


@jvp_rule(linalg.block_diag)
def block_diag_jvp(
    ans, a0=None, a1=None, a2=None, a3=None, a4=None, a5=None, *, da0, da1, da2, da3, da4, da5
):
    return (
        block_diag_tangent(da0, 0, a0, a1, a2, a3, a4, a5),
        block_diag_tangent(da1, 1, a0, a1, a2, a3, a4, a5),
        block_diag_tangent(da2, 2, a0, a1, a2, a3, a4, a5),
        block_diag_tangent(da3, 3, a0, a1, a2, a3, a4, a5),
        block_diag_tangent(da4, 4, a0, a1, a2, a3, a4, a5),
        block_diag_tangent(da5, 5, a0, a1, a2, a3, a4, a5),
    )


_expm = _recording(linalg.expm)


@transformable
def expm_frechet_block(a, e):
    """The derivative of expm at ``a`` along ``e``: the upper right block of
    ``expm([[a, e], [0, a]])``."""
    n = np.shape(a)[-1]
    zeros = np.zeros_like(a)
    joined = np.concatenate(
        [np.concatenate([a, e], axis=-1), np.concatenate([zeros, a], axis=-1)], axis=-2
    )
    return _expm(joined)[..., :n, n:]


@transformable
def refuse_hermitian(value, a, assume_a, name):
    """``value``, once ``a`` is known real where scipy.linalg reads it as a Hermitian matrix
    (``assume_a`` 'her' or 'pos': a conjugate across the diagonal, which the rules, written
    for the holomorphic general, symmetric and triangular readings, do not follow)."""
    if assume_a in ("her", "hermitian", "pos", "positive definite"):
        return refuse_complex(value, a, name)
    return value


def matrix_structure(assume_a):
    """What scipy.linalg reads of ``a`` for ``assume_a``: 'general', 'symmetric' (one
    triangle), 'diagonal', 'upper' or 'lower' (a triangle)."""
    if assume_a in (None, "gen", "general"):
        return "general"
    if assume_a in ("sym", "symmetric", "her", "hermitian", "pos", "positive definite"):
        return "symmetric"
    if assume_a in ("diagonal", "upper triangular", "lower triangular"):
        return assume_a.split()[0]
    raise NotImplementedError(
        f"scipy.linalg with assume_a={assume_a!r} has no derivative in astgrad (general, "
        "symmetric, positive definite, diagonal and triangular matrices have); pass the "
        "full matrix with assume_a=None"
    )


nondifferentiable(matrix_structure)


@transformable
def read_matrix(a, lower=False, assume_a=None, transposed=False):
    """The matrix scipy.linalg solves with (or inverts), from ``a`` as ``assume_a``,
    ``lower`` and ``transposed`` say it reads it."""
    structure = matrix_structure(assume_a)
    read = a
    if structure == "symmetric" and lower:
        read = np.tril(a) + np.swapaxes(np.tril(a, -1), -1, -2)
    elif structure == "symmetric":
        read = np.triu(a) + np.swapaxes(np.triu(a, 1), -1, -2)
    elif structure == "diagonal":
        read = a * np.eye(np.shape(a)[-1])
    elif structure == "upper":
        read = np.triu(a)
    elif structure == "lower":
        read = np.tril(a)
    if transposed:
        return np.swapaxes(read, -1, -2)
    return read


@transformable
def read_matrix_grad(grad, lower=False, assume_a=None, transposed=False):
    """The gradient of ``a`` from ``grad``, that of the matrix :func:`read_matrix` read."""
    structure = matrix_structure(assume_a)
    if transposed:
        grad = np.swapaxes(grad, -1, -2)
    if structure == "symmetric":
        both = grad + np.swapaxes(grad, -1, -2)
        diagonal = grad * np.eye(np.shape(grad)[-1])
        if lower:
            return np.tril(both) - diagonal
        return np.triu(both) - diagonal
    if structure == "diagonal":
        return grad * np.eye(np.shape(grad)[-1])
    if structure == "upper":
        return np.triu(grad)
    if structure == "lower":
        return np.tril(grad)
    return grad


_cho_solve = _recording(linalg.cho_solve)
_solve_sylvester = _recording(linalg.solve_sylvester)


@transformable
def sylvester_solve(a, b, q):
    """``scipy.linalg.solve_sylvester(a, b, q)``, right for complex values: SciPy takes
    the real Schur form of a real ``a`` (or ``b``), whose 2 x 2 blocks its complex solver
    does not read, so with complex data both go in complex."""
    if np.iscomplexobj(a) or np.iscomplexobj(b) or np.iscomplexobj(q):
        return _solve_sylvester(a + 0j, b + 0j, q)
    return _solve_sylvester(a, b, q)


def sylvester_checked(value, x, a, b, q):
    """``value``, once ``x = solve_sylvester(a, b, q)`` is known to solve ``a x + x b = q``
    (SciPy's solver is wrong for complex data with a real ``a`` or ``b`` that has complex
    eigenvalues: there is then no solution to differentiate)."""
    if np.iscomplexobj(x):
        residual = np.linalg.norm(a @ x + x @ b - q)
        scale = (np.linalg.norm(a) + np.linalg.norm(b)) * np.linalg.norm(x) + np.linalg.norm(q)
        if residual > 1e-8 * scale:
            raise NotImplementedError(
                "scipy.linalg.solve_sylvester returned a matrix that does not solve "
                "a x + x b = q (SciPy misreads the real Schur form of a real a or b with "
                "complex eigenvalues when q is complex): pass a and b as complex arrays "
                "(a + 0j), and astgrad differentiates the solution"
            )
    return value


@vjp_rule(sylvester_checked)
def sylvester_checked_vjp(g, ans, value, x, a, b, q):
    return sylvester_checked(g, x, a, b, q), None, None, None, None


linear(sylvester_checked)


@transformable
def _factor_triangle(c, lower):
    """The triangle of cho_factor's ``c`` that holds the factor."""
    if lower:
        return np.tril(c)
    return np.triu(c)


@transformable
def _other_triangle(c, lower):
    """The strict triangle of cho_factor's ``c`` that holds the input's own entries."""
    if lower:
        return np.triu(c, 1)
    return np.tril(c, -1)


@transformable
def cho_solve_factor_grad(gb, x, c_and_lower):
    """The gradient of cho_solve's factor: with ``ga = -gb x^T`` the gradient of the
    matrix it solves with, ``(ga + ga^T) L`` on L's triangle (``U (ga + ga^T)`` for U);
    for a complex factor, of ``L L^H`` (``U^H U``), ``(ga + ga^H) conj(L)``
    (``conj(U) (ga + ga^H)``)."""
    c, lower = c_and_lower[0], c_and_lower[1]
    factor = _factor_triangle(c, lower)
    if np.iscomplexobj(factor):
        ga = -_outer(gb, x)
        both = ga + np.conjugate(np.transpose(ga))
        if lower:
            return np.tril(both @ np.conjugate(factor))
        return np.triu(np.conjugate(factor) @ both)
    if np.ndim(x) == 1 or 3 * np.shape(x)[-1] < np.shape(x)[-2]:
        # ga + ga^T has the rank of the right-hand sides (2 for a vector): (ga + ga^T) L
        # is -(gb (L^T x)^T + x (L^T gb)^T), products with the factor as wide as x, not
        # a product of two n x n matrices
        if lower:
            factor_t = np.transpose(factor)
            return np.tril(-(_outer(gb, factor_t @ x) + _outer(x, factor_t @ gb)))
        return np.triu(-(_outer(factor @ gb, x) + _outer(factor @ x, gb)))
    ga = -_outer(gb, x)
    both = ga + np.transpose(ga)
    if lower:
        return np.tril(both @ factor)
    return np.triu(factor @ both)


@transformable
def cho_product_tangent(dc, c_and_lower):
    """The tangent of the matrix cho_solve solves with, ``L L^H`` (``U^H U``), along the
    tangent ``dc`` of its factor's triangle."""
    lower = c_and_lower[1]
    factor = _factor_triangle(c_and_lower[0], lower)
    moved = _factor_triangle(dc, lower)
    if lower:
        product = moved @ np.conjugate(np.transpose(factor))
    else:
        product = np.conjugate(np.transpose(factor)) @ moved
    return product + np.conjugate(np.transpose(product))


@transformable
def real_root(x):
    """``x``, sqrtm's result, refused with a clear error where it is complex."""
    refuse_complex_root(x)
    return x


def refuse_complex_root(x):
    if np.iscomplexobj(x):
        raise NotImplementedError(
            "scipy.linalg.sqrtm has a derivative in astgrad where the square root is real; "
            "this one is complex (complex numbers are not differentiated yet)"
        )


nondifferentiable(refuse_complex_root)


# -- helpers of the LU and block_diag rules ----------------------------------------------------

_lu_solve = _recording(linalg.lu_solve)


def lu_rows(piv):
    """The row order P applies (``(P a)[i] = a[rows[i]]``) from LAPACK's swaps ``piv``
    (row i swapped with row piv[i], in turn). Refuses what the LU rules do not cover."""
    piv = np.asarray(piv)
    if piv.ndim != 1:
        raise NotImplementedError(
            "scipy.linalg.lu_factor and lu_solve have a derivative in astgrad for one square "
            "matrix, not a batch; factor each matrix on its own"
        )
    rows = np.arange(piv.shape[0])
    for i, p in enumerate(piv):
        rows[i], rows[p] = rows[p], rows[i]
    return rows


def lu_unpermute_rows(piv):
    """The order that takes ``P a``'s rows back to ``a``'s."""
    return np.argsort(lu_rows(piv))


def lu_other_side(trans):
    """lu_solve's ``trans`` for the transpose of ``trans``'s matrix."""
    if trans in (0, "N"):
        return 1
    if trans in (1, 2, "T", "C"):
        return 0
    raise ValueError(f"scipy.linalg.lu_solve: unknown trans={trans!r}")


@transformable
def lu_unconjugated(value, lu_and_piv, b, trans):
    """``value``, once lu_solve is known not to solve with a complex ``a^H`` (trans=2): the
    rules transpose without conjugating, right for the holomorphic trans 0 and 1."""
    if trans in (2, "C"):
        name = "scipy.linalg.lu_solve(..., trans=2)"
        return refuse_complex(refuse_complex(value, lu_and_piv[0], name), b, name)
    return value


def lu_check_square(lu):
    if np.ndim(lu) != 2 or np.shape(lu)[0] != np.shape(lu)[1]:
        raise NotImplementedError(
            "scipy.linalg.lu_factor and lu_solve have a derivative in astgrad for one square "
            f"matrix; this one has shape {np.shape(lu)}"
        )


nondifferentiable(lu_rows, lu_unpermute_rows, lu_other_side, lu_check_square)


@transformable
def lu_unit_lower(lu):
    """L, the unit lower factor that ``lu`` holds below its diagonal."""
    return np.tril(lu, -1) + np.eye(np.shape(lu)[-1], dtype=lu.dtype)


@transformable
def lu_factor_grad(glu, lu, piv):
    """The gradient of ``a`` from ``glu``, that of lu_factor's packed ``lu``:
    ``P^T L^-T (tril(L^T gL, -1) + triu(gU U^T)) U^-T``."""
    lu_check_square(lu)
    lower, upper = lu_unit_lower(lu), np.triu(lu)
    gf = np.tril(np.transpose(lower) @ np.tril(glu, -1), -1) + np.triu(glu @ np.transpose(upper))
    left = _solve_triangular(lower, gf, trans=1, lower=True, unit_diagonal=True)
    both = np.transpose(_solve_triangular(upper, np.transpose(left), lower=False))
    return both[lu_unpermute_rows(piv)]


@transformable
def lu_factor_tangent(da, lu, piv):
    """The tangent of lu_factor's packed ``lu`` along ``da``: ``L tril(F, -1) + triu(F) U``,
    ``F = L^-1 P da U^-1``."""
    lu_check_square(lu)
    lower, upper = lu_unit_lower(lu), np.triu(lu)
    left = _solve_triangular(lower, da[lu_rows(piv)], lower=True, unit_diagonal=True)
    f = np.transpose(_solve_triangular(upper, np.transpose(left), trans=1, lower=False))
    return lower @ np.tril(f, -1) + np.triu(f) @ upper


@transformable
def lu_solve_factor_grad(gb, x, lu_and_piv, trans):
    """The gradient of lu_solve's packed ``lu`` (``a = P^T L U``): with ``ga = -gb x^T``
    (``-x gb^T`` for ``a^T``) and ``m = P ga``, ``tril(m U^T, -1) + triu(L^T m)``."""
    lu, piv = lu_and_piv[0], lu_and_piv[1]
    lu_check_square(lu)
    if lu_other_side(trans) == 1:
        ga = -_outer(gb, x)
    else:
        ga = -_outer(x, gb)
    m = ga[lu_rows(piv)]
    return np.tril(m @ np.transpose(np.triu(lu)), -1) + np.triu(np.transpose(lu_unit_lower(lu)) @ m)


@transformable
def lu_product_tangent(dlu, lu_and_piv, trans):
    """The tangent of op(a), ``a = P^T L U``, along ``dlu``, the tangent of the packed
    ``lu``: ``P^T (tril(dlu, -1) U + L triu(dlu))``, transposed for trans."""
    lu, piv = lu_and_piv[0], lu_and_piv[1]
    lu_check_square(lu)
    moved = np.tril(dlu, -1) @ np.triu(lu) + lu_unit_lower(lu) @ np.triu(dlu)
    full = moved[lu_unpermute_rows(piv)]
    if lu_other_side(trans) == 0:
        return np.transpose(full)
    return full


def block_diag_place(position, a0=None, a1=None, a2=None, a3=None, a4=None, a5=None):
    """Where block_diag puts its input at ``position``: its rows and columns (as slices)
    and the result's shape; None where there is no such input."""
    given = [a for a in (a0, a1, a2, a3, a4, a5) if a is not None]
    if position >= len(given):
        return None
    shapes = [np.shape(np.atleast_2d(a)) if np.ndim(a) < 2 else np.shape(a) for a in given]
    if any(len(s) != 2 for s in shapes):
        raise ValueError("scipy.linalg.block_diag takes arrays of at most two dimensions")
    r0 = sum(s[0] for s in shapes[:position])
    c0 = sum(s[1] for s in shapes[:position])
    rows, cols = shapes[position]
    total = (sum(s[0] for s in shapes), sum(s[1] for s in shapes))
    return slice(r0, r0 + rows), slice(c0, c0 + cols), total


nondifferentiable(block_diag_place)


@transformable
def block_diag_grad(g, position, a0=None, a1=None, a2=None, a3=None, a4=None, a5=None):
    """The gradient of block_diag's input at ``position``: its block of ``g``."""
    place = block_diag_place(position, a0, a1, a2, a3, a4, a5)
    if place is None:
        return None
    x = (a0, a1, a2, a3, a4, a5)[position]
    return cast_like(np.reshape(g[place[0], place[1]], np.shape(x)), x)


@transformable
def block_diag_tangent(d, position, a0=None, a1=None, a2=None, a3=None, a4=None, a5=None):
    """The tangent of block_diag along ``d``, the tangent of its input at ``position``:
    ``d`` as a matrix, padded with zeros to its place."""
    place = block_diag_place(position, a0, a1, a2, a3, a4, a5)
    if place is None:
        return None
    rows, cols, total = place[0], place[1], place[2]
    widths = ((rows.start, total[0] - rows.stop), (cols.start, total[1] - cols.stop))
    return np.pad(np.reshape(d, (rows.stop - rows.start, cols.stop - cols.start)), widths)


# -- scipy.stats: t, gamma, beta, chi2 ------------------------------------------------------
# Each is a location-scale family: with z = (x - loc) / scale and ``score`` the slope of the
# standard log density at z, the log density moves by score / scale with x, the opposite
# with loc, and by -(1 + z score) / scale with scale. The densities' shape parameters have
# closed forms (digamma); the distribution functions' have none, and are differentiated by
# a fourth-order central difference of SciPy's own function (:func:`_slope`).


@vjp_rule(stats.t.logpdf, name="t_logpdf")
def t_logpdf(g, ans, x, df, loc=0, scale=1):
    z = (x - loc) / scale
    score = _t_score(z, df)
    return (
        unbroadcast(cast_like(g * score / scale, x), x),
        unbroadcast(cast_like(g * _t_df(z, df), df), df),
        unbroadcast(cast_like(-g * score / scale, loc), loc),
        unbroadcast(cast_like(-g * (1 + z * score) / scale, scale), scale),
    )


@jvp_rule(stats.t.logpdf)
def t_logpdf_jvp(ans, x, df, loc=0, scale=1, *, dx, ddf, dloc, dscale):
    z = (x - loc) / scale
    score = _t_score(z, df)
    return (
        dx * score / scale,
        ddf * _t_df(z, df),
        -dloc * score / scale,
        -dscale * (1 + z * score) / scale,
    )


@vjp_rule(stats.t.pdf, name="t_pdf")
def t_pdf(g, ans, x, df, loc=0, scale=1):
    z = (x - loc) / scale
    score = _t_score(z, df)
    return (
        unbroadcast(cast_like(g * ans * score / scale, x), x),
        unbroadcast(cast_like(g * ans * _t_df(z, df), df), df),
        unbroadcast(cast_like(-g * ans * score / scale, loc), loc),
        unbroadcast(cast_like(-g * ans * (1 + z * score) / scale, scale), scale),
    )


@jvp_rule(stats.t.pdf)
def t_pdf_jvp(ans, x, df, loc=0, scale=1, *, dx, ddf, dloc, dscale):
    z = (x - loc) / scale
    score = _t_score(z, df)
    return (
        dx * ans * score / scale,
        ddf * ans * _t_df(z, df),
        -dloc * ans * score / scale,
        -dscale * ans * (1 + z * score) / scale,
    )


@vjp_rule(stats.t.cdf, name="t_cdf")
def t_cdf(g, ans, x, df, loc=0, scale=1):
    density = _t_pdf(x, df, loc, scale)
    return (
        unbroadcast(cast_like(g * density, x), x),
        unbroadcast(cast_like(g * _t_cdf_df(x, df, loc, scale), df), df),
        unbroadcast(cast_like(-g * density, loc), loc),
        unbroadcast(cast_like(-g * density * (x - loc) / scale, scale), scale),
    )


@jvp_rule(stats.t.cdf)
def t_cdf_jvp(ans, x, df, loc=0, scale=1, *, dx, ddf, dloc, dscale):
    density = _t_pdf(x, df, loc, scale)
    return (
        dx * density,
        ddf * _t_cdf_df(x, df, loc, scale),
        -dloc * density,
        -dscale * density * (x - loc) / scale,
    )


@vjp_rule(stats.t.logcdf, name="t_logcdf")
def t_logcdf(g, ans, x, df, loc=0, scale=1):
    ratio = np.exp(_t_logpdf(x, df, loc, scale) - ans)
    return (
        unbroadcast(cast_like(g * ratio, x), x),
        unbroadcast(cast_like(g * _t_logcdf_df(x, df, loc, scale), df), df),
        unbroadcast(cast_like(-g * ratio, loc), loc),
        unbroadcast(cast_like(-g * ratio * (x - loc) / scale, scale), scale),
    )


@jvp_rule(stats.t.logcdf)
def t_logcdf_jvp(ans, x, df, loc=0, scale=1, *, dx, ddf, dloc, dscale):
    ratio = np.exp(_t_logpdf(x, df, loc, scale) - ans)
    return (
        dx * ratio,
        ddf * _t_logcdf_df(x, df, loc, scale),
        -dloc * ratio,
        -dscale * ratio * (x - loc) / scale,
    )


@vjp_rule(stats.gamma.logpdf, name="gamma_logpdf")
def gamma_logpdf(g, ans, x, a, loc=0, scale=1):
    z = (x - loc) / scale
    score = (a - 1) / z - 1
    return (
        unbroadcast(cast_like(g * score / scale, x), x),
        unbroadcast(cast_like(g * (np.log(z) - special.digamma(a)), a), a),
        unbroadcast(cast_like(-g * score / scale, loc), loc),
        unbroadcast(cast_like(-g * (1 + z * score) / scale, scale), scale),
    )


@jvp_rule(stats.gamma.logpdf)
def gamma_logpdf_jvp(ans, x, a, loc=0, scale=1, *, dx, da, dloc, dscale):
    z = (x - loc) / scale
    score = (a - 1) / z - 1
    return (
        dx * score / scale,
        da * (np.log(z) - special.digamma(a)),
        -dloc * score / scale,
        -dscale * (1 + z * score) / scale,
    )


@vjp_rule(stats.gamma.pdf, name="gamma_pdf")
def gamma_pdf(g, ans, x, a, loc=0, scale=1):
    z = (x - loc) / scale
    score = (a - 1) / z - 1
    return (
        unbroadcast(cast_like(g * ans * score / scale, x), x),
        unbroadcast(cast_like(g * ans * (np.log(z) - special.digamma(a)), a), a),
        unbroadcast(cast_like(-g * ans * score / scale, loc), loc),
        unbroadcast(cast_like(-g * ans * (1 + z * score) / scale, scale), scale),
    )


@jvp_rule(stats.gamma.pdf)
def gamma_pdf_jvp(ans, x, a, loc=0, scale=1, *, dx, da, dloc, dscale):
    z = (x - loc) / scale
    score = (a - 1) / z - 1
    return (
        dx * ans * score / scale,
        da * ans * (np.log(z) - special.digamma(a)),
        -dloc * ans * score / scale,
        -dscale * ans * (1 + z * score) / scale,
    )


@vjp_rule(stats.gamma.cdf, name="gamma_cdf")
def gamma_cdf(g, ans, x, a, loc=0, scale=1):
    density = _gamma_pdf(x, a, loc, scale)
    return (
        unbroadcast(cast_like(g * density, x), x),
        unbroadcast(cast_like(g * _gamma_cdf_a(x, a, loc, scale), a), a),
        unbroadcast(cast_like(-g * density, loc), loc),
        unbroadcast(cast_like(-g * density * (x - loc) / scale, scale), scale),
    )


@jvp_rule(stats.gamma.cdf)
def gamma_cdf_jvp(ans, x, a, loc=0, scale=1, *, dx, da, dloc, dscale):
    density = _gamma_pdf(x, a, loc, scale)
    return (
        dx * density,
        da * _gamma_cdf_a(x, a, loc, scale),
        -dloc * density,
        -dscale * density * (x - loc) / scale,
    )


@vjp_rule(stats.gamma.logcdf, name="gamma_logcdf")
def gamma_logcdf(g, ans, x, a, loc=0, scale=1):
    ratio = np.exp(_gamma_logpdf(x, a, loc, scale) - ans)
    return (
        unbroadcast(cast_like(g * ratio, x), x),
        unbroadcast(cast_like(g * _gamma_logcdf_a(x, a, loc, scale), a), a),
        unbroadcast(cast_like(-g * ratio, loc), loc),
        unbroadcast(cast_like(-g * ratio * (x - loc) / scale, scale), scale),
    )


@jvp_rule(stats.gamma.logcdf)
def gamma_logcdf_jvp(ans, x, a, loc=0, scale=1, *, dx, da, dloc, dscale):
    ratio = np.exp(_gamma_logpdf(x, a, loc, scale) - ans)
    return (
        dx * ratio,
        da * _gamma_logcdf_a(x, a, loc, scale),
        -dloc * ratio,
        -dscale * ratio * (x - loc) / scale,
    )


@vjp_rule(stats.beta.logpdf, name="beta_logpdf")
def beta_logpdf(g, ans, x, a, b, loc=0, scale=1):
    z = (x - loc) / scale
    score = (a - 1) / z - (b - 1) / (1 - z)
    both = special.digamma(a + b)
    return (
        unbroadcast(cast_like(g * score / scale, x), x),
        unbroadcast(cast_like(g * (np.log(z) - special.digamma(a) + both), a), a),
        unbroadcast(cast_like(g * (np.log1p(-z) - special.digamma(b) + both), b), b),
        unbroadcast(cast_like(-g * score / scale, loc), loc),
        unbroadcast(cast_like(-g * (1 + z * score) / scale, scale), scale),
    )


@jvp_rule(stats.beta.logpdf)
def beta_logpdf_jvp(ans, x, a, b, loc=0, scale=1, *, dx, da, db, dloc, dscale):
    z = (x - loc) / scale
    score = (a - 1) / z - (b - 1) / (1 - z)
    both = special.digamma(a + b)
    return (
        dx * score / scale,
        da * (np.log(z) - special.digamma(a) + both),
        db * (np.log1p(-z) - special.digamma(b) + both),
        -dloc * score / scale,
        -dscale * (1 + z * score) / scale,
    )


@vjp_rule(stats.beta.pdf, name="beta_pdf")
def beta_pdf(g, ans, x, a, b, loc=0, scale=1):
    z = (x - loc) / scale
    score = (a - 1) / z - (b - 1) / (1 - z)
    both = special.digamma(a + b)
    return (
        unbroadcast(cast_like(g * ans * score / scale, x), x),
        unbroadcast(cast_like(g * ans * (np.log(z) - special.digamma(a) + both), a), a),
        unbroadcast(cast_like(g * ans * (np.log1p(-z) - special.digamma(b) + both), b), b),
        unbroadcast(cast_like(-g * ans * score / scale, loc), loc),
        unbroadcast(cast_like(-g * ans * (1 + z * score) / scale, scale), scale),
    )


@jvp_rule(stats.beta.pdf)
def beta_pdf_jvp(ans, x, a, b, loc=0, scale=1, *, dx, da, db, dloc, dscale):
    z = (x - loc) / scale
    score = (a - 1) / z - (b - 1) / (1 - z)
    both = special.digamma(a + b)
    return (
        dx * ans * score / scale,
        da * ans * (np.log(z) - special.digamma(a) + both),
        db * ans * (np.log1p(-z) - special.digamma(b) + both),
        -dloc * ans * score / scale,
        -dscale * ans * (1 + z * score) / scale,
    )


@vjp_rule(stats.beta.cdf, name="beta_cdf")
def beta_cdf(g, ans, x, a, b, loc=0, scale=1):
    density = _beta_pdf(x, a, b, loc, scale)
    return (
        unbroadcast(cast_like(g * density, x), x),
        unbroadcast(cast_like(g * _beta_cdf_a(x, a, b, loc, scale), a), a),
        unbroadcast(cast_like(g * _beta_cdf_b(x, a, b, loc, scale), b), b),
        unbroadcast(cast_like(-g * density, loc), loc),
        unbroadcast(cast_like(-g * density * (x - loc) / scale, scale), scale),
    )


@jvp_rule(stats.beta.cdf)
def beta_cdf_jvp(ans, x, a, b, loc=0, scale=1, *, dx, da, db, dloc, dscale):
    density = _beta_pdf(x, a, b, loc, scale)
    return (
        dx * density,
        da * _beta_cdf_a(x, a, b, loc, scale),
        db * _beta_cdf_b(x, a, b, loc, scale),
        -dloc * density,
        -dscale * density * (x - loc) / scale,
    )


@vjp_rule(stats.beta.logcdf, name="beta_logcdf")
def beta_logcdf(g, ans, x, a, b, loc=0, scale=1):
    ratio = np.exp(_beta_logpdf(x, a, b, loc, scale) - ans)
    return (
        unbroadcast(cast_like(g * ratio, x), x),
        unbroadcast(cast_like(g * _beta_logcdf_a(x, a, b, loc, scale), a), a),
        unbroadcast(cast_like(g * _beta_logcdf_b(x, a, b, loc, scale), b), b),
        unbroadcast(cast_like(-g * ratio, loc), loc),
        unbroadcast(cast_like(-g * ratio * (x - loc) / scale, scale), scale),
    )


@jvp_rule(stats.beta.logcdf)
def beta_logcdf_jvp(ans, x, a, b, loc=0, scale=1, *, dx, da, db, dloc, dscale):
    ratio = np.exp(_beta_logpdf(x, a, b, loc, scale) - ans)
    return (
        dx * ratio,
        da * _beta_logcdf_a(x, a, b, loc, scale),
        db * _beta_logcdf_b(x, a, b, loc, scale),
        -dloc * ratio,
        -dscale * ratio * (x - loc) / scale,
    )


@vjp_rule(stats.chi2.logpdf, name="chi2_logpdf")
def chi2_logpdf(g, ans, x, df, loc=0, scale=1):
    z = (x - loc) / scale
    score = (df / 2 - 1) / z - 0.5
    return (
        unbroadcast(cast_like(g * score / scale, x), x),
        unbroadcast(cast_like(g * (np.log(z / 2) - special.digamma(df / 2)) / 2, df), df),
        unbroadcast(cast_like(-g * score / scale, loc), loc),
        unbroadcast(cast_like(-g * (1 + z * score) / scale, scale), scale),
    )


@jvp_rule(stats.chi2.logpdf)
def chi2_logpdf_jvp(ans, x, df, loc=0, scale=1, *, dx, ddf, dloc, dscale):
    z = (x - loc) / scale
    score = (df / 2 - 1) / z - 0.5
    return (
        dx * score / scale,
        ddf * (np.log(z / 2) - special.digamma(df / 2)) / 2,
        -dloc * score / scale,
        -dscale * (1 + z * score) / scale,
    )


@vjp_rule(stats.chi2.pdf, name="chi2_pdf")
def chi2_pdf(g, ans, x, df, loc=0, scale=1):
    z = (x - loc) / scale
    score = (df / 2 - 1) / z - 0.5
    return (
        unbroadcast(cast_like(g * ans * score / scale, x), x),
        unbroadcast(cast_like(g * ans * (np.log(z / 2) - special.digamma(df / 2)) / 2, df), df),
        unbroadcast(cast_like(-g * ans * score / scale, loc), loc),
        unbroadcast(cast_like(-g * ans * (1 + z * score) / scale, scale), scale),
    )


@jvp_rule(stats.chi2.pdf)
def chi2_pdf_jvp(ans, x, df, loc=0, scale=1, *, dx, ddf, dloc, dscale):
    z = (x - loc) / scale
    score = (df / 2 - 1) / z - 0.5
    return (
        dx * ans * score / scale,
        ddf * ans * (np.log(z / 2) - special.digamma(df / 2)) / 2,
        -dloc * ans * score / scale,
        -dscale * ans * (1 + z * score) / scale,
    )


@vjp_rule(stats.chi2.cdf, name="chi2_cdf")
def chi2_cdf(g, ans, x, df, loc=0, scale=1):
    density = _chi2_pdf(x, df, loc, scale)
    return (
        unbroadcast(cast_like(g * density, x), x),
        unbroadcast(cast_like(g * _chi2_cdf_df(x, df, loc, scale), df), df),
        unbroadcast(cast_like(-g * density, loc), loc),
        unbroadcast(cast_like(-g * density * (x - loc) / scale, scale), scale),
    )


@jvp_rule(stats.chi2.cdf)
def chi2_cdf_jvp(ans, x, df, loc=0, scale=1, *, dx, ddf, dloc, dscale):
    density = _chi2_pdf(x, df, loc, scale)
    return (
        dx * density,
        ddf * _chi2_cdf_df(x, df, loc, scale),
        -dloc * density,
        -dscale * density * (x - loc) / scale,
    )


@vjp_rule(stats.chi2.logcdf, name="chi2_logcdf")
def chi2_logcdf(g, ans, x, df, loc=0, scale=1):
    ratio = np.exp(_chi2_logpdf(x, df, loc, scale) - ans)
    return (
        unbroadcast(cast_like(g * ratio, x), x),
        unbroadcast(cast_like(g * _chi2_logcdf_df(x, df, loc, scale), df), df),
        unbroadcast(cast_like(-g * ratio, loc), loc),
        unbroadcast(cast_like(-g * ratio * (x - loc) / scale, scale), scale),
    )


@jvp_rule(stats.chi2.logcdf)
def chi2_logcdf_jvp(ans, x, df, loc=0, scale=1, *, dx, ddf, dloc, dscale):
    ratio = np.exp(_chi2_logpdf(x, df, loc, scale) - ans)
    return (
        dx * ratio,
        ddf * _chi2_logcdf_df(x, df, loc, scale),
        -dloc * ratio,
        -dscale * ratio * (x - loc) / scale,
    )


# -- scipy.stats.poisson: in the mean mu (k counts and loc shifts them: no gradient) --------


@vjp_rule(stats.poisson.logpmf, name="poisson_logpmf")
def poisson_logpmf(g, ans, k, mu, loc=0):
    return None, unbroadcast(cast_like(g * ((k - loc) / mu - 1), mu), mu), None


@jvp_rule(stats.poisson.logpmf)
def poisson_logpmf_jvp(ans, k, mu, loc=0, *, dmu):
    return None, dmu * ((k - loc) / mu - 1), None


@vjp_rule(stats.poisson.pmf, name="poisson_pmf")
def poisson_pmf(g, ans, k, mu, loc=0):
    return None, unbroadcast(cast_like(g * ans * ((k - loc) / mu - 1), mu), mu), None


@jvp_rule(stats.poisson.pmf)
def poisson_pmf_jvp(ans, k, mu, loc=0, *, dmu):
    return None, dmu * ans * ((k - loc) / mu - 1), None


# the sum of the pmf up to k moves by -pmf(k) with mu (the terms telescope)
@vjp_rule(stats.poisson.cdf, name="poisson_cdf")
def poisson_cdf(g, ans, k, mu, loc=0):
    return None, unbroadcast(cast_like(-g * _poisson_pmf(np.floor(k), mu, loc), mu), mu), None


@jvp_rule(stats.poisson.cdf)
def poisson_cdf_jvp(ans, k, mu, loc=0, *, dmu):
    return None, -dmu * _poisson_pmf(np.floor(k), mu, loc), None


@vjp_rule(stats.poisson.logcdf, name="poisson_logcdf")
def poisson_logcdf(g, ans, k, mu, loc=0):
    ratio = np.exp(_poisson_logpmf(np.floor(k), mu, loc) - ans)
    return None, unbroadcast(cast_like(-g * ratio, mu), mu), None


@jvp_rule(stats.poisson.logcdf)
def poisson_logcdf_jvp(ans, k, mu, loc=0, *, dmu):
    return None, -dmu * np.exp(_poisson_logpmf(np.floor(k), mu, loc) - ans), None


# -- scipy.stats.dirichlet: x holds the components along its first axis (and samples
# along a second); its gradient treats x as free (SciPy checks that x sums to one, so a
# move must keep it on the simplex for the function to be defined).


@vjp_rule(stats.dirichlet.logpdf, name="dirichlet_logpdf")
def dirichlet_logpdf(g, ans, x, alpha):
    return dirichlet_grad_x(g, x, alpha), dirichlet_grad_alpha(g, x, alpha)


@jvp_rule(stats.dirichlet.logpdf)
def dirichlet_logpdf_jvp(ans, x, alpha, *, dx, dalpha):
    return dirichlet_tangent_x(dx, x, alpha), dirichlet_tangent_alpha(dalpha, x, alpha)


@vjp_rule(stats.dirichlet.pdf, name="dirichlet_pdf")
def dirichlet_pdf(g, ans, x, alpha):
    return dirichlet_grad_x(g * ans, x, alpha), dirichlet_grad_alpha(g * ans, x, alpha)


@jvp_rule(stats.dirichlet.pdf)
def dirichlet_pdf_jvp(ans, x, alpha, *, dx, dalpha):
    return ans * dirichlet_tangent_x(dx, x, alpha), ans * dirichlet_tangent_alpha(dalpha, x, alpha)


# -- scipy.stats.multivariate_normal: x with the dimension along its last axis; cov a
# matrix (SciPy reads its lower triangle), a vector (its diagonal) or a number.


@vjp_rule(stats.multivariate_normal.logpdf, name="multivariate_normal_logpdf")
def multivariate_normal_logpdf(g, ans, x, mean=None, cov=1, allow_singular=False):
    return (
        mvn_grad(g, x, mean, cov, "x"),
        mvn_grad(g, x, mean, cov, "mean"),
        mvn_grad(g, x, mean, cov, "cov"),
    )


@jvp_rule(stats.multivariate_normal.logpdf)
def multivariate_normal_logpdf_jvp(
    ans, x, mean=None, cov=1, allow_singular=False, *, dx, dmean, dcov
):
    return (
        mvn_tangent(dx, ans, x, mean, cov, "x"),
        mvn_tangent(dmean, ans, x, mean, cov, "mean"),
        mvn_tangent(dcov, ans, x, mean, cov, "cov"),
    )


@vjp_rule(stats.multivariate_normal.pdf, name="multivariate_normal_pdf")
def multivariate_normal_pdf(g, ans, x, mean=None, cov=1, allow_singular=False):
    return (
        mvn_grad(g * ans, x, mean, cov, "x"),
        mvn_grad(g * ans, x, mean, cov, "mean"),
        mvn_grad(g * ans, x, mean, cov, "cov"),
    )


@jvp_rule(stats.multivariate_normal.pdf)
def multivariate_normal_pdf_jvp(ans, x, mean=None, cov=1, allow_singular=False, *, dx, dmean, dcov):
    return (
        ans * mvn_tangent(dx, ans, x, mean, cov, "x"),
        ans * mvn_tangent(dmean, ans, x, mean, cov, "mean"),
        ans * mvn_tangent(dcov, ans, x, mean, cov, "cov"),
    )


# entropy = log det(2 pi e cov) / 2 does not depend on the mean: in cov, inv(cov) / 2.
# (multivariate_normal.cdf has no rule: SciPy integrates it by randomized quasi-Monte Carlo
# to about 1e-5, so neither a derivative of it nor a finite-difference check would be
# sound; autograd has none either.)
@vjp_rule(stats.multivariate_normal.entropy, name="multivariate_normal_entropy")
def multivariate_normal_entropy(g, ans, mean=None, cov=1):
    return None, mvn_entropy_grad(g, mean, cov)


@jvp_rule(stats.multivariate_normal.entropy)
def multivariate_normal_entropy_jvp(ans, mean=None, cov=1, *, dcov):
    return None, mvn_entropy_tangent(dcov, mean, cov)


# -- helpers of the scipy.stats rules --------------------------------------------------------

_t_pdf = _recording(stats.t.pdf)
_t_logpdf = _recording(stats.t.logpdf)
_t_cdf = _recording(stats.t.cdf)
_t_logcdf = _recording(stats.t.logcdf)
_gamma_pdf = _recording(stats.gamma.pdf)
_gamma_logpdf = _recording(stats.gamma.logpdf)
_gamma_cdf = _recording(stats.gamma.cdf)
_gamma_logcdf = _recording(stats.gamma.logcdf)
_beta_pdf = _recording(stats.beta.pdf)
_beta_logpdf = _recording(stats.beta.logpdf)
_beta_cdf = _recording(stats.beta.cdf)
_beta_logcdf = _recording(stats.beta.logcdf)
_chi2_pdf = _recording(stats.chi2.pdf)
_chi2_logpdf = _recording(stats.chi2.logpdf)
_chi2_cdf = _recording(stats.chi2.cdf)
_chi2_logcdf = _recording(stats.chi2.logcdf)
_poisson_pmf = _recording(stats.poisson.pmf)
_poisson_logpmf = _recording(stats.poisson.logpmf)


@transformable
def _t_score(z, df):
    """The slope of the standard t log density at z."""
    return -(df + 1) * z / (df + z * z)


@transformable
def _t_df(z, df):
    """The slope of the t log density in df."""
    return (
        special.digamma((df + 1) / 2)
        - special.digamma(df / 2)
        - 1 / df
        - np.log1p(z * z / df)
        + (df + 1) * z * z / (df * (df + z * z))
    ) / 2


def _step(p):
    """The step of the central difference in a shape parameter ``p``."""
    return 1e-3 * np.maximum(1.0, np.abs(held(p)))


nondifferentiable(_step)


@transformable
def _slope(up2, up1, down1, down2, step):
    """The slope from values at +2, +1, -1 and -2 steps (fourth order in the step)."""
    return (8 * (up1 - down1) - (up2 - down2)) / (12 * step)


@transformable
def _t_cdf_df(x, df, loc, scale):
    h = _step(df)
    return _slope(
        _t_cdf(x, df + 2 * h, loc, scale),
        _t_cdf(x, df + h, loc, scale),
        _t_cdf(x, df - h, loc, scale),
        _t_cdf(x, df - 2 * h, loc, scale),
        h,
    )


@transformable
def _t_logcdf_df(x, df, loc, scale):
    h = _step(df)
    return _slope(
        _t_logcdf(x, df + 2 * h, loc, scale),
        _t_logcdf(x, df + h, loc, scale),
        _t_logcdf(x, df - h, loc, scale),
        _t_logcdf(x, df - 2 * h, loc, scale),
        h,
    )


@transformable
def _gamma_cdf_a(x, a, loc, scale):
    h = _step(a)
    return _slope(
        _gamma_cdf(x, a + 2 * h, loc, scale),
        _gamma_cdf(x, a + h, loc, scale),
        _gamma_cdf(x, a - h, loc, scale),
        _gamma_cdf(x, a - 2 * h, loc, scale),
        h,
    )


@transformable
def _gamma_logcdf_a(x, a, loc, scale):
    h = _step(a)
    return _slope(
        _gamma_logcdf(x, a + 2 * h, loc, scale),
        _gamma_logcdf(x, a + h, loc, scale),
        _gamma_logcdf(x, a - h, loc, scale),
        _gamma_logcdf(x, a - 2 * h, loc, scale),
        h,
    )


@transformable
def _beta_cdf_a(x, a, b, loc, scale):
    h = _step(a)
    return _slope(
        _beta_cdf(x, a + 2 * h, b, loc, scale),
        _beta_cdf(x, a + h, b, loc, scale),
        _beta_cdf(x, a - h, b, loc, scale),
        _beta_cdf(x, a - 2 * h, b, loc, scale),
        h,
    )


@transformable
def _beta_cdf_b(x, a, b, loc, scale):
    h = _step(b)
    return _slope(
        _beta_cdf(x, a, b + 2 * h, loc, scale),
        _beta_cdf(x, a, b + h, loc, scale),
        _beta_cdf(x, a, b - h, loc, scale),
        _beta_cdf(x, a, b - 2 * h, loc, scale),
        h,
    )


@transformable
def _beta_logcdf_a(x, a, b, loc, scale):
    h = _step(a)
    return _slope(
        _beta_logcdf(x, a + 2 * h, b, loc, scale),
        _beta_logcdf(x, a + h, b, loc, scale),
        _beta_logcdf(x, a - h, b, loc, scale),
        _beta_logcdf(x, a - 2 * h, b, loc, scale),
        h,
    )


@transformable
def _beta_logcdf_b(x, a, b, loc, scale):
    h = _step(b)
    return _slope(
        _beta_logcdf(x, a, b + 2 * h, loc, scale),
        _beta_logcdf(x, a, b + h, loc, scale),
        _beta_logcdf(x, a, b - h, loc, scale),
        _beta_logcdf(x, a, b - 2 * h, loc, scale),
        h,
    )


@transformable
def _chi2_cdf_df(x, df, loc, scale):
    h = _step(df)
    return _slope(
        _chi2_cdf(x, df + 2 * h, loc, scale),
        _chi2_cdf(x, df + h, loc, scale),
        _chi2_cdf(x, df - h, loc, scale),
        _chi2_cdf(x, df - 2 * h, loc, scale),
        h,
    )


@transformable
def _chi2_logcdf_df(x, df, loc, scale):
    h = _step(df)
    return _slope(
        _chi2_logcdf(x, df + 2 * h, loc, scale),
        _chi2_logcdf(x, df + h, loc, scale),
        _chi2_logcdf(x, df - h, loc, scale),
        _chi2_logcdf(x, df - 2 * h, loc, scale),
        h,
    )


@transformable
def _dirichlet_lined(alpha, x):
    """``alpha`` lined up with ``x``'s first axis (the components)."""
    return np.reshape(alpha, (-1,) + (1,) * (np.ndim(x) - 1))


@transformable
def dirichlet_grad_x(g, x, alpha):
    return refuse_complex(g, x, "scipy.stats.dirichlet") * (_dirichlet_lined(alpha, x) - 1) / x


@transformable
def dirichlet_grad_alpha(g, x, alpha):
    terms = np.log(x) - special.digamma(_dirichlet_lined(alpha, x))
    moved = g * (terms + special.digamma(np.sum(alpha)))
    return np.reshape(np.sum(np.reshape(moved, (np.shape(x)[0], -1)), axis=1), np.shape(alpha))


@transformable
def dirichlet_tangent_x(dx, x, alpha):
    return np.sum(
        refuse_complex(dx, x, "scipy.stats.dirichlet") * (_dirichlet_lined(alpha, x) - 1) / x,
        axis=0,
    )


@transformable
def dirichlet_tangent_alpha(dalpha, x, alpha):
    lined = _dirichlet_lined(dalpha, x)
    terms = np.log(x) - special.digamma(_dirichlet_lined(alpha, x))
    return np.sum(lined * terms, axis=0) + np.sum(dalpha) * special.digamma(np.sum(alpha))


def _mvn_dimension(x, mean, cov):
    """The dimension of multivariate_normal's variable: cov's, mean's or x's last axis."""
    if np.ndim(cov) >= 1:
        return np.shape(cov)[0]
    if mean is not None and np.ndim(mean) >= 1:
        return np.shape(mean)[0]
    return np.shape(x)[-1] if np.ndim(x) >= 1 else 1


nondifferentiable(_mvn_dimension)


@transformable
def _mvn_matrix(cov, n):
    """cov as the full matrix it stands for: SciPy reads a matrix's lower triangle, a
    vector as the diagonal, a number as that times the identity."""
    if np.ndim(cov) == 2:
        return np.tril(cov) + np.transpose(np.tril(cov, -1))
    if np.ndim(cov) == 1:
        return np.diag(cov)
    return cov * np.eye(n)


@transformable
def _mvn_rows(x, mean, n):
    """x - mean, one row per point."""
    centred = x
    if mean is not None:
        centred = x - mean
    return np.reshape(centred, (-1, n))


#: why multivariate_normal refuses complex values
MVN_NOT_COMPLEX = (
    "SciPy casts complex values to real numbers (dropping their imaginary parts, with a "
    "ComplexWarning), so it computes no complex Gaussian. Pass np.real(...) of the values "
    "to differentiate what it computes, or write a complex Gaussian's log-density with "
    "np.linalg.solve and np.linalg.slogdet, which are differentiated for complex values."
)


@transformable
def mvn_grad(g, x, mean, cov, part):
    """The gradient of multivariate_normal.logpdf (times the cotangent ``g``) in ``part``
    (in its dtype: SciPy computes in float64)."""
    if part == "mean" and mean is None:
        return None
    for value in (x, mean, cov):
        refuse_complex(g, value, "scipy.stats.multivariate_normal", MVN_NOT_COMPLEX)
    n = _mvn_dimension(x, mean, cov)
    matrix = _mvn_matrix(cov, n)
    rows = _mvn_rows(x, mean, n)
    solved = np.transpose(np.linalg.solve(matrix, np.transpose(rows)))
    weights = np.reshape(g, (-1, 1))  # one cotangent per point
    if part == "x":
        return cast_like(np.reshape(-weights * solved, np.shape(x)), x)
    if part == "mean":
        return cast_like(np.reshape(np.sum(weights * solved, axis=0), np.shape(mean)), mean)
    inner = np.transpose(solved) @ (weights * solved)
    full = (inner - np.sum(weights) * np.linalg.inv(matrix)) / 2
    if np.ndim(cov) == 2:
        return cast_like(np.tril(full + np.transpose(full)) - np.diag(np.diagonal(full)), cov)
    if np.ndim(cov) == 1:
        return cast_like(np.diagonal(full), cov)
    return cast_like(np.trace(full), cov)


@transformable
def mvn_entropy_grad(g, mean, cov):
    """The gradient of multivariate_normal.entropy in cov (in its dtype)."""
    refuse_complex(g, cov, "scipy.stats.multivariate_normal", MVN_NOT_COMPLEX)
    n = _mvn_dimension(0.0, mean, cov)
    full = g * np.linalg.inv(_mvn_matrix(cov, n)) / 2
    if np.ndim(cov) == 2:
        return cast_like(np.tril(full + np.transpose(full)) - np.diag(np.diagonal(full)), cov)
    if np.ndim(cov) == 1:
        return cast_like(np.diagonal(full), cov)
    return cast_like(np.trace(full), cov)


@transformable
def mvn_entropy_tangent(dcov, mean, cov):
    """The tangent of multivariate_normal.entropy along ``dcov``."""
    n = _mvn_dimension(0.0, mean, cov)
    name = "scipy.stats.multivariate_normal"
    turned = _mvn_matrix(refuse_complex(dcov, cov, name, MVN_NOT_COMPLEX), n)
    return np.trace(np.linalg.solve(_mvn_matrix(cov, n), turned)) / 2


@transformable
def mvn_tangent(d, ans, x, mean, cov, part):
    """The tangent of multivariate_normal.logpdf along ``d``, the tangent of ``part``."""
    if part == "mean" and mean is None:
        return None
    name = "scipy.stats.multivariate_normal"
    d = refuse_complex(d, x, name, MVN_NOT_COMPLEX)
    d = refuse_complex(refuse_complex(d, mean, name, MVN_NOT_COMPLEX), cov, name, MVN_NOT_COMPLEX)
    n = _mvn_dimension(x, mean, cov)
    matrix = _mvn_matrix(cov, n)
    rows = _mvn_rows(x, mean, n)
    solved = np.transpose(np.linalg.solve(matrix, np.transpose(rows)))
    if part == "x":
        moved = -np.sum(solved * _mvn_rows(d, None, n), axis=1)
    elif part == "mean":
        moved = np.sum(solved * _mvn_rows(d, None, n), axis=1)
    else:
        turned = _mvn_matrix(d, n)
        inner = np.sum((solved @ turned) * solved, axis=1)
        moved = (inner - np.trace(np.linalg.solve(matrix, turned))) / 2
    return np.reshape(moved, np.shape(ans))


def no_grad_like(x):
    """The zero gradient of a factorization's part that carries none (LU's pivots,
    cho_factor's flag), in its shape: zeros that add, where None would not when the
    factorization is used twice."""
    return np.zeros(np.shape(x))


nondifferentiable(no_grad_like)


# the rules of the helpers above that generated gradient code calls (issue 16)
from . import helper_rules_scipy  # noqa: E402, F401

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

from .forward import jvp_rule
from .registry import lookup, vjp_rule
from .shared import cast_like, expand_reduced, transformable, unbroadcast


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

        if any(isinstance(a, Tensor) for a in (*args, *kwargs.values())):
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
        g * ((special.ive(v - 1, x) + special.ive(v + 1, x)) / 2 - np.sign(x) * ans), x
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
    spread = expand_reduced(g, a, axis, keepdims) * np.exp(
        a - expand_reduced(ans, a, axis, keepdims)
    )
    return (
        unbroadcast(spread if b is None else spread * b, a),
        None,
        None if b is None else unbroadcast(spread, b),
    )


@jvp_rule(special.logsumexp)
def logsumexp_jvp(ans, a, axis=None, b=None, keepdims=False, return_sign=False, *, da, db):
    weights = np.exp(a - _logsumexp(a, axis=axis, b=b, keepdims=True))
    return (
        np.sum(da * weights if b is None else da * weights * b, axis=axis, keepdims=keepdims),
        None,
        None if b is None else np.sum(db * weights, axis=axis, keepdims=keepdims),
    )


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

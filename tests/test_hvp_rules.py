"""Second derivatives through the rule table: ``ag.hvp(..., mode="source")`` (reverse mode
over the generated forward code, in which each forward rule's body is inlined) against
central differences of the source-mode gradient along the same direction, in float64.

Each function applies one primitive (or a few of a family) and ends in a nonlinearity, so
that its Hessian is not zero: ``np.sum(np.sin(y) * y)`` of the primitive's result ``y``.
They are defined here, at module level, since the transform reads their source. Every rule
whose forward rule calls a helper of astgrad's (not NumPy's) has a case, and a sample of
the others, family by family.
"""

from __future__ import annotations

import builtins
import re

import numpy as np
import pytest
from astgrad.runtime.primitives import assign_index

import astgrad as ag

EPS = 1e-5


def _bend(y):
    return np.sum(np.sin(y) * y)


# -- reductions and scans ---------------------------------------------------------------------


def prod_all(x):
    return np.sin(np.prod(x))


def prod_axis(x):
    y = np.prod(x, axis=1)
    return np.sum(np.sin(y) * y)


def prod_axes_keepdims(x):
    y = np.prod(x, axis=(0, 2), keepdims=True)
    return np.sum(np.sin(y) * y)


def norm_2(x):
    return np.sin(np.linalg.norm(x)) * np.linalg.norm(x)


def norm_1(x):
    return np.sin(np.linalg.norm(x, 1))


def norm_inf(x):
    return np.sin(np.linalg.norm(x, np.inf))


def norm_minus_inf(x):
    return np.sin(np.linalg.norm(x, -np.inf))


def norm_3(x):
    return np.sin(np.linalg.norm(x, 3))


def norm_0_and_half(x):
    return np.sin(np.linalg.norm(x, 0) * np.linalg.norm(x, 0.5))


def norm_rows(x):
    y = np.linalg.norm(x, axis=1)
    return np.sum(np.sin(y) * y)


def norm_columns_1_keepdims(x):
    y = np.linalg.norm(x, 1, 0, True)
    return np.sum(np.sin(y) * y)


def norm_fro(x):
    return np.sin(np.linalg.norm(x, "fro"))


def norm_nuc(x):
    return np.sin(np.linalg.norm(x, "nuc"))


def norm_spectral(x):
    return np.sin(np.linalg.norm(x, 2))


def norm_smallest_singular(x):
    return np.sin(np.linalg.norm(x, -2))


def norm_matrix_1(x):
    return np.sin(np.linalg.norm(x, 1))


def norm_matrix_inf(x):
    return np.sin(np.linalg.norm(x, np.inf))


def norm_stack_fro(x):
    y = np.linalg.norm(x, "fro", (1, 2))
    return np.sum(np.sin(y) * y)


def cumprod_axis(x):
    y = np.cumprod(x, axis=1)
    return np.sum(np.sin(y) * y)


def cumprod_flat(x):
    y = np.cumprod(x)
    return np.sum(np.sin(y) * y)


def cumsum_axis(x):
    y = np.cumsum(x * x, axis=0)
    return np.sum(np.sin(y) * y)


def diff_once(x):
    y = np.diff(x * x)
    return np.sum(np.sin(y) * y)


def diff_twice_axis0(x):
    y = np.diff(x * x, 2, 0)
    return np.sum(np.sin(y) * y)


def diff_prepend_append(x, before, after):
    y = np.diff(x * x, axis=1, prepend=before * before, append=np.sin(after))
    return np.sum(np.sin(y) * y)


def average_plain(x):
    y = np.average(x * x, axis=0)
    return np.sum(np.sin(y) * y)


def average_weighted(x, w):
    y = np.average(np.sin(x), axis=1, weights=w * w + 0.5)
    return np.sum(np.sin(y) * y)


def average_weighted_full(x, w):
    y = np.average(np.sin(x), 0, w * w + 0.5)
    return np.sum(np.sin(y) * y)


def max_ties(x):
    y = np.max(x * x, axis=1)
    return np.sum(np.sin(y) * y)


def min_ties(x):
    y = np.min(x * x, axis=1, keepdims=True)
    return np.sum(np.sin(y) * y)


def elementwise_extrema(x, y):
    # np.maximum, np.minimum, np.fmax and np.fmin: their forward rules call split_ties
    return np.sum(
        np.sin(np.maximum(x, y)) * np.minimum(x * x, y)
        + np.fmax(x, 0.1) ** 3
        + np.exp(np.fmin(y, 0.2)) * x
    )


def max_all(x):
    return np.sin(np.max(np.tanh(x)))


def var_axis(x):
    y = np.var(x, axis=1)
    return np.sum(np.sin(y) * y)


def var_ddof(x):
    y = np.var(np.sin(x), axis=0, ddof=1, keepdims=True)
    return np.sum(np.sin(y) * y)


def std_all(x):
    return np.sin(np.std(x * x))


def std_axis_ddof(x):
    y = np.std(x, axis=1, ddof=1)
    return np.sum(np.sin(y) * y)


def mean_sum_trace(x):
    return np.sin(np.mean(x * x) + np.sum(np.tanh(x), axis=0)[1] + np.trace(x * x))


def polynomial_arithmetic(p, q):
    total = np.sum(np.sin(np.polyadd(p * p, q)) * np.polysub(q, p))
    return total + np.sum(np.polyint(p * q[:3], 2, q[0]) ** 2)


def nan_scans(x):
    return np.sum(np.sin(np.nancumprod(x * x, axis=1)) + np.nancumsum(x, axis=0) ** 2)


def spaced_in_logarithms(a, b):
    total = np.sum(np.sin(np.logspace(a, b, 4, base=2.0 + a * a)))
    return total + np.sum(np.geomspace(1.0 + a * a, 2.0 + b * b, 5) ** 2)


def vector_matrix_products(a, v):
    return np.sum(np.sin(np.vecmat(v, a)) * np.matvec(a, v * v))


def nansum_nanmean(x):
    y = np.where(x > 1.5, np.nan, x)
    return np.sin(np.nansum(y * y)) + np.sum(np.nanmean(np.sin(y), axis=0))


# -- linear algebra ----------------------------------------------------------------------------

EYE3 = np.eye(3)


def det_of(x):
    return np.sin(np.linalg.det(x @ x.T + EYE3))


def det_stack(x):
    y = np.linalg.det(x)
    return np.sum(np.sin(y) * y)


def slogdet_of(x):
    sign, logdet = np.linalg.slogdet(x @ x.T + EYE3)
    return np.sin(logdet) * sign


def slogdet_stack(x):
    sign, logdet = np.linalg.slogdet(x)
    return np.sum(np.sin(logdet) * sign)


def inv_of(x):
    return _bend(np.linalg.inv(x @ x.T + EYE3))


def solve_vector(x, b):
    return _bend(np.linalg.solve(x @ x.T + EYE3, b))


def solve_matrix(x, b):
    return _bend(np.linalg.solve(x @ x.T + EYE3, b))


def solve_stack_vector(x, b):
    return _bend(np.linalg.solve(x, b))


def cholesky_lower(x):
    return _bend(np.linalg.cholesky(x @ x.T + EYE3))


def cholesky_upper(x):
    return _bend(np.linalg.cholesky(x @ x.T + EYE3, upper=True))


def cholesky_stack(x):
    return _bend(np.linalg.cholesky(x @ np.swapaxes(x, -1, -2) + EYE3))


def qr_reduced(x):
    q, r = np.linalg.qr(x)
    return _bend(q) + np.sum(np.cos(r))


def qr_r_only(x):
    return _bend(np.linalg.qr(x, "r"))


def eigh_of(x):
    w, v = np.linalg.eigh(x + x.T)
    return _bend(w) + np.sum(np.sin(v * v))


def eigh_upper(x):
    w, v = np.linalg.eigh(x, "U")
    return _bend(w) + np.sum(np.cos(v * v))


def eigvalsh_of(x):
    return _bend(np.linalg.eigvalsh(x + x.T))


def eigvalsh_upper_stack(x):
    return _bend(np.linalg.eigvalsh(x, "U"))


def svd_values(x):
    return _bend(np.linalg.svd(x, compute_uv=False))


def svd_reduced(x):
    u, s, vh = np.linalg.svd(x, full_matrices=False)
    return _bend(s) + np.sum(np.sin(u * u)) + np.sum(np.cos(vh * vh))


def svd_hermitian(x):
    u, s, vh = np.linalg.svd(x, hermitian=True)
    return _bend(s) + np.sum(np.sin(u * u))


def svd_values_of_full(x):
    u, s, vh = np.linalg.svd(x)
    return _bend(s)


def einsum_matmul(x, y):
    return _bend(np.einsum("ij,jk->ik", x, y))


def einsum_trace_diagonal(x):
    return np.sin(np.einsum("ii", x * x)) + _bend(np.einsum("ii->i", x))


def einsum_three(x, y):
    return _bend(np.einsum("ij,jk,kl->il", x, y, x.T))


def einsum_interleaved(x, y):
    return _bend(np.einsum(x, [0, 1], y, [1, 2], [0, 2]))


def einsum_ellipsis(x, y):
    return _bend(np.einsum("...ij,...jk", x, y))


def products(x, y):
    return _bend(np.outer(x[0], y[0])[:2] + np.kron(x, y)[:2, :3]) + np.sin(
        np.vdot(x, y) + np.sum(np.inner(x, y)) + np.sum(np.tensordot(x, y.T, 1))
    )


# -- shapes, indexing, selection, casts ----------------------------------------------------------


def pad_constant(x):
    return _bend(np.pad(x, ((1, 0), (2, 1))) + 1.0)


def pad_constant_values(x, c):
    return _bend(np.pad(x, 1, constant_values=c * c))


def pad_edge(x):
    return _bend(np.pad(x * x, 1, mode="edge"))


def pad_reflect(x):
    return _bend(np.pad(x, 2, mode="reflect"))


def pad_wrap(x):
    return _bend(np.pad(x * x, ((0, 2), (1, 1)), mode="wrap"))


def reshape_fortran(x):
    return _bend(np.reshape(x * x, (3, 2), order="F"))


def ravel_in_layout(x):
    return _bend(np.ravel((x * x).T, "A")) + _bend(np.ravel(np.sin(x), "F"))


def append_and_join(x, y):
    z = np.append(x, y * y)
    return _bend(z) + _bend(np.concatenate([x, np.sin(y)]))


def append_axis(x, y):
    return _bend(np.append(np.sin(x), y, axis=0))


def split_parts(x):
    a, b = np.split(x * x, 2)
    return _bend(a) + np.sum(np.cos(b) * a)


def assign_slice(x):
    y = np.copy(x)
    y[1:3] = np.sin(x[:2]) * x[3]
    return _bend(y)


def assign_repeated(x):
    y = np.zeros(4)
    y[[0, 0, 2]] = x[:3] * x[:3]
    return _bend(y + x)


def assign_mask(x):
    y = x * x
    y[x > 0] = np.sin(x[x > 0])
    return _bend(y)


def assign_index_call(x, v):
    return _bend(assign_index(x * x, (slice(1, 3), 2), np.sin(v)))


def assign_index_repeated(x, v):
    return _bend(assign_index(np.tanh(x), np.array([3, 0, 3]), v * v))


def astype_float64(x):
    return _bend(x.astype(np.float64))


def astype_int(x):
    return _bend(x * x.astype(np.int64))


def builtin_max_min(x):
    a, b = np.sum(np.sin(x)), np.sum(x * x)
    return np.sin(max(a, b)) + np.cos(min(a, b)) * max(a, b)


def builtin_max_min_ties(x):
    a = np.sum(x * x)
    return np.sin(max(a, a)) + np.cos(min([a, a * 1.0, a + 1.0]))


def builtin_sum(x):
    return np.sin(builtins.sum([x[0] * x[1], np.sin(x[2]), x[3] ** 3], 1.0)) + _bend(sum(x))


def take_repeated(x):
    return _bend(np.take(x * x, [1, 1, 3]))


def take_axis(x):
    return _bend(np.take(np.sin(x), np.array([0, 2, 2]), axis=1))


def take_along(x):
    return _bend(np.take_along_axis(x * x, np.array([[0, 0, 3], [1, 2, 1], [3, 3, 3]]), 1))


def choose_of(x):
    # choices a list (chosen_from stacks them on CuPy) and one array, in each mode
    listed = np.choose(np.array([0, 2, 1, 2, 0]), [x * x, np.sin(x), x[0] * x], mode="raise")
    wrapped = np.choose(np.array([[3, -1], [0, 1]]), np.reshape(x[:4], (2, 2)) ** 3, mode="wrap")
    clipped = np.choose(np.array([4, 0]), [x[:2] * x[1:3], np.cos(x[:2])], mode="clip")
    return _bend(listed) + _bend(wrapped) + _bend(clipped)


def sort_of(x):
    y = np.sort(x * x, axis=0)
    return _bend(y * np.arange(1.0, 5.0)[:, None])


def where_of(x):
    return _bend(np.where(x > 0, np.sin(x) * x, x * x * x))


def clip_of(x):
    return _bend(np.clip(x * x, 0.3, 1.2) * x)


def clip_bounds(x, low, high):
    return _bend(np.clip(x, low * low - 1.0, high * high + 0.5) * x)


def getitem_and_shapes(x):
    y = np.transpose(np.reshape(x, (2, 6)))[::2]
    return _bend(y * np.flip(y)) + _bend(np.tril(x * x)[:, 1])


def elementwise(x):
    return np.sum(np.exp(0.3 * x) * np.tanh(x) + np.arctan2(x, 2.0) + np.sqrt(x * x + 1.0))


def arithmetic(x, y):
    return _bend(x @ y.T) + np.sum(np.maximum(x, y) * (x / (1.5 + y * y)) ** 2)


# -- rules added with issue 15 ------------------------------------------------------------


def pinv_of(a):
    return _bend(np.linalg.pinv(a))


def gradient_of(x):
    return _bend(np.gradient(x, 0.5))


def gradient_axis(x):
    return _bend(np.gradient(x, 2.0, axis=1))


def partition_of(x):
    return _bend(np.partition(x, 2))


def select_of(x, y):
    return _bend(np.select([x > 0.0, y > 0.0], [x * y, y], default=x))


def linspace_of(start, stop):
    return _bend(np.linspace(start, stop, 5))


# statistics and numerical calculus (issue 15)


def quantile_of(x, q):
    return _bend(np.quantile(x, q, axis=1)) + _bend(np.percentile(x, 100 * q, axis=0))


def median_of(x):
    return _bend(np.median(x, axis=0)) + _bend(np.nanmedian(x, axis=1))


def nanquantile_of(x, q):
    return _bend(np.nanquantile(x, q, axis=1)) + _bend(np.nanpercentile(x, 100 * q))


def nan_reductions(x):
    return (
        _bend(np.nanvar(x, axis=1))
        + _bend(np.nanstd(x, axis=0, ddof=1))
        + _bend(np.nanprod(x, axis=1))
    )


def cov_of(x, y):
    return _bend(np.cov(x, y)) + _bend(np.corrcoef(x, y))


def trapezoid_of(y, dx):
    return _bend(np.trapezoid(y, dx=dx, axis=0)) + _bend(np.ediff1d(y[0], y[1], y[2, :2]))


def cumulative_prod_of(x):
    return _bend(np.cumulative_prod(x, axis=1, include_initial=True))


def interp_of(x, fp):
    return _bend(np.interp(x, np.array([-1.0, -0.2, 0.4, 1.0]), fp, fp[1] * 2, 0.5))


def interp_knots_of(xp):
    return _bend(np.interp(np.array([-0.5, 0.3, 2.0]), xp, np.sin(xp)))


def norms_of(x):
    return (
        _bend(np.linalg.vector_norm(x, axis=1))
        + np.sin(np.linalg.matrix_norm(x))
        + _bend(np.linalg.svdvals(x))
    )


def eig_of(a):
    w, v = np.linalg.eig(a)
    return _bend(w) + _bend(v[:, 0] * v[1]) + _bend(np.linalg.eigvals(a))


def lstsq_of(a):
    # (one argument moving: with two, reverse mode meets the sum of their tangents, which
    # are tuples of four, and stops)
    x, residuals, rank, s = np.linalg.lstsq(a, np.array([0.5, -1.0, 0.3, 2.0, 0.1]))
    return _bend(x) + _bend(residuals) + _bend(s)


def cond_of(a):
    return np.sin(np.linalg.cond(a)) + np.linalg.cond(a, "fro") + np.linalg.cond(a, 1)


def polyfit_of(y, w):
    x = np.array([-1.0, -0.4, 0.3, 0.9, 1.6, 2.2])
    return _bend(np.polyfit(x, y, 2, w=w))


def powers_of(a, b):
    return (
        _bend(np.linalg.multi_dot([a, b, a]))
        + _bend(np.linalg.matrix_power(a, 3))
        + _bend(np.linalg.matrix_power(a, -1))
    )


def tensor_inverses(a, b):
    return _bend(np.linalg.tensorinv(np.reshape(a, (2, 3, 6)))) + _bend(
        np.linalg.tensorsolve(np.reshape(a, (2, 3, 6)), b)
    )


def polynomials(p, x):
    return _bend(np.vander(x, 3)) + _bend(np.polyval(p, x))


def insert_delete(x, v):
    return _bend(np.insert(x, [1, 3], v * v)) + _bend(np.delete(x * x, 2))


def meshgrid_of(x, y):
    grid_x, grid_y = np.meshgrid(x, y)
    return _bend(grid_x * grid_y)


def i0_of(x):
    return _bend(np.i0(x))


def complex_parts_of(x):
    # (real values: hvp of complex functions is not differentiated; docs/complex.md)
    return _bend(np.real_if_close(x * x) + np.angle(x) * x + np.real(x * np.exp(x)))


# -- the table ---------------------------------------------------------------------------------


def _uniform(*shapes, low=-1.0, high=1.0):
    def make(rng):
        return tuple(rng.uniform(low, high, shape) for shape in shapes)

    return make


def _values(*arrays):
    def make(rng):
        return tuple(np.array(a, dtype=float) for a in arrays)

    return make


def _square(rng, n=3):
    return rng.uniform(-1.0, 1.0, (n, n)) + n * np.eye(n)


def _symmetric(rng):
    m = rng.uniform(-1.0, 1.0, (3, 3))
    return (m + m.T + np.diag([0.0, 2.0, 4.0]),)


_TIED_ROWS = [[0.5, -1.2, 1.2, 0.3], [0.7, 0.7, -0.7, 0.1], [1.1, 0.2, 0.9, -1.1]]
_TIED = [[0.5, -0.5, 1.2], [0.7, 0.9, -0.7], [0.3, 1.1, -0.3]]

#: name -> (function, argument maker, directions maker or None for random ones)
TABLE = {
    # reductions and scans
    "prod_all": (prod_all, _uniform((2, 3), low=0.5, high=1.2)),
    "prod_axis": (prod_axis, _uniform((3, 4))),
    "prod_axes_keepdims": (prod_axes_keepdims, _uniform((2, 3, 4), low=0.5, high=1.3)),
    "prod_zeros": (prod_axis, _values([[1.5, 0.0, 2.0], [0.0, 0.0, 3.0]])),
    "norm_2": (norm_2, _uniform((5,))),
    "norm_1": (norm_1, _uniform((5,))),
    "norm_inf": (norm_inf, _uniform((5,))),
    "norm_minus_inf": (norm_minus_inf, _uniform((5,))),
    "norm_3": (norm_3, _uniform((5,))),
    "norm_0_and_half": (norm_0_and_half, _uniform((5,), low=0.2, high=1.0)),
    "norm_rows": (norm_rows, _uniform((3, 4))),
    "norm_columns_1_keepdims": (norm_columns_1_keepdims, _uniform((3, 4))),
    "norm_fro": (norm_fro, _uniform((3, 4))),
    "norm_nuc": (norm_nuc, _uniform((3, 4))),
    "norm_nuc_tall": (norm_nuc, _uniform((4, 3))),
    "norm_spectral": (norm_spectral, _uniform((3, 4))),
    "norm_smallest_singular": (norm_smallest_singular, _uniform((4, 3))),
    "norm_matrix_1": (norm_matrix_1, _uniform((3, 4))),
    "norm_matrix_inf": (norm_matrix_inf, _uniform((3, 4))),
    "norm_stack_fro": (norm_stack_fro, _uniform((2, 3, 4))),
    "cumprod_axis": (cumprod_axis, _uniform((3, 4), low=0.5, high=1.5)),
    "cumprod_flat": (cumprod_flat, _uniform((2, 3), low=-1.2, high=1.2)),
    "cumprod_zeros": (cumprod_axis, _values([[2.0, 0.0, 3.0, 0.5], [0.0, 0.0, 1.5, 2.0]])),
    "cumsum_axis": (cumsum_axis, _uniform((3, 4))),
    "diff_once": (diff_once, _uniform((5,))),
    "diff_twice_axis0": (diff_twice_axis0, _uniform((4, 3))),
    "diff_prepend_append": (diff_prepend_append, _uniform((3, 4), (3, 1), (3, 2))),
    "average_plain": (average_plain, _uniform((3, 4))),
    "average_weighted": (average_weighted, _uniform((3, 4), (4,))),
    "average_weighted_full": (average_weighted_full, _uniform((3, 4), (3, 4))),
    "max_ties": (max_ties, _values(_TIED_ROWS)),
    "min_ties": (min_ties, _values(_TIED)),
    "max_all": (max_all, _uniform((3, 4))),
    "elementwise_extrema": (elementwise_extrema, _uniform((3, 4), (3, 4))),
    "var_axis": (var_axis, _uniform((3, 4))),
    "var_ddof": (var_ddof, _uniform((3, 4))),
    "std_all": (std_all, _uniform((3, 4))),
    "std_axis_ddof": (std_axis_ddof, _uniform((3, 4))),
    "mean_sum_trace": (mean_sum_trace, _uniform((3, 3))),
    "polynomial_arithmetic": (polynomial_arithmetic, _uniform((3,), (5,))),
    "nan_scans": (nan_scans, _values([[1.0, np.nan, 0.5], [-0.5, 1.2, np.nan]])),
    "spaced_in_logarithms": (spaced_in_logarithms, _uniform((), ())),
    "vector_matrix_products": (vector_matrix_products, _uniform((3, 3), (3,))),
    "nansum_nanmean": (nansum_nanmean, _values([[1.0, 2.0, 0.5], [-0.5, 1.2, 0.3]])),
    # linear algebra
    "det": (det_of, _uniform((3, 3))),
    "det_stack": (det_stack, lambda rng: (np.stack([_square(rng), _square(rng)]),)),
    "slogdet": (slogdet_of, _uniform((3, 3))),
    "slogdet_stack": (slogdet_stack, lambda rng: (np.stack([_square(rng), -_square(rng)]),)),
    "inv": (inv_of, _uniform((3, 3))),
    "solve_vector": (solve_vector, _uniform((3, 3), (3,))),
    "solve_matrix": (solve_matrix, _uniform((3, 3), (3, 2))),
    "solve_stack_vector": (
        solve_stack_vector,
        lambda rng: (np.stack([_square(rng), _square(rng)]), rng.uniform(-1.0, 1.0, 3)),
    ),
    "cholesky": (cholesky_lower, _uniform((3, 3))),
    "cholesky_upper": (cholesky_upper, _uniform((3, 3))),
    "cholesky_stack": (cholesky_stack, _uniform((2, 3, 3))),
    "qr_square": (qr_reduced, lambda rng: (_square(rng),)),
    "cond": (cond_of, lambda rng: (_square(rng),)),
    "polyfit": (polyfit_of, _uniform((6,), (6,), low=0.5, high=1.5)),
    "qr_tall": (qr_reduced, _uniform((4, 3))),
    "qr_wide": (qr_reduced, _uniform((3, 4))),
    "qr_stack": (qr_reduced, _uniform((2, 4, 3))),
    "qr_r_only": (qr_r_only, _uniform((4, 3))),
    "eigh": (eigh_of, _symmetric),
    "eigh_upper": (eigh_upper, _symmetric),
    "eigvalsh": (eigvalsh_of, _symmetric),
    "eigvalsh_upper_stack": (
        eigvalsh_upper_stack,
        lambda rng: (np.stack([_symmetric(rng)[0], _symmetric(rng)[0]]),),
    ),
    "svd_values": (svd_values, _uniform((3, 4))),
    "svd_values_stack": (svd_values, _uniform((2, 4, 3))),
    "svd_reduced": (svd_reduced, _uniform((3, 4))),
    "svd_reduced_tall": (svd_reduced, _uniform((4, 3))),
    "svd_values_of_full": (svd_values_of_full, _uniform((3, 4))),
    "svd_hermitian": (svd_hermitian, _symmetric),
    "einsum_matmul": (einsum_matmul, _uniform((2, 3), (3, 4))),
    "einsum_trace_diagonal": (einsum_trace_diagonal, _uniform((3, 3))),
    "einsum_three": (einsum_three, _uniform((2, 3), (3, 3))),
    "einsum_interleaved": (einsum_interleaved, _uniform((2, 3), (3, 4))),
    "einsum_ellipsis": (einsum_ellipsis, _uniform((2, 1, 3, 4), (5, 4, 2))),
    "products": (products, _uniform((2, 3), (2, 3))),
    # shapes, indexing, selection, casts
    "pad_constant": (pad_constant, _uniform((2, 3))),
    "pad_constant_values": (pad_constant_values, lambda rng: (rng.uniform(-1, 1, (2, 3)), 0.7)),
    "pad_edge": (pad_edge, _uniform((2, 3))),
    "pad_reflect": (pad_reflect, _uniform((4,))),
    "pad_wrap": (pad_wrap, _uniform((2, 3))),
    "reshape_fortran": (reshape_fortran, _uniform((2, 3))),
    "ravel_in_layout": (ravel_in_layout, _uniform((2, 3))),
    "append_and_join": (append_and_join, _uniform((3,), (2,))),
    "append_axis": (append_axis, _uniform((2, 3), (1, 3))),
    "split_parts": (split_parts, _uniform((4, 2))),
    "assign_slice": (assign_slice, _uniform((5,))),
    "assign_repeated": (assign_repeated, _uniform((4,))),
    "assign_mask": (assign_mask, _uniform((6,))),
    "assign_index_call": (assign_index_call, _uniform((4, 5), (2,))),
    "assign_index_repeated": (assign_index_repeated, _uniform((5,), (3,))),
    "astype_float64": (astype_float64, _uniform((3,))),
    "astype_int": (astype_int, _uniform((4,), low=-3.0, high=3.0)),
    "builtin_max_min": (builtin_max_min, _uniform((3,))),
    "builtin_max_min_ties": (builtin_max_min_ties, _uniform((3,))),
    "builtin_sum": (builtin_sum, _uniform((4,))),
    "take_repeated": (take_repeated, _uniform((5,))),
    "take_axis": (take_axis, _uniform((3, 4))),
    "take_along": (take_along, _uniform((3, 4))),
    "choose": (choose_of, _uniform((5,))),
    "sort": (sort_of, _uniform((4, 3))),
    "where": (where_of, _uniform((6,))),
    "clip": (clip_of, _uniform((6,), low=-1.5, high=1.5)),
    "clip_bounds": (clip_bounds, lambda rng: (rng.uniform(-2.0, 2.0, 6), 0.8, 0.6)),
    "getitem_and_shapes": (getitem_and_shapes, _uniform((3, 4))),
    "elementwise": (elementwise, _uniform((4,))),
    "arithmetic": (arithmetic, _uniform((2, 3), (2, 3))),
    "pinv": (pinv_of, lambda rng: (rng.uniform(-1.0, 1.0, (3, 2)) + np.eye(3, 2),)),
    "gradient": (gradient_of, _uniform((6,))),
    "gradient_axis": (gradient_axis, _uniform((3, 4))),
    "partition": (partition_of, _uniform((6,))),
    "select": (select_of, _uniform((5,), (5,))),
    "linspace": (linspace_of, _uniform((3,), (3,))),
    "quantile": (quantile_of, lambda rng: (rng.uniform(-1, 1, (3, 4)), rng.uniform(0.2, 0.8, 2))),
    "median": (median_of, _uniform((3, 4))),
    "nanquantile": (
        nanquantile_of,
        lambda rng: (rng.uniform(-1, 1, (3, 4)), rng.uniform(0.2, 0.8, 2)),
    ),
    "nan_reductions": (nan_reductions, _uniform((3, 4), low=0.5, high=1.5)),
    "cov": (cov_of, _uniform((2, 5), (5,))),
    "trapezoid": (trapezoid_of, lambda rng: (rng.uniform(-1, 1, (3, 4)), 0.7)),
    "cumulative_prod": (cumulative_prod_of, _uniform((2, 3))),
    "norms": (norms_of, _uniform((3, 4))),
    "eig": (
        eig_of,
        lambda rng: (0.3 * rng.uniform(-1, 1, (3, 3)) + np.diag([0.0, 2.0, 4.0]),),
    ),
    "lstsq": (lstsq_of, _uniform((5, 3))),
    "powers": (powers_of, lambda rng: (_square(rng), _square(rng))),
    "tensor_inverses": (tensor_inverses, lambda rng: (_square(rng, 6), rng.uniform(-1, 1, (2, 3)))),
    "polynomials": (polynomials, _uniform((3,), (4,))),
    "insert_delete": (insert_delete, _uniform((4,), (2,))),
    "i0": (i0_of, _uniform((4,), low=-3.0, high=3.0)),
    "complex_parts": (complex_parts_of, _uniform((4,))),
    "meshgrid": (meshgrid_of, lambda rng: (rng.uniform(-1, 1, 3), np.array([0.5, -1.0]))),
    "interp": (interp_of, _uniform((5,), (4,))),
    "interp_knots": (
        interp_knots_of,
        lambda rng: (np.array([-1.0, 0.0, 0.5, 1.0]) + rng.uniform(-0.1, 0.1, 4),),
    ),
}

#: directions that keep a tie a tie (the function is smooth along them only)
_TIED_DIRECTIONS = {
    "max_ties": [[0.3, -0.4, 0.4, 1.0], [0.2, 0.2, -0.2, -0.5], [0.6, 0.1, -0.3, -0.6]],
    "min_ties": [[0.3, -0.3, 0.4], [0.2, 0.5, -0.2], [0.6, 0.1, -0.6]],
}


def _direction(value, rng):
    if isinstance(value, float):
        return float(rng.standard_normal())
    return rng.standard_normal(np.shape(value))


def _setup(name, seed=0):
    function, make = TABLE[name]
    rng = np.random.default_rng(seed)
    args = make(rng)
    if name in _TIED_DIRECTIONS:
        tangents = (np.array(_TIED_DIRECTIONS[name]),)
    else:
        tangents = tuple(_direction(a, rng) for a in args)
    return function, args, tangents


def _gradient_difference(function, args, tangents):
    """Central differences of astgrad's gradient (reverse mode, source) along tangents."""
    gradient = ag.grad(function, wrt=tuple(range(len(args))), mode="source")

    def at(step):
        return gradient(*[a + step * t for a, t in zip(args, tangents)])

    up, down = at(EPS), at(-EPS)
    return [(np.asarray(u) - np.asarray(d)) / (2 * EPS) for u, d in zip(up, down)]


@pytest.mark.parametrize("name", sorted(TABLE))
def test_hvp_matches_differences_of_the_gradient(name):
    function, args, tangents = _setup(name)
    got = ag.hvp(function, args, tangents, mode="source")
    got = got if isinstance(got, tuple) else (got,)
    expected = _gradient_difference(function, args, tangents)
    assert len(got) == len(args)
    for product, want, arg in zip(got, expected, args):
        assert np.shape(product) == np.shape(arg), name
        np.testing.assert_allclose(product, want, rtol=1e-5, atol=1e-6, err_msg=name)


def test_every_helper_of_a_forward_rule_has_a_case():
    """The rules whose forward rules call astgrad's own helpers, each called by a function
    of this module."""
    import inspect

    import gast
    from astgrad.runtime.rules import all_rules
    from astgrad.runtime.rules.registry import describe

    sources = "\n".join(
        inspect.getsource(value)
        for name, value in globals().items()
        if inspect.isfunction(value)
        and value.__module__ == __name__
        and not name.startswith(("_", "test_"))
    )
    missing = []
    for rule in all_rules():
        if not rule.vjp.__module__.startswith("astgrad.runtime.rules"):
            continue  # a rule a test registered
        forward = rule.forward
        if forward is None or forward.kind == "linear":
            continue
        calls_helper = any(
            isinstance(node, gast.Call)
            and isinstance(node.func, gast.Name)
            and getattr(forward.namespace.get(node.func.id), "__module__", "").startswith("astgrad")
            for part in [*forward.prelude, *(c for c in forward.contributions if c is not None)]
            for node in gast.walk(part)
        )
        # (a ufunc has no __module__: scipy.special's are known by how they are spelled)
        module = getattr(rule.primitive, "__module__", None) or describe(rule.primitive)
        if module.startswith(("astgrad", "scipy")):
            # a helper of astgrad's (reached through the rule that calls it), or scipy's
            # (tests/test_scipy_rules.py, where scipy is installed)
            continue
        spelled = getattr(rule.primitive, "__name__", rule.name)
        if calls_helper and not re.search(rf"\b{spelled}\(", sources):
            missing.append(rule.name)
    assert not missing, f"rules whose forward rules call helpers, with no hvp case: {missing}"


def assign_columns_transposed(x, v):
    rows = np.array([[0, 0], [0, 0]]).T
    cols = np.array([[1, 1], [2, 2]]).T
    return _bend(assign_index(x, (rows, cols), v))


def test_forward_mode_refuses_a_write_whose_winner_is_not_known():
    """``x[rows, cols] = v`` through index arrays out of C order that repeat a position:
    which write NumPy keeps depends on memory layout, so the tangent (like the gradient)
    is refused rather than guessed."""
    x = np.zeros((2, 3))
    v = np.arange(4.0).reshape(2, 2)
    with pytest.raises(NotImplementedError, match="C order"):
        ag.jvp(assign_columns_transposed, (x, v), (np.ones_like(x), np.ones_like(v)))

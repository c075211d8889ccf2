"""Helpers for the linear-algebra rules: products over chosen axes, einsum, and the
matrix decompositions.

Matrix functions follow NumPy's batching: the last two axes are the matrix, any axes
before them a stack. Each helper takes its array module from its arguments, or (those
marked ``transformable``, which reverse mode differentiates from their source) calls
NumPy's functions, which hand arrays of other modules to their own.

Where NumPy reads only one triangle of its input (``cholesky``, ``eigh``, ``eigvalsh``,
``svd(..., hermitian=True)``), the gradient is that of the function NumPy computes: zero on
the triangle it ignores.
For an input that is symmetric by construction (``a @ a.T``), the chain rule through the
construction gives the same result as the symmetric convention would.
"""

from __future__ import annotations

import operator
import string
from collections import Counter
from typing import Any

import numpy as np

from ..device import array_module
from .arithmetic import dot_2d as _product_2d
from .arithmetic import dot_grad_left, dot_grad_right
from .complex import refuse_complex
from .einsum_plans import planned_einsum
from .einsum_products import compiled_gradient
from .registry import nondifferentiable
from .shared import (
    _normalize_axes,
    _shape,
    _stand_in,
    divide_or_zero,
    expand_reduced,
    output_parts,
    shape_only,
    transformable,
    unbroadcast,
)

__all__ = [
    "mT",
    "batched_scalar",
    "inverse",
    "solve_adjoint",
    "solve_grad_a",
    "cholesky_grad",
    "cholesky_factor_grad",
    "cho_factor_grad",
    "cholesky_inverse",
    "qr_grad",
    "eigh_grad",
    "eigvalsh_grad",
    "svd_grad",
    "norm_grad",
    "inner_grad_left",
    "inner_grad_right",
    "tensordot_grad_left",
    "tensordot_grad_right",
    "einsum_grad",
    "kron_grad_left",
    "kron_grad_right",
    "solve_tangent_a",
    "cholesky_tangent",
    "qr_tangent",
    "eigh_tangent",
    "eigvalsh_tangent",
    "svd_tangent",
    "einsum_tangent",
    "cross_grad",
]


@transformable
def mT(x: Any) -> Any:
    """The transpose of each matrix in a stack (the last two axes swapped)."""
    return x.swapaxes(-1, -2)


def batched_scalar(x: Any) -> Any:
    """``x`` with two axes added at the end, to scale each matrix of a stack."""
    return array_module(x).asarray(x)[..., None, None]


def inverse(a: Any) -> Any:
    """The inverse of each matrix in ``a``."""
    return array_module(a).linalg.inv(a)


@shape_only(2)
def cross_grad(
    g: Any, other: Any, x: Any, axisc: int, axis_other: int, axisx: int, axis: Any, left: bool
) -> Any:
    """Gradient of ``np.cross(a, b, axisa, axisb, axisc, axis)`` with respect to one of its
    vectors ``x`` (``a``, or ``b`` when ``left``), ``other`` the other: ``other x g`` for
    ``a``, ``g x a`` for ``b``, along ``x``'s axis and summed where ``x`` was broadcast.
    Three-component vectors only (NumPy 2 deprecates the two-component cross product)."""
    xp = array_module(g)
    if axis is not None:
        axisc = axis_other = axisx = axis
    shape = list(_shape(x))
    if shape[axisx] != 3 or _shape(other)[axis_other] != 3:
        raise NotImplementedError(
            "np.cross has a derivative in astgrad for vectors of three components only"
        )
    moved = xp.moveaxis(g, axisc, -1)
    other = xp.moveaxis(other, axis_other, -1)
    grad = xp.cross(moved, other) if left else xp.cross(other, moved)
    shape.append(shape.pop(axisx))
    grad = unbroadcast(grad, _stand_in(shape))
    return xp.moveaxis(grad, -1, axisx)


@transformable
def _tril_half_diagonal(x: Any) -> Any:
    """The lower triangle of each matrix, its diagonal halved."""
    return 0.5 * (np.tril(x) + np.tril(x, -1))


# -- solve -----------------------------------------------------------------------------------


_SOLVE_TRIANGULAR: list = []  # scipy.linalg.solve_triangular once looked up, or None


def _solve_triangular() -> Any:
    """SciPy's triangular solve where SciPy is installed (looked up at the first solve
    with a triangular matrix, not at import), else None."""
    if not _SOLVE_TRIANGULAR:
        try:
            from scipy.linalg import solve_triangular
        except ImportError:
            solve_triangular = None
        _SOLVE_TRIANGULAR.append(solve_triangular)
    return _SOLVE_TRIANGULAR[0]


def _lower_or_upper(a: np.ndarray) -> bool | None:
    """True where the square matrix ``a`` is lower triangular (zero above its diagonal),
    False where it is upper triangular, None where neither (a corner tells most full
    matrices apart at once)."""
    n = a.shape[0]
    if a[0, n - 1] == 0 and not np.triu(a, 1).any():
        return True
    if a[n - 1, 0] == 0 and not np.tril(a, -1).any():
        return False
    return None


def solve_transposed(a: Any, b: Any, xp: Any = np, lower: bool | None = None) -> Any:
    """``solve(a.T, b)`` for one matrix ``a`` and a vector or matrix ``b``, by a triangular
    solve where ``a`` is triangular (the factor of a Cholesky decomposition, its
    transpose): O(n^2) per column where a general solve factorises ``a`` first, O(n^3).
    The same system solved, so the same solution up to rounding; anything else (batches,
    other array modules, integers, no SciPy) takes ``np.linalg.solve``. ``lower=True``
    says that ``a`` is lower triangular by construction (a Cholesky factor), so its
    triangle need not be checked."""
    if (
        type(a) is np.ndarray
        and type(b) is np.ndarray
        and a.ndim == 2
        and b.ndim in (1, 2)
        and a.shape[0] == a.shape[1] >= 8  # (below that the check costs what it saves)
        and a.dtype.kind == "f"
        and b.dtype.kind == "f"
    ):
        if lower is None:
            lower = _lower_or_upper(a)
        solve_triangular = _solve_triangular() if lower is not None else None
        if solve_triangular is not None:
            return solve_triangular(a, b, trans="T", lower=lower, check_finite=False)
    if np.ndim(b) == 1:
        return xp.linalg.solve(mT(a), b[..., None])[..., 0]
    return xp.linalg.solve(mT(a), b)


@shape_only(2)
def solve_adjoint(g: Any, a: Any, b: Any, lower: bool | None = None) -> Any:
    """``solve(a.T, g)``: the cotangent of ``b`` in ``x = solve(a, b)`` before summing over
    batch axes that ``b`` was broadcast along. ``lower`` says that ``a`` is lower (True)
    or upper (False) triangular by construction (``transform/factor.py`` passes it for a
    Cholesky factor and its transpose), as :func:`solve_transposed` takes it."""
    xp = array_module(g, a)
    if np.ndim(a) == 2 and np.ndim(g) <= 2:
        return solve_transposed(a, g, xp, lower)
    if len(_shape(b)) == 1:  # b is one vector (NumPy 2 reads (..., M) as vectors only then)
        return xp.linalg.solve(mT(a), g[..., None])[..., 0]
    if xp is not np:  # (CuPy's solve does not broadcast the stacks against each other)
        batch = np.broadcast_shapes(np.shape(a)[:-2], np.shape(g)[:-2])
        a = xp.broadcast_to(a, batch + np.shape(a)[-2:])
        g = xp.broadcast_to(g, batch + np.shape(g)[-2:])
    return xp.linalg.solve(mT(a), g)


@shape_only(2, 3)
@transformable
def solve_grad_a(gb: Any, x: Any, a: Any, b: Any) -> Any:
    """The cotangent of ``a`` in ``x = solve(a, b)``, from ``gb = solve_adjoint(...)``."""
    if np.ndim(b) == 1:
        return unbroadcast(-gb[..., :, None] * x[..., None, :], a)
    return unbroadcast(-(gb @ mT(x)), a)


# -- decompositions ---------------------------------------------------------------------------


def cholesky_grad(g: Any, ans: Any, upper: bool = False) -> Any:
    """Gradient of ``np.linalg.cholesky``, which reads the lower triangle (the upper one
    when ``upper=True``)."""
    g = refuse_complex(g, ans, "a Cholesky factorization")  # (its rule is for real values)
    if upper:  # cholesky(a, upper=True) is cholesky(a.T).T
        return mT(cholesky_grad(mT(g), mT(ans)))
    xp = array_module(g, ans)
    low = ans
    if type(low) is np.ndarray and type(g) is np.ndarray and low.ndim == 2:
        # One NumPy matrix: s = L^-T inner L^-1 by two triangular solves with L^T.
        inner = _halve_diagonal(np.tril(low.T @ g))
        left = solve_transposed(low, inner, lower=True)
        s = solve_transposed(low, left.T, lower=True).T
        return _halve_diagonal(np.tril(s + s.T))
    inner = _tril_half_diagonal(mT(low) @ g)
    # s = L^-T inner L^-1, by two solves
    left = xp.linalg.solve(mT(low), inner)
    s = mT(xp.linalg.solve(mT(low), mT(left)))
    return _tril_half_diagonal(s + mT(s))


def cholesky_factor_grad(
    low: Any,
    a: Any,
    diagonals: tuple = (),
    solves: tuple = (),
    transposed_solves: tuple = (),
    cho_solves: tuple = (),
) -> Any:
    """The gradient of ``low = np.linalg.cholesky(a)`` from the parts of ``low``'s
    cotangent ``dL`` (``transform/factor.py`` gathers them):

    * ``diagonals``: vectors ``v`` with ``dL += diag(v)`` (``np.diag(low)``'s gradient);
    * ``solves``: ``(gx, x, b)`` for ``x = solve(low, b)`` with cotangent ``gx``:
      ``dL += -solve(low.T, gx) x^T``;
    * ``transposed_solves``: ``(gb, x, b)`` for ``x = solve(low.T, b)`` and ``gb``
      b's cotangent: ``dL += -x gb^T``;
    * ``cho_solves``: ``(gb, x)`` for ``x = scipy.linalg.cho_solve((low, True), b)``,
      ``gb = cho_solve((low, True), gx)``: ``dL += -(gb x^T + x gb^T) low``.

    For one real NumPy matrix it uses the closed form (see :func:`_factor_closed_form`);
    otherwise it adds ``dL`` up as the rules would and calls the Cholesky rule.
    """
    grad = _factor_closed_form(low, a, diagonals, solves, transposed_solves, cho_solves)
    if grad is not None:
        return grad
    from .linalg_complex import hermitian_cholesky_grad
    from .rearranging import diag_grad

    dense: Any = 0
    for v in diagonals:
        dense = dense + diag_grad(v, low)
    for gx, x, b in solves:
        dense = dense + solve_grad_a(solve_adjoint(gx, low, b), x, low, b)
    for gb, x, b in transposed_solves:
        dense = dense + solve_grad_a(gb, x, low.T, b).T
    if cho_solves:
        from .scipy_rules import cho_solve_factor_grad

        for gb, x in cho_solves:
            dense = dense + cho_solve_factor_grad(gb, x, (low, True))
    return hermitian_cholesky_grad(dense, low, a)


def _factor_closed_form(
    low: Any, a: Any, diagonals: tuple, solves: tuple, transposed_solves: tuple, cho_solves: tuple
) -> np.ndarray | None:
    """:func:`cholesky_factor_grad` for one real NumPy matrix, None for anything else.

    The Cholesky rule is ``Φ(L^-T sym(L^T dL) L^-1)``, ``sym`` taking the lower triangle
    of a matrix and mirroring it, ``Φ`` the lower triangle with its diagonal halved. Each
    part's ``L^T dL`` is known without a product: ``diag(L_ii v_i)`` on and below the
    diagonal for ``diag(v)``, ``-gx x^T`` for a solve with ``L`` and ``-b gb^T`` for one
    with ``L.T``. Where two of these outer products mirror each other (``solve(L.T,
    solve(L, y))``: the first's ``gx`` is the second's ``gb``, its ``x`` the second's
    ``b``) their sum is symmetric, ``sym`` leaves it, and ``L^-T (p q^T + q p^T) L^-1``
    is ``u w^T + w u^T`` with ``u = L^-T p``, ``w = L^-T q``: solves with the vectors.
    The diagonal part is ``L^-T diag(c) L^-1``: ``c K^-1`` by LAPACK's ``potri`` where
    every ``c_i`` is within a few units of rounding of their mean (a change of each term
    of the sum as small as rounding it), else ``L^-1`` and a product. What mirrors nothing
    is summed densely and solved with ``n`` right-hand sides, as the rule does.
    """
    if _solve_triangular() is None or not _plain_real_matrix(low) or np.iscomplexobj(a):
        return None
    n = low.shape[0]
    parts = (*solves, *transposed_solves, *cho_solves)
    arrays = [*diagonals, *(v for part in parts for v in part)]
    if not all(_plain_real(v, n, low.dtype) for v in arrays):
        return None
    if not all(v.ndim == 1 for v in diagonals):
        return None
    # M = L^T dL = -(sum of p q^T) + the diagonal part
    pairs = [(gx, x) for gx, x, _ in solves] + [(b, gb) for gb, _, b in transposed_solves]
    # (L^T in Fortran order: LAPACK reads it without a copy)
    return _closed_form(low.T, diagonals, pairs, cho_solves)


def _closed_form(
    upper: np.ndarray, diagonals: tuple, pairs: list, symmetric: tuple
) -> np.ndarray | None:
    """``Φ(W)`` with ``W = L^-T sym(M) L^-1`` (see :func:`_factor_closed_form`), for the
    factor ``L = upper^T`` (only ``upper``'s upper triangle is read), ``M`` the diagonal
    part ``diag(L_ii v_i)`` of each ``v`` in ``diagonals`` plus ``-p q^T`` for each pair,
    and ``-(u w^T + w u^T)`` added to ``W`` for each ``(u, w)`` in ``symmetric``; None
    where LAPACK finds a zero on the factor's diagonal."""
    mirrored, alone = _mirrored_pairs(pairs)
    grad = None
    if diagonals:
        c = np.diagonal(upper) * sum(diagonals)
        least, most = c.min(), c.max()
        mean = 0.5 * (least + most)
        if most - least <= 4 * np.finfo(upper.dtype).eps * min(abs(least), abs(most)):
            # K^-1 from U = L^T: its upper triangle, the lower one of its transpose
            inverse, info = _lapack("potri", upper)(upper, lower=0)
            if info != 0:
                return None
            grad = inverse.T  # (a fresh array: the sums below go into it)
            grad *= mean
        else:
            inverse, info = _lapack("trtri", upper)(upper, lower=0)  # L^-T
            if info != 0:
                return None
            inverse = np.triu(inverse)  # (the other triangle is the input's)
            grad = inverse @ (c[:, None] * inverse.T)
    lefts, rights = [], []
    if mirrored:
        solved = _solve_upper(
            upper, np.hstack([_columns(v) for p, q, _ in mirrored for v in (p, q)])
        )
        if solved is None:
            return None
        start = 0
        for p, _, weight in mirrored:
            width = _columns(p).shape[1]
            lefts.append(-weight * solved[:, start : start + width])
            rights.append(solved[:, start + width : start + 2 * width])
            start += 2 * width
    for u, w in symmetric:
        lefts.append(-_columns(u))
        rights.append(_columns(w))
    if lefts:
        left, right = np.hstack(lefts), np.hstack(rights)
        # (one column each: an outer product by broadcasting, faster than a product)
        half = left * right.T if left.shape[1] == 1 else left @ right.T
        half += half.T
        if grad is None:
            grad = half
        else:
            grad += half
    if alone:
        dense = -sum(_columns(p) @ _columns(q).T for p, q in alone)
        lower = np.tril(dense)
        lower += np.tril(lower, -1).T
        left = _solve_upper(upper, lower)  # L^-T sym(M)
        both = None if left is None else _solve_upper(upper, left.T)
        if both is None:
            return None
        grad = both.T if grad is None else grad + both.T
    # np.tril in place, without building the mask each time (and 0, not nan * 0, where
    # potri left the input's other triangle)
    np.copyto(grad, 0, where=_strict_upper(grad.shape[0]))
    return _halve_diagonal(grad)


_UPPER_MASKS: dict[int, np.ndarray] = {}


def _strict_upper(n: int) -> np.ndarray:
    """True above the diagonal of an ``n`` by ``n`` matrix (kept for a few sizes)."""
    mask = _UPPER_MASKS.get(n)
    if mask is None:
        if len(_UPPER_MASKS) > 8:
            _UPPER_MASKS.clear()
        mask = _UPPER_MASKS[n] = ~np.tri(n, dtype=bool)
    return mask


def cho_factor_grad(factor: Any, a: Any, diagonals: tuple = (), cho_solves: tuple = ()) -> Any:
    """The gradient of ``factor = scipy.linalg.cho_factor(a, lower)`` from the parts of
    its cotangent (``transform/factor.py`` gathers them): ``diagonals``, vectors ``v``
    that ``np.diag(factor[0])`` sent back, and ``cho_solves``, ``(gb, x)`` for each ``x =
    cho_solve(factor, b)`` with ``gb = cho_solve(factor, gx)``. Each solve with ``K = L
    L^T`` adds ``-(gb x^T + x gb^T)`` to ``W`` (:func:`_closed_form`); the gradient is on
    the triangle ``cho_factor`` read (zero on the other, which nothing here read).
    Anything but one real NumPy matrix goes through the rules."""
    c, lower = factor[0], factor[1]
    n = np.shape(c)[-1]
    arrays = [*diagonals, *(v for part in cho_solves for v in part)]
    if (
        _solve_triangular() is not None
        and _plain_real_matrix(c)
        and not np.iscomplexobj(a)
        and all(_plain_real(v, n, c.dtype) for v in arrays)
        and all(v.ndim == 1 for v in diagonals)
    ):
        upper = c.T if lower else c  # (the upper triangle of upper holds L^T)
        grad = _closed_form(upper, diagonals, [], cho_solves)
        if grad is not None:
            return grad if lower else grad.T
    from .linalg_complex import hermitian_cholesky_grad
    from .rearranging import diag_grad
    from .scipy_rules import _factor_triangle, _other_triangle, cho_solve_factor_grad

    gc: Any = 0
    for v in diagonals:
        gc = gc + diag_grad(v, c)
    for gb, x in cho_solves:
        gc = gc + cho_solve_factor_grad(gb, x, factor)
    return hermitian_cholesky_grad(
        _factor_triangle(gc, lower), _factor_triangle(c, lower), a, not lower
    ) + _other_triangle(gc, lower)


def _solve_upper(upper: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """``upper^-1 b`` for an upper triangular ``upper`` by LAPACK's ``trtrs`` (None where
    it reports a zero on the diagonal)."""
    x, info = _lapack("trtrs", upper)(upper, b, lower=0)
    return x if info == 0 else None


def cholesky_inverse(a: Any, low: Any) -> Any:
    """``inverse(a)`` where ``low = np.linalg.cholesky(a)`` was computed (``np.linalg.slogdet``'s
    and ``det``'s gradients read ``a^-1``): from the factor by LAPACK's ``potri``, about
    half the work of an inverse by LU, where ``a`` is one real NumPy matrix and exactly
    symmetric (``cholesky`` read its lower triangle alone, so ``low low^T`` is ``a`` only
    then); by :func:`inverse` otherwise."""
    if (
        _solve_triangular() is not None
        and _plain_real_matrix(a)
        and _plain_real_matrix(low)
        and low.shape == a.shape
        and a.dtype == low.dtype
        and np.array_equal(a, a.T)
    ):
        upper = low.T
        inv, info = _lapack("potri", upper)(upper, lower=0)
        if info == 0:
            inv = np.triu(inv)
            inv += np.triu(inv, 1).T
            return inv
    return inverse(a)


def _plain_real_matrix(x: Any) -> bool:
    return (
        type(x) is np.ndarray
        and x.ndim == 2
        and x.shape[0] == x.shape[1]
        and x.dtype in (np.float64, np.float32)
    )


def _plain_real(x: Any, n: int, dtype: np.dtype) -> bool:
    """One NumPy vector or matrix of ``n`` rows and the factor's float dtype (LAPACK would
    cast another to it, where the rules compute in the wider of the two)."""
    return type(x) is np.ndarray and x.dtype == dtype and 1 <= x.ndim <= 2 and x.shape[0] == n


def _columns(v: np.ndarray) -> np.ndarray:
    return v[:, None] if v.ndim == 1 else v


def _same(x: np.ndarray, y: np.ndarray) -> bool:
    return x is y or (x.shape == y.shape and bool(np.array_equal(x, y)))


def _mirrored_pairs(pairs: list) -> tuple[list, list]:
    """``(mirrored, alone)``: ``mirrored`` holds ``(p, q, weight)`` such that the sum of
    ``weight * (p q^T + q p^T)`` is the sum of the pairs' ``p q^T`` that mirror another
    (or themselves: ``p`` equal to ``q``), exactly; ``alone`` the other pairs."""
    mirrored, alone, used = [], [], set()
    for i, (p, q) in enumerate(pairs):
        if i in used:
            continue
        if _same(p, q):
            mirrored.append((p, q, 0.5))
            used.add(i)
            continue
        for j in range(i + 1, len(pairs)):
            if j not in used and _same(p, pairs[j][1]) and _same(q, pairs[j][0]):
                mirrored.append((p, q, 1.0))
                used.update((i, j))
                break
        else:
            alone.append((p, q))
            used.add(i)
    return mirrored, alone


def _lapack(name: str, like: np.ndarray) -> Any:
    from scipy.linalg import lapack

    return lapack.get_lapack_funcs(name, (like,))


def _halve_diagonal(m: np.ndarray) -> np.ndarray:
    """``_tril_half_diagonal`` of a lower triangular matrix made for it: its diagonal
    halved in place (the same values: 0.5 * (x + x) is x)."""
    m.flat[:: m.shape[1] + 1] *= 0.5
    return m


@transformable
def _copy_lower_to_upper(m: Any) -> Any:
    return np.tril(m) + mT(np.tril(m, -1))


@transformable
def _qr_square_or_tall(q: Any, r: Any, gq: Any, gr: Any) -> Any:
    m = r @ mT(gr) - mT(gq) @ q
    # (gq + q copyltu(m)) r^-T
    return mT(np.linalg.solve(r, mT(gq + q @ _copy_lower_to_upper(m))))


@transformable
def qr_grad(g: Any, ans: Any, a: Any, mode: str = "reduced") -> Any:
    """Gradient of ``np.linalg.qr(a, mode)`` for the modes 'reduced', 'complete' (when
    it equals 'reduced': a is not taller than wide) and 'r'."""
    rows, cols = np.shape(a)[-2:]
    if mode == "r":
        q, r = np.linalg.qr(a)
        gq, gr = np.zeros_like(q), g
    elif mode == "reduced" or (mode == "complete" and rows <= cols):
        parts = output_parts(g, ans)
        gq, gr = parts[0], parts[1]
        q, r = ans[0], ans[1]
    else:
        raise _qr_refused(mode)
    if rows >= cols:
        return _qr_square_or_tall(q, r, gq, gr)
    # Wide: a = [x | y] with x square; q r_x = x and r_y = q^T y.
    x_part = _qr_square_or_tall(
        q, r[..., :rows], gq + a[..., rows:] @ mT(gr[..., rows:]), gr[..., :rows]
    )
    return np.concatenate([x_part, q @ gr[..., rows:]], axis=-1)


def _qr_refused(mode: str) -> NotImplementedError:
    return NotImplementedError(
        f"np.linalg.qr(..., mode={mode!r}) has no derivative in astgrad"
        + (
            " for matrices taller than wide: the extra columns of q are not unique"
            if mode == "complete"
            else ""
        )
        + "; use mode='reduced'"
    )


@transformable
def _eigh_to_lower(full: Any, uplo: str) -> Any:
    """The gradient with respect to the triangle ``eigh`` reads, from the gradient ``full``
    with respect to the symmetric matrix it stands for."""
    grad = _tril_half_diagonal(full + mT(full))
    if _reads_lower(uplo):
        return grad
    return mT(grad)


@transformable
def eigh_grad(g: Any, ans: Any, UPLO: str = "L") -> Any:
    """Gradient of ``np.linalg.eigh`` (eigenvalues and eigenvectors); the eigenvectors'
    part assumes distinct eigenvalues."""
    w, v = ans[0], ans[1]
    gw, gv = output_parts(g, ans)
    f = _inverse_gaps(w)
    inner = f * (mT(v) @ gv) + _diagonal_mask(w) * gw[..., None, :]
    return _eigh_to_lower(v @ inner @ mT(v), UPLO)


@transformable
def _inverse_gaps(w: Any) -> Any:
    """``f[..., i, j] = 1 / (w[j] - w[i])`` off the diagonal, zero on it: how the
    eigenvectors of distinct eigenvalues ``w`` turn."""
    gap = w[..., None, :] - w[..., :, None]
    eye = _diagonal_mask(w)
    return np.where(eye, 0, 1 / np.where(eye, 1, gap))


def _diagonal_mask(w: Any) -> Any:
    """True on the diagonal of an ``n`` by ``n`` matrix, for ``w`` of ``n`` values along
    its last axis (in ``w``'s array module)."""
    return array_module(w).eye(_shape(w)[-1], dtype=bool)


nondifferentiable(_diagonal_mask)


@transformable
def eigvalsh_grad(g: Any, a: Any, UPLO: str = "L") -> Any:
    """Gradient of ``np.linalg.eigvalsh``: ``v diag(g) v^T``, on the triangle it reads."""
    _, v = np.linalg.eigh(a, UPLO=UPLO)
    return _eigh_to_lower((v * g[..., None, :]) @ mT(v), UPLO)


@transformable
def svd_grad(g: Any, ans: Any, a: Any, compute_uv: bool = True, hermitian: bool = False) -> Any:
    """Gradient of ``np.linalg.svd``, ``a = u diag(s) v^T`` with ``v = vh^T`` (the transpose
    of :func:`svd_tangent`): ``u diag(g_s) v^T`` through the singular values, and through
    the singular vectors

    ``u (sym(f * u^T g_u) s + s sym(f * v^T g_v)) v^T + (1 - u u^T) g_u s^-1 v^T
    + u s^-1 g_v^T (1 - v v^T)``,

    ``sym(x) = x + x^T`` and ``f[i, j] = 1 / (s_j^2 - s_i^2)`` off the diagonal. Through
    the vectors it needs distinct, nonzero singular values. With ``full_matrices``, the
    columns of ``u`` (rows of ``vh``) beyond the singular values span a null space: one
    such vector moves with ``a``, a cotangent on more than one is refused.

    ``hermitian=True`` reads the lower triangle only (NumPy calls ``eigh``): the gradient
    is then with respect to that triangle, as ``eigh``'s is.
    """
    grad = _svd_grad_full(g, ans, a, compute_uv, hermitian)
    return _eigh_to_lower(grad, "L") if hermitian else grad


@transformable
def _svd_grad_full(g: Any, ans: Any, a: Any, compute_uv: bool, hermitian: bool) -> Any:
    """:func:`svd_grad` with respect to the whole matrix that ``a`` is (or stands for)."""
    if not compute_uv:
        if hermitian:
            u, _, vh = np.linalg.svd(a, full_matrices=False, hermitian=True)
        else:  # (without the argument, which CuPy's svd does not take)
            u, _, vh = np.linalg.svd(a, full_matrices=False)
        k = np.shape(g)[-1]
        return (u[..., :, :k] * g[..., None, :]) @ vh[..., :k, :]
    parts = output_parts(g, ans)
    g_u, g_s, g_vh = parts[0], parts[1], parts[2]
    u, s, vh = ans[0], ans[1], ans[2]
    k = np.shape(s)[-1]
    u1, v1 = u[..., :, :k], mT(vh[..., :k, :])
    grad = (u1 * g_s[..., None, :]) @ mT(v1)
    if _no_cotangent(g_u) and _no_cotangent(g_vh) and not _distinct_nonzero(s):
        # through the singular values only: repeated ones are fine then. (Only there: where
        # the vectors' part is finite it runs, adding zeros, so that a cotangent that is
        # zero here but moves, in code differentiated again, has its derivative.)
        return grad
    g_u1, g_v1 = g_u[..., :, :k], mT(g_vh[..., :k, :])
    rows, cols = s[..., :, None], s[..., None, :]  # s_i down, s_j across
    f = _inverse_gaps(s * s)
    turn_u = f * (mT(u1) @ g_u1)
    turn_v = f * (mT(v1) @ g_v1)
    inner = (turn_u + mT(turn_u)) * cols + rows * (turn_v + mT(turn_v))
    grad = grad + u1 @ inner @ mT(v1)
    grad = grad + ((g_u1 - u1 @ (mT(u1) @ g_u1)) / cols) @ mT(v1)
    grad = grad + u1 @ (mT(g_v1 - v1 @ (mT(v1) @ g_v1)) / rows)
    extra_u, extra_v = np.shape(u)[-1] - k, np.shape(vh)[-2] - k
    if extra_u:  # du2 = -u1 s^-1 v1^T da^T u2, for the one vector u2 beyond s
        g_u2 = g_u[..., :, k:]
        if extra_u > 1 and not _no_cotangent(g_u2):
            raise _null_space_refused(extra_u)
        if extra_u == 1:
            grad = grad - u[..., :, k:] @ ((mT(g_u2) @ u1) / cols) @ mT(v1)
    if extra_v:  # dv2 = -v1 s^-1 u1^T da v2
        g_v2 = mT(g_vh[..., k:, :])
        if extra_v > 1 and not _no_cotangent(g_v2):
            raise _null_space_refused(extra_v)
        if extra_v == 1:
            grad = grad - u1 @ ((mT(v1) @ g_v2) / rows) @ vh[..., k:, :]
    return grad


def _distinct_nonzero(s: Any) -> bool:
    """Whether the singular values ``s`` (in decreasing order along the last axis) are
    distinct and nonzero, so that the singular vectors' gradient is finite."""
    return bool(array_module(s).all(s[..., 1:] < s[..., :-1]) and array_module(s).all(s != 0))


def _no_cotangent(g: Any) -> bool:
    """Whether ``g``, the cotangent of one result, is zero and is not differentiated itself
    (on a tape that records its backward pass, a zero cotangent that requires grad still
    carries a derivative: ``tape_jvp``'s)."""
    if getattr(g, "requires_grad", False):
        return False
    return not bool(array_module(g).any(g != 0))


def _null_space_refused(extra: int) -> NotImplementedError:
    return NotImplementedError(
        "np.linalg.svd(..., full_matrices=True): the singular vectors beyond the "
        f"singular values ({extra} of them) span a null space in which LAPACK may turn "
        "them as it likes, so they have no derivative; use full_matrices=False (or "
        "compute_uv=False for the singular values alone)"
    )


# -- norms -------------------------------------------------------------------------------------


#: the NumPy number type of each float dtype (a norm's result, when x has that dtype)
_scalar_of = {np.dtype(t): t for t in (np.float64, np.float32, np.float16)}


def _ties(hits: Any, axis: Any) -> Any:
    """``hits`` shared equally among the tied positions along ``axis``."""
    return hits / hits.sum(axis=axis, keepdims=True)


@transformable
def norm_grad(
    g: Any, ans: Any, x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False
) -> Any:
    """Gradient of ``np.linalg.norm(x, ord, axis, keepdims)``.

    Vector norms: any ``ord`` (1, 2, inf, -inf, p; 0 counts and has none). Matrix norms:
    'fro', 'nuc', 1, -1, 2, -2, inf, -inf. (Transformable: generated gradient code that
    calls it is differentiated again through its source.)
    """
    if axis is None:
        if ord is None or (ord == "fro" and np.ndim(x) == 2):  # the 2-norm of x flattened
            scale = divide_or_zero(g, ans)
            number = type(scale)
            if type(x) is np.ndarray and (number is float or number is _scalar_of.get(x.dtype)):
                # one number times x: no view to spread it (a Python float keeps x's
                # dtype; a NumPy number of x's own dtype too)
                return x * scale
            return x * expand_reduced(scale, x, None, keepdims)
        axes = tuple(range(np.ndim(x)))
    else:
        axes = _normalize_axes(axis, np.ndim(x))
    g_full = expand_reduced(g, x, axes, keepdims)
    ans_full = expand_reduced(ans, x, axes, keepdims)
    if len(axes) == 1:
        if ord is None or ord == 2:
            return x * divide_or_zero(g_full, ans_full)
        if ord == 1:
            return g_full * np.sign(x)
        if ord == 0:
            return np.zeros_like(x)
        if ord == np.inf or ord == -np.inf:
            return g_full * np.sign(x) * _tie_shares(np.abs(x) == ans_full, axes[0], x)
        scale = np.abs(x) ** (ord - 1) * np.sign(x)
        return divide_or_zero(g_full * scale, ans_full ** (ord - 1))
    row_axis, col_axis = axes
    if ord is None or ord == "fro":
        return x * divide_or_zero(g_full, ans_full)
    if ord == 1 or ord == -1 or ord == np.inf or ord == -np.inf:
        # 1: the largest column sum of |x|; inf: the largest row sum (-1, -inf: smallest)
        summed, across = (row_axis, col_axis) if ord in (1, -1) else (col_axis, row_axis)
        sums = np.sum(np.abs(x), axis=summed, keepdims=True)
        chosen = sums == np.take(ans_full, [0], axis=summed)
        return g_full * np.sign(x) * _tie_shares(chosen, across, x)
    if ord == "nuc" or ord == 2 or ord == -2:
        matrices = np.moveaxis(x, (row_axis, col_axis), (-2, -1))
        u, s, vh = np.linalg.svd(matrices, full_matrices=False)
        if ord == "nuc":
            grad = u @ vh
        elif ord == 2:
            grad = u[..., :, 0, None] * vh[..., 0, None, :]
        else:
            grad = u[..., :, -1, None] * vh[..., -1, None, :]
        g_matrices = np.moveaxis(g_full, (row_axis, col_axis), (-2, -1))[..., :1, :1]
        return np.moveaxis(grad * g_matrices, (-2, -1), (row_axis, col_axis))
    raise ValueError(f"np.linalg.norm: invalid norm order {ord!r} for matrices")


@transformable
def norm_slope(x: Any, ord: Any = None, axis: Any = None) -> Any:
    """The gradient of ``np.linalg.norm(x, ord, axis)`` for a cotangent of one, in ``x``'s
    shape: each result's tangent is the sum over its slice of this times the tangent. The
    subgradients are :func:`norm_grad`'s: 0 where the norm is 0, ties shared."""
    axes = _norm_axes(x, ord, axis)
    norm = np.linalg.norm(x, ord, axis, keepdims=True)
    if not axes or ord is None or ord == "fro" or (ord == 2 and len(axes) == 1):
        return divide_or_zero(x, norm)  # the 2-norm of each slice, or of x flattened
    if ord == 0:
        return np.zeros_like(x)  # a count of nonzero elements
    if len(axes) == 1:
        if ord == 1:
            return np.sign(x)
        if ord == np.inf or ord == -np.inf:
            return np.sign(x) * _tie_shares(np.abs(x) == norm, axes[0], x)
        return divide_or_zero(np.abs(x) ** (ord - 1) * np.sign(x), norm ** (ord - 1))
    row_axis, col_axis = axes
    if ord == 1 or ord == -1 or ord == np.inf or ord == -np.inf:
        # 1: the largest column sum of |x|; inf: the largest row sum (-1, -inf: smallest)
        summed, across = (row_axis, col_axis) if ord in (1, -1) else (col_axis, row_axis)
        sums = np.sum(np.abs(x), axis=summed, keepdims=True)
        return np.sign(x) * _tie_shares(sums == norm, across, x)
    matrices = np.moveaxis(x, (row_axis, col_axis), (-2, -1))
    u, s, vh = np.linalg.svd(matrices, full_matrices=False)
    if ord == "nuc":
        slope = u @ vh
    elif ord == 2:
        slope = u[..., :, 0, None] * vh[..., 0, None, :]
    else:  # -2: the smallest singular value
        slope = u[..., :, -1, None] * vh[..., -1, None, :]
    return np.moveaxis(slope, (-2, -1), (row_axis, col_axis))


def _norm_axes(x: Any, ord: Any, axis: Any) -> tuple[int, ...]:
    """The axes ``np.linalg.norm(x, ord, axis)`` reads a vector (one) or a matrix (two)
    along, normalized; none for the 2-norm of ``x`` flattened."""
    ndim = len(_shape(x))
    if axis is None:
        if ord is None or (ord == "fro" and ndim == 2):
            return ()
        return tuple(range(ndim))
    return _normalize_axes(axis, ndim)


def _tie_shares(hits: Any, axis: int, like: Any) -> Any:
    """``hits`` (booleans) as shares of one among the tied positions along ``axis``, in the
    dtype of ``like``."""
    return _ties(hits.astype(like.dtype), axis)


nondifferentiable(_norm_axes, _tie_shares)


# -- products over chosen axes -----------------------------------------------------------------


@shape_only(1)
def inner_grad_left(g: Any, a: Any, b: Any) -> Any:
    """Gradient of ``np.inner(a, b)`` with respect to ``a``."""
    a_ndim, b_ndim = len(_shape(a)), np.ndim(b)
    if a_ndim == 0 or b_ndim == 0:
        # (np.sum: g and b may both be Python floats, np.inner(1.5, 0.7))
        return unbroadcast(g * b, a) if a_ndim else array_module(g, b).sum(g * b)
    # Matrices and vectors: the products @ takes (inner(a, b) is a @ b.T for matrices).
    if a_ndim == 1:
        if b_ndim == 1:
            return g * b
        if b_ndim == 2:  # out[m] = sum_k a[k] b[m, k]
            return g @ b
    elif a_ndim == 2:
        if b_ndim == 2:  # out[n, m] = sum_k a[n, k] b[m, k]
            return _product_2d(g, b)
        if b_ndim == 1:
            return g[:, None] * b
    xp = array_module(g, b)
    g = xp.asarray(g)  # generated code seeds a scalar result with a float
    # out[A..., B...] = sum_k a[A..., k] b[B..., k]
    return xp.tensordot(g, b, axes=(list(range(a_ndim - 1, g.ndim)), list(range(b_ndim - 1))))


@shape_only(2)
def inner_grad_right(g: Any, a: Any, b: Any) -> Any:
    """Gradient of ``np.inner(a, b)`` with respect to ``b``."""
    a_ndim, b_ndim = np.ndim(a), len(_shape(b))
    if a_ndim == 0 or b_ndim == 0:
        return unbroadcast(g * a, b) if b_ndim else array_module(g, a).sum(g * a)
    if b_ndim == 1:
        if a_ndim == 1:
            return g * a
        if a_ndim == 2:  # out[n] = sum_k a[n, k] b[k]
            return g @ a
    elif b_ndim == 2:
        if a_ndim == 2:  # out[n, m] = sum_k a[n, k] b[m, k]
            return _product_2d(g.T, a)
        if a_ndim == 1:
            return g[:, None] * a
    xp = array_module(g, a)
    g = xp.asarray(g)
    return xp.tensordot(g, a, axes=(list(range(a_ndim - 1)), list(range(a_ndim - 1))))


def _tensordot_axes(axes: Any, a_ndim: int, b_ndim: int) -> tuple[list, list]:
    if isinstance(axes, (int, np.integer)):
        n = operator.index(axes)
        return list(range(a_ndim - n, a_ndim)), list(range(n))
    a_axes, b_axes = axes
    a_axes = [a_axes] if isinstance(a_axes, (int, np.integer)) else list(a_axes)
    b_axes = [b_axes] if isinstance(b_axes, (int, np.integer)) else list(b_axes)
    return [i % a_ndim for i in a_axes], [i % b_ndim for i in b_axes]


def _order_back(source_axes: list) -> list:
    """The permutation that puts axes listed as ``source_axes`` back in order."""
    return sorted(range(len(source_axes)), key=lambda i: source_axes[i])


def _as_dot(axes: Any, a_ndim: int, b_ndim: int) -> bool:
    """Whether ``np.tensordot(a, b, axes)`` is ``np.dot(a, b)``: one axis, the last of a
    vector or matrix ``a`` with the first of a vector or matrix ``b``."""
    return (type(axes) is int and axes == 1) and 0 < a_ndim <= 2 and 0 < b_ndim <= 2


@shape_only(1)
def tensordot_grad_left(g: Any, a: Any, b: Any, axes: Any = 2) -> Any:
    """Gradient of ``np.tensordot(a, b, axes)`` with respect to ``a``."""
    if _as_dot(axes, len(_shape(a)), np.ndim(b)):
        return dot_grad_left(g, a, b)
    xp = array_module(g, b)
    a_ndim, b_ndim = len(_shape(a)), np.ndim(b)  # (b may be a Python float)
    a_axes, b_axes = _tensordot_axes(axes, a_ndim, b_ndim)
    a_free = [i for i in range(a_ndim) if i not in a_axes]
    b_free = [i for i in range(b_ndim) if i not in b_axes]
    g_b = list(range(len(a_free), len(a_free) + len(b_free)))
    grad = xp.tensordot(g, b, axes=(g_b, b_free))
    # grad's axes: a's free axes, then b's contracted axes in b's order (each standing for
    # its partner in a)
    source = a_free + [a_axes[b_axes.index(i)] for i in sorted(b_axes)]
    return xp.transpose(grad, _order_back(source))


@shape_only(2)
def tensordot_grad_right(g: Any, a: Any, b: Any, axes: Any = 2) -> Any:
    """Gradient of ``np.tensordot(a, b, axes)`` with respect to ``b``."""
    if _as_dot(axes, np.ndim(a), len(_shape(b))):
        return dot_grad_right(g, a, b)
    xp = array_module(g, a)
    a_ndim, b_ndim = np.ndim(a), len(_shape(b))  # (a may be a Python float)
    a_axes, b_axes = _tensordot_axes(axes, a_ndim, b_ndim)
    a_free = [i for i in range(a_ndim) if i not in a_axes]
    b_free = [i for i in range(b_ndim) if i not in b_axes]
    grad = xp.tensordot(a, g, axes=(a_free, list(range(len(a_free)))))
    source = [b_axes[a_axes.index(i)] for i in sorted(a_axes)] + b_free
    return xp.transpose(grad, _order_back(source))


@shape_only(1)
def kron_grad_left(g: Any, a: Any, b: Any) -> Any:
    """Gradient of ``np.kron(a, b)`` with respect to ``a``."""
    blocks, a_shape, b_shape = _kron_blocks(g, _shape(a), np.shape(b))
    xp = array_module(g, b)
    ndim = len(a_shape)
    grad = xp.tensordot(
        blocks, xp.reshape(b, b_shape), axes=(list(range(ndim, 2 * ndim)), list(range(ndim)))
    )
    return grad.reshape(_shape(a))


@shape_only(2)
def kron_grad_right(g: Any, a: Any, b: Any) -> Any:
    """Gradient of ``np.kron(a, b)`` with respect to ``b``."""
    blocks, a_shape, b_shape = _kron_blocks(g, np.shape(a), _shape(b))
    xp = array_module(g, a)
    ndim = len(a_shape)
    grad = xp.tensordot(xp.reshape(a, a_shape), blocks, axes=(list(range(ndim)), list(range(ndim))))
    return grad.reshape(_shape(b))


def _kron_blocks(g: Any, a_shape: tuple, b_shape: tuple) -> tuple[Any, tuple, tuple]:
    """``g`` of ``kron(a, b)`` as an array indexed ``[i..., k...]`` for ``a[i...] b[k...]``."""
    ndim = max(len(a_shape), len(b_shape))
    a_shape = (1,) * (ndim - len(a_shape)) + tuple(a_shape)
    b_shape = (1,) * (ndim - len(b_shape)) + tuple(b_shape)
    interleaved = g.reshape([n for pair in zip(a_shape, b_shape) for n in pair])
    order = list(range(0, 2 * ndim, 2)) + list(range(1, 2 * ndim, 2))
    return array_module(g).transpose(interleaved, order), a_shape, b_shape


# -- einsum ------------------------------------------------------------------------------------


def _einsum_terms(subscripts: Any, shapes: list) -> tuple[list[str], str]:
    """The input terms and the output term of an einsum, with every ``...`` spelled out
    in letters of its own and the implicit output made explicit."""
    spec = subscripts.replace(" ", "")
    inputs, arrow, output = spec.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: {len(terms)} terms in {subscripts!r} for {len(shapes)} operands")
    spare = [c for c in string.ascii_letters if c not in spec]
    broadcast = max(
        (len(shape) - (len(term) - 3) for term, shape in zip(terms, shapes) if "..." in term),
        default=0,
    )
    ellipsis = "".join(spare[:broadcast])
    expanded = []
    for term, shape in zip(terms, shapes):
        if "..." in term:
            n = len(shape) - (len(term) - 3)
            term = term.replace("...", ellipsis[broadcast - n :])
        expanded.append(term)
    if arrow:
        output = output.replace("...", ellipsis)
    else:
        counts = Counter(inputs.replace("...", "").replace(",", ""))
        output = ellipsis + "".join(sorted(c for c, n in counts.items() if n == 1))
    return expanded, output


def _sublist_term(sublist: Any) -> str:
    """An einsum sublist (``[0, 1]``, ``[Ellipsis, 0]``) as subscript letters, labels
    0-25 as A-Z and 26-51 as a-z as NumPy reads them, so that sorting letters sorts labels
    (the implicit output lists them in order)."""
    letters = string.ascii_uppercase + string.ascii_lowercase
    return "".join(
        "..." if label is Ellipsis else letters[operator.index(label)] for label in sublist
    )


def _einsum_call(subscripts: Any, given: list) -> tuple[str, list, dict[int, int]]:
    """A call of np.einsum as (subscripts string, operands, {argument position: operand
    number}), from either form: ``einsum('ij,jk', a, b)`` or the interleaved
    ``einsum(a, [0, 1], b, [1, 2][, [0, 2]])``. Position 0 is ``subscripts``."""
    if isinstance(subscripts, str):
        count = subscripts.count(",") + 1
        return subscripts, given[:count], {k + 1: k for k in range(count)}
    args = [subscripts, *given]
    while args and args[-1] is None:
        args.pop()  # the rule names eight operands; the call passed fewer
    pairs = len(args) // 2
    operands = args[0 : 2 * pairs : 2]
    terms = ",".join(_sublist_term(sublist) for sublist in args[1 : 2 * pairs : 2])
    if len(args) % 2:
        terms += "->" + _sublist_term(args[-1])
    return terms, operands, {2 * k: k for k in range(pairs)}


def _swap_last(x: Any) -> Any:
    return x.swapaxes(-1, -2)


# Einsums of three operands that are matrix products, with their letters renamed in order
# of appearance: each operand's gradient as the products @ takes (``_product_2d`` for
# matrices), from (g, first operand, second, third). Where an operand was broadcast along
# a size-1 axis the product has another shape than the operand (or the product fails), and
# einsum_grad takes its general road. Two operands: ``einsum_products`` writes any plain
# case as products.
_EINSUM_PRODUCTS: dict[str, tuple[Any, ...]] = {
    # the bilinear form x @ A @ y
    "a,ab,b->": (
        lambda g, a, b, c: g * (b @ c),
        lambda g, a, b, c: g * (a[:, None] * c),
        lambda g, a, b, c: g * (a @ b),
    ),
    # the chain A @ B @ C
    "ab,bc,cd->ad": (
        lambda g, a, b, c: _product_2d(g, _product_2d(b, c).T),
        lambda g, a, b, c: _product_2d(_product_2d(a.T, g), c.T),
        lambda g, a, b, c: _product_2d(_product_2d(a, b).T, g),
    ),
}

_EINSUM_PLANS: dict[tuple[str, int], Any] = {}


def _einsum_product(subscripts: str, index: int) -> Any:
    """The gradient of operand ``index`` of an einsum that is a matrix product (see
    ``_EINSUM_PRODUCTS``), as a function of (g, a, b, c); None for any other."""
    key = (subscripts, index)
    plan = _EINSUM_PLANS.get(key, False)
    if plan is not False:
        return plan
    spec = subscripts.replace(" ", "")
    inputs, arrow, output = spec.partition("->")
    plan = None
    if "." not in spec:
        if not arrow:
            counts = Counter(inputs.replace(",", ""))
            output = "".join(sorted(c for c, n in counts.items() if n == 1))
        names: dict[str, str] = {}
        for c in inputs + output:
            if c.isalpha():
                names.setdefault(c, string.ascii_lowercase[len(names) % 26])
        canonical = (
            "".join(names.get(c, c) for c in inputs)
            + "->"
            + "".join(names.get(c, c) for c in output)
        )
        grads = _EINSUM_PRODUCTS.get(canonical)
        plan = None if grads is None or index >= len(grads) else grads[index]
    if len(_EINSUM_PLANS) < 1024:
        _EINSUM_PLANS[key] = plan
    return plan


_EINSUM_PATHS: dict[tuple, Any] = {}

# Below this many terms (the product of every letter's size) NumPy's one-loop einsum beats
# any contraction order, and searching one costs more than the product.
_EINSUM_SMALL = 1 << 16


def _einsum_path(spec: str, g: Any, rest: list) -> Any:
    """What ``optimize`` np.einsum takes for ``spec`` (g's term first, then ``rest``'s):
    False for a small product, else a contraction order searched once for these shapes."""
    shapes = (np.shape(g), *(np.shape(o) for o in rest))
    key = (spec, shapes)
    path = _EINSUM_PATHS.get(key)
    if path is None:
        sizes: dict[str, int] = {}
        for term, shape in zip(spec.partition("->")[0].split(","), shapes):
            sizes.update(zip(term, shape))
        terms = 1
        for n in sizes.values():
            terms *= n
        if terms <= _EINSUM_SMALL:
            path = False
        else:
            path = np.einsum_path(spec, g, *rest, optimize="greedy")[0]
        if len(_EINSUM_PATHS) < 1024:
            _EINSUM_PATHS[key] = path
    return path


#: (subscripts, position, shapes) -> (the planned einsum, which operands it reads), or None
_GRAD_PLANS: dict[tuple, Any] = {}


def _planned_grad(g: Any, position: int, subscripts: str, given: tuple) -> Any:
    """einsum_grad's result by products planned once (``planned_einsum``), where the
    gradient is a plain einsum of ``g`` and the other operands: the operand is a NumPy
    array, broadcast along no axis, whose every letter ``g`` or another operand has, none
    repeated. None otherwise (einsum_grad's general road then runs)."""
    count = subscripts.count(",") + 1
    operands = given[:count]
    if not 1 <= position <= count or any(type(o) is not np.ndarray for o in operands):
        return None
    key = (subscripts, position, g.shape, *(o.shape for o in operands))
    plan = _GRAD_PLANS.get(key, False)
    if plan is False:
        plan = None
        try:
            terms, output = _einsum_terms(subscripts, [o.shape for o in operands])
        except ValueError:
            terms = None
        index = position - 1
        if terms is not None and "." not in subscripts:
            term = terms[index]
            others = [k for k in range(count) if k != index]
            present = set(output).union(*(terms[k] for k in others))
            if len(set(term)) == len(term) and all(c in present for c in term):
                spec = ",".join([output] + [terms[k] for k in others]) + "->" + term
                plan = (spec, others)
        if len(_GRAD_PLANS) < 1024:
            _GRAD_PLANS[key] = plan
    if plan is None:
        return None
    spec, others = plan
    grad = planned_einsum(spec, [g, *(operands[k] for k in others)])
    if grad is None or grad.shape != operands[position - 1].shape:
        return None  # (a size-1 axis broadcast: the general road sums over it)
    return grad


def einsum_grad(
    g: Any,
    position: int,
    subscripts: Any,
    op0: Any = None,
    op1: Any = None,
    op2: Any = None,
    op3: Any = None,
    op4: Any = None,
    op5: Any = None,
    op6: Any = None,
    op7: Any = None,
) -> Any:
    """Gradient of ``np.einsum(subscripts, op0, op1, ...)`` with respect to its argument at
    ``position`` (0 is ``subscripts``, in the interleaved form an operand too); None for
    subscripts, sublists and arguments the call did not pass.

    It is an einsum itself: the result's cotangent contracted with the other operands,
    with size-1 axes summed where the operand was broadcast, axes only this operand has
    broadcast back, and repeated letters (a diagonal, 'ii') put back on the diagonal.
    """
    if (
        type(subscripts) is str
        and op2 is None
        and hasattr(op0, "shape")
        and hasattr(op1, "shape")
        and (hasattr(g, "shape") or type(g) is float)
    ):
        # Two operands: the product einsum_products writes (the transform writes the same
        # into generated code), finished to the operand's shape.
        product = compiled_gradient(subscripts, position)
        if product is not None:
            return unbroadcast(product(g, op0, op1), op0 if position == 1 else op1)
    if (
        type(subscripts) is str
        and op3 is None
        and 1 <= position <= 3
        and hasattr(op0, "shape")
        and hasattr(op1, "shape")
        and hasattr(op2, "shape")
    ):
        product = _einsum_product(subscripts, position - 1)
        if product is not None:
            try:
                grad = product(g, op0, op1, op2)
            except ValueError:  # an operand broadcast along a size-1 axis
                grad = None
            if grad is not None and _shape(grad) == (op0, op1, op2)[position - 1].shape:
                return grad
    if type(subscripts) is str and type(g) is np.ndarray:
        grad = _planned_grad(g, position, subscripts, (op0, op1, op2, op3, op4, op5, op6, op7))
        if grad is not None:
            return grad
    subscripts, operands, numbers = _einsum_call(
        subscripts, [op0, op1, op2, op3, op4, op5, op6, op7]
    )
    index = numbers.get(position)
    if index is None:
        return None
    xp = array_module(g, *operands)
    terms, output = _einsum_terms(subscripts, [np.shape(o) for o in operands])
    term, operand = terms[index], operands[index]
    shape = np.shape(operand)
    sizes = dict(zip(term, shape))
    letters = "".join(dict.fromkeys(term))  # unique, in order
    others = [(t, o) for i, (t, o) in enumerate(zip(terms, operands)) if i != index]
    present = set(output).union(*(t for t, _ in others))
    kept = "".join(c for c in letters if c in present)
    spec = ",".join([output] + [t for t, _ in others]) + "->" + kept
    rest = [o for _, o in others]
    # NumPy arrays: BLAS products planned once for these letters and shapes.
    grad = planned_einsum(spec, [g, *rest]) if xp is np else None
    if grad is None:
        optimize = len(others) > 1 and (xp is not np or _einsum_path(spec, g, rest))
        grad = xp.einsum(spec, g, *rest, optimize=optimize)
    # Sum over axes along which the operand (size 1) was broadcast.
    summed = tuple(i for i, c in enumerate(kept) if sizes[c] == 1 and grad.shape[i] != 1)
    if summed:
        grad = grad.sum(axis=summed, keepdims=True)
    # Letters only this operand has were summed over: every element gets the cotangent.
    grad = grad.reshape([grad.shape[kept.index(c)] if c in kept else 1 for c in letters])
    grad = xp.broadcast_to(grad, [sizes[c] for c in letters])
    if len(letters) == len(term):
        return grad
    # A letter repeated in the term reads a diagonal: put the gradient back on it.
    spare = iter(
        c for c in string.ascii_letters if c not in subscripts and c not in "".join(terms) + output
    )
    renamed, deltas, seen = [], [], set()
    for c in term:
        if c in seen:
            fresh = next(spare)
            renamed.append(fresh)
            deltas.append((c + fresh, xp.eye(sizes[c], dtype=grad.dtype)))
        else:
            seen.add(c)
            renamed.append(c)
    spec = ",".join([letters] + [d for d, _ in deltas]) + "->" + "".join(renamed)
    return xp.einsum(spec, grad, *[e for _, e in deltas])


# -- forward mode: tangents ----------------------------------------------------------------------
# Each takes the tangent of the one argument it differentiates first. Where NumPy reads one
# triangle of its input, the tangent moves the symmetric matrix that triangle stands for, as
# the gradients above take it.


@transformable
def _symmetric_from(d: Any, uplo: str) -> Any:
    """The symmetric matrix that the lower (``uplo="L"``) or upper triangle of ``d``
    stands for."""
    if _reads_lower(uplo):
        return np.tril(d) + mT(np.tril(d, -1))
    return np.triu(d) + mT(np.triu(d, 1))


def _reads_lower(uplo: str) -> bool:
    """Whether ``UPLO`` names the lower triangle ("L" or "l")."""
    return uplo.upper() == "L"


nondifferentiable(_reads_lower)


@transformable
def solve_tangent_a(da: Any, x: Any, a: Any, b: Any) -> Any:
    """What flows from ``a`` to ``x = solve(a, b)``: ``-a^-1 da x``."""
    if np.ndim(b) == 1:  # x is one vector per matrix of a
        return -np.linalg.solve(a, da @ x[..., None])[..., 0]
    return -np.linalg.solve(a, da @ x)


@transformable
def cholesky_tangent(da: Any, ans: Any, upper: bool = False) -> Any:
    """The tangent of ``L = cholesky(a)``: ``L Φ(L^-1 da L^-T)``, Φ taking the lower
    triangle with its diagonal halved."""
    da = refuse_complex(da, ans, "a Cholesky factorization")  # (its rule is for real values)
    low, symmetric = ans, _symmetric_from(da, "L")
    if upper:  # cholesky(a, upper=True) is cholesky(a.T).T, which reads a's upper triangle
        low, symmetric = mT(ans), _symmetric_from(da, "U")
    left = np.linalg.solve(low, symmetric)  # L^-1 da
    inner = np.linalg.solve(low, mT(left))  # L^-1 da L^-T (da symmetric)
    tangent = low @ _tril_half_diagonal(inner)
    if upper:
        return mT(tangent)
    return tangent


@transformable
def _qr_tangent_square_or_tall(q: Any, r: Any, da: Any) -> tuple[Any, Any]:
    """``(dq, dr)`` for ``q r = a`` with ``a`` not wider than tall: from ``c = q^T da r^-1``,
    ``q^T dq`` is the antisymmetric ``omega`` below c's diagonal and ``dr r^-1`` the upper
    triangular rest."""
    da_rinv = mT(np.linalg.solve(mT(r), mT(da)))
    c = mT(q) @ da_rinv
    below = np.tril(c, -1)
    upper = c - (below - mT(below))  # dr r^-1
    return da_rinv - q @ upper, upper @ r


@transformable
def qr_tangent(da: Any, ans: Any, a: Any, mode: str = "reduced") -> Any:
    """The tangents ``(dq, dr)`` of ``np.linalg.qr(a, mode)`` (``dr`` alone for mode
    'r'), for the modes its gradient has."""
    rows, cols = np.shape(a)[-2:]
    if mode == "r":
        q, r = np.linalg.qr(a)
    elif mode == "reduced" or (mode == "complete" and rows <= cols):
        q, r = ans
    else:
        raise _qr_refused(mode)
    if rows >= cols:
        dq, dr = _qr_tangent_square_or_tall(q, r, da)
    else:  # wide: a = [x | y] with x square; q r_x = x and r_y = q^T y
        dq, dr_x = _qr_tangent_square_or_tall(q, r[..., :rows], da[..., :rows])
        dr_y = mT(dq) @ a[..., rows:] + mT(q) @ da[..., rows:]
        dr = np.concatenate([dr_x, dr_y], axis=-1)
    if mode == "r":
        return dr
    return dq, dr


@transformable
def eigh_tangent(da: Any, ans: Any, UPLO: str = "L") -> Any:
    """The tangents ``(dw, dv)`` of ``w, v = np.linalg.eigh(a)``: ``dw`` the diagonal of
    ``p = v^T da v``, ``dv = v (f * p)``; distinct eigenvalues, as for the gradient."""
    w, v = ans
    p = mT(v) @ _symmetric_from(da, UPLO) @ v
    dw = np.diagonal(p, axis1=-2, axis2=-1)
    return dw, v @ (_inverse_gaps(w) * p)


@transformable
def eigvalsh_tangent(da: Any, a: Any, UPLO: str = "L") -> Any:
    """The tangent of ``np.linalg.eigvalsh(a)``: the diagonal of ``v^T da v``."""
    w, v = np.linalg.eigh(a, UPLO=UPLO)
    return np.einsum("...ji,...jk,...ki->...i", v, _symmetric_from(da, UPLO), v)


@transformable
def svd_tangent(
    da: Any,
    ans: Any,
    a: Any,
    full_matrices: bool = True,
    compute_uv: bool = True,
    hermitian: bool = False,
) -> Any:
    """The tangents of ``np.linalg.svd(a)``: ``ds`` the diagonal of ``p = u^T da v``, and
    with ``compute_uv`` the turn of the singular vectors (distinct, nonzero singular
    values), ``(du, ds, dvh)``.

    With ``full_matrices``, the columns of ``u`` (or rows of ``vh``) beyond the singular
    values span the null space of ``a^T`` (of ``a``): one such column moves with ``a``,
    but several may turn among themselves as LAPACK likes, so more than one is refused.
    ``hermitian=True`` reads the lower triangle only (NumPy calls ``eigh``), and the
    tangent moves the symmetric matrix it stands for.
    """
    if hermitian:
        da = _symmetric_from(da, "L")
    if compute_uv:
        u, s, vh = ans
    else:
        u, s, vh = np.linalg.svd(a, full_matrices=False, hermitian=hermitian)
    k = np.shape(s)[-1]
    u1, v1 = u[..., :, :k], mT(vh[..., :k, :])
    p = mT(u1) @ da @ v1
    ds = np.diagonal(p, axis1=-2, axis2=-1)
    if not compute_uv:
        return ds
    rows, cols = s[..., :, None], s[..., None, :]  # s_i down, s_j across
    f = _inverse_gaps(s * s)
    du = u1 @ (f * (p * cols + rows * mT(p))) + (da @ v1 - u1 @ p) / cols
    dv = v1 @ (f * (rows * p + mT(p) * cols)) + (mT(da) @ u1 - v1 @ mT(p)) / cols
    extra_u, extra_v = np.shape(u)[-1] - k, np.shape(vh)[-2] - k
    if extra_u > 1:
        raise _null_space_refused(extra_u)
    if extra_v > 1:
        raise _null_space_refused(extra_v)
    if extra_u:  # u2^T a = 0: du2 = -u1 s^-1 v1^T da^T u2
        u2 = u[..., :, k:]
        du = np.concatenate([du, -u1 @ ((mT(v1) @ mT(da) @ u2) / rows)], axis=-1)
    if extra_v:  # a v2 = 0: dv2 = -v1 s^-1 u1^T da v2
        v2 = mT(vh[..., k:, :])
        dv = np.concatenate([dv, -v1 @ ((mT(u1) @ da @ v2) / rows)], axis=-1)
    return du, ds, mT(dv)


@transformable
def einsum_tangent(
    tangent: Any,
    position: int,
    subscripts: Any,
    op0: Any = None,
    op1: Any = None,
    op2: Any = None,
    op3: Any = None,
    op4: Any = None,
    op5: Any = None,
    op6: Any = None,
    op7: Any = None,
) -> Any:
    """What flows from the argument at ``position`` of ``np.einsum(subscripts, op0, ...)``
    (0 is ``subscripts``, in the interleaved form an operand too) with ``tangent``: the
    same einsum with the tangent in that operand's place; None for subscripts, sublists and
    arguments the call did not pass."""
    layout = _einsum_layout(position, subscripts, op0, op1, op2, op3, op4, op5, op6, op7)
    if layout is None:
        return None
    spec, places = layout
    given = [subscripts, op0, op1, op2, op3, op4, op5, op6, op7]
    ops = [tangent if place == position else given[place] for place in places]
    # One call per number of operands: the transform binds each call's operands to the
    # rule of np.einsum by position.
    count = len(ops)
    if count == 1:
        return np.einsum(spec, ops[0])
    if count == 2:
        return np.einsum(spec, ops[0], ops[1])
    if count == 3:
        return np.einsum(spec, ops[0], ops[1], ops[2], optimize=True)
    if count == 4:
        return np.einsum(spec, ops[0], ops[1], ops[2], ops[3], optimize=True)
    if count == 5:
        return np.einsum(spec, ops[0], ops[1], ops[2], ops[3], ops[4], optimize=True)
    if count == 6:
        return np.einsum(spec, ops[0], ops[1], ops[2], ops[3], ops[4], ops[5], optimize=True)
    if count == 7:
        return np.einsum(
            spec, ops[0], ops[1], ops[2], ops[3], ops[4], ops[5], ops[6], optimize=True
        )
    return np.einsum(
        spec, ops[0], ops[1], ops[2], ops[3], ops[4], ops[5], ops[6], ops[7], optimize=True
    )


def _einsum_layout(position: int, subscripts: Any, *given: Any) -> tuple[str, list] | None:
    """For ``np.einsum(subscripts, *given)`` in either form: its subscripts as a string,
    and the positions of its operands among the arguments (0 for ``subscripts``), in
    operand order; None when the argument at ``position`` is no operand."""
    spec, _, numbers = _einsum_call(subscripts, list(given))
    if position not in numbers:
        return None
    return spec, sorted(numbers, key=numbers.get)


nondifferentiable(_einsum_layout)

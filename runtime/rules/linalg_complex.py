"""The complex forms of ``np.linalg.cholesky``'s, ``eigvalsh``'s and ``eigh``'s rules
(Hermitian matrices), of ``qr``'s, and of the singular values' (``np.linalg.svd(...,
compute_uv=False)``, ``svdvals``, and through them ``lstsq``'s and ``cond``'s).

NumPy reads one triangle of a Hermitian matrix: the matrix it stands for, ``H``, has that
triangle's entries, their conjugates across the diagonal, and the real parts of the
diagonal (LAPACK ignores the imaginary ones). A rule first finds ``K`` with
``dL = Re(sum(conj(K) * dH))``; in the convention of docs/complex.md (``dL = Re(sum(g *
da))``) the gradient of the triangle is then ``conj(K + K^H)`` below the diagonal and
``Re(K)`` on it (:func:`hermitian_to_triangle`). A cotangent ``c`` of a complex result
``w`` stands for ``Re(sum(c * w))``: ``conj(c)`` is that ``K`` for ``w``.

Real values keep the real rules (``linalg_helpers``); these are right for both, and the
rules call them for complex ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..device import array_module
from .complex import is_complex, refuse_complex
from .linalg_helpers import (
    _diagonal_mask,
    _inverse_gaps,
    _qr_refused,
    _tril_half_diagonal,
    cholesky_grad,
    cholesky_tangent,
    eigh_grad,
    eigh_tangent,
    eigvalsh_grad,
    qr_grad,
    qr_tangent,
    svd_grad,
    svd_tangent,
)
from .linalg_helpers import eigvalsh_tangent as real_eigvalsh_tangent
from .registry import nondifferentiable
from .shared import output_parts, transformable


@transformable
def _h(m: Any) -> Any:
    """The conjugate transpose of the last two axes."""
    return np.conjugate(np.swapaxes(m, -1, -2))


def _lower(uplo: Any) -> bool:
    return str(uplo).upper() == "L"


nondifferentiable(_lower)


@transformable
def hermitian_from(d: Any, uplo: Any = "L") -> Any:
    """The Hermitian matrix the lower (``"L"``) or upper triangle of ``d`` stands for."""
    if _lower(uplo):
        strict = np.tril(d, -1)
    else:
        strict = np.triu(d, 1)
    diagonal = np.real(np.diagonal(d, axis1=-2, axis2=-1))
    return strict + _h(strict) + diagonal[..., None] * _diagonal_mask(d)


@transformable
def hermitian_to_triangle(k: Any, uplo: Any = "L") -> Any:
    """The gradient of the triangle NumPy reads, from ``K`` with ``dL = Re(sum(conj(K) *
    dH))``: ``conj(K + K^H)`` off the diagonal, ``Re(K)`` on it."""
    both = np.conjugate(_tril_half_diagonal(k + _h(k)))
    if _lower(uplo):
        return both
    return np.swapaxes(np.conjugate(both), -1, -2)


def hermitian_cholesky_grad(g: Any, ans: Any, a: Any, upper: bool = False) -> Any:
    """The gradient of ``np.linalg.cholesky(a, upper=upper)``. For complex values, with
    ``a = L L^H`` and ``Φ`` the lower triangle with its diagonal halved,
    ``K = L^-H Φ(L^H conj(g)) L^-1``; ``upper=True`` is ``cholesky(a^H)^H``."""
    if not is_complex(a) and not is_complex(ans):
        return cholesky_grad(g, ans, upper)
    low, moved = ans, np.conjugate(g)
    if upper:  # (the pullback of a conjugate transpose is one: L's cotangent is g^H)
        low, moved = _h(ans), np.swapaxes(g, -1, -2)
    inner = _tril_half_diagonal(_h(low) @ moved)
    left = np.linalg.solve(_h(low), inner)  # L^-H inner
    k = _h(np.linalg.solve(_h(low), _h(left)))  # L^-H inner L^-1
    return hermitian_to_triangle(k, "U" if upper else "L")


@transformable
def hermitian_cholesky_tangent(da: Any, ans: Any, a: Any, upper: bool = False) -> Any:
    """The tangent of ``L = cholesky(a)``: ``L Φ(L^-1 dH L^-H)``, ``dH`` the Hermitian
    matrix the tangent of the triangle read stands for."""
    if not is_complex(a) and not is_complex(ans):
        return cholesky_tangent(da, ans, upper)
    low, turned = ans, hermitian_from(da, "L")
    if upper:
        low, turned = _h(ans), hermitian_from(da, "U")
    left = np.linalg.solve(low, turned)  # L^-1 dH
    inner = np.linalg.solve(low, _h(left))  # L^-1 dH L^-H (dH Hermitian)
    tangent = low @ _tril_half_diagonal(inner)
    if upper:
        return _h(tangent)
    return tangent


@transformable
def hermitian_eigvalsh_grad(g: Any, a: Any, UPLO: str = "L") -> Any:
    """The gradient of ``np.linalg.eigvalsh(a, UPLO)``: the eigenvalue ``w_k = v_k^H H v_k``
    moves by ``v_k^H dH v_k``, so ``K = v diag(g) v^H`` (real ``g``: the values are real)."""
    if not is_complex(a):
        return eigvalsh_grad(g, a, UPLO)
    _, v = np.linalg.eigh(a, UPLO=UPLO)
    return hermitian_to_triangle((v * g.real[..., None, :]) @ _h(v), UPLO)


@transformable
def hermitian_eigvalsh_tangent(da: Any, a: Any, UPLO: str = "L") -> Any:
    """The tangent of ``np.linalg.eigvalsh(a)``: the real diagonal of ``v^H dH v``."""
    if not is_complex(a):
        return real_eigvalsh_tangent(da, a, UPLO)
    _, v = np.linalg.eigh(a, UPLO=UPLO)
    moved = np.einsum("...ji,...jk,...ki->...i", np.conjugate(v), hermitian_from(da, UPLO), v)
    return np.real(moved)


#: why np.linalg.svd(..., hermitian=True) refuses complex values
HERMITIAN_SVD = (
    "with hermitian=True NumPy computes the singular values and vectors from eigh's "
    "eigenvalues and eigenvectors, which astgrad does not follow for complex values; "
    "call it without hermitian=True (the general SVD of a complex matrix is differentiated)"
)


@transformable
def singular_values_grad(
    g: Any, ans: Any, a: Any, compute_uv: Any = True, hermitian: Any = False, name: str = ""
) -> Any:
    """The gradient of ``np.linalg.svd`` (``svdvals``). For a complex ``a``: the singular
    values ``s_k = u_k^H a v_k`` move by ``Re(u_k^H da v_k)``, so their gradient is
    ``conj(u diag(g) v^H)``; the singular vectors' is :func:`complex_singular_vectors_grad`'s.
    ``hermitian=True`` (NumPy calls eigh, and takes the eigenvalues' signs into vh) is
    refused."""
    if not is_complex(a):
        return svd_grad(g, ans, a, compute_uv, hermitian)
    if hermitian:
        return refuse_complex(g, a, name, HERMITIAN_SVD)
    if compute_uv:
        return complex_singular_vectors_grad(g, ans)
    u, _, vh = np.linalg.svd(a, full_matrices=False)
    return np.conjugate((u * g.real[..., None, :]) @ vh)


@transformable
def singular_values_tangent(
    da: Any,
    ans: Any,
    a: Any,
    full_matrices: Any = True,
    compute_uv: Any = True,
    hermitian: Any = False,
    name: str = "",
) -> Any:
    """The tangent of ``np.linalg.svd`` (``svdvals``); for a complex ``a``, of the
    singular values only: ``Re(u_k^H da v_k)``. A tangent of complex singular vectors
    would fix their phases, which LAPACK picks: refused (:func:`refuse_vector_tangents`),
    as ``hermitian=True``."""
    if not is_complex(a):
        return svd_tangent(da, ans, a, full_matrices, compute_uv, hermitian)
    if hermitian:
        return refuse_complex(da, a, name, HERMITIAN_SVD)
    if compute_uv:
        refuse_vector_tangents(name)
    u, _, vh = np.linalg.svd(a, full_matrices=False)
    moved = np.einsum("...jk,...jl,...kl->...k", np.conjugate(u), da, np.conjugate(vh))
    return np.real(moved)


def refuse_vector_tangents(name: str) -> None:
    """Raises: forward mode through complex singular vectors (see
    :func:`complex_singular_vectors_grad`)."""
    raise NotImplementedError(
        f"{name} of a complex matrix in forward mode: a tangent of the singular vectors "
        "would fix their phases, which LAPACK picks (each pair u_k, v_k is fixed only up "
        "to one); reverse mode (ag.grad, ag.vjp, and ag.hvp with mode='tape') "
        "differentiates losses that do not read them, and forward mode the singular "
        "values (compute_uv=False, np.linalg.svdvals)"
    )


nondifferentiable(refuse_vector_tangents)


# -- the singular vectors of a complex matrix ---------------------------------------------------
# a = u s v^H, with u (m, k), v (n, k), k = min(m, n), distinct nonzero singular values. With
# dP = u^H da v, Omega_u = u^H du and Omega_v = v^H dv (skew-Hermitian),
#     dP = Omega_u s + ds - s Omega_v,
# so ds = Re(diag(dP)), off the diagonal (e[i, j] = 1 / (s_j^2 - s_i^2))
#     Omega_u = e * (dP s + s dP^H),  Omega_v = e * (s dP + dP^H s),
# and on it only Im(Omega_u - Omega_v)[k, k] = Im(dP[k, k]) / s_k is fixed: turning u_k and
# v_k by one phase leaves a as it is (the gauge). A loss that this turn leaves as it is
# reads only that difference; the rule takes Omega_v's diagonal zero. Beyond u's columns
# (a tall a), (1 - u u^H) du = (1 - u u^H) da v s^-1; beyond v's (a wide one) likewise.
# Transposed, with cotangents gu, gs, gvh (dL = Re(sum(gu * du) + ...)), ju = u^H conj(gu),
# jv = vh gvh^T, x = e * conj(ju), y = e * conj(jv):
#     c = (x + x^H) s + s (y + y^H) + diag(Re(gs) - 1j Im(diag(ju)) / s),
#     grad = conj(u) c conj(vh) + (gu - conj(u) u^T gu) s^-1 conj(vh)
#            + conj(u) s^-1 (gvh - gvh vh^T conj(vh)).
# The loss's slope along the phase of pair k is Im(ju[k, k] + jv[k, k]): where it is not
# zero the loss reads the phases LAPACK picks, and the rule refuses.


@transformable
def complex_singular_vectors_grad(g: Any, ans: Any) -> Any:
    """The gradient of ``u, s, vh = np.linalg.svd(a)`` for a complex ``a``, by the formula
    above, for a loss that each pair's common phase leaves as it is."""
    gu, gs, gvh = output_parts(g, ans)
    u, s, vh = ans[0], ans[1], ans[2]
    k = np.shape(s)[-1]
    refuse_null_space_cotangent(gu[..., :, k:], gvh[..., k:, :])
    u, vh, gu, gvh = u[..., :, :k], vh[..., :k, :], gu[..., :, :k], gvh[..., :k, :]
    ju = _h(u) @ np.conjugate(gu)
    jv = vh @ np.swapaxes(gvh, -1, -2)
    slopes = np.imag(np.diagonal(ju, axis1=-2, axis2=-1) + np.diagonal(jv, axis1=-2, axis2=-1))
    refuse_phase_slopes(slopes, np.abs(ju) + np.abs(jv), "np.linalg.svd", "singular vectors")
    gaps = _inverse_gaps(s * s)
    x, y = gaps * np.conjugate(ju), gaps * np.conjugate(jv)
    rows, cols = s[..., :, None], s[..., None, :]  # s_i down, s_j across
    diagonal = np.real(gs) - 1j * np.imag(np.diagonal(ju, axis1=-2, axis2=-1)) / s
    c = (x + _h(x)) * cols + rows * (y + _h(y)) + diagonal[..., None, :] * _diagonal_mask(s)
    conj_u, conj_vh = np.conjugate(u), np.conjugate(vh)
    grad = conj_u @ c @ conj_vh
    grad = grad + ((gu - conj_u @ (np.swapaxes(u, -1, -2) @ gu)) / cols) @ conj_vh
    return grad + conj_u @ ((gvh - (gvh @ np.swapaxes(vh, -1, -2)) @ conj_vh) / rows)


def refuse_null_space_cotangent(gu_extra: Any, gvh_extra: Any) -> None:
    """Raises where a loss reads the singular vectors beyond the singular values
    (``full_matrices=True``) of a complex matrix: they span a null space in which LAPACK
    turns them as it likes (by a phase, for one)."""
    if np.any(gu_extra != 0) or np.any(gvh_extra != 0):
        raise NotImplementedError(
            "np.linalg.svd(..., full_matrices=True) of a complex matrix: the singular "
            "vectors beyond the singular values span a null space in which LAPACK picks "
            "them, so they have no derivative; use full_matrices=False"
        )


def refuse_phase_slopes(slopes: Any, scale: Any, name: str, what: str) -> None:
    """Raises where a loss moves with the phases of ``what`` (its ``slopes`` along them
    are not zero, next to the size ``scale`` of the numbers they come from)."""
    if np.size(slopes) and np.max(np.abs(slopes)) > 1e-8 * (1 + np.max(scale)):
        raise NotImplementedError(
            f"{name} of a complex matrix: this loss depends on the phases of the {what}, "
            "which LAPACK picks (each is fixed only up to one); astgrad differentiates "
            "losses that do not (docs/complex.md says which)"
        )


nondifferentiable(refuse_null_space_cotangent, refuse_phase_slopes)


# -- eigh of a complex Hermitian matrix ----------------------------------------------------------
# With p = v^H dH v and f[i, j] = 1 / (w_j - w_i) (distinct eigenvalues), dw = Re(diag(p))
# and d = v (f * p) turns each eigenvector within the others; what remains is its phase,
# dv_j = d_j + 1j t_j v_j. LAPACK fixes it: heev reduces H to a real tridiagonal matrix by
# reflections that leave the first row (UPLO "L"; the last for "U") alone, so each
# eigenvector's entry there is real, and t_j = -Im(d_j[r]) / v_j[r] keeps it so. Where
# those entries are not real, or 0 (another LAPACK), the phases are not known: then only
# losses that do not read them have a gradient (the slope along each phase, the imaginary
# part of m = v^H conj(gv)'s diagonal, must be 0), and forward mode is refused.
# Transposed, with s_j = gv_j^T v_j, the cotangent of d is h_j = gv_j - 1j Im(s_j) / v_j[r]
# e_r, and K = v (diag(gw) + f * (v^H conj(h))) v^H.


def eigh_pivots(v: Any, UPLO: Any = "L") -> Any:
    """``True`` at the entry of each eigenvector that LAPACK made real (the first row for
    UPLO "L", the last for "U"); None where those entries are not real and nonzero."""
    row = 0 if _lower(UPLO) else np.shape(v)[-2] - 1
    entries = v[..., row, :]
    if np.any(np.imag(entries) != 0) or np.any(entries == 0):
        return None
    return (np.arange(np.shape(v)[-2]) == row)[:, None] & np.ones(np.shape(v), dtype=bool)


def lapack_eigh_pivots(v: Any, UPLO: Any = "L") -> Any:
    """:func:`eigh_pivots`, refused where they are not known (forward mode needs them)."""
    pivots = eigh_pivots(v, UPLO)
    if pivots is None:
        raise NotImplementedError(
            "np.linalg.eigh of a complex matrix in forward mode: this LAPACK does not make "
            "the eigenvectors' first (UPLO='L') or last (UPLO='U') entries real, so their "
            "phases are not known; reverse mode differentiates losses that do not read them"
        )
    return pivots


nondifferentiable(eigh_pivots, lapack_eigh_pivots)


@transformable
def hermitian_eigh_grad(g: Any, ans: Any, a: Any, UPLO: str = "L") -> Any:
    """The gradient of ``w, v = np.linalg.eigh(a, UPLO)``; for a complex ``a`` by the
    formula above, in LAPACK's phases (or, where they are not known, for a loss that does
    not read them)."""
    if not is_complex(a):
        return eigh_grad(g, ans, UPLO)
    w, v = ans[0], ans[1]
    gw, gv = output_parts(g, ans)
    pivots = eigh_pivots(v, UPLO)
    if pivots is None:
        h = gv
        refuse_phase_dependence(_h(v) @ np.conjugate(gv))
    else:
        pivot_values = np.real(np.sum(np.where(pivots, v, 0), axis=-2))
        turns = np.imag(np.sum(gv * v, axis=-2)) / pivot_values
        h = gv - 1j * pivots * turns[..., None, :]
    m = _h(v) @ np.conjugate(h)
    inner = _inverse_gaps(w) * m + np.real(gw)[..., None, :] * _diagonal_mask(w)
    return hermitian_to_triangle(v @ inner @ _h(v), UPLO)


@transformable
def hermitian_eigh_tangent(da: Any, ans: Any, a: Any, UPLO: str = "L") -> Any:
    """The tangents ``(dw, dv)`` of ``w, v = np.linalg.eigh(a, UPLO)``; for a complex
    ``a`` by the formula above, in LAPACK's phases."""
    if not is_complex(a):
        return eigh_tangent(da, ans, UPLO)
    w = ans[0]
    v = ans[1]
    pivots = lapack_eigh_pivots(v, UPLO)
    p = _h(v) @ hermitian_from(da, UPLO) @ v
    moved = v @ (_inverse_gaps(w) * p)
    pivot_values = np.real(np.sum(np.where(pivots, v, 0), axis=-2))
    turns = -np.imag(np.sum(np.where(pivots, moved, 0), axis=-2)) / pivot_values
    dw = np.real(np.diagonal(p, axis1=-2, axis2=-1))
    return dw, moved + 1j * v * turns[..., None, :]


def refuse_phase_dependence(m: Any) -> None:
    """Raises where a loss of complex eigenvectors depends on their phases and LAPACK's are
    not known: the imaginary part of ``m = v^H conj(gv)``'s diagonal is its slope along
    each vector's phase."""
    phases = np.abs(np.imag(np.diagonal(m, axis1=-2, axis2=-1)))
    if np.size(phases) and np.max(phases) > 1e-8 * (1 + np.max(np.abs(m))):
        raise NotImplementedError(
            "np.linalg.eigh of a complex matrix: this loss depends on the phases of the "
            "eigenvectors, and this LAPACK does not make their first (UPLO='L') or last "
            "(UPLO='U') entries real, so the phases are not known; astgrad differentiates "
            "losses that do not read them (the eigenvalues, |v|, projectors v v^H)"
        )


nondifferentiable(refuse_phase_dependence)


# -- QR: a = q r with r's diagonal real (LAPACK's Householder reflections make it so) ---------
# With c = q^H da r^-1, q^H dq is the skew-Hermitian omega below c's diagonal (and i Im on
# it), dr r^-1 = c - omega. Backwards, with the gradients in the form G = conj(g) and
# n = G_r r^H - q^H G_q: G_a = (G_q + q herm_upper(n)) r^-H, herm_upper(n) the Hermitian
# matrix of n's strict upper triangle and the real part of its diagonal.


@transformable
def _hermitian_of_upper(n: Any) -> Any:
    strict = np.triu(n, 1)
    return (
        strict
        + _h(strict)
        + np.real(np.diagonal(n, axis1=-2, axis2=-1))[..., None] * _diagonal_mask(n)
    )


@transformable
def _qr_grad_square_or_tall(q: Any, r: Any, gq: Any, gr: Any) -> Any:
    n = gr @ _h(r) - _h(q) @ gq
    return _h(np.linalg.solve(r, _h(gq + q @ _hermitian_of_upper(n))))


@transformable
def hermitian_qr_grad(g: Any, ans: Any, a: Any, mode: str = "reduced") -> Any:
    """The gradient of ``np.linalg.qr(a, mode)``; for a complex ``a`` by the formula above
    (the modes the real rule has)."""
    if not is_complex(a):
        return qr_grad(g, ans, a, mode)
    rows, cols = np.shape(a)[-2:]
    if mode == "r":
        q, r = np.linalg.qr(a)
        gq, gr = np.zeros_like(q), np.conjugate(g)
    elif mode == "reduced" or (mode == "complete" and rows <= cols):
        parts = output_parts(g, ans)
        q, r = ans[0], ans[1]
        gq, gr = np.conjugate(parts[0]), np.conjugate(parts[1])
    else:
        raise _qr_refused(mode)
    if rows >= cols:
        return np.conjugate(_qr_grad_square_or_tall(q, r, gq, gr))
    # wide: a = [x | y] with x square; q r_x = x and r_y = q^H y
    x_part = _qr_grad_square_or_tall(
        q, r[..., :rows], gq + a[..., rows:] @ _h(gr[..., rows:]), gr[..., :rows]
    )
    return np.conjugate(np.concatenate([x_part, q @ gr[..., rows:]], axis=-1))


@transformable
def _qr_tangent_square_or_tall(q: Any, r: Any, da: Any) -> Any:
    da_rinv = _h(np.linalg.solve(_h(r), _h(da)))
    c = _h(q) @ da_rinv
    below = np.tril(c, -1)
    on_diagonal = np.imag(np.diagonal(c, axis1=-2, axis2=-1))[..., None] * _diagonal_mask(c)
    upper = c - (below - _h(below) + 1j * on_diagonal)  # dr r^-1
    return da_rinv - q @ upper, upper @ r


@transformable
def hermitian_qr_tangent(da: Any, ans: Any, a: Any, mode: str = "reduced") -> Any:
    """The tangents of ``np.linalg.qr(a, mode)``; for a complex ``a`` as above."""
    if not is_complex(a):
        return qr_tangent(da, ans, a, mode)
    rows, cols = np.shape(a)[-2:]
    if mode == "r":
        q, r = np.linalg.qr(a)
    elif mode == "reduced" or (mode == "complete" and rows <= cols):
        q, r = ans[0], ans[1]
    else:
        raise _qr_refused(mode)
    if rows >= cols:
        dq, dr = _qr_tangent_square_or_tall(q, r, da)
    else:
        dq, dr_x = _qr_tangent_square_or_tall(q, r[..., :rows], da[..., :rows])
        dr_y = _h(dq) @ a[..., rows:] + _h(q) @ da[..., rows:]
        dr = np.concatenate([dr_x, dr_y], axis=-1)
    if mode == "r":
        return dr
    return dq, dr


# -- eig of a general matrix: complex eigenvalues and eigenvectors ----------------------------
# a = v diag(w) v^-1 with distinct eigenvalues. LAPACK's geev fixes each eigenvector (its
# documented normalization): of length 1, its entry of largest modulus real. With
# p = v^-1 da v, dw = diag(p), and d = v (f * p) (f[i, j] = 1 / (w_j - w_i) off the
# diagonal) moves v_j within the eigenspaces; dv_j = d_j + c_j v_j, where the length fixes
# Re(c_j) = -Re(v_j^H d_j) and the real pivot entry r_j (row k_j) Im(c_j) = -Im(d_j[k_j]) /
# r_j. Transposed: with t_j = gv_j^T v_j, the cotangent of d is
#     h_j = gv_j - Re(t_j) conj(v_j) - 1j Im(t_j) / r_j e_{k_j},
# and the gradient v^-T (diag(gw) + f * (v^T h)) v^T. (For a real matrix with complex
# eigenvalues the formula is the same; its gradient is the real part.)


def eig_pivots(v: Any) -> Any:
    """``True`` at each eigenvector's pivot, the entry geev made real: the largest of the
    entries whose imaginary part is exactly zero (the first of ties, as LAPACK's)."""
    modulus = np.where(np.imag(v) == 0, np.abs(v), -1.0)
    rows = array_module(v).arange(np.shape(v)[-2])[:, None]
    return rows == np.argmax(modulus, axis=-2)[..., None, :]


nondifferentiable(eig_pivots)


@transformable
def complex_eig_grad(g: Any, ans: Any) -> Any:
    """The gradient of ``w, v = np.linalg.eig(a)`` where they are complex (above)."""
    w, v = ans[0], ans[1]
    gw, gv = output_parts(g, ans)
    pivots = eig_pivots(v)
    turns = np.sum(gv * v, axis=-2)
    pivot_values = np.real(np.sum(np.where(pivots, v, 0), axis=-2))
    h = (
        gv
        - np.real(turns)[..., None, :] * np.conjugate(v)
        - 1j * pivots * (np.imag(turns) / pivot_values)[..., None, :]
    )
    vt = np.swapaxes(v, -1, -2)
    inner = _inverse_gaps(w) * (vt @ h) + gw[..., None, :] * _diagonal_mask(w)
    return np.linalg.solve(vt, inner @ vt)


@transformable
def complex_eig_tangent(da: Any, ans: Any) -> Any:
    """The tangents ``(dw, dv)`` of ``w, v = np.linalg.eig(a)`` where they are complex."""
    w = ans[0]
    v = ans[1]
    p = np.linalg.solve(v, da @ v)
    moved = v @ (_inverse_gaps(w) * p)
    pivots = eig_pivots(v)
    lengths = np.real(np.sum(np.conjugate(v) * moved, axis=-2))
    pivot_values = np.real(np.sum(np.where(pivots, v, 0), axis=-2))
    turns = np.imag(np.sum(np.where(pivots, moved, 0), axis=-2)) / pivot_values
    return np.diagonal(p, axis1=-2, axis2=-1), moved - v * (lengths + 1j * turns)[..., None, :]

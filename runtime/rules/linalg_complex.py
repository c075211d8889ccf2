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

from .complex import is_complex, refuse_complex
from .linalg_helpers import (
    _inverse_gaps,
    _qr_refused,
    _tril_half_diagonal,
    cholesky_grad,
    cholesky_tangent,
    eigh_grad,
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
    return strict + _h(strict) + diagonal[..., None] * np.eye(np.shape(d)[-1])


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


def hermitian_eigvalsh_grad(g: Any, a: Any, UPLO: str = "L") -> Any:
    """The gradient of ``np.linalg.eigvalsh(a, UPLO)``: the eigenvalue ``w_k = v_k^H H v_k``
    moves by ``v_k^H dH v_k``, so ``K = v diag(g) v^H`` (real ``g``: the values are real)."""
    if not is_complex(a):
        return eigvalsh_grad(g, a, UPLO)
    _, v = np.linalg.eigh(a, UPLO=UPLO)
    return hermitian_to_triangle((v * np.real(g)[..., None, :]) @ _h(v), UPLO)


@transformable
def hermitian_eigvalsh_tangent(da: Any, a: Any, UPLO: str = "L") -> Any:
    """The tangent of ``np.linalg.eigvalsh(a)``: the real diagonal of ``v^H dH v``."""
    if not is_complex(a):
        return real_eigvalsh_tangent(da, a, UPLO)
    _, v = np.linalg.eigh(a, UPLO=UPLO)
    moved = np.einsum("...ji,...jk,...ki->...i", np.conjugate(v), hermitian_from(da, UPLO), v)
    return np.real(moved)


def singular_values_grad(
    g: Any, ans: Any, a: Any, compute_uv: Any = True, hermitian: Any = False, name: str = ""
) -> Any:
    """The gradient of ``np.linalg.svd`` (``svdvals``). For a complex ``a``, of the singular
    values only: ``s_k = u_k^H a v_k`` moves by ``Re(u_k^H da v_k)``, so the gradient is
    ``conj(u diag(g) v^H)``. The singular vectors of a complex matrix are each fixed up to a
    phase LAPACK picks: refused, as ``hermitian=True`` (NumPy calls eigh)."""
    if not is_complex(a):
        return svd_grad(g, ans, a, compute_uv, hermitian)
    if compute_uv or hermitian:
        return refuse_complex(g, a, name)
    u, _, vh = np.linalg.svd(a, full_matrices=False)
    return np.conjugate((u * np.real(g)[..., None, :]) @ vh)


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
    singular values only: ``Re(u_k^H da v_k)``."""
    if not is_complex(a):
        return svd_tangent(da, ans, a, full_matrices, compute_uv, hermitian)
    if compute_uv or hermitian:
        return refuse_complex(da, a, name)
    u, _, vh = np.linalg.svd(a, full_matrices=False)
    moved = np.einsum("...jk,...jl,...kl->...k", np.conjugate(u), da, np.conjugate(vh))
    return np.real(moved)


def hermitian_eigh_grad(g: Any, ans: Any, a: Any, UPLO: str = "L") -> Any:
    """The gradient of ``w, v = np.linalg.eigh(a, UPLO)``. For a complex ``a``, with
    ``m = v^H conj(gv)`` and ``f[i, j] = 1 / (w_j - w_i)`` (distinct eigenvalues),
    ``K = v (diag(gw) + f * m) v^H``. Each eigenvector is fixed only up to a phase LAPACK
    picks: a loss that reads the phase (the imaginary part of m's diagonal is then not 0)
    has no derivative astgrad can give, and is refused."""
    if not is_complex(a):
        return eigh_grad(g, ans, UPLO)
    w, v = ans[0], ans[1]
    gw, gv = output_parts(g, ans)
    m = _h(v) @ np.conjugate(gv)
    refuse_phase_dependence(m)
    inner = _inverse_gaps(w) * m + np.real(gw)[..., None, :] * np.eye(np.shape(w)[-1])
    return hermitian_to_triangle(v @ inner @ _h(v), UPLO)


def refuse_phase_dependence(m: Any) -> None:
    """Raises where a loss of complex eigenvectors depends on their phases: the imaginary
    part of ``m = v^H conj(gv)``'s diagonal is its slope along each vector's phase."""
    phases = np.abs(np.imag(np.diagonal(m, axis1=-2, axis2=-1)))
    if np.size(phases) and np.max(phases) > 1e-8 * (1 + np.max(np.abs(m))):
        raise NotImplementedError(
            "np.linalg.eigh of a complex matrix: this loss depends on the phases of the "
            "eigenvectors, which LAPACK picks (each is fixed only up to one); astgrad "
            "differentiates losses that do not (the eigenvalues, |v|, projectors v v^H)"
        )


nondifferentiable(refuse_phase_dependence)


# -- QR: a = q r with r's diagonal real (LAPACK's Householder reflections make it so) ---------
# With c = q^H da r^-1, q^H dq is the skew-Hermitian omega below c's diagonal (and i Im on
# it), dr r^-1 = c - omega. Backwards, with the gradients in the form G = conj(g) and
# n = G_r r^H - q^H G_q: G_a = (G_q + q herm_upper(n)) r^-H, herm_upper(n) the Hermitian
# matrix of n's strict upper triangle and the real part of its diagonal.


def _hermitian_of_upper(n: Any) -> Any:
    strict = np.triu(n, 1)
    return (
        strict
        + _h(strict)
        + np.real(np.diagonal(n, axis1=-2, axis2=-1))[..., None] * np.eye(np.shape(n)[-1])
    )


def _qr_grad_square_or_tall(q: Any, r: Any, gq: Any, gr: Any) -> Any:
    n = gr @ _h(r) - _h(q) @ gq
    return _h(np.linalg.solve(r, _h(gq + q @ _hermitian_of_upper(n))))


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
    on_diagonal = np.imag(np.diagonal(c, axis1=-2, axis2=-1))[..., None] * np.eye(np.shape(c)[-1])
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

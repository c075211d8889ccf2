"""Complex numbers: the convention, the rules only complex values need (``np.angle``,
``np.fft``), and the helpers that keep other rules right, or refusing, for complex values.

The convention is the one autograd and JAX use (docs/complex.md). For a real ``L`` of a
complex ``z = x + iy`` the gradient is ``dL/dx - 1j * dL/dy`` (twice the Wirtinger
derivative dL/dz); the direction of steepest ascent is its conjugate. A cotangent ``c`` of
a complex result ``w = f(z)`` stands for the real ``Re(sum(c * w))``, so

    gradient of z = c * df/dz + conj(c) * conj(df/dconj(z)).

For a holomorphic ``f`` (exp, products, matmul, solve, fft...) the second term is zero and
the rule is the real one unchanged, ``c * f'(z)``, without any conjugate: the table's real
rules are right for complex values as they are written. The others read ``conj(z)`` and
have rules of their own that say so (``abs``, ``angle``, ``real``, ``imag``, ``conj``,
``vdot``...), or refuse complex values (:func:`refuse_complex`).

A real argument's gradient is the real part of what reaches it (runtime.adjoints'
``finish_gradient``, the tape's leaves). Until then a real value's adjoint may carry an
imaginary part that means nothing, which every rule of a real-linear function passes on
unchanged; the rules of functions from complex to real values (``np.real``, ``abs``,
``float``...) read only ``g.real``, so it never reaches a complex argument.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..device import array_module
from .forward import jvp_rule, linear
from .registry import vjp_rule
from .shared import shape_only

__all__ = ["ComplexGradientError", "refuse_complex", "is_complex", "real_like"]


class ComplexGradientError(TypeError):
    """A rule that is right for real values only met a complex one."""


def is_complex(x: Any) -> bool:
    """Whether ``x`` is a complex number or an array of complex dtype.

    >>> is_complex(1j), is_complex(np.ones(2)), is_complex(np.ones(2, dtype=complex))
    (True, False, True)
    """
    dtype = getattr(x, "dtype", None)
    if dtype is not None:
        return getattr(dtype, "kind", None) == "c"
    return isinstance(x, complex)


@shape_only(1)
def refuse_complex(value: Any, x: Any, name: str, why: str | None = None) -> Any:
    """``value`` (a cotangent or a tangent), once ``x`` is known real: the rule of
    ``name`` (as users spell it) is right for real values only, and raises here rather
    than give a wrong derivative (saying ``why``, where there is more to say than that).

    >>> refuse_complex(1.0, np.ones(2), "np.var")
    1.0
    >>> refuse_complex(1.0, np.ones(2) * 1j, "np.var")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    astgrad.runtime.rules.complex.ComplexGradientError: np.var of a complex value has no...
    """
    if is_complex(x):
        raise ComplexGradientError(
            f"{name} of a complex value has no derivative in astgrad: "
            + (
                why
                or "its rule is written for real values (docs/complex.md lists the functions "
                "differentiated for complex values). Write it with those, e.g. np.abs(z) ** 2 "
                "for a squared modulus, or register a rule with @ag.vjp_rule."
            )
        )
    return value


# (a primitive, so that forward rules may call it and ag.hvp differentiate them)
@vjp_rule(refuse_complex)
def refuse_complex_vjp(g, ans, value, x, name, why=None):
    return refuse_complex(g, x, name, why), None, None, None


linear(refuse_complex)


@shape_only(1)
def real_like(value: Any, like: Any) -> Any:
    """``value``, its real part where ``like`` is real: the cotangent of a real result or
    the tangent of one (an imaginary part there means nothing; see the module's docstring).

    >>> real_like(np.array([1 + 2j]), np.zeros(1))
    array([1.])
    """
    return value if is_complex(like) else np.real(value)


# (a primitive, so that forward rules may call it and ag.hvp differentiate them)
@vjp_rule(real_like)
def real_like_vjp(g, ans, value, like):
    return real_like(g, like), None


linear(real_like)


@shape_only(1)
def imag_grad(g: Any, x: Any) -> Any:
    """Gradient of ``np.imag(x)``: ``-1j * Re(g)`` for a complex ``x``, zeros for a real one.

    >>> imag_grad(np.ones(1), np.array([1j]))
    array([-0.-1.j])
    """
    if is_complex(x):
        return -1j * g.real
    return g.real * 0.0


def conjugate_if_complex(value: Any, x: Any) -> Any:
    """``conj(value)`` where ``x`` is complex, else ``value`` (no copy): the gradient of a
    real function of ``x`` whose rule, written for real values, computes the conjugate of
    the convention's gradient when given complex ones (np.var's ``2 (x - mean)``, a
    norm's ``x / |x|``: the direction of steepest ascent).

    >>> conjugate_if_complex(np.array([1j]), np.array([1j]))
    array([-0.-1.j])
    """
    return np.conjugate(value) if is_complex(x) else value


def conjugated(x: Any) -> Any:
    """``conj(x)``; a real ``x`` itself, where np.conjugate would copy it.

    >>> conjugated(np.array([1j]))
    array([-0.-1.j])
    """
    return np.conjugate(x) if is_complex(x) else x


# -- np.sign --------------------------------------------------------------------------------
# z / |z| for a complex z (NumPy 2), whose derivative is not zero: (dz - s Re(conj(s) dz)) / |z|
# with s = sign(z); for a real x, and at 0, it is zero (as PyTorch's sign has a zero gradient)


@vjp_rule(np.sign)
def sign(g, ans, x):
    moved = (g - np.conjugate(ans) * np.real(g * ans)) / np.where(x == 0, 1, np.abs(x))
    return np.where(x == 0, 0, moved)


@jvp_rule(np.sign)
def sign_jvp(ans, x, *, dx):
    moved = (dx - ans * np.real(np.conjugate(ans) * dx)) / np.where(x == 0, 1, np.abs(x))
    return np.where(x == 0, 0, moved)


# -- np.angle -------------------------------------------------------------------------------


@vjp_rule(np.angle)
def angle(g, ans, z, deg=False):
    return angle_grad(g, z, deg)


# Im(dz / z) (zero where z is 0, and for a real z, whose angle is 0 or pi)
@jvp_rule(np.angle)
def angle_jvp(ans, z, deg=False, *, dz):
    ratio = np.imag(dz / np.where(z == 0, 1, z))
    return np.where(z == 0, 0, ratio) * (1.0 + deg * (180 / np.pi - 1.0))


def angle_grad(g: Any, z: Any, deg: bool = False) -> Any:
    """Gradient of ``np.angle(z, deg)``: ``-1j * g / z`` (zero where ``z`` is 0); none for a
    real ``z``, whose angle is 0 or pi.

    >>> angle_grad(np.ones(1), np.array([1j]))
    array([-1.+0.j])
    """
    xp = array_module(g, z)
    g = g.real * (180 / np.pi if deg else 1.0)
    if not is_complex(z):
        return g * 0.0
    safe = xp.where(z == 0, 1, z)
    return xp.where(z == 0, 0, -1j * g / safe)


# -- np.fft ---------------------------------------------------------------------------------
# The discrete Fourier transform's matrix is symmetric, so the transpose of fft is fft
# itself, with the same norm (and of ifft, ifft); with n (or s) the input is cut or padded
# with zeros first, whose transpose pads or cuts the gradient back to the input's shape.


@vjp_rule(np.fft.fft)
def fft(g, ans, a, n=None, axis=-1, norm=None, out=None):
    return fit_shape(np.fft.fft(g, axis=axis, norm=norm), a)


@vjp_rule(np.fft.ifft)
def ifft(g, ans, a, n=None, axis=-1, norm=None, out=None):
    return fit_shape(np.fft.ifft(g, axis=axis, norm=norm), a)


@vjp_rule(np.fft.fftn)
def fftn(g, ans, a, s=None, axes=None, norm=None, out=None):
    return fit_shape(np.fft.fftn(g, axes=fft_axes(a, s, axes), norm=norm), a)


@vjp_rule(np.fft.ifftn)
def ifftn(g, ans, a, s=None, axes=None, norm=None, out=None):
    return fit_shape(np.fft.ifftn(g, axes=fft_axes(a, s, axes), norm=norm), a)


@vjp_rule(np.fft.fft2)
def fft2(g, ans, a, s=None, axes=(-2, -1), norm=None, out=None):
    return fit_shape(np.fft.fft2(g, axes=axes, norm=norm), a)


@vjp_rule(np.fft.ifft2)
def ifft2(g, ans, a, s=None, axes=(-2, -1), norm=None, out=None):
    return fit_shape(np.fft.ifft2(g, axes=axes, norm=norm), a)


@vjp_rule(np.fft.rfft)
def rfft(g, ans, a, n=None, axis=-1, norm=None, out=None):
    return rfft_grad(g, a, n, axis, norm)


@vjp_rule(np.fft.irfft)
def irfft(g, ans, a, n=None, axis=-1, norm=None, out=None):
    return irfft_grad(g, a, n, axis, norm)


@vjp_rule(np.fft.fftshift)
def fftshift(g, ans, x, axes=None):
    return np.fft.ifftshift(g, axes=axes)


@vjp_rule(np.fft.ifftshift)
def ifftshift(g, ans, x, axes=None):
    return np.fft.fftshift(g, axes=axes)


linear(
    np.fft.fft,
    np.fft.ifft,
    np.fft.fftn,
    np.fft.ifftn,
    np.fft.fft2,
    np.fft.ifft2,
    np.fft.rfft,
    np.fft.irfft,
    np.fft.fftshift,
    np.fft.ifftshift,
)


@shape_only(1)
def fit_shape(v: Any, a: Any) -> Any:
    """``v`` cut, or padded with zeros at the end, to ``a``'s shape (axis by axis); its
    real part for a real ``a`` (the gradient of a real input).

    >>> fit_shape(np.ones(3, dtype=complex), np.zeros(5))
    array([1., 1., 1., 0., 0.])
    """
    if not is_complex(a):
        v = np.real(v)
    shape = np.shape(a)
    if np.shape(v) == shape:
        return v
    v = v[tuple(slice(0, n) for n in shape)]
    pad = [(0, n - m) for n, m in zip(shape, np.shape(v))]
    return array_module(v).pad(v, pad) if any(p for _, p in pad) else v


@shape_only(0)
def fft_axes(a: Any, s: Any, axes: Any) -> Any:
    """The axes ``np.fft.fftn(a, s, axes)`` transforms: ``axes``, else the last
    ``len(s)``, else all."""
    if axes is not None:
        return axes
    ndim = np.ndim(a)
    return tuple(range(ndim - len(s), ndim)) if s is not None else tuple(range(ndim))


_DUAL_NORM = {None: "forward", "backward": "forward", "ortho": "ortho", "forward": "backward"}


@shape_only(1)
def rfft_grad(g: Any, a: Any, n: Any, axis: int, norm: Any) -> Any:
    """Gradient of ``np.fft.rfft(a, n, axis, norm)``: the first ``n // 2 + 1`` outputs of
    fft, so the transpose of fft applied to ``g`` padded with zeros to ``n``; real, since
    rfft reads only the real part of its input."""
    length = np.shape(a)[axis] if n is None else n
    g = np.moveaxis(g, axis, -1)
    full = array_module(g).zeros((*g.shape[:-1], length), dtype=np.result_type(g, 1j))
    full[..., : g.shape[-1]] = g
    grad = np.real(np.fft.fft(full, axis=-1, norm=norm))
    return fit_shape(np.moveaxis(grad, -1, axis), a)


@shape_only(1)
def irfft_grad(g: Any, a: Any, n: Any, axis: int, norm: Any) -> Any:
    """Gradient of ``y = np.fft.irfft(a, n, axis, norm)``. With ``m = n // 2 + 1`` and
    ``B[t, k] = w[k] exp(2 pi i k t / n)`` (times the norm's scale), ``y = Re(B a[:m])``
    for weights ``w`` 1 at k = 0 and at n / 2, 2 elsewhere; so the gradient of a is
    ``w * (B's transpose) g``: ``w`` times the conjugate of rfft(g) in the dual norm."""
    length = 2 * (np.shape(a)[axis] - 1) if n is None else n
    g = np.moveaxis(g.real, axis, -1)
    spectrum = np.conjugate(np.fft.rfft(g, n=length, axis=-1, norm=_DUAL_NORM[norm]))
    weights = array_module(g).full(spectrum.shape[-1], 2.0, dtype=spectrum.real.dtype)
    weights[0] = 1.0
    if length % 2 == 0:
        weights[-1] = 1.0
    grad = np.moveaxis(spectrum * weights, -1, axis)
    return fit_shape(grad, a)

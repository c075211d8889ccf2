"""Rules for the helpers of generated gradient code from reductions, statistics, complex
values and transfers, so that code can be differentiated again (issue 16; ``helper_rules``
holds the first ones and says how).

Most helpers here are a primitive's vjp, linear in the cotangent: the transpose of a vjp
is the primitive's own tangent map (``diff_tangent`` for ``diff_grad``, ``rfft`` for
``rfft_grad``). The others:

* ``extremum_grad`` (max and min) spreads the cotangent over the tied extreme elements,
  with weights that are piecewise constant in the values: no gradient in ``ans`` nor
  ``x``. At a tie the first derivative is the mean of the tied slopes (a subgradient),
  and the second is that of the branch where the tie lasts (the tied elements moving
  together), not a difference quotient across it: the gradient jumps there.
* ``prod_grad`` and ``cumprod_grad`` are gradients of products, nonlinear in the values:
  their Jacobian in the values is the Hessian of ``<c, prod(x)>`` (of ``<c, cumprod(x)>``),
  symmetric, so one function gives both directions, its tangent along ``d`` being its
  transpose applied to ``d``; both are written with products of the elements before and
  after each one, exact where the values hold zeros.
* ``average_grad`` and ``average_weights_grad`` are the two halves of the gradient of
  ``<c, average(a, w)>``: the same symmetry makes each one's vjp a tangent of the other.
* complex helpers that take a real part (``imag_grad``, ``angle_grad``, ``fit_shape``)
  are real-linear: ``w = c Re(g)`` has the transpose ``Re(c h)`` in the convention of
  rules/complex.py. (``fit_shape`` cuts or pads a value to a shape: linear in it, not a
  shape itself; ``fft_axes`` and ``source_device`` give axes and a device.)

The statistics' helpers (``order_grad``, ``cov_grad``, ``nanvar_grad``...) are NumPy code
marked transformable in rules/statistics.py: reverse and forward mode read their source.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..device import array_module
from .complex import (
    angle_grad,
    conjugate_if_complex,
    conjugated,
    fft_axes,
    fit_shape,
    imag_grad,
    irfft_grad,
    real_like,
    rfft_grad,
)
from .forward import jvp_rule, linear
from .reductions import (
    NoValue,
    _extremum_ties,
    _kept_dims,
    _no_zeros,
    _reduced_last,
    _reduced_rows_shape,
    _weights_layout,
    as_weights_of,
    average_grad,
    average_tangent,
    average_weights_grad,
    average_weights_tangent,
    cumprod_grad,
    cumprod_tangent,
    diff_grad,
    diff_tangent,
    extremum_grad,
    gradient_grad,
    initial_extremum_grad,
    lined_weights,
    nanmean_grad,
    prod_grad,
    product_of_others,
)
from .registry import nondifferentiable, vjp_rule
from .shared import expand_reduced, inverse_axes, reduced_count, transformable, unbroadcast
from .transfers import source_device

__all__: list[str] = []

# axes and devices
nondifferentiable(fft_axes, source_device)


# -- max and min ---------------------------------------------------------------------------


def extremum_weights(
    ans: Any, x: Any, axis: Any = None, keepdims: bool = False, initial: Any = NoValue,
    where: Any = True,
) -> Any:  # fmt: skip
    """What :func:`extremum_grad` multiplies the cotangent by: one over the number of tied
    extreme elements at each of them, 0 elsewhere (``x``'s shape; piecewise constant).

    >>> extremum_weights(np.float64(2.0), np.array([2.0, 1.0, 2.0]))
    array([0.5, 0. , 0.5])
    """
    return extremum_grad(np.ones_like(ans), ans, x, axis, keepdims, initial, where)


def initial_weights(
    ans: Any, x: Any, axis: Any = None, keepdims: bool = False, initial: Any = NoValue,
    where: Any = True,
) -> Any:  # fmt: skip
    """What :func:`initial_extremum_grad` takes of each result's cotangent: one over the
    number of ties where ``initial`` is the extremum, 0 elsewhere (``ans``'s shape)."""
    _, count = _extremum_ties(ans, x, axis, keepdims, initial, where)
    kept = _kept_dims(ans, x, axis, keepdims)
    return np.reshape((kept == initial) / count, np.shape(ans))


nondifferentiable(extremum_weights, initial_weights)


# (the cotangent parameter is named ``cotangent``, the helper's ``ans`` ``extremum``:
# ``g`` and ``ans`` are the rule's own)
@vjp_rule(extremum_grad)
def extremum_grad_vjp(
    g, ans, cotangent, extremum, x, axis=None, keepdims=False, initial=NoValue, where=True
):
    # spreading over the ties, transposed: the weighted sum over each slice
    weights = extremum_weights(extremum, x, axis, keepdims, initial, where)
    return np.sum(g * weights, axis=axis, keepdims=keepdims), None, None, None, None, None, None


@vjp_rule(initial_extremum_grad)
def initial_extremum_grad_vjp(
    g, ans, cotangent, extremum, x, axis=None, keepdims=False, initial=NoValue, where=True
):
    weights = initial_weights(extremum, x, axis, keepdims, initial, where)
    return g * weights, None, None, None, None, None, None


linear(extremum_grad, initial_extremum_grad)


# -- products ------------------------------------------------------------------------------


@transformable
def product_of_others_tangent(d: Any, a: Any, axis: Any = None, where: Any = True) -> Any:
    """The tangent of ``product_of_others(a, axis, where)`` along ``d``: for each element,
    the sum over the other elements j of ``d_j`` times the product of the rest. Its
    Jacobian is the Hessian of the product, symmetric, so this is its transpose too.
    Written with the products before and after each element and their tangents, exact
    where ``a`` holds zeros.

    >>> product_of_others_tangent(np.array([1.0, 0.0, 0.0]), np.array([2.0, 0.0, 5.0]))
    array([0., 5., 0.])
    """
    if where is not True:  # (the elements left out count as ones, and do not move)
        a = np.where(where, a, 1.0)
        d = np.where(where, d, 0.0)
    order = _reduced_last(a, axis)  # the reduced axes moved last, then made one
    moved = np.transpose(a, order)
    rows = np.reshape(moved, _reduced_rows_shape(a, axis))
    drows = np.reshape(np.transpose(d, order), _reduced_rows_shape(a, axis))
    ones = np.ones_like(rows[..., :1])
    zeros = np.zeros_like(drows[..., :1])
    leading = np.concatenate([ones, rows[..., :-1]], axis=-1)
    before = np.cumprod(leading, axis=-1)
    d_leading = np.concatenate([zeros, drows[..., :-1]], axis=-1)
    d_before = cumprod_tangent(d_leading, before, leading, -1)
    # (the products after each element: those before it, of the elements reversed)
    trailing = np.flip(np.concatenate([rows[..., 1:], ones], axis=-1), -1)
    reversed_after = np.cumprod(trailing, axis=-1)
    d_trailing = np.flip(np.concatenate([drows[..., 1:], zeros], axis=-1), -1)
    d_after = np.flip(cumprod_tangent(d_trailing, reversed_after, trailing, -1), -1)
    tangent = d_before * np.flip(reversed_after, -1) + before * d_after
    others = np.reshape(tangent, np.shape(moved))
    return np.transpose(others, inverse_axes(order, len(order)))


# prod_grad(c, x, ...) = c spread over x's shape, times the product of the others (those
# where= holds: the others count as ones and get nothing), times initial where given
@vjp_rule(prod_grad)
def prod_grad_vjp(g, ans, cotangent, x, axis=None, keepdims=False, initial=NoValue, where=True):
    scale = 1 if initial is NoValue else initial
    spread = expand_reduced(cotangent, x, axis, keepdims)
    return (
        np.sum(g * product_of_others(x, axis, where) * where, axis=axis, keepdims=keepdims) * scale,
        product_of_others_tangent(g * spread, x, axis, where) * where * scale,
        None,
        None,
        np.sum(g * prod_grad(cotangent, x, axis, keepdims, NoValue, where)),
        None,
    )


@jvp_rule(prod_grad)
def prod_grad_jvp(
    ans, cotangent, x, axis=None, keepdims=False, initial=NoValue, where=True, *,
    dcotangent, dx, dinitial
):  # fmt: skip
    scale = 1 if initial is NoValue else initial
    spread = expand_reduced(cotangent, x, axis, keepdims)
    return (
        prod_grad(dcotangent, x, axis, keepdims, initial, where),
        spread * product_of_others_tangent(dx, x, axis, where) * where * scale,
        None,
        None,
        dinitial * prod_grad(cotangent, x, axis, keepdims, NoValue, where),
        None,
    )


@transformable
def reverse_cumsum_last(v: Any) -> Any:
    """The cumulative sum of ``v`` along its last axis, taken from the end."""
    return np.flip(np.cumsum(np.flip(v, -1), axis=-1), -1)


@transformable
def cumprod_grad_tangent(cotangent: Any, a: Any, d: Any, axis: Any = None) -> Any:
    """The tangent of ``cumprod_grad(cotangent, np.cumprod(a, axis), a, axis)`` along
    ``d``, the tangent of ``a``: the Hessian of ``<cotangent, cumprod(a)>`` applied to
    ``d`` (symmetric, so its transpose too). Exact where ``a`` holds zeros.

    >>> cumprod_grad_tangent(np.ones(3), np.array([2.0, 0.0, 5.0]), np.array([1.0, 0.0, 0.0]))
    array([0., 6., 0.])
    """
    shape = np.shape(a)
    if axis is None or np.ndim(a) == 0:  # cumprod flattened a
        cotangent, a, d, axis = np.reshape(cotangent, -1), np.reshape(a, -1), np.reshape(d, -1), 0
    c_last = np.moveaxis(np.reshape(cotangent, np.shape(a)), axis, -1)
    a_last, d_last = np.moveaxis(a, axis, -1), np.moveaxis(d, axis, -1)
    if _no_zeros(a):
        # the gradient is rcumsum(c * p) / a with p = cumprod(a), whose tangent p * cumsum(d / a)
        products = np.cumprod(a_last, axis=-1)
        d_products = products * np.cumsum(d_last / a_last, axis=-1)
        tangent = (
            reverse_cumsum_last(c_last * d_products)
            - reverse_cumsum_last(c_last * products) * d_last / a_last
        ) / a_last
        return np.reshape(np.moveaxis(tangent, -1, axis), shape)
    # The gradient is b_j s_j: b_j the product of the elements before j, s_j = c_j +
    # a_{j+1} s_{j+1} running back from the last; each with its tangent, no division.
    leading = np.concatenate([np.ones_like(a_last[..., :1]), a_last[..., :-1]], axis=-1)
    before = np.cumprod(leading, axis=-1)
    d_leading = np.concatenate([np.zeros_like(d_last[..., :1]), d_last[..., :-1]], axis=-1)
    d_before = cumprod_tangent(d_leading, before, leading, -1)
    n = np.shape(a_last)[-1]
    sums = [c_last[..., n - 1]]
    d_sums = [np.zeros_like(c_last[..., n - 1] * d_last[..., n - 1])]
    for j in range(n - 2, -1, -1):
        d_sums.append(d_last[..., j + 1] * sums[-1] + a_last[..., j + 1] * d_sums[-1])
        sums.append(c_last[..., j] + a_last[..., j + 1] * sums[-1])
    s = np.stack(sums[::-1], axis=-1)
    d_s = np.stack(d_sums[::-1], axis=-1)
    tangent = d_before * s + before * d_s
    return np.reshape(np.moveaxis(tangent, -1, axis), shape)


# (cumprod_grad reads a alone, not its ans: a function of the cotangent and a, whose
# derivative in a is the whole derivative of the gradient)
@vjp_rule(cumprod_grad)
def cumprod_grad_vjp(g, ans, cotangent, product, a, axis=None):
    return (
        cumprod_tangent(g, np.cumprod(a, axis=axis), a, axis),
        None,
        cumprod_grad_tangent(cotangent, a, g, axis),
        None,
    )


@jvp_rule(cumprod_grad)
def cumprod_grad_jvp(ans, cotangent, product, a, axis=None, *, dcotangent, da):
    return (
        cumprod_grad(dcotangent, product, a, axis),
        None,
        cumprod_grad_tangent(cotangent, a, da, axis),
        None,
    )


# -- the other reductions and scans --------------------------------------------------------


# shared among the values that are not NaN, transposed: their mean
@vjp_rule(nanmean_grad)
def nanmean_grad_vjp(g, ans, cotangent, a, axis=None, keepdims=False):
    return np.nanmean(np.where(np.isnan(a), np.nan, g), axis=axis, keepdims=keepdims), None, None


@vjp_rule(diff_grad)
def diff_grad_vjp(
    g, ans, cotangent, a, n=1, axis=-1, prepend=None, append=None, part="a"
):  # fmt: skip
    # the transpose of diff's in one part, transposed: diff's tangent in that part
    return diff_tangent(g, a, n, axis, prepend, append, part), None, None, None, None, None, None


linear(nanmean_grad, diff_grad)


# -- np.average ------------------------------------------------------------------------------
# average_grad and average_weights_grad are the two halves of the gradient of
# phi(a, w) = <c, average(a, w)>, whose Hessian is symmetric: linear in a (no a-a block),
# its a-w block the tangent of the normalized weights w / sum(w), and a w-w block. So each
# rule's vjp in an argument is a tangent of the other's (or its own, for w-w).


@transformable
def unlined_weights(grad: Any, a: Any, weights: Any, axis: Any) -> Any:
    """A gradient of ``a``'s shape summed back to the weights' own shape: the transpose
    of :func:`lined_weights`."""
    layout = _weights_layout(a, weights, axis)
    summed = unbroadcast(grad, lined_weights(weights, a, axis))
    moved = np.reshape(summed, np.shape(np.transpose(weights, layout[0])))
    return np.transpose(moved, inverse_axes(layout[0], len(layout[0])))


@transformable
def normalized_weights_tangent(d: Any, a: Any, axis: Any, weights: Any) -> Any:
    """The tangent of ``w / sum(w)`` (summed over ``axis``, lined up with ``a``) along
    ``d``, the weights' tangent."""
    w = lined_weights(weights, a, axis)
    dw = lined_weights(d, a, axis)
    total = np.sum(w, axis=axis, keepdims=True)
    return (dw - w * (np.sum(dw, axis=axis, keepdims=True) / total)) / total


@transformable
def normalized_weights_grad(q: Any, a: Any, axis: Any, weights: Any) -> Any:
    """The gradient of ``<q, w / sum(w)>`` in the weights: the transpose of
    :func:`normalized_weights_tangent`."""
    w = lined_weights(weights, a, axis)
    total = np.sum(w, axis=axis, keepdims=True)
    moved = (q - np.sum(q * w, axis=axis, keepdims=True) / total) / total
    return unlined_weights(moved, a, weights, axis)


@transformable
def weights_hessian_product(d: Any, spread: Any, a: Any, axis: Any, weights: Any) -> Any:
    """The w-w block of the Hessian of ``<c, average(a, w)>`` applied to ``d`` (``spread``:
    ``c`` spread over ``a``'s shape): with ``s`` the sum of the weights and ``e`` the
    deviations from the average, ``-c (e_i + e_k) / s^2`` at ``(i, k)``."""
    w = lined_weights(weights, a, axis)
    dw = lined_weights(d, a, axis)
    total = np.sum(w, axis=axis, keepdims=True)
    deviation = a - np.sum(a * w, axis=axis, keepdims=True) / total
    moved = deviation * np.sum(dw, axis=axis, keepdims=True) + np.sum(
        deviation * dw, axis=axis, keepdims=True
    )
    return unlined_weights(-spread * moved / (total * total), a, weights, axis)


# (average_grad reads its ans for how the cotangent splits, with returned=True, only.
# The average's cotangent spread over a's shape: average_grad without weights, times the
# count)
@vjp_rule(average_grad)
def average_grad_vjp(
    g, ans, cotangent, average, a, axis=None, weights=None, returned=False, keepdims=False
):
    spread = average_grad(cotangent, average, a, axis, None, returned, keepdims) * reduced_count(
        a, axis
    )
    return (
        average_tangent(g, average, a, axis, weights, returned, keepdims),
        None,
        None,
        None,
        None if weights is None else normalized_weights_grad(g * spread, a, axis, weights),
        None,
        None,
    )


@jvp_rule(average_grad)
def average_grad_jvp(
    ans, cotangent, average, a, axis=None, weights=None, returned=False, keepdims=False, *,
    dcotangent, dweights
):  # fmt: skip
    spread = average_grad(cotangent, average, a, axis, None, returned, keepdims) * reduced_count(
        a, axis
    )
    return (
        average_grad(dcotangent, average, a, axis, weights, returned, keepdims),
        None,
        None,
        None,
        None
        if weights is None
        else spread * normalized_weights_tangent(dweights, a, axis, weights),
        None,
        None,
    )


# (average_weights_grad computes the average again from a and the weights: a function of
# the cotangent, a and the weights, its ans read for how the cotangent splits only)
@vjp_rule(average_weights_grad)
def average_weights_grad_vjp(
    g, ans, cotangent, average, a, axis=None, weights=None, returned=False, keepdims=False
):
    spread = average_grad(cotangent, average, a, axis, None, returned, keepdims) * reduced_count(
        a, axis
    )
    lined = None if weights is None else as_weights_of(weights, a, axis)
    found = np.average(a, axis, lined, returned, keepdims=keepdims)
    return (
        average_weights_tangent(g, found, a, axis, weights, returned, keepdims),
        None,
        None if weights is None else spread * normalized_weights_tangent(g, a, axis, weights),
        None,
        None if weights is None else weights_hessian_product(g, spread, a, axis, weights),
        None,
        None,
    )


@jvp_rule(average_weights_grad)
def average_weights_grad_jvp(
    ans, cotangent, average, a, axis=None, weights=None, returned=False, keepdims=False, *,
    dcotangent, da, dweights
):  # fmt: skip
    spread = average_grad(cotangent, average, a, axis, None, returned, keepdims) * reduced_count(
        a, axis
    )
    return (
        average_weights_grad(dcotangent, average, a, axis, weights, returned, keepdims),
        None,
        None if weights is None else normalized_weights_grad(da * spread, a, axis, weights),
        None,
        None if weights is None else weights_hessian_product(dweights, spread, a, axis, weights),
        None,
        None,
    )


# -- np.gradient --------------------------------------------------------------------------------


def gradient_along(h: Any, varargs: Any = (), axis: Any = None, edge_order: int = 1) -> Any:
    """``np.gradient(h, *varargs, axis=axis, edge_order=edge_order)``, the spacings given
    as one tuple, as :func:`gradient_grad` takes them: its transpose.

    >>> gradient_along(np.array([0.0, 1.0, 4.0]))
    array([1., 2., 3.])
    """
    return array_module(h).gradient(h, *varargs, axis=axis, edge_order=edge_order)


# np.gradient is linear in f, gradient_grad its transpose: each the other's vjp (the
# spacings are constants, as np.gradient's rule takes them)
@vjp_rule(gradient_along, multi_output=True)  # (one array per axis)
def gradient_along_vjp(g, ans, h, varargs=(), axis=None, edge_order=1):
    return gradient_grad(g, ans, h, varargs, axis, edge_order), None, None, None


@jvp_rule(gradient_along)
def gradient_along_jvp(ans, h, varargs=(), axis=None, edge_order=1, *, dh):
    return gradient_along(dh, varargs, axis, edge_order), None, None, None


@vjp_rule(gradient_grad)
def gradient_grad_vjp(g, ans, cotangent, derivatives, f, varargs=(), axis=None, edge_order=1):
    return gradient_along(g, varargs, axis, edge_order), None, None, None, None, None


linear(gradient_grad)


# -- complex values ----------------------------------------------------------------------------


@vjp_rule(conjugated)
def conjugated_vjp(g, ans, x):
    return conjugate_if_complex(g, x)


@jvp_rule(conjugated)
def conjugated_jvp(ans, x, *, dx):
    return conjugate_if_complex(dx, x)


# imag_grad(c, x) is c's real part times -1j (0 for a real x): imag_grad(1.0, x)
@vjp_rule(imag_grad)
def imag_grad_vjp(g, ans, cotangent, x):
    return np.real(g * imag_grad(1.0, x)), None


# angle_grad(c, z) is c's real part times -1j / z (0 at z = 0 and for a real z), so its
# gradient in z is the holomorphic one, -angle_grad(c, z) / z
@vjp_rule(angle_grad)
def angle_grad_vjp(g, ans, cotangent, z, deg=False):
    return (
        np.real(g * angle_grad(1.0, z, deg)),
        -g * ans / np.where(z == 0, 1, z),
        None,
    )


@jvp_rule(angle_grad)
def angle_grad_jvp(ans, cotangent, z, deg=False, *, dcotangent, dz):
    return angle_grad(dcotangent, z, deg), -dz * ans / np.where(z == 0, 1, z), None


# cut or padded to a's shape (its real part for a real a), transposed: padded or cut back
@vjp_rule(fit_shape)
def fit_shape_vjp(g, ans, v, a):
    return fit_shape(real_like(g, a), v), None


# rfft's and irfft's gradients are their transposes; transposed again, rfft and irfft (of
# the real part of a real result's cotangent; real for a real cotangent)
@vjp_rule(rfft_grad)
def rfft_grad_vjp(g, ans, cotangent, a, n, axis, norm):
    return real_like(np.fft.rfft(g.real, n, axis, norm), cotangent), None, None, None, None


@vjp_rule(irfft_grad)
def irfft_grad_vjp(g, ans, cotangent, a, n, axis, norm):
    return np.fft.irfft(real_like(g, a), n, axis, norm), None, None, None, None


linear(imag_grad, fit_shape, rfft_grad, irfft_grad)

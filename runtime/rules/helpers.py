"""Small functions that rule bodies (and so generated code) call.

Each takes its array module from its arguments, so the same helper serves NumPy, CuPy and
any array type that implements NumPy's dispatch protocols. Helpers marked
:func:`~astgrad.runtime.rules.registry.shape_only` read some arguments for shape only.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from ..device import array_module
from .registry import shape_only

__all__ = [
    "unbroadcast",
    "expand_reduced",
    "reduced_count",
    "scatter_grad",
    "matmul_grad_left",
    "matmul_grad_right",
    "dot_grad_left",
    "dot_grad_right",
    "inverse_axes",
    "reshape_like",
    "prod_grad",
    "extremum_grad",
    "without_index",
    "assigned_value_grad",
]


def _shape(x: Any) -> tuple:
    shape = getattr(x, "shape", None)
    return np.shape(x) if shape is None else shape


@shape_only(1)
def unbroadcast(g: Any, x: Any) -> Any:
    """Sum ``g`` down to the shape of ``x``, undoing NumPy broadcasting.

    >>> unbroadcast(np.ones((2, 3)), np.ones(3))
    array([2., 2., 2.])
    """
    shape = _shape(x)
    g_shape = _shape(g)
    if g_shape == shape:
        return g
    extra = len(g_shape) - len(shape)
    if extra < 0:
        # A scalar for a one-element array (float(x), x.item()), or the zero placeholder.
        return array_module(g, x).broadcast_to(g, shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and g_shape[extra + i] != 1
    )
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    if extra:
        g = g.reshape(shape)
    return g


def _normalize_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        return tuple(operator.index(a) % ndim for a in axis)
    return (operator.index(axis) % ndim,)


@shape_only(1)
def expand_reduced(g: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Broadcast the cotangent of a reduction of ``x`` back to ``x``'s shape (a view).

    >>> expand_reduced(np.array([1., 2.]), np.zeros((2, 3)), axis=1)
    array([[1., 1., 1.],
           [2., 2., 2.]])
    """
    shape = _shape(x)
    if not keepdims and axis is not None and shape:
        kept = list(shape)
        for a in _normalize_axes(axis, len(shape)):
            kept[a] = 1
        g = g.reshape(kept)
    xp = array_module(g, x)
    return xp.broadcast_to(g, shape)


@shape_only(0)
def reduced_count(x: Any, axis: Any = None) -> int:
    """How many elements of ``x`` each result of a reduction over ``axis`` combines.

    >>> reduced_count(np.zeros((2, 3, 4)), axis=(0, 2))
    8
    """
    shape = _shape(x)
    count = 1
    for a in _normalize_axes(axis, len(shape)):
        count *= shape[a]
    return count


def _is_basic_index(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(
        isinstance(p, (int, np.integer, slice)) or p is None or p is Ellipsis for p in parts
    )


@shape_only(1)
def scatter_grad(g: Any, x: Any, index: Any) -> Any:
    """The gradient of ``x[index]``: zeros like ``x`` with ``g`` added at ``index``.

    Repeated integer indices accumulate, as they must.

    >>> scatter_grad(np.ones(2), np.zeros(3), np.array([0, 0]))
    array([2., 0., 0.])
    """
    xp = array_module(g, x)
    out = xp.zeros(_shape(x), dtype=getattr(g, "dtype", None) or np.result_type(g))
    if _is_basic_index(index) or _is_mask(index):
        out[index] = g
    elif xp is np:
        np.add.at(out, index, g)
    else:
        _scatter_add_device(xp, out, index, g)
    return out


def _is_mask(index: Any) -> bool:
    return getattr(index, "dtype", None) == np.bool_


def without_index(g: Any, index: Any) -> Any:
    """A copy of ``g`` with zeros at ``index``: what flows to an array through ``x[index] = v``.

    >>> without_index(np.ones(3), 1)
    array([1., 0., 1.])
    """
    out = g.copy()
    out[index] = 0
    return out


def assigned_value_grad(g: Any, index: Any) -> Any:
    """``g[index]``: what flows to ``v`` through ``x[index] = v``.

    Raises when an integer index repeats a position: only the last write survives there,
    and NumPy does not say which value that was.
    """
    parts = index if isinstance(index, tuple) else (index,)
    for part in parts:
        if getattr(part, "dtype", None) is not None and part.dtype.kind in "iu" and part.size > 1:
            xp = array_module(part)
            if xp.unique(part.reshape(-1)).size != part.size:
                raise NotImplementedError(
                    "assignment through an integer index that repeats a position has no "
                    "well-defined gradient (only one of the repeated values survives); "
                    "assign through unique indices"
                )
    return g[index]


def _scatter_add_device(xp: Any, out: Any, index: Any, g: Any) -> None:
    add_at = getattr(getattr(xp, "add", None), "at", None)
    if add_at is not None:
        add_at(out, index, g)
        return
    import cupyx  # CuPy before ufunc.at

    cupyx.scatter_add(out, index, g)


def _swap_last(a: Any) -> Any:
    return a.swapaxes(-1, -2)


@shape_only(1)
def matmul_grad_left(g: Any, x: Any, y: Any) -> Any:
    """Gradient of ``x @ y`` with respect to ``x``, for every rank NumPy allows."""
    x_ndim, y_ndim = len(_shape(x)), y.ndim
    if x_ndim == 2 and y_ndim == 2:
        return g @ y.T
    if y_ndim == 1:
        if x_ndim == 1:
            return g * y
        return unbroadcast(g[..., None] * y, x)
    if x_ndim == 1:
        return unbroadcast((y @ g[..., None])[..., 0], x)
    return unbroadcast(g @ _swap_last(y), x)


@shape_only(2)
def matmul_grad_right(g: Any, x: Any, y: Any) -> Any:
    """Gradient of ``x @ y`` with respect to ``y``, for every rank NumPy allows."""
    x_ndim, y_ndim = x.ndim, len(_shape(y))
    if x_ndim == 2 and y_ndim == 2:
        return x.T @ g
    if x_ndim == 1:
        if y_ndim == 1:
            return g * x
        return unbroadcast(x[:, None] * g[..., None, :], y)
    if y_ndim == 1:
        return unbroadcast((_swap_last(x) @ g[..., None])[..., 0], y)
    return unbroadcast(_swap_last(x) @ g, y)


@shape_only(1)
def dot_grad_left(g: Any, a: Any, b: Any) -> Any:
    """Gradient of ``np.dot(a, b)`` with respect to ``a``."""
    a_ndim, b_ndim = len(_shape(a)), np.ndim(b)
    if a_ndim == 0 or b_ndim == 0:
        return unbroadcast(g * b, a)
    xp = array_module(g, b)
    if b_ndim == 1:
        # result[..., ] = sum_k a[..., k] b[k]
        return xp.multiply.outer(g, b) if a_ndim > 1 else g * b
    # result[i..., j..., m] = sum_k a[i..., k] b[j..., k, m]
    g_b_axes = list(range(a_ndim - 1, a_ndim - 1 + b_ndim - 2)) + [g.ndim - 1]
    b_axes = list(range(b_ndim - 2)) + [b_ndim - 1]
    return xp.tensordot(g, b, axes=(g_b_axes, b_axes))


@shape_only(2)
def dot_grad_right(g: Any, a: Any, b: Any) -> Any:
    """Gradient of ``np.dot(a, b)`` with respect to ``b``."""
    a_ndim, b_ndim = np.ndim(a), len(_shape(b))
    if a_ndim == 0 or b_ndim == 0:
        return unbroadcast(g * a, b)
    xp = array_module(g, a)
    a_lead = list(range(a_ndim - 1))
    if b_ndim == 1:
        return xp.tensordot(a, g, axes=(a_lead, list(range(a_ndim - 1))))
    # contract a's leading axes with g's leading axes; result axes (k, j..., m) → (j..., k, m)
    grad = xp.tensordot(a, g, axes=(a_lead, list(range(a_ndim - 1))))
    return xp.moveaxis(grad, 0, b_ndim - 2)


def inverse_axes(axes: Any, ndim: int) -> Any:
    """The permutation that undoes ``np.transpose(x, axes)``; None undoes None.

    >>> inverse_axes((2, 0, 1), 3)
    (1, 2, 0)
    """
    if axes is None:
        return None
    normalized = [operator.index(a) % ndim for a in axes]
    inverse = [0] * ndim
    for position, axis in enumerate(normalized):
        inverse[axis] = position
    return tuple(inverse)


@shape_only(1)
def reshape_like(g: Any, x: Any) -> Any:
    """``g`` reshaped to ``x``'s shape (the gradient of every pure reshape)."""
    return g.reshape(_shape(x))


def _exclusive_cumprod(x: Any, axis: int, reverse: bool) -> Any:
    xp = array_module(x)
    if reverse:
        x = xp.flip(x, axis)
    ones = xp.ones_like(xp.take(x, [0], axis=axis))
    shifted = xp.concatenate([ones, xp.take(x, range(x.shape[axis] - 1), axis=axis)], axis)
    result = xp.cumprod(shifted, axis=axis)
    return xp.flip(result, axis) if reverse else result


def prod_grad(g: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Gradient of ``np.prod(x, axis)``: the product of all *other* elements, exact at zeros."""
    xp = array_module(g, x)
    x = xp.asarray(x)
    if x.ndim == 0:
        return g * xp.ones_like(x)
    if axis is None:
        flat = x.reshape(-1)
        others = _exclusive_cumprod(flat, 0, False) * _exclusive_cumprod(flat, 0, True)
        return (g * others).reshape(x.shape)
    axes = _normalize_axes(axis, x.ndim)
    if len(axes) > 1:
        # Bring the reduced axes together at the end and treat them as one.
        kept = [a for a in range(x.ndim) if a not in axes]
        moved = xp.transpose(x, kept + list(axes))
        merged = moved.reshape(moved.shape[: len(kept)] + (-1,))
        others = _exclusive_cumprod(merged, -1, False) * _exclusive_cumprod(merged, -1, True)
        others = xp.transpose(others.reshape(moved.shape), inverse_axes(kept + list(axes), x.ndim))
    else:
        (a,) = axes
        others = _exclusive_cumprod(x, a, False) * _exclusive_cumprod(x, a, True)
    return expand_reduced(g, x, axis, keepdims) * others


def extremum_grad(g: Any, ans: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Gradient of max/min reductions: ``g`` shared equally among the tied extreme elements."""
    hits = x == expand_reduced(ans, x, axis, keepdims)
    count = hits.sum(axis=axis, keepdims=True)
    return expand_reduced(g, x, axis, keepdims) * hits / count

"""Small functions that rule bodies (and so generated code) call.

Each takes its array module from its arguments, so the same helper serves NumPy, CuPy and
any array type that implements NumPy's dispatch protocols. Helpers marked
:func:`~astgrad.runtime.rules.registry.shape_only` read some arguments for shape only.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from ..adjoints import Entries, Parts, matrix_error
from ..device import array_module
from .registry import shape_only

__all__ = [
    "unbroadcast",
    "expand_reduced",
    "reduced_count",
    "scatter_grad",
    "matmul_grad_left",
    "matmul_grad_right",
    "dot_2d",
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


def _dtype(g: Any) -> Any:
    """The dtype of a cotangent, which generated code may pass as a Python float."""
    dtype = getattr(g, "dtype", None)
    return np.result_type(g) if dtype is None else dtype


@shape_only(1)
def cast_like(g: Any, x: Any) -> Any:
    """``g`` in the dtype of a float array ``x`` (unchanged for numbers and other dtypes),
    for rules whose primitive computes in another precision than its input's.

    >>> cast_like(np.ones(2), np.zeros(2, dtype=np.float32)).dtype
    dtype('float32')
    """
    dtype = getattr(x, "dtype", None)
    if dtype is None or dtype.kind != "f" or getattr(g, "dtype", dtype) == dtype:
        return g
    return array_module(g, x).asarray(g, dtype=dtype)


_add_reduce = np.add.reduce
#: (rows, dtype) -> a vector of ones: summing a float matrix's rows as ones @ g is one BLAS
#: call, about three times cheaper than np.add.reduce on the small matrices a bias sees
_ONES: dict[tuple, Any] = {}


def _sum_rows(g: Any) -> Any:
    """``g.sum(axis=0)`` of a host array; for a float matrix, as a product with ones."""
    dtype = g.dtype
    if g.ndim == 2 and (dtype is _FLOAT64 or dtype is _FLOAT32):
        key = (g.shape[0], dtype)
        ones = _ONES.get(key)
        if ones is None:
            if len(_ONES) > 64:  # many batch sizes: keep the cache small
                _ONES.clear()
            ones = _ONES[key] = np.ones(g.shape[0], dtype)
        return ones.dot(g)
    return _add_reduce(g, 0)


@shape_only(1)
def unbroadcast(g: Any, x: Any) -> Any:
    """Sum ``g`` down to the shape of ``x``, undoing NumPy broadcasting.

    >>> unbroadcast(np.ones((2, 3)), np.ones(3))
    array([2., 2., 2.])
    """
    kind = type(x)
    if kind is np.ndarray and type(g) is np.ndarray:
        # Host arrays, the common cases first and kept cheap: nothing was broadcast, or a
        # bias was added to every row.
        shape, g_shape = x.shape, g.shape
        if g_shape == shape:
            return g
        if len(g_shape) == len(shape) + 1 and g_shape[1:] == shape:
            return _sum_rows(g)
    else:
        if kind is float and type(g) is float:
            return g
        if isinstance(x, np.matrix) or isinstance(g, np.matrix):
            raise matrix_error("a value in the computation")
        shape, g_shape = _shape(x), _shape(g)
        if g_shape == shape:
            return g
    extra = len(g_shape) - len(shape)
    if extra < 0:
        if not g_shape:
            # A scalar for a one-element array (float(x), x.item()), or the zero placeholder.
            return array_module(g, x).broadcast_to(g, shape)
        g = g.reshape((1,) * -extra + g_shape)  # line the axes up as broadcasting does
        g_shape = g.shape
        extra = 0
    if extra == 1 and g_shape[1:] == shape:
        return g.sum(axis=0)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and g_shape[extra + i] != 1
    )
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    if extra:
        g = g.reshape(g.shape[extra:])
    if g.shape != shape:
        # ``g`` is constant along an axis that ``x`` has (it grew from the zero placeholder
        # or a scalar cotangent); the gradient is the same along it.
        g = array_module(g, x).broadcast_to(g, shape)
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
    if axis is None and type(x) is np.ndarray and type(g) in _HOST_SCALARS:
        # The full reduction of a host array, the usual loss: a read-only view with zero
        # strides, built directly (np.broadcast_to costs several microseconds of Python).
        one = np.asarray(g, dtype=x.dtype if x.dtype.kind == "f" else None)
        view = np.ndarray(shape, one.dtype, one, 0, (0,) * len(shape))
        view.flags.writeable = False
        return view
    if isinstance(x, np.matrix):
        raise matrix_error("a value in the computation")
    xp = array_module(g, x)
    if not keepdims and axis is not None and shape:
        kept = list(shape)
        for a in _normalize_axes(axis, len(shape)):
            kept[a] = 1
        # xp.reshape, not g.reshape: generated code seeds a scalar result with a float
        g = xp.reshape(g, kept)
    return xp.broadcast_to(g, shape)


# Cotangents of a full reduction: one number, on the host.
_HOST_SCALARS = (float, np.float64, np.float32, np.float16)


@shape_only(0)
def reduced_count(x: Any, axis: Any = None) -> int:
    """How many elements of ``x`` each result of a reduction over ``axis`` combines.

    >>> reduced_count(np.zeros((2, 3, 4)), axis=(0, 2))
    8
    """
    if axis is None:
        size = getattr(x, "size", None)
        if type(size) is int:
            return size
    shape = _shape(x)
    count = 1
    for a in _normalize_axes(axis, len(shape)):
        count *= shape[a]
    return count


def _is_basic_index(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (int, np.integer, slice)) or p is None or p is Ellipsis for p in parts)


@shape_only(1)
def scatter_grad(g: Any, x: Any, index: Any) -> Any:
    """The gradient of ``x[index]``: zeros like ``x`` with ``g`` added at ``index``.

    Repeated integer indices accumulate, as they must.

    >>> scatter_grad(np.ones(2), np.zeros(3), np.array([0, 0]))
    array([2., 0., 0.])
    """
    if isinstance(x, (list, tuple)):
        # One of the arrays a primitive returned together (np.split, np.linalg.qr).
        return _part_grad(g, x, index)
    if isinstance(x, dict):
        # An entry of a dict that generated code read as if it were an array (a helper's
        # parameter, given a dict at run time): the adjoint of a dict, key by key.
        return Entries({index: g})
    xp = array_module(g, x)
    out = xp.zeros(_shape(x), dtype=_dtype(g))
    _put(xp, out, index, g)
    return out


def _put(xp: Any, out: Any, index: Any, g: Any) -> None:
    """``out[index] += g`` for ``out`` of zeros, accumulating where an integer index repeats
    a position."""
    if _is_basic_index(index) or _is_mask(index):
        out[index] = g
    elif xp is np:
        np.add.at(out, index, g)
    else:
        _scatter_add_device(xp, out, index, g)


def _part_grad(g: Any, parts: Any, index: Any) -> Parts:
    grads = [array_module(p).zeros_like(p) for p in parts]
    if isinstance(index, slice):
        for position, part in zip(range(len(parts))[index], g):
            grads[position] = part
    else:
        grads[operator.index(index)] = g
    return Parts(grads)


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
    """What flows to ``v`` through ``x[index] = v``: ``g[index]``, except where an integer
    index writes one position several times. NumPy then keeps the last value written, so
    only that write receives the position's cotangent; the earlier ones were overwritten
    and get zero (``x[[0, 0]] = v`` makes ``x[0]`` equal ``v[1]``, and ``v[0]`` no part of
    the result). ``x[i] += v`` is ``x[i] = x[i] + v``, so the same holds for it.

    >>> assigned_value_grad(np.array([1.0, 2.0, 3.0]), [0, 0, 2])
    array([0., 1., 3.])
    """
    read = g[index]
    if _is_basic_index(index) or _is_mask(index):
        return read  # every position is written once
    if array_module(g) is not np:
        # CuPy leaves undefined which of several writes to one position survives.
        if _repeats_a_position(index, _shape(g)):
            raise NotImplementedError(
                "assignment on a device through an integer index that repeats a position "
                "has no well-defined gradient (which of the repeated values survives is "
                "undefined there); assign through unique indices"
            )
        return read
    last = _last_writes(index, _shape(g))
    return read if last is None else array_module(read).where(last, read, 0)


def _index_arrays(index: Any) -> list:
    """The integer index arrays of ``index`` (lists as NumPy reads them, as arrays)."""
    parts = index if isinstance(index, tuple) else (index,)
    arrays = []
    for part in parts:
        if isinstance(part, list):
            part = np.asarray(part)
        kind = getattr(getattr(part, "dtype", None), "kind", None)
        if kind is not None and kind in "iu" and np.ndim(part) > 0:
            arrays.append(part)
    return arrays


def _in_c_order(array: Any) -> bool:
    """Whether walking ``array`` in C order walks its memory forwards: no negative stride,
    and strides that shrink from the first axis to the last (broadcast axes aside)."""
    last = None
    for n, stride in zip(array.shape, array.strides):
        if n <= 1 or stride == 0:
            continue
        if stride < 0 or (last is not None and stride > last):
            return False
        last = stride
    return True


def _last_writes(index: Any, shape: tuple) -> Any:
    """For ``x[index] = v`` on a host array of ``shape``: a boolean array of the shape of
    ``x[index]``, True where that write is the last to its position (the one NumPy keeps);
    None when no position is written twice.

    NumPy writes in the C order of the index when there is one index array, or when all
    of them lie in memory in C order (checked against NumPy for every layout); otherwise
    the order follows the arrays' memory layout, and the stored value's, which is not known
    here, so a repeated position is refused."""
    ids = np.full(shape, -1, dtype=np.intp)
    written = ids[index]
    order = np.arange(written.size, dtype=np.intp).reshape(written.shape)
    ids[index] = order
    last = ids[index] == order
    if last.all():
        return None
    arrays = _index_arrays(index)
    if len(arrays) > 1 and not all(_in_c_order(a) for a in arrays):
        raise NotImplementedError(
            "assignment through integer index arrays that repeat a position and are not "
            "laid out in C order: which of the repeated values NumPy keeps depends on the "
            "memory layout, so the gradient is not well defined here; pass the index arrays "
            "through np.ascontiguousarray, or assign through unique indices"
        )
    return last


def _repeats_a_position(index: Any, shape: tuple) -> bool:
    """Whether the integer arrays of ``index`` name some position of an array of ``shape``
    twice. Arrays that together make the whole index (``x[rows, cols]``) name a position
    by all their entries at once, so they are checked together: ``x[[0, 1], [1, 1]]``
    names two positions; an array beside slices names a slice per entry."""
    parts = index if isinstance(index, tuple) else (index,)
    arrays = _index_arrays(index)
    if not arrays:
        return False
    xp = array_module(*arrays)
    if len(arrays) > 1 and len(arrays) == len(parts) <= len(shape):
        dims = tuple(shape[: len(parts)])
        together = [p % d for p, d in zip(xp.broadcast_arrays(*arrays), dims)]
        flat = xp.ravel_multi_index(tuple(together), dims).reshape(-1)
        return xp.unique(flat).size != flat.size
    return any(p.size > 1 and xp.unique(p.reshape(-1)).size != p.size for p in arrays)


def scatter_add(out: Any, index: Any, values: Any) -> None:
    """``np.add.at(out, index, values)`` for an array of any module: every value added at
    its position, repeated positions included.

    >>> out = np.zeros(3)
    >>> scatter_add(out, [0, 0, 2], 1.0)
    >>> out
    array([2., 0., 1.])
    """
    xp = array_module(out)
    if xp is np:
        np.add.at(out, index, values)
    else:
        _scatter_add_device(xp, out, index, values)


def _scatter_add_device(xp: Any, out: Any, index: Any, g: Any) -> None:
    add_at = getattr(getattr(xp, "add", None), "at", None)
    if add_at is not None:
        add_at(out, index, g)
        return
    import cupyx  # CuPy before ufunc.at

    cupyx.scatter_add(out, index, g)


_FLOAT64 = np.dtype(np.float64)
_FLOAT32 = np.dtype(np.float32)


def dot_2d(a: Any, b: Any) -> Any:
    """``a @ b`` for 2-D ``a`` and ``b``. Two host arrays of one BLAS float dtype take
    ``ndarray.dot``: the same BLAS product, to the bit, without the matmul ufunc's dispatch,
    which costs as much again on small matrices. Anything else (and a mismatch of inner
    dimensions, for matmul's message) is ``a @ b``.

    >>> dot_2d(np.ones((2, 3)), np.ones((3, 1)))
    array([[3.],
           [3.]])
    """
    if type(a) is np.ndarray and type(b) is np.ndarray:
        dtype = a.dtype
        if (
            b.dtype is dtype
            and (dtype is _FLOAT64 or dtype is _FLOAT32)
            and a.ndim == 2
            and b.ndim == 2
            and a.shape[1] == b.shape[0]
        ):
            return a.dot(b)
    return a @ b


def _swap_last(a: Any) -> Any:
    return a.swapaxes(-1, -2)


@shape_only(1)
def matmul_grad_left(g: Any, x: Any, y: Any) -> Any:
    """Gradient of ``x @ y`` with respect to ``x``, for every rank NumPy allows."""
    x_ndim, y_ndim = len(_shape(x)), y.ndim
    if x_ndim == 2 and y_ndim == 2:
        return dot_2d(g, y.T)
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
        return dot_2d(x.T, g)
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
    if type(g) is float:  # the cotangent of a number (np.squeeze(1.5) in generated code)
        g = np.asarray(g)
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
    # (_dtype, not x.dtype: x may be a Python float, np.max(1.5))
    return expand_reduced(g, x, axis, keepdims) * hits / count.astype(_dtype(x))


# -- reductions and scans ---------------------------------------------------------------


def divide_or_zero(x: Any, y: Any) -> Any:
    """``x / y``, and 0 where ``y`` is 0: the subgradient of a norm or a std at zero.

    >>> divide_or_zero(np.array([1.0, 1.0]), np.array([2.0, 0.0]))
    array([0.5, 0. ])
    """
    xp = array_module(x, y)
    return xp.where(y == 0, 0, x / xp.where(y == 0, 1, y))


def centered(a: Any, axis: Any = None) -> Any:
    """``a`` minus its mean over ``axis`` (kept for broadcasting): the core of var and std.

    >>> centered(np.array([1.0, 2.0, 6.0]))
    array([-2., -1.,  3.])
    """
    # (the module's mean, not a.mean: a may be a Python float, np.var(1.5))
    return a - array_module(a).mean(a, axis=axis, keepdims=True)


def _reverse_cumsum(x: Any, axis: int) -> Any:
    xp = array_module(x)
    return xp.flip(xp.cumsum(xp.flip(x, axis), axis=axis), axis)


@shape_only(1)
def cumsum_grad(g: Any, a: Any, axis: Any = None) -> Any:
    """Gradient of ``np.cumsum(a, axis)``: the cumulative sum of ``g`` taken backwards.

    >>> cumsum_grad(np.ones(3), np.zeros(3))
    array([3., 2., 1.])
    """
    if axis is None:  # cumsum flattened a
        return _reverse_cumsum(g, 0).reshape(_shape(a))
    return _reverse_cumsum(g, operator.index(axis))


def cumprod_grad(g: Any, ans: Any, a: Any, axis: Any = None) -> Any:
    """Gradient of ``np.cumprod(a, axis)``, exact where ``a`` has zeros.

    >>> cumprod_grad(np.ones(3), np.array([2.0, 0.0, 0.0]), np.array([2.0, 0.0, 5.0]))
    array([ 1., 12.,  0.])
    """
    xp = array_module(g, a)
    a = xp.asarray(a)
    shape = a.shape
    if axis is None or a.ndim == 0:  # cumprod flattened a
        a, ans, axis = a.reshape(-1), ans.reshape(-1), 0
    axis = operator.index(axis) % a.ndim
    if bool((xp.abs(a) >= np.finfo(a.dtype).tiny).all()):
        # d ans_i / d a_j = ans_i / a_j for i >= j
        return (_reverse_cumsum(g * ans, axis) / a).reshape(shape)
    # With zeros (or subnormal values, where g * ans underflows before the division):
    # grad_j = prod(a_k, k < j) * s_j, where s_j = g_j + a_{j+1} s_{j+1} runs back from the
    # last element; no division.
    g_last, a_last = xp.moveaxis(g.reshape(a.shape), axis, -1), xp.moveaxis(a, axis, -1)
    n = a_last.shape[-1]
    before = _exclusive_cumprod(a_last, -1, False)
    sums = [g_last[..., n - 1]]
    for j in range(n - 2, -1, -1):
        sums.append(g_last[..., j] + a_last[..., j + 1] * sums[-1])
    grad = before * xp.stack(sums[::-1], axis=-1)
    return xp.moveaxis(grad, -1, axis).reshape(shape)


def _average_weights(a: Any, weights: Any, axis: Any) -> tuple[Any, Any]:
    """``weights`` as ``np.average`` uses them: broadcast against ``a``. Returns the
    broadcast weights and a function that sums a gradient of that shape back to the
    weights' own shape."""
    xp = array_module(a, weights)
    shape = _shape(weights)
    if shape == a.shape:
        return weights, lambda grad: grad
    # Weights along ``axis``: NumPy orders their axes as the axes are sorted.
    axes = _normalize_axes(axis, a.ndim)
    order = sorted(range(len(axes)), key=lambda i: axes[i])
    lined_up = xp.transpose(weights, order).reshape(
        [n if d in axes else 1 for d, n in enumerate(a.shape)]
    )
    others = tuple(d for d in range(a.ndim) if d not in axes)

    def back(grad: Any) -> Any:
        summed = grad.sum(axis=others) if others else grad
        return xp.transpose(summed, inverse_axes(order, len(order)))

    return lined_up, back


def _average_cotangents(g: Any, ans: Any, returned: bool) -> tuple[Any, Any, Any]:
    """(cotangent of the average, of the sum of weights or None, the average)."""
    if not returned:
        return g, None, ans
    g_average, g_total = output_parts(g, ans)
    return g_average, g_total, ans[0]


def average_grad(
    g: Any,
    ans: Any,
    a: Any,
    axis: Any = None,
    weights: Any = None,
    returned: bool = False,
    keepdims: bool = False,
) -> Any:
    """Gradient of ``np.average(a, axis, weights)`` with respect to ``a``."""
    g, _, _ = _average_cotangents(g, ans, returned)
    if weights is None:
        return expand_reduced(g / reduced_count(a, axis), a, axis, keepdims)
    w, _ = _average_weights(a, weights, axis)
    return expand_reduced(g, a, axis, keepdims) * (w / w.sum(axis=axis, keepdims=True))


def average_weights_grad(
    g: Any,
    ans: Any,
    a: Any,
    axis: Any = None,
    weights: Any = None,
    returned: bool = False,
    keepdims: bool = False,
) -> Any:
    """Gradient of ``np.average(a, axis, weights)`` with respect to ``weights``:
    ``(a - average) / sum(weights)``, summed back to the weights' shape."""
    if weights is None:
        return None  # np.average(a) without weights: nothing to differentiate
    g, g_total, average = _average_cotangents(g, ans, returned)
    w, back = _average_weights(a, weights, axis)
    deviation = a - expand_reduced(average, a, axis, keepdims)
    grad = expand_reduced(g, a, axis, keepdims) * deviation / w.sum(axis=axis, keepdims=True)
    if g_total is not None:
        grad = grad + expand_reduced(g_total, a, axis, keepdims)
    return back(grad)


def nanmean_grad(g: Any, a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Gradient of ``np.nanmean``: ``g`` shared among the elements that are not NaN."""
    xp = array_module(g, a)
    kept = ~xp.isnan(a)
    count = kept.sum(axis=axis, keepdims=True).astype(_dtype(a))
    return expand_reduced(g, a, axis, keepdims) * kept / count


@shape_only(1)
def trace_grad(g: Any, a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    """Gradient of ``np.trace(a, offset, axis1, axis2)``: ``g`` along that diagonal."""
    shape = _shape(a)
    n1, n2 = shape[axis1], shape[axis2]
    length = max(0, min(n1, n2 - offset) if offset >= 0 else min(n1 + offset, n2))
    g = array_module(g).asarray(g)
    along = array_module(g).broadcast_to(g[..., None], g.shape + (length,))
    return place_diagonal(along, a, offset, axis1, axis2)


@shape_only(1)
def diff_grad(
    g: Any,
    a: Any,
    n: int = 1,
    axis: int = -1,
    prepend: Any = None,
    append: Any = None,
    part: str = "a",
) -> Any:
    """Gradient of ``np.diff(a, n, axis, prepend, append)`` with respect to ``a`` (or to
    ``prepend`` or ``append``, as ``part`` says)."""
    xp = array_module(g)
    if getattr(g, "size", 1) == 0:
        # An empty difference (n at least the length): nothing depends on the input.
        part_value = {"a": a, "prepend": prepend, "append": append}[part]
        return xp.zeros(_shape(part_value), dtype=_dtype(g))
    for _ in range(n):
        # y_i = x_{i+1} - x_i: x_j gets g_{j-1} - g_j (zero beyond the ends).
        g = xp.moveaxis(g, axis, -1)
        zero = xp.zeros_like(g[..., :1])
        g = xp.concatenate([zero, g], -1) - xp.concatenate([g, zero], -1)
        g = xp.moveaxis(g, -1, axis)
    before = 0 if prepend is None else _diff_extra(prepend, axis)
    size = _shape(a)[axis]
    if part == "prepend":
        return unbroadcast(xp.take(g, xp.arange(before), axis=axis), prepend)
    if part == "append":
        after = g.shape[axis] - before - size
        return unbroadcast(
            xp.take(g, xp.arange(before + size, before + size + after), axis=axis), append
        )
    return xp.take(g, xp.arange(before, before + size), axis=axis)


def _diff_extra(extra: Any, axis: int) -> int:
    """How many entries ``np.diff``'s prepend or append adds along ``axis``."""
    shape = np.shape(extra)
    return 1 if len(shape) == 0 else shape[axis]


# -- shapes: joining, splitting, tiling --------------------------------------------------


@shape_only(1)
def output_parts(g: Any, ans: Any) -> list:
    """The cotangents of the outputs of a primitive that returns several arrays, one per
    output in order, with zeros where no gradient flowed.

    ``g`` comes as a tuple or list (the tape, a user's cotangent), as :class:`Parts` (the
    generated code), or as one array when the primitive returned a single part.
    """
    if isinstance(g, (list, tuple)):
        parts = list(g)
    elif len(ans) and np.ndim(g) == np.ndim(ans[0]) + 1 and len(g) == len(ans):
        parts = list(g)  # the parts stacked into one array
    else:
        parts = [g]
    if len(parts) != len(ans):
        raise ValueError(
            f"internal error: {len(parts)} cotangents for a result of {len(ans)} arrays"
        )
    return [
        array_module(out).zeros_like(out) if p is None or type(p) is int else p
        for p, out in zip(parts, ans)
    ]


@shape_only(1, 2)
def join_elements(g: Any, ans: Any, x: Any) -> Any:
    """Gradient of splitting ``x`` into its elements, in C order (``t.tolist()`` in a
    function run on the tape): the elements' cotangents back in ``x``'s shape.

    >>> join_elements((np.float64(1.0), None), (np.float64(3.0), np.float64(4.0)), np.ones(2))
    array([1., 0.])
    """
    parts = output_parts(g, ans)
    xp = array_module(*parts)
    return xp.stack([xp.asarray(p) for p in parts]).reshape(_shape(x))


@shape_only(1)
def split_grad(g: Any, ans: Any, axis: int = 0) -> Any:
    """Gradient of ``np.split`` / ``np.array_split``: the parts' cotangents joined back."""
    parts = output_parts(g, ans)
    return array_module(*parts).concatenate(parts, axis=axis)


@shape_only(0)
def hsplit_axis(ary: Any) -> int:
    """The axis ``np.hsplit`` splits along: 1, or 0 for one-dimensional arrays."""
    return 1 if len(_shape(ary)) > 1 else 0


@shape_only(1)
def concatenate_grads(g: Any, arrays: Any, axis: Any = 0) -> Any:
    """Gradient of ``np.concatenate(arrays, axis)``: ``g`` cut back into one piece per array.

    >>> concatenate_grads(np.arange(5.0), [np.zeros(2), np.zeros(3)])
    Parts([array([0., 1.]), array([2., 3., 4.])])
    """
    xp = array_module(g)
    if axis is None:  # the arrays were flattened
        g, axis = g.reshape(-1), 0
        sizes = [int(np.prod(_shape(a))) for a in arrays]
    else:
        sizes = [_shape(a)[axis] for a in arrays]
    bounds = np.cumsum(sizes)[:-1].tolist()
    pieces = xp.split(g, bounds, axis=axis)
    return _per_array(Parts(piece.reshape(_shape(a)) for piece, a in zip(pieces, arrays)), arrays)


def _per_array(parts: Parts, arrays: Any) -> Any:
    """The gradients of the arrays a join took, as the join was given them: one per array
    of a list or tuple, or, for one array joined as the sequence of its rows
    (``np.vstack(x)``, ``np.concatenate(x)``), one array of its shape."""
    if isinstance(arrays, (list, tuple)):
        return parts
    return array_module(*parts).stack(list(parts)).reshape(_shape(arrays))


@shape_only(1)
def unstack(g: Any, arrays: Any, axis: int = 0) -> Any:
    """Gradient of ``np.stack(arrays, axis)``: ``g``'s slices along ``axis``."""
    xp = array_module(g)
    moved = xp.moveaxis(g, axis, 0)
    return _per_array(Parts(moved[i].reshape(_shape(a)) for i, a in enumerate(arrays)), arrays)


def _stand_in(shape: Any) -> np.ndarray:
    """An array of ``shape`` that takes no memory, for asking NumPy about shapes."""
    return np.broadcast_to(np.empty((), dtype=bool), tuple(shape))


def _join_grads(g: Any, arrays: Any, least: Any, axis: int) -> Any:
    """``g`` cut back into the arrays that ``least`` (np.atleast_Nd) made and ``axis`` joined."""
    grads = concatenate_grads(g, [least(_stand_in(_shape(a))) for a in arrays], axis)
    return _per_array(Parts(part.reshape(_shape(a)) for part, a in zip(grads, arrays)), arrays)


@shape_only(1)
def hstack_grads(g: Any, tup: Any) -> Any:
    """Gradient of ``np.hstack``: along the first axis for 1-D arrays, else the second."""
    return _join_grads(g, tup, np.atleast_1d, 0 if np.ndim(g) == 1 else 1)


@shape_only(1)
def vstack_grads(g: Any, tup: Any) -> Any:
    """Gradient of ``np.vstack`` (arrays made at least 2-D, joined along the first axis)."""
    return _join_grads(g, tup, np.atleast_2d, 0)


@shape_only(1)
def dstack_grads(g: Any, tup: Any) -> Any:
    """Gradient of ``np.dstack`` (arrays made at least 3-D, joined along the third axis)."""
    return _join_grads(g, tup, np.atleast_3d, 2)


def _as_column(a: Any) -> Any:
    return a.reshape(-1, 1) if a.ndim < 2 else a


@shape_only(1)
def column_stack_grads(g: Any, tup: Any) -> Any:
    """Gradient of ``np.column_stack`` (1-D arrays become columns, joined along axis 1)."""
    return _join_grads(g, tup, _as_column, 1)


@shape_only(1)
def tile_grad(g: Any, A: Any, reps: Any) -> Any:
    """Gradient of ``np.tile(A, reps)``: the tiles' cotangents added up.

    >>> tile_grad(np.arange(6.0), np.zeros(2), 3)
    array([6., 9.])
    """
    shape = _shape(A)
    reps = (reps,) if np.ndim(reps) == 0 else tuple(reps)
    ndim = max(len(shape), len(reps))
    shape_full = (1,) * (ndim - len(shape)) + tuple(shape)
    reps_full = (1,) * (ndim - len(reps)) + reps
    interleaved = [n for pair in zip(reps_full, shape_full) for n in pair]
    summed = g.reshape(interleaved).sum(axis=tuple(range(0, 2 * ndim, 2)))
    return summed.reshape(shape)


@shape_only(1)
def repeat_grad(g: Any, a: Any, repeats: Any, axis: Any = None) -> Any:
    """Gradient of ``np.repeat(a, repeats, axis)``: each element collects its copies.

    >>> repeat_grad(np.arange(5.0), np.zeros(2), [2, 3])
    array([1., 9.])
    """
    xp = array_module(g)
    shape = _shape(a)
    if axis is None:  # repeat flattened a
        grad = repeat_grad(g, _stand_in((int(np.prod(shape)),)), repeats, 0)
        return grad.reshape(shape)
    axis = operator.index(axis) % len(shape)
    n = shape[axis]
    if np.ndim(repeats) == 0 or np.size(repeats) == 1:
        count = int(np.reshape(repeats, -1)[0]) if np.ndim(repeats) else int(repeats)
        split = shape[:axis] + (n, count) + shape[axis + 1 :]
        return g.reshape(split).sum(axis=axis + 1)
    owner = np.repeat(np.arange(n), np.asarray(repeats))
    out = xp.zeros(shape, dtype=_dtype(g))
    _put(xp, out, (slice(None),) * axis + (xp.asarray(owner),), g)
    return out


@shape_only(1)
def place_diagonal(g: Any, a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    """Zeros shaped like ``a`` with ``g`` on the diagonal that ``np.diagonal(a, offset,
    axis1, axis2)`` reads (its gradient).

    >>> place_diagonal(np.array([1.0, 2.0]), np.zeros((2, 3)), 1)
    array([[0., 1., 0.],
           [0., 0., 2.]])
    """
    xp = array_module(g)
    out = xp.zeros(_shape(a), dtype=_dtype(g))
    view = xp.moveaxis(out, (axis1, axis2), (-2, -1))
    steps = xp.arange(g.shape[-1])
    rows = steps + max(-offset, 0)
    cols = steps + max(offset, 0)
    view[..., rows, cols] = g
    return out


@shape_only(1)
def diag_grad(g: Any, v: Any, k: int = 0) -> Any:
    """Gradient of ``np.diag(v, k)``: the diagonal back for a vector ``v``, the diagonal
    put in place for a matrix ``v``."""
    if len(_shape(v)) == 1:
        return array_module(g).diagonal(g, k)
    return place_diagonal(g, v, k)


def negated(shift: Any) -> Any:
    """``-shift`` for an int or a tuple of ints (to undo ``np.roll``)."""
    if isinstance(shift, (tuple, list)):
        return tuple(-s for s in shift)
    return -shift


_PAD_MODES_BY_INDEX = frozenset({"edge", "reflect", "symmetric", "wrap"})


@shape_only(1)
def unpad(
    g: Any, array: Any, pad_width: Any, mode: Any = "constant", reflect_type: str = "even"
) -> Any:
    """Gradient of ``np.pad``: the middle of ``g`` in constant mode; in the modes that copy
    elements (edge, reflect, symmetric, wrap), each copy's cotangent added to its source."""
    shape = _shape(array)
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.intp), (len(shape), 2))
    if mode == "constant" or mode == "empty":
        return g[tuple(slice(lo, lo + n) for (lo, _), n in zip(widths.tolist(), shape))]
    if mode in _PAD_MODES_BY_INDEX and reflect_type == "even":
        # Pad the positions instead of the values: each padded entry names its source.
        xp = array_module(g)
        size = int(np.prod(shape))
        sources = np.pad(np.arange(size).reshape(shape), widths, mode=mode)
        out = xp.zeros(size, dtype=_dtype(g))
        _put(xp, out, xp.asarray(sources.reshape(-1)), g.reshape(-1))
        return out.reshape(shape)
    extra = "" if reflect_type == "even" else f", reflect_type={reflect_type!r}"
    raise NotImplementedError(
        f"np.pad(..., mode={mode!r}{extra}) "
        "has no derivative in astgrad; the constant, edge, reflect, symmetric and wrap "
        "modes do"
    )


@shape_only(1)
def pad_fill_grad(g: Any, array: Any, pad_width: Any, constant_values: Any = 0) -> Any:
    """Gradient of ``np.pad(array, pad_width, constant_values=c)`` with respect to one
    number ``c``: the cotangent summed over the padding."""
    if np.ndim(constant_values) != 0:
        raise NotImplementedError(
            "np.pad: astgrad differentiates constant_values only when it is one number; "
            "pad with 0 and add the constants separately"
        )
    return g.sum() - unpad(g, array, pad_width).sum()


# -- selection and creation -------------------------------------------------------------


@shape_only(1)
def take_grad(g: Any, a: Any, indices: Any, axis: Any = None, mode: str = "raise") -> Any:
    """Gradient of ``np.take(a, indices, axis)``: ``g`` added at the positions taken.

    >>> take_grad(np.ones(3), np.zeros(2), [1, 1, 0])
    array([1., 2.])
    """
    xp = array_module(g)
    shape = _shape(a)
    if axis is None:  # take flattened a
        flat = take_grad(g, _stand_in((int(np.prod(shape)),)), indices, 0, mode)
        return flat.reshape(shape)
    axis = operator.index(axis) % len(shape)
    if mode == "wrap":
        indices = np.mod(indices, shape[axis])
    elif mode == "clip":
        indices = np.clip(indices, 0, shape[axis] - 1)
    out = xp.zeros(shape, dtype=_dtype(g))
    _put(xp, out, (slice(None),) * axis + (indices,), g)
    return out


@shape_only(1)
def take_along_axis_grad(g: Any, arr: Any, indices: Any, axis: Any = -1) -> Any:
    """Gradient of ``np.take_along_axis(arr, indices, axis)``: ``g`` added where taken."""
    xp = array_module(g, indices)
    shape = _shape(arr)
    if axis is None:  # arr was flattened
        flat = take_along_axis_grad(g, _stand_in((int(np.prod(shape)),)), indices, 0)
        return flat.reshape(shape)
    axis = operator.index(axis) % len(shape)
    index = tuple(
        indices
        if d == axis
        else xp.arange(n).reshape([-1 if e == d else 1 for e in range(len(shape))])
        for d, n in enumerate(shape)
    )
    out = xp.zeros(shape, dtype=_dtype(g))
    _put(xp, out, index, g)
    return out


def sort_grad(g: Any, a: Any, axis: Any = -1) -> Any:
    """Gradient of ``np.sort(a, axis)``: each sorted position's cotangent sent back to the
    element that landed there."""
    xp = array_module(g, a)
    if axis is None:
        return sort_grad(g, a.reshape(-1), 0).reshape(a.shape)
    order = xp.argsort(a, axis=axis, kind="stable")
    return take_along_axis_grad(g, a, order, axis)


def _nested_ndim(value: Any) -> int:
    if isinstance(value, (list, tuple)):
        return 1 + (_nested_ndim(value[0]) if len(value) else 0)
    return len(_shape(value))


@shape_only(1)
def unstack_like(g: Any, like: Any) -> Any:
    """Gradient of ``np.array(like)``: ``g`` taken apart into the structure of ``like``, a
    (nested) list or tuple of arrays and numbers, or an array.

    >>> unstack_like(np.array([[1.0, 2.0], [3.0, 4.0]]), [np.zeros(2), np.zeros(2)])
    Parts([array([1., 2.]), array([3., 4.])])
    """
    if isinstance(like, (list, tuple)):
        g = g.reshape(g.shape[g.ndim - _nested_ndim(like) :])  # drop dims ndmin added
        return Parts(unstack_like(g[i], item) for i, item in enumerate(like))
    return g.reshape(_shape(like))


@shape_only(1, 2)
def cast_grad(g: Any, x: Any, ans: Any) -> Any:
    """Gradient of ``x.astype(dtype)``: ``g`` cast back to ``x``'s dtype; none through a
    cast to integers or booleans."""
    if ans.dtype.kind not in "fc":
        return array_module(g, x).zeros(_shape(x), dtype=x.dtype)
    if type(g) is float:  # the cotangent of a number, in generated code
        g = array_module(x).asarray(g)
    return g.astype(x.dtype, copy=False)

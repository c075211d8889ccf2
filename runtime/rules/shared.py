"""The helpers that rules of more than one family call, and the marks helpers carry.

``unbroadcast`` and ``expand_reduced`` above all: the transform writes them into generated
code of its own too, and the tape calls ``unbroadcast`` where a kernel left it out. Each
helper takes its array module from its arguments, so the same helper serves NumPy, CuPy
and any array type that implements NumPy's dispatch protocols; a helper marked
:func:`transformable` calls NumPy's functions, which dispatch the same way. A helper of
one family's rules only is in that family's module.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import dask_support
from ..dask_support import broadcast_lazily, count_lazily, has_unknown_size, is_dask, same_shape
from ..device import array_module

_SHAPE_ONLY = "__astgrad_shape_only__"


def shape_only(*positions: int) -> Callable[[Callable], Callable]:
    """Mark a rule helper whose arguments at ``positions`` are read for shape only: a
    rule that passes a value there does not keep it alive, nor check it for in-place
    changes (see ``templates.value_reads``)."""

    def mark(helper: Callable) -> Callable:
        setattr(helper, _SHAPE_ONLY, frozenset(positions))
        return helper

    return mark


def transformable(helper: Callable) -> Callable:
    """Mark a rule helper whose source reverse mode may differentiate, as it does a user's
    function (``transform.resolve`` classifies it so).

    Forward rules are inlined into generated forward code, and ``ag.hvp`` runs reverse mode
    over that code: every helper a forward rule calls must be differentiable in turn. A
    helper marked transformable needs no vjp rule of its own, but its body must be what
    ``ag.grad(..., mode="source")`` accepts: assignments, ``if``/``for``/``while``, calls
    that have rules (``np.`` functions, not an array module taken from the arguments) or
    are transformable themselves, no ``try``, and no write into an array that is read
    afterwards.
    """
    helper.__astgrad_transformable__ = True
    return helper


def shape_only_positions(helper: Any) -> frozenset[int]:
    """The positions :func:`shape_only` marked on ``helper`` (none for anything else)."""
    return getattr(helper, _SHAPE_ONLY, frozenset())


def matrix_error(what: str) -> TypeError:
    """The error for an ``np.matrix`` met where astgrad computes (``what`` says where)."""
    return TypeError(
        f"{what} is an np.matrix, which astgrad does not differentiate: its * and ** are "
        "matrix products and its results keep two dimensions, so NumPy's derivative rules "
        "for ndarray would give wrong gradients. Use an ndarray instead: np.asarray(m), "
        "with @ for matrix products."
    )


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


#: rows -> float64 ones, as _ONES's entries for float64 (keyed by the count alone, which
#: is cheaper to look up than a tuple)
_ONES_64: dict[int, Any] = {}


def _ones_64(rows: int) -> Any:
    if len(_ONES_64) > 64:  # many batch sizes: keep the cache small
        _ONES_64.clear()
    ones = _ONES_64[rows] = np.ones(rows, _FLOAT64)
    return ones


def _sum_columns(g: Any) -> Any:
    """``g.sum(axis=1, keepdims=True)`` of a host matrix; for floats, as ``g @ ones``
    (a reduction along a short last axis, ten classes a row, is slow in NumPy)."""
    dtype = g.dtype
    if dtype is _FLOAT64 or dtype is _FLOAT32:
        key = (g.shape[1], dtype)
        ones = _ONES.get(key)
        if ones is None:
            if len(_ONES) > 64:
                _ONES.clear()
            ones = _ONES[key] = np.ones(g.shape[1], dtype)
        return g.dot(ones)[:, None]
    return _add_reduce(g, 1, keepdims=True)


#: types of numbers (shape ()) that unbroadcast passes through without asking their shape
_NUMBERS = frozenset({float, int, np.float64, np.float32, complex, np.complex128})


_CONTAINERS = (list, tuple, dict)


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
            if len(g_shape) == 2 and g.dtype is _FLOAT64:
                # _sum_rows's commonest case written out (a bias of a float64 layer): its
                # call and its key cost about as much as the product with ones
                ones = _ONES_64.get(g_shape[0])
                if ones is None:
                    ones = _ones_64(g_shape[0])
                return ones.dot(g)
            return _sum_rows(g)
        if len(g_shape) == 2 and shape == (g_shape[0], 1):  # what a row-wise sum sends back
            return _sum_columns(g)
    else:
        if kind in _NUMBERS:
            g_kind = type(g)
            if g_kind in _NUMBERS:
                return g  # both of shape (): an element loop's scalars, the common case here
            if g_kind is np.ndarray and g.ndim >= 1:
                # a sum for a number (a bias b of X @ w + b, a kernel's width)
                return _add_reduce(g, 0) if g.ndim == 1 else _add_reduce(g, None)
        if isinstance(x, np.matrix) or isinstance(g, np.matrix):
            raise matrix_error("a value in the computation")
        if isinstance(g, _CONTAINERS) and isinstance(x, _CONTAINERS):
            # A list's (tuple's, dict's) adjoint for a list: nothing broadcasts a list's
            # items (the tangent list writable_tangent copies, differentiated again)
            return g
        shape, g_shape = _shape(x), _shape(g)
        if g_shape == shape:
            return g
        if has_unknown_size(shape) or has_unknown_size(g_shape):
            # Dask rows a mask selected: NaN sizes, which compare unequal to themselves.
            if same_shape(g_shape, shape):
                return g
            if is_dask(x):
                if len(g_shape) < len(shape):
                    g = g[(None,) * (len(shape) - len(g_shape))] if g_shape else g
                g = _unbroadcast_axes(g, shape) if getattr(g, "shape", ()) else g
                return g if same_shape(g.shape, shape) else broadcast_lazily(g, x)
    extra = len(g_shape) - len(shape)
    if extra < 0:
        if not g_shape:
            # A scalar for a one-element array (float(x), x.item()), or the zero placeholder.
            if is_dask(x):
                return broadcast_lazily(g, x)
            return array_module(g, x).broadcast_to(g, shape)
        g = g.reshape((1,) * -extra + g_shape)  # line the axes up as broadcasting does
        g_shape = g.shape
        extra = 0
    if extra == 1 and g_shape[1:] == shape:
        return g.sum(axis=0)
    g = _unbroadcast_axes(g, shape)
    if g.shape != shape:
        # ``g`` is constant along an axis that ``x`` has (it grew from the zero placeholder
        # or a scalar cotangent); the gradient is the same along it.
        g = broadcast_lazily(g, x) if is_dask(x) else array_module(g, x).broadcast_to(g, shape)
    return g


def _unbroadcast_axes(g: Any, shape: tuple) -> Any:
    """``g`` summed over the axes broadcasting added in front of ``shape`` and over those
    it stretched from 1, so that it broadcasts to ``shape`` without growing."""
    g_shape = g.shape
    extra = len(g_shape) - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and g_shape[extra + i] != 1
    )
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    if extra:
        kept = g.shape[extra:]
        # (Dask cannot reshape to sizes it does not know: sum the leading 1s away there.)
        g = g.sum(axis=tuple(range(extra))) if has_unknown_size(kept) else g.reshape(kept)
    return g


def _normalize_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        return tuple(operator.index(a) % ndim for a in axis)
    return (operator.index(axis) % ndim,)


@shape_only(1)
def expand_reduced(
    g: Any, x: Any, axis: Any = None, keepdims: bool = False, where: Any = True
) -> Any:
    """Broadcast the cotangent of a reduction of ``x`` back to ``x``'s shape (a view); with
    ``where`` (the reduction's mask), zero where it does not hold.

    >>> expand_reduced(np.array([1., 2.]), np.zeros((2, 3)), axis=1)
    array([[1., 1., 1.],
           [2., 2., 2.]])
    """
    if where is not True:  # (the reduction read no element where the mask is False)
        spread = expand_reduced(g, x, axis, keepdims)
        return spread * array_module(spread).asarray(where, dtype=bool)
    shape = _shape(x)
    if axis is None and type(x) is np.ndarray and type(g) in _HOST_SCALARS:
        # The full reduction of a host array, the usual loss: a read-only view with zero
        # strides, built directly (np.broadcast_to costs several microseconds of Python).
        one = np.asarray(g, dtype=x.dtype if x.dtype.kind == "f" else None)
        view = np.ndarray(shape, one.dtype, one, 0, (0,) * len(shape))
        view.flags.writeable = False
        return view
    if type(x) is np.ndarray and type(g) is np.ndarray and type(axis) is int and not keepdims:
        # One axis of a host array reduced (a row-wise sum): the same read-only view, its
        # strides written directly (reshape and np.broadcast_to cost about 5 us)
        ndim = len(shape)
        at = axis + ndim if axis < 0 else axis
        if 0 <= at < ndim and g.shape == shape[:at] + shape[at + 1 :] and g.flags.c_contiguous:
            strides = list(g.strides)
            strides.insert(at, 0)
            view = np.ndarray(shape, g.dtype, g, 0, tuple(strides))
            view.flags.writeable = False
            return view
    if isinstance(x, np.matrix):
        raise matrix_error("a value in the computation")
    xp = array_module(g, x)
    if type(g) in _HOST_SCALARS and xp is not np:
        g = xp.asarray(g)  # (CuPy's broadcast_to and reshape take its arrays only)
    unknown = has_unknown_size(shape)
    if not keepdims and axis is not None and shape:
        if unknown:
            # Dask cannot reshape to unknown sizes; the reduced axes come back as 1s.
            g = xp.expand_dims(g, _normalize_axes(axis, len(shape)))
        else:
            kept = list(shape)
            for a in _normalize_axes(axis, len(shape)):
                kept[a] = 1
            # xp.reshape, not g.reshape: generated code seeds a scalar result with a float
            g = xp.reshape(g, kept)
    if unknown or is_dask(x):
        return broadcast_lazily(g, x)
    return xp.broadcast_to(g, shape)


# Cotangents of a full reduction: one number, on the host.
_HOST_SCALARS = (float, np.float64, np.float32, np.float16)


@shape_only(0)
def reduced_count(x: Any, axis: Any = None, where: Any = True, keepdims: bool = False) -> Any:
    """How many elements of ``x`` each result of a reduction over ``axis`` combines; with
    ``where`` (the reduction's mask), an array of the result's shape (at least 1: a slice
    with no element has no gradient, where its mean is NaN).

    >>> reduced_count(np.zeros((2, 3, 4)), axis=(0, 2))
    8
    """
    if where is not True:
        xp = array_module(x)
        mask = xp.broadcast_to(xp.asarray(where, dtype=bool), _shape(x))
        counts = xp.sum(mask, axis=axis, keepdims=keepdims)
        # (in x's float dtype: float32 / int64 counts would make float64)
        kind = np.dtype(_dtype(x)).kind
        return xp.maximum(counts, 1).astype(_dtype(x) if kind in "fc" else float)
    if axis is None:
        size = getattr(x, "size", None)
        if type(size) is int:
            return size
    shape = _shape(x)
    if has_unknown_size(shape) and is_dask(x):
        return count_lazily(x, _normalize_axes(axis, len(shape)))
    count = 1
    for a in _normalize_axes(axis, len(shape)):
        count *= shape[a]
    return count


def _is_basic_index(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (int, np.integer, slice)) or p is None or p is Ellipsis for p in parts)


def _put(xp: Any, out: Any, index: Any, g: Any) -> None:
    """``out[index] += g`` for ``out`` of zeros, accumulating where an integer index repeats
    a position."""
    if _is_basic_index(index) or _is_mask(index):
        out[index] = g
    elif xp is np:
        np.add.at(out, index, g)
    elif is_dask(out):
        # Dask has no np.add.at: the sum made lazily, then written over the zeros (a Dask
        # array's item assignment replaces its graph, so this stays lazy).
        out[...] = dask_support.scatter_grad(g, out, index)
    else:
        _scatter_add_device(xp, out, index, g)


def _is_mask(index: Any) -> bool:
    return getattr(index, "dtype", None) == np.bool_


def _scatter_add_device(xp: Any, out: Any, index: Any, g: Any) -> None:
    if is_dask(out):
        # A Dask array's np.add.at would compute it: astgrad's own gradients take
        # dask_support.scatter_grad instead, and the user's np.add.at is refused here.
        raise dask_support.not_lazy("np.add.at", "Add with dask.array.bincount instead.")
    add_at = getattr(getattr(xp, "add", None), "at", None)
    if add_at is not None:
        add_at(out, index, g)
        return
    import cupyx  # CuPy before ufunc.at

    cupyx.scatter_add(out, index, g)


_FLOAT64 = np.dtype(np.float64)


_FLOAT32 = np.dtype(np.float32)


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


@transformable
def divide_or_zero(x: Any, y: Any) -> Any:
    """``x / y``, and 0 where ``y`` is 0: the subgradient of a norm or a std at zero.

    >>> divide_or_zero(np.array([1.0, 1.0]), np.array([2.0, 0.0]))
    array([0.5, 0. ])
    """
    if type(y) in _FLOAT_NUMBERS and y != 0:
        return x / y  # (a norm of one vector, not zero: two np.where on numbers cost 5 us)
    return np.where(y == 0, 0, x / np.where(y == 0, 1, y))


#: the types of a real number (a vector's norm, a std)
_FLOAT_NUMBERS = frozenset({float, np.float64, np.float32})


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


def _stand_in(shape: Any) -> np.ndarray:
    """An array of ``shape`` that takes no memory, for asking NumPy about shapes."""
    return np.broadcast_to(np.empty((), dtype=bool), tuple(shape))


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
    if np.ndim(g):
        steps = xp.arange(g.shape[-1])
    else:  # (a number: the zero generated code passes for a result nothing read)
        steps = xp.arange(np.shape(np.diagonal(_stand_in(_shape(a)), offset, axis1, axis2))[-1])
    rows = steps + max(-offset, 0)
    cols = steps + max(offset, 0)
    view[..., rows, cols] = g
    return out

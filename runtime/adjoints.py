"""Helpers generated code calls for adjoints that are not single arrays.

An adjoint is ``0`` (nothing has flowed into it yet), a value (array or number), or, for a
tuple or list, a list of adjoints; dicts map keys to adjoints. These helpers add such
adjoints without ever mutating their arguments, which may be shared.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import dask_support
from . import objects as _objects
from .device import array_module
from .rules.containers import Entries, Parts, add_adjoints
from .rules.containers import is_zero as _is_zero
from .rules.indexing import assigned_value_grad, scatter_grad, without_index
from .rules.shared import matrix_error, unbroadcast

__all__ = [
    "matrix_error",
    "Parts",
    "Entries",
    "add_adjoints",
    "add_at",
    "adjoint_item",
    "unpack_adjoint",
    "appended_adjoint",
    "assigned_adjoint",
    "saved_item",
    "restore_item",
    "scalar_seed",
    "finish_gradient",
    "zero_cotangent",
]


def zero_cotangent(value: Any) -> bool:
    """Whether a cotangent is still the int ``0`` an adjoint starts from. Generated code
    skips a call on a cotangent that may still be it (after a branch that did not write
    it, or in a loop's first iteration): the call is linear in it, and rules' helpers take
    arrays (``matmul_grad_left(0, x, y)`` raised). Only that int: a computed zero (a float
    or an array) may carry a tangent when the gradient is differentiated again (``hvp``,
    batched Jacobians), so its call runs.

    >>> zero_cotangent(0), zero_cotangent(0.0), zero_cotangent(np.zeros(2))
    (True, False, False)
    """
    return type(value) is int and value == 0


class _Trail(list):
    """The adjoint of a list that a loop's backward pass takes apart or fills in one
    element per iteration (undoing ``items.append(v)``, ``items[i] = v``, or adding the
    gradient of a read ``items[i]``), made by the helpers below and then changed by them
    in place.

    These helpers never change an adjoint they are given, which may be shared, except
    one of these: they made it, and the generated code hands it on as adjoints go, each
    read once, by the statement that rebinds its name to the result (``dxs =
    add_at(dxs, xs, i, g)``), so nothing else holds it when it changes. Copying the list
    each time instead made a loop of n appends or reads cost n * n.

    Adds element by element, as :class:`Parts` does (it may stand for one).
    """

    __slots__ = ()

    def __add__(self, other: Any) -> Parts:  # type: ignore[override]
        return Parts(self) + other

    __radd__ = __add__


def _own(adjoint: Any) -> _Trail:
    """``adjoint`` itself if these helpers made it, else a copy they may change."""
    return adjoint if type(adjoint) is _Trail else _Trail(adjoint)


def add_at(adjoint: Any, container: Any, index: Any, value: Any) -> Any:
    """The adjoint of ``container`` with ``value`` added at ``index`` (``x = container[index]``),
    for lists, tuples and dicts (an adjoint per element) and arrays alike.

    >>> add_at(0, (1.0, 2.0, 3.0), 1, 5.0)
    [0, 5.0, 0]
    >>> add_at(0, np.zeros(3), 2, 1.0)
    array([0., 0., 1.])
    """
    if type(adjoint) is _Trail and type(index) is int and type(value) is _ndarray:
        # A loop's read of a list it appends to (states[-1] in an RNN), once per step:
        # add_adjoints's own path for two arrays, without the tests that find it.
        previous = adjoint[index]
        if type(previous) is _ndarray:
            adjoint[index] = previous + value
            return adjoint
        if type(previous) is int and previous == 0:  # (nothing added there yet)
            adjoint[index] = value
            return adjoint
    if _is_zero(value):
        return adjoint
    if not isinstance(container, (list, tuple, dict)):
        return add_adjoints(adjoint, scatter_grad(value, container, index))
    if isinstance(container, dict):
        # (Entries: adds key by key, as the tangent of a sum of two such must)
        parts = Entries(adjoint) if isinstance(adjoint, dict) else Entries()
        parts[index] = add_adjoints(parts.get(index, 0), value)
        return parts
    parts = _own(adjoint) if not _is_zero(adjoint) else _Trail([0] * len(container))
    if isinstance(index, slice):
        positions = range(len(container))[index]
        for position, part in zip(positions, value):
            parts[position] = add_adjoints(parts[position], part)
        return parts
    parts[index] = add_adjoints(parts[index], value)
    return parts


def adjoint_item(adjoint: Any, index: Any) -> Any:
    """The part of a container's adjoint at ``index`` (0 when nothing flowed in)."""
    if _is_zero(adjoint):
        return 0
    if isinstance(adjoint, dict):
        return adjoint.get(index, 0)  # keys no gradient reached are absent
    return adjoint[index]


def unpack_adjoint(container: Any, parts: list) -> Any:
    """The adjoint of ``container`` after ``a, b = container``, from the parts' adjoints.

    For an array unpacked by rows, the rows' adjoints stacked. For a tuple or list (a
    primitive's several results, ``q, r = np.linalg.qr(a)``, or a plain Python tuple), the
    parts stay apart, as :class:`Parts`, with zeros of each array's shape where nothing
    flowed in, since a rule expects one cotangent array per result.

    >>> unpack_adjoint((1.0, 2.0), [3.0, 0])
    Parts([3.0, 0])
    """
    if isinstance(container, (list, tuple)):
        return Parts(
            array_module(item).zeros_like(item)
            if _is_zero(part) and hasattr(item, "shape")
            else part
            for item, part in zip(container, parts)
        )
    if all(_is_zero(p) for p in parts):
        return 0
    xp = array_module(container)
    rows = [xp.zeros_like(container[i]) if _is_zero(p) else p for i, p in enumerate(parts)]
    return xp.stack(rows)


def appended_adjoint(adjoint: Any) -> tuple[Any, Any]:
    """Undo ``items.append(v)`` on the adjoint of ``items``: ``(adjoint of v, adjoint of
    items before the append)``."""
    if _is_zero(adjoint):
        return 0, 0
    parts = _own(adjoint)
    return parts.pop(), parts


def stored_adjoint(part: Any, value: Any) -> Any:
    """The adjoint of ``value`` after ``container[i] = value``, from the adjoint of the
    slot: summed down to ``value``'s shape where the store broadcast it (an array
    slot), passed through as it is for a slot of a list or dict.

    >>> stored_adjoint(np.ones(3), 2.0)
    np.float64(3.0)
    """
    if _is_zero(part) or not hasattr(part, "shape"):
        return part
    if isinstance(value, (int, float)) or hasattr(value, "shape"):
        return unbroadcast(part, value)
    return part


def assigned_adjoint(adjoint: Any, container: Any, index: Any) -> tuple[Any, Any]:
    """Undo ``container[index] = v`` on the adjoint: ``(adjoint of v, adjoint of the
    container before the assignment)``, whose entry at ``index`` starts again from zero."""
    if _is_zero(adjoint):
        return 0, 0
    if isinstance(container, dict) or isinstance(adjoint, dict):
        parts = dict(adjoint)
        value = parts.pop(index, 0)
        return value, parts
    if isinstance(container, (list, tuple)):
        parts = _own(adjoint)
        value = parts[index]
        if isinstance(index, slice):
            for position in range(len(parts))[index]:
                parts[position] = 0
        else:
            parts[index] = 0
        return value, parts
    return assigned_value_grad(adjoint, index), without_index(adjoint, index)


def saved_item(container: Any, index: Any) -> Any:
    """What ``container[index] = v`` is about to overwrite, safe from the write itself."""
    if isinstance(container, dict):
        return container.get(index, _MISSING)
    value = container[index]
    copy = getattr(value, "copy", None)
    return copy() if copy is not None and not isinstance(container, (list, tuple)) else value


def restore_item(container: Any, index: Any, value: Any) -> None:
    """Put back what :func:`saved_item` saved."""
    if value is _MISSING:
        del container[index]
    else:
        container[index] = value


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


def pop_run(stack: list, count: int) -> list:
    """The last ``count`` values pushed on ``stack``, last first, taken off it: what a
    replayed loop that pops one value per iteration iterates over.

    >>> stack = [1, 2, 3, 4]
    >>> pop_run(stack, 3), stack
    ([4, 3, 2], [1])
    """
    start = len(stack) - count
    run = stack[start:]
    del stack[start:]
    run.reverse()
    return run


#: (shape, dtype) -> the stand-in ``shaped_like`` gives host arrays of that shape and dtype
_STAND_INS: dict[tuple, np.ndarray] = {}


def shaped_like(value: Any) -> Any:
    """What a loop keeps of a value the backward pass reads only for its shape and dtype
    (at a helper position marked ``shape_only``), instead of the value itself: for an
    array, a read-only array of its shape, dtype and device that takes no memory; for a
    list or tuple, one of the same kind with each item's stand-in; anything else (numbers,
    arrays of other libraries), the value itself.

    >>> kept = shaped_like(np.ones((2, 3), dtype=np.float32))
    >>> kept.shape, kept.dtype, kept.strides
    ((2, 3), dtype('float32'), (0, 0))
    """
    kind = type(value)
    if kind is np.ndarray:
        key = (value.shape, value.dtype)
        kept = _STAND_INS.get(key)
        if kept is None:
            if len(_STAND_INS) > 256:  # shapes that change every iteration: stay small
                _STAND_INS.clear()
            kept = _STAND_INS[key] = np.broadcast_to(np.empty((), value.dtype), value.shape)
        return kept
    if kind is list or kind is tuple:
        return kind(shaped_like(item) for item in value)
    xp = array_module(value)
    if xp is np or getattr(value, "dtype", None) is None:
        return value  # a number, or something this helper does not know how to stand in for
    if dask_support.has_unknown_size(value.shape):
        return value  # Dask rows a mask selected: only the value knows its size
    # A device array: the module array_module gives makes arrays on its device.
    return xp.broadcast_to(xp.empty((), dtype=value.dtype), value.shape)


_COMPLEX_RESULT = (
    "the function's result is complex, and a gradient is defined for a real result: "
    "return np.real(...), np.abs(...) ** 2 or another real number of it, or use "
    "ag.vjp(f, *args) and call the pullback with a complex cotangent (docs/complex.md)"
)


def _is_complex(value: Any) -> bool:
    dtype = getattr(value, "dtype", None)
    return isinstance(value, complex) if dtype is None else dtype.kind == "c"


def scalar_seed(value: Any) -> Any:
    """The cotangent 1 for a scalar result; an error pointing to ``ag.vjp`` otherwise.
    A Dask result's is a 0-d Dask array (its graph depends on nothing), so that every
    gradient of a function of Dask arrays is one, even one no Dask value reaches."""
    size = getattr(value, "size", None)
    if size is None:
        if isinstance(value, (float, int)) and not isinstance(value, bool):
            return 1.0
        if isinstance(value, (tuple, list, dict)):
            raise ValueError(
                f"grad can be implicitly created only for scalar outputs, and the function "
                f"returned a {type(value).__name__}. Return one number, or use "
                f"ag.vjp(f, *args) with a cotangent for each output."
            )
        if isinstance(value, complex):
            raise TypeError(_COMPLEX_RESULT)
        raise TypeError(
            f"the function returned {type(value).__name__}, which cannot be differentiated; "
            "return a float or an array"
        )
    if isinstance(value, np.matrix):
        raise matrix_error("the function's result")
    if value.dtype.kind == "c":
        raise TypeError(_COMPLEX_RESULT)
    if size != 1:
        raise ValueError(
            f"grad can be implicitly created only for scalar outputs, and the function "
            f"returned an array of shape {value.shape}. Reduce it (e.g. .sum()), or use "
            f"ag.vjp(f, *args) and call the pullback with a cotangent of that shape."
        )
    if isinstance(value, np.generic):
        return 1.0
    return array_module(value).ones_like(value)


_ndarray = np.ndarray  # a module global: one lookup, where ``np.ndarray`` takes two
_float64 = np.float64
#: a list's gradient: a list, or the one the helpers above filled in (an item per item)
_LISTS = (list, _Trail)


def finish_gradient(grad: Any, like: Any) -> Any:
    """Give a gradient its argument's type, shape and dtype; zeros where nothing flowed.

    >>> finish_gradient(0, np.ones(2))
    array([0., 0.])
    >>> finish_gradient(np.float64(2.0), 1.0)
    2.0
    """
    if type(grad) is _ndarray and type(like) is _ndarray:
        # The common case, on every call: a fresh array of the right form. Native dtypes
        # are singletons, so `is` settles it cheaply; "carray" (aligned, writeable,
        # C-contiguous) too, and any other layout takes the general checks below.
        if grad.dtype is like.dtype and grad.shape == like.shape:
            if grad.flags.carray:
                return grad
            # a view (a sum's cotangent spread with zero strides, a transpose): a copy of
            # its own, as the general road below makes, without its type checks
            return grad if _owns_writable_memory(grad) else np.array(grad, copy=True)
    elif type(like) is float and type(grad) is _float64:
        return float(grad)  # a Python float's gradient, summed by NumPy: the usual number
    elif type(like) is list and type(grad) in _LISTS and len(grad) == len(like):
        # a model's list of layers: each item finished as above (a list is no matrix, no
        # object of the user's, no Dask array)
        return [finish_gradient(g, x) for g, x in zip(grad, like)]
    if isinstance(like, np.matrix) or isinstance(grad, np.matrix):
        raise matrix_error("an argument differentiated")
    if _objects.is_object(like) or _objects.is_namedtuple(like):
        return _objects.finish_object(grad, like, finish_gradient)  # (issue 17)
    if isinstance(like, (list, tuple)):
        parts = grad if not _is_zero(grad) else [0] * len(like)
        finished = [finish_gradient(g, x) for g, x in zip(parts, like)]
        return type(like)(finished) if isinstance(like, tuple) else finished
    if isinstance(like, dict):
        parts = grad if isinstance(grad, dict) else {}
        return {key: finish_gradient(parts.get(key, 0), value) for key, value in like.items()}
    if dask_support.is_dask(grad) or dask_support.is_dask(like):
        return _finish_lazily(grad, like)
    if _is_complex(grad) and not _is_complex(like):
        # a real argument's gradient is the real part of what reached it (rules/complex.py)
        grad = grad.real
    if type(like) is float or (isinstance(like, int) and not isinstance(like, bool)):
        return float(np.sum(grad)) if getattr(grad, "size", 1) != 1 else float(grad)
    if type(like) is complex:
        return complex(np.sum(grad)) if getattr(grad, "size", 1) != 1 else complex(grad)
    shape = getattr(like, "shape", None)
    if shape is None:
        return grad
    xp = array_module(like)
    if _is_zero(grad):
        return xp.zeros_like(like)
    if getattr(grad, "shape", ()) != shape:
        grad = xp.broadcast_to(grad, shape)
    if isinstance(like, np.generic):
        return like.dtype.type(grad)
    dtype = like.dtype
    # A number has no dtype; test for that first, since NumPy reads dtype None as float64.
    if not hasattr(grad, "dtype") or grad.dtype != dtype or not _owns_writable_memory(grad):
        grad = xp.array(grad, dtype=dtype, copy=True)
    return grad


def _finish_lazily(grad: Any, like: Any) -> Any:
    """:func:`finish_gradient` for a Dask gradient, which stays lazy: a Python number's is a
    0-d float64 Dask array (``float()`` would compute it), an array's has its shape and
    dtype. Dask arrays are never written in place, so there is no copy to make."""
    grad = dask_support.dask_module().asarray(grad)
    shape = getattr(like, "shape", None)
    if shape is None or isinstance(like, np.generic):
        if isinstance(like, np.generic):
            return dask_support.lazy_number(grad).astype(like.dtype)
        return dask_support.lazy_number(grad)
    if not dask_support.same_shape(grad.shape, shape):
        if dask_support.is_dask(like):
            grad = dask_support.broadcast_lazily(grad, like)
        else:
            grad = array_module(grad).broadcast_to(grad, shape)
    dtype = like.dtype
    return grad if grad.dtype == dtype else grad.astype(dtype)


def _owns_writable_memory(array: Any) -> bool:
    flags = getattr(array, "flags", None)
    if flags is None:
        return True
    # CuPy's flags name only the layout and ownership: its arrays are always writeable.
    writeable = getattr(flags, "writeable", True)
    return bool(writeable) and bool(flags.c_contiguous or flags.f_contiguous)

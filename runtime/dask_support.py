"""Dask arrays in generated gradients: lazy forms of the helpers NumPy would compute eagerly.

``dask.array`` implements NumPy's dispatch protocols, so generated code, which calls
``np.`` functions, builds a lazy graph on Dask arrays as it stands. What needs care is in
the helpers: an array made with ``np.zeros(shape)`` is a NumPy array in memory, and
``float()``, ``bool()`` or ``np.asarray`` of a lazy value computes it on the spot, once
per helper, instead of once for the whole gradient. So helpers take their module from
their arguments (``device.array_module`` gives :func:`dask_module` for a Dask array), and
what Dask has no lazy form for is written here in forms it supports (``np.add.at``,
``np.split``, sizes not known before the data are read: rows a mask selected). The rest
is refused with a :class:`NotLazyError` that the gradient call reports at the user's line
(:func:`refusing_hidden_computes`): NumPy functions Dask would run on computed arrays, any
compute while the gradient is built, an array assigned through a mask.

Dask is not a device: its chunks live in the memory of this machine's or a cluster's CPUs,
``device_of`` says ``cpu``, and nothing is moved. Dask is never imported here unless a Dask
array exists, which its user made with ``dask.array``.
"""

from __future__ import annotations

import contextlib
import math
import re
import sys
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = [
    "NotLazyError",
    "is_dask",
    "holds_dask",
    "dask_module",
    "same_shape",
    "has_unknown_size",
    "lazy_number",
    "scatter_grad",
    "refusing_hidden_computes",
]


class NotLazyError(NotImplementedError):
    """A step of a gradient of Dask arrays that has no lazy form in Dask: running it would
    pull whole arrays into memory, so it is refused instead."""


def not_lazy(what: str, instead: str = "") -> NotLazyError:
    """The error for ``what``, which Dask cannot do lazily, with what to do ``instead``."""
    advice = f" {instead}" if instead else ""
    return NotLazyError(
        f"{what} has no lazy form in Dask, so the gradient of this line cannot stay lazy: "
        f"computing it would pull the whole array into memory.{advice}"
    )


def _dask_array() -> Any:
    """``dask.array`` if it was imported (it was, if a Dask array exists), else None."""
    return sys.modules.get("dask.array")


def is_dask(value: Any) -> bool:
    """Whether ``value`` is a Dask array.

    >>> is_dask(np.ones(2))
    False
    """
    module = _dask_array()
    return module is not None and isinstance(value, module.Array)


def holds_dask(values: Any) -> bool:
    """Whether ``values`` (arguments: looking into lists, tuples and dicts) hold a Dask
    array. Free where Dask was never imported."""
    module = _dask_array()
    if module is None:
        return False
    array = module.Array
    stack = list(values)
    while stack:
        value = stack.pop()
        if isinstance(value, array):
            return True
        if isinstance(value, (list, tuple)):
            stack.extend(value)
        elif isinstance(value, dict):
            stack.extend(value.values())
    return False


class _Namespace:
    """``dask.array`` (or one of its submodules) as an array module for helpers: a name
    Dask lacks is a :class:`NotLazyError` naming the NumPy function, not an
    AttributeError, and never NumPy's eager function."""

    def __init__(self, module: Any, prefix: str) -> None:
        self._module = module
        self._prefix = prefix

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)  # (copy, pickle and inspect ask for dunders)
        try:
            value = getattr(self._module, name)
        except AttributeError:
            value = _SUBSTITUTES.get(f"{self._prefix}.{name}")
            if value is None:
                raise not_lazy(f"{self._prefix}.{name}") from None
        if type(value) is type(sys):  # a submodule, such as dask.array.linalg
            value = _Namespace(value, f"{self._prefix}.{name}")
        setattr(self, name, value)  # found once: later lookups skip __getattr__
        return value

    def __repr__(self) -> str:
        return f"<dask.array as {self._prefix}>"


def _split(array: Any, indices_or_sections: Any, axis: int = 0) -> list:
    """``np.split`` for a Dask array, by slicing (Dask has no split): what the gradient of
    ``np.concatenate`` takes its parts' cotangents apart with."""
    size = array.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        if size % indices_or_sections:
            raise ValueError("array split does not result in an equal division")
        step = size // indices_or_sections
        bounds = list(range(step, size, step))
    else:
        bounds = list(indices_or_sections)
    edges = [0, *bounds, size]
    before = (slice(None),) * (axis % array.ndim)
    return [array[(*before, slice(a, b))] for a, b in zip(edges[:-1], edges[1:])]


#: lazy stand-ins for the NumPy functions ``dask.array`` lacks that helpers call
_SUBSTITUTES = {"np.split": _split}

_module: _Namespace | None = None


def dask_module() -> Any:
    """The array module helpers use for Dask arrays: ``dask.array``, refusing what it lacks."""
    global _module
    if _module is None:
        _module = _Namespace(_dask_array(), "np")
    return _module


def has_unknown_size(shape: tuple) -> bool:
    """Whether ``shape`` has a size Dask does not know before computing (NaN), as rows
    selected by a boolean mask have."""
    return any(isinstance(n, float) and math.isnan(n) for n in shape)


def same_shape(first: tuple, second: tuple) -> bool:
    """Whether two shapes are the same, taking a size Dask does not know to match another
    unknown one: such arrays come from the same selection (a cotangent has its value's
    shape), and broadcasting never makes an unknown size from a known one.

    >>> same_shape((float("nan"), 3), (float("nan"), 3)), same_shape((2, 3), (3,))
    (True, False)
    """
    if len(first) != len(second):
        return False
    for a, b in zip(first, second):
        if a != b and not (_unknown(a) and _unknown(b)):
            return False
    return True


def _unknown(n: Any) -> bool:
    return isinstance(n, float) and math.isnan(n)


def broadcast_lazily(g: Any, like: Any) -> Any:
    """``g`` broadcast to the shape and chunks of the Dask array ``like``, also where some
    of its sizes are unknown (``broadcast_to`` needs them all)."""
    module = _dask_array()
    if has_unknown_size(like.shape):
        return module.zeros_like(like, dtype=_result_dtype(g)) + g
    g = module.asarray(g)
    # In like's chunks along the axes broadcasting makes (Dask's default there is one
    # chunk: a cotangent of the whole data in one piece, then rechunked to meet the data).
    new = like.ndim - g.ndim
    chunks = tuple(
        like.chunks[a] if a < new or g.shape[a - new] == 1 else g.chunks[a - new]
        for a in range(like.ndim)
    )
    return module.broadcast_to(g, like.shape, chunks=chunks)


def _result_dtype(g: Any) -> Any:
    dtype = getattr(g, "dtype", None)
    return np.result_type(g) if dtype is None else dtype


def count_lazily(x: Any, axes: tuple[int, ...]) -> Any:
    """How many elements of the Dask array ``x`` a reduction over ``axes`` combines, as a
    lazy number where some of those sizes are unknown (rows a mask selected)."""
    known = 1
    unknown = []
    for a in axes:
        n = x.shape[a]
        if _unknown(n):
            unknown.append(a)
        else:
            known *= n
    if not unknown:
        return known
    # The unknown sizes, read from the array's chunks once they are computed: summing
    # ones along those axes of a slice of x that keeps one element of the others.
    pick = tuple(slice(None) if a in unknown else slice(0, 1) for a in range(x.ndim))
    ones = _dask_array().ones_like(x[pick], dtype=np.int64)
    return ones.sum() * known


def lazy_number(grad: Any) -> Any:
    """The gradient of a Python float argument from a Dask cotangent: a 0-d float64 Dask
    array (``dask.compute`` makes it a NumPy float), since ``float()`` would compute it."""
    if grad.ndim:
        grad = grad.sum()
    return grad.astype(np.float64)


# -- the gradient of x[index] ---------------------------------------------------------------


def scatter_grad(g: Any, x: Any, index: Any) -> Any:
    """The gradient of ``x[index]`` where ``g`` or ``x`` is a Dask array: lazy zeros like
    ``x`` with ``g`` added at ``index``, repeated integer indices accumulating.

    Basic indices assign into zeros (Dask's item assignment); one boolean mask places the
    rows it selected back block by block (their number is unknown until computed); integer
    index arrays add per block of the index and sum the blocks (Dask has no ``np.add.at``).
    """
    da = _dask_array()
    parts = _expand(index if isinstance(index, tuple) else (index,), np.ndim(x))
    if parts is None:
        raise not_lazy(
            "the gradient of indexing with None (np.newaxis)",
            "Index first, then add the axis with np.expand_dims.",
        )
    dtype = _result_dtype(g)
    # A 1-D NumPy mask is known: Dask selects with its positions, and so does the
    # gradient. One of x's shape Dask makes a Dask array, as from_array does here.
    parts = tuple(
        (np.flatnonzero(p) if p.ndim == 1 else _dask_array().from_array(p))
        if _is_mask(p) and not is_dask(p)
        else p
        for p in parts
    )
    if all(_is_basic(p) for p in parts):
        if has_unknown_size(np.shape(x)):
            return _place_in_blocks(g, x, parts, dtype)
        out = da.zeros_like(da.asarray(x), dtype=dtype)
        out[parts] = g
        return out
    arrays = [i for i, p in enumerate(parts) if not _is_basic(p)]
    rest_full = all(_is_full(parts[i]) for i in range(len(parts)) if i not in arrays)
    if len(arrays) == 1 and rest_full:
        axis = arrays[0]
        part = parts[axis]
        if getattr(part, "dtype", None) == np.bool_:
            if part.ndim == 1:
                return _place_masked(g, x, part, axis, dtype)
            if axis == 0 and part.ndim == np.ndim(x):
                return _place_masked_flat(g, x, part, dtype)
            raise not_lazy("the gradient of a boolean mask over some of several axes")
        return _add_at_axis(g, x, part, axis, dtype)
    if rest_full and arrays == list(range(len(arrays))):
        # x[rows, cols]: one flat index into the leading axes, whose sizes are known.
        dims = tuple(np.shape(x)[: len(arrays)])
        if any(getattr(parts[i], "dtype", None) == np.bool_ for i in arrays):
            raise not_lazy("the gradient of several boolean masks in one index")
        flat = da.ravel_multi_index(
            tuple(p % n for p, n in zip(da.broadcast_arrays(*(parts[i] for i in arrays)), dims)),
            dims,
        )
        xs = da.asarray(x)
        leading = xs.reshape((math.prod(dims), *xs.shape[len(dims) :]))
        return _add_at_axis(g, leading, flat, 0, dtype).reshape(xs.shape)
    raise not_lazy(f"the gradient of the index {index!r} on a Dask array")


def _expand(parts: tuple, ndim: int) -> tuple | None:
    """``parts`` with Ellipsis written out as full slices and lists as arrays, one part per
    axis of ``x`` read; None where an axis is added (not handled lazily)."""
    out: list = []
    for p in parts:
        if p is None:
            return None
        if p is Ellipsis:
            used = sum(_axes_used(q) for q in parts if q is not Ellipsis)
            out.extend([slice(None)] * (ndim - used))
            continue
        out.append(np.asarray(p) if isinstance(p, list) else p)
    return tuple(out)


def _is_mask(part: Any) -> bool:
    return getattr(part, "dtype", None) == np.bool_


def _axes_used(part: Any) -> int:
    if getattr(part, "dtype", None) == np.bool_:
        return part.ndim
    return 1


def _is_basic(part: Any) -> bool:
    return isinstance(part, (int, np.integer, slice))


def _is_full(part: Any) -> bool:
    return isinstance(part, slice) and part == slice(None)


def _place_in_blocks(g: Any, x: Any, parts: tuple, dtype: Any) -> Any:
    """Zeros like ``x``, whose size along some axes is unknown, with ``g`` at the basic
    index ``parts`` (which takes those axes whole: ``selected[:, 1:3]``), built block by
    block, since Dask's item assignment needs every size. The axes the index narrows are
    made one block each, so that the index means the same in every block."""
    da = _dask_array()
    ndim = x.ndim
    parts = parts + (slice(None),) * (ndim - len(parts))
    unknown = [a for a in range(ndim) if _unknown(x.shape[a])]
    if any(not _is_full(parts[a]) for a in unknown):
        raise not_lazy(
            "the gradient of slicing along an axis whose size is unknown (rows a boolean "
            "mask selected)",
            "Slice before selecting with the mask, or call .compute_chunk_sizes() first.",
        )
    narrowed = {a: -1 for a in range(ndim) if not _is_full(parts[a])}
    xs = x.rechunk(narrowed) if narrowed else x
    letters = tuple(range(ndim))
    # g has x's axes but those an integer index took away.
    g_letters = tuple(a for a in letters if not isinstance(parts[a], (int, np.integer)))
    g = da.asarray(g)
    g = g.rechunk({i: -1 for i, a in enumerate(g_letters) if a in narrowed})
    for i, a in enumerate(g_letters):
        if a in unknown and g.numblocks[i] != xs.numblocks[a]:
            raise not_lazy("the gradient of a slice of a selection rechunked after it")
    return da.blockwise(
        _place_basic_block,
        letters,
        g,
        g_letters,
        xs,
        letters,
        index=parts,
        dtype=dtype,
        adjust_chunks={a: xs.chunks[a] for a in narrowed},
        align_arrays=False,
        meta=np.empty((0,) * ndim, dtype=dtype),
    )


def _place_basic_block(g: np.ndarray, x: np.ndarray, index: tuple) -> np.ndarray:
    """One block of :func:`_place_in_blocks`."""
    out = np.zeros(x.shape, dtype=g.dtype)
    out[index] = g
    return out


def _place_masked(g: Any, x: Any, mask: Any, axis: int, dtype: Any) -> Any:
    """Zeros like ``x`` with ``g`` at the positions along ``axis`` that the 1-D boolean
    Dask array ``mask`` selected (``g`` is ``x[..., mask, ...]``'s cotangent)."""
    da = _dask_array()
    xs = da.asarray(x)
    names = tuple(range(xs.ndim))
    # Dask selects block by block, from x and the mask in chunks made common (its
    # x[mask] is a blockwise getitem, which unifies them): the cotangent has one block
    # along the axis per block of those.
    _, (common, mask) = da.core.unify_chunks(xs, names, da.asarray(mask), (axis,))
    g = da.asarray(g)
    if g.numblocks[axis] != mask.numblocks[0]:
        # One rechunked since the selection cannot be matched to the blocks.
        raise not_lazy(
            "the gradient of rows selected by a boolean mask, rechunked after the selection",
        )
    # The other axes follow x's chunks; g's have the same sizes along them.
    g = g.rechunk(tuple(g.chunks[a] if a == axis else common.chunks[a] for a in names))
    placed = da.blockwise(
        _place_block,
        names,
        g,
        names,
        mask,
        (axis,),
        axis=axis,
        dtype=dtype,
        adjust_chunks={axis: common.chunks[axis]},
        align_arrays=False,
        meta=np.empty((0,) * xs.ndim, dtype=dtype),
    )
    return placed if placed.chunks == xs.chunks else placed.rechunk(xs.chunks)


def _place_block(g: np.ndarray, mask: np.ndarray, axis: int) -> np.ndarray:
    """One block of :func:`_place_masked`: ``g``'s slices where ``mask`` is true."""
    shape = list(g.shape)
    shape[axis] = mask.shape[0]
    out = np.zeros(shape, dtype=g.dtype)
    where = (slice(None),) * axis + (mask,)
    out[where] = g
    return out


def _place_masked_flat(g: Any, x: Any, mask: Any, dtype: Any) -> Any:
    """Zeros like ``x`` with ``g`` where the boolean ``mask`` of ``x``'s shape is true
    (``x[mask]``, which Dask computes on the flattened arrays, block by block)."""
    da = _dask_array()
    xs = da.asarray(x)
    if has_unknown_size(xs.shape):
        raise not_lazy("the gradient of a boolean mask over an array of unknown size")
    _, (flat_x, flat_mask) = da.core.unify_chunks(xs.ravel(), "i", da.asarray(mask).ravel(), "i")
    g = da.asarray(g)
    if g.numblocks[0] != flat_mask.numblocks[0]:
        raise not_lazy("the gradient of a boolean mask selection, rechunked after it")
    placed = da.blockwise(
        _place_block,
        "i",
        g,
        "i",
        flat_mask,
        "i",
        axis=0,
        dtype=dtype,
        adjust_chunks={"i": flat_x.chunks[0]},
        align_arrays=False,
        meta=np.empty((0,), dtype=dtype),
    )
    return placed.reshape(xs.shape)


def _add_at_axis(g: Any, x: Any, index: Any, axis: int, dtype: Any) -> Any:
    """Zeros like ``x`` with the slices of ``g`` added at the positions ``index`` (integers,
    any shape) names along ``axis``: ``np.add.at`` on each block of the index, the blocks'
    results summed. Each block's result has the gradient's size."""
    da = _dask_array()
    xs = da.asarray(x)
    size = xs.shape[axis]
    if _unknown(size):
        raise not_lazy("the gradient of integer indexing along an axis of unknown size")
    index = da.asarray(index)
    flat = index.reshape(-1)
    g = da.moveaxis(da.asarray(g), list(range(axis, axis + index.ndim)), list(range(index.ndim)))
    rest = g.shape[index.ndim :]
    g = g.reshape((flat.shape[0], math.prod(rest)))
    g = g.rechunk((flat.chunks[0], -1))
    parts = da.blockwise(
        _add_block,
        "bnj",
        flat,
        "b",
        g,
        "bj",
        size=size,
        new_axes={"n": size},
        adjust_chunks={"b": 1},
        dtype=dtype,
        meta=np.empty((0, 0, 0), dtype=dtype),
    )
    grad = parts.sum(axis=0).reshape((size, *rest))
    return da.moveaxis(grad, 0, axis).rechunk(xs.chunks)


def _add_block(index: np.ndarray, g: np.ndarray, size: int) -> np.ndarray:
    """One block of :func:`_add_at_axis`: ``g``'s rows added at ``index`` into zeros."""
    out = np.zeros((1, size, g.shape[1]), dtype=g.dtype)
    np.add.at(out[0], index % size, g)
    return out


# -- no silent computes ----------------------------------------------------------------------


@contextlib.contextmanager
def refusing_hidden_computes() -> Iterator[None]:
    """Inside the block, a compute asked for in this thread raises a :class:`NotLazyError`,
    which the gradient call reports at the user's line: ``float()``, ``bool()`` (an ``if``
    on a Dask value), ``.item()``, ``np.asarray``, NumPy given a list of Dask arrays, and
    a NumPy function Dask does not implement (``np.sort``, ``np.copy`` of a Dask array),
    which Dask would run on computed arrays with only a FutureWarning. Each would compute
    the data once per gradient call, apart from the one compute of value and gradients.
    Dask's own error for an array assigned through a boolean mask becomes one saying what
    to write.

    Dask's scheduler setting is global to the process: while any thread is in the block,
    it is :func:`_refuse_or_delegate`, which refuses the computes of threads in the block
    and hands other threads' to the scheduler in force before.
    """
    _enter_refusal()
    try:
        yield
    except ValueError as exc:
        # Dask's item assignment through a boolean mask broadcasts the values to the
        # selection's shape, which fails for values of unknown number (Z[m] = Z[m] * 2).
        if not (
            re.match(r"cannot broadcast shape \(.*nan.*\) to shape", str(exc))
            and _raised_in(exc, "__setitem__")
        ):
            raise
        error = not_lazy(
            "assignment of an array of values through a boolean mask",
            "Write np.where(mask, new_values, old) instead.",
        )
        raise error.with_traceback(exc.__traceback__) from exc
    finally:
        _leave_refusal()


#: how deep this thread is in refusing_hidden_computes
_refusing = threading.local()
_refusal_lock = threading.Lock()
#: while some thread refuses: [how many are in the block, Dask's config.set that installed
#: the refusing scheduler, the scheduler in force before it (None: each collection's own)]
_installed: list = []


def _enter_refusal() -> None:
    _refusing.depth = getattr(_refusing, "depth", 0) + 1
    with _refusal_lock:
        if _installed:
            _installed[0] += 1
            return
        dask = sys.modules["dask"]
        previous = dask.base.get_scheduler()
        _installed[:] = [1, dask.config.set(scheduler=_refuse_or_delegate), previous]


def _leave_refusal() -> None:
    _refusing.depth -= 1
    with _refusal_lock:
        _installed[0] -= 1
        if not _installed[0]:
            setting = _installed[1]
            _installed.clear()
            setting.__exit__(None, None, None)


def _refuse_or_delegate(graph: Any, keys: Any, **kwargs: Any) -> Any:
    """The Dask scheduler while a gradient of Dask arrays is built somewhere."""
    if getattr(_refusing, "depth", 0):
        raise _compute_error()
    with _refusal_lock:
        previous = _installed[2] if _installed else None
    if previous is None:
        import dask.threaded

        previous = dask.threaded.get
    return previous(graph, keys, **kwargs)


def _compute_error() -> NotLazyError:
    """Why a compute was refused: a NumPy function Dask lacks, if Dask's fallback for one
    asked for it (found on the stack), else a compute in the user's code."""
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name == "handle_nonmatching_names" and "dask" in (
            frame.f_code.co_filename
        ):
            function = frame.f_locals.get("func")
            name = f"np.{getattr(function, '__name__', '?')}"
            return not_lazy(f"{name} of a Dask array", _INSTEAD.get(name, _INSTEAD[None]))
        frame = frame.f_back
    return NotLazyError(
        "this line computes a Dask value while the gradient is built (float(), bool() or "
        "an if on a Dask value, .item(), np.asarray, NumPy given a list of Dask arrays "
        "do), once per call and apart from the one compute of value and gradients. "
        "Compute that value before calling the gradient, or keep it lazy (np.where for an "
        "if, np.stack for a list)."
    )


def _raised_in(exc: BaseException, function: str) -> bool:
    """Whether ``exc`` went through a function of that name of Dask's array module."""
    frame = exc.__traceback__
    while frame is not None:
        code = frame.tb_frame.f_code
        if code.co_name == function and "dask" in code.co_filename:
            return True
        frame = frame.tb_next
    return False


#: what to write instead of a NumPy function Dask would compute in memory
_INSTEAD = {
    "np.copy": "Write x.copy(), which Dask has.",
    None: "Write it with a dask.array function, or compute that value before differentiating.",
}

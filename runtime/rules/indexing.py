"""Rules for reading and assigning through subscripts."""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from .. import dask_support
from ..device import array_module
from ..primitives import assign_index
from .containers import Entries, Parts
from .forward import jvp_rule, linear
from .registry import nondifferentiable, vjp_rule
from .shared import (
    _dtype,
    _is_basic_index,
    _is_mask,
    _put,
    _scatter_add_device,
    _shape,
    shape_only,
    unbroadcast,
)


@vjp_rule(operator.getitem, name="getitem")
def getitem(g, ans, x, index):
    return scatter_grad(g, x, index)


linear(operator.getitem)


@vjp_rule(assign_index)
def assign_index_vjp(g, ans, x, index, value):
    return without_index(g, index), None, unbroadcast(assigned_value_grad(g, index), value)


# The same writes into the tangents: dx with zeros at index, and dvalue written into zeros.
# Where an integer index repeats a position, the write NumPy keeps wins in the tangent as in
# the value, since the writes come in the same order (written_zeros refuses where that
# order is not known, as the gradient does).
@jvp_rule(assign_index)
def assign_index_jvp(ans, x, index, value, *, dx, dvalue):
    return (
        assign_index(dx, index, 0.0),
        None,
        assign_index(written_zeros(ans, index), index, dvalue),
    )


# -- helpers the rules above call (generated code calls them by these names) ----------


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
    if xp is not np and (dask_support.is_dask(g) or dask_support.is_dask(x)):
        return dask_support.scatter_grad(g, x, index)
    out = xp.zeros(_shape(x), dtype=_dtype(g))
    if xp is np and _distinct_positions(index):
        out[index] = g  # each position once: the sum into zeros is the value itself
    else:
        _put(xp, out, index, g)
    return out


def _distinct_positions(index: Any) -> bool:
    """Whether an index with integer arrays provably names no position twice, checked in
    one pass: every array is a vector of one length (or a number), and one of them rises
    strictly with all its entries of one sign (so that wrapping negative entries keeps
    them distinct), as ``np.arange(n)`` does in ``x[np.arange(n), labels]``. Then the
    index tuples differ in that component; slices, None and ``...`` never repeat a
    position. Anything else (a list, a mask, a matrix of indices) says no, and the
    gradient accumulates with ``np.add.at`` as before."""
    parts = index if type(index) is tuple else (index,)
    rising = False
    length = None
    for part in parts:
        if type(part) is np.ndarray:
            if part.dtype.kind not in "iu" or part.ndim > 1:
                return False
            if part.ndim == 0:
                continue
            if length is not None and part.shape[0] != length:
                return False
            length = part.shape[0]
            if not rising:
                # (count_nonzero: about half the time of .all() on a few hundred entries)
                rising = length < 2 or (
                    (part[0] >= 0 or part[-1] < 0) and not np.count_nonzero(part[1:] <= part[:-1])
                )
        elif not (part is None or part is Ellipsis or isinstance(part, (int, np.integer, slice))):
            return False
    return rising


def _part_grad(g: Any, parts: Any, index: Any) -> Parts:
    # (a part that is no float, the flag of scipy.linalg.cho_factor's (c, lower), gets
    # the 0 of "nothing flowed", which adds to another rule's None for it)
    grads = [array_module(p).zeros_like(p) if _is_float(p) else 0 for p in parts]
    if isinstance(index, slice):
        for position, part in zip(range(len(parts))[index], g):
            grads[position] = part
    else:
        grads[operator.index(index)] = g
    return Parts(grads)


def _is_float(value: Any) -> bool:
    dtype = getattr(value, "dtype", None)
    return isinstance(value, float) if dtype is None else dtype.kind in "fc"


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
        # CuPy and Dask leave undefined which of several writes to one position survives.
        if _repeats_a_position(index, _shape(g)):
            raise NotImplementedError(
                "assignment on a device or a Dask array through an integer index that "
                "repeats a position has no well-defined gradient (which of the repeated "
                "values survives is undefined there); assign through unique indices"
            )
        return read
    last = _last_writes(index, _shape(g))
    return read if last is None else array_module(read).where(last, read, 0)


def written_zeros(ans: Any, index: Any) -> Any:
    """Float zeros shaped like ``ans``, the result of ``x[index] = v``: what forward mode
    writes the tangent of ``v`` into (``assign_index(written_zeros(ans, index), index,
    dv)``). It carries no derivative. Where an integer index repeats a position and which
    write NumPy keeps is not well defined (on a device; several index arrays not laid out
    in C order), it raises, as the gradient does.

    >>> written_zeros(np.arange(3), [0, 0])
    array([0., 0., 0.])
    """
    xp = array_module(ans)
    dtype = _dtype(ans)
    if not (_is_basic_index(index) or _is_mask(index)):
        if xp is not np:
            # (For Dask, as for CuPy: a write per position, or refused.)
            if _repeats_a_position(index, _shape(ans)):
                raise NotImplementedError(
                    "assignment on a device or a Dask array through an integer index that "
                    "repeats a position has no well-defined derivative (which of the repeated "
                    "values survives is undefined there); assign through unique indices"
                )
        else:
            _last_writes(index, _shape(ans))  # raises where NumPy's order is not known
    return xp.zeros(_shape(ans), dtype=dtype if dtype.kind in "fc" else np.float64)


nondifferentiable(written_zeros)


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
    if any(dask_support.is_dask(a) for a in arrays):
        raise dask_support.not_lazy(
            "checking that a Dask index array names each position once (which write "
            "survives a repeated position is undefined)",
            "Assign through NumPy index arrays, a boolean mask or slices.",
        )
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

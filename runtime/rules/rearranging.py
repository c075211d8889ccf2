"""Rules for functions that only move elements around: reshapes, transposes, joins and
splits, tiling, padding, triangles and diagonals."""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from ..device import array_module
from ..primitives import identity
from .containers import Parts
from .forward import jvp_rule, linear
from .registry import nondifferentiable, vjp_rule
from .shared import (
    _dtype,
    _put,
    _shape,
    _stand_in,
    inverse_axes,
    output_parts,
    place_diagonal,
    reshape_like,
    shape_only,
    transformable,
    unbroadcast,
)


# The order says in which order the elements are read and written ("F": first index
# fastest; "A" and "K" follow a's memory layout), so the gradient is put back in the same
# order, and the tangent read in it: both depend on a's layout, not on the tangent's.
@vjp_rule(np.reshape)
def reshape(g, ans, a, shape=None, order="C"):
    return reshape_back(g, a, order)


@jvp_rule(np.reshape)
def reshape_jvp(ans, a, shape=None, order="C", *, da):
    return np.reshape(da, np.shape(ans), order=layout_order(a, order))


@vjp_rule(np.ravel)
def ravel(g, ans, a, order="C"):
    return reshape_back(g, a, order)


@jvp_rule(np.ravel)
def ravel_jvp(ans, a, order="C", *, da):
    return np.ravel(da, layout_order(a, order))


@vjp_rule(np.squeeze)
def squeeze(g, ans, a, axis=None):
    return reshape_like(g, a)


@vjp_rule(np.expand_dims)
def expand_dims(g, ans, a, axis):
    return reshape_like(g, a)


@vjp_rule(np.atleast_1d)
def atleast_1d(g, ans, ary):
    return reshape_like(g, ary)


@vjp_rule(np.atleast_2d)
def atleast_2d(g, ans, ary):
    return reshape_like(g, ary)


@vjp_rule(np.atleast_3d)
def atleast_3d(g, ans, ary):
    return reshape_like(g, ary)


@vjp_rule(np.broadcast_to)
def broadcast_to(g, ans, array, shape, subok=False):
    return unbroadcast(g, array)


@vjp_rule(np.transpose)
def transpose(g, ans, a, axes=None):
    return np.transpose(g, inverse_axes(axes, g.ndim))


@vjp_rule(np.swapaxes)
def swapaxes(g, ans, a, axis1, axis2):
    return np.swapaxes(g, axis1, axis2)


@vjp_rule(np.moveaxis)
def moveaxis(g, ans, a, source, destination):
    return np.moveaxis(g, destination, source)


@vjp_rule(np.copy, identity, name="copy")
def copy(g, ans, a, order="K", subok=False):
    return g


# np.rollaxis is np.moveaxis with another way of naming the place the axis goes.
@vjp_rule(np.rollaxis)
def rollaxis(g, ans, a, axis, start=0):
    return np.moveaxis(g, rolled_to(a, axis, start), axis)


linear(np.squeeze, np.expand_dims)
linear(np.atleast_1d, np.atleast_2d, np.atleast_3d, np.broadcast_to)
linear(np.transpose, np.swapaxes, np.moveaxis, np.rollaxis, np.copy, identity)


# -- joining and splitting -------------------------------------------------------------------
# The joins return their one gradient, a ``Parts`` of one gradient per array joined, inside
# an explicit tuple: ``Parts`` is a tuple itself, and a bare one would read as one gradient
# per parameter.


@vjp_rule(np.concatenate)
def concatenate(g, ans, arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    return concatenate_grads(g, arrays, axis), None


@vjp_rule(np.stack)
def stack(g, ans, arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    return unstack(g, arrays, axis), None


@vjp_rule(np.hstack)
def hstack(g, ans, tup, *, dtype=None, casting="same_kind"):
    return (hstack_grads(g, tup),)


@vjp_rule(np.vstack)
def vstack(g, ans, tup, *, dtype=None, casting="same_kind"):
    return (vstack_grads(g, tup),)


@vjp_rule(np.dstack)
def dstack(g, ans, tup):
    return (dstack_grads(g, tup),)


@vjp_rule(np.column_stack)
def column_stack(g, ans, tup):
    return (column_stack_grads(g, tup),)


# A join's tangent is the join of the tangents (zeros for arrays without one).
linear(np.concatenate, np.stack, np.hstack, np.vstack, np.dstack, np.column_stack)


@vjp_rule(np.append)
def append(g, ans, arr, values, axis=None):
    parts = concatenate_grads(g, (arr, values), axis)
    return parts[0], parts[1]


@jvp_rule(np.append)
def append_jvp(ans, arr, values, axis=None, *, darr, dvalues):
    return (
        np.append(darr, zeros_of(values, darr), axis),
        np.append(zeros_of(arr, dvalues), dvalues, axis),
    )


@vjp_rule(np.split, multi_output=True)
def split(g, ans, ary, indices_or_sections, axis=0):
    return split_grad(g, ans, axis)


# The splits return several arrays: their one contribution is the list of the parts'
# tangents, inside an explicit tuple.
@jvp_rule(np.split)
def split_jvp(ans, ary, indices_or_sections, axis=0, *, dary):
    return (np.split(dary, indices_or_sections, axis),)


@vjp_rule(np.array_split, multi_output=True)
def array_split(g, ans, ary, indices_or_sections, axis=0):
    return split_grad(g, ans, axis)


@jvp_rule(np.array_split)
def array_split_jvp(ans, ary, indices_or_sections, axis=0, *, dary):
    return (np.array_split(dary, indices_or_sections, axis),)


@vjp_rule(np.hsplit, multi_output=True)
def hsplit(g, ans, ary, indices_or_sections):
    return split_grad(g, ans, hsplit_axis(ary))


@jvp_rule(np.hsplit)
def hsplit_jvp(ans, ary, indices_or_sections, *, dary):
    return (np.hsplit(dary, indices_or_sections),)


@vjp_rule(np.vsplit, multi_output=True)
def vsplit(g, ans, ary, indices_or_sections):
    return split_grad(g, ans, 0)


@jvp_rule(np.vsplit)
def vsplit_jvp(ans, ary, indices_or_sections, *, dary):
    return (np.vsplit(dary, indices_or_sections),)


@vjp_rule(np.dsplit, multi_output=True)
def dsplit(g, ans, ary, indices_or_sections):
    return split_grad(g, ans, 2)


@jvp_rule(np.dsplit)
def dsplit_jvp(ans, ary, indices_or_sections, *, dary):
    return (np.dsplit(dary, indices_or_sections),)


# -- repeating, reordering, padding ----------------------------------------------------------


@vjp_rule(np.tile)
def tile(g, ans, A, reps):
    return tile_grad(g, A, reps)


@vjp_rule(np.repeat)
def repeat(g, ans, a, repeats, axis=None):
    return repeat_grad(g, a, repeats, axis)


@vjp_rule(np.flip)
def flip(g, ans, m, axis=None):
    return np.flip(g, axis)


@vjp_rule(np.fliplr)
def fliplr(g, ans, m):
    return np.fliplr(g)


@vjp_rule(np.flipud)
def flipud(g, ans, m):
    return np.flipud(g)


@vjp_rule(np.roll)
def roll(g, ans, a, shift, axis=None):
    return np.roll(g, negated(shift), axis)


@vjp_rule(np.rot90)
def rot90(g, ans, m, k=1, axes=(0, 1)):
    return np.rot90(g, -k, axes)


linear(np.tile, np.repeat, np.flip, np.fliplr, np.flipud, np.roll, np.rot90)


@vjp_rule(np.pad)
def pad(
    g,
    ans,
    array,
    pad_width,
    mode="constant",
    constant_values=0,
    end_values=0,
    stat_length=None,
    reflect_type="even",
):
    return (
        unpad(g, array, pad_width, mode, reflect_type),
        None,
        None,
        pad_fill_grad(g, array, pad_width, constant_values),
    )


@jvp_rule(np.pad)
def pad_jvp(
    ans,
    array,
    pad_width,
    mode="constant",
    constant_values=0,
    end_values=0,
    stat_length=None,
    reflect_type="even",
    *,
    darray,
    dconstant_values,
):
    return (
        pad_tangent(darray, pad_width, mode, reflect_type),
        None,
        None,
        pad_fill_tangent(dconstant_values, array, pad_width, mode),
    )


# -- diagonals and triangles -----------------------------------------------------------------


@vjp_rule(np.diag)
def diag(g, ans, v, k=0):
    return diag_grad(g, v, k)


@vjp_rule(np.diagonal)
def diagonal(g, ans, a, offset=0, axis1=0, axis2=1):
    return place_diagonal(g, a, offset, axis1, axis2)


@vjp_rule(np.triu)
def triu(g, ans, m, k=0):
    return np.triu(g, k)


@vjp_rule(np.tril)
def tril(g, ans, m, k=0):
    return np.tril(g, k)


linear(np.diag, np.diagonal, np.triu, np.tril)


# -- helpers the rules above call (generated code calls them by these names) ----------


def layout_order(a: Any, order: Any = "C") -> str:
    """The order, "C" or "F", in which ``np.reshape(a, shape, order)`` and ``np.ravel(a,
    order)`` read ``a``: "A" and "K" are "F" for an array laid out in Fortran order only,
    as NumPy decides, and "C" for one laid out in C order ("A": in any other layout).

    >>> x = np.zeros((2, 3))
    >>> layout_order(x, "A"), layout_order(x.T, "A"), layout_order(x.T, "k")
    ('C', 'F', 'F')
    """
    order = "C" if order is None else str(order).upper()
    if order == "C" or order == "F":
        return order
    if order not in ("A", "K"):
        raise ValueError(f"order must be one of 'C', 'F', 'A', or 'K' (got {order!r})")
    if isinstance(a, (list, tuple, int, float, complex)) or np.ndim(a) == 0:
        return "C"
    flags = getattr(a, "flags", None)
    if flags is None:  # a tensor (forward mode on the tape): its raw array's layout
        flags = getattr(getattr(a, "data", None), "flags", None)
    if flags is None:
        raise NotImplementedError(
            f"np.reshape/np.ravel with order={order!r}: astgrad cannot read the memory "
            f"layout of a {type(a).__name__}; pass order='C' or order='F'"
        )
    if flags.f_contiguous and not flags.c_contiguous:
        return "F"
    if order == "A" or flags.c_contiguous:
        return "C"
    # NumPy's memory order of strided arrays (broadcast axes, negative steps, axes
    # permuted other than reversed) is a permutation astgrad does not reproduce.
    raise NotImplementedError(
        "np.ravel(a, order='K') (or a.flatten('K')) of an array laid out in neither C nor "
        "Fortran order has no derivative in astgrad; pass order='C' or order='F', or "
        "make the array contiguous first (np.ascontiguousarray)"
    )


nondifferentiable(layout_order)


@shape_only(1)
def reshape_back(g: Any, a: Any, order: Any = "C") -> Any:
    """Gradient of ``np.reshape(a, shape, order)`` and ``np.ravel(a, order)``: ``g`` put
    back in ``a``'s shape in the order its elements were read.

    >>> reshape_back(np.arange(6.0), np.zeros((2, 3)), "F")
    array([[0., 2., 4.],
           [1., 3., 5.]])
    """
    if order is None or order == "C":
        return reshape_like(g, a)
    if type(g) is float:
        g = np.asarray(g)
    if str(order).upper() in ("A", "K") and _stand_in_layout(a):
        raise NotImplementedError(
            f"np.reshape/np.ravel with order={order!r} inside a loop: astgrad keeps only "
            "the shape of the array reshaped there, not the memory layout this order "
            "reads; pass order='C' or order='F'"
        )
    return g.reshape(_shape(a), order=layout_order(a, order))


def _stand_in_layout(a: Any) -> bool:
    """Whether ``a`` may be what generated loops keep of an array read for its shape only
    (``shaped_like``: every stride 0) or its shape alone: its layout is then not a's."""
    if isinstance(a, tuple):
        return True
    strides = getattr(a, "strides", None)
    return strides is not None and np.size(a) > 1 and not any(strides)


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


@shape_only(0)
def rolled_to(a: Any, axis: int, start: int = 0) -> int:
    """Where ``np.rollaxis(a, axis, start)`` puts ``axis``, as ``np.moveaxis`` names it.

    >>> rolled_to(np.zeros((2, 3, 4)), 0, 2), rolled_to(np.zeros((2, 3, 4)), 2, 0)
    (1, 0)
    """
    ndim = len(_shape(a))
    axis = operator.index(axis) % ndim
    start = operator.index(start)
    if start < 0:
        start += ndim
    return start - 1 if axis < start else start


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
    if axis == 0 and type(g) is np.ndarray and g.ndim > 1 and isinstance(arrays, (list, tuple)):
        # np.stack took arrays of one shape, g.shape[1:]: its rows are their gradients (the
        # views the general path makes, without a moveaxis and a reshape per array: an
        # RNN's 50 states took 34us that way, 4us this way)
        return Parts(list(g))
    xp = array_module(g)
    moved = xp.moveaxis(g, axis, 0)
    return _per_array(Parts(moved[i].reshape(_shape(a)) for i, a in enumerate(arrays)), arrays)


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
    raise _pad_refused(mode, reflect_type)


def _pad_refused(mode: Any, reflect_type: str) -> NotImplementedError:
    extra = "" if reflect_type == "even" else f", reflect_type={reflect_type!r}"
    return NotImplementedError(
        f"np.pad(..., mode={mode!r}{extra}) "
        "has no derivative in astgrad; the constant, edge, reflect, symmetric and wrap "
        "modes do"
    )


@shape_only(1, 3)
def pad_fill_grad(g: Any, array: Any, pad_width: Any, constant_values: Any = 0) -> Any:
    """Gradient of ``np.pad(array, pad_width, constant_values=c)`` with respect to ``c``:
    the cotangent summed over the padding for one number; for one value per side of each
    axis (``c`` broadcast to ``(ndim, 2)``, as NumPy reads it), over the entries each
    value fills (a corner belongs to the last axis padded there: NumPy pads the axes in
    turn, each across the others' padding)."""
    if np.ndim(constant_values) == 0:
        return g.sum() - unpad(g, array, pad_width).sum()
    xp = array_module(g)
    ndim = len(_shape(array))
    # Pad with the labels 1..2 ndim instead of the values: each entry names its side.
    labels = np.pad(
        np.zeros(_shape(array), dtype=np.intp),
        np.broadcast_to(np.asarray(pad_width, dtype=np.intp), (ndim, 2)),
        constant_values=np.arange(1, 2 * ndim + 1).reshape(ndim, 2),
    )
    owners = xp.asarray(labels)
    sides = xp.stack([xp.sum(xp.where(owners == k, g, 0)) for k in range(1, 2 * ndim + 1)])
    return unbroadcast(xp.reshape(sides, (ndim, 2)), constant_values)


def zeros_of(x: Any, like: Any) -> Any:
    """Float zeros of ``x``'s shape, in the array module and dtype of ``like``: the
    tangent of an argument that has none, beside one that has (``np.append``). It carries
    no derivative."""
    xp = array_module(like)
    return xp.zeros(_shape(x), dtype=_dtype(xp.asarray(like)))


nondifferentiable(zeros_of)


@transformable
def pad_tangent(
    darray: Any, pad_width: Any, mode: Any = "constant", reflect_type: str = "even"
) -> Any:
    """The tangent of ``np.pad(array, pad_width, mode)`` from ``array``'s: zeros in the
    padding in constant mode; in the modes that copy elements, the tangents copied the
    same way."""
    if mode == "constant" or mode == "empty":
        return np.pad(darray, pad_width)
    if mode in _PAD_MODES_BY_INDEX and reflect_type == "even":
        return np.pad(darray, pad_width, mode=mode)
    raise _pad_refused(mode, reflect_type)


@transformable
def pad_fill_tangent(
    dconstant_values: Any, array: Any, pad_width: Any, mode: Any = "constant"
) -> Any:
    """The tangent of ``np.pad(array, pad_width, constant_values=c)`` from ``c``'s: the
    padding filled with it (one number, or one per side of each axis, as ``c``), zeros
    where ``array`` goes; zeros everywhere in the modes that do not read ``c``."""
    zeros = zeros_of(array, dconstant_values)
    if mode != "constant":
        return np.pad(zeros, pad_width)
    if array_module(zeros) is np:
        return np.pad(zeros, pad_width, constant_values=dconstant_values)
    # CuPy's np.pad reads constant_values on the host: fill each axis's sides in turn, as
    # NumPy does (a later axis's values over an earlier one's corners), with np.where
    out = np.pad(zeros, pad_width)
    ndim = np.ndim(out)
    values = np.broadcast_to(dconstant_values, (ndim, 2))
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.intp), (ndim, 2))
    for axis in range(ndim):
        sides = [[0, 0]] * ndim
        for side in (0, 1):
            sides[axis] = [int(widths[axis][0]), 0] if side == 0 else [0, int(widths[axis][1])]
            rest = np.zeros_like(out[(slice(None),) * axis + (slice(sum(sides[axis]), None),)])
            mask = np.pad(rest, sides, constant_values=1) == 1
            out = np.where(mask, values[axis][side], out)
    return out

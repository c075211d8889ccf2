"""Rules for ``np.insert``, ``np.delete``, ``np.block``, ``np.diagflat``, ``np.resize``,
``np.compress``, ``np.extract``, ``np.choose``, ``np.meshgrid`` and NumPy 2's ``np.unstack``.

``insert``, ``delete`` and ``block`` move elements to new places: each rule asks NumPy
where, by calling the function itself on arrays of positions (so every form of ``obj``,
``axis`` and nesting NumPy takes is read as NumPy reads it), and gathers the gradient back
from there.
"""

import math
from typing import Any

import numpy as np
from numpy import arange as _np_arange
from numpy import argsort as _np_argsort
from numpy import block as _np_block

from ..device import array_module
from .containers import Parts
from .forward import jvp_rule, linear
from .rearranging import zeros_of
from .registry import nondifferentiable, vjp_rule
from .selection import take_grad
from .shared import output_parts, shape_only, transformable, unbroadcast


@vjp_rule(np.delete)
def delete(g, ans, arr, obj, axis=None):
    return take_grad(g, arr, deleted_sources(arr, obj, axis)), None


linear(np.delete)


@vjp_rule(np.insert)
def insert(g, ans, arr, obj, values, axis=None):
    found = inserted_sources(arr, obj, values, axis)
    return (
        take_grad(g[found[0] >= 0], arr, found[0][found[0] >= 0]),
        None,
        take_grad(g[found[1] >= 0], values, found[1][found[1] >= 0]),
        None,
    )


@jvp_rule(np.insert)
def insert_jvp(ans, arr, obj, values, axis=None, *, darr, dvalues):
    return (
        np.insert(darr, obj, zeros_of(values, darr), axis),
        None,
        insert_values_tangent(dvalues, arr, obj, values, axis),
        None,
    )


# np.block joins the arrays of nested lists (blocks of any ndim, numbers too): each block's
# gradient is the part of g its elements landed in, which np.block itself says when given
# the blocks' element numbers. The gradient of a nested list is nested Parts, one per list.
@vjp_rule(np.block)
def block(g, ans, arrays):
    return (block_grads(g, arrays),)


linear(np.block)


# np.block on the tape, where a list nested in a list cannot carry tensors to a rule: the
# blocks come as one flat list and ``layout`` says where each goes (a nested list of None).
def joined_blocks(blocks, layout):
    """``np.block`` of ``layout`` with its places filled by ``blocks`` in order."""
    nested = _renumbered(layout, iter(blocks))
    if not blocks or array_module(*blocks) is np:
        return np.block(nested)
    return _joined(nested, array_module(*blocks))


def _joined(nested: list, xp: Any) -> Any:
    """``np.block(nested)`` by concatenation, for array modules without ``block`` (CuPy):
    the innermost lists join along the last axis, each list around them along the axis
    before, every block first given leading axes of length 1 up to the result's rank."""
    depth, leaves = 0, [nested]
    while leaves and isinstance(leaves[0], list):
        depth += 1
        leaves = [x for part in leaves for x in part]
    ndim = max([depth] + [np.ndim(x) for x in leaves])

    def join(item: Any, level: int) -> Any:
        if not isinstance(item, list):
            return xp.reshape(item, (1,) * (ndim - np.ndim(item)) + np.shape(item))
        return xp.concatenate([join(x, level + 1) for x in item], axis=level - depth - 1)

    return join(nested, 1)


@vjp_rule(joined_blocks)
def joined_blocks_vjp(g, ans, blocks, layout):
    return Parts(block_pieces(g, blocks, _renumbered(layout, iter(blocks)))), None


linear(joined_blocks)


# diagflat puts v's elements on a diagonal; resize repeats a's (flattened) elements or cuts
# them short; compress and extract keep those a condition selects. Each gradient gathers g
# back from the places NumPy put each element, which it says when given positions.
@vjp_rule(np.diagflat)
def diagflat(g, ans, v, k=0):
    return np.reshape(np.diagonal(g, k), np.shape(v))


linear(np.diagflat)


@vjp_rule(np.resize)
def resize(g, ans, a, new_shape):
    return take_grad(g, a, np.resize(positions_of(a), new_shape)), None


linear(np.resize)


@vjp_rule(np.compress)
def compress(g, ans, condition, a, axis=None, out=None):
    return None, take_grad(g, a, np.compress(condition, positions_of(a), axis))


@jvp_rule(np.compress)
def compress_jvp(ans, condition, a, axis=None, out=None, *, da):
    return None, np.compress(condition, da, axis)


@vjp_rule(np.extract)
def extract(g, ans, condition, arr):
    return None, take_grad(g, arr, np.extract(condition, positions_of(arr)))


@jvp_rule(np.extract)
def extract_jvp(ans, condition, arr, *, darr):
    return None, np.extract(condition, darr)


# np.choose(a, choices) takes each element from the choice a names there (after mode's
# wrapping or clipping): each choice's gradient is g where it was chosen.
@vjp_rule(np.choose)
def choose(g, ans, a, choices, out=None, mode="raise"):
    return None, choices_grads(g, ans, a, choices, mode)


@jvp_rule(np.choose)
def choose_jvp(ans, a, choices, out=None, mode="raise", *, dchoices):
    return None, chosen_from(a, dchoices, mode)


def chosen_from(a: Any, choices: Any, mode: str = "raise") -> Any:
    """``np.choose(a, choices, mode=mode)``, also in an array module whose ``choose`` takes
    the choices as one array only (CuPy's): a list of them is broadcast and stacked first.

    >>> chosen_from([1, 0], [np.zeros(2), np.ones(2)])
    array([1., 0.])
    """
    if not isinstance(choices, (list, tuple)):
        return np.choose(a, choices, mode=mode)
    xp = array_module(*choices)
    if xp is np:
        return np.choose(a, choices, mode=mode)
    return xp.choose(xp.asarray(a), xp.stack(xp.broadcast_arrays(*choices)), mode=mode)


@vjp_rule(chosen_from)
def chosen_from_vjp(g, ans, a, choices, mode="raise"):
    return None, choices_grads(g, ans, a, choices, mode)


@jvp_rule(chosen_from)
def chosen_from_jvp(ans, a, choices, mode="raise", *, dchoices):
    return None, chosen_from(a, dchoices, mode)


@vjp_rule(np.unstack, multi_output=True)
def unstack(g, ans, x, *, axis=0):
    return np.stack(output_parts(g, ans), axis=axis)


@jvp_rule(np.unstack)
def unstack_jvp(ans, x, *, axis=0, dx):
    return (np.unstack(dx, axis=axis),)


# meshgrid spreads each (flattened) input along one axis of its result: the gradient sums
# that result's cotangent over the other axes. The rule names four inputs, so that the
# tape and the transform can bind a call to it (a fifth stops with an error).
@vjp_rule(np.meshgrid, multi_output=True)
def meshgrid(g, ans, x0=None, x1=None, x2=None, x3=None, *, copy=True, sparse=False, indexing="xy"):
    return (
        meshgrid_grad(g, ans, 0, x0, indexing),
        meshgrid_grad(g, ans, 1, x1, indexing),
        meshgrid_grad(g, ans, 2, x2, indexing),
        meshgrid_grad(g, ans, 3, x3, indexing),
    )


@jvp_rule(np.meshgrid)
def meshgrid_jvp(
    ans,
    x0=None,
    x1=None,
    x2=None,
    x3=None,
    *,
    copy=True,
    sparse=False,
    indexing="xy",
    dx0,
    dx1,
    dx2,
    dx3,
):
    return (
        grid_tangent(dx0, 0, x0, x1, x2, x3, sparse, indexing),
        grid_tangent(dx1, 1, x0, x1, x2, x3, sparse, indexing),
        grid_tangent(dx2, 2, x0, x1, x2, x3, sparse, indexing),
        grid_tangent(dx3, 3, x0, x1, x2, x3, sparse, indexing),
    )


def grid_tangent(d, position, x0, x1=None, x2=None, x3=None, sparse=False, indexing="xy"):
    """The tangent of ``np.meshgrid(x0, x1, ...)`` along ``d``, the tangent of the input
    at ``position``: its grid, and zeros for the others, as :class:`Parts` (the transform
    adds the tangents of several inputs result by result, where tuples would be joined).
    None where there is no such input. A primitive of its own, so that reverse mode
    differentiates forward code that calls it (``ag.hvp``)."""
    given = [x for x in (x0, x1, x2, x3) if x is not None]
    if position >= len(given):
        return None
    moved = [d if i == position else zeros_of(x, d) for i, x in enumerate(given)]
    return Parts(np.meshgrid(*moved, sparse=sparse, indexing=indexing))


@vjp_rule(grid_tangent, multi_output=True)
def grid_tangent_vjp(
    g, ans, d, position, x0, x1=None, x2=None, x3=None, sparse=False, indexing="xy"
):
    return meshgrid_grad(g, ans, position, d, indexing), None, None, None, None, None, None, None


@jvp_rule(grid_tangent)
def grid_tangent_jvp(
    ans, d, position, x0, x1=None, x2=None, x3=None, sparse=False, indexing="xy", *, dd
):
    return (grid_tangent(dd, position, x0, x1, x2, x3, sparse, indexing),)


# -- helpers the rules above call (generated code calls them by these names) ----------------


def deleted_sources(arr: Any, obj: Any, axis: Any) -> Any:
    """For each element of ``np.delete(arr, obj, axis)``, the flat position in ``arr`` it
    came from."""
    xp = array_module(arr)
    positions = xp.reshape(xp.arange(np.size(arr)), np.shape(arr))
    return xp.delete(positions, obj, axis)


def inserted_sources(arr: Any, obj: Any, values: Any, axis: Any) -> tuple[Any, Any]:
    """For each element of ``np.insert(arr, obj, values, axis)``, the flat position in
    ``arr`` it came from (-1 for an inserted value), and in ``values`` (-1 for one of
    ``arr``'s)."""
    # (values of values' shape: NumPy lays out a block of them as it does the real ones)
    xp = array_module(arr, values)
    positions = xp.reshape(xp.arange(np.size(arr)), np.shape(arr))
    from_arr = xp.insert(positions, obj, xp.full(np.shape(values), -1), axis)
    numbered = xp.reshape(xp.arange(np.size(values)), np.shape(values))
    from_values = xp.insert(xp.full(np.shape(arr), -1), obj, numbered, axis)
    return from_arr, from_values


def block_grads(g: Any, arrays: Any) -> Any:
    """The gradients of the blocks ``np.block(arrays)`` joined, nested as ``arrays`` is (a
    :class:`Parts` per list).

    >>> block_grads(np.arange(5.0), [np.zeros(2), 7.0, np.zeros(2)])
    Parts([array([0., 1.]), array(2.), array([3., 4.])])
    """
    return _renumbered(arrays, iter(block_pieces(g, _leaves(arrays), arrays)), Parts)


def block_pieces(g: Any, blocks: list, arrays: Any) -> list:
    """The gradients of ``blocks``, the blocks of ``arrays`` in order, for the cotangent
    ``g`` of ``np.block(arrays)``: the part of ``g`` each block's elements landed in."""
    xp = array_module(g)
    flat = np.reshape(g, -1)
    shapes = [np.shape(b) for b in blocks]
    places = block_places(shapes, arrays)
    return [np.reshape(flat[xp.asarray(place)], shape) for place, shape in zip(places, shapes)]


def block_places(shapes: list, arrays: Any) -> list:
    """For each block of ``arrays`` (of ``shapes``), the flat positions in ``np.block(
    arrays)`` its elements landed at, in the block's order: np.block itself says, given the
    blocks' element numbers."""
    # (NumPy's functions by their own names: a rule running on tensors, whose module's
    # ``np`` makes tensors, reads these numbers as plain arrays still)
    sizes = [math.prod(shape) for shape in shapes]
    starts = [sum(sizes[:i]) for i in range(len(sizes) + 1)]
    numbered = iter(
        _np_arange(start, start + size).reshape(shape)
        for start, size, shape in zip(starts, sizes, shapes)
    )
    landed = _np_argsort(_np_block(_renumbered(arrays, numbered)).reshape(-1))
    return [landed[start : start + size] for start, size in zip(starts, sizes)]


def positions_of(a: Any) -> Any:
    """The flat position of each element of ``a``, shaped like ``a``, in its array module
    (NumPy moves them as it moves ``a``'s elements)."""
    xp = array_module(a)
    return xp.reshape(xp.arange(np.size(a)), np.shape(a))


@shape_only(1, 3)
def choices_grads(g: Any, ans: Any, a: Any, choices: Any, mode: str) -> Any:
    """The gradients of np.choose's choices: ``g`` where each was chosen, summed back to
    its shape; one per choice (Parts) as they were given, or one array for an array of
    them."""
    xp = array_module(g)
    count = len(choices)
    # which choice each element of the result came from, as np.choose reads a and mode
    index = xp.asarray(a)
    if mode == "wrap":
        index = index % count
    elif mode == "clip":
        index = xp.clip(index, 0, count - 1)
    chosen = xp.broadcast_to(index, np.shape(ans))
    parts = Parts(unbroadcast(xp.where(chosen == j, g, 0.0), choices[j]) for j in range(count))
    if isinstance(choices, (list, tuple)):
        return parts
    return xp.reshape(xp.stack(list(parts)), np.shape(choices))


def _leaves(arrays: Any) -> list:
    """The blocks of a nested list, in order (a block that is not a list is one)."""
    if isinstance(arrays, list):
        return [leaf for item in arrays for leaf in _leaves(item)]
    return [arrays]


def _renumbered(arrays: Any, values: Any, nest: Any = list) -> Any:
    """``arrays`` with each block replaced by the next of ``values``, lists made ``nest``."""
    if isinstance(arrays, list):
        return nest([_renumbered(item, values, nest) for item in arrays])
    return next(values)


@shape_only(1)
def meshgrid_grad(g: Any, ans: Any, position: int, x: Any, indexing: str) -> Any:
    """The gradient of ``np.meshgrid``'s input at ``position`` (None where there is none):
    its result's cotangent summed over every axis but the one it runs along."""
    if x is None:
        return None
    part = output_parts(g, ans)[position]
    along = _grid_axis(position, len(ans), indexing)
    others = tuple(k for k in range(np.ndim(part)) if k != along)
    return np.reshape(np.sum(part, axis=others), np.shape(x))


def _grid_axis(position: int, count: int, indexing: str) -> int:
    """The axis of meshgrid's results that its input at ``position`` runs along: 'xy'
    swaps the first two."""
    if indexing == "xy" and count > 1 and position < 2:
        return 1 - position
    return position


nondifferentiable(
    deleted_sources, inserted_sources, _grid_axis, _leaves, block_places, positions_of
)


@transformable
def insert_values_tangent(dvalues: Any, arr: Any, obj: Any, values: Any, axis: Any) -> Any:
    """The tangent of ``np.insert(arr, obj, values, axis)`` along ``dvalues``."""
    return np.insert(zeros_of(arr, dvalues), obj, dvalues, axis)

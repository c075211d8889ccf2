"""Rules for the helpers of generated gradient code from rearranging, selection, indexing
and the other structural families, so that code can be differentiated again (issue 16;
``helper_rules`` holds the first ones and says how).

Each helper here only moves, copies, adds up or masks its cotangent, as the gradient of a
structural primitive does: it is linear in the cotangent, and the arguments it reads for
shapes, indices and options get no gradient. Its vjp is its transpose, the primitive's own
forward structural operation on the rule's cotangent (the transpose of cutting a join's
cotangent into pieces is the join, of adding up the tiles the tiling); its tangent is the
helper applied to the tangent (``linear``). A helper that returns one cotangent per array
(a :class:`Parts`) takes a tuple of cotangents in its rule (``multi_output``), with zeros
for the arrays nothing read, as ``output_parts`` fills them.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from .builtins_ import chosen, spread
from .containers import add_adjoints
from .forward import jvp_rule, linear
from .indexing import assigned_value_grad, scatter_grad, without_index
from .rearranging import (
    column_stack_grads,
    concatenate_grads,
    diag_grad,
    dstack_grads,
    hsplit_axis,
    hstack_grads,
    negated,
    pad_fill_grad,
    pad_fill_tangent,
    pad_tangent,
    repeat_grad,
    reshape_back,
    rolled_to,
    split_grad,
    tile_grad,
    unpad,
    unstack,
    vstack_grads,
)
from .rearranging_more import (
    _grid_axis,
    _renumbered,
    block_grads,
    block_pieces,
    choices_grads,
    chosen_from,
    joined_blocks,
    meshgrid_grad,
)
from .registry import nondifferentiable, vjp_rule
from .results import results_grad
from .selection import (
    arrangement,
    cast_grad,
    default_mask,
    partition_grad,
    select_default_grad,
    select_grads,
    take_along_axis_grad,
    take_grad,
    take_in_mode,
    unstack_like,
)
from .shared import output_parts, place_diagonal, reshape_like
from .signal import full_cotangent, window_padding

__all__: list[str] = []

# an axis, a shift undone and an axis moved to: integers
nondifferentiable(hsplit_axis, negated, rolled_to)


# (the cotangent parameter is named ``cotangent``: ``g`` is the rule's own)
@vjp_rule(tile_grad)
def tile_grad_vjp(g, ans, cotangent, A, reps):
    # the tiles added up, transposed: the same value in every tile
    return np.tile(g, reps), None, None


@vjp_rule(repeat_grad)
def repeat_grad_vjp(g, ans, cotangent, a, repeats, axis=None):
    # each element's copies added up, transposed: the element copied
    return np.repeat(g, repeats, axis), None, None, None


def read_order(order: Any) -> str:
    """The order, "C" or "F", in which ``reshape_back(g, a, order)`` read ``g``, for its
    rule; "A" and "K" are refused there: they read a's memory layout, which the tape does
    not keep (it keeps a copy of a constant) nor generated loops (a stand-in of its
    shape), so the rule could read it in the other order without a word."""
    order = "C" if order is None else str(order).upper()
    if order not in ("C", "F"):
        raise NotImplementedError(
            f"the derivative of np.reshape/np.ravel with order={order!r}, differentiated "
            "again: astgrad keeps only the shape of the array reshaped, not the memory "
            "layout this order reads; pass order='C' or order='F'"
        )
    return order


nondifferentiable(read_order)


@vjp_rule(reshape_back)
def reshape_back_vjp(g, ans, cotangent, a, order="C"):
    # read back in a's shape, transposed: read in the cotangent's, in the same order
    return reshape_back(g, cotangent, read_order(order)), None, None


@vjp_rule(diag_grad)
def diag_grad_vjp(g, ans, cotangent, v, k=0):
    # a diagonal read (or placed), transposed: placed (or read), which np.diag does both
    return np.diag(g, k), None, None


@vjp_rule(place_diagonal)
def place_diagonal_vjp(g, ans, cotangent, a, offset=0, axis1=0, axis2=1):
    return np.diagonal(g, offset, axis1, axis2), None, None, None, None


@vjp_rule(unpad)
def unpad_vjp(g, ans, cotangent, array, pad_width, mode="constant", reflect_type="even"):
    # the middle read (each copy added to its source), transposed: zeros around it (the
    # source copied where the padding copies it): the tangent of np.pad
    return pad_tangent(g, pad_width, mode, reflect_type), None, None, None, None


@vjp_rule(pad_fill_grad)
def pad_fill_grad_vjp(g, ans, cotangent, array, pad_width, constant_values=0):
    # the padding added up (per side), transposed: the padding filled with it
    return pad_fill_tangent(g, array, pad_width), None, None, None


linear(tile_grad, repeat_grad, reshape_back, diag_grad, place_diagonal, unpad, pad_fill_grad)


# -- joins cut back into their arrays, and splits joined back ------------------------------
# Cutting a join's cotangent into one piece per array (a ``Parts``; one array of the
# sequence's shape for an array joined as its rows), transposed: the pieces' cotangents
# joined as the arrays were. The tangent of the pieces is the tangent cut into pieces.


@vjp_rule(concatenate_grads, multi_output=True)
def concatenate_grads_vjp(g, ans, cotangent, arrays, axis=0):
    # (joined flat where axis is None: put back in the cotangent's shape)
    return reshape_like(np.concatenate(output_parts(g, ans), axis), cotangent), None, None


@jvp_rule(concatenate_grads)
def concatenate_grads_jvp(ans, cotangent, arrays, axis=0, *, dcotangent):
    return concatenate_grads(dcotangent, arrays, axis), None, None


@vjp_rule(unstack, multi_output=True)
def unstack_vjp(g, ans, cotangent, arrays, axis=0):
    return np.stack(output_parts(g, ans), axis), None, None


@jvp_rule(unstack)
def unstack_jvp(ans, cotangent, arrays, axis=0, *, dcotangent):
    return unstack(dcotangent, arrays, axis), None, None


@vjp_rule(hstack_grads, multi_output=True)
def hstack_grads_vjp(g, ans, cotangent, tup):
    return np.hstack(output_parts(g, ans)), None


@jvp_rule(hstack_grads)
def hstack_grads_jvp(ans, cotangent, tup, *, dcotangent):
    return hstack_grads(dcotangent, tup), None


@vjp_rule(vstack_grads, multi_output=True)
def vstack_grads_vjp(g, ans, cotangent, tup):
    return np.vstack(output_parts(g, ans)), None


@jvp_rule(vstack_grads)
def vstack_grads_jvp(ans, cotangent, tup, *, dcotangent):
    return vstack_grads(dcotangent, tup), None


@vjp_rule(dstack_grads, multi_output=True)
def dstack_grads_vjp(g, ans, cotangent, tup):
    return np.dstack(output_parts(g, ans)), None


@jvp_rule(dstack_grads)
def dstack_grads_jvp(ans, cotangent, tup, *, dcotangent):
    return dstack_grads(dcotangent, tup), None


@vjp_rule(column_stack_grads, multi_output=True)
def column_stack_grads_vjp(g, ans, cotangent, tup):
    return np.column_stack(output_parts(g, ans)), None


@jvp_rule(column_stack_grads)
def column_stack_grads_jvp(ans, cotangent, tup, *, dcotangent):
    return column_stack_grads(dcotangent, tup), None


# the parts' cotangents joined, transposed: the cotangent cut at the parts' bounds (the
# split's own ``parts`` give their sizes), one per part
@vjp_rule(split_grad)
def split_grad_vjp(g, ans, cotangent, parts, axis=0):
    return concatenate_grads(g, parts, axis), None, None


linear(split_grad)


# -- reads at indices, transposed: writes there, and back ----------------------------------


# the cotangent added at the index into zeros, transposed: read at the index (repeated
# positions read again, as they were added up)
@vjp_rule(scatter_grad)
def scatter_grad_vjp(g, ans, cotangent, x, index):
    return g[index], None, None


# zeros written at the index: a projection, its own transpose
@vjp_rule(without_index)
def without_index_vjp(g, ans, cotangent, index):
    return without_index(g, index), None


# read at the index where the write survived (zeros where a later write to the same
# position overwrote it), transposed: the surviving writes' cotangents put at the index
@vjp_rule(assigned_value_grad)
def assigned_value_grad_vjp(g, ans, cotangent, index):
    kept = assigned_value_grad(np.ones_like(cotangent), index)
    return scatter_grad(g * kept, cotangent, index), None


@vjp_rule(take_grad)
def take_grad_vjp(g, ans, cotangent, a, indices, axis=None, mode="raise"):
    return take_in_mode(g, indices, axis, mode), None, None, None, None


@vjp_rule(take_along_axis_grad)
def take_along_axis_grad_vjp(g, ans, cotangent, arr, indices, axis=-1):
    return np.take_along_axis(g, indices, axis), None, None, None


# each position's cotangent sent to the element of a that landed there, transposed: the
# elements read where they landed (the arrangement is piecewise constant in a)
@vjp_rule(partition_grad)
def partition_grad_vjp(g, ans, cotangent, a, result, axis=-1):
    return np.take_along_axis(g, arrangement(a, result, axis), axis), None, None, None


# a cast back to x's dtype (the real part where the result or x is real), transposed: a
# cast to the cotangent's, the real part where the helper took it or the cotangent is
# real (cast_grad reads which from its last argument); none through a cast to integers
@vjp_rule(cast_grad)
def cast_grad_vjp(g, ans, cotangent, x, result):
    made = x if result.dtype.kind == "c" else result
    like = cotangent if hasattr(cotangent, "dtype") else np.asarray(cotangent)
    return cast_grad(g, like, made), None, None


# the cotangent kept where no condition holds, transposed: there only
@vjp_rule(select_default_grad)
def select_default_grad_vjp(g, ans, cotangent, condlist, default=0):
    kept = np.where(default_mask(condlist), g, 0.0)
    return np.broadcast_to(kept, np.shape(cotangent)), None, None


linear(
    scatter_grad,
    without_index,
    assigned_value_grad,
    take_grad,
    take_along_axis_grad,
    partition_grad,
    cast_grad,
    select_default_grad,
)


# the cotangent kept where each choice was taken, one per choice, transposed: each
# choice's cotangent where it was taken, which np.select does
@vjp_rule(select_grads, multi_output=True)
def select_grads_vjp(g, ans, cotangent, condlist, choicelist):
    taken = np.select(condlist, output_parts(g, ans), 0.0)
    return np.broadcast_to(taken, np.shape(cotangent)), None, None


@jvp_rule(select_grads)
def select_grads_jvp(ans, cotangent, condlist, choicelist, *, dcotangent):
    return select_grads(dcotangent, condlist, choicelist), None, None


# the array's cotangent taken apart as the array was made (only reshaped where it was made
# of one array or number), transposed: put together
@vjp_rule(unstack_like, multi_output=True)
def unstack_like_vjp(g, ans, cotangent, like):
    parted = isinstance(like, (list, tuple))
    joined = np.stack(output_parts(g, ans)) if parted else g
    return reshape_like(joined, cotangent), None


@jvp_rule(unstack_like)
def unstack_like_jvp(ans, cotangent, like, *, dcotangent):
    return unstack_like(dcotangent, like), None


# -- the cotangents of several results, one per result -------------------------------------


# the results' cotangents as a list (zeros where none flowed), transposed: in the form the
# cotangent came in (a tuple or list of them, the parts stacked, or the one part)
@vjp_rule(output_parts, multi_output=True)
def output_parts_vjp(g, ans, cotangent, parts):
    listed = isinstance(cotangent, (list, tuple))
    parted = output_parts(g, ans)
    return (parted if listed else reshape_like(np.stack(parted), cotangent)), None


@jvp_rule(output_parts)
def output_parts_jvp(ans, cotangent, parts, *, dcotangent):
    return output_parts(dcotangent, parts), None


# a sum's cotangent as each term's (summed down to its shape), transposed: the terms'
# cotangents spread back over the sum's shape and added
@vjp_rule(results_grad, multi_output=True)
def results_grad_vjp(g, ans, cotangent, result, x):
    listed = isinstance(x, (list, tuple))
    spread_back = output_parts(g, ans) if listed else np.broadcast_to(g, np.shape(cotangent))
    return spread_back, None, None


@jvp_rule(results_grad)
def results_grad_jvp(ans, cotangent, result, x, *, dcotangent):
    return results_grad(dcotangent, result, x), None, None


# a sum of adjoints: each one's gradient is the sum's cotangent (in its form: per element
# for containers, summed down to its shape for an array), as add_results' rule says. Each
# tangent comes in the sum's form: Parts for containers (which add element by element,
# where lists would join), spread over the sum's shape for arrays.
@vjp_rule(add_adjoints, multi_output=True)
def add_adjoints_vjp(g, ans, a, b):
    return results_grad(g, ans, a), results_grad(g, ans, b)


@jvp_rule(add_adjoints)
def add_adjoints_jvp(ans, a, b, *, da, db):
    listed = isinstance(ans, (list, tuple))
    return (
        results_grad(da, ans, a) if listed else np.broadcast_to(da, np.shape(ans)),
        results_grad(db, ans, b) if listed else np.broadcast_to(db, np.shape(ans)),
    )


# builtin sum's cotangent given to each term, transposed: the terms' cotangents added
# (an array's rows: summed over its first axis)
@vjp_rule(spread, multi_output=True)
def spread_vjp(g, ans, cotangent, iterable):
    return reshape_like(builtins.sum(output_parts(g, ans)), cotangent), None


@jvp_rule(spread)
def spread_jvp(ans, cotangent, iterable, *, dcotangent):
    return spread(dcotangent, iterable), None


def chosen_at(result: Any, iterable: Any) -> int:
    """Which item of ``iterable`` builtin ``max``/``min`` returned as ``result`` (the
    first equal to it), as ``chosen`` finds it."""
    items = list(iterable)
    return next(i for i, item in enumerate(items) if item is result or np.all(item == result))


nondifferentiable(chosen_at)


# builtin max's (min's) cotangent put at the item it returned, transposed: read there (its
# real part for a real array's rows, which chosen writes the cotangent into)
@vjp_rule(chosen, multi_output=True)
def chosen_vjp(g, ans, cotangent, result, iterable):
    picked = output_parts(g, ans)[chosen_at(result, iterable)]
    rows = not isinstance(iterable, (list, tuple)) and not np.iscomplexobj(iterable)
    return (np.real(picked) if rows else picked), None, None


@jvp_rule(chosen)
def chosen_jvp(ans, cotangent, result, iterable, *, dcotangent):
    return chosen(dcotangent, result, iterable), None, None


# -- convolution windows, choices, grids, blocks ----------------------------------------------


# a window's cotangent with zeros around it, transposed: the window cut out
@vjp_rule(full_cotangent)
def full_cotangent_vjp(g, ans, cotangent, full, later=False):
    return unpad(g, cotangent, window_padding(np.shape(cotangent), full, later)), None, None


linear(full_cotangent)


# the cotangent where each choice was chosen (summed down to its shape), one per choice,
# transposed: each choice's cotangent taken where it was chosen, which np.choose does
@vjp_rule(choices_grads, multi_output=True)
def choices_grads_vjp(g, ans, cotangent, result, a, choices, mode):
    taken = chosen_from(a, output_parts(g, ans), mode)
    return np.broadcast_to(taken, np.shape(cotangent)), None, None, None, None


@jvp_rule(choices_grads)
def choices_grads_jvp(ans, cotangent, result, a, choices, mode, *, dcotangent):
    return choices_grads(dcotangent, result, a, choices, mode), None, None, None, None


def grid_line(result: Any, position: int, indexing: str) -> tuple:
    """The shape that puts an input of ``np.meshgrid`` along the axis its result at
    ``position`` runs along (1 on the others), for broadcasting over that result."""
    ndim = np.ndim(result[position])
    along = _grid_axis(position, len(result), indexing)
    return tuple(-1 if axis == along else 1 for axis in range(ndim))


nondifferentiable(grid_line)


# a grid's cotangent summed over the axes its input does not run along, transposed: the
# input spread along its axis over that grid, zeros for the other grids
@vjp_rule(meshgrid_grad)
def meshgrid_grad_vjp(g, ans, cotangent, result, position, x, indexing):
    line = np.reshape(g, grid_line(result, position, indexing))
    grid = np.broadcast_to(line, np.shape(result[position]))
    return scatter_grad(grid, result, position), None, None, None, None


linear(meshgrid_grad)

# the blocks nested as np.block's argument, for block_pieces to read where each landed
# (their shapes and places, never their values)
nondifferentiable(_renumbered)


# the parts of np.block's cotangent each block landed in, transposed: the blocks'
# cotangents joined as the blocks were
@vjp_rule(block_pieces, multi_output=True)
def block_pieces_vjp(g, ans, cotangent, blocks, arrays):
    return reshape_like(joined_blocks(output_parts(g, ans), arrays), cotangent), None, None


@jvp_rule(block_pieces)
def block_pieces_jvp(ans, cotangent, blocks, arrays, *, dcotangent):
    return block_pieces(dcotangent, blocks, arrays), None, None


def flat_blocks(arrays: Any) -> Any:
    """``arrays``, the blocks np.block joined, as the layout block_grads' rule joins the
    cotangents in (joined_blocks reads only its nesting, so it carries no derivative):
    one list of blocks; nested lists are refused, as their cotangents come nested, one
    Parts per list, and the rule has no flat form of them."""
    if any(isinstance(item, list) for item in arrays):
        raise NotImplementedError(
            "the derivative of np.block of nested lists, differentiated again: astgrad "
            "differentiates np.block's gradient once for one list of blocks only; join the "
            "rows with np.concatenate (or np.hstack and np.vstack) instead"
        )
    return arrays


nondifferentiable(flat_blocks)


# np.block's cotangent cut into its blocks, transposed: the blocks' cotangents joined (its
# tangent is the tangent cut, for nested lists too)
@vjp_rule(block_grads, multi_output=True)
def block_grads_vjp(g, ans, cotangent, arrays):
    layout = flat_blocks(arrays)
    joined = joined_blocks(output_parts(g, ans), layout)
    return reshape_like(joined, cotangent), None


@jvp_rule(block_grads)
def block_grads_jvp(ans, cotangent, arrays, *, dcotangent):
    return block_grads(dcotangent, arrays), None

"""Rules for functions that only move elements around: reshapes, transposes, joins and
splits, tiling, padding, triangles and diagonals."""

import numpy as np

from ..primitives import identity
from .helpers import (
    column_stack_grads,
    concatenate_grads,
    diag_grad,
    dstack_grads,
    hsplit_axis,
    hstack_grads,
    inverse_axes,
    negated,
    pad_fill_grad,
    place_diagonal,
    repeat_grad,
    reshape_like,
    split_grad,
    tile_grad,
    unbroadcast,
    unpad,
    unstack,
    vstack_grads,
)
from .registry import vjp_rule


@vjp_rule(np.reshape)
def reshape(g, ans, a, shape=None, order="C"):
    return reshape_like(g, a)


@vjp_rule(np.ravel)
def ravel(g, ans, a, order="C"):
    return reshape_like(g, a)


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


@vjp_rule(np.append)
def append(g, ans, arr, values, axis=None):
    parts = concatenate_grads(g, (arr, values), axis)
    return parts[0], parts[1]


@vjp_rule(np.split, multi_output=True)
def split(g, ans, ary, indices_or_sections, axis=0):
    return split_grad(g, ans, axis)


@vjp_rule(np.array_split, multi_output=True)
def array_split(g, ans, ary, indices_or_sections, axis=0):
    return split_grad(g, ans, axis)


@vjp_rule(np.hsplit, multi_output=True)
def hsplit(g, ans, ary, indices_or_sections):
    return split_grad(g, ans, hsplit_axis(ary))


@vjp_rule(np.vsplit, multi_output=True)
def vsplit(g, ans, ary, indices_or_sections):
    return split_grad(g, ans, 0)


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

"""Rules for the helpers of generated gradient code defined in the runtime rather than in
the rule table (``runtime/adjoints.py``, ``element_adjoints.py``, ``primitives.py``,
``objects.py``), so that code can be differentiated again (issue 16; ``helper_rules``
holds the first ones and says how).

A list's or tuple's adjoint is a list of its items' adjoints, a dict's a dict of them,
and either may be the int 0 where nothing has flowed in. The helpers that build and read
them (``add_at``, ``adjoint_item``, ``unpack_adjoint``) are linear in the adjoints they
take; the container, the index and the value read for its shape give only the structure.
Their vjps and forward rules are written with helpers of this module in transposed
pairs, :func:`placed` (an item put in a container's adjoint, zeros elsewhere) and
:func:`picked` (an item read out), :func:`joined` (parts' adjoints joined as the
container's) and :func:`rows_of` (taken apart again), so that the family is closed: every
helper a rule here calls has a rule. Those that stay without rules say why beside
``WITHOUT_RULES`` in tests/test_helper_rules.py; batched forward mode (``transform/batching.py``)
differentiates the container helpers by hand.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..adjoints import (
    add_at,
    adjoint_item,
    scalar_seed,
    shaped_like,
    stored_adjoint,
    unpack_adjoint,
)
from ..device import array_module
from ..element_adjoints import add_scattered, buffer_module, gradient_buffer
from ..objects import without_field
from ..primitives import sequence_length
from .containers import Entries, Parts, is_zero
from .forward import jvp_rule, linear
from .indexing import scatter_grad
from .registry import nondifferentiable, vjp_rule
from .shared import cast_like, unbroadcast

__all__ = ["placed", "picked", "joined", "rows_of"]

# A length; the seed 1 of a scalar result (constant whatever the result); a stand-in read
# for its shape and dtype alone (its values are not the value's); the module a gradient
# buffer is made with: none has a derivative.
nondifferentiable(sequence_length, scalar_seed, shaped_like, buffer_module)


# a copy of the adjoint spread over the array's shape (a NumPy array's or a device's), in
# float64 (the adjoint itself for anything else), transposed: summed back down to the
# adjoint's shape, in its dtype
@vjp_rule(gradient_buffer)
def gradient_buffer_vjp(g, ans, adjoint, container):
    spread = buffer_module(container) is not None
    return cast_like(unbroadcast(g, adjoint), adjoint) if spread else g, None


# an object's adjoint (a dict of its fields') less one field's part: a projection, its
# own transpose
@vjp_rule(without_field)
def without_field_vjp(g, ans, adjoint, name):
    return without_field(g, name), None


linear(gradient_buffer, without_field)


# -- the adjoints of lists, tuples and dicts ---------------------------------------------------


def _zeros_like(value: Any) -> Any:
    """Zeros of an item's shape (an array's), or the int 0 for anything else."""
    return array_module(value).zeros_like(value) if hasattr(value, "shape") else 0


def _is_zero_tangent(value: Any) -> bool:
    """The int 0 an adjoint starts from, or a number 0 (forward mode's tangent of it)."""
    return is_zero(value) or (
        isinstance(value, (float, np.floating)) and not isinstance(value, bool) and value == 0
    )


def placed(item: Any, like: Any, index: Any) -> Any:
    """An adjoint of ``like``'s structure (a list's, tuple's or dict's, or an array's read
    by rows) holding ``item`` at ``index`` and zeros elsewhere (of each array item's
    shape): the transpose of :func:`picked`.

    >>> placed(5.0, [np.zeros(2), 0.0, 1.0], 2)
    Parts([array([0., 0.]), 0, 5.0])
    >>> placed(5.0, {"a": 1.0, "b": 2.0}, "b")
    Entries({'b': 5.0})
    """
    if isinstance(like, dict):
        return Entries({index: item})
    if isinstance(like, (list, tuple)):
        parts = [_zeros_like(part) for part in like]
        if isinstance(index, slice):
            for position, part in zip(range(len(like))[index], item):
                parts[position] = part
        else:
            parts[index] = item
        return Parts(parts)
    return scatter_grad(item, like, index)


def picked(adjoint: Any, like: Any, index: Any) -> Any:
    """The item at ``index`` of ``adjoint``, an adjoint of ``like``'s structure (zeros of
    the item's shape where nothing flowed in): ``adjoint_item``'s value, and the
    transpose of :func:`placed`.

    >>> picked(Parts([1.0, 2.0]), [0.0, 0.0], 1), picked(0, [np.ones(2)], 0)
    (2.0, array([0., 0.]))
    """
    if isinstance(like, dict):
        item = like.get(index, 0)
    elif isinstance(index, slice):
        item = Parts(like[index])
    else:
        item = like[index]
    if _is_zero_tangent(adjoint):
        return Parts(_zeros_like(p) for p in item) if isinstance(item, Parts) else _zeros_like(item)
    found = adjoint_item(adjoint, index)
    if isinstance(index, slice) and isinstance(like, (list, tuple)):
        return Parts(found)
    return _zeros_like(item) if is_zero(found) else found


# an item put in a container's adjoint and an item read out: each the other's transpose
@vjp_rule(placed, multi_output=True)
def placed_vjp(g, ans, item, like, index):
    return picked(g, ans, index), None, None


@jvp_rule(placed)
def placed_jvp(ans, item, like, index, *, ditem):
    return placed(ditem, like, index), None, None


@vjp_rule(picked)
def picked_vjp(g, ans, adjoint, like, index):
    return placed(g, like, index), None, None


# adjoint_item is picked with the adjoint as its own structure
@vjp_rule(adjoint_item)
def adjoint_item_vjp(g, ans, adjoint, index):
    return placed(g, adjoint, index), None


@jvp_rule(adjoint_item)
def adjoint_item_jvp(ans, adjoint, index, *, dadjoint):
    return picked(dadjoint, adjoint, index), None


# adjoint + value put at index: the identity in the adjoint; for the value, the slot read
# back and summed down to the value's shape where it broadcast into an array's slot (the
# result, ans, has the container's adjoint's structure). add_scattered has add_at's
# value (it adds in place where generated code alone holds the adjoint; the transform
# reads its calls as add_at's, normalize)
@vjp_rule(add_at, add_scattered, multi_output=True)
def add_at_vjp(g, ans, adjoint, container, index, value):
    return g, None, None, stored_adjoint(picked(g, ans, index), value)


@jvp_rule(add_at, add_scattered)
def add_at_jvp(ans, adjoint, container, index, value, *, dadjoint, dvalue):
    return dadjoint, None, None, placed(dvalue, container, index)


# summed down to the value's shape (an array or a number stored into an array's slot),
# transposed: spread back over the slot's shape; passed through otherwise
@vjp_rule(stored_adjoint)
def stored_adjoint_vjp(g, ans, part, value):
    summed = hasattr(part, "shape") and (isinstance(value, (int, float)) or hasattr(value, "shape"))
    return np.broadcast_to(g, np.shape(part)) if summed else g, None


linear(picked, stored_adjoint)


def joined(parts: list, container: Any, like: list) -> Any:
    """``unpack_adjoint(container, parts)`` with zeros of each item's (row's) shape where
    the part is zero in ``parts`` or in ``like`` (the parts whose tangents or cotangents
    ``parts`` are: forward mode's tangent of the int 0 is the number 0): the transpose of
    :func:`rows_of`.

    >>> joined([np.ones(2), 0.0], np.zeros((2, 2)), [np.ones(2), 0])
    array([[1., 1.],
           [0., 0.]])
    """
    rows = [
        _zeros_like(container[i]) if _is_zero_tangent(p) or _is_zero_tangent(q) else p
        for i, (p, q) in enumerate(zip(parts, like))
    ]
    if isinstance(container, (list, tuple)):
        return Parts(rows)
    xp = array_module(container)
    return xp.stack([xp.broadcast_to(r, np.shape(container[i])) for i, r in enumerate(rows)])


def rows_of(adjoint: Any, container: Any, parts: list) -> Any:
    """The parts of a container's adjoint (its items, or an array's rows), zeros of each
    part's shape where nothing flowed in or the part in ``parts`` is zero: the
    transpose of :func:`joined`.

    >>> rows_of(0, np.zeros((2, 3)), [np.ones(3), 0])
    Parts([array([0., 0., 0.]), array([0., 0., 0.])])
    """
    zero = _is_zero_tangent(adjoint)
    return Parts(
        _zeros_like(container[i]) if zero or _is_zero_tangent(part) else adjoint[i]
        for i, part in enumerate(parts)
    )


# joining the parts' adjoints (side by side for a sequence, stacked for an array's rows)
# and taking them apart again: each the other's transpose (ans has the structure)
@vjp_rule(unpack_adjoint, multi_output=True)
def unpack_adjoint_vjp(g, ans, container, parts):
    return None, rows_of(g, ans, parts)


@jvp_rule(unpack_adjoint)
def unpack_adjoint_jvp(ans, container, parts, *, dparts):
    return None, joined(dparts, container, parts)


@vjp_rule(joined, multi_output=True)
def joined_vjp(g, ans, parts, container, like):
    return rows_of(g, ans, like), None, None


@jvp_rule(joined)
def joined_jvp(ans, parts, container, like, *, dparts):
    return joined(dparts, container, like), None, None


@vjp_rule(rows_of, multi_output=True)
def rows_of_vjp(g, ans, adjoint, container, parts):
    return joined(g, container, parts), None, None


@jvp_rule(rows_of)
def rows_of_jvp(ans, adjoint, container, parts, *, dadjoint):
    return rows_of(dadjoint, container, parts), None, None

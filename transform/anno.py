"""Annotations on AST nodes: one place, documented keys, no ad-hoc attributes.

Every pass reads and writes node annotations through :func:`get` / :func:`set` /
:func:`copy_from`, with one of the keys below. They live in a dict on the node under
``__astgrad__``, which copying the node (``walk.copy_tree``, ``copy.deepcopy``) carries
along.
"""

from __future__ import annotations

import enum
from typing import Any

import gast

SLOT = "__astgrad__"


class Key(str, enum.Enum):
    # (a str enum: hashed as its string, natively; a plain Enum's Python-level __hash__
    # took 2% of a first call, annotations being read that often)
    #: :class:`~astgrad.transform.origin.Origin` of the user code a node came from.
    ORIGIN = "origin"
    #: On a core statement: True when it needs an adjoint (reads a varied value and
    #: writes a useful one). Set by ``analyze``.
    ACTIVE = "active"
    #: On a core statement: what ``analyze`` resolved its call to
    #: (:class:`~astgrad.transform.resolve.Callee`).
    CALLEE = "callee"
    #: On a generated ``push``/``pop`` call: the id pairing a push with its pop, so the
    #: optimizer can drop both when the popped value is never read.
    STACK_ID = "stack_id"
    #: On a statement made by ``reverse``: which pass part it belongs to ("primal",
    #: "adjoint") — the optimizer treats them differently.
    PART = "part"
    #: On a generated marker statement: the text of a comment to print in its place.
    COMMENT = "comment"
    #: On a normalized temporary assignment: True, so the optimizer may fold it back into
    #: its single use.
    TEMPORARY = "temporary"
    #: On an adjoint statement: the gradient name it is linear in (rule outputs are linear
    #: in ``g``), so it can be dropped when that gradient is certainly zero.
    LINEAR_IN = "linear_in"
    #: On an adjoint statement ``d = d + e`` (or ``d = add_adjoints(d, e)``): True.
    ACCUMULATE = "accumulate"
    #: On a generated ``restore_item(y, i, pop())``: the name ``y`` it writes back into.
    RESTORES = "restores"
    #: On a core assignment made from an augmented one (``y += v`` → ``y = y + v``): True.
    #: Python changes an array or list in place there; ``effects`` checks that rebinding
    #: the name instead computes the same, i.e. that no other live name sees the object.
    #: On the operation of ``y[i] += v`` (``t2 = t + v`` before ``y[i] = t2``): the name
    #: ``y``, since Python changes the element ``y[i]`` itself in place first.
    IN_PLACE = "in_place"
    #: On a core assignment calling a user function (``ag.checkpoint``, or a loop's
    #: segment made by ``checkpoint``): True. ``reverse`` then keeps only the call's inputs
    #: and recomputes its forward pass in the backward pass, right before its adjoint.
    CHECKPOINT = "checkpoint"
    #: On a name read at the function's top level: the shape class of the binding that
    #: reaches it (``shapes.annotate_reads``; ``shapes.class_of`` prefers it).
    SHAPE_CLASS = "shape_class"
    #: On the statement receiving a generated callee's adjoints (``dx, da = f_backward(saved,
    #: g)``): ``(certain, possible)``, the names among its targets that are the int 0 an
    #: adjoint starts from, and those that may be (``Derivative.zero_adjoints``).
    ZERO_PARTS = "zero_parts"
    #: On an adjoint statement about one part of a container's or object's adjoint:
    #: ``("adds", d, key)`` for ``d = add_field(d, obj, key, g)`` (or ``add_at``),
    #: ``("drops", d, key)`` for ``d = without_field(d, key)`` and ``("item", d, key)``
    #: for ``dv = adjoint_item(d, key)``. The zeros pass follows which parts are
    #: certainly present, so that only an item that may be absent (adjoint_item's 0) is
    #: guarded from the rules that read it.
    PART_OF = "part_of"


#: what a node without annotations reads as (never written: ``set`` makes the node's own)
_NONE: dict = {}


def get(node: gast.AST, key: Key, default: Any = None) -> Any:
    return getattr(node, SLOT, _NONE).get(key, default)


def has(node: gast.AST, key: Key) -> bool:
    return key in getattr(node, SLOT, _NONE)


def set(node: gast.AST, key: Key, value: Any) -> None:  # noqa: A001 (mirrors dict.set)
    annotations = getattr(node, SLOT, None)
    if annotations is None:
        annotations = {}
        setattr(node, SLOT, annotations)
    annotations[key] = value


def copy_from(target: gast.AST, source: gast.AST, *keys: Key) -> gast.AST:
    """Copy the given annotations (all when none are named) from ``source`` to ``target``."""
    annotations = getattr(source, SLOT, {})
    for key in keys or list(annotations):
        if key in annotations:
            set(target, key, annotations[key])
    return target

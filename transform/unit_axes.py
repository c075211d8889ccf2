"""unit_axes: which axes of a name surely have size 1, from new axes written in the code.

``u[:, None]`` of a vector ``u`` is a column: its second axis has size 1 whatever ``u``
holds. Such names make a product by broadcasting an outer product (``u[:, None] *
v[None, :]``), whose gradient ``einsum_products`` writes as a matrix product rather than a
multiplication summed over the broadcast axis. This pass finds the fact it needs: for a
name every binding of which is ``x[...]`` with only ``None`` and whole slices ``:`` in the
index, ``x`` of an ndim ``ranks`` knows, a tuple with one entry per axis of the result,
True where the axis is a new one (size 1).
"""

from __future__ import annotations

from typing import Any

import gast
import numpy as np

from . import anno, ranks


def infer(bindings: list[tuple], facts: dict[str, Any]) -> dict[str, tuple[bool, ...]]:
    """name -> unit axes, for the names in ``bindings`` (as ``shapes._bindings`` lists
    them) every binding of which gives the same; ``facts`` what ``ranks`` found."""
    # what a name bound once holds (``np.reshape(v, shape)`` reads its shape so)
    counts: dict[str, int] = {}
    for name, _, _, _ in bindings:
        counts[name] = counts.get(name, 0) + 1
    once = {
        name: (value, stmt)
        for name, value, stmt, _ in bindings
        if counts[name] == 1 and value is not None
    }
    tuples = {
        name: value.elts for name, (value, _) in once.items() if isinstance(value, gast.Tuple)
    }
    found: dict[str, tuple[bool, ...] | None] = {}
    for name, value, stmt, _ in bindings:
        here = _of_value(value, stmt, facts, tuples, once)
        if name in found and found[name] != here:
            here = None
        found[name] = here
    return {name: units for name, units in found.items() if units is not None}


def vector_views(
    bindings: list[tuple],
    facts: dict[str, Any],
    unchanged: frozenset[str],
    units: dict[str, tuple[bool, ...]],
) -> dict[str, str]:
    """name -> the vector it is a column or row of, for each name bound once in the
    function to ``w[:, None]``, ``w[None, :]`` (``w[None]``), or a reshape or
    ``np.expand_dims`` of ``w`` that ``units`` (this module's :func:`infer`) knows to be a
    matrix with one axis of size 1 (``w.reshape(-1, 1)``, normalize's form of
    ``np.multiply.outer(w, v)``), ``w`` a vector parameter that the function never binds
    and nothing changes in place (``unchanged``, from ``effects``): wherever the backward
    pass reads the name, ``w`` holds the same values, so a product's gradient may read
    ``w`` itself (``g.dot(w)`` rather than ``g.dot(w_row.T)[:, 0]``:
    ``transform.products``)."""
    counts: dict[str, int] = {}
    for name, _, _, _ in bindings:
        counts[name] = counts.get(name, 0) + 1
    views = {}
    for name, value, stmt, _ in bindings:
        if counts[name] != 1:
            continue
        source = vector_reshaped(value, stmt, units.get(name))
        if source is None:
            if not isinstance(value, gast.Subscript):
                continue
            source = value.value
            if new_axes(value.slice) not in ((True, False), (False, True), (True,)):
                continue
        if not (isinstance(source, gast.Name) and source.id in unchanged):
            continue
        if source.id not in counts and ranks.ndim(facts.get(source.id)) == 1:
            views[name] = source.id
    return views


def vector_reshaped(
    value: gast.expr | None, stmt: gast.stmt, units: tuple[bool, ...] | None
) -> gast.expr | None:
    """The array ``value`` reshapes (``np.reshape``, a ``reshape`` method or
    ``np.expand_dims``, called without keywords) where its result's unit axes are
    ``units``, those of a matrix with one axis of size 1: for a vector, that is the
    vector as a column or a row. None otherwise (the caller checks the array's ndim)."""
    if units not in ((False, True), (True, False)) or not isinstance(value, gast.Call):
        return None
    callee = anno.get(stmt, anno.Key.CALLEE)
    rule = getattr(callee, "rule", None)
    if rule is None or not any(rule.primitive is f for f in (np.reshape, np.expand_dims)):
        return None
    receiver = getattr(callee, "receiver", None)
    if value.keywords or (receiver is None and not value.args):
        return None
    return receiver if receiver is not None else value.args[0]


def new_axes(index: gast.expr) -> tuple[bool, ...] | None:
    """For an index made of new axes (``None``) and whole slices (``:``) alone, at least
    one new axis: True per new axis, False per whole slice (``[:, None]`` is ``(False,
    True)``); None for any other index (an int, a bound, an ellipsis, an array)."""
    parts = index.elts if isinstance(index, gast.Tuple) else [index]
    found = []
    for part in parts:
        if isinstance(part, gast.Constant) and part.value is None:
            found.append(True)
        elif is_whole_slice(part):
            found.append(False)
        else:
            return None
    return tuple(found) if True in found else None


def is_whole_slice(part: gast.expr) -> bool:
    """Whether ``part`` of an index is ``:`` (no bounds, no step)."""
    return (
        isinstance(part, gast.Slice)
        and part.lower is None
        and part.upper is None
        and part.step is None
    )


def _of_value(
    value: gast.expr | None,
    stmt: gast.stmt,
    facts: dict[str, Any],
    tuples: dict[str, list],
    once: dict[str, tuple],
) -> tuple[bool, ...] | None:
    if isinstance(value, gast.Call):
        return _of_call(value, stmt, facts, tuples, once)
    if not (isinstance(value, gast.Subscript) and isinstance(value.value, gast.Name)):
        return None
    fact = facts.get(value.value.id)
    k = ranks.ndim(fact)
    if not k or fact in (ranks.INT, ranks.SHAPE):
        return None
    units = new_axes(value.slice)
    taken = 0 if units is None else units.count(False)
    if units is None or taken > k:
        return None
    return units + (False,) * (k - taken)


def _of_call(
    value: gast.Call,
    stmt: gast.stmt,
    facts: dict[str, Any],
    tuples: dict[str, list],
    once: dict[str, tuple],
) -> tuple | None:
    """``x.reshape(-1, 1)``, ``np.reshape(x, (1, -1))``: a 1 in the shape is an axis of
    size 1; ``np.expand_dims(x, 1)`` adds one where it says. A shape made of ``x``'s own
    and ones (``np.reshape(u, np.shape(u) + (1,) * np.ndim(v))``, which ``normalize`` writes
    for ``np.multiply.outer(u, v)``; ``x.reshape(x.shape + (1,))``) is read too."""
    callee = anno.get(stmt, anno.Key.CALLEE)
    rule = getattr(callee, "rule", None)
    primitive = rule.primitive if rule is not None else None
    if value.keywords or any(isinstance(a, gast.Starred) for a in value.args):
        return None
    receiver = getattr(callee, "receiver", None)
    args = value.args if receiver is None else [receiver, *value.args]
    if primitive is np.reshape and len(args) >= 2:
        if receiver is not None and ranks.ndim(facts.get(_name(receiver))) is None:
            return None  # (a method of something not known to be an array)
        shape = args[1:]
        if len(shape) == 1 and not isinstance(shape[0], gast.Tuple):
            built = _built_shape(shape[0], facts, once, depth=8)
            if built is not None:
                return tuple(built) if any(built) else None
        if len(shape) == 1 and isinstance(shape[0], gast.Tuple):
            shape = shape[0].elts
        elif len(shape) == 1 and _name(shape[0]) in tuples:
            shape = tuples[shape[0].id]
        units = tuple(_is_one(n) for n in shape)
        return units if any(units) else None
    if primitive is np.expand_dims and len(args) == 2 and receiver is None:
        k = ranks.ndim(facts.get(_name(args[0])))
        axes = args[1].elts if isinstance(args[1], gast.Tuple) else [args[1]]
        if _name(args[1]) in tuples:
            axes = tuples[args[1].id]
        if k is None or not all(_is_int(a) for a in axes):
            return None
        n = k + len(axes)
        new = {_int(a) % n for a in axes if -n <= _int(a) < n}
        if len(new) != len(axes):
            return None
        return tuple(i in new for i in range(n))
    return None


def _is_one(node: gast.expr) -> bool:
    return isinstance(node, gast.Constant) and type(node.value) is int and node.value == 1


def _built_shape(
    node: gast.expr, facts: dict[str, Any], once: dict[str, tuple], depth: int
) -> list[bool] | None:
    """The axes of size 1 of a shape built from tuples: a tuple written out (True for a
    literal 1), a name bound to ``np.shape(x)`` or ``x.shape`` for ``x`` of an ndim
    ``ranks`` knows (no axis known to be 1), ``+`` of two such and ``*`` by an int written
    or a name bound to ``np.ndim(y)`` or ``y.ndim`` of a known ndim; a name bound once to
    one of those (normalized code names every call). None for anything else."""
    if depth == 0:
        return None
    if isinstance(node, gast.Name):
        k, value = _through_name(node.id, np.shape, facts, once)
        if k is not None:
            return [False] * k
        return None if value is None else _built_shape(value, facts, once, depth - 1)
    if isinstance(node, gast.Tuple):
        if any(isinstance(e, gast.Starred) for e in node.elts):
            return None
        return [_is_one(e) for e in node.elts]
    if isinstance(node, gast.BinOp) and isinstance(node.op, gast.Add):
        left = _built_shape(node.left, facts, once, depth - 1)
        right = _built_shape(node.right, facts, once, depth - 1)
        return None if left is None or right is None else left + right
    if isinstance(node, gast.BinOp) and isinstance(node.op, gast.Mult):
        for tuple_side, count_side in ((node.left, node.right), (node.right, node.left)):
            count = _known_int(count_side, facts, once, depth - 1)
            part = _built_shape(tuple_side, facts, once, depth - 1)
            if count is not None and part is not None:
                return part * max(count, 0)
    return None


def _known_int(
    node: gast.expr, facts: dict[str, Any], once: dict[str, tuple], depth: int
) -> int | None:
    """An int written in the code, or a name bound to ``np.ndim(y)`` or ``y.ndim`` of a
    known ndim (or, once, to one of those)."""
    if isinstance(node, gast.Constant) and type(node.value) is int:
        return node.value
    if depth == 0 or not isinstance(node, gast.Name):
        return None
    k, value = _through_name(node.id, np.ndim, facts, once)
    if k is not None or value is None:
        return k
    return _known_int(value, facts, once, depth - 1)


def _through_name(
    name: str, function: Any, facts: dict[str, Any], once: dict[str, tuple]
) -> tuple[int | None, gast.expr | None]:
    """For ``name`` bound once: the ndim its value reads with ``function`` (np.shape or
    np.ndim, see ``_ndim_read``) or None, and that value; ``(None, None)`` otherwise."""
    bound = once.get(name)
    if bound is None:
        return None, None
    return _ndim_read(*bound, function, facts), bound[0]


def _ndim_read(value: gast.expr, stmt: gast.stmt, function: Any, facts: dict) -> int | None:
    """For a name bound to ``x.shape`` or ``np.shape(x)`` (``function`` np.shape), or to
    ``x.ndim`` or ``np.ndim(x)`` (np.ndim), ``x`` a name whose ndim ``ranks`` knows: that
    ndim. None otherwise."""
    if isinstance(value, gast.Attribute) and value.attr == function.__name__:
        target = value.value
    elif isinstance(value, gast.Call) and len(value.args) == 1 and not value.keywords:
        callee = anno.get(stmt, anno.Key.CALLEE)
        rule = getattr(callee, "rule", None)
        called = rule.primitive if rule is not None else getattr(callee, "value", None)
        if called is not function or getattr(callee, "receiver", None) is not None:
            return None
        target = value.args[0]
    else:
        return None
    fact = facts.get(_name(target) or "")
    k = ranks.ndim(fact)
    return None if k is None or fact in (ranks.INT, ranks.SHAPE) else k


def _name(node: gast.expr) -> str | None:
    return node.id if isinstance(node, gast.Name) else None


def _is_int(node: gast.expr) -> bool:
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub):
        node = node.operand
    return isinstance(node, gast.Constant) and type(node.value) is int


def _int(node: gast.expr) -> int:
    if isinstance(node, gast.UnaryOp):
        return -node.operand.value
    return node.value

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
    # tuples a name is bound to once (``np.reshape(v, (1, -1))`` reads its shape so)
    counts: dict[str, int] = {}
    for name, _, _, _ in bindings:
        counts[name] = counts.get(name, 0) + 1
    tuples = {
        name: value.elts
        for name, value, _, _ in bindings
        if counts[name] == 1 and isinstance(value, gast.Tuple)
    }
    found: dict[str, tuple[bool, ...] | None] = {}
    for name, value, stmt, _ in bindings:
        here = _of_value(value, stmt, facts, tuples)
        if name in found and found[name] != here:
            here = None
        found[name] = here
    return {name: units for name, units in found.items() if units is not None}


def _of_value(
    value: gast.expr | None, stmt: gast.stmt, facts: dict[str, Any], tuples: dict[str, list]
) -> tuple[bool, ...] | None:
    if isinstance(value, gast.Call):
        return _of_call(value, stmt, facts, tuples)
    if not (isinstance(value, gast.Subscript) and isinstance(value.value, gast.Name)):
        return None
    fact = facts.get(value.value.id)
    k = ranks.ndim(fact)
    if not k or fact in (ranks.INT, ranks.SHAPE):
        return None
    index = value.slice
    parts = index.elts if isinstance(index, gast.Tuple) else [index]
    units: list[bool] = []
    taken = 0
    for part in parts:
        if isinstance(part, gast.Constant) and part.value is None:
            units.append(True)
        elif (
            isinstance(part, gast.Slice)
            and part.lower is None
            and part.upper is None
            and part.step is None
        ):
            units.append(False)
            taken += 1
        else:
            return None  # an int, a bound, an ellipsis, an array: not new axes only
    if taken > k or True not in units:
        return None
    return tuple(units) + (False,) * (k - taken)


def _of_call(
    value: gast.Call, stmt: gast.stmt, facts: dict[str, Any], tuples: dict[str, list]
) -> tuple | None:
    """``x.reshape(-1, 1)``, ``np.reshape(x, (1, -1))``: a 1 in the shape is an axis of
    size 1; ``np.expand_dims(x, 1)`` adds one where it says."""
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
        if len(shape) == 1 and isinstance(shape[0], gast.Tuple):
            shape = shape[0].elts
        elif len(shape) == 1 and _name(shape[0]) in tuples:
            shape = tuples[shape[0].id]
        units = tuple(
            isinstance(n, gast.Constant) and type(n.value) is int and n.value == 1 for n in shape
        )
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

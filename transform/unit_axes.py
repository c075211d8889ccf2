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

from . import ranks


def infer(bindings: list[tuple], facts: dict[str, Any]) -> dict[str, tuple[bool, ...]]:
    """name -> unit axes, for the names in ``bindings`` (as ``shapes._bindings`` lists
    them) every binding of which gives the same; ``facts`` what ``ranks`` found."""
    found: dict[str, tuple[bool, ...] | None] = {}
    for name, value, _, _ in bindings:
        here = _of_value(value, facts)
        if name in found and found[name] != here:
            here = None
        found[name] = here
    return {name: units for name, units in found.items() if units is not None}


def _of_value(value: gast.expr | None, facts: dict[str, Any]) -> tuple[bool, ...] | None:
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

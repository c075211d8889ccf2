"""Attribute reads of objects being differentiated (issue 17).

``v = obj.W`` where ``obj`` is a user object (a layer, a dataclass of parameters) is a
*field read*: its adjoint adds ``dv`` to the attribute ``W`` of ``obj``'s adjoint
(``runtime.objects.add_field``). What an attribute is, when the object's class is known
(an argument's), decides: an instance attribute is a field; a property or a method is
not, and cannot be differentiated here (a class attribute is a constant, and gets no
gradient). The attributes of arrays (``x.real``, ``x.flat``) are never fields.
"""

from __future__ import annotations

import gast
import numpy as np

from .context import TransformContext
from .resolve import Callee, source_text

#: the callee of a field read (``analyze.callee_of``)
FIELD = Callee("field", ".attribute")

_ARRAY_ATTRIBUTES = frozenset(dir(np.ndarray))


def field_callee(node: gast.Attribute, ctx: TransformContext) -> Callee | None:
    """``FIELD`` when ``node`` (an attribute of a local name) reads an instance attribute
    of an object; a callee saying why not when the object's class says it is not one;
    None when it is an attribute of an array."""
    if not isinstance(node.value, gast.Name) or node.attr in _ARRAY_ATTRIBUTES:
        return None
    kind = ctx.param_kinds.get(node.value.id, ())
    if kind[:1] == ("object",):
        cls = kind[1]
        found = getattr(cls, node.attr, None)
        spelled = source_text(node)
        if isinstance(found, property):
            return Callee(
                "unknown", spelled, reason=f"`{spelled}` is a property of {cls.__qualname__}"
            )
    return FIELD


def refuse_unfollowed_owners(statements: list[gast.stmt], ctx: TransformContext) -> None:
    """A field read's adjoint goes to its object's adjoint, which reaches the caller only
    through parameters, copies, items and fields (``m.layers[i].W``). An object made
    inside the function (``layer = Linear(w)``, run on the tape) or returned by a call
    gets no such path: its field reads become unknown calls, so a gradient through them
    goes to the tape (``mode="auto"``) or raises (``mode="source"``), never lost."""
    from . import anno

    definitions: dict[str, list[gast.stmt]] = {}
    for stmt in statements:
        if isinstance(stmt, gast.For) and isinstance(stmt.target, gast.Name):
            definitions.setdefault(stmt.target.id, []).append(stmt)
        elif isinstance(stmt, gast.Assign):
            for target in stmt.targets:
                for sub in gast.walk(target):
                    if isinstance(sub, gast.Name) and isinstance(sub.ctx, gast.Store):
                        definitions.setdefault(sub.id, []).append(stmt)
    followed = set(ctx.parsed.params) - set(definitions)

    def passes_on(stmt: gast.stmt) -> bool:
        if isinstance(stmt, gast.For):
            return isinstance(stmt.iter, gast.Name) and stmt.iter.id in followed
        target, value = stmt.targets[0], stmt.value
        if not isinstance(target, gast.Name):
            return False
        if isinstance(value, gast.Name):
            return value.id in followed
        if isinstance(value, (gast.Subscript, gast.Attribute)):
            return isinstance(value.value, gast.Name) and value.value.id in followed
        return False

    changed = True
    while changed:
        changed = False
        for name, defined in definitions.items():
            if name not in followed and all(passes_on(s) for s in defined):
                followed.add(name)
                changed = True
    for stmt in statements:
        if anno.get(stmt, anno.Key.CALLEE) is not FIELD:
            continue
        owner = stmt.value.value.id
        if owner not in followed:
            spelled = source_text(stmt.value)
            anno.set(
                stmt,
                anno.Key.CALLEE,
                Callee(
                    "unknown",
                    spelled,
                    reason=f"`{spelled}` reads an attribute of an object made inside the "
                    "function (or returned by a call), whose gradient generated code does "
                    "not pass back yet",
                ),
            )

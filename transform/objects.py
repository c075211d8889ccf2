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

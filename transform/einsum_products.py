"""einsum_products: a two-operand einsum's gradient written as products when generated.

The rule table gives ``np.einsum``'s gradient as ``einsum_grad(g, position, subscripts,
op0, op1, ...)``, a helper that reads the subscripts at every call. Where the subscripts
are a literal and each operand is known to be an array of its term's rank (``ranks``),
the generated code reads better and runs faster as the product itself::

    z = np.einsum("ij,kj->ik", x, A)     dA = unbroadcast(dz.T.dot(x), A)

``runtime.rules.einsum_products`` writes the product's source for the subscripts (the
same source :func:`einsum_grad` compiles for the tape, so both run one computation). The
``unbroadcast`` finishes it where einsum broadcast a size-1 axis; it is left out where
the two operands are known to have one shape and one term (``"ij,ij->"`` of two rows
of one class), since the product then has the operand's shape.
"""

from __future__ import annotations

from typing import Any

import gast
import numpy as np

from ..runtime.rules.einsum_products import gradient_source, plain_terms
from ..runtime.rules.shared import unbroadcast
from . import build, ranks, shapes
from .context import TransformContext
from .walk import copy_tree


def gradient(
    primitive: Any, bound: dict[str, gast.expr], position: int, g: gast.expr, ctx: TransformContext
) -> gast.expr | None:
    """The gradient of a two-operand ``np.einsum`` call (its arguments ``bound`` to the
    rule's parameters) with respect to the argument at ``position``, as products; None
    where it is not written so (the rule's ``einsum_grad`` then computes it)."""
    if primitive is not np.einsum or position not in (1, 2):
        return None
    subscripts = bound.get("subscripts")
    if not (isinstance(subscripts, gast.Constant) and isinstance(subscripts.value, str)):
        return None
    if not getattr(bound.get("op2"), "defaulted_", False):
        return None  # three operands or more: einsum_grad's own table and plans
    found = plain_terms(subscripts.value, 2)
    source = gradient_source(subscripts.value, position)
    if found is None or source is None:
        return None
    terms, _ = found
    operands = [bound["op0"], bound["op1"]]
    facts = getattr(ctx.shape_classes, "ranks", None) or {}
    if any(ranks.ndim(ranks.of(o, facts)) != len(t) for o, t in zip(operands, terms)):
        return None  # (a list, or a rank the subscripts do not say: einsum_grad's road)
    names = {"g": g, "op0": operands[0], "op1": operands[1]}

    def rename(node: gast.AST) -> gast.AST | None:
        if isinstance(node, gast.Name) and node.id in names:
            return copy_tree(names[node.id])
        return None

    product = copy_tree(gast.parse(source).body[0].value, rename)
    mine, other = operands[position - 1], operands[2 - position]
    if terms[0] == terms[1] and _same_shape(mine, other, ctx):
        return product
    helper = ctx.bind_free("unbroadcast", unbroadcast)
    return build.call(helper, product, copy_tree(mine))


def _same_shape(first: gast.expr, second: gast.expr, ctx: TransformContext) -> bool:
    if isinstance(first, gast.Name) and isinstance(second, gast.Name) and first.id == second.id:
        return True
    found = shapes.same_shape([first, second], ctx.shape_classes)
    return found is not None and found != shapes.SCALAR

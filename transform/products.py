"""products: gradients of products written as the matrix products they are, when generated.

Two spellings of a product reach the rule table as something else, whose general rule
does more work than the product's gradient needs:

* ``np.einsum`` with literal subscripts. The rule gives ``einsum_grad(g, position,
  subscripts, op0, op1, ...)``, a helper that reads the subscripts at every call. Where
  there are two operands, each known to be an array of its term's rank (``ranks``), the
  generated code holds the product itself::

      z = np.einsum("ij,kj->ik", x, A)     dA = unbroadcast(dz.T.dot(x), A)

  ``runtime.rules.einsum_products`` writes the product's source for the subscripts (the
  same source :func:`einsum_grad` compiles for the tape, so both run one computation).
  The ``unbroadcast`` finishes it where einsum broadcast a size-1 axis; it is left out
  where the two operands are known to have one shape and one term (``"ij,ij->"`` of two
  rows of one class), and for an operand whose every axis is an axis of the product that
  the other does not have (``"i,j->ij"``), since the product then has the operand's
  shape.
* An outer product by broadcasting, ``u[:, None] * v[None, :]`` (or ``* v``): a
  multiplication whose rule sums ``g * v[None, :]`` over the broadcast axis. A column
  (last axis of size 1, ``unit_axes``) times a row (second-last axis of size 1, or a
  vector) is the matrix product of the two, with an inner dimension of 1, so each
  gradient is one matrix product: ``du_col = dM.dot(v_row.T)``, ``dv_row =
  u_col.T.dot(dM)``. For matrices the shapes are exact; a stack of them (``a[:, :,
  None] * b[:, None, :]``) is a batched ``@``, finished by ``unbroadcast`` where the
  stacks broadcast.
"""

from __future__ import annotations

from typing import Any

import gast
import numpy as np

from ..runtime.rules.einsum_products import contraction_subscripts, gradient_source, plain_terms
from ..runtime.rules.shared import reshape_like, unbroadcast
from . import build, ranks, shapes
from .context import TransformContext
from .walk import copy_tree


def einsum_gradient(
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
    terms, found_output = found
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
    own, others = terms[position - 1], terms[2 - position]
    if all(c in found_output and c not in others for c in own):
        # Each of the operand's axes is an axis of the product that the other operand
        # does not have (``"i,j->ij"``): nothing broadcasts it, and the product has its
        # shape.
        return product
    helper = ctx.bind_free("unbroadcast", unbroadcast)
    return build.call(helper, product, copy_tree(mine))


def contraction_gradient(
    primitive: Any,
    bound: dict[str, gast.expr],
    position: int,
    g: gast.expr,
    ctx: TransformContext,
    in_loop: bool = False,
) -> gast.expr | None:
    """The gradient of ``a @ b``, ``np.matmul``, ``np.dot`` (``a.dot(b)``), ``np.inner``,
    ``np.outer`` of two vectors or ``np.tensordot`` with axes written in the code, with
    respect to the operand at ``position``, as the products an expert writes
    (``g.dot(W.T)``), where both operands are known arrays of ranks these contract without
    broadcasting; None otherwise (the rule's helper then decides at run time).

    Each is the two-operand einsum its ranks make of it (``np.tensordot(h, W, axes=1)``
    of two matrices is ``"ab,bc->ac"``), whose gradient ``einsum_products`` writes. Unlike
    einsum's, these products never broadcast a size-1 axis (NumPy raises on a mismatch),
    so the product has the operand's shape and needs no ``unbroadcast``.

    In a loop (``in_loop``), the right operand's gradient of ``@``, ``np.matmul`` and
    ``np.dot`` stays the helper's call (``matmul_grad_right(g, h, W)``): ``step_sums``
    sums a weight's steps of it as one product after the loop, which beats a product per
    step."""
    names = _OPERANDS.get(_key(primitive))
    if names is None or position not in (0, 1):
        return None
    if in_loop and position == 1 and _key(primitive) in ("matmul", "dot"):
        return None
    operands = [bound.get(names[0]), bound.get(names[1])]
    if any(o is None for o in operands) or not all(_defaulted(bound, n) for n in names[2:]):
        return None
    facts = getattr(ctx.shape_classes, "ranks", None) or {}
    found = [ranks.of(o, facts) for o in operands]
    p, q = (ranks.ndim(f) for f in found)
    if p is None or q is None or ranks.INT in found:
        return None
    axes = bound.get("axes")
    if axes is not None and getattr(axes, "defaulted_", False):
        axes = 2  # (np.tensordot's default)
    elif axes is not None:
        axes = ranks.literal(axes, facts)
    subscripts = contraction_subscripts(_key(primitive), p, q, axes)
    source = subscripts and gradient_source(subscripts, position + 1)
    if source is None:
        return None
    names_in = {"g": g, "op0": operands[0], "op1": operands[1]}

    def rename(node: gast.AST) -> gast.AST | None:
        if isinstance(node, gast.Name) and node.id in names_in:
            return copy_tree(names_in[node.id])
        return None

    return copy_tree(gast.parse(source).body[0].value, rename)


#: each contraction's rule parameters: its two operands, then those that must be defaulted
_OPERANDS = {
    "matmul": ("x", "y"),
    "dot": ("a", "b", "out"),
    "inner": ("a", "b"),
    "tensordot": ("a", "b"),
    "outer": ("a", "b", "out"),
}


def _key(primitive: Any) -> str | None:
    """The name of the contraction ``primitive`` is (``"dot"`` for ``np.dot``), or None."""
    return next((name for name in _OPERANDS if primitive is getattr(np, name)), None)


def _defaulted(bound: dict[str, gast.expr], name: str) -> bool:
    return name not in bound or getattr(bound[name], "defaulted_", False)


def _same_shape(first: gast.expr, second: gast.expr, ctx: TransformContext) -> bool:
    if isinstance(first, gast.Name) and isinstance(second, gast.Name) and first.id == second.id:
        return True
    found = shapes.same_shape([first, second], ctx.shape_classes)
    return found is not None and found != shapes.SCALAR


def outer_gradient(
    primitive: Any, operands: list[gast.expr], position: int, g: gast.expr, ctx: TransformContext
) -> gast.expr | None:
    """The gradient of ``a * b`` (``np.multiply(a, b)``, no keywords) with respect to the
    operand at ``position`` where the product is an outer product (see the module doc),
    as a matrix product; None otherwise."""
    if primitive is not np.multiply or len(operands) != 2 or position not in (0, 1):
        return None
    mine, other = operands[position], operands[1 - position]
    if not (isinstance(mine, gast.Name) and isinstance(other, gast.Name)):
        return None
    facts = getattr(ctx.shape_classes, "ranks", None) or {}
    found = getattr(ctx.shape_classes, "unit_axes", None) or {}
    units, other_units = _units(mine.id, facts, found), _units(other.id, facts, found)
    if units is None or other_units is None:
        return None
    k, j = len(units), len(other_units)
    g, b = copy_tree(g), build.load(other.id)
    # the vector the other operand is a column or row of, where the backward pass may read
    # it instead (``u[:, None] * v[None, :]``: ``g.dot(v)``, not ``g.dot(v_row.T)``)
    viewed = (getattr(ctx.shape_classes, "vector_views", None) or {}).get(other.id)
    vector = build.load(viewed) if viewed is not None else None
    if k == 2 and units[1] and j == 1:
        # a column times a vector: (g @ b)[:, None]
        return _index(_method(g, "dot", b), [_COLON, _NONE])
    if k == 1 and j == 2 and other_units[1]:
        # a vector times a column: (b.T @ g)[0]
        if vector is not None:
            return _method(vector, "dot", g)
        return _index(_method(_attribute(b, "T"), "dot", g), [gast.Constant(0, None)])
    if k < 2 or j != k:
        return None
    if units[-1] and other_units[-2]:
        # a column times a row: a @ b, whose gradient for a is g @ b.T
        if k == 2 and vector is not None:
            return _index(_method(g, "dot", vector), [_COLON, _NONE])
        if k == 2:
            return _method(g, "dot", _attribute(b, "T"))
        product = gast.BinOp(left=g, op=gast.MatMult(), right=_swapped(b))
    elif units[-2] and other_units[-1]:
        # a row times a column: b @ a, whose gradient for a is b.T @ g
        if k == 2 and vector is not None:
            return _index(_method(vector, "dot", g), [_NONE, _COLON])
        if k == 2:
            return _method(_attribute(b, "T"), "dot", g)
        product = gast.BinOp(left=_swapped(b), op=gast.MatMult(), right=g)
    else:
        return None
    helper = ctx.bind_free("unbroadcast", unbroadcast)
    return build.call(helper, product, build.load(mine.id))


def without_flattening(
    primitive: Any, operands: list[gast.expr], expression: gast.expr, ctx: TransformContext
) -> gast.expr:
    """``np.vdot``'s gradient for two known vectors: its rule's, less the
    ``reshape_like(..., a)`` that puts back the shape of an operand ``vdot`` flattened
    (``g * b`` already has ``a``'s shape: two vectors of one length)."""
    if primitive is not np.vdot or len(operands) != 2:
        return expression
    facts = getattr(ctx.shape_classes, "ranks", None) or {}
    if any(ranks.ndim(ranks.of(o, facts)) != 1 for o in operands):
        return expression
    if (
        isinstance(expression, gast.Call)
        and isinstance(expression.func, gast.Name)
        and ctx.free_values.get(expression.func.id) is reshape_like
        and len(expression.args) == 2
    ):
        return expression.args[0]
    return expression


def _units(name: str, facts: dict, found: dict) -> tuple[bool, ...] | None:
    """The unit axes of ``name`` (none known for an array of a known ndim), or None where
    it is not known to be an array."""
    if name in found:
        return found[name]
    k = ranks.ndim(facts.get(name))
    return (False,) * k if k else None


_COLON = gast.Slice(lower=None, upper=None, step=None)
_NONE = gast.Constant(None, None)


def _attribute(value: gast.expr, name: str) -> gast.Attribute:
    return gast.Attribute(value=value, attr=name, ctx=gast.Load())


def _method(receiver: gast.expr, name: str, *args: gast.expr) -> gast.Call:
    return gast.Call(func=_attribute(receiver, name), args=list(args), keywords=[])


def _swapped(value: gast.expr) -> gast.Call:
    """``value.swapaxes(-1, -2)``: a stack of matrices, each transposed."""
    minus = [gast.UnaryOp(op=gast.USub(), operand=gast.Constant(n, None)) for n in (1, 2)]
    return _method(value, "swapaxes", *minus)


def _index(value: gast.expr, parts: list[gast.expr]) -> gast.Subscript:
    elts = [copy_tree(p) for p in parts]
    index = elts[0] if len(elts) == 1 else gast.Tuple(elts=elts, ctx=gast.Load())
    return gast.Subscript(value=value, slice=index, ctx=gast.Load())

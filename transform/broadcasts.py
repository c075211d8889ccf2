"""broadcasts: let a reduction's cotangent stay one number where NumPy broadcasts it anyway.

The gradient of ``np.sum(x)`` or ``np.mean(x)`` is one number spread over ``x``'s shape:
``dx = expand_reduced(g, x)``. When every use of ``dx`` multiplies (adds, divides) it,
possibly through numbers, by an array that surely has ``x``'s shape, that array restores
the shape by broadcasting, so spreading the number first only costs a call and a view:

    dpower = expand_reduced(dmean / reduced_count(power), power)
    dsub = dpower * 2 * sub          # sub has power's shape
becomes
    dpower = dmean / reduced_count(power)
    dsub = dpower * 2 * sub

The shape facts come from the ``shapes`` pass; a use this pass cannot vouch for (a
helper call, a returned gradient, an operand of unknown shape) keeps the expansion.
"""

from __future__ import annotations

from typing import Any

import gast

from ..runtime.rules.shared import expand_reduced
from . import shapes
from .context import TransformContext
from .program import Program
from .walk import is_call_on_name, statements_breadth_first, walk
from .walk import parents as parents_of

_ELEMENTWISE_OPS = (gast.Add, gast.Sub, gast.Mult, gast.Div)


def transform(program: Program, ctx: TransformContext) -> Program:
    """Guarantees: no backward ``expand_reduced(s, x)`` is left into an adjoint (other than
    a gradient returned) whose every use restores ``x``'s shape by broadcasting with an
    array of that shape."""
    bound = {**ctx.resolved_globals, **ctx.free_values}
    names = {name for name, value in bound.items() if value is expand_reduced}
    program.backward = drop_scalar_expansions(
        program.backward, ctx.shape_classes, names, program.live_out
    )
    return program


def drop_scalar_expansions(
    stmts: list[gast.stmt], classes: dict[str, Any], expand_names: set[str], live_out: set[str]
) -> list[gast.stmt]:
    """``stmts`` with ``expand_reduced(s, x)`` replaced by ``s`` where it is safe (see the
    module docstring). ``expand_names`` are the names ``expand_reduced`` is bound to;
    ``live_out`` the adjoints read after ``stmts`` (the gradients returned), which must
    keep their full shape."""
    if not expand_names:
        return stmts
    expansions = _expansions(stmts, expand_names)  # adjoint name -> [(call, parent, field)]
    if not expansions:
        return stmts
    parents = _parents(stmts)
    # Found once, before anything is replaced: a replacement takes away only the helper's
    # name and the reduced operand, never a read of an adjoint.
    reads = _reads(stmts, set(expansions) - live_out)
    for adjoint, found in expansions.items():
        if adjoint in live_out:
            continue
        shape_classes = {shapes.class_of(call.args[1], classes) for call, _, _ in found}
        if len(shape_classes) != 1:
            continue
        (wanted,) = shape_classes
        if wanted is None or wanted == shapes.SCALAR:
            continue
        if all(_restores_shape(read, parents, wanted, classes) for read in reads.get(adjoint, [])):
            for call, parent, field in found:
                _replace(parent, field, call, call.args[0])
    return stmts


def _expansions(stmts: list[gast.stmt], expand_names: set[str]) -> dict[str, list]:
    """Per adjoint name, the ``expand_reduced(s, x)`` calls assigned or accumulated into it."""
    found: dict[str, list] = {}
    for stmt in _statements(stmts):
        if not (
            isinstance(stmt, gast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], gast.Name)
        ):
            continue
        target = stmt.targets[0].id
        value = stmt.value
        if _is_expansion(value, expand_names):
            found.setdefault(target, []).append((value, stmt, "value"))
        elif (
            isinstance(value, gast.BinOp)
            and isinstance(value.op, gast.Add)
            and isinstance(value.left, gast.Name)
            and value.left.id == target
            and _is_expansion(value.right, expand_names)
        ):
            found.setdefault(target, []).append((value.right, value, "right"))
    return found


def _is_expansion(node: gast.expr, expand_names: set[str]) -> bool:
    return is_call_on_name(node, expand_names)


def _reads(stmts: list[gast.stmt], names: set[str]) -> dict[str, list[gast.Name]]:
    """Per name of ``names``, every read of it except ``name = name + ...`` accumulating
    into it."""
    accumulating = set()
    for stmt in _statements(stmts):
        if (
            isinstance(stmt, gast.Assign)
            and isinstance(stmt.targets[0], gast.Name)
            and stmt.targets[0].id in names
            and isinstance(stmt.value, gast.BinOp)
            and isinstance(stmt.value.op, gast.Add)
            and isinstance(stmt.value.left, gast.Name)
            and stmt.value.left.id == stmt.targets[0].id
        ):
            accumulating.add(id(stmt.value.left))
    found: dict[str, list[gast.Name]] = {}
    for stmt in stmts:
        for node in walk(stmt):
            if (
                isinstance(node, gast.Name)
                and node.id in names
                and isinstance(node.ctx, gast.Load)
                and id(node) not in accumulating
            ):
                found.setdefault(node.id, []).append(node)
    return found


def _restores_shape(
    read: gast.Name, parents: dict[int, gast.AST], wanted: Any, classes: dict[str, Any]
) -> bool:
    """Whether the expression around ``read`` combines it elementwise, through numbers, with
    an operand of shape class ``wanted`` (so the result has that shape either way)."""
    node: gast.AST = read
    while True:
        parent = parents.get(id(node))
        if isinstance(parent, gast.UnaryOp) and isinstance(parent.op, (gast.USub, gast.UAdd)):
            node = parent
            continue
        if not (isinstance(parent, gast.BinOp) and isinstance(parent.op, _ELEMENTWISE_OPS)):
            return False
        other = parent.right if parent.left is node else parent.left
        here = _expression_class(other, classes)
        if here == wanted:
            return True
        if here != shapes.SCALAR:
            return False
        node = parent


def _expression_class(node: gast.expr, classes: dict[str, Any]) -> Any:
    """The shape class of an elementwise expression of names and numbers (``1 - t * t``
    has ``t``'s), or None when it is not known."""
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, (gast.USub, gast.UAdd)):
        return _expression_class(node.operand, classes)
    if isinstance(node, gast.BinOp) and isinstance(node.op, (*_ELEMENTWISE_OPS, gast.Pow)):
        left, right = _expression_class(node.left, classes), _expression_class(node.right, classes)
        if left is None or right is None:
            return None
        if left == shapes.SCALAR:
            return right
        if right == shapes.SCALAR or left == right:
            return left
        return None
    return shapes.class_of(node, classes)


def _parents(stmts: list[gast.stmt]) -> dict[int, gast.AST]:
    parents: dict[int, gast.AST] = {}
    for stmt in stmts:
        parents.update(parents_of(stmt))
    return parents


def _statements(stmts: list[gast.stmt]) -> list[gast.stmt]:
    """Every statement, nested ones included, once, each top-level statement's breadth
    first: the order the expansions are found in is the order they are decided in."""
    return [node for stmt in stmts for node in statements_breadth_first(stmt)]


def _replace(parent: gast.AST, field: str, old: gast.expr, new: gast.expr) -> None:
    assert getattr(parent, field) is old
    setattr(parent, field, new)

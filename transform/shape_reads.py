"""shape_reads: what the backward pass reads of a value only for its shape, it gets cheaply.

Many helpers read an argument for its shape and dtype only: ``unbroadcast(g, x)`` sums
``g`` down to ``x``'s shape, ``expand_reduced(g, x)`` spreads a reduction's cotangent
over it, ``reduced_count(x)`` counts its elements. The rule table marks those positions
(``runtime.rules.shared.shape_only``); the tape reads the same marks. Two rewrites use
them, in this order:

1. **Expansions that broadcasting restores.** The gradient of ``np.mean(x)`` is one
   number spread over ``x``'s shape, ``dx = expand_reduced(g, x)`` (and that of a
   reduction that kept its axes, ``expand_reduced(g, x, axis, True)``, an array that
   broadcasts to ``x``'s shape). When every use of
   ``dx`` multiplies (adds, divides) it, possibly through numbers, by an array that
   surely has ``x``'s shape (a fact of the ``shapes`` pass), that array restores the
   shape anyway, so the expansion only costs a call and a view::

       dpower = expand_reduced(dmean / reduced_count(power), power)
       dsub = dpower * 2 * sub          # sub has power's shape
   becomes
       dpower = dmean / reduced_count(power)
       dsub = dpower * 2 * sub

   A use it cannot vouch for (a helper call, a returned gradient, an operand of unknown
   shape) keeps the expansion.

2. **Shapes saved instead of values.** Inside a loop the reverse pass pushes every
   overwritten value the backward pass reads, which keeps one array per iteration alive
   until the backward pass reaches it (50 arrays for a 50-step RNN, for each such name).
   Where a name's every read in the backward pass is at a shape-only position, the
   forward pass pushes ``shaped_like(x)`` (an array of ``x``'s shape, dtype and device
   that takes no memory) instead, the backward pass pops it into ``x_shape`` and passes
   that to the helpers. It starts from the stand-in of the forward pass's last value, as
   it started from the value.

Both run after ``dead_code`` (a read it removes no longer holds a value alive) and before
``copies`` (which propagates the copy a dropped expansion leaves, ``dx = g``).
"""

from __future__ import annotations

from typing import Any

import gast

from ..runtime import adjoints
from ..runtime.rules.shared import expand_reduced, shape_only_positions
from . import anno, build, shapes
from .build import load
from .context import TransformContext
from .dataflow import bound_on_every_path, statements, target_names
from .optimize import is_pop
from .program import Program
from .walk import parents as parents_of
from .walk import statements_breadth_first, walk

_ELEMENTWISE_OPS = (gast.Add, gast.Sub, gast.Mult, gast.Div)


def transform(program: Program, ctx: TransformContext) -> Program:
    """Guarantees: no backward ``expand_reduced(s, x)`` is left into an adjoint (other than
    a gradient returned) whose every use restores ``x``'s shape by broadcasting with an
    array of that shape; and no name that the backward pass restores only by pops and
    reads only at helpers' shape-only positions is pushed whole (its stand-in is)."""
    bound = {**ctx.resolved_globals, **ctx.free_values}
    expand_names = {name for name, value in bound.items() if value is expand_reduced}
    program.backward = drop_scalar_expansions(
        program.backward, ctx.shape_classes, expand_names, program.live_out
    )
    shape_only = {
        name: positions
        for name, value in bound.items()
        if (positions := shape_only_positions(value))
    }
    program.backward = save_shapes(program, shape_only, ctx)
    return program


# --- 1. expansions that broadcasting restores -------------------------------------------


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
    parents: dict[int, gast.AST] = {}
    for stmt in stmts:
        parents.update(parents_of(stmt))
    # Found once, before anything is replaced: a replacement takes away only the helper's
    # name and the reduced operand, never a read of an adjoint.
    reads = _adjoint_reads(stmts, set(expansions) - live_out)
    # Names the backward pass never rebinds hold one value throughout: a read of one has
    # the shape its expansion's read saw, whatever classes the shapes pass gave the two.
    stored = {
        n.id
        for stmt in stmts
        for n in walk(stmt)
        if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)
    }
    for adjoint, found in expansions.items():
        if adjoint in live_out:
            continue
        shape_classes = {shapes.class_of(call.args[1], classes) for call, _, _ in found}
        if len(shape_classes) != 1:
            continue
        (wanted,) = shape_classes
        if wanted is None or wanted == shapes.SCALAR:
            continue
        spread_over = {call.args[1].id for call, _, _ in found}
        same = spread_over.pop() if len(spread_over) == 1 else None
        same = None if same in stored else same
        if all(
            _restores_shape(read, parents, wanted, classes, same) for read in reads.get(adjoint, [])
        ):
            for call, parent, field in found:
                assert getattr(parent, field) is call
                setattr(parent, field, call.args[0])
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
        elif _accumulates_into(value, target) and _is_expansion(value.right, expand_names):
            found.setdefault(target, []).append((value.right, value, "right"))
    return found


def _is_expansion(node: gast.expr, expand_names: set[str]) -> bool:
    """Whether ``node`` is ``expand_reduced(s, x)`` for a name ``x``, or
    ``expand_reduced(g, x, axis, True)``: the cotangent of a reduction that kept its axes
    (``np.sum(e, axis=1, keepdims=True)`` in a softmax), which broadcasting restores to
    ``x``'s shape as it does a number."""
    return (
        isinstance(node, gast.Call)
        and isinstance(node.func, gast.Name)
        and node.func.id in expand_names
        and (len(node.args) == 2 or (len(node.args) == 4 and _is_true(node.args[3])))
        and not node.keywords
        and isinstance(node.args[1], gast.Name)
    )


def _is_true(node: gast.expr) -> bool:
    return isinstance(node, gast.Constant) and node.value is True


def _accumulates_into(value: gast.expr, target: str) -> bool:
    """Whether ``value`` is ``target + ...`` (as in ``target = target + ...``)."""
    return (
        isinstance(value, gast.BinOp)
        and isinstance(value.op, gast.Add)
        and isinstance(value.left, gast.Name)
        and value.left.id == target
    )


def _adjoint_reads(stmts: list[gast.stmt], names: set[str]) -> dict[str, list[gast.Name]]:
    """Per name of ``names``, every read of it except ``name = name + ...`` accumulating
    into it."""
    accumulating = {
        id(stmt.value.left)
        for stmt in _statements(stmts)
        if isinstance(stmt, gast.Assign)
        and isinstance(stmt.targets[0], gast.Name)
        and stmt.targets[0].id in names
        and _accumulates_into(stmt.value, stmt.targets[0].id)
    }
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
    read: gast.Name,
    parents: dict[int, gast.AST],
    wanted: Any,
    classes: dict[str, Any],
    same: str | None = None,
) -> bool:
    """Whether the expression around ``read`` combines it elementwise, through numbers, with
    an operand of shape class ``wanted``, or the name ``same`` itself (the array the
    expansion spread over, which nothing rebinds): the result has that shape either way."""
    node: gast.AST = read
    while True:
        parent = parents.get(id(node))
        if isinstance(parent, gast.UnaryOp) and isinstance(parent.op, (gast.USub, gast.UAdd)):
            node = parent
            continue
        if not (isinstance(parent, gast.BinOp) and isinstance(parent.op, _ELEMENTWISE_OPS)):
            return False
        other = parent.right if parent.left is node else parent.left
        if same is not None and isinstance(other, gast.Name) and other.id == same:
            return True
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


def _statements(stmts: list[gast.stmt]) -> list[gast.stmt]:
    """Every statement, nested ones included, once, each top-level statement's breadth
    first: the order the expansions are found in is the order they are decided in."""
    return [node for stmt in stmts for node in statements_breadth_first(stmt)]


# --- 2. shapes saved instead of values ---------------------------------------------------


def save_shapes(
    program: Program, shape_only: dict[str, frozenset[int]], ctx: TransformContext
) -> list[gast.stmt]:
    """Rewrite ``program``'s pushes in place; return the new backward statements.

    ``shape_only`` maps the names generated code calls helpers by to the positions those
    helpers read only for shape and dtype.
    """
    primal, backward = program.primal, program.backward
    pops = _restored_only_by_pops(backward)
    shape_reads = _shape_only_reads(backward, shape_only)
    pushes = _pushes(primal)
    keep = program.live_out | program.result_reads()
    chosen = [
        name
        for name in sorted(shape_reads)
        if name in pops and name not in keep and all(stack_id in pushes for stack_id in pops[name])
    ]
    if not chosen:
        return backward
    shaped_like = ctx.bind_free("shaped_like", adjoints.shaped_like)
    node = program.node
    params = {a.id for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs}
    # (a stand-in is made where the backward pass starts, outside the branches that may
    # be the only ones binding the name: None there, which no read on that way sees)
    program.unbound_reads |= set(chosen) - bound_on_every_path(primal, params)
    starts = []
    for name in chosen:
        shape_name = ctx.namer.new(f"{name}_shape")
        for stack_id in pops[name]:
            pushes[stack_id].value.args = [build.call(shaped_like, load(name))]
        for stmt in statements(backward):
            if is_pop(stmt) and stmt.targets[0].id == name:
                stmt.targets[0].id = shape_name
        for call, position in shape_reads[name]:
            call.args[position] = load(shape_name)
        starts.append(build.assign(shape_name, build.call(shaped_like, load(name))))
    return [*starts, *backward]


def _restored_only_by_pops(backward: list[gast.stmt]) -> dict[str, list[int]]:
    """name -> stack ids of its pops, for names the backward pass writes only by popping."""
    pops: dict[str, list[int]] = {}
    other: set[str] = set()
    # Breadth first: the names are given their shape names in the order found here.
    for stmt in statements_breadth_first(gast.Module(body=backward, type_ignores=[])):
        if is_pop(stmt) and isinstance(stmt.targets[0], gast.Name):
            pops.setdefault(stmt.targets[0].id, []).append(anno.get(stmt, anno.Key.STACK_ID))
        else:
            other |= target_names(stmt)
            if isinstance(stmt, gast.Delete):
                other |= {t.id for t in stmt.targets if isinstance(t, gast.Name)}
    return {name: ids for name, ids in pops.items() if name not in other}


def _shape_only_reads(
    backward: list[gast.stmt], shape_only: dict[str, frozenset[int]]
) -> dict[str, list[tuple[gast.Call, int]]]:
    """name -> the (call, argument position) of each of its reads at a shape-only position,
    for names the backward pass reads nowhere else."""
    found: dict[str, list[tuple[gast.Call, int]]] = {}
    reads: dict[str, int] = {}
    for node in walk(gast.Module(body=backward, type_ignores=[])):
        if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Load):
            reads[node.id] = reads.get(node.id, 0) + 1
        elif (
            isinstance(node, gast.Call)
            and isinstance(node.func, gast.Name)
            and node.func.id in shape_only
            and not any(isinstance(arg, gast.Starred) for arg in node.args)
        ):
            for position in shape_only[node.func.id]:
                if position < len(node.args) and isinstance(node.args[position], gast.Name):
                    found.setdefault(node.args[position].id, []).append((node, position))
    return {name: calls for name, calls in found.items() if reads.get(name) == len(calls)}


def _pushes(primal: list[gast.stmt]) -> dict[int, gast.Expr]:
    """stack id -> the ``push(name)`` statement with it."""
    found = {}
    for stmt in statements(primal):
        if (
            isinstance(stmt, gast.Expr)
            and anno.has(stmt, anno.Key.STACK_ID)
            and isinstance(stmt.value, gast.Call)
            and len(stmt.value.args) == 1
            and isinstance(stmt.value.args[0], gast.Name)
        ):
            found[anno.get(stmt, anno.Key.STACK_ID)] = stmt
    return found

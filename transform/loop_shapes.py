"""Shapes that cannot change from one iteration of a loop to the next are not saved.

``shape_reads`` saves, for a value the backward pass reads only for its shape, a stand-in
(``push(shaped_like(x))`` before each binding, ``x_shape = pop()`` after each iteration's
adjoint). In a loop like a stencil's, ``u[:-2, 1:-1]``, ``u[2:, 1:-1] + ...`` and
``k * laplacian`` have the same shape and dtype in every iteration: ``u`` is a copy of the
previous ``u`` and ``k`` never changes. Then the stand-in made after the loop (its last
value's) serves every iteration, and the pushes and pops go.

A name's shape and dtype are *invariant* in a loop (over the iterations that bind it) when
it is bound there exactly once (once in the whole function; a parameter only as a copy of
itself, since the first iteration's pop gives back its argument), at the top of the loop body,
by an operation whose result's shape and dtype are a function of its operands' alone,
every operand being invariant: a number written in the code, a name the loop does not
bind, an int the ``ranks`` pass proves (a ``range`` counter), a name already found
invariant, or the name itself copied (``u = u.copy()``, ``np.copy(u)``: loop-carried, the
same shape as before). The operations: arithmetic and comparisons (``@`` too), ``-x``,
NumPy ufuncs, ``np.dot``/``np.matmul``, copies, ``.T``, and indexing by constants, slices
of constants, proven ints or names the loop does not bind. Only loops at the function's
top level are looked at (in a nested loop a shape may change between outer iterations).
"""

from __future__ import annotations

import gast
import numpy as np

from ..runtime import adjoints
from . import anno, ranks
from .context import TransformContext
from .dataflow import bound_names, statements
from .program import Program
from .walk import walk, without_statements

_PRODUCTS = (np.dot, np.matmul)


def drop_invariant_shape_saves(program: Program, ctx: TransformContext) -> None:
    """Drop the pops of stand-ins whose shape a top-level loop cannot change, and record
    their stack ids (``unread_pushes`` drops the pushes)."""
    bound = {**ctx.resolved_globals, **ctx.free_values}
    shaped_like = {name for name, value in bound.items() if value is adjoints.shaped_like}
    if not shaped_like:
        return
    facts = getattr(ctx.shape_classes, "ranks", None) or {}
    args = program.node.args
    params = {a.id for a in args.posonlyargs + args.args + args.kwonlyargs}
    params |= {a.id for a in (args.vararg, args.kwarg) if a is not None}
    counts: dict[str, int] = {}
    for stmt in statements(program.primal):
        for name in bound_names(stmt):  # (x[i] = v changes no shape: not counted)
            counts[name] = counts.get(name, 0) + 1
    dead: set[int] = set()
    for loop in program.primal:
        if isinstance(loop, gast.For):
            invariant = _invariant_names(loop, counts, facts, params)
            for stmt in loop.body:
                name = _pushed_stand_in(stmt, shaped_like)
                if name is not None and name in invariant:
                    dead.add(anno.get(stmt, anno.Key.STACK_ID))
    if not dead:
        return
    program.backward = _without_pops(program.backward, dead)
    program.dead_stack_ids |= dead


def _is_push(stmt: gast.stmt) -> bool:
    return isinstance(stmt, gast.Expr) and anno.has(stmt, anno.Key.STACK_ID)


def _pushed_stand_in(stmt: gast.stmt, shaped_like: set[str]) -> str | None:
    """``x`` for ``push(shaped_like(x))``; None for anything else."""
    if not _is_push(stmt) or not isinstance(stmt.value, gast.Call) or len(stmt.value.args) != 1:
        return None
    inner = stmt.value.args[0]
    if (
        isinstance(inner, gast.Call)
        and isinstance(inner.func, gast.Name)
        and inner.func.id in shaped_like
        and len(inner.args) == 1
        and isinstance(inner.args[0], gast.Name)
    ):
        return inner.args[0].id
    return None


def _invariant_names(
    loop: gast.For, counts: dict[str, int], facts: dict, params: set[str]
) -> set[str]:
    """The names bound in ``loop`` whose shape and dtype are the same in every iteration,
    and as the binding before the loop, which the pop after the first iteration's adjoint
    gives back: none for a name bound only in the loop; a parameter's argument, for a
    parameter, which only a copy of itself is sure to keep (``u = u.copy()``)."""
    bound_here = set().union(*(bound_names(s) for s in statements([loop])))
    candidates = {
        stmt.targets[0].id: (position, stmt)
        for position, stmt in enumerate(loop.body)
        if isinstance(stmt, gast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], gast.Name)
        and counts.get(stmt.targets[0].id) == 1
        and (stmt.targets[0].id not in params or _copies_itself(stmt))
    }
    # Loop-carried copies of themselves have the shape they had before the loop, so any
    # statement may read them; another name only after its binding in the same iteration.
    carried = {name for name, (_, stmt) in candidates.items() if _copies_itself(stmt)}
    invariant = set(carried)
    changed = True
    while changed:
        changed = False
        for name, (position, stmt) in candidates.items():
            if name in invariant:
                continue
            readable = carried | {n for n in invariant if candidates[n][0] < position}
            if _invariant(stmt.value, stmt, readable, bound_here, facts, top=True):
                invariant.add(name)
                changed = True
    return invariant


def _copies_itself(stmt: gast.Assign) -> bool:
    """``u = u.copy()`` or ``u = np.copy(u)``: a loop-carried value of its own shape."""
    callee = anno.get(stmt, anno.Key.CALLEE)
    if callee is None or callee.kind != "rule" or callee.value is not np.copy:
        return False
    value = stmt.value
    operands = ([callee.receiver] if callee.receiver is not None else []) + list(value.args)
    name = stmt.targets[0].id
    return (
        len(operands) == 1
        and not value.keywords
        and isinstance(operands[0], gast.Name)
        and operands[0].id == name
    )


def _invariant(
    node: gast.expr,
    stmt: gast.Assign,
    invariant: set[str],
    bound_here: set[str],
    facts: dict,
    top: bool = False,
) -> bool:
    """Whether ``node``'s shape and dtype are the same in every iteration."""

    def operand(n: gast.expr) -> bool:
        return _invariant(n, stmt, invariant, bound_here, facts)

    if isinstance(node, gast.Constant):
        return type(node.value) in (int, float, bool)
    if isinstance(node, gast.Name):
        return node.id not in bound_here or node.id in invariant or facts.get(node.id) == ranks.INT
    if isinstance(node, gast.BinOp):
        return operand(node.left) and operand(node.right)
    if isinstance(node, gast.UnaryOp):
        return operand(node.operand)
    if isinstance(node, gast.Compare):
        return len(node.comparators) == 1 and operand(node.left) and operand(node.comparators[0])
    if isinstance(node, gast.Subscript):
        if not operand(node.value) or not _constant_index(node.slice, bound_here, facts):
            return False
        # An index that changes (a counter) takes another element each time: of one shape
        # only for an array (a list's items may have any shapes).
        moves = any(isinstance(n, gast.Name) and n.id in bound_here for n in walk(node.slice))
        return not moves or (
            isinstance(node.value, gast.Name) and ranks.ndim(facts.get(node.value.id)) is not None
        )
    if isinstance(node, gast.Attribute):
        return node.attr == "T" and operand(node.value)
    if isinstance(node, gast.Call) and top:
        callee = anno.get(stmt, anno.Key.CALLEE)
        if callee is None or callee.kind != "rule" or node.keywords:
            return False
        function = callee.value
        if not (isinstance(function, np.ufunc) or any(function is f for f in _PRODUCTS)):
            if function is not np.copy:
                return False
        operands = ([callee.receiver] if callee.receiver is not None else []) + list(node.args)
        return bool(operands) and all(operand(n) for n in operands)
    return False


def _constant_index(index: gast.expr, bound_here: set[str], facts: dict) -> bool:
    """An index whose result has the same shape in every iteration: constants, slices of
    them, proven ints, names the loop does not bind, and tuples of those."""
    if isinstance(index, gast.Tuple):
        return all(_constant_index(e, bound_here, facts) for e in index.elts)
    if isinstance(index, gast.Slice):
        # A counter picks one element of one shape each time, but as a slice's bound it
        # changes the slice's length (x[: i + 1]): only bounds the loop does not bind.
        return all(
            part is None or _fixed_bound(part, bound_here)
            for part in (index.lower, index.upper, index.step)
        )
    if isinstance(index, gast.Constant):
        return index.value is None or type(index.value) is int
    if isinstance(index, gast.UnaryOp) and isinstance(index.op, gast.USub):
        return _constant_index(index.operand, bound_here, facts)
    if isinstance(index, gast.Name):
        return index.id not in bound_here or facts.get(index.id) == ranks.INT
    return False


def _fixed_bound(bound: gast.expr, bound_here: set[str]) -> bool:
    """A slice bound with the same value in every iteration: a whole number written in the
    code (maybe negated) or a name the loop does not bind."""
    if isinstance(bound, gast.Constant):
        return type(bound.value) is int
    if isinstance(bound, gast.UnaryOp) and isinstance(bound.op, gast.USub):
        return _fixed_bound(bound.operand, bound_here)
    return isinstance(bound, gast.Name) and bound.id not in bound_here


def _without_pops(stmts: list[gast.stmt], dead: set[int]) -> list[gast.stmt]:
    return without_statements(
        stmts,
        lambda stmt: isinstance(stmt, gast.Assign) and anno.get(stmt, anno.Key.STACK_ID) in dead,
    )

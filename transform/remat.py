"""remat: recompute cheap number temporaries in the backward pass instead of saving them.

``normalize`` splits ``a = a * 0.99 + 0.01 * a * a`` into one operation per statement, so
``0.01 * a`` becomes a temporary that the adjoint of the product reads. Inside a loop the
temporary is overwritten every iteration, and the reverse pass would push it and pop it
back. When it is one arithmetic operation on numbers, and the backward pass at that
point holds (and reads anyway) the values it was computed from, computing it again costs
less than the push, the pop and the stack's memory, and the forward pass goes back to the
line the user wrote (``optimize`` folds the unread temporary into its use).

``reverse`` remembers, for each statement of the core function, the contributions it
made for it (``program.remat_groups``). This pass walks the core function's blocks as
``reverse`` did, keeping one :class:`Definitions` per block, told what each statement
writes before its contributions are rewritten. The rewrite is valid because of the
reverse pass's invariant: when a statement's adjoint runs, every name holds what it held
right after the statement ran forward. So ``T``'s definition ``e`` gives ``T``'s value
there whenever nothing from the definition up to that statement wrote a name ``e`` reads.
"""

from __future__ import annotations

import copy

import gast

from . import anno, dataflow, ranks, shapes
from .analyze import operand_atoms
from .context import TransformContext
from .program import Program
from .resolve import Callee
from .walk import rewrite, walk

#: operators whose result on numbers is one cheap Python-level operation
_ARITHMETIC = (gast.Add, gast.Sub, gast.Mult, gast.Div, gast.Pow, gast.FloorDiv, gast.Mod)
_SIGNS = (gast.USub, gast.UAdd)


def transform(program: Program, ctx: TransformContext) -> Program:
    """Guarantees: in the contributions ``reverse`` made, each read of a one-operation
    number temporary whose definition still holds there, and whose inputs the backward
    pass reads there anyway, is replaced by that definition (so its push and pop go dead)."""
    if not program.remat_groups:
        return program
    node = program.node
    params = {a.id for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs}
    stored = {
        n.id
        for n in walk(node)
        if isinstance(n, gast.Name) and isinstance(n.ctx, (gast.Store, gast.Del))
    }
    # The values the backward pass holds without restoring anything more: parameters never
    # assigned, and values some rule's gradient reads anyway.
    held = (params - stored) | _values_read(node)
    # (parameters of a kind known to read an item plainly: an object of the user's, or
    # one of no known kind, may compute it, and anew each time)
    unchanged = {
        name
        for name in ctx.unchanged_params - stored
        if ctx.param_kinds.get(name, ("",))[0] in ("value", "list", "tuple")
    }
    _recompute(node.body[:-1], program.remat_groups, ctx, held, frozenset(unchanged))
    return program


def _recompute(
    stmts: list[gast.stmt], groups: dict[int, list[list[gast.stmt]]], ctx: TransformContext,
    held: set[str], unchanged: frozenset[str], in_loop: bool = False,
) -> None:  # fmt: skip
    """Rewrite the contributions of ``stmts``, a block ``reverse`` walked: each block has
    definitions of its own, as it had there. Items of the ``unchanged`` parameters are
    read again only in loops, where each is overwritten and the backward pass would
    restore it every iteration; outside one it is read where it lies, at no cost."""
    items = unchanged if in_loop else frozenset()
    definitions = Definitions(ctx.shape_classes, ctx.local_names, set(held), items)
    for stmt in stmts:
        definitions.forget(dataflow.names_changed_within(stmt))
        looping = in_loop or isinstance(stmt, (gast.For, gast.While))
        for block in _blocks(stmt):
            _recompute(block, groups, ctx, held | _counter(stmt), unchanged, looping)
        for contributions in groups.get(id(stmt), ()):
            definitions.substitute(contributions)
        definitions.learn(stmt)


def _counter(stmt: gast.stmt) -> set[str]:
    """A loop's target, which the backward pass restores at the start of each iteration
    it replays (where it is read at all): in the loop's body, recomputing ``i - 1`` or
    ``i + 1`` from it costs less than pushing each (and one counter serves them all)."""
    if isinstance(stmt, gast.For) and isinstance(stmt.target, gast.Name):
        return {stmt.target.id}
    return set()


def _blocks(stmt: gast.stmt) -> list[list[gast.stmt]]:
    """The blocks ``reverse`` reverses on their own: an ``if``'s arms, a loop's or a
    ``with``'s body."""
    if isinstance(stmt, gast.If):
        return [stmt.body, stmt.orelse]
    if isinstance(stmt, (gast.For, gast.While, gast.With)):
        return [stmt.body]
    return []


class Definitions:
    """The cheap temporaries of one block whose definitions still hold.

    ``shape_classes`` is the shapes pass's result (only names of class ``SCALAR`` are
    numbers); ``locals_`` the function's local names (a global could be rebound by any
    call); ``unchanging`` the parameters the function never assigns, whose values the
    backward pass has without restoring anything; ``unchanged`` those of them that
    nothing changes in place either (``effects``), whose items and rows read at ints
    (``xs[t]``) the backward pass may read again.
    """

    def __init__(
        self, shape_classes: dict, locals_: set[str], unchanging: set[str],
        unchanged: frozenset[str] = frozenset(),
    ) -> None:  # fmt: skip
        self._classes = shape_classes
        self._facts = getattr(shape_classes, "ranks", None) or {}
        self._locals = locals_
        self._unchanging = unchanging
        self._unchanged = unchanged
        self._values: dict[str, gast.expr] = {}

    def forget(self, written: set[str]) -> None:
        """``written`` changed: definitions reading or defining those names no longer hold."""
        if not self._values:
            return
        for name in list(self._values):
            if name in written or dataflow.reads(self._values[name]) & written:
                del self._values[name]

    def learn(self, stmt: gast.stmt) -> None:
        """Remember ``stmt`` if it defines a cheap number temporary, or reads an item or a
        row of an unchanged parameter at ints (``xs_item = xs[t]``: a view or a number,
        the same whenever it is read again, as long as ``t`` holds)."""
        if not (isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name)):
            return
        name, value = stmt.targets[0].id, stmt.value
        if (
            isinstance(value, gast.Subscript)
            and isinstance(value.value, gast.Name)
            and value.value.id in self._unchanged
            and self._int_index(value.slice)
        ):
            # (its index's temporaries by their definitions, which hold here: w[sub] as
            # w[i - 1], read again where i is the loop's counter)
            value = copy.deepcopy(value)
            for index_name in dataflow.reads(value.slice) & self._values.keys():
                _replace_reads(value, index_name, self._values[index_name])
            self._values[name] = value
            return
        if not anno.get(stmt, anno.Key.TEMPORARY):
            return
        if self._classes.get(name) != shapes.SCALAR or not self._cheap(value):
            return
        self._values[name] = value

    def _int_index(self, index: gast.expr) -> bool:
        """Ints (``ranks``), slices of ints, and tuples of both."""
        if isinstance(index, gast.Tuple):
            return all(self._int_index(part) for part in index.elts)
        if isinstance(index, gast.Slice):
            return all(
                part is None or ranks.is_int_index(part, self._facts)
                for part in (index.lower, index.upper, index.step)
            )
        return ranks.is_int_index(index, self._facts)

    def _cheap(self, value: gast.expr) -> bool:
        if isinstance(value, gast.BinOp):
            operands = [value.left, value.right]
            if not isinstance(value.op, _ARITHMETIC):
                return False
        elif isinstance(value, gast.UnaryOp):
            operands = [value.operand]
            if not isinstance(value.op, _SIGNS):
                return False
        else:
            return False
        for operand in operands:
            if isinstance(operand, gast.Constant):
                if type(operand.value) not in (int, float):
                    return False
            elif not (
                isinstance(operand, gast.Name)
                and operand.id in self._locals
                and self._classes.get(operand.id) == shapes.SCALAR
            ):
                return False
        return True

    def substitute(self, adjoint: list[gast.stmt]) -> list[gast.stmt]:
        """``adjoint`` (one statement's contributions) with each read of a remembered
        temporary replaced by its definition, where the backward pass reads that
        definition's inputs there anyway. Rewrites the statements in place."""
        # Again while something was replaced: a definition put in may read another
        # temporary (mul_2 = mul * d, mul = 0.5 * k), recomputed in turn.
        for _ in range(len(self._values)):
            reads = set()
            for stmt in adjoint:
                reads |= dataflow.reads(stmt)
            replaced = False
            for name in sorted(reads & self._values.keys()):
                inputs = dataflow.reads(self._values[name])
                if not inputs <= (reads - {name}) | self._unchanging:
                    continue  # recomputing would make the backward pass restore more names
                for stmt in adjoint:
                    _replace_reads(stmt, name, self._values[name])
                replaced = True
            if not replaced:
                break
        return adjoint


def _replace_reads(stmt: gast.stmt, name: str, value: gast.expr) -> None:
    def replace(node: gast.AST) -> gast.AST:
        if type(node) is gast.Name and node.id == name and isinstance(node.ctx, gast.Load):
            return copy.deepcopy(value)
        return node

    rewrite(stmt, replace)


def _values_read(node: gast.FunctionDef) -> set[str]:
    """Names whose values some rule's gradient reads (``x`` in ``x * y``, ``ans`` of
    ``tanh``): the backward pass restores them anyway, so recomputing from them is free."""
    found = set()
    for stmt in dataflow.statements(node.body):
        callee = anno.get(stmt, anno.Key.CALLEE)
        if not (
            isinstance(stmt, gast.Assign)
            and anno.get(stmt, anno.Key.ACTIVE)
            and isinstance(callee, Callee)
            and callee.kind == "rule"
            and callee.rule is not None
        ):
            continue
        wanted = callee.rule.value_params
        operands = operand_atoms(stmt.value, callee)
        for param, operand in zip(callee.rule.param_names, operands):
            if param in wanted and isinstance(operand, gast.Name):
                found.add(operand.id)
        if "ans" in wanted:
            found |= dataflow.changed_names(stmt)
    return found

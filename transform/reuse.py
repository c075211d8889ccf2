"""reuse: a backward expression the forward statements already computed reads their value.

A rule's gradient may recompute what the program computed forward: ``tanh``'s gradient
is ``g * (1 - ans * ans)``, and reverse mode over generated forward code (``ag.hvp``)
meets it right beside the tangent ``dh = dadd * (1 - h * h)``, whose ``1 - h * h`` is a
forward value (``sub``). This pass finds such expressions in the backward statements and
reads the forward value instead::

    # forward                        # backward, before         # after
    h = np.tanh(add)                 d_add = d_h * (1 - h * h)  d_add = d_h * sub
    mul = h * h
    sub = 1 - mul

Only operator expressions (``+ - * / ** @`` and signs on names and numbers) are compared:
they compute the same value from the same operands, to the bit. Two reads of a name are
the same operand when they see the same write of it: each name read is tagged with the
top-level forward statement that last wrote it (its *version*). The backward statements
start with every name at its last forward write; a ``name = pop()`` gives the name the
version its matching ``push(name)`` saw; any other write in the backward, or a call that
may change its arguments, leaves the name with no version, and then it matches nothing.
A forward value is reused only where it is bound once, by a top-level statement, and never
written backward (the backward statements then keep it, where they would have computed
it again), and only inside a larger expression (a gradient that were the value itself
would share its array). Operands are expanded through such values, so ``1 - mul`` and
``1 - h * h`` compare equal.
"""

from __future__ import annotations

import bisect

import gast

from . import anno
from .context import TransformContext
from .program import Program
from .walk import child_fields, walk

#: operators compared (one NumPy or Python operation each, pure on arrays and numbers)
_OPERATORS = (
    gast.Add,
    gast.Sub,
    gast.Mult,
    gast.Div,
    gast.Pow,
    gast.MatMult,
    gast.USub,
    gast.UAdd,
)


def transform(program: Program, ctx: TransformContext) -> Program:
    """Guarantees: a backward operator expression inside a statement's value, equal (same
    operators, same versions of the same names, same numbers) to a forward value bound
    once at the top level, never written backward and holding that write there, is
    replaced by a read of that value; nothing else changes."""
    forward = _Forward(program.primal)
    written = [_written(stmt) for stmt in program.backward]
    values = forward.reusable(set().union(*written))
    if not values:
        return program
    versions = dict(forward.last)
    for stmt, names in zip(program.backward, written, strict=True):
        if isinstance(stmt, gast.Assign) and len(stmt.targets) == 1:
            # (inside the value only: a gradient that were the forward value itself would
            # share its array with what the function returned)
            _Replace(values, versions, forward).within(stmt.value)
        pushed = forward.pushed.get(anno.get(stmt, anno.Key.STACK_ID))
        if pushed is not None and _is_pop_of(stmt, pushed[0]):
            versions[pushed[0]] = pushed[1]  # the value the push saw comes back
            continue
        for name in names:
            versions[name] = None
    return program


class _Forward:
    """The top-level forward statements: where each name is written, the values bound
    once by an operator expression, and what each push saved."""

    def __init__(self, primal: list[gast.stmt]) -> None:
        self.writes: dict[str, list[int]] = {}
        self.definitions: dict[str, tuple[int, gast.expr]] = {}
        #: stack id -> (name, version of the name the push saw)
        self.pushed: dict[object, tuple[str, int]] = {}
        for index, stmt in enumerate(primal):
            stack_id = anno.get(stmt, anno.Key.STACK_ID)
            if stack_id is not None and _pushed_name(stmt) is not None:
                name = _pushed_name(stmt)
                self.pushed[stack_id] = (name, self.version_before(name, index))
                continue
            for name in _written(stmt):
                self.writes.setdefault(name, []).append(index)
            if (
                isinstance(stmt, gast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], gast.Name)
                and _is_operation(stmt.value)
            ):
                self.definitions[stmt.targets[0].id] = (index, stmt.value)
        #: name -> the version it ends the forward statements with (-1: the argument)
        self.last = {name: indices[-1] for name, indices in self.writes.items()}
        self._expanded: dict[str, tuple | None] = {}

    def version_before(self, name: str, index: int) -> int:
        writes = self.writes.get(name, ())  # (in increasing order: a search, not a scan)
        position = bisect.bisect_left(writes, index)
        return writes[position - 1] if position else -1

    def once(self, name: str) -> bool:
        """Bound once, by an operator expression at the top level."""
        return name in self.definitions and len(self.writes.get(name, ())) == 1

    def expanded(self, name: str) -> tuple | None:
        """The key of a value bound once: its expression with the values bound once that
        it reads expanded in turn."""
        if name not in self._expanded:
            index, value = self.definitions[name]
            self._expanded[name] = None  # (no cycle: a definition reads earlier writes)
            self._expanded[name] = self.key(value, lambda n: self.version_before(n, index))
        return self._expanded[name]

    def key(self, node: gast.expr, version) -> tuple | None:
        if isinstance(node, gast.Name):
            seen = version(node.id)
            if seen is None:
                return None
            if self.once(node.id) and seen == self.definitions[node.id][0]:
                return self.expanded(node.id)
            return ("name", node.id, seen)
        if isinstance(node, gast.Constant):
            value = node.value
            if type(value) in (int, float, complex):
                return ("number", type(value).__name__, value)
            return None
        if isinstance(node, gast.BinOp) and isinstance(node.op, _OPERATORS):
            left, right = self.key(node.left, version), self.key(node.right, version)
            if left is None or right is None:
                return None
            return ("binary", type(node.op).__name__, left, right)
        if isinstance(node, gast.UnaryOp) and isinstance(node.op, _OPERATORS):
            operand = self.key(node.operand, version)
            return None if operand is None else ("unary", type(node.op).__name__, operand)
        return None

    def reusable(self, backward_writes: set[str]) -> dict[tuple, str]:
        """key -> name of each forward value the backward statements may read."""
        found: dict[tuple, str] = {}
        for name in self.definitions:
            if not self.once(name) or name in backward_writes:
                continue
            key = self.expanded(name)
            if key is not None and key[0] != "name":
                found.setdefault(key, name)
        return found


class _Replace:
    """Operator expressions of one backward statement whose key is a forward value's,
    replaced top down (an expression replaced is not looked into)."""

    def __init__(self, values: dict[tuple, str], versions: dict, forward: _Forward) -> None:
        self.values = values
        self.versions = versions
        self.forward = forward

    def version(self, name: str) -> int | None:
        return self.versions.get(name, -1)

    def visit(self, node: gast.AST) -> gast.AST:
        if isinstance(node, (gast.BinOp, gast.UnaryOp)):
            key = self.forward.key(node, self.version)
            name = self.values.get(key) if key is not None else None
            # (the value itself must still hold what its statement wrote: a parameter
            # bound once, popped back to its argument, holds the argument)
            if name is not None and self.version(name) == self.forward.definitions[name][0]:
                return gast.Name(id=name, ctx=gast.Load(), annotation=None, type_comment=None)
        self.within(node)
        return node

    def within(self, node: gast.AST) -> None:
        """Replace in ``node``'s children (not ``node`` itself)."""
        fields = node.__dict__
        for field in child_fields(type(node)):
            value = fields.get(field)
            if type(value) is list:
                value[:] = [
                    self.visit(item) if isinstance(item, gast.AST) else item for item in value
                ]
            elif isinstance(value, gast.AST):
                setattr(node, field, self.visit(value))


def _is_operation(value: gast.expr) -> bool:
    return isinstance(value, (gast.BinOp, gast.UnaryOp)) and isinstance(value.op, _OPERATORS)


def _pushed_name(stmt: gast.stmt) -> str | None:
    """``name`` of a ``push(name)`` statement."""
    if (
        isinstance(stmt, gast.Expr)
        and isinstance(stmt.value, gast.Call)
        and len(stmt.value.args) == 1
        and isinstance(stmt.value.args[0], gast.Name)
    ):
        return stmt.value.args[0].id
    return None


def _is_pop_of(stmt: gast.stmt, name: str) -> bool:
    return (
        isinstance(stmt, gast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], gast.Name)
        and stmt.targets[0].id == name
        and isinstance(stmt.value, gast.Call)
        and not stmt.value.args
    )


def _written(stmt: gast.stmt) -> set[str]:
    """Names ``stmt`` may change: bound anywhere in it, the owners of items and attributes
    it assigns, and every name passed to a call made as a statement (it may change it in
    place: ``restore_item(y, i, pop())``)."""
    names = set()
    for node in walk(stmt):
        if isinstance(node, gast.Name) and not isinstance(node.ctx, gast.Load):
            names.add(node.id)
        elif isinstance(node, (gast.Subscript, gast.Attribute)) and not isinstance(
            node.ctx, gast.Load
        ):
            names |= {n.id for n in walk(node.value) if isinstance(n, gast.Name)}
        elif isinstance(node, gast.Expr) or isinstance(node, gast.AugAssign):
            names |= {n.id for n in walk(node) if isinstance(n, gast.Name)}
    return names

"""remat: recompute cheap number temporaries in the backward pass instead of saving them.

``normalize`` splits ``a = a * 0.99 + 0.01 * a * a`` into one operation per statement, so
``0.01 * a`` becomes a temporary that the adjoint of the product reads. Inside a loop the
temporary is overwritten every iteration, and the reverse pass would push it and pop it
back. When it is one arithmetic operation on numbers, and the backward pass at that
point holds (and reads anyway) the values it was computed from, computing it again costs
less than the push, the pop and the stack's memory, and the forward pass goes back to the
line the user wrote (``optimize`` folds the unread temporary into its use).

The reverse pass keeps one :class:`Definitions` per block it walks, tells it what each
statement writes before making that statement's adjoint, and lets it rewrite the
statement's contributions. The rewrite is valid because of the reverse pass's invariant:
when a statement's adjoint runs, every name holds what it held right after the statement
ran forward. So ``T``'s definition ``e`` gives ``T``'s value there whenever nothing from
the definition up to that statement wrote a name ``e`` reads.
"""

from __future__ import annotations

import copy

import gast

from . import anno, shapes
from .walk import load_names

#: operators whose result on numbers is one cheap Python-level operation
_ARITHMETIC = (gast.Add, gast.Sub, gast.Mult, gast.Div, gast.Pow, gast.FloorDiv, gast.Mod)
_SIGNS = (gast.USub, gast.UAdd)


class Definitions:
    """The cheap temporaries of one block whose definitions still hold.

    ``shape_classes`` is the shapes pass's result (only names of class ``SCALAR`` are
    numbers); ``locals_`` the function's local names (a global could be rebound by any
    call); ``unchanging`` the parameters the function never assigns, whose values the
    backward pass has without restoring anything.
    """

    def __init__(self, shape_classes: dict, locals_: set[str], unchanging: set[str]) -> None:
        self._classes = shape_classes
        self._locals = locals_
        self._unchanging = unchanging
        self._values: dict[str, gast.expr] = {}

    def forget(self, written: set[str]) -> None:
        """``written`` changed: definitions reading or defining those names no longer hold."""
        if not self._values:
            return
        for name in list(self._values):
            if name in written or load_names(self._values[name]) & written:
                del self._values[name]

    def learn(self, stmt: gast.stmt) -> None:
        """Remember ``stmt`` if it defines a cheap number temporary."""
        if not (
            anno.get(stmt, anno.Key.TEMPORARY)
            and isinstance(stmt, gast.Assign)
            and isinstance(stmt.targets[0], gast.Name)
        ):
            return
        name, value = stmt.targets[0].id, stmt.value
        if self._classes.get(name) != shapes.SCALAR or not self._cheap(value):
            return
        self._values[name] = value

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
        if not self._values:
            return adjoint
        reads = set()
        for stmt in adjoint:
            reads |= load_names(stmt)
        for name in reads & self._values.keys():
            inputs = load_names(self._values[name])
            if not inputs <= (reads - {name}) | self._unchanging:
                continue  # recomputing would make the backward pass restore more names
            for stmt in adjoint:
                _replace_reads(stmt, name, self._values[name])
        return adjoint


def _replace_reads(stmt: gast.stmt, name: str, value: gast.expr) -> None:
    class Replace(gast.NodeTransformer):
        def visit_Name(self, node: gast.Name) -> gast.expr:
            if node.id == name and isinstance(node.ctx, gast.Load):
                return copy.deepcopy(value)
            return node

    Replace().visit(stmt)

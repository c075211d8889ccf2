"""jit: the elements a counted-down loop adds into around its counter, carried in locals.

The replayed loop of a stencil adds into neighbouring elements of one gradient buffer::

    next_i = start + count * 1
    for run in range(count):
        next_i -= 1
        i = next_i
        g = dnew[i]
        du[i + 1] = du[i + 1] + g * k
        du[i] = du[i] + -(g * k) * 2.0
        du[i - 1] = du[i - 1] + g * k

Each element is added into by three successive iterations, and each of its loads waits
for the store the iteration before made: a chain through memory that the compiler cannot
break (it cannot tell that ``dnew`` and ``du`` are different arrays). This rewrite carries
the elements ``i - 1``, ``i`` and ``i + 1`` in locals, a *window* that slides down by one
element per iteration::

    if jit_mine_du and count > 0 and 0 <= next_i - count - 1 and next_i < du.shape[0]:
        jit_window_2 = du[next_i - 1]                 # the window's elements i and i + 1
        jit_window_3 = du[next_i]                     # of the first iteration
        for run in range(count):
            next_i -= 1
            i = next_i
            jit_window_1 = du[i - 1]                  # the element entering the window
            g = dnew[i]
            jit_window_3 = jit_window_3 + g * k
            jit_window_2 = jit_window_2 + -(g * k) * 2.0
            jit_window_1 = jit_window_1 + g * k
            du[i + 1] = jit_window_3                  # the element leaving it
            jit_window_3 = jit_window_2
            jit_window_2 = jit_window_1
        du[i] = jit_window_3                          # the two still in the window
        du[i - 1] = jit_window_2
    else:
        <the loop as it was>

Why it computes what the loop computed, operation by operation (the same additions in
the same order on the same values, so the same bits):

- the loop is the replayed form of a range loop with step 1 (``transform.jit``'s
  ``_replayed_counter``): its body starts with ``next -= 1`` and ``i = next`` and binds
  neither name again (nor ``count``), so iteration ``t`` (from 0) has ``i = next0 - 1 -
  t``, where ``next0`` is ``next`` before the loop;
- no other name reaches the array (its flag, as for ``transform.jit_locals``: made here,
  held by no other name or container; a call cannot reach it), and the body uses the
  name only in element accesses whose index is ``i + c`` (``c`` an integer constant) at
  one position and, at every other position, one expression that reads no name the loop
  binds. Each access is then the element ``i + c`` of one row, which the local for
  offset ``c`` holds;
- the window holds every element's current value: iteration ``t`` touches the elements
  ``i + c`` for ``c`` from ``cmin`` to ``cmax``, which earlier iterations (with larger
  ``i``) touched only at offsets above ``cmin``, where the window carried them from the
  iteration before (offset ``c - 1`` there is offset ``c`` here); the element at
  ``cmin`` is new, and its load reads what no iteration changed yet. The element at
  ``cmax`` is touched by no later iteration, so its store is final; after the loop the
  rest of the window is stored;
- no index wraps around: the test before the loop checks that every element the loop
  touches, ``next0 - count + cmin`` to ``next0 - 1 + cmax``, lies in ``[0, n)`` (a
  negative index would reach an element of the other end, which another offset may
  hold), that the other positions' indices are in bounds, and that the loop runs (the
  loads before it read the first iteration's elements);
- the loop is left only through its end: no ``break`` or ``continue`` (which would skip
  the store and the shift); a ``raise`` leaves the array without the window's values,
  but the array is this call's own, and a compiled call that raises is run again
  uncompiled (``astgrad.jit``);
- the array holds float64 (gradient buffers do): a local that starts as its element
  rounds as the stores did.

Where the test fails, the loop as it was runs.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable

from .jit_locals import (
    _accesses,
    _load,
    _parts,
    _shape,
    _store,
    _stored,
    counted_down,
    counter_offset,
    rewrite_innermost_loops,
)

__all__ = ["slide_windows"]

#: the widest window carried in locals (offsets from the counter, ``cmin`` to ``cmax``)
_WIDEST = 8


def slide_windows(
    function: ast.FunctionDef, buffers: dict[str, tuple[str, int]], fresh: Callable[[str], str]
) -> None:
    """Rewrites ``function`` in place (see the module doc). ``buffers`` maps each float64
    gradient buffer's name to its flag's name and its number of dimensions; ``fresh``
    makes a name no one uses."""
    if buffers:
        rewrite_innermost_loops(function, lambda loop, bound: _version(loop, buffers, fresh, bound))


def _plus(node: ast.expr, amount: int) -> ast.expr:
    """``node + amount`` as a reader writes it (``node``, ``node + 2``, ``node - 1``)."""
    if amount == 0:
        return node
    op = ast.Add() if amount > 0 else ast.Sub()
    return ast.BinOp(left=node, op=op, right=ast.Constant(abs(amount)))


class _Window:
    """The elements of one array a loop carries in locals: the array, the position its
    counter indexes, the other positions' indices, the offsets and their locals."""

    def __init__(self, array: str, position: int, others: list, low: int, high: int, fresh):
        self.array = array
        self.position = position
        self.others = others  # (the index at each position; None at ``position``)
        self.low, self.high = low, high
        self.locals = {c: fresh("jit_window") for c in range(low, high + 1)}

    def element(self, at: ast.expr, ctx: ast.expr_context) -> ast.Subscript:
        parts = [at if p is None else copy.deepcopy(p) for p in self.others]
        index = parts[0] if len(parts) == 1 else ast.Tuple(elts=parts, ctx=ast.Load())
        return ast.Subscript(value=_load(self.array), slice=index, ctx=ctx)


def _plan(loop: ast.For, array: str, ndim: int, counter: str, before: set, fresh):
    """The window of ``array`` the loop can carry, or None: every use of the name in the
    body an element access (a read, or the one target of an assignment) indexed by
    ``counter`` plus a constant at one position, and by one expression reading no name
    the loop binds at each other position; two offsets at least."""
    accesses = _accesses(loop, array, ndim)
    if not accesses:
        return None
    bound = _stored(loop.target) | {n for stmt in loop.body for n in _stored(stmt)}
    position, others, offsets = None, None, set()
    for access in accesses:
        parts = _parts(access, ndim)
        found = [(p, counter_offset(part, counter)) for p, part in enumerate(parts)]
        moving = [(p, c) for p, c in found if c is not None]
        if len(moving) != 1 or (position is not None and moving[0][0] != position):
            return None
        position, offset = moving[0]
        rest = [None if p == position else part for p, part in enumerate(parts)]
        for part in rest:
            if part is None:
                continue
            names = {n.id for n in ast.walk(part) if isinstance(n, ast.Name)}
            if names & bound or not names <= before:
                return None
        dumped = [None if p is None else ast.dump(p) for p in rest]
        if others is not None and dumped != [None if p is None else ast.dump(p) for p in others]:
            return None
        others = rest
        offsets.add(offset)
    low, high = min(offsets), max(offsets)
    if len(offsets) < 2 or high - low >= _WIDEST:
        return None
    return _Window(array, position, others, low, high, fresh)


class _Accesses(ast.NodeTransformer):
    """Every access of a windowed array becomes its local (read or assigned)."""

    def __init__(self, windows: dict[str, _Window], counter: str) -> None:
        self.windows = windows
        self.counter = counter

    def visit_Subscript(self, node: ast.Subscript) -> ast.expr:
        self.generic_visit(node)
        window = self.windows.get(getattr(node.value, "id", None))
        if window is None:
            return node
        index = node.slice
        parts = index.elts if isinstance(index, ast.Tuple) else [index]
        local = window.locals[counter_offset(parts[window.position], self.counter)]
        return _store(local) if isinstance(node.ctx, ast.Store) else _load(local)


def _version(loop: ast.For, buffers: dict, fresh: Callable, bound: set) -> ast.stmt | None:
    """The loop carrying its windows, behind the test that allows it (see the module
    doc), and the loop as it was, or None where no window applies."""
    counting = counted_down(loop, bound)
    if counting is None or any(
        isinstance(n, (ast.Break, ast.Continue)) for s in loop.body for n in ast.walk(s)
    ):
        return None  # (leaving early would skip the store and the slide)
    following, counter, count = counting
    windows: dict[str, _Window] = {}
    for array, (flag, ndim) in sorted(buffers.items()):
        if array in bound and flag in bound:
            window = _plan(loop, array, ndim, counter, bound, fresh)
            if window is not None:
                windows[array] = window
    if not windows:
        return None
    original = copy.deepcopy(loop)
    compare = ast.Compare
    tests: list[ast.expr] = [compare(left=copy.deepcopy(count), ops=[ast.Gt()],
                                     comparators=[ast.Constant(0)])]  # fmt: skip
    before: list[ast.stmt] = []
    entering: list[ast.stmt] = []
    leaving: list[ast.stmt] = []
    after: list[ast.stmt] = []
    for array, window in windows.items():
        tests.append(_load(buffers[array][0]))
        first = ast.BinOp(left=_load(following), op=ast.Sub(), right=copy.deepcopy(count))
        tests.append(
            compare(left=ast.Constant(0), ops=[ast.LtE()], comparators=[_plus(first, window.low)])
        )
        tests.append(
            compare(left=_plus(_load(following), window.high - 1), ops=[ast.Lt()],
                    comparators=[_shape(array, window.position)])
        )  # fmt: skip
        for position, part in enumerate(window.others):
            if part is not None:
                tests.append(
                    compare(left=ast.Constant(0), ops=[ast.LtE(), ast.Lt()],
                            comparators=[copy.deepcopy(part), _shape(array, position)])
                )  # fmt: skip
        for c in range(window.low + 1, window.high + 1):  # (the first iteration's)
            at = _plus(_load(following), c - 1)
            before.append(ast.Assign(targets=[_store(window.locals[c])],
                                     value=window.element(at, ast.Load())))  # fmt: skip
        entering.append(
            ast.Assign(
                targets=[_store(window.locals[window.low])],
                value=window.element(_plus(_load(counter), window.low), ast.Load()),
            )
        )
        leaving.append(
            ast.Assign(
                targets=[window.element(_plus(_load(counter), window.high), ast.Store())],
                value=_load(window.locals[window.high]),
            )
        )
        for c in range(window.high, window.low, -1):  # (the window slides down by one)
            leaving.append(
                ast.Assign(targets=[_store(window.locals[c])], value=_load(window.locals[c - 1]))
            )
        for c in range(window.low + 1, window.high + 1):  # (the last iteration's rest)
            after.append(
                ast.Assign(
                    targets=[window.element(_plus(_load(counter), c - 1), ast.Store())],
                    value=_load(window.locals[c]),
                )
            )
    rewrite = _Accesses(windows, counter)
    rest = [rewrite.visit(stmt) for stmt in loop.body[2:]]
    loop.body = [*loop.body[:2], *entering, *rest, *leaving]
    test = ast.BoolOp(op=ast.And(), values=tests)
    made = ast.If(test=test, body=[*before, loop, *after], orelse=[original])
    for node in ast.walk(made):
        if isinstance(node, (ast.stmt, ast.expr)) and not hasattr(node, "lineno"):
            ast.copy_location(node, loop)
    return made

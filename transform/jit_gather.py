"""jit: a counted-down loop's additions into neighbouring elements, made element by element.

The replayed loop of a stencil *scatters*: iteration ``i`` adds into the elements ``i - 1``,
``i`` and ``i + 1`` of a gradient buffer::

    for run in range(count):
        next_i -= 1
        i = next_i
        g = dnew[i]
        dnew[i] = 0
        a = g * k
        du[i + 1] = du[i + 1] + a
        du[i] = du[i] + -a * 2.0
        du[i - 1] = du[i - 1] + a
        du[i] = du[i] + g

Each element is added into by three iterations, so no two iterations are independent and
the compiler runs them one at a time. This rewrite *gathers* instead: one iteration per
element ``j``, which computes again the values of the iterations that add into it (``i =
j + 1``, ``j``, ``j - 1``: cheap, as the values of one iteration are) and adds their
contributions. Iterations are then independent, and the compiler runs several at once
(the elements of a vector register)::

    if count > 2 and jit_mine_du and jit_mine_dnew and 0 <= next_i - count - 1 and ...:
        jit_low = next_i - count                        # the iterations' i: jit_low..jit_high
        jit_high = next_i - 1
        for j in range(jit_low + 1, jit_high):          # elements every offset reaches
            total = du[j]
            i = j + 1                                   # offset -1: iteration j + 1
            a = dnew[i] * k
            total = total + a
            i = j                                       # offset 0: iteration j
            g = dnew[i]
            a = g * k
            total = total + -a * 2.0
            total = total + g
            i = j - 1                                   # offset 1: iteration j - 1
            a = dnew[i] * k
            total = total + a
            du[j] = total
        for jit_from in (jit_low - 1, jit_high):        # the elements at the two ends,
            for j in range(jit_from, jit_from + 2):     # which some offsets do not reach
                total = du[j]
                i = j + 1
                if jit_low <= i <= jit_high:
                    ...
                du[j] = total
        for i in range(jit_low, jit_high + 1):          # the writes the loop made, after
            dnew[i] = 0
    else:
        <the loop as it was>

Why it computes what the loop computed, operation by operation (the same additions in
the same order on the same values, so the same bits):

- the loop is the replayed form of a range loop with step 1 (``counted_down``): iteration
  ``t`` has ``i = next0 - 1 - t``, so the iterations' ``i`` run down from ``jit_high`` to
  ``jit_low``;
- its body is assignments only: to names (each bound once, after every read of it: no
  value passes from one iteration to the next), additions into elements of gradient
  buffers (``d[idx] = d[idx] + e``, the buffer read nowhere else, ``idx`` the counter
  plus a constant ``c`` at one position and, at the others, indices no iteration changes:
  a *row*, gathered on its own; the rows of one buffer certainly apart, ``_rows_apart``),
  and constants stored into elements of other buffers (``w[idx] = 0``, at one
  index, the counter plus a constant at one position, after the iteration's reads of
  that buffer). Calls are of functions that only compute a value (NumPy's ufuncs, the
  helpers ``pure`` names);
- it may also pop numbers saved by the forward pass (``_Pops``): each pop reads a slot
  of the buffer of saved numbers that depends on ``i`` alone (``jit_base + i * P - k``),
  and becomes that read; a name read before its pop in the body reads the previous
  iteration's slot (for the first iteration, the slot just past the count, where its
  value is written before the loop); the count is set after the loop, and the test before
  it checks that no pop would have gone below zero. And it may add into *sums*, names
  no other statement reads or binds (``dk = dk + g * lap``): a loop of their own adds
  what each iteration adds in the loop's order (counting down), after the gathering;
- so an iteration's values depend on its ``i`` alone: names no iteration binds, arrays no
  iteration writes, and elements of the buffers ``w`` that only that iteration touches,
  which it reads before it writes them. Computed again later, before any such write
  (they are made last, after the gathering and the sums), they come out the same;
- the additions into one element ``j`` of ``d`` come from iterations ``i = j - c``, one
  per offset ``c``; the loop makes them in the order of its iterations, ``i`` falling,
  so ``c`` rising, and those of one iteration in the order of its statements. The gather
  adds them to the element's value in that order. Gradient buffers are float64, and the
  element is read once before and stored once after, so it rounds as the stores did;
- no other name reaches a buffer (its flag, as for ``transform.jit_locals``: made here,
  held by no other name or container), so a store into one changes no other array;
- no index wraps around: the test before the loop checks that every element the loop
  touches lies in ``[0, n)``, at each position of every buffer's index, and that the
  loop makes more iterations than the widest spread of offsets (so that the elements
  every offset reaches, and the two ends, are apart);
- after it, the names hold what the loop left: the counters, and the names read
  elsewhere in the function, are given the last iteration's values (``i = jit_low`` and
  that iteration's statements computed again, before the writes);
- the loop is left only through its end: no ``break``, ``continue``, ``raise`` or
  ``return`` (an exception inside leaves this call's own buffers half made, and a
  compiled call that raises is run again uncompiled, ``astgrad.jit``).

Where the test fails, the loop as it was runs (and other rewrites may apply to it).
"""

from __future__ import annotations

import ast
import copy
import itertools
from collections.abc import Callable
from dataclasses import dataclass

from .jit_locals import _parts, _shape, counted_down, counter_offset, rewrite_innermost_loops

__all__ = ["GATHERED", "gather_scatters"]

#: the attribute marking a loop this rewrite versioned (the version that runs where its
#: test fails)
GATHERED = "jit_gathered"

#: builtins that only compute a value from numbers
_PURE_BUILTINS = frozenset({"float", "int", "abs"})


def gather_scatters(
    function: ast.FunctionDef,
    buffers: dict[str, tuple[str, int]],
    pure: Callable[[ast.Call], bool],
    fresh: Callable[[str], str],
    stack: tuple[str, str] = ("jit_numbers", "jit_number_count"),
) -> None:
    """Rewrites ``function`` in place (see the module doc). ``buffers`` maps each float64
    gradient buffer's name to its flag's name and its number of dimensions; ``pure``
    says whether a call only computes a value (no builtin of ``_PURE_BUILTINS`` needs
    it); ``fresh`` makes a name no one uses; ``stack`` names the buffer of saved numbers
    and its count, which pops read and count down."""
    if buffers:
        rewrite_innermost_loops(
            function,
            lambda loop, bound: _version(function, loop, buffers, pure, stack, fresh, bound),
        )


def _load(name: str) -> ast.Name:
    return ast.Name(id=name, ctx=ast.Load())


def _store(name: str) -> ast.Name:
    return ast.Name(id=name, ctx=ast.Store())


def _plus(node: ast.expr, amount: int) -> ast.expr:
    """``node + amount`` as a reader writes it (``node``, ``node + 2``, ``node - 1``)."""
    if amount == 0:
        return copy.deepcopy(node)
    op = ast.Add() if amount > 0 else ast.Sub()
    return ast.BinOp(left=copy.deepcopy(node), op=op, right=ast.Constant(abs(amount)))


def _names(tree: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def _element(array: str, parts: list[ast.expr], ctx: ast.expr_context) -> ast.Subscript:
    index = parts[0] if len(parts) == 1 else ast.Tuple(elts=parts, ctx=ast.Load())
    return ast.Subscript(value=_load(array), slice=index, ctx=ctx)


def _differ(a: ast.expr, b: ast.expr) -> bool:
    """Whether two indices are certainly different numbers: two different integer
    constants, or one name plus two different constants."""
    if isinstance(a, ast.Constant) and isinstance(b, ast.Constant):
        return type(a.value) is int and type(b.value) is int and a.value != b.value
    shared = _names(a) & _names(b)
    if len(shared) != 1:
        return False
    (name,) = shared
    first, second = counter_offset(a, name), counter_offset(b, name)
    return first is not None and second is not None and first != second


class _Access:
    """Where an element access of a buffer reaches: the counter plus ``offset`` at
    ``position``, and at the other positions indices no iteration changes (None at
    ``position``)."""

    def __init__(self, position: int, offset: int, others: list[ast.expr | None]) -> None:
        self.position, self.offset, self.others = position, offset, others

    def key(self) -> tuple:
        return (self.position, tuple(None if p is None else ast.dump(p) for p in self.others))

    def at(self, array: str, index: ast.expr, ctx: ast.expr_context) -> ast.Subscript:
        parts = [index if p is None else copy.deepcopy(p) for p in self.others]
        return _element(array, parts, ctx)


class _Body:
    """The loop's body sorted into what the gathering needs, or why it cannot be."""

    def __init__(self, loop, body, counter, buffers, pure, bound) -> None:
        self.counter = counter
        #: names added into every iteration (``s = s + e``), in order: (name, statement)
        self.sums: list[tuple[str, ast.Assign]] = []
        #: statements binding names, in order: (name, statement)
        self.temporaries: list[tuple[str, ast.Assign]] = []
        #: (buffer, row) -> its additions, in order: (offset, statement, added expression);
        #: a row is the indices at the positions other than the counter's
        self.scatters: dict[tuple, list[tuple[int, ast.Assign, ast.expr]]] = {}
        self.scatter_access: dict[tuple, _Access] = {}
        #: buffer -> (its access, the statement storing a constant into it)
        self.writes: dict[str, tuple[_Access, ast.Assign]] = {}
        self.ok = self._sort(loop, body, buffers, pure, bound)

    def _invariant(self, node: ast.expr, loop_bound: set[str], bound: set[str]) -> bool:
        names = _names(node)
        return not names & loop_bound and names <= bound

    def _access(self, subscript, ndim, loop_bound, bound) -> _Access | None:
        parts = _parts(subscript, ndim)
        if parts is None:
            return None
        moving = [(p, counter_offset(part, self.counter)) for p, part in enumerate(parts)]
        moving = [(p, c) for p, c in moving if c is not None]
        if len(moving) != 1:
            return None
        position, offset = moving[0]
        others = [None if p == position else part for p, part in enumerate(parts)]
        if not all(p is None or self._invariant(p, loop_bound, bound) for p in others):
            return None
        return _Access(position, offset, others)

    def _sort(self, loop, body, buffers, pure, bound) -> bool:
        if not all(isinstance(s, ast.Assign) and len(s.targets) == 1 for s in body):
            return False
        if loop.target.id in {n for s in body for n in _names(s)}:
            return False
        for stmt in body:
            for node in ast.walk(stmt):
                if isinstance(node, ast.Call) and not (
                    (isinstance(node.func, ast.Name) and node.func.id in _PURE_BUILTINS)
                    or pure(node)
                ):
                    return False
                if isinstance(node, (ast.Starred, ast.Lambda, ast.NamedExpr, ast.Await)):
                    return False
                if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp)):
                    return False
                if isinstance(node, (ast.GeneratorExp, ast.Yield, ast.YieldFrom)):
                    return False
        loop_bound = {s.targets[0].id for s in body if isinstance(s.targets[0], ast.Name)}
        loop_bound |= {self.counter}
        seen_bound: set[str] = set()
        read: set[str] = set()  # the names the statements so far read
        written: dict[str, int] = {}  # buffer -> the position of its write among the body
        for place, stmt in enumerate(body):
            target = stmt.targets[0]
            if self._is_sum(stmt, body):
                self.sums.append((target.id, stmt))
                read |= _names(stmt.value.right)
                continue
            read |= _names(stmt.value) | (_names(target) - {getattr(target, "id", None)})
            if isinstance(target, ast.Name):
                name = target.id
                if name in seen_bound or name in read or name in buffers:
                    return False  # (bound twice, or passing a value between iterations)
                self.temporaries.append((name, stmt))
                seen_bound.add(name)
                continue
            if not (isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name)):
                return False
            array = target.value.id
            if array not in buffers or array in loop_bound:
                return False
            ndim = buffers[array][1]
            access = self._access(target, ndim, loop_bound, bound)
            if access is None:
                return False
            value = stmt.value
            if (
                isinstance(value, ast.BinOp)
                and isinstance(value.op, ast.Add)
                and isinstance(value.left, ast.Subscript)
                and ast.dump(value.left.value) == ast.dump(target.value)
                and ast.dump(value.left.slice) == ast.dump(target.slice)
                and array not in _names(value.right)
            ):
                if array in written:
                    return False
                row = (array, access.key())  # (a row: the same indices at the other positions)
                self.scatter_access.setdefault(row, access)
                self.scatters.setdefault(row, []).append((access.offset, stmt, value.right))
            elif isinstance(value, ast.Constant) and type(value.value) in (int, float):
                if array in written or array in self.added_into():
                    return False
                written[array] = place
                self.writes[array] = (access, stmt)
            else:
                return False
        if not self.scatters or not self._rows_apart():
            return False
        # Every other use of a buffer: an element read, of a buffer written with a
        # constant, at the index it is written at, before the write.
        own = {id(s.targets[0].value) for made in self.scatters.values() for _, s, _ in made}
        own |= {id(s.value.left.value) for made in self.scatters.values() for _, s, _ in made}
        own |= {id(write.targets[0].value) for _, write in self.writes.values()}
        for place, stmt in enumerate(body):
            for node in ast.walk(stmt):
                if not isinstance(node, ast.Name) or node.id not in buffers or id(node) in own:
                    continue
                array = node.id
                if array in self.added_into():
                    return False  # (an array added into is read nowhere else)
                if array not in written:
                    continue  # (a buffer no iteration writes: read as any array)
                if place >= written[array] or not self._read_at_write(stmt, node, array):
                    return False
        return True

    def added_into(self) -> set[str]:
        """The buffers the body adds into."""
        return {array for array, _ in self.scatters}

    def _rows_apart(self) -> bool:
        """Whether the rows added into of each buffer (``du[i - 1, j]``, ``du[i, j + 1]``:
        the indices at the positions other than the counter's) are different elements:
        the counter at one position for all, and for every two rows, at some other
        position, two different integer constants, or one name plus two different
        constants (the test before the loop then finds both in bounds, so neither wraps)."""
        rows: dict[str, list[_Access]] = {}
        for (array, _), access in self.scatter_access.items():
            rows.setdefault(array, []).append(access)
        for accesses in rows.values():
            if len({a.position for a in accesses}) != 1:
                return False
            for first, second in itertools.combinations(accesses, 2):
                if not any(
                    p is not None and _differ(p, q)
                    for p, q in zip(first.others, second.others, strict=True)
                ):
                    return False
        return True

    @staticmethod
    def _is_sum(stmt: ast.Assign, body: list[ast.Assign]) -> bool:
        """Whether ``stmt`` is ``s = s + e`` and no other statement reads or binds ``s``
        (each iteration adds into it; nothing else sees it)."""
        target, value = stmt.targets[0], stmt.value
        if not (
            isinstance(target, ast.Name)
            and isinstance(value, ast.BinOp)
            and isinstance(value.op, ast.Add)
            and isinstance(value.left, ast.Name)
            and value.left.id == target.id
            and target.id not in _names(value.right)
        ):
            return False
        return not any(target.id in _names(other) for other in body if other is not stmt)

    def _read_at_write(self, stmt: ast.Assign, name: ast.Name, array: str) -> bool:
        """Whether ``name`` is the array of an element read at the index ``array`` is
        written at."""
        access, write = self.writes[array]
        for node in ast.walk(stmt.value):
            if isinstance(node, ast.Subscript) and node.value is name:
                return ast.dump(node.slice) == ast.dump(write.targets[0].slice)
        return False

    def needed(self, wanted: set[str]) -> list[ast.Assign]:
        """The statements binding names that computing ``wanted`` needs, in order."""
        kept = []
        for name, stmt in reversed(self.temporaries):
            if name in wanted:
                kept.append(stmt)
                wanted = wanted | _names(stmt.value)
        return list(reversed(kept))


def _version(function, loop, buffers, pure, stack, fresh, bound) -> ast.stmt | None:
    """The loop gathering, behind the test that allows it (see the module doc), and the
    loop as it was, or None where the rewrite does not apply."""
    counting = counted_down(loop, bound)
    if counting is None:
        return None
    following, counter, count = counting
    pops = _Pops.of(loop.body[2:], counter, stack, fresh)
    if pops is None:
        return None
    body = _Body(loop, pops.body, counter, buffers, pure, bound)
    if not body.ok:
        return None
    arrays = [*body.added_into(), *body.writes]
    if not all(a in bound and buffers[a][0] in bound for a in arrays):
        return None  # (the test before the loop reads them)
    offsets = {row: [c for c, _, _ in made] for row, made in body.scatters.items()}
    spread = max(max(c) - min(c) for c in offsets.values())
    # What the function reads of the loop's names after it (outside its body).
    inside = {id(n) for n in ast.walk(loop)}
    read_after = {
        n.id
        for n in ast.walk(function)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and id(n) not in inside
    }
    if loop.target.id in read_after:
        return None
    low, high = fresh("jit_low"), fresh("jit_high")
    compare = ast.Compare
    tests: list[ast.expr] = [
        compare(left=copy.deepcopy(count), ops=[ast.Gt()], comparators=[ast.Constant(spread)])
    ]
    first = ast.BinOp(left=_load(following), op=ast.Sub(), right=copy.deepcopy(count))
    last = ast.BinOp(left=_load(following), op=ast.Sub(), right=ast.Constant(1))
    reaches = [(row[0], body.scatter_access[row], offsets[row]) for row in body.scatters]
    reaches += [(a, access, [access.offset]) for a, (access, _) in body.writes.items()]
    for array, access, reached in reaches:
        tests.append(_load(buffers[array][0]))
        tests.append(
            compare(left=ast.Constant(0), ops=[ast.LtE()], comparators=[_plus(first, min(reached))])
        )
        tests.append(
            compare(left=_plus(_load(following), max(reached) - 1), ops=[ast.Lt()],
                    comparators=[_shape(array, access.position)])
        )  # fmt: skip
        for position, part in enumerate(access.others):
            if part is not None:
                tests.append(
                    compare(left=ast.Constant(0), ops=[ast.LtE(), ast.Lt()],
                            comparators=[copy.deepcopy(part), _shape(array, position)])
                )  # fmt: skip
    made: list[ast.stmt] = [
        ast.Assign(targets=[_store(low)], value=first),
        ast.Assign(targets=[_store(high)], value=last),
    ]
    if pops.count:
        tests += pops.tests(count)
        made += pops.before(following)
    names = _Made(counter, fresh("j"), fresh("total"), low, high)
    for row, additions in body.scatters.items():
        made += _gathering(row[0], body.scatter_access[row], additions, body, names, fresh)
    if body.sums:
        made.append(_summing(body, names))
    # The names the loop leaves bound, as it leaves them: its last iteration's (before
    # that iteration's writes, which come next).
    left = body.needed(read_after)
    if left:
        made.append(ast.Assign(targets=[_store(counter)], value=_load(low)))
        made += [copy.deepcopy(s) for s in left]
    for _, write in body.writes.values():
        stores = ast.Assign(
            targets=[copy.deepcopy(write.targets[0])], value=copy.deepcopy(write.value)
        )
        every = ast.Call(func=_load("range"), args=[_load(low), _plus(_load(high), 1)], keywords=[])
        made.append(ast.For(target=_store(counter), iter=every, body=[stores], orelse=[]))
    if counter in read_after:  # (the loops above leave it elsewhere)
        made.append(ast.Assign(targets=[_store(counter)], value=_load(low)))
    if following in read_after:
        made.append(ast.Assign(targets=[_store(following)], value=_load(low)))
    if pops.count:
        made.append(pops.after(count))
    test = ast.BoolOp(op=ast.And(), values=tests)
    # The loop as it was runs only where the test fails (a few iterations, an array not
    # this call's own): other rewrites leave it as it is, since every version of a loop
    # makes the compiled function larger, and a larger function is compiled worse (the
    # heat equation's gradient 0.12 ms with this version alone, 0.19 ms with a window
    # version of the loop beside it).
    setattr(loop, GATHERED, True)
    result = ast.If(test=test, body=made, orelse=[loop])
    for node in ast.walk(result):
        if isinstance(node, (ast.stmt, ast.expr)) and not hasattr(node, "lineno"):
            ast.copy_location(node, loop)
    return result


@dataclass
class _Made:
    """The names the gathering loops use: the loop's counter, and fresh ones for the
    element, its running total, and the first and last iterations' counters."""

    counter: str
    element: str
    total: str
    low: str
    high: str


def _gathering(array, access, additions, body, names, fresh) -> list[ast.stmt]:
    """The loops adding into ``array``'s elements what the iterations add into each:
    the elements every offset reaches, then the few at the two ends."""
    ordered = sorted(additions, key=lambda made: made[0])  # (stable: body order kept)
    lowest, highest = ordered[0][0], ordered[-1][0]
    interior = ast.Call(
        func=_load("range"),
        args=[_plus(_load(names.low), highest), _plus(_load(names.high), lowest + 1)],
        keywords=[],
    )
    made: list[ast.stmt] = [
        ast.For(
            target=_store(names.element),
            iter=interior,
            body=_element_sum(array, access, ordered, body, names, edge=False),
            orelse=[],
        )
    ]
    if highest > lowest:
        start = fresh("jit_from")
        starts = ast.Tuple(
            elts=[_plus(_load(names.low), lowest), _plus(_load(names.high), lowest + 1)],
            ctx=ast.Load(),
        )
        ends = ast.Call(
            func=_load("range"),
            args=[_load(start), _plus(_load(start), highest - lowest)],
            keywords=[],
        )
        edges = ast.For(
            target=_store(names.element),
            iter=ends,
            body=_element_sum(array, access, ordered, body, names, edge=True),
            orelse=[],
        )
        made.append(ast.For(target=_store(start), iter=starts, body=[edges], orelse=[]))
    return made


def _element_sum(array, access, ordered, body, names, edge: bool) -> list[ast.stmt]:
    """One element's value, plus what each iteration adds into it (offsets rising), then
    stored; at the ends (``edge``), each offset's iteration only where the loop makes it."""
    total, counter = names.total, names.counter
    out: list[ast.stmt] = [
        ast.Assign(
            targets=[_store(total)], value=access.at(array, _load(names.element), ast.Load())
        )
    ]
    for offset in sorted({c for c, _, _ in ordered}):
        added = [e for c, _, e in ordered if c == offset]
        wanted = set().union(*(_names(e) for e in added))
        # (the iteration's values these additions read, then the additions)
        step: list[ast.stmt] = [copy.deepcopy(s) for s in body.needed(wanted)]
        step += [
            ast.Assign(
                targets=[_store(total)],
                value=ast.BinOp(left=_load(total), op=ast.Add(), right=copy.deepcopy(e)),
            )
            for e in added
        ]
        out.append(
            ast.Assign(targets=[_store(counter)], value=_plus(_load(names.element), -offset))
        )
        if edge:
            within = ast.Compare(
                left=_load(names.low), ops=[ast.LtE(), ast.LtE()],
                comparators=[_load(counter), _load(names.high)],
            )  # fmt: skip
            out.append(ast.If(test=within, body=step, orelse=[]))
        else:
            out += step
    out.append(
        ast.Assign(
            targets=[access.at(array, _load(names.element), ast.Store())], value=_load(total)
        )
    )
    return out


def _summing(body: _Body, names: _Made) -> ast.For:
    """The loop adding into the sums what each iteration adds, in the loop's order (its
    counter falling), each iteration computing again the values it adds."""
    wanted = set().union(*(_names(stmt.value.right) for _, stmt in body.sums))
    steps = [copy.deepcopy(s) for s in body.needed(wanted)]
    steps += [copy.deepcopy(stmt) for _, stmt in body.sums]
    falling = ast.Call(
        func=_load("range"),
        args=[_load(names.high), _plus(_load(names.low), -1), ast.Constant(-1)],
        keywords=[],
    )
    return ast.For(target=_store(names.counter), iter=falling, body=steps, orelse=[])


class _Pops:
    """A loop body's pops of saved numbers, written as reads of the buffer they pop from.

    A replayed loop pops ``P`` numbers per iteration, each by three statements::

        jit_number_count -= 1
        if jit_number_count < 0:
            raise jit_OutOfStep(...)
        x = float(jit_numbers[jit_number_count])

    From ``c0``, the count where the loop starts, iteration ``i`` (counting down from
    ``next0 - 1``) pops its ``k``-th number at ``c0 - 1 - (next0 - 1 - i) * P - k``: at
    ``jit_base + i * P - k``, with ``jit_base = c0 - next0 * P + P - 1`` computed before
    the loop. Each pop becomes ``x = float(jit_numbers[jit_base + i * P - k])``, and the
    count is set after the loop (``c0 - count * P``; the test before the loop checks it is
    not negative, so no pop would have raised). A read of ``x`` before its pop in the
    body sees the previous iteration's pop, at ``jit_base + (i + 1) * P - k``; for the
    first iteration that is ``x`` as the loop found it, which is written there before the
    loop (a slot past the count, which nothing reads: the test checks the buffer has it).
    """

    def __init__(self, body, count: int, base: str, carried: list, stack: tuple) -> None:
        self.body, self.count, self.base, self.carried = body, count, base, carried
        self.numbers, self.counted = stack

    def tests(self, iterations: ast.expr) -> list[ast.expr]:
        """No pop underflows; the buffer has the slots written before the loop."""
        popped = copy.deepcopy(iterations)
        if self.count != 1:
            popped = ast.BinOp(popped, ast.Mult(), ast.Constant(self.count))
        tests: list[ast.expr] = [
            ast.Compare(
                ast.Constant(0), [ast.LtE()], [ast.BinOp(_load(self.counted), ast.Sub(), popped)]
            )
        ]
        if self.carried:
            tests.append(
                ast.Compare(
                    _plus(_load(self.counted), self.count),
                    [ast.LtE()],
                    [_shape(self.numbers, 0)],
                )
            )
        return tests

    def before(self, following: str) -> list[ast.stmt]:
        """``jit_base``, and the values a first iteration reads before its pops."""
        step: ast.expr = _load(following)
        if self.count != 1:
            step = ast.BinOp(step, ast.Mult(), ast.Constant(self.count))
        base = ast.BinOp(_load(self.counted), ast.Sub(), step)
        made: list[ast.stmt] = [
            ast.Assign(targets=[_store(self.base)], value=_plus(base, self.count - 1))
        ]
        for name, k in self.carried:
            slot = _plus(_load(self.counted), self.count - 1 - k)
            made.append(
                ast.Assign(
                    targets=[ast.Subscript(_load(self.numbers), slot, ast.Store())],
                    value=_load(name),
                )
            )
        return made

    def after(self, iterations: ast.expr) -> ast.stmt:
        """The count the pops leave."""
        popped = copy.deepcopy(iterations)
        if self.count != 1:
            popped = ast.BinOp(popped, ast.Mult(), ast.Constant(self.count))
        return ast.AugAssign(target=_store(self.counted), op=ast.Sub(), value=popped)

    @classmethod
    def of(cls, body: list[ast.stmt], counter: str, stack: tuple[str, str], fresh) -> _Pops | None:
        numbers, counted = stack
        base = fresh("jit_base") if any(counted in _names(s) for s in body) else ""
        out: list[ast.stmt] = []
        popped: list[tuple[str, str, int, int]] = []  # (name, conversion, k, place in out)
        j = 0
        while j < len(body):
            found = cls._pop_at(body, j, numbers, counted)
            if found is not None:
                name, conversion = found
                popped.append((name, conversion, len(popped), len(out)))
                out.append(ast.Assign(targets=[_store(name)], value=ast.Constant(None)))
                j += 3
                continue
            if {numbers, counted} & _names(body[j]):
                return None  # (the buffer or its count used some other way)
            out.append(copy.deepcopy(body[j]))  # (renamed below: the loop as it was stays)
            j += 1
        per = len(popped)
        carried = []
        first: list[ast.stmt] = []  # (the values read before their pops, read first)
        for name, conversion, k, place in popped:
            out[place].value = cls._read(numbers, base, counter, per, -k, conversion)
            earlier = [s for s in out[:place] if name in _names(s)]
            if earlier:
                previous = fresh(f"{name}_before")
                for stmt in earlier:
                    for node in ast.walk(stmt):
                        if isinstance(node, ast.Name) and node.id == name:
                            node.id = previous
                read = cls._read(numbers, base, counter, per, per - k, conversion)
                first.append(ast.Assign(targets=[_store(previous)], value=read))
                carried.append((name, k))
        out = first + out
        return cls(out, per, base, carried, stack) if base or not popped else None

    @staticmethod
    def _pop_at(body, j, numbers, counted) -> tuple[str, str] | None:
        """``(x, "float")`` where ``body[j:j + 3]`` pops a number into ``x``."""
        if j + 2 >= len(body):
            return None
        down, check, take = body[j : j + 3]
        if not (
            isinstance(down, ast.AugAssign)
            and isinstance(down.target, ast.Name)
            and down.target.id == counted
            and isinstance(down.op, ast.Sub)
            and isinstance(down.value, ast.Constant)
            and down.value.value == 1
            and isinstance(check, ast.If)
            and not check.orelse
            and len(check.body) == 1
            and isinstance(check.body[0], ast.Raise)
            and ast.dump(check.test)
            == ast.dump(ast.Compare(_load(counted), [ast.Lt()], [ast.Constant(0)]))
            and isinstance(take, ast.Assign)
            and len(take.targets) == 1
            and isinstance(take.targets[0], ast.Name)
            and isinstance(take.value, ast.Call)
            and isinstance(take.value.func, ast.Name)
            and take.value.func.id in ("float", "int")
            and len(take.value.args) == 1
            and not take.value.keywords
            and ast.dump(take.value.args[0])
            == ast.dump(ast.Subscript(_load(numbers), _load(counted), ast.Load()))
        ):
            return None
        return take.targets[0].id, take.value.func.id

    @staticmethod
    def _read(numbers, base, counter, per, extra, conversion) -> ast.expr:
        """``conversion(numbers[base + counter * per + extra])``."""
        step = (
            _load(counter) if per == 1 else ast.BinOp(_load(counter), ast.Mult(), ast.Constant(per))
        )
        index = _plus(ast.BinOp(left=_load(base), op=ast.Add(), right=step), extra)
        element = ast.Subscript(value=_load(numbers), slice=index, ctx=ast.Load())
        return ast.Call(func=_load(conversion), args=[element], keywords=[])

"""jit: elements of a gradient buffer kept in local variables across a loop.

A pair loop's backward pass adds into both particles' gradients on every iteration::

    for run in range(count):
        j = ...
        dpos[j, 0] = dpos[j, 0] + dpos_item
        dpos[i, 0] = dpos[i, 0] + ddx

``dpos[i, 0]`` is loaded and stored on every iteration although ``i`` does not change in
the loop: the compiler cannot keep it in a register, because the store to ``dpos[j, 0]``
may write the same element (where ``j == i``). This rewrite reads such an element into a
local before the loop, works on the local inside, and stores it back after the loop. The
other accesses of the array stay accesses of the array, except where they can reach the
kept element; those test at run time whether they do and then work on the local::

    if jit_mine_dpos and 0 <= i < dpos.shape[0] and 0 < dpos.shape[1]:
        jit_kept_1 = dpos[i, 0]
        jit_wrapped_2 = i - dpos.shape[0]
        for run in range(count):
            j = ...
            if j == i or j == jit_wrapped_2:
                jit_kept_1 = jit_kept_1 + dpos_item
            else:
                dpos[j, 0] = dpos[j, 0] + dpos_item
            jit_kept_1 = jit_kept_1 + ddx
        dpos[i, 0] = jit_kept_1
    else:
        <the loop as it was>

Why it computes what the loop computed, operation by operation (the same additions in
the same order on the same values, so the same bits):

- no other name reaches the array: the rewrite applies only to a gradient buffer whose
  flag (``jit_mine_d``, see ``transform.jit._plan_buffers``) says, at run time, that the
  array was made by this code and that no other name or container holds it (any
  statement reading the name as a whole clears the flag), and only to a loop whose body
  reads and writes the name by single elements alone (``d[a, b]``, an index per
  dimension, each an integer constant or arithmetic on names). Inside the loop nothing
  can then make another name hold the array, and a call cannot reach it either;
- no other element access reaches the kept element unseen: each other access either
  differs from it by two different non-negative constants at one index position (so
  it is another element), or tests at run time whether its indices are the kept
  element's. An index is compared as NumPy and Numba read it, negative indices counting
  from the end: ``p`` reaches the kept index ``a`` (known in ``[0, n)`` by the test
  before the loop) where ``p == a`` or ``p == a - n``. Indices out of bounds are left to
  the array as before;
- the kept element's indices are the same on every iteration: they read no name the
  loop binds (nor its target), and they are pure arithmetic. The elements kept in one
  loop differ pairwise by constants, so no two locals hold the same element;
- the element exists: the test before the loop checks its indices are in bounds, so
  the read before the loop and the store after it touch only that element (where the
  loop runs no iteration, the store writes back the value read). What the test reads
  (the array, its flag, the kept indices' names) is certainly bound before the loop (a
  parameter, a name an earlier statement of an enclosing block assigns, an enclosing
  loop's target), so it raises nothing the loop would not;
- the loop is left only through its end or a ``break`` (after which the store runs):
  only loops without ``else`` whose body is assignments, expressions, ``if`` blocks,
  raises, breaks and continues are rewritten (no nested loop, ``return``, ``with``), and
  none in a function with a ``try``. An exception raised inside the loop leaves the
  array without the local's additions, but the array is this call's own, and a compiled
  call that raises is run again uncompiled (``astgrad.jit``);
- the array holds float64 (gradient buffers do): a local that starts as its element
  and takes the values assigned to it rounds them as the stores did.

Where the test fails (the flag is clear, an index is out of bounds or negative), the
loop as it was runs.

A replayed range loop (``for run in range(count): next -= 1; j = next; ...``, see
``counted_down``) knows before it starts every value its counter takes: ``[next -
count, next)``. An access whose index at one position is the counter plus a constant
``c`` reaches a kept index ``a`` there only if ``a`` or ``a - n`` lies in ``[next - count
+ c, next + c)``; a second test before the loop checks that neither does for every such
access, and where it holds a third copy of the loop runs without their tests per
iteration (a pair loop's ``j`` in ``range(i + 1, n)`` never reaches ``i``)::

        if not next - count <= i < next and not next - count <= jit_wrapped_2 < next:
            for run in range(count):
                next -= 1
                j = next
                dpos[j, 0] = dpos[j, 0] + dpos_item
                jit_kept_1 = jit_kept_1 + ddx
        else:
            <the loop with its tests per iteration>
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "counted_down",
    "counter_offset",
    "keep_elements_in_locals",
    "rewrite_innermost_loops",
]


@dataclass
class _Kept:
    """An element kept in a local: its array, its indices and the local."""

    array: str
    parts: list[ast.expr]
    local: str


def keep_elements_in_locals(
    function: ast.FunctionDef, buffers: dict[str, tuple[str, int]], fresh: Callable[[str], str]
) -> None:
    """Rewrites ``function`` in place (see the module doc). ``buffers`` maps each float64
    gradient buffer's name to its flag's name and its number of dimensions; ``fresh``
    makes a name no one uses."""
    if buffers:
        rewrite_innermost_loops(function, lambda loop, bound: _version(loop, buffers, fresh, bound))


def rewrite_innermost_loops(
    function: ast.FunctionDef, version: Callable[[ast.For, set], ast.stmt | None]
) -> None:
    """Each innermost loop (``_innermost``) of ``function`` replaced by what ``version``
    makes of it, given the names certainly bound where it starts (None: left as it is);
    nothing in a function with a ``try``. The rewrites here test before a loop names its
    body reads (an array, its flag, indices) even where the loop runs no iteration, so
    those must be bound there: parameters, names assigned by earlier statements of the
    blocks around it, the targets of the loops around it."""
    if any(isinstance(n, ast.Try) for n in ast.walk(function)):
        return
    args = function.args
    params = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
    _rewrite_block(function.body, version, params)


def _rewrite_block(block: list[ast.stmt], version: Callable, bound: set) -> None:
    bound = set(bound)
    for position, stmt in enumerate(block):
        if isinstance(stmt, ast.For) and _innermost(stmt):
            # (a loop the gathering rewrite versioned is left as it is: see jit_gather)
            made = None if getattr(stmt, "jit_gathered", False) else version(stmt, bound)
            if made is not None:
                block[position] = made
            continue
        if isinstance(stmt, ast.For):
            _rewrite_block(stmt.body, version, bound | _stored(stmt.target))
            _rewrite_block(stmt.orelse, version, bound)
        elif isinstance(stmt, (ast.If, ast.While)):
            _rewrite_block(stmt.body, version, bound)
            _rewrite_block(stmt.orelse, version, bound)
        elif isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            bound |= _stored(stmt)


#: the statements a loop's body may be made of (``if`` blocks of them too)
_SIMPLE = (ast.Assign, ast.AugAssign, ast.Expr, ast.If, ast.Raise, ast.Pass, ast.Break,
           ast.Continue)  # fmt: skip


def _innermost(loop: ast.For) -> bool:
    """A loop without ``else``, whose body is assignments, expressions, ``if`` blocks,
    raises, breaks and continues only (no loop, return, try or ``with`` inside), and
    whose iterable binds nothing."""
    statements = [n for stmt in loop.body for n in ast.walk(stmt) if isinstance(n, ast.stmt)]
    return (
        not loop.orelse
        and all(isinstance(s, _SIMPLE) for s in statements)
        and not any(
            isinstance(n, (ast.NamedExpr, ast.Lambda))
            for tree in [loop.iter, loop.target, *loop.body]
            for n in ast.walk(tree)
        )
    )


def _stored(tree: ast.AST) -> set[str]:
    return {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }


def _parts(subscript: ast.Subscript, ndim: int) -> list[ast.expr] | None:
    """The index expressions of an element access with ``ndim`` indices, or None."""
    index = subscript.slice
    parts = index.elts if isinstance(index, ast.Tuple) else [index]
    if ndim > 1 and not isinstance(index, ast.Tuple):
        return None
    if len(parts) != ndim or not all(_pure_index(p) for p in parts):
        return None
    return list(parts)


def _pure_index(node: ast.expr) -> bool:
    """An integer constant, a name, or ``+``, ``-``, ``*`` of them: no calls, no
    attribute or element reads (which could read the array), nothing that binds."""
    if isinstance(node, ast.Constant):
        return type(node.value) is int
    if isinstance(node, ast.Name):
        return True
    if isinstance(node, ast.BinOp):
        return isinstance(node.op, (ast.Add, ast.Sub, ast.Mult)) and (
            _pure_index(node.left) and _pure_index(node.right)
        )
    if isinstance(node, ast.UnaryOp):
        return isinstance(node.op, (ast.USub, ast.UAdd)) and _pure_index(node.operand)
    return False


def _constant(node: ast.expr) -> int | None:
    """A non-negative integer constant's value, else None."""
    if isinstance(node, ast.Constant) and type(node.value) is int and node.value >= 0:
        return node.value
    return None


def _disjoint(a: list[ast.expr], b: list[ast.expr]) -> bool:
    """Whether two element accesses of one array are certainly different elements: two
    different non-negative constants at one position."""
    for p, q in zip(a, b, strict=True):
        cp, cq = _constant(p), _constant(q)
        if cp is not None and cq is not None and cp != cq:
            return True
    return False


def _same(a: list[ast.expr], b: list[ast.expr]) -> bool:
    return all(ast.dump(p) == ast.dump(q) for p, q in zip(a, b, strict=True))


def _accesses(loop: ast.For, array: str, ndim: int) -> list[ast.Subscript] | None:
    """Every access of ``array`` in the loop's body, each an element read or the single
    target of an assignment; None where the body uses the name any other way."""
    allowed: dict[int, ast.Subscript] = {}
    targets: set[int] = set()  # (subscripts that are the one target of an assignment)
    for stmt in loop.body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                targets.add(id(node.targets[0]))
            if isinstance(node, ast.Subscript) and _is_name(node.value, array):
                if _parts(node, ndim) is None:
                    return None
                allowed[id(node.value)] = node
    for stmt in loop.body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and node.id == array and id(node) not in allowed:
                return None  # (the whole array read, or the name bound)
            if isinstance(node, ast.Subscript) and id(node.value) in allowed:
                if isinstance(node.ctx, ast.Store) and id(node) not in targets:
                    return None  # (a tuple target, an augmented assignment)
                if not isinstance(node.ctx, (ast.Load, ast.Store)):
                    return None  # (a del)
    if _reads(loop.target, array) or _reads(loop.iter, array):
        return None
    return list(allowed.values())


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _reads(tree: ast.AST, name: str) -> bool:
    return any(_is_name(n, name) for n in ast.walk(tree))


def counted_down(loop: ast.For, bound: set) -> tuple[str, str, ast.expr] | None:
    """``(next, i, count)`` of a loop ``for run in range(count): next -= 1; i = next;
    ...`` (the replayed form of a range loop with step 1, ``transform.jit``'s
    ``_replayed_counter``) whose body binds neither name again nor any name ``count``
    reads, and whose ``next`` and ``count`` are certainly bound before it (``bound``),
    else None. Iteration ``t`` (from 0) then has ``i = next0 - 1 - t`` after its second
    statement, ``next0`` being ``next`` before the loop: ``i`` stays in ``[next0 - count,
    next0)``."""
    body = loop.body
    if not (
        isinstance(loop.target, ast.Name)
        and isinstance(loop.iter, ast.Call)
        and isinstance(loop.iter.func, ast.Name)
        and loop.iter.func.id == "range"
        and len(loop.iter.args) == 1
        and not loop.iter.keywords
        and len(body) >= 3
    ):
        return None
    count = loop.iter.args[0]
    down, take = body[0], body[1]
    if not (
        isinstance(down, ast.AugAssign)
        and isinstance(down.target, ast.Name)
        and isinstance(down.op, ast.Sub)
        and isinstance(down.value, ast.Constant)
        and type(down.value.value) is int
        and down.value.value == 1
        and isinstance(take, ast.Assign)
        and len(take.targets) == 1
        and isinstance(take.targets[0], ast.Name)
        and isinstance(take.value, ast.Name)
        and take.value.id == down.target.id
    ):
        return None
    following, counter = down.target.id, take.targets[0].id
    count_reads = {n.id for n in ast.walk(count) if isinstance(n, ast.Name)}
    if not _pure_index(count) or not count_reads <= bound or following not in bound:
        return None
    rest = {n for stmt in body[2:] for n in _stored(stmt)} | _stored(loop.target)
    if rest & {following, counter, *count_reads} or following == counter:
        return None
    return following, counter, count


def counter_offset(index: ast.expr, counter: str) -> int | None:
    """``c`` where ``index`` is ``counter``, ``counter + c`` or ``counter - c``."""
    if isinstance(index, ast.Name) and index.id == counter:
        return 0
    if (
        isinstance(index, ast.BinOp)
        and isinstance(index.op, (ast.Add, ast.Sub))
        and isinstance(index.left, ast.Name)
        and index.left.id == counter
        and isinstance(index.right, ast.Constant)
        and type(index.right.value) is int
    ):
        return index.right.value if isinstance(index.op, ast.Add) else -index.right.value
    return None


def _plan(loop: ast.For, array: str, flag: str, ndim: int, fresh, before: set) -> list[_Kept]:
    """The elements of ``array`` to keep in locals across ``loop``: those the body
    writes whose indices the loop does not change and read only names certainly bound
    ``before`` the loop, pairwise different by constants."""
    accesses = _accesses(loop, array, ndim)
    if not accesses:
        return []
    bound = _stored(loop.target) | {n for stmt in loop.body for n in _stored(stmt)}
    if flag in bound:
        return []
    kept: list[_Kept] = []
    for access in accesses:
        if not isinstance(access.ctx, ast.Store):
            continue
        parts = _parts(access, ndim)
        if any(_reads(p, name) for p in parts for name in bound):
            continue
        if not all(n.id in before for p in parts for n in ast.walk(p) if isinstance(n, ast.Name)):
            continue
        if any(_same(parts, k.parts) for k in kept):
            continue
        if all(_disjoint(parts, k.parts) for k in kept):
            kept.append(_Kept(array, parts, fresh("jit_kept")))
    return kept


def _condition(access: list[ast.expr], kept: _Kept, wrapped: Callable) -> ast.expr | None:
    """A test that is true exactly where ``access`` reaches ``kept``'s element (whose
    indices are in bounds and not negative, by the test before the loop), or None where
    it never does. Positions with the same index expression (which the loop does not
    change) need no test."""
    tests: list[ast.expr] = []
    for position, (p, a) in enumerate(zip(access, kept.parts, strict=True)):
        if ast.dump(p) == ast.dump(a):
            continue
        cp, ca = _constant(p), _constant(a)
        if cp is not None and ca is not None:
            if cp != ca:
                return None
            continue
        if cp is not None:
            # (a non-negative constant reaches the element only at its own index)
            tests.append(_compare(copy.deepcopy(a), p))
            continue
        # p may be negative: it reaches index a from the end at a - n
        tests.append(
            ast.BoolOp(
                op=ast.Or(),
                values=[
                    _compare(copy.deepcopy(p), copy.deepcopy(a)),
                    _compare(copy.deepcopy(p), _load(wrapped(kept, position))),
                ],
            )
        )
    if not tests:
        return ast.Constant(True)
    return tests[0] if len(tests) == 1 else ast.BoolOp(op=ast.And(), values=tests)


def _compare(left: ast.expr, right: ast.expr) -> ast.expr:
    return ast.Compare(left=left, ops=[ast.Eq()], comparators=[right])


def _load(name: str) -> ast.Name:
    return ast.Name(id=name, ctx=ast.Load())


def _store(name: str) -> ast.Name:
    return ast.Name(id=name, ctx=ast.Store())


def _shape(array: str, position: int) -> ast.expr:
    shape = ast.Attribute(value=_load(array), attr="shape", ctx=ast.Load())
    return ast.Subscript(value=shape, slice=ast.Constant(position), ctx=ast.Load())


class _Reads(ast.NodeTransformer):
    """Element reads of the kept arrays: the local where the access is a kept element,
    else the array behind run-time tests for the kept elements it may reach.
    ``known`` maps the dump of one access's indices to what it is known to read (inside
    a branch that has tested it)."""

    def __init__(self, planner: _Planner, known: dict[tuple[str, str], ast.expr]) -> None:
        self.planner = planner
        self.known = known

    def visit_Subscript(self, node: ast.Subscript) -> ast.expr:
        self.generic_visit(node)
        if not (
            isinstance(node.ctx, ast.Load)
            and isinstance(node.value, ast.Name)
            and node.value.id in self.planner.kept
        ):
            return node
        array = node.value.id
        parts = _parts(node, self.planner.ndims[array])
        key = (array, ast.dump(ast.Tuple(elts=parts, ctx=ast.Load())))
        if key in self.known:
            return copy.deepcopy(self.known[key])
        read: ast.expr = node
        for kept, test in reversed(self.planner.guards(array, parts)):
            if isinstance(test, ast.Constant):
                return _load(kept.local)
            read = ast.IfExp(test=test, body=_load(kept.local), orelse=read)
        return read


class _Planner:
    def __init__(self, kept: dict[str, list[_Kept]], ndims: dict[str, int], fresh) -> None:
        self.kept = kept
        self.ndims = ndims
        self.fresh = fresh
        #: (array, position, index) -> the name holding that index minus the length of
        #: the array's dimension there: a negative index reaches the element there
        self.wrapped: dict[tuple[str, int, str], tuple[str, ast.expr]] = {}
        #: ``(next, i, count)`` of a counted-down loop (``counted_down``) whose accesses at
        #: ``i + c`` are tested before the loop, not on each iteration; else None
        self.counting: tuple[str, str, ast.expr] | None = None
        #: those tests, each true where ``i + c`` never reaches the kept index there
        self.outside: dict[str, ast.expr] = {}

    def _outside(self, parts: list[ast.expr], kept: _Kept) -> bool:
        """Whether, in a counted-down loop, one position of the access is the counter
        plus a constant and a test before the loop can show it never reaches the kept
        index there (which it then adds to ``outside``)."""
        if self.counting is None:
            return False
        following, counter, count = self.counting
        for position, (p, a) in enumerate(zip(parts, kept.parts, strict=True)):
            offset = counter_offset(p, counter)
            if offset is None or ast.dump(p) == ast.dump(a):
                continue
            # i + c takes the values [next0 - count + c, next0 + c); the kept index a
            # (in [0, n) by the test before) is reached there as a, or from the end as
            # a - n (a negative index)
            low = ast.BinOp(left=_load(following), op=ast.Sub(), right=copy.deepcopy(count))
            if offset:
                low = ast.BinOp(left=low, op=ast.Add(), right=ast.Constant(offset))
            high: ast.expr = _load(following)
            if offset:
                high = ast.BinOp(left=high, op=ast.Add(), right=ast.Constant(offset))
            tests = [
                ast.UnaryOp(
                    op=ast.Not(),
                    operand=ast.Compare(
                        left=low if k == 0 else copy.deepcopy(low),
                        ops=[ast.LtE(), ast.Lt()],
                        comparators=[index, copy.deepcopy(high)],
                    ),
                )  # fmt: skip
                for k, index in enumerate(
                    [copy.deepcopy(a), _load(self.wrapped_name(kept, position))]
                )
            ]
            self.outside.setdefault(ast.dump(ast.Tuple(elts=tests, ctx=ast.Load())), tests)
            return True
        return False

    def wrapped_name(self, kept: _Kept, position: int) -> str:
        key = (kept.array, position, ast.dump(kept.parts[position]))
        if key not in self.wrapped:
            self.wrapped[key] = (self.fresh("jit_wrapped"), kept.parts[position])
        return self.wrapped[key][0]

    def guards(self, array: str, parts: list[ast.expr]) -> list[tuple[_Kept, ast.expr]]:
        """The kept elements an access may reach, each with its test (a constant True
        where it is that element)."""
        found = []
        for kept in self.kept[array]:
            if _disjoint(parts, kept.parts) or self._outside(parts, kept):
                continue
            test = _condition(parts, kept, self.wrapped_name)
            if test is not None:
                found.append((kept, test))
        return found

    def statement(self, stmt: ast.stmt) -> ast.stmt:
        target = stmt.targets[0] if isinstance(stmt, ast.Assign) else None
        if not (
            isinstance(target, ast.Subscript)
            and isinstance(target.value, ast.Name)
            and target.value.id in self.kept
        ):
            return _Reads(self, {}).visit(stmt)
        array = target.value.id
        parts = _parts(target, self.ndims[array])
        key = (array, ast.dump(ast.Tuple(elts=parts, ctx=ast.Load())))
        # The value first (it reads what it reads before the store), in each branch as
        # that branch knows the target: the kept local where the test holds, else the
        # array's element (which then is no kept element).
        made: ast.stmt = ast.Assign(
            targets=[target],
            value=_Reads(self, {key: copy.deepcopy(target_load(target))}).visit(
                copy.deepcopy(stmt.value)
            ),
        )
        for kept, test in reversed(self.guards(array, parts)):
            value = _Reads(self, {key: _load(kept.local)}).visit(copy.deepcopy(stmt.value))
            assign = ast.Assign(targets=[_store(kept.local)], value=value)
            if isinstance(test, ast.Constant):
                made = assign
                continue
            made = ast.If(test=test, body=[assign], orelse=[made])
        return made


def target_load(target: ast.Subscript) -> ast.Subscript:
    return ast.Subscript(value=target.value, slice=target.slice, ctx=ast.Load())


def _version(loop: ast.For, buffers: dict, fresh: Callable, bound: set) -> ast.stmt | None:
    """The loop in two versions, behind the test that allows keeping elements (see the
    module doc), or None where no element would be kept."""
    kept: dict[str, list[_Kept]] = {}
    for array, (flag, ndim) in sorted(buffers.items()):
        if array not in bound or flag not in bound:
            continue
        found = _plan(loop, array, flag, ndim, fresh, bound)
        if found:
            kept[array] = found
    if not kept:
        return None
    original = copy.deepcopy(loop)
    planner = _Planner(kept, {a: buffers[a][1] for a in kept}, fresh)
    counting = counted_down(loop, bound)
    unguarded = None
    if counting is not None:
        # A counted-down loop whose accesses at its counter plus constants never reach a
        # kept element, by a test before it, runs without their tests per iteration.
        planner.counting = counting
        unguarded = [_rewrite_statement(stmt, planner) for stmt in copy.deepcopy(loop.body)]
        planner.counting = None
    body = [_rewrite_statement(stmt, planner) for stmt in loop.body]
    tests: list[ast.expr] = []
    before: list[ast.stmt] = []
    after: list[ast.stmt] = []
    for array, elements in kept.items():
        tests.append(_load(buffers[array][0]))
        for element in elements:
            for position, part in enumerate(element.parts):
                if _constant(part) is not None:
                    tests.append(
                        ast.Compare(left=copy.deepcopy(part), ops=[ast.Lt()],
                                    comparators=[_shape(array, position)])
                    )  # fmt: skip
                else:
                    tests.append(
                        ast.Compare(
                            left=ast.Constant(0),
                            ops=[ast.LtE(), ast.Lt()],
                            comparators=[copy.deepcopy(part), _shape(array, position)],
                        )
                    )
            index = ast.Tuple(elts=copy.deepcopy(element.parts), ctx=ast.Load())
            if len(element.parts) == 1:
                index = index.elts[0]
            read = ast.Subscript(value=_load(array), slice=index, ctx=ast.Load())
            before.append(ast.Assign(targets=[_store(element.local)], value=read))
            write = ast.Subscript(value=_load(array), slice=copy.deepcopy(index), ctx=ast.Store())
            after.append(ast.Assign(targets=[write], value=_load(element.local)))
    for (array, position, _), (wrapped, part) in planner.wrapped.items():
        value = ast.BinOp(left=copy.deepcopy(part), op=ast.Sub(), right=_shape(array, position))
        before.append(ast.Assign(targets=[_store(wrapped)], value=value))
    loop.body = body
    running: ast.stmt = loop
    if planner.outside:
        faster = copy.deepcopy(loop)
        faster.body = unguarded
        outside = [test for tests in planner.outside.values() for test in tests]
        running = ast.If(test=ast.BoolOp(op=ast.And(), values=outside), body=[faster],
                         orelse=[loop])  # fmt: skip
    unique = {ast.dump(t): t for t in tests}  # (the same index tested once)
    test = ast.BoolOp(op=ast.And(), values=list(unique.values()))
    made = ast.If(test=test, body=[*before, running, *after], orelse=[original])
    for node in ast.walk(made):
        if isinstance(node, (ast.stmt, ast.expr)) and not hasattr(node, "lineno"):
            ast.copy_location(node, loop)
    return made


def _rewrite_statement(stmt: ast.stmt, planner: _Planner) -> ast.stmt:
    """A statement of the loop's body with its accesses of the kept arrays rewritten;
    an ``if`` keeps its shape, its test and blocks rewritten."""
    if isinstance(stmt, ast.If):
        stmt.test = _Reads(planner, {}).visit(stmt.test)
        stmt.body = [_rewrite_statement(s, planner) for s in stmt.body]
        stmt.orelse = [_rewrite_statement(s, planner) for s in stmt.orelse]
        return stmt
    return planner.statement(stmt)

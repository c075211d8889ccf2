"""jit: element reads a loop repeats unchanged, read once before it.

A pair loop reads ``pos[i, 0]`` on every iteration of its inner loop, where ``i`` does
not change::

    for j in range(i + 1, n):
        dx = pos[i, 0] - pos[j, 0]
        ...
        jit_numbers[jit_number_count] = inv6      # (a value saved for the backward pass)

The compiler reads it again each time, since the store into the buffer of saved values
might change it: it cannot tell the arrays apart. This rewrite reads such an element
into a local before the loop::

    if i + 1 < n:
        jit_read_1 = pos[i, 0]
        for j in range(i + 1, n):
            dx = jit_read_1 - pos[j, 0]
            ...

Why it reads what the loop read (so the same bits):

- the element is the same on every iteration: its indices read no name the loop binds
  (nor its target), and are pure arithmetic;
- nothing in the loop can change it: the loop stores only into arrays no other name
  reaches, the buffers of saved values (made by this code, held by no other name), and
  gradient buffers whose flag (``transform.jit_locals``: the array made here and held
  by no other name or container) is known set where the loop starts, because a test
  around it checks it and nothing between binds it; the read array is none of those,
  and the loop binds it nowhere. Calls in the loop only compute values (NumPy ufuncs,
  the helpers ``pure`` names, ``float``, ``int``, ``len``, ``range``);
- it is read where the loop would have read it: the read is in a statement of the body
  that comes before any ``if``, ``raise`` or other compound statement (every iteration
  reaches it), and the read before the loop happens only where the loop makes an
  iteration (the test ``start < stop`` or ``count > 0`` around both: a loop making
  none does nothing).
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable

from .jit_locals import _pure_index, _stored

__all__ = ["hoist_invariant_reads"]

#: builtins a loop may call: they only compute a value
_PURE_BUILTINS = frozenset({"float", "int", "len", "range", "abs"})


def hoist_invariant_reads(
    function: ast.FunctionDef,
    private: set[str],
    buffers: dict[str, tuple[str, int]],
    pure: Callable[[ast.Call], bool],
    numbers: set[str],
    fresh: Callable[[str], str],
) -> None:
    """Rewrites ``function`` in place (see the module doc). ``private`` names arrays no
    other name reaches (the buffers of saved values); ``buffers`` maps gradient buffers
    to their flags and numbers of dimensions; ``pure`` says whether a call only computes
    a value; ``numbers`` names what holds numbers (which ``+=`` changes in no array);
    ``fresh`` makes a name no one uses."""
    flags = {flag: array for array, (flag, _) in buffers.items()}
    _block(function.body, set(), private, flags, pure, numbers, fresh)


def _set_flags(test: ast.expr, flags: dict[str, str]) -> set[str]:
    """The flags ``test`` requires set: bare names among the ``and`` of its parts."""
    parts = test.values if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And) else [test]
    return {p.id for p in parts if isinstance(p, ast.Name) and p.id in flags}


def _block(block: list[ast.stmt], known: set[str], private, flags, pure, numbers, fresh) -> None:
    """Rewrites the loops of ``block``, where the flags ``known`` are set at its start."""
    known = set(known)
    for position, stmt in enumerate(block):
        if isinstance(stmt, ast.For):
            inside = known - _stored(stmt)  # (flags the loop clears hold on no later round)
            if not _has_loop(stmt.body):
                made = _hoisted(stmt, inside, private, flags, pure, numbers, fresh)
                if made is not None:
                    block[position] = made
            else:
                _block(stmt.body, inside, private, flags, pure, numbers, fresh)
            _block(stmt.orelse, set(), private, flags, pure, numbers, fresh)
        elif isinstance(stmt, ast.While):
            _block(stmt.body, known - _stored(stmt), private, flags, pure, numbers, fresh)
            _block(stmt.orelse, set(), private, flags, pure, numbers, fresh)
        elif isinstance(stmt, ast.If):
            _block(
                stmt.body,
                known | _set_flags(stmt.test, flags),
                private,
                flags,
                pure,
                numbers,
                fresh,
            )
            _block(stmt.orelse, known, private, flags, pure, numbers, fresh)
        stored = _stored(stmt)  # (a flag rebound, or its buffer's name: unknown after)
        known -= stored | {flag for flag in known if flags[flag] in stored}


def _replayed_counter(loop: ast.For) -> set[str]:
    """``{next}`` of a replayed loop's ``next -= 1; i = next`` (its counter, a number),
    else nothing."""
    body = loop.body
    if len(body) >= 2 and isinstance(body[0], ast.AugAssign) and isinstance(body[1], ast.Assign):
        down, take = body[0], body[1]
        if (
            isinstance(down.target, ast.Name)
            and isinstance(down.op, ast.Sub)
            and isinstance(down.value, ast.Constant)
            and type(down.value.value) is int
            and isinstance(take.value, ast.Name)
            and take.value.id == down.target.id
            and isinstance(loop.iter, ast.Call)
            and isinstance(loop.iter.func, ast.Name)
            and loop.iter.func.id == "range"
        ):
            return {down.target.id}
    return set()


def _nodes_outside_raises(body: list[ast.stmt]) -> list[ast.AST]:
    """The nodes of ``body``, less what ``raise`` statements hold (an exception made on
    the way out of the loop reads or changes nothing the loop goes on with)."""
    found, todo = [], list(body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Raise):
            continue
        found.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return found


def _has_loop(body: list[ast.stmt]) -> bool:
    return any(isinstance(n, (ast.For, ast.While)) for s in body for n in ast.walk(s))


def _runs(loop: ast.For) -> ast.expr | None:
    """A test that holds where ``loop`` makes an iteration (``range`` loops only)."""
    call = loop.iter
    if not (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Name)
        and call.func.id == "range"
        and not call.keywords
        and 1 <= len(call.args) <= 2
        and all(_pure_index(a) for a in call.args)
    ):
        return None
    start, stop = (ast.Constant(0), call.args[0]) if len(call.args) == 1 else call.args
    return ast.Compare(left=copy.deepcopy(start), ops=[ast.Lt()], comparators=[copy.deepcopy(stop)])


def _hoisted(loop: ast.For, known, private, flags, pure, numbers, fresh) -> ast.stmt | None:
    if loop.orelse or not isinstance(loop.target, ast.Name):
        return None
    runs = _runs(loop)
    if runs is None:
        return None
    bound = _stored(loop)
    numbers = numbers | _replayed_counter(loop)
    # Every store into an array: into a private one, or a buffer whose flag is set.
    safe = set(private) | {flags[f] for f in known}
    written = set()
    for node in _nodes_outside_raises(loop.body):
        if isinstance(node, ast.Subscript) and not isinstance(node.ctx, ast.Load):
            if not isinstance(node.value, ast.Name) or node.value.id not in safe:
                return None
            written.add(node.value.id)
        elif isinstance(node, ast.Call):
            func = node.func
            if not ((isinstance(func, ast.Name) and func.id in _PURE_BUILTINS) or pure(node)):
                return None
        elif isinstance(node, ast.AugAssign):
            # (``count += 1`` on a number; on an array it would change it in place)
            if not (isinstance(node.target, ast.Name) and node.target.id in numbers):
                return None
        elif isinstance(node, (ast.Delete, ast.NamedExpr, ast.Lambda)):
            return None
        elif isinstance(node, ast.Attribute) and not isinstance(node.ctx, ast.Load):
            return None  # (``x.shape = ...`` would change what an index reaches)
    # The reads every iteration makes, before any branch: invariant elements of arrays
    # the loop does not write.
    reads: dict[str, tuple[ast.Subscript, str]] = {}
    for stmt in loop.body:
        if not isinstance(stmt, (ast.Assign, ast.AugAssign, ast.Expr)):
            break
        for node in ast.walk(stmt):
            if not (
                isinstance(node, ast.Subscript)
                and isinstance(node.ctx, ast.Load)
                and isinstance(node.value, ast.Name)
            ):
                continue
            array = node.value.id
            if array in written or array in bound or array in safe:
                continue
            index = node.slice
            parts = index.elts if isinstance(index, ast.Tuple) else [index]
            if not all(_pure_index(p) for p in parts):
                continue
            if any(isinstance(n, ast.Name) and n.id in bound for p in parts for n in ast.walk(p)):
                continue
            key = ast.dump(node)
            if key not in reads:
                reads[key] = (node, fresh("jit_read"))
    if not reads:
        return None
    replace = _Replace({key: local for key, (_, local) in reads.items()})
    loop.body = [replace.visit(stmt) for stmt in loop.body]
    before = [
        ast.Assign(targets=[ast.Name(id=local, ctx=ast.Store())], value=copy.deepcopy(node))
        for node, local in reads.values()
    ]
    made = ast.If(test=runs, body=[*before, loop], orelse=[])
    for node in ast.walk(made):
        if isinstance(node, (ast.stmt, ast.expr)) and not hasattr(node, "lineno"):
            ast.copy_location(node, loop)
    return made


class _Replace(ast.NodeTransformer):
    def __init__(self, locals_by_read: dict[str, str]) -> None:
        self.locals_by_read = locals_by_read

    def visit_Subscript(self, node: ast.Subscript) -> ast.expr:
        local = self.locals_by_read.get(ast.dump(node)) if isinstance(node.ctx, ast.Load) else None
        if local is not None:
            return ast.Name(id=local, ctx=ast.Load())
        self.generic_visit(node)
        return node


# -- the buffer's room for a loop's saved numbers, checked once ----------------------------


def hoist_capacity_checks(function: ast.FunctionDef, numbers: str, counted: str) -> None:
    """Each innermost range loop whose body saves a fixed number of numbers per iteration
    (``P`` pushes at its top level, each ``if count == numbers.shape[0]: raise ...``, the
    store and ``count += 1``; the count used nowhere else in it) checks the room for all
    of them once, before the loop, and its pushes store without a check::

        if jit_number_count + 2 * len(range(1, n)) > jit_numbers.shape[0]:
            raise jit_StackFull()
        for i in range(1, n):
            ...
            jit_numbers[jit_number_count] = saved_9
            jit_number_count += 1

    A check per push kept the compiler from vectorizing the loop. Where the buffer is too
    small, the call stops before the loop instead of at the push that finds it full: the
    same ``StackFull``, after which the call runs again with larger buffers. (A loop left
    early, by a ``break``, would have needed less room: it may then run again for
    nothing, with the same result.)"""
    _capacity_block(function.body, numbers, counted)


def _capacity_block(block: list[ast.stmt], numbers: str, counted: str) -> None:
    position = 0
    while position < len(block):
        stmt = block[position]
        if isinstance(stmt, ast.For) and not _has_loop(stmt.body):
            check = _room_for(stmt, numbers, counted)
            if check is not None:
                block.insert(position, check)
                position += 1
        elif isinstance(stmt, (ast.For, ast.While, ast.If)):
            _capacity_block(stmt.body, numbers, counted)
            _capacity_block(stmt.orelse, numbers, counted)
        position += 1


def _is_push_check(stmt: ast.stmt, numbers: str, counted: str) -> bool:
    full = ast.Compare(
        left=ast.Name(id=counted, ctx=ast.Load()),
        ops=[ast.Eq()],
        comparators=[
            ast.Subscript(
                value=ast.Attribute(
                    value=ast.Name(id=numbers, ctx=ast.Load()), attr="shape", ctx=ast.Load()
                ),
                slice=ast.Constant(0),
                ctx=ast.Load(),
            )
        ],
    )
    return (
        isinstance(stmt, ast.If)
        and not stmt.orelse
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], ast.Raise)
        and ast.dump(stmt.test) == ast.dump(full)
    )


def _room_for(loop: ast.For, numbers: str, counted: str) -> ast.stmt | None:
    """The check before ``loop`` of the room its pushes need (removing theirs), or None."""
    runs = _runs(loop)
    if runs is None or loop.orelse:
        return None
    body = loop.body
    checks = []
    for place, stmt in enumerate(body):
        if not _is_push_check(stmt, numbers, counted):
            continue
        store, step = body[place + 1 : place + 3] if place + 2 < len(body) else (None, None)
        if not (
            isinstance(store, ast.Assign)
            and len(store.targets) == 1
            and ast.dump(store.targets[0])
            == ast.dump(
                ast.Subscript(
                    value=ast.Name(id=numbers, ctx=ast.Load()),
                    slice=ast.Name(id=counted, ctx=ast.Load()),
                    ctx=ast.Store(),
                )
            )
            and isinstance(step, ast.AugAssign)
            and isinstance(step.target, ast.Name)
            and step.target.id == counted
            and isinstance(step.op, ast.Add)
            and isinstance(step.value, ast.Constant)
            and step.value.value == 1
        ):
            return None
        checks.append(stmt)
    if not checks:
        return None
    # The count is read by the checks (twice each: the test, the store's index) and the
    # steps, and nowhere else; nor is the buffer.
    uses = sum(1 for s in body for n in ast.walk(s) if isinstance(n, ast.Name) and n.id == counted)
    if uses != 3 * len(checks) or any(
        isinstance(n, ast.Name) and n.id == numbers
        for s in body
        if not isinstance(s, (ast.If, ast.Assign))
        for n in ast.walk(s)
    ):
        return None
    if any(
        isinstance(n, ast.Name) and n.id == numbers
        for s in body
        if isinstance(s, ast.Assign)
        for n in ast.walk(s.value)
    ):
        return None  # (a store of a value read from the buffer itself)
    loop.body = [s for s in body if not any(s is c for c in checks)]
    per = ast.Constant(len(checks))
    iterations = ast.Call(
        func=ast.Name(id="len", ctx=ast.Load()), args=[copy.deepcopy(loop.iter)], keywords=[]
    )
    needed = iterations if len(checks) == 1 else ast.BinOp(per, ast.Mult(), iterations)
    test = ast.Compare(
        left=ast.BinOp(ast.Name(id=counted, ctx=ast.Load()), ast.Add(), needed),
        ops=[ast.Gt()],
        comparators=[copy.deepcopy(checks[0].test.comparators[0])],
    )
    made = ast.If(test=test, body=[copy.deepcopy(checks[0].body[0])], orelse=[])
    for node in ast.walk(made):
        if isinstance(node, (ast.stmt, ast.expr)) and not hasattr(node, "lineno"):
            ast.copy_location(node, loop)
    return made

"""jit: cheap values a loop saves recomputed by its replayed loop instead.

Generated code saves a value a loop's body overwrites (``push(dx)`` before ``dx = pos[i,
0] - pos[j, 0]``) and the replayed loop pops it back after the adjoint of that statement,
so that each backward iteration sees the values its forward iteration computed. Where the
value is cheap to compute again from what the backward iteration already has (the loops'
counters, which the replayed loops restore first thing, numbers and arrays that nothing
changes, and values computed earlier in the same iteration), compiled code is faster when
the replayed loop computes it again at its top than when both loops move it through the
buffers of saved values: a store and a load, a check of each, and a loop the compiler
cannot keep in registers.

The rewrite is exact: the statement computed again is the forward statement itself, on
the same operands, so it gives the same bits. It applies to a statement ``X = e`` of a
range loop's body (at its top level, after ``push(X)``) whose value the probe saw popped
back by one pop at the top level of the replayed loop's body, and only where all of these
hold (:func:`recompute_in_replays`):

- the forward body binds ``X`` only there and the replayed body only by that pop, and the
  replayed body reads ``X`` nowhere after the pop (it would want the previous iteration's
  value, which the pop gave it);
- nothing reads or binds ``X`` after the replayed loop, nor in a loop around it (after
  the last replayed iteration ``X`` holds the first iteration's value, not what it held
  before the loop);
- ``e`` is made of ``+``, ``-``, ``*``, numbers, names and element reads (a division or a
  call costs more than the save), and every name it reads is: the loop's counter or an
  enclosing range loop's (restored at the top of its replayed loop, which binds it
  nowhere else), a name recomputed before it, a name of the same body saved and restored
  the same way and bound before ``e`` is, or a name nothing in the function binds (a
  parameter) or that one top-level statement before the loops binds, and which no
  statement can change in place: it is read only as an operand, for its shape, through
  an element read whose value is a number, or by the helpers that read it for its shape;
- the loop has no ``break``, ``continue``, ``return`` or ``try``.
"""

from __future__ import annotations

import ast
import copy
from typing import Any

__all__ = ["recompute_in_replays"]

#: operators cheaper to recompute than to save and restore
_CHEAP_OPS = (ast.Add, ast.Sub, ast.Mult)
#: attributes of an array that read no element (and give no view of it)
_SHAPE_ATTRIBUTES = {"shape", "ndim", "size", "dtype"}


def recompute_in_replays(
    node: ast.FunctionDef, pushes: set[str], pops: set[str], names: Any, probed: Any
) -> None:
    """Rewrites the fused function ``node`` in place (see the module doc)."""
    popped_at = probed.popped_at.get(node.name, {})
    pushed_at = probed.pushed_at.get(node.name, {})
    if not popped_at:
        return
    _Recompute(node, pushes, pops, names, probed, popped_at, pushed_at).run()


def _site(node: ast.AST) -> str:
    return f"{node.lineno}:{node.col_offset}"


def _is_call(node: ast.AST, names: set[str], arity: int) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in names
        and len(node.args) == arity
        and not node.keywords
    )


def _stores(tree: ast.AST | list, name: str) -> list[ast.Name]:
    trees = tree if isinstance(tree, list) else [tree]
    return [
        sub
        for t in trees
        for sub in ast.walk(t)
        if isinstance(sub, ast.Name) and sub.id == name and not isinstance(sub.ctx, ast.Load)
    ]


def _mentions(trees: list, name: str) -> bool:
    return any(isinstance(sub, ast.Name) and sub.id == name for t in trees for sub in ast.walk(t))


def _reads(trees: list, name: str) -> bool:
    return any(
        isinstance(sub, ast.Name) and sub.id == name and isinstance(sub.ctx, ast.Load)
        for t in trees
        for sub in ast.walk(t)
    )


class _Recompute:
    def __init__(self, node, pushes, pops, names, probed, popped_at, pushed_at) -> None:
        self.node = node
        self.pushes, self.pops, self.names = pushes, pops, names
        self.popped_at, self.pushed_at = popped_at, pushed_at
        self.sites = probed.sites.get(node.name, {})
        self.kinds = probed.kinds.get(node.name, {})
        self.parent: dict[int, ast.AST] = {}
        for sub in ast.walk(node):
            for child in ast.iter_child_nodes(sub):
                self.parent[id(child)] = sub
        #: pop site -> the replayed loop whose first statement it is
        self.replays: dict[str, ast.For] = {}
        for sub in ast.walk(node):
            if isinstance(sub, ast.For) and sub.body:
                first = sub.body[0]
                if self._popped_name(first) is not None:
                    self.replays[_site(first.value)] = sub
        #: pop site -> its statement ``X = pop()``
        self.pop_statements: dict[str, ast.Assign] = {
            _site(sub.value): sub
            for sub in ast.walk(node)
            if isinstance(sub, ast.Assign) and self._popped_name(sub) is not None
        }
        #: ids of replayed loops that bind their counter themselves (no pop first)
        self.counter_bound: set[int] = set()
        self.params = {a.arg for a in node.args.posonlyargs + node.args.args}
        self._unchanged: dict[str, bool] = {}

    # -- structure ------------------------------------------------------------------------

    def _popped_name(self, stmt: ast.stmt) -> str | None:
        """``X`` for a statement ``X = pop()``."""
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and _is_call(stmt.value, self.pops, 0)
        ):
            return stmt.targets[0].id
        return None

    def _paired(self, pushed: str) -> str | None:
        """The one pop site that popped what a push site pushed, if one to one."""
        found = self.popped_at.get(pushed, set())
        if len(found) != 1:
            return None
        (popped,) = found
        return popped if self.pushed_at.get(popped) == {pushed} else None

    def _loops_around(self, node: ast.AST) -> list[ast.AST]:
        found = []
        at = self.parent.get(id(node))
        while at is not None and at is not self.node:
            if isinstance(at, (ast.For, ast.While)):
                found.append(at)
            at = self.parent.get(id(at))
        return found

    def _replay_of(self, loop: ast.AST) -> ast.For | None:
        """The replayed loop of a forward ``for v in range(...)`` loop that binds ``v``
        nowhere else: where its body ends with ``push(v)``, the loop whose first
        statement ``v = pop()`` popped it and that binds ``v`` nowhere else either; else
        the loop over the same range backwards (``_reversed_replay_of``)."""
        if not (
            isinstance(loop, ast.For)
            and isinstance(loop.target, ast.Name)
            and isinstance(loop.iter, ast.Call)
            and isinstance(loop.iter.func, ast.Name)
            and loop.iter.func.id == "range"
            and not loop.orelse
            and loop.body
        ):
            return None
        last = loop.body[-1]
        counter = loop.target.id
        if _stores(loop.body, counter):
            return None  # (the body rebinds its counter: the value pushed is not the one read)
        if not (
            isinstance(last, ast.Expr)
            and _is_call(last.value, self.pushes, 1)
            and isinstance(last.value.args[0], ast.Name)
            and last.value.args[0].id == counter
        ):
            return self._reversed_replay_of(loop)
        popped = self._paired(_site(last.value))
        replay = self.replays.get(popped) if popped else None
        if replay is None or self._popped_name(replay.body[0]) != counter:
            return None
        if len(_stores(replay.body, counter)) != 1:
            return None
        return replay

    def _reversed_replay_of(self, loop: ast.For) -> ast.For | None:
        """The replayed loop of a forward range loop whose counter the ordinary pipeline
        recomputes (``for v in reversed(range(...))``, the same range): found through a
        value the forward body saves (at any depth, an inner loop's too), which the probe
        saw popped by one pop alone: the replayed loop is the nearest loop around that pop
        over the same range backwards, binding the same counter and nothing else to it."""
        counter = loop.target.id
        for node in ast.walk(ast.Module(body=loop.body, type_ignores=[])):
            if not _is_call(node, self.pushes, 1):
                continue
            popped = self._paired(_site(node))
            at = self.pop_statements.get(popped) if popped else None
            while at is not None and not (
                isinstance(at, ast.For)
                and isinstance(at.target, ast.Name)
                and at.target.id == counter
                and _is_call(at.iter, {"reversed"}, 1)
            ):
                at = self.parent.get(id(at))
            if not (
                at is not None
                and _is_call(at.iter.args[0], {"range"}, len(loop.iter.args))
                and ast.dump(at.iter.args[0]) == ast.dump(loop.iter)
                and not at.orelse
                and not _stores(at.body, counter)
            ):
                return None
            self.counter_bound.add(id(at))
            return at
        return None

    # -- the rewrite ----------------------------------------------------------------------

    def run(self) -> None:
        loops = [sub for sub in ast.walk(self.node) if isinstance(sub, ast.For)]
        # (paired before any rewrite: a loop whose counter the replayed loop binds itself
        # is paired through a value it saves, which the rewrite may then drop)
        self.paired = {id(loop): self._replay_of(loop) for loop in loops}
        for loop in loops:
            replay = self.paired[id(loop)]
            if replay is None or any(
                isinstance(sub, (ast.Break, ast.Continue, ast.Return, ast.Try))
                for sub in ast.walk(loop)
            ):
                continue
            self._loop(loop, replay)

    def _loop(self, loop: ast.For, replay: ast.For) -> None:
        # The counters the replayed loop's body sees restored: this loop's, and those of
        # the range loops around it whose replayed loops are around the replayed one.
        counters = {loop.target.id}
        around_replay = {id(r) for r in self._loops_around(replay)}
        outermost = loop
        for outer in self._loops_around(loop):
            outermost = outer
            outer_replay = self.paired.get(id(outer))
            if outer_replay is not None and id(outer_replay) in around_replay:
                counters.add(outer.target.id)
        popped = {}  # pop site -> (position, statement) in the replayed body
        for position, stmt in enumerate(replay.body):
            if self._popped_name(stmt) is not None:
                popped[_site(stmt.value)] = (position, stmt)
        restored: set[str] = set()  # names holding this iteration's value at the top
        #: values the body computes and does not save, which a recomputation may read:
        #: name -> (position, statement, the ones of them it reads in turn)
        unsaved: dict[str, tuple[int, ast.Assign, set[str]]] = {}
        #: position -> (push, pop, statement): the ones computed again; pushes and pops
        #: None for an unsaved value a recomputation reads
        again: dict[int, tuple[Any, Any, ast.Assign]] = {}
        # (all but the counter's push at the end, where the forward loop saves it)
        last = len(loop.body) if id(replay) in self.counter_bound else -1
        for position, stmt in enumerate(loop.body[:last]):
            if not (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
            ):
                continue
            name = stmt.targets[0].id
            if len(_stores(loop.body, name)) != 1:
                continue
            before = loop.body[position - 1] if position else None
            pair = None
            if (
                isinstance(before, ast.Expr)
                and _is_call(before.value, self.pushes, 1)
                and isinstance(before.value.args[0], ast.Name)
                and before.value.args[0].id == name
            ):
                pair = popped.get(self._paired(_site(before.value)) or "")
            if pair is None:
                # (not saved: it may be computed again only where the replayed body
                # never sees the name)
                if not _mentions(replay.body, name) and self._elsewhere_ok(name, loop, replay):
                    reads = self._recomputable(stmt.value, counters, restored, unsaved, outermost)
                    if reads is not None:
                        unsaved[name] = (position, stmt, reads)
                continue
            at, pop = pair
            if not (
                self._popped_name(pop) == name
                and len(_stores(replay.body, name)) == 1
                and not _reads(replay.body[at + 1 :], name)
                and self.sites.get(_site(before.value)) in ("float", "int", "bool")
            ):
                continue
            # (restored at each replayed iteration's end, so it holds this iteration's
            # value at the top, for a later recomputation to read)
            if self._elsewhere_ok(name, loop, replay):
                reads = self._recomputable(stmt.value, counters, restored, unsaved, outermost)
                if reads is not None:
                    again[position] = (before, pop, stmt)
                    for read in reads:
                        again.setdefault(unsaved[read][0], (None, None, unsaved[read][1]))
            restored.add(name)
        if not again:
            return
        dropped = {id(push) for push, _, _ in again.values()}
        loop.body = [s for s in loop.body if id(s) not in dropped]
        dropped = {id(pop) for _, pop, _ in again.values()}
        body = [s for s in replay.body if id(s) not in dropped]
        made = [copy.deepcopy(again[position][2]) for position in sorted(again)]
        first = 0 if id(replay) in self.counter_bound else 1  # (after the counter's pop)
        replay.body = [*body[:first], *made, *body[first:]]
        for stmt in made:
            self.parent[id(stmt)] = replay
            for sub in ast.walk(stmt):
                for child in ast.iter_child_nodes(sub):
                    self.parent[id(child)] = sub

    def _elsewhere_ok(self, name: str, loop: ast.For, replay: ast.For) -> bool:
        """Whether ``name`` occurs outside the two loops only before the replayed loop
        and in no loop around it (where it would see the value left by the last replayed
        iteration)."""
        inside = {id(sub) for tree in (loop, replay) for sub in ast.walk(tree)}
        around = self._loops_around(replay)
        for sub in ast.walk(self.node):
            if not isinstance(sub, ast.Name) or sub.id != name or id(sub) in inside:
                continue
            if isinstance(sub.ctx, ast.Del):
                continue  # (the rewrite drops ``del`` statements)
            if (sub.lineno, sub.col_offset) > (replay.lineno, replay.col_offset):
                return False
            if any(id(sub) in {id(s) for s in ast.walk(a)} for a in around):
                return False
        return True

    def _recomputable(
        self,
        value: ast.expr,
        counters: set[str],
        restored: set[str],
        unsaved: dict[str, tuple[int, ast.Assign, set[str]]],
        outermost: ast.AST,
    ) -> set[str] | None:
        """The unsaved values ``value`` reads (directly or through others), where it can
        be computed at the top of the replayed body; else None."""
        reads: set[str] = set()
        for sub in ast.walk(value):
            if isinstance(sub, ast.BinOp):
                if not isinstance(sub.op, _CHEAP_OPS):
                    return None
            elif isinstance(sub, ast.UnaryOp):
                if not isinstance(sub.op, (ast.USub, ast.UAdd)):
                    return None
            elif isinstance(sub, ast.Constant):
                if type(sub.value) not in (int, float):
                    return None
            elif isinstance(sub, ast.Subscript):
                if not isinstance(sub.value, ast.Name):
                    return None
            elif isinstance(sub, ast.Name):
                if sub.id in counters or sub.id in restored:
                    continue
                if sub.id in unsaved:
                    reads |= {sub.id, *unsaved[sub.id][2]}
                    continue
                if not self._unchanging(sub.id, outermost):
                    return None
            elif not isinstance(sub, (ast.Tuple, ast.Load, ast.operator, ast.unaryop)):
                return None
        return reads

    def _unchanging(self, name: str, outermost: ast.AST) -> bool:
        """Whether ``name`` holds one value from before the loops on: bound nowhere (a
        parameter) or by one top-level statement before ``outermost``, and changed in
        place by nothing (see ``_never_changed``)."""
        # (``del`` statements: the rewrite drops them, see _Function._statement)
        stores = [s for s in _stores(self.node.body, name) if not isinstance(s.ctx, ast.Del)]
        if stores:
            if len(stores) != 1 or name in self.params:
                return False
            statement = self.parent.get(id(stores[0]))
            if not (
                isinstance(statement, ast.Assign)
                and statement in self.node.body
                and statement.lineno < outermost.lineno
            ):
                return False
        if self.kinds.get(name) == "number":
            return True  # (a number: nothing changes it in place)
        found = self._unchanged.get(name)
        if found is None:
            found = self._unchanged[name] = self._never_changed(name)
        return found

    def _never_changed(self, name: str) -> bool:
        """Whether every read of ``name`` leaves its value as it is and lets no other
        name see it: an operand of an operator or comparison (a new value), its shape,
        an element read that is a number (an operand, or bound to a name the probe saw
        hold numbers only), or an argument the helpers read for its shape."""
        shape_readers = (
            self.names.gradient_buffer | self.names.scatters | self.names.assigned_adjoint
        )
        for sub in ast.walk(self.node):
            if not (isinstance(sub, ast.Name) and sub.id == name):
                continue
            if not isinstance(sub.ctx, ast.Load):
                continue  # (the binding _unchanging checked)
            parent = self.parent.get(id(sub))
            if isinstance(parent, (ast.BinOp, ast.UnaryOp, ast.Compare)):
                continue
            if isinstance(parent, ast.Attribute) and parent.attr in _SHAPE_ATTRIBUTES:
                continue
            if isinstance(parent, ast.Call) and sub in parent.args:
                if isinstance(parent.func, ast.Name) and (
                    (parent.func.id in shape_readers and parent.args.index(sub) == 1)
                    or (parent.func.id in self.names.shaped_like)
                ):
                    continue
                return False
            if isinstance(parent, ast.Subscript) and parent.value is sub:
                if isinstance(parent.ctx, ast.Load) and self._number_read(parent):
                    continue
            return False
        return True

    def _number_read(self, read: ast.Subscript) -> bool:
        parent = self.parent.get(id(read))
        if isinstance(parent, (ast.BinOp, ast.UnaryOp, ast.Compare)):
            return True
        return (
            isinstance(parent, ast.Assign)
            and parent.value is read
            and len(parent.targets) == 1
            and isinstance(parent.targets[0], ast.Name)
            and self.kinds.get(parent.targets[0].id) == "number"
        )

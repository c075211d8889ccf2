"""What statements read and write, and which names are live: the questions the passes
ask of code, answered in one place.

- ``reads(node)``: the names a node reads; ``all_names(node)``: every name in it.
- ``statements(body)``: every statement of a body, nested blocks' too, in source order.
- Four questions about writes, which differ and are not interchangeable:
  ``bound_names`` (names a statement rebinds), ``target_names`` (names its targets spell:
  rebound, or stored into as ``x[i] = v`` and ``x += v`` do), ``changed_names`` (names
  whose value it may change: rebound, stored into, or appended to) and
  ``names_changed_within`` (those of a compound statement's nested blocks too).
- Two liveness analyses: ``live_after_each`` on forward core code (a set per statement,
  made up front), and ``OnDemandLiveness`` on generated code, where a ``return`` ends
  everything and the passes ask about one name at a time, often thousands of times.
"""

from __future__ import annotations

import bisect

import gast

from . import anno
from .walk import child_fields, walk


def reads(node: gast.AST) -> set[str]:
    """The names ``node`` reads (``Name`` nodes in ``Load`` context)."""
    return _names(node, loads_only=True)


def all_names(node: gast.AST) -> set[str]:
    """Every name in ``node``, read or written."""
    return _names(node, loads_only=False)


def _names(node: gast.AST, loads_only: bool) -> set[str]:
    # The question the passes ask most: its own walk, in any order, that stops at names.
    names: set[str] = set()
    stack = [node]
    push = stack.append
    pop = stack.pop
    table = _FIELDS_WITH_NAMES
    name_kind, load = gast.Name, gast.Load
    while stack:
        current = pop()
        kind = type(current)
        if kind is name_kind:
            if not loads_only or type(current.ctx) is load:
                names.add(current.id)
            if current.annotation is not None:
                push(current.annotation)
            continue
        held = table.get(kind)
        if held is None:
            held = _fields_with_names(kind)
            if not held:
                continue
        elif not held:  # a constant, a context, an operator
            continue
        fields = current.__dict__
        for name in held:
            value = fields.get(name)
            if value is None:
                continue
            if type(value) is list:
                for item in value:
                    if isinstance(item, gast.AST):
                        push(item)
            elif isinstance(value, gast.AST):
                push(value)
    return names


#: node class -> its fields that may hold a ``Name``: not a context or an operator, and
#: nothing of a constant (its ``value`` is a Python value)
_FIELDS_WITH_NAMES: dict[type, tuple[str, ...]] = {}


def _fields_with_names(kind: type) -> tuple[str, ...]:
    found = _FIELDS_WITH_NAMES.get(kind)
    if found is None:
        fields = () if kind is gast.Constant else child_fields(kind)
        found = tuple(f for f in fields if f not in ("ctx", "op"))
        _FIELDS_WITH_NAMES[kind] = found
    return found


def blocks(stmt: gast.stmt) -> list[list[gast.stmt]]:
    """The statement's nested blocks that are not empty: its ``body``, then its ``orelse``."""
    fields = stmt.__dict__  # (read directly: most statements have neither field)
    body, orelse = fields.get("body"), fields.get("orelse")
    if not orelse:
        return [body] if body else []
    return [body, orelse] if body else [orelse]


def statements(body: list[gast.stmt], enter_definitions: bool = True):
    """Every statement of ``body`` and of the blocks nested in it (``body``, then
    ``orelse``), each before those it holds. With ``enter_definitions=False`` the bodies
    of nested ``def`` and ``class`` statements are left out: desugaring asks about the
    function's own returns, and a nested function's are not among them."""
    for stmt in body:
        yield stmt
        if not enter_definitions and isinstance(stmt, (gast.FunctionDef, gast.ClassDef)):
            continue
        for block in blocks(stmt):
            yield from statements(block, enter_definitions)


# -- writes ------------------------------------------------------------------------------


def bound_names(stmt: gast.stmt) -> set[str]:
    """The names ``stmt`` rebinds: an assignment's name and unpacking targets, a loop's
    name target. Not ``x`` in ``x[i] = v``: that changes the object ``x`` names."""
    if isinstance(stmt, gast.Assign):
        target = stmt.targets[0]
        if isinstance(target, gast.Name):
            return {target.id}
        if isinstance(target, (gast.Tuple, gast.List)):
            return reads(target) | {n.id for n in gast.walk(target) if isinstance(n, gast.Name)}
        return set()
    if isinstance(stmt, gast.For) and isinstance(stmt.target, gast.Name):
        return {stmt.target.id}
    return set()


def target_names(stmt: gast.stmt) -> set[str]:
    """The names an assignment's, augmented assignment's or loop's targets spell: those it
    rebinds, and ``x`` of ``x[i] = v`` and ``x += v``, which it stores into."""
    if isinstance(stmt, gast.Assign):
        targets = stmt.targets
        if len(targets) == 1 and type(targets[0]) is gast.Name:  # the commonest
            return {targets[0].id}
        names = set()
        for target in targets:
            if isinstance(target, gast.Name):
                names.add(target.id)
            elif isinstance(target, gast.Subscript):
                names.add(target.value.id)
            else:
                names |= {n.id for n in walk(target) if isinstance(n, gast.Name)}
        return names
    if isinstance(stmt, gast.AugAssign):
        return {stmt.target.id}
    if isinstance(stmt, gast.For):
        return {n.id for n in walk(stmt.target) if isinstance(n, gast.Name)}
    return set()


def bound_on_every_path(stmts: list[gast.stmt], params: set[str]) -> set[str]:
    """``params`` and the names the top-level statements of ``stmts`` outside branches
    and loops bind: names surely bound after ``stmts``, whichever way they went (a
    conservative answer: a name both arms of a branch bind is left out)."""
    surely = set(params)
    for stmt in stmts:
        if not isinstance(stmt, (gast.If, gast.For, gast.While)):
            surely |= target_names(stmt)
    return surely


def changed_names(stmt: gast.stmt) -> set[str]:
    """The names whose value a core statement changes: those its assignment or loop
    rebinds, the array of an item assignment and the list of an append (which
    ``analyze`` marks with the ``append`` callee)."""
    if isinstance(stmt, gast.Expr) and _kind(anno.get(stmt, anno.Key.CALLEE)) == "append":
        return {stmt.value.func.value.id}
    if isinstance(stmt, gast.For):
        return {stmt.target.id} if isinstance(stmt.target, gast.Name) else set()
    if isinstance(stmt, gast.Assign):
        target = stmt.targets[0]
        if isinstance(target, gast.Name):
            return {target.id}
        if isinstance(target, gast.Subscript):
            return {target.value.id}
        return all_names(target)
    return set()


def names_changed_within(stmt: gast.stmt) -> set[str]:
    """Every name ``stmt`` may change, in its nested blocks too: its ``changed_names``, and
    every name stored to or deleted anywhere in it."""
    if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name):
        return {stmt.targets[0].id}
    written = changed_names(stmt)
    for node in walk(stmt):
        if isinstance(node, gast.Name) and isinstance(node.ctx, (gast.Store, gast.Del)):
            written.add(node.id)
    return written


def _kind(callee) -> str | None:
    return getattr(callee, "kind", None)


# -- liveness ----------------------------------------------------------------------------


def live_after_each(body: list[gast.stmt]) -> dict[int, set[str]]:
    """For each statement of forward core code (by id), the names read after it before
    being rebound: a set per statement, made up front."""
    result: dict[int, set[str]] = {}
    _live_block(body, set(), result)
    return result


def _live_block(stmts: list[gast.stmt], live: set[str], result: dict) -> set[str]:
    live = set(live)
    for stmt in reversed(stmts):
        result[id(stmt)] = result.get(id(stmt), set()) | live
        live = _live_in(stmt, live, result)
    return live


def _live_in(stmt: gast.stmt, live: set[str], result: dict) -> set[str]:
    if isinstance(stmt, gast.If):
        return (
            reads(stmt.test)
            | _live_block(stmt.body, live, result)
            | _live_block(stmt.orelse, live, result)
        )
    if isinstance(stmt, (gast.For, gast.While)):
        header = reads(stmt.iter if isinstance(stmt, gast.For) else stmt.test)
        target = (
            {stmt.target.id}
            if isinstance(stmt, gast.For) and isinstance(stmt.target, gast.Name)
            else set()
        )
        end_of_body = live | header
        while True:  # the next iteration reads what the body reads before writing it
            entry = _live_block(stmt.body, end_of_body, result) - target
            grown = live | header | entry
            if grown == end_of_body:
                return grown
            end_of_body = grown
    if isinstance(stmt, gast.With):
        items = set()
        for item in stmt.items:
            items |= reads(item.context_expr)
        return items | _live_block(stmt.body, live, result)
    if isinstance(stmt, gast.Return):
        return reads(stmt.value) if stmt.value is not None else set()
    if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name):
        return (live - {stmt.targets[0].id}) | reads(stmt.value)
    return live | reads(stmt)


#: the names a ``return`` kills: all of them, since nothing after it runs
_EVERYTHING = None
#: statements whose blocks dead code's rounds change (their reads, asked whole, change too)
_HOLDS_BLOCKS = (gast.If, gast.For, gast.While, gast.With, gast.Try, gast.FunctionDef)


class OnDemandLiveness:
    """Which names are live after each statement of generated code, asked one name at a time.

    Each statement changes the live names as a pair (gen, kill): live before it = gen |
    (live after it - kill). A block's pair is its statements' composed, an ``if``'s its
    test's reads and its arms' joined, and a loop's is its body's gen (plus what its
    header reads) with nothing killed, since the body may not run. Whether a name is
    live after a statement is then asked on demand: the first later statement of its
    block that reads or kills the name decides, and past the block's end the statement
    holding the block is asked (a loop body's end also sees what the body reads, for the
    next iteration). No live set is made per statement: copying one for each made n
    statements with n names live cost n * n.
    """

    def __init__(self, restores_dead: bool = False, known_reads: dict | None = None) -> None:
        #: restores are no reads of the arrays they write into (for dead code alone: a
        #: restore then goes when no read follows it)
        self._restores_dead = restores_dead
        self._where: dict[int, tuple[_LiveBlock, int]] = {}  # id(stmt) -> its block, position
        self._reads: dict[int, set[str]] = {}  # each node's reads, found once
        #: the names nodes read, shared by analyses of code that only loses statements
        #: between them (dead code's rounds): id(node) -> (node, names)
        self._known_reads = known_reads

    def names_read(self, node: gast.AST) -> set[str]:
        """``reads(node)``, a new set, found once per node for the analyses sharing
        ``known_reads`` (a statement holding blocks is asked again: its blocks change)."""
        known = self._known_reads
        if known is None or isinstance(node, _HOLDS_BLOCKS):
            return reads(node)
        entry = known.get(id(node))
        if entry is None or entry[0] is not node:  # (the node is kept: its id stays its own)
            entry = known[id(node)] = (node, frozenset(reads(node)))
        return set(entry[1])

    def reads(self, node: gast.AST) -> set[str]:
        found = self._reads.get(id(node))
        if found is None:
            found = self._reads[id(node)] = self.names_read(node)
            restores = anno.get(node, anno.Key.RESTORES) if self._restores_dead else None
            if restores is not None:
                # Putting back an element of an array (``restore_item(y, i, pop())``) is no
                # use of its value: the restores of a loop nobody reads after go dead
                # together, instead of each keeping the one before it alive.
                found.discard(restores)
        return found

    def block(self, stmts: list[gast.stmt], live: set[str]) -> set[str]:
        """The names live before ``stmts`` when ``live`` are live after them; the names
        live after each statement can be asked of :meth:`live_after` afterwards."""
        gen, kill = self._summary(stmts, _LiveBlock(set(live)))
        if kill is _EVERYTHING:
            return set(gen)
        return gen | (live - kill)

    def live_after(self, stmt: gast.stmt, name: str) -> bool:
        """Whether ``name`` is live right after ``stmt`` (False for a statement the
        analysis did not see)."""
        place = self._where.get(id(stmt))
        if place is None:
            return False
        block, position = place
        while True:
            decided = block.decides(position, name)
            if decided is not None:
                return decided
            if name in block.at_end:
                return True
            if block.holder is None:
                return False
            block, position = block.holder

    def any_live_after(self, stmt: gast.stmt, names: set[str]) -> bool:
        return any(self.live_after(stmt, name) for name in names)

    def _summary(self, stmts: list[gast.stmt], block: _LiveBlock) -> tuple[set, set | None]:
        """``stmts``' (gen, kill), indexing each statement in ``block``."""
        effects = []
        for position, stmt in enumerate(stmts):
            self._where[id(stmt)] = (block, position)
            effects.append(self._effect(stmt, block, position))
        block.index(effects)
        gen: set[str] = set()
        kill: set[str] | None = set()
        for g, k in reversed(effects):  # composed from the last statement back
            if k is _EVERYTHING:
                gen, kill = set(g), _EVERYTHING
                continue
            gen -= k
            gen |= g
            if kill is not _EVERYTHING:
                kill |= k
        return gen, kill

    def _effect(self, stmt: gast.stmt, block: _LiveBlock, position: int) -> tuple[set, set | None]:
        if isinstance(stmt, gast.If):
            arms = []
            for arm in (stmt.body, stmt.orelse):
                arms.append(self._summary(arm, _LiveBlock(set(), (block, position))))
            (g1, k1), (g2, k2) = arms
            if k1 is _EVERYTHING:
                kill = k2
            elif k2 is _EVERYTHING:
                kill = k1
            else:
                kill = k1 & k2
            return self.reads(stmt.test) | g1 | g2, kill
        if isinstance(stmt, (gast.For, gast.While)):
            body = _LiveBlock(set(), (block, position))
            gen, _ = self._summary(stmt.body, body)
            if isinstance(stmt, gast.For) and isinstance(stmt.target, gast.Name):
                gen = gen - {stmt.target.id}  # (each iteration binds it before its body)
            body.at_end = gen  # what the next iteration reads
            header = self.reads(stmt.iter) if isinstance(stmt, gast.For) else self.reads(stmt.test)
            return gen | header, set()
        if isinstance(stmt, gast.Return):
            return self.reads(stmt), _EVERYTHING
        if isinstance(stmt, gast.Assign) and not isinstance(stmt.targets[0], gast.Subscript):
            return self.reads(stmt.value), target_names(stmt)
        if isinstance(stmt, gast.AugAssign):
            return self.reads(stmt.value) | {stmt.target.id}, set()
        return self.reads(stmt), set()


class _LiveBlock:
    """One block's statements as liveness sees them: for each name, the positions of the
    statements that read or kill it, and what is live after the block's last statement:
    ``at_end``, and, for a nested block, what is live after the statement holding it."""

    def __init__(self, at_end: set[str], holder: tuple[_LiveBlock, int] | None = None) -> None:
        self.at_end = at_end
        self.holder = holder
        self.deciding: dict[str, list[int]] = {}
        self.gens: list[set[str]] = []
        self.returns: list[int] = []

    def index(self, effects: list[tuple[set, set | None]]) -> None:
        for position, (gen, kill) in enumerate(effects):
            self.gens.append(gen)
            if kill is _EVERYTHING:
                self.returns.append(position)
                kill = set()
            for name in gen | kill:
                self.deciding.setdefault(name, []).append(position)

    def decides(self, position: int, name: str) -> bool | None:
        """Whether the statements after ``position`` read ``name`` before they kill it
        (None: they do neither)."""
        positions = self.deciding.get(name, ())
        k = bisect.bisect_right(positions, position)
        first = positions[k] if k < len(positions) else None
        r = bisect.bisect_right(self.returns, position)
        if r < len(self.returns) and (first is None or self.returns[r] < first):
            return name in self.gens[self.returns[r]]
        if first is None:
            return None
        return name in self.gens[first]

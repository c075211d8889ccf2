"""optimize: make the reversed program what a person would write by hand.

Five passes of ``pipeline.PASSES`` live here, since they share its liveness and copy
analyses (``fuse``, ``release`` and others import those). On the backward statements:

* ``zeros``, *zero propagation*: adjoints start at ``0``; an accumulation ``dx = dx +
  e`` into an adjoint that is certainly still zero becomes ``dx = e``, and a
  contribution that is linear in a gradient that is certainly zero is dropped;
* ``dead_code``: statements whose result is never read are removed; a dead ``x = pop()``
  takes its ``push(x)`` in the forward statements with it (matched by stack id);
* ``copies``, *copy propagation*: ``a = b`` followed by reads of ``a`` reads ``b``
  instead.

On the forward statements: pushes whose pops were removed go (``unread_pushes``), and
temporaries that ``normalize`` introduced are folded back into their single use when the
backward pass does not read them (``temporaries``), so the forward code reads like the
user's again.

Every analysis here works on the structured statements (``if``, ``for``, ``while``) the
earlier passes produce; loops iterate to a fixed point.
"""

from __future__ import annotations

import bisect
import types
from typing import Any

import gast
import numpy as np

from ..runtime.rules.shared import shape_only_positions
from . import anno, build, invariance, ranks
from .context import TransformContext
from .dataflow import OnDemandLiveness, blocks, reads, statements, target_names
from .program import Program
from .walk import rewrite, walk, without_statements

# -- small helpers ---------------------------------------------------------------------


def _header_reads(stmt: gast.stmt) -> set[str]:
    if isinstance(stmt, gast.If) or isinstance(stmt, gast.While):
        return reads(stmt.test)
    if isinstance(stmt, gast.For):
        return reads(stmt.iter)
    if isinstance(stmt, gast.AugAssign):
        return reads(stmt.value) | {stmt.target.id}
    return reads(stmt)


def is_pop(stmt: gast.stmt) -> bool:
    """Whether ``stmt`` is a generated ``name = pop()`` (it has a stack id)."""
    return anno.has(stmt, anno.Key.STACK_ID) and isinstance(stmt, gast.Assign)


def _has_side_effects(stmt: gast.stmt) -> bool:
    if isinstance(stmt, gast.Assign):
        if isinstance(stmt.targets[0], gast.Subscript):
            return True
        return is_pop(stmt) or _calls_pop(stmt.value)
    return not isinstance(stmt, gast.Pass)


def _calls_pop(node: gast.AST) -> bool:
    return any(isinstance(n, gast.Call) and anno.get(n, anno.Key.PART) == "pop" for n in walk(node))


# -- liveness and dead code ------------------------------------------------------------


def eliminate_dead(
    stmts: list[gast.stmt],
    live_out: set[str],
    dead_stack_ids: set[int],
    shape_only: dict[str, frozenset[int]] | None = None,
    aliases: dict[str, set[str]] | None = None,
    restore_aliases: dict[int, set[str]] | None = None,
) -> list[gast.stmt]:
    """Remove statements whose results nobody reads, until nothing changes. With
    ``shape_only`` (helper name -> the argument positions it reads for their shape
    only) and ``aliases`` (name -> the names that may share memory with it), a restore
    into an array goes too where neither it nor anything that may share its memory is
    read afterwards but at such positions; ``restore_aliases`` (a restore's stack id ->
    the names) narrows that for arrays made new before the write (``fresh_aliases``)."""
    known_reads: dict = {}  # (each round only removes statements: their reads stay)
    while True:
        liveness = OnDemandLiveness(restores_dead=True, known_reads=known_reads)
        liveness.block(stmts, set(live_out))
        values = None
        if (
            shape_only
            and aliases is not None
            and any(anno.has(stmt, anno.Key.RESTORES) for stmt in statements(stmts))
        ):  # (only a restore asks it: most gradients have none)
            values = _ValueLiveness(shape_only, known_reads)
            values.block(stmts, set(live_out))
        removed = []
        analyses = (liveness, values, aliases or {}, restore_aliases or {})
        stmts = _sweep(stmts, analyses, removed, dead_stack_ids)
        if not removed:
            return stmts


def may_share_memory(
    primal: list[gast.stmt],
    facts: dict[str, Any] | None = None,
    modules: frozenset[str] = frozenset(),
) -> dict[str, set[str]]:
    """Name -> the names of ``primal`` that may share memory with it (itself included):
    names bound from one another by anything but arithmetic, a comparison or a ufunc
    (whose results are new arrays) are joined, by name, whatever the order. A view (``v =
    y[1:]``, ``y.T``, a reshape) or a copy by reference is so joined; some new arrays
    (``u.copy()``, a call) are too, which costs a restore kept. With ``facts`` (what
    ``ranks`` proves), a store into a NumPy array copies the value's elements and an
    element read by int indices (``y[i - 1]`` of a vector) is a number: neither joins
    anything (into a list, ``items[1] = e``, the list holds ``e`` itself). The functions
    a statement calls (``len``, ``range``), the ``modules`` it calls them from (``np``)
    and the names surely holding ints (a loop's counter, a length) hold no array memory:
    they join nothing."""
    facts = facts or {}
    arrays = frozenset(name for name, fact in facts.items() if ranks.is_numpy(fact))
    ints = frozenset(name for name, fact in facts.items() if fact == ranks.INT)
    # (a function the function binds itself may hand back what it holds: its name joins)
    local = frozenset(name for stmt in statements(primal) for name in target_names(stmt))
    parent: dict[str, str] = {}

    def find(name: str) -> str:
        while parent.setdefault(name, name) != name:
            name = parent[name]
        return name

    fresh = (gast.BinOp, gast.UnaryOp, gast.Compare, gast.Constant, gast.BoolOp)
    for stmt in statements(primal):
        if isinstance(stmt, gast.Assign) and (
            isinstance(stmt.value, fresh)
            or _makes_a_new_array(stmt)
            or _stores_into(stmt, arrays)
            or (isinstance(stmt.value, gast.Subscript) and ranks.of(stmt.value, facts) == 0)
        ):
            continue
        if isinstance(stmt, (gast.Assign, gast.For)):
            value = stmt.value if isinstance(stmt, gast.Assign) else stmt.iter
            joined = (target_names(stmt) | _data_reads(value, modules, local)) - ints
            first, *rest = sorted(joined) or [None]
            for name in rest:
                parent[find(name)] = find(first)
    classes: dict[str, set[str]] = {}
    for name in list(parent):
        classes.setdefault(find(name), set()).add(name)
    return {name: classes[find(name)] for name in parent}


def fresh_aliases(
    primal: list[gast.stmt], facts: dict[str, Any], modules: frozenset[str]
) -> dict[int, set[str]]:
    """For each write into an array whose elements are saved (the push before ``new[i] =
    e``, by its stack id) where the array was made new earlier in the same block (``new =
    u.copy()``, with no other binding of it in between, loops included): the names that
    may share its memory from that allocation to the write (``may_share_memory`` of those
    statements alone).

    Why that suffices: the backward pass puts the overwritten elements back at the write's
    place, and reads after that are the backward statements of what ran before the write.
    Names keep there the objects they held when those statements ran (what the backward
    pass reads is saved and restored), and before the allocation the array did not exist:
    only a name bound to it between the allocation and the write can reach it. A time
    step's ``u = new`` after its writes holds the array later on, but the backward pass
    has restored ``u`` to the last step's array before it reaches the writes; a name-based
    analysis of the whole function joins ``u`` and ``new`` and keeps every restore while
    ``u`` is read."""
    found: dict[int, set[str]] = {}

    def visit(block: list[gast.stmt], chain: list[tuple[list[gast.stmt], int]]) -> None:
        for index, stmt in enumerate(block):
            here = [*chain, (block, index)]
            stack_id = anno.get(stmt, anno.Key.STACK_ID)
            if stack_id is not None and isinstance(stmt, gast.Expr) and index + 1 < len(block):
                array = _written_array(block[index + 1])
                window = None if array is None else _from_allocation(array, here)
                if window is not None:
                    found[stack_id] = may_share_memory(window, facts, modules).get(array, {array})
            for field in ("body", "orelse"):
                inner = getattr(stmt, field, None)
                if isinstance(inner, list):
                    visit(inner, here)

    visit(primal, [])
    return found


def _written_array(stmt: gast.stmt) -> str | None:
    """``v`` of ``v[...] = e``."""
    if isinstance(stmt, gast.Assign) and len(stmt.targets) == 1:
        target = stmt.targets[0]
        if isinstance(target, gast.Subscript) and isinstance(target.value, gast.Name):
            return target.value.id
    return None


def _from_allocation(
    array: str, chain: list[tuple[list[gast.stmt], int]]
) -> list[gast.stmt] | None:
    """The statements from the allocation of ``array`` that reaches the write at the end
    of ``chain`` (the blocks around it, outermost first, and positions in them) to the
    statement holding the write, in the block of the allocation; None where no such
    allocation is found (a binding of another kind, one in a branch or a nested block, or
    one after the write in a loop's body, which reaches the next iteration's write)."""
    for level in range(len(chain) - 1, -1, -1):
        block, index = chain[level]
        for j in range(index - 1, -1, -1):
            stmt = block[j]
            if array not in _bound_in(stmt):
                continue
            if (
                isinstance(stmt, gast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], gast.Name)
                and (isinstance(stmt.value, (gast.BinOp, gast.UnaryOp)) or _makes_a_new_array(stmt))
            ):
                return block[j : index + 1]
            return None
        if any(array in _bound_in(stmt) for stmt in block[index + 1 :]):
            return None  # (bound after the write in a loop's body, or a branch's)
    return None


def _bound_in(stmt: gast.stmt) -> set[str]:
    """The names ``stmt`` binds, nested statements included (not elements: ``v[i] = e``
    binds nothing)."""
    return {n.id for n in walk(stmt) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}


def _data_reads(value: gast.expr, modules: frozenset[str], local: frozenset[str]) -> set[str]:
    """The names ``value`` reads, but for the global functions it calls (``len``) and the
    ``modules`` it calls them from (``np`` of ``np.zeros``): what its result may be made
    of. A ``local`` name called stays (a closure may return what it holds)."""
    nodes = walk(value)
    called = {id(n) for call in nodes if isinstance(call, gast.Call) for n in walk(call.func)}
    found = {
        n.id
        for n in nodes
        if isinstance(n, gast.Name)
        and isinstance(n.ctx, gast.Load)
        and (id(n) not in called or n.id in local)
    }
    # (a method's receiver is data: x.reshape(2, 3) is a view of x; a module is not)
    for call in nodes:
        if isinstance(call, gast.Call) and isinstance(call.func, gast.Attribute):
            found |= reads(call.func.value) - modules
    return found


def _stores_into(stmt: gast.Assign, arrays: frozenset[str]) -> bool:
    """Whether ``stmt`` is ``v[...] = e`` with ``v`` one of ``arrays``."""
    target = stmt.targets[0] if len(stmt.targets) == 1 else None
    return (
        isinstance(target, gast.Subscript)
        and isinstance(target.value, gast.Name)
        and target.value.id in arrays
    )


def _modules(ctx: TransformContext) -> frozenset[str]:
    """The global names bound to modules (``np``)."""
    bound = {**ctx.resolved_globals, **ctx.free_values}
    return frozenset(name for name, value in bound.items() if isinstance(value, types.ModuleType))


def _ranks(ctx: TransformContext) -> dict[str, Any]:
    """What ``ranks`` proved of the function's names."""
    return getattr(ctx.shape_classes, "ranks", None) or {}


def _makes_a_new_array(stmt: gast.Assign) -> bool:
    """Whether ``stmt`` binds the result of a NumPy ufunc (``np.exp(x)``), reduction,
    product or constructor (``_NEW_ARRAYS``) called without ``out=``: a new array (or
    number), sharing no memory with its operands."""
    callee = anno.get(stmt, anno.Key.CALLEE)
    if not isinstance(stmt.value, gast.Call) or callee is None:
        return False
    rule = getattr(callee, "rule", None)
    # (np.zeros_like and the like have no rule: what is called is the callee's value)
    primitive = rule.primitive if rule is not None else getattr(callee, "value", None)
    receiver = getattr(callee, "receiver", None)
    positional = len(stmt.value.args)
    if isinstance(primitive, np.ufunc):
        # (not a ufunc's method, np.add.at; no output passed by position, np.add(a, b, c))
        fresh = receiver is None and positional <= primitive.nin
    else:
        try:
            fresh = primitive in _NEW_ARRAYS
        except TypeError:  # (an unhashable primitive)
            fresh = False
        # (an ``out`` by position comes third at the earliest, np.dot(a, b, out), and
        # second in a method, x.max(axis, out): fewer arguments than that pass none)
        fresh = fresh and positional <= (1 if receiver is not None else 2)
    return fresh and not any(k.arg == "out" for k in stmt.value.keywords)


#: NumPy functions (and the methods that are they: ``x.sum()``, ``u.copy()``) whose result
#: is a new array, never a view of an argument (np.einsum may return one: not here)
_NEW_ARRAYS = frozenset(
    {np.sum, np.mean, np.prod, np.max, np.min, np.amax, np.amin, np.std, np.var}
    | {np.average, np.cumsum, np.cumprod, np.dot, np.matmul, np.inner, np.outer}
    | {np.tensordot, np.copy, np.zeros, np.ones, np.empty, np.full, np.zeros_like}
    | {np.ones_like, np.empty_like, np.full_like, np.stack, np.concatenate}
    | {np.linalg.norm, np.linalg.solve, np.linalg.inv, np.linalg.cholesky, np.linalg.det}
)


class _ValueLiveness(OnDemandLiveness):
    """Liveness of values: a name passed to a helper at a position it reads for the shape
    (and dtype) only is no read. Putting back elements an assignment overwrote
    (``restore_item``) changes no shape, so a restore is dead where the array's value is.
    (A view of the array read later would see the restore; ``effects`` sends functions
    whose in-place writes a view sees to the tape, as it does for the restores that no
    read at all follows.)"""

    def __init__(
        self,
        shape_only: dict[str, frozenset[int]],
        known_reads: dict | None = None,
    ) -> None:
        super().__init__(restores_dead=True, known_reads=known_reads)
        self._shape_only = shape_only

    def any_value_live_after(self, stmt: gast.stmt, names: set[str]) -> bool:
        """Whether the value of one of ``names`` (an array and the names that may share
        its memory) is read after ``stmt``."""
        return any(self.live_after(stmt, n) for n in names)

    def reads(self, node: gast.AST) -> set[str]:
        found = self._reads.get(id(node))
        if found is None:
            found = set(super().reads(node))
            if found.isdisjoint(self._shape_only):  # (a call reads its function's name)
                self._reads[id(node)] = found
                return found
            nodes = walk(node)
            at_shape = [
                arg
                for call in nodes
                if isinstance(call, gast.Call)
                and isinstance(call.func, gast.Name)
                and call.func.id in self._shape_only
                for position, arg in enumerate(call.args)
                if position in self._shape_only[call.func.id] and isinstance(arg, gast.Name)
            ]
            if at_shape:
                counts: dict[str, int] = {}
                for name in nodes:
                    if isinstance(name, gast.Name) and isinstance(name.ctx, gast.Load):
                        counts[name.id] = counts.get(name.id, 0) + 1
                for arg in at_shape:
                    counts[arg.id] -= 1
                found = {n for n in found if counts.get(n, 1) > 0}
            self._reads[id(node)] = found
        return found


def _sweep(
    stmts: list[gast.stmt],
    analyses: tuple,
    removed: list,
    dead_ids: set[int],
) -> list[gast.stmt]:
    liveness, values, aliases, restore_aliases = analyses
    kept = []
    for stmt in stmts:
        for field in ("body", "orelse"):
            block = getattr(stmt, field, None)
            if block:
                new = _sweep(block, analyses, removed, dead_ids)
                setattr(stmt, field, new or ([gast.Pass()] if field == "body" else []))
        if isinstance(stmt, gast.Assign) and not isinstance(stmt.targets[0], gast.Subscript):
            if not liveness.any_live_after(stmt, target_names(stmt)):
                if is_pop(stmt):
                    dead_ids.add(anno.get(stmt, anno.Key.STACK_ID))
                    removed.append(stmt)
                    continue
                if not _calls_pop(stmt.value):
                    removed.append(stmt)
                    continue
        if isinstance(stmt, gast.If) and _empty(stmt.body) and _empty(stmt.orelse):
            removed.append(stmt)
            continue
        restores = anno.get(stmt, anno.Key.RESTORES)
        sharing = None
        if restores is not None:
            sharing = restore_aliases.get(anno.get(stmt, anno.Key.STACK_ID))
            sharing = sharing or aliases.get(restores, {restores})
        if sharing is not None and (
            not any(liveness.live_after(stmt, n) for n in sharing)
            or (values is not None and not values.any_value_live_after(stmt, sharing))
        ):
            # Nothing after this point of the backward pass reads the array, or anything
            # that may share its memory (``v1_item = v1[:]``, which desugaring ``v1[:] *=
            # v`` made and the product's gradient reads), or reads only their shapes: no
            # need to put back what the forward pass overwrote in it.
            dead_ids.add(anno.get(stmt, anno.Key.STACK_ID))
            removed.append(stmt)
            continue
        if isinstance(stmt, gast.For) and _empty(stmt.body) and anno.has(stmt, anno.Key.STACK_ID):
            # A replayed loop with nothing left to replay: drop it and its trip count.
            dead_ids.add(anno.get(stmt, anno.Key.STACK_ID))
            removed.append(stmt)
            continue
        if isinstance(stmt, gast.Pass) and len(stmts) > 1:
            continue
        kept.append(stmt)
    return kept


def _empty(block: list[gast.stmt]) -> bool:
    return all(isinstance(s, gast.Pass) for s in block)


# -- zero propagation --------------------------------------------------------------------


def _is_zero_constant(node: gast.expr) -> bool:
    return isinstance(node, gast.Constant) and type(node.value) is int and node.value == 0


class _Zeros:
    """Forward dataflow: names certainly zero, and names that may hold the int ``0`` an
    adjoint starts from (after a branch that did not write it, or at a loop's first
    iteration). Rewrites accumulations as it goes, and guards what is computed from a
    cotangent that may be that 0 (rules take arrays: ``P @ A``'s takes ``g @ A.T``),
    unless made with ``rewrite=False``: then it only computes the sets (loops ask that of
    their body until it settles, and must not change the body meanwhile)."""

    def __init__(self, ctx: TransformContext | None = None, rewrite: bool = True) -> None:
        self.ctx = ctx
        self.rewrite = rewrite
        # the adjoints some fact _present(adjoint, key) was made for: only their statements
        # look for facts among the zeros (a scan of the whole set per statement made a
        # function of n statements cost n * n)
        self._with_facts: set[str] = set()

    def block(
        self, stmts: list[gast.stmt], zeros: set[str], maybe: set[str] | None = None
    ) -> tuple[list[gast.stmt], set[str]]:
        """The statements rewritten, and the names zero after them. ``zeros`` and
        ``maybe`` (the names that may be zero, ``zeros`` among them; updated in place, as
        ``zeros``) are updated in place (a new set per statement made n statements cost
        n * n): callers pass sets of their own."""
        maybe = set(zeros) if maybe is None else maybe
        self._with_facts.update(fact[0] for fact in zeros if type(fact) is tuple)
        out = []
        for stmt in stmts:
            # (a callee's adjoints: those it returns as the int 0, or may; a part of a
            # container's adjoint, unless that part is certainly present)
            certain, possible = anno.get(stmt, anno.Key.ZERO_PARTS, ((), ()))
            part = anno.get(stmt, anno.Key.PART_OF)
            if part is not None and part[0] == "item" and _present(part[1], part[2]) in zeros:
                possible = ()
            stmt, zeros = self.stmt(stmt, zeros, maybe)
            zeros |= set(certain)
            maybe |= set(certain) | set(possible)
            if stmt is not None:
                out.append(stmt)
                out.extend(getattr(stmt, "__astgrad_extra__", []))
                if hasattr(stmt, "__astgrad_extra__"):
                    del stmt.__astgrad_extra__
        self.maybe_after = maybe
        return out, zeros

    def stmt(
        self, stmt: gast.stmt, zeros: set[str], maybe: set[str]
    ) -> tuple[gast.stmt | None, set[str]]:
        """``stmt`` rewritten, and the names zero after it. ``zeros`` also holds facts
        ``_present(d, key)``: the part ``key`` of the container adjoint ``d`` certainly
        holds a gradient (certain facts, joined as the zero names are)."""
        bound = target_names(stmt) if isinstance(stmt, gast.Assign) else set()
        known = set()
        if bound & self._with_facts:
            known = {fact for fact in zeros if type(fact) is tuple and fact[0] in bound}
        after = self._parts_after(stmt, known, zeros, maybe) if bound else set()
        self._with_facts.update(fact[0] for fact in after)
        stmt, zeros = self._stmt(stmt, zeros, maybe)
        if known or after:
            zeros = (zeros - known) | after
        return stmt, zeros

    def _parts_after(self, stmt: gast.stmt, known: set, zeros: set, maybe: set[str]) -> set:
        """The facts ``_present`` about the adjoint ``stmt`` assigns, after it (``known``:
        those before): ``add_field``/``add_at`` of a gradient that is not the int 0
        adds its key, ``without_field`` drops its key, a copy or a sum of adjoints
        (``add_adjoints`` keeps every part of either) has those of what it copies or
        adds, a rule's cotangent of a tuple (``Parts([g0, g1])``) has the positions
        whose part is computed from no name that may be the int 0; anything else
        forgets them."""
        if not isinstance(stmt.targets[0], gast.Name):
            return set()
        part = anno.get(stmt, anno.Key.PART_OF)
        if part is None:
            value = stmt.value
            if isinstance(value, gast.BinOp) and isinstance(value.op, gast.Add):
                added = [value.left, value.right]
            elif isinstance(value, gast.Call) and anno.get(stmt, anno.Key.ACCUMULATE):
                added = value.args if len(value.args) == 2 else []
            else:
                added = [value]
            keys: set = set()
            for term in added:
                if isinstance(term, gast.Name):
                    if term.id in self._with_facts:
                        keys.update(f[1] for f in zeros if type(f) is tuple and f[0] == term.id)
                elif self._is_parts(term):
                    keys.update(
                        position
                        for position, element in enumerate(term.args[0].elts)
                        if not (reads(element) & maybe or _is_zero_constant(element))
                    )
                else:
                    return set()
            return {_present(stmt.targets[0].id, key) for key in keys}
        if part[0] == "item":
            return set()
        kind, adjoint, key = part
        if stmt.targets[0].id != adjoint:
            return set()
        if kind == "drops":
            return known - {_present(adjoint, key)}
        # (the int 0 only from a name that may be it: ``dv * w`` with dv the int 0 is 0
        # again only where w is an int, which is rare, but counted)
        gradient = stmt.value.args[-1] if isinstance(stmt.value, gast.Call) else None
        if gradient is None or reads(gradient) & maybe or _is_zero_constant(gradient):
            return set(known)
        return known | {_present(adjoint, key)}

    def _is_parts(self, value: gast.expr) -> bool:
        """Whether ``value`` is ``Parts([...])`` (a rule's cotangent of a tuple)."""
        if not (
            isinstance(value, gast.Call)
            and isinstance(value.func, gast.Name)
            and len(value.args) == 1
            and not value.keywords
            and isinstance(value.args[0], (gast.List, gast.Tuple))
            and self.ctx is not None
        ):
            return False
        from ..runtime.rules.containers import Parts

        name = value.func.id
        return self.ctx.free_values.get(name, self.ctx.resolved_globals.get(name)) is Parts

    def _stmt(
        self, stmt: gast.stmt, zeros: set[str], maybe: set[str]
    ) -> tuple[gast.stmt | None, set[str]]:
        if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name):
            name = stmt.targets[0].id
            value = stmt.value
            linear_in = anno.get(stmt, anno.Key.LINEAR_IN)
            if linear_in is not None and linear_in in zeros:
                if _accumulates(stmt):
                    return None, zeros  # adding a zero contribution
                if self.rewrite:
                    stmt.value = gast.Constant(0, None)  # a part computed from a zero gradient
                zeros |= target_names(stmt)
                maybe |= target_names(stmt)
                return stmt, zeros
            if _accumulates(stmt) and name in zeros:
                if self.rewrite:
                    stmt.value = _first_write(value)
                zeros.discard(name)
                maybe.discard(name)
                if self._guard(stmt, linear_in, maybe, accumulating=False):
                    maybe.add(name)
                return stmt, zeros
            if _is_zero_constant(value) or (isinstance(value, gast.Name) and value.id in zeros):
                zeros.add(name)
                maybe.add(name)
                return stmt, zeros
            zeros -= target_names(stmt)
            if isinstance(value, gast.Name) and value.id in maybe:
                maybe.add(name)  # a copy
                return stmt, zeros
            if self._guard(stmt, linear_in, maybe, _accumulates(stmt)):
                maybe.add(name)
            else:
                maybe.discard(name)
            return stmt, zeros
        if isinstance(stmt, gast.If):
            body, z1 = self.block(stmt.body, set(zeros), set(maybe))
            m1 = self.maybe_after
            orelse, z2 = self.block(stmt.orelse, set(zeros), set(maybe))
            maybe |= m1 | self.maybe_after
            if self.rewrite:
                stmt.body = body or [gast.Pass()]
                stmt.orelse = orelse
            return stmt, z1 & z2
        if isinstance(stmt, gast.Assign):  # tuple targets
            linear_in = anno.get(stmt, anno.Key.LINEAR_IN)
            if linear_in is not None and linear_in in zeros:
                names = sorted(target_names(stmt))
                zeros.update(names)
                maybe.update(names)
                if not self.rewrite:
                    return stmt, zeros
                zero_parts = [
                    anno.copy_from(
                        gast.Assign(
                            targets=[build.store(n)],
                            value=gast.Constant(0, None),
                            type_comment=None,
                        ),
                        stmt,
                    )
                    for n in names
                ]
                first = zero_parts[0]
                first.__astgrad_extra__ = zero_parts[1:]
                return first, zeros
            zeros -= target_names(stmt)
            if self._guard(stmt, linear_in, maybe, accumulating=False):
                maybe |= target_names(stmt)
            else:
                maybe -= target_names(stmt)
            return stmt, zeros
        if isinstance(stmt, (gast.For, gast.While)):
            # What is zero on entry and stays zero through the body; what may be zero on
            # entry or after an iteration.
            head, head_maybe = set(zeros), set(maybe)
            analysis = _Zeros(self.ctx, rewrite=False)
            while True:
                _, after = analysis.block(stmt.body, set(head), set(head_maybe))
                new_head = head & after
                new_maybe = head_maybe | analysis.maybe_after
                if new_head == head and new_maybe == head_maybe:
                    break
                head, head_maybe = new_head, new_maybe
            maybe |= head_maybe
            if not self.rewrite:
                return stmt, head
            stmt.body, _ = self.block(stmt.body, set(head), set(head_maybe))
            if not stmt.body:
                stmt.body = [gast.Pass()]
            return stmt, head
        zeros -= target_names(stmt)
        maybe -= target_names(stmt)
        return stmt, zeros

    def _guard(
        self, stmt: gast.Assign, linear_in: str | None, maybe: set[str], accumulating: bool
    ) -> bool:
        """Where ``stmt`` computes from a cotangent that may still be the int 0, its
        value becomes ``<zero> if zero_cotangent(g) else <value>`` (exact: the statement
        is linear in ``g``), ``<zero>`` the adjoint as it was for an accumulation and 0
        else. Arithmetic is guarded too: ``2.0 * 0`` is a float zero, which the next
        rule's helper would not take and ``zero_cotangent`` does not count (a computed
        zero may carry a tangent). True when the targets may then be the int 0."""
        if linear_in is None or linear_in not in maybe:
            return False
        if self.rewrite and self.ctx is not None:
            from ..runtime.adjoints import zero_cotangent

            helper = self.ctx.bind_free("zero_cotangent", zero_cotangent)
            target = stmt.targets[0]
            if isinstance(target, gast.Name):
                zero: gast.expr = build.load(target.id) if accumulating else gast.Constant(0, None)
            elif isinstance(target, gast.Tuple) and all(
                isinstance(t, gast.Name) for t in target.elts
            ):
                zeros = [gast.Constant(0, None) for _ in target.elts]
                zero = gast.Tuple(elts=zeros, ctx=gast.Load())
            else:
                return True
            stmt.value = gast.IfExp(
                test=build.call(helper, build.load(linear_in)), body=zero, orelse=stmt.value
            )
        return True


def zero_adjoints(backward: list[gast.stmt], returned: list[str]) -> tuple[str, ...]:
    """For each of the adjoints a generated backward function returns: ``"zero"`` where
    it is certainly the int 0 an adjoint starts from (nothing flowed into it), ``"maybe"``
    where it may be (a branch or loop that did not write it, a guard's 0, a callee's),
    ``""`` where it never is. Callers' zeros pass reads this, so that a rule is never
    handed a callee's 0 (``reverse.user_call``)."""
    analysis = _Zeros(rewrite=False)
    _, zeros = analysis.block(backward, set())
    maybe = analysis.maybe_after | _guarded_zeros(backward) | zeros
    # "zero" only where nothing but ``d = 0`` ever names it: the final backward pass may
    # write into an adjoint in place (an element loop's buffer, dX[i] = ..., or a helper
    # changing it), which the analysis, made for the pass before those, does not see; a
    # "maybe" is guarded at run time, which is exact either way
    certain = {name for name in zeros if _only_zero_assigned(backward, name)}
    return tuple(
        "zero" if name in certain else "maybe" if name in maybe else "" for name in returned
    )


def _only_zero_assigned(stmts: list[gast.stmt], name: str) -> bool:
    """Whether every mention of ``name`` in ``stmts`` is ``name = 0``."""
    for stmt in statements(stmts):
        if blocks(stmt):
            continue  # (a compound statement's own statements are visited apart)
        if not any(isinstance(n, gast.Name) and n.id == name for n in gast.walk(stmt)):
            continue
        zero_assign = (
            isinstance(stmt, gast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], gast.Name)
            and stmt.targets[0].id == name
            and _is_zero_constant(stmt.value)
        )
        if not zero_assign:
            return False
    return True


def _guarded_zeros(stmts: list[gast.stmt]) -> set[str]:
    """Names some statement assigns ``0 if ... else ...`` (a guard the zeros pass wrote,
    which the analysis, without the annotation that made it, would take for a value)."""
    found = set()
    for stmt in statements(stmts):
        value = getattr(stmt, "value", None)
        if isinstance(stmt, gast.Assign) and isinstance(value, gast.IfExp):
            if _is_zero_constant(value.body) or _is_zero_constant(value.orelse):
                found |= target_names(stmt)
    return found


def _first_write(value: gast.expr) -> gast.expr:
    """What ``d = d + e`` leaves when ``d`` is zero: ``e`` (``add_at(0, ...)`` for helpers
    that add at a position)."""
    if isinstance(value, gast.BinOp):
        return value.right
    if len(value.args) == 2:  # add_adjoints(d, e)
        return value.args[1]
    value.args[0] = gast.Constant(0, None)
    return value


def _present(adjoint: str, key: object) -> tuple:
    """The fact, kept among the zeros pass's zero names, that the part ``key`` of the
    container or object adjoint ``adjoint`` certainly holds a gradient."""
    return (adjoint, key)


def _accumulates(stmt: gast.Assign) -> bool:
    """``d = d + e`` or ``d = add_adjoints(d, e)`` as made by ``reverse.accumulate``."""
    name = stmt.targets[0].id
    value = stmt.value
    if isinstance(value, gast.BinOp) and isinstance(value.op, gast.Add):
        return isinstance(value.left, gast.Name) and value.left.id == name
    if isinstance(value, gast.Call) and anno.get(stmt, anno.Key.ACCUMULATE):
        return (
            bool(value.args) and isinstance(value.args[0], gast.Name) and value.args[0].id == name
        )
    return False


# -- copy propagation ----------------------------------------------------------------------


def propagate_copies(stmts: list[gast.stmt], live_out: set[str]) -> list[gast.stmt]:
    """``a = b`` then reads of ``a``: read ``b``, when neither changes in between."""
    # Copies back go first: liveness must be found on the statements it is used on (a
    # dropped ``b = a`` that ended the block hid that ``b`` is live up to it).
    if not any(_copy_names(stmt) is not None for stmt in statements(stmts)):
        return stmts  # (no copy: nothing to do, and no liveness to find)
    stmts = _drop_copies_back_deep(stmts)
    liveness = OnDemandLiveness()
    liveness.block(stmts, set(live_out))
    return _propagate_block(stmts, liveness)


def _drop_copies_back_deep(stmts: list[gast.stmt]) -> list[gast.stmt]:
    for stmt in stmts:
        for block in blocks(stmt):
            block[:] = _drop_copies_back_deep(block) or [gast.Pass()]
    return _drop_copies_back(list(stmts))


def _propagate_block(stmts: list[gast.stmt], liveness: OnDemandLiveness) -> list[gast.stmt]:
    for stmt in stmts:
        for block in blocks(stmt):
            block[:] = _propagate_block(block, liveness) or [gast.Pass()]
    if not any(_copy_names(stmt) is not None for stmt in stmts):
        return stmts
    index = _BlockIndex(stmts)
    removed: set[int] = set()  # positions in stmts
    for i, stmt in enumerate(stmts):
        names = _copy_names(stmt)
        if names is None:
            continue
        a, b = names
        if a == b or _replace_forward(stmts, index, i, a, b, liveness):
            removed.add(i)  # x = x, or a copy whose reads now read its source
    return [stmt for i, stmt in enumerate(stmts) if i not in removed]


class _BlockIndex:
    """Where in one block each name is written and read, so that the scans forward from
    a copy go straight to the statements that matter instead of visiting every later
    one (which made a block of n copies cost n * n).

    A compound statement counts as writing and reading every name its body does, a
    simple one as what ``target_names`` and ``_header_reads`` say. The index is built once per
    block and not updated when ``_replace_forward`` renames reads: a scan from a copy of
    ``a = b`` renames only up to the first later write of ``a`` or ``b``, and a later
    scan that asks about ``a`` or ``b`` starts from such a write, past every statement
    renamed; about other names, the renaming changed nothing."""

    def __init__(self, stmts: list[gast.stmt]) -> None:
        self.written: dict[str, list[int]] = {}
        self.read: dict[str, list[int]] = {}
        for position, stmt in enumerate(stmts):
            compound = bool(blocks(stmt))
            written = _writes_deep(stmt) if compound else target_names(stmt)
            read = _reads_deep(stmt) if compound else _header_reads(stmt)
            for name in written:
                self.written.setdefault(name, []).append(position)
            for name in read:
                self.read.setdefault(name, []).append(position)

    def next_write(self, after: int, names: tuple[str, ...]) -> int | None:
        """The first position after ``after`` of a statement writing one of ``names``."""
        found = None
        for name in names:
            positions = self.written.get(name, ())
            k = bisect.bisect_right(positions, after)
            if k < len(positions) and (found is None or positions[k] < found):
                found = positions[k]
        return found

    def writes_after(self, after: int, names: tuple[str, ...]):
        """Positions after ``after`` of statements writing one of ``names``, in order."""
        runs = []
        for name in set(names):
            positions = self.written.get(name, [])
            runs.append(positions[bisect.bisect_right(positions, after) :])
        return sorted(set().union(*runs)) if len(runs) > 1 else runs[0]

    def reads_between(self, name: str, after: int, last: int) -> list[int]:
        """Positions in ``(after, last]`` of statements reading ``name``."""
        positions = self.read.get(name, [])
        return positions[
            bisect.bisect_right(positions, after) : bisect.bisect_right(positions, last)
        ]


def _copy_names(stmt: gast.stmt) -> tuple[str, str] | None:
    """(a, b) for a statement ``a = b`` between names."""
    if (
        isinstance(stmt, gast.Assign)
        and isinstance(stmt.targets[0], gast.Name)
        and isinstance(stmt.value, gast.Name)
        and not is_pop(stmt)
    ):
        return stmt.targets[0].id, stmt.value.id
    return None


def _drop_copies_back(stmts: list[gast.stmt]) -> list[gast.stmt]:
    """``a = b`` ... ``b = a`` with neither written in between: the second changes nothing
    (a statement that reads its own target saves the adjoint aside, and the reset and
    first accumulation can hand it straight back)."""
    if not any(_copy_names(stmt) is not None for stmt in stmts):
        return stmts
    index = _BlockIndex(stmts)
    dropped: set[int] = set()
    for i, stmt in enumerate(stmts):
        names = _copy_names(stmt)
        if names is None or id(stmt) in dropped:
            continue
        a, b = names
        # Only statements that write a or b can be the copy back or end the search.
        for position in index.writes_after(i, (a, b)):
            later = stmts[position]
            if _copy_names(later) == (b, a):
                dropped.add(id(later))
                continue
            break
    return [stmt for stmt in stmts if id(stmt) not in dropped]


def coalesce_copies(stmts: list[gast.stmt], live_out: set[str]) -> list[gast.stmt]:
    """``b = f(...)`` ... ``a = b`` with ``b`` read nowhere else: define ``a`` directly."""
    if not any(_copy_names(stmt) is not None for stmt in statements(stmts)):
        return stmts  # (no copy: no liveness to find)
    liveness = OnDemandLiveness()
    liveness.block(stmts, set(live_out))
    return _coalesce_block(stmts, liveness)


def _coalesce_block(stmts: list[gast.stmt], liveness: OnDemandLiveness) -> list[gast.stmt]:
    for stmt in stmts:
        for block in blocks(stmt):
            block[:] = _coalesce_block(block, liveness) or [gast.Pass()]
    out = list(stmts)
    i = 0
    while i < len(out):
        copy_stmt = out[i]
        if (
            isinstance(copy_stmt, gast.Assign)
            and isinstance(copy_stmt.targets[0], gast.Name)
            and isinstance(copy_stmt.value, gast.Name)
            and not is_pop(copy_stmt)
        ):
            a, b = copy_stmt.targets[0].id, copy_stmt.value.id
            if not liveness.live_after(copy_stmt, b) and _rename_definition(out, i, a, b):
                del out[i]
                continue
        i += 1
    return out


def _rename_definition(stmts: list[gast.stmt], copy_index: int, a: str, b: str) -> bool:
    """Find ``b``'s definition before ``stmts[copy_index]`` in the same block and make it
    define ``a``, if nothing in between touches ``a`` or reads ``b``."""
    for j in range(copy_index - 1, -1, -1):
        stmt = stmts[j]
        if blocks(stmt):
            return False
        if b in target_names(stmt):
            if a in reads(stmt) or is_pop(stmt) or not isinstance(stmt, gast.Assign):
                return False
            for target in walk(stmt.targets[0]):
                if isinstance(target, gast.Name) and target.id == b:
                    target.id = a
            return True
        if b in reads(stmt) or a in reads(stmt) or a in target_names(stmt):
            return False
    return False


def _replace_forward(
    stmts: list[gast.stmt],
    index: _BlockIndex,
    start: int,
    a: str,
    b: str,
    liveness: OnDemandLiveness,
) -> bool:
    """Replace reads of ``a`` by ``b`` after ``stmts[start]`` while both hold; True when
    ``a`` is no longer needed afterwards."""
    last = index.next_write(start, (a, b))
    if last is None:
        # Neither changes again in this block: the copy serves every later read of a,
        # unless a is read after the block.
        last = len(stmts) - 1
        if liveness.live_after(stmts[last], a):
            return False
    else:
        stmt = stmts[last]
        if blocks(stmt):
            return False  # written somewhere inside a loop or branch
        written = target_names(stmt)
        if a in written and b not in written and a not in _header_reads(stmt):
            pass  # a is redefined: earlier reads were the copy's
        elif b in written and not liveness.live_after(stmt, a):
            pass  # b changes, but a is not read again
        else:
            return False
    for position in index.reads_between(a, start, last):
        _rename_reads(stmts[position], a, b)
    return True


def _writes_deep(stmt: gast.stmt) -> set[str]:
    names = target_names(stmt)
    for block in blocks(stmt):
        for sub in block:
            names |= _writes_deep(sub)
    return names


def _reads_deep(stmt: gast.stmt) -> set[str]:
    return reads(stmt)


def _rename_reads(node: gast.AST, old: str, new: str) -> None:
    for sub in walk(node):
        if isinstance(sub, gast.Name) and isinstance(sub.ctx, gast.Load) and sub.id == old:
            sub.id = new


# -- forward statements ----------------------------------------------------------------


def drop_pushes(stmts: list[gast.stmt], dead_ids: set[int]) -> list[gast.stmt]:
    return without_statements(stmts, lambda stmt: anno.get(stmt, anno.Key.STACK_ID) in dead_ids)


def _foldable_position(stmt: gast.stmt) -> gast.AST | None:
    """The part of a statement evaluated once, right where the statement starts."""
    if isinstance(stmt, (gast.Assign, gast.Expr, gast.Return)):
        return stmt.value
    if isinstance(stmt, gast.If):
        return stmt.test
    if isinstance(stmt, gast.For):
        return stmt.iter
    return None


def _count_reads(node: gast.AST, name: str) -> int:
    return sum(
        1
        for n in walk(node)
        if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load) and n.id == name
    )


def fold_temporaries(stmts: list[gast.stmt], keep: set[str]) -> list[gast.stmt]:
    """Fold each temporary the backward pass does not read into its single use."""
    uses: dict[str, int] = {}
    for node in walk(gast.Module(body=stmts, type_ignores=[])):
        if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Load):
            uses[node.id] = uses.get(node.id, 0) + 1
    return _fold_block(stmts, keep, uses)


def _fold_block(stmts: list[gast.stmt], keep: set[str], uses: dict[str, int]) -> list[gast.stmt]:
    for stmt in stmts:
        for field in ("body", "orelse"):
            block = getattr(stmt, field, None)
            if block:
                setattr(stmt, field, _fold_block(block, keep, uses))
    out = list(stmts)
    changed = True
    while changed:
        changed = False
        for i in range(len(out) - 1, -1, -1):
            stmt = out[i]
            if not (
                anno.get(stmt, anno.Key.TEMPORARY)
                and isinstance(stmt, gast.Assign)
                and isinstance(stmt.targets[0], gast.Name)
            ):
                continue
            name = stmt.targets[0].id
            if name in keep or uses.get(name, 0) != 1:
                continue
            j = _single_use(out, i, name, reads(stmt.value))
            if j is None:
                continue
            _substitute_name(out[j], _foldable_position(out[j]), name, stmt.value)
            del out[i]
            changed = True
    return out


def _single_use(stmts: list[gast.stmt], i: int, name: str, inputs: set[str]) -> int | None:
    """The index of the statement after ``i`` that can take ``name``'s value expression in
    place of ``name``: nothing in between may change what the expression reads."""
    for j in range(i + 1, len(stmts)):
        stmt = stmts[j]
        position = _foldable_position(stmt)
        if position is not None and name in reads(position):
            return j if _count_reads(position, name) == 1 else None
        if name in reads(stmt) or not _transparent(stmt, inputs | {name}):
            return None
    return None


def _transparent(stmt: gast.stmt, names: set[str]) -> bool:
    """True when evaluating an expression over ``names`` after ``stmt`` instead of before
    gives the same value: ``stmt`` is stack bookkeeping, or a plain assignment of other
    names whose value calls nothing but known primitives."""
    if anno.has(stmt, anno.Key.STACK_ID):
        return not (target_names(stmt) & names)
    if not isinstance(stmt, gast.Assign) or isinstance(stmt.targets[0], gast.Subscript):
        return False
    if target_names(stmt) & names:
        return False
    callee = anno.get(stmt, anno.Key.CALLEE)
    if any(isinstance(n, gast.Call) for n in walk(stmt.value)):
        return callee is not None and callee.kind in ("rule", "nondiff")
    return True


def _is_push(stmt: gast.stmt) -> bool:
    return anno.has(stmt, anno.Key.STACK_ID) and isinstance(stmt, gast.Expr)


def _substitute_name(stmt: gast.stmt, position: gast.AST, name: str, value: gast.expr) -> None:
    def substitute(node: gast.AST) -> gast.AST:
        if type(node) is gast.Name and node.id == name and isinstance(node.ctx, gast.Load):
            return value
        return node

    replaced = rewrite(position, substitute)
    if isinstance(stmt, (gast.Assign, gast.Expr, gast.Return)):
        stmt.value = replaced
    elif isinstance(stmt, gast.If):
        stmt.test = replaced
    elif isinstance(stmt, gast.For):
        stmt.iter = replaced


# -- the passes -------------------------------------------------------------------------
#
# Each is one entry of ``pipeline.PASSES``, in this order: zeros first, since dropping a
# zero contribution leaves the statements computing it dead; dead code before copies, so
# copy propagation meets only the copies something reads; the forward statements last,
# once ``fuse`` and ``shape_saves`` have settled what the backward pass reads.


def zeros(program: Program, ctx: TransformContext) -> Program:
    """Zero propagation. Guarantees: no backward statement adds a contribution into an
    adjoint that is certainly zero there (it assigns it instead), and no contribution
    linear in a certainly-zero gradient is computed or added. Certainly zero too: the
    cotangent of a maximum that the result provably does not depend on (the max a
    softmax subtracts, ``invariance``), which is assigned 0."""
    _assign_zero(program.backward, invariance.zero_cotangents(program, ctx))
    program.backward, _ = _Zeros(ctx).block(program.backward, set())
    return program


def _assign_zero(backward: list[gast.stmt], adjoints: set[str]) -> None:
    """Every backward assignment to one of ``adjoints`` assigns 0 instead: the sum of its
    contributions is zero (a partial sum is read by nothing but the next contribution).
    An adjoint also written by another kind of statement is left as it is."""
    writes = [s for s in statements(backward) if target_names(s) & adjoints]
    for name in adjoints:
        mine = [s for s in writes if name in target_names(s)]
        if all(isinstance(s, gast.Assign) and _target_ids(s) == [name] for s in mine):
            for s in mine:
                s.value = gast.Constant(0, None)


def _target_ids(stmt: gast.Assign) -> list[str]:
    return (
        [t.id for t in stmt.targets if isinstance(t, gast.Name)] if len(stmt.targets) == 1 else []
    )


def dead_code(program: Program, ctx: TransformContext) -> Program:
    """Dead code. Guarantees: every backward statement's result is read (by a later
    statement or as a gradient returned), or it pops or writes into an array; the stack
    ids of the pops it removed are in ``program.dead_stack_ids``."""
    program.backward = eliminate_dead(
        program.backward,
        program.live_out,
        program.dead_stack_ids,
        _shape_only_helpers(ctx),
        may_share_memory(program.primal, _ranks(ctx), _modules(ctx)),
        fresh_aliases(program.primal, _ranks(ctx), _modules(ctx)),
    )
    return program


def _shape_only_helpers(ctx: TransformContext) -> dict[str, frozenset[int]]:
    """The helpers generated code calls that read some arguments for their shape only
    (the rule table's marks), by the names the code calls them."""
    bound = {**ctx.resolved_globals, **ctx.free_values}
    return {
        name: positions
        for name, value in bound.items()
        if (positions := shape_only_positions(value))
    }


def _drop_needless_guards(stmts: list[gast.stmt]) -> None:
    """The zeros pass's guards that later passes made needless, dropped: a rule that
    simplified to its cotangent leaves ``0 if zero_cotangent(g) else g``, which is ``g``,
    and ``d if zero_cotangent(g) else d + g``, which is ``d + g`` (``d + 0`` is ``d``);
    the copy that is left can then go."""
    for stmt in statements(stmts):
        if not (isinstance(stmt, gast.Assign) and isinstance(stmt.value, gast.IfExp)):
            continue
        guard = stmt.value
        test = guard.test
        if not (isinstance(test, gast.Call) and len(test.args) == 1):
            continue
        g = test.args[0]
        if not (isinstance(g, gast.Name) and isinstance(test.func, gast.Name)):
            continue
        if not test.func.id.startswith("zero_cotangent"):
            continue
        value = guard.orelse
        if _is_zero_constant(guard.body) and isinstance(value, gast.Name) and value.id == g.id:
            stmt.value = value
        elif (
            isinstance(guard.body, gast.Name)
            and isinstance(value, gast.BinOp)
            and isinstance(value.op, gast.Add)
            and isinstance(value.left, gast.Name)
            and value.left.id == guard.body.id
            and isinstance(value.right, gast.Name)
            and value.right.id == g.id
        ):
            stmt.value = value


def copies(program: Program, ctx: TransformContext) -> Program:
    """Copy propagation. Guarantees: no backward ``a = b`` between names is left where the
    reads of ``a`` could read ``b``, or ``b``'s definition could define ``a``; and, as
    after ``dead_code``, every statement's result is read."""
    live_out = program.live_out
    _drop_needless_guards(program.backward)
    backward = propagate_copies(program.backward, live_out)
    backward = coalesce_copies(backward, live_out)
    program.backward = eliminate_dead(
        backward,
        live_out,
        program.dead_stack_ids,
        _shape_only_helpers(ctx),
        may_share_memory(program.primal, _ranks(ctx), _modules(ctx)),
        fresh_aliases(program.primal, _ranks(ctx), _modules(ctx)),
    )
    return program


def unread_pushes(program: Program, ctx: TransformContext) -> Program:
    """Guarantees: every push left in the forward statements has its pop in the backward
    ones (those of ``program.dead_stack_ids`` are gone)."""
    program.primal = drop_pushes(program.primal, program.dead_stack_ids)
    return program


def temporaries(program: Program, ctx: TransformContext) -> Program:
    """Guarantees: ``program.backward_reads`` holds the names the backward statements read
    from the forward ones, and each temporary of ``normalize`` that the backward pass does
    not read is folded into its single use in the forward statements, which read like the
    user's lines again."""
    live_out = program.live_out
    program.backward_reads = OnDemandLiveness().block(program.backward, set(live_out))
    keep = program.backward_reads | live_out | program.result_reads()
    program.primal = fold_temporaries(program.primal, keep)
    return program


def pushed_names(primal: list[gast.stmt]) -> set[str]:
    """The names a push of ``primal`` reads: ``push(x)`` or ``push(shape_of(x))`` reads
    ``x``, which must be bound (to None at first) when the push runs."""
    return set().union(
        *(
            reads(stmt.value.args[0])
            for stmt in statements(primal)
            if _is_push(stmt) and stmt.value.args
        )
    )


__all__ = ["copies", "dead_code", "temporaries", "unread_pushes", "zeros"]

"""fuse: what one user line sends to one gradient, as one expression.

After ``optimize`` has removed zeros, dead code and copies, the backward block of a line
like ``a = a * 0.99 + 0.01 * a * a`` still sends its gradient to ``a`` in three
accumulations through two temporaries::

    dmul = da
    dmul_2 = da * a
    da = da * (0.01 * a)
    da = da + dmul_2 * 0.01
    da = da + dmul * 0.99

On numbers every store and load costs as much as the arithmetic. Within the statements of
one user line (never across lines, so each ``# grad of:`` block still holds its line's
gradient), this pass

* *merges* ``x = A`` and a later ``x = x + B`` into ``x = A + B`` where nothing in between
  reads or writes ``x`` or changes what ``B`` reads; and ``x = A`` and a later ``x_out =
  x + B`` (the form ``optimize.copies`` gives ``x = x + B; x_out = x``) into ``x_out = A
  + B`` where, besides, nothing reads that ``x`` again;
* *folds* a temporary ``t = E`` of arithmetic only (no calls, so moving it changes
  nothing but when it is computed) into its single read later in the block;
* then simplifies each merged sum (``algebra.simplify``): common factors out, like terms
  together, so the block above becomes ``da = da * (0.99 + 0.02 * a)``.

Helper calls (``unbroadcast``, ``matmul_grad_right``) stay on lines of their own: folding
them saves nothing measurable on arrays and costs readability.
"""

from __future__ import annotations

from typing import Any

import gast
import numpy as np

from ..runtime.rules.arithmetic import (
    dot_grad_left,
    dot_grad_right,
    matmul_grad_left,
    matmul_grad_right,
)
from ..runtime.rules.linalg_helpers import norm_grad
from ..runtime.rules.shared import expand_reduced, reduced_count, unbroadcast
from . import algebra, anno, ranks, unit_axes
from .context import TransformContext
from .dataflow import all_names, blocks, reads, statements, target_names
from .loop_shapes import drop_invariant_shape_saves
from .origin import same_line
from .program import Program
from .walk import rewrite, walk


def transform(program: Program, ctx: TransformContext) -> Program:
    """Guarantees: within one user line's backward statements, no accumulation ``x = x +
    B`` follows an assignment of ``x`` it could merge with, no arithmetic temporary read
    once is left unfolded, and each merged sum over numbers and arrays is simplified; no
    shape stand-in is saved per iteration of a top-level loop that cannot change that
    shape (``loop_shapes``)."""
    keep = program.live_out | program.result_reads()
    values = _values(ctx, program)
    adjoints = _adjoints(ctx, values)
    numbers = _float_numbers(program, adjoints)
    bound = {**ctx.resolved_globals, **ctx.free_values}
    numpy = frozenset(name for name, value in bound.items() if value is np)
    pure = frozenset(name for name, value in bound.items() if _is_pure_helper(value))
    program.backward = fuse(
        program.backward, keep, program.pop, values, adjoints, numbers, numpy, pure
    )
    reducers = frozenset(name for name, value in bound.items() if value is unbroadcast)
    _tidy_signs(program.backward, values, adjoints, numbers, reducers)
    _numbers_outside_sums(program.backward, reducers, frozenset(program.numbers))
    _norm_scales_cancelled(program.backward, bound)
    _share_duplicates(program.backward, program.pop, pure)
    _new_axes_undone(program.backward, _single_use(program.backward, keep))
    # (the stand-ins shape_reads saves in loops, where no shape can change: not saved)
    drop_invariant_shape_saves(program, ctx)
    return program


def _values(ctx: TransformContext, program: Program) -> frozenset[str]:
    """Names (and adjoints) known to hold a number or an array, not a list or tuple."""
    values = {name for name, kind in ctx.kinds.items() if kind[:1] == ("value",)}
    # (and what ranks proved an array or a number, whatever the kinds say: u = u_new)
    facts = getattr(ctx.shape_classes, "ranks", None) or {}
    values |= {name for name, fact in facts.items() if ranks.ndim(fact) is not None}
    values |= {ctx.namer.adjoint(name) for name in values if ctx.namer.has_adjoint(name)}
    return frozenset(values | program.numbers)


def _adjoints(ctx: TransformContext, values: frozenset[str]) -> frozenset[str]:
    """The adjoints among ``values``: gradients, of a float or complex dtype (or the int 0
    of "nothing flowed"), never bool arrays, so ``-`` applies to them."""
    return frozenset(
        ctx.namer.adjoint(name)
        for name in values
        if ctx.namer.has_adjoint(name) and ctx.namer.adjoint(name) in values
    )


def _share_duplicates(stmts: list[gast.stmt], pop: str, pure: frozenset[str]) -> None:
    """``x = E`` and then ``x = add_adjoints(x, E)`` (or ``x = x + E``) with the same
    ``E``, in one line's block, become ``x = E`` and ``x = add_adjoints(x, x)``: what
    ``np.sum(h * h)`` sends to ``h`` twice is computed once. Where ``x`` is not known to
    hold a number or an array ``algebra`` cannot add the two up; this does for any ``x``,
    and exactly: ``E`` is arithmetic and calls of helpers the rule table marks (pure
    functions of their arguments), and nothing between the two reads or changes ``x`` or
    what ``E`` reads, so both computations give the same value."""
    for stmt in stmts:
        for block in blocks(stmt):
            _share_duplicates(block, pop, pure)
    # What each statement reads and may change, found once for all the scans (a scan
    # changes only the statement it stops at: forgotten there)
    facts: dict[int, tuple[set[str], set[str]]] = {}

    def facts_of(stmt: gast.stmt) -> tuple[set[str], set[str]]:
        found = facts.get(id(stmt))
        if found is None:
            found = facts[id(stmt)] = (reads(stmt), _changes(stmt, pop, pure))
        return found

    for i, first in enumerate(stmts):
        name = _target(first)
        if name is None or not _pure(first.value, pure):
            continue
        inputs = reads(first.value)
        if name in inputs:
            continue
        for later in stmts[i + 1 :]:
            if _target(later) == name and _same_line(first, later):
                added = _accumulated_value(later, name)
                if added is not None and gast.dump(added[1]) == gast.dump(first.value):
                    holder, field = added[0], added[2]
                    again = gast.Name(name, gast.Load(), None, None)
                    if isinstance(holder, list):
                        holder[field] = again
                    else:
                        setattr(holder, field, again)
                    facts.pop(id(later), None)
                break
            if blocks(later):
                break
            read, changed = facts_of(later)
            if name in read or (changed & (inputs | {name})):
                break


def _is_pure_helper(value: Any) -> bool:
    """Whether ``value`` is one of the helpers a rule's contribution to one gradient is
    made of that compute a new value from their arguments and change none of them."""
    return any(value is helper for helper in _PURE_HELPERS)


_PURE_HELPERS = (
    unbroadcast,
    expand_reduced,
    reduced_count,
    matmul_grad_left,
    matmul_grad_right,
    dot_grad_left,
    dot_grad_right,
)


def _accumulated_value(stmt: gast.stmt, name: str) -> tuple[Any, gast.expr, Any] | None:
    """For ``name = name + B`` or ``name = add_adjoints(name, B)`` (an accumulation):
    (what holds ``B``, ``B``, where in it: a field's name, or an index of a list); else
    None."""
    if not anno.get(stmt, anno.Key.ACCUMULATE):
        return None
    value = stmt.value
    if (
        isinstance(value, gast.BinOp)
        and isinstance(value.op, gast.Add)
        and isinstance(value.left, gast.Name)
        and value.left.id == name
    ):
        return value, value.right, "right"
    if (
        isinstance(value, gast.Call)
        and len(value.args) == 2
        and not value.keywords
        and isinstance(value.args[0], gast.Name)
        and value.args[0].id == name
    ):
        return value.args, value.args[1], 1
    return None


def _pure(value: gast.expr, pure: frozenset[str]) -> bool:
    """Arithmetic of names and numbers, and calls of the helpers in ``pure`` on those."""
    for node in walk(value):
        if isinstance(node, gast.Call):
            if not (isinstance(node.func, gast.Name) and node.func.id in pure) or node.keywords:
                return False
        elif not isinstance(
            node,
            (
                gast.BinOp,
                gast.UnaryOp,
                gast.Name,
                gast.Constant,
                gast.operator,
                gast.unaryop,
                gast.expr_context,
            ),
        ):
            return False
    return True


def _tidy_signs(
    stmts: list[gast.stmt],
    values: frozenset[str],
    adjoints: frozenset[str],
    numbers: frozenset[str],
    reducers: frozenset[str] = frozenset(),
) -> None:
    """Each backward statement over numbers and arrays with its negations where they cost
    least (``algebra.tidy``): a rule's ``-g * ans / b`` (the gradient of ``a / b``) for a
    number ``b`` is ``g * ans / -b``, one flip of a number where there was a pass over an
    array; and outside the ``unbroadcast`` (``reducers``) they are the argument of
    (``algebra.negation_outside``). Exact, so it may run on any statement, not only on
    folded ones."""
    for stmt in statements(stmts):
        if isinstance(stmt, gast.Assign) and reducers:
            stmt.value = algebra.negation_outside(stmt.value, reducers)
        if isinstance(stmt, gast.Assign) and _operands(stmt.value) <= values:
            stmt.value = algebra.tidy(stmt.value, adjoints, numbers)


def _written_number(node: gast.expr) -> bool:
    return isinstance(node, gast.Constant) and type(node.value) in (int, float)


def _numbers_outside_sums(
    stmts: list[gast.stmt], reducers: frozenset[str], numbers: frozenset[str]
) -> None:
    """A number's gradient, a sum, with the numbers that scale every element taken
    outside it (``algebra.numbers_outside_sums``)."""
    if not reducers:
        return
    for stmt in statements(stmts):
        if isinstance(stmt, gast.Assign):
            stmt.value = algebra.numbers_outside_sums(stmt.value, reducers, numbers)


def _norm_scales_cancelled(stmts: list[gast.stmt], bound: dict[str, object]) -> None:
    """A norm's gradient scaled by the norm itself, the norm cancelled
    (``algebra.norm_scale_cancelled``)."""
    norm_grads = frozenset(name for name, value in bound.items() if value is norm_grad)
    if not norm_grads:
        return
    for stmt in statements(stmts):
        if isinstance(stmt, gast.Assign):
            stmt.value = algebra.norm_scale_cancelled(stmt.value, norm_grads)


def _float_numbers(program: Program, adjoints: frozenset[str]) -> frozenset[str]:
    """Names surely holding a number that ``-`` applies to (never a bool, whose NumPy
    scalar refuses it): the gradients among the numbers, and numbers every binding of
    which is a power, a true division or arithmetic with a number written in the code
    (``s = lengthscale ** 2``, ``w = 2 * s``)."""
    numbers = program.numbers
    kinds: dict[str, bool] = {}
    for stmt in statements(program.primal):
        for name in target_names(stmt):
            arithmetic = (
                isinstance(stmt, gast.Assign)
                and isinstance(stmt.value, gast.BinOp)
                and (
                    isinstance(stmt.value.op, (gast.Pow, gast.Div))
                    # (a number written in the code times anything: never a bool)
                    or (
                        isinstance(stmt.value.op, (gast.Mult, gast.Add, gast.Sub))
                        and (_written_number(stmt.value.left) or _written_number(stmt.value.right))
                    )
                )
            )
            kinds[name] = kinds.get(name, True) and arithmetic
    powers = {name for name, arithmetic in kinds.items() if arithmetic}
    return frozenset((numbers & adjoints) | (numbers & powers))


def fuse(
    stmts: list[gast.stmt],
    keep: set[str],
    pop: str,
    values: frozenset[str],
    adjoints: frozenset[str] = frozenset(),
    numbers: frozenset[str] = frozenset(),
    numpy: frozenset[str] = frozenset(),
    pure: frozenset[str] = frozenset(),
) -> list[gast.stmt]:
    """``stmts`` (backward statements) with each line's contributions fused. Names in
    ``keep`` are read after ``stmts`` and are never folded away; ``pop`` is the name the
    stack's pop is bound to (a call of it must not move); ``values`` the names that hold
    numbers or arrays, the only sums ``algebra`` may rewrite (``+`` on lists concatenates);
    ``adjoints`` those of them that are gradients and ``numbers`` the numbers ``-`` applies
    to, onto which a folded negation may move (``algebra.tidy``); ``numpy`` the names bound
    to the NumPy module (``np.where`` of names folds as arithmetic does, and masks of one
    condition add up: ``algebra.combine_wheres``); ``pure`` the names of helpers that
    change none of their arguments (a temporary folds past a call of one)."""
    merged: set[int] = set()  # ids of the statements holding merged sums
    # Simplifying a sum can leave a temporary with one read where it had two (like terms
    # added up), and a merge takes away a read and a binding of the name it merges into:
    # either can let a name fold that could not, so the names read once are counted
    # again and another round runs. A fold only moves a temporary's reads into the one
    # statement that read it (each other name is read as often as before), and a round
    # already folds until nothing more folds: after a round of folds alone, another finds
    # nothing.
    for _ in range(_ROUNDS):
        changed = _Round(
            _single_use(stmts, keep), pop, values, merged, adjoints, numbers, numpy, pure
        )
        stmts = changed.block(stmts, keep)
        if not changed.counts_changed:
            break
    return stmts


_ROUNDS = 4


def _new_axes_undone(stmts: list[gast.stmt], single: set[str]) -> None:
    """``t = E[:, None]`` and later ``x = t[:, 0]`` (``t`` read there alone, ``single``:
    the names assigned and read once) become ``x = E`` where the first was: the index
    takes away exactly the axes the first added, so ``x`` is ``E`` itself (the gradient of
    ``u[:, None] * v[None, :]`` for ``u``, ``dM.dot(v)[:, None]``, then read back as
    ``u``'s, ``du_item[:, 0]``, is ``dM.dot(v)``). Nothing between the two may mention
    ``x``, which is now bound earlier."""
    for stmt in stmts:
        for block in blocks(stmt):
            _new_axes_undone(block, single)
    i = 0
    while i < len(stmts):
        first = stmts[i]
        name = _target(first)
        added = _new_axes(first.value) if name in single else None
        if added is None:
            i += 1
            continue
        for j in range(i + 1, len(stmts)):
            later = stmts[j]
            target = _target(later)
            value = getattr(later, "value", None)
            if (
                target is not None
                and isinstance(value, gast.Subscript)
                and isinstance(value.value, gast.Name)
                and value.value.id == name
            ):
                if _index_parts(value.slice, added) and not any(
                    _mentions(s, target) for s in stmts[i + 1 : j]
                ):
                    first.targets = [gast.Name(target, gast.Store(), None, None)]
                    first.value = first.value.value
                    del stmts[j]
                break
            if _mentions(later, name):
                break
        i += 1


def _new_axes(value: gast.expr) -> list[bool] | None:
    """For ``E[...]`` indexed by new axes and whole slices only, at least one new axis:
    True per new axis, False per whole slice (trailing whole slices left out)."""
    found = unit_axes.new_axes(value.slice) if isinstance(value, gast.Subscript) else None
    if found is None:
        return None
    kept = list(found)
    while not kept[-1]:  # (a new axis is among them)
        kept.pop()
    return kept


def _index_parts(index: gast.expr, added: list[bool]) -> bool:
    """Whether ``index`` takes the axes ``added`` marks away (0 for each new axis, a whole
    slice for each other; trailing whole slices left out): the inverse of the new axes."""
    parts = list(index.elts) if isinstance(index, gast.Tuple) else [index]
    while parts and unit_axes.is_whole_slice(parts[-1]):
        parts.pop()
    if len(parts) != len(added):
        return False
    return all(
        (isinstance(part, gast.Constant) and type(part.value) is int and part.value == 0)
        if new
        else unit_axes.is_whole_slice(part)
        for part, new in zip(parts, added)
    )


def _single_use(stmts: list[gast.stmt], keep: set[str]) -> set[str]:
    """Names assigned once and read once in ``stmts``, and not read after them."""
    counts: dict[str, int] = {}
    definitions: dict[str, int] = {}
    for node in walk(gast.Module(body=stmts, type_ignores=[])):
        if isinstance(node, gast.Name):
            table = counts if isinstance(node.ctx, gast.Load) else definitions
            table[node.id] = table.get(node.id, 0) + 1
    return {
        name
        for name, n in counts.items()
        if n == 1 and definitions.get(name) == 1 and name not in keep
    }


class _Round:
    def __init__(
        self,
        single: set[str],
        pop: str,
        values: frozenset[str],
        merged: set[int],
        adjoints: frozenset[str],
        numbers: frozenset[str],
        numpy: frozenset[str],
        pure: frozenset[str],
    ):
        self.single, self.pop, self.values, self.merged = single, pop, values, merged
        self.adjoints, self.numbers, self.numpy, self.pure = adjoints, numbers, numpy, pure
        #: whether a merge or a simplification changed how often some name is read
        self.counts_changed = False

    def block(self, stmts: list[gast.stmt], keep: set[str] | None) -> list[gast.stmt]:
        """``stmts`` fused; ``keep`` the names read after them if they are the outermost
        block, else None."""
        for stmt in stmts:
            for block in blocks(stmt):
                block[:] = self.block(block, None) or [gast.Pass()]
        out = list(stmts)
        while True:
            merged = _merge(out, self.merged, self.pop, keep)
            folded = _fold(
                out, self.single, self.pop, self.adjoints, self.numbers, self.numpy, self.pure
            )
            if not (merged or folded):
                break
            self.counts_changed |= merged
        for stmt in out:
            if id(stmt) in self.merged and self.numpy:
                combined = algebra.combine_wheres(stmt.value, self.numpy)
                if combined is not stmt.value:
                    stmt.value = combined
                    self.counts_changed = True
            if id(stmt) in self.merged and _operands(stmt.value) <= self.values:
                simpler = algebra.simplify(stmt.value)
                if gast.dump(simpler) != gast.dump(stmt.value):
                    stmt.value = simpler
                    self.counts_changed = True
        return out


# -- merging accumulations -----------------------------------------------------------------


def _target(stmt: gast.stmt) -> str | None:
    """The name a plain assignment binds (not a pop's: pops have stack ids)."""
    if (
        type(stmt) is gast.Assign
        and len(stmt.targets) == 1
        and type(stmt.targets[0]) is gast.Name
        and not anno.has(stmt, anno.Key.STACK_ID)
    ):
        return stmt.targets[0].id
    return None


def _added(stmt: gast.stmt, name: str, pop: str) -> gast.expr | None:
    """``B`` when ``stmt`` is ``name = name + B`` and ``B`` does not read ``name``."""
    value = stmt.value
    if (
        anno.get(stmt, anno.Key.ACCUMULATE)
        and isinstance(value, gast.BinOp)
        and isinstance(value.op, gast.Add)
        and isinstance(value.left, gast.Name)
        and value.left.id == name
        and name not in reads(value.right)
        and not _calls_pop(value.right, pop)
    ):
        return value.right
    return None


def _merge(stmts: list[gast.stmt], merged: set[int], pop: str, keep: set[str] | None) -> bool:
    """Merge accumulations into earlier assignments in ``stmts`` (a block); ``keep`` the
    names read after it when it is the outermost block, else None (unknown)."""
    changed = False
    # Most statements have no later accumulation of their target, and need no scan:
    # how many accumulations of each name lie after the statement at hand says which.
    ahead: dict[str, int] = {}
    for stmt in stmts:
        name = _accumulated(stmt)
        if name is not None:
            ahead[name] = ahead.get(name, 0) + 1
    i = 0
    counted = -1  # the last position whose own accumulation is no longer in ``ahead``
    while i < len(stmts):
        if counted < i:
            own = _accumulated(stmts[i])
            if own is not None:
                ahead[own] -= 1
            counted = i
        name = _target(stmts[i])
        if name is not None and ahead.get(name, 0) > 0:
            taken = _merge_next(stmts, i, pop, keep)
            if taken is not None:
                ahead[name] -= 1  # ``taken``, an accumulation of ``name``, is gone
                merged.add(id(stmts[i]))
                changed = True
                continue
        i += 1
    return changed


def _accumulated(stmt: gast.stmt) -> str | None:
    """The name whose gradient ``stmt`` adds to, if it is an accumulation: ``x`` of ``x =
    x + B``, and of ``x_out = x + B`` (what ``optimize.copies`` makes of ``x = x + B;
    x_out = x``)."""
    if not anno.get(stmt, anno.Key.ACCUMULATE) or _target(stmt) is None:
        return None
    value = stmt.value
    if isinstance(value, gast.BinOp) and isinstance(value.op, gast.Add):
        if isinstance(value.left, gast.Name):
            return value.left.id
    return _target(stmt)


def _merge_next(
    stmts: list[gast.stmt], i: int, pop: str, keep: set[str] | None
) -> gast.stmt | None:
    """Merge the next accumulation of ``stmts[i]``'s target into it; the statement
    merged (and removed), or None."""
    first = stmts[i]
    name = _target(first)
    if name is None or _calls_pop(first.value, pop):
        return None
    for j in range(i + 1, len(stmts)):
        later = stmts[j]
        if _target(later) == name and _same_line(first, later):
            addend = _added(later, name, pop)
            if addend is not None and _movable(stmts[i + 1 : j], reads(addend), name, pop):
                first.value = gast.BinOp(left=first.value, op=gast.Add(), right=addend)
                del stmts[j]
                return later
        elif _accumulated(later) == name and _same_line(first, later):
            # ``x = A; ...; x_out = x + B`` where nothing reads this ``x`` again: ``x_out =
            # A + B`` in ``x = A``'s place (the two contributions of ``s`` to ``t = s * s``
            # after ``s = s + a``, which ``copies`` split over two names, add up again).
            other = _target(later)
            addend = _added(later, name, pop)
            if (
                addend is not None
                and other not in reads(addend)
                and _movable(stmts[i + 1 : j], reads(addend), name, pop)
                and not any(_mentions(stmt, other) for stmt in stmts[i + 1 : j])
                and _dead_after(stmts, j, name, keep)
            ):
                first.value = gast.BinOp(left=first.value, op=gast.Add(), right=addend)
                first.targets[0].id = other
                del stmts[j]
                return later
        # A statement reading or changing ``name`` ends the search: it names ``name``
        # somewhere (a read, a target, an argument a call may change in place) or
        # restores into it. (One walk, where reads and changes were two and more.)
        if name in all_names(later) or anno.get(later, anno.Key.RESTORES) == name:
            return None
    return None


def _mentions(stmt: gast.stmt, name: str) -> bool:
    """Whether ``stmt`` reads, binds or restores into ``name``, or passes it to a call."""
    return name in all_names(stmt) or anno.get(stmt, anno.Key.RESTORES) == name


def _dead_after(stmts: list[gast.stmt], j: int, name: str, keep: set[str] | None) -> bool:
    """Whether the value ``name`` holds at ``stmts[j]`` is read nowhere after it: the next
    statement that names it binds it anew without reading it, or none does and ``keep``
    (the names read after the outermost block) says it is not read later."""
    for stmt in stmts[j + 1 :]:
        if _mentions(stmt, name):
            return _target(stmt) == name and name not in reads(stmt.value)
    return keep is not None and name not in keep


def _movable(between: list[gast.stmt], inputs: set[str], name: str, pop: str) -> bool:
    """Whether an expression over ``inputs`` computed before ``between`` instead of after
    has the same value, and ``between`` does not see ``name`` change."""
    for stmt in between:
        if blocks(stmt) or isinstance(stmt, gast.Expr):
            return False
        if name in reads(stmt) or (_changes(stmt, pop) & (inputs | {name})):
            return False
    return True


# -- folding temporaries -------------------------------------------------------------------


def _fold(
    stmts: list[gast.stmt],
    single: set[str],
    pop: str,
    adjoints: frozenset[str],
    numbers: frozenset[str],
    numpy: frozenset[str],
    pure: frozenset[str],
) -> bool:
    changed = False
    i = 0
    while i < len(stmts):
        stmt = stmts[i]
        name = _target(stmt)
        if name is None or name not in single or not _arithmetic(stmt.value, numpy):
            i += 1
            continue
        inputs = reads(stmt.value)
        for j in range(i + 1, len(stmts)):
            later = stmts[j]
            if name in reads(later):
                if (
                    isinstance(later, gast.Assign)
                    and isinstance(later.targets[0], gast.Name)
                    and name not in reads(later.targets[0])
                    and not _calls_pop(later.value, pop)
                    and _same_line(stmt, later)
                ):
                    later.value = algebra.tidy(
                        _substitute(later.value, name, stmt.value), adjoints, numbers
                    )
                    del stmts[i]
                    changed = True
                    i -= 1
                break
            if (
                blocks(later)
                or isinstance(later, gast.Expr)
                or (_changes(later, pop, pure) & (inputs | {name}))
            ):
                break
        i += 1
    return changed


def _arithmetic(value: gast.expr, numpy: frozenset[str] = frozenset()) -> bool:
    """Numbers, names and operators only, and ``np.where`` of names and numbers (``numpy``
    the names of the NumPy module): computing it later cannot fail differently or see a
    changed object (no other calls, no attribute or item reads)."""
    wheres = {
        id(node.func)
        for node in walk(value)
        if algebra.is_where(node, numpy)
        and all(isinstance(a, (gast.Name, gast.Constant)) for a in node.args)
    }
    for node in walk(value):
        if isinstance(node, gast.Call) and id(node.func) in wheres:
            continue
        if isinstance(node, gast.Attribute) and id(node) in wheres:
            continue
        if not isinstance(
            node,
            (
                gast.BinOp,
                gast.UnaryOp,
                gast.Name,
                gast.Constant,
                gast.operator,
                gast.unaryop,
                gast.expr_context,
            ),
        ):
            return False
    return True


def _substitute(expression: gast.expr, name: str, value: gast.expr) -> gast.expr:
    if isinstance(expression, gast.Name) and expression.id == name:
        return value

    def substitute(node: gast.AST) -> gast.AST:
        if type(node) is gast.Name and node.id == name and isinstance(node.ctx, gast.Load):
            return value
        return node

    return rewrite(expression, substitute)


# -- small analyses ------------------------------------------------------------------------


def _changes(stmt: gast.stmt, pop: str, pure: frozenset[str] = frozenset()) -> set[str]:
    """Names ``stmt`` may change: what it assigns, the array a restore writes into, and
    every name passed to a call other than ``pop()`` and the helpers in ``pure`` (a
    helper could update it in place)."""
    changed = set(target_names(stmt))
    restored = anno.get(stmt, anno.Key.RESTORES)
    if restored is not None:
        changed.add(restored)
    for node in walk(stmt):
        if isinstance(node, gast.Call) and not (
            isinstance(node.func, gast.Name) and (node.func.id == pop or node.func.id in pure)
        ):
            for argument in [*node.args, *(k.value for k in node.keywords)]:
                changed |= reads(argument)
    return changed


def _operands(node: gast.AST) -> set[str]:
    """The names ``node`` reads, except those it calls."""
    nodes = walk(node)
    called = {id(n.func) for n in nodes if isinstance(n, gast.Call)}
    return {n.id for n in nodes if isinstance(n, gast.Name) and id(n) not in called}


def _calls_pop(node: gast.AST, pop: str) -> bool:
    return any(
        isinstance(n, gast.Call) and isinstance(n.func, gast.Name) and n.func.id == pop
        for n in walk(node)
    )


def _same_line(a: gast.stmt, b: gast.stmt) -> bool:
    return same_line(anno.get(a, anno.Key.ORIGIN), anno.get(b, anno.Key.ORIGIN))

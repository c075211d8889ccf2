"""adds_in_place: an adjoint that the generated code alone holds takes slices' adjoints in
place.

A read of a slice (``u[1:-1, 2:]``, a stencil's shifted neighbours) gives, in the backward
pass::

    du = du + scatter_grad(du_item, u, (slice(1, -1, None), slice(2, None, None)))

that is zeros of ``u``'s size, the slice's adjoint written in, and another new array for
the sum: three passes over the whole array for a slice's worth of gradient, where a
hand-written backward pass adds into the slice of an array it owns. Adjoints are never
changed in place in general, since another name may hold the same array. But a statement
that just made ``du``'s array (a sum, a product: every arithmetic result is a new array;
``scatter_grad``'s zeros; the adjoint ``assigned_adjoint`` gives back after an assignment
into a NumPy array, a copy), followed by statements none of which mentions ``du``,
leaves that array held by ``du`` alone. Adding into it then changes nothing any other name
sees::

    du_item_7, du = assigned_adjoint(du, u, (slice(1, -1, None), slice(1, -1, None)))
    ...                                          # no statement mentions du
    du = add_scattered(du, u, (slice(1, -1, None), slice(1, -1, None)), du_item_6)
    u = u_before
    du = add_scattered(du, u, (slice(1, -1, None), slice(2, None, None)), du_item_4)

``runtime.element_adjoints.add_scattered`` adds in place where the array, its shape,
dtype and the index allow it, and makes the sum otherwise (a number, a device array, an
index that may repeat a position): the same value either way. A sum ``du + scatter(...)``
whose ``du`` is not known to be owned stays one, and makes the array the next ones add
into. Ownership is followed through one block's straight-line statements only: each block
starts owning nothing (a loop's body is entered from before the loop and from its own
end), and a compound statement ends the ownership of every name it mentions.

``add_scattered`` has ``add_at``'s parameters and value (``add_at`` does not change its
argument), so the readers of generated source that change it (the Numba rewrite, batched
Hessians) take it as ``add_at``.

Runs after ``fuse`` and ``step_sums`` (each accumulation is then the statement it will
be), before ``release``, whose ``del`` statements it would otherwise count as reads.
"""

from __future__ import annotations

import gast

from ..runtime.adjoints import assigned_adjoint
from ..runtime.element_adjoints import add_scattered
from ..runtime.rules.indexing import scatter_grad
from . import anno, ranks
from .build import assign, call, load
from .context import TransformContext
from .dataflow import all_names
from .program import Program


def transform(program: Program, ctx: TransformContext) -> Program:
    """Guarantees: ``d = d + scatter_grad(v, x, i)`` becomes ``d = add_scattered(d, x, i,
    v)`` where the statements before it in its block made ``d``'s array and none since
    mentions ``d``, and ``d = scatter_grad(...) + scatter_grad(v, x, i)`` the first
    scatter then ``add_scattered``; nothing else changes."""
    bound = {**ctx.resolved_globals, **ctx.free_values}
    scatters = {name for name, value in bound.items() if value is scatter_grad}
    if not scatters:
        return program
    takes = {name for name, value in bound.items() if value is assigned_adjoint}
    facts = getattr(ctx.shape_classes, "ranks", None) or {}
    program.backward = _Rewriter(ctx, scatters, takes, facts).block(program.backward)
    return program


class _Rewriter:
    def __init__(
        self, ctx: TransformContext, scatters: set[str], takes: set[str], facts: dict
    ) -> None:
        self.ctx = ctx
        self.scatters = scatters
        self.takes = takes
        self.facts = facts
        self.helper: str | None = None

    def block(self, stmts: list[gast.stmt]) -> list[gast.stmt]:
        owned: set[str] = set()  # names whose array no other name can hold
        out: list[gast.stmt] = []
        for stmt in stmts:
            if _is_compound(stmt):
                for field in ("body", "orelse", "handlers", "finalbody"):
                    inner = getattr(stmt, field, None)
                    if isinstance(inner, list) and inner and isinstance(inner[0], gast.stmt):
                        setattr(stmt, field, self.block(inner))
                owned -= all_names(stmt)
                out.append(stmt)
                continue
            found = self._scattered_sum(stmt)
            if found is None:
                owned -= all_names(stmt)  # a read may make an alias; a binding, another array
                if self._makes_new(stmt):
                    owned.add(_target(stmt))
                out.append(stmt)
                continue
            total, parts, onto = found
            if not onto:
                # d = scatter_grad(...) + ...: the first scatter's zeros are d's new array
                out.append(_like(assign(total, parts[0]), stmt))
                parts = parts[1:]
            elif total not in owned:
                # The first sum stays one: its result is the new array the rest add into.
                first, parts = parts[0], parts[1:]
                out.append(_like(assign(total, _sum(total, first)), stmt) if parts else stmt)
            for part in parts:
                value, container, index = part.args
                added = call(self._helper(), load(total), container, index, value)
                out.append(_in_place_like(assign(total, added), stmt))
            owned.add(total)
        return out

    def _helper(self) -> str:
        if self.helper is None:
            self.helper = self.ctx.bind_free("add_scattered", add_scattered)
        return self.helper

    def _scattered_sum(self, stmt: gast.stmt) -> tuple[str, list[gast.Call], bool] | None:
        """``(d, [scatter_grad(v, x, i), ...], True)`` of ``d = d + scatter_grad(v, x, i) +
        ...``, and ``(d, [...], False)`` of ``d = scatter_grad(v, x, i) + ...`` (the first
        scatter makes the array), where no ``v``, ``x`` or ``i`` mentions ``d``; else
        None."""
        if not (
            isinstance(stmt, gast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], gast.Name)
        ):
            return None
        total = stmt.targets[0].id
        parts = []
        value = stmt.value
        while isinstance(value, gast.BinOp) and isinstance(value.op, gast.Add):
            if not self._is_scatter(value.right, total):
                return None
            parts.append(value.right)
            value = value.left
        if not parts:
            return None
        if isinstance(value, gast.Name) and value.id == total:
            return total, parts[::-1], True  # (in the order they are added)
        if self._is_scatter(value, total):
            return total, [value, *parts[::-1]], False
        return None

    def _is_scatter(self, node: gast.expr, total: str) -> bool:
        """Whether ``node`` is ``scatter_grad(v, x, i)`` with no argument mentioning
        ``total``."""
        return (
            isinstance(node, gast.Call)
            and isinstance(node.func, gast.Name)
            and node.func.id in self.scatters
            and len(node.args) == 3
            and not node.keywords
            and not any(isinstance(a, gast.Starred) for a in node.args)
            and total not in all_names(node)
        )

    def _makes_new(self, stmt: gast.stmt) -> bool:
        """Whether ``stmt`` binds one name to an array nothing else holds, when it binds it
        to a NumPy array: arithmetic's result, ``scatter_grad``'s (zeros, written into),
        or the adjoint ``assigned_adjoint`` gives back after an assignment into a NumPy
        array (a copy of the one it took)."""
        if not isinstance(stmt, gast.Assign) or len(stmt.targets) != 1:
            return False
        value, target = stmt.value, stmt.targets[0]
        if isinstance(target, gast.Name):
            if isinstance(value, gast.Call) and isinstance(value.func, gast.Name):
                return value.func.id in self.scatters  # (zeros with the value written in)
            return isinstance(value, (gast.BinOp, gast.UnaryOp)) and not isinstance(
                getattr(value, "op", None), gast.Not
            )
        return (
            isinstance(target, gast.Tuple)
            and len(target.elts) == 2
            and all(isinstance(e, gast.Name) for e in target.elts)
            and target.elts[0].id != target.elts[1].id
            and isinstance(value, gast.Call)
            and isinstance(value.func, gast.Name)
            and value.func.id in self.takes
            and len(value.args) == 3
            and isinstance(value.args[1], gast.Name)
            and ranks.is_numpy(self.facts.get(value.args[1].id))
        )


def _target(stmt: gast.stmt) -> str | None:
    """The one name an assignment binds (the adjoint, for ``assigned_adjoint``'s pair)."""
    if not isinstance(stmt, gast.Assign) or len(stmt.targets) != 1:
        return None
    target = stmt.targets[0]
    if isinstance(target, gast.Name):
        return target.id
    if isinstance(target, gast.Tuple) and len(target.elts) == 2:
        second = target.elts[1]
        return second.id if isinstance(second, gast.Name) else None
    return None


def _is_compound(stmt: gast.stmt) -> bool:
    return any(
        isinstance(getattr(stmt, field, None), list) and getattr(stmt, field)
        for field in ("body", "orelse", "handlers", "finalbody")
    )


def _sum(total: str, scattered: gast.Call) -> gast.expr:
    return gast.BinOp(left=load(total), op=gast.Add(), right=scattered)


def _like(stmt: gast.stmt, original: gast.stmt) -> gast.stmt:
    """``stmt`` with ``original``'s annotations (its line, what it is the adjoint of)."""
    anno.copy_from(stmt, original)
    return stmt


def _in_place_like(stmt: gast.stmt, original: gast.stmt) -> gast.stmt:
    """``_like``, without the annotations saying it is a plain sum ``d = d + e``."""
    _like(stmt, original)
    for key in (anno.Key.ACCUMULATE, anno.Key.LINEAR_IN):
        getattr(stmt, anno.SLOT, {}).pop(key, None)
    return stmt

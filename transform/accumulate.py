"""accumulate: element loops add their adjoints into an array in place.

An element loop (``u_new[i] = u[i] + k * (u[i - 1] - 2 * u[i] + u[i + 1])``) gets, per
element, adjoint statements that never change an array in place, since another name may
hold it::

    du_new_item, du_new = assigned_adjoint(du_new, u_new, i)   # copies du_new
    du = add_at(du, u, i + 1, dadd_2)                           # a new du, of u's size

so one iteration costs as much as the whole array. Inside one backward loop, where every
statement that reads or writes ``du`` is one of those two, with one NumPy array ``u``
(``ranks``: every value the name holds is a NumPy array of a known ndim) and int indices,
nothing else can hold ``du``'s array while the loop runs, once it is an array of the
loop's own. So the loop starts from one (``du = gradient_buffer(du, u)``: a copy, or
zeros) and changes it in place::

    du_new = gradient_buffer(du_new, u_new)
    du = gradient_buffer(du, u)
    for _ in range(pop()):
        du_new_item = du_new[i]      # a NumPy scalar: a copy, not a view
        du_new[i] = 0
        du[i + 1] = du[i + 1] + dadd_2

After the loop ``du`` is an ordinary adjoint again: the statements after it never change
it in place. The buffer is made before the loop, where ``u`` holds what it held when the
forward loop ended; it must be surely bound there (a parameter, or assigned before the
loop on every path), or is None (the placeholder of a name that may be unbound, which
the loop then cannot read).

Runs after ``remat`` (whose index expressions, ``i + 1``, it accepts), before the
dead-code passes (the restores of ``u_new`` that only ``assigned_adjoint`` read go dead).
"""

from __future__ import annotations

import copy
from typing import Any

import gast

from ..runtime import adjoints, element_adjoints
from ..runtime.rules.indexing import scatter_grad
from . import anno, ranks
from .build import assign, call, load
from .context import TransformContext
from .dataflow import all_names, bound_names, statements
from .program import Program

_ADD = "add"
_SCATTER = "scatter"
_TAKE = "take"


def transform(program: Program, ctx: TransformContext) -> Program:
    """Guarantees: in a backward loop where an adjoint ``dX`` is only added into
    (``add_at``, ``scatter_grad``) and taken from (``assigned_adjoint``) at int indices
    of one NumPy array that the loop does not rebind and that is surely bound before it,
    those statements change ``dX`` in place, in a buffer made for it before the loop."""
    facts = getattr(ctx.shape_classes, "ranks", None)
    if not facts:
        return program
    bound = {**ctx.resolved_globals, **ctx.free_values}
    helpers = {name: _ADD for name, value in bound.items() if value is adjoints.add_at}
    helpers.update(
        (name, _TAKE) for name, value in bound.items() if value is adjoints.assigned_adjoint
    )
    helpers.update((name, _SCATTER) for name, value in bound.items() if value is scatter_grad)
    if not helpers:
        return program
    rewriter = _Rewriter(ctx, facts, helpers, _surely_bound_at_loops(program.node))
    program.backward = rewriter.block(program.backward)
    return program


class _Rewriter:
    def __init__(
        self,
        ctx: TransformContext,
        facts: dict[str, Any],
        helpers: dict[str, str],
        bound_at: dict[Any, set[str]],
    ) -> None:
        self.ctx = ctx
        self.facts = facts
        self.helpers = helpers
        self.bound_at = bound_at
        self.buffer_name: str | None = None

    def block(self, stmts: list[gast.stmt]) -> list[gast.stmt]:
        out: list[gast.stmt] = []
        for stmt in stmts:
            if isinstance(stmt, gast.For):
                out.extend(self.loop(stmt))
            else:
                for field in ("body", "orelse"):
                    inner = getattr(stmt, field, None)
                    if isinstance(inner, list) and inner:
                        setattr(stmt, field, self.block(inner))
                out.append(stmt)
        return out

    def loop(self, loop: gast.For) -> list[gast.stmt]:
        """The buffers to make before ``loop``, then ``loop`` with its element adjoints
        changed in place (outer loops first: one buffer serves a whole nest)."""
        origin = anno.get(loop, anno.Key.ORIGIN)
        surely = self.bound_at.get(_key(origin)) if origin is not None else None
        before = []
        if surely is not None:
            for adjoint, container in sorted(self._candidates(loop, surely).items()):
                before.append(self._buffer(adjoint, container, loop))
                _rewrite(loop.body, adjoint, self.helpers)
        loop.body = self.block(loop.body)
        return [*before, loop]

    def _candidates(self, loop: gast.For, surely: set[str]) -> dict[str, str]:
        """adjoint name -> the array it is the adjoint of, for the adjoints ``loop`` may
        change in place."""
        uses: dict[str, list] = {}
        for stmt in statements(loop.body):
            if isinstance(stmt, (gast.For, gast.While, gast.If)):
                # A nested header's names are read by the header alone.
                header = stmt.iter if isinstance(stmt, gast.For) else stmt.test
                for name in all_names(header):
                    uses.setdefault(name, []).append(None)
                if isinstance(stmt, gast.For):
                    for name in all_names(stmt.target):
                        uses.setdefault(name, []).append(None)
                continue
            for name in all_names(stmt):
                uses.setdefault(name, []).append(stmt)
        rebound = set()
        for stmt in statements(loop.body):
            rebound |= bound_names(stmt)
        for name in all_names(loop.iter) | all_names(loop.target):
            uses.setdefault(name, []).append(None)
        found = {}
        for adjoint, stmts in uses.items():
            containers = {self._element_use(stmt, adjoint) for stmt in stmts}
            if len(containers) != 1:
                continue
            (container,) = containers
            if container is None or container in rebound or container not in surely:
                continue
            found[adjoint] = container
        return found

    def _element_use(self, stmt: gast.stmt | None, adjoint: str) -> str | None:
        """The array ``stmt`` adds ``adjoint``'s element into or takes it from, when that
        is all it does with ``adjoint`` and can do it in place; else None."""
        found = _match(stmt, adjoint, self.helpers)
        if found is None:
            return None
        helper, container, index, _ = found
        fact = self.facts.get(container)
        if not (ranks.is_numpy(fact) and ranks.is_int_index(index, self.facts)):
            return None
        parts = len(index.elts) if isinstance(index, gast.Tuple) else 1
        left = ranks.ndim(fact) - parts
        # A row of a matrix may take a row's adjoint; one taken out must be a number (a
        # NumPy scalar is a copy, a row a view the zeroing after it would change).
        if left < 0 or (helper == _TAKE and left != 0):
            return None
        return container

    def _buffer(self, adjoint: str, container: str, loop: gast.For) -> gast.stmt:
        if self.buffer_name is None:
            self.buffer_name = self.ctx.bind_free(
                "gradient_buffer", element_adjoints.gradient_buffer
            )
        stmt = assign(adjoint, call(self.buffer_name, load(adjoint), load(container)))
        anno.copy_from(stmt, loop, anno.Key.PART, anno.Key.ORIGIN)
        return stmt


def _match(
    stmt: gast.stmt | None, adjoint: str, helpers: dict[str, str]
) -> tuple[str, str, gast.expr, gast.expr] | None:
    """``(helper, container, index, value)`` of a statement that adds into ``adjoint``
    at an element (``dX = add_at(dX, C, index, value)``, ``dX = dX + scatter_grad(value,
    C, index)``) or takes an element out of it (``value, dX = assigned_adjoint(dX, C,
    index)``, ``value`` the name taking it) and does nothing else with ``adjoint``."""
    if not isinstance(stmt, gast.Assign) or len(stmt.targets) != 1:
        return None
    value, target = stmt.value, stmt.targets[0]
    if isinstance(value, gast.BinOp):  # dX = dX + scatter_grad(g, C, index)
        if not (
            isinstance(value.op, gast.Add)
            and isinstance(value.left, gast.Name)
            and value.left.id == adjoint
        ):
            return None
        first, value = value.left, value.right
    else:
        first = None
    if not (
        isinstance(value, gast.Call)
        and isinstance(value.func, gast.Name)
        and not value.keywords
        and not any(isinstance(arg, gast.Starred) for arg in value.args)
    ):
        return None
    helper, args = helpers.get(value.func.id), value.args
    if helper == _SCATTER and first is not None and len(args) == 3:
        (part, container, index), first = args, first
    elif helper in (_ADD, _TAKE) and first is None and args:
        first = args[0]
        if helper == _ADD and len(args) == 4:
            container, index, part = args[1:]
        elif helper == _TAKE and len(args) == 3:
            container, index = args[1:]
            if not (
                isinstance(target, gast.Tuple)
                and len(target.elts) == 2
                and all(isinstance(e, gast.Name) for e in target.elts)
                and target.elts[1].id == adjoint
                and target.elts[0].id != adjoint
            ):
                return None
            part = target.elts[0]
        else:
            return None
    else:
        return None
    if helper != _TAKE and not (isinstance(target, gast.Name) and target.id == adjoint):
        return None
    if not (
        isinstance(first, gast.Name)
        and first.id == adjoint
        and isinstance(container, gast.Name)
        and container.id != adjoint
        and not any(adjoint in all_names(node) for node in (container, index, part))
    ):
        return None
    return (_ADD if helper == _SCATTER else helper), container.id, index, part


def _rewrite(stmts: list[gast.stmt], adjoint: str, helpers: dict[str, str]) -> None:
    """Replace, in ``stmts`` and their nested blocks, the element statements of ``adjoint``
    with their in-place forms."""
    for position in range(len(stmts) - 1, -1, -1):
        stmt = stmts[position]
        for field in ("body", "orelse"):
            inner = getattr(stmt, field, None)
            if isinstance(inner, list) and inner:
                _rewrite(inner, adjoint, helpers)
        found = _match(stmt, adjoint, helpers)
        if found is None:
            continue
        helper, _, index, part = found
        if helper == _ADD:
            # du[i] = du[i] + g (not +=: the passes after this one read plain assignments)
            total = gast.BinOp(
                left=_element(adjoint, index, gast.Load()), op=gast.Add(), right=part
            )
            new = [_into(adjoint, index, total, stmt)]
        else:
            new = [
                _like(assign(part.id, _element(adjoint, index, gast.Load())), stmt),
                _into(adjoint, index, gast.Constant(0, None), stmt),
            ]
        stmts[position : position + 1] = new


def _element(adjoint: str, index: gast.expr, ctx: gast.expr_context) -> gast.Subscript:
    return gast.Subscript(value=load(adjoint), slice=copy.deepcopy(index), ctx=ctx)


def _into(adjoint: str, index: gast.expr, value: gast.expr, like: gast.stmt) -> gast.stmt:
    target = _element(adjoint, index, gast.Store())
    return _like(gast.Assign(targets=[target], value=value, type_comment=None), like)


def _like(stmt: gast.stmt, original: gast.stmt) -> gast.stmt:
    """``stmt`` with ``original``'s annotations but the one saying what it accumulates
    (it accumulates in place, which no later pass should take for ``d = d + e``)."""
    anno.copy_from(stmt, original)
    for key in (anno.Key.ACCUMULATE, anno.Key.LINEAR_IN):
        getattr(stmt, anno.SLOT, {}).pop(key, None)
    return stmt


# -- which names are surely bound when a loop starts ------------------------------------


def _surely_bound_at_loops(node: gast.FunctionDef) -> dict[Any, set[str]]:
    """Per forward loop's origin, the names surely bound when it starts (parameters, and
    names every path to it assigns); loops whose origins are not told apart are left out."""
    params = {a.id for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs}
    found: dict[Any, set[str]] = {}
    seen: set[Any] = set()
    _walk_bound(node.body, set(params), found, seen)
    return found


def _walk_bound(
    stmts: list[gast.stmt], surely: set[str], found: dict[Any, set[str]], seen: set[Any]
) -> set[str]:
    """``surely`` after ``stmts``, recording it at each loop."""
    surely = set(surely)
    for stmt in stmts:
        if isinstance(stmt, (gast.For, gast.While)):
            origin = anno.get(stmt, anno.Key.ORIGIN)
            key = _key(origin)
            if origin is None:
                pass  # (no backward loop finds it)
            elif key in seen:
                found.pop(key, None)  # two loops of one origin: neither is told apart
            else:
                seen.add(key)
                found[key] = set(surely)
            inside = surely | (bound_names(stmt) if isinstance(stmt, gast.For) else set())
            _walk_bound(stmt.body, inside, found, seen)
            _walk_bound(stmt.orelse, surely, found, seen)
            # After a loop: what its body binds may not have been bound (no iteration).
        elif isinstance(stmt, gast.If):
            arms = _walk_bound(stmt.body, surely, found, seen)
            other = _walk_bound(stmt.orelse, surely, found, seen)
            surely |= arms & other
        elif isinstance(stmt, gast.Assign):
            surely |= bound_names(stmt)
        else:
            for field in ("body", "orelse"):
                inner = getattr(stmt, field, None)
                if isinstance(inner, list) and inner:
                    _walk_bound(inner, surely, found, seen)
    return surely


def _key(origin: Any) -> Any:
    """An origin as a dict key."""
    try:
        hash(origin)
    except TypeError:
        return id(origin)
    return origin

"""step_sums: a loop's per-step contributions to one gradient summed as one product.

A backward loop that adds ``matmul_grad_right(g, h, Wh)`` (``h.T @ g``) into ``dWh`` at
every step, and does nothing else with ``dWh``, computes ``sum_t h_t.T @ g_t``: one
product of the steps' rows stacked. The pass writes it so::

    dWh_steps = StepSum(matmul_grad_right)         # before the loop
    for _ in range(pop()):
        ...
        dWh_steps.add(dmatmul_2, h, Wh)            # was: dWh = dWh + matmul_grad_right(...)
    dWh = dWh + dWh_steps.total()                  # after it

and :class:`runtime.step_sums.StepSum` multiplies the kept steps together, or adds step by
step where their form does not allow it (``runtime/step_sums.py``). A recurrent model's
weight gradients then cost a few BLAS calls for the whole sequence instead of one per step
each, as a person optimizing the backward pass by hand would write it.

It applies to an accumulation ``d = d + helper(a, ...)`` at the top level of a ``for``
loop's body, for a helper of ``runtime.step_sums.STACKED`` (the products' right-hand
gradients, ``unbroadcast``), where:

- ``d`` appears nowhere else in the loop (the sum is read only after it);
- the helper's arguments after the ones that change per step (the weight ``Wh``, the
  bias ``b`` a gradient is summed to) are names the loop does not assign;
- nothing in the loop may write into an array in place (no item or attribute store, no
  ``op=``, only calls of NumPy, of the rules' helpers and of the stack), since the kept
  steps' arrays are read after the loop.

``undo`` writes such code back as it was, for the readers of generated source that take
it statement by statement (``transform/jit.py``'s Numba rewrite, the batched Hessian).
"""

from __future__ import annotations

import functools
import types
from typing import Any

import gast

from ..runtime.step_sums import STACKED, StepSum
from . import anno, build, ranks
from .context import TransformContext
from .dataflow import all_names, statements, target_names
from .program import Program

#: methods and NumPy functions that write into an array (generated backward code calls
#: none of them; a loop calling one is left as it is)
_CHANGING = {
    "fill", "sort", "put", "itemset", "resize", "partition", "setfield", "copyto", "place",
    "putmask", "fill_diagonal", "put_along_axis", "at",
}  # fmt: skip


def transform(program: Program, ctx: TransformContext) -> Program:
    """Guarantees: a backward loop's accumulation into a gradient it reads nowhere else,
    of a contribution ``runtime.step_sums.STACKED`` knows, goes through a ``StepSum``
    made before the loop and read once after it; nothing else changes."""
    program.backward = _block(program.backward, ctx, program)
    return program


def _block(stmts: list[gast.stmt], ctx: TransformContext, program: Program) -> list:
    out: list[gast.stmt] = []
    for stmt in stmts:
        for field in ("body", "orelse"):
            inner = getattr(stmt, field, None)
            if isinstance(inner, list) and inner and isinstance(inner[0], gast.stmt):
                setattr(stmt, field, _block(inner, ctx, program))
        if isinstance(stmt, gast.For) and not stmt.orelse:
            before, after = _defer(stmt, ctx, program)
            for summed in after:
                _start_from_the_sum(summed, out)
            out.extend(before)
            out.append(stmt)
            out.extend(after)
        else:
            out.append(stmt)
    return out


def _defer(loop: gast.For, ctx: TransformContext, program: Program) -> tuple[list, list]:
    """The statements to put before and after ``loop`` (whose body it rewrites)."""
    if not _changes_nothing_in_place(loop, ctx, program):
        return [], []
    assigned = target_names(loop)
    mentions: dict[str, int] = {}
    for stmt in statements(loop.body):
        assigned |= target_names(stmt)
    for node in gast.walk(loop):
        if isinstance(node, gast.Name):
            mentions[node.id] = mentions.get(node.id, 0) + 1
    before, after = [], []
    for position, stmt in enumerate(loop.body):
        found = _accumulation(stmt, ctx)
        if found is None:
            continue
        total, helper, arguments = found
        varying = STACKED[helper][0]
        fixed = arguments[varying:]
        if mentions.get(total) != 2 or any(a.id in assigned for a in fixed):
            continue
        if not _may_stack(helper, arguments, ctx):
            continue
        steps = ctx.namer.new(f"{total}_steps")
        maker = ctx.bind_free("StepSum", StepSum)
        made = build.assign(steps, build.call(maker, stmt.value.right.func))
        adding = gast.Expr(
            value=gast.Call(
                func=gast.Attribute(value=build.load(steps), attr="add", ctx=gast.Load()),
                args=stmt.value.right.args,
                keywords=[],
            )
        )
        summed = build.assign(
            total,
            gast.BinOp(
                left=build.load(total),
                op=gast.Add(),
                right=gast.Call(
                    func=gast.Attribute(value=build.load(steps), attr="total", ctx=gast.Load()),
                    args=[],
                    keywords=[],
                ),
            ),
        )
        anno.copy_from(adding, stmt, anno.Key.ORIGIN, anno.Key.PART)
        for new in (made, summed):  # (printed with the loop's own lines)
            anno.copy_from(new, loop, anno.Key.ORIGIN)
            anno.copy_from(new, stmt, anno.Key.PART)
        loop.body[position] = adding
        before.append(made)
        after.append(summed)
    return before, after


def _may_stack(helper: object, arguments: list[gast.expr], ctx: TransformContext) -> bool:
    """Whether no argument of the accumulation has a known ndim (``ranks``; a gradient's
    is its value's) other than those its steps stack in."""
    facts = getattr(ctx.shape_classes, "ranks", None) or {}
    for argument, wanted in zip(arguments, STACKED[helper][3]):
        if isinstance(argument, gast.Name):
            name = ctx.namer.primal(argument.id) or argument.id
            known = ranks.ndim(facts.get(name))
        else:
            known = ranks.ndim(ranks.of(argument, facts))
        if known is not None and known not in wanted:
            return False
    return True


def _start_from_the_sum(summed: gast.Assign, before: list[gast.stmt]) -> None:
    """``d = d + steps.total()`` as ``d = steps.total()`` where the last statement of
    ``before`` that names ``d`` is ``d = 0`` (which goes): the adjoint's start."""
    name = summed.targets[0].id
    for position in range(len(before) - 1, -1, -1):
        stmt = before[position]
        if name not in all_names(stmt):
            continue
        if (
            isinstance(stmt, gast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], gast.Name)
            and isinstance(stmt.value, gast.Constant)
            and type(stmt.value.value) is int
            and stmt.value.value == 0
        ):
            del before[position]
            summed.value = summed.value.right
        return


def _accumulation(stmt: gast.stmt, ctx: TransformContext) -> tuple | None:
    """``(d, helper, arguments)`` of ``d = d + helper(a, ...)``, its arguments names and
    the helper one ``STACKED`` knows; None otherwise."""
    if not (
        isinstance(stmt, gast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], gast.Name)
        and isinstance(stmt.value, gast.BinOp)
        and isinstance(stmt.value.op, gast.Add)
        and isinstance(stmt.value.left, gast.Name)
        and stmt.value.left.id == stmt.targets[0].id
        and isinstance(stmt.value.right, gast.Call)
        and isinstance(stmt.value.right.func, gast.Name)
        and not stmt.value.right.keywords
    ):
        return None
    call = stmt.value.right
    helper = _resolved(call.func.id, ctx)
    try:
        known = helper in STACKED
    except TypeError:  # (not hashable)
        return None
    if not known or len(call.args) != STACKED[helper][0] + 1:
        return None
    varying = STACKED[helper][0]
    if not all(isinstance(a, gast.Name) for a in call.args[varying:]):
        return None
    facts = getattr(ctx.shape_classes, "ranks", None) or {}
    if not all(_step_value(a, facts) for a in call.args[:varying]):
        return None
    return stmt.targets[0].id, helper, call.args


def _step_value(node: gast.expr, facts: dict) -> bool:
    """A name, or a name's item or row at ints (``xs[t]``, which ``remat`` reads again
    rather than saving it): a value the step's ``add`` may keep."""
    if isinstance(node, gast.Subscript):
        return isinstance(node.value, gast.Name) and ranks.is_int_index(node.slice, facts)
    return isinstance(node, gast.Name)


def _resolved(name: str, ctx: TransformContext) -> object:
    return ctx.free_values.get(name, ctx.resolved_globals.get(name))


def _changes_nothing_in_place(loop: gast.For, ctx: TransformContext, program: Program) -> bool:
    """Whether nothing in ``loop`` may write into an array: no item or attribute store,
    no ``op=``, and only calls of NumPy, of the rules' helpers, of the stack's ``pop``
    and of array methods that change nothing, without ``out=``."""
    for node in (n for stmt in loop.body for n in gast.walk(stmt)):
        if isinstance(node, gast.AugAssign):
            return False
        if isinstance(node, (gast.Subscript, gast.Attribute)) and isinstance(
            node.ctx, (gast.Store, gast.Del)
        ):
            return False
        if not isinstance(node, gast.Call):
            continue
        if any(k.arg in ("out", None) for k in node.keywords):
            return False
        func = node.func
        if isinstance(func, gast.Name):
            if func.id == program.pop or func.id in _PURE_BUILTINS:
                continue
            if not _pure_helper(_resolved(func.id, ctx)):
                return False
        elif isinstance(func, gast.Attribute):
            if func.attr in _CHANGING:
                return False
            owner = func.value
            if isinstance(owner, gast.Name) and owner.id not in ctx.free_values:
                continue  # a method of an array (g.sum(axis=0), x.T.dot(g))
            if not _pure_helper(_resolved(owner.id, ctx) if isinstance(owner, gast.Name) else None):
                return False
        else:
            return False
    return True


#: builtins generated backward code calls, which change nothing
_PURE_BUILTINS = {"range", "len", "int", "float", "reversed", "zip", "enumerate", "tuple"}


@functools.cache
def _array_pure_adjoint_helpers() -> frozenset:
    """The helpers of ``runtime.adjoints`` that write into no array (they may change a
    list adjoint of their own making, which no kept step is)."""
    from ..runtime import adjoints

    return frozenset(
        {
            adjoints.add_at,
            adjoints.adjoint_item,
            adjoints.appended_adjoint,
            adjoints.unpack_adjoint,
            adjoints.stored_adjoint,
            adjoints.shaped_like,
            adjoints.scalar_seed,
            adjoints.zero_cotangent,
        }
    )


def _pure_helper(value: object) -> bool:
    """NumPy (a module, its functions, ufuncs), a helper of the rules (``runtime.rules``)
    or one of ``_array_pure_adjoint_helpers``: none writes into an array it is given."""
    try:
        if value in _array_pure_adjoint_helpers():
            return True
    except TypeError:  # (not hashable)
        return False
    if isinstance(value, types.ModuleType):
        return value.__name__ == "numpy" or value.__name__.startswith("numpy.")
    owner = getattr(value, "__module__", None) or ""
    if owner == "numpy" or owner.startswith("numpy."):
        return True
    return owner.startswith(("astgrad.runtime.rules.", "runtime.rules."))


def undo(tree: Any, kinds: types.ModuleType = gast) -> Any:
    """``tree`` (generated source, parsed by ``kinds``: ``gast`` or ``ast``) with each
    ``StepSum`` written back as the loop's own accumulation: ``d = d + helper(...)`` at
    the ``add`` (with its line number), nothing for ``steps = StepSum(helper)`` and ``d =
    d + steps.total()``. Matched by form: printed source has no annotations."""
    for node in list(kinds.walk(tree)):
        for field in ("body", "orelse"):
            block = getattr(node, field, None)
            if isinstance(block, list) and block and isinstance(block[0], kinds.stmt):
                setattr(node, field, _undone(block, kinds))
    return tree


def _undone(block: list, kinds: types.ModuleType) -> list:
    made = {}  # steps -> helper
    totals = {}  # steps -> (the gradient it is added into, whether it starts from it)
    for stmt in block:
        if _is_call_of_one_name(stmt, kinds) and stmt.value.func.id.startswith("StepSum"):
            made[stmt.targets[0].id] = stmt.value.args[0].id
        read = _total_read(stmt, kinds)
        if read is not None:
            totals[read[0]] = (stmt.targets[0].id, read[1])
    if not made:
        return block
    out = []
    for stmt in block:
        if _is_call_of_one_name(stmt, kinds) and stmt.targets[0].id in made:
            steps = stmt.targets[0].id
            if steps in totals and totals[steps][1]:
                # (``d = steps.total()`` took the place of ``d = 0``: put it back)
                zero = kinds.Assign(
                    targets=[_name(kinds, totals[steps][0], kinds.Store())],
                    value=kinds.Constant(value=0, kind=None),
                    type_comment=None,
                )
                out.append(kinds.fix_missing_locations(kinds.copy_location(zero, stmt)))
            continue
        read = _total_read(stmt, kinds)
        if read is not None and read[0] in made:
            continue
        if isinstance(stmt, kinds.For):
            for position, inner in enumerate(stmt.body):
                added = _added(inner, kinds)
                if added is None or added[0] not in made or added[0] not in totals:
                    continue
                total, helper = totals[added[0]][0], made[added[0]]
                back = kinds.Assign(
                    targets=[_name(kinds, total, kinds.Store())],
                    value=kinds.BinOp(
                        left=_name(kinds, total, kinds.Load()),
                        op=kinds.Add(),
                        right=kinds.Call(
                            func=_name(kinds, helper, kinds.Load()), args=added[1], keywords=[]
                        ),
                    ),
                    type_comment=None,
                )
                stmt.body[position] = kinds.copy_location(back, inner)
                kinds.fix_missing_locations(back)
        out.append(stmt)
    return out


def _name(kinds: types.ModuleType, name: str, context: Any) -> Any:
    if kinds is gast:
        return gast.Name(id=name, ctx=context, annotation=None, type_comment=None)
    return kinds.Name(id=name, ctx=context)


def _is_call_of_one_name(stmt: Any, kinds: types.ModuleType) -> bool:
    """``name = function(argument)``, names all."""
    return (
        isinstance(stmt, kinds.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], kinds.Name)
        and isinstance(stmt.value, kinds.Call)
        and isinstance(stmt.value.func, kinds.Name)
        and len(stmt.value.args) == 1
        and isinstance(stmt.value.args[0], kinds.Name)
    )


def _total_read(stmt: Any, kinds: types.ModuleType) -> tuple | None:
    """``(steps, False)`` of ``d = d + steps.total()``, ``(steps, True)`` of ``d =
    steps.total()``."""
    if not (
        isinstance(stmt, kinds.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], kinds.Name)
    ):
        return None
    value = stmt.value
    starts = not isinstance(value, kinds.BinOp)
    right = value if starts else value.right
    if (
        isinstance(right, kinds.Call)
        and isinstance(right.func, kinds.Attribute)
        and right.func.attr == "total"
        and isinstance(right.func.value, kinds.Name)
        and not right.args
    ):
        return right.func.value.id, starts
    return None


def _added(stmt: Any, kinds: types.ModuleType) -> tuple | None:
    """``(steps, arguments)`` of ``steps.add(*arguments)``."""
    call = stmt.value if isinstance(stmt, kinds.Expr) else None
    if (
        isinstance(call, kinds.Call)
        and isinstance(call.func, kinds.Attribute)
        and call.func.attr == "add"
        and isinstance(call.func.value, kinds.Name)
    ):
        return call.func.value.id, call.args
    return None

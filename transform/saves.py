"""saves: the values ``reverse`` saved on the stack, read the cheapest way each can be.

``reverse`` pushes every value about to be overwritten and pops it back in the backward
pass. Once the other passes have left only the pops something reads, this pass lowers
them in one of two ways, never both in one function (the first needs a replayed loop in
the backward pass, the second a backward pass with no loop or branch).

*Runs of pops in replayed loops.* The backward pass replays a loop ``for _ in range(n)``
and restores, in each iteration, the values the forward iteration pushed. When that is
one value (``a = pop()``), the iteration's values lie together on top of the stack, and::

    for _ in range(100):
        a = pop()
        da = da * (0.02 * a + 0.99)

becomes::

    for a in pop_run(stack, 100):
        da = da * (0.02 * a + 0.99)

``pop_run`` takes the run of values off the stack at once, last pushed first: the loop
pays for no call per iteration, which on numbers is a large part of what it costs.
Where the statements before the pop read the name (the value after the iteration), the
loop binds a name of its own and the pop becomes a copy from it.

*Saves by name in straight-line code.* ``reverse`` saves every value that is about to be
overwritten on a stack, since inside a loop there is one per iteration. When the
function has no loop or branch, each push runs exactly once, and the pops take the
values back last first, so the k-th pop is always the value of the (n + 1 - k)-th push.
Then::

    push(z)                                 z_old = z
    z = z - largest                         z = z - largest
    ...                           ->        ...
    z = pop()
    dz = unbroadcast(dz_out, z)             dz = unbroadcast(dz_out, z_old)

The restored value keeps the name it is saved under: the backward pass reads ``z_old``
where it read the restored ``z``, up to the next assignment to ``z``, and the ``del`` that
released ``z`` releases ``z_old``. The stack, its ``push`` and ``pop``, and (for a retained
pullback) the copy of the stack are gone, and the split forward function saves ``z_old``
by name like any other value.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import gast

from ..runtime import adjoints
from . import anno, build
from .build import load, store
from .context import TransformContext
from .dataflow import all_names, reads, statements, target_names
from .optimize import is_pop, pushed_names
from .program import Program
from .walk import rewrite, statements_breadth_first, walk


def transform(program: Program, ctx: TransformContext) -> Program:
    """Guarantees: a replayed ``for _ in range(n)`` loop whose iteration pops one value
    and uses the stack no other way iterates over ``pop_run(stack, n)`` instead; in a
    function with neither loop nor branch, either nothing is left that reads the stack,
    ``push`` or ``pop`` (every pushed value is bound to a fresh name, read where its pop
    was, and ``program.backward_reads`` holds those names), or the statements are as
    they were. ``program.maybe_unbound`` holds only names a save reads."""
    rewrite_loops(
        program.backward, program.stack, program.pop,
        lambda: ctx.bind_free("pop_run", adjoints.pop_run), ctx.namer.new,
    )  # fmt: skip
    # Before the pushes become assignments: a name some push reads must be bound (to None
    # at first) even where the push is now ``z_old = z``.
    program.maybe_unbound = program.maybe_unbound & pushed_names(program.primal)
    program.primal, program.backward, saved = name_saves(
        program.primal, program.backward, program.stack, program.push, program.pop,
        ctx.namer.new,
    )  # fmt: skip
    program.backward_reads = program.backward_reads | saved
    return program


def prefer_underscore(program: Program, ctx: TransformContext) -> Program:
    """Guarantees: replayed loops count with ``_`` unless the backward pass reads a ``_``
    of the user's."""
    replay = program.replay_variable
    backward = program.backward
    if replay == "_" or any("_" in reads(s) for s in backward):
        return program
    for stmt in statements(backward):
        if (
            isinstance(stmt, gast.For)
            and isinstance(stmt.target, gast.Name)
            and stmt.target.id == replay
        ):
            stmt.target.id = "_"
    return program


def rewrite_loops(
    backward: list[gast.stmt],
    stack: str,
    pop: str,
    helper: Callable[[], str],
    new_name: Callable[[str], str],
) -> list[gast.stmt]:
    """Rewrite the loops of ``backward`` in place (and return it). ``helper()`` binds
    ``pop_run`` for the generated code and returns the name to call it by; ``new_name``
    makes a fresh name."""
    # Breadth first: the loops are rewritten, and their names made, in this order.
    for stmt in statements_breadth_first(gast.Module(body=backward, type_ignores=[])):
        if isinstance(stmt, gast.For) and anno.has(stmt, anno.Key.STACK_ID):
            _rewrite(stmt, stack, pop, helper, new_name)
    return backward


def _rewrite(
    loop: gast.For, stack: str, pop: str, helper: Callable[[], str], new_name: Callable[[str], str]
) -> None:
    count = _trip_count(loop)
    if count is None:
        return
    if isinstance(count, gast.Constant) and not (type(count.value) is int and count.value > 0):
        return
    pops = [i for i, stmt in enumerate(loop.body) if is_pop(stmt)]
    if len(pops) != 1 or _calls(loop.body, pop) != 1 or _mentions(loop.body, stack):
        return  # nested loops, restored items: several values per iteration
    index = pops[0]
    target = loop.body[index].targets[0]
    if not isinstance(target, gast.Name):
        return
    name = target.id
    if any(name in reads(s) or name in target_names(s) for s in statements(loop.body[:index])):
        # What comes first reads the value after the iteration (tanh's result, say): the
        # loop binds a name of its own, and the pop becomes a copy from it.
        variable = new_name(f"{name}_before")
        loop.body[index] = anno.copy_from(
            gast.Assign(targets=[target], value=load(variable), type_comment=None),
            loop.body[index],
            anno.Key.ORIGIN,
        )
    else:
        variable = name
        del loop.body[index]
        if not loop.body:
            loop.body = [gast.Pass()]
    loop.target = store(variable)
    loop.iter = gast.Call(
        func=load(helper()),
        args=[load(stack), count],
        keywords=[],
    )


def _trip_count(loop: gast.For) -> gast.expr | None:
    """How many times a replayed loop runs, where its body has no use for its counter:
    ``n`` of ``for _ in range(n)``, and the range's length of ``for i in
    reversed(range(...))`` (``reverse``'s replay of a range loop) whose body reads no
    ``i``; else None."""
    iterator = loop.iter
    if _is_call(iterator, "range") and len(iterator.args) == 1:
        return iterator.args[0]
    if not (
        _is_call(iterator, "reversed")
        and len(iterator.args) == 1
        and _is_call(iterator.args[0], "range")
        and isinstance(loop.target, gast.Name)
        and not any(loop.target.id in all_names(s) for s in loop.body)
    ):
        return None
    arguments = iterator.args[0].args
    if all(isinstance(a, gast.Constant) and type(a.value) is int for a in arguments):
        return gast.Constant(len(range(*(a.value for a in arguments))), None)
    return build.call("len", iterator.args[0])


def _is_call(node: gast.AST, name: str) -> bool:
    """Whether ``node`` calls the name ``name`` (without keywords)."""
    return (
        isinstance(node, gast.Call)
        and isinstance(node.func, gast.Name)
        and node.func.id == name
        and not node.keywords
    )


def _calls(stmts: list[gast.stmt], name: str) -> int:
    """How many calls of ``name`` there are in ``stmts``."""
    return sum(
        1
        for node in walk(gast.Module(body=stmts, type_ignores=[]))
        if isinstance(node, gast.Call) and isinstance(node.func, gast.Name) and node.func.id == name
    )


def _mentions(stmts: list[gast.stmt], name: str) -> bool:
    return any(
        isinstance(n, gast.Name) and n.id == name
        for n in walk(gast.Module(body=stmts, type_ignores=[]))
    )


# -- saves by name in straight-line code --------------------------------------------


def name_saves(
    primal: list[gast.stmt],
    backward: list[gast.stmt],
    stack: str,
    push: str,
    pop: str,
    new_name: Callable[[str], str],
) -> tuple[list[gast.stmt], list[gast.stmt], set[str]]:
    """``(primal, backward, saved names)``; the names are new reads of the backward pass."""
    pushes = [i for i, stmt in enumerate(primal) if _is_push_call(stmt, push)]
    walks = [walk(stmt) for stmt in backward]  # (each statement walked once, used thrice)
    pops = [call for nodes in walks for call in nodes if _is_pop_call(call, pop)]
    if not pops or len(pushes) != len(pops):
        return primal, backward, set()
    if not _only_at_top(primal, backward, walks, pushes, stack, push, pop):
        return primal, backward, set()
    bases = _name_bases(walks, {id(call) for call in pops})
    names = [new_name(bases.get(id(pop_call), "saved")) for pop_call in pops]
    primal = list(primal)
    for position, name in zip(pushes, reversed(names)):  # the first push is the last pop
        value = primal[position].value.args[0]
        primal[position] = _assign(name, value, like=primal[position])
    by_call = {id(call): name for call, name in zip(pops, names)}
    out: list[gast.stmt] = []
    restored: dict[str, str] = {}  # z -> z_old: read z_old for z, until z is bound again
    deleted: set[str] = set()  # the names a ``del`` in ``out`` deletes
    pending: list[str] = []
    for stmt, nodes in zip(backward, walks, strict=True):
        target = _restored_name(stmt, pop)
        if target is not None:
            _release(out, deleted, restored.pop(target, None))
            restored[target] = by_call[id(stmt.value)]
            continue
        _rename_loads(nodes, restored)  # (the walk is the statement's still: renamed in place)
        consumed = [by_call[id(n)] for n in nodes if id(n) in by_call]
        if consumed:
            stmt = rewrite(stmt, partial(_pop_as_name, by_call))
        out.append(stmt)
        if isinstance(stmt, gast.Delete):
            deleted.update(t.id for t in stmt.targets if isinstance(t, gast.Name))
            for saved in pending:
                _release(out, deleted, saved)
            pending = []
        pending += consumed  # read once, where the pop was: released with the next del
        # (a pop's value is a name read: the names bound are those the walk found)
        for name in [n.id for n in nodes if isinstance(n, gast.Name) and _stores(n)]:
            _release(out, deleted, restored.pop(name, None))
    for saved in pending:
        _release(out, deleted, saved)
    return primal, out, set(names)


def _release(out: list[gast.stmt], deleted: set[str], saved: str | None) -> None:
    """``del saved``, once nothing reads it, where ``z = pop()`` would have dropped it by
    binding ``z`` again: joined to the ``del`` just before, or closing the block before.
    ``deleted`` holds the names ``out`` deletes already (kept up to date here)."""
    if saved is None or saved in deleted or not out:
        return
    deleted.add(saved)
    name = build.deleted(saved)
    if isinstance(out[-1], gast.Delete):
        out[-1].targets.append(name)
    else:
        out.append(
            anno.copy_from(gast.copy_location(gast.Delete(targets=[name]), out[-1]), out[-1])
        )


def _restored_name(stmt: gast.stmt, pop: str) -> str | None:
    """``z`` for ``z = pop()``."""
    if (
        isinstance(stmt, gast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], gast.Name)
        and _is_pop_call(stmt.value, pop)
    ):
        return stmt.targets[0].id
    return None


def _stores(node: gast.Name) -> bool:
    return isinstance(node.ctx, gast.Store)


def _rename_loads(nodes: list[gast.AST], restored: dict[str, str]) -> None:
    """Read (and ``del``) ``restored[z]`` wherever ``nodes`` (a statement's walk) read
    a name ``z`` of it."""
    if not restored:
        return
    for node in nodes:
        if isinstance(node, gast.Name) and node.id in restored and not _stores(node):
            node.id = restored[node.id]


def _only_at_top(
    primal: list[gast.stmt],
    backward: list[gast.stmt],
    walks: list[list[gast.AST]],
    pushes: list[int],
    stack: str,
    push: str,
    pop: str,
) -> bool:
    """Whether every push is a statement of its own at the top of the forward pass, every
    pop sits in a statement at the top of the backward pass (not in a loop or branch), and
    nothing else uses the stack (``walks``: each backward statement's walk)."""
    pushed = set(pushes)
    for index, stmt in enumerate(primal):
        if index in pushed:
            continue
        if {stack, push, pop} & all_names(stmt):
            return False
    for stmt, nodes in zip(backward, walks, strict=True):
        if isinstance(stmt, (gast.For, gast.While, gast.If, gast.With, gast.Try)):
            return False  # (names restored before it would be renamed in part of it)
        if any(type(n) is gast.Name and n.id in (stack, push) for n in nodes):
            return False
    return True


def _is_push_call(stmt: gast.stmt, push: str) -> bool:
    return (
        isinstance(stmt, gast.Expr)
        and isinstance(stmt.value, gast.Call)
        and isinstance(stmt.value.func, gast.Name)
        and stmt.value.func.id == push
        and len(stmt.value.args) == 1
        and not stmt.value.keywords
    )


def _is_pop_call(node: gast.AST, pop: str) -> bool:
    return _is_call(node, pop) and not node.args


def _name_bases(walks: list[list[gast.AST]], pop_ids: set[int]) -> dict[int, str]:
    """id of each pop call -> what to name its value after: ``z_old`` for ``z = pop()``,
    ``y_overwritten`` for the elements that ``restore_item(y, i, pop())`` puts back (found
    in one walk: a walk per pop made n pops cost n * n)."""
    bases: dict[int, str] = {}
    for nodes in walks:  # (each backward statement's walk)
        for node in nodes:
            if isinstance(node, gast.Assign) and id(node.value) in pop_ids:
                target = node.targets[0]
                if len(node.targets) == 1 and isinstance(target, gast.Name):
                    bases.setdefault(id(node.value), f"{target.id}_old")
            if isinstance(node, gast.Call) and node.args and isinstance(node.args[0], gast.Name):
                for argument in node.args:
                    if id(argument) in pop_ids:
                        bases.setdefault(id(argument), f"{node.args[0].id}_overwritten")
    return bases


def _assign(name: str, value: gast.expr, like: gast.stmt) -> gast.Assign:
    assign = gast.Assign(targets=[store(name)], value=value, type_comment=None)
    return anno.copy_from(gast.copy_location(assign, like), like)


def _pop_as_name(by_call: dict[int, str], node: gast.AST) -> gast.AST:
    """A pop call of ``by_call`` as the read of its name (``rewrite``'s change)."""
    name = by_call.get(id(node))
    if name is not None:
        return gast.copy_location(load(name), node)
    return node

"""pop_runs: a replayed loop that pops one value per iteration iterates over them instead.

The backward pass replays a loop ``for _ in range(n)`` and restores, in each iteration,
the values the forward iteration pushed. When that is one value (``a = pop()``), the
iteration's values lie together on top of the stack, and::

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
"""

from __future__ import annotations

from collections.abc import Callable

import gast

from ..runtime import adjoints
from . import anno
from .context import TransformContext
from .optimize import _is_pop, _walk, reads, writes
from .program import Program
from .reverse import load
from .walk import statements, walk


def transform(program: Program, ctx: TransformContext) -> Program:
    """Guarantees: a replayed ``for _ in range(n)`` loop whose iteration pops one value
    and uses the stack no other way iterates over ``pop_run(stack, n)`` instead."""
    rewrite_loops(
        program.backward, program.stack, program.pop,
        lambda: ctx.bind_free("pop_run", adjoints.pop_run), ctx.namer.new,
    )  # fmt: skip
    return program


def prefer_underscore(program: Program, ctx: TransformContext) -> Program:
    """Guarantees: replayed loops count with ``_`` unless the backward pass reads a ``_``
    of the user's."""
    replay = program.replay_variable
    backward = program.backward
    if replay == "_" or any("_" in reads(s) for s in backward):
        return program
    for stmt in _walk(backward):
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
    for stmt in statements(gast.Module(body=backward, type_ignores=[])):
        if isinstance(stmt, gast.For) and anno.has(stmt, anno.Key.STACK_ID):
            _rewrite(stmt, stack, pop, helper, new_name)
    return backward


def _rewrite(
    loop: gast.For, stack: str, pop: str, helper: Callable[[], str], new_name: Callable[[str], str]
) -> None:
    iterator = loop.iter
    if not (
        isinstance(iterator, gast.Call)
        and isinstance(iterator.func, gast.Name)
        and iterator.func.id == "range"
        and len(iterator.args) == 1
    ):
        return
    count = iterator.args[0]
    if isinstance(count, gast.Constant) and not (type(count.value) is int and count.value > 0):
        return
    pops = [i for i, stmt in enumerate(loop.body) if _is_pop(stmt)]
    if len(pops) != 1 or _calls(loop.body, pop) != 1 or _mentions(loop.body, stack):
        return  # nested loops, restored items: several values per iteration
    index = pops[0]
    target = loop.body[index].targets[0]
    if not isinstance(target, gast.Name):
        return
    name = target.id
    if any(
        name in reads(s) or name in writes(s)
        for s in statements(gast.Module(body=loop.body[:index], type_ignores=[]))
    ):
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
    loop.target = gast.Name(id=variable, ctx=gast.Store(), annotation=None, type_comment=None)
    loop.iter = gast.Call(
        func=load(helper()),
        args=[load(stack), count],
        keywords=[],
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

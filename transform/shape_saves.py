"""shape_saves: in a loop, save the shape of a value whose gradient needs only its shape.

The gradient of ``add = matmul + matmul_2`` sends ``unbroadcast(dadd, matmul)`` to
``matmul``: it reads ``matmul`` only for its shape, in case the sum broadcast it. Inside
a loop the reverse pass pushes every overwritten ``matmul`` so the backward pass can
restore it, which keeps one array per iteration alive until the backward pass reaches
it (50 arrays for a 50-step RNN, for three such names). Where a name's every read in the
backward pass is such a shape, this pass saves ``shape_of(matmul)`` instead: the forward
pushes a tuple, the backward pops it into ``matmul_shape`` and calls
``unbroadcast_to(dadd, matmul_shape)``. The backward pass starts from the shape of the
forward pass's last value, as it started from the value.
"""

from __future__ import annotations

from collections.abc import Callable

import gast

from ..runtime import adjoints
from ..runtime.rules.shared import unbroadcast as unbroadcast_helper
from . import anno, build
from .build import load
from .context import TransformContext
from .dataflow import statements, target_names
from .optimize import is_pop
from .program import Program
from .walk import is_call_on_name, statements_breadth_first, walk


def transform(program: Program, ctx: TransformContext) -> Program:
    """Guarantees: no name that the backward pass restores only by pops and reads only for
    its shape (in ``unbroadcast``) is pushed whole; its shape is pushed instead, and the
    backward pass reads that shape."""
    bound = {**ctx.resolved_globals, **ctx.free_values}
    unbroadcast = {name for name, value in bound.items() if value is unbroadcast_helper}
    program.backward = save_shapes(
        program.primal, program.backward, unbroadcast, program.live_out | program.result_reads(),
        lambda name: ctx.bind_free(name, getattr(adjoints, name)), ctx.namer.new,
    )  # fmt: skip
    return program


def save_shapes(
    primal: list[gast.stmt],
    backward: list[gast.stmt],
    unbroadcast: set[str],
    keep: set[str],
    helper: Callable[[str], str],
    new_name: Callable[[str], str],
) -> list[gast.stmt]:
    """Rewrite ``primal`` and ``backward`` in place; return the new backward statements.

    ``unbroadcast`` holds the names generated code calls ``unbroadcast`` by; names in
    ``keep`` are read after the backward pass; ``helper(name)`` binds a runtime helper
    for the generated code and returns the name to call it by; ``new_name`` makes a
    fresh name.
    """
    pops = _restored_only_by_pops(backward)
    shape_reads = _shape_only_reads(backward, unbroadcast)
    pushes = _pushes(primal)
    chosen = [
        name
        for name in sorted(shape_reads)
        if name in pops and name not in keep and all(stack_id in pushes for stack_id in pops[name])
    ]
    if not chosen:
        return backward
    shape_of, unbroadcast_to = helper("shape_of"), helper("unbroadcast_to")
    starts = []
    for name in chosen:
        shape_name = new_name(f"{name}_shape")
        for stack_id in pops[name]:
            push = pushes[stack_id]
            push.value.args = [build.call(shape_of, load(name))]
        for stmt in statements(backward):
            if is_pop(stmt) and stmt.targets[0].id == name:
                stmt.targets[0].id = shape_name
        for call in shape_reads[name]:
            call.func = load(unbroadcast_to)
            call.args[1] = load(shape_name)
        starts.append(build.assign(shape_name, build.call(shape_of, load(name))))
    return [*starts, *backward]


def _restored_only_by_pops(backward: list[gast.stmt]) -> dict[str, list[int]]:
    """name -> stack ids of its pops, for names the backward pass writes only by popping."""
    pops: dict[str, list[int]] = {}
    other: set[str] = set()
    # Breadth first: the names are given their shape names in the order found here.
    for stmt in statements_breadth_first(gast.Module(body=backward, type_ignores=[])):
        if is_pop(stmt) and isinstance(stmt.targets[0], gast.Name):
            pops.setdefault(stmt.targets[0].id, []).append(anno.get(stmt, anno.Key.STACK_ID))
        else:
            other |= target_names(stmt)
            if isinstance(stmt, gast.Delete):
                other |= {t.id for t in stmt.targets if isinstance(t, gast.Name)}
    return {name: ids for name, ids in pops.items() if name not in other}


def _shape_only_reads(backward: list[gast.stmt], unbroadcast: set[str]) -> dict[str, list]:
    """name -> the ``unbroadcast(g, name)`` calls reading it, for names the backward pass
    reads nowhere else."""
    calls: dict[str, list] = {}
    reads: dict[str, int] = {}
    for node in walk(gast.Module(body=backward, type_ignores=[])):
        if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Load):
            reads[node.id] = reads.get(node.id, 0) + 1
        elif is_call_on_name(node, unbroadcast):
            calls.setdefault(node.args[1].id, []).append(node)
    return {name: found for name, found in calls.items() if reads.get(name) == len(found)}


def _pushes(primal: list[gast.stmt]) -> dict[int, gast.Expr]:
    """stack id -> the ``push(name)`` statement with it."""
    found = {}
    for stmt in statements(primal):
        if (
            isinstance(stmt, gast.Expr)
            and anno.has(stmt, anno.Key.STACK_ID)
            and isinstance(stmt.value, gast.Call)
            and len(stmt.value.args) == 1
            and isinstance(stmt.value.args[0], gast.Name)
        ):
            found[anno.get(stmt, anno.Key.STACK_ID)] = stmt
    return found

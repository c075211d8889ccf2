"""seed: where the backward pass gets the cotangent of the result.

A fused gradient computes it: ``dresult = scalar_seed(result)`` checks that the result is
one number and starts the backward pass from ``1`` of its type. A split derivative's
backward function takes it as its parameter instead, under the adjoint name of the
result (or a fresh name when the result is not active and nothing reads it).
"""

from __future__ import annotations

import copy

import gast

from ..runtime import adjoints
from .build import assign, call
from .context import TransformContext
from .program import Program


def transform(program: Program, ctx: TransformContext) -> Program:
    """Guarantees: in a fused program, the backward statements start with the call of
    ``scalar_seed`` on the result (bound to ``program.seed`` when that is not None); in a
    split one, ``program.seed`` names the backward function's cotangent parameter."""
    if program.split:
        program.seed = program.seed or ctx.namer.new(f"d{ctx.function_name}_result")
        return program
    helper = ctx.bind_free("scalar_seed", adjoints.scalar_seed)
    check = call(helper, copy.deepcopy(program.result))
    seed = assign(program.seed, check) if program.seed else gast.Expr(value=check)
    program.backward = [seed, *program.backward]
    return program

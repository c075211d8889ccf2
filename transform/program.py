"""The program that flows through the passes after ``reverse``: forward and backward
statements and what the passes after ``reverse`` and the assembly in ``pipeline`` need to
know about them.

Every pass after ``reverse`` is ``transform(program, ctx) -> Program``: it may rewrite
``primal`` and ``backward`` (in place or by replacing the lists) and fill in the fields
said below to be filled by a later pass. ``pipeline`` assembles the final functions from
the program the last pass returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gast

from .dataflow import reads


@dataclass
class Program:
    """The forward and backward statements of one function being differentiated."""

    #: the core function ``reverse`` read (its parameters; ``remat`` walks its statements)
    node: gast.FunctionDef
    #: the forward statements, with stack pushes of the values they overwrite
    primal: list[gast.stmt]
    #: the backward statements: zero-initialisation of the adjoints, then the adjoints in
    #: reverse order; ``seed`` puts the seed in front of them
    backward: list[gast.stmt]
    #: names that must exist (as None) before the primal runs, so pushes of them work
    maybe_unbound: set[str]
    #: the returned atom
    result: gast.expr
    #: the adjoint name of the result, seeded before the backward pass (``seed`` names it
    #: in a split derivative, whose backward function takes it as a parameter)
    seed: str | None
    #: per wrt parameter, its adjoint name: what the backward pass returns
    gradients: list[str]
    stack: str
    push: str
    pop: str
    #: the variable of the loops that replay iterations backwards
    replay_variable: str = "_"
    #: names the backward statements read where a way through the forward statements
    #: may leave them unbound (a shape stand-in made at the backward pass's start, of a
    #: name only a branch binds): a fused function binds them to None first (a split
    #: one saves them so, as every name its backward function reads)
    unbound_reads: set[str] = field(default_factory=set)
    #: names (and their adjoints) known to hold numbers, not arrays
    numbers: set[str] = field(default_factory=set)
    #: a forward function and a backward function (``vjp``), not one fused function
    split: bool = False
    #: id of a core statement -> the contributions ``reverse`` made for it, where
    #: ``remat`` may recompute cheap temporaries
    remat_groups: dict[int, list[list[gast.stmt]]] = field(default_factory=dict)
    #: stack ids of push/pop pairs whose pops the dead-code passes removed
    dead_stack_ids: set[int] = field(default_factory=set)
    #: names the backward statements read from the forward ones (set by ``temporaries``,
    #: grown by ``saves`` with the names it saves values under)
    backward_reads: set[str] = field(default_factory=set)

    @property
    def live_out(self) -> set[str]:
        """Names read after the backward statements: the gradients returned."""
        return set(self.gradients)

    def result_reads(self) -> set[str]:
        """Names the returned expression reads (kept alive to the end)."""
        return reads(self.result)

"""release: let the backward pass drop each array as soon as nothing reads it again.

A local name keeps its array alive until the function returns, so a straight backward
pass would hold every activation and every intermediate gradient at once: half again the
memory of a hand-written gradient, which reuses names and frees as it goes. After the
block of one user line's gradient (``# grad of: ...``), ``del`` hands back the arrays that
block read for the last time, as a person writing for memory would. (A ``del`` after each
statement would free a little sooner, at twice the lines; none comes before the return,
which frees everything anyway.)

Only names that surely hold a value there are released (bound by a top-level assignment
of the forward or backward statements, not only inside a loop or branch), never the
function's parameters, the names returned, the stack's names, or names known to hold
numbers (there is nothing to free, and a ``del`` costs time).
"""

from __future__ import annotations

import gast

from . import anno, build
from .context import TransformContext
from .dataflow import reads, statements, target_names
from .program import Program


def transform(program: Program, ctx: TransformContext) -> Program:
    """Guarantees: after each top-level run of backward statements from one user line, a
    ``del`` of the arrays read there for the last time (see the module docstring for the
    names never released)."""
    keep = program.live_out | program.result_reads() | {program.stack, program.push, program.pop}
    program.backward = release_dead(program.backward, program.primal, keep, program.numbers)
    return program


def release_dead(
    backward: list[gast.stmt], forward: list[gast.stmt], keep: set[str], numbers: set[str]
) -> list[gast.stmt]:
    """``backward`` with a ``del`` after each top-level run of statements from one user
    line, of the names read there for the last time. ``keep`` are names read after
    ``backward`` or never to be released; ``numbers`` names known to hold numbers."""
    bound = _top_level_targets(forward)
    read = [reads(stmt) for stmt in backward]
    # The position of each name's last read: read again after i unless that is i or before.
    last_read = {name: i for i, names in enumerate(read) for name in names}
    out: list[gast.stmt] = []
    released: set[str] = set()
    pending: set[str] = set()
    for i, stmt in enumerate(backward):
        out.append(stmt)
        bound |= _top_level_targets([stmt])
        touched = read[i] | _deep_writes(stmt)
        pending |= {
            name
            for name in touched
            if name in bound
            and last_read.get(name, -1) <= i
            and name not in keep
            and name not in numbers
            and name not in released
        }
        if i + 1 == len(backward):
            break  # the function returns next, which releases everything anyway
        if pending and not _same_origin(stmt, backward[i + 1]):
            released |= pending
            out.append(_delete(sorted(pending), stmt))
            pending = set()
    return out


def _same_origin(a: gast.stmt, b: gast.stmt) -> bool:
    first, second = anno.get(a, anno.Key.ORIGIN), anno.get(b, anno.Key.ORIGIN)
    return (
        first is not None
        and second is not None
        and (first.line, first.filename) == (second.line, second.filename)
    )


def _top_level_targets(stmts: list[gast.stmt]) -> set[str]:
    names: set[str] = set()
    for stmt in stmts:
        if isinstance(stmt, gast.Assign) and not any(
            isinstance(t, gast.Subscript) for t in stmt.targets
        ):
            names |= target_names(stmt)
    return names


def _deep_writes(stmt: gast.stmt) -> set[str]:
    names: set[str] = set()
    for node in statements([stmt]):
        names |= target_names(node)
    return names


def _delete(names: list[str], after: gast.stmt) -> gast.Delete:
    stmt = build.delete(names)
    anno.set(stmt, anno.Key.PART, anno.get(after, anno.Key.PART))
    return stmt

"""Anomaly mode's checks in generated code (``ag.detect_anomaly``).

After each run of statements that one user line's derivative made (the statements under
a ``# grad of:`` or ``# tangent of:`` comment, and each such run inside a loop or branch),
a call with the gradients (tangents) the run wrote::

    # grad of: y = np.sqrt(x)
    dx = dtotal / (2 * y)
    check_finite(dx)

``check_finite`` (``runtime.anomaly.gradient_check``) raises ``AnomalyError`` when one of
them holds NaN or inf. It is made per derivative with what it needs to say what went
wrong: per user line, the names that line's statements read, and the forward lines that
assign each name. The pipeline asks for the checks only in anomaly mode, and caches
derivatives per mode, so a derivative made outside it has none.
"""

from __future__ import annotations

from typing import Any

import gast

from ..runtime import anomaly as runtime_anomaly
from . import anno, build, dataflow
from .context import TransformContext
from .origin import Origin, same_line


def add_checks(
    stmts: list[gast.stmt],
    ctx: TransformContext,
    kind: str,
    forward: list[gast.stmt] = (),
) -> list[gast.stmt]:
    """``stmts`` (the backward statements, comments added; in forward mode, the whole
    body) with a check after each user line's run of statements that write derivatives.
    ``forward`` are the forward statements (reverse mode), whose assignments say which
    user line made each value; in forward mode, the statements of ``stmts`` that write no
    tangent do. ``kind`` is "gradient" or "tangent"."""
    namer = ctx.namer
    everything = [*dataflow.statements(list(forward)), *dataflow.statements(stmts)]
    names = set(ctx.parsed.params)
    for stmt in everything:
        names |= dataflow.all_names(stmt)
    derivatives = {namer.adjoint(n) for n in names if namer.has_adjoint(n)}
    makers: dict[str, list[Origin]] = {}
    makers_from = forward if forward else stmts
    for stmt in dataflow.statements(list(makers_from)):
        written = dataflow.target_names(stmt)
        origin = anno.get(stmt, anno.Key.ORIGIN)
        if origin is None or written & derivatives:
            continue
        for name in written:
            found = makers.setdefault(name, [])
            if not any(same_line(origin, o) for o in found):
                found.append(origin)
    reads: dict[tuple, set[str]] = {}
    writes: dict[tuple, set[str]] = {}
    for stmt in dataflow.statements(stmts):
        origin = anno.get(stmt, anno.Key.ORIGIN)
        if origin is not None and not anno.has(stmt, anno.Key.COMMENT):
            key = (origin.filename, origin.line)
            reads.setdefault(key, set()).update(dataflow.reads(stmt))
            writes.setdefault(key, set()).update(dataflow.target_names(stmt))
    check = namer.new("check_finite")
    ctx.free_values[check] = runtime_anomaly.gradient_check(
        kind,
        {key: frozenset(read - writes[key]) for key, read in reads.items()},
        {name: tuple(origins) for name, origins in makers.items()},
        frozenset(ctx.parsed.params),
    )
    return _with_checks(stmts, derivatives, check)


def _with_checks(stmts: list[gast.stmt], derivatives: set[str], check: str) -> list[gast.stmt]:
    out: list[gast.stmt] = []
    pending: list[str] = []  # the derivatives written since the last check, in order
    pending_origin: Origin | None = None

    def flush() -> None:
        nonlocal pending_origin
        if pending:
            call = gast.Expr(value=build.call(check, *(build.load(n) for n in pending)))
            anno.set(call, anno.Key.ORIGIN, pending_origin)
            out.append(call)
            pending.clear()
        pending_origin = None

    for stmt in stmts:
        origin = anno.get(stmt, anno.Key.ORIGIN)
        simple = isinstance(stmt, (gast.Assign, gast.AugAssign, gast.Expr))
        if not simple or anno.has(stmt, anno.Key.COMMENT):
            flush()  # before a comment, a del, a return or a block
            for field in ("body", "orelse"):
                block = getattr(stmt, field, None)
                if block:
                    setattr(stmt, field, _with_checks(block, derivatives, check))
            out.append(stmt)
            continue
        if pending and origin is not None and not same_line(origin, pending_origin):
            flush()
        out.append(stmt)
        if origin is None:
            continue  # a seed or a zero: nothing of the user's line
        touched = dataflow.target_names(stmt)
        if isinstance(stmt, gast.Expr):  # a helper that writes into a gradient
            touched = dataflow.reads(stmt)
        for name in sorted(touched & derivatives):
            if name not in pending:
                pending.append(name)
                pending_origin = pending_origin or origin
    flush()
    return out


def mark_checked(derivative: Any) -> None:
    """Make ``derivative`` (made with checks) hold only in anomaly mode: a plan made for
    it, which asks its guard rather than the mode, then takes the general path outside
    anomaly mode, which takes the derivative without checks."""
    inner = derivative.guard.check

    def checked_and_holds() -> bool:
        return runtime_anomaly.checks_values() and inner()

    derivative.guard.check = checked_and_holds
    derivative.checks = True

"""checkpoint: calls and loops whose backward pass recomputes their forward pass.

Reverse mode keeps what every statement's adjoint reads, so a loop of ``n`` iterations
keeps ``n`` iterations' values. This pass marks what is to be recomputed instead, on the
analyzed core, before ``reverse``:

- a call of a function wrapped by ``ag.checkpoint`` (which ``analyze`` resolved to the
  wrapper's rule) becomes a call of that function marked ``anno.Key.CHECKPOINT``:
  ``reverse`` then keeps only the call's inputs, and in the backward pass runs the
  function's generated forward function again, right before its backward function;
- with ``checkpoint=True`` (``ctx.checkpoint``), each ``for`` loop over ``range(...)``
  (whose trip count is known when it starts) becomes a loop over about ``sqrt(n)``
  segments (``runtime.checkpoint.checkpoint_segments``) whose body is one checkpointed
  call of a *segment function*: the loop itself over one segment's iterations, made a
  function of the loop-carried state::

      for i in range(2000):                  segments = checkpoint_segments(2000)
          h = np.tanh(h * w + 0.1 * i)  →    for segment in segments:
                                                 h = f_segment(h, w, segment)

  So the forward pass keeps the state once per segment (``reverse`` saves what the call
  overwrites), and the backward pass recomputes and differentiates one segment at a
  time: about ``2 * sqrt(n)`` iterations' values at once instead of ``n``, for one more
  forward pass. The segment function is differentiated like any function of the user's
  (with checkpointing, so its inner loops are cut in turn), from its printed source with
  the user's lines as origins, so its ``# grad of:`` comments name the user's lines.

The segment function's parameters are the names its body reads before writing them (the
state a segment starts from, and what the loop only reads), and the names it writes that
may pass through a segment unwritten; it returns the names it writes that are read later
(``dataflow.live_after_each``), the next segment's included. A ``break`` sets a flag the
segment returns, and the loop of segments stops on it. A loop is left as it is, with the
reason in ``ctx.checkpoint_notes`` (what ``ag.explain`` reports), when a replay could
compute something else or a snapshot would not hold: it writes into an array
(``y[i] = v``) or grows a list, calls something for its effects, draws random numbers
(or calls anything the analysis cannot show is a function of its arguments: a call that
runs on the tape, an object's method), or reads a name that may be unbound when it
starts. ``while`` loops (the trip count is not known when they start) and loops inside
``with`` blocks are not checkpointed. The pass runs after ``analyze``: ``effects`` has
then checked the loop as the user wrote it, so its core statements, moved into a
function and run as they are, compute what Python computes.

Guarantee: the function computes what it computed; every call marked
``anno.Key.CHECKPOINT`` is an assignment calling a Python function of the user's (or a
segment function), which changes none of its arguments in place and computes the same
when called again with the same arguments.
"""

from __future__ import annotations

import builtins
import types
import weakref
from dataclasses import dataclass
from typing import Any

import gast
import numpy as np

from ..runtime.checkpoint import Checkpointed, checkpoint_segments
from . import anno, build, desugar, effects, emit, normalize
from .analyze import COPY
from .context import TransformContext, local_names_of
from .dataflow import bound_names, live_after_each, reads, statements
from .errors import TransformError
from .naming import Namer
from .origin import Origin, stamp
from .origin import of as origin_of
from .parsing import parse_function
from .resolve import Callee, classify, resolve_call, static_value
from .walk import copy_tree, walk

__all__ = ["transform", "Note", "is_segment", "restore_origins"]

#: loops with fewer iterations than this (a constant trip count) are not worth cutting
SHORTEST = 4


@dataclass(frozen=True)
class Note:
    """What the pass made of one loop: checkpointed (with the segment function's source),
    or left to ordinary saving, and why."""

    origin: Origin | None
    checkpointed: bool
    what: str
    source: str = ""

    def __str__(self) -> str:
        where = str(self.origin) if self.origin is not None else "?"
        text = f" `{self.origin.text}`" if self.origin is not None else ""
        verdict = "checkpointed" if self.checkpointed else "saved ordinarily"
        return f"loop{text} at {where}: {verdict} ({self.what})"


def transform(node: gast.FunctionDef, ctx: TransformContext) -> gast.FunctionDef:
    """``node`` with its ``ag.checkpoint`` calls marked and, with ``ctx.checkpoint``, its
    ``range`` loops cut into checkpointed segments (see the module docstring)."""
    for stmt in list(statements(node.body)):
        _mark_checkpointed_call(stmt, ctx)
    if ctx.checkpoint:
        _Loops(node, ctx).run()
    return node


# -- ag.checkpoint calls ----------------------------------------------------------------------


def _mark_checkpointed_call(stmt: gast.stmt, ctx: TransformContext) -> None:
    """A call of ``ag.checkpoint(fn)``, which ``analyze`` resolved to the wrapper's rule,
    as a call of ``fn`` marked to be recomputed (the call itself still calls the wrapper,
    which calls ``fn``). Left as it is (the rule recomputes it on the tape) where ``fn``
    is not a function of the user's."""
    callee = anno.get(stmt, anno.Key.CALLEE)
    if not (
        isinstance(stmt, gast.Assign)
        and isinstance(stmt.targets[0], gast.Name)
        and isinstance(stmt.value, gast.Call)
        and getattr(callee, "kind", None) == "rule"
        and isinstance(callee.value, Checkpointed)
    ):
        return
    call = stmt.value
    if any(isinstance(a, gast.Starred) for a in call.args) or any(
        k.arg is None for k in call.keywords
    ):
        return
    function = callee.value.function
    name = getattr(function, "__name__", "function")
    if classify(function, name).kind != "user":
        return
    reason = _changes_arguments(function)
    if reason is not None:
        raise TransformError(
            f"ag.checkpoint({name}): {name} {reason}, so running it again in the backward "
            "pass would not compute what it computed",
            origin_of(stmt),
            f"Make {name} return new values instead, or call it without ag.checkpoint.",
        )
    anno.set(stmt, anno.Key.CALLEE, Callee("user", callee.name, function))
    anno.set(stmt, anno.Key.CHECKPOINT, True)


def _changes_arguments(function: Any) -> str | None:
    """Why calling ``function`` again could see other arguments, or None."""
    found = effects.summary(function)
    changed = sorted(found.mutates | found.rebinds)
    if changed:
        return f"changes its argument `{changed[0]}` in place"
    if found.mutates_external:
        return "changes a global or an object it was not given"
    if found.returns:
        return f"may return its argument `{sorted(found.returns)[0]}` itself"
    return None


# -- loops --------------------------------------------------------------------------------


@dataclass
class _Segment:
    """A segment function: the core tree it was printed from (with the user's origins),
    and the name of its parameter holding the segment's iterations."""

    tree: gast.FunctionDef
    variable: str


_segments: weakref.WeakKeyDictionary[Any, _Segment] = weakref.WeakKeyDictionary()


def is_segment(function: Any) -> bool:
    """Whether ``function`` is a segment function this pass made."""
    try:
        return function in _segments
    except TypeError:
        return False


def restore_origins(function: Any, node: gast.FunctionDef) -> None:
    """Give ``node``, a segment function parsed from its printed source, the origins of the
    user's lines its statements came from (as printed, each statement pointed at its line
    in the printed text)."""
    found = _segments.get(function) if is_segment(function) else None
    if found is None:
        return
    made = list(statements([found.tree]))
    parsed = list(statements([node]))
    if len(made) != len(parsed) or any(type(a) is not type(b) for a, b in zip(made, parsed)):
        return  # (printing and parsing again keeps statements; should it not, keep its own)
    for source, target in zip(made, parsed):
        origin = origin_of(source)
        if origin is None:
            continue
        for sub in walk(target):
            anno.set(sub, anno.Key.ORIGIN, origin)


class _Loops:
    """Cuts the ``range`` loops of one function into segments (see the module docstring)."""

    def __init__(self, node: gast.FunctionDef, ctx: TransformContext) -> None:
        self.node = node
        self.ctx = ctx
        self.live = live_after_each(node.body)
        self.locals = local_names_of(node)
        args = node.args
        params = {a.id for a in args.posonlyargs + args.args + args.kwonlyargs}
        params |= {a.id for a in (args.vararg, args.kwarg) if a is not None}
        self.bound_before: dict[int, set[str]] = {}
        _surely_bound(node.body, params, self.bound_before)
        own = _segments.get(ctx.parsed.function) if is_segment(ctx.parsed.function) else None
        #: in a segment function, the loop over its segment (already cut)
        self.own_loop = own.variable if own is not None else None
        self.purity = _Purity(ctx)

    def run(self) -> None:
        self.node.body = self.block(self.node.body, in_with=False)

    def block(self, stmts: list[gast.stmt], in_with: bool) -> list[gast.stmt]:
        out: list[gast.stmt] = []
        for stmt in stmts:
            if isinstance(stmt, gast.For):
                own = isinstance(stmt.iter, gast.Name) and stmt.iter.id == self.own_loop
                plan = None if own else self.plan(stmt, in_with)
                if isinstance(plan, _Plan):
                    out.extend(self.cut(stmt, plan))
                    continue
                if isinstance(plan, str):
                    self.note(stmt, False, plan)
                stmt.body = self.block(stmt.body, in_with)
            elif isinstance(stmt, gast.While):
                self.note(stmt, False, "a while loop: its trip count is not known when it starts")
                stmt.body = self.block(stmt.body, in_with)
            elif isinstance(stmt, gast.If):
                stmt.body = self.block(stmt.body, in_with)
                stmt.orelse = self.block(stmt.orelse, in_with)
            elif isinstance(stmt, gast.With):
                stmt.body = self.block(stmt.body, True)
            out.append(stmt)
        return out

    def note(self, loop: gast.stmt, checkpointed: bool, what: str, source: str = "") -> None:
        origin = origin_of(loop)
        # Only the user's own loops (a comprehension's loop is reported by its line's text).
        if origin is not None and origin.text.split(" ", 1)[0] in ("for", "while"):
            self.ctx.checkpoint_notes.append(Note(origin, checkpointed, what, source))

    # -- which loops, and their state ---------------------------------------------------

    def plan(self, loop: gast.For, in_with: bool) -> _Plan | str:
        """How to cut ``loop``, or why it stays as it is."""
        trips = self.range_arguments(loop)
        if trips is None:
            return "not a loop over range(...)"
        if in_with:
            return "inside a with block"
        if not isinstance(loop.target, gast.Name):
            return "its target is not one name"
        if all(isinstance(a, gast.Constant) for a in trips):
            count = len(range(*(a.value for a in trips)))
            if count < SHORTEST:
                return f"only {count} iterations"
        target = loop.target.id
        exposed = _live_in(loop.body, set()) - {target}
        reason = self.unsafe(loop, exposed)
        if reason is not None:
            return reason
        written = set()
        for stmt in statements(loop.body):
            written |= _written(stmt)
        written.add(target)
        after = self.live.get(id(loop), set())
        outputs = sorted(n for n in written if n in after or n in exposed)
        if not outputs:
            return "nothing it computes is read afterwards"
        surely = _written_before_break(loop.body)
        inputs = (exposed | (set(outputs) - surely - {target})) & self.locals
        unbound = sorted(inputs - self.bound_before.get(id(loop), set()))
        if unbound:
            return f"`{unbound[0]}` may be unbound when it starts"
        carried = [n for n in outputs if n in inputs]
        ordered = carried + sorted(inputs - set(carried))
        return _Plan(trips, ordered, outputs, _has_break(loop.body))

    def range_arguments(self, loop: gast.For) -> list[gast.expr] | None:
        """The arguments of the loop's ``range(...)``, when it loops over the builtin's."""
        call = loop.iter
        if not (
            isinstance(call, gast.Call)
            and isinstance(call.func, gast.Name)
            and call.func.id == "range"
            and "range" not in self.locals
            and not call.keywords
            and 1 <= len(call.args) <= 3
            and not any(isinstance(a, gast.Starred) for a in call.args)
        ):
            return None
        if static_value(call.func, self.ctx) is not builtins.range:
            return None  # a range of the module's or a closure's own
        return list(call.args)

    def unsafe(self, loop: gast.For, exposed: set[str]) -> str | None:
        """Why a replay of ``loop``'s body from a snapshot could compute something else,
        or a snapshot of its state would not hold; None when neither can happen. Lists and
        arrays an iteration makes afresh before using them (a comprehension's list, an
        ``np.zeros``) may be changed in place: no snapshot holds them."""
        fresh = self.fresh_names(loop.body) - exposed
        for stmt in statements(loop.body):
            if isinstance(stmt, gast.Assign):
                for target in stmt.targets:
                    if isinstance(target, gast.Subscript) and not (
                        isinstance(target.value, gast.Name) and target.value.id in fresh
                    ):
                        spelled = _spelled(target.value)
                        return f"it writes into `{spelled}` in place (`{spelled}[...] = ...`)"
                if isinstance(stmt.value, gast.Call):
                    callee = anno.get(stmt, anno.Key.CALLEE)
                    if getattr(callee, "kind", None) == "fallback":
                        return f"it calls {callee.name}, which runs on the tape"
                    reason = self.purity.call(stmt.value, self.ctx)
                    if reason is not None:
                        return reason
            elif isinstance(stmt, gast.Expr):
                if isinstance(stmt.value, gast.Constant):
                    continue
                call = stmt.value
                if isinstance(call, gast.Call) and isinstance(call.func, gast.Attribute):
                    owner, method = call.func.value, call.func.attr
                    if method in ("append", "extend", "insert"):
                        if isinstance(owner, gast.Name) and owner.id in fresh:
                            continue
                        return f"it grows the list `{_spelled(owner)}` (`.{method}`)"
                return "it calls something for its effects, which a replay would repeat"
            elif not isinstance(
                stmt, (gast.For, gast.While, gast.If, gast.With, gast.Break, gast.Pass,
                       gast.Assert, gast.Raise)
            ):  # fmt: skip
                return f"it holds a {type(stmt).__name__.lower()} statement"
        return None

    def fresh_names(self, body: list[gast.stmt]) -> set[str]:
        """Names every binding of which in ``body`` makes a new list, dict or array."""
        fresh: set[str] = set()
        other: set[str] = set()
        for stmt in statements(body):
            if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name):
                name = stmt.targets[0].id
                (fresh if self.makes_new(stmt.value) else other).add(name)
            elif isinstance(stmt, (gast.Assign, gast.For)):
                other |= _written(stmt)
        return fresh - other

    def makes_new(self, value: gast.expr) -> bool:
        if isinstance(value, (gast.List, gast.Dict, gast.Set)):
            return True
        if not isinstance(value, gast.Call):
            return False
        callee = resolve_call(value, self.ctx)
        try:
            return callee.value in _MAKERS
        except TypeError:
            return False

    # -- the rewrite ---------------------------------------------------------------------------

    def cut(self, loop: gast.For, plan: _Plan) -> list[gast.stmt]:
        """The statements that replace ``loop``: a loop over its segments, each one
        checkpointed call of the segment function made here."""
        ctx = self.ctx
        namer = ctx.namer
        origin = origin_of(loop)
        segment = namer.new("segment")
        stopped = namer.new("stopped") if plan.breaks else None
        base = ctx.function_name
        if self.own_loop is not None:
            base = f"{base.removesuffix('_segment')}_inner"
        name = namer.new(f"{base}_segment")
        definition = self.segment_function(loop, plan, name, segment, stopped)
        function, shown = self.compile(definition, name)
        _segments[function] = _Segment(definition, segment)
        ctx.free_values[name] = function

        segments = namer.new("segments")
        helper = ctx.bind_free("checkpoint_segments", checkpoint_segments)
        made = build.assign(segments, build.call(helper, *(copy_tree(a) for a in plan.trips)))
        anno.set(made, anno.Key.CALLEE, Callee("nondiff", helper, checkpoint_segments))
        anno.set(made, anno.Key.ACTIVE, False)

        outputs = [*plan.outputs, *([stopped] if stopped else [])]
        arguments = [build.load(n) for n in (*plan.inputs, segment)]
        call = gast.Call(func=build.load(name), args=arguments, keywords=[])
        active = any(n in ctx.active for n in plan.outputs)
        body: list[gast.stmt] = []
        if len(outputs) == 1:
            body.append(build.assign(outputs[0], call))
            called = body[0]
        else:
            state = namer.new("state")
            ctx.local_names.add(state)
            ctx.kinds[state] = ("tuple", len(outputs))
            if active:
                ctx.active.add(state)
            called = build.assign(state, call)
            unpack = gast.Assign(
                targets=[gast.Tuple(elts=[build.store(n) for n in outputs], ctx=gast.Store())],
                value=build.load(state),
                type_comment=None,
            )
            anno.set(unpack, anno.Key.CALLEE, COPY)
            anno.set(unpack, anno.Key.ACTIVE, active)
            body += [called, unpack]
        anno.set(called, anno.Key.CALLEE, Callee("user", name, function))
        anno.set(called, anno.Key.ACTIVE, active)
        anno.set(called, anno.Key.CHECKPOINT, True)
        if stopped is not None:
            body.append(gast.If(test=build.load(stopped), body=[gast.Break()], orelse=[]))
        replaced = build.for_loop(build.store(segment), build.load(segments), body)
        ctx.local_names.update({segment, segments, *([stopped] if stopped else [])})
        for stmt in (made, replaced):
            stamp(stmt, origin)
        carried = [n for n in plan.outputs if n in plan.inputs]
        if all(isinstance(a, gast.Constant) for a in plan.trips):
            count = len(range(*(a.value for a in plan.trips)))
            cut = checkpoint_segments(count)
            what = f"{count} iterations in {len(cut)} segments of up to {len(cut[0])}"
        else:
            what = "about sqrt(n) segments of about sqrt(n) iterations"
        state = ", ".join(carried) if carried else "nothing"
        self.note(loop, True, f"{what}; kept per segment: {state}", shown)
        return [made, replaced]

    def segment_function(
        self, loop: gast.For, plan: _Plan, name: str, segment: str, stopped: str | None
    ) -> gast.FunctionDef:
        """``def name(*inputs, segment): for target in segment: <body>; return outputs``."""
        body = [copy_tree(s) for s in loop.body]
        if stopped is not None:
            body = _flag_breaks(body, stopped)
        inner = build.for_loop(copy_tree(loop.target), build.load(segment), body)
        anno.copy_from(inner, loop, anno.Key.ORIGIN)
        returned = [*plan.outputs, *([stopped] if stopped else [])]
        value: gast.expr = (
            build.load(returned[0])
            if len(returned) == 1
            else gast.Tuple(elts=[build.load(n) for n in returned], ctx=gast.Load())
        )
        statements_ = [inner, gast.Return(value=value)]
        if stopped is not None:
            statements_.insert(0, build.assign(stopped, gast.Constant(False, None)))
        for stmt in statements_:
            stamp(stmt, origin_of(loop))
        args = gast.arguments(
            args=[build.param(n) for n in (*plan.inputs, segment)], posonlyargs=[],
            vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[],
        )  # fmt: skip
        return gast.FunctionDef(
            name=name, args=args, body=statements_, decorator_list=[], returns=None,
            type_comment=None, type_params=[],
        )  # fmt: skip

    def compile(self, definition: gast.FunctionDef, name: str) -> tuple[Any, str]:
        """The segment function, compiled with the user's globals and closure cells (and the
        helpers the passes bound), and its source."""
        read = reads(definition)
        free = {n: v for n, v in self.ctx.free_values.items() if n in read}
        (function,), shown = emit.compile_functions(
            [copy_tree(definition)], free, self.ctx.parsed.function, name
        )
        return function, shown


@dataclass
class _Plan:
    trips: list[gast.expr]
    #: parameters: the state carried from segment to segment first
    inputs: list[str]
    outputs: list[str]
    breaks: bool


def _live_in(stmts: list[gast.stmt], live: set[str]) -> set[str]:
    """The names live before ``stmts`` when ``live`` are live after them: read before any
    write on some path. A loop's target is written before its body reads it, and its body
    may not run; a ``break`` is taken as going on (what is live after its loop is added
    where the loop is)."""
    live = set(live)
    for stmt in reversed(stmts):
        if isinstance(stmt, gast.For):
            target = {n.id for n in walk(stmt.target) if isinstance(n, gast.Name)}
            live = live | reads(stmt.iter) | (_live_in(stmt.body, set()) - target)
        elif isinstance(stmt, gast.While):
            live = live | reads(stmt.test) | _live_in(stmt.body, set())
        elif isinstance(stmt, gast.If):
            live = reads(stmt.test) | _live_in(stmt.body, live) | _live_in(stmt.orelse, live)
        elif isinstance(stmt, gast.With):
            items = set()
            for item in stmt.items:
                items |= reads(item.context_expr)
            live = items | _live_in(stmt.body, live)
        elif isinstance(stmt, gast.Assign) and not isinstance(stmt.targets[0], gast.Subscript):
            live = (live - bound_names(stmt)) | reads(stmt.value)
        else:
            live = live | reads(stmt)
    return live


def _written(stmt: gast.stmt) -> set[str]:
    names = set()
    for node in walk(stmt) if not isinstance(stmt, (gast.If, gast.For, gast.While)) else []:
        if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Store):
            names.add(node.id)
    if isinstance(stmt, gast.For):
        names |= {n.id for n in walk(stmt.target) if isinstance(n, gast.Name)}
    return names


def _written_before_break(body: list[gast.stmt]) -> set[str]:
    """Names every iteration binds before anything that may end the loop: its top-level
    assignments up to the first statement holding a ``break``."""
    names: set[str] = set()
    for stmt in body:
        if _has_break([stmt]):
            break
        if isinstance(stmt, gast.Assign):
            names |= bound_names(stmt)
    return names


def _has_break(stmts: list[gast.stmt]) -> bool:
    """Whether a ``break`` in ``stmts`` ends the loop they are the body of."""
    for stmt in stmts:
        if isinstance(stmt, gast.Break):
            return True
        if isinstance(stmt, (gast.If, gast.With)) and _has_break(
            stmt.body + getattr(stmt, "orelse", [])
        ):
            return True
    return False


def _flag_breaks(stmts: list[gast.stmt], flag: str) -> list[gast.stmt]:
    """``stmts`` with ``flag = True`` before each ``break`` of their loop."""
    out: list[gast.stmt] = []
    for stmt in stmts:
        if isinstance(stmt, gast.Break):
            setting = build.assign(flag, gast.Constant(True, None))
            stamp(setting, origin_of(stmt))
            out += [setting, stmt]
            continue
        if isinstance(stmt, (gast.If, gast.With)):
            stmt.body = _flag_breaks(stmt.body, flag)
            if isinstance(stmt, gast.If):
                stmt.orelse = _flag_breaks(stmt.orelse, flag)
        out.append(stmt)
    return out


def _surely_bound(stmts: list[gast.stmt], bound: set[str], before: dict[int, set[str]]) -> set[str]:
    """The names surely bound after ``stmts`` when ``bound`` are before them; records, for
    each loop, those surely bound when it starts."""
    bound = set(bound)
    for stmt in stmts:
        if isinstance(stmt, (gast.For, gast.While)):
            before[id(stmt)] = set(bound)
            _surely_bound(stmt.body, bound | bound_names(stmt), before)
        elif isinstance(stmt, gast.If):
            bound = _surely_bound(stmt.body, bound, before) & _surely_bound(
                stmt.orelse, bound, before
            )
        elif isinstance(stmt, gast.With):
            bound = _surely_bound(stmt.body, bound, before)
        elif isinstance(stmt, gast.Assign):
            bound |= bound_names(stmt)
    return bound


# -- which calls compute the same when run again ---------------------------------------------

#: functions whose result is a new list, dict or array, shared with nothing
_MAKERS = frozenset({
    builtins.list, builtins.dict, np.zeros, np.ones, np.empty, np.full, np.zeros_like,
    np.ones_like, np.empty_like, np.full_like, np.copy, np.array, np.eye, np.identity,
})  # fmt: skip
#: builtins with effects, or whose result depends on more than their arguments
_IMPURE_BUILTINS = frozenset({
    builtins.print, builtins.input, builtins.open, builtins.exec, builtins.eval,
    builtins.breakpoint, builtins.id, builtins.iter, builtins.next, builtins.setattr,
    builtins.delattr, builtins.globals, builtins.locals, builtins.vars, builtins.hash,
})  # fmt: skip
#: methods that change a list, dict or array: allowed in a helper on its own fresh values
_CHANGING_METHODS = frozenset({"append", "extend", "insert", "pop", "update", "setdefault"})
#: how deep the helpers a loop calls are read
_DEPTH = 6


class _Purity:
    """Whether calls compute the same when run again with the same arguments, and change
    nothing else: NumPy, ``math`` and builtins (not random draws, not output), functions
    with rules, and functions of the user's that call only such (read from their source,
    and known by ``effects`` to leave their arguments alone)."""

    def __init__(self, ctx: TransformContext) -> None:
        self.ctx = ctx
        self.functions: dict[int, str | None] = {}  # id(function) -> reason, None: pure

    def call(self, call: gast.Call, ctx: TransformContext, depth: int = 0) -> str | None:
        spelled = _spelled(call.func)
        if any(k.arg == "out" for k in call.keywords):
            return f"it calls {spelled}(..., out=...), which writes into an array"
        callee = resolve_call(call, ctx)
        if callee.kind == "unknown" and callee.receiver is not None:
            method = call.func.attr
            if depth and method in _CHANGING_METHODS:
                return None  # a helper's own list: effects says its arguments stay
            return f"it calls `.{method}()` on an object, which a replay might not repeat"
        return self.value(callee.value, spelled, callee.kind, depth)

    def value(self, value: Any, spelled: str, kind: str, depth: int) -> str | None:
        if isinstance(value, Checkpointed):
            value, kind = value.function, "user"
        if kind == "rule":
            return None
        if kind == "user" and isinstance(value, types.FunctionType):
            return self.function(value, spelled, depth)
        if kind in ("nondiff", "unknown") and _deterministic(value):
            return None
        return f"it calls {spelled}, which may not compute the same when run again"

    def function(self, function: types.FunctionType, spelled: str, depth: int) -> str | None:
        if depth >= _DEPTH:
            return f"it calls {spelled}, whose calls nest too deeply to read"
        key = id(function)
        if key in self.functions:
            return self.functions[key]
        self.functions[key] = f"it calls {spelled}, which calls itself"  # while reading it
        found = self.read(function, spelled, depth)
        self.functions[key] = found
        return found

    def read(self, function: types.FunctionType, spelled: str, depth: int) -> str | None:
        try:
            parsed = parse_function(function)
            namer = Namer()
            namer.reserve_tree(parsed.node)
            helper = TransformContext(
                parsed=parsed, wrt=(), namer=namer, local_names=local_names_of(parsed.node)
            )
            node = normalize.transform(desugar.transform(parsed.node, helper), helper)
        except TransformError:
            return f"it calls {spelled}, which the transform cannot read"
        found = effects.summary(function)
        if found.mutates or found.rebinds or found.mutates_external:
            # (one that may return an argument itself is no concern inside a loop's body)
            return f"it calls {spelled}, which {_changes_arguments(function)}"
        for stmt in statements(node.body):
            for sub in walk(stmt):
                if isinstance(sub, gast.Call):
                    reason = self.call(sub, helper, depth + 1)
                    if reason is not None:
                        return f"it calls {spelled}, and {reason.removeprefix('it ')}"
        # What decided this holds while the helper's globals do: watch them too.
        self.ctx.parsed.recorder.include(parsed.recorder.guard())
        return None


def _deterministic(value: Any) -> bool:
    """Whether a library function (no rule) is a function of its arguments alone."""
    if value is None:
        return False
    try:
        if value in _IMPURE_BUILTINS:
            return False
    except TypeError:
        return False
    owner = getattr(value, "__self__", None)
    if owner is not None and not isinstance(
        owner, (types.ModuleType, np.ufunc, str, bytes, int, float, tuple, frozenset, range)
    ):
        return False  # a method of an object (a random generator's): it has state
    if isinstance(owner, np.ufunc) and getattr(value, "__name__", "") == "at":
        return False  # np.add.at writes in place
    if isinstance(value, type):
        return issubclass(value, (np.generic, int, float, complex, bool, tuple, range, slice))
    module = getattr(value, "__module__", None) or ""
    if "random" in module.split("."):
        return False
    if isinstance(value, np.ufunc):
        return True
    return module.split(".")[0] in ("numpy", "math", "builtins", "astgrad", "scipy", "cmath")


def _spelled(func: gast.expr) -> str:
    if isinstance(func, gast.Name):
        return func.id
    if isinstance(func, gast.Attribute):
        return f"{_spelled(func.value)}.{func.attr}"
    return "a call"

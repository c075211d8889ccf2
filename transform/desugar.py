"""desugar: rewrite statements whose control flow is irregular into regular ones.

Guarantee. After this pass:

* the function has one ``return``, its last statement: every other ``return v`` became
  ``result = v`` (plus ``returned = True; break`` inside a loop), and the code a return
  skips sits in a branch that is not taken (or behind ``if not returned:``);
* no loop has an ``else`` clause (``for ... else`` runs it behind ``if not stopped:``,
  where ``stopped`` is set before each ``break`` of that loop);
* every ``for`` loop has a single name as its target, and loops over ``enumerate(s)``,
  ``zip(a, b, ...)``, ``reversed(s)`` (``s[-1 - i]``), ``d.items()``, ``d.values()`` and
  ``d.keys()`` iterate over indices or keys, reading the elements by subscript (so
  gradients reach the elements of differentiated sequences and dicts).

A ``return`` inside a ``with`` block (outside loops) is lowered as one inside an ``if``
branch is; one inside a ``with`` inside a loop is a TransformError, as is a function made
by a decorator (``functools.wraps``): its wrapper's code, not the source of the function
it wraps, is what runs.

The statements are still the user's (not yet one operation each): ``normalize`` runs next.
"""

from __future__ import annotations

import copy

import gast

from ..runtime import primitives
from . import anno, build, dataflow
from .context import TransformContext
from .errors import TAPE_ADVICE, TransformError
from .origin import of as origin_of
from .resolve import grad_mode_switch
from .walk import walk


def transform(node: gast.FunctionDef, ctx: TransformContext) -> gast.FunctionDef:
    _refuse_wrapper(node, ctx)
    node.body = _Loops(ctx).block(node.body)
    node.body = single_exit(node.body, ctx)
    return node


def _refuse_wrapper(node: gast.FunctionDef, ctx: TransformContext) -> None:
    """A function made by a decorator that keeps ``__wrapped__`` (``functools.wraps``)
    runs the wrapper's code, which may change the result (double it) or the grad mode
    (``@ag.no_grad``): neither the wrapped function's source nor a wrapper taking
    ``*args`` gives its gradient."""
    function = ctx.parsed.function
    if not hasattr(function, "__wrapped__"):
        return
    switch = grad_mode_switch(function)
    if switch is not None:
        what = "ag.enable_grad" if switch[0] else "ag.no_grad or ag.set_grad_enabled(False)"
        reason = f"{function.__qualname__} is decorated with {what}"
    else:
        reason = f"{function.__qualname__} is wrapped by a decorator (functools.wraps)"
    raise TransformError(
        f"{reason}; the transform differentiates plain functions, not what a decorator "
        "made of them.",
        origin_of(node),
        TAPE_ADVICE,
    )


# -- helpers ----------------------------------------------------------------------------


def _stamp(stmt: gast.AST, like: gast.AST) -> gast.AST:
    origin = origin_of(like)
    for sub in walk(stmt):
        if not anno.has(sub, anno.Key.ORIGIN) and origin is not None:
            anno.set(sub, anno.Key.ORIGIN, origin)
    return stmt


def _index(value: gast.expr, index: gast.expr) -> gast.Subscript:
    return gast.Subscript(value=copy.deepcopy(value), slice=index, ctx=gast.Load())


# -- loops ------------------------------------------------------------------------------


class _Loops:
    """Loop targets, iteration helpers and ``else`` clauses."""

    def __init__(self, ctx: TransformContext) -> None:
        self.ctx = ctx

    def new(self, base: str) -> str:
        name = self.ctx.namer.new(base)
        self.ctx.local_names.add(name)
        return name

    def block(self, stmts: list[gast.stmt]) -> list[gast.stmt]:
        out: list[gast.stmt] = []
        for stmt in stmts:
            out.extend(self.stmt(stmt))
        return out

    def stmt(self, stmt: gast.stmt) -> list[gast.stmt]:
        for field in ("body", "orelse"):
            if getattr(stmt, field, None) and not isinstance(stmt, (gast.FunctionDef, gast.Lambda)):
                setattr(stmt, field, self.block(getattr(stmt, field)))
        if isinstance(stmt, gast.For):
            return self.for_loop(stmt)
        if isinstance(stmt, gast.While) and stmt.orelse:
            return self.loop_else(stmt)
        return [stmt]

    def for_loop(self, stmt: gast.For) -> list[gast.stmt]:
        prelude, stmt = self.iterate(stmt)
        if not isinstance(stmt.target, gast.Name):
            # for a, b in pairs:  ->  for item in pairs: a, b = item
            item = self.new("item")
            unpack = gast.Assign(targets=[stmt.target], value=build.load(item), type_comment=None)
            stmt.body = [_stamp(unpack, stmt), *stmt.body]
            stmt.target = build.store(item)
        out = [_stamp(s, stmt) for s in prelude]
        if stmt.orelse:
            out.extend(self.loop_else(stmt))
        else:
            out.append(stmt)
        return out

    def iterate(self, stmt: gast.For) -> tuple[list[gast.stmt], gast.For]:
        """Loops over enumerate/zip/dict views become loops over indices or keys."""
        prelude: list[gast.stmt] = []
        plan = self._index_plan(stmt.iter, stmt.target, prelude, stmt)
        if plan is not None:
            length, bindings = plan
            index = self.new("index")
            body = [
                gast.Assign(targets=[target], value=make(build.load(index)), type_comment=None)
                for target, make in bindings
            ]
            stmt.body = [_stamp(b, stmt) for b in body] + stmt.body
            stmt.target = build.store(index)
            stmt.iter = build.call("range", length)
            return prelude, stmt
        call = stmt.iter
        if (
            isinstance(call, gast.Call)
            and isinstance(call.func, gast.Attribute)
            and call.func.attr in ("items", "values", "keys")
            and not call.args
        ):
            mapping = self._as_name(call.func.value, "mapping", prelude, stmt)
            stmt.iter = copy.deepcopy(mapping)
            if call.func.attr == "keys":
                return prelude, stmt
            key = self.new("key")
            if call.func.attr == "values":
                body = [
                    gast.Assign(
                        targets=[stmt.target],
                        value=_index(mapping, build.load(key)),
                        type_comment=None,
                    )
                ]
            else:
                if not (isinstance(stmt.target, gast.Tuple) and len(stmt.target.elts) == 2):
                    return [], stmt
                key_target, value_target = stmt.target.elts
                body = [
                    gast.Assign(targets=[key_target], value=build.load(key), type_comment=None),
                    gast.Assign(
                        targets=[value_target],
                        value=_index(mapping, build.load(key)),
                        type_comment=None,
                    ),
                ]
            stmt.body = [_stamp(b, stmt) for b in body] + stmt.body
            stmt.target = build.store(key)
            return prelude, stmt
        return [], stmt

    def _index_plan(self, iterable: gast.expr, target: gast.expr, prelude: list, stmt: gast.stmt):
        """For ``enumerate(...)`` and ``zip(...)`` (nested too): the number of iterations and,
        per target name, how to read its value from the index."""
        if not isinstance(iterable, gast.Call) or not isinstance(iterable.func, gast.Name):
            return None
        name = iterable.func.id
        if name == "enumerate" and self._builtin(name) and len(iterable.args) >= 1:
            if not (isinstance(target, gast.Tuple) and len(target.elts) == 2):
                return None
            counter, element = target.elts
            start = (
                iterable.args[1]
                if len(iterable.args) > 1
                else next((k.value for k in iterable.keywords if k.arg == "start"), None)
            )
            inner = self._index_plan(iterable.args[0], element, prelude, stmt)
            if inner is None:
                sequence = self._as_name(iterable.args[0], "sequence", prelude, stmt)
                inner = (
                    self._length(sequence),
                    [(element, lambda i, s=sequence: _index(s, i))],
                )
            length, bindings = inner
            offset = (
                (lambda i: i)
                if start is None
                else (lambda i, s=start: gast.BinOp(left=i, op=gast.Add(), right=copy.deepcopy(s)))
            )
            return length, [(counter, offset), *bindings]
        if (
            name == "reversed"
            and self._builtin(name)
            and len(iterable.args) == 1
            and not iterable.keywords
            and not _is_range(iterable.args[0])  # a reversed range is a plain counted loop
        ):
            # reversed(s) -> index i reads s[-1 - i]: the elements stay subscripts of s, so
            # a gradient reaches them (the iterator reversed() makes has no length).
            sequence = self._as_name(iterable.args[0], "sequence", prelude, stmt)
            return (
                self._length(sequence),
                [(target, lambda i, s=sequence: _index(s, _minus_one_minus(i)))],
            )
        if name == "zip" and self._builtin(name) and iterable.args and not iterable.keywords:
            if not (isinstance(target, gast.Tuple) and len(target.elts) == len(iterable.args)):
                return None
            bindings = []
            lengths = []
            for argument, element in zip(iterable.args, target.elts):
                inner = self._index_plan(argument, element, prelude, stmt)
                if inner is not None:  # zip(reversed(a), b), zip(enumerate(a), b)
                    lengths.append(inner[0])
                    bindings.extend(inner[1])
                    continue
                sequence = self._as_name(argument, "sequence", prelude, stmt)
                lengths.append(self._length(sequence))
                bindings.append((element, lambda i, s=sequence: _index(s, i)))
            return (build.call("min", *lengths) if len(lengths) > 1 else lengths[0]), bindings
        return None

    def _length(self, sequence: gast.expr) -> gast.Call:
        """How many times an index loop over ``sequence`` runs. Not ``len``: for a dict,
        ``d[i]`` would look up a key instead of reading the i-th element."""
        helper = self.ctx.bind_free("sequence_length", primitives.sequence_length)
        return build.call(helper, copy.deepcopy(sequence))

    def _builtin(self, name: str) -> bool:
        return name not in self.ctx.local_names and name not in self.ctx.parsed.globals

    def _as_name(self, value: gast.expr, base: str, prelude: list, stmt: gast.stmt) -> gast.expr:
        if isinstance(value, gast.Name):
            return value
        name = self.new(base)
        prelude.append(build.assign(name, value))
        return build.load(name)

    def loop_else(self, stmt: gast.For | gast.While) -> list[gast.stmt]:
        """``loop ... else: E``  ->  ``stopped = False; loop (stopped = True before each
        break); if not stopped: E``."""
        stopped = self.new("stopped")
        orelse = stmt.orelse
        stmt.orelse = []
        stmt.body = _before_breaks(
            stmt.body, lambda: build.assign(stopped, gast.Constant(True, None))
        )
        check = gast.If(
            test=gast.UnaryOp(op=gast.Not(), operand=build.load(stopped)), body=orelse, orelse=[]
        )
        return [
            _stamp(build.assign(stopped, gast.Constant(False, None)), stmt),
            stmt,
            _stamp(check, stmt),
        ]


def _is_range(node: gast.expr) -> bool:
    return (
        isinstance(node, gast.Call) and isinstance(node.func, gast.Name) and node.func.id == "range"
    )


def _minus_one_minus(index: gast.expr) -> gast.expr:
    """``-1 - index``: the position, from the end, of the index-th element."""
    minus_one = gast.UnaryOp(op=gast.USub(), operand=gast.Constant(1, None))
    return gast.BinOp(left=minus_one, op=gast.Sub(), right=index)


def _is_enumerate(call: gast.Call) -> bool:
    return (
        isinstance(call.func, gast.Name)
        and call.func.id == "enumerate"
        and all(k.arg == "start" for k in call.keywords)
    )


def _before_breaks(stmts: list[gast.stmt], make: callable) -> list[gast.stmt]:
    """Insert ``make()`` before every ``break`` of this loop (not of loops nested in it)."""
    out = []
    for stmt in stmts:
        if isinstance(stmt, gast.Break):
            out.append(_stamp(make(), stmt))
        elif isinstance(stmt, gast.If):
            stmt.body = _before_breaks(stmt.body, make)
            stmt.orelse = _before_breaks(stmt.orelse, make)
        elif isinstance(stmt, (gast.With,)):
            stmt.body = _before_breaks(stmt.body, make)
        out.append(stmt)
    return out


# -- a single exit ---------------------------------------------------------------------------


class _NeedFlags(Exception):
    """Raised to restart lowering with a ``returned`` flag."""


def single_exit(body: list[gast.stmt], ctx: TransformContext) -> list[gast.stmt]:
    """Rewrite every ``return`` so the function has one, at its end."""
    returns = [
        n for n in dataflow.statements(body, enter_definitions=False) if isinstance(n, gast.Return)
    ]
    if not returns:
        return [
            *body,
            _stamp(gast.Return(value=gast.Constant(None, None)), body[-1] if body else gast.Pass()),
        ]
    if len(returns) == 1 and body and body[-1] is returns[0]:
        return body
    in_loops = any(
        isinstance(n, gast.Return)
        for loop in dataflow.statements(body, enter_definitions=False)
        if isinstance(loop, (gast.For, gast.While))
        for n in dataflow.statements(loop.body, enter_definitions=False)
    )
    for use_flags in [True] if in_loops else [False, True]:
        lowering = _Returns(ctx, use_flags)
        try:
            lowered, status = lowering.block(copy.deepcopy(body), in_loop=False)
        except _NeedFlags:
            continue
        prelude = [build.assign(lowering.result, gast.Constant(None, None))]
        if use_flags:
            prelude.append(build.assign(lowering.flag, gast.Constant(False, None)))
        prelude = [_stamp(s, body[0]) for s in prelude]
        final = _stamp(gast.Return(value=build.load(lowering.result)), returns[-1])
        return [*prelude, *lowered, final]
    raise TransformError("internal: could not lower the returns", origin_of(returns[0]))


def _may_return(stmts: list[gast.stmt]) -> bool:
    return any(
        isinstance(s, gast.Return) for s in dataflow.statements(stmts, enter_definitions=False)
    )


class _Returns:
    def __init__(self, ctx: TransformContext, use_flags: bool) -> None:
        self.result = ctx.namer.new("result")
        self.flag = ctx.namer.new("returned")
        ctx.local_names.update({self.result, self.flag})
        self.use_flags = use_flags

    def block(self, stmts: list[gast.stmt], in_loop: bool) -> tuple[list[gast.stmt], str]:
        """Lower ``stmts``; the status says whether they "always", "never" or "sometimes" return."""
        out: list[gast.stmt] = []
        for i, stmt in enumerate(stmts):
            rest = stmts[i + 1 :]
            if isinstance(stmt, gast.Return):
                value = stmt.value if stmt.value is not None else gast.Constant(None, None)
                out.append(_stamp(build.assign(self.result, value), stmt))
                if self.use_flags:
                    out.append(_stamp(build.assign(self.flag, gast.Constant(True, None)), stmt))
                if in_loop:
                    out.append(_stamp(gast.Break(), stmt))
                return out, "always"
            if isinstance(stmt, gast.If) and _may_return(stmt.body + stmt.orelse):
                body, body_status = self.block(stmt.body, in_loop)
                orelse, orelse_status = self.block(stmt.orelse, in_loop)
                stmt.body, stmt.orelse = body or [gast.Pass()], orelse
                if in_loop:
                    # Returns became breaks: the loop's own structuring moves what follows.
                    if not self.use_flags:
                        raise _NeedFlags()
                    out.append(stmt)
                    rest_lowered, _ = self.block(rest, in_loop)
                    out.extend(rest_lowered)
                    return out, "sometimes"
                if body_status == "always" and orelse_status == "always":
                    out.append(stmt)
                    return out, "always"
                if "sometimes" not in (body_status, orelse_status):
                    rest_lowered, rest_status = self.block(rest, in_loop)
                    if body_status == "always":
                        stmt.orelse = stmt.orelse + rest_lowered
                    else:
                        stmt.body = [
                            s for s in stmt.body if not isinstance(s, gast.Pass)
                        ] + rest_lowered or [gast.Pass()]
                    out.append(stmt)
                    return out, "always" if rest_status == "always" else "sometimes"
                if not self.use_flags:
                    raise _NeedFlags()
                out.append(stmt)
                return self._guarded(out, rest, in_loop)
            if isinstance(stmt, gast.With) and _may_return(stmt.body):
                if in_loop:
                    # It would become a break inside the with block, which normalize refuses.
                    inner = next(
                        n
                        for n in dataflow.statements(stmt.body, enter_definitions=False)
                        if isinstance(n, gast.Return)
                    )
                    raise TransformError(
                        "`return` inside a `with` block inside a loop is not supported by the "
                        "source transformation",
                        origin_of(inner),
                        TAPE_ADVICE,
                    )
                # The block ends where the return was; what follows it runs only when it
                # did not return.
                body, body_status = self.block(stmt.body, in_loop)
                stmt.body = body or [gast.Pass()]
                out.append(stmt)
                if body_status == "always":
                    return out, "always"
                if not self.use_flags:
                    raise _NeedFlags()
                return self._guarded(out, rest, in_loop)
            if isinstance(stmt, (gast.For, gast.While)) and _may_return(stmt.body):
                if not self.use_flags:
                    raise _NeedFlags()
                stmt.body, _ = self.block(stmt.body, in_loop=True)
                out.append(stmt)
                if in_loop:
                    # Leave the enclosing loop too when a return left this one.
                    rest_lowered, _ = self.block(rest, in_loop)
                    leave = gast.If(
                        test=build.load(self.flag), body=[gast.Break()], orelse=rest_lowered
                    )
                    out.append(_stamp(leave, stmt))
                    return out, "sometimes"
                return self._guarded(out, rest, in_loop)
            out.append(stmt)
        return out, "never"

    def _guarded(
        self, out: list[gast.stmt], rest: list[gast.stmt], in_loop: bool
    ) -> tuple[list[gast.stmt], str]:
        if rest:
            rest_lowered, _ = self.block(rest, in_loop)
            guard = gast.If(
                test=gast.UnaryOp(op=gast.Not(), operand=build.load(self.flag)),
                body=rest_lowered,
                orelse=[],
            )
            out.append(_stamp(guard, rest[0]))
        return out, "sometimes"

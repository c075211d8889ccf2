"""tangents: forward mode. Each statement gets, beside it, the statement that computes the
tangent of what it writes, so the function computes ``(value, tangent)`` in one pass.

The input is the analyzed core function (one operation per statement, activity per name,
shape classes); the output is the whole forward function::

    def f(x, W):                     def f_jvp(x, W, *, dx, dW):
        h = np.tanh(x @ W)               # tangent of: h = np.tanh(x @ W)
        return np.sum(h)                 matmul = x @ W
                                         dmatmul = dx @ W + x @ dW
                                         h = np.tanh(matmul)
                                         dh = dmatmul * (1 - h * h)
                                         ...
                                         return total, tangent_out(dtotal, total)

Unlike the reverse pass nothing is saved: control flow runs once, as written, and each
tangent is computed right where its value is. The one care is order: a tangent that reads
the statement's result (``tanh``'s) comes after it, one that reads an operand the
statement overwrites (``x = x * y``) before it, and one that reads both from the result
kept aside (``x_new``). Every active name holds its tangent wherever it holds a value: a
constant assigned to it gets ``zero_tangent``.

Forward rules come from the one rule table (``runtime.rules.forward``): a linear
primitive's tangent is the same call on the tangent (``np.reshape(dx, s)``, ``dx.T``,
``dx[i]``); the others are inlined as vjp rules are (``inline.inline_tangent``).
"""

from __future__ import annotations

import builtins
import copy
import inspect
from typing import Any

import gast
import numpy as np

from ..runtime.rules.shared import shape_only_positions
from . import anno, build, shapes
from .analyze import CONSTANT, CONTAINER, COPY, SUBSCRIPT, operand_atoms
from .build import load, store
from .context import TransformContext
from .dataflow import reads
from .errors import TransformError
from .inline import check_result_dtype, inline_tangent, is_negated_number, is_number
from .objects import BUILD, FIELD, FIELD_STORE, callee_kinds, label
from .origin import of as origin_of
from .resolve import Callee
from .walk import copy_tree

#: primitives other than ufuncs whose result has the broadcast shape of their operands
_BROADCASTING = (np.where, np.clip, builtins.sum)

#: anno.Key.PART of tangent statements (the comments and the readers tell them apart)
TANGENT = "tangent"


#: primitives other than ufuncs whose call computes a value and changes nothing
_PURE = frozenset({np.sum, np.mean, np.prod, np.max, np.min, np.amax, np.amin, np.dot, np.matmul})


def _without_unread_values(stmts: list[gast.stmt], returned: gast.expr) -> list[gast.stmt]:
    """The top-level statements of ``f_tangent`` less the values no later statement reads
    where computing them changes nothing (``mean = np.mean(power)``, whose tangent
    ``mean_tangent(dpower)`` does not read it): ``ag.hvp`` would compute them for nothing.
    Anything inside a loop or branch, and every tangent, stays."""
    live = {n.id for n in gast.walk(returned) if isinstance(n, gast.Name)}
    kept: list[gast.stmt] = []
    for stmt in reversed(stmts):
        if _pure_value(stmt) and not {t.id for t in stmt.targets} & live:
            continue
        live |= {n.id for n in gast.walk(stmt) if isinstance(n, gast.Name)}
        kept.append(stmt)
    return kept[::-1]


def _pure_value(stmt: gast.stmt) -> bool:
    """A value of the program (not a tangent) bound to a name by a NumPy operator, ufunc or
    reduction with a rule, without ``out=``: computing it changes nothing."""
    if (
        not isinstance(stmt, gast.Assign)
        or anno.get(stmt, anno.Key.PART) == TANGENT
        or not all(isinstance(t, gast.Name) for t in stmt.targets)
    ):
        return False
    callee = anno.get(stmt, anno.Key.CALLEE)
    if callee is None or callee.kind != "rule" or callee.rule is None:
        return False
    value = stmt.value
    if isinstance(value, gast.Call) and any(k.arg in (None, "out") for k in value.keywords):
        return False
    primitive = callee.rule.primitive
    return (isinstance(primitive, np.ufunc) and primitive.nout == 1) or primitive in _PURE


def _same_name(a: gast.expr, b: gast.expr) -> bool:
    return isinstance(a, gast.Name) and isinstance(b, gast.Name) and a.id == b.id


def transform(node: gast.FunctionDef, ctx: TransformContext) -> gast.FunctionDef:
    """Guarantees: the function returns ``(value, tangent of value)`` for keyword-only
    tangents ``d<param>`` of the parameters in ``ctx.wrt``; every active name's tangent is
    bound wherever the name is."""
    return _Forward(ctx).run(node)


def transform_tangent(node: gast.FunctionDef, ctx: TransformContext) -> gast.FunctionDef:
    """As ``transform``, but the function (``f_tangent``) returns the tangent alone, of
    the value's shape: what ``ag.hvp`` differentiates, so that reverse mode over it leaves
    out the value's own computation where no tangent reads it (a loss's final mean), and
    the value's cotangent, which is zero."""
    return _Forward(ctx, tangent_only=True).run(node)


class _Forward:
    def __init__(self, ctx: TransformContext, tangent_only: bool = False) -> None:
        self.ctx = ctx
        self.namer = ctx.namer
        self.tangent_only = tangent_only

    def tangent(self, name: str) -> str:
        return self.namer.adjoint(name)

    def helper(self, name: str) -> str:
        from ..runtime import tangents

        return self.ctx.bind_free(name, getattr(tangents, name))

    # -- driver ---------------------------------------------------------------------------

    def run(self, node: gast.FunctionDef) -> gast.FunctionDef:
        args = node.args
        if args.vararg is not None or args.kwarg is not None:
            raise TransformError(
                f"{self.ctx.function_name}(*args, **kwargs): forward mode needs named parameters",
                origin_of(node),
            )
        params = [a.id for a in args.posonlyargs + args.args + args.kwonlyargs]
        body = node.body
        result = body[-1].value
        start = [
            self._zero(name)
            for name in params
            if name in self.ctx.active and name not in self.ctx.wrt
        ]
        out = [*start, *self.block(body[:-1])]
        if isinstance(result, gast.Name) and result.id in self.ctx.active:
            tangent: gast.expr = load(self.tangent(result.id))
        else:
            tangent = gast.Constant(0.0, None)
        returned = build.call(self.helper("tangent_out"), tangent, copy_tree(result))
        if self.tangent_only:
            # (the tangent of a returned name has its shape already)
            alone = tangent if isinstance(tangent, gast.Name) else returned
            out = _without_unread_values(out, alone)
            out.append(gast.Return(value=alone))
        else:
            out.append(gast.Return(value=gast.Tuple([copy_tree(result), returned], gast.Load())))
        new_args = copy.deepcopy(args)
        for name in self.ctx.wrt:
            new_args.kwonlyargs.append(build.param(self.tangent(name)))
            new_args.kw_defaults.append(None)
        own = label(self.ctx.parsed.function) if node.name != "<lambda>" else "lambda_"
        suffix = "tangent" if self.tangent_only else "jvp"
        name = self.namer.new(f"{own}_{suffix}")  # (a method: MLP_call_jvp, issue 17)
        return build.function(name, new_args, out)

    def block(self, stmts: list[gast.stmt]) -> list[gast.stmt]:
        out: list[gast.stmt] = []
        for stmt in stmts:
            handler = getattr(self, f"stmt_{type(stmt).__name__}", None)
            if handler is None:
                raise TransformError(
                    f"forward mode does not handle a {type(stmt).__name__} statement yet",
                    origin_of(stmt),
                )
            out.extend(handler(stmt))
        return out

    # -- statements -----------------------------------------------------------------------

    def stmt_If(self, stmt: gast.If) -> list[gast.stmt]:
        stmt.body = self.block(stmt.body) or [gast.Pass()]
        stmt.orelse = self.block(stmt.orelse)
        return [stmt]

    def stmt_For(self, stmt: gast.For) -> list[gast.stmt]:
        target_names = {n.id for n in gast.walk(stmt.target) if isinstance(n, gast.Name)}
        carried = target_names & self.ctx.active
        zeros = []
        if carried:
            iterable = {n.id for n in gast.walk(stmt.iter) if isinstance(n, gast.Name)}
            if iterable & self.ctx.active:
                raise TransformError(
                    "forward mode: a loop whose variable carries a derivative", origin_of(stmt)
                )
            # A constant iterable's items (``for item in (v, x)``, item differentiated in
            # another loop): each iteration's target has no tangent.
            zeros = [self._zero(name, stmt) for name in sorted(carried)]
        stmt.body = [*zeros, *self.block(stmt.body)] or [gast.Pass()]
        stmt.orelse = self.block(stmt.orelse)
        return [stmt]

    def stmt_While(self, stmt: gast.While) -> list[gast.stmt]:
        stmt.body = self.block(stmt.body) or [gast.Pass()]
        stmt.orelse = self.block(stmt.orelse)
        return [stmt]

    def stmt_Pass(self, stmt: gast.stmt) -> list[gast.stmt]:
        return [stmt]

    # (a raise ends the computation: what it reads is computed, and no tangent is needed)
    stmt_Assert = stmt_Break = stmt_Continue = stmt_Raise = stmt_Pass

    def stmt_With(self, stmt: gast.With) -> list[gast.stmt]:
        # Its body's tangents beside its values, inside it (a block left as it was gave
        # no tangent of what it computed, or kept a stale one of a name it overwrote; a
        # no_grad block's statements are inactive: their names' tangents become zero)
        stmt.body = self.block(stmt.body) or [gast.Pass()]
        return [stmt]

    def stmt_Expr(self, stmt: gast.Expr) -> list[gast.stmt]:
        call = stmt.value
        if not anno.get(stmt, anno.Key.ACTIVE):
            return [stmt]
        if (
            isinstance(call, gast.Call)
            and isinstance(call.func, gast.Attribute)
            and call.func.attr == "append"
            and isinstance(call.func.value, gast.Name)
            and len(call.args) == 1
        ):
            items = call.func.value.id
            appended = gast.Call(
                func=gast.Attribute(
                    value=load(self.tangent(items)), attr="append", ctx=gast.Load()
                ),
                args=[self.tangent_of(call.args[0])],
                keywords=[],
            )
            return [stmt, self._tag(gast.Expr(value=appended), stmt)]
        raise TransformError(
            "forward mode: a call whose effect carries a derivative", origin_of(stmt)
        )

    def stmt_Assign(self, stmt: gast.Assign) -> list[gast.stmt]:
        target = stmt.targets[0]
        if isinstance(target, gast.Subscript):
            return self.assign_into(stmt)
        written = {n.id for n in gast.walk(target) if isinstance(n, gast.Name)}
        callee: Callee | None = anno.get(stmt, anno.Key.CALLEE)
        if not anno.get(stmt, anno.Key.ACTIVE):
            zeros = [self._zero(n, stmt) for n in sorted(written & self.ctx.active)]
            if zeros and is_number(stmt.value):
                zeros = [
                    self._tag(build.assign(self.tangent(target.id), gast.Constant(0.0, None)), stmt)
                ]
            return [stmt, *zeros]
        if isinstance(target, gast.Tuple):
            return self.unpack(stmt, callee)
        name = target.id
        if callee is not None and callee.kind == "user":
            return self.user_call(stmt, callee)
        if callee is not None and callee.kind == "fallback":
            return self.tape_call(stmt, callee)
        prelude, tangent = self.value_tangent(stmt, callee)
        tangent_stmt = build.assign(self.tangent(name), tangent)
        operands = reads(stmt.value)
        reads_result = name in reads(tangent) | {n for s in prelude for n in reads(s.value)}
        tangent_stmts = [self._tag(s, stmt) for s in [*prelude, tangent_stmt]]
        if name not in operands:
            return [stmt, *tangent_stmts]
        if not reads_result:
            return [*tangent_stmts, stmt]
        # Reads the result and an operand the statement overwrites: keep the result aside.
        kept = self.namer.new(f"{name}_new")
        computed = build.assign(kept, stmt.value)
        anno.copy_from(computed, stmt)
        prelude, tangent = self.value_tangent(stmt, callee, ans=load(kept))
        tangent_stmts = [
            self._tag(s, stmt) for s in [*prelude, build.assign(self.tangent(name), tangent)]
        ]
        return [computed, *tangent_stmts, self._tag(build.assign(name, load(kept)), stmt)]

    # -- the tangent of one value ---------------------------------------------------------

    def value_tangent(
        self, stmt: gast.Assign, callee: Callee | None, ans: gast.expr | None = None
    ) -> tuple[list[gast.stmt], gast.expr]:
        value = stmt.value
        origin = origin_of(stmt)
        target = stmt.targets[0]
        ans = ans if ans is not None else load(target.id)
        if callee is COPY:
            return [], self.tangent_of(value)
        if callee is CONSTANT:
            if is_number(value):
                return [], gast.Constant(0.0, None)
            return [], build.call(self.helper("zero_tangent"), copy_tree(ans))
        if callee is SUBSCRIPT:
            return [], self.linear_call(value, callee, 0, origin)
        if callee is CONTAINER:
            return [], self.display(value)
        if callee in (FIELD, BUILD, FIELD_STORE):  # (objects: issue 17)
            return [], self.object_tangent(value, callee, ans)
        if callee is None or callee.kind != "rule" or callee.rule is None:
            what = callee.name if callee is not None else type(value).__name__
            raise TransformError(f"forward mode cannot differentiate through {what}", origin)
        forward = callee.rule.forward
        if forward is None:
            raise TransformError(
                f"{callee.name}: astgrad's rule {callee.rule.name} has no forward-mode rule yet",
                origin,
                'Use reverse mode (ag.grad), or mode="auto".',
            )
        operands = operand_atoms(value, callee)
        keywords = value.keywords if isinstance(value, gast.Call) else []
        tangents: dict[int, gast.expr] = {}
        for position, atom in enumerate(operands):
            if self.active(atom):
                tangents[position] = load(self.tangent(atom.id))
        params = callee.rule.param_names
        # An argument the rule does not take may change the value (np.sum's initial, a
        # ufunc's where): a linear rule would pass it on to the tangent, wrongly.
        unknown = [k.arg for k in keywords if k.arg is not None and k.arg not in params]
        if unknown or (len(operands) > len(params) and not callee.pack_args):
            extra = ", ".join(f"{k}=..." for k in unknown) or "more positional arguments"
            raise TransformError(
                f"{callee.name}(..., {extra}): astgrad's rule {callee.rule.name} does not "
                "handle this argument; compute without it",
                origin,
            )
        dtype = next((k.value for k in keywords if k.arg == "dtype"), None)
        positional_dtype = "dtype" in params and params.index("dtype") < len(operands)
        if dtype is None and positional_dtype and not callee.pack_args:
            dtype = operands[params.index("dtype")]
        check_result_dtype(callee, callee.rule, dtype, origin)
        for keyword in keywords:
            if self.active(keyword.value):
                if keyword.arg not in params:
                    raise TransformError(
                        f"{callee.name}(..., {keyword.arg}=...): the argument carries a "
                        f"derivative but astgrad's rule {callee.rule.name} has none for it",
                        origin,
                    )
                tangents[params.index(keyword.arg)] = load(self.tangent(keyword.value.id))
        refusals = {**callee.rule.refused, **callee.rule.forward_refused}
        refused = [refusals[p] for p in tangents if p in refusals]
        if refused:
            # (a derivative the rule does not have, though it is not zero: no_derivative_at)
            raise TransformError(refused[0], origin)
        for position in _constant_positions(callee.rule):
            tangents.pop(position, None)
        missing = sorted(set(tangents) - set(forward.differentiable))
        if missing:
            raise TransformError(
                f"{callee.name}: the argument at {missing[0]} carries a derivative, but "
                f"astgrad's rule {callee.rule.name} gives none for it",
                origin,
            )
        if not tangents:
            return [], build.call(self.helper("zero_tangent"), copy_tree(ans))
        if forward.kind == "linear":
            if callee.rule.primitive is np.mean and len(operands) == 1 and not keywords:
                # (np.mean(x) or x.mean(): the whole mean, without np.mean's Python layer)
                return [], build.call(self.helper("mean_tangent"), self.tangent_of(operands[0]))
            return [], self.linear_call(value, callee, 0, origin)
        prelude, total = inline_tangent(
            callee, operands, keywords, copy_tree(ans), tangents, self.ctx, origin
        )
        if not self.all_move(callee, operands, tangents) and self.spreads(
            callee, operands, tangents, target.id
        ):
            total = build.call(self.helper("spread_tangent"), total, copy_tree(ans))
        return prelude, total

    def all_move(self, callee: Callee, operands: list[gast.expr], tangents: dict) -> bool:
        """Whether every operand of a ufunc that may broadcast moves: the contribution of
        each has at least its shape (its tangent's), so together they span the result's
        and need no spreading. (Batched tangents, with their axis of directions, are
        lifted and spread by ``transform/batching.py`` instead.)"""
        classes = self.ctx.shape_classes
        return isinstance(callee.rule.primitive, np.ufunc) and all(
            position in tangents
            or is_number(o)
            or is_negated_number(o)
            or shapes.class_of(o, classes) == shapes.SCALAR
            for position, o in enumerate(operands)
        )

    def spreads(self, callee: Callee, operands: list[gast.expr], tangents: dict, name: str) -> bool:
        """Whether the sum of contributions may be smaller than the result (an operand
        that broadcasting made larger), so that it must be spread over the result."""
        primitive = callee.rule.primitive
        if isinstance(primitive, np.ufunc) and primitive.signature is not None:
            return False  # matmul: each contribution is a product with the other operand
        if not (isinstance(primitive, np.ufunc) or primitive in _BROADCASTING):
            return False
        classes = self.ctx.shape_classes
        mine = classes.get(name)
        for position in tangents:
            if position >= len(operands):
                continue
            if mine is not None and shapes.class_of(operands[position], classes) == mine:
                return False
            moving = operands[position]
            others = [o for i, o in enumerate(operands) if i != position]
            if all(
                is_number(o)
                or is_negated_number(o)
                or shapes.class_of(o, classes) == shapes.SCALAR
                or _same_name(o, moving)
                for o in others
            ):
                # A number broadcasts to the operand's shape, not beyond, and so does the
                # operand itself (u * u, whatever u's shape: the shape classes may not know
                # it in a loop); a unary ufunc's result has its operand's shape.
                return False
        return True

    def linear_call(
        self, value: gast.expr, callee: Callee, position: int, origin: Any
    ) -> gast.expr:
        """``value`` with the operand at ``position`` replaced by its tangent."""
        moved = copy_tree(value)
        if isinstance(moved, gast.Subscript):
            moved.value = self.tangent_of(moved.value)
            return moved
        if isinstance(moved, gast.Attribute):
            moved.value = self.tangent_of(moved.value)
            return moved
        if isinstance(moved, gast.Call):
            if callee.receiver is not None:
                moved.func.value = self.tangent_of(moved.func.value)
                return moved
            if moved.args:
                moved.args[0] = self.tangent_of(moved.args[0])
                return moved
            first = callee.rule.param_names[0]
            for keyword in moved.keywords:
                if keyword.arg == first:
                    keyword.value = self.tangent_of(keyword.value)
                    return moved
        raise TransformError(f"forward mode: cannot apply {callee.name} to a tangent", origin)

    def object_tangent(self, value: gast.expr, callee: Callee, ans: gast.expr) -> gast.expr:
        """The tangent of ``obj.attr`` (the attribute of the object's tangent, an object of
        its class), of ``make_object(Layer, attributes)`` (one holding the attributes'
        tangents) and of ``set_field(obj, 'attr', v)`` (a new one holding ``v``'s)."""
        from ..runtime import objects

        if callee is FIELD:
            if not self.active(value.value):
                return build.call(self.helper("zero_tangent"), copy_tree(ans))
            helper = self.ctx.bind_free("field_tangent", objects.field_tangent)
            return build.call(
                helper, load(self.tangent(value.value.id)), gast.Constant(value.attr, None)
            )
        if callee is BUILD:
            return gast.Call(
                func=copy_tree(value.func),
                args=[copy_tree(value.args[0]), self.tangent_of(value.args[1])],
                keywords=[],
            )
        owner, name, stored = value.args
        helper = self.ctx.bind_free("tangent_with_field", objects.tangent_with_field)
        before = load(self.tangent(owner.id)) if self.active(owner) else gast.Constant(0.0, None)
        return build.call(
            helper, before, copy_tree(owner), copy_tree(name), self.tangent_of(stored)
        )

    def display(self, value: gast.expr) -> gast.expr:
        if isinstance(value, gast.Dict):
            return gast.Dict(
                keys=[copy_tree(k) for k in value.keys],
                values=[self.tangent_of(v) for v in value.values],
            )
        if any(isinstance(e, gast.Starred) for e in value.elts):
            raise TransformError("forward mode: a starred element in a display", origin_of(value))
        return type(value)(elts=[self.tangent_of(e) for e in value.elts], ctx=gast.Load())

    def tangent_of(self, atom: gast.expr) -> gast.expr:
        """The tangent of an operand: its name's, or zeros of its structure."""
        if self.active(atom):
            return load(self.tangent(atom.id))
        if isinstance(atom, gast.Constant):
            return gast.Constant(0.0 if isinstance(atom.value, (int, float)) else None, None)
        return build.call(self.helper("zero_tangent"), copy_tree(atom))

    def active(self, atom: gast.expr) -> bool:
        return isinstance(atom, gast.Name) and atom.id in self.ctx.active

    # -- other statements -----------------------------------------------------------------

    def unpack(self, stmt: gast.Assign, callee: Callee | None) -> list[gast.stmt]:
        target = stmt.targets[0]
        if callee is not None and callee.kind == "user":
            return self.user_call(stmt, callee)
        if callee is not None and callee.kind == "fallback":
            return self.tape_call(stmt, callee)
        source = stmt.value
        elements = [self.tangent(e.id) for e in target.elts]
        if not isinstance(source, gast.Name):
            raise TransformError("forward mode: unpacking a computed value", origin_of(stmt))
        unpacked = gast.Assign(
            targets=[gast.Tuple([store(e) for e in elements], gast.Store())],
            value=self.tangent_of(source),
            type_comment=None,
        )
        return [self._tag(unpacked, stmt), stmt]

    def assign_into(self, stmt: gast.Assign) -> list[gast.stmt]:
        """``y[i] = v``: the same write into ``y``'s tangent (a copy of its own)."""
        target = stmt.targets[0]
        container = target.value
        if not self.active(container):
            return [stmt]
        name = container.id
        own = build.assign(
            self.tangent(name),
            build.call(self.helper("writable_tangent"), load(self.tangent(name)), load(name)),
        )
        write = gast.Assign(
            targets=[
                gast.Subscript(
                    value=load(self.tangent(name)), slice=copy_tree(target.slice), ctx=gast.Store()
                )
            ],
            value=self.tangent_of(stmt.value),
            type_comment=None,
        )
        return [self._tag(own, stmt), stmt, self._tag(write, stmt)]

    def bind_arguments(
        self, call: gast.Call, callee: Callee, origin, mode: str
    ) -> inspect.BoundArguments:
        """The call's arguments bound to the parameters of the user's function it calls;
        a TransformError (naming ``mode``) for ``*args``/``**kwargs`` or a call that does
        not bind."""
        if any(isinstance(a, gast.Starred) for a in call.args) or any(
            k.arg is None for k in call.keywords
        ):
            raise TransformError(f"{callee.name}(*args, **kwargs) in {mode}", origin)
        try:
            signature = inspect.signature(callee.value)
            return signature.bind(*call.args, **{k.arg: k.value for k in call.keywords})
        except TypeError as exc:
            raise TransformError(
                f"cannot bind the arguments of {callee.name}: {exc}", origin
            ) from None

    def user_call(self, stmt: gast.Assign, callee: Callee) -> list[gast.stmt]:
        origin = origin_of(stmt)
        call = stmt.value
        bound = self.bind_arguments(call, callee, origin, "forward mode")
        active_params = [param for param, atom in bound.arguments.items() if self.active(atom)]
        try:
            kinds = callee_kinds(bound.arguments, self.ctx)  # objects' classes (issue 17)
            derivative = self.ctx.derive_callee(
                callee.value, tuple(active_params), origin, forward=True,
                param_kinds=kinds or None,
            )  # fmt: skip
        except TransformError as exc:
            if self.ctx.mode != "auto":
                raise
            self.ctx.note_fallback(callee.name, origin, exc.reason)
            return self.tape_call(stmt, Callee("fallback", callee.name, callee.value))
        return [self._pair(stmt, self.jvp_call(call, bound, active_params, derivative))]

    def jvp_call(self, call: gast.Call, bound, moving: list[str], derivative) -> gast.Call:
        """The call of a user function's forward derivative: the call's own arguments, and
        the tangent of each moving one by its tangent parameter's name."""
        function = self.ctx.bind_free(derivative.jvp.__name__, derivative.jvp)
        keywords = list(copy.deepcopy(call.keywords))
        for param in moving:
            tangent = load(self.tangent(bound.arguments[param].id))
            keywords.append(gast.keyword(arg=derivative.tangent_names[param], value=tangent))
        return gast.Call(func=load(function), args=copy.deepcopy(call.args), keywords=keywords)

    def tape_call(self, stmt: gast.Assign, callee: Callee) -> list[gast.stmt]:
        origin = origin_of(stmt)
        call = stmt.value
        if (
            not isinstance(call, gast.Call)
            or call.keywords
            or any(isinstance(a, gast.Starred) for a in call.args)
        ):
            raise TransformError(
                f"forward mode cannot run {callee.name} on the tape from generated code "
                "(keyword or starred arguments)",
                origin,
            )
        if self.ctx.mode != "auto":
            raise TransformError(
                f"cannot differentiate through {callee.name}: {callee.reason}", origin
            )
        from ..runtime import fallback, tape_jvp

        helper = self.ctx.bind_free("tape_jvp", tape_jvp.tape_jvp_call)
        func, args = copy_tree(call.func), [copy_tree(a) for a in call.args]
        if isinstance(func, gast.Attribute) and self.active(func.value):
            # x.method(...) with x moving: the receiver is an input too, so the tape gets
            # it as the first argument of a function that calls the method.
            caller = self.ctx.bind_free("call_method", fallback.call_method)
            args = [func.value, gast.Constant(func.attr, None), *args]
            func = load(caller)
        tangents = [
            load(self.tangent(a.id)) if self.active(a) else gast.Constant(None, None) for a in args
        ]
        forward_call = build.call(
            helper,
            func,
            gast.Tuple(args, gast.Load()),
            gast.Tuple(tangents, gast.Load()),
        )
        return [self._pair(stmt, forward_call)]

    def _pair(self, stmt: gast.Assign, call: gast.Call) -> gast.stmt:
        """``target, dtarget = call``: a call giving the value and its tangent."""
        target = stmt.targets[0]
        if isinstance(target, gast.Name):
            tangent_target: gast.expr = store(self.tangent(target.id))
        else:
            tangent_target = gast.Tuple(
                [store(self.tangent(e.id)) for e in target.elts], gast.Store()
            )
        pair = gast.Assign(
            targets=[gast.Tuple([copy_tree(target), tangent_target], gast.Store())],
            value=call,
            type_comment=None,
        )
        anno.copy_from(pair, stmt)
        return pair

    # -- small pieces ---------------------------------------------------------------------

    def _zero(self, name: str, like: gast.stmt | None = None) -> gast.stmt:
        stmt = build.assign(self.tangent(name), build.call(self.helper("zero_tangent"), load(name)))
        return self._tag(stmt, like) if like is not None else stmt

    @staticmethod
    def _tag(stmt: gast.stmt, like: gast.stmt) -> gast.stmt:
        origin = anno.get(like, anno.Key.ORIGIN)
        if origin is not None:
            anno.set(stmt, anno.Key.ORIGIN, origin)
        anno.set(stmt, anno.Key.PART, TANGENT)
        return stmt


def _constant_positions(rule: Any) -> frozenset[int]:
    """The positions of ``rule``'s primitive at which a small change moves nothing, so
    that a tangent there contributes nothing: those a rule helper reads for its shape,
    dtype or mask alone (marked ``shape_only``), and those whose vjp rule declares no
    gradient (``None`` at that position: an index, a sort order, a count), which reverse
    mode takes as zero in the same way (``reverse.rule_adjoint``)."""
    positions = set(shape_only_positions(rule.primitive))
    template = rule.template
    if template is not None:
        positions.update(i for i, output in enumerate(template.outputs) if output is None)
    return frozenset(positions - set(rule.refused))

"""batching: forward mode for many directions at once (``ag.jacobian``, ``ag.hessian``).

The pass takes what ``tangents`` takes (the analyzed core function) and writes the same
function with every tangent carrying a leading axis of directions: the tangent of a value
of shape ``s`` has shape ``(batch,) + s``, row ``i`` its tangent along direction ``i``.
One run then gives a whole Jacobian's columns with whole-array NumPy work, where
``ag.jvp`` takes one call per column::

    def f(x, A):                         def f_batched_jvp(x, A, *, dx):
        return np.tanh(A @ x)                batch = dx.shape[0]
                                             matmul = A @ x
                                             dmatmul = batch_matmul(A, None, x, dx)
                                             tanh = np.tanh(matmul)
                                             dtanh = dmatmul * (1 - tanh * tanh)
                                             return tanh, batch_out(dtanh, tanh)

Each statement's batched tangent is one of:

* a rule written for the batch axis (``runtime/batched.py``): products (``@``,
  ``np.dot``), sums and means (their axes moved past the batch axis), transposes,
  reshapes, indexing with basic indices, ``unbroadcast``;
* the rule table's own contribution (``tangents`` writes the same), where it reads the
  tangents only through broadcasting arithmetic (``+ - * / **`` and negation) with values
  of the statement: such an expression never mixes rows, and with each operand's tangent
  given the result's number of axes (``lift``) its rows broadcast as the operand did;
* otherwise the per-direction tangent ``tangents`` would write, in a loop over the rows:
  no faster than one call per direction for that statement, but always right.

Over generated gradient code (``ag.hessian``: forward over reverse), the helpers that
code calls and the rule table does not cover come as calls left to the tape; each known
one is linear in some arguments and reads only the shape of the others, and gets its
batched tangent as such (``helper_call``).

A gradient's list of saved values (``push``, ``pop``, ``pop_run``) reaches this pass as
calls of ``runtime.batched``'s stack helpers (``saved_values_as_calls`` rewrites it for
``ag.hessian``), and gets a stack of batched tangents kept in step with it
(``saved_value``).

What it cannot batch at all (a call run on the tape, a call with an effect, a loop over
values that move) raises :class:`TransformError`, and the caller takes one direction at
a time.
"""

from __future__ import annotations

import copy
import functools

import gast
import numpy as np

from ..runtime import batched
from . import anno, build
from .analyze import CONSTANT, CONTAINER, COPY, SUBSCRIPT, operand_atoms
from .build import load, store
from .context import TransformContext
from .errors import TransformError
from .inline import inline_tangent, is_negated_number, is_number
from .origin import of as origin_of
from .resolve import Callee
from .tangents import _Forward
from .walk import copy_tree

#: reductions whose batched tangent is the same reduction of the tangent, axes moved
_REDUCTIONS = (np.sum, np.mean)
#: primitives that keep their elements' order (C order): each row reshaped like the value
_RESHAPES = (np.reshape, np.ravel, np.squeeze, np.expand_dims)
#: elementwise primitives linear in their one argument: the same call on the tangent
_ELEMENTWISE_LINEAR = (np.conjugate, np.real, np.imag, np.negative, np.positive)
#: operators a tangent may pass through and keep its rows apart (broadcasting arithmetic)
_ROW_WISE_BINARY = (gast.Add, gast.Sub, gast.Mult, gast.Div, gast.Pow)
_ROW_WISE_UNARY = (gast.USub, gast.UAdd)


def transform(node: gast.FunctionDef, ctx: TransformContext) -> gast.FunctionDef:
    """Guarantees: the function returns ``(value, batched tangent of value)`` for
    keyword-only batched tangents ``d<param>`` of the parameters in ``ctx.wrt``, all with
    the same leading length; every active name's batched tangent, of shape ``(batch,) +
    its value's shape``, is bound wherever the name is."""
    return _Batched(ctx).run(node)


class _Batched(_Forward):
    def __init__(self, ctx: TransformContext) -> None:
        super().__init__(ctx)
        self.batch = ""
        #: names that may hold a list, tuple or dict (bound by a display, or parameters
        #: of those kinds): their items are read through ``batch_item``
        self.containers: set[str] = set()
        #: names the statement at hand reads for their shape alone (``shape_only``)
        self.held: frozenset[str] = frozenset()

    def batched(self, name: str) -> str:
        value = getattr(batched, name)
        cells = self.ctx.parsed.cells
        if name in cells and name not in self.ctx.local_names:
            # (a generated gradient's stack helpers: one name for the value and its tangent)
            if cells[name].cell_contents is value:
                return name
        return self.ctx.bind_free(name, value)

    def numpy(self) -> str:
        return self.ctx.bind_free("np", np)

    # -- driver ---------------------------------------------------------------------------

    def run(self, node: gast.FunctionDef) -> gast.FunctionDef:
        args = node.args
        if args.vararg is not None or args.kwarg is not None:
            raise TransformError(
                f"{self.ctx.function_name}(*args, **kwargs): batched forward mode needs named "
                "parameters",
                origin_of(node),
            )
        params = [a.id for a in args.posonlyargs + args.args + args.kwonlyargs]
        self.containers = _containers(node, self.ctx.param_kinds)
        assigned = {
            n.id
            for n in gast.walk(node)
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)
        }
        # (parameters that hold one array or number throughout: their tangents' rows are
        # read as dx[direction])
        self.array_params = {
            p for p in params if self.ctx.param_kinds.get(p) == ("value",) and p not in assigned
        }
        self.batch = self.namer.new("batch")
        first = self.tangent(self.ctx.wrt[0])
        size: gast.expr = gast.Subscript(
            value=gast.Attribute(value=load(first), attr="shape", ctx=gast.Load()),
            slice=gast.Constant(0, None),
            ctx=gast.Load(),
        )
        if self.ctx.param_kinds.get(self.ctx.wrt[0], ("",))[0] != "value":
            # (a kind not known to be a value: a generated callee's saved tuple, say)
            tangents = [load(self.tangent(name)) for name in self.ctx.wrt]
            size = build.call(self.batched("batch_size"), *tangents)
        out = [build.assign(self.batch, size)]
        out += [
            self._zero(name)
            for name in params
            if name in self.ctx.active and name not in self.ctx.wrt
        ]
        body = node.body
        out += self.block(body[:-1])
        result = body[-1].value
        if isinstance(result, gast.Name) and result.id in self.ctx.active:
            tangent: gast.expr = load(self.tangent(result.id))
        else:
            tangent = self.zeros_of(result)
        returned = build.call(self.batched("batch_out"), tangent, copy_tree(result))
        out.append(gast.Return(value=gast.Tuple([copy_tree(result), returned], gast.Load())))
        new_args = copy.deepcopy(args)
        for name in self.ctx.wrt:
            new_args.kwonlyargs.append(build.param(self.tangent(name)))
            new_args.kw_defaults.append(None)
        base = node.name if node.name != "<lambda>" else "lambda_"
        return build.function(self.namer.new(f"{base}_batched_jvp"), new_args, out)

    # -- statements -----------------------------------------------------------------------

    def stmt_For(self, stmt: gast.For) -> list[gast.stmt]:
        """A loop over values that carry no derivative (``range(n)``, a tuple of numbers,
        rows of an array held still) whose variable is active only where another
        statement binds it (a gradient pops it back): zeros for its tangent at each
        step. A loop over values that move is refused, as in forward mode."""
        targets = sorted(
            {n.id for n in gast.walk(stmt.target) if isinstance(n, gast.Name)} & self.ctx.active
        )
        held = self.counts(stmt.iter) or not _reads_any(stmt.iter, self.ctx.active)
        if not targets or not held:
            return super().stmt_For(stmt)
        stmt.body = self.block(stmt.body)
        stmt.orelse = self.block(stmt.orelse)
        zeros = [
            self._tag(
                build.assign(
                    self.tangent(name),
                    build.call(self.batched("zero_rows"), load(name), load(self.batch)),
                ),
                stmt,
            )
            for name in targets
        ]
        stmt.body = [*zeros, *stmt.body]
        return [stmt]

    def counts(self, iterable: gast.expr) -> bool:
        """Whether ``iterable`` is ``range(...)`` (integers, whatever its bounds)."""
        return (
            isinstance(iterable, gast.Call)
            and isinstance(iterable.func, gast.Name)
            and iterable.func.id == "range"
            and "range" not in self.ctx.local_names
            and self.ctx.parsed.globals.get("range", range) is range
        )

    def stmt_Expr(self, stmt: gast.Expr) -> list[gast.stmt]:
        if anno.get(stmt, anno.Key.ACTIVE):
            raise TransformError(
                "batched forward mode: a call whose effect carries a derivative", origin_of(stmt)
            )
        return [stmt]

    def stmt_Delete(self, stmt: gast.Delete) -> list[gast.stmt]:
        return [stmt]

    def stmt_Assign(self, stmt: gast.Assign) -> list[gast.stmt]:
        target = stmt.targets[0]
        if isinstance(target, gast.Subscript):
            return self.write_into(stmt)
        written = {n.id for n in gast.walk(target) if isinstance(n, gast.Name)}
        callee: Callee | None = anno.get(stmt, anno.Key.CALLEE)
        if not anno.get(stmt, anno.Key.ACTIVE):
            return [stmt, *(self._zero(n, stmt) for n in sorted(written & self.ctx.active))]
        if callee is not None and callee.kind == "user":
            return self.user_call(stmt, callee)
        if callee is not None and callee.kind == "fallback":
            return self.helper_call(stmt, callee)
        if (
            callee is not None
            and callee.kind == "rule"
            and _is_helper(callee.value)
            and self.linear_where_moving(stmt, callee)
        ):
            # (a helper of gradient code with rules of its own: its batched form, still,
            # where it is linear in what moves; prod_grad with x moving takes its rule)
            return self.helper_call(stmt, callee)
        if isinstance(target, gast.Tuple):
            return self.unpack(stmt, callee)
        name = target.id
        self.held = self.shape_reads(stmt.value, callee)
        try:
            return self.assign_value(stmt, callee, name)
        finally:
            self.held = frozenset()

    def active(self, atom: gast.expr) -> bool:
        return super().active(atom) and atom.id not in self.held

    def linear_where_moving(self, stmt: gast.Assign, callee: Callee) -> bool:
        """Whether each moving argument of a call of a gradient helper is one it is linear
        in or reads for its shape alone (``_helpers``' table), so that its batched form
        applies."""
        call = stmt.value
        if not isinstance(call, gast.Call):
            return True
        found = _helpers()[0].get(callee.value)
        if found is None or found[1] is None:
            return True
        linear, constant = found
        return all(
            p in linear or p in constant
            for p, atom in enumerate(call.args)
            if not isinstance(atom, gast.Starred) and self.active(atom)
        )

    def shape_reads(self, value: gast.expr, callee: Callee | None) -> frozenset[str]:
        """The moving names a rule's helper reads at positions marked ``shape_only`` (and
        nowhere else in the call): their tangents change nothing, so the statement's
        tangent leaves them out (the rule gives none for them)."""
        if callee is None or callee.kind != "rule" or callee.rule is None:
            return frozenset()
        positions = _shape_only_positions(callee.rule.primitive)
        if not positions or not isinstance(value, gast.Call) or callee.pack_args:
            return frozenset()
        operands = operand_atoms(value, callee)
        at = {p: o.id for p, o in enumerate(operands) if isinstance(o, gast.Name)}
        shaped = {at[p] for p in positions if p in at}
        elsewhere = {n for p, n in at.items() if p not in positions}
        elsewhere |= {
            n.id for k in value.keywords for n in gast.walk(k.value) if isinstance(n, gast.Name)
        }
        return frozenset(n for n in shaped - elsewhere if n in self.ctx.active)

    def assign_value(self, stmt: gast.Assign, callee: Callee | None, name: str) -> list[gast.stmt]:
        """``name = value``: the statement and its batched tangent's, in an order in which
        each reads what it needs."""
        tangent_stmts = self.tangent_statements(stmt, callee, load(name), name)
        if name not in {n.id for n in gast.walk(stmt.value) if isinstance(n, gast.Name)}:
            return [stmt, *tangent_stmts]
        if name not in _reads(tangent_stmts):
            return [*tangent_stmts, stmt]
        # Reads the result and an operand the statement overwrites: keep the result aside.
        kept = self.namer.new(f"{name}_new")
        computed = build.assign(kept, stmt.value)
        anno.copy_from(computed, stmt)
        tangent_stmts = self.tangent_statements(stmt, callee, load(kept), name)
        return [computed, *tangent_stmts, self._tag(build.assign(name, load(kept)), stmt)]

    def write_into(self, stmt: gast.Assign) -> list[gast.stmt]:
        """``y[index] = v``: the same write into a copy of ``y``'s batched tangent, every
        row at once (``batch_write``, which refuses an index that would move axes)."""
        target = stmt.targets[0]
        container = target.value
        if not self.active(container):
            return [stmt]
        index = _index_value(target.slice)
        if index is None:
            raise TransformError(
                "batched forward mode: a write at an index it cannot read", origin_of(stmt)
            )
        name = container.id
        own = build.assign(
            self.tangent(name),
            build.call(self.batched("batch_writable"), load(self.tangent(name)), load(name)),
        )
        write = gast.Expr(
            value=build.call(
                self.batched("batch_write"),
                load(self.tangent(name)),
                index,
                self.batched_of(stmt.value),
            )
        )
        return [self._tag(own, stmt), stmt, self._tag(write, stmt)]

    def unpack(self, stmt: gast.Assign, callee: Callee | None) -> list[gast.stmt]:
        source = stmt.value
        if not isinstance(source, gast.Name):
            raise TransformError(
                "batched forward mode: unpacking a computed value", origin_of(stmt)
            )
        elements = [self.tangent(e.id) for e in stmt.targets[0].elts]
        # (an array's rows are its tangent's rows after the batch axis; a tuple's items
        # are its tangent's: batch_unpack tells them apart as it runs)
        tangent = build.call(
            self.batched("batch_unpack"), self.batched_of(source), copy_tree(source)
        )
        unpacked = gast.Assign(
            targets=[gast.Tuple([store(e) for e in elements], gast.Store())],
            value=tangent,
            type_comment=None,
        )
        return [self._tag(unpacked, stmt), stmt]

    def user_call(self, stmt: gast.Assign, callee: Callee) -> list[gast.stmt]:
        """A function of the user's: its own batched forward function, called with the
        batched tangents of the arguments that move."""
        origin = origin_of(stmt)
        call = stmt.value
        bound = self.bind_arguments(call, callee, origin, "batched forward mode")
        moving = [param for param, atom in bound.arguments.items() if self.active(atom)]
        derivative = self.ctx.derive_callee(callee.value, tuple(moving), origin, forward="batched")
        return [self._pair(stmt, self.jvp_call(call, bound, moving, derivative))]

    # -- the batched tangent of one value -------------------------------------------------

    def tangent_statements(
        self, stmt: gast.Assign, callee: Callee | None, ans: gast.expr, name: str
    ) -> list[gast.stmt]:
        found = self.whole(stmt, callee, ans, name)
        if found is None:
            return self.row_by_row(stmt, callee, ans, name)
        prelude, tangent = found
        out = [*prelude, build.assign(self.tangent(name), tangent)]
        return [self._tag(s, stmt) for s in out]

    def whole(
        self, stmt: gast.Assign, callee: Callee | None, ans: gast.expr, name: str
    ) -> tuple[list[gast.stmt], gast.expr] | None:
        """The statement's batched tangent as whole-array work, or None where no rule
        here covers it."""
        value = stmt.value
        if callee is COPY:
            return [], self.batched_of(value)
        if callee is CONSTANT:
            return [], self.zeros_of(ans)
        if callee is SUBSCRIPT:
            return self.subscript(value)
        if callee is CONTAINER:
            if isinstance(value, gast.Dict):
                if any(k is None for k in value.keys):  # ({**d}: refused)
                    return None
                keys = [copy_tree(k) for k in value.keys]
                return [], gast.Dict(keys=keys, values=[self.batched_of(v) for v in value.values])
            if isinstance(value, (gast.Tuple, gast.List)) and not any(
                isinstance(e, gast.Starred) for e in value.elts
            ):
                # (a list's batched tangent is a list of its items', a tuple's a tuple)
                items = [self.batched_of(e) for e in value.elts]
                return [], type(value)(elts=items, ctx=gast.Load())
            return None
        if callee is None or callee.kind != "rule" or callee.rule is None:
            return None
        forward = callee.rule.forward
        if forward is None:
            return None
        primitive = callee.rule.primitive
        operands = operand_atoms(value, callee)
        keywords = value.keywords if isinstance(value, gast.Call) else []
        if any(self.active(k.value) for k in keywords) or any(
            isinstance(o, gast.Starred) for o in operands
        ):
            return None
        moving = [i for i, atom in enumerate(operands) if self.active(atom)]
        if not moving:
            return [], self.zeros_of(ans)
        if any(operands[i].id in self.containers for i in moving):
            return None  # (a list's batched tangent is a list of its items': row by row)
        if primitive in (np.matmul, np.dot) and len(operands) == 2 and not keywords:
            helper = "batch_matmul" if primitive is np.matmul else "batch_dot"
            a, b = operands
            return [], build.call(
                self.batched(helper),
                copy_tree(a),
                self.moving_or_none(a),
                copy_tree(b),
                self.moving_or_none(b),
            )
        if moving != [0]:
            return self.row_wise(callee, operands, keywords, ans, moving, name)
        tangent = load(self.tangent(operands[0].id))
        if primitive in _REDUCTIONS and not callee.pack_args:
            return self.reduction(primitive, operands, keywords, tangent)
        if primitive is np.transpose and not callee.pack_args:
            if isinstance(value, gast.Attribute):
                return [], build.call(self.batched("batch_transpose"), tangent)
            if len(operands) == 1 and not keywords:
                return [], build.call(self.batched("batch_transpose"), tangent)
            return None
        if primitive in _RESHAPES and not any(k.arg == "order" for k in keywords):
            # (np.ravel's second argument, and np.reshape's third, are the order)
            if (
                len(operands) == 1
                or callee.pack_args
                or (len(operands) == 2 and primitive is not np.ravel)
            ):
                return [], build.call(self.batched("reshaped_like"), tangent, copy_tree(ans))
            return None
        if primitive in _ELEMENTWISE_LINEAR and len(operands) == 1 and not keywords:
            if isinstance(value, gast.UnaryOp):  # -x, +x
                return [], gast.UnaryOp(op=copy.deepcopy(value.op), operand=tangent)
            return [], self.linear_call(value, callee, 0, origin_of(stmt))
        if primitive is _unbroadcast() and len(operands) == 2 and not keywords:
            return [], build.call(
                self.batched("batch_unbroadcast"), tangent, copy_tree(operands[1])
            )
        return self.row_wise(callee, operands, keywords, ans, moving, name)

    def row_wise(
        self,
        callee: Callee,
        operands: list[gast.expr],
        keywords: list[gast.keyword],
        ans: gast.expr,
        moving: list[int],
        name: str,
    ) -> tuple[list[gast.stmt], gast.expr] | None:
        """The rule table's contribution, where it reads the tangents only through
        broadcasting arithmetic (see the module doc); each operand's tangent lifted to the
        result's number of axes where its shape may differ from the result's."""
        forward = callee.rule.forward
        if forward.kind not in ("elementwise", "explicit"):
            return None
        if sorted(set(moving) - set(forward.differentiable)):
            return None
        tangents = {p: load(self.tangent(operands[p].id)) for p in moving}
        try:
            prelude, total = inline_tangent(
                callee, operands, keywords, copy_tree(ans), tangents, self.ctx, None
            )
        except TransformError:
            return None
        names = {self.tangent(operands[p].id) for p in moving}
        if _reads(prelude) & names or not _row_wise(total, names):
            return None
        if not _reads_any(total, names):
            return None  # (no tangent in it, so no batch axis: row by row)
        classes = self.ctx.shape_classes
        mine = classes.get(name)
        lifted = {
            self.tangent(operands[p].id)
            for p in moving
            if mine is None or _class_of(operands[p], classes) != mine
        }
        if lifted:
            total = _Lift(
                lifted, lambda t: build.call(self.batched("lift"), t, copy_tree(ans))
            ).visit(total)
        if self.spreads(callee, operands, tangents, name):
            total = build.call(self.batched("spread"), total, copy_tree(ans))
        return prelude, total

    def reduction(
        self,
        primitive: object,
        operands: list[gast.expr],
        keywords: list[gast.keyword],
        tangent: gast.expr,
    ) -> tuple[list[gast.stmt], gast.expr] | None:
        """``np.sum(x, axis)`` and ``np.mean``: the same reduction of the tangent over the
        axes after the batch axis."""
        if len(operands) > 2 or any(k.arg not in ("axis", "keepdims") for k in keywords):
            return None
        axis = operands[1] if len(operands) == 2 else None
        keepdims = None
        for keyword in keywords:
            if keyword.arg == "axis":
                axis = keyword.value
            else:
                keepdims = keyword.value
        function = build.attribute(self.numpy(), "sum" if primitive is np.sum else "mean")
        if axis is None or (isinstance(axis, gast.Constant) and axis.value is None):
            if keepdims is not None:
                return None
            # every axis but the batch axis: the rows as vectors
            rows = gast.Call(
                func=gast.Attribute(value=tangent, attr="reshape", ctx=gast.Load()),
                args=[load(self.batch), gast.Constant(-1, None)],
                keywords=[],
            )
            return [], gast.Call(
                func=function,
                args=[rows],
                keywords=[gast.keyword(arg="axis", value=gast.Constant(1, None))],
            )
        moved = _moved_axis(axis)
        if moved is None:
            return None
        call_keywords = [gast.keyword(arg="axis", value=moved)]
        if keepdims is not None:
            call_keywords.append(gast.keyword(arg="keepdims", value=copy_tree(keepdims)))
        return [], gast.Call(func=function, args=[tangent], keywords=call_keywords)

    def subscript(self, value: gast.Subscript) -> tuple[list[gast.stmt], gast.expr] | None:
        """``x[index]``: the same index after a full slice, for basic indices written out;
        through ``batch_index`` (which refuses what would move axes) for a name."""
        if not self.active(value.value):
            return None
        tangent = load(self.tangent(value.value.id))
        index = value.slice
        if value.value.id in self.containers or (
            isinstance(index, gast.Constant) and isinstance(index.value, str)
        ):
            # (a list's, tuple's or dict's item, or an array's where the name may hold
            # either: batch_item tells them apart as it runs)
            found = _index_value(index)
            if found is None:
                return None
            return [], build.call(
                self.batched("batch_item"), tangent, copy_tree(value.value), found, load(self.batch)
            )
        if isinstance(index, gast.Name):
            full = build.call(self.batched("batch_index"), copy_tree(index))
        else:
            items = index.elts if isinstance(index, gast.Tuple) else [index]
            if not all(_basic_index(item) for item in items):
                return None
            full = gast.Tuple(
                [gast.Slice(None, None, None), *(copy_tree(i) for i in items)], gast.Load()
            )
        return [], gast.Subscript(value=tangent, slice=full, ctx=gast.Load())

    def helper_call(self, stmt: gast.Assign, callee: Callee) -> list[gast.stmt]:
        """A call of one of the helpers generated gradient code calls (forward over
        reverse: ``ag.hessian``), which the rule table does not cover, so the analysis
        left it to the tape: each is linear in some arguments and reads only the shape
        (or options) of the others, so its tangent is the sum, over the moving arguments
        it is linear in, of the helper called with that argument's tangent. The backward
        pass's seed is a constant. Any other call raises."""
        origin = origin_of(stmt)
        call = stmt.value
        table, constants = _helpers()
        target = stmt.targets[0]
        if (
            not isinstance(target, gast.Name)
            or not isinstance(call, gast.Call)
            or any(isinstance(a, gast.Starred) for a in call.args)
            or any(k.arg is None or self.active(k.value) for k in call.keywords)
        ):
            raise TransformError(f"batched forward mode cannot run {callee.name}", origin)
        saved = _saved_helpers()
        if callee.value in saved and len(call.args) == saved[callee.value]:
            return self.saved_value(stmt, callee.value.__name__)
        name = target.id
        found = ((), None) if callee.value in constants else table.get(callee.value)
        if found is None:
            raise TransformError(
                f"batched forward mode cannot run {callee.name} on the tape", origin
            )
        linear, constant = found
        moving = [p for p, atom in enumerate(call.args) if self.active(atom)]
        if constant is not None and any(p not in linear and p not in constant for p in moving):
            raise TransformError(
                f"batched forward mode: {callee.name} with an argument it is not linear in moving",
                origin,
            )
        moving = [p for p in moving if p in linear]

        def make(ans: gast.expr) -> list[gast.stmt]:
            if not moving:
                return [self._tag(build.assign(self.tangent(name), self.zeros_of(ans)), stmt)]
            if callee.value is _add_adjoints() and len(call.args) == 2 and not call.keywords:
                # (a sum, not a product: linear in both arguments together)
                a, b = call.args
                whole = build.call(
                    self.batched("batch_add_adjoints"),
                    copy_tree(a),
                    self.moving_or_none(a),
                    copy_tree(b),
                    self.moving_or_none(b),
                    load(self.batch),
                )
                return [self._tag(build.assign(self.tangent(name), whole), stmt)]
            if callee.value is _add_at() and len(call.args) == 4 and not call.keywords:
                # the adjoint with a value scattered in: linear in both together
                adjoint, container, index, value = call.args
                whole = build.call(
                    self.batched("batch_add_at"),
                    self.moving_or_none(adjoint),
                    copy_tree(adjoint),
                    copy_tree(container),
                    copy_tree(index),
                    self.moving_or_none(value),
                    copy_tree(value),
                    load(self.batch),
                )
                return [self._tag(build.assign(self.tangent(name), whole), stmt)]
            if callee.value is _adjoint_item() and len(call.args) == 2 and not call.keywords:
                # the part of a container's adjoint at an index: its tangent's part
                adjoint, index = call.args
                whole = build.call(
                    self.batched("batch_adjoint_item"),
                    self.moving_or_none(adjoint),
                    copy_tree(adjoint),
                    copy_tree(index),
                    ans,
                    load(self.batch),
                )
                return [self._tag(build.assign(self.tangent(name), whole), stmt)]
            if callee.value is _appended_adjoint() and len(call.args) == 1 and not call.keywords:
                # (the tangent alone says what was appended: the helper pops its list)
                (adjoint,) = call.args
                whole = build.call(
                    self.batched("batch_appended_adjoint"),
                    self.moving_or_none(adjoint),
                    copy_tree(adjoint),
                    ans,
                    load(self.batch),
                )
                return [self._tag(build.assign(self.tangent(name), whole), stmt)]
            if callee.value is _spread() and len(call.args) == 2 and not call.keywords:
                g, iterable = call.args
                whole = build.call(
                    self.batched("batch_spread"),
                    load(self.tangent(g.id)),
                    copy_tree(g),
                    copy_tree(iterable),
                )
                return [self._tag(build.assign(self.tangent(name), whole), stmt)]
            if (
                callee.value is _unpack_adjoint()
                and len(call.args) == 2
                and isinstance(call.args[1], gast.List)
                and not call.keywords
            ):
                # the parts' adjoints joined as the container's: their tangents so
                container, parts = call.args
                tangents = gast.List([self.moving_or_none(p) for p in parts.elts], gast.Load())
                whole = build.call(
                    self.batched("batch_unpack_adjoint"),
                    copy_tree(container),
                    copy_tree(parts),
                    tangents,
                    load(self.batch),
                )
                return [self._tag(build.assign(self.tangent(name), whole), stmt)]
            adjoints = _adjoint_helpers()
            if callee.value in adjoints and not call.keywords:
                # assigned_adjoint(adjoint, container, index) and stored_adjoint(part,
                # value): linear in the adjoint, which they take apart
                first, *rest = call.args
                args = [self.batched_of(first), copy_tree(first)]
                args += [copy_tree(a) for a in rest]
                helper = adjoints[callee.value]
                if helper == "batch_assigned_adjoint":
                    args.append(load(self.batch))
                whole = build.call(self.batched(helper), *args)
                return [self._tag(build.assign(self.tangent(name), whole), stmt)]
            products = _products()
            if callee.value in products and len(call.args) == 3 and not call.keywords:
                # (g, dg, x, y, dy) for the left factor's gradient, (g, dg, x, dx, y) for
                # the right one's: the cotangent and the factor it is linear in, with
                # their tangents
                g, x, y = call.args
                helper, left = products[callee.value]
                other = y if left else x
                args = [copy_tree(g), self.moving_or_none(g)]
                if left:
                    args += [copy_tree(x), copy_tree(y), self.moving_or_none(other)]
                else:
                    args += [copy_tree(x), self.moving_or_none(other), copy_tree(y)]
                whole = build.call(self.batched(helper), *args)
                return [self._tag(build.assign(self.tangent(name), whole), stmt)]
            vectorized = _vectorized()
            if moving == [0] and callee.value in vectorized:
                args = [load(self.tangent(call.args[0].id))]
                args += [copy_tree(a) for a in call.args[1:]]
                whole = gast.Call(
                    func=load(self.batched(vectorized[callee.value])),
                    args=args,
                    keywords=copy.deepcopy(call.keywords),
                )
                return [self._tag(build.assign(self.tangent(name), whole), stmt)]
            total: gast.expr | None = None
            for p in moving:
                args = [copy_tree(a) for a in call.args]
                args[p] = load(self.tangent(call.args[p].id))
                part = gast.Call(
                    func=copy_tree(call.func), args=args, keywords=copy.deepcopy(call.keywords)
                )
                total = part if total is None else gast.BinOp(left=total, op=gast.Add(), right=part)
            return self.rows(stmt, ans, name, [], total)

        return self.paired(stmt, make)

    def paired(self, stmt: gast.Assign, make) -> list[gast.stmt]:
        """``stmt`` (``name = call``) and the tangent statements ``make(ans)`` writes from
        its result ``ans``, in an order in which each reads what it needs: the tangent
        after the call where it reads the result, before it where the call overwrites an
        operand the tangent reads; the result kept aside where both."""
        name = stmt.targets[0].id
        tangent_stmts = make(load(name))
        if name not in {n.id for n in gast.walk(stmt.value) if isinstance(n, gast.Name)}:
            return [stmt, *tangent_stmts]
        if name not in _reads(tangent_stmts):
            return [*tangent_stmts, stmt]
        kept = self.namer.new(f"{name}_new")
        computed = build.assign(kept, stmt.value)
        anno.copy_from(computed, stmt)
        return [computed, *make(load(kept)), self._tag(build.assign(name, load(kept)), stmt)]

    def saved_value(self, stmt: gast.Assign, kind: str) -> list[gast.stmt]:
        """A step of the gradient's saved values (``saved_values_as_calls``): the same step
        on the stack of their batched tangents, which holds None for a value pushed
        without a derivative (zeros where it is popped: ``saved_tangent``). A stand-in
        kept for its shape alone (``shaped_like``) has no tangent: None, which only the
        positions of helpers that read a shape may take."""
        args = stmt.value.args
        name = stmt.targets[0].id

        def make(ans: gast.expr) -> list[gast.stmt]:
            if kind == "shaped_like":
                tangent: gast.expr = gast.Constant(None, None)
            elif kind == "list_appended":
                items, value = args
                tangent = build.call(
                    self.batched("batch_list_appended"),
                    self.batched_of(items),
                    self.moving_or_none(value),
                    copy_tree(value),
                    load(self.batch),
                )
            elif kind == "list_popped":
                tangent = build.call(self.batched("batch_list_popped"), self.batched_of(args[0]))
            elif kind == "stack_push":
                stack, value = args
                pushed = self.moving_or_none(value)
                tangent = build.call(self.batched(kind), self.batched_of(stack), pushed)
            elif kind in ("stack_drop", "stack_take"):
                rest = [copy_tree(a) for a in args[1:]]
                tangent = build.call(self.batched(kind), self.batched_of(args[0]), *rest)
            else:  # stack_top, stack_item: a value taken off the stack
                rest = [copy_tree(a) for a in args[1:]]
                taken = build.call(self.batched(kind), self.batched_of(args[0]), *rest)
                tangent = build.call(self.batched("saved_tangent"), taken, ans, load(self.batch))
            return [self._tag(build.assign(self.tangent(name), tangent), stmt)]

        return self.paired(stmt, make)

    def row_by_row(
        self, stmt: gast.Assign, callee: Callee | None, ans: gast.expr, name: str
    ) -> list[gast.stmt]:
        """The per-direction tangent ``tangents`` writes, once per row (see :meth:`rows`)."""
        prelude, tangent = self.value_tangent(stmt, callee, ans=ans)
        return self.rows(stmt, ans, name, prelude, tangent)

    def rows(
        self,
        stmt: gast.Assign,
        ans: gast.expr,
        name: str,
        prelude: list[gast.stmt],
        tangent: gast.expr,
    ) -> list[gast.stmt]:
        """A per-direction tangent (``prelude``, then ``tangent``) once per row::

        dz_rows = batch_empty(z, batch)
        for direction in range(batch):
            dz_rows[direction] = <the tangent, each dx read as dx[direction]>
        dz = dz_rows
        """
        direction = self.namer.new("direction")
        batched_names = {self.tangent(n) for n in self.ctx.active}
        # What the prelude computes from values alone is the same for every row: once.
        # What it computes from a tangent is one row's, in the loop: read as it is there
        # (only the batched tangents are read a row at a time).
        names = set(batched_names)
        before = []
        for s in prelude:
            if _reads([s]) & names:
                names |= {n.id for n in gast.walk(s.targets[0]) if isinstance(n, gast.Name)}
            else:
                before.append(s)
        prelude = [s for s in prelude if s not in before]
        arrays = {self.tangent(n) for n in self.array_params}
        row = _Row(batched_names, direction, arrays, self.batched("batch_row"))
        rows = self.namer.new(f"{self.tangent(name)}_rows")
        body = [row.visit(s) for s in prelude]
        body.append(
            gast.Assign(
                targets=[gast.Subscript(value=load(rows), slice=load(direction), ctx=gast.Store())],
                value=row.visit(tangent),
                type_comment=None,
            )
        )
        loop = build.for_loop(
            store(direction),
            build.call("range", load(self.batch)),
            body,
        )
        out = [
            *before,
            build.assign(
                rows, build.call(self.batched("batch_empty"), copy_tree(ans), load(self.batch))
            ),
            loop,
            build.assign(self.tangent(name), load(rows)),
        ]
        return [self._tag(s, stmt) for s in out]

    # -- small pieces ---------------------------------------------------------------------

    def moving_or_none(self, atom: gast.expr) -> gast.expr:
        if self.active(atom):
            return load(self.tangent(atom.id))
        return gast.Constant(None, None)

    def batched_of(self, atom: gast.expr) -> gast.expr:
        if self.active(atom):
            return load(self.tangent(atom.id))
        return self.zeros_of(atom)

    def zeros_of(self, value: gast.expr) -> gast.expr:
        return build.call(self.batched("batch_zeros"), copy_tree(value), load(self.batch))

    def _zero(self, name: str, like: gast.stmt | None = None) -> gast.stmt:
        stmt = build.assign(self.tangent(name), self.zeros_of(load(name)))
        return self._tag(stmt, like) if like is not None else stmt


@functools.cache  # (the same tables every time: built once)
def _helpers() -> tuple[dict, tuple]:
    """The helpers of generated gradient code that batched forward mode differentiates
    (see ``_Batched.helper_call``), and those whose result is a constant."""
    from ..runtime.adjoints import (
        add_at,
        adjoint_item,
        appended_adjoint,
        assigned_adjoint,
        scalar_seed,
        stored_adjoint,
        unpack_adjoint,
    )
    from ..runtime.element_adjoints import gradient_buffer
    from ..runtime.rules.arithmetic import (
        dot_grad_left,
        dot_grad_right,
        matmul_grad_left,
        matmul_grad_right,
    )
    from ..runtime.rules.builtins_ import spread
    from ..runtime.rules.complex import conjugate_if_complex
    from ..runtime.rules.containers import add_adjoints
    from ..runtime.rules.indexing import scatter_grad
    from ..runtime.rules.rearranging import reshape_back
    from ..runtime.rules.reductions import (
        centered,
        cumsum_grad,
        extremum_grad,
        prod_grad,
        trace_grad,
    )
    from ..runtime.rules.selection import sort_grad
    from ..runtime.rules.shared import (
        cast_like,
        expand_reduced,
        inverse_axes,
        reduced_count,
        reshape_like,
        unbroadcast,
    )

    # helper: (positions it is linear in, positions whose values change its result only
    # where it has no derivative: shapes, indices, options, which element was the
    # extreme); an argument elsewhere that moves is refused (prod_grad's x)
    table = {
        # linear in the cotangent; the array gives only its shape (the rest are options)
        unbroadcast: ((0,), (1,)),
        expand_reduced: ((0,), (1, 2, 3)),
        reshape_like: ((0,), (1,)),
        reshape_back: ((0,), (1, 2)),
        scatter_grad: ((0,), (1, 2)),
        cast_like: ((0,), (1,)),
        # a copy of the cotangent spread over the container's shape (and dtype)
        gradient_buffer: ((0,), (1,)),
        # the sum of two adjoints (written out in helper_call: not a product)
        add_adjoints: ((0, 1), ()),
        # an adjoint with a read's cotangent added at an index (helper_call): an array's
        # scattered in, a list's or dict's at its item
        add_at: ((0, 3), (1, 2)),
        # the part of a list's, tuple's or dict's adjoint at an index (helper_call)
        adjoint_item: ((0,), (1,)),
        # the adjoints of a's and b's parts after a, b = container, joined (helper_call)
        unpack_adjoint: ((1,), (0,)),
        # a list's adjoint split into its last item's and the rest's (helper_call)
        appended_adjoint: ((0,), ()),
        # sum's gradient: the cotangent for each item of a list (helper_call)
        spread: ((0,), (1,)),
        # an array's adjoint taken apart at an index an assignment wrote (helper_call)
        assigned_adjoint: ((0,), (1, 2)),
        stored_adjoint: ((0,), (1,)),
        # linear in the value, conjugated where x (read for its dtype alone) is complex
        conjugate_if_complex: ((0,), (1,)),
        # linear in the cotangent; the array gives its shape, or (sorting) the order its
        # elements land in, piecewise constant
        trace_grad: ((0,), (1, 2, 3, 4)),
        cumsum_grad: ((0,), (1, 2)),
        sort_grad: ((0,), (1, 2)),
        # a minus its mean: linear
        centered: ((0,), (1,)),
        # linear in the cotangent, which goes to the extreme elements of x (ties share)
        extremum_grad: ((0,), (1, 2, 3, 4)),
        # linear in the cotangent; the product of the other elements is not
        prod_grad: ((0,), (2, 3)),
        # linear in the cotangent and in the other factor; the operand whose gradient it
        # is gives only its shape (they are marked shape_only)
        matmul_grad_left: ((0, 2), (1,)),
        matmul_grad_right: ((0, 1), (2,)),
        dot_grad_left: ((0, 2), (1,)),
        dot_grad_right: ((0, 1), (2,)),
    }
    # results that depend on shapes alone (or are the seed 1): their tangent is zero
    constants = (scalar_seed, reduced_count, inverse_axes)
    return table, constants


def _is_helper(value) -> bool:
    try:
        return value in _helpers()[0]
    except TypeError:  # (an unhashable callee)
        return False


@functools.cache
def _saved_helpers() -> dict:
    """The helpers of a gradient's saved values (``saved_values_as_calls``) and
    ``shaped_like``, each with the number of arguments generated code passes it."""
    from ..runtime.adjoints import shaped_like

    counts = {
        "stack_push": 2,
        "stack_top": 1,
        "stack_drop": 2,
        "stack_take": 2,
        "stack_item": 2,
        "list_appended": 2,
        "list_popped": 1,
    }
    found = {getattr(batched, name): count for name, count in counts.items()}
    found[shaped_like] = 1
    return found


@functools.cache
def _products() -> dict:
    """The gradient helpers of products, each with its batched form and whether it is the
    left factor's gradient (linear in the cotangent and the right factor)."""
    from ..runtime.rules.arithmetic import (
        dot_grad_left,
        dot_grad_right,
        matmul_grad_left,
        matmul_grad_right,
    )

    return {
        matmul_grad_left: ("batch_matmul_grad_left", True),
        matmul_grad_right: ("batch_matmul_grad_right", False),
        dot_grad_left: ("batch_dot_grad_left", True),
        dot_grad_right: ("batch_dot_grad_right", False),
    }


@functools.cache
def _vectorized() -> dict:
    """Helpers linear in their first argument with a batched form in runtime.batched (an
    elementwise one is its own)."""
    from ..runtime.element_adjoints import gradient_buffer
    from ..runtime.rules.complex import conjugate_if_complex
    from ..runtime.rules.rearranging import reshape_back
    from ..runtime.rules.shared import expand_reduced, reshape_like, unbroadcast

    return {
        unbroadcast: "batch_unbroadcast",
        expand_reduced: "batch_expand_reduced",
        reshape_like: "reshaped_like",
        reshape_back: "reshaped_back",
        conjugate_if_complex: "conjugated_if_complex",
        gradient_buffer: "batch_gradient_buffer",
    }


@functools.cache
def _adjoint_helpers() -> dict:
    """The helpers that take an array's adjoint apart at an assignment, with their batched
    forms (``batch_assigned_adjoint`` also takes the number of directions)."""
    from ..runtime.adjoints import assigned_adjoint, stored_adjoint

    return {assigned_adjoint: "batch_assigned_adjoint", stored_adjoint: "batch_stored_adjoint"}


def _add_at():
    from ..runtime.adjoints import add_at

    return add_at


def _adjoint_item():
    from ..runtime.adjoints import adjoint_item

    return adjoint_item


def _shape_only_positions(helper) -> frozenset:
    from ..runtime.rules.shared import shape_only_positions

    return shape_only_positions(helper)


def _appended_adjoint():
    from ..runtime.adjoints import appended_adjoint

    return appended_adjoint


def _spread():
    from ..runtime.rules.builtins_ import spread

    return spread


def _unpack_adjoint():
    from ..runtime.adjoints import unpack_adjoint

    return unpack_adjoint


def _containers(node: gast.FunctionDef, kinds: dict) -> set[str]:
    """Names that may hold a list, tuple or dict: bound to a display (``[a, b]``, ``(a,
    b)``, ``{"k": v}``) or to a primitive's several results, parameters of those kinds,
    and copies of those and items read from them."""
    found = {name for name, kind in kinds.items() if kind[:1] in (("list",), ("tuple",), ("dict",))}
    assigns = [s for s in gast.walk(node) if isinstance(s, gast.Assign)]
    for stmt in assigns:
        callee = anno.get(stmt, anno.Key.CALLEE)
        several = (
            isinstance(callee, Callee)
            and callee.kind == "rule"
            and callee.rule is not None
            and callee.rule.multi_output
        )
        if several or isinstance(stmt.value, (gast.List, gast.Tuple, gast.Dict)):
            # (a display, or a primitive's several results: np.split's, slogdet's)
            found |= {t.id for t in stmt.targets if isinstance(t, gast.Name)}
    # (an item of one may be one itself: a list of tuples)
    grown = True
    while grown:
        items = {
            t.id
            for stmt in assigns
            if (
                isinstance(stmt.value, gast.Subscript)
                and isinstance(stmt.value.value, gast.Name)
                and stmt.value.value.id in found
            )
            or (isinstance(stmt.value, gast.Name) and stmt.value.id in found)  # (a copy)
            for t in stmt.targets
            if isinstance(t, gast.Name)
        }
        grown = not items <= found
        found |= items
    return found


def _add_adjoints():
    from ..runtime.rules.containers import add_adjoints

    return add_adjoints


def _unbroadcast():
    from ..runtime.rules.shared import unbroadcast

    return unbroadcast


def _class_of(atom: gast.expr, classes: dict):
    from .shapes import class_of

    return class_of(atom, classes)


def _reads(stmts: list[gast.stmt]) -> set[str]:
    return {
        n.id
        for s in stmts
        for n in gast.walk(s)
        if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)
    }


def _row_wise(expression: gast.expr, names: set[str]) -> bool:
    """Whether ``expression`` reads the tangents ``names`` only through broadcasting
    arithmetic: every node on the way from a tangent to the root is ``+ - * / **`` or a
    sign. Such an expression computes each row from that row alone."""
    if isinstance(expression, gast.Name):
        return True
    if not (_reads_any(expression, names)):
        return True
    if isinstance(expression, gast.BinOp) and isinstance(expression.op, _ROW_WISE_BINARY):
        return _row_wise(expression.left, names) and _row_wise(expression.right, names)
    if isinstance(expression, gast.UnaryOp) and isinstance(expression.op, _ROW_WISE_UNARY):
        return _row_wise(expression.operand, names)
    return False


def _reads_any(expression: gast.expr, names: set[str]) -> bool:
    return any(isinstance(n, gast.Name) and n.id in names for n in gast.walk(expression))


def _basic_index(item: gast.expr) -> bool:
    if isinstance(item, gast.Slice):
        return True
    if isinstance(item, gast.Constant):
        return (
            item.value is None
            or item.value is Ellipsis
            or (isinstance(item.value, int) and not isinstance(item.value, bool))
        )
    return is_negated_number(item) and isinstance(item.operand.value, int)


def _index_value(index: gast.expr) -> gast.expr | None:
    """An index as an expression of its value (``1:`` as ``slice(1, None, None)``), or
    None for one that is not names, numbers, slices and tuples of them."""
    if isinstance(index, gast.Tuple):
        items = [_index_value(e) for e in index.elts]
        if any(i is None for i in items):
            return None
        return gast.Tuple(items, gast.Load())
    if isinstance(index, gast.Slice):
        parts = [
            copy_tree(p) if p is not None else gast.Constant(None, None)
            for p in (index.lower, index.upper, index.step)
        ]
        if any(not isinstance(p, (gast.Name, gast.Constant, gast.UnaryOp)) for p in parts):
            return None
        return build.call("slice", *parts)
    if isinstance(index, (gast.Name, gast.Constant)) or is_negated_number(index):
        return copy_tree(index)
    return None


def _moved_axis(axis: gast.expr) -> gast.expr | None:
    """An axis written as a number (or a tuple of numbers), moved past the batch axis:
    ``1`` -> ``2``; negative axes count from the end and stay."""
    if isinstance(axis, gast.Tuple):
        moved = [_moved_axis(a) for a in axis.elts]
        if any(m is None for m in moved):
            return None
        return gast.Tuple(moved, gast.Load())
    if is_negated_number(axis) and isinstance(axis.operand.value, int):
        return copy_tree(axis)
    if is_number(axis) and isinstance(axis.value, int):
        return gast.Constant(axis.value + 1, None)
    return None


class _Lift(gast.NodeTransformer):
    def __init__(self, names: set[str], make) -> None:
        self.names = names
        self.make = make

    def visit_Name(self, node: gast.Name) -> gast.expr:
        if node.id in self.names and isinstance(node.ctx, gast.Load):
            return self.make(node)
        return node


class _Row(gast.NodeTransformer):
    """Each read of a batched tangent as its row ``direction``: ``dx[direction]`` for the
    tangents in ``arrays`` (of parameters known to hold one array or number), elsewhere
    ``batch_row``, an array's row or for a list, tuple or dict the list of its items'
    rows. (Not ``[direction]`` for every name the analysis did not see a container in:
    a helper may return a sequence's adjoint as ``Parts``, and a sum of such is one too,
    whose ``[direction]`` would be an item, not a row.)"""

    def __init__(self, names: set[str], direction: str, arrays: set[str], helper: str):
        self.names = names
        self.direction = direction
        self.arrays = arrays
        self.helper = helper

    def visit_Name(self, node: gast.Name) -> gast.expr:
        if node.id in self.names and isinstance(node.ctx, gast.Load):
            if node.id in self.arrays:
                return gast.Subscript(value=node, slice=load(self.direction), ctx=gast.Load())
            return build.call(self.helper, node, load(self.direction))
        return node


# -- a generated gradient's saved values, as calls the analysis reads --------------------------


#: the helpers of ``runtime.batched`` a gradient's list of saved values is read through
_STACK_HELPERS = (
    "saved_stack",
    "stack_push",
    "stack_top",
    "stack_drop",
    "stack_take",
    "stack_item",
)


def saved_values_as_calls(definition: gast.FunctionDef, namespace: dict) -> dict | None:
    """Rewrite, in place, a generated gradient's list of saved values (``stack = []``,
    ``push = stack.append``, ``pop = stack.pop``, ``pop_run(stack, n)``) as calls of the
    helpers of ``runtime.batched`` that say what they read and change::

        push(v)                         stack = stack_push(stack, v)
        x = pop()                       saved = stack_top(stack)
                                        stack = stack_drop(stack)
                                        x = saved
        for v in pop_run(stack, n):     saved_run = stack_take(stack, n)
            ...                         stack = stack_drop(stack, n)
                                        for saved_index in range(n):
                                            v = stack_item(saved_run, saved_index)
                                            ...

    so that batched forward mode over the gradient can keep a stack of tangents in step
    with it (see ``_Batched.saved_value``). ``namespace`` resolves the gradient's free
    names (``pop_run``). Returns the helpers to bind by name ({} where the function saves
    nothing), or None, the function left as it was, where it uses its list in any other
    way (the analysis then refuses it, and the caller goes one direction at a time)."""
    from ..runtime.adjoints import pop_run

    stacks: dict[str, tuple[set, set]] = {}
    for stmt in definition.body:
        if _is_assign_of(stmt, gast.List) and not stmt.value.elts:
            stacks[stmt.targets[0].id] = (set(), set())
    for stmt in definition.body:
        if _is_assign_of(stmt, gast.Attribute) and isinstance(stmt.value.value, gast.Name):
            owner, method = stmt.value.value.id, stmt.value.attr
            if owner in stacks and method in ("append", "pop"):
                stacks[owner][method == "pop"].add(stmt.targets[0].id)
    stacks = {name: methods for name, methods in stacks.items() if methods[0]}
    if not stacks:
        return {}
    used = {n.id for n in gast.walk(definition) if isinstance(n, gast.Name)}
    pushes = {
        n.id
        for node in gast.walk(definition)
        if isinstance(node, gast.Call)
        and isinstance(node.func, gast.Name)
        and any(node.func.id in push for push, _ in stacks.values())
        for n in gast.walk(node)
        if isinstance(n, gast.Name)
    }
    if used & set(_STACK_HELPERS) or _changes_in_place(definition, namespace, pushes):
        return None
    rewriter = _SavedValues(stacks, used, lambda name: namespace.get(name) is pop_run)
    try:
        body = rewriter.block(copy_tree(definition).body)
    except _Unsaved:
        return None
    methods = set().union(*(push | pop for push, pop in stacks.values()))
    reads = [
        n
        for s in body
        for n in gast.walk(s)
        if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)
    ]
    if (
        any(n.id in methods for n in reads)
        or sum(n.id in stacks for n in reads) != rewriter.stack_reads
    ):
        return None  # (the list, or its methods, used some other way)
    definition.body = body
    return {name: getattr(batched, name) for name in _STACK_HELPERS}


def _changes_in_place(definition: gast.FunctionDef, namespace: dict, pushes: set) -> bool:
    """Whether the function changes in place a value that may have been pushed: a value
    pushed and then changed in place would be popped changed, while the tangent pushed
    with it is not, and the tangents' stack would drift from the values' without an
    error. What it may change: an element loop's buffer of adjoints (``d[i] = ...`` into
    a name bound by ``gradient_buffer``, a new array, and neither pushed nor copied to
    another name) and a counter of integers (``iterations += 1``)."""
    from ..runtime.element_adjoints import gradient_buffer

    bindings: dict[str, list[gast.expr | None]] = {}
    copied: set[str] = set()
    changed: set[str] = set()
    counted: dict[str, list[gast.expr]] = {}
    for node in gast.walk(definition):
        if isinstance(node, gast.Assign):
            for target in node.targets:
                if isinstance(target, gast.Name):
                    bindings.setdefault(target.id, []).append(node.value)
            if isinstance(node.value, gast.Name):
                copied.add(node.value.id)
        elif isinstance(node, gast.AugAssign) and isinstance(node.target, gast.Name):
            counted.setdefault(node.target.id, []).append(node.value)
        elif isinstance(node, (gast.Subscript, gast.Attribute)) and isinstance(
            node.ctx, (gast.Store, gast.Del)
        ):
            root = node
            while isinstance(root, (gast.Subscript, gast.Attribute)):
                root = root.value
            if not isinstance(root, gast.Name):
                return True
            changed.add(root.id)

    def buffer(value: gast.expr | None) -> bool:
        return (
            isinstance(value, gast.Call)
            and isinstance(value.func, gast.Name)
            and namespace.get(value.func.id) is gradient_buffer
        )

    def integer(value: gast.expr | None) -> bool:
        return isinstance(value, gast.Constant) and type(value.value) is int

    for name in changed:
        if name in pushes or name in copied or not any(map(buffer, bindings.get(name, []))):
            return True
    return any(
        not all(map(integer, [*bindings.get(name, [None]), *values]))
        for name, values in counted.items()
    )


class _Unsaved(Exception):
    """A use of the saved values' list that ``saved_values_as_calls`` does not rewrite."""


class _SavedValues:
    def __init__(self, stacks: dict, used: set, is_pop_run) -> None:
        self.stacks = stacks
        self.used = used
        self.is_pop_run = is_pop_run
        #: how many reads of a stack's name the rewritten calls hold
        self.stack_reads = 0

    def fresh(self, base: str) -> str:
        name, number = base, 1
        while name in self.used:
            number += 1
            name = f"{base}_{number}"
        self.used.add(name)
        return name

    def stack_of(self, name: str, method: int) -> str | None:
        for stack, methods in self.stacks.items():
            if name in methods[method]:
                return stack
        return None

    def call(self, helper: str, stack_name: str, *rest: gast.expr) -> gast.Call:
        self.stack_reads += 1
        return build.call(helper, load(stack_name), *rest)

    def block(self, stmts: list[gast.stmt]) -> list[gast.stmt]:
        out: list[gast.stmt] = []
        for stmt in stmts:
            out.extend(self.statement(stmt))
        return out

    def statement(self, stmt: gast.stmt) -> list[gast.stmt]:
        if _is_assign_of(stmt, gast.List) and stmt.targets[0].id in self.stacks:
            return [build.assign(stmt.targets[0].id, build.call("saved_stack"))]
        if _is_assign_of(stmt, gast.Attribute):
            owner = stmt.value.value
            if isinstance(owner, gast.Name) and owner.id in self.stacks:
                return []  # push = stack.append, pop = stack.pop
        if (
            isinstance(stmt, gast.Expr)
            and isinstance(stmt.value, gast.Call)
            and isinstance(stmt.value.func, gast.Name)
            and self.stack_of(stmt.value.func.id, 0) is not None
        ):
            call = stmt.value
            if len(call.args) != 1 or call.keywords:
                raise _Unsaved
            stack = self.stack_of(call.func.id, 0)
            before, (value,) = self.hoisted([call.args[0]])
            return [*before, build.assign(stack, self.call("stack_push", stack, value))]
        if isinstance(stmt, gast.While):
            if self.pops(stmt.test):
                raise _Unsaved
            stmt.body = self.block(stmt.body)
            stmt.orelse = self.block(stmt.orelse)
            return [stmt]
        if isinstance(stmt, gast.If):
            before, (stmt.test,) = self.hoisted([stmt.test])
            stmt.body = self.block(stmt.body) or [gast.Pass()]
            stmt.orelse = self.block(stmt.orelse)
            return [*before, stmt]
        if isinstance(stmt, gast.For):
            before, (stmt.iter,) = self.hoisted([stmt.iter])
            stmt.body = self.block(stmt.body) or [gast.Pass()]
            stmt.orelse = self.block(stmt.orelse)
            return [*before, *self.pop_run(stmt)]
        if isinstance(stmt, (gast.With, gast.Try, gast.FunctionDef, gast.ClassDef)):
            if self.pops(stmt):
                raise _Unsaved
            return [stmt]
        if self.pops(stmt):
            replaced = _ReplacePop(self)
            stmt = replaced.visit(stmt)
            return [*replaced.before, stmt]
        return [stmt]

    def pops(self, node: gast.AST) -> list[gast.Call]:
        return [
            n
            for n in gast.walk(node)
            if isinstance(n, gast.Call)
            and isinstance(n.func, gast.Name)
            and self.stack_of(n.func.id, 1) is not None
        ]

    def hoisted(self, expressions: list[gast.expr]) -> tuple[list[gast.stmt], list[gast.expr]]:
        """The expressions with their one pop (at most) taken out before them."""
        replaced = _ReplacePop(self)
        found = [replaced.visit(e) for e in expressions]
        return replaced.before, found

    def take(self, call: gast.Call) -> tuple[list[gast.stmt], gast.expr]:
        """``stack.pop()``: its value in a name of its own, taken off the stack first."""
        if call.args or call.keywords:
            raise _Unsaved
        stack = self.stack_of(call.func.id, 1)
        saved = self.fresh("saved")
        return [
            build.assign(saved, self.call("stack_top", stack)),
            build.assign(stack, self.call("stack_drop", stack, gast.Constant(1, None))),
        ], load(saved)

    def pop_run(self, stmt: gast.For) -> list[gast.stmt]:
        loop = stmt.iter
        if not (
            isinstance(loop, gast.Call)
            and isinstance(loop.func, gast.Name)
            and self.is_pop_run(loop.func.id)
        ):
            return [stmt]
        if len(loop.args) != 2 or loop.keywords or not isinstance(loop.args[0], gast.Name):
            raise _Unsaved
        stack, count = loop.args[0].id, loop.args[1]
        if stack not in self.stacks or stmt.orelse:
            raise _Unsaved
        before = []
        if not isinstance(count, (gast.Name, gast.Constant)):
            counted = self.fresh("saved_count")
            before.append(build.assign(counted, count))
            count = load(counted)
        run, index = self.fresh("saved_run"), self.fresh("saved_index")
        item = gast.Assign(
            targets=[stmt.target],
            value=build.call("stack_item", load(run), load(index)),
            type_comment=None,
        )
        stmt.target = store(index)
        stmt.iter = build.call("range", copy_tree(count))
        stmt.body = [item, *stmt.body]
        return [
            *before,
            build.assign(run, self.call("stack_take", stack, copy_tree(count))),
            build.assign(stack, self.call("stack_drop", stack, copy_tree(count))),
            stmt,
        ]


class _ReplacePop(gast.NodeTransformer):
    """Each ``pop()`` of an expression as a name bound before it (one pop at most: the
    order of several in one statement is not worth following)."""

    def __init__(self, saved: _SavedValues) -> None:
        self.saved = saved
        self.before: list[gast.stmt] = []

    def visit_Call(self, node: gast.Call) -> gast.expr:
        self.generic_visit(node)
        if isinstance(node.func, gast.Name) and self.saved.stack_of(node.func.id, 1):
            if self.before:
                raise _Unsaved
            self.before, value = self.saved.take(node)
            return value
        return node

    def visit_Lambda(self, node: gast.Lambda) -> gast.expr:
        if self.saved.pops(node):
            raise _Unsaved
        return node


def _is_assign_of(stmt: gast.stmt, kind: type) -> bool:
    return (
        isinstance(stmt, gast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], gast.Name)
        and isinstance(stmt.value, kind)
    )


# -- lists a generated gradient fills and empties, as calls the analysis reads ---------------


#: the helpers of ``runtime.batched`` a gradient's appends and pops are written as
_LIST_HELPERS = ("list_appended", "list_popped")


def list_changes_as_calls(definition: gast.FunctionDef) -> dict:
    """Rewrite, in place, each ``items.append(v)`` and ``items.pop()`` statement of a
    generated gradient (or pullback: the lists it was saved) as
    ``items = list_appended(items, v)`` and ``items = list_popped(items)``: the same call
    on the same object, written so that the analysis sees the list flow through it (it
    refuses the methods, which change in place a list the backward pass reads), and
    batched forward mode changes the list of the items' batched tangents beside it
    (``_Batched.saved_value``; anything but a list there is refused as it runs).
    Returns the helpers to bind by name ({} where there is nothing to rewrite, or where
    the function uses their names already)."""
    used = {n.id for n in gast.walk(definition) if isinstance(n, gast.Name)}
    if used & set(_LIST_HELPERS):
        return {}
    changed = False

    def rewrite(block: list) -> list:
        nonlocal changed
        out = []
        for stmt in block:
            for field in ("body", "orelse"):
                inner = getattr(stmt, field, None)
                if isinstance(inner, list) and not isinstance(stmt, gast.FunctionDef):
                    setattr(stmt, field, rewrite(inner))
            call = stmt.value if isinstance(stmt, gast.Expr) else None
            if (
                isinstance(call, gast.Call)
                and isinstance(call.func, gast.Attribute)
                and isinstance(call.func.value, gast.Name)
                and not call.keywords
                and (call.func.attr, len(call.args)) in (("append", 1), ("pop", 0))
            ):
                owner = call.func.value.id
                helper = "list_appended" if call.func.attr == "append" else "list_popped"
                out.append(build.assign(owner, build.call(helper, load(owner), *call.args)))
                changed = True
                continue
            out.append(stmt)
        return out

    definition.body = rewrite(definition.body)
    return {name: getattr(batched, name) for name in _LIST_HELPERS} if changed else {}

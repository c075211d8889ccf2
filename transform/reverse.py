"""reverse: from the analyzed core, the primal (forward) statements and their adjoints.

For each core statement the primal keeps the statement and the adjoint gets, in reverse
order, what sends the gradient of its target to the gradients of its operands.

Values the backward pass may need but the forward pass overwrites are saved on a stack:
before an assignment to a name that may already hold a value, the primal pushes the old
value; after the statement's adjoint, the adjoint pops it back. So when the adjoint of a
statement runs, every variable holds the value it had right after that statement ran in
the forward pass. Loops push the loop variable at the end of each iteration and their
trip count after the loop; branches are replayed from their (saved) condition. Every
push/pop pair carries an id (``anno.Key.STACK_ID``) so the optimizer can drop the pairs
whose popped value nobody reads, which in straight-line code is nearly all of them.

Adjoints accumulate (``dx = dx + ...``) from zero; the optimizer turns the first
accumulation into an assignment and removes the zeros nobody reads.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

import gast

from . import anno, build, ranks, shapes, unit_axes
from .analyze import (
    APPEND,
    CONTAINER,
    COPY,
    SUBSCRIPT,
    operand_atoms,
)
from .build import assign, load, store
from .context import TransformContext
from .dataflow import changed_names, reads, statements, target_names
from .errors import TransformError
from .inline import inline
from .objects import BUILD, FIELD, FIELD_STORE, callee_kinds, is_put_back, label
from .origin import Origin
from .origin import of as origin_of
from .program import Program
from .resolve import Callee
from .walk import walk

PRIMAL = "primal"
ADJOINT = "adjoint"


def transform(node: gast.FunctionDef, ctx: TransformContext) -> Program:
    """The program of forward and backward statements for ``node``. Guarantees: when the
    adjoint of a statement runs, every name holds what it held right after that statement
    ran forward (values it overwrote are pushed before it and popped back after its
    adjoint); each push/pop pair shares an ``anno.Key.STACK_ID``."""
    return _Reverser(ctx).run(node)


ZERO = 0

#: the statements ``_binding_analysis`` sees every binding of (the rest: ``with``,
#: ``global``, nested definitions... make ``resets`` keep every reset)
_COUNTED = (gast.Assign, gast.Expr, gast.Pass, gast.Assert, gast.Return, gast.Break, gast.Continue)


class _Reverser:
    def __init__(self, ctx: TransformContext) -> None:
        self.ctx = ctx
        self.namer = ctx.namer
        self.stack = self.namer.new("stack")
        self.push_name = self.namer.new("push")
        self.pop_name = self.namer.new("pop")
        self.replay_variable = self.namer.new("_")
        self.next_id = 0
        self.maybe_unbound: set[str] = set()
        self.bound_before: dict[int, tuple[set[str], set[str]]] = {}
        #: how many statements bind each name (a loop's body counted twice), and whether
        #: every statement is of a kind counted there (see ``resets``)
        self.bindings: dict[str, int] = {}
        self.plain_statements = True
        self.loop_epilogues: list[list[gast.stmt]] = []
        self.loop_depth = 0
        #: id of a core statement -> its contributions (see ``remat``)
        self.remat_groups: dict[int, list[list[gast.stmt]]] = {}

    # -- driver ---------------------------------------------------------------------

    def run(self, node: gast.FunctionDef) -> Program:
        params = {a.id for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs}
        for name in params:
            self.bindings[name] = 1
        self._binding_analysis(node.body, set(params), set(params))
        body = node.body
        result = body[-1].value
        primal, adjoint = self.block(body[:-1])
        gradients = [self.namer.adjoint(name) for name in self.ctx.wrt]
        seed = None
        if isinstance(result, gast.Name) and result.id in self.ctx.active:
            seed = self.namer.adjoint(result.id)
        zero_init = [
            self._zero(name)
            for name in sorted(self.ctx.active | set(self.ctx.wrt))
            if seed is None or name != result.id
        ]
        return Program(
            node=node,
            primal=primal,
            backward=[*zero_init, *adjoint],
            maybe_unbound=self.maybe_unbound,
            result=result,
            seed=seed,
            gradients=gradients,
            stack=self.stack,
            push=self.push_name,
            pop=self.pop_name,
            replay_variable=self.replay_variable,
            numbers=self._numbers(),
            remat_groups=self.remat_groups,
        )

    def _numbers(self) -> set[str]:
        scalars = {name for name, kind in self.ctx.shape_classes.items() if kind == shapes.SCALAR}
        return scalars | {self.namer.adjoint(name) for name in scalars}

    def _zero(self, name: str) -> gast.Assign:
        """``d<name> = 0``: a zero of any shape (adjoint helpers treat 0 as 'nothing yet')."""
        stmt = assign(self.namer.adjoint(name), gast.Constant(ZERO, None))
        anno.set(stmt, anno.Key.PART, ADJOINT)
        return stmt

    # -- which names may already hold a value -------------------------------------------

    def _binding_analysis(
        self, stmts: list[gast.stmt], maybe: set[str], surely: set[str]
    ) -> tuple[set, set]:
        """The names that may be, and surely are, bound after ``stmts``; records, before
        each assignment and loop, which of the names it binds may already hold a value
        (and so must be saved) and which surely do. Only those few names are kept per
        statement: copies of the whole sets made n statements cost n * n."""
        maybe, surely = set(maybe), set(surely)  # grown in place below; the caller's stay
        for stmt in stmts:
            if isinstance(stmt, gast.If):
                m1, s1 = self._binding_analysis(stmt.body, maybe, surely)
                m2, s2 = self._binding_analysis(stmt.orelse, maybe, surely)
                maybe, surely = m1 | m2, s1 & s2
            elif isinstance(stmt, gast.With):
                # Its body runs once, in order: a name it overwrites is saved as anywhere
                # (once it was not, and the body's adjoint read the value the body wrote)
                maybe, surely = self._binding_analysis(stmt.body, maybe, surely)
                self.plain_statements = False
            elif isinstance(stmt, (gast.For, gast.While)):
                targets = {stmt.target.id} if isinstance(stmt, gast.For) else set()
                for name in targets:
                    self.bindings[name] = self.bindings.get(name, 0) + 2
                self.bound_before[id(stmt)] = (maybe & targets, surely & targets)
                # Twice: the second pass sees what the first iteration leaves bound.
                m1, _ = self._binding_analysis(stmt.body, maybe | targets, surely)
                m2, _ = self._binding_analysis(stmt.body, maybe | m1 | targets, surely)
                maybe |= m2 | targets
            else:
                if type(stmt) not in _COUNTED:
                    self.plain_statements = False
                names = changed_names(stmt)
                for name in names:
                    self.bindings[name] = self.bindings.get(name, 0) + 1
                self.bound_before[id(stmt)] = (maybe & names, surely & names)
                maybe |= names
                surely |= names
        return maybe, surely

    # -- stack ------------------------------------------------------------------------

    def push_pop(self, name: str, origin: Origin | None) -> tuple[gast.stmt, gast.stmt]:
        """A push of ``name``'s value for the primal and the pop restoring it for the adjoint."""
        self.next_id += 1
        push = gast.Expr(value=build.call(self.push_name, load(name)))
        pop = assign(name, build.call(self.pop_name))
        for stmt, part in ((push, PRIMAL), (pop, ADJOINT)):
            anno.set(stmt, anno.Key.STACK_ID, self.next_id)
            anno.set(stmt, anno.Key.PART, part)
            anno.set(stmt, anno.Key.ORIGIN, origin)
        return push, pop

    def save_before(self, stmt: gast.stmt, names: set[str]) -> tuple[list, list]:
        """Pushes (primal) and pops (adjoint) for the names ``stmt`` overwrites."""
        maybe, surely = self.bound_before.get(id(stmt), (set(), set()))
        pushes, pops = [], []
        for name in sorted(names & maybe):
            if name not in surely:
                self.maybe_unbound.add(name)
            push, pop = self.push_pop(name, origin_of(stmt))
            pushes.append(push)
            pops.insert(0, pop)  # a stack: the last pushed comes back first
        return pushes, pops

    # -- blocks -----------------------------------------------------------------------

    def block(self, stmts: list[gast.stmt]) -> tuple[list[gast.stmt], list[gast.stmt]]:
        primal: list[gast.stmt] = []
        adjoints: list[list[gast.stmt]] = []  # each statement's, in the forward order
        for stmt in stmts:
            method = getattr(self, f"stmt_{type(stmt).__name__}", None)
            if method is None:
                raise TransformError(
                    f"internal: the reverse pass got a {type(stmt).__name__} statement",
                    origin_of(stmt),
                )
            p, a = method(stmt)
            primal.extend(p)
            adjoints.append(a)
        # The adjoint runs the statements' adjoints last first.
        return primal, [s for a in reversed(adjoints) for s in a]

    def stmt_Assign(self, stmt: gast.Assign) -> tuple[list, list]:
        target = stmt.targets[0]
        if isinstance(target, gast.Subscript):
            return self.assign_into(stmt)
        names = changed_names(stmt)
        callee: Callee = anno.get(stmt, anno.Key.CALLEE)
        kept = names
        if callee is FIELD_STORE and stmt.value.args[0].id == target.id:
            # p = set_field(p, 'x', v) hands back the object p held, changed in place:
            # what a save would keep is that same object (issue 17)
            kept = names - {target.id}
        pushes, pops = self.save_before(stmt, kept)
        primal = [*pushes, _tag(stmt, PRIMAL)]
        active = anno.get(stmt, anno.Key.ACTIVE)
        if callee is not None and callee.kind == "user":
            return self.user_call(stmt, callee, pushes, pops, active)
        if callee is not None and callee.kind == "fallback" and active:
            return self.tape_call(stmt, callee, pushes, pops)
        if not active:
            # The name may be active elsewhere: what accumulated in its adjoint belongs to
            # this (constant) value and must not leak to an earlier binding of the name.
            return primal, [*pops, *self.resets(names)]
        if isinstance(target, gast.Tuple):
            return primal, [*self.unpack_adjoint(stmt), *pops, *self.resets(names)]
        return primal, self.value_adjoint(stmt, target.id, callee, pops)

    def resets(self, names: set[str]) -> list[gast.stmt]:
        """``d<name> = 0`` after the adjoint of a statement binding ``names``: what it
        leaves in the adjoint belongs to this binding, not to an earlier one the backward
        pass reaches next. Not made (dead code would remove it) where no statement the
        backward pass runs afterwards can read it: outside every loop, for a name that
        no other statement binds and that is no parameter, in a function made only of
        the statements ``_binding_analysis`` counts (an earlier statement cannot read a
        local before its one binding)."""
        return [
            self._zero(name)
            for name in sorted(names)
            if name in self.ctx.active and not self._bound_once_at_top(name)
        ]

    def _bound_once_at_top(self, name: str) -> bool:
        return self.plain_statements and not self.loop_depth and self.bindings.get(name) == 1

    def value_adjoint(
        self, stmt: gast.Assign, name: str, callee: Callee, pops: list
    ) -> list[gast.stmt]:
        origin = origin_of(stmt)
        adjoint_name = self.namer.adjoint(name)
        reads_itself = name in reads(stmt.value)
        out: list[gast.stmt] = []
        g: gast.expr = load(adjoint_name)
        ans: gast.expr = load(name)
        if reads_itself:
            # The statement reads the name it writes: take its gradient and value aside,
            # restore the old value, then send the gradient to it.
            g_name = self.namer.new(f"{adjoint_name}_out")
            out.append(assign(g_name, load(adjoint_name)))
            g = load(g_name)
            ans_name = self.namer.new(f"{name}_out")
            out.append(assign(ans_name, load(name)))
            ans = load(ans_name)
            out.extend(pops)
            out.extend(self.resets({name}))
            out.extend(self.recomputable(stmt, self.contributions(stmt, callee, g, ans, origin)))
        else:
            out.extend(self.recomputable(stmt, self.contributions(stmt, callee, g, ans, origin)))
            out.extend(pops)
            out.extend(self.resets({name}))
        return [_tag(s, ADJOINT, origin) for s in out]

    def recomputable(self, stmt: gast.Assign, contributions: list[gast.stmt]) -> list[gast.stmt]:
        """``contributions``, remembered as ``stmt``'s for ``remat``, which may recompute
        cheap temporaries in them."""
        self.remat_groups.setdefault(id(stmt), []).append(contributions)
        return contributions

    def contributions(
        self, stmt: gast.Assign, callee: Callee, g: gast.expr, ans: gast.expr, origin: Origin | None
    ) -> list[gast.stmt]:
        value = stmt.value
        if callee is COPY:
            return self.accumulate(value.id, g, g)
        if callee is SUBSCRIPT:
            return self.subscript_adjoint(value, g, ans, origin)
        if callee is FIELD:
            return self.field_adjoint(value, g)
        if callee is FIELD_STORE:  # obj = set_field(obj, 'a', v): dv, and obj's less 'a'
            return self.field_store_adjoint(value, g)
        if callee is BUILD:  # make_object(Layer, attributes): the attributes' adjoint
            attributes = value.args[1]
            if isinstance(attributes, gast.Name) and attributes.id in self.ctx.active:
                return self.accumulate(attributes.id, g, g)
            return []
        if callee is CONTAINER:
            return self.display_adjoint(value, g, origin)
        if callee.kind == "rule":
            column = self._vector_reshaped(stmt)
            if column is not None:
                # u.reshape(-1, 1), np.expand_dims(u, 0) of a vector: u with a new axis, as
                # u[:, None] is, whose gradient reads the axis at 0 (``du = dcol[:, 0]``)
                source, index = column
                return self.accumulate(source, _new_axes_read(g, index), g)
            return self.rule_adjoint(value, callee, g, ans, origin)
        raise TransformError(f"cannot differentiate through {callee.name}: {callee.reason}", origin)

    def _vector_reshaped(self, stmt: gast.Assign) -> tuple[str, gast.expr] | None:
        """For ``t = u.reshape(-1, 1)`` (or another reshape, ``np.expand_dims``) of a vector
        ``u`` that needs a gradient, which ``unit_axes`` knows to make a column or a row:
        ``u`` and the index of new axes that makes the same (``[:, None]``, ``[None]``)."""
        target = stmt.targets[0]
        if not isinstance(target, gast.Name):
            return None
        found = getattr(self.ctx.shape_classes, "unit_axes", None) or {}
        units = found.get(target.id)
        source = unit_axes.vector_reshaped(stmt.value, stmt, units)
        if not (isinstance(source, gast.Name) and source.id in self.ctx.active):
            return None
        facts = getattr(self.ctx.shape_classes, "ranks", None) or {}
        if ranks.ndim(facts.get(source.id)) != 1:
            return None
        whole = gast.Slice(lower=None, upper=None, step=None)
        parts = [gast.Constant(None, None) if unit else whole for unit in units]
        return source.id, gast.Tuple(elts=parts, ctx=gast.Load())

    def rule_adjoint(
        self, value: gast.expr, callee: Callee, g: gast.expr, ans: gast.expr, origin: Origin | None
    ) -> list[gast.stmt]:
        operands = operand_atoms(value, callee)
        keywords = value.keywords if isinstance(value, gast.Call) else []
        # The rule returns one gradient per parameter: an operand's position, or for a
        # keyword argument (np.average(a, weights=w)) the position of that parameter.
        receivers = {
            i: atom.id for i, atom in enumerate(operands)
            if isinstance(atom, gast.Name) and atom.id in self.ctx.active
        }  # fmt: skip
        params = callee.rule.param_names if callee.rule is not None else ()
        for keyword in keywords:
            value_ = keyword.value
            if isinstance(value_, gast.Name) and value_.id in self.ctx.active:
                if keyword.arg not in params:
                    raise TransformError(
                        f"{callee.name}(..., {keyword.arg}=...): the argument needs a gradient "
                        f"but astgrad's rule {callee.rule.name} gives none for it",
                        origin,
                    )
                receivers[params.index(keyword.arg)] = value_.id
        refused = [callee.rule.refused[p] for p in receivers if p in callee.rule.refused]
        if refused:
            # (a gradient the rule does not have, though it is not zero: no_derivative_at)
            raise TransformError(refused[0], origin)
        inlined = inline(
            callee,
            operands,
            keywords,
            g,
            ans,
            sorted(receivers),
            self.ctx,
            origin,
            in_loop=bool(self.loop_depth),
        )
        template = callee.rule.template
        for position, name in receivers.items():
            declared = template is not None and position < len(template.outputs)
            if position not in inlined.gradients and not (
                declared and template.outputs[position] is None
            ):
                raise TransformError(
                    f"{callee.name}: `{name}` needs a gradient, but astgrad's rule "
                    f"{callee.rule.name} gives none for that argument",
                    origin,
                    "Pass it as a constant, or register a fuller rule with @ag.vjp_rule.",
                )
        out = _linear_prelude(inlined.prelude, g)
        for position, expression in inlined.gradients.items():
            out.extend(self.accumulate(receivers[position], expression, g))
        return out

    def subscript_adjoint(
        self, value: gast.Subscript, g: gast.expr, ans: gast.expr, origin: Origin | None
    ) -> list[gast.stmt]:
        source = value.value
        if not (isinstance(source, gast.Name) and source.id in self.ctx.active):
            return []
        index = index_expression(value.slice)
        kind = self.ctx.kinds.get(source.id, ("unknown",))[0]
        if kind != "value":
            helper = self.ctx.bind_free("add_at", _adjoints().add_at)
            expression = build.call(
                helper, load(self.namer.adjoint(source.id)), load(source.id), index, g
            )
            stmt = assign(self.namer.adjoint(source.id), expression)
            anno.set(stmt, anno.Key.ACCUMULATE, True)
            if isinstance(g, gast.Name):
                anno.set(stmt, anno.Key.LINEAR_IN, g.id)
            if isinstance(index, gast.Constant):
                anno.set(
                    stmt, anno.Key.PART_OF, ("adds", self.namer.adjoint(source.id), index.value)
                )
            return [stmt]
        if _new_axes_only(value.slice):
            # x[:, None], x[None], x[..., None]: all of x, its axes in order, with new axes
            # of size 1: its gradient is g with them taken out (no zeros, no write; the
            # generated code of an outer product or of pairwise distances by broadcasting)
            facts = getattr(self.ctx.shape_classes, "ranks", None) or {}
            if (ranks.ndim(facts.get(source.id)) or 0) >= 1 and not _holds_ellipsis(value.slice):
                # (an array, and no ``...``: the new axes read at 0, ``du = du_col[:, 0]``)
                return self.accumulate(source.id, _new_axes_read(g, value.slice), g)
            helper = self.ctx.bind_free("reshape_like", _shared().reshape_like)
            return self.accumulate(source.id, build.call(helper, g, load(source.id)), g)
        import operator

        from ..runtime.rules.registry import lookup

        callee = Callee("rule", "[]", operator.getitem, lookup(operator.getitem))
        operands = [source, index]
        inlined = inline(callee, operands, [], g, ans, [0], self.ctx, origin)
        out = _linear_prelude(inlined.prelude, g)
        out.extend(self.accumulate(source.id, inlined.gradients[0], g))
        return out

    def field_adjoint(self, value: gast.Attribute, g: gast.expr) -> list[gast.stmt]:
        """``v = obj.W``: ``dobj = add_field(dobj, obj, 'W', dv)`` (see runtime.objects)."""
        owner = value.value
        if not (isinstance(owner, gast.Name) and owner.id in self.ctx.active):
            return []
        helper = self.ctx.bind_free("add_field", _objects().add_field)
        adjoint_name = self.namer.adjoint(owner.id)
        expression = build.call(
            helper, load(adjoint_name), load(owner.id), gast.Constant(value.attr, None), g
        )
        stmt = assign(adjoint_name, expression)
        anno.set(stmt, anno.Key.ACCUMULATE, True)
        if isinstance(g, gast.Name):
            anno.set(stmt, anno.Key.LINEAR_IN, g.id)
        anno.set(stmt, anno.Key.PART_OF, ("adds", adjoint_name, value.attr))
        return [stmt]

    def field_store_adjoint(self, value: gast.Call, g: gast.expr) -> list[gast.stmt]:
        """``obj = set_field(obj, 'a', v)``: ``v`` gets the part of ``a`` in the changed
        object's adjoint ``g``; the object before the change gets the rest."""
        owner, name, stored = value.args
        out = []
        if isinstance(stored, gast.Name) and stored.id in self.ctx.active:
            item = self.ctx.bind_free("adjoint_item", _adjoints().adjoint_item)
            part = build.call(item, copy.deepcopy(g), copy.deepcopy(name))
            out.extend(self.accumulate_item(stored.id, part, g))
        if isinstance(owner, gast.Name) and owner.id in self.ctx.active:
            rest = self.ctx.bind_free("without_field", _objects().without_field)
            kept = build.call(rest, copy.deepcopy(g), copy.deepcopy(name))
            dropping = self.accumulate(owner.id, kept, g)
            if isinstance(g, gast.Name) and g.id == self.namer.adjoint(owner.id):
                anno.set(dropping[-1], anno.Key.PART_OF, ("drops", g.id, name.value))
            out.extend(dropping)
        return out

    def display_adjoint(
        self, value: gast.expr, g: gast.expr, origin: Origin | None
    ) -> list[gast.stmt]:
        out = []
        item = self.ctx.bind_free("adjoint_item", _adjoints().adjoint_item)
        if isinstance(value, gast.Dict):
            for key, element in zip(value.keys, value.values):
                if key is None:
                    raise TransformError(
                        "a ** entry in a differentiated dict display is not supported", origin
                    )
                if isinstance(element, gast.Name) and element.id in self.ctx.active:
                    part = build.call(item, copy.deepcopy(g), copy.deepcopy(key))
                    out.extend(self.accumulate_item(element.id, part, g))
            return out
        for position, element in enumerate(value.elts):
            if isinstance(element, gast.Starred):
                raise TransformError(
                    "a starred element in a differentiated tuple or list is not supported", origin
                )
            if isinstance(element, gast.Name) and element.id in self.ctx.active:
                part = build.call(item, copy.deepcopy(g), gast.Constant(position, None))
                out.extend(self.accumulate_item(element.id, part, g))
        return out

    def unpack_adjoint(self, stmt: gast.Assign) -> list[gast.stmt]:
        source = stmt.value
        if not (isinstance(source, gast.Name) and source.id in self.ctx.active):
            return []
        elements = []
        for element in stmt.targets[0].elts:
            if element.id in self.ctx.active:
                elements.append(load(self.namer.adjoint(element.id)))
            else:
                elements.append(gast.Constant(ZERO, None))
        kind = self.ctx.kinds.get(source.id, ("unknown",))[0]
        parts = gast.List(elts=elements, ctx=gast.Load())
        if kind not in ("tuple", "list"):
            helper = self.ctx.bind_free("unpack_adjoint", _adjoints().unpack_adjoint)
            parts = build.call(helper, load(source.id), parts)
        return [_tag(s, ADJOINT, origin_of(stmt)) for s in self.accumulate(source.id, parts, None)]

    def accumulate(
        self, name: str, expression: gast.expr, linear_in: gast.expr | None
    ) -> list[gast.stmt]:
        """``d<name> = d<name> + expression``; ``linear_in`` is the gradient it scales."""
        adjoint_name = self.namer.adjoint(name)
        kind = self.ctx.kinds.get(name, ("unknown",))[0]
        facts = getattr(self.ctx.shape_classes, "ranks", None) or {}
        if kind == "value" or ranks.ndim(facts.get(name)) is not None:
            # (an array or number, whatever its kind says: ranks proved it, so no container)
            total = gast.BinOp(left=load(adjoint_name), op=gast.Add(), right=expression)
        else:
            helper = self.ctx.bind_free("add_adjoints", _adjoints().add_adjoints)
            total = build.call(helper, load(adjoint_name), expression)
        stmt = assign(adjoint_name, total)
        anno.set(stmt, anno.Key.PART, ADJOINT)
        anno.set(stmt, anno.Key.ACCUMULATE, True)
        if isinstance(linear_in, gast.Name):
            anno.set(stmt, anno.Key.LINEAR_IN, linear_in.id)
        return [stmt]

    def accumulate_item(
        self, name: str, item: gast.Call, linear_in: gast.expr | None
    ) -> list[gast.stmt]:
        """``accumulate`` of ``adjoint_item(g, key)``, a part of a container's or object's
        adjoint: the int 0 where nothing flowed into that part (an element or attribute
        never read, or overwritten), which the zeros pass guards the part's rules from
        (``reshape_back(0, w)`` would fail)."""
        stmts = self.accumulate(name, item, linear_in)
        anno.set(stmts[-1], anno.Key.ZERO_PARTS, ((), (self.namer.adjoint(name),)))
        container, key = item.args
        if isinstance(container, gast.Name) and isinstance(key, gast.Constant):
            anno.set(stmts[-1], anno.Key.PART_OF, ("item", container.id, key.value))
        return stmts

    # -- calls of user functions ----------------------------------------------------------

    def user_call(
        self, stmt: gast.Assign, callee: Callee, pushes: list, pops: list, active: bool
    ) -> tuple[list, list]:
        origin = origin_of(stmt)
        call = stmt.value
        if not active:
            # A constant value, as stmt_Assign's: what the name's adjoint holds belongs to
            # this binding and must not reach an earlier one (w = helper(v, x), w being
            # differentiated and v, x not, left the loss's gradient in dw).
            return [*pushes, _tag(stmt, PRIMAL)], [*pops, *self.resets(changed_names(stmt))]
        try:
            signature = inspect.signature(callee.value)
            bound = signature.bind(*call.args, **{k.arg: k.value for k in call.keywords if k.arg})
        except TypeError as exc:
            raise TransformError(
                f"cannot bind the arguments of {callee.name}: {exc}", origin
            ) from None
        if any(isinstance(a, gast.Starred) for a in call.args) or any(
            k.arg is None for k in call.keywords
        ):
            raise TransformError(
                f"{callee.name}(*args, **kwargs) cannot be differentiated statically", origin
            )
        active_params = [
            param
            for param, atom in bound.arguments.items()
            if isinstance(atom, gast.Name) and atom.id in self.ctx.active
        ]
        try:
            self._no_active_packed(callee, signature, bound, origin)
            kinds = callee_kinds(bound.arguments, self.ctx)  # objects' classes (issue 17)
            derivative = self.ctx.derive_callee(
                callee.value, tuple(active_params), origin, param_kinds=kinds or None
            )
        except TransformError as exc:
            if self.ctx.mode != "auto":
                raise
            reason = exc.reason
            self.ctx.note_fallback(callee.name, origin, reason)
            fallback = Callee("fallback", callee.name, callee.value, reason=reason)
            return self.tape_call(stmt, fallback, pushes, pops)
        if anno.get(stmt, anno.Key.CHECKPOINT):
            return self.checkpointed_call(stmt, derivative, bound, active_params, pushes, pops)
        target = stmt.targets[0]
        saved = self.namer.new(f"{label(derivative.function)}_saved")
        forward_name = self.ctx.bind_free(derivative.forward.__name__, derivative.forward)
        backward_name = self.ctx.bind_free(derivative.backward.__name__, derivative.backward)
        forward_call = gast.Call(func=load(forward_name), args=call.args, keywords=call.keywords)
        primal_stmt = gast.Assign(
            targets=[gast.Tuple(elts=[copy.deepcopy(target), store(saved)], ctx=gast.Store())],
            value=forward_call,
            type_comment=None,
        )
        anno.copy_from(primal_stmt, stmt)
        saved_push, saved_pop = ([], [])
        if self.loop_depth:
            # Assigned again by every iteration: the backward pass needs each one's.
            self.maybe_unbound.add(saved)
            saved_push, saved_pop = self.push_pop(saved, origin)
            saved_push, saved_pop = [saved_push], [saved_pop]
        primal = [*pushes, *saved_push, _tag(primal_stmt, PRIMAL)]
        names = changed_names(stmt)
        g = self.target_cotangent(target)
        parts = [
            self.namer.new(f"d{param}_{label(derivative.function)}") for param in active_params
        ]
        backward_call = build.call(backward_name, load(saved), g)
        if len(parts) == 1:
            receive = store(parts[0])
        else:
            receive = gast.Tuple(elts=[store(p) for p in parts], ctx=gast.Store())
        receiving = gast.Assign(targets=[receive], value=backward_call, type_comment=None)
        if isinstance(g, gast.Name):
            anno.set(receiving, anno.Key.LINEAR_IN, g.id)
        _mark_zero_parts(receiving, parts, derivative)
        # The target's adjoint is consumed by the call and reset before the parts flow in,
        # since an argument may be the target itself (w = helper(w)).
        adjoint = [receiving, *saved_pop, *pops, *self.resets(names)]
        for param, part in zip(active_params, parts):
            adjoint.extend(self.accumulate(bound.arguments[param].id, load(part), load(part)))
        return primal, [_tag(s, ADJOINT, origin) for s in adjoint]

    def checkpointed_call(
        self, stmt: gast.Assign, derivative: Any, bound: Any, active_params: list,
        pushes: list, pops: list,
    ) -> tuple[list, list]:  # fmt: skip
        """A call marked ``anno.Key.CHECKPOINT`` (``ag.checkpoint``, a loop's segment) keeps
        only its inputs: the primal calls the function as it is, saving nothing of it; the
        adjoint, once the pops have put the inputs back, runs the derivative's forward
        function again and passes what it saved straight to the backward function, so it is
        held only while that runs."""
        origin = origin_of(stmt)
        call = stmt.value
        forward_name = self.ctx.bind_free(derivative.forward.__name__, derivative.forward)
        backward_name = self.ctx.bind_free(derivative.backward.__name__, derivative.backward)
        again = gast.Call(
            func=load(forward_name),
            args=[copy.deepcopy(a) for a in call.args],
            keywords=[copy.deepcopy(k) for k in call.keywords],
        )
        recomputed = gast.Subscript(value=again, slice=gast.Constant(1, None), ctx=gast.Load())
        g = self.target_cotangent(stmt.targets[0])
        parts = [
            self.namer.new(f"d{param}_{label(derivative.function)}") for param in active_params
        ]
        if len(parts) == 1:
            receive = store(parts[0])
        else:
            receive = gast.Tuple(elts=[store(p) for p in parts], ctx=gast.Store())
        receiving = gast.Assign(
            targets=[receive], value=build.call(backward_name, recomputed, g), type_comment=None
        )
        if isinstance(g, gast.Name):
            anno.set(receiving, anno.Key.LINEAR_IN, g.id)
        _mark_zero_parts(receiving, parts, derivative)
        adjoint = [*pops, receiving, *self.resets(changed_names(stmt))]
        for param, part in zip(active_params, parts):
            adjoint.extend(self.accumulate(bound.arguments[param].id, load(part), load(part)))
        return [*pushes, _tag(stmt, PRIMAL)], [_tag(s, ADJOINT, origin) for s in adjoint]

    def target_cotangent(self, target: gast.expr) -> gast.expr:
        """The cotangent of a call's result bound to ``target``: its adjoint, or for a
        tuple target a list of the elements' adjoints (zero for inactive ones)."""
        if isinstance(target, gast.Name):
            return load(self.namer.adjoint(target.id))
        return gast.List(
            elts=[
                load(self.namer.adjoint(e.id))
                if e.id in self.ctx.active
                else gast.Constant(ZERO, None)
                for e in target.elts
            ],
            ctx=gast.Load(),
        )

    def _no_active_packed(
        self, callee: Callee, signature: inspect.Signature, bound: Any, origin: Origin | None
    ) -> None:
        """Raise when a differentiated value reaches ``*args`` or ``**kwargs`` of a user
        function: its derivative is generated per named parameter, and a packed one would
        get no gradient at all."""
        for param, value in bound.arguments.items():
            kind = signature.parameters[param].kind
            if kind is inspect.Parameter.VAR_POSITIONAL:
                atoms, spelled = value, f"*{param}"
            elif kind is inspect.Parameter.VAR_KEYWORD:
                atoms, spelled = value.values(), f"**{param}"
            else:
                continue
            if any(isinstance(a, gast.Name) and a.id in self.ctx.active for a in atoms):
                raise TransformError(
                    f"{callee.name} receives a differentiated value through its parameter "
                    f"`{spelled}`, which the source transformation cannot differentiate.",
                    origin,
                    f"Give {callee.name} named parameters (or pass a list or tuple as one "
                    'argument); or use mode="auto" or mode="tape".',
                )

    # -- assignment into arrays -----------------------------------------------------------

    def assign_into(self, stmt: gast.Assign) -> tuple[list, list]:
        """``y[i] = v``: save what is overwritten, and put it back after the adjoint."""
        origin = origin_of(stmt)
        target = stmt.targets[0]
        container = target.value.id
        index = index_expression(target.slice)
        adjoints = _adjoints()
        saved = self.ctx.bind_free("saved_item", adjoints.saved_item)
        restore = self.ctx.bind_free("restore_item", adjoints.restore_item)
        self.next_id += 1
        push = gast.Expr(
            value=build.call(
                self.push_name, build.call(saved, load(container), copy.deepcopy(index))
            )
        )
        pop = gast.Expr(
            value=build.call(
                restore, load(container), copy.deepcopy(index), build.call(self.pop_name)
            )
        )
        for node, part in ((push, PRIMAL), (pop, ADJOINT)):
            anno.set(node, anno.Key.STACK_ID, self.next_id)
            anno.set(node, anno.Key.PART, part)
            anno.set(node, anno.Key.ORIGIN, origin)
        anno.set(pop, anno.Key.RESTORES, container)
        primal = [push, _tag(stmt, PRIMAL)]
        restores = [pop]
        if is_put_back(stmt, self.ctx):
            # ps[index] = p putting back the object read from there (issue 17): the
            # caller's list is unchanged, so nothing to save, nor to write back into it
            primal, restores = [_tag(stmt, PRIMAL)], []
        if not anno.get(stmt, anno.Key.ACTIVE):
            return primal, restores
        kind = self.ctx.kinds.get(container, ("unknown",))[0]
        value_part = self.namer.new(f"d{container}_item")
        split = self.ctx.bind_free("assigned_adjoint", adjoints.assigned_adjoint)
        adjoint_name = self.namer.adjoint(container)
        taking = gast.Assign(
            targets=[gast.Tuple(elts=[store(value_part), store(adjoint_name)], ctx=gast.Store())],
            value=build.call(split, load(adjoint_name), load(container), copy.deepcopy(index)),
            type_comment=None,
        )
        anno.set(taking, anno.Key.LINEAR_IN, adjoint_name)
        adjoint = [taking]
        value = stmt.value
        if isinstance(value, gast.Name) and value.id in self.ctx.active:
            part: gast.expr = load(value_part)
            # The slot may be larger than the value stored into it (y[2] = total): sum
            # back; not where a number goes into one element (u_new[i] = v).
            if self.number_into_element(target, value):
                part = load(value_part)
            elif kind == "value":
                part = build.call(
                    self.ctx.bind_free("unbroadcast", _unbroadcast()), part, load(value.id)
                )
            else:
                stored = self.ctx.bind_free("stored_adjoint", adjoints.stored_adjoint)
                part = build.call(stored, part, load(value.id))
            adjoint.extend(self.accumulate(value.id, part, load(value_part)))
        adjoint.extend(restores)
        return primal, [_tag(s, ADJOINT, origin) for s in adjoint]

    def number_into_element(self, target: gast.Subscript, value: gast.Name) -> bool:
        """Whether ``target = value`` stores a number into one element of an array
        (``ranks``), so that the slot's adjoint needs no summing back to the value's shape."""
        classes = self.ctx.shape_classes
        facts = getattr(classes, "ranks", None)
        return bool(facts) and (
            ranks.of(target, facts) == 0 and shapes.class_of(value, classes) == shapes.SCALAR
        )

    # -- lists ----------------------------------------------------------------------------

    def list_append(self, stmt: gast.Expr) -> tuple[list, list]:
        """``items.append(v)``: the adjoint takes ``v``'s part off the end and undoes the append."""
        origin = origin_of(stmt)
        call = stmt.value
        items = call.func.value.id
        value = call.args[0]
        if not anno.get(stmt, anno.Key.ACTIVE):
            return [_tag(stmt, PRIMAL)], []
        adjoint_name = self.namer.adjoint(items)
        part = self.namer.new(f"d{items}_last")
        split = self.ctx.bind_free("appended_adjoint", _adjoints().appended_adjoint)
        taking = gast.Assign(
            targets=[gast.Tuple(elts=[store(part), store(adjoint_name)], ctx=gast.Store())],
            value=build.call(split, load(adjoint_name)),
            type_comment=None,
        )
        anno.set(taking, anno.Key.LINEAR_IN, adjoint_name)
        adjoint = [taking]
        if isinstance(value, gast.Name) and value.id in self.ctx.active:
            adjoint.extend(self.accumulate(value.id, load(part), load(part)))
        undo = gast.Expr(
            value=gast.Call(
                func=gast.Attribute(value=load(items), attr="pop", ctx=gast.Load()),
                args=[],
                keywords=[],
            )
        )
        adjoint.append(undo)
        return [_tag(stmt, PRIMAL)], [_tag(s, ADJOINT, origin) for s in adjoint]

    # -- calls that run on the tape -------------------------------------------------------

    def tape_call(
        self, stmt: gast.Assign, callee: Callee, pushes: list, pops: list
    ) -> tuple[list, list]:
        """A call the transform cannot see into runs on the tape; its pullback is kept for
        the backward pass."""
        origin = origin_of(stmt)
        call = stmt.value
        target = stmt.targets[0]
        if not isinstance(call, gast.Call):
            raise TransformError(
                f"cannot differentiate through {callee.name}: {callee.reason}", origin
            )
        if any(isinstance(a, gast.Starred) for a in call.args) or any(
            k.arg is None for k in call.keywords
        ):
            raise TransformError(
                f"{callee.name}(*args, **kwargs) cannot run on the tape from generated code", origin
            )
        func = call.func
        args = list(call.args)
        if (
            isinstance(func, gast.Attribute)
            and isinstance(func.value, gast.Name)
            and func.value.id in self.ctx.active
        ):
            # x.method(...) with x active: the receiver is an input too, so the tape gets
            # it as the first argument of a function that calls the method.
            caller = self.ctx.bind_free("call_method", _fallback().call_method)
            args = [func.value, gast.Constant(func.attr, None), *args]
            func = load(caller)
            call = gast.Call(func=func, args=args, keywords=call.keywords)
        active_args = [
            i
            for i, a in enumerate(call.args)
            if isinstance(a, gast.Name) and a.id in self.ctx.active
        ]
        active_keywords = [
            k.arg
            for k in call.keywords
            if isinstance(k.value, gast.Name) and k.value.id in self.ctx.active
        ]
        helper = self.ctx.bind_free("tape_call", _fallback().tape_call)
        pullback = self.namer.new(f"{_stem(callee.name)}_pullback")
        self.ctx.local_names.add(pullback)
        wrt = gast.Tuple(
            elts=[gast.Constant(i, None) for i in active_args]
            + [gast.Constant(k, None) for k in active_keywords],
            ctx=gast.Load(),
        )
        forward = gast.Call(
            func=load(helper), args=[call.func, wrt, *call.args], keywords=call.keywords
        )
        primal_stmt = gast.Assign(
            targets=[gast.Tuple(elts=[copy.deepcopy(target), store(pullback)], ctx=gast.Store())],
            value=forward,
            type_comment=None,
        )
        anno.copy_from(primal_stmt, stmt)
        saved_push, saved_pop = [], []
        if self.loop_depth:
            self.maybe_unbound.add(pullback)
            push, pop = self.push_pop(pullback, origin)
            saved_push, saved_pop = [push], [pop]
        g = self.target_cotangent(target)
        operands = [call.args[i] for i in active_args] + [
            k.value for k in call.keywords if k.arg in active_keywords
        ]
        parts = [self.namer.new(f"d{a.id}_part") for a in operands]
        receiving = gast.Assign(
            targets=[gast.Tuple(elts=[store(p) for p in parts], ctx=gast.Store())],
            value=build.call(pullback, g),
            type_comment=None,
        )
        if isinstance(g, gast.Name):
            anno.set(receiving, anno.Key.LINEAR_IN, g.id)
        # As in user_call: reset the target before an argument that is the target gets its part.
        adjoint = [receiving, *saved_pop, *pops, *self.resets(changed_names(stmt))]
        for operand, part in zip(operands, parts):
            adjoint.extend(self.accumulate(operand.id, load(part), load(part)))
        primal = [*pushes, *saved_push, _tag(primal_stmt, PRIMAL)]
        return primal, [_tag(s, ADJOINT, origin) for s in adjoint]

    # -- other statements -----------------------------------------------------------------

    def stmt_Expr(self, stmt: gast.Expr) -> tuple[list, list]:
        if anno.get(stmt, anno.Key.CALLEE) is APPEND:
            return self.list_append(stmt)
        # Any other call for its side effects: its result is dropped, so is its gradient.
        return [_tag(stmt, PRIMAL)], []

    def stmt_With(self, stmt: gast.With) -> tuple[list, list]:
        body_p, body_a = self.block(stmt.body)
        primal = gast.With(items=stmt.items, body=body_p or [gast.Pass()], type_comment=None)
        anno.copy_from(primal, stmt, anno.Key.ORIGIN)
        return [_tag(primal, PRIMAL)], body_a

    def stmt_Pass(self, stmt: gast.Pass) -> tuple[list, list]:
        return [], []

    def stmt_Assert(self, stmt: gast.Assert) -> tuple[list, list]:
        return [_tag(stmt, PRIMAL)], []

    stmt_Raise = stmt_Assert

    def stmt_If(self, stmt: gast.If) -> tuple[list, list]:
        body_p, body_a = self.block(stmt.body)
        orelse_p, orelse_a = self.block(stmt.orelse)
        primal = gast.If(test=stmt.test, body=body_p or [gast.Pass()], orelse=orelse_p)
        anno.copy_from(primal, stmt, anno.Key.ORIGIN)
        _tag(primal, PRIMAL)
        if not body_a and not orelse_a:
            return [primal], []
        adjoint = gast.If(
            test=copy.deepcopy(stmt.test), body=body_a or [gast.Pass()], orelse=orelse_a
        )
        anno.copy_from(adjoint, stmt, anno.Key.ORIGIN)
        _tag(adjoint, ADJOINT)
        return [primal], [adjoint]

    def stmt_Break(self, stmt: gast.Break) -> tuple[list, list]:
        epilogue = self.loop_epilogues[-1] if self.loop_epilogues else []
        return [*copy.deepcopy(epilogue), _tag(stmt, PRIMAL)], []

    def stmt_For(self, stmt: gast.For) -> tuple[list, list]:
        origin = origin_of(stmt)
        target = stmt.target.id
        count = self.namer.new("iterations")
        before_push, before_pop = self.push_pop(target, origin)
        maybe, surely = self.bound_before.get(id(stmt), (set(), set()))
        if target not in surely:
            self.maybe_unbound.add(target)
        end_push, end_pop = self.push_pop(target, origin)
        self.loop_epilogues.append([end_push])
        self.loop_depth += 1
        body_p, body_a = self.block(stmt.body)
        self.loop_depth -= 1
        self.loop_epilogues.pop()
        loop = build.for_loop(stmt.target, stmt.iter, [*body_p, end_push])
        if target in self.ctx.active:
            # Each iteration binds the target to an item of a constant iterable (an active
            # one is indexed by desugar, ``item = value[index]``, whose adjoint takes it):
            # what the body's adjoint left in d<target> belongs to this item, not to the
            # next one replayed, nor to another loop's ``item`` (two loops over
            # ``(x, w)`` and ``(v, x)``, x not differentiated, sent the second's to w).
            body_a = [*body_a, self._zero(target)]
        count_id = self._new_id()
        trips = self._range_trips(stmt)
        replayed_range = self._replayed_range(stmt, trips, body_p)
        if replayed_range is not None:
            # A range loop whose body never rebinds its counter, over ints that hold
            # where its adjoint runs: the backward pass goes over the same range
            # backwards, binding the counter itself, instead of saving it every iteration.
            loop.body = body_p or [gast.Pass()]
            backward = build.for_loop(store(target), replayed_range, body_a or [gast.Pass()])
            anno.set(backward, anno.Key.ORIGIN, origin)
            anno.set(backward, anno.Key.STACK_ID, count_id)
            primal = [before_push, loop]
        elif trips is None:
            primal = [before_push, *self._counting(count, count_id, loop, origin)]
            backward = self._replay_loop([end_pop, *body_a], count_id, origin)
        else:
            # A range loop that always runs to the end: its trip count is the range's
            # length, known before it starts (a constant, or pushed once), not counted.
            if isinstance(trips, gast.Constant):
                primal = [before_push, loop]
                backward = self._replay_loop([end_pop, *body_a], count_id, origin, trips)
            else:
                push = _on_stack(
                    gast.Expr(value=build.call(self.push_name, trips)), count_id, origin
                )
                primal = [before_push, loop, push]  # after the loop's own pushes: popped first
                backward = self._replay_loop([end_pop, *body_a], count_id, origin)
        adjoint = [backward, before_pop]
        return [_tag(s, PRIMAL, origin) for s in primal], [
            _tag(s, ADJOINT, origin) for s in adjoint
        ]

    def _range_trips(self, stmt: gast.For) -> gast.expr | None:
        """``len(range(...))`` of a loop over ``range`` with no ``break``: a constant when
        the range's arguments are; None for any other loop."""
        call = stmt.iter
        if not (
            isinstance(call, gast.Call)
            and isinstance(call.func, gast.Name)
            and call.func.id == "range"
            and "range" not in self.ctx.local_names
            and self.ctx.parsed.globals.get("range", range) is range
            and not call.keywords
            and 1 <= len(call.args) <= 3
        ):
            return None
        if _breaks(stmt.body):
            return None
        written = {
            n.id
            for n in walk(gast.Module(body=stmt.body, type_ignores=[]))
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)
        }
        if any(isinstance(a, gast.Name) and a.id in written for a in call.args):
            return None  # the length is read after the loop: its arguments must not change
        if all(isinstance(a, gast.Constant) and type(a.value) is int for a in call.args):
            return gast.Constant(len(range(*(a.value for a in call.args))), None)
        length = build.call("len", copy.deepcopy(call))
        return length

    def _replayed_range(
        self, stmt: gast.For, trips: gast.expr | None, body: list[gast.stmt]
    ) -> gast.expr | None:
        """``reversed(range(...))`` over the values ``stmt``'s counter took, for a range
        loop that always runs to the end (``trips``) and never rebinds its counter, whose
        range's arguments are ints written in the code or names ``ranks`` proves hold
        ints: by the invariant above, those names hold what they held when the loop ran
        (the loop does not bind them) wherever its adjoint runs, and an int cannot change
        in place. None for any other loop."""
        target = stmt.target.id
        if trips is None or target in self.ctx.active:
            return None
        if any(target in changed_names(s) for s in statements(body, enter_definitions=False)):
            return None  # (a nested loop over the same name, an assignment to it)
        facts = getattr(self.ctx.shape_classes, "ranks", None) or {}
        if not all(
            ranks.is_int_index(a, facts) or self._unchanging_length(a) for a in stmt.iter.args
        ):
            return None
        return build.call("reversed", copy.deepcopy(stmt.iter))

    def _unchanging_length(self, node: gast.expr) -> bool:
        """Whether ``node`` is ``len(p)`` of a parameter the function never rebinds and
        nothing in it changes in place (``effects``): the same int wherever it is read,
        as ``for W in weights`` becomes ``for index in range(len(weights))``."""
        return (
            self.plain_statements
            and isinstance(node, gast.Call)
            and isinstance(node.func, gast.Name)
            and node.func.id == "len"
            and "len" not in self.ctx.local_names
            and self.ctx.parsed.globals.get("len", len) is len
            and len(node.args) == 1
            and not node.keywords
            and isinstance(node.args[0], gast.Name)
            and node.args[0].id in self.ctx.unchanged_params
            and self.bindings.get(node.args[0].id) == 1
        )

    def stmt_While(self, stmt: gast.While) -> tuple[list, list]:
        origin = origin_of(stmt)
        count = self.namer.new("iterations")
        self.loop_epilogues.append([])
        self.loop_depth += 1
        body_p, body_a = self.block(stmt.body)
        self.loop_depth -= 1
        self.loop_epilogues.pop()
        count_id = self._new_id()
        loop = gast.While(test=stmt.test, body=[_increment(count, count_id), *body_p], orelse=[])
        primal = self._counting(count, count_id, loop, origin)
        adjoint = [self._replay_loop(body_a, count_id, origin)]
        return [_tag(s, PRIMAL, origin) for s in primal], [
            _tag(s, ADJOINT, origin) for s in adjoint
        ]

    def _new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def _counting(
        self, count: str, count_id: int, loop: gast.stmt, origin: Origin | None
    ) -> list[gast.stmt]:
        """``count = 0``, the loop (counting its iterations), ``push(count)``: all dropped
        together with the replayed loop when the backward pass has nothing to replay."""
        if isinstance(loop, gast.For):  # stmt_While puts its increment in its body itself
            loop.body.insert(0, _increment(count, count_id))
        start = _on_stack(assign(count, gast.Constant(0, None)), count_id, origin)
        push = _on_stack(gast.Expr(value=build.call(self.push_name, load(count))), count_id, origin)
        return [start, loop, push]

    def _replay_loop(
        self,
        body: list[gast.stmt],
        count_id: int,
        origin: Origin | None,
        count: gast.expr | None = None,
    ) -> gast.For:
        if count is None:
            count = build.call(self.pop_name)
            anno.set(count, anno.Key.PART, "pop")
        trips = build.call("range", count)
        loop = build.for_loop(store(self.replay_variable), trips, body or [gast.Pass()])
        anno.set(loop, anno.Key.ORIGIN, origin)
        anno.set(loop, anno.Key.STACK_ID, count_id)
        return loop


def _breaks(stmts: list[gast.stmt]) -> bool:
    """Whether a ``break`` in ``stmts`` ends the loop they are the body of."""
    for stmt in stmts:
        if isinstance(stmt, gast.Break):
            return True
        if isinstance(stmt, (gast.If, gast.With)) and _breaks(
            stmt.body + getattr(stmt, "orelse", [])
        ):
            return True
    return False


def _increment(name: str, stack_id: int) -> gast.stmt:
    stmt = gast.AugAssign(target=store(name), op=gast.Add(), value=gast.Constant(1, None))
    anno.set(stmt, anno.Key.STACK_ID, stack_id)
    return stmt


def _on_stack(stmt: gast.stmt, stack_id: int, origin: Origin | None) -> gast.stmt:
    """``stmt`` as one of the statements of stack id ``stack_id``'s group (a loop's count:
    its start, its push, the replayed loop), removed together with it."""
    anno.set(stmt, anno.Key.STACK_ID, stack_id)
    anno.set(stmt, anno.Key.ORIGIN, origin)
    return stmt


def _tag(stmt: gast.stmt, part: str, origin: Origin | None = None) -> gast.stmt:
    anno.set(stmt, anno.Key.PART, part)
    if origin is not None and not anno.has(stmt, anno.Key.ORIGIN):
        anno.set(stmt, anno.Key.ORIGIN, origin)
    return stmt


def index_expression(index: gast.expr) -> gast.expr:
    """A subscript's index as an expression that can be passed around: ``1:3, 2`` becomes
    ``(slice(1, 3, None), 2)``."""
    if isinstance(index, gast.Slice):
        parts = [index.lower, index.upper, index.step]
        return gast.Call(
            func=load("slice"),
            args=[copy.deepcopy(p) if p is not None else gast.Constant(None, None) for p in parts],
            keywords=[],
        )
    if isinstance(index, gast.Tuple):
        return gast.Tuple(elts=[index_expression(e) for e in index.elts], ctx=gast.Load())
    return copy.deepcopy(index)


def _adjoints():
    from ..runtime import adjoints

    return adjoints


def _objects():
    from ..runtime import objects

    return objects


def _fallback():
    from ..runtime import fallback

    return fallback


def _shared():
    from ..runtime.rules import shared

    return shared


def _new_axes_only(index: gast.expr) -> bool:
    """Whether ``index`` is made of ``None``, ``...`` and whole slices ``:`` alone, with at
    least one ``None``: ``x[index]`` is then all of ``x`` with axes of size 1 added."""
    parts = index.elts if isinstance(index, gast.Tuple) else [index]
    new_axis = False
    for part in parts:
        if isinstance(part, gast.Constant) and part.value is None:
            new_axis = True
        elif isinstance(part, gast.Constant) and part.value is Ellipsis:
            continue
        elif not unit_axes.is_whole_slice(part):
            return False
    return new_axis


def _holds_ellipsis(index: gast.expr) -> bool:
    parts = index.elts if isinstance(index, gast.Tuple) else [index]
    return any(isinstance(p, gast.Constant) and p.value is Ellipsis for p in parts)


def _new_axes_read(g: gast.expr, index: gast.expr) -> gast.expr:
    """``g[:, 0]`` for the gradient ``g`` of ``x[:, None]`` (``index`` made of ``None`` and
    whole slices, ``_new_axes_only``): each new axis, of size 1, read at 0, which leaves
    ``x``'s axes, in order (those after the index's are kept whole)."""
    parts = index.elts if isinstance(index, gast.Tuple) else [index]
    read = [
        gast.Constant(0, None) if isinstance(p, gast.Constant) else copy.deepcopy(p) for p in parts
    ]
    while len(read) > 1 and isinstance(read[-1], gast.Slice):
        read.pop()  # (g[0, :] is g[0])
    where = read[0] if len(read) == 1 else gast.Tuple(elts=read, ctx=gast.Load())
    return gast.Subscript(value=copy.deepcopy(g), slice=where, ctx=gast.Load())


def _unbroadcast():
    from ..runtime.rules.shared import unbroadcast

    return unbroadcast


def _stem(name: str) -> str:
    return name.replace(".", "_").split("(")[0] or "call"


def _linear_prelude(prelude: list[gast.stmt], g: gast.expr) -> list[gast.stmt]:
    """An inlined rule's statements before its gradients, those computed from the
    cotangent ``g`` marked linear in it as the gradients are (a rule is linear in its
    cotangent): the zeros pass drops or guards them with the gradients."""
    if not isinstance(g, gast.Name):
        return list(prelude)
    derived = {g.id}
    for stmt in prelude:
        if isinstance(stmt, gast.Assign) and reads(stmt.value) & derived:
            anno.set(stmt, anno.Key.LINEAR_IN, g.id)
            derived |= target_names(stmt)
    return list(prelude)


def _mark_zero_parts(receiving: gast.Assign, parts: list[str], derivative: Any) -> None:
    """Tell the zeros pass which of a callee's adjoints its backward function returns as
    the int 0, or may (a parameter nothing flowed into: ``np.floor(a)``'s): a rule's
    helper given that 0 (``matmul_grad_left(0, x, y)``) would fail, so the statements
    computed from them are dropped or guarded as for any other zero."""
    kinds = getattr(derivative, "zero_adjoints", ())
    if len(kinds) != len(parts):
        # (not known: every part may be 0)
        kinds = ("maybe",) * len(parts)
    certain = tuple(p for p, kind in zip(parts, kinds) if kind == "zero")
    possible = tuple(p for p, kind in zip(parts, kinds) if kind == "maybe")
    if certain or possible:
        anno.set(receiving, anno.Key.ZERO_PARTS, (certain, possible))

"""normalize: lower a function to the core that later passes understand.

Guarantee. After this pass the function body holds only these statement forms, and every
*atom* below is a ``Name``, a ``Constant``, or an attribute chain rooted at a name that is
not local to the function (a module constant such as ``np.pi``):

* ``name = E`` and ``name1, name2, ... = atom`` (flat tuple unpacking), where ``E`` is
  - an atom,
  - ``atom <binop> atom`` or ``-atom`` / ``+atom``,
  - a call ``f(atom, *atom, key=atom, **atom)`` whose ``f`` is a name, a static attribute
    chain (``np.linalg.norm``) or ``atom.method``,
  - ``atom.attribute``, ``atom[index]`` where each part of ``index`` is an atom, a slice
    of atoms, ``None`` or ``...``,
  - a tuple, list or dict display of atoms,
  - an *opaque* expression: a comparison, ``and``/``or``/``not``, an f-string. These
    carry no gradient and are left whole; but an ``and``/``or`` whose value may be an
    operand that is not a bool (``y = ok and x * 2``), and any of them holding a walrus
    or a nested function's call, become statements evaluated in Python's order
    (``and`` evaluates its right side only when its left is true).
* ``name[index] = atom`` (assignment into an array, same index form as above);
* ``atom.method(...)`` as an expression statement (calls for their side effects);
* ``if atom: ... else: ...``, ``for name in atom: ...``, ``while True: ...`` whose body
  starts by testing its condition; ``break``; ``continue``;
* ``with C: ...`` with one item (``with a, b:`` nests), no ``break`` or ``continue`` of an
  enclosing loop in its block, and ``C`` one whose effect the transform knows:
  ``ag.no_grad``, ``ag.enable_grad``, ``ag.set_grad_enabled(constant)``, or
  ``np.errstate(...)`` / ``warnings.catch_warnings(...)`` of atoms (evaluated as
  written). Any other context manager is a TransformError. A block that turns recording
  back on directly inside a no_grad block comes out of it, so the statements left in
  no_grad blocks are exactly those that run with recording off;
* ``list.append(atom)`` as an expression statement;
* exactly one ``return atom``, the last statement (``desugar`` made it so).

Comprehensions and generator expressions become loops that append to a fresh list (or
set items of a fresh dict); a nested ``def`` or a lambda bound to a name (once) is
inlined where it is called, its locals renamed, its free names read from the enclosing
function there (when Python reads a closure's cells), its default values evaluated where
it is defined into fresh names, and the names it declares ``nonlocal`` left as the
enclosing function's (its writes are seen after the call).

A walrus is an assignment where Python makes it. Where a statement rebinds a name
part-way (a walrus, a nested function's ``nonlocal`` write), a read of that name before
the rebinding goes through a temporary (``n + (n := 2 * n)`` adds the old ``n``).

Augmented assignment is rewritten as plain assignment (``x += y`` → ``x = x + y``: the
array is not modified in place); conditional expressions become ``if`` statements; the
temporaries introduced are marked ``anno.Key.TEMPORARY`` so the optimizer can fold the
ones the gradient does not need back into their single use.
"""

from __future__ import annotations

import copy
import types
import warnings
from typing import Any

import gast
import numpy as np

from ..runtime.adjoints import add_at
from ..runtime.element_adjoints import add_scattered
from ..runtime.grad_mode import enable_grad, no_grad, set_grad_enabled
from . import anno, build, dataflow
from .context import TransformContext
from .errors import TAPE_ADVICE, TransformError
from .objects import (
    argument_method,
    attribute_chain,
    calls_a_field,
    chain_method,
    class_method,
    constructor,
    element_kind,
    element_method,
    field_setter,
    function_assigning,
    held_list,
    is_build,
    list_element,
    made_method,
    note_call,
    note_nested,
)
from .objects import put_backs as _put_backs
from .origin import Origin
from .origin import of as origin_of
from .resolve import _MISSING, METADATA_ATTRIBUTES, may_enable_grad, source_text, static_value
from .walk import walk

_BINOP_NAMES = {
    gast.Add: "add",
    gast.Sub: "sub",
    gast.Mult: "mul",
    gast.Div: "div",
    gast.FloorDiv: "floordiv",
    gast.Mod: "mod",
    gast.Pow: "power",
    gast.MatMult: "matmul",
    gast.BitAnd: "bitand",
    gast.BitOr: "bitor",
    gast.BitXor: "bitxor",
    gast.LShift: "lshift",
    gast.RShift: "rshift",
}
# Temporaries named after the function that made them, except where that name would read
# as a builtin.
_CALL_NAMES = {
    "sum": "total",
    "max": "largest",
    "min": "smallest",
    "abs": "absolute",
    "pow": "power",
    "sequence_length": "count",  # the helper desugar's index loops call
}


def is_opaque(node: gast.expr) -> bool:
    """Expressions that never carry a gradient and are kept whole."""
    return isinstance(node, (gast.Compare, gast.BoolOp, gast.JoinedStr)) or (
        isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.Not)
    )


def transform(node: gast.FunctionDef, ctx: TransformContext) -> gast.FunctionDef:
    return _Normalizer(ctx).run(node)


class _Normalizer:
    def __init__(self, ctx: TransformContext) -> None:
        self.ctx = ctx
        self.namer = ctx.namer
        self.locals = ctx.local_names
        self.block: list[gast.stmt] = []
        self.origin: Origin | None = None
        #: nested functions (defs and named lambdas), inlined where they are called
        self.nested: dict[str, gast.FunctionDef] = {}
        self.inlining: list[str] = []
        #: the qualified names of the methods, constructors and functions of the user's
        #: being inlined (None for a nested function), outermost first
        self.inlining_functions: list[str | None] = []
        #: names bound once, to an object made inline (make_object): name -> its class
        self.made: dict[str, type] = {}
        #: loop variables of ``for p in ps`` over an argument's list of objects whose
        #: attributes the body assigns: p -> (ps, the index name) (issue 17)
        self.elements: dict[str, tuple] = {}
        #: how many times each name is bound in the function (a nested function is
        #: inlined from its one definition)
        self.bindings: dict[str, int] = {}
        #: names that the statement being lowered rebinds part-way through (a walrus, a
        #: nested function's ``nonlocal`` write): a read of one before that must keep the
        #: value it had then
        self.rebinding: set[str] = set()
        #: whether recording is on where the statements being lowered run (False inside
        #: ``with ag.no_grad():``)
        self.grad_enabled = True

    # -- driver ---------------------------------------------------------------------

    def run(self, node: gast.FunctionDef) -> gast.FunctionDef:
        body = node.body
        if body and _is_docstring(body[0]):
            body = body[1:]
        self.tuple_lengths = _tuples_bound_once(node)
        self.bindings = _binding_counts(node)
        node.body = self.statements(body)
        self._check_nested_uses(node)
        return node

    def _check_nested_uses(self, node: gast.FunctionDef) -> None:
        called = {id(sub.func) for sub in walk(node) if isinstance(sub, gast.Call)}
        for sub in walk(node):
            if (
                isinstance(sub, gast.Name)
                and isinstance(sub.ctx, gast.Load)
                and sub.id in self.nested
            ):
                self.origin = origin_of(sub)
                if id(sub) in called:
                    raise self.fail(
                        f"the nested function {sub.id!r} is called before its definition "
                        "has run (an earlier iteration of a loop defines it), which the "
                        "transform does not inline"
                    )
                raise self.fail(
                    f"the nested function {sub.id!r} is used other than by calling it "
                    "(passed or returned as a value), which the transform does not support"
                )

    def statements(self, stmts: list[gast.stmt]) -> list[gast.stmt]:
        outer, self.block = self.block, []
        # A block's statements run after whatever expression encloses it was evaluated.
        outer_rebinding, self.rebinding = self.rebinding, set()
        for stmt in stmts:
            saved = self.origin
            self.origin = origin_of(stmt) or self.origin
            self.statement(stmt)
            self.origin = saved
        result, self.block = self.block, outer
        self.rebinding = outer_rebinding
        return result

    def emit(self, stmt: gast.stmt) -> gast.stmt:
        if self.origin is not None:
            for sub in walk(stmt):
                if not anno.has(sub, anno.Key.ORIGIN):
                    anno.set(sub, anno.Key.ORIGIN, self.origin)
        self.block.append(stmt)
        return stmt

    def fail(self, what: str, advice: str = TAPE_ADVICE) -> TransformError:
        return TransformError(what, self.origin, advice)

    # -- statements -----------------------------------------------------------------

    def statement(self, stmt: gast.stmt) -> None:
        method = getattr(self, f"stmt_{type(stmt).__name__}", None)
        if method is None:
            raise self.fail(
                f"the statement `{type(stmt).__name__.lower()}` is not supported by the "
                f"source transformation"
            )
        outer = self.rebinding
        self.rebinding = outer | self.rebound(_evaluated_first(stmt))
        try:
            method(stmt)
        finally:
            self.rebinding = outer

    def stmt_Pass(self, stmt: gast.Pass) -> None:
        pass

    def stmt_Expr(self, stmt: gast.Expr) -> None:
        if isinstance(stmt.value, gast.Constant):
            return  # a bare string or number does nothing
        value = stmt.value
        if isinstance(value, gast.Call):
            lowered = self.call(value)
            if not isinstance(lowered, (gast.Constant, gast.Name)):  # (an inlined body's result)
                self.emit(gast.Expr(value=lowered))
        else:
            self.atom(value)

    def stmt_Assert(self, stmt: gast.Assert) -> None:
        # Checks run in the forward pass only. A walrus in the test binds a name later
        # statements read, so the test is lowered then; the message is evaluated only
        # when the check fails, so it may not bind anything.
        if stmt.msg is not None and self.needs_lowering(stmt.msg):
            raise self.fail(
                "a walrus (:=) or a nested function's call in an assert's message is not "
                "supported by the source transformation"
            )
        if self.needs_lowering(stmt.test):
            stmt = gast.Assert(test=self.atom(stmt.test), msg=stmt.msg)
        self.emit(stmt)

    def stmt_Raise(self, stmt: gast.Raise) -> None:
        self.emit(stmt)

    def stmt_AnnAssign(self, stmt: gast.AnnAssign) -> None:
        if stmt.value is not None:
            self.assign(stmt.target, stmt.value)

    def stmt_Assign(self, stmt: gast.Assign) -> None:
        if len(stmt.targets) == 1:
            self.assign(stmt.targets[0], stmt.value)
            return
        value = self.atom(stmt.value)
        for target in stmt.targets:
            self.assign(target, value)

    def stmt_AugAssign(self, stmt: gast.AugAssign) -> None:
        target = stmt.target
        if isinstance(target, gast.Attribute):
            # (obj.x += v changes the array obj.x holds in place, which other names may hold)
            raise self.fail(
                "changing an attribute in place (obj.attr += ...) is not supported by the "
                "source transformation: on an array it changes the array itself, which "
                "another name or the caller may hold (write obj.attr = obj.attr + v where "
                "a new array is what you mean)"
            )
        if isinstance(target, gast.Subscript) and self.needs_lowering(target):
            # y[(i := i + 1)] += v evaluates the index once, for the read and the write.
            target = gast.Subscript(
                value=self.atom(target.value, keep=False),
                slice=self.index(target.slice),
                ctx=gast.Store(),
            )
        load = copy.deepcopy(target)
        _set_ctx(load, gast.Load())
        value = gast.BinOp(left=load, op=stmt.op, right=stmt.value)
        start = len(self.block)
        self.assign(target, value)
        made = self.block[start:]
        if made:
            anno.set(made[-1], anno.Key.IN_PLACE, True)
        if isinstance(target, gast.Subscript) and len(made) >= 2:
            # y[i] op= v changes the element y[i] in place before storing it back: mark
            # the operation with the container's name (the element may be an array that
            # other names hold, when y is a list or dict).
            operation, store = made[-2], made[-1]
            if (
                isinstance(operation, gast.Assign)
                and isinstance(operation.value, gast.BinOp)
                and isinstance(store.targets[0], gast.Subscript)
                and isinstance(store.targets[0].value, gast.Name)
            ):
                anno.set(operation, anno.Key.IN_PLACE, store.targets[0].value.id)

    def stmt_Return(self, stmt: gast.Return) -> None:
        value = stmt.value if stmt.value is not None else gast.Constant(None, None)
        self.emit(gast.Return(value=self.atom(value)))

    def stmt_If(self, stmt: gast.If) -> None:
        test = self.test(stmt.test)
        assigned = {
            n.id
            for s in stmt.body + stmt.orelse
            for n in walk(s)
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)
        }
        if isinstance(test, gast.Name) and test.id in assigned:
            # The backward pass replays the branch from the test's value: keep it apart.
            test = self.temporary(test, "cond")
        body = self.statements(stmt.body)
        orelse = self.statements(stmt.orelse)
        self.emit(gast.If(test=test, body=body or [gast.Pass()], orelse=orelse))

    # -- loops ----------------------------------------------------------------------------

    def stmt_For(self, stmt: gast.For) -> None:
        if stmt.orelse:
            raise self.fail("`for ... else` is not supported yet by the source transformation")
        if not isinstance(stmt.target, gast.Name):
            raise self.fail(
                "a `for` loop over several names (for a, b in ...) is not supported yet"
            )
        it = stmt.iter
        if (
            isinstance(it, gast.Call)
            and isinstance(it.func, gast.Name)
            and it.func.id == "range"
            and "range" not in self.locals
            and not it.keywords
            and not any(isinstance(a, gast.Starred) for a in it.args)
        ):
            # Kept in the loop header, so the reverse pass sees the trip count is the range's.
            iterable = gast.Call(func=it.func, args=[self.atom(a) for a in it.args], keywords=[])
        else:
            element = list_element(stmt, self.bindings, self.ctx)
            if element is not None:
                self.element_loop(stmt, element)
                return
            held = held_list(stmt, self.bindings, self.ctx)
            if held is not None:  # for layer in self.layers (issue 17)
                self.held_list_loop(stmt, *held)
                return
            iterable = self.atom(it)
        body = self.loop_body(stmt.body)
        loop = build.for_loop(stmt.target, iterable, body)
        self.emit(loop)

    def element_loop(
        self, stmt: gast.For, sequence: str, kind: tuple | None = None, ups: list = ()
    ) -> bool:
        """``for p in ps`` over an argument's list of objects (issue 17): when the body
        assigns attributes of ``p`` (``p.step(dt)``), a loop over indices whose each
        change of ``p`` is followed by ``ps[index] = p``, putting back the object it
        holds (nothing changes in Python), so that a later read of ``ps`` passes its
        gradient through the change; otherwise the loop as it is. ``ups``: the puts back
        that follow (``layers`` into ``m.layers``); whether any attribute of ``p`` was."""
        name = stmt.target.id
        index = self.new_local("index")
        self.elements[name] = (sequence, index, kind or element_kind(sequence, self.ctx), ups)
        put_backs = len(_put_backs(self.ctx))
        try:
            body = self.loop_body(stmt.body)
        finally:
            del self.elements[name]
        if len(_put_backs(self.ctx)) == put_backs:  # (no attribute of p assigned)
            self.emit(build.for_loop(stmt.target, build.load(sequence), body))
            return False
        read = gast.Subscript(value=build.load(sequence), slice=build.load(index), ctx=gast.Load())
        first = build.assign(name, read)
        _stamp_all(first, self.origin)
        length = build.call("range", build.call("len", build.load(sequence)))
        self.emit(build.for_loop(build.store(index), length, [first, *body]))
        return True

    def held_list_loop(self, stmt: gast.For, root: str, attrs: list[str], kind: tuple) -> None:
        """``for layer in m.layers`` over a list of objects an argument's object holds:
        ``m.layers`` read into a name, then ``element_loop`` over it, each put back of an
        item followed by the list's put back into ``m`` (``m = set_field(m, 'layers',
        m_layers)``: the same list), as ``nested_store`` puts back a chain."""
        names = [root]
        for attr in attrs:
            name = self.new_local(f"{names[-1]}_{attr}")
            self.emit(build.assign(name, build.attribute(names[-1], attr)))
            names.append(name)
        ups = list(reversed(list(zip(names, attrs, names[1:]))))
        if self.element_loop(stmt, names[-1], kind, ups):
            for parent, attr, child in zip(names, attrs, names[1:]):
                note_nested(self.ctx, child, parent, attr)
            note_nested(self.ctx, stmt.target.id, names[-1], "[]")

    def stmt_While(self, stmt: gast.While) -> None:
        if stmt.orelse:
            raise self.fail("`while ... else` is not supported yet by the source transformation")
        test = stmt.test
        if self.is_atom(test) or (is_opaque(test) and not self.needs_lowering(test)):
            body = self.loop_body(stmt.body)
            self.emit(gast.While(test=test, body=body, orelse=[]))
            return
        # The test needs statements of its own: evaluate it at the top of each iteration.
        exit_test = gast.If(
            test=gast.UnaryOp(op=gast.Not(), operand=test), body=[gast.Break()], orelse=[]
        )
        gast.copy_location(exit_test, stmt)
        anno.copy_from(exit_test, stmt)
        body = self.loop_body([exit_test, *stmt.body])
        self.emit(gast.While(test=gast.Constant(True, None), body=body, orelse=[]))

    # -- with -------------------------------------------------------------------------------
    #
    # A context manager may change what its block computes: contextlib.suppress skips the
    # rest of the block when an exception is raised, a user's may do anything. Only the
    # ones whose effect the transform knows are accepted: the grad-mode switches (no_grad
    # blocks carry no gradient) and np.errstate and warnings.catch_warnings, which change
    # only how warnings and floating-point errors are reported (the generated forward pass
    # runs the same block under them, so an error is raised there too).

    def stmt_With(self, stmt: gast.With) -> None:
        if len(stmt.items) > 1:
            # `with a, b:` is `with a: with b:` (entered in that order, left in reverse).
            inner = gast.With(items=stmt.items[1:], body=stmt.body, type_comment=None)
            _stamp_all(inner, self.origin)
            stmt = gast.With(items=stmt.items[:1], body=[inner], type_comment=None)
        item = stmt.items[0]
        if item.optional_vars is not None and not isinstance(item.optional_vars, gast.Name):
            raise self.fail("`with ... as (a, b)` is not supported by the source transformation")
        enables = self.grad_mode_of(item.context_expr)
        if enables is True and not self.grad_enabled:
            raise self.fail(
                "turning recording back on (ag.enable_grad or ag.set_grad_enabled(True)) "
                "inside a no_grad block is supported by the source transformation only "
                "directly in that block, not in a loop, branch or function called there"
            )
        if enables is False and self.grad_enabled:
            self.no_grad_block(stmt, item)
            return
        self.with_block(item, stmt.body, self.grad_enabled if enables is None else enables)

    def with_block(self, item: gast.withitem, body: list[gast.stmt], enabled: bool) -> None:
        outer, self.grad_enabled = self.grad_enabled, enabled
        try:
            lowered = self.statements(body) or [gast.Pass()]
        finally:
            self.grad_enabled = outer
        jump = _first_jump(lowered)
        if jump is not None:
            self.origin = origin_of(jump) or self.origin
            raise self.fail(
                "`break` or `continue` (or a `return` in a loop) inside a `with` block is "
                "not supported by the source transformation"
            )
        items = [gast.withitem(context_expr=item.context_expr, optional_vars=item.optional_vars)]
        self.emit(gast.With(items=items, body=lowered, type_comment=None))

    def no_grad_block(self, stmt: gast.With, item: gast.withitem) -> None:
        """``with ag.no_grad():`` whose block may hold ``with ag.enable_grad():`` blocks:
        those come out of it, between no_grad blocks holding the statements before and
        after them. Recording is on in them either way, and analyze sees that only the
        statements left in no_grad blocks carry no gradient."""
        run: list[gast.stmt] = []
        for child in stmt.body:
            if isinstance(child, gast.With) and self.grad_mode_of(child.items[0].context_expr):
                if run:
                    self.with_block(item, run, False)
                    run = []
                saved = self.origin
                self.origin = origin_of(child) or self.origin
                self.statement(child)
                self.origin = saved
            else:
                run.append(child)
        if run:
            self.with_block(item, run, False)

    def grad_mode_of(self, context: gast.expr) -> bool | None:
        """What a ``with`` item does to recording: True turns it on, False off, None leaves
        it (a harmless context manager). Raises for any other context manager."""
        call = context if isinstance(context, gast.Call) else None
        function = call.func if call is not None else context
        value = static_value(function, self.ctx) if self.is_atom(function) else _MISSING
        arguments = [] if call is None else [*call.args, *(k.value for k in call.keywords)]
        spelled = source_text(function)
        if value is no_grad or value is enable_grad:
            if arguments:
                raise self.fail(f"`with {spelled}(...)` takes no arguments")
            return value is enable_grad
        if value is set_grad_enabled:
            # (positional only: analyze reads the flag there)
            flag = call.args[0] if call is not None and len(call.args) == 1 else None
            if not isinstance(flag, gast.Constant) or call.keywords:
                raise self.fail(
                    f"`with {spelled}(flag)` with a flag that is not a constant (True or "
                    "False): the transform must know where recording is off to know which "
                    "statements carry a gradient"
                )
            return bool(flag.value)
        if any(value is known for known in _HARMLESS_CONTEXTS) and call is not None:
            if not all(self.is_atom(a) and not self.needs_lowering(a) for a in arguments):
                raise self.fail(
                    f"the arguments of `with {spelled}(...)` must be names or constants for "
                    "the source transformation"
                )
            return None
        raise self.fail(
            f"`with {spelled}`: the transform does not know what this context manager does "
            "(it may skip the rest of its block on an exception, as contextlib.suppress "
            "does, or change values); only ag.no_grad, ag.enable_grad, "
            "ag.set_grad_enabled with a constant, np.errstate and warnings.catch_warnings are "
            "accepted"
        )

    # -- nested functions and scopes ---------------------------------------------------------

    def stmt_FunctionDef(self, stmt: gast.FunctionDef) -> None:
        if stmt.decorator_list:
            raise self.fail(
                f"the nested function {stmt.name!r} has decorators, "
                "which the transform does not support"
            )
        if stmt.args.vararg is not None or stmt.args.kwarg is not None:
            raise self.fail(
                f"the nested function {stmt.name!r} takes *args or **kwargs, "
                "which the transform does not inline"
            )
        self.define(stmt)

    def define(self, definition: gast.FunctionDef) -> None:
        """Remember a nested function (a def or a lambda given a name) to inline where it
        is called. Its default values are evaluated here, where Python evaluates them, into
        fresh names: ``a=a`` keeps the value ``a`` has now, whatever ``a`` is when called."""
        name = definition.name
        if self.bindings.get(name, 0) > 1:
            raise self.fail(
                f"the nested function {name!r} is bound more than once in the function "
                "(defined again, or its name assigned); the transform inlines a nested "
                "function from its one definition"
            )
        args = definition.args
        params = args.posonlyargs + args.args
        with_defaults = params[len(params) - len(args.defaults) :]
        args.defaults = [
            self.default_value(name, param.id, value)
            for param, value in zip(with_defaults, args.defaults)
        ]
        args.kw_defaults = [
            None if value is None else self.default_value(name, param.id, value)
            for param, value in zip(args.kwonlyargs, args.kw_defaults)
        ]
        self.nested[name] = definition

    def default_value(self, function: str, param: str, value: gast.expr) -> gast.expr:
        if isinstance(value, gast.Constant):
            return value
        name = self.new_local(f"{function}_{param}_default")
        self.assign(build.store(name), value)
        return build.load(name)

    def stmt_Nonlocal(self, stmt: gast.Nonlocal) -> None:
        if self.inlining:
            return  # inline_nested left these names as the enclosing function's
        raise self.fail(
            f"the statement `nonlocal` ({', '.join(stmt.names)}) makes the function write a "
            "variable of the function that encloses it (a closure cell), which the source "
            "transformation does not support"
        )

    def stmt_Break(self, stmt: gast.Break) -> None:
        self.emit(gast.Break())

    def stmt_Continue(self, stmt: gast.Continue) -> None:
        self.emit(gast.Continue())

    def loop_body(self, stmts: list[gast.stmt]) -> list[gast.stmt]:
        """The normalized body, with ``continue`` gone and every ``break`` last on its path."""
        flags: list[str] = []
        body = _structure_jumps(self.statements(stmts), self, flags)
        body = _drop_trailing_continue(body)
        if flags:
            clear = build.assign(flags[0], gast.Constant(False, None))
            anno.set(clear, anno.Key.ORIGIN, self.origin)
            body = [clear, *body]
        return body or [gast.Pass()]

    # -- assignment -----------------------------------------------------------------

    def assign(self, target: gast.expr, value: gast.expr) -> None:
        if isinstance(target, gast.Name) and isinstance(value, gast.Lambda):
            definition = gast.FunctionDef(
                name=target.id, args=value.args, body=[gast.Return(value=value.body)],
                decorator_list=[], returns=None, type_comment=None, type_params=[],
            )  # fmt: skip
            anno.set(definition.body[0], anno.Key.ORIGIN, self.origin)
            self.define(definition)
            return
        if isinstance(target, gast.Name):
            lowered = self.simple(value, target.id)
            if self.bindings.get(target.id) == 1:
                self.note_made(target.id, lowered)
            self.emit(build.assign(target.id, lowered))
        elif isinstance(target, (gast.Tuple, gast.List)):
            self.unpack(target, value)
        elif isinstance(target, gast.Subscript):
            # Python evaluates the value before the target's parts (x[i] = (i := 2)
            # stores at the new i). The array is written, not read: no copy of it.
            stored = self.atom(value)
            array = self.atom(target.value, keep=False)
            if not isinstance(array, gast.Name):
                raise self.fail("assignment into a subscript of an expression is not supported")
            index = self.index(target.slice)
            store = gast.Subscript(value=array, slice=index, ctx=gast.Store())
            self.emit(gast.Assign(targets=[store], value=stored, type_comment=None))
        elif isinstance(target, gast.Attribute) and isinstance(target.value, gast.Name):
            # obj.attr = v as obj = set_field(obj, 'attr', v); analyze accepts it only for
            # an object the function made itself (objects.check_field_stores)
            stored = self.atom(value)
            setter = build.load(self.ctx.bind_free("set_field", field_setter()))
            call = gast.Call(
                func=setter,
                args=[build.load(target.value.id), gast.Constant(target.attr, None), stored],
                keywords=[],
            )
            self.emit(build.assign(target.value.id, call))
            if target.value.id in self.elements:  # p.x = v on an item of ps: put back
                sequence, index, _, ups = self.elements[target.value.id]
                store = gast.Subscript(
                    value=build.load(sequence), slice=build.load(index), ctx=gast.Store()
                )
                put_back = gast.Assign(
                    targets=[store], value=build.load(target.value.id), type_comment=None
                )
                self.emit(put_back)
                _put_backs(self.ctx).add((target.value.id, sequence, index))
                for parent, attr, child in ups:  # (m = set_field(m, 'layers', m_layers))
                    args = [build.load(parent), gast.Constant(attr, None), build.load(child)]
                    self.emit(build.assign(parent, gast.Call(func=setter, args=args, keywords=[])))
        elif isinstance(target, gast.Attribute) and attribute_chain(target.value):
            self.nested_store(target, self.atom(value))
        elif isinstance(target, gast.Attribute):
            raise self.fail(
                "assigning to an attribute (obj.attr = ...) is not supported by the source "
                "transformation"
            )
        else:
            raise self.fail(f"cannot assign to {type(target).__name__}")

    def nested_store(self, target: gast.Attribute, stored: gast.expr) -> None:
        """``h.inner.x = v`` (issue 17): each object of the chain read into a name, the last
        changed (``set_field``), then each put back where it was read from, the same object
        (nothing changes in Python), so that the adjoint of a later read through the chain
        reaches ``v``; ``objects.check_field_stores`` accepts it only where every object of
        the chain is an argument's (or one made inside) of a class that sets it plainly.
        An item of a list on the way (``model.layers[i].W = v``) is read at an index held
        in a name of its own and put back there (``model_layers[index] = layer``)."""
        setter = self.ctx.bind_free("set_field", field_setter())
        steps: list[gast.expr] = []
        node = target.value
        while isinstance(node, (gast.Attribute, gast.Subscript)):
            steps.append(node)
            node = node.value
        steps.reverse()
        names = [node.id]
        puts: list[tuple[str, str | None, str, str | None]] = []  # parent, attr, child, index
        for step in steps:
            parent = names[-1]
            if isinstance(step, gast.Attribute):
                name = self.new_local(f"{parent}_{step.attr}")
                self.emit(build.assign(name, build.attribute(parent, step.attr)))
                note_nested(self.ctx, name, parent, step.attr)
                puts.append((parent, step.attr, name, None))
            else:
                if isinstance(step.slice, gast.Slice):
                    raise self.fail("assigning to an attribute of a slice is not supported")
                index = self.new_local("index")
                self.emit(build.assign(index, self.atom(step.slice)))
                name = self.new_local(f"{parent}_item")
                read = gast.Subscript(
                    value=build.load(parent), slice=build.load(index), ctx=gast.Load()
                )
                self.emit(build.assign(name, read))
                note_nested(self.ctx, name, parent, "[]")
                puts.append((parent, None, name, index))
            names.append(name)
        call = build.call(setter, build.load(names[-1]), gast.Constant(target.attr, None), stored)
        self.emit(build.assign(names[-1], call))
        for parent, attr, child, index in reversed(puts):  # (put back)
            if attr is not None:
                value = build.load(child)
                call = build.call(setter, build.load(parent), gast.Constant(attr, None), value)
                self.emit(build.assign(parent, call))
                continue
            store = gast.Subscript(
                value=build.load(parent), slice=build.load(index), ctx=gast.Store()
            )
            self.emit(gast.Assign(targets=[store], value=build.load(child), type_comment=None))
            _put_backs(self.ctx).add((child, parent, index))

    def unpack(self, target: gast.Tuple | gast.List, value: gast.expr) -> None:
        if any(isinstance(e, gast.Starred) for e in target.elts):
            value = self._starred_source(target, value)
            target = self._without_star(target, len(value.elts))
        if isinstance(value, (gast.Tuple, gast.List)) and len(value.elts) == len(target.elts):
            # a, b = b, a: evaluate every value before assigning any name.
            values = [self.atom(v) for v in value.elts]
            values = [self._snapshot(v, target) for v in values]
            for element, element_value in zip(target.elts, values):
                self.assign(element, element_value)
            return
        source = self.atom(value)
        names = []
        nested = []
        for element in target.elts:
            if isinstance(element, gast.Name):
                names.append(element.id)
            else:
                name = self.new_local("part")
                names.append(name)
                nested.append((element, name))
        tuple_target = gast.Tuple(
            elts=[build.store(n) for n in names],
            ctx=gast.Store(),
        )
        self.emit(gast.Assign(targets=[tuple_target], value=source, type_comment=None))
        for element, name in nested:
            self.assign(element, build.load(name))

    def _starred_source(self, target: gast.Tuple | gast.List, value: gast.expr) -> gast.Tuple:
        """The values of ``a, *rest = value`` when their number is known statically."""
        elements = self._known_elements(value)
        if elements is None or len(elements) < len(target.elts) - 1:
            raise self.fail(
                "starred assignment targets (a, *rest = ...) are supported only when the "
                "value is a tuple or list display, or a name bound once to a tuple display"
            )
        star = next(i for i, e in enumerate(target.elts) if isinstance(e, gast.Starred))
        after = len(target.elts) - star - 1
        middle = elements[star : len(elements) - after]
        grouped = [
            *elements[:star],
            gast.List(elts=middle, ctx=gast.Load()),
            *elements[len(elements) - after :],
        ]
        return gast.Tuple(elts=grouped, ctx=gast.Load())

    @staticmethod
    def _without_star(target: gast.Tuple | gast.List, count: int) -> gast.Tuple:
        elts = [e.value if isinstance(e, gast.Starred) else e for e in target.elts]
        return gast.Tuple(elts=elts, ctx=gast.Store())

    def _known_elements(self, value: gast.expr) -> list[gast.expr] | None:
        """The elements of a display, or of a name bound once to a tuple display."""
        if isinstance(value, (gast.Tuple, gast.List)) and not any(
            isinstance(e, gast.Starred) for e in value.elts
        ):
            return list(value.elts)
        if isinstance(value, gast.Name) and value.id in self.tuple_lengths:
            return [
                gast.Subscript(
                    value=build.load(value.id), slice=gast.Constant(i, None), ctx=gast.Load()
                )
                for i in range(self.tuple_lengths[value.id])
            ]
        return None

    def _snapshot(self, value: gast.expr, target: gast.expr) -> gast.expr:
        """Copy a value into a temporary when the targets would overwrite it first."""
        written = {n.id for n in walk(target) if isinstance(n, gast.Name)}
        if isinstance(value, gast.Name) and value.id in written:
            return self.temporary(value, "previous")
        return value

    # -- expressions ----------------------------------------------------------------

    def new_local(self, base: str) -> str:
        name = self.namer.new(base)
        self.locals.add(name)
        return name

    def temporary(self, value: gast.expr, base: str) -> gast.Name:
        name = self.new_local(base)
        self.note_made(name, value)
        stmt = self.emit(build.assign(name, value))
        anno.set(stmt, anno.Key.TEMPORARY, True)
        return build.load(name)

    def atom(self, node: gast.expr, keep: bool = True) -> gast.expr:
        """Evaluate ``node`` into an atom, emitting statements for its parts.

        With ``keep``, a name the statement rebinds further on (``n + (n := 2 * n)``) is
        read into a temporary: Python reads its value here, before the rebinding."""
        if self.is_atom(node):
            result = node
        else:
            result = self.simple(node)
            if not isinstance(result, gast.Name):  # (a name: a conditional expression's)
                return self.temporary(result, _base_name(node))
        if keep and isinstance(result, gast.Name) and result.id in self.rebinding:
            return self.temporary(result, f"{result.id}_read")
        return result

    def test(self, node: gast.expr) -> gast.expr:
        """A condition as an atom. ``a and b`` stays whole here (only its truth is used)
        unless a part of it binds a name."""
        if is_opaque(node) and not self.needs_lowering(node):
            return self.temporary(node, "cond")
        return self.atom(node)

    def needs_lowering(self, node: gast.expr) -> bool:
        """Whether ``node`` kept whole would hide a binding from the later passes: a walrus
        (``:=``) or a call of a nested function (inlined, its statements brought out)."""
        return any(
            isinstance(sub, gast.NamedExpr)
            or (
                isinstance(sub, gast.Call)
                and isinstance(sub.func, gast.Name)
                and sub.func.id in self.nested
            )
            for sub in walk(node)
        )

    def rebound(self, nodes: list[gast.AST]) -> set[str]:
        """The names that evaluating ``nodes`` binds as it goes: walrus targets, and the
        names the nested functions it calls write with ``nonlocal``."""
        names: set[str] = set()
        for node in nodes:
            for sub in walk(node):
                if isinstance(sub, gast.NamedExpr) and isinstance(sub.target, gast.Name):
                    names.add(sub.target.id)
                elif isinstance(sub, gast.Call) and isinstance(sub.func, gast.Name):
                    names |= self.writes(sub.func.id, set())
        return names

    def writes(self, name: str, seen: set[str]) -> set[str]:
        """The names a call of the nested function ``name`` may write in the function
        that calls it: those it (or a function nested in it, or a nested function it
        calls) declares ``nonlocal``. More than it writes costs only a temporary."""
        definition = self.nested.get(name)
        if definition is None or name in seen:
            return set()
        seen.add(name)
        found: set[str] = set()
        for sub in walk(gast.Module(body=definition.body, type_ignores=[])):
            if isinstance(sub, gast.Nonlocal):
                found.update(sub.names)
            elif isinstance(sub, gast.Call) and isinstance(sub.func, gast.Name):
                found |= self.writes(sub.func.id, seen)
        return found

    def is_atom(self, node: gast.expr) -> bool:
        if isinstance(node, gast.Constant):
            return True
        if (
            isinstance(node, gast.UnaryOp)
            and isinstance(node.op, gast.USub)
            and isinstance(node.operand, gast.Constant)
        ):
            return isinstance(node.operand.value, (int, float, complex)) and not isinstance(
                node.operand.value, bool
            )
        if isinstance(node, gast.Name):
            return True
        if isinstance(node, gast.Attribute):
            root = node
            while isinstance(root, gast.Attribute):
                root = root.value
            return isinstance(root, gast.Name) and root.id not in self.locals
        return False

    def simple(self, node: gast.expr, target: str | None = None) -> gast.expr:
        """``node`` with atoms for children (one operation), emitting what that needs."""
        if self.is_atom(node):
            return node
        if is_opaque(node):
            if isinstance(node, gast.BoolOp) and not _is_boolean(node):
                return self.either(node)  # its value may be an operand that has a gradient
            if not self.needs_lowering(node):
                return node
            return self.opaque(node)
        method = getattr(self, f"expr_{type(node).__name__}", None)
        if method is None:
            raise self.fail(
                f"the expression `{type(node).__name__}` is not supported by the source "
                f"transformation"
            )
        return method(node)

    def either(self, node: gast.BoolOp) -> gast.Name:
        """``a and b`` as Python runs it: ``b`` is evaluated only when ``a`` is true, and the
        value is the last operand evaluated (``chosen = a; if chosen: chosen = b``)."""
        result = self.new_local("chosen")
        self.assign(build.store(result), node.values[0])
        rest = node.values[1:]
        later = rest[0] if len(rest) == 1 else gast.BoolOp(op=node.op, values=rest)
        test = build.load(result)
        if isinstance(node.op, gast.Or):
            test = gast.UnaryOp(op=gast.Not(), operand=test)
        branch = gast.If(test=test, body=[build.assign(result, later)], orelse=[])
        _stamp_all(branch, self.origin)
        self.statement(branch)
        return build.load(result)

    def opaque(self, node: gast.expr) -> gast.expr:
        """A comparison, ``not`` or ``and``/``or`` that binds a name (a walrus, a nested
        function's call): its parts are evaluated by statements, in Python's order."""
        if isinstance(node, gast.BoolOp):
            return self.either(node)
        if isinstance(node, gast.UnaryOp):
            return gast.UnaryOp(op=node.op, operand=self.atom(node.operand))
        if isinstance(node, gast.Compare):
            left = self.atom(node.left)
            right = self.atom(node.comparators[0])
            first = gast.Compare(left=left, ops=node.ops[:1], comparators=[right])
            if len(node.ops) == 1:
                return first
            # a < b < c: c is evaluated only when a < b holds, b only once.
            result = self.new_local("cond")
            self.emit(build.assign(result, first))
            rest = gast.Compare(left=right, ops=node.ops[1:], comparators=node.comparators[1:])
            branch = gast.If(test=build.load(result), body=[build.assign(result, rest)], orelse=[])
            _stamp_all(branch, self.origin)
            self.statement(branch)
            return build.load(result)
        raise self.fail(
            "a walrus (:=) or a nested function's call inside an f-string is not supported "
            "by the source transformation"
        )

    def expr_BinOp(self, node: gast.BinOp) -> gast.expr:
        return gast.BinOp(left=self.atom(node.left), op=node.op, right=self.atom(node.right))

    def expr_UnaryOp(self, node: gast.UnaryOp) -> gast.expr:
        return gast.UnaryOp(op=node.op, operand=self.atom(node.operand))

    def expr_Call(self, node: gast.Call) -> gast.expr:
        return self.call(node)

    def _ufunc_outer(self, node: gast.Call) -> gast.Call | None:
        """``np.multiply.outer(a, b)`` as ``np.multiply(np.reshape(a, np.shape(a) + (1,) *
        np.ndim(b)), b)``: the same elements (``a``'s axes, then ``b``'s, by broadcasting),
        through the ufunc's own rule and a reshape's, where a ufunc's method has none. For
        a ufunc of two operands called with two arguments and no keywords; ``a`` and ``b``
        are evaluated once, in order, as the call would."""
        func = node.func
        if not (
            isinstance(func, gast.Attribute)
            and func.attr == "outer"
            and len(node.args) == 2
            and not node.keywords
            and not any(isinstance(arg, gast.Starred) for arg in node.args)
        ):
            return None
        ufunc = static_value(func.value, self.ctx)
        if not (isinstance(ufunc, np.ufunc) and ufunc.nin == 2 and ufunc.nout == 1):
            return None
        first, second = self.atom(node.args[0]), self.atom(node.args[1])
        numpy = self.ctx.bind_free("np", np)

        def numpy_call(name: str, *args: gast.expr) -> gast.Call:
            function = gast.Attribute(value=build.load(numpy), attr=name, ctx=gast.Load())
            return gast.Call(func=function, args=list(args), keywords=[])

        ones = gast.BinOp(
            left=gast.Tuple(elts=[gast.Constant(1, None)], ctx=gast.Load()),
            op=gast.Mult(),
            right=numpy_call("ndim", copy.deepcopy(second)),
        )
        shape = gast.BinOp(
            left=numpy_call("shape", copy.deepcopy(first)), op=gast.Add(), right=ones
        )
        reshaped = numpy_call("reshape", first, shape)
        return gast.Call(func=func.value, args=[reshaped, second], keywords=[])

    def note_made(self, name: str, value: gast.expr) -> None:
        """Remember that ``name`` (bound once) holds an object made inline, of that class."""
        if isinstance(value, gast.Name) and value.id in self.made:
            self.made[name] = self.made[value.id]
        elif is_build(value, self.ctx):
            self.made[name] = static_value(value.args[0], self.ctx)

    def _add_at_for_add_scattered(self, node: gast.Call) -> None:
        """A call of ``add_scattered`` (generated gradient code, differentiated again) as
        ``add_at``'s, whose value it computes: it adds into its argument's array in place,
        which ``adds_in_place`` proved safe for the code it wrote, but which no pass here
        would see (a value saved for this backward pass may be that array)."""
        func = node.func
        if isinstance(func, gast.Name) and static_value(func, self.ctx) is add_scattered:
            node.func = build.load(self.ctx.bind_free("add_at", add_at))

    def call(self, node: gast.Call) -> gast.expr:
        outer = self._ufunc_outer(node)
        if outer is not None:
            node = outer
        self._add_at_for_add_scattered(node)
        func = node.func
        if isinstance(func, gast.Name) and func.id in self.nested:
            return self.inline_nested(func.id, node)
        method = (
            made_method(func, self.made, self.ctx)
            or argument_method(func, self.bindings, self.ctx)  # (p.step(dt): issue 17)
            or chain_method(func, self.bindings, self.ctx)  # (h.spring.step(dt))
            or element_method(func, self.elements, self.ctx)  # (p.step(dt), p in ps)
            or class_method(func, self.ctx)  # (Layer.make(w), a classmethod)
        )
        if method is not None:  # obj.update(g) on an object made inline: its body, inline
            note_call(self.ctx, f"{source_text(func)}(...)", self.origin, *method.resolved)
            key = method.name = self.namer.new(func.attr.strip("_") or "method")
            self.nested[key] = method
            try:
                return self.inline_nested(
                    key, gast.Call(func=func, args=node.args, keywords=node.keywords)
                )
            finally:
                del self.nested[key]
        assigning = function_assigning(node, self.made, self.bindings, self.ctx)
        if assigning is not None:  # advance(p, dt) assigning p's attributes (issue 17)
            method, node = assigning
            note_call(self.ctx, f"{source_text(func)}(...)", self.origin, *method.resolved)
            key = method.name = self.namer.new(source_text(func).split(".")[-1])
            self.nested[key] = method
            try:
                return self.inline_nested(key, node)
            finally:
                del self.nested[key]
        made = constructor(func, self.ctx) if self.is_atom(func) else None
        if made is not None:  # Layer(W, b): its __init__'s body, then make_object (issue 17)
            note_call(self.ctx, f"{source_text(func)}(...)", self.origin, *made.resolved)
            key = made.name = self.namer.new(source_text(func).split(".")[-1].lower())
            self.nested[key] = made
            try:
                return self.inline_nested(key, node)
            finally:
                del self.nested[key]
        self.check_grad_mode(func)
        if (
            isinstance(func, gast.Name)
            and func.id in _CONSUMERS
            and func.id not in self.locals
            and len(node.args) == 1
            and isinstance(node.args[0], gast.GeneratorExp)
        ):
            # sum(v * v for v in x): the generator becomes a list built by a loop
            node = gast.Call(
                func=func, args=[self.comprehension(node.args[0], "list")], keywords=node.keywords
            )
        node = self._spread_starred(node)
        if (
            isinstance(func, gast.Name)
            and func.id in ("max", "min")
            and func.id not in self.locals
            and len(node.args) > 1
            and not node.keywords
        ):
            # max(a, b) is max((a, b)): one form for the rule to bind (a tuple, which
            # nothing can change in place, and which compiled code can save)
            node = gast.Call(
                func=func, args=[gast.Tuple(elts=node.args, ctx=gast.Load())], keywords=[]
            )
        if calls_a_field(func, self.ctx):
            func = self.atom(func)  # self.second(x): an object held by an argument (issue 17)
        elif isinstance(func, gast.Attribute) and not self.is_atom(func):
            # (the receiver itself, not a copy: its method may change it, xs.append(v))
            func = gast.Attribute(
                value=self.atom(func.value, keep=False), attr=func.attr, ctx=gast.Load()
            )
        elif not self.is_atom(func):
            func = self.atom(func)
        args = [
            gast.Starred(value=self.atom(a.value), ctx=gast.Load())
            if isinstance(a, gast.Starred)
            else self.atom(a)
            for a in node.args
        ]
        keywords = [gast.keyword(arg=k.arg, value=self.atom(k.value)) for k in node.keywords]
        return gast.Call(func=func, args=args, keywords=keywords)

    def check_grad_mode(self, func: gast.expr) -> None:
        """Refuse calls that change recording in a way the analysis cannot follow."""
        if not self.is_atom(func):
            return
        value = static_value(func, self.ctx)
        if value is _MISSING:
            return
        if value is set_grad_enabled:
            raise self.fail(
                f"{source_text(func)}(...) outside a `with` header switches recording for "
                "the rest of the program, which the source transformation does not follow; "
                f"use `with {source_text(func)}(False):`"
            )
        if not self.grad_enabled and may_enable_grad(value):
            raise self.fail(
                f"{source_text(func)} may turn recording back on (ag.enable_grad or "
                "ag.set_grad_enabled) while it runs inside this no_grad block, so its "
                "result could carry a gradient; the source transformation does not follow "
                "that"
            )

    def _spread_starred(self, node: gast.Call) -> gast.Call:
        """``f(*(a, b))`` and ``f(*pair)`` (``pair`` bound once to a tuple display) become
        ``f(a, b)`` and ``f(pair[0], pair[1])``, so rules bind their arguments statically."""
        args: list[gast.expr] = []
        for arg in node.args:
            elements = self._known_elements(arg.value) if isinstance(arg, gast.Starred) else None
            if isinstance(arg, gast.Starred) and elements is not None:
                args.extend(elements)
            else:
                args.append(arg)
        return gast.Call(func=node.func, args=args, keywords=node.keywords)

    def expr_Attribute(self, node: gast.Attribute) -> gast.expr:
        return gast.Attribute(value=self.atom(node.value), attr=node.attr, ctx=gast.Load())

    def expr_Subscript(self, node: gast.Subscript) -> gast.expr:
        return gast.Subscript(
            value=self.atom(node.value), slice=self.index(node.slice), ctx=gast.Load()
        )

    def index(self, node: gast.expr) -> gast.expr:
        if isinstance(node, gast.Slice):
            return gast.Slice(
                lower=None if node.lower is None else self.atom(node.lower),
                upper=None if node.upper is None else self.atom(node.upper),
                step=None if node.step is None else self.atom(node.step),
            )
        if isinstance(node, gast.Tuple):
            return gast.Tuple(elts=[self.index(e) for e in node.elts], ctx=gast.Load())
        if self._is_newaxis(node):
            # ``np.newaxis`` is None: written so, the passes that read new axes see one
            return gast.Constant(None, None)
        return self.atom(node)

    def _is_newaxis(self, node: gast.expr) -> bool:
        """``np.newaxis`` (``cupy.newaxis``): the attribute of a module global, not
        rebound in the function, that holds None."""
        if not (
            isinstance(node, gast.Attribute)
            and node.attr == "newaxis"
            and isinstance(node.value, gast.Name)
            and node.value.id not in self.ctx.local_names
        ):
            return False
        module = self.ctx.parsed.globals.get(node.value.id)
        return isinstance(module, types.ModuleType) and getattr(module, "newaxis", 0) is None

    def expr_Tuple(self, node: gast.Tuple) -> gast.expr:
        return gast.Tuple(elts=self._elements(node.elts), ctx=gast.Load())

    def expr_List(self, node: gast.List) -> gast.expr:
        return gast.List(elts=self._elements(node.elts), ctx=gast.Load())

    def _elements(self, elts: list[gast.expr]) -> list[gast.expr]:
        return [
            gast.Starred(value=self.atom(e.value), ctx=gast.Load())
            if isinstance(e, gast.Starred)
            else self.atom(e)
            for e in elts
        ]

    def expr_Dict(self, node: gast.Dict) -> gast.expr:
        keys = [None if k is None else self.atom(k) for k in node.keys]
        return gast.Dict(keys=keys, values=[self.atom(v) for v in node.values])

    def expr_IfExp(self, node: gast.IfExp) -> gast.expr:
        test = self.test(node.test)
        result = self.new_local("chosen")
        body = self._branch(node.body, result)
        orelse = self._branch(node.orelse, result)
        self.emit(gast.If(test=test, body=body, orelse=orelse))
        return build.load(result)

    def _branch(self, value: gast.expr, result: str) -> list[gast.stmt]:
        outer, self.block = self.block, []
        self.emit(build.assign(result, self.simple(value)))
        branch, self.block = self.block, outer
        return branch

    # -- comprehensions ---------------------------------------------------------------

    def expr_ListComp(self, node: gast.ListComp) -> gast.expr:
        return self.comprehension(node, "list")

    def expr_GeneratorExp(self, node: gast.GeneratorExp) -> gast.expr:
        return self.comprehension(node, "list")

    def expr_DictComp(self, node: gast.DictComp) -> gast.expr:
        return self.comprehension(node, "dict")

    def expr_SetComp(self, node: gast.SetComp) -> gast.expr:
        raise self.fail(
            "set comprehensions are not supported by the source transformation (sets have no order)"
        )

    def comprehension(self, node: gast.expr, kind: str) -> gast.Name:
        """``[e for v in xs if c]`` becomes ``out = []; for v in xs: if c: out.append(e)``,
        with the comprehension's own names renamed so they cannot clash with the function's."""
        result = self.new_local("items" if kind == "list" else "mapping")
        empty = (
            gast.List(elts=[], ctx=gast.Load()) if kind == "list" else gast.Dict(keys=[], values=[])
        )
        self.emit(build.assign(result, empty))
        renames: dict[str, str] = {}
        for generator in node.generators:
            for name in walk(generator.target):
                if isinstance(name, gast.Name):
                    renames[name.id] = self.new_local(name.id)
        node = _rename(copy.deepcopy(node), renames)
        if kind == "list":
            append = gast.Attribute(value=build.load(result), attr="append", ctx=gast.Load())
            innermost: list[gast.stmt] = [
                gast.Expr(value=gast.Call(func=append, args=[node.elt], keywords=[]))
            ]
        else:
            store = gast.Subscript(value=build.load(result), slice=node.key, ctx=gast.Store())
            innermost = [gast.Assign(targets=[store], value=node.value, type_comment=None)]
        for generator in reversed(node.generators):
            if generator.is_async:
                raise self.fail("async comprehensions are not supported")
            for condition in reversed(generator.ifs):
                innermost = [gast.If(test=condition, body=innermost, orelse=[])]
            innermost = [
                gast.For(
                    target=generator.target,
                    iter=generator.iter,
                    body=innermost,
                    orelse=[],
                    type_comment=None,
                )
            ]
        for stmt in innermost:
            _stamp_all(stmt, self.origin)
        from .desugar import _Loops

        loops = _Loops(self.ctx).block(innermost)
        for stmt in loops:
            self.statement(stmt)
        return build.load(result)

    # -- nested functions -----------------------------------------------------------------

    def inline_nested(self, name: str, call: gast.Call) -> gast.expr:
        """The body of a nested function, in place of a call to it."""
        if name in self.inlining:
            raise self.fail(
                f"the nested function {name!r} calls itself, which the transform does not unroll"
            )
        definition = self.nested[name]
        # A method, constructor or function of the user's inlined (its qualified name): one
        # that reaches itself again would be inlined without end.
        function = getattr(definition, "resolved", (None,))[0]
        if function is not None and function in self.inlining_functions:
            raise self.fail(
                f"{function} calls itself (recursion), which the transform does not unroll"
            )
        args = definition.args
        params = [a.id for a in args.posonlyargs + args.args]
        keyword_only = [a.id for a in args.kwonlyargs]
        bound: dict[str, gast.expr] = {}
        if any(isinstance(a, gast.Starred) for a in call.args) or any(
            k.arg is None for k in call.keywords
        ):
            raise self.fail(
                f"calling the nested function {name!r} with *args or **kwargs is not supported"
            )
        if len(call.args) > len(params):
            raise self.fail(
                f"the nested function {name!r} takes {len(params)} positional arguments"
            )
        for param, value in zip(params, call.args):
            bound[param] = value
        for keyword in call.keywords:
            if keyword.arg not in params + keyword_only or keyword.arg in bound:
                raise self.fail(f"bad keyword argument {keyword.arg!r} in a call of {name!r}")
            bound[keyword.arg] = keyword.value
        defaults = dict(zip(params[len(params) - len(args.defaults) :], args.defaults))
        defaults.update(
            {a.id: d for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None}
        )
        for param in params + keyword_only:
            if param not in bound:
                if param not in defaults:
                    raise self.fail(
                        f"the call of the nested function {name!r} is missing {param!r}"
                    )
                bound[param] = copy.deepcopy(defaults[param])
        # Evaluate the arguments first, then run the renamed body.
        values = {param: self.atom(value) for param, value in bound.items()}
        # Its locals: what it binds itself. A function nested in it that writes a name with
        # `nonlocal` writes this one's (or, when this one does not bind it, the enclosing
        # function's), so names bound only there are not its locals.
        assigned = _own_stores(definition.body)
        # Names it declares nonlocal are the enclosing function's: its writes to them are
        # seen after the call, as in Python. (Its free names are read here, at the call,
        # which is when Python reads a closure's cells.)
        shared = set(_nonlocal_names(definition.body))
        renames = {
            local: self.new_local(f"{name}_{local}")
            for local in sorted((assigned | set(params + keyword_only)) - shared)
        }
        for param, value in values.items():
            self.emit(build.assign(renames[param], value))
        body = _rename(copy.deepcopy(definition.body), renames)
        from .desugar import _Loops, single_exit

        body = single_exit(_Loops(self.ctx).block(body), self.ctx)
        result = body[-1].value
        self.inlining.append(name)
        self.inlining_functions.append(function)
        try:
            for stmt in body[:-1]:
                saved = self.origin
                self.origin = origin_of(stmt) or self.origin
                self.statement(stmt)
                self.origin = saved
            return self.atom(result)
        finally:
            self.inlining_functions.pop()
            self.inlining.pop()

    def expr_Lambda(self, node: gast.Lambda) -> gast.expr:
        raise self.fail(
            "a lambda that is not assigned to a name is not supported by the source transformation"
        )

    def expr_NamedExpr(self, node: gast.NamedExpr) -> gast.expr:
        self.assign(node.target, node.value)
        return build.load(node.target.id)


# -- break and continue -----------------------------------------------------------------
#
# The backward pass replays an iteration by replaying its branches, so whatever runs after
# a branch that may `break` or `continue` must itself sit in a branch: the statements after
# an `if` whose one side always jumps move into its other side. Then a `continue` is always
# the last thing its iteration does and can go, and a `break` is last on its path.

_JUMPS = (gast.Break, gast.Continue)


def _jumps(stmts: list[gast.stmt]) -> str:
    """ "always", "never" or "sometimes": whether running ``stmts`` ends in a jump."""
    if not stmts:
        return "never"
    last = stmts[-1]
    if isinstance(last, _JUMPS):
        return "always"
    if any(_contains_jump(s) for s in stmts[:-1]):
        return "sometimes"
    if isinstance(last, gast.If):
        body, orelse = _jumps(last.body), _jumps(last.orelse)
        if body == orelse == "always":
            return "always"
        if body == orelse == "never":
            return "never"
        return "sometimes"
    return "never"


def _contains_jump(stmt: gast.stmt) -> bool:
    if isinstance(stmt, _JUMPS):
        return True
    if isinstance(stmt, gast.If):
        return any(_contains_jump(s) for s in stmt.body + stmt.orelse)
    return False  # jumps inside nested loops belong to them


def _structure_jumps(
    stmts: list[gast.stmt], normalizer: _Normalizer, flags: list[str]
) -> list[gast.stmt]:
    """Move what follows a branch that jumps into the branch that does not. When only some
    paths through nested branches jump, a flag set before each jump guards the rest
    (``flags`` receives its name, to be cleared at the start of each iteration)."""
    out: list[gast.stmt] = []
    for i, stmt in enumerate(stmts):
        if isinstance(stmt, _JUMPS):
            out.append(stmt)
            return out  # anything after a jump never runs
        if isinstance(stmt, gast.If) and _contains_jump(stmt):
            stmt.body = _structure_jumps(stmt.body, normalizer, flags)
            stmt.orelse = _structure_jumps(stmt.orelse, normalizer, flags)
            rest = stmts[i + 1 :]
            body, orelse = _jumps(stmt.body), _jumps(stmt.orelse)
            if rest and "sometimes" in (body, orelse):
                if not flags:
                    flags.append(normalizer.new_local("jumped"))
                flag = flags[0]
                _set_before_jumps(stmt, flag, normalizer)
                out.append(stmt)
                test = normalizer.new_local("cond")
                check = build.assign(test, gast.UnaryOp(op=gast.Not(), operand=build.load(flag)))
                anno.set(check, anno.Key.TEMPORARY, True)
                guard = gast.If(
                    test=build.load(test),
                    body=_structure_jumps(rest, normalizer, flags) or [gast.Pass()],
                    orelse=[],
                )
                for new in (check, guard):
                    _stamp_all(new, origin_of(stmt))
                out.extend([check, guard])
                return out
            if rest:
                if body == "always" and orelse != "always":
                    stmt.orelse = _structure_jumps(stmt.orelse + rest, normalizer, flags)
                elif orelse == "always" and body != "always":
                    stmt.body = _structure_jumps(stmt.body + rest, normalizer, flags)
            out.append(stmt)
            return out
        out.append(stmt)
    return out


def _set_before_jumps(stmt: gast.If, flag: str, normalizer: _Normalizer) -> None:
    for field in ("body", "orelse"):
        block = getattr(stmt, field)
        new = []
        for sub in block:
            if isinstance(sub, _JUMPS):
                new.append(build.assign(flag, gast.Constant(True, None)))
            elif isinstance(sub, gast.If):
                _set_before_jumps(sub, flag, normalizer)
            new.append(sub)
        setattr(stmt, field, new)


def _drop_trailing_continue(stmts: list[gast.stmt]) -> list[gast.stmt]:
    if not stmts:
        return stmts
    last = stmts[-1]
    if isinstance(last, gast.Continue):
        return stmts[:-1]
    if isinstance(last, gast.If):
        last.body = _drop_trailing_continue(last.body) or [gast.Pass()]
        last.orelse = _drop_trailing_continue(last.orelse)
    if any(isinstance(n, gast.Continue) for s in stmts for n in dataflow.statements([s])):
        pass  # a continue elsewhere would sit in a nested loop, which handles its own
    return stmts


# Context managers that change only how warnings and floating-point errors are reported.
_HARMLESS_CONTEXTS = (np.errstate, warnings.catch_warnings)
# Calls whose result is a bool, so `a and b` of them is one (and carries no gradient).
_BOOLEAN_CALLS = {"isinstance", "issubclass", "hasattr", "callable", "bool"}


def _is_boolean(node: gast.expr) -> bool:
    """Whether ``node`` is surely a bool or an array of bools: then ``a and b`` of such
    carries no gradient whichever operand it gives, and can stay one opaque expression."""
    if isinstance(node, gast.BoolOp):
        return all(_is_boolean(v) for v in node.values)
    if isinstance(node, gast.Constant):
        return isinstance(node.value, bool)
    if isinstance(node, gast.Call):
        return isinstance(node.func, gast.Name) and node.func.id in _BOOLEAN_CALLS
    return isinstance(node, gast.Compare) or (
        isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.Not)
    )


def _evaluated_first(stmt: gast.stmt) -> list[gast.AST]:
    """The parts of ``stmt`` evaluated before any statement of its blocks runs: all of a
    simple statement, the header of a compound one."""
    if isinstance(stmt, (gast.If, gast.While)):
        return [stmt.test]
    if isinstance(stmt, gast.For):
        return [stmt.iter]
    if isinstance(stmt, gast.With):
        return [item.context_expr for item in stmt.items]
    if isinstance(stmt, gast.FunctionDef):
        return [*stmt.args.defaults, *(d for d in stmt.args.kw_defaults if d is not None)]
    return [stmt]


def _binding_counts(node: gast.FunctionDef) -> dict[str, int]:
    """How many places bind each name: assignments (a walrus, a loop target ...) and defs."""
    counts: dict[str, int] = {}
    for sub in walk(node):
        if isinstance(sub, gast.Name) and isinstance(sub.ctx, gast.Store):
            counts[sub.id] = counts.get(sub.id, 0) + 1
        elif isinstance(sub, gast.FunctionDef) and sub is not node:
            counts[sub.name] = counts.get(sub.name, 0) + 1
    return counts


def _own_statements(stmts: list[gast.stmt]):
    """The statements of a function's body and of its blocks, not of functions nested in it."""
    for stmt in stmts:
        yield stmt
        if isinstance(stmt, (gast.FunctionDef, gast.ClassDef)):
            continue
        for field in ("body", "orelse", "finalbody"):
            yield from _own_statements(getattr(stmt, field, None) or [])
        for handler in getattr(stmt, "handlers", None) or []:
            yield from _own_statements(handler.body)


def _own_stores(body: list[gast.stmt]) -> set[str]:
    """The names a function's body binds in its own scope (not in functions or lambdas
    nested in it): its local variables."""
    found: set[str] = set()
    pending: list[gast.AST] = list(body)
    while pending:
        node = pending.pop()
        if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Store):
            found.add(node.id)
        elif isinstance(node, gast.FunctionDef):
            # (its name stays: inlining finds a nested function by the name of its def)
            pending.extend(node.args.defaults)  # evaluated in this scope
            pending.extend(d for d in node.args.kw_defaults if d is not None)
            continue
        elif isinstance(node, gast.Lambda):
            pending.extend(node.args.defaults)
            continue
        pending.extend(gast.iter_child_nodes(node))
    return found


def _nonlocal_names(body: list[gast.stmt]) -> list[str]:
    return [n for s in _own_statements(body) if isinstance(s, gast.Nonlocal) for n in s.names]


def _first_jump(stmts: list[gast.stmt]) -> gast.stmt | None:
    """A ``break`` or ``continue`` of the loop around ``stmts`` (not of a loop inside)."""
    for stmt in stmts:
        if isinstance(stmt, _JUMPS):
            return stmt
        if isinstance(stmt, (gast.If, gast.With)):
            found = _first_jump(stmt.body + getattr(stmt, "orelse", []))
            if found is not None:
                return found
    return None


# Builtins that consume an iterable: a generator expression given to one becomes a list.
_CONSUMERS = {"sum", "max", "min", "list", "tuple", "any", "all", "sorted"}


def _tuples_bound_once(node: gast.FunctionDef) -> dict[str, int]:
    """Names the function binds exactly once, to a tuple display: name -> its length.
    Tuples are immutable, so such a name always has that many elements."""
    stores: dict[str, int] = {}
    lengths: dict[str, int] = {}
    for sub in walk(node):
        if isinstance(sub, gast.Name) and isinstance(sub.ctx, gast.Store):
            stores[sub.id] = stores.get(sub.id, 0) + 1
        if (
            isinstance(sub, gast.Assign)
            and len(sub.targets) == 1
            and isinstance(sub.targets[0], gast.Name)
        ):
            value = sub.value
            if isinstance(value, gast.Tuple) and not any(
                isinstance(e, gast.Starred) for e in value.elts
            ):
                lengths[sub.targets[0].id] = len(value.elts)
    for arg in node.args.args + node.args.kwonlyargs:
        stores[arg.id] = stores.get(arg.id, 0) + 1
    return {name: n for name, n in lengths.items() if stores.get(name) == 1}


def _rename(node: gast.AST, renames: dict[str, str]) -> gast.AST:
    """Rename names in ``node`` (all contexts), but not inside nested scopes' own names."""
    if isinstance(node, list):
        return [_rename(n, renames) for n in node]
    for sub in walk(node):
        if isinstance(sub, gast.Name) and sub.id in renames:
            sub.id = renames[sub.id]
        elif isinstance(sub, gast.Nonlocal):  # (names, not Name nodes)
            sub.names = [renames.get(name, name) for name in sub.names]
    return node


def _stamp_all(node: gast.AST, origin: Origin | None) -> None:
    if origin is None:
        return
    for sub in walk(node):
        if not anno.has(sub, anno.Key.ORIGIN):
            anno.set(sub, anno.Key.ORIGIN, origin)


def _is_docstring(stmt: gast.stmt) -> bool:
    return (
        isinstance(stmt, gast.Expr)
        and isinstance(stmt.value, gast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _set_ctx(node: gast.AST, ctx: Any) -> None:
    for sub in walk(node):
        if hasattr(sub, "ctx"):
            sub.ctx = ctx


def _base_name(node: gast.expr) -> str:
    if isinstance(node, gast.BinOp):
        return _BINOP_NAMES.get(type(node.op), "value")
    if isinstance(node, gast.UnaryOp):
        return "neg" if isinstance(node.op, gast.USub) else "value"
    if isinstance(node, gast.Call):
        func = node.func
        name = func.attr if isinstance(func, gast.Attribute) else getattr(func, "id", "call")
        if name.startswith("__") and name.endswith("__"):
            name = name.strip("_") or "call"  # super().__call__(x): call
        return _CALL_NAMES.get(name, name)
    if isinstance(node, gast.Attribute):
        if node.attr == "T":
            return "transposed"
        if isinstance(node.value, gast.Name) and node.attr not in METADATA_ATTRIBUTES:
            return f"{node.value.id}_{node.attr}"  # self.W: self_W, its adjoint dself_W
        return node.attr
    if isinstance(node, gast.Subscript):
        base = node.value.id if isinstance(node.value, gast.Name) else "item"
        return f"{base}_item"
    if isinstance(node, (gast.Compare, gast.BoolOp)) or (
        isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.Not)
    ):
        return "cond"
    return "value"

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
    carry no gradient and are left whole.
* ``name[index] = atom`` (assignment into an array, same index form as above);
* ``atom.method(...)`` as an expression statement (calls for their side effects);
* ``if atom: ... else: ...``, ``for name in atom: ...``, ``while True: ...`` whose body
  starts by testing its condition; ``break``; ``continue``;
* ``with ag.no_grad(): ...``;
* exactly one ``return atom``, the last statement.

Augmented assignment is rewritten as plain assignment (``x += y`` → ``x = x + y``: the
array is not modified in place); conditional expressions become ``if`` statements; the
temporaries introduced are marked ``anno.Key.TEMPORARY`` so the optimizer can fold the
ones the gradient does not need back into their single use.
"""

from __future__ import annotations

import copy
from typing import Any

import gast

from . import anno
from .context import TransformContext
from .errors import TAPE_ADVICE, TransformError
from .origin import Origin
from .origin import of as origin_of

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
_CALL_NAMES = {"sum": "total", "max": "largest", "min": "smallest", "abs": "absolute", "pow": "power"}


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

    # -- driver ---------------------------------------------------------------------

    def run(self, node: gast.FunctionDef) -> gast.FunctionDef:
        body = node.body
        if body and _is_docstring(body[0]):
            body = body[1:]
        node.body = self.statements(body)
        self._single_exit(node)
        return node

    def statements(self, stmts: list[gast.stmt]) -> list[gast.stmt]:
        outer, self.block = self.block, []
        for stmt in stmts:
            saved = self.origin
            self.origin = origin_of(stmt) or self.origin
            self.statement(stmt)
            self.origin = saved
        result, self.block = self.block, outer
        return result

    def emit(self, stmt: gast.stmt) -> gast.stmt:
        if self.origin is not None:
            for sub in gast.walk(stmt):
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
        method(stmt)

    def stmt_Pass(self, stmt: gast.Pass) -> None:
        pass

    def stmt_Expr(self, stmt: gast.Expr) -> None:
        if isinstance(stmt.value, gast.Constant):
            return  # a bare string or number does nothing
        value = stmt.value
        if isinstance(value, gast.Call):
            self.emit(gast.Expr(value=self.call(value)))
        else:
            self.atom(value)

    def stmt_Assert(self, stmt: gast.Assert) -> None:
        self.emit(stmt)  # checks run in the forward pass only

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
        load = copy.deepcopy(target)
        _set_ctx(load, gast.Load())
        value = gast.BinOp(left=load, op=stmt.op, right=stmt.value)
        self.assign(target, value)

    def stmt_Return(self, stmt: gast.Return) -> None:
        value = stmt.value if stmt.value is not None else gast.Constant(None, None)
        self.emit(gast.Return(value=self.atom(value)))

    def stmt_If(self, stmt: gast.If) -> None:
        test = self.atom(stmt.test)
        assigned = {n.id for s in stmt.body + stmt.orelse for n in gast.walk(s) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}
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
            raise self.fail("a `for` loop over several names (for a, b in ...) is not supported yet")
        iterable = self.atom(stmt.iter)
        body = self.loop_body(stmt.body)
        loop = gast.For(target=stmt.target, iter=iterable, body=body, orelse=[], type_comment=None)
        self.emit(loop)

    def stmt_While(self, stmt: gast.While) -> None:
        if stmt.orelse:
            raise self.fail("`while ... else` is not supported yet by the source transformation")
        test = stmt.test
        if self.is_atom(test) or is_opaque(test):
            body = self.loop_body(stmt.body)
            self.emit(gast.While(test=test, body=body, orelse=[]))
            return
        # The test needs statements of its own: evaluate it at the top of each iteration.
        exit_test = gast.If(test=gast.UnaryOp(op=gast.Not(), operand=test), body=[gast.Break()], orelse=[])
        gast.copy_location(exit_test, stmt)
        anno.copy_from(exit_test, stmt)
        body = self.loop_body([exit_test, *stmt.body])
        self.emit(gast.While(test=gast.Constant(True, None), body=body, orelse=[]))

    def stmt_Break(self, stmt: gast.Break) -> None:
        self.emit(gast.Break())

    def stmt_Continue(self, stmt: gast.Continue) -> None:
        self.emit(gast.Continue())

    def loop_body(self, stmts: list[gast.stmt]) -> list[gast.stmt]:
        """The normalized body, with ``continue`` gone and every ``break`` last on its path."""
        body = _structure_jumps(self.statements(stmts), self)
        return _drop_trailing_continue(body) or [gast.Pass()]

    # -- assignment -----------------------------------------------------------------

    def assign(self, target: gast.expr, value: gast.expr) -> None:
        if isinstance(target, gast.Name):
            self.emit(_assign(target.id, self.simple(value, target.id)))
        elif isinstance(target, (gast.Tuple, gast.List)):
            self.unpack(target, value)
        elif isinstance(target, gast.Subscript):
            array = self.atom(target.value)
            if not isinstance(array, gast.Name):
                raise self.fail("assignment into a subscript of an expression is not supported")
            index = self.index(target.slice)
            stored = self.atom(value)
            store = gast.Subscript(value=array, slice=index, ctx=gast.Store())
            self.emit(gast.Assign(targets=[store], value=stored, type_comment=None))
        elif isinstance(target, gast.Attribute):
            raise self.fail(
                "assigning to an attribute (obj.attr = ...) is not supported by the source "
                "transformation"
            )
        else:
            raise self.fail(f"cannot assign to {type(target).__name__}")

    def unpack(self, target: gast.Tuple | gast.List, value: gast.expr) -> None:
        if any(isinstance(e, gast.Starred) for e in target.elts):
            raise self.fail("starred assignment targets (a, *rest = ...) are not supported")
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
            elts=[gast.Name(id=n, ctx=gast.Store(), annotation=None, type_comment=None) for n in names],
            ctx=gast.Store(),
        )
        self.emit(gast.Assign(targets=[tuple_target], value=source, type_comment=None))
        for element, name in nested:
            self.assign(element, _load(name))

    def _snapshot(self, value: gast.expr, target: gast.expr) -> gast.expr:
        """Copy a value into a temporary when the targets would overwrite it first."""
        written = {n.id for n in gast.walk(target) if isinstance(n, gast.Name)}
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
        stmt = self.emit(_assign(name, value))
        anno.set(stmt, anno.Key.TEMPORARY, True)
        return _load(name)

    def atom(self, node: gast.expr) -> gast.expr:
        """Evaluate ``node`` into an atom, emitting statements for its parts."""
        if self.is_atom(node):
            return node
        simple = self.simple(node)
        if isinstance(simple, gast.Name):
            return simple  # already named (the result of a conditional expression)
        return self.temporary(simple, _base_name(node))

    def is_atom(self, node: gast.expr) -> bool:
        if isinstance(node, gast.Constant):
            return True
        if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub) and isinstance(node.operand, gast.Constant):
            return isinstance(node.operand.value, (int, float, complex)) and not isinstance(node.operand.value, bool)
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
        if self.is_atom(node) or is_opaque(node):
            return node
        method = getattr(self, f"expr_{type(node).__name__}", None)
        if method is None:
            raise self.fail(
                f"the expression `{type(node).__name__}` is not supported by the source "
                f"transformation"
            )
        return method(node)

    def expr_BinOp(self, node: gast.BinOp) -> gast.expr:
        return gast.BinOp(left=self.atom(node.left), op=node.op, right=self.atom(node.right))

    def expr_UnaryOp(self, node: gast.UnaryOp) -> gast.expr:
        return gast.UnaryOp(op=node.op, operand=self.atom(node.operand))

    def expr_Call(self, node: gast.Call) -> gast.expr:
        return self.call(node)

    def call(self, node: gast.Call) -> gast.Call:
        func = node.func
        if isinstance(func, gast.Attribute) and not self.is_atom(func):
            func = gast.Attribute(value=self.atom(func.value), attr=func.attr, ctx=gast.Load())
        elif not self.is_atom(func):
            func = self.atom(func)
        args = [
            gast.Starred(value=self.atom(a.value), ctx=gast.Load()) if isinstance(a, gast.Starred) else self.atom(a)
            for a in node.args
        ]
        keywords = [gast.keyword(arg=k.arg, value=self.atom(k.value)) for k in node.keywords]
        return gast.Call(func=func, args=args, keywords=keywords)

    def expr_Attribute(self, node: gast.Attribute) -> gast.expr:
        return gast.Attribute(value=self.atom(node.value), attr=node.attr, ctx=gast.Load())

    def expr_Subscript(self, node: gast.Subscript) -> gast.expr:
        return gast.Subscript(value=self.atom(node.value), slice=self.index(node.slice), ctx=gast.Load())

    def index(self, node: gast.expr) -> gast.expr:
        if isinstance(node, gast.Slice):
            return gast.Slice(
                lower=None if node.lower is None else self.atom(node.lower),
                upper=None if node.upper is None else self.atom(node.upper),
                step=None if node.step is None else self.atom(node.step),
            )
        if isinstance(node, gast.Tuple):
            return gast.Tuple(elts=[self.index(e) for e in node.elts], ctx=gast.Load())
        return self.atom(node)

    def expr_Tuple(self, node: gast.Tuple) -> gast.expr:
        return gast.Tuple(elts=self._elements(node.elts), ctx=gast.Load())

    def expr_List(self, node: gast.List) -> gast.expr:
        return gast.List(elts=self._elements(node.elts), ctx=gast.Load())

    def _elements(self, elts: list[gast.expr]) -> list[gast.expr]:
        return [
            gast.Starred(value=self.atom(e.value), ctx=gast.Load()) if isinstance(e, gast.Starred) else self.atom(e)
            for e in elts
        ]

    def expr_Dict(self, node: gast.Dict) -> gast.expr:
        keys = [None if k is None else self.atom(k) for k in node.keys]
        return gast.Dict(keys=keys, values=[self.atom(v) for v in node.values])

    def expr_IfExp(self, node: gast.IfExp) -> gast.expr:
        test = self.atom(node.test)
        result = self.new_local("chosen")
        body = self._branch(node.body, result)
        orelse = self._branch(node.orelse, result)
        self.emit(gast.If(test=test, body=body, orelse=orelse))
        return _load(result)

    def _branch(self, value: gast.expr, result: str) -> list[gast.stmt]:
        outer, self.block = self.block, []
        self.emit(_assign(result, self.simple(value)))
        branch, self.block = self.block, outer
        return branch

    def expr_NamedExpr(self, node: gast.NamedExpr) -> gast.expr:
        self.assign(node.target, node.value)
        return _load(node.target.id)

    # -- single exit ----------------------------------------------------------------

    def _single_exit(self, node: gast.FunctionDef) -> None:
        body = node.body
        returns = [n for n in _walk_statements(body) if isinstance(n, gast.Return)]
        if not body or not isinstance(body[-1], gast.Return):
            if returns:
                self.origin = origin_of(returns[0])
                raise self.fail(
                    "a `return` before the end of the function (inside a branch or loop) is "
                    "not supported yet by the source transformation"
                )
            none = gast.Return(value=gast.Constant(None, None))
            anno.set(none, anno.Key.ORIGIN, origin_of(body[-1]) if body else None)
            body.append(none)
        elif len(returns) > 1:
            self.origin = origin_of(returns[0])
            raise self.fail(
                "a `return` before the end of the function (inside a branch or loop) is not "
                "supported yet by the source transformation"
            )


# -- break and continue -----------------------------------------------------------------
#
# The backward pass replays an iteration by replaying its branches, so whatever runs after
# a branch that may `break` or `continue` must itself sit in a branch: the statements after
# an `if` whose one side always jumps move into its other side. Then a `continue` is always
# the last thing its iteration does and can go, and a `break` is last on its path.

_JUMPS = (gast.Break, gast.Continue)


def _jumps(stmts: list[gast.stmt]) -> str:
    """"always", "never" or "sometimes": whether running ``stmts`` ends in a jump."""
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


def _structure_jumps(stmts: list[gast.stmt], normalizer: "_Normalizer") -> list[gast.stmt]:
    out: list[gast.stmt] = []
    for i, stmt in enumerate(stmts):
        if isinstance(stmt, _JUMPS):
            out.append(stmt)
            return out  # anything after a jump never runs
        if isinstance(stmt, gast.If) and _contains_jump(stmt):
            stmt.body = _structure_jumps(stmt.body, normalizer)
            stmt.orelse = _structure_jumps(stmt.orelse, normalizer)
            rest = stmts[i + 1 :]
            body, orelse = _jumps(stmt.body), _jumps(stmt.orelse)
            if "sometimes" in (body, orelse) and rest:
                normalizer.origin = origin_of(stmt)
                raise normalizer.fail(
                    "a `break` or `continue` that only some paths through a nested `if` reach "
                    "is not supported yet by the source transformation"
                )
            if rest:
                if body == "always" and orelse != "always":
                    stmt.orelse = _structure_jumps(stmt.orelse + rest, normalizer)
                elif orelse == "always" and body != "always":
                    stmt.body = _structure_jumps(stmt.body + rest, normalizer)
            out.append(stmt)
            return out
        out.append(stmt)
    return out


def _drop_trailing_continue(stmts: list[gast.stmt]) -> list[gast.stmt]:
    if not stmts:
        return stmts
    last = stmts[-1]
    if isinstance(last, gast.Continue):
        return stmts[:-1]
    if isinstance(last, gast.If):
        last.body = _drop_trailing_continue(last.body) or [gast.Pass()]
        last.orelse = _drop_trailing_continue(last.orelse)
    if any(isinstance(n, gast.Continue) for s in stmts for n in _walk_statements([s])):
        pass  # a continue elsewhere would sit in a nested loop, which handles its own
    return stmts


def _walk_statements(stmts: list[gast.stmt]):
    for stmt in stmts:
        yield stmt
        for field in ("body", "orelse"):
            yield from _walk_statements(getattr(stmt, field, []) or [])


def _is_docstring(stmt: gast.stmt) -> bool:
    return isinstance(stmt, gast.Expr) and isinstance(stmt.value, gast.Constant) and isinstance(stmt.value.value, str)


def _load(name: str) -> gast.Name:
    return gast.Name(id=name, ctx=gast.Load(), annotation=None, type_comment=None)


def _store(name: str) -> gast.Name:
    return gast.Name(id=name, ctx=gast.Store(), annotation=None, type_comment=None)


def _assign(name: str, value: gast.expr) -> gast.Assign:
    return gast.Assign(targets=[_store(name)], value=value, type_comment=None)


def _set_ctx(node: gast.AST, ctx: Any) -> None:
    for sub in gast.walk(node):
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
        return _CALL_NAMES.get(name, name)
    if isinstance(node, gast.Attribute):
        return node.attr if node.attr != "T" else "transposed"
    if isinstance(node, gast.Subscript):
        base = node.value.id if isinstance(node.value, gast.Name) else "item"
        return f"{base}_item"
    if isinstance(node, (gast.Compare, gast.BoolOp)) or (
        isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.Not)
    ):
        return "cond"
    return "value"

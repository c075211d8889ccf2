"""analyze: which statements need adjoints, and what each one calls.

Activity is per name and flow-insensitive (a name is treated the same everywhere it is
assigned): a name is *varied* when some assignment to it reads a varied name through an
operation that carries a gradient, starting from the ``wrt`` parameters; it is *useful*
when it can reach the returned value. A statement is active when it assigns an active
(varied and useful) name. Over-approximating costs adjoint code, never correctness.

Each core statement gets ``anno.Key.CALLEE`` (what its value expression calls) and
``anno.Key.ACTIVE``. The *kind* of each name, ``"value"`` (array or number), ``"tuple"``
or ``"list"``, decides how adjoints of containers are built.
"""

from __future__ import annotations

import gast
import numpy as np

from . import anno
from .context import TransformContext
from .errors import TransformError
from .normalize import is_opaque
from .origin import of as origin_of
from .resolve import Callee, classify, resolve_attribute, resolve_call

_BINOP_PRIMITIVES = {
    gast.Add: np.add,
    gast.Sub: np.subtract,
    gast.Mult: np.multiply,
    gast.Div: np.true_divide,
    gast.Pow: np.power,
    gast.MatMult: np.matmul,
    gast.FloorDiv: np.floor_divide,
    gast.Mod: np.remainder,
    gast.BitAnd: np.bitwise_and,
    gast.BitOr: np.bitwise_or,
    gast.BitXor: np.bitwise_xor,
    gast.LShift: np.left_shift,
    gast.RShift: np.right_shift,
}
_UNARY_PRIMITIVES = {gast.USub: np.negative, gast.UAdd: np.positive, gast.Invert: np.invert}
_OP_SPELLING = {
    gast.Add: "+", gast.Sub: "-", gast.Mult: "*", gast.Div: "/", gast.Pow: "**",
    gast.MatMult: "@", gast.FloorDiv: "//", gast.Mod: "%", gast.USub: "-", gast.UAdd: "+",
}  # fmt: skip

COPY = Callee("copy", "=")
CONSTANT = Callee("constant", "constant")
CONTAINER = Callee("container", "display")
OPAQUE = Callee("nondiff", "comparison")
SUBSCRIPT = Callee("subscript", "[]")
STORE = Callee("store", "[]=")


def transform(node: gast.FunctionDef, ctx: TransformContext) -> gast.FunctionDef:
    statements = list(_core_statements(node.body))
    for stmt in statements:
        value = _value_of(stmt)
        if value is not None:
            anno.set(stmt, anno.Key.CALLEE, callee_of(value, ctx, stmt))
    _infer_kinds(statements, ctx)
    varied = _varied(statements, ctx)
    for stmt in statements:
        if isinstance(stmt, gast.For) and read_names(stmt.iter) & varied:
            raise TransformError(
                "iterating directly over a value being differentiated is not supported yet; "
                "loop over indices (for i in range(len(x))) instead.",
                origin_of(stmt),
            )
    useful = _useful(statements, node, ctx)
    ctx.active = varied & useful
    for stmt in statements:
        targets = assigned_names(stmt)
        active = bool(targets & ctx.active) and _carries_gradient(stmt, varied)
        anno.set(stmt, anno.Key.ACTIVE, active)
        if active:
            callee = anno.get(stmt, anno.Key.CALLEE)
            if callee is not None and callee.kind == "unknown":
                raise TransformError(
                    f"cannot differentiate through {callee.name}: {callee.reason}.",
                    origin_of(stmt),
                    "Register a derivative with @ag.vjp_rule, or use mode=\"auto\" to run "
                    "this call on the tape.",
                )
    return node


def _core_statements(stmts: list[gast.stmt]):
    for stmt in stmts:
        yield stmt
        for field in ("body", "orelse"):
            yield from _core_statements(getattr(stmt, field, None) or [])


def _value_of(stmt: gast.stmt) -> gast.expr | None:
    if isinstance(stmt, gast.Assign):
        return stmt.value
    if isinstance(stmt, gast.Expr):
        return stmt.value
    return None


def callee_of(value: gast.expr, ctx: TransformContext, stmt: gast.stmt) -> Callee:
    if isinstance(value, gast.Name):
        return COPY
    if isinstance(value, gast.Constant):
        return CONSTANT
    if is_opaque(value):
        return OPAQUE
    if isinstance(value, gast.BinOp):
        callee = classify(_BINOP_PRIMITIVES[type(value.op)], _OP_SPELLING.get(type(value.op), "op"))
        return callee
    if isinstance(value, gast.UnaryOp):
        return classify(_UNARY_PRIMITIVES[type(value.op)], _OP_SPELLING.get(type(value.op), "op"))
    if isinstance(value, gast.Call):
        return resolve_call(value, ctx)
    if isinstance(value, gast.Attribute):
        root = value
        while isinstance(root, gast.Attribute):
            root = root.value
        if isinstance(root, gast.Name) and root.id in ctx.local_names:
            return resolve_attribute(value, ctx)
        return CONSTANT  # a module constant such as np.pi
    if isinstance(value, gast.Subscript):
        if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Subscript):
            return STORE
        return SUBSCRIPT
    if isinstance(value, (gast.Tuple, gast.List, gast.Dict)):
        return CONTAINER
    return Callee("unknown", type(value).__name__, reason="unsupported expression")


def assigned_names(stmt: gast.stmt) -> set[str]:
    if isinstance(stmt, gast.Assign):
        target = stmt.targets[0]
        if isinstance(target, gast.Subscript):
            return {target.value.id}
        return {n.id for n in gast.walk(target) if isinstance(n, gast.Name)}
    return set()


def read_names(node: gast.AST) -> set[str]:
    return {n.id for n in gast.walk(node) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)}


def differentiable_reads(stmt: gast.stmt) -> set[str]:
    """Names whose gradient the statement's value can carry."""
    value = _value_of(stmt)
    callee = anno.get(stmt, anno.Key.CALLEE)
    if value is None or callee is None or callee.kind in ("nondiff", "constant"):
        return set()
    if callee is SUBSCRIPT:
        return read_names(value.value)
    if callee is STORE:
        return read_names(value) | {stmt.targets[0].value.id}
    if callee.kind == "rule":
        return _rule_reads(value, callee)
    return read_names(value)


def _rule_reads(value: gast.expr, callee: Callee) -> set[str]:
    template = callee.rule.template
    operands = operand_atoms(value, callee)
    if template is None:
        return {a.id for a in operands if isinstance(a, gast.Name)}
    names = set()
    for position, atom in enumerate(operands):
        if position < len(template.outputs) and template.outputs[position] is not None:
            names |= read_names(atom)
    return names


def operand_atoms(value: gast.expr, callee: Callee) -> list[gast.expr]:
    """The positional operands of a rule-backed operation, receiver first for methods."""
    if isinstance(value, gast.BinOp):
        return [value.left, value.right]
    if isinstance(value, gast.UnaryOp):
        return [value.operand]
    if isinstance(value, gast.Attribute):
        return [value.value]
    if isinstance(value, gast.Call):
        args = list(value.args)
        return ([callee.receiver] if callee.receiver is not None else []) + args
    return []


def _carries_gradient(stmt: gast.stmt, varied: set[str]) -> bool:
    return bool(differentiable_reads(stmt) & varied)


def _varied(statements: list[gast.stmt], ctx: TransformContext) -> set[str]:
    varied = set(ctx.wrt)
    changed = True
    while changed:
        changed = False
        for stmt in statements:
            if differentiable_reads(stmt) & varied:
                new = assigned_names(stmt) - varied
                if new:
                    varied |= new
                    changed = True
    return varied


def _useful(statements: list[gast.stmt], node: gast.FunctionDef, ctx: TransformContext) -> set[str]:
    useful: set[str] = set()
    for stmt in statements:
        if isinstance(stmt, gast.Return):
            useful |= read_names(stmt.value)
    changed = True
    while changed:
        changed = False
        for stmt in statements:
            if assigned_names(stmt) & useful:
                new = differentiable_reads(stmt) - useful
                if new:
                    useful |= new
                    changed = True
    return useful


def _infer_kinds(statements: list[gast.stmt], ctx: TransformContext) -> None:
    kinds = ctx.kinds
    kinds.update(ctx.param_kinds)
    for stmt in statements:
        if not isinstance(stmt, gast.Assign) or not isinstance(stmt.targets[0], gast.Name):
            continue
        name = stmt.targets[0].id
        value = stmt.value
        if isinstance(value, gast.Tuple):
            kind = ("tuple", len(value.elts))
        elif isinstance(value, gast.List):
            kind = ("list", len(value.elts))
        elif isinstance(value, gast.Name):
            kind = kinds.get(value.id, ("value",))
        else:
            callee = anno.get(stmt, anno.Key.CALLEE)
            if callee is not None and callee.kind == "user" and ctx.return_kind is not None:
                kind = ctx.return_kind(callee.value)
            else:
                kind = ("value",)
        kinds[name] = kind

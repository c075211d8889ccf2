"""analyze: which statements need adjoints, and what each one calls.

Activity is per name and flow-insensitive (a name is treated the same everywhere it is
assigned): a name is *varied* when some assignment to it reads a varied name through an
operation that carries a gradient, starting from the ``wrt`` parameters; it is *useful*
when it can reach the returned value. A statement is active when it assigns an active
(varied and useful) name. Over-approximating costs adjoint code, never correctness.

Each core statement gets ``anno.Key.CALLEE`` (what its value expression calls) and
``anno.Key.ACTIVE``. The *kind* of each name — ``"value"`` (an array or number),
``"tuple"``, ``"list"``, ``"dict"``, or ``"unknown"`` — decides how adjoints of
containers are built: for ``"unknown"`` the generated code asks at run time.

Two rewrites happen here because they need activity: a loop over a differentiated
sequence becomes a loop over its indices (``for v in xs`` → ``for i in range(len(xs)):
v = xs[i]``), so the gradient can reach each element; and in ``mode="auto"`` a call that
cannot be differentiated statically is marked to run on the tape (``ctx.fallbacks``).
Statements inside ``with ag.no_grad():`` never carry a gradient.
"""

from __future__ import annotations

import collections.abc

import gast
import numpy as np

from . import anno, build, dataflow, effects
from .context import TransformContext
from .errors import TransformError
from .normalize import is_opaque
from .objects import (
    BUILD,
    FIELD_STORE,
    check_field_stores,
    check_operators,
    drop_unread_supers,
    field_callee,
    is_build,
    is_field_store,
    method_call,
    note_method,
    object_kinds,
    refuse_unfollowed_owners,
)
from .origin import of as origin_of
from .resolve import (
    Callee,
    classify,
    resolve_attribute,
    resolve_call,
    source_text,
    static_value,
)
from .walk import walk

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
STOPPED = Callee("nondiff", "no_grad")
APPEND = Callee("append", ".append")
CONSTANT = Callee("constant", "constant")
CONTAINER = Callee("container", "display")
OPAQUE = Callee("nondiff", "comparison")
SUBSCRIPT = Callee("subscript", "[]")
STORE = Callee("store", "[]=")


def transform(node: gast.FunctionDef, ctx: TransformContext) -> gast.FunctionDef:
    while True:
        statements = annotate(node, ctx)
        varied = _varied(statements, ctx)
        if not _index_loops_over_varied(node.body, varied, ctx):
            break
    useful = _useful(statements, node, ctx)
    ctx.active = varied & useful
    sequences = _maybe_sequences(statements, ctx)
    for stmt in statements:
        targets = dataflow.changed_names(stmt)
        active = bool(targets & ctx.active) and _carries_gradient(stmt, varied)
        anno.set(stmt, anno.Key.ACTIVE, active)
        callee = anno.get(stmt, anno.Key.CALLEE)
        if active and _slices_a_list(stmt, sequences):
            raise TransformError(
                "assigning to a slice of a list may change its length, which the transform "
                "does not differentiate.",
                origin_of(stmt),
                'Build a new list instead, or use mode="auto" or mode="tape", which run '
                "this function on the tape.",
            )
        if active and _joins_sequences(stmt, sequences):
            raise TransformError(
                "`+` or `*` here joins or repeats lists or tuples, which the transform does "
                "not differentiate (it would treat them as arrays).",
                origin_of(stmt),
                'Build the list with append or a comprehension, or use mode="auto" or '
                'mode="tape", which run this function on the tape.',
            )
        if active and callee is not None and callee.kind == "unknown":
            if callee.name.endswith("[...]"):
                # Not a call: there is nothing to run on the tape by itself.
                raise TransformError(
                    f"`{callee.name}` builds an array out of its index, and the transform "
                    "does not follow gradients through it.",
                    origin_of(stmt),
                    "Join with np.concatenate, np.hstack or np.column_stack; or use "
                    'mode="auto" or mode="tape", which run this function on the tape.',
                )
            if _makes_iterator(callee):
                # Run on the tape, its value would be an iterator: used up by one pass,
                # with no length to index, so generated code cannot loop over it or
                # replay it. The whole function goes to the tape in mode="auto".
                raise TransformError(
                    f"`{callee.name}(...)` makes an iterator, which generated code can "
                    "neither index nor replay (a `for` header over `zip(...)`, "
                    "`enumerate(...)` or `reversed(...)` is rewritten; this use is not).",
                    origin_of(stmt),
                    "Loop over the sequence itself or build a list with a comprehension "
                    '(`[f(v) for v in xs]`); or use mode="auto" or mode="tape", which run '
                    "this function on the tape.",
                )
            carrier = _object_carrying_gradient(stmt, callee, varied, ctx)
            if carrier is not None:
                # A tape call's pullback reaches its arguments, not the object it calls
                # (a layer made from differentiated values, then called).
                advice = 'Use mode="auto" or mode="tape", which run this function on the tape.'
                if carrier in ctx.parsed.params:
                    # (ag.source(f) or ag.explain(f) without arguments: the class of the
                    # object is not known, so its methods cannot be transformed)
                    advice = (
                        f"If `{carrier}` is an object of one of your classes, pass example "
                        f"arguments (ag.source(f, {carrier}, ...), ag.explain(f, {carrier}, "
                        "...)) so the transform knows its class; or "
                        + advice[0].lower()
                        + advice[1:]
                    )
                raise TransformError(
                    f"this calls `{callee.name}`, and `{carrier}` is an object made from "
                    "values that carry a gradient; run on the tape by itself, the call would "
                    "not pass the gradient back through that object.",
                    origin_of(stmt),
                    advice,
                )
            if ctx.mode != "auto":
                raise TransformError(
                    f"cannot differentiate through {callee.name}: {callee.reason}.",
                    origin_of(stmt),
                    'Register a derivative with @ag.vjp_rule, or use mode="auto" to run '
                    "this call on the tape.",
                )
            anno.set(
                stmt,
                anno.Key.CALLEE,
                Callee(
                    "fallback",
                    callee.name,
                    callee.value,
                    receiver=callee.receiver,
                    reason=callee.reason,
                ),
            )
            ctx.note_fallback(callee.name, origin_of(stmt), callee.reason)
    effects.check(node, ctx, varied)
    return node


def annotate(node: gast.FunctionDef, ctx: TransformContext) -> list[gast.stmt]:
    """Set what each core statement calls, and the kind of every name (``ctx.kinds``)."""
    statements = list(dataflow.statements(node.body))
    stopped = _stopped_statements(node.body, ctx)
    ctx.object_kinds = object_kinds(statements, ctx)
    for stmt in statements:
        value = _value_of(stmt)
        called = method_call(value, ctx) if value is not None else None
        if called is not None:  # obj.method(a) as Layer.method(obj, a) (issue 17)
            note_method(ctx, value, called, stmt)
            stmt.value = value = called
        if value is not None:
            if is_build(value, ctx):
                callee = BUILD
            elif is_field_store(value, ctx):
                callee = FIELD_STORE
            else:
                callee = callee_of(value, ctx, stmt)
            if id(stmt) in stopped:
                callee = STOPPED
            anno.set(stmt, anno.Key.CALLEE, callee)
    check_field_stores(statements, ctx)
    check_operators(statements, ctx)
    if drop_unread_supers(node, ctx):  # (their calls now name the base class's function)
        statements = list(dataflow.statements(node.body))
    refuse_unfollowed_owners(statements, ctx)
    _infer_kinds(statements, ctx)
    return statements


def _slices_a_list(stmt: gast.stmt, sequences: set[str]) -> bool:
    """Whether ``stmt`` is ``xs[a:b] = ...`` on a name that may hold a list."""
    target = stmt.targets[0] if isinstance(stmt, gast.Assign) else None
    return (
        isinstance(target, gast.Subscript)
        and isinstance(target.value, gast.Name)
        and target.value.id in sequences
        and isinstance(target.slice, gast.Slice)
    )


def _joins_sequences(stmt: gast.stmt, sequences: set[str]) -> bool:
    """Whether ``stmt`` may be ``a + b`` or ``a * n`` on lists or tuples."""
    value = _value_of(stmt)
    return isinstance(value, gast.BinOp) and _may_join(value, sequences)


def _may_join(value: gast.BinOp, sequences: set[str]) -> bool:
    def sequence(node: gast.expr) -> bool:
        return isinstance(node, (gast.List, gast.Tuple)) or (
            isinstance(node, gast.Name) and node.id in sequences
        )

    def count(node: gast.expr) -> bool:  # what may repeat a sequence: not a float
        return not (isinstance(node, gast.Constant) and not isinstance(node.value, int))

    if isinstance(value.op, gast.Add):
        return sequence(value.left) and sequence(value.right)
    if isinstance(value.op, gast.Mult):
        return (sequence(value.left) and count(value.right)) or (
            sequence(value.right) and count(value.left)
        )
    return False


def _maybe_sequences(statements: list[gast.stmt], ctx: TransformContext) -> set[str]:
    """Names that may hold a list or tuple at some point: displays, list()/tuple() and
    sorted() results, container parameters, and what `+`/`*` make of them (a name may be a
    list in one assignment and an array in another, which its kind does not tell)."""
    found = {n for n, kind in ctx.kinds.items() if kind[0] in ("list", "tuple")}
    # (a list argument rebound to what `+` makes of it: its kind joins to unknown)
    found |= {n for n, kind in ctx.param_kinds.items() if kind[:1] in (("list",), ("tuple",))}
    makers = (list, tuple, sorted)
    changed = True
    while changed:
        changed = False
        for stmt in statements:
            if not (isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name)):
                continue
            name, value = stmt.targets[0].id, stmt.value
            if name in found:
                continue
            callee = anno.get(stmt, anno.Key.CALLEE)
            if (
                isinstance(value, (gast.List, gast.Tuple))
                or (isinstance(value, gast.Name) and value.id in found)
                or (isinstance(value, gast.BinOp) and _may_join(value, found))
                or any(getattr(callee, "value", None) is maker for maker in makers)
            ):
                found.add(name)
                changed = True
    return found


def _object_carrying_gradient(
    stmt: gast.stmt, callee: Callee, varied: set[str], ctx: TransformContext
) -> str | None:
    """The local name a call runs on when it carries a gradient the tape call would not
    see: an object called itself (``layer(x)``), or the receiver of a method that is not an
    array, list, tuple or dict (those the tape call gets as an argument); else None."""
    value = _value_of(stmt)
    func = value.func if isinstance(value, gast.Call) else None
    if isinstance(func, gast.Name) and func.id in varied:
        return func.id
    receiver = callee.receiver
    if isinstance(receiver, gast.Name) and receiver.id in varied:
        if ctx.kinds.get(receiver.id, ("unknown",))[0] == "unknown":
            return receiver.id
    return None


def _makes_iterator(callee: Callee) -> bool:
    """Whether ``callee`` is ``iter`` or a class of iterators (``zip``, ``map``,
    ``reversed``, ``filter``, itertools' ...)."""
    value = callee.value
    if value is iter:
        return True
    return isinstance(value, type) and issubclass(value, collections.abc.Iterator)


def _stopped_statements(stmts: list[gast.stmt], ctx: TransformContext) -> set[int]:
    """Statements inside ``with ag.no_grad():`` (or ``set_grad_enabled(False)``)."""
    from ..runtime.grad_mode import no_grad, set_grad_enabled

    found: set[int] = set()
    for stmt in dataflow.statements(stmts):
        if isinstance(stmt, gast.With):
            for item in stmt.items:
                context = item.context_expr
                target = context.func if isinstance(context, gast.Call) else context
                value = static_value(target, ctx)
                disables = value is no_grad or (
                    value is set_grad_enabled
                    and isinstance(context, gast.Call)
                    and context.args
                    and isinstance(context.args[0], gast.Constant)
                    and not context.args[0].value
                )
                if disables:
                    found |= {id(s) for s in dataflow.statements(stmt.body)}
    return found


def _index_loops_over_varied(
    stmts: list[gast.stmt], varied: set[str], ctx: TransformContext
) -> bool:
    """``for v in xs`` over a differentiated sequence → a loop over indices (in place)."""
    changed = False
    for stmt in stmts:
        for field in ("body", "orelse"):
            block = getattr(stmt, field, None)
            if block:
                changed |= _index_loops_over_varied(block, varied, ctx)
        if not (
            isinstance(stmt, gast.For)
            and isinstance(stmt.iter, gast.Name)
            and stmt.iter.id in varied
        ):
            continue
        if ctx.kinds.get(stmt.iter.id, ("unknown",))[0] == "dict":
            continue  # iterating a dict gives its keys, which carry no gradient
        sequence = stmt.iter.id
        index = ctx.namer.new("index")
        ctx.local_names.add(index)
        element = gast.Assign(
            targets=[stmt.target],
            value=gast.Subscript(
                value=build.load(sequence), slice=build.load(index), ctx=gast.Load()
            ),
            type_comment=None,
        )
        length = build.call("len", build.load(sequence))
        stmt.iter = build.call("range", length)
        stmt.target = build.store(index)
        stmt.body = [element, *stmt.body]
        origin = origin_of(stmt)
        for sub in walk(element):
            anno.set(sub, anno.Key.ORIGIN, origin)
        for sub in walk(stmt.iter):
            anno.set(sub, anno.Key.ORIGIN, origin)
        changed = True
    return changed


def _value_of(stmt: gast.stmt) -> gast.expr | None:
    if isinstance(stmt, gast.Assign):
        return stmt.value
    if isinstance(stmt, gast.Expr):
        return stmt.value
    return None


def callee_of(value: gast.expr, ctx: TransformContext, stmt: gast.stmt) -> Callee:
    if isinstance(stmt, gast.Expr) and _is_append(stmt, ctx):
        return APPEND
    if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Subscript):
        return STORE  # whatever is stored: what it overwrites loses its gradient
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
            callee = resolve_attribute(value, ctx)
            if callee.kind == "unknown":  # an object's attribute (issue 17)
                callee = field_callee(value, ctx) or callee
            return callee
        return CONSTANT  # a module constant such as np.pi
    if isinstance(value, gast.Subscript):
        if not isinstance(value.value, gast.Name):
            # np.r_[a, b], np.c_[a, b]: an object that builds an array out of its index,
            # whose parts may carry gradients that no subscript rule follows.
            spelled = f"{source_text(value.value)}[...]"
            return Callee("unknown", spelled, reason="it builds an array out of its index")
        return SUBSCRIPT
    if isinstance(value, (gast.Tuple, gast.List, gast.Dict)):
        return CONTAINER
    return Callee("unknown", type(value).__name__, reason="unsupported expression")


def _is_append(stmt: gast.stmt, ctx: TransformContext) -> bool:
    value = stmt.value
    return (
        isinstance(value, gast.Call)
        and isinstance(value.func, gast.Attribute)
        and value.func.attr == "append"
        and isinstance(value.func.value, gast.Name)
        and value.func.value.id in ctx.local_names
        and len(value.args) == 1
        and not value.keywords
    )


def differentiable_reads(stmt: gast.stmt) -> set[str]:
    """Names whose gradient the statement's value can carry."""
    value = _value_of(stmt)
    callee = anno.get(stmt, anno.Key.CALLEE)
    if value is None or callee is None or callee.kind in ("nondiff", "constant"):
        return set()
    if callee is SUBSCRIPT:
        return dataflow.reads(value.value)
    if callee is STORE:
        return dataflow.reads(value) | {stmt.targets[0].value.id}
    if callee is APPEND:
        return {stmt.value.func.value.id} | dataflow.reads(stmt.value.args[0])
    if callee.kind == "rule":
        return _rule_reads(value, callee)
    return dataflow.reads(value)


def _rule_reads(value: gast.expr, callee: Callee) -> set[str]:
    template = callee.rule.template
    operands = list(enumerate(operand_atoms(value, callee)))
    # Keyword arguments carry gradients too (np.average(a, weights=w)): at their
    # parameter's position in the rule.
    params = callee.rule.param_names
    for keyword in value.keywords if isinstance(value, gast.Call) else []:
        if keyword.arg in params:
            operands.append((params.index(keyword.arg), keyword.value))
        elif keyword.arg is not None:
            operands.append((len(params), keyword.value))  # no rule output: fails loudly later
    if template is None:
        return {n for _, atom in operands for n in dataflow.reads(atom)}
    names = set()
    refused = callee.rule.refused  # (no gradient there, though not zero: the pass refuses)
    for position, atom in operands:
        if (
            position >= len(template.outputs)
            or template.outputs[position] is not None
            or position in refused
        ):
            names |= dataflow.reads(atom)
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


def _flows(statements: list[gast.stmt]) -> list[tuple[set[str], set[str]]]:
    """(names read with a gradient, names written) per statement: the edges both fixpoints
    below follow, found once rather than in every round."""
    return [(differentiable_reads(stmt), dataflow.changed_names(stmt)) for stmt in statements]


def _varied(statements: list[gast.stmt], ctx: TransformContext) -> set[str]:
    varied = set(ctx.wrt)
    flows = _flows(statements)
    changed = True
    while changed:
        changed = False
        for reads, writes in flows:
            if reads & varied:
                new = writes - varied
                if new:
                    varied |= new
                    changed = True
    return varied


def _useful(statements: list[gast.stmt], node: gast.FunctionDef, ctx: TransformContext) -> set[str]:
    useful: set[str] = set()
    for stmt in statements:
        if isinstance(stmt, gast.Return):
            useful |= dataflow.reads(stmt.value)
    flows = _flows(statements)
    changed = True
    while changed:
        changed = False
        for reads, writes in reversed(flows):  # one round for code without loops
            if writes & useful:
                new = reads - useful
                if new:
                    useful |= new
                    changed = True
    return useful


def _infer_kinds(statements: list[gast.stmt], ctx: TransformContext) -> None:
    """The kind of every name; a name assigned values of different kinds is "unknown"."""
    kinds: dict[str, tuple] = {param: ("value",) for param in ctx.parsed.params}
    kinds.update(ctx.param_kinds)
    fixed = set(kinds)
    found: dict[str, set] = {}

    def record(name: str, kind: tuple) -> None:
        found.setdefault(name, set()).add(kind[0])

    for _ in range(2):  # twice: a copy may come before the name it copies is known
        for stmt in statements:
            if isinstance(stmt, gast.For) and isinstance(stmt.target, gast.Name):
                record(stmt.target.id, ("unknown",))
            if not isinstance(stmt, gast.Assign) or isinstance(stmt.targets[0], gast.Subscript):
                continue
            target, value = stmt.targets[0], stmt.value
            if isinstance(target, gast.Tuple):
                source_kind = (
                    kinds.get(value.id, ("unknown",))[0]
                    if isinstance(value, gast.Name)
                    else "unknown"
                )
                for element in target.elts:
                    record(element.id, ("value",) if source_kind == "value" else ("unknown",))
                continue
            record(target.id, _kind_of(stmt, value, kinds, ctx))
        for name, seen in found.items():
            if name in fixed:
                if kinds[name][0] not in seen or len(seen) > 1:
                    kinds[name] = ("unknown",)  # a parameter reassigned with another kind
            else:
                kinds[name] = (seen.pop(),) if len(seen) == 1 else ("unknown",)
        found.clear()
    ctx.kinds = kinds


def _kind_of(stmt: gast.Assign, value: gast.expr, kinds: dict, ctx: TransformContext) -> tuple:
    if isinstance(value, gast.Tuple):
        return ("tuple",)
    if isinstance(value, gast.List):
        return ("list",)
    if isinstance(value, gast.Dict):
        return ("dict",)
    if isinstance(value, gast.Name):
        return kinds.get(value.id, ("value",) if value.id not in ctx.local_names else ("unknown",))
    if isinstance(value, gast.Constant):
        return ("value",)
    callee = anno.get(stmt, anno.Key.CALLEE)
    if callee is SUBSCRIPT:
        container = value.value.id if isinstance(value.value, gast.Name) else None
        return ("value",) if kinds.get(container, ("unknown",))[0] == "value" else ("unknown",)
    if callee is not None and callee.kind == "user" and ctx.return_kind is not None:
        return ctx.return_kind(callee.value)
    if callee is not None and callee.kind in ("rule", "nondiff", "constant") or is_opaque(value):
        return ("value",)
    if isinstance(value, gast.BinOp):
        left = (
            kinds.get(value.left.id, ("value",))
            if isinstance(value.left, gast.Name)
            else ("value",)
        )
        return left if left[0] in ("list", "tuple", "unknown") else ("value",)
    return ("unknown",)

"""Inline a rule's body at a call site.

The rule's parameters are bound to the call's operands exactly as Python binds the
primitive's (positional, keyword, defaults); ``g`` becomes the adjoint of the result and
``ans`` the result. The rule's prelude locals get fresh names and the globals it reads are
bound to names the generated code can see. Only the gradient expressions of operands that
need one are produced. A few local simplifications keep the result close to what a person
would write: no ``unbroadcast`` where the operand has the result's shape (the other
operands are Python numbers, or share its shape), constant arithmetic folded, ``x ** 1``
is ``x``. The rule's parse and the leaving out of ``unbroadcast`` are those of
``runtime.rules.templates``, which the tape's kernels use too.
"""

from __future__ import annotations

import copy
import numbers
from dataclasses import dataclass
from typing import Any

import gast
import numpy as np

from ..runtime.rules.forward import tangent_name
from ..runtime.rules.registry import Rule
from ..runtime.rules.registry import lookup as lookup_rule
from ..runtime.rules.results import add_results
from ..runtime.rules.templates import gradient
from . import algebra, build, products, shapes
from .context import TransformContext
from .defaults import at_defaults, at_defaults_shared
from .errors import TransformError
from .origin import Origin
from .resolve import Callee
from .walk import copy_tree, rewrite, walk


@dataclass
class InlinedAdjoint:
    prelude: list[gast.stmt]
    #: operand position -> gradient expression
    gradients: dict[int, gast.expr]


def bind_operands(
    callee: Callee,
    operands: list[gast.expr],
    keywords: list[gast.keyword],
    origin: Origin | None,
    computed_dtype: bool = False,
) -> dict[str, gast.expr]:
    """Map each rule parameter to the atom (or default) it takes at this call.
    ``computed_dtype``: a ``dtype=`` the transform cannot read is let through (the caller
    then checks the result's dtype at run time: :func:`needs_dtype_check`)."""
    rule = callee.rule
    params = rule.param_names
    signature = rule.signature
    if callee.pack_args and len(operands) > 2:
        operands = [operands[0], gast.Tuple(elts=list(operands[1:]), ctx=gast.Load())]
    elif callee.pack_args and len(operands) == 1 and rule.param_names[1:2]:
        operands = [operands[0], gast.Constant(None, None)]
    if any(isinstance(o, gast.Starred) for o in operands) or any(k.arg is None for k in keywords):
        raise TransformError(
            f"{callee.name}(*args) or (**kwargs): the transform binds arguments to "
            f"{rule.name}'s derivative statically and cannot with starred arguments.",
            origin,
            'Pass the arguments one by one, or use mode="auto".',
        )
    bound: dict[str, gast.expr] = {}
    positional = [
        p
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(operands) > len(positional):
        raise TransformError(
            f"{callee.name} got {len(operands)} positional arguments; astgrad's rule "
            f"{rule.name} takes at most {len(positional)}.",
            origin,
        )
    for param, operand in zip(positional, operands):
        bound[param.name] = operand
    for keyword in keywords:
        if keyword.arg not in params:
            raise TransformError(
                f"{callee.name}(..., {keyword.arg}=...): astgrad's rule for {rule.name} does "
                f"not handle the argument {keyword.arg!r}.",
                origin,
                "Compute without it, or register a fuller rule with @ag.vjp_rule.",
            )
        if keyword.arg in bound:
            raise TransformError(f"{callee.name} got {keyword.arg!r} twice", origin)
        bound[keyword.arg] = keyword.value
    for param in signature.parameters.values():
        if param.name not in bound:
            if param.default is param.empty:
                raise TransformError(
                    f"{callee.name} is missing the argument {param.name!r}", origin
                )
            bound[param.name] = _constant_or_free(param.default)
            bound[param.name].defaulted_ = True  # (the call does not pass it: see defaults)
    if not (computed_dtype and needs_dtype_check(rule, bound)):
        check_result_dtype(callee, rule, bound.get("dtype"), origin)
    return bound


def check_result_dtype(callee: Callee, rule: Rule, dtype: gast.expr | None, origin: Origin) -> None:
    """Refuse an optional ``dtype`` argument the transform cannot see is a float or complex
    dtype: a result computed in integers (``np.sum(x, dtype=int)``) carries no gradient,
    which the rules, written for the float result, would give it all the same. (The tape
    sees the result's dtype, and gives none.) Source mode lets a computed one through
    (``dtype=x.dtype``), checked at run time: :func:`needs_dtype_check`."""
    param = rule.signature.parameters.get("dtype")
    if dtype is None or param is None or param.default is not None or _inexact_dtype(dtype):
        return
    raise TransformError(
        f"{callee.name}(..., dtype=...): the transform cannot tell that the dtype is a float "
        "or complex one, and a result of integers carries no gradient.",
        origin,
        'Spell it as a constant (dtype=np.float32), or use mode="auto".',
    )


def _inexact_dtype(expr: gast.expr) -> bool:
    """Whether ``expr`` is None or spells a float or complex dtype (``float``,
    ``np.float32``, ``"float64"``)."""
    if isinstance(expr, gast.Constant):
        if expr.value is None:
            return True
        value = expr.value
    elif isinstance(expr, gast.Name) and expr.id in ("float", "complex"):
        return True
    elif (
        isinstance(expr, gast.Attribute)
        and isinstance(expr.value, gast.Name)
        and expr.value.id in ("np", "numpy")
    ):
        value = getattr(np, expr.attr, None)
    else:
        return False
    try:
        return np.dtype(value).kind in "fc"
    except TypeError:
        return False


def needs_dtype_check(rule: Rule, bound: dict[str, gast.expr]) -> bool:
    """Whether the call's ``dtype=`` is computed (``x.dtype``, a name), not spelled as a
    dtype the transform can read: its gradient is then checked at run time (source mode;
    auto mode runs the call on the tape)."""
    param = rule.signature.parameters.get("dtype")
    dtype = bound.get("dtype")
    if param is None or param.default is not None or dtype is None:
        return False
    if getattr(dtype, "defaulted_", False) or _inexact_dtype(dtype):
        return False
    # a dtype spelled out (int, np.int32, "i8") is known: refused, not checked
    return not (
        isinstance(dtype, gast.Constant)
        or (isinstance(dtype, gast.Name) and dtype.id in ("int", "bool", "float", "complex"))
        or (
            isinstance(dtype, gast.Attribute)
            and isinstance(dtype.value, gast.Name)
            and dtype.value.id in ("np", "numpy")
        )
    )


def checked_dtype(
    gradient: gast.expr, ans: gast.expr, ctx: TransformContext, origin: Origin | None
) -> gast.expr:
    """``gradient`` handed on by the run-time check of a computed ``dtype=``
    (``runtime.dtype_guard.inexact_result``)."""
    from ..runtime.dtype_guard import inexact_result

    where = f"{origin.filename}:{origin.line}" if origin is not None else "a call"
    helper = ctx.bind_free("inexact_result", inexact_result)
    return build.call(helper, gradient, copy_tree(ans), gast.Constant(where, None))


_FREE_DEFAULT = "__astgrad_free_default__"


def _constant_or_free(value: Any) -> gast.expr:
    if value is None or isinstance(value, (bool, int, float, str)):
        return gast.Constant(value, None)
    node = build.load(_FREE_DEFAULT)
    node.value_ = value  # resolved to a free name by _substitute
    return node


def inline(
    callee: Callee,
    operands: list[gast.expr],
    keywords: list[gast.keyword],
    g: gast.expr,
    ans: gast.expr,
    wanted: list[int],
    ctx: TransformContext,
    origin: Origin | None,
    in_loop: bool = False,
) -> InlinedAdjoint:
    """Gradient expressions for the operand positions in ``wanted``; ``in_loop``: the call
    is in a loop's body (see ``products.contraction_gradient``)."""
    rule = callee.rule
    template = rule.template
    # (auto mode runs such a call on the tape; a rule called, not inlined, is not checked)
    computed_dtype = ctx.mode == "source" and template is not None
    bound = bind_operands(callee, operands, keywords, origin, computed_dtype)
    if template is None:
        return _called(rule, bound, g, ans, wanted, ctx)
    renames: dict[str, gast.expr] = {"g": g, "ans": ans, **bound}
    namespace = rule.vjp.__globals__
    prelude: list[gast.stmt] = []
    for stmt in template.prelude_for(wanted):
        local = stmt.targets[0].id
        fresh = ctx.namer.new(local)
        value = at_defaults_shared(stmt.value, rule, bound, namespace)
        value = fold_constants(_substitute(value, renames, rule, ctx))
        renames[local] = build.load(fresh)
        prelude.append(
            gast.Assign(
                targets=[build.store(fresh)],
                value=value,
                type_comment=None,
            )
        )
    gradients = {}
    for position in wanted:
        if position < len(template.outputs) and template.outputs[position] is not None:
            # (a product the rule's helper would compute: written as the product itself)
            expression = products.einsum_gradient(rule.primitive, bound, position, g, ctx)
            if expression is None:
                expression = products.contraction_gradient(
                    rule.primitive, bound, position, g, ctx, in_loop
                )
            if expression is None and not keywords:
                expression = products.outer_gradient(rule.primitive, operands, position, g, ctx)
            if expression is None:
                expression = _from_template(callee, operands, position, bound, renames, ctx)
                expression = products.without_flattening(rule.primitive, operands, expression, ctx)
            if computed_dtype and needs_dtype_check(rule, bound):
                expression = checked_dtype(expression, ans, ctx, origin)
            gradients[position] = expression
    return InlinedAdjoint(prelude, gradients)


def _from_template(
    callee: Callee,
    operands: list[gast.expr],
    position: int,
    bound: dict[str, gast.expr],
    renames: dict[str, gast.expr],
    ctx: TransformContext,
) -> gast.expr:
    """The rule template's gradient for ``position``, its names bound to this call's."""
    rule = callee.rule
    namespace = rule.vjp.__globals__
    same = _has_result_shape(callee, operands, position, ctx)
    expression = gradient(rule.template, position, namespace, same)
    if position == 1 and rule.vjp is _TRUE_DIVIDE and _is_value(bound.get("x"), 1):
        expression = _reciprocal_gradient(expression)  # (a new tree: not shared)
        expression = at_defaults(expression, rule, bound, namespace)
    else:  # (the template's own: made once, copied by _substitute)
        expression = at_defaults_shared(expression, rule, bound, namespace)
    expression = _substitute(expression, renames, rule, ctx)
    return fold_constants(_drop_default_arguments(expression, ctx))


def _reciprocal_gradient(expression: gast.expr) -> gast.expr:
    """``1 / y``'s gradient ``-g * ans / y`` as ``-g * ans * ans``: ``ans / y`` is ``ans
    * ans`` to rounding when ``ans`` is ``1 / y``, and a product costs a few cycles where
    a division costs a dozen or more (a loop's compiled gradient: Lennard-Jones's 1 / r2 ** 3
    gradient about 12% faster)."""

    def reciprocal(node: gast.AST) -> gast.AST:
        if (
            isinstance(node, gast.BinOp)
            and isinstance(node.op, gast.Div)
            and isinstance(node.right, gast.Name)
            and node.right.id == "y"
            and isinstance(node.left, gast.BinOp)
            and isinstance(node.left.op, gast.Mult)
            and isinstance(node.left.right, gast.Name)
            and node.left.right.id == "ans"
        ):
            return gast.BinOp(left=node.left, op=gast.Mult(), right=build.load("ans"))
        return node

    return rewrite(copy_tree(expression), reciprocal)


_TRUE_DIVIDE = lookup_rule(np.true_divide).vjp


def inline_tangent(
    callee: Callee,
    operands: list[gast.expr],
    keywords: list[gast.keyword],
    ans: gast.expr,
    tangents: dict[int, gast.expr],
    ctx: TransformContext,
    origin: Origin | None,
) -> tuple[list[gast.stmt], gast.expr]:
    """The forward rule of ``callee`` inlined at a call site: the prelude statements and
    the sum of the contributions of the operand positions in ``tangents`` (each the
    expression of that operand's tangent). Only an ``"elementwise"`` or ``"explicit"``
    forward rule is inlined; a linear one is the call itself, made by the caller."""
    rule = callee.rule
    forward = rule.forward
    bound = bind_operands(callee, operands, keywords, origin)
    renames: dict[str, gast.expr] = {"ans": ans, **bound}
    for position, tangent in tangents.items():
        renames[tangent_name(forward.params[position])] = tangent
    namespace = forward.namespace
    contributions = {
        position: at_defaults(forward.contributions[position], rule, bound, namespace)
        for position in tangents
    }
    wanted = set()
    for contribution in contributions.values():
        wanted |= {n.id for n in walk(contribution) if isinstance(n, gast.Name)}
    needed = []
    for stmt in reversed(forward.prelude):
        if stmt.targets[0].id in wanted:
            value = at_defaults(stmt.value, rule, bound, namespace)
            needed.append((stmt.targets[0].id, value))
            wanted |= {n.id for n in walk(value) if isinstance(n, gast.Name)}
    prelude: list[gast.stmt] = []
    for local, value in reversed(needed):
        fresh = ctx.namer.new(local)
        value = fold_constants(_substitute(value, renames, rule, ctx, namespace))
        renames[local] = build.load(fresh)
        prelude.append(build.assign(fresh, value))
    total: gast.expr | None = None
    for position in sorted(tangents):
        part = _substitute(contributions[position], renames, rule, ctx, namespace)
        part = fold_constants(_drop_default_arguments(part, ctx))
        if total is None:
            total = part
        elif rule.multi_output:
            # tuples, one tangent per result: added result by result (+ would join them)
            total = build.call(ctx.bind_free("add_results", add_results), total, part)
        elif isinstance(part, gast.UnaryOp) and isinstance(part.op, gast.USub):
            total = gast.BinOp(left=total, op=gast.Sub(), right=part.operand)  # a - b
        else:
            total = gast.BinOp(left=total, op=gast.Add(), right=part)
    assert total is not None
    # x * x sends dx * x + dx * x: like terms added up, common factors out (as fuse does
    # for the backward pass's sums)
    return prelude, algebra.simplify(total)


def _called(
    rule: Rule, bound: dict, g: gast.expr, ans: gast.expr, wanted: list[int], ctx: TransformContext
) -> InlinedAdjoint:
    """A rule too complex to inline: call it, and pick the gradients out of its result."""
    vjp_name = ctx.bind_free(rule.vjp.__name__, rule.vjp)
    args = [copy.deepcopy(g), copy.deepcopy(ans)]
    keywords = [gast.keyword(arg=name, value=copy.deepcopy(value)) for name, value in bound.items()]
    call = gast.Call(
        func=build.load(vjp_name), args=args, keywords=_resolve_defaults(keywords, ctx)
    )
    result = ctx.namer.new(f"{rule.name}_grads")
    stmt = gast.Assign(targets=[build.store(result)], value=call, type_comment=None)
    gradients = {}
    for position in wanted:
        gradients[position] = gast.Subscript(
            value=gast.Call(
                func=build.load(ctx.bind_free("as_tuple", _as_tuple)),
                args=[build.load(result)],
                keywords=[],
            ),
            slice=gast.Constant(position, None),
            ctx=gast.Load(),
        )
    return InlinedAdjoint([stmt], gradients)


def _as_tuple(value: Any) -> tuple:
    return value if isinstance(value, tuple) else (value,)


def _resolve_defaults(keywords: list[gast.keyword], ctx: TransformContext) -> list[gast.keyword]:
    for keyword in keywords:
        if isinstance(keyword.value, gast.Name) and keyword.value.id == _FREE_DEFAULT:
            keyword.value = build.load(ctx.bind_free("default", keyword.value.value_))
    return keywords


def _substitute(
    node: gast.expr,
    renames: dict[str, gast.expr],
    rule: Rule,
    ctx: TransformContext,
    namespace: dict | None = None,
) -> gast.expr:
    """A copy of the template expression ``node``, its names renamed (one pass: this runs
    for every gradient of every call site); other names are the globals of ``namespace``
    (the vjp rule's module by default)."""
    if namespace is None:
        namespace = rule.vjp.__globals__

    def rename(sub: gast.AST) -> gast.AST | None:
        if not isinstance(sub, gast.Name):
            return None
        if sub.id in renames:
            replacement = renames[sub.id]
            if isinstance(replacement, gast.Name) and replacement.id == _FREE_DEFAULT:
                return build.load(ctx.bind_free("default", replacement.value_))
            return copy_tree(replacement)
        if sub.id in namespace:
            return build.load(ctx.bind_free(sub.id, namespace[sub.id]))
        return None  # a builtin: copied as it is

    return copy_tree(node, rename)


# -- simplification ------------------------------------------------------------------


def _has_result_shape(
    callee: Callee, operands: list[gast.expr], position: int, ctx: TransformContext
) -> bool:
    """Whether the operand at ``position`` surely has the result's shape, so that the
    rule's outer ``unbroadcast`` for it is the gradient itself: for ufuncs (and np.clip,
    and np.where of three), whose result has the broadcast shape of the operands, when the
    others are numbers or known to share its shape, or are the same name (``u * u``,
    whatever ``u``'s shape). (A bound of np.clip left out, None, takes no part.)"""
    primitive = callee.rule.primitive
    elementwise = isinstance(primitive, np.ufunc) or primitive is np.clip
    if not (elementwise or (primitive is np.where and len(operands) == 3)):
        return False
    if position >= len(operands):
        return False
    mine = shapes.class_of(operands[position], ctx.shape_classes)
    if mine is not None and shapes.elementwise_class(operands, ctx.shape_classes) == mine:
        return True
    others = [
        o
        for i, o in enumerate(operands)
        if i != position and not (isinstance(o, gast.Constant) and o.value is None)
    ]
    mine = operands[position]
    same_name = isinstance(mine, gast.Name)
    return bool(others) and all(
        is_number(o)
        or is_negated_number(o)
        or (same_name and isinstance(o, gast.Name) and o.id == mine.id)
        for o in others
    )


def _drop_default_arguments(expression: gast.expr, ctx: TransformContext) -> gast.expr:
    """``expand_reduced(g, x, None, False)`` reads better as ``expand_reduced(g, x)``."""
    known = {**ctx.resolved_globals, **ctx.free_values}
    for call in walk(expression):
        if not (isinstance(call, gast.Call) and isinstance(call.func, gast.Name)):
            continue
        function = known.get(call.func.id)
        defaults = getattr(function, "__defaults__", None)
        code = getattr(function, "__code__", None)
        if not defaults or code is None:
            continue
        names = code.co_varnames[: code.co_argcount]
        first_default = len(names) - len(defaults)
        while call.args and len(call.args) > first_default:
            last = call.args[-1]
            default = defaults[len(call.args) - 1 - first_default]
            if (
                isinstance(last, gast.Constant)
                and type(last.value) is type(default)
                and last.value == default
            ):
                call.args.pop()
            else:
                break
    return expression


def is_number(node: gast.expr) -> bool:
    return (
        isinstance(node, gast.Constant)
        and isinstance(node.value, numbers.Number)
        and not isinstance(node.value, bool)
    )


def is_negated_number(node: gast.expr) -> bool:
    """``-0.5``, which Python parses as the negation of a number."""
    return (
        isinstance(node, gast.UnaryOp)
        and isinstance(node.op, gast.USub)
        and is_number(node.operand)
    )


def fold_constants(expression: gast.expr) -> gast.expr:
    """Fold arithmetic and comparisons on numbers and drop arithmetic identities
    (``e * 1``, ``x ** 1``)."""
    return rewrite(expression, _fold)


def _fold(node: gast.AST) -> gast.AST:
    """One step of :func:`fold_constants`, on a node whose operands are folded already."""
    if isinstance(node, gast.BinOp):
        left, right, op = node.left, node.right, node.op
        if is_number(left) and is_number(right):
            try:
                value = _OPERATORS[type(op)](left.value, right.value)
            except (KeyError, ArithmeticError):
                return node
            if isinstance(value, complex):
                return node  # (1 + 1j stays as written: no sign to take out)
            if (
                isinstance(value, float)
                and value.is_integer()
                and isinstance(left.value, int)
                and isinstance(right.value, int)
                and not isinstance(op, gast.Div)
            ):
                value = int(value)
            if value < 0:
                return gast.UnaryOp(op=gast.USub(), operand=gast.Constant(-value, None))
            return gast.Constant(value, None)
        if isinstance(op, gast.Pow) and _is_value(right, 1):
            return left
        if isinstance(op, gast.Mult):
            if _is_value(right, 1):
                return left
            if _is_value(left, 1):
                return right
        if isinstance(op, gast.Div) and _is_value(right, 1):
            return left
        if isinstance(op, (gast.Add, gast.Sub)) and _is_value(right, 0):
            return left
        return node
    if (
        isinstance(node, gast.Compare)
        and len(node.ops) == 1
        and type(node.ops[0]) in _COMPARISONS
        and is_number(node.left)
        and is_number(node.comparators[0])
    ):
        # As a number, so that arithmetic around it folds too: ``y - (y != 0)`` in power's
        # rule is ``1`` for ``y = 2``, and ``x ** 1`` then ``x``.
        return gast.Constant(
            int(_COMPARISONS[type(node.ops[0])](node.left.value, node.comparators[0].value)), None
        )
    if isinstance(node, gast.UnaryOp):
        inner = node.operand
        if (
            isinstance(node.op, gast.USub)
            and isinstance(inner, gast.UnaryOp)
            and isinstance(inner.op, gast.USub)
        ):
            return inner.operand
    return node


def _is_value(node: gast.expr, value: float) -> bool:
    return is_number(node) and node.value == value


_OPERATORS = {
    gast.Add: lambda a, b: a + b,
    gast.Sub: lambda a, b: a - b,
    gast.Mult: lambda a, b: a * b,
    gast.Div: lambda a, b: a / b,
    gast.Pow: lambda a, b: a**b,
}


_COMPARISONS = {
    gast.Eq: lambda a, b: a == b,
    gast.NotEq: lambda a, b: a != b,
    gast.Lt: lambda a, b: a < b,
    gast.LtE: lambda a, b: a <= b,
    gast.Gt: lambda a, b: a > b,
    gast.GtE: lambda a, b: a >= b,
}

"""Forward-mode rules: each primitive's Jacobian-vector product, from the same table.

A rule of the table (``vjp_rule``) says how a cotangent flows back to each differentiable
argument. Its forward rule says how a tangent of each argument flows forward to the
result, as one *contribution* per differentiable argument, in the same positions; the
result's tangent is the sum of the contributions of the arguments that have a tangent
(spread over the result's shape where broadcasting made it larger). A forward rule comes
one of three ways, and :func:`forward_rule` says which:

* **elementwise** (derived): a ufunc whose every gradient is built pointwise from ``g``
  (``templates.elementwise``) has a diagonal Jacobian, so the gradient's expression with
  the argument's tangent in place of ``g``, and without its outer ``unbroadcast``, is the
  contribution: ``g * (1 - ans * ans)`` for ``tanh`` gives ``dx * (1 - ans * ans)``.
  (Complex arguments too, where the function is holomorphic, ``dx * f'(x)``; the rules
  of functions that read ``conj(x)`` have explicit forward rules: rules/complex.py.)
* **linear** (declared with :func:`linear`): a primitive linear in its first argument, the
  only one its rule differentiates (``reshape``, ``transpose``, ``sum``, indexing...): the
  contribution is the primitive applied to the tangent, the other arguments unchanged.
* **explicit** (written with :func:`jvp_rule`): ``rule(ans, *params, *, d<param>...)``,
  the primitive's parameters (same names and defaults as the vjp rule's) and, keyword
  only, a tangent ``d<param>`` per differentiable parameter; it returns one contribution
  per differentiable parameter (``None`` where the vjp rule returns ``None``), each
  reading only its own parameter's tangent. Assignments, then one ``return``, so that the
  transform can inline it as it inlines vjp rules.

>>> import numpy as np
>>> from astgrad.runtime.rules import lookup
>>> x = np.array([0.0, 1.0])
>>> tangent_of(lookup(np.tanh), np.tanh(x), (x,), {}, {0: np.ones(2)})
array([1.        , 0.41997434])
"""

from __future__ import annotations

import ast
import copy
import functools
import inspect
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gast
import numpy as np

from ..device import array_module

__all__ = ["ForwardRule", "forward_rule", "jvp_rule", "linear", "tangent_of", "tangent_name"]


def tangent_name(param: str) -> str:
    """The name of ``param``'s tangent in a forward rule: ``x`` -> ``dx``."""
    return "d" + param


@dataclass
class ForwardRule:
    """How one primitive's tangents flow forward.

    ``kind`` is ``"elementwise"``, ``"linear"`` or ``"explicit"``. ``params`` are the
    primitive's parameter names (those of the vjp rule after ``g, ans``); ``differentiable``
    the positions of those the vjp rule differentiates. For the other two kinds,
    ``prelude`` and ``contributions`` are the parsed body: assignments, and one expression
    per differentiable position (None elsewhere), reading ``ans``, the parameters and the
    tangents ``d<param>``; ``function`` evaluates them, called as
    ``function(ans, *args, **kwargs, **tangents)``, and returns them as a tuple (one
    element per position; a multi-output primitive's contribution is a tuple itself).
    """

    kind: str
    params: list[str]
    differentiable: tuple[int, ...]
    prelude: list[gast.Assign] = field(default_factory=list)
    contributions: list[gast.expr | None] = field(default_factory=list)
    function: Callable | None = None
    namespace: dict = field(default_factory=dict)


# -- declaring -----------------------------------------------------------------------------


def jvp_rule(*primitives: Callable) -> Callable[[Callable], Callable]:
    """Register the forward rule of primitives that have a vjp rule already.

    >>> import numpy as np
    >>> import astgrad as ag
    >>> def cube(x):
    ...     return x ** 3
    >>> @ag.vjp_rule(cube)
    ... def cube_vjp(g, ans, x):
    ...     return g * 3 * x ** 2
    >>> @ag.jvp_rule(cube)
    ... def cube_jvp(ans, x, *, dx):
    ...     return dx * 3 * x ** 2
    >>> ag.lookup_rule(cube).forward.kind
    'explicit'
    """
    from .registry import lookup

    def register(jvp: Callable) -> Callable:
        for primitive in primitives:
            rule = lookup(primitive)
            if rule is None:
                raise TypeError(
                    f"jvp_rule({getattr(primitive, '__name__', primitive)}): register its vjp "
                    "rule first (vjp_rule); the two directions share one table entry"
                )
            _check_signature(jvp, rule)
            rule.jvp = jvp
            rule._forward = None
        return jvp

    return register


def linear(*primitives: Callable) -> None:
    """Declare primitives linear in their first argument, the only one their vjp rules
    differentiate: the tangent of ``f(x, *rest)`` is ``f(dx, *rest)``."""
    from .registry import lookup

    for primitive in primitives:
        rule = lookup(primitive)
        if rule is None:
            raise TypeError(f"linear({primitive!r}): it has no vjp rule")
        rule.linear = True
        rule._forward = None


def _check_signature(jvp: Callable, rule: Any) -> None:
    signature = inspect.signature(jvp)
    positional = [
        p.name
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    keyword_only = [p.name for p in signature.parameters.values() if p.kind == p.KEYWORD_ONLY]
    expected = ["ans", *rule.param_names]
    if positional != expected[: len(positional)] or positional[:1] != ["ans"]:
        raise TypeError(
            f"the forward rule {jvp.__qualname__} must take (ans, {', '.join(rule.param_names)}"
            f", *, d<param>...) as {rule.name}'s vjp rule takes (g, ans, ...); it takes "
            f"{tuple(signature.parameters)}"
        )
    tangents = [p for p in keyword_only if p not in rule.param_names]
    wrong = [t for t in tangents if t[:1] != "d" or t[1:] not in rule.param_names]
    if wrong:
        raise TypeError(
            f"the forward rule {jvp.__qualname__}: keyword-only parameters {wrong} are "
            "neither the primitive's nor tangents d<param> of its parameters"
        )


# -- what each rule's forward rule is ------------------------------------------------------------


def forward_rule(rule: Any) -> ForwardRule | None:
    """The forward rule of ``rule`` (a table entry), or None when it has none."""
    from . import templates

    template = rule.template
    if template is None:
        outputs_known = None
    else:
        outputs_known = tuple(
            i
            for i, o in enumerate(template.outputs)
            if o is not None and i not in rule.forward_refused
        )
    if rule.jvp is not None:
        return _explicit(rule, outputs_known)
    if template is None or rule.multi_output:
        return None
    if rule.linear:
        if outputs_known != (0,):
            raise TypeError(
                f"{rule.name} is declared linear in its first argument, but its vjp rule "
                f"differentiates the arguments at {outputs_known}"
            )
        return ForwardRule("linear", list(rule.param_names), outputs_known)
    namespace = rule.vjp.__globals__
    source = _translation_source(rule)
    if source is not None:
        # A rule translated from a ufunc's (the ``math`` module's, on floats) is pointwise
        # where that rule is: derived from its own template, which is the ufunc rule's
        # read for the other module.
        pointwise = templates.elementwise(
            source.primitive, source.template, outputs_known, source.vjp.__globals__, logical=True
        )
    else:
        pointwise = templates.elementwise(
            rule.primitive, template, outputs_known, namespace, logical=True
        )
    if pointwise:
        return _derived_elementwise(rule, template, outputs_known, namespace)
    return None


def _translation_source(rule: Any) -> Any:
    """The table entry of the rule that ``rule``'s was translated from
    (``templates.translate``), or None."""
    from .registry import all_rules
    from .templates import translated_from

    source = translated_from(rule.vjp)
    if source is None:
        return None
    found = next((r for r in all_rules() if r.vjp is source), None)
    if found is None or found.template is None or found.multi_output:
        return None
    return found


def _explicit(rule: Any, outputs_known: tuple | None) -> ForwardRule:
    jvp = rule.jvp
    source = textwrap.dedent(inspect.getsource(jvp))
    function = gast.parse(source).body[0]
    body = list(function.body)
    if body and isinstance(body[0], gast.Expr) and isinstance(body[0].value, gast.Constant):
        body = body[1:]
    prelude = body[:-1]
    simple = all(
        isinstance(s, gast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], gast.Name)
        for s in prelude
    )
    if not simple or not body or not isinstance(body[-1], gast.Return):
        raise TypeError(
            f"the forward rule {jvp.__qualname__} must be assignments and one return, so "
            "that the transform can inline it"
        )
    returned = body[-1].value
    elements = returned.elts if isinstance(returned, gast.Tuple) else [returned]
    contributions = [
        None if isinstance(e, gast.Constant) and e.value is None else e for e in elements
    ]
    differentiable = tuple(i for i, c in enumerate(contributions) if c is not None)
    if outputs_known is not None and differentiable != outputs_known:
        raise TypeError(
            f"the forward rule {jvp.__qualname__} gives contributions at positions "
            f"{differentiable}, but {rule.name}'s vjp rule gradients at {outputs_known}"
        )
    params = list(rule.param_names)
    for position in differentiable:
        other = {tangent_name(params[p]) for p in differentiable if p != position}
        read = {n.id for n in gast.walk(contributions[position]) if isinstance(n, gast.Name)}
        if read & other:
            raise TypeError(
                f"the forward rule {jvp.__qualname__}: the contribution of {params[position]} "
                f"reads the tangents {sorted(read & other)} of other arguments"
            )
    return ForwardRule(
        "explicit",
        params,
        differentiable,
        prelude=prelude,
        contributions=contributions,
        function=jvp if isinstance(returned, gast.Tuple) else _in_a_tuple(jvp),
        namespace=jvp.__globals__,
    )


def _in_a_tuple(jvp: Callable) -> Callable:
    """``jvp``, which returns its one contribution, returning it in a tuple: a
    multi-output primitive's contribution is itself a tuple (one tangent per output)."""

    @functools.wraps(jvp)
    def contributions(*args: Any, **kwargs: Any) -> tuple:
        return (jvp(*args, **kwargs),)

    return contributions


def _derived_elementwise(
    rule: Any, template: Any, positions: tuple, namespace: dict
) -> ForwardRule:
    from .templates import gradient

    params = list(template.params)
    contributions: list[gast.expr | None] = [None] * len(template.outputs)
    for position in positions:
        expression = copy.deepcopy(gradient(template, position, namespace, True))
        tangent = tangent_name(params[position])
        for node in gast.walk(expression):
            if isinstance(node, gast.Name) and node.id == "g":
                node.id = tangent
        contributions[position] = expression
    prelude = copy.deepcopy(template.prelude)
    for stmt in prelude:
        for node in gast.walk(stmt):
            if isinstance(node, gast.Name) and node.id == "g":
                raise AssertionError(f"{rule.name}: a prelude reads g; not elementwise")
    function = _compile(rule, template, prelude, contributions, positions, namespace)
    return ForwardRule(
        "elementwise",
        params,
        positions,
        prelude=prelude,
        contributions=contributions,
        function=function,
        namespace=namespace,
    )


def _compile(
    rule: Any,
    template: Any,
    prelude: list,
    contributions: list,
    positions: tuple,
    namespace: dict,
) -> Callable:
    """A function ``(ans, *params, *, d<param>...)`` returning the contributions."""
    function = copy.deepcopy(template.function)
    function.name = f"{rule.vjp.__name__}__forward"
    function.args.args = function.args.args[1:]  # drop g
    function.args.kwonlyargs = list(function.args.kwonlyargs) + [
        gast.Name(tangent_name(template.params[p]), gast.Param(), None, None) for p in positions
    ]
    function.args.kw_defaults = list(function.args.kw_defaults) + [None] * len(positions)
    returned = [c if c is not None else gast.Constant(None, None) for c in contributions]
    function.body = [*copy.deepcopy(prelude), gast.Return(gast.Tuple(returned, gast.Load()))]
    tree = gast.gast_to_ast(gast.Module(body=[function], type_ignores=[]))
    ast.fix_missing_locations(tree)
    scope: dict[str, Any] = {}
    exec(compile(tree, f"<forward rule of {rule.name}>", "exec"), namespace, scope)
    compiled = scope[function.name]
    compiled.__defaults__ = rule.vjp.__defaults__
    return compiled


# -- evaluating ----------------------------------------------------------------------------------


def tangent_of(rule: Any, ans: Any, args: tuple, kwargs: dict, tangents: dict[int, Any]) -> Any:
    """The tangent of ``ans = primitive(*args, **kwargs)`` when the positional arguments at
    the keys of ``tangents`` move along their values: the sum of their contributions,
    spread over ``ans``'s shape. Raises NotImplementedError for a rule with no forward
    rule. (The transform inlines the same rules; this is what the tests check them by.)"""
    forward = rule.forward
    if forward is None:
        raise NotImplementedError(f"{rule.name} has no forward-mode rule")
    unknown = set(tangents) - set(forward.differentiable)
    if unknown:
        raise ValueError(f"{rule.name}: arguments {sorted(unknown)} have no derivative")
    if forward.kind == "linear":
        (position,) = forward.differentiable
        moved = list(args)
        moved[position] = tangents[position]
        total = rule.primitive(*moved, **kwargs)
    else:
        named = {}
        for p in forward.differentiable:
            tangent = tangents[p] if p in tangents else _zeros_like(_value(rule, p, args, kwargs))
            named[tangent_name(forward.params[p])] = tangent
        contributions = forward.function(ans, *args, **kwargs, **named)
        total = None
        for position in sorted(tangents):
            part = contributions[position]
            total = part if total is None else _add(total, part)
    if rule.multi_output:
        return total
    return spread_tangent(total, ans)


def spread_tangent(tangent: Any, ans: Any) -> Any:
    """``tangent`` broadcast to ``ans``'s shape (a contribution of an argument that
    broadcasting made larger has the argument's shape), in ``ans``'s float dtype.

    >>> spread_tangent(np.ones(3), np.zeros((2, 3))).shape
    (2, 3)
    """
    shape = getattr(ans, "shape", None)
    if shape is None:
        return tangent
    if getattr(tangent, "shape", None) != shape:
        tangent = array_module(tangent, ans).broadcast_to(tangent, shape)
    return tangent


def _value(rule: Any, position: int, args: tuple, kwargs: dict) -> Any:
    """The value of the primitive's parameter at ``position`` in this call: passed by
    position or by name, or its default."""
    if position < len(args):
        return args[position]
    parameter = rule.signature.parameters[rule.param_names[position]]
    return kwargs.get(parameter.name, parameter.default)


def _add(total: Any, part: Any) -> Any:
    """Two tangents summed; those of a result that is a tuple or a list (np.split's), part
    by part, where ``+`` would join them."""
    if isinstance(total, (tuple, list)):
        if not isinstance(part, (tuple, list)) or len(part) != len(total):
            raise ValueError(
                f"internal error: a tangent of {len(total)} parts summed with a "
                f"{type(part).__name__}"
            )
        return type(total)(_add(t, p) for t, p in zip(total, part))
    return total + part


def _zeros_like(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return type(value)(_zeros_like(v) for v in value)
    return array_module(value).zeros_like(value, dtype=float) if np.ndim(value) else 0.0

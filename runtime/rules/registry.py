"""The derivative rule table: each primitive's vector-Jacobian product, written once.

A rule is an ordinary function ``rule(g, ans, *args, **kwargs)``. ``g`` is the cotangent of
the primitive's result, ``ans`` the result itself, and the remaining parameters mirror the
primitive's own (same names, same defaults), so a call site binds to the rule exactly as it
binds to the primitive. It returns one gradient expression per differentiable argument, in
parameter order: a tuple when the primitive has several (``None`` for an argument with no
gradient), a single expression when it has one.

Two consumers read the same function:

* the tape calls it (or, when only some arguments need a gradient, a version of it
  specialised to one argument, compiled from the same source);
* the transform inlines its body into generated source, renaming ``g``, ``ans`` and the
  parameters to the names at the call site.

A rule can be inlined when its body is zero or more ``name = expression`` assignments
followed by one ``return``; anything else is called instead. Rules see raw arrays only
(NumPy, CuPy, ...), never tensors, and take their array module from their arguments.
"""

from __future__ import annotations

import ast
import copy
import inspect
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gast
import numpy as np

__all__ = [
    "Rule",
    "RuleTemplate",
    "vjp_rule",
    "lookup",
    "nondifferentiable",
    "is_nondifferentiable",
    "all_rules",
    "shape_only",
]

# Node names that follow PyTorch's spelling, where ours would differ (``multiply`` →
# ``MulBackward``). Everything else is the CamelCase of the rule name.
_NODE_NAMES = {
    "add": "Add",
    "subtract": "Sub",
    "multiply": "Mul",
    "true_divide": "Div",
    "divide": "Div",
    "negative": "Neg",
    "power": "Pow",
    "matmul": "MatMul",
    "getitem": "Index",
    "absolute": "Abs",
}

# Functions whose listed positions read only an argument's shape and dtype, never its
# values. The tape skips the in-place check for such uses; the transform need not keep the
# value alive for them.
_SHAPE_ONLY_ATTRIBUTES = frozenset({"shape", "ndim", "dtype", "size"})
_SHAPE_ONLY_NUMPY = {
    "shape": (0,),
    "ndim": (0,),
    "size": (0,),
    "zeros_like": (0,),
    "ones_like": (0,),
    "empty_like": (0,),
    "full_like": (0,),
}


def shape_only(*positions: int) -> Callable[[Callable], Callable]:
    """Mark a rule helper whose arguments at ``positions`` are read for shape only."""

    def mark(helper: Callable) -> Callable:
        helper.__astgrad_shape_only__ = frozenset(positions)
        return helper

    return mark


@dataclass
class RuleTemplate:
    """A rule's body, parsed once, in the form the transform inlines.

    ``params`` are the parameter names after ``g`` and ``ans``; ``prelude`` the
    assignments before the return; ``outputs`` one expression (or None) per differentiable
    parameter, in order. All nodes are gast nodes; consumers must copy before mutating.
    """

    function: gast.FunctionDef
    params: list[str]
    prelude: list[gast.Assign]
    outputs: list[gast.expr | None]
    value_reads: frozenset[str]
    names_read: frozenset[str]
    first_line: int
    filename: str
    _specialised: dict[int, Callable] = field(default_factory=dict)
    _needed: dict[int, list[gast.Assign]] = field(default_factory=dict)

    def needed_prelude(self, output_index: int) -> list[gast.Assign]:
        """The prelude assignments that output ``output_index`` depends on."""
        # Asked at every call site the transform inlines the rule at: found once.
        kept = self._needed.get(output_index)
        if kept is None:
            needed = _names_in(self.outputs[output_index])
            kept = []
            for stmt in reversed(self.prelude):
                target = stmt.targets[0].id
                if target in needed:
                    kept.append(stmt)
                    needed.discard(target)
                    needed |= _names_in(stmt.value)
            kept.reverse()
            self._needed[output_index] = kept
        return list(kept)


class Rule:
    """One entry of the table: a primitive and its vector-Jacobian product."""

    def __init__(
        self,
        primitive: Callable,
        vjp: Callable,
        name: str,
        node_name: str,
        multi_output: bool,
        inline: bool,
    ) -> None:
        self.primitive = primitive
        self.vjp = vjp
        self.name = name
        self.node_name = node_name
        self.multi_output = multi_output
        self.inline = inline
        self.signature = _signature_without_seed(vjp)
        self.param_names = list(self.signature.parameters)
        self._template: RuleTemplate | None | bool = False
        #: filled in by the tape: the Node subclass named ``<Op>Backward``
        self.node_class: type | None = None

    def __repr__(self) -> str:
        return f"<rule {self.name} for {describe(self.primitive)}>"

    @property
    def template(self) -> RuleTemplate | None:
        """The parsed body, or None when the rule must be called rather than inlined."""
        if self._template is False:
            self._template = _parse_template(self) if self.inline else None
        return self._template  # type: ignore[return-value]

    @property
    def value_params(self) -> frozenset[str]:
        """Parameters (and ``ans``) whose values, not just shapes, the rule reads."""
        template = self.template
        if template is None:
            return frozenset(self.param_names) | {"ans"}
        return template.value_reads

    @property
    def n_grads(self) -> int | None:
        """How many gradient expressions the rule returns (None when it is called, not parsed)."""
        template = self.template
        return None if template is None else len(template.outputs)

    @property
    def uses_ans(self) -> bool:
        template = self.template
        return template is None or "ans" in template.names_read

    def specialised(self, index: int) -> Callable:
        """A function with the rule's signature that returns only gradient ``index``."""
        template = self.template
        if template is None:
            vjp = self.vjp

            def select(*args: Any, **kwargs: Any) -> Any:
                grads = vjp(*args, **kwargs)
                return grads[index] if isinstance(grads, tuple) else grads

            return select
        cached = template._specialised.get(index)
        if cached is None:
            cached = template._specialised[index] = _compile_specialised(self, template, index)
        return cached


_RULES: dict[Any, Rule] = {}
_NONDIFFERENTIABLE: set[Any] = set()


def vjp_rule(
    *primitives: Callable,
    name: str | None = None,
    multi_output: bool = False,
    inline: bool = True,
) -> Callable[[Callable], Callable]:
    """Register a vector-Jacobian product for one or more primitives.

    The decorated function takes ``(g, ans, *args, **kwargs)`` with the primitive's own
    parameter names and returns one gradient per differentiable argument. It is used by
    the tape and inlined by the transform. ``multi_output=True`` marks a primitive that
    returns a tuple: ``g`` and ``ans`` are then tuples too (missing cotangents are zeros).

    >>> import numpy as np
    >>> import astgrad as ag
    >>> def cube(x):
    ...     return x ** 3
    >>> @ag.vjp_rule(cube)
    ... def cube_vjp(g, ans, x):
    ...     return g * 3 * x ** 2
    >>> ag.lookup_rule(cube).name
    'cube'
    """
    if not primitives:
        raise TypeError("vjp_rule needs the primitive(s) it differentiates: @vjp_rule(np.tanh)")

    def register(vjp: Callable) -> Callable:
        params = list(inspect.signature(vjp).parameters)
        if params[:2] != ["g", "ans"]:
            raise TypeError(
                f"the rule {vjp.__qualname__} must start with the parameters (g, ans, ...); "
                f"it has {tuple(params)}"
            )
        for primitive in primitives:
            rule_name = name or getattr(primitive, "__name__", vjp.__name__)
            node_name = _NODE_NAMES.get(rule_name) or _camel(rule_name)
            _RULES[_key(primitive)] = Rule(
                _key(primitive), vjp, rule_name, node_name + "Backward", multi_output, inline
            )
            _NONDIFFERENTIABLE.discard(_key(primitive))
        return vjp

    return register


def nondifferentiable(*functions: Callable) -> None:
    """Declare functions whose results carry no gradient (floor, argmax, comparisons...)."""
    for function in functions:
        _NONDIFFERENTIABLE.add(_key(function))


def lookup(primitive: Any) -> Rule | None:
    """The rule registered for ``primitive``, or None."""
    try:
        return _RULES.get(_key(primitive))
    except TypeError:  # unhashable callables cannot have rules
        return None


def is_nondifferentiable(function: Any) -> bool:
    try:
        return _key(function) in _NONDIFFERENTIABLE
    except TypeError:
        return False


def all_rules() -> list[Rule]:
    """Every registered rule, in registration order."""
    return list(_RULES.values())


def all_nondifferentiable() -> list[Any]:
    return list(_NONDIFFERENTIABLE)


def _key(primitive: Any) -> Any:
    """The table key: a function made a primitive by ``ag.primitive`` is known by the
    function it wraps, so either spelling finds the rule."""
    return getattr(primitive, "__astgrad_primitive__", primitive)


def describe(primitive: Any) -> str:
    """How users spell a function: ``np.fft.fft``, ``math.sin``, ``mymodule.f``."""
    if isinstance(primitive, np.ufunc):
        return f"np.{primitive.__name__}"
    module = getattr(primitive, "__module__", None) or ""
    name = getattr(primitive, "__name__", repr(primitive))
    if module.startswith("numpy"):
        module = "np" + module[len("numpy") :]
    elif module == "builtins" or not module:
        return name
    return f"{module}.{name}"


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)


def _signature_without_seed(vjp: Callable) -> inspect.Signature:
    signature = inspect.signature(vjp)
    params = list(signature.parameters.values())[2:]
    return signature.replace(parameters=params)


def _names_in(node: gast.AST | None) -> set[str]:
    if node is None:
        return set()
    return {n.id for n in gast.walk(node) if isinstance(n, gast.Name)}


class TemplateError(TypeError):
    """A rule marked inline whose body is not of the inlinable form."""


def _parse_template(rule: Rule) -> RuleTemplate | None:
    vjp = rule.vjp
    if vjp.__code__.co_freevars:
        return None  # closures cannot be inlined into another namespace
    try:
        source = inspect.getsource(vjp)
        filename = inspect.getsourcefile(vjp) or "<unknown>"
        _, first_line = inspect.getsourcelines(vjp)
    except (OSError, TypeError):
        return None
    function = gast.parse(textwrap.dedent(source)).body[0]
    if not isinstance(function, gast.FunctionDef):
        return None
    function.decorator_list = []
    body = list(function.body)
    if body and isinstance(body[0], gast.Expr) and isinstance(body[0].value, gast.Constant):
        body = body[1:]  # docstring
    prelude: list[gast.Assign] = []
    for stmt in body[:-1]:
        simple = (
            isinstance(stmt, gast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], gast.Name)
        )
        if not simple:
            return None
        prelude.append(stmt)
    if not body or not isinstance(body[-1], gast.Return) or body[-1].value is None:
        return None
    returned = body[-1].value
    if isinstance(returned, gast.Tuple):
        outputs = [_none_to_missing(e) for e in returned.elts]
    else:
        outputs = [_none_to_missing(returned)]
    params = [a.id for a in function.args.args][2:]
    params += [a.id for a in function.args.kwonlyargs]
    if function.args.vararg is not None or function.args.kwarg is not None:
        return None  # the transform cannot bind a variable-length signature statically
    names_read: set[str] = set()
    value_reads: set[str] = set()
    for node in [*prelude, *(o for o in outputs if o is not None)]:
        names_read |= _names_in(node)
        value_reads |= _value_reads(node, vjp.__globals__)
    locals_ = {s.targets[0].id for s in prelude}
    interesting = set(params) | {"ans"}
    return RuleTemplate(
        function=function,
        params=params,
        prelude=prelude,
        outputs=outputs,
        value_reads=frozenset((value_reads - locals_) & interesting),
        names_read=frozenset(names_read),
        first_line=first_line,
        filename=filename,
    )


def _none_to_missing(expr: gast.expr) -> gast.expr | None:
    if isinstance(expr, gast.Constant) and expr.value is None:
        return None
    return expr


def _value_reads(node: gast.AST, namespace: dict) -> set[str]:
    """Names read for their values in ``node``: all names but shape-only uses."""
    shape_only_names: set[int] = set()
    for sub in gast.walk(node):
        if isinstance(sub, gast.Attribute) and sub.attr in _SHAPE_ONLY_ATTRIBUTES:
            if isinstance(sub.value, gast.Name):
                shape_only_names.add(id(sub.value))
        elif isinstance(sub, gast.Call):
            positions = _shape_only_positions(sub.func, namespace)
            for position in positions:
                if position < len(sub.args) and isinstance(sub.args[position], gast.Name):
                    shape_only_names.add(id(sub.args[position]))
    return {
        n.id
        for n in gast.walk(node)
        if isinstance(n, gast.Name)
        and isinstance(n.ctx, gast.Load)
        and id(n) not in shape_only_names
    }


def _shape_only_positions(func: gast.expr, namespace: dict) -> frozenset[int]:
    if isinstance(func, gast.Name):
        helper = namespace.get(func.id)
        return getattr(helper, "__astgrad_shape_only__", frozenset())
    if isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name):
        module = namespace.get(func.value.id)
        if getattr(module, "__name__", None) == "numpy":
            return frozenset(_SHAPE_ONLY_NUMPY.get(func.attr, ()))
    return frozenset()


def _compile_specialised(rule: Rule, template: RuleTemplate, index: int) -> Callable:
    """Compile 'the rule, returning only gradient ``index``' from the rule's own source."""
    output = template.outputs[index]
    function = copy.copy(template.function)
    function.name = f"{rule.vjp.__name__}__grad{index}"
    function.body = [
        *copy.deepcopy(template.needed_prelude(index)),
        gast.Return(
            value=copy.deepcopy(output) if output is not None else gast.Constant(None, None)
        ),
    ]
    module = gast.Module(body=[function], type_ignores=[])
    tree = gast.gast_to_ast(module)
    ast.fix_missing_locations(tree)
    # Keep line numbers pointing into the rule's own file, so tracebacks show its line.
    ast.increment_lineno(tree, template.first_line - 1)
    code = compile(tree, template.filename, "exec")
    namespace: dict[str, Any] = {}
    exec(code, rule.vjp.__globals__, namespace)
    specialised = namespace[function.name]
    specialised.__defaults__ = rule.vjp.__defaults__
    specialised.__kwdefaults__ = rule.vjp.__kwdefaults__
    return specialised

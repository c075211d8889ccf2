"""The derivative rule table: each primitive's vector-Jacobian product, written once.

A rule is an ordinary function ``rule(g, ans, *args, **kwargs)``. ``g`` is the cotangent of
the primitive's result, ``ans`` the result itself, and the remaining parameters mirror the
primitive's own (same names, same defaults), so a call site binds to the rule exactly as it
binds to the primitive. It returns one gradient expression per differentiable argument, in
parameter order: a tuple when the primitive has several (``None`` for an argument with no
gradient), a single expression when it has one.

Two consumers read the same function:

* the tape runs a version of it compiled from its source that computes only the
  gradients a node needs (or calls it, when it cannot be parsed);
* the transform inlines its body into generated source, renaming ``g``, ``ans`` and the
  parameters to the names at the call site.

How its source becomes either is :mod:`.templates`' job.

A rule can be inlined when its body is zero or more ``name = expression`` assignments
followed by one ``return``; anything else is called instead. Rules see raw arrays only
(NumPy, CuPy, ...), never tensors, and take their array module from their arguments.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from .shared import shape_only
from .templates import RuleTemplate, parse

__all__ = [
    "Rule",
    "RuleTemplate",
    "vjp_rule",
    "lookup",
    "nondifferentiable",
    "no_derivative_at",
    "refuse_underivable",
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
        #: the forward rule written for it (``forward.jvp_rule``), if any
        self.jvp: Callable | None = None
        #: declared linear in its first argument (``forward.linear``)
        self.linear = False
        self._forward: Any = None
        #: positions whose gradient the rule does not have though it is not zero (a Bessel
        #: function's real order), each with why: the vjp gives None there, and every
        #: mode refuses an argument there that carries a derivative (``no_derivative_at``)
        self.refused: dict[int, str] = {}
        #: positions whose tangent forward mode does not have (its forward rule gives
        #: none there) though the vjp rule has their gradient, each with why
        self.forward_refused: dict[int, str] = {}
        #: given a call's arguments, the positions the tape's node keeps for their shape
        #: alone in that call though the rule reads their values in others (a
        #: one-operand einsum is linear in its operand): an in-place write into such an
        #: argument after the call, through a view the call returned, is then no error
        self.shape_only_when: Callable[[list], frozenset[int]] | None = None

    def __repr__(self) -> str:
        return f"<rule {self.name} for {describe(self.primitive)}>"

    @property
    def template(self) -> RuleTemplate | None:
        """The parsed body, or None when the rule must be called rather than inlined."""
        if self._template is False:
            self._template = parse(self.vjp) if self.inline else None
        return self._template  # type: ignore[return-value]

    @property
    def forward(self) -> Any:
        """Its forward-mode rule (``forward.ForwardRule``), written or derived; None when
        it has none."""
        if self._forward is None:
            from .forward import forward_rule

            self._forward = forward_rule(self) or False
        return self._forward or None

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


def no_derivative_at(
    primitive: Callable, *params: str, why: str, forward_only: bool = False
) -> None:
    """Declare that ``primitive``'s rule has no gradient for ``params``, though one exists
    (its vjp rule returns None there, as for an argument whose derivative is zero): the
    transform, forward mode and the tape then refuse such an argument that carries a
    derivative, saying ``why``, where they would otherwise take it as constant.

    >>> import numpy as np
    >>> import astgrad as ag
    >>> def scaled(x, s):
    ...     return x * np.cos(s)
    >>> @ag.vjp_rule(scaled)
    ... def scaled_vjp(g, ans, x, s):
    ...     return g * np.cos(s), None
    >>> ag.no_derivative_at(scaled, "s", why="scaled(x, s): no derivative in s")
    >>> ag.lookup_rule(scaled).refused
    {1: 'scaled(x, s): no derivative in s'}

    With ``forward_only=True`` the vjp rule has their gradient, and only forward mode
    refuses them (its forward rule gives no contribution there).
    """
    rule = lookup(primitive)
    if rule is None:
        raise TypeError(f"no_derivative_at({primitive!r}): it has no vjp rule")
    for param in params:
        position = rule.param_names.index(param)
        if forward_only:
            rule.forward_refused[position] = why
        else:
            rule.refused[position] = why
    rule._forward = None


def refuse_underivable(rule: Rule, positions: Any) -> None:
    """Raise NotImplementedError where one of ``positions`` (of arguments that carry a
    derivative) is one whose gradient ``rule`` does not have (``no_derivative_at``)."""
    for position in positions:
        why = rule.refused.get(position)
        if why is not None:
            raise NotImplementedError(why)


def nondifferentiable(*functions: Callable) -> None:
    """Declare functions whose results carry no gradient (floor, argmax, comparisons...)."""
    for function in functions:
        _NONDIFFERENTIABLE.add(_key(function))


_optional_loaded = False

#: rule modules of optional libraries, each registered once the module that the key names
#: is imported (scipy.signal costs more to import than scipy.special, .linalg and .stats)
_OPTIONAL_MODULES = {"scipy": "scipy_rules", "scipy.signal": "scipy_signal_rules"}
_optional_pending = dict(_OPTIONAL_MODULES)


def load_optional_rules() -> None:
    """Register the rules of optional libraries the process has imported (SciPy): a
    function of theirs can only be met once they are imported, and importing them for
    nothing would double ``import astgrad``'s time."""
    global _optional_loaded
    for library, rules in list(_optional_pending.items()):
        if library in sys.modules:
            del _optional_pending[library]
            importlib.import_module(f"{__package__}.{rules}")
    _optional_loaded = not _optional_pending


def lookup(primitive: Any) -> Rule | None:
    """The rule registered for ``primitive``, or None."""
    try:
        found = _RULES.get(_key(primitive))
    except TypeError:  # unhashable callables cannot have rules
        return None
    if found is None and not _optional_loaded and "scipy" in sys.modules:
        pending = len(_optional_pending)
        load_optional_rules()
        if len(_optional_pending) < pending:
            found = _RULES.get(_key(primitive))
    if found is None:
        # An object that carries its own entry (a gradient made by ag.grad, whose vjp is
        # a Hessian-vector product): kept on the object, so the table holds no such.
        found = getattr(primitive, "__astgrad_rule__", None)
        if found is not None and not isinstance(found, Rule):
            found = None
    return found


def is_nondifferentiable(function: Any) -> bool:
    load_optional_rules()
    try:
        return _key(function) in _NONDIFFERENTIABLE
    except TypeError:
        return False


def all_rules() -> list[Rule]:
    """Every registered rule, in registration order."""
    load_optional_rules()
    return list(_RULES.values())


def all_nondifferentiable() -> list[Any]:
    return list(_NONDIFFERENTIABLE)


def _key(primitive: Any) -> Any:
    """The table key: a function made a primitive by ``ag.primitive`` is known by the
    function it wraps, so either spelling finds the rule."""
    return getattr(primitive, "__astgrad_primitive__", primitive)


def describe(primitive: Any) -> str:
    """How users spell a function: ``np.fft.fft``, ``math.sin``, ``mymodule.f``,
    ``scipy.special.expit``, ``scipy.stats.norm.logpdf``.

    >>> describe(np.tanh), describe(np.linalg.solve)
    ('np.tanh', 'np.linalg.solve')
    """
    name = getattr(primitive, "__name__", repr(primitive))
    if isinstance(primitive, np.ufunc):
        if getattr(np, name, None) is primitive:
            return f"np.{name}"
        special = sys.modules.get("scipy.special")
        if special is not None and getattr(special, name, None) is primitive:
            return f"scipy.special.{name}"
        return name
    owner = getattr(primitive, "__self__", None)
    if owner is not None and not isinstance(owner, type(sys)) and hasattr(owner, "name"):
        # a method of a scipy.stats distribution object: scipy.stats.norm.logpdf
        owner_module = _public(type(owner).__module__)
        return f"{owner_module}.{owner.name}.{name}"
    if owner is not None and type(owner).__name__.endswith("_gen"):
        # scipy.stats' multivariate distributions have no name: their class says it
        owner_module = _public(type(owner).__module__)
        return f"{owner_module}.{type(owner).__name__[: -len('_gen')]}.{name}"
    module = _public(getattr(primitive, "__module__", None) or "")
    if module.startswith("numpy"):
        module = "np" + module[len("numpy") :]
    elif module == "builtins" or not module:
        return name
    return f"{module}.{name}"


def _public(module: str) -> str:
    """``module`` without its private parts: ``scipy.special._logsumexp`` is spelled
    ``scipy.special`` by users."""
    return ".".join(part for part in module.split(".") if not part.startswith("_"))


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)


def _signature_without_seed(vjp: Callable) -> inspect.Signature:
    signature = inspect.signature(vjp)
    params = list(signature.parameters.values())[2:]
    return signature.replace(parameters=params)

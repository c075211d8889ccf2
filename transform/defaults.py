"""A rule's template read at a call site's defaults.

A rule mirrors its primitive's parameters, and may hand them on (``np.max(a, axis=axis,
initial=initial, where=where)`` in max's forward rule) or branch on them (``a if initial
is NoValue else b``). Where the call leaves such a parameter at its default, the
generated code need not say it: :func:`at_defaults` leaves the argument out where the
function called means the same by its own default, and takes the branch. So generated
code for ``np.max(x, axis=1)`` reads as it did before the rule took initial= and where=.
Which parameters the call leaves out, ``inline.bind_operands`` marks (``defaulted_``).
"""

from __future__ import annotations

import builtins
import inspect
from typing import Any

import gast
import numpy as np

from ..runtime.rules.registry import Rule
from .resolve import is_hashable
from .walk import copy_tree

__all__ = ["at_defaults", "at_defaults_shared"]


def at_defaults(
    expression: gast.expr, rule: Rule, bound: dict[str, gast.expr], namespace: dict
) -> gast.expr:
    """A copy of the template ``expression`` read where the call leaves parameters at
    their defaults: ``a if initial is NoValue else b`` is ``a`` (and ``b`` where the call
    passes ``initial``), and an argument that only hands such a parameter on to a function
    whose own default means the same is left out, so ``np.max(a, axis=axis,
    initial=initial, where=where)`` is ``np.max(a, axis=axis)`` at a call that passes
    neither. Generated code for a call without ``initial=``/``where=`` is then what it
    was before the rule took them."""
    defaulted = {name for name, node in bound.items() if getattr(node, "defaulted_", False)}
    defaults = {p.name: p.default for p in rule.signature.parameters.values()}
    # what each parameter surely holds at this call: its default, or a constant passed
    known = {n: node.value for n, node in bound.items() if isinstance(node, gast.Constant)}
    known.update((name, defaults[name]) for name in defaulted)

    def at_default(node: gast.AST) -> gast.AST | None:
        if isinstance(node, gast.IfExp):
            test = _decided(node.test, known, defaulted, defaults, namespace)
            if test is True or test is False:
                return copy_tree(node.body if test else node.orelse, at_default)
            return gast.IfExp(
                test=copy_tree(test, at_default),
                body=copy_tree(node.body, at_default),
                orelse=copy_tree(node.orelse, at_default),
            )
        if isinstance(node, gast.Call):
            call = copy_tree(node, lambda sub: None if sub is node else at_default(sub))
            _leave_out_defaults(call, known, namespace)
            return call
        return None

    return copy_tree(expression, at_default)


#: at_defaults's results for templates' own expressions: key -> (expression, rule, tree)
_SHARED: dict[tuple, tuple[gast.expr, Rule, gast.expr]] = {}


def at_defaults_shared(
    expression: gast.expr, rule: Rule, bound: dict[str, gast.expr], namespace: dict
) -> gast.expr:
    """:func:`at_defaults` of a rule template's own ``expression`` (not a copy), made once
    per what the call leaves at its defaults and passes as constants, which is all the
    result depends on: a rule inlined at a hundred call sites was read a hundred times.
    The tree is shared: the caller copies it (renaming) and changes only its copy."""
    defaulted = frozenset(
        name for name, node in bound.items() if getattr(node, "defaulted_", False)
    )
    constants = tuple(
        sorted(
            (name, type(node.value).__name__, repr(node.value))  # (1, 1.0, True and -0.0
            for name, node in bound.items()  # are equal keys: told apart)
            if isinstance(node, gast.Constant)
        )
    )
    key = (id(expression), id(rule), id(namespace), defaulted, constants)
    entry = _SHARED.get(key)
    if entry is None or entry[0] is not expression or entry[1] is not rule:
        entry = _SHARED[key] = (expression, rule, at_defaults(expression, rule, bound, namespace))
    return entry[2]


def _decided(
    test: gast.expr, known: dict[str, Any], defaulted: set[str], defaults: dict, namespace: dict
) -> bool | gast.expr:
    """A rule's branch test read at this call: True or False where the call decides it,
    else the test with the parts it decides left out (``weights is None and returned is
    False`` is ``weights is None`` where ``returned`` is left at its default)."""
    if isinstance(test, gast.BoolOp):
        decisive = isinstance(test.op, gast.Or)  # (the value that decides an ``or``)
        rest = []
        for value in test.values:
            part = _decided(value, known, defaulted, defaults, namespace)
            if part is decisive:
                return decisive
            if part is not (not decisive):
                rest.append(part)
        if not rest:
            return not decisive
        return rest[0] if len(rest) == 1 else gast.BoolOp(op=test.op, values=rest)
    if isinstance(test, gast.UnaryOp) and isinstance(test.op, gast.Not):
        inner = _decided(test.operand, known, defaulted, defaults, namespace)
        return not inner if isinstance(inner, bool) else gast.UnaryOp(op=test.op, operand=inner)
    found = _static_test(test, known, defaulted, defaults, namespace)
    return test if found is None else found


def _static_test(
    test: gast.expr, known: dict[str, Any], defaulted: set[str], defaults: dict, namespace: dict
) -> bool | None:
    """The value of a rule's ``param is NoValue`` (or ``is not``) test at this call: the
    parameter's default where the call leaves it out; not NumPy's ``_NoValue`` where the
    call passes it (should a caller hand ``np._NoValue`` on itself, a rule's branch for a
    passed value must give the same result or raise: max's compares, prod's raises a
    TypeError multiplying by it). ``param is None`` (``True``, ``False``): the value where
    the call leaves the parameter at its default or passes a constant, and undecided where
    it passes anything else. None for any other test."""
    if not (
        isinstance(test, gast.Compare)
        and len(test.ops) == 1
        and isinstance(test.ops[0], (gast.Is, gast.IsNot))
        and isinstance(test.left, gast.Name)
        and test.left.id in defaults
    ):
        return None
    comparator = test.comparators[0]
    name = test.left.id
    if isinstance(comparator, gast.Constant) and any(comparator.value is v for v in _SINGLETONS):
        if name not in known:
            return None
        same = known[name] is comparator.value
    elif _static_value(comparator, namespace) is np._NoValue:
        same = defaults[name] is np._NoValue if name in defaulted else False
    else:
        return None
    return same if isinstance(test.ops[0], gast.Is) else not same


#: the constants a rule's ``is`` test compares a parameter with
_SINGLETONS = (None, True, False)


#: NumPy functions whose default is ``np._NoValue`` behave as with these values
_NUMPY_UNSET = {"keepdims": False, "where": True}

# Parameters that recent NumPy gave a default but other array modules still require: the
# call reaches CuPy's function through NumPy's dispatch with the arguments as written, so
# these are always written (CuPy's take_along_axis has no default axis).
_REQUIRED_ELSEWHERE = {np.take_along_axis: frozenset({"axis"})}


def _leave_out_defaults(call: gast.Call, known: dict[str, Any], namespace: dict) -> None:
    """Leave out of ``call`` the arguments that hand on a parameter the rule's call site
    leaves at its default (or passes as a constant: ``known``), where the called
    function's default means the same."""
    function = _static_value(call.func, namespace)
    signature = _signature(function)
    if signature is None:
        return
    required = _REQUIRED_ELSEWHERE.get(function, frozenset()) if is_hashable(function) else ()

    def same_default(arg: gast.expr, parameter: inspect.Parameter | None) -> bool:
        if not (isinstance(arg, gast.Name) and arg.id in known) or parameter is None:
            return False
        if parameter.name in required:
            return False
        mine, theirs = known[arg.id], parameter.default
        if theirs is np._NoValue and parameter.name in _NUMPY_UNSET:
            theirs = _NUMPY_UNSET[parameter.name] if mine is not np._NoValue else theirs
        return mine is theirs or (type(mine) is type(theirs) and _equal(mine, theirs))

    parameters = list(signature.parameters.values())
    call.keywords = [
        k for k in call.keywords if not same_default(k.value, signature.parameters.get(k.arg))
    ]
    while call.args and len(call.args) <= len(parameters):
        parameter = parameters[len(call.args) - 1]
        if parameter.kind not in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            break
        if not same_default(call.args[-1], parameter):
            break
        call.args.pop()


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _static_value(node: gast.expr, namespace: dict) -> Any:
    """What a rule's ``np.sum`` or ``helper`` names, from the rule's module (None when
    it is not a global name or attribute chain)."""
    if isinstance(node, gast.Name):
        return namespace.get(node.id, getattr(builtins, node.id, None))
    if isinstance(node, gast.Attribute):
        owner = _static_value(node.value, namespace)
        return None if owner is None else getattr(owner, node.attr, None)
    return None


def _signature(function: Any) -> inspect.Signature | None:
    if function is None or isinstance(function, np.ufunc):
        return None
    try:
        return inspect.signature(function)
    except (TypeError, ValueError):
        return None

"""Resolve what a call or attribute in user code refers to: a rule-backed primitive, a
known non-differentiable function, a user function to transform in turn, or something the
transform cannot see into.

Names resolve as Python would resolve them when the function runs: closure cells, then
the function's globals, then builtins. Method calls on local values (``x.sum(axis=0)``)
are taken as NumPy array methods and mapped to the function with the same rule.

A function a decorator made with ``functools.wraps`` is not read through ``__wrapped__``:
the wrapper's code is what runs, and it may change the result. astgrad's own grad-mode
decorators are known (``@ag.no_grad``: its result carries no gradient; ``@ag.enable_grad``:
the function it wraps); any other wrapper is an unknown call.
"""

from __future__ import annotations

import builtins
import math
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gast
import numpy as np

from ..runtime import primitives
from ..runtime.rules.registry import Rule, describe, is_nondifferentiable, lookup
from .context import TransformContext


@dataclass
class Callee:
    """What a call site calls.

    ``kind`` is one of ``"rule"`` (a primitive with a derivative rule), ``"nondiff"``
    (its result carries no gradient), ``"user"`` (a Python function to transform too),
    ``"unknown"`` (none of these: the call cannot be differentiated by the transform).
    """

    kind: str
    name: str
    value: Any = None
    rule: Rule | None = None
    #: for method calls: the receiver becomes the primitive's first argument
    receiver: gast.expr | None = None
    #: for method calls whose primitive takes the remaining arguments as one tuple
    #: (``x.reshape(2, 3)`` is ``np.reshape(x, (2, 3))``)
    pack_args: bool = False
    reason: str = ""


_MISSING = object()

# Array methods and the NumPy function (and so the rule) each one means.
ARRAY_METHODS: dict[str, Any] = {
    "sum": np.sum,
    "mean": np.mean,
    "max": np.max,
    "min": np.min,
    "prod": np.prod,
    "var": np.var,
    "std": np.std,
    "cumsum": np.cumsum,
    "cumprod": np.cumprod,
    "dot": np.dot,
    "ravel": np.ravel,
    "flatten": np.ravel,
    "squeeze": np.squeeze,
    "swapaxes": np.swapaxes,
    "clip": np.clip,
    "copy": np.copy,
    "diagonal": np.diagonal,
    "trace": np.trace,
    "take": np.take,
    "repeat": np.repeat,
    "conj": np.conjugate,
    "reshape": np.reshape,
    "transpose": np.transpose,
    "argmax": np.argmax,
    "argmin": np.argmin,
    "argsort": np.argsort,
    "nonzero": np.nonzero,
    "round": np.round,
    "all": np.all,
    "any": np.any,
    "item": float,
    "astype": primitives.astype,
    "conjugate": np.conjugate,
}
# Methods whose primitive takes the rest of the arguments as one tuple when given several.
PACKING_METHODS = {"reshape", "transpose"}
# Attributes of arrays: T is a transpose, real and imag np.real and np.imag; the rest
# describe the array and carry no gradient.
ARRAY_ATTRIBUTES = {"T": np.transpose, "real": np.real, "imag": np.imag}
METADATA_ATTRIBUTES = frozenset({"shape", "ndim", "size", "dtype", "itemsize", "nbytes", "strides"})

# Builtins whose result carries no gradient, or that only shuffle Python values.
_NONDIFF_BUILTINS = {
    builtins.len, builtins.range, builtins.int, builtins.bool, builtins.str, builtins.print,
    builtins.isinstance, builtins.type, builtins.round, builtins.hasattr, builtins.id,
    builtins.repr, builtins.format, builtins.any, builtins.all, builtins.callable,
    primitives.sequence_length,  # len() for the index loops desugar writes
}  # fmt: skip
# Builtins that are the same operation as a NumPy ufunc with a rule.
_BUILTIN_ALIASES = {builtins.abs: np.absolute, builtins.pow: np.power}


def is_local(name: str, ctx: TransformContext) -> bool:
    return name in ctx.local_names


def static_value(node: gast.expr, ctx: TransformContext) -> Any:
    """The object a non-local name or attribute chain refers to now, or ``_MISSING``."""
    if isinstance(node, gast.Name):
        if is_local(node.id, ctx):
            return _MISSING
        cell = ctx.parsed.cells.get(node.id)
        if cell is not None:
            try:
                return cell.cell_contents
            except ValueError:
                return _MISSING
        value = ctx.free_values.get(node.id, _MISSING)  # a helper an earlier pass bound
        if value is not _MISSING:
            return value
        value = ctx.parsed.globals.get(node.id, _MISSING)
        if value is _MISSING:
            value = getattr(builtins, node.id, _MISSING)
        else:
            ctx.resolved_globals[node.id] = value
        return value
    if isinstance(node, gast.Attribute):
        owner = static_value(node.value, ctx)
        if owner is _MISSING:
            return _MISSING
        return getattr(owner, node.attr, _MISSING)
    return _MISSING


def source_text(node: gast.expr) -> str:
    if isinstance(node, gast.Name):
        return node.id
    if isinstance(node, gast.Attribute):
        return f"{source_text(node.value)}.{node.attr}"
    return type(node).__name__


def classify(value: Any, spelled: str) -> Callee:
    """Classify a resolved callable."""
    value = _BUILTIN_ALIASES.get(value, value) if is_hashable(value) else value
    rule = lookup(value)
    if rule is not None:
        return Callee("rule", spelled, value, rule)
    if is_nondifferentiable(value) or (is_hashable(value) and value in _NONDIFF_BUILTINS):
        return Callee("nondiff", spelled, value)
    switch = grad_mode_switch(value)
    if switch is not None:
        enabled, wrapped = switch
        if not enabled:
            # @ag.no_grad: the function runs with recording off, so (as in PyTorch) its
            # result carries no gradient, whatever it computes.
            return Callee("nondiff", spelled, value)
        # @ag.enable_grad: recording on inside, which it already is unless the call sits
        # in a no_grad block (normalize refuses that): the function itself.
        return classify(wrapped, spelled)
    if isinstance(value, types.FunctionType) and hasattr(value, "__wrapped__"):
        # functools.wraps: what runs is the wrapper, which may change the result (double
        # it, cache it, switch a mode); the wrapped function's source would be the wrong one.
        return Callee(
            "unknown",
            spelled,
            value,
            reason=f"{spelled} is wrapped by a decorator, whose code the transform does not "
            "differentiate",
        )
    if isinstance(value, types.FunctionType) and (
        not _is_library(value) or getattr(value, "__astgrad_transformable__", False)
    ):
        # (A rule helper marked transformable is differentiated from its source, as a
        # function of the user's: how reverse mode goes through forward rules' helpers.)
        return Callee("user", spelled, value)
    if isinstance(value, type) and not issubclass(value, np.generic):
        return Callee("unknown", spelled, value, reason=f"{spelled} is a class")
    owner = getattr(value, "__self__", None)
    if isinstance(owner, np.ufunc) and getattr(value, "__name__", "") in _UFUNC_METHODS:
        return Callee("unknown", spelled, value, reason=_ufunc_method_reason(owner, value))
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType, np.ufunc)):
        what = describe(value)
    else:
        what = f"{spelled} (a {type(value).__module__}.{type(value).__qualname__} object)"
    return Callee("unknown", spelled, value, reason=f"{what} has no derivative rule")


#: what generated code differentiates in place of a ufunc's method (the tape records them)
_UFUNC_METHODS = {
    "reduce": {"add": "np.sum", "multiply": "np.prod", "maximum": "np.max", "minimum": "np.min"},
    "accumulate": {"add": "np.cumsum", "multiply": "np.cumprod"},
    "reduceat": {},
}


def _ufunc_method_reason(ufunc: np.ufunc, method: Any) -> str:
    """Why ``np.add.reduce`` and its kin are not differentiated in generated code, and
    what to write instead."""
    name = f"np.{ufunc.__name__}.{method.__name__}"
    instead = _UFUNC_METHODS[method.__name__].get(ufunc.__name__)
    if instead is None:
        return f"{name} has no derivative rule in generated code (the tape records it)"
    return (
        f"{name} has no derivative rule in generated code: write {instead}(x, axis=0, ...) "
        f"({name} reduces axis 0 unless told otherwise), which has one (the tape records "
        "either)"
    )


def _switch_code() -> types.CodeType:
    from ..runtime.grad_mode import no_grad

    return no_grad()(lambda: None).__code__


# The code of the function that @ag.no_grad, @ag.enable_grad and @ag.set_grad_enabled(flag)
# return (functools.wraps gives each the name of the function it wraps).
_SWITCH_CODE = _switch_code()


def grad_mode_switch(value: Any) -> tuple[bool, Callable] | None:
    """For a function that one of astgrad's grad-mode decorators made: whether it runs
    with recording on, and the function it wraps. None for anything else."""
    if not isinstance(value, types.FunctionType) or value.__code__ is not _SWITCH_CODE:
        return None
    cells = dict(zip(value.__code__.co_freevars, value.__closure__ or ()))
    return bool(cells["target"].cell_contents), cells["func"].cell_contents


def may_enable_grad(function: Any, seen: set[int] | None = None) -> bool:
    """Whether calling ``function`` may turn recording on (``@ag.enable_grad``, or code
    that names ``enable_grad`` or ``set_grad_enabled``, itself or in a Python function it
    reads from its globals): in a no_grad block its result would then carry a gradient."""
    seen = set() if seen is None else seen
    if id(function) in seen:
        return False
    seen.add(id(function))
    switch = grad_mode_switch(function)
    if switch is not None:
        return switch[0] or may_enable_grad(switch[1], seen)
    if not isinstance(function, types.FunctionType) or _is_library(function):
        return False
    names: set[str] = set()
    codes = [function.__code__]
    for code in codes:  # nested functions and lambdas are constants of the code
        names.update(code.co_names)
        codes.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    if names & {"enable_grad", "set_grad_enabled"}:
        return True
    for cell in function.__closure__ or ():
        try:
            if may_enable_grad(cell.cell_contents, seen):
                return True
        except ValueError:  # an empty cell
            continue
    return any(may_enable_grad(function.__globals__.get(name), seen) for name in names)


def is_hashable(value: Any) -> bool:
    """Whether ``value`` can be looked up in a set or dict (a ufunc can; an array cannot)."""
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _is_library(function: types.FunctionType) -> bool:
    module = function.__module__ or ""
    return module.split(".")[0] in ("numpy", "astgrad", "scipy", "math", "builtins")


def resolve_call(call: gast.Call, ctx: TransformContext) -> Callee:
    func = call.func
    if (
        isinstance(func, gast.Attribute)
        and isinstance(func.value, gast.Name)
        and is_local(func.value.id, ctx)
    ):
        return _method(func, ctx)
    value = static_value(func, ctx)
    spelled = source_text(func)
    if _global_array_method(func, value):
        if isinstance(func.value, gast.Name):
            return _method(func, ctx)  # (X.dot(W) with X a module's array: X the receiver)
        receiver = source_text(func.value)
        return Callee(
            "unknown",
            spelled,
            reason=f"`{receiver}` is an expression of global arrays, whose method `.{func.attr}` "
            f"the transform reads only on a name: write `a = {receiver}` in the function "
            f"and call `a.{func.attr}(...)`",
        )
    if value is _MISSING:
        return Callee(
            "unknown", spelled, reason=f"`{spelled}` is not a function the transform can resolve"
        )
    return classify(value, spelled)


def _global_array_method(func: gast.expr, value: Any) -> bool:
    """Whether ``func`` is an array method of an array bound to a global or closure name
    (``X.dot``, ``X.sum``): the method's function, with the array as its first argument."""
    return (
        isinstance(func, gast.Attribute)
        and func.attr in ARRAY_METHODS
        and type(getattr(value, "__self__", None)) is np.ndarray
    )


def _method(func: gast.Attribute, ctx: TransformContext) -> Callee:
    primitive = ARRAY_METHODS.get(func.attr)
    spelled = f"{func.value.id}.{func.attr}"
    if primitive is None:
        return Callee(
            "unknown",
            spelled,
            receiver=func.value,
            reason=f"`.{func.attr}()` is not an array method the transform knows",
        )
    callee = classify(primitive, spelled)
    callee.receiver = func.value
    callee.pack_args = func.attr in PACKING_METHODS
    return callee


def resolve_attribute(node: gast.Attribute, ctx: TransformContext) -> Callee:
    """An attribute read on a local value: ``x.T`` or ``x.shape``."""
    spelled = source_text(node)
    if isinstance(node.value, gast.Name):
        from .objects import known_object

        if known_object(node.value.id, ctx) is not None:  # (g.size of an object: issue 17)
            return Callee("unknown", spelled, reason=f"the attribute `.{node.attr}`")
    if node.attr in METADATA_ATTRIBUTES:
        return Callee("nondiff", spelled)
    primitive = ARRAY_ATTRIBUTES.get(node.attr)
    if primitive is not None:
        callee = classify(primitive, spelled)
        callee.receiver = node.value
        return callee
    return Callee(
        "unknown", spelled, reason=f"the attribute `.{node.attr}` cannot be differentiated"
    )


MATH_MODULE = math

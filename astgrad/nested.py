"""Refusing the higher-order derivatives that are not implemented.

A gradient of a gradient is easy to ask for by accident of composition: ``ag.grad`` of a
function made by ``ag.grad``, or of a function that calls one (or ``ag.vjp``, or a
pullback) on a value that carries a gradient.

On the tape (``mode="tape"`` throughout) these compute the higher derivative: a gradient
on the tape called with tensors that record runs on their graph and records its own
backward pass (``runtime.fallback``, ``runtime.higher_order``), so
``ag.grad(ag.grad(f, mode="tape"), mode="tape")`` is the second derivative. Everywhere
else they do not: generated code treats an inner gradient's result as a constant (giving
the first derivative, or zero). So each of these is refused with a
``NotImplementedError`` that names what was nested:

- ``ag.grad(g)``, ``ag.value_and_grad(g)``, ``ag.vjp(g, ...)`` where ``g`` is a gradient
  or a pullback (or a ``functools.partial`` of one): when the outer one is made, unless
  both are on the tape and ``g`` is made by ``ag.grad`` or ``ag.value_and_grad``.
- A gradient, ``ag.vjp`` or a pullback called with a tensor that records (a tensor that
  requires grad, with grad mode on), unless it runs on the tape: that is how an outer
  ``mode="tape"`` run, or the tape an ``"auto"`` run falls back to, reaches an inner
  gradient.
- ``mode="source"``: the transform cannot resolve the inner gradient's call and raises
  a :class:`TransformError`; :func:`refuse_transform_error` turns it into this error when
  the statement it names calls a gradient.

An inner gradient whose function closes over the outer variable (a tensor that records, in
a closure cell, a default or a global: :func:`reads_recording`) is no refusal: it runs on
the tape, whose pass follows such tensors (``runtime.fallback._outside_pullback``), so
``d/dx (x * d/dy (x * y))`` is ``2 x`` in every inner mode.
"""

from __future__ import annotations

import functools
import re
import types
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .runtime.grad_mode import is_grad_enabled
from .runtime.tensor import Tensor
from .transform.errors import TransformError

ADVICE = (
    "This nesting of derivatives is not supported: astgrad differentiates a gradient "
    "made by ag.grad(f) of one parameter in any mode (ag.grad(ag.grad(f)) of a scalar "
    "one, ag.jacobian(ag.grad(f)), ag.hessian(f), ag.hvp(f, ...)), and on the tape any "
    'gradient made with mode="tape" given to one with mode="tape" or "auto". '
    "Write the inner derivative as ag.grad(f, wrt=...) of one parameter, or use "
    "ag.hessian or ag.hvp for second derivatives."
)


def is_gradient(value: Any) -> bool:
    """Whether ``value`` computes a derivative: made by ``ag.grad``/``value_and_grad``, a
    pullback, or ``ag.grad``/``value_and_grad``/``vjp`` themselves."""
    while isinstance(value, functools.partial):
        value = value.func
    return bool(getattr(value, "__astgrad_gradient__", False))


def outer_mode(function: Any, mode: str) -> str:
    """The mode a derivative of ``function`` runs in: ``"tape"`` for ``mode="auto"`` where
    ``function`` is a gradient made on the tape (which composes on the tape alone: auto
    runs on the tape what it cannot transform), else ``mode``."""
    return "tape" if mode == "auto" and _on_tape(function) else mode


def refuse_gradient_of_gradient(function: Any, outer: str, mode: str = "auto") -> None:
    """Raise NotImplementedError when ``function``, given to ``outer`` (``ag.grad``...) in
    ``mode``, is itself a gradient, but for a gradient on the tape given to one on the tape
    (which computes the higher derivative)."""
    if is_gradient(function):
        if mode == "tape" and _on_tape(function):
            return
        raise NotImplementedError(
            f"{outer} was given {_spelled(function)}, which is itself a gradient. {ADVICE}"
        )


def refuse_recording(args: tuple, kwargs: dict, what: str, mode: str = "auto") -> None:
    """Raise NotImplementedError when an argument is a tensor that records: an outer
    derivative is being taken through ``what`` (a gradient, ``ag.vjp``, a pullback), which
    computes in ``mode``; on the tape that derivative is computed."""
    if mode == "tape":
        return
    if not kwargs and all(type(value) in _PLAIN for value in args):
        return  # the common case, on every vjp and pullback call: keep it cheap
    if not is_grad_enabled():
        return
    for value in _values(args, kwargs):
        if isinstance(value, Tensor) and value.requires_grad:
            raise NotImplementedError(
                f"{what} was called with a tensor that requires grad, so a derivative of "
                f"its derivative is being taken. {ADVICE} (To use the gradient's value "
                "alone, pass t.detach().)"
            )


def reads_recording(function: Any, depth: int = 3) -> bool:
    """Whether ``function`` can reach a tensor that records (one that requires grad, with
    grad mode on) from outside its arguments: in a closure cell, a default, a global its
    code names, or (``depth`` calls deep) those of the functions it reaches so; inside
    lists, tuples and dicts too, and in the attributes of a bound method's object. Such a
    function, differentiated inside a function run on the tape, closes over an outer
    variable of a derivative being taken (``x`` in ``d/dx (x * d/dy (x * y))``): generated
    code would treat it as a constant, so its gradient runs on the tape instead (see
    api._Differentiated). Conservative: a tensor reached need not be read."""
    if not is_grad_enabled():
        return False
    seen: set[int] = set()
    todo = [(function, depth)]
    while todo:
        current, left = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        while isinstance(current, functools.partial):
            if _holds_recording([*current.args, *current.keywords.values()]):
                return True
            current = current.func
        if isinstance(current, types.MethodType):
            owner = getattr(current.__self__, "__dict__", None)
            if owner is not None and _holds_recording(list(owner.values())):
                return True
            current = current.__func__
        code = getattr(current, "__code__", None)
        if code is None or not isinstance(current, types.FunctionType):
            continue
        values = list(current.__defaults__ or ()) + list((current.__kwdefaults__ or {}).values())
        values += [value for _, value in _reachable(current, set(_names_read(code)))]
        if _holds_recording(values):
            return True
        if left > 0:
            todo.extend(
                (value, left - 1)
                for value in values
                if isinstance(value, (types.FunctionType, types.MethodType, functools.partial))
                and not _is_library(value)
            )
    return False


def _holds_recording(values: list, depth: int = 4) -> bool:
    """Whether a tensor that requires grad is among ``values`` (or, ``depth`` levels deep,
    in their lists, tuples and dicts; the first few thousand items: generated code meeting
    one further off raises GradientLostError, which sends the call to the tape too)."""
    todo = [(value, depth) for value in values]
    budget = 10_000
    while todo and budget:
        budget -= 1
        value, left = todo.pop()
        if isinstance(value, Tensor):
            if value.requires_grad:
                return True
        elif left > 0 and isinstance(value, (list, tuple)):
            todo.extend((item, left - 1) for item in value)
        elif left > 0 and isinstance(value, dict):
            todo.extend((item, left - 1) for item in value.values())
    return False


def _is_library(function: Any) -> bool:
    module = getattr(function, "__module__", None) or ""
    return module.split(".")[0] in ("numpy", "astgrad", "scipy")


def _on_tape(value: Any) -> bool:
    """Whether ``value`` is a gradient made by ``ag.grad`` or ``ag.value_and_grad`` with
    ``mode="tape"`` (or a ``functools.partial`` of one)."""
    while isinstance(value, functools.partial):
        value = value.func
    return getattr(value, "mode", None) == "tape" and hasattr(value, "target")


_PLAIN = frozenset({np.ndarray, float, int, bool, type(None)})


def _values(args: tuple, kwargs: dict) -> Iterator[Any]:
    stack = [*args, *kwargs.values()]
    while stack:
        value = stack.pop()
        if isinstance(value, (list, tuple)):
            stack.extend(value)
        elif isinstance(value, dict):
            stack.extend(value.values())
        else:
            yield value


def refuse_transform_error(function: Callable, exc: TransformError) -> None:
    """Raise NotImplementedError (from ``exc``) when ``exc`` says the transform cannot
    differentiate through a call of a gradient that ``function`` (or a function it calls)
    can reach by name. (Only that reason: a call of a gradient on values that need no
    gradient is no nesting, and may fail for reasons of its own.)"""
    if exc.origin is None or not exc.reason.startswith(CANNOT_DIFFERENTIATE):
        return
    name = gradient_in(function, exc.reason)
    if name is not None:
        raise NotImplementedError(
            f'File "{exc.origin.filename}", line {exc.origin.line}, in '
            f"{exc.origin.function}:\n    {exc.origin.text}\n{higher_order_call(name)}"
        ) from exc


#: how the transform's reason begins when a call needs a gradient and it has no way through
CANNOT_DIFFERENTIATE = "cannot differentiate through "


def higher_order_call(name: str) -> str:
    """Why a call of the gradient ``name`` on a value that needs a gradient is refused."""
    return (
        f"{name} is (or makes) a gradient of astgrad's, called on a value that needs a "
        f"gradient. {ADVICE}"
    )


def gradient_in(function: Callable, text: str) -> str | None:
    """The first name in ``text`` (a call's spelling, or a reason naming it) under which
    ``function`` or its callees read a gradient; None when there is none."""
    words = set(re.findall(r"[A-Za-z_]\w*", text))
    found = sorted(words & _gradient_names(function))
    return found[0] if found else None


def _gradient_names(function: Callable, depth: int = 3) -> set[str]:
    """Names under which ``function``'s code (and, a few calls deep, its callees' code)
    reads a gradient: a global or closure variable, or an attribute of a module."""
    found: set[str] = set()
    seen: set[int] = set()
    todo = [(function, depth)]
    while todo:
        current, left = todo.pop()
        code = getattr(current, "__code__", None)
        if code is None or id(current) in seen:
            continue
        seen.add(id(current))
        names = set(_names_read(code))
        for name, value in _reachable(current, names):
            if is_gradient(value):
                found.add(name)
            elif isinstance(value, types.ModuleType):
                found.update(n for n in names if is_gradient(getattr(value, n, None)))
            elif isinstance(value, types.FunctionType) and left > 0:
                todo.append((value, left - 1))
    return found


def _names_read(code: types.CodeType) -> Iterator[str]:
    yield from code.co_names
    yield from code.co_freevars
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            yield from _names_read(constant)


def _reachable(function: Callable, names: set[str]) -> Iterator[tuple[str, Any]]:
    namespace = getattr(function, "__globals__", {})
    cells = dict(zip(function.__code__.co_freevars, getattr(function, "__closure__", None) or ()))
    for name in names:
        if name in cells:
            try:
                yield name, cells[name].cell_contents
            except ValueError:  # an empty cell
                continue
        elif name in namespace:
            yield name, namespace[name]


def _spelled(function: Any) -> str:
    name = getattr(function, "__qualname__", None) or type(function).__name__
    return f"{name!s} ({type(function).__name__})"

"""``ag.explain``: what ``ag.grad(f)`` does in ``mode="auto"``, and why.

The report is made by running the same transform a gradient call runs, so it says what
really happens: every call that runs on the tape is listed with the user's line and the
reason; a function that cannot be transformed at all runs on the tape as a whole; and a
gradient that would raise (a gradient of a gradient, an integer under ``wrt``, a failure
inside the transform) is reported as an error with its message, never by raising.
``explain`` accepts whatever ``ag.grad`` accepts: functions made by ``ag.grad``,
lambdas, ``functools.partial`` objects, NumPy and other functions without source.
"""

from __future__ import annotations

import functools
import os
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .api import Wrt, _Differentiated, _kind, _Target
from .checks import check_differentiable
from .nested import ADVICE, CANNOT_DIFFERENTIATE, gradient_in, higher_order_call, is_gradient
from .objects import as_function, other_kinds, receiver_kinds
from .transform import pipeline
from .transform.errors import TransformError

__all__ = ["explain", "Explanation", "Fallback", "ObjectCall"]


@dataclass(frozen=True)
class Fallback:
    """One call (or a whole function) that runs on the tape, and why."""

    name: str
    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.name} at {_relative(self.where)}: {self.reason}"


@dataclass(frozen=True)
class ObjectCall:
    """A call on an object or class (``layer(x)``, ``p.step(dt)``, ``Layer(W, b)``,
    ``Layer.make(w)``): which function it resolved to and how it is differentiated."""

    call: str
    where: str
    function: str
    how: str

    def __str__(self) -> str:
        return f"{self.call} at {_relative(self.where)}: {self.function}, {self.how}"


@dataclass(frozen=True)
class Explanation:
    """What ``ag.grad(f)`` does in ``mode="auto"``.

    ``mode`` is "source" when the whole gradient is generated source, "mixed" when some
    calls run on the tape, "tape" when the whole function does, "error" when calling the
    gradient raises; ``fallbacks`` says which calls run on the tape and why, ``error``
    what is raised.
    """

    function: str
    mode: str
    fallbacks: tuple[Fallback, ...]
    error: str | None = None
    #: with ``checkpoint=True``: what became of each loop (checkpointed in segments, or
    #: saved ordinarily, and why), the loops of the functions it calls too
    checkpoints: tuple[Any, ...] = ()
    #: calls on objects and classes, what each resolved to and how it runs (issue 17)
    object_calls: tuple[ObjectCall, ...] = ()

    def __str__(self) -> str:
        loops = "".join(f"\n  - {note}" for note in self.checkpoints)
        if loops:
            loops = "\ncheckpoint=True:" + loops
        if self.object_calls:
            loops += "\ncalls on objects:" + "".join(f"\n  - {c}" for c in self.object_calls)
        if self.mode == "source":
            head = f"{self.function}: mode source (the whole gradient is generated source)"
            return head + loops
        if self.mode == "error":
            return f"{self.function}: the gradient raises {self.error}"
        head = {
            "mixed": (
                f"{self.function}: mode mixed (generated source; these calls run on the tape):"
            ),
            "tape": f"{self.function}: mode tape (the whole function runs on the tape):",
        }[self.mode]
        return "\n".join([head, *(f"  - {f}" for f in self.fallbacks)]) + loops


def explain(
    fun: Callable,
    *args: Any,
    wrt: Wrt | None = None,
    checkpoint: bool | None = None,
    jit: str | None = None,
) -> Explanation:
    """Say which parts of ``fun``'s gradient are generated source and which run on the tape.

    ``wrt`` is as for ``ag.grad`` (for a function made by ``ag.grad``, its own by
    default). With example arguments ``args``, the report is for calls with arguments
    like them, as ``ag.source(f, *args)`` shows the source for them; an argument that
    cannot be differentiated is then reported as the error it would raise. With
    ``checkpoint=True`` (for a function made by ``ag.grad``, by default its own setting),
    ``.checkpoints`` says what ``ag.grad(f, checkpoint=True)`` makes of each loop: cut into
    checkpointed segments, or saved ordinarily, and why. With ``jit="numba"`` and example
    arguments, what ``ag.grad(f, jit="numba")`` does with them: compiled (and in how
    long), or uncompiled and why (``astgrad.jit.JitExplanation``).

    >>> import numpy as np
    >>> import astgrad as ag
    >>> def f(x):
    ...     return np.sum(np.sin(x))
    >>> ag.explain(f).mode in ("source", "tape")   # "tape" here: typed at a prompt, no source
    True
    >>> print(ag.explain(np.sum))  # doctest: +ELLIPSIS
    sum: mode tape (the whole function runs on the tape):
      - sum at numpy: 'sum' is not a Python function of yours ...
    """
    if jit is not None:
        from .jit import check_jit, explain_jit

        check_jit(jit)
        return explain_jit(fun, args, wrt, explain(fun, *args, wrt=wrt))
    try:  # a bound method: its function, wrt counted after self
        bound, (fun, wrt, args) = fun, as_function(fun, wrt, args, _Target)
    except (TypeError, ValueError) as exc:
        return _error(_describe(fun), f"{type(exc).__name__}: {exc}")
    if checkpoint is None:
        checkpoint = isinstance(fun, _Differentiated) and fun.checkpoint
    if isinstance(fun, _Differentiated):
        if wrt is None:
            names = fun.target.names
            wrt = names[0] if fun.target.single else names
        fun = fun.function
    name = _describe(fun)
    if is_gradient(fun):
        return _error(name, f"NotImplementedError: {name} is itself a gradient. {ADVICE}")
    try:  # what ag.grad(fun, wrt=wrt) and its call would refuse, with the same errors
        target = _Target(fun, 0 if wrt is None else wrt)
        kinds = None
        if args:
            values = target.values(args, {})
            check_differentiable(target.names, values)
            kinds = dict(zip(target.names, (_kind(v) for v in values)))
            kinds.update(other_kinds(target, args))  # (objects among the others)
        else:
            kinds = receiver_kinds(bound, target)  # (a bound method's object)
    except (TypeError, ValueError) as exc:
        return _error(name, f"{type(exc).__name__}: {exc}")
    whole = False  # the whole function goes to the tape
    try:
        derivative = pipeline.derive(
            fun, target.names, param_kinds=kinds, mode="auto", checkpoint=checkpoint
        )
    except TransformError as exc:
        whole, fallbacks = True, [(name, exc.origin, exc.reason)]
        loops: tuple = ()
    except Exception as exc:  # the gradient call would raise this too: say so, not raise
        return _error(name, f"{type(exc).__name__} (while transforming): {exc}")
    else:
        fallbacks = list(derivative.fallbacks)
        loops = tuple(derivative.checkpoints)
    calls = () if whole else _object_calls(derivative.object_calls, fallbacks, fun)
    for call, origin, reason in fallbacks:
        # A call sent to the tape needs a gradient: if it is a gradient's, it raises there.
        # (A whole function on the tape: only if that call was why.)
        needs = not whole or reason.startswith(CANNOT_DIFFERENTIATE)
        gradient = gradient_in(fun, f"{call if not whole else ''} {reason}") if needs else None
        if gradient is not None and not _differentiable_gradient(fun, gradient):
            return _error(name, f"NotImplementedError at {origin}: {higher_order_call(gradient)}")
    reports = tuple(
        Fallback(call, str(origin) if origin is not None else _where(fun), reason)
        for call, origin, reason in fallbacks
    )
    if not reports:
        return Explanation(name, "source", (), checkpoints=loops, object_calls=calls)
    mode = "tape" if whole else "mixed"
    return Explanation(name, mode, reports, checkpoints=loops, object_calls=calls)


def _object_calls(notes: list, fallbacks: list, fun: Any) -> tuple[ObjectCall, ...]:
    """The calls on objects the transform resolved, each said to run on the tape (and
    why) where a call at its line does."""
    on_tape = {(str(origin), call): reason for call, origin, reason in fallbacks}
    found = []
    for call, origin, function, how in notes:
        where = str(origin) if origin is not None else _where(fun)
        reason = on_tape.get((str(origin), function))
        if reason is not None:
            how = f"on the tape: {reason}"
        found.append(ObjectCall(call, where, function, how))
    return tuple(found)


def _differentiable_gradient(fun: Any, name: str) -> bool:
    """Whether the gradient ``fun`` reads as ``name`` is differentiable again: ``ag.grad``
    itself (what it makes carries a rule), or a gradient that carries one (see
    ``higher.gradient_rule``). ``value_and_grad``, ``vjp`` and pullbacks are not."""
    from . import api

    values = [getattr(fun, "__globals__", {}).get(name)]
    code = getattr(fun, "__code__", None)
    if code is not None and fun.__closure__:
        values += [c.cell_contents for n, c in zip(code.co_freevars, fun.__closure__) if n == name]
    for value in list(getattr(fun, "__globals__", {}).values()):
        if isinstance(value, types.ModuleType):
            values.append(getattr(value, name, None))
    return any(
        value is api.grad or getattr(value, "__astgrad_rule__", None) is not None
        for value in values
        if value is not None
    )


def _relative(where: str) -> str:
    """``where`` (``file:line``) with the file relative to the working directory when it
    is under it, as a person would type it."""
    here = os.getcwd() + os.sep
    return where[len(here) :] if where.startswith(here) else where


def _error(name: str, message: str) -> Explanation:
    return Explanation(name, "error", (), message)


def _describe(fun: Any) -> str:
    """How to name ``fun`` in a report: its qualified name; a partial by what it wraps."""
    if isinstance(fun, functools.partial):
        return f"functools.partial({_describe(fun.func)}, ...)"
    return getattr(fun, "__qualname__", None) or getattr(fun, "__name__", None) or repr(fun)


def _where(fun: Any) -> str:
    """Where ``fun`` is defined: file and line for Python code, else its module."""
    while isinstance(fun, functools.partial):
        fun = fun.func
    code = getattr(fun, "__code__", None)
    if code is not None:
        return f"{code.co_filename}:{code.co_firstlineno}"
    module = getattr(fun, "__module__", None) or type(fun).__module__
    return module.split(".")[0] if module else "<unknown>"

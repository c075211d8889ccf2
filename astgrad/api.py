"""The public entry points: ``grad``, ``value_and_grad``, ``vjp``, ``source``.

Each takes a plain Python/NumPy function. In ``mode="source"`` its gradient is generated
source; in ``mode="tape"`` it runs on the runtime tape; ``mode="auto"`` (the default)
generates source and runs on the tape only what cannot be transformed.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import types
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .checks import check_differentiable, refuse_matrices
from .nested import (
    outer_mode,
    reads_recording,
    refuse_gradient_of_gradient,
    refuse_recording,
    refuse_transform_error,
)
from .objects import UNBOUND, as_function, other_kinds, receiver_kinds, unbind
from .pullback_checks import EVERYTHING, Unchanged, apart, reads_of
from .runtime import anomaly as _anomaly
from .runtime.adjoints import finish_gradient, scalar_seed
from .runtime.dask_support import holds_dask, refusing_hidden_computes, same_shape
from .runtime.device import CPU, device_guard, number_beside, placement
from .runtime.fallback import Pullback, tape_plan, tape_vjp
from .runtime.grad_mode import _state as _grad_state
from .runtime.grad_mode import is_grad_enabled
from .runtime.objects import SharedObjectError, describe, entry_states, is_object
from .runtime.plans import MISS as _MISS
from .runtime.plans import Plan, pattern
from .runtime.tensor import MADE_BY_HAND, GradientLostError, Tensor
from .transform.errors import TransformError

__all__ = ["grad", "value_and_grad", "vjp", "source", "TransformError"]

Wrt = int | str | Sequence[int | str]
MODES = ("auto", "source", "tape")


class _Target:
    """Which parameters of a function to differentiate, checked once against its signature."""

    def __init__(self, function: Callable, wrt: Wrt) -> None:
        _check_function(function)
        self.function_name = _name(function)
        signature = _signature_of(function, wrt)
        self.signature = signature
        params = list(signature.parameters.values())
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        self.single = not isinstance(wrt, (tuple, list))
        requested = [wrt] if self.single else list(wrt)
        if not requested:
            raise ValueError("wrt is empty: name at least one parameter to differentiate")
        names = []
        for item in requested:
            if isinstance(item, bool) or not isinstance(item, (int, str)):
                raise TypeError(f"wrt entries are parameter positions or names, not {item!r}")
            if isinstance(item, int):
                if not -len(positional) <= item < len(positional):
                    raise ValueError(
                        f"wrt={item} is out of range: {_name(function)} has "
                        f"{len(positional)} positional parameter(s) "
                        f"({', '.join(p.name for p in positional)})"
                    )
                names.append(positional[item].name)
            else:
                if item not in signature.parameters:
                    raise ValueError(
                        f"wrt={item!r} is not a parameter of {_name(function)}; its parameters "
                        f"are {', '.join(signature.parameters)}"
                    )
                kind = signature.parameters[item].kind
                if kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                    raise ValueError(
                        f"wrt={item!r} names a *args/**kwargs parameter, which cannot be "
                        "differentiated"
                    )
                names.append(item)
        if len(set(names)) != len(names):
            raise ValueError(f"wrt names a parameter twice: {names}")
        self.names = tuple(names)
        index = {p.name: i for i, p in enumerate(positional)}
        self.positions = tuple(index.get(n) for n in names)

    def values(self, args: tuple, kwargs: dict) -> list[Any]:
        """The arguments being differentiated, from a call's arguments."""
        if not kwargs and all(p is not None and p < len(args) for p in self.positions):
            return [args[p] for p in self.positions]
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:  # say whose arguments, as calling the function would
            raise TypeError(f"{self.function_name}(): {exc}") from None
        bound.apply_defaults()
        return [bound.arguments[n] for n in self.names]

    def slots(self, args: tuple, kwargs: dict) -> list[tuple[str, Any]]:
        """Where each differentiated argument sits in (args, kwargs), for the tape."""
        slots = []
        for name, position in zip(self.names, self.positions):
            if name in kwargs:
                slots.append(("kwargs", name))
            elif position is not None and position < len(args):
                slots.append(("args", position))
            else:
                raise TypeError(f"missing the argument {name!r} to differentiate")
        return slots

    def package(self, gradients: list[Any]) -> Any:
        return gradients[0] if self.single else tuple(gradients)


def _check_function(function: Any) -> None:
    """Refuse what is not a function returning a value to differentiate, saying why."""
    if not callable(function):
        raise TypeError(
            f"astgrad differentiates functions; got {function!r} "
            f"({type(function).__name__}), which cannot be called"
        )
    plain = inspect.unwrap(function) if inspect.isfunction(function) else function
    made = None
    if inspect.isgeneratorfunction(plain):
        made = "a generator function: calling it makes a generator"
    elif inspect.iscoroutinefunction(plain):
        made = "an async function: calling it makes a coroutine"
    elif inspect.isasyncgenfunction(plain):
        made = "an async generator function: calling it makes an async generator"
    if made is not None:
        raise TypeError(
            f"{_name(function)} ({_location(plain)}) is {made}, not a number, so it has no "
            "gradient. Differentiate a plain function that returns the value."
        )


def _signature_of(function: Callable, wrt: Wrt) -> inspect.Signature:
    """``function``'s signature; for a callable that has none to read (a NumPy ufunc before
    NumPy 2.3, a builtin written in C), positional parameters enough for ``wrt``."""
    try:
        return inspect.signature(function)
    except (TypeError, ValueError) as exc:
        reason = exc
    requested = [wrt] if not isinstance(wrt, (tuple, list)) else list(wrt)
    positions = [i for i in requested if isinstance(i, int) and not isinstance(i, bool)]
    if len(positions) != len(requested):
        raise TypeError(
            f"cannot read the signature of {function!r} ({reason}), so wrt cannot name its "
            "parameters: give their positions instead, as in wrt=0"
        ) from None
    nin = getattr(function, "nin", None)  # a ufunc says how many inputs it takes
    count = nin if isinstance(nin, int) else max(max(positions) + 1, 1)
    only = inspect.Parameter.POSITIONAL_ONLY
    params = [inspect.Parameter(f"x{i + 1}", only) for i in range(count)]
    if not isinstance(nin, int):
        params.append(inspect.Parameter("args", inspect.Parameter.VAR_POSITIONAL))
    return inspect.Signature(params)


def _name(function: Callable) -> str:
    return getattr(function, "__qualname__", repr(function))


_VALUE = ("value",)
#: a NumPy array's kind by its ndim: the generated code may rely on it (``u[i]`` of a
#: vector is a number), so a call with another ndim gets a derivative of its own
_ARRAY_KINDS = tuple(("value", "ndarray", ndim) for ndim in range(65))


_NO_CONTEXT = contextlib.nullcontext()


def _kind(value: Any) -> tuple:
    if type(value) is np.ndarray:
        # The common case first: this runs for every argument of every call.
        return _ARRAY_KINDS[value.ndim]
    if isinstance(value, tuple):
        return ("tuple", len(value), *_array_items(value))
    if isinstance(value, list):
        if value and is_object(value[0]):  # particles: what each holds too (issue 17)
            return ("list", len(value), tuple(describe(item) for item in value))
        return ("list", len(value), *_array_items(value))
    if isinstance(value, dict):
        return ("dict",)
    if type(value) is float:
        return ("value", "float")  # shape (): the generated code can skip shape bookkeeping
    if type(value) is int:
        return ("value", "int")  # a range's bound the backward pass can read again
    if is_object(value):
        return describe(value)  # its class and what it holds (see runtime.objects)
    return _VALUE


def _array_items(items: list | tuple) -> tuple:
    """``(item kinds,)`` for a list or tuple of NumPy arrays, else ``()``. A model's
    weights held in a list (``W1, b1, W2, b2 = params``) are then known to be matrices
    and vectors (``transform.ranks``), as arrays given one by one are, so their products'
    gradients are written as products; a call plan checks each item's ndim (see
    ``runtime.plans``)."""
    if items and all(type(item) is np.ndarray for item in items):
        return (tuple(_ARRAY_KINDS[item.ndim] for item in items),)
    return ()


def _check_checkpoint(checkpoint: Any) -> None:
    if not isinstance(checkpoint, bool):
        raise TypeError(f"checkpoint must be True or False, not {checkpoint!r}")


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(map(repr, MODES))}, not {mode!r}")


class _Differentiated:
    """A function's gradient, generated on first call and cached per argument kinds.

    A call that repeats the last one's pattern of plain host arguments takes a *call
    plan* (see runtime.plans): a small generated function that checks what the pattern
    leaves open and calls the derivative. Anything it does not expect sends the call down
    the general path (``_call``), which has the full checks and messages.
    """

    #: a gradient, which astgrad cannot differentiate again yet (see nested)
    __astgrad_gradient__ = True

    def __init__(
        self,
        function: Callable,
        wrt: Wrt,
        mode: str,
        with_value: bool,
        checkpoint: bool = False,
        jit: str | None = None,
    ) -> None:
        _check_mode(mode)
        _check_checkpoint(checkpoint)
        if jit is not None:
            from . import jit as compiling

            compiling.check_jit(jit, mode, checkpoint)
            self._jit_call = compiling.call
            #: the last compiled call's plan (astgrad.jit._plan_for), tried first
            self._jit_plan: Callable[[tuple], Any] | None = None
        #: "numba": the generated gradient compiled with Numba where it fits (astgrad.jit)
        self.jit = jit
        mode = outer_mode(function, mode)
        refuse_gradient_of_gradient(
            function, "ag.value_and_grad" if with_value else "ag.grad", mode
        )
        #: the object a bound method was bound to, passed first on every call
        self.receiver = UNBOUND
        if isinstance(function, types.MethodType) and inspect.isfunction(function.__func__):
            method, (function, shifted, self.receiver) = function, unbind(function, wrt)
            _Target(method, wrt)  # wrt checked against the method's own parameters
            wrt = shifted
        self.function = function
        self.target = _Target(function, wrt)
        self.mode = mode
        self.with_value = with_value
        #: loops cut into checkpointed segments (see transform/checkpoint.py)
        self.checkpoint = bool(checkpoint)
        self._derivatives: dict[tuple, Any] = {}
        self._plan: Callable[[tuple], Any] | None = None  # the last plan made, if any
        # by pattern: the plan, and the derivative it calls
        self._plans: dict[tuple, tuple[Any, Plan]] = {}
        # (not a gradient's __dict__: its function, target and mode would replace these)
        updated = () if isinstance(function, _Differentiated) else functools.WRAPPER_UPDATES
        functools.update_wrapper(self, function, updated=updated)

    def __repr__(self) -> str:
        names = self.target.names
        wrt = names[0] if self.target.single else names
        what = "value_and_grad" if self.with_value else "grad"
        return f"<ag.{what} of {self.target.function_name}, wrt={wrt!r}, mode={self.mode!r}>"

    @property
    def __astgrad_rule__(self) -> Any:
        """The rule table's entry for calls of this gradient (``higher.gradient_rule``):
        the gradient of ``f`` with respect to one parameter is differentiable again, its
        vjp a Hessian-vector product. None for ``value_and_grad`` and several ``wrt``."""
        if self.with_value or not self.target.single:
            return None
        rule = self.__dict__.get("_rule")
        if rule is None:
            from .higher import gradient_rule

            rule = self.__dict__["_rule"] = gradient_rule(self)
        return rule

    def _derivative(self, kinds: tuple, others: tuple = ()) -> Any:
        # (others: the kinds of the objects among the other arguments, whose classes the
        # generated code assumes: see objects.other_kinds)
        key = (kinds, others) if others else kinds
        found = self._derivatives.get(key)
        if found is not None and (found == "tape" or not found.is_stale()):
            return found
        if self.mode == "tape":
            found = "tape"
        else:
            try:
                from .transform import pipeline  # (here: import astgrad does without it)

                found = pipeline.derive(
                    self.function,
                    self.target.names,
                    param_kinds={**dict(others), **dict(zip(self.target.names, kinds))},
                    mode=self.mode,
                    checkpoint=self.checkpoint,
                )
            except TransformError:
                if self.mode == "source":
                    raise
                found = "tape"
        self._derivatives[key] = found
        return found

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        """In a class body, ``@ag.grad`` makes a method: ``obj.dloss(x)`` is
        ``dloss(obj, x)``, as for the function it decorates."""
        return self if instance is None else types.MethodType(self, instance)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.receiver is not UNBOUND:
            args = (self.receiver, *args)
        try:  # free until something raises (Python 3.11)
            if self.jit is not None:
                plan = self._jit_plan
                if plan is not None and not kwargs:
                    result = plan(args)
                    if result is not _MISS:
                        return result
                return self._jit_call(self, args, kwargs)
            plan = self._plan
            # (While a thread is in anomaly mode, the general path picks the derivative.)
            if plan is not None and not kwargs and not _anomaly.threads:
                result = plan(args)
                if result is not _MISS:
                    return result
            return self._call(args, kwargs)
        except Exception as exc:
            if isinstance(exc, TransformError):  # (mode="source"; "auto" took the tape)
                refuse_transform_error(self.function, exc)
            if isinstance(exc, GradientLostError) and self.mode != "tape" and is_grad_enabled():
                # Generated code met a tensor that records, which only the function's
                # closure, defaults or globals can hold (its arguments are plain): an
                # outer derivative is taken through them, and the tape follows it.
                try:
                    return self._on_tape(args, kwargs)
                except GradientLostError:
                    pass  # (the tape loses it too: the first error says where)
            _name_the_user_line(exc)
            raise

    def _call(self, args: tuple, kwargs: dict) -> Any:
        """A call in general: any arguments, on any device. Prepares a plan for calls like
        this one where it can."""
        target = self.target
        if self.mode != "tape" and not kwargs and _records(args):
            if reads_recording(self.function):
                # The rule below follows the arguments only: the tape follows the tensors
                # that record outside them too.
                return self._on_tape(args, kwargs)
            rule = self.__astgrad_rule__
            if rule is not None:
                # Called on the tape: one node, whose vjp is a Hessian-vector product.
                from .runtime import recording

                return recording.apply(rule, self, args)
        # (Plans take host arrays and floats only: a tensor that records comes here.)
        refuse_recording(args, kwargs, f"the gradient of {target.function_name}", self.mode)
        refuse_matrices(args, kwargs)
        originals = target.values(args, kwargs)
        check_differentiable(target.names, originals)
        kinds = tuple(_kind(v) for v in originals)
        derivative = self._derivative(kinds, other_kinds(target, args))
        if derivative != "tape" and derivative.writes_objects:
            originals = entry_states(originals)  # (their attributes change: issue 17)
        if derivative != "tape" and _outer_tensors_possible() and reads_recording(self.function):
            return self._on_tape(args, kwargs)
        if derivative == "tape":
            found = None if kwargs else pattern(args, target.positions)
            if found is not None:
                # Calls like this one take the tape's plan from now on (as _prepare does
                # for generated code), this one included.
                plan = tape_plan(
                    self.function,
                    found,
                    target.positions,
                    single=target.single,
                    with_value=self.with_value,
                ).call
                self._plan = plan
                result = plan(args)
                if result is not _MISS:
                    return result
            # (Dask arrays: what Dask cannot do lazily raises here too, see below.)
            with refusing_hidden_computes() if holds_dask((args, kwargs)) else _NO_CONTEXT:
                value, pullback = tape_vjp(self.function, args, kwargs, target.slots(args, kwargs))
                gradients = target.package(pullback(None))
            return (value, gradients) if self.with_value else gradients
        # A call that can have a plan has only host arguments: no device to make current.
        planned = not kwargs and self._prepare(args, derivative)
        # Dask arrays: what Dask cannot do lazily raises instead of computing (dask_support).
        lazy = not planned and holds_dask((args, kwargs))
        with (
            device_guard(CPU if planned else placement((args, kwargs))),
            refusing_hidden_computes() if lazy else _NO_CONTEXT,
        ):
            try:
                value, raw = derivative.fused(*args, **kwargs)
            except SharedObjectError:  # (checked first thing: nothing ran yet)
                if self.mode != "auto":
                    raise
                return self._on_tape(args, kwargs)  # an object it changes, reached twice
            if len(originals) == 1:  # generated code returns a single gradient bare
                gradients = target.package([finish_gradient(raw, originals[0])])
            else:
                gradients = tuple(finish_gradient(g, x) for g, x in zip(raw, originals))
        return (value, gradients) if self.with_value else gradients

    def _on_tape(self, args: tuple, kwargs: dict) -> Any:
        """This call on the tape, for a function that reads tensors that record from
        outside its arguments: its gradients come back as functions of them (see
        fallback._outside_pullback), which generated code cannot give. No plan is made:
        later calls may find plain values there again."""
        target = self.target
        value, pullback = tape_vjp(self.function, args, kwargs, target.slots(args, kwargs))
        gradients = target.package(pullback(None))
        return (value, gradients) if self.with_value else gradients

    def _prepare(self, args: tuple, derivative: Any) -> bool:
        """Make (or find) the plan for calls like this one and make it the one to try
        first. False when there can be none: then the arguments may be off the host."""
        target = self.target
        found = pattern(args, target.positions, lists=True)
        if found is None:
            return False
        made = self._plans.get(found)
        if made is None or made[0] is not derivative:
            from .transform import guards

            guard = derivative.guard.check
            plan = Plan(
                found,
                target.positions,
                derivative.fused,
                guard=None if guard is guards.nothing_to_check else guard,
                finished=False,
                single=target.single,
                with_value=self.with_value,
            )
            made = self._plans[found] = (derivative, plan)
        self._plan = made[1].call
        return True

    def source(self) -> str:
        """The generated source (as for ``ag.source``)."""
        return source(
            self.function,
            wrt=self.target.names if not self.target.single else self.target.names[0],
            checkpoint=self.checkpoint,
        )


def grad(
    fun: Callable | None = None,
    *,
    wrt: Wrt = 0,
    mode: str = "auto",
    checkpoint: bool = False,
    jit: str | None = None,
) -> Any:
    """The gradient of a scalar-valued function, as a function of the same arguments.

    ``wrt`` is a parameter position or name, or a tuple of them (then a tuple of
    gradients comes back, in that order). Each gradient has its argument's type, shape and
    dtype. Usable bare (``@ag.grad``), with arguments (``@ag.grad(wrt="W")``) or called.
    ``checkpoint=True`` differentiates each ``for`` loop over ``range(...)`` in about
    ``sqrt(n)`` memory: its state is kept once per segment of about ``sqrt(n)``
    iterations, and each segment is run again, saving, right before its backward pass
    (README, **Checkpointing**; ``ag.explain(f, checkpoint=True)`` says which loops).
    ``jit="numba"`` compiles the generated gradient with Numba, once per argument types,
    where it fits Numba's subset, and runs it uncompiled where not (``ag.explain(f,
    *args, jit="numba")`` says why; README, **Compiling gradients with Numba**).

    >>> import numpy as np
    >>> import astgrad as ag
    >>> @ag.grad(wrt=("w", "b"))
    ... def loss(w, b, x):
    ...     return np.sum((x * w + b) ** 2)
    >>> dw, db = loss(np.ones(2), 0.5, np.array([1.0, 2.0]))
    >>> dw, db
    (array([ 3., 10.]), 8.0)
    """
    if fun is None:
        return lambda f: _differentiated(f, wrt, mode, False, checkpoint, jit)
    return _differentiated(fun, wrt, mode, False, checkpoint, jit)


def value_and_grad(
    fun: Callable | None = None,
    *,
    wrt: Wrt = 0,
    mode: str = "auto",
    checkpoint: bool = False,
    jit: str | None = None,
) -> Any:
    """Like :func:`grad`, but the function returns ``(value, gradient(s))``.

    >>> import astgrad as ag
    >>> ag.value_and_grad(lambda x: x * x)(3.0)
    (9.0, 6.0)
    """
    if fun is None:
        return lambda f: _differentiated(f, wrt, mode, True, checkpoint, jit)
    return _differentiated(fun, wrt, mode, True, checkpoint, jit)


def _outer_tensors_possible() -> bool:
    """Whether a tensor that records can exist outside the arguments: grad mode is on and
    a function runs on the tape (a gradient called inside it may close over its
    variables), or tensors made to require grad by hand are alive. Cheap: the general
    path asks it before looking (``nested.reads_recording``)."""
    return _grad_state.enabled and bool(_grad_state.numbers or MADE_BY_HAND)


def _records(args: tuple) -> bool:
    """Whether an argument is a tensor that records (a function on the tape calls this)."""
    return is_grad_enabled() and any(isinstance(a, Tensor) and a.requires_grad for a in args)


def _has_rule(fun: Any) -> bool:
    """Whether ``fun`` is a gradient made by ``ag.grad`` outside the tape whose calls are
    an entry of the rule table (``higher.gradient_rule``): then its own derivative is a
    Hessian-vector product, in any outer mode. (One on the tape composes on the tape.)"""
    return (
        isinstance(fun, _Differentiated) and fun.mode != "tape" and fun.__astgrad_rule__ is not None
    )


def _differentiated(
    fun: Callable,
    wrt: Wrt,
    mode: str,
    with_value: bool,
    checkpoint: bool = False,
    jit: str | None = None,
) -> Any:
    """A gradient of ``fun``; of a gradient made by ``ag.grad`` (not on the tape), through
    its rule: a second derivative (see ``higher.NestedGradient``)."""
    from .higher import NestedGradient, on_the_tape

    if _has_rule(fun):
        return NestedGradient(fun, wrt, mode, with_value)
    if isinstance(fun, NestedGradient):
        # A third derivative: the tape composes to any order (generated code stops at two).
        if mode == "source":
            raise NotImplementedError(
                f"a derivative of {fun.target.function_name}'s second derivative: generated "
                'source goes to second order; use mode="auto" or mode="tape", which compute '
                "third and higher derivatives on the tape"
            )
        return _Differentiated(on_the_tape(fun), wrt, "tape", with_value)
    if isinstance(fun, _Differentiated) and fun.mode == "tape" and mode == "auto":
        mode = "tape"  # a gradient on the tape composes on the tape
    return _Differentiated(fun, wrt, mode, with_value, checkpoint, jit)


def vjp(
    fun: Callable, *args: Any, wrt: Wrt = 0, mode: str = "auto", checkpoint: bool = False
) -> tuple[Any, Pullback]:
    """Evaluate ``fun(*args)`` and return ``(value, pullback)``.

    ``pullback(cotangent)`` returns the gradient(s) of ``sum(value * cotangent)`` with
    respect to ``wrt``. The cotangent may be left out for a scalar value. Called once, the
    pullback frees what it saved; ``pullback(c, retain_graph=True)`` allows another call.

    >>> import numpy as np
    >>> import astgrad as ag
    >>> y, pullback = ag.vjp(np.sin, np.zeros(2))
    >>> pullback(np.array([1.0, 2.0]))
    array([1., 2.])
    """
    _check_mode(mode)
    _check_checkpoint(checkpoint)
    fun, wrt, args = as_function(fun, wrt, args, _Target)  # a bound method: its function
    if _has_rule(fun):
        from .higher import gradient_vjp

        return gradient_vjp(fun, args, wrt)
    mode = outer_mode(fun, mode)
    refuse_gradient_of_gradient(fun, "ag.vjp", mode)
    refuse_recording(args, {}, "ag.vjp", mode)
    refuse_matrices(args, {})
    target = _Target(fun, wrt)
    originals = target.values(args, {})
    check_differentiable(target.names, originals)
    kinds = dict(zip(target.names, (_kind(v) for v in originals)))
    kinds.update(other_kinds(target, args))  # (objects among the others: issue 17)
    derivative = None
    if mode != "tape":
        try:
            from .transform import pipeline  # (here: import astgrad does without it)

            derivative = pipeline.derive(
                fun, target.names, split=True, param_kinds=kinds, mode=mode,
                checkpoint=checkpoint,
            )  # fmt: skip
        except TransformError as exc:
            if mode == "source":
                refuse_transform_error(fun, exc)
                raise
    if derivative is None or (_outer_tensors_possible() and reads_recording(fun)):
        return _tape_vjp(fun, args, target)
    return _generated_vjp(fun, args, target, originals, derivative)


def _tape_vjp(fun: Callable, args: tuple, target: _Target) -> tuple[Any, Pullback]:
    """``vjp`` on the tape. The recorded graph may hold any array of the value, so the
    user gets copies; the arrays the user can reach are checked (see pullback_checks)."""
    value, tape_pullback = tape_vjp(fun, args, {}, target.slots(args, {}))
    value = apart(value, EVERYTHING)
    # (The graph holds what the function read; only changes in place can matter.)
    params = list(target.signature.parameters)
    unchanged = Unchanged(fun, args, params, EVERYTHING, live_names=False)

    def tape_backward(cotangent: Any, retain_graph: bool) -> Any:
        refuse_recording((cotangent,), {}, f"the pullback of {target.function_name}", "tape")
        unchanged.check()
        _check_cotangent(value, cotangent)
        return target.package(tape_pullback(cotangent, retain_graph=retain_graph))

    return value, Pullback(tape_backward, value)


def _generated_vjp(
    fun: Callable, args: tuple, target: _Target, originals: list, derivative: Any
) -> tuple[Any, Pullback]:
    """``vjp`` through the generated forward and backward functions. What the backward
    pass reads is the saved tuple: the parts of the value it holds are copied for the
    user, the arrays the user can reach that it holds are checked (see pullback_checks);
    a tape pullback kept inside holds what it holds, so then everything is."""
    if derivative.writes_objects:
        originals = entry_states(originals)  # (their attributes change: issue 17)
    # The arguments' GPU is made current while generated code runs, forward and backward,
    # so that what it creates without saying where lands beside them.
    where = placement(args)
    with device_guard(where):
        try:
            value, saved = derivative.forward(*args)
        except GradientLostError:
            if not is_grad_enabled():
                raise
            # A tensor that records, from outside the arguments: see _Differentiated.
            return _tape_vjp(fun, args, target)
        except Exception as exc:
            _name_the_user_line(exc)
            raise
    reads = EVERYTHING if derivative.fallbacks else reads_of(saved)
    value = apart(value, reads)
    params = list(target.signature.parameters)
    # (Generated code reads globals and closure variables live: rebinding one matters too.)
    unchanged = Unchanged(fun, args, params, reads, live_names=True)

    # A backward pass that puts back what the forward pass overwrote in an array or list
    # (restore_item) changes the saved values, and views of them saved beside: a pullback
    # to be called again runs on the saved values of a forward pass of its own, else its
    # second call would read the values as they were before the writes (ag.jacobian's
    # pullback per output direction was wrong). (A copy would not do: it parts views from
    # the arrays they view.)
    restores = _restores_saved(derivative) and not derivative.writes_objects

    def backward(cotangent: Any, retain_graph: bool) -> Any:
        refuse_recording((cotangent,), {}, f"the pullback of {target.function_name}")
        unchanged.check()
        try:
            if retain_graph and restores:
                with device_guard(where):
                    _, own = derivative.forward(*args)
                return generated_backward(cotangent, own)
            return generated_backward(cotangent, saved)
        except GradientLostError:
            if not is_grad_enabled():
                raise
            # A tensor that records reached from outside the arguments (see
            # _Differentiated): the pullback of the function run on the tape follows it.
            _, tape_pullback = _tape_vjp(fun, args, target)
            return tape_pullback(cotangent)

    def generated_backward(cotangent: Any, saved: Any) -> Any:
        with device_guard(where):
            if cotangent is None:
                cotangent = scalar_seed(value)
            else:
                _check_cotangent(value, cotangent)
                cotangent = number_beside(cotangent, value)
            try:
                raw = derivative.backward(saved, cotangent)
            except Exception as exc:
                _name_the_user_line(exc)
                raise
            if len(originals) == 1:  # generated code returns a single gradient bare
                return target.package([finish_gradient(raw, originals[0])])
            return tuple(finish_gradient(g, x) for g, x in zip(raw, originals))

    return value, Pullback(backward, value)


def _restores_saved(derivative: Any) -> bool:
    """Whether the backward pass of ``derivative`` (or of a function it calls) puts back
    values the forward pass overwrote, changing what it was saved (see _generated_vjp)."""
    return "restore_item" in derivative.source or any(
        _restores_saved(callee) for callee in derivative.callees
    )


# The makers of gradients: called inside a function being differentiated, on a value that
# needs a gradient, they ask for a higher-order derivative (see nested).
grad.__astgrad_gradient__ = value_and_grad.__astgrad_gradient__ = vjp.__astgrad_gradient__ = True


def _name_the_user_line(exc: BaseException) -> None:
    """Add a note to an error raised inside generated code (a shape mismatch, say) naming
    the user's file and line that code was made from: the traceback itself shows only the
    generated line."""
    notes = getattr(exc, "__notes__", ())
    if any(isinstance(note, str) and note.startswith(_NOTE_HEAD) for note in notes):
        return  # a gradient called from a gradient noted it
    from .transform import emit

    found = emit.user_line_of(exc.__traceback__)
    if found is None:
        return
    origin, generated, line = found
    note = (
        f"{_NOTE_HEAD} (generated line {line} of {generated}):\n"
        f'  File "{origin.filename}", line {origin.line}, in {origin.function}\n'
        f"    {origin.text}"
    )
    if hasattr(exc, "add_note"):
        exc.add_note(note)
        return
    try:  # Python 3.10: no add_note, but __notes__ as PEP 678 defines it, for tools to read
        exc.__notes__ = [*notes, note]
    except (AttributeError, TypeError):
        pass


_NOTE_HEAD = "astgrad: raised by the generated gradient code for this line of yours"


def _check_cotangent(value: Any, cotangent: Any) -> None:
    if cotangent is None:
        return
    expected = getattr(value, "shape", None)
    got = getattr(cotangent, "shape", ())
    if expected is not None and not same_shape(tuple(got), tuple(expected)):
        raise ValueError(
            f"the cotangent has shape {tuple(got)}, but the function's value has shape "
            f"{tuple(expected)}; they must match"
        )


def _location(fun: Callable) -> str:
    code = getattr(fun, "__code__", None)
    return f"{code.co_filename}:{code.co_firstlineno}" if code else "<unknown>"


def source(
    fun: Callable,
    *args: Any,
    wrt: Wrt | None = None,
    stage: str | None = None,
    forward: bool = False,
    checkpoint: bool | None = None,
    mode: str = "auto",
) -> str:
    """The generated gradient source of ``fun`` (and of the functions it calls).

    With example arguments ``args``, the source generated for arguments like them: a
    gradient is specialized for the kinds of its arguments (Python floats make every
    value a number, so shape bookkeeping disappears), and this shows the one that runs.
    ``stage`` stops the pipeline early to show the function as it stands after that
    stage: "parse" or any pass of the pipeline, in order (``transform.pipeline.STAGES``:
    "desugar", "normalize", "analyze", "shapes", "reverse", ..., "saves"); from
    "reverse" on, the forward and backward statements are printed as one function.
    ``mode="source"`` raises where a call would run on the tape (as ``ag.grad(f,
    mode="source")`` would). ``forward=True`` shows forward mode's source instead (what
    ``ag.jvp`` runs, stages ``transform.pipeline.FORWARD_STAGES``). ``checkpoint=True``
    shows the gradient
    ``ag.grad(f, checkpoint=True)`` runs: each checkpointed loop a loop over segments
    calling a segment function, whose source follows (None: a gradient's own setting).

    >>> import numpy as np
    >>> import astgrad as ag
    >>> def f(x):
    ...     return np.sum(np.tanh(x))
    >>> print(ag.source(f))  # doctest: +NORMALIZE_WHITESPACE
    def f_grad(x):
        tanh = np.tanh(x)
        total = np.sum(tanh)
        dtotal = scalar_seed(total)
        # grad of: return np.sum(np.tanh(x))
        dx = dtotal * (1 - tanh * tanh)
        return total, dx
    """
    from .higher import NestedGradient, nested_source

    if mode not in ("auto", "source"):
        raise ValueError(f"ag.source's mode is 'auto' or 'source', not {mode!r}")
    bound, (fun, wrt, args) = fun, as_function(fun, wrt, args, _Target)  # (a bound method)
    if isinstance(fun, NestedGradient):
        if stage is not None or forward:
            raise ValueError("ag.source of a gradient of a gradient shows its final source only")
        return nested_source(fun, *args)
    if checkpoint is None:
        checkpoint = isinstance(fun, _Differentiated) and fun.checkpoint
    _check_checkpoint(checkpoint)
    if isinstance(fun, _Differentiated):
        if wrt is None:  # what the gradient was made for (@ag.grad(wrt=("W", "b")))
            names = fun.target.names
            wrt = names[0] if fun.target.single else names
        fun = fun.function
    target = _Target(fun, 0 if wrt is None else wrt)
    kinds = None
    if args:
        values = target.values(args, {})
        kinds = dict(zip(target.names, (_kind(v) for v in values)))
        kinds.update(other_kinds(target, args))  # (objects among the others: issue 17)
    else:
        kinds = receiver_kinds(bound, target)  # (a bound method's object: issue 17)
    from .transform import pipeline

    stages = pipeline.FORWARD_STAGES if forward else pipeline.STAGES
    if stage is not None:
        if stage not in stages:
            raise ValueError(f"stage must be one of {', '.join(stages)}, not {stage!r}")
        return pipeline.derive(
            fun, target.names, param_kinds=kinds, stop_after=stage, forward=forward,
            checkpoint=checkpoint and not forward, mode=mode,
        )  # fmt: skip
    derivative = pipeline.derive(
        fun, target.names, param_kinds=kinds, forward=forward,
        checkpoint=checkpoint and not forward, mode=mode,
    )  # fmt: skip
    return derivative.full_source()

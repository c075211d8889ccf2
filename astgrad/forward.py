"""Forward mode: Jacobian-vector products of a function, as generated source.

``ag.jvp(f, primals, tangents)`` runs a generated function that computes, beside each
value of ``f``, its tangent: the derivative of that value along the direction
``tangents`` (``transform/tangents.py`` writes it; ``ag.source(f, forward=True)`` shows
it). One run gives ``J @ t`` for the whole Jacobian ``J``, whatever the number of
outputs: the mode of choice for few inputs and many outputs, where reverse mode gives
``v @ J`` one output direction at a time.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .api import MODES, _kind, _Target
from .nested import is_gradient
from .runtime.device import CPU, device_guard, placement
from .runtime.objects import SharedObjectError
from .transform import pipeline
from .transform.errors import TransformError

__all__ = ["jvp"]


def jvp(
    fun: Callable, primals: Sequence[Any], tangents: Sequence[Any], *, mode: str = "auto"
) -> tuple[Any, Any]:
    """``(fun(*primals), J @ tangents)``: the value and its derivative along ``tangents``.

    ``primals`` are ``fun``'s positional arguments, ``tangents`` one entry per primal:
    an array (or float) shaped like it, or None for an argument that does not move.
    ``mode="source"`` runs generated forward-mode code only (a :class:`TransformError`
    says why where it cannot); ``"tape"`` computes the product on the tape; ``"auto"``
    generates code and falls back to the tape for what it cannot transform.

    >>> import numpy as np
    >>> import astgrad as ag
    >>> def f(x):
    ...     return np.sin(x) * x
    >>> value, tangent = ag.jvp(f, (np.array([0.0, 1.0]),), (np.array([1.0, 0.0]),))
    >>> tangent
    array([0., 0.])
    >>> ag.jvp(lambda x, y: x * y, (3.0, 4.0), (1.0, None))
    (12.0, 4.0)
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(map(repr, MODES))}, not {mode!r}")
    ready = _ready(fun, primals, tangents, mode)
    if ready is not None:
        return ready[3](primals, tangents)
    primals, tangents = _check_arguments(fun, primals, tangents)
    moving = tuple(i for i, t in enumerate(tangents) if t is not None)
    if is_gradient(fun):
        # (Its __wrapped__ is the function it differentiates: never transform that.)
        if getattr(fun, "__astgrad_rule__", None) is None or not moving:
            raise NotImplementedError(
                f"ag.jvp of {getattr(fun, '__qualname__', fun)!r}, a gradient: forward mode "
                "through a gradient is supported for ag.grad with one wrt (a Hessian-vector "
                "product), not for value_and_grad, vjp, pullbacks or several wrt"
            )
        from .higher import gradient_jvp

        return gradient_jvp(fun, primals, tangents)
    if not moving:
        value = fun(*primals)
        from .runtime.tangents import tangent_out, zero_tangent

        return value, tangent_out(zero_tangent(value), value)
    if mode == "tape":
        return _tape_jvp(fun, primals, tangents)
    names = _moving_names(fun, moving)
    kinds = tuple(_kind(primals[i]) for i in moving)
    try:
        derivative = _derivative(fun, names, kinds, mode)
    except TransformError:
        if mode == "source":
            raise
        return _tape_jvp(fun, primals, tangents)
    tangent_names = derivative.tangent_names
    named = {
        tangent_names[name]: _as_tangent(tangents[i], primals[i]) for name, i in zip(names, moving)
    }
    keywords = tuple(tangent_names[n] for n in names)
    call = caller(derivative.jvp, len(primals), keywords, moving)
    _remember(fun, primals, tangents, mode, (derivative, keywords, moving, call))
    if all(type(p) in _HOST for p in primals):
        return derivative.jvp(*primals, **named)
    where = placement(primals)
    try:
        if where is CPU:
            return derivative.jvp(*primals, **named)
        with device_guard(where):
            return derivative.jvp(*primals, **named)
    except SharedObjectError:  # (checked first thing: nothing ran yet; issue 17)
        if mode == "source":
            raise
        return _tape_jvp(fun, primals, tangents)  # an object it changes, reached twice


#: function -> {positions: parameter names}: ``_Target`` reads the signature, which
#: costs more than a small function's whole jvp
_names: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: function -> {(names, kinds, mode): derivative}, checked by its guard on each use
_derivatives: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


#: function -> {host_key(...): (derivative, tangent keywords, moving positions, caller)}:
#: the derivatives ``jvp`` found for host arrays, reached without the checks and look-ups
#: above (a call of a small function costs about as much as they do)
_ready_jvps: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def host_key(primals: Any, tangents: Any, mode: str) -> tuple | None:
    """A key for the tables of derivatives found before: each position's ndim where its
    tangent is an array, -1 where it is None, then ``mode``; when ``primals`` and
    ``tangents`` are tuples of one length, every primal a host value (``_HOST``) and
    every tangent None or a float array of its primal's shape and dtype (what needs no
    check nor conversion). None otherwise, where the full checks decide. (An array's
    kind, for which a derivative is made, is its ndim: ``api._kind``.)"""
    if type(primals) is not tuple or type(tangents) is not tuple or len(primals) != len(tangents):
        return None
    key = []
    for primal, tangent in zip(primals, tangents):
        if tangent is None:
            if type(primal) not in _HOST:
                return None
            key.append(-1)
            continue
        if type(primal) is not _ndarray or type(tangent) is not _ndarray:
            return None
        dtype, shape = primal.dtype, primal.shape
        if (
            (tangent.dtype is not dtype and tangent.dtype != dtype)
            or dtype.kind != "f"
            or tangent.shape != shape
        ):
            return None
        key.append(len(shape))
    key.append(mode)
    return tuple(key)


def caller(function: Callable, count: int, keywords: tuple, moving: tuple) -> Callable:
    """``(primals, tangents) -> function(*primals, **{keyword: tangent})`` for ``count``
    primals and the tangents at ``moving`` by ``keywords``, as one call written for these
    positions (a dict of keywords built on every call costs about half a microsecond)."""
    positional = "".join(f"p[{i}], " for i in range(count))
    named = ", ".join(f"{k}=t[{i}]" for k, i in zip(keywords, moving))
    return eval(f"lambda p, t: f({positional}{named})", {"f": function})


def _ready(fun: Callable, primals: Any, tangents: Any, mode: str) -> tuple | None:
    """What a jvp that ran before with arguments of these kinds found, while its guard
    holds: ``(derivative, tangent keywords, moving positions, caller)``; None otherwise."""
    key = host_key(primals, tangents, mode)
    if key is None:
        return None
    try:
        table = _ready_jvps.get(fun)
    except TypeError:  # not weakly referable
        return None
    entry = table.get(key) if table is not None else None
    if entry is None or entry[0].is_stale() or is_gradient(fun):
        return None
    return entry


def _remember(fun: Callable, primals: tuple, tangents: tuple, mode: str, entry: tuple) -> None:
    key = host_key(primals, tangents, mode)
    if key is None:
        return
    try:
        table = _ready_jvps.setdefault(fun, {})
    except TypeError:
        return
    table[key] = entry


def _moving_names(fun: Callable, moving: tuple) -> tuple[str, ...]:
    try:
        table = _names.setdefault(fun, {})
    except TypeError:  # not weakly referable: no cache
        table = {}
    found = table.get(moving)
    if found is None:
        found = table[moving] = _Target(fun, moving if len(moving) > 1 else moving[0]).names
    return found


def _derivative(
    fun: Callable, names: tuple, kinds: tuple, mode: str, forward: bool | str = True
) -> Any:
    """``fun``'s forward derivative (``forward="tangent"``: the one returning the tangent
    alone, which ``ag.hvp`` differentiates)."""
    try:
        table = _derivatives.setdefault(fun, {})
    except TypeError:
        table = {}
    key = (names, kinds, mode, forward)
    found = table.get(key)
    if found is None or found.is_stale():
        found = table[key] = pipeline.derive(
            fun, names, param_kinds=dict(zip(names, kinds)), mode=mode, forward=forward
        )
    return found


def _tape_jvp(fun: Callable, primals: tuple, tangents: tuple) -> tuple[Any, Any]:
    from .runtime.tape_jvp import tape_jvp

    return tape_jvp(fun, primals, tangents)


_ndarray = np.ndarray
#: argument types that are surely on the host: no device to make current
_HOST = frozenset({np.ndarray, float, int, bool, type(None)})


def _check_arguments(fun: Callable, primals: Any, tangents: Any) -> tuple[tuple, tuple]:
    if (
        type(primals) is tuple
        and type(tangents) is tuple
        and len(primals) == len(tangents)
        and all(
            t is None
            or (
                type(p) is _ndarray
                and type(t) is _ndarray
                and p.shape == t.shape
                and p.dtype.kind == "f"
            )
            for p, t in zip(primals, tangents)
        )
    ):
        return primals, tangents  # host float arrays of matching shapes: nothing to say
    name = getattr(fun, "__qualname__", repr(fun))
    if not isinstance(primals, (tuple, list)):
        raise TypeError(
            f"ag.jvp({name}, primals, tangents): primals is the tuple of {name}'s positional "
            f"arguments, not a {type(primals).__name__}; write (x,) for one argument"
        )
    if not isinstance(tangents, (tuple, list)):
        raise TypeError(
            f"ag.jvp({name}, primals, tangents): tangents is a tuple with one entry per "
            f"primal, not a {type(tangents).__name__}; write (t,) for one argument"
        )
    if len(primals) != len(tangents):
        raise ValueError(
            f"ag.jvp({name}, ...): {len(primals)} primals but {len(tangents)} tangents; give "
            "one tangent per primal (None for one that does not move)"
        )
    for position, (primal, tangent) in enumerate(zip(primals, tangents)):
        if tangent is not None:
            _check_structure(name, f"argument {position}", primal, tangent)
    return tuple(primals), tuple(tangents)


def _check_structure(name: str, where: str, primal: Any, tangent: Any) -> None:
    """A tangent has its primal's structure: a list, tuple or dict of the same length or
    keys, and at the leaves an array (or float) of the same shape; a float primal only."""
    if isinstance(primal, (list, tuple)):
        if not isinstance(tangent, (list, tuple)) or len(tangent) != len(primal):
            raise ValueError(
                f"ag.jvp({name}, ...): {where} is a {type(primal).__name__} of "
                f"{len(primal)}; its tangent must be one of the same length, not {tangent!r}"
            )
        for i, (p, t) in enumerate(zip(primal, tangent)):
            if t is not None:
                _check_structure(name, f"{where}[{i}]", p, t)
        return
    if isinstance(primal, dict):
        if not isinstance(tangent, dict) or set(tangent) != set(primal):
            raise ValueError(
                f"ag.jvp({name}, ...): {where} is a dict; its tangent must be a dict with "
                f"the same keys ({sorted(map(repr, primal))})"
            )
        for key in primal:
            if tangent[key] is not None:
                _check_structure(name, f"{where}[{key!r}]", primal[key], tangent[key])
        return
    if np.shape(tangent) != np.shape(primal):
        raise ValueError(
            f"ag.jvp({name}, ...): the tangent of {where} has shape {np.shape(tangent)}, but "
            f"the argument has shape {np.shape(primal)}"
        )
    dtype = getattr(primal, "dtype", None)
    if dtype is not None and dtype.kind not in "fc":
        raise TypeError(
            f"ag.jvp({name}, ...): {where} has dtype {dtype}; only float (and complex) "
            "arguments can move "
            "(give None as its tangent)"
        )


def _as_tangent(tangent: Any, primal: Any) -> Any:
    if type(tangent) is _ndarray and type(primal) is _ndarray and tangent.dtype == primal.dtype:
        return tangent
    if isinstance(primal, float):
        return float(tangent)
    if isinstance(primal, complex):
        return complex(tangent)
    dtype = getattr(primal, "dtype", None)
    if dtype is not None and getattr(tangent, "dtype", None) != dtype:
        return np.asarray(tangent, dtype=dtype)
    return tangent

"""Checkpointing at run time: ``ag.checkpoint(fn)``, and the segments of checkpointed loops.

Reverse mode keeps what the backward pass reads of every step it differentiates, so the
memory of a long loop grows with its trip count. Checkpointing keeps less and computes
again: a checkpointed call keeps only its inputs, and runs its forward pass a second time,
saving what its backward pass needs, right before that backward pass.

- :func:`checkpoint` wraps a function. Called inside a function that ``ag.grad``
  differentiates in source, the generated code calls the function plainly and, in the
  backward pass, calls its generated forward function again on the saved inputs before
  its backward function (``transform/checkpoint.py`` marks the call, ``reverse`` writes
  it). Called with tensors that record, it records one node that keeps the inputs and the
  outputs, and whose backward pass runs the function again on the tape.
- :func:`checkpoint_segments` is how ``ag.grad(f, checkpoint=True)`` cuts a loop of ``n``
  iterations: into about ``sqrt(n)`` segments of about ``sqrt(n)`` iterations, so that
  the states kept at the segments' starts and the values saved while one segment is
  differentiated each number about ``sqrt(n)``.
"""

from __future__ import annotations

import functools
import inspect
import types
import weakref
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np

from .device import array_module
from .grad_mode import is_grad_enabled
from .rules.registry import Rule
from .tensor import Tensor

__all__ = ["checkpoint", "Checkpointed", "checkpoint_segments"]


def checkpoint_segments(start: int, stop: int | None = None, step: int | None = None) -> list:
    """The iterations of ``range(start, stop, step)`` cut into consecutive segments, each a
    ``range``: about ``sqrt(n)`` of them, of about ``sqrt(n)`` iterations each (the last
    may be shorter). A checkpointed loop keeps its state once per segment and saves one
    segment's values at a time, so the two numbers balance there.

    >>> checkpoint_segments(10)
    [range(0, 4), range(4, 8), range(8, 10)]
    >>> checkpoint_segments(3, 0, -1)
    [range(3, 1, -1), range(1, 0, -1)]
    >>> checkpoint_segments(0)
    []
    """
    if stop is None:
        trips = range(start)
    elif step is None:
        trips = range(start, stop)
    else:
        trips = range(start, stop, step)
    length = len(trips)
    stride = 1
    while stride * stride < length:  # the smallest stride with stride * stride >= length
        stride += 1
    segments = []
    for first in range(0, length, stride):
        segments.append(trips[first : first + stride])
    return segments


# Read from its source as a function of the user's (see resolve.classify): a call of it in
# generated core code is an ordinary call whose result carries no gradient.
checkpoint_segments.__astgrad_transformable__ = True


class Checkpointed:
    """A function whose calls are checkpointed: see :func:`checkpoint`."""

    def __init__(self, function: Callable) -> None:
        while isinstance(function, Checkpointed):
            function = function.function
        if not callable(function):
            raise TypeError(
                f"ag.checkpoint takes a function; got {function!r} ({type(function).__name__})"
            )
        self.function = function
        functools.update_wrapper(self, function)
        self._rule: Rule | None = None

    def __repr__(self) -> str:
        return f"ag.checkpoint({getattr(self.function, '__qualname__', self.function)!r})"

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        # As a function would: a checkpointed method binds its object.
        if instance is None:
            return self
        return types.MethodType(self, instance)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._records(args, kwargs):
            rule = self.__astgrad_rule__
            if rule is not None:
                from .recording import apply

                return apply(rule, self._unchanging, args, kwargs)
        return self.function(*args, **kwargs)

    def _unchanging(self, *args: Any, **kwargs: Any) -> Any:
        """The function, called on the raw arrays of a recorded call, checked to leave them
        as they were (CRC-32 of each array): its backward pass runs it again on them."""
        arrays = [a for a in (*args, *kwargs.values()) if type(a) is np.ndarray]
        before = [_checksum(a) for a in arrays]
        state = np.random.get_state()
        result = self.function(*args, **kwargs)
        key = _first_array(result)
        if key is not None:  # (the state its backward pass runs it again from)
            _keep_random_state(key, state)
        for position, (array, sum_before) in enumerate(zip(arrays, before)):
            if _checksum(array) != sum_before:
                raise RuntimeError(
                    f"{self!r} changed its array argument #{position} in place: a checkpointed "
                    "function runs again in the backward pass, on its arguments as they are "
                    "then, and must leave them unchanged (return new values instead)"
                )
        return result

    @staticmethod
    def _records(args: tuple, kwargs: dict) -> bool:
        """Whether a tensor that records is among the arguments themselves (a tensor in a
        list is not: such a call is recorded step by step, as without checkpointing)."""
        if not is_grad_enabled():
            return False
        values = [*args, *kwargs.values()]
        if any(isinstance(v, (list, tuple, dict)) and _holds_tensor(v) for v in values):
            return False
        return any(isinstance(v, Tensor) and v.requires_grad for v in values)

    @property
    def __astgrad_rule__(self) -> Rule | None:
        """The rule table's entry for calls of this function: its vjp runs the function
        again on the tape, from the inputs the node kept, and sends the cotangent back
        through what it records. None for a function whose parameters cannot be named
        (``*args``), whose calls are then recorded step by step."""
        if self._rule is None:
            self._rule = _rule_for(self) or False
        return self._rule or None


def checkpoint(function: Callable) -> Checkpointed:
    """``function``, with its calls checkpointed: the backward pass computes what it
    needs of a call by running ``function`` again, so only the call's inputs (and its
    result) are kept between the forward and the backward pass.

    In a function differentiated in source (``ag.grad``, ``value_and_grad``, ``vjp``), the
    generated code calls ``function`` plainly, and in the backward pass calls its forward
    function again on the saved inputs, right before its backward function: visible in
    ``ag.source``. On the tape, a call with tensors that record is one node, named
    ``CheckpointBackward``, whose backward pass runs ``function`` again on the tape. Usable
    as a decorator. As with ``torch.utils.checkpoint``, ``function`` must compute the same
    values when run again. One that changes an argument in place is refused: a
    ``TransformError`` in generated source, a ``RuntimeError`` on the tape. On the tape the
    second run starts from NumPy's global random state as the first found it, and one whose
    result differs from the first's raises a ``RuntimeError``.

    >>> import numpy as np
    >>> import astgrad as ag
    >>> @ag.checkpoint
    ... def cell(h, w):
    ...     return np.tanh(h * w + 0.5)
    >>> def run(w, h):
    ...     for _ in range(3):
    ...         h = cell(h, w)
    ...     return np.sum(h)
    >>> def unchecked(w, h):
    ...     for _ in range(3):
    ...         h = cell.function(h, w)
    ...     return np.sum(h)
    >>> h0 = np.array([0.1, -0.2])
    >>> bool(np.isclose(ag.grad(run)(0.7, h0), ag.grad(unchecked)(0.7, h0)))
    True
    >>> w = ag.tensor(0.7, requires_grad=True)
    >>> y = cell(ag.tensor(h0), w)
    >>> y.grad_fn.name()
    'CheckpointBackward'
    """
    return Checkpointed(function)


def _checksum(array: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(array).view(np.uint8).reshape(-1))


def _holds_tensor(value: Any) -> bool:
    if isinstance(value, Tensor):
        return True
    if isinstance(value, (list, tuple)):
        return any(_holds_tensor(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_tensor(v) for v in value.values())
    return False


def _rule_for(checkpointed: Checkpointed) -> Rule | None:
    """The rule of ``checkpointed``'s calls (see ``Checkpointed.__astgrad_rule__``)."""
    function = checkpointed.function
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return None
    params = list(signature.parameters.values())
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
        return None
    names = [p.name for p in params]

    def checkpoint_vjp(g: Any, ans: Any, *args: Any, **kwargs: Any) -> tuple:
        from .fallback import tape_vjp

        wrt = [("args", i) for i, a in enumerate(args) if _differentiable(a)]
        wrt += [("kwargs", k) for k, v in kwargs.items() if _differentiable(v)]
        out: list[Any] = [None] * len(names)
        if not wrt:
            return tuple(out)
        # The forward pass again, on the tape this time, from NumPy's global random state
        # as the first run found it (as torch's preserve_rng_state), then back through it.
        state = _random_state_of(_first_array(ans))
        if state is not None:
            now = np.random.get_state()
            np.random.set_state(state)
        try:
            again, pullback = tape_vjp(function, args, kwargs, wrt)
        finally:
            if state is not None:
                np.random.set_state(now)
        if not _same(again, ans):
            raise RuntimeError(
                f"ag.checkpoint({name}): run again in the backward pass, {name} computed "
                "something else than in the forward pass, so its gradient would be wrong. "
                "It must compute the same from the same arguments: it may draw from a "
                "random generator other than np.random's global one (pass the draws as "
                "arguments, or a generator made inside from a seed argument), read a global "
                "or an object that changed since, or depend on what it changes itself"
            )
        grads = pullback(_cotangent(g, ans))
        for (where, key), grad in zip(wrt, grads):
            out[key if where == "args" else names.index(key)] = grad
        return tuple(out)

    seeded = [
        inspect.Parameter("g", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        inspect.Parameter("ans", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        *(p.replace(annotation=inspect.Parameter.empty) for p in params),
    ]
    checkpoint_vjp.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=seeded, return_annotation=inspect.Signature.empty
    )
    name = getattr(function, "__name__", "function")
    checkpoint_vjp.__name__ = f"{name}_checkpoint_vjp"
    return Rule(checkpointed, checkpoint_vjp, f"checkpoint({name})", "CheckpointBackward",
                True, inline=False)  # fmt: skip


#: id of a recorded call's result (its first array) -> (a weak reference to it, NumPy's
#: global random state when the call began): kept while the result lives
_random_states: dict[int, tuple] = {}


def _keep_random_state(result: np.ndarray, state: tuple) -> None:
    key = id(result)
    _random_states[key] = (weakref.ref(result, lambda _: _random_states.pop(key, None)), state)


def _random_state_of(result: Any) -> tuple | None:
    entry = _random_states.get(id(result)) if result is not None else None
    return entry[1] if entry is not None and entry[0]() is result else None


def _first_array(value: Any) -> Any:
    """The first array of a result (itself, or in a tuple or list of results), or None."""
    if isinstance(value, (tuple, list)):
        return next((v for v in value if isinstance(v, np.ndarray)), None)
    return value if isinstance(value, np.ndarray) else None


def _same(again: Any, first: Any) -> bool:
    """Whether a result computed again is the first one, bit for bit (NaN where it was);
    on a GPU, to a relative 1e-12, as its reductions may add in another order."""
    again = getattr(again, "data", again) if isinstance(again, Tensor) else again
    if isinstance(first, (tuple, list)):
        return (
            isinstance(again, (tuple, list))
            and len(again) == len(first)
            and all(_same(a, f) for a, f in zip(again, first))
        )
    if isinstance(first, np.ndarray) or isinstance(again, np.ndarray):
        return bool(np.array_equal(np.asarray(again), np.asarray(first), equal_nan=True))
    module = array_module(first)
    if module is not np and hasattr(first, "shape"):
        return bool(module.allclose(again, first, rtol=1e-12, atol=0.0, equal_nan=True))
    try:
        return bool(again == first or (again != again and first != first))
    except (TypeError, ValueError):
        return True  # (what cannot be compared: not a value a gradient flows through)


def _differentiable(value: Any) -> bool:
    """Whether the recomputation differentiates an argument: float arrays and numbers."""
    if isinstance(value, bool):
        return False
    if isinstance(value, float):
        return True
    dtype = getattr(value, "dtype", None)
    return dtype is not None and np.dtype(dtype).kind == "f"


def _cotangent(g: Any, ans: Any) -> Any:
    """The cotangent of the function's result: for several results, zeros in the places no
    gradient reached (the tape passes None there)."""
    if isinstance(ans, (tuple, list)) and isinstance(g, (tuple, list)):
        return type(ans)(
            np.zeros_like(a) if part is None else part for part, a in zip(g, ans)
        )  # fmt: skip
    return g

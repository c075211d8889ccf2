"""Grad mode: whether operations on tensors are recorded for backward.

The flag is per thread. ``no_grad``, ``enable_grad`` and ``set_grad_enabled`` work as
context managers and as decorators; ``no_grad`` and ``enable_grad`` also work written
without parentheses (``with ag.no_grad:`` and ``@ag.no_grad``), because tutorials show both.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["is_grad_enabled", "no_grad", "enable_grad", "set_grad_enabled"]

F = TypeVar("F", bound=Callable[..., Any])


class _State(threading.local):
    """Per-thread grad mode. The class attribute is every new thread's starting value, so
    reading ``_state.enabled`` never fails: the tape's hot path reads it directly."""

    enabled = True
    #: True while the tape runs a plain Python or NumPy function (runtime.fallback): there
    #: a 0-d tensor stands for a number, and augmented assignment rebinds it as it would a
    #: number (``a += b`` is ``a = a + b``) rather than writing into it
    numbers = False


_state = _State()


def is_grad_enabled() -> bool:
    """True unless inside ``no_grad`` (or ``set_grad_enabled(False)``) on this thread.

    >>> is_grad_enabled()
    True
    """
    return _state.enabled


def _set_enabled(flag: bool) -> None:
    _state.enabled = bool(flag)


def _class_level_stack() -> list:
    try:
        return _state.class_contexts
    except AttributeError:
        _state.class_contexts = []
        return _state.class_contexts


class _UsableBare(type):
    """Lets the class itself be used as a context manager: ``with ag.no_grad:``."""

    def __enter__(cls) -> None:
        context = cls()
        _class_level_stack().append(context)
        context.__enter__()

    def __exit__(cls, *exc_info: Any) -> None:
        _class_level_stack().pop().__exit__(*exc_info)


class _GradModeSwitch(metaclass=_UsableBare):
    _target: bool

    def __new__(cls, *args: Any) -> Any:
        # ``@ag.no_grad`` without parentheses hands the function straight to the class.
        if cls is not set_grad_enabled and len(args) == 1 and callable(args[0]):
            return cls()(args[0])
        return super().__new__(cls)

    def __enter__(self) -> None:
        self._previous = is_grad_enabled()
        _set_enabled(self._target)

    def __exit__(self, *exc_info: Any) -> None:
        _set_enabled(self._previous)

    def __call__(self, func: F) -> F:
        target = self._target

        @functools.wraps(func)
        def switched(*args: Any, **kwargs: Any) -> Any:
            previous = is_grad_enabled()
            _set_enabled(target)
            try:
                return func(*args, **kwargs)
            finally:
                _set_enabled(previous)

        return switched  # type: ignore[return-value]


class no_grad(_GradModeSwitch):
    """Operations inside record nothing: results do not require grad.

    >>> import astgrad as ag
    >>> w = ag.ones(2, requires_grad=True)
    >>> with ag.no_grad():
    ...     y = w * 2
    >>> y.requires_grad
    False
    """

    _target = False


class enable_grad(_GradModeSwitch):
    """Turn recording back on inside a ``no_grad`` region.

    >>> import astgrad as ag
    >>> with ag.no_grad():
    ...     with ag.enable_grad():
    ...         ag.is_grad_enabled()
    True
    """

    _target = True


class set_grad_enabled(_GradModeSwitch):
    """Set grad mode now; used with ``with``, the previous mode comes back on exit.

    >>> import astgrad as ag
    >>> with ag.set_grad_enabled(False):
    ...     ag.is_grad_enabled()
    False
    >>> ag.is_grad_enabled()
    True
    """

    def __init__(self, mode: bool) -> None:
        self._target = bool(mode)
        self._previous = is_grad_enabled()
        _set_enabled(mode)

    def __enter__(self) -> None:
        pass

    def __call__(self, func: F) -> F:
        # Used as a decorator the constructor's immediate switch must not leak out.
        _set_enabled(self._previous)
        return super().__call__(func)

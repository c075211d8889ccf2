"""Anomaly mode (NaN hunting), and warnings that name the user's line.

``ag.detect_anomaly()`` (a context manager and a decorator) turns anomaly mode on for the
thread it runs in, as grad mode is per thread. In anomaly mode:

* generated gradients are generated with a check after each block of the user's line
  (``check_finite(dx, dw)`` after the statements headed ``# grad of: ...``), which raises
  :class:`AnomalyError` when a gradient the block wrote holds NaN or inf, naming the
  user's line and the forward line that made any offending value the block read. The
  transform emits the checks (``transform/anomaly.py``) only in anomaly mode: derivatives
  are cached per mode, and one made outside it has none, so it costs nothing then;
* the tape records, as it makes each node, the user's stack (``_sites``, by the node's
  sequence number), and the backward pass checks each gradient a node returns.

:class:`AnomalyError` is a ``FloatingPointError``, the exception NumPy itself raises for
a floating-point error under ``np.errstate(all="raise")``: one ``except
FloatingPointError`` catches both, and it says what went wrong, which PyTorch's
``RuntimeError`` does not.

The tape makes nodes in two places (``graph.new_node`` and the fast path, which writes
it out), and both number the node with ``next_sequence_number``, read as a global of
their module (imported by name from graph). While some thread is in anomaly mode that
global is a function that also records the caller's user stack
(:func:`_number_nodes_with_sites`), so that making a node costs nothing more outside
anomaly mode.

Warnings: NumPy names the frame that runs when it warns, which in generated code is a
line of ``<astgrad: f #1>`` and on the tape a line of astgrad's own files.
:func:`install_warning_hook` (installed on import) wraps ``warnings._showwarnmsg``, which
``warnings`` calls for a warning it is about to show or record, after its filters, so it
costs nothing until a warning is shown: a warning attributed to generated code names the
user's line the code was made from, and one attributed to astgrad's files names the
innermost caller outside them.

The runtime never imports the transform: :data:`LINE_ORIGINS`, the map from generated
lines to the user's, lives here, and ``transform.emit`` fills it.
"""

from __future__ import annotations

import functools
import linecache
import os
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

import numpy as np

__all__ = [
    "AnomalyError",
    "detect_anomaly",
    "set_detect_anomaly",
    "is_anomaly_enabled",
    "install_warning_hook",
]

F = TypeVar("F", bound=Callable[..., Any])

#: generated file name -> line -> the user's origin of the statement on that line (an
#: object with ``filename``, ``line``, ``text`` and ``function``), filled by transform.emit
#: (a mapping asked only through ``get``: transform.emit makes it when first asked)
LINE_ORIGINS: dict[str, Any] = {}


class AnomalyError(FloatingPointError):
    """A gradient (or tangent) computed in anomaly mode holds NaN or inf.

    ``filename`` and ``lineno`` name the user's line whose derivative produced it;
    ``made_by`` lists ``(filename, lineno)`` of the forward lines that made the values
    it was computed from: the line itself, or the lines that made a non-finite value it
    read. A ``FloatingPointError``, as NumPy raises under ``np.errstate(all="raise")``.
    """

    def __init__(
        self,
        message: str,
        filename: str | None = None,
        lineno: int | None = None,
        made_by: tuple = (),
    ) -> None:
        super().__init__(message)
        self.filename = filename
        self.lineno = lineno
        self.made_by = made_by


AnomalyError.__module__ = "astgrad"  # (tracebacks name it as users do: ag.AnomalyError)


# -- the mode -------------------------------------------------------------------------------


class _State(threading.local):
    """Per-thread anomaly mode; the class attributes are every new thread's start."""

    on = False
    check_nan = True
    #: while on: what counts this thread in ``threads`` (see _InAnomalyMode)
    counted: Any = None


_state = _State()
#: how many threads are in anomaly mode. Read (as ``anomaly.threads``) where a per-thread
#: read would cost too much: a gradient's cached call skips its plan while it is not 0.
threads = 0
_lock = threading.RLock()  # (reentrant: a thread's count may drop in a collection inside)


def _count(step: int) -> None:
    global threads
    with _lock:
        threads += step
        if step > 0 and threads == 1:
            _number_nodes_with_sites(True)
        elif step < 0 and threads == 0:
            _number_nodes_with_sites(False)


class _InAnomalyMode:
    """Held by a thread's state while it is in anomaly mode: a thread that ends in it (after
    ``set_detect_anomaly(True)``) stops counting when its thread-local state goes."""

    __slots__ = ("counting",)

    def __init__(self) -> None:
        self.counting = True
        _count(1)

    def release(self) -> None:
        if self.counting:
            self.counting = False
            _count(-1)

    def __del__(self) -> None:
        try:
            self.release()
        except Exception:  # (at interpreter exit, the module may be half gone)
            pass


def is_anomaly_enabled() -> bool:
    """Whether anomaly mode is on in this thread.

    >>> is_anomaly_enabled()
    False
    """
    return _state.on


def checks_values() -> bool:
    """Whether derivatives made now check the values they compute (anomaly mode with
    ``check_nan``): the transform's cache keeps the two kinds apart."""
    return _state.on and _state.check_nan


def _set(on: bool, check_nan: bool) -> None:
    was = _state.on
    _state.on = on = bool(on)
    _state.check_nan = bool(check_nan)
    if on and not was:
        _state.counted = _InAnomalyMode()
    elif was and not on:
        counted, _state.counted = _state.counted, None
        counted.release()


class _AnomalySwitch:
    _on: bool
    _check_nan: bool

    def __enter__(self) -> None:
        self._previous = (_state.on, _state.check_nan)
        _set(self._on, self._check_nan)

    def __exit__(self, *exc_info: Any) -> None:
        _set(*self._previous)

    def __call__(self, func: F) -> F:
        on, check_nan = self._on, self._check_nan

        @functools.wraps(func)
        def in_anomaly_mode(*args: Any, **kwargs: Any) -> Any:
            previous = (_state.on, _state.check_nan)
            _set(on, check_nan)
            try:
                return func(*args, **kwargs)
            finally:
                _set(*previous)

        return in_anomaly_mode  # type: ignore[return-value]


class detect_anomaly(_AnomalySwitch):
    """Anomaly mode inside (this thread only): a NaN or inf in a gradient raises
    :class:`AnomalyError` where it is computed, naming your line whose gradient made it
    and the forward line that made the offending value. A context manager and a
    decorator (``@ag.detect_anomaly()``, or bare: ``@ag.detect_anomaly``).

    With ``check_nan=False`` (as in PyTorch) gradients are not checked; the tape still
    records where each operation was made.

    Anomaly mode is for debugging: it regenerates gradients with checks in them, checks
    every gradient the tape computes, and records a stack for every operation recorded.

    >>> import numpy as np
    >>> import astgrad as ag
    >>> def f(x):
    ...     return np.sum(np.sqrt(x))
    >>> with ag.detect_anomaly():
    ...     ag.grad(f)(np.array([0.0, 4.0]))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    astgrad.AnomalyError: the gradient of this line of yours produced inf...
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        # ``@ag.detect_anomaly`` without parentheses hands the function straight over.
        if len(args) == 1 and not kwargs and callable(args[0]):
            return cls()(args[0])
        return super().__new__(cls)

    def __init__(self, check_nan: bool = True) -> None:
        self._on = True
        self._check_nan = check_nan


class set_detect_anomaly(_AnomalySwitch):
    """Turn anomaly mode on or off now (this thread); used with ``with``, the previous
    mode comes back on exit. ``ag.set_detect_anomaly(True)`` at the top of a script
    debugs all of it.

    >>> import astgrad as ag
    >>> with ag.set_detect_anomaly(True):
    ...     ag.is_anomaly_enabled()
    True
    >>> ag.is_anomaly_enabled()
    False
    """

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self._on = bool(mode)
        self._check_nan = check_nan
        self._previous = (_state.on, _state.check_nan)
        _set(self._on, check_nan)

    def __enter__(self) -> None:
        pass

    def __call__(self, func: F) -> F:
        _set(*self._previous)  # as a decorator, the immediate switch must not leak out
        return super().__call__(func)


# -- where the user is ----------------------------------------------------------------------


class Site(NamedTuple):
    """A place in the user's code: file, line, function and the line's text (None: read
    it from the file)."""

    filename: str
    line: int
    function: str
    text: str | None = None

    def __str__(self) -> str:
        text = self.text
        if text is None:
            text = linecache.getline(self.filename, self.line).strip()
        shown = f'  File "{self.filename}", line {self.line}, in {self.function}'
        return f"{shown}\n    {text}" if text else shown


# Generated code, call plans, guards and compiled rules have file names of their own.
_PSEUDO_FILES = ("<astgrad", "<rule ", "<forward rule")
_INTERNAL_PACKAGES = ("astgrad", "astgrad.runtime", "astgrad.transform", "astgrad.tools")
_internal_files: dict[str, bool] = {}


def _is_internal(filename: str) -> bool:
    """Whether ``filename`` is astgrad's own code (generated code is asked about first:
    its lines are the user's)."""
    if filename.startswith("<"):
        return filename.startswith(_PSEUDO_FILES)
    found = _internal_files.get(filename)
    if found is None:
        folders = []
        for name in _INTERNAL_PACKAGES:
            file = getattr(sys.modules.get(name), "__file__", None)
            if file:
                folders.append(os.path.dirname(file) + os.sep)
        found = _internal_files[filename] = filename.startswith(tuple(folders))
    return found


def _users(origin: Any) -> Any:
    """``origin``, or, where it is a line of generated code itself (a second derivative
    differentiates generated forward-mode code), the user's line that code came from."""
    for _ in range(8):
        if origin is None or origin.filename not in LINE_ORIGINS:
            break
        deeper = LINE_ORIGINS[origin.filename].get(origin.line)
        if deeper is None:
            break
        origin = deeper
    return origin


def _site(origin: Any) -> Site:
    origin = _users(origin)
    return Site(origin.filename, origin.line, origin.function, origin.text)


def _site_of(code: Any, line: int) -> Site | None:
    """The user's site of a frame running ``code`` at ``line``: its own, or the user's line
    generated code was made from; None for astgrad's code."""
    filename = code.co_filename
    origins = LINE_ORIGINS.get(filename)
    if origins is not None:
        origin = origins.get(line)
        return None if origin is None else _site(origin)
    if _is_internal(filename):
        return None
    return Site(filename, line, code.co_name)


def _user_stack(frame: Any, limit: int = 8) -> tuple[Site, ...]:
    """The user's frames from ``frame`` outwards (innermost first), astgrad's left out."""
    sites = []
    while frame is not None and len(sites) < limit:
        site = _site_of(frame.f_code, frame.f_lineno)
        if site is not None:
            sites.append(site)
        frame = frame.f_back
    return tuple(sites)


# -- the tape: where each node was made ------------------------------------------------------

#: node sequence number -> the user's stack where the node was made (anomaly mode only);
#: the oldest are dropped past _MAX_SITES, and all when no thread is in anomaly mode
_sites: dict[int, tuple[Site, ...]] = {}
_MAX_SITES = 100_000
#: graph's own numbering (set when anomaly mode is first turned on)
_next_number: Callable[[], int] | None = None


def _numbered_with_site() -> int:
    """``graph.next_sequence_number`` that also records the user's stack in anomaly mode."""
    number = _next_number()
    if _state.on:
        _sites[number] = _user_stack(sys._getframe(1))
        if len(_sites) > _MAX_SITES:
            try:
                del _sites[next(iter(_sites))]
            except (KeyError, RuntimeError, StopIteration):  # another thread got there
                pass
    return number


def _number_nodes_with_sites(on: bool) -> None:
    """Make the modules that number new nodes record sites too (``on``), or not: every
    module of the runtime that binds graph's numbering by name (graph, the fast path)."""
    global _next_number
    from . import graph

    if _next_number is None:
        _next_number = graph.next_sequence_number
    old, new = (_next_number, _numbered_with_site) if on else (_numbered_with_site, _next_number)
    package = __name__.rpartition(".")[0] + "."
    for name, module in list(sys.modules.items()):
        if name.startswith(package) and getattr(module, "next_sequence_number", None) is old:
            module.next_sequence_number = new
    if not on:
        _sites.clear()


def _node_site(node: Any) -> tuple[Site, ...] | None:
    return _sites.get(node._seq)


# -- checking values ------------------------------------------------------------------------


def finite(value: Any) -> bool:
    """Whether ``value`` (a number, an array, a tensor, or a list, tuple or dict of them)
    holds no NaN or inf; anything not numeric counts as finite."""
    kind = type(value)
    if kind is float or kind is complex:
        return value - value == 0  # inf - inf and nan - nan are nan
    if value is None or kind is int or kind is bool or kind is str:
        return True
    if kind is list or kind is tuple:
        return all(map(finite, value))
    if kind is dict:
        return all(map(finite, value.values()))
    data = getattr(value, "_data", value)  # a tensor: its raw value
    try:
        return bool(np.isfinite(data).all())
    except (TypeError, ValueError, AttributeError):
        return True


def _describe(value: Any) -> str:
    """ "nan", "inf" or "nan and inf": what ``value`` holds that is not finite."""
    try:
        data = getattr(value, "_data", value)
        if isinstance(data, (list, tuple, dict)):
            parts = data.values() if isinstance(data, dict) else data
            found = {_describe(v) for v in parts if not finite(v)}
            return " and ".join(sorted({w for f in found for w in f.split(" and ")}))
        nan = bool(np.isnan(data).any())
        inf = bool(np.isinf(data).any())
    except (TypeError, ValueError, AttributeError):
        return "nan or inf"
    return " and ".join(w for w, present in (("nan", nan), ("inf", inf)) if present)


def check_node(node: Any, g: Any, grads: tuple) -> None:
    """Raise :class:`AnomalyError` if a gradient ``node``'s backward returned (``grads``,
    one per edge) is not finite; the tape's backward pass calls this in anomaly mode."""
    if not (_state.on and _state.check_nan):
        return
    for edge, grad in enumerate(grads):
        if grad is not None and not finite(grad):
            raise _node_error(node, edge, grad, g)


def _edge_parameter(kernel: Any, edge: int) -> int:
    if kernel.elements is None:
        return kernel.params[edge]
    return kernel.params[kernel.elements[edge][0]]


def _what(kernel: Any, position: int) -> str:
    return kernel.what[position] if position < len(kernel.what) else f"argument {position}"


def _node_error(node: Any, edge: int, grad: Any, g: Any) -> AnomalyError:
    kernel = node._kernel
    what = _what(kernel, _edge_parameter(kernel, edge))
    site = _node_site(node)
    lines = [
        f"the backward of {node.name()} returned {_describe(grad)} for its {what} "
        "(anomaly mode). The forward operation it is the gradient of:"
    ]
    if site:
        lines.extend(str(s) for s in reversed(site))  # outermost first, as a traceback
    else:
        lines.append("  (not recorded: it was made outside ag.detect_anomaly())")
    made_by: list[tuple[str, int]] = []
    if g is not None and not finite(g):
        lines.append(f"The gradient flowing into it holds {_describe(g)}.")
    for position, value in enumerate(node._args or ()):
        if value is None or finite(value):
            continue
        held = f"It read its {_what(kernel, position)}, which holds {_describe(value)}"
        producers = [
            node._next[e] for e in range(len(node._next)) if _edge_parameter(kernel, e) == position
        ]
        made = [_sites.get(p._seq) for p in producers if p._seq >= 0]
        made = [stack for stack in made if stack]
        if made:
            lines.append(f"{held}, made by:")
            for stack in made:
                lines.append(str(stack[0]))
                made_by.append((stack[0].filename, stack[0].line))
        elif any(p._seq < 0 for p in producers):
            lines.append(f"{held}: a leaf tensor, as you gave it.")
        elif producers:
            lines.append(f"{held} (made outside ag.detect_anomaly(): not recorded).")
        else:
            lines.append(f"{held} (made from values that need no gradient: not recorded).")
    if node._ans is not None and not finite(node._ans):
        lines.append(f"Its own result holds {_describe(node._ans)}.")
    filename = site[0].filename if site else None
    lineno = site[0].line if site else None
    if site and not made_by:
        made_by.append((filename, lineno))
    return AnomalyError("\n".join(lines), filename, lineno, tuple(made_by))


def gradient_check(
    kind: str, reads: dict[tuple, frozenset], makers: dict[str, tuple], params: frozenset
) -> Callable[..., None]:
    """The function generated code calls in anomaly mode after each block of a user
    line's ``kind`` ("gradient" or "tangent") statements, with the values the block wrote.

    ``reads`` are, per user line (filename, line), the names that line's block read and
    did not write; ``makers`` the user lines (origins) of the forward statements that
    assign each name; ``params`` the function's parameters. They are read only to say
    what went wrong."""

    def check_finite(*values: Any) -> None:
        for value in values:
            if not finite(value):
                raise _generated_error(kind, values, sys._getframe(1), reads, makers, params)

    return check_finite


def _generated_error(
    kind: str, values: tuple, frame: Any, reads: dict, makers: dict, params: frozenset
) -> AnomalyError:
    filename, line = frame.f_code.co_filename, frame.f_lineno
    origin = LINE_ORIGINS.get(filename, {}).get(line)
    bad = [v for v in values if not finite(v)]
    local = frame.f_locals
    names = [n for n, v in local.items() if any(v is b for b in bad)]
    what = _describe(bad[0])
    lines = [f"the {kind} of this line of yours produced {what} in {', '.join(names) or '?'}"]
    if origin is None:
        lines[0] += f" (generated line {line} of {filename}; anomaly mode)."
        return AnomalyError("\n".join(lines))
    lines[0] += " (anomaly mode):"
    shown = _site(origin)
    lines.append(str(shown))
    made_by: list[tuple[str, int]] = []
    culprits = 0
    own = ""  # what a value this line made itself holds (often a temporary of the transform's)
    here = (origin.filename, origin.line)
    for name in sorted(reads.get(here, ())):
        value = local.get(name)
        if name in names or value is None or finite(value):
            continue
        made = [o for o in makers.get(name, ()) if (o.filename, o.line) != here]
        if makers.get(name) and not made:
            own = _describe(value)
            continue
        culprits += 1
        held = f"It read {name}, which holds {_describe(value)}"
        if made:
            lines.append(f"{held}, made by:")
            for o in made:
                maker = _site(o)
                lines.append(str(maker))
                made_by.append((maker.filename, maker.line))
        elif name in params:
            lines.append(f"{held}: your argument.")
        else:
            lines.append(f"{held}.")
    if not made_by:
        made_by.append((shown.filename, shown.line))
    if own and not culprits:
        lines.append(f"What this line computed in the forward pass holds {own} already.")
    elif not culprits:
        lines.append(
            f"What it read is finite: the {kind} of this line is not finite at these values "
            "(as that of np.sqrt or np.log is at 0)."
        )
    return AnomalyError("\n".join(lines), shown.filename, shown.line, tuple(made_by))


# -- warnings -------------------------------------------------------------------------------


def _user_place(filename: str, lineno: int) -> tuple[str, int] | None:
    """Where a warning attributed to ``filename:lineno`` should point: the user's line,
    where that is generated code or astgrad's own; None to leave it as it is."""
    origins = LINE_ORIGINS.get(filename)
    if origins is not None:
        origin = origins.get(lineno)
        if origin is None:
            return None
        origin = _users(origin)
        return origin.filename, origin.line
    if not _is_internal(filename):
        return None
    # The frame the warning names is on the stack (the warning is being shown as it is
    # issued): the user's place is the innermost caller of it outside astgrad.
    frame = sys._getframe(2)
    while frame is not None and not (
        frame.f_code.co_filename == filename and frame.f_lineno == lineno
    ):
        frame = frame.f_back
    for site in _user_stack(frame, limit=1):
        return site.filename, site.line
    return None


def _pointing_at_the_user(show: Callable[[Any], None]) -> Callable[[Any], None]:
    def show_from_the_users_line(msg: Any) -> None:
        try:
            place = _user_place(msg.filename, msg.lineno)
        except Exception:  # never lose a warning over where it points
            place = None
        if place is not None:
            msg.filename, msg.lineno = place
        show(msg)

    show_from_the_users_line.__wrapped__ = show  # type: ignore[attr-defined]
    show_from_the_users_line.__astgrad_hook__ = True  # type: ignore[attr-defined]
    return show_from_the_users_line


def install_warning_hook() -> None:
    """Make warnings from generated code and astgrad's own files name the user's line
    (see the module doc). Idempotent."""
    current = getattr(warnings, "_showwarnmsg", None)
    if current is None or getattr(current, "__astgrad_hook__", False):
        return
    warnings._showwarnmsg = _pointing_at_the_user(current)


install_warning_hook()

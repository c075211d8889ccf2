"""Keeping ``ag.vjp``'s pullback apart from what the user holds between the two calls.

``value, pullback = ag.vjp(f, x)`` leaves a window in which the user may change ``x`` or
``value`` in place before calling ``pullback``. The backward pass reads what the forward
pass saved, and NumPy arrays have no version counter to say they changed, so a gradient
computed from the new contents would be silently wrong. PyTorch raises there; astgrad
does one of two things, each costing about one pass over the arrays involved:

- The value: where an array of it (or a list or dict holding it) is something the
  backward pass reads, or may write back into (a restored ``y[i] = v``), the user gets a
  copy. Changing the value then cannot matter, and calling the pullback never changes
  what the user got back.
- Arrays the backward pass reads that the user can still reach (the arguments, and the
  globals and closure variables that ``f`` and the functions it calls read): a CRC-32 of
  each is taken when the pullback is made and checked when it is called; a change is a
  RuntimeError naming the argument or global. (A checksum, not a copy: it costs no
  memory and reads at about the speed of one elementwise operation.) Only arrays on the
  host are checked; device arrays are the caller's to leave alone.
- Generated code reads globals and closure variables live, so there rebinding one of
  them (``SCALE = other``) between the calls is a RuntimeError too (numbers that are
  equal count as the same); the tape holds what it read, so there it cannot matter.

In source mode "what the backward pass reads" is exactly the saved tuple, so arrays it
does not refer to are neither copied nor checked. On the tape, and where generated code
keeps a tape pullback, the saved values are inside the recorded graph: every array of the
value is copied and every reachable array is checked.
"""

from __future__ import annotations

import copy
import functools
import types
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

EVERYTHING = None  # for ``reads``: the backward pass may read anything


def _root(array: Any) -> Any:
    """The array that owns ``array``'s memory (views share their base's root)."""
    while _is_array(getattr(array, "base", None)):
        array = array.base
    return array


def _is_array(value: Any) -> bool:
    """A NumPy array, or a device array (CuPy) that copies as one."""
    return isinstance(value, np.ndarray) or (
        hasattr(value, "__array_namespace__") and hasattr(value, "copy")
    )


def reads_of(saved: Any) -> set[int]:
    """The identities of what the saved values refer to: each array's root, and each list
    or dict (which the backward pass may restore items into)."""
    found: set[int] = set()
    stack = [saved]
    while stack:
        value = stack.pop()
        if _is_array(value):
            found.add(id(_root(value)))
        elif isinstance(value, (list, tuple, dict)):
            if id(value) in found:
                continue
            found.add(id(value))
            stack.extend(value.values() if isinstance(value, dict) else value)
    return found


def _is_read(value: Any, reads: set[int] | None) -> bool:
    if reads is EVERYTHING:
        return True
    if _is_array(value):
        return id(_root(value)) in reads
    return id(value) in reads


def apart(value: Any, reads: set[int] | None) -> Any:
    """``value`` with a copy of each array, list and dict in it that the backward pass
    reads (``reads`` from :func:`reads_of`, or EVERYTHING); the rest as it is. Containers
    keep their types (a named tuple such as ``np.linalg.qr``'s stays one)."""
    if _is_array(value):
        return value.copy() if _is_read(value, reads) else value
    if isinstance(value, tuple):
        items = [apart(item, reads) for item in value]
        if all(a is b for a, b in zip(items, value)):
            return value
        return value._make(items) if hasattr(value, "_make") else type(value)(items)
    if isinstance(value, list):
        items = [apart(item, reads) for item in value]
        changed = any(a is not b for a, b in zip(items, value))
    elif isinstance(value, dict):
        items = {key: apart(item, reads) for key, item in value.items()}
        changed = any(items[key] is not item for key, item in value.items())
    else:
        return value
    if not (changed or _is_read(value, reads)):
        return value
    rebuilt = copy.copy(value)  # (a subclass keeps its type and attributes)
    if isinstance(value, list):
        rebuilt[:] = items
    else:
        rebuilt.clear()
        rebuilt.update(items)
    return rebuilt


def _arrays(value: Any, label: str, path: str = "") -> Iterator[tuple[str, np.ndarray]]:
    if type(value) is np.ndarray:  # (host arrays only: a checksum reads every byte)
        yield f"{label}{path}", value
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _arrays(item, label, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _arrays(item, label, f"{path}[{key!r}]")


_GONE = object()


def _read_by_name(function: Callable, depth: int = 3) -> Iterator[tuple[str, Any, Callable]]:
    """(name, value, lookup) for the globals and closure variables that ``function``'s
    code reads, and the code of the Python functions those are, ``depth`` calls deep;
    ``lookup()`` gives what the name holds when called. Functions, classes and modules
    are left out: generated code keeps the derivatives of the functions it calls."""
    seen: set[int] = set()
    todo = [(function, depth)]
    while todo:
        current, left = todo.pop()
        code = getattr(current, "__code__", None)
        if code is None or id(current) in seen or _is_library(current):
            continue
        seen.add(id(current))
        namespace = getattr(current, "__globals__", {})
        cells = dict(zip(code.co_freevars, getattr(current, "__closure__", None) or ()))
        for name in _names_read(code):
            if name in cells:
                lookup = functools.partial(_cell_contents, cells[name])
            elif name in namespace:
                lookup = functools.partial(namespace.get, name, _GONE)
            else:
                continue
            value = lookup()
            if isinstance(value, types.FunctionType):
                if left > 0:
                    todo.append((value, left - 1))
            elif (
                value is not _GONE
                and not callable(value)
                and not isinstance(value, types.ModuleType)
            ):
                yield name, value, lookup


def _cell_contents(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell
        return _GONE


@functools.lru_cache(maxsize=512)
def _names_read(code: types.CodeType) -> tuple[str, ...]:
    """The global, attribute and closure names ``code`` and the code nested in it read,
    each once, in order (computed once per code object)."""
    names = [*code.co_names, *code.co_freevars]
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            names.extend(_names_read(constant))
    return tuple(sorted(set(names)))


def _is_library(function: Any) -> bool:
    module = getattr(function, "__module__", None) or ""
    return module.split(".")[0] in ("numpy", "astgrad", "scipy")


def _checksum(array: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(array).reshape(-1).view(np.uint8))  # (0-d too)


def _same(a: Any, b: Any) -> bool:
    """Whether a name still holds what it held: the same object, or an equal number."""
    if a is b:
        return True
    numbers = (int, float, complex, np.number)
    return isinstance(a, numbers) and isinstance(b, numbers) and type(a) is type(b) and a == b


class Unchanged:
    """What a pullback checks before it runs: that the arrays the backward pass reads and
    the user can reach (in the arguments, and in the globals and closure variables the
    function reads) hold what they held, by a checksum of each taken now; and, where
    the backward pass reads such names live (generated code), that each name is still
    bound to what it was."""

    __slots__ = ("_arrays", "_bindings", "_function")

    def __init__(
        self,
        function: Callable,
        args: tuple,
        names: list[str],
        reads: set[int] | None,
        *,
        live_names: bool,
    ) -> None:
        self._function = getattr(function, "__qualname__", repr(function))
        arrays = []
        for position, value in enumerate(args):
            name = names[position] if position < len(names) else f"argument {position}"
            arrays.extend(
                entry
                for entry in _arrays(value, f"the argument '{name}'")
                if _is_read(entry[1], reads)
            )
        bindings = []
        for name, value, lookup in _read_by_name(function):
            label = f"the variable '{name}' (read by the function)"
            arrays.extend(_arrays(value, label))
            if live_names:
                bindings.append((label, lookup, value))
        checked = {}  # one checksum per array, under the first label it was met by
        for label, array in arrays:
            if id(array) not in checked:
                checked[id(array)] = (label, array, array.shape, _checksum(array))
        self._arrays = tuple(checked.values())
        self._bindings = tuple(bindings)

    def check(self) -> None:
        """Raise RuntimeError naming the first array changed, or name rebound, since."""
        for label, lookup, value in self._bindings:
            if not _same(lookup(), value):
                self._changed(label, "rebound")
        for label, array, shape, checksum in self._arrays:
            if array.shape != shape or _checksum(array) != checksum:
                self._changed(label, "changed in place")

    def _changed(self, label: str, how: str) -> None:
        raise RuntimeError(
            f"{label} of {self._function} was {how} after ag.vjp and before its pullback "
            "was called; the pullback needs what it held then, so its gradient would be "
            "wrong. Call the pullback first, or change a copy (x = x.copy(), x = x + ...)."
        )

"""Guards: what a generated derivative assumed about the user's program, checked per call.

A derivative is generated from what the transform read when it ran: the function's code,
its defaults, and the globals and closure cells it resolved (``np``, ``ACT = np.tanh``,
a helper it calls). If any of these is rebound later, the generated code is wrong for
the program as it now stands, so every cached call checks them first, as TorchDynamo's
guards do. The check is one small compiled function of identity tests (``is``), made
once per derivative; a derivative's guard includes its callees' assumptions, so a change
anywhere below regenerates the caller.

What is guarded:

- each differentiated function's ``__code__``, ``__defaults__`` and ``__kwdefaults__``
  (by identity: assigning a new tuple or dict is noticed; a kwdefaults dict changed in
  place needs no guard, generated code shares it);
- each global the transform looked up, by identity when it is a module, class or other
  callable (``np``, ``ACT``, ``helper``), by type otherwise (an array the code calls a
  method on may be rebound to a new array of the same type without regeneration); a name
  it found missing (a builtin such as ``sum``) must stay missing;
- each closure cell the transform read, in the same way.

Attribute chains through a module of the user's (``config.ACT(x)``, ``pkg.sub.f``) are
guarded link by link, as globals of those modules. Chains through NumPy, SciPy, astgrad
or the standard library are guarded at their root only: ``np.tanh`` is watched as
``np``, so assigning ``numpy.tanh = ...`` (monkeypatching a library) is not noticed; that
keeps the check to a few tests where a function makes dozens of ``np.`` calls. Values that
could keep a user function alive (functions, classes, callable objects) are held
weakly, so that a cached derivative never keeps the function it was made for alive.
"""

from __future__ import annotations

import functools
import sys
import types
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

MISSING = object()


@dataclass(frozen=True, eq=False)
class Assumption:
    """One fact a derivative relies on.

    ``test`` is one of ``"is"`` (the value is ``expected``), ``"is weakly"`` (the value
    is what the weak reference ``expected`` refers to), ``"absent"`` (the global is not
    defined), ``"type"`` (the value's type is ``expected``) or ``"function"`` (``where``
    is a weak reference to a function whose code, defaults and kwdefaults are the three
    objects in ``expected``).
    """

    #: a globals dict, a closure cell, or a weak reference to a function
    where: Any
    name: str
    test: str
    expected: Any

    def key(self) -> tuple:
        """Two assumptions with one key are about the same slot (made while the objects
        they are about are alive, so ids are not reused among them)."""
        return (id(_weak_target(self.where)), self.name)

    def describe(self) -> str:
        if self.test == "function":
            return f"{self.name}: its __code__, __defaults__ and __kwdefaults__"
        scope = "cell" if isinstance(self.where, types.CellType) else "global"
        if self.test == "absent":
            return f"{scope} {self.name}: not defined"
        if self.test == "type":
            return f"{scope} {self.name}: of type {_weak_target(self.expected).__name__}"
        return f"{scope} {self.name}: {_weak_target(self.expected)!r}"


def _weak_target(value: Any) -> Any:
    return value() if isinstance(value, weakref.ref) else value


def _holds_weakly(value: Any) -> bool:
    """Whether a guard should hold ``value`` through a weak reference. Modules and NumPy's
    own objects cannot lead back to a user's function; anything else might (a helper's
    globals or closure may hold the function being differentiated)."""
    if isinstance(value, types.ModuleType):
        return False
    try:
        weakref.ref(value)
    except TypeError:
        return False  # ufuncs, builtins: no way back to user code
    return True


def _value_assumption(where: Any, name: str, value: Any) -> Assumption:
    if value is MISSING:
        return Assumption(where, name, "absent", None)
    if callable(value) or isinstance(value, types.ModuleType):
        if _holds_weakly(value):
            return Assumption(where, name, "is weakly", weakref.ref(value))
        return Assumption(where, name, "is", value)
    # Data: generated code reads it live; only its type can have shaped the code.
    kind = type(value)
    return Assumption(where, name, "type", weakref.ref(kind) if _holds_weakly(kind) else kind)


class Recorder:
    """Collects the assumptions made while one function is transformed."""

    def __init__(self) -> None:
        self._assumptions: dict[tuple, Assumption] = {}

    def global_read(self, namespace: dict, name: str, value: Any) -> None:
        self._add(_value_assumption(namespace, name, value))

    def entry_read(self, namespace: Any, name: str, value: Any) -> None:
        """A class's entry that shaped the code by what it is, callable or not (a
        classmethod, a property: objects.py): watched by identity, not type."""
        self._add(Assumption(namespace, name, "is", value))

    def cell_read(self, name: str, cell: types.CellType) -> None:
        try:
            value = cell.cell_contents
        except ValueError:
            return  # an empty cell resolves to nothing: the call reads it live on the tape
        self._add(_value_assumption(cell, name, value))

    def function(self, function: Callable) -> None:
        """Watch ``function``'s code and defaults (the source was read for that code)."""
        if not isinstance(function, types.FunctionType):
            return
        expected = (function.__code__, function.__defaults__, function.__kwdefaults__)
        self._add(Assumption(weakref.ref(function), function.__qualname__, "function", expected))

    def include(self, guard: Guard) -> None:
        """Take on a callee's assumptions: the caller's code embeds the callee's."""
        for assumption in guard.assumptions:
            self._add(assumption)

    def _add(self, assumption: Assumption) -> None:
        self._assumptions.setdefault(assumption.key(), assumption)

    def guard(self, ignore: frozenset[str] = frozenset()) -> Guard:
        """The guard of what was recorded, less reads of globals named in ``ignore``
        (names the generated code binds itself, so that no global of that name is read)."""
        kept = tuple(
            a
            for a in self._assumptions.values()
            if not (isinstance(a.where, dict) and a.name in ignore)
        )
        return Guard(kept)


class Guard:
    """A derivative's assumptions and the compiled check of all of them.

    ``check()`` is True while every assumption holds. It is a plain function (no method
    lookup on the cached path); a guard with nothing to check is ``nothing_to_check``.
    """

    __slots__ = ("assumptions", "check")

    def __init__(self, assumptions: tuple[Assumption, ...]) -> None:
        self.assumptions = assumptions
        self.check = _compile(assumptions) if assumptions else nothing_to_check

    def __iter__(self) -> Iterator[Assumption]:
        return iter(self.assumptions)

    def __str__(self) -> str:
        return "\n".join(a.describe() for a in self.assumptions) or "(nothing)"


def nothing_to_check() -> bool:
    """The check of a guard without assumptions (callers may skip calling it)."""
    return True


def _compile(assumptions: tuple[Assumption, ...]) -> Callable[[], bool]:
    """One function testing every assumption, from generated source: a few identity tests
    in a row cost less than a loop over them. Objects are passed in as globals named by
    position, so guards of the same shape share their compiled code."""
    namespace: dict[str, Any] = {}
    tests = []
    prelude = []
    for i, a in enumerate(assumptions):
        where = f"w{i}"
        namespace[where] = a.where
        if a.test == "function":
            code, defaults, kwdefaults = a.expected
            namespace.update({f"c{i}": code, f"d{i}": defaults, f"k{i}": kwdefaults})
            prelude.append(f"        f{i} = {where}()")  # None once collected: AttributeError
            tests.append(
                f"f{i}.__code__ is not c{i} or f{i}.__defaults__ is not d{i} "
                f"or f{i}.__kwdefaults__ is not k{i}"
            )
            continue
        cell = isinstance(a.where, types.CellType)
        read = f"{where}.cell_contents" if cell else f"{where}[{a.name!r}]"
        if a.test == "absent":
            tests.append(f"{a.name!r} in {where}")
            continue
        namespace[f"e{i}"] = a.expected
        expected = f"e{i}()" if isinstance(a.expected, weakref.ref) else f"e{i}"
        if a.test == "type":
            tests.append(f"type({read}) is not {expected}")
        else:
            tests.append(f"{read} is not {expected}")
    source = _source(tuple(prelude), tuple(tests))
    return types.FunctionType(_code(source), namespace, "guard")


def _source(prelude: tuple[str, ...], tests: tuple[str, ...]) -> str:
    lines = ["def guard():", "    try:", *prelude, f"        if {' or '.join(tests)}:"]
    lines += [
        "            return False",
        # an unbound global, an emptied cell, a collected function
        "    except (KeyError, ValueError, AttributeError):",
        "        return False",
        "    return True",
    ]
    return "\n".join(lines) + "\n"


@functools.lru_cache(maxsize=512)
def _code(source: str) -> types.CodeType:
    return compile(source, "<astgrad guard>", "exec").co_consts[0]


# -- recording what the transform reads --------------------------------------------------

_LIBRARIES = frozenset({"numpy", "scipy", "astgrad", *sys.stdlib_module_names})


def watch_module_attributes(
    recorder: Recorder, function: Callable, chains: list[list[str]], local_names: set[str]
) -> None:
    """Record each link of the attribute chains ``chains`` (``["config", "ACT"]`` for
    ``config.ACT``) that goes through a module of the user's, as a read of that module's
    globals: resolving ``config.ACT`` reads ``ACT`` there as surely as ``ACT`` alone reads
    it in the function's module."""
    cells = dict(zip(function.__code__.co_freevars, function.__closure__ or ()))
    for root, *attributes in chains:
        if root in local_names:
            continue
        if root in cells:
            try:
                value = cells[root].cell_contents
            except ValueError:
                continue
        else:
            value = function.__globals__.get(root, MISSING)
        if not _user_module(value):
            continue
        if root in cells:
            recorder.cell_read(root, cells[root])
        else:
            recorder.global_read(function.__globals__, root, value)
        for attribute in attributes:
            if not _user_module(value):
                break
            namespace = vars(value)
            value = namespace.get(attribute, MISSING)
            recorder.global_read(namespace, attribute, value)


def _user_module(value: Any) -> bool:
    if not isinstance(value, types.ModuleType):
        return False
    return (value.__name__ or "").split(".")[0] not in _LIBRARIES


class RecordingGlobals(Mapping):
    """A function's globals, read-only, noting each name looked up (and whether it was
    there) in ``recorder``. Passes read globals through this, so whatever they base a
    decision on is guarded, whichever pass reads it."""

    def __init__(self, namespace: dict, recorder: Recorder) -> None:
        self.namespace = namespace
        self.recorder = recorder

    def __getitem__(self, name: str) -> Any:
        value = self.namespace.get(name, MISSING)
        self.recorder.global_read(self.namespace, name, value)
        if value is MISSING:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        value = self.namespace.get(name, MISSING)
        self.recorder.global_read(self.namespace, name, value)
        return value is not MISSING

    def __iter__(self) -> Iterator[str]:  # listing names is not reading them
        return iter(self.namespace)

    def __len__(self) -> int:
        return len(self.namespace)


class RecordingCells(Mapping):
    """A function's closure cells by variable name, noting each cell looked up."""

    def __init__(self, cells: dict[str, types.CellType], recorder: Recorder) -> None:
        self.cells = cells
        self.recorder = recorder

    def __getitem__(self, name: str) -> types.CellType:
        cell = self.cells[name]
        self.recorder.cell_read(name, cell)
        return cell

    def __iter__(self) -> Iterator[str]:
        return iter(self.cells)

    def __len__(self) -> int:
        return len(self.cells)

"""global_writes: whether calling a user function may rebind a module's global names.

Generated code reads a global (a scale ``K``, an activation ``ACT``) where the user's code
reads it in the forward pass and again in the backward pass, and it resolves the functions
a function calls when the derivative is made. A call that rebinds a global part-way
through (a helper's ``global K; K = 2.0``, ``globals()["K"] = v``, ``module.K = v``) then
leaves the backward pass reading the new value and the forward running the derivative of
the old function: a wrong gradient, silently. ``effects`` refuses such calls, and
``mode="auto"`` runs the function on the tape, which reads every global when Python does.

The scan reads bytecode, so it also covers functions the transform cannot read, and
follows what a function defines (nested functions, comprehensions) and the user functions
and classes it names (through its globals and closure cells), to any depth. It looks for:

- ``STORE_GLOBAL`` / ``DELETE_GLOBAL`` (``global K`` then ``K = v`` or ``del K``);
- a call of the builtins ``globals``, ``exec`` or ``eval``, which can write a module's
  namespace directly;
- an attribute set or deleted on a module: ``mod.K = v`` where ``mod`` is a global or
  closure value that is a module, and ``setattr``/``delattr`` or any attribute store in
  code that may get hold of a module another way (it imports, or reads ``sys.modules`` or
  ``importlib.import_module``).

Modules of the libraries astgrad knows (NumPy, SciPy, the standard library) are not the
user's state, and ``self.w = v`` on an object is not a global: neither is flagged.
"""

from __future__ import annotations

import dis
import functools
import os
import sys
import sysconfig
import types
from typing import Any

__all__ = ["rebinding", "writes_namespace"]

_GLOBAL_WRITES = frozenset({"STORE_GLOBAL", "DELETE_GLOBAL"})
_ATTRIBUTE_WRITES = frozenset({"STORE_ATTR", "DELETE_ATTR"})
#: builtins that write a module's namespace directly when called in a function
_NAMESPACE_BUILTINS = frozenset({"globals", "exec", "eval"})
#: names through which code may get hold of a module that is not a global of its own
_MODULE_FINDERS = frozenset({"modules", "import_module", "__import__", "getmodule"})
_SETTERS = frozenset({"setattr", "delattr"})
#: instructions that put a global or closure value on the stack
_LOAD_OUTSIDE = frozenset({"LOAD_GLOBAL", "LOAD_NAME", "LOAD_DEREF", "LOAD_CLASSDEREF"})
#: roots of modules that are not the user's state
_LIBRARIES = frozenset({"numpy", "scipy", "cupy", "astgrad", "jax", "torch", "numba", "dask"})


def writes_namespace(code: types.CodeType) -> bool:
    """Whether ``code`` (or code defined in it) binds or deletes a global name, or calls
    ``globals``, ``exec`` or ``eval``: what the tape's globals shim cannot see."""
    for instruction in dis.get_instructions(code):
        if instruction.opname in _GLOBAL_WRITES:
            return True
        if instruction.opname in ("LOAD_GLOBAL", "LOAD_NAME") and (
            instruction.argval in _NAMESPACE_BUILTINS
        ):
            return True
    return any(
        writes_namespace(const) for const in code.co_consts if isinstance(const, types.CodeType)
    )


def rebinding(function: Any) -> str | None:
    """Why calling ``function`` may rebind a module's global name (``"binds the global
    `K`"``, ``"calls `helper`, which binds the global `K`"``), or None.

    >>> K = 1.0
    >>> def set_scale(v):
    ...     global K
    ...     K = v
    >>> rebinding(set_scale)
    'binds the global `K`'
    >>> rebinding(lambda v: v * K) is None
    True
    """
    return _Scan().function(function)


class _Scan:
    def __init__(self) -> None:
        self.seen: set[int] = set()

    def function(self, function: Any) -> str | None:
        while isinstance(function, (types.MethodType, functools.partial)):
            partial = isinstance(function, functools.partial)
            function = function.func if partial else function.__func__
        if isinstance(function, type):
            return self.cls(function)
        code = getattr(function, "__code__", None)
        if not isinstance(function, types.FunctionType) or code is None:
            # (an object of a user class called: its class's methods run)
            called = type(function)
            return None if _is_library(called) else self.cls(called)
        if id(code) in self.seen or _is_library(function):
            return None
        self.seen.add(id(code))
        cells = {}
        for name, cell in zip(code.co_freevars, function.__closure__ or (), strict=False):
            try:
                cells[name] = cell.cell_contents
            except ValueError:  # (an empty cell)
                pass
        return self.code(code, function.__globals__, cells)

    def cls(self, cls: type) -> str | None:
        if id(cls) in self.seen or _is_library(cls):
            return None
        self.seen.add(id(cls))
        for klass in cls.__mro__[:-1]:
            for name, member in vars(klass).items():
                if isinstance(member, (staticmethod, classmethod)):
                    member = member.__func__
                elif isinstance(member, property):
                    member = member.fset or member.fget
                why = self.function(member)
                if why is not None:
                    return f"may call `{cls.__name__}.{name}`, which {why}"
        return None

    def code(self, code: types.CodeType, namespace: dict, cells: dict) -> str | None:
        instructions = list(dis.get_instructions(code))
        names = set(code.co_names)
        finds_modules = bool(names & _MODULE_FINDERS) or any(
            i.opname == "IMPORT_NAME" for i in instructions
        )
        callees: list[tuple[str, Any]] = []
        for before, instruction in zip([None, *instructions], instructions, strict=False):
            op, argval = instruction.opname, instruction.argval
            if op in _GLOBAL_WRITES:
                return f"binds the global `{argval}`"
            if op in _ATTRIBUTE_WRITES:
                owner = _outside_value(before, namespace, cells)
                if isinstance(owner, types.ModuleType) and not _is_library(owner):
                    return f"sets `{owner.__name__}.{argval}`, a global of that module"
                if finds_modules:
                    return f"sets the attribute `{argval}` of an object that may be a module"
            if op not in _LOAD_OUTSIDE:
                continue
            found, value = _lookup(argval, op, namespace, cells)
            if not found:
                continue
            if _is_builtin(value):
                if argval in _NAMESPACE_BUILTINS:
                    return f"calls `{argval}()`, which can write a module's globals"
                if argval in _SETTERS and finds_modules:
                    return f"calls `{argval}` on what may be a module"
                continue
            if isinstance(value, (types.FunctionType, type)):
                callees.append((argval, value))
        for const in code.co_consts:
            if isinstance(const, types.CodeType) and id(const) not in self.seen:
                self.seen.add(id(const))
                why = self.code(const, namespace, cells)
                if why is not None:
                    return why
        for name, value in callees:
            why = self.function(value)
            if why is not None:
                return f"calls `{name}`, which {why}"
        return None


def _lookup(name: str, op: str, namespace: dict, cells: dict) -> tuple[bool, Any]:
    if op in ("LOAD_DEREF", "LOAD_CLASSDEREF"):
        return (name in cells), cells.get(name)
    if name in namespace:
        return True, namespace[name]
    builtins_ = namespace.get("__builtins__", __builtins__)
    if isinstance(builtins_, types.ModuleType):
        builtins_ = vars(builtins_)
    if name in builtins_:
        return True, builtins_[name]
    return False, None


def _outside_value(instruction: Any, namespace: dict, cells: dict) -> Any:
    """The global or closure value ``instruction`` loads, else None."""
    if instruction is None or instruction.opname not in _LOAD_OUTSIDE:
        return None
    return _lookup(instruction.argval, instruction.opname, namespace, cells)[1]


def _is_builtin(value: Any) -> bool:
    return isinstance(value, types.BuiltinFunctionType) and value.__module__ == "builtins"


def _is_library(value: Any) -> bool:
    """Library code, classes and modules: NumPy, SciPy, ..., and the standard library's."""
    if isinstance(value, types.ModuleType):
        where = getattr(value, "__file__", None)
        root = value.__name__.split(".")[0]
        # (no file: built into Python)
        return root in _LIBRARIES or where is None or where.startswith(_STANDARD)
    name = getattr(value, "__module__", None) or ""
    if name.split(".")[0] in _LIBRARIES or name == "builtins":
        return True
    if isinstance(value, types.FunctionType):
        return value.__code__.co_filename.startswith(_STANDARD)
    module = sys.modules.get(name)
    return module is not None and _is_library(module)


#: where the standard library lives (a user's module may share a name with one of it)
_STANDARD = tuple(
    {path + os.sep for key in ("stdlib", "platstdlib") if (path := sysconfig.get_path(key))}
) or ("\0",)

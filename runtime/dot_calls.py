"""``x.dot(w)`` on the tape, whatever ``x`` is.

NumPy's methods do not dispatch: ``ndarray.dot`` converts a tensor argument by
``__array__``, which raises GradientLostError for one that needs a gradient. A plain array
can reach a ``.dot`` call from anywhere (an argument not differentiated, an item of a list
or dict, an object's attribute, a global, a default, what a library returned), so the tape
runs a function that calls a method ``dot`` from its own source with each such call
written as a function call, ``__astgrad_dot__(x, w)``: NumPy's ``np.dot`` where ``x`` is
an array and an argument a tensor (which the tensor's ``__array_function__`` records),
the method itself otherwise. The rewrite changes nothing else: the receiver is evaluated
before the arguments, as Python evaluates a method call's. ``__astgrad_dot__`` is read
from the function's closure (:func:`closure_of`), so the function may run with its own
globals (one that binds a global must: see ``fallback.on_tape``).
"""

from __future__ import annotations

import ast
import types
import weakref
from typing import Any

import numpy as np

from ..transform.parsing import recompiled
from .recording import apply
from .rules.registry import lookup
from .tensor import Tensor

_DOT = lookup(np.dot)

#: the name the rewritten calls read from the tape's globals
DOT_CALL = "__astgrad_dot__"


def dot_call(receiver: Any, *args: Any, **kwargs: Any) -> Any:
    """``receiver.dot(*args, **kwargs)`` as a function run on the tape calls it.

    >>> import numpy as np
    >>> dot_call(np.eye(2), np.array([1.0, 2.0]))
    array([1., 2.])
    """
    if isinstance(receiver, np.ndarray) and any(isinstance(a, Tensor) for a in args):
        if len(args) == 1 and not kwargs:
            return apply(_DOT, np.dot, (receiver, args[0]))  # (what Tensor.dot records)
        return np.dot(receiver, *args, **kwargs)
    return receiver.dot(*args, **kwargs)


def reads_dot(function: Any) -> bool:
    """Whether ``function``'s code (or a function defined in it) reads an attribute
    ``dot``."""
    code = getattr(getattr(function, "__func__", function), "__code__", None)
    return code is not None and _code_reads_dot(code)


#: code -> whether it (or a function defined in it) reads an attribute named dot
_dot_readers: weakref.WeakKeyDictionary[types.CodeType, bool] = weakref.WeakKeyDictionary()


def _code_reads_dot(code: types.CodeType) -> bool:
    found = _dot_readers.get(code)
    if found is None:
        found = "dot" in code.co_names or any(
            _code_reads_dot(const) for const in code.co_consts if isinstance(const, types.CodeType)
        )
        _dot_readers[code] = found
    return found


def with_dot_calls(function: types.FunctionType) -> types.CodeType | None:
    """``function``'s code with its method calls ``dot`` written as calls of
    :data:`DOT_CALL`; None where its source is not available (it then runs as it is).
    Made once per code object (a recursive function's tape version is made at every
    call: see ``fallback.on_tape``)."""
    code = function.__code__
    found = _rewritten.get(code, _MISSING)
    if found is _MISSING:
        found = _rewritten[code] = recompiled(function, _DotCalls().visit, (DOT_CALL,))
    return found


def closure_of(function: types.FunctionType, code: types.CodeType) -> tuple:
    """The closure ``code`` (from :func:`with_dot_calls`) runs with: ``function``'s cells
    by name, and one holding :func:`dot_call`."""
    cells = dict(zip(function.__code__.co_freevars, function.__closure__ or ()))
    cells[DOT_CALL] = types.CellType(dot_call)
    return tuple(cells[name] for name in code.co_freevars)


#: code -> its code with the dot calls rewritten, or None (weakly held, as code is immutable)
_rewritten: weakref.WeakKeyDictionary[types.CodeType, Any] = weakref.WeakKeyDictionary()
_MISSING = object()


class _DotCalls(ast.NodeTransformer):
    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        method = node.func
        if not (isinstance(method, ast.Attribute) and method.attr == "dot"):
            return node
        called = ast.Name(id=DOT_CALL, ctx=ast.Load())
        ast.copy_location(called, method)
        node.func = called
        node.args = [method.value, *node.args]
        return node

"""Call plans: the prepared call of a derivative for one pattern of arguments.

Every call of a gradient must find the derivative for its arguments' kinds, check that
the arguments being differentiated are floats, run the derivative on the arguments'
device and give each gradient its argument's form. Done in general that costs tens of
microseconds, as much as a small gradient itself. Most calls, though, repeat the last
one: the same number of positional arguments, each of the same plain host type (or, where
differentiated, a list of float arrays of the same length: a model's layers). For such
calls a *plan* is prepared: a small function, generated for the pattern (see
:func:`pattern`), that checks exactly what the types leave open and calls the derivative,
with no loop, no signature binding and no device lookup. Anything it does not expect
(another type or count of arguments, another dtype, a guard that no longer holds) makes
it return :data:`MISS`, and the caller takes its general path, which has the full checks
and messages.

Both ways of differentiating make their plans here, from one template (:data:`_PLAN`),
and differ only in what they hand it:

* generated source (``astgrad.api``): the derivative is the generated function, which
  returns raw gradients that the plan gives their arguments' form (``finished=False``);
  the guard is the derivative's (see ``transform.guards``), when it has one;
* the tape (``fallback.tape_plan``): the derivative runs the function on the tape and
  returns finished gradients (``finished=True``); the guard watches the function's code
  and defaults.

A plan's source is made once per shape of plan (argument types, positions, variant) and
compiled once; plans for other functions or dtypes share the compiled code, since the
source names the derivative, the guard and the dtypes rather than holding them.
"""

from __future__ import annotations

import builtins
import linecache
import string
import types
from collections.abc import Callable
from typing import Any

import numpy as np

from .adjoints import finish_gradient

__all__ = ["MISS", "HOST_TYPES", "Plan", "pattern"]

#: what a plan returns for arguments that do not fit its pattern
MISS = object()

# Types of arguments surely on the host, whose kinds depend on their type alone (a list's
# kind depends on its length, and a list may hold device arrays): a call made only of
# these needs no device guard, and its derivative is settled by the types. Each type's
# name is how the plan's source refers to it.
HOST_TYPES = {np.ndarray: "ndarray", float: "float", int: "int", bool: "bool",
              complex: "complex", str: "str", type(None): "NoneType"}  # fmt: skip
#: the types of differentiated arguments a plan takes: float arrays and floats
_PLAIN_WRT_TYPES = (np.ndarray, float)

#: (the types of the arguments, the dtype of each differentiated array, the ndim of each
#: array and, for each list, its length and its items' ndims, in order): a derivative may
#: rely on an array's ndim, a list's length and its arrays' ndims (see astgrad.api._kind)
Pattern = tuple[tuple[type, ...], tuple[np.dtype, ...], tuple[Any, ...]]


def pattern(args: tuple, positions: tuple[int | None, ...], lists: bool = False) -> Pattern | None:
    """What a plan for calls like this one (positional arguments only, those at
    ``positions`` differentiated) assumes: the type of every argument, and the dtype of
    each differentiated array. None when there can be no plan: an argument that is not a
    plain host value, or a differentiated one that is missing or not a float (array).
    With ``lists``, a differentiated argument may also be a list of float arrays (a
    model's layers), whose length the plan checks and whose items it checks are such
    arrays, each of the ndim it had, at every call.

    >>> pattern((np.ones(2), 3.0, "label"), (0, 1))
    ((<class 'numpy.ndarray'>, <class 'float'>, <class 'str'>), (dtype('float64'),), (1,))
    >>> pattern((np.arange(2),), (0,)) is None  # an integer array has no gradient
    True
    >>> pattern(([np.ones(2), np.ones((2, 2))], np.ones(3)), (0,), lists=True)
    ((<class 'list'>, <class 'numpy.ndarray'>), (), ((2, (1, 2)), 1))
    """
    kinds = tuple(map(type, args))
    wrt_lists = {p for p in positions if lists and p is not None and p < len(args)}
    wrt_lists = {p for p in wrt_lists if kinds[p] is list and _float_arrays(args[p])}
    if not all(kind in HOST_TYPES or i in wrt_lists for i, kind in enumerate(kinds)):
        return None
    dtypes = []
    for p in positions:
        if p in wrt_lists:
            continue
        if p is None or p >= len(args) or kinds[p] not in _PLAIN_WRT_TYPES:
            return None
        if kinds[p] is np.ndarray:
            dtype = args[p].dtype
            if dtype.kind != "f":
                return None
            dtypes.append(dtype)
    sizes = tuple(
        arg.ndim if kind is np.ndarray else (len(arg), tuple(item.ndim for item in arg))
        for arg, kind in zip(args, kinds)
        if kind is np.ndarray or kind is list
    )
    return kinds, tuple(dtypes), sizes


def _float_arrays(items: list) -> bool:
    """Whether ``items`` is a non-empty list of float NumPy arrays (a plan's check, made
    once here)."""
    return bool(items) and all(type(a) is np.ndarray and a.dtype.kind == "f" for a in items)


# -- the template ---------------------------------------------------------------------------
#
# A plan is _PLAN with its fields filled in (see _fill). For two float arrays a0, a1,
# differentiated, and a third argument, an int, it reads:
#
#     def planned_call(args):
#         if len(args) != 3:
#             return MISS
#         (a0, a1, a2) = args
#         if type(a0) is not ndarray or type(a1) is not ndarray or type(a2) is not int:
#             return MISS
#         if a0.dtype is not d0 or a1.dtype is not d1 or a0.ndim != 1 or a1.ndim != 2:
#             return MISS
#         if not holds():  # what the derivative assumed changed
#             return MISS
#         value, (g0, g1) = derivative(*args)
#         if not (type(g0) is ndarray and g0.dtype is d0 and g0.shape == a0.shape and ...):
#             g0 = finish(g0, a0)
#         ...
#         return (g0, g1)
#
# d0, d1 are the float dtypes the plan was made for: NumPy's dtypes of its own types are
# singletons, so `is` compares them at the cost of a lookup.

_PLAN = """\
def planned_call(args):
    if len(args) != {count}:
        return MISS
    {arguments} = args
    if {other_type}:
        return MISS
    if {other_dtype}:
        return MISS
    {items}
    if not {holds}():  # what the derivative assumed changed
        return MISS
    value, {raw} = derivative(*args)
    {finish}
    return {result}
"""
_OTHER_TYPE = "type({a}) is not {type}"
_OTHER_DTYPE = "{a}.dtype is not {dtype}"
_OTHER_NDIM = "{a}.ndim != {ndim}"
_OTHER_LENGTH = "len({a}) != {length}"
# a list's items, float arrays of the ndims it was made for (each gradient's form is its
# item's: finish sees to it)
_ITEMS = """\
for item, ndim in zip({a}, {ndims}):
    if type(item) is not ndarray or item.dtype.kind != "f" or item.ndim != ndim:
        return MISS"""
_FINISH_LIST = "{g} = finish({g}, {a})"
# finish_gradient's fast paths, without the call: a float, or an array of the argument's
# dtype and shape, C-ordered (generated code's gradients are buffers of their own)
_FINISH_ARRAY = (
    "if not (type({g}) is ndarray and {g}.dtype is {dtype} and {g}.shape == {a}.shape"
    " and {g}.flags.carray):\n"
    "    {g} = finish({g}, {a})"
)
_FINISH_FLOAT = """\
if type({g}) is not float:
    {g} = finish({g}, {a})"""


def _fill(template: str, **fields: str | None) -> str:
    """``template`` with its fields filled in. A line with a field given as None is left
    out, with the block under it; so is a line that is blank once filled. A field of
    several lines keeps the indentation of the line it stands in.

    >>> print(_fill("if {test}:\\n    return {value}\\nreturn 0", test=None, value="1"))
    return 0
    """
    lines = []
    dropped_at = None  # the indentation of a line left out, while in its block
    for line in template.splitlines():
        indent = len(line) - len(line.lstrip())
        if dropped_at is not None and indent > dropped_at:
            continue
        dropped_at = None
        if any(fields[name] is None for name in _field_names(line)):
            dropped_at = indent
            continue
        filled = line.format(**fields)
        if filled.strip():
            lines.append(filled.replace("\n", "\n" + " " * indent))
    return "\n".join(lines)


def _field_names(line: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(line) if name]


def _tuple(items: list[str]) -> str:
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


def _any(tests: list[str]) -> str | None:
    """``tests[0] or tests[1] or ...``; None for none."""
    return " or ".join(tests) if tests else None


def _plan_source(
    kinds: tuple[type, ...],
    ndims: tuple[int, ...],
    positions: tuple[int, ...],
    *,
    guarded: bool,
    finished: bool,
    single: bool,
    with_value: bool,
) -> str:
    """The source of a plan for arguments of types ``kinds``, its arrays of ``ndims``,
    differentiated at ``positions`` (see :class:`Plan` for the rest)."""
    names = [f"a{i}" for i in range(len(kinds))]
    grads = [f"g{p}" for p in positions]
    arrays = [p for p in positions if kinds[p] is np.ndarray]
    finish = []
    if not finished:
        for p in positions:
            template = {np.ndarray: _FINISH_ARRAY, list: _FINISH_LIST}.get(kinds[p], _FINISH_FLOAT)
            finish.append(_fill(template, g=f"g{p}", a=f"a{p}", dtype=f"d{p}"))
    other_type = [
        _fill(_OTHER_TYPE, a=a, type=HOST_TYPES.get(k, "list")) for a, k in zip(names, kinds)
    ]
    other_dtype = [_fill(_OTHER_DTYPE, a=f"a{p}", dtype=f"d{p}") for p in arrays]
    sized = [(a, k) for a, k in zip(names, kinds) if k is np.ndarray or k is list]
    items = []
    for (a, k), n in zip(sized, ndims, strict=True):
        if k is np.ndarray:
            other_dtype.append(_fill(_OTHER_NDIM, a=a, ndim=str(n)))
        else:
            length, item_ndims = n
            other_dtype.append(_fill(_OTHER_LENGTH, a=a, length=str(length)))
            items.append(_fill(_ITEMS, a=a, ndims=repr(item_ndims)))
    # The derivative returns a single gradient bare, several as a tuple.
    raw = grads[0] if len(grads) == 1 else _tuple(grads)
    gradients = grads[0] if single else _tuple(grads)
    source = _fill(
        _PLAN,
        count=str(len(kinds)),
        arguments=_tuple(names),
        other_type=_any(other_type),
        other_dtype=_any(other_dtype),
        items="\n".join(items) or None,
        holds="holds" if guarded else None,
        raw=raw,
        finish="\n".join(finish),
        result=f"value, {gradients}" if with_value else gradients,
    )
    return source + "\n"


#: (plan key -> (source, code)), shared by every plan of every function
_plan_code: dict[tuple, tuple[str, types.CodeType]] = {}


class Plan:
    """The prepared call of one derivative for one pattern of arguments (see
    :func:`pattern`); ``positions`` are where the differentiated arguments sit.

    ``derivative(*args)`` returns the value and the gradients (a single one bare, several
    as a tuple): raw ones, which the plan gives their arguments' form, or, when
    ``finished``, ones already in it. ``guard()``, when given, says whether what the
    derivative assumed still holds. ``call(args)`` returns the gradient of the arguments
    at ``positions`` (the one bare when ``single``, else a tuple; after the value when
    ``with_value``), or :data:`MISS` when ``args`` do not fit. ``source`` is the
    generated Python, for reading and debugging.

    >>> def derivative(x, scale):  # the value and the raw gradient of x
    ...     return float(np.sum(x * scale)), np.full_like(x, scale)
    >>> args = (np.ones(2), 3.0)
    >>> plan = Plan(pattern(args, (0,)), (0,), derivative, guard=None, finished=False,
    ...             single=True, with_value=True)
    >>> plan.call(args)
    (6.0, array([3., 3.]))
    >>> plan.call((np.ones(2), 3)) is MISS  # an int where the plan takes a float
    True
    """

    __slots__ = ("call", "source")

    def __init__(
        self,
        pattern: Pattern,
        positions: tuple[int, ...],
        derivative: Callable[..., tuple[Any, Any]],
        *,
        guard: Callable[[], bool] | None,
        finished: bool,
        single: bool,
        with_value: bool,
    ) -> None:
        kinds, dtypes, ndims = pattern
        key = (kinds, ndims, positions, guard is not None, finished, single, with_value)
        found = _plan_code.get(key)
        if found is None:
            source = _plan_source(
                kinds,
                ndims,
                positions,
                guarded=guard is not None,
                finished=finished,
                single=single,
                with_value=with_value,
            )
            filename = f"<astgrad call plan {len(_plan_code) + 1}>"
            lines = source.splitlines(keepends=True)
            linecache.cache[filename] = (len(source), None, lines, filename)
            code = compile(source, filename, "exec").co_consts[0]
            found = _plan_code[key] = (source, code)
        self.source, code = found
        namespace = {
            "MISS": MISS,
            "ndarray": np.ndarray,
            "NoneType": type(None),
            "list": list,
            "finish": finish_gradient,
            "derivative": derivative,
            "holds": guard,
            "__builtins__": builtins,
        }
        arrays = [p for p in positions if kinds[p] is np.ndarray]
        namespace.update((f"d{p}", dtype) for p, dtype in zip(arrays, dtypes))
        self.call = types.FunctionType(code, namespace, "planned_call")

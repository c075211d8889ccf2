"""effects: accept code that changes objects in place only where the generated gradient
computes what Python computes.

Generated code gives every *name* its own adjoint and treats ``y += v`` as ``y = y + v``.
Python changes *memory*: after ``z = y`` (or ``z = y[1:]``, ``z = y.reshape(...)``,
``lst = [y]``) a write through one name shows through the other. So a function that
changes an object in place is differentiated by source only where no other live name can
see the change; anything else raises :class:`TransformError` naming the line
(``mode="auto"`` then runs the whole function on the tape, which follows memory).

The check is an abstract interpretation of the core statements ``normalize`` produces:

* **Objects.** Each statement that makes a new array, list or dict is an *allocation
  site*. Its most recent value is one abstract object and all its earlier values another
  (so a list built afresh in each iteration of a loop is not confused with the ones
  appended before). Arguments are one object, :data:`EXTERNAL`, since the caller may pass
  one array twice; each global or closure value that is mutable data is its own object.
* **Aliases.** ``z = y`` copies the set of objects a name may hold; a view (basic
  indexing, ``reshape``, ``.T``, ``ravel``, ``np.asarray``, ...) or an element read shares
  its base's objects; a container's *contents* are the objects its elements may be.
* **Effects.** The forms the transform differentiates itself are *handled*: item
  assignment ``y[i] = v`` (overwritten values are saved and put back in place),
  ``lst.append(v)``, and ``y op= v`` (rebinding). Each is sound when no other name live
  afterwards may hold the changed object, and the object is not an argument or global
  (``y op= v`` may rebind an argument: the caller's array is then left as it was, and
  no other argument may be read afterwards, as it could be the same array). Any other
  effect — ``np.add.at``, ``out=``, ``np.copyto``, ``a.fill(...)``, list and dict
  methods, a user function that writes into its argument, a method of an object — is
  *unhandled*: accepted only when no differentiated value flows into it and nothing the
  gradient reads may be the changed object.

Calls that run on the tape (``mode="auto"``'s fallbacks) get their differentiated
arguments as tensors that require a gradient, which the tape refuses to change in place;
only their other arguments are checked. What a user function does to its arguments comes
from this same analysis of its body (:func:`summary`), so ``fill_in(buf, x)`` is seen as
a write into ``buf``.
"""

from __future__ import annotations

import bisect
import builtins
import copy
import functools
import heapq
import operator
import os
import random
import sysconfig
import types
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import gast
import numpy as np

from . import anno, build, dataflow, global_writes
from .context import TransformContext
from .errors import TransformError
from .objects import (
    element_owners,
    is_put_back,
    nested_roots,
    written_parameters,
    written_paths,
)
from .origin import of as origin_of
from .resolve import Callee, is_hashable
from .walk import walk

#: stands for "another slot of the same container" among the objects an effect changes
_DUPLICATE = "another slot"

#: the abstract object of the function's arguments (one, as the caller may pass one array
#: twice)
EXTERNAL = "external"

_ADVICE = (
    'Use mode="auto" or mode="tape" (the tape follows writes through every name), or '
    "write the update without changing the array in place (y = y + v, np.where, ...)."
)

_GLOBAL_ADVICE = (
    'Use mode="auto" or mode="tape" (the tape reads each global when Python does), or pass '
    "the value as an argument rather than rebinding a global during the call."
)

# -- what calls do ------------------------------------------------------------------------

# NumPy functions whose result may share memory with their first argument. Other library
# functions are taken to return new objects.
_VIEW_FUNCTIONS = {
    np.reshape, np.ravel, np.squeeze, np.expand_dims, np.atleast_1d, np.atleast_2d,
    np.atleast_3d, np.broadcast_to, np.transpose, np.swapaxes, np.moveaxis, np.diagonal,
    np.diag, np.flip, np.fliplr, np.flipud, np.rot90, np.split, np.array_split, np.hsplit,
    np.vsplit, np.dsplit, np.asarray, np.asanyarray, np.real, np.imag, np.matrix_transpose,
    np.rollaxis, np.broadcast_arrays, np.ascontiguousarray, np.asfortranarray,
    np.require, np.ndarray.view, np.asarray_chkfinite, np.real_if_close, np.trim_zeros,
    np.unstack, np.asmatrix, np.frombuffer,
}  # fmt: skip
# Array methods and attributes with the same property.
_VIEW_METHODS = {
    "reshape", "ravel", "squeeze", "swapaxes", "transpose", "diagonal", "view", "real",
    "imag", "T", "mT", "flat",
}  # fmt: skip
# Builtins that make a new container of their argument's elements (a shallow copy).
_COPYING = {builtins.list, builtins.tuple, builtins.dict, builtins.set, builtins.frozenset,
            builtins.sorted, copy.copy}  # fmt: skip
# NumPy functions whose result is a tuple or list of arrays.
_MANY_RESULTS = {
    np.split, np.array_split, np.hsplit, np.vsplit, np.dsplit, np.nonzero, np.meshgrid,
    np.broadcast_arrays, np.histogram, np.gradient, np.unique, np.linalg.qr, np.linalg.svd,
    np.linalg.eig, np.linalg.eigh, np.linalg.slogdet, np.atleast_1d, np.atleast_2d,
    np.atleast_3d, np.where, np.divmod, np.frexp, np.modf, np.linalg.lstsq, np.unstack,
}  # fmt: skip
# NumPy functions without a rule that make a new array (other library functions may
# return any object: a random generator, a list).
_ARRAY_MAKERS = {
    np.zeros, np.ones, np.empty, np.full, np.arange, np.linspace, np.logspace, np.eye,
    np.identity, np.tri, np.zeros_like, np.ones_like, np.empty_like, np.full_like,
    np.random.rand, np.random.randn, np.random.random, np.random.normal, np.random.uniform,
}  # fmt: skip
# Functions that return one of their arguments as it is.
_PASS_THROUGH = {builtins.max, builtins.min}
# Builtin classes whose objects iterate over their argument and change nothing (a
# generated gradient's ``for i in reversed(range(n))``).
_ITERATORS = {builtins.reversed, builtins.range, builtins.enumerate, builtins.zip}
# NumPy functions that write into their first argument.
_WRITES_FIRST = {
    np.copyto, np.put, np.place, np.putmask, np.fill_diagonal, np.put_along_axis,
    np.random.shuffle, random.shuffle, heapq.heappush, heapq.heappop, heapq.heapify,
    heapq.heapreplace, heapq.heappushpop, bisect.insort, bisect.insort_left,
    bisect.insort_right, builtins.setattr, builtins.delattr, object.__setattr__,
    operator.setitem, operator.delitem, operator.iadd, operator.isub, operator.imul,
    operator.itruediv, operator.ifloordiv, operator.imod, operator.ipow, operator.imatmul,
    operator.iconcat, operator.iand, operator.ior, operator.ixor,
}  # fmt: skip
# Methods that change their receiver (lists, dicts, sets, arrays); of these, the ones that
# also put their arguments into it.
_MUTATING_METHODS = {
    "append", "extend", "insert", "remove", "pop", "popitem", "clear", "reverse", "sort",
    "update", "setdefault", "add", "discard", "fill", "put", "resize", "itemset",
    "partition", "setflags", "byteswap", "shuffle", "__setitem__", "__iadd__",
}  # fmt: skip
_STORING_METHODS = {"append", "extend", "insert", "update", "setdefault", "add", "__setitem__"}
# Methods of lists, dicts and arrays that change nothing.
_PURE_METHODS = {
    "index", "count", "get", "keys", "values", "items", "copy", "tolist", "tobytes",
    "conj", "conjugate", "nonzero", "astype", "dot", "sum", "mean", "max", "min", "prod",
    "std", "var", "cumsum", "cumprod", "argmax", "argmin", "argsort", "all", "any",
    "clip", "round", "trace", "take", "repeat", "flatten", "item", "searchsorted",
    "__getitem__", "__len__", "__contains__",
}  # fmt: skip
# Library modules whose functions are taken to leave their arguments alone (apart from
# _WRITES_FIRST, ufunc.at and out= arguments).
_PURE_LIBRARIES = ("numpy", "scipy", "math", "builtins", "astgrad", "cupy", "operator")
_METADATA = {"shape", "ndim", "size", "dtype", "nbytes", "itemsize", "strides"}


def _is_ufunc_at(value: Any) -> bool:
    return getattr(value, "__name__", None) == "at" and isinstance(
        getattr(value, "__self__", None), np.ufunc
    )


def _writes_first(value: Any) -> bool:
    return _is_ufunc_at(value) or (is_hashable(value) and value in _WRITES_FIRST)


def _module_function(value: Any) -> bool:
    """Whether ``value`` is reached through a module (``np.zeros``), not bound to an
    object whose state a call could change."""
    if value is None:
        return False
    owner = getattr(value, "__self__", None)
    return owner is None or isinstance(owner, (types.ModuleType, np.ufunc))


def _library_function(value: Any) -> bool:
    """NumPy's, SciPy's and the standard library's functions: taken to leave their
    arguments alone (their own module state is theirs), apart from :data:`_WRITES_FIRST`."""
    if isinstance(value, np.ufunc):
        return True
    if isinstance(value, type) or not _module_function(value):
        return False  # a class or a bound method: it may do anything to its arguments
    module = getattr(value, "__module__", None) or ""
    if module.split(".")[0] in _PURE_LIBRARIES:
        return True
    code = getattr(value, "__code__", None)
    return code is not None and code.co_filename.startswith(_INSTALLED)


#: where the standard library lives (installed packages may be the user's own code)
_INSTALLED = tuple(
    {path + os.sep for key in ("stdlib", "platstdlib") if (path := sysconfig.get_path(key))}
) or ("\0",)


def _is_outside(obj: Any) -> bool:
    """Whether an abstract object may be the caller's or a module's."""
    return obj == EXTERNAL or (isinstance(obj, tuple) and obj[0] in ("global", "param"))


def _site(obj: Any) -> Any:
    """The object without its recency (for questions asked of the whole function)."""
    return obj[:2] if isinstance(obj, tuple) and obj[0] == "site" else obj


# -- the abstract state ----------------------------------------------------------------------


@dataclass
class _Env:
    """What each name may hold, and what each container object may contain."""

    names: dict[str, frozenset] = field(default_factory=dict)
    contents: dict[Any, frozenset] = field(default_factory=dict)
    #: allocation sites that ran on this path (only those can have an object to age)
    ran: set = field(default_factory=set, compare=False)

    def copy(self) -> _Env:
        return _Env(dict(self.names), dict(self.contents), set(self.ran))

    def join(self, other: _Env) -> _Env:
        joined = self.copy()
        joined.ran |= other.ran
        for table, theirs in ((joined.names, other.names), (joined.contents, other.contents)):
            for key, objects in theirs.items():
                table[key] = table.get(key, frozenset()) | objects
        return joined

    def reach(self, objects: Iterable) -> frozenset:
        """``objects`` and everything stored in them, transitively."""
        seen = set(objects)
        todo = list(seen)
        while todo:
            for inner in self.contents.get(todo.pop(), ()):
                if inner not in seen:
                    seen.add(inner)
                    todo.append(inner)
        return frozenset(seen)

    def store_into(self, objects: Iterable, stored: frozenset) -> None:
        if stored:
            for obj in objects:
                self.contents[obj] = self.contents.get(obj, frozenset()) | stored

    def age(self, new: Any, old: Any) -> None:
        """The allocation site runs again: what it made before is now one of its old
        values."""
        if new not in self.ran:
            self.ran.add(new)  # its first run on this path: nothing made before
            return
        for table in (self.names, self.contents):
            for key, objects in table.items():
                if new in objects:
                    table[key] = (objects - {new}) | {old}
        if new in self.contents:
            moved = self.contents.pop(new)
            self.contents[old] = self.contents.get(old, frozenset()) | moved


@dataclass
class _Effect:
    """One statement that changes an object in place."""

    stmt: gast.stmt
    #: objects the statement may change
    objects: frozenset
    #: the name written through, for a handled form; None for an unhandled effect
    target: str | None
    #: what it is, as the user wrote it ("item assignment", "np.add.at(...)")
    what: str
    #: names whose values flow into the change, with the objects each may hold
    inputs: dict[str, frozenset] = field(default_factory=dict)
    #: a call that runs on the tape: its differentiated arguments cannot be changed
    on_tape: bool = False
    #: a call of what the analysis could not read at all (it may change anything given):
    #: on the tape, its differentiated arguments are left to the tape's run-time checks
    unknown: bool = False


@dataclass
class Summary:
    """What calling a user function does to its arguments."""

    #: its parameters, positional ones first in order (keyword-only ones after)
    parameters: tuple[str, ...] = ()
    #: names of the parameters it may change in place
    mutates: frozenset = frozenset()
    #: names of the parameters it changes only by ``p op= v``, which its generated
    #: derivative does by rebinding ``p``: the caller's object is then left as it was
    rebinds: frozenset = frozenset()
    #: whether it may change a global or an object it cannot name
    mutates_external: bool = False
    #: names of the parameters its result may share memory with
    returns: frozenset = frozenset()
    returns_external: bool = False
    #: False when its source could not be analysed; then it cannot be transformed either,
    #: and ``mode="auto"`` calls it on the tape
    readable: bool = True


#: what the run-time aliasing check is to the passes after this one
_GUARD = Callee("nondiff", "unshared_arguments")

#: what a function the analysis cannot read may do: anything to anything it is given
_ANYTHING = Summary(mutates_external=True, returns_external=True, readable=False)


_SCALAR_BUILTINS = {builtins.float, builtins.int, builtins.bool, builtins.abs, builtins.round,
                    builtins.len, builtins.min, builtins.max, builtins.pow}  # fmt: skip


def _scalars(body: list[gast.stmt], ctx: TransformContext) -> set[str]:
    """Names that surely hold numbers (Python or NumPy scalars, which are immutable):
    ``y op= v`` on one rebinds it in Python too, and no other name can see a change."""
    params = {p for p, kind in ctx.param_kinds.items() if kind[1:2] in (("float",), ("int",))}
    definitions: dict[str, list] = {}
    for stmt in dataflow.statements(body):
        if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name):
            definitions.setdefault(stmt.targets[0].id, []).append(stmt)
        elif isinstance(stmt, gast.For) and isinstance(stmt.target, gast.Name):
            in_range = (
                isinstance(stmt.iter, gast.Call)
                and isinstance(stmt.iter.func, gast.Name)
                and stmt.iter.func.id == "range"
            )
            definitions.setdefault(stmt.target.id, []).append("int" if in_range else None)
        else:
            # (unpacking, a loop over pairs, a with's target: what they bind may be anything)
            targets = [stmt.target] if isinstance(stmt, gast.For) else []
            if isinstance(stmt, gast.With):
                targets = [item.optional_vars for item in stmt.items if item.optional_vars]
            bound = dataflow.bound_names(stmt)
            bound |= {n.id for t in targets for n in gast.walk(t) if isinstance(n, gast.Name)}
            for name in bound:
                definitions.setdefault(name, []).append(None)
    scalars = params | {n for n in definitions if n not in ctx.parsed.params}
    changed = True
    while changed:  # drop names with a definition that may not give a number
        changed = False
        for name in list(scalars - params):
            if not all(_gives_number(d, scalars, ctx) for d in definitions[name]):
                scalars.discard(name)
                changed = True
    return scalars


#: function -> {(code, number of arguments): whether it returns a number given numbers}
_number_returns: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_checking_returns: set[int] = set()


def returns_number(function: Any, count: int) -> bool:
    """Whether ``function``, a user function, returns a number on every path when its
    first ``count`` positional arguments are numbers (and the rest take their defaults,
    numbers too): then ``t = helper(t, t)`` in a loop keeps ``t`` a number, and the
    callee's ``q op= v`` rebinds it. Recursion is not followed (False)."""
    if not isinstance(function, types.FunctionType):
        return False
    table = _number_returns.setdefault(function, {})
    key = (function.__code__, count)
    found = table.get(key)
    if found is None:
        if id(function) in _checking_returns:
            return False
        _checking_returns.add(id(function))
        try:
            found = _returns_number(function, count)
        except TransformError:
            found = False
        finally:
            _checking_returns.discard(id(function))
        table[key] = found
    return found


def _returns_number(function: types.FunctionType, count: int) -> bool:
    from . import analyze, desugar, normalize
    from .context import local_names_of
    from .naming import Namer
    from .parsing import parse_function

    parsed = parse_function(function)
    node = parsed.node
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    if args.vararg or args.kwarg or args.kwonlyargs or count > len(positional):
        return False
    defaults = function.__defaults__ or ()
    rest = len(positional) - count
    if rest > len(defaults) or not all(
        type(d) in (int, float) for d in defaults[len(defaults) - rest :]
    ):
        return False
    if any(isinstance(n, (gast.Yield, gast.YieldFrom, gast.Await)) for n in gast.walk(node)):
        return False
    namer = Namer()
    namer.reserve_tree(node)
    ctx = TransformContext(
        parsed=parsed, wrt=(), namer=namer, local_names=local_names_of(node),
        param_kinds={a.id: ("value", "float") for a in positional},
    )  # fmt: skip
    node = normalize.transform(desugar.transform(node, ctx), ctx)
    analyze.annotate(node, ctx)
    body = node.body
    if not body or not isinstance(body[-1], gast.Return):
        return False  # (it may fall off its end and return None)
    returns = [s for s in dataflow.statements(body) if isinstance(s, gast.Return)]
    scalars = _scalars(body, ctx)
    if not all(r.value is not None and _gives_number(r, scalars, ctx) for r in returns):
        return False
    # ``_scalars`` takes None for a number (both are immutable): here a None must not reach
    # a return, through the names copied into what it returns. Normalized code starts
    # ``result = None`` and binds it on each path; that first binding must be dead.
    copies: dict[str, set[str]] = {}
    nones: dict[str, list[int]] = {}
    for position, stmt in enumerate(body):
        for inner in dataflow.statements([stmt]):
            if isinstance(inner, gast.Assign) and isinstance(inner.targets[0], gast.Name):
                name, value = inner.targets[0].id, inner.value
                if isinstance(value, gast.Name):
                    copies.setdefault(name, set()).add(value.id)
                elif isinstance(value, gast.Constant) and value.value is None:
                    # (a None bound in a nested block: position -1, never dead)
                    nones.setdefault(name, []).append(position if inner is stmt else -1)
    flowing = {r.value.id for r in returns if isinstance(r.value, gast.Name)}
    pending = list(flowing)
    while pending:
        for source in copies.get(pending.pop(), ()):
            if source not in flowing:
                flowing.add(source)
                pending.append(source)
    return all(
        position >= 0 and _first_use(body[position + 1 :], name) == "rebound"
        for name in flowing
        for position in nones.get(name, ())
    )


def _first_use(stmts: list[gast.stmt], name: str) -> str | None:
    """``"rebound"`` where every path through ``stmts`` binds ``name`` before reading it,
    ``"read"`` where one may read it first, None where it does neither on some path."""
    for stmt in stmts:
        if isinstance(stmt, gast.If):
            if name in dataflow.reads(stmt.test):
                return "read"
            branches = (_first_use(stmt.body, name), _first_use(stmt.orelse, name))
            if "read" in branches:
                return "read"
            if branches == ("rebound", "rebound"):
                return "rebound"
        elif (
            isinstance(stmt, gast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], gast.Name)
            and stmt.targets[0].id == name
        ):
            return "read" if name in dataflow.reads(stmt.value) else "rebound"
        elif name in dataflow.all_names(stmt):
            return "read"  # (a loop may not run; anything else: taken as a read)
    return None


def _plain_values(body: list[gast.stmt], ctx: TransformContext, params: dict) -> set[str]:
    """Names that surely hold an array or a number, never a list, tuple or dict: what
    NumPy functions, operators on such values and their elements give."""
    trusted = {p for p, kind in ctx.param_kinds.items() if kind[:1] == ("value",)}
    definitions: dict[str, list] = {}
    for stmt in dataflow.statements(body):
        for name in dataflow.bound_names(stmt):
            definitions.setdefault(name, []).append(stmt)
    plain = trusted | {n for n in definitions if n not in params}
    changed = True
    while changed:  # drop names with a definition that may give a container
        changed = False
        for name in list(plain - trusted):
            if not all(_gives_plain(d, plain) for d in definitions[name]):
                plain.discard(name)
                changed = True
    return plain


def _gives_plain(definition: gast.stmt, plain: set[str]) -> bool:
    if not isinstance(definition, gast.Assign) or not isinstance(definition.targets[0], gast.Name):
        return False  # a loop variable or an unpacked element: anything
    value = definition.value

    def is_plain(atom: gast.expr) -> bool:
        return isinstance(atom, gast.Constant) or (isinstance(atom, gast.Name) and atom.id in plain)

    if isinstance(value, gast.BinOp):
        return is_plain(value.left) and is_plain(value.right)
    if isinstance(value, gast.UnaryOp):
        return is_plain(value.operand)
    if isinstance(value, (gast.Compare, gast.Constant)):
        return True
    if isinstance(value, (gast.Name, gast.Subscript)):
        return is_plain(value if isinstance(value, gast.Name) else value.value)
    if isinstance(value, gast.Attribute):
        return isinstance(value.value, gast.Name) and value.value.id in plain
    if isinstance(value, gast.Call):
        callee = anno.get(definition, anno.Key.CALLEE)
        function = getattr(callee, "value", None)
        if getattr(callee, "kind", None) in ("rule", "nondiff"):
            return not (is_hashable(function) and function in _MANY_RESULTS)
        return is_hashable(function) and function in _ARRAY_MAKERS
    return False


def _gives_number(definition: Any, scalars: set[str], ctx: TransformContext) -> bool:
    if definition == "int":
        return True
    if definition is None:
        return False
    value = definition.value
    atoms: list[gast.expr]
    if isinstance(value, (gast.BinOp, gast.UnaryOp, gast.Compare)):
        atoms = [value.left, value.right] if isinstance(value, gast.BinOp) else []
        atoms = [value.operand] if isinstance(value, gast.UnaryOp) else atoms
        atoms = [value.left, *value.comparators] if isinstance(value, gast.Compare) else atoms
    elif isinstance(value, gast.Call):
        callee = anno.get(definition, anno.Key.CALLEE)
        function = getattr(callee, "value", None)
        if getattr(callee, "kind", None) == "user":
            # a function of yours given numbers, every return of which gives a number
            if value.keywords or not returns_number(function, len(value.args)):
                return False
            atoms = list(value.args)
        else:
            from_math = getattr(function, "__module__", None) == "math"
            if not (from_math or (is_hashable(function) and function in _SCALAR_BUILTINS)):
                return False
            if function is builtins.len:
                return True
            atoms = list(value.args)
            if value.keywords:
                return False
    else:
        atoms = [value]
    for atom in atoms:
        while isinstance(atom, gast.UnaryOp):  # (-0.31, a literal as an argument)
            atom = atom.operand
        if isinstance(atom, gast.Constant):
            if not isinstance(atom.value, (int, float, bool, complex, type(None))):
                return False
        elif not (isinstance(atom, gast.Name) and atom.id in scalars):
            return False
    return True


class _Interpreter:
    """Runs the core statements over abstract objects, recording effects."""

    def __init__(self, ctx: TransformContext, params: dict[str, frozenset]) -> None:
        self.ctx = ctx
        self.params = params
        self.kinds = ctx.kinds
        self.trusted_kinds = set(ctx.param_kinds)
        self.effects: dict[tuple, _Effect] = {}
        #: the widest state each assignment or call saw (over loop iterations)
        self.seen: dict[int, _Env] = {}
        #: every object each name held anywhere, and every container's contents anywhere
        self.ever = _Env()
        self.returned: set = set()
        self.scalars: set[str] = set()
        #: calls that may rebind a module's global name while the function runs: the
        #: statement, the call as spelled and why (``global_writes``)
        self.rebinding_calls: list[tuple[gast.stmt, str, str]] = []
        #: containers that may hold one object in two slots ([y, y], [x] * 3)
        self.duplicated: set = set()
        #: parameters whose attributes the function assigns, each its own object (issue 17)
        self.written: frozenset = frozenset()
        #: objects reached by a chain of such a parameter whose attributes the function
        #: assigns (h.inner for h.inner.x = v), each its own object too: "h.inner"
        self.chains: frozenset = frozenset()
        #: arguments' lists of objects whose items' attributes the function assigns
        #: (for p in ps: p.step(dt)): the list, and its items, each an object of its own
        self.lists: frozenset = frozenset()

    def run(self, body: list[gast.stmt]) -> None:
        self.scalars = _scalars(body, self.ctx)
        self.plain = _plain_values(body, self.ctx, self.params)
        env = _Env(names=dict(self.params))
        for name in self.written:  # a parameter whose attributes the function assigns
            self.store_into(env, self.params[name], frozenset({EXTERNAL}))
        for spelled in self.chains:  # (reached by its chain alone: unshared_object)
            self.store_into(env, frozenset({("param", spelled)}), frozenset({EXTERNAL}))
        for name in self.lists:  # (its items distinct, each reached by it alone)
            items = frozenset({("param", f"{name}[]")})
            self.store_into(env, self.params[name], items)
            self.store_into(env, items, frozenset({EXTERNAL}))
        self.block(body, env)

    # -- values ----------------------------------------------------------------------------

    def name(self, name: str, env: _Env) -> frozenset:
        if name in env.names:
            return env.names[name]
        if name in self.ctx.local_names:
            return frozenset()  # not bound on this path
        return self.outside(name)

    def outside(self, name: str) -> frozenset:
        """A global, builtin or closure value: an object only if it is mutable data."""
        cell = self.ctx.parsed.cells.get(name)
        try:
            value = cell.cell_contents if cell is not None else self.ctx.parsed.globals[name]
        except (KeyError, ValueError):
            return frozenset()  # a builtin
        if isinstance(value, (types.ModuleType, type, types.FunctionType, int, float, str)):
            return frozenset()
        if callable(value) and not hasattr(value, "__dict__") and _module_function(value):
            return frozenset()  # a ufunc or builtin function
        return frozenset({("global", name)})

    def atom(self, node: gast.expr | None, env: _Env) -> frozenset:
        if node is None or isinstance(node, gast.Constant):
            return frozenset()
        if isinstance(node, gast.Name):
            return self.name(node.id, env)
        found: frozenset = frozenset()
        for name in dataflow.reads(node):
            found |= self.name(name, env)
        return found

    def reach(self, nodes: Iterable[gast.expr | None], env: _Env) -> frozenset:
        found: frozenset = frozenset()
        for node in nodes:
            found |= self.atom(node, env)
        return env.reach(found)

    def store_into(self, env: _Env, objects: Iterable, stored: frozenset) -> None:
        objects = frozenset(objects)
        for obj in objects:
            if env.contents.get(obj, frozenset()) & stored:
                self.duplicated.add(obj)
        env.store_into(objects, stored)
        self.ever.store_into(map(_site, objects), frozenset(map(_site, stored)))

    def fresh(self, stmt: gast.stmt, env: _Env) -> frozenset:
        new, old = ("site", id(stmt), "new"), ("site", id(stmt), "old")
        env.age(new, old)
        return frozenset({new})

    def is_plain_value(self, node: gast.expr) -> bool:
        """Whether ``node`` surely holds an array or number (not a container)."""
        if isinstance(node, gast.Constant):
            return True
        return isinstance(node, gast.Name) and node.id in self.plain

    # -- statements ------------------------------------------------------------------------

    def block(self, stmts: list[gast.stmt], env: _Env) -> _Env:
        for stmt in stmts:
            env = self.statement(stmt, env)
        return env

    def statement(self, stmt: gast.stmt, env: _Env) -> _Env:
        """The state after ``stmt`` (``env`` itself, changed, for a simple statement)."""
        if isinstance(stmt, gast.If):
            return self.block(stmt.body, env.copy()).join(self.block(stmt.orelse, env.copy()))
        if isinstance(stmt, (gast.For, gast.While)):
            return self.loop(stmt, env)
        if isinstance(stmt, gast.With):
            return self.block(stmt.body, env)
        if isinstance(stmt, gast.Return):
            self.returned |= env.reach(self.atom(stmt.value, env))
            return env
        if isinstance(stmt, (gast.Assign, gast.Expr)):
            self.methods_taken(stmt, env)
        if isinstance(stmt, gast.Assign):
            self.assign(stmt, env)
            for name in dataflow.bound_names(stmt):
                held = env.names.get(name, frozenset())
                self.ever.names[name] = self.ever.names.get(name, frozenset()) | held
        elif isinstance(stmt, gast.Expr) and isinstance(stmt.value, gast.Call):
            self.call(stmt, stmt.value, env)
        return env

    def methods_taken(self, stmt: gast.stmt, env: _Env) -> None:
        """``f = ws.reverse``, ``getattr(ws, "sort")``, ``helper(ws.append)``: a method
        that changes its object, taken rather than called, may be called anywhere later,
        where nothing says what it changes. Taken as a change of the object at the
        statement that takes it (as ``ws.reverse()`` there would be)."""
        for receiver, spelled in _methods_taken(stmt, self.ctx):
            # (the object itself: a list's reverse or append changes the list, not its
            # items, and an array's fill the array)
            self.record(stmt, self.atom(receiver, env), None, spelled, [], env)

    def loop(self, stmt: gast.For | gast.While, env: _Env) -> _Env:
        entry = env
        while True:
            inner = entry.copy()
            if isinstance(stmt, gast.For) and isinstance(stmt.target, gast.Name):
                inner.names[stmt.target.id] = self.element(stmt.iter, entry)
                held = self.ever.names.get(stmt.target.id, frozenset())
                self.ever.names[stmt.target.id] = held | inner.names[stmt.target.id]
            joined = entry.join(self.block(stmt.body, inner))
            if joined == entry:
                return joined
            entry = joined

    def element(self, sequence: gast.expr, env: _Env) -> frozenset:
        """What an element of ``sequence`` may be: a row of an array shares its memory."""
        if isinstance(sequence, gast.Call) and isinstance(sequence.func, gast.Name):
            if sequence.func.id == "range":
                return frozenset()
        return env.reach(self.atom(sequence, env))

    def assign(self, stmt: gast.Assign, env: _Env) -> None:
        target, value = stmt.targets[0], stmt.value
        if isinstance(target, gast.Subscript) and is_put_back(stmt, self.ctx):
            # ps[index] = p putting back the item p was read from: checked as p.x = v is
            changed = self.atom(target.value, env)
            self.record(stmt, changed, target.value.id, "attribute assignment", [value], env)
            return
        if isinstance(target, gast.Subscript):
            changed = self.atom(target.value, env)
            if not self.is_plain_value(target.value):
                self.store_into(env, changed, self.reach([value], env))
            name = target.value.id if isinstance(target.value, gast.Name) else None
            self.record(stmt, changed, name, "item assignment", [value], env)
            return
        if isinstance(target, (gast.Tuple, gast.List)):
            objects = self.reach([value], env)
            for element in target.elts:
                inner = element.value if isinstance(element, gast.Starred) else element
                if isinstance(inner, gast.Name):
                    env.names[inner.id] = objects
            return
        if not isinstance(target, gast.Name):
            return
        if target.id in self.scalars:
            env.names[target.id] = frozenset()  # a number: nothing can share it
            return
        result = self.value(stmt, value, env)
        container = anno.get(stmt, anno.Key.IN_PLACE)
        if isinstance(container, str) and isinstance(value, gast.BinOp):
            self.element_changed(stmt, container, value.left, env)
        elif container:
            # y op= v: Python changes y's object in place when it is an array or a list
            # (and y still holds it), rebinds y when it is a number.
            before = self.name(target.id, env)
            self.record(stmt, before, target.id, "augmented", [value], env)
            result |= before
        env.names[target.id] = result

    def is_builtin(self, node: gast.expr) -> bool:
        """Whether ``node`` surely holds an array, list, dict or set, whose methods change
        only the object itself (a generator's ``shuffle(x)`` changes ``x``)."""
        if self.is_plain_value(node):
            return True
        kind = self.kinds.get(node.id, ("unknown",)) if isinstance(node, gast.Name) else None
        return kind is not None and kind[0] in ("list", "dict", "tuple")

    def may_join_sequences(self, value: gast.BinOp) -> bool:
        """Whether ``value`` may be ``list + list`` or ``[x] * n`` (a new container of the
        operands' elements) rather than arithmetic."""
        left, right = self.is_plain_value(value.left), self.is_plain_value(value.right)
        if isinstance(value.op, gast.Add):
            return not left and not right
        if isinstance(value.op, gast.Mult):

            def count(node: gast.expr) -> bool:  # what may repeat a sequence
                return not (isinstance(node, gast.Constant) and not isinstance(node.value, int))

            return (not left and count(value.right)) or (not right and count(value.left))
        return False

    def element_changed(
        self, stmt: gast.stmt, container: str, element: gast.expr, env: _Env
    ) -> None:
        """``y[i] op= v``: Python changes the element in place, then stores it back. In an
        array the element is the array's own memory, which the store covers; in a list or
        dict it is an object other names (or other slots) may hold."""
        if self.is_plain_value(build.load(container)):
            return
        changed = self.atom(element, env)
        if changed & self.duplicated or self.name(container, env) & self.duplicated:
            changed = changed | {_DUPLICATE}
        self.record(stmt, changed, container, "element", [], env)

    def value(self, stmt: gast.stmt, value: gast.expr, env: _Env) -> frozenset:
        if isinstance(value, gast.Name):
            return self.name(value.id, env)
        if isinstance(value, gast.Constant):
            return frozenset()
        if isinstance(value, gast.Subscript):
            chain = self.chain(value, env)
            if chain is not None:  # model.layers[i]: the chain's items' own object
                return chain
            if isinstance(value.value, gast.Name) and self.lists:
                held = self.name(value.value.id, env)
                for name in self.lists:
                    if held == self.params[name]:  # an item of ps: ps's items' object
                        return frozenset({("param", f"{name}[]")})
            # A basic index gives a view, an element of a container is that element.
            return self.reach([value.value], env)
        if isinstance(value, gast.Attribute):
            if value.attr in _METADATA:
                return frozenset()
            if value.attr in _VIEW_METHODS:
                return self.atom(value.value, env)
            chain = self.chain(value, env)
            if chain is not None:
                return chain
            if isinstance(value.value, gast.Name) and value.value.id in self.written:
                # p.x of a parameter whose attributes are assigned: what p holds, not p (no
                # attribute of it reaches it: runtime.objects.unshared_object)
                owner = self.atom(value.value, env)
                return env.reach(frozenset().union(*(env.contents.get(o, ()) for o in owner)))
            return self.reach([value.value], env)
        if isinstance(value, (gast.Tuple, gast.List, gast.Set, gast.Dict)):
            parts = [*value.keys, *value.values] if isinstance(value, gast.Dict) else value.elts
            stored = self.reach(parts, env)
            made = self.fresh(stmt, env)
            held = [self.atom(part, env) for part in parts if part is not None]
            if sum(len(h) for h in held) > len(frozenset().union(*held)):
                self.duplicated |= made  # one object in two slots: [y, y]
            self.store_into(env, made, stored)
            return made
        if isinstance(value, (gast.BinOp, gast.UnaryOp)):
            operands = (
                [value.left, value.right] if isinstance(value, gast.BinOp) else [value.operand]
            )
            stored = frozenset()
            if isinstance(value, gast.BinOp) and self.may_join_sequences(value):
                # list + list, [x] * 3, tuple + tuple: a new container of the same elements
                stored = self.reach(operands, env)
            made = self.fresh(stmt, env)
            if stored and isinstance(value.op, gast.Mult):
                self.duplicated |= made
            self.store_into(env, made, stored)
            return made
        if isinstance(value, gast.Call):
            return self.call(stmt, value, env)
        if isinstance(value, (gast.Compare, gast.JoinedStr)):
            return self.fresh(stmt, env)
        # BoolOp, IfExp and the rest may give back any operand.
        return self.atom(value, env) | self.fresh(stmt, env)

    def chain(self, value: gast.Attribute | gast.Subscript, env: _Env) -> frozenset | None:
        """For ``h.inner`` where ``h`` holds a written parameter's object (or one of its
        chains) and ``h.inner.x`` is assigned: the chain's own object (``h.layers[i]``:
        the one of the items of ``h.layers``)."""
        if not self.chains or not isinstance(value.value, gast.Name):
            return None
        held = self.name(value.value.id, env)
        if len(held) != 1:
            return None
        (owner,) = held
        if not (isinstance(owner, tuple) and owner[0] == "param"):
            return None
        step = value.attr if isinstance(value, gast.Attribute) else "[]"
        spelled = f"{owner[1]}.{step}"
        return frozenset({("param", spelled)}) if spelled in self.chains else None

    # -- calls -------------------------------------------------------------------------------

    def call(self, stmt: gast.stmt, call: gast.Call, env: _Env) -> frozenset:
        """The objects ``call``'s result may be; records what it changes."""
        callee = anno.get(stmt, anno.Key.CALLEE)
        kind = getattr(callee, "kind", "unknown")
        value = getattr(callee, "value", None)
        func = call.func
        method = func.attr if isinstance(func, gast.Attribute) else None
        receiver = getattr(callee, "receiver", None)
        if receiver is None and method is not None and not _module_function(value):
            receiver = func.value  # a method of a global object: log.append(v)
        arguments = [a.value if isinstance(a, gast.Starred) else a for a in call.args]
        arguments += [k.value for k in call.keywords]
        out = [k.value for k in call.keywords if k.arg == "out"]
        spelled = _spelling(call)
        if kind == "append":
            changed = self.atom(func.value, env)
            self.store_into(env, changed, self.reach(call.args, env))
            self.record(stmt, changed, func.value.id, "append", call.args, env)
            return frozenset()
        if out:
            self.record(stmt, self.reach(out, env), None, spelled, arguments, env)
            return self.atom(out[0], env)
        if _writes_first(value):
            first = [receiver] if receiver is not None else call.args[:1]
            self.record(stmt, self.reach(first, env), None, spelled, arguments, env)
            return frozenset()
        if kind in ("rule", "nondiff"):
            operands = [receiver, *call.args] if receiver is not None else list(call.args)
            if is_hashable(value) and value in _PASS_THROUGH:
                return self.reach(operands, env)
            no_copy = any(  # np.array(x, copy=False), x.astype(t, copy=False): x itself
                k.arg == "copy" and not (isinstance(k.value, gast.Constant) and k.value.value)
                for k in call.keywords
            )
            views = (is_hashable(value) and value in _VIEW_FUNCTIONS) or method in _VIEW_METHODS
            if views or no_copy:
                return self.atom(operands[0], env) if operands else frozenset()
            if value is np.einsum and (viewed := _einsum_viewed(call)) is not None:
                return self.atom(viewed, env) | self.fresh(stmt, env)
            return self.fresh(stmt, env)
        if kind == "field_store":  # obj.attr = v: obj changed in place, now holding v
            owner = call.args[0]
            changed = self.atom(owner, env)
            put_back = self.chain(
                gast.Attribute(value=owner, attr=call.args[1].value, ctx=gast.Load()), env
            )
            if put_back is None or self.atom(call.args[2], env) != put_back:
                self.store_into(env, changed, self.reach(call.args[2:], env))
            # (else h = set_field(h, 'inner', h_inner) puts back the object it held)
            self.record(stmt, changed, owner.id, "attribute assignment", call.args[2:], env)
            return changed
        if kind == "build":  # make_object(Layer, attributes): a new object holding them
            made = self.fresh(stmt, env)
            self.store_into(env, made, self.reach(arguments, env))
            return made
        if kind == "user" and value is not None and not _library_function(value):
            return self.user_call(stmt, call, value, env)
        if value is not None and _bound_call(value):
            return self.user_call(stmt, call, value, env)  # (it runs on the tape)
        return self.opaque_call(stmt, call, value, receiver, arguments, kind, env)

    def rebinding_of(self, value: Any, receiver: gast.expr | None) -> str | None:
        """Why a call of ``value`` (None: a method of ``receiver`` not known) may rebind a
        module's global name: a class's every method counts, as its objects' may be called
        later, and so does the class of a receiver whose class is known."""
        if value is not None:
            return global_writes.rebinding(value)
        if not isinstance(receiver, gast.Name):
            return None
        kind = self.ctx.object_kinds.get(receiver.id, ())
        if kind[:1] == ("object",) and isinstance(kind[1], type):
            return global_writes.rebinding(kind[1])
        if receiver.id in self.ctx.local_names:
            return None
        cell = self.ctx.parsed.cells.get(receiver.id)
        try:
            held = cell.cell_contents if cell is not None else self.ctx.parsed.globals[receiver.id]
        except (KeyError, ValueError):
            return None
        return None if isinstance(held, types.ModuleType) else global_writes.rebinding(type(held))

    def opaque_call(self, stmt, call, value, receiver, arguments, kind, env) -> frozenset:
        """A call the transform cannot see into: a class, an object's method, a function
        of another library."""
        method = call.func.attr if isinstance(call.func, gast.Attribute) else None
        spelled = _spelling(call)
        why = self.rebinding_of(value, receiver)
        if why is not None:
            self.rebinding_calls.append((stmt, spelled, why))
        made = self.fresh(stmt, env)
        if value is builtins.super:
            return self.reach(arguments, env) | made  # a view of self's class dict: no change
        if receiver is not None and method in _PURE_METHODS:
            return self.reach([receiver], env) | made
        if receiver is not None and method in _MUTATING_METHODS and self.is_builtin(receiver):
            # A list's, dict's or array's own method: it changes the receiver alone.
            receiver_objects = self.atom(receiver, env)
            if method in _STORING_METHODS:
                self.store_into(env, receiver_objects, self.reach(arguments, env))
            self.record(stmt, env.reach(receiver_objects), None, spelled, arguments, env)
            return env.reach(receiver_objects) | made
        if is_hashable(value) and value in _COPYING:
            self.store_into(env, made, self.reach(arguments, env))
            return made
        if is_hashable(value) and value in _ITERATORS:
            return self.reach(arguments, env) | made  # (may give back what it got)
        first = [receiver] if receiver is not None else call.args[:1]
        keeps_memory = is_hashable(value) and value in _VIEW_FUNCTIONS
        if first and (keeps_memory or any(k.arg == "copy" for k in call.keywords)):
            return self.atom(first[0], env) | made  # may be a view of it, or it
        if value is not None and _library_function(value):
            builtin = getattr(value, "__module__", None) == "builtins"
            if builtin and not (is_hashable(value) and value in _SCALAR_BUILTINS):
                # next(iter(xs)), getattr(y, "T"), vars(...): may give back what they got
                return self.reach([receiver, *arguments], env) | made
            return made  # leaves its arguments alone and returns a new value
        everything = self.reach([receiver, *arguments], env)
        on_tape = kind == "fallback"
        # The tape gets the call's differentiated arguments as tensors that require a
        # gradient (see _unhandled_problem); the object it calls is left to the call.
        changed = self.reach(arguments, env) if on_tape else everything
        self.record(stmt, changed, None, spelled, arguments, env, on_tape=on_tape, unknown=True)
        self.store_into(env, made, everything)
        return everything | made  # it may return any of them, or a view of one

    def user_call(self, stmt: gast.stmt, call: gast.Call, function: Any, env: _Env) -> frozenset:
        why = global_writes.rebinding(function)
        if why is not None:
            self.rebinding_calls.append((stmt, _spelling(call), why))
        summary_ = summary(function)
        bound = _bind(call, summary_.parameters)
        kinds = self.ctx.object_kinds
        objects = {
            n: kinds[a.id]
            for n, a in bound
            if isinstance(a, gast.Name) and kinds.get(a.id, ("",))[0] == "object"
        }
        if objects and isinstance(function, types.FunctionType):
            # what a method does, its own method calls resolved (issue 17)
            summary_ = summary(function, objects)
        # (a function read only for what it may change, that changes nothing: its
        # arguments bound to *args are left alone too)
        leaves_alone = not (summary_.readable or summary_.mutates or summary_.mutates_external)
        mutated = [
            node
            for name, node in bound
            if not leaves_alone and (name is None or name in summary_.mutates)
        ]
        returned = [node for name, node in bound if name is None or name in summary_.returns]
        changed = self.reach(mutated, env)
        if summary_.mutates_external:
            changed |= {EXTERNAL}
        arguments = [node for _, node in bound]
        # A function the analysis cannot read cannot be transformed: it runs on the tape.
        on_tape = not summary_.readable
        unknown = summary_.mutates_external and not summary_.readable
        self.record(
            stmt, changed, None, _spelling(call), arguments, env, on_tape=on_tape, unknown=unknown
        )
        # ``p op= v`` in the callee: Python changes the caller's array, the derivative
        # rebinds; the same when nothing live afterwards can see the argument's object.
        for name, node in bound:
            if name in summary_.rebinds:
                rebound = self.atom(node, env)
                self.record(stmt, rebound, "", "augmented", [node], env)
        result = self.reach(returned, env) | self.fresh(stmt, env)
        if summary_.returns_external:
            result |= {EXTERNAL}
        return result

    # -- effects -------------------------------------------------------------------------------

    def record(
        self, stmt: gast.stmt, objects: frozenset, target: str | None, what: str,
        flowing: list, env: _Env, *, on_tape: bool = False, unknown: bool = False,
    ) -> None:  # fmt: skip
        if not objects:
            return
        before = self.seen.get(id(stmt))
        self.seen[id(stmt)] = env.copy() if before is None else before.join(env)
        inputs: dict[str, frozenset] = {}
        for node in flowing:
            if node is not None:
                for name in dataflow.reads(node):
                    inputs[name] = inputs.get(name, frozenset()) | env.reach(self.name(name, env))
        key = (id(stmt), target)
        previous = self.effects.get(key)
        if previous is not None:
            objects = objects | previous.objects
            for name, held in previous.inputs.items():
                inputs[name] = inputs.get(name, frozenset()) | held
        self.effects[key] = _Effect(stmt, objects, target, what, inputs, on_tape, unknown)

    def objects_of(self, name: str) -> frozenset:
        """Every object ``name`` may hold anywhere in the function, without recency."""
        held = self.ever.names.get(name)
        if held is None:
            held = self.params.get(name)
        if held is None:
            held = frozenset() if name in self.ctx.local_names else self.outside(name)
        return self.ever.reach(map(_site, held))


def _methods_taken(stmt: gast.stmt, ctx: TransformContext) -> list[tuple[gast.expr, str]]:
    """(receiver, spelling) of each method in ``stmt`` that changes its object
    (``_MUTATING_METHODS``, ``__setitem__`` and the like) read other than to be called
    right there, and of each ``getattr`` of an object whose name is not written in the
    code or is such a method's."""
    nodes = walk(stmt)
    called = {id(n.func) for n in nodes if type(n) is gast.Call}
    found = []
    for node in nodes:
        if type(node) is gast.Attribute:
            if id(node) in called or not (
                node.attr in _MUTATING_METHODS or _changes_its_object(node.attr)
            ):
                continue
            if not _of_a_module(node.value, ctx):  # (np.sort: a module's function)
                found.append((node.value, f"{_spelled(node.value)}.{node.attr}"))
        elif (
            isinstance(node, gast.Call)
            and isinstance(node.func, gast.Name)
            and node.func.id == "getattr"
            and "getattr" not in ctx.local_names
            and ctx.parsed.globals.get("getattr", getattr) is getattr
            and len(node.args) >= 2
        ):
            name = node.args[1]
            written = isinstance(name, gast.Constant) and isinstance(name.value, str)
            if not written or name.value in _MUTATING_METHODS or _changes_its_object(name.value):
                found.append((node.args[0], f"getattr({_spelled(node.args[0])}, ...)"))
    return found


def _of_a_module(node: gast.expr, ctx: TransformContext) -> bool:
    """Whether ``node`` is a global name of a module, or an attribute of one."""
    while isinstance(node, gast.Attribute):
        node = node.value
    if not isinstance(node, gast.Name) or node.id in ctx.local_names:
        return False
    return isinstance(ctx.parsed.globals.get(node.id), types.ModuleType)


def _changes_its_object(attr: str) -> bool:
    """A special method that changes its object: in-place operators and stores."""
    if not (attr.startswith("__") and attr.endswith("__")):
        return False
    return attr.startswith("__i") and attr not in _READING_DUNDERS or attr in _STORING_DUNDERS


_READING_DUNDERS = {
    "__init__",
    "__index__",
    "__int__",
    "__invert__",
    "__iter__",
    "__init_subclass__",
}
_STORING_DUNDERS = {"__setitem__", "__delitem__", "__setattr__", "__delattr__", "__setstate__"}


def _spelled(node: gast.expr) -> str:
    return node.id if isinstance(node, gast.Name) else "..."


def _einsum_viewed(call: gast.Call) -> gast.expr | None:
    """The operand an ``np.einsum`` call may give a view of, or None: NumPy returns a
    writable view of a single operand where nothing is summed (``'ii->i'``, its diagonal;
    ``'ij->ji'``; ``'i->i'``, the operand itself)."""
    args = call.args
    if args and isinstance(args[0], gast.Constant) and isinstance(args[0].value, str):
        if len(args) != 2:
            return None
        inputs, arrow, output = args[0].value.replace(" ", "").partition("->")
        if not arrow:  # (implicit: the indices that appear once, in order)
            output = "".join(sorted(c for c in set(inputs) if inputs.count(c) == 1))
        summed = set(inputs.replace(".", "")) - set(output.replace(".", ""))
        return None if summed else args[1]
    if any(isinstance(a, gast.Starred) for a in args):
        return None
    # interleaved (operand, sublist, ..., output): a view only of a lone operand
    return args[0] if len(args) in (2, 3) else None


def _bind(call: gast.Call, parameters: tuple[str, ...]) -> list[tuple[str | None, gast.expr]]:
    """The call's arguments with the parameter each binds to (None where it cannot be
    told: a starred argument, ``**kwargs``, more arguments than parameters)."""
    bound: list[tuple[str | None, gast.expr]] = []
    starred = False
    for position, argument in enumerate(call.args):
        if isinstance(argument, gast.Starred):
            starred = True
            bound.append((None, argument.value))
        elif not starred and position < len(parameters):
            bound.append((parameters[position], argument))
        else:
            bound.append((None, argument))
    for keyword in call.keywords:
        bound.append((keyword.arg if keyword.arg in parameters else None, keyword.value))
    return bound


def _spelling(call: gast.Call) -> str:
    func = call.func
    parts = []
    while isinstance(func, gast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, gast.Name):
        parts.append(func.id)
    return ".".join(reversed(parts)) + "(...)" if parts else "a call"


# -- the check -----------------------------------------------------------------------------


def check(node: gast.FunctionDef, ctx: TransformContext, varied: set[str]) -> None:
    """Raise :class:`TransformError` at the first in-place change in ``node`` whose
    gradient the generated code could get wrong. ``varied`` are the names that may carry
    a gradient (``analyze``)."""
    params = {}
    written = written_parameters(dataflow.statements(node.body), ctx)
    # (particles[i].x = v: a list argument whose items' attributes it assigns)
    written |= set(nested_roots(ctx).values()) & set(ctx.parsed.params)
    for name in ctx.parsed.params:
        immutable = ctx.param_kinds.get(name, ())[1:2] in (("float",), ("int",))
        params[name] = frozenset() if immutable else frozenset({EXTERNAL})
        if name in written:  # (its own object, holding the caller's: issue 17)
            params[name] = frozenset({("param", name)})
    lists = {s for s in element_owners(ctx).values() if s in ctx.parsed.params}
    for name in lists:  # (its own object, holding its items': issue 17)
        params[name] = frozenset({("param", name)})
    interpreter = _Interpreter(ctx, params)
    interpreter.written = frozenset(written)
    interpreter.lists = frozenset(lists)
    interpreter.chains = frozenset(
        ".".join((name, *path)) for name in written for path in written_paths(name, ctx)
    )
    # the names holding those objects (normalize.nested_store's)
    chained = {name for name, root in nested_roots(ctx).items() if root in written}
    chained |= {name for name, sequence in element_owners(ctx).items() if sequence in lists}
    interpreter.run(node.body)
    ctx.scalar_names = frozenset(interpreter.scalars)
    changed = {_site(obj) for effect in interpreter.effects.values() for obj in effect.objects}
    ctx.unchanged_params = frozenset(
        name
        for name in params
        if name not in written and not interpreter.objects_of(name) & changed
    )
    for stmt, spelled, why in interpreter.rebinding_calls[:1]:
        raise TransformError(
            f"`{spelled}` {why}, while the function runs: the gradient reads globals again "
            "in its backward pass, and calls the derivatives of the functions globals held "
            "when it was made, so it would not compute what Python computes",
            origin_of(stmt),
            _GLOBAL_ADVICE,
        )
    if not interpreter.effects:
        return
    live = dataflow.live_after_each(node.body)
    order = _program_order(node.body)
    active_readers = [
        (stmt, dataflow.reads(stmt))
        for stmt in dataflow.statements(node.body)
        if anno.get(stmt, anno.Key.ACTIVE)
    ]
    guarded: list[_Effect] = []
    for effect in sorted(interpreter.effects.values(), key=_line):
        if effect.target is not None:
            seen = interpreter.seen.get(id(effect.stmt), _Env())
            later = live.get(id(effect.stmt), set())
            if effect.target in chained:  # (p of ps: ps[index] = p puts it back next)
                later = later - {element_owners(ctx).get(effect.target)}
            problem, needs_guard = _handled_problem(
                effect, seen, later, set(ctx.parsed.params) | chained
            )
            if needs_guard and effect.target in ctx.parsed.params:
                guarded.append(effect)
            elif needs_guard and effect.target in chained:
                pass  # (h.inner.x = v: its root's check covers the chain, paths=...)
            elif needs_guard:
                shown = f"`{effect.target}`" if effect.target else "an argument of the call"
                problem = (
                    f"this changes {shown} in place (`op=`), and it may be an argument "
                    "that another argument or global read later shares memory with"
                )
        else:
            # The backward passes of statements that ran before the change (or may run
            # again after it, in a loop) read the changed memory; later ones read it as
            # Python does. The call's own backward pass is the tape's, or is checked when
            # its function is transformed.
            relevant = set(varied)
            if effect.on_tape:
                relevant -= dataflow.bound_names(
                    effect.stmt
                )  # the tape's pullback covers its result
            for reader, names in active_readers:
                if reader is not effect.stmt and _may_run_before(reader, effect.stmt, order):
                    relevant |= names
            problem = _unhandled_problem(effect, interpreter, relevant, varied)
        if problem:
            raise TransformError(problem, origin_of(effect.stmt), _ADVICE)
    _add_guards(node, ctx, guarded, interpreter)


def _add_guards(
    node: gast.FunctionDef, ctx: TransformContext, guarded: list[_Effect], interpreter
) -> None:
    """Check at run time, first thing, that each parameter rebound by ``p op= v`` shares
    memory with no other argument or global the function reads."""
    from ..runtime.aliasing import unshared_arguments
    from ..runtime.objects import unshared_object

    if not guarded:
        return
    helper = ctx.bind_free("unshared_arguments", unshared_arguments)
    reads = dataflow.reads(node)
    params = [p for p in ctx.parsed.params if interpreter.params.get(p)]
    outside = sorted(n for n in reads - ctx.local_names if interpreter.outside(n) and n != helper)
    checks = []
    for param in dict.fromkeys(effect.target for effect in guarded):
        others = [p for p in params if p != param] + outside
        objects = any(e.what == "attribute assignment" for e in guarded if e.target == param)
        if not others and not objects:
            continue
        names = gast.Tuple(elts=[gast.Constant(n, None) for n in [param, *others]], ctx=gast.Load())
        # an object whose attributes it assigns: no other argument or global reaches it
        check = ctx.bind_free("unshared_object", unshared_object) if objects else helper
        call = build.call(check, names, *map(build.load, [param, *others]))
        paths = written_paths(param, ctx) if objects else ()
        if paths:  # h.inner.x = v: nothing else reaches h.inner either (issue 17)
            chains = [
                gast.Tuple(elts=[gast.Constant(a, None) for a in path], ctx=gast.Load())
                for path in paths
            ]
            spelled = gast.Tuple(elts=chains, ctx=gast.Load())
            call.keywords = [gast.keyword(arg="paths", value=spelled)]
        if objects and param in element_owners(ctx).values():  # for p in ps: p.step(dt)
            call.keywords.append(gast.keyword(arg="items", value=gast.Constant(True, None)))
        check_stmt = gast.Expr(value=call)
        origin = origin_of(next(e.stmt for e in guarded if e.target == param))
        for sub in gast.walk(check_stmt):
            anno.set(sub, anno.Key.ORIGIN, origin)
        anno.set(check_stmt, anno.Key.CALLEE, _GUARD)
        anno.set(check_stmt, anno.Key.ACTIVE, False)
        checks.append(check_stmt)
    node.body[:0] = checks


def _program_order(body: list[gast.stmt]) -> dict[int, tuple[int, int, int]]:
    """Each statement's position in the source, and the positions its outermost
    enclosing loop spans (its own position twice outside loops)."""
    order: dict[int, tuple[int, int, int]] = {}
    counter = 0

    def visit(stmts: list[gast.stmt], loop: tuple[int, int] | None) -> None:
        nonlocal counter
        for stmt in stmts:
            counter += 1
            here = counter
            is_loop = isinstance(stmt, (gast.For, gast.While)) and loop is None
            inner_loop = (here, -1) if is_loop else loop
            for field_name in ("body", "orelse"):
                visit(getattr(stmt, field_name, None) or [], inner_loop)
            if is_loop:
                span = (here, counter)
                for key, (position, first, last) in list(order.items()):
                    if first == here and last == -1:
                        order[key] = (position, *span)
                order[id(stmt)] = (here, *span)
            else:
                order[id(stmt)] = (here, *(loop if loop is not None else (here, here)))

    visit(body, None)
    return order


def _may_run_before(reader: gast.stmt, effect: gast.stmt, order: dict) -> bool:
    position, first, last = order[id(effect)]
    reader_position = order[id(reader)][0]
    return reader_position < position or first <= reader_position <= last


def _line(effect: _Effect) -> int:
    origin = origin_of(effect.stmt)
    return origin.line if origin is not None else 0


def _handled_problem(
    effect: _Effect, seen: _Env, live: set[str], params: set[str]
) -> tuple[str | None, bool]:
    """Why a change the transform differentiates (``y[i] = v``, ``lst.append(v)``,
    ``y op= v``) could differ from Python's (None when no other live name sees it), and
    whether that holds only if the arguments do not share memory (checked at run time)."""
    changed, target = effect.objects, effect.target
    shown = f"`{target}`" if target else "an argument of the call (with `op=`)"
    if _DUPLICATE in changed:
        return (
            f"this changes an element of `{target}` in place (`op=`), and the same object "
            f"may sit in another slot of `{target}`; the generated gradient follows "
            "names, not memory"
        ), False
    outside = any(map(_is_outside, changed))
    # obj.attr = v on a parameter rebinds a slot of the caller's object, as Python does;
    # right while no other argument or global reaches that object (checked at run time)
    attribute = effect.what == "attribute assignment" and target in params
    # (``p op= v`` on a parameter is checked at run time, first thing, to share memory with
    # no other argument; a local name holding an argument's array, an item unpacked from a
    # list argument, cannot be checked there)
    guarded = effect.what == "augmented" and target in params
    if outside and not guarded and not attribute:
        return (
            f"this changes {shown} in place, and `{target}` may be an argument or a "
            "global: the caller's array would change too, and another argument or global "
            "may be the same array"
        ), False
    needs_guard = False
    for name in sorted(live - {target}):
        held = seen.reach(seen.names.get(name, ()))
        # A local alias of an argument may be an alias of the argument being changed.
        if held & changed - {EXTERNAL} or (
            EXTERNAL in changed and EXTERNAL in held and name not in params
        ):
            return (
                f"this changes {shown} in place, and `{name}`, read later, may share its "
                "memory (an alias, a view, an argument or a container holding it); the "
                "generated gradient follows names, not memory"
            ), False
        if outside and any(map(_is_outside, held)):
            # Another argument or global: the same array only if the caller made it so.
            needs_guard = True
    return None, needs_guard or attribute


def _unhandled_problem(
    effect: _Effect, interpreter: _Interpreter, relevant: set[str], varied: set[str]
) -> str | None:
    """Why an in-place change the transform does not differentiate (a call's) could
    matter to the gradient, or None when nothing differentiated goes in or is changed."""
    changed = effect.objects
    # (A call whose statement has no derivative is not sent to the tape: generated code
    # calls it plainly, on arrays it may change as any call may.)
    if effect.on_tape and anno.get(effect.stmt, anno.Key.ACTIVE):
        carried = effect.inputs.keys() & varied
        changing = frozenset(map(_site, changed))
        for name in sorted(carried if not effect.unknown else ()):
            if interpreter.objects_of(name) & changing:
                # The tape takes a change of a differentiated argument on a copy of its
                # own (inplace.detach_argument), as a function run on the tape does: the
                # caller's array, which Python changes, would be left as it was.
                return (
                    f"`{effect.what}` runs on the tape and may change `{name}` in place, "
                    "which carries a gradient; the tape changes a copy, where Python "
                    "changes the caller's array"
                )
        changed = frozenset()
        for name, held in effect.inputs.items():
            if name not in varied and carried and name in interpreter.ctx.object_kinds:
                # An object of the user's changed by a call on the tape may be given values
                # carrying a gradient (acc.add(x * x) sets acc.total): generated code would
                # read them without following that gradient.
                return (
                    f"`{effect.what}` runs on the tape and may write values that carry a "
                    f"gradient into the attributes of `{name}`, which generated code would "
                    "not follow"
                )
            if name not in varied:
                changed |= held
            elif interpreter.ctx.kinds.get(name, ("unknown",))[0] in ("object", "unknown"):
                # But an object (or what may be one) reaches it as a copy holding tensors,
                # whose attributes a call may rebind: the caller's object would not change.
                return (
                    f"`{effect.what}` may change the attributes of `{name}`, an object that "
                    "carries a gradient; the transform does not differentiate changes made "
                    "by calls"
                )
    elif effect.inputs.keys() & varied:
        name = sorted(effect.inputs.keys() & varied)[0]
        return (
            f"`{effect.what}` changes an object in place with `{name}`, which carries a "
            "gradient; the transform does not differentiate in-place changes made by calls"
        )
    changed = frozenset(map(_site, changed))
    for name in sorted(relevant):
        if interpreter.objects_of(name) & changed:
            return (
                f"`{effect.what}` may change `{name}` in place, which the gradient reads; "
                "the transform does not differentiate in-place changes made by calls"
            )
    return None


# -- summaries of user functions ---------------------------------------------------------

_summaries: weakref.WeakKeyDictionary[Callable, tuple] = weakref.WeakKeyDictionary()
_summarizing: set[int] = set()
#: the functions being summarized that were met again (recursion), by id
_recursive: set[int] = set()
#: function id -> what its calls are taken to do while it is being summarized: a
#: recursive function's summary is the least fixed point of summarizing it under an
#: assumption about its own calls, starting from "nothing" (see ``_fixed_point``)
_assumed: dict[int, Summary] = {}
#: per summary being made (a stack): the ids whose assumption it read; a summary made
#: under the assumption of a function still being summarized may change, and is not cached
_assumptions_read: list[set[int]] = [set()]
#: rounds after which a recursive function that has not settled is taken to do anything
#: (each round grows one of the summary's finite sets, so few are ever needed)
_MOST_ROUNDS = 12


def summary(function: Callable, param_kinds: dict | None = None) -> Summary:
    """What calling ``function`` (a user function) does to its arguments; with
    ``param_kinds``, when those arguments hold objects of those classes (not cached)."""
    if not isinstance(function, types.FunctionType) and _bound_call(function):
        return _bound_summary(function)
    if param_kinds:
        if id(function) in _summarizing:
            return _ANYTHING
        _summarizing.add(id(function))
        try:
            return _summarize(function, param_kinds)
        except TransformError:
            return _read_only_summary(function)
        finally:
            _summarizing.discard(id(function))
    try:
        cached = _summaries.get(function)
    except TypeError:
        return _ANYTHING
    code = getattr(function, "__code__", None)
    if cached is not None and cached[0] is code:
        return cached[1]
    if id(function) in _summarizing:
        # Recursion: its calls do what it is assumed to do in this round.
        _recursive.add(id(function))
        _assumptions_read[-1].add(id(function))
        return _assumed.get(id(function), _ANYTHING)
    _assumptions_read.append(set())
    try:
        found = _fixed_point(function)
    finally:
        read = _assumptions_read.pop() - {id(function)}
        _assumptions_read[-1].update(read)
    if not read:
        try:
            _summaries[function] = (code, found)
        except TypeError:
            pass
    return found


def _fixed_point(function: Callable) -> Summary:
    """``function``'s summary; for a recursive one, summarized again with its own calls
    taken to do what the last round found, until a round finds what it assumed (its
    calls then do what it does). Each round's assumption joins the ones before, so the
    rounds only grow."""
    key = id(function)
    _summarizing.add(key)
    _assumed[key] = Summary(parameters=_parameters_of(function))
    try:
        for _ in range(_MOST_ROUNDS):
            assumed = _assumed[key]
            _recursive.discard(key)
            try:
                found = _summarize(function)
            except TransformError:
                found = _read_only_summary(function)
            if key not in _recursive or found == assumed:
                return found
            _assumed[key] = _join(assumed, found)
        return _ANYTHING
    finally:
        _summarizing.discard(key)
        _recursive.discard(key)
        del _assumed[key]


def _bound_summary(function: Any) -> Summary:
    """What calling a function with some arguments fixed does: ``functools.partial(g,
    *fixed, **named)``, a bound method (``obj.m``: ``self`` fixed) or an object of a
    class of yours with ``__call__`` (its bound ``__call__``). What the function does, to
    the arguments the call gives for the parameters left; changing (or returning) one of
    the fixed values changes (or returns) an object the caller does not name. Such a
    call is not transformed but run on the tape, where ``p op= v`` changes the caller's
    array as Python does (so it counts as a change, not a rebinding)."""
    inner_function, count, keywords = _bound_parts(function)
    inner = summary(inner_function)
    if not inner.readable and inner.mutates_external and not inner.parameters:
        return _ANYTHING
    fixed = set(inner.parameters[:count])
    named = fixed | set(keywords)
    changed = inner.mutates | inner.rebinds
    return Summary(
        parameters=inner.parameters[count:],
        mutates=frozenset(changed - fixed),
        mutates_external=inner.mutates_external or bool(changed & named),
        returns=frozenset(inner.returns - fixed),
        returns_external=inner.returns_external or bool(inner.returns & named),
        readable=False,
    )


def _bound_parts(function: Any) -> tuple[Any, int, tuple]:
    """``(g, positional arguments fixed, keywords fixed)`` of a partial, a bound method or
    a callable object (see ``_bound_summary``)."""
    if isinstance(function, functools.partial):
        return function.func, len(function.args), tuple(function.keywords or ())
    if isinstance(function, types.MethodType):
        return function.__func__, 1, ()
    return type(function).__call__, 1, ()


def _bound_call(value: Any) -> bool:
    """Whether ``value`` is a partial, a bound method or a callable object whose function
    is one of yours (a Python function outside the libraries): ``_bound_summary``."""
    if isinstance(value, functools.partial):
        inner = _unwrapped(value)
    elif isinstance(value, types.MethodType):
        inner = value.__func__
    elif isinstance(value, (type, types.FunctionType, types.BuiltinFunctionType, np.ufunc)):
        return False
    else:
        # (the class's own __call__, looked up as Python does for a call)
        inner = next(
            (k.__dict__["__call__"] for k in type(value).__mro__ if "__call__" in k.__dict__), None
        )
    return isinstance(inner, types.FunctionType) and not _library_function(inner)


def _unwrapped(function: functools.partial) -> Any:
    """The function under (nested) ``functools.partial``s."""
    while isinstance(function, functools.partial):
        function = function.func
    return function


def _join(one: Summary, other: Summary) -> Summary:
    """What either of two summaries of one function may do."""
    mutates = one.mutates | other.mutates
    return Summary(
        parameters=one.parameters,
        mutates=mutates,
        rebinds=(one.rebinds | other.rebinds) - mutates,
        mutates_external=one.mutates_external or other.mutates_external,
        returns=one.returns | other.returns,
        returns_external=one.returns_external or other.returns_external,
        readable=one.readable and other.readable,
    )


def _parameters_of(function: Callable) -> tuple[str, ...]:
    """``function``'s named parameters, positional ones first (as ``Summary`` has them)."""
    code = getattr(function, "__code__", None)
    if code is None:
        return ()
    return code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]


def _read_only_summary(function: Callable) -> Summary:
    """For a function the transform cannot lower (``try``, ``match``, ...), which then
    runs on the tape: it leaves its arguments and globals alone when nothing in its text
    could change an object (no item or attribute store, no ``op=``, ``global``, ``del``,
    mutating method, ``out=``, or call of anything but pure library functions and user
    functions that change nothing); else it may do anything."""
    from .parsing import parse_function

    try:
        parsed = parse_function(function)
    except TransformError:
        return _ANYTHING
    args = parsed.node.args
    parameters = tuple(a.id for a in [*args.posonlyargs, *args.args, *args.kwonlyargs])
    # (``*values``: what ``values[0][1] = v`` changes is an argument bound to it, which
    # a call binds to no named parameter, and user_call counts those as changed)
    packed = {a.id for a in (args.vararg, args.kwarg) if a is not None}
    mutated: set[str] = set()
    for node in gast.walk(parsed.node):
        if _may_change_something(node, parsed):
            # (``buf += a``, ``buf[i] = v``, ``buf.fill(v)`` on a parameter: that one;
            # anything else, through another name or a global: anything)
            root = _changed_root(node)
            if root not in parameters and root not in packed:
                return _ANYTHING
            mutated.add(root)
    return Summary(
        parameters=parameters,
        mutates=frozenset(mutated),
        returns=frozenset(parameters),
        returns_external=True,
        readable=False,
    )


def _changed_root(node: gast.AST) -> str | None:
    """The name whose object a change ``node`` makes is reached from, where it is spelled
    out (``buf`` of ``buf += v``, ``buf[i].x = v``, ``buf.sort()``), else None."""
    if isinstance(node, gast.AugAssign):
        target = node.target
    elif isinstance(node, (gast.Subscript, gast.Attribute)):
        target = node.value
    elif isinstance(node, gast.Call) and isinstance(node.func, gast.Attribute):
        if any(k.arg == "out" or k.arg is None for k in node.keywords):
            return None
        target = node.func.value
    else:
        return None
    while isinstance(target, (gast.Subscript, gast.Attribute)):
        target = target.value
    return target.id if isinstance(target, gast.Name) else None


def _may_change_something(node: gast.AST, parsed: Any) -> bool:
    if isinstance(node, (gast.AugAssign, gast.Global, gast.Nonlocal, gast.Delete)):
        return True
    if isinstance(node, (gast.Subscript, gast.Attribute)) and isinstance(
        node.ctx, (gast.Store, gast.Del)
    ):
        return True
    if not isinstance(node, gast.Call):
        return False
    if any(k.arg == "out" or k.arg is None for k in node.keywords):
        return True
    func = node.func
    if isinstance(func, gast.Attribute) and func.attr in _MUTATING_METHODS:
        return True
    value = _resolved(func, parsed)
    if value is None or _writes_first(value):
        return True
    if _library_function(value):
        return False
    if is_hashable(value) and value in _COPYING | _PASS_THROUGH or value in _SCALAR_BUILTINS:
        return False
    if isinstance(value, types.FunctionType) or _bound_call(value):
        found = summary(value)
        return bool(found.mutates or found.rebinds or found.mutates_external)
    return not isinstance(value, (types.BuiltinFunctionType, np.ufunc))


def _resolved(func: gast.expr, parsed: Any) -> Any:
    """What a call's function is, through the function's globals and builtins; None when
    it is a local name or cannot be found."""
    if isinstance(func, gast.Name):
        if func.id in parsed.cells:
            try:
                return parsed.cells[func.id].cell_contents
            except ValueError:
                return None
        local = {n.id for n in gast.walk(parsed.node) if isinstance(n, gast.Name)
                 and isinstance(n.ctx, (gast.Store, gast.Param))}  # fmt: skip
        if func.id in local:
            return None
        if func.id in parsed.globals:
            return parsed.globals[func.id]
        return getattr(builtins, func.id, None)
    if isinstance(func, gast.Attribute):
        owner = _resolved(func.value, parsed)
        if owner is None or not isinstance(owner, types.ModuleType):
            return None
        return getattr(owner, func.attr, None)
    return None


def _summarize(function: Callable, param_kinds: dict | None = None) -> Summary:
    from . import analyze, desugar, normalize
    from .context import local_names_of
    from .naming import Namer
    from .parsing import parse_function

    parsed = parse_function(function)
    node = parsed.node
    args = node.args
    if args.vararg is not None or args.kwarg is not None:
        # (not transformed: read for what it may change, as a function with ``try`` is)
        return _read_only_summary(function)
    parameters = tuple(a.id for a in [*args.posonlyargs, *args.args, *args.kwonlyargs])
    namer = Namer()
    namer.reserve_tree(node)
    ctx = TransformContext(
        parsed=parsed, wrt=(), namer=namer, local_names=local_names_of(node),
        param_kinds=param_kinds or {},
    )  # fmt: skip
    node = normalize.transform(desugar.transform(node, ctx), ctx)
    analyze.annotate(node, ctx)
    interpreter = _Interpreter(ctx, {name: frozenset({("param", name)}) for name in parameters})
    interpreter.run(node.body)
    # Every effect counts here, handled or not: ``y op= v`` on a parameter changes the
    # caller's array (or list) in place.
    mutated: frozenset = frozenset()
    rebound: set[str] = set()
    for effect in interpreter.effects.values():
        if effect.what == "augmented" and effect.objects == {("param", effect.target)}:
            rebound.add(effect.target)
        else:
            mutated |= effect.objects
    mutated = frozenset(map(_site, mutated))
    returned = interpreter.ever.reach(map(_site, interpreter.returned))
    return Summary(
        parameters=parameters,
        mutates=frozenset(n for n in parameters if ("param", n) in mutated),
        rebinds=frozenset(n for n in rebound if ("param", n) not in mutated),
        mutates_external=any(o == EXTERNAL or o[0] == "global" for o in mutated if o),
        returns=frozenset(n for n in parameters if ("param", n) in returned),
        returns_external=any(o == EXTERNAL or o[0] == "global" for o in returned if o),
    )

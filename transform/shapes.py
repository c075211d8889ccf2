"""Which names surely have the same shape: the facts that let the generated gradient skip
``unbroadcast`` where broadcasting cannot have happened.

Each name gets a *shape class*. Two names in one class have the same shape whenever both
are bound; ``SCALAR`` is the class of shape ``()`` (Python numbers, NumPy scalars, full
reductions). Elementwise operations keep their operands' class when all operands that
are not scalars share one class; anything else gets a class of its own. A name bound to
values of different classes (``x = x[0]`` in a loop) has no class: each read of it is
unlike every other. The classes are a fixpoint over all bindings, so loops are covered.

The pass changes no code: it fills ``ctx.shape_classes`` for ``inline`` to read, and
annotates each name read at the function's top level with the class of the binding that
reaches it (``annotate_reads``: a name rebound to another shape has no class of its own,
but each of its reads there has one). A generated forward function's tangent parameters
(``f_jvp``'s ``dx``) have their parameters' classes.
"""

from __future__ import annotations

import builtins
from typing import Any

import gast
import numpy as np

from ..runtime.tangents import spread_tangent, tangent_out, writable_tangent
from . import anno, ranks, unit_axes
from .context import TransformContext
from .dataflow import all_names
from .walk import walk

SCALAR = "scalar"
#: the attribute of a generated forward function: {parameter: its tangent's keyword}
TANGENTS_ATTRIBUTE = "__astgrad_tangents__"
#: a name whose bindings disagree: every read of it is a shape class of its own
CONFLICT = "conflict"

# Elementwise primitives that are not ufuncs but broadcast their operands like one.
_ELEMENTWISE = {np.where}
#: the comparisons NumPy makes elementwise (``is`` and ``in`` are not)
_ELEMENTWISE_COMPARISONS = (gast.Lt, gast.LtE, gast.Gt, gast.GtE, gast.Eq, gast.NotEq)
# Reductions whose result, without axis or keepdims, is one number.
_FULL_REDUCTIONS = {np.sum, np.mean, np.max, np.min, np.prod, np.amax, np.amin, np.var, np.std}
# Forward mode's helpers that give a tangent the shape of the value, their second argument.
_LIKE_SECOND = {spread_tangent, tangent_out, writable_tangent}
#: the argument kinds of Python numbers (``api._kind``)
_NUMBER_KINDS = (("float",), ("int",))
_SCALAR_BUILTINS = {builtins.float, builtins.int, builtins.len, builtins.abs, builtins.round}


def transform(node: gast.FunctionDef, ctx: TransformContext) -> gast.FunctionDef:
    ctx.shape_classes = infer(node, ctx)
    if ctx.shape_classes:
        annotate_reads(node.body, ctx.shape_classes, _entry_classes(ctx))
    return node


def _entry_classes(ctx: TransformContext) -> dict[str, Any]:
    """The parameters' classes on entry (before any rebinding)."""
    found = {}
    for param in ctx.parsed.params:
        kind = ctx.param_kinds.get(param, ())
        found[param] = SCALAR if kind[1:2] in _NUMBER_KINDS else ("param", param)
    for param, tangent in tangent_parameters(ctx).items():
        found[tangent] = found[param]
    return found


def annotate_reads(body: list[gast.stmt], classes: dict[str, Any], entry: dict[str, Any]) -> None:
    """Give each name read by a statement of ``body`` (the function's top level, which runs
    once, in order) the class of the binding that reaches it: ``h = np.tanh(h @ W + b)``
    rebinds ``h`` to another shape, so ``h`` has no class of its own, but each of its
    reads does (``class_of`` takes it). A name bound inside a loop or branch is left to
    ``classes`` from there on."""
    reaching = dict(entry)
    for serial, stmt in enumerate(body):
        value = stmt.value if isinstance(stmt, (gast.Assign, gast.Return, gast.Expr)) else None
        if value is None or any(isinstance(n, _SCOPES) for n in walk(value)):
            for bound in walk(stmt):
                if isinstance(bound, gast.Name) and not isinstance(bound.ctx, gast.Load):
                    reaching.pop(bound.id, None)
            continue
        for read in walk(value):
            if isinstance(read, gast.Name) and read.id in reaching:
                anno.set(read, anno.Key.SHAPE_CLASS, reaching[read.id])
        if not isinstance(stmt, gast.Assign):
            continue
        target = stmt.targets[0]
        if len(stmt.targets) == 1 and isinstance(target, gast.Name):
            here = _class_of_value(value, stmt, classes)
            if here == CONFLICT:
                here = classes.get(target.id)
            if here is None or here == CONFLICT:
                here = ("at", target.id, serial)  # one value, of a shape of its own
            reaching[target.id] = here
            continue
        for bound in walk(target):  # (a subscript's or attribute's owner is not rebound)
            if isinstance(bound, gast.Name) and isinstance(bound.ctx, gast.Store):
                reaching.pop(bound.id, None)


# nodes whose names are not the function's own
_SCOPES = (gast.Lambda, gast.ListComp, gast.SetComp, gast.DictComp, gast.GeneratorExp)


def infer(node: gast.FunctionDef, ctx: TransformContext) -> dict[str, Any]:
    """name -> shape class. Classes are structural (``("matmul", A, B)``), so equal
    classes mean equal shapes wherever the names are read, inside loops too."""
    classes: dict[str, Any] = Classes()
    for param in ctx.parsed.params:
        kind = ctx.param_kinds.get(param, ())
        classes[param] = SCALAR if kind[1:2] in _NUMBER_KINDS else ("param", param)
    tangents = tangent_parameters(ctx)
    for param, tangent in tangents.items():
        classes[tangent] = classes[param]
    params = {*ctx.parsed.params, *tangents.values()}
    builtin_range = (
        "range" not in ctx.local_names and ctx.parsed.globals.get("range", range) is range
    )
    bindings = list(_bindings(node.body, in_loop=False, builtin_range=builtin_range))
    classes.ranks = ranks.infer(bindings, ctx)
    classes.unit_axes = unit_axes.infer(bindings, classes.ranks)
    classes.vector_views = unit_axes.vector_views(
        bindings, classes.ranks, ctx.unchanged_params, classes.unit_axes
    )
    # The names each value reads, and the local ones among them, found once for all the
    # rounds.
    value_names = [all_names(value) if value is not None else set() for _, value, _, _ in bindings]
    local_reads = [names & ctx.local_names for names in value_names]
    # Each round finds every name's class from the classes the round before ended with.
    # A name's class can change only when a class it reads changed (or, for a
    # parameter, its own), so a round recomputes just those names: a chain of n
    # statements takes n rounds either way, but n rounds of one name each, not of n.
    serials_of: dict[str, list[int]] = {}
    dependents: dict[str, set[str]] = {}
    for serial, (name, _, _, _) in enumerate(bindings):
        serials_of.setdefault(name, []).append(serial)
        for read in value_names[serial]:
            dependents.setdefault(read, set()).add(name)
    for param in params:
        dependents.setdefault(param, set()).add(param)
    stale = set(serials_of)
    for _ in range(len(bindings) + 2):
        found: dict[str, Any] = {}
        for name in stale:
            for serial in serials_of[name]:
                _, value, stmt, in_loop = bindings[serial]
                if not local_reads[serial] <= classes.keys():
                    continue  # reads a name with no class yet: decide in a later round
                here = _class_of_value(value, stmt, classes)
                if here == CONFLICT and not in_loop:
                    # A statement that runs at most once binds one value, whatever its
                    # shape: a class of its own, which what is computed from it
                    # elementwise shares.
                    here = ("bound", name, serial)
                before = found.get(name, classes.get(name) if name in params else None)
                found[name] = here if before is None or before == here else CONFLICT
        changed = {name: here for name, here in found.items() if classes.get(name, _UNSET) != here}
        if not changed:
            return classes
        classes.update(changed)
        stale = set().union(*(dependents.get(name, ()) for name in changed)) & serials_of.keys()
    return {}  # no fixpoint: know nothing rather than something wrong


_UNSET = object()


def tangent_parameters(ctx: TransformContext) -> dict[str, str]:
    """parameter -> the keyword-only parameter holding its tangent, where the function is a
    generated forward function (``f_jvp``, which reverse mode differentiates for
    ``ag.hvp``): its callers pass each tangent shaped like its parameter (``ag.jvp`` and
    ``ag.hvp`` check it; generated code keeps every tangent its value's shape)."""
    named = getattr(ctx.parsed.function, TANGENTS_ATTRIBUTE, None)
    if not named:
        return {}
    keyword_only = {a.id for a in ctx.parsed.node.args.kwonlyargs}
    return {
        param: tangent
        for param, tangent in named.items()
        if param in ctx.parsed.params and tangent in keyword_only
    }


class Classes(dict):
    """name -> shape class, and in ``ranks`` what ``transform.ranks`` found of names'
    ndims: an element read ``u[i]`` of a vector ``u`` by an int ``i`` is a number
    wherever it is read (``class_of`` gives it ``SCALAR``)."""

    ranks: dict[str, Any] = {}
    #: name -> its axes that surely have size 1 (``transform.unit_axes``)
    unit_axes: dict[str, tuple[bool, ...]] = {}
    #: name -> the unchanged vector it is a column or row of (``unit_axes.vector_views``)
    vector_views: dict[str, str] = {}


def same_shape(atoms: list[gast.expr], classes: dict[str, Any]) -> Any:
    """The shape class all non-scalar ``atoms`` share (SCALAR if all are scalars), or
    None when it is not known."""
    shared = SCALAR
    for atom in atoms:
        here = class_of(atom, classes)
        if here is None:
            return None
        if here == SCALAR:
            continue
        if shared == SCALAR:
            shared = here
        elif shared != here:
            return None
    return shared


def class_of(atom: gast.expr, classes: dict[str, Any]) -> Any:
    """The shape class of one operand, or None when it is not known."""
    if isinstance(atom, gast.Constant):
        value = atom.value
        return SCALAR if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if isinstance(atom, gast.Name):
        # A name every binding of which is a number (``ranks``: ``n = x.shape[0]``, ``r =
        # X[i] @ w - y[i]``) has a number's shape, whatever else its class says.
        found = getattr(classes, "ranks", None)
        if found and ranks.ndim(found.get(atom.id)) == 0:
            return SCALAR
        here = anno.get(atom, anno.Key.SHAPE_CLASS) or classes.get(atom.id)
        return None if here == CONFLICT else here
    if isinstance(atom, gast.Subscript):
        found = getattr(classes, "ranks", None)
        if found and ranks.of(atom, found) == 0:
            return SCALAR
        return _slice_class(atom, classes)
    return None


def _slice_class(atom: gast.Subscript, classes: dict[str, Any]) -> Any:
    """The class of ``x[1:-1, :-2]``: slices with int bounds written in the code (step 1)
    and ints, of a name with a class. Each slice's length is a function of the axis's
    length alone (``[:-2]``, ``[2:]`` and ``[1:-1]`` all keep ``max(0, n - 2)`` of ``n``), so
    reads of one class whose slices have the same length functions share a class: a
    stencil's shifted neighbours have one shape. Only where ``ranks`` knows ``x`` is a NumPy
    array: a list's items may differ in shape (``parts[0]``, ``parts[-1]``). None for
    anything else."""
    if not isinstance(atom.value, gast.Name):
        return None
    found = getattr(classes, "ranks", None) or {}
    if not ranks.is_numpy(found.get(atom.value.id)):
        return None
    base = class_of(atom.value, classes)
    if base is None or base == SCALAR:
        return None
    index = atom.slice
    parts = index.elts if isinstance(index, gast.Tuple) else [index]
    keys: list[Any] = []
    for part in parts:
        if isinstance(part, gast.Slice):
            key = _length_function(part)
            if key is None:
                return None
            keys.append(key)
        elif type(_written_int(part)) is int:
            keys.append("dropped")  # (an int index takes the axis away)
        else:
            return None
    return ("slice", base, tuple(keys))


def _length_function(part: gast.Slice) -> tuple | None:
    """A key of ``n -> len(range(n)[lower:upper])`` for int bounds written in the code (or
    none) and step 1: its values up to where it becomes linear, and its slope after that
    (0 or 1). Past the sum of the bounds' sizes the function is linear, so the values up
    to there settle it; equal keys are equal functions. None for other slices."""
    if part.step is not None and _written_int(part.step) != 1:
        return None
    lower = None if part.lower is None else _written_int(part.lower)
    upper = None if part.upper is None else _written_int(part.upper)
    if _NOT_AN_INT in (lower, upper):
        return None
    reach = abs(lower or 0) + abs(upper or 0)  # (linear past it: [2:-3] from n = 5 on)
    values = [len(range(n)[lower:upper]) for n in range(reach + 3)]
    slope = values[-1] - values[-2]
    end = len(values) - 1
    while end > 0 and values[end] - values[end - 1] == slope:
        end -= 1
    return tuple(values[: end + 1]), slope


_NOT_AN_INT = object()


def _written_int(node: gast.expr) -> Any:
    """The int ``node`` writes (``2``, ``-1``), else a marker that is no int."""
    negative = isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub)
    if negative:
        node = node.operand
    if isinstance(node, gast.Constant) and type(node.value) is int:
        return -node.value if negative else node.value
    return _NOT_AN_INT


def _unpacked_items(target: gast.expr, value: gast.expr) -> dict[str, gast.expr]:
    """``a, b, c = x`` binds what ``x[0]``, ``x[1]``, ``x[2]`` read (it raises unless ``x``
    has exactly three items): name -> that item read, for plain names unpacked from a
    name (``lengthscale, signal, noise = np.exp(log_params)``'s temporary, whose items
    ``ranks`` then knows to be numbers). Nothing for a starred or nested target."""
    elts = target.elts
    if not isinstance(value, gast.Name) or not all(isinstance(e, gast.Name) for e in elts):
        return {}
    if len({e.id for e in elts}) != len(elts):
        return {}  # (a name bound twice by one unpacking: its last item wins)
    return {
        e.id: gast.Subscript(
            value=gast.Name(value.id, gast.Load(), None, None),
            slice=gast.Constant(i, None),
            ctx=gast.Load(),
        )
        for i, e in enumerate(elts)
    }


def _bindings(statements: list[gast.stmt], in_loop: bool, builtin_range: bool):
    """(name, value, statement, in_loop) for every binding of a name; value None when the
    name is bound by something other than an assignment of one value (unpacking, loop
    targets); in_loop when the binding may run more than once in a call."""
    for stmt in statements:
        if isinstance(stmt, gast.Assign):
            for target in stmt.targets:
                if isinstance(target, gast.Name):
                    yield target.id, stmt.value, stmt, in_loop
                elif isinstance(target, (gast.Tuple, gast.List)):
                    items = _unpacked_items(target, stmt.value)
                    for sub in walk(target):
                        if isinstance(sub, gast.Name):
                            yield sub.id, items.get(sub.id), stmt, in_loop
        elif isinstance(stmt, gast.For):
            # ``for i in range(...)`` binds ints: as a number constant would (shape ()).
            counter = _AN_INT if _over_range(stmt, builtin_range) else None
            for sub in walk(stmt.target):
                if isinstance(sub, gast.Name):
                    yield (
                        sub.id,
                        counter if isinstance(stmt.target, gast.Name) else None,
                        stmt,
                        True,
                    )
        inner_loop = in_loop or isinstance(stmt, (gast.For, gast.While))
        for field in ("body", "orelse"):
            inner = getattr(stmt, field, None)
            if isinstance(inner, list):
                yield from _bindings(inner, inner_loop, builtin_range)


_AN_INT = gast.Constant(0, None)


def _over_range(stmt: gast.For, builtin_range: bool) -> bool:
    call = stmt.iter
    return (
        builtin_range
        and isinstance(call, gast.Call)
        and isinstance(call.func, gast.Name)
        and call.func.id == "range"
    )


def _class_of_value(value: gast.expr | None, stmt: gast.stmt, classes: dict[str, Any]) -> Any:
    """The class of what ``value`` evaluates to, once every local name it reads has one."""
    if value is None:
        return CONFLICT
    if isinstance(value, gast.Constant):
        return class_of(value, classes) or CONFLICT
    if isinstance(value, (gast.Name, gast.Subscript)):
        return class_of(value, classes) or CONFLICT
    if isinstance(value, gast.BinOp):
        if isinstance(value.op, gast.MatMult):
            return _product([value.left, value.right], classes)
        return _broadcast([value.left, value.right], classes)
    if isinstance(value, gast.UnaryOp) and not isinstance(value.op, gast.Not):
        return _broadcast([value.operand], classes)
    if (
        isinstance(value, gast.Compare)
        and len(value.ops) == 1
        and isinstance(value.ops[0], _ELEMENTWISE_COMPARISONS)
    ):
        # (z > 0: NumPy's comparison ufuncs, elementwise; a mask of z's shape)
        return _broadcast([value.left, value.comparators[0]], classes)
    if isinstance(value, gast.Call):
        callee = anno.get(stmt, anno.Key.CALLEE)
        rule = getattr(callee, "rule", None)
        primitive = rule.primitive if rule is not None else getattr(callee, "value", None)
        receiver = getattr(callee, "receiver", None)
        operands = ([receiver] if receiver is not None else []) + list(value.args)
        if any(isinstance(o, gast.Starred) for o in operands):
            return CONFLICT
        if primitive in _SCALAR_BUILTINS or _is_math(primitive):
            return SCALAR
        if primitive in _FULL_REDUCTIONS and len(operands) == 1 and not value.keywords:
            return SCALAR
        if primitive in _FULL_REDUCTIONS and _keeps_dims(operands, value.keywords):
            return _kept(class_of(operands[0], classes))
        if value.keywords:
            return CONFLICT
        if (
            isinstance(primitive, np.ufunc)
            and primitive.nin == len(operands)
            and primitive.nout == 1  # (np.modf, np.divmod: tuples)
            and primitive.signature is None  # (np.matmul, np.vecdot: not elementwise)
        ) or (primitive in _ELEMENTWISE and len(operands) == 3):  # (np.where of one: a tuple)
            return _broadcast(operands, classes)
        if primitive in (np.dot, np.matmul) and len(operands) == 2:
            return _product(operands, classes)
        if primitive in _LIKE_SECOND and len(operands) == 2:
            return class_of(operands[1], classes) or CONFLICT
        if primitive is np.copy and len(operands) == 1:
            return class_of(operands[0], classes) or CONFLICT  # (u.copy(), np.copy(u))
    return CONFLICT


def _is_math(function: Any) -> bool:
    """A function of the ``math`` module: it takes and returns numbers."""
    return getattr(function, "__module__", None) == "math"


def _keeps_dims(operands: list[gast.expr], keywords: list[gast.keyword]) -> bool:
    """Whether a reduction's call keeps the reduced axes: ``keepdims=True`` written, and
    only an axis besides (by keyword, or second)."""
    named = {k.arg: k.value for k in keywords}
    kept = named.pop("keepdims", None)
    named.pop("axis", None)
    return (
        isinstance(kept, gast.Constant)
        and kept.value is True
        and not named
        and 1 <= len(operands) <= (1 if "axis" in {k.arg for k in keywords} else 2)
    )


def _kept(base: Any) -> Any:
    """The class of a reduction of a value of class ``base`` that keeps its axes: of size 1
    where it reduced, ``base``'s sizes elsewhere, so it broadcasts against ``base`` to
    ``base``'s shape (``z - np.max(z, axis=1, keepdims=True)`` has ``z``'s)."""
    if base is None:
        return CONFLICT
    return SCALAR if base == SCALAR else ("kept", base)


def elementwise_class(atoms: list[gast.expr], classes: dict[str, Any]) -> Any:
    """The class of an elementwise result of ``atoms`` where one operand has it: their
    shared class, or a class ``C`` where the others are numbers or reductions of ``C``
    that kept their axes (``z - np.max(z, axis=1, keepdims=True)``); else None."""
    shared = same_shape(atoms, classes)
    if shared is not None:
        return shared
    found = {class_of(o, classes) for o in atoms} - {SCALAR}
    bases = {c[1] if type(c) is tuple and c[:1] == ("kept",) else c for c in found}
    if len(bases) == 1 and None not in bases and CONFLICT not in bases:
        (base,) = bases
        if base in found:
            return base
    return None


def _broadcast(operands: list[gast.expr], classes: dict[str, Any]) -> Any:
    """The class of an elementwise result: ``elementwise_class``'s, else the broadcast of
    the operands' classes (a function of their shapes alone)."""
    shared = elementwise_class(operands, classes)
    if shared is not None:
        return shared
    return _structural(
        "broadcast", [o for o in operands if class_of(o, classes) != SCALAR], classes, ordered=False
    )


def _product(operands: list[gast.expr], classes: dict[str, Any]) -> Any:
    """The class of a matrix product: a number for two vectors (``ranks`` knows their
    ndim: ``X[i] @ w`` in a loop over samples), else its operands' classes'."""
    found = getattr(classes, "ranks", None)
    if found and all(ranks.ndim(ranks.of(o, found)) == 1 for o in operands):
        return SCALAR
    return _structural("matmul", operands, classes)


def _structural(
    label: str, operands: list[gast.expr], classes: dict[str, Any], ordered: bool = True
) -> Any:
    parts = []
    for operand in operands:
        here = class_of(operand, classes)
        if here is None:
            return CONFLICT
        parts.append(here)
    if not ordered:
        parts = sorted(set(parts), key=repr)
    return (label, *parts)

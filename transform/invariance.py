"""Shift invariance: a subtracted maximum whose cotangent is exactly zero.

Softmax and log-softmax are written with the maximum subtracted for stability::

    m = np.max(z, axis=1, keepdims=True)
    e = np.exp(z - m)
    p = e / np.sum(e, axis=1, keepdims=True)

``p`` does not depend on ``m``: put ``m + c`` in its place, for any ``c`` of ``m``'s shape,
and ``z - m`` moves by ``-c``, ``e`` is scaled by ``exp(-c)``, its sum too, and the ratio not
at all. So ``m``'s cotangent is exactly zero, and what the max's rule would spread over the
maxima of ``z`` (a comparison, a count, a division and a product over the whole array) is
zero too, but for rounding: the cotangent the backward pass computes is ``-sum(dz)`` over
each row, a sum of terms that cancel. A hand-written gradient skips it; so does this one
when it can *prove* the invariance.

:func:`zero_cotangents` proves it by following ``m + c`` through the forward statements.
Each value that depends on it is classed as ``shift(k)`` (it moves by ``k * c``) or
``scale(k)`` (it is multiplied by ``exp(k * c)``), ``k`` a whole number; one with ``k == 0``
does not move at all. The rules are the algebra of those functions and nothing else:

* ``a ± b``: shifts add (``shift(k) - shift(k)`` is ``shift(0)``); a value that does not
  move shifts by 0;
* ``a * b``, ``a / b``: scales add and subtract; a value that does not move scales by 0;
* ``-a`` negates a shift and keeps a scale; ``np.exp`` makes ``shift(k)`` ``scale(k)``,
  ``np.log`` the other way;
* ``np.sum``/``np.mean``/``np.max``/``np.min`` (function or method) over axes along which
  ``c`` is constant, keeping dimensions, keep a scale; ``mean``, ``max`` and ``min`` keep a
  shift too (``sum`` multiplies it by the count: not kept);
* ``b = a`` keeps the class.

``c`` is constant along the axes the max reduced (all of them for ``axis=None``). With an
axis, the rules only combine values of the max's operand's rank (the operand itself, the
max, what these rules made of them, and numbers written in the code), so that an axis
means the same axis in every value. Anything else that reads a value that moves (another
call, an index, an in-place write, a loop, a branch, the returned value itself) ends the
proof with nothing claimed. Where the returned value does not move, the function does not
depend on ``m`` at all, and ``m``'s cotangent is zero; ``optimize.zeros`` then drops every
contribution computed from it.
"""

from __future__ import annotations

import gast
import numpy as np

from . import anno
from .analyze import operand_atoms
from .context import TransformContext
from .dataflow import reads, statements, target_names
from .program import Program

_REDUCTIONS_OF_SHIFTS = {
    np.mean: "mean",
    np.max: "max",
    np.amax: "max",
    np.min: "min",
    np.amin: "min",
}
_REDUCTIONS_OF_SCALES = {np.sum: "sum", **_REDUCTIONS_OF_SHIFTS}
_EXTREMA = (np.max, np.amax, np.min, np.amin)

#: the class of a value: ("shift" or "scale", k); k == 0 means it does not move
Class = tuple[str, int]
STILL: Class = ("shift", 0)


class _NotProven(Exception):
    """Raised where the rules cannot say how a statement's value moves."""


def zero_cotangents(program: Program, ctx: TransformContext) -> set[str]:
    """The adjoint names of maxima (and minima) the function's result provably does not
    depend on (see the module doc)."""
    found = set()
    bindings = _binding_counts(program.primal)
    for index, stmt in enumerate(program.primal):
        extremum = _extremum(stmt)
        if extremum is None:
            continue
        name, operand, axes = extremum
        if (
            bindings.get(name) != 1
            or name in _parameters(program)
            or not ctx.namer.has_adjoint(name)
        ):
            continue
        try:
            if _result_ignores(program, index, name, operand, axes):
                found.add(ctx.namer.adjoint(name))
        except _NotProven:
            continue
    return found


def _parameters(program: Program) -> set[str]:
    args = program.node.args
    return {a.id for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}


def _binding_counts(primal: list[gast.stmt]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for stmt in statements(primal):
        for name in target_names(stmt):
            counts[name] = counts.get(name, 0) + 1
    return counts


def _extremum(stmt: gast.stmt) -> tuple[str, str, frozenset | None] | None:
    """``(m, z, axes)`` for ``m = np.max(z, axis=..., keepdims=True)`` (or min, function or
    method), ``axes`` None for every axis; None for any other statement."""
    if not (isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name)):
        return None
    callee = anno.get(stmt, anno.Key.CALLEE)
    if callee is None or callee.kind != "rule" or not isinstance(stmt.value, gast.Call):
        return None
    if not any(callee.value is f for f in _EXTREMA):
        return None
    try:
        operand, axes, keepdims = _reduction_arguments(stmt.value, callee)
    except _NotProven:
        return None
    if not isinstance(operand, gast.Name) or (axes is not None and not keepdims):
        return None
    return stmt.targets[0].id, operand.id, axes


def _reduction_arguments(value: gast.Call, callee) -> tuple[gast.expr, frozenset | None, bool]:
    """The operand, the reduced axes (None: every axis) and keepdims of a reduction call
    whose other arguments are left at their defaults; _NotProven for anything else."""
    operands = operand_atoms(value, callee)
    if not 1 <= len(operands) <= 2:
        raise _NotProven
    axis = operands[1] if len(operands) == 2 else None
    keepdims: gast.expr | None = None
    for keyword in value.keywords:
        if keyword.arg == "axis" and axis is None:
            axis = keyword.value
        elif keyword.arg == "keepdims":
            keepdims = keyword.value
        else:
            raise _NotProven
    return operands[0], _axes(axis), _literal_bool(keepdims)


def _axes(node: gast.expr | None) -> frozenset | None:
    if node is None or (isinstance(node, gast.Constant) and node.value is None):
        return None
    if isinstance(node, gast.Tuple):
        return frozenset(_int_literal(e) for e in node.elts)
    return frozenset([_int_literal(node)])


def _int_literal(node: gast.expr) -> int:
    """``1`` or ``-1`` as written; _NotProven for anything else."""
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub):
        return -_int_literal(node.operand)
    if isinstance(node, gast.Constant) and type(node.value) is int:
        return node.value
    raise _NotProven


def _literal_bool(node: gast.expr | None) -> bool:
    if node is None:
        return False
    if isinstance(node, gast.Constant) and type(node.value) is bool:
        return node.value
    raise _NotProven


def _result_ignores(
    program: Program, start: int, name: str, operand: str, axes: frozenset | None
) -> bool:
    """Whether the function's result does not move when ``name`` (bound by statement
    ``start`` of the forward statements) moves by ``c``."""
    # name -> its class, for values of the operand's rank (every value, for axes None)
    classes: dict[str, Class] = {}
    first = start
    if axes is not None:
        # Values of the operand's rank computed before the max (-z for -z + max(z)):
        # followed from the operand's last binding on.
        first = 0
        for index in range(start - 1, -1, -1):
            if any(operand in target_names(s) for s in statements([program.primal[index]])):
                first = index + 1
                break
        classes[operand] = STILL
    for index in range(first, len(program.primal)):
        stmt = program.primal[index]
        if index == start:
            classes[name] = ("shift", 1)
        elif not _is_push(stmt, program):  # (it saves a value for the backward pass)
            _step(stmt, classes, axes)
    moving = {n for n, (_, k) in classes.items() if k}
    return not (reads(program.result) & moving)


def _is_push(stmt: gast.stmt, program: Program) -> bool:
    return (
        isinstance(stmt, gast.Expr)
        and isinstance(stmt.value, gast.Call)
        and isinstance(stmt.value.func, gast.Name)
        and stmt.value.func.id == program.push
    )


def _step(stmt: gast.stmt, classes: dict[str, Class], axes: frozenset | None) -> None:
    """Update ``classes`` for what ``stmt`` binds; _NotProven where it reads a moving value
    in a way the rules do not cover."""
    moving = {n for n, (_, k) in classes.items() if k}
    simple = isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name)
    if not simple:
        written = set().union(*(target_names(s) for s in statements([stmt])))
        if reads(stmt) & moving or written & moving:
            raise _NotProven
        for target in written:
            classes.pop(target, None)  # rebound (or changed in place) by what we do not follow
        return
    target = stmt.targets[0].id
    result = _class_of(stmt, classes, axes)
    if result is None:
        if reads(stmt.value) & moving:
            raise _NotProven
        classes.pop(target, None)
    else:
        classes[target] = result


def _class_of(stmt: gast.Assign, classes: dict[str, Class], axes: frozenset | None) -> Class | None:
    """The class of the value ``stmt`` assigns, or None where it is of no rank the rules
    follow (then it must read nothing that moves)."""
    value = stmt.value
    if isinstance(value, gast.Name):
        return _operand(value, classes, axes)
    if isinstance(value, gast.BinOp):
        left, right = _operand(value.left, classes, axes), _operand(value.right, classes, axes)
        if left is None or right is None:
            return None
        return _binary(value.op, left, right)
    if isinstance(value, gast.UnaryOp) and isinstance(value.op, gast.USub):
        inner = _operand(value.operand, classes, axes)
        if inner is None:
            return None
        kind, k = inner
        return (kind, -k) if kind == "shift" else inner
    if isinstance(value, gast.Call):
        return _call(stmt, classes, axes)
    return None


def _operand(node: gast.expr, classes: dict[str, Class], axes: frozenset | None) -> Class | None:
    """An operand's class: a number written in the code does not move; a name does as
    ``classes`` says; any other name does not move, but has a rank the rules do not
    follow when ``c`` is constant along some axes only (None then)."""
    if isinstance(node, gast.Constant) and type(node.value) in (int, float):
        return STILL
    if isinstance(node, gast.Name):
        found = classes.get(node.id)
        if found is not None:
            return found
        return STILL if axes is None else None
    return None


def _binary(op: gast.operator, left: Class, right: Class) -> Class:
    (left_kind, a), (right_kind, b) = left, right
    if isinstance(op, (gast.Add, gast.Sub)):
        if (left_kind == "scale" and a) or (right_kind == "scale" and b):
            raise _NotProven  # a scaled value plus anything neither shifts nor scales
        return ("shift", a + b if isinstance(op, gast.Add) else a - b)
    if isinstance(op, (gast.Mult, gast.Div)):
        if (left_kind == "shift" and a) or (right_kind == "shift" and b):
            raise _NotProven
        return ("scale", a + b if isinstance(op, gast.Mult) else a - b)
    if a or b:
        raise _NotProven
    return STILL


def _call(stmt: gast.Assign, classes: dict[str, Class], axes: frozenset | None) -> Class | None:
    callee = anno.get(stmt, anno.Key.CALLEE)
    if callee is None or callee.kind != "rule":
        return None
    function = callee.value
    operands = operand_atoms(stmt.value, callee)
    if function is np.exp or function is np.log:
        if len(operands) != 1 or stmt.value.keywords:
            return None
        inner = _operand(operands[0], classes, axes)
        if inner is None or not inner[1]:
            return inner and STILL
        kind, k = inner
        if function is np.exp and kind == "shift":
            return ("scale", k)
        if function is np.log and kind == "scale":
            return ("shift", k)
        raise _NotProven
    reduction = _REDUCTIONS_OF_SCALES.get(function) if _hashable(function) else None
    if reduction is None:
        return None
    operand, reduced, keepdims = _reduction_arguments(stmt.value, callee)
    inner = _operand(operand, classes, axes)
    if inner is None or not inner[1]:
        # A reduction of a value that does not move: of the operand's rank if it keeps
        # dimensions (or where ranks do not matter), else of a rank not followed.
        return STILL if inner is not None and (keepdims or axes is None) else None
    if axes is not None and (not keepdims or reduced is None or not reduced <= axes):
        raise _NotProven  # c varies along an axis reduced, or the axes renumber
    kind, _ = inner
    if kind == "shift" and reduction == "sum":
        raise _NotProven
    return inner


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True

"""jit: the generated gradient's source rewritten into code Numba compiles.

The ordinary pipeline's output is left as it is: this rewrite reads the final source (as
``ag.source`` prints it) and returns a tree of new functions for ``astgrad.jit`` to hand
to ``numba.njit``. What changes:

- the one list of saved values (``stack = []``, ``push = stack.append``, ``pop =
  stack.pop``) becomes typed buffers held in local variables: a buffer of float64 for
  numbers, typed lists for arrays, and a buffer of *tags* saying which of them each push
  went to (``runtime.jit_helpers``). Where one uncompiled run (the *probe*, see
  :func:`probe`) saw a push or pop only ever move numbers, it is written out inline (a
  store and a counter); elsewhere it calls a helper that Numba specializes to the
  value's type. Every pop checks the tag, so a value is never read as another kind than
  it was saved as;
- ``for v in pop_run(stack, n)`` becomes ``n`` pops in a counted loop;
- a name that generated code starts at ``None`` starts at a value of the type the probe
  saw it take (Numba gives each name one type: None then a float is an optional float,
  which cannot index an array), and a gradient that starts as the integer ``0`` starts
  as zeros of its value's type;
- a gradient that gathers values at indices (``d = d + scatter_grad(g, x, i)``, ``g, d =
  assigned_adjoint(d, x, i)``) is changed in place where the code owns it: a flag per
  such name says whether its array was made here and no other name can have read it
  since, and any other statement reading or binding the name clears the flag (the next
  change then copies first). Without this, each element read in a loop costs a whole
  array;
- the copies a split backward function makes to be called twice (``stack =
  list(stack)``) and ``del`` statements go: a compiled backward part runs once;
- where every push and pop of a fused function is written out for one kind of value,
  each kind has a stack of its own and there are no tags (``_Function.needs_tags``);
- a range loop's counter is counted down in the replayed loop rather than pushed every
  iteration (``_plan_counters``), and ``d = d + g`` into an array made here and seen by
  no other name adds in place (``_find_sums_in_place``: ``d += g`` where the probe saw
  float64 arrays of one rank or a number, else through ``jit_add_into``);
- a gradient set to ``0`` and elsewhere to arrays keeps an array and a flag for the 0
  (``_plan_zero_flags``);
- an element loop's gradient buffers (``d = gradient_buffer(d, x)``) keep their arrays
  where a flag says no other name holds them, and a buffer's dead array waits in a spare
  for the next one (``_plan_buffers``): no new arrays per step;
- an array saved only to be read back for its shape (the array a buffer is shaped like)
  saves its shape instead, as numbers (``_plan_shapes``);
- a cheap value a range loop saves before overwriting it (``dx = pos[i, 0] - pos[j, 0]``)
  is computed again at the top of the replayed loop instead, where it reads only the
  loops' counters, values nothing changes and values computed before it in the same
  iteration (``transform.jit_recompute``): the same bits, without a store and a load;
- an innermost loop that adds into a gradient buffer's element at indices it does not
  change (a pair loop's ``dpos[i, 0]``) keeps that element in a local across the loop,
  behind a run-time test for the other accesses that may reach it
  (``transform.jit_locals``);
- a replayed loop that adds into a gradient buffer at its counter plus constants (a
  stencil's ``du[i - 1]``, ``du[i]``, ``du[i + 1]``) carries those elements in locals
  from one iteration to the next, a window sliding down with the counter, behind a
  run-time test that every element it touches is in bounds (``transform.jit_window``);
- forms Numba lacks are changed into ones it takes (``_NumbaForms``): reductions over
  axes go to compiled helpers, ``with ag.no_grad():`` keeps only its body.

Every new statement keeps the line number of the one it replaces, so a Numba error maps
back, through the generated line, to the user's line. A construct the rewrite cannot
handle raises :class:`NotCompilable` naming that line.
"""

from __future__ import annotations

import ast
import copy
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import step_sums
from .jit_gather import gather_scatters
from .jit_hoist import hoist_capacity_checks, hoist_invariant_reads
from .jit_locals import keep_elements_in_locals
from .jit_recompute import recompute_in_replays
from .jit_window import slide_windows

__all__ = ["NotCompilable", "Names", "Probed", "rewrite", "probe", "STACK_NAMES"]

#: the local variables holding the stack in rewritten code
TAGS, TAG_COUNT, NUMBERS, NUMBER_COUNT, LISTS = (
    "jit_tags", "jit_tag_count", "jit_numbers", "jit_number_count", "jit_lists",
)  # fmt: skip
STACK_NAMES = (TAGS, TAG_COUNT, NUMBERS, NUMBER_COUNT, LISTS)
#: the fused function's extra parameters: how much its buffers hold
CAPACITIES = ("jit_tag_capacity", "jit_number_capacity")
NUMBER_TAG = 0  # (runtime.jit_helpers uses the same tags)
#: + the list's slot: an array saved in the list for its dtype and number of dimensions
ARRAY_TAG = 2
#: the lists arrays are saved in (``runtime.jit_helpers.new_lists``): (dtype, ndim)
ARRAY_SLOTS = (
    ("float64", 1), ("float64", 2), ("float64", 3), ("float32", 1), ("float32", 2), ("int64", 1),
)  # fmt: skip
#: the helpers that push or pop through the tags (any value, or a shape)
TAGGED_HELPERS = {
    "jit_push", "jit_pop", "jit_push_fixed", "jit_push_shape", "jit_pop_shape",
    "jit_push_shape_fixed",
}  # fmt: skip
#: + the channel's number: a tuple saved in a list of its own (``_Function._channel``)
CHANNEL_TAG = 64


class NotCompilable(Exception):
    """The generated code has a construct this rewrite does not compile; ``line`` is
    the generated line it is on (None when not known)."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line


@dataclass
class Names:
    """Free names of the generated source the rewrite needs to recognize."""

    #: names bound to ``adjoints.shaped_like`` / ``pop_run`` / ``restore_item``, and to
    #: helpers that add a value at an index of an array adjoint (``scatter_grad``,
    #: ``add_at``: argument 1 is the container)
    shaped_like: set[str] = field(default_factory=set)
    pop_run: set[str] = field(default_factory=set)
    restore_item: set[str] = field(default_factory=set)
    scatters: set[str] = field(default_factory=set)
    #: of those, the names bound to ``add_at``
    add_at: set[str] = field(default_factory=set)
    assigned_adjoint: set[str] = field(default_factory=set)
    #: names bound to ``element_adjoints.gradient_buffer`` (a new array each call)
    gradient_buffer: set[str] = field(default_factory=set)
    #: names bound to ``rules.containers.add_adjoints``
    add_adjoints: set[str] = field(default_factory=set)
    #: names bound to ``adjoints.zero_cotangent`` (the zeros pass's guards, which the
    #: rewrite drops: it gives adjoints that start at 0 a type of their own)
    zero_cotangent: set[str] = field(default_factory=set)
    #: names bound to helpers that only compute a value from their arguments
    #: (``unbroadcast``)
    pure: set[str] = field(default_factory=set)
    #: names bound to the NumPy module (``np``), and dotted names of ``ag.no_grad``
    numpy: set[str] = field(default_factory=set)
    no_grad: set[str] = field(default_factory=set)


@dataclass
class Probed:
    """What one uncompiled run saw, per generated function name."""

    #: function -> site ("line:column" of a push, pop or pop_run call) -> the Python
    #: type of every value it moved, when always one number type ("float", "int",
    #: "bool"), else "" (arrays, None, or several types)
    sites: dict[str, dict[str, str]] = field(default_factory=dict)
    #: function -> the sites of pushes and pops that ran at all (None moved too)
    ran: dict[str, set[str]] = field(default_factory=dict)
    #: function -> name -> a start expression for a name generated code starts at None
    starts: dict[str, dict[str, str]] = field(default_factory=dict)
    #: function -> name -> "number" or "array": the kind of value each name held last
    kinds: dict[str, dict[str, str]] = field(default_factory=dict)
    #: fused function -> push site -> the pop sites that popped what it pushed, and pop
    #: site -> the push sites it popped from
    popped_at: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    pushed_at: dict[str, dict[str, set[str]]] = field(default_factory=dict)


def site(node: ast.AST) -> str:
    return f"{node.lineno}:{node.col_offset}"


def rewrite(
    source: str, names: Names, gradient_params: dict[str, list[str | None]], probed: Probed
) -> ast.Module:
    """The functions of ``source`` (a generated gradient: one fused function, or a split
    forward and backward pair) rewritten for Numba.

    ``gradient_params`` gives, per function name, the parameter each returned gradient
    belongs to (in the order returned; None where unknown): their ``0`` starts become
    zeros like the parameter. ``probed`` is what the probe saw.
    """
    # (a loop's StepSum back as its own accumulation: Numba compiles the loop)
    tree = step_sums.undo(ast.parse(source), ast)
    for position, node in enumerate(tree.body):
        if not isinstance(node, ast.FunctionDef):
            raise NotCompilable("the generated code is not only functions", node.lineno)
        _WithoutZeroGuards(names.zero_cotangent).visit(node)
        _NumbaForms(names).visit(node)
        if not node.name.endswith(("_forward", "_backward")):
            pushes, pops, _ = _stack_names(node)
            recompute_in_replays(node, pushes, pops, names, probed)
        params = gradient_params.get(node.name, [])
        tagged = copy.deepcopy(node)
        made = _Function(tagged, names, params, probed)
        made.run()
        if made.fused and not made.needs_tags():
            # Every value saved is a number or an array of a kind the probe saw: a stack
            # per kind, no tags (see _Function.needs_tags).
            _Function(node, names, params, probed, tagged=False).run()
        else:
            tree.body[position] = tagged
    ast.fix_missing_locations(tree)
    return tree


class _WithoutZeroGuards(ast.NodeTransformer):
    """``<zero> if zero_cotangent(g) else <value>``: ``<value>``. The guard skips a
    rule's call on an adjoint still at the int 0 it starts from; the rewrite starts such
    adjoints at zeros of their type instead (or leaves the function uncompiled), as
    Numba cannot type a name that is an int on one path and an array on another."""

    def __init__(self, guards: set[str]) -> None:
        self.guards = guards

    def visit_IfExp(self, node: ast.IfExp) -> ast.AST:
        self.generic_visit(node)
        if _is_call_of(node.test, self.guards, 1):
            return node.orelse
        return node


def probe(source: str, names: Names) -> ast.Module:
    """``source``'s functions instrumented for the probe: every value a push, pop or
    pop_run moves passes through ``jit_probe(function, site, value)`` (``jit_probe_run``
    for pop_run's lists), and each function calls ``jit_record(function, locals())``
    before it returns."""
    tree = step_sums.undo(ast.parse(source), ast)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            _Probe(node, names).visit(node)
            _record_before_returns(node, node.name)
    ast.fix_missing_locations(tree)
    return tree


class _Probe(ast.NodeTransformer):
    """Wraps what moves through pushes and pops in ``jit_probe(function, site, value,
    name)`` (``jit_probe_push`` for pushes), ``name`` being the name pushed or restored
    (None where there is none)."""

    def __init__(self, node: ast.FunctionDef, names: Names) -> None:
        self.function = node.name
        self.names = names
        self.pushes, self.pops, _ = _stack_names(node)

    def _wrap(self, helper: str, at: ast.AST, value: ast.expr, name: str | None) -> ast.expr:
        args = (ast.Constant(self.function), ast.Constant(site(at)), value, ast.Constant(name))
        return ast.copy_location(_call(helper, *args), at)

    def visit_Assign(self, node: ast.Assign) -> ast.stmt:
        if (
            len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and _is_call_of(node.value, self.pops, 0)
        ):
            node.value = self._wrap("jit_probe", node.value, node.value, node.targets[0].id)
            return node
        self.generic_visit(node)
        return node

    def visit_For(self, node: ast.For) -> ast.stmt:
        self.generic_visit(node)
        if _is_call_of(node.iter, "jit_probe_run"):
            if isinstance(node.target, ast.Name):
                node.iter.args[3] = ast.Constant(node.target.id)
        return node

    def visit_Call(self, node: ast.Call) -> ast.expr:
        self.generic_visit(node)
        if _is_call_of(node, self.pushes, 1):
            arg = node.args[0]
            name = arg.id if isinstance(arg, ast.Name) else None
            node.args[0] = self._wrap("jit_probe_push", node, arg, name)
            return node
        if _is_call_of(node, self.pops, 0):
            return self._wrap("jit_probe", node, node, None)
        if _is_call_of(node, self.names.pop_run, 2):
            return self._wrap("jit_probe_run", node, node, None)
        return node


#: NumPy reductions whose ``axis=`` and ``keepdims=`` Numba lacks: sent to compiled helpers
#: (``runtime.jit_helpers.REDUCERS``) as ``jit_reduce_sum(x, axis, keepdims)``
REDUCTIONS = {"sum": "sum", "mean": "mean", "max": "max", "min": "min", "prod": "prod",
              "amax": "max", "amin": "min"}  # fmt: skip


class _NumbaForms(ast.NodeTransformer):
    """Forms Numba does not take, in ones it does (same values): reductions over axes
    (``np.mean(X, axis=1, keepdims=True)``, ``X.max(axis=0)``) as calls of compiled
    helpers, and the body of ``with ag.no_grad():`` without the ``with`` (it only
    switches off the tape, which compiled code has not)."""

    def __init__(self, names: Names) -> None:
        self.names = names

    def visit_Call(self, node: ast.Call) -> ast.expr:
        self.generic_visit(node)
        func = node.func
        if not isinstance(func, ast.Attribute) or func.attr not in REDUCTIONS:
            return node
        if any(k.arg not in ("axis", "keepdims") for k in node.keywords):
            return node
        if self._numpy(func.value):  # np.sum(x, axis, keepdims=...)
            if not node.args or len(node.args) > 2:
                return node
            array, rest = node.args[0], node.args[1:]
        else:  # x.sum(axis, keepdims=...)
            if len(node.args) > 1:
                return node
            array, rest = func.value, node.args
        if not rest and not node.keywords:
            return node  # a full reduction: Numba's own
        given = {k.arg: k.value for k in node.keywords}
        if rest:
            if "axis" in given:
                return node
            given["axis"] = rest[0]
        axis = given.get("axis", ast.Constant(None))
        args = [array, axis, given.get("keepdims", ast.Constant(False))]
        made = _call(f"jit_reduce_{REDUCTIONS[func.attr]}", *args)
        return ast.copy_location(made, node)

    def _numpy(self, node: ast.expr) -> bool:
        return isinstance(node, ast.Name) and node.id in self.names.numpy

    def visit_With(self, node: ast.With) -> Any:
        self.generic_visit(node)
        if (
            len(node.items) == 1
            and node.items[0].optional_vars is None
            and isinstance(node.items[0].context_expr, ast.Call)
            and not node.items[0].context_expr.args
            and not node.items[0].context_expr.keywords
            and _dotted(node.items[0].context_expr.func) in self.names.no_grad
        ):
            return node.body
        return node


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner is not None else None
    return None


def _record_before_returns(node: ast.AST, name: str) -> None:
    # (``del`` statements go: what a name held is recorded at the return)
    for field_name in ("body", "orelse"):
        block = getattr(node, field_name, None)
        if not isinstance(block, list):
            continue
        out = []
        for stmt in block:
            if isinstance(stmt, ast.Delete):
                continue
            if isinstance(stmt, ast.Return):
                record = _call("jit_record", ast.Constant(name), _call("locals"))
                out.append(ast.copy_location(ast.Expr(value=record), stmt))
            elif isinstance(stmt, (ast.If, ast.For, ast.While)):
                _record_before_returns(stmt, name)
            out.append(stmt)
        setattr(node, field_name, out or [ast.Pass()])


def _load(name: str) -> ast.Name:
    return ast.Name(id=name, ctx=ast.Load())


def _store(name: str) -> ast.Name:
    return ast.Name(id=name, ctx=ast.Store())


def _call(name: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=_load(name), args=list(args), keywords=[])


def _method(owner: str, name: str, *args: ast.expr) -> ast.Call:
    """``owner.name(*args)``, ``owner`` given as source (``jit_lists[0]``)."""
    func = ast.Attribute(value=ast.parse(owner, mode="eval").body, attr=name, ctx=ast.Load())
    return ast.Call(func=func, args=list(args), keywords=[])


def _assign(targets: list[str], value: ast.expr) -> ast.Assign:
    if len(targets) == 1:
        target: ast.expr = _store(targets[0])
    else:
        target = ast.Tuple(elts=[_store(t) for t in targets], ctx=ast.Store())
    return ast.Assign(targets=[target], value=value)


def _statements(text: str) -> list[ast.stmt]:
    return ast.parse(text).body


def _over_reversed_range(stmt: ast.stmt) -> bool:
    """Whether ``stmt`` is ``for i in reversed(range(...)):`` (no ``else``)."""
    return (
        isinstance(stmt, ast.For)
        and isinstance(stmt.target, ast.Name)
        and not stmt.orelse
        and _is_call_of(stmt.iter, "reversed", 1)
        and _is_call_of(stmt.iter.args[0], "range")
        and 1 <= len(stmt.iter.args[0].args) <= 3
    )


def _is_call_of(node: ast.AST, names: set[str] | str, arity: int | None = None) -> bool:
    if isinstance(names, str):
        names = {names}
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in names
        and not node.keywords
        and (arity is None or len(node.args) == arity)
    )


def _is_name(node: ast.AST, name: str, ctx: type = ast.Load) -> bool:
    return isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ctx)


def _reads(node: ast.AST, name: str) -> bool:
    return any(_is_name(n, name) for n in ast.walk(node))


def _mentions(node: ast.AST, name: str) -> bool:
    """Whether ``node`` reads, binds or deletes ``name``."""
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node))


def _is_zero_assignment(stmt: ast.stmt) -> bool:
    """``d = 0``: a gradient through which nothing has flowed."""
    return (
        isinstance(stmt, ast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], ast.Name)
        and isinstance(stmt.value, ast.Constant)
        and type(stmt.value.value) is int
        and stmt.value.value == 0
    )


def _added_terms(node: ast.expr) -> list[ast.expr] | None:
    """The terms of a sum ``a + b + c``; None for anything else."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left = _added_terms(node.left) or [node.left]
        right = _added_terms(node.right) or [node.right]
        return [*left, *right]
    return None


def _stored_names(tree: ast.AST) -> set[str]:
    return {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }


@dataclass
class _Counter:
    """A range loop's counter that the backward pass recomputes (``_plan_counters``):
    start and step are ints, or the names they are read from."""

    counter: str
    start: int | str
    step: int | str
    replay: ast.For
    count_pushed: bool


def _is_scaling(value: ast.expr, name: str) -> bool:
    """``name * c`` or ``c * name`` for a number written in the code."""
    if not isinstance(value, ast.BinOp) or not isinstance(value.op, ast.Mult):
        return False
    for mine, other in ((value.left, value.right), (value.right, value.left)):
        if _is_name(mine, name) and isinstance(other, ast.Constant):
            return type(other.value) in (int, float)
    return False


def _zero_read(node: ast.AST, name: str, add_adjoints: set[str]) -> tuple | None:
    """``("add" | "mul", the other operand)`` for a read of ``name`` that a flag for 0
    can stand in (``name + e``, ``e + name``, ``add_adjoints(name, e)``, ``name * e``),
    else None."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
        kind = "add" if isinstance(node.op, ast.Add) else "mul"
        for mine, other in ((node.left, node.right), (node.right, node.left)):
            if _is_name(mine, name) and not _reads(other, name):
                return kind, other
    if _is_call_of(node, add_adjoints, 2):
        for mine, other in ((node.args[0], node.args[1]), (node.args[1], node.args[0])):
            if _is_name(mine, name) and not _reads(other, name):
                return "add", other
    return None


def _zero_reads_handled(function: ast.FunctionDef, name: str, add_adjoints: set[str]) -> bool:
    """Whether every read of ``name`` is one ``_zero_read`` takes (or the scaling
    ``name = name * c``), and every binding a plain ``name = ...``."""
    covered = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and _is_scaling(node.value, name):
            if len(node.targets) == 1 and _is_name(node.targets[0], name, ast.Store):
                covered |= {id(n) for n in ast.walk(node.value) if _is_name(n, name)}
        found = _zero_read(node, name, add_adjoints)
        if found is not None:
            operands = [node.left, node.right] if isinstance(node, ast.BinOp) else node.args
            covered |= {id(o) for o in operands if _is_name(o, name)}
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and node.id == name:
            if isinstance(node.ctx, ast.Load) and id(node) not in covered:
                return False
            if isinstance(node.ctx, ast.Del):
                return False
        if isinstance(node, (ast.AugAssign, ast.For, ast.comprehension)):
            target = node.target
            if any(_is_name(n, name, ast.Store) for n in ast.walk(target)):
                return False
        if isinstance(node, ast.Assign):
            simple = len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
            if not simple and any(
                _is_name(n, name, ast.Store) for t in node.targets for n in ast.walk(t)
            ):
                return False
    return True


class _ZeroReads(ast.NodeTransformer):
    """Reads of flagged names (``_Function._plan_zero_flags``) through the flag:
    ``jit_add_or(flag, d, e)`` for a sum, ``jit_mul_or(flag, d, e)`` for a product."""

    def __init__(self, flags: dict[str, str], add_adjoints: set[str]) -> None:
        self.flags = flags
        self.add_adjoints = add_adjoints

    def visit_Assign(self, node: ast.Assign) -> ast.stmt:
        # (``d = d * 1.5`` stays: it runs only while d is not 0)
        if (
            len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id in self.flags
            and _is_scaling(node.value, node.targets[0].id)
        ):
            return node
        self.generic_visit(node)
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.expr:
        self.generic_visit(node)
        return self._through_flag(node)

    def visit_Call(self, node: ast.Call) -> ast.expr:
        self.generic_visit(node)
        return self._through_flag(node)

    def _through_flag(self, node: ast.expr) -> ast.expr:
        for name, flag in self.flags.items():
            found = _zero_read(node, name, self.add_adjoints)
            if found is not None:
                kind, other = found
                made = _call(f"jit_{kind}_or", _load(flag), _load(name), other)
                return ast.copy_location(made, node)
        return node


def _only_elements(stmt: ast.stmt, name: str) -> bool:
    """Whether ``stmt`` leaves ``name``'s array seen by no other name: it does not rebind
    it, writes it only by elements, and reads it only by elements taken into arithmetic
    (``d[i + 1] = d[i + 1] + g``; a row or slice read elsewhere could be a view)."""
    allowed = set()
    for node in ast.walk(stmt):
        if isinstance(node, ast.Subscript) and _is_name(node.value, name):
            if any(isinstance(n, ast.Slice) for n in ast.walk(node.slice)):
                if not isinstance(node.ctx, ast.Store):
                    return False
            if isinstance(node.ctx, ast.Store):
                allowed.add(id(node.value))
        if isinstance(node, (ast.BinOp, ast.UnaryOp)):
            for operand in (getattr(node, "left", None), getattr(node, "right", None),
                            getattr(node, "operand", None)):  # fmt: skip
                if (
                    isinstance(operand, ast.Subscript)
                    and _is_name(operand.value, name)
                    and not any(isinstance(n, ast.Slice) for n in ast.walk(operand.slice))
                ):
                    allowed.add(id(operand.value))
    return all(
        id(node) in allowed
        for node in ast.walk(stmt)
        if isinstance(node, ast.Name) and node.id == name
    )


def _range_part(node: ast.expr, written: set[str]) -> int | str | None:
    """A ``range`` argument as an int, or a name the loop's body does not rebind."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
        and type(node.operand.value) is int
    ):
        return -node.operand.value
    if isinstance(node, ast.Name) and node.id not in written:
        return node.id
    return None


def _blocks(node: ast.AST) -> list[list[ast.stmt]]:
    """Every list of statements in ``node``."""
    found = []
    for sub in ast.walk(node):
        for name in ("body", "orelse", "finalbody"):
            block = getattr(sub, name, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                found.append(block)
    return found


def _stack_names(node: ast.FunctionDef) -> tuple[set[str], set[str], set[str]]:
    """The names bound to a list's append and pop (``push = stack.append``), and the
    lists'."""
    pushes, pops, stacks = set(), set(), set()
    for stmt in ast.walk(node):
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and isinstance(stmt.value, ast.Attribute)
            and isinstance(stmt.value.value, ast.Name)
            and stmt.value.attr in ("append", "pop")
        ):
            stacks.add(stmt.value.value.id)
            (pushes if stmt.value.attr == "append" else pops).add(stmt.targets[0].id)
    return pushes, pops, stacks


class _Renamed(ast.NodeTransformer):
    """Reads of the names given read the names they map to."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    def visit_Name(self, node: ast.Name) -> ast.Name:
        if isinstance(node.ctx, ast.Load) and node.id in self.names:
            return ast.copy_location(_load(self.names[node.id]), node)
        return node


class _Function:
    def __init__(
        self,
        node: ast.FunctionDef,
        names: Names,
        gradient_params: list,
        probed: Probed,
        tagged: bool = True,
    ) -> None:
        self.node = node
        #: whether each push writes a tag that its pop checks (else a stack per kind)
        self.tagged = tagged
        #: the array lists inline pushes and pops use
        self.slots: set[int] = set()
        self.names = names
        self.gradient_params = gradient_params
        self.sites = probed.sites.get(node.name, {})
        self.popped_at = probed.popped_at.get(node.name, {})
        self.pushed_at = probed.pushed_at.get(node.name, {})
        #: id of a range loop -> its counter's plan, and id of its replayed loop -> the same
        self.counted: dict[int, _Counter] = {}
        self.replayed: dict[int, _Counter] = {}
        #: ids of ``d = d + g`` statements whose ``d`` holds an array no other name can see
        self.added_in_place: set[int] = set()
        self.starts = probed.starts.get(node.name, {})
        self.kinds = probed.kinds.get(node.name, {})
        self.pushes, self.pops, self.stacks = _stack_names(node)
        if len(self.stacks) > 1:
            raise NotCompilable("saved values on more than one stack", node.lineno)
        self.stack = next(iter(self.stacks), None)
        #: name -> the name whose shape it keeps (``x_shape = shaped_like(x)``)
        self.shape_of: dict[str, str] = {}
        #: adjoint name -> the array it is an adjoint of (it gathers ``scatter_grad``s)
        self.scatter_target: dict[str, ast.expr] = {}
        self.counter = 0
        self.params = {a.arg for a in node.args.posonlyargs + node.args.args}
        self.assigned = _stored_names(node) | self.params
        taken = self.assigned & {*STACK_NAMES, *CAPACITIES}
        if taken:
            raise NotCompilable(f"the gradient already uses the name {sorted(taken)[0]}")
        # A fused gradient's buffers are as large as the caller says (and it calls again
        # with larger ones when they fill); a callee's forward function grows them.
        self.fused = not node.name.endswith(("_forward", "_backward"))
        #: gradient name -> the flag saying this code owns its array (see module doc)
        self.owned: dict[str, str] = {}
        #: name -> the list its saved tuples are kept in (see ``_channel``)
        self.channels: dict[str, str] = {}
        self.channel_tags: dict[str, int] = {}
        #: gradient buffer name -> the flag saying its array is the code's alone, and
        #: array start -> (spare, the flag saying it is free) (see ``_plan_buffers``)
        self.mine: dict[str, str] = {}
        self.spares: dict[str, tuple[str, str]] = {}
        #: gradient names with a flag for 0, and ``d = 0`` statements written as zeros
        #: (id -> the array they are shaped like) (``_plan_zero_flags``, ``_plan_zero_arrays``)
        self.zero_flags: dict[str, str] = {}
        self.zero_arrays: dict[int, str] = {}
        #: the sites of the pushes left out (``_dropped_pushes``)
        self.dropped_pushes: set[str] = set()
        self.started: set[str] = set()
        #: buffer flags known False before the statement being rewritten, and those it
        #: leaves False (a stash is left out where the flag is known False)
        self.flags_cleared: set[str] = set()
        self.clears: set[str] = set()
        #: the statements after the one being rewritten, in its block
        self.rest_of_block: list[ast.stmt] = []
        #: name -> the name of its shape, for arrays saved only for their shape, and the
        #: push and pop sites that now save the shape (see ``_plan_shapes``)
        self.shape_names: dict[str, str] = {}
        self.shape_sites: dict[str, int] = {}

    # -- what the function binds --------------------------------------------------------

    def _survey(self) -> None:
        for stmt in ast.walk(self.node):
            if not isinstance(stmt, ast.Assign) or len(stmt.targets) != 1:
                continue
            target, value = stmt.targets[0], stmt.value
            if not isinstance(target, ast.Name):
                continue
            if _is_call_of(value, self.names.shaped_like, 1) and isinstance(
                value.args[0], ast.Name
            ):
                self.shape_of[target.id] = value.args[0].id
            else:
                for sub in ast.walk(value):
                    # ``d = d + scatter_grad(g, x, i) + ...``: d gathers x's gradient
                    if _is_call_of(sub, self.names.scatters) and len(sub.args) >= 3:
                        reads = {n.id for n in ast.walk(value) if isinstance(n, ast.Name)}
                        if target.id in reads:
                            self.scatter_target.setdefault(target.id, sub.args[1])

    # -- the rewrite ----------------------------------------------------------------------

    def run(self) -> None:
        self._survey()
        self.dropped_pushes = self._dropped_pushes()
        self.number_shapes = self._number_shapes()
        if self.fused:
            self._plan_counters()
        for block in _blocks(self.node):
            self._find_sums_in_place(block)
        self.zero_flags = self._plan_zero_flags()
        _ZeroReads(self.zero_flags, self.names.add_adjoints).visit(self.node)
        self.zero_arrays = self._plan_zero_arrays()
        for stmt in ast.walk(self.node):
            if isinstance(stmt, ast.Assign) and self._gathering(stmt) is not None:
                name = self._gathering(stmt)[0]
                self.owned.setdefault(name, self._fresh(f"jit_owns_{name}"))
        self._plan_buffers()
        if self.fused:
            self._plan_shapes()
        flags = [_assign([flag], ast.Constant(False)) for flag in self.owned.values()]
        flags += [_assign([flag], ast.Constant(True)) for flag in self.zero_flags.values()]
        flags += [_assign([flag], ast.Constant(False)) for flag in self.mine.values()]
        for flag in flags:
            ast.copy_location(flag, self.node.body[0])
            ast.copy_location(flag.targets[0], self.node.body[0])
            ast.copy_location(flag.value, self.node.body[0])
        body = self._block(self.node.body)
        # Each channel starts as a list of the tuple's type (from its start), emptied.
        channels = []
        for name, channel in sorted(self.channels.items()):
            start = self.starts[name]
            channels += _statements(f"{channel} = [{start}]\n{channel}.pop()\n")
        # Each spare starts as an empty array of its kind, not free to give out.
        for start, (spare, free) in sorted(self.spares.items()):
            channels += _statements(f"{spare} = {start}\n{free} = False\n")
        for name in sorted(self.started):
            channels += _statements(f"{name} = {self.starts[name]}\n")
        for stmt in channels:
            for sub in ast.walk(stmt):
                if isinstance(sub, (ast.stmt, ast.expr)):
                    ast.copy_location(sub, self.node.body[0])
        self.node.body = flags + channels + body
        # The loop rewrites, each exact (transform/jit_*.py), in this order: a loop gathered
        # keeps no window; the hoisting reads the pushes the capacity check left unchecked.
        buffers = self._kept_buffers()
        gather_scatters(self.node, buffers, self._pure_call, self._fresh, (NUMBERS, NUMBER_COUNT))
        slide_windows(self.node, buffers, self._fresh)
        keep_elements_in_locals(self.node, buffers, self._fresh)
        numbers = {TAG_COUNT, NUMBER_COUNT} | {
            n for n, kind in self.kinds.items() if kind == "number"
        }
        if self.fused and not self.tagged:
            hoist_capacity_checks(self.node, NUMBERS, NUMBER_COUNT)
        hoist_invariant_reads(
            self.node, {TAGS, NUMBERS}, buffers, self._pure_call, numbers, self._fresh
        )
        if self.fused:
            self._drop_unused_lists()
        if self.fused and self.stack is not None:
            self.node.args.args += [ast.arg(arg=name) for name in CAPACITIES]
        self._check_no_stack_left()

    def _pure_call(self, call: ast.Call) -> bool:
        """Whether ``call`` only computes a value from its arguments: a helper of
        ``names.pure``, or a NumPy ufunc given its inputs alone (no ``out``)."""
        func = call.func
        if call.keywords or any(isinstance(a, ast.Starred) for a in call.args):
            return False
        if isinstance(func, ast.Name):
            return func.id in self.names.pure
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id in {*self.names.numpy, "jit_np"}
        ):
            ufunc = getattr(np, func.attr, None)
            return isinstance(ufunc, np.ufunc) and len(call.args) == ufunc.nin
        return False

    def _kept_buffers(self) -> dict[str, tuple[str, int]]:
        """The gradient buffers whose elements a loop may keep in locals
        (``transform.jit_locals``): name -> (its flag, its number of dimensions), for
        those the probe saw hold float64 arrays."""
        found = {}
        for name, flag in self.mine.items():
            start = self.starts.get(name, "")
            if re.fullmatch(r"jit_np\.empty\(\((0, )+\), jit_np\.float64\)", start):
                found[name] = (flag, start.count("0, "))
        return found

    def needs_tags(self) -> bool:
        """Whether the rewritten function pushes or pops through a helper that reads the
        tags (values of several kinds, None, shapes) or keeps saved tuples in channels.
        Where it does not, every push and pop is written out for one kind of value (a
        number, an array of one dtype and dimension), and each kind can have its own
        stack: a pop then reads the last value pushed of its kind, which is the value
        its push saved as long as pushes and pops pair up per kind; the tags would add
        a check that the kind matches, which typed code has already settled, and the
        check at the return that every stack is empty still finds a pop left out."""
        if self.channels:
            return True
        return any(
            isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name)
            and sub.func.id in TAGGED_HELPERS
            for sub in ast.walk(self.node)
        )  # fmt: skip

    def _drop_unused_lists(self) -> None:
        """No array lists where nothing is pushed to them (making them costs
        microseconds, what a short loop's whole gradient may cost)."""
        used = any(_is_name(sub, LISTS) for sub in ast.walk(self.node))
        if used:
            return
        for sub in ast.walk(self.node):
            if isinstance(sub, ast.Assign) and _is_name(sub.targets[0], LISTS, ast.Store):
                sub.value = ast.copy_location(ast.Constant(0), sub.value)

    def _fresh(self, base: str) -> str:
        while True:
            self.counter += 1
            name = f"{base}_{self.counter}"
            if name not in self.assigned:
                self.assigned.add(name)
                return name

    def _block(self, stmts: list[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        cleared: set[str] = set()  # (buffer flags the statement before left False)
        for position, stmt in enumerate(stmts):
            self.flags_cleared, self.clears = cleared, set()
            self.rest_of_block = stmts[position + 1 :]
            made = self._statement(stmt)
            if isinstance(stmt, (ast.If, ast.For, ast.While, ast.With, ast.Try)):
                cleared = set()  # (its blocks leave the flags as they may)
            elif made:
                cleared = self.clears
            for new in made:
                if new is not stmt:
                    for sub in ast.walk(new):
                        if isinstance(sub, (ast.stmt, ast.expr)):
                            ast.copy_location(sub, stmt)
            out.extend(made)
        if stmts and not out:
            out.append(ast.copy_location(ast.Pass(), stmts[0]))
        return out

    def _statement(self, stmt: ast.stmt) -> list[ast.stmt]:
        if isinstance(stmt, ast.Delete):
            return []  # memory hints; Numba frees what is no longer read
        gathering = self._gathering(stmt) if isinstance(stmt, ast.Assign) else None
        if gathering is not None:
            return self._gather(stmt, *gathering)
        if self._buffer_made(stmt) is not None:
            return self._disown(stmt, self._buffer(stmt, *self._buffer_made(stmt)))
        made = self._statement_proper(stmt)
        return self._track_buffers(stmt, self._disown(stmt, made))

    # -- gradients changed in place -----------------------------------------------------

    def _gathering(self, stmt: ast.Assign) -> tuple | None:
        """``(name, kind, parts)`` for a statement that adds to, or takes from, a
        gradient at indices and reads it nowhere else: ``d = d + scatter_grad(g, x, i)
        + ...`` and ``d = add_at(d, x, i, g)`` ("add", [(x, i, g), ...]), ``p, d =
        assigned_adjoint(d, x, i)`` ("take", (p, x, i)); None for any other."""
        if len(stmt.targets) != 1:
            return None
        target, value = stmt.targets[0], stmt.value
        if isinstance(target, ast.Name):
            name = target.id
            if _is_call_of(value, self.names.add_at, 4) and _is_name(value.args[0], name):
                parts = [tuple(value.args[1:4])]
            else:
                terms = _added_terms(value)
                if terms is None or sum(_is_name(t, name) for t in terms) != 1:
                    return None
                calls = [t for t in terms if not _is_name(t, name)]
                if not calls or not all(
                    _is_call_of(c, self.names.scatters, 3) and c.func.id in self._scatter_grads
                    for c in calls
                ):
                    return None
                parts = [(c.args[1], c.args[2], c.args[0]) for c in calls]
            if any(_reads(part, name) for group in parts for part in group):
                return None
            return name, "add", parts
        if (
            isinstance(target, ast.Tuple)
            and len(target.elts) == 2
            and all(isinstance(e, ast.Name) for e in target.elts)
            and _is_call_of(value, self.names.assigned_adjoint, 3)
        ):
            part, name = target.elts[0].id, target.elts[1].id
            if _is_name(value.args[0], name) and not any(_reads(a, name) for a in value.args[1:]):
                return name, "take", (part, value.args[1], value.args[2])
        return None

    @property
    def _scatter_grads(self) -> set[str]:
        return {n for n in self.names.scatters if n not in self.names.add_at}

    def _gather(self, stmt: ast.Assign, name: str, kind: str, parts: Any) -> list[ast.stmt]:
        """The change in place: values first (they may read what the change writes
        over), then a copy if the array is not this code's own, then the writes."""
        flag = self.owned[name]
        made: list[ast.stmt] = []
        writes: list[ast.stmt] = []
        if kind == "add":
            for _container, index, value in parts:
                index_name, value_name = self._fresh("index"), self._fresh("added")
                made += [_assign([index_name], index), _assign([value_name], value)]
                add = _call("jit_add_in_place", _load(name), _load(index_name), _load(value_name))
                writes.append(ast.Expr(value=add))
        else:
            part, _container, index = parts
            index_name = self._fresh("index")
            made.append(_assign([index_name], index))
            made.append(_assign([part], _call("jit_item", _load(name), _load(index_name))))
            writes.append(ast.Expr(value=_call("jit_zero_at", _load(name), _load(index_name))))
        made += _statements(f"if not {flag}:\n    {name} = jit_own({name})\n    {flag} = True\n")
        return made + writes

    def _disown(self, stmt: ast.stmt, made: list[ast.stmt]) -> list[ast.stmt]:
        """``made`` (what ``stmt`` became), with the flags of the gradients it reads or
        binds cleared: before a block statement whose header reads them, after any
        other. A zero start of one (fresh zeros) sets its flag."""
        if not self.owned:
            return made
        if isinstance(stmt, (ast.If, ast.For, ast.While)):
            header = stmt.test if not isinstance(stmt, ast.For) else stmt.iter
            touched = {n.id for n in ast.walk(header) if isinstance(n, ast.Name)}
            clear = [
                _assign([self.owned[n]], ast.Constant(False))
                for n in sorted(touched)
                if n in self.owned
            ]
            return [*clear, *made]
        touched = {n.id for s in made for n in ast.walk(s) if isinstance(n, ast.Name)}
        after = []
        last = made[-1] if made else None
        for name in sorted(touched & set(self.owned)):
            # (a zero start: ``d = jit_zeros_like(x)`` is fresh zeros no one else holds)
            fresh = (
                isinstance(last, ast.Assign)
                and _is_name(last.targets[0], name, ast.Store)
                and _is_call_of(last.value, "jit_zeros_like")
            )
            after.append(_assign([self.owned[name]], ast.Constant(fresh)))
        return [*made, *after]

    # -- gradient buffers reused ------------------------------------------------------

    def _plan_buffers(self) -> None:
        """Flags for the names bound to ``gradient_buffer(d, x)`` (a float64 array an
        element loop's backward pass writes into), and spares to keep their dead arrays.

        An element loop's backward step makes two such buffers a step (``dnew`` from
        ``du``, zeros for the new ``du``), where a hand-written adjoint keeps two arrays
        for the whole loop. ``jit_mine_d`` says that ``d``'s array was made here and no
        other name or container holds it: set where ``gradient_buffer`` binds ``d``,
        handed on by ``a = d`` between such names, kept by reads and writes of single
        elements and by the sum in place ``d = jit_add_into(d, g)``, cleared by any
        other statement that reads or binds ``d``. Then ``d = gradient_buffer(d, x)``
        keeps ``d``'s array where the flag is set (``jit_buffer_from``), and a name
        rebound (by a value that does not read it) while its flag is set leaves its
        array in a spare for the next buffer of that kind, filled there rather than
        made. Names bound any other way than ``d = ...`` (a loop's target, a tuple),
        with a flag for 0 or gathered at indices, are left out."""
        made = set()
        bound_otherwise = set()
        for node in ast.walk(self.node):
            if isinstance(node, ast.Assign):
                simple = len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                if simple and _is_call_of(node.value, self.names.gradient_buffer, 2):
                    made.add(node.targets[0].id)
                elif not simple:
                    bound_otherwise |= {n for t in node.targets for n in _stored_names(t)}
            elif isinstance(node, (ast.AugAssign, ast.For, ast.AnnAssign, ast.NamedExpr)):
                bound_otherwise |= _stored_names(node.target)
            elif isinstance(node, (ast.With, ast.comprehension, ast.Try)):
                bound_otherwise |= _stored_names(node)
        excluded = bound_otherwise | set(self.owned) | set(self.zero_flags) | self.params
        # (a stash reads the name: only where a binding of it can reach, earlier in the
        # code or in a loop around; Numba refuses a name read before any binding)
        self.first_bound: dict[str, int] = {}
        for node in ast.walk(self.node):
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For)):
                targets = [node.target]
            else:
                continue
            for name in {n for t in targets for n in _stored_names(t)}:
                line = min(self.first_bound.get(name, node.lineno), node.lineno)
                self.first_bound[name] = line
        self.loops_around: dict[int, set[str]] = {}
        self._note_loops(self.node.body, set())
        for name in sorted(made - excluded):
            self.mine[name] = self._fresh(f"jit_mine_{name}")
            if self._spare_of(name) is not None:
                start = self.starts[name]
                if start not in self.spares:
                    self.spares[start] = (self._fresh("jit_spare"), self._fresh("jit_spare_free"))

    def _plan_shapes(self) -> None:
        """Arrays the backward pass reads only for their shape save their shape instead.

        Generated code saves the value a name held before the forward pass rebinds it,
        and the backward pass restores it (``u = pop()``). Where every read of such a
        name in the backward pass is the array a ``gradient_buffer`` is shaped like (an
        element loop's ``du = gradient_buffer(du, u)``), what it needs is the shape:
        the rewrite saves ``u.shape`` as numbers at the pushes whose values those pops
        alone popped (as the probe saw them paired), pops them into ``u_shape``, and the
        backward pass reads ``u_shape`` (from ``u.shape`` where it starts). A typed list
        append and pop per array saved was a good part of an element loop's step."""
        body = self.node.body
        marker = next(
            (
                position
                for position, stmt in enumerate(body)
                if isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
                and stmt.targets[0].id in self.pops
            ),
            None,
        )
        if marker is None:
            return
        forward = ast.Module(body=body[:marker], type_ignores=[])
        backward = ast.Module(body=body[marker + 1 :], type_ignores=[])
        bound_before = _stored_names(forward)
        pops: dict[str, list[str]] = {}
        other_bindings = set()
        for node in ast.walk(backward):
            if not isinstance(node, (ast.Assign, ast.AugAssign, ast.For, ast.AnnAssign)):
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            popped = (
                isinstance(node, ast.Assign)
                and len(targets) == 1
                and isinstance(targets[0], ast.Name)
                and _is_call_of(node.value, self.pops, 0)
            )
            if popped:
                pops.setdefault(targets[0].id, []).append(site(node.value))
            else:
                other_bindings |= {n for t in targets for n in _stored_names(t)}
        allowed = set()
        for node in ast.walk(backward):
            if _is_call_of(node, self.names.gradient_buffer, 2):
                allowed.add(id(node.args[1]))
        # (reads before the first statement that pops a name see the forward pass's
        # value: any read is fine there, and stays a read of the array)
        restored: dict[str, list[ast.stmt]] = {}
        for name, sites in pops.items():
            for position, stmt in enumerate(backward.body):
                if any(site(n) in sites for n in ast.walk(stmt) if isinstance(n, ast.Call)):
                    restored[name] = backward.body[position:]
                    break
        names = {
            name
            for name, sites in pops.items()
            if name in bound_before
            and name not in other_bindings | self.params
            and all(self._ndim_at(p) is not None for p in sites)
            and len({self._ndim_at(p) for p in sites}) == 1
            and all(
                id(node) in allowed
                for stmt in restored[name]
                for node in ast.walk(stmt)
                if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load)
            )
        }
        while names:
            popped_sites = {p: name for name in names for p in pops[name]}
            dropped = set()
            for pop_site, name in popped_sites.items():
                for push_site in self.pushed_at.get(pop_site, set()) or {""}:
                    partners = self.popped_at.get(push_site, set())
                    if (
                        not push_site
                        or self._ndim_at(push_site) != self._ndim_at(pop_site)
                        or not partners <= set(popped_sites)
                        or len({popped_sites[p] for p in partners}) != 1
                    ):
                        dropped.add(name)
            if not dropped:
                break
            names -= dropped
        for name in sorted(names):
            self.shape_names[name] = self._fresh(f"{name}_shape")
            for pop_site in pops[name]:
                ndim = self._ndim_at(pop_site)
                self.shape_sites[pop_site] = ndim
                for push_site in self.pushed_at.get(pop_site, set()):
                    self.shape_sites[push_site] = ndim
        for name, shape in self.shape_names.items():
            for stmt in restored[name]:
                _Renamed({name: shape}).visit(stmt)

    def _ndim_at(self, at: str) -> int | None:
        """The number of dimensions of the arrays a push or pop site moved (one kind)."""
        parts = self.sites.get(at, "").split()
        return int(parts[2]) if len(parts) == 3 and parts[0] == "array" else None

    def _note_loops(self, block: list[ast.stmt], bound: set[str]) -> None:
        """For each statement, the names bound in the loops around it."""
        for stmt in block:
            self.loops_around[id(stmt)] = bound
            inner = bound | _stored_names(stmt) if isinstance(stmt, (ast.For, ast.While)) else bound
            for field_name in ("body", "orelse"):
                found = getattr(stmt, field_name, None)
                if isinstance(found, list) and found and isinstance(found[0], ast.stmt):
                    self._note_loops(found, inner)

    def _spare_of(self, name: str) -> tuple[str, str] | None:
        """The spare a buffer name's arrays go to: one per kind of float64 array (the
        start the probe saw the name take), or None."""
        start = self.starts.get(name, "")
        if not re.fullmatch(r"jit_np\.empty\(\((0, )+\), jit_np\.float64\)", start):
            return None
        return self.spares.get(start, ("", ""))

    def _buffer_made(self, stmt: ast.stmt) -> tuple[str, ast.expr, ast.expr] | None:
        """``(d, adjoint, container)`` for ``d = gradient_buffer(adjoint, container)``
        with a flag for ``d`` (and no pop inside), else None."""
        if not (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and stmt.targets[0].id in self.mine
            and _is_call_of(stmt.value, self.names.gradient_buffer, 2)
            and not any(_is_call_of(sub, self.pops) for sub in ast.walk(stmt.value))
        ):
            return None
        return stmt.targets[0].id, stmt.value.args[0], stmt.value.args[1]

    def _buffer(self, stmt: ast.Assign, name: str, adjoint: ast.expr, container: ast.expr) -> list:
        """``d = gradient_buffer(a, x)`` through ``jit_buffer_from``: ``d``'s own array
        where ``a`` is ``d`` and its flag is set, else the spare if it is free."""
        keeps = _is_name(adjoint, name)
        before = [] if _reads(stmt.value, name) else self._stash(stmt, name)
        mine = _load(self.mine[name]) if keeps else ast.Constant(False)
        spare, free = self._spare_of(name) or ("", "")
        if spare:
            call = _call("jit_buffer_from", adjoint, container, mine, _load(spare), _load(free))
            made = _assign([name, free], call)
        else:
            call = _call("jit_buffer_from", adjoint, container, mine, ast.Constant(None),
                         ast.Constant(False))  # fmt: skip
            made = _assign([name], ast.Subscript(value=call, slice=ast.Constant(0),
                                                 ctx=ast.Load()))  # fmt: skip
        return [*before, made, _assign([self.mine[name]], ast.Constant(True))]

    def _stash(self, stmt: ast.stmt, name: str) -> list[ast.stmt]:
        """Before ``stmt`` rebinds ``name``: its array into the spare, if the array is its
        alone."""
        spare, free = self._spare_of(name) or ("", "")
        if not spare or name in self.flags_cleared:
            return []
        if self.first_bound.get(name, stmt.lineno) >= stmt.lineno:
            if name not in self.loops_around.get(id(stmt), set()):
                return []  # (its first binding: nothing to keep)
            # Bound later in a loop around: Numba wants a binding before any read, so
            # the name starts as an empty array of its kind (never kept: no flag yet).
            self.started.add(name)
        flag = self.mine[name]
        return _statements(f"if {flag}:\n    {spare} = {name}\n    {free} = True\n")

    def _track_buffers(self, stmt: ast.stmt, made: list[ast.stmt]) -> list[ast.stmt]:
        """``made`` (what ``stmt`` became) with the buffer flags ``stmt`` hands on or
        clears (see ``_plan_buffers``)."""
        if not self.mine or isinstance(stmt, ast.Return):
            return made
        if isinstance(stmt, (ast.If, ast.For, ast.While)):
            header = stmt.test if not isinstance(stmt, ast.For) else stmt.iter
            touched = {n.id for n in ast.walk(header) if isinstance(n, ast.Name)}
            return [*self._cleared(touched), *made]
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and isinstance(stmt.value, ast.Name)
            and {stmt.targets[0].id, stmt.value.id} <= set(self.mine)
            and stmt.targets[0].id != stmt.value.id
        ):
            # ``a = d``, d rebound before it is read again: the array is a's alone where
            # it was d's (else neither's)
            target, source = stmt.targets[0].id, stmt.value.id
            mine = _load(self.mine[source]) if self._rebound_unread(source) else None
            handed = [
                _assign([self.mine[target]], mine or ast.Constant(False)),
                _assign([self.mine[source]], ast.Constant(False)),
            ]
            self.clears = (self.flags_cleared - {target}) | {source}
            return [*self._stash(stmt, target), *made, *handed]
        kept: set[str] = set()
        if id(stmt) in self.added_in_place:
            # (jit_add_into keeps d's array or makes a new one; it keeps no reference
            # to the value added, where that is a name)
            name, added = self._sum_of(stmt)
            kept.add(name)
            if isinstance(added, ast.Name):
                kept.add(added.id)
        touched = {n.id for s in [stmt, *made] for n in ast.walk(s) if isinstance(n, ast.Name)}
        touched = {n for n in touched & set(self.mine) - kept if not self._elements_only(stmt, n)}
        before: list[ast.stmt] = []
        fresh = None
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target = stmt.targets[0]
            if isinstance(target, ast.Name) and target.id in touched:
                if not _reads(stmt.value, target.id):
                    before = self._stash(stmt, target.id)
                last = made[-1] if made else None
                if (
                    isinstance(last, ast.Assign)
                    and _is_name(last.targets[0], target.id, ast.Store)
                    and _is_call_of(last.value, "jit_zeros_like")
                ):
                    fresh = target.id  # (new zeros no other name holds)
        after = [
            _assign([self.mine[n]], ast.Constant(n == fresh))
            for n in sorted(touched)
            if n == fresh or n not in self.flags_cleared  # (False already: nothing to set)
        ]
        self.clears = (self.flags_cleared - touched) | {n for n in touched if n != fresh}
        return [*before, *made, *after]

    def _rebound_unread(self, name: str) -> bool:
        """Whether the rest of the block rebinds ``name`` (by a value not reading it)
        before anything else reads it, and before any compound statement."""
        for stmt in self.rest_of_block:
            if isinstance(stmt, (ast.If, ast.For, ast.While, ast.With, ast.Try)):
                return False
            if (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and _is_name(stmt.targets[0], name, ast.Store)
            ):
                return not _reads(stmt.value, name)
            if any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(stmt)):
                return False
        return False

    def _cleared(self, names: set[str]) -> list[ast.stmt]:
        found = sorted(names & set(self.mine))
        return [_assign([self.mine[n]], ast.Constant(False)) for n in found]

    def _elements_only(self, stmt: ast.stmt, name: str) -> bool:
        """Whether ``stmt`` reads and writes ``name`` only by single elements
        (``d[i, j]``: an index per dimension, each a whole number), so it can leave
        no other reference to the array."""
        start = self.starts.get(name, "")
        if not start.startswith("jit_np.empty(("):
            return False
        ndim = start.count("0, ")
        allowed = set()
        for node in ast.walk(stmt):
            if isinstance(node, ast.Subscript) and _is_name(node.value, name):
                parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
                if len(parts) == ndim and all(self._whole_number(p) for p in parts):
                    allowed.add(id(node.value))
        return all(
            id(node) in allowed
            for node in ast.walk(stmt)
            if isinstance(node, ast.Name) and node.id == name
        )

    def _whole_number(self, node: ast.expr) -> bool:
        """An index the probe saw only numbers in: constants and number names, with
        arithmetic."""
        if isinstance(node, ast.Constant):
            return type(node.value) is int
        if isinstance(node, ast.Name):
            return self.kinds.get(node.id) == "number"
        if isinstance(node, ast.BinOp):
            return self._whole_number(node.left) and self._whole_number(node.right)
        if isinstance(node, ast.UnaryOp):
            return self._whole_number(node.operand)
        return False

    def _statement_proper(self, stmt: ast.stmt) -> list[ast.stmt]:
        zeroed = self._zero_flag_assignment(stmt)
        if zeroed is not None:
            return zeroed
        if id(stmt) in self.counted:
            return self._counted_loop(stmt, self.counted[id(stmt)])
        if id(stmt) in self.replayed:
            return self._replayed_counter(stmt, self.replayed[id(stmt)])
        if _over_reversed_range(stmt):
            return self._counted_down(stmt)
        if id(stmt) in self.added_in_place:
            name, added = self._sum_of(stmt)
            if self._adds_in_place(name, added):
                return [ast.AugAssign(target=_store(name), op=ast.Add(), value=added)]
            return [_assign([name], _call("jit_add_into", _load(name), added))]
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            made = self._assignment(stmt, stmt.targets[0], stmt.value)
            if made is not None:
                return made
        if isinstance(stmt, ast.Expr) and _is_call_of(stmt.value, self.pushes, 1):
            return self._push(stmt.value, stmt.value.args[0])
        if isinstance(stmt, ast.For) and _is_call_of(stmt.iter, self.names.pop_run, 2):
            return self._pop_run(stmt)
        if isinstance(stmt, ast.Return) and stmt.value is not None:
            stmt.value = self._stack_as_tuple(stmt.value)
            if self.fused and self.stack is not None:
                # Every value pushed was popped: a pop the rewrite left out (or added)
                # would leave the stack out of step without a wrong tag to show it.
                left = [f"{TAG_COUNT} != 0"]
                if not self.tagged:
                    left = [f"{NUMBER_COUNT} != 0"]
                    left += [f"len({LISTS}[{slot}]) != 0" for slot in sorted(self.slots)]
                return [
                    *_statements(
                        f"if {' or '.join(left)}:\n"
                        '    raise jit_OutOfStep("saved values were left on the stack")\n'
                    ),
                    stmt,
                ]
        before = self._hoist_pops(stmt)
        for field_name in ("body", "orelse"):
            block = getattr(stmt, field_name, None)
            if block and isinstance(stmt, (ast.If, ast.For, ast.While)):
                setattr(stmt, field_name, self._block(block))
        return [*before, stmt]

    def _assignment(self, stmt: ast.Assign, target: ast.expr, value: ast.expr) -> list | None:
        if isinstance(target, ast.Tuple) and any(
            isinstance(e, ast.Name) and e.id == self.stack for e in target.elts
        ):
            # A split backward function unpacking what its forward function saved.
            target.elts = [
                ast.Tuple(elts=[_store(n) for n in STACK_NAMES], ctx=ast.Store())
                if isinstance(e, ast.Name) and e.id == self.stack
                else e
                for e in target.elts
            ]
            return [stmt]
        if not isinstance(target, ast.Name):
            return None
        name = target.id
        if name == self.stack and isinstance(value, ast.List) and not value.elts:
            return self._new_stack()
        if name in self.pushes | self.pops and isinstance(value, ast.Attribute):
            # (where the backward pass starts: the shapes it reads instead of arrays)
            if name in self.pops:
                return [
                    _assign([shape], ast.Attribute(value=_load(kept), attr="shape", ctx=ast.Load()))
                    for kept, shape in sorted(self.shape_names.items())
                ]
            return []
        if name == self.stack and _is_call_of(value, "list", 1):
            return []  # the split backward's copy, for a second call
        if _is_call_of(value, self.pops, 0):
            return self._pop_into(name, value)
        if isinstance(value, ast.Constant) and value.value is None and name in self.starts:
            return [_assign([name], ast.parse(self.starts[name], mode="eval").body)]
        if isinstance(value, ast.Constant) and type(value.value) is int and value.value == 0:
            zero = self._zero_start(name)
            if zero is None and id(stmt) in self.zero_arrays:
                zero = _call("jit_zeros_like", _load(self.zero_arrays[id(stmt)]))
            if zero is not None:
                return [_assign([name], zero)]
        return None

    def _new_stack(self) -> list[ast.stmt]:
        tags, numbers = ("jit_tag_capacity", "jit_number_capacity") if self.fused else (64, 64)
        if not self.tagged:
            return _statements(
                f"{NUMBERS} = jit_np.empty({numbers}, jit_np.float64)\n"
                f"{NUMBER_COUNT} = 0\n"
                f"{LISTS} = jit_new_lists()\n"
            )
        return _statements(
            f"{TAGS} = jit_np.empty({tags}, jit_np.int8)\n"
            f"{TAG_COUNT} = 0\n"
            f"{NUMBERS} = jit_np.empty({numbers}, jit_np.float64)\n"
            f"{NUMBER_COUNT} = 0\n"
            f"{LISTS} = jit_new_lists()\n"
        )

    def _stack_as_tuple(self, value: ast.expr) -> ast.expr:
        """A split forward function's saved tuple holds the stack's variables."""
        if self.stack is None:
            return value
        for node in ast.walk(value):
            if isinstance(node, ast.Tuple):
                node.elts = [
                    ast.Tuple(elts=[_load(n) for n in STACK_NAMES], ctx=ast.Load())
                    if isinstance(e, ast.Name) and e.id == self.stack
                    else e
                    for e in node.elts
                ]
        return value

    # -- pushes and pops ----------------------------------------------------------------

    def _number_site(self, node: ast.AST) -> str:
        """ "float", "int" or "bool" where the probe saw only numbers of that type move
        through this call; "" where it saw anything else, or nothing."""
        kind = self.sites.get(site(node), "")
        return kind if kind in ("float", "int", "bool") else ""

    def _array_slot(self, node: ast.AST) -> int | None:
        """The list a push or pop saw only arrays of one kind move through (probed as
        "array float64 1"), or None."""
        parts = self.sites.get(site(node), "").split()
        if len(parts) != 3 or parts[0] != "array":
            return None
        kind = (parts[1], int(parts[2]))
        return ARRAY_SLOTS.index(kind) if kind in ARRAY_SLOTS else None

    def _is_number_name(self, name: str) -> bool:
        return self.kinds.get(name) == "number"

    def _channel(self, name: str) -> str | None:
        """The list a fused function keeps a name's saved tuples in (what a callee's
        forward function saved, pushed once per iteration of a loop), or None."""
        if not self.fused or self.kinds.get(name) != "tuple" or name not in self.starts:
            return None
        channel = self.channels.get(name)
        if channel is None:
            if CHANNEL_TAG + len(self.channels) > 127:  # (tags are int8)
                return None
            self.channel_tags[name] = CHANNEL_TAG + len(self.channels)
            channel = self.channels[name] = self._fresh(f"jit_saved_{name}")
        return channel

    def _channel_tag(self, name: str) -> int:
        return self.channel_tags[name]

    def _dropped_pushes(self) -> set[str]:
        """The sites of the pushes ``_push`` leaves out: a number's shape
        (``push(shaped_like(x))`` where the probe saw ``x`` hold numbers), known when
        compiling."""
        if not self.fused:
            return set()
        return {
            site(stmt.value)
            for stmt in ast.walk(self.node)
            if isinstance(stmt, ast.Expr)
            and _is_call_of(stmt.value, self.pushes, 1)
            and _is_call_of(stmt.value.args[0], self.names.shaped_like, 1)
            and isinstance(stmt.value.args[0].args[0], ast.Name)
            and self._is_number_name(stmt.value.args[0].args[0].id)
        }

    def _number_shapes(self) -> set[str]:
        """Names that hold a number's shape (0.0, compiled) wherever a pop binds them:
        bound first by a statement of the function's body ``x_shape = shaped_like(x)``
        where the probe saw ``x`` hold numbers, and elsewhere only by such statements and
        by pops paired with dropped pushes (which ``_pop_into`` makes 0.0 too). Such a
        pop changes nothing, and is left out: a loop's body then binds the name nowhere."""
        if not self.dropped_pushes:
            return set()
        # name -> what binds it: a statement ``name = value``, or the Name node of any
        # other binding (a loop's target, an augmented or unpacking assignment)
        bindings: dict[str, list[ast.AST]] = {}
        plain: set[int] = set()
        for node in ast.walk(self.node):
            if (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
            ):
                bindings.setdefault(node.targets[0].id, []).append(node)
                plain.add(id(node.targets[0]))
        for node in ast.walk(self.node):
            # (a ``del``, after the last read, binds nothing a later read could see)
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                if id(node) not in plain:
                    bindings.setdefault(node.id, []).append(node)
        found = set()
        for name, binders in bindings.items():
            pops = [b for b in binders if self._dropped_pop(b)]
            if not pops or not all(
                isinstance(b, ast.Assign)
                and len(b.targets) == 1
                and (b in pops or self._number_shape_value(b.value))
                for b in binders
            ):
                continue
            first = next((stmt for stmt in self.node.body if name in _stored_names(stmt)), None)
            if first in binders and not self._dropped_pop(first):
                found.add(name)
        return found

    def _dropped_pop(self, node: ast.AST) -> bool:
        """Whether ``node`` is ``x = pop()`` whose pushes were all left out."""
        if not (isinstance(node, ast.Assign) and _is_call_of(node.value, self.pops, 0)):
            return False
        pushed = self.pushed_at.get(site(node.value), set()) if self.fused else set()
        return bool(pushed) and pushed <= self.dropped_pushes

    def _number_shape_value(self, value: ast.expr) -> bool:
        """Whether ``value`` is ``shaped_like(x)`` of a name the probe saw hold numbers."""
        return (
            _is_call_of(value, self.names.shaped_like, 1)
            and isinstance(value.args[0], ast.Name)
            and self._is_number_name(value.args[0].id)
        )

    def _push(self, call: ast.Call, value: ast.expr) -> list[ast.stmt]:
        if isinstance(value, ast.Name) and self._channel(value.id) is not None:
            channel, tag = self._channel(value.id), self._channel_tag(value.id)
            return _statements(
                f"if {TAG_COUNT} == {TAGS}.shape[0]:\n"
                "    raise jit_StackFull()\n"
                f"{channel}.append({value.id})\n"
                f"{TAGS}[{TAG_COUNT}] = {tag}\n"
                f"{TAG_COUNT} += 1\n"
            )
        if _is_call_of(value, self.names.shaped_like, 1) and self.fused:
            # (Only where the pop is in the same function, and so decided alike: a
            # callee's backward function pops what its forward function pushed.)
            kept = value.args[0]
            if isinstance(kept, ast.Name) and self._is_number_name(kept.id):
                return []  # a number's shape is known when compiling: nothing to keep
            if self.fused:
                return [self._generic("jit_push_shape_fixed", [TAG_COUNT, NUMBER_COUNT], kept)]
            return [self._generic("jit_push_shape", list(STACK_NAMES[:4]), kept)]
        if site(call) in self.shape_sites:
            kept = self._fresh("kept")
            made = [_assign([kept], value)]
            for axis in range(self.shape_sites[site(call)]):
                made += self._inline_push(ast.parse(f"{kept}.shape[{axis}]", mode="eval").body)
            return made
        slot = self._array_slot(call)
        if slot is not None:
            self.slots.add(slot)
            made = [ast.Expr(value=_method(f"{LISTS}[{slot}]", "append", value))]
            if not self.tagged:
                return made
            full = "raise jit_StackFull()" if self.fused else f"{TAGS} = jit_grown({TAGS})"
            return [
                *_statements(f"if {TAG_COUNT} == {TAGS}.shape[0]:\n    {full}\n"),
                *made,
                *_statements(f"{TAGS}[{TAG_COUNT}] = {ARRAY_TAG + slot}\n{TAG_COUNT} += 1\n"),
            ]
        if self._number_site(call):
            return self._inline_push(value)
        if self.fused:
            return [self._generic("jit_push_fixed", [TAG_COUNT, NUMBER_COUNT], value)]
        return [self._generic("jit_push", list(STACK_NAMES[:4]), value)]

    def _inline_push(self, value: ast.expr) -> list[ast.stmt]:
        """A number pushed, written out."""
        full = (
            "raise jit_StackFull()"
            if self.fused
            else f"{TAGS} = jit_grown({TAGS})\n    {NUMBERS} = jit_grown({NUMBERS})"
        )
        value_name = self._fresh("saved")
        made = [_assign([value_name], value)]
        if not self.tagged:
            return made + _statements(
                f"if {NUMBER_COUNT} == {NUMBERS}.shape[0]:\n"
                f"    {full}\n"
                f"{NUMBERS}[{NUMBER_COUNT}] = {value_name}\n"
                f"{NUMBER_COUNT} += 1\n"
            )
        return made + _statements(
            f"if {TAG_COUNT} == {TAGS}.shape[0] or {NUMBER_COUNT} == {NUMBERS}.shape[0]:\n"
            f"    {full}\n"
            f"{TAGS}[{TAG_COUNT}] = {NUMBER_TAG}\n"
            f"{NUMBERS}[{NUMBER_COUNT}] = {value_name}\n"
            f"{TAG_COUNT} += 1\n"
            f"{NUMBER_COUNT} += 1\n"
        )

    # -- gradients that start at the integer 0 -----------------------------------------------

    def _plan_zero_flags(self) -> dict[str, str]:
        """Gradients generated code sets to ``0`` ("nothing flowed") and elsewhere to
        arrays: Numba gives a name one type, so such a name keeps an array (a start of
        the type the probe saw) and a flag says when it stands for 0. Only where every
        read is a sum with it (``d + e``, ``add_adjoints(d, e)``: ``e + 0`` while the flag
        is set) or a product with it (``d * e``: ``0 * e``; ``d = d * 1.5`` leaves 0 as
        it is), which is what 0 gives there; other reads leave the name as it is (and a
        typing error runs the gradient uncompiled)."""
        zeroed = {
            stmt.targets[0].id
            for stmt in ast.walk(self.node)
            if isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and isinstance(stmt.value, ast.Constant)
            and type(stmt.value.value) is int
            and stmt.value.value == 0
        }
        excluded = set(self._returned_gradients()) | set(self.scatter_target) | self.params
        flags = {}
        for name in sorted(zeroed - excluded):
            if self.kinds.get(name) != "array" or not self.starts.get(name):
                continue
            if self.owned and name in self._gathered_names():
                continue
            if _zero_reads_handled(self.node, name, self.names.add_adjoints):
                flags[name] = self._fresh(f"jit_zero_{name}")
        for node in ast.walk(self.node):
            for name in flags:
                found = _zero_read(node, name, self.names.add_adjoints)
                if found is not None and any(_reads(found[1], other) for other in flags):
                    return {}  # (two flagged names in one sum: not taken)
        return flags

    def _plan_zero_arrays(self) -> dict[int, str]:
        """``d = 0`` statements whose 0 is written as zeros shaped like ``d``'s array:
        id -> that array's name. Numba gives a name one type; a gradient that is the
        int 0 on entry to a loop and an array at the end of its body (a leapfrog's
        ``dcur = dprev`` then ``dprev = 0``, each step) has two at the loop's top. Taken
        where ``d`` is made an element loop's buffer, ``d = gradient_buffer(d, x)``, with
        one array ``x`` throughout (``d``'s own: a buffer is shaped like the array whose
        gradient it gathers), ``x`` is bound before the statement's place in the
        function's top level (or a parameter), and the 0 is not taken by such a buffer
        statement at once (the int 0 costs nothing there: the buffer is filled with it).
        Exact: 0 in float arithmetic is 0.0, and the rules are linear in a gradient, so
        zeros give the values 0 gives; and no flag for 0 is kept for ``d``."""
        containers: dict[str, set[str]] = {}
        for stmt in ast.walk(self.node):
            if (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
                and _is_call_of(stmt.value, self.names.gradient_buffer, 2)
                and _is_name(stmt.value.args[0], stmt.targets[0].id)
                and isinstance(stmt.value.args[1], ast.Name)
            ):
                containers.setdefault(stmt.targets[0].id, set()).add(stmt.value.args[1].id)
        bound_at_top: dict[str, int] = {}  # name -> the first top-level statement binding it
        for position, stmt in enumerate(self.node.body):
            for name in _stored_names(stmt):
                bound_at_top.setdefault(name, position)
        found = {}
        for position, top in enumerate(self.node.body):
            for block in [[top], *_blocks(top)]:
                for at, stmt in enumerate(block):
                    if not _is_zero_assignment(stmt):
                        continue
                    name = stmt.targets[0].id
                    (container, *others) = sorted(containers.get(name, ())) or [None]
                    if (
                        container is None
                        or others
                        or name in self.zero_flags
                        or self.kinds.get(name) != "array"
                        or self.kinds.get(container) != "array"
                        or not (
                            container in self.params
                            or bound_at_top.get(container, position) < position
                        )
                        or self._buffered_at_once(block[at + 1 :], name)
                    ):
                        continue
                    found[id(stmt)] = container
        return found

    def _buffered_at_once(self, after: list[ast.stmt], name: str) -> bool:
        """Whether the first of ``after`` that mentions ``name`` is ``name =
        gradient_buffer(name, x)``."""
        for stmt in after:
            if not _mentions(stmt, name):
                continue
            return (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and _is_name(stmt.targets[0], name, ast.Store)
                and _is_call_of(stmt.value, self.names.gradient_buffer, 2)
                and _is_name(stmt.value.args[0], name)
            )
        return False

    def _gathered_names(self) -> set[str]:
        return {
            self._gathering(stmt)[0]
            for stmt in ast.walk(self.node)
            if isinstance(stmt, ast.Assign) and self._gathering(stmt) is not None
        }

    def _zero_flag_assignment(self, stmt: ast.stmt) -> list[ast.stmt] | None:
        """A flagged name's assignments: ``d = 0`` sets the flag (and ``d`` to its start),
        ``d = d * c`` runs only while the flag is clear, any other clears it."""
        if not (
            self.zero_flags
            and isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and stmt.targets[0].id in self.zero_flags
        ):
            return None
        name = stmt.targets[0].id
        flag = self.zero_flags[name]
        value = stmt.value
        if isinstance(value, ast.Constant) and type(value.value) is int and value.value == 0:
            start = ast.parse(self.starts[name], mode="eval").body
            return [_assign([name], start), _assign([flag], ast.Constant(True))]
        if _is_scaling(value, name):
            return [ast.If(test=ast.UnaryOp(op=ast.Not(), operand=_load(flag)), body=[stmt],
                           orelse=[])]  # fmt: skip
        made = self._assignment(stmt, stmt.targets[0], value)
        if made is None:
            made = [*self._hoist_pops(stmt), stmt]
        return [*made, _assign([flag], ast.Constant(False))]

    # -- sums into arrays of the code's own -------------------------------------------------

    def _find_sums_in_place(self, block: list[ast.stmt]) -> None:
        """``d = d + g`` after ``d = gradient_buffer(...)`` in the same block, where every
        statement between reads ``d`` only by elements inside arithmetic and writes it
        only by elements: no other name can hold its array, so the sum can go into it
        (``jit_add_into``, which makes a new array where the shapes differ). A new array
        each iteration is what makes an element loop's backward step allocate."""
        fresh: set[str] = set()
        for stmt in block:
            if self._sum_of(stmt) is not None and self._sum_of(stmt)[0] in fresh:
                self.added_in_place.add(id(stmt))
                continue
            fresh = {name for name in fresh if _only_elements(stmt, name)}
            if (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
                and _is_call_of(stmt.value, self.names.gradient_buffer, 2)
            ):
                fresh.add(stmt.targets[0].id)

    def _adds_in_place(self, name: str, added: ast.expr) -> bool:
        """Whether ``name = name + added`` (a sum into the code's own array, see
        ``_find_sums_in_place``) can be written ``name += added``: where the probe saw
        ``name`` hold a float64 array and ``added`` a number or a float64 array of as many
        dimensions, the sum has ``name``'s dtype, and its shape wherever ``added``
        broadcasts to it (an adjoint has its value's shape); an ``added`` of a larger
        shape raises, and the call runs uncompiled. ``jit_add_into`` checks the shapes
        and dtypes in a call of its own, which cost the heat equation about 8% (its
        reference counts, and the loop LLVM makes of the rest)."""
        start = self.starts.get(name, "")
        if not (start.startswith("jit_np.empty(") and start.endswith("jit_np.float64)")):
            return False
        if not isinstance(added, ast.Name):
            return False
        other = self.starts.get(added.id)
        return other in ("0.0", "0") or other == start

    @staticmethod
    def _sum_of(stmt: ast.stmt) -> tuple[str, ast.expr] | None:
        """``(d, g)`` for ``d = d + g`` or ``d = g + d`` (g not reading d), else None."""
        if not (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and isinstance(stmt.value, ast.BinOp)
            and isinstance(stmt.value.op, ast.Add)
        ):
            return None
        name = stmt.targets[0].id
        left, right = stmt.value.left, stmt.value.right
        for mine, other in ((left, right), (right, left)):
            if _is_name(mine, name) and not _reads(other, name):
                return name, other
        return None

    # -- loop counters recomputed, not saved ----------------------------------------------

    def _plan_counters(self) -> None:
        """The range loops whose counter the backward pass recomputes instead of popping.

        Generated code pushes a ``for i in range(a, b, c)`` loop's counter at the end of
        each iteration, and its replayed loop pops it back first thing. Where the body
        never rebinds ``i`` (and has no ``break`` or ``continue``), the values popped are
        ``a + (n - 1) c, ..., a``: the rewrite pushes ``a`` and ``c`` once after the loop
        (where they are names: constants need nothing), and the replayed loop counts down
        from ``a + n c``. The probe must have seen that push's values popped by that pop
        alone, and the trip count's push by the pop the replayed loop's ``range`` reads
        (or the count be the same constant): then the two loops are a pair."""
        replays: dict[str, tuple[ast.For, str, ast.expr]] = {}
        for node in ast.walk(self.node):
            if not isinstance(node, ast.For) or node.orelse or not node.body:
                continue
            if _is_call_of(node.iter, self.names.pop_run, 2) and isinstance(node.target, ast.Name):
                replays[site(node.iter)] = (node, node.target.id, node.iter.args[1])
            elif _is_call_of(node.iter, "range", 1):
                first = node.body[0]
                if (
                    isinstance(first, ast.Assign)
                    and len(first.targets) == 1
                    and isinstance(first.targets[0], ast.Name)
                    and _is_call_of(first.value, self.pops, 0)
                ):
                    replays[site(first.value)] = (node, first.targets[0].id, node.iter.args[0])
        for block in _blocks(self.node):
            for position, stmt in enumerate(block):
                after = block[position + 1] if position + 1 < len(block) else None
                plan = self._counter_of(stmt, after, replays)
                if plan is not None:
                    self.counted[id(stmt)] = plan
                    self.replayed[id(plan.replay)] = plan

    def _paired(self, pushed: str) -> str | None:
        """The one pop site that popped what a push site pushed, if one to one."""
        pops = self.popped_at.get(pushed, set())
        if len(pops) != 1:
            return None
        (popped,) = pops
        return popped if self.pushed_at.get(popped) == {pushed} else None

    def _counter_of(self, stmt: ast.stmt, after: ast.stmt | None, replays: dict) -> Any:
        if not (
            isinstance(stmt, ast.For)
            and isinstance(stmt.target, ast.Name)
            and _is_call_of(stmt.iter, "range")
            and 1 <= len(stmt.iter.args) <= 3
            and not stmt.orelse
            and stmt.body
        ):
            return None
        counter = stmt.target.id
        last = stmt.body[-1]
        if not (
            isinstance(last, ast.Expr)
            and _is_call_of(last.value, self.pushes, 1)
            and _is_name(last.value.args[0], counter)
        ):
            return None
        body = ast.Module(body=stmt.body, type_ignores=[])
        written = _stored_names(body) | {
            n.id for d in ast.walk(body) if isinstance(d, ast.Delete) for n in ast.walk(d)
            if isinstance(n, ast.Name)
        }  # fmt: skip
        if counter in written or any(
            isinstance(n, (ast.Break, ast.Continue)) for n in ast.walk(body)
        ):
            return None
        parts = [_range_part(a, written) for a in stmt.iter.args]
        if any(part is None for part in parts):
            return None
        start = parts[0] if len(parts) >= 2 else 0
        step = parts[2] if len(parts) == 3 else 1
        if step == 0:
            return None
        popped = self._paired(site(last.value))
        if popped is None or popped not in replays:
            return None
        replay, restored, count = replays[popped]
        if restored != counter:
            return None
        trips = _call("len", copy.deepcopy(stmt.iter))
        if (
            isinstance(after, ast.Expr)
            and _is_call_of(after.value, self.pushes, 1)
            and ast.dump(after.value.args[0]) == ast.dump(trips)
        ):
            if not _is_call_of(count, self.pops, 0) or self._paired(site(after.value)) != site(
                count
            ):
                return None
            count_pushed = True
        elif all(isinstance(p, int) for p in parts):
            constant = len(range(*parts))
            if not (isinstance(count, ast.Constant) and count.value == constant):
                return None
            count_pushed = False
        else:
            return None
        return _Counter(counter, start, step, replay, count_pushed)

    def _counted_loop(self, stmt: ast.For, plan: _Counter) -> list[ast.stmt]:
        """The forward loop without its counter's pushes; its start and step (where they
        are names) pushed after it, before its trip count."""
        stmt.body = self._block(stmt.body[:-1]) or [ast.copy_location(ast.Pass(), stmt)]
        saved = [part for part in (plan.start, plan.step) if isinstance(part, str)]
        return [stmt, *(s for part in saved for s in self._inline_push(_load(part)))]

    def _replayed_counter(self, stmt: ast.For, plan: _Counter) -> list[ast.stmt]:
        """The replayed loop counting its counter down instead of popping it."""
        before: list[ast.stmt] = []
        if plan.count_pushed:
            count: ast.expr = _load(self._fresh("count"))
            before += self._inline_pop(count.id, "int")
        else:
            count = copy.deepcopy(stmt.iter.args[-1])
        parts = {}
        for role in ("step", "start"):  # (popped in the reverse order of their pushes)
            part = getattr(plan, role)
            if isinstance(part, str):
                name = self._fresh(role)
                before += self._inline_pop(name, "int")
                parts[role] = name
            else:
                parts[role] = repr(part)
        following = self._fresh(f"next_{plan.counter}")
        before += _statements(
            f"{following} = {parts['start']} + {ast.unparse(count)} * {parts['step']}\n"
        )
        body = stmt.body if _is_call_of(stmt.iter, self.names.pop_run) else stmt.body[1:]
        counting = _statements(f"{following} -= {parts['step']}\n{plan.counter} = {following}\n")
        loop = ast.For(
            target=_store(self._fresh("run")),
            iter=_call("range", count),
            body=[*counting, *self._block(body)],
            orelse=[],
            type_comment=None,
        )
        return [*before, loop]

    def _counted_down(self, stmt: ast.For) -> list[ast.stmt]:
        """A replayed loop over ``reversed(range(a, b, c))`` (its counter recomputed by the
        ordinary pipeline, see ``reverse``) in the form ``_replayed_counter`` gives, which
        Numba takes (it has no ``reversed``) and the later rewrites read: counting down
        from ``a + n c``, ``n`` being the range's length."""
        arguments = stmt.iter.args[0].args
        start = ast.unparse(arguments[0]) if len(arguments) >= 2 else "0"
        stop = ast.unparse(arguments[1] if len(arguments) >= 2 else arguments[0])
        step = ast.unparse(arguments[2]) if len(arguments) == 3 else "1"
        counter = stmt.target.id
        count = self._fresh("count")
        following = self._fresh(f"next_{counter}")
        # (a step written in the code counts by arithmetic: Numba's len of a range object
        # compiled to code that kept the loops after it from being optimized as well, the
        # heat equation's gradient 6 us -> 9 us)
        try:
            constant = ast.literal_eval(step)
        except ValueError:
            constant = None
        if type(constant) is int and constant > 0:
            length = f"max(({stop} - ({start}) + {constant - 1}) // {constant}, 0)"
        elif type(constant) is int and constant < 0:
            length = f"max((({start}) - {stop} + {-constant - 1}) // {-constant}, 0)"
        else:
            length = f"len({ast.unparse(stmt.iter.args[0])})"
        before = _statements(f"{count} = {length}\n{following} = {start} + {count} * ({step})\n")
        counting = _statements(f"{following} -= {step}\n{counter} = {following}\n")
        loop = ast.For(
            target=_store(self._fresh("run")),
            iter=_call("range", _load(count)),
            body=[*counting, *self._block(stmt.body)],
            orelse=[],
            type_comment=None,
        )
        return [*before, loop]

    def _generic(self, helper: str, returns: list[str], *args: ast.expr) -> ast.stmt:
        stack = [_load(n) for n in STACK_NAMES]
        return _assign(returns, _call(helper, *stack, *args))

    def _inline_pop(self, target: str, cast: str) -> list[ast.stmt]:
        if not self.tagged:
            return _statements(
                f"{NUMBER_COUNT} -= 1\n"
                f"if {NUMBER_COUNT} < 0:\n"
                '    raise jit_OutOfStep("a saved value was popped out of step")\n'
                f"{target} = {cast}({NUMBERS}[{NUMBER_COUNT}])\n"
            )
        return _statements(
            f"{TAG_COUNT} -= 1\n"
            f"if {TAG_COUNT} < 0 or {TAGS}[{TAG_COUNT}] != {NUMBER_TAG}:\n"
            '    raise jit_OutOfStep("a saved value was popped out of step")\n'
            f"{NUMBER_COUNT} -= 1\n"
            f"{target} = {cast}({NUMBERS}[{NUMBER_COUNT}])\n"
        )

    def _pop(self, target: str, call: ast.AST, witness: ast.expr) -> list[ast.stmt]:
        cast = self._number_site(call)
        if cast:
            return self._inline_pop(target, cast)
        slot = self._array_slot(call)
        if slot is not None:
            # (an empty list's pop raises: the call runs uncompiled)
            self.slots.add(slot)
            made = [_assign([target], _method(f"{LISTS}[{slot}]", "pop"))]
            if not self.tagged:
                return made
            return [
                *_statements(
                    f"{TAG_COUNT} -= 1\n"
                    f"if {TAG_COUNT} < 0 or {TAGS}[{TAG_COUNT}] != {ARRAY_TAG + slot}:\n"
                    '    raise jit_OutOfStep("a saved value was popped out of step")\n'
                ),
                *made,
            ]
        return [self._generic("jit_pop", [TAG_COUNT, NUMBER_COUNT, target], witness)]

    def _pop_into(self, name: str, call: ast.Call) -> list[ast.stmt]:
        pushed = self.pushed_at.get(site(call), set()) if self.fused else set()
        if pushed and pushed & self.dropped_pushes:
            # What a dropped push (a number's shape, ``_push``) would have given back: the
            # pop goes too, as the probe paired them, so that the stack stays in step.
            if not pushed <= self.dropped_pushes:
                raise NotCompilable(
                    "a pop takes a number's shape from one push and other values from others",
                    call.lineno,
                )
            if name in self.number_shapes:
                return []  # (it holds that 0.0 already: a loop's body then binds it nowhere)
            return [_assign([name], ast.Constant(0.0))]
        if self._channel(name) is not None:
            channel, tag = self._channel(name), self._channel_tag(name)
            return _statements(
                f"{TAG_COUNT} -= 1\n"
                f"if {TAG_COUNT} < 0 or {TAGS}[{TAG_COUNT}] != {tag}:\n"
                '    raise jit_OutOfStep("a saved value was popped out of step")\n'
                f"{name} = {channel}.pop()\n"
            )
        if site(call) in self.shape_sites and name in self.shape_names:
            axes = [self._fresh(f"{name}_length") for _ in range(self.shape_sites[site(call)])]
            made = [s for axis in reversed(axes) for s in self._inline_pop(axis, "int")]
            shape = ast.Tuple(elts=[_load(a) for a in axes], ctx=ast.Load())
            return [*made, _assign([self.shape_names[name]], shape)]
        if name in self.shape_of and self.fused:
            kept = self.shape_of[name]
            if self._is_number_name(kept):
                return [_assign([name], ast.Constant(0.0))]
            return [self._generic("jit_pop_shape", [TAG_COUNT, NUMBER_COUNT, name], _load(kept))]
        return self._pop(name, call, _load(name))

    def _zero_start(self, name: str) -> ast.expr | None:
        """Zeros for a gradient that starts at ``0``: of its parameter, or of the array
        whose indexed reads it gathers."""
        for gradient, param in zip(self._returned_gradients(), self.gradient_params):
            if gradient == name and param is not None and param in self.params:
                return _call("jit_zeros_like", _load(param))
        target = self.scatter_target.get(name)
        if target is not None:
            return _call("jit_zeros_like", copy.deepcopy(target))
        return None

    def _returned_gradients(self) -> list[str]:
        last = self.node.body[-1] if self.node.body else None
        if not isinstance(last, ast.Return) or last.value is None:
            return []
        value = last.value
        if self.fused and isinstance(value, ast.Tuple) and len(value.elts) == 2:
            value = value.elts[1]  # (value, gradients)
        elts = value.elts if isinstance(value, ast.Tuple) else [value]
        return [e.id if isinstance(e, ast.Name) else "" for e in elts]

    def _pop_run(self, stmt: ast.For) -> list[ast.stmt]:
        """``for v in pop_run(stack, n): ...`` as ``n`` typed pops, one per iteration."""
        line = stmt.lineno
        if not isinstance(stmt.target, ast.Name) or stmt.orelse:
            raise NotCompilable("a replayed loop of an unexpected form", line)
        if any(_is_call_of(sub, self.pops) for s in stmt.body for sub in ast.walk(s)):
            raise NotCompilable("a replayed loop that pops inside its run", line)
        target = stmt.target.id
        witness = self._run_witness(stmt, target)
        count_arg = stmt.iter.args[1]
        before: list[ast.stmt] = []
        if _is_call_of(count_arg, self.pops, 0):
            count = self._fresh("count")
            before += self._inline_pop(count, "int")
            count_arg = _load(count)
        loop_counter = self._fresh("run")
        body = [*self._pop(target, stmt.iter, witness), *self._block(stmt.body)]
        loop = ast.For(
            target=_store(loop_counter),
            iter=_call("range", count_arg),
            body=body,
            orelse=[],
            type_comment=None,
        )
        return [*before, loop]

    def _run_witness(self, stmt: ast.For, target: str) -> ast.expr:
        """What has the type of the values a replayed loop iterates over: the name itself
        where the function binds it elsewhere, else the name the body copies it to."""
        elsewhere = set(self.params)
        for other in ast.walk(self.node):
            if other is stmt:
                continue
            if isinstance(other, (ast.Assign, ast.AugAssign, ast.For)):
                targets = other.targets if isinstance(other, ast.Assign) else [other.target]
                for t in targets:
                    elsewhere |= _stored_names(t)
        if target in elsewhere:
            return _load(target)
        for sub in stmt.body:
            if (
                isinstance(sub, ast.Assign)
                and isinstance(sub.value, ast.Name)
                and sub.value.id == target
                and len(sub.targets) == 1
                and isinstance(sub.targets[0], ast.Name)
            ):
                return _load(sub.targets[0].id)
        raise NotCompilable(
            f"cannot tell the type of the saved values {target} iterates", stmt.lineno
        )

    def _hoist_pops(self, stmt: ast.stmt) -> list[ast.stmt]:
        """Pops inside a statement's expressions (``range(pop())``, ``restore_item(x, i,
        pop())``) as typed pops into fresh names, before it."""
        if isinstance(stmt, ast.While):
            if any(_is_call_of(sub, self.pops) for sub in ast.walk(stmt.test)):
                raise NotCompilable("a pop in a while loop's condition", stmt.lineno)
            return []
        if isinstance(stmt, ast.For):
            roots: list[ast.AST] = [stmt.iter]
        elif isinstance(stmt, ast.If):
            roots = [stmt.test]
        else:
            roots = [stmt]
        found = sum(_is_call_of(sub, self.pops, 0) for root in roots for sub in ast.walk(root))
        if found > 1:
            # (hoisted in tree order, which need not be the order Python evaluates them)
            raise NotCompilable("several saved values read in one statement", stmt.lineno)
        before: list[ast.stmt] = []
        for root in roots:
            for parent in ast.walk(root):
                if not isinstance(parent, ast.Call):
                    continue
                for position, arg in enumerate(parent.args):
                    if _is_call_of(arg, self.pops, 0):
                        before += self._hoisted(parent, position, arg, stmt.lineno)
        return before

    def _hoisted(self, parent: ast.Call, position: int, call: ast.Call, line: int) -> list:
        fresh = self._fresh("popped")
        if _is_call_of(parent, "range") or _is_call_of(parent, self.names.pop_run):
            made = self._inline_pop(fresh, "int")
        elif _is_call_of(parent, self.names.restore_item, 3) and position == 2:
            container, index = parent.args[0], parent.args[1]
            witness = ast.Subscript(
                value=copy.deepcopy(container), slice=copy.deepcopy(index), ctx=ast.Load()
            )
            made = self._pop(fresh, call, witness)
        else:
            raise NotCompilable("a saved value read where its type is not known", line)
        parent.args[position] = _load(fresh)
        return made

    def _check_no_stack_left(self) -> None:
        """Every use of the list stack was rewritten (what is left would be a list)."""
        helpers = self.pushes | self.pops | self.names.pop_run | self.stacks
        for sub in ast.walk(self.node):
            if isinstance(sub, ast.Name) and sub.id in helpers and isinstance(sub.ctx, ast.Load):
                raise NotCompilable(
                    f"{sub.id} is used in a form the compiled gradient does not take",
                    getattr(sub, "lineno", None),
                )

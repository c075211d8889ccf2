"""factor: the gradient of a Cholesky factor's solves and log-determinant in closed form.

A Gaussian-process likelihood factors its matrix once and uses the factor for everything::

    L = np.linalg.cholesky(K)
    alpha = np.linalg.solve(L.T, np.linalg.solve(L, y))
    loss = 0.5 * y @ alpha + np.sum(np.log(np.diag(L)))

Rule by rule, the backward pass adds up ``L``'s cotangent as a dense matrix (a diagonal for
``np.diag``, an outer product per solve) and hands it to the Cholesky rule, which
multiplies it by ``L^T`` and solves twice with ``n`` right-hand sides. A hand-written
gradient uses the closed form ``(K^-1 - alpha alpha^T) / 2`` instead, from one inverse
of the factor.

This pass gives generated code the same: where every contribution to ``dL`` is one of

* ``diag_grad(v, L)`` (``np.diag(L)``): ``L^T dL`` has the diagonal ``L_ii v_i``;
* ``solve_grad_a(gb, x, L, b)`` for ``x = solve(L, b)``, ``gb = solve_adjoint(gx, L, b)``:
  ``L^T dL = -gx x^T``;
* ``np.transpose(dT)`` with ``dT = solve_grad_a(gb, x, T, b)`` for ``T = L.T``,
  ``x = solve(T, b)``: ``L^T dL = -b gb^T``;
* the same solves spelled ``scipy.linalg.solve_triangular`` (``L`` with ``lower=True``,
  ``L.T`` with ``lower=False``, either with ``trans``), each filed by the matrix it solves
  with in effect;
* ``adjoint_item(dv, 0)`` with ``v = (L, True)`` read by ``cho_solve(v, b)``: ``-(gb x^T +
  x gb^T)`` added to ``L^-T sym(L^T dL) L^-1`` directly,

the statements adding them up go, and ``hermitian_cholesky_grad(dL, L, K)`` becomes
``cholesky_factor_grad(L, K, diagonals, solves, transposed_solves[, cho_solves])``
(``runtime/rules/linalg_helpers.py``), which computes the same gradient from those parts:
two solves that together solve with ``K`` make ``L^T dL`` symmetric, and then the gradient
needs no product with ``L^T`` and no solve with ``n`` right-hand sides, only
``K^-1`` (LAPACK's ``potri``, where the diagonal parts are a multiple of ``1 / L_ii``)
and solves with the vectors. Anything else (another use of ``L`` whose contribution has
another form, a loop, a name bound twice) leaves the program as it is; the helper itself
computes the dense cotangent and calls the rule for values its closed form does not
cover (complex, batched, other dtypes, no SciPy).

Likewise ``scipy.linalg.cho_factor``'s gradient, where its factor is read only by
``np.diag(factor[0])`` and ``cho_solve(factor, b)``, becomes ``cho_factor_grad``; and
``inverse(K)`` in ``np.linalg.slogdet``'s and ``det``'s gradients, where the program also
computed ``L = np.linalg.cholesky(K)``, becomes ``cholesky_inverse(K, L)``. A read moved
to the Cholesky gradient must see the value it saw where it was: the backward pass
restores a name that the forward statements bind again, so right-hand sides must be bound
once (or be parameters never bound), and adjoints reset in between are copied first.
Names are looked up one at a time: each of the user's globals read is guarded on every
later call.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import gast
import numpy as np

from ..runtime.rules import linalg_helpers
from ..runtime.rules.containers import Parts
from ..runtime.rules.indexing import scatter_grad
from ..runtime.rules.linalg_complex import hermitian_cholesky_grad
from ..runtime.rules.rearranging import diag_grad
from ..runtime.rules.shared import inverse_axes, output_parts
from . import anno
from .context import TransformContext
from .dataflow import reads, statements, target_names
from .program import Program


@dataclass
class _Parts:
    """The contributions to one factor's cotangent, as the helper takes them."""

    diagonals: list[gast.expr] = field(default_factory=list)
    solves: list[tuple[gast.expr, str, str]] = field(default_factory=list)
    transposed: list[tuple[str, str, str]] = field(default_factory=list)
    cho_solves: list[tuple[str, str]] = field(default_factory=list)
    #: backward statements to remove (those adding into dL and dT)
    removed: set[int] = field(default_factory=set)
    #: (index, name): a copy of the adjoint ``name`` to bind before statement ``index``,
    #: since it is reset before the Cholesky gradient reads it
    captures: list[tuple[int, str, str]] = field(default_factory=list)
    namer: object = None
    #: names read where the Cholesky gradient is may read the same values (_stable_names)
    stable: set = field(default_factory=set)


class _NoMatch(Exception):
    """A contribution this pass does not know: the program stays as it is."""


def transform(program: Program, ctx: TransformContext) -> Program:
    """Guarantees: a ``hermitian_cholesky_grad`` call whose factor's cotangent is made
    only of the contributions listed in the module doc reads those parts instead, and the
    statements that added them up are gone; everything else is unchanged."""
    bound = _bindings(ctx)
    if not any(value is hermitian_cholesky_grad for value in bound.values()):
        return program
    primal = _forward_definitions(program)
    tried: set[int] = set()
    while True:  # (each rewrite moves the statements after it: look again from the top)
        found = [
            (index, call)
            for index, stmt in enumerate(program.backward)
            if (call := _cholesky_call(stmt, bound)) is not None and id(call) not in tried
        ]
        if not found:
            _known_triangles(program, ctx, primal, bound)
            return program
        index, call = found[0]
        tried.add(id(call))
        try:
            if call.args and isinstance(call.args[0], gast.Name):
                _rewrite(program, ctx, index, call, primal, bound)
            else:
                _rewrite_cho(program, ctx, index, call, primal, bound)
        except _NoMatch:
            continue


def _known_triangles(
    program: Program, ctx: TransformContext, primal: dict[str, gast.Assign], bound: _Bindings
) -> None:
    """``solve_adjoint(g, a, b)`` with ``a`` a Cholesky factor (or its ``.T``) gets
    ``lower=True`` (``False``): the factor is triangular by construction, so the solve
    need not check it."""
    factors = {name for name, stmt in primal.items() if _calls(stmt, np.linalg.cholesky, bound, 1)}
    lower = dict.fromkeys(factors, True)
    for name, stmt in primal.items():
        value = stmt.value
        if isinstance(value, gast.Attribute) and value.attr == "T":
            if isinstance(value.value, gast.Name) and value.value.id in factors:
                lower[name] = False
    once = _bound_once(program)
    inputs = {
        stmt.value.args[0].id: name
        for name, stmt in primal.items()
        if name in factors and stmt.value.args[0].id in once
    }
    if not lower:
        return
    for stmt in statements(program.backward):
        for node in _calls_in(stmt):
            if (
                _resolve(node.func, bound) is linalg_helpers.solve_adjoint
                and len(node.args) == 3
                and not node.keywords
                and isinstance(node.args[1], gast.Name)
                and node.args[1].id in lower
            ):
                flag = gast.Constant(lower[node.args[1].id], None)
                node.keywords = [gast.keyword("lower", flag)]
            elif (
                _resolve(node.func, bound) is linalg_helpers.inverse
                and len(node.args) == 1
                and not node.keywords
                and isinstance(node.args[0], gast.Name)
                and node.args[0].id in inputs
            ):
                # K^-1 (slogdet's, det's) from the factor of K the program computed
                helper = ctx.bind_free("cholesky_inverse", linalg_helpers.cholesky_inverse)
                node.func = _load(helper)
                node.args = [node.args[0], _load(inputs[node.args[0].id])]


class _Bindings:
    """What a name of the generated code reads: a helper bound for it, or the user's
    global. Only names asked for are looked up in the user's globals (each lookup there is
    recorded, and guarded on every later call: reading them all would guard them all)."""

    def __init__(self, ctx: TransformContext) -> None:
        self.own = {**ctx.resolved_globals, **ctx.free_values}
        self.user = ctx.parsed.globals

    def get(self, name: str):
        if name in self.own:
            return self.own[name]
        return self.user.get(name)

    def values(self):
        return self.own.values()


def _bindings(ctx: TransformContext) -> _Bindings:
    return _Bindings(ctx)


def _forward_definitions(program: Program) -> dict[str, gast.Assign]:
    """Names bound exactly once in the forward statements, at the top level, by a plain
    assignment: name -> statement. Parameters are left out (they hold the arguments
    before their one binding)."""
    once = _bound_once(program)
    found = {}
    for stmt in program.primal:
        if (
            isinstance(stmt, gast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], gast.Name)
            and stmt.targets[0].id in once
        ):
            found[stmt.targets[0].id] = stmt
    return found


def _stable_names(program: Program) -> set[str]:
    """Names that hold one value from their binding on: bound once in the forward
    statements, or parameters they never bind. (The backward pass restores a name that
    the forward statements bind again to its value at each statement, so a read moved to
    a later statement could see another value.)"""
    assigned = {name for stmt in statements(program.primal) for name in target_names(stmt)}
    args = program.node.args
    params = {a.id for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
    return _bound_once(program) | (params - assigned)


def _bound_once(program: Program) -> set[str]:
    """Names the forward statements bind exactly once, parameters left out."""
    counts: dict[str, int] = {}
    for stmt in statements(program.primal):
        for name in target_names(stmt):
            counts[name] = counts.get(name, 0) + 1
    args = program.node.args
    params = {a.id for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
    return {name for name, count in counts.items() if count == 1 and name not in params}


def _cholesky_call(stmt: gast.stmt, bound: _Bindings) -> gast.Call | None:
    """The ``hermitian_cholesky_grad(dL, L, K)`` call (``upper`` left at False) that
    ``stmt`` assigns, alone or added to the adjoint it assigns; or cho_factor's, whose
    first argument is ``_factor_triangle(gc, lower)``."""
    if not (isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name)):
        return None
    for value in _summands(stmt.value):
        if not (
            isinstance(value, gast.Call)
            and _resolve(value.func, bound) is hermitian_cholesky_grad
            and not value.keywords
        ):
            continue
        if len(value.args) == 3 and all(_is_name(a) for a in value.args):
            return value
        if len(value.args) == 4 and isinstance(value.args[0], gast.Call):
            return value
    return None


def _rewrite(
    program: Program,
    ctx: TransformContext,
    index: int,
    call: gast.Call,
    primal: dict[str, gast.Assign],
    bound: _Bindings,
) -> None:
    adjoint, factor, matrix = (a.id for a in call.args)
    definition = primal.get(factor)
    if definition is None or not _calls(definition, np.linalg.cholesky, bound, 1):
        raise _NoMatch
    backward = program.backward
    parts = _Parts(namer=ctx.namer, stable=_stable_names(program))
    for position, stmt in enumerate(backward[:index]):
        if adjoint not in reads(stmt) | target_names(stmt):
            continue
        if _is_reset(stmt, adjoint):
            continue
        terms = _terms(stmt, adjoint)
        for term in terms:
            _contribution(term, position, factor, primal, backward, bound, parts)
        parts.removed.add(position)
    if not (parts.diagonals or parts.solves or parts.transposed or parts.cho_solves):
        raise _NoMatch
    # Nothing after the Cholesky gradient may read dL (it is reset there, if anything).
    for stmt in backward[index + 1 :]:
        if adjoint in reads(stmt) or any(adjoint in reads(s) for s in statements([stmt])):
            raise _NoMatch
    # Nested statements (loops) in the backward part: the positions above are top-level
    # only, so a contribution inside one would be missed.
    if any(
        adjoint in reads(s) | target_names(s)
        for stmt in backward
        if not isinstance(stmt, gast.Assign)
        for s in statements([stmt])
    ):
        raise _NoMatch
    _apply(program, ctx, index, call, factor, matrix, parts)


def _rewrite_cho(
    program: Program,
    ctx: TransformContext,
    index: int,
    call: gast.Call,
    primal: dict[str, gast.Assign],
    bound: _Bindings,
) -> None:
    """``cho_factor``'s gradient, ``hermitian_cholesky_grad(_factor_triangle(gc, lower),
    ...) + _other_triangle(gc, lower)`` with ``gc = output_parts(dfactor, factor)[0]``,
    becomes ``cho_factor_grad(factor, K, diagonals, cho_solves)`` where every contribution
    to ``dfactor`` is ``np.diag(factor[0])``'s or a ``cho_solve(factor, b)``'s (the
    statements adding them up are then dead, for ``dead_code``)."""
    rules = sys.modules.get(linalg_helpers.__name__.rsplit(".", 1)[0] + ".scipy_rules")
    if rules is None:
        raise _NoMatch
    backward = program.backward
    stmt = backward[index]
    target = stmt.targets[0].id
    terms = _summands(stmt.value)
    accumulated = _is_name(terms[0], target)
    if accumulated:
        terms = terms[1:]
    if len(terms) != 2 or terms[0] is not call:
        raise _NoMatch
    triangle, other = call.args[0], terms[1]
    lower = _triangle_of(triangle, rules._factor_triangle, bound)
    if lower is None or _triangle_of(other, rules._other_triangle, bound) is not lower:
        raise _NoMatch
    gc = triangle.args[0].id
    if other.args[0].id != gc:
        raise _NoMatch
    # gc = output_parts(dfactor, factor)[0]
    definition = _definition_index(gc, backward)
    value = backward[definition].value if definition is not None else None
    if not (
        isinstance(value, gast.Subscript)
        and isinstance(value.slice, gast.Constant)
        and value.slice.value == 0
        and isinstance(value.value, gast.Call)
        and _resolve(value.value.func, bound) is output_parts
        and len(value.value.args) == 2
        and all(isinstance(a, gast.Name) for a in value.value.args)
    ):
        raise _NoMatch
    dfactor, factor = (a.id for a in value.value.args)
    matrix = _cho_factor_input(primal.get(factor), lower)
    if _reads_elsewhere(gc, backward, {definition, index}):
        raise _NoMatch
    parts = _Parts(namer=ctx.namer)
    cho_solves: list[tuple[str, str]] = []
    for position, s in enumerate(backward):
        if dfactor not in reads(s) | target_names(s) or position == definition:
            continue
        if _is_reset(s, dfactor):
            continue
        if position > index:
            raise _NoMatch
        for term in _terms(s, dfactor):
            _cho_contribution(term, factor, primal, backward, bound, rules, parts, cho_solves)
    if not (parts.diagonals or cho_solves):
        raise _NoMatch
    helper = ctx.bind_free("cho_factor_grad", linalg_helpers.cho_factor_grad)
    new_call = gast.Call(
        _load(helper),
        [
            _load(factor),
            _load(matrix),
            gast.Tuple(list(parts.diagonals), gast.Load()),
            gast.Tuple(
                [gast.Tuple([_load(gb), _load(x)], gast.Load()) for gb, x in cho_solves],
                gast.Load(),
            ),
        ],
        [],
    )
    stmt.value = gast.BinOp(_load(target), gast.Add(), new_call) if accumulated else new_call
    _insert_captures(program, parts)


def _load(name: str) -> gast.Name:
    return gast.Name(name, gast.Load(), None, None)


def _triangle_of(node: gast.expr, helper, bound: _Bindings) -> bool | None:
    """``lower`` of ``helper(name, lower)`` with ``lower`` a constant, else None."""
    if not (
        isinstance(node, gast.Call)
        and _resolve(node.func, bound) is helper
        and len(node.args) == 2
        and not node.keywords
        and isinstance(node.args[0], gast.Name)
        and isinstance(node.args[1], gast.Constant)
        and isinstance(node.args[1].value, bool)
    ):
        return None
    return node.args[1].value


def _cho_factor_input(definition: gast.Assign | None, lower: bool) -> str:
    """``K`` of ``factor = scipy.linalg.cho_factor(K, lower=lower)`` (``lower`` written
    as that constant, or left out where it is False)."""
    if definition is None or not isinstance(definition.value, gast.Call):
        raise _NoMatch
    value = definition.value
    callee = anno.get(definition, anno.Key.CALLEE)
    function = callee.value if callee is not None and callee.kind == "rule" else None
    if getattr(function, "__name__", "") != "cho_factor":
        raise _NoMatch
    if getattr(function, "__module__", "").split(".")[0] != "scipy":
        raise _NoMatch
    if len(value.args) != 1 or not isinstance(value.args[0], gast.Name):
        raise _NoMatch
    written = False
    for keyword in value.keywords:
        if keyword.arg != "lower" or not isinstance(keyword.value, gast.Constant):
            raise _NoMatch
        written = keyword.value.value
    if written is not lower:
        raise _NoMatch
    return value.args[0].id


def _reads_elsewhere(name: str, backward: list[gast.stmt], allowed: set) -> bool:
    """Whether a statement of ``backward`` other than those at ``allowed`` reads ``name``."""
    return any(name in reads(s) for i, s in enumerate(backward) if i not in allowed)


def _cho_contribution(
    term: gast.expr,
    factor: str,
    primal: dict[str, gast.Assign],
    backward: list[gast.stmt],
    bound: _Bindings,
    rules,
    parts: _Parts,
    cho_solves: list,
) -> None:
    """Record ``scatter_grad(d, factor, 0)`` with ``d = diag_grad(v, factor[0])``, or
    ``Parts([cho_solve_factor_grad(gb, x, factor), ...])`` for ``x = cho_solve(factor,
    b)``; raise _NoMatch for anything else."""
    if not isinstance(term, gast.Call) or term.keywords:
        raise _NoMatch
    helper = _resolve(term.func, bound)
    args = term.args
    if helper is scatter_grad and len(args) == 3:
        if not (
            _is_name(args[0])
            and _is_name(args[1], factor)
            and isinstance(args[2], gast.Constant)
            and args[2].value == 0
        ):
            raise _NoMatch
        index = _definition_index(args[0].id, backward)
        value = backward[index].value if index is not None else None
        if not (
            isinstance(value, gast.Call)
            and _resolve(value.func, bound) is diag_grad
            and len(value.args) == 2
            and not value.keywords
            and all(_is_name(a) for a in value.args)
            and _item_of(primal.get(value.args[1].id), factor)
        ):
            raise _NoMatch
        parts.diagonals.append(_captured(value.args[0].id, index, backward, parts))
        return
    if helper is Parts and len(args) == 1 and isinstance(args[0], gast.List):
        items = args[0].elts
        first = items[0] if len(items) == 2 else None
        if not (
            isinstance(first, gast.Call)
            and _resolve(first.func, bound) is rules.cho_solve_factor_grad
            and len(first.args) == 3
            and not first.keywords
            and all(_is_name(a) for a in first.args)
            and first.args[2].id == factor
        ):
            raise _NoMatch
        gb, x = first.args[0].id, first.args[1].id
        if not _is_cho_solve_with(primal.get(x), factor):
            raise _NoMatch
        if _written_after(gb, _definition_index(gb, backward), backward):
            raise _NoMatch
        cho_solves.append((gb, x))
        return
    raise _NoMatch


def _item_of(definition: gast.Assign | None, name: str) -> bool:
    """Whether ``definition`` is ``item = name[0]``."""
    value = definition.value if definition is not None else None
    return (
        isinstance(value, gast.Subscript)
        and _is_name(value.value, name)
        and isinstance(value.slice, gast.Constant)
        and value.slice.value == 0
    )


def _insert_captures(program: Program, parts: _Parts) -> None:
    """Bind the copies ``_captured`` asked for and drop the statements in ``removed``."""
    captures: dict[int, list] = {}
    for position, copy, original in parts.captures:
        captures.setdefault(position, []).append(
            gast.Assign([gast.Name(copy, gast.Store(), None, None)], _load(original), None)
        )
    backward = []
    for position, stmt in enumerate(program.backward):
        backward.extend(captures.get(position, []))
        if position not in parts.removed:
            backward.append(stmt)
    program.backward[:] = backward


def _is_reset(stmt: gast.stmt, name: str) -> bool:
    return (
        isinstance(stmt, gast.Assign)
        and _is_name(stmt.targets[0], name)
        and isinstance(stmt.value, gast.Constant)
        and stmt.value.value == 0
    )


def _terms(stmt: gast.stmt, adjoint: str) -> list[gast.expr]:
    """The contributions ``stmt`` adds into ``adjoint``: ``adjoint = t`` or ``adjoint =
    adjoint + t1 + t2 ...``."""
    if not (isinstance(stmt, gast.Assign) and len(stmt.targets) == 1):
        raise _NoMatch
    if not _is_name(stmt.targets[0], adjoint):
        raise _NoMatch
    terms = _summands(stmt.value)
    if _is_name(terms[0], adjoint):
        terms = terms[1:]
    if any(adjoint in reads(t) for t in terms):
        raise _NoMatch
    return terms


def _summands(node: gast.expr) -> list[gast.expr]:
    if isinstance(node, gast.BinOp) and isinstance(node.op, gast.Add):
        return _summands(node.left) + _summands(node.right)
    return [node]


def _contribution(
    term: gast.expr,
    position: int,
    factor: str,
    primal: dict[str, gast.Assign],
    backward: list[gast.stmt],
    bound: _Bindings,
    parts: _Parts,
) -> None:
    """Record what ``term`` (added into ``dL`` at ``position``) is, or raise _NoMatch."""
    if not isinstance(term, gast.Call):
        raise _NoMatch
    helper = _resolve(term.func, bound)
    args = term.args
    if helper is np.transpose:
        _transposed(term, position, factor, primal, backward, bound, parts)
        return
    if helper is _adjoint_item():
        _cho_solves_of_tuple(term, position, factor, primal, backward, bound, parts)
        return
    if term.keywords:
        raise _NoMatch
    if helper is diag_grad and len(args) == 2 and all(_is_name(a) for a in args):
        if args[1].id != factor:
            raise _NoMatch
        parts.diagonals.append(_captured(args[0].id, position, backward, parts))
        return
    _solve_term(term, factor, False, primal, backward, bound, parts)


def _solve_term(
    term: gast.expr,
    factor: str,
    of_transpose: bool,
    primal: dict[str, gast.Assign],
    backward: list[gast.stmt],
    bound: _Bindings,
    parts: _Parts,
) -> None:
    """Record a solve's contribution to the cotangent of ``L`` (``of_transpose``: of
    ``T = L.T``): ``solve_grad_a(gb, x, a, b)`` for ``x = np.linalg.solve(a, b)``, or
    ``triangular_grad_a(gb, x, trans, lower, False)`` for ``x =
    scipy.linalg.solve_triangular(a, b, ...)``, ``a`` being ``L`` or ``T``. Which
    matrix it solved with in effect (``L`` or ``L^T``) says which list takes it."""
    if not isinstance(term, gast.Call) or term.keywords:
        raise _NoMatch
    helper = _resolve(term.func, bound)
    args = term.args
    if not (len(args) >= 2 and _is_name(args[0]) and _is_name(args[1])):
        raise _NoMatch
    gb, x = args[0].id, args[1].id
    definition = primal.get(x)
    if helper is linalg_helpers.solve_grad_a and len(args) == 4:
        if not (_is_name(args[2]) and _is_name(args[3])):
            raise _NoMatch
        matrix, b = args[2].id, args[3].id
        if not _solves(definition, matrix, b, bound):
            raise _NoMatch
        transposed = False
    elif _is_triangular_grad(helper) and len(args) == 5:
        trans, lower, unit = (_constant(a) for a in args[2:])
        matrix, b, forward = _triangular_solve(definition, bound)
        if unit is not False or lower is not forward[0] or trans != forward[1]:
            raise _NoMatch
        transposed = trans in (1, "T")
        if trans not in (0, "N", 1, "T") or lower is not (matrix == factor):
            raise _NoMatch  # (a factor is lower triangular, its transpose upper)
    else:
        raise _NoMatch
    if of_transpose == (matrix == factor) or (
        of_transpose and not _is_transpose_of(primal.get(matrix), factor)
    ):
        raise _NoMatch
    index = _definition_index(gb, backward)
    if _written_after(gb, index, backward) or b not in parts.stable:
        raise _NoMatch
    if transposed == of_transpose:  # in effect a solve with L: L^T dL = -gx x^T
        gx = _cotangent_solved(backward[index], matrix, b, bound)
        parts.solves.append((_captured(gx, index, backward, parts), x, b))
    else:  # with L^T: L^T dL = -b gb^T
        parts.transposed.append((gb, x, b))


def _constant(node: gast.expr):
    if not isinstance(node, gast.Constant):
        raise _NoMatch
    return node.value


def _is_triangular_grad(helper) -> bool:
    rules = _scipy_rules()
    return rules is not None and helper is rules.triangular_grad_a


def _scipy_rules():
    """The SciPy rules' module where the program's SciPy has loaded it, else None."""
    return sys.modules.get(linalg_helpers.__name__.rsplit(".", 1)[0] + ".scipy_rules")


def _adjoint_item():
    from ..runtime.adjoints import adjoint_item

    return adjoint_item


def _triangular_solve(definition: gast.Assign | None, bound: _Bindings) -> tuple:
    """``(a, b, (lower, trans))`` of ``x = scipy.linalg.solve_triangular(a, b, ...)`` with
    constant ``lower`` and ``trans`` (and ``check_finite``), nothing else."""
    callee = anno.get(definition, anno.Key.CALLEE) if definition is not None else None
    value = definition.value if definition is not None else None
    if not (
        callee is not None
        and callee.kind == "rule"
        and getattr(callee.value, "__name__", "") == "solve_triangular"
        and getattr(callee.value, "__module__", "").split(".")[0] == "scipy"
        and isinstance(value, gast.Call)
        and len(value.args) == 2
        and all(_is_name(a) for a in value.args)
    ):
        raise _NoMatch
    given = {"lower": False, "trans": 0}
    for keyword in value.keywords:
        if keyword.arg not in ("lower", "trans", "check_finite"):
            raise _NoMatch
        given[keyword.arg] = _constant(keyword.value)
    return value.args[0].id, value.args[1].id, (given["lower"], given["trans"])


def _is_transpose_of(definition: gast.Assign | None, factor: str) -> bool:
    """Whether ``definition`` is ``T = factor.T``."""
    value = definition.value if definition is not None else None
    return isinstance(value, gast.Attribute) and value.attr == "T" and _is_name(value.value, factor)


def _cotangent_solved(definition: gast.stmt, matrix: str, b: str, bound: _Bindings) -> str:
    """``gx`` of ``gb = solve_adjoint(gx, matrix, b)`` or ``gb =
    _solve_triangular(matrix, gx, ...)``: the cotangent the solve's rule solved for."""
    value = definition.value
    if not isinstance(value, gast.Call):
        raise _NoMatch
    helper = _resolve(value.func, bound)
    args = value.args
    if helper is linalg_helpers.solve_adjoint and len(args) == 3 and not value.keywords:
        if _is_name(args[0]) and _is_name(args[1], matrix) and _is_name(args[2], b):
            return args[0].id
    rules = _scipy_rules()
    if rules is not None and helper is rules._solve_triangular and len(args) == 2:
        if _is_name(args[0], matrix) and _is_name(args[1]):
            return args[1].id
    raise _NoMatch


def _transposed(
    term: gast.Call,
    position: int,
    factor: str,
    primal: dict[str, gast.Assign],
    backward: list[gast.stmt],
    bound: _Bindings,
    parts: _Parts,
) -> None:
    """``np.transpose(dT, inverse_axes(None, dT.ndim))`` with ``T = L.T``: each write of
    ``dT`` must be a solve's contribution."""
    if not term.args or not isinstance(term.args[0], gast.Name):
        raise _NoMatch
    name = term.args[0].id
    axes = term.args[1:] + [k.value for k in term.keywords]
    # (the axes: inverse_axes(None, dT.ndim), every axis reversed)
    if len(axes) != 1 or _resolve(_func(axes[0]), bound) is not inverse_axes:
        raise _NoMatch
    inner_args = axes[0].args
    if not (
        inner_args and isinstance(inner_args[0], gast.Constant) and inner_args[0].value is None
    ):
        raise _NoMatch
    for i, stmt in enumerate(backward):
        if name not in reads(stmt) | target_names(stmt) or i == position:
            continue
        if i > position or _is_reset(stmt, name):
            if i > position and name in reads(stmt):
                raise _NoMatch
            continue
        for t in _terms(stmt, name):
            _solve_term(t, factor, True, primal, backward, bound, parts)
        parts.removed.add(i)


def _cho_solves_of_tuple(
    term: gast.Call,
    position: int,
    factor: str,
    primal: dict[str, gast.Assign],
    backward: list[gast.stmt],
    bound: _Bindings,
    parts: _Parts,
) -> None:
    """``adjoint_item(dv, 0)`` with ``v = (L, True)``, each write of ``dv`` a
    ``cho_solve(v, b)``'s ``Parts([cho_solve_factor_grad(gb, x, v), ...])``."""
    rules = _scipy_rules()
    args = term.args
    if rules is None or term.keywords or len(args) != 2 or not _is_name(args[0]):
        raise _NoMatch
    if _constant(args[1]) != 0:
        raise _NoMatch
    name = args[0].id
    tuple_name = None
    for i, stmt in enumerate(backward):
        if i == position or name not in reads(stmt) | target_names(stmt):
            continue
        if _is_reset(stmt, name):
            continue
        if i > position:
            raise _NoMatch
        for t in _terms(stmt, name):
            found = _cho_solve_part(t, bound, rules, primal)
            if found is None or tuple_name not in (None, found[2]):
                raise _NoMatch
            gb, x, tuple_name = found
            if _written_after(gb, _definition_index(gb, backward), backward):
                raise _NoMatch
            parts.cho_solves.append((gb, x))
    value = primal[tuple_name].value if tuple_name in primal else None
    if not (
        isinstance(value, gast.Tuple)
        and len(value.elts) == 2
        and _is_name(value.elts[0], factor)
        and isinstance(value.elts[1], gast.Constant)
        and value.elts[1].value is True
    ):
        raise _NoMatch


def _cho_solve_part(t: gast.expr, bound: _Bindings, rules, primal: dict) -> tuple | None:
    """``(gb, x, v)`` of ``Parts([cho_solve_factor_grad(gb, x, v), ...])`` for ``x =
    scipy.linalg.cho_solve(v, b)``; None for anything else."""
    if not (
        isinstance(t, gast.Call)
        and _resolve(t.func, bound) is Parts
        and len(t.args) == 1
        and isinstance(t.args[0], gast.List)
        and len(t.args[0].elts) == 2
    ):
        return None
    first = t.args[0].elts[0]
    if not (
        isinstance(first, gast.Call)
        and _resolve(first.func, bound) is rules.cho_solve_factor_grad
        and len(first.args) == 3
        and not first.keywords
        and all(_is_name(a) for a in first.args)
    ):
        return None
    gb, x, v = (a.id for a in first.args)
    if not _is_cho_solve_with(primal.get(x), v):
        return None
    return gb, x, v


def _is_cho_solve_with(solved: gast.Assign | None, factor: str) -> bool:
    """Whether ``solved`` is ``x = scipy.linalg.cho_solve(factor, b)``."""
    callee = anno.get(solved, anno.Key.CALLEE) if solved is not None else None
    return (
        callee is not None
        and callee.kind == "rule"
        and getattr(callee.value, "__name__", "") == "cho_solve"
        and getattr(callee.value, "__module__", "").split(".")[0] == "scipy"
        and not solved.value.keywords
        and len(solved.value.args) == 2
        and _is_name(solved.value.args[0], factor)
    )


def _definition_index(name: str, backward: list[gast.stmt]) -> int | None:
    found = [
        i for i, s in enumerate(backward) if name in target_names(s) and not _is_reset(s, name)
    ]
    if len(found) != 1 or not isinstance(backward[found[0]], gast.Assign):
        return None
    if not (len(backward[found[0]].targets) == 1 and _is_name(backward[found[0]].targets[0], name)):
        return None
    return found[0]


def _written_after(name: str, index: int | None, backward: list[gast.stmt]) -> bool:
    if index is None:
        return True
    return any(
        name in target_names(s) for stmt in backward[index + 1 :] for s in statements([stmt])
    )


def _captured(name: str, index: int | None, backward: list[gast.stmt], parts: _Parts) -> gast.expr:
    """A name holding ``name``'s value as it is right after statement ``index`` (before
    ``index + 1``), read later by the Cholesky gradient: ``name`` itself where nothing
    binds it again, else a copy bound there."""
    if index is None:
        raise _NoMatch
    if not _written_after(name, index, backward):
        return gast.Name(name, gast.Load(), None, None)
    copy = parts.namer.new(name)
    parts.captures.append((index + 1, copy, name))
    return gast.Name(copy, gast.Load(), None, None)


def _solves(definition: gast.Assign | None, matrix: str, b: str, bound: _Bindings) -> bool:
    """Whether ``definition`` is ``x = np.linalg.solve(matrix, b)``."""
    if definition is None or not _calls(definition, np.linalg.solve, bound, 2):
        return False
    args = definition.value.args
    return _is_name(args[0], matrix) and _is_name(args[1], b)


def _calls(stmt: gast.Assign, function, bound: _Bindings, count: int) -> bool:
    """Whether ``stmt`` assigns a call of ``function`` with ``count`` names, no keywords."""
    value = stmt.value
    if not isinstance(value, gast.Call) or value.keywords or len(value.args) != count:
        return False
    if not all(isinstance(a, gast.Name) for a in value.args):
        return False
    callee = anno.get(stmt, anno.Key.CALLEE)
    if callee is not None and callee.kind == "rule":
        return callee.value is function
    return _resolve(value.func, bound) is function


def _calls_in(stmt: gast.stmt) -> list[gast.Call]:
    """The calls in ``stmt`` itself (not in the statements nested in it)."""
    found, stack = [], [stmt]
    while stack:
        node = stack.pop()
        if isinstance(node, gast.Call):
            found.append(node)
        for child in gast.iter_child_nodes(node):
            if not isinstance(child, gast.stmt):
                stack.append(child)
    return found


def _func(node: gast.expr) -> gast.expr | None:
    return node.func if isinstance(node, gast.Call) else None


def _resolve(node: gast.expr | None, bound: _Bindings):
    """The object a name or dotted attribute of the generated code reads, or None."""
    if isinstance(node, gast.Name):
        return bound.get(node.id)
    if isinstance(node, gast.Attribute):
        owner = _resolve(node.value, bound)
        return getattr(owner, node.attr, None) if owner is not None else None
    return None


def _is_name(node: gast.expr | None, name: str | None = None) -> bool:
    return isinstance(node, gast.Name) and (name is None or node.id == name)


def _apply(
    program: Program,
    ctx: TransformContext,
    index: int,
    call: gast.Call,
    factor: str,
    matrix: str,
    parts: _Parts,
) -> None:
    helper = ctx.bind_free("cholesky_factor_grad", linalg_helpers.cholesky_factor_grad)

    def name(n):
        return gast.Name(n, gast.Load(), None, None)

    def tuple_of(items):
        return gast.Tuple(list(items), gast.Load())

    new_call = gast.Call(
        name(helper),
        [
            name(factor),
            name(matrix),
            tuple_of(parts.diagonals),
            tuple_of(tuple_of([gx, name(x), name(b)]) for gx, x, b in parts.solves),
            tuple_of(tuple_of([name(gb), name(x), name(b)]) for gb, x, b in parts.transposed),
            *(
                [tuple_of(tuple_of([name(gb), name(x)]) for gb, x in parts.cho_solves)]
                if parts.cho_solves
                else []
            ),
        ],
        [],
    )
    call.func, call.args, call.keywords = new_call.func, new_call.args, new_call.keywords
    _insert_captures(program, parts)

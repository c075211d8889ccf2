"""ranks: which names surely hold ints, and which surely hold arrays of a known ndim.

Element loops read arrays one number at a time (``u[i - 1] - 2 * u[i] + u[i + 1]``).
Whether ``u[i]`` is a number or a row decides what its gradient needs: a number needs no
``unbroadcast``, no saved shape, and its adjoint can be added into ``du`` in place. The
``shapes`` pass cannot tell from equal shapes alone; this pass finds the two facts it
takes:

* ``INT``: the name holds an int (a ``range`` loop's counter, ``len(...)``, an element of
  an array's ``shape``, int constants, and ``+ - * // %`` of those);
* an ndim ``k``: the name holds an array (or a number, ``k == 0``) of ``k`` dimensions;
  ``ndarray(k)`` when it is surely a NumPy array (a NumPy array argument, whose ndim is
  part of the argument kinds the derivative was made for; ``np.zeros(n)``; NumPy
  arithmetic of those), which ``accumulate`` may change in place element by element.

Then ``u[i]``, ``u`` of ndim ``k`` and ``i`` an ``INT``, has ndim ``k - 1`` (and ``k - j``
for ``j`` int indices). Like the shape classes, the facts hold for every binding of a
name: they are a fixpoint over all of them, loops included, and a name whose bindings
disagree has none.
"""

from __future__ import annotations

import builtins
import operator
from typing import Any

import gast
import numpy as np

from ..runtime.rules.einsum_products import contraction_subscripts, plain_terms
from . import anno
from .context import TransformContext
from .dataflow import all_names
from .walk import walk

#: the fact of a name that surely holds an int (of ndim 0)
INT = "int"
#: the fact of a name holding an array's ``shape``: a tuple of ints
SHAPE = "shape"
#: a name whose bindings disagree
CONFLICT = "conflict"
#: the tag of the fact of a name holding ints written in the code: ``(LITERAL, (1, 0),
#: holds a list)``, lists read as tuples
LITERAL = "literal"


def ndarray(k: int) -> tuple[str, int]:
    """The fact of a name that surely holds a NumPy array of ``k`` dimensions."""
    return ("ndarray", k)


def items(facts: tuple) -> tuple[str, tuple]:
    """The fact of a name that surely holds a list or tuple whose items have ``facts``,
    in order (a model's weights, ``W1, b1, W2, b2 = params``): an item read at an int
    written in the code has its fact. An argument's only where nothing can change the list
    (``ctx.unchanged_params``); a tuple's written in the code (whose items nothing can
    rebind)."""
    return ("items", facts)


#: comparisons that are elementwise on arrays (not ``in`` or ``is``)
_ORDERINGS = (gast.Lt, gast.LtE, gast.Gt, gast.GtE, gast.Eq, gast.NotEq)
_INT_OPS = (gast.Add, gast.Sub, gast.Mult, gast.FloorDiv, gast.Mod)
#: NumPy functions that make an array from a shape given first
_FROM_SHAPE = {np.zeros, np.ones, np.empty, np.full}
#: NumPy functions that make an array of the numbers in a list
_FROM_NUMBERS = {np.array, np.asarray}
#: NumPy functions that make an array of their first argument's shape
_LIKE = {np.zeros_like, np.ones_like, np.empty_like, np.full_like, np.copy}
#: keywords that leave the ndim of what the functions above make alone
_PLAIN_KEYWORDS = {"dtype", "order"}
#: products whose result's ndim follows from the operands' (``product``)
_PRODUCTS = {np.dot, np.matmul}
#: elementwise primitives that are not ufuncs
_ELEMENTWISE = {np.where}
#: reductions whose result's ndim follows from the axes they reduce (``_reduction``)
_REDUCTIONS = {np.sum, np.mean, np.max, np.min, np.amax, np.amin, np.prod, np.std, np.var}
_NUMBERS = {builtins.float}
_INTS = {builtins.len, builtins.int, operator.index}


def infer(bindings: list[tuple], ctx: TransformContext) -> dict[str, Any]:
    """name -> ``INT``, ``SHAPE`` or an ndim, for the names every binding of which (in
    ``bindings``, as ``shapes._bindings`` lists them) surely gives that; names with no
    fact are left out."""
    facts: dict[str, Any] = {}
    for param in ctx.parsed.params:
        kind = ctx.param_kinds.get(param, ())
        if kind[:2] == ("value", "ndarray"):
            facts[param] = ndarray(kind[2])
        elif _array_items(kind) and param in ctx.unchanged_params:
            facts[param] = items(tuple(ndarray(k[2]) if k[2] else 0 for k in kind[2]))
        elif kind[1:2] == ("float",):
            facts[param] = 0
        elif kind[1:2] == ("int",):
            facts[param] = INT
    given = dict(facts)  # a parameter's kind is a fact of its first binding
    locals_ = ctx.local_names
    serials: dict[str, list[int]] = {}
    for serial, (name, _, _, _) in enumerate(bindings):
        serials.setdefault(name, []).append(serial)
    forced: set[str] = set()  # names a binding of which could not be decided
    # An optimistic fixpoint: a binding that reads a local name with no fact yet waits
    # (None); a name's fact is what all its decided bindings give, joined. Passes in
    # source order decide a chain of statements in one pass (a loop in a few), until one
    # changes nothing. A name keeps a fact only when every binding gives it, given the
    # facts of what they read; so by induction over a run, every value bound to the name
    # has it. Bindings still waiting then (names that read each other and nothing else)
    # make their names conflicts, and the search starts again.
    for _ in range(len(bindings) + 1):
        facts = dict(given)
        facts.update((name, CONFLICT) for name in forced)
        decided: list[Any] = [None] * len(bindings)
        for _ in range(_PASSES):
            changed = False
            for serial, (name, value, stmt, _) in enumerate(bindings):
                if name in forced:
                    continue
                here = _fact_of_value(value, stmt, facts, locals_)
                before = decided[serial]
                if here == before:
                    continue
                decided[serial] = here
                changed = True
                if before is None and name in facts:
                    # (a first decision: joined onto what the others give, which ``facts``
                    # holds; ``join`` is a semilattice's, so in any order. Joining all of
                    # them again made a name bound n times cost n * n.)
                    fact = join(facts[name], here)
                else:
                    fact = given.get(name)
                    for other in serials[name]:
                        if decided[other] is not None:
                            fact = decided[other] if fact is None else join(fact, decided[other])
                if fact is None:
                    facts.pop(name, None)  # (its bindings all wait)
                else:
                    facts[name] = fact
            if not changed:
                break
        else:
            return {}  # no fixpoint: know nothing rather than something wrong
        waiting = {bindings[s][0] for s, fact in enumerate(decided) if fact is None} - forced
        if not waiting:
            return {name: fact for name, fact in facts.items() if fact != CONFLICT}
        forced |= waiting
    return {}


#: passes over the bindings before ``infer`` gives up (each pass decides a chain of
#: statements in source order; a loop's facts settle in a few)
_PASSES = 32


def of(node: gast.expr, facts: dict[str, Any]) -> Any:
    """The fact of an operand (a name, a constant, ``u[i]``), or None."""
    if isinstance(node, gast.Constant):
        value = node.value
        if type(value) is int:
            return INT
        return 0 if type(value) is float else None
    if isinstance(node, gast.Name):
        return facts.get(node.id)
    if isinstance(node, gast.Subscript):
        container = of(node.value, facts)
        index = node.slice
        if type(container) is tuple and container[0] == "items":
            position = _written_int_value(index)
            known = container[1]
            if position is None and of(index, facts) == INT and known:
                # (at an int the code computes: what every item is, where all agree)
                return known[0] if all(fact == known[0] for fact in known) else None
            return (
                known[position]
                if position is not None and -len(known) <= position < len(known)
                else None
            )
        parts = index.elts if isinstance(index, gast.Tuple) else [index]
        if not all(of(part, facts) == INT for part in parts):
            return None  # slices, masks, arrays of indices, None: not one element
        if container == SHAPE:
            return INT if len(parts) == 1 else None
        k = ndim(container) if container != INT else None
        if k is not None and len(parts) <= k:
            # A NumPy array's element is a NumPy scalar, not an array: only its rows are.
            rest = k - len(parts)
            return ndarray(rest) if is_numpy(container) and rest else rest
    return None


def join(first: Any, second: Any) -> Any:
    """What two bindings' facts say of the name: the fact they share, an ndim where one
    is a NumPy array and the other may not be, else CONFLICT."""
    if first == second:
        return first
    if ndim(first) is not None and ndim(first) == ndim(second) and INT not in (first, second):
        return ndim(first)
    return CONFLICT


def ndim(fact: Any) -> int | None:
    """The ndim a fact says (an int has 0), or None."""
    if fact == INT:
        return 0
    if type(fact) is tuple:
        return fact[1] if fact[0] == "ndarray" else None
    return fact if type(fact) is int else None


def is_numpy(fact: Any) -> bool:
    """Whether the fact says the value is surely a NumPy array."""
    return type(fact) is tuple and fact[0] == "ndarray"


def is_int_index(node: gast.expr, facts: dict[str, Any]) -> bool:
    """Whether ``node`` surely evaluates to an int (or a tuple of ints): a name or
    constant that is one, or ``+ - *`` of those (``i - 1``)."""
    if isinstance(node, gast.Tuple):
        return all(is_int_index(e, facts) for e in node.elts)
    if isinstance(node, gast.BinOp):
        return (
            isinstance(node.op, _INT_OPS)
            and is_int_index(node.left, facts)
            and is_int_index(node.right, facts)
        )
    if isinstance(node, gast.UnaryOp):
        return isinstance(node.op, (gast.USub, gast.UAdd)) and is_int_index(node.operand, facts)
    return not isinstance(node, gast.Tuple) and of(node, facts) == INT


def _fact_of_value(
    value: gast.expr | None, stmt: gast.stmt, facts: dict[str, Any], locals_: set[str]
) -> Any:
    """What ``value`` evaluates to: a fact, CONFLICT when nothing can be said, or None
    when it reads a local name that has no fact yet (decided in a later round)."""
    if value is None:
        return _loop_item(stmt, facts, locals_)
    if any(name in locals_ and name not in facts for name in all_names(value)):
        return None
    if isinstance(value, (gast.Constant, gast.Name, gast.Subscript)):
        found = of(value, facts)
        return CONFLICT if found is None else found  # (0, a number's ndim, is a fact)
    if isinstance(value, (gast.Tuple, gast.List)):
        return _display(value, stmt, facts)
    if isinstance(value, gast.Attribute) and isinstance(value.value, gast.Name):
        if ndim(facts.get(value.value.id)) is None or facts[value.value.id] == INT:
            return CONFLICT
        if value.attr == "shape":
            return SHAPE
        if value.attr in ("ndim", "size"):
            return INT
        return CONFLICT
    if isinstance(value, gast.BinOp):
        if isinstance(value.op, gast.MatMult):
            return product(of(value.left, facts), of(value.right, facts), np.matmul)
        return _elementwise([value.left, value.right], value.op, facts)
    if isinstance(value, gast.UnaryOp) and isinstance(value.op, (gast.USub, gast.UAdd)):
        return _elementwise([value.operand], gast.Sub(), facts)
    if (
        isinstance(value, gast.Compare)
        and len(value.ops) == 1
        and isinstance(value.ops[0], _ORDERINGS)
    ):
        # ``z > 0``: elementwise, as a ufunc (a bool for two numbers, of ndim 0 too)
        return _broadcast([of(value.left, facts), of(value.comparators[0], facts)])
    if isinstance(value, gast.Call):
        return _fact_of_call(value, stmt, facts)
    return CONFLICT


def _loop_item(stmt: gast.stmt, facts: dict[str, Any], locals_: set[str]) -> Any:
    """The fact of ``W`` in ``for W in weights:`` (a list whose items share one fact, or
    an array, whose rows have one less axis); CONFLICT for any other binding that is not
    an assignment of one value (unpacking, other loops)."""
    if not (
        isinstance(stmt, gast.For)
        and isinstance(stmt.target, gast.Name)
        and isinstance(stmt.iter, gast.Name)
    ):
        return CONFLICT
    if stmt.iter.id in locals_ and stmt.iter.id not in facts:
        return None
    container = facts.get(stmt.iter.id)
    if type(container) is tuple and container[0] == "items":
        first = container[1][0] if container[1] else None
        same = first is not None and all(fact == first for fact in container[1])
        return first if same else CONFLICT
    k = ndim(container)
    if not k or container == INT:
        return CONFLICT
    return ndarray(k - 1) if is_numpy(container) and k > 1 else k - 1


def product(left: Any, right: Any, function: Any) -> Any:
    """The fact of ``function(a, b)`` (``np.matmul``, ``a @ b``, or ``np.dot``) for operands
    with the facts ``left`` and ``right``: two vectors give a number; ``matmul`` drops a
    vector's axis and broadcasts the rest, ``dot`` contracts the last axis of one with the
    second-last (or only) of the other, and scales by a number."""
    p, q = ndim(left), ndim(right)
    if p is None or q is None:
        return CONFLICT
    if p == 0 or q == 0:
        return CONFLICT if function is np.matmul else _broadcast([left, right])
    if function is np.matmul:
        k = p - 1 if q == 1 else q - 1 if p == 1 else max(p, q)
    else:
        k = p + q - 2
    return ndarray(k) if k and is_numpy(left) and is_numpy(right) else k


def _reduction(args: list[gast.expr], keywords: list[gast.keyword], facts: dict[str, Any]) -> Any:
    """The fact of ``np.sum(x, axis=1, keepdims=True)`` and the like: ``x``'s ndim with
    ``keepdims``, less one per axis reduced without it (a number for all of them), where
    the axes and ``keepdims`` are written in the code."""
    found = of(args[0], facts)
    k = ndim(found)
    if k is None or found == INT or len(args) > 2:
        return CONFLICT
    axis: gast.expr | None = args[1] if len(args) == 2 else None
    keepdims = False
    for keyword in keywords:
        if keyword.arg == "axis" and axis is None:
            axis = keyword.value
        elif keyword.arg == "keepdims" and isinstance(keyword.value, gast.Constant):
            keepdims = keyword.value.value is True
        elif keyword.arg != "dtype":
            return CONFLICT
    if keepdims:
        left = k
    elif axis is None or (isinstance(axis, gast.Constant) and axis.value is None):
        left = 0
    else:
        axes = axis.elts if isinstance(axis, gast.Tuple) else [axis]
        if not all(_written_int(a) for a in axes):
            return CONFLICT
        left = k - len(axes)
        if left < 0:
            return CONFLICT
    return ndarray(left) if left and is_numpy(found) else left


def _written_int(node: gast.expr) -> bool:
    return _written_int_value(node) is not None


def _written_int_value(node: gast.expr) -> int | None:
    """The int written in the code at ``node`` (``2``, ``-1``), or None."""
    sign = 1
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub):
        node, sign = node.operand, -1
    if isinstance(node, gast.Constant) and type(node.value) is int:
        return sign * node.value
    return None


def literal(node: gast.expr, facts: dict[str, Any] | None = None) -> object:
    """The int, or tuple of ints and tuples of them, written in the code at ``node``
    (``axes=([1], [0])``, lists read as tuples), or held by a name of a ``LITERAL`` fact;
    None for anything else."""
    found = _written_int_value(node)
    if found is not None:
        return found
    if isinstance(node, (gast.List, gast.Tuple)):
        elements = tuple(literal(e, facts) for e in node.elts)
        return None if any(e is None for e in elements) else elements
    if isinstance(node, gast.Name) and facts:
        fact = facts.get(node.id)
        if type(fact) is tuple and fact[0] == LITERAL:
            return fact[1]
    return None


def _display(value: gast.List | gast.Tuple, stmt: gast.stmt, facts: dict[str, Any]) -> Any:
    """The fact of a tuple or list written in the code. Its ints (``LITERAL``) where it
    holds only ints and tuples of them, or lists of them in temporaries of ``normalize``
    (each read once, by what it was written in: ``np.tensordot(a, b, axes=([1], [0]))``
    leaves ``value = [1]; value_2 = [0]; value_3 = value, value_2``), which nothing else
    can change. Else, for a tuple, its items' facts (``items``; a tuple's items cannot be
    rebound), where all are known."""
    written = literal(value, facts)
    temporary = anno.get(stmt, anno.Key.TEMPORARY)
    if written is not None and (temporary or not _holds_list(value, facts)):
        return (LITERAL, written, isinstance(value, gast.List) or _holds_list(value, facts))
    if isinstance(value, gast.List):
        return CONFLICT
    found = tuple(of(e, facts) for e in value.elts)
    return items(found) if all(f is not None and f != CONFLICT for f in found) else CONFLICT


def _holds_list(value: gast.expr, facts: dict[str, Any]) -> bool:
    """Whether a display holds a list, directly or through a name of a ``LITERAL`` fact."""
    for node in walk(value):
        if isinstance(node, gast.List):
            return True
        fact = facts.get(node.id) if isinstance(node, gast.Name) else None
        if type(fact) is tuple and fact[0] == LITERAL and fact[2]:
            return True
    return False


def _array_items(kind: tuple) -> bool:
    """Whether an argument's kind is a list's or tuple's of NumPy arrays (astgrad.api)."""
    return (
        kind[:1] in (("list",), ("tuple",))
        and len(kind) > 2
        and all(k[:2] == ("value", "ndarray") for k in kind[2])
    )


def _einsum(args: list[gast.expr], facts: dict[str, Any]) -> Any:
    """The fact of ``np.einsum("ij,kj->ik", x, A)``: as many axes as the output has
    letters, where each operand's ndim is its term's (literal, plain subscripts)."""
    if not (args and isinstance(args[0], gast.Constant) and isinstance(args[0].value, str)):
        return CONFLICT
    found = plain_terms(args[0].value, len(args) - 1)
    if found is None:
        return CONFLICT
    terms, output = found
    operands = [of(arg, facts) for arg in args[1:]]
    if any(ndim(fact) != len(term) for fact, term in zip(operands, terms)):
        return CONFLICT
    numpy = all(is_numpy(fact) or ndim(fact) == 0 for fact in operands)
    return ndarray(len(output)) if output and numpy else len(output)


def _contraction(
    primitive: Any, args: list[gast.expr], keywords: list[gast.keyword], facts: dict[str, Any]
) -> Any:
    """The fact of ``np.tensordot(a, b, axes=1)`` (axes written in the code, or left out)
    or ``np.inner(a, b)``: the ndim its subscripts give."""
    if len(args) < 2 or any(keyword.arg != "axes" for keyword in keywords):
        return CONFLICT
    written = args[2:] + [keyword.value for keyword in keywords]
    if len(written) > 1:
        return CONFLICT
    axes = literal(written[0], facts) if written else 2
    found = [of(args[0], facts), of(args[1], facts)]
    p, q = ndim(found[0]), ndim(found[1])
    if p is None or q is None or INT in found:
        return CONFLICT
    subscripts = contraction_subscripts(primitive.__name__, p, q, axes)
    if subscripts is None or (primitive is np.inner and written):
        return CONFLICT
    k = len(subscripts.partition("->")[2])
    return ndarray(k) if k and all(is_numpy(f) for f in found) else k


def _elementwise(operands: list[gast.expr], op: gast.operator, facts: dict[str, Any]) -> Any:
    found = [of(operand, facts) for operand in operands]
    if all(fact == INT for fact in found) and isinstance(op, _INT_OPS):
        return INT
    return _broadcast(found)


def _broadcast(found: list[Any]) -> Any:
    """The fact of an elementwise result: the largest ndim; a NumPy array when every
    operand is a NumPy array or a number (NumPy's arithmetic then makes one)."""
    ndims = [ndim(fact) for fact in found]
    if None in ndims:
        return CONFLICT
    k = max(ndims)
    numpy = all(is_numpy(fact) or ndim(fact) == 0 for fact in found)
    return ndarray(k) if k and numpy else k


def _fact_of_call(value: gast.Call, stmt: gast.stmt, facts: dict[str, Any]) -> Any:
    callee = anno.get(stmt, anno.Key.CALLEE)
    if callee is None:
        return CONFLICT
    rule = getattr(callee, "rule", None)
    primitive = rule.primitive if rule is not None else getattr(callee, "value", None)
    receiver = getattr(callee, "receiver", None)
    if receiver is not None:
        # ``u.copy()``: what u is (a NumPy array's copy is one); other methods (``x.sum(0)``
        # is np.sum(x, 0), say) are not followed here.
        if _in(primitive, {np.copy}) and not value.args and not value.keywords:
            found = of(receiver, facts)
            return found if ndim(found) is not None and found != INT else CONFLICT
        if _in(primitive, _PRODUCTS) and len(value.args) == 1 and not value.keywords:
            found = of(receiver, facts)  # (x.dot(W): x a NumPy array, the method NumPy's)
            if not is_numpy(found):
                return CONFLICT
            return product(found, of(value.args[0], facts), primitive)
        return CONFLICT
    args = value.args
    if any(isinstance(arg, gast.Starred) for arg in args):
        return CONFLICT
    plain = all(keyword.arg in _PLAIN_KEYWORDS for keyword in value.keywords)
    if primitive in _INTS and len(args) == 1 and not value.keywords:
        return INT if primitive is not builtins.int or ndim(of(args[0], facts)) == 0 else CONFLICT
    if primitive in _NUMBERS or getattr(primitive, "__module__", None) == "math":
        return 0
    if _in(primitive, _FROM_SHAPE) and args and plain:
        shape = args[0]
        # (NumPy's own factories: with no array argument, they make NumPy arrays.)
        if of(shape, facts) == INT:
            return ndarray(1)
        if isinstance(shape, gast.Tuple) and all(of(e, facts) == INT for e in shape.elts):
            return ndarray(len(shape.elts)) if shape.elts else 0
        found = of(shape, facts)  # (a tuple made in a statement of its own)
        written = literal(shape, facts)
        if isinstance(written, tuple) and all(type(e) is int for e in written):
            return ndarray(len(written)) if written else 0
        if type(found) is tuple and found[0] == "items" and all(f == INT for f in found[1]):
            return ndarray(len(found[1])) if found[1] else 0
        return CONFLICT
    if _in(primitive, _FROM_NUMBERS) and len(args) == 1 and plain:
        elements = args[0]
        if isinstance(elements, (gast.List, gast.Tuple)) and all(
            ndim(of(e, facts)) == 0 for e in elements.elts
        ):
            return ndarray(1)  # np.array([y0, 1.0])
        return CONFLICT
    if _in(primitive, _LIKE) and len(args) >= 1 and plain:
        found = of(args[0], facts)
        k = ndim(found)
        if k is None:
            return CONFLICT
        return ndarray(k) if is_numpy(found) and k else k  # (of a NumPy array, one too)
    if _in(primitive, {np.einsum}) and all(k.arg == "optimize" for k in value.keywords):
        return _einsum(args, facts)
    if _in(primitive, _REDUCTIONS) and args:
        return _reduction(args, value.keywords, facts)
    if _in(primitive, {np.linalg.norm}) and 1 <= len(args) <= 2:
        if all(keyword.arg == "ord" for keyword in value.keywords):
            return 0  # the norm of all of x (its vector or matrix norm), or an error
    if _in(primitive, {np.tensordot, np.inner}):
        return _contraction(primitive, args, value.keywords, facts)
    if value.keywords:
        return CONFLICT
    if _in(primitive, _PRODUCTS) and len(args) == 2:
        return product(of(args[0], facts), of(args[1], facts), primitive)
    if (
        isinstance(primitive, np.ufunc)
        and primitive.nin == len(args)
        and primitive.nout == 1
        and primitive.signature is None  # (np.matmul, np.vecdot: not elementwise)
    ) or (_in(primitive, _ELEMENTWISE) and len(args) == 3):  # (np.where of one: a tuple)
        return _broadcast([of(arg, facts) for arg in args])
    return CONFLICT


def _in(primitive: Any, functions: set) -> bool:
    try:
        return primitive in functions
    except TypeError:  # (an unhashable callee)
        return False

"""algebra: a sum of products, rewritten to cost fewer operations.

``fuse`` merges what one user line sends to one gradient into a sum such as
``da * (0.01 * a) + da * a * 0.01 + da * 0.99``. This module takes out the name that most
terms multiply (``da * (0.01 * a + a * 0.01 + 0.99)``) and adds up the terms that differ
only in their numeric factor (``da * (0.02 * a + 0.99)``): two operations where there
were eight.

The rewrites hold for ``*`` and ``+`` on numbers and on arrays alike: NumPy applies both
elementwise, with broadcasting, so they commute, associate and distribute, and the
result has the same shape and dtype. Only rounding can differ, as it differs between any
two ways of writing the same formula. Anything that is not a product of factors (a call,
a subtraction, a division) is one opaque factor, compared by its source.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gast

from .build import load
from .walk import is_call_on_name, is_helper_call, rewrite

_NUMBER = (int, float)


@dataclass
class _Term:
    """``coefficient * factors[0] * factors[1] * ...``; ``coefficient`` None when the term
    had no numeric factor (so none is written back)."""

    coefficient: int | float | None
    factors: list[gast.expr] = field(default_factory=list)


def simplify(expression: gast.expr) -> gast.expr:
    """``expression`` with common name factors taken out and like terms added up.

    Returns ``expression`` itself when it is not a sum of at least two terms.
    """
    summands = _summands(expression)
    if len(summands) < 2:
        # A product whose factor is a sum (``r2 * (d * r2 + 2 * (d * r2))``, once a
        # temporary folded into it) has that sum simplified.
        if isinstance(expression, gast.BinOp) and isinstance(expression.op, gast.Mult):
            left, right = simplify(expression.left), simplify(expression.right)
            if left is not expression.left or right is not expression.right:
                return gast.BinOp(left=left, op=gast.Mult(), right=right)
        return expression
    return _sum(_factored([_term(s) for s in summands]))


def tidy(
    expression: gast.expr,
    negatable: frozenset[str] = frozenset(),
    numbers: frozenset[str] = frozenset(),
) -> gast.expr:
    """``expression`` with negations that cancel removed: ``-(-a * b / c)`` is
    ``a * b / c`` (a sign flip is exact, and commutes with ``*`` and ``/``). A negation
    of a chain of ``*`` and ``/``, or of its leftmost operand, moves onto a factor where it
    costs least: a number written in the code or a name in ``numbers`` (``-g * e / s``
    is ``g * e / -s``), else the leftmost operand when it is a name in ``negatable``
    (``-(g / (1 + e) * e)`` is ``-g / (1 + e) * e``). The same bits either way (the sign of
    a product or quotient is its operands' signs, its magnitude theirs; a NaN's sign bit
    aside), and a flip of a number costs nothing where one of an array is a pass over it.
    Only names that hold numbers or float arrays are given: ``-`` of a bool array raises."""

    def tidy_node(node: gast.AST) -> gast.AST:
        # (its operands are tidied already: ``rewrite`` goes bottom up)
        if isinstance(node, gast.UnaryOp):
            if not isinstance(node.op, gast.USub):
                return node
            if _negated(node.operand):
                return _negate(node.operand)
            if _leftmost_name(node.operand) in numbers:
                return _negate_leftmost(node.operand)
            moved = _onto_number(node.operand, numbers)
            if moved is not None:
                return moved
            if _leftmost_name(node.operand) in negatable:
                return _negate_leftmost(node.operand)
            return node
        if isinstance(node, gast.BinOp):
            # (-a) * b / s, a an array: the sign onto s
            if not (isinstance(node.op, _CHAIN) and _negated(node)):
                return node
            positive = _negate(node)
            if _leftmost_name(positive) in numbers:
                return node
            moved = _onto_number(positive, numbers)
            return node if moved is None else moved
        return node

    return rewrite(expression, tidy_node)


def _onto_number(chain: gast.expr, numbers: frozenset[str]) -> gast.expr | None:
    """``-chain`` with the sign on the outermost right operand of ``chain``'s ``*`` and
    ``/`` that is a number (written, or a name in ``numbers``); None when none is."""
    if not (isinstance(chain, gast.BinOp) and isinstance(chain.op, _CHAIN)):
        return None
    right = chain.right
    if isinstance(right, gast.Name) and right.id in numbers:
        return gast.BinOp(
            left=chain.left, op=chain.op, right=gast.UnaryOp(op=gast.USub(), operand=right)
        )
    if (
        isinstance(right, gast.Constant)
        and type(right.value) in _NUMBER
        and right.value == right.value  # (not NaN, whose written form has no sign)
        and (right.value != 0 or type(right.value) is float)  # (-0 is 0: -(a * 0) is -0.0)
    ):
        return gast.BinOp(left=chain.left, op=chain.op, right=gast.Constant(-right.value, None))
    left = _onto_number(chain.left, numbers)
    return None if left is None else gast.BinOp(left=left, op=chain.op, right=right)


def _leftmost_name(expression: gast.expr) -> str | None:
    """The leftmost operand's name of a chain of ``*`` and ``/`` (at least one operator)."""
    if not (isinstance(expression, gast.BinOp) and isinstance(expression.op, _CHAIN)):
        return None
    while isinstance(expression, gast.BinOp) and isinstance(expression.op, _CHAIN):
        expression = expression.left
    return expression.id if isinstance(expression, gast.Name) else None


def _negate_leftmost(expression: gast.expr) -> gast.expr:
    if isinstance(expression, gast.BinOp) and isinstance(expression.op, _CHAIN):
        return gast.BinOp(
            left=_negate_leftmost(expression.left), op=expression.op, right=expression.right
        )
    return gast.UnaryOp(op=gast.USub(), operand=expression)


_CHAIN = (gast.Mult, gast.Div)


def _negated(expression: gast.expr) -> bool:
    """Whether the leftmost operand of a chain of ``*`` and ``/`` is a negation."""
    while isinstance(expression, gast.BinOp) and isinstance(expression.op, (gast.Mult, gast.Div)):
        expression = expression.left
    return isinstance(expression, gast.UnaryOp) and isinstance(expression.op, gast.USub)


def _negate(expression: gast.expr) -> gast.expr:
    if isinstance(expression, gast.UnaryOp) and isinstance(expression.op, gast.USub):
        return expression.operand
    return gast.BinOp(left=_negate(expression.left), op=expression.op, right=expression.right)


def _summands(expression: gast.expr) -> list[gast.expr]:
    if isinstance(expression, gast.BinOp) and isinstance(expression.op, gast.Add):
        return _summands(expression.left) + _summands(expression.right)
    return [expression]


def _term(expression: gast.expr) -> _Term:
    term = _Term(None)
    for factor in _product(expression):
        value = _number(factor)
        if value is None:
            term.factors.append(factor)
        else:
            term.coefficient = value if term.coefficient is None else term.coefficient * value
    return term


def _product(expression: gast.expr) -> list[gast.expr]:
    if isinstance(expression, gast.BinOp) and isinstance(expression.op, gast.Mult):
        return _product(expression.left) + _product(expression.right)
    if isinstance(expression, gast.UnaryOp) and isinstance(expression.op, gast.USub):
        return [gast.Constant(-1, None), *_product(expression.operand)]
    return [expression]


def _number(node: gast.expr) -> int | float | None:
    if isinstance(node, gast.Constant) and type(node.value) in _NUMBER:
        return node.value
    return None


def _factored(terms: list[_Term]) -> list[gast.expr]:
    """The summands after taking out, again and again, the name most terms multiply."""
    terms = _collected(terms)
    counts: dict[str, int] = {}
    for term in terms:
        # In the order the names come (not a set's, which changes with the hash seed): on
        # a tie the name met first is taken out, the same one in every run.
        for name in dict.fromkeys(f.id for f in term.factors if isinstance(f, gast.Name)):
            counts[name] = counts.get(name, 0) + 1
    common = max(counts, key=lambda n: counts[n], default=None)
    if common is None or counts[common] < 2:
        return [_product_of(t) for t in terms]
    sharing = [t for t in terms if _position(t, common) is not None]
    inner = []
    for term in sharing:
        factors = list(term.factors)
        del factors[_position(term, common)]
        inner.append(_Term(term.coefficient, factors))
    out: list[gast.expr] = []
    taken = False
    for term in terms:
        if _position(term, common) is None:
            out.extend(_factored([term]))
        elif not taken:
            # The factored group takes the place of its first term.
            taken = True
            out.append(_multiply(load(common), _sum(_factored(inner))))
    return out


def _position(term: _Term, name: str) -> int | None:
    for i, factor in enumerate(term.factors):
        if isinstance(factor, gast.Name) and factor.id == name:
            return i
    return None


def _collected(terms: list[_Term]) -> list[_Term]:
    """Terms with the same factors (in any order) added up into one."""
    out: list[_Term] = []
    by_key: dict[tuple, _Term] = {}
    for term in terms:
        key = tuple(sorted(gast.dump(f) for f in term.factors))
        found = by_key.get(key)
        if found is None:
            copy = _Term(term.coefficient, list(term.factors))
            by_key[key] = copy
            out.append(copy)
        else:
            found.coefficient = (1 if found.coefficient is None else found.coefficient) + (
                1 if term.coefficient is None else term.coefficient
            )
    return out


def _product_of(term: _Term) -> gast.expr:
    factors = list(term.factors)
    if term.coefficient is None:
        result = factors.pop(0) if factors else gast.Constant(1, None)
    elif term.coefficient == -1 and type(term.coefficient) is int and factors:
        result = gast.UnaryOp(op=gast.USub(), operand=factors.pop(0))
    else:
        result = _constant(term.coefficient)
    for factor in factors:
        result = _multiply(result, factor)
    return result


def _constant(value: int | float) -> gast.expr:
    if value < 0:
        return gast.UnaryOp(op=gast.USub(), operand=gast.Constant(-value, None))
    return gast.Constant(value, None)


def _multiply(left: gast.expr, right: gast.expr) -> gast.expr:
    return gast.BinOp(left=left, op=gast.Mult(), right=right)


def _sum(summands: list[gast.expr]) -> gast.expr:
    result = summands[0]
    for summand in summands[1:]:
        if _negated(summand):  # x + -y * z reads better as x - y * z (and is the same)
            result = gast.BinOp(left=result, op=gast.Sub(), right=_negate(summand))
        else:
            result = gast.BinOp(left=result, op=gast.Add(), right=summand)
    return result


# -- masks of one condition ----------------------------------------------------------------


def is_where(node: gast.AST, numpy: frozenset[str]) -> bool:
    """Whether ``node`` is ``np.where(c, a, b)`` (three arguments, no keywords), ``np`` a
    name in ``numpy`` (those bound to the NumPy module)."""
    return (
        isinstance(node, gast.Call)
        and isinstance(node.func, gast.Attribute)
        and node.func.attr == "where"
        and isinstance(node.func.value, gast.Name)
        and node.func.value.id in numpy
        and len(node.args) == 3
        and not node.keywords
        and not any(isinstance(a, gast.Starred) for a in node.args)
    )


def combine_wheres(expression: gast.expr, numpy: frozenset[str]) -> gast.expr:
    """A sum's masks of one condition as one: ``np.where(c, a, 0) + np.where(c, 0, b) *
    0.01`` is ``np.where(c, a, 0.01 * b)``, what ``np.where(z > 0, z, 0.01 * z)`` sends to
    ``z`` (leaky relu), one pass where there were three.

    Each term is a mask (``np.where`` of a name ``c`` with 0 in one branch) times a number
    written in the code, and the masks of one ``c`` add up branch by branch: elementwise,
    where ``c`` holds each term is its branch times its number and 0 elsewhere (0 times a
    finite number is 0), and the result's shape is the broadcast of ``c`` and the branches
    either way. Only numbers written in the code scale a mask: a factor that may hold
    ``inf`` or NaN would make 0 times it NaN where the mask is 0, a NaN the sum keeps.
    Returns ``expression`` itself where no two masks share a condition."""
    summands = _summands(expression)
    if len(summands) < 2:
        return expression
    groups: dict[tuple[str, str], list[tuple[int, _Term]]] = {}
    for index, summand in enumerate(summands):
        term = _term(summand)
        if len(term.factors) == 1 and _is_mask(term.factors[0], numpy):
            mask = term.factors[0]
            key = (mask.func.value.id, mask.args[0].id)
            groups.setdefault(key, []).append((index, term))
    combined: dict[int, gast.expr] = {}
    dropped: set[int] = set()
    for (module, condition), members in groups.items():
        if len(members) < 2:
            continue
        branches: list[list[gast.expr]] = [[], []]
        for _, term in members:
            mask = term.factors[0]
            side = 1 if _is_zero(mask.args[1]) else 0
            branch = _Term(term.coefficient, [mask.args[1 + side]])
            branches[side].append(_product_of(branch))
        arguments = [_sum(b) if b else gast.Constant(0, None) for b in branches]
        where = gast.Attribute(value=load(module), attr="where", ctx=gast.Load())
        call = gast.Call(func=where, args=[load(condition), *arguments], keywords=[])
        combined[members[0][0]] = call
        dropped.update(index for index, _ in members[1:])
    if not combined:
        return expression
    return _sum([combined.get(i, s) for i, s in enumerate(summands) if i not in dropped])


def _is_mask(node: gast.expr, numpy: frozenset[str]) -> bool:
    """``np.where(c, a, 0)`` or ``np.where(c, 0, b)``, ``c`` a name."""
    return (
        is_where(node, numpy)
        and isinstance(node.args[0], gast.Name)
        and (_is_zero(node.args[1]) != _is_zero(node.args[2]))
    )


def _is_zero(node: gast.expr) -> bool:
    return _number(node) == 0


# -- negations out of reductions -------------------------------------------------------------


def negation_outside(expression: gast.expr, reducers: frozenset[str]) -> gast.expr:
    """``unbroadcast(-g, y)`` as ``-unbroadcast(g, y)`` (``reducers`` the names bound to
    ``unbroadcast``): the negation then runs over the reduced gradient, ``y``'s size,
    where it ran over the result's (``x[:, None, :] - x[None, :, :]`` sends ``-g`` of the
    size of every pair to a gradient of the size of ``x``). A sum of negated numbers is
    the negated sum, to the bit; a rule's ``g`` has the result's shape, so ``unbroadcast``
    only sums it."""

    def moved(node: gast.AST) -> gast.AST:
        if (
            is_call_on_name(node, reducers)
            and isinstance(node.args[0], gast.UnaryOp)
            and isinstance(node.args[0].op, gast.USub)
        ):
            call = gast.Call(func=node.func, args=[node.args[0].operand, node.args[1]], keywords=[])
            return gast.UnaryOp(op=gast.USub(), operand=call)
        return node

    return rewrite(expression, moved)


def numbers_outside_sums(
    expression: gast.expr, reducers: frozenset[str], numbers: frozenset[str]
) -> gast.expr:
    """``unbroadcast(g * s * e / t, n)`` as ``unbroadcast(g * e, n) * s / t`` where ``n``,
    ``s`` and ``t`` hold numbers (``numbers``, or written in the code) and ``reducers`` are
    the names bound to ``unbroadcast``: the gradient of a number is the sum of what its
    uses sent, and a sum of an array times a number is the sum times the number, so the
    numbers scale one number instead of every element (a kernel's width in a Gaussian
    process: two passes over the kernel matrix fewer). Equal up to rounding, as
    ``simplify``'s rewrites are. Only products and quotients whose first operand is not a
    number, with at least one factor that is."""

    def number(node: gast.expr) -> bool:
        if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub):
            node = node.operand
        return _number(node) is not None or (isinstance(node, gast.Name) and node.id in numbers)

    def moved(node: gast.AST) -> gast.AST:
        if not (is_call_on_name(node, reducers) and node.args[1].id in numbers):
            return node
        chain: list[tuple[gast.operator | None, gast.expr]] = []
        part = node.args[0]
        while isinstance(part, gast.BinOp) and isinstance(part.op, (gast.Mult, gast.Div)):
            chain.append((part.op, part.right))
            part = part.left
        chain.append((None, part))
        chain.reverse()  # (op, operand) in order; the first operand has no op
        if number(chain[0][1]):
            return node
        kept = [(op, operand) for op, operand in chain if not number(operand)]
        scales = [(op, operand) for op, operand in chain if number(operand)]
        if not scales:
            return node
        inner = kept[0][1]
        for op, operand in kept[1:]:
            inner = gast.BinOp(left=inner, op=op, right=operand)
        result: gast.expr = gast.Call(func=node.func, args=[inner, node.args[1]], keywords=[])
        for op, operand in scales:
            result = gast.BinOp(left=result, op=op, right=operand)
        return result

    return rewrite(expression, moved)


# -- a norm's scale cancelled ---------------------------------------------------------------


def norm_scale_cancelled(expression: gast.expr, norm_grads: frozenset[str]) -> gast.expr:
    """``norm_grad(k * n, n, x)`` (``norm_grads`` the names bound to ``norm_grad``; the
    2-norm of all of ``x``, ``n = np.linalg.norm(x)``) as ``x * k``: the norm's gradient
    is ``x * (k * n) / n``, and ``n`` cancels. The gradient of ``0.5 * norm(r) ** 2`` is
    then ``r``, as a person writes it. Where ``n`` is 0, ``x`` is 0 and both give 0
    (``norm_grad`` divides by the norm or gives 0); elsewhere they differ by rounding
    only. ``(k * n).real`` (the rule takes a complex cotangent's real part) is
    ``x * k.real`` (``n`` is real)."""

    def cancelled(node: gast.AST) -> gast.AST:
        if not (is_helper_call(node, norm_grads, 3) and isinstance(node.args[1], gast.Name)):
            return node
        scale, norm = node.args[0], node.args[1].id
        real = isinstance(scale, gast.Attribute) and scale.attr == "real"
        factors = _product(scale.value if real else scale)
        at = [i for i, f in enumerate(factors) if isinstance(f, gast.Name) and f.id == norm]
        if len(factors) < 2 or not at:
            return node
        rest = factors[: at[0]] + factors[at[0] + 1 :]
        product = rest[0]
        for factor in rest[1:]:
            product = _multiply(product, factor)
        term = _term(product)  # (``0.5 * 2``: the numbers multiplied)
        if term.coefficient == 1 and term.factors:
            term.coefficient = None
        k = _product_of(term)
        if real:
            k = gast.Attribute(value=k, attr="real", ctx=gast.Load())
        return _multiply(node.args[2], k)

    return rewrite(expression, cancelled)

"""Two-operand einsum gradients written as the products an expert writes by hand.

The gradient of ``np.einsum("ij,kj->ik", x, A)`` with respect to ``A`` is the einsum
``"ik,ij->kj"`` of the result's cotangent ``g`` with ``x``: the product ``g.T.dot(x)``.
:func:`gradient_source` writes that product as Python source over the names ``g``,
``op0`` and ``op1``, once per subscripts and operand, and two readers share it: the
transform, which writes it into the generated gradient at generation time (with the
operand's names in place of ``op0`` and ``op1``), and :func:`einsum_grad`'s fast path on
the tape, which compiles it once.

A product of ``g`` (the output's letters) and the other operand (its term) for this
operand's term takes one of three forms:

* no shared letter summed: a broadcast multiplication (``g[:, None] * op1``), each side
  transposed to (kept shared letters, its own letters) and given size-1 axes for the
  other's;
* one summed letter, at most one own letter per side and no batch letter unless both
  sides have one: a matrix product (``g.dot(op1.T)``, ``g @ op1.transpose(0, 2, 1)``);
* summed letters and no own letters: a multiplication summed over them (a row-wise dot).

Letters that one side alone has and nothing needs are summed first; letters the operand
has and neither side does get size-1 axes (its gradient is the same along them). Anything
else (more own or summed letters, which need reshapes) is left to the general road.

Einsum broadcasts an operand's size-1 axis against another's: the product then has
another size than the operand along it, and the caller finishes the gradient with
``unbroadcast`` (a sum where the operand has size 1, a broadcast where the product has).
With two operands a summed letter's size is the other operand's own (the operand at hand
lacks it, and the output's letters come from the operands), so the products never meet
mismatched sizes.

Only plain subscripts: two terms of letters, no ``...``, no letter repeated in a term
(a diagonal) or in the output.

>>> gradient_source("ij,kj->ik", 2)
'g.T.dot(op0)'
>>> gradient_source("ij,ij->", 1)
'g * op1'
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

#: (subscripts, position) -> the source, or None where the case is not written
_SOURCES: dict[tuple[str, int], str | None] = {}
#: (subscripts, position) -> the compiled source as a function of (g, op0, op1)
_COMPILED: dict[tuple[str, int], Callable | None] = {}
_MAX_CACHED = 1024


def plain_terms(subscripts: str, count: int) -> tuple[list[str], str] | None:
    """The terms and the output letters of plain subscripts for ``count`` operands (the
    implicit output, letters seen once in alphabetical order, where no ``->``); None for
    anything else.

    >>> plain_terms("ij,jk", 2)
    (['ij', 'jk'], 'ik')
    """
    spec = subscripts.replace(" ", "")
    inputs, arrow, output = spec.partition("->")
    terms = inputs.split(",")
    if len(terms) != count or "." in spec:
        return None
    if not all(term.isalpha() or term == "" for term in terms):
        return None
    if any(len(set(term)) != len(term) for term in terms):
        return None  # a repeated letter reads a diagonal
    if not arrow:
        counts = Counter("".join(terms))
        output = "".join(sorted(c for c, n in counts.items() if n == 1))
    if not (output.isalpha() or output == "") or len(set(output)) != len(output):
        return None
    if any(c not in inputs for c in output):
        return None
    return terms, output


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def contraction_subscripts(name: str | None, p: int, q: int, axes: object = None) -> str | None:
    """The einsum subscripts of NumPy's contraction ``name`` (``"matmul"``, ``"dot"``,
    ``"inner"``, ``"outer"`` or ``"tensordot"``, whose ``axes`` are an int or a pair of
    ints or lists of ints) of arrays of ndims ``p`` and ``q``; None where it broadcasts
    (``matmul`` of stacks), flattens (``outer`` of other than two vectors), the ranks are
    out of reach, or the axes are not of that form. The
    transform writes these contractions' gradients as the einsums' (``transform.products``)
    and ``transform.ranks`` reads their results' ndims.

    >>> contraction_subscripts("dot", 2, 1)
    'ab,b->a'
    >>> contraction_subscripts("tensordot", 3, 2, 1)
    'abc,cd->abd'
    >>> contraction_subscripts("tensordot", 2, 2, ([0], [1]))
    'ab,ca->bc'
    >>> contraction_subscripts("outer", 1, 1)
    'a,b->ab'
    """
    if p < 1 or q < 1 or p + q > len(_LETTERS):
        return None
    left = _LETTERS[:p]
    fresh = iter(_LETTERS[p:])
    if name in ("dot", "matmul"):
        if name == "matmul" and (p > 2 or q > 2):
            return None  # (stacks broadcast: matmul_grad_left's road)
        # dot sums a's last axis with b's second-last (its only one, for a vector)
        right = "".join(next(fresh) for _ in range(q - 2)) + left[-1]
        right += next(fresh) if q > 1 else ""
        summed = {left[-1]}
    elif name == "inner":
        right = "".join(next(fresh) for _ in range(q - 1)) + left[-1]
        summed = {left[-1]}
    elif name == "outer":
        if p != 1 or q != 1:
            return None  # (np.outer flattens other arrays first: its rule's road)
        right, summed = next(fresh), set()
    elif name == "tensordot":
        pairs = _tensordot_axes(axes, p, q)
        if pairs is None:
            return None
        shared = dict(zip(pairs[1], pairs[0]))
        right = "".join(left[shared[j]] if j in shared else next(fresh) for j in range(q))
        summed = {left[i] for i in pairs[0]}
    else:
        return None
    output = "".join(c for c in left + right if c not in summed)
    return f"{left},{right}->{output}"


def _tensordot_axes(axes: object, p: int, q: int) -> tuple[list[int], list[int]] | None:
    """np.tensordot's ``axes`` as (a's axes, b's axes), each in range and none twice;
    None for anything else."""
    if type(axes) is int:
        if not 0 <= axes <= min(p, q):
            return None
        return list(range(p - axes, p)), list(range(axes))
    if not (isinstance(axes, (list, tuple)) and len(axes) == 2):
        return None
    found = []
    for side, ndim in zip(axes, (p, q)):
        side = [side] if type(side) is int else side
        if not isinstance(side, (list, tuple)) or not all(type(i) is int for i in side):
            return None
        if not all(-ndim <= i < ndim for i in side):
            return None
        side = [i % ndim for i in side]
        if len(set(side)) != len(side):
            return None
        found.append(side)
    return (found[0], found[1]) if len(found[0]) == len(found[1]) else None


def gradient_source(subscripts: str, position: int) -> str | None:
    """The gradient of a two-operand einsum with respect to its argument at ``position``
    (1 or 2: the subscripts are position 0), as the source of a product of ``g``, ``op0``
    and ``op1``, before ``unbroadcast`` to the operand's shape; None where not written."""
    key = (subscripts, position)
    if key in _SOURCES:
        return _SOURCES[key]
    source = None
    found = plain_terms(subscripts, 2) if position in (1, 2) else None
    if found is not None:
        terms, output = found
        index = position - 1
        source = _product("g", output, f"op{1 - index}", terms[1 - index], terms[index])
    if len(_SOURCES) < _MAX_CACHED:
        _SOURCES[key] = source
    return source


def compiled_gradient(subscripts: str, position: int) -> Callable | None:
    """:func:`gradient_source` compiled, as a function of ``(g, op0, op1)``; None where
    there is no source."""
    key = (subscripts, position)
    run = _COMPILED.get(key, False)
    if run is False:
        source = gradient_source(subscripts, position)
        run = None if source is None else eval(f"lambda g, op0, op1: {source}")  # noqa: S307
        if len(_COMPILED) < _MAX_CACHED:
            _COMPILED[key] = run
    return run


def _product(x: str, xs: str, y: str, ys: str, result: str) -> str | None:
    """The source of ``einsum(f"{xs},{ys}->{result}", x, y)`` as products, with size-1
    axes for the letters of ``result`` neither side has; None where not written."""
    keep = set(result)
    x, xs = _sum_unneeded(x, xs, set(ys) | keep)
    y, ys = _sum_unneeded(y, ys, set(xs) | keep)
    batch = [c for c in xs if c in ys and c in keep]
    summed = [c for c in xs if c in ys and c not in keep]
    x_own = [c for c in xs if c not in ys]
    y_own = [c for c in ys if c not in xs]
    if not summed:
        candidates = [_multiplied(x, xs, x_own, y, ys, y_own, batch)]
    elif not x_own and not y_own:
        candidates = [_summed_product(x, xs, y, ys, batch, summed)]
    elif (
        len(summed) == 1
        and len(x_own) <= 1
        and len(y_own) <= 1
        and (not batch or (x_own and y_own))
    ):
        candidates = [
            _matmul(x, xs, x_own, y, ys, y_own, batch, summed),
            _matmul(y, ys, y_own, x, xs, x_own, batch, summed),
        ]
    else:
        return None
    present = [c for c in result if c in keep and (c in xs or c in ys)]
    # (of x @ y and y @ x, the one that needs fewer transposes)
    source = min(
        (_in_order(source, letters, present) for source, letters in candidates),
        key=lambda s: (s.count(".T") + s.count(".transpose"), len(s)),
    )
    if len(present) == len(result):
        return source
    # Letters the operand alone has: its gradient is the same along them.
    index = ", ".join(":" if c in present else "None" for c in result)
    return f"{_atom(source)}[{index}]"


def _multiplied(
    x: str, xs: str, x_own: list, y: str, ys: str, y_own: list, batch: list
) -> tuple[str, list[str]]:
    """``x * y`` broadcast over (batch, x's own, y's own) letters, and those letters."""
    x_side = _arranged(x, xs, batch + x_own)
    if y_own and xs:
        x_side += "[" + ", ".join([":"] * len(batch + x_own) + ["None"] * len(y_own)) + "]"
    y_side = _arranged(y, ys, batch + y_own)
    if x_own and batch and ys:
        y_side += "[" + ", ".join([":"] * len(batch) + ["None"] * len(x_own)) + "]"
    return f"{x_side} * {y_side}", batch + x_own + y_own


def _summed_product(
    x: str, xs: str, y: str, ys: str, batch: list, summed: list
) -> tuple[str, list[str]]:
    """``x * y`` summed over the letters both sum (a dot of two vectors), and the batch
    letters left."""
    x_side = _arranged(x, xs, batch + summed)
    y_side = _arranged(y, ys, batch + summed)
    if not batch and len(summed) == 1:
        return f"{x_side}.dot({y_side})", []
    axes = tuple(range(len(batch), len(batch) + len(summed)))
    axis = axes[0] if len(axes) == 1 else axes
    return f"({x_side} * {y_side}).sum(axis={axis})", batch


def _matmul(
    x: str, xs: str, x_own: list, y: str, ys: str, y_own: list, batch: list, summed: list
) -> tuple[str, list[str]]:
    """``x @ y`` over the one summed letter, and the letters of the product."""
    x_side = _arranged(x, xs, batch + x_own + summed)
    y_side = _arranged(y, ys, batch + summed + y_own)
    source = f"{x_side} @ {y_side}" if batch else f"{x_side}.dot({y_side})"
    return source, batch + x_own + y_own


def _in_order(source: str, letters: list[str], order: list[str]) -> str:
    """The product ``source`` (of ``letters``) with its axes in ``order``."""
    return source if letters == order else _arranged(_atom(source), "".join(letters), order)


def _atom(source: str) -> str:
    """``source`` in parentheses where a suffix (``.T``, ``[...]``) would bind to a part."""
    return f"({source})" if " " in source else source


def _sum_unneeded(name: str, letters: str, needed: set[str]) -> tuple[str, str]:
    """``name`` summed over its letters nothing else needs, and the letters left."""
    axes = tuple(i for i, c in enumerate(letters) if c not in needed)
    if not axes:
        return name, letters
    axis = axes[0] if len(axes) == 1 else axes
    return f"{name}.sum(axis={axis})", "".join(c for c in letters if c in needed)


def _arranged(name: str, letters: str, order: list[str]) -> str:
    """``name`` (of ``letters``) with its axes in ``order``: itself, ``.T`` for a
    matrix's two axes swapped, else ``.transpose(...)``."""
    if list(letters) == list(order):
        return name
    if len(order) == 2:
        return f"{name}.T"
    return f"{name}.transpose({', '.join(str(letters.index(c)) for c in order)})"

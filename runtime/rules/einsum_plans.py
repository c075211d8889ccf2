"""Einsums as BLAS products: a contraction planned once per subscripts and shapes.

``np.einsum`` contracts without BLAS unless asked to ``optimize``, and then it searches
(or validates) a contraction path and parses the subscripts on every call. The gradient
of an einsum is an einsum of the result's cotangent with the other operands (``b,ij,bj->bi``
for ``bi,ij,bj->b``), so every gradient call would pay that. :func:`planned_einsum` plans
such a contraction once for the letters and the operands' shapes and then runs it as what
an expert writes by hand: pairwise products, each a ``matmul`` over the letters the pair
shares and sums (batched over the letters both keep), or a broadcast multiplication where
the pair shares no letter it sums; letters that only one operand has and nothing needs are
summed first. It computes the same sum as ``np.einsum`` in another order: equal up to
float rounding.

Only plain cases are planned: float or complex NumPy arrays, letters without ``...``, no
letter repeated within a term or in the output, and every letter of one size wherever it
appears (einsum's broadcasting of size-1 axes is left to einsum). Anything else gets None
and the caller runs ``np.einsum``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

#: (spec, shapes, dtypes) -> the planned call, or None where the case is not planned
_PLANS: dict[tuple, Callable | None] = {}
_MAX_PLANS = 1024


def planned_einsum(spec: str, operands: list) -> Any:
    """``np.einsum(spec, *operands)`` by planned BLAS products, or None where the case is
    not one :func:`plan` takes (the caller then runs ``np.einsum`` itself).

    >>> a, b = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4)
    >>> bool(np.allclose(planned_einsum("ij,jk->ik", [a, b]), a @ b))
    True
    """
    for o in operands:
        if type(o) is not np.ndarray or o.dtype.kind not in "fc":
            return None
    key = (spec, tuple(o.shape for o in operands))
    run = _PLANS.get(key, False)
    if run is False:
        run = plan(spec, [o.shape for o in operands])
        if len(_PLANS) < _MAX_PLANS:
            _PLANS[key] = run
    if run is None:
        return None
    return run(operands)


def plan(spec: str, shapes: list) -> Callable | None:
    """A function of the operands computing ``np.einsum(spec, ...)`` for operands of these
    shapes by pairwise products; None for a case not planned (see the module doc)."""
    inputs, arrow, output = spec.replace(" ", "").partition("->")
    terms = inputs.split(",")
    if not arrow or "." in spec or len(terms) != len(shapes) or len(terms) < 2:
        return None
    if len(set(output)) != len(output) or not all(c.isalpha() for c in output):
        return None
    sizes: dict[str, int] = {}
    for term, shape in zip(terms, shapes):
        if len(term) != len(shape) or len(set(term)) != len(term) or not term.isalpha():
            return None
        for c, n in zip(term, shape):
            if sizes.setdefault(c, n) != n:
                return None  # einsum broadcasts a size-1 axis here: not planned
    if any(c not in sizes for c in output):
        return None
    steps: list[Callable] = []
    # The operands in play, as (slot, letters); a step reads and writes slots.
    live = list(enumerate(terms))
    slots = len(terms)

    def needed(excluding: tuple[int, ...]) -> set[str]:
        letters = set(output)
        for slot, term in live:
            if slot not in excluding:
                letters.update(term)
        return letters

    # Letters that one operand alone has and nothing else needs: summed out first.
    for index, (slot, term) in enumerate(live):
        keep = needed((slot,))
        summed = tuple(i for i, c in enumerate(term) if c not in keep)
        if summed:
            steps.append(_sum_step(slot, summed))
            live[index] = (slot, "".join(c for c in term if c in keep))
    while len(live) > 1:
        first, second = _cheapest_pair(live, needed, sizes)
        (slot_a, a), (slot_b, b) = live[first], live[second]
        keep = needed((slot_a, slot_b))
        step, letters = _pair_step(slot_a, a, slot_b, b, keep, sizes, slots)
        steps.append(step)
        live = [item for i, item in enumerate(live) if i not in (first, second)]
        live.append((slots, letters))
        slots += 1
    slot, letters = live[0]
    total = slots
    summed = tuple(i for i, c in enumerate(letters) if c not in output)
    if summed:  # (only where the output drops a letter every operand's pair kept)
        steps.append(_sum_step(slot, summed))
        letters = "".join(c for c in letters if c in output)
    order = tuple(letters.index(c) for c in output)

    def run(operands: list) -> Any:
        values = list(operands) + [None] * (total - len(operands))
        for step in steps:
            step(values)
        result = values[slot]
        if order != tuple(range(len(order))):
            result = result.transpose(order)
        return result

    return run


def _cheapest_pair(live: list, needed: Callable, sizes: dict) -> tuple[int, int]:
    """The pair of operands whose product is smallest, preferring pairs that sum over a
    shared letter (a BLAS product) to outer products; the first such pair on ties."""
    best, best_cost = (0, 1), None
    for i in range(len(live)):
        for j in range(i + 1, len(live)):
            (slot_a, a), (slot_b, b) = live[i], live[j]
            keep = needed((slot_a, slot_b))
            result = 1
            for c in set(a) | set(b):
                if c in keep:
                    result *= sizes[c]
            shares = bool(set(a) & set(b))
            cost = (not shares, result)
            if best_cost is None or cost < best_cost:
                best, best_cost = (i, j), cost
    return best


def _sum_step(slot: int, axes: tuple[int, ...]) -> Callable:
    def step(values: list) -> None:
        values[slot] = values[slot].sum(axis=axes)

    return step


def _pair_step(
    slot_a: int, a: str, slot_b: int, b: str, keep: set, sizes: dict, out: int
) -> tuple[Callable, str]:
    """The product of operands ``a`` and ``b`` (letters) as one step writing slot ``out``,
    and the letters of its result: batch letters (both have and keep), then ``a``'s kept
    letters, then ``b``'s."""
    batch = [c for c in a if c in b and c in keep]
    summed = [c for c in a if c in b and c not in keep]
    a_only = [c for c in a if c not in b]  # all kept: the first sums took the rest
    b_only = [c for c in b if c not in a]
    letters = "".join(batch + a_only + b_only)
    if not summed:
        # No shared sum: a broadcast multiplication, each side given size-1 axes for the
        # other's letters.
        a_axes = tuple(a.index(c) for c in batch + a_only)
        b_axes = tuple(b.index(c) for c in batch + b_only)
        a_index = (Ellipsis,) + (None,) * len(b_only)
        b_index = (slice(None),) * len(batch) + (None,) * len(a_only) + (Ellipsis,)

        a_axes = None if a_axes == tuple(range(len(a))) else a_axes
        b_axes = None if b_axes == tuple(range(len(b))) else b_axes

        def multiply(values: list) -> None:
            left, right = values[slot_a], values[slot_b]
            if a_axes is not None:
                left = left.transpose(a_axes)
            if b_axes is not None:
                right = right.transpose(b_axes)
            values[out] = left[a_index] * right[b_index]

        return multiply, letters
    # A matmul: a as (batch, a_only, summed), b as (batch, summed, b_only).
    a_axes = tuple(a.index(c) for c in batch + a_only + summed)
    b_axes = tuple(b.index(c) for c in batch + summed + b_only)
    n_batch = _product(sizes[c] for c in batch)
    n_a = _product(sizes[c] for c in a_only)
    n_sum = _product(sizes[c] for c in summed)
    n_b = _product(sizes[c] for c in b_only)
    shape = tuple(sizes[c] for c in letters)
    if batch:
        a_shape, b_shape = (n_batch, n_a, n_sum), (n_batch, n_sum, n_b)
    else:
        a_shape, b_shape = (n_a, n_sum), (n_sum, n_b)

    # Where the operands already are the matrices (a transposed view at most) no reshape
    # copies them, so BLAS reads them in place.
    a_fixed = _identity_or(a_axes), _same_or(tuple(sizes[c] for c in a), a_axes, a_shape)
    b_fixed = _identity_or(b_axes), _same_or(tuple(sizes[c] for c in b), b_axes, b_shape)
    out_shape = None if shape == tuple(n for n in a_shape[:-1]) + b_shape[-1:] else shape

    def product(values: list) -> None:
        left = _arrange(values[slot_a], *a_fixed)
        right = _arrange(values[slot_b], *b_fixed)
        result = left @ right
        values[out] = result if out_shape is None else result.reshape(out_shape)

    return product, letters


def _identity_or(axes: tuple[int, ...]) -> tuple[int, ...] | None:
    return None if axes == tuple(range(len(axes))) else axes


def _same_or(shape: tuple, axes: tuple, wanted: tuple) -> tuple | None:
    """None where ``shape`` transposed by ``axes`` already is ``wanted``."""
    return None if tuple(shape[i] for i in axes) == wanted else wanted


def _arrange(x: Any, axes: tuple | None, shape: tuple | None) -> Any:
    if axes is not None:
        x = x.transpose(axes)
    if shape is not None:
        x = x.reshape(shape)
    return x


def _product(numbers: Any) -> int:
    result = 1
    for n in numbers:
        result *= n
    return result

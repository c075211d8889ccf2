"""Rules for Python builtins that combine values: ``sum``, ``max``, ``min``."""

import builtins
from typing import Any

import numpy as np

from ..device import array_module
from .forward import jvp_rule
from .registry import nondifferentiable, vjp_rule
from .shared import shape_only, unbroadcast


@shape_only(1)
def spread(g, iterable):
    """The gradient of ``sum(iterable)`` for each element: ``g`` for each of a list's
    elements, or ``g`` broadcast over an array's rows."""
    if isinstance(iterable, (list, tuple)):
        return [unbroadcast(g, item) for item in iterable]
    return array_module(g, iterable).broadcast_to(g, np.shape(iterable))


@vjp_rule(builtins.sum, name="builtin_sum")
def builtin_sum(g, ans, iterable, start=0):
    return spread(g, iterable), unbroadcast(g, start)


# (an array's tangent sums over its rows, as the array does)
@jvp_rule(builtins.sum)
def builtin_sum_jvp(ans, iterable, start=0, *, diterable, dstart):
    return builtins.sum(diterable), dstart


def chosen(g, ans, iterable):
    """Where ``max``/``min`` took its result from: ``g`` there, zero elsewhere (a list
    for a list or tuple, an array for an array's rows)."""
    items = list(iterable)
    position = next(i for i, item in enumerate(items) if item is ans or np.all(item == ans))
    if isinstance(iterable, (list, tuple)):
        # zeros of each item's own kind: the tape adds them into 0-d arrays' gradients
        parts = [
            array_module(item).zeros_like(item) if hasattr(item, "shape") else 0.0 for item in items
        ]
        parts[position] = g
        return parts
    gradient = array_module(iterable).zeros_like(iterable)
    gradient[position] = g
    return gradient


# The transform writes max(a, b) as max([a, b]), so one iterable parameter covers both.
@vjp_rule(builtins.max, name="builtin_max")
def builtin_max(g, ans, iterable):
    return (chosen(g, ans, iterable),)


# The tangent of the element the result is: the first equal to it, as max keeps the first
# of those tied (and a NaN result only when the first element is NaN: argmax then says 0).
@jvp_rule(builtins.max)
def builtin_max_jvp(ans, iterable, *, diterable):
    return diterable[first_equal(iterable, ans)]


def first_equal(iterable: Any, ans: Any) -> int:
    """Where ``ans`` first appears in ``iterable`` (0 if nowhere: a NaN). Element by
    element, since CuPy takes no list of its 0-d arrays where NumPy would compare them all."""
    for position, item in enumerate(iterable):
        if item == ans:
            return position
    return 0


nondifferentiable(first_equal)


@vjp_rule(builtins.min, name="builtin_min")
def builtin_min(g, ans, iterable):
    return (chosen(g, ans, iterable),)


@jvp_rule(builtins.min)
def builtin_min_jvp(ans, iterable, *, diterable):
    return diterable[first_equal(iterable, ans)]

"""The gradient of a two-argument extremum (``np.maximum``, ``np.minimum``, ``np.fmax``,
``np.fmin``): the cotangent goes to the argument that won, and half of it to each where
the two are equal.

Relu written ``np.maximum(0, z)`` meets that rule in every layer, and the tie term,
``0.5 * g * (x == y)``, costs three full-size operations where ties are rare (in floating
point, almost never). :func:`split_ties` checks once whether any element ties: where none
does, the term is zero and is left out. That is exact for finite cotangents (``g * 0`` is
a zero of ``g``'s sign, and adding it changes nothing); for an infinite cotangent where
an argument won it gives ``inf`` where the full sum gave ``inf + inf * 0 = nan``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .forward import linear
from .registry import vjp_rule
from .templates import broadcasting

__all__ = ["split_ties"]


_count_nonzero = np.count_nonzero
_NUMBERS = (int, float, np.float64, np.float32)


@broadcasting
def split_ties(g: Any, wins: Any, x: Any, y: Any) -> Any:
    """``g * wins + 0.5 * g * (x == y)``, leaving the tie term out where no element ties.

    >>> z = np.array([-1.0, 3.0, 0.0])
    >>> split_ties(np.array([2.0, 2.0, 2.0]), z > 0, 0, z)  # relu's: z = 0 ties
    array([0., 2., 1.])
    """
    if type(y) is np.ndarray and type(x) in _NUMBERS and x == 0:
        # relu's np.maximum(0, z): z ties where it is 0 (or -0.0), which counting its
        # nonzero elements tells without a comparison's array (NaN counts as nonzero)
        if _count_nonzero(y) == y.size:
            return g * wins
        return g * wins + 0.5 * g * (x == y)
    ties = x == y
    kind = type(ties)
    # NumPy arrays and numbers only: a lazy or device array would be computed or synced
    # by the test; those keep the plain sum.
    if kind is np.ndarray:
        tied = _count_nonzero(ties)  # (a third of ties.any()'s time on a layer's values)
    elif kind is bool or kind is np.bool_:
        tied = ties
    else:
        tied = True
    if not tied:
        return g * wins
    return g * wins + 0.5 * g * ties


# (a primitive, so that forward rules and second derivatives may differentiate it: it is
# linear in g; wins and the arguments compared are piecewise constant)
@vjp_rule(split_ties)
def split_ties_vjp(g, ans, cotangent, wins, x, y):
    return split_ties(g, wins, x, y), None, None, None


linear(split_ties)

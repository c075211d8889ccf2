"""The sum of two tangents of a primitive that returns several results.

A forward rule gives one contribution per argument that moves; the transform adds them
(``transform/inline.py``). For a primitive with several results (``np.average(...,
returned=True)``, ``np.linalg.lstsq``, ``np.meshgrid``) each contribution is a tuple with
one tangent per result, and ``+`` would join two tuples into a longer one: they are added
result by result instead, by :func:`add_results`, a primitive with rules of its own so that
reverse mode differentiates forward code that calls it (``ag.hvp``).
"""

from __future__ import annotations

from typing import Any

from .containers import Parts
from .forward import jvp_rule
from .registry import vjp_rule
from .shared import output_parts, unbroadcast

__all__ = ["add_results"]


def add_results(first: Any, second: Any) -> Any:
    """``first + second`` result by result, for two tangents of a primitive's results
    (tuples or lists, one tangent each; ``None`` or ``0`` where a result has none), or of
    its one result where it returned one (``np.average`` without ``returned``).

    >>> add_results((1.0, 2.0), (10.0, None))
    Parts([11.0, 2.0])
    >>> add_results(1.0, 10.0)
    11.0
    """
    if isinstance(first, (tuple, list)):
        return Parts(_add(a, b) for a, b in zip(first, second))
    return first + second


def _add(a: Any, b: Any) -> Any:
    if a is None or (type(a) is int and a == 0):
        return b
    if b is None or (type(b) is int and b == 0):
        return a
    return a + b


@vjp_rule(add_results, multi_output=True)
def add_results_vjp(g, ans, first, second):
    return results_grad(g, ans, first), results_grad(g, ans, second)


@jvp_rule(add_results)
def add_results_jvp(ans, first, second, *, dfirst, dsecond):
    return dfirst, dsecond


def results_grad(g: Any, ans: Any, x: Any) -> Any:
    """The gradient of ``add_results``' argument ``x`` (either's: it is a sum)."""
    if isinstance(x, (tuple, list)):
        return Parts(output_parts(g, ans))
    return unbroadcast(g, x)

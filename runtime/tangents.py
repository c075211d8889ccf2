"""The helpers generated forward-mode code calls: zero tangents, tangents written into,
and the tangent a function returns.

A tangent has its value's structure: an array's is an array of its shape, a float's a
float, a list's a list of its items' tangents (a dict's, a dict).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .device import array_module
from .rules.forward import linear, spread_tangent
from .rules.registry import nondifferentiable, vjp_rule
from .rules.shared import expand_reduced, reduced_count, unbroadcast

__all__ = ["zero_tangent", "tangent_out", "writable_tangent", "spread_tangent", "mean_tangent"]


def zero_tangent(value: Any) -> Any:
    """The tangent of a value that does not move: zeros of its structure.

    >>> zero_tangent([np.ones(2), 3.0, "label"])
    [array([0., 0.]), 0.0, None]
    """
    if isinstance(value, (float, int, np.number)) and not isinstance(value, bool):
        return 0.0
    if isinstance(value, list):
        return [zero_tangent(v) for v in value]
    if isinstance(value, tuple):
        return tuple(zero_tangent(v) for v in value)
    if isinstance(value, dict):
        return {k: zero_tangent(v) for k, v in value.items()}
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        return None  # a string, None, an object: no tangent
    float_dtype = dtype if dtype.kind in "fc" else np.float64
    return array_module(value).zeros(value.shape, dtype=float_dtype)


def writable_tangent(tangent: Any, value: Any) -> Any:
    """``tangent`` as something ``tangent[index] = ...`` may write into, as ``value`` is
    about to be written into: an array of its own with ``value``'s shape (a copy where it
    is a read-only view, a number, or shared), a list copied.

    >>> t = writable_tangent(0.0, np.ones(3))
    >>> t[1] = 2.0
    >>> t
    array([0., 2., 0.])
    """
    if isinstance(value, list):
        return list(tangent) if isinstance(tangent, list) else zero_tangent(value)
    if isinstance(value, dict):
        return dict(tangent) if isinstance(tangent, dict) else zero_tangent(value)
    shape = getattr(value, "shape", None)
    if shape is None:
        return tangent
    xp = array_module(tangent, value)
    dtype = getattr(tangent, "dtype", None)
    if dtype is None or dtype.kind not in "fc":
        dtype = value.dtype if value.dtype.kind in "fc" else np.float64
    elif value.dtype.kind == "c":
        dtype = np.result_type(dtype, value.dtype)  # (complex tangents will be written)
    # Always a copy: the tangent may be another name's too (y = x mirrors dy = dx), and
    # the primal write changes only the array written into (effects refuses aliases).
    out = xp.empty(shape, dtype=dtype)
    out[...] = tangent
    return out


def tangent_out(tangent: Any, value: Any) -> Any:
    """The tangent a generated forward function returns for ``value``: of its structure,
    an array of its own (not a broadcast view), a float for a float.

    >>> tangent_out(1.0, np.zeros(2))
    array([1., 1.])
    """
    if isinstance(value, (list, tuple)):
        if not isinstance(tangent, (list, tuple)):
            return type(value)(tangent_out(tangent, v) for v in value)
        return type(value)(tangent_out(t, v) for t, v in zip(tangent, value))
    if isinstance(value, float):
        return float(tangent)
    shape = getattr(value, "shape", None)
    if shape is None:
        return tangent
    if getattr(tangent, "shape", None) != shape or not getattr(tangent, "flags", None):
        xp = array_module(tangent, value)
        dtype = value.dtype if value.dtype.kind in "fc" else np.float64
        out = xp.empty(shape, dtype=dtype)
        out[...] = tangent
        return out
    if not getattr(tangent.flags, "writeable", True):  # (CuPy's arrays are always writeable)
        return tangent.copy()
    return tangent


def mean_tangent(tangent: Any) -> Any:
    """``np.mean(tangent)``, the tangent of a mean of every element: for a host array of
    float64 or float32 the same sum and division (to the bit) without ``np.mean``'s Python
    layer, which costs more than the sum itself on a loss's small array.

    >>> mean_tangent(np.array([1.0, 2.0, 4.0]))
    np.float64(2.3333333333333335)
    """
    if type(tangent) is _ndarray and tangent.dtype in _SUMMED_AS_IS and tangent.size:
        return _add_reduce(tangent, None) / tangent.size
    return np.mean(tangent)


_ndarray = np.ndarray
_add_reduce = np.add.reduce
#: dtypes np.mean sums in their own precision (float16 it sums in float32)
_SUMMED_AS_IS = frozenset({np.dtype(np.float64), np.dtype(np.float32)})


# -- so that generated forward code can be differentiated again (hvp: reverse over forward) --


@vjp_rule(spread_tangent)
def spread_tangent_vjp(g, ans, tangent, like):
    return unbroadcast(g, tangent), None


@vjp_rule(writable_tangent)
def writable_tangent_vjp(g, ans, tangent, value):
    return unbroadcast(g, tangent), None


@vjp_rule(tangent_out)
def tangent_out_vjp(g, ans, tangent, value):
    return unbroadcast(g, tangent), None


@vjp_rule(mean_tangent)
def mean_tangent_vjp(g, ans, tangent):
    return expand_reduced(g / reduced_count(tangent), tangent)


linear(mean_tangent)  # its tangent: mean_tangent(dtangent)
nondifferentiable(zero_tangent)

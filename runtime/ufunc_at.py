"""``np.add.at(y, idx, v)`` and its kin on tensors: in-place operations recorded as
out-of-place primitives of the tape's own.

``np.add.at`` adds without buffering: where idx repeats a position, every value is added
there (``y[idx] += v`` adds only the last). On the tape it is an in-place operation on y,
recorded as the out-of-place primitive below, as item assignment is: the gradient of y is
g, and of v the cotangent of each position it was added to, g[idx], gathered with repeats.
np.multiply.at multiplies every value in, likewise. The transform does not read these
calls (it runs them on the tape).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .device import array_module, index_beside
from .grad_mode import is_grad_enabled
from .inplace import count_write, write_at
from .raw_values import KEPT
from .recording import unwrap_index
from .rules.indexing import scatter_add
from .rules.registry import Rule, shape_only
from .rules.shared import unbroadcast
from .tensor import GradientLostError, Tensor

__all__ = ["ufunc_at"]

_ndarray = np.ndarray


def added_at(x: Any, indices: Any, values: Any) -> Any:
    """A copy of ``x`` after ``np.add.at(x, indices, values)``.

    >>> added_at(np.zeros(3), [0, 0, 2], 1.0)
    array([2., 0., 1.])
    """
    out = x.copy()
    scatter_add(out, indices, values)
    return out


def subtracted_at(x: Any, indices: Any, values: Any) -> Any:
    """A copy of ``x`` after ``np.subtract.at(x, indices, values)``."""
    out = x.copy()
    scatter_add(out, indices, -array_module(values).asarray(values))
    return out


def added_at_vjp(g, ans, x, indices, values):
    return g, None, unbroadcast(g[indices], values)


def subtracted_at_vjp(g, ans, x, indices, values):
    return g, None, unbroadcast(-g[indices], values)


def multiplied_at(x: Any, indices: Any, values: Any) -> Any:
    """A copy of ``x`` after ``np.multiply.at(x, indices, values)`` (host arrays).

    >>> multiplied_at(np.ones(3), [0, 0, 2], 2.0)
    array([4., 1., 2.])
    """
    out = x.copy()
    np.multiply.at(out, indices, values)
    return out


def multiplied_at_vjp(g, ans, x, indices, values):
    return g * at_factors(x, indices, values), None, at_values_grad(g, x, indices, values)


@shape_only(0)
def at_factors(x: Any, indices: Any, values: Any) -> Any:
    """What ``np.multiply.at(x, indices, values)`` multiplies each element of ``x`` by: the
    product of the values written to it (1 where none is), the gradient of ``x``."""
    factors = np.ones(np.shape(x), dtype=np.result_type(x, values))
    np.multiply.at(factors, indices, values)
    return factors


def at_values_grad(g: Any, x: Any, indices: Any, values: Any) -> Any:
    """The gradient of the values of ``np.multiply.at(x, indices, values)``: for each one,
    the cotangent where it was written, times the old value there and the product of the
    other values written to the same position. Zeros among those values are counted, not
    divided by: the product of the others is exact where one of them, or it, is 0."""
    x = np.asarray(x)
    places = np.arange(x.size).reshape(x.shape)[indices]  # where each value was written
    at = places.reshape(-1)
    v = np.broadcast_to(values, places.shape).reshape(-1)
    zero = v == 0
    product = np.ones(x.size, dtype=np.result_type(x, values))  # of the nonzero values
    np.multiply.at(product, at, np.where(zero, 1, v))
    zeros = np.zeros(x.size, dtype=np.intp)  # how many values written there are 0
    np.add.at(zeros, at, zero)
    others = np.where(
        zero,
        np.where(zeros[at] == 1, product[at], 0),
        np.where(zeros[at] == 0, product[at] / np.where(zero, 1, v), 0),
    )
    grad = np.reshape(g, -1)[at] * x.reshape(-1)[at] * others
    return unbroadcast(grad.reshape(places.shape), values)


def extremum_at(x: Any, indices: Any, values: Any, function: np.ufunc = np.maximum) -> Any:
    """A copy of ``x`` after ``function.at(x, indices, values)``, for np.maximum, np.minimum,
    np.fmax and np.fmin (host arrays)."""
    out = x.copy()
    function.at(out, indices, values)
    return out


def extremum_at_vjp(g, ans, x, indices, values, function=np.maximum):
    return (
        at_extremum_share(g, ans, x, indices, values),
        None,
        at_extremum_share(g, ans, x, indices, values, for_values=True),
    )


def at_extremum_share(
    g: Any, ans: Any, x: Any, indices: Any, values: Any, for_values: bool = False
) -> Any:
    """The gradient of ``x`` (or of the values) through ``np.maximum.at(x, indices, values)``
    and its kin: each position's cotangent goes to what it holds now, the old value or a
    value written there, shared equally among those that tie (as for np.max)."""
    x = np.asarray(x)
    places = np.arange(x.size).reshape(x.shape)[indices]  # where each value was written
    at = places.reshape(-1)
    v = np.broadcast_to(values, places.shape).reshape(-1)
    held = np.reshape(ans, -1)
    x_hits = x.reshape(-1) == held
    v_hits = v == held[at]
    count = x_hits.astype(held.dtype)
    np.add.at(count, at, v_hits)
    share = np.where(count > 0, np.reshape(g, -1) / np.where(count > 0, count, 1), 0)
    if for_values:
        return unbroadcast((share[at] * v_hits).reshape(places.shape), values)
    return (share * x_hits).reshape(x.shape)


# Not in the rule table, as _ELEMENTS: functions of the tape's own, which user code reaches
# only through np.add.at, np.subtract.at, np.multiply.at, np.maximum.at, np.minimum.at,
# np.fmax.at and np.fmin.at on tensors.
_ADDED_AT = Rule(added_at, added_at_vjp, "add_at", "AddAtBackward", False, True)
_SUBTRACTED_AT = Rule(subtracted_at, subtracted_at_vjp, "subtract_at", "SubAtBackward", False, True)
_MULTIPLIED_AT = Rule(multiplied_at, multiplied_at_vjp, "multiply_at", "MulAtBackward", False, True)
_EXTREMUM_AT = Rule(extremum_at, extremum_at_vjp, "extremum_at", "ExtremumAtBackward", False, True)
_AT_RULES = {np.add: _ADDED_AT, np.subtract: _SUBTRACTED_AT, np.multiply: _MULTIPLIED_AT}
_AT_RULES.update(dict.fromkeys((np.maximum, np.minimum, np.fmax, np.fmin), _EXTREMUM_AT))
_HOST_ONLY_AT = frozenset({_MULTIPLIED_AT, _EXTREMUM_AT})


def ufunc_at(function: np.ufunc, a: Any, indices: Any, b: Any = None) -> None:
    """``function.at(a, indices, b)`` with tensors among its operands: an in-place operation
    on ``a``, recorded for np.add and np.subtract when a gradient is needed."""
    what = f"np.{function.__name__}.at"
    needs_grad = is_grad_enabled() and (
        (isinstance(a, Tensor) and a._requires_grad) or (isinstance(b, Tensor) and b._requires_grad)
    )
    if not isinstance(a, Tensor):
        if needs_grad:
            raise GradientLostError(
                f"{what}(array, indices, tensor) would add a tensor that requires grad into a "
                "plain NumPy array and drop its gradient; make the array a tensor "
                "(ag.zeros(...), or np.zeros(...) inside a function run on the tape)."
            )
        raw_b = b.data if isinstance(b, Tensor) else b
        function.at(a, unwrap_index(indices), *([] if b is None else [raw_b]))
        return
    rule = _AT_RULES.get(function)
    if rule in _HOST_ONLY_AT and type(a._data) is not _ndarray and type(a._data) not in KEPT:
        rule = None  # (its gradient is computed with NumPy: host arrays only)
    if needs_grad and (rule is None or b is None):
        raise NotImplementedError(
            f"{what} on tensors that require grad has no derivative in astgrad (np.add.at "
            f"and np.subtract.at have one, and on the CPU np.multiply.at, np.maximum.at, "
            f"np.minimum.at, np.fmax.at and np.fmin.at); write it with indexing and "
            f"functions that have rules"
        )
    if b is None:  # a ufunc of one operand (np.negative.at): nothing needs a gradient
        data = a.data
        function.at(data, index_beside(data, unwrap_index(indices)))
        count_write(a, False)
        return

    def write(data: Any, index: Any, raw: Any) -> None:
        function.at(data, index, raw)

    extra = {"function": function} if rule is _EXTREMUM_AT else None
    write_at(a, indices, b, rule, write, what, extra)

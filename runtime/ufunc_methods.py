"""ufunc methods other than ``at`` (see ufunc_at) on tensors, and ``np.vectorize`` on the
tape.

* ``reduce``: ``np.add.reduce``, ``np.multiply.reduce``, ``np.maximum.reduce`` and
  ``np.minimum.reduce`` are np.sum, np.prod, np.max and np.min, recorded through their
  rules, along axis 0 unless told otherwise (NumPy's default for a ufunc's reduce, where
  the functions reduce everything), ``initial=`` and ``where=`` included.
* ``accumulate``: ``np.add.accumulate`` and ``np.multiply.accumulate`` are np.cumsum and
  np.cumprod along axis 0; ``np.maximum.accumulate`` and ``np.minimum.accumulate`` record
  a primitive of the tape's own whose gradient sends each result's cotangent to the
  element it holds (the latest of tied ones, from where the running extremum holds).
* ``reduceat``: ``np.add.reduceat`` records a primitive whose gradient sends each sum's
  cotangent to the elements it added.

Any other ufunc's method, with a tensor that requires grad, raises NotImplementedError
naming the method and the user's line. The transform does not read these calls (auto
mode runs them on the tape).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from .device import array_module
from .grad_mode import is_grad_enabled
from .recording import apply
from .rules import lookup
from .rules.registry import Rule
from .rules.shared import _shape
from .tensor import Tensor

__all__ = ["ufunc_method", "vectorize_on_tape"]

#: the reductions a ufunc's reduce is
_REDUCTIONS = {np.add: np.sum, np.multiply: np.prod, np.maximum: np.max, np.minimum: np.min}
#: the scans a ufunc's accumulate is
_SCANS = {np.add: np.cumsum, np.multiply: np.cumprod}


def ufunc_method(
    function: np.ufunc, method: str, inputs: tuple, kwargs: dict, recording: bool
) -> Any:
    """``function.<method>(*inputs, **kwargs)`` for reduce, accumulate and reduceat with
    tensors among the inputs (NumPy hands the options over as keywords), ``recording``
    when one requires grad; NotImplemented for what this module leaves to the caller."""
    if method == "reduce" and function in _REDUCTIONS:
        return _reduce(function, inputs, kwargs)
    if method == "accumulate" and function in _SCANS:
        scan = _SCANS[function]
        return apply(lookup(scan), scan, inputs, {"axis": 0, **kwargs})
    if method == "accumulate" and function in (np.maximum, np.minimum):
        options = {"axis": 0, **kwargs}
        return apply(_RUNNING_EXTREMUM, running_extremum, inputs, {**options, "function": function})
    if method == "reduceat" and function is np.add:
        return apply(_SEGMENT_SUMS, segment_sums, inputs, {"axis": 0, **kwargs})
    if recording and method in ("accumulate", "reduceat", "reduce"):
        raise NotImplementedError(
            f"np.{function.__name__}.{method} of a tensor that requires grad has no "
            f"derivative in astgrad (at {user_line()}); np.add and np.multiply's "
            "reduce and accumulate, np.maximum and np.minimum's, and np.add.reduceat have "
            "one. Write it with functions that have rules (np.cumsum, np.max, indexing...)."
        )
    return NotImplemented


def _reduce(function: np.ufunc, inputs: tuple, kwargs: dict) -> Any:
    reduction = _REDUCTIONS[function]
    options = {"axis": 0, **kwargs}
    if reduction in (np.max, np.min) and options.get("dtype") is not None:
        raise NotImplementedError(
            f"np.{function.__name__}.reduce(..., dtype=...) of a tensor that requires grad "
            f"(at {user_line()}): astgrad differentiates it as np.{reduction.__name__}, "
            "which takes no dtype; cast the array first (x.astype(...))."
        )
    if reduction in (np.max, np.min):
        options.pop("dtype", None)
    return apply(lookup(reduction), reduction, inputs, options)


def user_line() -> str:
    """``file:line`` of the user's call: the innermost frame that is not astgrad's nor
    NumPy's (generated code's line read back to the user's line it was made from)."""
    from .anomaly import _site_of  # (anomaly knows generated code's origins)

    frame = sys._getframe(1)
    while frame is not None:
        if (frame.f_globals.get("__name__") or "").split(".")[0] != "numpy":
            site = _site_of(frame.f_code, frame.f_lineno)
            if site is not None:
                return f"{site.filename}:{site.line}"
        frame = frame.f_back
    return "an unknown line"


# -- np.maximum.accumulate, np.minimum.accumulate --------------------------------------------


def running_extremum(
    x: Any, axis: int = 0, dtype: Any = None, function: np.ufunc = np.maximum
) -> Any:
    """``function.accumulate(x, axis, dtype)`` for np.maximum and np.minimum."""
    return function.accumulate(x, axis=axis, dtype=dtype)


def running_extremum_vjp(g, ans, x, axis=0, dtype=None, function=np.maximum):
    return running_extremum_grad(g, ans, x, axis), None, None, None


def running_extremum_grad(g: Any, ans: Any, x: Any, axis: int = 0) -> Any:
    """Gradient of ``np.maximum.accumulate(x, axis)`` (or minimum's): result i holds the
    element j <= i where the running extremum was last reached (the latest of tied ones),
    and sends its cotangent there. (Built as a one-hot product of the results' and
    elements' positions along the axis, so that it records on tensors for second
    derivatives; n squared per slice.)

    >>> x = np.array([1.0, 3.0, 2.0, 3.0])
    >>> running_extremum_grad(np.ones(4), np.maximum.accumulate(x), x)
    array([1., 2., 0., 1.])
    """
    xp = array_module(g, x)
    g_last = xp.moveaxis(g, axis, -1)
    reached = xp.moveaxis(x == ans, axis, -1)
    positions = np.arange(_shape(x)[axis])
    held = np.maximum.accumulate(np.where(_raw(reached), positions, 0), axis=-1)
    onehot = held[..., :, None] == positions  # (..., result i, element j)
    grad = (g_last[..., :, None] * onehot).sum(axis=-2)
    return xp.moveaxis(grad, -1, axis)


# -- np.add.reduceat -----------------------------------------------------------------------------


def segment_sums(x: Any, indices: Any, axis: int = 0, dtype: Any = None) -> Any:
    """``np.add.reduceat(x, indices, axis, dtype)``."""
    return np.add.reduceat(x, indices, axis=axis, dtype=dtype)


def segment_sums_vjp(g, ans, x, indices, axis=0, dtype=None):
    return segment_sums_grad(g, x, indices, axis), None, None, None


def segment_sums_grad(g: Any, x: Any, indices: Any, axis: int = 0) -> Any:
    """Gradient of ``np.add.reduceat(x, indices, axis)``: each sum's cotangent to the
    elements it added, ``x[indices[k]:indices[k + 1]]`` (``x[indices[k]]`` alone where the
    next index is not larger; up to the end for the last).

    >>> segment_sums_grad(np.array([1.0, 2.0, 3.0]), np.zeros(5), [0, 2, 1])
    array([1., 4., 5., 3., 3.])
    """
    n = _shape(x)[axis]
    starts = np.asarray(indices).reshape(-1)
    ends = np.append(starts[1:], n)
    ends = np.where(ends > starts, ends, starts + 1)
    positions = np.arange(n)
    member = (positions >= starts[:, None]) & (positions < ends[:, None])  # (sum k, element j)
    xp = array_module(g)
    moved = xp.moveaxis(g, axis, 0)
    grad = xp.tensordot(member.T.astype(_dtype_of(g)), moved, 1)
    return xp.moveaxis(grad, 0, axis)


def _dtype_of(g: Any) -> Any:
    dtype = getattr(g, "dtype", None)
    return np.float64 if dtype is None or dtype.kind not in "fc" else dtype


def _raw(value: Any) -> Any:
    return value.data if isinstance(value, Tensor) else value


# Not in the rule table: primitives of the tape's own, reached only through np.maximum's
# and np.minimum's accumulate and np.add.reduceat on tensors.
_RUNNING_EXTREMUM = Rule(
    running_extremum, running_extremum_vjp, "running_extremum", "AccumulateBackward", False, True
)
_SEGMENT_SUMS = Rule(segment_sums, segment_sums_vjp, "reduceat", "ReduceatBackward", False, True)


# -- np.vectorize ----------------------------------------------------------------------------------


def vectorize_on_tape(vectorize: type) -> Callable:
    """``np.vectorize`` as code on the tape sees it: called with tensors, the Python
    function runs on each element (a 0-d tensor, as the tape runs the user's functions)
    and the results are stacked in the broadcast shape, which records; NumPy's would
    convert the tensors to arrays and drop their gradient. With ``signature=`` or
    ``excluded=`` and a tensor that requires grad it raises, naming the line."""

    def tape_vectorize(pyfunc: Any = np._NoValue, *args: Any, **kwargs: Any) -> Any:
        if pyfunc is np._NoValue:  # @np.vectorize(otypes=...) as a decorator factory
            return lambda f: tape_vectorize(f, *args, **kwargs)
        return TapeVectorized(vectorize(pyfunc, *args, **kwargs))

    tape_vectorize.__name__ = "vectorize"
    return tape_vectorize


class TapeVectorized:
    """A ``np.vectorize`` object whose calls with tensors record (see
    :func:`vectorize_on_tape`)."""

    def __init__(self, vectorized: np.vectorize) -> None:
        self.vectorized = vectorized
        self.__doc__ = vectorized.__doc__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        vectorized = self.vectorized
        tensors = [a for a in (*args, *kwargs.values()) if isinstance(a, Tensor)]
        if not tensors or not (is_grad_enabled() and any(t._requires_grad for t in tensors)):
            return vectorized(*(_raw(a) for a in args), **{k: _raw(v) for k, v in kwargs.items()})
        if vectorized.signature is not None or vectorized.excluded or kwargs:
            raise NotImplementedError(
                f"np.vectorize(...) with signature=, excluded= or keyword arguments, called "
                f"with a tensor that requires grad (at {user_line()}): astgrad runs the "
                "function element by element only for positional arguments; call it on the "
                "elements yourself, or write it with NumPy functions."
            )
        from .fallback import on_tape  # (fallback imports this module)

        run = on_tape(vectorized.pyfunc)
        shape = np.broadcast_shapes(*(np.shape(a) for a in args))
        results = []
        for index in np.ndindex(shape):
            results.append(run(*(_element(a, index, len(shape)) for a in args)))
        if not shape:
            return results[0]
        if isinstance(results[0], tuple):  # several results: each stacked
            return tuple(_stacked([r[k] for r in results], shape) for k in range(len(results[0])))
        return _stacked(results, shape)


def _element(value: Any, index: tuple, ndim: int) -> Any:
    """The element of ``value`` that broadcasting to ``ndim`` axes puts at ``index``."""
    shape = np.shape(value)
    if not shape:
        return value
    own = index[ndim - len(shape) :]
    return value[tuple(i if n > 1 else 0 for i, n in zip(own, shape))]


def _stacked(parts: list, shape: tuple) -> Any:
    tensors = [p if isinstance(p, Tensor) else Tensor(np.asarray(p)) for p in parts]
    return np.reshape(np.stack(tensors), shape)

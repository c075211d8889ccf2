"""Adjoints that generated code changes in place, where it alone holds their arrays.

The buffer an element loop's backward pass adds its adjoints into in place.

``du = add_at(du, u, i, g)`` makes a new array for every element it adds (adjoints are
never changed in place: another name may hold them). Where ``transform.accumulate``
shows that, inside one backward loop, ``du`` is only ever added into and taken from one
element at a time, the loop instead starts from an array of its own, made here, and
changes it in place: ``du[i] = du[i] + g``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .device import CPU, array_module, device_of
from .rules.containers import is_zero
from .rules.indexing import scatter_grad
from .rules.shared import _is_basic_index

__all__ = ["add_scattered", "gradient_buffer"]


def buffer_module(container: Any) -> Any:
    """The module that makes ``container``'s buffer: NumPy for a NumPy array, the device's
    (CuPy) for an array on a device; None for anything else (no buffer is made)."""
    if type(container) is np.ndarray:
        return np
    if device_of(container) == CPU:  # (None, a placeholder, a number: no array of ours)
        return None
    return array_module(container)


def gradient_buffer(adjoint: Any, container: Any) -> Any:
    """A new array, shaped like the array ``container`` (a NumPy array, or one on a device,
    made there), holding ``adjoint`` (zeros for the adjoint nothing flowed into yet), that
    nothing else refers to. Float64 (or complex) whatever ``container``'s dtype, as element
    adjoints added into it may be. Anything else than an array (an unbound name's
    placeholder, None: the loop that would read it does not run) gives ``adjoint`` back.

    >>> gradient_buffer(0, np.ones(3, dtype=np.float32))
    array([0., 0., 0.])
    >>> shared = np.ones(2)
    >>> buffer = gradient_buffer(shared, shared)
    >>> buffer[0] = 5.0
    >>> shared
    array([1., 1.])
    """
    xp = buffer_module(container)
    if xp is None:
        return adjoint
    if is_zero(adjoint):
        return xp.zeros(container.shape, np.result_type(container.dtype, np.float64))
    dtype = np.result_type(container.dtype, getattr(adjoint, "dtype", np.float64), np.float64)
    buffer = xp.zeros(container.shape, dtype)
    buffer += adjoint  # a copy (of a read-only broadcast view too)
    return buffer


_ndarray = np.ndarray
_FLOAT64 = np.dtype(np.float64)


def add_scattered(adjoint: Any, container: Any, index: Any, value: Any) -> Any:
    """``adjoint + scatter_grad(value, container, index)``: ``adjoint`` with ``value`` added
    at ``index`` of an array shaped like ``container``, written into ``adjoint``'s own
    memory where that gives the same array (a NumPy array of ``container``'s shape and
    of the dtype the sum would have, and an index of ints and slices, which names each
    position once). Generated code calls it only for an adjoint that nothing else can
    hold (``transform.adds_in_place``: a sum just made, that no statement read since);
    otherwise it makes the sum, as ``add_at`` does.

    >>> total = np.zeros((3, 3))
    >>> add_scattered(total, total, (slice(1, None), 0), 2.0) is total
    True
    >>> total[:, 0]
    array([0., 2., 2.])
    """
    if (
        type(adjoint) is _ndarray
        and adjoint.shape == getattr(container, "shape", None)
        and type(container) is _ndarray
        and adjoint.flags.writeable
        and (
            # (an array or NumPy number of the adjoint's dtype: not a tensor that records)
            (
                (type(value) is _ndarray or isinstance(value, np.generic))
                and value.dtype is adjoint.dtype
            )
            or (type(value) is float and adjoint.dtype is _FLOAT64)
        )
        and _is_basic_index(index)
    ):
        adjoint[index] += value
        return adjoint
    return adjoint + scatter_grad(value, container, index)

"""What a tensor holds: the kinds of raw values the tape computes on, and how a primitive's
result becomes one.

A tensor's raw value (``Tensor._data``) is an array, or a NumPy scalar where a result has no
dimensions: NumPy's scalar arithmetic is about ten times cheaper than a ufunc call on a 0-d
array, with the same dtype rules and the same values. ``Tensor.data`` turns such a scalar
into a 0-d array the first time it is read, so users, and everything outside the tape's
fast path, only ever see arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["NUMPY_SCALARS", "HOST", "KEPT", "as_result", "is_buffer", "ones_like_array"]

# Raw values that live on the CPU and need no device check next to each other: NumPy
# arrays, NumPy's numeric scalars and Python numbers. Anything else (CuPy arrays, array
# subclasses that claim a device) goes through device.check_same_device.
NUMPY_SCALARS = frozenset(t for t in np.sctypeDict.values() if issubclass(t, (np.number, np.bool_)))
NUMBERS = frozenset({float, int, bool, complex}) | NUMPY_SCALARS
HOST = frozenset({np.ndarray}) | NUMBERS
# Results kept as they are: arrays and NumPy scalars (other array types are checked).
KEPT = frozenset({np.ndarray}) | NUMPY_SCALARS

_ndarray = np.ndarray
_generic = np.generic


def as_result(value: Any) -> Any:
    """A primitive's result as a tensor holds it: arrays and NumPy scalars as they are,
    Python numbers as NumPy values, other array types (CuPy) as they are."""
    kind = type(value)
    if kind in KEPT:
        return value
    # NumPy scalars carry __array_priority__ too, so they must be caught before the test
    # that lets other array types (CuPy) through.
    if isinstance(value, (_ndarray, _generic)) or hasattr(value, "__array_priority__"):
        return value
    return np.asarray(value)


def is_buffer(value: Any) -> bool:
    """Whether ``value`` is a mutable array (NumPy or CuPy) rather than a number."""
    kind = type(value)
    if kind is _ndarray:
        return True
    if kind in HOST:
        return False  # numbers; and skip the failing hasattr below, which is slow
    return isinstance(value, _ndarray) or hasattr(value, "__cuda_array_interface__")


def ones_like_array(data: Any) -> Any:
    """The seed of ``backward()`` for a one-element result, of its type, shape and dtype."""
    if type(data) in NUMPY_SCALARS:
        return data.dtype.type(1)
    return np.ones_like(data)

"""Functions that make tensors: from data, from a shape, or like another tensor."""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from .device import CPU, Device, device_from_spec, device_of, module_on, to_device
from .tensor import Tensor

__all__ = [
    "tensor",
    "from_numpy",
    "zeros",
    "ones",
    "empty",
    "full",
    "randn",
    "rand",
    "arange",
    "eye",
    "zeros_like",
    "ones_like",
    "manual_seed",
]

_generator = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed the generator behind ``ag.randn`` and ``ag.rand`` (the same numbers on every
    device, since they are drawn on the host)."""
    global _generator
    _generator = np.random.default_rng(seed)


def _shape(shape: tuple) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    try:
        return tuple(operator.index(n) for n in shape)
    except TypeError:
        raise TypeError(
            f"a shape is given as ints or one tuple of ints, e.g. randn(2, 3) or "
            f"randn((2, 3)); got {shape!r}"
        ) from None


def _finish(array: np.ndarray, device: Any, requires_grad: bool) -> Tensor:
    target = device_from_spec(device)
    if target != CPU:
        array = to_device(array, target)
    return Tensor(array, requires_grad=requires_grad)


def tensor(
    data: Any, *, dtype: Any = None, device: str | Device | None = None, requires_grad: bool = False
) -> Tensor:
    """A tensor holding a copy of ``data`` (nested lists, numbers, arrays).

    >>> tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    tensor([[1., 2.],
            [3., 4.]], requires_grad=True)
    """
    if isinstance(data, Tensor):
        data = data.data
    source = device_of(data)
    if source != CPU:
        array = data.astype(dtype or data.dtype, copy=True)
        if device is not None and device_from_spec(device) != source:
            array = to_device(array, device)
        return Tensor(array, requires_grad=requires_grad)
    return _finish(np.array(data, dtype=dtype), device, requires_grad)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with a NumPy array: writes to one show in the other.

    >>> a = np.zeros(2)
    >>> t = from_numpy(a)
    >>> a[0] = 5.0
    >>> t
    tensor([5., 0.])
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects a NumPy array, not {type(array).__name__}")
    return Tensor(array)


def _filled(fill: Any, shape: tuple, dtype: Any, device: Any, requires_grad: bool) -> Tensor:
    # Made on the device itself: filling there is cheaper than copying a filled array over.
    xp = module_on(device_from_spec(device))
    return Tensor(
        xp.full(_shape(shape), fill, dtype=dtype or np.float64), requires_grad=requires_grad
    )


def zeros(
    *shape: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """A tensor of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))``."""
    return _filled(0, shape, dtype, device, requires_grad)


def ones(*shape: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones: ``ones(2, 3)`` or ``ones((2, 3))``."""
    return _filled(1, shape, dtype, device, requires_grad)


def empty(
    *shape: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """A tensor whose values are whatever memory held (fill it before use)."""
    xp = module_on(device_from_spec(device))
    return Tensor(xp.empty(_shape(shape), dtype=dtype or np.float64), requires_grad=requires_grad)


def full(
    shape: Any,
    fill_value: Any,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """A tensor of ``shape`` filled with ``fill_value``."""
    shape = (shape,) if isinstance(shape, (int, np.integer)) else shape
    return _filled(fill_value, (shape,), dtype, device, requires_grad)


def randn(
    *shape: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """Standard normal samples: ``randn(3, 3)`` or ``randn((3, 3))``."""
    array = _generator.standard_normal(_shape(shape)).astype(dtype or np.float64, copy=False)
    return _finish(array, device, requires_grad)


def rand(*shape: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1)."""
    array = _generator.random(_shape(shape)).astype(dtype or np.float64, copy=False)
    return _finish(array, device, requires_grad)


def arange(
    start: Any,
    stop: Any = None,
    step: Any = 1,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Evenly spaced values, as ``np.arange``."""
    array = (
        np.arange(start, stop, step, dtype=dtype)
        if stop is not None
        else np.arange(start, dtype=dtype)
    )
    return _finish(array, device, requires_grad)


def eye(
    n: int,
    m: int | None = None,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """The identity matrix (``n`` by ``m``)."""
    return _finish(np.eye(n, m, dtype=dtype or np.float64), device, requires_grad)


def _like(fill: Any, other: Any, dtype: Any, device: Any, requires_grad: bool) -> Tensor:
    data = other.data if isinstance(other, Tensor) else other
    if not (hasattr(data, "shape") and hasattr(data, "dtype")):
        data = np.asarray(data)  # numbers and lists; arrays stay where they are
    where = device_from_spec(device) if device is not None else device_of(data)
    array = module_on(where).full(data.shape, fill, dtype=dtype or data.dtype)
    return Tensor(array, requires_grad=requires_grad)


def zeros_like(
    other: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """Zeros of ``other``'s shape, dtype and device."""
    return _like(0, other, dtype, device, requires_grad)


def ones_like(
    other: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """Ones of ``other``'s shape, dtype and device."""
    return _like(1, other, dtype, device, requires_grad)

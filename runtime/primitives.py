"""Primitives that NumPy lacks but tensors and generated code need.

Each works on any array type with NumPy's dispatch protocols and has a rule in
``runtime/rules``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .device import Device, to_device

__all__ = ["sigmoid", "relu", "assign_index", "move_to", "identity", "stop_gradient", "astype"]


def sigmoid(x: Any) -> Any:
    """The logistic function ``1 / (1 + exp(-x))``, computed without overflow.

    >>> float(sigmoid(0.0))
    0.5
    """
    return np.exp(-np.logaddexp(0, -x))


def relu(x: Any) -> Any:
    """``max(x, 0)`` elementwise.

    >>> relu(np.array([-1.0, 2.0]))
    array([0., 2.])
    """
    return np.maximum(x, 0)


def assign_index(x: Any, index: Any, value: Any) -> Any:
    """A copy of ``x`` with ``x[index] = value``: item assignment as a pure function.

    >>> assign_index(np.zeros(3), 1, 5.0)
    array([0., 5., 0.])
    """
    out = x.copy()
    out[index] = value
    return out


def move_to(x: Any, device: str | Device) -> Any:
    """``x`` copied onto ``device`` (unchanged if it is there already)."""
    return to_device(x, device)


def identity(x: Any) -> Any:
    """A copy of ``x`` (``Tensor.clone``)."""
    return x.copy()


def astype(x: Any, dtype: Any) -> Any:
    """``x.astype(dtype)`` as a function, for any array type, so that the cast has a rule:
    the gradient of a cast between float dtypes is cast back.

    >>> astype(np.array([1.5]), np.float32)
    array([1.5], dtype=float32)
    """
    return x.astype(dtype)


def stop_gradient(x: Any) -> Any:
    """``x`` as a value that carries no gradient: a tensor is detached, and in a function
    under ``@ag.grad`` nothing flows back through the expression.

    >>> import astgrad as ag
    >>> w = ag.tensor([1.0, 2.0], requires_grad=True)
    >>> (w * ag.stop_gradient(w)).sum().backward()
    >>> w.grad
    tensor([1., 2.])
    """
    detach = getattr(x, "detach", None)  # a Tensor; arrays and numbers have no tape to cut
    return detach() if detach is not None else x

"""Primitives that NumPy lacks but tensors and generated code need.

Each works on any array type with NumPy's dispatch protocols and has a rule in
``runtime/rules``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .device import Device, to_device

__all__ = [
    "sigmoid", "relu", "assign_index", "move_to", "identity", "stop_gradient", "astype",
    "sequence_length",
]  # fmt: skip


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


def sequence_length(sequence: Any) -> int:
    """``len(sequence)`` for a loop that reads ``sequence[i]`` by position: what generated
    code runs for ``enumerate(s)``, ``zip(a, b)`` and ``reversed(s)``. A dict (or a set, or
    an iterator) is refused, since ``d[i]`` would look a key up instead of reading the i-th
    element, and could do so without an error.

    >>> sequence_length([1.0, 2.0])
    2
    >>> sequence_length({0: 1.0})
    Traceback (most recent call last):
    ...
    TypeError: a loop over enumerate(), zip() or reversed() of a dict reads it by position, ...
    """
    if isinstance(sequence, (list, tuple)) or hasattr(sequence, "__array__"):
        return len(sequence)
    if isinstance(sequence, (str, bytes, range)):
        return len(sequence)
    kind = type(sequence).__name__
    raise TypeError(
        f"a loop over enumerate(), zip() or reversed() of a {kind} reads it by position, "
        f"which a {kind} does not allow: loop over a list, tuple or array (d.items() or "
        "d.values() for a dict), or run the function with mode='tape'"
    )

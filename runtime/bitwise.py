"""Bitwise and logical operators on tensors (``a & b``, ``a | b``, ``a ^ b``, ``~a`` and
their in-place forms): NumPy's on the raw values, logical on booleans. Their results carry
no gradient."""

from __future__ import annotations

from typing import Any

import numpy as np

from .device import check_same_device
from .fast_path import operand
from .grad_mode import _state as _grad_state
from .inplace import count_write
from .recording import wrap_plain
from .tensor import Tensor

__all__ = ["bitwise", "bitwise_inplace"]


def bitwise(function: np.ufunc, *operands: Any) -> Tensor:
    """``a & b``, ``a | b``, ``a ^ b``, ``~a`` on tensors: NumPy's ``function`` on the raw
    values (logical on booleans), a result that carries no gradient."""
    raw = [operand(o)[0] for o in operands]
    if len(raw) > 1:
        check_same_device(raw)
    return wrap_plain(function(*raw))


def bitwise_inplace(target: Tensor, function: np.ufunc, other: Any) -> Tensor:
    """``target &= other`` and the like, written into ``target``."""
    if _grad_state.numbers and target._data.ndim == 0:
        # A number in a function run on the tape: rebound, as Python rebinds a bool.
        return bitwise(function, target, other)
    other_raw = operand(other)[0]
    data = target.data
    check_same_device((data, other_raw))
    if not getattr(getattr(data, "flags", None), "writeable", True):
        target._data = function(data, other_raw)
    else:
        function(data, other_raw, out=data)
    count_write(target, False)
    return target

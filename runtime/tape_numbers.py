"""Numbers taken out of a tensor in a function run on the tape.

There a 0-d tensor stands for a Python number (see grad_mode._State.numbers), so
``t.item()`` and ``t.tolist()`` of a tensor that needs a gradient give 0-d tensors that
keep it, as ``float(t)`` does (fallback._TapeFloat), where eager code gets Python numbers.
"""

from __future__ import annotations

from typing import Any

from .recording import apply, getitem
from .rules.rearranging import join_elements
from .rules.registry import Rule
from .tensor import Tensor

__all__ = ["number_of", "nested_elements"]


def number_of(tensor: Tensor) -> Tensor:
    """The one element of ``tensor`` as a 0-d tensor of its own (not a view: a number does
    not change when the tensor it came from does), through which gradients flow."""
    if tensor._data.size != 1:
        raise ValueError(
            f"can only convert a tensor of size 1 to a number, not one of shape "
            f"{tuple(tensor.shape)}"
        )
    number = getitem(tensor, (0,) * tensor._data.ndim)
    # (NumPy gives a scalar of its own; CuPy a 0-d view, which is copied)
    return number if number._base is None else number.clone()


def elements(x: Any) -> tuple:
    """The elements of ``x`` in C order, each without dimensions: one node's results. They
    share no memory with ``x`` (CuPy's elements are views, of a copy here)."""
    return tuple(x.reshape(-1).copy())


def elements_vjp(g, ans, x):
    return join_elements(g, ans, x)


# Not in the rule table: a function of the tape's own, which user code reaches only
# through t.tolist(); one node for all the elements keeps the backward pass linear in them.
_ELEMENTS = Rule(elements, elements_vjp, "tolist", "TolistBackward", True, True)


def nested_elements(tensor: Tensor) -> Any:
    """``tensor.tolist()`` with 0-d tensors for its elements, recorded as one node."""
    shape = tensor.shape
    flat = apply(_ELEMENTS, elements, (tensor,))

    def nest(start: int, dims: tuple) -> Any:
        if not dims:
            return flat[start]
        step = 1
        for d in dims[1:]:
            step *= d
        return [nest(start + i * step, dims[1:]) for i in range(dims[0])]

    return nest(0, tuple(shape))

"""Jacobian-vector products on the tape, by transposing a vector-Jacobian product.

The tape records reverse mode only. Forward mode's ``J t`` comes from it by the transpose
trick: record ``y = f(x)``; take the vector-Jacobian product ``g(u) = J^T u`` at a
cotangent ``u`` that is itself a tensor requiring grad, recording the backward pass
(``create_graph``); ``g`` is linear in ``u``, so the gradient of ``sum(g * t)`` with
respect to ``u`` is ``J t``. It costs one forward pass and two backward passes, and needs
no forward rule at all: every function the tape can differentiate twice (see
:mod:`.higher_order`) has it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .device import array_module
from .fallback import _flat_leaves, _run, _tensor_outputs, _to_tensors
from .grad_mode import _state as _grad_state
from .higher_order import autograd_grad
from .inplace import CALLERS_ARRAY, snapshot
from .tensor import Tensor, new_tensor

__all__ = ["tape_jvp", "tape_jvp_call"]


def tape_jvp_call(function: Callable, primals: Sequence[Any], tangents: Sequence[Any]) -> tuple:
    """``tape_jvp`` for a call from generated forward-mode code (printed there as
    ``tape_jvp``): the generated code reads the caller's arrays after the call, so a write
    into a moving argument raises RuntimeError rather than changing a copy of its own
    (as ``fallback.tape_call`` does for reverse mode).

    >>> import numpy as np
    >>> tape_jvp_call(np.tanh, (np.zeros(2),), (np.ones(2),))[1]
    array([1., 1.])
    """
    return tape_jvp(function, primals, tangents, own_copies=False)


def tape_jvp(
    function: Callable, primals: Sequence[Any], tangents: Sequence[Any], *, own_copies: bool = True
) -> tuple:
    """``(function(*primals), J @ tangents)``, computed on the tape.

    ``primals`` are the positional arguments; ``tangents`` has one entry per primal: an
    array (or float) of its shape, or None for an argument that does not move (it is then
    passed as it is). The value is what the function returns on the tape (a NumPy scalar
    for a 0-d result); the tangent has the value's structure: an array of each array's
    shape, a float for a float, a tuple for a tuple of results.

    >>> import numpy as np
    >>> def f(x, y):
    ...     return np.sin(x) * y
    >>> value, tangent = tape_jvp(f, (np.zeros(2), 3.0), (np.ones(2), None))
    >>> tangent
    array([3., 3.])
    >>> tape_jvp(lambda x: x**3, (2.0,), (1.0,))
    (np.float64(8.0), 12.0)
    """
    if len(primals) != len(tangents):
        raise ValueError(
            f"tape_jvp: {len(primals)} primals but {len(tangents)} tangents; give one tangent "
            "per primal (None for one that does not move)"
        )
    args = list(primals)
    moving: list[tuple[Tensor, Any]] = []
    for i, (primal, tangent) in enumerate(zip(primals, tangents)):
        if tangent is None:
            continue
        leaves: list[Tensor] = []
        args[i] = _to_tensors(primal, leaves)
        parts = _flat_leaves(tangent)
        if len(parts) != len(leaves) or any(
            np.shape(part) != leaf.shape for part, leaf in zip(parts, leaves)
        ):
            raise ValueError(
                f"tape_jvp: the tangent of argument {i} does not have the argument's "
                "structure and shapes"
            )
        moving.extend(zip(leaves, parts))
    # As a gradient run on the tape does: a function that changes an argument in place
    # (x[0] = ..., x += ...) changes a copy of its own, and its derivative is that at the
    # value given (inplace.detach_argument, which refuses where memory is shared)
    arguments = ([leaf for leaf, _ in moving], tuple(args), {}, function)
    if not own_copies:
        arguments = CALLERS_ARRAY
    for leaf, _ in moving:
        leaf._argument = arguments
    # the gradients are taken at the arguments as given: at stand-ins sharing each leaf's
    # accumulator, which a write into the leaf (now a copy with a history) leaves in place
    entries = [snapshot(leaf, False) for leaf, _ in moving]
    previous, numbers = _grad_state.enabled, _grad_state.numbers
    _grad_state.enabled = _grad_state.numbers = True
    try:
        result = _run(function, args, {})
        outputs = [(result, ())] if isinstance(result, Tensor) else _tensor_outputs(result)
        recorded = [(t, path) for t, path in outputs if t._requires_grad]
        # u: a zero cotangent per output, requiring grad; g = J^T u, recorded.
        cotangents = [_zeros_requiring_grad(t) for t, _ in recorded]
        found: dict = {}
        if recorded and moving:
            grads = autograd_grad(
                [t for t, _ in recorded],
                entries,
                grad_outputs=cotangents,
                create_graph=True,
                allow_unused=True,
            )
            total = None
            for grad, (leaf, tangent) in zip(grads, moving):
                if grad is None:
                    continue
                term = (grad * _beside(tangent, leaf)).sum()
                if term.dtype.kind == "c":
                    # complex values pair by Re(sum(g * t)) (rules/complex.py), whose
                    # gradient in u is J t again
                    term = term.real
                total = term if total is None else total + term
            if total is not None and total._requires_grad:
                # d total / d u = J t
                products = autograd_grad(total, cotangents, allow_unused=True)
                found = {id(t): p for (t, _), p in zip(recorded, products)}
    finally:
        _grad_state.enabled, _grad_state.numbers = previous, numbers
    value = _plain(result)
    return value, _tangent_of(result, value, found)


def _zeros_requiring_grad(tensor: Tensor) -> Tensor:
    data = tensor.data
    zeros = new_tensor(array_module(data).zeros(data.shape, dtype=data.dtype))
    zeros._requires_grad = True
    return zeros


def _beside(tangent: Any, leaf: Tensor) -> Any:
    """``tangent`` as an array of the leaf's dtype and module."""
    if isinstance(tangent, Tensor):
        tangent = tangent.data
    return array_module(leaf._data).asarray(tangent, dtype=leaf.dtype)


def _plain(value: Any) -> Any:
    """The value as the function gives it run on arrays: tensors' data (0-d as NumPy
    scalars), containers rebuilt."""
    if isinstance(value, Tensor):
        data = value.data
        return data[()] if getattr(data, "ndim", None) == 0 else data
    if isinstance(value, (list, tuple)):
        parts = [_plain(v) for v in value]
        return type(value)(parts) if isinstance(value, tuple) else parts
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _tangent_of(result: Any, value: Any, found: dict) -> Any:
    """The tangent of ``value`` (``result``'s data), from the products ``found`` per output
    tensor: zeros where nothing moved it; a float for a number."""
    if isinstance(result, Tensor):
        product = found.get(id(result))
        data = result.data
        if product is None:
            tangent = array_module(data).zeros(data.shape, dtype=_float_dtype(data))
        else:
            tangent = product.data.astype(_float_dtype(data), copy=True)
        return float(tangent) if data.ndim == 0 else tangent
    if isinstance(result, (list, tuple)):
        parts = [_tangent_of(r, v, found) for r, v in zip(result, value)]
        return type(result)(parts) if isinstance(result, tuple) else parts
    if isinstance(result, dict):
        return {k: _tangent_of(r, value[k], found) for k, r in result.items()}
    # what depends on nothing that moved: zeros, a float for a number
    if isinstance(value, (float, int, np.number)) and not isinstance(value, bool):
        return 0.0
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return array_module(value).zeros(value.shape, dtype=_float_dtype(value))
    return None


def _float_dtype(data: Any) -> Any:
    return data.dtype if data.dtype.kind in "fc" else np.float64

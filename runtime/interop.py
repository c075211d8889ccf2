"""NumPy's dispatch protocols: ``np.tanh(t)``, ``np.sum(t, axis=0)``, ``np.dot(a, b)`` on
tensors run the primitive on the raw arrays and record through the rule table."""

from __future__ import annotations

from typing import Any

import numpy as np

from .fast_path import binary, mean_of, unary
from .grad_mode import is_grad_enabled
from .recording import apply, no_rule_error, wrap_plain
from .rules import lookup
from .rules import registry as _registry
from .rules.registry import is_nondifferentiable
from .tensor import GradientLostError, Tensor
from .ufunc_at import ufunc_at
from .ufunc_methods import ufunc_method

__all__ = ["array_ufunc", "ufunc", "array_function"]


def _needs_grad(values: Any) -> bool:
    for value in values:
        if isinstance(value, Tensor):
            if value._requires_grad:
                return True
        elif type(value) in (list, tuple) and _needs_grad(value):
            return True
    return False


def _nested_tensors(value: Any) -> bool:
    """Whether lists inside the list ``value`` hold tensors (np.block's nesting), which
    apply, reading one list deep, would hand NumPy as they are."""
    return type(value) is list and any(type(v) is list and _holds_tensor(v) for v in value)


def _holds_tensor(value: list) -> bool:
    return any(isinstance(v, Tensor) or (type(v) is list and _holds_tensor(v)) for v in value)


def _raw(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.data
    if type(value) in (list, tuple):
        return type(value)(_raw(v) for v in value)
    return value


_CONTAINERS = (list, tuple)

# Functions of one array that also take NumPy scalars and return one result: called with
# one tensor and nothing else, they take the road of the methods (``t.sum()``).
_ONE_TENSOR_FUNCTIONS = frozenset(
    {np.sum, np.mean, np.prod, np.max, np.amax, np.min, np.amin, np.var, np.std}
)


# NumPy's own functions are their own keys in the rule table: one dict lookup finds their
# rule, where ``lookup`` first asks the function whether it wraps another (an attribute it
# lacks, which is slow to find missing).
_RULES = _registry._RULES


def array_ufunc(self: Tensor, function: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
    """``Tensor.__array_ufunc__``. A plain call of a ufunc of one or two operands (``x @ W``
    with a NumPy ``x``, ``np.tanh(t)``) goes straight to the road of the operators and
    methods: the same nodes, with the fewest Python calls; everything else to
    :func:`ufunc`."""
    if method == "__call__" and not kwargs:
        rule = _RULES.get(function)
        if rule is not None and rule.primitive is function and function.nout == 1:
            if len(inputs) == 2:
                x, y = inputs
                if type(x) not in _CONTAINERS and type(y) not in _CONTAINERS:
                    forward = rule.__dict__.get("_tape_operator")
                    if forward is not None:
                        return forward(x, y)
                    return binary(rule, x, y)
            elif len(inputs) == 1 and type(inputs[0]) is Tensor:
                return unary(rule, function, inputs[0])
    return ufunc(function, method, inputs, kwargs)


def ufunc(function: np.ufunc, method: str, inputs: tuple, kwargs: dict) -> Any:
    """Any other use of a ufunc on tensors (see :func:`array_ufunc`)."""
    recording = is_grad_enabled() and _needs_grad(inputs)
    out = kwargs.get("out")
    if out is not None and any(isinstance(o, Tensor) for o in out):
        return _into_tensor(function, method, inputs, kwargs, out)
    if out is not None:
        if recording:
            raise GradientLostError(
                f"np.{function.__name__}(..., out=array) would store a result that needs a "
                "gradient into a plain array and drop the gradient; assign the result to a "
                f"name instead (y = np.{function.__name__}(...)), or compute on t.detach()."
            )
        raw_out = tuple(_raw(o) for o in out)
        getattr(function, method)(*_raw(inputs), **{**kwargs, "out": raw_out})
        return out[0] if len(out) == 1 else out
    if method == "__call__":
        return apply(lookup(function), function, inputs, kwargs)
    if method == "at":
        ufunc_at(function, *inputs, **kwargs)
        return None
    if method in ("reduce", "accumulate", "reduceat"):
        result = ufunc_method(function, method, inputs, kwargs, recording)
        if result is not NotImplemented:
            return result
    if method == "outer" and recording and len(inputs) == 2 and not kwargs:
        # np.multiply.outer(a, b) is a[..., None, ...] * b, with an axis for each of b's:
        # the same elements, recorded through the ufunc's rule (as in dot's gradient).
        a, b = inputs
        return function(a[(...,) + (None,) * np.ndim(b)], b)
    if recording:
        raise NotImplementedError(
            f"np.{function.__name__}.{method} on tensors that require grad is not supported; "
            f"write it with functions that have rules (np.sum, np.cumsum, indexing...)"
        )
    return wrap_plain(getattr(function, method)(*_raw(inputs), **_raw_kwargs(kwargs)))


def _into_tensor(function: np.ufunc, method: str, inputs: tuple, kwargs: dict, out: tuple) -> Any:
    """``np.add(a, b, out=t)`` with a tensor ``t``: ``t[...] = np.add(a, b)``, an in-place
    write the tape records as any other (its old value's gradient stops there, views of
    ``t`` see the new values, and the result's gradient, if it has one, flows into ``t``).
    Writing the raw result into ``t``'s memory instead left ``t``'s node computing its old
    value: a silently wrong gradient through ``t`` and its views."""
    if method != "__call__" or len(out) != 1 or kwargs.get("where", True) is not True:
        raise GradientLostError(
            f"np.{function.__name__}.{method}(..., out=tensor) with several outputs or "
            "where= cannot be recorded; assign the result to a name instead (y = "
            f"np.{function.__name__}(...)) and write it where it belongs."
        )
    (target,) = out
    rest = {key: value for key, value in kwargs.items() if key not in ("out", "where")}
    target[...] = ufunc(function, method, inputs, rest)
    return target


def _raw_kwargs(kwargs: dict) -> dict:
    return {k: _raw(v) for k, v in kwargs.items()}


def array_function(self: Tensor, function: Any, types: Any, args: tuple, kwargs: dict) -> Any:
    """``Tensor.__array_function__``: a NumPy function called with tensors records through
    its rule."""
    rule = _RULES.get(function)
    if rule is None:
        rule = lookup(function)
    if rule is not None:
        if (
            not kwargs
            and len(args) == 1
            and type(args[0]) is Tensor
            and function in _ONE_TENSOR_FUNCTIONS
            and rule.primitive is function
        ):
            return unary(rule, mean_of if function is np.mean else function, args[0])
        if function is np.block and len(args) == 1 and _nested_tensors(args[0]):
            from .fallback import blocks_of_tensors  # (fallback imports this module)

            return blocks_of_tensors(args[0])
        return apply(rule, function, args, kwargs)
    if is_nondifferentiable(function) or not (
        is_grad_enabled() and (_needs_grad(args) or _needs_grad(kwargs.values()))
    ):
        return wrap_plain(function(*_raw(args), **_raw_kwargs(kwargs)))
    raise no_rule_error(function)

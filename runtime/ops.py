"""Running primitives on tensors and recording them: the tape's one entry point.

:func:`apply` runs a primitive on the raw arrays inside its tensor arguments and, when an
input requires grad and grad mode is on, records a node that holds what the primitive's
rule needs. :func:`binary` is the same for two operands, minus the generality, because
arithmetic operators are the tape's hot path. In-place operators and item assignment
record the out-of-place operation and write its result back (:func:`inplace`).
"""

from __future__ import annotations

import functools
import operator
from typing import Any, Callable

import numpy as np

from . import primitives
from .device import CPU, check_same_device, index_beside, to_device
from .grad_mode import is_grad_enabled
from .graph import tape_info
from .rules import lookup
from .rules.registry import Rule, describe, is_nondifferentiable
from .tensor import Tensor

__all__ = ["apply", "binary", "inplace", "setitem", "primitive", "NoRuleError"]

_ndarray = np.ndarray
_generic = np.generic
_new_tensor = object.__new__
_PLAIN = (_ndarray, float, int, bool)

# Primitives whose result may share memory with their first argument.
_VIEW_PRIMITIVES = frozenset(
    {
        operator.getitem,
        np.reshape,
        np.ravel,
        np.transpose,
        np.squeeze,
        np.expand_dims,
        np.swapaxes,
        np.moveaxis,
    }
)


class NoRuleError(NotImplementedError):
    """A function that needs a gradient has no rule in the table."""


def no_rule_error(function: Any) -> NoRuleError:
    name = getattr(function, "__name__", repr(function))
    qualified = describe(function)
    return NoRuleError(
        f"{qualified} has no derivative rule in astgrad, so its result cannot carry a "
        f"gradient. Register one: @ag.vjp_rule({qualified}) def {name}_vjp(g, ans, ...): "
        f"return <gradient per argument>; or apply it to t.detach() if no gradient should "
        f"flow through it."
    )


def _wrap(data: Any, node: Any = None, output_nr: int = 0) -> Tensor:
    t = _new_tensor(Tensor)
    t.data = data
    t._requires_grad = node is not None
    t.grad_fn = node
    t._output_nr = output_nr
    t._grad = None
    t._counter = None
    t._base = None
    t._view_history = 0
    t._accumulator = None
    t._retains_grad = False
    return t


def _as_array(value: Any) -> Any:
    """Results stay arrays: NumPy turns 0-d results into scalars, which we undo."""
    if type(value) is _ndarray:
        return value
    # NumPy scalars carry __array_priority__ too, so they must be caught before the test
    # that lets other array types (CuPy) through.
    if isinstance(value, _generic) or not hasattr(value, "__array_priority__"):
        return np.asarray(value)
    return value


def wrap_plain(value: Any) -> Any:
    """Wrap an array result that carries no gradient; leave other values alone."""
    if isinstance(value, (_ndarray, np.generic)) or (
        hasattr(value, "shape") and hasattr(value, "dtype")
    ):
        return _wrap(_as_array(value))
    if isinstance(value, tuple):
        return tuple(wrap_plain(v) for v in value)
    return value


def ones_like_array(data: Any) -> Any:
    return np.ones_like(data)


def _edge(tensor: Tensor) -> tuple:
    node = tensor.grad_fn
    if node is None:
        return (tensor._grad_accumulator(), 0)
    return (node, tensor._output_nr)


def _check_fresh_view(tensor: Tensor) -> None:
    if tensor._counter.history != tensor._view_history:
        raise RuntimeError(
            "a view of a tensor (from indexing, reshape or transpose) was used after an "
            "in-place operation changed the tensor it views; its recorded history is stale. "
            "Take the view again after the in-place operation."
        )


def _value_positions(rule: Rule) -> tuple[frozenset, bool]:
    info = tape_info(rule)
    return info.value_positions, info.saves_ans


def _record(
    rule: Rule,
    raw_args: list,
    raw_kwargs: dict,
    out: Any,
    inputs: list,
    primitive_fn: Any,
) -> Any:
    """Make the node for ``out = primitive(*raw_args, **raw_kwargs)`` and wrap ``out``."""
    info = tape_info(rule)
    value_positions, saves_ans = info.value_positions, info.saves_ans
    edges = []
    slots = []
    shapes = []
    checks = []
    from_tensors = set()
    for slot, tensor in inputs:
        param = slot[0]
        if slot[1] < 0:
            from_tensors.add(param)
        if tensor._requires_grad:
            if tensor._base is not None:
                _check_fresh_view(tensor)
            edges.append(_edge(tensor))
            slots.append(slot)
            shapes.append(tensor.data.shape)
        if param in value_positions:
            counter = tensor._version_counter()
            checks.append((counter, counter.data, info.what[param]))
    # Raw arrays the rule reads by value are copied: the user may change them before backward.
    for position in value_positions:
        if position < len(raw_args) and position not in from_tensors:
            value = raw_args[position]
            if _is_buffer(value):
                raw_args[position] = value.copy()
    n_outputs = len(out) if rule.multi_output else 1
    node = info.node_class(
        rule,
        tuple(edges),
        tuple(slots),
        tuple(shapes),
        tuple(raw_args),
        raw_kwargs,
        out if info.uses_ans else None,
        tuple(checks),
        n_outputs,
        slots[0][0] if len({slot[0] for slot in slots}) == 1 else -1,
    )
    if rule.multi_output:
        result = tuple(_wrap(_as_array(o), node, i) for i, o in enumerate(out))
        if saves_ans:
            for r in result:
                counter = r._version_counter()
                node._checks += ((counter, 0, "its result"),)
        return result
    result = _wrap(out, node)
    if saves_ans:
        node._checks += ((result._version_counter(), 0, "its result"),)
    if primitive_fn in _VIEW_PRIMITIVES:
        _mark_view(result, inputs[0][1])
    return result


def _mark_view(result: Tensor, source: Tensor) -> None:
    out, data = result.data, source.data
    base = getattr(out, "base", None)
    if base is not None and (base is data or base is getattr(data, "base", None)):
        result._base = source._base if source._base is not None else source
        counter = result._counter = source._version_counter()
        result._view_history = counter.history


def _unwrap_args(args: tuple) -> tuple[list, list]:
    raw = list(args)
    inputs = []
    for i, a in enumerate(args):
        if isinstance(a, Tensor):
            raw[i] = a.data
            inputs.append(((i, -1), a))
        elif type(a) is list or type(a) is tuple:
            if any(isinstance(e, Tensor) for e in a):
                unwrapped = [e.data if isinstance(e, Tensor) else e for e in a]
                raw[i] = unwrapped if type(a) is list else tuple(unwrapped)
                inputs.extend(((i, j), e) for j, e in enumerate(a) if isinstance(e, Tensor))
    return raw, inputs


def apply(rule: Rule | None, fn: Callable, args: tuple, kwargs: dict | None = None) -> Any:
    """Run ``fn(*args, **kwargs)`` on raw arrays; record a node when a gradient is needed."""
    raw_args, inputs = _unwrap_args(args)
    raw_kwargs = kwargs or {}
    if raw_kwargs:
        raw_kwargs = dict(raw_kwargs)
        for key, value in raw_kwargs.items():
            if isinstance(value, Tensor):
                raw_kwargs[key] = value.data
                if rule is not None and key in rule.param_names:
                    inputs.append(((rule.param_names.index(key), -1), value))
        if raw_kwargs.get("out") is not None:
            raise TypeError(
                f"{getattr(fn, '__name__', fn)}(..., out=...) cannot record a gradient; "
                "assign the result instead"
            )
    where = check_same_device(raw_args)
    if raw_kwargs:
        check_same_device(raw_kwargs.values())
    recording = is_grad_enabled() and any(t._requires_grad for _, t in inputs)
    if recording and rule is None:
        if not is_nondifferentiable(fn):
            raise no_rule_error(fn)
        recording = False
    if recording and raw_kwargs:
        unknown = [k for k in raw_kwargs if k not in rule.param_names]
        if unknown:
            raise TypeError(
                f"astgrad's rule for {rule.name} does not handle the argument(s) "
                f"{', '.join(unknown)}; compute without them, or register a fuller rule "
                f"with @ag.vjp_rule"
            )
    out = fn(*raw_args, **raw_kwargs)
    if not recording:
        return wrap_plain(out)
    if not rule.multi_output:
        if where is not CPU and isinstance(out, (float, complex, np.generic)):
            # math.sin or float() of a device scalar gives a host number: keep it there.
            out = to_device(out, where)
        out = _as_array(out)
        if out.dtype.kind not in "fc":
            return _wrap(out)  # integer or boolean results carry no gradient
    return _record(rule, raw_args, raw_kwargs, out, inputs, fn)


def binary(rule: Rule, x: Any, y: Any) -> Any:
    """``rule.primitive(x, y)`` where at least one of ``x``, ``y`` is a tensor."""
    if type(x) is Tensor:
        xd = x.data
        x_grad = x._requires_grad
    else:
        xd = _operand(x)
        x_grad = False
    if type(y) is Tensor:
        yd = y.data
        y_grad = y._requires_grad
    else:
        yd = _operand(y)
        y_grad = False
    tx, ty = type(xd), type(yd)
    if not ((tx is _ndarray or tx is float or tx is int) and (ty is _ndarray or ty is float or ty is int)):
        check_same_device((xd, yd))
    out = rule.primitive(xd, yd)
    if type(out) is not _ndarray:
        out = _as_array(out)
    if (x_grad or y_grad) and is_grad_enabled():
        return _record_pair(rule, x, y, xd, yd, out)
    return _wrap(out)


def _saved(value: Any) -> Any:
    """What a node keeps of ``value``: 0-d NumPy arrays become NumPy scalars, the same
    values, on which the rule's arithmetic takes NumPy's scalar fast path (about ten times
    cheaper than a ufunc call). In-place changes are still caught by the version check."""
    if type(value) is _ndarray and not value.ndim:
        return value[()]
    return value


_X_SLOT = (0, -1)
_Y_SLOT = (1, -1)
_BOTH_SLOTS = (_X_SLOT, _Y_SLOT)


def _record_pair(rule: Rule, x: Any, y: Any, xd: Any, yd: Any, out: Any) -> Tensor:
    """:func:`_record` unrolled for the two operands of an operator (the hot path); it must
    make the same node that ``_record`` makes for ``rule.primitive(x, y)``."""
    info = tape_info(rule)
    reads = info.value_positions
    x_edge = y_edge = None
    checks = ()
    if type(x) is Tensor:
        if x._requires_grad:
            if x._base is not None:
                _check_fresh_view(x)
            node = x.grad_fn
            x_edge = (x._grad_accumulator(), 0) if node is None else (node, x._output_nr)
        if 0 in reads:
            counter = x._version_counter()
            checks = ((counter, counter.data, info.what[0]),)
    elif 0 in reads and _is_buffer(xd):
        xd = xd.copy()  # the user may change this array before backward
    if type(y) is Tensor:
        if y._requires_grad:
            if y._base is not None:
                _check_fresh_view(y)
            node = y.grad_fn
            y_edge = (y._grad_accumulator(), 0) if node is None else (node, y._output_nr)
        if 1 in reads:
            counter = y._version_counter()
            checks += ((counter, counter.data, info.what[1]),)
    elif 1 in reads and _is_buffer(yd):
        yd = yd.copy()
    if y_edge is None:
        edges, slots, shapes, single = (x_edge,), (_X_SLOT,), (xd.shape,), 0
    elif x_edge is None:
        edges, slots, shapes, single = (y_edge,), (_Y_SLOT,), (yd.shape,), 1
    else:
        edges, slots, shapes, single = (x_edge, y_edge), _BOTH_SLOTS, (xd.shape, yd.shape), -1
    node = info.node_class(
        rule,
        edges,
        slots,
        shapes,
        (_saved(xd), _saved(yd)),
        {},
        _saved(out) if info.uses_ans else None,
        checks,
        1,
        single,
    )
    result = _wrap(out, node)
    if info.saves_ans:
        node._checks += ((result._version_counter(), 0, "its result"),)
    return result


_PYTHON_NUMBERS = (float, int, bool, complex)


def _is_buffer(value: Any) -> bool:
    """Whether ``value`` is a mutable array (NumPy or CuPy) rather than a number."""
    kind = type(value)
    if kind is _ndarray:
        return True
    if kind in _PYTHON_NUMBERS:
        return False  # and skip the failing hasattr below, which is slow
    return isinstance(value, _ndarray) or hasattr(value, "__cuda_array_interface__")


def _operand(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.data
    if type(value) is list or type(value) is tuple:
        return np.asarray(value)
    return value


def _snapshot(target: Tensor, copy_values: bool) -> Tensor:
    """A stand-in for ``target`` before an in-place write: same graph position, and its own
    copy of the values when the rule will read them."""
    shadow = _wrap(target.data.copy() if copy_values else target.data, target.grad_fn)
    shadow._output_nr = target._output_nr
    shadow._requires_grad = target._requires_grad
    if target.grad_fn is None and target._requires_grad:
        shadow._accumulator = target._grad_accumulator()
    return shadow


def _write_back(target: Tensor, result: Any, what: str) -> None:
    data = target.data
    if getattr(result, "shape", ()) != data.shape:
        raise ValueError(
            f"in-place {what} would change the tensor's shape from {data.shape} to "
            f"{result.shape}; write it out of place instead"
        )
    if result.dtype != data.dtype and not np.can_cast(result.dtype, data.dtype, "same_kind"):
        raise TypeError(f"in-place {what} cannot store {result.dtype} into {data.dtype}")
    if isinstance(data, np.generic) or not getattr(getattr(data, "flags", None), "writeable", True):
        target.data = result.astype(data.dtype, copy=False)
    else:
        data[...] = result


def _bump(target: Tensor, recorded: bool) -> None:
    # Made on demand so that ``_version`` counts every write, not only those after a save.
    counter = target._version_counter()
    counter.data += 1
    if recorded:
        counter.history += 1


def _guard_inplace(target: Tensor, what: str, recording: bool) -> None:
    if target._requires_grad and target.grad_fn is None:
        raise RuntimeError(
            f"a leaf tensor that requires grad is being used in an in-place operation "
            f"({what}): that would overwrite the value its gradient is defined at. Update "
            f"parameters inside `with ag.no_grad():`, or write `w = w ...` to make a new tensor."
        )
    if recording and target._base is not None:
        raise RuntimeError(
            f"in-place {what} on a view of another tensor (from indexing, reshape or "
            f"transpose) while recording gradients is not supported; .clone() the view first."
        )


def inplace(target: Tensor, rule: Rule, other: Any, what: str) -> Tensor:
    """``target <op>= other``: records the operation when a gradient is needed."""
    other_grad = isinstance(other, Tensor) and other._requires_grad
    grad_mode = is_grad_enabled()
    recording = grad_mode and (target._requires_grad or other_grad)
    if grad_mode:
        _guard_inplace(target, what, recording)
    if recording:
        reads_target = 0 in _value_positions(rule)[0]
        result = binary(rule, _snapshot(target, reads_target), other)
        _write_back(target, result.data, what)
        _adopt_history(target, result)
        return target
    other_raw = _operand(other)
    check_same_device((target.data, other_raw))
    data = target.data
    if isinstance(data, np.generic) or not getattr(getattr(data, "flags", None), "writeable", True):
        target.data = rule.primitive(data, other_raw)
    else:
        rule.primitive(data, other_raw, out=data)
    _bump(target, False)
    return target


def _adopt_history(target: Tensor, result: Tensor) -> None:
    target.grad_fn = result.grad_fn
    target._output_nr = result._output_nr
    target._requires_grad = True
    _bump(target, True)


def _unwrap_index(index: Any) -> Any:
    if isinstance(index, Tensor):
        return index.data
    if type(index) is tuple and any(isinstance(i, Tensor) for i in index):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


def getitem(tensor: Tensor, index: Any) -> Tensor:
    return apply(_GETITEM, operator.getitem, (tensor, index_beside(tensor.data, _unwrap_index(index))))


def setitem(target: Tensor, index: Any, value: Any) -> None:
    """``target[index] = value``, recorded when ``target`` or ``value`` needs a gradient."""
    index = index_beside(target.data, _unwrap_index(index))
    value_grad = isinstance(value, Tensor) and value._requires_grad
    grad_mode = is_grad_enabled()
    recording = grad_mode and (target._requires_grad or value_grad)
    if grad_mode:
        _guard_inplace(target, "item assignment", recording)
    if recording:
        result = apply(_ASSIGN_INDEX, primitives.assign_index, (_snapshot(target, False), index, value))
        _write_back(target, result.data, "item assignment")
        _adopt_history(target, result)
        return
    raw = _operand(value)
    check_same_device((target.data, raw))
    target.data[index] = raw
    _bump(target, False)


def primitive(function: Callable) -> Callable:
    """Make ``function`` a primitive: called with tensors it records one node, using the
    rule registered for it with :func:`~astgrad.vjp_rule`, instead of being traced.

    >>> import numpy as np
    >>> import astgrad as ag
    >>> @ag.primitive
    ... def softplus(x):
    ...     return np.logaddexp(0, x)
    >>> @ag.vjp_rule(softplus)
    ... def softplus_vjp(g, ans, x):
    ...     return g * ag.sigmoid(x)
    >>> x = ag.tensor([0.0, 1.0], requires_grad=True)
    >>> softplus(x).sum().backward()
    >>> x.grad
    tensor([0.5       , 0.73105858])
    """

    @functools.wraps(function)
    def recorded(*args: Any, **kwargs: Any) -> Any:
        if any(isinstance(a, Tensor) for a in args) or any(
            isinstance(v, Tensor) for v in kwargs.values()
        ):
            return apply(lookup(recorded), function, args, kwargs)
        return function(*args, **kwargs)

    recorded.__astgrad_primitive__ = function
    return recorded


_GETITEM = lookup(operator.getitem)
_ASSIGN_INDEX = lookup(primitives.assign_index)

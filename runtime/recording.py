"""The tape's general recording path: running any primitive on tensors and recording it.

:func:`apply` runs a primitive on the raw arrays inside its tensor arguments (positional,
keyword, or elements of a list or tuple argument) and, when an input requires grad and
grad mode is on, records a node that holds what the primitive's rule needs. Operators and
the common methods take shorter roads to the same nodes (fast_path); everything else comes
here, as does :func:`primitive`, which makes a user's function record one node.

A node's edges lead to the inputs' current histories: a view whose base a recorded
in-place operation changed since the view was taken has its history recorded again from
the base's first (:func:`refresh_view`).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from .adjoints import matrix_error
from .dask_support import is_dask
from .device import CPU, check_same_device, index_beside, to_device
from .grad_mode import _state as _grad_state
from .grad_mode import is_grad_enabled
from .graph import extra, kernel_for, new_node, new_version_counter
from .raw_values import as_result, is_buffer
from .rules import lookup
from .rules.registry import Rule, describe, is_nondifferentiable
from .tensor import Tensor, new_tensor
from .views import NO_GRAD_VIEW, keep_view, mark_view, positions_in

__all__ = [
    "apply",
    "getitem",
    "unwrap_index",
    "primitive",
    "NoRuleError",
    "no_rule_error",
    "wrap_plain",
    "edge",
    "check_fresh_view",
    "refresh_view",
]

_ndarray = np.ndarray
_generic = np.generic


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


def wrap_plain(value: Any) -> Any:
    """Wrap an array result that carries no gradient; leave other values alone."""
    if isinstance(value, (_ndarray, _generic)) or (
        hasattr(value, "shape") and hasattr(value, "dtype")
    ):
        return new_tensor(as_result(value))
    if isinstance(value, tuple):
        return tuple(wrap_plain(v) for v in value)
    if type(value) is list:  # (np.split and np.array_split return lists of views)
        return [wrap_plain(v) for v in value]
    return value


# -- edges to the inputs' current histories ---------------------------------------------------


def edge(tensor: Tensor) -> tuple:
    """(node, output index) that a gradient for ``tensor`` goes to."""
    if tensor._base is not None:
        check_fresh_view(tensor)
    node = tensor._grad_fn
    if node is None:
        return (tensor._grad_accumulator(), 0)
    return (node, tensor._output_nr)


def check_fresh_view(tensor: Tensor) -> None:
    """Bring the history of ``tensor``, a view, up to date if it is stale."""
    if tensor._counter[1] != tensor._view_history:
        refresh_view(tensor)


def refresh_view(view: Tensor) -> None:
    """A view whose base a recorded in-place operation changed after the view's history was
    recorded: its values are the base's, at its elements' places, and so is its history
    from now on (PyTorch rebuilds such views too). Raise where they cannot be found."""
    if view._view_history == NO_GRAD_VIEW:
        raise RuntimeError(
            "a view of a tensor (from indexing, reshape or transpose) taken in no_grad mode "
            "was used after an in-place operation that records a gradient changed the tensor "
            "it views (or another view of it): which values it stands for is ambiguous, as "
            "in PyTorch. Take the view outside no_grad, or again after the in-place "
            "operation, or .clone() it in no_grad."
        )
    base = view._base
    positions = positions_in(view.data, base.data) if view.dtype == base.dtype else None
    if positions is None:
        raise RuntimeError(
            "a view of a tensor (from indexing, reshape or transpose) was used after an "
            "in-place operation changed the tensor it views; its recorded history is stale. "
            "Take the view again after the in-place operation."
        )
    enabled = _grad_state.enabled
    _grad_state.enabled = True  # (the view's history is due even if it is read in no_grad)
    try:
        if base.ndim == 0:
            fresh = apply(_RESHAPE, np.reshape, (base, view.shape))
        else:
            place = index_beside(base.data, np.unravel_index(positions, base.shape))
            fresh = apply(_GETITEM, operator.getitem, (base, place))
    finally:
        _grad_state.enabled = enabled
    view._grad_fn = fresh._grad_fn
    view._output_nr = fresh._output_nr
    view._requires_grad = fresh._requires_grad
    view._view_history = view._counter[1]


# SNAPSHOT: a node keeps a copy of a 0-d view it reads, rather than the view and a check of
# its base's version. CuPy's ``x[i]`` is such a view (NumPy's is a copy of the element), so
# element code such as ``y[0] = y[1] * y[2]`` would otherwise save a view of ``y`` and then
# find ``y`` changed at backward, on a GPU only. One number costs nothing to copy, and the
# copy is the value the operation read, whatever is written into ``y`` later.


def version_check(tensor: Tensor, position: int) -> tuple:
    """The check a node keeps on a value of ``tensor`` it saves (see graph.Node's
    ``_checks``)."""
    counter = tensor._counter
    if counter is None:
        counter = tensor._counter = [0, 0]
    return (counter, counter[0], position)


# -- the general path ---------------------------------------------------------------------


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
        result = wrap_plain(out)
        if type(result) in (tuple, list) and inputs:
            for part in result:  # np.split and friends: each part may be a view
                if type(part) is Tensor and _mark_view_of_any(part, inputs):
                    keep_view(part, not _grad_state.enabled or part._base._requires_grad)
        elif type(result) is Tensor and inputs:
            # A view of a tensor that needs no gradient yet (or of any, in no_grad mode): a
            # recorded in-place operation through it must still reach the tensor it views
            # (see inplace.write_through_view), and one of that tensor must reach it
            # (views.keep_view). (In grad mode a view of a base that needs a gradient is
            # recorded, unless taken of a view that was not: one taken in no_grad mode,
            # whose kind it keeps.)
            if _mark_view_of_any(result, inputs):
                keep_view(result, not _grad_state.enabled or result._base._requires_grad)
        return result
    if not _several_outputs(rule, out):
        if type(out) is tuple:
            # (np.linspace(..., retstep=True), np.polyfit(..., full=True): an argument
            # that adds results the rule was not written for)
            given = ", ".join(f"{k}={v!r}" for k, v in raw_kwargs.items() if _is_flag(v))
            raise NotImplementedError(
                f"{describe(fn)}{f' with {given}' if given else ''} returned {len(out)} "
                "results here, and astgrad's rule differentiates only its array: call it "
                "without the argument that asks for more (such as retstep=True, full=True "
                "or return_sign=True), or register a fuller rule with @ag.vjp_rule"
            )
        if where is not CPU and isinstance(out, (float, complex, _generic)):
            # math.sin or float() of a device scalar gives a host number: keep it there.
            out = to_device(out, where)
        out = as_result(out)
        if out.dtype.kind not in "fc":
            return new_tensor(out)  # integer or boolean results carry no gradient
    return _record(rule, raw_args, raw_kwargs, out, inputs, fn)


def _snapshot(value: Any, held: set[int] = frozenset()) -> Any:
    """``value`` as it is now, for a backward pass that reads it later: lists copied, at any
    depth (tensordot's ``axes=[[1], [0]]``, which the caller may change after the call), and
    the arrays in them too, but for the items at ``held`` (tensors' data, which their
    version counters guard); tuples rebuilt only where they hold something copied."""
    if type(value) is list or type(value) is tuple:
        items = [v if i in held else _snapshot(v) for i, v in enumerate(value)]
        if type(value) is list:
            return items
        return value if all(a is b for a, b in zip(items, value)) else tuple(items)
    if not is_buffer(value):
        return value
    # (in its own layout: which of repeated indices NumPy keeps follows their memory order)
    return value.copy(order="K") if type(value) is np.ndarray else value.copy()


def _is_flag(value: Any) -> bool:
    """Whether a keyword argument's value is one worth naming in a message (a flag, a
    number or a string; not an array)."""
    return isinstance(value, (bool, int, float, str)) or value is None


def _unwrap_args(args: tuple) -> tuple[list, list]:
    # ``t.data`` (not ``_data``): primitives on this path get arrays, never NumPy scalars,
    # and a view made here shares memory with the tensor it views.
    raw = list(args)
    inputs = []
    for i, a in enumerate(args):
        if isinstance(a, Tensor):
            raw[i] = a.data
            inputs.append(((i, -1), a))
        elif isinstance(a, np.matrix):
            raise matrix_error("an argument")
        elif type(a) is list or type(a) is tuple:
            if any(isinstance(e, Tensor) for e in a):
                unwrapped = [e.data if isinstance(e, Tensor) else e for e in a]
                raw[i] = unwrapped if type(a) is list else tuple(unwrapped)
                inputs.extend(((i, j), e) for j, e in enumerate(a) if isinstance(e, Tensor))
    return raw, inputs


def _record(
    rule: Rule,
    raw_args: list,
    raw_kwargs: dict,
    out: Any,
    inputs: list,
    primitive_fn: Any,
) -> Any:
    """Make the node for ``out = primitive(*raw_args, **raw_kwargs)`` and wrap ``out``."""
    successors = []
    nrs = []
    slots = []
    for slot, tensor in inputs:
        if tensor._requires_grad:
            node, output_nr = edge(tensor)
            successors.append(node)
            nrs.append(output_nr)
            slots.append(slot)
    params = tuple(sorted({param for param, _ in slots}))
    if all(element < 0 for _, element in slots) and len(params) == len(slots):
        kernel = kernel_for(rule, tuple(param for param, _ in slots))
    else:
        elements = tuple((params.index(param), element) for param, element in slots)
        kernel = kernel_for(rule, params, elements)
    reads = kernel.reads
    if rule.shape_only_when is not None:
        reads = reads - rule.shape_only_when(raw_args)
    checks = []
    from_tensors = set()
    for (param, element), tensor in inputs:
        if element < 0:
            from_tensors.add(param)
        if param in reads:
            if element < 0 and tensor._base is not None and tensor._data.ndim == 0:
                raw_args[param] = raw_args[param].copy()  # see SNAPSHOT
            else:
                checks += version_check(tensor, param)
    # Raw arrays the rule reads by value are copied: the user may change them before backward.
    for position in reads:
        if position < len(raw_args) and position not in from_tensors:
            value = raw_args[position]
            if is_buffer(value):
                raw_args[position] = value.copy()
            elif type(value) is list or type(value) is tuple:
                # (a tensor's data among the items is the tensor's: checked, not copied)
                held = {e for p, e in (slot for slot, _ in inputs) if p == position}
                raw_args[position] = _snapshot(value, held)
    for key, value in raw_kwargs.items():  # (np.tensordot(a, b, axes=axes), a list)
        if type(value) is list or type(value) is tuple:
            raw_kwargs[key] = _snapshot(value)
    several = _several_outputs(rule, out)
    outputs = [as_result(o) for o in out] if several else [out]
    # The results' values, where the rule reads them, are checked as the inputs' are.
    counters = [new_version_counter() for _ in outputs] if kernel.reads_ans else ()
    for counter in counters:
        checks += (counter, 0, -1)
    keeps = kernel.keeps
    node = new_node(
        kernel,
        tuple(successors),
        tuple(a if i in keeps else None for i, a in enumerate(raw_args)),
        out if kernel.uses_ans else None,
        tuple(checks),
    )
    if raw_kwargs or any(nrs) or several:
        found = extra(node)
        found.nrs = tuple(nrs) if any(nrs) else None
        found.kwargs = raw_kwargs
        if several:
            found.n_outputs = len(out)
    results = [new_tensor(o, node, i) for i, o in enumerate(outputs)]
    for result, counter in zip(results, counters):
        result._counter = counter
    if inputs:
        for result in results:  # any primitive's result may be a view of an argument
            _mark_view_of_any(result, inputs)
    if several:
        return tuple(results)
    return results[0]


def _several_outputs(rule: Rule, out: Any) -> bool:
    """Whether ``out`` is several results, one tensor each: a tuple or list (NumPy's result
    objects for svd, qr, eigh and slogdet are tuples) from a primitive whose rule says it
    may return several. A single array from such a primitive (``svd(a, compute_uv=False)``,
    ``qr(a, mode="r")``) is one result, never split into its rows."""
    return rule.multi_output and isinstance(out, (tuple, list))


def getitem(tensor: Tensor, index: Any) -> Tensor:
    """``tensor[index]``, a view where NumPy's indexing gives one."""
    index = unwrap_index(index)
    if tensor._requires_grad:
        index = frozen_index(index)
    return apply(_GETITEM, operator.getitem, (tensor, index_beside(tensor._data, index)))


def frozen_index(index: Any) -> Any:
    """``index`` with its index arrays and lists copied, for a node to keep: the backward
    pass reads them, and the caller may change a list or array in place before it runs
    (``y = x[order]; rng.shuffle(order)``). A list becomes the array NumPy reads it as."""
    if type(index) is tuple:
        return tuple(frozen_index(i) for i in index)
    if isinstance(index, list):
        return np.array(index)
    if is_dask(index):
        return index.copy()  # a new Array on the same graph: item assignment rebinds the old
    if hasattr(index, "__array__") and hasattr(index, "copy") and not np.isscalar(index):
        return index.copy(order="K")  # the same layout: it decides which repeat wins
    return index


def unwrap_index(index: Any) -> Any:
    """``index`` with the raw values of the tensors in it."""
    if isinstance(index, Tensor):
        return index.data
    if type(index) is tuple and any(isinstance(i, Tensor) for i in index):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


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
_RESHAPE = lookup(np.reshape)


def _mark_view_of_any(result: Tensor, inputs: list) -> bool:
    """Mark ``result`` a view of the first tensor argument whose memory it shares, top-level
    arguments only (``np.einsum('ii->i', m)`` is a writable view of ``m``, its second
    argument, as ``np.reshape(m, ...)`` is of its first); say whether it is one."""
    for where, source in inputs:
        if where[1] == -1 and mark_view(result, source):
            return True
    return False

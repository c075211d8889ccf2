"""Running primitives on tensors and recording them: the tape's one entry point.

:func:`apply` runs a primitive on the raw arrays inside its tensor arguments and, when an
input requires grad and grad mode is on, records a node that holds what the primitive's
rule needs. Operators and the common methods take shorter roads to the same nodes, because
they are the tape's hot path: :func:`operator_pair` makes ``Tensor.__mul__`` and its
reflection for a rule, and :func:`unary` serves methods of one tensor (``t.tanh()``). In-place
operators and item assignment record the out-of-place operation and write its result back
(:func:`inplace`).

A tensor's raw value (``Tensor._data``) is an array, or a NumPy scalar where a result has no
dimensions: NumPy's scalar arithmetic is about ten times cheaper than a ufunc call on a 0-d
array, with the same dtype rules and the same values. ``Tensor.data`` turns such a scalar
into a 0-d array the first time it is read, so users, and everything outside the hot path,
only ever see arrays.
"""

from __future__ import annotations

import functools
import operator
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from . import primitives
from .adjoints import matrix_error
from .device import CPU, array_module, check_same_device, index_beside, to_device
from .grad_mode import _state as _grad_state
from .grad_mode import is_grad_enabled
from .graph import Node, elementwise_rule, extra, kernel_for, next_sequence_number, note_write
from .rules import lookup
from .rules.helpers import dot_2d, join_elements, scatter_add, unbroadcast
from .rules.registry import Rule, describe, is_nondifferentiable, shape_only
from .tensor import GradientLostError, Tensor

__all__ = [
    "apply",
    "binary",
    "unary",
    "operator_pair",
    "inplace",
    "setitem",
    "primitive",
    "NoRuleError",
]

_ndarray = np.ndarray
_generic = np.generic
_new = object.__new__

# Raw values that live on the CPU and need no device check next to each other: NumPy
# arrays, NumPy's numeric scalars and Python numbers. Anything else (CuPy arrays, array
# subclasses that claim a device) goes through check_same_device.
_NUMPY_SCALARS = frozenset(
    t for t in np.sctypeDict.values() if issubclass(t, (np.number, np.bool_))
)
_NUMBERS = frozenset({float, int, bool, complex}) | _NUMPY_SCALARS
_HOST = frozenset({_ndarray}) | _NUMBERS
# Results kept as they are: arrays and NumPy scalars (other array types are checked).
_KEPT = frozenset({_ndarray}) | _NUMPY_SCALARS

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
    """A tensor holding ``data`` as it is (an array, or a NumPy scalar; see the module doc)."""
    t = _new(Tensor)
    t._data = data
    t._requires_grad = node is not None
    t._grad_fn = node
    t._output_nr = output_nr
    t._grad = None
    t._counter = None
    t._base = None
    t._view_history = 0
    t._accumulator = None
    t._retains_grad = False
    return t


wrap = _wrap


def _as_result(value: Any) -> Any:
    """A primitive's result as a tensor holds it: arrays and NumPy scalars as they are,
    Python numbers as NumPy values, other array types (CuPy) as they are."""
    kind = type(value)
    if kind in _KEPT:
        return value
    # NumPy scalars carry __array_priority__ too, so they must be caught before the test
    # that lets other array types (CuPy) through.
    if isinstance(value, (_ndarray, _generic)) or hasattr(value, "__array_priority__"):
        return value
    return np.asarray(value)


def wrap_plain(value: Any) -> Any:
    """Wrap an array result that carries no gradient; leave other values alone."""
    if isinstance(value, (_ndarray, _generic)) or (
        hasattr(value, "shape") and hasattr(value, "dtype")
    ):
        return _wrap(_as_result(value))
    if isinstance(value, tuple):
        return tuple(wrap_plain(v) for v in value)
    return value


def ones_like_array(data: Any) -> Any:
    """The seed of ``backward()`` for a one-element result, of its type, shape and dtype."""
    if type(data) in _NUMPY_SCALARS:
        return data.dtype.type(1)
    return np.ones_like(data)


def _edge(tensor: Tensor) -> tuple:
    """(node, output index) that a gradient for ``tensor`` goes to."""
    if tensor._base is not None:
        _check_fresh_view(tensor)
    node = tensor._grad_fn
    if node is None:
        return (tensor._grad_accumulator(), 0)
    return (node, tensor._output_nr)


def _check_fresh_view(tensor: Tensor) -> None:
    if tensor._counter[1] != tensor._view_history:
        _refresh_view(tensor)


def _refresh_view(view: Tensor) -> None:
    """A view whose base a recorded in-place operation changed after the view's history was
    recorded: its values are the base's, at its elements' places, and so is its history
    from now on (PyTorch rebuilds such views too). Raise where they cannot be found."""
    if view._view_history == _NO_GRAD_VIEW:
        raise RuntimeError(
            "a view of a tensor (from indexing, reshape or transpose) taken in no_grad mode "
            "was used after an in-place operation that records a gradient changed the tensor "
            "it views (or another view of it): which values it stands for is ambiguous, as "
            "in PyTorch. Take the view outside no_grad, or again after the in-place "
            "operation, or .clone() it in no_grad."
        )
    base = view._base
    positions = _positions_in(view.data, base.data) if view.dtype == base.dtype else None
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


def _version_check(tensor: Tensor, position: int) -> tuple:
    """The check a node keeps on a value of ``tensor`` it saves (see graph.Node._checks)."""
    counter = tensor._counter
    if counter is None:
        counter = tensor._counter = [0, 0]
    return (counter, counter[0], position)


_PYTHON_NUMBERS = (float, int, bool, complex)


def _is_buffer(value: Any) -> bool:
    """Whether ``value`` is a mutable array (NumPy or CuPy) rather than a number."""
    kind = type(value)
    if kind is _ndarray:
        return True
    if kind in _HOST:
        return False  # numbers; and skip the failing hasattr below, which is slow
    return isinstance(value, _ndarray) or hasattr(value, "__cuda_array_interface__")


# -- the general path ---------------------------------------------------------------------


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
            node, output_nr = _edge(tensor)
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
    checks = []
    from_tensors = set()
    for (param, element), tensor in inputs:
        if element < 0:
            from_tensors.add(param)
        if param in reads:
            checks += _version_check(tensor, param)
    # Raw arrays the rule reads by value are copied: the user may change them before backward.
    for position in reads:
        if position < len(raw_args) and position not in from_tensors:
            value = raw_args[position]
            if _is_buffer(value):
                raw_args[position] = value.copy()
    keeps = kernel.keeps
    node = _new(Node)
    node._next = tuple(successors)
    node._kernel = kernel
    node._args = tuple(a if i in keeps else None for i, a in enumerate(raw_args))
    node._ans = out if kernel.uses_ans else None
    node._seq = next_sequence_number()
    node._extra = None
    several = _several_outputs(rule, out)
    if raw_kwargs or any(nrs) or several:
        found = extra(node)
        found.nrs = tuple(nrs) if any(nrs) else None
        found.kwargs = raw_kwargs
    if several:
        found.n_outputs = len(out)
        result = tuple(_wrap(_as_result(o), node, i) for i, o in enumerate(out))
        if kernel.reads_ans:
            for r in result:
                checks += _version_check(r, -1)
        node._checks = tuple(checks)
        return result
    result = _wrap(out, node)
    if kernel.reads_ans:
        checks += _version_check(result, -1)
    node._checks = tuple(checks)
    if primitive_fn in _VIEW_PRIMITIVES:
        _mark_view(result, inputs[0][1])
    return result


def _several_outputs(rule: Rule, out: Any) -> bool:
    """Whether ``out`` is several results, one tensor each: a tuple or list (NumPy's result
    objects for svd, qr, eigh and slogdet are tuples) from a primitive whose rule says it
    may return several. A single array from such a primitive (``svd(a, compute_uv=False)``,
    ``qr(a, mode="r")``) is one result, never split into its rows."""
    return rule.multi_output and isinstance(out, (tuple, list))


def _mark_view(result: Tensor, source: Tensor) -> bool:
    """Make ``result``, which ``source`` gave by a view primitive, a view of ``source``'s
    base (or of ``source``) if it shares its memory; say whether it does."""
    out, data = result._data, source._data
    base = getattr(out, "base", None)
    if base is not None and (base is data or base is getattr(data, "base", None)):
        result._base = source._base if source._base is not None else source
        counter = result._counter = source._version_counter()
        result._view_history = counter[1]
        return True
    return False


# -- views read after their base gained a history -----------------------------------------
#
# A view of a tensor that needs no gradient is a constant: no node is recorded for it, and
# the operators' fast roads never look at an operand that needs no gradient. When a recorded
# in-place operation then gives its base a history (buf[0:2] += x), the view's values are
# the base's, which now depend on x. So such views are kept, weakly, next to the base's
# version counter (a dict as its third item, by id: tensors compare elementwise); when the
# base gains a history each live one is made to need a gradient and to be stale, and its
# next use as an operand rebuilds its history from the base's (_refresh_view), as every use
# of a stale view that needs a gradient does. Views taken in no_grad mode are kept there too,
# and made unusable by a recorded in-place write of their base, as in PyTorch.

# _view_history of a view taken in no_grad mode whose base a recorded write changed: never
# current (version counts are never negative), and refused by _refresh_view.
_NO_GRAD_VIEW = -1


class _Views(dict):
    """The views kept next to a version counter: id -> (weak reference, taken in no_grad).
    A copy or a pickle of a tensor keeps none (weak references cannot be pickled, and a
    copy's memory is its own)."""

    __slots__ = ()

    def __reduce__(self) -> tuple:
        return (_Views, ())

    def __deepcopy__(self, memo: dict) -> _Views:
        return _Views()


def _keep_view(view: Tensor, no_grad: bool) -> None:
    """Keep ``view`` (already marked) where a recorded write of its base will find it."""
    counter = view._counter
    if len(counter) == 2:
        counter.append(_Views())
    views = counter[2]
    key = id(view)
    views[key] = (weakref.ref(view, functools.partial(_forget_view, views, key)), no_grad)


def _forget_view(views: dict, key: int, _ref: Any) -> None:
    views.pop(key, None)


def _base_written(base: Tensor, counter: list) -> None:
    """A recorded in-place write gave ``base`` its (new) history: the views kept for it
    must not be read as they were (see above)."""
    views = counter[2]
    for key, (ref, no_grad) in list(views.items()):
        view = ref()
        if view is None or view._base is not base:
            continue
        del views[key]
        if no_grad:
            view._view_history = _NO_GRAD_VIEW
        # (Stale already: the write counted in the counter's recorded writes.)
        view._requires_grad = True


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
        if fn in _VIEW_PRIMITIVES and type(result) is Tensor and inputs:
            # A view of a tensor that needs no gradient yet (or of any, in no_grad mode): a
            # recorded in-place operation through it must still reach the tensor it views
            # (see _write_through_view), and one of that tensor must reach it (_keep_view).
            # (In grad mode a view of a base that needs a gradient is recorded, unless taken
            # of a view that was not: one taken in no_grad mode, whose kind it keeps.)
            if inputs[0][0] == (0, -1) and _mark_view(result, inputs[0][1]):
                _keep_view(result, not _grad_state.enabled or result._base._requires_grad)
        return result
    if not _several_outputs(rule, out):
        if where is not CPU and isinstance(out, (float, complex, _generic)):
            # math.sin or float() of a device scalar gives a host number: keep it there.
            out = to_device(out, where)
        out = _as_result(out)
        if out.dtype.kind not in "fc":
            return _wrap(out)  # integer or boolean results carry no gradient
    return _record(rule, raw_args, raw_kwargs, out, inputs, fn)


# -- the hot path: methods of one tensor, and operators ---------------------------------------
#
# These make the same nodes as apply and _record, with everything written out in one
# function: a Python call costs about as much as a few dozen of the statements here, and
# these run for every operation a model records.


_unary_kernels: dict = {}


def unary(rule: Rule, fn: Callable, x: Tensor) -> Tensor:
    """``fn(x)`` for a method of one tensor whose primitive is a NumPy function that accepts
    NumPy scalars (``t.tanh()``, ``t.sum()``)."""
    xd = x._data
    out = fn(xd)
    if type(out) is not _ndarray and type(out) not in _KEPT:
        out = _as_result(out)
    result = _new(Tensor)  # _wrap's fields, inlined: one call less per operation
    result._data = out
    result._output_nr = 0
    result._grad = None
    result._counter = None
    result._base = None
    result._view_history = 0
    result._accumulator = None
    result._retains_grad = False
    if not (x._requires_grad and _grad_state.enabled) or out.dtype.kind not in "fc":
        # (integer or boolean results carry no gradient)
        result._requires_grad = False
        result._grad_fn = None
        return result
    kernel = _unary_kernels.get(rule)
    if kernel is None:
        # A ufunc of one input keeps its input's shape: trusted when its rule allows.
        same = (True,) if elementwise_rule(rule) else None
        kernel = kernel_for(rule, (0,), same=same)
        refine = _UNARY_REFINERS.get(rule.vjp)
        kernel = _unary_kernels[rule] = kernel if refine is None else refine(kernel)
    if x._base is not None:
        _check_fresh_view(x)
    node = _new(Node)
    node._extra = None
    source = x._grad_fn
    if source is None:
        node._next = (x._accumulator or x._grad_accumulator(),)
    else:
        node._next = (source,)
        if x._output_nr:
            extra(node).nrs = (x._output_nr,)
    checks = ()
    if kernel.read_x:
        counter = x._counter
        if counter is None:
            counter = x._counter = [0, 0]
        checks = (counter, counter[0], 0)
    if kernel.reads_ans:
        counter = result._counter = [0, 0]
        checks += (counter, 0, -1)
    node._kernel = kernel
    node._args = (xd if kernel.keep_x else None,)
    node._ans = out if kernel.uses_ans else None
    node._checks = checks
    node._seq = next_sequence_number()
    result._requires_grad = True
    result._grad_fn = node
    return result


def mean_of(a: Any) -> Any:
    """``np.mean(a)`` without np.mean's layers of Python, for a float64 array: the same
    pairwise sum divided by the same count, so the same value, a few times faster on small
    arrays. Anything else goes to np.mean itself."""
    if type(a) is _ndarray and a.dtype is _FLOAT64 and a.size:
        return _add_reduce(a, axis=None) / a.size
    return np.mean(a)


_FLOAT64 = np.dtype(np.float64)
_FLOAT32 = np.dtype(np.float32)
_add_reduce = np.add.reduce


def _operand(value: Any) -> tuple[Any, bool]:
    """The raw value of an operand that is not exactly a Tensor, and whether it requires grad."""
    if isinstance(value, Tensor):
        return value._data, value._requires_grad
    if type(value) is list or type(value) is tuple:
        return np.asarray(value), False
    if isinstance(value, np.matrix):
        raise matrix_error("an operand")
    return value, False


def operator_pair(rule: Rule, compute: Callable) -> tuple[Callable, Callable]:
    """``Tensor.__op__`` and ``Tensor.__rop__`` for a binary primitive. ``compute`` is the
    primitive as Python's operator (``operator.mul`` for ``np.multiply``): on arrays it is
    the same ufunc, and on NumPy scalars it takes NumPy's scalar path."""
    # Kernels by which operands need a gradient: [1] the left, [2] the right, [3] both; plus
    # 4 when the left has the result's shape and 8 when the right has (see graph.Kernel).
    kernels = [None] * 16
    elementwise = None  # whether the rule allows trusted kernels; found out when first needed
    refine = _REFINERS.get(rule.vjp)  # a faster kernel for operands of some forms, if any

    def forward(x: Any, y: Any) -> Tensor:
        if type(x) is Tensor:
            xd = x._data
            x_grad = x._requires_grad
        elif type(x) is float or type(x) is _ndarray:
            xd = x
            x_grad = False
        else:
            xd, x_grad = _operand(x)
        if type(y) is Tensor:
            yd = y._data
            y_grad = y._requires_grad
        elif type(y) is float or type(y) is _ndarray:
            yd = y
            y_grad = False
        else:
            yd, y_grad = _operand(y)
        # (NumPy arrays are tested apart from the other host types: they are the common case.)
        x_kind = type(xd)
        y_kind = type(yd)
        if (x_kind is not _ndarray and x_kind not in _HOST) or (
            y_kind is not _ndarray and y_kind not in _HOST
        ):
            check_same_device((xd, yd))
        out = compute(xd, yd)
        if type(out) is not _ndarray and type(out) not in _KEPT:
            out = _as_result(out)
        result = _new(Tensor)  # _wrap's fields, inlined: one call less per operation
        result._data = out
        result._output_nr = 0
        result._grad = None
        result._counter = None
        result._base = None
        result._view_history = 0
        result._accumulator = None
        result._retains_grad = False
        if not ((x_grad or y_grad) and _grad_state.enabled):
            result._requires_grad = False
            result._grad_fn = None
            return result

        nonlocal elementwise
        if elementwise is None:
            elementwise = elementwise_rule(rule)
        if not elementwise:
            which = 0
        elif type(out) is not _ndarray and type(out) in _NUMPY_SCALARS:
            which = 12  # every operand of a result without dimensions has none either
        else:
            shape = out.shape
            which = (4 if x_grad and xd.shape == shape else 0) + (
                8 if y_grad and yd.shape == shape else 0
            )
        node = _new(Node)
        nrs = None
        if x_grad:
            if x._base is not None:
                _check_fresh_view(x)
            x_node = x._grad_fn
            if x_node is None:
                x_node = x._accumulator or x._grad_accumulator()
            elif x._output_nr:
                nrs = (x._output_nr, 0)
        if y_grad:
            if y._base is not None:
                _check_fresh_view(y)
            y_node = y._grad_fn
            if y_node is None:
                y_node = y._accumulator or y._grad_accumulator()
            elif y._output_nr:
                nrs = (nrs[0] if nrs else 0, y._output_nr)
            if x_grad:
                kernel = kernels[which + 3] or _binary_kernel(kernels, rule, which + 3, elementwise)
                node._next = (x_node, y_node)
            else:
                kernel = kernels[which + 2] or _binary_kernel(kernels, rule, which + 2, elementwise)
                node._next = (y_node,)
                if nrs:
                    nrs = nrs[1:]
        else:
            kernel = kernels[which + 1] or _binary_kernel(kernels, rule, which + 1, elementwise)
            node._next = (x_node,)
            if nrs:
                nrs = nrs[:1]
        if refine is not None:
            kernel = refine(kernel, xd, yd)
        checks = ()
        if kernel.read_x:
            if type(x) is Tensor or isinstance(x, Tensor):
                counter = x._counter
                if counter is None:
                    counter = x._counter = [0, 0]
                checks = (counter, counter[0], 0)
            elif type(xd) is not float and _is_buffer(xd):
                xd = xd.copy()  # the user may change this array before backward
        if kernel.read_y:
            if type(y) is Tensor or isinstance(y, Tensor):
                counter = y._counter
                if counter is None:
                    counter = y._counter = [0, 0]
                checks += (counter, counter[0], 1)
            elif type(yd) is not float and _is_buffer(yd):
                yd = yd.copy()
        if kernel.reads_ans:
            counter = result._counter = [0, 0]
            checks += (counter, 0, -1)
        node._extra = None
        if nrs:
            extra(node).nrs = nrs
        node._kernel = kernel
        node._args = (xd if kernel.keep_x else None, yd if kernel.keep_y else None)
        node._ans = out if kernel.uses_ans else None
        node._checks = checks
        node._seq = next_sequence_number()
        result._requires_grad = True
        result._grad_fn = node
        return result

    def reflected(y: Any, x: Any) -> Tensor:
        return forward(x, y)

    forward.__name__ = f"forward_{rule.name}"
    reflected.__name__ = f"reflected_{rule.name}"
    return forward, reflected


def _binary_kernel(kernels: list, rule: Rule, which: int, elementwise: bool) -> Any:
    params = ((0,), (1,), (0, 1))[(which & 3) - 1]
    same = tuple(bool(which & (4 << p)) for p in params) if elementwise else None
    kernel = kernels[which] = kernel_for(rule, params, same=same)
    return kernel


# -- faster kernels for operands of a known form ----------------------------------------------
#
# A rule's kernels are compiled from its source for any operands. For a few operations that
# models repeat at every step, operands of one form have a shorter gradient: a refiner,
# keyed by the rule's vjp function (so that a rule a user registers in its place is never
# refined), returns the kernel to record for the operands, a variant of the one given.


def _refined(variants: dict, kernel: Any, make: Callable) -> Any:
    found = variants.get(kernel)
    if found is None:
        found = variants[kernel] = make(kernel)
    return found


# (Refined for two matrices of one BLAS dtype: a cotangent of that dtype too, as it nearly
# always is, takes ndarray.dot, the same product as @ without the ufunc's dispatch.)


def _matmul_2d_left(g: Any, ans: Any, x: Any, y: Any) -> tuple:
    return (g.dot(y.T) if type(g) is _ndarray and g.dtype is y.dtype else g @ y.T,)


def _matmul_2d_right(g: Any, ans: Any, x: Any, y: Any) -> tuple:
    return (x.T.dot(g) if type(g) is _ndarray and g.dtype is x.dtype else x.T @ g,)


def _matmul_2d_both(g: Any, ans: Any, x: Any, y: Any) -> tuple:
    if type(g) is _ndarray and g.dtype is x.dtype:
        return g.dot(y.T), x.T.dot(g)
    return g @ y.T, x.T @ g


_MATMUL_2D = {(0,): _matmul_2d_left, (1,): _matmul_2d_right, (0, 1): _matmul_2d_both}
_matmul_variants: dict = {}


def _matmul_2d_kernel(kernel: Any) -> Any:
    # The gradients of matrices are matrices of their shapes: no shape check is needed.
    return kernel.variant(_MATMUL_2D[kernel.params], trusted=True)


def _refine_matmul(kernel: Any, x: Any, y: Any) -> Any:
    """Two matrices of one BLAS float dtype on the host: matmul_grad_left and _right's
    first case, without the calls that find it and the shape check of a kernel for any
    rank."""
    if type(x) is _ndarray and type(y) is _ndarray and x.ndim == 2 and y.ndim == 2:
        dtype = x.dtype
        if y.dtype is dtype and (dtype is _FLOAT64 or dtype is _FLOAT32):
            return _refined(_matmul_variants, kernel, _matmul_2d_kernel)
    return kernel


def _square_grad(g: Any, ans: Any, x: Any, y: Any) -> tuple:
    # g * y * x ** (y - 1) for y == 2, to the bit (doubling is exact), in two operations
    return (g * (x + x),)


_power_variants: dict = {}


def _square_kernel(kernel: Any) -> Any:
    # Only the kernel of the base alone whose gradient needs no unbroadcast (a number
    # exponent broadcasts to the base's shape) has a variant; any other stays as it is.
    if kernel.params == (0,) and kernel.trusted and kernel.stripped == (True,):
        return kernel.variant(_square_grad, trusted=True)
    return kernel


def _refine_power(kernel: Any, x: Any, y: Any) -> Any:
    """``x ** 2``, the square of a loss: the exponent's own gradient is not needed."""
    if (type(y) is int or type(y) is float) and y == 2:
        return _refined(_power_variants, kernel, _square_kernel)
    return kernel


_REFINERS = {lookup(np.matmul).vjp: _refine_matmul, lookup(np.power).vjp: _refine_power}


# The methods of one tensor (and NumPy's functions of one tensor alone) that reduce take no
# axis: they reduce everything, and the gradient of their input is one number everywhere,
# of the input's shape. On the host it is written into a new array directly, where
# expand_reduced makes a read-only view of it, which costs more on small arrays.


def _all_reduced_kernel(kernel: Any, share: bool) -> Any:
    base = kernel.fn

    def everywhere(g: Any, ans: Any, a: Any) -> tuple:
        if type(a) is _ndarray and type(g) is _FLOAT64_SCALAR and a.dtype.kind == "f":
            out = _empty(a.shape, a.dtype)
            out.fill(g / a.size if share else g)
            return (out,)
        return base(g, ans, a)

    everywhere.__name__ = f"{base.__name__}_everywhere"
    # (expand_reduced, in the other cases, gives the input's shape too)
    return kernel.variant(everywhere, trusted=True)


_UNARY_REFINERS = {
    lookup(np.sum).vjp: lambda kernel: _all_reduced_kernel(kernel, share=False),
    lookup(np.mean).vjp: lambda kernel: _all_reduced_kernel(kernel, share=True),
}
_FLOAT64_SCALAR = np.float64
_empty = np.empty


def binary(rule: Rule, x: Any, y: Any) -> Tensor:
    """``rule.primitive(x, y)`` where at least one of ``x``, ``y`` is a tensor."""
    forward = rule.__dict__.get("_tape_operator")
    if forward is None:
        compute = dot_2d if rule.primitive is np.matmul else rule.primitive
        forward = rule._tape_operator = operator_pair(rule, compute)[0]
    return forward(x, y)


# -- in-place operations --------------------------------------------------------------------


def _snapshot(target: Tensor, copy_values: bool) -> Tensor:
    """A stand-in for ``target`` before an in-place write: same graph position, and its own
    copy of the values when the rule will read them."""
    data = target.data
    shadow = _wrap(data.copy() if copy_values else data, target._grad_fn)
    shadow._output_nr = target._output_nr
    shadow._requires_grad = target._requires_grad
    if target._grad_fn is None and target._requires_grad:
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
    if not getattr(getattr(data, "flags", None), "writeable", True):
        target._data = result.astype(data.dtype, copy=False)
    else:
        data[...] = result


def _bump(target: Tensor, recorded: bool) -> None:
    # Made on demand so that ``_version`` counts every write, not only those after a save.
    note_write(target._version_counter(), recorded)


def _guard_inplace(target: Tensor, what: str, recording: bool) -> None:
    if recording and target._base is not None and target._requires_grad:
        _check_fresh_view(target)  # (a stale view is no leaf: its history is its base's)
    if target._requires_grad and target._grad_fn is None:
        raise RuntimeError(
            f"a leaf Variable that requires grad is being used in an in-place operation "
            f"({what}): that would overwrite the value its gradient is defined at. Update "
            f"parameters inside `with ag.no_grad():`, or write `w = w ...` to make a new tensor."
        )


def inplace(target: Tensor, rule: Rule, other: Any, what: str) -> Tensor:
    """``target <op>= other``: records the operation when a gradient is needed."""
    if _grad_state.numbers and target._data.ndim == 0:
        # A number in a function run on the tape: rebound, as Python rebinds a float.
        return binary(rule, target, other)
    other_grad = isinstance(other, Tensor) and other._requires_grad
    grad_mode = is_grad_enabled()
    recording = grad_mode and (target._requires_grad or other_grad)
    if grad_mode:
        _guard_inplace(target, what, recording)
    if recording:
        place = None if target._base is None else _place_in_base(target, what)
        # The node's kernel reads the same values whichever operands' shapes match the result.
        needed = (0, 1) if target._requires_grad and other_grad else (1,) if other_grad else (0,)
        reads_target = 0 in kernel_for(rule, needed).reads
        result = binary(rule, _snapshot(target, reads_target), other)
        if place is not None:
            _write_through_view(target, place, result, what)
            return target
        _write_back(target, result._data, what)
        _adopt_history(target, result)
        return target
    other_raw = _operand(other)[0]
    data = target.data
    check_same_device((data, other_raw))
    if not getattr(getattr(data, "flags", None), "writeable", True):
        target._data = rule.primitive(data, other_raw)
    else:
        rule.primitive(data, other_raw, out=data)
    _bump(target, False)
    return target


def _adopt_history(target: Tensor, result: Tensor) -> None:
    target._grad_fn = result._grad_fn
    target._output_nr = result._output_nr
    target._requires_grad = True
    counter = target._version_counter()
    note_write(counter, True)
    if len(counter) > 2:
        _base_written(target, counter)


# -- in-place operations on views ---------------------------------------------------------------
#
# A view (from indexing, reshape, transpose...) shares its base's memory, so an in-place
# operation on it that records writes its result into the base too; the base's history
# then has to say so. The view's elements are found in the base by their addresses in
# memory, whatever chain of views made it, and the base's new history is one node: the
# base with those elements replaced by the view's new values (assign_index, at their
# positions). The view's own history is the operation's result. Other views of the base
# are stale afterwards, as after any recorded in-place operation on it (_check_fresh_view).


def _place_in_base(view: Tensor, what: str) -> Any:
    """The index of ``view``'s elements in its base (a tuple of integer arrays of the
    view's shape), checked for an in-place operation ``what`` on the view that records."""
    _check_fresh_view(view)
    counter = view._counter
    if len(counter) > 2 and counter[2].get(id(view), (None, False))[1]:
        raise RuntimeError(
            f"a view of a tensor (from indexing, reshape or transpose) taken in no_grad mode "
            f"is being modified in place ({what}) with grad mode enabled: whether the tensor "
            f"it views should record it is ambiguous, as in PyTorch. Take the view outside "
            f"no_grad, or .clone() it."
        )
    base = view._base
    if base._requires_grad and base._grad_fn is None:
        raise RuntimeError(
            f"a view of a leaf Variable that requires grad is being used in an in-place "
            f"operation ({what}): that would overwrite the values its gradient is defined "
            f"at. Update parameters inside `with ag.no_grad():`, or work on a copy "
            f"(w.clone())."
        )
    data = view.data
    base_data = base.data
    positions = None
    if data.dtype == base_data.dtype and getattr(getattr(data, "flags", None), "writeable", True):
        positions = _positions_in(data, base_data)
    if positions is None:
        raise RuntimeError(
            f"in-place {what} on this view of another tensor while recording gradients is "
            f"not supported: its elements could not be found in the tensor it views; "
            f".clone() the view first."
        )
    if base_data.ndim == 0:
        return ()
    return index_beside(base_data, np.unravel_index(positions, base_data.shape))


def _write_through_view(view: Tensor, place: Any, result: Tensor, what: str) -> None:
    """Write ``result``, the view's new value, into ``view`` (and so into its base), and
    give both their new histories."""
    base = view._base
    _write_back(view, result._data, what)
    value = result if place != () else result.reshape(())
    updated = apply(_ASSIGN_INDEX, primitives.assign_index, (_snapshot(base, False), place, value))
    base._grad_fn = updated._grad_fn
    base._output_nr = updated._output_nr
    base._requires_grad = True
    counter = base._version_counter()  # (the view's too)
    note_write(counter, True)
    if len(counter) > 2:
        _base_written(base, counter)
    view._grad_fn = result._grad_fn
    view._output_nr = result._output_nr
    view._requires_grad = True
    view._view_history = counter[1]  # the view stays current; the base's other views do not


def _address(array: Any) -> int | None:
    """Where ``array``'s first element is in memory (host or device), if it says."""
    for protocol in ("__array_interface__", "__cuda_array_interface__"):
        interface = getattr(array, protocol, None)
        if interface is not None:
            return interface["data"][0]
    return None


def _addresses(start: int, shape: tuple, strides: tuple) -> np.ndarray:
    """The address of every element of an array of ``shape`` and ``strides`` (in bytes)."""
    out = np.full(shape, start, dtype=np.int64)
    for axis, (n, stride) in enumerate(zip(shape, strides)):
        steps = np.arange(n, dtype=np.int64) * stride
        out = out + steps.reshape((n,) + (1,) * (len(shape) - axis - 1))
    return out


def _positions_in(view: Any, base: Any) -> np.ndarray | None:
    """For each element of ``view``, its position in ``base`` flattened in C order (an
    integer array of the view's shape): ``view`` is made of ``base``'s elements, shared in
    memory. None when some element of ``view`` is none of ``base``'s, or when elements of
    ``base`` share memory (a broadcast), where a write would change several."""
    if view.size == 0:
        return np.zeros(view.shape, dtype=np.intp)
    start, base_start = _address(view), _address(base)
    if start is None or base_start is None or base.size == 0:
        return None
    known = _addresses(base_start, base.shape, base.strides).reshape(-1)
    order = np.argsort(known, kind="stable")
    known = known[order]
    if np.any(known[1:] == known[:-1]):
        return None
    wanted = _addresses(start, view.shape, view.strides)
    found = np.minimum(np.searchsorted(known, wanted), known.size - 1)
    if not np.array_equal(known[found], wanted):
        return None
    return order[found]


def _unwrap_index(index: Any) -> Any:
    if isinstance(index, Tensor):
        return index.data
    if type(index) is tuple and any(isinstance(i, Tensor) for i in index):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


def getitem(tensor: Tensor, index: Any) -> Tensor:
    return apply(
        _GETITEM, operator.getitem, (tensor, index_beside(tensor._data, _unwrap_index(index)))
    )


def setitem(target: Tensor, index: Any, value: Any, what: str = "item assignment") -> None:
    """``target[index] = value``, recorded when ``target`` or ``value`` needs a gradient
    (``what`` names the operation in errors)."""
    _write_at(target, index, value, _ASSIGN_INDEX, _store_at, what)


def _store_at(data: Any, index: Any, raw: Any) -> None:
    data[index] = raw


def _write_at(
    target: Tensor,
    index: Any,
    value: Any,
    rule: Rule | None,
    write: Callable,
    what: str,
    kwargs: dict | None = None,
) -> None:
    """Write ``value`` into ``target`` at ``index`` in place, as ``write(data, index, raw)``
    does, recorded (when ``target`` or ``value`` needs a gradient) as ``rule``'s primitive,
    ``primitive(target, index, value, **kwargs)``, a copy of the target with the write done
    (``rule`` is None only where nothing can need a gradient)."""
    index = index_beside(target._data, _unwrap_index(index))
    value_grad = isinstance(value, Tensor) and value._requires_grad
    grad_mode = is_grad_enabled()
    recording = grad_mode and (target._requires_grad or value_grad)
    if grad_mode:
        _guard_inplace(target, what, recording)
    if recording:
        place = None if target._base is None else _place_in_base(target, what)
        # The target's old values are about to be overwritten: copied if the rule reads them.
        needed = (0, 2) if target._requires_grad and value_grad else (2,) if value_grad else (0,)
        reads_target = 0 in kernel_for(rule, needed).reads
        result = apply(
            rule, rule.primitive, (_snapshot(target, reads_target), index, value), kwargs
        )
        if place is not None:
            _write_through_view(target, place, result, what)
            return
        _write_back(target, result._data, what)
        _adopt_history(target, result)
        return
    raw = value.data if isinstance(value, Tensor) else _operand(value)[0]
    data = target.data
    check_same_device((data, raw))
    write(data, index, raw)
    _bump(target, False)


# -- np.add.at, np.subtract.at and np.multiply.at on tensors ---------------------------------
#
# ``np.add.at(y, idx, v)`` adds without buffering: where idx repeats a position, every value
# is added there (y[idx] += v adds only the last). On the tape it is an in-place operation
# on y, recorded as the out-of-place primitive below, as item assignment is: the gradient
# of y is g, and of v the cotangent of each position it was added to, g[idx], gathered
# with repeats. np.multiply.at multiplies every value in, likewise. The transform does not
# read these calls (it runs them on the tape).


def added_at(x: Any, indices: Any, values: Any) -> Any:
    """A copy of ``x`` after ``np.add.at(x, indices, values)``.

    >>> added_at(np.zeros(3), [0, 0, 2], 1.0)
    array([2., 0., 1.])
    """
    out = x.copy()
    scatter_add(out, indices, values)
    return out


def subtracted_at(x: Any, indices: Any, values: Any) -> Any:
    """A copy of ``x`` after ``np.subtract.at(x, indices, values)``."""
    out = x.copy()
    scatter_add(out, indices, -array_module(values).asarray(values))
    return out


def added_at_vjp(g, ans, x, indices, values):
    return g, None, unbroadcast(g[indices], values)


def subtracted_at_vjp(g, ans, x, indices, values):
    return g, None, unbroadcast(-g[indices], values)


def multiplied_at(x: Any, indices: Any, values: Any) -> Any:
    """A copy of ``x`` after ``np.multiply.at(x, indices, values)`` (host arrays).

    >>> multiplied_at(np.ones(3), [0, 0, 2], 2.0)
    array([4., 1., 2.])
    """
    out = x.copy()
    np.multiply.at(out, indices, values)
    return out


def multiplied_at_vjp(g, ans, x, indices, values):
    return g * at_factors(x, indices, values), None, at_values_grad(g, x, indices, values)


@shape_only(0)
def at_factors(x: Any, indices: Any, values: Any) -> Any:
    """What ``np.multiply.at(x, indices, values)`` multiplies each element of ``x`` by: the
    product of the values written to it (1 where none is), the gradient of ``x``."""
    factors = np.ones(np.shape(x), dtype=np.result_type(x, values))
    np.multiply.at(factors, indices, values)
    return factors


def at_values_grad(g: Any, x: Any, indices: Any, values: Any) -> Any:
    """The gradient of the values of ``np.multiply.at(x, indices, values)``: for each one,
    the cotangent where it was written, times the old value there and the product of the
    other values written to the same position. Zeros among those values are counted, not
    divided by: the product of the others is exact where one of them, or it, is 0."""
    x = np.asarray(x)
    places = np.arange(x.size).reshape(x.shape)[indices]  # where each value was written
    at = places.reshape(-1)
    v = np.broadcast_to(values, places.shape).reshape(-1)
    zero = v == 0
    product = np.ones(x.size, dtype=np.result_type(x, values))  # of the nonzero values
    np.multiply.at(product, at, np.where(zero, 1, v))
    zeros = np.zeros(x.size, dtype=np.intp)  # how many values written there are 0
    np.add.at(zeros, at, zero)
    others = np.where(
        zero,
        np.where(zeros[at] == 1, product[at], 0),
        np.where(zeros[at] == 0, product[at] / np.where(zero, 1, v), 0),
    )
    grad = np.reshape(g, -1)[at] * x.reshape(-1)[at] * others
    return unbroadcast(grad.reshape(places.shape), values)


def extremum_at(x: Any, indices: Any, values: Any, function: np.ufunc = np.maximum) -> Any:
    """A copy of ``x`` after ``function.at(x, indices, values)``, for np.maximum, np.minimum,
    np.fmax and np.fmin (host arrays)."""
    out = x.copy()
    function.at(out, indices, values)
    return out


def extremum_at_vjp(g, ans, x, indices, values, function=np.maximum):
    return (
        at_extremum_share(g, ans, x, indices, values),
        None,
        at_extremum_share(g, ans, x, indices, values, for_values=True),
    )


def at_extremum_share(
    g: Any, ans: Any, x: Any, indices: Any, values: Any, for_values: bool = False
) -> Any:
    """The gradient of ``x`` (or of the values) through ``np.maximum.at(x, indices, values)``
    and its kin: each position's cotangent goes to what it holds now, the old value or a
    value written there, shared equally among those that tie (as for np.max)."""
    x = np.asarray(x)
    places = np.arange(x.size).reshape(x.shape)[indices]  # where each value was written
    at = places.reshape(-1)
    v = np.broadcast_to(values, places.shape).reshape(-1)
    held = np.reshape(ans, -1)
    x_hits = x.reshape(-1) == held
    v_hits = v == held[at]
    count = x_hits.astype(held.dtype)
    np.add.at(count, at, v_hits)
    share = np.where(count > 0, np.reshape(g, -1) / np.where(count > 0, count, 1), 0)
    if for_values:
        return unbroadcast((share[at] * v_hits).reshape(places.shape), values)
    return (share * x_hits).reshape(x.shape)


# Not in the rule table, as _ELEMENTS: functions of the tape's own, which user code reaches
# only through np.add.at, np.subtract.at, np.multiply.at, np.maximum.at, np.minimum.at,
# np.fmax.at and np.fmin.at on tensors.
_ADDED_AT = Rule(added_at, added_at_vjp, "add_at", "AddAtBackward", False, True)
_SUBTRACTED_AT = Rule(subtracted_at, subtracted_at_vjp, "subtract_at", "SubAtBackward", False, True)
_MULTIPLIED_AT = Rule(multiplied_at, multiplied_at_vjp, "multiply_at", "MulAtBackward", False, True)
_EXTREMUM_AT = Rule(extremum_at, extremum_at_vjp, "extremum_at", "ExtremumAtBackward", False, True)
_AT_RULES = {np.add: _ADDED_AT, np.subtract: _SUBTRACTED_AT, np.multiply: _MULTIPLIED_AT}
_AT_RULES.update(dict.fromkeys((np.maximum, np.minimum, np.fmax, np.fmin), _EXTREMUM_AT))
_HOST_ONLY_AT = frozenset({_MULTIPLIED_AT, _EXTREMUM_AT})


def ufunc_at(function: np.ufunc, a: Any, indices: Any, b: Any = None) -> None:
    """``function.at(a, indices, b)`` with tensors among its operands: an in-place operation
    on ``a``, recorded for np.add and np.subtract when a gradient is needed."""
    what = f"np.{function.__name__}.at"
    needs_grad = is_grad_enabled() and (
        (isinstance(a, Tensor) and a._requires_grad) or (isinstance(b, Tensor) and b._requires_grad)
    )
    if not isinstance(a, Tensor):
        if needs_grad:
            raise GradientLostError(
                f"{what}(array, indices, tensor) would add a tensor that requires grad into a "
                "plain NumPy array and drop its gradient; make the array a tensor "
                "(ag.zeros(...), or np.zeros(...) inside a function run on the tape)."
            )
        raw_b = b.data if isinstance(b, Tensor) else b
        function.at(a, _unwrap_index(indices), *([] if b is None else [raw_b]))
        return
    rule = _AT_RULES.get(function)
    if rule in _HOST_ONLY_AT and type(a._data) is not _ndarray and type(a._data) not in _KEPT:
        rule = None  # (its gradient is computed with NumPy: host arrays only)
    if needs_grad and (rule is None or b is None):
        raise NotImplementedError(
            f"{what} on tensors that require grad has no derivative in astgrad (np.add.at "
            f"and np.subtract.at have one, and on the CPU np.multiply.at, np.maximum.at, "
            f"np.minimum.at, np.fmax.at and np.fmin.at); write it with indexing and "
            f"functions that have rules"
        )
    if b is None:  # a ufunc of one operand (np.negative.at): nothing needs a gradient
        data = a.data
        function.at(data, index_beside(data, _unwrap_index(indices)))
        _bump(a, False)
        return

    def write(data: Any, index: Any, raw: Any) -> None:
        function.at(data, index, raw)

    extra = {"function": function} if rule is _EXTREMUM_AT else None
    _write_at(a, indices, b, rule, write, what, extra)


# -- numbers taken out of a tensor, in a function run on the tape -----------------------------
#
# There a 0-d tensor stands for a Python number (see grad_mode._State.numbers), so
# ``t.item()`` and ``t.tolist()`` of a tensor that needs a gradient give 0-d tensors that
# keep it, as ``float(t)`` does (fallback._TapeFloat), where eager code gets Python numbers.


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


# -- bitwise and logical operators: no gradient ------------------------------------------------


def bitwise(function: np.ufunc, *operands: Any) -> Tensor:
    """``a & b``, ``a | b``, ``a ^ b``, ``~a`` on tensors: NumPy's ``function`` on the raw
    values (logical on booleans), a result that carries no gradient."""
    raw = [_operand(o)[0] for o in operands]
    if len(raw) > 1:
        check_same_device(raw)
    return wrap_plain(function(*raw))


def bitwise_inplace(target: Tensor, function: np.ufunc, other: Any) -> Tensor:
    """``target &= other`` and the like, written into ``target``."""
    if _grad_state.numbers and target._data.ndim == 0:
        # A number in a function run on the tape: rebound, as Python rebinds a bool.
        return bitwise(function, target, other)
    other_raw = _operand(other)[0]
    data = target.data
    check_same_device((data, other_raw))
    if not getattr(getattr(data, "flags", None), "writeable", True):
        target._data = function(data, other_raw)
    else:
        function(data, other_raw, out=data)
    _bump(target, False)
    return target


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


refresh_view = _refresh_view

_GETITEM = lookup(operator.getitem)
_RESHAPE = lookup(np.reshape)
_ASSIGN_INDEX = lookup(primitives.assign_index)

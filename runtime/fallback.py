"""Running a plain Python function on the tape: arrays in, arrays out, a pullback back.

This is ``mode="tape"`` for a whole function, and the fallback for one call that the
transform cannot see into. The arguments being differentiated become tensors that require
grad (tuples, lists and dicts of arrays become the same structures of tensors), the
function runs with grad mode on, and the result's raw arrays come back together with a
pullback that runs ``backward`` on the recorded graph.

User code written for NumPy arrays mostly works on tensors as it is, since tensors
implement NumPy's dispatch protocols. The ``math`` module does not dispatch, so the
function (and the plain Python functions it calls) runs with globals in which ``math`` and
functions taken from it accept tensors.
"""

from __future__ import annotations

import math
import sys
import threading
import types
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from ..transform import global_writes as _global_writes
from .adjoints import finish_gradient, scalar_seed
from .closures import reaches_itself
from .device import CPU, array_module, device_guard, placement, to_device
from .dot_calls import closure_of, reads_dot, with_dot_calls
from .grad_mode import _state as _grad_state
from .graph import Node, _backward_pass, backward_pass, new_accumulator
from .graph import next_sequence_number as _number  # (a floor, no node: see anomaly)
from .inplace import CALLERS_ARRAY, ZERO_D_ARRAYS
from .interop import _ONE_TENSOR_FUNCTIONS
from .objects import (
    differentiable_fields,
    entry_states,
    is_namedtuple,
    is_object,
    restore_fields,
    swap_fields,
    with_fields,
)
from .plans import Pattern, Plan
from .primitives import identity
from .raw_values import NUMPY_SCALARS
from .raw_values import ones_like_array as _ones_like_array
from .recording import apply, no_rule_error
from .rules.registry import lookup
from .tape_numbers import number_of
from .tensor import MADE_BY_HAND, GradientLostError, Tensor, new_tensor
from .ufunc_methods import TapeVectorized, vectorize_on_tape

__all__ = ["tape_vjp", "tape_call", "Pullback", "on_tape"]

SECOND_CALL = (
    "This pullback was already called, and its saved values were freed. Pass "
    "retain_graph=True to the first call if you need to call it again."
)


class Pullback:
    """Sends a cotangent of a function's result back to gradients of its inputs.

    Called once, it frees what it saved; ``retain_graph=True`` keeps it for another call.
    """

    #: a gradient, which astgrad cannot differentiate again yet (see astgrad.nested)
    __astgrad_gradient__ = True

    def __init__(self, backward: Callable[[Any, bool], Any], value: Any) -> None:
        self._backward = backward
        self._value = value
        self._consumed = False

    def __call__(self, cotangent: Any = None, *, retain_graph: bool = False) -> Any:
        if self._consumed:
            raise RuntimeError(SECOND_CALL)
        backward = self._backward
        if not retain_graph:
            self._consumed = True
            self._backward = None
        return backward(cotangent, retain_graph)


def _same_containers(args: list, kwargs: dict, wrt: Any, lists: dict[int, list]) -> None:
    """A list given both as an argument differentiated and as one that is not (``f(L, L,
    x)``) is one object in Python, which a change through either name changes: the other
    argument gets the differentiated one's list of leaves too (``lists``: id of the
    caller's list -> its list of leaves), so that it stays one object."""
    differentiated = set(wrt)
    for key, value in enumerate(args):
        if ("args", key) not in differentiated and id(value) in lists:
            args[key] = lists[id(value)]
    for key, value in kwargs.items():
        if ("kwargs", key) not in differentiated and id(value) in lists:
            kwargs[key] = lists[id(value)]


def _to_tensors(value: Any, leaves: list, swapped: list | None = None) -> Any:
    """``value`` with its floats and float arrays as leaf tensors (added to ``leaves``).
    With ``swapped``, an object's attributes are given their leaves on the object itself
    (``objects.swap_fields``: restored after the run); without, a copy holds them."""
    if type(value) is _ndarray and value.dtype.kind == "f":
        # The common case, first: a float array becomes a leaf as it is.
        tensor = new_tensor(value)
        tensor._requires_grad = True
        tensor._accumulator = new_accumulator(tensor)  # (every leaf is used, mostly)
        leaves.append(tensor)
        if value.ndim == 0:  # (an array: `t += v` changes it in place, as NumPy does)
            ZERO_D_ARRAYS[id(tensor)] = tensor
        return tensor
    if is_object(value) or is_namedtuple(value):  # its attributes' gradients (issue 17)
        if swapped is None:
            return with_fields(value, lambda v: _to_tensors(v, leaves))
        return swap_fields(value, lambda v: _to_tensors(v, leaves, swapped), swapped)
    if isinstance(value, (list, tuple)):
        converted = [_to_tensors(v, leaves, swapped) for v in value]
        return type(value)(converted) if isinstance(value, tuple) else converted
    if isinstance(value, dict):
        return {k: _to_tensors(v, leaves, swapped) for k, v in value.items()}
    if isinstance(value, Tensor):
        value = value.detach()
    if isinstance(value, (float, int)) and not isinstance(value, bool):
        data = np.asarray(float(value))
    elif isinstance(value, complex):
        data = np.asarray(value)
    elif hasattr(value, "dtype") and hasattr(value, "shape"):
        data = value if not isinstance(value, np.generic) else np.asarray(value)
        if data.dtype.kind in "iub":
            raise TypeError(
                f"cannot differentiate with respect to an integer array ({data.dtype}): "
                "its gradient is not defined. Convert it to float first."
            )
    else:
        raise TypeError(f"cannot differentiate with respect to a {type(value).__name__}")
    if data.dtype.kind not in "fc":
        Tensor(data, requires_grad=True)  # (raises, saying why)
    # (not ``Tensor(data, requires_grad=True)``: a leaf of ours is not made by hand; see
    # tensor.MADE_BY_HAND)
    tensor = new_tensor(data)
    tensor._requires_grad = True
    leaves.append(tensor)
    return tensor


_new = object.__new__


def _flat_leaves(value: Any) -> list:
    """The items of ``value`` that :func:`_to_tensors` makes leaves of, in its order."""
    if is_object(value) or is_namedtuple(value):
        return [x for _, v in differentiable_fields(value) for x in _flat_leaves(v)]
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _flat_leaves(v)]
    if isinstance(value, dict):
        return [x for v in value.values() for x in _flat_leaves(v)]
    return [value]


def _raw(value: Any) -> Any:
    if isinstance(value, Tensor):
        data = value._data
        if type(data) is not _ndarray and isinstance(data, np.generic):
            return data  # a 0-d result kept as a NumPy scalar: as NumPy gives it
        data = value.data
        # NumPy hands back scalars for 0-d results; so does the function run on arrays.
        return (
            data[()] if getattr(data, "ndim", None) == 0 and isinstance(data, np.ndarray) else data
        )
    if isinstance(value, (list, tuple)):
        raw = [_raw(v) for v in value]
        return type(value)(raw) if isinstance(value, tuple) else raw
    if isinstance(value, dict):
        return {k: _raw(v) for k, v in value.items()}
    return value


def _collect(template: Any, leaves_iter: Any, found: dict) -> Any:
    """Gradients in the structure of ``template`` (the original argument), from what the
    backward pass ``found`` for each leaf: 0 for a leaf no gradient reached."""
    if is_object(template) or is_namedtuple(template):
        parts = {n: _collect(v, leaves_iter, found) for n, v in differentiable_fields(template)}
        if is_namedtuple(template):
            return [parts.get(n, 0) for n in type(template)._fields]
        return parts  # (an object's adjoint: finish_gradient makes the object)
    if isinstance(template, (list, tuple)):
        parts = [_collect(t, leaves_iter, found) for t in template]
        return type(template)(parts) if isinstance(template, tuple) else parts
    if isinstance(template, dict):
        return {k: _collect(v, leaves_iter, found) for k, v in template.items()}
    tensor = next(leaves_iter)
    grad = found.get(tensor._accumulator)
    return 0 if grad is None else _own(grad, tensor._data)


def _own(grad: Any, data: Any) -> Any:
    """A leaf's gradient as a buffer of its own, in the leaf's dtype: what reached a leaf
    may be another leaf's gradient too, the cotangent given, or a value a node saved."""
    if getattr(grad, "shape", ()) != data.shape:
        raise RuntimeError(
            f"internal error: gradient of shape {getattr(grad, 'shape', ())} reached an "
            f"argument of shape {data.shape}"
        )
    if type(grad) in _IMMUTABLE_SCALARS and grad.dtype is data.dtype:
        return grad  # a NumPy scalar (a 0-d result kept as one) cannot be changed
    if grad.dtype.kind == "c" and data.dtype.kind != "c":
        grad = grad.real  # a real argument's gradient: the real part (rules/complex.py)
    return grad.astype(data.dtype, copy=True)


_ndarray = np.ndarray
_IMMUTABLE_SCALARS = frozenset({np.float64, np.float32, np.float16, np.longdouble})


def _tensor_outputs(value: Any) -> list[tuple[Tensor, Any]]:
    found = []

    def walk(v: Any, path: tuple) -> None:
        if isinstance(v, Tensor):
            found.append((v, path))
        elif isinstance(v, (list, tuple)):
            for i, item in enumerate(v):
                walk(item, path + (i,))
        elif isinstance(v, dict):
            for k, item in v.items():
                walk(item, path + (k,))

    walk(value, ())
    return found


def _part(cotangent: Any, path: tuple) -> Any:
    for step in path:
        cotangent = cotangent[step]
    return cotangent


def _home(args: list, kwargs: dict) -> Any:
    """Where a float being differentiated belongs: see :func:`device.placement`."""
    if not kwargs:
        for a in args:
            if type(a) is not _ndarray and type(a) is not float:
                break
        else:
            return CPU  # (only host arrays and floats: the common case, without a walk)
    return placement((args, kwargs))


def sharing(leaf: Tensor) -> str | None:
    """What else a function run on the tape can reach that shares memory with ``leaf``'s
    array, a leaf made of one of its arguments (a description), or None.

    Such a leaf holds its call's ``(leaves, args, kwargs, function)`` (a tuple: the tape
    makes one on every call) as ``_argument``. When the function changes the argument in
    place, the leaf takes a copy (inplace.detach_argument), and that is Python's semantics
    only if no other argument, global or closure variable of the function shares its
    memory."""
    leaves, args, kwargs, function = leaf._argument
    data = leaf._data
    for other in leaves:
        if other is not leaf and _shares(other._data, data):
            return "another argument"
    for value in [*args, *(kwargs or {}).values()]:
        if value is not leaf and _shares(value._data if isinstance(value, Tensor) else value, data):
            return "another argument"
    function = getattr(function, "__func__", function)
    for name, value in getattr(function, "__globals__", {}).items():
        if _shares(value, data):
            return f"the global {name}"
    for cell in getattr(function, "__closure__", None) or ():
        try:
            if _shares(cell.cell_contents, data):
                return "a variable of its closure"
        except ValueError:  # (an empty cell)
            continue
    return None


def _shares(value: Any, data: Any) -> bool:
    return (
        type(value) is _ndarray
        and type(data) is _ndarray
        and (value is data or bool(np.may_share_memory(value, data)))
    )


def _run(function: Callable, args: list, kwargs: dict) -> Any:
    try:
        result = on_tape(function)(*args, **kwargs)
    except ValueError as error:
        _raise_lost_gradient(error)
        raise
    if isinstance(result, types.GeneratorType):
        # Generated code indexes what it loops over; a generator is run out into a list
        # while the tape records.
        result = list(result)
    return result


def _raise_lost_gradient(error: ValueError) -> None:
    """``a[i] = t`` into a plain array: NumPy turns the GradientLostError of converting
    ``t`` into its own "setting an array element with a sequence"; raise ours instead,
    which says what happened and what to do."""
    lost = error.__cause__ or error.__context__
    if isinstance(lost, GradientLostError):
        raise lost.with_traceback(error.__traceback__) from None


def tape_vjp(
    function: Callable,
    args: tuple,
    kwargs: dict,
    wrt: list[tuple[str, int | str]],
    *,
    own_copies: bool = True,
) -> tuple[Any, Pullback]:
    """Run ``function`` on the tape. ``wrt`` lists (where, key) pairs: ("args", i) or
    ("kwargs", name) for the arguments to differentiate. With ``own_copies`` a write into
    a differentiated argument changes a copy of its own (inplace.detach_argument), as for a
    function run on the tape whole; without, it raises (a call from generated code, which
    reads the caller's array after the call)."""
    args = list(args)
    kwargs = dict(kwargs) if kwargs else {}
    originals = []
    groups = []
    # A float to differentiate becomes a 0-d tensor next to the arrays it meets.
    home = _home(args, kwargs)
    if _grad_state.enabled and _records(args, kwargs):
        return _nested_vjp(function, args, kwargs, wrt, home)
    # Inside a function run on the tape, or while tensors made to require grad by hand are
    # alive, the function may read a tensor that records (see _outside_pullback): nodes
    # from here on are its own.
    floor = _number() if _grad_state.numbers or MADE_BY_HAND else None
    swapped: list = []  # objects whose attributes hold leaves while the function runs
    lists: dict[int, list] = {}  # a differentiated list's id -> its list of leaves
    for where, key in wrt:
        container = args if where == "args" else kwargs
        original = container[key]
        # (an object's form before the function may assign its attributes: issue 17)
        entry = entry_states([original])[0]
        leaves: list[Tensor] = []
        try:
            container[key] = _to_tensors(original, leaves, swapped)
        except BaseException:
            restore_fields(swapped, _raw)
            raise
        if type(original) is list:
            lists[id(original)] = container[key]
        if home.type != "cpu":
            for leaf, item in zip(leaves, _flat_leaves(original)):
                if isinstance(item, (float, int)):
                    leaf.data = to_device(leaf.data, home)
        originals.append(entry)
        groups.append(leaves)
    if lists:
        _same_containers(args, kwargs, wrt, lists)
    every_leaf = [leaf for leaves in groups for leaf in leaves]
    arguments = (every_leaf, args, kwargs, function) if own_copies else CALLERS_ARRAY
    for leaves in groups:
        for leaf in leaves:
            leaf._argument = arguments  # (the caller's arrays: see inplace.detach_argument)
    for value in (*args, *kwargs.values()):  # (objects not differentiated: left plain too)
        if is_object(value) and not any(owner is value for owner, _ in swapped):
            swapped.append((value, {}))
    if floor is not None:
        mark = _made.start([leaf for leaves in groups for leaf in leaves])
    # (enable_grad(), written out: this runs on every call of a gradient on the tape; and
    # the numbers of the function's code stay numbers: see grad_mode._State.numbers)
    previous, numbers = _grad_state.enabled, _grad_state.numbers
    _grad_state.enabled = _grad_state.numbers = True
    try:
        if home.type == "cpu":
            result = _run(function, args, kwargs)
        else:
            # The arguments' GPU is current while the function runs (the backward pass
            # makes its output's current: see graph.backward_pass).
            with device_guard(home):
                result = _run(function, args, kwargs)
    finally:
        _grad_state.enabled, _grad_state.numbers = previous, numbers
        if swapped:
            restore_fields(swapped, _raw)
        if floor is not None:
            made = _made.end(mark)
    if floor is not None:
        found = _outside_pullback(result, originals, groups, floor, previous, made)
        if found is not None:
            return found
    return _pullback_of(result, originals, groups)


def _pullback_of(result: Any, originals: list, groups: list) -> tuple[Any, Pullback]:
    """The value of a function run on the tape, and the pullback from its ``result`` to the
    arguments ``originals``, whose leaves are ``groups`` (one list per argument)."""
    value = _raw(result)
    outputs = [(result, ())] if type(result) is Tensor else _tensor_outputs(result)

    def backward(cotangent: Any, retain_graph: bool) -> list:
        if cotangent is not None and _grad_state.enabled and _records((cotangent,), None):
            # A cotangent that records (an outer derivative is taken along it): the
            # gradients are recorded as functions of it (see higher_order).
            linked = [
                [(leaf, (leaf._grad_accumulator(), 0)) for leaf in leaves] for leaves in groups
            ]
            return _linked_backward(result, outputs, value, cotangent, originals, linked, True)
        starts = _starts(result, outputs, value, cotangent, False)
        found = backward_pass(starts, retain_graph) if starts else {}
        return [
            finish_gradient(_collect(original, iter(leaves), found), original)
            for original, leaves in zip(originals, groups)
        ]

    return value, Pullback(backward, value)


def _starts(result: Any, outputs: list, value: Any, cotangent: Any, keep: bool) -> list:
    """``(tensor, cotangent)`` for each output of ``result`` a gradient flows from: a
    cotangent that is a tensor stays one when ``keep`` (a pass that records)."""
    starts = []
    if cotangent is None:
        if not outputs:
            # Nothing depends on the arguments: zero gradients, for a result that is a
            # number (scalar_seed raises, as in source mode, for None, a str, a tuple...).
            scalar_seed(value)
        elif not _is_scalar(result):
            raise ValueError(
                "grad can be implicitly created only for scalar outputs; give the "
                "pullback a cotangent of the output's shape"
            )
        for tensor, _ in outputs:
            if tensor._requires_grad:
                starts.append((tensor, tensor._seed(None)))
        return starts
    for tensor, path in outputs:
        if not tensor._requires_grad:
            continue
        seed = _part(cotangent, path)
        if type(seed) is int and seed == 0:
            continue  # the zero placeholder: no gradient flows from this output
        if keep and isinstance(seed, Tensor):
            tensor._seed(seed)  # (checks its shape and device)
            starts.append((tensor, seed))
            continue
        if not hasattr(seed, "shape"):
            seed = array_module(tensor.data).asarray(seed, dtype=tensor.dtype)
        starts.append((tensor, tensor._seed(seed)))
    return starts


# -- a function run on the tape inside a derivative being taken -------------------------------


def _records(args: Any, kwargs: dict | None) -> bool:
    """Whether a tensor that requires grad is among ``args`` and ``kwargs`` (inside lists,
    tuples and dicts too): a derivative of what is computed from them is being taken."""
    if not kwargs and all(type(a) in _PLAIN for a in args):
        return False  # the common case, on every call: keep it cheap
    stack = [*args, *(kwargs.values() if kwargs else ())]
    while stack:
        value = stack.pop()
        if isinstance(value, Tensor):
            if value._requires_grad:
                return True
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
        elif isinstance(value, dict):
            stack.extend(value.values())
    return False


_PLAIN = frozenset({_ndarray, float, int, bool, str, type(None)})
_COPY = lookup(identity)


def _nested_vjp(
    function: Callable, args: list, kwargs: dict, wrt: list, home: Any
) -> tuple[Any, Pullback]:
    """:func:`tape_vjp` of a call whose arguments hold tensors that record: a derivative of
    this one is being taken (``ag.grad(ag.grad(f, mode="tape"), mode="tape")``, or a
    gradient on the tape called from a function run on the tape). The function records on
    the graph those tensors belong to; each argument differentiated stands as an input of
    its own (a recorded copy of a tensor that records, so that the same tensor given twice
    still has a gradient per argument); the value is the result's tensors as they are, and
    the pullback records its gradients (``create_graph``), so that they are functions of
    everything the outer derivative follows."""
    originals = []
    groups = []
    for where, key in wrt:
        container = args if where == "args" else kwargs
        original = container[key]
        inputs: list = []
        container[key] = _linked_inputs(original, inputs, home)
        originals.append(original)
        groups.append(inputs)
    previous, numbers = _grad_state.enabled, _grad_state.numbers
    _grad_state.enabled = _grad_state.numbers = True
    try:
        if home.type == "cpu":
            result = _run(function, args, kwargs)
        else:
            with device_guard(home):
                result = _run(function, args, kwargs)
    finally:
        _grad_state.enabled, _grad_state.numbers = previous, numbers
    outputs = [(result, ())] if type(result) is Tensor else _tensor_outputs(result)

    def backward(cotangent: Any, retain_graph: bool) -> list:
        return _linked_backward(result, outputs, result, cotangent, originals, groups, retain_graph)

    return result, Pullback(backward, result)


def _linked_inputs(value: Any, inputs: list, home: Any) -> Any:
    """``value`` with each tensor that records replaced by a recorded copy, and every other
    float (array) by a new leaf, as :func:`_to_tensors` makes them; ``(tensor, edge)`` of
    each is appended to ``inputs``."""
    if isinstance(value, Tensor) and value._requires_grad:
        stand_in = apply(_COPY, identity, (value,))
        inputs.append((stand_in, (stand_in._grad_fn, 0)))
        return stand_in
    if isinstance(value, (list, tuple)):
        converted = [_linked_inputs(v, inputs, home) for v in value]
        return type(value)(converted) if isinstance(value, tuple) else converted
    if isinstance(value, dict):
        return {k: _linked_inputs(v, inputs, home) for k, v in value.items()}
    leaves: list = []
    leaf = _to_tensors(value, leaves)
    if _grad_state.numbers and _made.leaves:  # (inside a run that looks: see _Made)
        _made.leaves.extend(leaves)
    if home.type != "cpu" and isinstance(value, (float, int)):
        leaf.data = to_device(leaf.data, home)
    # A recorded copy of the new leaf, as of a tensor: every input is then a node made
    # now, and the pass for their gradients walks only what is recorded from here on.
    stand_in = apply(_COPY, identity, (leaf,))
    inputs.append((stand_in, (stand_in._grad_fn, 0)))
    return stand_in


# -- a function run on the tape that reads tensors that record from outside -------------------


class _Made(threading.local):
    """The leaves made, on this thread, by the gradients on the tape that run inside the
    outermost one that looks (for :func:`_outside_pullback`), in order, each run's after a
    None: a leaf made while a function ran is not something it read from outside, though
    its node, like every leaf's, has no number to say when it was made."""

    def __init__(self) -> None:
        self.leaves: list = []

    def start(self, leaves: list) -> int:
        """A run that looks begins, with new ``leaves``. Returns the mark to give
        :meth:`end`, which every run that starts calls, raise or return."""
        mark = len(self.leaves)
        self.leaves.append(None)
        self.leaves.extend(leaves)
        return mark

    def end(self, mark: int) -> list:
        """The leaves made since the run that got ``mark`` began, its own included (and a
        None before each run's). The first run (mark 0: no run around it looks) forgets
        them all."""
        leaves = self.leaves
        made = leaves[mark + 1 :]
        if not mark:
            leaves.clear()
        return made


_made = _Made()


def _outside_pullback(
    result: Any, originals: list, groups: list, floor: int, enabled: bool, made: list
) -> tuple[Any, Pullback] | None:
    """For a function just run on the tape with new leaves ``groups`` (one list per
    argument ``originals``), nodes numbered from ``floor`` on and leaves ``made`` while it
    ran (its own, and those of gradients run inside it), in grad mode ``enabled``: None
    when its result's graph is its own (the common case: then the ordinary pass serves);
    otherwise the value and pullback of a function that read tensors that record from
    outside (a closure cell, a global, a default: an outer variable of a gradient taken
    inside a function on the tape).

    Its gradients are then functions of those tensors, as its value is: the pullback runs
    only the function's own nodes (never those outside, which belong to the outer graph
    and stay as they are) and records its pass when grad mode is on (``create_graph``), so
    that an outer derivative differentiates through the gradient; the value is the
    result's tensors as they are. Without it the gradient would come back a constant and
    the outer derivative lose its terms (perturbation confusion): ``d/dx (x * d/dy (x *
    y))`` gives ``x`` instead of ``2 x``. In grad mode off nothing records: the value is
    the raw result and the gradients constants."""
    if type(result) is Tensor:
        outputs = [(result, ())]
        if not outside_graph((result,), floor, made):
            return None
    else:
        outputs = _tensor_outputs(result)
        if not outside_graph([tensor for tensor, _ in outputs], floor, made):
            return None
    linked = [[(leaf, (leaf._grad_accumulator(), 0)) for leaf in leaves] for leaves in groups]
    value = result if enabled else _raw(result)

    def backward(cotangent: Any, retain_graph: bool) -> list:
        return _linked_backward(
            result, outputs, result, cotangent, originals, linked, retain_graph, floor
        )

    return value, Pullback(backward, value)


def outside_graph(tensors: Any, floor: int, made: list) -> bool:
    """Whether the graph of ``tensors`` reaches a node recorded before ``floor`` (a node's
    number) or a leaf other than those ``made`` (None among them stands for none): whether
    what they were computed from includes tensors that record made elsewhere. Walks only
    the nodes from ``floor`` on, and stops at the first found."""
    roots = []
    for tensor in tensors:
        if tensor._requires_grad:
            if tensor._base is not None:
                tensor._fresh()  # (a stale view's history is its base's)
            node = tensor._grad_fn
            roots.append(tensor._grad_accumulator() if node is None else node)
    own = None
    seen = set()
    todo = [roots]  # (the edges still to follow, a node's at a time)
    while todo:
        for node in todo.pop():
            number = node._seq
            if number >= floor:
                if node not in seen:
                    seen.add(node)
                    todo.append(node._next)
            elif number >= 0:
                return True
            else:  # a leaf's AccumulateGrad
                if own is None:
                    own = {leaf._accumulator for leaf in made if leaf is not None}
                if node not in own:
                    return True
    return False


def _linked_backward(
    result: Any,
    outputs: list,
    value: Any,
    cotangent: Any,
    originals: list,
    groups: list,
    retain_graph: bool,
    floor: int = -1,
) -> list:
    """The gradients of ``originals`` (inputs ``groups``: ``(tensor, edge)`` per leaf of
    each) by a pass that records when grad mode is on, so that they can be differentiated
    again: tensors for arguments that are tensors and for gradients that record, the
    argument's type otherwise. No node older than ``floor`` leads to an input."""
    from .higher_order import graph_pass  # (the recording pass: see its module)

    create = _grad_state.enabled
    starts = _starts(result, outputs, value, cotangent, create)
    edges = [where for inputs in groups for _, where in inputs]
    # (a pass that records keeps the graph: its gradients are functions of it)
    found = graph_pass(starts, retain_graph or create, create, edges, floor) if starts else {}
    seen = {id(seed) for _, seed in starts if isinstance(seed, Tensor)}
    return [
        _collect_linked(original, iter(inputs), found, seen)
        for original, inputs in zip(originals, groups)
    ]


def _collect_linked(template: Any, inputs: Any, found: dict, seen: set) -> Any:
    """:func:`_collect` for :func:`_linked_backward` (``seen``: the ids of the tensors
    handed out so far, each handed out once)."""
    if isinstance(template, (list, tuple)):
        parts = [_collect_linked(t, inputs, found, seen) for t in template]
        return type(template)(parts) if isinstance(template, tuple) else parts
    if isinstance(template, dict):
        return {k: _collect_linked(v, inputs, found, seen) for k, v in template.items()}
    tensor, where = next(inputs)
    grad = found.get(where)
    data = tensor._data
    if grad is None:
        zero = array_module(data).zeros(data.shape, dtype=data.dtype)
        return new_tensor(zero) if isinstance(template, Tensor) else finish_gradient(0, template)
    if isinstance(grad, Tensor):
        if grad.shape != data.shape:
            raise RuntimeError(
                f"internal error: gradient of shape {grad.shape} reached an argument of shape "
                f"{data.shape}"
            )
        if grad.dtype != data.dtype:
            grad = grad.astype(data.dtype)
        if grad._requires_grad or isinstance(template, Tensor):
            if id(grad) in seen:
                grad = apply(_COPY, identity, (grad,))
            seen.add(id(grad))
            return grad
        grad = grad._data
    owned = _own(grad, data)
    return new_tensor(owned) if isinstance(template, Tensor) else finish_gradient(owned, template)


def tape_plan(
    function: Callable,
    pattern: Pattern,
    positions: tuple[int, ...],
    *,
    single: bool,
    with_value: bool,
) -> Plan:
    """The call plan (see :mod:`.plans`) of the gradient on the tape of calls like one
    already checked, for the cached calls of ``ag.grad(f, mode="tape")``: ``pattern``'s
    types and dtypes, the arguments at ``positions`` differentiated, the gradients
    returned as ``single`` and ``with_value`` say.

    Such calls have positional arguments of host types, the differentiated ones floats or
    float arrays; so they need no device, and their leaves no checks. They compute what
    :func:`tape_vjp` and a pullback called with no cotangent do, with one Python call
    where those take dozens: a call of a small model costs about as much as its own
    operations.
    """
    kinds = pattern[0]
    shimmed = on_tape(function)
    floats = tuple(kinds[p] is not _ndarray for p in positions)

    def unchanged() -> bool:
        # A function whose code or defaults are replaced later must not run the old ones:
        # the general path makes a plan of the function as it is now.
        return (
            _code_run_by(shimmed) is function.__code__
            and shimmed.__defaults__ is function.__defaults__
            and shimmed.__kwdefaults__ is function.__kwdefaults__
        )

    def run(*args: Any) -> tuple[Any, Any]:
        previous, numbers = _grad_state.enabled, _grad_state.numbers
        # (as in tape_vjp: nodes from here on are the function's own)
        floor = _number() if numbers or MADE_BY_HAND else None
        call = list(args)
        leaves = []
        arguments = (leaves, call, None, function)  # (filled in below)
        for p, is_float in zip(positions, floats):
            if is_float:
                leaf = _to_tensors(call[p], leaves)
            else:
                # _to_tensors's first case, and new_accumulator, written out
                leaf = _new(Tensor)
                leaf._data = call[p]
                leaf._requires_grad = True
                leaf._grad_fn = None
                leaf._output_nr = 0
                leaf._grad = None
                leaf._counter = None
                leaf._base = None
                leaf._view_history = 0
                leaf._retains_grad = False
                node = _new(Node)
                node._next = ()
                node._args = ()
                node._extra = None
                node.variable = leaf
                node._seq = -1  # (a leaf's node: see graph._init_accumulator)
                leaf._accumulator = node
                leaves.append(leaf)
                if leaf._data.ndim == 0:  # (as _to_tensors: an array, changed by op=)
                    ZERO_D_ARRAYS[id(leaf)] = leaf
            leaf._argument = arguments  # (the caller's arrays: see inplace.detach_argument)
            call[p] = leaf
        if floor is not None:
            mark = _made.start(leaves)
        _grad_state.enabled = _grad_state.numbers = True
        try:
            result = shimmed(*call)
        except ValueError as error:
            _raise_lost_gradient(error)
            raise
        finally:
            _grad_state.enabled, _grad_state.numbers = previous, numbers
            if floor is not None:
                made = _made.end(mark)
        if floor is not None:
            if isinstance(result, types.GeneratorType):
                result = list(result)
            originals = [args[p] for p in positions]
            groups = [[leaf] for leaf in leaves]
            found = _outside_pullback(result, originals, groups, floor, previous, made)
            if found is not None:
                value, pullback = found
                gradients = pullback(None)
                return value, gradients[0] if len(gradients) == 1 else tuple(gradients)
        if type(result) is not Tensor or result._data.size != 1:
            # Results of other forms (several outputs, a generator, a non-scalar that is an
            # error without a cotangent) take tape_vjp's road from here.
            if isinstance(result, types.GeneratorType):
                result = list(result)
            originals = [args[p] for p in positions]
            value, pullback = _pullback_of(result, originals, [[leaf] for leaf in leaves])
            gradients = pullback(None)
        else:
            data = result._data
            if type(data) in NUMPY_SCALARS:
                # _raw and ones_like_array's common case, written out: a one-element result
                # kept as a NumPy scalar, which is what NumPy gives too
                value = data
                seed = data.dtype.type(1)
            else:
                value = _raw(result)
                seed = _ones_like_array(data)
            if not result._requires_grad:
                found = {}
            elif result._base is None and type(data) in NUMPY_SCALARS:
                # (backward_pass's road for a result on the host that is not a view)
                found = _backward_pass(((result, seed),), False)
            else:
                found = backward_pass(((result, seed),), False)
            gradients = []
            for p, leaf in zip(positions, leaves):
                grad = found.pop(leaf._accumulator, None)
                original = args[p]
                if type(grad) is _ndarray and type(original) is _ndarray:
                    if grad.dtype is original.dtype and grad.shape == original.shape:
                        # _own and finish_gradient's common case, written out: an array of
                        # our own, C-ordered. One that nothing else refers to is that already.
                        if (
                            grad.base is None
                            and grad.flags.carray
                            and _getrefcount(grad) == _ALONE_HERE
                        ):
                            gradients.append(grad)
                        else:
                            gradients.append(grad.copy())
                        continue
                gradients.append(
                    finish_gradient(0 if grad is None else _own(grad, leaf._data), original)
                )
            # The graph is gone; so are the leaves, unless the function kept one (see
            # _unlink_leaves), once the references of these locals are dropped.
            result = leaf = node = grad = None
            _unlink_leaves(leaves)
        # (as generated code returns them: a single gradient bare, several as a tuple)
        return value, gradients[0] if len(gradients) == 1 else tuple(gradients)

    watched = isinstance(function, types.FunctionType)
    return Plan(
        pattern,
        positions,
        run,
        guard=unchanged if watched else None,
        finished=True,
        single=single,
        with_value=with_value,
    )


# Whether a gradient that reached a leaf is referred to by anything else: another leaf's
# gradient, a cotangent, a value a node saved, an array of the caller's, a view of it.
# An array made by a kernel and held only by a local variable is referred to by that
# variable alone; its reference count then is what _ALONE_HERE found for such an array, in
# the same form of code (a local passed to sys.getrefcount), on this interpreter. Any other
# reference, a view's included (a view refers to its base), counts one more, and the
# gradient is copied. (NumPy elides temporaries on the same kind of test.)


_getrefcount = sys.getrefcount


def _alone() -> int:
    value = np.empty(1)
    return _getrefcount(value)


#: the count of an array held by one local variable of the function that asks
_ALONE_HERE = _alone()


# A leaf of a planned call is in two reference cycles: with its AccumulateGrad node (the
# node's ``variable`` is the leaf), and through its ``_argument`` (whose list of leaves
# holds it). Left as they are, every call leaves them to the cyclic garbage collector (17
# objects a call of a 3-layer MLP), whose collections then cost about a microsecond a call.
# Where nothing but the call refers to a leaf or to its node, the cycles are cut and both
# go at once; a leaf or a node the function kept (in a global, through a view or a tensor
# computed from it, a weak reference aside) keeps its links, as before.


def _unlink_leaves(leaves: list, counts: list | None = None) -> None:
    """Cut the cycles of the leaves of a finished planned call that nothing else refers
    to. ``counts`` (for :func:`_alone_leaf` only) collects the reference counts instead."""
    for leaf in leaves:
        node = leaf._accumulator
        if counts is not None:
            counts.append((_getrefcount(leaf), _getrefcount(node)))
        elif _getrefcount(leaf) == _LEAF_ALONE and _getrefcount(node) == _NODE_ALONE:
            leaf._argument = None
            node.variable = None


def _alone_leaf() -> tuple[int, int]:
    """The counts :func:`_unlink_leaves` finds for a leaf and its node that only a
    planned call's own structures refer to: its list of leaves, its list of arguments (in
    the call's ``_argument``) and each other. Measured on this interpreter, as _alone is."""
    leaf = _new(Tensor)
    node = _new(Node)
    leaf._accumulator = node
    node.variable = leaf
    leaves = [leaf]
    call = [leaf]
    leaf._argument = (leaves, call, None, None)
    leaf = node = None
    counts: list = []
    _unlink_leaves(leaves, counts)
    leaves[0]._argument = None
    return counts[0]


_LEAF_ALONE, _NODE_ALONE = _alone_leaf()


def call_method(receiver: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    """``receiver.name(*args, **kwargs)``: lets a method call of a value that needs a
    gradient go to the tape with the receiver as an input."""
    return getattr(receiver, name)(*args, **kwargs)


def tape_call(function: Callable, wrt: tuple, *args: Any, **kwargs: Any) -> tuple[Any, Callable]:
    """One call, from generated code, that the transform could not see into.

    ``wrt`` lists the positions (ints) and keyword names (strs) of the arguments that need
    gradients. Returns the value and a function from the value's cotangent to the tuple of
    those gradients; it can be called again (the generated backward pass may be replayed).
    """
    slots = [("args", w) if isinstance(w, int) else ("kwargs", w) for w in wrt]
    # (the transform accepts such a call where the function may not change a differentiated
    # argument; one it could not read at all is held to that here)
    value, pullback = tape_vjp(function, args, kwargs, slots, own_copies=False)

    def backward(cotangent: Any) -> tuple:
        if type(cotangent) is int and cotangent == 0:
            return (0,) * len(slots)
        return tuple(pullback(cotangent, retain_graph=True))

    return value, backward


def _is_scalar(value: Any) -> bool:
    if isinstance(value, Tensor):
        return value.size == 1
    return isinstance(value, (float, int))


# -- letting the math module accept tensors --------------------------------------------------


def _math_version(function: Callable) -> Callable:
    """``math.f`` that, given a tensor, applies the NumPy function of the same meaning, or
    records ``math.f``'s own rule (erf, erfc have no NumPy twin)."""
    numpy_function = _MATH_TO_NUMPY.get(function.__name__)
    if numpy_function is None:
        from .rules.registry import lookup

        rule = lookup(function)
        if rule is None:
            return function

        def numpy_function(*args: Any) -> Any:
            return apply(rule, function, args, {})

    def on_tensors(*args: Any) -> Any:
        if any(isinstance(a, Tensor) for a in args):
            return numpy_function(*args)
        return function(*args)

    on_tensors.__name__ = function.__name__
    return on_tensors


_MATH_TO_NUMPY = {
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "asin": np.arcsin, "acos": np.arccos,
    "atan": np.arctan, "atan2": np.arctan2, "sinh": np.sinh, "cosh": np.cosh,
    "tanh": np.tanh, "asinh": np.arcsinh, "acosh": np.arccosh, "atanh": np.arctanh,
    "exp": np.exp, "expm1": np.expm1, "log": None, "log2": np.log2, "log10": np.log10,
    "log1p": np.log1p, "sqrt": np.sqrt, "pow": np.power, "fabs": np.absolute,
    "hypot": np.hypot, "degrees": np.rad2deg, "radians": np.deg2rad, "exp2": np.exp2,
    "cbrt": np.cbrt,
}  # fmt: skip


def _math_log(x: Any, base: Any = None) -> Any:
    if isinstance(x, Tensor) or isinstance(base, Tensor):
        return np.log(x) if base is None else np.log(x) / np.log(base)
    return math.log(x) if base is None else math.log(x, base)


class _TapeMath(types.ModuleType):
    """``math`` as user code on the tape sees it: its functions accept tensors. Looked up
    by ``__getattribute__``, as _TapeNumpy is, and for the same reason."""

    def __getattribute__(self, name: str) -> Any:
        if name == "log":
            return _math_log
        value = getattr(math, name)
        if not callable(value):
            return value
        found = _math_wrapped.get(name)
        if found is None or found[0] is not value:
            found = _math_wrapped[name] = (value, _math_version(value))
        return found[1]


#: (name -> (the math module's function, its version that accepts tensors))
_math_wrapped: dict[str, tuple[Any, Any]] = {}


_tape_math = _TapeMath("math")
_math_functions = {getattr(math, n): n for n in dir(math) if callable(getattr(math, n))}


class _FloatType(type):
    """The type of :class:`_TapeFloat`. Calling it converts (``float(t)``); instance and
    subclass tests are ``float``'s; it compares equal to ``float`` (``type(v) == float``;
    ``type(v) is float`` cannot hold); every attribute it lacks is ``float``'s
    (``float.fromhex``)."""

    def __call__(cls, value: Any = 0.0) -> Any:
        kind = type(value)
        if kind is float:
            return value
        if kind is int:
            return float(value)
        if isinstance(value, Tensor):
            if value.size != 1:
                raise TypeError(
                    f"only one-element tensors can be converted to a float, not shape {value.shape}"
                )
            if value._requires_grad and _grad_state.enabled:
                return number_of(value)
            return float(value._data.item())
        return float(value)

    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, float)

    def __subclasscheck__(cls, subclass: type) -> bool:
        return issubclass(subclass, float)

    def __eq__(cls, other: object) -> bool:
        return other is cls or other is float

    def __hash__(cls) -> int:
        return hash(float)

    def __getattr__(cls, name: str) -> Any:
        return getattr(float, name)


class _TapeFloat(metaclass=_FloatType):
    """``float`` as user code on the tape sees it. ``float(t)`` of a tensor that needs a
    gradient keeps a 0-d tensor (of its own, not a view), so the gradient survives; of
    anything else, a Python float. As a dtype (``x.astype(float)``, ``dtype=float``) it is
    float64, as ``float`` is: NumPy reads a type's ``dtype`` attribute."""

    dtype = np.dtype(np.float64)


_TapeFloat.__name__ = _TapeFloat.__qualname__ = "float"
_TAPE_BUILTINS = {"float": _TapeFloat}


def _creating(function: Callable) -> Callable:
    """``np.zeros(...)`` and friends, giving a tensor: items assigned into it later then
    record, where assigning a tensor into a NumPy array would drop its gradient."""

    def create(*args: Any, **kwargs: Any) -> Any:
        result = function(*args, **kwargs)
        return Tensor(result) if isinstance(result, np.ndarray) else result

    create.__name__ = function.__name__
    return create


def _stacking_first(function: Callable) -> Callable:
    """``function`` with a first argument that is a list or tuple holding tensors stacked
    into one tensor (which records) before NumPy sees it."""

    # np.mean(t) and the like, of one tensor alone: NumPy's dispatch would hand the call to
    # Tensor.__array_function__ with just these arguments, which is called here without
    # NumPy's layers (its dispatcher is a Python function of its own).
    one_tensor = function in _ONE_TENSOR_FUNCTIONS

    def stacking(obj: Any, *args: Any, **kwargs: Any) -> Any:
        if one_tensor and type(obj) is Tensor and not args and not kwargs:
            result = Tensor.__array_function__(obj, function, _TENSOR_TYPES, (obj,), {})
            if result is not NotImplemented:
                return result
        if isinstance(obj, (list, tuple)) and _holds_tensor(obj):
            obj = _array_of(obj, copy=False)
        elif isinstance(kwargs.get("initial"), Tensor) and not isinstance(obj, Tensor):
            # (NumPy hands a reduction to a tensor's __array_function__ for its array only)
            obj = new_tensor(np.asarray(obj))
        return function(obj, *args, **kwargs)

    stacking.__name__ = function.__name__
    # generated code that reads NumPy through the tape's globals (a gradient taken inside
    # a function run on the tape) finds NumPy's rule on the stand-in
    stacking.__astgrad_rule__ = lookup(function)
    return stacking


_TENSOR_TYPES = (Tensor,)  # (the types NumPy's dispatch passes for one tensor)


def _array_of(obj: Any, dtype: Any = None, *, copy: bool = True, **kwargs: Any) -> Any:
    """``np.array``/``np.asarray`` on the tape: lists holding tensors are stacked (which
    records); anything else becomes a tensor that needs no grad."""
    if isinstance(obj, Tensor):
        out = obj.clone() if copy else obj
        # np.asarray(y, dtype=y.dtype) is y itself, as in NumPy: a change through it is y's
        return out if dtype is None else out.astype(dtype, copy=False)
    if isinstance(obj, (list, tuple)) and _holds_tensor(obj):
        parts = [_array_of(item, dtype, copy=False) for item in obj]
        parts = [p if isinstance(p, Tensor) else Tensor(np.asarray(p, dtype=dtype)) for p in parts]
        return np.stack(parts)
    if (
        not copy
        and type(obj) is np.ndarray
        and not kwargs
        and (dtype is None or obj.dtype == dtype)
    ):
        # np.asarray(v) of an array is v itself, as in NumPy. A tensor wrapping v's memory
        # would let s2 = np.asarray(v); s2[1] = w[0] change v's values with no gradient
        # through v's own reads; v itself refuses the write with GradientLostError.
        return obj
    return Tensor(
        np.array(obj, dtype=dtype, copy=copy, **kwargs)
        if copy
        else np.asarray(obj, dtype=dtype, **kwargs)
    )


def _copy_of(a: Any, order: str = "K", subok: bool = False) -> Any:
    """``np.copy`` on the tape: a tensor's copy records; an array's is a tensor that needs
    no grad, as ``np.array`` makes, so that a value that does can be written into it
    (``v = np.copy(x); v[0] = np.sum(w)`` with x a constant: a plain copy refused it)."""
    return _array_of(a, copy=True, order=order, subok=subok)


def _holds_tensor(obj: Any) -> bool:
    return any(
        isinstance(i, Tensor) or (isinstance(i, (list, tuple)) and _holds_tensor(i)) for i in obj
    )


class _TapeNumpy(types.ModuleType):
    """NumPy as user code sees it on the tape: creation functions make tensors; anything
    else is NumPy's own, read live.

    Every attribute is looked up by ``__getattribute__``: a module's ``__getattr__`` runs
    only after the normal lookup has failed, and the AttributeError it raises first costs
    microseconds on every ``np.<name>`` of user code."""

    _CREATION = frozenset(
        {"zeros", "ones", "empty", "full", "eye", "identity", "arange", "linspace"}
    )
    #: functions of one array-like whose dispatch does not look inside a list: given a
    #: list of tensors (np.sum([x, y])), NumPy would convert it to an array and drop the
    #: gradient, so it is stacked first, as np.array([x, y]) is
    _ARRAY_FIRST = frozenset(
        {"sum", "mean", "prod", "max", "min", "amax", "amin", "average", "var", "std"}
        | {"cumsum", "cumprod", "diff", "transpose", "ravel", "reshape", "squeeze"}
    )

    def __getattribute__(self, name: str) -> Any:
        value = getattr(np, name)
        found = _numpy_wrapped.get(name)
        if found is not None and found[0] is value:
            return found[1]  # (what a name is wrapped as holds while NumPy's stays the same)
        if name == "array":
            wrapped = _array_of
        elif name == "asarray":
            wrapped = lambda obj, dtype=None, **kw: _array_of(obj, dtype, copy=False, **kw)  # noqa: E731
        elif name == "copy":
            wrapped = _copy_of
        elif name in _TapeNumpy._CREATION:
            wrapped = _creating(value)
        elif name in _TapeNumpy._ARRAY_FIRST:
            wrapped = _stacking_first(value)
        elif name in _IN_LISTS_OR_IN_PLACE:
            wrapped = _IN_LISTS_OR_IN_PLACE[name](value)
        else:
            wrapped = value  # (NumPy's own, found by the first test from now on)
        _numpy_wrapped[name] = (value, wrapped)
        return wrapped


def _block_on_tape(function: Callable) -> Callable:
    """``np.block`` as code on the tape sees it (see :func:`blocks_of_tensors`)."""

    def block(arrays: Any) -> Any:
        if isinstance(arrays, list) and _holds_tensor(arrays):
            return blocks_of_tensors(arrays)
        return function(arrays)

    block.__name__ = function.__name__
    block.__astgrad_rule__ = lookup(function)
    return block


def blocks_of_tensors(arrays: list) -> Any:
    """``np.block(arrays)`` of nested lists holding tensors: the tape cannot give np.block's
    rule tensors in lists nested in lists (a node's inputs sit one list deep), so the blocks
    go in as one flat list with the nesting beside it (rearranging_more.joined_blocks)."""
    from .rules.rearranging_more import _leaves, _renumbered, joined_blocks

    blocks = _leaves(arrays)
    layout = _renumbered(arrays, iter([None] * len(blocks)))
    return apply(lookup(joined_blocks), joined_blocks, (blocks, layout))


def _put_along_axis_on_tape(function: Callable) -> Callable:
    """``np.put_along_axis(t, indices, values, axis)`` on the tape writes into the tensor
    as NumPy writes into an array, through the subscript NumPy itself uses (so the write
    records, and a later read of ``t`` sees it); on arrays it is NumPy's."""

    def put_along_axis(arr: Any, indices: Any, values: Any, axis: Any) -> None:
        if not isinstance(arr, Tensor):
            if isinstance(values, Tensor) and values.requires_grad:
                # (NumPy would store the values into a plain array and drop their gradient)
                arr_data = np.asarray(arr)
                raise _lost_in_array("np.put_along_axis", arr_data)
            return function(arr, _raw(indices), _raw(values), axis)
        index = _raw(indices)
        if axis is None:
            if np.ndim(index) != 1:
                raise ValueError("when axis=None, `indices` must have a single dimension.")
            arr[np.unravel_index(index, arr.shape)] = values
            return None
        arr[_along_axis_index(arr.shape, index, axis)] = values
        return None

    put_along_axis.__name__ = function.__name__
    return put_along_axis


def _along_axis_index(shape: tuple, indices: Any, axis: int) -> tuple:
    """The subscript ``np.put_along_axis``/``np.take_along_axis`` index ``shape`` with:
    ``indices`` along ``axis``, each other axis broadcast against it."""
    if not np.issubdtype(np.asarray(indices).dtype, np.integer):
        raise IndexError("`indices` must be an integer array")
    ndim = len(shape)
    if np.ndim(indices) != ndim:
        raise ValueError("`indices` and `arr` must have the same number of dimensions")
    axis = np.lib.array_utils.normalize_axis_index(axis, ndim)
    shape_ones = (1,) * ndim
    index: list = []
    for dim, size in enumerate(shape):
        if dim == axis:
            index.append(indices)
        else:
            index.append(np.arange(size).reshape(shape_ones[:dim] + (-1,) + shape_ones[dim + 1 :]))
    return tuple(index)


def _lost_in_array(what: str, array: Any) -> Exception:
    return GradientLostError(
        f"{what} would store values that need a gradient into a plain NumPy array "
        f"(shape {array.shape}), dropping the gradient; make the array one the function "
        "computes (np.zeros(...), x.copy(), np.array(...)), which keeps it"
    )


def _apply_along_axis_on_tape(function: Callable) -> Callable:
    """``np.apply_along_axis(func1d, axis, t)`` on the tape: NumPy's converts the tensor to
    an array (and would drop its gradient); here func1d runs on each 1-D slice of the
    tensor, and the results are stacked where NumPy puts them (their axes in place of
    ``axis``), which records."""

    def apply_along_axis(func1d: Callable, axis: int, arr: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(arr, Tensor):
            return function(func1d, axis, arr, *args, **kwargs)
        axis = np.lib.array_utils.normalize_axis_index(axis, arr.ndim)
        moved = np.moveaxis(arr, axis, -1)
        outer = moved.shape[:-1]
        if 0 in outer:
            raise ValueError("Cannot apply_along_axis when any iteration dimensions are 0")
        run = on_tape(func1d)  # (as the tape runs the user's functions: math on tensors)
        found = [run(moved[index], *args, **kwargs) for index in np.ndindex(outer)]
        parts = [p if isinstance(p, Tensor) else Tensor(np.asarray(p)) for p in found]
        stacked = np.stack(parts)
        inner = stacked.ndim - 1
        joined = np.reshape(stacked, outer + stacked.shape[1:])
        dims = list(range(joined.ndim))
        order = dims[:axis] + dims[joined.ndim - inner :] + dims[axis : joined.ndim - inner]
        return np.transpose(joined, order)

    apply_along_axis.__name__ = function.__name__
    return apply_along_axis


def _piecewise_on_tape(function: Callable) -> Callable:
    """``np.piecewise(t, condlist, funclist)`` on the tape: each function's values written
    where its condition holds (the last, without a condition, where none does), into a
    tensor, so that the writes record; NumPy's converts the tensor."""

    def piecewise(x: Any, condlist: Any, funclist: Any, *args: Any, **kw: Any) -> Any:
        if not isinstance(x, Tensor):
            return function(x, condlist, funclist, *args, **kw)
        conditions = _raw(condlist)
        if np.isscalar(conditions) or (
            not isinstance(conditions[0], (list, np.ndarray)) and x.ndim != 0
        ):
            conditions = [conditions]
        conditions = np.asarray(conditions, dtype=bool)
        if len(conditions) == len(funclist) - 1:
            otherwise = ~np.any(conditions, axis=0, keepdims=True)
            conditions = np.concatenate([conditions, otherwise], axis=0)
        if len(conditions) != len(funclist):
            raise ValueError(
                f"with {len(conditions)} condition(s), either {len(conditions)} or "
                f"{len(conditions) + 1} functions are expected"
            )
        y = Tensor(np.zeros_like(x.data))
        for condition, piece in zip(conditions, funclist):
            if not callable(piece):
                y[condition] = piece
            elif np.any(condition):
                y[condition] = on_tape(piece)(x[condition], *args, **kw)
        return y

    piecewise.__name__ = function.__name__
    return piecewise


#: NumPy functions as code on the tape sees them: of nested lists, writing into an
#: argument, or calling the user's functions on parts of an array
_IN_LISTS_OR_IN_PLACE = {
    "block": _block_on_tape,
    "put_along_axis": _put_along_axis_on_tape,
    "apply_along_axis": _apply_along_axis_on_tape,
    "piecewise": _piecewise_on_tape,
    "vectorize": vectorize_on_tape,
}

#: (name -> (NumPy's object, what user code on the tape gets instead: mostly the object))
_numpy_wrapped: dict[str, tuple[Any, Any]] = {}
_tape_numpy = _TapeNumpy("numpy")


class _TapeGlobals(dict):
    """A function's globals, read live, with ``math`` made to accept tensors."""

    def __init__(self, namespace: dict) -> None:
        super().__init__()
        self.namespace = namespace

    def __getitem__(self, key: str) -> Any:
        # (every global the function reads comes here: one look-up where it is found)
        value = self.namespace.get(key, _UNBOUND)
        if value is _UNBOUND:
            if key in _TAPE_BUILTINS:
                return _TAPE_BUILTINS[key]
            value = self.namespace[key]  # (KeyError: Python then looks in the builtins)
        if value is np:
            return _tape_numpy
        if value is math:
            return _tape_math
        if isinstance(value, types.BuiltinFunctionType) and _hashable_in(value, _math_functions):
            return getattr(_tape_math, _math_functions[value])
        if isinstance(value, types.FunctionType):
            return on_tape(value)
        if type(value) is np.vectorize:  # (a global made by np.vectorize(f))
            return TapeVectorized(value)
        if isinstance(value, types.ModuleType) and _is_scipy(value.__name__):
            return _tape_library(value)
        if _is_scipy(type(value).__module__) and _has_ruled_methods(value):
            return _TapeLibraryObject(value)  # (from scipy.stats import norm)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return key in self.namespace


_UNBOUND = object()  # (a global's absence, for _TapeGlobals.__getitem__)


def _hashable_in(value: Any, table: dict) -> bool:
    try:
        return value in table
    except TypeError:
        return False


_on_tape_cache: weakref.WeakKeyDictionary[Callable, Callable] = weakref.WeakKeyDictionary()


def on_tape(function: Callable) -> Callable:
    """``function`` as it should run on the tape: same code (its ``.dot`` calls written
    as calls that record: see :mod:`.dot_calls`), globals that let ``math`` accept
    tensors. Functions from libraries run unchanged, except ``math``'s own, which
    (differentiated directly, as in ``ag.grad(math.sin)``) take their tape versions. A
    method differentiated directly (``ag.grad(model.loss)``) runs its function so."""
    name = getattr(function, "__name__", None)
    if name in _IN_LISTS_OR_IN_PLACE and getattr(np, name, None) is function:
        return getattr(_tape_numpy, name)  # (np.piecewise(...) alone, sent to the tape)
    if type(function) is types.MethodType and type(function.__func__) is types.FunctionType:
        shimmed = on_tape(function.__func__)
        return function if shimmed is function.__func__ else shimmed.__get__(function.__self__)
    if not isinstance(function, types.FunctionType):
        name = _math_functions.get(function) if _hashable_in(function, _math_functions) else None
        return function if name is None else getattr(_tape_math, name)
    if _is_library(function):
        return _library_version(function) if _is_scipy(function.__module__) else function
    shimmed = _on_tape_cache.get(function)
    if (
        shimmed is None
        # the function's code or defaults were replaced since: run what it runs now
        or _code_run_by(shimmed) is not function.__code__
        or shimmed.__defaults__ is not function.__defaults__
        or shimmed.__kwdefaults__ is not function.__kwdefaults__
    ):
        code = with_dot_calls(function) if reads_dot(function) else None
        namespace: dict = _TapeGlobals(function.__globals__)
        if _writes_globals(function.__code__):
            # A function that binds a global (``global S; S = x``, ``globals()["S"] = x``)
            # runs with its own globals: Python stores into the dict a function runs with
            # itself, so with the shim's the module, and every other function, would go on
            # reading the old value (a wrong gradient, silently). Its math.f(t) then
            # raises, not records; its dot calls still record (their function is read
            # from the closure).
            if code is None:
                return function
            namespace = function.__globals__
        shimmed = types.FunctionType(
            code or function.__code__,
            namespace,
            function.__name__,
            function.__defaults__,
            function.__closure__ if code is None else closure_of(function, code),
        )
        shimmed.__kwdefaults__ = function.__kwdefaults__
        shimmed.__astgrad_runs__ = function.__code__  # (see _code_run_by)
        if not reaches_itself(function):  # its own entry would keep it alive for ever
            _on_tape_cache[function] = shimmed
    return shimmed


def _code_run_by(shimmed: Callable) -> Any:
    """The code of the user's function that ``shimmed`` (from :func:`on_tape`) runs: its
    own, or the one its code was rewritten from (see :mod:`.dot_calls`)."""
    return getattr(shimmed, "__astgrad_runs__", None) or shimmed.__code__


#: code -> whether it writes globals (code objects are immutable; weakly held)
_global_writers: weakref.WeakKeyDictionary[types.CodeType, bool] = weakref.WeakKeyDictionary()


def _writes_globals(code: types.CodeType) -> bool:
    """Whether ``code`` (or a function defined in it) binds or deletes a global name, or
    calls ``globals()``, ``exec`` or ``eval``, which would write the shim's dict."""
    found = _global_writers.get(code)
    if found is None:
        found = _global_writes.writes_namespace(code)
        _global_writers[code] = found
    return found


# -- SciPy's Python functions on tensors -------------------------------------------------------
#
# NumPy's functions dispatch to tensors (__array_function__) and SciPy's ufuncs do too
# (__array_ufunc__), but SciPy's Python functions (scipy.special.logsumexp,
# scipy.linalg.cho_factor, scipy.stats.norm.logpdf...) convert a tensor to an array, which
# drops its gradient. Code on the tape sees SciPy's modules through a stand-in whose
# functions with a rule record it when given tensors.


def _is_scipy(module_name: str | None) -> bool:
    return (module_name or "").split(".")[0] == "scipy"


_library_versions: weakref.WeakKeyDictionary[Callable, Callable] = weakref.WeakKeyDictionary()


def _library_version(function: Callable) -> Callable:
    """``function`` recording its rule when an argument is a tensor (itself without a rule)."""
    found = _library_versions.get(function)
    if found is not None:
        return found
    rule = lookup(function)
    if rule is None:
        if not isinstance(function, _PLAIN_FUNCTIONS):
            return function
        named = _naming_the_function(function)
        _library_versions[function] = named
        return named

    def on_tensors(*args: Any, **kwargs: Any) -> Any:
        if _holds_tensor(args) or any(isinstance(v, Tensor) for v in kwargs.values()):
            return apply(rule, function, args, kwargs)
        return function(*args, **kwargs)

    on_tensors.__name__ = getattr(function, "__name__", "function")
    on_tensors.__qualname__ = getattr(function, "__qualname__", on_tensors.__name__)
    on_tensors.__astgrad_rule__ = rule  # (a gradient generated inside tape code finds it)
    _library_versions[function] = on_tensors
    return on_tensors


_PLAIN_FUNCTIONS = (types.FunctionType, types.BuiltinFunctionType, types.MethodType)


def _naming_the_function(function: Callable) -> Callable:
    """``function``, one of SciPy's without a rule, as code on the tape sees it: where it
    converts a tensor that needs a gradient (and would drop it), the error names it and
    says how to give it a rule (NoRuleError), where SciPy's conversion could not."""

    def converting(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except GradientLostError as lost:
            if _holds_tensor(args) or _holds_tensor(list(kwargs.values())):
                raise no_rule_error(function) from lost
            raise

    converting.__name__ = getattr(function, "__name__", "function")
    converting.__qualname__ = getattr(function, "__qualname__", converting.__name__)
    return converting


class _TapeLibrary(types.ModuleType):
    """A SciPy module as code on the tape sees it: its functions with a rule record it on
    tensors; its submodules and objects with rules (``scipy.stats.norm``) likewise."""

    def __init__(self, module: Any) -> None:
        super().__init__(module.__name__)
        object.__setattr__(self, "_module", module)

    def __getattribute__(self, name: str) -> Any:
        value = getattr(object.__getattribute__(self, "_module"), name)
        if isinstance(value, types.ModuleType):
            return _tape_library(value) if _is_scipy(value.__name__) else value
        if isinstance(value, type) or isinstance(value, (int, float, str)):
            return value
        if _has_ruled_methods(value):  # (scipy.stats.norm: callable, and holds the rules)
            return _TapeLibraryObject(value)
        return _library_version(value) if isinstance(value, _PLAIN_FUNCTIONS) else value


class _TapeLibraryObject:
    """An object of a SciPy module whose methods have rules (``scipy.stats.norm``): its
    methods record on tensors."""

    def __init__(self, target: Any) -> None:
        self._target = target

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        return _library_version(value) if isinstance(value, _PLAIN_FUNCTIONS) else value


def _has_rule(value: Any) -> bool:
    try:
        return lookup(value) is not None
    except TypeError:
        return False


def _has_ruled_methods(value: Any) -> bool:
    return any(_has_rule(getattr(value, name, None)) for name in ("logpdf", "pdf", "cdf", "logcdf"))


_tape_libraries: dict[str, _TapeLibrary] = {}


def _tape_library(module: Any) -> _TapeLibrary:
    found = _tape_libraries.get(module.__name__)
    if found is None or object.__getattribute__(found, "_module") is not module:
        found = _tape_libraries[module.__name__] = _TapeLibrary(module)
    return found


def _is_library(function: types.FunctionType) -> bool:
    module = function.__module__ or ""
    return module.split(".")[0] in ("numpy", "astgrad", "scipy")

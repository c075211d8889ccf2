"""In-place operations on tensors: ``t op= v``, ``t[index] = v`` and the writes built on
them (PyTorch's ``add_``, ``clamp_``, ``zero_``, ``fill_``, ``copy_``..., NumPy's ``fill``
and ``sort``, ``np.add.at``).

Where a gradient is needed, the out-of-place operation is recorded and its result written
back into the tensor, which takes the result's history. A view (from indexing, reshape,
transpose...) shares its base's memory, so such a write through it changes the base too,
whose history then has to say so: the view's elements are found in the base
(views.positions_in) and the base's new history is one node, the base with those elements
replaced by the view's new values (assign_index, at their positions). The view's own
history is the operation's result. Other views of the base are stale afterwards, as after
any recorded in-place operation on it.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from . import primitives
from .device import array_module, check_same_device, device_of, index_beside
from .fast_path import binary, operand
from .grad_mode import _state as _grad_state
from .grad_mode import is_grad_enabled
from .graph import HISTORY, kernel_for, note_write
from .recording import apply, check_fresh_view, frozen_index, unwrap_index
from .rules import lookup
from .rules.registry import Rule
from .tensor import Tensor, new_tensor
from .views import base_written, positions_in, taken_in_no_grad

__all__ = [
    "inplace", "inplace_apply", "setitem", "write_at", "count_write", "snapshot", "CALLERS_ARRAY",
]  # fmt: skip


#: id -> the leaf, for leaves made of 0-d NumPy arrays given to a function run on the tape
#: (fallback._to_tensors): arrays, which ``op=`` changes in place as NumPy does, where a
#: 0-d tensor is otherwise a number of the function's, which ``op=`` rebinds
ZERO_D_ARRAYS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def inplace(target: Tensor, rule: Rule, other: Any, what: str, rebind: bool = True) -> Tensor:
    """``target <op>= other``: records the operation when a gradient is needed. ``rebind``:
    whether a 0-d tensor in a function run on the tape is a number, which ``op=`` rebinds
    (False for methods that say "in place", ``t.add_(v)``), as it is unless it was given as
    a 0-d array (``ZERO_D_ARRAYS``)."""
    if (
        rebind
        and _grad_state.numbers
        and target._data.ndim == 0
        and ZERO_D_ARRAYS.get(id(target)) is not target
    ):
        # A number in a function run on the tape: rebound, as Python rebinds a float.
        return binary(rule, target, other)
    other_grad = isinstance(other, Tensor) and other._requires_grad
    grad_mode = is_grad_enabled()
    recording = grad_mode and (target._requires_grad or other_grad)
    if grad_mode:
        _guard(target, what, recording)
    if recording:
        place = None if target._base is None else _place_in_base(target, what)
        # The node's kernel reads the same values whichever operands' shapes match the result.
        needed = (0, 1) if target._requires_grad and other_grad else (1,) if other_grad else (0,)
        reads_target = 0 in kernel_for(rule, needed).reads
        result = binary(rule, snapshot(target, reads_target), other)
        if place is not None:
            _write_through_view(target, place, result, what)
            return target
        _write_back(target, result._data, what)
        _adopt_history(target, result)
        return target
    other_raw = operand(other)[0]
    data = target.data
    check_same_device((data, other_raw))
    if not getattr(getattr(data, "flags", None), "writeable", True):
        target._data = rule.primitive(data, other_raw)
    else:
        rule.primitive(data, other_raw, out=data)
    count_write(target, False)
    return target


def inplace_apply(target: Tensor, rule: Rule, args: tuple, what: str) -> Tensor:
    """``target`` replaced in place by ``rule.primitive(target, *args)``, a result of its
    shape (``t.clamp_(lo, hi)`` is np.clip), recorded as ``inplace`` records ``op=``."""
    grads = [i + 1 for i, arg in enumerate(args) if isinstance(arg, Tensor) and arg._requires_grad]
    grad_mode = is_grad_enabled()
    recording = grad_mode and (target._requires_grad or bool(grads))
    if grad_mode:
        _guard(target, what, recording)
    if recording:
        place = None if target._base is None else _place_in_base(target, what)
        needed = tuple([0] + grads if target._requires_grad else grads)
        reads_target = 0 in kernel_for(rule, needed).reads
        result = apply(rule, rule.primitive, (snapshot(target, reads_target), *args))
        if place is not None:
            _write_through_view(target, place, result, what)
            return target
        _write_back(target, result._data, what)
        _adopt_history(target, result)
        return target
    raws = [arg._data if isinstance(arg, Tensor) else arg for arg in args]
    data = target.data
    check_same_device((data, *raws))
    _write_back(target, rule.primitive(data, *raws), what)
    count_write(target, False)
    return target


def setitem(target: Tensor, index: Any, value: Any, what: str = "item assignment") -> None:
    """``target[index] = value``, recorded when ``target`` or ``value`` needs a gradient
    (``what`` names the operation in errors)."""
    write_at(target, index, value, _ASSIGN_INDEX, _store_at, what)


def _store_at(data: Any, index: Any, raw: Any) -> None:
    data[index] = raw


def write_at(
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
    index = unwrap_index(index)
    value_grad = isinstance(value, Tensor) and value._requires_grad
    grad_mode = is_grad_enabled()
    recording = grad_mode and (target._requires_grad or value_grad)
    index = index_beside(target._data, frozen_index(index) if recording else index)
    if grad_mode:
        _guard(target, what, recording)
    if recording:
        raw_value = value._data if isinstance(value, Tensor) else value
        if _order_matters(target._data, index, raw_value, write):
            raise RuntimeError(
                f"{what}: the value written shares memory with the array written into, and "
                "NumPy then writes element by element, reading elements it has already "
                "overwritten (a GPU, in an order of its own), so the result may differ from "
                "writing a copy, which astgrad does not differentiate. Write a copy: "
                "a[i] = b.copy()"
            )
        place = None if target._base is None else _place_in_base(target, what)
        # The target's old values are about to be overwritten: copied if the rule reads them.
        needed = (0, 2) if target._requires_grad and value_grad else (2,) if value_grad else (0,)
        reads_target = 0 in kernel_for(rule, needed).reads
        result = apply(rule, rule.primitive, (snapshot(target, reads_target), index, value), kwargs)
        if place is not None:
            _write_through_view(target, place, result, what)
            return
        _write_back(target, result._data, what)
        _adopt_history(target, result)
        return
    raw = value.data if isinstance(value, Tensor) else operand(value)[0]
    data = target.data
    check_same_device((data, raw))
    write(data, index, raw)
    count_write(target, False)


def _order_matters(data: Any, index: Any, raw: Any, write: Callable) -> bool:
    """Whether NumPy's write of ``raw`` into ``data`` at ``index``, ``raw`` sharing
    ``data``'s memory, gives other values than writing a copy of ``raw``, which is what the
    tape records (``v[::2] = v[:3]``: NumPy copies in order and reads what it wrote). Tried
    on a copy of the memory both view; True too where that memory cannot be copied so, and
    for a device array (CuPy's threads copy the elements in no order to rely on) whenever
    several elements are read from the memory written."""
    if type(data) is not np.ndarray and getattr(raw, "size", 1) > 1:
        if device_of(data).type != "cpu":
            shares = getattr(array_module(data), "may_share_memory", None)
            # the elements written, where a basic index names them as a view
            written = data[index] if _basic(index) else data
            if written is not data and _same_elements(written, raw):
                return False  # each element written from itself (y[1:] += v writes y[1:])
            return shares is not None and bool(shares(written, raw))
    if not (
        type(data) is np.ndarray and type(raw) is np.ndarray and np.may_share_memory(data, raw)
    ):
        return False
    roots = []
    for array in (data, raw):
        while isinstance(array.base, np.ndarray):
            array = array.base
        roots.append(array)
    root = roots[0]
    if roots[1] is not root or not (root.flags.c_contiguous or root.flags.f_contiguous):
        return True
    scratch = root.copy(order="K")  # (the same layout: the views' offsets hold in it)
    memory = scratch if scratch.flags.c_contiguous else scratch.T  # (one C-ordered buffer)
    start = root.__array_interface__["data"][0]

    def moved(array: np.ndarray) -> np.ndarray:
        offset = array.__array_interface__["data"][0] - start
        return np.ndarray(array.shape, array.dtype, memory, offset, array.strides)

    by_copy = data.copy()
    write(by_copy, index, raw.copy())
    in_place = moved(data)
    write(in_place, index, moved(raw))
    return not np.array_equal(in_place, by_copy, equal_nan=True)


def _same_elements(a: Any, b: Any) -> bool:
    """Whether two arrays are views of the very same elements in the same order."""
    if a.shape != b.shape or a.strides != b.strides:
        return False
    starts = []
    for array in (a, b):
        interface = getattr(array, "__cuda_array_interface__", None) or getattr(
            array, "__array_interface__", None
        )
        if interface is None:
            return False
        starts.append(interface["data"][0])
    return starts[0] == starts[1]


def _basic(index: Any) -> bool:
    """Whether ``index`` is basic indexing (integers, slices, ``...``, None): ``a[index]``
    is then a view of the elements a write at ``index`` changes."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (int, np.integer, slice)) or p is Ellipsis or p is None for p in parts)


def count_write(target: Tensor, recorded: bool) -> None:
    """Count an in-place write into ``target`` (see graph.note_write)."""
    # The counter is made on demand so that ``_version`` counts every write, not only those
    # after a save.
    note_write(target._version_counter(), recorded)


#: the ``_argument`` of a leaf standing for an array that generated code gave a call it
#: runs on the tape (``fallback.tape_call``) and reads after it: not to be changed
CALLERS_ARRAY = "an array generated code reads after the call"


def _guard(target: Tensor, what: str, recording: bool) -> None:
    if recording and target._base is not None and target._requires_grad:
        check_fresh_view(target)  # (a stale view is no leaf: its history is its base's)
    if target._requires_grad and target._grad_fn is None:
        argument = getattr(target, "_argument", None)
        if argument is CALLERS_ARRAY:
            raise RuntimeError(
                f"a function called on the tape from generated code changes its argument in "
                f"place ({what}); the generated code reads the caller's array after the call, "
                'which Python would change too. Use mode="tape" for the whole function, or '
                "return a new array from the function called"
            )
        if argument is not None:
            detach_argument(target, what)
            return
        raise RuntimeError(
            f"a leaf Variable that requires grad is being used in an in-place operation "
            f"({what}): that would overwrite the value its gradient is defined at. Update "
            f"parameters inside `with ag.no_grad():`, or write `w = w ...` to make a new tensor."
        )


def detach_argument(leaf: Tensor, what: str) -> None:
    """Before the first in-place change of ``leaf``, an argument of a function run on the
    tape (``x[0] = ...``, ``x += ...`` in its body): its gradient stays that of the value
    the function was given, and the caller's array stays as it was, as in generated source
    (which rebinds the name). The leaf gets a copy of its own to change; the change records
    as on any tensor and the leaf's gradient accumulator, kept by the snapshot the write
    records, collects the gradient of the value at entry. Values nodes saved of it are the
    caller's array, which does not change; views taken of it before see the caller's array
    too, so they are made stale and refuse to be used again (recording.refresh_view finds
    them outside the copy). Where another argument, a global or a closure variable shares
    the array's memory, Python would show the change through it too: that is refused."""
    from .fallback import sharing  # (here: fallback loads after this module)

    shared = sharing(leaf)
    if shared is not None:
        raise ValueError(
            f"the function changes an argument in place ({what}), and {shared} shares its "
            "memory: Python would show the change through both, which astgrad does not "
            "differentiate (the tape takes the change on a copy, as generated source "
            "rebinds the name). Pass a copy (x.copy()) as the argument."
        )
    counter = leaf._counter
    if counter is not None:
        counter[HISTORY] += 1
        leaf._counter = None
    leaf._data = leaf._data.copy()
    leaf._argument = None


def snapshot(target: Tensor, copy_values: bool) -> Tensor:
    """A stand-in for ``target`` before an in-place write: same graph position, and its own
    copy of the values when the rule will read them."""
    data = target.data
    shadow = new_tensor(data.copy() if copy_values else data, target._grad_fn, target._output_nr)
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


def _adopt_history(target: Tensor, result: Tensor) -> None:
    target._grad_fn = result._grad_fn
    target._output_nr = result._output_nr
    target._requires_grad = True
    counter = target._version_counter()
    note_write(counter, True)
    base_written(target, counter)


# -- in-place operations on views ---------------------------------------------------------------


def _place_in_base(view: Tensor, what: str) -> Any:
    """The index of ``view``'s elements in its base (a tuple of integer arrays of the
    view's shape), checked for an in-place operation ``what`` on the view that records."""
    check_fresh_view(view)
    if taken_in_no_grad(view):
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
        positions = positions_in(data, base_data)
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
    updated = apply(_ASSIGN_INDEX, primitives.assign_index, (snapshot(base, False), place, value))
    base._grad_fn = updated._grad_fn
    base._output_nr = updated._output_nr
    base._requires_grad = True
    counter = base._version_counter()  # (the view's too)
    note_write(counter, True)
    base_written(base, counter)
    view._grad_fn = result._grad_fn
    view._output_nr = result._output_nr
    view._requires_grad = True
    view._view_history = counter[1]  # the view stays current; the base's other views do not


_ASSIGN_INDEX = lookup(primitives.assign_index)

"""View tracking: which tensors share memory with which, and where a view's elements are in
the tensor it views.

A tensor made by a view primitive (indexing, reshape, transpose...) that shares its input's
memory is marked as a view of that input's base (``_base``) and shares its version counter
(see graph.new_version_counter). A recorded in-place operation on the base, or on any view
of it, counts in the counter's recorded writes, after which every other view's history is
stale: recording.refresh_view records it again from the base where the view is next used.
This module only keeps the books; what records lives in recording and inplace.
"""

from __future__ import annotations

import functools
import operator
import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .tensor import Tensor

__all__ = [
    "VIEW_PRIMITIVES",
    "NO_GRAD_VIEW",
    "mark_view",
    "keep_view",
    "taken_in_no_grad",
    "base_written",
    "positions_in",
]

# Primitives whose result may share memory with their first argument. The recording path
# checks every primitive's result by its memory (mark_view), since more NumPy functions
# return views (np.flip, np.atleast_1d, np.split, np.asarray, ...) than a list keeps up with.
VIEW_PRIMITIVES = frozenset(
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


def _memory_owner(array: Any) -> Any:
    """The object that owns ``array``'s memory, at the end of its chain of bases. NumPy and
    CuPy point a view's base at that owner directly, but a view made through another type
    (an ndarray subclass's result of a NumPy function, viewed as the subclass) keeps the
    chain, one base per type."""
    base = getattr(array, "base", None)
    while base is not None:
        array, base = base, getattr(base, "base", None)
    return array


def mark_view(result: Tensor, source: Tensor) -> bool:
    """Make ``result``, which ``source`` gave by a view primitive, a view of ``source``'s
    base (or of ``source``) if it shares its memory; say whether it does."""
    out, data = result._data, source._data
    base = getattr(out, "base", None)
    # np.atleast_1d(y) and np.asarray(y) give y's own array: that is a view too.
    if out is data or (
        base is not None
        and (
            base is data
            or base is getattr(data, "base", None)
            or _memory_owner(base) is _memory_owner(data)
        )
    ):
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
# next use as an operand rebuilds its history from the base's (recording.refresh_view), as
# every use of a stale view that needs a gradient does. Views taken in no_grad mode are kept
# there too, and made unusable by a recorded in-place write of their base, as in PyTorch.

# _view_history of a view taken in no_grad mode whose base a recorded write changed: never
# current (version counts are never negative), and refused by recording.refresh_view.
NO_GRAD_VIEW = -1


class _Views(dict):
    """The views kept next to a version counter: id -> (weak reference, taken in no_grad).
    A copy or a pickle of a tensor keeps none (weak references cannot be pickled, and a
    copy's memory is its own)."""

    __slots__ = ()

    def __reduce__(self) -> tuple:
        return (_Views, ())

    def __deepcopy__(self, memo: dict) -> _Views:
        return _Views()


def keep_view(view: Tensor, no_grad: bool) -> None:
    """Keep ``view`` (already marked) where a recorded write of its base will find it."""
    counter = view._counter
    if len(counter) == 2:
        counter.append(_Views())
    views = counter[2]
    key = id(view)
    views[key] = (weakref.ref(view, functools.partial(_forget_view, views, key)), no_grad)


def _forget_view(views: dict, key: int, _ref: Any) -> None:
    views.pop(key, None)


def taken_in_no_grad(view: Tensor) -> bool:
    """Whether ``view`` is kept as a view taken in no_grad mode (see keep_view)."""
    counter = view._counter
    return len(counter) > 2 and counter[2].get(id(view), (None, False))[1]


def base_written(base: Tensor, counter: list) -> None:
    """A recorded in-place write gave ``base`` its (new) history: the views kept for it
    must not be read as they were (see above)."""
    if len(counter) < 3:
        return
    views = counter[2]
    for key, (ref, no_grad) in list(views.items()):
        view = ref()
        if view is None or view._base is not base:
            continue
        del views[key]
        if no_grad:
            view._view_history = NO_GRAD_VIEW
        # (Stale already: the write counted in the counter's recorded writes.)
        view._requires_grad = True


# -- where a view's elements are in its base ------------------------------------------------
#
# Found by their addresses in memory, whatever chain of views made the view.


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


def positions_in(view: Any, base: Any) -> np.ndarray | None:
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

"""The helpers batched forward-mode code calls (``transform/batching.py``).

In a batched forward function every tangent carries a leading axis of directions: the
tangent of a value of shape ``s`` is an array of shape ``(batch,) + s`` whose row ``i`` is
the value's tangent along direction ``i``. These helpers keep that shape exact, so that
each statement's tangent lines up with its value's however NumPy broadcasts the values.

A helper that meets something it cannot batch (an operand of a kind no rule here covers)
raises :class:`Unbatchable`; the caller then takes one direction at a time, never a
wrong result.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "Unbatchable",
    "batch_zeros",
    "batch_empty",
    "lift",
    "spread",
    "batch_out",
    "batch_matmul",
    "batch_transpose",
    "reshaped_like",
    "reshaped_back",
    "batch_index",
    "batch_unbroadcast",
    "batch_expand_reduced",
    "batch_matmul_grad_left",
    "batch_matmul_grad_right",
    "batch_dot_grad_left",
    "batch_dot_grad_right",
    "batch_writable",
    "batch_write",
    "SavedStack",
    "saved_stack",
    "stack_push",
    "stack_top",
    "stack_drop",
    "stack_take",
    "stack_item",
    "saved_tangent",
    "zero_rows",
    "conjugated_if_complex",
    "batch_gradient_buffer",
    "batch_add_adjoints",
    "batch_assigned_adjoint",
    "batch_stored_adjoint",
    "batch_add_at",
    "batch_size",
    "batch_item",
    "batch_adjoint_item",
    "batch_unpack_adjoint",
    "batch_row",
    "batch_unpack",
    "list_appended",
    "list_popped",
    "batch_list_appended",
    "batch_list_popped",
    "batch_appended_adjoint",
    "batch_spread",
]


class Unbatchable(Exception):
    """A value or operation the batched code cannot carry directions through."""


def _float_dtype(value: Any) -> Any:
    """The dtype of a tangent of ``value``: its own for a float or complex value (a
    complex tangent in a float buffer would lose its imaginary part), else float64."""
    if isinstance(value, complex):
        return np.complex128
    dtype = getattr(value, "dtype", None)
    return dtype if dtype is not None and dtype.kind in "fc" else np.float64


def _is_numeric(value: Any) -> bool:
    if isinstance(value, bool):
        return True  # (a flag: its tangent is zeros, as zero_tangent gives)
    return isinstance(value, (int, float, complex, np.ndarray, np.generic))


def batch_size(*tangents: Any) -> int:
    """The number of directions: the leading length of the first batched tangent that is
    an array (a tuple's searched in order; a saved tuple's first item may be None).

    >>> batch_size((None, np.zeros((4, 2))), np.zeros((4,)))
    4
    """
    for tangent in tangents:
        if isinstance(tangent, tuple):
            try:
                return batch_size(*tangent)
            except Unbatchable:
                continue
        if isinstance(tangent, np.ndarray) and tangent.ndim:
            return tangent.shape[0]
    raise Unbatchable("no batched tangent to count the directions of")


def batch_zeros(value: Any, batch: int) -> Any:
    """The batched tangent of a value that does not move: zeros of shape
    ``(batch,) + value.shape`` (a tuple of them for a tuple).

    >>> batch_zeros(np.ones(2), 3).shape
    (3, 2)
    """
    if isinstance(value, tuple):
        return tuple(batch_zeros(v, batch) for v in value)
    if isinstance(value, SavedStack):  # (saved values none of which has a derivative)
        return SavedStack([None] * len(value))
    if isinstance(value, (list, dict)):
        return _container_zeros(value, batch)
    if value is None:  # (a name a generated gradient binds before its loop binds it)
        return None
    if not _is_numeric(value):
        raise Unbatchable(f"no batched tangent for a {type(value).__name__}")
    return np.zeros((batch, *np.shape(value)), dtype=_float_dtype(value))


def batch_empty(value: Any, batch: int) -> Any:
    """An array for a batched tangent of ``value`` to be written into row by row; for a
    list or tuple of arrays (a helper's several results, a list's adjoint), a list of
    one such array per item, which a row written into fills item by item.

    >>> rows = batch_empty([np.zeros(2), 1.0], 3)
    >>> rows[1] = [np.ones(2), 5.0]
    >>> rows[1][1], rows[0].shape
    (np.float64(5.0), (3, 2))
    """
    if isinstance(value, (list, tuple)) and not isinstance(value, SavedStack):
        return _ItemRows(batch_empty(item, batch) for item in value)
    if not _is_numeric(value):
        raise Unbatchable(f"no batched tangent for a {type(value).__name__}")
    return np.empty((batch, *np.shape(value)), dtype=_float_dtype(value))


class _ItemRows(list):
    """The batched tangent of a list or tuple, written one direction at a time by the rows
    loop of ``transform/batching.py``: ``rows[direction] = row`` puts each item of the
    row (that direction's tangent, a list or tuple) into its item's array. Read, it is
    the list of the items' batched tangents (writes into it go through
    ``batch_writable``, which copies it into a plain list)."""

    __slots__ = ()

    def __setitem__(self, direction: Any, row: Any) -> None:  # type: ignore[override]
        if not isinstance(direction, (int, np.integer)) or isinstance(direction, bool):
            raise Unbatchable("a list's batched tangent written at a slice")
        if not isinstance(row, (list, tuple)) or len(row) != len(self):
            raise Unbatchable("a list's tangent that is not a list of its length")
        for items, item in zip(self, row):
            items[direction] = item


def lift(tangent: np.ndarray, like: Any) -> np.ndarray:
    """``tangent`` (of an operand) with axes of length 1 after the batch axis, so that it
    has ``like``'s number of axes plus one: its rows then broadcast against the other
    operands as the operand itself did (aligned on the trailing axes).

    >>> lift(np.ones((4, 3)), np.ones((2, 3))).shape
    (4, 1, 3)
    """
    if isinstance(tangent, (list, tuple)) and isinstance(like, (list, tuple)):
        # (a sequence adjoint's tangent, item by item: the batched tangents of its items,
        # which add item by item as the adjoints themselves do)
        return _item_by_item(lift, tangent, like)
    return _with_ndim(tangent, np.ndim(like))


def _item_by_item(step: Any, tangent: Any, like: Any) -> Any:
    from .rules.containers import Parts

    if len(tangent) != len(like):
        raise Unbatchable("a sequence's tangent that is not a sequence of its length")
    return Parts(step(t, item) for t, item in zip(tangent, like))


def _with_ndim(tangent: np.ndarray, ndim: int) -> np.ndarray:
    missing = ndim + 1 - tangent.ndim
    if missing <= 0:
        return tangent
    return tangent.reshape(tangent.shape[:1] + (1,) * missing + tangent.shape[1:])


def spread(tangent: Any, like: Any) -> Any:
    """A batched tangent whose rows may be smaller than ``like`` (an operand broadcast
    into it), as a view of shape ``(batch,) + like.shape``."""
    if isinstance(tangent, (list, tuple)) and isinstance(like, (list, tuple)):
        return _item_by_item(spread, tangent, like)
    shape = (tangent.shape[0], *np.shape(like))
    if tangent.shape == shape:
        return tangent
    return np.broadcast_to(tangent, shape)


def batch_out(tangent: Any, value: Any) -> Any:
    """The batched tangent a generated function returns: an array of its own of shape
    ``(batch,) + value.shape`` (a tuple of them for a tuple)."""
    if isinstance(value, tuple):
        return tuple(batch_out(t, v) for t, v in zip(tangent, value))
    if not _is_numeric(value) or not isinstance(tangent, np.ndarray):
        raise Unbatchable(f"no batched tangent for a {type(value).__name__}")
    shape = (tangent.shape[0], *np.shape(value))
    if tangent.shape != shape or not tangent.flags.writeable:
        out = np.empty(shape, dtype=_float_dtype(value))
        out[...] = tangent
        return out
    return tangent


def _vector_last(operand: np.ndarray, ndim: int) -> np.ndarray:
    """A batched vector operand ``(batch, m)`` as ``(batch, 1..., m, 1)``: a column for
    ``matrix @ column``, with axes of length 1 for the matrix's stacking axes."""
    return operand.reshape(operand.shape[:1] + (1,) * max(ndim - 2, 0) + (operand.shape[1], 1))


def _dense(tangent: Any) -> Any:
    """A tangent that may be a broadcast view (``spread``) as an array of its own: BLAS
    takes only strided arrays, and a product of a view with zero strides runs NumPy's
    slow loop instead (several milliseconds for a 100 x 100 product)."""
    if tangent is None or tangent.flags.c_contiguous:
        return tangent
    return np.ascontiguousarray(tangent)


def _product(a: Any, b: Any, da: Any, db: Any) -> Any:
    """The batched tangent of ``a @ b`` from the batched tangents of the moving operands
    (None for one that does not move), for any ranks ``@`` allows."""
    a_ndim, b_ndim = np.ndim(a), np.ndim(b)
    if a_ndim == 0 or b_ndim == 0:
        raise Unbatchable("matmul of a 0-d operand")
    da, db = _dense(da), _dense(db)
    ndim = max(a_ndim, b_ndim)
    total = None
    if da is not None:
        if a_ndim == 1:
            # rows (batch, m): as a stack of row vectors against b
            if b_ndim == 1:
                part = da @ b
            else:
                row = da.reshape(da.shape[:1] + (1,) * (b_ndim - 2) + (1, da.shape[1]))
                part = (row @ b)[..., 0, :]
        else:
            part = _with_ndim(da, ndim) @ b
        total = part
    if db is not None:
        if b_ndim == 1:
            if a_ndim == 1:
                part = db @ a
            else:
                part = (a @ _vector_last(db, a_ndim))[..., 0]
        else:
            part = a @ _with_ndim(db, ndim)
        total = part if total is None else total + part
    return total


def batch_matmul(a: Any, da: Any, b: Any, db: Any) -> Any:
    """The batched tangent of ``a @ b``: ``da @ b + a @ db`` row by row, written as
    whole-array products (None for an operand that does not move).

    >>> a, b = np.ones((2, 3)), np.ones(3)
    >>> batch_matmul(a, None, b, np.ones((5, 3))).shape
    (5, 2)
    """
    return _product(a, b, da, db)


def batch_dot(a: Any, da: Any, b: Any, db: Any) -> Any:
    """The batched tangent of ``np.dot(a, b)``, which is ``a @ b`` for vectors and
    matrices; other ranks go one direction at a time."""
    if not (1 <= np.ndim(a) <= 2 and 1 <= np.ndim(b) <= 2):
        raise Unbatchable("np.dot of operands other than vectors and matrices")
    return _product(a, b, da, db)


def batch_transpose(tangent: np.ndarray, axes: Any = None) -> np.ndarray:
    """The batched tangent of ``np.transpose(x, axes)`` (``x.T`` with ``axes`` None): the
    same permutation of the axes after the batch axis."""
    ndim = tangent.ndim - 1
    if axes is None:
        order = tuple(range(ndim))[::-1]
    else:
        order = tuple(int(a) % ndim if ndim else int(a) for a in axes)
    return np.transpose(tangent, (0, *(a + 1 for a in order)))


def reshaped_like(tangent: np.ndarray, value: Any) -> np.ndarray:
    """The batched tangent of a reshape that kept the elements' order (reshape, ravel,
    squeeze, expand_dims): each row reshaped as the value was."""
    return np.reshape(tangent, (tangent.shape[0], *np.shape(value)))


def reshaped_back(tangent: np.ndarray, value: Any, order: Any = "C") -> np.ndarray:
    """The batched ``reshape_back`` (the gradient of a reshape in ``order``): each row
    put back in the value's shape as the reshape read it."""
    if order is None or order == "C":
        return reshaped_like(tangent, value)
    from .rules.rearranging import reshape_back

    return np.stack([reshape_back(row, value, order) for row in tangent])


def _basic(item: Any) -> bool:
    return (
        item is None
        or item is Ellipsis
        or isinstance(item, slice)
        or (isinstance(item, (int, np.integer)) and not isinstance(item, bool))
    )


def batch_index(index: Any) -> tuple:
    """The index that reads ``x[index]``'s rows from a batched tangent of ``x``: a full
    slice in front. Basic indices and at most one array index keep their axes where they
    are; several array indices may move them to the front, so they are refused."""
    items = index if isinstance(index, tuple) else (index,)
    arrays = 0
    for item in items:
        if _basic(item):
            continue
        if isinstance(item, (np.ndarray, list)):
            array = np.asarray(item)
            if array.dtype.kind in "biu":
                arrays += 1
                continue
        raise Unbatchable(f"an index of type {type(item).__name__}")
    if arrays > 1:
        raise Unbatchable("several array indices")
    return (slice(None), *items)


def batch_unbroadcast(tangent: np.ndarray, like: Any) -> np.ndarray:
    """The batched tangent of ``unbroadcast(g, like)`` (``g`` summed down to ``like``'s
    shape): each row summed down the same way."""
    shape = np.shape(like)
    rows = tangent.shape[1:]
    if rows == shape:
        return tangent
    if len(rows) < len(shape):
        return spread(lift(tangent, like), like)
    extra = len(rows) - len(shape)
    if extra:
        tangent = tangent.sum(axis=tuple(range(1, extra + 1)))
    kept = tuple(
        i + 1 for i, (n, m) in enumerate(zip(shape, tangent.shape[1:])) if n == 1 and m != 1
    )
    if kept:
        tangent = tangent.sum(axis=kept, keepdims=True)
    return spread(tangent, like)


def batch_expand_reduced(tangent: np.ndarray, like: Any, axis: Any = None, keepdims: bool = False):
    """The batched tangent of ``expand_reduced(g, like, axis, keepdims)`` (a reduction's
    cotangent spread back over ``like``): each row spread the same way."""
    shape = np.shape(like)
    ndim = len(shape)
    if axis is None:
        kept = (1,) * ndim
    elif keepdims:
        kept = tangent.shape[1:]
    else:
        axes = axis if isinstance(axis, tuple) else (axis,)
        reduced = {int(a) % ndim for a in axes}
        kept = tuple(1 if d in reduced else shape[d] for d in range(ndim))
    rows = tangent.reshape((tangent.shape[0], *kept))
    return np.broadcast_to(rows, (tangent.shape[0], *shape))


def _rows_of(helper: Any, moving: list, batch: int) -> np.ndarray:
    """``sum_p helper(..., tangent_p[i], ...)`` row by row: ``moving`` holds, per
    argument the helper is linear in, the arguments with that one replaced by ``None``
    standing for its row, and the batched tangent."""
    rows = []
    for i in range(batch):
        total = None
        for args, position, tangent in moving:
            called = list(args)
            called[position] = tangent[i]
            part = helper(*called)
            total = part if total is None else total + part
        rows.append(total)
    return np.stack(rows)


def _swap(a: np.ndarray) -> np.ndarray:
    return np.swapaxes(a, -1, -2)


def _grad_left(g: Any, dg: Any, x: Any, y: Any, dy: Any, helper: Any) -> np.ndarray:
    """Batched tangent of ``helper(g, x, y)``, the gradient of ``x @ y`` (or ``np.dot``)
    with respect to ``x``: linear in ``g`` and ``y``; ``x`` gives its shape."""
    x_ndim, y_ndim = len(np.shape(x)), np.ndim(y)
    dg, dy = _dense(dg), _dense(dy)
    batch = (dg if dg is not None else dy).shape[0]
    if x_ndim not in (1, 2) or y_ndim not in (1, 2):
        moving = [((g, x, y), p, t) for p, t in ((0, dg), (2, dy)) if t is not None]
        return _rows_of(helper, moving, batch)
    total = None
    if dg is not None:  # rows of g: () for two vectors, (n,) or (p,) or (n, p)
        if y_ndim == 2:
            part = dg @ y.T
        else:
            part = dg[..., None] * y
        total = part
    if dy is not None:
        if y_ndim == 2:
            part = dy @ g if x_ndim == 1 else g @ _swap(dy)
        else:
            part = g * dy if x_ndim == 1 else np.asarray(g)[:, None] * dy[:, None, :]
        total = part if total is None else total + part
    return total


def _grad_right(g: Any, dg: Any, x: Any, dx: Any, y: Any, helper: Any) -> np.ndarray:
    """Batched tangent of ``helper(g, x, y)``, the gradient of ``x @ y`` (or ``np.dot``)
    with respect to ``y``: linear in ``g`` and ``x``; ``y`` gives its shape."""
    x_ndim, y_ndim = np.ndim(x), len(np.shape(y))
    dg, dx = _dense(dg), _dense(dx)
    batch = (dg if dg is not None else dx).shape[0]
    if x_ndim not in (1, 2) or y_ndim not in (1, 2):
        moving = [((g, x, y), p, t) for p, t in ((0, dg), (1, dx)) if t is not None]
        return _rows_of(helper, moving, batch)
    total = None
    if dg is not None:
        if x_ndim == 2:
            part = x.T @ dg if y_ndim == 2 else dg @ x
        else:
            part = x[:, None] * dg[:, None, :] if y_ndim == 2 else dg[:, None] * x
        total = part
    if dx is not None:
        if x_ndim == 2:
            part = _swap(dx) @ g
        else:
            part = dx[:, :, None] * g if y_ndim == 2 else g * dx
        total = part if total is None else total + part
    return total


def batch_matmul_grad_left(g: Any, dg: Any, x: Any, y: Any, dy: Any) -> np.ndarray:
    """Batched tangent of ``matmul_grad_left(g, x, y)`` (None for what does not move)."""
    from .rules.arithmetic import matmul_grad_left

    return _grad_left(g, dg, x, y, dy, matmul_grad_left)


def batch_matmul_grad_right(g: Any, dg: Any, x: Any, dx: Any, y: Any) -> np.ndarray:
    """Batched tangent of ``matmul_grad_right(g, x, y)`` (None for what does not move)."""
    from .rules.arithmetic import matmul_grad_right

    return _grad_right(g, dg, x, dx, y, matmul_grad_right)


def batch_dot_grad_left(g: Any, dg: Any, a: Any, b: Any, db: Any) -> np.ndarray:
    """Batched tangent of ``dot_grad_left(g, a, b)``: ``np.dot`` is ``@`` for vectors and
    matrices; other ranks go row by row."""
    from .rules.arithmetic import dot_grad_left

    return _grad_left(g, dg, a, b, db, dot_grad_left)


def batch_dot_grad_right(g: Any, dg: Any, a: Any, da: Any, b: Any) -> np.ndarray:
    """Batched tangent of ``dot_grad_right(g, a, b)`` (see :func:`batch_dot_grad_left`)."""
    from .rules.arithmetic import dot_grad_right

    return _grad_right(g, dg, a, da, b, dot_grad_right)


def batch_writable(tangent: np.ndarray, value: Any) -> np.ndarray:
    """A batched tangent ``tangent[:, index] = ...`` may write into, as ``value`` is about
    to be written into: always a copy of its own (another name may hold the same
    tangent, and a spread one is a read-only view). A list's or dict's: a copy of the
    list or dict of its items' batched tangents."""
    if isinstance(value, (list, dict)) and not isinstance(value, SavedStack):
        if not isinstance(tangent, dict if isinstance(value, dict) else list):
            raise Unbatchable(f"a {type(value).__name__} without its batched tangent")
        return dict(tangent) if isinstance(value, dict) else list(tangent)
    if not _is_numeric(value):
        raise Unbatchable(f"a write into a {type(value).__name__}")
    out = np.empty((tangent.shape[0], *np.shape(value)), dtype=_float_dtype(value))
    out[...] = tangent
    return out


def batch_write(tangent: np.ndarray, index: Any, written: Any) -> None:
    """``tangent[:, index] = written``, the batched tangent of ``value[index] = v``: each
    row of ``written`` (the batched tangent of ``v``) lifted to the slot's number of axes,
    so that it broadcasts into the slot as ``v`` did. Into a list's or dict's, the same
    write of the item's (items' for a slice of a list)."""
    if isinstance(tangent, dict):
        tangent[index] = written
        return
    if isinstance(tangent, list):
        tangent[index] = list(written) if isinstance(index, slice) else written
        return
    full = batch_index(index)
    slot = tangent[full]
    tangent[full] = _with_ndim(written, slot.ndim - 1)


# -- the values a generated gradient saves for its backward pass ------------------------------
#
# Batched forward mode over a generated gradient (``ag.hessian``) reads the gradient's
# list of saved values (``push = stack.append`` ... ``pop()``) through these helpers, which
# ``transform.batching.saved_values_as_calls`` writes in place of the list's methods: each
# says in its arguments and result what it reads and changes, so the analysis sees a value
# flow through the stack. The batched tangent of a stack is a stack of the same length
# kept in step with it: the batched tangent of each value pushed (None for one that has
# no derivative), popped where the value is popped. How many values a loop pushes and pops
# depends on the values alone, never on the direction, so the two stacks stay in step.


class SavedStack(list):
    """A generated gradient's saved values, or their batched tangents (None for a value
    that has no derivative)."""


def saved_stack() -> SavedStack:
    """A new, empty stack of saved values."""
    return SavedStack()


def stack_push(stack: SavedStack, value: Any) -> SavedStack:
    """``stack`` with ``value`` pushed on it (the same list: nothing reads the stack it
    was before).

    >>> stack_push(stack_push(saved_stack(), 1), 2)
    [1, 2]
    """
    stack.append(value)
    return stack


def stack_top(stack: SavedStack) -> Any:
    """The value pushed last, left on the stack (``stack_drop`` takes it off)."""
    return stack[-1]


def stack_drop(stack: SavedStack, count: int = 1) -> SavedStack:
    """``stack`` with its last ``count`` values taken off.

    >>> stack_drop(SavedStack([1, 2, 3]), 2)
    [1]
    """
    del stack[len(stack) - count :]
    return stack


def stack_take(stack: SavedStack, count: int) -> SavedStack:
    """The last ``count`` values of ``stack``, last first (what ``pop_run`` gives), left
    on it.

    >>> stack_take(SavedStack([1, 2, 3]), 2)
    [3, 2]
    """
    run = SavedStack(stack[len(stack) - count :])
    run.reverse()
    return run


def stack_item(run: SavedStack, index: int) -> Any:
    """The value at ``index`` of a run of saved values (``stack_take``)."""
    return run[index]


def saved_tangent(tangent: Any, value: Any, batch: int) -> Any:
    """The batched tangent of a saved ``value`` taken off the tangent stack: zeros (a
    read-only view, which takes no memory) where the value was pushed without a
    derivative.

    >>> saved_tangent(None, np.ones(2), 3).shape
    (3, 2)
    """
    if tangent is not None:
        return tangent
    return zero_rows(value, batch)


def zero_rows(value: Any, batch: int) -> Any:
    """The batched tangent of a value that carries no derivative, as a read-only view of
    one zero (no memory per direction): a loop variable over values held still, a saved
    value pushed without a derivative. None for None.

    >>> zero_rows(np.ones(2), 3).shape
    (3, 2)
    """
    if value is None:
        return None
    if isinstance(value, tuple):
        return tuple(zero_rows(v, batch) for v in value)
    if isinstance(value, (list, dict)):
        return _container_zeros(value, batch)
    if not _is_numeric(value):
        raise Unbatchable(f"no batched tangent for a {type(value).__name__}")
    zero = np.zeros((), dtype=_float_dtype(value))
    return np.broadcast_to(zero, (batch, *np.shape(value)))


def conjugated_if_complex(tangent: Any, x: Any) -> Any:
    """The batched tangent of ``conjugate_if_complex(value, x)``: each row conjugated
    where ``x`` is complex (elementwise, so the whole array at once)."""
    from .rules.complex import conjugate_if_complex

    return conjugate_if_complex(tangent, x)


def batch_gradient_buffer(tangent: Any, container: Any) -> Any:
    """The batched tangent of ``gradient_buffer(adjoint, container)`` (an element loop's
    buffer of adjoints, shaped like the array ``container``): each row of the adjoint's
    tangent spread over ``container``'s shape, in an array of its own; the tangent as it
    is where ``container`` is not an array (the helper gives the adjoint back)."""
    from .element_adjoints import buffer_module

    xp = buffer_module(container)
    if xp is None:
        return tangent
    rows = xp.asarray(tangent)
    dtype = np.result_type(container.dtype, rows.dtype, np.float64)
    out = xp.zeros((rows.shape[0], *container.shape), dtype)
    out += _with_ndim(rows, container.ndim)
    return out


def batch_add_adjoints(a: Any, da: Any, b: Any, db: Any, batch: int) -> Any:
    """The batched tangent of ``add_adjoints(a, b)`` (None for what does not move): the
    other's where one is the zero an adjoint starts from, else the sum of the two, each
    lifted to the result's axes (as ``a + b`` broadcast them); lists' and dicts'
    adjoints item by item."""
    from .rules.containers import is_zero

    if is_zero(a):
        return db if db is not None else batch_zeros(b, batch)
    if is_zero(b):
        return da if da is not None else batch_zeros(a, batch)
    if _is_container(a) and _is_container(b):
        return _container_sum(a, da, b, db)
    if not (_is_numeric(a) and _is_numeric(b)) or isinstance(a, bool) or isinstance(b, bool):
        raise Unbatchable("add_adjoints of containers' adjoints")
    like = np.broadcast_to(
        np.zeros((), np.result_type(a, b)), np.broadcast_shapes(np.shape(a), np.shape(b))
    )
    parts = [lift(t, like) for t in (da, db) if t is not None]
    if not parts:
        return batch_zeros(like, batch)
    total = parts[0] if len(parts) == 1 else parts[0] + parts[1]
    return spread(total, like)


def batch_assigned_adjoint(tangent: Any, adjoint: Any, container: Any, index: Any, batch: int):
    """The batched tangent of ``assigned_adjoint(adjoint, container, index)`` (undoing
    ``container[index] = v`` on an array's adjoint): ``(rows of the slot, rows with the
    slot zeroed)``, each row as the helper takes it (row by row for an index that is not
    basic: a repeated position keeps only its last write). A list's or dict's adjoint:
    the item's batched tangent, and the others' with none at the item."""
    from .rules.containers import is_zero
    from .rules.indexing import assigned_value_grad

    if is_zero(adjoint):
        return batch_zeros(0, batch), batch_zeros(0, batch)
    if _is_container(adjoint) or _is_container(container):
        return _container_assigned(tangent, adjoint, index, batch)
    if type(container) is not np.ndarray or not isinstance(tangent, np.ndarray):
        raise Unbatchable("the adjoint of a container's item")
    items = index if isinstance(index, tuple) else (index,)
    rest = np.array(tangent)  # (of its own, writable: a tangent may be a read-only view)
    if all(_basic(item) for item in items):
        slot = (slice(None), *items)
        value = np.array(rest[slot])
        rest[slot] = 0
        return value, rest
    value = np.stack([assigned_value_grad(row, index) for row in rest])
    for row in rest:
        row[index] = 0
    return value, rest


def batch_stored_adjoint(tangent: Any, part: Any, value: Any) -> Any:
    """The batched tangent of ``stored_adjoint(part, value)``: each row summed down to
    ``value``'s shape where the helper sums ``part`` down."""
    from .rules.containers import is_zero

    if is_zero(part) or not hasattr(part, "shape"):
        return tangent
    if isinstance(value, (int, float)) or hasattr(value, "shape"):
        return batch_unbroadcast(tangent, value)
    return tangent


def _scattered_rows(tangent: Any, container: np.ndarray, index: Any, dtype: Any) -> np.ndarray:
    """Each row of ``tangent`` scattered as ``scatter_grad(row, container, index)``:
    written into zeros at once for a basic index, row by row for any other (a repeated
    position adds up)."""
    from .rules.indexing import scatter_grad

    items = index if isinstance(index, tuple) else (index,)
    if all(_basic(item) for item in items):
        out = np.zeros((tangent.shape[0], *container.shape), dtype)
        slot = (slice(None), *items)
        out[slot] = _with_ndim(tangent, out[slot].ndim - 1)
        return out
    return np.stack([scatter_grad(row, container, index) for row in tangent]).astype(
        dtype, copy=False
    )


def batch_add_at(
    tangent: Any,
    adjoint: Any,
    container: Any,
    index: Any,
    value_tangent: Any,
    value: Any,
    batch: int,
) -> Any:
    """The batched tangent of ``add_at(adjoint, container, index, value)`` for an array
    ``container`` (its adjoint with ``value`` scattered in at ``index``): the sum of the
    adjoint's rows and ``value``'s rows scattered the same way. For a list's, tuple's or
    dict's adjoint, the adjoint's batched tangent (a list or dict of its items') with
    ``value``'s added at the item."""
    from .rules.containers import is_zero

    if is_zero(value):
        return tangent if tangent is not None else batch_zeros(adjoint, batch)
    if _is_container(container):
        return _container_add_at(tangent, adjoint, container, index, value_tangent)
    if type(container) is not np.ndarray or not _is_numeric(value):
        raise Unbatchable("the adjoint of a container's item")
    dtype = np.result_type(_float_dtype(value), _float_dtype(adjoint))
    scattered = np.broadcast_to(np.zeros((), dtype), container.shape)
    rows = None
    if value_tangent is not None:
        rows = _scattered_rows(np.asarray(value_tangent), container, index, dtype)
    return batch_add_adjoints(adjoint, tangent, scattered, rows, batch)


# -- lists', tuples' and dicts' batched tangents ---------------------------------------------
#
# The batched tangent of a list (or of a list's adjoint, a list of its items' adjoints) is a
# list of its items' batched tangents, None for an item that has none (zero rows); a
# tuple's, a tuple; a dict's, a dict of the same keys. The helpers below never change a
# batched tangent they are given (generated code may change a list adjoint in place: its
# tangent is always a new list).


def _container_zeros(value: Any, batch: int) -> Any:
    """The batched tangent of a list or dict that does not move: None for each item."""
    if isinstance(value, dict):
        return dict.fromkeys(value)
    return [None] * len(value)


def _is_container(value: Any) -> bool:
    return isinstance(value, (list, tuple, dict)) and not isinstance(value, SavedStack)


def _rows_or_zeros(tangent: Any, value: Any, batch: int) -> Any:
    """An item's batched tangent, zero rows of ``value`` where it has none."""
    return zero_rows(value, batch) if tangent is None else tangent


def batch_item(tangent: Any, value: Any, index: Any, batch: int) -> Any:
    """The batched tangent of ``value[index]``: the item's for a list, tuple or dict (zero
    rows where it has none; a list of them for a slice), the rows' read at ``index``
    after the batch axis for an array (``batch_index``).

    >>> batch_item([None, np.ones((3, 2))], [np.zeros(2), np.zeros(2)], 1, 3).shape
    (3, 2)
    """
    if not _is_container(value):
        return tangent[batch_index(index)]
    if not isinstance(tangent, (list, tuple, dict)):
        raise Unbatchable(f"a {type(value).__name__}'s item without its batched tangent")
    if isinstance(value, dict):
        return _rows_or_zeros(tangent.get(index), value[index], batch)
    if isinstance(index, slice):
        positions = range(len(value))[index]
        return [_rows_or_zeros(tangent[p], value[p], batch) for p in positions]
    if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
        raise Unbatchable(f"a {type(value).__name__} read at a {type(index).__name__}")
    return _rows_or_zeros(tangent[index], value[index], batch)


def _sum_rows(a: Any, b: Any) -> Any:
    """Two batched tangents of adjoints added (None for none), each lifted to the other's
    axes as their values broadcast; those of nested lists' or dicts' adjoints item by
    item."""
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, dict) and isinstance(b, dict):  # (a nested dict's adjoint)
        return {k: _sum_rows(a.get(k), b.get(k)) for k in {**a, **b}}
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b):
        return [_sum_rows(x, y) for x, y in zip(a, b)]  # (a nested list's adjoint)
    if not isinstance(a, np.ndarray) or not isinstance(b, np.ndarray):
        raise Unbatchable("adjoints of nested containers of other kinds")
    ndim = max(a.ndim, b.ndim) - 1
    return _with_ndim(a, ndim) + _with_ndim(b, ndim)


def _container_add_at(
    tangent: Any, adjoint: Any, container: Any, index: Any, value_tangent: Any
) -> Any:
    """The batched tangent of ``add_at`` into a list's, tuple's or dict's adjoint."""
    from .rules.containers import is_zero

    if isinstance(container, dict):
        if is_zero(adjoint):
            parts: Any = {}
        elif isinstance(tangent, dict):
            parts = dict(tangent)
        else:
            raise Unbatchable("a dict's adjoint without its batched tangent")
        parts[index] = _sum_rows(parts.get(index), value_tangent)
        return parts
    if is_zero(adjoint):
        parts = [None] * len(container)
    elif isinstance(tangent, (list, tuple)) and len(tangent) == len(container):
        parts = list(tangent)
    else:
        raise Unbatchable("a list's adjoint without its batched tangent")
    if isinstance(index, slice):
        for number, position in enumerate(range(len(container))[index]):
            added = None if value_tangent is None else value_tangent[number]
            parts[position] = _sum_rows(parts[position], added)
        return parts
    if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
        raise Unbatchable(f"a {type(container).__name__} read at a {type(index).__name__}")
    parts[index] = _sum_rows(parts[index], value_tangent)
    return parts


def batch_adjoint_item(tangent: Any, adjoint: Any, index: Any, ans: Any, batch: int) -> Any:
    """The batched tangent of ``adjoint_item(adjoint, index)`` (the part of a list's,
    tuple's or dict's adjoint at ``index``): that item of the adjoint's batched tangent,
    zero rows of the part where nothing flowed in.

    >>> batch_adjoint_item([None, np.ones((3, 2))], [0, np.ones(2)], 1, np.ones(2), 3).shape
    (3, 2)
    """
    from .rules.containers import is_zero

    if is_zero(adjoint) or is_zero(ans):
        return batch_zeros(ans, batch)
    if isinstance(adjoint, dict):
        if not isinstance(tangent, dict):
            raise Unbatchable("a dict's adjoint without its batched tangent")
        return _rows_or_zeros(tangent.get(index), ans, batch)
    if isinstance(adjoint, (list, tuple)):
        if not isinstance(tangent, (list, tuple)) or len(tangent) != len(adjoint):
            raise Unbatchable("a list's adjoint without its batched tangent")
        if isinstance(index, slice):
            parts = range(len(adjoint))[index]
            return [_rows_or_zeros(tangent[p], adjoint[p], batch) for p in parts]
        return _rows_or_zeros(tangent[index], ans, batch)
    if not isinstance(tangent, np.ndarray):
        raise Unbatchable("an adjoint without its batched tangent")
    return tangent[batch_index(index)]  # (an array's adjoint, read by rows)


def _container_sum(a: Any, da: Any, b: Any, db: Any) -> Any:
    """The batched tangent of ``add_adjoints(a, b)`` for two lists' (tuples') or dicts'
    adjoints: item by item (``add_adjoints`` adds them so, and keeps ``a``'s kind)."""
    if isinstance(a, dict) != isinstance(b, dict):
        raise Unbatchable("the adjoints of a dict and a list added")
    for value, tangent in ((a, da), (b, db)):
        if tangent is not None and (
            not isinstance(tangent, (list, tuple, dict)) or len(tangent) != len(value)
        ):
            raise Unbatchable("a container's adjoint without its batched tangent")
    if isinstance(a, dict):
        da, db = da or {}, db or {}
        return {k: _sum_rows(da.get(k), db.get(k)) for k in {**a, **b}}
    da, db = da or [None] * len(a), db or [None] * len(b)
    return [_sum_rows(x, y) for x, y in zip(da, db)]


def batch_unpack_adjoint(container: Any, parts: list, tangents: list, batch: int) -> Any:
    """The batched tangent of ``unpack_adjoint(container, parts)`` (the adjoint of
    ``container`` after ``a, b = container``): the parts' batched tangents side by side
    for a sequence (zero rows of each array item where its part is zero), stacked after
    the batch axis for an array's rows."""
    from .rules.containers import is_zero

    if isinstance(container, (list, tuple)):
        return [
            zero_rows(item, batch)
            if (is_zero(part) or tangent is None) and hasattr(item, "shape")
            else tangent
            for item, part, tangent in zip(container, parts, tangents)
        ]
    if all(is_zero(p) for p in parts):
        return batch_zeros(0, batch)
    if type(container) is not np.ndarray:
        raise Unbatchable(f"the rows of a {type(container).__name__}")
    rows = [
        zero_rows(container[i], batch)
        if is_zero(p) or t is None
        else spread(lift(t, container[i]), container[i])
        for i, (p, t) in enumerate(zip(parts, tangents))
    ]
    return np.stack(rows, axis=1)


def batch_row(tangent: Any, direction: int) -> Any:
    """Row ``direction`` of a batched tangent: a list's (tuple's, dict's), the list of its
    items' rows, where an array's is the array's row.

    >>> batch_row([np.arange(3.0), np.ones((3, 2))], 1)
    [np.float64(1.0), array([1., 1.])]
    """
    if isinstance(tangent, dict):
        return {k: None if t is None else batch_row(t, direction) for k, t in tangent.items()}
    if isinstance(tangent, (list, tuple)):
        return type(tangent)(None if t is None else batch_row(t, direction) for t in tangent)
    return tangent[direction]


def batch_unpack(tangent: Any, value: Any) -> Any:
    """The batched tangents of the parts of ``a, b = value``: a tuple's or list's items'
    (its batched tangent's items), an array's rows' (its batched tangent's rows after the
    batch axis, never the directions themselves).

    >>> [t.shape for t in batch_unpack(np.zeros((5, 2, 3)), np.zeros((2, 3)))]
    [(5, 3), (5, 3)]
    """
    if isinstance(value, (list, tuple, dict)):
        return tangent
    if not isinstance(tangent, np.ndarray) or tangent.ndim < 2:
        raise Unbatchable(f"the parts of a {type(value).__name__}")
    return [tangent[:, i] for i in range(tangent.shape[1])]


def _container_assigned(tangent: Any, adjoint: Any, index: Any, batch: int) -> tuple:
    """The batched tangent of ``assigned_adjoint`` for a list's or dict's adjoint (the
    item's adjoint taken out: its rows, and the adjoint's without them)."""
    if isinstance(adjoint, dict):
        if not isinstance(tangent, dict):
            raise Unbatchable("a dict's adjoint without its batched tangent")
        rest = dict(tangent)
        taken = rest.pop(index, None)
        return _rows_or_zeros(taken, adjoint.get(index, 0), batch), rest
    if not isinstance(adjoint, (list, tuple)) or not isinstance(tangent, (list, tuple)):
        raise Unbatchable("a list's adjoint without its batched tangent")
    if len(tangent) != len(adjoint):
        raise Unbatchable("a list's adjoint without its batched tangent")
    rest = list(tangent)
    if isinstance(index, slice):
        positions = range(len(adjoint))[index]
        taken = [_rows_or_zeros(rest[p], adjoint[p], batch) for p in positions]
        for p in positions:
            rest[p] = None
        return taken, rest
    if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
        raise Unbatchable(f"a list read at a {type(index).__name__}")
    taken = _rows_or_zeros(rest[index], adjoint[index], batch)
    rest[index] = None
    return taken, rest


# -- lists a generated gradient fills and empties ----------------------------------------------
#
# A gradient keeps a list the function built by appends (``hs.append(h)``) and pops it back
# item by item in its backward pass (``hs.pop()``). ``transform.batching.list_changes_as_calls``
# writes those as ``hs = list_appended(hs, h)`` and ``hs = list_popped(hs)``, so that the
# analysis sees what they read and change; their batched forms change the list of the items'
# batched tangents the same way, in place, so that a name sharing the list shares the
# tangents' list too, as it shares the list.


def list_appended(items: list, value: Any) -> list:
    """``items.append(value)``, returning ``items``."""
    items.append(value)
    return items


def list_popped(items: list) -> list:
    """``items.pop()``, returning ``items``."""
    items.pop()
    return items


def batch_list_appended(tangent: Any, value_tangent: Any, value: Any, batch: int) -> list:
    """The batched tangent of ``list_appended(items, value)``: ``value``'s appended to the
    list of the items' (zero rows where it has none)."""
    if not isinstance(tangent, list):
        raise Unbatchable("a list without its batched tangent")
    tangent.append(_rows_or_zeros(value_tangent, value, batch))
    return tangent


def batch_list_popped(tangent: Any) -> Any:
    """The batched tangent of ``list_popped(items)``: the last item's taken off."""
    if not isinstance(tangent, list):
        raise Unbatchable("a list without its batched tangent")
    tangent.pop()
    return tangent


def batch_appended_adjoint(tangent: Any, adjoint: Any, ans: tuple, batch: int) -> tuple:
    """The batched tangent of ``appended_adjoint(adjoint)`` (a list's adjoint split into its
    last item's and the rest): the batched tangent split the same way, into a new list
    (the helper may have popped ``adjoint`` itself already, so only the tangent is read)."""
    from .rules.containers import is_zero

    if is_zero(adjoint):
        return batch_zeros(0, batch), batch_zeros(0, batch)
    if not isinstance(tangent, (list, tuple)) or not tangent:
        raise Unbatchable("a list's adjoint without its batched tangent")
    return _rows_or_zeros(tangent[-1], ans[0], batch), list(tangent[:-1])


def batch_spread(tangent: Any, g: Any, iterable: Any) -> Any:
    """The batched tangent of ``spread(g, iterable)`` (``sum``'s gradient: ``g`` for each
    item of a list, summed down to its shape, or broadcast over an array's rows)."""
    if isinstance(iterable, (list, tuple)):
        return [batch_unbroadcast(tangent, item) for item in iterable]
    return spread(lift(tangent, iterable), iterable)

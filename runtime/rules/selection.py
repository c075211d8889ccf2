"""Rules for selecting elements (take, take_along_axis, sort), for building arrays out of
other values (np.array, np.asarray), and for casts between float dtypes.

Reading with a subscript (``x[i]``) is in ``indexing``; functions that make fresh arrays
of a shape (``zeros_like``, ``full_like``) carry no gradient and are listed in ``nondiff``.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from ..device import array_module
from ..primitives import astype as astype_primitive
from .containers import Parts
from .forward import jvp_rule, linear
from .registry import nondifferentiable, vjp_rule
from .shared import _dtype, _put, _shape, _stand_in, shape_only, transformable, unbroadcast


@vjp_rule(np.take)
def take(g, ans, a, indices, axis=None, out=None, mode="raise"):
    return take_grad(g, a, indices, axis, mode)


@vjp_rule(np.take_along_axis)
def take_along_axis(g, ans, arr, indices, axis=-1):
    return take_along_axis_grad(g, arr, indices, axis)


linear(np.take, np.take_along_axis)


# Sorting moves each element to a new place: the gradient goes back the same way. Ties are
# broken as a stable sort breaks them, which is where NumPy's sort puts equal elements.
@vjp_rule(np.sort)
def sort(g, ans, a, axis=-1, kind=None, order=None, *, stable=None):
    return sort_grad(g, a, axis)


@jvp_rule(np.sort)
def sort_jvp(ans, a, axis=-1, kind=None, order=None, *, stable=None, da):
    return np.take_along_axis(da, np.argsort(a, axis=axis, kind="stable"), axis)


# np.partition moves elements as a sort does, in an order NumPy leaves open: which element
# landed where is read off the result itself (equal values are interchangeable).
@vjp_rule(np.partition)
def partition(g, ans, a, kth, axis=-1, kind="introselect", order=None):
    return partition_grad(g, a, ans, axis)


@jvp_rule(np.partition)
def partition_jvp(ans, a, kth, axis=-1, kind="introselect", order=None, *, da):
    return np.take_along_axis(
        np.reshape(da, flat_if_none(a, axis)), arrangement(a, ans, axis), axis
    )


# np.select takes each element from the first choice whose condition holds there, else
# from the default: each gradient is the cotangent where its value was taken.
@vjp_rule(np.select)
def select(g, ans, condlist, choicelist, default=0):
    return None, select_grads(g, condlist, choicelist), select_default_grad(g, condlist, default)


@jvp_rule(np.select)
def select_jvp(ans, condlist, choicelist, default=0, *, dchoicelist, ddefault):
    return (
        None,
        np.select(condlist, dchoicelist, 0.0),
        np.where(default_mask(condlist), ddefault, 0.0),
    )


# np.linspace's samples are start * (1 - t) + stop * t for fixed fractions t: linear in
# start and stop together; num, endpoint and axis only say which fractions and where.
@vjp_rule(np.linspace)
def linspace(g, ans, start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    t = linspace_fractions(ans, num, endpoint, axis, retstep)
    return (
        unbroadcast(np.sum(g * (1.0 - t), axis=axis), start),
        unbroadcast(np.sum(g * t, axis=axis), stop),
    )


@jvp_rule(np.linspace)
def linspace_jvp(
    ans, start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, *, dstart, dstop
):
    t = linspace_fractions(ans, num, endpoint, axis, retstep)
    batch = linspace_batch(ans, axis)
    return (
        np.expand_dims(np.broadcast_to(dstart, batch), axis) * (1.0 - t),
        np.expand_dims(np.broadcast_to(dstop, batch), axis) * t,
    )


# np.array([x, y]) and np.asarray([x, y]) stack their arguments: the gradient is taken
# apart into the same (nested) list. Returned inside an explicit tuple, since the parts
# (a ``Parts``) are a tuple themselves.
@vjp_rule(np.array)
def array(
    g, ans, object, dtype=None, *, copy=True, order="K", subok=False, ndmin=0, ndmax=0, like=None
):
    return (unstack_like(g, object),)


@vjp_rule(np.asarray)
def asarray(g, ans, a, dtype=None, order=None, *, device=None, copy=None, like=None):
    return (unstack_like(g, a),)


# Their tangent is the array of the tangents (zeros for the elements without one).
linear(np.array, np.asarray)


# A cast between float dtypes passes the gradient through, cast back to the input's dtype;
# a cast to integers or booleans passes none (the tape does not record it at all).
# ``x.astype(dtype)`` is the primitive; ``np.astype`` is NumPy's spelling from 2.1 on.
_CASTS = (astype_primitive, np.astype) if hasattr(np, "astype") else (astype_primitive,)


@vjp_rule(*_CASTS, name="astype")
def astype(g, ans, x, dtype, copy=True, device=None):
    return cast_grad(g, x, ans)


@jvp_rule(*_CASTS)
def astype_jvp(ans, x, dtype, copy=True, device=None, *, dx):
    return cast_tangent(dx, ans)


# -- helpers the rules above call (generated code calls them by these names) ----------


def take_in_mode(values: Any, indices: Any, axis: Any = None, mode: str = "raise") -> Any:
    """``np.take(values, indices, axis, mode=mode)``, also in an array module whose ``take``
    has no ``mode`` (CuPy's): the indices wrapped or clipped first, as take_grad does.

    >>> take_in_mode(np.arange(3.0), [4, -1], mode="clip")
    array([2., 0.])
    """
    xp = array_module(values)
    if xp is np:
        return np.take(values, indices, axis, mode=mode)
    size = np.size(values) if axis is None else np.shape(values)[axis]
    indices = xp.asarray(indices)
    if mode == "wrap":
        indices = xp.mod(indices, size)
    elif mode == "clip":
        indices = xp.clip(indices, 0, size - 1)
    return xp.take(values, indices, axis)


@vjp_rule(take_in_mode)
def take_in_mode_vjp(g, ans, values, indices, axis=None, mode="raise"):
    return take_grad(g, values, indices, axis, mode)


linear(take_in_mode)


@shape_only(1)
def take_grad(g: Any, a: Any, indices: Any, axis: Any = None, mode: str = "raise") -> Any:
    """Gradient of ``np.take(a, indices, axis)``: ``g`` added at the positions taken.

    >>> take_grad(np.ones(3), np.zeros(2), [1, 1, 0])
    array([1., 2.])
    """
    xp = array_module(g)
    shape = _shape(a)
    if axis is None:  # take flattened a
        flat = take_grad(g, _stand_in((int(np.prod(shape)),)), indices, 0, mode)
        return flat.reshape(shape)
    axis = operator.index(axis) % len(shape)
    if mode == "wrap":
        indices = np.mod(indices, shape[axis])
    elif mode == "clip":
        indices = np.clip(indices, 0, shape[axis] - 1)
    out = xp.zeros(shape, dtype=_dtype(g))
    _put(xp, out, (slice(None),) * axis + (indices,), g)
    return out


@shape_only(1)
def take_along_axis_grad(g: Any, arr: Any, indices: Any, axis: Any = -1) -> Any:
    """Gradient of ``np.take_along_axis(arr, indices, axis)``: ``g`` added where taken."""
    xp = array_module(g, indices)
    shape = _shape(arr)
    if axis is None:  # arr was flattened
        flat = take_along_axis_grad(g, _stand_in((int(np.prod(shape)),)), indices, 0)
        return flat.reshape(shape)
    axis = operator.index(axis) % len(shape)
    index = tuple(
        indices
        if d == axis
        else xp.arange(n).reshape([-1 if e == d else 1 for e in range(len(shape))])
        for d, n in enumerate(shape)
    )
    out = xp.zeros(shape, dtype=_dtype(g))
    _put(xp, out, index, g)
    return out


def sort_grad(g: Any, a: Any, axis: Any = -1) -> Any:
    """Gradient of ``np.sort(a, axis)``: each sorted position's cotangent sent back to the
    element that landed there."""
    xp = array_module(g, a)
    if axis is None:
        return sort_grad(g, a.reshape(-1), 0).reshape(a.shape)
    order = xp.argsort(a, axis=axis, kind="stable")
    return take_along_axis_grad(g, a, order, axis)


def partition_grad(g: Any, a: Any, ans: Any, axis: Any = -1) -> Any:
    """Gradient of ``ans = np.partition(a, kth, axis)``: each position's cotangent sent back
    to the element of ``a`` that landed there."""
    grad = take_along_axis_grad(
        g, _stand_in(flat_if_none(a, axis)), arrangement(a, ans, axis), axis
    )
    return grad.reshape(_shape(a))


@shape_only(0)
def flat_if_none(a: Any, axis: Any) -> tuple:
    """The shape ``a`` is read in along ``axis``: flattened when ``axis`` is None."""
    shape = _shape(a)
    return (int(np.prod(shape)),) if axis is None else shape


def arrangement(a: Any, ans: Any, axis: Any = -1) -> Any:
    """The indices ``i`` along ``axis`` with ``ans == np.take_along_axis(a, i, axis)``, for
    ``ans`` a rearrangement of ``a`` along ``axis`` (of the flattened ``a`` when ``axis`` is
    None): equal values are paired in order.

    >>> arrangement(np.array([3.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0]))
    array([1, 2, 0])
    """
    xp = array_module(a, ans)
    if axis is None:
        a, ans, axis = a.reshape(-1), ans.reshape(-1), 0
    order = xp.argsort(a, axis=axis, kind="stable")
    places = xp.argsort(ans, axis=axis, kind="stable")
    return xp.take_along_axis(order, xp.argsort(places, axis=axis), axis)


nondifferentiable(arrangement, flat_if_none)


@shape_only(0)
def linspace_fractions(ans: Any, num: int, endpoint: bool, axis: int, retstep: bool) -> Any:
    """The fractions ``t`` of ``ans = np.linspace(start, stop, num, endpoint, axis=axis)``
    (``ans == start * (1 - t) + stop * t``), shaped to broadcast against ``ans``.

    >>> linspace_fractions(np.zeros(5), 5, True, 0, False)
    array([0.  , 0.25, 0.5 , 0.75, 1.  ])
    """
    if retstep:
        raise NotImplementedError(
            "np.linspace(..., retstep=True) has no derivative in astgrad; compute the step "
            "as (stop - start) / (num - 1)"
        )
    shape = _shape(ans)
    num = operator.index(num)
    steps = num - 1 if endpoint else num
    t = np.arange(num, dtype=np.float64) / max(steps, 1)
    where = operator.index(axis) % len(shape)
    t = t.reshape([-1 if d == where else 1 for d in range(len(shape))])
    return array_module(ans).asarray(t.astype(_dtype(ans), copy=False))


def linspace_batch(ans: Any, axis: int) -> tuple:
    """The shape of ``np.linspace``'s start and stop broadcast: ``ans``'s without ``axis``."""
    shape = list(_shape(ans))
    del shape[operator.index(axis) % len(shape)]
    return tuple(shape)


def chosen_masks(condlist: Any) -> list:
    """Where ``np.select(condlist, ...)`` takes each choice, and then the default: the first
    condition that holds, and none of them."""
    masks = []
    taken = None
    for condition in condlist:
        condition = array_module(condition).asarray(condition, dtype=bool)
        masks.append(condition if taken is None else condition & ~taken)
        taken = condition if taken is None else taken | condition
    masks.append(np.True_ if taken is None else ~taken)
    return masks


def default_mask(condlist: Any) -> Any:
    """Where ``np.select(condlist, ...)`` takes the default: where no condition holds."""
    return chosen_masks(condlist)[-1]


nondifferentiable(chosen_masks, default_mask, linspace_fractions, linspace_batch)


@shape_only(2)
def select_grads(g: Any, condlist: Any, choicelist: Any) -> Any:
    """Gradients of ``np.select(condlist, choicelist, default)`` with respect to the
    choices: ``g`` where each was taken, zeros elsewhere, one per choice."""
    xp = array_module(g)
    masks = chosen_masks(condlist)
    return Parts(unbroadcast(xp.where(m, g, 0.0), c) for m, c in zip(masks, choicelist))


@shape_only(2)
def select_default_grad(g: Any, condlist: Any, default: Any = 0) -> Any:
    """Gradient of ``np.select(condlist, choicelist, default)`` with respect to
    ``default``: ``g`` where no condition holds."""
    return unbroadcast(array_module(g).where(default_mask(condlist), g, 0.0), default)


def _nested_ndim(value: Any) -> int:
    if isinstance(value, (list, tuple)):
        return 1 + (_nested_ndim(value[0]) if len(value) else 0)
    return len(_shape(value))


@shape_only(1)
def unstack_like(g: Any, like: Any) -> Any:
    """Gradient of ``np.array(like)``: ``g`` taken apart into the structure of ``like``, a
    (nested) list or tuple of arrays and numbers, or an array.

    >>> unstack_like(np.array([[1.0, 2.0], [3.0, 4.0]]), [np.zeros(2), np.zeros(2)])
    Parts([array([1., 2.]), array([3., 4.])])
    """
    if isinstance(like, (list, tuple)):
        g = g.reshape(g.shape[g.ndim - _nested_ndim(like) :])  # drop dims ndmin added
        return Parts(unstack_like(g[i], item) for i, item in enumerate(like))
    return g.reshape(_shape(like))


@shape_only(1, 2)
def cast_grad(g: Any, x: Any, ans: Any) -> Any:
    """Gradient of ``x.astype(dtype)``: ``g`` cast back to ``x``'s dtype; none through a
    cast to integers or booleans."""
    if ans.dtype.kind not in "fc":
        return array_module(g, x).zeros(_shape(x), dtype=x.dtype)
    if type(g) is float:  # the cotangent of a number, in generated code
        g = array_module(x).asarray(g)
    if ans.dtype.kind != "c" or x.dtype.kind != "c":
        g = g.real  # a real result's cotangent, or a real x's gradient (complex.py)
    return g.astype(x.dtype, copy=False)


@transformable
def cast_tangent(dx: Any, ans: Any) -> Any:
    """The tangent of ``ans = x.astype(dtype)``: ``dx`` in ``ans``'s dtype; zeros through a
    cast to integers or booleans."""
    if ans.dtype.kind not in "fc":
        return np.zeros_like(ans, dtype=np.float64)
    if ans.dtype.kind != "c":
        dx = np.real(dx)  # (a complex x cast to floats loses its imaginary part)
    return np.asarray(dx).astype(ans.dtype, copy=False)

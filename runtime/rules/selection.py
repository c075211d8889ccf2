"""Rules for selecting elements (take, take_along_axis, sort), for building arrays out of
other values (np.array, np.asarray), and for casts between float dtypes.

Reading with a subscript (``x[i]``) is in ``indexing``; functions that make fresh arrays
of a shape (``zeros_like``, ``full_like``) carry no gradient and are listed in ``nondiff``.
"""

import numpy as np

from ..primitives import astype as astype_primitive
from .helpers import cast_grad, sort_grad, take_along_axis_grad, take_grad, unstack_like
from .registry import vjp_rule


@vjp_rule(np.take)
def take(g, ans, a, indices, axis=None, out=None, mode="raise"):
    return take_grad(g, a, indices, axis, mode)


@vjp_rule(np.take_along_axis)
def take_along_axis(g, ans, arr, indices, axis=-1):
    return take_along_axis_grad(g, arr, indices, axis)


# Sorting moves each element to a new place: the gradient goes back the same way. Ties are
# broken as a stable sort breaks them, which is where NumPy's sort puts equal elements.
@vjp_rule(np.sort)
def sort(g, ans, a, axis=-1, kind=None, order=None, *, stable=None):
    return sort_grad(g, a, axis)


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


# A cast between float dtypes passes the gradient through, cast back to the input's dtype;
# a cast to integers or booleans passes none (the tape does not record it at all).
# ``x.astype(dtype)`` is the primitive; ``np.astype`` is NumPy's spelling from 2.1 on.
_CASTS = (astype_primitive, np.astype) if hasattr(np, "astype") else (astype_primitive,)


@vjp_rule(*_CASTS, name="astype")
def astype(g, ans, x, dtype, copy=True, device=None):
    return cast_grad(g, x, ans)

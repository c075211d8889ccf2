"""Rules for ``np.insert``, ``np.delete`` and NumPy 2's ``np.unstack``.

``insert`` and ``delete`` move elements to new places: each rule asks NumPy where, by
calling the function itself on arrays of positions (so every form of ``obj`` and ``axis``
NumPy takes is read as NumPy reads it), and gathers the gradient back from there.
"""

from typing import Any

import numpy as np

from .forward import jvp_rule, linear
from .rearranging import zeros_of
from .registry import nondifferentiable, vjp_rule
from .selection import take_grad
from .shared import output_parts, transformable


@vjp_rule(np.delete)
def delete(g, ans, arr, obj, axis=None):
    return take_grad(g, arr, deleted_sources(arr, obj, axis)), None


linear(np.delete)


@vjp_rule(np.insert)
def insert(g, ans, arr, obj, values, axis=None):
    found = inserted_sources(arr, obj, values, axis)
    return (
        take_grad(g[found[0] >= 0], arr, found[0][found[0] >= 0]),
        None,
        take_grad(g[found[1] >= 0], values, found[1][found[1] >= 0]),
        None,
    )


@jvp_rule(np.insert)
def insert_jvp(ans, arr, obj, values, axis=None, *, darr, dvalues):
    return (
        np.insert(darr, obj, zeros_of(values, darr), axis),
        None,
        insert_values_tangent(dvalues, arr, obj, values, axis),
        None,
    )


@vjp_rule(np.unstack, multi_output=True)
def unstack(g, ans, x, *, axis=0):
    return np.stack(output_parts(g, ans), axis=axis)


@jvp_rule(np.unstack)
def unstack_jvp(ans, x, *, axis=0, dx):
    return (np.unstack(dx, axis=axis),)


# -- helpers the rules above call (generated code calls them by these names) ----------------


def deleted_sources(arr: Any, obj: Any, axis: Any) -> Any:
    """For each element of ``np.delete(arr, obj, axis)``, the flat position in ``arr`` it
    came from."""
    positions = np.reshape(np.arange(np.size(arr)), np.shape(arr))
    return np.delete(positions, obj, axis)


def inserted_sources(arr: Any, obj: Any, values: Any, axis: Any) -> tuple[Any, Any]:
    """For each element of ``np.insert(arr, obj, values, axis)``, the flat position in
    ``arr`` it came from (-1 for an inserted value), and in ``values`` (-1 for one of
    ``arr``'s)."""
    # (values of values' shape: NumPy lays out a block of them as it does the real ones)
    positions = np.reshape(np.arange(np.size(arr)), np.shape(arr))
    from_arr = np.insert(positions, obj, np.full(np.shape(values), -1), axis)
    numbered = np.reshape(np.arange(np.size(values)), np.shape(values))
    from_values = np.insert(np.full(np.shape(arr), -1), obj, numbered, axis)
    return from_arr, from_values


nondifferentiable(deleted_sources, inserted_sources)


@transformable
def insert_values_tangent(dvalues: Any, arr: Any, obj: Any, values: Any, axis: Any) -> Any:
    """The tangent of ``np.insert(arr, obj, values, axis)`` along ``dvalues``."""
    return np.insert(zeros_of(arr, dvalues), obj, dvalues, axis)

"""Rules for functions that only move elements around: reshapes, transposes, copies."""

import numpy as np

from ..primitives import identity
from .helpers import inverse_axes, reshape_like
from .registry import vjp_rule


@vjp_rule(np.reshape)
def reshape(g, ans, a, shape=None, order="C"):
    return reshape_like(g, a)


@vjp_rule(np.ravel)
def ravel(g, ans, a, order="C"):
    return reshape_like(g, a)


@vjp_rule(np.squeeze)
def squeeze(g, ans, a, axis=None):
    return reshape_like(g, a)


@vjp_rule(np.expand_dims)
def expand_dims(g, ans, a, axis):
    return reshape_like(g, a)


@vjp_rule(np.transpose)
def transpose(g, ans, a, axes=None):
    return np.transpose(g, inverse_axes(axes, g.ndim))


@vjp_rule(np.swapaxes)
def swapaxes(g, ans, a, axis1, axis2):
    return np.swapaxes(g, axis1, axis2)


@vjp_rule(np.moveaxis)
def moveaxis(g, ans, a, source, destination):
    return np.moveaxis(g, destination, source)


@vjp_rule(np.copy, identity, name="copy")
def copy(g, ans, a, order="K", subok=False):
    return g

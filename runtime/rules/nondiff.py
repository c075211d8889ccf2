"""Functions whose results carry no gradient: they are piecewise constant, return
integers or booleans, or report metadata. Listing them lets the tape and the transform
pass through them instead of stopping with 'no rule'."""

import math

import numpy as np

from ..primitives import stop_gradient
from .registry import nondifferentiable

nondifferentiable(
    # rounding (np.sign has a rule, rules/complex.py: z / |z| is smooth for complex z)
    np.floor, np.ceil, np.round, np.around, np.rint, np.trunc, np.fix,
    np.floor_divide,
    # comparisons and logic
    np.greater, np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal,
    np.logical_and, np.logical_or, np.logical_not, np.logical_xor,
    np.isfinite, np.isnan, np.isinf, np.isclose, np.allclose, np.array_equal,
    np.any, np.all, np.count_nonzero, np.signbit,
    # positions and counts
    np.argmax, np.argmin, np.argsort, np.nonzero, np.flatnonzero, np.searchsorted,
    np.digitize, np.bincount, np.unique, np.argpartition, np.argwhere, np.nanargmax,
    np.nanargmin, np.lexsort, np.isin, np.histogram, np.histogram_bin_edges,
    np.triu_indices, np.tril_indices, np.diag_indices, np.indices, np.mask_indices,
    np.unravel_index, np.ravel_multi_index, np.isreal, np.iscomplex,
    # metadata and fresh arrays
    np.shape, np.ndim, np.size, np.result_type, np.may_share_memory, np.shares_memory,
    np.zeros_like, np.ones_like, np.empty_like, np.full_like,
    np.arange, np.eye, np.identity, np.tri, np.iscomplexobj, np.isrealobj, np.isscalar,
    # the math module's counterparts (the transform also knows int(), round(), len()...)
    math.floor, math.ceil, math.trunc, math.isnan, math.isinf, math.isfinite, math.isclose,
    # cut on purpose
    stop_gradient,
)  # fmt: skip

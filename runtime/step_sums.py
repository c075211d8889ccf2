"""Sums over a loop's steps of one gradient contribution, taken as one product.

A recurrent model's backward loop adds the same kind of contribution into a weight's
gradient at every step: ``dWh = dWh + matmul_grad_right(g, h, Wh)``, which is
``h_t.T @ g_t`` for matrices. Fifty such products of 8-row matrices cost fifty BLAS calls
and fifty additions, where the sum is one product of the steps' rows stacked:
``H.T @ G`` with ``H = [h_1; ...; h_T]`` and ``G = [g_1; ...; g_T]``. The transform
(``transform/step_sums.py``) writes such a loop's accumulation as::

    dWh_steps = StepSum(matmul_grad_right)
    for _ in range(pop()):
        ...
        dWh_steps.add(dmatmul_2, h, Wh)
    dWh = dWh + dWh_steps.total()

:class:`StepSum` keeps the steps' arguments while they are float matrices of one form
(the product's fast case; a vector times a matrix, one sequence's step, as a matrix of one
row) and multiplies them stacked, a chunk of at most :data:`CHUNK_ELEMENTS` kept elements
at a time; anything else (a tensor of the tape, another device's array, a shape that
changes) it adds step by step with the helper itself, as the loop did. Only the order of
the floating-point additions changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .rules.arithmetic import dot_grad_right, matmul_grad_right
from .rules.shared import unbroadcast

__all__ = ["StepSum", "STACKED"]

#: at most this many elements of the steps' arguments are kept before they are multiplied
#: (half a mebibyte of float64: products of a few hundred rows, which stay one thread's
#: work and cost no more memory than a few steps' values)
CHUNK_ELEMENTS = 1 << 16

_ndarray = np.ndarray
_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))


def _products_apply(g: Any, x: Any, y: Any) -> bool:
    """Whether ``x.T @ g`` is the contribution (``matmul_grad_right``'s and
    ``dot_grad_right``'s case of two real float matrices), or ``np.outer(x, g)`` (a vector
    times a matrix: one sequence's step, ``h @ Wh`` with ``h`` a vector), which is that
    product of one row each."""
    return (
        type(g) is _ndarray
        and type(x) is _ndarray
        and type(y) is _ndarray
        and y.ndim == 2
        and g.dtype in _FLOATS
        and x.dtype == g.dtype
        and (
            (g.ndim == 2 and x.ndim == 2 and g.shape[0] == x.shape[0])
            or (g.ndim == 1 and x.ndim == 1)
        )
    )


def _products_total(gs: list, xs: list, fixed: tuple) -> Any:
    return np.concatenate(xs).T.dot(np.concatenate(gs))


def _row_sum_applies(g: Any, b: Any) -> bool:
    """Whether the contribution sums ``g``'s rows (``unbroadcast`` of a real float matrix
    to a vector of its width)."""
    return (
        type(g) is _ndarray
        and type(b) is _ndarray
        and g.ndim == 2
        and b.ndim == 1
        and g.dtype in _FLOATS
        and g.shape[1] == b.shape[0]
    )


def _row_sum_total(gs: list, xs: list, fixed: tuple) -> Any:
    return np.concatenate(gs).sum(axis=0)


#: helper -> (how many of its leading arguments change per step, whether a step's
#: arguments take the stacked form, the sum of the kept steps, the ndims each argument
#: may have in that form: the transform leaves an accumulation alone where an argument's
#: ndim is known to be another, since such steps would only be added one by one)
STACKED: dict[Callable, tuple[int, Callable[..., bool], Callable, tuple[tuple[int, ...], ...]]] = {
    matmul_grad_right: (2, _products_apply, _products_total, ((1, 2), (1, 2), (2,))),
    dot_grad_right: (2, _products_apply, _products_total, ((1, 2), (1, 2), (2,))),
    unbroadcast: (1, _row_sum_applies, _row_sum_total, ((2,), (1,))),
}


class StepSum:
    """The sum of ``helper(*arguments)`` over the steps given to :meth:`add`.

    >>> import numpy as np
    >>> steps = StepSum(matmul_grad_right)
    >>> W = np.ones((3, 2))
    >>> for t in range(4):
    ...     steps.add(np.full((5, 2), t), np.ones((5, 3)), W)
    >>> steps.total()[0]
    array([30., 30.])
    >>> StepSum(unbroadcast).total()  # no step: the zero an adjoint starts from
    0
    """

    __slots__ = (
        "helper",
        "varying",
        "applies",
        "stacked",
        "gs",
        "xs",
        "form",
        "fixed",
        "kept",
        "sum",
    )

    def __init__(self, helper: Callable) -> None:
        self.helper = helper
        self.varying, self.applies, self.stacked, _ = STACKED[helper]
        self.gs: list = []
        self.xs: list = []
        #: the kept steps' shapes but for their rows, and their dtype
        self.form: tuple | None = None
        self.fixed: tuple = ()
        self.kept = 0
        self.sum: Any = 0

    def add(self, *arguments: Any) -> None:
        """One step's contribution, ``helper(*arguments)``."""
        if self.applies(*arguments):
            g = arguments[0]
            x = arguments[1] if self.varying == 2 else None
            if g.ndim == 1:  # (a product's step of one row: kept as a matrix of one row)
                g = g.reshape(1, -1)
                x = x.reshape(1, -1)
            shape = arguments[-1].shape
            form = (g.shape[1:], None if x is None else x.shape[1:], g.dtype, shape)
            if form != self.form:
                self._flush()
                self.form = form
            self.gs.append(g)
            if x is not None:
                self.xs.append(x)
            self.kept += g.size + (0 if x is None else x.size)
            self.fixed = arguments[self.varying :]
            if self.kept >= CHUNK_ELEMENTS:
                self._flush()
            return
        self._flush()
        self.sum = self.sum + self.helper(*arguments)

    def total(self) -> Any:
        """The sum of every step's contribution (the int 0 where there was none)."""
        self._flush()
        return self.sum

    def _flush(self) -> None:
        if self.gs:
            self.sum = self.sum + self.stacked(self.gs, self.xs, self.fixed)
            self.gs = []
            self.xs = []
            self.kept = 0

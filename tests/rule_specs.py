"""Sample inputs for every rule in the table.

Each entry maps a primitive to the cases it is checked on. In a case, ``A(shape)`` is a
random float64 array (``A(shape, low=0.5)`` keeps it away from a singular domain),
anything else is passed through as it is. A rule without an entry here fails the test
that walks the table, so no rule goes unchecked.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import astgrad.runtime.primitives as prim


@dataclass(frozen=True, eq=False)
class A:
    """A random array of this shape, drawn from [low, high)."""

    shape: tuple = ()
    low: float = -2.0
    high: float = 2.0
    dtype: Any = np.float64
    value: Any = None

    def make(self, rng: np.random.Generator) -> Any:
        if self.value is not None:
            return np.array(self.value, dtype=self.dtype)
        if self.shape == "float":
            return float(rng.uniform(self.low, self.high))
        return rng.uniform(self.low, self.high, self.shape).astype(self.dtype)


@dataclass
class Case:
    args: tuple
    kwargs: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        parts = [f"A{a.shape}" if isinstance(a, A) else repr(a) for a in self.args]
        parts += [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return ", ".join(parts)


def case(*args: Any, **kwargs: Any) -> Case:
    return Case(args, kwargs)


POS = dict(low=0.5, high=2.0)

SPECS: dict[Any, list[Case]] = {
    np.add: [case(A((3, 4)), A((4,))), case(A((2, 1)), A((1, 3))), case(A(()), A((3,)))],
    np.subtract: [case(A((3, 4)), A((3, 1))), case(A((3,)), A(()))],
    np.multiply: [case(A((3, 4)), A((4,))), case(A((2, 1, 3)), A((4, 1)))],
    np.true_divide: [case(A((3, 4)), A((4,), **POS)), case(A(()), A((2, 3), **POS))],
    np.negative: [case(A((3, 2)))],
    np.positive: [case(A((3, 2)))],
    np.power: [case(A((3, 4), **POS), A((4,))), case(A((5,)), 2), case(A((2, 3), **POS), A(()))],
    np.matmul: [
        case(A((3, 4)), A((4, 2))),
        case(A((4,)), A((4, 2))),
        case(A((3, 4)), A((4,))),
        case(A((4,)), A((4,))),
        case(A((2, 3, 4)), A((4, 5))),
        case(A((2, 1, 3, 4)), A((5, 4, 2))),
        case(A((4,)), A((2, 4, 3))),
        case(A((2, 3, 4)), A((4,))),
    ],
    np.dot: [
        case(A((3, 4)), A((4, 2))),
        case(A((4,)), A((4,))),
        case(A((3, 4)), A((4,))),
        case(A((4,)), A((4, 2))),
        case(A(()), A((3,))),
        case(A((2, 3, 4)), A((5, 4, 2))),
    ],
    np.exp: [case(A((3, 4)))],
    np.exp2: [case(A((3, 4)))],
    np.expm1: [case(A((3, 4)))],
    np.log: [case(A((3, 4), **POS))],
    np.log2: [case(A((3, 4), **POS))],
    np.log10: [case(A((3, 4), **POS))],
    np.log1p: [case(A((3, 4), **POS))],
    np.logaddexp: [case(A((3, 4)), A((4,)))],
    np.logaddexp2: [case(A((3, 4)), A((3, 1)))],
    np.tanh: [case(A((3, 4)))],
    np.sqrt: [case(A((3, 4), **POS))],
    np.cbrt: [case(A((3, 4), **POS)), case(A((3,), low=-2.0, high=-0.5))],
    np.square: [case(A((3, 4)))],
    np.reciprocal: [case(A((3, 4), **POS))],
    np.float_power: [case(A((3, 4), **POS), A((4,))), case(A((3,), **POS), 2.5)],
    np.sin: [case(A((3, 4)))],
    np.cos: [case(A((3, 4)))],
    np.tan: [case(A((3, 4), low=-1.2, high=1.2))],
    np.arcsin: [case(A((3, 4), low=-0.9, high=0.9))],
    np.arccos: [case(A((3, 4), low=-0.9, high=0.9))],
    np.arctan: [case(A((3, 4)))],
    np.arctan2: [case(A((3, 4)), A((4,), **POS)), case(A((3,)), A((3,), low=-2.0, high=-0.5))],
    np.hypot: [case(A((3, 4), **POS), A((4,)))],
    np.sinh: [case(A((3, 4)))],
    np.cosh: [case(A((3, 4)))],
    np.arcsinh: [case(A((3, 4)))],
    np.arccosh: [case(A((3, 4), low=1.2, high=3.0))],
    np.arctanh: [case(A((3, 4), low=-0.9, high=0.9))],
    np.sinc: [case(A((3, 4))), case(A(value=[0.0, 0.5]))],
    np.deg2rad: [case(A((3, 4)))],
    np.rad2deg: [case(A((3, 4)))],
    np.radians: [case(A((3,)))],
    np.degrees: [case(A((3,)))],
    np.absolute: [case(A((3, 4), low=0.1)), case(A((3,), low=-2.0, high=-0.1))],
    np.fabs: [case(A((3, 4), low=0.1)), case(A((3,), low=-2.0, high=-0.1))],
    np.maximum: [case(A((3, 4)), A((4,))), case(A((3,)), 0.0)],
    np.minimum: [case(A((3, 4)), A((3, 1))), case(A((3,)), 0.0)],
    np.fmax: [case(A((3, 4)), A((4,)))],
    np.fmin: [case(A((3, 4)), A((4,)))],
    np.clip: [case(A((3, 4)), -1.0, 1.0), case(A((3, 4)), -0.5, None)],
    np.where: [
        case(A(value=[True, False, True], dtype=bool), A((3,)), A((3,))),
        case(A(value=[[True], [False]], dtype=bool), A((2, 3)), A((3,))),
    ],
    np.remainder: [case(A((3, 4), low=0.1, high=5.0), A((4,), low=0.7, high=2.0))],
    math.sin: [case(A(()))],
    math.cos: [case(A(()))],
    math.tan: [case(A((), low=-1.0, high=1.0))],
    math.asin: [case(A((), low=-0.9, high=0.9))],
    math.acos: [case(A((), low=-0.9, high=0.9))],
    math.atan: [case(A(()))],
    math.atan2: [case(A(()), A((), **POS))],
    math.sinh: [case(A(()))],
    math.cosh: [case(A(()))],
    math.tanh: [case(A(()))],
    math.asinh: [case(A(()))],
    math.acosh: [case(A((), low=1.2, high=3.0))],
    math.atanh: [case(A((), low=-0.9, high=0.9))],
    math.exp: [case(A(()))],
    math.expm1: [case(A(()))],
    math.log: [case(A((), **POS)), case(A((), **POS), A((), low=1.5, high=3.0))],
    math.log2: [case(A((), **POS))],
    math.log10: [case(A((), **POS))],
    math.log1p: [case(A((), **POS))],
    math.sqrt: [case(A((), **POS))],
    math.pow: [case(A((), **POS), A(()))],
    math.fabs: [case(A((), low=0.1)), case(A((), high=-0.1))],
    math.hypot: [case(A(()), A(()))],
    math.degrees: [case(A(()))],
    math.radians: [case(A(()))],
    math.erf: [case(A(()))],
    math.erfc: [case(A(()))],
    prim.sigmoid: [case(A((3, 4)))],
    prim.relu: [case(A((3, 4), low=0.1)), case(A((3,), high=-0.1))],
    np.sum: [
        case(A((3, 4))),
        case(A((3, 4)), axis=0),
        case(A((2, 3, 4)), axis=(0, 2), keepdims=True),
        case(A((2, 3, 4)), axis=-1),
    ],
    np.mean: [case(A((3, 4))), case(A((2, 3, 4)), axis=(1, 2)), case(A((3, 4)), axis=1, keepdims=True)],
    np.max: [case(A((3, 4))), case(A((2, 3, 4)), axis=1), case(A((3, 4)), axis=0, keepdims=True)],
    np.amax: [case(A((3, 4)), axis=1)],
    np.min: [case(A((3, 4))), case(A((2, 3, 4)), axis=(0, 2))],
    np.amin: [case(A((3, 4)), axis=0)],
    np.prod: [
        case(A((3, 4))),
        case(A((2, 3, 4)), axis=1),
        case(A((2, 3, 4)), axis=(0, 2), keepdims=True),
        case(A(value=[[1.5, 0.0, 2.0], [0.0, 0.0, 3.0]]), axis=1),
    ],
    np.reshape: [case(A((3, 4)), (2, 6)), case(A((3, 4)), (-1,))],
    np.ravel: [case(A((3, 4)))],
    np.squeeze: [case(A((3, 1, 4))), case(A((1, 3, 1)), 0)],
    np.expand_dims: [case(A((3, 4)), 1)],
    np.transpose: [case(A((3, 4))), case(A((2, 3, 4)), (1, 2, 0)), case(A((2, 3, 4)), (-1, 0, 1))],
    np.swapaxes: [case(A((2, 3, 4)), 0, 2)],
    np.moveaxis: [case(A((2, 3, 4)), 0, -1)],
    np.copy: [case(A((3, 4)))],
    prim.identity: [case(A((3, 4)))],
    operator.getitem: [
        case(A((4, 5)), 1),
        case(A((4, 5)), (slice(1, 3), slice(None, None, 2))),
        case(A((4, 5)), (None, Ellipsis, 2)),
        case(A((4, 5)), np.array([0, 2, 2, 3])),
        case(A((4, 5)), (np.array([0, 0]), np.array([1, 1]))),
        case(A((4,)), np.array([True, False, True, True])),
    ],
    prim.assign_index: [
        case(A((4, 5)), (slice(1, 3), 2), A((2,))),
        case(A((4, 5)), 1, A(())),
        case(A((4,)), np.array([True, False, True, False]), A((2,))),
    ],
    prim.move_to: [case(A((3,)), "cpu")],
}

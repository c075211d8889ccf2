"""Sample inputs for every rule in the table, and the finite-difference harness that
checks rules on them.

Each entry maps a primitive to the cases it is checked on. In a case, ``A(shape)`` is a
random float64 array (``A(shape, low=0.5)`` keeps it away from a singular domain),
``A("float")`` a Python float, a list or tuple of them a sequence of arrays (what
``np.concatenate`` takes); anything else is passed through as it is. A rule without an
entry here fails the test that walks the table, so no rule goes unchecked.
"""

from __future__ import annotations

import builtins
import dataclasses
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import astgrad.runtime.primitives as prim
import astgrad.runtime.rules.complex as complex_rules
import astgrad.runtime.rules.linalg_more as linalg_more
import astgrad.runtime.rules.rearranging_more as rearranging_more
import astgrad.runtime.rules.reductions as reductions
import astgrad.runtime.rules.results as results
import astgrad.runtime.rules.ties as ties
import numpy as np


@dataclass(frozen=True, eq=False)
class A:
    """A random array of this shape, drawn from [low, high)."""

    shape: Any = ()
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

    @property
    def differentiable(self) -> bool:
        return np.dtype(self.dtype).kind == "f"


@dataclass
class Case:
    """One call of a primitive. ``eps`` and ``rtol`` loosen the finite-difference check
    where the primitive itself rounds (a cast to float32); ``outputs`` names the results
    of a primitive returning several that get a random cotangent (the others get zeros),
    for rules that differentiate only some of them (the singular values of ``svd``)."""

    args: tuple
    kwargs: dict = field(default_factory=dict)
    eps: float = 1e-6
    rtol: float = 1e-5
    outputs: tuple | None = None
    #: a known bug of the tape that this case shows, as a strict xfail there
    tape_bug: str | None = None

    def checked(self, **options: Any) -> Case:
        return dataclasses.replace(self, **options)

    def __repr__(self) -> str:
        parts = [_describe(a) for a in self.args]
        parts += [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return ", ".join(parts)


def _describe(value: Any) -> str:
    if isinstance(value, A):
        return f"A{value.shape}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_describe(v) for v in value) + "]"
    return repr(value)


def case(*args: Any, **kwargs: Any) -> Case:
    return Case(args, kwargs)


# -- the harness -----------------------------------------------------------------------------


def materialize(value: Any, rng: np.random.Generator) -> Any:
    """The concrete value of a spec argument (arrays drawn from ``rng``)."""
    if isinstance(value, A):
        return value.make(rng)
    if isinstance(value, (list, tuple)):
        return type(value)(materialize(v, rng) for v in value)
    return value


def arguments(spec: Case, seed: int = 0) -> tuple[list, dict]:
    """The concrete call of a case: ``(args, kwargs)``."""
    rng = np.random.default_rng(seed)
    args = [materialize(a, rng) for a in spec.args]
    return args, {k: materialize(v, rng) for k, v in spec.kwargs.items()}


def differentiable_paths(spec: Case) -> list[tuple]:
    """Where the differentiable inputs sit: ``(i,)`` for argument ``i``, ``(i, j)`` for
    element ``j`` of a sequence argument ``i``, ``(name,)`` for a keyword argument."""
    paths = []
    for i, a in enumerate(spec.args):
        if isinstance(a, A) and a.differentiable:
            paths.append((i,))
        elif isinstance(a, (list, tuple)):
            paths += [(i, j) for j, e in enumerate(a) if isinstance(e, A) and e.differentiable]
    paths += [(k,) for k, v in spec.kwargs.items() if isinstance(v, A) and v.differentiable]
    return paths


def get_at(call: tuple[list, dict], path: tuple) -> Any:
    args, kwargs = call
    value = kwargs[path[0]] if isinstance(path[0], str) else args[path[0]]
    return value if len(path) == 1 else value[path[1]]


def replace_at(call: tuple[list, dict], path: tuple, new: Any) -> tuple[list, dict]:
    """A copy of the call with the input at ``path`` replaced (sequences copied, not changed)."""
    args, kwargs = list(call[0]), dict(call[1])
    if isinstance(path[0], str):
        kwargs[path[0]] = new
    elif len(path) == 1:
        args[path[0]] = new
    else:
        sequence = list(args[path[0]])
        sequence[path[1]] = new
        args[path[0]] = type(args[path[0]])(sequence)
    return args, kwargs


def random_cotangent(out: Any, rng: np.random.Generator, outputs: tuple | None = None) -> Any:
    """A random cotangent shaped like ``out``; for several results, a tuple of them, zeros
    for the results not in ``outputs``."""
    if isinstance(out, (list, tuple)):
        return tuple(
            rng.standard_normal(np.shape(o))
            if outputs is None or i in outputs
            else np.zeros(np.shape(o))
            for i, o in enumerate(out)
        )
    g = rng.standard_normal(np.shape(out))
    return float(g) if isinstance(out, float) else g


def contract(out: Any, g: Any) -> float:
    """``sum(out * g)`` (its real part), over every result when there are several."""
    if isinstance(out, (list, tuple)):
        return float(np.real(sum(np.sum(_as_float64(o) * c) for o, c in zip(out, g))))
    return float(np.real(np.sum(_as_float64(out) * g)))


def _as_float64(out: Any) -> Any:
    """``out`` in float64, or complex128 for a complex result (the fft family's), whose
    contraction is the real part of the sum."""
    out = np.asarray(out)
    return out.astype(np.complex128 if out.dtype.kind == "c" else np.float64)


def numeric_vjp_at(
    f: Callable, call: tuple[list, dict], path: tuple, g: Any, eps: float = 1e-6
) -> Any:
    """d/d(input at ``path``) of ``sum(f(*args, **kwargs) * g)`` by central differences in
    float64."""

    def at(value: Any) -> float:
        args, kwargs = replace_at(call, path, value)
        return contract(f(*args, **kwargs), g)

    x = get_at(call, path)
    if isinstance(x, float):
        return (at(x + eps) - at(x - eps)) / (2 * eps)
    dtype = x.dtype
    x = np.array(x, dtype=np.float64)
    grad = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        moved = x.copy()
        moved[i] = x[i] + eps
        up = at(moved.astype(dtype))
        moved[i] = x[i] - eps
        down = at(moved.astype(dtype))
        grad[i] = (up - down) / (2 * eps)
    return grad


# -- the cases -------------------------------------------------------------------------------


POS = dict(low=0.5, high=2.0)

# Matrices for the linear-algebra rules: well conditioned, symmetric positive definite (for
# cholesky), symmetric with well separated eigenvalues (for eigh).
SQUARE = [[2.0, 0.5, -0.3], [0.4, -1.5, 0.2], [0.1, 0.7, 1.8]]
SQUARE_2 = [[1.0, -0.6, 0.2], [0.3, 0.9, -0.4], [-0.5, 0.2, -1.3]]
SPD = [[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]]
SPD_2 = [[2.0, -0.4, 0.1], [-0.4, 1.5, 0.3], [0.1, 0.3, 1.0]]
SYMMETRIC = [[2.0, 0.5, 0.1], [0.5, 1.0, -0.3], [0.1, -0.3, -1.0]]
SYMMETRIC_2 = [[-0.5, 0.2, 0.4], [0.2, 1.5, 0.1], [0.4, 0.1, 3.0]]
# points inside beta's support
XB = A((3, 4), low=0.2, high=0.8)
GENERAL = [[2.0, 0.5, 0.1], [0.3, -1.0, 0.4], [0.2, 0.1, 0.5]]
# well-conditioned tensors for tensorinv and tensorsolve
TENSOR_6 = np.eye(6) + 0.2 * np.arange(36.0).reshape(6, 6) / 36
TENSOR_4 = (np.eye(4) + 0.1 * np.arange(16.0).reshape(4, 4) / 16).reshape(4, 2, 2)

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
    np.fmod: [
        case(A((3, 4), low=0.1, high=5.0), A((4,), low=0.7, high=2.0)),
        case(A((3,), low=-5.0, high=-0.1), A((), low=0.7, high=2.0)),
    ],
    np.nan_to_num: [case(A((3, 4))), case(A((3,)), nan=1.0)],
    np.real: [case(A((3, 4)))],
    np.imag: [case(A((3,)))],
    np.conjugate: [case(A((2, 3)))],
    np.real_if_close: [case(A((3,)))],
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
        case(A((3, 4)), where=[True, False, True, True]),
        case(A((2, 3)), axis=0, keepdims=True, where=[[True], [False]]),
        case(A((3, 4)), axis=0, initial=1.5),
        case(A((3, 4)), 1, None, None, True, -0.5, [[True, False, True, True]] * 3),
    ],
    np.mean: [
        case(A((3, 4))),
        case(A((2, 3, 4)), axis=(1, 2)),
        case(A((3, 4)), axis=1, keepdims=True),
        case(A((3, 4)), where=[True, False, True, True]),
        case(A((3, 4)), axis=1, where=[[True] * 4, [False, True, True, False], [True] * 4]),
        case(A((2, 3)), axis=0, keepdims=True, where=[[True, False, True], [True] * 3]),
    ],
    np.max: [
        case(A((3, 4))),
        case(A((2, 3, 4)), axis=1),
        case(A((3, 4)), axis=0, keepdims=True),
        case(A((3, 4)), axis=1, initial=0.0),
        case(A((3, 4)), axis=0, initial=-0.5, where=[[True, False, True, False]] * 3),
    ],
    np.amax: [case(A((3, 4)), axis=1)],
    np.min: [
        case(A((3, 4))),
        case(A((2, 3, 4)), axis=(0, 2)),
        case(A((3, 4)), initial=0.25, where=[[False, True, True, True]] * 3),
    ],
    np.amin: [case(A((3, 4)), axis=0)],
    np.prod: [
        case(A((3, 4))),
        case(A((2, 3, 4)), axis=1),
        case(A((2, 3, 4)), axis=(0, 2), keepdims=True),
        case(A(value=[[1.5, 0.0, 2.0], [0.0, 0.0, 3.0]]), axis=1),
        case(A((3, 4)), axis=1, initial=1.5, where=[[True, True, False, True]] * 3),
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
    # -- casts and builtins ------------------------------------------------------------------
    float: [case(A(()))],
    np.float64: [case(A(())), case(A("float"))],
    # float32 rounds its input: a wide step keeps the rounding out of the difference
    np.float32: [case(A(())).checked(eps=1e-2, rtol=1e-4)],
    builtins.sum: [
        case([A((3,)), A((3,)), A((3,))]),
        case(A((4, 3))),
        case([A("float"), A("float")], A("float")),
    ],
    # the transform writes max(a, b) as max([a, b])
    builtins.max: [case([A("float"), A("float", low=2.5, high=3.0)]), case(A((4,)))],
    builtins.min: [case([A("float", low=2.5, high=3.0), A("float")]), case(A((4,)))],
    # -- reductions and scans ------------------------------------------------------------------
    np.var: [
        case(A((3, 4))),
        case(A((2, 3, 4)), axis=(0, 2)),
        case(A((3, 4)), axis=1, ddof=1, keepdims=True),
    ],
    np.std: [
        case(A((3, 4))),
        case(A((2, 3, 4)), axis=1),
        case(A((3, 4)), axis=0, ddof=1, keepdims=True),
    ],
    np.average: [
        case(A((3, 4))),
        case(A((3, 4)), axis=1, weights=A((4,), **POS)),
        case(A((2, 3, 4)), axis=(0, 2), weights=A((2, 4), **POS)),
        case(A((3, 4)), 0, A((3, 4), **POS)),
        case(A((3, 4)), axis=0, keepdims=True),
    ],
    np.nansum: [case(A((3, 4))), case(A(value=[[1.0, np.nan, 2.0], [np.nan, 3.0, -1.0]]), axis=1)],
    np.nanmean: [
        case(A((3, 4)), axis=0),
        case(A(value=[[1.0, np.nan, 2.0], [0.5, 3.0, -1.0]]), axis=1, keepdims=True),
    ],
    np.cumsum: [case(A((3, 4))), case(A((3, 4)), axis=0), case(A((2, 3, 4)), axis=-1)],
    np.cumprod: [
        case(A((3, 4), **POS)),
        case(A((3, 4)), axis=1),
        case(A(value=[[2.0, 0.0, 3.0, 0.5], [0.0, 0.0, 1.5, 2.0]]), axis=1),
    ],
    np.diff: [
        case(A((5,))),
        case(A((3, 5)), 2, 0),
        case(A((3, 4)), axis=1, prepend=A((3, 1)), append=A((3, 2))),
        case(A((4,)), prepend=A(())),
        case(A((3, 4)), 1, 1, A((3, 1)), A((3, 2))),
    ],
    np.gradient: [
        case(A((5,))),
        case(A((4, 3))),
        case(A((4, 3)), 0.5, axis=1),
        case(A((5, 4)), 2.0, np.array([0.0, 0.5, 1.5, 1.75]), edge_order=2),
        case(A((6,)), np.array([0.0, 0.3, 1.0, 1.2, 2.0, 3.5])),
    ],
    reductions.spaced_gradient: [case(A((4, 3)), 0.5, np.array([0.0, 1.0, 1.5]))],
    np.trace: [case(A((3, 4))), case(A((4, 3)), 1), case(A((2, 3, 4)), -1, 1, 2)],
    np.linalg.norm: [
        case(A((3, 4))),
        case(A((5,)), 1),
        case(A((5,)), 2),
        case(A((5,)), np.inf),
        case(A((5,)), -np.inf),
        case(A((5,)), 3),
        case(A((3, 4)), axis=1),
        case(A((3, 4)), 1, 0, True),
        case(A((3, 4)), "fro"),
        case(A((3, 4)), "nuc"),
        case(A((3, 4)), 2),
        case(A((3, 4)), -2),
        case(A((3, 4)), 1),
        case(A((3, 4)), np.inf),
        case(A((2, 3, 4)), "fro", (1, 2)),
    ],
    # -- shapes ---------------------------------------------------------------------------------
    np.atleast_1d: [case(A(())), case(A((3,)))],
    np.atleast_2d: [case(A((3,))), case(A((2, 3)))],
    np.atleast_3d: [case(A((3,))), case(A((2, 3)))],
    np.broadcast_to: [case(A((3,)), (2, 3)), case(A((2, 1)), (4, 2, 3))],
    np.concatenate: [
        case([A((2, 3)), A((1, 3)), A((4, 3))]),
        case((A((2, 3)), A((2, 1))), axis=1),
        case([A((2, 3)), A((3,))], axis=None),
    ],
    np.stack: [case([A((2, 3)), A((2, 3))]), case([A((3,)), A((3,)), A((3,))], axis=1)],
    np.hstack: [case([A((3,)), A((2,))]), case([A((2, 3)), A((2, 1))])],
    np.vstack: [case([A((3,)), A((3,))]), case([A((2, 3)), A((1, 3))])],
    np.dstack: [case([A((2, 3)), A((2, 3))]), case([A((3,)), A((3,))])],
    np.column_stack: [case([A((3,)), A((3, 2))])],
    np.append: [case(A((2, 3)), A((4,))), case(A((2, 3)), A((1, 3)), axis=0)],
    np.split: [case(A((6, 2)), 3), case(A((2, 5)), [1, 3], axis=1)],
    np.array_split: [case(A((7,)), 3), case(A((2, 5)), 2, axis=1)],
    np.hsplit: [case(A((2, 4)), 2), case(A((6,)), [2])],
    np.vsplit: [case(A((4, 3)), 2)],
    np.dsplit: [case(A((2, 2, 4)), 2), case(A((2, 1, 5)), [1, 3])],
    np.rollaxis: [case(A((2, 3, 4)), 2), case(A((2, 3, 4)), 0, 3), case(A((2, 3, 4)), -1, 1)],
    np.tile: [case(A((3,)), 2), case(A((2, 3)), (2, 1, 2))],
    np.repeat: [case(A((2, 3)), 2), case(A((2, 3)), 2, axis=1), case(A((2, 3)), [1, 0, 3], axis=1)],
    np.flip: [case(A((2, 3))), case(A((2, 3, 4)), (0, 2))],
    np.fliplr: [case(A((2, 3)))],
    np.flipud: [case(A((2, 3)))],
    np.roll: [case(A((5,)), 2), case(A((3, 4)), (1, -1), (0, 1)), case(A((3, 4)), 1)],
    np.rot90: [case(A((2, 3))), case(A((2, 3, 4)), 3, (1, 2))],
    np.pad: [
        case(A((2, 3)), 1),
        case(A((2, 3)), ((1, 0), (2, 1)), constant_values=A(())),
        case(A((2, 3)), ((1, 2), (3, 1)), constant_values=A((2, 2))),
        case(A((2, 3, 2)), 1, constant_values=A((2,))),
        case(A((3,)), (2, 1), "constant", constant_values=A((1, 2))),
        case(A((2, 3)), 2, constant_values=A((2, 1))),
        case(A((4,)), 2, mode="reflect"),
        case(A((2, 3)), 1, mode="edge"),
        case(A((2, 3)), ((0, 2), (1, 1)), mode="wrap"),
    ],
    np.diag: [case(A((3,))), case(A((3, 4))), case(A((3,)), 1), case(A((4, 3)), -1)],
    np.diagonal: [case(A((3, 4))), case(A((3, 4)), 1), case(A((2, 3, 4)), 0, 1, 2)],
    np.triu: [case(A((3, 4))), case(A((3, 4)), 1)],
    np.tril: [case(A((3, 4))), case(A((3, 4)), -1)],
    np.delete: [
        case(A((5,)), 2),
        case(A((3, 4)), [0, 2], axis=1),
        case(A((3, 4)), slice(0, 5, 2)),
        case(A((4, 2)), np.array([True, False, True, False]), 0),
    ],
    np.insert: [
        case(A((4,)), 1, A(())),
        case(A((3, 4)), [1, 3], A((2,)), axis=1),
        case(A((3, 4)), 2, A((4,)), 0),
        case(A((2, 3)), [0, 0, 5], A((3,))),
        case(A((2, 3)), 1, A((2, 1)), axis=1),
    ],
    np.unstack: [case(A((3, 4))), case(A((2, 3, 4)), axis=1)],
    np.meshgrid: [
        case(A((3,)), A((4,))),
        case(A((3,)), A((4,)), A((2,)), indexing="ij"),
        case(A((2, 2)), A((3,)), sparse=True),
        case(A((2,)), A((3,)), A((2,)), A((2,)), sparse=True, indexing="xy"),
    ],
    np.block: [
        case([A((2, 3)), A((2, 1)), A((2, 2))]),
        case([A((3,)), A(()), A("float"), A((2,))]),
        case(A((2, 3))),
    ],
    rearranging_more.joined_blocks: [
        case([A((2, 2)), A((2, 1)), A((1, 3))], [[None, None], [None]]),
        case([A((1, 2)), A((1, 1)), A((1, 3))], [[[None, None]], [[None]]]),
    ],
    # (g moves; the comparison and the compared values are constants: one case without a
    # tie, one with)
    ties.split_ties: [
        case(A((2, 3)), np.array([[True, False, True]] * 2), 0.0, np.array([-1.0, 2.0, -3.0])),
        case(A((3,)), np.array([False, True, False]), 0.0, np.array([0.0, -1.0, 2.0])),
    ],
    results.add_results: [case((A((3,)), A(())), (A((3,)), A(()))), case(A((2, 3)), A((2, 3)))],
    np.diagflat: [case(A((3,))), case(A((2, 2)), 1), case(A((3,)), k=-2)],
    np.resize: [case(A((2, 3)), (3, 4)), case(A((4,)), 3), case(A((2, 2)), (2, 2))],
    np.compress: [
        case(np.array([True, False, True]), A((3, 2)), axis=0),
        case([False, True], A((2, 3)), 1),
        case(np.array([1, 0, 1, 1]), A((2, 3))),
    ],
    np.extract: [case(np.array([[True, False, True], [False, True, True]]), A((2, 3)))],
    np.choose: [
        case(np.array([0, 2, 1, 0]), [A((4,)), A((4,)), A((4,))]),
        case(np.array([[0, 1], [1, 0]]), [A((2, 2)), A((2,))]),
        case(np.array([0, 3, -1]), [A((3,)), A((3,))], mode="wrap"),
        case(np.array([0, 5]), A((2, 2)), mode="clip"),
    ],
    rearranging_more.grid_tangent: [case(A((3,)), 1, np.zeros(2), np.zeros(3), np.zeros(4))],
    np.nancumsum: [
        case(A((3, 4))),
        case(A(value=[[1.0, np.nan, 2.0], [0.5, 3.0, np.nan]]), axis=1),
    ],
    np.nancumprod: [case(A((3, 4)), axis=0), case(A(value=[1.5, np.nan, -2.0, 0.5]))],
    np.logspace: [
        case(A(()), A(()), 5),
        case(A((3,)), A("float"), 4, False, A((), **POS), axis=-1),
        case(A((2, 3)), A((3,)), 3, base=A((3,), low=1.5, high=3.0), axis=1),
    ],
    np.geomspace: [
        case(A((), **POS), A((), **POS), 5),
        case(A((3,), **POS), A((3,), **POS), 4, False),
        case(A((2,), high=-0.5), A((2,), low=-3.0, high=-0.5), 3, axis=1),
    ],
    np.polyadd: [case(A((3,)), A((5,))), case(A((4,)), A((2,))), case(A(()), A((3,)))],
    np.polysub: [case(A((3,)), A((5,))), case(A((4,)), A((4,)))],
    np.polymul: [case(A((3,)), A((4,))), case(A((2,)), A(()))],
    np.polyder: [case(A((5,))), case(A((5,)), 2), case(A((3,)), 3), case(A((4,)), 0)],
    np.polyint: [
        case(A((4,))),
        case(A((3,)), 2),
        case(A((3,)), 2, A(())),
        case(A((3,)), 2, A((2,))),
        case(A((2,)), 1, k=A(())),
    ],
    np.heaviside: [case(A((3, 4)), A((4,))), case(np.array([0.0, 1.0, -2.0, 0.0]), A((4,)))],
    np.copysign: [case(A((3, 4), low=0.1), A((4,))), case(A((3,), high=-0.1), A((3,)))],
    np.ldexp: [case(A((3, 4)), np.array([1, -2, 0, 3]))],
    np.modf: [case(A((3, 4), low=0.1, high=3.9)), case(A((3,), low=-3.9, high=-0.1))],
    np.i0: [case(A((3, 4))), case(A((3,), low=5.0, high=20.0)), case(A("float"))],
    np.unwrap: [
        case(A(value=[0.0, 3.0, 6.2, 9.5, 12.0])),
        case(A((3, 4), low=-6.0, high=6.0), axis=0),
        case(A((5,), low=0.0, high=10.0), period=4.0),
    ],
    # -- products and linear algebra -------------------------------------------------------------
    np.vdot: [case(A((3,)), A((3,))), case(A((2, 3)), A((3, 2)))],
    np.inner: [
        case(A((3,)), A((3,))),
        case(A((2, 3)), A((4, 3))),
        case(A(()), A((3,))),
        case(A((2, 2, 3)), A((3,))),
    ],
    np.outer: [case(A((3,)), A((4,))), case(A((2, 2)), A((3,)))],
    np.tensordot: [
        case(A((2, 3, 4)), A((3, 4, 5))),
        case(A((2, 3)), A((3, 4)), 1),
        case(A((2, 3, 4)), A((4, 2, 5)), ([0, 2], [1, 0])),
        case(A((3, 4)), A((2, 3)), (0, 1)),
        case(A((2,)), A((3,)), 0),
    ],
    np.kron: [case(A((2, 3)), A((2, 2))), case(A((3,)), A((2,))), case(A((2,)), A((2, 3)))],
    np.einsum: [
        case("ij,jk->ik", A((2, 3)), A((3, 4))),
        case("ij,jk", A((2, 3)), A((3, 4))),
        case("ij,j->i", A((2, 3)), A((3,))),
        case("i,i->", A((3,)), A((3,))),
        case("ij->", A((2, 3))),
        case("ji", A((2, 3))),
        case("ii->i", A((3, 3))),
        case("ii", A((3, 3))),
        case("iij->j", A((2, 2, 3))),
        case("...ij,...jk->...ik", A((2, 3, 4)), A((4, 5))),
        case("...ij,...jk", A((2, 1, 3, 4)), A((5, 4, 2))),
        case("bij,bjk->bik", A((2, 3, 4)), A((2, 4, 2))),
        case("ij,jk,kl->il", A((2, 3)), A((3, 4)), A((4, 2))),
        case("ij,kl->ijkl", A((2, 1)), A((1, 3))),
    ],
    np.linalg.inv: [case(A(value=SQUARE)), case(A(value=[SQUARE, SQUARE_2]))],
    np.linalg.pinv: [
        case(A((3, 2))),
        case(A((2, 3))),
        case(A(value=SQUARE)),
        case(A((2, 4, 3)), hermitian=False),
    ],
    np.cross: [
        case(A((3,)), A((3,))),
        case(A((4, 3)), A((3,))),
        case(A((3, 2)), A((2, 3)), axisa=0, axisb=1, axisc=0),
        case(A((3, 4)), A((3, 4)), axis=0),
    ],
    np.linalg.det: [case(A(value=SQUARE)), case(A(value=[SQUARE, SQUARE_2]))],
    np.linalg.slogdet: [case(A(value=SQUARE)), case(A(value=[SQUARE, SQUARE_2]))],
    np.linalg.solve: [
        case(A(value=SQUARE), A((3,))),
        case(A(value=SQUARE), A((3, 2))),
        case(A(value=[SQUARE, SQUARE_2]), A((2, 3, 2))),
        case(A(value=[SQUARE, SQUARE_2]), A((3,))),
        case(A(value=[SQUARE, SQUARE_2]), A((3, 4))),
    ],
    np.linalg.cholesky: [
        case(A(value=SPD)),
        case(A(value=[SPD, SPD_2])),
        case(A(value=SPD), upper=True),
    ],
    np.linalg.qr: [
        case(A(value=SQUARE)),
        case(A((4, 3))),
        case(A((3, 4))),
        case(A((2, 4, 3))),
        case(A((4, 3)), "r"),
        case(A((3, 4)), "complete"),
    ],
    np.linalg.eigh: [
        case(A(value=SYMMETRIC)),
        case(A(value=[SYMMETRIC, SYMMETRIC_2])),
        case(A(value=SYMMETRIC), "U"),
        case(A(value=SYMMETRIC)).checked(outputs=(0,)),
    ],
    np.linalg.eigvalsh: [case(A(value=SYMMETRIC)), case(A(value=[SYMMETRIC, SYMMETRIC_2]), "U")],
    np.linalg.svd: [
        case(A((3, 4)), compute_uv=False),
        case(A((2, 4, 3)), compute_uv=False),
        case(A((3, 4))).checked(outputs=(1,)),
        case(A((4, 3)), False).checked(outputs=(1,)),
        # hermitian: NumPy calls eigh, which reads the lower triangle only
        case(A(value=SYMMETRIC), compute_uv=False, hermitian=True),
        case(A(value=SYMMETRIC), hermitian=True).checked(outputs=(1,)),
        # through the singular vectors too (one vector beyond the singular values, in the
        # full_matrices cases, spans the null space and moves with the matrix)
        case(A((3, 4)), False),
        case(A((4, 3)), False),
        case(A((2, 3, 4)), False),
        case(A(value=SQUARE)),
        case(A((4, 3))),
        case(A((2, 3, 4))),
        case(A(value=SYMMETRIC), hermitian=True),
    ],
    np.linalg.matmul: [case(A((3, 4)), A((4, 2))), case(A((2, 3, 4)), A((4,)))],
    np.linalg.outer: [case(A((3,)), A((4,)))],
    np.linalg.tensordot: [case(A((2, 3, 4)), A((3, 4, 5))), case(A((2, 3)), A((3, 4)), axes=1)],
    np.matrix_transpose: [case(A((3, 4))), case(A((2, 3, 4)))],
    np.linalg.matrix_transpose: [case(A((2, 3, 4)))],
    np.vecdot: [case(A((3, 4)), A((4,))), case(A((3, 4)), A((2, 1, 4)), axis=-1)],
    np.linalg.vecdot: [case(A((3, 4)), A((3, 4))), case(A((4, 3)), A((4, 1)), axis=0)],
    np.matvec: [
        case(A((3, 4)), A((4,))),
        case(A((2, 3, 4)), A((4,))),
        case(A((3, 4)), A((2, 4))),
    ],
    np.vecmat: [
        case(A((3,)), A((3, 4))),
        case(A((2, 3)), A((3, 4))),
        case(A((3,)), A((2, 3, 4))),
    ],
    np.linalg.cross: [case(A((3,)), A((3,))), case(A((3, 4)), A((3, 4)), axis=0)],
    np.linalg.diagonal: [case(A((3, 4))), case(A((2, 3, 4)), offset=1)],
    np.linalg.trace: [case(A((3, 4))), case(A((2, 4, 3)), offset=-1)],
    np.linalg.vector_norm: [
        case(A((5,))),
        case(A((3, 4))),
        case(A((3, 4)), axis=1, keepdims=True),
        case(A((2, 3, 4)), axis=(0, 2)),
        case(A((5,)), ord=1),
        case(A((3, 4)), axis=0, ord=3),
        case(A((3, 4)), ord=4),
    ],
    np.linalg.matrix_norm: [
        case(A((3, 4))),
        case(A((2, 3, 4)), keepdims=True),
        case(A((3, 4)), ord="nuc"),
        case(A((3, 4)), ord=1),
        case(A((2, 3, 3)), ord=2),
    ],
    np.linalg.svdvals: [case(A((3, 4))), case(A((2, 4, 3)))],
    np.linalg.cond: [
        case(A(value=SQUARE)),
        case(A((4, 3)), 2),
        case(A(value=[SQUARE, SQUARE_2]), -2),
        case(A(value=SQUARE), "fro"),
        case(A(value=SQUARE_2), 1),
        case(A(value=[SQUARE, SQUARE_2]), np.inf),
        case(A(value=SQUARE), "nuc"),
        case(A(value=SQUARE_2), -np.inf),
    ],
    np.polyfit: [
        case(A(value=[-1.0, -0.4, 0.3, 0.9, 1.6, 2.2]), A((6,)), 2),
        case(A(value=[-1.0, -0.4, 0.3, 0.9, 1.6]), A((5, 2)), 1, w=A((5,), **POS)),
        case(A(value=[0.1, 0.5, 0.8, 1.3]), A((4,)), 3, None, False, A((4,), **POS)),
    ],
    # a general matrix with real eigenvalues (and a symmetric one)
    np.linalg.eig: [
        case(A(value=SYMMETRIC)),
        case(A(value=GENERAL)),
        case(A(value=[GENERAL, SYMMETRIC_2])),
        case(A(value=GENERAL)).checked(outputs=(0,)),
    ],
    np.linalg.eigvals: [case(A(value=GENERAL)), case(A(value=[SYMMETRIC, SYMMETRIC_2]))],
    np.linalg.lstsq: [
        case(A((5, 3)), A((5,))),
        case(A((5, 3)), A((5, 2))),
        case(A(value=SQUARE), A((3,))),
        case(A((2, 4)), A((2,)), rcond=None),
    ],
    np.linalg.multi_dot: [
        case([A((2, 3)), A((3, 4))]),
        case([A((3,)), A((3, 4)), A((4, 2)), A((2,))]),
        case([A((2, 3)), A((3, 3)), A((3,))]),
    ],
    np.linalg.matrix_power: [
        case(A((3, 3), low=-0.6, high=0.6), 3),
        case(A((2, 3, 3), low=-0.6, high=0.6), 2),
        case(A(value=SQUARE), -2),
        case(A(value=SQUARE), 0),
        case(A(value=SQUARE), 1),
    ],
    np.linalg.tensorinv: [case(A(value=TENSOR_6.reshape(2, 3, 6))), case(A(value=TENSOR_4), 1)],
    np.linalg.tensorsolve: [
        case(A(value=TENSOR_6.reshape(2, 3, 6)), A((2, 3))),
        case(A(value=TENSOR_6.reshape(6, 2, 3)), A((2, 3)), axes=(0,)),
    ],
    np.vander: [case(A((4,))), case(A((3,)), 5), case(A((4,)), 3, True)],
    linalg_more.lstsq_parts: [case(A((3,)), A((1,)), np.array(3), A((3,)))],
    np.polyval: [
        case(A((4,)), A((5,))),
        case(A((3,)), A((2, 3))),
        case(A((1,)), A((3,))),
        case(A((3,)), A("float")),
    ],
    # -- selection, creation, casts --------------------------------------------------------------
    np.take: [
        case(A((5,)), [1, 1, 3]),
        case(A((3, 4)), np.array([0, 2, 2]), axis=1),
        case(A((3, 4)), 5),
        case(A((3, 4)), [[0, 1], [2, 2]], axis=0),
        case(A((4,)), [-1, 5], mode="wrap"),
        case(A((4,)), [0, 7], mode="clip"),
    ],
    np.take_along_axis: [
        case(A((3, 4)), np.array([[0, 0, 3], [1, 2, 1], [3, 3, 3]]), 1),
        case(A((3, 4)), np.array([[2, 0, 1, 1]]), 0),
        case(A((3, 4)), np.array([0, 11, 11]), None),
    ],
    np.sort: [case(A((5,))), case(A((3, 4)), axis=0), case(A((3, 4)), axis=None)],
    np.array: [
        case([A((3,)), A((3,))]),
        case([A("float"), A("float"), A("float")]),
        case((A((2, 2)), A((2, 2)))),
        case(A((2, 3))),
        case(A((3,)), ndmin=3),
    ],
    np.asarray: [
        case([A((2,)), A((2,)), A((2,))]),
        case([A("float"), A("float")]),
        case(A((2, 3))),
    ],
    # float32 rounds its input: a wide step keeps the rounding out of the difference
    np.partition: [
        case(A((6,)), 2),
        case(A((3, 5)), 1, axis=0),
        case(A((3, 4)), [1, 5], axis=None),
    ],
    np.select: [
        case(
            [A(value=[True, False, True], dtype=bool), A(value=[True, True, False], dtype=bool)],
            [A((3,)), A((2, 3))],
            A(()),
        ),
        case([A(value=[[False], [True]], dtype=bool)], [A((2, 3))]),
    ],
    np.linspace: [
        case(A(()), A(()), 5),
        case(A((3,)), A((2, 3)), 4, axis=1),
        case(A((3,)), A(()), 4, endpoint=False, axis=-1),
        case(A("float"), A((2,)), 1),
    ],
    # -- statistics ---------------------------------------------------------------------------
    np.median: [
        case(A((5,))),
        case(A((4,))),
        case(A((3, 4)), axis=1),
        case(A((2, 3, 4)), axis=(0, 2), keepdims=True),
    ],
    np.quantile: [
        case(A((5,)), 0.3),
        case(A((5,)), [0.2, 0.7]),
        case(A((3, 4)), A((2,), low=0.1, high=0.9), axis=0),
        case(A((2, 3, 4)), 0.7, axis=(1, 2), keepdims=True),
        case(A((6,)), A((), low=0.1, high=0.9), method="hazen"),
        case(A((6,)), 0.4, method="lower"),
        case(A((3, 5)), 0.45, axis=1, method="nearest"),
        case(A((3, 5)), 0.3, axis=-1, method="midpoint"),
    ],
    np.percentile: [
        case(A((5,)), 30.0),
        case(A((3, 4)), A((2,), low=10.0, high=90.0), axis=1, keepdims=True),
        case(A((7,)), A((), low=10.0, high=90.0), method="weibull"),
    ],
    np.nanmedian: [
        case(A((5,))),
        case(A(value=[[1.0, np.nan, 2.0, -0.5], [0.3, 3.0, np.nan, np.nan]]), axis=1),
    ],
    np.nanquantile: [
        case(A((3, 4)), 0.3, axis=0),
        case(
            A(value=[[1.0, np.nan, 2.0, -0.5], [0.3, 3.0, np.nan, 0.7]]),
            A((2,), value=[0.2, 0.6]),
            axis=1,
        ),
    ],
    np.nanpercentile: [
        case(
            A(value=[[1.0, np.nan, 2.0, -0.5], [0.3, 3.0, np.nan, 0.7]]),
            40.0,
            axis=1,
            keepdims=True,
        ),
    ],
    np.nanmax: [
        case(A((3, 4))),
        case(A(value=[[1.0, np.nan, 2.0], [np.nan, 3.0, -1.0]]), axis=1),
        case(A((2, 3, 4)), axis=(0, 2), keepdims=True),
    ],
    np.nanmin: [
        case(A((3, 4)), axis=0),
        case(A(value=[[1.0, np.nan, 2.0], [np.nan, 3.0, -1.0]]), axis=1, keepdims=True),
    ],
    np.nanvar: [
        case(A((3, 4))),
        case(A(value=[[1.0, np.nan, 2.0, 0.5], [np.nan, 3.0, -1.0, 0.2]]), axis=1),
        case(A((2, 3, 4)), axis=(0, 2), ddof=1, keepdims=True),
    ],
    np.nanstd: [
        case(A((3, 4)), axis=0),
        case(A(value=[[1.0, np.nan, 2.0, 0.5], [np.nan, 3.0, -1.0, 0.2]]), axis=1, ddof=1),
    ],
    np.nanprod: [
        case(A((3, 4))),
        case(A(value=[[1.0, np.nan, 2.0, 0.5], [np.nan, 3.0, 0.0, 0.2]]), axis=1, keepdims=True),
    ],
    np.ptp: [
        case(A((5,))),
        case(A((3, 4)), axis=1),
        case(A((2, 3, 4)), axis=(0, 2), keepdims=True),
    ],
    np.cov: [
        case(A((3, 5))),
        case(A((5,))),
        case(A((5, 3)), rowvar=False),
        case(A((2, 5)), A((5,)), ddof=0),
        case(A((6, 2)), A((6, 3)), rowvar=False, bias=True),
    ],
    np.corrcoef: [
        case(A((3, 5))),
        case(A((5,)), A((5,))),
        case(A((5, 2)), A((5, 2)), rowvar=False),
    ],
    np.trapezoid: [
        case(A((5,))),
        case(A((3, 4)), axis=0),
        case(A((3, 4)), None, A((), **POS)),
        case(A((3, 4)), np.array([0.0, 0.5, 1.5, 1.75])),
        case(A((3, 4)), np.array([[0.0], [0.3], [1.0]]) * np.ones(4), axis=0),
        case(A((2, 4)), dx=A("float", **POS)),
        # sample points that move: each moves the integral by its intervals' mean heights
        case(A((3, 4)), A(value=[0.0, 0.5, 1.5, 1.75])),
        case(A((3, 4)), A(value=np.array([[0.0], [0.3], [1.0]]) * np.ones(4)), axis=0),
        case(A((2, 3, 4)), A(value=[0.0, 0.4, 1.1]), axis=1),
    ],
    np.ediff1d: [
        case(A((5,))),
        case(A((2, 3))),
        case(A((4,)), A((2,)), A(())),
        case(A((3,)), to_begin=A((2, 1))),
    ],
    np.cumulative_sum: [
        case(A((5,))),
        case(A((3, 4)), axis=1),
        case(A((3, 4)), axis=0, include_initial=True),
    ],
    np.cumulative_prod: [
        case(A((5,))),
        case(A((3, 4)), axis=1, include_initial=True),
        case(A(value=[[2.0, 0.0, 3.0, 0.5], [0.0, 0.0, 1.5, 2.0]]), axis=1),
    ],
    np.interp: [
        case(A((6,), low=-0.5, high=3.5), np.array([0.0, 1.0, 1.5, 3.0]), A((4,))),
        case(A((2, 3), low=0.1, high=2.9), A((4,), value=[0.0, 1.0, 1.5, 3.0]), A((4,))),
        case(A(value=[-1.0, 0.5, 4.0]), np.array([0.0, 1.0, 3.0]), A((3,)), A(()), A(())),
        case(A("float", low=0.1, high=2.9), np.array([0.0, 1.0, 3.0]), A((3,)), right=2.0),
    ],
    np.convolve: [
        case(A((5,)), A((3,))),
        case(A((3,)), A((5,)), "same"),
        case(A((4,)), A((4,)), mode="same"),
        case(A((6,)), A((3,)), "valid"),
        case(A((2,)), A((5,)), mode="valid"),
    ],
    np.correlate: [
        case(A((5,)), A((3,))),
        case(A((3,)), A((5,)), "full"),
        case(A((4,)), A((4,)), mode="same"),
        case(A((2,)), A((6,)), mode="same"),
    ],
    prim.astype: [
        case(A((3,)), np.float32).checked(eps=1e-2, rtol=1e-4),
        case(A((2, 3)), np.float64),
    ],
}
if hasattr(math, "cbrt"):  # Python 3.11+
    SPECS[math.cbrt] = [case(A((), **POS)), case(A((), low=-2.0, high=-0.5))]
    SPECS[math.exp2] = [case(A(()))]
if hasattr(np, "astype"):
    SPECS[np.astype] = [
        case(A((3,)), np.float32).checked(eps=1e-2, rtol=1e-4),
        case(A((3,)), "float64"),
    ]

# -- scipy (its rules are registered only when it imports) ------------------------------------
try:
    import scipy.special as special
except ImportError:  # pragma: no cover - scipy is optional
    special = None


def _sylvester_checked():
    from astgrad.runtime.rules.scipy_rules import sylvester_checked

    return sylvester_checked


def _sylvester_solved(a, b) -> tuple:
    """``(x, a, b, q)`` with ``x`` solving ``a x + x b = q``: the constants of a
    ``sylvester_checked`` case."""
    import scipy.linalg

    a, b = np.array(a), np.array(b)
    q = np.arange(1.0, 1.0 + a.shape[0] * b.shape[0]).reshape(a.shape[0], b.shape[0])
    return scipy.linalg.solve_sylvester(a, b, q), a, b, q


if special is not None:
    SPECS.update(
        {
            special.expit: [case(A((3, 4)))],
            special.logit: [case(A((3, 4), low=0.1, high=0.9))],
            special.log_expit: [case(A((3, 4)))],
            special.erf: [case(A((3, 4)))],
            special.erfc: [case(A((3, 4)))],
            special.erfinv: [case(A((3, 4), low=-0.9, high=0.9))],
            special.erfcinv: [case(A((3, 4), low=0.1, high=1.9))],
            special.gamma: [case(A((3, 4), **POS)), case(A((3,), low=-0.9, high=-0.1))],
            special.gammaln: [case(A((3, 4), **POS))],
            special.digamma: [case(A((3, 4), **POS))],
            special.polygamma: [case(0, A((3,), **POS)), case(2, A((3, 4), **POS))],
            special.beta: [case(A((3, 4), **POS), A((4,), **POS))],
            special.betaln: [case(A((3, 4), **POS), A((3, 1), **POS))],
            special.xlogy: [case(A((3, 4)), A((4,), **POS))],
            special.xlog1py: [case(A((3, 4)), A((3, 1), **POS))],
            special.i0: [case(A((3, 4)))],
            special.i1: [case(A((3, 4), low=0.2))],
            special.ive: [case(1.0, A((3, 4), low=0.2)), case(2.5, A((3,), low=-2.0, high=-0.2))],
            special.j0: [case(A((3, 4)))],
            special.j1: [case(A((3, 4)))],
            special.y0: [case(A((3, 4), **POS))],
            special.y1: [case(A((3, 4), **POS))],
            special.jv: [case(2, A((3, 4))), case(1.5, A((3,), **POS))],
            special.yn: [case(1, A((3, 4), **POS)), case(3, A((3,), **POS))],
            special.logsumexp: [
                case(A((3, 4))),
                case(A((3, 4)), axis=1),
                case(A((3, 4)), axis=0, keepdims=True),
                case(A((2, 3, 4)), axis=(0, 2)),
                case(A((3, 4)), axis=1, b=A((3, 4), **POS)),
                case(A((3, 4)), b=A((4,), **POS), keepdims=True),
            ],
            special.softmax: [case(A((3, 4))), case(A((3, 4)), axis=1)],
            special.log_softmax: [case(A((3, 4))), case(A((2, 3, 4)), axis=(0, 2))],
        }
    )
    import scipy.linalg
    import scipy.signal
    import scipy.stats

    SPECS.update(
        {
            scipy.linalg.solve_triangular: [
                case(A((3, 3), value=SQUARE), A((3,))),
                case(A((3, 3), value=SQUARE), A((3, 2)), lower=True),
                case(A((3, 3), value=SQUARE), A((3, 2)), trans=1),
                case(A((3, 3), value=SQUARE_2), A((3,)), trans="T", lower=True),
                case(A((3, 3), value=SQUARE), A((3, 2)), unit_diagonal=True),
            ],
            scipy.stats.norm.logpdf: [
                case(A((3, 4))),
                case(A((3, 4)), A((4,)), A((3, 1), **POS)),
                case(A((3,)), loc=A(()), scale=A((), **POS)),
            ],
            scipy.stats.norm.pdf: [case(A((3, 4)), A((4,)), A((3, 1), **POS))],
            scipy.signal.convolve: [
                case(A((5, 4)), A((3, 2))),
                case(A((3, 2)), A((5, 4)), "same"),
                case(A((4, 6)), A((4, 3)), mode="valid"),
                case(A((6,)), A((3,)), "same", "direct"),
            ],
            scipy.signal.correlate: [
                case(A((5, 4)), A((3, 2))),
                case(A((4, 6)), A((2, 3)), "same"),
                case(A((3,)), A((5,)), mode="valid"),
                case(A((6,)), A((4,)), "same", method="fft"),
            ],
            scipy.stats.t.logpdf: [
                case(A((3, 4)), A((4,), low=1.5, high=5.0)),
                case(A((3,)), A((), low=1.5, high=5.0), A((3,)), A((), **POS)),
            ],
            scipy.stats.t.pdf: [
                case(A((3, 4)), A((), low=1.5, high=5.0), A((4,)), A((3, 1), **POS))
            ],
            scipy.stats.t.cdf: [
                case(A((3, 4)), A((4,), low=1.5, high=5.0)),
                case(A((3,)), 3.0, loc=A(()), scale=A((), **POS)),
            ],
            scipy.stats.t.logcdf: [
                case(A((3, 4)), A((4,), low=1.5, high=5.0), A(()), A((), **POS))
            ],
            scipy.stats.gamma.logpdf: [
                case(A((3, 4), **POS), A((4,), **POS)),
                case(A((3,), low=1.5, high=3.0), A((), **POS), A((), high=1.0), A((), **POS)),
            ],
            scipy.stats.gamma.pdf: [case(A((3, 4), **POS), A((4,), **POS), 0.0, A((), **POS))],
            scipy.stats.gamma.cdf: [
                case(A((3, 4), **POS), A((4,), **POS)),
                case(A((3,), **POS), 2.0, scale=A((), **POS)),
            ],
            scipy.stats.gamma.logcdf: [case(A((3, 4), **POS), A((4,), **POS), A((), high=0.4))],
            scipy.stats.beta.logpdf: [
                case(XB, A((4,), **POS), A((3, 1), **POS)),
                case(
                    XB,
                    A((), **POS),
                    A((), **POS),
                    A((), low=-0.1, high=0.1),
                    A((), low=1.0, high=1.2),
                ),
            ],
            scipy.stats.beta.pdf: [case(XB, A((4,), **POS), A((3, 1), **POS))],
            scipy.stats.beta.cdf: [case(XB, A((4,), **POS), A((3, 1), **POS))],
            scipy.stats.beta.logcdf: [
                case(XB, A((4,), **POS), A((), **POS), scale=A((), low=1.0, high=1.2))
            ],
            scipy.stats.chi2.logpdf: [
                case(A((3, 4), **POS), A((4,), low=1.0, high=4.0)),
                case(
                    A((3,), low=1.5, high=3.0),
                    A((), low=1.0, high=4.0),
                    A((), high=1.0),
                    A((), **POS),
                ),
            ],
            scipy.stats.chi2.pdf: [case(A((3, 4), **POS), A((4,), low=1.0, high=4.0))],
            scipy.stats.chi2.cdf: [
                case(A((3, 4), **POS), A((4,), low=1.0, high=4.0), scale=A((), **POS))
            ],
            scipy.stats.chi2.logcdf: [case(A((3, 4), **POS), A((4,), low=1.0, high=4.0))],
            scipy.stats.poisson.logpmf: [case(np.array([0.0, 1.0, 3.0, 7.0]), A((4,), **POS))],
            scipy.stats.poisson.pmf: [case(np.array([[0.0, 2.0], [1.0, 4.0]]), A((2,), **POS))],
            scipy.stats.poisson.cdf: [case(np.array([0.0, 1.5, 3.0]), A((), **POS))],
            scipy.stats.poisson.logcdf: [case(np.array([1.0, 2.0, 3.0]), A((3,), **POS), 1)],
            scipy.stats.dirichlet.logpdf: [
                case(np.array([0.2, 0.3, 0.5]), A((3,), **POS)),
                case(np.array([[0.2, 0.1], [0.3, 0.6], [0.5, 0.3]]), A((3,), **POS)),
            ],
            scipy.stats.dirichlet.pdf: [case(np.array([0.2, 0.3, 0.5]), A((3,), **POS))],
            scipy.stats.multivariate_normal.logpdf: [
                case(A((3,)), A((3,)), A(value=SPD)),
                case(A((4, 3)), A((3,)), A(value=SPD_2)),
                case(A((2, 2, 3)), A((3,)), A((3,), **POS)),
                case(A((3,)), None, A(value=SPD)),
                case(A((2, 3)), A((3,)), A((), **POS)),
            ],
            scipy.stats.multivariate_normal.entropy: [
                case(None, A(value=SPD)),
                case(np.array([0.5, -1.0, 2.0]), A((3,), **POS)),
                case(None, A((), **POS)),
            ],
            scipy.stats.multivariate_normal.pdf: [case(A((4, 3)), A((3,)), A(value=SPD))],
            scipy.linalg.cho_factor: [
                case(A(value=SPD)),
                case(A(value=SPD_2), lower=True),
                case(A(value=SPD), True),
            ],
            # (the factor's gradient: test_scipy_rules, through cho_factor; the source
            # harness cannot differentiate the tuple (c, lower), which holds a bool)
            scipy.linalg.cho_solve: [
                case((np.linalg.cholesky(SPD), True), A((3,))),
                case((np.linalg.cholesky(SPD_2).T, False), A((3, 2))),
            ],
            scipy.linalg.lu_factor: [case(A(value=SQUARE)), case(A(value=SQUARE_2), False, True)],
            # (lu's gradient: test_coverage_more, through lu_factor, as for cho_solve)
            scipy.linalg.lu_solve: [
                case((np.array(SQUARE), np.array([2, 1, 2], dtype=np.int32)), A((3,))),
                case((np.array(SQUARE_2), np.array([0, 2, 2], dtype=np.int32)), A((3, 2)), trans=1),
                case((np.array(SQUARE), np.array([1, 1, 2], dtype=np.int32)), A((3, 2)), 2),
            ],
            scipy.linalg.block_diag: [
                case(A((2, 3)), A((3,)), A(())),
                case(A((2, 2))),
                case(A((1, 2)), A((2, 1)), A((2,)), A((2, 2)), A(()), A((3,))),
            ],
            scipy.linalg.cholesky: [
                case(A(value=SPD)),
                case(A(value=SPD_2), lower=True),
                case(A(value=SPD), False, False, False),
                case(A(value=[SPD, SPD_2]), True),
            ],
            scipy.linalg.inv: [
                case(A(value=SQUARE)),
                case(A(value=SPD), assume_a="pos"),
                case(A(value=SPD_2), assume_a="sym", lower=True),
            ],
            scipy.linalg.det: [case(A(value=SQUARE)), case(A(value=SQUARE_2))],
            scipy.linalg.solve: [
                case(A(value=SQUARE), A((3,))),
                case(A(value=SQUARE), A((3, 2)), transposed=True),
                case(A(value=SPD), A((3,)), assume_a="pos"),
                case(A(value=SPD_2), A((3, 2)), True, assume_a="sym"),
                case(A(value=SQUARE), A((3,)), assume_a="upper triangular"),
                case(A(value=SQUARE_2), A((3, 2)), assume_a="lower triangular", transposed=True),
                case(A(value=SPD), A((3,)), assume_a="diagonal"),
            ],
            scipy.linalg.expm: [
                case(A((3, 3), low=-0.5, high=0.5)),
                case(A((2, 2, 2), low=-0.5, high=0.5)),
            ],
            scipy.linalg.sqrtm: [case(A(value=SPD)), case(A(value=SPD_2))],
            scipy.linalg.solve_sylvester: [
                case(A(value=SPD), A(value=SQUARE), A((3, 3))),
                case(A(value=SQUARE), A((2, 2), value=[[1.5, 0.2], [-0.3, 2.0]]), A((3, 2))),
            ],
            # (the identity on its value once x is checked to solve a x + x b = q, which
            # SciPy's solver misses for some complex data: test_complex_decompositions)
            _sylvester_checked(): [
                case(A((3, 3)), *_sylvester_solved(SPD, SQUARE)),
                case(A((3, 2)), *_sylvester_solved(SQUARE, [[1.5, 0.2], [-0.3, 2.0]])),
            ],
            scipy.stats.norm.cdf: [case(A((3,))), case(A((3, 4)), A((4,)), A((3, 1), **POS))],
            scipy.stats.norm.logcdf: [
                case(A((3,))),
                case(A((3, 4)), A((4,)), A((3, 1), **POS)),
            ],
        }
    )


# runtime/rules/complex.py's rules on real inputs (tests/test_complex.py checks every rule on
# complex ones); the fft family's results are complex, contracted by their real part
SPECS.update(
    {
        np.angle: [case(A((3,))), case(A((2, 3)), deg=True)],
        np.sign: [case(A((3,))), case(A((2, 3)))],
        np.fft.fft: [case(A((4,))), case(A((3, 4)), n=6), case(A((4, 3)), axis=0, norm="ortho")],
        np.fft.ifft: [case(A((4,))), case(A((3, 5)), n=3, norm="forward")],
        np.fft.fftn: [case(A((3, 4))), case(A((2, 3, 4)), s=(2, 5), norm="ortho")],
        np.fft.ifftn: [case(A((3, 4))), case(A((2, 3, 4)), axes=(0, 2))],
        np.fft.fft2: [case(A((3, 4))), case(A((2, 3, 4)), s=(4, 2))],
        np.fft.ifft2: [case(A((3, 4))), case(A((3, 4)), norm="ortho")],
        np.fft.rfft: [case(A((5,))), case(A((3, 6)), n=8), case(A((6, 2)), axis=0, norm="ortho")],
        np.fft.irfft: [
            case(A((5,))),
            case(A((3, 4)), n=7),
            case(A((4, 2)), axis=0, norm="forward"),
        ],
        np.fft.fftshift: [case(A((5,))), case(A((3, 4)), axes=1)],
        np.fft.ifftshift: [case(A((5,))), case(A((3, 4)), axes=(0,))],
        complex_rules.refuse_complex: [case(A((3,)), np.zeros(3), "np.var")],
        complex_rules.real_like: [case(A((3,)), np.zeros(3)), case(A((2,)), np.ones(2) * 1j)],
    }
)


def _helper_specs() -> dict:
    """Cases of the helpers of generated gradient code with rules of their own
    (runtime/rules/helper_rules.py): the cotangent moves (and a product's other factor);
    what gives only a shape, a dtype or options is a constant."""
    from astgrad.runtime.rules import arithmetic, selection, shared

    return {
        reductions.centered: [case(A((4,))), case(A((2, 3)), 1), case(A((2, 3)), (0, 1))],
        reductions.cumsum_grad: [
            case(A((4,)), np.zeros(4), 0),
            case(A((2, 3)), np.zeros((2, 3)), 1),
            case(A((6,)), np.zeros((2, 3))),
        ],
        reductions.trace_grad: [
            case(A(()), np.zeros((3, 3))),
            case(A(()), np.zeros((3, 4)), 1),
            case(A((2,)), np.zeros((3, 2, 3)), -1, 0, 2),
        ],
        selection.sort_grad: [
            case(A((4,)), np.array([0.3, -1.0, 2.0, 0.5])),
            case(A((2, 3)), np.array([[1.0, -1.0, 0.0], [0.5, 2.0, -3.0]]), 0),
            case(A((4,)), np.array([[0.3, -1.0], [2.0, 0.5]]), None),
        ],
        shared.unbroadcast: [
            case(A((2, 3)), np.zeros(3)),
            case(A((4, 2, 3)), np.zeros((2, 1))),
            case(A((3,)), np.zeros(3)),
        ],
        shared.expand_reduced: [
            case(A(()), np.zeros((2, 3))),
            case(A((2,)), np.zeros((2, 3)), 1),
            case(A((1, 3)), np.zeros((2, 3)), 0, True),
            case(A((3,)), np.zeros((2, 3)), 0, False, np.array([[True], [False]])),
        ],
        shared.reshape_like: [case(A((6,)), np.zeros((2, 3))), case(A((2, 2)), np.zeros(4))],
        shared.cast_like: [
            case(A((3,)), np.zeros(3)),
            case(A((2, 2)), np.zeros((2, 2), dtype=np.float32)).checked(rtol=1e-3, eps=1e-3),
        ],
        complex_rules.conjugate_if_complex: [case(A((3,)), np.zeros(3))],
        arithmetic.matmul_grad_left: [
            case(A((2, 4)), np.zeros((2, 3)), A((3, 4))),
            case(A((2,)), np.zeros((2, 3)), A((3,))),
            case(A((4,)), np.zeros(3), A((3, 4))),
            case(A(()), np.zeros(3), A((3,))),
            case(A((5, 2, 4)), np.zeros((2, 3)), A((5, 3, 4))),
        ],
        arithmetic.matmul_grad_right: [
            case(A((2, 4)), A((2, 3)), np.zeros((3, 4))),
            case(A((2,)), A((2, 3)), np.zeros(3)),
            case(A((4,)), A((3,)), np.zeros((3, 4))),
            case(A(()), A((3,)), np.zeros(3)),
            case(A((5, 2, 4)), A((5, 2, 3)), np.zeros((3, 4))),
        ],
        arithmetic.dot_grad_left: [
            case(A((2, 4)), np.zeros((2, 3)), A((3, 4))),
            case(A((2,)), np.zeros((2, 3)), A((3,))),
            case(A(()), np.zeros(3), A((3,))),
            case(A((2, 5, 4)), np.zeros((2, 3)), A((5, 3, 4))),
        ],
        arithmetic.dot_grad_right: [
            case(A((2, 4)), A((2, 3)), np.zeros((3, 4))),
            case(A((4,)), A((3,)), np.zeros((3, 4))),
            case(A(()), A((3,)), np.zeros(3)),
            case(A((2, 5, 4)), A((2, 3)), np.zeros((5, 3, 4))),
        ],
    }


SPECS.update(_helper_specs())


def shipped_rules() -> list:
    """The table astgrad ships: rules defined in its rule modules (tests, and the
    docstring examples a doctest run registers, add rules of their own)."""
    from astgrad.runtime.rules import all_rules

    return [
        r
        for r in all_rules()
        if r.vjp.__module__.startswith("astgrad.runtime.rules")
        and not r.vjp.__code__.co_filename.startswith("<doctest")
    ]


def _helper_groups() -> list:
    """The modules of cases for helpers' rules, one per family of helpers."""
    import importlib

    return [
        importlib.import_module(f"rule_specs_helpers_{group}")
        for group in ("structure", "linalg", "reductions", "runtime")
    ]


for _group in _helper_groups():
    SPECS.update(_group.SPECS)

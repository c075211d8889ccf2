"""Complex numbers in the rule table: the harness that checks every rule of
``rule_specs.SPECS`` on complex inputs (``rule_specs`` holds the cases of
``runtime/rules/complex.py``'s rules, on real inputs, as for every rule).

The convention (docs/complex.md): for a real ``L`` of a complex ``z = x + iy`` the
gradient is ``dL/dx - 1j * dL/dy``; a cotangent ``c`` of a result ``w`` stands for
``L = Re(sum(c * w))``. A real input's gradient is the real part of what its rule gives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from rule_specs import get_at, replace_at


def complexify(call: tuple, paths: list, rng: np.random.Generator) -> tuple:
    """The call with each input at ``paths`` given a random imaginary part."""
    for path in paths:
        value = get_at(call, path)
        if isinstance(value, float):
            call = replace_at(call, path, complex(value, rng.uniform(-1, 1)))
        else:
            imaginary = rng.uniform(-1, 1, np.shape(value))
            call = replace_at(call, path, value + 1j * imaginary)
    return call


def complex_cotangent(out: Any, rng: np.random.Generator) -> Any:
    """A random complex cotangent shaped like ``out`` (a tuple of them for several)."""
    if isinstance(out, (list, tuple)):
        return tuple(complex_cotangent(o, rng) for o in out)
    shape = np.shape(out)
    return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)


def real_contract(out: Any, c: Any) -> float:
    """``Re(sum(c * out))``, over every result when there are several."""
    if isinstance(out, (list, tuple)):
        return sum(real_contract(o, ci) for o, ci in zip(out, c))
    return float(np.real(np.sum(np.asarray(out) * c)))


def complex_gradient(at: Callable[[Any], float], x: Any, eps: float = 1e-6) -> Any:
    """The gradient of the real function ``at`` at ``x`` by central differences, in the
    convention: ``dL/dRe - 1j * dL/dIm`` for a complex ``x``; ``dL/dx`` for a real one."""
    if isinstance(x, (float, complex)):
        grad: Any = (at(x + eps) - at(x - eps)) / (2 * eps)
        if isinstance(x, complex):
            grad -= 1j * (at(x + 1j * eps) - at(x - 1j * eps)) / (2 * eps)
        return grad
    x = np.asarray(x)
    steps = (1, 1j) if x.dtype.kind == "c" else (1,)
    grad = np.zeros(x.shape, dtype=complex if x.dtype.kind == "c" else float)
    for index in np.ndindex(x.shape):
        for step in steps:
            moved = x.copy()
            moved[index] += step * eps
            up = at(moved)
            moved[index] -= 2 * step * eps
            down = at(moved)
            # the real step adds to the real part, the imaginary one subtracts from the
            # imaginary part: conj(step) is 1 or -1j
            grad[index] += np.conj(step) * (up - down) / (2 * eps)
    return grad


def numeric_complex_vjp(f: Callable, call: tuple, path: tuple, c: Any, eps: float = 1e-6) -> Any:
    """The vjp of ``f`` at ``call`` for the input at ``path`` and cotangent ``c``, by
    central differences of ``Re(sum(c * f(...)))``."""

    def at(value: Any) -> float:
        args, kwargs = replace_at(call, path, value)
        return real_contract(f(*args, **kwargs), c)

    return complex_gradient(at, get_at(call, path), eps)


def directional(f: Callable, call: tuple, tangents: dict, eps: float = 1e-6) -> Any:
    """``(f(x + eps t) - f(x - eps t)) / (2 eps)``: the tangent of ``f``'s result along
    ``tangents`` (a path -> tangent map), for results of any dtype."""

    def moved(sign: float) -> Any:
        moved_call = call
        for path, t in tangents.items():
            moved_call = replace_at(moved_call, path, get_at(call, path) + sign * eps * t)
        return f(*moved_call[0], **moved_call[1])

    up, down = moved(1.0), moved(-1.0)
    if isinstance(up, (list, tuple)):
        # (a flag among the results, as cho_factor's lower, does not move)
        return tuple(
            np.zeros(np.shape(u))
            if isinstance(u, bool)
            else (np.asarray(u) - np.asarray(d)) / (2 * eps)
            for u, d in zip(up, down)
        )
    return (np.asarray(up) - np.asarray(down)) / (2 * eps)

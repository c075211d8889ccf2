"""Central finite differences in float64, the reference every gradient test compares to."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def numeric_vjp(f: Callable, args: list, index: int, cotangent: Any, eps: float = 1e-6) -> Any:
    """d/d args[index] of sum(f(*args) * cotangent), by central differences.

    ``args[index]`` may be a float or a float64 array; the result has its shape.
    """

    def scalar(value: Any) -> float:
        out = f(*args[:index], value, *args[index + 1 :])
        if isinstance(out, tuple):
            return float(
                sum(np.sum(np.asarray(o) * c) for o, c in zip(out, cotangent) if c is not None)
            )
        return float(np.sum(np.asarray(out) * cotangent))

    x = args[index]
    if isinstance(x, float):
        return (scalar(x + eps) - scalar(x - eps)) / (2 * eps)
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    flat = x.reshape(-1)
    grad_flat = grad.reshape(-1)
    for i in range(flat.size):
        keep = flat[i]
        flat[i] = keep + eps
        up = scalar(x.copy())
        flat[i] = keep - eps
        down = scalar(x.copy())
        flat[i] = keep
        grad_flat[i] = (up - down) / (2 * eps)
    return grad


def assert_close(
    actual: Any, expected: Any, rtol: float = 1e-5, atol: float = 1e-7, what: str = ""
) -> None:
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)

"""Rules for one-dimensional convolution and correlation: ``np.convolve`` and
``np.correlate``.

Both are linear in each argument. Every mode's result is a window of the full
convolution, centred in it (``same`` and ``valid`` alike start ``(full - out) // 2`` in),
so the gradient of either argument is the full convolution's: the cotangent, padded back
to the full length, correlated with the other argument.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .complex import conjugate_if_complex, conjugated
from .forward import jvp_rule
from .registry import nondifferentiable, vjp_rule


@vjp_rule(np.convolve)
def convolve(g, ans, a, v, mode="full"):
    full = full_cotangent(g, np.size(a) + np.size(v) - 1)
    # (np.correlate conjugates its second argument, which convolve's transpose does not)
    return np.correlate(full, conjugated(v), "valid"), np.correlate(full, conjugated(a), "valid")


@jvp_rule(np.convolve)
def convolve_jvp(ans, a, v, mode="full", *, da, dv):
    return np.convolve(da, v, mode), np.convolve(a, dv, mode)


# correlate(a, v) is convolve(a, v[::-1]) in every mode, but for the window: where v is
# the longer, NumPy swaps the two and reverses the result, and an uneven margin falls the
# other way.
@vjp_rule(np.correlate)
def correlate(g, ans, a, v, mode="valid"):
    full = full_cotangent(g, np.size(a) + np.size(v) - 1, np.size(v) > np.size(a))
    # correlate conjugates v: the sum of a[n + k] * conj(v[n])
    return (
        np.convolve(full, conjugated(v), "valid"),
        conjugate_if_complex(np.flip(np.correlate(full, conjugated(a), "valid")), v),
    )


@jvp_rule(np.correlate)
def correlate_jvp(ans, a, v, mode="valid", *, da, dv):
    return np.correlate(da, v, mode), np.correlate(a, dv, mode)


# -- helpers the rules above call (generated code calls them by these names) ----------------


def full_cotangent(g: Any, full: Any, later: bool = False) -> Any:
    """The cotangent of a window of a full convolution (``full`` long in each axis; a
    number, or a tuple for each axis) as the full convolution's: ``g`` with zeros around it
    (the more of them before it where the margin is uneven, if ``later``).

    >>> full_cotangent(np.array([1.0, 2.0]), 4)
    array([0., 1., 2., 0.])
    """
    return np.pad(g, window_padding(np.shape(g), full, later))


def window_padding(shape: tuple, full: Any, later: bool = False) -> list:
    """The zeros before and after a centred window of ``shape`` in each axis of ``full``."""
    lengths = full if isinstance(full, tuple) else (full,)
    return [((n - k + later) // 2, n - k - (n - k + later) // 2) for k, n in zip(shape, lengths)]


nondifferentiable(window_padding)

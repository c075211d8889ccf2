"""Rules for ``scipy.signal.convolve`` and ``correlate`` (any number of dimensions, every
mode), registered once the program has imported ``scipy.signal``.

As for ``np.convolve``: each mode's result is a window of the full convolution, centred
in it, so each argument's gradient is the full convolution's, the cotangent padded back
to the full shape and correlated with the other argument. ``correlate(a, v)`` is
``convolve(a, v)`` with ``v`` flipped along every axis (real arrays).
"""

import numpy as np
import scipy.signal as signal

from .complex import conjugate_if_complex, conjugated
from .forward import jvp_rule
from .registry import nondifferentiable, vjp_rule
from .scipy_rules import _recording
from .signal import full_cotangent


@vjp_rule(signal.convolve, name="signal_convolve")
def convolve(g, ans, in1, in2, mode="full", method="auto"):
    full = full_cotangent(g, full_shape(in1, in2))
    # (correlate conjugates its second argument, which convolve's transpose does not)
    return (
        _correlate(full, conjugated(in2), "valid"),
        _correlate(full, conjugated(in1), "valid"),
    )


@jvp_rule(signal.convolve)
def convolve_jvp(ans, in1, in2, mode="full", method="auto", *, din1, din2):
    return _convolve(din1, in2, mode), _convolve(in1, din2, mode)


@vjp_rule(signal.correlate, name="signal_correlate")
def correlate(g, ans, in1, in2, mode="full", method="auto"):
    full = full_cotangent(g, full_shape(in1, in2))
    # correlate conjugates in2: the sum of in1[n + k] * conj(in2[n])
    return (
        _convolve(full, conjugated(in2), "valid"),
        conjugate_if_complex(np.flip(_correlate(full, conjugated(in1), "valid")), in2),
    )


@jvp_rule(signal.correlate)
def correlate_jvp(ans, in1, in2, mode="full", method="auto", *, din1, din2):
    return _correlate(din1, in2, mode), _correlate(in1, din2, mode)


_convolve = _recording(signal.convolve)
_correlate = _recording(signal.correlate)


def full_shape(in1, in2):
    """The shape of the full convolution of ``in1`` and ``in2``."""
    return tuple(n + m - 1 for n, m in zip(np.shape(in1), np.shape(in2)))


nondifferentiable(full_shape)

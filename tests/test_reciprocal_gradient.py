"""``1 / y``'s gradient is written ``-g * ans * ans`` (transform/inline.py,
``_reciprocal_gradient``), where the rule of ``x / y`` gives ``-g * ans / y``: the same
value to rounding, a product instead of a division. Other numerators keep the rule's
form. Gradients against the tape and central differences, in source mode.
"""

from __future__ import annotations

import numpy as np
from numeric import assert_close, numeric_vjp

import astgrad as ag


def inverse_cube(r):
    return np.sum(1.0 / (r * r * r))


def sigmoid_sum(z, w):
    return np.sum(1 / (1 + np.exp(-(z * w))))


def scaled_inverse(r):
    return np.sum(2.0 / (r * r))


def scalar_reciprocal(r):
    s = 0.0
    for i in range(3):
        s = s + 1.0 / (r + i)
    return s


def _matches(function, args, wrt):
    got = ag.grad(function, wrt=wrt, mode="source")(*args)
    want = ag.grad(function, wrt=wrt, mode="tape")(*args)
    gots = got if isinstance(wrt, tuple) else (got,)
    wants = want if isinstance(wrt, tuple) else (want,)
    positions = wrt if isinstance(wrt, tuple) else (wrt,)
    for position, g, w in zip(positions, gots, wants, strict=True):
        assert_close(g, w, rtol=1e-13, atol=1e-14)
        numeric = numeric_vjp(function, list(args), position, 1.0)
        assert_close(g, numeric, rtol=1e-5, atol=1e-7)


def _gradient_lines(source: str) -> list[str]:
    """The lines of the backward statements (from the first ``# grad of:`` on)."""
    lines = source.splitlines()
    first = next(i for i, ln in enumerate(lines) if "# grad of:" in ln)
    return [ln for ln in lines[first:] if not ln.lstrip().startswith("#")]


def test_reciprocals_multiply_instead_of_dividing():
    r = np.linspace(0.8, 1.6, 5)
    _matches(inverse_cube, (r,), 0)
    # (dr = -dtotal * div * div * (...): no division in the backward statements)
    source = ag.source(inverse_cube, r)
    assert not any(" / " in ln for ln in _gradient_lines(source)), source
    assert "div * div" in source, source
    _matches(scalar_reciprocal, (0.7,), 0)
    assert "div * div" in ag.source(scalar_reciprocal, 0.7)
    z, w = np.linspace(-2.0, 2.0, 6), np.linspace(0.5, 1.5, 6)
    _matches(sigmoid_sum, (z, w), (0, 1))


def test_another_numerator_keeps_the_division():
    r = np.linspace(0.8, 1.6, 5)
    _matches(scaled_inverse, (r,), 0)
    source = ag.source(scaled_inverse, r)
    assert any(" / " in ln for ln in _gradient_lines(source)), source

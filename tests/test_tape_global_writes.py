"""A function run on the tape that rebinds a global (``global S; S = x``): every later
read, its own and other functions', sees the new value, as calling it does (the tape's
globals shim once took the write, and the gradient silently lost the term)."""

from __future__ import annotations

import math

import pytest

import astgrad as ag

S = 1.0


def read():
    return S


def rebinds_a_global(x):
    global S
    S = x
    return read() * x


def rebinds_inside_a_helper(x):
    def store(v):
        global S
        S = v

    store(x * 2.0)
    return read() * x


def uses_math_after_rebinding(x):
    global S
    S = x
    return math.sin(S)


@pytest.mark.parametrize("mode", ["tape", "auto"])
def test_a_global_rebound_on_the_tape_is_read_back(mode):
    global S
    S = 1.0
    assert ag.grad(rebinds_a_global, mode=mode)(3.0) == pytest.approx(6.0)  # d(x*x)
    S = 1.0
    assert ag.grad(rebinds_inside_a_helper, mode=mode)(3.0) == pytest.approx(12.0)  # d(2x*x)


def test_math_in_such_a_function_says_so_rather_than_drop_the_gradient():
    with pytest.raises(ag.GradientLostError):
        ag.grad(uses_math_after_rebinding, mode="tape")(0.3)

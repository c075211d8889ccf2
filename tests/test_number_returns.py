"""A name bound to what a function of yours returns is known to hold a number when the
function, given numbers, returns a number on every path (``effects.returns_number``).

Then ``t = helper(t, t)`` in a loop, or ``t += helper(t, -0.3)``, keeps ``t`` a number:
the callee's ``q *= v`` rebinds its own number and no other name can see a change, so the
function stays in source (two random scalar programs, 839 and 1076, went to the tape for
this). Where the function may return an array, a ``None`` or anything not shown to be a
number, nothing changes: the in-place analysis treats the result as an object.
"""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest
from astgrad.transform.effects import returns_number
from modules import write_module
from numeric import assert_close, numeric_vjp

import astgrad as ag

SOURCE = textwrap.dedent(
    """
    import math

    import numpy as np


    def damp(p, q):
        q *= 0.9 + 0.1 * math.tanh(p * q)
        return q * 0.71


    def shift(p, s=0.5):
        p += s * math.sin(p)
        return p


    def maybe(p):
        if p > 0.0:
            return p * 2.0


    def either(p):
        if p > 0.0:
            return p * 2.0
        return -p


    def recursive(p):
        return p if p < 0.1 else recursive(p * 0.5)


    def as_array(p):
        return np.ones(3) * p


    def with_none_default(p, s=None):
        return p


    def chained(a, b):
        t = a * b
        k = 0
        while k < 3:
            t = damp(t, t)
            k += 1
        t += 0.2 * shift(t) * shift(b, 0.25)
        return t * a + b


    def aliased_array(a):
        t = as_array(a)
        u = t
        t += a * a
        return np.sum(u * a)
    """
)


@pytest.fixture(scope="module")
def module(tmp_path_factory):
    loaded = write_module(tmp_path_factory.mktemp("number_returns"), "number_returns", SOURCE)
    yield loaded
    sys.modules.pop("number_returns", None)


def test_which_functions_return_numbers(module):
    assert returns_number(module.damp, 2)
    assert returns_number(module.shift, 1) and returns_number(module.shift, 2)
    assert returns_number(module.either, 1)
    assert not returns_number(module.maybe, 1)  # (None when p <= 0)
    assert not returns_number(module.recursive, 1)  # (recursion is not followed)
    assert not returns_number(module.as_array, 1)
    assert not returns_number(module.with_none_default, 1)
    assert not returns_number(module.damp, 1)  # (q has no default)
    assert not returns_number(np.tanh, 1)


@pytest.mark.parametrize("mode", ["source", "auto", "tape"])
def test_a_number_kept_through_helpers_in_a_loop_is_source_and_right(mode, module):
    a, b = 0.4, -0.3
    got = ag.grad(module.chained, wrt=(0, 1), mode=mode)(a, b)
    for position, g in enumerate(got):
        want = numeric_vjp(module.chained, [a, b], position, 1.0)
        assert_close(g, want, rtol=1e-7, atol=1e-9, what=f"d/d{'ab'[position]}")
    assert ag.explain(module.chained, a, b, wrt=(0, 1)).mode == "source"


def test_an_array_from_a_helper_is_still_followed_as_memory(module):
    a = 0.7
    want = numeric_vjp(module.aliased_array, [a], 0, 1.0)
    assert_close(ag.grad(module.aliased_array, mode="auto")(a), want, rtol=1e-7, atol=1e-9)
    try:
        got = ag.grad(module.aliased_array, mode="source")(a)
    except ag.TransformError as error:
        assert "t += a * a" in str(error)
    else:
        assert_close(got, want, rtol=1e-7, atol=1e-9, what="source")

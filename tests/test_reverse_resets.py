"""reverse writes ``d<name> = 0`` after a binding's adjoint only where something the
backward pass runs afterwards could read it: never for a name bound once outside every
loop, always for a name bound again, bound in a loop, a parameter rebound, or where a
statement of a kind it does not count (``with``) could bind it. Each case's gradient
against finite differences; the reverse stage's text says which resets were written."""

from __future__ import annotations

import numpy as np
import pytest
from numeric import assert_close, numeric_vjp

import astgrad as ag


def bound_once(x):
    s = np.sin(x)
    t = s * s
    return np.sum(t * x)


def bound_twice(x):
    s = np.sin(x)
    t = s * x
    s = np.cos(t)
    return np.sum(s * t)


def bound_in_both_arms(x, flag):
    if flag:
        s = np.sin(x)
    else:
        s = np.cos(x)
    return np.sum(s * x)


def bound_in_a_loop(x, n):
    total = 0.0
    for _ in range(n):
        s = np.sin(x)
        total = total + np.sum(s * x)
        x = x * 0.5
    return total


def parameter_rebound(x):
    x = np.tanh(x)
    return np.sum(x * x)


def inside_with(x):
    s = np.sin(x)
    with np.errstate(divide="ignore"):
        s = s * x
    return np.sum(s * x)


CASES = {
    "bound_once": (bound_once, (np.linspace(0.1, 0.9, 4),)),
    "bound_twice": (bound_twice, (np.linspace(0.1, 0.9, 4),)),
    "bound_in_both_arms": (bound_in_both_arms, (np.linspace(0.1, 0.9, 4), True)),
    "bound_in_both_arms_else": (bound_in_both_arms, (np.linspace(0.1, 0.9, 4), False)),
    "bound_in_a_loop": (bound_in_a_loop, (np.linspace(0.1, 0.9, 4), 3)),
    "parameter_rebound": (parameter_rebound, (np.linspace(0.1, 0.9, 4),)),
    "inside_with": (inside_with, (np.linspace(0.1, 0.9, 4),)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_gradients_match_finite_differences(case):
    function, args = CASES[case]
    gradient = ag.grad(function, wrt=0, mode="source")(*args)
    expected = numeric_vjp(function, list(args), 0, 1.0)
    assert_close(gradient, expected, what=case)


def reverse_stage(function, *args):
    return ag.source(function, *args, wrt=0, stage="reverse")


def test_no_reset_for_a_name_bound_once_outside_loops():
    backward = reverse_stage(bound_once, np.ones(3)).split("# backward")[1]
    assert "ds = 0" in backward  # the zero every adjoint starts from
    assert backward.count("ds = 0") == 1 and backward.count("dt = 0") == 1


def test_resets_kept_where_a_later_adjoint_could_read_them():
    # (a ``with`` block's bindings are not counted: every reset is kept there)
    assert "ds = 0" in reverse_stage(inside_with, np.ones(3)).split("# backward")[1]
    backward = reverse_stage(bound_twice, np.ones(3)).split("# backward")[1]
    assert backward.count("ds = 0") == 3  # the start, and after each binding's adjoint
    loop = reverse_stage(bound_in_a_loop, np.ones(3), 2).split("# backward")[1]
    assert loop.count("ds = 0") == 2  # the start, and in the replayed loop's body

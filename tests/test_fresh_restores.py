"""Restores of an array's overwritten elements where the array was made new in the same
step (optimize.fresh_aliases): dropped where nothing made between the allocation and the
write can hold the array, kept where something can, and every gradient against finite
differences. The programs are hostile: views, lists and dicts holding the array, an alias
followed by another write, allocations in a branch, and buffers that rotate."""

from __future__ import annotations

import numpy as np
import pytest
from numeric import assert_close, numeric_vjp

import astgrad as ag


def heat(u0, k, steps=4):
    # (tests/test_jit_buffers.py compiles it too)
    u = u0.copy()
    n = u.shape[0]
    for _ in range(steps):
        new = u.copy()
        c = k / (1.0 + np.sum(u * u))
        for i in range(1, n - 1):
            new[i] = u[i] + c * (u[i - 1] - 2.0 * u[i] * u[i] + u[i + 1])
        u = new
    return np.sum(u * u)


def view_read_before_write(u0, k):
    # v, a view of this step's array made before the write, is read for its values by
    # the backward pass of c: the write's restore must stay
    u = u0.copy()
    s = 0.0
    for _ in range(3):
        new = u * 1.0
        v = new[1:]
        c = np.sum(v * v) * k
        new[2] = c * u[1]
        s = s + np.sum(new * new)
        u = new
    return s


def copy_read_before_write(u0, k):
    # w is another array (a copy): the restore of new's elements goes
    u = u0.copy()
    for _ in range(3):
        new = u.copy()
        w = new.copy()
        c = np.sum(w * w) * k
        new[1] = c * u[2]
        u = new
    return np.sum(u * u)


def branch_allocation(u0, k):
    # new is the last step's array on odd steps: no allocation reaches the write
    u = u0.copy()
    for t in range(3):
        if t % 2 == 0:
            new = u.copy()
        else:
            new = u
        c = np.sum(new * new) * k
        new[1] = c * u[2]
        u = new * 1.0
    return np.sum(u * u)


def allocated_before_the_loop(u0, k):
    # made new once, written in every step, and read for its values after the writes
    u = u0.copy()
    acc = np.zeros_like(u)
    for t in range(3):
        acc[t] = k * np.sum(u * acc)
        u = u * (1.0 + acc)
    return np.sum(u * u)


PROGRAMS = [
    (heat, True),
    (view_read_before_write, False),
    (copy_read_before_write, True),
    (branch_allocation, False),
    (allocated_before_the_loop, False),
]


@pytest.mark.parametrize("mode", ["source", "auto"])
@pytest.mark.parametrize("program, dropped", PROGRAMS, ids=[p.__name__ for p, _ in PROGRAMS])
def test_gradients_match_finite_differences(program, dropped, mode) -> None:
    rng = np.random.default_rng(11)
    args = [rng.uniform(0.2, 0.9, 6), 0.3]
    grads = ag.grad(program, wrt=(0, 1), mode=mode)(*args)
    for index, got in enumerate(grads):
        assert_close(got, numeric_vjp(program, args, index, 1.0), what=f"argument {index}")


@pytest.mark.parametrize("program, dropped", PROGRAMS, ids=[p.__name__ for p, _ in PROGRAMS])
def test_which_restores_stay(program, dropped) -> None:
    source = ag.source(program, np.linspace(0.2, 0.9, 6), 0.3, wrt=(0, 1))
    assert ("restore_item" not in source) == dropped, source

"""``jit="numba"``: cheap values a loop saves are computed again by its replayed loop
(transform/jit_recompute.py) instead of saved and restored.

Each program runs compiled (its second call: the first one probes, uncompiled) against
the uncompiled gradient and central finite differences, and the rewritten source is
checked for the form each case should take: a pair loop's distances computed again in
the backward pass; values that must stay saved because the array they read changes, the
body reads the previous iteration's value, the code after the replayed loop reads what
the value held before the loop, or the value costs a division.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("numba")

from jit_checks import compiled_check  # noqa: E402
from numeric import assert_close  # noqa: E402

import astgrad as ag  # noqa: E402


def pair_energy(pos, scale):
    n = pos.shape[0]
    e = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            dx = pos[i, 0] - pos[j, 0]
            dy = pos[i, 1] - pos[j, 1]
            r2 = dx * dx + dy * dy + scale
            inv = 1.0 / (r2 * r2)
            e = e + inv * inv - inv
    return e


def drifting(x, k):
    # d reads y, which the loop changes: it must stay saved
    y = x.copy()
    n = y.shape[0]
    total = 0.0
    for i in range(1, n):
        d = y[i - 1] - y[i]
        y[i] = y[i] + k * d * d
        total = total + d * y[i]
    return total


def lagged(x, k):
    # the body reads prev before binding it: the backward pass wants the previous
    # iteration's value there, which only the saved one gives
    n = x.shape[0]
    prev = 0.0
    total = 0.0
    for i in range(n):
        total = total + k * prev * x[i]
        prev = x[i] * x[i] - k
    return total


def bound_before(x, k):
    # d is bound before the loop too, and that statement's gradient, after the replayed
    # loop, reads the value d had then: it must stay saved
    n = x.shape[0]
    d = x[0] * 3.0
    total = d * d * d
    for i in range(n):
        d = x[i] * k - x[1]
        total = total + d * d
    return total


def stepped(x, k, steps):
    # an inner loop reading the outer loop's counter and a name bound before the loops
    n = x.shape[0]
    half = n - 2
    total = 0.0
    for t in range(steps):
        for i in range(half):
            d = x[i + 1] * t - x[i] * k + half
            total = total + d * d * x[i]
    return total


def _check(function, args, wrt):
    # (the same operations on the same operands: the same bits, to rounding)
    return compiled_check(function, args, wrt, rtol=1e-13, atol=1e-14)


def _saved(source: str, name: str) -> bool:
    """Whether the rewritten source pushes ``name`` (``saved_4 = dx`` before a push)."""
    return re.search(rf"saved_\d+ = {name}\n", source) is not None


def test_a_pair_loops_distances_are_computed_again_backward():
    pos = np.random.default_rng(3).uniform(0.0, 2.0, (7, 2))
    source = _check(pair_energy, (pos, 0.5), (0, 1))
    for name in ("dx", "dy", "r2"):
        assert not _saved(source, name), source
    # (forward and again at the top of the replayed inner loop, which is there three
    # times: with dpos[i, :] kept in locals, without or with a test per iteration of
    # whether dpos[j, :] reaches it, and as it was, transform/jit_locals.py)
    # (``pos[i, 0]`` read once before the loop where it can be: transform/jit_hoist.py)
    computed = re.findall(r"dx = (?:pos\[i, 0\]|jit_read_\d+) - pos\[j, 0\]", source)
    assert len(computed) == 4, source
    assert source.count("r2 = dx * dx + dy * dy + scale") == 4, source
    # a division costs more than saving: inv stays saved
    assert _saved(source, "inv"), source


def test_a_value_reading_an_array_the_loop_changes_stays_saved():
    source = _check(drifting, (np.linspace(0.2, 1.4, 9), 0.3), (0, 1))
    assert _saved(source, "d"), source
    assert source.count("d = y[i - 1] - y[i]") == 1, source


def test_a_value_read_before_its_binding_in_the_body_stays_saved():
    source = _check(lagged, (np.linspace(-1.0, 1.0, 8), 0.7), (0, 1))
    assert _saved(source, "prev"), source


def test_a_value_read_after_the_replayed_loop_stays_saved():
    source = _check(bound_before, (np.linspace(0.5, 1.5, 6), 0.8), (0, 1))
    assert _saved(source, "d"), source


def test_an_inner_loop_reads_the_outer_counter_and_a_name_bound_before():
    source = _check(stepped, (np.linspace(-0.5, 0.9, 6), 0.4, 3), (0, 1))
    assert not _saved(source, "d"), source
    # (nor the value it is computed from, which the forward body computes unsaved; the
    # replayed inner loop saves nothing per iteration, total being a number, so it is
    # gathered, element by element, transform/jit_gather.py, and is there as it was too:
    # d is computed in the forward body, in the gather's inner elements, edges and dk
    # loop, and in the loop as it was)
    assert "jit_low_" in source, source
    assert len(re.findall(r"\n +d = (?!0\.0\n)", source)) == 8, source


def test_loops_without_iterations_in_the_probe_save_as_before():
    # the loops run no iteration on the first call (nothing is paired: everything saved
    # as before) and some on the next: the compiled gradient still matches
    compiled = ag.grad(stepped, wrt=(0, 1), jit="numba")
    plain = ag.grad(stepped, wrt=(0, 1))
    x = np.linspace(-0.5, 0.9, 6)
    for steps in (0, 0, 3, 3):
        for g, w in zip(compiled(x, 0.4, steps), plain(x, 0.4, steps), strict=True):
            assert_close(g, w, rtol=1e-13, atol=1e-14)


def weighted(x):
    s = 0.0
    for i in range(x.shape[0]):
        s = s + x[i] * x[i] * (i + 1)
    return s


def test_calls_alternating_layouts_match():
    # the compiled call's cache is keyed by each array's layout bits (contiguity,
    # alignment, writeability): strided, reversed and read-only arrays in turn
    x = np.linspace(-1.0, 2.0, 12)
    frozen = x.copy()
    frozen.flags.writeable = False
    compiled = ag.grad(weighted, jit="numba")
    plain = ag.grad(weighted)
    for arg in (x, x[::2], x[::-1], frozen, x, x[::2], frozen):
        assert_close(compiled(arg), plain(arg), rtol=1e-13, atol=1e-14)


def rebinding(x, k):
    # the body rebinds its counter: the value saved for the replayed loop is not the one
    # d was computed from, so d stays saved
    n = x.shape[0]
    total = 0.0
    for i in range(n - 1):
        d = x[i] * k - x[0]
        i = i + 1
        total = total + d * d * x[i]
    return total


def test_a_value_reading_a_counter_the_body_rebinds_stays_saved():
    source = _check(rebinding, (np.linspace(0.3, 1.2, 6), 0.7), (0, 1))
    assert _saved(source, "d"), source

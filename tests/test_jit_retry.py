"""jit: a first call whose loops run no iteration does not leave the gradient uncompiled.

The compiled code is typed from what one uncompiled run (the probe) saw each name hold. A
name the probe never saw hold a value (``i`` of a loop that ran no iteration, where the
loop saves its counter: it may ``break``) cannot be typed, so the first compile fails;
the refusal used to stand for every later call with the same argument types. A later
call whose run sees more of those names now compiles again, a few times at most
(``astgrad.jit._RETRIES``). (A range loop that always runs to the end saves no counter:
its replayed loop goes over the same range backwards, and the stencil without the
``break`` compiles even when no step runs, checked below.)"""

from __future__ import annotations

import types

import numpy as np
import pytest

pytest.importorskip("numba")

import test_jit  # noqa: E402

import astgrad as ag  # noqa: E402
from astgrad import jit as agjit  # noqa: E402

# The benchmark's stencil as a function object of its own: the caches of derivatives and
# of compiled code are per function, and these tests count what those do from scratch.
plain_heat = types.FunctionType(test_jit.heat.__code__, test_jit.heat.__globals__, "heat")


def heat(u0, k, steps):
    """The stencil with a ``break`` that never runs: its element loop saves its counter."""
    u = u0.copy()
    n = u.shape[0]
    for _ in range(steps):
        new = u.copy()
        for i in range(1, n - 1):
            if u[i] > 50.0:
                break
            new[i] = u[i] + k * (u[i - 1] - 2.0 * u[i] + u[i + 1])
        u = new
    return np.sum(u * u)


def _line(n: int) -> np.ndarray:
    return np.sin(np.linspace(0.0, 3.0, n)) + 0.1


def test_no_steps_first_then_steps_compiles():
    u0 = _line(10)
    compiled = ag.value_and_grad(heat, wrt=(0, 1), jit="numba")
    plain = ag.value_and_grad(heat, wrt=(0, 1))
    value, (du0, dk) = compiled(u0, 0.1, 0)
    assert value == plain(u0, 0.1, 0)[0]
    np.testing.assert_array_equal(du0, 2 * u0)  # no step: d sum(u0 * u0) / du0
    assert dk == 0
    report = ag.explain(heat, u0, 0.1, 0, wrt=(0, 1), jit="numba")
    assert not report.compiled and "saw no value of" in report.reason and "`i`" in report.reason
    for _ in range(2):  # the call that compiles, then the compiled one
        got_value, got = compiled(u0, 0.1, 3)
        want_value, want = plain(u0, 0.1, 3)
        assert got_value == want_value
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)
    assert ag.explain(heat, u0, 0.1, 3, wrt=(0, 1), jit="numba").compiled


def _halve_until(x, limit):
    y = x * 1.0
    while np.sum(y * y) > limit:
        y = np.tanh(y) * 0.9
    return np.sum(y * y)


@pytest.mark.parametrize(
    "function, make, wrt, first, later",
    [
        # a while loop that runs no iteration, then some (its saved tanh never seen:
        # compiled from that run, the code crashed once the loop ran)
        (_halve_until, lambda: (np.linspace(0.5, 2.0, 5),), 0, (100.0,), (0.5,)),
        # the stencil without a break: no counter saved, but its saved values unseen
        (plain_heat, lambda: (_line(10), 0.1), (0, 1), (0,), (3,)),
    ],
)
def test_values_no_run_saw_keep_the_gradient_uncompiled_until_one_does(
    function, make, wrt, first, later
):
    args = make()
    compiled = ag.grad(function, wrt=wrt, jit="numba")
    plain = ag.grad(function, wrt=wrt)
    report = ag.explain(function, *args, *first, wrt=wrt, jit="numba")
    assert not report.compiled and "saw no value of" in report.reason
    for extra in (first, first, later, later, later):
        got, want = compiled(*args, *extra), plain(*args, *extra)
        for g, w in zip(got if isinstance(wrt, tuple) else (got,),
                        want if isinstance(wrt, tuple) else (want,), strict=True):  # fmt: skip
            np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-15)
    assert ag.explain(function, *args, *later, wrt=wrt, jit="numba").compiled


def test_compiles_again_only_where_a_run_sees_more_and_a_few_times(monkeypatch):
    compiles = []

    def refuse(derivative, kinds, starts):
        compiles.append(kinds)
        return agjit.Compiled(kinds, reason="refused by the test")

    monkeypatch.setattr(agjit, "_compile", refuse)
    u0 = _line(8)
    gradient = ag.grad(heat, wrt=0, jit="numba")
    plain = ag.grad(heat, wrt=0)
    for _ in range(3):  # the same run each time: nothing new seen, no compile
        np.testing.assert_array_equal(gradient(u0, 0.1, 0), plain(u0, 0.1, 0))
    # (not even tried: the loop's saves never ran, so Numba would type them from None)
    assert len(compiles) == 0
    np.testing.assert_array_equal(gradient(u0, 0.1, 2), plain(u0, 0.1, 2))
    assert len(compiles) == 1  # this run saw the loops' names: compiled
    for _ in range(2 * agjit._RETRIES):  # every name seen: the refusal stands
        np.testing.assert_array_equal(gradient(u0, 0.1, 2), plain(u0, 0.1, 2))
    assert len(compiles) == 1


def test_runs_with_nothing_new_stop_after_a_few(monkeypatch):
    probes = []
    real_probe = agjit._probe

    def counting_probe(derivative, args):
        probes.append(args)
        return real_probe(derivative, args)

    monkeypatch.setattr(agjit, "_probe", counting_probe)
    # (with respect to k: a derivative of its own, which the tests above did not compile)
    gradient = ag.grad(heat, wrt=1, jit="numba")
    u0 = _line(6)
    for _ in range(3 * agjit._RETRIES):
        assert gradient(u0, 0.1, 0) == 0
    assert len(probes) == 1 + agjit._RETRIES

"""``jit="numba"``'s call plans (astgrad/jit.py ``_plan_for``): the last compiled call's
arguments, checked cheaply before the compiled code's entry point is called directly.

A plan's result is the general path's, bit for bit; arguments of another type, dtype,
number of dimensions, layout, alignment or writeability miss it and get their own
compile; a rebound global, a replaced ``__code__``, anomaly mode and keyword arguments
take the general path, whose guard and checks decide; buffers grown make a new plan; an
``int`` past int64's range never reaches an entry point compiled for int64.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

pytest.importorskip("numba")

from astgrad.runtime.plans import MISS  # noqa: E402
from modules import write_module  # noqa: E402
from numeric import assert_close  # noqa: E402

import astgrad as ag  # noqa: E402


def weighted_squares(x, w):
    total = 0.0
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            total = total + w * x[i, j] * x[i, j] * (i + 2 * j + 1)
    return total


def _compiles(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "compiled the gradient" in r.getMessage()]


def _general(g, *args):
    """The call without its plan (the general path; it makes the plan again)."""
    g._jit_plan = None
    return g(*args)


def test_the_plan_gives_the_general_paths_result_bit_for_bit():
    x = np.random.default_rng(0).standard_normal((4, 3))
    for g, wrt in (
        (ag.grad(weighted_squares, jit="numba"), 0),
        (ag.value_and_grad(weighted_squares, wrt=(0, 1), jit="numba"), (0, 1)),
        (ag.grad(weighted_squares, wrt=[1], jit="numba"), [1]),
    ):
        first = g(x, 0.7)  # (probes uncompiled, compiles)
        general = _general(g, x, 0.7)
        plan = g._jit_plan
        assert plan is not None and plan((x, 0.7)) is not MISS
        planned = g(x, 0.7)
        assert g._jit_plan is plan  # (a hit keeps it)
        want = ag.value_and_grad(weighted_squares, wrt=wrt)(x, 0.7)
        for got in (first, general, planned):
            got_value, got_grads = got if g.with_value else (None, got)
            want_grads = want[1]
            if g.with_value:
                assert_close(got_value, want[0], rtol=1e-12, atol=0)
            if isinstance(wrt, int):
                got_grads, want_grads = (got_grads,), (want_grads,)
            assert type(got_grads) is type(want_grads)
            for a, b in zip(got_grads, want_grads, strict=True):
                assert type(a) is type(b)
                assert_close(a, b, rtol=1e-12, atol=1e-14)
        planned_grads = planned[1] if g.with_value else planned
        general_grads = general[1] if g.with_value else general
        np.testing.assert_array_equal(_flat(planned_grads), _flat(general_grads))


def _flat(grads) -> np.ndarray:
    parts = grads if isinstance(grads, tuple) else (grads,)
    return np.concatenate([np.ravel(part) for part in parts])


def test_alternating_layouts_dtypes_and_shapes_each_get_their_own_compile():
    g = ag.grad(weighted_squares, jit="numba")
    base = np.random.default_rng(1).standard_normal((5, 4))
    readonly = base.copy()
    readonly.flags.writeable = False
    unaligned_bytes = np.zeros(base.size * 8 + 1, np.uint8)[1:]
    unaligned = unaligned_bytes.view(np.float64).reshape(base.shape)
    unaligned[...] = base
    assert not unaligned.flags.aligned
    arguments = [
        base,  # C-contiguous float64
        base[:3].copy(),  # the same type, another shape: no compile of its own
        np.asfortranarray(base),  # F
        base[:, ::2],  # neither: A
        readonly,  # read-only C
        unaligned,  # unaligned C
        base.astype(np.float32),  # another dtype
    ]
    for _ in range(3):  # (each type compiled once, then each call leaves its own plan)
        for x in arguments:
            got = g(x, 0.5)
            want = ag.grad(weighted_squares)(x, 0.5)
            assert got.dtype == x.dtype and got.shape == x.shape
            assert got.flags.c_contiguous
            rtol = 1e-5 if x.dtype == np.float32 else 1e-12
            assert_close(got, want, rtol=rtol, atol=1e-6 * rtol)
            plan = g._jit_plan
            assert plan is not None and plan((x, 0.5)) is not MISS
            for other in arguments:  # (the plan takes only arguments of x's key)
                hit = plan((other, 0.5)) is not MISS
                assert hit == (
                    other is x
                    or other.shape != x.shape
                    and other.dtype == x.dtype
                    and other.flags.num == x.flags.num
                ), (x.flags, other.flags)
    calls = g.__dict__["_jit_calls"]
    assert len(calls) == 6  # (base and base[:3] share a key)
    # one compile each, but for the unaligned array: Numba types it as the aligned one
    compiled = {id(c): c for _, c, _ in calls.values()}
    assert len(compiled) == 5 and len({c.types for c in compiled.values()}) == 5


def scaled(x, n):
    total = 0.0
    for i in range(x.shape[0]):
        total = total + x[i] * x[i] * n
    return total


def test_numbers_of_another_type_or_past_int64_miss_the_plan():
    g = ag.grad(scaled, jit="numba")
    x = np.array([0.3, -1.2, 2.0])
    for n in (3, 3, -4, 2.5, 3, 2**64, -3, 2.5, True, 5):
        assert_close(g(x, n), ag.grad(scaled)(x, n), rtol=1e-12, atol=1e-14)
    plan = g._jit_plan
    assert plan is not None and plan((x, 2**64)) is MISS  # (OverflowError at the entry)
    assert plan((x, 5.0)) is MISS and plan((x,)) is MISS and plan((x, 5, 1)) is MISS


MODULE = """
import numpy as np

def act(v):
    return v * v

def f(x):
    total = 0.0
    for i in range(x.shape[0]):
        total = total + act(x[i])
    return total

def cubes(x):
    total = 0.0
    for i in range(x.shape[0]):
        total = total + x[i] * x[i] * x[i]
    return total
"""


def test_a_rebound_global_or_replaced_code_is_seen_on_the_next_call(tmp_path, caplog):
    module = write_module(tmp_path, "jit_plans_rebound", MODULE)
    try:
        g = ag.grad(module.f, jit="numba")
        x = np.array([0.5, -1.5, 2.0])
        with caplog.at_level(logging.INFO, logger="astgrad"):
            for _ in range(3):
                assert_close(g(x), 2 * x, rtol=1e-12, atol=0)
            assert g._jit_plan is not None
            module.act = lambda v: v * v * v  # (the guard fails: generated again)
            for _ in range(3):
                assert_close(g(x), 3 * x * x, rtol=1e-12, atol=0)
                assert_close(g(x), ag.grad(module.f)(x), rtol=1e-12, atol=0)
            module.f.__code__ = module.cubes.__code__
            for _ in range(3):
                assert_close(g(x), 3 * x * x, rtol=1e-12, atol=0)
            module.f.__code__ = (lambda x: np.sum(x * x * x * x)).__code__
            for _ in range(2):  # (not compiled: np.sum of an expression; uncompiled, right)
                assert_close(g(x), 4 * x**3, rtol=1e-12, atol=0)
        assert len(_compiles(caplog)) >= 2, _compiles(caplog)
    finally:
        import sys

        sys.modules.pop("jit_plans_rebound", None)


def test_anomaly_mode_and_keywords_take_the_general_path():
    g = ag.grad(scaled, jit="numba")
    x = np.array([0.3, -1.2, 2.0])
    want = ag.grad(scaled)(x, 2)
    g(x, 2)
    g(x, 2)
    plan = g._jit_plan
    assert plan is not None
    with ag.detect_anomaly():
        assert plan((x, 2)) is MISS
        assert_close(g(x, 2), want, rtol=1e-12, atol=0)
    assert_close(g(x, n=2), want, rtol=1e-12, atol=0)
    assert_close(g(x=x, n=2), want, rtol=1e-12, atol=0)
    assert_close(g(x, 2), want, rtol=1e-12, atol=0)


def stepped(x, n):
    total = 0.0
    for k in range(n):
        for i in range(x.shape[0]):
            total = total + np.sin(x[i] * (k + 1))
    return total


def test_grown_buffers_make_a_new_plan():
    g = ag.grad(stepped, jit="numba")
    x = np.array([0.3, -0.2, 0.5])
    sizes = []
    for n in (2, 2, 2, 300, 300, 2, 900):  # (the first call sizes the buffers)
        assert_close(g(x, n), ag.grad(stepped)(x, n), rtol=1e-10, atol=1e-12)
        plan = g._jit_plan
        assert plan is not None
        (_, compiled, kept) = next(iter(g.__dict__["_jit_calls"].values()))
        assert kept is plan and plan.capacity == compiled.capacity
        assert f", {compiled.capacity[0]}, {compiled.capacity[1]})" in plan.source
        sizes.append(compiled.capacity)
    assert sizes[2] == sizes[1] and sizes[-1][1] > sizes[3][1] > sizes[2][1]

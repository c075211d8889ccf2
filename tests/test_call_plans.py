"""Call plans (runtime/plans.py): one generator makes the cached-call plans of generated
source and of the tape, which differ only in what the derivative hands back; its
docstring examples run."""

from __future__ import annotations

import doctest

import numpy as np
from astgrad.runtime import plans
from astgrad.runtime.fallback import tape_plan

import astgrad as ag


def weighted(w, b, label):
    return np.sum(np.tanh(w) * b)


def _checks(source: str) -> str:
    """A plan's source up to the derivative's call: what it checks of the arguments."""
    return source.split("value, ")[0]


def test_source_and_tape_plans_check_the_same_and_differ_in_finishing():
    args = (np.ones(2), 2.0, "label")
    g = ag.grad(weighted, wrt=(0, 1), mode="source")
    g(*args)
    ((_, source_plan),) = g._plans.values()
    pattern = plans.pattern(args, (0, 1))
    tape = tape_plan(weighted, pattern, (0, 1), single=False, with_value=False)
    assert _checks(source_plan.source) == _checks(tape.source)
    assert "if not holds():" in _checks(tape.source)  # both guarded
    assert "finish(" in source_plan.source  # raw gradients get their argument's form
    assert "finish(" not in tape.source  # the tape's are finished already
    for plan in (source_plan, tape):
        dw, db = plan.call(args)
        assert type(db) is float and dw.shape == (2,)
        assert plan.call((np.ones(2), 2, "label")) is plans.MISS


def test_plans_of_one_shape_share_compiled_code():
    first = ag.grad(weighted, wrt=(0, 1), mode="source")
    second = ag.grad(weighted, wrt=(0, 1), mode="source")
    first(np.ones(2), 2.0, "a")
    second(np.ones(3, dtype=np.float32), 1.0, "b")
    ((_, one),) = first._plans.values()
    ((_, other),) = second._plans.values()
    assert one.call.__code__ is other.call.__code__
    assert one.call.__globals__["d0"] is not other.call.__globals__["d0"]


def test_docstring_examples():
    result = doctest.testmod(plans, optionflags=doctest.ELLIPSIS)
    assert result.attempted and not result.failed


def layers(weights, x):
    h = x
    for W in weights:
        h = np.tanh(h @ W)
    return np.sum(h * h)


def test_a_list_of_float_arrays_takes_a_plan():
    # a model's layers as a list: calls after the first take a plan, which checks the
    # list's length and that its items are float arrays, and misses otherwise
    from numeric import assert_close, numeric_vjp

    rng = np.random.default_rng(5)
    weights = [rng.normal(size=(3, 3)) * 0.5 for _ in range(3)]
    x = rng.normal(size=(4, 3))
    g = ag.value_and_grad(layers, mode="source")
    for _ in range(3):  # (the general path, then the plan twice)
        value, got = g(weights, x)
        assert_close(value, layers(weights, x), what="value")
        assert type(got) is list and len(got) == 3, got
        for i, gradient in enumerate(got):

            def of_one(w, i=i):
                return layers([*weights[:i], w, *weights[i + 1 :]], x)

            assert_close(gradient, numeric_vjp(of_one, [weights[i]], 0, 1.0), what=f"{i}")
    ((_, plan),) = g._plans.values()
    assert "len(a0) != 3" in plan.source and 'item.dtype.kind != "f"' in plan.source
    assert plan.call((weights, x)) is not plans.MISS
    for other in (
        weights[:2],  # another length: another derivative
        [weights[0], weights[1].astype(int), weights[2]],  # no gradient: the general error
        [weights[0], 2.0, weights[2]],
        tuple(weights),
    ):
        assert plan.call((other, x)) is plans.MISS
    # the tape's plans take no lists (its leaves are the arguments themselves)
    assert plans.pattern((weights, x), (0,)) is None
    assert plans.pattern((weights, x), (0,), lists=True) is not None

"""The ``shape_only`` marks on rule helpers are true: each marked helper gives the same
result when a marked argument is replaced by ``shaped_like`` of it (an array of its shape
and dtype that holds no values). The transform's ``shape_reads`` pass saves only that
stand-in in loops, and the tape keeps no marked argument alive, so a mark on a position
whose values a helper reads would be a silently wrong gradient. Every rule of the table
runs here on its test cases, each marked helper it reaches checked on the way."""

from __future__ import annotations

import functools
import sys

import numpy as np
import pytest
from astgrad.runtime.adjoints import shaped_like
from astgrad.runtime.rules import all_rules
from astgrad.runtime.rules.shared import shape_only_positions
from rule_specs import SPECS, arguments, random_cotangent


def _marked_helpers() -> dict[int, tuple]:
    """id(helper) -> (helper, [(module, name)]) for every marked helper the rule modules,
    and the module of the adjoint helpers, hold."""
    found: dict[int, tuple] = {}
    for name, module in list(sys.modules.items()):
        if not name.startswith(("astgrad.runtime.rules", "astgrad.runtime.adjoints")):
            continue
        for attribute, value in vars(module).items():
            if callable(value) and shape_only_positions(value):
                found.setdefault(id(value), (value, []))[1].append((module, attribute))
    return found


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if a is None or b is None:
        return a is b
    if isinstance(a, (int, float, complex, np.ndarray, np.generic)):
        a_array, b_array = np.asarray(a), np.asarray(b)
        return (
            a_array.shape == b_array.shape
            and a_array.dtype == b_array.dtype
            and np.array_equal(a_array, b_array, equal_nan=True)
        )
    return a == b


def _checking(helper, positions, exercised):
    @functools.wraps(helper)
    def check(*args, **kwargs):
        result = helper(*args, **kwargs)
        stand_in_args = [
            shaped_like(arg) if position in positions else arg for position, arg in enumerate(args)
        ]
        try:
            again = helper(*stand_in_args, **kwargs)
        except Exception as error:  # not one the rule case may expect: the real call passed
            raise AssertionError(
                f"{helper.__qualname__} failed on a stand-in for an argument marked "
                f"shape_only (positions {sorted(positions)}): {error!r}"
            ) from error
        assert _same(result, again), (
            f"{helper.__qualname__} read the values of an argument marked shape_only "
            f"(positions {sorted(positions)}): {result!r} != {again!r}"
        )
        exercised.add(helper.__qualname__)
        return result

    return check


@pytest.fixture
def checked_helpers(monkeypatch):
    exercised: set[str] = set()
    helpers = _marked_helpers()
    for helper, places in helpers.values():
        wrapper = _checking(helper, shape_only_positions(helper), exercised)
        for module, attribute in places:
            monkeypatch.setattr(module, attribute, wrapper)
    return exercised, {helper.__qualname__ for helper, _ in helpers.values()}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_every_marked_helper_gives_the_same_result_on_a_stand_in(checked_helpers):
    exercised, marked = checked_helpers
    for rule in all_rules():
        if not rule.vjp.__module__.startswith("astgrad.runtime.rules"):
            continue
        for spec in SPECS.get(rule.primitive, []):
            args, kwargs = arguments(spec)
            try:
                ans = rule.primitive(*args, **kwargs)
            except Exception:  # a case that expects the primitive to raise
                continue
            g = random_cotangent(ans, np.random.default_rng(1), spec.outputs)
            try:
                rule.vjp(g, ans, *args, **kwargs)
            except (NotImplementedError, ValueError, TypeError):
                # cases of rules that refuse some inputs on purpose (np.pad's modes)
                continue
    # join_elements is the gradient of t.tolist() on the tape, which has no rule case
    join_elements = sys.modules["astgrad.runtime.rules.rearranging"].join_elements
    join_elements((np.float64(1.0), None), (np.float64(3.0), np.float64(4.0)), np.ones(2))
    # Nearly every marked helper is reached by some rule; the rest are listed so that a
    # new mark cannot go unchecked.
    unreached = marked - exercised
    assert unreached <= _REACHED_ELSEWHERE, f"marked helpers no rule case reaches: {unreached}"


#: marked helpers the rule cases do not call (generated code, or the tape, calls them)
_REACHED_ELSEWHERE: set[str] = set()


@pytest.mark.parametrize(
    "value",
    [np.ones((2, 3)), np.arange(4, dtype=np.int32), np.float64(2.0), 1.5, 3, [np.ones(2), 2.0]],
)
def test_a_stand_in_keeps_shape_and_dtype_and_no_memory(value):
    kept = shaped_like(value)
    if isinstance(value, np.ndarray):
        assert (kept.shape, kept.dtype) == (value.shape, value.dtype)
        assert kept.strides == (0,) * value.ndim
        assert not kept.flags.writeable
        assert kept.base is None or kept.base.size <= 1
    elif isinstance(value, list):
        assert type(kept) is list
        assert kept[0].shape == (2,) and kept[0].strides == (0,) and kept[1] == 2.0
    else:
        assert kept is value

"""The realistic programs of programs_realistic.py, in every mode and on the stand-in GPU,
each checked against float64 central finite differences (conformance.run)."""

from __future__ import annotations

import numpy as np
import pytest
from astgrad.runtime import to_device
from conformance import MODES, run, unique_with_tag
from fake_device import MixedDeviceArrays, fake_cuda, short_reason
from programs_realistic import PROGRAMS

import astgrad as ag


def _modes(program):
    return MODES if "static" in program.tags else ("tape", "auto")


def _params(devices=False):
    seen: dict[str, int] = {}
    for program in PROGRAMS:
        number = seen.get(program.name, 0)
        seen[program.name] = number + 1
        label = program.name if not number else f"{program.name}-{number}"
        for mode in _modes(program):
            known_bug = program.skip_modes.get(mode)
            if devices:  # a bug seen only on the host is listed as "<mode>@gpu": None
                known_bug = program.skip_modes.get(f"{mode}@gpu", known_bug)
            marks = [pytest.mark.xfail(strict=True, reason=known_bug)] if known_bug else []
            yield pytest.param(program, mode, id=f"{label}-{mode}", marks=marks)


def _unique(tag):
    return unique_with_tag(PROGRAMS, tag)


def test_the_table_is_large_enough():
    assert len({p.name for p in PROGRAMS}) >= 40


@pytest.mark.parametrize("program, mode", list(_params()))
def test_realistic_program(program, mode):
    run(program, mode)


@pytest.mark.parametrize("program", _unique("static"))
def test_realistic_programs_need_no_tape(program):
    report = ag.explain(program.function, wrt=program.wrt)
    assert report.mode == "source", str(report)


@pytest.mark.parametrize("program", _unique("fallback"))
def test_untransformable_callees_are_reported_and_refused_in_source_mode(program):
    report = ag.explain(program.function, wrt=program.wrt)
    assert report.mode == "mixed", str(report)
    assert all("programs_realistic.py:" in f.where for f in report.fallbacks), str(report)
    args = program.make_args(np.random.default_rng(0))
    with pytest.raises(ag.TransformError, match="programs_realistic.py"):
        ag.grad(program.function, wrt=program.wrt, mode="source")(*args)


# -- on the stand-in GPU ----------------------------------------------------------------------


def _put(value):
    if isinstance(value, np.ndarray):
        return to_device(value, "cuda:0")
    if isinstance(value, list):
        return [_put(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_put(v) for v in value)
    if isinstance(value, dict):
        return {k: _put(v) for k, v in value.items()}
    return value


def _host_only(program):
    """Why the plain program cannot run on device arrays, or None when it can."""
    args = program.make_args(np.random.default_rng(0))
    try:
        program.function(*_put(args))
    except (TypeError, ValueError, RuntimeError, MixedDeviceArrays) as exc:
        return short_reason(exc)
    return None


@pytest.mark.parametrize("program, mode", list(_params(devices=True)))
def test_realistic_program_on_the_stand_in_gpu(program, mode):
    with fake_cuda():
        reason = _host_only(program)
        if reason is not None:
            pytest.skip(f"the plain function cannot run on a GPU: {reason}")
        run(program, mode, to_device=_put)


def test_most_programs_run_on_the_stand_in_gpu():
    with fake_cuda():
        host_only = [p.name for p in PROGRAMS if _host_only(p)]
    assert len(host_only) <= 0.3 * len(PROGRAMS), host_only


# -- regressions found with the table ---------------------------------------------------------


def _reversed_loops(xs, ws):
    total = 0.0
    for i, (x, w) in enumerate(zip(reversed(xs), ws)):
        total = total * 0.5 + np.sum(x * w) * (i + 1)
    for j, x in enumerate(reversed(xs)):
        total = total + np.sum(np.sin(x)) * j
    return total


def test_reversed_loops_are_generated_source():
    # reversed(xs) ran on the tape in mode="auto" and the generated loop then failed
    # with "object of type 'reversed' has no len()"; mode="source" refused it.
    xs = [np.array([0.1, 0.2]), np.array([-0.3, 0.4]), np.array([0.5, 0.6])]
    ws = [np.array([1.0, 2.0]), np.array([0.5, -1.0]), np.array([2.0, 0.1])]
    assert ag.explain(_reversed_loops, wrt=(0, 1)).mode == "source"
    text = ag.source(_reversed_loops, wrt=(0, 1))
    assert "-1 - index" in text and "tape_call" not in text
    expected = ag.grad(_reversed_loops, wrt=(0, 1), mode="tape")(xs, ws)
    got = ag.grad(_reversed_loops, wrt=(0, 1), mode="source")(xs, ws)
    for e, g in zip(expected, got):
        for a, b in zip(e, g):
            np.testing.assert_allclose(b, a, rtol=1e-12)


def _loop_over_map(x):
    total = 0.0
    for v in map(np.sin, x):
        total = total + v * v
    return total


def test_an_iterator_made_on_the_tape_sends_the_function_to_the_tape():
    x = np.array([0.3, -1.2, 0.7])
    report = ag.explain(_loop_over_map)
    assert report.mode == "tape", str(report)
    np.testing.assert_allclose(ag.grad(_loop_over_map)(x), 2 * np.sin(x) * np.cos(x))
    with pytest.raises(ag.TransformError) as caught:
        ag.grad(_loop_over_map, mode="source")(x)
    message = str(caught.value)
    assert "test_realistic_programs.py" in message and "for v in map(np.sin, x):" in message
    assert "`map(...)` makes an iterator" in message and 'mode="tape"' in message


def _packed(*xs):
    return sum(np.sum(x * x) for x in xs)


def _calls_packed(a, b):
    return _packed(a, b * 2.0)


def test_a_differentiated_value_passed_through_star_args_is_not_dropped():
    # The callee's derivative was generated for its named parameters only, so a and b
    # (reaching it through *xs) got a gradient of zero, silently.
    a, b = np.array([1.0, -2.0]), np.array([0.5, 3.0])
    da, db = ag.grad(_calls_packed, wrt=(0, 1))(a, b)
    np.testing.assert_allclose(da, 2 * a)
    np.testing.assert_allclose(db, 8 * b)
    assert ag.explain(_calls_packed, wrt=(0, 1)).mode == "mixed"
    with pytest.raises(ag.TransformError, match=r"through its parameter `\*xs`"):
        ag.grad(_calls_packed, wrt=(0, 1), mode="source")(a, b)


def _clip_bounds(x, lo, hi):
    return np.sum(np.clip(x, lo, hi) ** 2) + np.sum(x.clip(min=lo)) + np.sum(np.clip(x, max=hi))


@pytest.mark.parametrize("mode", MODES)
def test_clip_gives_its_bounds_a_gradient_and_takes_min_max_keywords(mode):
    x = np.array([-2.0, -0.1, 0.3, 1.5])
    lo = np.array([-1.0, -0.5, 0.0, 0.0])
    hi = 1.0
    dx, dlo, dhi = ag.grad(_clip_bounds, wrt=(0, 1, 2), mode=mode)(x, lo, hi)
    clipped = np.clip(x, lo, hi)
    inside = clipped == x
    np.testing.assert_allclose(dx, 2 * clipped * inside + (x >= lo) + (x <= hi))
    np.testing.assert_allclose(dlo, np.where(inside, 0, 2 * clipped * (clipped == lo)) + (x < lo))
    assert dhi == pytest.approx(2 * 1.0 * 1 + 1)  # x[3] clipped to hi twice

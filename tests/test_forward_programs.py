"""Forward mode through the conformance tables: ``ag.jvp`` of every program against
central finite differences along a random direction, in float64, in every mode.

``mode="source"`` must give the right tangent wherever it generates code; where it cannot
yet it must say so with a TransformError (never a wrong tangent), and the share of
programs it handles may only grow (``test_source_mode_handles_most_programs``).
``"auto"`` and ``"tape"`` must handle every program."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from astgrad.transform.errors import TransformError
from numeric import assert_close
from programs_control import PROGRAMS as CONTROL
from programs_realistic import PROGRAMS as REALISTIC
from programs_straight import PROGRAMS as STRAIGHT

import astgrad as ag

EPS = 1e-6


def _unique(programs):
    chosen = {}
    for program in programs:
        chosen.setdefault(program.name, program)
    return list(chosen.values())


def _movable(value) -> bool:
    """Floats, float64 arrays, and lists, tuples and dicts of them."""
    if isinstance(value, (list, tuple)):
        return bool(value) and all(_movable(v) for v in value)
    if isinstance(value, dict):
        return bool(value) and all(_movable(v) for v in value.values())
    return isinstance(value, float) or (isinstance(value, np.ndarray) and value.dtype == np.float64)


def _direction(value, rng):
    if isinstance(value, (list, tuple)):
        return type(value)(_direction(v, rng) for v in value)
    if isinstance(value, dict):
        return {k: _direction(v, rng) for k, v in value.items()}
    if isinstance(value, float):
        return float(rng.standard_normal())
    return rng.standard_normal(value.shape)


def _setup(program, seed=0):
    rng = np.random.default_rng(seed)
    args = program.make_args(rng)
    params = list(inspect.signature(program.function).parameters)
    wrt = program.wrt if isinstance(program.wrt, (tuple, list)) else (program.wrt,)
    positions = [w if isinstance(w, int) else params.index(w) for w in wrt]
    if not all(_movable(args[p]) for p in positions):
        return None
    direction = np.random.default_rng(seed + 1)
    tangents = [None] * len(args)
    for p in positions:
        tangents[p] = _direction(args[p], direction)
    return args, tangents


def _step(value, tangent, step):
    if isinstance(value, (list, tuple)):
        return type(value)(_step(v, t, step) for v, t in zip(value, tangent))
    if isinstance(value, dict):
        return {k: _step(value[k], tangent[k], step) for k in value}
    return value + step * tangent


def _moved(args, tangents, step):
    return tuple(a if t is None else _step(a, t, step) for a, t in zip(args, tangents))


def _numeric(function, args, tangents):
    up = function(*_moved(args, tangents, EPS))
    down = function(*_moved(args, tangents, -EPS))
    if isinstance(up, (tuple, list)):
        return type(up)(
            (np.asarray(u, dtype=float) - np.asarray(d, dtype=float)) / (2 * EPS)
            for u, d in zip(up, down)
        )
    return (np.asarray(up, dtype=float) - np.asarray(down, dtype=float)) / (2 * EPS)


PROGRAMS = [p for p in _unique(STRAIGHT + CONTROL + REALISTIC) if _setup(p) is not None]


def run_forward(program, mode):
    args, tangents = _setup(program)
    expected_value = program.function(*args)
    value, tangent = ag.jvp(program.function, args, tangents, mode=mode)
    assert_close(
        np.asarray(value), np.asarray(expected_value), rtol=1e-10, atol=1e-12,
        what=f"{program.name} [{mode}] value",
    )  # fmt: skip
    expected = _numeric(program.function, args, tangents)
    if isinstance(expected, (tuple, list)):
        for got, want in zip(tangent, expected):
            assert np.shape(got) == np.shape(want)
            assert_close(np.asarray(got), want, rtol=1e-5, atol=1e-6, what=program.name)
    else:
        assert np.shape(tangent) == np.shape(expected), f"{program.name}: tangent shape"
        assert_close(
            np.asarray(tangent, dtype=float), expected, rtol=program.rtol, atol=1e-6,
            what=f"{program.name} [{mode}] tangent",
        )  # fmt: skip


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.name)
def test_forward_source(program):
    try:
        run_forward(program, "source")
    except TransformError as error:
        # Not yet transformed: said, not a wrong tangent. Counted by the test below.
        pytest.skip(f"forward source mode: {error.reason}")


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.name)
def test_forward_auto(program):
    run_forward(program, "auto")


def test_source_mode_handles_most_programs():
    handled = 0
    for program in PROGRAMS:
        args, tangents = _setup(program)
        try:
            ag.jvp(program.function, args, tangents, mode="source")
        except TransformError:
            continue
        handled += 1
    assert len(PROGRAMS) >= 150
    assert handled >= int(0.8 * len(PROGRAMS)), f"{handled} of {len(PROGRAMS)}"


def checked_scale(x, limit):
    if np.sum(x * x) > limit:
        raise ValueError(f"the input is too large: {np.sum(x * x)}")
    return np.sin(x) * 2.0


@pytest.mark.parametrize("mode", ("source", "auto"))
def test_a_raise_in_forward_mode(mode):
    """A raise ends the computation: forward mode keeps it as it is (what it reads is
    computed, no tangent), so the tangent is the one of the branch that did not raise,
    and the error comes where the function's own would."""
    x, v = np.array([0.3, -0.4, 0.5]), np.array([1.0, 0.5, -2.0])
    value, tangent = ag.jvp(checked_scale, (x, 10.0), (v, None), mode=mode)
    assert_close(value, np.sin(x) * 2.0)
    assert_close(tangent, np.cos(x) * 2.0 * v)
    assert_close(
        ag.hvp(lambda y: np.sum(checked_scale(y, 10.0)), (x,), (v,), mode=mode),
        -np.sin(x) * 2.0 * v,
    )
    with pytest.raises(ValueError, match="the input is too large"):
        ag.jvp(checked_scale, (x, 0.1), (v, None), mode=mode)

"""Control flow, containers, array mutation, nested functions, no_grad and the per-call
tape fallback: the table in programs_control.py through every mode, what each construct
transforms into, and the pullback's retain_graph contract."""

from __future__ import annotations

import numpy as np
import pytest
from conformance import run, unique_with_tag
from numeric import assert_close
from programs_control import PROGRAMS

import astgrad as ag

CONTROL_MODES = ("auto", "tape", "source")


def _params():
    seen: dict[str, int] = {}
    for program in PROGRAMS:
        number = seen.get(program.name, 0)
        seen[program.name] = number + 1
        label = program.name if not number else f"{program.name}-{number}"
        for mode in CONTROL_MODES:
            if mode == "source" and "static" not in program.tags:
                continue  # it is there to go to the tape
            known_bug = program.skip_modes.get(mode)
            marks = [pytest.mark.xfail(strict=True, reason=known_bug)] if known_bug else []
            yield pytest.param(program, mode, id=f"{label}-{mode}", marks=marks)


def test_the_table_has_at_least_a_hundred_functions():
    assert len({p.name for p in PROGRAMS}) >= 100


@pytest.mark.parametrize("program, mode", list(_params()))
def test_control_program(program, mode):
    run(program, mode)


def _unique(tag):
    return unique_with_tag(PROGRAMS, tag)


@pytest.mark.parametrize("program", _unique("static"))
def test_static_constructs_need_no_tape(program):
    report = ag.explain(program.function, wrt=program.wrt)
    assert report.mode == "source", str(report)
    assert not report.fallbacks


@pytest.mark.parametrize("program", _unique("fallback"))
def test_untransformable_callees_go_to_the_tape_one_call_at_a_time(program):
    report = ag.explain(program.function, wrt=program.wrt)
    assert report.mode == "mixed", str(report)
    assert report.fallbacks
    for fallback in report.fallbacks:
        assert fallback.reason
        assert "programs_control.py:" in fallback.where
    assert "mixed" in str(report)


@pytest.mark.parametrize("program", _unique("tape"))
def test_untransformable_functions_run_wholly_on_the_tape(program):
    assert ag.explain(program.function, wrt=program.wrt).mode == "tape"


@pytest.mark.parametrize("program", _unique("fallback") + _unique("tape"))
def test_source_mode_raises_what_explain_reports(program):
    with pytest.raises(ag.TransformError):
        ag.grad(program.function, wrt=program.wrt, mode="source")(
            *program.make_args(np.random.default_rng(0))
        )


# -- no_grad and stop_gradient: the gradient of what the user wrote, not of the math ------


def scale_without_gradient(x):
    with ag.set_grad_enabled(False):
        scale = np.max(np.abs(x))
    return np.sum(x / scale)


def shrink_with_stopped_step(x):
    y = x
    for _ in range(3):
        y = y - 0.1 * ag.stop_gradient(y * y)
    return np.sum(y * x)


def centered_without_gradient(x):
    with ag.no_grad():
        m = np.mean(x) * 3.0
    return np.sum(x * m)


@pytest.mark.parametrize("mode", CONTROL_MODES)
def test_no_grad_blocks_carry_no_gradient(mode):
    x = np.array([0.5, -2.0, 1.0])
    assert_close(ag.grad(scale_without_gradient, mode=mode)(x), np.full(3, 0.5), what="no_grad")
    m = np.mean(x) * 3.0
    assert_close(ag.grad(centered_without_gradient, mode=mode)(x), np.full(3, m), what="no_grad")


@pytest.mark.parametrize("mode", CONTROL_MODES)
def test_stop_gradient_cuts_one_expression(mode):
    x = np.array([0.3, -0.7, 1.1])
    y = x.copy()
    for _ in range(3):
        y = y - 0.1 * y * y
    # d/dx sum(y * x) with every y step's correction held constant: dy/dx = 1.
    assert_close(ag.grad(shrink_with_stopped_step, mode=mode)(x), y + x, what="stop_gradient")


def test_generated_source_has_no_adjoint_for_stopped_values():
    text = ag.source(centered_without_gradient)
    assert "dm " not in text and "dm=" not in text.replace(" ", "")
    assert "mean" not in text.split("# grad of")[-1]
    text = ag.source(shrink_with_stopped_step)
    assert "stop_gradient" in text
    assert ag.explain(shrink_with_stopped_step).mode == "source"


def test_stop_gradient_on_tensors_and_arrays():
    w = ag.tensor([1.0, 2.0], requires_grad=True)
    stopped = ag.stop_gradient(w)
    assert not stopped.requires_grad and stopped.grad_fn is None
    (w * stopped).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [1.0, 2.0])
    a = np.ones(2)
    assert ag.stop_gradient(a) is a


# -- the pullback owns the stack --------------------------------------------------------------


def looped(x, n):
    y = x
    for _ in range(n):
        if np.sum(y) > 0:
            y = np.sin(y) * 1.5
        else:
            y = y * y
    return np.sum(y)


@pytest.mark.parametrize("mode", ["source", "auto", "tape"])
def test_pullback_with_a_stack_replays_only_with_retain_graph(mode):
    x = np.array([0.4, -0.2, 0.9])
    value, pullback = ag.vjp(looped, x, 5, mode=mode)
    first = pullback(1.0, retain_graph=True)
    second = pullback(1.0, retain_graph=True)
    third = pullback(2.0)
    assert_close(first, second, what="replayed pullback")
    assert_close(third, 2 * first, what="scaled cotangent")
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        pullback(1.0)
    assert_close(value, looped(x, 5), what="value")


def test_generated_source_saves_only_what_the_backward_pass_needs():
    text = ag.source(looped)
    # The branch taken and the trip count go on the stack; nothing for the constant n.
    assert "push(n)" not in text
    assert "for _ in range(pop())" in text


# -- explain ------------------------------------------------------------------------------


def test_explain_reports_name_place_and_reason():
    from programs_control import fallback_try

    report = ag.explain(fallback_try)
    (entry,) = report.fallbacks
    assert entry.name == "uses_try"
    assert "try" in entry.reason
    text = str(report)
    assert "uses_try" in text and "programs_control.py" in text and "mixed" in text

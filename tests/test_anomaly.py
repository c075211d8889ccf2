"""NaN hunting (``ag.detect_anomaly``) and warnings that name the user's line.

In anomaly mode a NaN or inf in a gradient raises ``ag.AnomalyError`` (a
``FloatingPointError``) where it is computed, naming this file's line whose gradient made
it and the forward line that made the offending value: in generated source (checks after
each ``# grad of:`` block), in mixed mode, on the tape (each node's gradients, and the
user's stack recorded as nodes are made) and in forward mode. Outside anomaly mode nothing
changes: the same generated source, and the same cached calls.
"""

from __future__ import annotations

import doctest
import inspect
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
from astgrad.runtime import anomaly

import astgrad as ag

HERE = str(Path(__file__).resolve())
MODES = ("source", "auto", "tape")
ZERO = np.array([0.0, 1.0])


def _line_of(function, text):
    """The line number, in this file, of the line of ``function`` that contains ``text``."""
    lines, first = inspect.getsourcelines(function)
    return first + next(i for i, line in enumerate(lines) if text in line)


def _names_line(error, function, text):
    """``error`` names this file and the line of ``function`` holding ``text``."""
    line = _line_of(function, text)
    assert (error.filename, error.lineno) == (HERE, line), str(error)
    assert f'File "{HERE}", line {line}' in str(error)
    assert text in str(error)


def square_root(x):
    y = np.sqrt(x)
    return np.sum(y)


def logarithm(x):
    return np.sum(np.log(x) * 2.0)


def ratio_times(a, b, w):
    r = a / b
    s = r * w
    return np.sum(s)


def guarded_log(a):
    try:  # (not transformable: runs on the tape inside generated code)
        return np.log(a)
    except ValueError:
        return a


def through_a_taped_callee(x):
    y = x * 2.0
    return np.sum(guarded_log(y))


def log_helper(a):
    return np.log(a) * 2.0


def through_a_generated_callee(x, w):
    s = 0.0
    for i in range(2):
        s = s + np.sum(log_helper(x) * w[i])
    return s


@pytest.fixture(autouse=True)
def _quiet():
    """NumPy warns about the zeros these tests divide by; the warning tests ask for them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
    assert not ag.is_anomaly_enabled()
    assert anomaly.threads == 0


# -- what raises, and what it names -----------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_the_gradient_of_sqrt_at_zero(mode):
    with ag.detect_anomaly(), pytest.raises(ag.AnomalyError) as caught:
        ag.grad(square_root, mode=mode)(ZERO)
    assert isinstance(caught.value, FloatingPointError)
    assert "inf" in str(caught.value)
    _names_line(caught.value, square_root, "y = np.sqrt(x)")
    assert caught.value.made_by == ((HERE, _line_of(square_root, "y = np.sqrt(x)")),)


@pytest.mark.parametrize("mode", MODES)
def test_the_gradient_of_log_at_zero(mode):
    with ag.detect_anomaly(), pytest.raises(ag.AnomalyError, match="inf") as caught:
        ag.grad(logarithm, mode=mode)(ZERO)
    _names_line(caught.value, logarithm, "return np.sum(np.log(x) * 2.0)")


@pytest.mark.parametrize("mode", MODES)
def test_nan_made_in_the_forward_pass_and_read_by_the_backward_pass(mode):
    """0/0 in the forward pass gives r a NaN; the gradient of ``s = r * w`` reads it. The
    error names that line, and the forward line that made r."""
    args = (np.array([0.0, 1.0]), np.array([0.0, 2.0]), np.ones(2))
    with ag.detect_anomaly(), pytest.raises(ag.AnomalyError, match="nan") as caught:
        ag.grad(ratio_times, wrt=(0, 1, 2), mode=mode)(*args)
    error = caught.value
    _names_line(error, ratio_times, "s = r * w")
    made = _line_of(ratio_times, "r = a / b")
    assert error.made_by == ((HERE, made),)
    assert f'File "{HERE}", line {made}' in str(error) and "r = a / b" in str(error)


@pytest.mark.parametrize("mode", ["source", "auto"])
def test_a_forward_value_made_without_gradient(mode):
    """Only w is differentiated: generated code still knows which line made r."""
    args = (np.array([0.0, 1.0]), np.array([0.0, 2.0]), np.ones(2))
    with ag.detect_anomaly(), pytest.raises(ag.AnomalyError, match="It read r, which holds nan"):
        ag.grad(ratio_times, wrt=2, mode=mode)(*args)


def test_on_the_tape_a_value_that_needs_no_gradient_is_not_recorded():
    args = (np.array([0.0, 1.0]), np.array([0.0, 2.0]), np.ones(2))
    with ag.detect_anomaly(), pytest.raises(ag.AnomalyError, match="need no gradient") as caught:
        ag.grad(ratio_times, wrt=2, mode="tape")(*args)
    _names_line(caught.value, ratio_times, "s = r * w")


def test_tensors_and_backward():
    with ag.detect_anomaly():
        a = ag.tensor([0.0, 1.0], requires_grad=True)
        b = ag.tensor([0.0, 1.0], requires_grad=True)
        w = ag.tensor([1.0, 1.0], requires_grad=True)
        loss = ratio_times(a, b, w)
        with pytest.raises(ag.AnomalyError, match="MulBackward returned nan") as caught:
            loss.backward()
    _names_line(caught.value, ratio_times, "s = r * w")
    assert caught.value.made_by == ((HERE, _line_of(ratio_times, "r = a / b")),)
    assert w.grad is None  # a failed backward pass writes no .grad


def test_the_tape_records_the_user_stack_outermost_first():
    with ag.detect_anomaly(), pytest.raises(ag.AnomalyError) as caught:
        ag.grad(square_root, mode="tape")(ZERO)
    text = str(caught.value)
    caller = text.index("ag.grad(square_root")
    assert caller < text.index("y = np.sqrt(x)")


def test_vjp_pullback():
    with ag.detect_anomaly():
        value, pullback = ag.vjp(square_root, ZERO)
        with pytest.raises(ag.AnomalyError) as caught:
            pullback()
    _names_line(caught.value, square_root, "y = np.sqrt(x)")


def test_forward_mode():
    with ag.detect_anomaly(), pytest.raises(ag.AnomalyError, match="tangent") as caught:
        ag.jvp(square_root, (ZERO,), (np.ones(2),))
    _names_line(caught.value, square_root, "y = np.sqrt(x)")
    assert np.isinf(ag.jvp(square_root, (ZERO,), (np.ones(2),))[1])  # off: no check


def test_a_callee_run_on_the_tape_inside_generated_code():
    assert ag.explain(through_a_taped_callee).mode == "mixed"
    with ag.detect_anomaly(), pytest.raises(ag.AnomalyError, match="LogBackward") as caught:
        ag.grad(through_a_taped_callee)(ZERO)
    _names_line(caught.value, guarded_log, "return np.log(a)")
    # The stack recorded on the tape goes through the generated caller, as the user's line.
    assert "return np.sum(guarded_log(y))" in str(caught.value)


def test_a_generated_callee_in_a_loop():
    with ag.detect_anomaly(), pytest.raises(ag.AnomalyError) as caught:
        ag.grad(through_a_generated_callee)(ZERO, np.ones(2))
    _names_line(caught.value, log_helper, "return np.log(a) * 2.0")


@pytest.mark.parametrize("mode", MODES)
def test_finite_gradients_are_the_same_in_anomaly_mode(mode):
    x = np.array([1.0, 4.0])
    expected = ag.grad(through_a_generated_callee, mode=mode)(x, np.ones(2))
    with ag.detect_anomaly():
        found = ag.grad(through_a_generated_callee, mode=mode)(x, np.ones(2))
    np.testing.assert_allclose(found, expected)


def test_second_derivatives_name_the_users_line():
    """Reverse mode over generated forward-mode code: the checks of both name this file."""
    with ag.detect_anomaly(), pytest.raises(ag.AnomalyError) as caught:
        ag.hvp(logarithm, (ZERO,), (np.ones(2),))
    _names_line(caught.value, logarithm, "return np.sum(np.log(x) * 2.0)")
    x = np.array([1.0, 4.0])
    expected = ag.hvp(logarithm, (x,), (np.ones(2),))
    with ag.detect_anomaly():
        np.testing.assert_allclose(ag.hvp(logarithm, (x,), (np.ones(2),)), expected)
        assert ag.grad(ag.grad(lambda v: v**4))(2.0) == 48.0


def test_autograd_grad():
    with ag.detect_anomaly():
        x = ag.tensor([0.0, 1.0], requires_grad=True)
        y = logarithm(x)
        with pytest.raises(ag.AnomalyError, match="LogBackward returned inf") as caught:
            ag.autograd_grad(y, x)
    _names_line(caught.value, logarithm, "return np.sum(np.log(x) * 2.0)")


def test_the_readme_example_raises_what_it_shows(tmp_path):
    """The NaN hunting example of docs/checking.md, run from a file named as it shows, raises the
    error it shows."""
    import re

    from modules import write_module

    text = (Path(__file__).resolve().parents[1] / "docs" / "checking.md").read_text()
    section = text.split("## NaN hunting", 1)[1].split("\n## ", 1)[0]
    code, shown = re.findall(r"```(?:python)?\n(.*?)```", section, flags=re.S)[:2]
    try:
        with pytest.raises(ag.AnomalyError) as caught:
            write_module(tmp_path, "example", code)
    finally:
        sys.modules.pop("example", None)
    error = caught.value
    said = f"{type(error).__module__}.{type(error).__name__}: {error}"
    assert said.replace(str(tmp_path / "example.py"), "example.py") == shown.strip()


# -- the mode: off by default, per thread, and free when off ----------------------------------


def test_off_the_generated_source_is_the_same():
    before = ag.source(ratio_times, wrt=2)
    assert "check_finite" not in before
    with ag.detect_anomaly():
        checked = ag.source(ratio_times, wrt=2)
    assert ag.source(ratio_times, wrt=2) == before
    assert "check_finite(dw)" in checked
    # The checks are all that differs, one after each block of a line's gradient.
    assert [line for line in checked.splitlines() if "check_finite" not in line] == (
        before.splitlines()
    )
    lines = checked.splitlines()
    assert lines[lines.index("    # grad of: s = r * w") + 2] == "    check_finite(dw)"


def test_forward_mode_source_has_checks_only_in_anomaly_mode():
    before = ag.source(square_root, forward=True)
    with ag.detect_anomaly():
        checked = ag.source(square_root, forward=True)
    assert "check_finite" not in before and "check_finite(dy)" in checked
    assert ag.source(square_root, forward=True) == before


def test_cached_calls_follow_the_mode():
    """A gradient called before, inside and after anomaly mode: its call plan (made
    outside) is not taken inside, and the one made inside is not taken outside."""
    g = ag.grad(square_root)
    first = g(ZERO)
    assert np.isinf(first[0]) and g(ZERO)[1] == 0.5  # (the second call takes a plan)
    with ag.detect_anomaly():
        assert g(np.array([1.0, 4.0]))[1] == 0.25
        assert g(np.array([1.0, 4.0]))[1] == 0.25
        with pytest.raises(ag.AnomalyError):
            g(ZERO)
    np.testing.assert_array_equal(g(ZERO), first)
    np.testing.assert_array_equal(g(ZERO), first)


def test_thread_local():
    """Another thread, not in anomaly mode, computes the same gradient without raising."""
    g = ag.grad(square_root)
    results = {}

    def other_thread():
        results["enabled"] = ag.is_anomaly_enabled()
        results["gradient"] = g(ZERO)

    with ag.detect_anomaly():
        assert ag.is_anomaly_enabled()
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
        with pytest.raises(ag.AnomalyError):
            g(ZERO)
    assert results["enabled"] is False
    assert np.isinf(results["gradient"][0])


def test_a_thread_that_ends_in_anomaly_mode_stops_counting():
    import gc

    worker = threading.Thread(target=ag.set_detect_anomaly, args=(True,))
    worker.start()
    worker.join()
    del worker
    gc.collect()
    assert anomaly.threads == 0


def test_decorators_and_nesting():
    @ag.detect_anomaly
    def bare(x):
        assert ag.is_anomaly_enabled()
        return ag.grad(square_root)(x)

    @ag.detect_anomaly()
    def called(x):
        return ag.grad(square_root)(x)

    for decorated in (bare, called):
        with pytest.raises(ag.AnomalyError):
            decorated(ZERO)
        assert not ag.is_anomaly_enabled()
    with ag.detect_anomaly():
        with ag.detect_anomaly(check_nan=False):
            assert ag.is_anomaly_enabled()
            assert np.isinf(ag.grad(square_root)(ZERO)[0])  # recorded, not checked
        with pytest.raises(ag.AnomalyError):
            ag.grad(square_root)(ZERO)
    assert not ag.is_anomaly_enabled()


def test_set_detect_anomaly():
    ag.set_detect_anomaly(True)
    try:
        assert ag.is_anomaly_enabled()
        with pytest.raises(ag.AnomalyError):
            ag.grad(square_root, mode="tape")(ZERO)
        with ag.set_detect_anomaly(False):
            assert not ag.is_anomaly_enabled()
        assert ag.is_anomaly_enabled()
    finally:
        ag.set_detect_anomaly(False)


def test_sites_are_recorded_only_in_anomaly_mode():
    from astgrad.runtime import fast_path, graph

    plain = graph.next_sequence_number
    with ag.detect_anomaly():
        # Every runtime module that binds the numbering by name numbers with sites.
        numbering = {
            name: module.next_sequence_number
            for name, module in sys.modules.items()
            if name.startswith("astgrad.runtime") and hasattr(module, "next_sequence_number")
        }
        assert set(numbering.values()) == {anomaly._numbered_with_site}, numbering
        w = ag.tensor([1.0, 2.0], requires_grad=True)
        y = w * 3.0
        assert anomaly._sites[y.grad_fn._seq][0].line == _line_of(
            test_sites_are_recorded_only_in_anomaly_mode, "y = w * 3.0"
        )
    assert graph.next_sequence_number is plain and fast_path.next_sequence_number is plain
    assert not anomaly._sites
    (w * 3.0).sum()  # recorded without a site
    assert not anomaly._sites


def test_a_node_made_before_anomaly_mode_has_no_site():
    x = ag.tensor([0.0, 1.0], requires_grad=True)
    y = np.sqrt(x).sum()
    with ag.detect_anomaly(), pytest.raises(ag.AnomalyError, match="not recorded"):
        y.backward()


def test_docstring_examples():
    result = doctest.testmod(anomaly, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted and not result.failed


# -- warnings name the user's line ------------------------------------------------------------


def test_a_warning_from_generated_code_names_the_users_line():
    with pytest.warns(RuntimeWarning, match="divide by zero") as record:
        ag.grad(square_root, mode="source")(ZERO)
    line = _line_of(square_root, "y = np.sqrt(x)")
    assert [(w.filename, w.lineno) for w in record] == [(HERE, line)]


def test_a_warning_from_the_tape_names_the_users_line():
    with pytest.warns(RuntimeWarning, match="divide by zero encountered in log") as record:
        ag.grad(logarithm, mode="tape")(ZERO)
    line = _line_of(logarithm, "return np.sum(np.log(x) * 2.0)")
    assert (record[0].filename, record[0].lineno) == (HERE, line)
    assert not any("runtime" in w.filename or "astgrad" in w.filename for w in record)


def test_a_shown_warning_names_the_users_line():
    """Shown (not recorded), through a replaced ``warnings.showwarning``: the same place."""
    shown = []
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = lambda message, category, filename, lineno, *rest: shown.append(
            (filename, lineno)
        )
        ag.grad(square_root, mode="source")(ZERO)
    assert shown == [(HERE, _line_of(square_root, "y = np.sqrt(x)"))]


def test_a_warning_from_the_users_own_code_is_left_alone():
    with pytest.warns(RuntimeWarning) as record:
        logarithm(ZERO)
    assert record[0].filename == HERE


def test_a_warning_made_an_error_names_the_users_line():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(RuntimeWarning) as caught:
            ag.grad(square_root, mode="source")(ZERO)
    notes = "\n".join(getattr(caught.value, "__notes__", ()))
    assert f'File "{HERE}", line {_line_of(square_root, "y = np.sqrt(x)")}' in notes

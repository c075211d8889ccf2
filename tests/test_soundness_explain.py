"""``ag.explain`` tells the truth: every call that runs on the tape is listed with the
user's line and the reason (checked against the calls that really go there), a gradient
that would raise is reported as that error, explain never crashes (a 250-term sum made
the transform recurse too deeply), and it accepts whatever ``ag.grad`` accepts."""

from __future__ import annotations

import functools
import math
import sys

import numpy as np
import pytest
from astgrad.runtime import fallback
from modules import write_module
from numeric import assert_close, numeric_vjp

import astgrad as ag

TERMS = 250
BIG = "def big(x):\n    return " + " + ".join(["x"] + [f"x*{i}" for i in range(2, TERMS + 1)])

SOURCE = f"""
import numpy as np
import astgrad as ag


{BIG}


def guarded(x):
    try:
        return np.exp(x)
    except FloatingPointError:
        return x


class Scaler:
    def __init__(self, k):
        self.k = k

    def __call__(self, x):
        return x * self.k


scale = Scaler(3.0)


def inner(x):
    return guarded(x * 1.0) * 2.0


def two_fallbacks(x):
    y = guarded(x * 1.0) + 1.0
    z = scale(y * 1.0)
    return np.sum(z * y)


def calls_inner(x):
    return np.sum(inner(x * 0.5) * x)


def whole(x):
    try:
        y = x * 2.0
    except ValueError:
        y = x
    return np.sum(y)


def plain(x):
    return np.sum(np.tanh(x))


def calls_gradient(x):
    return ag.grad(plain)(x).sum()


def calls_value_and_grad(x):
    return ag.value_and_grad(plain)(x)[1].sum()


class Layer:
    def __init__(self):
        self.W = np.ones(2)


def loss(layer, x):
    return np.sum(layer.W * x)


def on_lists(xs):
    total = 0.0
    for v in xs:
        total = total + np.sum(v * v)
    return total
"""


@pytest.fixture(scope="module")
def m(tmp_path_factory):
    module = write_module(tmp_path_factory.mktemp("explain"), "soundness_explain_module", SOURCE)
    yield module
    sys.modules.pop("soundness_explain_module", None)


def line_of(module, text):
    """The line number of the first line of ``module``'s source containing ``text``."""
    lines = open(module.__file__).read().splitlines()
    return next(i for i, line in enumerate(lines, start=1) if text in line)


# -- deep expressions -------------------------------------------------------------------------


def test_a_250_term_sum_is_explained_and_differentiated_in_source_mode(m):
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)  # Python's default: the transform must raise it itself
    try:
        assert ag.explain(m.big).mode == "source"
        expected = TERMS * (TERMS + 1) / 2
        assert ag.grad(m.big, mode="source")(1.5) == pytest.approx(expected)
        x = np.array([0.5, -2.0])
        _, pullback = ag.vjp(m.big, x, mode="source")
        assert_close(pullback(np.ones(2)), [expected, expected])
        assert ag.grad(m.big, mode="tape")(1.5) == pytest.approx(expected)
    finally:
        sys.setrecursionlimit(max(limit, sys.getrecursionlimit()))


def test_deeper_than_any_safe_limit_is_refused_and_runs_on_the_tape(tmp_path, monkeypatch):
    from astgrad.transform import parsing

    monkeypatch.setattr(parsing, "_MOST_FRAMES", 1000)  # as if 250 levels were too deep
    module = write_module(tmp_path, "soundness_explain_deep", BIG + "\n")
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)  # (an earlier test may have raised it)
    try:
        with pytest.raises(ag.TransformError, match="nests expressions too deeply"):
            ag.grad(module.big, mode="source")(1.5)
        report = ag.explain(module.big)
        assert report.mode == "tape" and "too deeply" in report.fallbacks[0].reason
        assert ag.grad(module.big)(1.5) == pytest.approx(TERMS * (TERMS + 1) / 2)
    finally:
        sys.setrecursionlimit(limit)
        sys.modules.pop("soundness_explain_deep", None)


# -- what goes to the tape ----------------------------------------------------------------------


@pytest.fixture
def tape_calls(monkeypatch):
    """The names of the functions generated code sends to the tape, call by call (its
    tape_call helper runs each through fallback.tape_vjp, looked up at every call)."""
    ran = []
    real = fallback.tape_vjp

    def spy(function, *args, **kwargs):
        ran.append(getattr(function, "__name__", type(function).__name__))
        return real(function, *args, **kwargs)

    monkeypatch.setattr(fallback, "tape_vjp", spy)
    return ran


def test_every_call_run_on_the_tape_is_listed_with_its_line(m, tape_calls):
    x = np.array([0.2, 0.4])
    report = ag.explain(m.two_fallbacks, x)
    assert_close(ag.grad(m.two_fallbacks)(x), numeric_vjp(m.two_fallbacks, [x], 0, 1.0))
    assert report.mode == "mixed", report
    path = m.__file__
    assert {(f.name, f.where) for f in report.fallbacks} == {
        ("guarded", f"{path}:{line_of(m, 'y = guarded(x * 1.0) + 1.0')}"),
        ("scale", f"{path}:{line_of(m, 'z = scale(y * 1.0)')}"),
    }
    reasons = {f.name: f.reason for f in report.fallbacks}
    assert "try" in reasons["guarded"] and "Scaler" in reasons["scale"]
    assert sorted(set(tape_calls)) == ["Scaler", "guarded"]
    text = str(report)
    assert "mode mixed" in text and text.count(path) == 2


@pytest.mark.parametrize(
    "name", ["plain", "two_fallbacks", "inner", "calls_inner", "whole", "big", "on_lists"]
)
def test_what_explain_says_is_what_runs(m, tape_calls, name):
    # Whatever generated code sends to the tape is listed; "source" and "tape" (the whole
    # function run on the tape itself) send nothing through generated code.
    fun = getattr(m, name)
    x = [np.ones(2), np.zeros(2)] if name == "on_lists" else np.array([0.2, 0.4])
    report = ag.explain(fun, x)
    value, pullback = ag.vjp(fun, x)
    cotangent = np.ones_like(value)
    gradient = pullback(cotangent)
    if name != "on_lists":
        assert_close(gradient, numeric_vjp(fun, [x], 0, cotangent), what=name)
    listed = {f.name for f in report.fallbacks}
    if report.mode == "mixed":
        assert tape_calls, report
        assert {n for n in tape_calls} <= {"Scaler" if n == "scale" else n for n in listed}
    else:
        assert report.mode in ("source", "tape") and tape_calls == [], report


def test_a_function_that_cannot_be_transformed_runs_whole_on_the_tape(m):
    report = ag.explain(m.whole)
    assert report.mode == "tape"
    (entry,) = report.fallbacks
    assert entry.name == "whole"
    assert (
        entry.where == f"{m.__file__}:{line_of(m, 'def whole(x):') + 1}" and "try" in entry.reason
    )
    x = np.array([1.0, 2.0])
    assert_close(ag.grad(m.whole)(x), [2.0, 2.0])


# -- what grad accepts ------------------------------------------------------------------------


def test_functions_made_by_grad_are_explained_with_their_wrt(m):
    assert ag.explain(ag.grad(m.plain)).mode == "source"
    report = ag.explain(ag.grad(m.loss, wrt="layer"))
    assert report.mode == "source"  # (wrt layer: the attribute read is a field read)
    assert ag.explain(ag.value_and_grad(m.loss, wrt="x")).mode in ("source", "tape")


def test_lambdas_partials_and_functions_without_source():
    double = lambda x: np.sum(np.sin(x) * 2.0)  # noqa: E731
    assert ag.explain(double).mode == "source"

    half = functools.partial(np.multiply, 0.5)
    report = ag.explain(half, wrt=0)
    assert report.mode == "tape" and report.function == "functools.partial(multiply, ...)"
    assert "partial" in report.fallbacks[0].reason

    for function, where in ((np.sum, "numpy"), (np.arctan2, "numpy"), (math.sin, "math")):
        report = ag.explain(function)
        assert report.mode == "tape", report
        (entry,) = report.fallbacks
        assert entry.where == where and "no source" in entry.reason
        assert str(report).startswith(f"{function.__name__}: mode tape")


# -- errors are reported, never raised --------------------------------------------------------


def test_a_gradient_of_a_gradient_is_reported_as_what_runs(m):
    # ag.grad made inside the function: the transform cannot resolve it, so that call runs
    # on the tape, where the gradient's call records one node (a Hessian-vector product)
    report = ag.explain(m.calls_gradient)
    assert report.mode == "mixed", str(report)
    assert f"{m.__file__}:{line_of(m, 'return ag.grad(plain)')}" in report.fallbacks[0].where
    x = np.array([0.3, -0.7])
    got = ag.grad(m.calls_gradient)(x)
    assert_close(got, numeric_vjp(m.calls_gradient, [x], 0, 1.0), rtol=1e-6)
    report = ag.explain(m.calls_value_and_grad)
    assert report.mode == "error" and report.error.startswith("NotImplementedError at ")
    assert "This nesting of derivatives is not supported" in report.error
    with pytest.raises(NotImplementedError):
        ag.grad(m.calls_value_and_grad)(np.ones(2))

    _, pullback = ag.vjp(m.plain, np.ones(2))
    report = ag.explain(pullback, wrt=0)
    assert report.mode == "error" and "is itself a gradient" in report.error


def test_example_arguments_are_checked_as_a_call_checks_them(m):
    report = ag.explain(m.loss, [np.ones(2), 3], np.ones(2))
    assert report.mode == "error"
    assert report.error.startswith("TypeError: cannot differentiate with respect to 'layer[1]'")
    assert "it is an integer (3)" in report.error
    assert ag.explain(m.loss, m.Layer(), np.ones(2)).mode == "source"  # objects: issue 17
    assert ag.explain(m.on_lists, [np.ones(2), np.zeros(2)]).mode == "source"
    assert ag.explain(m.plain, np.ones(3)).mode == "source"


def test_what_grad_refuses_is_reported_as_its_error(m):
    def numbers(n):
        yield n

    report = ag.explain(numbers)
    assert report.mode == "error" and report.error.startswith("TypeError: ")
    assert "generator function" in report.error
    assert ag.explain(3).error.startswith("TypeError: astgrad differentiates functions")
    report = ag.explain(m.plain, wrt="nope")
    assert report.error.startswith("ValueError: wrt='nope' is not a parameter of plain")
    assert "missing a required argument" in ag.explain(m.loss, m.Layer(), wrt="x").error
    assert str(report) == f"plain: the gradient raises {report.error}"

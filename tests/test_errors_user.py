"""What a user sees when ag.grad, ag.value_and_grad or ag.source is given something it
cannot differentiate: the error's type, and a message that names the user's file and line
where there is one, and says what to do."""

from __future__ import annotations

import asyncio
import functools
import re
import traceback

import numpy as np
import pytest

import astgrad as ag

HERE = "test_errors_user.py"
X = np.array([0.5, -1.0, 2.0])


def _line_of(function, text):
    """The line number, in this file, of the line of ``function`` that contains ``text``."""
    import inspect

    lines, first = inspect.getsourcelines(function)
    return first + next(i for i, line in enumerate(lines) if text in line)


def two_args(x, y):
    return np.sum(x * y)


# -- wrt -------------------------------------------------------------------------------------


def test_wrt_naming_a_missing_parameter():
    with pytest.raises(ValueError, match=r"wrt='z' is not a parameter of two_args; .* x, y"):
        ag.grad(two_args, wrt="z")
    with pytest.raises(ValueError, match="wrt='q' is not a parameter"):
        ag.source(two_args, wrt="q")


def test_wrt_position_out_of_range():
    with pytest.raises(ValueError, match=r"wrt=5 is out of range: two_args has 2 positional"):
        ag.value_and_grad(two_args, wrt=5)


def test_wrt_of_the_wrong_type_and_twice():
    with pytest.raises(TypeError, match="parameter positions or names, not 1.0"):
        ag.grad(two_args, wrt=1.0)
    with pytest.raises(ValueError, match="names a parameter twice"):
        ag.grad(two_args, wrt=(0, "x"))


def star_args(*xs):
    return np.sum(xs[0] * xs[1])


def test_wrt_on_star_args():
    with pytest.raises(ValueError, match=r"names a \*args/\*\*kwargs parameter"):
        ag.grad(star_args, wrt="xs")


@pytest.mark.parametrize("mode", ["source", "auto", "tape"])
def test_integer_arguments_under_wrt(mode):
    with pytest.raises(TypeError, match=r"'x': it is an integer array \(int64\).*astype"):
        ag.grad(two_args, mode=mode)(np.arange(3), X)
    with pytest.raises(TypeError, match=r"'x': it is an integer \(2\).*Pass 2.0 instead"):
        ag.grad(two_args, mode=mode)(2, X)


@pytest.mark.parametrize("mode", ["source", "auto", "tape"])
@pytest.mark.parametrize("value", ["abc", None])
def test_a_string_or_none_under_wrt(mode, value):
    # Was a NumPy error from inside generated code (ufunc 'multiply' did not contain a
    # loop ...) in source mode, and "cannot differentiate with respect to a str" on the tape.
    with pytest.raises(TypeError, match=r"'x': it is .* not a number or an array"):
        ag.grad(two_args, mode=mode)(value, X)


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_a_missing_argument_names_the_function(mode):
    with pytest.raises(TypeError, match=r"two_args\(\): missing a required argument: 'y'"):
        ag.grad(two_args, wrt=1, mode=mode)(X)


# -- what the function returns ---------------------------------------------------------------


def vector_out(x):
    return x * 2.0


def returns_nothing(x):
    x * 2.0


def returns_text(x):
    return "done"


def returns_pair(x):
    return np.sum(x), np.sum(x * x)


@pytest.mark.parametrize("mode", ["source", "auto"])
def test_non_scalar_output_without_a_seed(mode):
    with pytest.raises(ValueError, match=r"returned an array of shape \(3,\).*ag.vjp"):
        ag.grad(vector_out, mode=mode)(X)
    with pytest.raises(ValueError, match=r"returned a tuple.*ag.vjp"):
        ag.value_and_grad(returns_pair, mode=mode)(X)


def test_non_scalar_output_on_the_tape():
    with pytest.raises(ValueError, match="only for scalar outputs"):
        ag.grad(vector_out, mode="tape")(X)


@pytest.mark.parametrize("mode", ["source", "auto"])
def test_a_function_returning_none_or_text(mode):
    with pytest.raises(TypeError, match="returned NoneType, which cannot be differentiated"):
        ag.grad(returns_nothing, mode=mode)(X)
    with pytest.raises(TypeError, match="returned str, which cannot be differentiated"):
        ag.grad(returns_text, mode=mode)(X)


# -- what is given to ag.grad --------------------------------------------------------------


def yields(x):
    yield x * 2.0


async def awaits(x):
    await asyncio.sleep(0)
    return np.sum(x)


@pytest.mark.parametrize("mode", ["source", "auto", "tape"])
def test_generator_and_async_functions_are_refused_when_wrapped(mode):
    # A generator function went to the tape in mode="auto" and failed there with "grad
    # can be implicitly created only for scalar outputs"; an async one was transformed as
    # if it were a plain function.
    with pytest.raises(TypeError, match=rf"yields \(.*{HERE}:\d+\) is a generator function"):
        ag.grad(yields, mode=mode)
    with pytest.raises(TypeError, match=rf"awaits \(.*{HERE}:\d+\) is an async function"):
        ag.value_and_grad(awaits, mode=mode)
    with pytest.raises(TypeError, match="is a generator function"):
        ag.source(yields)


def test_something_that_is_not_a_function():
    with pytest.raises(TypeError, match=r"differentiates functions; got 3 \(int\)"):
        ag.grad(3)


def test_a_numpy_function_goes_to_the_tape_in_auto_mode():
    # Raised "cannot create weak reference to 'numpy._ArrayFunctionDispatcher' object".
    with pytest.raises(ag.TransformError, match="'sum' is not a Python function of yours"):
        ag.grad(np.sum, mode="source")(X)
    np.testing.assert_allclose(ag.grad(np.sum)(X), np.ones(3))
    assert ag.grad(np.sin)(0.5) == pytest.approx(np.cos(0.5))


def test_lambdas_and_partials():
    np.testing.assert_allclose(ag.grad(lambda v: np.sum(v * v), mode="source")(X), 2 * X)
    half = functools.partial(two_args, y=np.full(3, 0.5))
    np.testing.assert_allclose(ag.grad(half)(X), np.full(3, 0.5))
    with pytest.raises(ag.TransformError, match="is not a Python function"):
        ag.grad(half, mode="source")(X)


def test_a_function_without_source():
    namespace = {"np": np}
    exec("def typed(x):\n    return np.sum(x * x)\n", namespace)
    typed = namespace["typed"]
    with pytest.raises(ag.TransformError, match=r"source of typed is not available.*exec\(\)"):
        ag.grad(typed, mode="source")(X)
    with pytest.raises(ag.TransformError, match='mode="tape"'):
        ag.source(typed)
    np.testing.assert_allclose(ag.grad(typed)(X), 2 * X)  # auto: the tape
    assert ag.explain(typed).mode == "tape"


# -- syntax the source transformation does not handle -------------------------------------

COUNT = 0


def uses_global(x):
    global COUNT
    COUNT += 1
    return np.sum(x)


def uses_try(x):
    try:
        return np.sum(x**2)
    except ValueError:
        return 0.0


def defines_class(x):
    class Box:
        pass

    return np.sum(x * 2.0)


def _counting():
    calls = 0

    # A nested function's nonlocal is inlined (tests/test_soundness_binding.py); this one
    # writes a closure cell of the function that encloses the differentiated one.
    def uses_nonlocal(x):
        nonlocal calls
        calls = calls + 1
        return np.sum(x) * 2.0

    return uses_nonlocal


uses_nonlocal = _counting()
uses_nonlocal.__qualname__ = "uses_nonlocal"  # (messages name it as they name the others)


def uses_match(x, kind):
    match kind:
        case "sq":
            return np.sum(x * x)
        case _:
            return np.sum(x)


UNSUPPORTED = [
    (uses_global, "global COUNT", "`global`", (X,), np.ones(3)),
    (uses_try, "try:", "`try`", (X,), 2 * X),
    (defines_class, "class Box:", "`classdef`", (X,), np.full(3, 2.0)),
    (uses_nonlocal, "nonlocal calls", "`nonlocal`", (X,), np.full(3, 2.0)),
    (uses_match, "match kind:", "`match`", (X, "sq"), 2 * X),
]


@pytest.mark.parametrize(
    "function, text, construct, args, expected",
    UNSUPPORTED,
    ids=[u[0].__name__ for u in UNSUPPORTED],
)
def test_unsupported_syntax_names_file_line_and_construct(
    function, text, construct, args, expected
):
    with pytest.raises(ag.TransformError) as caught:
        ag.grad(function, mode="source")(*args)
    message = str(caught.value)
    line = _line_of(function, text)
    assert f'{HERE}", line {line}, in {function.__name__}' in message, message
    assert construct in message and 'mode="tape"' in message, message
    # In mode="auto" the same function runs on the tape, with the right gradient.
    np.testing.assert_allclose(ag.grad(function)(*args), expected)
    assert ag.explain(function).mode == "tape"


def _loop_over_map(x):
    total = 0.0
    for v in map(np.sin, x):
        total = total + v
    return total


def test_an_iterator_names_the_line_and_what_to_write():
    with pytest.raises(ag.TransformError) as caught:
        ag.grad(_loop_over_map, mode="source")(X)
    message = str(caught.value)
    assert f'{HERE}", line {_line_of(_loop_over_map, "for v in")}' in message
    assert "`map(...)` makes an iterator" in message and "comprehension" in message
    np.testing.assert_allclose(ag.grad(_loop_over_map)(X), np.cos(X))


def _packed(*xs):
    return sum(np.sum(x) for x in xs)


def _calls_packed(x):
    return _packed(x, x * 2.0)


def test_star_args_of_a_callee_name_the_call():
    with pytest.raises(ag.TransformError) as caught:
        ag.grad(_calls_packed, mode="source")(X)
    message = str(caught.value)
    assert f'{HERE}", line {_line_of(_calls_packed, "return _packed")}' in message
    assert "`*xs`" in message and "named parameters" in message
    np.testing.assert_allclose(ag.grad(_calls_packed)(X), np.full(3, 3.0))


def recursive(x, depth):
    if depth == 0:
        return np.sum(x * x)
    return recursive(np.sin(x), depth - 1)


def test_recursion_is_an_error_in_source_mode_and_a_tape_call_in_auto_mode():
    with pytest.raises(ag.TransformError) as caught:
        ag.grad(recursive, mode="source")(X, 2)
    message = str(caught.value)
    assert f'{HERE}", line {_line_of(recursive, "return recursive(")}' in message
    assert "calls itself (recursion)" in message and 'mode="auto"' in message
    report = ag.explain(recursive)
    assert report.mode == "mixed" and report.fallbacks[0].name == "recursive"
    expected = ag.grad(recursive, mode="tape")(X, 2)
    np.testing.assert_allclose(ag.grad(recursive)(X, 2), expected)


# -- errors at run time point at the user's line ---------------------------------------------


def project(x, W):
    h = x @ W
    return np.sum(np.tanh(h))


def _notes(exc):
    return "\n".join(getattr(exc, "__notes__", ()))


@pytest.mark.parametrize("mode", ["source", "auto"])
def test_a_shape_mismatch_names_the_users_line(mode):
    line = _line_of(project, "h = x @ W")
    with pytest.raises(ValueError, match="matmul") as caught:
        ag.grad(project, wrt=(0, 1), mode=mode)(np.ones(3), np.ones((4, 2)))
    notes = _notes(caught.value)
    assert f'{HERE}", line {line}, in project' in notes, notes
    assert "h = x @ W" in notes
    shown = "".join(traceback.format_exception(caught.value))
    assert f'{HERE}", line {line}, in project' in shown


def test_a_shape_mismatch_on_the_tape_shows_the_users_frame():
    line = _line_of(project, "h = x @ W")
    with pytest.raises(ValueError, match="matmul") as caught:
        ag.grad(project, wrt=(0, 1), mode="tape")(np.ones(3), np.ones((4, 2)))
    frames = traceback.extract_tb(caught.value.__traceback__)
    assert any(f.filename.endswith(HERE) and f.lineno == line for f in frames)


def centered(x, b):
    y = x - np.mean(x)
    return np.sum(y * b)


def test_a_broadcast_error_in_a_vjp_names_the_users_line():
    line = _line_of(centered, "return np.sum(y * b)")
    with pytest.raises(ValueError, match="broadcast") as caught:
        ag.vjp(centered, np.ones(3), np.ones(4), wrt=(0, 1), mode="source")
    assert f'{HERE}", line {line}, in centered' in _notes(caught.value)


def test_the_note_is_added_once():
    with pytest.raises(ValueError) as caught:
        ag.grad(project, wrt=(0, 1))(np.ones(3), np.ones((4, 2)))
    assert len(re.findall("astgrad: raised by", _notes(caught.value))) == 1

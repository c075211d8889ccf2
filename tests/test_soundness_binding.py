"""Binding semantics: the transform gives Python's gradient or refuses, in every mode.

For each construct (walrus, defaults and closures of nested functions, nonlocal,
decorated callees, grad-mode switches, context managers) a function is differentiated
with mode="source", "auto" and "tape" and compared with central finite differences (or,
where part of the function runs in no_grad, with finite differences of a version in
which that part is a constant). Where the transform refuses, mode="source" raises a
TransformError naming the user's line and the construct, and mode="auto" must still give
the right number, from the tape.

PYTEST_DONT_REWRITE: functions here are differentiated from their source, which must
compile to the code that runs; pytest's rewriting of this module's asserts changes that.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import warnings

import numpy as np
import pytest
from numeric import assert_close, numeric_vjp

import astgrad as ag

X = np.array([0.5, -1.0, 2.0])
NEGATIVE = np.array([-0.5, -1.0, 0.25])
MODES = ("source", "auto", "tape")


def _line_of(function, text):
    lines, first = inspect.getsourcelines(function)
    return first + next(i for i, line in enumerate(lines) if text in line)


def _check(function, args, expected, mode, refused=None):
    """``refused``: (text of the refused line, words the message must hold), or None when
    the transform must accept the function."""
    if mode == "source" and refused is not None:
        text, words = refused
        with pytest.raises(ag.TransformError) as caught:
            ag.grad(function, mode="source")(*args)
        message = str(caught.value)
        if text is not None:
            assert f"line {_line_of(function, text)}" in message, message
        assert words in message, message
        return
    if mode == "source":
        assert ag.explain(function).mode == "source", ag.explain(function)
    got = ag.grad(function, mode=mode)(*args)
    assert_close(got, expected, what=f"{function.__name__} ({mode})")
    if mode == "auto" and refused is not None:
        explanation = ag.explain(function)
        assert explanation.mode in ("tape", "mixed"), explanation
        assert refused[1] in str(explanation), explanation


def _fd(function, x=X):
    return numeric_vjp(function, [x.copy()], 0, 1.0)


# -- walrus --------------------------------------------------------------------------------


def walrus_in_if(x):
    if (n := np.sum(x)) > 0:
        return n * x[0]
    return n * 2.0


def walrus_in_while(x):
    total = 0.0
    i = 0
    while (t := x[i] * 2.0) < 3.0 and i < 2:
        total = total + t
        i += 1
    return total + t


def walrus_in_comprehension(x):
    doubled = [(y := v * 2.0) + y for v in x]
    kept = [z * v for v in x if (z := v * v) > 0.3]
    return doubled[0] * y + sum(kept)


def walrus_in_call_arguments(x):
    return np.sum(np.sin(y := x * 3.0)) + np.sum(y * (w := x[0])) * w


def walrus_skipped_by_or(x):
    # `or` stops at a true operand: the walrus after it does not run, m keeps x[1].
    m = x[1]
    if np.sum(x) > 0 or (m := x[0] * 5.0) > 0:
        return m * x[2]
    return m * x[1]


def walrus_in_chained_comparison(x):
    if 0.0 < (m := np.sum(x * x)) < (k := 10.0 * x[2]):
        return m * k
    return m


def walrus_in_assert(x):
    assert (n := np.sum(x * x)) > 0, "empty"
    return n * 2.0


def walrus_in_conditional_expression(x):
    y = (m := x * 2.0) if np.sum(x) > 0 else x
    return np.sum(y * m)


def walrus_rebinds_a_name_read_before_it(x):
    # Python reads n (and a) before the walrus to its right rebinds it.
    n = np.sum(x)
    a = x * 1.0
    m = x * x
    m += (m := x * 5.0)  # the old m plus 5x
    total = n + (n := n * 3.0) + (n := n * 5.0) + np.sum(a * (a := x * 3.0)) + np.sum(a)
    return total + np.sum(m * x)


def walrus_in_the_value_of_a_subscript_store(x):
    # The value is evaluated first: x[0] * 2.0 is stored at y[2].
    y = np.zeros(3)
    i = 0
    y[i] = x[i] * (i := 2)
    return np.sum(y * x)


def walrus_in_a_lambda_binds_in_the_lambda(x):
    w = x
    g = lambda v: (w := v * 2.0) * w  # noqa: E731 (a lambda bound to a name is the point)
    return np.sum(g(x) + w)


def walrus_in_loop_headers_indexes_and_returns(x):
    total = 0.0
    for v in (ys := x * 2.0):
        total = total + v * x[(j := 1)] * x[j]
    i = 0
    while (i := i + 1) < 3:
        total = total + x[i]
    a, b = (c := x * 2.0), c * 3.0
    return total * np.sum(ys) + np.sum(a * b) + (s := np.sum(x * x)) * s


def walrus_in_keywords(x):
    return np.sum(x * (k := 2.0), axis=(axis := 0)) * k + axis


def nested_calls_in_conditions(x):
    def big(v):
        return np.sum(v * v) > 1.0

    def scaled(v):
        return v * 3.0

    if big(x) and np.sum(scaled(x)) > 0:
        return np.sum(scaled(x) * x)
    return np.sum(x) if not big(x * 0.1) else np.sum(x * 5.0)


def walrus_in_a_nested_function(x):
    def g(v):
        return [(w := u * 2.0) * w for u in v]

    w = x[0]
    return sum(g(x)) * w


def walrus_in_an_augmented_subscript(x):
    # The index is evaluated once, for the read and the write: y[1] += x[0].
    y = np.zeros(4)
    i = 0
    y[(i := i + 1)] += x[0]
    return np.sum(y * np.arange(4.0)) + i * x[1]


def walrus_in_rewritten_loop_headers(x):
    # enumerate, zip and .items() loops become index loops; the walrus still binds.
    total = 0.0
    for i, v in enumerate(ys := x * 2.0):
        total = total + v * i
    for a, b in zip(x, (zs := x * x)):
        total = total + a * b
    for _, v in (d := {"a": x[0], "b": x[1] * 2.0}).items():
        total = total + v * v
    return total + np.sum(ys * zs) + d["a"]


def walrus_in_a_while_test_with_else(x):
    i = 0
    s = 0.0
    while (t := x[i]) < 1.5:
        s = s + t * t
        i += 1
    else:
        s = s + t
    return s


WALRUS = [
    (walrus_in_if, X),
    (walrus_in_if, NEGATIVE),
    (walrus_in_while, X),
    (walrus_in_comprehension, X),
    (walrus_in_call_arguments, X),
    (walrus_skipped_by_or, X),
    (walrus_skipped_by_or, NEGATIVE),
    (walrus_in_chained_comparison, X),
    (walrus_in_chained_comparison, NEGATIVE),
    (walrus_in_assert, X),
    (walrus_in_conditional_expression, X),
    (walrus_rebinds_a_name_read_before_it, X),
    (walrus_in_the_value_of_a_subscript_store, X),
    (walrus_in_a_lambda_binds_in_the_lambda, X),
    (walrus_in_loop_headers_indexes_and_returns, X),
    (walrus_in_keywords, X),
    (nested_calls_in_conditions, X),
    (nested_calls_in_conditions, NEGATIVE),
    (walrus_in_a_nested_function, X),
    (walrus_in_an_augmented_subscript, X),
    (walrus_in_rewritten_loop_headers, X),
    (walrus_in_a_while_test_with_else, X),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "function, x", WALRUS, ids=[f"{f.__name__}-{i}" for i, (f, _) in enumerate(WALRUS)]
)
def test_walrus_is_bound_where_python_binds_it(function, x, mode):
    _check(function, [x.copy()], _fd(function, x), mode)


def walrus_in_an_f_string(x):
    label = f"{(n := np.sum(x))}"
    return n * 2.0 + len(label) * 0.0


@pytest.mark.parametrize("mode", MODES)
def test_walrus_in_an_f_string_is_refused(mode):
    refused = ("label = f", "f-string")
    _check(walrus_in_an_f_string, [X.copy()], np.full(3, 2.0), mode, refused)


def and_gives_an_operand(x):
    # `a and b` is b when a is true: b's gradient flows through the result.
    y = (np.sum(x) > 0) and x * 2.0
    z = (np.sum(x) > 100) or x * 3.0
    return np.sum(y) + np.sum(z * x)


@pytest.mark.parametrize("mode", MODES)
def test_and_or_as_values_carry_the_operands_gradient(mode):
    _check(and_gives_an_operand, [X.copy()], _fd(and_gives_an_operand), mode)


# -- defaults and closures of nested functions -----------------------------------------------


def lambda_default_is_the_value_at_definition(x):
    a = x * 2
    g = lambda y, a=a: y * a  # noqa: E731
    a = x * 3
    return np.sum(g(x))


def def_defaults_are_the_values_at_definition(x):
    a = x * 2
    b = x[0]

    def g(y, a=a, *, b=b, c=1.5):
        return y * a * b * c

    a = x * 3
    b = x[1]
    return np.sum(g(x)) + np.sum(g(x, x, b=x[2]))


def defaults_evaluated_each_iteration(x):
    total = 0.0
    for i in range(3):
        g = lambda v, c=x[i]: v * c  # noqa: E731
        total = total + g(x[0])
    return total


def closure_reads_the_value_at_the_call(x):
    a = x

    def g():
        return a * 2

    a = x * 3
    return np.sum(g())


def lambda_closure_reads_the_value_at_the_call(x):
    a = x
    g = lambda: a * 2  # noqa: E731
    a = x * 3
    return np.sum(g())


def closure_reads_the_loop_variable_after_the_loop(x):
    for i in range(3):

        def pick():
            return x[i] * x[i]  # noqa: B023 (late binding is the point)

    return pick()


def nonlocal_write_is_seen_after_the_call(x):
    a = x

    def g():
        nonlocal a
        a = a * 3
        return 0.0

    g()
    return np.sum(a)


def nonlocal_write_in_the_middle_of_an_expression(x):
    a = x

    def bump():
        nonlocal a
        a = a * 3.0
        return 1.0

    # Python reads a (x) first, then bump() rebinds it (3x): x + 3x.
    return np.sum(a + bump() * a)


def nonlocal_two_levels_down(x):
    a = x

    def outer():
        def inner():
            nonlocal a
            a = a * 2.0

        inner()
        return a * 1.0

    b = outer()
    return np.sum(a * b)


def nonlocal_of_a_name_the_middle_function_binds(x):
    def outer(v):
        t = v * 1.0

        def inner():
            nonlocal t
            t = t * 2.0

        inner()
        return t

    return np.sum(outer(x) * x)


def nonlocal_write_by_a_function_defined_later(x):
    a = x

    def g():
        h()
        return 1.0

    def h():
        nonlocal a
        a = a * 3.0

    return np.sum(a + g() * a)


def nonlocal_write_two_levels_down_in_an_expression(x):
    a = x

    def outer():
        def inner():
            nonlocal a
            a = a * 2.0

        inner()
        return 1.0

    return np.sum(a + outer() * a)


NESTED = [
    lambda_default_is_the_value_at_definition,
    def_defaults_are_the_values_at_definition,
    defaults_evaluated_each_iteration,
    closure_reads_the_value_at_the_call,
    lambda_closure_reads_the_value_at_the_call,
    closure_reads_the_loop_variable_after_the_loop,
    nonlocal_write_is_seen_after_the_call,
    nonlocal_write_in_the_middle_of_an_expression,
    nonlocal_two_levels_down,
    nonlocal_of_a_name_the_middle_function_binds,
    nonlocal_write_by_a_function_defined_later,
    nonlocal_write_two_levels_down_in_an_expression,
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("function", NESTED, ids=[f.__name__ for f in NESTED])
def test_nested_functions_bind_as_python_binds(function, mode):
    _check(function, [X.copy()], _fd(function), mode)


def nested_function_defined_twice(x):
    def g(v):
        return v * 2.0

    if np.sum(x) > 0:

        def g(v):
            return v * 3.0

    return np.sum(g(x))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("x", [X, NEGATIVE], ids=["taken", "not-taken"])
def test_a_nested_function_bound_twice_is_refused(x, mode):
    refused = ("def g(v):", "bound more than once")
    _check(
        nested_function_defined_twice,
        [x.copy()],
        _fd(nested_function_defined_twice, x),
        mode,
        refused,
    )


def called_before_its_definition_has_run(x):
    r = x
    for k in range(2):
        if k > 0:
            r = g(x)  # noqa: F821 (bound by the def below, in the iteration before)

        def g(v):
            return v * (k + 2.0)  # noqa: B023 (read at the call: k is 1 then)

    return np.sum(r)


@pytest.mark.parametrize("mode", MODES)
def test_a_nested_function_called_before_its_def_ran_is_refused(mode):
    function = called_before_its_definition_has_run
    refused = ("r = g(x)", "called before its definition")
    _check(function, [X.copy()], _fd(function), mode, refused)


def _closure():
    scale = 2.0

    def reads_a_closure_cell(x):
        return np.sum(x * scale)

    def rescale(value):
        nonlocal scale
        scale = value

    return reads_a_closure_cell, rescale


@pytest.mark.parametrize("mode", MODES)
def test_a_closure_cell_is_read_when_the_gradient_runs(mode):
    function, rescale = _closure()
    gradient = ag.grad(function, mode=mode)
    assert_close(gradient(X.copy()), np.full(3, 2.0))
    rescale(5.0)
    assert_close(gradient(X.copy()), np.full(3, 5.0))


def _counting():
    calls = 0

    def writes_a_closure_cell(x):
        nonlocal calls
        calls = calls + 1
        return np.sum(x * x)

    return writes_a_closure_cell


writes_a_closure_cell = _counting()


@pytest.mark.parametrize("mode", MODES)
def test_nonlocal_of_the_differentiated_function_is_refused(mode):
    refused = ("nonlocal calls", "`nonlocal`")
    _check(writes_a_closure_cell, [X.copy()], 2 * X, mode, refused)


# -- decorated callees ------------------------------------------------------------------------


def doubled(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        return 2.0 * function(*args, **kwargs)

    return wrapper


@doubled
def doubled_square(x):
    return np.sum(x * x)


def calls_a_wrapped_function(x):
    return doubled_square(x) + np.sum(x)


@pytest.mark.parametrize("mode", MODES)
def test_a_wrapper_is_not_unwrapped(mode):
    # The wrapped function's source (x * x) is not what runs: the wrapper doubles it.
    refused = ("return doubled_square(x)", "wrapped by a decorator")
    _check(calls_a_wrapped_function, [X.copy()], 4 * X + 1, mode, refused)


@pytest.mark.parametrize("mode", MODES)
def test_a_wrapped_function_given_to_grad_is_not_unwrapped(mode):
    refused = (None, "decorator")
    _check(doubled_square, [X.copy()], 4 * X, mode, refused)


@functools.cache
def cached_scale(k):
    return k * 2.0


def calls_a_cached_function(x):
    return np.sum(x * cached_scale(3.0)) + np.sum(x * x)


@pytest.mark.parametrize("mode", MODES)
def test_a_cached_callee_is_not_unwrapped(mode):
    # functools.cache keeps __wrapped__ too; its calls carry no gradient here (k is a number),
    # and the transform calls it as Python does rather than reading the wrapped source.
    _check(calls_a_cached_function, [X.copy()], 6.0 + 2 * X, mode)


@ag.no_grad
def square_without_grad(x):
    return np.sum(x * x)


@ag.set_grad_enabled(False)
def cube_without_grad(x):
    return np.sum(x * x * x)


def calls_no_grad_functions(x):
    return square_without_grad(x) * np.sum(x) + cube_without_grad(x) + np.sum(x * x)


@pytest.mark.parametrize("mode", MODES)
def test_no_grad_callees_give_no_gradient(mode):
    # Their results are constants: d/dx (c * sum(x) + c3 + sum(x * x)) = c + 2x.
    expected = np.sum(X * X) + 2 * X
    _check(calls_no_grad_functions, [X.copy()], expected, mode)


@ag.enable_grad
def square_with_grad(x):
    return np.sum(x * x)


def calls_enable_grad_function(x):
    return square_with_grad(x) * 3.0


def calls_enable_grad_function_in_no_grad(x):
    with ag.no_grad():
        y = square_with_grad(x)
    return y * 3.0


def _turns_recording_on(x):
    with ag.enable_grad():
        return x * x


def calls_a_helper_that_enables_grad_in_no_grad(x):
    with ag.no_grad():
        y = _turns_recording_on(x)
    return np.sum(y) * 3.0


@pytest.mark.parametrize("mode", MODES)
def test_enable_grad_callee(mode):
    _check(calls_enable_grad_function, [X.copy()], 6 * X, mode)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "function, text",
    [
        (calls_enable_grad_function_in_no_grad, "y = square_with_grad(x)"),
        (calls_a_helper_that_enables_grad_in_no_grad, "y = _turns_recording_on(x)"),
    ],
)
def test_a_callee_that_turns_recording_on_in_no_grad_is_refused(function, text, mode):
    # As in PyTorch, recording is on inside them: the gradient flows.
    _check(function, [X.copy()], 6 * X, mode, (text, "may turn recording back on"))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("function", [square_without_grad, square_with_grad])
def test_a_grad_mode_decorated_function_given_to_grad(function, mode):
    expected = np.zeros(3) if function is square_without_grad else 2 * X
    _check(function, [X.copy()], expected, mode, (None, "decorator"))


# -- grad-mode blocks -----------------------------------------------------------------------


def enable_grad_inside_no_grad(x):
    with ag.no_grad():
        a = x * 2
        with ag.enable_grad():
            b = x * 3
        c = x * 4
    return np.sum(a * b * c)


def _enable_grad_inside_no_grad_reference(x):
    return np.sum((X * 2) * x * 3 * (X * 4))


def no_grad_and_enable_grad_in_one_with(x):
    with ag.no_grad(), ag.enable_grad():
        a = x * 2
    with np.errstate(all="ignore"), ag.no_grad():
        b = x * 3
    return np.sum(a * x * b)


def _no_grad_and_enable_grad_in_one_with_reference(x):
    return np.sum(x * 2 * x * (X * 3))


def set_grad_enabled_constant(x):
    with ag.set_grad_enabled(False):
        a = x * 2
    with ag.set_grad_enabled(True):
        b = x * 3
    with ag.no_grad:
        c = x * 5
    return np.sum(a * b * c)


def _set_grad_enabled_constant_reference(x):
    return np.sum((X * 2) * x * 3 * (X * 5))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "function, reference",
    [
        (enable_grad_inside_no_grad, _enable_grad_inside_no_grad_reference),
        (no_grad_and_enable_grad_in_one_with, _no_grad_and_enable_grad_in_one_with_reference),
        (set_grad_enabled_constant, _set_grad_enabled_constant_reference),
    ],
)
def test_grad_mode_blocks(function, reference, mode):
    _check(function, [X.copy()], _fd(reference or function), mode)


def enable_grad_in_a_branch_of_no_grad(x):
    with ag.no_grad():
        a = x * 2
        if np.sum(x) > 0:
            with ag.enable_grad():
                a = a * x
    return np.sum(a)


def set_grad_enabled_from_a_variable(x, flag=False):
    with ag.set_grad_enabled(flag):
        a = x * 2
    return np.sum(a * x)


def set_grad_enabled_as_a_statement(x):
    a = x * 2
    ag.set_grad_enabled(False)
    b = x * 3
    ag.set_grad_enabled(True)
    return np.sum(a * b)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "function, text, words, expected",
    [
        (
            enable_grad_in_a_branch_of_no_grad,
            "with ag.enable_grad():",
            "only directly in that block",
            2 * X,
        ),
        (
            set_grad_enabled_from_a_variable,
            "with ag.set_grad_enabled(flag)",
            "not a constant",
            2 * X,
        ),
        (set_grad_enabled_as_a_statement, "ag.set_grad_enabled(False)", "outside a `with`", 6 * X),
    ],
)
def test_grad_mode_switches_the_transform_cannot_follow(function, text, words, expected, mode):
    try:
        _check(function, [X.copy()], expected, mode, (text, words))
    finally:
        ag.set_grad_enabled(True)


# -- other context managers -----------------------------------------------------------------


def suppressed(x):
    s = np.sum(x)
    with contextlib.suppress(ZeroDivisionError):
        s = s * 2.0
        s = s / 0.0 if np.sum(x) > 100 else s
        raise ZeroDivisionError
    return s


@contextlib.contextmanager
def _scaled():
    yield 5.0


def users_context_manager(x):
    with _scaled() as k:
        y = x * k
    return np.sum(y)


def context_manager_from_a_name(x):
    quiet = np.errstate(all="ignore")
    with quiet:
        y = x * 2.0
    return np.sum(y * x)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "function, text",
    [
        (suppressed, "with contextlib.suppress"),
        (users_context_manager, "with _scaled() as k"),
        (context_manager_from_a_name, "with quiet:"),
    ],
)
def test_unknown_context_managers_go_to_the_tape(function, text, mode):
    words = "does not know what this context manager does"
    _check(function, [X.copy()], _fd(function), mode, (text, words))


def harmless_context_managers(x):
    with np.errstate(divide="ignore", invalid="ignore"):
        y = x * 2.0
    with warnings.catch_warnings(record=True) as caught:
        z = y * x + len(caught) * 0.0
    return np.sum(z)


def return_inside_with(x):
    with np.errstate(all="ignore"):
        if np.sum(x) > 0:
            return np.sum(x * 5.0)
        y = x * 2.0
    with ag.no_grad():
        c = np.sum(x)
    with np.errstate(all="ignore"):
        return np.sum(y * x) * c


def _return_inside_with_reference(x):
    if np.sum(x) > 0:
        return np.sum(x * 5.0)
    return np.sum(x * 2.0 * x) * np.sum(NEGATIVE)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "function, x, reference",
    [
        (harmless_context_managers, X, None),
        (return_inside_with, X, None),
        (return_inside_with, NEGATIVE, _return_inside_with_reference),
    ],
)
def test_harmless_context_managers_are_transformed(function, x, reference, mode):
    _check(function, [x.copy()], _fd(reference or function, x), mode)


def break_inside_with(x):
    s = 0.0
    for i in range(3):
        with np.errstate(all="ignore"):
            s = s + x[i] * 2.0
            if s > 0.5:
                break
            s = s * 3.0
    return s


def return_inside_with_inside_loop(x):
    for i in range(3):
        with np.errstate(all="ignore"):
            if x[i] > 0:
                return x[i] * 3.0
    return x[0]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "function, text",
    [(break_inside_with, "        break"), (return_inside_with_inside_loop, "return x[i] * 3.0")],
)
def test_jumps_out_of_with_blocks_are_refused(function, text, mode):
    _check(function, [X.copy()], _fd(function), mode, (text, "inside a `with` block"))


def _make_scaled(x):
    def scaled(y, scale=x, *, shift=x + 1.0):
        return scale * y * y + shift * y

    return scaled


@pytest.mark.parametrize("mode", ["source", "auto"])
def test_a_default_that_names_an_enclosing_variable(mode):
    # The generated function is compiled where `x` means nothing: its defaults are the
    # values the user's function holds (a NameError once)
    scaled = _make_scaled(3.0)
    assert ag.grad(scaled, mode=mode)(1.0) == pytest.approx(2 * 3.0 + 4.0)
    assert ag.jvp(scaled, (1.0,), (1.0,), mode=mode)[1] == pytest.approx(10.0)
    assert "scale=scale_default" in ag.source(scaled)

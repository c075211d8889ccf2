"""Where a function's source ends: ``parsing._source_lines`` reads it from the code
object's positions rather than tokenizing the file as inspect does, and must find exactly
the lines inspect finds (or leave the case to inspect). The definitions below are shaped
to trip an end found from instructions alone: last statements without instructions,
lines continued past the last instruction, nested definitions, decorators, lambdas."""

from __future__ import annotations

import inspect
import sys
import textwrap

import numpy as np
import pytest
from astgrad.transform import parsing
from modules import write_module

import astgrad as ag

SOURCE = textwrap.dedent(
    '''
    import functools

    import numpy as np


    def plain(x):
        y = np.sin(x)
        return np.sum(y * x)


    def ends_in_pass(x):
        y = np.sum(x * x)
        if y > 0:
            y = y * 2.0
        pass


    def ends_in_global(x):
        total = np.sum(x)
        global SEEN


    def ends_in_string(x):
        return np.sum(x)
        """a string statement after the return: no instructions"""


    def continued_call(x):
        return np.sum(
            x * 2.0,
        )


    def closing_bracket_at_margin(x):
        values = [
    x, x]
        return np.sum(values[0] * values[1])


    def one_line(x): return np.sum(x * x)


    @functools.lru_cache(maxsize=None)
    def decorated(n):
        return n * 2


    def nests(x):
        def inner(y):
            return y * 3.0
        return np.sum(inner(x))


    def trailing_comment(x):
        return np.sum(x * x)
        # a comment indented as the body


    class Holder:
        def method(self, x):
            return np.sum(x * 4.0)


    square = lambda x: np.sum(x * x)  # noqa: E731


    def last_in_file(x):
        return np.sum(np.cos(x))
    '''
)

NAMES = [
    "plain", "ends_in_pass", "ends_in_global", "ends_in_string", "continued_call",
    "closing_bracket_at_margin", "one_line", "nests", "trailing_comment", "square",
    "last_in_file",
]  # fmt: skip


@pytest.fixture(scope="module")
def module(tmp_path_factory):
    found = write_module(tmp_path_factory.mktemp("lines"), "source_lines_cases", SOURCE)
    yield found
    sys.modules.pop("source_lines_cases", None)


def _functions(module):
    found = {name: getattr(module, name) for name in NAMES}
    found["decorated"] = module.decorated.__wrapped__
    found["method"] = module.Holder.method
    return found


def test_the_lines_are_the_ones_inspect_finds(module):
    for name, function in _functions(module).items():
        assert parsing._source_lines(function) == inspect.getsourcelines(function.__code__), name


@pytest.mark.skipif(sys.version_info < (3, 11), reason="code positions are new in 3.11")
def test_the_positions_decide_where_they_can(module):
    # The fast path answers for ordinary definitions and declines the others, which
    # inspect then answers (the test above checks both answers).
    functions = _functions(module)
    decided = {
        name
        for name, f in functions.items()
        if parsing._lines_by_positions(f.__code__, f.__globals__) is not None
    }
    assert {"plain", "continued_call", "closing_bracket_at_margin", "one_line"} <= decided
    assert {"nests", "decorated", "method", "last_in_file", "ends_in_pass"} <= decided
    # (a ``pass`` has a position: the function's implicit return is on its line)
    assert not decided & {"ends_in_global", "ends_in_string", "trailing_comment", "square"}


def test_gradients_of_the_cases(module):
    x = np.array([0.3, -1.2, 2.0])
    eps = 1e-6
    for name in ("plain", "continued_call", "closing_bracket_at_margin", "nests", "last_in_file"):
        function = getattr(module, name)
        got = ag.grad(function, mode="source")(x)
        want = np.array(
            [(function(x + eps * e) - function(x - eps * e)) / (2 * eps) for e in np.eye(3)]
        )
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8, err_msg=name)

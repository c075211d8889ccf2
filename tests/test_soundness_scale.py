"""Scale (soundness item 10): costs grow linearly with the size of the function and of its
loops, never as n * n.

The timing tests compare growth, not absolute times: the time at six or eight times the
size over the time at the smaller size, in CPU time of this process (the best of a few
runs), against bounds of two to two and a half times what linear growth gives, under
what the quadratic passes and helpers this guards against gave (20x to 25x for 6x the
statements, 23x to 49x for 8x the appends). ``benchmarks/scale.py`` prints the figures themselves.

The other tests check what the linear list adjoints rely on: a helper changes in place
only a list it made itself, never one it was given, and the gradients stay right where
one adjoint list flows two ways or a pullback runs twice. The last test checks that the
generated source is the same in every run, whatever the hash seed.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from astgrad.runtime import adjoints

import astgrad as ag

MODES = ("source", "tape", "auto")


#: one line of each kind of straight-line function: a chain of new names, and one name
#: overwritten again and again (whose values the backward pass reads back by name)
LINES = {
    "chain": "    y{k} = np.sin(y{j}) * 1.01 + x",
    "overwrite": "    y = np.sin(y) * 1.01 + x",
}


def _straight_line(kind: str, n: int, directory: Path):
    """A fresh ``n``-statement function in a module file of its own."""
    lines = [
        "import numpy as np",
        "",
        "",
        "def f(x):",
        "    y0 = x" if kind == "chain" else "    y = x",
    ]
    lines += [LINES[kind].format(k=k, j=k - 1) for k in range(1, n + 1)]
    lines.append(f"    return np.sum(y{n})" if kind == "chain" else "    return np.sum(y)")
    name = f"scale_{kind}_{n}_{len(list(directory.iterdir()))}"
    path = directory / f"{name}.py"
    path.write_text("\n".join(lines) + "\n")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.f


def _first_call_seconds(kind: str, n: int, directory: Path) -> float:
    gradient = ag.grad(_straight_line(kind, n, directory))
    # Without the cycle collector, whose passes over every object alive come at moments
    # that vary from run to run: what is timed is the transform's own work.
    gc.collect()
    gc.disable()
    try:
        start = time.process_time()
        gradient(np.ones(3))
        return time.process_time() - start
    finally:
        gc.enable()


@pytest.mark.parametrize("kind", sorted(LINES))
def test_transform_time_grows_linearly_with_statements(kind, tmp_path):
    small = min(_first_call_seconds(kind, 100, tmp_path) for _ in range(2))
    large = min(_first_call_seconds(kind, 600, tmp_path) for _ in range(2))
    # linear: 6x; the quadratic passes gave 20x to 25x
    assert large / small < 15, f"100 statements: {small:.3f} s, 600: {large:.3f} s"


def appends_summed(x, n):
    acc = []
    for i in range(n):
        acc.append(x[i % 3] * 2.0)
    return sum(acc)


def appends_stacked(x, n):
    acc = []
    for i in range(n):
        acc.append(x[i % 3] * 2.0)
    return np.sum(np.stack(acc))


def reads_by_index(x, n):
    xs = [x[i % 3] * 2.0 for i in range(n)]
    total = 0.0
    for i in range(n):
        total = total + xs[i] * xs[i]
    return total


def assigns_by_index(x, n):
    xs = [0.0] * n
    for i in range(n):
        xs[i] = x[i % 3] * 2.0
    return sum(xs)


def _backward_seconds(function, n: int) -> float:
    _, pullback = ag.vjp(function, np.ones(3), n, mode="source")
    start = time.process_time()
    pullback()
    return time.process_time() - start


@pytest.mark.parametrize(
    "function", [appends_summed, appends_stacked, reads_by_index, assigns_by_index]
)
def test_list_loop_backward_grows_linearly(function):
    ag.grad(function)(np.ones(3), 10)  # transformed before timing
    small = min(_backward_seconds(function, 5_000) for _ in range(3))
    large = min(_backward_seconds(function, 40_000) for _ in range(3))
    # linear: 8x; copying the list adjoint at every iteration gave 23x to 49x
    assert large / small < 16, f"5000: {small:.4f} s, 40000: {large:.4f} s"


# -- what the linear list adjoints rely on -------------------------------------------------


def test_helpers_change_only_lists_they_made():
    given = [1.0, 2.0, 3.0]
    last, rest = adjoints.appended_adjoint(given)
    assert (last, given) == (3.0, [1.0, 2.0, 3.0])
    again_last, again = adjoints.appended_adjoint(rest)
    assert again is rest and again_last == 2.0  # its own list: taken from in place
    shared = (4.0, 5.0)
    added = adjoints.add_at(shared, [0.0, 0.0], 1, 1.0)
    assert shared == (4.0, 5.0) and list(added) == [4.0, 6.0]
    assert adjoints.add_at(added, [0.0, 0.0], 0, 1.0) is added
    given = [7.0, 8.0]
    value, rest = adjoints.assigned_adjoint(given, [0.0, 0.0], 0)
    assert (value, given, list(rest)) == (7.0, [7.0, 8.0], [0, 8.0])


def test_a_list_adjoint_still_adds_element_by_element():
    _, trail = adjoints.appended_adjoint(adjoints.Parts([1.0, 2.0, 3.0]))
    assert list(trail + [10.0, 20.0]) == [11.0, 22.0]
    assert list([10.0, 20.0] + trail) == [11.0, 22.0]
    assert 0 + trail is not None and list(0 + trail) == [1.0, 2.0]


def appends_read_twice(x, n):
    acc = []
    for i in range(n):
        acc.append(x[i % 3] * (i + 1.0))
    other = acc
    last = acc[-1]
    return sum(acc) + 3.0 * sum(other) + last * last


def nested_appends(x, n):
    rows = []
    for i in range(n):
        row = []
        for j in range(3):
            row.append(x[j] * (i + j + 1.0))
        rows.append(row)
    total = 0.0
    for row in rows:
        total = total + sum(row) * row[0]
    return total


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "function",
    [appends_summed, appends_stacked, reads_by_index, assigns_by_index, appends_read_twice,
     nested_appends],
)  # fmt: skip
def test_list_loops_match_finite_differences(function, mode):
    x = np.array([0.3, -1.2, 0.7])
    assert ag.gradcheck(lambda x: function(x, 7), x)
    expected = ag.grad(lambda x: function(x, 7), mode="tape")(x)
    np.testing.assert_allclose(ag.grad(function, mode=mode)(x, 7), expected, rtol=1e-12)


def returns_list(x, n):
    acc = []
    for i in range(n):
        acc.append(x[i % 3] * (i + 1.0))
    return acc


@pytest.mark.parametrize("mode", MODES)
def test_a_pullback_leaves_the_cotangent_alone(mode):
    x = np.array([0.3, -1.2, 0.7])
    cotangent = [1.0, -2.0, 0.5, 4.0, 3.0]
    _, pullback = ag.vjp(returns_list, x, 5, mode=mode)
    gradient = pullback(cotangent)
    assert cotangent == [1.0, -2.0, 0.5, 4.0, 3.0]
    np.testing.assert_allclose(gradient, [1.0 + 4.0 * 4.0, -2.0 * 2.0 + 3.0 * 5.0, 0.5 * 3.0])


@pytest.mark.parametrize("mode", MODES)
def test_a_pullback_of_appends_runs_twice(mode):
    x = np.array([0.3, -1.2, 0.7])
    cotangent = [1.0, -2.0, 0.5, 4.0, 3.0]
    _, pullback = ag.vjp(returns_list, x, 5, mode=mode)
    first = pullback(cotangent, retain_graph=True)
    np.testing.assert_allclose(pullback(cotangent), first)


# -- the same source in every run ----------------------------------------------------------

_SIMPLIFY = """
import gast
from astgrad.transform import algebra, emit
tied = gast.parse("g * a * b + g * a * b * c + d * b").body[0].value
print(emit.to_source(gast.Expr(value=algebra.simplify(tied))).strip())
"""


def test_simplified_sums_do_not_depend_on_the_hash_seed():
    # g and a are each in two terms: which one is taken out first followed a set's order
    # of names, which changes with the string hash seed, and so did the generated source.
    texts = set()
    for seed in ("0", "1", "2", "3", "4", "5"):
        run = subprocess.run(
            [sys.executable, "-c", _SIMPLIFY],
            env={**os.environ, "PYTHONHASHSEED": seed},
            cwd=Path(__file__).resolve().parents[1],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr
        texts.add(run.stdout.strip())
    assert texts == {"b * (g * (a * (1 + c)) + d)"}

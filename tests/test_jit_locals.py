"""``jit="numba"``: elements of a gradient buffer kept in locals across a loop
(transform/jit_locals.py).

Two kinds of checks. The rewrite itself, on small functions written in the form the
generated code takes: each runs as Python before and after the rewrite, on indices that
make other accesses reach the kept element (the same index, a negative index counting
from the end, a constant), with the array's flag clear while another name holds it, with
the kept index out of bounds, and on random loop bodies; the results must be the same
bits. Then gradients compiled through ``ag.grad(f, jit="numba")`` where the rewrite
applies and where it must not, against the uncompiled gradient and central differences.
"""

from __future__ import annotations

import itertools
import random
import re

import numpy as np
import pytest
from astgrad.transform.jit_locals import keep_elements_in_locals
from jit_checks import original, random_loop_body, rewritten, same_bits


def _rewritten(source: str, buffers: dict[str, tuple[str, int]]) -> tuple[str, object]:
    return rewritten(source, keep_elements_in_locals, buffers)


PAIRS = """
def pairs(d, g, mine, i, js):
    for j in js:
        dj = -g[j]
        d[j, 1] = d[j, 1] + dj
        d[i, 1] = d[i, 1] + g[j]
        d[j, 0] = d[j, 0] + dj * 2.0
        d[i, 0] = d[i, 0] + g[j] * d[j, 0]
    return d
"""


def test_a_pair_loop_keeps_the_outer_elements_and_guards_the_others():
    text, after = _rewritten(PAIRS, {"d": ("mine", 2)})
    assert text.count("jit_kept_") >= 6, text
    assert "if j == i or j == jit_wrapped_" in text, text
    before = original(PAIRS)
    g = np.linspace(0.5, 2.0, 5)
    d = np.arange(10.0).reshape(5, 2) * 0.3
    # j reaches i (2), and from the end (-3 is row 2); no j reaches it; no iteration
    for js in ([0, 2, 4, 2], [1, -3, 3, -3], [0, 1, 3, 4], [], [-5, -1, 2]):
        for i in (0, 2, 4):
            same_bits(before, after, d, g, True, i, js)


def test_negative_kept_index_and_out_of_bounds_run_the_loop_as_it_was():
    before, (_, after) = original(PAIRS), _rewritten(PAIRS, {"d": ("mine", 2)})
    g = np.linspace(0.5, 2.0, 5)
    d = np.arange(10.0).reshape(5, 2)
    for i, js in ((-2, [3, 1, -2]), (5, []), (5, [1]), (-6, [])):
        # (i out of bounds with no iteration: the rewrite must not read or write d[i])
        same_bits(before, after, d, g, True, i, js)


COUNTED = """
def counted(d, g, mine, i, start, count):
    next_j = start + count * 1
    for run in range(count):
        next_j -= 1
        j = next_j
        dj = -g[j]
        d[j, 1] = d[j, 1] + dj
        d[i, 1] = d[i, 1] + g[j]
        d[j + 1, 0] = d[j + 1, 0] + dj * 2.0
        d[i, 0] = d[i, 0] + g[j] * d[j, 0]
    return d
"""


def test_a_counted_down_loop_tests_once_whether_its_counter_reaches_the_kept_row():
    # j runs over [start, start + count): where that range (and j + 1's) holds neither i
    # nor i - n, the loop runs without a test per access; else with them
    text, after = _rewritten(COUNTED, {"d": ("mine", 2)})
    assert "if not next_j - count <= i < next_j and" in text, text
    assert text.count("if j == i or j == jit_wrapped_") == 2, text  # (the guarded copy)
    before = original(COUNTED)
    g = np.linspace(0.5, 2.0, 6)
    d = np.arange(12.0).reshape(6, 2) * 0.3
    for i, (start, count) in itertools.product(
        (0, 2, 5), ((3, 3), (0, 2), (0, 5), (-6, 4), (1, 0), (-3, 3))
    ):
        same_bits(before, after, d, g, True, i, start, count)


ALIASED = """
def aliased(d, other, mine, i, js):
    for j in js:
        d[i] = d[i] + other[j] * 0.5
    return d
"""


def test_a_clear_flag_runs_the_loop_as_it_was():
    # another name holds the array: its flag is clear, and the loop reads the element
    # through that name. Keeping d[i] in a local would read other[i] stale.
    text, after = _rewritten(ALIASED, {"d": ("mine", 1)})
    assert "jit_kept_" in text, text
    before = original(ALIASED)
    d = np.linspace(1.0, 2.0, 4)
    shared = d.copy()
    want = before(shared, shared, False, 1, [1, 1, 1])
    shared = d.copy()
    got = after(shared, shared, False, 1, [1, 1, 1])
    np.testing.assert_array_equal(got, want)
    # (with the flag wrongly set the local is read where the array changed: different,
    # which is what the flag is there to rule out)
    shared = d.copy()
    wrong = after(shared, shared, True, 1, [1, 1, 1])
    assert not np.array_equal(wrong, want)


@pytest.mark.parametrize(
    "body",
    [
        "s = np.sum(d[:j])\n        d[i] = d[i] + s",  # a slice of the array
        "e = d\n        d[i] = d[i] + e[j]",  # the array under another name
        "d[i] += g[j]",  # an augmented assignment
        "d[i], t = d[i] + g[j], 0.0",  # a tuple target
        "i = j\n        d[i] = d[i] + g[j]",  # the kept index changes
        "d[i] = d[i] + g[j]\n        mine = False",  # the flag changes
        "d[i] = d[i] + h(d)",  # the array given to a call
    ],
)
def test_loops_that_use_the_array_otherwise_are_left(body):
    source = f"def f(d, g, mine, i, js, h):\n    for j in js:\n        {body}\n    return d\n"
    text, _ = _rewritten(source, {"d": ("mine", 1)})
    assert "jit_kept" not in text, text


def test_an_index_not_yet_bound_before_the_loop_is_not_kept():
    # m is bound after the inner loop: on the outer loop's first iteration the inner
    # loop (with no iteration there) must not read it, as a test before it would
    source = (
        "def f(d, g, mine, js, ks):\n"
        "    for k in ks:\n"
        "        for j in js[k:]:\n"
        "            d[m] = d[m] + g[j]\n"
        "        m = k\n"
        "    return d\n"
    )
    text, after = _rewritten(source, {"d": ("mine", 1)})
    assert "jit_kept" not in text, text
    same_bits(original(source), after, np.zeros(3), np.ones(3), True, [0, 1, 2], [3, 1])


def test_an_element_reached_by_two_kept_candidates_is_kept_once():
    # d[i] and d[k] may be one element (i == k): only d[i] is kept, d[k] is guarded
    source = (
        "def f(d, g, mine, i, k, js):\n"
        "    for j in js:\n"
        "        d[i] = d[i] + g[j]\n"
        "        d[k] = d[k] * 0.5 + d[i]\n"
        "        d[j] = d[j] - 1.0\n"
        "        if j > 2:\n"
        "            break\n"
        "    return d\n"
    )
    text, after = _rewritten(source, {"d": ("mine", 1)})
    assert text.count("= d[") >= 1 and len(set(_kept_names(text))) == 1, text
    before = original(source)
    d = np.linspace(-1.0, 1.0, 5)
    g = np.linspace(0.1, 0.9, 5)
    for i, k in itertools.product((0, 2, 4), (0, 2, -3, -1)):
        for js in ([0, 1, 2, 3, 4], [2, -3, 2], []):
            same_bits(before, after, d, g, True, i, k, js)


def _kept_names(text: str) -> list[str]:
    return re.findall(r"jit_kept_\d+", text)


# -- random loop bodies ------------------------------------------------------------------

_INDICES = ["i", "j", "k", "0", "1", "-1", "j - 1", "i + 1", "-k"]


def _random_body(rng: random.Random) -> str:
    def write() -> str:
        row = rng.choice(["i", "i", "j", "k", "0", "-1", "j - 1"])
        return f"d[{row}, {rng.choice(['0', '1', 'c', '-1'])}]"

    def read() -> str:
        return f"d[{rng.choice(_INDICES)}, {rng.choice(['0', '1', 'c'])}]"

    return random_loop_body(rng, write, read, "g[j]")


def _random_bodies_run_the_same(seed: int, loop: str, arguments, marker: str) -> int:
    """150 random bodies in ``loop`` (its header lines, after ``t = 0.25``), each run
    before and after the rewrite on arguments ``arguments(values)`` draws; how many
    rewritten sources show ``marker``."""
    rng = random.Random(seed)
    found = 0
    for number in range(150):
        values = np.random.default_rng(number)
        names, draw = arguments
        source = (
            f"def f(d, g, mine, i, k, c, {names}):\n    t = 0.25\n{loop}"
            f"        {_random_body(rng)}\n    return d\n"
        )
        text, after = _rewritten(source, {"d": ("mine", 2)})
        found += marker in text
        before = original(source)
        d = values.uniform(-1.0, 1.0, (4, 2))
        g = values.uniform(-1.0, 1.0, 9)
        for _ in range(6):
            i, k = (int(v) for v in values.integers(-4, 4, 2))
            c = int(values.integers(-2, 2))
            flag = bool(values.integers(0, 2))
            same_bits(before, after, d, g, flag, i, k, c, *draw(values))
    return found


def test_random_loop_bodies_compute_the_same_bits():
    def indices(values):
        return ([int(v) for v in values.integers(-4, 4, int(values.integers(0, 5)))],)

    loop = "    for j in js:\n"
    assert _random_bodies_run_the_same(21, loop, ("js", indices), "jit_kept") > 50


def test_random_counted_down_loop_bodies_compute_the_same_bits():
    # the replayed form, whose counter's range is tested once before the loop: with
    # ranges that hold the kept row, its wrapped form, both or neither
    def range_of_j(values):
        return int(values.integers(-5, 4)), int(values.integers(0, 5))

    loop = (
        "    next_j = start + count\n    for run in range(count):\n"
        "        next_j -= 1\n        j = next_j\n"
    )
    found = _random_bodies_run_the_same(33, loop, ("start, count", range_of_j), "if not next_j")
    assert found > 30  # (bodies whose accesses at j can be tested once)


# -- gradients compiled through ag.grad ------------------------------------------------


def pair_energy(pos, k):
    # the benchmark's form: j > i, so no other row reaches pos[i] (the guard never holds)
    n = pos.shape[0]
    e = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            dx = pos[i, 0] - pos[j, 0]
            dy = pos[i, 1] - pos[j, 1]
            r2 = dx * dx + dy * dy + k
            e = e + 1.0 / r2 - k * r2
    return e


def all_pairs(x, k):
    # j runs over every index, i included: the writes to dx[j] reach dx[i] once per i
    n = x.shape[0]
    e = 0.0
    for i in range(n):
        for j in range(n):
            e = e + x[i] * x[j] * k + x[i] * x[i] * x[j]
    return e


def from_the_end(x):
    # j counts from the end: dx[j] reaches dx[i] where j == i - n
    n = x.shape[0]
    e = 0.0
    for i in range(n):
        for j in range(-n, 0):
            e = e + x[i] * x[j] * x[j]
    return e


def negative_rows(x):
    # the kept index itself is negative: the loop as it was runs
    n = x.shape[0]
    e = 0.0
    for i in range(-n, 0):
        for j in range(n):
            e = e + x[i] * x[j] * x[i + n - 1]
    return e


def through_a_slice(x):
    # the gradient of the slice is added to dx as a whole: no element is kept
    n = x.shape[0]
    e = 0.0
    for i in range(n):
        for j in range(1, n):
            e = e + x[i] * np.sum(x[:j]) * x[j]
    return e


def _compiled_check(function, args, wrt) -> str:
    pytest.importorskip("numba")
    from jit_checks import compiled_check

    return compiled_check(function, args, wrt, same_bits=True)


def test_compiled_pair_energy_keeps_the_outer_particle_in_locals():
    pos = np.random.default_rng(5).uniform(0.0, 2.0, (6, 2))
    source = _compiled_check(pair_energy, (pos, 0.3), (0, 1))
    assert "jit_kept_" in source and "dpos[i, 0] = jit_kept_" in source, source


@pytest.mark.parametrize("function", [all_pairs, from_the_end, negative_rows])
def test_compiled_loops_whose_other_index_reaches_the_kept_element(function):
    x = np.linspace(0.3, 1.4, 5)
    args, wrt = ((x, 0.7), (0, 1)) if function is all_pairs else ((x,), 0)
    source = _compiled_check(function, args, wrt)
    assert "jit_kept_" in source, source


def test_compiled_loop_adding_a_slice_keeps_nothing():
    source = _compiled_check(through_a_slice, (np.linspace(0.3, 1.4, 5),), 0)
    assert "jit_kept_" not in source, source

"""``jit="numba"``: a counted-down loop's additions into neighbouring elements made one
element at a time (transform/jit_gather.py).

The rewrite itself first, on small functions written in the form generated code takes
(``next -= 1; i = next`` at the top of ``for run in range(count)``): each runs as Python
before and after the rewrite, with starts and counts that keep every element in bounds,
that make an index negative or past the end, with fewer iterations than the offsets
spread over, with no iteration, with a buffer's flag clear, and on random loop bodies;
the results (the arrays and the names the function reads after the loop) must be the
same bits. Then gradients of stencils compiled through ``ag.grad(f, jit="numba")``,
against the uncompiled gradient bit for bit and central differences.
"""

from __future__ import annotations

import ast
import importlib.util
import itertools
import random

import numpy as np
import pytest
from astgrad.transform.jit_gather import gather_scatters
from jit_checks import original, rewritten, same_bits
from modules import load_benchmark
from test_jit import heat  # (the benchmark's stencil)

wave = load_benchmark("jit").wave  # (the benchmark's wave equation)


def _pure(call: ast.Call) -> bool:
    # (the helpers generated code calls; np.exp a ufunc)
    return isinstance(call.func, ast.Attribute) and call.func.attr in {"exp", "sin"}


def _rewritten(source: str, buffers: dict[str, tuple[str, int]]) -> tuple[str, object]:
    def rewrite(function, buffers, fresh):
        gather_scatters(function, buffers, _pure, fresh)

    return rewritten(source, rewrite, buffers)


STENCIL = """
def stencil(d, w, g, mine, mine_w, k, start, count):
    next_i = start + count * 1
    for run in range(count):
        next_i -= 1
        i = next_i
        item = w[i]
        w[i] = 0
        a = item * k + g[i]
        d[i + 1] = d[i + 1] + a
        b = -a * 2.0
        d[i] = d[i] + b
        d[i - 1] = d[i - 1] + a
        d[i] = d[i] + item
    return d, w, i, a, next_i
"""

BUFFERS = {"d": ("mine", 1), "w": ("mine_w", 1)}


def test_a_stencil_gathers_and_computes_the_same_bits():
    text, after = _rewritten(STENCIL, BUFFERS)
    assert "jit_low" in text and "for j_" in text, text
    gathered = text.split("else:")[0]
    assert "d[i + 1] = d[i + 1]" not in gathered, text
    # the interior: offset -1 (iteration j + 1), then 0, then 1 (iteration j - 1)
    interior = gathered[gathered.index("for j_") : gathered.index("for jit_from")]
    steps = [line.strip() for line in interior.splitlines() if line.strip().startswith("i = ")]
    assert [step.split(" ", 3)[3:] for step in steps] == [["+ 1"], [], ["- 1"]], text
    before = original(STENCIL)
    g = np.linspace(0.5, 2.0, 9)
    w = np.linspace(-1.0, 1.0, 9) ** 3
    d = np.cos(np.arange(9.0))
    # in bounds; touching d[0] and d[8]; as few iterations as allowed (3) and fewer (2,
    # 1, 0: the loop as it was); i - 1 negative (wraps); i + 1 past the end (an
    # IndexError on both sides)
    cases = ((1, 7), (2, 4), (1, 3), (4, 2), (5, 1), (3, 0), (0, 7), (2, 7), (-3, 4))
    for start, count in cases:
        for mine, mine_w in ((True, True), (False, True), (True, False)):
            same_bits(before, after, d, w, g, mine, mine_w, 0.3, start, count)


def test_a_flag_clear_runs_the_loop_as_it_was():
    # the same array behind both names: with its flags clear the loop runs as it was, and
    # that is the only case the gathering would get wrong
    text, after = _rewritten(STENCIL, BUFFERS)
    before = original(STENCIL)
    g = np.linspace(0.5, 2.0, 9)
    shared_a, shared_b = np.cos(np.arange(9.0)), np.cos(np.arange(9.0))
    want = before(shared_a, shared_a, g, False, False, 0.3, 1, 7)
    got = after(shared_b, shared_b, g, False, False, 0.3, 1, 7)
    for x, y in zip(want, got, strict=True):
        np.testing.assert_array_equal(x, y)
    shared = np.cos(np.arange(9.0))
    wrong = after(shared, shared, g, True, True, 0.3, 1, 7)  # (flags wrongly set)
    assert not np.array_equal(wrong[0], want[0])


MATRIX = """
def rows(d, g, mine, r, start, count):
    next_j = start + count * 1
    for run in range(count):
        next_j -= 1
        j = next_j
        a = np.exp(g[j] * 0.5)
        d[r, j + 2] = d[r, j + 2] + a
        d[r, j] = d[r, j] + a * g[j - 1]
    return d
"""


def test_a_row_of_a_matrix_with_a_gap_in_its_offsets():
    text, after = _rewritten(MATRIX, {"d": ("mine", 2)})
    assert "jit_low" in text, text
    before = original(MATRIX)
    g = np.linspace(0.0, 1.0, 9)
    d = np.arange(27.0).reshape(3, 9) * 0.25
    for r, (start, count) in itertools.product(
        (0, 2, -1, 3), ((1, 6), (2, 4), (1, 3), (1, 2), (-1, 3), (3, 0), (5, 4))
    ):
        same_bits(before, after, d, g, True, r, start, count)


PLATE_ROWS = """
def plate(d, g, mine, r, start, count):
    next_j = start + count * 1
    for run in range(count):
        next_j -= 1
        j = next_j
        a = g[r, j] * 0.5
        d[r - 1, j] = d[r - 1, j] + a
        d[r, j + 1] = d[r, j + 1] + a
        d[r, j] = d[r, j] + -a * 4.0
        d[r, j - 1] = d[r, j - 1] + a
        d[r + 1, j] = d[r + 1, j] + a * g[r + 1, j]
    return d
"""


def test_rows_of_a_plate_are_gathered_each_on_its_own():
    # three rows (r - 1, r, r + 1: one name plus different constants, so different rows
    # once the test finds them in bounds), the middle one with three offsets
    text, after = _rewritten(PLATE_ROWS, {"d": ("mine", 2)})
    assert text.count("for j_") == 4, text  # (a loop per row, and the middle row's ends)
    before = original(PLATE_ROWS)
    g = np.cos(np.arange(40.0)).reshape(5, 8)
    d = np.sin(np.arange(40.0)).reshape(5, 8)
    # rows in bounds; r - 1 wrapping to the last row (the loop as it was); r + 1 past
    # the end (an IndexError on both sides); the columns' ends, wrapping, too few
    for r, (start, count) in itertools.product(
        (1, 3, 0, 4), ((1, 6), (2, 5), (0, 6), (1, 2), (3, 0))
    ):
        same_bits(before, after, d, g, True, r, start, count)


def test_rows_not_known_apart_are_left():
    source = PLATE_ROWS.replace("d[r + 1, j] = d[r + 1, j]", "d[k, j] = d[k, j]").replace(
        "def plate(d, g, mine, r,", "def plate(d, g, mine, r, k,"
    )
    text, _ = _rewritten(source, {"d": ("mine", 2)})
    assert "jit_low" not in text, text


@pytest.mark.parametrize(
    "body",
    [
        "t = t + g[i]\n        d[i] = d[i] + t",  # a value passed between iterations
        "d[i] = d[i] + d[i - 1]",  # the array read besides its own element
        "d[i] = d[i] * 0.5",  # not an addition into it
        "d[i] = d[i] + g[i]\n        s = np.sum(d)",  # the whole array
        "d[i] = d[i] + g[i]\n        d[0] = d[0] + 1.0",  # an element not at the counter
        "d[i] = d[i] + len(g)",  # a call that is not known to compute a value only
        "d[i * 2] = d[i * 2] + g[i]",  # not the counter plus a constant
        "d[i] = d[i] + g[i]\n        if g[i] > 0:\n            d[i] = d[i] + 1.0",  # a branch
        "d[i] = d[i] + g[i]\n        x = run",  # the loop's own target
        "w[i] = 0\n        d[i] = d[i] + w[i]",  # a written element read after its write
        "d[i] = d[i] + w[i + 1]\n        w[i] = 0",  # another element of a written buffer
    ],
)
def test_loops_the_gathering_cannot_make_are_left(body):
    source = (
        "def f(d, w, g, mine, mine_w, count):\n"
        "    t = 0.0\n"
        "    next_i = count + 1\n"
        "    for run in range(count):\n"
        "        next_i -= 1\n"
        "        i = next_i\n"
        f"        {body}\n"
        "    return d\n"
    )
    text, _ = _rewritten(source, BUFFERS)
    assert "jit_low" not in text, text


def test_what_the_loop_leaves_bound_is_computed_again():
    source = (
        "def f(d, g, mine, start, count):\n"
        "    next_i = start + count\n"
        "    for run in range(count):\n"
        "        next_i -= 1\n"
        "        i = next_i\n"
        "        a = g[i] * 2.0\n"
        "        b = a + g[i + 1]\n"
        "        d[i] = d[i] + b\n"
        "        d[i + 1] = d[i + 1] + a\n"
        "    return b, a, i, next_i\n"
    )
    text, after = _rewritten(source, {"d": ("mine", 1)})
    assert "jit_low" in text, text
    before = original(source)
    g = np.linspace(0.1, 0.9, 8)
    for start, count in ((1, 5), (0, 7), (2, 2)):
        same_bits(before, after, np.zeros(8), g, True, start, count)


POPS = """
def popping(d, w, numbers, count0, mine, mine_w, k, start, count):
    numbers = numbers.copy()
    jit_number_count = count0
    s = 0.0
    x = 0.5
    next_i = start + count
    for run in range(count):
        next_i -= 1
        i = next_i
        item = w[i]
        w[i] = 0
        s = s + item * x
        jit_number_count -= 1
        if jit_number_count < 0:
            raise IndexError("popped out of step")
        x = float(numbers[jit_number_count])
        a = item * k
        d[i + 1] = d[i + 1] + a * x
        d[i - 1] = d[i - 1] + a
        jit_number_count -= 1
        if jit_number_count < 0:
            raise IndexError("popped out of step")
        m = int(numbers[jit_number_count])
        d[i] = d[i] + item * m
    return d, w, s, x, m, jit_number_count, i, next_i
"""


def _pops_rewritten(source: str) -> tuple[str, object]:
    def rewrite(function, buffers, fresh):
        gather_scatters(function, buffers, _pure, fresh, ("numbers", "jit_number_count"))

    return rewritten(source, rewrite, BUFFERS)


def test_pops_are_read_where_they_would_pop_and_sums_keep_their_order():
    source = POPS
    text, after = _pops_rewritten(source)
    assert "jit_base" in text and "x_before" in text, text
    assert "for i in range(jit_high" in text, text  # (the sum, counting down)
    before = original(source)
    numbers = np.concatenate([np.cos(np.arange(20.0)), [1.0, 2.0, 3.0, 4.0] * 3])
    w = np.sin(np.arange(9.0))
    d = np.cos(np.arange(9.0))
    # enough numbers, too few (raises in both), the buffer full to its end (no slot for
    # the value a first iteration reads: the loop as it was), a flag clear
    for count0, start, count, mine in (
        (30, 1, 7, True), (12, 1, 7, True), (9, 1, 7, True), (32, 1, 7, True),
        (30, 2, 4, False), (6, 2, 3, True), (30, 0, 2, True),
    ):  # fmt: skip
        same_bits(before, after, d, w, numbers, count0, mine, True, 0.3, start, count)


# -- random loop bodies ------------------------------------------------------------------


def _random_body(rng: random.Random) -> str:
    """Statements of a replayed stencil's body: names computed from elements of ``g`` and
    ``w`` around the counter, the buffer ``w`` read at ``i`` and then zeroed (or not),
    and additions into ``d`` at offsets from -3 to 3, in random order."""
    lines = ["item = w[i]"]
    names = ["item"]
    zeroed = rng.random() < 0.7
    if zeroed:
        lines.append("w[i] = 0")
    for number in range(rng.randint(1, 6)):
        if rng.random() < 0.5:
            left = rng.choice([*names, f"g[i {rng.choice('+-')} {rng.randint(0, 2)}]", "k"])
            right = rng.choice([*names, f"g[i + {rng.randint(0, 2)}]", "1.5"])
            op = rng.choice(["+", "-", "*"])
            name = f"t{number}"
            lines.append(f"{name} = {left} {op} {right}")
            names.append(name)
        else:
            at = rng.randint(-3, 3)
            index = "i" if at == 0 else f"i {'+' if at > 0 else '-'} {abs(at)}"
            lines.append(f"d[{index}] = d[{index}] + {rng.choice(names)}")
    if not any(line.startswith("d[") for line in lines):
        lines.append(f"d[i] = d[i] + {names[-1]}")
    head, rest = lines[: 1 + zeroed], lines[1 + zeroed :]
    rng.shuffle(rest)  # (a name may now be read before it is bound: left as it is)
    return "\n        ".join(head + rest)


def test_random_loop_bodies_compute_the_same_bits():
    rng = random.Random(11)
    applied = 0
    for number in range(200):
        body = _random_body(rng)
        bound = sorted({line.split(" = ")[0] for line in body.split("\n") if "[" not in line[:4]})
        source = (
            "def f(d, w, g, mine, mine_w, k, start, count):\n"
            + "".join(f"    {name.strip()} = 0.0\n" for name in bound)
            + "    next_i = start + count\n"
            "    for run in range(count):\n"
            "        next_i -= 1\n"
            "        i = next_i\n"
            f"        {body}\n"
            f"    return d, w, next_i, i, {', '.join(n.strip() for n in bound) or 'None'}\n"
        )
        text, after = _rewritten(source, BUFFERS)
        applied += "jit_low" in text
        before = original(source)
        values = np.random.default_rng(number)
        d = values.uniform(-1.0, 1.0, 12)
        w = values.uniform(-1.0, 1.0, 12)
        g = values.uniform(-1.0, 1.0, 14)
        for _ in range(6):
            start = int(values.integers(-4, 8))
            count = int(values.integers(0, 10))
            same_bits(before, after, d, w, g, True, bool(values.integers(0, 4)), 0.7, start, count)
    assert applied > 80, applied  # (a body reading a name before binding it is left)


# -- gradients compiled through ag.grad ------------------------------------------------

needs_numba = pytest.mark.skipif(
    importlib.util.find_spec("numba") is None, reason="needs numba (pip install astgrad[jit])"
)


def wide(u0, steps):
    # five points, from new zeros each step (the ends stay 0)
    u = u0.copy()
    n = u.shape[0]
    for _ in range(steps):
        new = np.zeros(n)
        for i in range(2, n - 2):
            new[i] = 0.1 * u[i - 2] + 0.2 * u[i - 1] + 0.4 * u[i] + 0.2 * u[i + 1] - u[i + 2]
        u = new
    return np.sum(u * u * u)


def plate(t0, k, steps):
    # a 2-D explicit heat step: the replayed loop over j adds into three rows of dt
    t = t0.copy()
    rows, columns = t.shape
    for _ in range(steps):
        new = t.copy()
        for i in range(1, rows - 1):
            for j in range(1, columns - 1):
                around = t[i - 1, j] + t[i + 1, j] + t[i, j - 1] + t[i, j + 1]
                new[i, j] = t[i, j] + k * (around - 4.0 * t[i, j])
        t = new
    return np.sum(t * t)


@needs_numba
@pytest.mark.parametrize(
    "function, args",
    [
        (heat, (np.sin(np.linspace(0.0, 3.0, 40)), 0.2, 30)),
        (heat, (np.sin(np.linspace(0.0, 3.0, 4)), 0.2, 3)),  # (two cells: the loop as it was)
        (wide, (np.cos(np.linspace(0.0, 2.0, 30)), 12)),
        (plate, (np.cos(np.arange(48.0)).reshape(6, 8), 0.1, 5)),
    ],
)
def test_gradients_of_stencils_gather_bit_for_bit(function, args):
    from jit_checks import compiled_check

    source = compiled_check(function, args, 0, same_bits=True)
    assert "jit_low" in source, source


@needs_numba
@pytest.mark.parametrize("function", [heat, wave])
def test_a_parameters_gradient_pops_and_sums_bit_for_bit(function):
    # the backward loop pops the value k's (or c's) gradient needs and adds into it
    from jit_checks import compiled_check

    args = (np.sin(np.linspace(0.0, 3.0, 40)), 0.2, 30)
    source = compiled_check(function, args, (0, 1), same_bits=True)
    assert "jit_low" in source and "jit_base" in source, source


def _random_popping_body(rng: random.Random) -> list[str]:
    """A stencil body that pops one to three numbers (each read after its pop, or before
    it: the previous iteration's) and adds into a sum, in random order."""
    lines = ["item = w[i]", "w[i] = 0"]
    names = ["item"]
    pops = []
    for number in range(rng.randint(1, 3)):
        pops.append(f"p{number}")
    rest = []
    for name in pops:
        rest.append(
            [
                "jit_number_count -= 1",
                "if jit_number_count < 0:",
                "    raise IndexError('popped out of step')",
                f"{name} = float(numbers[jit_number_count])",
            ]
        )
    for number in range(rng.randint(1, 4)):
        operand = rng.choice([*names, *pops, "k"])
        rest.append([f"t{number} = item * {operand}"])
        names.append(f"t{number}")
    for _ in range(rng.randint(1, 3)):
        at = rng.randint(-2, 2)
        index = "i" if at == 0 else f"i {'+' if at > 0 else '-'} {abs(at)}"
        rest.append([f"d[{index}] = d[{index}] + {rng.choice(names)}"])
    rest.append([f"s = s + {rng.choice([*names, *pops])} * 0.5"])
    rng.shuffle(rest)
    return lines + [line for group in rest for line in group]


def test_random_popping_bodies_compute_the_same_bits():
    rng = random.Random(5)
    applied = 0
    for number in range(150):
        body = _random_popping_body(rng)
        bound = sorted(
            {line.split(" = ")[0] for line in body if " = " in line and "[" not in line[:4]} - {"s"}
        )
        source = (
            "def f(d, w, numbers, count0, mine, mine_w, k, start, count):\n"
            "    numbers = numbers.copy()\n"
            "    jit_number_count = count0\n"
            "    s = 0.0\n"
            + "".join(f"    {name} = 0.25\n" for name in bound)
            + "    next_i = start + count\n"
            "    for run in range(count):\n"
            "        next_i -= 1\n"
            "        i = next_i\n"
            + "".join(f"        {line}\n" for line in body)
            + f"    return d, w, s, jit_number_count, next_i, i, {', '.join(bound)}\n"
        )
        text, after = _pops_rewritten(source)
        applied += "jit_base" in text
        before = original(source)
        values = np.random.default_rng(number)
        d = values.uniform(-1.0, 1.0, 12)
        w = values.uniform(-1.0, 1.0, 12)
        numbers = values.uniform(-1.0, 1.0, 40)
        for _ in range(5):
            start = int(values.integers(-3, 8))
            count = int(values.integers(0, 10))
            count0 = int(values.integers(0, 41))
            same_bits(before, after, d, w, numbers, count0, True, True, 0.7, start, count)
    assert applied > 40, applied  # (a temporary read before its statement is left)

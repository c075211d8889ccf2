"""``jit="numba"``: element reads a loop repeats unchanged, read once before it
(transform/jit_hoist.py).

The rewrite on small functions in the forms generated code takes, run as Python before
and after on the same arguments (the same bits, or the same exception): a loop saving
values into a buffer of its own, a replayed loop adding into a gradient buffer whose
flag a test around it checks, loops that make no iteration (the element read before
them would be out of bounds), and the loops it must leave: a store into another array,
a flag not known set, an index the loop changes, a read only some iterations make, an
array changed in place by ``+=``, a call that may change it. Then a pair loop's
gradient compiled through ``ag.grad(f, jit="numba")``, bit for bit.
"""

from __future__ import annotations

import ast
import importlib.util

import numpy as np
import pytest
from astgrad.transform.jit_hoist import hoist_invariant_reads
from jit_checks import original, rewritten, same_bits
from test_jit import pair_energy  # (a pair loop)


def _rewritten(source: str, buffers=None, numbers=("count",)) -> tuple[str, object]:
    def rewrite(function, buffers, fresh):
        hoist_invariant_reads(function, {"saved"}, buffers, lambda call: False, set(numbers), fresh)

    return rewritten(source, rewrite, buffers or {})


SAVING = """
def pairs(pos, saved, start, stop, i):
    count = 0
    e = 0.0
    for j in range(start, stop):
        dx = pos[i, 0] - pos[j, 0]
        if count == saved.shape[0]:
            raise IndexError("full")
        saved[count] = dx
        count += 1
        e = e + dx * pos[i, 0] * pos[i, 1]
    return e, saved
"""


def test_a_loop_saving_values_reads_the_fixed_element_once():
    text, after = _rewritten(SAVING)
    assert text.count("jit_read_") == 3 and "if start < stop:" in text, text
    assert "* pos[i, 1]" in text, text  # (read after the branch: left where it is)
    before = original(SAVING)
    pos = np.cos(np.arange(12.0)).reshape(6, 2)
    # in bounds; i negative (wraps alike); no iteration with i out of bounds (nothing
    # read); i out of bounds with iterations (an IndexError on both sides); the buffer
    # full half way (the raise inside the loop)
    for start, stop, i, size in ((1, 6, 0, 9), (0, 6, -2, 9), (3, 3, 40, 9), (4, 2, 40, 9),
                                 (0, 6, 40, 9), (0, 6, 1, 3)):  # fmt: skip
        same_bits(before, after, pos, np.zeros(size), start, stop, i)


REPLAYED = """
def replayed(d, pos, mine, i, start, count):
    next_j = start + count
    if mine and 0 <= i < d.shape[0]:
        for run in range(count):
            next_j -= 1
            j = next_j
            a = pos[i, 1] * pos[j, 1]
            d[j, 0] = d[j, 0] + a
    return d
"""


def test_a_replayed_loop_under_its_buffers_flag():
    text, after = _rewritten(REPLAYED, {"d": ("mine", 2)})
    assert "jit_read_" in text and "if 0 < count:" in text, text
    before = original(REPLAYED)
    pos = np.linspace(0.0, 1.0, 12).reshape(6, 2)
    for i, start, count, mine in ((2, 6, 6, True), (0, 3, 0, True), (5, 4, 2, False)):
        same_bits(before, after, np.zeros((6, 2)), pos, mine, i, start, count)


@pytest.mark.parametrize(
    "body",
    [
        "other[j] = pos[i]",  # a store into an array another name may reach
        "d[j] = pos[i]",  # a gradient buffer whose flag is not known set
        "saved[j] = pos[j]",  # an index the loop changes
        "if j > 2:\n            saved[j] = pos[i]",  # a read only some iterations make
        "other += 1.0\n        saved[j] = pos[i]",  # an array changed in place
        "saved[j] = pos[i] + np.sum(other)",  # a call that may change it
        "i = j\n        saved[j] = pos[i]",  # the index bound in the loop
        "pos.shape = (2, 6)\n        saved[j] = pos[i]",  # what an index reaches changed
    ],
)
def test_loops_whose_reads_may_change_are_left(body):
    source = (
        "def f(pos, saved, other, d, mine, i, count):\n"
        "    for j in range(count):\n"
        f"        {body}\n"
        "    return saved\n"
    )
    text, _ = _rewritten(source, {"d": ("mine", 1)})
    assert "jit_read" not in text, text


def test_a_flag_cleared_before_the_loop_is_not_known_set():
    source = (
        "def f(pos, d, mine, i, count):\n"
        "    if mine:\n"
        "        mine = False\n"
        "        for j in range(count):\n"
        "            d[j] = pos[i]\n"
        "    return d\n"
    )
    text, _ = _rewritten(source, {"d": ("mine", 1)})
    assert "jit_read" not in text, text


# -- a gradient compiled through ag.grad ------------------------------------------------


@pytest.mark.skipif(importlib.util.find_spec("numba") is None, reason="needs numba")
def test_a_pair_loops_gradient_reads_its_fixed_particle_once():
    from jit_checks import compiled_check

    pos = np.cos(np.arange(24.0)).reshape(12, 2) * 3.0
    source = compiled_check(pair_energy, (pos,), 0, same_bits=True)
    tree = ast.parse(source)
    hoisted = [n for n in ast.walk(tree) if isinstance(n, ast.Name) and "jit_read" in n.id]
    assert hoisted, source  # (the forward loop's and the replayed loop's)


# -- the room for a loop's saved numbers, checked once ---------------------------------

from astgrad.transform.jit_hoist import hoist_capacity_checks  # noqa: E402


class StackFull(Exception):
    pass


PUSHING = """
def pushing(u, jit_numbers, start, stop):
    jit_numbers = jit_numbers.copy()
    jit_number_count = 1
    a = 0.0
    for i in range(start, stop):
        saved_1 = a
        if jit_number_count == jit_numbers.shape[0]:
            raise StackFull()
        jit_numbers[jit_number_count] = saved_1
        jit_number_count += 1
        a = u[i] * 2.0
        saved_2 = a * a
        if jit_number_count == jit_numbers.shape[0]:
            raise StackFull()
        jit_numbers[jit_number_count] = saved_2
        jit_number_count += 1
    return jit_numbers, jit_number_count, a
"""


def _capacity_rewritten(source: str) -> tuple[str, object]:
    tree = ast.parse(source)
    hoist_capacity_checks(tree.body[0], "jit_numbers", "jit_number_count")
    ast.fix_missing_locations(tree)
    namespace: dict = {"np": np, "StackFull": StackFull}
    exec(compile(tree, "<rewritten>", "exec"), namespace)
    return ast.unparse(tree), namespace[tree.body[0].name]


def test_a_loops_pushes_check_the_room_once_before_it():
    text, after = _capacity_rewritten(PUSHING)
    assert "if jit_number_count + 2 * len(range(start, stop)) > jit_numbers.shape[0]:" in text
    assert text.count("raise StackFull()") == 1, text
    namespace: dict = {"np": np, "StackFull": StackFull}
    exec(PUSHING, namespace)
    before = namespace["pushing"]
    u = np.linspace(0.5, 1.5, 8)
    # room to spare, exactly enough (1 + 2 * 6 = 13), one short (both raise StackFull),
    # no iteration
    for size, start, stop in ((20, 1, 7), (13, 1, 7), (12, 1, 7), (3, 4, 4), (1, 5, 2)):
        same_bits(before, after, u, np.zeros(size), start, stop)


UNDER_A_BRANCH = PUSHING.replace(
    """        saved_2 = a * a
        if jit_number_count == jit_numbers.shape[0]:
            raise StackFull()
        jit_numbers[jit_number_count] = saved_2
        jit_number_count += 1
""",
    """        if a > 1.0:
            saved_2 = a * a
            if jit_number_count == jit_numbers.shape[0]:
                raise StackFull()
            jit_numbers[jit_number_count] = saved_2
            jit_number_count += 1
""",
)
POPPING_TOO = PUSHING.replace(
    "        a = u[i] * 2.0\n", "        a = u[i] * 2.0 + jit_numbers[jit_number_count - 1]\n"
)


@pytest.mark.parametrize("source", [UNDER_A_BRANCH, POPPING_TOO], ids=["branch", "read"])
def test_loops_whose_pushes_are_not_fixed_keep_their_checks(source):
    # a push under a branch (how many an iteration makes is not fixed), the count or the
    # buffer read some other way
    assert source != PUSHING
    text, after = _capacity_rewritten(source)
    assert text.count("raise StackFull()") == 2, text

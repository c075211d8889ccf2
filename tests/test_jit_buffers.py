"""``jit="numba"``: element loops' gradient buffers reused, and arrays saved only for
their shapes saved as shapes (transform/jit.py, ``_plan_buffers`` and ``_plan_shapes``).

Each program runs compiled (its second call: the first one probes, uncompiled) against
the uncompiled gradient and central finite differences, and the rewritten source is
checked for the form each case should take: shapes that change from step to step (the
spare does not fit: new buffers), arrays the backward pass reads for their values (still
saved), two fields of different lengths, one gradient called at several sizes.
"""

from __future__ import annotations

import ast
import re

import numpy as np
import pytest
from test_fresh_restores import heat

pytest.importorskip("numba")

from jit_checks import compiled_check  # noqa: E402
from numeric import assert_close  # noqa: E402

import astgrad as ag  # noqa: E402


def shrinking(u0, k):
    # each step's array is one shorter: no spare ever fits the next buffer
    u = u0.copy()
    for _ in range(4):
        n = u.shape[0]
        new = np.zeros(n - 1)
        for i in range(n - 1):
            new[i] = k * u[i] + u[i + 1] * u[i]
        u = new
    return np.sum(u * u)


# the backward pass reads u's values (np.sum(u * u)'s gradient): u is saved, not only its
# shape
nonlinear_heat = heat


def two_fields(a0, b0, k, steps):
    # two arrays of different lengths stepped together: buffers of one kind, two shapes
    a = a0.copy()
    b = b0.copy()
    for _ in range(steps):
        new_a = a.copy()
        new_b = b.copy()
        for i in range(1, a.shape[0] - 1):
            new_a[i] = a[i] + k * (a[i - 1] - 2.0 * a[i] + a[i + 1]) + 0.1 * b[0]
        for j in range(b.shape[0]):
            new_b[j] = b[j] - k * b[j] * a[1]
        a = new_a
        b = new_b
    return np.sum(a * a) + np.sum(b * b * b)


def _check(function, args, wrt):
    return compiled_check(function, args, wrt)


def test_shapes_that_change_each_step_get_new_buffers():
    source = _check(shrinking, (np.linspace(0.1, 0.9, 9), 0.7), 0)
    assert "jit_buffer_from(" in source, source


def test_buffers_and_saved_shapes_in_the_heat_equation():
    u0 = np.sin(np.linspace(0.0, 3.0, 16))
    source = _check(nonlinear_heat, (u0, 0.1, 7), 0)
    # u's values are read by the backward pass: u is still saved
    assert "jit_lists[0].append(u)" in source, source
    # new's overwritten elements are not put back: new is a new array each step (new =
    # u.copy()), and between that and the writes nothing else can hold it; u = new comes
    # after them, and the backward pass has given u the last step's array again before it
    # reaches the writes (optimize.fresh_aliases)
    assert "saved_item(new, i)" not in source, source


def test_two_fields_of_different_lengths():
    rng = np.random.default_rng(2)
    args = (rng.uniform(-1, 1, 12), rng.uniform(-1, 1, 5), 0.2, 6)
    source = _check(two_fields, args, (0, 1))
    assert "jit_spare" in source, source


def test_buffers_at_several_sizes_in_one_gradient():
    # one compiled gradient called with arrays of other lengths: the buffers follow
    compiled = ag.grad(nonlinear_heat, jit="numba")
    plain = ag.grad(nonlinear_heat)
    for n in (16, 5, 40, 3, 16):
        u0 = np.sin(np.linspace(0.0, 3.0, n))
        for _ in range(2):
            assert_close(compiled(u0, 0.1, 4), plain(u0, 0.1, 4), rtol=1e-10, atol=1e-12)


def _rewritten(source: str) -> str:
    """``source`` (written as generated code is) rewritten for Numba, as text."""
    from astgrad.transform import jit as rewrite_jit

    names = rewrite_jit.Names(gradient_buffer={"gradient_buffer"})
    start = "jit_np.empty((0, ), jit_np.float64)"
    probed = rewrite_jit.Probed(
        starts={"f_grad": {n: start for n in ("a", "b", "c")}},
        kinds={"f_grad": {n: "array" for n in ("a", "b", "c")}},
    )
    return ast.unparse(rewrite_jit.rewrite(source, names, {}, probed))


HANDED_ON = """
def f_grad(x, n):
    a = gradient_buffer(0, x)
    for _ in range(n):
        b = a
        a = 0
        b = gradient_buffer(b, x)
        a = gradient_buffer(a, x)
    return a
"""


def test_a_buffer_handed_on_keeps_its_flag():
    source = _rewritten(HANDED_ON)
    # (b = a, then a rebound unread: b's array is the code's alone where a's was)
    assert re.search(r"jit_mine_b_\d+ = jit_mine_a_\d+", source), source
    assert re.search(r"jit_buffer_from\(b, x, jit_mine_b_\d+,", source), source


def test_a_buffer_another_name_still_reads_is_not_kept():
    # c reads a's array after b = a: b's flag must not say the array is b's alone, or
    # gradient_buffer(b, x) would keep it and its writes would change c
    source = _rewritten(HANDED_ON.replace("        a = 0\n", "        c = a\n        a = 0\n"))
    assert not re.search(r"jit_mine_b_\d+ = jit_mine_a_\d+", source), source
    assert re.search(r"jit_mine_b_\d+ = False", source), source


SUMMED = """
def f_grad(x, g):
    d = gradient_buffer(0, x)
    d = d + g
    return d
"""


def _summed(start_d: str, start_g: str) -> str:
    from astgrad.transform import jit as rewrite_jit

    names = rewrite_jit.Names(gradient_buffer={"gradient_buffer"})
    probed = rewrite_jit.Probed(
        starts={"f_grad": {"d": start_d, "g": start_g}},
        kinds={"f_grad": {"d": "array", "g": "array"}},
    )
    return ast.unparse(rewrite_jit.rewrite(SUMMED, names, {}, probed))


def test_a_sum_into_the_codes_own_array_is_written_in_place_where_the_types_fit():
    vector = "jit_np.empty((0, ), jit_np.float64)"
    # float64 arrays of one rank, or a number: d += g (the same values as d + g where g
    # broadcasts to d's shape)
    assert "d += g" in _summed(vector, vector)
    assert "d += g" in _summed(vector, "0.0")
    # another dtype or rank: the helper, which checks and makes a new array if needed
    for other in (
        "jit_np.empty((0, ), jit_np.complex128)",
        "jit_np.empty((0, 0, ), jit_np.float64)",
    ):
        source = _summed(vector, other)
        assert "d = jit_add_into(d, g)" in source and "+=" not in source, source

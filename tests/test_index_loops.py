"""Loops over enumerate(), zip() and reversed() become loops over an index that read each
sequence by position. A dict has no positions (``d[i]`` looks a key up), so reading one
that way must fail loudly rather than give a silently wrong gradient."""

import numpy as np
import pytest
from numeric import assert_close, numeric_vjp

import astgrad as ag


def enumerate_keys(x, d):
    s = 0.0
    for i, k in enumerate(d):
        s = s + x * k * (i + 1)
    return s


def zip_with_dict(x, xs, ys):
    s = 0.0
    for a, b in zip(xs, ys):
        s = s + x * a * b
    return s


def reversed_keys(x, d):
    s = 0.0
    for k in reversed(d):
        s = s * 0.5 + x * k
    return s


def reversed_values(x, xs):
    s = 0.0
    for v in reversed(xs):
        s = s * 0.5 + x * v
    return s


# int keys that d[i] or d[-1 - i] would find: a plain len() loop gave wrong gradients
DICT_CASES = [
    (enumerate_keys, ({0: 2.0, 1: 3.0},)),
    (zip_with_dict, ([1.0, 2.0], {0: 5.0, 1: 7.0})),
    (reversed_keys, ({-3: 0.0, -2: 0.0, -1: 0.0},)),
]


@pytest.mark.parametrize("mode", ["source", "auto"])
@pytest.mark.parametrize("function, args", DICT_CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_a_dict_read_by_position_is_a_type_error_naming_the_users_loop(function, args, mode):
    with pytest.raises(TypeError, match=r"of a dict reads it by position.*mode='tape'") as info:
        ag.grad(function, mode=mode)(1.5, *args)
    notes = "\n".join(getattr(info.value, "__notes__", []))
    if notes:  # (notes need Python 3.11)
        assert "test_index_loops.py" in notes and "for " in notes


@pytest.mark.parametrize("function, args", DICT_CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_the_tape_iterates_a_dict_as_python_does(function, args):
    got = ag.grad(function, mode="tape")(1.5, *args)
    assert_close(got, numeric_vjp(lambda x: function(x, *args), [1.5], 0, 1.0))


@pytest.mark.parametrize("mode", ["source", "auto", "tape"])
@pytest.mark.parametrize(
    "xs", [[1.0, 2.0, 3.0], (1.0, 2.0, 3.0), np.array([1.0, 2.0, 3.0])], ids=type
)
def test_sequences_are_still_read_by_position(xs, mode):
    for wrt in (0, 1):
        got = ag.grad(reversed_values, wrt=wrt, mode=mode)(1.5, xs)
        want = numeric_vjp(reversed_values, [1.5, np.asarray(xs, dtype=float)], wrt, 1.0)
        assert_close(np.asarray(got, dtype=float), want, what=f"d{wrt}")

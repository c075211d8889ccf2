"""The cached call of a gradient: a call that repeats the last one's pattern of plain host
arguments takes a prepared plan, and must behave exactly as the general path does: the
same gradients, the same forms, the same errors, the same regeneration when a global is
rebound. Each test makes the plan with a first call, then checks the calls after it.
"""

from __future__ import annotations

import traceback

import numpy as np
import pytest
from modules import write_module
from numeric import assert_close

import astgrad as ag


def weighted(w, b, x):
    return np.sum((x * w + b) ** 2)


def total(x):
    return np.sum(x)


def ignores_first(x, y):
    return np.sum(y * y)


def product(x, y):
    return np.sum(x * y)


def scaled(x, scale, label):
    return np.sum(x * x) * scale


def _planned(g) -> bool:
    """Whether ``g`` has a plan for its next call (the fast path is on)."""
    return g._plan is not None


def test_cached_calls_take_the_plan_and_give_the_first_calls_gradients():
    g = ag.grad(weighted, wrt=("w", "b"), mode="source")
    args = (np.array([1.0, 2.0]), 0.5, np.array([3.0, -1.0]))
    first = g(*args)
    assert _planned(g)
    for _ in range(3):
        again = g(*args)
        assert type(again) is tuple and len(again) == 2
        assert_close(again[0], first[0])
        assert type(again[1]) is float and again[1] == pytest.approx(first[1])


def test_new_arguments_of_the_same_types_get_their_own_gradients():
    g = ag.grad(weighted, wrt=("w", "b"), mode="source")
    x = np.array([3.0, -1.0])
    g(np.ones(2), 0.0, x)
    dw, db = g(np.array([2.0, 0.0]), 1.0, x)
    expected_dw = 2 * (x * np.array([2.0, 0.0]) + 1.0) * x
    assert_close(dw, expected_dw)
    assert db == pytest.approx(float(np.sum(2 * (x * np.array([2.0, 0.0]) + 1.0))))


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.arange(2), "cannot differentiate with respect to 'w': it is an integer array"),
        (np.array([True, False]), "it is a boolean array"),
        (None, "it is None (NoneType)"),
        (3, "it is an integer (3)"),
    ],
)
def test_a_non_float_argument_after_cached_calls_raises_as_on_a_first_call(bad, message):
    g = ag.grad(weighted, wrt="w", mode="source")
    g(np.ones(2), 0.5, np.ones(2))
    with pytest.raises(TypeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        g(bad, 0.5, np.ones(2))
    # and the plan still serves the good calls after it
    assert_close(g(np.ones(2), 0.5, np.ones(2)), 2 * (np.ones(2) + 0.5))


def test_the_gradient_keeps_its_arguments_dtype_on_cached_calls():
    g = ag.grad(product, mode="source")
    y = np.array([1.0, 2.0])
    assert g(np.ones(2), y).dtype == np.float64
    for _ in range(2):
        got = g(np.ones(2, dtype=np.float32), y)
        assert got.dtype == np.float32


def test_a_broadcast_gradient_comes_back_writable_on_cached_calls():
    g = ag.grad(total, mode="source")
    for _ in range(3):
        got = g(np.ones((2, 3)))
        assert got.flags.writeable and got.shape == (2, 3)
        got += 1.0  # the user's to change


def test_an_argument_nothing_flows_into_gets_zeros_on_cached_calls():
    g = ag.grad(ignores_first, wrt=("x", "y"), mode="source")
    for _ in range(3):
        dx, dy = g(np.ones(3), np.array([1.0, 2.0]))
        assert_close(dx, np.zeros(3))
        assert_close(dy, [2.0, 4.0])


def test_changing_types_between_calls_changes_the_gradients_types():
    g = ag.grad(product, mode="source")
    y = np.array([1.0, 2.0])
    assert isinstance(g(np.ones(2), y), np.ndarray)
    assert type(g(2.0, y)) is float
    assert isinstance(g(np.ones(2), y), np.ndarray)
    assert type(g(2.0, y)) is float


def test_keyword_arguments_and_positional_ones_agree():
    g = ag.value_and_grad(weighted, wrt=("w", "b"), mode="source")
    args = (np.array([1.0, 2.0]), 0.5, np.array([3.0, -1.0]))
    value, (dw, db) = g(*args)
    for call in (lambda: g(*args), lambda: g(args[0], b=0.5, x=args[2]), lambda: g(*args)):
        v, (w2, b2) = call()
        assert v == pytest.approx(value) and b2 == pytest.approx(db)
        assert_close(w2, dw)


def test_a_one_name_wrt_tuple_gives_a_one_tuple_on_cached_calls():
    g = ag.grad(product, wrt=("x",), mode="source")
    for _ in range(3):
        got = g(np.ones(2), np.array([1.0, 2.0]))
        assert type(got) is tuple and len(got) == 1
        assert_close(got[0], [1.0, 2.0])


def test_other_plain_arguments_take_part_in_the_pattern():
    g = ag.grad(scaled, wrt=("x", "scale"), mode="source")
    x = np.array([1.0, 2.0])
    for label in ("a", None, 3, True):  # another type each time: a plan for each
        dx, dscale = g(x, 2.0, label)
        assert_close(dx, 4.0 * x)
        assert dscale == pytest.approx(5.0)


def test_lists_of_float_arrays_are_planned_and_other_lists_are_not():
    def summed(parts):
        return np.sum(parts[0] * parts[1])

    g = ag.grad(summed, mode="source")
    for _ in range(3):
        got = g([np.ones(2), np.array([1.0, 3.0])])
        assert type(got) is list
        assert_close(got[0], [1.0, 3.0])
    assert _planned(g)  # (its length and its items' types checked at every call)
    # a list holding a number, not only float arrays, takes the general path every time
    h = ag.grad(summed, mode="source")
    for _ in range(3):
        got = h([np.ones(2), 3.0])
        assert type(got) is list
        assert_close(got[0], [3.0, 3.0])
    assert not _planned(h)


def test_rebinding_a_helper_after_cached_calls_regenerates_the_caller(tmp_path):
    module = write_module(
        tmp_path,
        "planned_rebinding",
        "import numpy as np\n"
        "def helper(x):\n    return x * 2\n"
        "def other(x):\n    return x * 7\n"
        "def f(x):\n    return np.sum(helper(x))\n",
    )
    g = ag.grad(module.f, mode="source")
    for _ in range(2):
        assert_close(g(np.ones(2)), [2.0, 2.0])
    module.helper = module.other
    for _ in range(2):
        assert_close(g(np.ones(2)), [7.0, 7.0])


def test_errors_in_cached_calls_show_the_generated_lines():
    g = ag.grad(product, mode="source")
    g(np.ones(2), np.ones(2))
    with pytest.raises(ValueError) as info:
        g(np.ones(2), np.ones(3))  # shapes that do not broadcast
    frames = traceback.extract_tb(info.value.__traceback__)
    generated = [f for f in frames if f.filename.startswith("<astgrad")]
    assert generated and all(f.line for f in generated), [f.filename for f in frames]


def test_tensors_after_arrays_take_the_general_path():
    g = ag.grad(product, mode="source")
    y = np.array([1.0, 2.0])
    g(np.ones(2), y)
    got = g(ag.tensor([1.0, 1.0]), y)
    assert isinstance(got, ag.Tensor)
    assert_close(got.numpy(), [1.0, 2.0])


def test_float32_and_float64_calls_alternate_with_a_plan_each():
    g = ag.grad(product, mode="source")
    y = np.array([1.0, 2.0])
    for _ in range(2):
        for dtype in (np.float64, np.float32, np.float16):
            got = g(np.ones(2, dtype=dtype), y)
            assert got.dtype == dtype
            assert_close(got.astype(np.float64), [1.0, 2.0])
    assert len(g._plans) == 3


def test_a_non_native_float_dtype_is_still_differentiated():
    g = ag.grad(product, mode="source")
    y = np.array([1.0, 2.0])
    g(np.ones(2), y)
    big_endian = np.ones(2, dtype=">f8")
    for _ in range(2):
        got = g(big_endian, y)
        assert got.dtype == big_endian.dtype
        assert_close(got, [1.0, 2.0])

"""Numbers, masks and dtypes in functions run on the tape (``mode="tape"``, and calls that
``mode="auto"`` sends there), where a 0-d tensor stands for a Python number: ``t.item()``,
``t.tolist()`` and ``float(t)`` keep the gradient there, while eager code gets Python
numbers as in PyTorch; results that are not numbers are errors, as in source mode; ``&``,
``|``, ``^``, ``~`` on tensors; ``float`` as a dtype; and relu, which saves its result."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numeric import assert_close, numeric_vjp

import astgrad as ag

X = np.array([0.3, -0.7, 1.2, 0.45])
M = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])


def _check(f, args, wrt=0, modes=("tape", "auto")):
    """The gradient in each mode equals central finite differences."""
    wrt_tuple = wrt if isinstance(wrt, tuple) else (wrt,)
    for mode in modes:
        got = ag.grad(f, wrt=wrt, mode=mode)(*args)
        got = got if isinstance(wrt, tuple) else (got,)
        for g, i in zip(got, wrt_tuple):
            want = numeric_vjp(f, list(args), i, 1.0)
            assert_close(g, want, what=f"{f.__name__} {mode} d/d arg {i}")


# -- item, tolist, float --------------------------------------------------------------------


def item_of_sum(x):
    return np.sum(x**2).item()


def item_then_arithmetic(x):
    s = np.sum(x**2).item()
    return s * 2.0 + math.sin(s) + x[0].item() ** 3


def item_of_a_one_element_matrix(x):
    return (x[:1, :1] * 3.0).item() + np.sum(x)


def test_item_keeps_the_gradient_on_the_tape():
    _check(item_of_sum, (X,))
    _check(item_then_arithmetic, (X,))
    _check(item_of_a_one_element_matrix, (M,))


def tolist_squares(x):
    return sum(v * v for v in x.tolist())


def tolist_some_elements(x):
    vals = x.tolist()
    return vals[0] * vals[2] + math.exp(vals[-1])  # vals[1] unused: its gradient is 0


def tolist_nested(x):
    rows = x.tolist()
    return sum(r[0] * r[1] - r[2] ** 2 for r in rows) + rows[1][2] * 2.0


def tolist_of_a_0d(x):
    v = np.sum(x * x).tolist()
    return v * 5.0


def test_tolist_keeps_the_gradient_on_the_tape():
    _check(tolist_squares, (X,))
    _check(tolist_some_elements, (X,))
    _check(tolist_nested, (M,))
    _check(tolist_of_a_0d, (X,))


def test_tolist_is_one_node_and_keeps_the_dtype():
    x32 = X.astype(np.float32)
    got = ag.grad(tolist_squares, mode="tape")(x32)
    assert got.dtype == np.float32
    assert_close(got, 2 * X, rtol=1e-6)
    big = np.linspace(-1.0, 1.0, 3000)
    assert_close(ag.grad(tolist_squares, mode="tape")(big), 2 * big)

    seen = {}

    def structure(x):
        vals = x.tolist()
        seen["nodes"] = {v.grad_fn for v in vals}
        seen["types"] = {type(v) for v in vals}
        return vals[0]

    ag.grad(structure, mode="tape")(X)
    (node,) = seen["nodes"]
    assert node.name() == "TolistBackward"
    assert seen["types"] == {ag.Tensor}


def float_of_a_sum(x):
    return float(np.sum(x**2)) * 3.0


def test_float_keeps_the_gradient_on_the_tape():
    _check(float_of_a_sum, (X,))


def numbers_do_not_follow_the_tensor(x):
    y = x * 1.0
    a = y[0].item()
    b = float(y[1])
    c = y.tolist()[2]
    d = y[3:].item()
    y[:] = 0.0  # a number taken out before is not changed by this
    return a * b * c * d + np.sum(y)


def test_numbers_taken_out_are_copies():
    _check(numbers_do_not_follow_the_tensor, (X,))


def numbers_without_gradient(x):
    n = np.sum(x > 0)  # an integer: no gradient
    k = n.item()
    with ag.no_grad():
        frozen = np.sum(x).item()
    parts = (x > 0).tolist()
    # (``float`` here is the tape's: it compares equal to Python's, and is not it)
    assert type(k) is int and type(frozen) == float and type(float(n)) == float  # noqa: E721
    assert parts == [bool(v > 0) for v in X]
    return np.sum(x**2) * k + frozen


def test_numbers_without_gradient_are_python_numbers_on_the_tape():
    got = ag.grad(numbers_without_gradient, mode="tape")(X)
    assert_close(got, 2 * X * np.sum(X > 0))


def test_item_and_tolist_in_eager_code_keep_pytorch_semantics():
    x = ag.tensor([1.5, -2.0], requires_grad=True)
    y = x * 2.0
    assert type(y.sum().item()) is float and y.sum().item() == -1.0
    assert y.tolist() == [3.0, -4.0] and all(type(v) is float for v in y.tolist())
    assert ag.tensor([[1.0, 2.0]]).tolist() == [[1.0, 2.0]]


def numbers_in_messages_and_integers(x):
    loss = np.sum(x**2)
    s = loss.item()
    message = f"loss {s:.3f} {loss.item():8.2f} {float(loss):e}"
    assert message == f"loss {np.sum(X**2):.3f} {np.sum(X**2):8.2f} {np.sum(X**2):e}"
    n = math.floor(s) + math.ceil(s) + math.trunc(-s) + round(s) + int(s)
    return s * 2.0 + n + round(s, 2)  # (round to digits: no gradient)


def test_numbers_still_format_and_round_on_the_tape():
    got = ag.grad(numbers_in_messages_and_integers, mode="tape")(X)
    assert_close(got, 4 * X)


def test_format_floor_ceil_trunc_round_of_tensors():
    t = ag.tensor(-2.375, requires_grad=True)
    assert f"{t:.2f}|{t * 2:+.1e}|{t}" == "-2.38|-4.8e+00|-2.375"
    assert (math.floor(t), math.ceil(t), math.trunc(t), round(t), round(t, 1)) == (
        -3,
        -2,
        -2,
        -2,
        -2.4,
    )
    assert math.floor(ag.tensor([[2.5]])) == 2
    with pytest.raises(TypeError, match="unsupported format string"):
        f"{ag.tensor([1.0, 2.0]):.2f}"
    with pytest.raises(TypeError, match="only one-element tensors"):
        round(ag.tensor([1.0, 2.0]))


def test_item_of_several_elements_is_an_error_on_the_tape():
    def f(x):
        return x.item()

    with pytest.raises(ValueError, match="size 1"):
        ag.grad(f, mode="tape")(X)


# -- results that are not numbers -------------------------------------------------------------


def returns_nothing(x):
    x * 2.0


def returns_text(x):
    return "done"


def returns_a_constant(x):
    return 3.0


def returns_a_constant_array(x):
    return np.ones(1) * 2.0


def returns_an_unused_tensor(x):
    return np.sum(np.zeros(3))


def returns_a_tuple_of_constants(x):
    return 1.0, 2.0


def test_a_result_that_is_not_a_number_is_an_error_on_the_tape():
    with pytest.raises(TypeError, match="returned NoneType, which cannot be differentiated"):
        ag.grad(returns_nothing, mode="tape")(X)
    with pytest.raises(TypeError, match="returned str, which cannot be differentiated"):
        ag.grad(returns_text, mode="tape")(X)
    with pytest.raises(TypeError, match="returned NoneType, which cannot be differentiated"):
        ag.value_and_grad(returns_nothing, mode="tape")(0.5)
    with pytest.raises(ValueError, match="only for scalar outputs.*returned a tuple"):
        ag.grad(returns_a_tuple_of_constants, mode="tape")(X)


@pytest.mark.parametrize(
    "f", [returns_a_constant, returns_a_constant_array, returns_an_unused_tensor]
)
def test_a_result_that_does_not_depend_on_the_arguments_has_zero_gradients(f):
    for args in ((X,), (0.5,)):
        got = ag.grad(f, mode="tape")(*args)
        assert_close(got, np.zeros_like(args[0]))


# -- bitwise and logical operators --------------------------------------------------------------


def combined_masks(x):
    inside = (x > -0.5) & (x < 0.5)
    outside = ~inside
    either = (x > 1.0) | (x < -0.6)
    one = (x > 0) ^ either
    return (
        np.sum(x[inside] ** 2)
        + np.sum(np.where(outside, x, 0.0))
        + np.sum(np.where(either, x**3, 0.0))
        + np.sum(x[one])
    )


def masks_with_arrays_and_bools(x):
    keep = np.array([True, False, True, True]) & (x > -1.0)
    keep = True & keep
    keep = keep | ((x < 1.0) & np.array([False, True, False, False]))
    keep &= x > -0.65
    return np.sum(np.where(keep, x * 2.0, x**2))


def test_masks_combine_on_the_tape():
    _check(combined_masks, (X,))
    _check(masks_with_arrays_and_bools, (X,))


def test_bitwise_operators_give_tensors_without_gradient():
    x = ag.tensor([0.3, -0.7, 1.2], requires_grad=True)
    a, b = x > 0, x < 1.0
    results = {
        "and": (a & b, [True, False, False]),
        "or": (a | b, [True, True, True]),
        "xor": (a ^ b, [False, True, True]),
        "not": (~a, [False, True, False]),
        "rand": (np.array([False, True, True]) & a, [False, False, True]),
        "ror": (False | a, [True, False, True]),
        "rxor": (True ^ a, [False, True, False]),
    }
    for name, (got, want) in results.items():
        assert isinstance(got, ag.Tensor), name
        assert not got.requires_grad and got.grad_fn is None, name
        assert got.dtype == np.bool_ and got.tolist() == want, name
    ints = ag.tensor(np.array([6, 3])) & 5
    assert ints.tolist() == [4, 1]
    assert (~ag.tensor(np.array([0, 2]))).tolist() == [-1, -3]


def test_inplace_bitwise_writes_into_the_tensor():
    m = ag.tensor([True, True, False])
    alias = m
    m &= ag.tensor([True, False, True])
    assert alias is m and m.tolist() == [True, False, False]
    m |= np.array([False, False, True])
    m ^= True
    assert alias.tolist() == [False, True, False]
    assert m._version == 3


def test_bitwise_on_floats_is_numpys_error():
    x = ag.tensor([0.5], requires_grad=True)
    with pytest.raises(TypeError, match="bitwise_and"):
        x & x


# -- float as a dtype ---------------------------------------------------------------------------


def float_dtypes(x):
    a = x.astype(float)
    b = np.zeros(len(x), dtype=float) + x
    c = np.asarray(x, dtype=float)
    d = np.sum(x * x, dtype=float)
    assert isinstance(1.5, float) and not isinstance(1, float) and issubclass(np.float64, float)
    assert float("inf") == math.inf and float.fromhex("0x1p1") == 2.0 and float() == 0.0  # noqa: UP018
    return np.std(a) + np.sum(b**2) + np.sum(np.sin(c)) + d


def test_float_as_a_dtype_on_the_tape():
    _check(float_dtypes, (X,))


# -- relu saves its result ------------------------------------------------------------------------


def test_relu_input_may_change_in_place_after_relu():
    x = ag.tensor([-1.0, 2.0, 0.0, 3.0], requires_grad=True)
    h = x * 1.0
    y = h.relu()
    h += 5.0  # relu saved its result, not h
    (y * y).sum().backward()
    assert_close(x.grad.numpy(), [0.0, 4.0, 0.0, 6.0])


def test_relu_gradient_at_nan_and_zero():
    for mode in ("source", "tape"):
        f = lambda x: np.sum(ag.relu(x) * 2.0)  # noqa: E731
        got = ag.grad(f, mode=mode)(np.array([np.nan, 0.0, -0.0, -2.0, 1.0]))
        assert_close(got, [0.0, 0.0, 0.0, 0.0, 2.0], what=mode)

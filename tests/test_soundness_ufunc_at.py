"""``np.add.at``, ``np.subtract.at`` and their kin on the tape: in-place operations, recorded.

Unlike ``y[idx] += v``, ``np.add.at(y, idx, v)`` is unbuffered: every value is added at
its position, repeats included, so the gradient of ``v`` is the cotangent of ``y`` gathered
at ``idx`` (``g[idx]``, each repeat its own copy), and the gradient of ``y`` is ``g``. They
raised NotImplementedError on tensors that require grad. ``np.multiply.at`` multiplies
every value in: the target's gradient is ``g`` times the product written at each position,
a value's the cotangent there times the old value and the other values written there.
``np.maximum.at`` and its kin send each position's cotangent to what it holds, shared
among ties. Other ufuncs' ``at`` (divide, power, ...) keep a clear NotImplementedError when
a gradient is needed, and run as NumPy runs them when none is.

The transform refuses these calls (they change an array in place), so mode="auto" runs the
function on the tape: both modes are checked.
"""

from __future__ import annotations

import numpy as np
import pytest
from numeric import assert_close, numeric_vjp

import astgrad as ag

RNG = np.random.default_rng(5)
X = RNG.standard_normal(4)
M = RNG.standard_normal((3, 2))


def add_at_repeats(x):
    y = np.zeros(3)
    np.add.at(y, [0, 0, 1, 0], x)
    return np.sum(y * y * np.array([1.0, 2.0, 3.0]))


def add_at_into_a_computed_array(x):
    y = np.sin(x[:3])
    np.add.at(y, np.array([2, 2]), x[1:3] * x[3])
    return np.sum(y**3)


def subtract_at_repeats(x):
    y = x[:3] * 2.0
    np.subtract.at(y, [1, 1, 1, 2], x)
    return np.sum(np.tanh(y))


def add_at_a_number(x):
    y = x * 1.0
    np.add.at(y, [3, 3, 0], 0.5)
    return np.sum(y**2)


def add_at_rows(m):
    y = np.zeros((2, 2))
    np.add.at(y, [1, 0, 1], m)  # whole rows, one repeated
    return np.sum(y**2 * np.array([[1.0, 2.0], [3.0, 4.0]]))


def add_at_pairs(m):
    y = np.ones((2, 3)) * m[0, 0]
    np.add.at(y, (np.array([0, 1, 0]), np.array([2, 2, 2])), m[:, 1])
    return np.sum(np.exp(y))


def add_at_a_broadcast_value(m):
    y = np.zeros((3, 2))
    np.add.at(y, [0, 2, 0], m[0])  # one row added three times
    return np.sum(y * y * m)


def add_at_a_view(x):
    y = np.zeros(6)
    np.add.at(y[2:], [0, 0, 3], x[:3])
    return np.sum(y**2 * np.arange(1.0, 7.0))


def multiply_at_repeats(x):
    y = x[:3] + 2.0
    np.multiply.at(y, [0, 0, 2, 0], x)
    return np.sum(y * np.array([1.0, 2.0, 3.0]))


def multiply_at_with_zeros(x):
    # With x[1] = 0, position 1 is multiplied by one zero, position 2 by two: the product
    # of the other values is found without dividing by them.
    y = np.cos(x[:3]) + 1.0
    np.multiply.at(y, [1, 1, 0, 2, 2], x[[0, 1, 2, 1, 1]])
    return np.sum(y**2 * np.array([1.0, 2.0, 3.0]))


def multiply_at_rows_by_a_number(m):
    y = m * 1.0
    np.multiply.at(y, [2, 0, 2], m[1, 1])
    return np.sum(np.sin(y))


def add_at_in_a_loop(x):
    y = np.zeros(2)
    for i in range(3):
        np.add.at(y, [0, 1, 0], x[i : i + 3] * x[3])
    return np.sum(y**2)


CASES = [
    (add_at_repeats, X),
    (add_at_into_a_computed_array, X),
    (subtract_at_repeats, X),
    (add_at_a_number, X),
    (add_at_rows, M),
    (add_at_pairs, M),
    (add_at_a_broadcast_value, M),
    (add_at_a_view, X),
    (add_at_in_a_loop, np.append(X, 0.3)),
    (multiply_at_repeats, X),
    (multiply_at_with_zeros, np.array([0.5, 0.0, 1.5, -2.0])),
    (multiply_at_rows_by_a_number, M),
]


@pytest.mark.parametrize("mode", ["auto", "tape"])
@pytest.mark.parametrize("f, x", CASES, ids=[f.__name__ for f, _ in CASES])
def test_gradient_matches_finite_differences(f, x, mode):
    expected = numeric_vjp(f, [x], 0, 1.0)
    assert_close(ag.grad(f, mode=mode)(x), expected, what=f"{f.__name__} ({mode})")


@pytest.mark.parametrize("f, x", CASES[:3], ids=[f.__name__ for f, _ in CASES[:3]])
def test_source_mode_refuses_them(f, x):
    # (the transform's effects pass: the call changes y in place; auto runs f on the tape)
    with pytest.raises(ag.TransformError, match=r"np\.(add|subtract)\.at"):
        ag.grad(f, mode="source")(x)


def test_eager_tensors():
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = ag.zeros(3)
    np.add.at(y, [0, 0, 1], x)
    assert_close(y.detach().numpy(), [3.0, 3.0, 0.0])
    assert y.grad_fn.name() == "AddAtBackward"
    (y * ag.tensor([1.0, 10.0, 100.0])).sum().backward()
    assert_close(x.grad, [1.0, 1.0, 10.0])


def test_gradient_of_the_target_passes_through():
    w = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = w * 2.0
    np.subtract.at(y, [2, 2], ag.tensor([5.0, 7.0]))
    assert_close(y.detach().numpy(), [2.0, 4.0, -6.0])
    (y * y).sum().backward()
    assert_close(w.grad, 2.0 * 2.0 * np.array([2.0, 4.0, -6.0]))


def test_a_leaf_that_requires_grad_is_refused_as_in_place():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"leaf Variable .* in-place operation \(np.add.at\)"):
        np.add.at(x, [0], 1.0)


def test_a_plain_array_target_would_lose_the_gradient():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ag.GradientLostError, match=r"np.add.at\(array, indices, tensor\)"):
        np.add.at(np.zeros(2), [0, 0], x)


def maximum_at(x):
    y = np.sin(x[:3])
    np.maximum.at(y, [0, 0, 2, 1], x * 0.5)
    return np.sum(y * np.array([1.0, 2.0, 3.0]))


def minimum_at_rows(m):
    y = m * 1.0
    np.minimum.at(y, [1, 1], m[::-1][:2] * 0.3)
    return np.sum(y**2)


def fmax_at(x):
    y = np.cos(x[:3])
    np.fmax.at(y, [2, 2], x[:2])
    return np.sum(y**3)


EXTREMA = [(maximum_at, X), (minimum_at_rows, M), (fmax_at, X)]


@pytest.mark.parametrize("mode", ["auto", "tape"])
@pytest.mark.parametrize("f, x", EXTREMA, ids=[f.__name__ for f, _ in EXTREMA])
def test_extrema_at_match_finite_differences(f, x, mode):
    expected = numeric_vjp(f, [x], 0, 1.0)
    assert_close(ag.grad(f, mode=mode)(x), expected, what=f"{f.__name__} ({mode})")


def test_maximum_at_shares_ties_as_np_max_does():
    w = ag.tensor([2.0, 1.0], requires_grad=True)
    v = ag.tensor([2.0, 0.5, 2.0], requires_grad=True)
    y = w * 1.0
    np.maximum.at(y, [0, 1, 0], v)  # position 0: the old 2.0 and two written 2.0s tie
    y.sum().backward()
    assert_close(w.grad, [1 / 3, 1.0])
    assert_close(v.grad, [1 / 3, 0.0, 1 / 3])


def divide_at(x):
    y = x * 1.0
    np.divide.at(y, [0, 0], 2.0)
    return np.sum(y)


def test_other_ufuncs_at_are_refused_clearly():
    with pytest.raises(NotImplementedError, match=r"np.divide.at on tensors that require grad"):
        ag.grad(divide_at, mode="tape")(np.array([1.0, 2.0]))


def test_without_gradients_they_run_as_numpy_runs_them():
    y = ag.tensor([1.0, 2.0, 3.0])
    np.multiply.at(y, [0, 0, 2], 3.0)
    np.add.at(y, [1, 1], ag.tensor([1.0, 1.0]))
    np.negative.at(y, [2])
    assert_close(y.numpy(), [9.0, 4.0, -9.0])
    assert y._version == 3
    with ag.no_grad():
        w = ag.tensor([1.0, 2.0], requires_grad=True)
        np.add.at(w, [0, 0], 1.0)
    assert_close(w.detach().numpy(), [3.0, 2.0])
    assert w.grad_fn is None


def test_a_value_saved_for_backward_then_changed_by_add_at_is_caught():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1.0
    z = y * y  # saves y
    np.add.at(y, [0], 1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()

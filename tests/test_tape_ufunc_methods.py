"""ufunc methods and ``np.vectorize`` on the tape (runtime/ufunc_methods.py).

``np.add.reduce`` and its kin reduce along axis 0 by default (np.sum reduces everything);
``accumulate`` is a running sum, product, maximum or minimum; ``np.add.reduceat`` sums
segments; ``np.vectorize`` runs a Python function element by element. Each is checked on
the tape and in auto mode (the transform leaves them to the tape), and in forward mode on
the tape, against central finite differences in float64; what has no derivative raises
NotImplementedError naming the method and the user's line.
"""

from __future__ import annotations

import numpy as np
import pytest
from numeric import assert_close

import astgrad as ag
from astgrad import TransformError

RNG = np.random.default_rng(8)
X = RNG.standard_normal((4, 5))


def _w(y):
    return np.sum(y * np.cos(np.arange(np.size(y)) + 0.5).reshape(np.shape(y)))


def differences(f, x, eps=1e-6):
    grad = np.zeros(np.shape(x))
    for i in np.ndindex(*np.shape(x)):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        grad[i] = (f(up) - f(down)) / (2 * eps)
    return grad


def check(f, x=X, modes=("tape", "auto"), forward=True):
    expected = differences(f, x)
    for mode in modes:
        got = ag.grad(f, mode=mode)(x)
        assert_close(got, expected, rtol=1e-6, atol=1e-8, what=f"{f.__name__}, mode {mode}")
    if forward:
        direction = np.cos(1.3 * np.arange(np.size(x))).reshape(np.shape(x))
        _, got = ag.jvp(f, (x,), (direction,), mode="tape")
        want = np.sum(expected * direction)
        assert_close(got, want, rtol=1e-6, atol=1e-8, what=f"{f.__name__}, jvp tape")


def add_reduce_default_axis(x):
    # axis 0, as NumPy's ufunc.reduce (np.sum would reduce everything)
    return _w(np.add.reduce(x)) + _w(np.multiply.reduce(x, 1))


def extremum_reduce(x):
    return _w(np.maximum.reduce(x)) + _w(np.minimum.reduce(x, axis=1, keepdims=True))


def reduce_everything(x):
    return _w(np.add.reduce(x, axis=None)) + _w(np.maximum.reduce(x, None, initial=1.0))


def add_accumulate(x):
    return _w(np.add.accumulate(x)) + _w(np.add.accumulate(x, axis=1))


def multiply_accumulate(x):
    return _w(np.multiply.accumulate(x, 1)) + _w(np.multiply.accumulate(x))


def extremum_accumulate(x):
    return _w(np.maximum.accumulate(x)) + _w(np.minimum.accumulate(x, axis=1))


def add_reduceat(x):
    # segments [0, 2), [2, 3), [3:]; and a non-increasing index: x[3] alone, then [1:]
    return _w(np.add.reduceat(x, [0, 2, 3])) + _w(np.add.reduceat(x, [3, 1], axis=1))


def _piece(v):
    # a Python branch on each element, which only element by element can follow
    if v > 0:
        return v * v
    return np.sin(v)


def vectorized(x):
    return _w(np.vectorize(_piece)(x))


def _affine(v, w):
    return v * w + np.exp(w)


def vectorized_broadcast(x):
    # two arguments broadcast against each other, the second a constant row
    return _w(np.vectorize(_affine)(x, np.arange(5.0) / 5))


VECTORIZED_PIECE = np.vectorize(_piece)


def vectorized_global(x):
    return _w(VECTORIZED_PIECE(x))


CASES = [
    add_reduce_default_axis,
    extremum_reduce,
    reduce_everything,
    add_accumulate,
    multiply_accumulate,
    extremum_accumulate,
    add_reduceat,
    vectorized,
    vectorized_broadcast,
    vectorized_global,
]


@pytest.mark.parametrize("f", CASES, ids=lambda f: f.__name__)
def test_against_differences(f):
    check(f)


def test_running_maximum_sends_the_cotangent_where_it_is_held():
    """Each result's cotangent goes to the element that holds the running maximum (the
    latest of tied ones): x[1] holds results 1 and 2, x[3] (tied with x[1]) 3 and 4."""

    def f(x):
        return np.sum(np.maximum.accumulate(x) * np.array([1.0, 2.0, 4.0, 8.0, 16.0]))

    x = np.array([1.0, 3.0, 2.0, 3.0, 0.5])
    np.testing.assert_array_equal(ag.grad(f, mode="tape")(x), [1.0, 6.0, 0.0, 24.0, 0.0])


def test_second_derivative_through_a_scan():
    def f(x):
        return np.sum(np.sin(np.maximum.accumulate(x * x, axis=1)))

    direction = np.cos(np.arange(20.0)).reshape(4, 5)
    gradient = ag.grad(f, mode="tape")
    eps = 1e-5
    expected = (gradient(X + eps * direction) - gradient(X - eps * direction)) / (2 * eps)
    got = ag.hvp(f, (X,), (direction,), mode="tape")
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def subtract_accumulate(x):
    return np.sum(np.subtract.accumulate(x))


def multiply_reduceat(x):
    return np.sum(np.multiply.reduceat(x, [0, 2]))


def maximum_reduce_dtype(x):
    return np.sum(np.maximum.reduce(x, dtype=np.float32))


def vectorized_signature(x):
    return np.sum(np.vectorize(lambda row: row * 2.0, signature="(n)->(n)")(x))


@pytest.mark.parametrize(
    "f, pattern",
    [
        (subtract_accumulate, r"np\.subtract\.accumulate"),
        (multiply_reduceat, r"np\.multiply\.reduceat"),
        (maximum_reduce_dtype, r"np\.maximum\.reduce\(\.\.\., dtype"),
        (vectorized_signature, r"np\.vectorize.*signature="),
    ],
    ids=lambda c: getattr(c, "__name__", ""),
)
def test_what_has_no_derivative_is_refused_naming_the_line(f, pattern):
    for mode in ("tape", "auto"):
        with pytest.raises(NotImplementedError, match=pattern) as raised:
            ag.grad(f, mode=mode)(X)
        assert "test_tape_ufunc_methods.py:" in str(raised.value)


def test_the_transform_names_the_call_it_leaves_to_the_tape():
    with pytest.raises(TransformError, match=r"np\.add\.accumulate .*write np\.cumsum"):
        ag.grad(add_accumulate, mode="source")(X)
    with pytest.raises(TransformError, match=r"np\.maximum\.reduce .*write np\.max\(x, axis=0"):
        ag.grad(extremum_reduce, mode="source")(X)
    with pytest.raises(TransformError, match=r"np\.add\.reduceat has no derivative rule"):
        ag.grad(add_reduceat, mode="source")(X)
    with pytest.raises(TransformError, match="vectorize"):
        ag.grad(vectorized, mode="source")(X)


def test_values_are_numpys():
    """Without a gradient the methods compute what NumPy computes, on tensors too."""
    t = ag.tensor(X)
    np.testing.assert_array_equal(np.add.reduce(t).data, np.add.reduce(X))
    np.testing.assert_array_equal(np.maximum.accumulate(t, 1).data, np.maximum.accumulate(X, 1))
    np.testing.assert_array_equal(np.add.reduceat(t, [0, 3]).data, np.add.reduceat(X, [0, 3]))


def test_docstring_examples():
    import doctest

    from astgrad.runtime import dtype_guard, ufunc_methods

    for module in (ufunc_methods, dtype_guard):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted and not result.failed, module.__name__

"""``ag.value_and_grad(f, mode="tape")`` on plain NumPy functions gives what the transform
gives: the same values, and gradients of the same types, shapes and dtypes, for every kind
of argument (arrays, 0-d arrays, NumPy scalars, Python floats, containers of them), also
where an argument or an output carries no gradient.
"""

from __future__ import annotations

import numpy as np
import pytest
from numeric import assert_close

import astgrad as ag


def cubic(x):
    return np.sum(x * x * 3.0 + x)


def scaled_product(x, y):
    return np.sum(x * y) * 0.5


def of_a_list(xs):
    return np.sum(xs[0] * xs[1]) + np.sum(xs[0])


def of_a_dict(p):
    return np.sum(np.tanh(p["w"]) * p["b"])


def constant(x):
    return np.float64(1.5)


def no_sum(x):
    return x * 2.0


ARGUMENTS = {
    "float64-array": lambda: np.array([0.5, -1.0, 2.0]),
    "float32-array": lambda: np.array([0.5, -1.0, 2.0], dtype=np.float32),
    "0-d": lambda: np.array(0.75),
    "0-d-float32": lambda: np.array(0.75, dtype=np.float32),
    "np.float64": lambda: np.float64(0.75),
    "np.float32": lambda: np.float32(0.75),
    "float": lambda: 0.75,
    "matrix": lambda: np.arange(6.0).reshape(2, 3) / 7,
}


def _same(got, want, what):
    assert type(got) is type(want), f"{what}: {type(got).__name__} != {type(want).__name__}"
    if isinstance(want, (list, tuple)):
        assert len(got) == len(want)
        for i, (g, w) in enumerate(zip(got, want)):
            _same(g, w, f"{what}[{i}]")
        return
    if isinstance(want, dict):
        assert got.keys() == want.keys()
        for k in want:
            _same(got[k], want[k], f"{what}[{k!r}]")
        return
    assert np.shape(got) == np.shape(want), what
    assert getattr(got, "dtype", None) == getattr(want, "dtype", None), what
    assert_close(np.asarray(got), np.asarray(want), rtol=1e-6, what=what)


def _both(function, args, wrt=0):
    source = ag.value_and_grad(function, wrt=wrt, mode="source")(*args)
    tape = ag.value_and_grad(function, wrt=wrt, mode="tape")(*args)
    return source, tape


@pytest.mark.parametrize("kind", list(ARGUMENTS))
def test_one_argument_of_every_kind(kind):
    (value, grad), (tape_value, tape_grad) = _both(cubic, (ARGUMENTS[kind](),))
    _same(tape_value, value, f"value for {kind}")
    _same(tape_grad, grad, f"gradient for {kind}")


@pytest.mark.parametrize("kind", ["float64-array", "np.float64", "float", "0-d"])
def test_two_arguments_and_a_constant_one(kind):
    x, y = ARGUMENTS[kind](), ARGUMENTS[kind]()
    for wrt in ((0, 1), 0, 1):
        (value, grad), (tape_value, tape_grad) = _both(scaled_product, (x, y), wrt)
        _same(tape_value, value, f"value wrt {wrt}")
        _same(tape_grad, grad, f"gradient wrt {wrt}")


def test_containers():
    xs = [np.array([1.0, 2.0]), np.array([0.5, -0.5])]
    (value, grad), (tape_value, tape_grad) = _both(of_a_list, (xs,))
    _same(tape_value, value, "value")
    _same(tape_grad, grad, "gradient")
    p = {"w": np.array([0.1, 0.2]), "b": np.array([1.0, -1.0])}
    (value, grad), (tape_value, tape_grad) = _both(of_a_dict, (p,))
    _same(tape_value, value, "value")
    _same(tape_grad, grad, "gradient")


def test_an_output_that_does_not_depend_on_the_argument():
    x = np.array([1.0, 2.0])
    (value, grad), (tape_value, tape_grad) = _both(constant, (x,))
    _same(tape_value, value, "value")
    _same(tape_grad, grad, "gradient")


def test_a_non_scalar_output_needs_a_cotangent():
    with pytest.raises(ValueError, match="scalar"):
        ag.value_and_grad(no_sum, mode="tape")(np.array([1.0, 2.0]))


def test_arguments_are_not_changed_and_calls_are_independent():
    x = np.array([0.5, -1.0, 2.0])
    kept = x.copy()
    f = ag.value_and_grad(cubic, mode="tape")
    first = f(x)
    second = f(x)
    assert np.array_equal(x, kept)
    assert first[1] is not second[1]
    _same(second[1], first[1], "second call")
    first[1][...] = 0.0  # a gradient handed out is the caller's own
    _same(f(x)[1], second[1], "after the caller changed a gradient")

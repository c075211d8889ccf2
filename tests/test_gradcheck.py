"""ag.gradcheck, and the dtype rules of ag.grad: float32 stays float32, and integer or
boolean arguments under wrt are an error that says why (complex ones are differentiated:
tests/test_complex.py)."""

from __future__ import annotations

import importlib.util
import re

import numpy as np
import pytest

import astgrad as ag

MODES = ("auto", "source", "tape")

SOURCE = """
import numpy as np


def loss(w, b, x):
    return np.sum(np.tanh(x @ w + b) ** 2)


def layer(w, x):
    return np.tanh(x @ w)


def with_list(params, x):
    w, b = params
    return np.sum((x * w + b) ** 2)


def with_dict(params, x):
    return np.sum(np.sin(params["w"] * x) + params["b"])


def scaled(x, n):
    return np.sum(x ** 2) * n


def scalar(x):
    return x * x + np.sin(x)


def mixed(x):
    return np.sum(np.exp(x) * 1.5 + np.sqrt(x * x + 1.0))
"""


@pytest.fixture(scope="module")
def fns(tmp_path_factory):
    """Functions with source on disk, so that every mode can differentiate them."""
    path = tmp_path_factory.mktemp("gradcheck") / "gradcheck_functions.py"
    path.write_text(SOURCE)
    spec = importlib.util.spec_from_file_location("gradcheck_functions", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RNG = np.random.default_rng(0)
W, B, X = RNG.standard_normal((3, 2)), RNG.standard_normal(2), RNG.standard_normal((4, 3))


# -- gradcheck passes ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_gradcheck_passes_for_correct_gradients(fns, mode):
    assert ag.gradcheck(fns.loss, W, B, X, mode=mode) is True
    assert ag.gradcheck(fns.loss, W, B, X, wrt="b", mode=mode) is True
    assert ag.gradcheck(fns.loss, W, B, X, wrt=(0, "x"), mode=mode) is True
    assert ag.gradcheck(fns.scalar, 0.7, mode=mode) is True


@pytest.mark.parametrize("mode", MODES)
def test_gradcheck_of_non_scalar_functions_uses_a_random_cotangent(fns, mode):
    assert ag.gradcheck(fns.layer, W, X, mode=mode) is True


@pytest.mark.parametrize("mode", MODES)
def test_gradcheck_with_containers(fns, mode):
    assert ag.gradcheck(fns.with_list, [np.ones(3), 0.5], np.arange(3.0), wrt=0, mode=mode)
    params = {"w": np.array([0.3, -0.2]), "b": np.array([1.0, 2.0])}
    assert ag.gradcheck(fns.with_dict, params, np.array([1.0, 2.0]), wrt="params", mode=mode)


def test_gradcheck_skips_integer_arguments_unless_named(fns):
    assert ag.gradcheck(fns.scaled, np.array([1.0, 2.0]), 3)
    with pytest.raises(TypeError, match="integer"):
        ag.gradcheck(fns.scaled, np.array([1.0, 2.0]), np.int64(3), wrt="n")


def test_gradcheck_runs_in_float64(fns):
    # A float32 argument is checked on a float64 copy: eps=1e-6 would be lost in float32.
    assert ag.gradcheck(fns.mixed, np.array([0.5, -1.0, 2.0], dtype=np.float32))


def test_gradcheck_needs_something_to_check(fns):
    with pytest.raises(ValueError, match="no argument to check"):
        ag.gradcheck(fns.scaled, np.arange(3), 2)


# -- gradcheck fails, and says where -------------------------------------------------------------


def _wrong_square():
    @ag.primitive
    def square(x):
        return x * x

    @ag.vjp_rule(square)
    def square_vjp(g, ans, x):
        return g * 3 * x  # wrong on purpose: should be 2 * x

    return square


def test_gradcheck_reports_the_argument_the_index_and_both_values():
    square = _wrong_square()

    def f(a, x):
        return np.sum(square(x) * a)

    a = np.array([[1.0, 0.0], [0.0, 2.0]])
    x = np.array([[1.0, 2.0], [3.0, -4.0]])
    with pytest.raises(ag.GradcheckError) as failure:
        ag.gradcheck(f, a, x, mode="tape")
    message = str(failure.value)
    # d/dx sum(x^2 a) = 2 a x; the rule gives 3 a x: worst at (1, 1): -24 vs -16
    assert "'x' (argument 1)" in message
    assert "index (1, 1)" in message
    assert re.search(r"astgrad gives -24\.0\d*", message)
    assert re.search(r"central differences give -1[56]\.9999\d*|-16\.0000\d*", message)
    assert "2 of 4 entries differ" in message


def test_gradcheck_error_is_an_assertion_error():
    square = _wrong_square()
    with pytest.raises(AssertionError):
        ag.gradcheck(lambda x: np.sum(square(x)), np.array([1.0, 2.0]), mode="tape")


def test_gradcheck_tolerances_are_used():
    square = _wrong_square()

    def f(x):
        return np.sum(square(x))

    x = np.array([1e-3, 2e-3])
    # the error (x) is below atol here
    assert ag.gradcheck(f, x, atol=1e-2, mode="tape")
    with pytest.raises(ag.GradcheckError):
        ag.gradcheck(f, x, mode="tape")


# -- wrt as a one-element tuple ----------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_one_element_wrt_tuple_gives_one_element_tuple(fns, mode):
    # Regression: generated code returns one gradient bare; the API once zipped over it and
    # gave the first element, broadcast, as the whole gradient.
    grads = ag.grad(fns.loss, wrt=("b",), mode=mode)(W, B, X)
    assert isinstance(grads, tuple) and len(grads) == 1
    np.testing.assert_allclose(grads[0], ag.grad(fns.loss, wrt="b", mode=mode)(W, B, X))
    _, pullback = ag.vjp(fns.layer, W, X, wrt=(0,), mode=mode)
    g = RNG.standard_normal((4, 2))
    (dw,) = pullback(g)
    _, pullback = ag.vjp(fns.layer, W, X, wrt=0, mode=mode)
    np.testing.assert_allclose(dw, pullback(g))


# -- dtypes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_dtypes_are_kept(fns, mode, dtype):
    w, b, x = W.astype(dtype), B.astype(dtype), X.astype(dtype)
    dw, db = ag.grad(fns.loss, wrt=("w", "b"), mode=mode)(w, b, x)
    assert dw.dtype == dtype and db.dtype == dtype
    assert ag.grad(fns.mixed, mode=mode)(np.array([0.5, 2.0], dtype=dtype)).dtype == dtype
    assert np.asarray(ag.grad(fns.scalar, mode=mode)(dtype(0.5))).dtype == dtype


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "value, words",
    [
        (np.arange(3), "integer array (int64)"),
        (np.int32(2), "integer scalar (int32)"),
        (3, "integer (3)"),
        (np.array([True, False]), "boolean array"),
        (True, "bool"),
        ("text", "'text' (str)"),
    ],
)
def test_non_float_arguments_under_wrt_raise(fns, mode, value, words):
    with pytest.raises(TypeError) as failure:
        ag.grad(fns.mixed, mode=mode)(value)
    message = str(failure.value)
    assert "cannot differentiate with respect to 'x'" in message
    assert words in message
    with pytest.raises(TypeError, match="cannot differentiate"):
        ag.vjp(fns.mixed, value, mode=mode)
    with pytest.raises(TypeError, match="cannot differentiate"):
        ag.value_and_grad(fns.mixed, mode=mode)(value)


def test_non_float_elements_of_containers_are_named(fns):
    with pytest.raises(TypeError, match=r"'params\[1\]'.*integer"):
        ag.grad(fns.with_list)([np.ones(3), 2], np.arange(3.0))
    with pytest.raises(TypeError, match=r"'params\['b'\]'.*boolean"):
        ag.grad(fns.with_dict)({"w": np.ones(2), "b": np.ones(2) > 0}, np.ones(2))


def test_integer_arguments_not_under_wrt_are_fine(fns):
    assert ag.grad(fns.scaled)(np.array([1.0, 2.0]), 3).tolist() == [6.0, 12.0]


def test_docstring_examples():
    import doctest

    import astgrad.checks

    result = doctest.testmod(astgrad.checks, optionflags=doctest.ELLIPSIS)
    assert result.attempted and not result.failed

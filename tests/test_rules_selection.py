"""Selection, creation, casts and functions without a gradient, used the way people use
them inside a function, in every mode, checked with ag.gradcheck."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import astgrad as ag

SOURCE = """
import numpy as np


def build_array(x):
    v = np.array([x[0] * 2.0, x[1] ** 2, 3.0])
    return np.sum(v * np.arange(1.0, 4.0))


def build_asarray(a, b):
    return np.sum(np.asarray([a, b * 2.0]) ** 2)


def build_nested(x):
    m = np.array([[x[0], 1.0], [x[1] * x[2], np.sin(x[0])]])
    return np.sum(m @ m)


def no_gradient_parts(x):
    i = np.argmax(x)
    mask = (x > 0).astype(np.float64)
    fresh = np.zeros_like(x) + np.full_like(x, 2.0) + np.ones_like(x)
    steps = np.sign(x) * np.floor(x) + np.round(x) + np.ceil(x)
    n = x.shape[0] + np.size(x) + np.ndim(x)
    return np.sum(x * mask * fresh) + x[i] * n + np.sum(steps) + np.sum(np.isfinite(x) * x)


def selection(x):
    return np.sum(np.take(x, [0, 0, 2]) * np.sort(x)) + np.sum(x.take([1, 1]))


def along_axis(m):
    order = np.argsort(m, axis=1)
    return np.sum(np.take_along_axis(m, order, axis=1) * np.arange(3.0))


def cast_function(x):
    return np.sum(np.astype(np.astype(x, np.float32), np.float64) ** 2)


def cast_method(x):
    return np.sum(x.astype(np.float32) ** 2)


def cast_to_int(x):
    return np.sum(x * np.astype(x, np.int64))


def indexing(x):
    head = np.sum(x[1:, None, ::2] * x[0, ::2])
    return head + np.sum(x[np.array([0, 0, 1]), 1]) + np.sum(x[x > 0])
"""

MODES = ("source", "auto", "tape")
NEEDS_NP_ASTYPE = pytest.mark.skipif(not hasattr(np, "astype"), reason="np.astype: NumPy >= 2.1")
X = np.array([0.3, -1.2, 2.2])  # away from where round, floor, ceil and casts jump
M = np.array([[0.3, -1.2, 2.0], [1.1, 0.4, -0.7]])


@pytest.fixture(scope="module")
def fns(tmp_path_factory):
    path = tmp_path_factory.mktemp("selection") / "selection_functions.py"
    path.write_text(SOURCE)
    spec = importlib.util.spec_from_file_location("selection_functions", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "name, args",
    [
        ("build_array", (X,)),
        ("build_asarray", (X, X[::-1].copy())),
        ("build_nested", (X,)),
        ("no_gradient_parts", (X,)),
        ("selection", (X,)),
        ("along_axis", (M,)),
        pytest.param("cast_function", (X,), marks=NEEDS_NP_ASTYPE),
        pytest.param("cast_to_int", (X,), marks=NEEDS_NP_ASTYPE),
        ("indexing", (M,)),
    ],
)
def test_gradients_match_finite_differences(fns, name, args, mode):
    # A float32 round trip loses a step of 1e-6: a wide step (exact for these quadratics)
    eps, rtol = (1e-2, 1e-4) if name == "cast_function" else (1e-6, 1e-5)
    assert ag.gradcheck(getattr(fns, name), *args, mode=mode, eps=eps, rtol=rtol, atol=1e-6)


# Transform bug (transform/resolve.py, reverse.py): `.astype()` is not a method the
# transform knows, and the call that then runs on the tape is given no differentiable
# input (tape_call(x.astype, (), ...)): in mode="auto" the gradient is silently zero.


@pytest.mark.parametrize(
    "mode",
    [
        "tape",
        "source",
        "auto",
    ],
)
def test_astype_method(fns, mode):
    assert ag.gradcheck(fns.cast_method, X, mode=mode, eps=1e-2, rtol=1e-4, atol=1e-6)


@NEEDS_NP_ASTYPE
@pytest.mark.parametrize("mode", MODES)
def test_a_cast_to_float32_and_back_keeps_each_dtype(fns, mode):
    grad = ag.grad(fns.cast_function, mode=mode)(X.astype(np.float32))
    assert grad.dtype == np.float32
    assert ag.grad(fns.cast_function, mode=mode)(X).dtype == np.float64


def test_like_factories_carry_no_gradient_on_the_tape():
    x = ag.tensor(X, requires_grad=True)
    for made in (np.zeros_like(x), np.ones_like(x), np.full_like(x, 2.0)):
        assert not made.requires_grad
    cast = x.astype(np.int64)
    assert not cast.requires_grad

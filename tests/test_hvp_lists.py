"""Hessian-vector products through lists the function fills and overwrites: the forward
pass over the gradient copies a list's tangent before an item of it is written
(``writable_tangent``), and the reverse pass over that code hands the copy's adjoint,
a list, back through the copy; a list filled by appends outside any loop has its appends
undone by the backward pass, with no stack of saved values. Each against central
differences of the tape's gradient, in every mode."""

from __future__ import annotations

import numpy as np
import pytest
from numeric import assert_close

import astgrad as ag


def overwritten_item(x):
    items = [np.exp(x), x * 2.0]
    items[1] = np.sin(x)
    return np.sum(items[0] * items[1])


def appended_then_overwritten(x):
    items = []
    items.append(np.exp(x))
    items.append(x * 2.0)
    items[1] = np.sin(x)
    return np.sum(items[0] * items[1])


def appended_constant_tangents(x):
    items = []
    items.append(x)
    items.append(x * 2.0)
    items[1] = np.exp(x)
    return np.sum(items[0] * items[1])


def dict_entry_overwritten(x):
    d = {"a": np.cos(x), "b": x * 2}
    d["b"] = np.exp(x)
    return np.sum(d["a"] * d["b"])


FUNCTIONS = [
    overwritten_item,
    appended_then_overwritten,
    appended_constant_tangents,
    dict_entry_overwritten,
]


@pytest.mark.parametrize("mode", ("source", "auto", "tape"))
@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.__name__)
def test_hvp_through_a_written_list(function, mode):
    x = np.array([0.3, -0.2, 0.5])
    v = np.array([1.0, 0.5, -0.3])
    gradient = ag.grad(function, mode="tape")
    eps = 1e-6
    expected = (gradient(x + eps * v) - gradient(x - eps * v)) / (2 * eps)
    assert_close(ag.hvp(function, (x,), (v,), mode=mode), expected, rtol=1e-6, what=mode)

"""Lists of differentiated arrays given where NumPy takes one array (``np.sum([x, y])``):
NumPy turns the list into an array, which on the tape would drop the gradient, so the
tape stacks such a list first (as it does for ``np.array([x, y])``); generated source
differentiates through the list. Every mode against finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from numeric import assert_close, numeric_vjp

import astgrad as ag


def sum_of_list(x, y):
    return np.sum([x, y * y])


def mean_of_list(x, y):
    return np.mean([x * x, y])


def max_of_items(x, y):
    return np.max([x[0] * 2.0, y[1]])


def cumulative_rows(x, y):
    return np.sum(np.cumsum([x, y], axis=0) ** 2)


def statistics_of_list(x, y):
    return np.var([x, np.tanh(y)]) + np.std((x, y), axis=0).sum() + np.prod([x[1], y[0]])


PROGRAMS = [sum_of_list, mean_of_list, max_of_items, cumulative_rows, statistics_of_list]


@pytest.mark.parametrize("mode", ["source", "auto", "tape"])
@pytest.mark.parametrize("function", PROGRAMS, ids=lambda f: f.__name__)
def test_matches_finite_differences(function, mode):
    x, y = np.array([0.7, -1.2]), np.array([1.9, 0.4])
    got = ag.grad(function, wrt=(0, 1), mode=mode)(x, y)
    for i, part in enumerate(got):
        assert_close(part, numeric_vjp(function, [x, y], i, 1.0))

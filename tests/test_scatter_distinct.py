"""``scatter_grad`` writes where an index provably names each position once (issue 18).

The gradient of ``x[index]`` adds the cotangent into zeros with ``np.add.at``, which sums
where an integer index repeats a position. Where one component of the index rises
strictly (``np.arange(n)`` in ``x[np.arange(n), labels]``) no position repeats, and a
plain write gives the same array faster; anything else keeps ``np.add.at``.
"""

from __future__ import annotations

import numpy as np
import pytest
from astgrad.runtime.rules import indexing
from numeric import assert_close, numeric_vjp

import astgrad as ag


def _accumulated(g, shape, index):
    out = np.zeros(shape)
    np.add.at(out, index, g)
    return out


ROWS = np.arange(6)
LABELS = np.array([2, 0, 2, 1, 1, 2])
CASES = {
    "arange and labels": ((ROWS, LABELS), True),
    "labels and arange": ((LABELS, ROWS), True),
    "negative, rising": ((np.arange(-6, 0), LABELS), True),
    "rising with a slice": ((ROWS, slice(None)), True),
    "an integer and a rising vector": ((1, np.array([0, 2])), True),
    "repeated labels only": ((LABELS, LABELS), False),
    "falling": ((ROWS[::-1].copy(), LABELS), False),
    "signs mixed": ((np.array([-1, 0, 1, 2, 3, 4]), LABELS), False),
    "a matrix of indices": ((ROWS.reshape(2, 3), LABELS.reshape(2, 3)), False),
    "a list": (([0, 1, 2, 3, 4, 5], LABELS), False),
    "one vector, repeated": (LABELS, False),
    "one vector, rising": (np.array([0, 2, 5]), True),
}


@pytest.mark.parametrize("name", list(CASES))
def test_distinct_positions_and_the_gradient(name: str) -> None:
    index, distinct = CASES[name]
    assert indexing._distinct_positions(index) is distinct
    x = np.zeros((6, 6))
    g = np.random.default_rng(0).standard_normal(x[index].shape)
    np.testing.assert_array_equal(
        indexing.scatter_grad(g, x, index), _accumulated(g, x.shape, index)
    )


def cross_entropy(logits, labels):
    rows = np.arange(logits.shape[0])
    shifted = logits - np.max(logits, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    return -np.mean(log_probs[rows, labels]) + np.sum(log_probs[labels, 0] ** 2)


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_cross_entropy_with_repeated_rows_matches_finite_differences(mode: str) -> None:
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((6, 4))
    labels = np.array([3, 0, 3, 1, 1, 3])  # repeated: log_probs[labels, 0] accumulates
    got = ag.grad(cross_entropy, mode=mode)(logits, labels)
    assert_close(got, numeric_vjp(cross_entropy, [logits, labels], 0, 1.0))

"""Einsum gradients by planned BLAS products (runtime/rules/einsum_plans.py, issue 18).

``planned_einsum`` must compute what ``np.einsum`` computes (up to rounding) for every case
it plans and decline the rest; einsum gradients through it must match finite differences,
whatever the letters and however many operands.
"""

from __future__ import annotations

import numpy as np
import pytest
from astgrad.runtime.rules import linalg_helpers
from astgrad.runtime.rules.einsum_plans import plan, planned_einsum
from numeric import assert_close, numeric_vjp

import astgrad as ag

SIZES = {"a": 3, "b": 4, "c": 5, "d": 2, "i": 6, "j": 3, "k": 2, "l": 4, "q": 3}

PLANNED = [
    "bi,ij,bj->b",  # a bilinear form per row
    "b,bi,bj->ij",  # its gradients
    "b,ij,bj->bi",
    "ij,jk->ik",
    "ij,kj->ik",
    "ji,jk->ki",
    "bij,bjk->bik",
    "bij,bkj->bik",
    "ijk,jkl->il",  # two summed letters merged into one
    "i,j->ij",
    "ij,ij->",
    "ij,ij->i",  # batch only: a multiplication then a sum
    "abc,cd,db->a",
    "ij,kl->ijkl",
    "ijk,ik->j",
    "ab,bc,cd,da->",
    "ij,jk,kl->li",  # output in another order
    "ijk,k->",  # letters only one operand has, summed first
]


def _operands(spec: str, rng: np.random.Generator, dtype=np.float64) -> list:
    inputs = spec.partition("->")[0]
    return [rng.standard_normal([SIZES[c] for c in t]).astype(dtype) for t in inputs.split(",")]


@pytest.mark.parametrize("spec", PLANNED)
def test_planned_einsum_computes_what_einsum_computes(spec: str) -> None:
    operands = _operands(spec, np.random.default_rng(0))
    got = planned_einsum(spec, operands)
    want = np.einsum(spec, *operands)
    assert got is not None, f"{spec} was not planned"
    assert np.shape(got) == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_planned_einsum_keeps_dtypes() -> None:
    rng = np.random.default_rng(1)
    a32, b32 = _operands("ij,jk->ik", rng, np.float32)
    assert planned_einsum("ij,jk->ik", [a32, b32]).dtype == np.float32
    a64 = a32.astype(np.float64)
    assert planned_einsum("ij,jk->ik", [a64, b32]).dtype == np.float64
    c = a64 + 1j * a64
    got = planned_einsum("ij,jk->ik", [c, b32])
    np.testing.assert_allclose(got, np.einsum("ij,jk->ik", c, b32))  # no conjugate


@pytest.mark.parametrize(
    "spec, shapes",
    [
        ("ij,jk->ik", [(2, 1), (3, 4)]),  # einsum broadcasts j of size 1 there
        ("ii,ij->j", [(3, 3), (3, 2)]),  # a diagonal
        ("...ij,jk->...ik", [(2, 3, 4), (4, 2)]),  # an ellipsis
        ("ij,jk", [(2, 3), (3, 4)]),  # implicit output: einsum_grad's road spells it out
        ("ij->ji", [(2, 3)]),  # one operand: nothing to pair
    ],
)
def test_cases_not_planned_are_declined(spec: str, shapes: list) -> None:
    assert plan(spec, shapes) is None


def test_only_float_numpy_arrays_are_planned() -> None:
    ints = [np.ones((2, 3), dtype=np.int64), np.ones((3, 4), dtype=np.int64)]
    assert planned_einsum("ij,jk->ik", ints) is None
    assert planned_einsum("ij,jk->ik", [np.ones((2, 3)), [[1.0] * 4] * 3]) is None


def bilinear(A, X, Y):
    return np.sum(np.einsum("bi,ij,bj->b", X, A, Y) ** 2)


def chain(A, B, C):
    return np.sum(np.tanh(np.einsum("ij,jk,kl->il", A, B, C)))


def batched(W, X, V):
    return np.sum(np.einsum("bij,jk,bk->bi", X, W, V) ** 2)


def quadrilinear(A, B, C, D):
    return np.einsum("ab,bc,cd,da->", A, B, C, D)


PROGRAMS = [
    (bilinear, {"A": (4, 4), "X": (5, 4), "Y": (5, 4)}),
    (chain, {"A": (2, 3), "B": (3, 4), "C": (4, 2)}),
    (batched, {"W": (4, 3), "X": (2, 5, 4), "V": (2, 3)}),
    (quadrilinear, {"A": (2, 3), "B": (3, 4), "C": (4, 2), "D": (2, 2)}),
]


@pytest.mark.parametrize("mode", ["source", "tape"])
@pytest.mark.parametrize("program, shapes", PROGRAMS, ids=[p.__name__ for p, _ in PROGRAMS])
def test_einsum_gradients_match_finite_differences(program, shapes, mode) -> None:
    rng = np.random.default_rng(2)
    args = [rng.standard_normal(s) for s in shapes.values()]
    grads = ag.grad(program, wrt=tuple(shapes), mode=mode)(*args)
    for index, got in enumerate(grads):
        assert_close(got, numeric_vjp(program, args, index, 1.0), what=f"operand {index}")


def test_the_bilinear_gradient_runs_as_products(monkeypatch) -> None:
    """The gradient of a three-operand einsum calls no np.einsum: it is planned products."""
    rng = np.random.default_rng(3)
    A, X, Y = rng.standard_normal((4, 4)), rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    g = ag.grad(bilinear, wrt=("A", "X"))
    g(A, X, Y)  # planned here

    def refused(*args, **kwargs):
        raise AssertionError("np.einsum called in the gradient")

    forward = np.einsum("bi,ij,bj->b", X, A, Y)
    monkeypatch.setattr(linalg_helpers.np, "einsum", refused)
    dA = linalg_helpers.einsum_grad(2 * forward, 2, "bi,ij,bj->b", X, A, Y)
    dX = linalg_helpers.einsum_grad(2 * forward, 1, "bi,ij,bj->b", X, A, Y)
    np.testing.assert_allclose(dA, (X * (2 * forward)[:, None]).T @ Y)
    np.testing.assert_allclose(dX, (2 * forward)[:, None] * (Y @ A.T))

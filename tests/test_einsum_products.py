"""Two-operand einsum gradients written as products (runtime/rules/einsum_products.py and
transform/einsum_products.py): the source for every plain case against the gradient's
definition, size-1 axes einsum broadcasts, the generated code, and every mode against
finite differences."""

from __future__ import annotations

import random

import numpy as np
import pytest
from astgrad.runtime.rules.einsum_products import compiled_gradient, gradient_source
from astgrad.runtime.rules.linalg_helpers import einsum_grad
from astgrad.runtime.rules.shared import unbroadcast
from numeric import assert_close, numeric_vjp

import astgrad as ag


def _by_definition(spec: str, position: int, g, ops: list) -> np.ndarray:
    """The gradient of ``sum(g * einsum(spec, *ops))`` with respect to ``ops[position - 1]``,
    element by element (einsum is linear in each operand)."""
    mine = ops[position - 1]
    grad = np.zeros(np.shape(mine))
    for index in np.ndindex(grad.shape):
        unit = np.zeros(grad.shape)
        unit[index] = 1.0
        args = list(ops)
        args[position - 1] = unit
        grad[index] = np.sum(g * np.einsum(spec, *args))
    return grad


def _random_cases(count: int, seed: int) -> list:
    """Random two-operand subscripts (implicit outputs among them) with shapes, some axes
    of size 1 that einsum broadcasts against the other operand's."""
    pick = random.Random(seed)
    cases = []
    while len(cases) < count:
        first = "".join(pick.sample("abcd", pick.randint(0, 3)))
        second = "".join(pick.sample("abcd", pick.randint(0, 3)))
        letters = sorted(set(first + second))
        output = "".join(pick.sample(letters, pick.randint(0, len(letters))))
        spec = f"{first},{second}->{output}" if pick.random() < 0.85 else f"{first},{second}"
        sizes = {c: pick.choice([2, 3, 4]) for c in "abcd"}
        shapes = [
            tuple(sizes[c] if pick.random() < 0.8 else 1 for c in term) for term in (first, second)
        ]
        try:
            np.einsum(spec, np.ones(shapes[0]), np.ones(shapes[1]))
        except ValueError:
            continue
        cases.append((spec, shapes))
    return cases


@pytest.mark.parametrize("spec, shapes", _random_cases(150, 7))
def test_written_products_give_the_gradient_by_definition(spec, shapes) -> None:
    rng = np.random.default_rng(1)
    ops = [rng.standard_normal(s) for s in shapes]
    g = rng.standard_normal(np.shape(np.einsum(spec, *ops)))
    for position in (1, 2):
        expected = _by_definition(spec, position, g, ops)
        product = compiled_gradient(spec, position)
        if product is not None:
            got = unbroadcast(product(g, *ops), ops[position - 1])
            assert np.shape(got) == expected.shape, gradient_source(spec, position)
            np.testing.assert_allclose(got, expected, atol=1e-12)
        # the tape's helper, whichever road it takes
        np.testing.assert_allclose(einsum_grad(g, position, spec, *ops), expected, atol=1e-12)


@pytest.mark.parametrize(
    "spec, first, second",
    [
        ("ij,kj->ik", "g.dot(op1)", "g.T.dot(op0)"),
        ("ij,jk->ik", "g.dot(op1.T)", "op0.T.dot(g)"),
        ("ij,ij->", "g * op1", "g * op0"),
        ("ij,ij->i", "g[:, None] * op1", "g[:, None] * op0"),
        ("ij,j->i", "g[:, None] * op1", "g.dot(op0)"),
        ("i,j->ij", "g.dot(op1)", "op0.dot(g)"),
        ("bij,bjk->bik", "g @ op1.transpose(0, 2, 1)", "op0.transpose(0, 2, 1) @ g"),
        ("ij,k->ik", "g.dot(op1)[:, None]", "op0.sum(axis=1).dot(g)"),
        ("ij,jk", "g.dot(op1.T)", "op0.T.dot(g)"),  # implicit output: "ik"
    ],
)
def test_the_products_read_as_written_by_hand(spec, first, second) -> None:
    assert (gradient_source(spec, 1), gradient_source(spec, 2)) == (first, second)


@pytest.mark.parametrize(
    "spec", ["ii,i->i", "...i,i->...", "ij,jk,kl->il", "abc,abd->cd", "ij,ij->ii"]
)
def test_cases_not_written_are_declined(spec) -> None:
    """Diagonals, ellipses, three operands, and contractions that need reshapes stay with
    einsum_grad's general road."""
    assert gradient_source(spec, 1) is None or gradient_source(spec, 2) is None


def linear_layer(A, c, x, y):
    z = np.einsum("ij,kj->ik", x, A) + c
    r = z * (z > 0)
    return np.einsum("ij,ij->", r - y, r - y)


def attention_scores(q, k):
    s = np.einsum("bqd,bkd->bqk", q, k)
    return np.sum(np.tanh(s))


def row_dots(u, v):
    return np.sum(np.einsum("ij,ij->i", u, v) ** 2)


def broadcast_row(a, b):
    # a has one row, which einsum broadcasts against b's four
    return np.sum(np.einsum("ij,ij->ij", a, b) ** 2)


def outer_by_implicit(u, v):
    return np.sum(np.sin(np.einsum("i,j", u, v)))


def outer_transposed(u, v):
    # every axis of each operand is the product's alone: no unbroadcast, even for a size-1
    return np.sum(np.einsum("i,j->ji", u, v) * np.arange(12.0).reshape(4, 3))


def with_a_list(u):
    return np.einsum("i,i->", u, [1.0, 2.0, 3.0])


PROGRAMS = [
    (linear_layer, [(5, 3), (5,), (4, 3), (4, 5)], (0, 1)),
    (attention_scores, [(2, 3, 4), (2, 5, 4)], (0, 1)),
    (row_dots, [(3, 4), (3, 4)], (0, 1)),
    (broadcast_row, [(1, 4), (3, 4)], (0, 1)),
    (outer_by_implicit, [(3,), (4,)], (0, 1)),
    (outer_transposed, [(3,), (4,)], (0, 1)),
    (outer_transposed, [(1,), (4,)], (0, 1)),
    (with_a_list, [(3,)], (0,)),
]


@pytest.mark.parametrize("mode", ["source", "auto", "tape"])
@pytest.mark.parametrize("program, shapes, wrt", PROGRAMS, ids=[p.__name__ for p, *_ in PROGRAMS])
def test_einsum_programs_match_finite_differences(program, shapes, wrt, mode) -> None:
    rng = np.random.default_rng(4)
    args = [rng.standard_normal(s) for s in shapes]
    grads = ag.grad(program, wrt=wrt, mode=mode)(*args)
    grads = grads if isinstance(grads, tuple) else (grads,)
    for index, got in zip(wrt, grads):
        assert_close(got, numeric_vjp(program, args, index, 1.0), what=f"argument {index}")


def test_the_generated_gradient_holds_the_products() -> None:
    rng = np.random.default_rng(5)
    args = [rng.standard_normal(s) for s in [(5, 3), (5,), (4, 3), (4, 5)]]
    source = ag.source(linear_layer, *args, wrt=(0, 1))
    assert "einsum_grad" not in source
    assert "dA = unbroadcast(deinsum.T.dot(x), A)" in source
    # r - y twice: one shape class, so the product needs no unbroadcast
    assert "deinsum_2 * sub" in source


def _gradient_lines(source: str) -> list[str]:
    return [line.strip() for line in source.splitlines() if line.strip()[:4] in ("du =", "dv =")]


def test_operands_whose_axes_nothing_broadcasts_need_no_unbroadcast() -> None:
    for program in (outer_by_implicit, outer_transposed):
        source = ag.source(program, np.ones(3), np.ones(4), wrt=(0, 1))
        lines = _gradient_lines(source)
        assert len(lines) == 2 and not any("unbroadcast" in line for line in lines), source
        assert "einsum_grad" not in source, source
    # a letter both operands have may broadcast a size-1 axis: that one keeps it
    source = ag.source(broadcast_row, np.ones((1, 4)), np.ones((3, 4)), wrt=(0, 1))
    assert "unbroadcast(" in source, source


def test_an_operand_that_is_a_list_keeps_the_helper() -> None:
    """A list has no ``.dot``: the transform writes products only for operands it knows
    are arrays of their term's rank."""
    source = ag.source(with_a_list, np.ones(3))
    assert "einsum_grad" in source


def softmax_then_contract(scores, v):
    # weights is bound twice, the second time through a reduction with keepdims: ranks
    # follows reductions, so the einsum's operands are known to be matrices
    weights = np.exp(scores - np.max(scores, axis=1, keepdims=True))
    weights = weights / np.sum(weights, axis=1, keepdims=True)
    return np.sum(np.einsum("qk,kd->qd", weights, v) ** 2) + np.sum(weights, axis=0) @ v[:, 0]


def test_operands_made_by_reductions_take_the_products() -> None:
    rng = np.random.default_rng(9)
    args = [rng.standard_normal((3, 4)), rng.standard_normal((4, 2))]
    source = ag.source(softmax_then_contract, *args, wrt=(0, 1))
    assert "einsum_grad" not in source, source
    for mode in ("source", "auto", "tape"):
        grads = ag.grad(softmax_then_contract, wrt=(0, 1), mode=mode)(*args)
        for index, got in enumerate(grads):
            assert_close(got, numeric_vjp(softmax_then_contract, args, index, 1.0), what=mode)

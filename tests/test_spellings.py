"""Every spelling of a matrix product differentiates alike (issue 18).

A 3-layer tanh MLP written with ``@``, ``np.dot``, ``x.dot`` and a two-operand
``np.einsum`` gives the same gradients in source mode, and the products' rules take the
products ``@`` takes for matrices and vectors, not ``np.tensordot``.
(``benchmarks/spellings.py`` times the spellings; nothing here asserts a time.)
"""

from __future__ import annotations

import numpy as np
import pytest
from modules import load_benchmark

import astgrad as ag

# The spellings ``benchmarks/spellings.py`` times: one definition of each.
_bench = load_benchmark("spellings")
mlp_matmul_operator = _bench.mlp_matmul_operator
mlp_np_dot = _bench.mlp_np_dot
mlp_dot_method = _bench.mlp_dot_method
SPELLINGS = [f for f in _bench.SPELLINGS.values() if f is not mlp_matmul_operator]


def _inputs():
    rng = np.random.default_rng(0)
    params = []
    for _ in range(3):
        params.append(rng.standard_normal((8, 8)) / np.sqrt(8))
        params.append(0.1 * rng.standard_normal(8))
    return params, rng.standard_normal((5, 8))


@pytest.mark.parametrize("spelling", SPELLINGS, ids=lambda f: f.__name__)
def test_spellings_give_the_gradient_of_the_operator(spelling) -> None:
    params, x = _inputs()
    expected = ag.grad(mlp_matmul_operator, mode="source")(params, x)
    got = ag.grad(spelling, mode="source")(params, x)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert np.shape(g) == np.shape(e)
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)


def test_np_dot_source_has_no_tensordot() -> None:
    params, x = _inputs()
    assert "tensordot" not in ag.source(mlp_np_dot, params, x)


@pytest.mark.parametrize("spelling", [mlp_np_dot, mlp_dot_method], ids=lambda f: f.__name__)
def test_dot_of_matrices_takes_no_tensordot(spelling, monkeypatch) -> None:
    params, x = _inputs()
    expected = ag.grad(mlp_matmul_operator, mode="source")(params, x)

    def refused(*args, **kwargs):
        raise AssertionError("a product of matrices went through np.tensordot or np.moveaxis")

    monkeypatch.setattr(np, "tensordot", refused)
    monkeypatch.setattr(np, "moveaxis", refused)
    got = ag.grad(spelling, mode="source")(params, x)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("product", "a_shape", "b_shape"),
    [
        (np.dot, (4,), (4, 3)),
        (np.dot, (3, 4), (4,)),
        (np.dot, (4,), (4,)),
        (np.inner, (3, 4), (5, 4)),
        (np.inner, (4,), (5, 4)),
        (np.inner, (3, 4), (4,)),
        (lambda a, b: np.tensordot(a, b, axes=1), (3, 4), (4, 5)),
        (lambda a, b: np.einsum("ij,j->i", a, b), (3, 4), (4,)),
        (lambda a, b: np.einsum("i,i->", a, b), (4,), (4,)),
        (lambda a, b: np.einsum("bij,bjk->bik", a, b), (2, 3, 4), (2, 4, 5)),
    ],
)
def test_vector_and_batch_products_match_matmul(product, a_shape, b_shape) -> None:
    """Each product of vectors, matrices and stacks against the same product by ``@``."""
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    reference = {
        ((4,), (4, 3)): lambda a, b: a @ b,
        ((3, 4), (4,)): lambda a, b: a @ b,
        ((4,), (4,)): lambda a, b: a @ b,
        ((3, 4), (5, 4)): lambda a, b: a @ b.T,
        ((4,), (5, 4)): lambda a, b: b @ a,
        ((3, 4), (4, 5)): lambda a, b: a @ b,
        ((2, 3, 4), (2, 4, 5)): lambda a, b: a @ b,
    }[(a_shape, b_shape)]
    expected = ag.grad(lambda a, b: np.sum(np.sin(reference(a, b))), wrt=(0, 1), mode="tape")(a, b)
    got = ag.grad(lambda a, b: np.sum(np.sin(product(a, b))), wrt=(0, 1), mode="tape")(a, b)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)


def _method_of_an_element(W, xs):
    total = 0.0
    for t in range(xs.shape[0]):
        total = total + np.sum(np.tanh(xs[t].dot(W)))
    return total


@pytest.mark.parametrize("mode", ["source", "auto"])
def test_a_product_method_of_an_arguments_element(mode) -> None:
    # (``xs[t].dot(W)`` with ``xs`` an array argument not differentiated: the look-up of
    # methods of objects in lists took it for a container's element and raised IndexError)
    rng = np.random.default_rng(0)
    W, xs = rng.normal(size=(3, 2)), rng.normal(size=(4, 5, 3))
    got = ag.grad(_method_of_an_element, mode=mode)(W, xs)
    want = sum(xs[t].T @ (1 - np.tanh(xs[t] @ W) ** 2) for t in range(4))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)

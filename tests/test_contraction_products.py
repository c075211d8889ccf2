"""Every spelling of a product takes the products an expert writes for its gradient
(transform/products.py's contraction_gradient, issue 18): ``a @ b``, ``np.matmul``,
``np.dot``, ``a.dot(b)``, ``np.inner`` and ``np.tensordot`` with axes written in the code,
wherever ``ranks`` knows both operands' ndims, weights held in a list or tuple included
(astgrad.api._kind gives a list of arrays its items' ndims, and call plans check them).

The subscripts each contraction is read as are checked against NumPy itself; the
gradients against finite differences in every mode; and the soundness conditions are
broken one by one: a list changed in place, items of another ndim in a later call, axes
a name the function could change."""

from __future__ import annotations

import numpy as np
import pytest
from astgrad.runtime import plans
from astgrad.runtime.rules.einsum_products import contraction_subscripts, gradient_source
from numeric import assert_close, numeric_vjp

import astgrad as ag

MODES = ["source", "auto", "tape"]

_NUMPY = {
    "matmul": lambda a, b, axes: np.matmul(a, b),
    "dot": lambda a, b, axes: np.dot(a, b),
    "inner": lambda a, b, axes: np.inner(a, b),
    "tensordot": lambda a, b, axes: np.tensordot(a, b, axes=axes),
    "outer": lambda a, b, axes: np.outer(a, b),
}
_AXES = [None, 0, 1, 2, ([0], [1]), ([-1], [-2]), (1, 0), ([0, 1], [1, 0]), [[1], [0]]]


def _shapes(subscripts: str) -> list[tuple[int, ...]]:
    """Operand shapes for ``subscripts``, a size of its own per letter."""
    sizes = {c: 2 + i for i, c in enumerate("abcdefgh")}
    return [tuple(sizes[c] for c in term) for term in subscripts.split("->")[0].split(",")]


def _subscript_cases() -> list[tuple[str, int, int, object]]:
    cases = []
    for name in _NUMPY:
        for axes in _AXES if name == "tensordot" else [None]:
            for p in range(1, 4):
                for q in range(1, 4):
                    cases.append((name, p, q, axes))
    return cases


@pytest.mark.parametrize("name, p, q, axes", _subscript_cases())
def test_the_subscripts_compute_what_numpy_computes(name, p, q, axes) -> None:
    subscripts = contraction_subscripts(name, p, q, axes)
    if subscripts is None:
        # (only where the function broadcasts, flattens, or the axes do not fit the ranks)
        broadcasts = name == "matmul" and max(p, q) > 2
        flattens = name == "outer" and max(p, q) > 1
        assert broadcasts or flattens or name == "tensordot", (name, p, q)
        return
    rng = np.random.default_rng(p * 10 + q)
    a, b = (rng.standard_normal(s) for s in _shapes(subscripts))
    expected = _NUMPY[name](a, b, axes)
    np.testing.assert_allclose(np.einsum(subscripts, a, b), expected, rtol=1e-12, atol=1e-12)


def test_subscripts_refuse_what_they_cannot_read() -> None:
    assert contraction_subscripts("matmul", 3, 2) is None  # (stacks broadcast)
    assert contraction_subscripts("tensordot", 2, 2, 3) is None  # (more axes than ranks)
    assert contraction_subscripts("tensordot", 2, 2, ([0, 0], [1, 0])) is None
    assert contraction_subscripts("tensordot", 2, 2, ([0], [1, 0])) is None
    assert contraction_subscripts("tensordot", 2, 2, ([2], [0])) is None
    assert contraction_subscripts("tensordot", 2, 2, "ij") is None
    assert contraction_subscripts("dot", 0, 2) is None  # (a number scales: not a product)
    assert contraction_subscripts("vdot", 1, 1) is None  # (conjugates: its own rule)


# -- programs, one per spelling ----------------------------------------------------------


def by_operator(a, b):
    return np.sum(np.sin(a @ b))


def by_matmul(a, b):
    return np.sum(np.sin(np.matmul(a, b)))


def by_dot(a, b):
    return np.sum(np.sin(np.dot(a, b)))


def by_dot_method(a, b):
    return np.sum(np.sin(a.dot(b)))


def by_inner(a, b):
    return np.sum(np.sin(np.inner(a, b)))


def by_tensordot_one(a, b):
    return np.sum(np.sin(np.tensordot(a, b, axes=1)))


def by_tensordot_positional(a, b):
    return np.sum(np.sin(np.tensordot(a, b, 1)))


def by_tensordot_default(a, b):
    return np.sum(np.sin(np.tensordot(a, b)))


def by_tensordot_lists(a, b):
    return np.sum(np.sin(np.tensordot(a, b, axes=([0], [1]))))


def by_tensordot_negative(a, b):
    return np.sum(np.sin(np.tensordot(a, b, axes=([-1], [-2]))))


def by_tensordot_ints(a, b):
    return np.sum(np.sin(np.tensordot(a, b, axes=(1, 0))))


def by_tensordot_named_tuple(a, b):
    axes = (1, 0)
    return np.sum(np.sin(np.tensordot(a, b, axes=axes)))


def by_tensordot_named_lists(a, b):
    # a name holding lists: something could change them, so the helper decides
    axes = ([1], [0])
    return np.sum(np.sin(np.tensordot(a, b, axes=axes)))


def by_outer(a, b):
    return np.sum(np.sin(np.outer(a, b)))


def squared_dot(a, b):
    z = np.dot(a, b)
    return np.sum(z * z)


def summed_product(a, b):
    return np.sum(a @ b)


PROGRAMS = [
    (by_operator, "matmul", None),
    (by_matmul, "matmul", None),
    (by_dot, "dot", None),
    (by_dot_method, "dot", None),
    (by_inner, "inner", None),
    (by_tensordot_one, "tensordot", 1),
    (by_tensordot_positional, "tensordot", 1),
    (by_tensordot_default, "tensordot", 2),
    (by_tensordot_lists, "tensordot", ([0], [1])),
    (by_tensordot_negative, "tensordot", ([-1], [-2])),
    (by_tensordot_ints, "tensordot", (1, 0)),
    (by_tensordot_named_tuple, "tensordot", (1, 0)),
    (by_tensordot_named_lists, "tensordot", ([1], [0])),
    (by_outer, "outer", None),
    (squared_dot, "dot", None),
    (summed_product, "matmul", None),
]
RANKS = [(1, 1), (1, 2), (2, 1), (2, 2), (3, 2), (2, 3), (1, 3)]


def _program_cases() -> list:
    cases = []
    for program, name, axes in PROGRAMS:
        for p, q in RANKS:
            subscripts = contraction_subscripts(name, p, q, axes)
            if subscripts is not None:
                cases.append(pytest.param(program, subscripts, id=f"{program.__name__}-{p}{q}"))
    return cases


@pytest.mark.parametrize("program, subscripts", _program_cases())
@pytest.mark.parametrize("mode", MODES)
def test_every_spelling_and_rank_matches_finite_differences(program, subscripts, mode) -> None:
    rng = np.random.default_rng(3)
    args = [rng.standard_normal(s) for s in _shapes(subscripts)]
    grads = ag.grad(program, wrt=(0, 1), mode=mode)(*args)
    for index, got in enumerate(grads):
        assert_close(got, numeric_vjp(program, args, index, 1.0), what=f"argument {index}")


@pytest.mark.parametrize("program, subscripts", _program_cases())
def test_the_generated_gradient_holds_the_products(program, subscripts) -> None:
    args = [np.ones(s) for s in _shapes(subscripts)]
    source = ag.source(program, *args, wrt=(0, 1), mode="source")
    for position, helper in ((1, "_grad_left("), (2, "_grad_right(")):
        written = gradient_source(subscripts, position) is not None
        if program is by_tensordot_named_lists or not written:
            assert helper in source, source
        else:
            assert helper not in source, source
    assert "unbroadcast(" not in source, source  # (these never broadcast)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shapes", [[(2, 3), (4,)], [(3,), (2, 2)], [(2, 1, 2), (1, 3)]])
def test_outer_of_other_arrays_flattens_them(shapes, mode) -> None:
    # (np.outer ravels what is not a vector: its rule's road, not the product's)
    rng = np.random.default_rng(5)
    args = [rng.standard_normal(s) for s in shapes]
    grads = ag.grad(by_outer, wrt=(0, 1), mode=mode)(*args)
    for index, got in enumerate(grads):
        assert_close(got, numeric_vjp(by_outer, args, index, 1.0), what=f"argument {index}")


def test_outer_of_two_vectors_is_two_products() -> None:
    source = ag.source(by_outer, np.ones(3), np.ones(4), wrt=(0, 1), mode="source")
    assert "douter.dot(b)" in source and "a.dot(douter)" in source, source
    assert "reshape_like(" not in source and "ravel(" not in source, source


def by_vdot(a, b):
    return np.tanh(np.vdot(a, b))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shapes", [[(4,), (4,)], [(2, 3), (6,)], [(3,), (3, 1)]])
def test_vdot_of_vectors_and_of_arrays_it_flattens(shapes, mode) -> None:
    rng = np.random.default_rng(8)
    args = [0.5 * rng.standard_normal(s) for s in shapes]
    grads = ag.grad(by_vdot, wrt=(0, 1), mode=mode)(*args)
    for index, got in enumerate(grads):
        assert_close(got, numeric_vjp(by_vdot, args, index, 1.0), what=f"argument {index}")


def test_vdot_of_two_vectors_needs_no_reshape() -> None:
    source = ag.source(by_vdot, np.ones(3), np.ones(3), wrt=(0, 1), mode="source")
    assert "reshape_like(" not in source, source
    source = ag.source(by_vdot, np.ones((2, 3)), np.ones(6), wrt=(0, 1), mode="source")
    assert "reshape_like(" in source, source  # (vdot flattens the matrix)


def test_two_matrices_read_as_an_expert_writes_them() -> None:
    args = [np.ones((3, 4)), np.ones((4, 5))]
    for program in (by_operator, by_dot, by_dot_method, by_tensordot_one):
        source = ag.source(program, *args, wrt=(0, 1), mode="source")
        assert ".dot(b.T)" in source and "a.T.dot(" in source, source


# -- weights held in a list or tuple --------------------------------------------------------


def mlp_listed(params, x):
    W1, b1, W2, b2 = params
    h = np.tanh(np.einsum("ij,jk->ik", x, W1) + b1)
    out = np.tanh(np.tensordot(h, W2, axes=1) + b2)
    return np.sum(out * out)


def mlp_indexed(params, x):
    h = np.tanh(x.dot(params[0]) + params[1])
    out = np.tanh(np.dot(h, params[-2]) + params[-1])
    return np.sum(out * out)


def mlp_looped(weights, x):
    h = x
    for W in weights:
        h = np.tanh(np.tensordot(h, W, axes=1))
    return np.sum(h * h)


def _weights(rng, shapes) -> list[np.ndarray]:
    return [rng.standard_normal(s) * 0.5 for s in shapes]


LAYERS = [(4, 3), (3,), (3, 2), (2,)]


def _check_list_gradient(program, params, x, mode, container=list) -> None:
    got = ag.grad(program, mode=mode)(container(params), x)
    assert type(got) is container and len(got) == len(params)
    for i, gradient in enumerate(got):

        def of_one(w, i=i):
            return program(container([*params[:i], w, *params[i + 1 :]]), x)

        assert_close(gradient, numeric_vjp(of_one, [params[i]], 0, 1.0), what=f"item {i}")


@pytest.mark.parametrize("container", [list, tuple])
@pytest.mark.parametrize("program", [mlp_listed, mlp_indexed])
@pytest.mark.parametrize("mode", MODES)
def test_weights_in_a_list_match_finite_differences(program, container, mode) -> None:
    rng = np.random.default_rng(6)
    params, x = _weights(rng, LAYERS), rng.standard_normal((5, 4))
    for _ in range(2):  # (the general path, then the plan)
        _check_list_gradient(program, params, x, mode, container)


@pytest.mark.parametrize("mode", MODES)
def test_a_loop_over_layers_matches_finite_differences(mode) -> None:
    rng = np.random.default_rng(7)
    weights, x = _weights(rng, [(4, 3), (3, 3), (3, 2)]), rng.standard_normal((5, 4))
    _check_list_gradient(mlp_looped, weights, x, mode)


@pytest.mark.parametrize("container", [list, tuple])
def test_weights_in_a_list_take_the_products(container) -> None:
    rng = np.random.default_rng(8)
    params, x = container(_weights(rng, LAYERS)), rng.standard_normal((5, 4))
    for program in (mlp_listed, mlp_indexed):
        source = ag.source(program, params, x, mode="source")
        for helper in ("einsum_grad", "tensordot_grad", "dot_grad", "matmul_grad"):
            assert helper not in source, source
    source = ag.source(mlp_looped, list(_weights(rng, [(4, 3), (3, 3)])), x, mode="source")
    assert "tensordot_grad" not in source, source


def test_a_list_of_other_items_keeps_the_helpers() -> None:
    # a number among the weights: the list's kind says nothing of its items
    rng = np.random.default_rng(9)
    params, x = [*_weights(rng, LAYERS[:3]), 0.5], rng.standard_normal((5, 4))
    source = ag.source(mlp_listed, params, x, mode="source")
    assert "tensordot_grad" in source and "einsum_grad" in source, source


def replaces_an_item(params, x):
    params[0] = params[0][:, 0]  # (a vector now: the kind's ndim no longer holds)
    W1, b1 = params
    return np.sum(np.tanh(np.dot(x, W1))) + np.sum(np.sin(b1))


def grows_the_list(params, x):
    params.append(params[0][:, :1])
    W1, b1, W3 = params[0], params[1], params[2]
    return np.sum(np.tanh(np.dot(x, W1) + b1)) + np.sum(np.dot(x, W3))


def _changed_elsewhere(params):
    params[0] = params[0][:, 0]


def a_helper_replaces_an_item(params, x):
    _changed_elsewhere(params)
    W1, b1 = params
    return np.sum(np.tanh(np.dot(x, W1))) + np.sum(np.sin(b1))


@pytest.mark.parametrize("program", [replaces_an_item, grows_the_list, a_helper_replaces_an_item])
@pytest.mark.parametrize("mode", ["source", "auto"])
def test_a_list_the_function_changes_is_not_trusted(program, mode) -> None:
    """The items' ndims are the call's: a list the function changes may hold others
    later, so its items' ranks are not relied on (the gradient is right, or source mode
    says why it cannot transform)."""
    rng = np.random.default_rng(10)
    params, x = _weights(rng, [(4, 3), (3,)]), rng.standard_normal((5, 4))
    try:
        got = ag.grad(program, mode=mode)([p.copy() for p in params], x)
    except ag.TransformError:
        assert mode == "source"
        return
    for i in range(len(params)):

        def of_one(w, i=i):
            return program([p.copy() for p in [*params[:i], w, *params[i + 1 :]]], x)

        assert_close(got[i], numeric_vjp(of_one, [params[i]], 0, 1.0), what=f"item {i}")


def biased(params, x):
    W, b = params
    return np.sum(np.tanh(np.dot(x, W) + b))


def test_items_of_another_ndim_get_their_own_gradient() -> None:
    """A call plan checks each item's ndim: a bias given as a row after a vector misses
    the plan and gets a derivative of its own, and both gradients are right."""
    rng = np.random.default_rng(11)
    W, x = rng.standard_normal((4, 3)), rng.standard_normal((5, 4))
    gradient = ag.grad(biased, mode="source")
    for b in (rng.standard_normal(3), rng.standard_normal((1, 3)), rng.standard_normal(3)):
        for _ in range(2):
            _check_list_gradient(biased, [W, b], x, "source")
            got = gradient([W, b], x)
            assert got[1].shape == b.shape
    made = {sizes: plan for (_, _, sizes), (_, plan) in gradient._plans.items()}
    assert set(made) == {((2, (2, 1)), 2), ((2, (2, 2)), 2)}
    vector_bias = made[((2, (2, 1)), 2)]
    assert vector_bias.call(([W, rng.standard_normal((1, 3))], x)) is plans.MISS
    assert vector_bias.call(([W, rng.standard_normal(3)], x)) is not plans.MISS
    assert "item.ndim != ndim" in vector_bias.source and "(2, 1)" in vector_bias.source

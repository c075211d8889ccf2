"""What the tape's cheaper roads for a small model's call must keep (issue 18's small MLP).

A planned call cuts its leaves' reference cycles where nothing else holds them; the
backward pass hands a chain's gradient from node to node without its heap; matmul tests
its operands once for the product and its variant; tanh's variant computes in one buffer;
``np.mean(t)`` and the like skip NumPy's dispatch; a bias's gradient skips a call. Each
must give what the general road gives, to the bit, and keep PyTorch's semantics.
"""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
from astgrad.runtime import fallback
from astgrad.runtime.fast_path import _dot_2d_in_form
from astgrad.runtime.graph import _backward_pass
from astgrad.runtime.rules.arithmetic import dot_2d, two_float_matrices
from astgrad.runtime.rules.elementwise import tanh, tanh_of_result
from astgrad.runtime.rules.shared import _sum_rows, unbroadcast
from numeric import assert_close, numeric_vjp

import astgrad as ag


def _mlp(W1, b1, W2, b2, x, y):
    h = np.tanh(x @ W1 + b1)
    return np.mean((h @ W2 + b2 - y) ** 2)


def _mlp_args():
    rng = np.random.default_rng(7)
    shapes = [(3, 4), (4,), (4, 1), (1,), (5, 3), (5, 1)]
    return tuple(rng.standard_normal(s) for s in shapes)


# -- the leaves of a planned call -------------------------------------------------------------


def test_a_planned_calls_leaves_go_without_the_garbage_collector(monkeypatch):
    # (While a tensor made to require grad by hand is alive, as other tests' may be, a call
    # first looks for tensors from outside its arguments: see fallback.outside_graph. This
    # function reads none, and the common road is the one tested.)
    monkeypatch.setattr(fallback, "MADE_BY_HAND", {})
    seen = []

    def f(W1, b1, W2, b2, x, y):
        seen.append(weakref.ref(W1))
        return _mlp(W1, b1, W2, b2, x, y)

    g = ag.value_and_grad(f, wrt=(0, 1, 2, 3), mode="tape")
    args = _mlp_args()
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(3):
            seen.clear()
            g(*args)
            assert g._plan is not None
            assert seen[0]() is None, "the leaf should be freed as soon as the call ends"
    finally:
        if enabled:
            gc.enable()


def test_a_leaf_the_function_keeps_keeps_its_node_and_its_argument(monkeypatch):
    monkeypatch.setattr(fallback, "MADE_BY_HAND", {})  # (the common road: see above)
    kept = []

    def f(W1, b1, W2, b2, x, y):
        kept.append(W1)
        return _mlp(W1, b1, W2, b2, x, y)

    g = ag.value_and_grad(f, wrt=(0, 1, 2, 3), mode="tape")
    args = _mlp_args()
    want = g(*args)
    got = g(*args)
    assert g._plan is not None
    for leaf in kept:
        node = leaf._accumulator
        assert node is not None and node.variable is leaf
        assert leaf._argument is not None
    assert_close(got[0], want[0])
    # the kept leaf still records and accumulates like any leaf
    (kept[-1] * 2.0).sum().backward()
    assert np.array_equal(kept[-1].grad.data, np.full(args[0].shape, 2.0))


def test_an_accumulator_the_function_keeps_keeps_its_leaf(monkeypatch):
    monkeypatch.setattr(fallback, "MADE_BY_HAND", {})  # (the common road: see above)
    nodes = []

    def f(W1, b1, W2, b2, x, y):
        out = _mlp(W1, b1, W2, b2, x, y)
        nodes.append(W1._grad_accumulator())
        return out

    g = ag.value_and_grad(f, wrt=(0, 1, 2, 3), mode="tape")
    args = _mlp_args()
    g(*args)
    g(*args)
    assert g._plan is not None
    assert all(node.variable is not None for node in nodes)
    assert np.shares_memory(nodes[-1].variable.data, args[0])


# -- the backward pass's chains ---------------------------------------------------------------


def _graph_cases():
    def chain(a, b):
        return np.mean(np.tanh(np.tanh(a * b) * 2.0) ** 2)

    def same_node_twice(a, b):
        h = a * b
        return np.sum((h + h) * h)

    def diamond(a, b):
        h = np.tanh(a * b)
        return np.sum(np.sin(h) + np.cos(h) * h)

    def two_branches_then_join(a, b):
        u = np.exp(a) * b
        v = np.tanh(b) + a
        return np.sum(u * v + u)

    def several_results(a, b):
        sign, logdet = np.linalg.slogdet(a.T @ a + np.eye(2))
        return logdet * np.sum(b * sign)

    return [chain, same_node_twice, diamond, two_branches_then_join, several_results]


@pytest.mark.parametrize("f", _graph_cases(), ids=lambda f: f.__name__)
def test_chains_and_joins_get_the_gradients_of_differences(f):
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0.2, 0.9, (3, 2)), rng.uniform(0.2, 0.9, (3, 2))
    grads = ag.grad(f, wrt=(0, 1), mode="tape")(a, b)
    for i, grad in enumerate(grads):
        assert_close(grad, numeric_vjp(f, [a, b], i, np.array(1.0)), rtol=1e-6, atol=1e-8)


def test_a_chain_runs_in_the_heaps_order():
    # Hooks record the order their nodes ran in: newest first, and a node that two others
    # feed after both.
    order = []

    def hook(name):
        def record(grad):
            order.append(name)

        return record

    a = ag.tensor([0.5, 0.7], requires_grad=True)
    h = a * 2.0
    h.register_hook(hook("h"))
    u = np.tanh(h)
    u.register_hook(hook("u"))
    v = h * 3.0
    v.register_hook(hook("v"))
    w = np.tanh(u)
    w.register_hook(hook("w"))
    (w + v).sum().backward()
    assert order == ["w", "v", "u", "h"]

    def f(x):
        return np.sum(np.tanh(np.tanh(2 * x)) + 6 * x)

    assert_close(a.grad.data, numeric_vjp(f, [a.data], 0, np.array(1.0)))


def test_the_chain_road_and_the_heap_free_the_graph_alike():
    a = ag.tensor([0.5, 0.7], requires_grad=True)
    out = np.tanh(np.tanh(a * 2.0)).sum()
    out.backward()
    with pytest.raises(RuntimeError, match="second time"):
        out.backward()
    b = ag.tensor([0.5, 0.7], requires_grad=True)
    out = np.tanh(np.tanh(b * 2.0)).sum()
    out.backward(retain_graph=True)
    out.backward()
    assert_close(b.grad.data, 2 * a.grad.data)


def test_backward_pass_starting_from_several_roots():
    a = ag.tensor([0.5, 0.7], requires_grad=True)
    h = np.tanh(a * 2.0)
    u, v = h * 3.0, np.exp(h)
    leaves = _backward_pass(((u, np.ones(2)), (v, np.ones(2))), False)
    (grad,) = leaves.values()
    x = a.data
    want = (3.0 + np.exp(np.tanh(2 * x))) * (1 - np.tanh(2 * x) ** 2) * 2
    assert_close(grad, want)


# -- matmul's test, tanh's variant, np.mean, a bias ------------------------------------------


def _operand_pairs():
    rng = np.random.default_rng(2)
    m64, n64 = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    return [
        (m64, n64),
        (m64.astype(np.float32), n64.astype(np.float32)),
        (m64, n64.astype(np.float32)),
        (m64.astype(np.int64), n64.astype(np.int64)),
        (m64, rng.standard_normal(4)),
        (rng.standard_normal((2, 3, 4)), n64),
        (m64.astype(np.complex128), n64.astype(np.complex128)),
        (m64.T, m64[:, :2]),  # a transposed (Fortran-ordered) operand
    ]


@pytest.mark.parametrize("pair", range(len(_operand_pairs())))
def test_matmuls_test_in_one_is_dot_2d_and_its_variants_form(pair):
    a, b = _operand_pairs()[pair]
    out, form = _dot_2d_in_form(a, b)
    want = dot_2d(a, b)
    assert type(out) is type(want) and out.dtype == want.dtype
    assert np.array_equal(out, want)
    assert form is two_float_matrices(a, b)


def test_matmuls_test_in_one_raises_matmuls_error():
    a, b = np.ones((3, 4)), np.ones((3, 4))
    with pytest.raises(ValueError) as got:
        _dot_2d_in_form(a, b)
    with pytest.raises(ValueError) as want:
        dot_2d(a, b)
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, np.complex128])
def test_tanhs_variant_is_the_rule_to_the_bit(dtype):
    rng = np.random.default_rng(3)
    ans = np.tanh(rng.standard_normal((4, 3))).astype(dtype)
    g = rng.standard_normal((4, 3)).astype(dtype)
    cases = [
        (g, ans),
        (g.astype(np.float64), ans),  # a cotangent of another dtype
        (g[:1], ans),  # one that broadcasts
        (np.asfortranarray(g), ans),  # layouts that differ
        (np.asfortranarray(g), np.asfortranarray(ans)),  # one layout, not C's
        (g[::2], ans[1::2]),  # strided views
        (dtype(0.25), ans[0, 0]),  # results without dimensions
    ]
    for grad, result in cases:
        (got,) = tanh_of_result(grad, result, None)
        want = tanh(grad, result, None)
        assert type(got) is type(want) and got.dtype == want.dtype
        assert np.array_equal(got, want)
        if np.ndim(want):
            assert got.strides == want.strides  # (so later BLAS products sum alike)
        assert got is not grad and got is not result


def test_tanh_on_the_tape_agrees_with_differences():
    x = np.random.default_rng(4).standard_normal((3, 5))
    grad = ag.grad(lambda t: np.sum(np.tanh(t) * np.arange(5.0)), mode="tape")(x)
    want = numeric_vjp(lambda t: np.sum(np.tanh(t) * np.arange(5.0)), [x], 0, np.array(1.0))
    assert_close(grad, want, rtol=1e-6)


@pytest.mark.parametrize(
    "name", ["sum", "mean", "prod", "max", "amax", "min", "amin", "var", "std"]
)
def test_numpy_reductions_of_one_tensor_on_the_tape_are_numpys(name):
    x = np.random.default_rng(5).uniform(0.5, 1.5, (3, 4))

    def f(t):
        return getattr(np, name)(t * 1.0)

    value, grad = ag.value_and_grad(f, mode="tape")(x)
    assert value == getattr(np, name)(x)
    t = ag.tensor(x, requires_grad=True)
    want = getattr(np, name)(t * 1.0)  # NumPy's dispatch, outside the tape's globals
    want.backward()
    assert type(want.grad_fn).__name__.endswith("Backward")
    assert np.array_equal(grad, t.grad.data)
    # with keywords or a list, NumPy's own road as before
    assert ag.grad(lambda t: getattr(np, name)(t, axis=0).sum(), mode="tape")(x).shape == x.shape
    assert ag.grad(lambda t: getattr(np, name)([t, t]), mode="tape")(x).shape == x.shape


def test_the_tapes_globals_still_give_builtins_and_names_errors():
    def f(x):
        return x * float(len(range(3)))

    assert ag.grad(lambda x: np.sum(f(x)), mode="tape")(np.ones(2)).tolist() == [3.0, 3.0]

    def g(x):
        return x * undefined_name  # noqa: F821

    with pytest.raises(NameError, match="undefined_name"):
        ag.grad(lambda x: np.sum(g(x)), mode="tape")(np.ones(2))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rows", [1, 8, 100])
def test_a_bias_gradient_is_the_sum_of_rows_to_the_bit(dtype, rows):
    g = np.random.default_rng(rows).standard_normal((rows, 6)).astype(dtype)
    got = unbroadcast(g, np.ones(6, dtype))
    want = _sum_rows(g)
    assert got.dtype == want.dtype and np.array_equal(got, want)
    assert_close(got, g.sum(axis=0), rtol=1e-5)

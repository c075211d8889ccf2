"""The tape's fast paths give what the general ones give.

Results without dimensions are kept as NumPy scalars inside the tape, nodes take their
named class only when user code sees them, and rules of ufuncs get "trusted" kernels
compiled from the rule table without shape checks. These tests pin that each of these is
invisible: same values, same gradients (against the rule called directly, and against
finite differences), same types and dtypes seen by the user.
"""

from __future__ import annotations

import numpy as np
import pytest
from astgrad.runtime import graph
from astgrad.runtime.rules import lookup, unbroadcast
from numeric import assert_close, numeric_vjp

import astgrad as ag


def test_zero_dim_results_are_arrays_to_the_user():
    a = ag.tensor(0.5, requires_grad=True)
    b = a * 0.99 + 0.01 * a * a
    assert isinstance(b.data, np.ndarray) and b.data.shape == ()
    assert b.dtype == np.float64 and b.shape == () and b.item() == pytest.approx(0.4975)
    d = b.detach()
    assert np.shares_memory(d.data, b.data), "detach shares memory with the 0-d result"


def test_float32_scalars_stay_float32():
    a = ag.tensor(np.float32(0.5), requires_grad=True)
    b = a * 0.5 + 1.0
    assert b.dtype == np.float32
    b.backward()
    assert a.grad.dtype == np.float32 and a.grad.item() == 0.5


def test_scalar_recurrence_gradient():
    def f(a):
        for _ in range(20):
            a = a * 0.99 + 0.01 * a * a
        return a

    a = ag.tensor(0.5, requires_grad=True)
    f(a).backward()
    assert_close(a.grad.data, numeric_vjp(f, [np.array(0.5)], 0, np.array(1.0)))


def test_division_by_zero_follows_numpy():
    a = ag.tensor(1.0, requires_grad=True) * 1.0
    with np.errstate(divide="ignore"):
        assert (a / 0.0).item() == np.inf


def test_in_place_on_a_zero_dim_result_is_seen_by_views_and_checked():
    x = ag.tensor(2.0, requires_grad=True)
    h = x * 1.0
    out = h * h
    with ag.no_grad():
        h += 1.0
    assert h.item() == 3.0
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        out.backward()


def test_nodes_take_their_names_and_stay_the_same_objects():
    a = ag.tensor([1.0, 2.0], requires_grad=True)
    c = a * a
    d = c + a
    (first, _), (second, _) = d.grad_fn.next_functions
    assert first is c.grad_fn and type(first).__name__ == "MulBackward"
    assert type(second).__name__ == "AccumulateGrad" and second.variable is a
    d.sum().backward()
    assert a.grad.tolist() == [3.0, 5.0]


def _table_grads(rule, g, ans, args, needed):
    """The rule called as the table has it, for the arguments ``needed``."""
    grads = rule.vjp(g, ans, *args)
    grads = grads if isinstance(grads, tuple) else (grads,)
    return [grads[i] for i in needed]


ELEMENTWISE_CASES = [
    (np.add, ((3, 4), (4,))),
    (np.subtract, ((3, 1), (3, 4))),
    (np.multiply, ((2, 3), (2, 3))),
    (np.true_divide, ((3,), ())),
    (np.power, ((3, 4), (1, 4))),
    (np.multiply, ((), ())),
]


@pytest.mark.parametrize("ufunc, shapes", ELEMENTWISE_CASES, ids=str)
def test_trusted_kernels_agree_with_the_rule_table(ufunc, shapes):
    rule = lookup(ufunc)
    assert graph.elementwise_rule(rule)
    rng = np.random.default_rng(0)
    x, y = (rng.uniform(0.5, 2.0, s) for s in shapes)
    if not shapes[0]:
        x = np.float64(x)
    if not shapes[1]:
        y = np.float64(y)
    ans = ufunc(x, y)
    g = rng.standard_normal(np.shape(ans))
    out_shape = np.shape(ans)
    for needed in [(0,), (1,), (0, 1)]:
        same = tuple(np.shape((x, y)[p]) == out_shape for p in needed)
        kernel = graph.kernel_for(rule, needed, same=same)
        assert kernel.trusted
        got = kernel.fn(g, ans, x, y)
        want = _table_grads(rule, g, ans, (x, y), needed)
        for p, a, b in zip(needed, got, want):
            assert np.shape(a) == np.shape((x, y)[p])
            assert_close(a, b)


def test_checked_kernels_unbroadcast_afterwards():
    rule = lookup(np.multiply)
    kernel = graph.kernel_for(rule, (0, 1))
    assert not kernel.trusted and kernel.stripped == (True, True)
    x, y = np.ones((3, 4)), np.full(4, 2.0)
    g = np.ones((3, 4))
    gx, gy = kernel.fn(g, None, x, y)
    assert gy.shape == (3, 4)  # the stripped expression, before the node finishes it
    assert_close(unbroadcast(gy, y), np.full(4, 3.0))


def test_matmul_is_not_trusted_and_sigmoid_is_checked():
    assert not graph.elementwise_rule(lookup(np.matmul))
    x = ag.tensor(np.ones((2, 3)), requires_grad=True)
    out = (x @ np.ones((3, 2))).sigmoid().sum()
    out.backward()
    assert x.grad.shape == (2, 3)


def test_a_rule_with_a_wrong_shape_is_an_error_not_a_wrong_gradient():
    @ag.primitive
    def double(x):
        return 2.0 * x

    @ag.vjp_rule(double)
    def double_vjp(g, ans, x):
        return (2.0 * g).sum()  # wrong: a scalar for an array input

    try:
        x = ag.tensor([1.0, 2.0], requires_grad=True)
        with pytest.raises(RuntimeError, match="internal error"):
            double(x).sum().backward()
    finally:
        from astgrad.runtime.rules import registry

        registry._RULES.pop(registry._key(double), None)


def test_version_checks_run_after_any_in_place_write():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1.0
    out = (h * h).sum()
    other = ag.zeros(2)
    other += 1.0  # an unrelated write does not disturb out's backward
    out.backward(retain_graph=True)
    with ag.no_grad():
        h -= 1.0
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        out.backward()


def test_the_tapes_mean_is_numpys_mean_to_the_bit():
    from astgrad.runtime.fast_path import mean_of

    rng = np.random.default_rng(3)
    cases = [
        rng.standard_normal((8, 1)) * 1e3,
        rng.standard_normal(1001),
        rng.standard_normal((37, 53)).T,
        rng.standard_normal((6, 7))[::2],
        rng.standard_normal((4, 4)).astype(np.float32),
        np.arange(5),
        np.float64(2.5),
    ]
    for a in cases:
        assert mean_of(a) == np.mean(a)
        assert type(mean_of(a)) is type(np.mean(a))


NUMPY_ROADS = [
    ("tanh", lambda t: np.tanh(t), lambda t: t.tanh()),
    ("exp", lambda t: np.exp(t), lambda t: t.exp()),
    ("multiply", lambda t: np.multiply(t, 3.0), lambda t: t * 3.0),
    ("rmatmul", lambda t: np.matmul(np.ones((2, 3)), t), lambda t: np.ones((2, 3)) @ t),
    ("power", lambda t: np.power(t, 2), lambda t: t**2),
    ("mean", lambda t: np.mean(t), lambda t: t.mean()),
    ("sum", lambda t: np.sum(t), lambda t: t.sum()),
    ("max", lambda t: np.max(t), lambda t: t.max()),
    ("var", lambda t: np.var(t), lambda t: ((t - t.mean()) ** 2).mean()),
]


@pytest.mark.parametrize(
    "via_numpy, via_tensor", [p[1:] for p in NUMPY_ROADS], ids=[p[0] for p in NUMPY_ROADS]
)
def test_numpy_functions_of_tensors_record_what_the_methods_record(via_numpy, via_tensor):
    data = np.array([[0.5, -1.0], [2.0, 0.25], [1.5, -0.75]])
    a = ag.tensor(data, requires_grad=True)
    b = ag.tensor(data, requires_grad=True)
    out_a, out_b = via_numpy(a), via_tensor(b)
    assert type(out_a) is type(out_b) and out_a.dtype == out_b.dtype
    assert_close(out_a.data, out_b.data)
    out_a.sum().backward()
    out_b.sum().backward()
    assert_close(a.grad.data, b.grad.data)
    with ag.no_grad():
        assert not via_numpy(a).requires_grad


def test_numpy_functions_of_zero_dim_results():
    a = ag.tensor(0.5, requires_grad=True)
    b = a * 2.0  # kept as a NumPy scalar inside the tape
    for f in (np.tanh, np.exp, np.sum, np.mean, np.max):
        c = f(b)
        assert isinstance(c.data, np.ndarray) and c.shape == ()
    out = np.mean(np.tanh(b)) + np.sum(b * b)
    out.backward()
    assert_close(a.grad.data, 2.0 * (1 - np.tanh(1.0) ** 2) + 8.0 * 0.5)


_UNSET = object()


def test_the_fast_path_makes_tensors_and_nodes_as_the_constructors_do():
    """fast_path writes out new_tensor's and new_node's fields, for speed: the same ones."""
    from astgrad.runtime.graph import Node, new_node
    from astgrad.runtime.tensor import Tensor, new_tensor

    a = ag.tensor([1.0, 2.0], requires_grad=True)
    plain = ag.tensor([1.0, 2.0])
    for made in (a * 2.0, a * a, a.tanh(), a.sum(), plain * 2.0, plain.tanh()):
        node = made._grad_fn
        reference = new_tensor(made._data, node)
        if made._counter is not None:  # (the rule reads the result: it is checked)
            reference._counter = made._counter
        for name in Tensor.__slots__[:-1]:  # (all but __weakref__)
            # (a slot neither sets, _argument, reads as the same marker from both)
            value, expected = getattr(made, name, _UNSET), getattr(reference, name, _UNSET)
            assert value is expected or value == expected, name
        if node is not None:
            again = new_node(node._kernel, node._next, node._args, node._ans, node._checks)
            for name in Node.__slots__:
                if name not in ("_seq", "variable", "__weakref__"):
                    assert getattr(node, name) is getattr(again, name), name
            assert isinstance(node._seq, int) and node._seq < again._seq

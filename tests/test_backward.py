"""The recorded graph and ``backward``: node names and edges, accumulation, retain_graph,
in-place operations and the version counter, views, and user-registered rules."""

from __future__ import annotations

import numpy as np
import pytest
from astgrad.runtime.rules import registry, unbroadcast
from numeric import assert_close, numeric_vjp

import astgrad as ag
from astgrad import Tensor


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _grads_match(tensor_fn, numpy_fn, arrays, seed=1):
    """Gradients of ``sum(tensor_fn(...) * g)`` for every input against finite differences."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    tensors = [ag.tensor(a, requires_grad=True) for a in arrays]
    out = tensor_fn(*tensors)
    expected = numpy_fn(*[a.copy() for a in arrays])
    assert_close(out.data, expected, what="forward value")
    g = _rng(seed).standard_normal(np.shape(expected))
    out.backward(g)
    for i, t in enumerate(tensors):
        want = numeric_vjp(lambda *xs: numpy_fn(*[x.copy() for x in xs]), list(arrays), i, g)
        assert_close(t.grad.data, want, what=f"gradient of input {i}")


SAVED = "modified by an in-place operation"


# -- the graph --------------------------------------------------------------------------


def test_requires_grad_is_contagious():
    x = ag.ones(3, requires_grad=True)
    c = ag.ones(3)
    assert not c.requires_grad
    y = c * 2.0 + x
    assert y.requires_grad
    z = (y * c).sum()
    assert z.requires_grad and z.grad_fn is not None
    assert not (c * c).requires_grad and (c * c).grad_fn is None


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda x, y: x + y, "AddBackward"),
        (lambda x, y: x - y, "SubBackward"),
        (lambda x, y: x * y, "MulBackward"),
        (lambda x, y: x / y, "DivBackward"),
        (lambda x, y: x**y, "PowBackward"),
        (lambda x, y: x @ y, "MatMulBackward"),
        (lambda x, y: -x, "NegBackward"),
        (lambda x, y: x.sum(), "SumBackward"),
        (lambda x, y: x.mean(), "MeanBackward"),
        (lambda x, y: x.max(), "MaxBackward"),
        (lambda x, y: x.exp(), "ExpBackward"),
        (lambda x, y: x.log(), "LogBackward"),
        (lambda x, y: x.tanh(), "TanhBackward"),
        (lambda x, y: x.sigmoid(), "SigmoidBackward"),
        (lambda x, y: x.relu(), "ReluBackward"),
        (lambda x, y: x.abs(), "AbsBackward"),
        (lambda x, y: x[0], "IndexBackward"),
        (lambda x, y: x.reshape(3), "ReshapeBackward"),
        (lambda x, y: x.T, "TransposeBackward"),
        (lambda x, y: x.clone(), "CopyBackward"),
    ],
)
def test_node_names(make, name):
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = ag.tensor([0.5, 1.5, 2.5], requires_grad=True)
    out = make(x, y)
    assert type(out.grad_fn).__name__ == name
    assert out.grad_fn.name() == name
    assert repr(out.grad_fn).startswith(f"<{name} object at")
    assert f"grad_fn=<{name}>" in repr(out)


def test_next_functions_are_node_index_pairs_ending_in_accumulate_grad():
    a = ag.tensor([1.0, 2.0], requires_grad=True)
    b = ag.tensor([3.0, 4.0], requires_grad=True)
    c = a * b
    d = c + a
    node = d.grad_fn
    assert type(node).__name__ == "AddBackward"
    (first, i0), (second, i1) = node.next_functions
    assert first is c.grad_fn and i0 == 0
    assert type(second).__name__ == "AccumulateGrad" and i1 == 0
    assert second.variable is a
    mul_edges = c.grad_fn.next_functions
    assert [type(n).__name__ for n, _ in mul_edges] == ["AccumulateGrad", "AccumulateGrad"]
    assert mul_edges[0][0] is second, "one AccumulateGrad per leaf, shared by its uses"
    assert mul_edges[1][0].variable is b
    assert all(isinstance(i, int) for _, i in mul_edges)


def test_next_functions_skip_inputs_that_need_no_gradient():
    a = ag.tensor([1.0, 2.0], requires_grad=True)
    node = (a * ag.tensor([3.0, 4.0])).grad_fn
    assert len(node.next_functions) == 1
    assert node.next_functions[0][0].variable is a


def test_pytorch_tutorial_graph():
    ag.manual_seed(0)
    a, w1, w2, w3, w4 = (ag.randn((3, 3), requires_grad=True) for _ in range(5))
    b = w1 * a
    c = w2 * a
    d = w3 * b + w4 * c
    L = 10 - d

    assert a.grad_fn is None and a.is_leaf
    assert type(d.grad_fn).__name__ == "AddBackward"
    assert type(L.grad_fn).__name__ == "SubBackward"
    assert not d.is_leaf
    [(add_node, _)] = L.grad_fn.next_functions
    assert add_node is d.grad_fn
    assert [type(n).__name__ for n, _ in d.grad_fn.next_functions] == ["MulBackward"] * 2

    with pytest.raises(
        RuntimeError, match="grad can be implicitly created only for scalar outputs"
    ):
        L.backward()
    L.backward(ag.ones(3, 3))

    A, W1, W2, W3, W4 = (t.detach().numpy() for t in (a, w1, w2, w3, w4))
    # L = 10 - (w3 w1 a + w4 w2 a), elementwise
    assert_close(a.grad.data, -(W3 * W1 + W4 * W2))
    assert_close(w1.grad.data, -W3 * A)
    assert_close(w2.grad.data, -W4 * A)
    assert_close(w3.grad.data, -W1 * A)
    assert_close(w4.grad.data, -W2 * A)

    lr = 0.1
    w1 = w1 - lr * w1.grad
    assert_close(w1.data, W1 + lr * W3 * A)
    assert not w1.is_leaf and w1.requires_grad


# -- backward ---------------------------------------------------------------------------


def test_backward_on_non_scalar_needs_a_gradient():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3.0
    with pytest.raises(
        RuntimeError, match="grad can be implicitly created only for scalar outputs"
    ):
        y.backward()
    y.sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_backward_on_one_element_non_scalar_needs_no_gradient():
    x = ag.tensor([2.0], requires_grad=True)
    (x * x).backward()
    assert x.grad.tolist() == [4.0]


@pytest.mark.parametrize(
    "gradient",
    [
        lambda: ag.tensor([[1.0, 2.0], [3.0, 4.0]]),
        lambda: np.array([[1.0, 2.0], [3.0, 4.0]]),
        lambda: [[1.0, 2.0], [3.0, 4.0]],
    ],
    ids=["tensor", "array", "list"],
)
def test_backward_with_gradient_of_the_output_shape(gradient):
    x = ag.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = x * x
    y.backward(gradient=gradient())
    assert x.grad.tolist() == [[2.0, 8.0], [18.0, 32.0]]


def test_backward_with_a_gradient_of_the_wrong_shape_raises():
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"shape \(2,\).*shape \(3,\)"):
        y.backward(gradient=np.ones(2))
    with pytest.raises(RuntimeError, match="must match"):
        y.backward(gradient=ag.ones(3, 1))
    assert x.grad is None


def test_backward_on_a_tensor_that_does_not_require_grad_raises():
    y = ag.ones(3).sum()
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()
    x = ag.ones(3, requires_grad=True)
    with ag.no_grad():
        z = (x * 2).sum()
    with pytest.raises(RuntimeError, match="does not require grad"):
        z.backward()


def test_leaves_accumulate_across_backward_calls():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]
    (x * 3).sum().backward()
    assert x.grad.tolist() == [5.0, 7.0]
    x.grad.zero_()
    assert x.grad.tolist() == [0.0, 0.0]
    (x * 1).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]
    x.grad = None
    (x * 2).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_grad_is_an_own_buffer():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    g = np.array([5.0, 6.0])
    (x * 1).backward(g)
    (x * 1).backward(g)
    assert g.tolist() == [5.0, 6.0], "accumulating into .grad must not write into the seed"
    assert x.grad.tolist() == [10.0, 12.0]


def test_backward_from_a_leaf():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    x.backward(np.array([3.0, 4.0]))
    assert x.grad.tolist() == [3.0, 4.0]


def test_assigning_grad_checks_the_shape():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    x.grad = np.array([1.0, 1.0])
    assert isinstance(x.grad, Tensor)
    with pytest.raises(RuntimeError, match="shape"):
        x.grad = np.ones(3)


def test_create_graph_records_the_gradient():
    # (higher-order derivatives: tests/test_tape_higher_order.py)
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    (x**3).sum().backward(create_graph=True)
    assert x.grad.tolist() == [3.0, 12.0] and x.grad.grad_fn is not None
    x.grad = None
    (x**3).sum().backward(create_graph=False)
    assert x.grad.tolist() == [3.0, 12.0] and x.grad.grad_fn is None


def test_zero_on_a_leaf_that_requires_grad_names_zero_():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"leaf Variable .* in-place operation \(zero_\(\)\)"):
        x.zero_()
    with ag.no_grad():
        x.zero_()
    assert x.tolist() == [0.0, 0.0] and x._version == 1


def test_second_backward_raises_unless_retain_graph():
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    L = (x * x).sum()
    L.backward()
    with pytest.raises(RuntimeError, match=r"retain_graph=True") as excinfo:
        L.backward()
    assert "second time" in str(excinfo.value)
    assert x.grad.tolist() == [2.0, 4.0, 6.0], "the failed call must not touch .grad"


def test_retain_graph_keeps_it_and_gradients_accumulate():
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    L = (x * x).tanh().sum()
    L.backward(retain_graph=True)
    once = x.grad.data.copy()
    L.backward(retain_graph=True)
    assert_close(x.grad.data, 2 * once)
    L.backward()
    assert_close(x.grad.data, 3 * once)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        L.backward()


def test_shared_subgraph_freed_by_first_backward():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    h = x.exp()
    (h * 2).sum().backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        (h * 3).sum().backward()


def test_gradient_reaches_a_leaf_through_several_paths():
    x = ag.tensor([0.5, -1.0], requires_grad=True)
    y = x * x
    z = y * x + y.exp() - x
    z.sum().backward()
    X = np.array([0.5, -1.0])
    assert_close(x.grad.data, 3 * X**2 + 2 * X * np.exp(X**2) - 1)


def test_paths_without_gradient_are_skipped():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    idx = np.argmax(x)  # no gradient flows through integer results
    out = (x * 2).sum() + x[idx]
    out.backward()
    assert x.grad.tolist() == [2.0, 3.0]


def test_deep_chain_does_not_recurse():
    x = ag.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0001
    y.backward()
    assert_close(x.grad.data, 1.0001**5000)


def test_float32_gradients_stay_float32():
    x = ag.tensor([1.0, 2.0], dtype=np.float32, requires_grad=True)
    (x * 2.5).sum().backward()
    assert x.grad.dtype == np.float32


# -- in-place operations ----------------------------------------------------------------

INPLACE = {
    "+=": lambda t, v: t.__iadd__(v),
    "-=": lambda t, v: t.__isub__(v),
    "*=": lambda t, v: t.__imul__(v),
    "/=": lambda t, v: t.__itruediv__(v),
}


@pytest.mark.parametrize("op", list(INPLACE))
def test_in_place_on_a_leaf_that_requires_grad_raises(op):
    w = ag.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf") as excinfo:
        INPLACE[op](w, 2.0)
    assert op in str(excinfo.value) and "no_grad" in str(excinfo.value)
    assert w.tolist() == [1.0, 2.0]


def test_item_assignment_on_a_leaf_that_requires_grad_raises():
    w = ag.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf.*item assignment"):
        w[0] = 5.0
    assert w.tolist() == [1.0, 2.0]


def test_parameter_update_under_no_grad():
    w = ag.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    with ag.no_grad():
        w -= 0.5 * w.grad
        w *= 2.0
        w += 1.0
        w /= 2.0
        w[1] = 10.0
    assert w.tolist() == [0.5, 10.0]
    assert w.is_leaf and w.requires_grad and w.grad_fn is None
    w.grad = None
    (w * w).sum().backward()
    assert w.grad.tolist() == [1.0, 20.0]


@pytest.mark.parametrize("op", list(INPLACE))
def test_in_place_on_a_non_leaf_records(op):
    apply = INPLACE[op]

    def tensor_fn(x, y):
        h = x * 2.0
        h = apply(h, y)
        h = apply(h, 1.5)
        return h

    def numpy_fn(x, y):
        h = x * 2.0
        h = apply(h, y)
        return apply(h, 1.5)

    rng = _rng(2)
    _grads_match(tensor_fn, numpy_fn, [rng.uniform(0.5, 2, (3, 2)), rng.uniform(0.5, 2, (2,))])


def test_in_place_keeps_the_tensor_object_and_its_grad_fn_moves():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    before = h.grad_fn
    alias = h
    h += 1
    assert h is alias
    assert h.grad_fn is not before and type(h.grad_fn).__name__ == "AddBackward"
    assert h.tolist() == [3.0, 5.0]


def test_brief_example_h_times_y_then_item_assignment():
    def tensor_fn(x, y, z):
        h = x * 2
        h *= y
        h[0] = z
        h[1:] = h[1:] + z
        return h * y

    def numpy_fn(x, y, z):
        h = x * 2
        h *= y
        h[0] = z
        h[1:] = h[1:] + z
        return h * y

    rng = _rng(3)
    _grads_match(tensor_fn, numpy_fn, [rng.standard_normal(4), rng.standard_normal(4), 1.7])


def test_item_assignment_records_on_non_leaves():
    def tensor_fn(x, v):
        h = x.exp()
        h = h * 1.0
        h[1:3] = v
        h[np.array([0, 3])] = v * 2
        h[h.detach() > 100.0] = 0.0
        return h * x

    def numpy_fn(x, v):
        h = np.exp(x)
        h[1:3] = v
        h[np.array([0, 3])] = v * 2
        h[h > 100.0] = 0.0
        return h * x

    rng = _rng(4)
    _grads_match(tensor_fn, numpy_fn, [rng.standard_normal((4, 2)), rng.standard_normal(2)])


def test_writing_tracked_values_into_a_plain_buffer_records():
    def tensor_fn(x):
        out = ag.zeros(3)
        for i in range(3):
            out[i] = x[i] * x[(i + 1) % 3]
        out += x
        return out

    def numpy_fn(x):
        out = np.zeros(3)
        for i in range(3):
            out[i] = x[i] * x[(i + 1) % 3]
        out += x
        return out

    _grads_match(tensor_fn, numpy_fn, [_rng(5).standard_normal(3)])


def test_repeated_integer_index_assignment_keeps_the_last_write():
    # NumPy keeps the last of the writes to one position: only it has a gradient
    # (tests/test_soundness_repeated_indices.py checks many more cases).
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    h = ag.zeros(3)
    h[np.array([0, 0])] = x
    h.sum().backward()
    assert_close(x.grad, [0.0, 1.0])


def _assign_pairs(x, v):
    y = x * 1.0
    y[np.array([0, 1, 2]), np.array([1, 1, -3])] = v  # three positions, in one column
    return np.sum(y**2 * np.arange(12.0).reshape(3, 4))


def test_index_arrays_together_repeat_no_position():
    # Each array repeats an entry, the pairs do not: every assigned value has a gradient.
    x = _rng(2).standard_normal((3, 4))
    v = _rng(3).standard_normal(3)
    for mode in ("source", "tape"):
        gx, gv = ag.grad(_assign_pairs, wrt=(0, 1), mode=mode)(x, v)
        assert_close(gx, numeric_vjp(_assign_pairs, [x, v], 0, 1.0), what=mode)
        assert_close(gv, numeric_vjp(_assign_pairs, [x, v], 1, 1.0), what=mode)
    h = ag.zeros((3, 4))
    h[np.array([0, 1]), np.array([1, 1])] = ag.tensor([1.0, 2.0], requires_grad=True)
    h.sum().backward()
    h = ag.zeros((3, 4))
    v = ag.tensor([1.0, 2.0], requires_grad=True)
    h[np.array([0, -3]), np.array([1, 1])] = v  # one position twice: the last write stays
    h.sum().backward()
    assert_close(v.grad, [0.0, 1.0])


def test_in_place_with_a_changing_shape_raises():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1
    with pytest.raises(ValueError, match="shape"):
        h += ag.ones(3, 2)


# -- the version counter ----------------------------------------------------------------

SAVING_OPS = [
    # (the other operand requires grad: its gradient reads h)
    ("mul-input", lambda h, c: h * ag.tensor(c, requires_grad=True), "input"),
    ("div-input", lambda h, c: c / h, "input"),
    ("log-input", lambda h, c: h.log(), "input"),
    ("pow-input", lambda h, c: h**3, "input"),
    ("matmul-input", lambda h, c: h @ ag.tensor(c, requires_grad=True), "input"),
    ("relu-result", lambda h, c: h.relu(), "result"),
    ("abs-input", lambda h, c: h.abs(), "input"),
    ("max-input", lambda h, c: h.max(), "input"),
    ("exp-result", lambda h, c: h.exp(), "result"),
    ("tanh-result", lambda h, c: h.tanh(), "result"),
    ("sqrt-result", lambda h, c: h.sqrt(), "result"),
    ("sigmoid-result", lambda h, c: h.sigmoid(), "result"),
]


@pytest.mark.parametrize("fn, which", [pytest.param(f, w, id=n) for n, f, w in SAVING_OPS])
@pytest.mark.parametrize("how", ["recorded", "no_grad"])
def test_modifying_a_saved_value_makes_backward_raise(fn, which, how):
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    c = np.array([0.5, 1.5, 2.5])
    h = x * 1.0
    out = fn(h, c)
    saver = type(out.grad_fn).__name__
    target = h if which == "input" else out
    if how == "recorded":
        target += 1.0
    else:
        with ag.no_grad():
            target += 1.0
    with pytest.raises(RuntimeError, match=SAVED) as excinfo:
        out.sum().backward()
    assert saver in str(excinfo.value)
    assert x.grad is None, "no gradient may be produced from modified values"


CONSTANT_OPERAND_OPS = [
    ("mul", lambda h, c: h * c),
    ("rmul", lambda h, c: c * h),
    ("mul-number", lambda h, c: h * 0.5),
    ("np-multiply", lambda h, c: np.multiply(h, c)),
    ("matmul", lambda h, c: h @ np.diag(c)),
    ("rmatmul", lambda h, c: np.diag(c) @ h),
    ("divide", lambda h, c: h / c),
]


@pytest.mark.parametrize("fn", [pytest.param(f, id=n) for n, f in CONSTANT_OPERAND_OPS])
@pytest.mark.parametrize("how", ["recorded", "no_grad"])
def test_an_operand_whose_value_no_gradient_reads_may_change(fn, how):
    # As in PyTorch: the gradient of h in h * c reads c only, so h is not saved, and
    # changing h before backward is no error.
    c = np.array([0.5, 1.5, 2.5])
    untouched = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    fn(untouched * 1.0, c).sum().backward()
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = x * 1.0
    out = fn(h, c)
    if how == "recorded":
        h += 1.0
    else:
        with ag.no_grad():
            h += 1.0
    out.sum().backward()
    assert_close(x.grad.data, untouched.grad.data)


@pytest.mark.parametrize(
    "fn",
    [lambda h: h * 0.5, lambda h: 0.5 * h, lambda h: h + h, lambda h: h.exp(), lambda h: np.exp(h)],
    ids=["mul-constant", "rmul-constant", "add", "exp-method", "np-exp"],
)
def test_a_node_does_not_keep_an_input_its_gradient_never_reads(fn):
    import gc
    import weakref

    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = x * 2.0
    out = fn(h).sum()
    freed = weakref.ref(h.data)
    del h
    gc.collect()
    assert freed() is None
    out.backward()
    untouched = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    fn(untouched * 2.0).sum().backward()
    assert_close(x.grad.data, untouched.grad.data)


def test_a_recurrence_through_item_assignment_with_a_constant_factor():
    # Y[i] = Y[i - 1] * 0.5 + X[i]: the product reads only the constant, so writing the
    # next row of Y is no in-place change of a saved value.
    X = ag.tensor(np.arange(12.0).reshape(4, 3) / 10, requires_grad=True)
    Y = X * 1.0
    for i in range(1, 4):
        Y[i] = Y[i - 1] * 0.5 + X[i]
    (Y * Y).sum().backward()

    def f(x):
        y = x.copy()
        for i in range(1, 4):
            y[i] = y[i - 1] * 0.5 + x[i]
        return np.sum(y * y)

    want = numeric_vjp(f, [X.data.copy()], 0, np.array(1.0))
    assert_close(X.grad.data, want)


def test_a_recurrence_through_item_assignment_with_a_variable_factor_raises():
    # Y[i] = Y[i - 1] * w with w requiring grad reads Y[i - 1] for w's gradient: writing
    # Y[i] changes it (they share Y's buffer), so backward must raise, as in PyTorch.
    w = ag.tensor(0.5, requires_grad=True)
    Y = ag.tensor(np.ones((3, 2)), requires_grad=True) * 1.0
    for i in range(1, 3):
        Y[i] = Y[i - 1] * w
    with pytest.raises(RuntimeError, match=SAVED):
        Y.sum().backward()


def test_modifying_a_value_read_only_for_its_shape_is_fine():
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = ag.tensor([4.0, 5.0, 6.0], requires_grad=True)
    h = x * 1.0
    s = (h + y) + h[0:2].sum()  # add and indexing read h's shape only
    h += 10.0
    (s * 1.0).sum().backward()
    # d/dh of (h + y) is 1 per element; h[0:2].sum() is broadcast into all three outputs
    assert x.grad.tolist() == [4.0, 4.0, 1.0]
    assert y.grad.tolist() == [1.0, 1.0, 1.0]


def test_updating_a_parameter_before_backward_raises():
    w = ag.tensor([1.0, 2.0], requires_grad=True)
    x = ag.tensor([3.0, 4.0])
    loss = (w * x).sum() + (w * w).sum()
    with ag.no_grad():
        w -= 0.1
    with pytest.raises(RuntimeError, match=SAVED):
        loss.backward()


def test_modifying_a_constant_saved_for_backward_raises():
    w = ag.tensor([1.0, 2.0], requires_grad=True)
    c = ag.tensor([3.0, 4.0])
    loss = (w * c).sum()
    c *= 2.0
    with pytest.raises(RuntimeError, match=SAVED):
        loss.backward()


def test_plain_array_operands_are_copied_when_saved():
    w = ag.tensor([1.0, 2.0], requires_grad=True)
    c = np.array([3.0, 4.0])
    loss = (w * c).sum()
    c *= 100.0
    loss.backward()
    assert w.grad.tolist() == [3.0, 4.0]


def test_retained_graph_checks_versions_again():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1.0
    out = (h * h).sum()
    out.backward(retain_graph=True)
    with ag.no_grad():
        h += 1.0
    with pytest.raises(RuntimeError, match=SAVED):
        out.backward()


def test_version_counts_in_place_writes():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1.0
    assert h._version == 0
    h += 1
    h *= 2
    h[0] = 0.0
    assert h._version == 3
    with ag.no_grad():
        h -= 1
    assert h._version == 4


@pytest.mark.parametrize(
    "make_view",
    [
        lambda h: h[0:2],
        lambda h: h.reshape(2, 2),
        lambda h: h.reshape(2, 2).transpose(),
        lambda h: h.T,
    ],
    ids=["slice", "reshape", "transpose", "T"],
)
def test_views_share_the_version_counter(make_view):
    x = ag.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    h = x * 1.0
    v = make_view(h)
    assert np.shares_memory(v.data, h.data)
    with ag.no_grad():
        h[3] = 7.0
    assert v._version == h._version == 1
    with ag.no_grad():
        v[...] = v * 1.0
    assert h._version == 2


def test_change_through_a_view_invalidates_saved_base():
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = x * 1.0
    out = (h * h).sum()
    v = h[0:2]
    with ag.no_grad():
        v[0] = 50.0
    assert h.tolist()[0] == 50.0
    with pytest.raises(RuntimeError, match=SAVED):
        out.backward()


def test_change_of_the_base_invalidates_saved_view():
    x = ag.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    h = x * 1.0
    v = h.reshape(2, 2)
    out = (v * v).sum()
    h[3] = 0.0
    with pytest.raises(RuntimeError, match=SAVED):
        out.backward()


@pytest.mark.parametrize(
    "make_view, grad",
    [
        (lambda h: h[0:2], [6.0, 6.0, 0.0, 0.0]),
        (lambda h: h.reshape(2, 2), [6.0] * 4),
        (lambda h: h.reshape(2, 2).T, [6.0] * 4),
    ],
    ids=["slice", "reshape", "transpose"],
)
def test_view_used_after_recorded_in_place_on_its_base_follows_it(make_view, grad):
    # The view reads the base's new values, and its history becomes the base's new one
    # (as in PyTorch); a view taken again after the change gives the same gradient.
    for again in (False, True):
        x = ag.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
        h = x * 1.0
        v = make_view(h)
        h *= 2.0
        if again:
            v = make_view(h)
        assert sorted(np.ravel(v.tolist())) == sorted(2.0 * np.ravel(make_view(x).tolist()))
        (v * 3.0).sum().backward()
        assert x.grad.tolist() == grad


def test_in_place_on_a_view_while_recording_writes_through_to_its_base():
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    w = ag.tensor(4.0, requires_grad=True)
    h = x * 1.0
    v = h[0:2]
    v *= w
    assert h.tolist() == [4.0, 8.0, 3.0]
    v[0] = 5.0 * w
    assert h.tolist() == [20.0, 8.0, 3.0] and v.tolist() == [20.0, 8.0]
    (h * ag.tensor([1.0, 10.0, 100.0])).sum().backward()  # 5 w + 10 x1 w + 100 x2
    assert x.grad.tolist() == [0.0, 40.0, 100.0]
    assert w.grad.tolist() == 5.0 + 10.0 * 2.0


def test_view_of_a_leaf_after_a_no_grad_update():
    w = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    v = w[1:]
    with ag.no_grad():
        w -= 1.0
    assert v.tolist() == [1.0, 2.0]
    (v * v).sum().backward()
    assert w.grad.tolist() == [0.0, 2.0, 4.0]


# -- user rules -------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _forget_user_rules():
    """Rules registered by a test leave the table afterwards (it is global)."""
    saved = dict(registry._RULES)
    yield
    registry._RULES.clear()
    registry._RULES.update(saved)


def test_user_primitive_and_rule_on_the_tape():
    @ag.primitive
    def softplus(x):
        return np.logaddexp(0.0, x)

    @ag.vjp_rule(softplus)
    def softplus_vjp(g, ans, x):
        return g / (1.0 + np.exp(-x))

    assert softplus(np.array([0.0])).tolist() == [np.log(2.0)], "plain arrays pass through"
    out = softplus(ag.tensor([0.0], requires_grad=True))
    assert out.grad_fn.name() == "SoftplusBackward"
    _grads_match(
        lambda x: softplus(x * 2.0).sum(axis=0),
        lambda x: np.logaddexp(0.0, x * 2.0).sum(axis=0),
        [_rng(6).standard_normal((3, 2))],
    )


def test_user_rule_with_two_arguments_and_broadcasting():
    @ag.primitive
    def scaled_tanh(x, scale):
        return scale * np.tanh(x)

    @ag.vjp_rule(scaled_tanh)
    def scaled_tanh_vjp(g, ans, x, scale):
        t = np.tanh(x)
        return g * scale * (1 - t * t), unbroadcast(g * t, scale)

    rng = _rng(7)
    _grads_match(
        scaled_tanh,
        lambda x, s: s * np.tanh(x),
        [rng.standard_normal((3, 4)), rng.uniform(0.5, 2.0, (4,))],
    )
    # only one argument requiring grad takes the specialised path
    x = ag.tensor(rng.standard_normal(3), requires_grad=True)
    scaled_tanh(x, np.array(2.0)).sum().backward()
    assert_close(x.grad.data, 2.0 * (1 - np.tanh(x.detach().data) ** 2))


def test_user_rule_for_a_plain_function_used_through_numpy_dispatch():
    def cube(x):
        return x**3

    @ag.vjp_rule(cube)
    def cube_vjp(g, ans, x):
        return g * 3.0 * x**2

    cube_p = ag.primitive(cube)
    x = ag.tensor([1.0, -2.0], requires_grad=True)
    cube_p(x).sum().backward()
    assert x.grad.tolist() == [3.0, 12.0]
    assert ag.lookup_rule(cube_p) is ag.lookup_rule(cube)


def test_rule_must_start_with_g_and_ans():
    def f(x):
        return x

    with pytest.raises(TypeError, match=r"\(g, ans, \.\.\.\)"):

        @ag.vjp_rule(f)
        def bad(x, g):
            return g

"""The eager tensor: factories, attributes, operators, methods, indexing and NumPy interop.

Every gradient is compared with central finite differences in float64 (``numeric.py``);
every error is checked by its type and by what its message tells the user.
"""

from __future__ import annotations

import gc
import importlib
import math
import operator
import warnings

import numpy as np
import pytest
from numeric import assert_close, numeric_vjp

import astgrad as ag
from astgrad import Tensor


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _away_from_zero(shape, seed=0, low=0.2, high=2.0):
    """Random values with |x| in [low, high): kinks at zero (relu, abs) stay out of reach."""
    rng = _rng(seed)
    return rng.uniform(low, high, shape) * rng.choice([-1.0, 1.0], shape)


def check_grads(tensor_fn, numpy_fn, *arrays, seed=1, rtol=1e-5, atol=1e-7):
    """Run ``tensor_fn`` on tensors that require grad, compare its value with ``numpy_fn`` on
    the arrays, and every input's gradient with finite differences of ``numpy_fn``."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    tensors = [ag.tensor(a, requires_grad=True) for a in arrays]
    out = tensor_fn(*tensors)
    assert isinstance(out, Tensor)
    assert out.requires_grad and out.grad_fn is not None
    expected = numpy_fn(*arrays)
    assert_close(out.data, expected, what="forward value")
    g = _rng(seed).standard_normal(np.shape(expected))
    out.backward(g)
    for i, t in enumerate(tensors):
        want = numeric_vjp(numpy_fn, list(arrays), i, g)
        assert t.grad is not None, f"input {i} got no gradient"
        assert_close(t.grad.data, want, rtol=rtol, atol=atol, what=f"gradient of input {i}")
    return tensors


# -- factories --------------------------------------------------------------------------


def test_tensor_from_data_copies_and_takes_options():
    source = np.array([[1.0, 2.0], [3.0, 4.0]])
    t = ag.tensor(source, dtype=np.float32, device="cpu", requires_grad=True)
    assert t.shape == (2, 2) and t.dtype == np.float32
    assert t.requires_grad and t.is_leaf and t.grad is None and t.grad_fn is None
    source[0, 0] = 100.0
    assert t.data[0, 0] == 1.0, "ag.tensor must copy its data"

    assert ag.tensor([1, 2, 3]).dtype == np.int64
    assert ag.tensor(3.5).shape == ()
    assert ag.tensor([[1.0]], device=ag.device("cpu")).device == "cpu"
    assert ag.tensor(ag.tensor([1.0, 2.0])).tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    "factory, fill",
    [(ag.zeros, 0.0), (ag.ones, 1.0)],
)
def test_zeros_ones_take_a_tuple_or_separate_ints(factory, fill):
    a = factory((2, 3))
    b = factory(2, 3)
    c = factory([2, 3], dtype=np.float32, requires_grad=True)
    assert a.shape == b.shape == c.shape == (2, 3)
    assert a.dtype == np.float64 and c.dtype == np.float32
    assert np.all(a.data == fill) and np.all(b.data == fill)
    assert c.requires_grad and not a.requires_grad
    assert factory(4).shape == (4,)
    assert factory().shape == ()


def test_empty_full_arange_eye():
    e = ag.empty(2, 3)
    assert e.shape == (2, 3) and e.dtype == np.float64
    assert ag.empty((4,), dtype=np.float32).dtype == np.float32

    f = ag.full((2, 2), 7.5)
    assert f.tolist() == [[7.5, 7.5], [7.5, 7.5]]
    assert ag.full(3, -1.0).tolist() == [-1.0, -1.0, -1.0]
    assert ag.full((2,), 1.0, requires_grad=True).requires_grad

    assert ag.arange(4).tolist() == [0, 1, 2, 3]
    assert ag.arange(2, 5).tolist() == [2, 3, 4]
    assert ag.arange(0, 1, 0.25).tolist() == [0.0, 0.25, 0.5, 0.75]
    assert ag.arange(3, dtype=np.float64, requires_grad=True).requires_grad

    np.testing.assert_array_equal(ag.eye(3).data, np.eye(3))
    np.testing.assert_array_equal(ag.eye(2, 3).data, np.eye(2, 3))


def test_randn_rand_shapes_and_manual_seed():
    ag.manual_seed(1234)
    a = ag.randn((3, 3))
    ag.manual_seed(1234)
    b = ag.randn(3, 3)
    assert a.shape == b.shape == (3, 3)
    np.testing.assert_array_equal(a.data, b.data)
    c = ag.randn(3, 3)
    assert not np.array_equal(b.data, c.data), "the generator must advance"

    ag.manual_seed(7)
    u = ag.rand(1000)
    ag.manual_seed(7)
    np.testing.assert_array_equal(u.data, ag.rand((1000,)).data)
    assert u.data.min() >= 0.0 and u.data.max() < 1.0
    assert ag.randn(2, dtype=np.float32, requires_grad=True).dtype == np.float32


def test_like_factories_follow_the_other_tensor():
    t = ag.tensor(np.ones((2, 3), dtype=np.float32))
    z = ag.zeros_like(t)
    o = ag.ones_like(t, dtype=np.float64, requires_grad=True)
    assert z.shape == o.shape == (2, 3)
    assert z.dtype == np.float32 and o.dtype == np.float64
    assert np.all(z.data == 0) and np.all(o.data == 1)
    assert o.requires_grad and not z.requires_grad
    assert ag.zeros_like(np.ones(4)).shape == (4,)


def test_bad_shape_is_a_type_error_that_shows_the_forms():
    with pytest.raises(TypeError, match="randn"):
        ag.randn("three")


def test_from_numpy_shares_memory_both_ways():
    array = np.zeros(3)
    t = ag.from_numpy(array)
    array[0] = 5.0
    assert t.tolist() == [5.0, 0.0, 0.0]
    t[1] = 7.0
    assert array[1] == 7.0
    t += 1.0
    assert array.tolist() == [6.0, 8.0, 1.0]
    assert t.numpy() is array or np.shares_memory(t.numpy(), array)
    with pytest.raises(TypeError, match="NumPy array"):
        ag.from_numpy([1.0, 2.0])


@pytest.mark.parametrize(
    "make",
    [
        lambda: ag.tensor([1, 2], requires_grad=True),
        lambda: ag.arange(3, requires_grad=True),
        lambda: ag.zeros(2, dtype=np.int32, requires_grad=True),
        lambda: ag.tensor([True]).requires_grad_(),
    ],
)
def test_requires_grad_on_integer_tensors_raises(make):
    with pytest.raises(RuntimeError, match="floating point"):
        make()


def test_setting_requires_grad_on_integer_leaf_raises():
    t = ag.tensor([1, 2])
    with pytest.raises(RuntimeError, match="floating point"):
        t.requires_grad = True
    assert not t.requires_grad


# -- attributes -------------------------------------------------------------------------


def test_basic_attributes():
    t = ag.tensor(np.arange(6.0).reshape(2, 3))
    assert isinstance(t.data, np.ndarray)
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6
    assert t.dtype == np.float64
    assert t.device == "cpu"
    assert t.device == ag.device("cpu")
    assert str(t.device) == "cpu"
    assert len(t) == 2
    assert [row.tolist() for row in t] == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]


def test_requires_grad_is_settable_on_leaves():
    t = ag.ones(3)
    assert not t.requires_grad
    t.requires_grad = True
    assert t.requires_grad and t.is_leaf
    y = (t * 2).sum()
    y.backward()
    assert t.grad.tolist() == [2.0, 2.0, 2.0]
    t.requires_grad = False
    assert (t * 2).grad_fn is None

    u = ag.zeros(2)
    assert u.requires_grad_() is u and u.requires_grad
    assert u.requires_grad_(False) is u and not u.requires_grad


def test_requires_grad_cannot_be_switched_off_on_a_non_leaf():
    x = ag.ones(3, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="leaf") as excinfo:
        y.requires_grad = False
    assert "detach()" in str(excinfo.value)
    assert y.requires_grad
    # PyTorch refuses setting the attribute of a non-leaf to either value; the method
    # requires_grad_() allows True, which the tensor already is.
    with pytest.raises(RuntimeError, match="only change requires_grad flags of leaf"):
        y.requires_grad = True
    assert y.requires_grad_() is y and y.requires_grad_(True) is y
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)
    assert y.requires_grad and not y.is_leaf


def test_is_leaf_and_grad_fn():
    x = ag.ones(2, requires_grad=True)
    c = ag.ones(2)
    y = x * c
    assert x.is_leaf and c.is_leaf and not y.is_leaf
    assert x.grad_fn is None and c.grad_fn is None and y.grad_fn is not None
    assert (c * 3).is_leaf, "results that need no gradient are leaves"
    with ag.no_grad():
        assert (x * 3).is_leaf


def test_detach_shares_memory_and_has_no_grad():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    d = x.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    assert np.shares_memory(d.data, x.data)
    with ag.no_grad():
        x[0] = 10.0
    assert d.tolist() == [10.0, 2.0]
    assert (d * 2).grad_fn is None


def test_retain_grad_fills_non_leaf_grad():
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = x * x
    h.retain_grad()
    assert h.retains_grad
    (h * 3.0).sum().backward()
    assert h.grad.tolist() == [3.0, 3.0, 3.0]
    assert x.grad.tolist() == [6.0, 12.0, 18.0]


def test_reading_grad_of_non_leaf_without_retain_grad_warns():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    h.sum().backward()
    with pytest.warns(UserWarning, match="retain_grad"):
        assert h.grad is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert x.grad is not None  # leaves do not warn


def test_numpy_shares_memory_and_refuses_tensors_that_require_grad():
    t = ag.tensor([1.0, 2.0])
    array = t.numpy()
    assert isinstance(array, np.ndarray)
    array[0] = 9.0
    assert t.tolist() == [9.0, 2.0]
    x = ag.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"detach\(\)"):
        x.numpy()
    assert x.detach().numpy().tolist() == [1.0]


def test_item_and_tolist():
    x = ag.tensor([[1.5, 2.5]], requires_grad=True)
    assert x[0, 1].item() == 2.5
    assert isinstance(x.sum().item(), float)
    assert x.tolist() == [[1.5, 2.5]]
    assert ag.tensor([3]).item() == 3


def test_to_cpu_and_cpu_return_self():
    x = ag.ones(2, requires_grad=True)
    assert x.to("cpu") is x
    assert x.to(ag.device("cpu")) is x
    assert x.cpu() is x


def test_cuda_without_a_gpu_says_how_to_get_one():
    if ag.cuda_is_available():
        pytest.skip("CuPy with a CUDA GPU is present, so moving to CUDA succeeds here")
    x = ag.ones(2, requires_grad=True)
    for move in (lambda: x.to("cuda"), lambda: x.cuda(), lambda: x.to("cuda:0")):
        with pytest.raises(RuntimeError, match="CUDA is not available") as excinfo:
            move()
        assert "pip install 'astgrad[cuda]'" in str(excinfo.value)
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        ag.zeros(2, device="cuda")


def test_clone_copies_and_passes_gradient():
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    c = x.clone()
    assert not np.shares_memory(c.data, x.data)
    assert type(c.grad_fn).__name__ == "CopyBackward"
    check_grads(lambda a: a.clone() * a, lambda a: a.copy() * a, [1.0, -2.0, 3.0])


def test_repr_and_print_show_the_tape_state(capsys):
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    assert repr(x) == "tensor([1., 2.], requires_grad=True)"
    y = x * 2
    text = repr(y)
    assert text.startswith("tensor([2., 4.]") and "grad_fn=<MulBackward>" in text
    assert repr(ag.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert "dtype=float32" in repr(ag.ones(2, dtype=np.float32))
    print(y.sum())
    assert "grad_fn=<SumBackward>" in capsys.readouterr().out
    assert str(y) == text


def test_truth_value_of_many_elements_is_ambiguous():
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(ag.ones(3))
    assert bool(ag.ones(1))


# -- operators --------------------------------------------------------------------------

BINARY = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "**": operator.pow,
}

SHAPE_PAIRS = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 3), (4, 1)), ((), (3,)), ((3, 1), ())]


@pytest.mark.parametrize("op", list(BINARY))
@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=str)
def test_binary_operator_gradients_with_broadcasting(op, shapes):
    fn = BINARY[op]
    rng = _rng(3)
    # positive bases keep ** real; divisors away from zero keep / tame
    x = rng.uniform(0.5, 2.0, shapes[0])
    y = rng.uniform(0.5, 2.0, shapes[1])
    check_grads(fn, fn, x, y)


@pytest.mark.parametrize(
    "shapes", [((3, 4), (4, 2)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 5))]
)
def test_matmul_operator_and_method(shapes):
    rng = _rng(4)
    x, y = rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])
    check_grads(operator.matmul, operator.matmul, x, y)
    check_grads(lambda a, b: a.matmul(b), np.matmul, x, y)
    check_grads(lambda a, b: a.dot(b), np.dot, x, y)


def test_unary_minus_plus_and_abs():
    x = _away_from_zero((3, 2))
    check_grads(operator.neg, operator.neg, x)
    check_grads(lambda a: abs(a) * a, lambda a: abs(a) * a, x)
    p = ag.tensor([1.0], requires_grad=True)
    assert +p is p


@pytest.mark.parametrize("op", list(BINARY) + ["@"])
@pytest.mark.parametrize("left", ["number", "array"])
def test_reflected_operators_record(op, left):
    fn = operator.matmul if op == "@" else BINARY[op]
    rng = _rng(5)
    y = rng.uniform(0.5, 2.0, (3,))
    if left == "number":
        if op == "@":
            pytest.skip("a Python number has no matrix product")
        constant = 1.5
    else:
        constant = rng.uniform(0.5, 2.0, (2, 3))  # broadcasts against (3,); (2, 3) @ (3,)
    t = ag.tensor(y, requires_grad=True)
    out = fn(constant, t)
    assert isinstance(out, Tensor), f"{left} {op} tensor must give a tensor"
    assert out.grad_fn is not None, f"{left} {op} tensor must record"
    assert_close(out.data, fn(constant, y))
    g = _rng(6).standard_normal(out.shape)
    out.backward(g)
    assert_close(t.grad.data, numeric_vjp(lambda v: fn(constant, v), [y], 0, g), what=op)


def test_numpy_array_on_the_left_gives_the_pytorch_node_names():
    t = ag.tensor([1.0, 2.0], requires_grad=True)
    a = np.array([3.0, 4.0])
    assert (a * t).grad_fn.name() == "MulBackward"
    assert (a + t).grad_fn.name() == "AddBackward"
    assert (a - t).grad_fn.name() == "SubBackward"
    assert (a / t).grad_fn.name() == "DivBackward"


@pytest.mark.parametrize("op", ["<", "<=", ">", ">=", "==", "!="])
def test_comparisons_give_booleans_without_grad(op):
    fn = {
        "<": operator.lt,
        "<=": operator.le,
        ">": operator.gt,
        ">=": operator.ge,
        "==": operator.eq,
        "!=": operator.ne,
    }[op]
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = np.array([2.0, 2.0, 2.0])
    out = fn(x, y)
    assert isinstance(out, Tensor)
    assert out.dtype == np.bool_
    assert not out.requires_grad and out.grad_fn is None
    assert out.tolist() == fn(x.detach().data, y).tolist()
    assert fn(x, 2.0).tolist() == fn(x.detach().data, 2.0).tolist()


def test_operators_without_grad_stay_untracked():
    a, b = ag.ones(2), ag.ones(2)
    out = a * b + 1.0
    assert not out.requires_grad and out.grad_fn is None
    with pytest.raises(RuntimeError, match="does not require grad"):
        out.sum().backward()


# -- methods ----------------------------------------------------------------------------


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


METHODS = [
    # (id, tensor function, NumPy reference, input shape, input kind)
    ("sum", lambda a: a.sum(), np.sum, (3, 4), "any"),
    ("sum-axis0", lambda a: a.sum(axis=0), lambda a: a.sum(axis=0), (3, 4), "any"),
    ("sum-axes-keep", lambda a: a.sum(axis=(0, 2), keepdims=True),
     lambda a: a.sum(axis=(0, 2), keepdims=True), (2, 3, 4), "any"),
    ("sum-neg-axis", lambda a: a.sum(-1), lambda a: a.sum(-1), (2, 3), "any"),
    ("mean", lambda a: a.mean(), np.mean, (3, 4), "any"),
    ("mean-axis1-keep", lambda a: a.mean(axis=1, keepdims=True),
     lambda a: a.mean(axis=1, keepdims=True), (3, 4), "any"),
    ("max", lambda a: a.max(), np.max, (3, 4), "any"),
    ("max-axis", lambda a: a.max(axis=1), lambda a: a.max(axis=1), (3, 4), "any"),
    ("max-keep", lambda a: a.max(axis=0, keepdims=True),
     lambda a: a.max(axis=0, keepdims=True), (3, 4), "any"),
    ("min", lambda a: a.min(), np.min, (3, 4), "any"),
    ("min-axis", lambda a: a.min(axis=(0, 2)), lambda a: a.min(axis=(0, 2)), (2, 3, 4), "any"),
    ("prod", lambda a: a.prod(), np.prod, (2, 3), "any"),
    ("prod-axis", lambda a: a.prod(axis=1, keepdims=True),
     lambda a: a.prod(axis=1, keepdims=True), (2, 3), "any"),
    ("exp", lambda a: a.exp(), np.exp, (3, 4), "any"),
    ("log", lambda a: a.log(), np.log, (3, 4), "positive"),
    ("tanh", lambda a: a.tanh(), np.tanh, (3, 4), "any"),
    ("sigmoid", lambda a: a.sigmoid(), _sigmoid, (3, 4), "any"),
    ("ag.sigmoid", ag.sigmoid, _sigmoid, (3, 4), "any"),
    ("relu", lambda a: a.relu(), lambda a: np.maximum(a, 0.0), (3, 4), "nonzero"),
    ("ag.relu", ag.relu, lambda a: np.maximum(a, 0.0), (3, 4), "nonzero"),
    ("abs", lambda a: a.abs(), np.abs, (3, 4), "nonzero"),
    ("sqrt", lambda a: a.sqrt(), np.sqrt, (3, 4), "positive"),
    ("pow", lambda a: a.pow(3), lambda a: a**3, (3, 4), "any"),
    ("pow-frac", lambda a: a.pow(0.5), lambda a: a**0.5, (3, 4), "positive"),
    ("reshape-tuple", lambda a: a.reshape((4, 3)) * np.arange(12.0).reshape(4, 3),
     lambda a: a.reshape((4, 3)) * np.arange(12.0).reshape(4, 3), (3, 4), "any"),
    ("reshape-varargs", lambda a: a.reshape(2, -1) * np.arange(12.0).reshape(2, 6),
     lambda a: a.reshape(2, -1) * np.arange(12.0).reshape(2, 6), (3, 4), "any"),
    ("transpose", lambda a: a.transpose() * np.arange(12.0).reshape(4, 3),
     lambda a: a.transpose() * np.arange(12.0).reshape(4, 3), (3, 4), "any"),
    ("transpose-axes", lambda a: a.transpose(2, 0, 1) * np.arange(24.0).reshape(4, 2, 3),
     lambda a: a.transpose(2, 0, 1) * np.arange(24.0).reshape(4, 2, 3), (2, 3, 4), "any"),
    ("transpose-tuple", lambda a: a.transpose((1, 0, 2)), lambda a: a.transpose((1, 0, 2)),
     (2, 3, 4), "any"),
    ("T", lambda a: a.T @ np.ones((3, 2)), lambda a: a.T @ np.ones((3, 2)), (3, 4), "any"),
    ("flatten", lambda a: a.flatten() * np.arange(6.0), lambda a: a.flatten() * np.arange(6.0),
     (2, 3), "any"),
    ("squeeze", lambda a: a.squeeze(), lambda a: a.squeeze(), (1, 3, 1), "any"),
    ("squeeze-axis", lambda a: a.squeeze(0), lambda a: a.squeeze(0), (1, 3, 1), "any"),
    ("unsqueeze", lambda a: a.unsqueeze(1) * np.ones((3, 2, 4)),
     lambda a: np.expand_dims(a, 1) * np.ones((3, 2, 4)), (3, 4), "any"),
    ("view", lambda a: a.view(6), lambda a: a.reshape(6), (2, 3), "any"),
]  # fmt: skip


def _input(shape, kind, seed=11):
    if kind == "positive":
        return _rng(seed).uniform(0.3, 2.0, shape)
    if kind == "nonzero":
        return _away_from_zero(shape, seed)
    return _rng(seed).standard_normal(shape)


@pytest.mark.parametrize(
    "tensor_fn, numpy_fn, shape, kind",
    [pytest.param(*m[1:], id=m[0]) for m in METHODS],
)
def test_method_gradients(tensor_fn, numpy_fn, shape, kind):
    check_grads(tensor_fn, numpy_fn, _input(shape, kind))


def test_max_shares_the_gradient_among_ties():
    x = ag.tensor([1.0, 3.0, 3.0, 2.0], requires_grad=True)
    x.max().backward()
    assert x.grad.tolist() == [0.0, 0.5, 0.5, 0.0]


def test_prod_gradient_is_exact_at_zero():
    x = ag.tensor([2.0, 0.0, 3.0], requires_grad=True)
    x.prod().backward()
    assert x.grad.tolist() == [0.0, 6.0, 0.0]


def test_composite_expression_with_broadcasting():
    rng = _rng(12)
    w, b, x = rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal((5, 4))

    def f(w, b, x):
        return ((x @ w + b).tanh() ** 2).mean(axis=0).sum()

    def f_np(w, b, x):
        return np.sum(np.mean(np.tanh(x @ w + b) ** 2, axis=0))

    check_grads(f, f_np, w, b, x)


# -- indexing ---------------------------------------------------------------------------

INDICES = [
    ("int", 1),
    ("negative-int", -1),
    ("int-pair", (2, 3)),
    ("slice", slice(1, 3)),
    ("step-slice", (slice(None), slice(None, None, 2))),
    ("reverse-slice", slice(None, None, -1)),
    ("none", (None, 1)),
    ("ellipsis", (Ellipsis, 2)),
    ("none-ellipsis", (None, Ellipsis, slice(1, 4))),
    ("int-array-repeats", np.array([0, 2, 2, 3, 0])),
    ("int-list-repeats", [1, 1, 1]),
    ("int-arrays-pairs", (np.array([0, 0, 3]), np.array([1, 1, 4]))),
    ("bool-mask-rows", np.array([True, False, True, True])),
    ("bool-mask-full", np.arange(20).reshape(4, 5) % 3 == 0),
    ("mixed", (slice(1, None), np.array([4, 0, 4]))),
]


@pytest.mark.parametrize("index", [pytest.param(i, id=n) for n, i in INDICES])
def test_indexing_gradients(index):
    x = _rng(13).standard_normal((4, 5))
    check_grads(lambda a: a[index], lambda a: a[index], x)


def test_repeated_integer_indices_accumulate():
    x = ag.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    x[np.array([0, 0, 2, 0])].sum().backward()
    assert x.grad.tolist() == [3.0, 0.0, 1.0, 0.0]


def test_indexing_with_tensors():
    x = ag.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    mask = x.detach() > 2.0
    picked = x[mask]
    assert picked.tolist() == [3.0, 4.0]
    (picked * picked).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 6.0, 8.0]
    x.grad = None
    x[ag.tensor([3, 3])].sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0, 2.0]


def test_indexing_into_an_integer_tensor_is_plain():
    t = ag.arange(5)
    assert t[1:3].tolist() == [1, 2]
    assert t[1:3].grad_fn is None


# -- NumPy interop ----------------------------------------------------------------------

NUMPY_FUNCTIONS = [
    ("np.tanh", np.tanh, (3, 4)),
    ("np.exp", np.exp, (3, 4)),
    ("np.negative", np.negative, (3,)),
    ("np.sum-axis0", lambda a: np.sum(a, axis=0), (3, 4)),
    ("np.sum-keepdims", lambda a: np.sum(a, axis=1, keepdims=True), (3, 4)),
    ("np.mean", np.mean, (3, 4)),
    ("np.mean-axis", lambda a: np.mean(a, axis=(0, 1)), (2, 3, 4)),
    ("np.max", lambda a: np.max(a, axis=1), (3, 4)),
    ("np.transpose", lambda a: np.transpose(a) * np.arange(12.0).reshape(4, 3), (3, 4)),
    ("np.transpose-axes", lambda a: np.transpose(a, (2, 0, 1)), (2, 3, 4)),
    ("np.reshape", lambda a: np.reshape(a, (6, 2)) * np.arange(12.0).reshape(6, 2), (3, 4)),
    ("np.add.reduce", lambda a: np.add.reduce(a, 0), (3, 4)),
    ("np.multiply-ufunc", lambda a: np.multiply(a, a), (3,)),
    ("np.matmul-const", lambda a: np.matmul(a, np.arange(4.0)), (3, 4)),
]


@pytest.mark.parametrize("fn, shape", [pytest.param(f, s, id=n) for n, f, s in NUMPY_FUNCTIONS])
def test_numpy_functions_record(fn, shape):
    check_grads(fn, fn, _rng(14).standard_normal(shape))


@pytest.mark.parametrize("fn", [np.dot, np.matmul], ids=["dot", "matmul"])
def test_numpy_products_of_two_tensors(fn):
    rng = _rng(15)
    check_grads(fn, fn, rng.standard_normal((3, 4)), rng.standard_normal((4, 2)))


def test_numpy_functions_give_the_rule_node_names():
    x = ag.ones((2, 3), requires_grad=True)
    assert np.tanh(x).grad_fn.name() == "TanhBackward"
    assert np.sum(x, axis=0).grad_fn.name() == "SumBackward"
    assert np.add.reduce(x, 0).grad_fn.name() == "SumBackward"
    assert np.mean(x).grad_fn.name() == "MeanBackward"
    assert np.dot(x, x.T).grad_fn.name() == "DotBackward"
    assert np.reshape(x, 6).grad_fn.name() == "ReshapeBackward"
    assert np.transpose(x).grad_fn.name() == "TransposeBackward"
    assert np.multiply.reduce(x, 1).grad_fn.name() == "ProdBackward"


def test_function_without_a_rule_names_it_and_how_to_register_one():
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(ag.NoRuleError) as excinfo:
        np.fft.hfft(x)  # (np.fft.fft has a rule: complex numbers are differentiated)
    message = str(excinfo.value)
    assert "np.fft.hfft" in message and "ag.vjp_rule" in message
    assert "detach()" in message


def test_cumsum_without_a_rule_raises():
    if ag.lookup_rule(np.cumsum) is not None:
        pytest.skip("np.cumsum has a rule now; test_rules_tape checks it")
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(ag.NoRuleError, match=r"np\.cumsum.*ag\.vjp_rule"):
        np.cumsum(x)


def test_user_function_without_a_rule_raises_no_rule_error():
    @ag.primitive
    def mystery(x):
        return x * 2.0

    x = ag.tensor([1.0], requires_grad=True)
    with pytest.raises(ag.NoRuleError, match="mystery") as excinfo:
        mystery(x)
    assert "ag.vjp_rule" in str(excinfo.value)
    assert isinstance(excinfo.value, NotImplementedError)


def test_no_rule_is_fine_without_gradient():
    x = ag.tensor([1.0, 2.0, 3.0])
    out = np.cumsum(x)
    assert isinstance(out, Tensor) and out.tolist() == [1.0, 3.0, 6.0]
    w = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with ag.no_grad():
        assert np.fft.fft(w).shape == (3,)
    assert np.fft.fft(w.detach()).shape == (3,)


def test_nondifferentiable_functions_give_untracked_results():
    x = ag.tensor([[1.5, -2.5], [3.5, 0.5]], requires_grad=True)
    arg = np.argmax(x)
    assert isinstance(arg, Tensor) and arg.item() == 2
    assert not arg.requires_grad and arg.grad_fn is None
    fl = np.floor(x)
    assert fl.tolist() == [[1.0, -3.0], [3.0, 0.0]]
    assert not fl.requires_grad and fl.grad_fn is None
    assert np.shape(x) == (2, 2)
    assert np.rint(x).grad_fn is None  # (np.sign records: its gradient is zero for reals)
    assert not np.isfinite(x).requires_grad


def test_ufunc_out_into_a_plain_array_is_refused_while_recording():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    out = np.empty(2)
    with pytest.raises(ag.GradientLostError, match="drop the gradient"):
        np.exp(x, out=out)
    np.exp(x.detach(), out=out)
    assert_close(out, np.exp([1.0, 2.0]))


# -- the tape never drops a gradient silently --------------------------------------------

DROP = "would silently drop its gradient"


def _store_element(t):
    target = np.zeros(3)
    target[0] = t[0]
    return target


CONVERSIONS = [
    ("float", lambda t: float(t[0])),
    ("math.sin", lambda t: math.sin(t[0])),
    ("math.exp", lambda t: math.exp(t.sum())),
    ("np.asarray", np.asarray),
    ("np.array", np.array),
    ("complex", lambda t: complex(t[0])),
]


@pytest.mark.parametrize("convert", [pytest.param(c, id=n) for n, c in CONVERSIONS])
def test_conversions_that_would_drop_the_gradient_raise(convert):
    t = ag.tensor([0.5, 1.5], requires_grad=True)
    with pytest.raises(ag.GradientLostError, match=DROP) as excinfo:
        convert(t)
    assert isinstance(excinfo.value, RuntimeError)
    assert "detach()" in str(excinfo.value)


def _messages(exc):
    """The messages of ``exc`` and of the exceptions it was raised from."""
    seen = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return [str(e) for e in seen]


def test_storing_into_a_numpy_array_element_raises():
    t = ag.tensor([0.5, 1.5], requires_grad=True)
    # NumPy reports the failed element store as its own ValueError, raised from ours: the
    # traceback the user sees carries our explanation.
    with pytest.raises((ValueError, ag.GradientLostError)) as excinfo:
        _store_element(t)
    assert any(DROP in m for m in _messages(excinfo.value)), _messages(excinfo.value)


@pytest.mark.parametrize(
    "convert",
    [pytest.param(c, id=n) for n, c in CONVERSIONS] + [pytest.param(_store_element, id="store")],
)
def test_conversions_work_under_no_grad_and_on_detach(convert):
    t = ag.tensor([0.5, 1.5], requires_grad=True)
    with ag.no_grad():
        convert(t)
    convert(t.detach())
    convert(ag.tensor([0.5, 1.5]))


def test_conversion_values_are_right():
    t = ag.tensor([0.5, 1.5], requires_grad=True)
    with ag.no_grad():
        assert float(t[1]) == 1.5
        assert math.sin(t[0]) == math.sin(0.5)
        assert np.asarray(t).tolist() == [0.5, 1.5]
        copied = np.array(t)
        copied[0] = 9.0
        assert t.tolist() == [0.5, 1.5], "np.array copies"
    assert _store_element(t.detach())[0] == 0.5
    with pytest.raises(TypeError, match="one-element"):
        float(t.detach())


def test_item_and_detach_always_work():
    t = ag.tensor([0.5, 1.5], requires_grad=True)
    assert t[0].item() == 0.5
    assert t.detach().tolist() == [0.5, 1.5]
    assert (t * 2).sum().item() == 4.0


# -- devices: a stand-in backend exercises placement without a GPU -------------------------

device_module = importlib.import_module("astgrad.runtime.device")


class _StandInArray(np.ndarray):
    """A NumPy array that claims to live on another device."""


class _StandInBackend(device_module.Backend):
    type = "standin"

    def owns(self, array):
        return isinstance(array, _StandInArray)

    def device_of(self, array):
        return ag.device("standin", 0)

    def module(self, array):
        return np

    def from_cpu(self, array, device):
        return np.array(array).view(_StandInArray)

    def to_cpu(self, array):
        return np.array(array.view(np.ndarray))


@pytest.fixture
def standin():
    saved = (list(device_module._backends), dict(device_module._backends_by_type))
    device_module.register_backend(_StandInBackend())
    yield "standin:0"
    device_module._backends[:] = saved[0]
    device_module._backends_by_type.clear()
    device_module._backends_by_type.update(saved[1])


STAYS_ON_DEVICE = [
    ("times-int", lambda f: f * 2),
    ("times-float", lambda f: f * 2.5),
    ("reflected", lambda f: 1.0 - f),
    ("numpy-scalar", lambda f: f * np.float64(3.0)),
    ("power", lambda f: f**2),
    ("sum-axis", lambda f: f.sum(axis=0)),
    ("transpose", lambda f: f.transpose()),
    ("T", lambda f: f.T),
    ("reshape", lambda f: f.reshape(3, 2)),
    ("reshape-tuple", lambda f: f.reshape((6,))),
    ("squeeze", lambda f: f.reshape(1, 6).squeeze()),
    ("expand_dims", lambda f: np.expand_dims(f, 0)),
    ("slice", lambda f: f[1:]),
    ("index-tuple", lambda f: f[:, 1:]),
    ("tanh", np.tanh),
    ("same-device", lambda f: f * f),
]


@pytest.mark.parametrize("op", [pytest.param(o, id=n) for n, o in STAYS_ON_DEVICE])
def test_operations_keep_tensors_on_their_device(standin, op):
    x = ag.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    f = x.to(standin)
    assert f.device == standin and f.grad_fn is not None
    out = op(f)
    assert out.device == standin, "numbers, shapes and indices must not count as CPU arrays"
    assert isinstance(out.data, _StandInArray)
    out.sum().backward()
    assert x.grad.device == "cpu", "the gradient goes back to the device its leaf is on"
    expected = numeric_vjp(lambda a: op(a), [np.arange(6.0).reshape(2, 3)], 0, np.ones(out.shape))
    assert_close(x.grad.data, expected)


def test_moving_back_to_the_cpu(standin):
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    f = x.to(standin)
    back = (f * 2).cpu()
    assert back.device == "cpu" and type(back.data) is np.ndarray
    back.sum().backward()
    assert x.grad.tolist() == [2.0, 2.0, 2.0]
    assert f.unsqueeze(0).device == standin


def test_mixing_devices_names_both(standin):
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    f = x.to(standin)
    for mix in (lambda: f * x, lambda: x + f, lambda: f * np.ones(3)):
        with pytest.raises(RuntimeError, match="same device") as excinfo:
            mix()
        assert standin in str(excinfo.value) and "cpu" in str(excinfo.value)


def test_assigning_a_grad_on_another_device_raises(standin):
    f = ag.tensor([1.0, 2.0], requires_grad=True).to(standin).detach().requires_grad_()
    with pytest.raises(RuntimeError, match="gradient on cpu to a tensor on standin:0"):
        f.grad = np.zeros(2)
    assert f.grad is None
    f.grad = ag.zeros(2).to(standin)
    assert f.grad.device == standin


def test_a_retained_gradient_is_replaced_not_written_into():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.retain_grad()
    z = (y * y).sum()
    z.backward(retain_graph=True)
    first = y.grad
    z.backward()
    assert first.tolist() == [4.0, 8.0], "as in PyTorch, the earlier .grad keeps its values"
    assert y.grad.tolist() == [8.0, 16.0]
    leaf_grad = x.grad
    (x * 1.0).sum().backward()
    assert x.grad is leaf_grad, "a leaf's .grad accumulates in place"


def test_asking_for_grad_twice_keeps_one_record():
    """requires_grad_() then requires_grad = True on one tensor: the registry of tensors
    made to require grad by hand once compared the two weak references with the tensor's
    elementwise ==, which raised (found by the PyTorch parity tests)."""
    from astgrad.runtime.tensor import MADE_BY_HAND

    c = ag.tensor([1.0, 2.0])
    c.requires_grad_()
    c.requires_grad = True
    c.requires_grad_(True)
    assert c.requires_grad and c.is_leaf
    assert sum(ref() is c for ref in MADE_BY_HAND.values()) == 1
    (c * c).sum().backward()
    np.testing.assert_allclose(c.grad.data, [2.0, 4.0])
    key = id(c)
    del c
    gc.collect()  # the graph of c * c holds c in a cycle
    assert key not in MADE_BY_HAND

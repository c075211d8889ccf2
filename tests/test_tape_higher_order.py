"""Higher-order derivatives on the tape: ``backward(create_graph=True)``,
``ag.autograd_grad``, ``ag.grad`` of ``ag.grad`` with ``mode="tape"``, and ``tape_jvp``.

Second derivatives are checked against analytic values and against central differences of
the first derivative (which the ordinary tape computes), in float64. Every rule of the
table is checked twice over in ``test_tape_second_order_rules``; here, compositions.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from astgrad.runtime.tape_jvp import tape_jvp
from numeric import assert_close, numeric_vjp

import astgrad as ag

RNG = np.random.default_rng(7)


def first_derivative(f, x):
    """The gradient of a scalar ``f`` at ``x`` by the ordinary tape, as an array."""
    t = ag.tensor(x, requires_grad=True)
    f(t).backward()
    return t.grad.data


def hvp(f, x, v):
    """H(x) @ v on the tape: a gradient recorded, then differentiated along ``v``."""
    t = ag.tensor(x, requires_grad=True)
    (g,) = ag.autograd_grad(f(t), t, create_graph=True)
    assert g.requires_grad and g.grad_fn is not None
    (h,) = ag.autograd_grad((g * v).sum(), t)
    return h.data


def numeric_hvp(f, x, v, eps=1e-6):
    """Central differences of the first derivative along ``v``."""
    return (first_derivative(f, x + eps * v) - first_derivative(f, x - eps * v)) / (2 * eps)


def check_hvp(f, x, rtol=1e-5, atol=1e-6):
    for _ in range(2):
        v = RNG.standard_normal(np.shape(x))
        assert_close(hvp(f, x, v), numeric_hvp(f, x, v), rtol=rtol, atol=atol)


# -- backward(create_graph=True) ------------------------------------------------------------


def test_second_derivative_of_x4_through_backward():
    x = ag.tensor(2.0, requires_grad=True)
    (x**4).backward(create_graph=True)
    first = x.grad
    assert first.item() == 32.0
    assert first.requires_grad and first.grad_fn is not None
    assert first.grad_fn.name() == "MulBackward"
    x.grad = None
    first.backward()
    assert x.grad.item() == 48.0
    assert not x.grad.requires_grad  # (that backward did not record)


def test_create_graph_on_vectors_gives_the_hessian_diagonal():
    xv = np.array([0.5, -1.0, 2.0])
    x = ag.tensor(xv, requires_grad=True)
    np.sum(np.sin(x) * x**2).backward(create_graph=True)
    g = x.grad
    x.grad = None
    g.sum().backward()
    # f = sin(x) x^2: f'' = 2 sin(x) + 4 x cos(x) - x^2 sin(x), elementwise
    assert_close(x.grad.data, 2 * np.sin(xv) + 4 * xv * np.cos(xv) - xv**2 * np.sin(xv))


def test_create_graph_accumulates_out_of_place():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    (x**3).sum().backward(create_graph=True)
    first = x.grad
    (x**2).sum().backward(create_graph=True)
    assert x.grad is not first  # a new tensor: the first .grad keeps its values
    assert_close(first.data, [3.0, 12.0])
    assert_close(x.grad.data, [5.0, 16.0])
    (h,) = ag.autograd_grad(x.grad.sum(), x)
    assert_close(h.data, [6.0 + 2.0, 12.0 + 2.0])  # 6x + 2


def test_create_graph_onto_a_plain_grad():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    (x**2).sum().backward()
    assert not x.grad.requires_grad
    (x**3).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    assert_close(x.grad.data, [2.0 + 3.0, 4.0 + 12.0])


def test_leaves_sharing_one_gradient_get_tensors_of_their_own():
    a = ag.tensor([1.0, 2.0], requires_grad=True)
    b = ag.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward(create_graph=True)
    assert a.grad is not b.grad
    assert_close(a.grad.data, [1.0, 1.0])
    assert_close(b.grad.data, [1.0, 1.0])


def test_create_graph_implies_retain_graph():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = np.exp(x).sum()
    y.backward(create_graph=True)
    y.backward(create_graph=True)  # the graph was kept
    assert_close(x.grad.data, 2 * np.exp([1.0, 2.0]))


def test_create_graph_without_retain_graph_frees_the_graph():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = np.exp(x).sum()
    y.backward(create_graph=True, retain_graph=False)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()
    # the gradient's own graph reaches the freed exp node (its rule reads the result)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        x.grad.sum().backward()


def test_backward_of_a_tensor_given_as_the_cotangent_records_it():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    u = ag.tensor([3.0, -1.0], requires_grad=True)
    y = x**2
    y.backward(u, create_graph=True)  # x.grad = 2 x u
    assert_close(x.grad.data, [6.0, -4.0])
    du, dx = ag.autograd_grad(x.grad.sum(), (u, x))
    assert_close(du.data, [2.0, 4.0])
    assert_close(dx.data, [6.0, -2.0])


def test_retain_grad_with_create_graph():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = x**2
    y.retain_grad()
    (y**2).sum().backward(create_graph=True)  # dL/dy = 2y
    assert y.grad.requires_grad
    assert_close(y.grad.data, [2.0, 8.0])
    (h,) = ag.autograd_grad(y.grad.sum(), x)
    assert_close(h.data, [4.0, 8.0])  # d(2 x^2)/dx


# -- analytic second and third derivatives ----------------------------------------------------


def _second(f, x):
    t = ag.tensor(x, requires_grad=True)
    (g,) = ag.autograd_grad(f(t), t, create_graph=True)
    (h,) = ag.autograd_grad(g, t)
    return h.item()


def _exp_sin_second(x):
    return np.exp(np.sin(x)) * (np.cos(x) ** 2 - np.sin(x))


def _tanh_log_second(x):
    # d/dx tanh(log x) = sech^2(log x) / x; again: -sech^2(log x) (1 + 2 tanh(log x)) / x^2
    return -(1 + 2 * np.tanh(np.log(x))) / (x * np.cosh(np.log(x))) ** 2


@pytest.mark.parametrize(
    "f, second, at",
    [
        (lambda x: x**4, lambda x: 12 * x**2, 2.0),
        (np.sin, lambda x: -np.sin(x), 0.7),
        (np.exp, np.exp, 0.3),
        (np.tanh, lambda x: -2 * np.tanh(x) / np.cosh(x) ** 2, 0.4),
        (np.log, lambda x: -1 / x**2, 1.7),
        (lambda x: np.exp(np.sin(x)), _exp_sin_second, 0.9),
        (lambda x: np.log(1 + x * x), lambda x: (2 - 2 * x * x) / (1 + x * x) ** 2, 0.6),
        (lambda x: np.tanh(np.log(x)), _tanh_log_second, 1.3),
        (lambda x: 1 / x, lambda x: 2 / x**3, 1.5),
        (np.sqrt, lambda x: -0.25 * x**-1.5, 2.0),
    ],
)  # fmt: skip
def test_second_derivatives_against_analytic_values(f, second, at):
    assert_close(_second(f, at), second(at), rtol=1e-10)


def test_third_derivative_of_a_polynomial():
    x = ag.tensor(2.0, requires_grad=True)
    y = x**5 - 3 * x**3 + x
    (g1,) = ag.autograd_grad(y, x, create_graph=True)
    (g2,) = ag.autograd_grad(g1, x, create_graph=True)
    (g3,) = ag.autograd_grad(g2, x)
    assert g1.item() == pytest.approx(5 * 16 - 9 * 4 + 1)
    assert g2.item() == pytest.approx(20 * 8 - 18 * 2)
    assert g3.item() == pytest.approx(60 * 4 - 18)


def test_sinc_at_zero_to_the_fourth_order():
    x = ag.tensor(0.0, requires_grad=True)
    grads = []
    y = np.sinc(x)
    for _ in range(4):
        (y,) = ag.autograd_grad(y, x, create_graph=True)
        grads.append(y.item())
    assert grads[0] == 0.0 and grads[2] == 0.0
    assert grads[1] == pytest.approx(-(np.pi**2) / 3)
    assert grads[3] == pytest.approx(np.pi**4 / 5)


def test_power_with_an_exponent_of_zero_that_requires_grad():
    # d/dy of the gradient with respect to x of sum(x ** y), at y = 0: sum(1 / x)
    x = ag.tensor([0.5, 2.0], requires_grad=True)
    y = ag.tensor(0.0, requires_grad=True)
    (gx,) = ag.autograd_grad((x**y).sum(), x, create_graph=True)
    assert_close(gx.data, [0.0, 0.0])
    (dy,) = ag.autograd_grad(gx.sum(), y)
    assert_close(dy.data, 2.0 + 0.5)


# -- Hessian-vector products against differences of the gradient ----------------------------


def _mlp_loss(params, x, y):
    W1, b1, W2, b2 = params
    h = np.tanh(x @ W1 + b1)
    return np.mean((h @ W2 + b2 - y) ** 2)


def test_mlp_hessian_vector_product():
    x = RNG.standard_normal((5, 3))
    y = RNG.standard_normal((5, 2))
    values = [
        RNG.standard_normal((3, 4)) * 0.5,
        RNG.standard_normal(4) * 0.1,
        RNG.standard_normal((4, 2)) * 0.5,
        RNG.standard_normal(2) * 0.1,
    ]
    vs = [RNG.standard_normal(v.shape) for v in values]
    params = [ag.tensor(v, requires_grad=True) for v in values]
    grads = ag.autograd_grad(_mlp_loss(params, x, y), params, create_graph=True)
    total = sum((g * v).sum() for g, v in zip(grads, vs))
    got = ag.autograd_grad(total, params)

    def gradient_at(moved):
        tensors = [ag.tensor(v, requires_grad=True) for v in moved]
        _mlp_loss(tensors, x, y).backward()
        return [t.grad.data for t in tensors]

    eps = 1e-6
    up = gradient_at([p + eps * v for p, v in zip(values, vs)])
    down = gradient_at([p - eps * v for p, v in zip(values, vs)])
    for g, u, d in zip(got, up, down):
        assert_close(g.data, (u - d) / (2 * eps), rtol=1e-5, atol=1e-7)


A = RNG.standard_normal((4, 3))
B = RNG.standard_normal((3,))


def _logsumexp(x, axis=None):
    top = np.max(x, axis=axis, keepdims=True)
    return np.squeeze(top, axis=axis) + np.log(np.sum(np.exp(x - top), axis=axis))


def _softmax(x):
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


COMPOSITIONS = {
    "sin-exp": (lambda x: np.sum(np.sin(x) * np.exp(x)), (3,)),
    "tanh-log": (lambda x: np.sum(np.tanh(np.log(x * x + 1.0)) ** 2), (3,)),
    "matmul": (lambda x: np.sum(np.tanh(A @ x) ** 2), (3,)),
    "matmul-matrix": (lambda w: np.sum(np.sin(A @ w @ A.T)), (3, 3)),
    "matmul-gram": (lambda x: np.sum((x @ x.T) ** 2), (2, 3)),
    "bias-broadcast": (lambda b: np.sum(np.tanh(A + b) ** 3), (3,)),
    "column-broadcast": (lambda c: np.sum(np.exp(A * c) / (1 + c * c)), (4, 1)),
    "sum-axis": (lambda x: np.sum(np.sum(x**2, axis=0) ** 2), (3, 2)),
    "mean": (lambda x: np.mean(x**3) * np.mean(np.sin(x)), (2, 3)),
    "max": (lambda x: np.sum(np.max(x * x, axis=1) ** 2), (3, 4)),
    "max-all": (lambda x: np.max(np.sin(x)) ** 3, (5,)),
    "slicing": (lambda x: np.sum(x[1:] * x[:-1] ** 2), (5,)),
    "slicing-2d": (lambda x: np.sum(np.sin(x[:, 1]) * x[0, ::-1].sum()), (3, 3)),
    "fancy-repeated": (lambda x: np.sum(x[[0, 0, 2, 0]] ** 3), (4,)),
    "fancy-2d": (lambda x: np.sum(np.exp(x[[1, 1], [0, 2]]) * x[0, 0]), (2, 3)),
    "mask": (lambda x: np.sum(x[np.array([True, False, True])] ** 4), (3,)),
    "concatenate": (lambda x: np.sum(np.concatenate([x, np.sin(x), x * x]) ** 2), (3,)),
    "stack": (lambda x: np.sum(np.stack([x, x**2], axis=1) @ B[:2]) ** 2, (3,)),
    "softmax": (lambda x: -np.sum(np.log(_softmax(x)) * np.array([0.2, 0.5, 0.3])), (3,)),
    "softmax-rows": (lambda x: np.sum(_softmax(x) ** 2), (2, 3)),
    "logsumexp": (lambda x: _logsumexp(x) ** 2, (4,)),
    "logsumexp-rows": (lambda x: np.sum(_logsumexp(x, axis=1) ** 2), (3, 4)),
    "where": (lambda x: np.sum(np.where(x > 0, x**3, np.sin(x))), (6,)),
    "maximum": (lambda x: np.sum(np.maximum(x, 0.3) ** 3 + np.minimum(x, -0.2) ** 2), (6,)),
    "relu-sigmoid": (lambda x: np.sum(ag.relu(x) ** 2 * ag.sigmoid(x)), (5,)),
    "abs-sqrt": (lambda x: np.sum(np.sqrt(np.abs(x) + 1.0)), (4,)),
    "reshape-transpose": (lambda x: np.sum(np.sin(x.reshape(2, 3).T @ x.reshape(2, 3))), (6,)),
    "cumsum-prod": (lambda x: np.sum(np.cumsum(x) ** 2) + np.prod(x), (4,)),
    "var-std": (lambda x: np.var(x) * np.std(x), (5,)),
    "norm": (lambda x: np.linalg.norm(x) ** 3, (4,)),
    "solve": (lambda x: np.sum(np.linalg.solve(np.eye(3) * 3 + np.outer(x, x), x)), (3,)),
    "det-inv": (lambda m: np.linalg.det(m) + np.sum(np.linalg.inv(m)), (3, 3)),
    "einsum": (lambda x: np.sum(np.einsum("ij,ij->i", x, np.sin(x)) ** 2), (2, 3)),
    "take-sort": (lambda x: np.sum(np.take(x, [2, 0, 2]) ** 3 + np.sort(x) * B[:1]), (3,)),
    "pad-tile-repeat": (
        lambda x: (
            np.sum(np.pad(x, 1, mode="edge") ** 3)
            + np.sum(np.tile(x, 2) ** 2 * np.arange(6.0))
            + np.sum(np.repeat(x, [1, 2, 3]) ** 3)
        ),
        (3,),
    ),
    "diag-trace": (lambda m: np.trace(m @ m) + np.sum(np.diag(np.diagonal(m)) ** 3), (3, 3)),
}


@pytest.mark.parametrize("name", list(COMPOSITIONS))
def test_hessian_vector_products_match_differences_of_the_gradient(name):
    f, shape = COMPOSITIONS[name]
    x = RNG.standard_normal(shape)
    if name == "det-inv":
        x = x + 3 * np.eye(3)
    check_hvp(f, x)


def test_in_place_writes_and_views():
    def f(x):
        y = x * 1.0
        y[0] = y[1] ** 2 * y[2]
        view = y[1:]
        view *= np.sin(x[:2])
        return np.sum(y**3)

    check_hvp(f, RNG.standard_normal(3))


def test_ufunc_at_with_repeated_indices():
    def f(x):
        buf = ag.zeros(3)
        np.add.at(buf, [0, 0, 2], x**2)
        out = buf * 1.0
        np.multiply.at(out, [1, 2, 2], x)
        return np.sum(out**3 + np.exp(buf))

    check_hvp(f, RNG.uniform(0.5, 1.5, 3))

    def g(x):
        buf = x * 1.0
        np.maximum.at(buf, [0, 0, 2], x[[1, 2, 0]] ** 2)
        np.subtract.at(buf, [1, 1], np.sin(x[:2]))
        return np.sum(buf**3)

    check_hvp(g, np.array([0.3, 0.9, -0.4]))


def test_float32_second_derivatives_keep_the_dtype():
    x = ag.tensor(np.array([0.5, 1.5], dtype=np.float32), requires_grad=True)
    (g,) = ag.autograd_grad(np.sum(np.exp(x) * x), x, create_graph=True)
    (h,) = ag.autograd_grad(g.sum(), x)
    assert g.dtype == np.float32 and h.dtype == np.float32
    assert_close(h.data, np.exp(x.data) * (x.data + 2), rtol=1e-6)


def test_second_derivatives_through_singular_vectors():
    # norm(x, 2) is the largest singular value; its gradient u1 v1^T moves with the
    # singular vectors, whose own gradient the second derivative needs
    a = RNG.standard_normal((3, 3))
    x = ag.tensor(a, requires_grad=True)
    (g,) = ag.autograd_grad(np.linalg.norm(x, 2), x, create_graph=True)
    (h,) = ag.autograd_grad(g.sum(), x)

    def gradient_sum(b):
        t = ag.tensor(b, requires_grad=True)
        np.linalg.norm(t, 2).backward()
        return float(t.grad.data.sum())

    eps = 1e-6
    numeric = np.zeros_like(a)
    for index in np.ndindex(a.shape):
        e = np.zeros_like(a)
        e[index] = eps
        numeric[index] = (gradient_sum(a + e) - gradient_sum(a - e)) / (2 * eps)
    assert_close(h.data, numeric, rtol=1e-5, atol=1e-7)


# -- autograd_grad ---------------------------------------------------------------------------


def test_autograd_grad_leaves_grad_alone():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    (g,) = ag.autograd_grad((x**2).sum(), x)
    assert x.grad is None
    assert_close(g.data, [2.0, 4.0])
    assert not g.requires_grad
    assert isinstance(ag.autograd_grad((x**2).sum(), [x]), tuple)


def test_autograd_grad_of_several_outputs_and_inputs():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    w = ag.tensor(3.0, requires_grad=True)
    y1, y2 = x * w, (x**2).sum()
    gx, gw = ag.autograd_grad([y1, y2], [x, w], grad_outputs=[np.array([1.0, -1.0]), None])
    assert_close(gx.data, [3.0 + 2.0, -3.0 + 4.0])
    assert_close(gw.data, 1.0 - 2.0)
    assert gw.shape == ()


def test_autograd_grad_of_an_intermediate_runs_only_what_it_needs():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3.0
    z = (y**2).sum()
    (gy,) = ag.autograd_grad(z, y)  # retain_graph False: the nodes it ran are freed
    assert_close(gy.data, 2 * y.data)
    y.sum().backward()  # the graph behind y was not run, so not freed
    assert_close(x.grad.data, [3.0, 3.0])
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        ag.autograd_grad(z, y)


def test_autograd_grad_retain_graph():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    z = np.exp(x).sum()
    first = ag.autograd_grad(z, x, retain_graph=True)
    second = ag.autograd_grad(z, x)
    assert_close(first[0].data, second[0].data)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        ag.autograd_grad(z, x)


def test_autograd_grad_input_given_twice_and_output_as_input():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = x**2
    gx1, gx2, gy = ag.autograd_grad(y.sum(), [x, x, y])
    assert_close(gx1.data, [2.0, 4.0])
    assert gx1 is not gx2
    assert_close(gy.data, [1.0, 1.0])


def test_allow_unused():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    unused = ag.tensor(5.0, requires_grad=True)
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        ag.autograd_grad((x**2).sum(), [x, unused])
    gx, gu = ag.autograd_grad((x**2).sum(), [x, unused], allow_unused=True)
    assert gu is None
    assert_close(gx.data, [2.0, 4.0])
    # an input reached only through a path without gradient is unused too
    (g,) = ag.autograd_grad((x * (unused > 0)).sum(), unused, allow_unused=True)
    assert g is None


def test_second_derivative_that_vanishes_is_unused():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    (g,) = ag.autograd_grad((x * 3.0).sum(), x, create_graph=True)
    assert not g.requires_grad  # the gradient is a constant
    with pytest.raises(RuntimeError, match="does not require grad"):
        ag.autograd_grad(g.sum(), x)


def test_errors_name_what_to_do():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="pass its cotangent in grad_outputs"):
        ag.autograd_grad(x**2, x)
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        ag.autograd_grad(x**2, x, grad_outputs=np.ones(3))
    with pytest.raises(RuntimeError, match="one per output"):
        ag.autograd_grad([x**2, x**3], x, grad_outputs=[np.ones(2)])
    with pytest.raises(RuntimeError, match=r"inputs\[0\] does not require grad"):
        ag.autograd_grad((x**2).sum(), ag.tensor([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="does not require grad"):
        ag.autograd_grad(ag.tensor(1.0), x)
    with pytest.raises(TypeError, match="tensor"):
        ag.autograd_grad((x**2).sum(), 3.0)


@pytest.mark.parametrize("name", ["higher_order", "recorded_helpers", "tape_jvp"])
def test_docstring_examples(name):
    import doctest
    import importlib

    module = importlib.import_module(f"astgrad.runtime.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted and not result.failed


def test_autograd_grad_is_exported():
    import astgrad.runtime.higher_order as module

    assert "autograd_grad" in ag.__all__ and ag.autograd_grad is module.autograd_grad
    assert module.autograd_grad.__doc__ and ">>>" in module.autograd_grad.__doc__


# -- ag.grad of ag.grad on the tape ---------------------------------------------------------


def test_grad_of_grad_on_the_tape():
    def f(x):
        return x**4

    assert ag.grad(ag.grad(f, mode="tape"), mode="tape")(2.0) == 48.0
    third = ag.grad(ag.grad(ag.grad(f, mode="tape"), mode="tape"), mode="tape")
    assert third(3.0) == pytest.approx(72.0)
    assert third(2.0) == pytest.approx(48.0)  # a second call (the cached plan)


def test_value_and_grad_of_grad_on_the_tape():
    value, second = ag.value_and_grad(ag.grad(lambda x: x**4, mode="tape"), mode="tape")(2.0)
    assert float(value) == 32.0 and second == 48.0


def test_hessian_vector_product_through_a_function_calling_a_gradient():
    v = np.array([0.3, -1.0, 2.0])

    def loss(x):
        return np.sum(np.sin(x) * x**2) + np.prod(x)

    slope = ag.grad(loss, mode="tape")

    def along(x):
        return np.sum(slope(x) * v)

    x = RNG.standard_normal(3)
    assert_close(ag.grad(along, mode="tape")(x), numeric_hvp(loss, x, v))
    # the same through value_and_grad and vjp on the tape
    both = ag.value_and_grad(loss, mode="tape")

    def along_both(x):
        value, g = both(x)
        return value + np.sum(g * v)

    expected = first_derivative(loss, x) + numeric_hvp(loss, x, v)
    assert_close(ag.grad(along_both, mode="tape")(x), expected)
    _, pullback = ag.vjp(slope, x, mode="tape")
    assert_close(pullback(v), numeric_hvp(loss, x, v))


def test_gradient_steps_inside_a_function_on_the_tape():
    # a few steps of gradient descent, differentiated with respect to the start
    step = ag.grad(lambda x: np.sum(np.sin(x) ** 2 + 0.5 * x**4), mode="tape")

    def descend(x):
        for _ in range(20):
            x = x - 0.05 * step(x)
        return np.sum(x**2)

    x = np.array([0.3, -0.7])
    assert_close(ag.grad(descend, mode="tape")(x), numeric_vjp(descend, [x], 0, 1.0))


def test_a_function_of_several_arguments_given_one_tensor_twice():
    def f(a, b):
        return a * b**2

    partials = ag.grad(f, wrt=(0, 1), mode="tape")

    def g(x):
        da, db = partials(x, x)  # b^2 and 2ab, at a = b = x: x^2 and 2x^2
        return da + 10.0 * db

    assert ag.grad(g, mode="tape")(1.5) == pytest.approx(2 * 1.5 + 10.0 * 4 * 1.5)


def test_a_gradient_with_respect_to_one_argument_depends_on_the_others():
    def f(w, x):
        return np.sum(np.tanh(w * x))

    def g(x):
        return np.sum(ag.grad(f, mode="tape")(np.array([0.5, -0.3]), x))

    x = np.array([0.7, 1.1])
    assert_close(ag.grad(g, mode="tape")(x), numeric_vjp(g, [x], 0, 1.0))


def test_math_functions_on_the_tape_twice():
    assert ag.grad(ag.grad(math.sin, mode="tape"), mode="tape")(0.5) == pytest.approx(
        -math.sin(0.5)
    )

    def f(x):
        return math.exp(math.cos(x)) * math.fabs(x)

    second = ag.grad(ag.grad(f, mode="tape"), mode="tape")
    h = 1e-5
    first = ag.grad(f, mode="tape")
    assert second(0.8) == pytest.approx((first(0.8 + h) - first(0.8 - h)) / (2 * h), rel=1e-6)


def test_a_pullback_given_a_cotangent_that_records():
    x = RNG.standard_normal(3)
    _, pullback = ag.vjp(lambda x: np.sin(A @ x), x, mode="tape")
    u = ag.tensor(np.zeros(4), requires_grad=True)
    g = pullback(u)  # J^T u, recorded as a function of u
    assert g.requires_grad
    t = RNG.standard_normal(3)
    (jt,) = ag.autograd_grad((g * t).sum(), u)
    assert_close(jt.data, np.cos(A @ x) * (A @ t))


def quartic(v):
    return v**4


def test_outside_the_tape_nesting_is_still_refused():
    # (a source-mode gradient called on a tensor that records is one node of the tape,
    # whose backward is a Hessian-vector product: see test_soundness_nested)
    x = ag.tensor(2.0, requires_grad=True)
    slope = ag.grad(quartic, mode="source")(x)
    slope.backward()
    assert float(x.grad.numpy()) == pytest.approx(48.0)
    with pytest.raises(NotImplementedError, match="This nesting of derivatives is not supported"):
        ag.grad(ag.grad(lambda v: v**4, mode="tape"), mode="source")
    with pytest.raises(NotImplementedError, match="This nesting of derivatives is not supported"):
        ag.grad(ag.vjp(lambda v: v**4, 2.0, mode="tape")[1], mode="tape")


# -- tape_jvp -------------------------------------------------------------------------------


def numeric_jvp(f, primals, tangents, eps=1e-6):
    up = f(*[p if t is None else p + eps * t for p, t in zip(primals, tangents)])
    down = f(*[p if t is None else p - eps * t for p, t in zip(primals, tangents)])
    if isinstance(up, tuple):
        return tuple((np.asarray(u) - np.asarray(d)) / (2 * eps) for u, d in zip(up, down))
    return (np.asarray(up) - np.asarray(down)) / (2 * eps)


JVP_CASES = {
    "elementwise": (lambda x: np.tanh(x) * np.exp(x), [(3,)]),
    "matmul": (lambda x, w: np.sin(x @ w), [(2, 3), (3, 4)]),
    "broadcast": (lambda x, b: np.log(1 + (x + b) ** 2), [(3, 2), (2,)]),
    "reduction": (lambda x: np.sum(x**3, axis=0) / np.max(x), [(3, 2)]),
    "indexing": (lambda x: x[[0, 2, 2]] * x[1:].sum(), [(3,)]),
    "softmax": (_softmax, [(2, 4)]),
    "two-results": (lambda x, y: (x * y, np.sum(np.sin(x))), [(3,), (3,)]),
    "floats": (lambda a, b: a * math.exp(b) + a**3, ["float", "float"]),
}


@pytest.mark.parametrize("name", list(JVP_CASES))
def test_tape_jvp_matches_finite_differences(name):
    f, shapes = JVP_CASES[name]
    primals = tuple(
        float(RNG.uniform(0.5, 1.5)) if s == "float" else RNG.uniform(0.5, 1.5, s) for s in shapes
    )
    tangents = tuple(
        float(RNG.standard_normal()) if s == "float" else RNG.standard_normal(s) for s in shapes
    )
    value, tangent = tape_jvp(f, primals, tangents)
    expected = numeric_jvp(f, primals, tangents)
    if isinstance(expected, tuple):
        assert isinstance(tangent, tuple) and len(tangent) == len(expected)
        for got, want, v in zip(tangent, expected, value):
            assert np.shape(got) == np.shape(v)
            assert_close(got, want)
    else:
        assert np.shape(tangent) == np.shape(value)
        assert_close(tangent, expected)
    plain = f(*primals)
    for got, want in zip(value, plain) if isinstance(plain, tuple) else [(value, plain)]:
        assert_close(got, want)
    if name == "floats":
        assert type(tangent) is float


def test_tape_jvp_with_arguments_that_do_not_move():
    x, w = RNG.standard_normal(3), RNG.standard_normal(3)
    _, tangent = tape_jvp(lambda x, w: np.sum(np.sin(x * w)), (x, w), (None, np.ones(3)))
    assert_close(tangent, np.sum(np.cos(x * w) * x))
    _, tangent = tape_jvp(lambda x, w: x * 2.0, (x, w), (None, np.ones(3)))
    assert_close(tangent, np.zeros(3))  # the result does not depend on w
    with pytest.raises(ValueError, match="shape"):
        tape_jvp(np.sin, (x,), (np.ones(2),))


def test_the_readme_example_runs():
    """The block of docs/tape.md under **Higher-order derivatives on the tape.** runs as written."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "tape.md").read_text()
    section = text.split("**Higher-order derivatives on the tape.**", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)
    exec(compile(block, "docs/tape.md", "exec"), {"__name__": "readme_tape_higher_order"})


def test_second_derivatives_on_a_stand_in_gpu():
    """The recorded backward pass stays on the device: zeros the rules make for tensors
    (scattered gradients, ties of max) are made there too."""
    from fake_device import FakeCudaArray, fake_cuda

    def f(x, w):
        h = np.tanh(x @ w)
        return np.sum(h[[0, 0, 1]] ** 2) + np.mean(np.exp(x)) + np.sum(np.max(h, axis=1))

    xv, wv = RNG.standard_normal((2, 3)), RNG.standard_normal((3, 2))

    def second(device):
        x = ag.tensor(xv, requires_grad=True, device=device)
        w = ag.tensor(wv, requires_grad=True, device=device)
        gx, gw = ag.autograd_grad(f(x, w), (x, w), create_graph=True)
        return ag.autograd_grad((gx * gx).sum() + (gw**3).sum(), (x, w))

    on_cpu = second(None)
    with fake_cuda():
        on_gpu = second("cuda")
        for got, want in zip(on_gpu, on_cpu):
            assert isinstance(got.data, FakeCudaArray) and got.device == "cuda:0"
            assert_close(np.asarray(got.data), want.data, rtol=1e-12)


def _changes_its_argument(x):
    y = x  # (another name for the argument: Python changes the one array)
    y += 1.0
    x[0] = x[1] * 3.0
    return np.sum(x * x)


@pytest.mark.parametrize("mode", ["tape", "auto"])
def test_forward_mode_on_the_tape_takes_in_place_changes_of_an_argument_as_a_gradient_does(mode):
    # (the tape's jvp refused `y += 1.0` on an argument as a write into a leaf, where its
    # gradient takes the change on a copy of its own, as generated source rebinds the name)
    x = np.array([0.3, -0.5, 0.7, 0.2])
    tangent = np.array([1.0, 0.5, -0.3, 2.0])
    given = x.copy()
    value, derivative = ag.jvp(_changes_its_argument, (given,), (tangent,), mode=mode)
    np.testing.assert_array_equal(given, x)  # (the caller's array is left as it was)
    assert value == pytest.approx(_changes_its_argument(x.copy()), rel=1e-12)
    step = 1e-6
    want = (
        _changes_its_argument(x + step * tangent) - _changes_its_argument(x - step * tangent)
    ) / (2 * step)
    assert derivative == pytest.approx(want, rel=1e-7)
    shared = np.array([0.3, -0.5, 0.7, 0.2])
    with pytest.raises(ValueError, match="shares its memory"):
        ag.jvp(lambda a, b: _changes_its_argument(a) + np.sum(b), (shared, shared),
               (tangent, tangent), mode="tape")  # fmt: skip
    # and the Hessian-vector product: differences of the gradient, which took it right
    given = x.copy()
    product = ag.hvp(_changes_its_argument, (given,), (tangent,), mode=mode)
    np.testing.assert_array_equal(given, x)
    step = 1e-6
    gradient = ag.grad(_changes_its_argument, mode="tape")
    want = (gradient(x + step * tangent) - gradient(x - step * tangent)) / (2 * step)
    assert_close(product, want, rtol=1e-6, atol=1e-8, what="hvp")

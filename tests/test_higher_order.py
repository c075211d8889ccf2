"""Second derivatives and Jacobians: one table of functions through ``ag.hvp``,
``ag.hessian``, ``ag.jacobian`` (both modes), ``ag.jvp`` and the gradient of a gradient,
in every mode, against finite differences of astgrad's first derivative (itself checked
against finite differences of the function elsewhere) or analytic values, in float64."""

from __future__ import annotations

import numpy as np
import pytest

import astgrad as ag

EPS = 1e-5

# -- the table --------------------------------------------------------------------------------


def polynomial(x):
    return np.sum(x**4 - 2.0 * x**3 + x)


def elementwise(x):
    return np.sum(np.sin(np.exp(0.3 * x)) * np.tanh(x) + np.log1p(x * x))


def quadratic_form(x, A):
    return x @ A @ x


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def mlp_loss(W1, W2, x, y):
    h = np.tanh(x @ W1)
    out = h @ W2
    return np.mean((out - y) ** 2)


def softmax_loss(logits, labels):
    shifted = logits - np.max(logits, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    return -np.mean(np.sum(log_probs * labels, axis=1))


def log_det(A):
    sign, logdet = np.linalg.slogdet(A @ A.T + np.eye(A.shape[0]))
    return logdet


def loop(x):
    total = 0.0
    h = x
    for k in range(3):
        h = np.sin(h) * 0.9 + x * 0.1
        total = total + np.sum(h * h) / (k + 1)
    return total


def while_loop(x):
    h = x
    steps = 0
    while np.sum(h * h) > 0.5 and steps < 10:
        h = h * 0.8 + 0.05 * np.tanh(h)
        steps += 1
    return np.sum(h**3)


def branches(x):
    if np.sum(x) > 0:
        y = x * np.exp(x)
    else:
        y = np.cos(x) * x
    return np.sum(y * y)


def _helper(a, b):
    return np.tanh(a) * b + a * a


def helper_calls(x):
    return np.sum(_helper(x, 2.0) * _helper(x * 0.5, x))


def _rng_args(*shapes):
    def make(rng):
        return tuple(
            rng.uniform(-1.0, 1.0, shape) if shape != "spd" else _spd(rng) for shape in shapes
        )

    return make


def _spd(rng):
    m = rng.uniform(-1.0, 1.0, (3, 3))
    return m @ m.T + 3.0 * np.eye(3)


def _mlp_args(rng):
    return (
        rng.standard_normal((4, 5)) * 0.5,
        rng.standard_normal((5, 2)) * 0.5,
        rng.standard_normal((6, 4)),
        rng.standard_normal((6, 2)),
    )


def _softmax_args(rng):
    labels = np.eye(3)[rng.integers(0, 3, 5)]
    return rng.standard_normal((5, 3)), labels


#: name -> (function, argument maker, positions differentiated)
TABLE = {
    "polynomial": (polynomial, _rng_args(4), (0,)),
    "elementwise": (elementwise, _rng_args(5), (0,)),
    "quadratic_form": (quadratic_form, _rng_args(3, (3, 3)), (0, 1)),
    "rosenbrock": (rosenbrock, _rng_args(4), (0,)),
    "mlp_loss": (mlp_loss, _mlp_args, (0, 1)),
    "softmax_loss": (softmax_loss, _softmax_args, (0,)),
    "log_det": (log_det, _rng_args((3, 3)), (0,)),
    "loop": (loop, _rng_args(4), (0,)),
    "while_loop": (while_loop, lambda rng: (rng.uniform(0.5, 1.0, 3),), (0,)),
    "branches": (branches, _rng_args(4), (0,)),
    "helper_calls": (helper_calls, _rng_args(4), (0,)),
}
MODES = ("source", "auto", "tape")


def _setup(name, seed=0):
    function, make, positions = TABLE[name]
    rng = np.random.default_rng(seed)
    args = make(rng)
    tangents = [None] * len(args)
    for p in positions:
        tangents[p] = rng.standard_normal(np.shape(args[p]))
    return function, args, positions, tangents


def _gradient_difference(function, args, positions, tangents):
    """Central differences of astgrad's gradient (reverse mode, source) along tangents."""
    gradient = ag.grad(function, wrt=tuple(positions), mode="source")

    def at(step):
        moved = list(args)
        for p in positions:
            moved[p] = args[p] + step * tangents[p]
        return gradient(*moved)

    up, down = at(EPS), at(-EPS)
    return [(u - d) / (2 * EPS) for u, d in zip(up, down)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(TABLE))
def test_hvp(name, mode):
    function, args, positions, tangents = _setup(name)
    got = ag.hvp(function, args, tangents, mode=mode)
    got = got if isinstance(got, tuple) else (got,)
    expected = _gradient_difference(function, args, positions, tangents)
    assert len(got) == len(positions)
    for product, want, p in zip(got, expected, positions):
        assert np.shape(product) == np.shape(args[p])
        np.testing.assert_allclose(product, want, rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("mode", ("source", "auto"))
@pytest.mark.parametrize("name", sorted(TABLE))
def test_jvp_matches_the_gradient(name, mode):
    function, args, positions, tangents = _setup(name)
    value, tangent = ag.jvp(function, args, tangents, mode=mode)
    gradients = ag.grad(function, wrt=tuple(positions), mode="source")(*args)
    expected = sum(float(np.sum(g * tangents[p])) for g, p in zip(gradients, positions))
    assert np.isclose(value, function(*args), rtol=1e-12)
    np.testing.assert_allclose(tangent, expected, rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("name", ["polynomial", "rosenbrock", "loop", "branches", "log_det"])
def test_hessian_is_the_jacobian_of_the_gradient(name):
    function, args, positions, _ = _setup(name)
    hessian = ag.hessian(function, mode="source")(*args)
    x = args[0]
    assert hessian.shape == x.shape + x.shape
    jacobian = ag.jacobian(ag.grad(function, mode="source"), mode="forward")
    np.testing.assert_allclose(hessian, jacobian(*args), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(
        hessian,
        np.swapaxes(hessian, 0, 1).reshape(hessian.shape) if x.ndim == 1 else hessian,
        rtol=1e-12,
    )
    flat = hessian.reshape(x.size, x.size)
    np.testing.assert_allclose(flat, flat.T, rtol=1e-9, atol=1e-10)
    numeric = np.stack(
        [
            _gradient_difference(function, args, positions, [e.reshape(x.shape)])[0].ravel()
            for e in np.eye(x.size)
        ]
    )
    np.testing.assert_allclose(flat, numeric, rtol=1e-5, atol=1e-6)


def test_hessian_blocks_for_several_arguments():
    rng = np.random.default_rng(3)
    x, A = rng.uniform(-1, 1, 3), rng.uniform(-1, 1, (3, 3))
    blocks = ag.hessian(quadratic_form, wrt=(0, 1))(x, A)
    assert blocks[0][0].shape == (3, 3) and blocks[0][1].shape == (3, 3, 3)
    assert blocks[1][0].shape == (3, 3, 3) and blocks[1][1].shape == (3, 3, 3, 3)
    np.testing.assert_allclose(blocks[0][0], A + A.T, rtol=1e-12)
    np.testing.assert_allclose(blocks[1][1], 0.0, atol=1e-12)
    # d2/dx_i dA_jk of x A x = delta_ij x_k + delta_ik x_j
    expected = np.einsum("ij,k->ijk", np.eye(3), x) + np.einsum("ik,j->ijk", np.eye(3), x)
    np.testing.assert_allclose(blocks[0][1], expected, rtol=1e-12)


def test_hessian_of_a_float_is_a_float():
    assert ag.hessian(lambda_free_cube)(2.0) == pytest.approx(12.0)


def lambda_free_cube(x):
    return x**3


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_jacobian_shapes_and_values(mode):
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, (2, 3))
    W = rng.uniform(-1, 1, (3, 4))

    def layer(x, W):
        return np.tanh(x @ W)

    jac = ag.jacobian(layer, wrt=(0, 1), mode=mode)(x, W)
    assert jac[0].shape == (2, 4, 2, 3) and jac[1].shape == (2, 4, 3, 4)
    for position, block in enumerate(jac):
        for index in np.ndindex(x.shape if position == 0 else W.shape):
            e = np.zeros(x.shape if position == 0 else W.shape)
            e[index] = 1.0
            args = [x, W]
            up = layer(*[a + EPS * e if i == position else a for i, a in enumerate(args)])
            down = layer(*[a - EPS * e if i == position else a for i, a in enumerate(args)])
            np.testing.assert_allclose(
                block[(...,) + index], (up - down) / (2 * EPS), rtol=1e-6, atol=1e-8
            )


# -- the gradient of a gradient ------------------------------------------------------------------


def quartic(x):
    return x**4


def test_grad_of_grad():
    assert ag.grad(ag.grad(quartic))(2.0) == pytest.approx(48.0)
    value, second = ag.value_and_grad(ag.grad(quartic), mode="source")(2.0)
    assert (value, second) == (pytest.approx(32.0), pytest.approx(48.0))


def two_arguments(x, y):
    return x * x * y + np.sin(x * y)


def test_mixed_partials():
    x, y = 0.7, -0.4
    d2_dydx = ag.grad(ag.grad(two_arguments, wrt=0), wrt=1)(x, y)
    expected = 2 * x + np.cos(x * y) - x * y * np.sin(x * y)
    assert d2_dydx == pytest.approx(expected)


_first = ag.grad(polynomial)


def calls_a_gradient(x):
    g = _first(x)
    return np.sum(g * g) + np.sum(np.sin(x))


@pytest.mark.parametrize("mode", ["source", "auto"])
def test_a_function_calling_a_gradient_is_differentiable(mode):
    x = np.random.default_rng(2).uniform(-1, 1, 4)
    got = ag.grad(calls_a_gradient, mode=mode)(x)
    numeric = np.array(
        [
            (calls_a_gradient(x + EPS * e) - calls_a_gradient(x - EPS * e)) / (2 * EPS)
            for e in np.eye(4)
        ]
    )
    np.testing.assert_allclose(got, numeric, rtol=1e-6, atol=1e-8)
    assert "grad_vjp" in ag.source(calls_a_gradient)


def test_gradcheck_second_order():
    rng = np.random.default_rng(7)
    assert ag.gradcheck(mlp_loss, *_mlp_args(rng), wrt=(0, 1), order=2)
    with pytest.raises(ag.GradcheckError):
        ag.gradcheck(_wrong_second_derivative, np.array([0.3, 0.6]), order=2)


def _cube(x):
    return np.sum(x**3)


@ag.vjp_rule(_cube)
def _cube_vjp(g, ans, x):
    return g * 3 * x**2


def _wrong_second_derivative(x):
    # the rule's first derivative is right, but the function's value is not _cube's:
    # fine for order 1 through the rule, and wrong at order 2 through its forward rule
    return _cube(x) + 0.0 * np.sum(x)


@ag.jvp_rule(_cube)
def _cube_jvp(ans, x, *, dx):
    return np.sum(dx * 2 * x**2)  # wrong on purpose: gradcheck(order=2) must notice


# -- errors -----------------------------------------------------------------------------------


def test_hvp_needs_a_scalar_function():
    with pytest.raises(ValueError, match="scalar"):
        ag.hvp(_elementwise_only, (np.ones(2),), (np.ones(2),), mode="source")


def _elementwise_only(x):
    return np.sin(x)


def test_jvp_argument_errors():
    with pytest.raises(TypeError, match="tuple of"):
        ag.jvp(np.sin, np.ones(2), (np.ones(2),))
    with pytest.raises(ValueError, match="one tangent per primal"):
        ag.jvp(two_arguments, (1.0, 2.0), (1.0,))
    with pytest.raises(ValueError, match="has shape"):
        ag.jvp(np.sin, (np.ones(2),), (np.ones(3),))


def test_the_readme_section_runs_and_shows_what_it_prints(tmp_path, capsys):
    """The example of docs/higher-order.md runs (from a file, as a user's script would),
    and prints the source shown after it."""
    import re
    import sys
    from pathlib import Path

    from modules import write_module

    text = (Path(__file__).resolve().parents[1] / "docs" / "higher-order.md").read_text()
    section = text.split("# Higher-order derivatives and forward mode", 1)[1]
    blocks = re.findall(r"```(?:python|text)\n(.*?)```", section, flags=re.S)
    code, shown = blocks[0], blocks[1]
    try:
        write_module(tmp_path, "readme_higher_order", code)
    finally:
        sys.modules.pop("readme_higher_order", None)
    assert capsys.readouterr().out.strip() == shown.strip()


def test_the_source_of_a_second_derivative():
    text = ag.source(ag.grad(ag.grad(quartic)))
    assert "def quartic_tangent(x, *, dx):" in text
    assert "# tangent of: return x**4" in text or "# tangent of: return x ** 4" in text
    assert "def quartic_tangent_backward(saved, " in text


def quintic(x):
    return 0.5 * x**5 - x**3 + np.sin(x)


@pytest.mark.parametrize("mode", ["auto", "tape"])
def test_third_and_fourth_derivatives(mode):
    x = 0.7
    third = ag.grad(ag.grad(ag.grad(quintic)), mode=mode)(x)
    assert third == pytest.approx(30.0 * x**2 - 6.0 - np.cos(x))
    fourth = ag.grad(ag.grad(ag.grad(ag.grad(quintic))), mode=mode)(x)
    assert fourth == pytest.approx(60.0 * x + np.sin(x))


def test_a_third_derivative_in_source_mode_says_to_use_the_tape():
    with pytest.raises(NotImplementedError, match='mode="auto" or mode="tape"'):
        ag.grad(ag.grad(ag.grad(quintic)), mode="source")


# -- Jacobians with respect to objects (issue 16) ------------------------------------------------


class _Layer:
    def __init__(self, W, b, name):
        self.W = W
        self.b = b
        self.name = name  # no gradient: None in the Jacobian, as in ag.grad's


def _layer_out(layer, x):
    return np.tanh(x @ layer.W + layer.b)


def _pair_out(pair, x):
    W, b = pair
    return np.sin(x @ W) * b


def _numeric_jacobian(function, value, set_leaf):
    """Central differences of ``function()`` over each element of one leaf, the leaf
    changed through ``set_leaf(new)``: shape ``out.shape + leaf.shape``."""
    columns = []
    for index in np.ndindex(value.shape):
        e = np.zeros(value.shape)
        e[index] = EPS
        set_leaf(value + e)
        up = function()
        set_leaf(value - e)
        down = function()
        columns.append((up - down) / (2 * EPS))
    set_leaf(value)
    out = np.stack(columns, axis=-1)
    return out.reshape(out.shape[:-1] + value.shape)


def test_reverse_jacobian_of_an_object_has_its_structure():
    rng = np.random.default_rng(11)
    layer = _Layer(rng.uniform(-1, 1, (3, 2)), rng.uniform(-1, 1, 2), "dense")
    x = rng.uniform(-1, 1, 3)
    jac = ag.jacobian(_layer_out)(layer, x)
    assert type(jac) is _Layer and jac.name is None
    assert jac.W.shape == (2, 3, 2) and jac.b.shape == (2, 2)
    for field in ("W", "b"):
        value = getattr(layer, field)
        numeric = _numeric_jacobian(
            lambda: _layer_out(layer, x), value, lambda v, f=field: setattr(layer, f, v)
        )
        np.testing.assert_allclose(getattr(jac, field), numeric, rtol=1e-6, atol=1e-8)
    both = ag.jacobian(_layer_out, wrt=(0, 1))(layer, x)
    np.testing.assert_allclose(both[0].W, jac.W, rtol=1e-12)
    assert both[1].shape == (2, 3)


def test_reverse_jacobian_of_a_tuple_argument():
    rng = np.random.default_rng(12)
    pair = (rng.uniform(-1, 1, (3, 2)), rng.uniform(-1, 1, 2))
    x = rng.uniform(-1, 1, 3)
    jac = ag.jacobian(_pair_out)(pair, x)
    assert isinstance(jac, tuple) and jac[0].shape == (2, 3, 2) and jac[1].shape == (2, 2)
    W, b = pair
    np.testing.assert_allclose(jac[1], np.diag(np.sin(x @ W)), rtol=1e-12)
    holder = [W]
    numeric = _numeric_jacobian(
        lambda: _pair_out((holder[0], b), x), W, lambda v: holder.__setitem__(0, v)
    )
    np.testing.assert_allclose(jac[0], numeric, rtol=1e-6, atol=1e-8)


def test_forward_jacobian_of_an_object_says_what_to_do():
    layer = _Layer(np.ones((3, 2)), np.zeros(2), "dense")
    with pytest.raises(
        TypeError, match=r'ag.jacobian\(_layer_out, mode="forward"\).*_Layer.*mode="reverse"'
    ):
        ag.jacobian(_layer_out, mode="forward")(layer, np.ones(3))


def test_hessian_blocks_in_the_order_of_wrt():
    """wrt=(1, 0): block [0][0] is the argument 1's, as the tuple says (hvp gives its
    products in the arguments' order)."""
    rng = np.random.default_rng(3)
    x, A = rng.uniform(-1, 1, 3), rng.uniform(-1, 1, (3, 3))
    forward = ag.hessian(quadratic_form, wrt=(0, 1))(x, A)
    backward = ag.hessian(quadratic_form, wrt=(1, 0))(x, A)
    np.testing.assert_allclose(backward[0][0], forward[1][1], atol=1e-12)
    np.testing.assert_allclose(backward[1][1], forward[0][0], rtol=1e-12)
    np.testing.assert_allclose(backward[0][1], forward[1][0], rtol=1e-12)
    assert backward[0][1].shape == (3, 3, 3)


@pytest.mark.parametrize("mode", ["source", "auto", "tape"])
def test_hessian_of_a_non_scalar_function_says_so(mode):
    # (one error in every mode: the tape's says so before differentiating, as the others do)
    with pytest.raises(ValueError, match="returns a value of shape .*needs a scalar function"):
        ag.hessian(_elementwise_only, mode=mode)(np.ones(2))

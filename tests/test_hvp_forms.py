"""The cheaper forms generated forward code and reverse mode over it take (issue 16's
speed targets), checked to compute what NumPy computes:

* a tangent param of ``f_jvp`` has its parameter's shape class, and a name read at the
  top level has the class of the binding that reaches it (``h = np.tanh(h @ W + b)``), so
  reverse mode over ``f_jvp`` leaves out ``unbroadcast`` where nothing broadcast;
* a ufunc whose operands that may broadcast all move needs no ``spread_tangent``;
* the tangent of a whole-array ``np.mean`` is ``mean_tangent`` (the same bits).

Each form is checked where a wrong shape fact would show: rebinding a name to another
shape, biases that broadcast, operands that do not move, every spelling of the product.
"""

from __future__ import annotations

import numpy as np
import pytest
from astgrad.runtime.tangents import mean_tangent

import astgrad as ag


def _hvp_by_differences(f, args, moving, tangents, eps=1e-5):
    """(grad(args + eps v) - grad(args - eps v)) / 2 eps, the gradient by ag.grad in
    source mode (itself checked against differences across the suite)."""
    gradient = ag.grad(f, wrt=moving, mode="source")

    def at(sign):
        shifted = list(args)
        for i, t in zip(moving, tangents):
            shifted[i] = args[i] + sign * eps * t
        found = gradient(*shifted)
        return found if isinstance(found, tuple) else (found,)

    return tuple((u - d) / (2 * eps) for u, d in zip(at(1.0), at(-1.0)))


def _check_hvp(f, args, moving, rng):
    tangents = [rng.standard_normal(np.shape(args[i])) for i in moving]
    full = tuple(tangents[moving.index(i)] if i in moving else None for i in range(len(args)))
    got = ag.hvp(f, tuple(args), full, mode="source")
    got = got if isinstance(got, tuple) else (got,)
    expected = _hvp_by_differences(f, args, moving, tangents)
    for g, e, i in zip(got, expected, moving):
        assert np.shape(g) == np.shape(args[i])
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-8)
    value, slope = ag.jvp(f, tuple(args), full, mode="source")
    assert value == f(*args)
    step = 1e-6
    up = f(*[a + step * t if t is not None else a for a, t in zip(args, full)])
    down = f(*[a - step * t if t is not None else a for a, t in zip(args, full)])
    np.testing.assert_allclose(slope, (up - down) / (2 * step), rtol=1e-6, atol=1e-9)


def mlp_matmul(W1, b1, W2, b2, W3, b3, x, y):
    h = np.tanh(x @ W1 + b1)
    h = np.tanh(h @ W2 + b2)
    out = h @ W3 + b3
    return np.mean((out - y) ** 2)


def mlp_dot(W1, b1, W2, b2, W3, b3, x, y):
    h = np.tanh(np.dot(x, W1) + b1)
    h = np.tanh(h.dot(W2) + b2)
    return ((h.dot(W3) + b3 - y) ** 2).mean()


def mlp_names(W1, b1, W2, b2, W3, b3, x, y):
    hidden = np.tanh(np.matmul(x, W1) + b1)
    second = np.tanh(hidden @ W2 + b2)
    error = second @ W3 + b3 - y
    return np.sum(error * error) / len(y)


@pytest.mark.parametrize("f", [mlp_matmul, mlp_dot, mlp_names])
@pytest.mark.parametrize("moving", [(0, 1, 2, 3, 4, 5), (0, 2, 4), (1, 3, 5), (2,)])
def test_mlp_spellings(f, moving):
    rng = np.random.default_rng(len(moving))
    args = [
        rng.standard_normal((4, 5)) * 0.5,
        rng.standard_normal(5) * 0.1,
        rng.standard_normal((5, 5)) * 0.5,
        rng.standard_normal(5) * 0.1,
        rng.standard_normal((5, 1)) * 0.5,
        rng.standard_normal(1) * 0.1,
        rng.standard_normal((3, 4)),
        rng.standard_normal((3, 1)),
    ]
    _check_hvp(f, args, list(moving), rng)


def rebinds_to_other_shapes(u, A):
    # u: (4,) then (3, 4) then (3,): each read has the shape of the binding before it
    v = u * u
    u = A * u + v
    w = u * u
    u = np.sum(u, axis=1)
    return np.sum(u * u) + np.sum(w * v)


def broadcasts_a_moving_operand(u, A, c):
    s = np.sin(u + A)  # u (4,) against A (3, 4): both may move
    t = s * c  # c does not move, (3, 1)
    return np.mean(t * t) + np.mean(u * u)


@pytest.mark.parametrize("moving", [(0,), (1,), (0, 1)])
def test_rebinding_and_broadcasting(moving):
    rng = np.random.default_rng(7)
    u, A, c = rng.standard_normal(4), rng.standard_normal((3, 4)), rng.standard_normal((3, 1))
    _check_hvp(rebinds_to_other_shapes, [u, A], list(moving), rng)
    _check_hvp(broadcasts_a_moving_operand, [u, A, c], list(moving), rng)


def test_no_unbroadcast_where_nothing_broadcasts():
    """Reverse over forward of the MLP: the tanh blocks and the tangents' sums keep no
    unbroadcast (the biases' do: they broadcast)."""
    from astgrad import higher

    rng = np.random.default_rng(0)
    args = (
        rng.standard_normal((4, 5)),
        rng.standard_normal(5),
        rng.standard_normal((5, 5)),
        rng.standard_normal(5),
        rng.standard_normal((5, 1)),
        rng.standard_normal(1),
        rng.standard_normal((3, 4)),
        rng.standard_normal((3, 1)),
    )
    tangents = tuple(rng.standard_normal(np.shape(a)) for a in args[:6]) + (None, None)
    ag.hvp(mlp_matmul, args, tangents, mode="source")
    key = ag.forward.host_key(args, tangents, "source")
    entry = higher._ready_hvps[mlp_matmul][key]
    backward = entry[1].full_source().split("_backward")[1]
    assert "unbroadcast(ddh" not in backward
    assert "2 * unbroadcast" not in backward
    assert "unbroadcast(d_add_2, b2)" in backward  # a bias: summed over the rows
    forward = ag.source(mlp_matmul, *args, wrt=(0, 1), forward=True)
    assert "dadd = dmatmul + db1\n" in forward  # both move: no spread_tangent
    assert "dadd_2 = spread_tangent(dmatmul_2, add_2)" in forward  # b2 does not move


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
@pytest.mark.parametrize("shape", [(32, 1), (7,), (3, 5, 2), (1,), ()])
def test_mean_tangent_is_np_mean(dtype, shape):
    x = np.asarray(np.random.default_rng(1).standard_normal(shape)).astype(dtype)
    got, expected = mean_tangent(x), np.mean(x)
    assert type(got) is type(expected)
    assert got == expected


def test_mean_tangent_of_an_empty_array_is_np_mean():
    with pytest.warns(RuntimeWarning):
        got = mean_tangent(np.zeros((0, 3)))
    assert np.isnan(got)


def test_mean_with_an_axis_keeps_np_mean():
    def f(x):
        return np.sum(np.mean(x * x, axis=0))

    source = ag.source(f, np.ones((3, 2)), forward=True)
    assert "np.mean(dmul, axis=0)" in source
    _check_hvp(f, [np.random.default_rng(2).standard_normal((3, 2))], [0], np.random.default_rng(3))


def squash(x):
    t = np.tanh(x)
    s = 1 - t * t
    return np.sum(s * x)


def rebound_between(x):
    t = np.tanh(x)
    s = 1 - t * t
    t = np.tanh(s * x)  # the second tanh's gradient reads this t: not s
    return np.sum(t * s)


def in_a_loop(x):
    for _ in range(3):
        t = np.tanh(x)
        s = 1 - t * t
        x = s * x + t
    return np.sum(x * x)


def power_forms(x, y):
    u = x * y
    v = -u
    w = v**2 + u / y
    return np.sum(w * np.exp(-u) + np.sin(x) * np.cos(x))


@pytest.mark.parametrize("f", [squash, rebound_between, in_a_loop])
def test_reused_forward_values_against_differences(f):
    rng = np.random.default_rng(11)
    x = rng.standard_normal(5)
    _check_hvp(f, [x], [0], rng)
    from tests.numeric import numeric_vjp

    np.testing.assert_allclose(
        ag.grad(f, mode="source")(x), numeric_vjp(f, [x], 0, 1.0), rtol=1e-6, atol=1e-9
    )


def test_reuse_reads_the_write_the_value_saw():
    """``rebound_between``: the first tanh's gradient reads ``s`` (its ``t``, popped back,
    is the one ``s`` was computed from); the second's computes ``1 - t * t`` of the new t."""
    source = ag.source(rebound_between, np.ones(3))
    assert "    dmul_2 = dt * (1 - t * t)\n" in source  # the second tanh's t
    assert "    dx = dx + dt * s\n" in source  # the first one's: s


@pytest.mark.parametrize("moving", [(0,), (1,), (0, 1)])
def test_operator_forms_against_differences(moving):
    rng = np.random.default_rng(12)
    _check_hvp(
        power_forms, [rng.standard_normal(4), rng.standard_normal(4) + 3.0], list(moving), rng
    )


def linear_in_both(x, y):
    return np.sum(x + y - x * 0.5)


def test_hvp_of_a_linear_function_is_zeros_of_each_shape():
    """The tangent of a linear function does not depend on the point: reverse mode over it
    reaches no argument, and each product is zeros of its argument's shape (and dtype)."""
    x, y = np.ones((3, 4)), np.ones(4, dtype=np.float32)
    products = ag.hvp(linear_in_both, (x, y), (np.ones((3, 4)), np.ones(4, np.float32)))
    assert [(p.shape, p.dtype) for p in products] == [((3, 4), np.float64), ((4,), np.float32)]
    assert not any(np.any(p) for p in products)
    H = ag.hessian(linear_in_both, wrt=(0, 1), mode="source")(x, y)
    assert np.shape(H[0][1]) == (3, 4, 4) and not np.any(H[0][1])


def power_loop(A):
    P = np.eye(3)
    for _ in range(3):
        P = P @ A
    return np.trace(P)


def test_hvp_of_a_loop_keeps_the_value():
    """A loop's primal values the tangent does not read would get the adjoint 0 (a number)
    in f_tangent's reversed loop: hvp differentiates f_jvp there, value and tangent."""
    rng = np.random.default_rng(13)
    _check_hvp(power_loop, [rng.standard_normal((3, 3))], [0], rng)
    H = ag.hessian(power_loop, mode="source")(rng.standard_normal((3, 3)))
    assert np.shape(H) == (3, 3, 3, 3)


def test_hvp_differentiates_the_tangent_alone():
    """Without a loop, reverse mode runs over f_tangent, which leaves out the value's own
    computation (the loss's final mean) and its cotangent."""
    from astgrad import higher

    rng = np.random.default_rng(0)
    args = (rng.standard_normal((4, 5)), rng.standard_normal(5), rng.standard_normal((5, 5)))
    args = (*args, rng.standard_normal(5), rng.standard_normal((5, 1)), rng.standard_normal(1))
    args = (*args, rng.standard_normal((3, 4)), rng.standard_normal((3, 1)))
    tangents = tuple(rng.standard_normal(np.shape(a)) for a in args[:6]) + (None, None)
    ag.hvp(mlp_matmul, args, tangents, mode="source")
    entry = higher._ready_hvps[mlp_matmul][ag.forward.host_key(args, tangents, "source")]
    forward, pair = entry[0].source, entry[4]
    assert not pair and "def mlp_matmul_tangent(" in forward
    assert "np.mean(power)" not in forward and forward.rstrip().endswith("return dmean")

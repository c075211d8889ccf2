"""SciPy's functions differentiated in user code (their rules are checked one by one in
the spec tables, ``rule_specs.SPECS``): in generated source and in auto mode against
finite differences, and twice (``ag.hvp``) through the rules the derivatives call."""

from __future__ import annotations

import numpy as np
import pytest
from numeric import assert_close

import astgrad as ag

special = pytest.importorskip("scipy.special")
stats = pytest.importorskip("scipy.stats")


def loss(x, w):
    scores = x @ w
    return (
        special.logsumexp(scores, axis=1).sum()
        - special.log_softmax(scores, axis=1)[:, 0].sum()
        + special.logsumexp(x, b=w[:, 0], keepdims=True).sum()
        + special.expit(x).sum()
        + special.gammaln(x * x + 1).sum()
        + special.polygamma(1, x * x + 1).sum()
    )


def _numeric_grad(f, x, eps=1e-6):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        grad[i] = (f(up) - f(down)) / (2 * eps)
    return grad


@pytest.fixture
def inputs():
    rng = np.random.default_rng(0)
    return rng.uniform(-1.0, 1.0, (3, 4)), rng.uniform(0.5, 1.5, (4, 2))


@pytest.mark.parametrize("mode", ["source", "auto"])
def test_user_function_matches_finite_differences(inputs, mode):
    x, w = inputs
    got = ag.grad(loss, wrt=(0, 1), mode=mode)(x, w)
    assert_close(got[0], _numeric_grad(lambda v: loss(v, w), x), rtol=1e-5, what="d/dx")
    assert_close(got[1], _numeric_grad(lambda v: loss(x, v), w), rtol=1e-5, what="d/dw")


def test_logsumexp_alone_in_source_mode():
    def f(x):
        return special.logsumexp(x)

    x = np.array([0.5, -1.0, 2.0])
    assert_close(ag.grad(f, mode="source")(x), special.softmax(x), what="logsumexp")


@pytest.mark.parametrize("mode", ["source", "auto"])
def test_hessian_vector_product(inputs, mode):
    x, w = inputs
    v = np.random.default_rng(1).standard_normal(x.shape)

    def f(x):
        return loss(x, w)

    got = ag.hvp(f, (x,), (v,), mode=mode)
    gradient = ag.grad(f, mode="source")
    eps = 1e-5
    expected = (gradient(x + eps * v) - gradient(x - eps * v)) / (2 * eps)
    assert_close(got, expected, rtol=1e-4, atol=1e-6, what="hvp")


def test_ufuncs_on_the_tape():
    x = ag.tensor([0.3, 1.2, 2.0], requires_grad=True)
    (special.expit(x) * special.gamma(x) + special.erfinv(x / 3)).sum().backward()
    xv = x.data
    expected = _numeric_grad(
        lambda v: float((special.expit(v) * special.gamma(v) + special.erfinv(v / 3)).sum()), xv
    )
    assert_close(x.grad.data, expected, rtol=1e-5, what="tape")


@pytest.mark.parametrize("mode", ["source", "auto"])
def test_solve_triangular_and_norm_in_user_code(mode):
    linalg = pytest.importorskip("scipy.linalg")
    stats = pytest.importorskip("scipy.stats")
    a = np.array([[2.0, 0.5, -0.3], [0.4, -1.5, 0.2], [0.1, 0.7, 1.8]])

    def f(x):
        y = linalg.solve_triangular(a, x, lower=True)
        return (
            stats.norm.logpdf(y, 0.5, 2.0).sum()
            + stats.norm.logcdf(x).sum()
            + stats.norm.cdf(x, loc=x * 0.1).sum()
        )

    x = np.array([0.3, -0.2, 1.1])
    assert_close(ag.grad(f, mode=mode)(x), _numeric_grad(f, x), rtol=1e-5, what="grad")
    v = np.array([1.0, -0.5, 0.2])
    gradient = ag.grad(f, mode="source")
    expected = (gradient(x + 1e-5 * v) - gradient(x - 1e-5 * v)) / 2e-5
    assert_close(ag.hvp(f, (x,), (v,), mode=mode), expected, rtol=1e-4, atol=1e-6, what="hvp")


@pytest.mark.parametrize("mode", ["source", "auto"])
def test_cholesky_solve_in_user_code(mode):
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(2)
    m = rng.uniform(-1.0, 1.0, (3, 3))
    a0 = m @ m.T + 3 * np.eye(3)
    b0 = rng.uniform(-1.0, 1.0, 3)

    def f(a, b):
        x = linalg.cho_solve(linalg.cho_factor(a), b)
        root = linalg.sqrtm(a)
        return np.sum(np.sin(x)) + np.sum(linalg.solve_sylvester(a, root, np.outer(b, b)))

    got = ag.grad(f, wrt=(0, 1), mode=mode)(a0, b0)
    assert_close(got[0], _numeric_grad(lambda v: f(v, b0), a0), rtol=1e-5, what="d/da")
    assert_close(got[1], _numeric_grad(lambda v: f(a0, v), b0), rtol=1e-5, what="d/db")


def _distributions(x, shape):
    return (
        stats.t.logpdf(x, shape, 0.2, 1.5).sum()
        + stats.t.cdf(x, shape + 1.0).sum()
        + stats.gamma.logpdf(x * x + 0.5, shape).sum()
        + stats.gamma.cdf(x * x + 0.5, shape, scale=2.0).sum()
        + stats.beta.logpdf(stats.norm.cdf(x), shape, 2.0).sum()
        + stats.chi2.logcdf(x * x + 0.5, shape + 1.0).sum()
        + stats.poisson.logpmf(np.array([0.0, 2.0, 3.0]), shape).sum()
        + stats.dirichlet.logpdf(np.array([0.2, 0.3, 0.5]), x * x + shape)
        + stats.multivariate_normal.logpdf(x, np.zeros(3), np.eye(3) * shape)
    )


@pytest.mark.parametrize("mode", ["source", "auto"])
def test_distributions_in_user_code(mode):
    x, shape = np.array([0.3, -0.4, 1.1]), 2.5
    got = ag.grad(_distributions, wrt=(0, 1), mode=mode)(x, shape)
    assert_close(got[0], _numeric_grad(lambda v: _distributions(v, shape), x), rtol=1e-5)
    eps = 1e-6
    expected = (_distributions(x, shape + eps) - _distributions(x, shape - eps)) / (2 * eps)
    assert_close(got[1], expected, rtol=1e-5, what="d/dshape")


def test_distributions_twice():
    x = np.array([0.3, -0.4, 1.1])
    v = np.array([1.0, -0.5, 0.2])

    def f(x):
        return _distributions(x, 2.5)

    gradient = ag.grad(f, mode="source")
    expected = (gradient(x + 1e-5 * v) - gradient(x - 1e-5 * v)) / 2e-5
    assert_close(ag.hvp(f, (x,), (v,)), expected, rtol=1e-4, atol=1e-6, what="hvp")


@pytest.mark.parametrize("mode", ["source", "auto"])
def test_signal_convolution_in_user_code(mode):
    signal = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(3)
    image, kernel = rng.uniform(-1.0, 1.0, (5, 4)), rng.uniform(-1.0, 1.0, (3, 2))

    def f(image, kernel):
        smooth = signal.convolve(image, kernel, mode="same")
        return np.sum(np.tanh(signal.correlate(smooth, kernel, mode="valid")))

    got = ag.grad(f, wrt=(0, 1), mode=mode)(image, kernel)
    assert_close(got[0], _numeric_grad(lambda v: f(v, kernel), image), rtol=1e-5)
    assert_close(got[1], _numeric_grad(lambda v: f(image, v), kernel), rtol=1e-5)

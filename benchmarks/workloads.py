"""Workloads written as users write them, each with a hand-written NumPy gradient (issue 18).

``benchmarks/matrix.py`` times them; ``tests/test_workloads.py`` checks every hand-written
gradient against finite differences and astgrad's gradients (source, auto, tape) against
the hand-written ones. Each :class:`Workload` holds:

* ``function``: the program as a user writes it: plain NumPy, whichever spelling of a
  product, reduction or activation that user prefers;
* ``make_args(rng)``: its arguments at the benchmark's sizes, by parameter name;
* ``wrt``: the parameters differentiated;
* ``by_hand``: what an expert writes for the loss and its gradient, taking the same
  arguments and returning ``(loss, (gradient of each wrt parameter, ...))``. Its forward
  pass is the workload's own, spelled the same way (so that the ratio to it measures what
  differentiating adds, not a faster spelling of the forward); its backward pass is what
  an expert writes for speed: BLAS products with ``@`` whatever the forward's spelling,
  what the forward computed reused, gradients that are zero (the max subtracted in a
  softmax) skipped;
* ``notes``: what the workload exercises.

Peers (HIPS autograd, JAX) run the same ``function`` with its global ``np`` rebound, so the
functions use only what ``autograd.numpy`` and ``jax.numpy`` also have; ``no_peers`` says
why the few that write into arrays in place or call SciPy cannot run on them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

try:
    import scipy.linalg
except ImportError:  # the SciPy workload is left out
    scipy = None


@dataclass(frozen=True)
class Workload:
    name: str
    function: Callable
    make_args: Callable[[np.random.Generator], dict[str, Any]]
    wrt: tuple[str, ...]
    by_hand: Callable
    notes: str
    #: why autograd and JAX cannot run ``function`` with ``np`` rebound (None: they can)
    no_peers: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """Every parameter of ``function``, in order."""
        return tuple(inspect.signature(self.function).parameters)

    @property
    def positions(self) -> tuple[int, ...]:
        return tuple(self.names.index(n) for n in self.wrt)

    def args(self, values: dict[str, Any]) -> tuple:
        """``values`` (as ``make_args`` returns them) in the order ``function`` takes them."""
        return tuple(values[n] for n in self.names)


# -- MLPs: three layers, biases, relu by np.maximum(0, z), four spellings of the product ----


def mlp_matmul(W1, b1, W2, b2, W3, b3, x, y):
    h1 = np.maximum(0, x @ W1 + b1)
    h2 = np.maximum(0, h1 @ W2 + b2)
    out = h2 @ W3 + b3
    return np.mean((out - y) ** 2)


def mlp_np_dot(W1, b1, W2, b2, W3, b3, x, y):
    h1 = np.maximum(0, np.dot(x, W1) + b1)
    h2 = np.maximum(0, np.dot(h1, W2) + b2)
    out = np.dot(h2, W3) + b3
    return np.sum((out - y) ** 2)


def mlp_dot_method(W1, b1, W2, b2, W3, b3, x, y):
    h1 = np.maximum(0, x.dot(W1) + b1)
    h2 = np.maximum(0, h1.dot(W2) + b2)
    out = h2.dot(W3) + b3
    return np.mean((out - y) ** 2)


def mlp_einsum(W1, b1, W2, b2, W3, b3, x, y):
    h1 = np.maximum(0, np.einsum("ij,jk->ik", x, W1) + b1)
    h2 = np.maximum(0, np.einsum("ij,jk->ik", h1, W2) + b2)
    out = np.einsum("ij,jk->ik", h2, W3) + b3
    return np.sum((out - y) ** 2)


def mlp_where(W1, b1, W2, b2, W3, b3, x, y):
    z1 = x @ W1 + b1
    h1 = np.where(z1 > 0, z1, 0.0)
    z2 = h1 @ W2 + b2
    h2 = z2 * (z2 > 0)
    out = h2 @ W3 + b3
    return np.square(out - y).mean()


def _mlp_by_hand(product, mean, W1, b1, W2, b2, W3, b3, x, y):
    """The relu MLP's loss and gradient, the forward's products by ``product(a, b)``."""
    z1 = product(x, W1) + b1
    h1 = np.maximum(0, z1)
    z2 = product(h1, W2) + b2
    h2 = np.maximum(0, z2)
    error = product(h2, W3) + b3 - y
    loss = np.sum(error * error)
    scale = 2.0
    if mean:
        loss /= error.size
        scale /= error.size
    dout = error * scale
    dW3 = h2.T @ dout
    db3 = dout.sum(axis=0)
    dz2 = dout @ W3.T
    dz2 *= z2 > 0
    dW2 = h1.T @ dz2
    db2 = dz2.sum(axis=0)
    dz1 = dz2 @ W2.T
    dz1 *= z1 > 0
    dW1 = x.T @ dz1
    db1 = dz1.sum(axis=0)
    return loss, (dW1, db1, dW2, db2, dW3, db3)


def mlp_matmul_by_hand(W1, b1, W2, b2, W3, b3, x, y):
    return _mlp_by_hand(np.matmul, True, W1, b1, W2, b2, W3, b3, x, y)


def mlp_np_dot_by_hand(W1, b1, W2, b2, W3, b3, x, y):
    return _mlp_by_hand(np.dot, False, W1, b1, W2, b2, W3, b3, x, y)


def mlp_dot_method_by_hand(W1, b1, W2, b2, W3, b3, x, y):
    return _mlp_by_hand(np.ndarray.dot, True, W1, b1, W2, b2, W3, b3, x, y)


def _einsum_product(a, b):
    return np.einsum("ij,jk->ik", a, b)


def mlp_einsum_by_hand(W1, b1, W2, b2, W3, b3, x, y):
    return _mlp_by_hand(_einsum_product, False, W1, b1, W2, b2, W3, b3, x, y)


def mlp_where_by_hand(W1, b1, W2, b2, W3, b3, x, y):
    return _mlp_by_hand(np.matmul, True, W1, b1, W2, b2, W3, b3, x, y)


def mlp_args(width: int, batch: int) -> Callable[[np.random.Generator], dict[str, Any]]:
    def make_args(rng: np.random.Generator) -> dict[str, Any]:
        scale = 1.0 / np.sqrt(width)
        return {
            "W1": rng.standard_normal((width, width)) * scale,
            "b1": rng.standard_normal(width) * 0.1,
            "W2": rng.standard_normal((width, width)) * scale,
            "b2": rng.standard_normal(width) * 0.1,
            "W3": rng.standard_normal((width, 1)) * scale,
            "b3": rng.standard_normal(1) * 0.1,
            "x": rng.standard_normal((batch, width)),
            "y": rng.standard_normal((batch, 1)),
        }

    return make_args


# -- RNNs ------------------------------------------------------------------------------------


def rnn_list(Wx, Wh, b, Wo, xs, h0, ys):
    states = [h0]
    for t in range(xs.shape[0]):
        states.append(np.tanh(xs[t] @ Wx + states[-1] @ Wh + b))
    outputs = np.stack(states[1:]) @ Wo
    return np.mean((outputs - ys) ** 2)


def rnn_list_by_hand(Wx, Wh, b, Wo, xs, h0, ys):
    states = [h0]
    for t in range(xs.shape[0]):
        states.append(np.tanh(xs[t] @ Wx + states[-1] @ Wh + b))
    H = np.stack(states[1:])
    error = H @ Wo - ys
    loss = np.mean(error * error)
    dout = error * (2.0 / error.size)
    hidden = H.shape[-1]
    dWo = H.reshape(-1, hidden).T @ dout.reshape(-1, dout.shape[-1])
    dH = dout @ Wo.T
    dWx = np.zeros_like(Wx)
    dWh = np.zeros_like(Wh)
    db = np.zeros_like(b)
    dh = np.zeros_like(h0)
    for t in range(xs.shape[0] - 1, -1, -1):
        h = states[t + 1]
        da = (dh + dH[t]) * (1.0 - h * h)
        dWx += xs[t].T @ da
        dWh += states[t].T @ da
        db += da.sum(axis=0)
        dh = da @ Wh.T
    return loss, (dWx, dWh, db, dWo)


def rnn_list_args(rng: np.random.Generator) -> dict[str, Any]:
    steps, batch, inputs, hidden = 50, 8, 16, 64
    return {
        "Wx": rng.standard_normal((inputs, hidden)) / np.sqrt(inputs),
        "Wh": rng.standard_normal((hidden, hidden)) / np.sqrt(hidden),
        "b": rng.standard_normal(hidden) * 0.1,
        "Wo": rng.standard_normal((hidden, 1)) / np.sqrt(hidden),
        "xs": rng.standard_normal((steps, batch, inputs)),
        "h0": np.zeros((batch, hidden)),
        "ys": rng.standard_normal((steps, batch, 1)),
    }


def rnn_zeros(Wx, Wh, b, xs):
    h = np.zeros((xs.shape[1], Wh.shape[0]))
    for t in range(xs.shape[0]):
        h = np.tanh(np.dot(xs[t], Wx) + np.dot(h, Wh) + b)
    return np.sum(h * h)


def rnn_zeros_by_hand(Wx, Wh, b, xs):
    h = np.zeros((xs.shape[1], Wh.shape[0]))
    states = [h]
    for t in range(xs.shape[0]):
        h = np.tanh(np.dot(xs[t], Wx) + np.dot(h, Wh) + b)
        states.append(h)
    loss = np.sum(h * h)
    dh = 2.0 * h
    dWx = np.zeros_like(Wx)
    dWh = np.zeros_like(Wh)
    db = np.zeros_like(b)
    for t in range(xs.shape[0] - 1, -1, -1):
        h = states[t + 1]
        da = dh * (1.0 - h * h)
        dWx += xs[t].T @ da
        dWh += states[t].T @ da
        db += da.sum(axis=0)
        dh = da @ Wh.T
    return loss, (dWx, dWh, db)


def rnn_zeros_args(rng: np.random.Generator) -> dict[str, Any]:
    steps, batch, inputs, hidden = 50, 8, 16, 64
    return {
        "Wx": rng.standard_normal((inputs, hidden)) / np.sqrt(inputs),
        "Wh": rng.standard_normal((hidden, hidden)) / np.sqrt(hidden),
        "b": rng.standard_normal(hidden) * 0.1,
        "xs": rng.standard_normal((steps, batch, inputs)),
    }


# -- classifiers -----------------------------------------------------------------------------


def softmax_xent(W, b, x, labels):
    logits = x @ W + b
    logits = logits - np.max(logits, axis=1, keepdims=True)
    log_probs = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
    return -np.mean(log_probs[np.arange(x.shape[0]), labels])


def softmax_xent_by_hand(W, b, x, labels):
    logits = x @ W + b
    logits -= np.max(logits, axis=1, keepdims=True)
    exps = np.exp(logits)
    sums = np.sum(exps, axis=1, keepdims=True)
    rows = np.arange(x.shape[0])
    loss = -np.mean(logits[rows, labels] - np.log(sums[:, 0]))
    dlogits = exps / sums  # the softmax: d(loss)/d(logits) is (softmax - one-hot) / n
    dlogits[rows, labels] -= 1.0
    dlogits /= x.shape[0]
    return loss, (x.T @ dlogits, dlogits.sum(axis=0))


def softmax_xent_args(rng: np.random.Generator) -> dict[str, Any]:
    samples, features, classes = 256, 64, 10
    return {
        "W": rng.standard_normal((features, classes)) / np.sqrt(features),
        "b": rng.standard_normal(classes) * 0.1,
        "x": rng.standard_normal((samples, features)),
        "labels": rng.integers(0, classes, samples),
    }


def logistic(w, b, X, y):
    margins = y * (X @ w + b)
    return np.mean(np.log1p(np.exp(-margins))) + 1e-3 * np.sum(w * w)


def logistic_by_hand(w, b, X, y):
    margins = y * (X @ w + b)
    exps = np.exp(-margins)
    loss = np.mean(np.log1p(exps)) + 1e-3 * np.sum(w * w)
    # d/dm log(1 + e^-m) = -e^-m / (1 + e^-m)
    dz = y * (exps / (1.0 + exps)) * (-1.0 / y.size)
    return loss, (X.T @ dz + 2e-3 * w, float(np.sum(dz)))


def logistic_args(rng: np.random.Generator) -> dict[str, Any]:
    samples, features = 512, 32
    return {
        "w": rng.standard_normal(features) * 0.1,
        "b": 0.1,
        "X": rng.standard_normal((samples, features)),
        "y": np.where(rng.random(samples) < 0.5, -1.0, 1.0),
    }


# -- einsum ----------------------------------------------------------------------------------


def bilinear(A, X, Y):
    return np.sum(np.einsum("bi,ij,bj->b", X, A, Y) ** 2)


def bilinear_by_hand(A, X, Y):
    forms = np.einsum("bi,ij,bj->b", X, A, Y)
    dforms = 2.0 * forms
    dA = (X * dforms[:, None]).T @ Y
    dX = dforms[:, None] * (Y @ A.T)
    return np.sum(forms * forms), (dA, dX)


def bilinear_args(rng: np.random.Generator) -> dict[str, Any]:
    batch, size = 128, 32
    return {
        "A": rng.standard_normal((size, size)) / size,
        "X": rng.standard_normal((batch, size)),
        "Y": rng.standard_normal((batch, size)),
    }


def attention(Wq, Wk, Wv, X, target):
    q = X @ Wq
    k = X @ Wk
    v = X @ Wv
    scores = np.einsum("qd,kd->qk", q, k) / np.sqrt(q.shape[1])
    scores = scores - np.max(scores, axis=1, keepdims=True)
    weights = np.exp(scores)
    weights = weights / np.sum(weights, axis=1, keepdims=True)
    out = np.einsum("qk,kd->qd", weights, v)
    return np.mean((out - target) ** 2)


def attention_by_hand(Wq, Wk, Wv, X, target):
    q = X @ Wq
    k = X @ Wk
    v = X @ Wv
    scale = 1.0 / np.sqrt(q.shape[1])
    scores = np.einsum("qd,kd->qk", q, k) * scale
    scores -= np.max(scores, axis=1, keepdims=True)  # shifts the softmax: no gradient
    weights = np.exp(scores)
    weights /= np.sum(weights, axis=1, keepdims=True)
    error = np.einsum("qk,kd->qd", weights, v) - target
    loss = np.mean(error * error)
    dout = error * (2.0 / error.size)
    dweights = dout @ v.T
    dv = weights.T @ dout
    dscores = weights * (dweights - np.sum(dweights * weights, axis=1, keepdims=True)) * scale
    dq = dscores @ k
    dk = dscores.T @ q
    return loss, (X.T @ dq, X.T @ dk, X.T @ dv)


def attention_args(rng: np.random.Generator) -> dict[str, Any]:
    tokens, width = 64, 32
    return {
        "Wq": rng.standard_normal((width, width)) / np.sqrt(width),
        "Wk": rng.standard_normal((width, width)) / np.sqrt(width),
        "Wv": rng.standard_normal((width, width)) / np.sqrt(width),
        "X": rng.standard_normal((tokens, width)),
        "target": rng.standard_normal((tokens, width)),
    }


# -- a Gaussian process's negative log marginal likelihood -----------------------------------


def gp_nll(log_params, X, y):
    lengthscale = np.exp(log_params[0])
    signal = np.exp(log_params[1])
    noise = np.exp(log_params[2])
    sq = np.sum(X**2, axis=1)
    dist2 = sq[:, None] + sq[None, :] - 2 * X @ X.T
    K = signal * np.exp(-0.5 * dist2 / lengthscale**2) + noise * np.eye(X.shape[0])
    L = np.linalg.cholesky(K)
    alpha = np.linalg.solve(L.T, np.linalg.solve(L, y))
    return 0.5 * y @ alpha + np.sum(np.log(np.diag(L))) + 0.5 * len(y) * np.log(2 * np.pi)


def gp_nll_by_hand(log_params, X, y):
    lengthscale, signal, noise = np.exp(log_params)
    sq = np.sum(X**2, axis=1)
    dist2 = sq[:, None] + sq[None, :] - 2 * X @ X.T
    n = X.shape[0]
    kernel = signal * np.exp(-0.5 * dist2 / lengthscale**2)
    K = kernel + noise * np.eye(n)
    L = np.linalg.cholesky(K)
    alpha = np.linalg.solve(L.T, np.linalg.solve(L, y))
    loss = 0.5 * y @ alpha + np.sum(np.log(np.diag(L))) + 0.5 * n * np.log(2 * np.pi)
    # d(loss)/dK = (K^-1 - alpha alpha^T) / 2, K^-1 from the one Cholesky factor
    L_inv = np.linalg.solve(L, np.eye(n))
    dK = 0.5 * (L_inv.T @ L_inv - np.outer(alpha, alpha))
    grad = np.array([
        np.sum(dK * kernel * dist2) / lengthscale**2,  # dK/dlog(lengthscale)
        np.sum(dK * kernel),  # dK/dlog(signal)
        np.trace(dK) * noise,  # dK/dlog(noise)
    ])  # fmt: skip
    return loss, (grad,)


def gp_nll_cho(log_params, X, y):
    lengthscale, signal, noise = np.exp(log_params)
    dist2 = np.sum((X[:, None, :] - X[None, :, :]) ** 2, axis=-1)
    K = signal * np.exp(-0.5 * dist2 / lengthscale**2) + noise * np.eye(len(X))
    factor = scipy.linalg.cho_factor(K, lower=True)
    alpha = scipy.linalg.cho_solve(factor, y)
    log_det = 2 * np.sum(np.log(np.diag(factor[0])))
    return 0.5 * y @ alpha + 0.5 * log_det + 0.5 * len(y) * np.log(2 * np.pi)


def gp_nll_cho_by_hand(log_params, X, y):
    lengthscale, signal, noise = np.exp(log_params)
    dist2 = np.sum((X[:, None, :] - X[None, :, :]) ** 2, axis=-1)
    n = len(X)
    kernel = signal * np.exp(-0.5 * dist2 / lengthscale**2)
    factor = scipy.linalg.cho_factor(kernel + noise * np.eye(n), lower=True)
    alpha = scipy.linalg.cho_solve(factor, y)
    log_det = 2 * np.sum(np.log(np.diag(factor[0])))
    loss = 0.5 * y @ alpha + 0.5 * log_det + 0.5 * n * np.log(2 * np.pi)
    dK = 0.5 * (scipy.linalg.cho_solve(factor, np.eye(n)) - np.outer(alpha, alpha))
    grad = np.array([
        np.sum(dK * kernel * dist2) / lengthscale**2,
        np.sum(dK * kernel),
        np.trace(dK) * noise,
    ])  # fmt: skip
    return loss, (grad,)


def gp_args(rng: np.random.Generator) -> dict[str, Any]:
    points, dims = 100, 3
    X = rng.standard_normal((points, dims))
    return {
        "log_params": np.log(np.array([1.2, 0.8, 0.1])),
        "X": X,
        "y": np.sin(X @ np.array([1.0, -0.5, 0.3])) + 0.1 * rng.standard_normal(points),
    }


# -- simulations -----------------------------------------------------------------------------


def heat_2d(u, k):
    for _ in range(20):
        laplacian = u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:] - 4 * u[1:-1, 1:-1]
        u = u.copy()
        u[1:-1, 1:-1] = u[1:-1, 1:-1] + k * laplacian
    return np.sum(u**2)


def heat_2d_by_hand(u, k):
    states = []
    for _ in range(20):
        states.append(u)
        laplacian = u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:] - 4 * u[1:-1, 1:-1]
        u = u.copy()
        u[1:-1, 1:-1] += k * laplacian
    loss = np.sum(u * u)
    du = 2.0 * u
    dk = 0.0
    for previous in reversed(states):
        inner = du[1:-1, 1:-1]
        laplacian = (
            previous[:-2, 1:-1]
            + previous[2:, 1:-1]
            + previous[1:-1, :-2]
            + previous[1:-1, 2:]
            - 4 * previous[1:-1, 1:-1]
        )
        dk += float(np.sum(inner * laplacian))
        dlap = k * inner  # the step's output equals its input but for k * laplacian inside
        du = du.copy()
        du[1:-1, 1:-1] -= 4 * dlap
        du[:-2, 1:-1] += dlap
        du[2:, 1:-1] += dlap
        du[1:-1, :-2] += dlap
        du[1:-1, 2:] += dlap
    return loss, (du, dk)


def heat_2d_args(rng: np.random.Generator) -> dict[str, Any]:
    return {"u": rng.random((64, 64)), "k": 0.2}


def heat_1d_loop(u, k):
    n = u.shape[0]
    for _ in range(20):
        u_new = u.copy()
        for i in range(1, n - 1):
            u_new[i] = u[i] + k * (u[i - 1] - 2 * u[i] + u[i + 1])
        u = u_new
    return np.sum(u**2)


def heat_1d_loop_states(u, k):
    """``heat_1d_loop``'s forward, keeping each step's input: (the states, the last u)."""
    n = u.shape[0]
    states = []
    for _ in range(20):
        states.append(u)
        u_new = u.copy()
        for i in range(1, n - 1):
            u_new[i] = u[i] + k * (u[i - 1] - 2 * u[i] + u[i + 1])
        u = u_new
    return states, u


def heat_1d_loop_by_hand(u, k):
    """The backward pass in the forward's style: an element loop, in place."""
    n = u.shape[0]
    states, u = heat_1d_loop_states(u, k)
    loss = np.sum(u * u)
    du_new = 2.0 * u
    dk = 0.0
    for u in reversed(states):
        du = np.zeros_like(u)
        du[0] = du_new[0]  # the ends are copied, not updated
        du[n - 1] = du_new[n - 1]
        for i in range(1, n - 1):
            g = du_new[i]
            dk += g * (u[i - 1] - 2 * u[i] + u[i + 1])
            du[i - 1] += g * k
            du[i] += g * (1 - 2 * k)
            du[i + 1] += g * k
        du_new = du
    return loss, (du_new, float(dk))


def heat_1d_loop_args(rng: np.random.Generator) -> dict[str, Any]:
    return {"u": rng.random(50), "k": 0.2}


def logistic_growth(y0, rate, capacity):
    y = y0
    for _ in range(200):
        y = y + 0.01 * rate * y * (1 - y / capacity)
    return (y - 0.8) ** 2


def logistic_growth_by_hand(y0, rate, capacity):
    saved = []
    y = y0
    for _ in range(200):
        saved.append(y)
        y = y + 0.01 * rate * y * (1 - y / capacity)
    loss = (y - 0.8) ** 2
    dy = 2.0 * (y - 0.8)
    drate = dcapacity = 0.0
    for y in reversed(saved):
        drate += dy * 0.01 * y * (1 - y / capacity)
        dcapacity += dy * 0.01 * rate * y * y / (capacity * capacity)
        dy *= 1 + 0.01 * rate * (1 - 2 * y / capacity)
    return loss, (dy, drate, dcapacity)


def logistic_growth_args(rng: np.random.Generator) -> dict[str, Any]:
    return {"y0": 0.1 + 0.1 * float(rng.random()), "rate": 1.5, "capacity": 1.2}


MLP_WRT = ("W1", "b1", "W2", "b2", "W3", "b3")
IN_PLACE = "it writes into an array in place, which the peer cannot differentiate"
CALLS_SCIPY = "it calls scipy.linalg, which rebinding np does not reach"
MLP_NOTE = "3-layer relu MLP (np.maximum(0, z)), width 64, batch 32, biases; "

WORKLOADS: list[Workload] = [
    Workload("MLP @", mlp_matmul, mlp_args(64, 32), MLP_WRT, mlp_matmul_by_hand,
             MLP_NOTE + "x @ W, mean squared error"),
    Workload("MLP np.dot", mlp_np_dot, mlp_args(64, 32), MLP_WRT, mlp_np_dot_by_hand,
             MLP_NOTE + "np.dot(x, W), sum of squared errors"),
    Workload("MLP x.dot", mlp_dot_method, mlp_args(64, 32), MLP_WRT, mlp_dot_method_by_hand,
             MLP_NOTE + "x.dot(W), mean squared error"),
    Workload("MLP einsum", mlp_einsum, mlp_args(64, 32), MLP_WRT, mlp_einsum_by_hand,
             MLP_NOTE + 'np.einsum("ij,jk->ik", x, W), sum of squared errors'),
    Workload("RNN list", rnn_list, rnn_list_args, ("Wx", "Wh", "b", "Wo"), rnn_list_by_hand,
             "50 tanh steps with @, states appended to a list, np.stack of the states, "
             "a read-out at every step, mean squared error"),
    Workload("RNN zeros", rnn_zeros, rnn_zeros_args, ("Wx", "Wh", "b"), rnn_zeros_by_hand,
             "50 tanh steps with np.dot from h = np.zeros(...), loss np.sum(h * h)"),
    Workload("softmax xent", softmax_xent, softmax_xent_args, ("W", "b"),
             softmax_xent_by_hand,
             "linear classifier, max-subtracted log-softmax, integer labels picked by "
             "fancy indexing, 256 samples, 10 classes"),
    Workload("logistic", logistic, logistic_args, ("w", "b"), logistic_by_hand,
             "logistic regression: np.log1p(np.exp(-margins)), a Python-float bias, "
             "an L2 penalty; 512 samples, 32 features"),
    Workload("einsum bilinear", bilinear, bilinear_args, ("A", "X"), bilinear_by_hand,
             'np.einsum("bi,ij,bj->b", X, A, Y) squared and summed; batch 128, size 32'),
    Workload("attention", attention, attention_args, ("Wq", "Wk", "Wv"), attention_by_hand,
             "one head, 64 tokens, width 32: softmax with max subtraction, np.einsum "
             "for scores and output, mean squared error"),
    Workload("GP likelihood", gp_nll, gp_args, ("log_params",), gp_nll_by_hand,
             "negative log marginal likelihood, RBF kernel on 100 points, "
             "np.linalg.cholesky and two np.linalg.solve; gradient in 3 log-hyperparameters"),
    *([Workload("GP cho_factor", gp_nll_cho, gp_args, ("log_params",), gp_nll_cho_by_hand,
                "the GP likelihood as SciPy users write it: scipy.linalg.cho_factor and "
                "cho_solve, the distances by broadcasting",
                no_peers=CALLS_SCIPY)] if scipy else []),
    Workload("stencil 2-D", heat_2d, heat_2d_args, ("u", "k"), heat_2d_by_hand,
             "20 explicit heat steps on 64x64 by slicing: five shifted slices, a copy "
             "and a write into its interior", no_peers=IN_PLACE),
    Workload("Euler ODE", logistic_growth, logistic_growth_args, ("y0", "rate", "capacity"),
             logistic_growth_by_hand,
             "200 explicit Euler steps of logistic growth on Python floats"),
    Workload("large MLP @", mlp_matmul, mlp_args(512, 256), MLP_WRT, mlp_matmul_by_hand,
             "the MLP @ at width 512, batch 256"),
    Workload("MLP where", mlp_where, mlp_args(64, 32), MLP_WRT, mlp_where_by_hand,
             "the MLP @ with relu as np.where(z > 0, z, 0.0) and as z * (z > 0), "
             "loss np.square(out - y).mean()"),
    Workload("heat 1-D loop", heat_1d_loop, heat_1d_loop_args, ("u", "k"),
             heat_1d_loop_by_hand,
             "20 explicit heat steps on 50 cells by an element loop "
             "(u_new[i] = u[i] + k * (u[i - 1] - 2 * u[i] + u[i + 1])); the hand-written "
             "backward is an element loop too", no_peers=IN_PLACE),
]  # fmt: skip

BY_NAME: dict[str, Workload] = {w.name: w for w in WORKLOADS}

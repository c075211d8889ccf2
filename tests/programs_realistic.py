"""Realistic programs: functions written the way users write them, with the idioms the
other tables leave out (array methods with keywords, reversed loops, tolerance loops,
fancy indexing, module constants, seeded random numbers inside, parameters in nested
containers, builtins on floats, ...).

Each is checked against float64 central finite differences in every mode and on the
stand-in GPU by test_realistic_programs.py. Programs tagged ``static`` must become
generated source entirely (``ag.explain(f).mode == "source"``).
"""

from __future__ import annotations

import math

import numpy as np
from conformance import Program

# -- module constants the programs read ------------------------------------------------------

COEFFS = np.array([0.5, -1.0, 0.25, 2.0])
EPS = 1e-8
TEMPERATURE = 0.7


def _normal(r, *shape):
    return r.standard_normal(shape)


def _positive(r, *shape):
    return r.uniform(0.5, 1.5, shape)


# -- helpers -----------------------------------------------------------------------------------


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _linear(x, W, b=None):
    out = x @ W
    if b is not None:
        out = out + b
    return out


def _split_gates(z, hidden):
    return z[:hidden], z[hidden : 2 * hidden], z[2 * hidden : 3 * hidden], z[3 * hidden :]


def _norm_stats(x, axis=-1):
    mu = x.mean(axis=axis, keepdims=True)
    var = x.var(axis=axis, keepdims=True)
    return mu, var, x.shape[axis]


# -- losses --------------------------------------------------------------------------------


def xent_integer_labels(logits, labels):
    z = logits - logits.max(axis=1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    n = logits.shape[0]
    return -log_probs[np.arange(n), labels].mean()


def logsumexp_rows(x):
    m = np.max(x, axis=1, keepdims=True)
    lse = m + np.log(np.sum(np.exp(x - m), axis=1, keepdims=True))
    return lse.sum()


def huber(pred, target, delta=1.0):
    r = pred - target
    small = np.abs(r) <= delta
    loss = np.where(small, 0.5 * r**2, delta * (np.abs(r) - 0.5 * delta))
    return loss.mean()


def gaussian_nll(mu, log_sigma, x):
    sigma = np.exp(log_sigma)
    z = (x - mu) / sigma
    return np.sum(0.5 * z**2 + log_sigma + 0.5 * math.log(2 * math.pi))


def clipped_bce(logits, y):
    p = _sigmoid(logits)
    p = np.clip(p, EPS, 1 - EPS)
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


def cosine_similarity(a, b):
    return a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + EPS)


def temperature_softmax(x, w):
    z = (x @ w) / TEMPERATURE
    e = np.exp(z - z.max())
    p = e / e.sum()
    return float(p @ np.arange(len(p)))


# -- layers -----------------------------------------------------------------------------------


def layer_norm_methods(x, gamma, beta):
    mu, var, n = _norm_stats(x)
    xhat = (x - mu) / (var + 1e-5) ** 0.5
    return ((gamma * xhat + beta) ** 2).sum() / n


def masked_attention(Q, K, V):
    d = Q.shape[-1]
    scores = Q @ K.T / np.sqrt(d)
    n = scores.shape[0]
    causal = np.triu(np.ones((n, n)), k=1) > 0
    scores = np.where(causal, -1e9, scores)
    w = np.exp(scores - scores.max(axis=-1, keepdims=True))
    w = w / w.sum(axis=-1, keepdims=True)
    return np.sum((w @ V) ** 2)


def lstm_unrolled(params, xs):
    W, U, b = params["W"], params["U"], params["b"]
    hidden = U.shape[0]
    h = np.zeros(hidden)
    c = np.zeros(hidden)
    for t in range(xs.shape[0]):
        z = W @ xs[t] + U.T @ h + b
        i, f, g, o = _split_gates(z, hidden)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
    return np.sum(h**2) + 0.1 * np.sum(c)


def mlp_layers_list(layers, x, y):
    h = x
    for k, (W, b) in enumerate(layers):
        h = _linear(h, W, b)
        if k < len(layers) - 1:
            h = np.maximum(h, 0.0)
    return np.mean((h - y) ** 2)


def nested_param_dict(params, x):
    h = np.tanh(x @ params["enc"]["W"] + params["enc"]["b"])
    out = h @ params["dec"]["W"]
    return np.sum(out**2)


def conv1d_valid(x, w):
    k = len(w)
    n = len(x) - k + 1
    out = np.zeros(n)
    for j in range(k):
        out = out + w[j] * x[j : j + n]
    return np.sum(np.tanh(out))


def max_pool_reshape(x):
    pooled = x.reshape(-1, 2).max(axis=1)
    return np.sum(pooled**2)


def dropout_fixed_seed(x, W):
    rng = np.random.default_rng(0)
    keep = rng.random(x.shape) > 0.3
    h = np.where(keep, x, 0.0) / 0.7
    return np.sum(np.tanh(h @ W))


def legacy_random_noise(x):
    np.random.seed(1)
    noise = np.random.randn(*x.shape)
    return np.sum((x + 0.1 * noise) ** 2)


def rbf_kernel(x, lengthscale):
    d = x[:, None] - x[None, :]
    K = np.exp(-0.5 * d**2 / lengthscale**2)
    return np.sum(K) + np.trace(K)


def poly_features(x, w):
    feats = np.stack([x**k for k in range(len(w))], axis=1)
    return np.sum((feats @ w) ** 2)


def matrix_factorization(U, V, ratings, observed):
    pred = U @ V.T
    err = (pred - ratings)[observed]
    return np.sum(err**2) + 0.01 * (np.sum(U * U) + np.sum(V * V))


# -- loops -------------------------------------------------------------------------------------


def horner_reversed(coeffs, x):
    result = 0.0
    for c in reversed(coeffs):
        result = result * x + c
    return np.sum(result)


def horner_backward_range(coeffs, x):
    n = len(coeffs)
    acc = coeffs[n - 1] * 1.0
    for i in range(n - 2, -1, -1):
        acc = acc * x + coeffs[i]
    return np.sum(acc)


def horner_global_coeffs(x):
    acc = np.zeros_like(x)
    for c in COEFFS[::-1]:
        acc = acc * x + c
    return np.sum(acc)


def newton_cube_root(a):
    x = a
    while abs(x**3 - a) > 1e-12:
        x = x - (x**3 - a) / (3 * x**2)
    return x


def fixed_point_cos(a):
    y = 0.0
    delta = 1.0
    while delta > 1e-13:
        new = a * math.cos(y)
        delta = abs(new - y)
        y = new
    return y


def ema_of_rows(X, decay):
    ema = X[0]
    for row in X[1:]:
        ema = decay * ema + (1 - decay) * row
    return np.sum(ema**2)


def zip_three(xs, ws, bs):
    total = 0.0
    for x, w, b in zip(xs, ws, bs):
        total += np.sum(np.tanh(x * w + b))
    return total


def first_row_over_threshold(X):
    for i, row in enumerate(X):
        if row.sum() > 0.5:
            return np.sum(row**2) * (i + 1)
    return np.sum(X) * 0.0


def stack_after_append(x, W):
    outs = []
    h = x
    for _ in range(3):
        h = np.tanh(h @ W)
        outs.append(h)
    seq = np.stack(outs)
    return np.sum(seq[-1] * seq[0]) + seq.mean()


def concatenate_pieces(x):
    pieces = [x[:2] * 2.0, np.sin(x[2:]), x[::-1][:1]]
    y = np.concatenate(pieces)
    return np.sum(y * np.arange(1, len(y) + 1))


def cumulative_penalty(x):
    smooth = np.sum(np.diff(x) ** 2)
    running = np.cumsum(x)
    return smooth + 0.1 * np.sum(running**2)


def accumulate_slices(x):
    y = np.zeros_like(x)
    y[1:] += x[:-1] * 2.0
    y[:-1] += x[1:] ** 2
    return np.sum(y * x)


# -- scalars, builtins, branches --------------------------------------------------------------


def builtins_on_floats(a, b):
    hi = max(a, b)
    lo = min(a, b, 0.5)
    return hi * hi - lo * 3.0 + abs(a - b)


def chained_comparison(x):
    s = np.sum(x)
    if -1.0 < s < 1.0:
        return np.sum(x**3)
    elif s >= 1.0:
        return np.sum(np.sqrt(np.abs(x) + 1.0))
    return np.sum(-x)


def fractional_powers(x):
    return np.sum(x**0.5 + x**-1 + x**1.5 + np.power(x, 3) + x ** (1 / 3))


def steps_and_negatives(x):
    a = x[::-1]
    b = x[-3:]
    c = x[1:-1:2]
    return np.sum(a[:3] * b) + np.sum(c**2) + x[-1] * x[-2]


def transposes_and_axes(X, w):
    col_means = X.mean(axis=0)
    centered = X - col_means
    cov = centered.T @ centered / (X.shape[0] - 1)
    return w @ cov @ w + centered.sum(axis=1, keepdims=True).sum()


def reshape_and_flatten(X):
    v = X.reshape(-1)
    M = v.reshape(X.shape[1], X.shape[0])
    return np.sum(M.T * X) + v[::2].sum()


def ellipsis_and_newaxis(X):
    last = X[..., 0]
    outer = last[:, None] * last[None, :]
    return np.sum(outer) + np.sum(X[..., -1] ** 2)


def combined_masks(x):
    inside = (x > -0.5) & (x < 0.5)
    return np.sum(x[inside] ** 2) + np.sum(np.where(~inside, x, 0.0))


def len_and_shape_scaling(x):
    n = len(x)
    m = x.shape[0]
    return np.sum(x**2) / n + np.sum(x) / (m * m)


def keyword_defaults(x, scale=2.0, *, shift=0.1, power=2):
    return np.sum((scale * x + shift) ** power)


def calls_with_keywords(x, w):
    a = keyword_defaults(x, shift=0.5)
    b = keyword_defaults(w, 3.0, power=3)
    return a + b * 0.1


def helper_returns_three(x):
    mu, var, n = _norm_stats(x, axis=0)
    return np.sum(var) * n + np.sum(mu**2)


def closure_over_constant(x):
    scale = 3.0
    offsets = np.array([0.1, 0.2, 0.3])

    def shifted(v):
        return v * scale + offsets

    return np.sum(shifted(x) ** 2)


def list_of_floats(ws, x):
    total = 0.0
    for i, w in enumerate(ws):
        total = total + w * x**i
    return total


def array_methods(x):
    return x.dot(x) + x.clip(-0.5, 0.5).sum() + x.copy().prod() + x.astype(float).std()


def sum_axes_tuple(X):
    return np.sum(X**2, axis=(0, 1)).sum() + X.sum(axis=(1, 2)).max()


def norm_rows(X):
    n = np.linalg.norm(X, axis=1)
    return np.sum(n) + np.sum(X / n[:, None])


def asserts_and_docstring(x):
    """A docstring, an assert and a comment, as users leave them in."""
    assert x.ndim == 1, f"expected a vector, got {x.ndim} dimensions"
    # scale and sum
    y = x * 2.0
    return np.sum(y**2)


def recursive_depth(x, depth):
    if depth == 0:
        return np.sum(x**2)
    return recursive_depth(np.sin(x), depth - 1)


def calls_recursive(x):
    return recursive_depth(x * 2.0, 3) + np.sum(x)


# -- more idioms: method arguments, tolerance loops, packed arguments ---------------------------


def positional_axes(x):
    return x.sum(0)[:3].dot(x.mean(1)) + np.sum(x, 1).max() + x.max(-1).sum() + np.mean(x, 0).sum()


def reshape_varargs(x):
    return (
        np.sum(x.reshape(2, -1) ** 2 * np.arange(6.0).reshape(2, 3))
        + x.std(ddof=1)
        + np.var(x, ddof=1)
    )


def item_scalar(x):
    s = np.sum(x**2).item()
    return s * 2.0


def tolist_sum(x):
    vals = x.tolist()
    return sum(v * v for v in vals)


def float_of_0d(x):
    s = float(np.sum(x * x))
    return s * 3.0


def list_index(x):
    return np.sum(x[[0, 2, 2]] ** 2) + np.sum(x[:, ::-1][0] if x.ndim > 1 else x[::-2])


def pairwise_matrix(x):
    n = len(x)
    K = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            K[i, j] = np.exp(-((x[i] - x[j]) ** 2))
    return np.sum(K @ x)


def window_slices(x):
    k = 3
    total = 0.0
    for i in range(len(x) - k + 1):
        total = total + np.max(x[i : i + k]) * np.sum(x[i : i + k])
    return total


def half_split(x):
    n = x.shape[0]
    a, b = x[: n // 2], x[n // 2 :]
    return np.sum(a * b[::-1])


def while_and_tolerance(a):
    x = 1.0
    it = 0
    err = 1.0
    while it < 50 and err > 1e-12:
        new = 0.5 * (x + a / x)
        err = abs(new - x)
        x = new
        it += 1
    return x


def for_break_tolerance(a):
    x = a
    for _ in range(100):
        new = math.cos(x) * 0.5 + a * 0.3
        if abs(new - x) < 1e-13:
            break
        x = new
    return x * x


def zip_comprehension(ws, xs):
    prods = [w * x for w, x in zip(ws, xs)]
    return sum(np.sum(p) for p in prods) + sum(np.sum(w * x) for w, x in zip(ws, xs))


def sgd_step_inside(params, x):
    grads = {k: 2 * v for k, v in params.items()}
    new = {k: v - 0.1 * grads[k] for k, v in params.items()}
    return np.sum(np.tanh(x @ new["W"] + new["b"]) ** 2)


def dict_get(params, x):
    W = params.get("W")
    b = params.get("b", 0.0)
    c = params.get("c", 0.5)
    return np.sum((x @ W + b) * c)


def default_array_arg(x, w=np.array([1.0, -2.0, 0.5])):  # noqa: B008 (as users write it)
    return np.sum(x * w) ** 2


def kwonly_wrt(x, *, scale=2.0):
    return np.sum(np.sin(x * scale))


def star_helper(*xs):
    total = 0.0
    for x in xs:
        total = total + np.sum(x**2)
    return total


def calls_star_helper(a, b):
    return star_helper(a, b, a * b)


def kwargs_helper(x, **opts):
    return np.sum(x * opts["scale"] + opts.get("shift", 0.0))


def calls_kwargs_helper(x):
    return kwargs_helper(x, scale=3.0) + kwargs_helper(x, scale=0.5, shift=1.0)


def ndim_branch(x):
    if x.ndim == 1:
        x = x[None, :]
    return np.sum(x[..., np.newaxis] * x[:, None, :])


def top_k(x):
    return np.sum(np.sort(x)[-3:] ** 2)


def einsum_batch(A, B):
    return np.sum(np.einsum("bij,bjk->bik", A, B) ** 2)


def norms(x, X):
    return np.linalg.norm(x, ord=1) + np.linalg.norm(X, "fro") + np.linalg.norm(X, axis=0).sum()


def array_from_floats(a, b):
    v = np.array([a, b, a * b])
    return np.sum(v**2)


def sum_builtin_arrays(xs):
    return np.sum(sum(xs) ** 2)


def print_in_loop(x):
    loss = np.sum(x**2)
    if loss > 1e9:
        print(f"large loss {loss:.3f}")
    return loss


def cumsum_methods(X):
    return np.sum(X.cumsum(axis=0) ** 2) + np.sum(X.cumprod(axis=1)) + X.clip(min=0.0).sum()


def float_temperature_branch(x, temperature):
    if temperature > 0:
        z = x / temperature
    else:
        z = x
    return np.log(np.sum(np.exp(z - z.max()))) * temperature


def augmented_in_nested(x):
    out = np.zeros_like(x)
    for i in range(len(x)):
        for j in range(i + 1):
            out[i] += x[j] * x[i]
    return np.sum(out**2)


def matrix_power_loop(A):
    P = np.eye(A.shape[0])
    for _ in range(3):
        P = P @ A
    return np.trace(P)


def x_at_x(x):
    return x @ x + x.T @ x + np.outer(x, x).sum()


def maximum_ties(x):
    return np.sum(np.maximum(x, 0.0)) + np.max(np.stack([x, x * 0.5]), axis=0).sum()


# -- aliasing-free mutation, containers copied, builtins ------------------------------------


def dup_getitem(x):
    return np.sum(x[np.array([0, 0, 1, 2, 2, 2])] ** 2)


def mask_imul(x):
    y = x.copy()
    y[y > 0] *= 2.0
    return np.sum(y * x)


def list_mutate(xs):
    ys = list(xs)
    ys[0] = ys[0] * 2.0
    return np.sum(ys[0] * ys[1])


def dict_update_loop(params):
    d = dict(params)
    for k in ["a", "b"]:
        d[k] = d[k] * 2.0 + 1.0
    return np.sum(d["a"] * d["b"])


def helper_pair(v):
    return v * 2.0, np.sin(v)


def tuple_helper_in_loop(x):
    total = 0.0
    h = x
    for _ in range(3):
        a, b = helper_pair(h)
        h = a * 0.3 + b
        total = total + np.sum(h)
    return total


def rows_assign_enumerate(X):
    Y = np.zeros_like(X)
    for i, row in enumerate(X):
        Y[i] = row * (i + 1.0) + np.roll(row, 1)
    return np.sum(Y**2)


def nested_list_params(layers, x):
    for layer in layers:
        x = np.tanh(x @ layer[0] + layer[1])
    return np.sum(x)


def ternary_in_comprehension(x):
    return sum((v * v if v > 0 else -v) for v in x)


def while_on_array_elem(x):
    y = x.copy()
    i = 0
    while y[0] < 5.0 and i < 20:
        y = y * 1.5
        i += 1
    return np.sum(y)


def swap_rows(X):
    Y = X.copy()
    Y[[0, 1]] = Y[[1, 0]]
    return np.sum(Y * np.arange(Y.size).reshape(Y.shape))


def reassign_in_branch_loop(x):
    best = x[0]
    for v in x[1:]:
        if v > best:
            best = v
    return best * 2.0


def sorted_builtin(xs):
    s = sorted([np.sum(x) for x in xs])
    return s[0] * 2.0 + s[-1]


def abs_float_and_pow(a, b):
    return abs(a) ** 1.5 + (a * b) ** 2 + pow(b, 3)


def round_trip_float(x):
    return float(x[0]) * float(np.max(x))


def _programs():
    P = Program
    n = _normal
    pos = _positive
    static = ("static",)
    return [
        # losses
        P(xent_integer_labels, lambda r: (n(r, 5, 3), r.integers(0, 3, 5)), tags=static),
        P(logsumexp_rows, lambda r: (n(r, 3, 4),), tags=static),
        P(huber, lambda r: (n(r, 6) * 2.0, n(r, 6)), (0, 1), tags=static),
        P(gaussian_nll, lambda r: (n(r, 4), n(r, 4) * 0.3, n(r, 4)), (0, 1), tags=static),
        P(clipped_bce, lambda r: (n(r, 5), r.integers(0, 2, 5).astype(float)), tags=static),
        P(cosine_similarity, lambda r: (n(r, 4), n(r, 4)), (0, 1), tags=static),
        P(temperature_softmax, lambda r: (n(r, 4, 3), n(r, 3)), (0, 1), tags=static),
        # layers
        P(layer_norm_methods, lambda r: (n(r, 3, 4), n(r, 4), n(r, 4)), (0, 1, 2), tags=static),
        P(masked_attention, lambda r: (n(r, 4, 3), n(r, 4, 3), n(r, 4, 2)), (0, 1, 2), tags=static),
        P(
            lstm_unrolled,
            lambda r: ({"W": n(r, 8, 3) * 0.5, "U": n(r, 2, 8) * 0.5, "b": n(r, 8)}, n(r, 4, 3)),
            (0, 1),
            tags=static,
        ),
        P(
            mlp_layers_list,
            lambda r: (
                [(n(r, 3, 4), n(r, 4)), (n(r, 4, 4), n(r, 4)), (n(r, 4, 2), n(r, 2))],
                n(r, 5, 3),
                n(r, 5, 2),
            ),
            (0, 1),
            tags=static,
        ),
        P(
            nested_param_dict,
            lambda r: (
                {"enc": {"W": n(r, 3, 4), "b": n(r, 4)}, "dec": {"W": n(r, 4, 2)}},
                n(r, 2, 3),
            ),
            (0, 1),
            tags=static,
        ),
        P(conv1d_valid, lambda r: (n(r, 7), n(r, 3)), (0, 1), tags=static),
        P(max_pool_reshape, lambda r: (n(r, 8),), tags=static),
        P(dropout_fixed_seed, lambda r: (n(r, 6), n(r, 6, 2)), (0, 1), tags=static),
        P(legacy_random_noise, lambda r: (n(r, 2, 3),), tags=static),
        P(rbf_kernel, lambda r: (n(r, 4), 0.8), (0, 1), tags=static),
        P(poly_features, lambda r: (n(r, 5), n(r, 4)), (0, 1), tags=static),
        P(
            matrix_factorization,
            lambda r: (n(r, 4, 2), n(r, 3, 2), n(r, 4, 3), r.random((4, 3)) > 0.4),
            (0, 1),
            tags=static,
        ),
        # loops
        P(horner_reversed, lambda r: (n(r, 4), n(r, 3)), (0, 1), tags=static),
        P(horner_reversed, lambda r: ([0.5, -1.0, 2.0], 0.7), (0, 1), tags=static),
        P(horner_backward_range, lambda r: (n(r, 5), n(r, 3)), (0, 1), tags=static),
        P(horner_global_coeffs, lambda r: (n(r, 3),), tags=static),
        P(newton_cube_root, lambda r: (float(r.uniform(1.0, 5.0)),), rtol=1e-4, tags=static),
        P(fixed_point_cos, lambda r: (float(r.uniform(0.3, 0.8)),), rtol=1e-4, tags=static),
        P(ema_of_rows, lambda r: (n(r, 5, 3), 0.8), (0, 1), tags=static),
        P(
            zip_three,
            lambda r: ([n(r, 2), n(r, 3)], [n(r, 2), n(r, 3)], [0.1, -0.2]),
            (0, 1, 2),
            tags=static,
        ),
        P(first_row_over_threshold, lambda r: (n(r, 5, 3),), tags=static),
        P(first_row_over_threshold, lambda r: (-pos(r, 3, 2),), tags=static),
        P(stack_after_append, lambda r: (n(r, 3), n(r, 3, 3) * 0.5), (0, 1), tags=static),
        P(concatenate_pieces, lambda r: (n(r, 5),), tags=static),
        P(cumulative_penalty, lambda r: (n(r, 6),), tags=static),
        P(accumulate_slices, lambda r: (n(r, 5),), tags=static),
        # scalars, builtins, branches
        P(builtins_on_floats, lambda r: (0.9, -0.4), (0, 1), tags=static),
        P(builtins_on_floats, lambda r: (0.2, 1.3), (0, 1), tags=static),
        P(chained_comparison, lambda r: (n(r, 4) * 0.2,), tags=static),
        P(chained_comparison, lambda r: (pos(r, 4),), tags=static),
        P(chained_comparison, lambda r: (-pos(r, 4),), tags=static),
        P(fractional_powers, lambda r: (pos(r, 4),), tags=static),
        P(steps_and_negatives, lambda r: (n(r, 7),), tags=static),
        P(transposes_and_axes, lambda r: (n(r, 5, 3), n(r, 3)), (0, 1), tags=static),
        P(reshape_and_flatten, lambda r: (n(r, 2, 3),), tags=static),
        P(ellipsis_and_newaxis, lambda r: (n(r, 3, 2),), tags=static),
        P(combined_masks, lambda r: (n(r, 8),), tags=static),
        P(len_and_shape_scaling, lambda r: (n(r, 5),), tags=static),
        P(keyword_defaults, lambda r: (n(r, 3),), tags=static),
        P(calls_with_keywords, lambda r: (n(r, 3), n(r, 3)), (0, 1), tags=static),
        P(helper_returns_three, lambda r: (n(r, 4, 2),), tags=static),
        P(closure_over_constant, lambda r: (n(r, 3),), tags=static),
        P(list_of_floats, lambda r: ([0.5, -1.5, 2.0], 0.8), (0, 1), tags=static),
        P(array_methods, lambda r: (n(r, 4),), tags=static),
        P(sum_axes_tuple, lambda r: (n(r, 2, 3, 4),), tags=static),
        P(norm_rows, lambda r: (n(r, 3, 4),), tags=static),
        P(asserts_and_docstring, lambda r: (n(r, 3),), tags=static),
        P(calls_recursive, lambda r: (n(r, 3),), tags=("fallback",)),
        # more idioms
        P(positional_axes, lambda r: (n(r, 3, 4),), tags=static),
        P(reshape_varargs, lambda r: (n(r, 6),), tags=static),
        P(item_scalar, lambda r: (n(r, 3),), tags=static),
        P(tolist_sum, lambda r: (n(r, 3),), tags=("fallback",)),
        P(float_of_0d, lambda r: (n(r, 3),), tags=static),
        P(list_index, lambda r: (n(r, 3, 3),), tags=static),
        P(list_index, lambda r: (n(r, 5),), tags=static),
        P(pairwise_matrix, lambda r: (n(r, 4),), tags=static),
        P(window_slices, lambda r: (n(r, 6),), tags=static),
        P(half_split, lambda r: (n(r, 6),), tags=static),
        P(while_and_tolerance, lambda r: (float(r.uniform(1.0, 4.0)),), rtol=1e-4, tags=static),
        P(for_break_tolerance, lambda r: (0.7,), rtol=1e-4, tags=static),
        P(
            zip_comprehension,
            lambda r: ([n(r, 2), n(r, 3)], [n(r, 2), n(r, 3)]),
            (0, 1),
            tags=static,
        ),
        P(sgd_step_inside, lambda r: ({"W": n(r, 3, 2), "b": n(r, 2)}, n(r, 4, 3)), tags=static),
        P(dict_get, lambda r: ({"W": n(r, 3, 2), "b": n(r, 2)}, n(r, 4, 3)), tags=("fallback",)),
        P(default_array_arg, lambda r: (n(r, 3),), tags=static),
        P(kwonly_wrt, lambda r: (n(r, 3),), tags=static),
        P(calls_star_helper, lambda r: (n(r, 3), n(r, 3)), (0, 1), tags=("fallback",)),
        P(calls_kwargs_helper, lambda r: (n(r, 3),), tags=static),
        P(ndim_branch, lambda r: (n(r, 3),), tags=static),
        P(ndim_branch, lambda r: (n(r, 2, 3),), tags=static),
        P(top_k, lambda r: (n(r, 6),), tags=static),
        P(einsum_batch, lambda r: (n(r, 2, 3, 4), n(r, 2, 4, 2)), (0, 1), tags=static),
        P(norms, lambda r: (n(r, 4), n(r, 3, 2)), (0, 1), tags=static),
        P(array_from_floats, lambda r: (0.3, -1.2), (0, 1), tags=static),
        P(sum_builtin_arrays, lambda r: ([n(r, 3), n(r, 3), n(r, 3)],), tags=static),
        P(print_in_loop, lambda r: (n(r, 3),), tags=static),
        P(cumsum_methods, lambda r: (n(r, 3, 3),), tags=static),
        P(float_temperature_branch, lambda r: (n(r, 4), 0.7), (0, 1), tags=static),
        P(augmented_in_nested, lambda r: (n(r, 4),), tags=static),
        P(matrix_power_loop, lambda r: (n(r, 3, 3),), tags=static),
        P(x_at_x, lambda r: (n(r, 3),), tags=static),
        P(maximum_ties, lambda r: (n(r, 5),), tags=static),
        # mutation, copied containers, builtins
        P(dup_getitem, lambda r: (n(r, 4),), tags=static),
        P(mask_imul, lambda r: (n(r, 5),), tags=static),
        P(list_mutate, lambda r: ([n(r, 3), n(r, 3)],), tags=("fallback",)),
        P(dict_update_loop, lambda r: ({"a": n(r, 3), "b": n(r, 3)},), tags=("fallback",)),
        P(tuple_helper_in_loop, lambda r: (n(r, 3),), tags=static),
        P(rows_assign_enumerate, lambda r: (n(r, 3, 4),), tags=static),
        P(
            nested_list_params,
            lambda r: ([[n(r, 3, 3), n(r, 3)], [n(r, 3, 2), n(r, 2)]], n(r, 4, 3)),
            (0, 1),
            tags=static,
        ),
        P(ternary_in_comprehension, lambda r: (n(r, 5),), tags=static),
        P(while_on_array_elem, lambda r: (np.abs(n(r, 3)) + 0.5,), tags=static),
        P(swap_rows, lambda r: (n(r, 3, 2),), tags=static),
        P(reassign_in_branch_loop, lambda r: (n(r, 5),), tags=static),
        P(sorted_builtin, lambda r: ([n(r, 3), n(r, 3), n(r, 3)],), tags=("fallback",)),
        P(abs_float_and_pow, lambda r: (-0.7, 1.3), (0, 1), tags=static),
        P(round_trip_float, lambda r: (n(r, 4),), tags=static),
    ]


PROGRAMS = _programs()

"""Straight-line programs: what the source transformation handles without control flow.

Each function is ordinary NumPy code as users write it. ``PROGRAMS`` pairs it with its
arguments and what to differentiate.
"""

from __future__ import annotations

import math

import numpy as np
from conformance import Program

# -- helpers the programs call -------------------------------------------------------------


def scale_shift(x, scale=2.0, shift=0.5):
    return x * scale + shift


def moments(x):
    m = np.mean(x)
    return m, np.mean((x - m) ** 2)


def affine(x, W, b):
    return x @ W + b


def layer(x, W, b):
    return np.tanh(affine(x, W, b))


def squash(v, *, power=2):
    return v**power / (1 + v**power)


def softplus(z):
    return np.log1p(np.exp(z))


# -- arithmetic ----------------------------------------------------------------------------


def add_sub(x, y):
    return np.sum(x + y - x * 0.5)


def mul_div(x, y):
    return np.sum(x * y / (y + 3.0))


def powers(x):
    return np.sum(x**2 + x**3 * 0.1 + 2.0**x)


def power_of_arrays(x, y):
    return np.sum(x**y)


def negation(x):
    return np.sum(-x * -2.0 + (+x))


def constants_left(x):
    return np.sum(1.0 - x + 2.0 * x - 3.0 / (x + 5.0))


def matmul_chain(A, B, v):
    return np.sum(A @ B @ v)


def matmul_vector(A, v):
    return v @ A @ v


def broadcasting(x, b):
    return np.sum((x + b) * b)


def floats_only(x, y):
    return x * y + x / y - y**2


def int_power(x):
    return np.sum(x**4)


# -- assignment and names ------------------------------------------------------------------


def reuse_name(x):
    y = x * 2
    y = y + x
    y = y * y
    return np.sum(y)


def overwrite_parameter(x):
    x = x * 3.0
    x = np.sin(x)
    return np.sum(x)


def augmented(x, y):
    z = x * 1.0
    z += y
    z *= x
    z -= 0.5
    z /= 2.0
    z **= 2
    return np.sum(z)


def tuple_assign(x, y):
    a, b = x * 2, y - 1
    return np.sum(a * b)


def swap(x, y):
    a, b = x, y
    a, b = b, a * 3
    return np.sum(a - b * b)


def chained_assign(x):
    a = b = x * 2
    return np.sum(a * b)


def unused_values(x, y):
    wasted = np.exp(y)
    keep = x * 2
    _ = wasted + keep
    return np.sum(keep)


def identity_scalar(x):
    return x


def constant_result(x):
    return 3.0


def walrus(x):
    return np.sum((y := x * 2) * y)


def annotated(x: np.ndarray) -> float:
    y: np.ndarray = x * 2
    return float(np.sum(y))


# -- conditional expressions ---------------------------------------------------------------


def conditional(x):
    return np.sum(x * 2 if np.sum(x) > 0 else x**2)


def conditional_scalar(x):
    y = x * x if x > 0.5 else -x
    return y * 3.0


def nested_conditional(x, flag):
    y = x if flag else (x * 2 if np.max(x) > 0 else x * 3)
    return np.sum(y)


# -- math and NumPy functions --------------------------------------------------------------


def math_functions(x):
    return math.sin(x) * math.exp(x) + math.log(x + 2.0) + math.sqrt(x + 1.0) + math.tanh(x)


def math_pow_atan2(x, y):
    return math.pow(x, 2.5) + math.atan2(y, x) + math.hypot(x, y)


def numpy_elementwise(x):
    return np.sum(np.sin(x) + np.cos(x) * np.tanh(x) + np.exp(-x) + np.log(x + 3.0))


def numpy_more(x):
    return np.sum(np.sqrt(x + 2.0) + np.arctan(x) + np.sinh(x) + np.log1p(x + 1.5) + np.abs(x))


def reductions(x):
    return np.sum(x, axis=0).mean() + np.max(x) + np.min(x, axis=1).sum() + np.prod(x + 2.0)


def reductions_keepdims(x):
    centered = x - np.mean(x, axis=1, keepdims=True)
    return np.sum(centered**2)


def dot_and_transpose(A, B):
    return np.sum(np.dot(A, B.T))


def maximum_minimum(x, y):
    return np.sum(np.maximum(x, y) + np.minimum(x, 0.3))


def where_select(x):
    return np.sum(np.where(x > 0, x, 0.1 * x))


def logsumexp(x):
    m = np.max(x)
    return m + np.log(np.sum(np.exp(x - m)))


def softmax_cross_entropy(logits, labels):
    shifted = logits - np.max(logits, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    return -np.mean(np.sum(labels * log_probs, axis=1))


def logistic_loss(W, b, x, y):
    p = 1 / (1 + np.exp(-(x @ W + b)))
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


def mlp(W1, b1, W2, b2, x, y):
    h = np.tanh(x @ W1 + b1)
    out = h @ W2 + b2
    return np.mean((out - y) ** 2)


def layer_norm(x, gamma, beta):
    mu = np.mean(x, axis=-1, keepdims=True)
    var = np.mean((x - mu) ** 2, axis=-1, keepdims=True)
    return np.sum(gamma * (x - mu) / np.sqrt(var + 1e-5) + beta)


def attention(Q, K, V):
    scores = Q @ K.T / np.sqrt(Q.shape[1])
    weights = np.exp(scores - np.max(scores, axis=1, keepdims=True))
    weights = weights / np.sum(weights, axis=1, keepdims=True)
    return np.sum(weights @ V)


# -- array methods and attributes ----------------------------------------------------------


def methods(x):
    return x.sum() + x.mean(axis=0).sum() + x.max() + x.T.sum(axis=1).prod()


def reshape_methods(x):
    y = x.reshape(3, 2)
    z = x.reshape((2, 3)).T
    return np.sum(y * z.reshape(-1, 2)) + x.flatten().sum() + x.ravel().max()


def transpose_axes(x):
    return np.sum(x.transpose(1, 0, 2) * np.transpose(x, (1, 0, 2)))


def squeeze_expand(x):
    return np.sum(np.expand_dims(x, 0).squeeze() * 2) + x.squeeze().sum()


def shape_reads(x):
    n, m = x.shape
    scale = 1.0 / (n * m + x.ndim + x.size)
    return np.sum(x) * scale


def dtype_reads(x):
    eps = np.finfo(x.dtype).eps
    return np.sum(x * (1 + eps))


# -- subscripts and slices -----------------------------------------------------------------


def index_int(x):
    return x[0] * x[2] + x[-1]


def index_slices(x):
    return np.sum(x[1:, :2] * x[:-1, 1:]) + np.sum(x[::2])


def index_2d(x):
    return x[0, 1] * x[1, 0] + np.sum(x[:, 0])


def index_array(x, idx):
    return np.sum(x[idx] ** 2)


def index_mask(x):
    return np.sum(x[x > 0] ** 2)


def index_none_ellipsis(x):
    return np.sum(x[None, ...] * x[..., None])


def unpack_rows(x):
    a, b = x
    return np.sum(a * b)


# -- user helpers --------------------------------------------------------------------------


def calls_helper(x):
    return np.sum(scale_shift(x))


def helper_keywords(x, s):
    return np.sum(scale_shift(x, shift=s, scale=3.0))


def helper_tuple_return(x):
    m, v = moments(x)
    return m * v


def helper_tuple_indexed(x):
    stats = moments(x)
    return stats[0] + stats[1] * 2


def helpers_nested(x, W, b):
    return np.sum(layer(x, W, b))


def helper_twice(x, y):
    return np.sum(scale_shift(x) * scale_shift(y, 0.5))


def helper_keyword_only(x):
    return np.sum(squash(x) + squash(x, power=3))


def helper_from_helper(z):
    return np.sum(softplus(z * 2))


# -- non-differentiable arguments ----------------------------------------------------------


def int_argument(x, n):
    return np.sum(x * n) + n


def bool_argument(x, flag):
    return np.sum(x * 2 if flag else x)


def string_argument(x, kind):
    return np.sum(x * 2) if kind == "double" else np.sum(x)


def shape_argument(x, shape):
    return np.sum(x.reshape(shape) * np.ones(shape))


def keyword_arguments(x, *, power=2, scale=1.0):
    return scale * np.sum(x**power)


def default_arguments(x, offset=1.0):
    return np.sum((x + offset) ** 2)


# -- the table -----------------------------------------------------------------------------


def vec(n=4, low=-1.0, high=1.0):
    return lambda rng: rng.uniform(low, high, n)


def _normal(rng, *shape):
    return rng.normal(size=shape)


def _positive(rng, *shape):
    return rng.uniform(0.5, 2.0, shape)


PROGRAMS = [
    Program(add_sub, lambda r: (_normal(r, 3, 4), _normal(r, 4)), (0, 1)),
    Program(mul_div, lambda r: (_normal(r, 3), _positive(r, 3)), (0, 1)),
    Program(powers, lambda r: (_normal(r, 5),)),
    Program(power_of_arrays, lambda r: (_positive(r, 3), _normal(r, 3)), (0, 1)),
    Program(negation, lambda r: (_normal(r, 3),)),
    Program(constants_left, lambda r: (_normal(r, 3),)),
    Program(matmul_chain, lambda r: (_normal(r, 3, 4), _normal(r, 4, 2), _normal(r, 2)), (0, 1, 2)),
    Program(matmul_vector, lambda r: (_normal(r, 3, 3), _normal(r, 3)), (0, 1)),
    Program(broadcasting, lambda r: (_normal(r, 3, 4), _normal(r, 4)), (0, 1)),
    Program(floats_only, lambda r: (0.7, 1.3), (0, 1)),
    Program(int_power, lambda r: (_normal(r, 4),)),
    Program(reuse_name, lambda r: (_normal(r, 3),)),
    Program(overwrite_parameter, lambda r: (_normal(r, 3),)),
    Program(augmented, lambda r: (_normal(r, 3), _normal(r, 3)), (0, 1)),
    Program(tuple_assign, lambda r: (_normal(r, 3), _normal(r, 3)), (0, 1)),
    Program(swap, lambda r: (_normal(r, 3), _normal(r, 3)), (0, 1)),
    Program(chained_assign, lambda r: (_normal(r, 3),)),
    Program(unused_values, lambda r: (_normal(r, 3), _normal(r, 3)), (0, 1)),
    Program(identity_scalar, lambda r: (0.3,)),
    Program(constant_result, lambda r: (0.3,)),
    Program(walrus, lambda r: (_normal(r, 3),)),
    Program(annotated, lambda r: (_normal(r, 3),)),
    Program(conditional, lambda r: (_normal(r, 3) + 1.0,)),
    Program(conditional, lambda r: (_normal(r, 3) - 2.0,)),
    Program(conditional_scalar, lambda r: (0.8,)),
    Program(conditional_scalar, lambda r: (0.2,)),
    Program(nested_conditional, lambda r: (_normal(r, 3), False)),
    Program(nested_conditional, lambda r: (_normal(r, 3), True)),
    Program(math_functions, lambda r: (0.6,)),
    Program(math_pow_atan2, lambda r: (1.3, 0.4), (0, 1)),
    Program(numpy_elementwise, lambda r: (_normal(r, 4),)),
    Program(numpy_more, lambda r: (r.uniform(0.2, 1.0, 4),)),
    Program(reductions, lambda r: (_normal(r, 3, 4),)),
    Program(reductions_keepdims, lambda r: (_normal(r, 3, 4),)),
    Program(dot_and_transpose, lambda r: (_normal(r, 3, 4), _normal(r, 2, 4)), (0, 1)),
    Program(maximum_minimum, lambda r: (_normal(r, 5), _normal(r, 5)), (0, 1)),
    Program(where_select, lambda r: (_normal(r, 5),)),
    Program(logsumexp, lambda r: (_normal(r, 6),)),
    Program(softmax_cross_entropy, lambda r: (_normal(r, 4, 3), np.eye(3)[[0, 2, 1, 1]])),
    Program(
        logistic_loss,
        lambda r: (
            _normal(r, 3, 1),
            _normal(r, 1),
            _normal(r, 5, 3),
            r.integers(0, 2, (5, 1)).astype(float),
        ),
        ("W", "b"),
    ),
    Program(
        mlp,
        lambda r: (
            _normal(r, 3, 4),
            _normal(r, 4),
            _normal(r, 4, 2),
            _normal(r, 2),
            _normal(r, 5, 3),
            _normal(r, 5, 2),
        ),
        (0, 1, 2, 3),
    ),
    Program(layer_norm, lambda r: (_normal(r, 3, 4), _normal(r, 4), _normal(r, 4)), (0, 1, 2)),
    Program(attention, lambda r: (_normal(r, 3, 4), _normal(r, 5, 4), _normal(r, 5, 2)), (0, 1, 2)),
    Program(methods, lambda r: (_normal(r, 3, 4),)),
    Program(reshape_methods, lambda r: (_normal(r, 6),)),
    Program(transpose_axes, lambda r: (_normal(r, 2, 3, 4),)),
    Program(squeeze_expand, lambda r: (_normal(r, 1, 3),)),
    Program(shape_reads, lambda r: (_normal(r, 3, 4),)),
    Program(dtype_reads, lambda r: (_normal(r, 3),)),
    Program(index_int, lambda r: (_normal(r, 4),)),
    Program(index_slices, lambda r: (_normal(r, 4, 3),)),
    Program(index_2d, lambda r: (_normal(r, 3, 3),)),
    Program(index_array, lambda r: (_normal(r, 5), np.array([0, 2, 2, 4]))),
    Program(index_mask, lambda r: (_normal(r, 6),)),
    Program(index_none_ellipsis, lambda r: (_normal(r, 3),)),
    Program(unpack_rows, lambda r: (_normal(r, 2, 3),)),
    Program(calls_helper, lambda r: (_normal(r, 3),)),
    Program(helper_keywords, lambda r: (_normal(r, 3), 0.7), (0, 1)),
    Program(helper_tuple_return, lambda r: (_normal(r, 4),)),
    Program(helper_tuple_indexed, lambda r: (_normal(r, 4),)),
    Program(
        helpers_nested, lambda r: (_normal(r, 2, 3), _normal(r, 3, 4), _normal(r, 4)), (0, 1, 2)
    ),
    Program(helper_twice, lambda r: (_normal(r, 3), _normal(r, 3)), (0, 1)),
    Program(helper_keyword_only, lambda r: (_positive(r, 3),)),
    Program(helper_from_helper, lambda r: (_normal(r, 3),)),
    Program(int_argument, lambda r: (_normal(r, 3), 3)),
    Program(bool_argument, lambda r: (_normal(r, 3), True)),
    Program(string_argument, lambda r: (_normal(r, 3), "double")),
    Program(shape_argument, lambda r: (_normal(r, 6), (2, 3))),
    Program(keyword_arguments, lambda r: (_normal(r, 3),)),
    Program(default_arguments, lambda r: (_normal(r, 3),)),
    Program(
        mlp,
        lambda r: tuple(
            a.astype(np.float32)
            for a in (
                _normal(r, 3, 4),
                _normal(r, 4),
                _normal(r, 4, 2),
                _normal(r, 2),
                _normal(r, 5, 3),
                _normal(r, 5, 2),
            )
        ),
        (0, 1),
        rtol=2e-3,
        atol=1e-4,
    ),
]

"""Rules for arithmetic operators and products: + - * / ** unary minus, @, dot."""

import numpy as np

from .helpers import (
    cast_like,
    dot_grad_left,
    dot_grad_right,
    matmul_grad_left,
    matmul_grad_right,
    unbroadcast,
)
from .registry import vjp_rule


@vjp_rule(np.add)
def add(g, ans, x, y):
    return unbroadcast(g, x), unbroadcast(g, y)


@vjp_rule(np.subtract)
def subtract(g, ans, x, y):
    return unbroadcast(g, x), unbroadcast(-g, y)


@vjp_rule(np.multiply)
def multiply(g, ans, x, y):
    return unbroadcast(g * y, x), unbroadcast(g * x, y)


@vjp_rule(np.true_divide)
def true_divide(g, ans, x, y):
    return unbroadcast(g / y, x), unbroadcast(-g * ans / y, y)


@vjp_rule(np.negative)
def negative(g, ans, x):
    return -g


@vjp_rule(np.positive)
def positive(g, ans, x):
    return g


@vjp_rule(np.power)
def power(g, ans, x, y):
    # The exponent lowered by one, except where it is 0: x ** 0 is constant, its slope 0
    # even at x = 0, where x ** -1 would make it NaN (0 * inf) or a ZeroDivisionError.
    return (
        unbroadcast(g * y * x ** (y - (y != 0)), x),
        # log(x) only where x != 0: there the exponent's gradient is 0 * log(0) -> 0.
        unbroadcast(g * ans * np.log(np.where(x == 0, 1, x)), y),
    )


@vjp_rule(np.matmul)
def matmul(g, ans, x, y):
    return matmul_grad_left(g, x, y), matmul_grad_right(g, x, y)


@vjp_rule(np.dot)
def dot(g, ans, a, b, out=None):
    return dot_grad_left(g, a, b), dot_grad_right(g, a, b)


# float(x) of a 0-d array (or a one-element one), and NumPy's scalar types: the gradient
# takes x's shape and dtype back (float32(x) of a float64 x gives a float64 gradient).
@vjp_rule(float, np.float64, np.float32, name="float")
def to_float(g, ans, x):
    return unbroadcast(cast_like(g, x), x)

"""Rules for elementwise functions of one argument."""

import numpy as np

from ..primitives import relu as relu_primitive
from ..primitives import sigmoid as sigmoid_primitive
from .registry import vjp_rule


@vjp_rule(np.exp)
def exp(g, ans, x):
    return g * ans


@vjp_rule(np.log)
def log(g, ans, x):
    return g / x


@vjp_rule(np.tanh)
def tanh(g, ans, x):
    return g * (1 - ans * ans)


@vjp_rule(np.sqrt)
def sqrt(g, ans, x):
    return g / (2 * ans)


@vjp_rule(np.absolute)
def absolute(g, ans, x):
    return g * np.sign(x)


@vjp_rule(sigmoid_primitive)
def sigmoid(g, ans, x):
    return g * ans * (1 - ans)


@vjp_rule(relu_primitive)
def relu(g, ans, x):
    return g * (x > 0)

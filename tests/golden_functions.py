"""Functions whose generated gradients are kept as golden files in tests/golden/."""

import math

import numpy as np


def logistic_loss(W, b, x, y):
    p = 1 / (1 + np.exp(-(x @ W + b)))
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


def dense(x, W, b):
    return np.tanh(x @ W + b)


def mlp_loss(W1, b1, W2, b2, x, y):
    h = dense(x, W1, b1)
    out = h @ W2 + b2
    return np.mean((out - y) ** 2)


def scalar_recurrence(a):
    for _ in range(100):
        a = a * 0.99 + 0.01 * a * a
    return a


def piecewise(x, t):
    if x > t:
        y = math.exp(x - t)
    else:
        y = 1.0 + (x - t)
    return y * x


def scalar_polynomial(a, b):
    for _ in range(3):
        c = 0.5 * a * b + a * 0.1
        a = c * 0.9 + 0.05 * c * b
        b = b - 0.2 * a * a
    return a * b


def softmax_cross_entropy(z, onehot):
    z = z - np.max(z, axis=1, keepdims=True)
    log_probs = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return -np.mean(np.sum(onehot * log_probs, axis=1))


def heat_equation(u, k):
    # An element loop as scientists write stencils: each element read is a number (u is a
    # vector: the example arguments give its ndim), added into du in place.
    n = u.shape[0]
    for _ in range(50):
        u_new = np.zeros(n)
        for i in range(1, n - 1):
            u_new[i] = u[i] + k * (u[i - 1] - 2 * u[i] + u[i + 1])
        u = u_new
    return np.sum(u * u)


class Particle:
    def __init__(self, x, v):
        self.x = x
        self.v = v

    def step(self, dt):
        self.v = self.v - dt * self.x  # a spring pulling to the origin
        self.x = self.x + dt * self.v


def particle_steps(p, dt):
    # A method assigning its object's attributes, on an argument (issue 17): inline, the
    # caller's particle moved as Python moves it, checked first that nothing else reaches it.
    for _ in range(10):
        p.step(dt)
    return np.sum(p.x**2)


def mlp_listed(params, x):
    # weights in a list, products spelled two ways: the list's kind gives its items' ndims,
    # so both gradients are the products themselves
    W1, b1, W2, b2 = params
    h = np.tanh(np.dot(x, W1) + b1)
    out = np.tensordot(h, W2, axes=1) + b2
    return np.mean(out**2)


#: name -> (function, wrt, example arguments: the gradient is specialized for their kinds)
GOLDEN = {
    "logistic_loss": (logistic_loss, ("W", "b"), ()),
    "mlp_loss": (mlp_loss, ("W1", "b1", "W2", "b2"), ()),
    "mlp_listed": (
        mlp_listed,
        0,
        ([np.ones((3, 4)), np.ones(4), np.ones((4, 2)), np.ones(2)], np.ones((5, 3))),
    ),
    "scalar_recurrence": (scalar_recurrence, 0, ()),
    # the same on a Python float: numbers only, temporaries recomputed, one line fused
    "scalar_recurrence_on_floats": (scalar_recurrence, 0, (0.5,)),
    "scalar_polynomial_on_floats": (scalar_polynomial, (0, 1), (0.5, -0.3)),
    "piecewise": (piecewise, 0, ()),
    "softmax_cross_entropy": (softmax_cross_entropy, 0, ()),
    "heat_equation": (heat_equation, (0, 1), (np.linspace(0.0, 1.0, 8), 0.1)),
    "particle_steps": (particle_steps, (0, 1), (Particle(np.ones(3), np.ones(3)), 0.1)),
}

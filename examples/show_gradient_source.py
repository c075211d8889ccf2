"""Several small functions and the gradients astgrad generates for them.

    python examples/show_gradient_source.py

Each gradient is ordinary Python: the forward computation, then one block per line of
the original function, in reverse, headed by a ``# grad of:`` comment.
"""

from __future__ import annotations

import math

import numpy as np

import astgrad as ag


def polynomial(x):
    """A Python float in, a float out."""
    return 3.0 * x**3 - 2.0 * x + 1.0


def damped(t, omega):
    """The math module, on floats."""
    return math.exp(-0.5 * t) * math.sin(omega * t)


def softmax_cross_entropy(logits, labels):
    """A numerically stable loss, written with array methods."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -(labels * log_probs).sum(axis=1).mean()


def relu_or_leak(x, leak):
    """A conditional expression: the gradient follows the branch that ran."""
    y = x if x > 0 else leak * x
    return y * y


def dense(x, W, b):
    return np.tanh(x @ W + b)


def two_layers(W1, W2, x):
    """A helper function, transformed too: its forward and backward appear below."""
    return np.sum(dense(dense(x, W1, 0.0), W2, 0.0) ** 2)


def geometric_growth(rate, steps):
    """A loop: each value the backward pass needs is saved on a stack as it is overwritten."""
    value = 1.0
    for _ in range(steps):
        value = value * (1.0 + rate)
    return value


EXAMPLES = [
    (polynomial, 0, (2.0,)),
    (damped, ("t", "omega"), (1.0, 3.0)),
    (softmax_cross_entropy, 0, (np.array([[1.0, 2.0, 0.5]]), np.array([[0.0, 1.0, 0.0]]))),
    (relu_or_leak, 0, (-1.5, 0.1)),
    (two_layers, ("W1", "W2"), (np.eye(2), np.eye(2), np.ones((1, 2)))),
    (geometric_growth, 0, (0.05, 10)),
]


def main() -> None:
    for function, wrt, args in EXAMPLES:
        print(f"# ---- {function.__name__}: {function.__doc__.strip()}")
        print(ag.source(function, wrt=wrt))
        gradient = ag.grad(function, wrt=wrt)(*args)
        print(f"# {function.__name__}{args!r:.60} -> gradient {gradient!r:.120}\n")


if __name__ == "__main__":
    main()

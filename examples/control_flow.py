"""Control flow in astgrad: a loop whose trip count depends on the data, the adjoint
astgrad generates for it, and an ``explain`` report for a function that sends one call to
the tape.

Run it: ``python examples/control_flow.py``
"""

from __future__ import annotations

import numpy as np

import astgrad as ag


def settle(x, rate):
    """Shrink ``x`` until its norm falls under 1: how many steps depends on ``x``."""
    steps = 0
    while np.sqrt(np.sum(x * x)) > 1.0:
        x = x * rate - 0.01 * np.tanh(x)
        steps += 1
        if steps >= 50:
            break
    return np.sum(x**2) + steps * 0.0


def accumulate_with_retries(x):
    """Calls a helper the transform cannot read (it uses try/except): that one call runs
    on the tape, the rest is generated source."""
    total = 0.0
    for scale in (0.5, 1.0, 2.0):
        total = total + np.sum(guarded_log(x * scale))
    return total


def guarded_log(v):
    try:
        return np.log(1.0 + v * v)
    except FloatingPointError:
        return v * 0.0


def main() -> None:
    x = np.array([3.0, -4.0, 1.0])
    gradient = ag.grad(settle)(x, 0.8)
    print("gradient of settle at", x, "is", np.round(gradient, 6))

    # The same gradient by central differences, to show the generated code is right.
    eps = 1e-6
    numeric = np.array(
        [(settle(x + eps * e, 0.8) - settle(x - eps * e, 0.8)) / (2 * eps) for e in np.eye(3)]
    )
    print("finite differences agree:", bool(np.allclose(gradient, numeric, rtol=1e-5, atol=1e-8)))

    print("\nThe generated adjoint (the stack holds what the backward pass needs):\n")
    print(ag.source(settle))

    report = ag.explain(accumulate_with_retries)
    print("explain(accumulate_with_retries):")
    print(report)
    print("\nmode:", report.mode)
    print("gradient:", np.round(ag.grad(accumulate_with_retries)(x), 6))


if __name__ == "__main__":
    main()

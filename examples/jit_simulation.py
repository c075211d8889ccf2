"""Fit the stiffness and damping of a simulated spring to an observed trajectory, with a
gradient astgrad generates and Numba compiles (``ag.grad(f, jit="numba")``).

The simulation is written the way it would be without astgrad: an explicit Euler loop
over floats. ``ag.value_and_grad(loss, wrt=("k", "c"), jit="numba")`` differentiates the
loop and compiles the gradient on its first call; Adam then fits ``k`` and ``c``.

    python examples/jit_simulation.py           # 2,000 steps, 300 iterations
    python examples/jit_simulation.py --quick   # fewer (what tests/test_examples.py runs)
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import astgrad as ag


def loss(k, c, observed, dt):
    """Mean squared distance between the simulated positions and ``observed``."""
    x = 1.0
    v = 0.0
    total = 0.0
    for t in range(observed.shape[0]):
        a = -k * x - c * v
        v = v + dt * a
        x = x + dt * v
        miss = x - observed[t]
        total = total + miss * miss
    return total / observed.shape[0]


def simulate(k: float, c: float, steps: int, dt: float) -> np.ndarray:
    positions = np.empty(steps)
    x, v = 1.0, 0.0
    for t in range(steps):
        v += dt * (-k * x - c * v)
        x += dt * v
        positions[t] = x
    return positions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a shorter fit")
    options = parser.parse_args()
    steps, iterations = (500, 150) if options.quick else (2000, 300)
    dt = 0.005
    true_k, true_c = 4.0, 0.3
    rng = np.random.default_rng(0)
    observed = simulate(true_k, true_c, steps, dt) + 0.01 * rng.standard_normal(steps)

    value_and_grad = ag.value_and_grad(loss, wrt=("k", "c"), jit="numba")
    params = np.array([3.0, 0.1])  # the initial guess
    start = time.perf_counter()
    value_and_grad(params[0], params[1], observed, dt)  # compiles for these argument types
    first = time.perf_counter() - start
    print(ag.explain(loss, params[0], params[1], observed, dt, wrt=("k", "c"), jit="numba"))
    print(f"first call (transform, one uncompiled run, compile): {first:.2f} s")

    # Adam on (k, c)
    rate, beta1, beta2 = 0.05, 0.9, 0.999
    m = np.zeros(2)
    s = np.zeros(2)
    start = time.perf_counter()
    for step in range(1, iterations + 1):
        value, (dk, dc) = value_and_grad(params[0], params[1], observed, dt)
        g = np.array([dk, dc])
        m = beta1 * m + (1 - beta1) * g
        s = beta2 * s + (1 - beta2) * g * g
        params -= rate * (m / (1 - beta1**step)) / (np.sqrt(s / (1 - beta2**step)) + 1e-12)
        if step % (iterations // 5) == 0:
            print(f"step {step:4d}: loss {value:.6f}, k = {params[0]:.4f}, c = {params[1]:.4f}")
    compiled = (time.perf_counter() - start) / iterations

    uncompiled = ag.value_and_grad(loss, wrt=("k", "c"))
    uncompiled(params[0], params[1], observed, dt)
    start = time.perf_counter()
    for _ in range(5):
        uncompiled(params[0], params[1], observed, dt)
    plain = (time.perf_counter() - start) / 5
    print(f"fitted: k = {params[0]:.3f} (true {true_k}), c = {params[1]:.3f} (true {true_c})")
    print(
        f"one gradient: {compiled * 1e6:.0f} us compiled, {plain * 1e6:.0f} us uncompiled "
        f"({plain / compiled:.0f}x)"
    )


if __name__ == "__main__":
    main()

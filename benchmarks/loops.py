"""Element loops, as scientists write stencils and particle codes, should have gradients
that cost a few forward passes (issue 18).

Run it with ``python benchmarks/loops.py`` (``--quick`` for fewer repeats). Three
workloads in pure Python over NumPy arrays, read and written one element at a time:

* ``heat``: an explicit heat equation, 200 cells x 50 steps
  (``u_new[i] = u[i] + k * (u[i - 1] - 2 * u[i] + u[i + 1])``);
* ``springs``: a chain of 32 particles, every pair joined by a spring (a double loop);
* ``euler``: a scalar ODE stepped 2,000 times by explicit Euler, its rate read from an
  array one element per step and its path written into one.

For each it prints the forward's time, the gradient's (``ag.value_and_grad(...,
mode="source")``, which runs the forward too) and a hand-written gradient's, as element
loops too (checked against central differences before anything is timed), and the ratios
gradient / forward (the target: at most 4) and astgrad / by hand. Each time is the best,
over several repeats, of the mean of several calls. It prints times; it asserts nothing
but the hand-written gradients.
"""

from __future__ import annotations

import argparse
import sys
import timeit
from collections.abc import Callable
from pathlib import Path

import numpy as np

try:
    import astgrad as ag
except ModuleNotFoundError:  # run from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import astgrad as ag

STEPS = 50


def heat(u, k):
    n = u.shape[0]
    for _ in range(STEPS):
        u_new = np.zeros(n)
        for i in range(1, n - 1):
            u_new[i] = u[i] + k * (u[i - 1] - 2 * u[i] + u[i + 1])
        u = u_new
    return np.sum(u * u)


def heat_by_hand(u, k):
    n = u.shape[0]
    states = [u]
    for _ in range(STEPS):
        u_new = np.zeros(n)
        for i in range(1, n - 1):
            u_new[i] = u[i] + k * (u[i - 1] - 2 * u[i] + u[i + 1])
        u = u_new
        states.append(u)
    value = np.sum(u * u)
    du = 2 * u
    dk = 0.0
    for t in range(STEPS - 1, -1, -1):
        before = states[t]
        dbefore = np.zeros(n)
        for i in range(1, n - 1):
            g = du[i]
            dk += g * (before[i - 1] - 2 * before[i] + before[i + 1])
            dbefore[i] += g * (1 - 2 * k)
            dbefore[i - 1] += g * k
            dbefore[i + 1] += g * k
        du = dbefore
    return value, (du, dk)


def springs(x, k):
    n = x.shape[0]
    energy = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            d = x[j] - x[i] - (j - i)
            energy = energy + 0.5 * k * d * d
    return energy


def springs_by_hand(x, k):
    n = x.shape[0]
    energy = 0.0
    dx = np.zeros(n)
    dk = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            d = x[j] - x[i] - (j - i)
            energy = energy + 0.5 * k * d * d
            dk += 0.5 * d * d
            dx[j] += k * d
            dx[i] -= k * d
    return energy, (dx, dk)


def euler(y0, rates, h):
    y = y0
    path = np.zeros(rates.shape[0])
    for i in range(rates.shape[0]):
        y = y + h * (rates[i] * y - y * y * y)
        path[i] = y
    return np.sum(path)


def euler_by_hand(y0, rates, h):
    n = rates.shape[0]
    ys = [y0]
    path = np.zeros(n)
    y = y0
    for i in range(n):
        y = y + h * (rates[i] * y - y * y * y)
        path[i] = y
        ys.append(y)
    value = np.sum(path)
    dy = 0.0
    drates = np.zeros(n)
    dh = 0.0
    for i in range(n - 1, -1, -1):
        dy += 1.0  # from np.sum(path), through path[i] = y
        before = ys[i]
        dh += dy * (rates[i] * before - before * before * before)
        drates[i] = dy * h * before
        dy = dy * (1 + h * (rates[i] - 3 * before * before))
    return value, (dy, drates, dh)


#: title -> (function, its gradient by hand, arguments, wrt)
WORKLOADS: dict[str, tuple[Callable, Callable, tuple, tuple[int, ...]]] = {
    "heat (200 cells x 50 steps)": (
        heat,
        heat_by_hand,
        (np.sin(np.linspace(0.0, 3.0, 200)), 0.1),
        (0, 1),
    ),
    "springs (32 particles, pairs)": (
        springs,
        springs_by_hand,
        (np.arange(32.0) + 0.1 * np.cos(np.arange(32.0)), 2.0),
        (0, 1),
    ),
    "euler (2,000 steps)": (
        euler,
        euler_by_hand,
        (0.5, np.linspace(0.5, 1.5, 2000), 0.001),
        (0, 1, 2),
    ),
}


def numeric_gradient(function: Callable, args: tuple, position: int, eps: float = 1e-6):
    """Central differences of ``function`` in ``args[position]`` (a float or an array)."""

    def at(value):
        return function(*args[:position], value, *args[position + 1 :])

    x = args[position]
    if isinstance(x, float):
        return (at(x + eps) - at(x - eps)) / (2 * eps)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[index] += eps
        down[index] -= eps
        grad[index] = (at(up) - at(down)) / (2 * eps)
    return grad


def check_by_hand(function: Callable, by_hand: Callable, args: tuple, wrt: tuple) -> None:
    """The hand-written gradient is the one finite differences (and astgrad) give."""
    value, gradients = by_hand(*args)
    assert np.isclose(value, function(*args))
    found = ag.grad(function, wrt=wrt, mode="source")(*args)
    for position, gradient, ours in zip(wrt, gradients, found):
        expected = numeric_gradient(function, args, position)
        np.testing.assert_allclose(gradient, expected, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(ours, gradient, rtol=1e-9, atol=1e-12)


def best_mean(call: Callable, number: int, repeat: int) -> float:
    call()
    return min(timeit.repeat(call, number=number, repeat=repeat)) / number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    options = parser.parse_args()
    number, repeat = (2, 3) if options.quick else (5, 7)
    rows = []
    for title, (function, by_hand, args, wrt) in WORKLOADS.items():
        check_by_hand(function, by_hand, args, wrt)
        gradient = ag.value_and_grad(function, wrt=wrt, mode="source")
        forward = best_mean(lambda: function(*args), number, repeat)  # noqa: B023
        ours = best_mean(lambda: gradient(*args), number, repeat)  # noqa: B023
        hand = best_mean(lambda: by_hand(*args), number, repeat)  # noqa: B023
        rows.append((title, forward, ours, hand))
    header = ("workload", "forward", "astgrad grad", "by hand", "grad / forward", "vs hand")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for title, forward, ours, hand in rows:
        cells = (
            title,
            f"{forward * 1e3:.2f} ms",
            f"{ours * 1e3:.2f} ms",
            f"{hand * 1e3:.2f} ms",
            f"{ours / forward:.2f}x",
            f"{ours / hand:.2f}x",
        )
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

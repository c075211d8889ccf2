"""Differentiating a long simulation in little memory: ``ag.grad(f, checkpoint=True)``.

A reaction-diffusion equation on a ring, u' = D u'' + r u (1 - u^2), integrated with
thousands of explicit steps, and a misfit between its final state and an observation: to
fit D and r, one needs the misfit's gradient. Reverse mode keeps what the backward pass
reads of every step, so its memory grows with the number of steps; with
``checkpoint=True`` the simulation's loop is cut into about sqrt(n) segments: the forward
pass keeps the state once per segment, and the backward pass runs each segment again,
saving, right before differentiating it. Memory grows with sqrt(n), for about one more
forward pass of time.

The script measures both peaks (``tracemalloc``) for growing numbers of steps, works out
what the unchecked gradient would need for a long run, and then differentiates that run
with checkpointing, checking the gradient against central differences of the misfit.
``--full`` takes a size whose unchecked gradient needs far more memory than a workstation
has (a few minutes); ``--figure peaks.png`` draws the peaks when matplotlib is installed.

Run it: ``python examples/long_simulation.py``
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc

import numpy as np

import astgrad as ag


def misfit(diffusion, rate, u, target, steps):
    """The mean squared distance between the state after ``steps`` steps and ``target``."""
    for _ in range(steps):
        laplacian = np.roll(u, 1) + np.roll(u, -1) - 2.0 * u
        u = u + diffusion * laplacian + 0.01 * rate * u * (1.0 - u * u)
    return np.mean((u - target) ** 2)


def start(width: int) -> np.ndarray:
    """A smooth initial state with a few bumps."""
    x = np.linspace(0.0, 2.0 * np.pi, width, endpoint=False)
    return 0.6 * np.sin(3 * x) * np.exp(np.cos(x) - 1.0)


def peak_of(gradient, *args) -> int:
    """The peak of memory one call of ``gradient`` allocates (after a first call, which
    generates its code)."""
    gradient(*args)
    tracemalloc.start()
    gradient(*args)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def machine_memory() -> float | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="a run that could not fit unchecked")
    parser.add_argument("--figure", metavar="PNG", help="draw the peaks (needs matplotlib)")
    args = parser.parse_args()
    wrt = ("diffusion", "rate")
    unchecked = ag.grad(misfit, wrt=wrt)
    checked = ag.grad(misfit, wrt=wrt, checkpoint=True)
    print(ag.explain(misfit, wrt=wrt, checkpoint=True))

    # -- peaks of one gradient call, as the simulation gets longer --------------------------
    width = 2000
    u0 = start(width)
    target = 0.8 * u0
    print(f"\npeak memory of one gradient call ({width} floats of state):")
    print(f"{'steps':>7} {'unchecked':>11} {'checkpointed':>13} {'ratio':>7}")
    rows = []
    for steps in (250, 500, 1000, 2000):
        plain = peak_of(unchecked, 0.2, 0.5, u0, target, steps)
        cut = peak_of(checked, 0.2, 0.5, u0, target, steps)
        rows.append((steps, plain, cut))
        print(f"{steps:>7} {plain / 1e6:>8.1f} MB {cut / 1e6:>10.2f} MB {cut / plain:>7.1%}")
        same = np.allclose(
            unchecked(0.2, 0.5, u0, target, steps), checked(0.2, 0.5, u0, target, steps)
        )
        assert same, "the checkpointed gradient differs from the unchecked one"
    per_float_step = rows[-1][1] / (rows[-1][0] * width)
    print("both gradients agree; unchecked, the peak grows with the steps "
          f"({per_float_step:.0f} bytes per float of state per step), checkpointed with "
          "their square root")  # fmt: skip

    # -- the long run ------------------------------------------------------------------------
    width, steps = (400_000, 10_000) if args.full else (10_000, 3_000)
    needed = per_float_step * width * steps
    memory = machine_memory()
    print(f"\nthe long run: {steps} steps of {width} floats")
    print(f"  unchecked it would need about {needed / 1e9:.1f} GB", end="")
    if memory is not None:
        verdict = "more than" if needed > memory else "within"
        print(f", {verdict} this machine's {memory / 1e9:.0f} GB", end="")
    print()
    u0 = start(width)
    target = 0.9 * u0
    tracemalloc.start()
    began = time.perf_counter()
    loss, (d_diffusion, d_rate) = ag.value_and_grad(misfit, wrt=wrt, checkpoint=True)(
        0.25, 0.8, u0, target, steps
    )
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(
        f"  checkpointed: misfit {loss:.6e}, d/dD {d_diffusion:.6e}, d/dr {d_rate:.6e}; "
        f"peak {peak / 1e6:.0f} MB, {time.perf_counter() - began:.1f} s"
    )
    eps = 1e-6
    difference = (
        misfit(0.25, 0.8 + eps, u0, target, steps) - misfit(0.25, 0.8 - eps, u0, target, steps)
    ) / (2 * eps)
    agrees = np.isclose(d_rate, difference, rtol=1e-5)
    print(f"  d/dr by central differences: {difference:.6e} (agrees: {agrees})")

    if args.figure:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("matplotlib is not installed: no figure")
            return
        steps_, plain, cut = zip(*rows)
        figure, axes = plt.subplots(figsize=(5, 3.5))
        axes.plot(steps_, np.array(plain) / 1e6, "o-", label="ag.grad(f)")
        axes.plot(steps_, np.array(cut) / 1e6, "o-", label="ag.grad(f, checkpoint=True)")
        axes.set_xlabel("steps")
        axes.set_ylabel("peak memory of one gradient (MB)")
        axes.legend()
        figure.tight_layout()
        figure.savefig(args.figure)
        print(f"figure: {args.figure}")


if __name__ == "__main__":
    main()

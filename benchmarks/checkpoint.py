"""Checkpointing: the memory and time of one gradient call, with and without.

Run it with ``python benchmarks/checkpoint.py`` (``--quick`` for smaller sizes).

Each workload's gradient is called once to generate its code, then measured by one call
for its peak memory (``tracemalloc``: what the call allocates beyond what it was given)
and by the best of three calls for its time (CPU time, ``time.process_time``, so that
other work on a shared machine counts little), unchecked and checkpointed; the two
gradients are checked to agree (float64, ``np.allclose``). The table gives both and
their ratios, with the targets of issue 19:

* **simulation**: 2,000 steps of a 1,000-float state (a reaction-diffusion step on a
  ring), ``ag.grad(f)`` against ``ag.grad(f, checkpoint=True)``: at most 10% of the
  memory and at most 2x the time;
* **RNN**: 200 steps of a gated recurrent cell, batch 16, width 128, the cell called
  plainly against the cell wrapped in ``ag.checkpoint``: at most 35% of the memory
  (differentiated with respect to the weights; the inputs are data).
"""

from __future__ import annotations

import os

# One thread, as in the other benchmarks, set before NumPy loads its thread pool.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

try:
    import astgrad as ag
except ModuleNotFoundError:  # run from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import astgrad as ag

# -- the simulation: a reaction-diffusion step on a ring, n steps ------------------------------


def simulate(u, rate, steps):
    """``steps`` explicit steps of u' = D u'' + rate * u (1 - u^2) on a ring."""
    for _ in range(steps):
        laplacian = np.roll(u, 1) + np.roll(u, -1) - 2.0 * u
        u = u + 0.1 * laplacian + 0.01 * rate * u * (1.0 - u * u)
    return np.sum(u * u)


# -- the RNN: a gated cell over T steps ------------------------------------------------------


def gru_cell(h, x, Wz, Uz, Wr, Ur, Wh, Uh):
    """A gated recurrent unit's step."""
    z = ag.sigmoid(x @ Wz + h @ Uz)
    r = ag.sigmoid(x @ Wr + h @ Ur)
    candidate = np.tanh(x @ Wh + (r * h) @ Uh)
    return (1.0 - z) * h + z * candidate


checkpointed_cell = ag.checkpoint(gru_cell)


def rnn(Wz, Uz, Wr, Ur, Wh, Uh, h, xs):
    for t in range(xs.shape[0]):
        h = gru_cell(h, xs[t], Wz, Uz, Wr, Ur, Wh, Uh)
    return np.mean(h * h)


def rnn_checkpointed(Wz, Uz, Wr, Ur, Wh, Uh, h, xs):
    for t in range(xs.shape[0]):
        h = checkpointed_cell(h, xs[t], Wz, Uz, Wr, Ur, Wh, Uh)
    return np.mean(h * h)


# -- measuring --------------------------------------------------------------------------------


@dataclass
class Row:
    workload: str
    peak: tuple[int, int]  # bytes: unchecked, checkpointed
    seconds: tuple[float, float]
    memory_target: float
    time_target: float | None

    def memory_ratio(self) -> float:
        return self.peak[1] / self.peak[0]

    def time_ratio(self) -> float:
        return self.seconds[1] / self.seconds[0]

    def passed(self) -> bool:
        ok = self.memory_ratio() <= self.memory_target
        if self.time_target is not None:
            ok = ok and self.time_ratio() <= self.time_target
        return ok


def peak_and_time(gradient: Callable, args: tuple) -> tuple[int, float, Any]:
    """One call's peak of memory allocated beyond what existed before it, the best time of
    three calls, and the gradients (after a first call, which generates the code)."""
    result = gradient(*args)
    tracemalloc.start()
    tracemalloc.reset_peak()
    before, _ = tracemalloc.get_traced_memory()
    gradient(*args)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    seconds = float("inf")
    for _ in range(3):
        start = time.process_time()
        gradient(*args)
        seconds = min(seconds, time.process_time() - start)
    return peak - before, seconds, result


def compare(
    name: str,
    unchecked: Callable,
    checked: Callable,
    args: tuple,
    memory_target: float,
    time_target: float | None,
) -> Row:
    peak_u, time_u, grads_u = peak_and_time(unchecked, args)
    peak_c, time_c, grads_c = peak_and_time(checked, args)
    for a, b in zip(_flat(grads_u), _flat(grads_c)):
        if not np.allclose(a, b, rtol=1e-9, atol=1e-12):
            raise AssertionError(f"{name}: the checkpointed gradient differs from the unchecked")
    return Row(name, (peak_u, peak_c), (time_u, time_c), memory_target, time_target)


def _flat(value: Any) -> list:
    return list(value) if isinstance(value, tuple) else [value]


def workloads(quick: bool) -> list[Row]:
    rng = np.random.default_rng(0)
    width, steps = (256, 400) if quick else (1000, 2000)
    u = 0.5 * np.sin(np.linspace(0, 2 * np.pi, width, endpoint=False)) + 0.05 * rng.normal(
        size=width
    )
    rows = [
        compare(
            f"simulation ({steps} steps x {width} floats, checkpoint=True)",
            ag.grad(simulate, wrt=(0, 1)),
            ag.grad(simulate, wrt=(0, 1), checkpoint=True),
            (u, 0.5, steps),
            0.10,
            2.0,
        )
    ]
    batch, hidden, inputs, length = (16, 64, 32, 50) if quick else (16, 128, 64, 200)
    weights = [
        rng.normal(size=shape) / np.sqrt(shape[0])
        for shape in [(inputs, hidden), (hidden, hidden)] * 3
    ]
    h = rng.normal(size=(batch, hidden)) * 0.1
    xs = rng.normal(size=(length, batch, inputs))
    wrt = tuple(range(6))
    rows.append(
        compare(
            f"RNN ({length} steps, batch {batch}, width {hidden}, ag.checkpoint cell)",
            ag.grad(rnn, wrt=wrt),
            ag.grad(rnn_checkpointed, wrt=wrt),
            (*weights, h, xs),
            0.35,
            None,
        )
    )
    return rows


def table(rows: list[Row]) -> str:
    lines = [
        "## Checkpointing (benchmarks/checkpoint.py)",
        "",
        "| workload | peak unchecked | peak checkpointed | memory ratio (target) "
        "| time unchecked | time checkpointed | time ratio (target) | |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        time_target = f" (<= {row.time_target:g}x)" if row.time_target is not None else ""
        lines.append(
            f"| {row.workload} | {row.peak[0] / 1e6:.2f} MB | {row.peak[1] / 1e6:.2f} MB "
            f"| {row.memory_ratio():.1%} (<= {row.memory_target:.0%}) "
            f"| {row.seconds[0] * 1e3:.1f} ms | {row.seconds[1] * 1e3:.1f} ms "
            f"| {row.time_ratio():.2f}x{time_target} | {'PASS' if row.passed() else 'MISS'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke test)")
    args = parser.parse_args(argv)
    print(table(workloads(args.quick)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A model written as classes should cost what the same model written as a function costs
(issue 17).

Run it with ``python benchmarks/classes.py`` (``--quick`` for fewer repeats). One
workload, a 3-layer tanh MLP on a batch of 32 whose loss is the mean squared output,
written twice: as ``MLP.loss(self, x)``, which calls the model, which calls each of its
``Dense`` layers holding ``W`` and ``b`` (differentiated with ``wrt="self"``: the
gradient is an ``MLP``; each call is a generated callee), and as
``loss(params, x)`` over a list of ``(W, b)`` tuples. For three widths it prints the
forward's time and the gradient's (``ag.value_and_grad(..., mode="source")``), and the
class-based gradient's time over the function's: the target is within 1.10x. Each time
is the best, over many short rounds in which the two take turns, of the mean of a few
calls (short rounds: on a loaded machine the best of them is one no other work
interrupted), in float64 on one thread.
It prints times; it asserts nothing.
"""

from __future__ import annotations

import os

# One thread, set before NumPy loads its BLAS thread pool.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import timeit  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

try:
    import astgrad as ag
except ModuleNotFoundError:  # run from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import astgrad as ag

BATCH = 32


class Dense:
    def __init__(self, W: np.ndarray, b: np.ndarray) -> None:
        self.W = W
        self.b = b

    def __call__(self, x):
        return np.tanh(x @ self.W + self.b)


class MLP:
    def __init__(self, layers: list[Dense]) -> None:
        self.layers = layers

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def loss(self, x):
        h = self(x)
        return np.mean(h * h)


def loss(params, x):
    h = x
    for W, b in params:
        h = np.tanh(h @ W + b)
    return np.mean(h * h)


def _time(seconds: float) -> str:
    return f"{seconds * 1e6:.1f}us" if seconds < 1e-3 else f"{seconds * 1e3:.2f}ms"


def measure(width: int, rounds: int, number: int) -> dict[str, tuple[float, float]]:
    """(forward, gradient) seconds per call of each way of writing the MLP: the best of
    ``rounds`` rounds of ``number`` calls, the two ways taking turns within each round
    (so that a change of load on the machine falls on both)."""
    rng = np.random.default_rng(0)
    shapes = [(width, width)] * 3
    params = [(rng.normal(size=s) / np.sqrt(width), rng.normal(size=s[1])) for s in shapes]
    model = MLP([Dense(W, b) for W, b in params])
    x = rng.normal(size=(BATCH, width))
    by_class = ag.value_and_grad(MLP.loss, wrt="self", mode="source")
    by_function = ag.value_and_grad(loss, mode="source")
    by_class(model, x), by_function(params, x)  # (generated once, here)
    calls = {
        "function": (lambda: loss(params, x), lambda: by_function(params, x)),
        "class": (lambda: model.loss(x), lambda: by_class(model, x)),
    }
    best = {name: [float("inf"), float("inf")] for name in calls}
    for _ in range(rounds):
        for name, pair in calls.items():
            for i, call in enumerate(pair):
                seconds = timeit.timeit(call, number=number) / number
                best[name][i] = min(best[name][i], seconds)
    return {name: (times[0], times[1]) for name, times in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    options = parser.parse_args()
    rounds, number = (30, 10) if options.quick else (300, 20)
    print("| width | written as | forward | gradient | class / function |")
    print("|-------|------------|---------|----------|------------------|")
    for width in (16, 64, 256):
        wide = width >= 256  # (a call takes milliseconds: fewer of them)
        times = measure(width, rounds // 2 if wide else rounds, number // 4 if wide else number)
        ratio = times["class"][1] / times["function"][1]
        for name in ("function", "class"):
            forward, gradient = times[name]
            shown = f"{ratio:.2f}x" if name == "class" else ""
            print(f"| {width} | {name} | {_time(forward)} | {_time(gradient)} | {shown} |")


if __name__ == "__main__":
    main()

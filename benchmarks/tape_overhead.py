"""How much the eager tape costs per small operation, against HIPS autograd and PyTorch (CPU).

Run it with ``python benchmarks/tape_overhead.py`` (``--quick`` for fewer repeats). Peers
that are not installed are skipped, with a line saying so; install them with
``pip install autograd torch==2.13.0`` (or ``pip install -e '.[bench]'``).

Two workloads whose arrays are tiny, so that the time is the tape's own bookkeeping:

* ``scalar-loop``: 100 steps of ``a = a * 0.99 + 0.01 * a * a`` on a 0-d value, then the
  gradient of the final ``a`` with respect to the first (4 recorded operations a step);
* ``mlp``: a 3-layer tanh network of width 32 on a batch of 8, forward and backward of the
  mean squared error with respect to all six weights and biases.

Each cell is the best, over several repeats, of the mean time of one forward+backward
(as ``timeit`` reports it); "per op" divides it by the operations one iteration records.
The ratio is the peer's time over astgrad's: above 1 means astgrad's tape is cheaper.
Everything runs in float64 on one thread.
"""

from __future__ import annotations

import os

# One thread for every library, set before NumPy or PyTorch load their thread pools.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import timeit  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

try:
    import astgrad as ag
except ModuleNotFoundError:  # run from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import astgrad as ag

STEPS = 100
WIDTH = 32
BATCH = 8
SCALAR_OPS = 4 * STEPS  # a*0.99, 0.01*a, (0.01*a)*a, + : four recorded operations a step
MLP_OPS = 11  # 3 matmuls, 3 bias adds, 2 tanh, subtract, square, mean


def _mlp_data(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    scale = 1.0 / np.sqrt(WIDTH)
    return {
        "x": rng.standard_normal((BATCH, WIDTH)),
        "y": rng.standard_normal((BATCH, 1)),
        "W1": rng.standard_normal((WIDTH, WIDTH)) * scale,
        "b1": rng.standard_normal(WIDTH) * 0.1,
        "W2": rng.standard_normal((WIDTH, WIDTH)) * scale,
        "b2": rng.standard_normal(WIDTH) * 0.1,
        "W3": rng.standard_normal((WIDTH, 1)) * scale,
        "b3": rng.standard_normal(1) * 0.1,
    }


PARAMS = ("W1", "b1", "W2", "b2", "W3", "b3")


# -- astgrad ----------------------------------------------------------------------------


def astgrad_scalar() -> Callable[[], float]:
    def run() -> float:
        a0 = ag.tensor(0.5, requires_grad=True)
        a = a0
        for _ in range(STEPS):
            a = a * 0.99 + 0.01 * a * a
        a.backward()
        return a0.grad.item()

    return run


def astgrad_mlp() -> Callable[[], list]:
    data = _mlp_data()
    x, y = ag.tensor(data["x"]), ag.tensor(data["y"])
    params = [ag.tensor(data[name], requires_grad=True) for name in PARAMS]

    def run() -> list:
        W1, b1, W2, b2, W3, b3 = params
        for p in params:
            p.grad = None
        h1 = (x @ W1 + b1).tanh()
        h2 = (h1 @ W2 + b2).tanh()
        out = h2 @ W3 + b3
        loss = ((out - y) ** 2).mean()
        loss.backward()
        return [p.grad.data for p in params]

    return run


# -- HIPS autograd ----------------------------------------------------------------------


def autograd_scalar() -> Callable[[], float]:
    from autograd import grad

    def f(a: Any) -> Any:
        for _ in range(STEPS):
            a = a * 0.99 + 0.01 * a * a
        return a

    df = grad(f)
    return lambda: float(df(0.5))


def autograd_mlp() -> Callable[[], list]:
    import autograd.numpy as anp
    from autograd import grad

    data = _mlp_data()
    x, y = data["x"], data["y"]

    def loss(params: tuple) -> Any:
        W1, b1, W2, b2, W3, b3 = params
        h1 = anp.tanh(anp.dot(x, W1) + b1)
        h2 = anp.tanh(anp.dot(h1, W2) + b2)
        out = anp.dot(h2, W3) + b3
        return anp.mean((out - y) ** 2)

    dloss = grad(loss)
    params = tuple(data[name] for name in PARAMS)
    return lambda: list(dloss(params))


# -- PyTorch ----------------------------------------------------------------------------


def torch_scalar() -> Callable[[], float]:
    import torch

    def run() -> float:
        a0 = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
        a = a0
        for _ in range(STEPS):
            a = a * 0.99 + 0.01 * a * a
        a.backward()
        return a0.grad.item()

    return run


def torch_mlp() -> Callable[[], list]:
    import torch

    data = _mlp_data()
    x, y = torch.from_numpy(data["x"]), torch.from_numpy(data["y"])
    params = [torch.tensor(data[name], requires_grad=True) for name in PARAMS]

    def run() -> list:
        W1, b1, W2, b2, W3, b3 = params
        for p in params:
            p.grad = None
        h1 = torch.tanh(x @ W1 + b1)
        h2 = torch.tanh(h1 @ W2 + b2)
        out = h2 @ W3 + b3
        loss = ((out - y) ** 2).mean()
        loss.backward()
        return [p.grad.numpy() for p in params]

    return run


# -- measuring --------------------------------------------------------------------------

PEERS = {
    "astgrad": (None, astgrad_scalar, astgrad_mlp),
    "autograd": ("autograd", autograd_scalar, autograd_mlp),
    "torch": ("torch", torch_scalar, torch_mlp),
}

WORKLOADS = [("scalar-loop", 1, SCALAR_OPS), ("mlp", 2, MLP_OPS)]


def _available(module: str | None) -> str | None:
    """None when ``module`` imports, else why not."""
    if module is None:
        return None
    try:
        __import__(module)
    except Exception as exc:  # noqa: BLE001 - any failure to import means "skip this peer"
        return f"{type(exc).__name__}: {exc}"
    return None


def best_times(runs: dict[str, Callable[[], Any]], repeat: int, min_time: float) -> dict:
    """Seconds per call for each library: the best of ``repeat`` rounds, each round long
    enough to time reliably. The libraries take turns within every round, so that a slow
    spell of the machine does not land on one library only."""
    timers = {name: timeit.Timer(run) for name, run in runs.items()}
    numbers = {}
    for name, timer in timers.items():
        number, _ = timer.autorange()
        numbers[name] = max(number, int(number * min_time / 0.2))
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeat):
        for name, timer in timers.items():
            best[name] = min(best[name], timer.timeit(numbers[name]) / numbers[name])
    return best


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list):
        return all(np.allclose(x, y, rtol=1e-9, atol=1e-12) for x, y in zip(a, b))
    return bool(np.isclose(a, b, rtol=1e-9, atol=1e-12))


def _version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return getattr(sys.modules.get(name), "__version__", "?")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repeats")
    args = parser.parse_args(argv)
    repeat, min_time = (3, 0.05) if args.quick else (15, 0.1)

    runners: dict[str, tuple] = {}
    for name, (module, scalar, mlp) in PEERS.items():
        why = _available(module)
        if why is not None:
            print(f"skipping {name}: not installed ({why})")
            continue
        runners[name] = (scalar, mlp)

    try:
        import torch

        torch.set_num_threads(1)
    except Exception:  # noqa: BLE001
        pass

    print(
        f"Python {platform.python_version()}, NumPy {np.__version__}, "
        + ", ".join(f"{n} {_version(n)}" for n in runners)
        + f"; one thread; best of {repeat}"
    )

    rows = []
    for workload, index, n_ops in WORKLOADS:
        runs = {name: makers[index - 1]() for name, makers in runners.items()}
        reference = runs["astgrad"]()
        for name, run in runs.items():
            if not _same(run(), reference):  # also warms each up
                print(f"warning: {name}'s gradient for {workload} differs from astgrad's")
        times = best_times(runs, repeat, min_time)
        for name, seconds in times.items():
            rows.append(
                (workload, name, seconds, seconds / n_ops, seconds / times["astgrad"], n_ops)
            )

    header = (
        f"{'workload':<12} {'library':<9} {'ops/iter':>8} "
        f"{'fwd+bwd':>11} {'per op':>10} {'vs astgrad':>11}"
    )
    print()
    print(header)
    print("-" * len(header))
    for workload, name, seconds, per_op, ratio, n_ops in rows:
        print(
            f"{workload:<12} {name:<9} {n_ops:>8d} {seconds * 1e6:>9.1f}us "
            f"{per_op * 1e6:>8.2f}us {ratio:>10.2f}x"
        )
    print()
    print("vs astgrad: the library's time over astgrad's (above 1: astgrad's tape is cheaper)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

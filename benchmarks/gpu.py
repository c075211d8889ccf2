"""Gradient time over forward time on a GPU: astgrad on CuPy against PyTorch on CUDA.

Run it with ``python benchmarks/gpu.py`` (``--quick`` for fewer repeats, ``--markdown``
for a table to paste into ``benchmarks/RESULTS.md``). It needs CuPy and a GPU
(``pip install "astgrad[cuda]"``); without them it says so and exits with status 0.
PyTorch is the peer where it is installed with CUDA; otherwise its rows say why they are
missing. ``--cpu`` runs the same measurements on NumPy (a check that the script works on
a machine without a GPU; those figures say nothing about GPUs).

Two workloads, in float32, big enough that the GPU's arithmetic dominates the time:

* ``mlp``: a tanh network 1024 -> 1024 -> 1024 -> 10 on a batch of 2048, mean squared
  error, gradient with respect to all six weights and biases;
* ``matmul-chain``: ``sum(tanh(A @ B) @ C @ D)`` for 2048 x 2048 matrices, gradient with
  respect to all four.

For each, three ways of computing the gradient: ``source`` (the code ``@ag.grad``
generates, run on CuPy arrays), ``tape`` (tensors on the GPU, ``backward()``), and
``torch`` (PyTorch autograd on CUDA). A cell is the median over repeats of one call, timed
with the device synchronized before the clock is read. The ratio divides the gradient's
time (forward and backward) by the plain forward's time in the same library: reverse mode
costs a small constant multiple of the forward, about 3 for matrix products.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

try:
    import astgrad as ag
except ModuleNotFoundError:  # run from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import astgrad as ag

from astgrad.runtime.device import cuda_unavailable_reason

BATCH, WIDTH, CLASSES = 2048, 1024, 10
CHAIN = 2048
QUICK_SCALE = 4  # --quick divides the sizes by this


# -- the workloads, as plain NumPy functions (CuPy runs them through NumPy's dispatch) --------


def mlp_loss(W1, b1, W2, b2, W3, b3, x, y):
    h1 = np.tanh(x @ W1 + b1)
    h2 = np.tanh(h1 @ W2 + b2)
    out = h2 @ W3 + b3
    return np.mean((out - y) ** 2)


def chain_loss(A, B, C, D):
    return np.sum(np.tanh(A @ B) @ C @ D)


def mlp_data(scale: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    batch, width = BATCH // scale, WIDTH // scale
    shapes = {
        "W1": (width, width),
        "b1": (width,),
        "W2": (width, width),
        "b2": (width,),
        "W3": (width, CLASSES),
        "b3": (CLASSES,),
        "x": (batch, width),
        "y": (batch, CLASSES),
    }
    data = {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}
    for k in ("W1", "W2", "W3"):
        data[k] /= np.float32(np.sqrt(data[k].shape[0]))
    return data


def chain_data(scale: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = CHAIN // scale
    return {k: (rng.standard_normal((n, n)) / np.sqrt(n)).astype(np.float32) for k in "ABCD"}


WORKLOADS = {
    "mlp": (mlp_loss, mlp_data, ("W1", "b1", "W2", "b2", "W3", "b3")),
    "matmul-chain": (chain_loss, chain_data, ("A", "B", "C", "D")),
}


# -- the ways of computing a gradient -----------------------------------------------------------


def astgrad_source(
    function: Callable, data: dict, wrt: tuple, device: str
) -> tuple[Callable, Callable]:
    arrays = {k: ag.tensor(v).to(device).data for k, v in data.items()}
    gradient = ag.grad(function, wrt=wrt, mode="source")
    return (lambda: function(**arrays)), (lambda: gradient(**arrays))


def astgrad_tape(
    function: Callable, data: dict, wrt: tuple, device: str
) -> tuple[Callable, Callable]:
    tensors = {k: ag.tensor(v, device=device, requires_grad=k in wrt) for k, v in data.items()}

    def forward() -> Any:
        with ag.no_grad():
            return function(**tensors)

    def gradient() -> list:
        for k in wrt:
            tensors[k].grad = None
        function(**tensors).backward()
        return [tensors[k].grad for k in wrt]

    return forward, gradient


def torch_cuda(
    function: Callable, data: dict, wrt: tuple, device: str
) -> tuple[Callable, Callable]:
    import torch

    target = "cuda" if device == "cuda" else "cpu"
    tensors = {k: torch.tensor(v, device=target, requires_grad=k in wrt) for k, v in data.items()}
    # The same function: torch tensors implement the NumPy calls it makes only in part, so
    # spell the two workloads with torch's names.
    if function is mlp_loss:

        def run(W1, b1, W2, b2, W3, b3, x, y):
            h1 = torch.tanh(x @ W1 + b1)
            h2 = torch.tanh(h1 @ W2 + b2)
            return torch.mean((h2 @ W3 + b3 - y) ** 2)
    else:

        def run(A, B, C, D):
            return torch.sum(torch.tanh(A @ B) @ C @ D)

    def forward() -> Any:
        with torch.no_grad():
            return run(**tensors)

    def gradient() -> list:
        for k in wrt:
            tensors[k].grad = None
        run(**tensors).backward()
        return [tensors[k].grad for k in wrt]

    return forward, gradient


# -- measuring ---------------------------------------------------------------------------------


def synchronizer(device: str, library: str) -> Callable[[], None]:
    """Waits for the device to finish queued work, so the clock sees all of it."""
    if device != "cuda":
        return lambda: None
    if library == "torch":
        import torch

        return torch.cuda.synchronize
    import cupy

    return lambda: cupy.cuda.Device().synchronize()


def median_time(call: Callable, sync: Callable, repeat: int) -> float:
    call()  # warm up: compile kernels, build the generated code, fill the memory pool
    sync()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def torch_unavailable(device: str) -> str | None:
    try:
        import torch
    except Exception as exc:  # noqa: BLE001 - any failure to import means "no peer"
        return f"PyTorch is not installed ({type(exc).__name__})"
    if device == "cuda" and not torch.cuda.is_available():
        return f"PyTorch {torch.__version__} has no CUDA here (a CPU build, or no driver)"
    return None


def device_name(device: str) -> str:
    if device != "cuda":
        import platform

        return f"CPU ({platform.processor() or platform.machine()}), NumPy {np.__version__}"
    import cupy

    props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    return f"{name}, CuPy {cupy.__version__}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--cpu", action="store_true", help="run on NumPy (checks the script only)")
    parser.add_argument("--repeat", type=int, help="timed calls per cell (default 10, 3 quick)")
    args = parser.parse_args(argv)

    if args.cpu:
        device = "cpu"
    else:
        reason = cuda_unavailable_reason()
        if reason is not None:
            print(f"No CUDA GPU, so nothing to measure: {reason}.")
            print("benchmarks/gpu.py times astgrad on CuPy; run it on a machine with a GPU.")
            return 0
        device = "cuda"

    scale = QUICK_SCALE if args.quick else 1
    repeat = args.repeat or (3 if args.quick else 10)
    no_torch = torch_unavailable(device)
    ways = {"source": astgrad_source, "tape": astgrad_tape}
    if no_torch is None:
        ways["torch"] = torch_cuda

    print(f"device: {device_name(device)}")
    if no_torch is not None:
        print(f"peer: {no_torch}; its rows are left out")
    rows = []
    for name, (function, make_data, wrt) in WORKLOADS.items():
        data = make_data(scale)
        for way, build in ways.items():
            forward, gradient = build(function, data, wrt, device)
            sync = synchronizer(device, "torch" if way == "torch" else "cupy")
            t_forward = median_time(forward, sync, repeat)
            t_gradient = median_time(gradient, sync, repeat)
            rows.append((name, way, t_forward, t_gradient, t_gradient / t_forward))

    if args.markdown:
        print("\n| workload | gradient by | forward (ms) | gradient (ms) | gradient / forward |")
        print("|---|---|---:|---:|---:|")
        for name, way, tf, tg, ratio in rows:
            print(f"| {name} | {way} | {tf * 1e3:.2f} | {tg * 1e3:.2f} | {ratio:.2f} |")
    else:
        header = ("workload", "gradient by", "forward ms", "gradient ms", "grad/fwd")
        print("\n{:<14}{:<13}{:>12}{:>13}{:>10}".format(*header))
        for name, way, tf, tg, ratio in rows:
            print(f"{name:<14}{way:<13}{tf * 1e3:>12.2f}{tg * 1e3:>13.2f}{ratio:>10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

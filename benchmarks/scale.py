"""How astgrad's costs grow with the size of what it differentiates.

Run it with ``python benchmarks/scale.py`` (``--quick`` for smaller sizes, one repeat).

Two tables, each cell the best CPU time of this process (``time.process_time``) over a
few repeats, so that other work on a shared machine counts little:

* **transform**: the first call of ``ag.grad`` (parse, passes, compile, one run) on a
  straight-line function of n statements, written to a module file so that its source
  can be read: a chain of new names, ``y{k} = np.sin(y{k-1}) * 1.01 + x``, or one name
  overwritten, ``y = np.sin(y) * 1.01 + x`` (whose old values the backward pass reads
  back). "growth" is each time over the one of the size before; linear growth gives the
  ratio of the sizes (2.0 when n doubles).
* **appends**: the backward pass alone (``ag.vjp``'s pullback) of a loop of n appends,
  ``acc.append(x[i % 3] * 2.0)``, summed with ``sum(acc)`` or ``np.sum(np.stack(acc))``,
  for the generated source and for the tape. "source / tape" is the ratio of the two
  backward passes (below 1: the generated gradient is faster); it should not grow with n.
"""

from __future__ import annotations

import os

# One thread, as in the other benchmarks, set before NumPy loads its thread pool.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

try:
    import astgrad as ag
except ModuleNotFoundError:  # run from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import astgrad as ag

STATEMENTS = (250, 500, 1000)
APPENDS = (10_000, 30_000, 100_000)
QUICK_STATEMENTS = (100, 200)
QUICK_APPENDS = (1_000, 3_000)


#: one line of each kind of straight-line function (k counts from 1)
LINES = {
    "chain": "    y{k} = np.sin(y{j}) * 1.01 + x",
    "overwrite": "    y = np.sin(y) * 1.01 + x",
}


def straight_line_function(kind: str, n: int, directory: str) -> Callable:
    """A fresh function of ``n`` statements, from a module file of its own (the transform
    reads source from files, and a fresh function is transformed anew)."""
    first, result = ("y0 = x", f"y{n}") if kind == "chain" else ("y = x", "y")
    lines = ["import numpy as np", "", "", "def f(x):", f"    {first}"]
    lines += [LINES[kind].format(k=k, j=k - 1) for k in range(1, n + 1)]
    lines.append(f"    return np.sum({result})")
    name = f"straight_{kind}_{n}_{len(os.listdir(directory))}"
    path = Path(directory) / f"{name}.py"
    path.write_text("\n".join(lines) + "\n")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.f


def appends_summed(x, n):
    acc = []
    for i in range(n):
        acc.append(x[i % 3] * 2.0)
    return sum(acc)


def appends_stacked(x, n):
    acc = []
    for i in range(n):
        acc.append(x[i % 3] * 2.0)
    return np.sum(np.stack(acc))


def transform_seconds(kind: str, n: int, directory: str) -> float:
    """CPU seconds of the first gradient call of a fresh ``n``-statement function."""
    gradient = ag.grad(straight_line_function(kind, n, directory))
    start = time.process_time()
    gradient(np.ones(3))
    return time.process_time() - start


def backward_seconds(function: Callable, n: int, mode: str) -> float:
    """CPU seconds of one pullback of ``function(x, n)`` in ``mode``."""
    _, pullback = ag.vjp(function, np.ones(3), n, mode=mode)
    start = time.process_time()
    pullback()
    return time.process_time() - start


def best(repeats: int, measure: Callable[..., float], *args: object) -> float:
    return min(measure(*args) for _ in range(repeats))


def transform_table(sizes: tuple[int, ...], repeats: int) -> list[str]:
    kinds = sorted(LINES)
    rows = [
        "| statements | " + " | ".join(f"{kind}: first call (s) | growth" for kind in kinds) + " |",
        "|---:|" + "---:|---:|" * len(kinds),
    ]
    previous: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as directory:
        for n in sizes:
            cells = []
            for kind in kinds:
                seconds = best(repeats, transform_seconds, kind, n, directory)
                growth = f"{seconds / previous[kind]:.2f}x" if kind in previous else ""
                cells += [f"{seconds:.3f}", growth]
                previous[kind] = seconds
            rows.append(f"| {n} | " + " | ".join(cells) + " |")
    return rows


def appends_table(sizes: tuple[int, ...], repeats: int) -> list[str]:
    rows = [
        "| loop | appends | source backward (s) | tape backward (s) | source / tape |",
        "|---|---:|---:|---:|---:|",
    ]
    for function, label in ((appends_summed, "sum(acc)"), (appends_stacked, "np.stack")):
        ag.grad(function)(np.ones(3), 10)  # transform before timing
        for n in sizes:
            source = best(repeats, backward_seconds, function, n, "source")
            tape = best(repeats, backward_seconds, function, n, "tape")
            rows.append(f"| {label} | {n} | {source:.3f} | {tape:.3f} | {source / tape:.2f} |")
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, one repeat")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else 3
    statements = QUICK_STATEMENTS if args.quick else STATEMENTS
    appends = QUICK_APPENDS if args.quick else APPENDS
    print("## First-call transform time by function length (benchmarks/scale.py)\n")
    print("\n".join(transform_table(statements, repeats)))
    print("\n## Backward pass of a loop of appends: generated source vs tape\n")
    print("\n".join(appends_table(appends, repeats)))


if __name__ == "__main__":
    main()

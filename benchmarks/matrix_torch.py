"""The workload matrix against PyTorch eager (issue 18: "no worse than PyTorch eager on any").

Run it with ``python benchmarks/matrix_torch.py`` from a checkout (``--quick`` for a rough
smoke run, ``--only NAME`` for some workloads, ``--runs N`` to repeat the whole sweep,
``--profile`` to see where astgrad's generated gradient spends its time on the workloads
where it is slower than PyTorch). It prints a table; it writes no file.

For each workload of ``benchmarks/workloads.py`` it times, in one interleaved run: the
NumPy forward, the hand-written NumPy gradient, astgrad's gradient (``mode="source"``),
and PyTorch eager's forward and backward (the workload as written for PyTorch in
``benchmarks/torch_workloads.py``, float64, ``torch.autograd.grad``), plus PyTorch's
forward alone under ``torch.no_grad`` (which shows how much of PyTorch's time is its
per-operation cost rather than its backward) and, where PyTorch has one, the workload in
PyTorch's fused spelling (``F.cross_entropy``, ``F.mse_loss``, ...). Every method's loss
and gradients are checked against the hand-written ones before it is timed.

Timing is ``benchmarks/matrix.py``'s, imported: one thread (BLAS's environment variables
set before NumPy loads, ``torch.set_num_threads(1)`` as ``benchmarks/compare.py`` sets it),
the process's CPU time, calls batched to last at least a minimum time, the methods taking
turns within each round, each ratio taken round by round and its median reported. With
``--runs N`` the sweep over all workloads is repeated N times (so that a slow spell of a
shared machine lands on different workloads in different runs); the ratio shown is the
median over every round of every run, and the range is that of the per-run medians (one
run: of the rounds). Without PyTorch the PyTorch columns are left empty, with a line
saying why.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # matrix.py, compare.py, workloads.py, beside this file
import one_thread  # noqa: E402, F401  (one thread, before NumPy loads)

# isort: split

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import compare  # noqa: E402
import matrix  # noqa: E402
import numpy as np  # noqa: E402
import workloads as workload_module  # noqa: E402

HAND, SOURCE, TORCH, TORCH_FORWARD = "hand-written", "astgrad source", "torch eager", "torch fwd"
FUSED = "torch fused"

#: the ratios of the table, as (column heading, numerator, denominator)
RATIOS = [
    ("astgrad / hand", SOURCE, HAND),
    ("torch / hand", TORCH, HAND),
    ("**astgrad / torch**", SOURCE, TORCH),
    ("astgrad / torch fused", SOURCE, FUSED),
    ("torch fwd / NumPy fwd", TORCH_FORWARD, "forward"),
]


def methods(torch_module) -> dict[str, Callable]:
    """Each method's maker ``(workload, args) -> call`` (None: the method has no version of
    that workload); PyTorch's only where it imports."""
    made = {
        "forward": matrix.make_forward,
        HAND: matrix.make_by_hand,
        SOURCE: matrix.make_astgrad("source"),
    }
    if torch_module is not None:
        made[TORCH] = torch_module.make_call
        made[TORCH_FORWARD] = torch_module.make_forward
        made[FUSED] = lambda w, args: (
            torch_module.make_call(w, args, fused=True) if w.name in torch_module.FUSED else None
        )
    return made


def prepare(w, makers: dict[str, Callable], problems: list[str]) -> dict[str, Callable]:
    """The calls to time for ``w``: each method's, once its result has been checked against
    the hand-written gradient (a method that fails or disagrees is listed, not timed)."""
    args = w.args(w.make_args(np.random.default_rng(0)))
    expected = w.by_hand(*args)
    calls = {}
    for name, maker in makers.items():
        try:
            call = maker(w, args)
            if call is None:
                continue
            result = call()
        except Exception as exc:  # noqa: BLE001 - a method that fails is reported, not fatal
            problems.append(f"{w.name}: {name} failed: {type(exc).__name__}: {exc}")
            continue
        if name == TORCH_FORWARD:
            why = compare.disagreement((result, expected[1]), expected)
        elif name != "forward":
            why = compare.disagreement(result, expected)
        else:
            why = None
        if why is not None:
            problems.append(f"{w.name}: {name} disagrees with the hand-written gradient: {why}")
            continue
        calls[name] = call
    return calls


def sweep(plan, makers, runs: int, rounds: int, min_time: float, problems: list[str]) -> dict:
    """Per workload, per run, each method's seconds per call in each round."""
    calls = {w.name: prepare(w, makers, problems) for w in plan}
    times: dict[str, list[dict[str, list]]] = {w.name: [] for w in plan}
    for run in range(runs):
        for w in plan:
            times[w.name].append(matrix.round_times(calls[w.name], rounds, min_time))
        print(f"run {run + 1} of {runs} done", flush=True)
    return times


def combined(per_run: list[dict[str, list]]) -> dict[str, list]:
    """Every round of every run, by method (the rounds of one run stay paired)."""
    out: dict[str, list] = {}
    for times in per_run:
        for name, values in times.items():
            out.setdefault(name, []).extend(values)
    return out


def ratio_cell(per_run: list[dict[str, list]], top: str, bottom: str) -> str:
    median = matrix.median_ratio(combined(per_run), top, bottom)
    if median is None:
        return "—"
    if len(per_run) > 1:
        spread = [matrix.median_ratio(times, top, bottom) for times in per_run]
        low, high = min(spread), max(spread)
    else:
        low, high = matrix.ratio_range(per_run[0], top, bottom)
    return f"{median:.2f}x ({low:.2f}-{high:.2f})"


def table(plan, times: dict) -> str:
    header = ["workload", "NumPy fwd", "hand-written", *(r[0] for r in RATIOS)]
    rows = []
    for w in plan:
        per_run = times[w.name]
        every = combined(per_run)
        rows.append([
            w.name,
            compare.fmt_time(statistics.median(every["forward"])) if "forward" in every else "—",
            compare.fmt_time(statistics.median(every[HAND])) if HAND in every else "—",
            *(ratio_cell(per_run, top, bottom) for _, top, bottom in RATIOS),
        ])  # fmt: skip
    return compare.markdown_table(header, rows)


def slower_than_torch(plan, times: dict, torch_method: str) -> list[tuple[str, float]]:
    """The workloads where astgrad's gradient is slower than ``torch_method``'s, as shown
    (to two decimals), with the ratio."""
    out = []
    for w in plan:
        ratio = matrix.median_ratio(combined(times[w.name]), SOURCE, torch_method)
        if ratio is not None and round(ratio, 2) > 1.0:
            out.append((w.name, ratio))
    return out


def load_torch():
    """``torch_workloads`` with PyTorch on one thread, or (None, why not)."""
    why = compare.unavailable("torch")  # sets torch.set_num_threads(1)
    if why is not None:
        return None, why
    import torch_workloads

    return torch_workloads, None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short round: rough figures")
    parser.add_argument("--rounds", type=int, default=9, help="rounds per run (default 9)")
    parser.add_argument("--runs", type=int, default=1, help="sweeps over the workloads")
    parser.add_argument("--wall", action="store_true", help="wall-clock time, not CPU time")
    parser.add_argument("--profile", action="store_true", help="profile where slower than torch")
    parser.add_argument("--only", action="append", metavar="NAME", help="this workload only")
    args = parser.parse_args(argv)
    runs, rounds, min_time = (1, 1, 0.002) if args.quick else (args.runs, args.rounds, 0.02)
    if args.wall:
        compare.clock = time.perf_counter

    plan = workload_module.WORKLOADS
    if args.only:
        unknown = [n for n in args.only if n not in workload_module.BY_NAME]
        if unknown:
            parser.error(f"no workload named {unknown}; there are {list(workload_module.BY_NAME)}")
        plan = [workload_module.BY_NAME[n] for n in args.only]
    torch_module, why = load_torch()
    notes = []
    if torch_module is None:
        notes.append(f"PyTorch columns empty: torch is not installed ({why}).")
    versions = "" if torch_module is None else f", torch {compare.version_of('torch')}"
    environment = (
        f"{compare.cpu_model()}, {os.cpu_count()} logical CPUs, one thread used; "
        f"{platform.system()}; {matrix.astgrad_revision()}; Python "
        f"{platform.python_version()}, NumPy {np.__version__}{versions}; "
        f"{'wall-clock' if args.wall else 'CPU'} time; {runs} run(s) of {rounds} round(s); "
        f"load average {os.getloadavg()[0]:.1f} at the start"
        + (" (--quick: rough figures)" if args.quick else "")
    )
    print(environment, flush=True)

    problems: list[str] = []
    times = sweep(plan, methods(torch_module), runs, rounds, min_time, problems)
    print()
    print(table(plan, times))
    print()
    print(
        "Each ratio: the median over the rounds of one method's time over the other's in the "
        "same round; in brackets the range of "
        + ("the per-run medians." if runs > 1 else "the per-round ratios.")
    )
    slower: dict[str, float] = {}
    if torch_module is not None:
        for method, label in ((TORCH, "PyTorch eager"), (FUSED, "PyTorch's fused spelling")):
            found = slower_than_torch(plan, times, method)
            slower.update(found)
            print(
                f"astgrad slower than {label} on: "
                + (", ".join(f"{name} ({ratio:.2f}x)" for name, ratio in found) or "none")
            )
    for line in notes + problems:
        print(line)
    if args.profile:
        for name in slower:
            w = workload_module.BY_NAME[name]
            print()
            print(matrix.profile_source(w, w.args(w.make_args(np.random.default_rng(0))), 2.0, 12))
    # A wrong astgrad gradient makes the figures meaningless: say so by the exit.
    return 1 if any(f": {SOURCE} disagrees" in p for p in problems) else 0


if __name__ == "__main__":
    sys.exit(main())

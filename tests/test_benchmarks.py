"""``benchmarks/compare.py --quick --no-write`` runs to the end and prints its tables.

A smoke test, not a timing test: it asserts nothing about the times, only that the script
exits 0, prints the timing table's header and a row for every workload, and leaves
``benchmarks/RESULTS.md`` alone.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKLOADS = ("scalar recurrence", "small MLP", "RNN", "large MLP")


def test_compare_quick_runs_and_prints_every_workload() -> None:
    results = ROOT / "benchmarks" / "RESULTS.md"
    before = results.read_text() if results.exists() else None
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "compare.py"), "--quick", "--no-write"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, f"compare.py failed:\n{run.stdout}\n{run.stderr}"
    out = run.stdout
    assert "## Generated gradients vs peers (benchmarks/compare.py)" in out
    header = next((line for line in out.splitlines() if line.startswith("| method ")), None)
    assert header is not None, out
    for workload in WORKLOADS:
        assert workload in header, f"no column for {workload!r} in {header!r}"
    for method in ("forward", "hand-written", "astgrad source", "astgrad tape"):
        assert any(line.startswith(f"| {method} ") for line in out.splitlines()), (
            f"no row for {method!r}"
        )
    assert "Targets (issue 7)" in out
    assert (results.read_text() if results.exists() else None) == before, (
        "--no-write wrote RESULTS.md"
    )

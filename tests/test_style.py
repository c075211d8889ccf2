"""The tree is lint-clean and formatted: the same checks as .pre-commit-config.yaml, with
the ruff that the test extra pins (configuration in pyproject.toml)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: the project's code (not scratch files someone keeps in a checkout)
CHECKED = ["astgrad", "transform", "runtime", "tools", "tests", "examples", "benchmarks"]

pytest.importorskip("ruff", reason="ruff comes with the test extra: pip install -e '.[test]'")


@pytest.mark.parametrize("check", [["check"], ["format", "--check"]], ids=" ".join)
def test_ruff(check):
    done = subprocess.run(
        [sys.executable, "-m", "ruff", *check, "--no-cache", *CHECKED],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr

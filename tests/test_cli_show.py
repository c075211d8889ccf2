"""``astgrad show FILE.py:FUNC``: the generated source, for arrays or (``--floats``) for
Python floats, and clear errors for a bad target."""

from __future__ import annotations

from pathlib import Path

import pytest
from astgrad.tools.cli import main

GOLDEN_FUNCTIONS = str(Path(__file__).parent / "golden_functions.py")


def test_show_prints_the_generated_source(capsys):
    assert main(["show", f"{GOLDEN_FUNCTIONS}:scalar_recurrence"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("def scalar_recurrence_grad(a):")
    assert "push(mul_2)" in out  # for arrays, 0.01 * a is saved


def test_show_floats_prints_the_number_only_gradient(capsys):
    assert main(["show", f"{GOLDEN_FUNCTIONS}:scalar_recurrence", "--floats"]) == 0
    out = capsys.readouterr().out
    assert "for a in pop_run(stack, 100):" in out
    assert "da = da * (0.02 * a + 0.99)" in out


def test_show_wrt_names(capsys):
    assert main(["show", f"{GOLDEN_FUNCTIONS}:scalar_polynomial", "--wrt", "a,b", "--floats"]) == 0
    assert "return mul_9, (da, db)" in capsys.readouterr().out


def test_show_a_missing_function():
    with pytest.raises(SystemExit, match="has no 'nothing_here'"):
        main(["show", f"{GOLDEN_FUNCTIONS}:nothing_here"])

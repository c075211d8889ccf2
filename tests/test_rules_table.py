"""The README's list of supported NumPy functions is generated from the rule registry by
tools/rules_table.py; this fails when the list is stale (a rule added or removed without
running the script)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "rules_table.py"

# Some rules exist only on newer versions; the README is generated on them.
NEWEST = sys.version_info >= (3, 11) and hasattr(np, "astype") and hasattr(math, "cbrt")


@pytest.mark.skipif(not NEWEST, reason="the README lists rules of Python >= 3.11, NumPy >= 2.1")
def test_readme_lists_every_rule():
    # A fresh interpreter sees only the rules astgrad ships, not those tests register.
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr + "\nRun: python tools/rules_table.py"


def test_the_script_rewrites_only_between_the_markers(tmp_path):
    from astgrad.tools import rules_table

    readme = tmp_path / "README.md"
    readme.write_text(
        f"# title\n\nbefore\n\n{rules_table.START}\nold\n{rules_table.END}\n\nafter\n"
    )
    assert rules_table.main(["--check", "--readme", str(readme)]) == 1
    assert rules_table.main(["--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("# title\n\nbefore\n\n<!-- rules-table:start -->")
    assert text.endswith("<!-- rules-table:end -->\n\nafter\n")
    assert "`np.tanh`" in text and "`np.linalg.solve`" in text and "`np.argmax`" in text
    assert "old" not in text
    assert rules_table.main(["--check", "--readme", str(readme)]) == 0


def test_missing_markers_are_an_error(tmp_path):
    from astgrad.tools import rules_table

    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n")
    with pytest.raises(ValueError, match="markers"):
        rules_table.main(["--readme", str(readme)])

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


def test_show_shapes_prints_the_gradient_those_arrays_get(capsys, tmp_path):
    # a gradient is specialized for its arguments' ndims: for two vectors and a matrix the
    # outer product's gradient is the products themselves
    path = tmp_path / "rank_one.py"
    path.write_text(
        "import numpy as np\n\n\ndef rank_one(u, v, A):\n"
        "    return np.sum((u.reshape(-1, 1) * v - A) ** 2)\n"
    )
    assert main(["show", f"{path}:rank_one", "--wrt", "u,v", "--shapes", "3,4,3x4"]) == 0
    out = capsys.readouterr().out
    assert "du = dmul.dot(v)\n" in out and "dv = u.dot(dmul)\n" in out, out
    assert main(["show", f"{path}:rank_one", "--wrt", "u,v"]) == 0
    assert "reshape_back(" in capsys.readouterr().out  # (without shapes: any ndim)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--shapes", "3,4"], "gives 2 shape(s) for 3 positional parameter(s)"),
        (["--shapes", "3,4,3y4"], "'3y4' is not a shape"),
        (["--shapes", "3,4,3x4", "--floats"], "--floats and --shapes"),
    ],
)
def test_show_shapes_errors(arguments, message, capsys, tmp_path):
    path = tmp_path / "three.py"
    path.write_text("import numpy as np\n\n\ndef three(u, v, A):\n    return np.sum(u * v * A)\n")
    assert main(["show", f"{path}:three", *arguments]) == 2
    assert message in capsys.readouterr().err


def test_show_shapes_with_a_float_and_a_0d_array(capsys, tmp_path):
    path = tmp_path / "mixed.py"
    path.write_text("import numpy as np\n\n\ndef mixed(x, s):\n    return np.sum(x * s)\n")
    assert main(["show", f"{path}:mixed", "--wrt", "x,s", "--shapes", "(),float"]) == 0
    assert capsys.readouterr().out.startswith("def mixed_grad(x, s):")

"""What ``import astgrad`` leaves for later, and printing that does without the ``ast``
names Python 3.14 removed (issue 22). Each check runs in a fresh interpreter."""

import subprocess
import sys
import textwrap

FUNCTION = """
import math

import numpy as np


def f(x, scale=2.5):
    label = f"value {x!r:>{10}} {{braces}} {f'{scale:.2f}'}"
    if label:
        y = x * scale + 1e-3 * x ** 2 - 3 + math.sin(0.5)
    return np.sum(np.sin(y)) + 0.5j.real * np.sum(x)
"""


def _run(code: str, cwd=None) -> str:
    done = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_import_leaves_the_transform_and_math_translations_for_later(tmp_path):
    (tmp_path / "userfn.py").write_text(FUNCTION)
    out = _run(
        """
        import sys
        import astgrad as ag
        from astgrad.runtime.rules import mathmodule
        import math
        import numpy as np

        print("astgrad.transform.pipeline" in sys.modules)
        print("_translated" in vars(ag.lookup_rule(math.sin)))
        from userfn import f
        ag.grad(f)(np.arange(3.0))
        print("astgrad.transform.pipeline" in sys.modules)
        print(ag.lookup_rule(math.sin).vjp.__module__, ag.lookup_rule(math.sin).signature)
        """,
        cwd=tmp_path,
    )
    assert out.split("\n")[:4] == [
        "False",
        "False",
        "True",
        "astgrad.runtime.rules.mathmodule (x)",
    ]


def test_lazy_functions_stay_functions_when_their_submodules_are_imported():
    out = _run(
        """
        import importlib
        import astgrad as ag
        from astgrad.graph import dot_program
        importlib.import_module("astgrad.explain")
        print(ag.graph.__module__, ag.explain.__module__, callable(ag.graph), callable(ag.jvp))
        print(all(name in dir(ag) for name in ag.__all__))
        """
    )
    assert out.split() == ["astgrad.graph", "astgrad.explain", "True", "True", "True"]


def test_generated_source_needs_no_name_python_3_14_removed(tmp_path):
    """With ``ast.Str`` and its kin deleted (as on 3.14) and deprecation warnings made
    errors (3.12 and 3.13 warn on them), f-strings and constants print as they did."""
    (tmp_path / "userfn.py").write_text(FUNCTION)
    remove = """
        import ast
        for name in ("Str", "Num", "Bytes", "NameConstant", "Ellipsis"):
            if name in vars(ast):
                delattr(ast, name)
        for name in ("s", "n"):
            if name in vars(ast.Constant):
                delattr(ast.Constant, name)
    """
    show = """
        import numpy as np
        import astgrad as ag
        from userfn import f

        x = np.arange(3.0)
        g = ag.grad(f)(x)
        expected = np.cos(2.5 * x + 1e-3 * x**2 - 3 + np.sin(0.5)) * (2.5 + 2e-3 * x)
        assert np.allclose(g, expected), g
        print(ag.source(f), end="")
    """
    plain = _run(show, cwd=tmp_path)
    assert "    label = f\"value {x!r:>{10}} {{braces}} {f'{scale:.2f}'}\"\n" in plain
    assert "mul_2 = 0.001 * x ** 2\n" in plain
    assert _run(textwrap.dedent(remove) + textwrap.dedent(show), cwd=tmp_path) == plain


def test_import_leaves_scipy_alone_until_the_user_imports_it(tmp_path):
    # scipy (when installed) costs more to import than all of astgrad: its rules are
    # registered on the first lookup after the user has imported it
    (tmp_path / "uses_scipy.py").write_text(
        "import numpy as np\n"
        "try:\n"
        "    import scipy.special as sp\n"
        "except ImportError:\n"
        "    sp = None\n"
        "def f(x):\n"
        "    return np.sum(sp.expit(x)) if sp else np.sum(x)\n"
    )
    out = _run(
        """
        import sys
        import astgrad as ag
        print("scipy" in sys.modules)
        import numpy as np
        import uses_scipy
        print(ag.grad(uses_scipy.f, mode="source")(np.zeros(2)).tolist())
        """,
        cwd=tmp_path,
    )
    first, gradient = out.splitlines()
    assert first == "False"
    assert gradient in ("[0.25, 0.25]", "[1.0, 1.0]")  # with scipy: expit'(0) = 1/4

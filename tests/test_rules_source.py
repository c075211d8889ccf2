"""Every rule in the table against central finite differences, through generated source.

For each case a small module is written out (the transform reads source) with one
function that calls the primitive with the case's arguments, keywords spelled out, and
``ag.vjp(..., mode="source")`` differentiates it: the rule's body is inlined into the
generated adjoint, which is what this checks.
"""

from __future__ import annotations

import importlib.util
import math
import operator
import sys

import numpy as np
import pytest
from numeric import assert_close, numeric_vjp
from rule_specs import SPECS, A

import astgrad as ag
from astgrad.runtime.rules import all_rules


def shipped_rules():
    """The table astgrad ships (tests may register rules of their own)."""
    return [r for r in all_rules() if r.vjp.__module__.startswith("astgrad.runtime.rules")]


def _cases():
    for rule in shipped_rules():
        for number, spec in enumerate(SPECS.get(rule.primitive, [])):
            yield pytest.param(rule, spec, number, id=f"{rule.name}-{number}")


def _module_for(rule, spec, number, tmp_path):
    params = [f"a{i}" for i in range(len(spec.args))]
    keywords = "".join(f", {k}={v!r}" for k, v in spec.kwargs.items())
    source = (
        "import math\nimport operator\nimport numpy as np\n\n"
        f"def case({', '.join(params)}):\n"
        f"    return PRIMITIVE({', '.join(params)}{keywords})\n"
    )
    path = tmp_path / f"rule_{rule.name}_{number}.py"
    path.write_text(source)
    spec_ = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec_)
    module.PRIMITIVE = rule.primitive
    spec_.loader.exec_module(module)
    return module.case


@pytest.mark.parametrize("rule, spec, number", list(_cases()))
def test_rule_inlined_matches_finite_differences(rule, spec, number, tmp_path):
    function = _module_for(rule, spec, number, tmp_path)
    rng = np.random.default_rng(0)
    args = [a.make(rng) if isinstance(a, A) else a for a in spec.args]
    differentiable = [i for i, a in enumerate(spec.args) if isinstance(a, A) and a.dtype != bool]
    out = function(*args)
    g_rng = np.random.default_rng(1)
    if isinstance(out, tuple):
        g = tuple(g_rng.standard_normal(np.shape(o)) for o in out)
    else:
        g = g_rng.standard_normal(np.shape(out))
        if np.ndim(out) == 0 and isinstance(out, float):
            g = float(g)
    for index in differentiable:
        value, pullback = ag.vjp(function, *args, wrt=index, mode="source")
        got = pullback(g)
        expected = numeric_vjp(function, list(args), index, g)
        assert_close(got, expected, what=f"{rule.name} argument {index}")



"""Every rule in the table against central finite differences, through generated source.

For each case a small module is written out (the transform reads source) with one
function that calls the primitive with the case's arguments, keywords spelled out, and
``ag.vjp(..., mode="source")`` differentiates it: the rule's body is inlined into the
generated adjoint, which is what this checks.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from astgrad.runtime.rules import all_rules
from numeric import assert_close
from rule_specs import SPECS, A, arguments, differentiable_paths, numeric_vjp_at, random_cotangent

import astgrad as ag


def shipped_rules():
    """The table astgrad ships (tests may register rules of their own)."""
    return [r for r in all_rules() if r.vjp.__module__.startswith("astgrad.runtime.rules")]


def _cases():
    for rule in shipped_rules():
        for number, spec in enumerate(SPECS.get(rule.primitive, [])):
            yield pytest.param(rule, spec, number, id=f"{rule.name}-{number}")


def _module_for(rule, spec, number, tmp_path):
    """A module with ``case(a0, a1, ..., <keyword inputs>)`` calling the primitive; keyword
    arguments that are inputs to differentiate become parameters too."""
    params = [f"a{i}" for i in range(len(spec.args))]
    inputs = [k for k, v in spec.kwargs.items() if isinstance(v, A)]
    keywords = "".join(
        f", {k}={k}" if k in inputs else f", {k}={v!r}" for k, v in spec.kwargs.items()
    )
    source = (
        "import math\nimport operator\nimport numpy as np\n\n"
        f"def case({', '.join(params + inputs)}):\n"
        f"    return PRIMITIVE({', '.join(params)}{keywords})\n"
    )
    path = tmp_path / f"rule_{rule.name}_{number}.py"
    path.write_text(source)
    spec_ = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec_)
    module.PRIMITIVE = rule.primitive
    spec_.loader.exec_module(module)
    return module.case, inputs


@pytest.mark.parametrize("rule, spec, number", list(_cases()))
def test_rule_inlined_matches_finite_differences(rule, spec, number, tmp_path):
    function, inputs = _module_for(rule, spec, number, tmp_path)
    args, kwargs = arguments(spec)
    flat = args + [kwargs[k] for k in inputs]  # the keyword inputs, as case() takes them
    paths = differentiable_paths(spec)
    out = function(*flat)
    g = random_cotangent(out, np.random.default_rng(1), spec.outputs)
    position = {k: len(args) + n for n, k in enumerate(inputs)}
    for param in dict.fromkeys(p[0] for p in paths):
        index = position.get(param, param)
        value, pullback = ag.vjp(function, *flat, wrt=index, mode="source")
        got = pullback(g)
        for path in paths:
            if path[0] != param:
                continue
            expected = numeric_vjp_at(function, (flat, {}), (index,) + path[1:], g, spec.eps)
            part = got if len(path) == 1 else got[path[1]]
            assert_close(part, expected, rtol=spec.rtol, what=f"{rule.name} input {path}")

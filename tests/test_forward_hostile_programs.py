"""The hostile random programs (``random_programs_hostile.py``: aliases, views, in-place
writes through other names, side effects in helpers, rebound globals) through forward
mode: ``ag.jvp`` in source mode either gives the program's value and the directional
derivative that finite differences give, or raises a TransformError; in auto mode (the
tape's forward mode where the transform refuses) it gives them or raises what the tape
may raise, and only where the reverse tape raises too. A silently wrong tangent fails.
Called twice, and once more after the module's ``rebind()``."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from modules import write_module
from random_programs_hostile import constructs, generate
from test_random_hostile_programs import SEEDS, _arguments, _check_refusal, _fresh, _reference

import astgrad as ag

_TANGENTS = (np.linspace(-1.0, 1.0, 6), np.cos(np.arange(6.0)))


@pytest.mark.parametrize("mode", ["source", "auto"])
@pytest.mark.parametrize("seed", SEEDS)
def test_random_hostile_program_forward(seed, mode, tmp_path):
    source = generate(seed)
    name = f"hostile_forward_{seed}_{mode}"
    module = write_module(tmp_path, name, source)
    args = _arguments(seed)
    try:
        for call in ("first call", "second call", "call after rebind()"):
            if call == "call after rebind()":
                module.rebind()
            value_expected, gradients = _reference(module.program, args)
            expected = sum(float(np.dot(g, t)) for g, t in zip(gradients, _TANGENTS))
            what = f"seed {seed} [forward {mode}] {call}"
            try:
                value, tangent = ag.jvp(module.program, _fresh(args), _TANGENTS, mode=mode)
            except Exception as exc:
                _check_refusal(mode, exc, constructs(seed), module, args, what)
                return
            assert np.allclose(value, value_expected, rtol=1e-10, atol=1e-12), (
                f"{what}: WRONG VALUE {value!r}, the program gives {value_expected!r}"
            )
            assert np.allclose(tangent, expected, rtol=1e-5, atol=1e-6), (
                f"{what}: WRONG TANGENT {tangent!r}, finite differences give {expected!r}"
            )
    except BaseException:
        print(source)
        raise
    finally:
        sys.modules.pop(name, None)

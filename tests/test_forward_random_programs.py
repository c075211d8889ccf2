"""The random programs of ``random_programs.py`` (loops, branches, helpers, lists, item
assignment, overwritten names; w of shape (3,) and, broadcasting, (3, 1)) through forward
mode: ``ag.jvp`` in source and auto mode against central finite differences along a
random direction. Every one of them is transformed (they are made to be), so source mode
must run them all."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from modules import write_module
from random_programs import generate
from test_random_programs import BROADCAST_SEEDS, SEEDS

import astgrad as ag

EPS = 1e-6


@pytest.mark.parametrize(
    "seed, w_shape",
    [(s, (3,)) for s in SEEDS] + [(s, (3, 1)) for s in BROADCAST_SEEDS],
)
def test_random_program_forward(seed, w_shape, tmp_path):
    source = generate(seed)
    name = f"forward_random_program_{seed}"
    module = write_module(tmp_path, name, source)
    rng = np.random.default_rng(seed)
    x, w = rng.uniform(-1, 1, 3), rng.uniform(-1, 1, w_shape)
    tx, tw = rng.standard_normal(3), rng.standard_normal(w_shape)
    try:
        try:
            value = module.program(x.copy(), w.copy())
        except ValueError as exc:
            assert "non-broadcastable output operand" in str(exc)
            pytest.skip("the generated program itself is invalid for these shapes")
        up = module.program(x + EPS * tx, w + EPS * tw)
        down = module.program(x - EPS * tx, w - EPS * tw)
        expected = (up - down) / (2 * EPS)
        for mode in ("source", "auto"):
            got_value, tangent = ag.jvp(module.program, (x.copy(), w.copy()), (tx, tw), mode=mode)
            assert np.allclose(got_value, value, rtol=1e-12, atol=1e-12), (seed, mode)
            assert np.allclose(tangent, expected, rtol=1e-4, atol=1e-6), (
                f"seed {seed} [{mode}]: tangent {tangent}, finite differences {expected}"
            )
    except BaseException:
        print(source)
        raise
    finally:
        sys.modules.pop(name, None)

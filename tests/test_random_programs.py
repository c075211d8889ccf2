"""Randomly generated programs (loops, branches, helpers, lists, item assignment,
overwritten names) differentiated in every mode against finite differences.

Hand-picked cases miss what users write; these find the combinations nobody thought of.
A failure prints the program's source: paste it into a file to reproduce.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from conformance import Program, run
from modules import write_module
from random_programs import generate

import astgrad as ag

#: (and programs a wider run found wrong once: 2056 and 3045 below, where a helper's
#: backward pass wrote into its returned adjoint in place and the caller took it for 0)
SEEDS = [*range(60), 2056]


def _load(source: str, directory, seed: int):
    return write_module(directory, f"random_program_{seed}", source)


#: ``w`` as a column: every binary operation mixing x and w broadcasts to (3, 3) (and
#: 3243, whose argument x, rebound in a loop to another shape, lost its own shape's
#: stand-in: test_loop_shapes)
BROADCAST_SEEDS = [*range(1000, 1060), 3045, 3243]


def _arguments(w_shape):
    return lambda r: (r.uniform(-1, 1, 3), r.uniform(-1, 1, w_shape))


@pytest.mark.parametrize("seed", SEEDS)
def test_random_program(seed, tmp_path):
    _check(seed, (3,), tmp_path)


@pytest.mark.parametrize("seed", BROADCAST_SEEDS)
def test_random_program_broadcasting(seed, tmp_path):
    _check(seed, (3, 1), tmp_path)


def _check(seed, w_shape, tmp_path):
    source = generate(seed)
    module = _load(source, tmp_path, seed)
    program = Program(module.program, _arguments(w_shape), (0, 1), rtol=1e-4, atol=1e-6)
    try:
        program.function(*program.make_args(np.random.default_rng(seed)))
    except ValueError as exc:
        # ``v -= x * w`` on a (3,) copy cannot take a (3, 3) result: NumPy refuses it, so
        # there is no function to differentiate.
        assert "non-broadcastable output operand" in str(exc)
        sys.modules.pop(f"random_program_{seed}", None)
        pytest.skip("the generated program itself is invalid for these shapes (in-place broadcast)")
    try:
        assert ag.explain(module.program, wrt=(0, 1)).mode == "source"
        for mode in ("source", "auto", "tape"):
            run(program, mode, seed=seed)
    except BaseException:
        print(source)
        raise
    finally:
        sys.modules.pop(f"random_program_{seed}", None)


def test_generated_programs_use_every_construct():
    text = "\n".join(generate(seed) for seed in SEEDS)
    for construct in (
        "if ",
        "else:",
        "for i",
        "while ",
        "break",
        ".append(",
        "helper0(",
        "np.copy(",
    ):
        assert construct in text, construct

"""Randomly generated programs (loops, branches, helpers, lists, item assignment,
overwritten names) differentiated in every mode against finite differences.

Hand-picked cases miss what users write; these find the combinations nobody thought of.
A failure prints the program's source: paste it into a file to reproduce.
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
from conformance import Program, run
from random_programs import generate

import astgrad as ag

SEEDS = range(60)


def _load(source: str, directory, seed: int):
    path = directory / f"random_program_{seed}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # so inspect can find the source of its functions
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("seed", SEEDS)
def test_random_program(seed, tmp_path):
    source = generate(seed)
    module = _load(source, tmp_path, seed)
    program = Program(
        module.program,
        lambda r: (r.uniform(-1, 1, 3), r.uniform(-1, 1, 3)),
        (0, 1),
        rtol=1e-4,
        atol=1e-6,
    )
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
    for construct in ("if ", "else:", "for i", "while ", "break", ".append(", "helper0(", "np.copy("):
        assert construct in text, construct

"""Many more random programs (see random_programs.py) on the tape alone, against finite
differences: the tape runs a program in milliseconds, where the transform takes most of a
second to generate and compile it, so the tape can afford ten times the seeds of
test_random_programs.py.

A few programs write in place into an array that an earlier operation saved for its
gradient (``v *= np.sin(v)``). The tape follows PyTorch there: backward raises, naming the
node, rather than differentiate at values that have changed. Those seeds are checked to
raise exactly that.
"""

from __future__ import annotations

import sys

import pytest
from conformance import Program, run
from modules import write_module
from random_programs import generate

SEEDS = range(60, 600)

# Programs that change a saved value in place (v *= f(v), or an earlier product reads v).
WRITES_A_SAVED_VALUE = {173, 194}


def _load(source: str, directory, seed: int):
    return write_module(directory, f"tape_random_program_{seed}", source)


@pytest.mark.parametrize("seed", SEEDS)
def test_random_program_on_the_tape(seed, tmp_path):
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
        if seed in WRITES_A_SAVED_VALUE:
            with pytest.raises(RuntimeError, match="modified by an in-place operation"):
                run(program, "tape", seed=seed)
        else:
            run(program, "tape", seed=seed)
    except BaseException:
        print(source)
        raise
    finally:
        sys.modules.pop(f"tape_random_program_{seed}", None)

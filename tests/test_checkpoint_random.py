"""Checkpointing on randomly generated programs: the gradient of every program with
``checkpoint=True`` is the unchecked one (float64, ``np.allclose``), with loops of any
trip count cut (``SHORTEST`` lowered to 1, so that the generators' loops of two and three
iterations are cut too: segments of one and two iterations, a last one shorter).

The generators (``random_programs``, ``random_scalar_programs``) write loops with
branches, ``continue``, ``break``, helpers, lists, item assignment and overwritten names;
loops that cannot be cut are saved ordinarily, and ``ag.explain`` says so. A failure
prints the program's source: paste it into a file to reproduce.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import random_programs
import random_scalar_programs
from astgrad.transform import checkpoint
from modules import write_module

import astgrad as ag

SEEDS = range(40)


@pytest.fixture(autouse=True)
def every_loop(monkeypatch):
    monkeypatch.setattr(checkpoint, "SHORTEST", 1)


def _compare(module_name: str, source: str, args: tuple, directory) -> int:
    """The number of loops cut; asserts the two gradients agree."""
    module = write_module(directory, module_name, source)
    try:
        unchecked = ag.value_and_grad(module.program, wrt=(0, 1), mode="source")(*args)
        checked = ag.value_and_grad(module.program, wrt=(0, 1), mode="source", checkpoint=True)
        value, gradients = checked(*args)
        assert np.allclose(value, unchecked[0], rtol=1e-12, atol=1e-14)
        for got, expected in zip(gradients, unchecked[1]):
            assert np.allclose(got, expected, rtol=1e-10, atol=1e-12)
            assert type(got) is type(expected)
        report = ag.explain(module.program, *args, wrt=(0, 1), checkpoint=True)
        return sum(note.checkpointed for note in report.checkpoints)
    except BaseException:
        print(source)
        raise
    finally:
        sys.modules.pop(module_name, None)


@pytest.mark.parametrize("seed", SEEDS)
def test_random_array_program(seed, tmp_path):
    source = random_programs.generate(seed)
    rng = np.random.default_rng(seed)
    args = (rng.uniform(-1, 1, 3), rng.uniform(-1, 1, 3))
    _compare(f"checkpoint_program_{seed}", source, args, tmp_path)


@pytest.mark.parametrize("seed", SEEDS)
def test_random_scalar_program(seed, tmp_path):
    source = random_scalar_programs.generate(seed)
    rng = np.random.default_rng(seed)
    args = (float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1)))
    _compare(f"checkpoint_scalar_program_{seed}", source, args, tmp_path)


def test_the_generators_loops_are_mostly_cut(tmp_path):
    """What the comparisons compare is checkpointed: most of the generated programs' loops
    over ``range`` are cut (those that grow a list or write into an array are not)."""
    cut = 0
    for seed in range(10):
        rng = np.random.default_rng(seed)
        args = (float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1)))
        source = random_scalar_programs.generate(seed)
        cut += _compare(f"checkpoint_count_{seed}", source, args, tmp_path)
    assert cut >= 5

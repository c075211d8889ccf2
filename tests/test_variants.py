"""The workloads of ``benchmarks/variants.py`` (models spelled as users write them, other
than the matrix's spellings): each hand-written gradient against central differences, and
astgrad's against it in every mode. The benchmark checks the same before it times; here
a spelling that stops differentiating right fails the suite, not only the benchmark."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from numeric import assert_close

import astgrad as ag

ROOT = Path(__file__).resolve().parents[1]


def _load_variants():
    """``benchmarks/variants.py`` read from its file (the transform reads their source),
    without the one BLAS thread it sets for its own runs (the tests' subprocesses keep
    theirs)."""
    environment = dict(os.environ)
    path = ROOT / "benchmarks" / "variants.py"
    spec = importlib.util.spec_from_file_location("variants_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        os.environ.clear()
        os.environ.update(environment)
    return module


variants = _load_variants()


@pytest.mark.parametrize("variant", variants.VARIANTS, ids=lambda v: v.name)
def test_the_hand_written_gradient_matches_differences(variant):
    args = variant.make_args(np.random.default_rng(0))
    assert variants.check_by_hand(variant, args) is None


@pytest.mark.parametrize("mode", ["source", "auto", "tape"])
@pytest.mark.parametrize("variant", variants.VARIANTS, ids=lambda v: v.name)
def test_astgrad_matches_the_hand_written_gradient(variant, mode):
    args = variant.make_args(np.random.default_rng(0))
    want_loss, want = variant.by_hand(*args)
    loss, got = ag.value_and_grad(variant.function, wrt=variant.wrt, mode=mode)(*args)
    got = got if isinstance(got, tuple) else (got,)
    assert_close(loss, want_loss, rtol=1e-10, atol=0.0, what="loss")
    for position, (g, w) in enumerate(zip(got, want, strict=True)):
        assert_close(g, w, rtol=1e-7, atol=1e-12, what=f"gradient {position}")

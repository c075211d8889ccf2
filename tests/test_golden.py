"""Golden snapshots of generated source: a change to what astgrad generates shows up as a
diff here, to be reviewed. Regenerate with ASTGRAD_UPDATE_GOLDEN=1."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from golden_functions import GOLDEN

import astgrad as ag

HERE = Path(__file__).parent / "golden"


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_generated_source_matches_golden(name):
    function, wrt, args = GOLDEN[name]
    source = ag.source(function, *args, wrt=wrt)
    path = HERE / f"{name}.py"
    if os.environ.get("ASTGRAD_UPDATE_GOLDEN"):
        path.write_text(source)
    assert path.exists(), f"no golden file {path}; run with ASTGRAD_UPDATE_GOLDEN=1"
    assert source == path.read_text(), (
        f"generated source for {name} changed; review and update the golden file"
    )


FORWARD = HERE / "forward"


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_generated_forward_source_matches_golden(name):
    """Forward mode's source (``ag.jvp``) of the same functions, snapshotted likewise."""
    function, wrt, args = GOLDEN[name]
    source = ag.source(function, *args, wrt=wrt, forward=True)
    path = FORWARD / f"{name}.py"
    if os.environ.get("ASTGRAD_UPDATE_GOLDEN"):
        FORWARD.mkdir(exist_ok=True)
        path.write_text(source)
    assert path.exists(), f"no golden file {path}; run with ASTGRAD_UPDATE_GOLDEN=1"
    assert source == path.read_text(), (
        f"generated forward source for {name} changed; review and update the golden file"
    )

"""The conformance tables, run through every mode (and, in test_devices, every device)."""

from __future__ import annotations

import pytest
from conformance import MODES, run
from programs_straight import PROGRAMS as STRAIGHT


def _params(programs):
    seen = {}
    for program in programs:
        number = seen.get(program.name, 0)
        seen[program.name] = number + 1
        label = program.name if not number else f"{program.name}-{number}"
        for mode in MODES:
            marks = (
                [pytest.mark.skip(reason=program.skip_modes[mode])]
                if mode in program.skip_modes
                else []
            )
            yield pytest.param(program, mode, id=f"{label}-{mode}", marks=marks)


def test_straight_line_table_is_large_enough():
    assert len({p.name for p in STRAIGHT}) >= 60


@pytest.mark.parametrize("program, mode", list(_params(STRAIGHT)))
def test_straight_line(program, mode):
    run(program, mode)

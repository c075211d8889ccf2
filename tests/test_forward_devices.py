"""Forward mode on the device: ``ag.jvp`` of the straight-line and control-flow tables
with their arguments on the stand-in GPU (and real CUDA where present, through
``test_devices``' ``gpu`` fixture): the tangent lives beside the value, on the arguments'
device, and equals the one computed on the host."""

from __future__ import annotations

import numpy as np
import pytest
from astgrad.runtime import device_of, to_device
from numeric import assert_close
from test_devices import CONTROL, STRAIGHT, _runs_on_device, gpu  # noqa: F401  (fixture)
from test_forward_programs import _setup

import astgrad as ag


def _programs():
    chosen = {}
    for program in STRAIGHT + [p for p in CONTROL if "static" in p.tags]:
        if _setup(program) is not None:
            chosen.setdefault(program.name, program)
    return list(chosen.values())


@pytest.mark.parametrize("mode", ["source", "auto"])
@pytest.mark.parametrize("program", _programs(), ids=lambda p: p.name)
def test_forward_mode_on_the_device(gpu, program, mode):  # noqa: F811
    reason = _runs_on_device(program, gpu)
    if reason is not None:
        pytest.skip(reason)
    args, tangents = _setup(program)
    try:
        value, tangent = ag.jvp(program.function, args, tangents, mode=mode)
    except ag.TransformError:
        pytest.skip("not transformed in forward mode (counted in test_forward_programs)")
    on_device = tuple(gpu.put(a) for a in args)
    moved = [None if t is None else gpu.put(t) for t in tangents]
    device_value, device_tangent = ag.jvp(program.function, on_device, moved, mode=mode)
    if isinstance(device_tangent, (float, np.floating)):
        assert isinstance(tangent, (float, np.floating))
    else:
        assert str(device_of(device_tangent)).startswith("cuda"), device_of(device_tangent)
    assert_close(
        np.asarray(to_device(device_tangent, "cpu")), np.asarray(tangent), rtol=1e-10,
        atol=1e-12, what=f"{program.name} [{mode}] tangent on the device",
    )  # fmt: skip
    assert_close(np.asarray(to_device(device_value, "cpu")), np.asarray(value), rtol=1e-12)

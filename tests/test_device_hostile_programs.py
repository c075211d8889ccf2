"""The hostile random programs (random_programs_hostile.py: writes through aliases and
views, helpers with side effects, globals rebound between calls) on the stand-in GPU and
on a real one where CuPy and a GPU are present, in every mode, against central
differences of the program run on that device.

A GPU array library is not NumPy where these programs probe: CuPy's ``x[i]`` is a view,
not a copy, and its view's memory owner is found otherwise. So the reference is the
program as it runs on the device (finite differences there), and the property is the one
the host's test checks: the value the program gives and gradients that match, or a clear
refusal. The refusals allowed are the host's (test_random_hostile_programs), and one of
the device's own: generated code refuses an assignment through an integer index that
repeats a position on a device (which value survives is undefined there).
"""

from __future__ import annotations

import contextlib
import sys

import numpy as np
import pytest
from astgrad.runtime import device_of, to_device
from fake_device import fake_cuda
from modules import write_module
from numeric import numeric_vjp
from random_programs_hostile import constructs, generate
from test_devices import GPUS
from test_random_hostile_programs import ATOL, RTOL, STEP, TAPE_ERRORS, TAPE_MAY_REFUSE

import astgrad as ag

#: (712: a write into a view from an overlapping view of the same array, whose element
#: order a GPU leaves undefined: the tape recorded a copy, the stand-in wrote in order)
SEEDS = [*range(100), 712]
MODES = ("auto", "source", "tape")
DEVICES = GPUS  # the stand-in, and CUDA where CuPy and a GPU are present

#: what the stand-in lets through that CuPy refuses: NumPy arrays made of device arrays
#: (np.asarray of a CuPy array raises; of the stand-in, a subclass of ndarray, it gives a
#: host copy that the program then mixes with device arrays without complaint)
HOST_CONVERSIONS = ("np.asarray(", "np.array(")

#: the device's own refusal in generated code (runtime/device.py)
REPEATED_INDEX = "repeats a position"


def _device(array: np.ndarray) -> np.ndarray:
    return to_device(np.array(array), "cuda:0")


def _host(value):
    return to_device(value, "cpu") if hasattr(value, "shape") else value


def _on(device: str) -> contextlib.AbstractContextManager:
    return fake_cuda() if device == "fake" else contextlib.nullcontext()


def _arguments(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, 6), rng.uniform(-1, 1, 6)


def _reference(program, args: tuple) -> tuple[float, list[np.ndarray]]:
    def on_device(x, w):
        return float(_host(program(_device(x), _device(w))))

    value = on_device(*args)
    gradients = [numeric_vjp(on_device, list(args), i, 1.0, eps=STEP) for i in (0, 1)]
    return value, gradients


def _allowed(mode: str, exc: Exception, used: frozenset, module, args: tuple) -> bool:
    if not str(exc).strip():
        return False
    if isinstance(exc, NotImplementedError) and REPEATED_INDEX in str(exc):
        return True
    if mode == "source":
        return isinstance(exc, ag.TransformError)
    if not isinstance(exc, TAPE_ERRORS):
        return False
    if not isinstance(exc, RuntimeError) and not used & TAPE_MAY_REFUSE:
        return False
    if mode == "auto":  # only where the tape refuses too
        try:
            ag.value_and_grad(module.program, wrt=(0, 1), mode="tape")(*map(_device, args))
        except Exception:
            return True
        return False
    return True


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("device", DEVICES)
def test_hostile_program_on_the_device(device, seed, mode, tmp_path):
    source = generate(seed)
    if any(call in source for call in HOST_CONVERSIONS):
        pytest.skip("makes a NumPy array of a device array, which CuPy refuses")
    used = constructs(seed)
    name = f"device_hostile_{device}_{seed}_{mode}"
    module = write_module(tmp_path, name, source)
    args = _arguments(seed)
    try:
        with _on(device):
            try:
                _reference(module.program, args)
            except TypeError as exc:  # a host array beside device ones: not a GPU program
                pytest.skip(f"the program itself fails on a GPU: {exc}")
            derivative = ag.value_and_grad(module.program, wrt=(0, 1), mode=mode)
            for call in ("first call", "second call", "call after rebind()"):
                if call == "call after rebind()":
                    module.rebind()
                try:
                    expected_value, expected = _reference(module.program, args)
                except TypeError:  # rebind() made K a host array: no longer a GPU program
                    return
                what = f"seed {seed} [{mode}] {call}"
                try:
                    value, gradients = derivative(*map(_device, args))
                except Exception as exc:
                    said = f"{what}: raised {type(exc).__name__}: {exc}"
                    assert _allowed(mode, exc, used, module, args), said
                    return
                assert np.allclose(_host(value), expected_value, rtol=1e-10, atol=1e-12), (
                    f"{what}: WRONG VALUE {_host(value)!r}, the program gives {expected_value!r}"
                )
                for index, (got, want) in enumerate(zip(gradients, expected)):
                    assert np.shape(got) == (6,), (what, got)
                    assert str(device_of(got)) == "cuda:0", (what, device_of(got))
                    assert np.allclose(_host(got), want, rtol=RTOL, atol=ATOL), (
                        f"{what}: WRONG GRADIENT d/d argument {index}\n  got      "
                        f"{_host(got)}\n  expected {want}\n  (finite differences on the device)"
                    )
    except BaseException:
        print(source)
        print("constructs:", ", ".join(sorted(used)))
        raise
    finally:
        sys.modules.pop(name, None)

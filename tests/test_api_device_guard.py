"""``device_guard``: the current device of a backend for the length of a block, and the
API making the arguments' GPU current while generated code runs.

A fake backend (``fake_device.py``'s, with a guard that records what it was asked for)
shows which device the guard makes current; on the CPU, and for backends that have no
current device, the guard does nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fake_device import FakeCudaBackend, RecordingBackend, recording_cuda, to_fake

import astgrad as ag

device_module = importlib.import_module("astgrad.runtime.device")
Device = device_module.Device
device_guard = device_module.device_guard


@pytest.fixture
def recording() -> Iterator[RecordingBackend]:
    with recording_cuda() as backend:
        yield backend


def test_the_guard_makes_its_device_current_inside_the_block(recording):
    with device_guard(Device("cuda:1")):
        assert recording.current == ["cuda:1"]
    assert recording.current == []
    assert recording.entered == ["cuda:1"]


def test_guards_nest_and_each_restores_the_one_outside(recording):
    with device_guard(Device("cuda:0")):
        with device_guard(Device("cuda:1")):
            assert recording.current == ["cuda:0", "cuda:1"]
        assert recording.current == ["cuda:0"]
    assert recording.current == []


def test_the_guard_is_left_when_the_block_raises(recording):
    with pytest.raises(KeyError):
        with device_guard(Device("cuda:1")):
            raise KeyError("inside")
    assert recording.current == []


def test_the_cpu_guard_does_nothing_and_is_shared(recording):
    first = device_guard(Device("cpu"))
    assert first is device_guard(device_module.CPU)
    with first:
        with first:  # entering it again, even nested, is harmless
            pass
    assert recording.entered == []


def test_a_backend_without_a_current_device_gets_a_null_guard():
    class Plain(FakeCudaBackend):
        pass  # the base class's guard

    with device_module.using_backend(Plain()):
        guard = device_guard(Device("cuda:1"))
        assert guard is device_guard(Device("cpu"))
        with guard:
            pass


def test_the_guard_returns_what_the_backend_guard_gives(recording):
    # The guard is the backend's own context manager, not a wrapper around it: the CuPy
    # path costs one cupy.cuda.Device object and nothing more.
    class Marker:
        def __enter__(self) -> str:
            return "entered"

        def __exit__(self, *exc: Any) -> None:
            return None

    marker = Marker()
    recording.guard = lambda device: marker
    with device_guard(Device("cuda:0")) as value:
        assert value == "entered"


# -- the API runs generated code on the arguments' device ------------------------------------


def loss(w, b, x):
    return np.sum(np.tanh(x @ w + b) ** 2)


def scaled(x, scale):
    return np.sum(x * x) * scale


def _loss_args(index: int | None) -> tuple:
    rng = np.random.default_rng(0)
    args = (rng.standard_normal((3, 2)), rng.standard_normal(2), rng.standard_normal((4, 3)))
    return args if index is None else tuple(to_fake(a, index) for a in args)


@pytest.mark.parametrize("mode", ["source", "auto"])
@pytest.mark.parametrize("make", [ag.grad, ag.value_and_grad])
def test_generated_gradients_run_under_the_arguments_device(recording, make, mode):
    g = make(loss, wrt=("w", "b"), mode=mode)
    args = _loss_args(1)
    for _ in range(3):  # the first call, then the cached ones
        g(*args)
    assert recording.entered == ["cuda:1"] * 3
    assert recording.current == []


def test_a_float_differentiated_beside_device_arrays_runs_under_their_device(recording):
    g = ag.grad(scaled, wrt=(0, 1), mode="source")
    x = to_fake(np.array([1.0, 2.0]), 1)
    for _ in range(2):
        dx, dscale = g(x, 1.5)
    assert recording.entered == ["cuda:1", "cuda:1"]
    assert dscale == pytest.approx(5.0)


def test_keyword_arguments_on_the_device_run_under_it(recording):
    g = ag.grad(loss, wrt="w", mode="source")
    w, b, x = _loss_args(1)
    g(w, b=b, x=x)
    assert recording.entered == ["cuda:1"]


def test_vjp_runs_forward_and_backward_under_the_arguments_device(recording):
    w, b, x = _loss_args(1)
    value, pullback = ag.vjp(loss, w, b, x, wrt=(0, 1), mode="source")
    assert recording.entered == ["cuda:1"]
    pullback()
    assert recording.entered == ["cuda:1", "cuda:1"]
    assert recording.current == []


def test_host_arguments_enter_no_guard(recording, monkeypatch):
    api = importlib.import_module("astgrad.api")
    guards: list = []
    real = api.device_guard

    def counting(device: Any) -> Any:
        guards.append(str(device))
        return real(device)

    monkeypatch.setattr(api, "device_guard", counting)
    g = ag.grad(loss, wrt=("w", "b"), mode="source")
    for _ in range(3):
        g(*_loss_args(None))
    value, pullback = ag.vjp(loss, *_loss_args(None), mode="source")
    pullback()
    assert recording.entered == []  # the fake GPU was never made current
    # The cached host calls never ask for a guard; the general path (first call) and vjp
    # ask for the CPU's, which is the shared null one.
    assert set(guards) <= {"cpu"} and len(guards) <= 3

"""``device_guard``: the current device of a backend for the length of a block.

A fake backend (``fake_device.py``'s, with a guard that records what it was asked for)
shows which device the guard makes current; on the CPU, and for backends that have no
current device, the guard does nothing.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from typing import Any

import pytest
from fake_device import FakeCudaBackend

device_module = importlib.import_module("astgrad.runtime.device")
Device = device_module.Device
device_guard = device_module.device_guard


class RecordingBackend(FakeCudaBackend):
    """The fake GPU, with a current device: its guard notes each device entered and left."""

    def __init__(self) -> None:
        super().__init__()
        self.current: list[str] = []  # a stack: the innermost guard's device last
        self.entered: list[str] = []

    def guard(self, device: Any) -> Any:
        @contextlib.contextmanager
        def current() -> Iterator[None]:
            self.current.append(str(device))
            self.entered.append(str(device))
            try:
                yield
            finally:
                self.current.pop()

        return current()


@pytest.fixture
def recording() -> Iterator[RecordingBackend]:
    backend = RecordingBackend()
    with device_module.using_backend(backend):
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

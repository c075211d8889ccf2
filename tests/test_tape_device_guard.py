"""The tape's backward pass runs with the device of the output being differentiated made
current (``device_guard``), so that CuPy kernels for tensors on ``cuda:1`` run on GPU 1.

A fake backend (``fake_device.py``'s, with a guard that records the devices it makes
current) shows which device is current while the rules run; on the CPU no guard is asked
for at all.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fake_device import RecordingBackend, recording_cuda, to_fake
from numeric import assert_close

import astgrad as ag

device_module = importlib.import_module("astgrad.runtime.device")
graph = importlib.import_module("astgrad.runtime.graph")
fallback = importlib.import_module("astgrad.runtime.fallback")


@pytest.fixture
def recording() -> Iterator[RecordingBackend]:
    with recording_cuda() as backend:
        yield backend


# A primitive whose rule notes the devices that are current when the backward pass runs
# it. Registered only while a test runs: the rule table is shared by every test.
seen_in_rule: list = []
seen_in_forward: list = []


def _noted_square(x):
    if _active:
        seen_in_forward.append(list(_active[0].current))
    return x * x


noted_square = ag.primitive(_noted_square)


def _noted_square_vjp(g, ans, x):
    seen_in_rule.append(list(_active[0].current))
    return g * 2 * x


_active: list = []


@pytest.fixture
def noted(recording) -> Iterator[RecordingBackend]:
    from astgrad.runtime.rules import registry

    seen_in_rule.clear()
    seen_in_forward.clear()
    _active.append(recording)
    ag.vjp_rule(noted_square)(_noted_square_vjp)
    try:
        yield recording
    finally:
        registry._RULES.pop(registry._key(noted_square), None)
        _active.clear()


@pytest.mark.parametrize("index", [0, 1])
def test_backward_runs_the_rules_under_the_outputs_device(noted, index):
    x = ag.tensor(to_fake(np.array([1.0, 2.0, 3.0]), index), requires_grad=True)
    out = noted_square(x * 1.5).sum()
    assert noted.entered == []  # eager operations ask for no guard
    out.backward()
    assert noted.entered == [f"cuda:{index}"]
    assert seen_in_rule == [[f"cuda:{index}"]]
    assert noted.current == []
    assert_close(np.asarray(x.grad.data.view(np.ndarray)), 2 * 1.5 * 1.5 * np.array([1, 2, 3.0]))


def test_value_and_grad_on_the_tape_runs_both_passes_under_the_arguments_device(noted):
    def loss(w, x):
        return np.sum(noted_square(np.tanh(x @ w)))

    rng = np.random.default_rng(0)
    w, x = to_fake(rng.standard_normal((3, 2)), 1), to_fake(rng.standard_normal((4, 3)), 1)
    g = ag.value_and_grad(loss, wrt=0, mode="tape")
    for _ in range(2):
        value, dw = g(w, x)
        assert device_module.device_of(dw) == ag.device("cuda:1")
    assert noted.entered == ["cuda:1"] * 4  # forward and backward, twice
    assert seen_in_forward == [["cuda:1"], ["cuda:1"]]
    assert seen_in_rule == [["cuda:1"], ["cuda:1"]]
    assert noted.current == []


def test_the_guard_is_left_when_backward_raises(noted):
    x = ag.tensor(to_fake(np.array([1.0, 2.0]), 1), requires_grad=True)
    out = noted_square(x).sum()
    out.backward()
    with pytest.raises(RuntimeError, match="second time"):
        out.backward()
    assert noted.entered == ["cuda:1", "cuda:1"]
    assert noted.current == []


def test_the_tape_on_the_cpu_asks_for_no_guard(recording, monkeypatch):
    asked: list = []
    real = graph.device_guard

    def counting(device: Any) -> Any:
        asked.append(str(device))
        return real(device)

    monkeypatch.setattr(graph, "device_guard", counting)
    monkeypatch.setattr(fallback, "device_guard", counting)
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    s = ag.tensor(0.5, requires_grad=True)
    (s * 2.0 * s).backward()  # a 0-d result, kept as a NumPy scalar
    ag.value_and_grad(lambda a: np.sum(np.tanh(a)), mode="tape")(np.ones(3))
    assert asked == []
    assert recording.entered == []

"""Devices: where tensors, arrays and gradients live, in the tape and in generated code.

Every test that takes the ``gpu`` fixture runs twice: on the stand-in GPU of
``fake_device.py`` (always, so CI without a GPU checks placement on every run), and on
real CUDA through CuPy (marked ``cuda``; skipped with the reason where CuPy or a GPU is
missing). The stand-in refuses host arrays next to device arrays, as CuPy does, so a
helper that makes a NumPy array for device inputs fails here instead of on a GPU.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astgrad.runtime import device_of, recording, to_device
from astgrad.runtime.adjoints import scalar_seed
from astgrad.runtime.primitives import move_to
from astgrad.runtime.rules import all_rules
from conformance import MODES, Program, run
from fake_device import (
    FakeCudaArray,
    FakeCupy,
    MixedDeviceArrays,
    fake_cuda,
    short_reason,
    to_fake,
)
from modules import write_module
from numeric import assert_close
from programs_straight import PROGRAMS as STRAIGHT
from random_programs import generate as generate_random_program
from rule_specs import (
    SPECS,
    A,
    arguments,
    differentiable_paths,
    get_at,
    random_cotangent,
    replace_at,
)

import astgrad as ag

device_module = importlib.import_module("astgrad.runtime.device")

try:  # the control-flow table, where this checkout has it
    from programs_control import PROGRAMS as CONTROL
except ImportError:
    CONTROL = []

ROOT = Path(__file__).resolve().parents[1]

SAME_DEVICE = "Expected all tensors to be on the same device, but found"


# -- the two GPUs: stand-in and real ----------------------------------------------------------


@dataclass
class Gpu:
    """What a test needs to know about the GPU it runs on."""

    kind: str  # "fake" or "cuda"
    array_type: type
    count: int
    backend: Any

    def put(self, value: Any, index: int = 0) -> Any:
        """A device copy of a host array; lists, tuples and dicts of them element by
        element; numbers and other values unchanged."""
        if isinstance(value, (np.ndarray, np.generic)):
            return to_device(np.asarray(value), f"cuda:{index}")
        if isinstance(value, list):
            return [self.put(v, index) for v in value]
        if isinstance(value, tuple):
            return tuple(self.put(v, index) for v in value)
        if isinstance(value, dict):
            return {k: self.put(v, index) for k, v in value.items()}
        return value

    def needs(self, count: int) -> None:
        if self.count < count:
            pytest.skip(f"needs {count} GPUs; this machine has {self.count}")

    @contextlib.contextmanager
    def transfers(self) -> Iterator[list]:
        """Count the copies astgrad makes between host and device inside the block."""
        moves: list = []
        names = ("from_cpu", "to_cpu", "move")
        originals = {name: getattr(self.backend, name) for name in names}

        def counting(name: str) -> Any:
            def call(*args: Any) -> Any:
                moves.append(name)
                return originals[name](*args)

            return call

        for name in names:
            setattr(self.backend, name, counting(name))
        try:
            yield moves
        finally:
            for name in names:
                delattr(self.backend, name)  # back to the class's methods


def _cuda_skip_reason() -> str | None:
    reason = device_module.cuda_unavailable_reason()
    return None if reason is None else f"no CUDA here: {reason}"


_NO_CUDA = _cuda_skip_reason()

GPUS = [
    pytest.param("fake", id="fake-cuda"),
    pytest.param(
        "cuda",
        id="cuda",
        marks=[pytest.mark.cuda, pytest.mark.skipif(_NO_CUDA is not None, reason=_NO_CUDA or "")],
    ),
]


@pytest.fixture(params=GPUS)
def gpu(request: pytest.FixtureRequest) -> Iterator[Gpu]:
    if request.param == "fake":
        with fake_cuda() as backend:
            yield Gpu("fake", FakeCudaArray, backend.device_count(), backend)
    else:
        import cupy

        backend = device_module._backends_by_type["cuda"]
        yield Gpu("cuda", cupy.ndarray, backend.device_count(), backend)


def _host(value: Any) -> Any:
    return to_device(value, "cpu")


# -- factories -------------------------------------------------------------------------------

FACTORIES = {
    "tensor": lambda device: ag.tensor([[1.0, 2.0], [3.0, 4.0]], device=device),
    "zeros": lambda device: ag.zeros(2, 3, device=device),
    "ones": lambda device: ag.ones((2, 3), device=device),
    "empty": lambda device: ag.empty(2, device=device),
    "full": lambda device: ag.full((2, 2), 7.0, device=device),
    "randn": lambda device: ag.randn(3, device=device),
    "rand": lambda device: ag.rand(2, 2, device=device),
    "arange": lambda device: ag.arange(0.0, 5.0, device=device),
    "eye": lambda device: ag.eye(3, device=device),
    "zeros_like": lambda device: ag.zeros_like(np.ones((2, 2)), device=device),
    "ones_like": lambda device: ag.ones_like(np.ones(3), device=device),
}


@pytest.mark.parametrize("name", list(FACTORIES))
def test_factories_make_tensors_on_the_device(gpu, name):
    make = FACTORIES[name]
    ag.manual_seed(0)
    on_cpu = make(None)
    for spec in ("cuda", "cuda:0", ag.device("cuda"), ag.device("cuda", 0)):
        ag.manual_seed(0)
        t = make(spec)
        assert t.device == "cuda:0" and t.device == ag.device("cuda:0")
        assert isinstance(t.data, gpu.array_type)
        assert t.shape == on_cpu.shape and t.dtype == on_cpu.dtype
        if name != "empty":
            # randn and rand draw on the host: the same numbers on every device
            np.testing.assert_array_equal(t.cpu().numpy(), on_cpu.numpy())


def test_factories_take_requires_grad_and_dtype_on_the_device(gpu):
    t = ag.zeros(3, dtype=np.float32, device="cuda", requires_grad=True)
    assert t.requires_grad and t.is_leaf and t.dtype == np.float32 and t.device == "cuda:0"


def test_factories_on_a_second_device(gpu):
    gpu.needs(2)
    for make in FACTORIES.values():
        assert make("cuda:1").device == "cuda:1"
        assert make(ag.device("cuda", 1)).device == "cuda:1"


def test_an_index_past_the_last_gpu_is_refused(gpu):
    with pytest.raises(RuntimeError, match=rf"cuda:{gpu.count} is not available"):
        ag.zeros(2, device=f"cuda:{gpu.count}")


def test_like_factories_and_tensor_follow_their_argument(gpu):
    t = ag.randn(2, 3, device="cuda")
    for made in (ag.zeros_like(t), ag.ones_like(t), ag.zeros_like(t.data), ag.tensor(t)):
        assert made.device == "cuda:0" and isinstance(made.data, gpu.array_type)
    copy = ag.tensor(t.data)
    assert copy.data is not t.data, "ag.tensor copies, on the device"
    assert ag.tensor(t, device="cpu").device == "cpu"
    assert ag.zeros_like(t, device="cpu").device == "cpu"


# -- moving tensors ---------------------------------------------------------------------------


def test_to_cuda_and_back(gpu):
    x = ag.tensor([1.0, 2.0, 3.0])
    for moved in (x.to("cuda"), x.to("cuda:0"), x.to(ag.device("cuda")), x.cuda(), x.cuda(0)):
        assert moved.device == "cuda:0" and isinstance(moved.data, gpu.array_type)
        assert moved.to("cuda:0") is moved, "a tensor already there is returned as it is"
        back = moved.cpu()
        assert back.device == "cpu" and type(back.data) is np.ndarray
        assert back.tolist() == [1.0, 2.0, 3.0]
    assert x.cpu() is x


def test_moving_between_gpus(gpu):
    gpu.needs(2)
    x = ag.tensor([1.0, 2.0], device="cuda:0")
    for moved in (x.to("cuda:1"), x.cuda(1), x.to(ag.device("cuda", 1))):
        assert moved.device == "cuda:1"
        assert moved.cuda(0).device == "cuda:0"
        assert moved.cpu().tolist() == [1.0, 2.0]


def test_device_attribute(gpu):
    t = ag.ones(2, device="cuda")
    assert t.device == "cuda:0" and t.device == "cuda" and t.device != "cpu"
    assert str(t.device) == "cuda:0"
    assert t.device.type == "cuda" and t.device.index == 0
    assert "device='cuda:0'" in repr(t)
    assert ag.ones(2).device == "cpu"


def test_numpy_of_a_gpu_tensor_points_to_cpu(gpu):
    t = ag.ones(3, device="cuda")
    for convert in (t.numpy, lambda: np.asarray(t)):
        with pytest.raises(TypeError, match=r"\.cpu\(\)") as info:
            convert()
        assert "cuda:0" in str(info.value)
    assert t.cpu().numpy().tolist() == [1.0, 1.0, 1.0]
    w = ag.ones(3, device="cuda", requires_grad=True)
    with pytest.raises(RuntimeError, match=r"t\.detach\(\)\.cpu\(\)\.numpy\(\)"):
        w.numpy()
    assert w.detach().cpu().numpy().tolist() == [1.0, 1.0, 1.0]


def test_numbers_come_back_from_the_device(gpu):
    t = ag.tensor([1.5, 2.5], device="cuda")
    assert t.sum().item() == 4.0 and t.tolist() == [1.5, 2.5] and float(t[0]) == 1.5


# -- mixing devices is an error that names both ------------------------------------------------

CPU_FIRST = {
    "add": lambda c, g: c + g,
    "multiply": lambda c, g: c * g,
    "matmul": lambda c, g: c @ g,
    "np.dot": lambda c, g: np.dot(c, g),
    "np.maximum": lambda c, g: np.maximum(c, g),
    "concatenate": lambda c, g: np.concatenate([c, g]),
    "host array": lambda c, g: c.data + g,
}
GPU_FIRST = {
    "add": lambda c, g: g + c,
    "subtract": lambda c, g: g - c,
    "np.arctan2": lambda c, g: np.arctan2(g, c),
    "in place": lambda c, g: g.__iadd__(c),
    "item assignment": lambda c, g: g.__setitem__(0, c[0]),
    "host array": lambda c, g: g * c.data,
}


@pytest.mark.parametrize("name", list(CPU_FIRST))
@pytest.mark.parametrize("requires_grad", [False, True])
def test_mixing_cpu_then_gpu_names_both(gpu, name, requires_grad):
    c = ag.tensor([1.0, 2.0, 3.0], requires_grad=requires_grad)
    g = ag.tensor([4.0, 5.0, 6.0], device="cuda", requires_grad=requires_grad)
    with pytest.raises(RuntimeError) as info:
        CPU_FIRST[name](c, g)
    assert f"{SAME_DEVICE} cpu and cuda:0" in str(info.value)


@pytest.mark.parametrize("name", list(GPU_FIRST))
@pytest.mark.parametrize("requires_grad", [False, True])
def test_mixing_gpu_then_cpu_names_both(gpu, name, requires_grad):
    c = ag.tensor([1.0, 2.0, 3.0], requires_grad=requires_grad)
    g = ag.tensor([4.0, 5.0, 6.0], device="cuda")
    if requires_grad:
        g = g * ag.ones(3, device="cuda", requires_grad=True)  # computed, so in place is allowed
    with pytest.raises(RuntimeError) as info:
        GPU_FIRST[name](c, g)
    assert f"{SAME_DEVICE} cuda:0 and cpu" in str(info.value)


def test_mixing_two_gpus_names_both(gpu):
    gpu.needs(2)
    a = ag.ones(2, device="cuda:0", requires_grad=True)
    b = ag.ones(2, device="cuda:1")
    with pytest.raises(RuntimeError, match=f"{SAME_DEVICE} cuda:0 and cuda:1"):
        a * b


def test_backward_with_a_cotangent_on_another_device(gpu):
    x = ag.ones(3, device="cuda", requires_grad=True)
    with pytest.raises(RuntimeError, match=f"{SAME_DEVICE} cuda:0 and cpu"):
        (x * 2).backward(gradient=ag.ones(3))


def test_numbers_shapes_and_indices_are_not_on_a_device(gpu):
    x = ag.arange(6.0, device="cuda", requires_grad=True)
    out = (x.reshape(2, 3)[:, 1:] * 2 + np.float64(1.0)) ** 2
    out = out.sum(axis=0)[np.array([1, 0])]  # a host index array is copied over, as CuPy does
    assert out.device == "cuda:0"
    out.sum().backward()
    assert x.grad.device == "cuda:0"


# -- the tape: every gradient on its leaf's device ---------------------------------------------


def _mlp_parameters(device: Any) -> dict:
    ag.manual_seed(1)
    return {
        "W1": ag.randn(4, 8, device=device, requires_grad=True),
        "b1": ag.zeros(8, device=device, requires_grad=True),
        "W2": ag.randn(8, 1, device=device, requires_grad=True),
        "b2": ag.zeros(1, device=device, requires_grad=True),
    }


def _mlp_loss(p: dict, x: Any, y: Any) -> Any:
    h = np.tanh(x @ p["W1"] + p["b1"])
    z = (h @ p["W2"] + p["b2"]).reshape(-1)
    return (ag.relu(z) + np.log1p(np.exp(-np.abs(z))) - y * z).mean()


def test_every_gradient_on_its_leafs_device(gpu):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 4)), (rng.random(16) > 0.5).astype(float)
    reference = _mlp_parameters(None)
    _mlp_loss(reference, ag.tensor(x), ag.tensor(y)).backward()
    params = _mlp_parameters("cuda")
    xd, yd = ag.tensor(x, device="cuda"), ag.tensor(y, device="cuda")
    with gpu.transfers() as moves:
        loss = _mlp_loss(params, xd, yd)
        loss.backward()
    assert loss.device == "cuda:0"
    assert not moves, f"the backward pass copied between host and device: {moves}"
    for name, p in params.items():
        assert p.grad.device == "cuda:0", name
        assert isinstance(p.grad.data, gpu.array_type), name
        assert_close(_host(p.grad.data), reference[name].grad.numpy(), what=name)


def test_gradients_accumulate_on_the_device(gpu):
    w = ag.tensor([1.0, 2.0], device="cuda", requires_grad=True)
    for _ in range(2):
        (w * w).sum().backward()
    assert w.grad.device == "cuda:0" and w.grad.tolist() == [4.0, 8.0]
    with ag.no_grad():
        w -= 0.5 * w.grad
    assert w.device == "cuda:0" and w.is_leaf and w.tolist() == [-1.0, -2.0]
    w.grad.zero_()
    assert w.grad.device == "cuda:0" and w.grad.tolist() == [0.0, 0.0]


def test_retained_gradient_of_a_computed_tensor_is_on_its_device(gpu):
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    on_gpu = x.cuda()
    on_gpu.retain_grad()
    (on_gpu**3).sum().backward()
    assert on_gpu.grad.device == "cuda:0" and on_gpu.grad.tolist() == [3.0, 12.0]
    assert x.grad.device == "cpu" and x.grad.tolist() == [3.0, 12.0]


def test_round_trip_cpu_gpu_cpu_carries_the_gradient_back(gpu):
    values = np.array([0.5, -1.0, 2.0])
    x = ag.tensor(values, requires_grad=True)
    there = np.tanh(x.to("cuda") * 3.0)
    back = there.cpu()
    assert there.device == "cuda:0" and back.device == "cpu"
    assert back.grad_fn is not None
    (back * ag.tensor([1.0, 2.0, 3.0])).sum().backward()
    expected = 3.0 * (1 - np.tanh(3 * values) ** 2) * np.array([1.0, 2.0, 3.0])
    assert x.grad.device == "cpu"
    assert_close(x.grad.numpy(), expected)


def test_round_trip_from_a_gpu_leaf(gpu):
    w = ag.tensor([1.0, 2.0, 3.0], device="cuda", requires_grad=True)
    loss = (w.cpu() ** 2).sum()  # finished on the host
    loss.backward()
    assert w.grad.device == "cuda:0" and w.grad.tolist() == [2.0, 4.0, 6.0]


def test_round_trip_between_gpus(gpu):
    gpu.needs(2)
    a = ag.tensor([1.0, 2.0], device="cuda:0", requires_grad=True)
    b = ag.tensor([3.0, 4.0], device="cuda:1", requires_grad=True)
    (a.to("cuda:1") * b).sum().backward()
    assert a.grad.device == "cuda:0" and a.grad.tolist() == [3.0, 4.0]
    assert b.grad.device == "cuda:1" and b.grad.tolist() == [1.0, 2.0]


# -- generated source: the array module comes from the arguments -------------------------------


def logistic_loss(W, b, x, y):
    p = 1 / (1 + np.exp(-(x @ W + b)))
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


def scaled_norm(x, scale):
    return scale * np.sqrt(np.sum(x**2)) + np.max(x) * scale


def layered(W1, W2, x):
    h = np.maximum(x @ W1, 0.0)
    out = np.tanh(h @ W2)
    return np.sum(out[:, 0] ** 2) + 0.5 * np.linalg.norm(W1)


def sum_of_squares(v):
    return np.sum(v * v)


def _logistic_data() -> tuple:
    rng = np.random.default_rng(3)
    return (
        rng.standard_normal((5, 1)),
        np.array([0.1]),
        rng.standard_normal((20, 5)),
        (rng.random((20, 1)) > 0.5).astype(float),
    )


@pytest.mark.parametrize("mode", MODES)
def test_generated_gradients_stay_on_the_device(gpu, mode):
    args = _logistic_data()
    expected = ag.grad(logistic_loss, wrt=("W", "b"), mode=mode)(*args)
    device_args = gpu.put(args)
    with gpu.transfers() as moves:
        dW, db = ag.grad(logistic_loss, wrt=("W", "b"), mode=mode)(*device_args)
    assert not moves, f"gradients copied between host and device: {moves}"
    for got, want, name in ((dW, expected[0], "dW"), (db, expected[1], "db")):
        assert isinstance(got, gpu.array_type), f"{name} is {type(got).__name__}"
        assert device_of(got) == "cuda:0"
        assert got.shape == want.shape and got.dtype == want.dtype
        assert_close(_host(got), want, what=name)


@pytest.mark.parametrize("mode", MODES)
def test_value_and_grad_on_the_device(gpu, mode):
    rng = np.random.default_rng(4)
    host = (rng.standard_normal((3, 4)), rng.standard_normal((4, 2)), rng.standard_normal((5, 3)))
    value, grads = ag.value_and_grad(layered, wrt=(0, 1), mode=mode)(*gpu.put(host))
    expected_value, expected = ag.value_and_grad(layered, wrt=(0, 1), mode=mode)(*host)
    assert device_of(value) == "cuda:0"
    assert_close(_host(value), expected_value)
    for got, want in zip(grads, expected):
        assert device_of(got) == "cuda:0" and isinstance(got, gpu.array_type)
        assert_close(_host(got), want)


@pytest.mark.parametrize("mode", MODES)
def test_a_float_argument_next_to_device_arrays(gpu, mode):
    x = np.array([0.5, -2.0, 1.5])
    dx, dscale = ag.grad(scaled_norm, wrt=(0, 1), mode=mode)(gpu.put(x), 1.5)
    ex, escale = ag.grad(scaled_norm, wrt=(0, 1), mode=mode)(x, 1.5)
    assert device_of(dx) == "cuda:0" and isinstance(dx, gpu.array_type)
    assert type(dscale) is float and dscale == pytest.approx(escale)
    assert_close(_host(dx), ex)


def test_scalar_seeds_are_made_on_the_outputs_device(gpu):
    total = np.sum(gpu.put(np.ones(3)))
    seed = scalar_seed(total)
    assert device_of(seed) == "cuda:0" and isinstance(seed, gpu.array_type)
    assert float(_host(seed)) == 1.0
    x = gpu.put(np.array([1.0, 2.0]))
    for cotangent in (None, 1.0, gpu.put(np.array(1.0))):
        value, pullback = ag.vjp(sum_of_squares, x, mode="source")
        gradient = pullback() if cotangent is None else pullback(cotangent)
        assert device_of(gradient) == "cuda:0", f"cotangent {cotangent!r}"
        assert _host(gradient).tolist() == [2.0, 4.0]


@pytest.mark.parametrize("mode", MODES)
def test_generated_gradients_on_a_second_gpu(gpu, mode):
    gpu.needs(2)
    args = gpu.put(_logistic_data(), index=1)
    dW, db = ag.grad(logistic_loss, wrt=("W", "b"), mode=mode)(*args)
    assert device_of(dW) == "cuda:1" and device_of(db) == "cuda:1"


@pytest.mark.parametrize("mode", MODES)
def test_generated_code_refuses_mixed_devices(gpu, mode):
    W, b, x, y = _logistic_data()
    # W on the device, the data left on the host: CuPy refuses, and so do we.
    with pytest.raises((TypeError, RuntimeError, ValueError)):
        ag.grad(logistic_loss, wrt=("W", "b"), mode=mode)(gpu.put(W), gpu.put(b), x, y)


# -- the conformance tables, on the device -----------------------------------------------------


def _runs_on_device(program: Program, gpu: Gpu) -> str | None:
    """None if the plain program runs on device arrays; else why it cannot (it makes NumPy
    arrays of its own, np.zeros(n), which CuPy refuses to combine with its arrays)."""
    args = program.make_args(np.random.default_rng(0))
    try:
        result = program.function(*gpu.put(args))
    except (TypeError, ValueError, RuntimeError, MixedDeviceArrays) as exc:
        return f"{program.name} itself cannot run on a GPU: {short_reason(exc)}"
    if any(type(r) is np.ndarray or isinstance(r, np.generic) for r in _flat(result)):
        # NumPy copied device values into its own array (y = np.zeros(n); y[i] = x[i]),
        # which CuPy refuses; the stand-in cannot stop NumPy from doing so.
        return f"{program.name} itself cannot run on a GPU: it stores device values in NumPy arrays"
    return None


def _flat(value: Any) -> list:
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _flat(v)]
    if isinstance(value, dict):
        return [x for v in value.values() for x in _flat(v)]
    return [value]


def _table_params(programs: list, modes_of: Any) -> list:
    params = []
    seen: dict = {}
    for program in programs:
        number = seen.get(program.name, 0)
        seen[program.name] = number + 1
        label = program.name if not number else f"{program.name}-{number}"
        for mode in modes_of(program):
            marks = (
                [pytest.mark.skip(reason=program.skip_modes[mode])]
                if mode in program.skip_modes
                else []
            )
            params.append(pytest.param(program, mode, id=f"{label}-{mode}", marks=marks))
    return params


def _check_on_device(program: Program, mode: str, gpu: Gpu) -> None:
    reason = _runs_on_device(program, gpu)
    if reason is not None:
        pytest.skip(reason)
    run(program, mode, to_device=gpu.put)


@pytest.mark.parametrize("program, mode", _table_params(STRAIGHT, lambda p: MODES))
def test_straight_line_table_on_the_device(gpu, program, mode):
    _check_on_device(program, mode, gpu)


def _control_modes(program: Program) -> tuple:
    # Only programs the transform handles whole run in source mode (see programs_control).
    return MODES if "static" in program.tags else ("tape", "auto")


@pytest.mark.parametrize("program, mode", _table_params(CONTROL, _control_modes))
def test_control_flow_table_on_the_device(gpu, program, mode):
    _check_on_device(program, mode, gpu)


#: random programs (random_programs.py: loops, branches, helpers, lists, item assignment),
#: and the broadcasting ones (w a column), on the device in every mode
RANDOM_SEEDS = [*range(20), *range(1000, 1010)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_random_programs_on_the_device(gpu, seed, mode, tmp_path):
    name = f"device_random_program_{seed}_{mode}"
    source = generate_random_program(seed)
    module = write_module(tmp_path, name, source)
    w_shape = (3, 1) if seed >= 1000 else (3,)

    def make_args(rng):
        return rng.uniform(-1, 1, 3), rng.uniform(-1, 1, w_shape)

    program = Program(module.program, make_args, (0, 1), rtol=1e-4, atol=1e-6)
    try:
        program.function(*make_args(np.random.default_rng(0)))
    except ValueError:  # an in-place broadcast NumPy refuses: no function (test_random_programs)
        pytest.skip("the generated program itself is invalid for these shapes")
    try:
        _check_on_device(program, mode, gpu)
    except BaseException:
        print(source)
        raise
    finally:
        sys.modules.pop(name, None)


def test_most_of_the_tables_run_on_the_device():
    """Programs skipped on the device are those that make host arrays themselves; they must
    stay few, or the device tests would prove little."""
    with fake_cuda():
        backend_gpu = Gpu("fake", FakeCudaArray, 2, None)
        skipped = [p.name for p in STRAIGHT + CONTROL if _runs_on_device(p, backend_gpu)]
    assert len(skipped) <= 0.2 * len(STRAIGHT + CONTROL), skipped


# -- every rule of the table, on the device ------------------------------------------------------
#
# Each rule runs on the device and on the CPU, in the tape and in generated source, and the
# two must agree, the device's gradients on the device. Whether a rule is right at all is
# test_rules_tape's and test_rules_source's question; a case that fails on the CPU is left
# to them.


# np.array and np.asarray build NumPy arrays, whatever they are given: CuPy refuses to
# turn its arrays into one (a program for a GPU writes np.stack).
_HOST_ONLY = {np.array, np.asarray}


def _from_scipy(primitive: Any) -> bool:
    """Whether ``primitive`` is scipy's: its functions and ufuncs take NumPy arrays only."""
    owner = getattr(primitive, "__self__", None)
    module = getattr(owner if owner is not None else primitive, "__module__", None) or ""
    if isinstance(primitive, np.ufunc):
        special = sys.modules.get("scipy.special")
        return special is not None and getattr(special, primitive.__name__, None) is primitive
    return module.startswith("scipy")


def _rule_cases() -> list:
    return [
        pytest.param(
            rule,
            spec,
            number,
            id=f"{rule.name}-{number}",
            marks=[pytest.mark.skip(reason="makes a NumPy array")]
            if rule.primitive in _HOST_ONLY
            else [pytest.mark.skip(reason="scipy computes on the host (CuPy has cupyx.scipy)")]
            if _from_scipy(rule.primitive)
            else [],
        )
        for rule in all_rules()
        if rule.vjp.__module__.startswith("astgrad.runtime.rules")
        for number, spec in enumerate(SPECS.get(rule.primitive, []))
    ]


def _device_output(rule: Any, call: tuple, gpu: Gpu) -> Any:
    """The primitive's result for ``call`` computed on the device, copied to the host.

    Where the device's array library cannot compute a NumPy function (CuPy has no
    ``np.block`` or ``np.insert``, no ``where=`` for ``np.sum``) there is nothing to
    differentiate, and the case is skipped; astgrad's own helpers must always run."""
    try:
        out = rule.primitive(*gpu.put(call[0]), **gpu.put(call[1]))
    except Exception as exc:  # noqa: BLE001 - the array library's own refusal
        if getattr(rule.primitive, "__module__", "").startswith("astgrad"):
            raise
        pytest.skip(f"the device cannot compute {rule.name} here: {short_reason(exc)}")
    if isinstance(out, (list, tuple)):
        return tuple(_host(o) for o in out)
    return _host(out)


def _aligned(g: Any, host_out: Any, device_out: Any) -> Any:
    """``g`` for the device's result where that differs from the host's in what the
    function leaves to the implementation: the signs of eigenvectors and singular vectors
    (cuSOLVER's and LAPACK's differ) and the order of ``np.partition``'s other elements.
    The cotangent moves with them, so that ``sum(g * result)`` is the same function of the
    inputs on both, and so are its gradients."""
    if isinstance(g, tuple):
        return tuple(_aligned(*parts) for parts in zip(g, host_out, device_out))
    host, device = np.asarray(host_out), np.asarray(device_out)
    if host.shape != device.shape or host.ndim == 0 or np.allclose(host, device):
        return g
    g = np.asarray(g)
    for axis in (-2, -1):  # columns (eigenvectors, U) or rows (Vh) with their signs flipped
        if host.ndim >= 2:
            signs = np.sign(np.sum(host * device, axis=axis, keepdims=True))
            if np.allclose(host * signs, device):
                return g * signs
    if host.ndim == 1 and np.allclose(np.sort(host), np.sort(device)):  # another order
        order = np.argsort(host)[np.argsort(np.argsort(device))]
        return g[order]
    return g


# What astgrad refuses to differentiate on a GPU although CuPy computes it, and a phrase of
# the error that says why: CuPy's polyfit multiplies y by the weights in place.
_REFUSED_ON_THE_DEVICE = {np.polyfit: "multiplies y by w in place"}


@contextlib.contextmanager
def _unless_refused(rule: Any, spec: Any) -> Iterator[None]:
    """Run the block; where the rule is among those refused on a GPU, expect the refusal
    (a NotImplementedError that says why) where the case passes weights."""
    reason = _REFUSED_ON_THE_DEVICE.get(rule.primitive)
    weighted = "w" in spec.kwargs or len(spec.args) > 5
    if reason is None or not weighted:
        yield
        return
    with pytest.raises(NotImplementedError, match=reason):
        yield
    pytest.skip(f"refused on the device, as it should be: {reason}")


def _rule_cotangent(rule: Any, spec: Any, gpu: Gpu | None) -> Any:
    """The random cotangent of the case's result, aligned to the device's result."""
    call = arguments(spec)
    out = rule.primitive(*call[0], **call[1])
    g = random_cotangent(out, np.random.default_rng(1), spec.outputs)
    return _aligned(g, out, _device_output(rule, call, gpu)) if gpu else g


def _tape_rule_gradients(rule: Any, spec: Any, gpu: Gpu | None, g: Any) -> list:
    put = gpu.put if gpu else (lambda v: v)
    call = arguments(spec)
    tensors = (put(call[0]), {k: put(v) for k, v in call[1].items()})
    paths = differentiable_paths(spec)
    for path in paths:
        leaf = ag.tensor(get_at(tensors, path), device="cuda" if gpu else None, requires_grad=True)
        tensors = replace_at(tensors, path, leaf)
    result = recording.apply(rule, rule.primitive, tuple(tensors[0]), tensors[1])
    if isinstance(result, tuple):
        sum((r * ag.tensor(c).to(r.device)).sum() for r, c in zip(result, g)).backward()
    else:
        result.backward(ag.tensor(g).to(result.device))
    return [get_at(tensors, path).grad for path in paths]


@pytest.mark.parametrize("rule, spec, number", _rule_cases())
def test_every_rule_on_the_device_tape(gpu, rule, spec, number):
    try:
        expected = _tape_rule_gradients(rule, spec, None, _rule_cotangent(rule, spec, None))
    except Exception as exc:  # noqa: BLE001 - reported by test_rules_tape
        pytest.skip(f"fails on the CPU too ({type(exc).__name__}); test_rules_tape reports it")
    g_device = _rule_cotangent(rule, spec, gpu)
    with gpu.transfers() as moves, _unless_refused(rule, spec):
        got = _tape_rule_gradients(rule, spec, gpu, g_device)
    if rule.primitive is not move_to:  # the one rule whose job is to copy
        assert moves.count("to_cpu") == 0, "the backward pass copied a device value to the host"
    for grad, want in zip(got, expected):
        assert grad is not None and grad.device == "cuda:0"
        assert isinstance(grad.data, gpu.array_type)
        assert_close(_host(grad.data), want.data, rtol=1e-7, atol=1e-10, what=rule.name)


def _rule_module(rule: Any, spec: Any, number: int, tmp_path: Path) -> tuple[Any, list]:
    """A module with ``case(a0, a1, ..., keyword inputs)`` calling the primitive (the
    transform reads source, so the call must be written out in a file)."""
    params = [f"a{i}" for i in range(len(spec.args))]
    inputs = [k for k, v in spec.kwargs.items() if isinstance(v, A)]
    keywords = "".join(
        f", {k}={k}" if k in inputs else f", {k}={v!r}" for k, v in spec.kwargs.items()
    )
    path = tmp_path / f"device_rule_{rule.name}_{number}.py"
    path.write_text(
        "import math\nimport operator\nimport numpy as np\n\n"
        f"def case({', '.join(params + inputs)}):\n"
        f"    return PRIMITIVE({', '.join(params)}{keywords})\n"
    )
    loader = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(loader)
    module.PRIMITIVE = rule.primitive
    loader.loader.exec_module(module)
    return module.case, inputs


def _source_rule_gradients(function: Any, flat: list, wrts: list, g: Any, gpu: Gpu | None) -> list:
    put = gpu.put if gpu else (lambda v: v)
    grads = []
    for index in wrts:
        _, pullback = ag.vjp(function, *put(flat), wrt=index, mode="source")
        grads.append(pullback(put(g)))
    return grads


@pytest.mark.parametrize("rule, spec, number", _rule_cases())
def test_every_rule_on_the_device_source(gpu, rule, spec, number, tmp_path):
    function, inputs = _rule_module(rule, spec, number, tmp_path)
    args, kwargs = arguments(spec)
    flat = args + [kwargs[k] for k in inputs]
    positions = {k: len(args) + n for n, k in enumerate(inputs)}
    wrts = [
        positions.get(p, p) for p in dict.fromkeys(path[0] for path in differentiable_paths(spec))
    ]
    g = random_cotangent(function(*flat), np.random.default_rng(1), spec.outputs)
    try:
        expected = _source_rule_gradients(function, flat, wrts, g, None)
    except Exception as exc:  # noqa: BLE001 - reported by test_rules_source
        pytest.skip(f"fails on the CPU too ({type(exc).__name__}); test_rules_source reports it")
    g_device = _aligned(g, function(*flat), _device_output(rule, arguments(spec), gpu))
    with _unless_refused(rule, spec):
        got = _source_rule_gradients(function, flat, wrts, g_device, gpu)
    for index, grad, want in zip(wrts, got, expected):
        argument = gpu.put(flat[index])
        for leaf, leaf_want, leaf_argument in zip(_flat(grad), _flat(want), _flat(argument)):
            assert device_of(leaf) == device_of(leaf_argument), f"{rule.name} argument {index}"
            if type(leaf_argument) is not float:
                assert isinstance(leaf, gpu.array_type), f"{rule.name} argument {index}"
            assert_close(
                _host(leaf), leaf_want, rtol=1e-7, atol=1e-10, what=f"{rule.name} argument {index}"
            )


# -- the stand-in itself -----------------------------------------------------------------------


def test_the_stand_in_behaves_like_cupy():
    with fake_cuda() as backend:
        a = to_fake(np.arange(4.0), 1)
        assert type(np.tanh(a)) is FakeCudaArray and np.tanh(a).fake_index == 1
        total = np.sum(a)
        assert type(total) is FakeCudaArray and total.shape == (), "0-d arrays, not scalars"
        assert type(a[0]) is FakeCudaArray and type(a.T) is FakeCudaArray
        assert device_of(a) == "cuda:1" and device_of(a * 2) == "cuda:1"
        xp = device_module.array_module(a)
        assert isinstance(xp, FakeCupy) and device_of(xp.zeros(3)) == "cuda:1"
        assert device_of(xp.linalg.norm(a)) == "cuda:1"
        assert device_module.array_module(np.ones(2), a) is xp
        with pytest.raises(TypeError, match="Unsupported type"):
            a + np.ones(4)  # a host array next to a device array
        with pytest.raises(MixedDeviceArrays):
            a + to_fake(np.ones(4), 0)
        assert type(to_device(a, "cpu")) is np.ndarray
        assert device_of(to_device(a, "cuda:0")) == "cuda:0"
        assert device_of(to_device(np.ones(2), "cuda:1")) == "cuda:1"
        assert backend.device_count() == 2 and ag.cuda_is_available()


def test_the_stand_in_is_gone_after_its_block():
    before = ag.cuda_is_available()
    with fake_cuda():
        assert ag.cuda_is_available()
        assert ag.zeros(1, device="cuda").device == "cuda:0"
    assert ag.cuda_is_available() == before
    if not before:
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            ag.zeros(1, device="cuda")


# -- installing: CuPy is optional -------------------------------------------------------------

_BLOCK_CUPY = textwrap.dedent(
    """
    import importlib.abc
    import sys

    class NoCupy(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "cupy" or name.startswith(("cupy.", "cupyx", "cupy_backends")):
                raise ModuleNotFoundError("No module named 'cupy' (blocked by the test)")
            return None

    sys.meta_path.insert(0, NoCupy())
    """
)


def test_import_astgrad_never_needs_cupy():
    script = _BLOCK_CUPY + textwrap.dedent(
        """
        import numpy as np
        import astgrad as ag
        assert not any(m.startswith("cupy") for m in sys.modules), "import astgrad loaded CuPy"

        @ag.grad
        def f(x):
            return np.sum(np.tanh(x) ** 2)

        print("grad", f(np.ones(3)).shape)
        t = ag.randn(3, requires_grad=True)
        (t * t).sum().backward()
        print("tape", t.grad.device)
        print("available", ag.cuda_is_available())
        try:
            t.cuda()
        except RuntimeError as exc:
            print("cuda()", exc)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout
    assert "grad (3,)" in lines and "tape cpu" in lines and "available False" in lines
    assert "pip install 'astgrad[cuda]'" in lines and "CuPy is not installed" in lines

"""The example scripts run as a user runs them (``python examples/NAME.py``) and say what
they should."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def walkthrough() -> str:
    return _run("seed_walkthrough.py")


@pytest.fixture(scope="module")
def training() -> str:
    return _run("train_linear.py")


@pytest.mark.parametrize(
    "line",
    [
        "a.grad_fn (a leaf made by the user): None",
        "d.grad_fn: <AddBackward object at",
        "L.grad_fn: <SubBackward object at",
        "a.is_leaf = True, a.requires_grad = True",
        "d.is_leaf = False, d.requires_grad = True",
        "L.backward() raises RuntimeError:",
        "grad can be implicitly created only for scalar outputs",
        "both fixes give the same gradients: True",
        "dL/da = -(w3*w1 + w4*w2): ok",
        "dL/dw1 = -w3*a: ok",
        "dL/dw4 = -w2*a: ok",
        "but the new w1 is computed, not a leaf: w1.is_leaf: False",
        "with ag.no_grad(): w2 -= lr * w2.grad; w2.is_leaf: True",
        "loss.backward() a second time raises RuntimeError:",
        "retain_graph=True",
        "after the second backward (gradients add up): tensor([ 4.,  8., 12.])",
        "a.grad == 9 a^2: True",
        "b.grad == -2 b: True",
        "inside no_grad, (a * 2).requires_grad: False",
        "ag.tensor([1, 2], requires_grad=True) raises RuntimeError:",
        "walkthrough finished",
    ],
)
def test_walkthrough_prints(walkthrough, line):
    assert line in walkthrough


def test_walkthrough_reports_no_mismatch(walkthrough):
    assert "MISMATCH" not in walkthrough
    assert walkthrough.count(" ok\n") == 5


def test_training_loss_falls_and_model_fits(training):
    assert "tape gradient matches the closed form X^T (p - y) / n: True" in training
    losses = [float(v) for v in re.findall(r"^step\s+\d+\s+loss ([0-9.]+)", training, re.M)]
    assert len(losses) >= 5
    assert losses[0] == pytest.approx(np.log(2.0), abs=1e-6), "zero weights start at log 2"
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    assert losses[-1] < 0.5 * losses[0]
    assert "every step lower: True" in training
    accuracy = float(re.search(r"final accuracy: ([0-9.]+)", training).group(1))
    assert accuracy >= 0.85


def test_gpu_placement_says_where_it_runs():
    out = _run("gpu_placement.py")
    device = re.search(r"^running on: (\S+)", out, re.M).group(1)
    if device == "cpu":
        assert "no CUDA device: " in out and "running on the CPU instead" in out
    assert "tape: every gradient on its parameter's device: True" in out
    assert f"generated: gradients on {device}\n" in out
    assert "tape and generated gradients train alike: True" in out
    assert "loss falls: True" in out


def test_control_flow_example_shows_adjoint_and_explain():
    out = _run("control_flow.py")
    assert "finite differences agree: True" in out
    assert "def settle_grad(x, rate):" in out and "# grad of: while" in out
    assert "for _ in range(pop()):" in out
    assert "mode: mixed" in out
    assert "guarded_log at " in out and "`try`" in out


def test_newton_finds_the_rosenbrock_minimum_with_generated_second_derivatives():
    out = _run("newton.py")
    assert "minimum found: [1. 1. 1. 1.]" in out
    assert "matrix-free minimum: [1. 1. 1. 1.]" in out
    assert "def rosenbrock_jvp(x, *, dx):" in out
    assert "# tangent of: return np.sum(" in out


def test_a_model_written_as_classes_trains_on_generated_source():
    out = _run("train_module.py")
    losses = [float(v) for v in re.findall(r"loss (\d+\.\d+)", out)]
    assert len(losses) == 4 and losses[-1] < losses[0] / 5
    assert "gradient: an MLP of 3 Dense layers; its name is None" in out
    assert "explain: source" in out
    assert "def loss_grad(self, x, y):" in out and "dself = add_field(" in out


def test_dask_logistic_regression_trains_lazily_on_a_two_worker_cluster():
    pytest.importorskip("dask.array")
    pytest.importorskip("distributed")
    out = _run("dask_logistic.py", "--quick")
    losses = [float(v) for v in re.findall(r"loss (\d+\.\d+)", out)]
    assert len(losses) == 3 and losses[0] > losses[1] > losses[2]
    assert "2 workers of 400 MB each" in out
    cosine = float(re.search(r"cosine\(w, true weights\) = (\d\.\d+)", out).group(1))
    assert cosine > 0.9


def test_jit_simulation_fits_a_spring_with_a_compiled_gradient():
    pytest.importorskip("numba")
    out = _run("jit_simulation.py", "--quick")
    assert "loss: compiled with Numba for (float64, float64, array(float64, 1d, C), float64)" in out
    fitted = re.search(r"fitted: k = (\d+\.\d+) \(true 4.0\), c = (\d+\.\d+) \(true 0.3\)", out)
    assert fitted is not None, out
    assert abs(float(fitted.group(1)) - 4.0) < 0.05 and abs(float(fitted.group(2)) - 0.3) < 0.02

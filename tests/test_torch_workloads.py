"""The PyTorch versions of the workload matrix's programs compute the same loss and gradients.

``benchmarks/torch_workloads.py`` writes each workload of ``benchmarks/workloads.py`` again
for PyTorch eager, the peer of issue 18's "no worse than PyTorch eager" target. A timing
against a PyTorch program that computes something else would mean nothing, so each is
checked here against the hand-written NumPy gradient (itself checked against finite
differences in ``tests/test_workloads.py``): loss and every gradient within 1e-8 relative,
in float64. Skipped where PyTorch is not installed (CI installs no 200 MB wheel).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from modules import load_benchmark  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


_workloads = load_benchmark("workloads")
_torch_workloads = load_benchmark("torch_workloads")
WORKLOADS = _workloads.WORKLOADS


def test_every_workload_has_a_torch_version():
    missing = [w.name for w in WORKLOADS if w.name not in _torch_workloads.TORCH]
    assert not missing, f"no PyTorch version of {missing} in benchmarks/torch_workloads.py"


CASES = [(w, False) for w in WORKLOADS] + [
    (w, True) for w in WORKLOADS if w.name in _torch_workloads.FUSED
]


@pytest.mark.parametrize(
    ("workload", "fused"), CASES, ids=[w.name + (" fused" if f else "") for w, f in CASES]
)
def test_torch_gradient_matches_hand_written(workload, fused):
    args = workload.args(workload.make_args(np.random.default_rng(0)))
    want_loss, want_grads = workload.by_hand(*args)
    loss, grads = _torch_workloads.make_call(workload, args, fused=fused)()
    assert loss.dtype == torch.float64
    np.testing.assert_allclose(loss.item(), want_loss, rtol=1e-8, err_msg="loss")
    assert len(grads) == len(workload.wrt)
    for name, got, want in zip(workload.wrt, grads, want_grads):
        want = np.asarray(want, dtype=np.float64)
        got = got.detach().numpy()
        assert got.shape == want.shape, f"d/d{name}: shape {got.shape}, expected {want.shape}"
        # Relative to the gradient's largest entry: an entry that is nearly zero by
        # cancellation has no meaningful relative error of its own.
        scale = float(np.max(np.abs(want))) or 1.0
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-8 * scale, err_msg=f"d/d{name}")


def test_fused_spellings_are_of_known_workloads():
    assert set(_torch_workloads.FUSED) <= {w.name for w in WORKLOADS}


@pytest.mark.parametrize("name", ["MLP @", "GP likelihood"])
def test_torch_forward_matches_numpy(name):
    """The no-grad forward the benchmark times computes the workload's loss."""
    workload = _workloads.BY_NAME[name]
    args = workload.args(workload.make_args(np.random.default_rng(1)))
    got = _torch_workloads.make_forward(workload, args)()
    np.testing.assert_allclose(got.item(), workload.function(*args), rtol=1e-10)


def test_arguments_are_copied_not_shared():
    """PyTorch's tensors do not share memory with the workload's arrays: an in-place
    write on the PyTorch side cannot change what the other methods are timed on."""
    array = np.arange(6.0).reshape(2, 3)
    tensor = _torch_workloads.as_tensor(array, requires_grad=False)
    tensor[0, 0] = 100.0
    assert array[0, 0] == 0.0
    labels = _torch_workloads.as_tensor(np.array([1, 0, 2], dtype=np.int32), requires_grad=False)
    assert labels.dtype == torch.int64  # indexes, as the NumPy workload's labels do


def _run_matrix_torch(*prefix: str) -> subprocess.CompletedProcess:
    """``benchmarks/matrix_torch.py --quick`` on two workloads (a smoke run: no times
    are asserted), after the Python lines ``prefix``."""
    script = ROOT / "benchmarks" / "matrix_torch.py"
    code = "; ".join([
        *prefix,
        "import runpy, sys",
        f"sys.argv = [{str(script)!r}, '--quick', '--only', 'MLP @', '--only', 'logistic']",
        f"runpy.run_path({str(script)!r}, run_name='__main__')",
    ])  # fmt: skip
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300
    )


def test_matrix_torch_runs():
    done = _run_matrix_torch()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| MLP @ " in done.stdout and "| logistic " in done.stdout
    assert "astgrad slower than PyTorch eager on:" in done.stdout
    assert "disagrees" not in done.stdout and "failed" not in done.stdout


def test_matrix_torch_runs_without_torch():
    """Where PyTorch does not import, the PyTorch columns are empty and a line says why."""
    done = _run_matrix_torch("import sys", "sys.modules['torch'] = None")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PyTorch columns empty: torch is not installed" in done.stdout
    row = next(line for line in done.stdout.splitlines() if line.startswith("| MLP @ "))
    assert row.count("—") == 4  # torch / hand, astgrad / torch (eager, fused), torch fwd

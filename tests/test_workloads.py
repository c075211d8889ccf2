"""The workload matrix's programs (benchmarks/workloads.py, issue 18) differentiate right.

Every hand-written gradient is checked against central finite differences in float64, and
astgrad's gradient in every mode (source, auto, tape) and the installed peers' (HIPS
autograd, JAX in float64) against the hand-written one. These are new programs written as
users write them; where astgrad cannot differentiate one in some mode the test is an
``xfail(strict=True)`` naming the error, so that a fix shows. ``benchmarks/matrix.py
--quick`` is smoke-tested at the end (it asserts nothing about times).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import astgrad as ag

ROOT = Path(__file__).resolve().parents[1]


def _load_workloads():
    """``benchmarks/workloads.py`` read from its file (the transform reads their source)."""
    path = ROOT / "benchmarks" / "workloads.py"
    spec = importlib.util.spec_from_file_location("workloads_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_bench = _load_workloads()
WORKLOADS = _bench.WORKLOADS
NAMES = [w.name for w in WORKLOADS]

#: (workload, mode) pairs astgrad cannot differentiate yet, and the error they raise
KNOWN_FAILURES: dict = {}


def _arguments(w, seed: int = 0) -> tuple:
    return w.args(w.make_args(np.random.default_rng(seed)))


def _as_list(gradients) -> list:
    return list(gradients) if isinstance(gradients, (tuple, list)) else [gradients]


def _assert_matches(got, expected, what: str, rtol: float = 1e-9) -> None:
    got_loss, got_grads = got
    want_loss, want_grads = expected
    np.testing.assert_allclose(
        np.asarray(got_loss, dtype=np.float64), want_loss, rtol=rtol, err_msg=f"{what}: loss"
    )
    got_grads, want_grads = _as_list(got_grads), _as_list(want_grads)
    assert len(got_grads) == len(want_grads), f"{what}: {len(got_grads)} gradients"
    for i, (g, e) in enumerate(zip(got_grads, want_grads)):
        g = np.asarray(g, dtype=np.float64)
        assert g.shape == np.shape(e), f"{what}: gradient {i} has shape {g.shape}"
        # Gradients sum many terms in another order: relative to the gradient's scale.
        scale = float(np.max(np.abs(e))) or 1.0
        np.testing.assert_allclose(g, e, rtol=rtol, atol=rtol * scale, err_msg=f"{what}: {i}")


@pytest.mark.parametrize("w", WORKLOADS, ids=NAMES)
def test_by_hand_computes_the_functions_loss(w) -> None:
    args = _arguments(w)
    loss, gradients = w.by_hand(*args)
    np.testing.assert_allclose(loss, w.function(*args), rtol=1e-12)
    assert len(gradients) == len(w.wrt)


@pytest.mark.parametrize("w", WORKLOADS, ids=NAMES)
def test_by_hand_matches_finite_differences(w) -> None:
    """For each parameter, the hand-written gradient's derivative along random directions
    against the central difference of the function along them (float64). A direction
    checks every entry at once: a wrong entry shows unless the direction misses it, which
    random directions do not."""
    args = _arguments(w)
    _, gradients = w.by_hand(*args)
    rng = np.random.default_rng(1)
    # The relu MLPs' losses have kinks: the wider one needs a smaller step not to cross one.
    eps = 1e-8 if w.name.startswith("large") else 1e-6
    for name, position, gradient in zip(w.wrt, w.positions, gradients):
        value = args[position]
        for _ in range(2):
            if isinstance(value, float):
                direction = float(rng.choice([-1.0, 1.0]))
            else:
                direction = rng.standard_normal(np.shape(value))

            def along(step: float, position=position, value=value, direction=direction):
                moved = list(args)
                moved[position] = value + step * direction
                return float(w.function(*moved))

            numeric = (along(eps) - along(-eps)) / (2 * eps)
            analytic = float(np.sum(np.asarray(gradient) * direction))
            assert abs(numeric - analytic) <= 1e-6 * max(1.0, abs(numeric)), (
                f"{w.name}: d/d{name} by hand {analytic!r}, finite differences {numeric!r}"
            )


def _mode_cases():
    for w in WORKLOADS:
        for mode in ("source", "auto", "tape"):
            known = KNOWN_FAILURES.get((w.name, mode))
            marks = []
            if known is not None:
                marks = [pytest.mark.xfail(raises=known[0], reason=known[1], strict=True)]
            yield pytest.param(w, mode, marks=marks, id=f"{w.name}-{mode}")


@pytest.mark.parametrize(("w", "mode"), list(_mode_cases()))
def test_astgrad_matches_by_hand(w, mode: str) -> None:
    args = _arguments(w)
    got = ag.value_and_grad(w.function, wrt=w.wrt, mode=mode)(*args)
    _assert_matches(got, w.by_hand(*args), f"{w.name}, mode={mode}")
    # A second call runs the cached gradient (its call plan), with other values.
    args = _arguments(w, seed=2)
    got = ag.value_and_grad(w.function, wrt=w.wrt, mode=mode)(*args)
    _assert_matches(got, w.by_hand(*args), f"{w.name}, mode={mode}, second call")


def _rebind(function, module):
    namespace = dict(function.__globals__)
    namespace["np"] = module
    return types.FunctionType(function.__code__, namespace, function.__name__)


#: what a peer cannot run, by its own limits (matrix.py lists these under its table)
PEER_LIMITS = {("MLP x.dot", "autograd"): "autograd's ArrayBox has no .dot method"}


@pytest.mark.parametrize("w", [w for w in WORKLOADS if w.no_peers is None], ids=lambda w: w.name)
def test_autograd_matches_by_hand(w) -> None:
    autograd = pytest.importorskip("autograd")
    import autograd.numpy as anp

    if (w.name, "autograd") in PEER_LIMITS:
        pytest.skip(PEER_LIMITS[(w.name, "autograd")])
    args = _arguments(w)
    got = autograd.value_and_grad(_rebind(w.function, anp), argnum=w.positions)(*args)
    _assert_matches(got, w.by_hand(*args), f"{w.name}, autograd")


def test_jax_matches_by_hand_where_autograd_cannot() -> None:
    """JAX eager in float64 on the workload autograd cannot run (JAX compiles each operation
    for seconds in all; ``benchmarks/matrix.py`` checks JAX's gradient on every workload
    against the hand-written one before timing it)."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    for name, _ in PEER_LIMITS:
        w = _bench.BY_NAME[name]
        args = _arguments(w)
        values = [jnp.asarray(v) for v in args]
        got = jax.value_and_grad(_rebind(w.function, jnp), argnums=w.positions)(*values)
        _assert_matches(got, w.by_hand(*args), f"{w.name}, jax")


def test_matrix_quick_runs_and_prints_every_workload() -> None:
    results = ROOT / "benchmarks" / "RESULTS.md"
    before = results.read_text() if results.exists() else None
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "matrix.py"), "--quick", "--no-write"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, f"matrix.py failed:\n{run.stdout}\n{run.stderr}"
    out = run.stdout
    assert "## Workloads as users write them (benchmarks/matrix.py)" in out
    header = next((line for line in out.splitlines() if line.startswith("| workload ")), None)
    assert header is not None, out
    for column in ("hand / fwd", "source / fwd", "tape / fwd", "source / hand"):
        assert column in header, f"no column {column!r} in {header!r}"
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    for name in NAMES:
        row = next((line for line in rows if line.startswith(f"| {name} ")), None)
        assert row is not None, f"no row for {name!r}"
        # A source-mode gradient that raises shows as FAIL (and under the table).
        assert ("FAIL" in row) == ((name, "source") in KNOWN_FAILURES), row
    if importlib.util.find_spec("torch") is not None:
        # PyTorch runs each workload as written for it (torch_workloads.py), on all of them.
        assert "torch eager failed" not in out and "torch eager not run" not in out, out
        assert "torch eager / fwd" in header, header
    assert (results.read_text() if results.exists() else None) == before, (
        "--no-write wrote RESULTS.md"
    )

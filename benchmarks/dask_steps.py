"""Time per gradient step on Dask arrays: astgrad's generated gradient against the same
computation written by hand with ``dask.array``.

Run it with ``python benchmarks/dask_steps.py`` (``--quick`` for small data, one repeat).

The data are in memory (``persist``), chunked by rows, and each step computes the loss and
the gradients in one ``dask.compute`` on Dask's threaded scheduler, so the times compare
the graphs the two build: the same operations should cost the same. Each figure is the
least CPU time of the process (Dask's threads together) over a few repeats. Columns:

* **build**: making the lazy graph (``ag.value_and_grad(...)(...)``, or the hand-written
  expressions), which computes nothing;
* **step**: build plus the one compute of value and gradients;
* **ratio**: astgrad's step over the hand-written one (1.00x: the same cost);
* **separate**: astgrad's value and gradients computed by separate ``.compute()`` calls,
  over the one joint compute: each call reruns the forward pass.
"""

from __future__ import annotations

import os

# BLAS on one thread, set before NumPy loads it: Dask's threads are the parallelism, and
# BLAS threads spinning beside them would count in the CPU times.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import functools  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import dask  # noqa: E402
import dask.array as da  # noqa: E402
import numpy as np  # noqa: E402

try:
    import astgrad as ag
except ModuleNotFoundError:  # run from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import astgrad as ag


def logistic(w, b, x, y):
    z = x @ w + b
    return np.mean(np.logaddexp(0.0, z) - y * z) + 1e-4 * np.sum(w * w)


def logistic_by_hand(w, b, x, y):
    z = x @ w + b
    value = da.mean(da.logaddexp(0.0, z) - y * z) + 1e-4 * da.sum(w * w)
    r = (1 / (1 + da.exp(-z)) - y) / x.shape[0]
    return value, (x.T @ r + 2e-4 * w, r.sum())


def mlp(w1, b1, w2, x, y):
    h = np.tanh(x @ w1 + b1)
    return np.mean((h @ w2 - y) ** 2)


def mlp_by_hand(w1, b1, w2, x, y):
    h = da.tanh(x @ w1 + b1)
    e = h @ w2 - y
    value = da.mean(e**2)
    de = 2 * e / e.shape[0]
    dh = de[:, None] * w2 * (1 - h * h)
    return value, (x.T @ dh, dh.sum(axis=0), h.T @ de)


def best_of(repeats: int, run) -> float:
    """The least CPU time of this process (all of Dask's threads) over ``repeats`` runs:
    on a shared machine, wall time moves with other work more than the work itself."""
    times = []
    for _ in range(repeats):
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return min(times)


def workloads(rows: int, features: int, chunk: int):
    rng = np.random.default_rng(0)
    x = da.from_array(rng.normal(size=(rows, features)), chunks=(chunk, features)).persist()
    y = da.from_array((rng.random(rows) > 0.5).astype(float), chunks=chunk).persist()
    hidden = 32
    return [
        ("logistic", logistic, logistic_by_hand, (np.zeros(features), 0.0, x, y), ("w", "b")),
        (
            f"MLP ({hidden} hidden)",
            mlp,
            mlp_by_hand,
            (
                rng.normal(size=(features, hidden)) * 0.1,
                np.zeros(hidden),
                rng.normal(size=hidden) * 0.1,
                x,
                y,
            ),
            ("w1", "b1", "w2"),
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, one repeat")
    args = parser.parse_args()
    rows, features, chunk, repeats = (
        (20_000, 20, 5_000, 1) if args.quick else (2_000_000, 20, 250_000, 5)
    )
    print(
        f"## Dask (benchmarks/dask_steps.py)\n\n{rows:,} x {features} float64 in memory, chunks of "
        f"{chunk:,} rows, threaded scheduler; CPU time, best of {repeats}\n"
    )
    print("| workload | build astgrad | build by hand | step astgrad | step by hand | ratio "
          "| separate computes / joint |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|")
    with dask.config.set(scheduler="threads"):
        for name, f, by_hand, inputs, wrt in workloads(rows, features, chunk):
            gradient = ag.value_and_grad(f, wrt=wrt)
            gradient(*inputs)  # the first call generates the gradient: not a step's cost

            def ours(gradient=gradient, inputs=inputs):
                return dask.compute(*gradient(*inputs))

            def theirs(by_hand=by_hand, inputs=inputs):
                return dask.compute(*by_hand(*inputs))

            def separately(gradient=gradient, inputs=inputs):
                value, grads = gradient(*inputs)
                return value.compute(), [g.compute() for g in grads]

            mine, hand = ours(), theirs()  # same numbers, or the comparison means nothing
            assert np.allclose(mine[0], hand[0])
            assert all(np.allclose(a, b) for a, b in zip(mine[1], hand[1]))
            build_ours = best_of(repeats, functools.partial(gradient, *inputs))
            build_theirs = best_of(repeats, functools.partial(by_hand, *inputs))
            step_ours = best_of(repeats, ours)
            step_theirs = best_of(repeats, theirs)
            apart = best_of(repeats, separately)
            print(
                f"| {name} | {build_ours * 1e3:.1f} ms | {build_theirs * 1e3:.1f} ms "
                f"| {step_ours * 1e3:.0f} ms | {step_theirs * 1e3:.0f} ms "
                f"| {step_ours / step_theirs:.2f}x | {apart / step_ours:.2f}x |"
            )


if __name__ == "__main__":
    main()

"""Logistic regression by gradient descent on more data than a worker may hold, with Dask.

The loss is plain NumPy code, differentiated once by astgrad. Given Dask arrays, the
generated gradient builds a lazy graph: nothing is computed until ``client.compute`` asks
for the loss and both gradients together, which reads every chunk of the data once per
step. The data (1.6 GB of float64 by default, against two workers of 400 MB each) are
generated lazily by ``da.random`` from a fixed seed, chunk by chunk, and never held
whole: each step regenerates them. Run:

    python3 examples/dask_logistic.py            # 1.6 GB, a few seconds per step
    python3 examples/dask_logistic.py --quick    # a few thousand rows, for the tests

Asking for the loss and the gradients in separate ``.compute()`` calls would run the
forward pass, and generate the data, once for each of them.
"""

from __future__ import annotations

import argparse
import time

import dask.array as da
import numpy as np
from distributed import Client, LocalCluster, progress

import astgrad as ag


def loss(w, b, x, y):
    """Mean logistic loss of the labels ``y`` in {0, 1}, written stably: log(1 + e^z) - y z."""
    z = x @ w + b
    return np.mean(np.logaddexp(0.0, z) - y * z) + 1e-4 * np.sum(w * w)


def make_data(rows: int, features: int, chunk_rows: int, seed: int = 0):
    """Lazy data: Gaussian features, labels from a known linear model with noise."""
    state = da.random.RandomState(seed)
    x = state.standard_normal((rows, features), chunks=(chunk_rows, features))
    truth = np.linspace(-1.0, 1.0, features)
    noise = state.standard_normal(rows, chunks=chunk_rows)
    y = (x @ truth + 0.5 * noise > 0.3).astype(np.float64)
    return x, y, truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few thousand rows, 3 steps")
    parser.add_argument("--steps", type=int, default=None, help="gradient steps (default 5)")
    args = parser.parse_args()

    if args.quick:
        rows, features, chunk_rows, steps = 4_000, 20, 1_000, args.steps or 3
    else:
        rows, features, chunk_rows, steps = 10_000_000, 20, 250_000, args.steps or 5
    x, y, truth = make_data(rows, features, chunk_rows)
    gradient = ag.value_and_grad(loss, wrt=("w", "b"))

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            memory_limit="400MB",
            dashboard_address=None,
            silence_logs=50,
        ) as cluster,
        Client(cluster) as client,
    ):
        print(
            f"data: {rows:,} rows x {features} features = {x.nbytes / 1e9:.2f} GB of float64 "
            f"in {x.numblocks[0]} chunks; 2 workers of 400 MB each"
        )
        w, b = np.zeros(features), 0.0
        rate = 1.0
        for step in range(1, steps + 1):
            start = time.perf_counter()
            value, (dw, db) = gradient(w, b, x, y)  # lazy: builds the graph, computes nothing
            # One compute for the loss and both gradients: the data are read once.
            futures = client.compute([value, dw, db])
            if not args.quick:
                progress(futures)  # Dask's progress bar, until the step is computed
            value, dw, db = client.gather(futures)
            w = w - rate * dw
            b = b - rate * float(db)
            print(
                f"step {step}: loss {float(value):.5f}  |grad| {np.linalg.norm(dw):.2e}  "
                f"({time.perf_counter() - start:.1f} s)"
            )
        cosine = w @ truth / (np.linalg.norm(w) * np.linalg.norm(truth))
        print(f"cosine(w, true weights) = {cosine:.3f}")


if __name__ == "__main__":
    main()

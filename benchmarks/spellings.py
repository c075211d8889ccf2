"""Every spelling of a matrix product should cost what ``@`` costs (issue 18).

Run it with ``python benchmarks/spellings.py`` (``--quick`` for fewer repeats). One
workload, a 3-layer tanh MLP of width 64 on a batch of 32 whose loss is the sum of the
squared outputs, written six ways: with ``@``, ``np.dot(x, W)``, ``x.dot(W)``,
``np.matmul(x, W)``, ``np.tensordot(x, W, axes=1)`` and ``np.einsum("ij,jk->ik", x, W)``.
For each it prints the forward's time, the time of ``ag.grad(f, mode="source")`` (value
and gradient of the six weights and biases), the backward's share (gradient minus
forward), the ratio gradient / forward, and the backward over ``@``'s backward: 1.00x
means the spelling's gradient adds what ``@``'s adds. (``np.einsum`` computes its
products without BLAS, so its forward is slower than the others' and its gradient /
forward ratio lower: the last column compares the work the gradient adds.) Each time is
the best, over several repeats, of the mean of many calls.

A second table does the same for an outer product, a rank-1 fit ``np.sum((M - A) ** 2)``
with ``M`` written six ways (``u[:, None] * v[None, :]``, ``u[:, None] * v``,
``np.outer(u, v)``, ``np.einsum("i,j->ij", u, v)``, ``u.reshape(-1, 1) * v`` and
``np.multiply.outer(u, v)``), each against the hand-written value and gradient
(``dM @ v``, ``u @ dM``).
Everything runs in float64 on one thread. It prints times; it asserts nothing.
"""

from __future__ import annotations

import os

# One thread, set before NumPy loads its BLAS thread pool.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import timeit  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

try:
    import astgrad as ag
except ModuleNotFoundError:  # run from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import astgrad as ag

WIDTH = 64
BATCH = 32


def mlp_matmul_operator(params, x):
    W1, b1, W2, b2, W3, b3 = params
    h = np.tanh(x @ W1 + b1)
    h = np.tanh(h @ W2 + b2)
    out = np.tanh(h @ W3 + b3)
    return np.sum(out * out)


def mlp_np_dot(params, x):
    W1, b1, W2, b2, W3, b3 = params
    h = np.tanh(np.dot(x, W1) + b1)
    h = np.tanh(np.dot(h, W2) + b2)
    out = np.tanh(np.dot(h, W3) + b3)
    return np.sum(out * out)


def mlp_dot_method(params, x):
    W1, b1, W2, b2, W3, b3 = params
    h = np.tanh(x.dot(W1) + b1)
    h = np.tanh(h.dot(W2) + b2)
    out = np.tanh(h.dot(W3) + b3)
    return np.sum(out * out)


def mlp_np_matmul(params, x):
    W1, b1, W2, b2, W3, b3 = params
    h = np.tanh(np.matmul(x, W1) + b1)
    h = np.tanh(np.matmul(h, W2) + b2)
    out = np.tanh(np.matmul(h, W3) + b3)
    return np.sum(out * out)


def mlp_tensordot(params, x):
    W1, b1, W2, b2, W3, b3 = params
    h = np.tanh(np.tensordot(x, W1, axes=1) + b1)
    h = np.tanh(np.tensordot(h, W2, axes=1) + b2)
    out = np.tanh(np.tensordot(h, W3, axes=1) + b3)
    return np.sum(out * out)


def mlp_einsum(params, x):
    W1, b1, W2, b2, W3, b3 = params
    h = np.tanh(np.einsum("ij,jk->ik", x, W1) + b1)
    h = np.tanh(np.einsum("ij,jk->ik", h, W2) + b2)
    out = np.tanh(np.einsum("ij,jk->ik", h, W3) + b3)
    return np.sum(out * out)


SPELLINGS: dict[str, Callable[..., Any]] = {
    "x @ W": mlp_matmul_operator,
    "np.dot(x, W)": mlp_np_dot,
    "x.dot(W)": mlp_dot_method,
    "np.matmul(x, W)": mlp_np_matmul,
    "np.tensordot(x, W, axes=1)": mlp_tensordot,
    'np.einsum("ij,jk->ik", x, W)': mlp_einsum,
}


def outer_by_columns(u, v, A):
    return np.sum((u[:, None] * v[None, :] - A) ** 2)


def outer_by_column(u, v, A):
    return np.sum((u[:, None] * v - A) ** 2)


def outer_np_outer(u, v, A):
    return np.sum((np.outer(u, v) - A) ** 2)


def outer_einsum(u, v, A):
    return np.sum((np.einsum("i,j->ij", u, v) - A) ** 2)


def outer_reshape(u, v, A):
    return np.sum((u.reshape(-1, 1) * v - A) ** 2)


def outer_ufunc_method(u, v, A):
    return np.sum((np.multiply.outer(u, v) - A) ** 2)


def outer_by_hand(u, v, A):
    error = u[:, None] * v[None, :] - A
    dM = 2.0 * error
    return np.sum(error**2), (dM @ v, u @ dM)


OUTER_SPELLINGS: dict[str, Callable[..., Any]] = {
    "u[:, None] * v[None, :]": outer_by_columns,
    "u[:, None] * v": outer_by_column,
    "np.outer(u, v)": outer_np_outer,
    'np.einsum("i,j->ij", u, v)': outer_einsum,
    "u.reshape(-1, 1) * v": outer_reshape,
    "np.multiply.outer(u, v)": outer_ufunc_method,
}
OUTER_SHAPE = (48, 64)


def make_inputs(seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in ((WIDTH, WIDTH), (WIDTH, WIDTH), (WIDTH, WIDTH)):
        params.append(rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in))
        params.append(0.1 * rng.standard_normal(fan_out))
    return params, rng.standard_normal((BATCH, WIDTH))


def best_time(call: Callable[[], Any], number: int, repeat: int) -> float:
    """The best, over ``repeat`` runs, of the mean time of one of ``number`` calls."""
    call()  # warm up: the first call compiles the gradient
    return min(timeit.repeat(call, number=number, repeat=repeat)) / number


def measure(number: int, repeat: int) -> list[tuple[str, float, float]]:
    params, x = make_inputs()
    rows = []
    for name, f in SPELLINGS.items():
        gradient = ag.grad(f, mode="source")
        forward_s = best_time(lambda f=f: f(params, x), number, repeat)
        grad_s = best_time(lambda g=gradient: g(params, x), number, repeat)
        rows.append((name, forward_s, grad_s))
    return rows


def measure_outer(number: int, repeat: int) -> tuple[float, list[tuple[str, float]]]:
    """The hand-written value and gradient's time, and each spelling's
    ``ag.value_and_grad`` time (checked against the hand-written gradient first)."""
    rng = np.random.default_rng(1)
    u, v = rng.standard_normal(OUTER_SHAPE[0]), rng.standard_normal(OUTER_SHAPE[1])
    A = rng.standard_normal(OUTER_SHAPE)
    _, expected = outer_by_hand(u, v, A)
    hand_s = best_time(lambda: outer_by_hand(u, v, A), number, repeat)
    rows = []
    for name, f in OUTER_SPELLINGS.items():
        gradient = ag.value_and_grad(f, wrt=(0, 1), mode="source")
        _, got = gradient(u, v, A)
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g, e, rtol=1e-10, err_msg=name)
        rows.append((name, best_time(lambda g=gradient: g(u, v, A), number, repeat)))
    return hand_s, rows


def outer_table(hand_s: float, rows: list[tuple[str, float]]) -> str:
    m, n = OUTER_SHAPE
    lines = [
        f"Rank-1 fit np.sum((M - A) ** 2), M the outer product of vectors of {m} and {n}, "
        'float64, one thread; ag.value_and_grad(f, wrt=(0, 1), mode="source") against the '
        f"hand-written value and gradient ({hand_s * 1e6:.1f} us)",
        "",
        "| spelling | value and gradient (us) | vs hand-written |",
        "|---|---:|---:|",
    ]
    for name, grad_s in rows:
        lines.append(f"| `{name}` | {grad_s * 1e6:.1f} | {grad_s / hand_s:.2f}x |")
    return "\n".join(lines)


def table(rows: list[tuple[str, float, float]]) -> str:
    base = rows[0][2] - rows[0][1]
    lines = [
        f"3-layer tanh MLP, width {WIDTH}, batch {BATCH}, float64, one thread; "
        'ag.grad(f, mode="source")',
        "",
        "| spelling | forward (us) | gradient (us) | backward (us) | gradient / forward "
        "| backward vs `@` |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, forward_s, grad_s in rows:
        backward_s = grad_s - forward_s
        lines.append(
            f"| `{name}` | {forward_s * 1e6:.1f} | {grad_s * 1e6:.1f} | {backward_s * 1e6:.1f} "
            f"| {grad_s / forward_s:.2f}x | {backward_s / base:.2f}x |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args(argv)
    number, repeat = (50, 3) if args.quick else (500, 15)
    print(table(measure(number, repeat)))
    print()
    print(outer_table(*measure_outer(number * 4, repeat)))


if __name__ == "__main__":
    main()

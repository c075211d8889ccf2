"""The same kinds of models in other spellings than ``benchmarks/matrix.py``'s.

Run it with ``python benchmarks/variants.py`` from a checkout (about a minute on two cores).
``--rounds N`` sets the number of rounds (default 15), ``--min-time S`` the shortest batch of
calls timed (default 0.05 s), ``--markdown`` prints the table as Markdown, ``--source``
prints each workload's generated gradient source instead of timing, and ``--only NAME``
(repeatable) runs the named workloads only.

``benchmarks/matrix.py`` checks that astgrad's generated gradient stays close to a
hand-written NumPy gradient on workloads written as users write them. This script asks
whether that still holds when the same kinds of model are spelled differently: a
single-sequence RNN with ``W @ h``, ``np.average``, ``np.einsum`` with a transposed
operand and relu as ``z * (z > 0)``, a per-sample Python loop, leaky relu by ``np.where``,
a softmax as ``np.exp(z) / np.exp(z).sum(...)``, an outer product by broadcasting, the
1-D heat element loop differentiated with respect to ``u`` alone, an RBF kernel by
broadcasted pairwise differences, an MLP whose layers come as a list, and a loss through
``np.linalg.norm``.

Each workload has a hand-written NumPy function returning the loss and its gradients; its
forward pass is the workload's own, spelled the same way (the same ``np.einsum`` call, the
same ``np.where``), so that the ratio to it measures what differentiating adds, not a faster
forward. At start-up every hand-written gradient is checked against central finite
differences (float64), and astgrad's (``ag.value_and_grad(f, wrt=..., mode="source")``)
against the hand-written one; a workload where astgrad raises or disagrees is not timed,
and the table's result column says why (the exit status is then 1).

Timing follows ``matrix.py``: one BLAS thread (its environment variables, set before NumPy
loads), the process's CPU time (``time.process_time``), a batch of calls calibrated to last
at least ``--min-time``, the three calls (forward, hand-written, astgrad) taking turns
within each round. Each ratio is computed round by round and the median over the rounds is
shown, with the range of the astgrad / hand-written ratio over the rounds as a measure of
the noise. The last line gives the median and the worst astgrad / hand-written ratio; the
target of ``matrix.py`` (issue 18) is at most 1.2x.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # compare.py and workloads.py, beside this file
import one_thread  # noqa: E402, F401  (one thread, before NumPy loads)

# isort: split

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

import compare  # noqa: E402
import matrix  # noqa: E402 (its rounds, timed as it times them)
import numpy as np  # noqa: E402
import workloads  # noqa: E402

import astgrad as ag  # noqa: E402

TARGET = 1.2  # astgrad source / hand-written, as in benchmarks/matrix.py (issue 18)

# -- 1. RNN on one sequence, matrix-vector products ------------------------------------------


def rnn_vector(W, U, xs):
    h = np.zeros(W.shape[0])
    for t in range(xs.shape[0]):
        h = np.tanh(W @ h + U @ xs[t])
    return h @ h


def rnn_vector_by_hand(W, U, xs):
    states = [np.zeros(W.shape[0])]
    for t in range(xs.shape[0]):
        states.append(np.tanh(W @ states[-1] + U @ xs[t]))
    h = states[-1]
    loss = h @ h
    dh = 2.0 * h
    dW = np.zeros_like(W)
    dU = np.zeros_like(U)
    for t in range(xs.shape[0] - 1, -1, -1):
        h = states[t + 1]
        da = dh * (1.0 - h * h)
        dW += np.outer(da, states[t])
        dU += np.outer(da, xs[t])
        dh = W.T @ da
    return loss, (dW, dU)


def rnn_vector_args(rng: np.random.Generator) -> tuple:
    steps, inputs, hidden = 30, 16, 32
    return (
        rng.standard_normal((hidden, hidden)) * 0.2,
        rng.standard_normal((hidden, inputs)) * 0.2,
        rng.standard_normal((steps, inputs)),
    )


# -- 2. one tanh layer, loss by np.average ---------------------------------------------------


def average_mlp(W, b, x, y):
    h = np.tanh(x @ W + b)
    return np.average((h - y) ** 2)


def average_mlp_by_hand(W, b, x, y):
    h = np.tanh(x @ W + b)
    error = h - y
    loss = np.average(error**2)
    dz = (2.0 / error.size) * error * (1.0 - h * h)
    return loss, (x.T @ dz, dz.sum(axis=0))


def average_mlp_args(rng: np.random.Generator) -> tuple:
    batch, inputs, outputs = 64, 16, 32
    return (
        rng.standard_normal((inputs, outputs)) * 0.2,
        rng.standard_normal(outputs),
        rng.standard_normal((batch, inputs)),
        rng.standard_normal((batch, outputs)),
    )


# -- 3. a linear layer by np.einsum with A transposed, relu as z * (z > 0) -----------------


def einsum_linear(A, c, x, y):
    z = np.einsum("ij,kj->ik", x, A) + c
    r = z * (z > 0)
    return np.einsum("ij,ij->", r - y, r - y)


def einsum_linear_by_hand(A, c, x, y):
    z = np.einsum("ij,kj->ik", x, A) + c
    mask = z > 0
    r = z * mask
    error = r - y
    loss = np.einsum("ij,ij->", error, error)
    dz = 2.0 * error * mask
    return loss, (dz.T @ x, dz.sum(axis=0))


def einsum_linear_args(rng: np.random.Generator) -> tuple:
    batch, inputs, outputs = 64, 16, 32
    return (
        rng.standard_normal((outputs, inputs)),
        rng.standard_normal(outputs),
        rng.standard_normal((batch, inputs)),
        rng.standard_normal((batch, outputs)),
    )


# -- 4. least squares one sample at a time -----------------------------------------------------


def per_sample(w, X, y):
    loss = 0.0
    for i in range(X.shape[0]):
        r = X[i] @ w - y[i]
        loss = loss + r * r
    return loss / X.shape[0]


def per_sample_by_hand(w, X, y):
    n = X.shape[0]
    loss = 0.0
    dw = np.zeros_like(w)
    for i in range(n):
        r = X[i] @ w - y[i]
        loss = loss + r * r
        dw += (2.0 * r / n) * X[i]
    return loss / n, (dw,)


def per_sample_args(rng: np.random.Generator) -> tuple:
    samples, features = 50, 8
    return (
        rng.standard_normal(features),
        rng.standard_normal((samples, features)),
        rng.standard_normal(samples),
    )


# -- 5. leaky relu by np.where ---------------------------------------------------------------


def leaky_where(W1, W2, X, y):
    z = X @ W1
    h = np.where(z > 0, z, 0.01 * z)
    out = h @ W2
    return np.mean((out - y) ** 2)


def leaky_where_by_hand(W1, W2, X, y):
    z = X @ W1
    positive = z > 0
    h = np.where(positive, z, 0.01 * z)
    error = h @ W2 - y
    loss = np.mean(error**2)
    dout = (2.0 / error.size) * error
    dW2 = h.T @ dout
    dh = dout @ W2.T
    dz = np.where(positive, dh, 0.01 * dh)
    return loss, (X.T @ dz, dW2)


def leaky_where_args(rng: np.random.Generator) -> tuple:
    batch, inputs, hidden, outputs = 64, 16, 32, 4
    return (
        rng.standard_normal((inputs, hidden)),
        rng.standard_normal((hidden, outputs)),
        rng.standard_normal((batch, inputs)),
        rng.standard_normal((batch, outputs)),
    )


# -- 6. softmax as exp / sum of exp, cross-entropy with one-hot labels -------------------------


def softmax_exp_sum(W, X, Y):
    z = X @ W
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return -np.sum(Y * np.log(p)) / X.shape[0]


def softmax_exp_sum_by_hand(W, X, Y):
    # The chain rule step by step through the forward as written (two np.exp, a division, a
    # log), not the closed form (p - Y) / n that the softmax's algebra gives: astgrad sees
    # only these operations, so this is the fair comparison. As in workloads.py, the
    # gradient through the subtracted max is skipped (it is zero: a softmax is unchanged by
    # a shift of its row).
    n = X.shape[0]
    z = X @ W
    z = z - z.max(axis=1, keepdims=True)
    numerator = np.exp(z)
    denominator = np.exp(z).sum(axis=1, keepdims=True)
    p = numerator / denominator
    loss = -np.sum(Y * np.log(p)) / n
    dlog_p = Y * (-1.0 / n)
    dp = dlog_p / p
    dnumerator = dp / denominator
    ddenominator = -np.sum(dp * numerator, axis=1, keepdims=True) / (denominator * denominator)
    dz = (dnumerator + ddenominator) * numerator  # both np.exp(z) are the same values
    return loss, (X.T @ dz,)


def softmax_exp_sum_args(rng: np.random.Generator) -> tuple:
    samples, features, classes = 128, 20, 10
    return (
        rng.standard_normal((features, classes)),
        rng.standard_normal((samples, features)),
        np.eye(classes)[rng.integers(0, classes, samples)],
    )


# -- 7. an outer product by broadcasting -------------------------------------------------------


def outer_broadcast(u, v, A):
    M = u[:, None] * v[None, :]
    return np.sum((M - A) ** 2)


def outer_broadcast_by_hand(u, v, A):
    M = u[:, None] * v[None, :]
    error = M - A
    loss = np.sum(error**2)
    dM = 2.0 * error
    return loss, (dM @ v, u @ dM)


def outer_broadcast_args(rng: np.random.Generator) -> tuple:
    return (
        rng.standard_normal(30),
        rng.standard_normal(40),
        rng.standard_normal((30, 40)),
    )


# -- 8. the heat element loop of workloads.py, with respect to u only --------------------------


def heat_u_by_hand(u, k):
    """The backward in the forward's style (an element loop, in place), for ``u`` alone:
    ``workloads.heat_1d_loop_by_hand`` also accumulates the gradient in ``k``, work that
    astgrad's gradient with respect to ``u`` alone does not do."""
    n = u.shape[0]
    states, u = workloads.heat_1d_loop_states(u, k)
    loss = np.sum(u**2)
    du_new = 2.0 * u
    for _ in states:
        du = np.zeros_like(u)
        du[0] = du_new[0]  # the ends are copied, not updated
        du[n - 1] = du_new[n - 1]
        for i in range(1, n - 1):
            g = du_new[i]
            du[i - 1] += g * k
            du[i] += g * (1 - 2 * k)
            du[i + 1] += g * k
        du_new = du
    return loss, (du_new,)


def heat_u_args(rng: np.random.Generator) -> tuple:
    return rng.random(50), 0.2


# -- 9. an RBF kernel by broadcasted pairwise differences --------------------------------------


def pairwise_rbf(x, s, T):
    d = x[:, None, :] - x[None, :, :]
    K = np.exp(-np.sum(d * d, axis=-1) / (2 * s**2))
    return np.sum(K * T)


def pairwise_rbf_by_hand(x, s, T):
    d = x[:, None, :] - x[None, :, :]
    dist2 = np.sum(d * d, axis=-1)
    K = np.exp(-dist2 / (2 * s**2))
    loss = np.sum(K * T)
    dK = T * K
    ddist2 = dK * (-1.0 / (2 * s**2))
    dd = (2.0 * ddist2)[:, :, None] * d
    dx = dd.sum(axis=1) - dd.sum(axis=0)
    ds = float(np.sum(dK * dist2)) / s**3
    return loss, (dx, ds)


def pairwise_rbf_args(rng: np.random.Generator) -> tuple:
    points, dims = 40, 3
    return rng.standard_normal((points, dims)), 0.7, rng.standard_normal((points, points))


# -- 10. least squares through np.linalg.norm, an L2 penalty -----------------------------------


def norm_loss(x, A, b, lam):
    r = A @ x - b
    return 0.5 * np.linalg.norm(r) ** 2 + lam * np.sum(x**2)


def norm_loss_by_hand(x, A, b, lam):
    r = A @ x - b
    norm = np.linalg.norm(r)
    loss = 0.5 * norm**2 + lam * np.sum(x**2)
    dr = r  # d(0.5 |r|^2)/dr: |r| * r / |r|
    return loss, (A.T @ dr + (2.0 * lam) * x,)


def norm_loss_args(rng: np.random.Generator) -> tuple:
    rows, columns = 64, 32
    return (
        rng.standard_normal(columns),
        rng.standard_normal((rows, columns)),
        rng.standard_normal(rows),
        0.1,
    )


# -- 11. an MLP whose layers come as a list ----------------------------------------------------


def mlp_layers(weights, x, y):
    h = x
    for W in weights:
        h = np.tanh(h @ W)
    return np.mean((h - y) ** 2)


def mlp_layers_by_hand(weights, x, y):
    states = [x]
    for W in weights:
        states.append(np.tanh(states[-1] @ W))
    error = states[-1] - y
    loss = np.mean(error**2)
    dh = error * (2.0 / error.size)
    grads = [None] * len(weights)
    for i in range(len(weights) - 1, -1, -1):
        dz = dh * (1.0 - states[i + 1] ** 2)
        grads[i] = states[i].T @ dz
        dh = dz @ weights[i].T
    return loss, (grads,)


def mlp_layers_args(rng: np.random.Generator) -> tuple:
    width = 16
    weights = [rng.standard_normal((width, width)) * 0.3 for _ in range(3)]
    return weights, rng.standard_normal((32, width)), rng.standard_normal((32, width))


@dataclass(frozen=True)
class Variant:
    name: str
    function: Callable[..., Any]
    make_args: Callable[[np.random.Generator], tuple]
    wrt: tuple[int, ...]
    by_hand: Callable[..., tuple]
    notes: str


VARIANTS: list[Variant] = [
    Variant("rnn W@h", rnn_vector, rnn_vector_args, (0, 1), rnn_vector_by_hand,
            "one sequence, 30 steps, 32 hidden, 16 inputs: h = np.tanh(W @ h + U @ xs[t]) "
            "from h = np.zeros(n), loss h @ h"),
    Variant("average MLP", average_mlp, average_mlp_args, (0, 1), average_mlp_by_hand,
            "one tanh layer 16 -> 32 on a batch of 64, loss np.average((h - y) ** 2)"),
    Variant("einsum linear", einsum_linear, einsum_linear_args, (0, 1),
            einsum_linear_by_hand,
            'np.einsum("ij,kj->ik", x, A) + c, relu as z * (z > 0), '
            'loss np.einsum("ij,ij->", r - y, r - y)'),
    Variant("per-sample loop", per_sample, per_sample_args, (0,), per_sample_by_hand,
            "least squares by a Python loop over 50 samples of 8 features: "
            "r = X[i] @ w - y[i]; loss = loss + r * r"),
    Variant("leaky relu where", leaky_where, leaky_where_args, (0, 1), leaky_where_by_hand,
            "np.where(z > 0, z, 0.01 * z) between two products, mean squared error"),
    Variant("softmax exp/sum", softmax_exp_sum, softmax_exp_sum_args, (0,),
            softmax_exp_sum_by_hand,
            "np.exp(z) / np.exp(z).sum(axis=1, keepdims=True) after subtracting the max, "
            "-np.sum(Y * np.log(p)) / n with one-hot Y; 128 samples, 20 features, 10 classes; "
            "the hand-written gradient follows the chain rule step by step"),
    Variant("outer by broadcasting", outer_broadcast, outer_broadcast_args, (0, 1),
            outer_broadcast_by_hand,
            "u[:, None] * v[None, :] (30 x 40) against A, sum of squares"),
    Variant("heat wrt u only", workloads.heat_1d_loop, heat_u_args, (0,), heat_u_by_hand,
            "workloads.py's 1-D heat element loop (20 steps, 50 cells), k a Python float "
            "not differentiated; the hand-written backward is an element loop too"),
    Variant("pairwise distances", pairwise_rbf, pairwise_rbf_args, (0, 1),
            pairwise_rbf_by_hand,
            "RBF kernel on 40 points in 3-D by x[:, None, :] - x[None, :, :], "
            "loss np.sum(K * T); wrt x and the width s, a Python float"),
    Variant("MLP, list of layers", mlp_layers, mlp_layers_args, (0,), mlp_layers_by_hand,
            "3 tanh layers, width 16, batch 32, the weights a list: for W in weights: "
            "h = np.tanh(h @ W); mean squared error"),
    Variant("np.linalg.norm loss", norm_loss, norm_loss_args, (0,), norm_loss_by_hand,
            "0.5 * np.linalg.norm(A @ x - b) ** 2 + lam * np.sum(x ** 2), A 64 x 32, "
            "lam a Python float"),
]  # fmt: skip

BY_NAME: dict[str, Variant] = {v.name: v for v in VARIANTS}


# -- checking ----------------------------------------------------------------------------------


def numeric_gradient(
    f: Callable[..., Any], args: tuple, position: int, eps: float = 1e-6
) -> np.ndarray | float:
    """Central finite differences of ``f(*args)`` in the argument at ``position`` (an array
    of floats or a Python float), element by element."""
    value = args[position]

    def at(replacement: Any) -> float:
        return float(f(*args[:position], replacement, *args[position + 1 :]))

    if isinstance(value, float):
        return (at(value + eps) - at(value - eps)) / (2 * eps)
    value = np.asarray(value, dtype=np.float64)
    gradient = np.zeros_like(value)
    for index in np.ndindex(value.shape):
        shifted = value.copy()
        shifted[index] += eps
        up = at(shifted)
        shifted[index] -= 2 * eps
        gradient[index] = (up - at(shifted)) / (2 * eps)
    return gradient


def check_by_hand(v: Variant, args: tuple) -> str | None:
    """None when the hand-written loss and gradients match the function and central
    differences, else what differs."""
    loss, gradients = v.by_hand(*args)
    if not np.isclose(loss, v.function(*args), rtol=1e-12, atol=0.0):
        return f"hand-written loss {loss!r} != the function's {v.function(*args)!r}"
    for position, gradient in zip(v.wrt, gradients, strict=True):
        numeric = numeric_gradient(v.function, args, position)
        scale = max(1.0, float(np.max(np.abs(numeric))))
        try:
            np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=1e-6 * scale)
        except AssertionError as exc:
            return f"hand-written gradient {position} != finite differences: {brief(exc)}"
    return None


def check_astgrad(v: Variant, args: tuple, expected: tuple) -> str | None:
    """None when astgrad's (loss, gradients) match the hand-written ones, else why not."""
    try:
        loss, gradients = ag.value_and_grad(v.function, wrt=v.wrt, mode="source")(*args)
    except Exception as exc:  # noqa: BLE001 - a gradient that fails is reported, not fatal
        return f"astgrad raised {type(exc).__name__}: {short(str(exc))}"
    want_loss, want_gradients = expected
    if not isinstance(gradients, tuple):
        gradients = (gradients,)
    if len(gradients) != len(want_gradients):
        return f"astgrad gave {len(gradients)} gradients, expected {len(want_gradients)}"
    try:
        np.testing.assert_allclose(loss, want_loss, rtol=1e-10, atol=0.0)
        for got, want in zip(gradients, want_gradients):
            np.testing.assert_allclose(np.asarray(got), want, rtol=1e-7, atol=1e-12)
    except AssertionError as exc:
        return f"astgrad disagrees: {brief(exc)}"
    return None


def short(message: str, limit: int = 120) -> str:
    message = message.split("\n")[0]
    return message if len(message) <= limit else message[: limit - 3] + "..."


def brief(error: AssertionError) -> str:
    """``np.testing.assert_allclose``'s message on one line: the largest differences."""
    lines = [line.strip() for line in str(error).splitlines()]
    wanted = [line for line in lines if line.startswith(("Max absolute", "Max relative"))]
    return short("; ".join(wanted or [line for line in lines if line]), 160)


# -- timing ------------------------------------------------------------------------------------


@dataclass
class Row:
    variant: Variant
    times: dict[str, list[float]] = field(default_factory=dict)
    problem: str | None = None

    def ratios(self, top: str, bottom: str) -> list[float]:
        if top not in self.times or bottom not in self.times:
            return []
        return [a / b for a, b in zip(self.times[top], self.times[bottom])]

    def ratio(self, top: str, bottom: str) -> float | None:
        ratios = self.ratios(top, bottom)
        return statistics.median(ratios) if ratios else None


def measure(v: Variant, rounds: int, min_time: float) -> Row:
    row = Row(v)
    args = v.make_args(np.random.default_rng(0))
    row.problem = check_by_hand(v, args)
    if row.problem is None:
        row.problem = check_astgrad(v, args, v.by_hand(*args))
    if row.problem is not None:
        return row
    f, hand = v.function, v.by_hand
    gradient = ag.value_and_grad(f, wrt=v.wrt, mode="source")
    calls = {
        "forward": lambda: f(*args),
        "hand": lambda: hand(*args),
        "astgrad": lambda: gradient(*args),
    }
    row.times = matrix.round_times(calls, rounds, min_time)
    return row


# -- reporting ---------------------------------------------------------------------------------


def cell(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}x"


def table(rows: list[Row], markdown: bool) -> str:
    header = [
        "workload",
        "forward",
        "hand / fwd",
        "source / fwd",
        "source / hand (range)",
        "result",
    ]
    lines = []
    for row in rows:
        spread = row.ratios("astgrad", "hand")
        source = row.ratio("astgrad", "hand")
        forward = row.times.get("forward")
        lines.append([
            row.variant.name,
            "—" if forward is None else compare.fmt_time(statistics.median(forward)),
            cell(row.ratio("hand", "forward")),
            cell(row.ratio("astgrad", "forward")),
            "—" if source is None else f"{source:.2f}x ({min(spread):.2f}-{max(spread):.2f})",
            row.problem or "ok",
        ])  # fmt: skip
    if markdown:
        return compare.markdown_table(header, lines)
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *lines]
    )


def summary(rows: list[Row]) -> str:
    timed = [(r.ratio("astgrad", "hand"), r.variant.name) for r in rows if r.times]
    failed = [r.variant.name for r in rows if r.problem is not None]
    if not timed:
        return "astgrad source / hand-written: nothing timed."
    ratios = [ratio for ratio, _ in timed]
    worst, worst_name = max(timed)
    within = sum(round(ratio, 2) <= TARGET for ratio in ratios)
    return (
        f"astgrad source / hand-written: median {statistics.median(ratios):.2f}x, worst "
        f"{worst:.2f}x ({worst_name}); {within} of {len(timed)} timed within {TARGET}x"
        + (f"; not timed: {', '.join(failed)}" if failed else "")
        + "."
    )


def environment(rounds: int) -> str:
    return (
        f"{compare.cpu_model()}, {os.cpu_count()} logical CPUs, one thread used; "
        f"{platform.system()}; Python {platform.python_version()}, NumPy {np.__version__}; "
        f"CPU time, median of {rounds} rounds; "
        f"load average {os.getloadavg()[0]:.1f} at the start"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="rounds (default 15)")
    parser.add_argument(
        "--min-time", type=float, default=0.05, help="shortest batch timed, s (default 0.05)"
    )
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--source", action="store_true", help="print the generated sources")
    parser.add_argument("--only", action="append", metavar="NAME", help="this workload only")
    options = parser.parse_args(argv)
    plan = VARIANTS
    if options.only:
        unknown = [n for n in options.only if n not in BY_NAME]
        if unknown:
            parser.error(f"no workload named {unknown}; there are {list(BY_NAME)}")
        plan = [BY_NAME[n] for n in options.only]

    if options.source:
        for v in plan:
            args = v.make_args(np.random.default_rng(0))
            print(f"# {v.name}")
            print(ag.source(ag.grad(v.function, wrt=v.wrt, mode="source"), *args))
        return 0

    print(environment(options.rounds), flush=True)
    rows = []
    for v in plan:
        rows.append(measure(v, options.rounds, options.min_time))
        print(f"{'timed' if rows[-1].times else 'not timed'}: {v.name}", flush=True)
    print()
    print(table(rows, options.markdown))
    print()
    print(summary(rows))
    if options.markdown:
        print()
        print("Workloads:")
        print()
        for v in plan:
            print(f"- **{v.name}**: {v.notes}.")
    return 1 if any(r.problem is not None for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())

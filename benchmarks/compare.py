"""Generated gradients against a hand-written NumPy gradient and against peers (issue 7).

Run it with ``python benchmarks/compare.py`` from a checkout. ``--quick`` makes a fast
smoke run (few, short repeats, and no JAX, whose compiling takes seconds: the figures are
rough); ``--no-write`` prints the tables
without touching ``benchmarks/RESULTS.md`` or the chart; ``--profile`` also prints where
astgrad's generated gradients spend their time (cProfile, by callee).

Four workloads, each a plain NumPy function:

* **scalar recurrence**: 100 steps of ``a = a * 0.99 + 0.01 * a * a`` on a Python float;
* **small MLP**: a 3-layer tanh network of width 32 on a batch of 8, mean squared error;
* **RNN**: 50 steps of ``h = tanh(x_t @ Wx + h @ Wh + b)`` with 64 hidden units, 16
  inputs and a batch of 8, then a linear read-out and the mean squared error;
* **large MLP**: the MLP at width 512 and batch 256.

For each, in one process and on one thread (``OMP_NUM_THREADS=1`` and friends are set
before NumPy loads; PyTorch gets ``torch.set_num_threads(1)``), it times the forward
function and the gradient with respect to all parameters computed by: a hand-written NumPy
gradient (checked against astgrad's at startup), astgrad's generated source
(``mode="source"``), astgrad's tape (``mode="tape"``, the same function run on tensors),
HIPS autograd, PyTorch CPU (eager, float64) and JAX (eager and ``jit``, float64). Peers
that are not installed are skipped with a line saying so. Every peer runs the very same
function: its code object is rebound with ``np`` pointing to ``autograd.numpy``,
``torch`` or ``jax.numpy``.

Each time is the best, over several rounds, of the mean time of one call in a batch of
calls long enough to time (``timeit``-style: the batch size is calibrated first); the
methods take turns within each round so that a slow spell of the machine does not land on
one method only. Times are the process's CPU time (``time.process_time``), which other
processes on a shared machine inflate far less than wall time; ``--wall`` reads
``time.perf_counter`` instead. Every gradient also returns the loss, as
``ag.value_and_grad`` would.

It also measures, for astgrad's source mode: the first call of a new function object
(parsing, the passes, compiling, then one call) and the cached call's overhead over calling
the generated function directly; and, for the large MLP, the peak memory one gradient call
allocates (``tracemalloc``) against the hand-written gradient. The targets are those of
issue 7, each reported PASS or MISS.

By default the tables go to ``benchmarks/RESULTS.md``, under the heading written below
(only that section is replaced; other sections are kept), and, with matplotlib installed,
a bar chart to ``benchmarks/compare.png``.
"""

from __future__ import annotations

import os

# One thread for every library, set before NumPy, PyTorch or JAX load their thread pools.
import one_thread  # noqa: E402, F401

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

import argparse  # noqa: E402
import cProfile  # noqa: E402
import gc  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import pstats  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
import types  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
try:
    import astgrad as ag
    from astgrad.api import _kind
except ModuleNotFoundError:  # run from a checkout that is not installed
    sys.path.insert(0, str(HERE.parent))
    import astgrad as ag
    from astgrad.api import _kind
from astgrad.transform import pipeline  # noqa: E402

sys.path.insert(0, str(HERE))  # (workloads.py, beside this file, when compare is imported)
from workloads import mlp_args  # noqa: E402

HEADING = "## Generated gradients vs peers (benchmarks/compare.py)"
RESULTS = HERE / "RESULTS.md"
CHART = HERE / "compare.png"


# -- the workloads: one NumPy function each -------------------------------------------------
# Peers run these same functions with ``np`` rebound (see ``rebind``), so keep to what
# NumPy, autograd.numpy, torch and jax.numpy all spell the same way.

STEPS = 100


def recurrence(a):
    for _ in range(100):
        a = a * 0.99 + 0.01 * a * a
    return a


def mlp(W1, b1, W2, b2, W3, b3, x, y):
    h1 = np.tanh(x @ W1 + b1)
    h2 = np.tanh(h1 @ W2 + b2)
    out = h2 @ W3 + b3
    return np.mean((out - y) ** 2)


def rnn(Wx, Wh, b, Wo, xs, h0, y):
    h = h0
    for t in range(xs.shape[0]):
        h = np.tanh(xs[t] @ Wx + h @ Wh + b)
    out = h @ Wo
    return np.mean((out - y) ** 2)


# -- hand-written gradients: what an expert would write for each ----------------------------


def recurrence_by_hand(a):
    """The recurrence and d(result)/d(a): da_{k+1}/da_k = 0.99 + 0.02 a_k."""
    saved = []
    for _ in range(STEPS):
        saved.append(a)
        a = a * 0.99 + 0.01 * a * a
    da = 1.0
    for previous in reversed(saved):
        da *= 0.99 + 0.02 * previous
    return a, da


def mlp_by_hand(W1, b1, W2, b2, W3, b3, x, y):
    h1 = np.tanh(x @ W1 + b1)
    h2 = np.tanh(h1 @ W2 + b2)
    error = h2 @ W3 + b3 - y
    loss = np.mean(error * error)
    dout = error * (2.0 / error.size)
    dW3 = h2.T @ dout
    db3 = dout.sum(axis=0)
    da2 = dout @ W3.T
    da2 *= 1.0 - h2 * h2
    dW2 = h1.T @ da2
    db2 = da2.sum(axis=0)
    da1 = da2 @ W2.T
    da1 *= 1.0 - h1 * h1
    dW1 = x.T @ da1
    db1 = da1.sum(axis=0)
    return loss, (dW1, db1, dW2, db2, dW3, db3)


def rnn_by_hand(Wx, Wh, b, Wo, xs, h0, y):
    hs = [h0]
    h = h0
    for t in range(xs.shape[0]):
        h = np.tanh(xs[t] @ Wx + h @ Wh + b)
        hs.append(h)
    error = h @ Wo - y
    loss = np.mean(error * error)
    dout = error * (2.0 / error.size)
    dWo = h.T @ dout
    dh = dout @ Wo.T
    dWx = np.zeros_like(Wx)
    dWh = np.zeros_like(Wh)
    db = np.zeros_like(b)
    for t in range(xs.shape[0] - 1, -1, -1):
        h = hs[t + 1]
        da = dh * (1.0 - h * h)
        dWx += xs[t].T @ da
        dWh += hs[t].T @ da
        db += da.sum(axis=0)
        dh = da @ Wh.T
    return loss, (dWx, dWh, db, dWo)


# -- data ------------------------------------------------------------------------------------


def mlp_data(width: int, batch: int, seed: int = 0) -> dict[str, Any]:
    return mlp_args(width, batch)(np.random.default_rng(seed))


def rnn_data(
    steps: int = 50, hidden: int = 64, inputs: int = 16, batch: int = 8, seed: int = 0
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {
        "Wx": rng.standard_normal((inputs, hidden)) / np.sqrt(inputs),
        "Wh": rng.standard_normal((hidden, hidden)) / np.sqrt(hidden),
        "b": rng.standard_normal(hidden) * 0.1,
        "Wo": rng.standard_normal((hidden, 1)) / np.sqrt(hidden),
        "xs": rng.standard_normal((steps, batch, inputs)),
        "h0": np.zeros((batch, hidden)),
        "y": rng.standard_normal((batch, 1)),
    }


@dataclass
class Workload:
    title: str
    function: Callable
    by_hand: Callable
    names: tuple[str, ...]  # every parameter, in order
    wrt: tuple[str, ...]
    values: dict[str, Any]
    #: gradient time / forward time that source mode should stay within (None: compare
    #: with the hand-written gradient instead)
    ratio_target: float | None = None
    hand_margin: float | None = None
    tape_vs_torch: bool = False

    @property
    def args(self) -> tuple:
        return tuple(self.values[n] for n in self.names)

    @property
    def positions(self) -> tuple[int, ...]:
        return tuple(self.names.index(n) for n in self.wrt)


MLP_NAMES = ("W1", "b1", "W2", "b2", "W3", "b3", "x", "y")
MLP_WRT = MLP_NAMES[:6]


def workloads() -> list[Workload]:
    rnn_names = ("Wx", "Wh", "b", "Wo", "xs", "h0", "y")
    return [
        Workload("scalar recurrence", recurrence, recurrence_by_hand, ("a",), ("a",),
                 {"a": 0.5}, ratio_target=3.0, tape_vs_torch=True),
        Workload("small MLP", mlp, mlp_by_hand, MLP_NAMES, MLP_WRT, mlp_data(32, 8),
                 ratio_target=2.5, tape_vs_torch=True),
        Workload("RNN", rnn, rnn_by_hand, rnn_names, rnn_names[:4], rnn_data(),
                 ratio_target=2.5),
        Workload("large MLP", mlp, mlp_by_hand, MLP_NAMES, MLP_WRT, mlp_data(512, 256),
                 hand_margin=1.05),
    ]  # fmt: skip


# -- the methods -----------------------------------------------------------------------------
# Each maker returns a call with no arguments that computes (loss, gradients), or None
# when the method cannot run; the gradients are compared with the hand-written ones.


def rebind(function: Callable, module: Any) -> Callable:
    """``function`` with its global ``np`` bound to ``module`` (the same code object)."""
    namespace = dict(function.__globals__)
    namespace["np"] = module
    return types.FunctionType(
        function.__code__, namespace, function.__name__, function.__defaults__, function.__closure__
    )


def fresh_copy(function: Callable) -> Callable:
    """A new function object with the same code: astgrad has cached nothing for it."""
    return types.FunctionType(
        function.__code__,
        function.__globals__,
        function.__name__,
        function.__defaults__,
        function.__closure__,
    )


def make_forward(w: Workload) -> Callable:
    f, args = w.function, w.args
    return lambda: f(*args)


def make_by_hand(w: Workload) -> Callable:
    f, args = w.by_hand, w.args
    return lambda: f(*args)


def make_astgrad(mode: str) -> Callable:
    def maker(w: Workload) -> Callable:
        g, args = ag.value_and_grad(w.function, wrt=w.wrt, mode=mode), w.args
        return lambda: g(*args)

    return maker


def make_autograd(w: Workload) -> Callable:
    import autograd
    import autograd.numpy as anp

    g, args = autograd.value_and_grad(rebind(w.function, anp), argnum=w.positions), w.args
    return lambda: g(*args)


def make_torch(w: Workload) -> Callable:
    import torch

    f = rebind(w.function, torch)
    args = []
    for name in w.names:
        value = w.values[name]
        tensor = (
            torch.tensor(value, dtype=torch.float64)
            if isinstance(value, float)
            else torch.from_numpy(value.copy())
        )
        args.append(tensor.requires_grad_(name in w.wrt))
    leaves = [args[p] for p in w.positions]

    def run() -> tuple:
        loss = f(*args)
        return loss, torch.autograd.grad(loss, leaves)

    return run


def _jax_grad(w: Workload) -> tuple[Callable, list]:
    import jax
    import jax.numpy as jnp

    g = jax.value_and_grad(rebind(w.function, jnp), argnums=w.positions)
    return g, [jax.device_put(jnp.asarray(w.values[n], dtype=jnp.float64)) for n in w.names]


def make_jax_eager(w: Workload) -> Callable:
    import jax

    g, args = _jax_grad(w)
    return lambda: jax.block_until_ready(g(*args))


def make_jax_jit(w: Workload) -> Callable:
    import jax

    g, args = _jax_grad(w)
    g = jax.jit(g)
    return lambda: jax.block_until_ready(g(*args))


@dataclass
class Method:
    name: str
    maker: Callable[[Workload], Callable]
    module: str | None = None  # what must import for it to run
    version: str | None = None  # the distribution whose version to report


METHODS = [
    Method("forward", make_forward),
    Method("hand-written", make_by_hand),
    Method("astgrad source", make_astgrad("source")),
    Method("astgrad tape", make_astgrad("tape")),
    Method("autograd", make_autograd, "autograd", "autograd"),
    Method("torch eager", make_torch, "torch", "torch"),
    Method("jax eager", make_jax_eager, "jax", "jax"),
    Method("jax jit", make_jax_jit, "jax", "jax"),
]


def unavailable(module: str | None) -> str | None:
    """None when ``module`` imports, else why not."""
    if module is None:
        return None
    try:
        __import__(module)
    except Exception as exc:  # noqa: BLE001 - any failure to import means "skip this peer"
        return f"{type(exc).__name__}: {exc}"
    if module == "torch":
        import torch

        torch.set_num_threads(1)
    elif module == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)
    return None


# -- checking --------------------------------------------------------------------------------


def as_arrays(gradients: Any) -> list[np.ndarray]:
    if not isinstance(gradients, (tuple, list)):
        gradients = [gradients]
    out = []
    for g in gradients:
        if hasattr(g, "detach"):
            g = g.detach().numpy()
        out.append(np.asarray(g, dtype=np.float64))
    return out


def disagreement(got: Any, expected: Any) -> str | None:
    """None when two (loss, gradients) pairs agree, else what differs."""
    got_loss, got_grads = got
    want_loss, want_grads = expected
    if not np.allclose(as_arrays(got_loss)[0], want_loss, rtol=1e-8, atol=1e-12):
        return f"loss {float(as_arrays(got_loss)[0])!r} != {float(want_loss)!r}"
    got_grads, want_grads = as_arrays(got_grads), as_arrays(want_grads)
    if len(got_grads) != len(want_grads):
        return f"{len(got_grads)} gradients, expected {len(want_grads)}"
    for i, (a, b) in enumerate(zip(got_grads, want_grads)):
        if a.shape != b.shape:
            return f"gradient {i} has shape {a.shape}, expected {b.shape}"
        if not np.allclose(a, b, rtol=1e-7, atol=1e-10):
            return f"gradient {i} differs by up to {np.max(np.abs(a - b)):.3g}"
    return None


# -- timing ----------------------------------------------------------------------------------


#: what the timings read: CPU time of this process, which other processes on a shared
#: machine inflate far less than wall time (``--wall`` switches to ``time.perf_counter``)
clock = time.process_time


def calibrate(call: Callable, min_time: float) -> int:
    """How many calls make a batch of at least ``min_time`` seconds (1, 2, 5, 10, ...)."""
    number = 1
    while True:
        for step in (1, 2, 5):
            n = number * step
            start = clock()
            for _ in range(n):
                call()
            if clock() - start >= min_time:
                return n
        number *= 10


def best_times(calls: dict[str, Callable], repeat: int, min_time: float) -> dict[str, float]:
    """Seconds per call of each call: the best of ``repeat`` rounds, methods taking turns."""
    numbers = {name: calibrate(call, min_time) for name, call in calls.items()}
    best = dict.fromkeys(calls, math.inf)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            for name, call in calls.items():
                n = numbers[name]
                start = clock()
                for _ in range(n):
                    call()
                best[name] = min(best[name], (clock() - start) / n)
    finally:
        if gc_was_enabled:
            gc.enable()
    return best


def first_call_time(w: Workload, repeat: int) -> float:
    """The best time of the first ``mode="source"`` call of a function astgrad has not seen:
    parsing, the passes and compiling, then one gradient call."""
    best = math.inf
    for _ in range(repeat):
        g = ag.value_and_grad(fresh_copy(w.function), wrt=w.wrt, mode="source")
        args = w.args
        start = clock()
        g(*args)
        best = min(best, clock() - start)
    return best


def square(x):
    return x * x


def cached_call_overhead(
    function: Callable, wrt: tuple[str, ...], args: tuple, seconds: float
) -> float:
    """What a cached ``ag.grad`` call costs over calling the generated function itself: the
    median, over pairs of calls made one right after the other, of the difference."""
    g = ag.grad(function, wrt=wrt, mode="source")
    g(*args)
    # The gradient the call runs: the one specialized for the kinds of these arguments
    # (on a Python float, numbers only).
    names = function.__code__.co_varnames[: function.__code__.co_argcount]
    kinds = {name: _kind(value) for name, value in zip(names, args) if name in wrt}
    direct = pipeline.derive(function, wrt, param_kinds=kinds, mode="source").fused
    api = lambda: g(*args)  # noqa: E731
    fused = lambda: direct(*args)  # noqa: E731
    differences = []
    now = time.perf_counter  # a cheap clock: the pairs' median sheds what other processes add
    deadline = now() + seconds
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        while now() < deadline or len(differences) < 20:
            # Alternate which goes first, so that neither always finds the caches warm.
            for first, second, sign in ((api, fused, 1.0), (fused, api, -1.0)):
                t0 = now()
                first()
                t1 = now()
                second()
                t2 = now()
                differences.append(sign * ((t1 - t0) - (t2 - t1)))
    finally:
        if gc_was_enabled:
            gc.enable()
    differences.sort()
    return differences[len(differences) // 2]


def peak_memory(call: Callable) -> int:
    """Bytes allocated at the peak of one call, over what was allocated before it."""
    call()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        result = call()
        peak = tracemalloc.get_traced_memory()[1]
        del result
    finally:
        tracemalloc.stop()
    return peak - before


def profile_source(w: Workload, calls: int, top: int) -> str:
    """Where the generated gradient spends its own time, by callee (cProfile, tottime)."""
    g = ag.grad(w.function, wrt=w.wrt, mode="source")
    kinds = {name: ("value",) for name in w.wrt}
    g(*w.args)
    fused = pipeline.derive(w.function, w.wrt, param_kinds=kinds, mode="source").fused
    args = w.args
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        fused(*args)
    profiler.disable()
    stats = pstats.Stats(profiler)
    rows = []
    for (filename, line, name), (_, ncalls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = name if filename == "~" else f"{name} ({Path(filename).name}:{line})"
        rows.append((tottime, ncalls, cumtime, where))
    rows.sort(reverse=True)
    total = sum(r[0] for r in rows) or 1.0
    lines = [f"{w.title}: {calls} calls of the generated gradient, own time by function"]
    for tottime, ncalls, _, where in rows[:top]:
        lines.append(
            f"  {100 * tottime / total:5.1f}%  {tottime / calls * 1e6:8.2f}us/call  "
            f"{ncalls // calls:>5} calls/call  {where}"
        )
    return "\n".join(lines)


# -- reporting -------------------------------------------------------------------------------


def fmt_time(seconds: float) -> str:
    if seconds >= 1.0:
        return f"{seconds:.2f}s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f}ms"
    return f"{seconds * 1e6:.1f}us"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(wd) for c, wd in zip(cells, widths)) + " |"

    rule = "|" + "|".join("-" * (wd + 2) for wd in widths) + "|"
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def cpu_model() -> str:
    try:
        for text_line in Path("/proc/cpuinfo").read_text().splitlines():
            if text_line.lower().startswith("model name"):
                return text_line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def version_of(distribution: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return getattr(sys.modules.get(distribution), "__version__", "?")


@dataclass
class Target:
    what: str
    measured: float
    goal: float
    unit: str = "x"
    #: for a ratio to the forward pass, the hand-written gradient's on the same machine: a
    #: goal set on one CPU may be below what the hand-written gradient reaches on another
    hand_written: float | None = None

    @property
    def passed(self) -> bool:
        return self.measured <= self.goal

    def row(self) -> list[str]:
        if self.unit == "us":
            measured, goal = f"{self.measured * 1e6:.2f}us", f"< {self.goal * 1e6:.0f}us"
        elif self.unit == "ms":
            measured, goal = f"{self.measured * 1e3:.1f}ms", f"< {self.goal * 1e3:.0f}ms"
        else:
            measured, goal = f"{self.measured:.2f}x", f"<= {self.goal:.2f}x"
        verdict = "PASS" if self.passed else f"MISS ({self.measured / self.goal:.2f}x the goal)"
        hand = "—" if self.hand_written is None else f"{self.hand_written:.2f}x"
        return [self.what, measured, goal, hand, verdict]


@dataclass
class Report:
    environment: str
    times: dict[str, dict[str, float]] = field(default_factory=dict)  # workload -> method -> s
    skipped: list[str] = field(default_factory=list)
    first_calls: dict[str, float] = field(default_factory=dict)
    overheads: dict[str, float] = field(default_factory=dict)
    memory: dict[str, int] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def timing_table(self, methods: list[str]) -> str:
        titles = list(self.times)
        rows = []
        for method in methods:
            cells = [method]
            for title in titles:
                seconds = self.times[title].get(method)
                forward = self.times[title]["forward"]
                cells.append(
                    "—" if seconds is None else f"{fmt_time(seconds)} ({seconds / forward:.2f}x)"
                )
            rows.append(cells)
        return markdown_table(["method", *titles], rows)

    def first_call_table(self) -> str:
        rows = []
        for title, first in self.first_calls.items():
            steady = self.times[title]["astgrad source"]
            overhead = self.overheads.get(title)
            rows.append([
                title, fmt_time(first), fmt_time(max(first - steady, 0.0)), fmt_time(steady),
                "—" if overhead is None else f"{overhead * 1e6:.2f}us",
            ])  # fmt: skip
        for title, overhead in self.overheads.items():
            if title not in self.first_calls:
                rows.append([title, "—", "—", "—", f"{overhead * 1e6:.2f}us"])
        return markdown_table(
            ["workload", "first call", "transform (first - cached)", "cached call", "API overhead"],
            rows,
        )

    def memory_table(self) -> str:
        hand = self.memory.get("hand-written")
        rows = [
            [method, f"{nbytes / 2**20:.2f} MiB", f"{nbytes / hand:.2f}x" if hand else "—"]
            for method, nbytes in self.memory.items()
        ]
        return markdown_table(["method", "peak (tracemalloc)", "vs hand-written"], rows)

    def target_table(self) -> str:
        return markdown_table(
            ["target", "measured", "goal", "hand-written", "result"],
            [t.row() for t in self.targets],
        )

    def markdown(self, methods: list[str], chart: bool) -> str:
        parts = [
            HEADING,
            "",
            f"Machine: {self.environment}.",
            "",
            "Time of one call (the clock is named above; best of several rounds) and, in "
            "brackets, its ratio to the forward "
            "function's time. Every gradient is with respect to all parameters and also returns "
            'the loss; "astgrad tape" is `ag.value_and_grad(f, mode="tape")` on the same '
            "function. Reproduce with `python benchmarks/compare.py` (peers: "
            "`pip install -e '.[bench]' jax`).",
            "",
            self.timing_table(methods),
            "",
        ]
        if self.skipped:
            parts += ["Skipped: " + "; ".join(self.skipped) + ".", ""]
        parts += [
            "First call of a new function object in source mode (parse, passes, compile, then "
            "one call), and the overhead a cached `ag.grad` call adds over calling the generated "
            "function directly (median over pairs of calls; not measured where the call takes "
            "milliseconds, since microseconds are noise there):",
            "",
            self.first_call_table(),
            "",
            "Peak memory of one large-MLP gradient call (`tracemalloc`, over what was allocated "
            "before the call; PyTorch and JAX allocate outside its view):",
            "",
            self.memory_table(),
            "",
            "Targets (issue 7):",
            "",
            '("hand-written": for a goal over the forward pass, the hand-written '
            "gradient's ratio in the same run: a goal set on one CPU can lie below what the "
            "hand-written gradient reaches on another.)",
            "",
            self.target_table(),
            "",
        ]
        if self.problems:
            parts += ["Problems:", "", *(f"- {p}" for p in self.problems), ""]
        if chart:
            parts += [f"![gradient time over forward time]({CHART.name})", ""]
        return "\n".join(parts)


def targets_of(report: Report, plan: list[Workload]) -> list[Target]:
    targets = []
    for w in plan:
        times = report.times[w.title]
        source = times.get("astgrad source")
        if source is None:  # it failed, which the problems list says
            continue
        if w.ratio_target is not None:
            hand = times.get("hand-written")
            targets.append(
                Target(
                    f"{w.title}: source / forward",
                    source / times["forward"],
                    w.ratio_target,
                    hand_written=None if hand is None else hand / times["forward"],
                )
            )
        if w.hand_margin is not None:
            targets.append(
                Target(
                    f"{w.title}: source / hand-written",
                    source / times["hand-written"],
                    w.hand_margin,
                )
            )
        if w.tape_vs_torch and "torch eager" in times:
            targets.append(
                Target(
                    f"{w.title}: tape / torch eager",
                    times["astgrad tape"] / times["torch eager"],
                    0.5,
                )
            )
    for title, first in report.first_calls.items():
        steady = report.times[title]["astgrad source"]
        targets.append(
            Target(f"{title}: transform + compile", max(first - steady, 0.0), 0.030, "ms")
        )
    if report.overheads:
        title, worst = max(report.overheads.items(), key=lambda item: item[1])
        targets.append(Target(f"cached-call overhead (worst: {title})", worst, 5e-6, "us"))
    memory = report.memory
    if "astgrad source" in memory and "hand-written" in memory:
        targets.append(Target("large MLP: peak memory, source / hand-written",
                              memory["astgrad source"] / memory["hand-written"], 1.2))  # fmt: skip
    return targets


def write_section(path: Path, section: str) -> None:
    """Put ``section`` under its heading in ``path``, replacing only that section."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    pattern = re.compile(r"^" + re.escape(HEADING) + r"[ \t]*\n.*?(?=^## |\Z)", re.S | re.M)
    block = section.rstrip("\n") + "\n\n"
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text.rstrip("\n") + "\n")


def draw_chart(report: Report, methods: list[str], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as exc:  # noqa: BLE001 - no matplotlib: no chart
        print(f"no chart: matplotlib is not available ({type(exc).__name__}: {exc})")
        return False
    titles = list(report.times)
    shown = [m for m in methods if m != "forward"]
    fig, ax = plt.subplots(figsize=(10, 4.8))
    width = 0.8 / len(shown)
    for i, method in enumerate(shown):
        xs, ratios = [], []
        for j, title in enumerate(titles):
            seconds = report.times[title].get(method)
            if seconds is not None:
                xs.append(j + (i - (len(shown) - 1) / 2) * width)
                ratios.append(seconds / report.times[title]["forward"])
        ax.bar(xs, ratios, width, label=method)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(titles)))
    ax.set_xticklabels(titles)
    ax.set_ylabel("gradient time / forward time (log)")
    ax.set_title("Gradient time over forward time, one CPU thread (lower is better)")
    ax.legend(fontsize=8, ncol=2)
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# -- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="a fast smoke run: few, short repeats, no JAX"
    )
    parser.add_argument(
        "--no-write", action="store_true", help="print only; leave RESULTS.md and the chart alone"
    )
    parser.add_argument(
        "--profile", action="store_true", help="also profile astgrad's generated gradients"
    )
    parser.add_argument(
        "--wall", action="store_true", help="time wall-clock time rather than CPU time"
    )
    args = parser.parse_args(argv)
    repeat, min_time, first_repeat, overhead_time = (
        (1, 0.002, 1, 0.05) if args.quick else (25, 0.02, 7, 1.0)
    )
    global clock
    clock = time.perf_counter if args.wall else time.process_time

    methods, skipped, versions = [], [], {}
    for method in METHODS:
        if args.quick and method.module == "jax":
            skipped.append(f"{method.name} (--quick)")
            print(f"skipping {method.name}: --quick (JAX compiles for seconds)")
            continue
        why = unavailable(method.module)
        if why is not None:
            skipped.append(f"{method.name} ({method.module} not installed: {why})")
            print(f"skipping {method.name}: {method.module} is not installed ({why})")
            continue
        methods.append(method)
        if method.version:
            versions[method.version] = version_of(method.version)
    environment = (
        f"{cpu_model()}, {os.cpu_count()} logical CPUs, one thread used; {platform.system()}; "
        f"Python {platform.python_version()}, NumPy {np.__version__}"
        + "".join(f", {name} {v}" for name, v in versions.items())
        + f"; {'wall-clock' if args.wall else 'CPU'} time, best of {repeat} rounds"
        + f"; load average {os.getloadavg()[0]:.1f} at the start"
        + (" (--quick: rough figures)" if args.quick else "")
    )
    report = Report(environment, skipped=skipped)
    print(environment)

    plan = workloads()
    for w in plan:
        expected = w.by_hand(*w.args)
        calls = {}
        for method in methods:
            try:
                call = method.maker(w)
                result = call()
            except Exception as exc:  # noqa: BLE001 - a peer that fails is reported, not fatal
                report.problems.append(
                    f"{w.title}: {method.name} failed: {type(exc).__name__}: {exc}"
                )
                print(f"warning: {report.problems[-1]}")
                continue
            if method.name != "forward":
                why = disagreement(result, expected)
                if why is not None:
                    report.problems.append(
                        f"{w.title}: {method.name} disagrees with the hand-written gradient: {why}"
                    )
                    print(f"warning: {report.problems[-1]}")
            calls[method.name] = call
        print(f"timing {w.title}: {', '.join(calls)}", flush=True)
        report.times[w.title] = best_times(calls, repeat, min_time)
        if "astgrad source" in calls:
            report.first_calls[w.title] = first_call_time(w, first_repeat)
            if w.title in ("scalar recurrence", "small MLP"):  # microseconds are noise at 5 ms
                report.overheads[w.title] = cached_call_overhead(
                    w.function, w.wrt, w.args, overhead_time
                )
        if w.title == "large MLP":
            measured = ("hand-written", "astgrad source")
            if not args.quick:
                measured = ("forward", *measured, "astgrad tape", "autograd")
            for name in measured:
                if name in calls:
                    report.memory[name] = peak_memory(calls[name])

    report.overheads["x * x on a float"] = cached_call_overhead(
        square, ("x",), (1.5,), overhead_time
    )
    report.targets = targets_of(report, plan)
    names = [m.name for m in methods]
    chart = False
    if not args.no_write:
        chart = draw_chart(report, names, CHART)
    text = report.markdown(names, chart)
    print()
    print(text)
    if args.profile:
        print("Profile of astgrad's generated gradients (cProfile; time not under a call is the "
              "generated function's own arithmetic):\n")  # fmt: skip
        for w in plan:
            print(profile_source(w, 20 if w.title == "large MLP" else 2000, 10))
            print()
    if not args.no_write:
        write_section(RESULTS, text)
        print(
            f"wrote {RESULTS.relative_to(HERE.parent)}"
            + (f" and {CHART.relative_to(HERE.parent)}" if chart else "")
        )
    # A wrong or failing generated gradient makes the figures meaningless: say so by the exit.
    return 1 if any(": astgrad source " in p for p in report.problems) else 0


if __name__ == "__main__":
    sys.exit(main())

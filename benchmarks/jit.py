"""Gradients compiled with Numba (``ag.grad(f, jit="numba")``, issue 21), in absolute
times, against the same function's forward given to ``numba.njit`` by hand, JAX's
``jax.jit(jax.grad(f))`` in float64 and the uncompiled generated gradient.

Workloads, each written as a scientist writes it, with explicit loops:

- a scalar recurrence of 10^3 and 10^5 steps;
- a 1-D explicit heat equation, 200 cells x 500 steps, by index loops, with respect to
  the initial state and, as a fit of the diffusivity asks, to ``k`` too;
- the wave equation on the same grid, a scheme of two time levels (``prev, cur = cur,
  nxt``), with respect to the initial state and the wave speed;
- a damped spring integrated with Euler for 10^4 steps;
- the Lennard-Jones energy of 64 particles by a double loop over pairs.

JAX cannot unroll loops of this length, so it is given each workload as a JAX user writes
it: ``lax.fori_loop`` for the time steps, and the heat stencil and the pair energies
vectorized (a mask of the pairs i < j). One run: each time is the best of several calls
after the first (which compiles; the compile times are printed too). Targets: the
compiled gradient at most 3x the compiled forward, and faster than JAX's jitted gradient.

    python benchmarks/jit.py            # prints the table and writes it into RESULTS.md
    python benchmarks/jit.py --quick    # small sizes, prints only
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

import astgrad as ag

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
START, END = "<!-- jit:start -->", "<!-- jit:end -->"


# -- the workloads, as written in Python --------------------------------------------------


def recurrence(a, n):
    x = 0.5
    for _ in range(n):
        x = x - 0.1 * (x * x - a)
    return x


def heat(u0, k, steps):
    u = u0.copy()
    n = u.shape[0]
    for _ in range(steps):
        new = u.copy()
        for i in range(1, n - 1):
            new[i] = u[i] + k * (u[i - 1] - 2.0 * u[i] + u[i + 1])
        u = new
    return np.sum(u * u)


def wave(u0, c, steps):
    prev = u0.copy()
    cur = u0.copy()
    n = u0.shape[0]
    for _ in range(steps):
        nxt = np.zeros(n)
        for i in range(1, n - 1):
            nxt[i] = 2.0 * cur[i] - prev[i] + c * (cur[i - 1] - 2.0 * cur[i] + cur[i + 1])
        prev = cur
        cur = nxt
    return np.sum(cur * cur)


def spring(k, c, steps):
    x = 1.0
    v = 0.0
    e = 0.0
    dt = 0.001
    for _ in range(steps):
        a = -k * x - c * v
        v = v + dt * a
        x = x + dt * v
        e = e + dt * x * x
    return e


def lennard_jones(pos):
    n = pos.shape[0]
    e = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            dx = pos[i, 0] - pos[j, 0]
            dy = pos[i, 1] - pos[j, 1]
            dz = pos[i, 2] - pos[j, 2]
            r2 = dx * dx + dy * dy + dz * dz
            inv6 = 1.0 / (r2 * r2 * r2)
            e = e + 4.0 * (inv6 * inv6 - inv6)
    return e


# -- the same in JAX, as a JAX user writes them ------------------------------------------


def _jax_workloads():
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax import lax

    def jrecurrence(a, n):
        return lax.fori_loop(0, n, lambda _, x: x - 0.1 * (x * x - a), 0.5)

    def jheat(u0, k, steps):
        def step(_, u):
            inner = u[1:-1] + k * (u[:-2] - 2.0 * u[1:-1] + u[2:])
            return u.at[1:-1].set(inner)

        u = lax.fori_loop(0, steps, step, u0)
        return jnp.sum(u * u)

    def jwave(u0, c, steps):
        def step(_, levels):
            prev, cur = levels
            inner = 2.0 * cur[1:-1] - prev[1:-1] + c * (cur[:-2] - 2.0 * cur[1:-1] + cur[2:])
            return cur, jnp.zeros_like(cur).at[1:-1].set(inner)

        _, cur = lax.fori_loop(0, steps, step, (u0, u0))
        return jnp.sum(cur * cur)

    def jspring(k, c, steps):
        def step(_, state):
            x, v, e = state
            a = -k * x - c * v
            v = v + 0.001 * a
            x = x + 0.001 * v
            return x, v, e + 0.001 * x * x

        return lax.fori_loop(0, steps, step, (1.0, 0.0, 0.0))[2]

    def jlennard_jones(pos):
        n = pos.shape[0]
        d = pos[:, None, :] - pos[None, :, :]
        upper = jnp.triu(jnp.ones((n, n), dtype=bool), 1)
        r2 = jnp.where(upper, jnp.sum(d * d, axis=-1), 1.0)
        inv6 = 1.0 / (r2 * r2 * r2)
        return jnp.sum(jnp.where(upper, 4.0 * (inv6 * inv6 - inv6), 0.0))

    return {
        "recurrence": (jrecurrence, (1,)),
        "heat": (jheat, (2,)),
        "wave": (jwave, (2,)),
        "spring": (jspring, (2,)),
        "lennard_jones": (jlennard_jones, ()),
    }, jax


def _lattice(count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` particles near the points of a cubic lattice of spacing 1.1."""
    side = round(count ** (1 / 3))
    points = np.array(
        [(i, j, k) for i in range(side) for j in range(side) for k in range(side)], float
    )
    return points[:count] * 1.1 + 0.05 * rng.standard_normal((count, 3))


def workloads(quick: bool) -> list[tuple]:
    """``(label, function, jax key, args, wrt)``."""
    rng = np.random.default_rng(0)
    u0 = np.sin(np.linspace(0.0, np.pi, 40 if quick else 200))
    return [
        ("scalar recurrence, 10^3 steps", recurrence, "recurrence", (0.3, 1000), 0),
        (
            "scalar recurrence, 10^5 steps",
            recurrence,
            "recurrence",
            (0.3, 2000 if quick else 100_000),
            0,
        ),
        (
            f"heat equation, {u0.size} cells x {50 if quick else 500} steps",
            heat,
            "heat",
            (u0, 0.2, 50 if quick else 500),
            0,
        ),
        (
            f"heat equation, {u0.size} cells x {50 if quick else 500} steps, wrt (u0, k)",
            heat,
            "heat",
            (u0, 0.2, 50 if quick else 500),
            (0, 1),
        ),
        (
            f"wave equation (two levels), {u0.size} cells x {50 if quick else 500} steps, "
            "wrt (u0, c)",
            wave,
            "wave",
            (u0, 0.1, 50 if quick else 500),
            (0, 1),
        ),
        (
            f"damped spring, Euler, {1000 if quick else 10_000} steps",
            spring,
            "spring",
            (1.0, 0.1, 1000 if quick else 10_000),
            (0, 1),
        ),
        (
            f"Lennard-Jones, {8 if quick else 64} particles",
            lennard_jones,
            "lennard_jones",
            (_lattice(8 if quick else 64, rng),),
            0,
        ),
    ]


def _best(call, repeats: int, budget: float = 0.5) -> float:
    """The fastest of ``repeats`` calls, or of as many more as fit in ``budget`` seconds
    (at most 2,000): on a shared machine a longer call is more often interrupted, and
    more calls give the minimum a fair chance."""
    times = []
    spent = 0.0
    while len(times) < repeats or (spent < budget and len(times) < 2000):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
        spent += times[-1]
    return min(times)


def _first(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def _jax_call(jax, function, args):
    return jax.block_until_ready(function(*args))


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds >= 1:
        return f"{seconds:.2f}s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f}ms"
    return f"{seconds * 1e6:.1f}us"


def run(quick: bool) -> tuple[list[list[str]], list[str]]:
    import numba

    try:
        jax_workloads, jax = _jax_workloads()
    except ImportError:
        jax_workloads, jax = None, None
    repeats = 3 if quick else 7
    rows, notes = [], []
    for label, function, key, args, wrt in workloads(quick):
        compiled = ag.grad(function, wrt=wrt, jit="numba")
        first = _first(partial(compiled, *args))  # probe, compile, and the result
        report = ag.explain(function, *args, wrt=wrt, jit="numba")
        if not report.compiled:
            raise SystemExit(f"{label}: not compiled: {report.reason}")
        got = compiled(*args)
        want = ag.grad(function, wrt=wrt)(*args)
        wants = want if isinstance(wrt, tuple) else (want,)
        for g, w in zip(got if isinstance(wrt, tuple) else (got,), wants, strict=True):
            assert np.allclose(g, w, rtol=1e-9, atol=1e-12), label
        jit_time = _best(partial(compiled, *args), repeats)
        forward = numba.njit(function)
        forward(*args)
        forward_time = _best(partial(forward, *args), repeats)
        plain = ag.grad(function, wrt=wrt)
        plain_time = _best(partial(plain, *args), 1 if not quick else 2, budget=0.0)
        jax_time = jax_compile = None
        if jax_workloads is not None:
            jfunction, static = jax_workloads[key]
            positions = wrt if isinstance(wrt, tuple) else (wrt,)
            jgrad = jax.jit(jax.grad(jfunction, argnums=positions), static_argnums=static)
            jargs = tuple(a if isinstance(a, int) else jax.numpy.asarray(a) for a in args)
            jax_compile = _first(partial(_jax_call, jax, jgrad, jargs))
            jgot = jgrad(*jargs)
            for g, w in zip(jgot, wants, strict=True):
                assert np.allclose(np.asarray(g), w, rtol=1e-7, atol=1e-9), f"{label} (jax)"
            jax_time = _best(partial(_jax_call, jax, jgrad, jargs), repeats)
        rows.append(
            [
                label,
                _fmt(forward_time),
                f"{_fmt(jit_time)} ({jit_time / forward_time:.1f}x)",
                _fmt(jax_time) if jax is not None else "jax not installed",
                f"{jit_time / jax_time:.2f}x" if jax_time else "—",
                _fmt(plain_time),
                f"{report.seconds:.2f}s / {_fmt(first)}",
                _fmt(jax_compile),
            ]
        )
    if jax is None:
        notes.append("jax not installed: `pip install jax` for its column")
    return rows, notes


HEADER = [
    "workload",
    "njit forward",
    "jit gradient (vs forward)",
    "jax.jit(grad)",
    "jit / jax",
    "uncompiled gradient",
    "compile / first call",
    "jax first call",
]


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER))]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(HEADER, widths)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")
    return "\n".join(lines)


def section(rows: list[list[str]], notes: list[str]) -> str:
    import numba

    try:
        import jax

        jax_version = f", jax {jax.__version__} (x64)"
    except ImportError:
        jax_version = ""
    machine = (
        f"{time.strftime('%Y-%m-%d')}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs; "
        f"Python {platform.python_version()}, NumPy {np.__version__}, Numba "
        f"{numba.__version__}{jax_version}; wall time, best of at least 7 calls after "
        "the first (as many as fit in half a second); load average "
        f"{os.getloadavg()[0]:.1f} at the end (compile times grow with it)"
    )
    text = [
        "## Gradients compiled with Numba (benchmarks/jit.py)",
        "",
        f"Machine: {machine}.",
        "",
        '`ag.grad(f, jit="numba")` on loops as a scientist writes them, against the '
        "forward given to `numba.njit` by hand and `jax.jit(jax.grad(f))` on the same "
        "computation as a JAX user writes it (`lax.fori_loop`; the heat stencil and the "
        "pair energies vectorized, since JAX cannot unroll these loops). Compile: the "
        "Numba compile time `ag.explain` reports, and the first call's whole time (the "
        "transform, one uncompiled run that sees the saved values' types, the compile).",
        "",
        table(rows),
        *[f"\n{note}" for note in notes],
    ]
    return "\n".join(text)


def write(text: str) -> None:
    old = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    block = f"{START}\n{text}\n{END}"
    if START in old:
        new = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, old, flags=re.S)
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    RESULTS.write_text(new)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes; print only")
    options = parser.parse_args(argv)
    rows, notes = run(options.quick)
    text = section(rows, notes)
    print(text)
    if not options.quick:
        write(text)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()

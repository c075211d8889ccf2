"""Forward mode and second derivatives: time over the forward pass, against peers.

Run it with ``python benchmarks/higher_order.py`` (``--quick`` for fewer repeats). Peers
that are not installed are skipped with a line saying so (``pip install autograd jax``).

Workloads (float64, one thread):

* ``mlp``: a 3-layer tanh network of width 64 on a batch of 32, mean squared error, as a
  function of all six weights and biases: the jvp along a random direction of every
  parameter, and the Hessian-vector product (astgrad: reverse over generated forward
  code; autograd: ``make_hvp``; JAX: ``jvp`` of ``grad``, jit and not);
* ``hessian``: the Hessian of a 100-variable function ``sum(tanh(A x) ** 2) + x @ x``
  against the time of 100 Hessian-vector products (and JAX's ``hessian``, jitted);
* ``jacobian``: the 100 x 100 Jacobian of ``tanh(A x) * x``: forward mode batched (one
  run of the batched generated code) against one ``ag.jvp`` per direction, reverse mode
  batched (one run of the pullback for every output direction) against one pullback per
  direction, and JAX's ``jacfwd`` (jitted).

Targets (issue 16): hvp at most 5x the forward, jvp at most 2.5x, the Hessian at most
1.5x the time of 100 hvps.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import timeit  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

try:
    import astgrad as ag
except ModuleNotFoundError:  # run from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import astgrad as ag

WIDTH, BATCH, N = 64, 32, 100


def mlp_loss(W1, b1, W2, b2, W3, b3, x, y):
    h = np.tanh(x @ W1 + b1)
    h = np.tanh(h @ W2 + b2)
    out = h @ W3 + b3
    return np.mean((out - y) ** 2)


def hundred(x, A):
    return np.sum(np.tanh(A @ x) ** 2) + x @ x


def layer(x, A):
    return np.tanh(A @ x) * x


def _mlp_args(rng):
    s = 1.0 / np.sqrt(WIDTH)
    return (
        rng.standard_normal((WIDTH, WIDTH)) * s,
        rng.standard_normal(WIDTH) * 0.1,
        rng.standard_normal((WIDTH, WIDTH)) * s,
        rng.standard_normal(WIDTH) * 0.1,
        rng.standard_normal((WIDTH, 1)) * s,
        rng.standard_normal(1) * 0.1,
        rng.standard_normal((BATCH, WIDTH)),
        rng.standard_normal((BATCH, 1)),
    )


def _pullbacks(x, A, directions):
    value, pullback = ag.vjp(layer, x, A, mode="source")
    return [pullback(d, retain_graph=True) for d in directions]


def best(function, repeats: int) -> float:
    function()  # warm: generation and caches
    number = max(1, int(0.05 / max(timeit.timeit(function, number=1), 1e-7)))
    return min(timeit.repeat(function, number=number, repeat=repeats)) / number


def best_in_turns(functions: dict, repeats: int) -> dict:
    """Each function's best time per call, the functions taking turns in every round: on
    a shared machine a slow moment then slows all of them, not one, so their ratios hold
    where separate runs of ``best`` can put the forward in a slow moment and flatter them."""
    numbers = {}
    for name, function in functions.items():
        function()  # warm: generation and caches
        numbers[name] = max(1, int(0.05 / max(timeit.timeit(function, number=1), 1e-7)))
    found = dict.fromkeys(functions, float("inf"))
    for _ in range(repeats):
        for name, function in functions.items():
            seconds = timeit.timeit(function, number=numbers[name]) / numbers[name]
            found[name] = min(found[name], seconds)
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--rounds", type=int, default=3, help="times the mlp rows are measured (ranges)"
    )
    options = parser.parse_args()
    repeats = 3 if options.quick else 9
    rng = np.random.default_rng(0)
    args = _mlp_args(rng)
    params = args[:6]
    tangents = tuple(rng.standard_normal(np.shape(p)) for p in params) + (None, None)

    rows = []
    gradient = ag.grad(mlp_loss, wrt=tuple(range(6)), mode="source")
    mlp_functions = {
        "mlp forward": lambda: mlp_loss(*args),
        "astgrad jvp (source)": lambda: ag.jvp(mlp_loss, args, tangents, mode="source"),
        "astgrad hvp (source)": lambda: ag.hvp(mlp_loss, args, tangents, mode="source"),
        "astgrad gradient (source)": lambda: gradient(*args),
    }
    # Several rounds, each taking turns: the ratios' range says how far the machine's
    # noise moves them; the rows show the round whose forward was fastest.
    rounds = [best_in_turns(mlp_functions, repeats) for _ in range(max(1, options.rounds))]
    ratios = {
        name: [found[name] / found["mlp forward"] for found in rounds] for name in mlp_functions
    }
    mlp = min(rounds, key=lambda found: found["mlp forward"])
    forward = mlp["mlp forward"]
    rows.append(("mlp forward", forward, None))
    rows.extend((name, seconds, forward) for name, seconds in list(mlp.items())[1:])
    try:
        import autograd
        import autograd.numpy as anp

        def autograd_loss(params, x, y):
            W1, b1, W2, b2, W3, b3 = params
            h = anp.tanh(anp.dot(x, W1) + b1)
            h = anp.tanh(anp.dot(h, W2) + b2)
            out = anp.dot(h, W3) + b3
            return anp.mean((out - y) ** 2)

        from autograd.misc import flatten

        flat, unflatten = flatten(list(params))
        flat_vector, _ = flatten(list(tangents[:6]))
        hvp_maker = autograd.hessian_vector_product(
            lambda p: autograd_loss(unflatten(p), args[6], args[7])
        )
        rows.append(
            (
                "autograd hvp (make_hvp)",
                best(lambda: hvp_maker(flat, flat_vector), repeats),
                forward,
            )
        )
    except ModuleNotFoundError:
        print("(autograd not installed: pip install autograd)")
    try:
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)

        def jax_loss(params, x, y):
            W1, b1, W2, b2, W3, b3 = params
            h = jnp.tanh(x @ W1 + b1)
            h = jnp.tanh(h @ W2 + b2)
            out = h @ W3 + b3
            return jnp.mean((out - y) ** 2)

        def jax_hvp(params, v, x, y):
            return jax.jvp(lambda p: jax.grad(jax_loss)(p, x, y), (params,), (v,))[1]

        jp = tuple(jnp.asarray(p) for p in params)
        jv = tuple(jnp.asarray(t) for t in tangents[:6])
        rows.append(
            (
                "jax hvp (no jit)",
                best(lambda: jax.block_until_ready(jax_hvp(jp, jv, args[6], args[7])), repeats),
                forward,
            )
        )
        jitted = jax.jit(jax_hvp)
        rows.append(
            (
                "jax hvp (jit)",
                best(lambda: jax.block_until_ready(jitted(jp, jv, args[6], args[7])), repeats),
                forward,
            )
        )
    except ModuleNotFoundError:
        print("(JAX not installed: pip install jax)")

    x = rng.standard_normal(N) * 0.3
    A = rng.standard_normal((N, N)) / np.sqrt(N)
    directions = np.eye(N)
    hvps = best(
        lambda: [ag.hvp(hundred, (x, A), (d, None), mode="source") for d in directions],
        max(3, repeats // 2),
    )
    hess = best(lambda: ag.hessian(hundred, mode="source")(x, A), max(3, repeats // 2))
    few = max(3, repeats // 2)
    jac_rows = [
        ("jacobian, forward batched", best(lambda: ag.jacobian(layer, mode="forward")(x, A), few)),
        (
            "jacobian, one jvp per direction",
            best(
                lambda: [ag.jvp(layer, (x, A), (d, None), mode="source") for d in directions], few
            ),
        ),
        ("jacobian, reverse batched", best(lambda: ag.jacobian(layer, mode="reverse")(x, A), few)),
        ("jacobian, one pullback per direction", best(lambda: _pullbacks(x, A, directions), few)),
    ]
    forward_jacobian = ag.jacobian(layer, mode="forward")(x, A)
    per_direction = np.stack(
        [ag.jvp(layer, (x, A), (d, None), mode="source")[1] for d in directions], axis=-1
    )
    assert np.allclose(forward_jacobian, per_direction, rtol=1e-12, atol=1e-14)
    try:
        import jax
        import jax.numpy as jnp

        jx, jA = jnp.asarray(x), jnp.asarray(A)
        jac_jit = jax.jit(jax.jacfwd(lambda x, A: jnp.tanh(A @ x) * x))
        hess_jit = jax.jit(jax.hessian(lambda x, A: jnp.sum(jnp.tanh(A @ x) ** 2) + x @ x))
        jac_rows.append(
            ("jax jacfwd (jit)", best(lambda: jax.block_until_ready(jac_jit(jx, jA)), few))
        )
        jac_rows.append(
            ("jax hessian (jit)", best(lambda: jax.block_until_ready(hess_jit(jx, jA)), few))
        )
    except ModuleNotFoundError:
        pass
    jac_forward = best(lambda: layer(x, A), repeats)

    machine = platform.processor() or platform.machine()
    print(
        f"{machine}, Python {platform.python_version()}, NumPy {np.__version__}; best of {repeats}"
    )
    print()
    print("| workload | time | / forward |")
    print("|---|---|---|")
    for name, seconds, base in rows:
        ratio = f"{seconds / base:.2f}x" if base else ""
        print(f"| {name} | {seconds * 1e6:.1f}us | {ratio} |")
    print(f"| 100 hvps of a 100-variable function | {hvps * 1e3:.2f}ms | |")
    print(f"| its Hessian | {hess * 1e3:.2f}ms | {hess / hvps:.2f}x the 100 hvps |")
    print()
    print(f"100 x 100 Jacobian of tanh(A @ x) * x (forward {jac_forward * 1e6:.1f}us)")
    print()
    print("| workload | time | / forward |")
    print("|---|---|---|")
    for name, seconds in jac_rows:
        print(f"| {name} | {seconds * 1e3:.3f}ms | {seconds / jac_forward:.1f}x |")
    print()
    print("| target | measured (rounds: median, range) | goal | result |")
    print("|---|---|---|---|")
    for name, measured, goal in (
        ("mlp: jvp / forward", ratios["astgrad jvp (source)"], 2.5),
        ("mlp: hvp / forward", ratios["astgrad hvp (source)"], 5.0),
        ("hessian / 100 hvps", [hess / hvps], 1.5),
    ):
        middle = float(np.median(measured))
        spread = f" ({min(measured):.2f}-{max(measured):.2f}x)" if len(measured) > 1 else ""
        verdict = "PASS" if middle <= goal else "MISS"
        print(f"| {name} | {middle:.2f}x{spread} | <= {goal:.1f}x | {verdict} |")


if __name__ == "__main__":
    main()

"""The checks the ``jit="numba"`` tests share: a function's gradient compiled, against the
uncompiled one and central finite differences, and its rewritten source; and one of the
rewrites of ``transform/jit_*.py`` run as Python before and after on the same arguments."""

from __future__ import annotations

import ast
import itertools
from collections.abc import Callable

import numpy as np
from numeric import assert_close, numeric_vjp

import astgrad as ag


def compiled_check(
    function, args, wrt, same_bits: bool = False, rtol: float = 1e-10, atol: float = 1e-12
) -> str:
    """Compiled against uncompiled (to ``rtol``, or bit for bit with ``same_bits``: the
    same additions in the same order) and finite differences; returns the rewritten
    source."""
    positions = wrt if isinstance(wrt, tuple) else (wrt,)
    compiled = ag.value_and_grad(function, wrt=wrt, jit="numba")
    want_value, want = ag.value_and_grad(function, wrt=wrt)(*args)
    wants = want if isinstance(wrt, tuple) else (want,)
    for attempt in range(3):  # (the first call probes uncompiled; then compiled, twice)
        value, got = compiled(*args)
        gots = got if isinstance(wrt, tuple) else (got,)
        assert_close(value, want_value, rtol=1e-12, atol=1e-12, what=f"value, call {attempt}")
        for g, w in zip(gots, wants, strict=True):
            if same_bits:
                np.testing.assert_array_equal(g, w, err_msg=f"gradient, call {attempt}")
            else:
                assert_close(g, w, rtol=rtol, atol=atol, what=f"gradient, call {attempt}")
    values = [np.asarray(a, dtype=float) if isinstance(a, np.ndarray) else a for a in args]
    for position, g in zip(positions, gots, strict=True):
        numeric = numeric_vjp(function, list(values), position, 1.0)
        assert_close(g, numeric, rtol=1e-5, atol=1e-7, what=f"finite differences, {position}")
    report = ag.explain(function, *args, wrt=wrt, jit="numba")
    assert report.compiled, str(report)
    return report.source


def rewritten(source: str, rewrite: Callable, buffers: dict) -> tuple[str, object]:
    """The source and function of ``source`` (one function) after
    ``rewrite(function_node, buffers, fresh)``, which rewrites it in place."""
    tree = ast.parse(source)
    counter = itertools.count(100)
    rewrite(tree.body[0], buffers, lambda base: f"{base}_{next(counter)}")
    ast.fix_missing_locations(tree)
    namespace: dict = {"np": np}
    exec(compile(tree, "<rewritten>", "exec"), namespace)
    return ast.unparse(tree), namespace[tree.body[0].name]


def original(source: str) -> object:
    """The function of ``source`` as written."""
    namespace: dict = {"np": np}
    exec(source, namespace)
    return namespace[ast.parse(source).body[0].name]


def same_bits(before: Callable, after: Callable, *args) -> object:
    """Both called on copies of the same arguments: the same bits (results and arrays
    changed in place), or the same exception. Returns the result."""
    copies = [[a.copy() if isinstance(a, np.ndarray) else a for a in args] for _ in range(2)]
    results = []
    for function, given in zip((before, after), copies, strict=True):
        try:
            results.append(("value", function(*given), given))
        except Exception as exc:  # (an index error on both sides, say)
            results.append(("raised", type(exc), None))
    (kind_a, a, given_a), (kind_b, b, given_b) = results
    assert kind_a == kind_b, results
    if kind_a == "value":
        if isinstance(a, tuple):  # (arrays and the names a loop leaves bound)
            assert isinstance(b, tuple) and len(a) == len(b), (a, b)
            for x, y in zip(a, b, strict=True):
                assert type(x) is type(y), (x, y)
                np.testing.assert_array_equal(x, y)
        else:
            np.testing.assert_array_equal(a, b)
        for x, y in zip(given_a, given_b, strict=True):
            if isinstance(x, np.ndarray):
                np.testing.assert_array_equal(x, y)
    return a


def random_loop_body(rng, write: Callable[[], str], read: Callable[[], str], g: str) -> str:
    """Two to seven random statements of a loop body adding into and reading elements of
    an array (``write()`` and ``read()`` give random element accesses), through a local
    ``t`` and under ``if``; ``g`` is an element of another array."""
    lines = []
    for _ in range(rng.randint(2, 7)):
        target, source = write(), read()
        value = rng.choice([f"{target} + {g}", f"{target} * 0.5 + {source}", f"{source} - t"])
        kind = rng.random()
        if kind < 0.7:
            lines.append(f"{target} = {value}")
        elif kind < 0.85:
            lines.append(f"t = {source} * 1.5")
        else:
            lines.append(f"if {source} > t:\n            {target} = {value}")
    return "\n        ".join(lines)

"""The check the ``jit="numba"`` tests share: a function's gradient compiled, against the
uncompiled one and central finite differences, and its rewritten source."""

from __future__ import annotations

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

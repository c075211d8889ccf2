"""The release pass: the backward pass frees arrays once no later statement reads them."""

from __future__ import annotations

import numpy as np
from astgrad.transform import pipeline
from numeric import assert_close, numeric_vjp

import astgrad as ag


def two_layers(W1, W2, x):
    h = np.tanh(x @ W1)
    out = h @ W2
    return np.mean(out**2)


def branch_bound(x, t):
    if t > 0:
        y = np.sin(x)  # bound only on one path: must not be deleted where it may be unbound
    else:
        y = x * 2.0
    z = y * x
    return np.sum(z * z)


def scalar_loop(a, b):
    for _ in range(3):
        a = a * b + 0.5
    return a


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()]


def test_one_del_per_user_line_and_none_before_the_return():
    text = ag.source(two_layers, wrt=(0, 1))
    lines = _lines(text)
    deletes = [line for line in lines if line.startswith("del ")]
    # after the loss's block and after the second layer's: what died in each
    assert deletes == ["del dpower, out, power", "del dout"], text
    # the statement before the return is never a del: returning frees everything anyway
    return_at = next(i for i, line in enumerate(lines) if line.startswith("return"))
    assert not lines[return_at - 1].startswith("del ")
    rng = np.random.default_rng(0)
    W1, W2, x = (
        rng.standard_normal((3, 4)),
        rng.standard_normal((4, 2)),
        rng.standard_normal((5, 3)),
    )
    for i, g in enumerate(ag.grad(two_layers, wrt=(0, 1))(W1, W2, x)):
        assert_close(g, numeric_vjp(two_layers, [W1, W2, x], i, 1.0), what=f"d{i}")


def test_a_name_bound_only_in_a_branch_is_never_deleted():
    text = ag.source(branch_bound)
    for line in _lines(text):
        if line.startswith("del "):
            assert "y" not in line[4:].replace(" ", "").split(","), text
    x = np.random.default_rng(1).standard_normal(4)
    for t in (1.0, -1.0):
        g = ag.grad(branch_bound)(x, t)
        assert_close(
            g, numeric_vjp(lambda v, t=t: branch_bound(v, t), [x], 0, 1.0), what=f"dx t={t}"
        )


def test_numbers_are_not_deleted():
    derivative = pipeline.derive(
        scalar_loop, ("a", "b"), param_kinds={"a": ("value", "float"), "b": ("value", "float")}
    )
    assert "del " not in derivative.source
    value, (da, db) = ag.value_and_grad(scalar_loop, wrt=(0, 1))(0.3, 0.7)
    assert_close(da, numeric_vjp(scalar_loop, [0.3, 0.7], 0, 1.0), what="da")
    assert_close(db, numeric_vjp(scalar_loop, [0.3, 0.7], 1, 1.0), what="db")


def accumulate_in_a_loop(x):
    total = 0.0
    for i in range(x.shape[0]):
        total = total + np.sum(np.sin(x[i]))
    return total


def test_no_copy_back_of_an_adjoint_set_aside():
    # ``total = total + ...`` saves its gradient aside and hands it straight back; the
    # generated code must not show ``dtotal_out = dtotal`` followed by ``dtotal = dtotal_out``.
    text = ag.source(accumulate_in_a_loop)
    assert "dtotal = dtotal_out" not in text, text
    x = np.random.default_rng(4).standard_normal((3, 2))
    assert_close(
        ag.grad(accumulate_in_a_loop)(x), numeric_vjp(accumulate_in_a_loop, [x], 0, 1.0), what="dx"
    )

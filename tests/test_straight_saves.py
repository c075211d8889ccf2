"""straight_saves: without loops or branches, overwritten values are saved under names
(``z_old = z``) instead of on a stack, read by those names in the backward pass, and
released with ``del`` where the stack's pop would have dropped them."""

import ast
import re

import numpy as np
import pytest
from numeric import assert_close, numeric_vjp

import astgrad as ag


def overwritten(x, y):
    z = x * 1.0
    z += y
    z *= x
    z -= 0.5
    z **= 2
    return np.sum(z)


def overwritten_item(x):
    y = np.copy(x)
    y[0] = y[1] * x[2]
    y = np.tanh(y)
    return np.sum(y * y)


def looped(x):
    for _ in range(3):
        x = np.sin(x) * 1.5
    return np.sum(x)


def _statements(text):
    (function,) = ast.parse(text).body[:1]
    return function.body


def _names(node, ctx):
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ctx)}


@pytest.mark.parametrize("function", [overwritten, overwritten_item])
def test_no_stack_outside_loops(function):
    text = ag.source(function)
    for word in ("stack", "push(", "pop("):
        assert word not in text, text
    body = _statements(text)
    saved = {
        target.id
        for stmt in body
        if isinstance(stmt, ast.Assign)
        for target in stmt.targets
        if isinstance(target, ast.Name)
        and target.id.endswith(("_old", "_overwritten"))
        or re.search(r"_old_\d+$", getattr(target, "id", ""))
    }
    assert saved, text
    for name in saved:  # each released once, after its last read
        deletes = [i for i, stmt in enumerate(body) if name in _names(stmt, ast.Del)]
        assert len(deletes) == 1, (name, text)
        last_read = max(i for i, stmt in enumerate(body) if name in _names(stmt, ast.Load))
        assert deletes[0] > last_read, (name, text)


def test_the_saved_names_read_the_values_before_the_overwrite():
    text = ag.source(overwritten)
    assert "z_old = z" in text and "dz * 2 * z_old" in text, text
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(4), rng.standard_normal(4)
    for wrt in (0, 1):
        got = ag.grad(overwritten, wrt=wrt)(x, y)
        assert_close(got, numeric_vjp(overwritten, [x, y], wrt, 1.0), what=f"d{wrt}")


def test_item_assignment_restores_from_a_name():
    x = np.array([0.3, -0.7, 1.1])
    assert_close(ag.grad(overwritten_item)(x), numeric_vjp(overwritten_item, [x], 0, 1.0))


def test_a_retained_pullback_replays_from_the_saved_names():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal(4), rng.standard_normal(4)
    value, pullback = ag.vjp(overwritten, x, y, wrt=(0, 1))
    first = pullback(1.0, retain_graph=True)
    second = pullback(2.0)
    for got, want, scale in ((first, 1.0, 1), (second, 2.0, 2)):
        for i in (0, 1):
            assert_close(got[i], numeric_vjp(overwritten, [x, y], i, want), what=f"x{scale} d{i}")


def test_loops_keep_the_stack():
    assert "stack" in ag.source(looped)
    x = np.array([0.2, -0.4])
    assert_close(ag.grad(looped)(x), numeric_vjp(looped, [x], 0, 1.0))

"""Every rule in the table against central finite differences, through the tape."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from numeric import assert_close, numeric_vjp
from rule_specs import SPECS, A

import astgrad as ag
from astgrad.runtime import ops
from astgrad.runtime.rules import all_rules


def shipped_rules():
    """The table astgrad ships (tests may register rules of their own)."""
    return [r for r in all_rules() if r.vjp.__module__.startswith("astgrad.runtime.rules")]


def _cases():
    for rule in shipped_rules():
        for number, spec in enumerate(SPECS.get(rule.primitive, [])):
            yield pytest.param(rule, spec, id=f"{rule.name}-{number}")


def test_every_rule_has_cases():
    missing = [r.name for r in shipped_rules() if r.primitive not in SPECS]
    assert not missing, f"rules without test cases in rule_specs.SPECS: {missing}"


def _materialize(spec, seed=0):
    rng = np.random.default_rng(seed)
    return [a.make(rng) if isinstance(a, A) else a for a in spec.args]


def _cotangent(out, rng):
    if isinstance(out, tuple):
        return tuple(rng.standard_normal(np.shape(o)) for o in out)
    return rng.standard_normal(np.shape(out))


@pytest.mark.parametrize("rule, spec", list(_cases()))
def test_rule_matches_finite_differences(rule, spec):
    args = _materialize(spec)
    differentiable = [i for i, a in enumerate(spec.args) if isinstance(a, A) and a.dtype != bool]
    fn = rule.primitive
    out = fn(*args, **spec.kwargs)
    g = _cotangent(out, np.random.default_rng(1))
    # All differentiable arguments at once, then each alone (the specialised path).
    subsets = [differentiable] + ([[i] for i in differentiable] if len(differentiable) > 1 else [])
    for subset in subsets:
        tensors = [
            ag.tensor(a, requires_grad=i in subset) if i in differentiable else a
            for i, a in enumerate(args)
        ]
        result = ops.apply(rule, fn, tuple(tensors), spec.kwargs)
        if isinstance(result, tuple):
            total = sum((r * gi).sum() for r, gi in zip(result, g))
            total.backward()
        else:
            result.backward(g)
        for i in subset:
            expected = numeric_vjp(lambda *xs: fn(*xs, **spec.kwargs), list(args), i, g)
            assert_close(tensors[i].grad.data, expected, what=f"{rule.name} argument {i}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradients_keep_the_input_dtype(dtype):
    for fn in (np.tanh, np.exp, lambda x: (x * 2.5).sum(), lambda x: (x @ x.T).mean()):
        x = ag.tensor(np.ones((3, 3)), dtype=dtype, requires_grad=True)
        out = fn(x)
        out = out.sum() if out.ndim else out
        out.backward()
        assert x.grad.dtype == dtype


def test_rules_are_parsed_for_inlining():
    """The rules the table ships are all of the inlinable form (assignments then return)."""
    called = [r.name for r in shipped_rules() if r.inline and r.template is None]
    assert not called, f"rules that cannot be inlined: {called}"


def test_value_reads_skip_shape_only_uses():
    add = ag.lookup_rule(np.add)
    assert add.value_params == frozenset()
    multiply = ag.lookup_rule(np.multiply)
    assert multiply.value_params == {"x", "y"}
    tanh = ag.lookup_rule(np.tanh)
    assert tanh.value_params == {"ans"}


@pytest.mark.parametrize("combo", list(itertools.product([True, False], repeat=2))[:-1])
def test_binary_operator_gradients_with_constants(combo):
    rng = np.random.default_rng(3)
    xv, yv = rng.uniform(0.5, 2, (3, 2)), rng.uniform(0.5, 2, (2,))
    for op in ("+", "-", "*", "/", "**"):
        x = ag.tensor(xv, requires_grad=True) if combo[0] else xv
        y = ag.tensor(yv, requires_grad=True) if combo[1] else yv
        out = eval(f"x {op} y")
        out.sum().backward()
        f = lambda a, b: eval(f"a {op} b")  # noqa: B023
        if combo[0]:
            assert_close(x.grad.data, numeric_vjp(f, [xv, yv], 0, np.ones((3, 2))), what=op)
        if combo[1]:
            assert_close(y.grad.data, numeric_vjp(f, [xv, yv], 1, np.ones((3, 2))), what=op)

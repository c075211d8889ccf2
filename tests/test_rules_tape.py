"""Every rule in the table against central finite differences, through the tape."""

from __future__ import annotations

import importlib
import itertools

import numpy as np
import pytest
from astgrad.runtime import recording
from numeric import assert_close, numeric_vjp
from rule_specs import (
    SPECS,
    arguments,
    differentiable_paths,
    get_at,
    numeric_vjp_at,
    random_cotangent,
    replace_at,
    shipped_rules,
)

import astgrad as ag


def _cases():
    for rule in shipped_rules():
        for number, spec in enumerate(SPECS.get(rule.primitive, [])):
            marks = pytest.mark.xfail(strict=True, reason=spec.tape_bug) if spec.tape_bug else ()
            yield pytest.param(rule, spec, id=f"{rule.name}-{number}", marks=marks)


#: rules the table's cases cannot check, and the tests that check them instead. The closed
#: forms transform/factor.py writes for a Cholesky factor's gradient are defined where the
#: factor is triangular and each solution is its solve's: their rules are those of the
#: generic form they equal there (the Cholesky rule of the parts' dense sum), so moving one
#: argument alone, as the table's cases do, leaves where the two agree; and their solves'
#: parts are tuples nested two deep, which the cases do not draw.
_FACTOR_TESTS = "test_helper_rules_linalg"
CHECKED_ELSEWHERE = {
    "cholesky_factor_grad": (
        _FACTOR_TESTS,
        "test_cholesky_factor_grad_is_the_rule_of_its_parts_sum",
    ),
    "cho_factor_grad": (_FACTOR_TESTS, "test_cho_factor_grad_is_the_rule_of_its_parts_sum"),
}


def test_every_rule_has_cases():
    missing = [
        r.name
        for r in shipped_rules()
        if r.primitive not in SPECS and r.name not in CHECKED_ELSEWHERE
    ]
    assert not missing, f"rules without test cases in rule_specs.SPECS: {missing}"
    for module, test in CHECKED_ELSEWHERE.values():
        assert hasattr(importlib.import_module(module), test), (module, test)


def _with_tensors(call: tuple, paths: list, requiring: set) -> tuple:
    """The call with each differentiable input made a tensor (inside sequences too), those
    of the arguments in ``requiring`` requiring grad."""
    for path in paths:
        value = get_at(call, path)
        call = replace_at(call, path, ag.tensor(value, requires_grad=path[0] in requiring))
    return call


@pytest.mark.parametrize("rule, spec", list(_cases()))
def test_rule_matches_finite_differences(rule, spec):
    call = arguments(spec)
    paths = differentiable_paths(spec)
    fn = rule.primitive
    out = fn(*call[0], **call[1])
    g = random_cotangent(out, np.random.default_rng(1), spec.outputs)
    # All differentiable arguments at once, then each alone (the specialised path).
    params = list(dict.fromkeys(p[0] for p in paths))
    subsets = [params] + ([[p] for p in params] if len(params) > 1 else [])
    for subset in subsets:
        tensors = _with_tensors(call, paths, set(subset))
        result = recording.apply(rule, fn, tuple(tensors[0]), tensors[1])
        if isinstance(result, tuple):
            total = sum((r * gi).sum() for r, gi in zip(result, g))
            total.backward()
        else:
            result.backward(np.asarray(g))
        for path in paths:
            if path[0] not in subset:
                continue
            expected = numeric_vjp_at(fn, call, path, g, spec.eps)
            got = get_at(tensors, path).grad
            assert got is not None, f"{rule.name}: no gradient reached input {path}"
            assert_close(got.data, expected, rtol=spec.rtol, what=f"{rule.name} input {path}")


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


@pytest.mark.parametrize(
    "module",
    [
        "shared",
        "containers",
        "arithmetic",
        "indexing",
        "reductions",
        "rearranging",
        "selection",
        "linalg_helpers",
        "registry",
    ],
)
def test_helper_docstring_examples(module):
    import doctest
    import importlib

    found = importlib.import_module(f"astgrad.runtime.rules.{module}")
    result = doctest.testmod(found, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert not result.failed

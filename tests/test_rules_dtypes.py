"""Every rule keeps float32 gradients float32.

The tape and ``finish_gradient`` cast a gradient to its input's dtype at the end, which
would hide a rule that computes in float64 in between; generated code would then run
float32 programs at float64 cost. So each rule is called directly here, on float32 inputs
and a float32 cotangent, and each gradient it returns must be float32.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from astgrad.runtime.adjoints import Parts
from astgrad.runtime.rules import all_rules
from rule_specs import SPECS, arguments, differentiable_paths, get_at, random_cotangent

import astgrad as ag


def _float32(value):
    if isinstance(value, np.ndarray) and value.dtype == np.float64:
        return value.astype(np.float32)
    if isinstance(value, float):
        return np.float32(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_float32(v) for v in value)
    return value


def _cases():
    for rule in all_rules():
        if not rule.vjp.__module__.startswith("astgrad.runtime.rules"):
            continue
        if getattr(rule.primitive, "__module__", None) == "math":
            continue  # the math module computes with Python floats, whatever it is given
        for number, spec in enumerate(SPECS.get(rule.primitive, [])):
            if differentiable_paths(spec):
                yield pytest.param(rule, spec, id=f"{rule.name}-{number}")


def _call(function, args, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NaN cases of nansum, nanmean...
        return function(*args, **kwargs)


@pytest.mark.parametrize("rule, spec", list(_cases()))
def test_rule_keeps_float32(rule, spec):
    args, kwargs = arguments(spec)
    args, kwargs = _float32(args), {k: _float32(v) for k, v in kwargs.items()}
    # The cotangent has the result's dtype, which is float64 for the primitives that compute
    # in float64 whatever their input (float_power, float(), astype(np.float64)).
    g = random_cotangent(
        out := _call(rule.primitive, args, kwargs), np.random.default_rng(1), spec.outputs
    )
    if isinstance(g, tuple):
        g = tuple(np.asarray(part, dtype=np.asarray(o).dtype) for part, o in zip(g, out))
    else:
        g = np.asarray(g, dtype=np.asarray(out).dtype)
    # (warnings: the rule computes every argument's gradient here, also log(x) of a
    # negative x for a constant exponent that the tape and the transform would skip)
    grads = _call(rule.vjp, (g, out, *args), kwargs)
    if not isinstance(grads, tuple) or isinstance(grads, Parts):
        grads = (grads,)
    for path in differentiable_paths(spec):
        position = rule.param_names.index(path[0]) if isinstance(path[0], str) else path[0]
        grad = grads[position]
        if len(path) > 1:
            grad = grad[path[1]]
        expected = get_at((args, kwargs), path)
        if not hasattr(expected, "dtype"):
            continue  # a Python float: any float gradient will do
        assert np.asarray(grad).dtype == expected.dtype, f"{rule.name} input {path}"


def _square_plus_sine(x):
    return x * x + np.sin(x)


@pytest.mark.parametrize("mode", ["source", "tape", "auto"])
@pytest.mark.parametrize("scalar", [2.0, np.float64(2.0), np.float32(2.0)])
def test_a_scalar_argument_gets_a_gradient_of_its_own_type(mode, scalar):
    g = ag.grad(_square_plus_sine, mode=mode)(scalar)
    assert type(g) is type(scalar), (mode, type(g))
    assert abs(float(g) - (2 * 2.0 + np.cos(2.0))) < 1e-5

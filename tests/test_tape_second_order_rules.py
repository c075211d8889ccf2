"""Every rule in the table, differentiated twice on the tape (``create_graph=True``).

For each case of ``rule_specs.SPECS``: the vector-Jacobian product ``vjp(x; u) = J(x)^T u``
recorded as a function of the inputs ``x`` and of the cotangent ``u`` (a tensor that
requires grad), then the gradient of ``s = sum(vjp(x; u) * w)`` for a random ``w``:

* with respect to ``x``, against central differences of the first-order product, which
  the ordinary tape computes (``test_rules_tape`` checks that one against the function);
* with respect to ``u``, against central differences of the function along ``w``
  (``s`` is linear in ``u``, with gradient ``J w``: what ``tape_jvp`` relies on).
"""

from __future__ import annotations

import numpy as np
import pytest
from astgrad.runtime import recording
from numeric import assert_close
from rule_specs import (
    SPECS,
    arguments,
    differentiable_paths,
    get_at,
    random_cotangent,
    replace_at,
    shipped_rules,
)

import astgrad as ag

# Rules whose second derivative the tape refuses, and why: the singular vectors of svd
# have no gradient in astgrad (norm's 'nuc', 2 and -2 orders go through them).
REFUSED: dict[str, str] = {}


def _cases():
    for rule in shipped_rules():
        for number, spec in enumerate(SPECS.get(rule.primitive, [])):
            if not spec.tape_bug:
                yield pytest.param(rule, spec, id=f"{rule.name}-{number}")


def _recorded_call(rule, call, paths):
    """The primitive recorded on tensors for every differentiable input: (inputs, outputs)."""
    tensors = call
    for path in paths:
        tensors = replace_at(tensors, path, ag.tensor(get_at(call, path), requires_grad=True))
    out = recording.apply(rule, rule.primitive, tuple(tensors[0]), tensors[1])
    outs = list(out) if isinstance(out, tuple) else [out]
    return [get_at(tensors, p) for p in paths], outs


def _differentiable(outs, cotangents):
    return [
        (o, c)
        for o, c in zip(outs, cotangents)
        if isinstance(o, ag.Tensor) and o.requires_grad and o.dtype.kind == "f"
    ]


def _first_order(rule, call, paths, cotangents):
    """The ordinary tape's vector-Jacobian product at ``call``, one array per input."""
    inputs, outs = _recorded_call(rule, call, paths)
    pairs = _differentiable(outs, cotangents)
    grads = ag.autograd_grad(
        [o for o, _ in pairs],
        inputs,
        [np.asarray(c, dtype=o.dtype) for o, c in pairs],
        allow_unused=True,
    )
    return [
        np.zeros(np.shape(get_at(call, p))) if g is None else g.data for g, p in zip(grads, paths)
    ]


def _moved(x, i, step):
    if isinstance(x, float):
        return x + step
    moved = np.array(x, dtype=np.float64)
    moved[i] += step
    return moved.astype(np.asarray(x).dtype)


@pytest.mark.parametrize("rule, spec", list(_cases()))
def test_second_derivative_matches_finite_differences_of_the_first(rule, spec):
    call = arguments(spec)
    paths = differentiable_paths(spec)
    value = rule.primitive(*call[0], **call[1])
    rng = np.random.default_rng(1)
    g = random_cotangent(value, rng, spec.outputs)
    cotangents = list(g) if isinstance(value, (tuple, list)) else [g]
    ws = [rng.standard_normal(np.shape(get_at(call, p))) for p in paths]
    inputs, outs = _recorded_call(rule, call, paths)
    pairs = [
        (o, ag.tensor(np.asarray(c, dtype=o.dtype), requires_grad=True))
        for o, c in _differentiable(outs, cotangents)
    ]
    us = [u for _, u in pairs]

    def second():
        first = ag.autograd_grad(
            [o for o, _ in pairs], inputs, us, create_graph=True, allow_unused=True
        )
        total = sum((f * w).sum() for f, w in zip(first, ws) if f is not None)
        if not isinstance(total, ag.Tensor) or not total.requires_grad:
            return [None] * (len(inputs) + len(us))
        return ag.autograd_grad(total, inputs + us, allow_unused=True)

    reason = next((why for name, why in REFUSED.items() if rule.name == name), None)
    if reason is not None:
        try:
            got = second()
        except NotImplementedError as exc:
            assert reason in str(exc)
            return
    else:
        got = second()
    eps = 1e-5
    loose = any(np.asarray(get_at(call, p)).dtype != np.float64 for p in paths) or any(
        o.dtype != np.float64 for o, _ in pairs
    )
    rtol, atol = (2e-3, 2e-3) if loose else (max(spec.rtol, 1e-4), 1e-5)
    for k, path in enumerate(paths):
        x = get_at(call, path)
        expected = np.zeros(np.shape(x))
        for i in np.ndindex(np.shape(x)):
            sides = []
            for step in (eps, -eps):
                first = _first_order(
                    rule, replace_at(call, path, _moved(x, i, step)), paths, cotangents
                )
                sides.append(sum(np.sum(f * w) for f, w in zip(first, ws)))
            expected[i] = (sides[0] - sides[1]) / (2 * eps)
        actual = np.zeros(np.shape(x)) if got[k] is None else got[k].data
        assert_close(actual, expected, rtol=rtol, atol=atol, what=f"{rule.name} d/d{path}")
    # d/du: the function's derivative along w
    along = []
    for sign in (1, -1):
        moved = call
        for p, w in zip(paths, ws):
            x = get_at(call, p)
            step = sign * eps * w
            moved = replace_at(moved, p, x + float(step) if isinstance(x, float) else x + step)
        result = rule.primitive(*moved[0], **moved[1])
        along.append(list(result) if isinstance(result, (tuple, list)) else [result])
    j = 0
    for o, up, down in zip(outs, *along):
        if not (isinstance(o, ag.Tensor) and o.requires_grad and o.dtype.kind == "f"):
            continue
        expected = (np.asarray(up, dtype=np.float64) - np.asarray(down, dtype=np.float64)) / (
            2 * eps
        )
        u_grad = got[len(inputs) + j]
        actual = np.zeros(np.shape(expected)) if u_grad is None else u_grad.data
        assert_close(actual, expected, rtol=rtol, atol=atol, what=f"{rule.name} d/du[{j}]")
        j += 1

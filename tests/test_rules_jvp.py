"""Every rule's forward-mode rule (written, or derived from the vjp rule) against central
finite differences along a random direction, on the same cases as the vjp rules
(``rule_specs.SPECS``); and every rule of the table has one, so that the two modes cannot
drift apart."""

from __future__ import annotations

import numpy as np
import pytest
from astgrad.runtime.rules.forward import tangent_of
from numeric import assert_close
from rule_specs import SPECS, arguments, differentiable_paths, shipped_rules

import astgrad as ag


def test_every_rule_has_a_forward_rule():
    missing = sorted({r.name for r in shipped_rules() if r.forward is None})
    assert not missing, f"rules without a forward-mode rule (jvp_rule, linear): {missing}"


def _cases():
    for rule in shipped_rules():
        if rule.forward is None:
            continue
        for number, spec in enumerate(SPECS.get(rule.primitive, [])):
            yield pytest.param(rule, spec, id=f"{rule.name}-{number}")


def _direction(value, rng):
    if isinstance(value, (list, tuple)):
        return type(value)(_direction(v, rng) for v in value)
    if isinstance(value, float):
        return float(rng.standard_normal())
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return rng.standard_normal(value.shape).astype(value.dtype)
    return np.zeros(np.shape(value))


def _moved(value, direction, step):
    if isinstance(value, (list, tuple)):
        return type(value)(_moved(v, d, step) for v, d in zip(value, direction))
    if isinstance(value, float):
        return value + step * direction
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return (value.astype(np.float64) + step * direction).astype(value.dtype)
    return value


def _difference(up, down, eps):
    if isinstance(up, (list, tuple)):  # several results: a list, or a named tuple (QRResult)
        return [_difference(u, d, eps) for u, d in zip(up, down)]
    return (np.asarray(up, dtype=np.float64) - np.asarray(down, dtype=np.float64)) / (2 * eps)


@pytest.mark.parametrize("rule, spec", list(_cases()))
def test_forward_rule_matches_finite_differences(rule, spec):
    args, kwargs = arguments(spec)
    positions = sorted(
        {p[0] for p in differentiable_paths(spec) if isinstance(p[0], int)}
        & set(rule.forward.differentiable)
    )
    if not positions:
        pytest.skip("no positional differentiable argument")
    rng = np.random.default_rng(4)
    tangents = {p: _direction(args[p], rng) for p in positions}
    ans = rule.primitive(*args, **kwargs)
    # All tangents at once, then each alone (the transform inlines only those it has).
    subsets = [positions] + ([[p] for p in positions] if len(positions) > 1 else [])
    eps = spec.eps
    for subset in subsets:
        chosen = {p: tangents[p] for p in subset}
        got = tangent_of(rule, ans, tuple(args), kwargs, chosen)
        up = [_moved(a, chosen[i], eps) if i in chosen else a for i, a in enumerate(args)]
        down = [_moved(a, chosen[i], -eps) if i in chosen else a for i, a in enumerate(args)]
        expected = _difference(rule.primitive(*up, **kwargs), rule.primitive(*down, **kwargs), eps)
        if isinstance(expected, (list, tuple)):
            assert len(got) == len(expected)
            for part, want in zip(got, expected):
                assert_close(np.asarray(part), want, rtol=spec.rtol, what=f"{rule.name} {subset}")
        else:
            assert np.shape(got) == np.shape(expected), f"{rule.name}: tangent shape"
            assert_close(np.asarray(got), expected, rtol=spec.rtol, what=f"{rule.name} {subset}")


def test_a_forward_rule_needs_a_vjp_rule_first():
    def square(x):
        return x * x

    with pytest.raises(TypeError, match="register its vjp rule first"):

        @ag.jvp_rule(square)
        def square_jvp(ans, x, *, dx):
            return 2 * x * dx


def test_a_contribution_reads_only_its_own_tangent():
    def mul(x, y):
        return x * y

    @ag.vjp_rule(mul)
    def mul_vjp(g, ans, x, y):
        return g * y, g * x

    @ag.jvp_rule(mul)
    def mul_jvp(ans, x, y, *, dx, dy):
        return dx * y + x * dy, x * dy

    with pytest.raises(TypeError, match="reads the tangents"):
        ag.lookup_rule(mul).forward  # noqa: B018


def _called_helpers(forward):
    """The functions of astgrad's own (not NumPy's) that a forward rule's body calls."""
    import gast

    found = set()
    for node in [*forward.prelude, *(c for c in forward.contributions if c is not None)]:
        for sub in gast.walk(node):
            if isinstance(sub, gast.Call) and isinstance(sub.func, gast.Name):
                value = forward.namespace.get(sub.func.id)
                if callable(value) and getattr(value, "__module__", "").startswith("astgrad"):
                    found.add(value)
    return found


def test_forward_rules_call_only_differentiable_helpers():
    """Reverse mode differentiates generated forward code (``ag.hvp`` is reverse over
    forward), so each helper a forward rule calls needs a vjp rule of its own, to be
    declared nondifferentiable, or to be marked transformable (reverse mode then
    differentiates its source)."""
    from astgrad.runtime.rules.registry import is_nondifferentiable, lookup

    missing = set()
    for rule in shipped_rules():
        forward = rule.forward
        if forward is None or forward.kind == "linear":
            continue
        for helper in _called_helpers(forward):
            if (
                lookup(helper) is None
                and not is_nondifferentiable(helper)
                and not getattr(helper, "__astgrad_transformable__", False)
            ):
                missing.add(f"{helper.__module__}.{helper.__qualname__} (in {rule.name})")
    assert not missing, "helpers of forward rules without a vjp rule:\n" + "\n".join(
        sorted(missing)
    )

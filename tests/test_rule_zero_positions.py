"""A rule's vjp that gives None at a position says the derivative there is zero (an
index, a count, a shape, an order that ties break): reverse mode, forward mode and the
tape all take such an argument as a constant, so a None where the derivative is not zero
is a silently wrong gradient. For every case of the rule table whose argument at such a
position is a float, moving that argument must leave the value where it was, to first
order; a derivative the rule does not have must be refused instead (``no_derivative_at``:
scipy.special.jv's and ive's real order; np.trapezoid's sample points in forward mode).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.special as special
from numeric import assert_close
from rule_specs import SPECS, arguments, replace_at, shipped_rules

import astgrad as ag

#: None positions that the check cannot move alone, and why the derivative there is zero
#: where the rule is used: (rule, parameter) -> why
EXEMPT = {
    # made by generated code as a constant, never by the user
    ("poly_scaled_grad", "factors"): "the falling factorials np.polyder's rule builds",
    # read for where the extreme is: the cases sit where x ties with it (as the rules are
    # called: the extremum is x's own), and moving one alone leaves that tie on both
    # sides; moving x and the extremum together keeps which elements tie, a.e.
    **{
        (helper, name): "where x ties with the extreme"
        for helper in ("extremum_grad", "initial_extremum_grad")
        for name in ("x", "extremum", "initial")
    },
    ("split_ties", "x"): "where x and y tie",
    ("split_ties", "y"): "where x and y tie",
    # defined at integers (0 elsewhere): piecewise constant, the cases sit on the jumps
    ("poisson_pmf", "k"): "a count, the probability 0 between integers",
    ("poisson_logpmf", "k"): "a count, the log-probability -inf between integers",
}

#: how far each float dtype moves: below float32's resolution a step is lost to rounding
_STEP = {np.dtype(np.float64): 1e-7, np.dtype(np.float32): 1e-3}


def _none_positions():
    for rule in shipped_rules():
        template = rule.template
        if template is None or rule.primitive not in SPECS:
            continue
        for position, output in enumerate(template.outputs):
            if output is not None or position >= len(rule.param_names):
                continue
            if position in rule.refused:
                continue
            name = rule.param_names[position]
            if (rule.name, name) in EXEMPT:
                continue
            for k, spec in enumerate(SPECS[rule.primitive]):
                yield pytest.param(rule, position, name, spec, id=f"{rule.name}-{name}-{k}")


def _flat(value):
    if isinstance(value, (list, tuple)):
        parts = [np.ravel(np.asarray(v, dtype=complex)) for v in value]
        return np.concatenate(parts) if parts else np.zeros(0)
    return np.ravel(np.asarray(value, dtype=complex))


@pytest.mark.parametrize("rule, position, name, spec", list(_none_positions()))
def test_a_position_without_a_gradient_moves_nothing(rule, position, name, spec):
    call = arguments(spec)
    if position < len(call[0]):
        path = (position,)
    elif name in call[1]:
        path = (name,)
    else:
        pytest.skip("left at its default")
    value = call[0][position] if len(path) == 1 and isinstance(path[0], int) else call[1][name]
    if isinstance(value, float):
        step, eps = 1.0, 1e-7
    elif isinstance(value, np.ndarray) and value.dtype in _STEP and value.size:
        step = np.random.default_rng(1).standard_normal(value.shape).astype(value.dtype)
        eps = value.dtype.type(_STEP[value.dtype])  # (the argument keeps its dtype)
    else:
        pytest.skip("not a float argument")

    def at(moved):
        if isinstance(path[0], str):
            return rule.primitive(*call[0], **replace_at(call, path, moved)[1])
        return rule.primitive(*replace_at(call, path, moved)[0], **call[1])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            here, up, down = at(value), at(value + eps * step), at(value - eps * step)
        except (TypeError, ValueError, LookupError, StopIteration):
            pytest.skip("the primitive takes no such value (an item it must find, say)")
    # (each side apart: a piecewise constant argument, poisson.cdf's k at an integer, is
    # flat on one side of a jump; a derivative the rule left out moves both)
    slopes = [
        np.max(np.abs(change)) / eps if change.size else 0.0
        for change in (_flat(up) - _flat(here), _flat(here) - _flat(down))
    ]
    assert not min(slopes) > 10 * eps**0.5, (
        f"{rule.name}: its vjp rule gives no gradient for {name}, but moving it moves the "
        f"value (slopes {slopes}): a silently wrong gradient"
    )


def _jv_order(v):
    return special.jv(v, 1.3)


def _ive_order(v):
    return special.ive(v * 1.0, 2.0)


@pytest.mark.parametrize("function", [_jv_order, _ive_order], ids=lambda f: f.__name__)
@pytest.mark.parametrize("mode", ("source", "auto", "tape"))
def test_a_bessel_functions_real_order_is_refused_not_zero(function, mode):
    with pytest.raises((ag.TransformError, NotImplementedError), match="real order v"):
        ag.grad(function, mode=mode)(0.8)
    with pytest.raises((ag.TransformError, NotImplementedError), match="real order v"):
        ag.jvp(function, (0.8,), (1.0,), mode="source")


def _bessel_in_x(x):
    return np.sum(special.jv(1.5, x) + special.ive(2.0, x))


@pytest.mark.parametrize("mode", ("source", "auto", "tape"))
def test_a_bessel_function_of_a_constant_order_differentiates_in_x(mode):
    x = np.array([0.4, 1.1, 2.3])
    eps = 1e-6
    expected = np.array(
        [(_bessel_in_x(x + eps * e) - _bessel_in_x(x - eps * e)) / (2 * eps) for e in np.eye(3)]
    )
    assert_close(ag.grad(_bessel_in_x, mode=mode)(x), expected, rtol=1e-6)


GRID = np.linspace(0.0, 1.0, 5)
HEIGHTS = np.array([[1.0, 2.0, 0.5, 3.0, 1.5], [0.2, -1.0, 0.4, 2.0, 0.1]])


def _stretched_integral(t):
    return np.sum(np.trapezoid(HEIGHTS * t, t * GRID + GRID**2) ** 2)


@pytest.mark.parametrize("mode", ("source", "auto", "tape"))
def test_trapezoids_sample_points_get_their_gradient(mode):
    t = 1.7
    expected = (_stretched_integral(t + 1e-6) - _stretched_integral(t - 1e-6)) / 2e-6
    assert_close(ag.grad(_stretched_integral, mode=mode)(t), expected, rtol=1e-6)


def test_trapezoids_moving_sample_points_are_refused_in_forward_mode():
    with pytest.raises(ag.TransformError, match="no tangent for the sample points x"):
        ag.jvp(_stretched_integral, (1.7,), (1.0,), mode="source")
